//! The byte stream under async-imap: plain TCP or rustls TLS, with a tap that lifts out the
//! untagged responses imap-proto 0.17 cannot parse (`* NAMESPACE`, `* STATUS … (SIZE n)`,
//! RFC 2342 and RFC 8438) before async-imap sees them, so that one unknown line does not wedge
//! the connection. The tap tracks literals (`{n}` at the end of a line), so message bodies are
//! passed through untouched whatever they contain.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A line longer than this (without a literal) is passed on in pieces instead of held whole.
const MAX_HELD_LINE: usize = 1 << 20;

/// TCP or TLS, with the response tap.
#[derive(Debug)]
pub(crate) struct Transport {
    inner: Inner,
    tap: Tap,
    /// Writes wait here until a flush (or until it is full), so that a tag, a command and a
    /// message literal leave in one segment instead of one per write call.
    wbuf: Vec<u8>,
}

/// Flush the write buffer by itself beyond this many bytes.
const WRITE_BUFFER: usize = 256 * 1024;

#[derive(Debug)]
enum Inner {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Reads the PEM certificates of `path` (`--ca-file`): CAs to trust besides the Mozilla
/// roots. A file without any certificate is an error.
pub(crate) fn load_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

impl Transport {
    /// A plain TCP transport.
    pub(crate) fn plain(tcp: TcpStream) -> Self {
        Self {
            inner: Inner::Plain(tcp),
            tap: Tap::default(),
            wbuf: Vec::new(),
        }
    }

    /// Wraps `tcp` in TLS for `host`, verified against the Mozilla roots (webpki-roots) plus
    /// `extra_roots` (`--ca-file`).
    pub(crate) async fn tls(
        tcp: TcpStream,
        host: &str,
        extra_roots: &[CertificateDer<'static>],
    ) -> io::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        Ok(Self {
            inner: Inner::Tls(Box::new(stream)),
            tap: Tap::default(),
            wbuf: Vec::new(),
        })
    }

    /// Also divert responses starting with `prefix` (upper case, e.g. `* LIST `) until
    /// called again with `None`: for commands whose raw answer we hand to our own parsers.
    pub(crate) fn tap_also(&mut self, prefix: Option<&'static [u8]>) {
        self.tap.extra = prefix;
    }

    /// Takes the tapped responses seen so far (each a whole response, CRLF included).
    pub(crate) fn take_tapped(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.tap.captured)
    }

    /// The TCP stream, for a STARTTLS upgrade (only valid before any TLS).
    pub(crate) fn into_tcp(self) -> Option<TcpStream> {
        match self.inner {
            Inner::Plain(t) => Some(t),
            Inner::Tls(_) => None,
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.tap.out_pos < this.tap.out.len() {
                let pending = &this.tap.out[this.tap.out_pos..];
                let n = pending.len().min(buf.remaining());
                buf.put_slice(&pending[..n]);
                this.tap.out_pos += n;
                if this.tap.out_pos == this.tap.out.len() {
                    this.tap.out.clear();
                    this.tap.out_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut chunk);
            let res = match &mut this.inner {
                Inner::Plain(s) => Pin::new(s).poll_read(cx, &mut rb),
                Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, &mut rb),
            };
            match res {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let filled = rb.filled();
                    if filled.is_empty() {
                        // EOF: hand on whatever partial line was held, then report EOF.
                        this.tap.flush_partial();
                        if this.tap.out.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                    } else {
                        this.tap.feed(filled);
                    }
                }
            }
        }
    }
}

impl Transport {
    /// Writes out the buffered bytes.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.wbuf.is_empty() {
            let res = match &mut self.inner {
                Inner::Plain(s) => Pin::new(s).poll_write(cx, &self.wbuf),
                Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, &self.wbuf),
            };
            match res {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.wbuf.drain(..n);
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.wbuf.len() + buf.len() > WRITE_BUFFER {
            match this.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.wbuf.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match &mut this.inner {
            Inner::Plain(s) => Pin::new(s).poll_flush(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The literal-aware line splitter that diverts tapped responses.
#[derive(Debug, Default)]
struct Tap {
    /// The current line, up to and including its LF.
    line: Vec<u8>,
    /// Bytes of a literal still to pass.
    literal_left: u64,
    /// Whether the next line continues a response (after a literal).
    continuing: bool,
    /// Whether the current response's fate (divert or pass) is settled.
    decided: bool,
    /// An extra prefix to divert, see [`Transport::tap_also`].
    extra: Option<&'static [u8]>,
    /// Whether the current response is being diverted.
    capturing: bool,
    /// The diverted response so far.
    capture: Vec<u8>,
    /// Whole diverted responses.
    captured: Vec<Vec<u8>>,
    /// Bytes for async-imap.
    out: Vec<u8>,
    out_pos: usize,
}

impl Tap {
    fn feed(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.literal_left > 0 {
                let n = usize::try_from(self.literal_left)
                    .unwrap_or(usize::MAX)
                    .min(data.len() - i);
                self.emit(&data[i..i + n]);
                self.literal_left -= n as u64;
                i += n;
                continue;
            }
            match data[i..].iter().position(|&b| b == b'\n') {
                Some(p) => {
                    self.line.extend_from_slice(&data[i..=i + p]);
                    i += p + 1;
                    self.end_line();
                }
                None => {
                    self.line.extend_from_slice(&data[i..]);
                    i = data.len();
                    if self.line.len() > MAX_HELD_LINE {
                        if !self.decided {
                            self.capturing = is_tapped(&self.line, self.extra);
                            self.decided = true;
                        }
                        if !self.capturing {
                            // Keep only a tail long enough to see a literal marker.
                            let keep = self.line.split_off(self.line.len() - 32);
                            let head = std::mem::replace(&mut self.line, keep);
                            self.out.extend_from_slice(&head);
                        }
                    }
                }
            }
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if !self.decided {
            self.capturing = is_tapped(&line, self.extra);
        }
        match literal_at_end(&line) {
            Some(n) => {
                self.literal_left = n;
                self.continuing = true;
            }
            None => self.continuing = false,
        }
        self.decided = self.continuing;
        self.emit(&line);
        if self.capturing && !self.continuing {
            self.captured.push(std::mem::take(&mut self.capture));
            self.capturing = false;
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.capturing {
            self.capture.extend_from_slice(bytes);
        } else {
            self.out.extend_from_slice(bytes);
        }
    }

    fn flush_partial(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.out.extend_from_slice(&line);
    }
}

/// Whether a response's first line is one we divert.
fn is_tapped(line: &[u8], extra: Option<&[u8]>) -> bool {
    let upper: Vec<u8> = line.iter().take(4096).map(u8::to_ascii_uppercase).collect();
    if upper.starts_with(b"* NAMESPACE ") || extra.is_some_and(|p| upper.starts_with(p)) {
        return true;
    }
    if upper.starts_with(b"* STATUS ") {
        // The attribute list is the last parenthesised group on the line.
        if let Some(open) = upper.iter().rposition(|&b| b == b'(') {
            return upper[open..]
                .windows(6)
                .any(|w| (w[0] == b'(' || w[0] == b' ') && &w[1..] == b"SIZE ");
        }
    }
    false
}

/// `{n}` or `{n+}` (or `~{n}`) just before the line end: the length of the literal that follows.
fn literal_at_end(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let body = body.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut tap = Tap::default();
        for c in chunks {
            tap.feed(c);
        }
        tap.flush_partial();
        (tap.out, tap.captured)
    }

    #[test]
    fn diverts_namespace_and_status_size_only() {
        let input: &[u8] = b"* CAPABILITY IMAP4rev1\r\n* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n* STATUS INBOX (MESSAGES 3 SIZE 1234)\r\n* STATUS SIZE (MESSAGES 3)\r\na1 OK done\r\n";
        for split in [1usize, 3, 7, 1000] {
            let chunks: Vec<&[u8]> = input.chunks(split).collect();
            let (out, cap) = run(&chunks);
            assert_eq!(
                out, b"* CAPABILITY IMAP4rev1\r\n* STATUS SIZE (MESSAGES 3)\r\na1 OK done\r\n",
                "split {split}"
            );
            assert_eq!(cap.len(), 2);
            assert_eq!(cap[1], b"* STATUS INBOX (MESSAGES 3 SIZE 1234)\r\n");
        }
    }

    #[test]
    fn extra_prefix_diverts_list() {
        let mut tap = Tap {
            extra: Some(b"* LIST "),
            ..Tap::default()
        };
        tap.feed(b"* LIST (\\HasNoChildren) \".\" {5}\r\nINBOX\r\n* LSUB () \".\" x\r\nt OK\r\n");
        assert_eq!(
            tap.captured,
            vec![b"* LIST (\\HasNoChildren) \".\" {5}\r\nINBOX\r\n".to_vec()]
        );
        assert_eq!(tap.out, b"* LSUB () \".\" x\r\nt OK\r\n");
    }

    #[test]
    fn literal_bodies_pass_untouched() {
        let body = b"Subject: x\r\n\r\n* NAMESPACE (evil)\r\n{5}\r\n";
        let mut input = format!("* 1 FETCH (UID 7 BODY[] {{{}}}\r\n", body.len()).into_bytes();
        input.extend_from_slice(body);
        input.extend_from_slice(b")\r\na2 OK\r\n");
        for split in [1usize, 2, 5, 64] {
            let chunks: Vec<&[u8]> = input.chunks(split).collect();
            let (out, cap) = run(&chunks);
            assert_eq!(out, input, "split {split}");
            assert!(cap.is_empty());
        }
    }

    #[test]
    fn literal_markers_table() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"a {12}\r\n", Some(12)),
            (b"a {12+}\r\n", Some(12)),
            (b"a ~{0}\r\n", Some(0)),
            (b"a {x}\r\n", None),
            (b"a {}\r\n", None),
            (b"a 12}\r\n", None),
            (b"a {12}", None),
        ];
        for (line, want) in cases {
            assert_eq!(
                literal_at_end(line),
                *want,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
