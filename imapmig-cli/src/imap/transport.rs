//! The byte stream under the session: plain TCP or rustls TLS. Small writes (a tag and a
//! command line) wait in a buffer until a flush so they leave in one segment with what follows;
//! a large write (a message literal) goes straight to the socket from the caller's buffer,
//! never copied into ours.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// TCP or TLS.
#[derive(Debug)]
pub(crate) struct Transport {
    inner: Inner,
    /// Writes wait here until a flush (or until it is full), so that a tag, a command and a
    /// message literal leave in one segment instead of one per write call.
    wbuf: Vec<u8>,
}

/// Flush the write buffer by itself beyond this many bytes.
const WRITE_BUFFER: usize = 256 * 1024;

/// A write at least this large skips the buffer (after draining it).
const WRITE_DIRECT: usize = 16 * 1024;

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
            wbuf: Vec::new(),
        })
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
        match &mut self.inner {
            Inner::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
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
        if buf.len() >= WRITE_DIRECT || this.wbuf.len() + buf.len() > WRITE_BUFFER {
            match this.poll_drain(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            if buf.len() >= WRITE_DIRECT {
                // A message literal: straight from the caller's buffer to the socket.
                return match &mut this.inner {
                    Inner::Plain(s) => Pin::new(s).poll_write(cx, buf),
                    Inner::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
                };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[tokio::test]
    async fn small_writes_wait_for_flush_and_large_ones_bypass_the_buffer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut t = Transport::plain(client);
        t.write_all(b"a1 APPEND x {3}\r\n").await.unwrap();
        assert_eq!(t.wbuf.len(), 17, "a command line waits for the flush");
        let big = vec![b'x'; 4 * WRITE_BUFFER];
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut chunk = vec![0u8; 1 << 16];
            while got.len() < 17 + 4 * WRITE_BUFFER {
                let n = server.read(&mut chunk).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&chunk[..n]);
            }
            got
        });
        let mut sent = 0;
        while big.len() - sent >= WRITE_DIRECT {
            sent += t.write(&big[sent..]).await.unwrap();
            assert!(t.wbuf.is_empty(), "a literal never lands in our buffer");
        }
        t.write_all(&big[sent..]).await.unwrap();
        t.flush().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..17], b"a1 APPEND x {3}\r\n");
        assert_eq!(&got[17..], &big[..]);
    }
}
