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
