//! imapmig-dedupe beside its peers.
//!
//! - `dedupe_header_fingerprint`: our header fingerprint (fields parsed,
//!   unfolded, RFC 2047-decoded, keyed BLAKE3) against the imapsync-style
//!   approach (a regex pulls `Message-ID` and `Received` lines out of the
//!   header block, MD5 over them), on the same messages.
//! - `dedupe_index_10m`: lookups and inserts in an [`Index`] holding 10
//!   million fingerprints, beside a `HashMap<u128, u32>` for lookups; the
//!   bytes per message of both are printed.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "bench setup on constant inputs that cannot fail"
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use imapmig_dedupe::{Fingerprint, FingerprintKey, Fingerprinter, FolderId, Index, Lookup, Scope};
use md5::{Digest, Md5};
use regex::bytes::Regex;

/// Deterministic, realistic messages: a Gmail-like header block with
/// transport headers, folded lines and an encoded subject, and a short body.
fn messages(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            format!(
                "Return-Path: <sender{i}@example.org>\r\n\
Delivered-To: me@example.net\r\n\
Received: from mx{a}.example.net (mx{a}.example.net [192.0.2.{a}])\r\n\
\tby mx.example.org with ESMTPS id {i:08x}; Mon, 1 Jul 2024 10:{m:02}:00 +0000\r\n\
Received: from relay.example.org (relay.example.org [198.51.100.7])\r\n\
\tby mx{a}.example.net with ESMTP; Mon, 1 Jul 2024 10:{m:02}:00 +0000\r\n\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1;\r\n\
\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
\tb=dzdVyOfAKCdLXdJOc9G2q8LoXSlEniSbav+yuU4zGeeruD00lszZVoG4ZHRNiYzR\r\n\
Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=example.org\r\n\
Message-ID: <CA+{i:x}abcdef{m}@mail.example.org>\r\n\
Date: Mon, 1 Jul 2024 10:{m:02}:00 +0000\r\n\
From: =?utf-8?q?J=C3=B6rg_Sender?= <sender{i}@example.org>\r\n\
To: Me <me@example.net>, team@example.net\r\n\
Cc: boss@example.net\r\n\
Subject: =?utf-8?B?UXVhcnRlcmx5IHJlcG9ydA==?= #{i}\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
X-Mailer: Bench 1.0\r\n\
\r\n\
Hello,\r\n\r\nthe numbers for quarter {m} are attached.\r\n\r\n-- \r\nJ\r\n",
                a = i % 250,
                m = i % 60,
            )
            .into_bytes()
        })
        .collect()
}

/// The imapsync-style peer: pull `Message-ID` and `Received` (with their
/// continuation lines) out of the header block with a regex, then MD5.
struct ImapsyncStyle {
    fields: Regex,
}

impl ImapsyncStyle {
    fn new() -> ImapsyncStyle {
        ImapsyncStyle {
            fields: Regex::new(r"(?mi)^(?:message-id|received):[^\n]*(?:\n[ \t][^\n]*)*")
                .expect("valid regex"),
        }
    }

    fn fingerprint(&self, message: &[u8]) -> [u8; 16] {
        let end = memchr_blank_line(message);
        let mut md5 = Md5::new();
        for found in self.fields.find_iter(&message[..end]) {
            md5.update(found.as_bytes());
        }
        md5.finalize().into()
    }
}

fn memchr_blank_line(message: &[u8]) -> usize {
    message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 2)
}

fn header_fingerprint(c: &mut Criterion) {
    let messages = messages(1000);
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let ours = Fingerprinter::new(&FingerprintKey::from_bytes([1; 32]));
    let peer = ImapsyncStyle::new();
    let mut group = c.benchmark_group("dedupe_header_fingerprint");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("imapmig_dedupe_headers", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(ours.headers(black_box(m)));
            }
        })
    });
    group.bench_function("imapsync_style_regex_md5", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(peer.fingerprint(black_box(m)));
            }
        })
    });
    group.finish();
}

/// Uniform 128-bit values (splitmix64), standing in for keyed hashes: the
/// index only relies on fingerprints being uniform.
fn uniform(seed: u64) -> impl FnMut() -> u128 {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    move || (u128::from(next()) << 64) | u128::from(next())
}

const ENTRIES: usize = 10_000_000;

/// The 10-million index, built (and checked, and its size printed) the
/// first time a bench of the group runs, so that `--bench dedupe -- <filter>`
/// skips it when the filter excludes the group.
fn index_of_10m() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let folder = FolderId::new(0).expect("folder 0");
        let key = FingerprintKey::from_bytes([2; 32]);
        let mut index = Index::with_key(Scope::ANY_FOLDER, key);
        let mut next = uniform(1);
        let started = Instant::now();
        for _ in 0..ENTRIES {
            let _ = index.insert(Fingerprint::from(next()), folder);
        }
        let built = started.elapsed();
        let hashmap_bytes = {
            let map: HashMap<u128, u32> = HashMap::with_capacity(ENTRIES);
            // hashbrown: buckets = capacity * 8 / 7 rounded up to a power of
            // two, each holding the entry and one control byte.
            let buckets = (map.capacity() * 8 / 7).next_power_of_two();
            buckets * (size_of::<(u128, u32)>() + 1)
        };
        println!(
            "dedupe_index_10m: {} entries built in {:.2?} ({:.0} ns/insert); Index {:.2} bytes/message; \
             HashMap<u128, u32> {:.2} bytes/message",
            index.len(),
            built,
            built.as_nanos() as f64 / ENTRIES as f64,
            index.bytes_per_message(),
            hashmap_bytes as f64 / ENTRIES as f64,
        );
        check_save_load(&index);
        index
    })
}

/// The 10-million index survives a save/load round trip, and a truncated
/// file is an error (not an empty index).
fn check_save_load(index: &Index) {
    let path =
        std::env::temp_dir().join(format!("imapmig-dedupe-bench-{}.idx", std::process::id()));
    let started = Instant::now();
    index.save(&path).expect("save the index");
    let saved = started.elapsed();
    let started = Instant::now();
    let loaded = Index::load(&path).expect("load the index");
    let load_time = started.elapsed();
    assert_eq!(loaded.len(), index.len());
    assert!(
        index
            .iter()
            .take(1000)
            .all(|(fp, f, _)| loaded.lookup(fp, f) != Lookup::New)
    );
    drop(loaded);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open the index");
    file.set_len(size / 2).expect("truncate the index");
    drop(file);
    let truncated = Index::load(&path);
    assert!(matches!(
        truncated,
        Err(imapmig_dedupe::Error::CorruptIndex { .. })
    ));
    let _ = std::fs::remove_file(&path);
    println!(
        "dedupe_index_10m: saved {size} bytes in {saved:.2?}, loaded in {load_time:.2?}; \
         truncated to half: {}",
        truncated.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

fn hashmap_of_10m() -> &'static HashMap<u128, u32> {
    static MAP: OnceLock<HashMap<u128, u32>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = HashMap::with_capacity(ENTRIES);
        let mut fill = uniform(1);
        for _ in 0..ENTRIES {
            map.insert(fill(), 0);
        }
        map
    })
}

fn index_10m(c: &mut Criterion) {
    let folder = FolderId::new(0).expect("folder 0");
    let mut group = c.benchmark_group("dedupe_index_10m");
    group.sample_size(10);
    let mut hits = uniform(1);
    let hit_keys: Vec<Fingerprint> = (0..100_000).map(|_| Fingerprint::from(hits())).collect();
    let mut misses = uniform(99);
    let miss_keys: Vec<Fingerprint> = (0..100_000).map(|_| Fingerprint::from(misses())).collect();
    group.throughput(Throughput::Elements(hit_keys.len() as u64));
    group.bench_function("index_lookup_hit", |b| {
        let index = index_of_10m();
        b.iter(|| {
            for &fp in &hit_keys {
                let _ = black_box(index.lookup(fp, folder));
            }
        })
    });
    group.bench_function("index_lookup_miss", |b| {
        let index = index_of_10m();
        b.iter(|| {
            for &fp in &miss_keys {
                let _ = black_box(index.lookup(fp, folder));
            }
        })
    });
    group.bench_function("hashmap_lookup_hit", |b| {
        let map = hashmap_of_10m();
        b.iter(|| {
            for &fp in &hit_keys {
                black_box(map.get(&fp.as_u128()));
            }
        })
    });
    // Inserts of new fingerprints into a copy of the 10-million index,
    // growth included; the copy is made outside the timing.
    let mut fresh = uniform(12345);
    group.bench_function("index_insert_new", |b| {
        let index = index_of_10m();
        b.iter_batched_ref(
            || {
                let keys: Vec<Fingerprint> =
                    (0..100_000).map(|_| Fingerprint::from(fresh())).collect();
                (index.clone(), keys)
            },
            |(copy, keys)| {
                for &fp in keys.iter() {
                    black_box(copy.insert(fp, folder).ok());
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = header_fingerprint, index_10m
}
criterion_main!(benches);
