//! DNS checks for a safe email cutover: MX, SPF, DKIM and DMARC.
//!
//! When a domain's mail moves to a new provider, mail is lost or lands in
//! spam in a few predictable ways: resolvers keep the old MX cached for as
//! long as its TTL (split-brain), an MX record for the old host is left
//! behind, the SPF record does not authorise the new provider (or is broken
//! by a second record or by more than 10 lookups), the DKIM key is missing,
//! revoked or weak, the DMARC record is invalid. This crate checks each of
//! these and combines them into a [`CutoverReport`] with a [`Verdict`]:
//! ready, warnings, or blocking.
//!
//! # Example
//!
//! Checking *planned* records before publishing them, with a zone file:
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use imapmig_dns::{CheckOptions, Verdict, ZoneResolver, cutover_report};
//! use imapmig_dns::report::AuthoritativeSource;
//!
//! let planned = ZoneResolver::from_zone_text("example.test", r#"
//! $TTL 300
//! @       MX  10 mx.new-provider.test.
//! @       MX  20 mx.old-host.test.
//! @       TXT "v=spf1 include:_spf.new-provider.test -all"
//! _dmarc  TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.test"
//! mx.new-provider.test.    A   192.0.2.10
//! mx.old-host.test.        A   198.51.100.20
//! _spf.new-provider.test.  TXT "v=spf1 ip4:192.0.2.0/24 -all"
//! "#)?;
//! let mut options = CheckOptions::new(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap());
//! options.expect_mx = vec!["mx.new-provider.test".parse()?];
//! options.authoritative = AuthoritativeSource::Skip;
//! let report = cutover_report(&planned, &"example.test".parse()?, &options);
//! assert_eq!(report.verdict, Verdict::Blocking);
//! assert!(report.findings.iter().any(|f| f.code == "mx-leftover"));
//! println!("{report}");
//! # Ok::<(), imapmig_dns::Error>(())
//! ```
//!
//! SPF on its own, with the RFC 7208 result and a trace of every lookup:
//!
//! ```
//! use imapmig_dns::ZoneResolver;
//! use imapmig_dns::spf::{self, SpfQuery, SpfResult};
//! let zone = ZoneResolver::from_zone_text("example.test", r#"
//! @     TXT "v=spf1 mx include:_spf.example.test ~all"
//! @     MX  10 mx.example.test.
//! mx    A   192.0.2.1
//! _spf  TXT "v=spf1 ip4:198.51.100.0/24 -all"
//! "#)?;
//! let q = SpfQuery::new("198.51.100.7".parse().unwrap(), "ann@example.test", "out.example.test");
//! let outcome = spf::evaluate(&zone, &q);
//! assert_eq!(outcome.result, SpfResult::Pass);
//! assert_eq!(outcome.dns_terms, 2);
//! for step in &outcome.trace {
//!     println!("{step}");
//! }
//! # Ok::<(), imapmig_dns::Error>(())
//! ```
//!
//! # Design
//!
//! The checks are sans-IO: they ask a [`Resolver`]. [`NetworkResolver`] is
//! the small blocking edge (UDP with EDNS0, TCP when truncated, timeouts and
//! retries, a random ID and a fresh socket per query, responses checked
//! against the question in [`wire`]); [`ZoneResolver`] answers from zone text;
//! tests bring their own. Nothing reads the clock: the cutover timeline
//! takes `now` as an input, and SPF limits count lookups, never time.
//!
//! # Input safety and limits
//!
//! Every parser (SPF, DMARC, DKIM, DER keys, zone text, DNS messages)
//! returns a typed [`Error`] with the byte offset or line of the problem and
//! never panics; the fuzz targets `dns_*` check that. Bounds: SPF records
//! 64 KiB, macro expansions 8 KiB, DKIM/DMARC records 16 KiB, DER keys 8 KiB,
//! zone text 4 MiB, CNAME chains 8-16 links, an include tree 64 records.
//! SPF evaluation follows RFC 7208 §4.6.4: 10 DNS-querying terms, 2 void
//! lookups, 10 MX and 10 PTR names per mechanism. Verdicts (`fail`,
//! `blocking`) are values, not errors.
//!
//! # Conformance
//!
//! The openspf.org RFC 7208 suite passes completely (203 of 203) and so does
//! the RFC 4408 suite; see the README for the answers RFC 7208 changed.
//!
//! # Features
//!
//! - `serde`: `Serialize`/`Deserialize` for results, severities and verdicts.

mod der;
pub mod dkim;
pub mod dmarc;
mod error;
mod finding;
pub mod mx;
mod name;
pub mod report;
mod resolver;
pub mod spf;
pub mod splitbrain;
pub mod timeline;
pub mod transport;
pub mod wire;
pub mod zone;

pub use error::Error;
pub use finding::{Finding, Severity};
pub use name::{DomainName, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use report::{CheckOptions, CutoverReport, Verdict, cutover_report};
pub use resolver::{Lookup, Outcome, RData, Record, RecordType, Resolver};
pub use transport::{NetworkResolver, TransportOptions};
pub use zone::ZoneResolver;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
