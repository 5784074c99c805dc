//! Against a real authoritative server (Knot, via testkit): the UDP/TCP
//! transport and every check, over the zone in `tests/data/knot/`.

use std::net::UdpSocket;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use imapmig_dns::report::AuthoritativeSource;
use imapmig_dns::spf::{self, SpfQuery, SpfResult};
use imapmig_dns::wire::{Response, decode_response, encode_query};
use imapmig_dns::{
    CheckOptions, DomainName, NetworkResolver, Outcome, RData, RecordType, Resolver, Verdict,
    cutover_report,
};

const ZONE: &str = include_str!("../data/knot/cut.test.zone");
const STALE_ZONE: &str = include_str!("../data/knot/cut.test.split.zone");

fn name(s: &str) -> DomainName {
    DomainName::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn options() -> CheckOptions {
    let now = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    CheckOptions::new(now)
}

#[test]
fn transport_answers_from_knot_over_udp_and_tcp() {
    let Some(knot) = testkit::Knot::start(&[("cut.test", ZONE)]) else {
        return;
    };
    let r = NetworkResolver::new(knot.addr());

    let mx = r
        .lookup(&name("old.cut.test"), RecordType::Mx)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mx.outcome, Outcome::Answer);
    assert!(mx.authoritative);
    assert_eq!(mx.records.len(), 2);
    assert!(mx.records.iter().all(|r| r.ttl == 86_400));

    let nx = r
        .lookup(&name("nxdomain.cut.test"), RecordType::A)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(nx.outcome, Outcome::NxDomain);
    let nodata = r
        .lookup(&name("old.cut.test"), RecordType::Aaaa)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(nodata.outcome, Outcome::NoData);

    // Underscore names work.
    let key = r
        .lookup(&name("sel._domainkey.ready.cut.test"), RecordType::Txt)
        .unwrap_or_else(|e| panic!("{e}"));
    match key.records.first().map(|r| &r.data) {
        Some(RData::Txt(parts)) => {
            assert!(parts.len() >= 3, "key split over strings: {}", parts.len())
        }
        other => panic!("{other:?}"),
    }

    // The big record does not fit a UDP answer: Knot sets TC...
    let big = name("big.cut.test");
    let query = encode_query(4242, &big, RecordType::Txt, false, Some(1232))
        .unwrap_or_else(|e| panic!("{e}"));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("{e}"));
    socket
        .send_to(&query, knot.addr())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 65_535];
    let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        decode_response(4242, &big, RecordType::Txt, &buf[..n]).unwrap_or_else(|e| panic!("{e}")),
        Response::Truncated
    );
    // ...and the resolver gets it whole over TCP.
    let txt = r
        .lookup(&big, RecordType::Txt)
        .unwrap_or_else(|e| panic!("{e}"));
    let joined = txt.records[0].data.txt_joined().unwrap_or_default();
    assert!(joined.len() > 1500, "{} bytes", joined.len());
    assert!(joined.ends_with(b" -all"));

    // A server that does not answer: a timeout after the retries, not a hang.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let quiet = NetworkResolver::with_options(
        silent.local_addr().unwrap_or_else(|e| panic!("{e}")),
        imapmig_dns::TransportOptions {
            timeout: Duration::from_millis(200),
            attempts: 2,
            ..Default::default()
        },
    );
    let started = std::time::Instant::now();
    assert!(matches!(
        quiet.lookup(&big, RecordType::Txt),
        Err(imapmig_dns::Error::Timeout { .. })
    ));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn spf_over_knot() {
    let Some(knot) = testkit::Knot::start(&[("cut.test", ZONE)]) else {
        return;
    };
    let r = NetworkResolver::new(knot.addr());
    let cases: &[(&str, &str, SpfResult)] = &[
        ("192.0.2.10", "ready.cut.test", SpfResult::Pass),
        ("203.0.113.5", "ready.cut.test", SpfResult::Pass),
        ("198.51.100.1", "ready.cut.test", SpfResult::Fail),
        ("192.0.2.20", "old.cut.test", SpfResult::PermError),
        ("192.0.2.20", "deep.cut.test", SpfResult::PermError),
        ("192.0.2.109", "big.cut.test", SpfResult::Pass),
        ("192.0.2.200", "big.cut.test", SpfResult::Fail),
        ("192.0.2.1", "nxdomain.cut.test", SpfResult::None),
    ];
    for (ip, domain, want) in cases {
        let q = SpfQuery::new(
            ip.parse().unwrap_or_else(|e| panic!("{e}")),
            &format!("a@{domain}"),
            "h.test",
        );
        let out = spf::check_host(&r, &q, domain);
        assert_eq!(out.result, *want, "{ip} {domain}: {}", out.reason);
        assert!(!out.trace.is_empty());
    }
}

#[test]
fn cutover_reports_over_knot() {
    let Some(knot) = testkit::Knot::start(&[("cut.test", ZONE)]) else {
        return;
    };
    let r = NetworkResolver::new(knot.addr());
    type Case<'a> = (
        &'a str,
        &'a [&'a str],
        &'a [&'a str],
        Verdict,
        &'a [&'a str],
    );
    let cases: &[Case<'_>] = &[
        (
            "ready.cut.test",
            &["mx.ready.cut.test"],
            &["sel"],
            Verdict::Ready,
            &[],
        ),
        (
            "old.cut.test",
            &["mx.new.cut.test"],
            &["weak"],
            Verdict::Blocking,
            &[
                "mx-ttl-timeline",
                "mx-leftover",
                "spf-multiple",
                "dkim-weak-key",
                "dmarc-monitor-only",
            ],
        ),
        (
            "deep.cut.test",
            &[],
            &[],
            Verdict::Blocking,
            &["spf-lookup-limit"],
        ),
        (
            "big.cut.test",
            &[],
            &[],
            Verdict::Warnings,
            &["dmarc-missing"],
        ),
        (
            "nxdomain.cut.test",
            &[],
            &[],
            Verdict::Blocking,
            &["domain-nxdomain"],
        ),
    ];
    for (domain, mx, selectors, verdict, codes) in cases {
        let mut o = options();
        o.cutover = Some(o.now + chrono::TimeDelta::hours(24));
        o.expect_mx = mx.iter().map(|m| name(m)).collect();
        o.dkim_selectors = selectors.iter().map(|s| (*s).to_owned()).collect();
        let report = cutover_report(&r, &name(domain), &o);
        println!("{report}");
        assert_eq!(report.verdict, *verdict, "{report}");
        for code in *codes {
            assert!(
                report.findings.iter().any(|f| f.code == *code),
                "{code}:\n{report}"
            );
        }
        if *domain == "ready.cut.test" {
            assert_eq!(report.dkim[0].rsa_bits, Some(2048));
            assert!(
                report
                    .findings
                    .iter()
                    .any(|f| f.code == "resolver-authoritative")
            );
        }
    }
}

#[test]
fn split_brain_between_two_knots() {
    let Some(auth) = testkit::Knot::start(&[("cut.test", ZONE)]) else {
        return;
    };
    let Some(stale) = testkit::Knot::start(&[("cut.test", STALE_ZONE)]) else {
        return;
    };
    let resolver = NetworkResolver::new(stale.addr());
    let mut o = options();
    o.authoritative = AuthoritativeSource::Servers(vec![auth.addr()]);
    let report = cutover_report(&resolver, &name("old.cut.test"), &o);
    let sb = report
        .findings
        .iter()
        .find(|f| f.code == "split-brain")
        .unwrap_or_else(|| panic!("no split-brain finding:\n{report}"));
    assert!(sb.message.contains("86400 s"), "{}", sb.message);
    assert_eq!(report.verdict, Verdict::Blocking);
    // The same server on both sides agrees with itself.
    o.authoritative = AuthoritativeSource::Servers(vec![stale.addr()]);
    let same = cutover_report(&resolver, &name("old.cut.test"), &o);
    assert!(
        !same.findings.iter().any(|f| f.code == "split-brain"),
        "{same}"
    );
}
