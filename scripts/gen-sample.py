#!/usr/bin/env python3
"""Generate the sample mailbox shipped in imapmig-cli/sample/.

The sample is a Gmail-like account exported as a Maildir tree in "fs"
layout: the root Maildir is INBOX, every other folder is a directory with
cur/, new/ and tmp/ (tmp/ holds a `.keep` file because git drops empty
directories), nested directories are child folders, and a directory without
cur/new/tmp (`[Gmail]`, `Lists`) is a parent that holds no mail. One mbox
file, `Imported.mbox`, stands for mail imported from an older client.

Messages use CRLF line ends, as an IMAP server hands them out, except the
ones that are damaged on purpose. Gmail labels become folders: a message
with several labels is stored as identical bytes in each of them, and
`[Gmail]/All Mail` holds every message except Spam and Trash, including
archived mail that has no other label.

The output is a pure function of SEED and this file: the random generator
is a local xorshift (not Python's `random`, whose algorithms may change),
nothing depends on the clock, the locale or zlib, and files are written in
a fixed order. Run it from anywhere:

    python3 scripts/gen-sample.py          # rewrite imapmig-cli/sample/
    python3 scripts/gen-sample.py --check  # exit 1 if the committed tree differs

The facts that the preflight tests rely on are printed at the end (and the
tests in imapmig-cli/tests/cli/preflight.rs state them again).
"""

import base64
import binascii
import datetime as dt
import filecmp
import os
import shutil
import struct
import sys
import tempfile
import zlib
from email.utils import format_datetime

SEED = 0x1DEA_2024_0C70_BE12
HOST = "sample"
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "imapmig-cli", "sample")

ME = ("Alex Martin", "alex.martin@example.com")
ALL_MAIL = "[Gmail]/All Mail"
NOT_IN_ALL_MAIL = {"[Gmail]/Spam", "[Gmail]/Trash"}


class Rng:
    """xorshift64*: small, fast, and the same everywhere."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x >> 12)
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= (x >> 27)
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        return self.next() % n

    def between(self, lo, hi):
        return lo + self.below(hi - lo + 1)

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, percent):
        return self.below(100) < percent

    def sample(self, seq, k):
        pool = list(seq)
        out = []
        for _ in range(min(k, len(pool))):
            out.append(pool.pop(self.below(len(pool))))
        return out

    def hex(self, n):
        return "".join("0123456789abcdef"[self.below(16)] for _ in range(n))

    def alnum(self, n):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[self.below(len(alphabet))] for _ in range(n))

    def bytes(self, n):
        out = bytearray()
        while len(out) < n:
            out += struct.pack("<Q", self.next())
        return bytes(out[:n])


R = Rng(SEED)

# ---------------------------------------------------------------- people

FRIENDS = [
    ("François Dubois", "francois.dubois@example.fr"),
    ("Jürgen Müller", "juergen.mueller@example.de"),
    ("Priya Raman", "priya.raman@example.net"),
    ("Sam O'Neill", "sam.oneill@example.org"),
    ("Zoë Ångström", "zoe@example.se"),
    ("Maria García", "maria.garcia@example.es"),
    ("Tom Becker", "tom.becker@example.com"),
]
COLLEAGUES = [
    ("Dana Whitfield", "dana.whitfield@fabrikam.example"),
    ("Luis Ortega", "luis.ortega@fabrikam.example"),
    ("Mei Chen", "mei.chen@fabrikam.example"),
    ("Oskar Lind", "oskar.lind@fabrikam.example"),
]
JAPANESE = [("山田 太郎", "taro.yamada@example.jp"), ("佐藤 花子", "hanako.sato@example.jp")]

# Old Exchange identities, seen as IMCEAEX addresses in mail that was
# migrated out of an on-premises Exchange organisation.
EXCHANGE = {
    "jdoe": ("Doe, John", "/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=jdoe", "contoso.com"),
    "asmith": ("Smith, Anna", "/o=ExchangeLabs/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=5d8a2f0c1b3e4a79b6c2e1f0a9d8c7b6-asmith", "contoso.com"),
    "mlee": ("Lee, Min", "/O=FABRIKAM/OU=FIRST ORGANIZATION/CN=RECIPIENTS/CN=MLEE", "fabrikam.example"),
    "rbrown": ("Brown, Robert", "/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=ROBERT.BROWN_EXT", "contoso.com"),
}


def imceaex(dn, domain):
    """Encapsulate a LegacyExchangeDN as an IMCEAEX address (MS-OXCMAIL 2.1.3.1.8)."""
    out = []
    for ch in dn:
        if ch == "/":
            out.append("_")
        elif ch.isascii() and (ch.isalnum() or ch in "-="):
            out.append(ch)
        else:
            out.append("+%02X" % ord(ch))
    return "IMCEAEX-" + "".join(out) + "@" + domain


def exchange_addr(key):
    name, dn, domain = EXCHANGE[key]
    return addr(name, imceaex(dn, domain))


# ---------------------------------------------------------------- header encoding

def ew(text, charset="UTF-8", enc="B"):
    """RFC 2047 encoded words for a non-ASCII phrase, each at most 75 characters."""
    if text.isascii():
        return text
    words, chunk = [], ""
    for ch in text:
        trial = chunk + ch
        raw = trial.encode(charset)
        if enc == "B":
            size = len(base64.b64encode(raw))
        else:
            size = len(q_encode(raw))
        if size + len(charset) + 7 > 75 and chunk:
            words.append(chunk)
            chunk = ch
        else:
            chunk = trial
    if chunk:
        words.append(chunk)
    out = []
    for w in words:
        raw = w.encode(charset)
        body = base64.b64encode(raw).decode() if enc == "B" else q_encode(raw)
        out.append("=?%s?%s?%s?=" % (charset, enc, body))
    return " ".join(out)


def q_encode(raw):
    out = []
    for b in raw:
        c = chr(b)
        if b == 0x20:
            out.append("_")
        elif c.isascii() and (c.isalnum() or c in "!*+-/"):
            out.append(c)
        else:
            out.append("=%02X" % b)
    return "".join(out)


def addr(name, email):
    if not name:
        return email
    if not name.isascii():
        return "%s <%s>" % (ew(name), email)
    if any(c in name for c in ',."()<>@;:\\[]\''):
        return '"%s" <%s>' % (name.replace("\\", "\\\\").replace('"', '\\"'), email)
    return "%s <%s>" % (name, email)


def fold(name, value):
    """Fold a header field at spaces so that lines stay under 78 characters."""
    line = "%s: %s" % (name, value)
    if len(line) <= 78:
        return [line]
    parts = line.split(" ")
    # The first word of the value stays on the field name's line.
    lines, cur = [], parts[0] + " " + parts[1]
    for p in parts[2:]:
        if len(cur) + 1 + len(p) > 76 and cur.strip():
            lines.append(cur)
            cur = " " + p
        else:
            cur += " " + p
    lines.append(cur)
    return lines


def headers(pairs):
    out = []
    for name, value in pairs:
        if isinstance(value, bytes):
            out.append(name.encode() + b": " + value)
        else:
            out.extend(line.encode("utf-8") for line in fold(name, value))
    return b"\r\n".join(out) + b"\r\n"


def crlf(text):
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def qp(text):
    raw = binascii.b2a_qp(text.encode("utf-8"), istext=True)
    return crlf(raw.decode("ascii"))


def b64(data):
    return crlf(base64.encodebytes(data).decode("ascii"))


def message(pairs, body):
    if isinstance(body, str):
        body = body.encode("utf-8")
    return headers(pairs) + b"\r\n" + body


def part(content_type, body, cte=None, extra=()):
    pairs = [("Content-Type", content_type)]
    if cte:
        pairs.append(("Content-Transfer-Encoding", cte))
    pairs.extend(extra)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return headers(pairs) + b"\r\n" + body


def multipart(boundary, parts, preamble=b""):
    out = preamble
    for p in parts:
        out += b"--" + boundary.encode() + b"\r\n" + p
        # The CRLF before a delimiter belongs to the delimiter (RFC 2046
        # 5.1.1): an empty body still needs one after its blank line.
        if not out.endswith(b"\r\n") or p.endswith(b"\r\n\r\n"):
            out += b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out


# ---------------------------------------------------------------- binary attachments

def png(width, height, seed_rng):
    """A valid PNG, zlib stream made of stored blocks (no compressor involved)."""
    raw = bytearray()
    for _ in range(height):
        raw.append(0)
        raw += seed_rng.bytes(width * 3)
    raw = bytes(raw)
    z = bytearray(b"\x78\x01")
    pos = 0
    while True:
        block = raw[pos:pos + 65535]
        pos += len(block)
        final = 1 if pos >= len(raw) else 0
        z += bytes([final]) + struct.pack("<HH", len(block), len(block) ^ 0xFFFF) + block
        if final:
            break
    z += struct.pack(">I", zlib.adler32(raw) & 0xFFFFFFFF)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", bytes(z)) + chunk(b"IEND", b"")


def pdf(lines, padding=0, seed_rng=None):
    """A small valid PDF with one page of text and an optional binary padding stream."""
    text = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join("(%s) '" % l.replace("(", "[").replace(")", "]") for l in lines) + " ET"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text.encode("latin-1") + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if padding:
        blob = seed_rng.bytes(padding)
        objs.append(b"<< /Length %d >>\nstream\n" % len(blob) + blob + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


# ---------------------------------------------------------------- text

SENTENCES = [
    "Thanks for sending this over so quickly.",
    "I had a look at the numbers and they mostly line up with what we saw last quarter.",
    "Can we move the call to Thursday afternoon?",
    "The draft is attached; comments welcome before Friday.",
    "Let me know if anything is unclear.",
    "I think we should keep the old server running for another week, just in case.",
    "Quick reminder that the office is closed on Monday.",
    "The photos from the weekend are finally sorted.",
    "I will be travelling next week with patchy connectivity.",
    "Could you double-check the figures in section 3?",
    "We agreed to revisit this after the release.",
    "Happy to help with the review if you need another pair of eyes.",
    "The venue confirmed the booking for 40 people.",
    "Sorry for the late reply, this got buried in my inbox.",
    "Attached is the signed copy for your records.",
    "The build is green again after the dependency bump.",
    "Do you still have the notes from the kickoff meeting?",
    "Looping in Dana, who owns the budget side.",
    "That works for me.",
    "See you at the usual place at seven.",
]

PROJECT_TOPICS = [
    "Q3 roadmap review", "Budget 2024 draft", "Vendor contract renewal", "Offsite agenda",
    "Hiring plan for the platform team", "Security audit findings", "Customer onboarding checklist",
    "Release checklist", "Migration runbook", "Quarterly metrics", "Incident review: login outage",
    "Design doc: search indexing", "Team lunch on Friday", "Board deck feedback",
]

LIST_TOPICS = [
    "Lifetimes in async closures", "Best crate for IMAP?", "cargo build is slow on CI",
    "How to parse RFC 5322 dates", "Announcing a new release of the book",
    "Error handling: anyhow vs thiserror", "Cross-compiling for aarch64", "Why is my iterator not lazy?",
]


def paragraph(rng, n):
    return " ".join(rng.choice(SENTENCES) for _ in range(n))


def body_text(rng, greeting, signoff, paras=2):
    lines = [greeting, ""]
    for _ in range(paras):
        lines.append(paragraph(rng, rng.between(2, 4)))
        lines.append("")
    lines.append(signoff)
    return "\n".join(wrap(l) for l in lines) + "\n"


def wrap(line, width=72):
    if len(line) <= width:
        return line
    out, cur = [], ""
    for word in line.split(" "):
        if cur and len(cur) + 1 + len(word) > width:
            out.append(cur)
            cur = word
        else:
            cur = (cur + " " + word) if cur else word
    out.append(cur)
    return "\n".join(out)


def html_of(text):
    paras = [p for p in text.split("\n\n") if p.strip()]
    inner = "".join("<p>%s</p>\n" % p.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "<br>\n") for p in paras)
    return "<html>\n<head><meta charset=\"utf-8\"></head>\n<body>\n<div dir=\"ltr\">\n%s</div>\n</body>\n</html>\n" % inner


# ---------------------------------------------------------------- dates and ids

BASE = dt.datetime(2018, 1, 1, tzinfo=dt.timezone.utc)
TZS = [dt.timezone(dt.timedelta(hours=h)) for h in (0, 1, 2, -5, -8, 9)]


def date_in(rng, year, month_lo=1, month_hi=12):
    month = rng.between(month_lo, month_hi)
    day = rng.between(1, 28)
    t = dt.datetime(year, month, day, rng.between(6, 22), rng.between(0, 59), rng.between(0, 59), tzinfo=dt.timezone.utc)
    return t.astimezone(rng.choice(TZS))


DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def english(d, fmt):
    """strftime with English day and month names, whatever the locale."""
    fmt = (fmt.replace("%A", DAYS[d.weekday()]).replace("%a", DAYS[d.weekday()][:3])
           .replace("%B", MONTHS[d.month - 1]).replace("%b", MONTHS[d.month - 1][:3])
           .replace("%p", "AM" if d.hour < 12 else "PM"))
    return d.strftime(fmt)


def rfc_date(d):
    return format_datetime(d)


def gmail_mid(rng):
    return "<CA%s%s@mail.gmail.com>" % (rng.choice(["F", "J", "K", "+"]), rng.alnum(44))


def outlook_mid(rng):
    box = "DM6PR11MB%04d" % rng.between(1000, 9999)
    return "<%s%s@%s.namprd11.prod.outlook.com>" % (box, rng.hex(24).upper(), box)


def apple_mid(rng, domain):
    h = rng.hex(32).upper()
    return "<%s-%s-%s-%s-%s@%s>" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:], domain)


def generic_mid(rng, domain):
    return "<%s.%s@%s>" % (rng.hex(16), rng.between(100000, 999999), domain)


def received(rng, frm_host, by_host, when):
    ip = "192.0.2.%d" % rng.between(1, 254)
    return ("Received", "from %s (%s [%s]) by %s with ESMTPS id %s for <%s>; %s" % (
        frm_host, frm_host, ip, by_host, rng.alnum(12), ME[1], rfc_date(when)))


def gmail_received(rng, when):
    return ("Received", "by 2002:a05:6a10:%s:b0:%s with SMTP id %s; %s" % (
        rng.hex(4), rng.hex(3), rng.alnum(10), rfc_date(when)))


# ---------------------------------------------------------------- message kinds
# Each returns the raw bytes of one message.

def personal_gmail(rng, frm, to, subject, when, text=None, extra=(), mid=None):
    text = text or body_text(rng, "Hi %s," % to[0].split()[0], "Cheers,\n%s" % frm[0].split()[0])
    boundary = "000000000000" + rng.hex(16)
    pairs = [
        gmail_received(rng, when),
        ("X-Received", "by 2002:a17:906:%s with SMTP id %s; %s" % (rng.hex(4), rng.alnum(8), rfc_date(when))),
        ("DKIM-Signature", "v=1; a=rsa-sha256; c=relaxed/relaxed; d=gmail.com; s=20230601; t=%d; "
                           "h=to:subject:message-id:date:from:mime-version:from:to:cc:subject:date:message-id:reply-to; "
                           "bh=%s=; b=%s" % (int(when.timestamp()), rng.alnum(43), rng.alnum(120))),
        ("X-Gm-Message-State", rng.alnum(60)),
        ("X-Google-Smtp-Source", rng.alnum(70)),
        ("MIME-Version", "1.0"),
        *extra,
        ("From", addr(*frm)),
        ("Date", rfc_date(when)),
        ("Message-ID", mid or gmail_mid(rng)),
        ("Subject", ew(subject)),
        ("To", addr(*to)),
        ("Content-Type", 'multipart/alternative; boundary="%s"' % boundary),
    ]
    body = multipart(boundary, [
        part('text/plain; charset="UTF-8"', qp(text), "quoted-printable"),
        part('text/html; charset="UTF-8"', qp(html_of(text)), "quoted-printable"),
    ])
    return message(pairs, body)


def personal_apple(rng, frm, to, subject, when, text=None, attachment=None):
    text = text or body_text(rng, "Hey %s," % to[0].split()[0], frm[0].split()[0])
    domain = frm[1].split("@")[1]
    pairs = [
        received(rng, "mail.%s" % domain, "mx.google.com", when),
        ("From", addr(*frm)),
        ("Content-Type", None),
        ("Mime-Version", "1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))"),
        ("Subject", ew(subject)),
        ("Date", rfc_date(when)),
        ("To", addr(*to)),
        ("Message-Id", apple_mid(rng, domain)),
        ("X-Mailer", "Apple Mail (2.3774.600.62)"),
    ]
    if attachment is None:
        pairs[2] = ("Content-Type", "text/plain;\r\n\tcharset=utf-8")
        pairs.insert(3, ("Content-Transfer-Encoding", "quoted-printable"))
        return message_raw_ct(pairs, qp(text))
    name, ctype, data = attachment
    boundary = "Apple-Mail=_" + rng.hex(8).upper() + "-" + rng.hex(4).upper() + "-" + rng.hex(4).upper()
    pairs[2] = ("Content-Type", 'multipart/mixed;\r\n\tboundary="%s"' % boundary)
    body = multipart(boundary, [
        part("text/plain;\r\n\tcharset=utf-8", qp(text), "quoted-printable"),
        part('%s;\r\n\tname="%s"' % (ctype, name), b64(data), "base64",
             [("Content-Disposition", 'attachment;\r\n\tfilename="%s"' % name)]),
    ])
    return message_raw_ct(pairs, body)


def message_raw_ct(pairs, body):
    """Like message(), but values containing CRLF TAB are kept as written (Apple Mail folds that way)."""
    out = []
    for name, value in pairs:
        if "\r\n" in value:
            out.append(("%s: %s" % (name, value)).encode("utf-8"))
        else:
            out.extend(l.encode("utf-8") for l in fold(name, value))
    if isinstance(body, str):
        body = body.encode("utf-8")
    return b"\r\n".join(out) + b"\r\n\r\n" + body


def outlook(rng, frm, to, subject, when, cc=(), text=None, attachment=None, mid=None, in_reply_to=None):
    text = text or body_text(rng, "Hi,", "Best regards,\n%s" % frm_display(frm))
    box = "_000_DM6PR11MB%04d%s_" % (rng.between(1000, 9999), rng.hex(16).upper())
    pairs = [
        received(rng, "DM6PR11MB%04d.namprd11.prod.outlook.com" % rng.between(1000, 9999), "mx.google.com", when),
        ("From", frm if isinstance(frm, str) else addr(*frm)),
        ("To", ", ".join(t if isinstance(t, str) else addr(*t) for t in to)),
    ]
    if cc:
        pairs.append(("CC", ", ".join(c if isinstance(c, str) else addr(*c) for c in cc)))
    pairs += [
        ("Subject", ew(subject)),
        ("Thread-Topic", ew(subject.replace("RE: ", "").replace("FW: ", ""))),
        ("Thread-Index", base64.b64encode(rng.bytes(22)).decode()),
        ("Date", rfc_date(when)),
        ("Message-ID", mid or outlook_mid(rng)),
    ]
    if in_reply_to:
        pairs += [("References", in_reply_to), ("In-Reply-To", in_reply_to)]
    pairs += [
        ("Accept-Language", "en-US"),
        ("Content-Language", "en-US"),
        ("X-MS-Has-Attach", "yes" if attachment else ""),
        ("X-MS-TNEF-Correlator", ""),
        ("X-MS-Exchange-Organization-SCL", "-1"),
        ("MIME-Version", "1.0"),
    ]
    alt_boundary = box
    alt = multipart(alt_boundary, [
        part('text/plain; charset="us-ascii"' if text.isascii() else 'text/plain; charset="utf-8"', qp(text), "quoted-printable"),
        part('text/html; charset="us-ascii"' if text.isascii() else 'text/html; charset="utf-8"', qp(html_of(text)), "quoted-printable"),
    ])
    if attachment is None:
        pairs.append(("Content-Type", 'multipart/alternative; boundary="%s"' % alt_boundary))
        return message(pairs, alt)
    mixed = "_004_" + box[5:]
    name, ctype, data = attachment
    pairs.append(("Content-Type", 'multipart/mixed; boundary="%s"' % mixed))
    body = multipart(mixed, [
        headers([("Content-Type", 'multipart/alternative; boundary="%s"' % alt_boundary)]) + b"\r\n" + alt,
        part('%s; name="%s"' % (ctype, name), b64(data), "base64",
             [("Content-Description", name),
              ("Content-Disposition", 'attachment; filename="%s"; size=%d; creation-date="%s"' % (
                  name, len(data), rfc_date(when)))]),
    ])
    return message(pairs, body)


def frm_display(frm):
    if isinstance(frm, str):
        return frm.split("<")[0].strip().strip('"')
    return frm[0]


def newsletter(rng, sender, list_id, subject, when):
    name, email = sender
    domain = email.split("@")[1]
    items = [paragraph(rng, 2) for _ in range(rng.between(3, 5))]
    text = "%s\n\n%s\n\nUnsubscribe: https://%s/u/%s\n" % (subject, "\n\n".join(items), domain, rng.alnum(16))
    html = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n"
            "<body style=\"margin:0;padding:0;background:#f4f4f4\">\n<table role=\"presentation\" width=\"100%%\">\n%s"
            "</table>\n<p style=\"font-size:11px\"><a href=\"https://%s/u/%s\">Unsubscribe</a></p>\n</body></html>\n") % (
        subject, "".join("<tr><td style=\"padding:16px;font-family:Arial\">%s</td></tr>\n" % i for i in items),
        domain, rng.alnum(16))
    boundary = "----=_Part_%d_%d.%d" % (rng.between(100000, 999999), rng.between(100000000, 999999999), int(when.timestamp()) * 1000)
    pairs = [
        received(rng, "mta-%d.%s" % (rng.between(1, 40), domain), "mx.google.com", when),
        ("DKIM-Signature", "v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=mail; h=from:to:subject:date:list-unsubscribe; bh=%s=; b=%s" % (
            domain, rng.alnum(43), rng.alnum(100))),
        ("Date", rfc_date(when)),
        ("From", addr(name, email)),
        ("Reply-To", "no-reply@%s" % domain),
        ("To", ME[1]),
        ("Message-ID", generic_mid(rng, domain)),
        ("Subject", ew(subject)),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/alternative; boundary="%s"' % boundary),
        ("List-Id", list_id),
        ("List-Unsubscribe", "<mailto:unsubscribe@%s?subject=%s>, <https://%s/u/%s>" % (domain, rng.alnum(10), domain, rng.alnum(16))),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Precedence", "bulk"),
        ("Feedback-ID", "%d:%d:newsletter:%s" % (rng.between(1, 99), rng.between(1000, 9999), domain)),
    ]
    body = multipart(boundary, [
        part("text/plain; charset=UTF-8", qp(text), "quoted-printable"),
        part("text/html; charset=UTF-8", qp(html), "quoted-printable"),
    ])
    return message(pairs, body)


def receipt(rng, shop, when, amount, item):
    name, email = shop
    domain = email.split("@")[1]
    order = "%d-%07d" % (rng.between(100, 999), rng.between(0, 9999999))
    text = ("Thank you for your order!\n\nOrder %s\nItem: %s\nTotal: EUR %s\n\n"
            "Your invoice is attached as a PDF.\n" % (order, item, amount))
    boundary = "=_mixed_" + rng.hex(20)
    alt = "=_alt_" + rng.hex(20)
    invoice = pdf(["%s - Invoice" % name, "Order %s" % order, "Item: %s" % item, "Total: EUR %s" % amount])
    pairs = [
        received(rng, "smtp.%s" % domain, "mx.google.com", when),
        ("From", addr(name, email)),
        ("To", addr(*ME)),
        ("Subject", "Your order %s" % order),
        ("Date", rfc_date(when)),
        ("Message-ID", generic_mid(rng, domain)),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/mixed; boundary="%s"' % boundary),
        ("X-SES-Outgoing", "%s-54.240.%d.%d" % (when.strftime("%Y.%m.%d"), rng.between(1, 254), rng.between(1, 254))),
    ]
    body = multipart(boundary, [
        headers([("Content-Type", 'multipart/alternative; boundary="%s"' % alt)]) + b"\r\n" + multipart(alt, [
            part("text/plain; charset=utf-8", qp(text), "quoted-printable"),
            part("text/html; charset=utf-8", qp(html_of(text)), "quoted-printable"),
        ]),
        part('application/pdf; name="invoice-%s.pdf"' % order, b64(invoice), "base64",
             [("Content-Disposition", 'attachment; filename="invoice-%s.pdf"' % order)]),
    ])
    return message(pairs, body)


def list_post(rng, frm, subject, when, mid, refs, quote=None):
    lines = []
    if quote:
        lines += ["On %s, %s wrote:" % (rfc_date(quote[0]), quote[1])]
        lines += ["> " + l for l in wrap(paragraph(rng, 3)).split("\n")]
        lines.append("")
    lines.append(wrap(paragraph(rng, rng.between(2, 5))))
    lines.append("")
    lines.append("-- ")
    lines.append(frm[0])
    text = "\n".join(lines) + "\n"
    pairs = [
        received(rng, "lists.example.org", "mx.google.com", when),
        ("Return-Path", "<rust-users-bounces+alex.martin=example.com@lists.example.org>"),
        ("From", addr(*frm)),
        ("To", "rust-users@lists.example.org"),
        ("Subject", subject),
        ("Date", rfc_date(when)),
        ("Message-ID", mid),
    ]
    if refs:
        pairs += [("In-Reply-To", refs[-1]), ("References", " ".join(refs))]
    pairs += [
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8; format=flowed"),
        ("Content-Transfer-Encoding", "8bit"),
        ("X-BeenThere", "rust-users@lists.example.org"),
        ("X-Mailman-Version", "2.1.39"),
        ("Precedence", "list"),
        ("List-Id", "Rust users <rust-users.lists.example.org>"),
        ("List-Unsubscribe", "<https://lists.example.org/options/rust-users>, <mailto:rust-users-request@lists.example.org?subject=unsubscribe>"),
        ("List-Archive", "<https://lists.example.org/pipermail/rust-users/>"),
        ("List-Post", "<mailto:rust-users@lists.example.org>"),
        ("Errors-To", "rust-users-bounces+alex.martin=example.com@lists.example.org"),
        ("Sender", '"rust-users" <rust-users-bounces+alex.martin=example.com@lists.example.org>'),
    ]
    return message(pairs, crlf(text))


def ics(rng, uid, organizer, attendees, start, summary, location, method="REQUEST"):
    end = start + dt.timedelta(hours=1)
    fmt = "%Y%m%dT%H%M%SZ"
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        "METHOD:%s" % method,
        "BEGIN:VEVENT",
        "DTSTART:%s" % start.astimezone(dt.timezone.utc).strftime(fmt),
        "DTEND:%s" % end.astimezone(dt.timezone.utc).strftime(fmt),
        "DTSTAMP:%s" % (start - dt.timedelta(days=3)).astimezone(dt.timezone.utc).strftime(fmt),
        "ORGANIZER;CN=%s:mailto:%s" % organizer,
        "UID:%s" % uid,
    ]
    for a in attendees:
        lines.append("ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=%s;X-NUM-GUESTS=0:mailto:%s" % a)
    lines += [
        "CREATED:%s" % (start - dt.timedelta(days=3)).astimezone(dt.timezone.utc).strftime(fmt),
        "DESCRIPTION:%s" % paragraph(rng, 1),
        "LOCATION:%s" % location,
        "SEQUENCE:0",
        "STATUS:CONFIRMED",
        "SUMMARY:%s" % summary,
        "TRANSP:OPAQUE",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    # RFC 5545 3.1: lines longer than 75 octets are folded with CRLF SPACE.
    out = []
    for l in lines:
        while len(l.encode("utf-8")) > 75:
            cut = 74
            while len(l[:cut].encode("utf-8")) > 74:
                cut -= 1
            out.append(l[:cut])
            l = " " + l[cut:]
        out.append(l)
    return "\r\n".join(out) + "\r\n"


def invite(rng, organizer, summary, start, location, calendar=None):
    uid = "%s@google.com" % rng.alnum(26).lower()
    cal = calendar if calendar is not None else ics(rng, uid, organizer, [ME, organizer], start, summary, location)
    text = "%s\n%s\n%s\n\nJoining info: https://meet.example.com/%s\n" % (
        summary, english(start, "%A %d %B %Y %H:%M"), location, rng.alnum(10).lower())
    outer = "000000000000" + rng.hex(16)
    alt = "000000000000" + rng.hex(16)
    when = start - dt.timedelta(days=3)
    pairs = [
        gmail_received(rng, when),
        ("MIME-Version", "1.0"),
        ("Reply-To", addr(*organizer)),
        ("Sender", "Google Calendar <calendar-notification@google.com>"),
        ("Auto-Submitted", "auto-generated"),
        ("Message-ID", "<calendar-%s-%s@google.com>" % (rng.hex(8), rng.hex(12))),
        ("Date", rfc_date(when)),
        ("Subject", ew("Invitation: %s @ %s" % (summary, english(start, "%a %b %d, %Y %I%p")))),
        ("From", addr(organizer[0], "calendar-notification@google.com")),
        ("To", ME[1]),
        ("Content-Type", 'multipart/mixed; boundary="%s"' % outer),
    ]
    cal_bytes = cal.encode("utf-8") if isinstance(cal, str) else cal
    body = multipart(outer, [
        headers([("Content-Type", 'multipart/alternative; boundary="%s"' % alt)]) + b"\r\n" + multipart(alt, [
            part('text/plain; charset="UTF-8"; format=flowed; delsp=yes', qp(text), "quoted-printable"),
            part('text/html; charset="UTF-8"', qp(html_of(text)), "quoted-printable"),
            part('text/calendar; charset="UTF-8"; method=REQUEST', cal_bytes, "7bit"),
        ]),
        part('application/ics; name="invite.ics"', b64(cal_bytes), "base64",
             [("Content-Disposition", 'attachment; filename="invite.ics"')]),
    ])
    return message(pairs, body)


def smime_signed(rng, frm, to, subject, when):
    text = body_text(rng, "Hello,", "Kind regards,\n%s" % frm[0])
    boundary = "Apple-Mail=_" + rng.hex(8).upper() + "-" + rng.hex(4).upper()
    # A DER-shaped blob: SEQUENCE header, the pkcs7 signedData OID, then noise.
    blob = b"\x30\x82\x06\x7a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02\xa0\x82\x06\x6b" + rng.bytes(1640)
    pairs = [
        received(rng, "mail.example.ch", "mx.google.com", when),
        ("From", addr(*frm)),
        ("Content-Type", 'multipart/signed; boundary="%s"; protocol="application/pkcs7-signature"; micalg=sha-256' % boundary),
        ("Mime-Version", "1.0 (Mac OS X Mail 16.0 \\(3774.600.62\\))"),
        ("Subject", ew(subject)),
        ("Date", rfc_date(when)),
        ("To", addr(*to)),
        ("Message-Id", apple_mid(rng, "example.ch")),
        ("X-Mailer", "Apple Mail (2.3774.600.62)"),
    ]
    body = multipart(boundary, [
        part("text/plain; charset=utf-8", qp(text), "quoted-printable"),
        part('application/pkcs7-signature; name="smime.p7s"', b64(blob), "base64",
             [("Content-Disposition", 'attachment; filename="smime.p7s"')]),
    ])
    return message(pairs, body)


def iso2022jp_mail(rng, frm, subject, when, text):
    body = text.encode("iso2022_jp")
    pairs = [
        received(rng, "mail.example.jp", "mx.google.com", when),
        ("From", "%s <%s>" % (ew(frm[0], "ISO-2022-JP", "B"), frm[1])),
        ("To", addr(*ME)),
        ("Subject", ew(subject, "ISO-2022-JP", "B")),
        ("Date", rfc_date(when)),
        ("Message-ID", generic_mid(rng, "example.jp")),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=ISO-2022-JP"),
        ("Content-Transfer-Encoding", "7bit"),
        ("X-Mailer", "Becky! ver. 2.81.04"),
    ]
    return message(pairs, crlf(body.decode("ascii")))


def notification(rng, frm, subject, when, text, mid=True, domain="monitor.fabrikam.example"):
    pairs = [
        received(rng, domain, "mx.google.com", when),
        ("From", addr(*frm)),
        ("To", ME[1]),
        ("Subject", subject),
        ("Date", rfc_date(when)),
    ]
    if mid is True:
        pairs.append(("Message-ID", generic_mid(rng, domain)))
    elif mid:
        pairs.append(("Message-ID", mid))
    pairs += [
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
        ("Content-Transfer-Encoding", "7bit"),
        ("Auto-Submitted", "auto-generated"),
    ]
    return message(pairs, crlf(text))


def ndr(rng, key, when, original_subject):
    name, dn, domain = EXCHANGE[key]
    address = imceaex(dn, domain)
    boundary = "_%s_" % rng.hex(24)
    human = (
        "Delivery has failed to these recipients or groups:\n\n"
        "%s (%s)\n"
        "The e-mail address you entered couldn't be found. Please check the recipient's e-mail address and try to resend the message.\n\n"
        "Diagnostic information for administrators:\n\n"
        "Generating server: EX01.contoso.com\n\n"
        "%s\n"
        "Remote Server returned '550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found'\n\n"
        "Original message headers: Subject: %s\n" % (name, address, dn, original_subject))
    status = (
        "Reporting-MTA: dns;EX01.contoso.com\n\n"
        "Final-recipient: RFC822; %s\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Diagnostic-Code: smtp;550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found\n"
        "X-Display-Name: %s\n" % (address, name))
    pairs = [
        received(rng, "EX01.contoso.com", "mx.google.com", when),
        ("From", "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@contoso.com>"),
        ("To", addr(*ME)),
        ("Date", rfc_date(when)),
        ("Subject", "Undeliverable: %s" % original_subject),
        ("Message-ID", "<%s@EX01.contoso.com>" % rng.hex(32)),
        ("Content-Language", "en-US"),
        ("X-MS-Exchange-Message-Is-Ndr", ""),
        ("Auto-Submitted", "auto-replied"),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/report; report-type=delivery-status; boundary="%s"' % boundary),
    ]
    body = multipart(boundary, [
        part('text/plain; charset="us-ascii"', crlf(human), "7bit"),
        part("message/delivery-status", crlf(status), "7bit"),
    ])
    return message(pairs, body)


def spam(rng, when, i):
    subjects = ["You have (1) pending package", "Congratulations! You've been selected",
                "Final notice: your account will be suspended", "Re: invoice overdue",
                "Exclusive offer just for you", "Your cloud storage is full",
                "Urgent: verify your payment details", "Claim your reward now"]
    domain = "promo%d.example.biz" % rng.between(10, 99)
    text = "Dear customer,\n\n%s\n\nClick here: http://%s/%s\n" % (paragraph(rng, 2), domain, rng.alnum(20))
    pairs = [
        received(rng, "unknown.%s" % domain, "mx.google.com", when),
        ("From", addr("Customer Service", "support@%s" % domain)),
        ("To", ME[1]),
        ("Subject", subjects[i % len(subjects)]),
        ("Date", rfc_date(when)),
        ("Message-ID", generic_mid(rng, domain)),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/html; charset=utf-8"),
        ("Content-Transfer-Encoding", "base64"),
        ("X-Spam-Status", "Yes, score=%d.%d" % (rng.between(6, 15), rng.between(0, 9))),
    ]
    return message(pairs, b64(html_of(text).encode("utf-8")))


def sent(rng, to, subject, when, text=None, mid=None, refs=None):
    text = text or body_text(rng, "Hi %s," % to[0].split()[0], "Alex")
    boundary = "000000000000" + rng.hex(16)
    pairs = [
        ("MIME-Version", "1.0"),
        ("Date", rfc_date(when)),
        ("Message-ID", mid or gmail_mid(rng)),
    ]
    if refs:
        pairs += [("References", refs), ("In-Reply-To", refs.split()[-1])]
    pairs += [
        ("Subject", ew(subject)),
        ("From", addr(*ME)),
        ("To", addr(*to)),
        ("Content-Type", 'multipart/alternative; boundary="%s"' % boundary),
    ]
    body = multipart(boundary, [
        part('text/plain; charset="UTF-8"', qp(text), "quoted-printable"),
        part('text/html; charset="UTF-8"', qp(html_of(text)), "quoted-printable"),
    ])
    return message(pairs, body)


# ---------------------------------------------------------------- the mailbox

class Msg:
    def __init__(self, raw, when, labels, flags="S", new=False, tag=None):
        self.raw = raw
        self.when = when
        self.labels = list(labels)
        self.flags = flags
        self.new = new
        self.tag = tag


MESSAGES = []
MBOX = []  # (raw, when) of Imported.mbox
TAGS = {}


def add(raw, when, labels, flags="S", new=False, tag=None):
    m = Msg(raw, when, labels, flags, new, tag)
    MESSAGES.append(m)
    if tag:
        TAGS[tag] = m
    return m


def build():
    rng = R

    # INBOX: personal mail from several clients, some also labelled.
    for i in range(30):
        when = date_in(rng, 2024, 1, 11)
        frm = rng.choice(FRIENDS)
        subject = rng.choice(["Dinner on Saturday?", "Photos from the trip", "Re: weekend plans",
                              "Book recommendation", "Moving day", "Birthday present ideas",
                              "Ça marche pour jeudi ?", "Grüße aus Berlin", "Quick question",
                              "Concert tickets", "¿Nos vemos el domingo?", "Old photos"])
        kind = i % 3
        if kind == 0:
            raw = personal_gmail(rng, frm, ME, subject, when)
        elif kind == 1:
            attach = None
            if i % 6 == 1:
                attach = ("IMG_%04d.png" % rng.between(1000, 9999), "image/png", png(24, 16, rng))
            raw = personal_apple(rng, frm, ME, subject, when, attachment=attach)
        else:
            raw = outlook(rng, frm, [ME], subject, when)
        labels = ["INBOX"]
        flags = "S"
        if i % 7 == 0:
            labels.append("[Gmail]/Important")
        if i % 10 == 3:
            flags = "FS"
            labels.append("[Gmail]/Starred")
        add(raw, when, labels, flags)

    # Unread mail still in new/ (no flags in the file name).
    for i in range(3):
        when = date_in(rng, 2024, 11, 11)
        add(personal_gmail(rng, rng.choice(FRIENDS), ME, "Are you around next week?", when), when, ["INBOX"], "", new=True)

    # Work: an Outlook-heavy account with threads, invites and the known label group.
    for i in range(12):
        when = date_in(rng, 2023)
        frm = rng.choice(COLLEAGUES)
        subject = rng.choice(PROJECT_TOPICS)
        cc = rng.sample(COLLEAGUES, 2)
        add(outlook(rng, frm, [ME], subject, when, cc=cc), when, ["Work"] + (["[Gmail]/Important"] if i % 3 == 0 else []))

    when = dt.datetime(2024, 3, 14, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    roadmap = outlook(rng, COLLEAGUES[0], [ME], "Q3 roadmap review", when, cc=COLLEAGUES[1:3],
                      text="Hi all,\n\nPlease find the Q3 roadmap attached. We review it on Monday.\n\nDana\n",
                      attachment=("Q3-roadmap.pdf", "application/pdf", pdf(["Q3 roadmap", "1. Search", "2. Billing", "3. Mobile"])))
    # The known label group: identical bytes in five folders.
    add(roadmap, when, ["INBOX", "Work/Projects/2024", "[Gmail]/Important", "[Gmail]/Starred"], "FS", tag="label-group")

    for i in range(8):
        when = date_in(rng, 2022)
        add(outlook(rng, rng.choice(COLLEAGUES), [ME], rng.choice(PROJECT_TOPICS), when), when, ["Work/Projects"])

    for i in range(17):
        when = date_in(rng, 2024, 1, 10)
        frm = rng.choice(COLLEAGUES)
        if i % 5 == 0:
            raw = invite(rng, frm, rng.choice(["Sprint planning", "1:1", "Architecture sync", "Retro"]),
                         when + dt.timedelta(days=4), "Room 4.12 / Meet")
        else:
            raw = outlook(rng, frm, [ME], rng.choice(PROJECT_TOPICS), when, cc=rng.sample(COLLEAGUES, 1))
        add(raw, when, ["Work/Projects/2024"] + (["[Gmail]/Important"] if i % 4 == 1 else []))

    # Old Exchange mail (imported from a PST) with IMCEAEX senders and recipients.
    for i, key in enumerate(["jdoe", "jdoe", "asmith", "jdoe", "mlee", "rbrown", "asmith"]):
        when = date_in(rng, 2016 + i % 2)
        others = [k for k in EXCHANGE if k != key]
        cc = [exchange_addr(rng.choice(others))] if i % 2 == 0 else []
        raw = outlook(rng, exchange_addr(key), [addr(*ME)], rng.choice(PROJECT_TOPICS), when, cc=cc)
        add(raw, when, ["Work"], tag="imceaex-%d" % i)
    when = dt.datetime(2019, 6, 3, 16, 5, tzinfo=dt.timezone.utc)
    add(ndr(rng, "jdoe", when, "RE: Vendor contract renewal"), when, ["Work"], tag="ndr")

    # Receipts, each with a PDF invoice.
    shops = [("Northwind Traders", "orders@northwind.example"), ("Tailspin Toys", "receipts@tailspin.example"),
             ("Contoso Books", "no-reply@books.contoso.example"), ("Fourth Coffee", "hello@fourthcoffee.example")]
    for i in range(18):
        when = date_in(rng, 2023 + i % 2)
        add(receipt(rng, shops[i % len(shops)], when, "%d.%02d" % (rng.between(5, 250), rng.between(0, 99)),
                    rng.choice(["USB-C cable", "Desk lamp", "Coffee beans 1 kg", "Paperback: The Pragmatic Programmer",
                                "Board game", "Headphones", "Gift card"])),
            when, ["Receipts"])

    # Newsletters.
    letters = [(("The Weekly Byte", "news@weeklybyte.example"), "<weekly.weeklybyte.example>"),
               (("Fabrikam Product Updates", "updates@fabrikam.example"), "<product-updates.fabrikam.example>"),
               (("Café Lumière", "bonjour@cafe-lumiere.example"), "<infolettre.cafe-lumiere.example>")]
    for i in range(24):
        when = date_in(rng, 2024, 1, 11)
        sender, lid = letters[i % 3]
        subject = ["This week: async Rust, SQLite tricks and more", "What's new in March",
                   "Les nouveautés de la semaine ☕", "Issue #%d: memory safety everywhere" % (100 + i)][i % 4]
        add(newsletter(rng, sender, lid, subject, when), when, ["Newsletters"])

    # Mailing list threads (plain text, References chains).
    posters = FRIENDS[:4] + COLLEAGUES[:2] + [("Rustacean Bot", "bot@lists.example.org")]
    for t, topic in enumerate(LIST_TOPICS):
        root_when = date_in(rng, 2024, 2, 9)
        refs = []
        prev = None
        for j in range(3):
            when = root_when + dt.timedelta(hours=5 * j + rng.between(0, 4))
            frm = rng.choice(posters)
            mid = "<%s@%s>" % (rng.hex(12), frm[1].split("@")[1])
            subject = "[rust-users] " + topic if j == 0 else "Re: [rust-users] " + topic
            raw = list_post(rng, frm, subject, when, mid, refs, quote=prev)
            tag = "list-%d-%d" % (t, j)
            add(raw, when, ["Lists/rust-users"], tag=tag)
            refs = refs + [mid]
            prev = (when, addr(*frm))

    # A re-delivered copy: the list sent one post twice; the second copy has
    # two more Received headers in front. Same Message-ID, different bytes.
    original = TAGS["list-2-1"]
    redelivered = headers([
        ("Received", "from mx2.lists.example.org (mx2.lists.example.org [198.51.100.7]) by mx.google.com with ESMTPS id r3d3l1v3r3d for <%s>; %s"
         % (ME[1], rfc_date(original.when + dt.timedelta(hours=6)))),
        ("Received", "from lists.example.org (localhost [127.0.0.1]) by mx2.lists.example.org (Postfix) with ESMTP id 4Rb2kP; %s"
         % rfc_date(original.when + dt.timedelta(hours=6))),
    ]) + original.raw
    add(redelivered, original.when + dt.timedelta(hours=6), ["INBOX"], tag="redelivered")

    # Écoles: French school mail, Latin-1 and UTF-8 encoded words.
    for i in range(8):
        when = date_in(rng, 2023)
        frm = ("École Jules Verne", "secretariat@ecole-jv.example")
        subject = ["Réunion parents-professeurs", "Sortie scolaire au musée", "Menu de la cantine",
                   "Bulletin du 2e trimestre"][i % 4]
        text = "Bonjour,\n\nVeuillez trouver ci-dessous les informations concernant : %s.\n\nCordialement,\nLe secrétariat\n" % subject
        if i % 2 == 0:
            raw = message([
                received(rng, "smtp.ecole-jv.example", "mx.google.com", when),
                ("From", "%s <%s>" % (ew(frm[0], "ISO-8859-1", "Q"), frm[1])),
                ("To", addr(*ME)),
                ("Subject", ew(subject, "ISO-8859-1", "Q")),
                ("Date", rfc_date(when)),
                ("Message-ID", generic_mid(rng, "ecole-jv.example")),
                ("MIME-Version", "1.0"),
                ("Content-Type", "text/plain; charset=ISO-8859-1"),
                ("Content-Transfer-Encoding", "quoted-printable"),
                ("X-Mailer", "Microsoft Outlook 16.0"),
            ], crlf(binascii.b2a_qp(text.encode("latin-1"), istext=True).decode("ascii")))
        else:
            raw = personal_gmail(rng, frm, ME, subject, when, text=text)
        add(raw, when, ["Écoles"])

    # Entwürfe: a German user folder for unfinished letters.
    for i in range(4):
        when = date_in(rng, 2022)
        add(sent(rng, FRIENDS[1], ["Kündigung Mietvertrag", "Anfrage Angebot", "Entwurf: Einladung", "Notizen"][i], when,
                 text="Sehr geehrte Damen und Herren,\n\n%s\n\nMit freundlichen Grüßen\nAlex Martin\n" % paragraph(rng, 2)),
            when, ["Entwürfe"], "DS")

    # 日本: ISO-2022-JP mail.
    jp_subjects = ["会議の日程について", "資料送付のお願い", "東京出張の件", "お疲れ様です", "新年のご挨拶", "見積書の送付"]
    for i in range(6):
        when = date_in(rng, 2023)
        text = "マーティン様\n\nいつもお世話になっております。\n%sの件でご連絡いたします。\n\nよろしくお願いいたします。\n%s\n" % (
            jp_subjects[i], JAPANESE[i % 2][0])
        add(iso2022jp_mail(rng, JAPANESE[i % 2], jp_subjects[i], when, text), when, ["日本"])

    # Folders whose names contain the dot delimiter of a Courier-like target.
    for i in range(5):
        when = date_in(rng, 2021)
        text = "Release v1.2.%d is out.\n\nChangelog:\n- fixes\n- faster sync\n\nhttps://releases.example.org/v1.2.%d\n" % (i, i)
        add(notification(rng, ("Release Bot", "releases@example.org"), "[ANN] v1.2.%d released" % i, when, text,
                         domain="releases.example.org"), when, ["Releases v1.2"])
    for i in range(3):
        when = date_in(rng, 2021)
        add(personal_gmail(rng, FRIENDS[2], ME, "a.b notes %d" % i, when), when, ["a.b"])
    for i in range(2):
        when = date_in(rng, 2021)
        add(personal_gmail(rng, FRIENDS[3], ME, "a/b notes %d" % i, when), when, ["a/b"])

    # A user label "Sent Mail" left by an earlier, naive migration that
    # copied the system folder as a label: on a target it collides with
    # [Gmail]/Sent Mail, which lands on "Sent Mail" too.
    for i in range(3):
        when = date_in(rng, 2015)
        add(outlook(rng, (ME[0], "alex.martin@contoso.com"), [rng.choice(COLLEAGUES)], rng.choice(PROJECT_TOPICS), when),
            when, ["Sent Mail"])

    # Archive and the whale.
    for i in range(5):
        when = date_in(rng, 2020)
        add(personal_gmail(rng, rng.choice(FRIENDS), ME, "Archive %d" % i, when), when, ["Archive"])
    for i in range(10):
        when = date_in(rng, 2018)
        add(personal_apple(rng, rng.choice(FRIENDS), ME, rng.choice(["Holiday plans", "Flat viewing", "Re: keys"]), when),
            when, ["Archive/2018"])
    for i in range(196):
        when = date_in(rng, 2019)
        if i % 40 == 7:
            # Large scans: these make the folder heavy in bytes as well as in count.
            raw = outlook(rng, rng.choice(COLLEAGUES), [ME], "Scanned documents %d" % i, when,
                          attachment=("scan-%03d.pdf" % i, "application/pdf",
                                      pdf(["Scanned document %d" % i], padding=60000, seed_rng=rng)))
        elif i % 3 == 0:
            raw = outlook(rng, rng.choice(COLLEAGUES), [ME], rng.choice(PROJECT_TOPICS), when)
        elif i % 3 == 1:
            raw = personal_gmail(rng, rng.choice(FRIENDS), ME, rng.choice(["Lunch?", "Re: photos", "Train times"]), when)
        else:
            raw = notification(rng, ("Fabrikam Monitor", "alerts@monitor.fabrikam.example"),
                               "[OK] nightly backup %s" % when.strftime("%Y-%m-%d"), when,
                               "Backup finished.\nDuration: %d min\nSize: %d MB\n" % (rng.between(5, 50), rng.between(100, 900)))
        add(raw, when, ["Archive/2019"])
    # Old Exchange mail in the whale too.
    when = dt.datetime(2019, 2, 11, 10, 0, tzinfo=dt.timezone.utc)
    add(outlook(rng, exchange_addr("jdoe"), [addr(*ME), exchange_addr("rbrown")], "RE: Vendor contract renewal", when),
        when, ["Archive/2019"], tag="imceaex-whale")

    # Messages without Message-ID (cron mail, an old scanner).
    for i in range(4):
        when = date_in(rng, 2024, 1, 10)
        add(notification(rng, ("Cron Daemon", "root@backup01.example.com"),
                         "Cron <root@backup01> /usr/local/bin/rotate-logs", when,
                         "rotated 14 files\nfreed %d MB\n" % rng.between(10, 900), mid=False, domain="backup01.example.com"),
            when, ["INBOX"] if i < 2 else ["Archive/2019"], tag="no-mid-%d" % i)

    # Two different messages sharing one Message-ID (a monitoring tool that
    # reuses its id).
    for i in range(2):
        when = dt.datetime(2024, 5, 2 + i, 3, 0, tzinfo=dt.timezone.utc)
        add(notification(rng, ("Fabrikam Monitor", "alerts@monitor.fabrikam.example"),
                         "[ALERT] disk usage %d%% on db0%d" % (91 + i, i + 1), when,
                         "Disk usage on db0%d is at %d%%.\n" % (i + 1, 91 + i), mid="<alert@monitor.fabrikam.example>"),
            when, ["INBOX"], tag="shared-mid-%d" % i)

    # S/MIME signed.
    for i in range(2):
        when = date_in(rng, 2023)
        add(smime_signed(rng, ("Beat Keller", "beat.keller@example.ch"), ME, "Signed: contract addendum %d" % (i + 1), when),
            when, ["Work"], tag="smime-%d" % i)

    # Calendar invites in INBOX.
    for i in range(3):
        start = date_in(rng, 2024, 6, 9)
        add(invite(rng, rng.choice(FRIENDS), ["Climbing", "Book club", "Dentist"][i], start, "Downtown"), start, ["INBOX"])

    # Gmail system folders.
    for i in range(22):
        when = date_in(rng, 2024, 1, 11)
        to = rng.choice(FRIENDS + COLLEAGUES)
        add(sent(rng, to, rng.choice(["Re: Dinner on Saturday?", "Re: Q3 roadmap review", "Notes from today",
                                      "Re: Quick question", "Invoice", "Re: Moving day"]), when),
            when, ["[Gmail]/Sent Mail"], "S")
    # A reply to an old Exchange thread, sent to the IMCEAEX address the
    # client remembered: exactly the mail that bounces after a migration.
    when = dt.datetime(2024, 4, 9, 14, 20, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    add(message([
        ("MIME-Version", "1.0"),
        ("Date", rfc_date(when)),
        ("Message-ID", gmail_mid(rng)),
        ("Subject", "Re: Vendor contract renewal"),
        ("From", addr(*ME)),
        ("To", exchange_addr("jdoe")),
        ("Cc", exchange_addr("asmith")),
        ("Content-Type", 'text/plain; charset="UTF-8"'),
    ], crlf("John, picking this up again after all these years.\n\nAlex\n")), when, ["[Gmail]/Sent Mail"], "S", tag="sent-imceaex")

    for i in range(3):
        when = date_in(rng, 2024, 10, 11)
        add(sent(rng, rng.choice(FRIENDS), ["Draft: trip budget", "Draft: reply to landlord", ""][i], when), when,
            ["[Gmail]/Drafts"], "DS")
    for i in range(6):
        when = date_in(rng, 2024, 1, 11)
        add(newsletter(rng, letters[i % 3][0], letters[i % 3][1], "Old issue %d" % i, when), when, ["[Gmail]/Trash"], "S")
    for i in range(8):
        when = date_in(rng, 2024, 1, 11)
        add(spam(rng, when, i), when, ["[Gmail]/Spam"], "")

    # Archived mail: no label, so it lives only in All Mail.
    for i in range(14):
        when = date_in(rng, 2022 + i % 3)
        if i % 2 == 0:
            raw = personal_gmail(rng, rng.choice(FRIENDS), ME, rng.choice(["Re: old times", "Archived thread", "FYI"]), when)
        else:
            raw = newsletter(rng, letters[i % 3][0], letters[i % 3][1], "Archived issue %d" % i, when)
        add(raw, when, [], tag="archived-%d" % i)

    damaged(rng)
    imported_mbox(rng)


def damaged(rng):
    """Damaged messages, one per defect kind, each tagged for the tests."""
    # Bare LF: the whole message uses LF line ends.
    when = dt.datetime(2024, 2, 20, 8, 0, tzinfo=dt.timezone.utc)
    raw = notification(rng, ("Backup Script", "backup@nas.example.com"), "NAS backup report", when,
                       "All shares backed up.\n", domain="nas.example.com").replace(b"\r\n", b"\n")
    add(raw, when, ["INBOX"], tag="bare-lf")

    # Truncated multipart: the sync tool stopped mid-attachment; no closing
    # boundary. Cut at a base64 line end so the base64 itself stays valid.
    when = dt.datetime(2019, 9, 30, 12, 0, tzinfo=dt.timezone.utc)
    raw = outlook(rng, COLLEAGUES[2], [ME], "Slides for the review", when,
                  attachment=("slides.pdf", "application/pdf", pdf(["Slides"], padding=6000, seed_rng=rng)))
    cut = raw.index(b"base64\r\n")
    cut = raw.index(b"\r\n", cut + 8 + 76 * 20) + 2
    add(raw[:cut], when, ["Archive/2019"], tag="truncated")

    # Bad base64 in an attachment.
    when = dt.datetime(2023, 11, 2, 9, 15, tzinfo=dt.timezone.utc)
    raw = personal_apple(rng, FRIENDS[0], ME, "Le scan du contrat", when,
                         attachment=("contrat.pdf", "application/pdf", pdf(["Contrat"])))
    start = raw.index(b"base64\r\n", raw.index(b"contrat.pdf"))
    start = raw.index(b"\r\n\r\n", start) + 4
    raw = raw[:start + 100] + b"!!**corrupted**!!" + raw[start + 117:]
    add(raw, when, ["INBOX"], tag="bad-base64")

    # No From header.
    when = dt.datetime(2024, 1, 5, 6, 0, tzinfo=dt.timezone.utc)
    raw = message([
        received(rng, "printer.example.com", "mx.google.com", when),
        ("To", ME[1]),
        ("Subject", "Scan from MFP-3F"),
        ("Date", rfc_date(when)),
        ("Message-ID", generic_mid(rng, "printer.example.com")),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=us-ascii"),
    ], crlf("Scanned 3 pages.\n"))
    add(raw, when, ["INBOX"], tag="no-from")

    # Raw 8-bit Latin-1 in a header (not UTF-8).
    when = dt.datetime(2023, 3, 7, 17, 45, tzinfo=dt.timezone.utc)
    raw = message([
        received(rng, "smtp.ecole-jv.example", "mx.google.com", when),
        ("From", b"Secr\xe9tariat <secretariat@ecole-jv.example>"),
        ("To", ME[1]),
        ("Subject", b"R\xe9union du conseil d'\xe9cole"),
        ("Date", rfc_date(when)),
        ("Message-ID", generic_mid(rng, "ecole-jv.example")),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=ISO-8859-1"),
        ("Content-Transfer-Encoding", "8bit"),
    ], "La réunion aura lieu mardi à 18h.\r\n".encode("latin-1"))
    add(raw, when, ["Écoles"], tag="eight-bit-header")

    # A NUL byte in the body.
    when = dt.datetime(2022, 8, 8, 8, 8, tzinfo=dt.timezone.utc)
    raw = notification(rng, ("Legacy CRM", "crm@fabrikam.example"), "Export finished", when,
                       "Export finished.\nRecords: 1200\n", domain="fabrikam.example")
    raw = raw.replace(b"Records:", b"Records:\x00")
    add(raw, when, ["Archive"], tag="nul")

    # An mbox "From " line left at the top of the headers by a bad export.
    when = dt.datetime(2018, 12, 24, 19, 0, tzinfo=dt.timezone.utc)
    raw = b"From francois.dubois@example.fr Mon Dec 24 19:00:00 2018\r\n" + personal_gmail(
        rng, FRIENDS[0], ME, "Joyeux Noël !", when)
    add(raw, when, ["Archive/2018"], tag="envelope-from")

    # An attachment with zero bytes of content.
    when = dt.datetime(2024, 6, 12, 11, 30, tzinfo=dt.timezone.utc)
    boundary = "Apple-Mail=_EMPTY0000-0000"
    raw = message([
        received(rng, "mail.example.org", "mx.google.com", when),
        ("From", addr(*FRIENDS[3])),
        ("To", addr(*ME)),
        ("Subject", "the spreadsheet"),
        ("Date", rfc_date(when)),
        ("Message-ID", apple_mid(rng, "example.org")),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'multipart/mixed; boundary="%s"' % boundary),
    ], multipart(boundary, [
        part("text/plain; charset=utf-8", crlf("Here it is.\n"), "7bit"),
        part('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet; name="budget.xlsx"', b"", "base64",
             [("Content-Disposition", 'attachment; filename="budget.xlsx"')]),
    ]))
    add(raw, when, ["INBOX"], tag="empty-attachment")

    # A calendar invite whose iCalendar object is cut short.
    start = dt.datetime(2024, 7, 1, 15, 0, tzinfo=dt.timezone.utc)
    broken = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nDTSTART:20240701T150000Z\r\nSUMMARY:Team dinner\r\nthis is not a property line\r\n"
    add(invite(rng, COLLEAGUES[1], "Team dinner", start, "Trattoria", calendar=broken), start,
        ["Work/Projects/2024"], tag="broken-calendar")

    # A zero-byte file left by an interrupted sync.
    when = dt.datetime(2019, 12, 31, 23, 59, tzinfo=dt.timezone.utc)
    add(b"", when, ["Archive/2019"], "", tag="empty")

    # An unparseable Date and a broken encoded word.
    when = dt.datetime(2021, 4, 1, 12, 0, tzinfo=dt.timezone.utc)
    raw = message([
        received(rng, "old.example.net", "mx.google.com", when),
        ("From", addr(*FRIENDS[4])),
        ("To", addr(*ME)),
        ("Subject", "=?UTF-8?B?SGVsbG8gd29ybGQ*?= from the old server"),
        ("Date", "Thursday, first of April"),
        ("Message-ID", generic_mid(rng, "old.example.net")),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=utf-8"),
    ], crlf("Test from the old server.\n"))
    add(raw, when, ["Archive"], tag="bad-date")


def imported_mbox(rng):
    """Imported.mbox: mail from an older client, mboxrd-escaped, CRLF lines."""
    for i in range(8):
        when = date_in(rng, 2014)
        frm = rng.choice(FRIENDS)
        text = body_text(rng, "Hi Alex,", frm[0].split()[0])
        if i == 3:
            # A body line starting with "From " is escaped as ">From " in mbox.
            text = "Hi Alex,\n\nFrom what I remember, the key is under the mat.\n\n%s\n" % frm[0].split()[0]
        raw = message([
            received(rng, "smtp.%s" % frm[1].split("@")[1], "mail.example.com", when),
            ("From", addr(*frm)),
            ("To", addr(*ME)),
            ("Subject", ew(["Old times", "Re: the flat", "Pictures", "Keys", "Summer", "Recipe", "Hello", "Bye"][i])),
            ("Date", rfc_date(when)),
            ("Message-ID", generic_mid(rng, frm[1].split("@")[1])),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=utf-8; format=flowed"),
            ("Content-Transfer-Encoding", "8bit"),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Thunderbird/24.6.0"),
        ], crlf(text))
        MBOX.append((raw, when, frm[1]))
    # Two messages from an old Outlook PST converted to mbox: the converter
    # kept Exchange's own addresses, X.500 DNs, in the address fields.
    kwong = "/O=FABRIKAM/OU=FIRST ORGANIZATION/CN=RECIPIENTS/CN=KWONG"
    jdoe = EXCHANGE["jdoe"][1]
    for i, (frm, to, subject) in enumerate([
        ('"Wong, Kai" <%s>' % kwong, addr(*ME), "Handover notes"),
        (addr(ME[0], "alex.martin@contoso.com"), '"Doe, John" <%s>' % jdoe, "RE: Vendor contract renewal"),
    ]):
        when = dt.datetime(2013, 5, 6 + i, 9, 30, tzinfo=dt.timezone.utc)
        # Written unfolded, as the converter wrote them (bytes skip folding).
        raw = message([
            ("From", frm.encode()),
            ("To", to.encode()),
            ("Subject", subject),
            ("Date", rfc_date(when)),
            ("Message-ID", "<%s@EX01.contoso.com>" % rng.hex(32)),
            ("MIME-Version", "1.0"),
            ("Content-Type", 'text/plain; charset="us-ascii"'),
            ("Content-Transfer-Encoding", "7bit"),
            ("X-MS-Has-Attach", ""),
        ], crlf(body_text(rng, "Hi,", "Thanks")))
        MBOX.append((raw, when, "MAILER-DAEMON"))


# ---------------------------------------------------------------- writing

def folder_dir(root, label):
    if label == "INBOX":
        return root
    return os.path.join(root, *label.split("/"))


def write(root):
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    for m in MESSAGES:
        if not any(l in NOT_IN_ALL_MAIL for l in m.labels):
            m.labels.append(ALL_MAIL)
    folders = sorted({l for m in MESSAGES for l in m.labels} | {"INBOX"})
    for f in folders:
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(folder_dir(root, f), sub), exist_ok=True)
        with open(os.path.join(folder_dir(root, f), "tmp", ".keep"), "wb") as fh:
            fh.write(b"")
    for n, m in enumerate(MESSAGES, 1):
        base = "%d.M%dP0.%s" % (int(m.when.timestamp()), n, HOST)
        for label in m.labels:
            if m.new and label == "INBOX":
                path = os.path.join(folder_dir(root, label), "new", base)
            else:
                path = os.path.join(folder_dir(root, label), "cur", base + ":2," + m.flags)
            with open(path, "wb") as fh:
                fh.write(m.raw)
    with open(os.path.join(root, "Imported.mbox"), "wb") as fh:
        for raw, when, sender in MBOX:
            fh.write(("From %s %s\r\n" % (sender, english(when.astimezone(dt.timezone.utc), "%a %b %d %H:%M:%S %Y"))).encode())
            lines = raw.split(b"\r\n")
            for line in lines[:-1]:
                stripped = line.lstrip(b">")
                if stripped.startswith(b"From "):
                    line = b">" + line
                fh.write(line + b"\r\n")
            fh.write(b"\r\n")
    # git would otherwise be free to rewrite line ends on some platforms.
    with open(os.path.join(root, ".gitattributes"), "wb") as fh:
        fh.write(b"* -text\n")


def summary():
    counts = {}
    sizes = {}
    for m in MESSAGES:
        for l in m.labels:
            counts[l] = counts.get(l, 0) + 1
            sizes[l] = sizes.get(l, 0) + len(m.raw)
    print("folder\tmessages\tbytes")
    for f in sorted(counts):
        print("%s\t%d\t%d" % (f, counts[f], sizes[f]))
    print("Imported.mbox\t%d\t%d" % (len(MBOX), sum(len(r) for r, _, _ in MBOX)))
    files = sum(len(m.labels) for m in MESSAGES) + len(MBOX)
    print("distinct messages: %d (+%d in mbox); message files: %d" % (len(MESSAGES), len(MBOX), files))
    g = TAGS["label-group"]
    print("label group (identical bytes): %s" % ", ".join(g.labels))
    for key, (name, dn, domain) in EXCHANGE.items():
        seen = sum(len(m.labels) for m in MESSAGES if imceaex(dn, domain).encode() in m.raw or dn.encode() in m.raw)
        print("X500:%s\tin %d message files" % (dn, seen))


def main():
    build()
    check = "--check" in sys.argv[1:]
    if check:
        tmp = tempfile.mkdtemp()
        try:
            out = os.path.join(tmp, "sample")
            write(out)
            # Compare files, not directories: git stores no empty directory,
            # so a fresh clone lacks the empty new/ folders the generator makes.
            def files(top):
                found = set()
                for dirpath, _, names in os.walk(top):
                    for name in names:
                        found.add(os.path.relpath(os.path.join(dirpath, name), top))
                return found

            made, committed = files(out), files(ROOT)
            diffs = sorted(made ^ committed)
            for rel in sorted(made & committed):
                if not filecmp.cmp(os.path.join(out, rel), os.path.join(ROOT, rel), shallow=False):
                    diffs.append(rel)
            if diffs:
                print("sample differs from the generator output:", *sorted(set(diffs))[:20], sep="\n  ")
                sys.exit(1)
            print("sample matches the generator")
        finally:
            shutil.rmtree(tmp)
    else:
        write(ROOT)
        summary()


if __name__ == "__main__":
    main()
