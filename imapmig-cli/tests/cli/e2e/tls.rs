//! TLS: `imaps://` on the source and STARTTLS on the target, each server with its own CA,
//! trusted through `--ca-file`; a CA that did not sign the server's certificate fails with the
//! TLS exit status before anything is copied.
//! `imapmig inventory` takes the same `--ca-file`.

use super::*;

/// Exit status for a TLS (or STARTTLS) failure (`imapmig migrate --help`).
const EXIT_TLS: i32 = 6;

fn tls_server() -> Option<Dovecot> {
    server_with(DovecotConfig::new(Layout::Slash).with_tls())
}

fn imaps_url(d: &Dovecot) -> String {
    format!(
        "imaps://{}@127.0.0.1:{}",
        d.user(),
        d.imaps_port().expect("a TLS server")
    )
}

fn starttls_url(d: &Dovecot) -> String {
    format!("imap://{}@127.0.0.1:{}?starttls", d.user(), d.port())
}

#[test]
fn imaps_source_and_starttls_target_with_ca_file_copy_everything() {
    let (Some(src), Some(dst)) = (tls_server(), tls_server()) else {
        return;
    };
    let inbox = messages("tls", 7);
    let work = messages("tlswork", 3);
    seed(&src, "INBOX", &inbox);
    seed(&src, "Work", &work);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        format!("{}{}", src.ca_pem().unwrap(), dst.ca_pem().unwrap()),
    )
    .unwrap();
    let state = dir.path().join("state");
    let out = migrate_command_urls(
        &imaps_url(&src),
        &starttls_url(&dst),
        &state,
        &["--ca-file", ca.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (10, 0, 0, 0));
    assert_holds_exactly(&dst, "INBOX", &inbox);
    assert_holds_exactly(&dst, "Work", &work);
}

#[test]
fn a_wrong_or_missing_ca_fails_with_the_tls_status_and_copies_nothing() {
    let (Some(src), Some(dst), Some(other)) = (tls_server(), server(Layout::Slash), tls_server())
    else {
        return;
    };
    seed(&src, "INBOX", &messages("wrongca", 2));
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&wrong, other.ca_pem().unwrap()).unwrap();
    for extra in [vec!["--ca-file", wrong.to_str().unwrap()], vec![]] {
        let state = tempfile::tempdir().unwrap();
        let out = migrate_command_urls(&imaps_url(&src), &url(&dst), state.path(), &extra)
            .output()
            .unwrap();
        assert_exit(&out, EXIT_TLS);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("TLS"), "{extra:?}: {stderr}");
        assert!(dst.messages("INBOX").is_empty(), "{extra:?}: copied anyway");
    }
    // STARTTLS to a target whose CA is not the one given fails the same way.
    seed(&dst, "INBOX", &messages("plain", 1));
    let state = tempfile::tempdir().unwrap();
    let out = migrate_command_urls(
        &url(&dst),
        &starttls_url(&src),
        state.path(),
        &["--ca-file", wrong.to_str().unwrap()],
    )
    .output()
    .unwrap();
    assert_exit(&out, EXIT_TLS);
    assert_eq!(src.messages("INBOX").len(), 2, "copied anyway");
}

#[test]
fn inventory_over_imaps_with_ca_file() {
    let Some(server) = tls_server() else {
        return;
    };
    seed(&server, "INBOX", &messages("inv", 4));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, server.ca_pem().unwrap()).unwrap();
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_imapmig"))
            .args(["inventory", "--server", &imaps_url(&server)])
            .args(extra)
            .env("IMAPMIG_SOURCE_PASSWORD", "secret")
            .env_remove("IMAPMIG_SOURCE_TOKEN")
            .output()
            .unwrap()
    };
    let out = run(&["--ca-file", ca.to_str().unwrap()]);
    assert_exit(&out, 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("INBOX\t4\t")),
        "{stdout}"
    );
    assert_exit(&run(&[]), EXIT_TLS);
}
