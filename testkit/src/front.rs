//! What the IMAP fronts ([`crate::FaultProxy`], [`crate::GmailFront`])
//! share: a listener on 127.0.0.1, the open client/server socket pairs, and
//! how a front is stopped.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Locks `mutex`, taking over a poisoned one: a panicking pump thread must
/// not disable the front for the rest of the test.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A listener on a free port of 127.0.0.1 and its address (`what` names the
/// front in a panic).
pub(crate) fn bind(what: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("testkit: {what} cannot bind 127.0.0.1:0: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("testkit: local_addr of the {what}: {e}"));
    (listener, addr)
}

/// The open connections of a front: both sockets of each, by id, to close
/// them when the connection ends or the front stops.
#[derive(Debug, Default)]
pub(crate) struct Pairs {
    open: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    next_id: AtomicU64,
}

/// A client joined to its upstream by [`Pairs::join`]: the connection's id
/// and the two sockets for the client-to-server pump (the caller keeps the
/// ones it passed for the other direction).
pub(crate) struct Joined {
    pub(crate) id: u64,
    pub(crate) client: TcpStream,
    pub(crate) server: TcpStream,
}

impl Pairs {
    /// Records a new connection (no Nagle delay on either side), or `None`
    /// when a socket cannot be cloned.
    pub(crate) fn join(&self, client: &TcpStream, server: &TcpStream) -> Option<Joined> {
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            return None;
        };
        lock(&self.open).insert(id, (c3, s3));
        Some(Joined {
            id,
            client: c2,
            server: s2,
        })
    }

    /// How many connections are open.
    pub(crate) fn len(&self) -> usize {
        lock(&self.open).len()
    }

    /// Shuts connection `id` down and forgets it.
    pub(crate) fn close(&self, id: u64) {
        if let Some((client, server)) = lock(&self.open).remove(&id) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }

    /// Shuts every open connection down.
    pub(crate) fn close_all(&self) {
        for (client, server) in lock(&self.open).values() {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
        }
    }
}

/// Stops a front: sets `stop`, wakes its blocking accept by connecting to
/// `addr`, waits for the accept thread, then shuts every connection down.
pub(crate) fn stop(
    stop: &AtomicBool,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
    pairs: &Pairs,
) {
    stop.store(true, Ordering::SeqCst);
    let _ = TcpStream::connect(addr);
    if let Some(acceptor) = acceptor {
        let _ = acceptor.join();
    }
    pairs.close_all();
}
