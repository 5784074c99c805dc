//! Properties of classification and repair on generated messages.

use imapmig_mime::{Verdict, classify, repair};
use proptest::prelude::*;

/// Lines that real and broken mail is made of, joined with random line ends.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let lines = prop::sample::select(vec![
        "From: Kim <kim@example.org>",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
        "Date: yesterday",
        "Message-ID: <1@example.org>",
        "Subject: =?utf-8?Q?caf=C3=A9?=",
        "Subject: =?utf-8?B?bad*?=",
        "From kim@example.org Mon Jan  1 10:00:00 2024",
        " folded continuation",
        "no colon here",
        "MIME-Version: 1.0",
        "Content-Type: multipart/mixed; boundary=b",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Type: text/calendar; method=REQUEST",
        "Content-Transfer-Encoding: base64",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Disposition: attachment; filename=a.pdf",
        "--b",
        "--b--",
        "",
        "aGVsbG8=",
        "caf=C3=A9 =ZZ",
        "BEGIN:VCALENDAR",
        "END:VCALENDAR",
        "body text\u{0}",
    ]);
    let ends = prop::sample::select(vec!["\r\n", "\n", "\r"]);
    prop::collection::vec((lines, ends), 0..40).prop_map(|parts| {
        let mut out = Vec::new();
        for (line, end) in parts {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(end.as_bytes());
        }
        out
    })
}

proptest! {
    #[test]
    fn prop_classify_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let c = classify(&bytes);
        for d in &c.defects {
            prop_assert!(d.range.end <= bytes.len());
        }
        prop_assert_eq!(c.verdict == Verdict::Ok, c.defects.is_empty());
    }

    #[test]
    fn prop_repair_is_idempotent_and_keeps_ok(bytes in message()) {
        let c = classify(&bytes);
        let repaired = repair(&bytes);
        if c.verdict == Verdict::Ok {
            prop_assert!(!repaired.changed());
        }
        prop_assert!(!repair(&repaired.bytes).changed());
        // Line ends are always fixed outside binary parts (there are none here).
        prop_assert!(!repaired.after.codes().contains(&"bare-lf"));
        prop_assert!(!repaired.after.codes().contains(&"nul-byte"));
    }

    #[test]
    fn prop_crlf_and_lf_agree_apart_from_bare_lf(bytes in message()) {
        let crlf: Vec<u8> = repair(&bytes).bytes.into_owned();
        let lf: Vec<u8> = {
            let mut out = Vec::new();
            let mut i = 0;
            while i < crlf.len() {
                if crlf[i] == b'\r' && crlf.get(i + 1) == Some(&b'\n') {
                    i += 1;
                    continue;
                }
                out.push(crlf[i]);
                i += 1;
            }
            out
        };
        let a: Vec<&str> = classify(&crlf).codes().into_iter().filter(|c| *c != "bare-lf").collect();
        let b: Vec<&str> = classify(&lf).codes().into_iter().filter(|c| *c != "bare-lf").collect();
        prop_assert_eq!(a, b);
    }
}

/// Words of header text: ASCII, Latin, CJK, emoji and punctuation (no `=`,
/// so no word is mistaken for an encoded word).
fn header_text() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9äöüßéñçøÅ漢字会議😀,.!?()-]{1,14}", 1..14)
        .prop_map(|words| words.join(" "))
}

proptest! {
    /// The 8-bit header repair leaves a 7-bit header without
    /// `eight-bit-header`, and an independent decoder (mail-parser) reads
    /// the original Subject and From display name back.
    #[test]
    fn prop_8bit_headers_encode_and_decode_back(
        subject in header_text(),
        name in header_text(),
        latin1 in any::<bool>(),
    ) {
        use imapmig_mime::{DefectKind, encode_8bit_headers};
        let quoted = format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""));
        let head = format!(
            "From: {quoted} <kim@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
             Message-ID: <p@example.org>\r\nSubject: {subject}\r\n"
        );
        // The same text in ISO-8859-1 where it can be, with the charset declared.
        let latin1 = latin1 && head.chars().all(|c| (c as u32) < 256);
        let mut raw: Vec<u8> = if latin1 {
            head.chars().map(|c| c as u32 as u8).collect()
        } else {
            head.into_bytes()
        };
        if latin1 {
            raw.extend_from_slice(b"Content-Type: text/plain; charset=iso-8859-1\r\n");
        }
        raw.extend_from_slice(b"\r\nbody\r\n");
        let r = encode_8bit_headers(&raw);
        prop_assert!(r.unencoded.is_empty(), "{:?}", r.unencoded);
        let end = memchr::memmem::find(&r.bytes, b"\r\n\r\n").unwrap_or(r.bytes.len());
        prop_assert!(r.bytes[..end].is_ascii());
        for line in r.bytes[..end].split(|&b| b == b'\n') {
            prop_assert!(line.len() <= 998);
        }
        prop_assert!(!r.after.has(DefectKind::EightBitHeader));
        prop_assert_eq!(r.after.codes(), Vec::<&str>::new());
        let parsed = mail_parser::MessageParser::default().parse(&r.bytes);
        prop_assert!(parsed.is_some());
        let parsed = parsed.unwrap();
        prop_assert_eq!(parsed.subject(), Some(subject.as_str()));
        let from = parsed.from().and_then(|a| a.first()).and_then(|a| a.name());
        prop_assert_eq!(from, Some(name.as_str()));
        prop_assert!(!encode_8bit_headers(&r.bytes).changed());
    }

    /// Any bytes: no panic, idempotent, offsets inside the output.
    #[test]
    fn prop_8bit_headers_any_bytes(bytes in prop::collection::vec(
        prop::sample::select(vec![b'a', b' ', b':', b'\r', b'\n', b'<', b'>', b'"', b',', b'(', 0xc3, 0xa9, 0xff, b'S', b'=', b'?']),
        0..400,
    )) {
        let mut raw = b"Subject: ".to_vec();
        raw.extend_from_slice(&bytes);
        let r = imapmig_mime::encode_8bit_headers(&raw);
        for u in &r.unencoded {
            prop_assert!(u.offset < r.bytes.len());
        }
        prop_assert!(!imapmig_mime::encode_8bit_headers(&r.bytes).changed());
    }
}
