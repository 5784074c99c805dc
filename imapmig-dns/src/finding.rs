//! Findings: what a check says about a domain, with a severity.

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
    /// A stable code, such as `mx-leftover` or `spf-lookup-limit`.
    pub code: &'static str,
    /// A sentence for a person.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<8} {}: {}", self.severity, self.code, self.message)
    }
}
