//! Properties: the same message keeps its fingerprints across the changes
//! that transport and re-encoding make; different messages do not share
//! them; Message-ID normalisation is invariant under CFWS, quoting and domain
//! case; the index agrees with a simple model and survives save/load.

use std::collections::HashMap;

use imapmig_dedupe::message_id::parse_msg_ids;
use imapmig_dedupe::{
    Fingerprint, FingerprintKey, Fingerprinter, FolderId, FolderScope, Index, Lookup, MessageId,
    RunScope, Scope,
};
use proptest::prelude::*;

fn fingerprinter() -> Fingerprinter {
    Fingerprinter::new(&FingerprintKey::from_bytes([0x5a; 32]))
}

/// The parts of a generated message.
#[derive(Debug, Clone)]
struct Message {
    id: Option<String>,
    from_name: String,
    subject: String,
    body: Vec<String>,
}

/// How one rendering of a message differs from the plain one.
#[derive(Debug, Clone)]
struct Style {
    crlf: bool,
    /// Per header line: fold at the n-th space (0 = no folding).
    folds: Vec<usize>,
    /// RFC 2047 encoding of the display name and subject.
    encoding: Encoding,
    /// Transport fields to insert: (position, which).
    transport: Vec<(usize, usize)>,
    trailing_blank_lines: usize,
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    Raw,
    /// Q encoding, in encoded words of at most n characters.
    Q(usize),
    /// B encoding, in encoded words of at most n characters.
    B(usize),
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9\u{e9}\u{fc}\u{df}\u{c5}\u{4e2d},.!?]{1,8}"
}

fn words(range: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(word(), range).prop_map(|w| w.join(" "))
}

fn message() -> impl Strategy<Value = Message> {
    (
        prop::option::of("[a-zA-Z0-9]{4,12}"),
        words(1..3),
        words(1..8),
        prop::collection::vec("[ -~]{0,40}", 0..8),
    )
        .prop_map(|(id, from_name, subject, body)| Message {
            id,
            from_name,
            subject,
            body,
        })
}

fn style() -> impl Strategy<Value = Style> {
    (
        any::<bool>(),
        prop::collection::vec(0usize..4, 8),
        prop_oneof![
            Just(Encoding::Raw),
            (1usize..20).prop_map(Encoding::Q),
            (1usize..20).prop_map(Encoding::B)
        ],
        prop::collection::vec((0usize..10, 0usize..TRANSPORT.len()), 0..6),
        0usize..3,
    )
        .prop_map(
            |(crlf, folds, encoding, transport, trailing_blank_lines)| Style {
                crlf,
                folds,
                encoding,
                transport,
                trailing_blank_lines,
            },
        )
}

const TRANSPORT: &[(&str, &str)] = &[
    (
        "Received",
        "from mx1.example.net (mx1.example.net [192.0.2.1])\r\n\tby mx.example.org with ESMTPS; Mon, 1 Jan 2024 10:00:01 +0000",
    ),
    ("Return-Path", "<alice@example.org>"),
    ("Delivered-To", "bob@example.net"),
    ("X-Spam-Score", "-0.1"),
    ("X-MS-Exchange-Organization-SCL", "-1"),
    (
        "DKIM-Signature",
        "v=1; a=rsa-sha256; d=example.org;\r\n b=AbCd",
    ),
    ("ARC-Seal", "i=1; cv=none"),
    ("Authentication-Results", "mx.example.org; spf=pass"),
    ("X-Gmail-Labels", "Important,Work"),
];

fn q_encode(text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            b' ' => out.push('_'),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out
}

fn b_encode(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk.len();
        let v = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= n {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn encode(text: &str, encoding: Encoding) -> String {
    let (size, q) = match encoding {
        Encoding::Raw => return text.to_owned(),
        Encoding::Q(size) => (size, true),
        Encoding::B(size) => (size, false),
    };
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(size)
        .map(|chunk| {
            let chunk: String = chunk.iter().collect();
            if q {
                format!("=?utf-8?q?{}?=", q_encode(&chunk))
            } else {
                format!("=?UTF-8?B?{}?=", b_encode(&chunk))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Folds `value` at its n-th space (1-based), if it has one.
fn fold(value: &str, n: usize) -> String {
    if n == 0 {
        return value.to_owned();
    }
    match value.match_indices(' ').nth(n - 1) {
        Some((i, _)) => format!("{}\r\n {}", &value[..i], &value[i + 1..]),
        None => value.to_owned(),
    }
}

fn render(message: &Message, style: &Style) -> Vec<u8> {
    let mut fields: Vec<(String, String)> = Vec::new();
    if let Some(id) = &message.id {
        fields.push(("Message-ID".into(), format!("<{id}@example.org>")));
    }
    fields.push(("Date".into(), "Mon, 1 Jan 2024 10:00:00 +0000".into()));
    fields.push((
        "From".into(),
        format!(
            "{} <alice@example.org>",
            encode(&message.from_name, style.encoding)
        ),
    ));
    fields.push((
        "To".into(),
        "Bob <bob@example.net>, carol@example.net".into(),
    ));
    fields.push(("Subject".into(), encode(&message.subject, style.encoding)));
    fields.push(("MIME-Version".into(), "1.0".into()));
    fields.push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
    for (i, (_, value)) in fields.iter_mut().enumerate() {
        *value = fold(value, style.folds.get(i).copied().unwrap_or(0));
    }
    for &(position, which) in &style.transport {
        let (name, value) = TRANSPORT[which];
        let position = position.min(fields.len());
        fields.insert(position, (name.into(), value.into()));
    }
    let mut text = String::new();
    for (name, value) in &fields {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    for line in &message.body {
        text.push_str(line);
        text.push_str("\r\n");
    }
    for _ in 0..style.trailing_blank_lines {
        text.push_str("\r\n");
    }
    if !style.crlf {
        text = text.replace("\r\n", "\n");
    }
    text.into_bytes()
}

fn plain() -> Style {
    Style {
        crlf: true,
        folds: Vec::new(),
        encoding: Encoding::Raw,
        transport: Vec::new(),
        trailing_blank_lines: 0,
    }
}

/// The body as the content strategy sees it.
fn normalised_body(body: &[String]) -> String {
    body.join("\n")
        .trim_end_matches([' ', '\t', '\r', '\n'])
        .to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prop_same_message_same_fingerprints(message in message(), style in style()) {
        let f = fingerprinter();
        let original = render(&message, &plain());
        let variant = render(&message, &style);
        prop_assert_eq!(f.content(&original), f.content(&variant));
        prop_assert_eq!(f.headers(&original), f.headers(&variant));
        let a = f.message(&original);
        let b = f.message(&variant);
        prop_assert_eq!(a.by_message_id, b.by_message_id);
        prop_assert_eq!(a.by_message_id.is_some(), message.id.is_some());
    }

    #[test]
    fn prop_different_body_different_content(
        message in message(),
        other_body in prop::collection::vec("[ -~]{0,40}", 0..8),
        style in style(),
    ) {
        prop_assume!(normalised_body(&message.body) != normalised_body(&other_body));
        let f = fingerprinter();
        let other = Message { body: other_body, ..message.clone() };
        // Same Message-ID (or none), same headers, different body: never one message,
        // also when one of them travelled.
        prop_assert_ne!(f.content(&render(&message, &plain())), f.content(&render(&other, &style)));
    }

    #[test]
    fn prop_different_subject_different_fingerprints(message in message(), subject in words(1..8)) {
        let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        prop_assume!(collapse(&subject) != collapse(&message.subject));
        let f = fingerprinter();
        let other = Message { subject, ..message.clone() };
        let (a, b) = (render(&message, &plain()), render(&other, &plain()));
        prop_assert_ne!(f.content(&a), f.content(&b));
        prop_assert_ne!(f.headers(&a), f.headers(&b));
    }

    #[test]
    fn prop_message_id_normalisation(
        left in "[A-Za-z0-9$+_-]{1,8}(\\.[A-Za-z0-9$+_-]{1,8}){0,3}",
        right in "[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,8}){1,2}",
        upper in prop::collection::vec(any::<bool>(), 32),
        comments in prop::collection::vec(0usize..4, 16),
        quote in any::<bool>(),
    ) {
        let canonical = MessageId::parse(&format!("<{left}@{right}>")).unwrap();
        prop_assert_eq!(canonical.as_str(), format!("{left}@{right}"));
        let cfws = |i: usize| match comments.get(i).copied().unwrap_or(0) {
            0 => "",
            1 => " ",
            2 => "\r\n\t",
            _ => " (note (nested)) ",
        };
        let mut variant_left = if quote { format!("\"{left}\"") } else {
            left.split('.').collect::<Vec<_>>().join(&format!("{}.{}", cfws(1), cfws(2)))
        };
        variant_left = format!("{}{variant_left}{}", cfws(3), cfws(4));
        let variant_right: String = right
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
            .collect();
        let variant = format!("{}<{variant_left}@{}{variant_right}{}>{}", cfws(5), cfws(6), cfws(7), cfws(8));
        prop_assert_eq!(MessageId::parse(&variant).unwrap(), canonical.clone());
        // The left part keeps its case.
        let flipped: String = left.chars().map(|c| if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect();
        if flipped != left {
            prop_assert_ne!(MessageId::parse(&format!("<{flipped}@{right}>")).unwrap(), canonical);
        }
    }

    #[test]
    fn prop_parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_msg_ids(&bytes);
        let f = fingerprinter();
        let all = f.message(&bytes);
        prop_assert_eq!(all.content, Some(f.content(&bytes)));
        prop_assert_eq!(all.headers, f.headers(&bytes));
    }

    #[test]
    fn prop_index_matches_model(
        ops in prop::collection::vec((0u8..3, 0u128..40, 0u32..4), 0..300),
        same_folder in any::<bool>(),
        previous_only in any::<bool>(),
    ) {
        let scope = Scope {
            folders: if same_folder { FolderScope::Same } else { FolderScope::Any },
            runs: if previous_only { RunScope::Previous } else { RunScope::All },
        };
        let mut index = Index::with_key(scope, FingerprintKey::from_bytes([1; 32]));
        // Model: (fingerprint, folder or u32::MAX) -> (first folder, previous run).
        let mut model: HashMap<(u128, u32), (u32, bool)> = HashMap::new();
        for (op, fp, folder) in ops {
            // Spread the small range over the whole 128 bits, as keyed hashes are.
            let fp = fp.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) ^ (fp << 120);
            let key = (fp, if same_folder { folder } else { u32::MAX });
            let expected = match model.get(&key) {
                Some(&(first, previous)) if previous || !previous_only => Lookup::Duplicate {
                    folder: FolderId::new(first).unwrap(),
                    previous_run: previous,
                },
                _ => Lookup::New,
            };
            let folder_id = FolderId::new(folder).unwrap();
            match op {
                0 => {
                    prop_assert_eq!(index.insert(Fingerprint::from(fp), folder_id).unwrap(), expected);
                    model.entry(key).or_insert((folder, false));
                }
                1 => prop_assert_eq!(index.lookup(Fingerprint::from(fp), folder_id), expected),
                _ => {
                    index.start_new_run();
                    for value in model.values_mut() {
                        value.1 = true;
                    }
                }
            }
            prop_assert_eq!(index.len(), model.len());
        }
        let loaded = Index::from_bytes(&index.to_bytes()).unwrap();
        let mut saved: Vec<(u128, u32)> = index.iter().map(|(fp, f, _)| (fp.as_u128(), f.get())).collect();
        let mut restored: Vec<(u128, u32)> = loaded.iter().map(|(fp, f, _)| (fp.as_u128(), f.get())).collect();
        saved.sort_unstable();
        restored.sort_unstable();
        prop_assert_eq!(saved, restored);
        prop_assert_eq!(loaded.scope(), scope);
    }
}
