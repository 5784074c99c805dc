//! Modified UTF-7 (RFC 3501 §5.1.3): imapmig-folders against utf7-imap 0.3
//! on the same mailbox names, encode and decode.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imapmig_folders::mutf7;

/// Folder names as migrations meet them: ASCII, Gmail, Exchange, and
/// localised names in a dozen scripts.
const NAMES: &[&str] = &[
    "INBOX",
    "INBOX.Sent",
    "[Gmail]/All Mail",
    "[Gmail]/Sent Mail",
    "Sent Items",
    "Deleted Items",
    "Work/Projects/2024/Q3 reports",
    "Releases v1.2",
    "Écoles",
    "tietäjä",
    "Gelöschte Elemente",
    "Éléments envoyés",
    "Wiadomości-śmieci",
    "Отправленные",
    "Корзина/Архив 2019",
    "~peter/mail/台北/日本語",
    "送信済みアイテム",
    "已删除邮件",
    "Rock & Roll",
    "Προσχέδια",
    "בדואר יוצא",
    "Emoji 😀 folder",
];

fn mutf7(c: &mut Criterion) {
    let encoded: Vec<String> = NAMES.iter().map(|n| mutf7::encode(n)).collect();
    // Both crates must agree on every name, or the comparison means nothing.
    for (name, enc) in NAMES.iter().zip(&encoded) {
        assert_eq!(
            utf7_imap::encode_utf7_imap((*name).to_owned()),
            *enc,
            "encode {name}"
        );
        assert_eq!(
            utf7_imap::decode_utf7_imap(enc.clone()),
            *name,
            "decode {enc}"
        );
        assert_eq!(mutf7::decode(enc.as_bytes()).as_deref(), Ok(*name));
    }
    let mut group = c.benchmark_group("mutf7");
    let utf8_bytes: usize = NAMES.iter().map(|n| n.len()).sum();
    group.throughput(Throughput::Bytes(utf8_bytes as u64));
    group.bench_function("encode/imapmig_folders", |b| {
        b.iter(|| {
            for n in NAMES {
                black_box(mutf7::encode(black_box(n)));
            }
        })
    });
    // utf7-imap takes an owned String: building it is part of calling it.
    group.bench_function("encode/utf7_imap", |b| {
        b.iter(|| {
            for n in NAMES {
                black_box(utf7_imap::encode_utf7_imap(black_box(*n).to_owned()));
            }
        })
    });
    let mutf7_bytes: usize = encoded.iter().map(String::len).sum();
    group.throughput(Throughput::Bytes(mutf7_bytes as u64));
    group.bench_function("decode/imapmig_folders", |b| {
        b.iter(|| {
            for e in &encoded {
                black_box(mutf7::decode(black_box(e.as_bytes())).ok());
            }
        })
    });
    group.bench_function("decode/utf7_imap", |b| {
        b.iter(|| {
            for e in &encoded {
                black_box(utf7_imap::decode_utf7_imap(black_box(e).clone()));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, mutf7);
criterion_main!(benches);
