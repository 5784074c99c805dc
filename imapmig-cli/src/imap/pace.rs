//! Throttling as a plan: the run's pace, shared by every folder pair, from imapmig-core's
//! token buckets and daily budgets (`--max-rate`, `--max-bandwidth`, `--provider`,
//! `--target-provider`, `--daily-budget`).
//!
//! Before a batch of messages is fetched, the pair asks the pacer how long to wait; the wait
//! is taken before any body is read, so a budget is never overdrawn by more than one batch.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use imapmig_core::progress::{Progress, ProgressEvent};
use imapmig_core::throttle::{DailyBudget, Limits, TokenBucket};

/// Published limits of the providers `--provider` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Provider {
    /// Gmail: 2,500 MB a day of IMAP download, 500 MB a day of upload.
    Gmail,
    /// Office 365: about 4 messages a second before throttling.
    Office365,
    /// No published limits.
    Generic,
}

impl Provider {
    /// Its limits as a source (what may be downloaded from it).
    pub(crate) fn as_source(self) -> Limits {
        match self {
            Provider::Gmail => Limits::GMAIL_SOURCE,
            Provider::Office365 => Limits::OFFICE365,
            Provider::Generic => Limits::default(),
        }
    }

    /// Its limits as a target (what may be uploaded to it).
    pub(crate) fn as_target(self) -> Limits {
        match self {
            Provider::Gmail => Limits::GMAIL_TARGET,
            Provider::Office365 => Limits::OFFICE365,
            Provider::Generic => Limits::default(),
        }
    }
}

/// The limits a run keeps to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PaceLimits {
    /// Messages per second and bytes per second, the tighter of the operator's and the
    /// providers'; the bytes per window of the daily budget.
    pub(crate) limits: Limits,
    /// The budget's window (a day, unless the operator says otherwise).
    pub(crate) window: Duration,
}

/// What the pacer says before a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pause {
    /// How long to wait before fetching.
    pub(crate) wait: Duration,
    /// Set when the daily budget is spent: the window reopens at this time.
    pub(crate) budget_until: Option<SystemTime>,
}

/// The run's pace, shared by the folder pairs.
#[derive(Debug)]
pub(crate) struct Pacer {
    started: Instant,
    started_wall: SystemTime,
    limits: PaceLimits,
    state: Mutex<PaceState>,
}

#[derive(Debug)]
struct PaceState {
    messages: TokenBucket,
    bytes: TokenBucket,
    budget: Option<DailyBudget>,
    /// imapmig-core's counters and throttle state, for the ETA.
    progress: Progress,
}

impl Pacer {
    /// A pacer for these limits; unlimited fields cost nothing.
    pub(crate) fn new(limits: PaceLimits) -> Self {
        let rate = |r: Option<f64>| r.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(0.0);
        let msgs = rate(limits.limits.messages_per_second);
        let bytes = rate(limits.limits.bytes_per_second);
        Pacer {
            started: Instant::now(),
            started_wall: SystemTime::now(),
            limits,
            state: Mutex::new(PaceState {
                // One second's worth may go at once.
                messages: TokenBucket::new(msgs, msgs.max(1.0)),
                bytes: TokenBucket::new(bytes, bytes.max(1.0)),
                budget: limits
                    .limits
                    .bytes_per_day
                    .map(|b| DailyBudget::with_window(b, limits.window)),
                progress: Progress::new(),
            }),
        }
    }

    /// The limits it keeps to.
    pub(crate) fn limits(&self) -> &PaceLimits {
        &self.limits
    }

    /// Whether any limit is set.
    #[cfg(test)]
    pub(crate) fn is_limited(&self) -> bool {
        let l = &self.limits.limits;
        l.messages_per_second.is_some() || l.bytes_per_second.is_some() || l.bytes_per_day.is_some()
    }

    /// Spends `messages` messages of `bytes` bytes and says how long to wait first.
    pub(crate) fn take(&self, messages: u64, bytes: u64) -> Pause {
        let now = self.started.elapsed();
        let Ok(mut s) = self.state.lock() else {
            return Pause {
                wait: Duration::ZERO,
                budget_until: None,
            };
        };
        let by_rate = s.messages.take(now, messages).max(s.bytes.take(now, bytes));
        let by_budget = s
            .budget
            .as_mut()
            .map_or(Duration::ZERO, |b| b.take(now, bytes));
        Pause {
            wait: by_rate.max(by_budget),
            budget_until: (by_budget > Duration::ZERO).then(|| self.started_wall + now + by_budget),
        }
    }

    /// Bytes still in the current budget window (`u64::MAX` without a budget).
    pub(crate) fn left_in_window(&self) -> u64 {
        let now = self.started.elapsed();
        self.state
            .lock()
            .ok()
            .and_then(|s| s.budget.map(|b| b.remaining(now)))
            .unwrap_or(u64::MAX)
    }

    /// Records what happened, for the ETA.
    pub(crate) fn record(&self, event: ProgressEvent<'_>) {
        let now = self.started.elapsed();
        if let Ok(mut s) = self.state.lock() {
            s.progress.record(now, event);
        }
    }

    /// imapmig-core's ETA for what is still planned: the observed pace, never faster than
    /// the limits allow, across budget windows and through throttling waits.
    pub(crate) fn eta(&self) -> Option<Duration> {
        let now = self.started.elapsed();
        let left = self.left_in_window();
        let limits = self.day_limits();
        let s = self.state.lock().ok()?;
        s.progress.eta(now, &limits, left)
    }

    /// Messages and bytes planned and done so far.
    pub(crate) fn counts(&self) -> (u64, u64, u64, u64) {
        self.state.lock().map_or((0, 0, 0, 0), |s| {
            let c = s.progress.overall();
            (
                c.messages_done,
                c.messages_total,
                c.bytes_done,
                c.bytes_total,
            )
        })
    }

    /// The limits with a shorter budget window scaled to a day (core's estimates count in
    /// days).
    fn day_limits(&self) -> Limits {
        let mut limits = self.limits.limits;
        if self.limits.window != imapmig_core::throttle::DAY {
            let per_day = 86_400.0 / self.limits.window.as_secs_f64().max(1.0);
            limits.bytes_per_day = limits
                .bytes_per_day
                .map(|b| (b as f64 * per_day).min(u64::MAX as f64) as u64);
        }
        limits
    }
}

/// `1d 2h 3m 4s`, shortest form.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(days, "d"), (hours, "h"), (mins, "m")] {
        if n > 0 || !out.is_empty() {
            out.push_str(&format!("{n}{unit} "));
        }
    }
    out.push_str(&format!("{secs}s"));
    out
}

/// A wall-clock time as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacer(msgs: Option<f64>, bytes: Option<f64>, day: Option<u64>, window: u64) -> Pacer {
        Pacer::new(PaceLimits {
            limits: Limits {
                messages_per_second: msgs,
                bytes_per_second: bytes,
                bytes_per_day: day,
            },
            window: Duration::from_secs(window),
        })
    }

    #[test]
    fn unlimited_never_waits() {
        let p = pacer(None, None, None, 86_400);
        assert!(!p.is_limited());
        assert_eq!(p.take(1_000, 1 << 30).wait, Duration::ZERO);
        assert_eq!(p.left_in_window(), u64::MAX);
    }

    #[test]
    fn rates_pace_and_budgets_name_the_reopening() {
        let p = pacer(Some(10.0), None, None, 86_400);
        assert_eq!(p.take(10, 0).wait, Duration::ZERO, "one second's burst");
        let w = p.take(20, 0).wait;
        assert!(w >= Duration::from_millis(1900), "{w:?}");

        let p = pacer(None, None, Some(1_000), 60);
        assert_eq!(p.take(1, 900).budget_until, None);
        let pause = p.take(1, 200);
        assert!(pause.wait > Duration::from_secs(55), "{pause:?}");
        assert!(pause.budget_until.is_some());
    }

    #[test]
    fn eta_counts_budget_windows() {
        let p = pacer(None, None, Some(1_000), 86_400);
        p.record(ProgressEvent::FolderPlanned {
            folder: "INBOX",
            messages: 4,
            bytes: 4_000,
        });
        p.record(ProgressEvent::Copied {
            folder: "INBOX",
            bytes: 1_000,
        });
        assert_eq!(p.take(1, 1_000).wait, Duration::ZERO);
        // 3,000 bytes left at 1,000 a day, today's spent: at least three more days.
        let eta = p.eta().unwrap();
        assert!(eta >= Duration::from_secs(2 * 86_400), "{eta:?}");
        assert_eq!(p.counts(), (1, 4, 1_000, 4_000));
        assert_eq!(human(Duration::from_secs(90_061)), "1d 1h 1m 1s");
        assert_eq!(human(Duration::from_secs(5)), "5s");
    }
}
