use std::process::Command;
use std::time::{Duration, Instant};

use testkit::Postgres;

#[test]
fn starts_answers_sql_and_stops_cleanly() {
    let Some(server) = Postgres::start() else {
        return;
    };
    eprintln!("postgres started in {:?}", server.started_in());
    assert_eq!(server.user(), "postgres");
    assert_eq!(
        server.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", server.port())
    );
    assert_eq!(server.psql("postgres", "SELECT current_user"), "postgres");
    assert_eq!(
        server.psql("postgres", "SHOW listen_addresses"),
        "127.0.0.1"
    );
    assert_eq!(server.psql("postgres", "SHOW fsync"), "off");
    // The socket is in the temp dir, not in /var/run/postgresql.
    let sockets = server.psql("postgres", "SHOW unix_socket_directories");
    assert!(
        sockets.starts_with(&server.dir().to_string_lossy().into_owned()),
        "{sockets}"
    );

    let url = server.create_database("second");
    assert!(
        url.ends_with(&format!(":{}/second", server.port())),
        "{url}"
    );
    server.psql(
        "second",
        "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)",
    );
    assert_eq!(server.psql("second", "SELECT sum(n) FROM t"), "3");

    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(testkit::group_alive(pid) && dir.exists());
    let started = Instant::now();
    drop(server);
    assert!(
        !testkit::group_alive(pid),
        "process group {pid} still alive"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn two_servers_are_independent() {
    let (Some(a), Some(b)) = (Postgres::start(), Postgres::start()) else {
        return;
    };
    assert_ne!(a.port(), b.port());
    a.psql("postgres", "CREATE TABLE only_in_a (n int)");
    assert_eq!(
        a.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        ),
        "1"
    );
    assert_eq!(
        b.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        ),
        "0"
    );
}

/// A panicking test still stops its server: the test runs itself as a
/// child that starts a server, prints its pid and dir, and panics.
#[test]
fn a_panicking_test_leaves_nothing_behind() {
    const NAME: &str = "postgres::a_panicking_test_leaves_nothing_behind";
    if std::env::var("TESTKIT_TEST_CHILD").as_deref() == Ok("postgres-panic") {
        let Some(server) = Postgres::start() else {
            println!("no server: skipped");
            return;
        };
        println!("pid={} dir={}", server.pid(), server.dir().display());
        panic!("deliberate panic with a running server");
    }
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env("TESTKIT_TEST_CHILD", "postgres-panic")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.contains("no server: skipped") {
        return;
    }
    assert!(!output.status.success(), "the child must fail: {stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("pid=").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no pid line: {stdout}"));
    let (pid, dir) = line.split_once(" dir=").expect("pid and dir");
    let pid: u32 = pid.parse().expect("pid");
    assert!(
        !testkit::group_alive(pid),
        "server {pid} outlived the panic"
    );
    assert!(!std::path::Path::new(dir).exists(), "{dir} left behind");
}

/// Without the binaries: a loud skip, or a failure under `CI=true`. The
/// test runs itself as a child whose `TESTKIT_PATH` is an empty directory.
#[test]
fn a_missing_postgres_fails_under_ci_and_skips_otherwise() {
    const NAME: &str = "postgres::a_missing_postgres_fails_under_ci_and_skips_otherwise";
    if std::env::var("TESTKIT_TEST_CHILD").as_deref() == Ok("postgres-missing") {
        assert!(Postgres::start().is_none());
        return;
    }
    let empty = tempfile::tempdir().expect("temp dir");
    for ci in [true, false] {
        let mut child = Command::new(std::env::current_exe().expect("test binary"));
        child
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env("TESTKIT_TEST_CHILD", "postgres-missing")
            .env("TESTKIT_PATH", empty.path());
        if ci {
            child.env("CI", "true");
        } else {
            child.env_remove("CI");
        }
        let output = child.output().expect("run the test binary");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("PostgreSQL is not installed: missing initdb, postgres, psql"),
            "ci={ci}: {stderr}"
        );
        assert!(stderr.contains("apt-get install"), "ci={ci}: {stderr}");
        assert_eq!(output.status.success(), !ci, "ci={ci}: {stderr}");
    }
}
