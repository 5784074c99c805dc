use std::process::Command;

use testkit::Knot;

const ZONE: &str = "$TTL 300
@       SOA ns.example.test. admin.example.test. 1 3600 600 86400 300
@       NS  ns.example.test.
ns      A   127.0.0.1
@       MX  10 mx.example.test.
@  3600 TXT \"v=spf1 -all\"
";

fn dig(server: &Knot, args: &[&str]) -> String {
    let output = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &server.port().to_string(),
            "+norec",
            "+time=2",
            "+tries=1",
        ])
        .args(args)
        .output()
        .expect("dig runs (apt-get install bind9-dnsutils)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn answers_udp_and_tcp_then_stops_cleanly() {
    let Some(server) = Knot::start(&[
        ("example.test", ZONE),
        ("other.test.", "@ SOA a. b. 1 2 3 4 5\n@ 60 A 192.0.2.7\n"),
    ]) else {
        return;
    };
    let udp = dig(&server, &["+short", "MX", "example.test"]);
    assert_eq!(udp.trim(), "10 mx.example.test.");
    let tcp = dig(&server, &["+tcp", "TXT", "example.test"]);
    assert!(
        tcp.contains("example.test.\t\t3600\tIN\tTXT\t\"v=spf1 -all\""),
        "{tcp}"
    );
    assert!(tcp.contains("flags: qr aa;"), "{tcp}");
    let other = dig(&server, &["+short", "A", "other.test"]);
    assert_eq!(other.trim(), "192.0.2.7");
    let nx = dig(&server, &["A", "missing.example.test"]);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");

    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(testkit::group_alive(pid) && dir.exists());
    drop(server);
    assert!(
        !testkit::group_alive(pid),
        "knotd {pid} still alive after drop"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn a_broken_zone_fails_with_the_log() {
    if Knot::start(&[]).is_none() {
        return;
    }
    let panic = std::panic::catch_unwind(|| Knot::start(&[("bad.test", "@ SOA broken\n")]))
        .expect_err("a zone that does not load must fail the start");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("does not serve zone bad.test"),
        "{message}"
    );
}
