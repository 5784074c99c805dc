//! Findings: what a check says about a domain, with a severity.

use std::borrow::Cow;
use std::fmt;

/// How much a finding matters for the cutover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Severity {
    /// Worth knowing; changes nothing.
    Info,
    /// Should be fixed; the cutover can go ahead.
    Warning,
    /// Mail will be lost, bounced or marked as spam: do not cut over.
    Blocking,
}

impl Severity {
    /// `info`, `warning` or `blocking`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Blocking => "blocking",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Finding {
    /// How much it matters.
    pub severity: Severity,
    /// A stable code, such as `mx-leftover` or `spf-lookup-limit`: borrowed
    /// when a check made the finding, owned when it was read back (with the
    /// `serde` feature) from a report saved as JSON, YAML...
    pub code: Cow<'static, str>,
    /// A sentence for a person.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity,
            code: Cow::Borrowed(code),
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<8} {}: {}", self.severity, self.code, self.message)
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;
    use crate::ZoneResolver;
    use crate::report::{AuthoritativeSource, CheckOptions, Verdict, cutover_report};
    use chrono::{TimeZone, Utc};

    /// The findings and verdict of a report survive a round trip through
    /// text that is dropped before they are used: nothing borrows from it.
    #[test]
    fn findings_round_trip_from_owned_text() -> Result<(), Box<dyn std::error::Error>> {
        let zone = ZoneResolver::from_zone_text(
            "old.test",
            "@ 86400 MX 10 mx.old.test.\nmx 300 A 192.0.2.2\n@ TXT \"v=spf1 -all\"\n@ TXT \"v=spf1 mx -all\"\n",
        )?;
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .ok_or("no such time")?;
        let mut options = CheckOptions::new(now);
        options.authoritative = AuthoritativeSource::Skip;
        options.expect_mx = vec!["mx.new.test".parse()?];
        let report = cutover_report(&zone, &"old.test".parse()?, &options);
        assert_eq!(report.verdict, Verdict::Blocking, "{report}");
        let saved: (Verdict, Vec<Finding>) = (report.verdict, report.findings.clone());

        let text: String = serde_yaml::to_string(&saved)?;
        let read: (Verdict, Vec<Finding>) = serde_yaml::from_str(&text)?;
        drop(text);
        assert_eq!(read, saved);
        assert!(read.1.iter().any(|f| f.code == "mx-leftover"), "{read:?}");
        assert!(read.1.iter().all(|f| matches!(f.code, Cow::Owned(_))));
        Ok(())
    }
}
