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
    use crate::report::{CheckOptions, CutoverReport, Verdict, cutover_report_with};
    use crate::timeline::TimelineStatus;
    use chrono::{TimeDelta, TimeZone, Utc};

    /// A whole report, findings included, survives a round trip through
    /// text that is dropped before it is used: nothing borrows from it.
    #[test]
    fn a_report_round_trips_from_owned_text() -> Result<(), Box<dyn std::error::Error>> {
        let zone = ZoneResolver::from_zone_text(
            "old.test",
            "@ 86400 MX 10 mx.old.test.\n\
             mx 300 A 192.0.2.2\n\
             @ TXT \"v=spf1 -all\"\n\
             @ TXT \"v=spf1 mx -all\"\n\
             _dmarc TXT \"v=DMARC1; p=none; rua=mailto:d@old.test!10m\"\n\
             k1._domainkey TXT \"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"\n",
        )?;
        let now = Utc
            .with_ymd_and_hms(2026, 3, 1, 0, 0, 0)
            .single()
            .ok_or("no such time")?;
        let mut options = CheckOptions::new(now);
        options.expect_mx = vec!["mx.new.test".parse()?];
        options.dkim_selectors = vec!["k1".to_owned(), "gone".to_owned()];
        options.cutover = Some(now + TimeDelta::hours(12));
        let report = cutover_report_with(
            &zone,
            &[("auth".to_owned(), &zone)],
            &"old.test".parse()?,
            &options,
        );
        assert_eq!(report.verdict, Verdict::Blocking, "{report}");
        assert!(report.split_brain.is_some() && report.dmarc.record.is_some());
        assert_eq!(report.dkim.len(), 2);
        assert_eq!(
            report.timeline.map(|t| t.status),
            Some(TimelineStatus::TooLate)
        );

        let text: String = serde_yaml::to_string(&report)?;
        let read: CutoverReport = serde_yaml::from_str(&text)?;
        drop(text);
        assert_eq!(read, report);
        assert_eq!(read.to_string(), report.to_string());
        assert!(
            read.findings.iter().any(|f| f.code == "mx-leftover"),
            "{read}"
        );
        assert!(
            read.findings
                .iter()
                .all(|f| matches!(f.code, Cow::Owned(_)))
        );
        // A name that does not parse is refused, not taken as is.
        let bad =
            serde_yaml::to_string(&report)?.replacen("domain: old.test", "domain: a..test", 1);
        assert!(serde_yaml::from_str::<CutoverReport>(&bad).is_err());
        Ok(())
    }
}
