//! SPF record parsing: imapmig-dns against mail-auth 0.13.3 on the same records.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imapmig_dns::spf::SpfRecord;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::spf::Spf;
use std::hint::black_box;

/// Records as published by large senders, plus macro-heavy and long ones.
const RECORDS: &[&str] = &[
    "v=spf1 -all",
    "v=spf1 include:_spf.google.com ~all",
    "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ip6:2001:db8::/32 include:spf.protection.outlook.com include:_spf.salesforce.com mx a:mail.example.com -all",
    "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} include:%{d2}.trusted.example.net redirect=_spf.example.com",
    "v=spf1 a/24//64 mx:mx.example.com/28 ptr:example.org ?all exp=explain._spf.%{d}",
    "v=spf1 ip4:203.0.113.1 ip4:203.0.113.2 ip4:203.0.113.3 ip4:203.0.113.4 ip4:203.0.113.5 ip4:203.0.113.6 ip4:203.0.113.7 ip4:203.0.113.8 ip4:203.0.113.9 ip4:203.0.113.10 ip4:203.0.113.11 ip4:203.0.113.12 ~all",
];

fn spf_parse(c: &mut Criterion) {
    // Both parsers must accept every record, or the comparison means nothing.
    for r in RECORDS {
        assert!(SpfRecord::parse(r).is_ok(), "imapmig-dns rejects {r}");
        assert!(Spf::parse(r.as_bytes()).is_ok(), "mail-auth rejects {r}");
    }
    let bytes: usize = RECORDS.iter().map(|r| r.len()).sum();
    let mut group = c.benchmark_group("spf_parse");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("imapmig_dns", |b| {
        b.iter(|| {
            for r in RECORDS {
                black_box(SpfRecord::parse_bytes(black_box(r.as_bytes())).ok());
            }
        })
    });
    group.bench_function("mail_auth", |b| {
        b.iter(|| {
            for r in RECORDS {
                black_box(Spf::parse(black_box(r.as_bytes())).ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, spf_parse);
criterion_main!(benches);
