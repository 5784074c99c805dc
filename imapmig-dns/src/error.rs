//! The crate's error type.

/// Everything that can go wrong in imapmig-dns.
///
/// Verdicts (an SPF `fail`, a blocking cutover finding) are not errors: they
/// are values in [`crate::spf::SpfResult`] and [`crate::report::Verdict`].
/// An `Error` means the input could not be read at all or the network failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A domain name is not valid.
    #[error("invalid domain name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// An SPF record does not follow the RFC 7208 grammar.
    #[error("spf syntax error at byte {position}: {reason}")]
    SpfSyntax {
        /// Byte offset into the record text.
        position: usize,
        /// What was expected or found.
        reason: &'static str,
    },
    /// A DMARC record does not follow RFC 7489.
    #[error("dmarc record error at byte {position}: {reason}")]
    DmarcSyntax {
        /// Byte offset into the record text.
        position: usize,
        /// What was expected or found.
        reason: &'static str,
    },
    /// A DKIM key record does not follow RFC 6376 §3.6.1.
    #[error("dkim key record error at byte {position}: {reason}")]
    DkimSyntax {
        /// Byte offset into the record text.
        position: usize,
        /// What was expected or found.
        reason: &'static str,
    },
    /// A public key's DER encoding is malformed.
    #[error("der error at byte {position}: {reason}")]
    Der {
        /// Byte offset into the decoded key.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A zone file line could not be read.
    #[error("zone file line {line}: {reason}")]
    Zone {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// A DNS message could not be encoded or decoded, or failed a check.
    #[error("dns message error: {reason}")]
    Wire {
        /// What was wrong.
        reason: String,
    },
    /// No answer within the time allowed, after all retries.
    #[error("dns timeout asking {server} for {name} {rtype}")]
    Timeout {
        /// The server asked.
        server: std::net::SocketAddr,
        /// The name asked for.
        name: String,
        /// The record type asked for.
        rtype: crate::RecordType,
    },
    /// The server answered with a failure code (SERVFAIL, REFUSED, ...).
    #[error("dns server failure for {name} {rtype}: {rcode}")]
    ServerFailure {
        /// The name asked for.
        name: String,
        /// The record type asked for.
        rtype: crate::RecordType,
        /// The response code, as text.
        rcode: String,
    },
    /// A socket operation failed.
    #[error("dns i/o error talking to {server}: {reason}")]
    Io {
        /// The server.
        server: std::net::SocketAddr,
        /// The operating system's message.
        reason: String,
    },
}
