//! LOGINDISABLED (issue 12, point 9): a Dovecot with `disable_plaintext_auth = yes` announces
//! `LOGINDISABLED` (and no `AUTH=PLAIN`) on its plain port. Over plain `imap://` the run fails
//! with the login status and says why, and neither LOGIN nor the password is ever sent; over
//! STARTTLS the capabilities are read again after the handshake, and the same server takes
//! the login.
//!
//! Dovecot counts a client whose address is its own (127.0.0.1 to 127.0.0.1) as secure, so a
//! small relay ([`RemoteFront`]) connects to it from 127.0.0.2, as a client on another host
//! would, and records what the client sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use testkit::RawImap;

use super::*;

/// Exit status for a refused login (`imapmig migrate --help`).
const EXIT_LOGIN: i32 = 4;

/// A relay to `upstream` that connects from 127.0.0.2 and keeps every byte clients sent.
struct RemoteFront {
    addr: SocketAddr,
    sent: Arc<Mutex<Vec<u8>>>,
}

impl RemoteFront {
    fn start(upstream: SocketAddr) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = sent.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                while let Ok((client, _)) = listener.accept().await {
                    let log = log.clone();
                    tokio::spawn(relay(client, upstream, log));
                }
            });
        });
        Self { addr, sent }
    }

    /// What clients sent so far, all connections together.
    fn sent(&self) -> Vec<u8> {
        self.sent.lock().unwrap().clone()
    }
}

async fn relay(client: tokio::net::TcpStream, upstream: SocketAddr, log: Arc<Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let Ok(server) = socket.connect(upstream).await else {
        return;
    };
    let (mut client_r, mut client_w) = client.into_split();
    let (mut server_r, mut server_w) = server.into_split();
    let down = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_r, &mut client_w).await;
        let _ = client_w.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match client_r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if server_w.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = server_w.shutdown().await;
    let _ = down.await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[test]
fn logindisabled_refuses_without_sending_the_password_and_starttls_logs_in() {
    let config = DovecotConfig::new(Layout::Slash).with_tls_required_for_login();
    let (Some(src), Some(dst)) = (server_with(config), server(Layout::Slash)) else {
        return;
    };
    let inbox = messages("logindisabled", 3);
    seed(&src, "INBOX", &inbox);
    let front = RemoteFront::start(src.addr());
    // Seen from 127.0.0.2, the plain port disallows LOGIN.
    let raw = RawImap::connect(front.addr);
    assert!(
        contains(raw.greeting(), b"LOGINDISABLED") && !contains(raw.greeting(), b"AUTH=PLAIN"),
        "{}",
        raw.greeting().escape_ascii()
    );
    drop(raw);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, src.ca_pem().unwrap()).unwrap();
    let ca_arg = ["--ca-file", ca.to_str().unwrap()];

    let plain = format!("imap://{}@127.0.0.1:{}", src.user(), front.addr.port());
    let out = migrate_command_urls(&plain, &url(&dst), &dir.path().join("s1"), &ca_arg)
        .output()
        .unwrap();
    assert_exit(&out, EXIT_LOGIN);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LOGINDISABLED") && stderr.contains("TLS"),
        "{stderr}"
    );
    let sent = front.sent();
    assert!(!contains(&sent, b"LOGIN "), "{}", sent.escape_ascii());
    assert!(!contains(&sent, b"AUTHENTICATE"), "{}", sent.escape_ascii());
    assert!(!contains(&sent, b"secret"), "{}", sent.escape_ascii());
    assert!(dst.messages("INBOX").is_empty());

    // STARTTLS through the same relay: after the handshake the server allows the login.
    let starttls = format!("{plain}?starttls");
    let out = migrate_command_urls(&starttls, &url(&dst), &dir.path().join("s2"), &ca_arg)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (3, 0, 0, 0));
    assert_holds_exactly(&dst, "INBOX", &inbox);
}
