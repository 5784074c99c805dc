//! Mailbox names for IMAP migrations: modified UTF-7, hierarchy delimiters
//! and namespaces, rename rules with `[SKIP]`, special-use folders, Gmail's
//! labels, and a collision-checked folder map between two servers.
//!
//! Servers disagree on how folders are named: `INBOX.Sent` on a Courier or
//! Cyrus server with `.` and an `INBOX.` prefix is `Sent` on a Dovecot with
//! `/`, `Sent Items` on Exchange and `[Gmail]/Sent Mail` on Gmail, where
//! every label is also a folder and All Mail holds every message once more.
//! A migration that copies folder names blindly gets folders that look
//! wrong, multiply or vanish. This crate turns what two servers said into a
//! [`FolderPlan`]: every source folder with its target (or a skip) and the
//! reason, refused when two sources would land on one target.
//!
//! # Example
//!
//! ```
//! use imapmig_folders::{GmailPolicy, Listing, Mapper, Rules};
//!
//! // What the servers answered to NAMESPACE and LIST "" "*".
//! let source = Listing::parse(
//!     b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n\
//!       * LIST (\\HasNoChildren) \"/\" INBOX\r\n\
//!       * LIST (\\All \\HasNoChildren) \"/\" \"[Gmail]/All Mail\"\r\n\
//!       * LIST (\\Sent \\HasNoChildren) \"/\" \"[Gmail]/Sent Mail\"\r\n\
//!       * LIST (\\HasNoChildren) \"/\" \"Work/&AMk-coles\"\r\n\
//!       * LIST (\\HasNoChildren) \"/\" \"Releases v1.2\"\r\n",
//! )?;
//! let target = Listing::parse(
//!     b"* NAMESPACE ((\"INBOX.\" \".\")) NIL NIL\r\n\
//!       * LIST (\\HasChildren) \".\" INBOX\r\n\
//!       * LIST (\\HasNoChildren \\Sent) \".\" INBOX.Sent\r\n",
//! )?;
//! let rules: Rules = r"^Releases (.*)$ -> Releases/$1".parse()?;
//!
//! let plan = Mapper::from_listings(&source, &target)?
//!     .rules(rules)
//!     .gmail(GmailPolicy::default())
//!     .plan(&source)?;
//! plan.check()?; // no two folders land on one target
//!
//! let t = |s: &str| plan.target_of(s).map(|n| n.as_str().to_owned());
//! assert_eq!(t("INBOX").as_deref(), Some("INBOX"));
//! assert_eq!(t("[Gmail]/All Mail"), None); // skipped...
//! assert_eq!(plan.archive_target().unwrap().as_str(), "INBOX.Archive"); // ...archived-only mail goes here
//! assert_eq!(t("[Gmail]/Sent Mail").as_deref(), Some("INBOX.Sent")); // special-use
//! assert_eq!(plan.target_of("Work/Écoles").unwrap().wire(), b"INBOX.Work.&AMk-coles"); // for CREATE/SELECT
//! assert_eq!(t("Releases v1.2").as_deref(), Some("INBOX.Releases.v1_2")); // rule, then escape
//!
//! let create: Vec<_> = plan.creation_order().into_iter().map(|(n, _)| n.to_string()).collect();
//! assert_eq!(create, ["INBOX.Archive", "INBOX.Releases", "INBOX.Work", "INBOX.Releases.v1_2", "INBOX.Work.Écoles"]);
//! # Ok::<(), imapmig_folders::Error>(())
//! ```
//!
//! # What is in here
//!
//! - [`mutf7`]: modified UTF-7 (RFC 3501 §5.1.3), strict and lossless.
//! - [`MailboxName`]: the raw bytes a server sent and the decoded text, so
//!   an 8-bit name from a broken server can be selected again.
//! - [`Listing`], [`ListEntry`], [`Namespaces`]: LIST/LSUB (with literals,
//!   `NIL` delimiters, LIST-EXTENDED, special-use and XLIST attributes) and
//!   NAMESPACE (RFC 2342) parsed from raw response bytes.
//! - [`Hierarchy`]: delimiter and personal prefix, detected from NAMESPACE,
//!   `LIST "" ""` or the LIST lines, and translation of names between two
//!   hierarchies with a [`DelimiterEscape`] for components that hold the
//!   target's delimiter.
//! - [`Rules`]: ordered `REGEX -> TARGET` rules with `[SKIP]` and capture groups.
//! - [`SpecialUse`]: roles from RFC 6154/XLIST attributes, then from names
//!   across providers and languages.
//! - [`TargetProfile`]: what Exchange, Gmail or any IMAP server refuses,
//!   and the documented fix.
//! - [`GmailLabel`], [`GmailPolicy`], [`ArchiveDetector`]: X-GM-LABELS,
//!   All Mail, and the placement of messages with several labels or none.
//! - [`Mapper`] and [`FolderPlan`]: the map, its reasons, its collisions,
//!   the creation order (parents first), and label placement.
//!   [`map_local_names`] does it in one call for a local `/`-separated tree.
//!
//! # Sans-IO, input safety and limits
//!
//! Nothing here does IO: it takes what servers said (bytes, parsed values)
//! and returns values. No function panics on any input. Parsers are linear
//! and bounded: a response at most [`MAX_RESPONSE_LEN`] bytes, a listing at
//! most [`MAX_LISTING_LEN`], a name at most [`MailboxName::MAX_LEN`], an
//! X-GM-LABELS value at most [`MAX_LABELS_LEN`] with [`MAX_LABELS`] labels,
//! a rules file at most [`MAX_RULES`] rules, each regex compiled under
//! [`REGEX_SIZE_LIMIT`]. Errors carry the byte offset or the line and column.
//!
//! # Features
//!
//! - `serde`: `Serialize`/`Deserialize` for names, entries, plans and reports.
//! - `imap-proto`: adapters from imap-proto 0.17's parsed LIST data
//!   (`MailboxListData`, `NameAttribute`) to [`ListEntry`].

mod error;
mod gmail;
mod hierarchy;
#[cfg(feature = "imap-proto")]
mod imap_proto;
pub mod mutf7;
mod name;
mod plan;
mod profile;
mod response;
mod rules;
mod special_use;

pub use error::{Error, Mutf7ErrorKind};
pub use gmail::{
    ArchiveDetector, GmailLabel, GmailPolicy, MAX_LABELS, MAX_LABELS_LEN, MultiLabel, parse_labels,
};
pub use hierarchy::{DelimiterEscape, Hierarchy};
pub use name::{MailboxName, NameEncoding};
pub use plan::{
    Collision, CreateKind, Decision, FolderPlan, Mapper, Placement, PlanEntry, Reason,
    map_local_names,
};
pub use profile::{Adjustment, MAX_COMPONENT_CHARS, TargetProfile};
pub use response::{
    Attribute, ListEntry, ListKind, Listing, MAX_LISTING_LEN, MAX_RESPONSE_LEN, Namespace,
    Namespaces,
};
pub use rules::{MAX_RULES, REGEX_SIZE_LIMIT, RuleAction, RuleMatch, Rules};
pub use special_use::{SpecialUse, is_gmail_root};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
