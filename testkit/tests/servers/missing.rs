//! A missing server binary: a failure under `CI=true`, a loud skip elsewhere.
//! The test runs itself as a child process whose `TESTKIT_PATH` names an
//! empty directory, so no server binary is found there.

use std::process::Command;

use testkit::{Dovecot, Knot, Layout};

const NAME: &str = "missing::missing_servers_fail_under_ci_and_skip_otherwise";

#[test]
fn missing_servers_fail_under_ci_and_skip_otherwise() {
    match std::env::var("TESTKIT_TEST_CHILD").as_deref() {
        // In the child: start must return None (or panic under CI=true).
        Ok("dovecot") => assert!(Dovecot::start(Layout::Slash).is_none()),
        Ok("knot") => assert!(Knot::start(&[]).is_none()),
        _ => parent(),
    }
}

fn parent() {
    let empty = tempfile::tempdir().expect("temp dir");
    for (server, missing) in [
        (
            "dovecot",
            "Dovecot is not installed: missing dovecot, doveadm",
        ),
        ("knot", "Knot DNS is not installed: missing knotd"),
    ] {
        for ci in [true, false] {
            let mut child = Command::new(std::env::current_exe().expect("test binary"));
            child
                .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
                .env("TESTKIT_TEST_CHILD", server)
                .env("TESTKIT_PATH", empty.path());
            if ci {
                child.env("CI", "true");
            } else {
                child.env_remove("CI");
            }
            let output = child.output().expect("run the test binary");
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                stdout.contains("running 1 test"),
                "{server} ci={ci}: {stdout}"
            );
            assert!(stderr.contains(missing), "{server} ci={ci}: {stderr}");
            assert!(
                stderr.contains("apt-get install"),
                "{server} ci={ci}: {stderr}"
            );
            if ci {
                assert!(
                    !output.status.success(),
                    "{server}: CI=true must fail: {stdout}"
                );
                assert!(
                    stderr.contains("CI=true, so a missing server is a test failure"),
                    "{stderr}"
                );
            } else {
                assert!(
                    output.status.success(),
                    "{server}: without CI it skips: {stdout}{stderr}"
                );
                assert!(stderr.contains("SKIPPING this test"), "{stderr}");
            }
        }
    }
}
