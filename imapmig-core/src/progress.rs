//! Progress: counters per folder and overall, the current throttle state,
//! and an ETA, fed by events, for a CLI to draw as a progress bar.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::throttle::{Limits, ReplyClass};

/// Something that happened during a run. `now` is passed beside it to
/// [`Progress::record`] (a [`Duration`] since any fixed origin).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ProgressEvent<'a> {
    /// A folder's pass was planned: this much is to be copied.
    FolderPlanned {
        /// The folder.
        folder: &'a str,
        /// Messages to copy.
        messages: u64,
        /// Bytes to copy.
        bytes: u64,
    },
    /// A message was copied.
    Copied {
        /// The folder.
        folder: &'a str,
        /// Its size.
        bytes: u64,
    },
    /// A message was skipped (it counts as done, and as skipped).
    Skipped {
        /// The folder.
        folder: &'a str,
        /// Its size.
        bytes: u64,
    },
    /// The server asked to wait.
    Throttled {
        /// Why.
        class: ReplyClass,
        /// For how long.
        wait: Duration,
    },
    /// A folder's pass finished.
    FolderDone {
        /// The folder.
        folder: &'a str,
    },
}

/// Counters of one folder, or of the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Counters {
    /// Messages copied or skipped.
    pub messages_done: u64,
    /// Messages planned.
    pub messages_total: u64,
    /// Bytes copied or skipped.
    pub bytes_done: u64,
    /// Bytes planned.
    pub bytes_total: u64,
    /// Messages skipped.
    pub skipped: u64,
    /// True once the folder's pass finished (overall: every folder's).
    pub done: bool,
}

impl Counters {
    /// Fraction of the bytes done, 0.0 to 1.0 (1.0 when nothing is planned).
    pub fn fraction(&self) -> f64 {
        if self.bytes_total == 0 {
            if self.messages_total == 0 {
                1.0
            } else {
                self.messages_done as f64 / self.messages_total as f64
            }
        } else {
            (self.bytes_done as f64 / self.bytes_total as f64).min(1.0)
        }
    }
}

/// Whether the run is waiting on a server.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ThrottleState {
    /// Copying.
    Running,
    /// Waiting until `until` because of `class`.
    Waiting {
        /// Why.
        class: ReplyClass,
        /// Until when (same clock as `now`).
        until: Duration,
    },
}

/// Progress of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    folders: BTreeMap<String, Counters>,
    waiting: Option<(ReplyClass, Duration)>,
    started: Option<Duration>,
    waited: Duration,
    throttle_events: u64,
}

impl Progress {
    /// Nothing recorded yet.
    pub fn new() -> Self {
        Progress::default()
    }

    fn folder_mut(&mut self, name: &str) -> &mut Counters {
        self.folders.entry(name.to_owned()).or_default()
    }

    /// Records an event that happened at `now`.
    pub fn record(&mut self, now: Duration, event: ProgressEvent<'_>) {
        self.started.get_or_insert(now);
        if !matches!(event, ProgressEvent::Throttled { .. }) {
            // Progress means the wait is over.
            self.waiting = None;
        }
        match event {
            ProgressEvent::FolderPlanned {
                folder,
                messages,
                bytes,
            } => {
                let c = self.folder_mut(folder);
                c.messages_total += messages;
                c.bytes_total += bytes;
                c.done = false;
            }
            ProgressEvent::Copied { folder, bytes } => {
                let c = self.folder_mut(folder);
                c.messages_done += 1;
                c.bytes_done += bytes;
            }
            ProgressEvent::Skipped { folder, bytes } => {
                let c = self.folder_mut(folder);
                c.messages_done += 1;
                c.bytes_done += bytes;
                c.skipped += 1;
            }
            ProgressEvent::Throttled { class, wait } => {
                self.waiting = Some((class, now + wait));
                self.waited += wait;
                self.throttle_events += 1;
            }
            ProgressEvent::FolderDone { folder } => self.folder_mut(folder).done = true,
        }
    }

    /// Counters of one folder.
    pub fn folder(&self, name: &str) -> Option<&Counters> {
        self.folders.get(name)
    }

    /// Counters of every folder, by name.
    pub fn folders(&self) -> impl Iterator<Item = (&str, &Counters)> + '_ {
        self.folders.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// Counters of the whole run.
    pub fn overall(&self) -> Counters {
        let mut total = Counters {
            done: !self.folders.is_empty(),
            ..Counters::default()
        };
        for c in self.folders.values() {
            total.messages_done += c.messages_done;
            total.messages_total += c.messages_total;
            total.bytes_done += c.bytes_done;
            total.bytes_total += c.bytes_total;
            total.skipped += c.skipped;
            total.done &= c.done;
        }
        total
    }

    /// Whether the run is waiting at `now`.
    pub fn throttle(&self, now: Duration) -> ThrottleState {
        match self.waiting {
            Some((class, until)) if now < until => ThrottleState::Waiting { class, until },
            _ => ThrottleState::Running,
        }
    }

    /// How many times a server asked to wait, and the total wait asked.
    pub fn throttled(&self) -> (u64, Duration) {
        (self.throttle_events, self.waited)
    }

    /// Time left: the remaining bytes at the throughput seen so far
    /// (throttle waits included, since they will recur), never less than
    /// the `limits` allow (`left_today`: bytes left in the daily window,
    /// `u64::MAX` when unknown) and never less than a pending wait. `None`
    /// before anything was copied, or when the limits make it unbounded.
    pub fn eta(&self, now: Duration, limits: &Limits, left_today: u64) -> Option<Duration> {
        let total = self.overall();
        let bytes_left = total.bytes_total.saturating_sub(total.bytes_done);
        let messages_left = total.messages_total.saturating_sub(total.messages_done);
        if bytes_left == 0 && messages_left == 0 {
            return Some(Duration::ZERO);
        }
        let floor = limits.transfer_time(bytes_left, messages_left, left_today)?;
        let elapsed = now.saturating_sub(self.started?);
        let observed = if total.bytes_done > 0 && !elapsed.is_zero() {
            let rate = total.bytes_done as f64 / elapsed.as_secs_f64();
            Duration::try_from_secs_f64(bytes_left as f64 / rate).ok()
        } else if total.messages_done > 0 && !elapsed.is_zero() {
            let rate = total.messages_done as f64 / elapsed.as_secs_f64();
            Duration::try_from_secs_f64(messages_left as f64 / rate).ok()
        } else {
            None
        }?;
        let pending = match self.throttle(now) {
            ThrottleState::Waiting { until, .. } => until - now,
            ThrottleState::Running => Duration::ZERO,
        };
        Some(observed.max(floor).max(pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_eta() {
        let s = Duration::from_secs;
        let mut p = Progress::new();
        assert_eq!(p.overall().fraction(), 1.0);
        p.record(
            s(0),
            ProgressEvent::FolderPlanned {
                folder: "INBOX",
                messages: 4,
                bytes: 400,
            },
        );
        p.record(
            s(0),
            ProgressEvent::FolderPlanned {
                folder: "Sent",
                messages: 1,
                bytes: 600,
            },
        );
        assert_eq!(
            p.eta(s(0), &Limits::default(), u64::MAX),
            None,
            "no rate yet"
        );
        p.record(
            s(10),
            ProgressEvent::Copied {
                folder: "INBOX",
                bytes: 100,
            },
        );
        p.record(
            s(10),
            ProgressEvent::Skipped {
                folder: "INBOX",
                bytes: 100,
            },
        );
        let inbox = *p.folder("INBOX").unwrap();
        assert_eq!(
            (inbox.messages_done, inbox.bytes_done, inbox.skipped),
            (2, 200, 1)
        );
        assert_eq!(p.overall().fraction(), 0.2);
        // 200 bytes in 10 s: 800 left take 40 s.
        assert_eq!(p.eta(s(10), &Limits::default(), u64::MAX), Some(s(40)));
        // A 1 byte/s limit makes it 800 s.
        let slow = Limits {
            bytes_per_second: Some(1.0),
            ..Limits::default()
        };
        assert_eq!(p.eta(s(10), &slow, u64::MAX), Some(s(800)));
        p.record(
            s(10),
            ProgressEvent::Throttled {
                class: ReplyClass::Throttled { retry_after: None },
                wait: s(300),
            },
        );
        assert!(
            matches!(p.throttle(s(11)), ThrottleState::Waiting { until, .. } if until == s(310))
        );
        assert_eq!(p.eta(s(11), &Limits::default(), u64::MAX), Some(s(299)));
        assert_eq!(p.throttle(s(400)), ThrottleState::Running);
        assert_eq!(p.throttled(), (1, s(300)));
        assert!(!p.overall().done);
        p.record(s(500), ProgressEvent::FolderDone { folder: "INBOX" });
        p.record(s(500), ProgressEvent::FolderDone { folder: "Sent" });
        assert!(p.overall().done);
        assert_eq!(
            p.folders().map(|(n, _)| n).collect::<Vec<_>>(),
            ["INBOX", "Sent"]
        );
    }
}
