//! Throttling: what a server's reply means, how long to wait, and how
//! long a transfer will take under a provider's limits.
//!
//! Everything here is sans-IO. Functions take `now` (a [`Duration`] since
//! any fixed origin: a process start for rates, the Unix epoch for daily
//! budgets that must survive a restart) and return how long to wait.

use std::time::Duration;

/// What a server reply means for the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ReplyClass {
    /// The command succeeded. `slow_down` is set when the server attached
    /// a throttling hint anyway (Gmail's `OK Success [THROTTLED]`).
    Ok {
        /// The server asked to slow down.
        slow_down: bool,
    },
    /// Rate limited: wait and retry. `retry_after` when the server said
    /// how long (Office 365's "Suggested Backoff Time: N milliseconds").
    Throttled {
        /// The server's hint.
        retry_after: Option<Duration>,
    },
    /// The target mailbox is full (`[OVERQUOTA]`, "Quota exceeded").
    OverQuota,
    /// Too many connections (`[LIMIT]` about connections, "Too many
    /// simultaneous connections"): use fewer, retry later.
    ConnectionLimit,
    /// Transient server trouble (`[UNAVAILABLE]`, `[SERVERBUG]`, `[INUSE]`,
    /// BYE, "Server Unavailable"): reconnect and retry with backoff. The
    /// outcome of a command interrupted by it is unknown.
    Unavailable,
    /// The mailbox does not exist (`[TRYCREATE]`): create it and retry.
    TryCreate,
    /// Credentials refused or expired (`[AUTHENTICATIONFAILED]`,
    /// `[AUTHORIZATIONFAILED]`, `[EXPIRED]`).
    AuthFailed,
    /// Any other NO or BAD: retrying the same command will not help.
    Permanent,
}

impl ReplyClass {
    /// True when the same command may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ReplyClass::Throttled { .. } | ReplyClass::ConnectionLimit | ReplyClass::Unavailable
        )
    }

    /// The server's suggested wait, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ReplyClass::Throttled { retry_after } => *retry_after,
            _ => None,
        }
    }
}

/// The status word of a reply line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Status {
    /// `OK`
    Ok,
    /// `NO`
    No,
    /// `BAD`
    Bad,
    /// `BYE`
    Bye,
    /// `PREAUTH`
    Preauth,
}

/// A status response split into its parts (RFC 3501 §7.1, `resp-cond-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The tag, or `None` for an untagged (`*`) response.
    pub tag: Option<&'a str>,
    /// The status word.
    pub status: Status,
    /// The response code's atom without brackets (`THROTTLED`), if any.
    pub code: Option<&'a str>,
    /// The whole bracketed code with its arguments, if any.
    pub code_text: Option<&'a str>,
    /// The human-readable text after the code.
    pub text: &'a str,
}

/// Splits a status response line. Accepts a tagged or untagged line, with
/// or without the trailing CRLF, or a bare `NO ...` without a tag (as many
/// client libraries report it). `None` when no status word is found.
pub fn parse_reply(line: &str) -> Option<Reply<'_>> {
    let line = line.trim_end_matches(['\r', '\n']).trim_start();
    let (tag, rest) = match split_word(line) {
        (first, rest) if status_word(first).is_some() => (None, (first, rest)),
        ("*", rest) => (None, split_word(rest)),
        (tag, rest) if !tag.is_empty() => (Some(tag), split_word(rest)),
        _ => return None,
    };
    let (word, rest) = rest;
    let status = status_word(word)?;
    let rest = rest.trim_start();
    let (code, code_text, text) = match rest.strip_prefix('[') {
        Some(inner) => match inner.find(']') {
            Some(end) => {
                let bracketed = &inner[..end];
                let atom = bracketed.split(' ').next().unwrap_or("");
                (Some(atom), Some(bracketed), inner[end + 1..].trim_start())
            }
            None => (None, None, rest),
        },
        None => (None, None, rest),
    };
    Some(Reply {
        tag,
        status,
        code,
        code_text,
        text,
    })
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

fn status_word(word: &str) -> Option<Status> {
    [
        ("OK", Status::Ok),
        ("NO", Status::No),
        ("BAD", Status::Bad),
        ("BYE", Status::Bye),
        ("PREAUTH", Status::Preauth),
    ]
    .into_iter()
    .find(|(name, _)| word.eq_ignore_ascii_case(name))
    .map(|(_, status)| status)
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Texts that mean "rate limited" whatever the status or code says
/// (Gmail sends "Account exceeded command or bandwidth limits" under
/// `[OVERQUOTA]`, though the mailbox is not full).
const THROTTLE_TEXTS: &[&str] = &[
    "request is throttled",
    "exceeded command or bandwidth limits",
    "bandwidth limit",
    "rate limit",
    "too many commands",
    "throttl",
];

const CONNECTION_LIMIT_TEXTS: &[&str] = &[
    "too many simultaneous connections",
    "maximum number of connections",
    "too many connections",
    "too many open connections",
    "connection limit",
];

const QUOTA_TEXTS: &[&str] = &[
    "quota exceeded",
    "over quota",
    "overquota",
    "mailbox is full",
    "mailbox full",
    "exceeds quota",
    "exceeded your mail quota",
];

const AUTH_TEXTS: &[&str] = &[
    "authenticate failed",
    "authentication failed",
    "login failed",
    "invalid credentials",
];

const UNAVAILABLE_TEXTS: &[&str] = &[
    "server unavailable",
    "temporar",
    "try again later",
    "system error",
    "not connected",
    "internal error",
];

/// Classifies one server reply line (see [`ReplyClass`]).
///
/// The text is consulted before the code where providers misuse codes,
/// and a retry hint is taken from phrases like "Suggested Backoff Time:
/// 299609 milliseconds", "retry after 30 seconds", "try again in 5
/// minutes". Lines that are not status responses are [`ReplyClass::Permanent`].
///
/// ```
/// use imapmig_core::throttle::{classify, ReplyClass};
/// use std::time::Duration;
/// assert_eq!(
///     classify("1069 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds"),
///     ReplyClass::Throttled { retry_after: Some(Duration::from_millis(299_609)) }
/// );
/// assert_eq!(classify("A3 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"), ReplyClass::OverQuota);
/// ```
pub fn classify(line: &str) -> ReplyClass {
    let Some(reply) = parse_reply(line) else {
        return ReplyClass::Permanent;
    };
    let text = reply.text;
    let code = reply.code.unwrap_or("");
    let is = |name: &str| code.eq_ignore_ascii_case(name);
    let any = |list: &[&str]| list.iter().any(|n| contains_ci(text, n));
    if matches!(reply.status, Status::Ok | Status::Preauth) {
        let slow_down = is("THROTTLED") || contains_ci(text, "[THROTTLED]");
        return ReplyClass::Ok { slow_down };
    }
    if is("THROTTLED") || any(THROTTLE_TEXTS) {
        return ReplyClass::Throttled {
            retry_after: retry_hint(text),
        };
    }
    if any(CONNECTION_LIMIT_TEXTS) {
        return ReplyClass::ConnectionLimit;
    }
    if is("OVERQUOTA") || any(QUOTA_TEXTS) {
        return ReplyClass::OverQuota;
    }
    if is("LIMIT") {
        // RFC 5530: "an operation ran into a limit"; in practice a
        // connection or session cap, or (Cyrus, APPEND) too many copies.
        return if contains_ci(text, "connection") || contains_ci(text, "session") {
            ReplyClass::ConnectionLimit
        } else {
            ReplyClass::Permanent
        };
    }
    if is("TRYCREATE") {
        return ReplyClass::TryCreate;
    }
    if is("AUTHENTICATIONFAILED")
        || is("AUTHORIZATIONFAILED")
        || is("EXPIRED")
        || (!is("UNAVAILABLE") && any(AUTH_TEXTS))
    {
        return ReplyClass::AuthFailed;
    }
    if is("UNAVAILABLE") || is("SERVERBUG") || is("INUSE") || any(UNAVAILABLE_TEXTS) {
        return ReplyClass::Unavailable;
    }
    if reply.status == Status::Bye {
        return ReplyClass::Unavailable;
    }
    ReplyClass::Permanent
}

/// Classifies a transport error: every I/O failure of a connection is
/// transient (reconnect, retry with backoff); the outcome of the command
/// in flight is unknown.
pub fn classify_io(_kind: std::io::ErrorKind) -> ReplyClass {
    ReplyClass::Unavailable
}

/// Finds a wait hint: a number followed by a unit, after one of the
/// phrases servers use. Hints over a day are ignored as nonsense.
fn retry_hint(text: &str) -> Option<Duration> {
    const CUES: &[&str] = &[
        "backoff time",
        "retry after",
        "retry in",
        "try again in",
        "try again after",
        "wait",
    ];
    let lower = text.to_ascii_lowercase();
    for cue in CUES {
        let Some(at) = lower.find(cue) else { continue };
        let rest = lower[at + cue.len()..].trim_start_matches([':', ' ', '=']);
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let Ok(n) = digits.parse::<u64>() else {
            continue;
        };
        let unit = rest[digits.len()..].trim_start();
        let wait = if unit.starts_with("ms") || unit.starts_with("milli") {
            Duration::from_millis(n)
        } else if unit.starts_with("min") {
            Duration::from_secs(n.saturating_mul(60))
        } else if unit.starts_with('h') {
            Duration::from_secs(n.saturating_mul(3600))
        } else {
            Duration::from_secs(n)
        };
        if wait <= Duration::from_secs(86_400) {
            return Some(wait);
        }
    }
    None
}

/// Exponential backoff with jitter, bounded in delay and attempts, that
/// honours a server's hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Backoff {
    /// Delay ceiling for the first retry.
    pub initial: Duration,
    /// Largest delay without a hint.
    pub max: Duration,
    /// Largest hint honoured (a longer one is cut to this).
    pub max_hint: Duration,
    /// Retries before giving up.
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 1 s doubling to 5 min, hints up to 1 h, 10 attempts.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            max_hint: Duration::from_secs(3600),
            max_attempts: 10,
        }
    }
}

impl Backoff {
    /// How long to wait before retry number `attempt + 1` (`attempt` = 0
    /// after the first failure), or `None` to give up.
    ///
    /// Without a hint: "equal jitter", a uniform wait between half and all
    /// of `min(max, initial * 2^attempt)`, so that parallel workers spread
    /// out yet never retry at once. With a hint: the hint (capped at
    /// `max_hint`) plus up to 10 % more.
    pub fn delay(
        &self,
        attempt: u32,
        hint: Option<Duration>,
        rng: &mut impl rand::Rng,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(hint) = hint {
            let hint = hint.min(self.max_hint);
            let extra = rng.random_range(0..=hint.as_millis() as u64 / 10);
            return Some(hint + Duration::from_millis(extra));
        }
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        let cap = self.initial.saturating_mul(factor).min(self.max);
        let cap_ms = cap.as_millis() as u64;
        let wait = cap_ms / 2 + rng.random_range(0..=cap_ms - cap_ms / 2);
        Some(Duration::from_millis(wait))
    }
}

/// A token bucket: `rate` units per second with bursts up to `burst`.
/// Taking more than is available goes into debt, so items larger than the
/// burst still pass, after a proportionate wait.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket. A rate that is not positive and finite means
    /// unlimited.
    pub fn new(rate_per_second: f64, burst: f64) -> Self {
        let burst = if burst.is_finite() {
            burst.max(0.0)
        } else {
            0.0
        };
        TokenBucket {
            rate: rate_per_second,
            burst,
            tokens: burst,
            last: Duration::ZERO,
        }
    }

    fn unlimited(&self) -> bool {
        !(self.rate.is_finite() && self.rate > 0.0)
    }

    /// Takes `amount` units at `now` and returns how long to wait before
    /// using them. `now` going backwards is treated as no time passing.
    pub fn take(&mut self, now: Duration, amount: u64) -> Duration {
        if self.unlimited() {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= amount as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.rate).unwrap_or(Duration::MAX)
        }
    }
}

/// A daily transfer budget (Gmail: 2,500 MB a day of IMAP download,
/// 500 MB of upload). The day is a 24-hour window that opens with the
/// first transfer after the previous window closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DailyBudget {
    limit: u64,
    window_start: Option<Duration>,
    used: u64,
    window: Duration,
}

/// One day.
pub const DAY: Duration = Duration::from_secs(86_400);

impl DailyBudget {
    /// A budget of `bytes_per_day`.
    pub fn new(bytes_per_day: u64) -> Self {
        DailyBudget::with_window(bytes_per_day, DAY)
    }

    /// A budget of `bytes` per `window` instead of per day (a provider
    /// with an hourly quota, or a test that cannot wait a day). A zero
    /// window counts as one second.
    pub fn with_window(bytes: u64, window: Duration) -> Self {
        DailyBudget {
            limit: bytes,
            window_start: None,
            used: 0,
            window: window.max(Duration::from_secs(1)),
        }
    }

    /// The budget in bytes per window.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The length of the window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Gmail's IMAP download limit, 2,500 MB a day.
    pub fn gmail_download() -> Self {
        DailyBudget::new(2_500 * 1_000_000)
    }

    /// Gmail's IMAP upload limit, 500 MB a day.
    pub fn gmail_upload() -> Self {
        DailyBudget::new(500 * 1_000_000)
    }

    /// Bytes still available in the current window at `now`.
    pub fn remaining(&self, now: Duration) -> u64 {
        match self.window_start {
            Some(start) if now < start + self.window => self.limit.saturating_sub(self.used),
            _ => self.limit,
        }
    }

    /// Spends `bytes` and returns how long to wait first: zero while the
    /// window has room, else until the window closes (the bytes count
    /// against the next one). A single item larger than the whole budget
    /// gets a window of its own.
    pub fn take(&mut self, now: Duration, bytes: u64) -> Duration {
        let start = match self.window_start {
            Some(start) if now < start + self.window => start,
            _ => {
                self.window_start = Some(now);
                self.used = 0;
                now
            }
        };
        if self.used == 0 || self.used.saturating_add(bytes) <= self.limit {
            self.used = self.used.saturating_add(bytes);
            return Duration::ZERO;
        }
        let next = start + self.window;
        self.window_start = Some(next);
        self.used = bytes;
        next - now
    }
}

/// A provider's limits, for estimates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Limits {
    /// Sustained bytes per second (the link or the provider), if limited.
    pub bytes_per_second: Option<f64>,
    /// Messages per second (imapsync's `--office2` uses 4), if limited.
    pub messages_per_second: Option<f64>,
    /// Bytes per day, if limited.
    pub bytes_per_day: Option<u64>,
}

impl Limits {
    /// Gmail as a source: 2,500 MB a day of IMAP download.
    pub const GMAIL_SOURCE: Limits = Limits {
        bytes_per_second: None,
        messages_per_second: None,
        bytes_per_day: Some(2_500 * 1_000_000),
    };
    /// Gmail as a target: 500 MB a day of IMAP upload.
    pub const GMAIL_TARGET: Limits = Limits {
        bytes_per_second: None,
        messages_per_second: None,
        bytes_per_day: Some(500 * 1_000_000),
    };
    /// Office 365: about 4 messages a second before throttling.
    pub const OFFICE365: Limits = Limits {
        bytes_per_second: None,
        messages_per_second: Some(4.0),
        bytes_per_day: None,
    };

    /// The tighter of two limits, field by field (source and target).
    pub fn min(self, other: Limits) -> Limits {
        fn pick<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(if b < a { b } else { a }),
                (a, b) => a.or(b),
            }
        }
        Limits {
            bytes_per_second: pick(self.bytes_per_second, other.bytes_per_second),
            messages_per_second: pick(self.messages_per_second, other.messages_per_second),
            bytes_per_day: pick(self.bytes_per_day, other.bytes_per_day),
        }
    }

    /// How long moving `bytes` in `messages` takes under these limits, when
    /// `left_today` bytes remain in the current daily window (pass
    /// `u64::MAX` when unknown or unlimited). Honest across days: each
    /// further day-sized slice waits for a new window, assumed to open a
    /// full day after the current one starts (so the estimate may be up
    /// to a day pessimistic, never optimistic about days). `None` when the
    /// estimate is unbounded (a zero daily limit).
    pub fn transfer_time(&self, bytes: u64, messages: u64, left_today: u64) -> Option<Duration> {
        let rate_time = |b: u64, m: u64| -> f64 {
            let by_bytes = self
                .bytes_per_second
                .filter(|r| *r > 0.0)
                .map_or(0.0, |r| b as f64 / r);
            let by_messages = self
                .messages_per_second
                .filter(|r| *r > 0.0)
                .map_or(0.0, |r| m as f64 / r);
            by_bytes.max(by_messages)
        };
        let secs = match self.bytes_per_day {
            None => rate_time(bytes, messages),
            Some(0) if bytes > 0 => return None,
            Some(limit) => {
                let today = left_today.min(limit);
                if bytes <= today {
                    rate_time(bytes, messages)
                } else {
                    let rest = bytes - today;
                    let days = rest.div_ceil(limit.max(1));
                    let last = rest - (days - 1) * limit;
                    let last_messages = if bytes == 0 {
                        0
                    } else {
                        (messages as f64 * last as f64 / bytes as f64).ceil() as u64
                    };
                    let day_secs = DAY.as_secs_f64() * days as f64;
                    (day_secs + rate_time(last, last_messages)).max(rate_time(bytes, messages))
                }
            }
        };
        Duration::try_from_secs_f64(secs).ok()
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn parse_reply_splits_parts() {
        let r = parse_reply("A00000002 OK Success [THROTTLED]\r\n").unwrap();
        assert_eq!(
            (r.tag, r.status, r.code, r.text),
            (Some("A00000002"), Status::Ok, None, "Success [THROTTLED]")
        );
        let r = parse_reply("* BYE [UNAVAILABLE] Temporary System Error").unwrap();
        assert_eq!(
            (r.tag, r.status, r.code),
            (None, Status::Bye, Some("UNAVAILABLE"))
        );
        let r = parse_reply("NO [APPENDUID 38505 3955] bare").unwrap();
        assert_eq!(
            (r.tag, r.code, r.code_text),
            (None, Some("APPENDUID"), Some("APPENDUID 38505 3955"))
        );
        for junk in ["", "*", "a1", "a1 HELLO there", "+ go ahead"] {
            assert!(parse_reply(junk).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn retry_hints() {
        let cases: &[(&str, Option<u64>)] = &[
            ("Suggested Backoff Time: 299609 milliseconds", Some(299_609)),
            ("please retry after 30 seconds", Some(30_000)),
            ("try again in 5 minutes", Some(300_000)),
            ("wait 2 hours", Some(7_200_000)),
            ("retry after 99999999 seconds", None),
            ("slow down", None),
        ];
        for (text, ms) in cases {
            assert_eq!(retry_hint(text), ms.map(Duration::from_millis), "{text:?}");
        }
    }

    #[test]
    fn backoff_is_bounded_jittered_and_honours_hints() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let b = Backoff::default();
        for attempt in 0..b.max_attempts {
            let cap = b.initial.saturating_mul(1 << attempt.min(20)).min(b.max);
            for _ in 0..50 {
                let d = b.delay(attempt, None, &mut rng).unwrap();
                assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
            }
        }
        assert_eq!(b.delay(b.max_attempts, None, &mut rng), None);
        let hint = Duration::from_millis(299_609);
        let d = b.delay(0, Some(hint), &mut rng).unwrap();
        assert!(d >= hint && d <= hint + hint / 10);
        let d = b
            .delay(3, Some(Duration::from_secs(86_400)), &mut rng)
            .unwrap();
        assert!(d >= b.max_hint && d <= b.max_hint + b.max_hint / 10);
        let waits: std::collections::BTreeSet<_> = (0..20)
            .map(|_| b.delay(5, None, &mut rng).unwrap())
            .collect();
        assert!(waits.len() > 1, "jitter spreads retries");
    }

    #[test]
    fn token_bucket_paces() {
        let mut bucket = TokenBucket::new(100.0, 100.0);
        let t = Duration::from_secs;
        assert_eq!(bucket.take(t(0), 100), Duration::ZERO);
        assert_eq!(bucket.take(t(0), 50), Duration::from_millis(500));
        // After 1.5 s the debt of 50 is repaid and 100 more accrued, capped at the burst.
        assert_eq!(bucket.take(t(2), 100), Duration::ZERO);
        // Larger than the burst: passes after a proportional wait.
        assert_eq!(bucket.take(t(2), 1000), Duration::from_secs(10));
        // Time going backwards is ignored.
        assert!(bucket.take(t(1), 1) > Duration::from_secs(10));
        let mut free = TokenBucket::new(0.0, 0.0);
        assert_eq!(free.take(t(0), u64::MAX), Duration::ZERO);
    }

    #[test]
    fn daily_budget_waits_for_the_next_window() {
        let mut budget = DailyBudget::new(1000);
        let t = Duration::from_secs;
        assert_eq!(budget.take(t(0), 600), Duration::ZERO);
        assert_eq!(budget.remaining(t(10)), 400);
        assert_eq!(budget.take(t(10), 400), Duration::ZERO);
        assert_eq!(budget.take(t(100), 1), DAY - t(100));
        assert_eq!(budget.remaining(DAY), 999);
        // A fresh window after a long pause.
        assert_eq!(budget.take(DAY * 3, 1000), Duration::ZERO);
        // An item bigger than the budget gets its own window.
        let mut small = DailyBudget::new(10);
        assert_eq!(small.take(t(0), 50), Duration::ZERO);
        assert_eq!(small.take(t(1), 1), DAY - t(1));
        let mut hourly = DailyBudget::with_window(100, Duration::from_secs(3600));
        assert_eq!(hourly.take(t(10), 80), Duration::ZERO);
        assert_eq!(hourly.take(t(20), 30), t(3610) - t(20));
        assert_eq!(hourly.remaining(t(3615)), 70);
        assert_eq!((hourly.limit(), hourly.window()), (100, t(3600)));
    }

    #[test]
    fn transfer_time_spans_days() {
        let gb = 1_000_000_000u64;
        let gmail = Limits::GMAIL_SOURCE;
        // 2 GB today fits in one day's budget: no time limit otherwise.
        assert_eq!(
            gmail.transfer_time(2 * gb, 1000, u64::MAX),
            Some(Duration::ZERO)
        );
        // 6 GB with a full budget: 2.5 today, 2.5 tomorrow, 1 the day after.
        assert_eq!(gmail.transfer_time(6 * gb, 1000, u64::MAX), Some(DAY * 2));
        // With half a GB left today: 5.5 GB more need three more windows.
        assert_eq!(gmail.transfer_time(6 * gb, 1000, gb / 2), Some(DAY * 3));
        let linked = Limits {
            bytes_per_second: Some(10_000_000.0),
            ..Limits::GMAIL_SOURCE
        };
        // Two days of waiting plus 1 GB at 10 MB/s.
        assert_eq!(
            linked.transfer_time(6 * gb, 0, u64::MAX),
            Some(DAY * 2 + Duration::from_secs(100))
        );
        let office = Limits::OFFICE365;
        assert_eq!(
            office.transfer_time(gb, 400, u64::MAX),
            Some(Duration::from_secs(100))
        );
        let zero = Limits {
            bytes_per_day: Some(0),
            ..Limits::default()
        };
        assert_eq!(zero.transfer_time(1, 1, 0), None);
        assert_eq!(
            Limits::GMAIL_SOURCE
                .min(Limits::GMAIL_TARGET)
                .min(Limits::OFFICE365),
            Limits {
                bytes_per_second: None,
                messages_per_second: Some(4.0),
                bytes_per_day: Some(500_000_000)
            }
        );
    }
}
