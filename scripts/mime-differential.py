#!/usr/bin/env python3
"""Differential test: `imapmig mime classify` against CPython's `email` parser.

CPython's `email` package (stdlib, no installs) records what it finds wrong
while parsing in `msg.defects`, per part. This script builds a set of
messages, asks both parsers about each, and prints how often we agree.

Inputs (all deterministic, nothing depends on the clock):

* every case of the classification corpus, imapmig-mime/tests/data/classify/
  (`variants: both` cases as their CRLF variant, `as-is` cases as stored);
* every distinct message file of the sample mailbox's Maildirs
  (imapmig-cli/sample, mostly clean, a few damaged on purpose);
* mutations of the corpus's clean messages (`clean-*.eml`, CRLF), drawn with
  a local xorshift generator from SEED: truncations, the closing or opening
  delimiter removed, a delimiter line duplicated, a boundary parameter that
  no delimiter line uses, base64 / quoted-printable declared on a multipart
  or a message/rfc822, 7bit declared on 8-bit data, Content-Type or
  MIME-Version dropped, the header/body separator line dropped, a body
  part's header block (and its empty line) dropped.

CPython parses each input twice, with `email.policy.compat32` and with
`email.policy.default`, and the defects of every part (`walk()`), plus those
raised by `get_payload(decode=True)` on each leaf, are collected. A message
is "structurally damaged" for CPython when one of these defect classes is
present (the mapping; every other class is a header-level remark, not
damage to the structure):

    CPython defect                               our codes
    NoBoundaryInMultipartDefect                  no-boundary
    StartBoundaryNotFoundDefect                  start-boundary-missing
    CloseBoundaryNotFoundDefect                  close-boundary-missing
    MultipartInvariantViolationDefect            start-boundary-missing
    InvalidMultipartContentTransferEncodingDefect invalid-cte
    MissingHeaderBodySeparatorDefect             missing-header-body-separator
    FirstHeaderLineIsContinuationDefect          first-line-continuation
    InvalidBase64CharactersDefect,
    InvalidBase64PaddingDefect,
    InvalidBase64LengthDefect                    invalid-base64

Not counted: MisplacedEnvelopeHeaderDefect (an mbox `From ` line: ours is
`envelope-from-line`, repairable), the HeaderDefect family of
policy.default (InvalidHeaderDefect, HeaderMissingRequiredValue,
NonPrintableDefect, ObsoleteHeaderDefect, InvalidDateDefect, ...: header
syntax), UndecodableBytesDefect.

We "flag" a message when `imapmig mime classify` says `corrupt`, or gives one
of the structural codes that are only `repairable` on their own
(missing-header-body-separator, first-line-continuation, invalid-cte).

Some damage is outside what CPython checks at all: an empty input, a
`text/calendar` part that is not iCalendar, nesting or size beyond our
limits (CPython has none). Corpus cases whose *expected* codes (their
`.expect` file, not our output) include one of those (CPYTHON_BLIND) are
reported on their own line, with whether we give the expected verdict, and
are not counted as CPython-clean.

Figures printed: recall = damaged-for-CPython messages we flag; clean-called-
corrupt = CPython-clean messages to which we say `corrupt`; then every
disagreement (CPython-damaged we do not flag, and CPython-clean we flag),
each with both sides' findings. The crate docs (imapmig-mime/src/lib.rs,
"Differences from CPython's email package") explain each kind that remains.

Exit status: 1 when recall < 90 % or clean-called-corrupt > 2 %, 2 on a
usage or run error, 0 otherwise.

    python3 scripts/mime-differential.py --imapmig target/debug/imapmig
    python3 scripts/mime-differential.py --imapmig target/debug/imapmig --seed 7 --mutations 12 -v
"""

import argparse
import email
import email.errors
import email.policy
import os
import re
import subprocess
import sys
import tempfile
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "imapmig-mime", "tests", "data", "classify")

RECALL_MIN = 0.90
CLEAN_CORRUPT_MAX = 0.02

# CPython defect class name -> the code of ours that means the same damage.
STRUCTURAL = {
    "NoBoundaryInMultipartDefect": "no-boundary",
    "StartBoundaryNotFoundDefect": "start-boundary-missing",
    "CloseBoundaryNotFoundDefect": "close-boundary-missing",
    "MultipartInvariantViolationDefect": "start-boundary-missing",
    "InvalidMultipartContentTransferEncodingDefect": "invalid-cte",
    "MissingHeaderBodySeparatorDefect": "missing-header-body-separator",
    "FirstHeaderLineIsContinuationDefect": "first-line-continuation",
    "InvalidBase64CharactersDefect": "invalid-base64",
    "InvalidBase64PaddingDefect": "invalid-base64",
    "InvalidBase64LengthDefect": "invalid-base64",
}

# Damage CPython does not look for (see the docstring).
CPYTHON_BLIND = {"empty", "calendar-malformed", "nesting-too-deep", "too-large", "parser-panic"}

SAMPLE = os.path.join(ROOT, "imapmig-cli", "sample")

# Our codes that flag structural damage although they are only repairable.
OUR_STRUCTURAL_REPAIRABLE = {
    "missing-header-body-separator",
    "first-line-continuation",
    "invalid-cte",
}


class XorShift:
    """xorshift64*: a fixed generator (Python's `random` may change)."""

    def __init__(self, seed):
        self.state = (seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF or 1

    def next(self):
        x = self.state
        x ^= (x >> 12)
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= (x >> 27)
        self.state = x
        return (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        return self.next() % n if n > 0 else 0


def crlf(data):
    """Every LF not after a CR becomes CRLF (the corpus's CRLF variant)."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def read_expect(path):
    fields = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or ":" not in line:
                continue
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    return fields


def corpus_inputs():
    """(name, bytes) for every corpus case, the clean messages, and the
    names of the cases expected to have damage CPython does not check."""
    cases, clean, blind = [], [], {}
    for name in sorted(os.listdir(CORPUS)):
        if not name.endswith(".eml"):
            continue
        stem = name[:-4]
        with open(os.path.join(CORPUS, name), "rb") as f:
            data = f.read()
        expect = read_expect(os.path.join(CORPUS, stem + ".expect"))
        if expect.get("variants") == "both":
            data = crlf(data)
        cases.append(("corpus/" + stem, data))
        if stem.startswith("clean-"):
            clean.append((stem, data))
        codes = set(expect.get("codes", "-").split(","))
        if codes & CPYTHON_BLIND:
            blind["corpus/" + stem] = expect.get("verdict")
    return cases, clean, blind


def sample_inputs():
    """(name, bytes) for each distinct message file of the sample's Maildirs."""
    seen, out = set(), []
    for dirpath, dirnames, filenames in sorted(os.walk(SAMPLE)):
        dirnames.sort()
        if os.path.basename(dirpath) not in ("cur", "new"):
            continue
        for name in sorted(filenames):
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            if data in seen:
                continue
            seen.add(data)
            out.append(("sample/" + os.path.relpath(os.path.join(dirpath, name), SAMPLE), data))
    return out


# --- mutations -------------------------------------------------------------

HEADER_END = re.compile(rb"\r\n\r\n")
BOUNDARY = re.compile(rb'boundary\s*=\s*"?([^";\r\n]+)"?', re.I)


def split_message(data):
    m = HEADER_END.search(data)
    if not m:
        return data, b""
    return data[: m.start() + 2], data[m.end():]


def header_fields(header):
    """The header block as a list of (name-lowercase, raw field bytes)."""
    fields = []
    for line in header.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + b"\r\n" + line)
        else:
            fields.append((line.split(b":", 1)[0].strip().lower(), line))
    return fields


def join_fields(fields):
    return b"".join(raw + b"\r\n" for _, raw in fields)


def set_field(data, name, value):
    """Replace (or add) a top-level header field."""
    header, body = split_message(data)
    fields = [f for f in header_fields(header) if f[0] != name.lower().encode()]
    fields.append((name.lower().encode(), name.encode() + b": " + value))
    return join_fields(fields) + b"\r\n" + body


def drop_field(data, name):
    header, body = split_message(data)
    fields = header_fields(header)
    kept = [f for f in fields if f[0] != name.lower().encode()]
    if len(kept) == len(fields):
        return None
    return join_fields(kept) + b"\r\n" + body


def delimiter_lines(data):
    """(start, end) of every delimiter line of every boundary in data."""
    out = []
    for b in set(BOUNDARY.findall(data)):
        pattern = re.compile(rb"(?m)^--" + re.escape(b) + rb"(--)?[ \t]*\r?\n?")
        out.extend((m.start(), m.end(), m.group(1) is not None) for m in pattern.finditer(data))
    return sorted(out)


def mutations(name, data, rng, count):
    """Up to `count` (label, bytes) mutations of one clean message."""
    header, body = split_message(data)
    delims = delimiter_lines(data)
    is_multipart = bool(re.search(rb"(?im)^content-type:\s*multipart/", header))
    eight_bit = any(b > 0x7F for b in body)
    out = []

    # Truncations at seeded offsets in the body.
    for _ in range(2):
        if body:
            at = len(header) + 2 + rng.below(len(body))
            out.append(("truncate@%d" % at, data[:at]))
    if delims:
        closes = [d for d in delims if d[2]]
        opens = [d for d in delims if not d[2]]
        if closes:
            s, e, _ = closes[rng.below(len(closes))]
            out.append(("close-delimiter-removed", data[:s] + data[e:]))
        if opens:
            s, e, _ = opens[0]
            out.append(("first-delimiter-removed", data[:s] + data[e:]))
            s, e, _ = opens[rng.below(len(opens))]
            out.append(("delimiter-duplicated", data[:e] + data[s:e] + data[e:]))
            # A body part without any header block: drop the part's header
            # lines and its empty line.
            s, e, _ = opens[rng.below(len(opens))]
            part_header_end = data.find(b"\r\n\r\n", e)
            if part_header_end >= e:
                out.append(("part-headers-dropped", data[:e] + data[part_header_end + 4:]))
            # Only the part's empty line dropped.
            if part_header_end > e:
                out.append(("part-separator-dropped", data[:part_header_end + 2] + data[part_header_end + 4:]))
        # Delimiters opened for a boundary that is never announced: the
        # parameter renamed so no delimiter line uses it.
        mutated = BOUNDARY.sub(lambda m: b'boundary="never-opened-' + m.group(1) + b'"', data, count=1)
        out.append(("boundary-never-opened", mutated))
        # All opening delimiters of the outer boundary gone, the close kept.
        b = BOUNDARY.search(header)
        if b:
            outer = re.compile(rb"(?m)^--" + re.escape(b.group(1)) + rb"[ \t]*\r\n")
            out.append(("outer-never-opened", outer.sub(b"", data)))
        # A body part whose first header line starts with white space.
        s, e, _ = opens[rng.below(len(opens))] if opens else (0, 0, False)
        if e and data[e:e + 2] != b"\r\n":
            out.append(("part-first-line-continuation", data[:e] + b" " + data[e:]))
        # An empty boundary parameter.
        out.append(("boundary-empty", BOUNDARY.sub(b'boundary=""', data, count=1)))
    # A character no base64 alphabet has, inside a base64 body.
    b64 = re.search(rb"(?im)^content-transfer-encoding:\s*base64\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z0-9+/]{8})", data)
    if b64:
        at = b64.start(1) + rng.below(8)
        out.append(("base64-character-damaged", data[:at] + b"*" + data[at + 1:]))
        at = b64.start(1) + rng.below(8)
        out.append(("base64-character-dropped", data[:at] + data[at + 1:]))
    if is_multipart:
        out.append(("base64-on-multipart", set_field(data, "Content-Transfer-Encoding", b"base64")))
        out.append(("qp-on-multipart", set_field(data, "Content-Transfer-Encoding", b"quoted-printable")))
    rfc822 = re.search(rb"(?im)^content-type:\s*message/rfc822[^\r\n]*\r\n", data)
    if rfc822:
        for cte in (b"quoted-printable", b"base64"):
            out.append(
                (
                    "%s-on-message/rfc822" % cte.decode(),
                    data[: rfc822.end()] + b"Content-Transfer-Encoding: " + cte + b"\r\n" + data[rfc822.end():],
                )
            )
    if eight_bit:
        m = re.search(rb"(?im)^content-transfer-encoding:\s*8bit", data)
        if m:
            out.append(("7bit-on-8bit", data[: m.start()] + b"Content-Transfer-Encoding: 7bit" + data[m.end():]))
    for field in ("Content-Type", "MIME-Version"):
        dropped = drop_field(data, field)
        if dropped is not None:
            out.append(("%s-dropped" % field, dropped))
    if body:
        out.append(("separator-dropped", header + body))
    # Keep `count` of them, chosen by the generator, in a stable order.
    while len(out) > count:
        out.pop(rng.below(len(out)))
    return [("mutation/%s/%s" % (name, label), m) for label, m in out]


# --- CPython -----------------------------------------------------------------


def cpython_defects(data):
    """Sorted distinct defect class names CPython reports, both policies."""
    found = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for policy in (email.policy.compat32, email.policy.default):
            try:
                msg = email.message_from_bytes(data, policy=policy)
                for part in msg.walk():
                    found.update(type(d).__name__ for d in part.defects)
                    if not part.is_multipart():
                        before = len(part.defects)
                        part.get_payload(decode=True)
                        found.update(type(d).__name__ for d in part.defects[before:])
            except Exception as e:  # CPython raising is a finding too
                found.add("raised:" + type(e).__name__)
    return sorted(found)


def damaged(defects):
    return [d for d in defects if d in STRUCTURAL or d.startswith("raised:")]


# --- imapmig -----------------------------------------------------------------


def classify_all(imapmig, inputs):
    """{name: (verdict, [codes])} from `imapmig mime classify` over a Maildir."""
    with tempfile.TemporaryDirectory(prefix="mime-differential.") as tmp:
        maildir = os.path.join(tmp, "md")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(maildir, sub))
        files = {}
        for i, (name, data) in enumerate(inputs):
            file = "%06d" % i
            files[file] = name
            with open(os.path.join(maildir, "cur", file), "wb") as f:
                f.write(data)
        run = subprocess.run(imapmig + ["mime", "classify", maildir], capture_output=True)
        if run.returncode != 0:
            sys.stderr.write(run.stderr.decode(errors="replace"))
            raise SystemExit("imapmig mime classify exited %d" % run.returncode)
        out = {}
        for line in run.stdout.decode().splitlines():
            path, verdict, codes = line.split("\t")
            name = files[os.path.basename(path)]
            out[name] = (verdict, [] if codes == "-" else codes.split(","))
        missing = set(files.values()) - set(out)
        if missing:
            raise SystemExit("imapmig did not classify: %s" % sorted(missing))
        return out


def flagged(verdict, codes):
    return verdict == "corrupt" or any(c in OUR_STRUCTURAL_REPAIRABLE for c in codes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--imapmig",
        default=None,
        help="the imapmig binary (default: `cargo run --release -p imapmig-cli --`)",
    )
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--mutations", type=int, default=32, help="at most this many per clean message")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every input's findings")
    args = parser.parse_args()
    if args.imapmig:
        imapmig = [args.imapmig]
    else:
        imapmig = ["cargo", "run", "--quiet", "--release", "-p", "imapmig-cli", "--"]

    cases, clean, blind = corpus_inputs()
    sample = sample_inputs()
    inputs = list(cases) + sample
    rng = XorShift(args.seed)
    for name, data in clean:
        inputs.extend(mutations(name, data, rng, args.mutations))
    ours = classify_all(imapmig, inputs)

    damaged_n = hit = clean_n = clean_corrupt = clean_flagged = 0
    misses, false_alarms, outside = [], [], []
    for name, data in inputs:
        theirs = cpython_defects(data)
        verdict, codes = ours[name]
        dmg = damaged(theirs)
        flag = flagged(verdict, codes)
        if args.verbose:
            print("%-60s cpython=%s ours=%s %s" % (name, ",".join(theirs) or "-", verdict, ",".join(codes) or "-"))
        if not dmg and name in blind:
            outside.append((name, blind[name], verdict, codes))
        elif dmg:
            damaged_n += 1
            if flag:
                hit += 1
            else:
                misses.append((name, theirs, verdict, codes))
        else:
            clean_n += 1
            if verdict == "corrupt":
                clean_corrupt += 1
            if flag:
                clean_flagged += 1
                false_alarms.append((name, theirs, verdict, codes))

    recall = hit / damaged_n if damaged_n else 1.0
    fp = clean_corrupt / clean_n if clean_n else 0.0
    print("inputs: %d (%d corpus cases, %d sample messages, %d mutations of %d clean messages, seed %d)"
          % (len(inputs), len(cases), len(sample), len(inputs) - len(cases) - len(sample), len(clean), args.seed))
    print("CPython structurally damaged: %d; we flag %d: recall %.1f %% (goal >= %d %%)"
          % (damaged_n, hit, 100 * recall, 100 * RECALL_MIN))
    print("CPython clean: %d; we call corrupt %d: %.1f %% (goal <= %d %%); we flag %d"
          % (clean_n, clean_corrupt, 100 * fp, 100 * CLEAN_CORRUPT_MAX, clean_flagged))
    agree = sum(1 for _, want, verdict, _ in outside if want == verdict)
    print("damage CPython does not check: %d corpus cases; we give the expected verdict to %d"
          % (len(outside), agree))
    if misses:
        print("\nCPython damaged, we do not flag:")
        for name, theirs, verdict, codes in misses:
            print("  %s\n    cpython: %s\n    ours:    %s %s" % (name, ", ".join(theirs), verdict, ",".join(codes) or "-"))
    if false_alarms:
        print("\nCPython clean (structurally), we flag:")
        for name, theirs, verdict, codes in false_alarms:
            print("  %s\n    cpython: %s\n    ours:    %s %s" % (name, ", ".join(theirs) or "-", verdict, ",".join(codes)))
    wrong = [(n, w, v, c) for n, w, v, c in outside if w != v]
    if wrong:
        print("\nDamage CPython does not check, verdict not as expected:")
        for name, want, verdict, codes in wrong:
            print("  %s: expected %s, ours %s %s" % (name, want, verdict, ",".join(codes) or "-"))
    if recall < RECALL_MIN or fp > CLEAN_CORRUPT_MAX:
        print("\nFAIL: recall %.1f %% / clean-called-corrupt %.1f %%" % (100 * recall, 100 * fp))
        return 1
    print("\nok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
