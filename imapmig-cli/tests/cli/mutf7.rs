//! Tests of the `mutf7` part of the `imapmig` command.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use crate::command::imapmig_with_stdin as run;

#[test]
fn encode_one_name_per_line() {
    let out = run(
        &["mutf7", "encode"],
        "~peter/mail/台北/日本語\n&&x&&\nINBOX\r\n😀\n".as_bytes(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "~peter/mail/&U,BTFw-/&ZeVnLIqe-\n&-&-x&-&-\nINBOX\n&2D3eAA-\n"
    );
}

#[test]
fn decode_reports_bad_lines_and_exits_1() {
    let out = run(
        &["mutf7", "decode"],
        b"tiet&AOQ-j&AOQ-\n&U,BTFw-&ZeVnLIqe-\n&Jjo\nok\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "tietäjä");
    assert!(
        lines[1].starts_with("error: ") && lines[1].contains("null shift"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("error: ") && lines[2].contains("not closed"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "ok");
}

#[test]
fn encode_rejects_invalid_utf8_line() {
    let out = run(&["mutf7", "encode"], b"p\xe4\xe4\nfine\n");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "error: input is not valid utf-8 at byte 1\nfine\n"
    );
}

#[test]
fn round_trip_through_both_commands() {
    let names = "Écoles\nReleases v1.2\n[Gmail]/All Mail\nctl&amp\n台北/日本語\n";
    let enc = run(&["mutf7", "encode"], names.as_bytes());
    assert_eq!(enc.status.code(), Some(0));
    let dec = run(&["mutf7", "decode"], &enc.stdout);
    assert_eq!(dec.status.code(), Some(0));
    assert_eq!(String::from_utf8(dec.stdout).unwrap(), names);
}

/// A name whose decoding holds a C0 control (LF, CR, TAB, NUL, ESC) or DEL
/// would break the one-line-per-input-line contract if printed raw: each
/// gets an `error:` line instead, and the command exits 1.
#[test]
fn decode_refuses_control_characters_one_line_per_input() {
    // (valid mUTF-7, control character it decodes to)
    let cases = [
        ("a&AAo-b", "U+000A"),
        ("cr&AA0-here", "U+000D"),
        ("tab&AAk-here", "U+0009"),
        ("nul&AAA-", "U+0000"),
        ("esc&ABs-[31m", "U+001B"),
        ("del&AH8-", "U+007F"),
        ("two&AA0ACg-", "U+000D"),
    ];
    // The names without a line break round-trip through `encode`, so they
    // are what a server would send, not inputs the decoder rejects anyway.
    let enc = run(
        &["mutf7", "encode"],
        "tab\there\nnul\0\nesc\u{1b}[31m\ndel\u{7f}\n".as_bytes(),
    );
    assert_eq!(
        String::from_utf8(enc.stdout).unwrap(),
        "tab&AAk-here\nnul&AAA-\nesc&ABs-[31m\ndel&AH8-\n"
    );
    let names: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
    let input = format!("ok&AOQ-\n{}\nlast\n", names.join("\n"));
    let out = run(&["mutf7", "decode"], input.as_bytes());
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), input.lines().count(), "{text:?}");
    assert_eq!(lines[0], "okä");
    for (line, (name, code)) in lines[1..=cases.len()].iter().zip(cases) {
        assert!(
            line.starts_with("error: decoded name contains control character ")
                && line.contains(code),
            "{name}: {line:?} should name {code}"
        );
    }
    assert_eq!(lines[cases.len() + 1], "last");
}
