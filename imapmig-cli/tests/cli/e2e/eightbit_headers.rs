//! Raw 8-bit header text into Cyrus IMAP (issue 15): Cyrus stores every raw 8-bit header byte
//! as `X` by default (`munge8bit`), so without a repair a Subject like `Grüße` arrives as
//! `GrXXXXe`. With `--repair-8bit-headers` (and by default for a Cyrus target) the migrator
//! RFC 2047-encodes the text before APPEND: the copies keep their Subjects and display names,
//! each lands once, verified by the UID Cyrus gave it, and a rerun copies nothing. What has no
//! 7-bit form (an 8-bit Message-ID) goes as it is and is named on stderr.

use testkit::Cyrus;

use super::*;

/// The test's messages: Subject and From display name in raw UTF-8, dates out of UID order,
/// one without a Message-ID, two with a raw UTF-8 Message-ID, and two with identical
/// headers. Returns the messages and, for each, its Subject and display name.
fn intl_messages() -> Vec<(Vec<u8>, String, String)> {
    let subjects = [
        "Grüße aus Köln – café",
        "Re: 来週の会議の議題について、資料を添付します",
        "Ærlig talt: blåbærsyltetøy",
        "Fwd: Привет, как дела?",
        "naïve résumé ✓",
        "Grüße aus Köln – café",
    ];
    let names = [
        "Jürgen Müller",
        "田中 花子",
        "Søren, Kierkegård",
        "Иван Петров",
        "Zoë O'Brien",
        "Jürgen Müller",
    ];
    let mut out = Vec::new();
    for i in 0..12 {
        let subject = format!("{} {i}", subjects[i % subjects.len()]);
        let name = names[i % names.len()].to_owned();
        let quoted = format!("\"{name}\"");
        let message_id = match i % 6 {
            0 => String::new(),
            3 => format!("Message-ID: <größe.{i}@exämple.com>\r\n"),
            _ => format!("Message-ID: <intl.{i}@example.com>\r\n"),
        };
        // Dates run backwards against the UIDs.
        let text = format!(
            "From: {quoted} <sender{i}@example.com>\r\nTo: test@example.org\r\n\
             Subject: {subject}\r\nDate: Mon, 01 Jan 2024 {:02}:00:00 +0000\r\n\
             {message_id}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Body {i}: grüß dich.\r\n",
            23 - i
        );
        out.push((text.into_bytes(), subject, name));
    }
    // A twin: the same header as message 1, another body.
    let (first, subject, name) = out[1].clone();
    let twin = String::from_utf8(first)
        .unwrap()
        .replace("Body 1:", "Another body:");
    out.push((twin.into_bytes(), subject, name));
    out
}

/// Subject and From display name of each message, as mail-parser decodes them (RFC 2047).
fn decoded(messages: &[Vec<u8>]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let parsed = mail_parser::MessageParser::default().parse(m).unwrap();
            let subject = parsed.subject().unwrap_or_default().to_owned();
            let name = parsed
                .from()
                .and_then(|a| a.first())
                .and_then(|a| a.name())
                .unwrap_or_default()
                .to_owned();
            (subject, name)
        })
        .collect();
    out.sort();
    out
}

fn header_of(m: &[u8]) -> &[u8] {
    let end = m
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(m.len());
    &m[..end]
}

#[test]
fn raw_utf8_headers_into_cyrus_are_rfc2047_encoded() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), Cyrus::start()) else {
        return;
    };
    let intl = intl_messages();
    let bytes: Vec<Vec<u8>> = intl.iter().map(|(b, _, _)| b.clone()).collect();
    seed(&src, "Intl", &bytes);
    seed(&src, "INBOX", &messages("ascii", 3));
    let mut want: Vec<(String, String)> = intl
        .iter()
        .map(|(_, s, n)| (s.clone(), n.clone()))
        .collect();
    want.sort();
    let target = format!("imap://test@{}", dst.addr());
    let state = tempfile::tempdir().unwrap();

    let out = output_within(
        migrate_command_urls(
            &url(&src),
            &target,
            state.path(),
            &["--repair-8bit-headers"],
        ),
        std::time::Duration::from_secs(120),
    );
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (intl.len() as u64 + 3, 0, 0, 0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The two raw UTF-8 Message-IDs cannot be encoded: named, with the reason.
    let kept: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("8-bit header kept:"))
        .collect();
    assert_eq!(kept.len(), 2, "{stderr}");
    assert!(
        kept.iter()
            .all(|l| l.contains("INBOX.Intl") && l.contains("Message-ID (structured-field)")),
        "{stderr}"
    );

    // Every message landed once; its header is 7-bit, and its Subject and display name decode
    // to the original text, not to Cyrus's `X`s.
    let stored = dst.messages("INBOX.Intl");
    assert_eq!(stored.len(), intl.len());
    for m in &stored {
        let header = header_of(m);
        assert!(header.is_ascii());
        assert!(
            header
                .windows(10)
                .any(|w| w.eq_ignore_ascii_case(b"=?UTF-8?B?")),
            "{}",
            String::from_utf8_lossy(header)
        );
    }
    assert_eq!(decoded(&stored), want);
    // The bodies are the source's (8-bit bodies are not touched).
    let mut bodies: Vec<&[u8]> = stored.iter().map(|m| &m[header_of(m).len()..]).collect();
    let mut source_bodies: Vec<&[u8]> = bytes.iter().map(|m| &m[header_of(m).len()..]).collect();
    bodies.sort();
    source_bodies.sort();
    assert_eq!(bodies, source_bodies);
    assert_eq!(dst.messages("INBOX").len(), 3);

    // A rerun without the option: `auto` finds Cyrus and turns the repair on; the copies are
    // known by their recorded UIDs, so nothing is copied again.
    let out = output_within(
        migrate_command_urls(&url(&src), &target, state.path(), &[]),
        std::time::Duration::from_secs(120),
    );
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, intl.len() as u64 + 3, 0, 0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("target is Cyrus IMAP"), "{stderr}");
    assert!(!stderr.contains("duplicate"), "{stderr}");
    assert_eq!(dst.messages("INBOX.Intl").len(), intl.len());
    assert_eq!(decoded(&dst.messages("INBOX.Intl")), want);

    // A new source UIDVALIDITY: the records are confirmed by finding the copies on the target
    // by fingerprint. A repaired copy has other header bytes and another size, so its source
    // is fingerprinted in the form it was sent in (encoded, then any 8-bit left as Cyrus
    // stores it): every record is confirmed and nothing is copied twice.
    src.set_uidvalidity("Intl", src.uidvalidity("Intl") + 1);
    let out = output_within(
        migrate_command_urls(&url(&src), &target, state.path(), &[]),
        std::time::Duration::from_secs(120),
    );
    assert_exit(&out, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("only 0 of 13"), "{stderr}");
    assert_eq!(totals(&out), (0, intl.len() as u64 + 3, 0, 0), "{stderr}");
    assert_eq!(dst.messages("INBOX.Intl").len(), intl.len());
    assert_eq!(decoded(&dst.messages("INBOX.Intl")), want);
}
