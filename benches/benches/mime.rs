//! imapmig-mime: classification throughput beside mail-parser's full parse
//! (and mailparse's) on the same messages, in MB/s.
//!
//! Two inputs:
//! * `corpus` — every message of `imapmig-mime/tests/data/classify/` as the
//!   corpus test sees it (CRLF variant where the case has one): small,
//!   header-heavy mail, clean and broken, as a mailbox mostly is.
//! * `attachments` — 20 messages shaped like Gmail/Outlook mail with a text
//!   and HTML alternative and a 256 KiB base64 attachment: body-heavy mail,
//!   where most bytes of a real mailbox are.
//!
//! mail-parser's `MessageParser::parse` decodes every part (the "full
//! parse"); mailparse's `parse_mail` splits the MIME tree and decodes
//! headers but leaves bodies encoded until asked, so it does less work than
//! either.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../imapmig-mime/tests/data/classify");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let expect = std::fs::read_to_string(p.with_extension("expect")).unwrap_or_default();
            Some(if expect.contains("variants: both") {
                to_crlf(&bytes)
            } else {
                bytes
            })
        })
        .collect()
}

fn base64_lines(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 38);
    let mut line = 0;
    for chunk in data.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        line += 4;
        if line == 76 {
            out.push_str("\r\n");
            line = 0;
        }
    }
    out.push_str("\r\n");
    out
}

fn attachments() -> Vec<Vec<u8>> {
    (0..20u32)
        .map(|m| {
            let data: Vec<u8> = (0..256 * 1024u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 ^ m as u8).collect();
            let text = "Hello,\r\n\r\nplease find the quarterly report attached. Numbers are final.\r\n\r\nRegards\r\n".repeat(8);
            format!(
                "From: \"Smith, Anna\" <anna@contoso.example>\r\nTo: Bob <bob@fabrikam.example>\r\nSubject: Report {m}\r\nDate: Tue, 2 Apr 2024 09:15:01 +0000\r\nMessage-ID: <report-{m}@contoso.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"_004_outer_\"\r\n\r\n--_004_outer_\r\nContent-Type: multipart/alternative; boundary=\"_000_alt_\"\r\n\r\n--_000_alt_\r\nContent-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{text}\r\n--_000_alt_\r\nContent-Type: text/html; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><body><p>{text}</p></body></html>\r\n--_000_alt_--\r\n\r\n--_004_outer_\r\nContent-Type: application/pdf; name=\"report-{m}.pdf\"\r\nContent-Disposition: attachment; filename=\"report-{m}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--_004_outer_--\r\n",
                base64_lines(&data)
            )
            .into_bytes()
        })
        .collect()
}

fn bench_input(c: &mut Criterion, name: &str, messages: &[Vec<u8>]) {
    let total: usize = messages.iter().map(Vec::len).sum();
    assert!(total > 0, "bench input {name} is empty");
    let mut group = c.benchmark_group(format!("mime_classify/{name}"));
    group.throughput(Throughput::Bytes(total as u64));
    group.bench_function("imapmig_mime::classify", |b| {
        b.iter(|| {
            for m in messages {
                black_box(imapmig_mime::classify(black_box(m)));
            }
        });
    });
    group.bench_function("mail_parser::MessageParser::parse", |b| {
        let parser = mail_parser::MessageParser::default();
        b.iter(|| {
            for m in messages {
                black_box(parser.parse(black_box(m)));
            }
        });
    });
    group.bench_function("mailparse::parse_mail", |b| {
        b.iter(|| {
            for m in messages {
                let _ = black_box(mailparse::parse_mail(black_box(m)));
            }
        });
    });
    group.finish();
}

fn mime(c: &mut Criterion) {
    bench_input(c, "corpus", &corpus());
    bench_input(c, "attachments", &attachments());
}

criterion_group!(benches, mime);
criterion_main!(benches);
