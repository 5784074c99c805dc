//! [`LeaseKeeper`]: renews a claim's lease in the background while the
//! worker migrates the mailbox.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::queue::Claim;
use crate::{Database, Error};

/// Renews a [`Claim`]'s lease every third of its ttl on a thread of its
/// own, through the [`Database`]'s connection, until stopped or dropped.
///
/// When the lease is lost (another worker took the mailbox over after a
/// stall longer than the ttl), renewing stops and [`LeaseKeeper::is_lost`]
/// turns true: the worker should stop migrating the mailbox. Its fenced
/// saves are refused anyway. A renewal that fails for another reason (the
/// database briefly unreachable) is retried at the next interval.
#[derive(Debug)]
pub struct LeaseKeeper {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    lost: Arc<AtomicBool>,
    last_error: Arc<Mutex<Option<Error>>>,
}

impl Database {
    /// Starts renewing the claim's lease in the background (see
    /// [`LeaseKeeper`]). Stop it before [`Database::finish`] or
    /// [`Database::release`]: a renewal after those fails as lost.
    ///
    /// # Errors
    /// [`Error::Thread`] when no thread can be started.
    pub fn keep_renewed(&self, claim: &Claim) -> Result<LeaseKeeper, Error> {
        let (stop, stopped) = mpsc::channel::<()>();
        let lost = Arc::new(AtomicBool::new(false));
        let last_error = Arc::new(Mutex::new(None));
        let every = (claim.ttl / 3).max(Duration::from_millis(1));
        let db = Database {
            connection: self.connection().clone(),
        };
        let mut claim = claim.clone();
        let (lost_flag, errors) = (Arc::clone(&lost), Arc::clone(&last_error));
        let thread = thread::Builder::new()
            .name("imapmig-pg-lease".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match db.renew(&mut claim) {
                        Ok(()) => {}
                        Err(error) => {
                            let is_lost = error.is_lease_lost();
                            *errors.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                            if is_lost {
                                lost_flag.store(true, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                }
            })
            .map_err(|source| Error::Thread { source })?;
        Ok(LeaseKeeper {
            stop: Some(stop),
            thread: Some(thread),
            lost,
            last_error,
        })
    }
}

impl LeaseKeeper {
    /// Whether the lease was lost: stop working on the mailbox.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Stops renewing and waits for the renewing thread.
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when the lease was lost meanwhile; otherwise
    /// the error of the last renewal when it failed.
    pub fn stop(mut self) -> Result<(), Error> {
        self.halt();
        match self
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn halt(&mut self) {
        // Dropping the sender wakes the thread at once.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            // A panic there has nothing to report beyond the lost renewals.
            let _ = thread.join();
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.halt();
    }
}
