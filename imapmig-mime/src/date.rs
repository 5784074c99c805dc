//! The `Date` header (RFC 5322 §3.3), parsed by mail-parser behind a panic barrier.

use std::panic::{self, AssertUnwindSafe};

/// The result of running a third-party parser behind the barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guarded<T> {
    Done(T),
    Panicked,
}

/// Run `f`, turning a panic into [`Guarded::Panicked`].
///
/// mail-parser promises not to panic, and fuzzing has held it to that; this
/// barrier is what keeps that promise from being ours. The default panic hook
/// still prints the panic to stderr: that is a bug report worth seeing.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Guarded<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Guarded::Done(value),
        Err(_) => Guarded::Panicked,
    }
}

/// Whether a `Date` value is a valid date-time (RFC 5322 §3.3, obsolete forms
/// of §4.3 included, as mail-parser reads them).
pub(crate) fn is_valid_date(value: &str) -> Guarded<bool> {
    guarded(|| {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return false;
        }
        mail_parser::DateTime::parse_rfc822(trimmed).is_some_and(|dt| dt.is_valid())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let valid = [
            "Mon, 1 Jan 2024 10:00:00 +0000",
            "1 Jan 2024 10:00:00 -0500",
            "Tue, 15 Nov 1994 08:12:31 GMT",
            "Thu, 13 Feb 1969 23:32:54 -0330 (Newfoundland Time)",
            "Fri, 21 Nov 97 09:55:06 GMT",
            "Wed, 03 Jul 2024 17:04:49 +0200",
        ];
        for date in valid {
            assert_eq!(is_valid_date(date), Guarded::Done(true), "{date}");
        }
        let invalid = ["", "yesterday", "not a date at all", "32 Foo 2024"];
        for date in invalid {
            assert_eq!(is_valid_date(date), Guarded::Done(false), "{date}");
        }
    }

    #[test]
    fn barrier_catches_panics() {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(|_| {}));
        let result = guarded(|| -> u8 { panic!("boom") });
        panic::set_hook(previous);
        assert_eq!(result, Guarded::Panicked);
    }
}
