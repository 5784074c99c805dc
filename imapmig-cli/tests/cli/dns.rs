//! Tests of the `dns` part of the `imapmig` command, against a real Knot
//! DNS server (testkit) serving the zones in `imapmig-dns/tests/data/knot/`.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use std::net::{SocketAddr, UdpSocket};
use std::process::Output;

use crate::command::imapmig;

const ZONE: &str = include_str!("../../../imapmig-dns/tests/data/knot/cut.test.zone");
const STALE_ZONE: &str = include_str!("../../../imapmig-dns/tests/data/knot/cut.test.split.zone");

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check(server: SocketAddr, domain: &str, extra: &[&str]) -> Output {
    let server = server.to_string();
    let mut args = vec!["dns", "check", domain, "--server", &server];
    args.extend_from_slice(extra);
    imapmig(&args)
}

#[test]
fn check_exit_status_follows_the_verdict() {
    let Some(knot) = testkit::Knot::start(&[("cut.test", ZONE)]) else {
        return;
    };
    let now = ["--now", "2026-03-01T09:00:00Z"];
    let cases: &[(&str, &[&str], i32, &[&str])] = &[
        (
            "ready.cut.test",
            &["--expect-mx", "mx.ready.cut.test", "--dkim-selector", "sel"],
            0,
            &[
                "verdict: ready",
                "dkim: sel._domainkey.ready.cut.test rsa 2048 bits",
            ],
        ),
        (
            "old.cut.test",
            &[
                "--expect-mx",
                "mx.new.cut.test",
                "--cutover",
                "2026-03-02T09:00:00Z",
                "--dkim-selector",
                "weak",
            ],
            2,
            &[
                "verdict: blocking",
                "mx: 10 mx.new.cut.test ttl 86400",
                "mx-leftover: MX 20 mx.legacy.cut.test",
                "mx-ttl-timeline: too late",
                "spf-multiple",
                "dkim-weak-key",
            ],
        ),
        (
            "deep.cut.test",
            &[],
            2,
            &["spf-lookup-limit", "needs 12 DNS lookups"],
        ),
        ("nxdomain.cut.test", &[], 2, &["domain-nxdomain"]),
        (
            "big.cut.test",
            &[],
            1,
            &["verdict: warnings", "dmarc-missing"],
        ),
    ];
    for (domain, extra, code, lines) in cases {
        let args: Vec<&str> = now.iter().chain(extra.iter()).copied().collect();
        let out = check(knot.addr(), domain, &args);
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{domain}:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in *lines {
            assert!(text.contains(line), "{domain}: {line:?} missing in\n{text}");
        }
    }
}

#[test]
fn check_reports_split_brain_between_resolver_and_authoritative() {
    let Some(auth) = testkit::Knot::start(&[("cut.test", ZONE)]) else {
        return;
    };
    let Some(stale) = testkit::Knot::start(&[("cut.test", STALE_ZONE)]) else {
        return;
    };
    let auth_addr = auth.addr().to_string();
    let out = check(
        stale.addr(),
        "old.cut.test",
        &["--authoritative", &auth_addr],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains(
            "split-brain: the resolver answers old.cut.test MX with 10 mx.legacy.cut.test"
        ),
        "{text}"
    );
    assert!(text.contains("86400 s more"), "{text}");
}

#[test]
fn spf_prints_the_result_first() {
    let Some(knot) = testkit::Knot::start(&[("cut.test", ZONE)]) else {
        return;
    };
    let server = knot.addr().to_string();
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("ready.cut.test", "192.0.2.10", &[], "pass"),
        (
            "ready.cut.test",
            "203.0.113.77",
            &["--sender", "bob@ready.cut.test"],
            "pass",
        ),
        (
            "ready.cut.test",
            "198.51.100.1",
            &["--helo", "mail.example.net"],
            "fail",
        ),
        ("old.cut.test", "192.0.2.20", &[], "permerror"),
        ("deep.cut.test", "192.0.2.20", &[], "permerror"),
        ("big.cut.test", "192.0.2.109", &[], "pass"),
        ("nxdomain.cut.test", "192.0.2.1", &[], "none"),
    ];
    for (domain, ip, extra, want) in cases {
        let mut args = vec!["dns", "spf", domain, "--ip", ip, "--server", &server];
        args.extend_from_slice(extra);
        let out = imapmig(&args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert_eq!(
            text.split_whitespace().next(),
            Some(*want),
            "{domain} {ip}:\n{text}"
        );
        assert!(
            text.contains(&format!("{domain} TXT")),
            "the trace names the lookup:\n{text}"
        );
    }
}

#[test]
fn spf_against_a_silent_server_is_a_temperror() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server = silent.local_addr().unwrap().to_string();
    let out = imapmig(&[
        "dns",
        "spf",
        "example.test",
        "--ip",
        "192.0.2.1",
        "--server",
        &server,
        "--timeout",
        "0.2",
    ]);
    assert_eq!(
        stdout(&out).split_whitespace().next(),
        Some("temperror"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_arguments_are_usage_errors() {
    let out = imapmig(&["dns", "check", "bad..name", "--server", "127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty label"));
}
