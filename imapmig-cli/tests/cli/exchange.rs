//! Tests of the `exchange` part of the `imapmig` command: `exchange x500` on
//! a Maildir and an mbox built here.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a test failure"
)]

use std::fs;
use std::path::Path;

use crate::command::{imapmig, lines};

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

const ANN: &str = "IMCEAEX-_O=CONTOSO_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP+20+28FYDIBOHF23SPDLT+29_CN=RECIPIENTS_CN=ann@contoso.example";
const ANN_X500: &str =
    "X500:/O=CONTOSO/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=ann";

fn bounce(to: &str) -> String {
    format!(
        "From: MAILER-DAEMON@contoso.example\r\nTo: \"Ann Old\" <{to}>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <ndr-{}@contoso.example>\r\nSubject: Undeliverable\r\n\r\nDelivery has failed to these recipients:\r\n{to}\r\n",
        to.len()
    )
}

#[test]
fn x500_from_maildir_and_mbox() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let maildir = root.join("Maildir");
    write(&maildir.join("cur/1:2,S"), bounce(ANN).as_bytes());
    write(
        &maildir.join("cur/2:2,S"),
        b"From: \"Bob\" </o=contoso/ou=First Administrative Group/cn=Recipients/cn=bob>\r\nTo: x@example.org\r\n\r\nold mail\r\n",
    );
    write(
        &maildir.join("new/3"),
        b"From: plain@example.org\r\n\r\nnothing here\r\n",
    );
    let mbox = root.join("archive.mbox");
    // The same DN in another spelling of case counts as the same identity.
    let ann_lower = ANN.replace("CN=RECIPIENTS", "cn=Recipients");
    let mbox_text = format!(
        "From a Mon Jan  1 00:00:00 2024\n{}\nFrom b Mon Jan  1 00:00:00 2024\n{}",
        bounce(&ann_lower).replace("\r\n", "\n"),
        bounce(ANN).replace("\r\n", "\n")
    );
    write(&mbox, mbox_text.as_bytes());

    let out = imapmig(&[
        "exchange",
        "x500",
        maildir.to_str().unwrap(),
        mbox.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        lines(&out),
        vec![
            format!("{ANN_X500}\t3"),
            "X500:/o=contoso/ou=First Administrative Group/cn=Recipients/cn=bob\t1".to_owned(),
        ]
    );

    let out = imapmig(&[
        "exchange",
        "x500",
        "--identities",
        maildir.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert_eq!(
        lines(&out),
        vec![
            format!("ann\tAnn Old\t{ANN_X500}"),
            "bob\tBob\tX500:/o=contoso/ou=First Administrative Group/cn=Recipients/cn=bob"
                .to_owned(),
        ]
    );
}

#[test]
fn x500_nothing_found_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.eml");
    write(&file, b"From: a@example.org\r\n\r\nhi\r\n");
    let out = imapmig(&["exchange", "x500", file.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}
