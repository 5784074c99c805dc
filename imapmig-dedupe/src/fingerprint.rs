//! Keyed 128-bit message fingerprints by three strategies.
//!
//! | strategy | input | same fingerprint despite | use it when |
//! |---|---|---|---|
//! | [`Strategy::MessageId`] | the normalised Message-ID | everything but the id | the id is [usable](crate::MessageIdStatus::usable) and you trust the generator |
//! | [`Strategy::Headers`] | the fields of [`HEADER_FIELDS`] (or yours), plus the size if you give it | line endings, folding, RFC 2047 re-encoding, transport headers, body changes | the source is throttled: fetch [`FETCH_HEADER_FIELDS`] only |
//! | [`Strategy::Content`] | every header field but the [transport ones](is_transport_field), and the body | line endings, folding, RFC 2047 re-encoding, added `Received`/`X-*`/... fields, trailing blank lines | you have the whole message (the default for a verdict) |
//!
//! # Normalisation
//!
//! Field names are compared case-insensitively. A value is unfolded, its
//! RFC 2047 encoded words are decoded (so `=?utf-8?q?Caf=C3=A9?=`,
//! `=?UTF-8?B?Q2Fmw6k=?=` and a raw UTF-8 `Café` agree), and white space runs
//! become one space; a value that is not UTF-8 is compared as bytes. The
//! `Message-ID` field is compared by its [normalised](crate::message_id) ids.
//! For the body, CR LF and LF are the same, and trailing blank lines and
//! spaces are ignored. Nothing else is: a body re-encoded by a relay (8bit to
//! quoted-printable) is a different body; address fields are compared as
//! text, so `"Jörg" <j@x>` and `=?utf-8?q?J=C3=B6rg?= <j@x>` differ by their
//! quotes.
//!
//! # Security
//!
//! Fingerprints are BLAKE3 in keyed mode, truncated to 128 bits, with a
//! per-index secret [`FingerprintKey`]. A sender who does not know the key
//! cannot craft a message whose fingerprint equals another message's, so a
//! migration cannot be made to skip a victim's mail as a "duplicate". Keep
//! the key with the index ([`Index`](crate::Index) saves it) and out of logs
//! (its `Debug` output is redacted).

use std::fmt;

use crate::error::Error;
use crate::header::{self, Field};
use crate::message_id::{MessageId, MessageIdStatus, parse_msg_ids, write_plain_id};

/// The header fields of the [`Strategy::Headers`] default, in the spirit of
/// imapsync and mdedup: the fields that a message keeps from its author to
/// every mailbox it lands in.
pub const HEADER_FIELDS: &[&str] = &["Message-ID", "Date", "From", "To", "Cc", "Subject"];

/// The IMAP FETCH item that returns exactly the fields of [`HEADER_FIELDS`]
/// without setting `\Seen` (RFC 3501 §6.4.5). Its response can be given to
/// [`Fingerprinter::headers`] as is.
pub const FETCH_HEADER_FIELDS: &str =
    "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM TO CC SUBJECT)]";

/// Header fields that relays, delivery agents and mail stores add or rewrite
/// in transit. [`Strategy::Content`] leaves them out, together with every
/// field starting with `X-` or `ARC-` (this covers `X-MS-Exchange-*`,
/// `X-Gmail-Labels`, `X-Original-To`, `X-Status`, ...).
pub const TRANSPORT_FIELDS: &[&str] = &[
    "Received",
    "Return-Path",
    "Delivered-To",
    "Envelope-To",
    "Received-SPF",
    "Authentication-Results",
    "DKIM-Signature",
    "DomainKey-Signature",
    "Status",
    "Content-Length",
    "Lines",
];

/// Whether a header field is added in transit (see [`TRANSPORT_FIELDS`]).
///
/// ```
/// use imapmig_dedupe::fingerprint::is_transport_field;
///
/// assert!(is_transport_field(b"received"));
/// assert!(is_transport_field(b"X-MS-Exchange-Organization-SCL"));
/// assert!(is_transport_field(b"ARC-Seal"));
/// assert!(!is_transport_field(b"Subject"));
/// assert!(!is_transport_field(b"List-Id"));
/// ```
pub fn is_transport_field(name: &[u8]) -> bool {
    starts_with_ignore_case(name, b"x-")
        || starts_with_ignore_case(name, b"arc-")
        || TRANSPORT_FIELDS
            .iter()
            .any(|field| field.as_bytes().eq_ignore_ascii_case(name))
}

fn starts_with_ignore_case(name: &[u8], prefix: &[u8]) -> bool {
    name.get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// A 128-bit message fingerprint.
///
/// Other crates take fingerprints as plain `u128` values: convert with
/// [`Fingerprint::as_u128`] and `From`.
///
/// ```
/// use imapmig_dedupe::Fingerprint;
///
/// let fp = Fingerprint::from(0x0123_u128);
/// assert_eq!(u128::from(fp), 0x0123);
/// assert_eq!(fp.to_string(), "00000000000000000000000000000123");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// The fingerprint as a plain integer.
    pub const fn as_u128(self) -> u128 {
        self.0
    }

    /// A fingerprint from a plain integer (as stored by another crate).
    pub const fn from_u128(value: u128) -> Fingerprint {
        Fingerprint(value)
    }
}

impl From<u128> for Fingerprint {
    fn from(value: u128) -> Self {
        Fingerprint(value)
    }
}

impl From<Fingerprint> for u128 {
    fn from(value: Fingerprint) -> Self {
        value.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// The secret key of the keyed fingerprint hash (32 bytes).
///
/// Generate one per index with [`FingerprintKey::generate`]; an
/// [`Index`](crate::Index) stores it and gives it back after loading.
#[derive(Clone, PartialEq, Eq)]
pub struct FingerprintKey([u8; 32]);

impl FingerprintKey {
    /// A new random key from the operating system's random source.
    pub fn generate() -> Result<FingerprintKey, Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(Error::Random)?;
        Ok(FingerprintKey(key))
    }

    /// A key from its bytes (for tests, or a key stored elsewhere).
    pub const fn from_bytes(bytes: [u8; 32]) -> FingerprintKey {
        FingerprintKey(bytes)
    }

    /// The key's bytes, for storing it.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FingerprintKey(<redacted>)")
    }
}

/// How a fingerprint was computed, from the weakest evidence to the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Strategy {
    /// The normalised Message-ID alone.
    MessageId,
    /// A set of header fields (and the size, when known).
    Headers,
    /// All non-transport header fields and the body.
    Content,
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Strategy::MessageId => "message-id",
            Strategy::Headers => "headers",
            Strategy::Content => "content",
        })
    }
}

/// The fingerprints of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFingerprints {
    /// What the `Message-ID` fields say.
    pub message_id: MessageIdStatus,
    /// [`Strategy::MessageId`], present only when the id is usable.
    pub by_message_id: Option<Fingerprint>,
    /// [`Strategy::Headers`].
    pub headers: Fingerprint,
    /// [`Strategy::Content`], present when the whole message was given.
    pub content: Option<Fingerprint>,
}

impl MessageFingerprints {
    /// The fingerprint of one strategy, when it was computed.
    pub fn get(&self, strategy: Strategy) -> Option<Fingerprint> {
        match strategy {
            Strategy::MessageId => self.by_message_id,
            Strategy::Headers => Some(self.headers),
            Strategy::Content => self.content,
        }
    }
}

/// Computes fingerprints with one key and one header field list.
///
/// ```
/// use imapmig_dedupe::{FingerprintKey, Fingerprinter};
///
/// let fingerprinter = Fingerprinter::new(&FingerprintKey::generate()?);
/// let sent = b"Message-ID: <1@example.org>\r\nSubject: Hello\r\n\r\nHi!\r\n";
/// let delivered = b"Received: from mx by mx2\nReturn-Path: <a@example.org>\n\
///     Message-ID: <1@example.org>\nSubject: =?utf-8?q?Hello?=\n\nHi!\n\n";
/// assert_eq!(fingerprinter.content(sent), fingerprinter.content(delivered));
/// assert_eq!(fingerprinter.headers(sent), fingerprinter.headers(delivered));
///
/// let edited = b"Message-ID: <1@example.org>\r\nSubject: Hello\r\n\r\nHi there!\r\n";
/// assert_ne!(fingerprinter.content(sent), fingerprinter.content(edited));
/// # Ok::<(), imapmig_dedupe::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fingerprinter {
    key: FingerprintKey,
    /// Lowercased field names of the header strategy, without repeats,
    /// prepared for [`header::select`].
    names: header::FieldNames,
}

/// Domain separation: one prefix per strategy, so that equal inputs under
/// different strategies never give equal fingerprints.
const TAG_MESSAGE_ID: &[u8] = b"imapmig-dedupe/1/message-id\0";
const TAG_HEADERS: &[u8] = b"imapmig-dedupe/1/headers\0";
const TAG_CONTENT: &[u8] = b"imapmig-dedupe/1/content\0";

impl Fingerprinter {
    /// A fingerprinter with the default [`HEADER_FIELDS`].
    pub fn new(key: &FingerprintKey) -> Fingerprinter {
        let fields: Vec<String> = HEADER_FIELDS
            .iter()
            .map(|f| f.to_ascii_lowercase())
            .collect();
        Fingerprinter {
            key: key.clone(),
            names: header::FieldNames::new(&fields),
        }
    }

    /// A fingerprinter whose header strategy uses `fields` (names are
    /// case-insensitive; repeats are ignored).
    ///
    /// ```
    /// use imapmig_dedupe::{FingerprintKey, Fingerprinter};
    ///
    /// let key = FingerprintKey::from_bytes([7; 32]);
    /// let f = Fingerprinter::with_fields(&key, &["Message-ID", "Subject", "subject"])?;
    /// assert_eq!(f.fetch_item(), "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)]");
    /// assert!(Fingerprinter::with_fields(&key, &["Bad Name"]).is_err());
    /// # Ok::<(), imapmig_dedupe::Error>(())
    /// ```
    pub fn with_fields<S: AsRef<str>>(
        key: &FingerprintKey,
        fields: &[S],
    ) -> Result<Fingerprinter, Error> {
        let mut names: Vec<String> = Vec::with_capacity(fields.len());
        for (position, field) in fields.iter().enumerate() {
            let field = field.as_ref();
            if !header::is_field_name(field.as_bytes()) {
                return Err(Error::FieldName {
                    name: field.to_owned(),
                    position,
                });
            }
            let lower = field.to_ascii_lowercase();
            if !names.contains(&lower) {
                names.push(lower);
            }
        }
        Ok(Fingerprinter {
            key: key.clone(),
            names: header::FieldNames::new(&names),
        })
    }

    /// The key this fingerprinter hashes with.
    pub fn key(&self) -> &FingerprintKey {
        &self.key
    }

    /// The fields of the header strategy, lowercased.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.names.names()
    }

    /// The IMAP FETCH item that returns this fingerprinter's header fields
    /// (equal to [`FETCH_HEADER_FIELDS`] for the default list).
    pub fn fetch_item(&self) -> String {
        let names: Vec<String> = self.names.names().map(str::to_ascii_uppercase).collect();
        format!("BODY.PEEK[HEADER.FIELDS ({})]", names.join(" "))
    }

    fn hasher(&self, tag: &[u8]) -> blake3::Hasher {
        let mut hasher = blake3::Hasher::new_keyed(self.key.as_bytes());
        hasher.update(tag);
        hasher
    }

    /// [`Strategy::MessageId`]: the fingerprint of a normalised Message-ID.
    pub fn message_id(&self, id: &MessageId) -> Fingerprint {
        let mut hasher = self.hasher(TAG_MESSAGE_ID);
        hasher.update(id.as_str().as_bytes());
        finish(&hasher)
    }

    /// [`Strategy::Headers`] from a header block, a full message, or the
    /// response to [`Fingerprinter::fetch_item`]: only this fingerprinter's
    /// fields are read, and the order of different fields does not matter,
    /// so all three give the same result.
    ///
    /// Without a usable Message-ID (see [`Fingerprinter::header_block`]) this
    /// fingerprint rests on Date, From, To, Cc and Subject alone, which two
    /// automated messages can share: add the size
    /// ([`Fingerprinter::headers_with_size`]) or fetch the whole message and
    /// use [`Fingerprinter::content`] before calling such a message a
    /// duplicate.
    pub fn headers(&self, header_block: &[u8]) -> Fingerprint {
        self.headers_selected(header_block, None)
    }

    /// [`Strategy::Headers`] with the message size mixed in (a stricter
    /// match). Both sides must measure the size the same way, for example the
    /// IMAP `RFC822.SIZE` of both servers; a relay that adds a `Received`
    /// field changes it.
    pub fn headers_with_size(&self, header_block: &[u8], size: u64) -> Fingerprint {
        self.headers_selected(header_block, Some(size))
    }

    /// The header strategy in one pass over the block: only the selected
    /// fields are looked at, their values are normalised straight into the
    /// hash input (see [`header::write_normalised`] and
    /// [`write_plain_id`]), and only values that are not of the common forms
    /// take the general path. Falls back to [`Fingerprinter::headers_of`]
    /// when [`header::select`] does not take the block (more than
    /// [`header::MAX_SELECTED`] selected fields). Both give the same fingerprint.
    fn headers_selected(&self, header_block: &[u8], size: Option<u64>) -> Fingerprint {
        let mut selected = header::Selected::new();
        if header::select(header_block, &self.names, &mut selected).is_none() {
            return self.headers_of(&header::split(header_block).fields, size);
        }
        let mut input: Vec<u8> = Vec::with_capacity(512);
        input.extend_from_slice(TAG_HEADERS);
        for (index, (name, is_message_id)) in self.names.hashed().enumerate() {
            // `write_bytes` of the name, prepared once.
            input.extend_from_slice(name);
            let mut count = 0u64;
            for value in selected.values_of(header_block, index) {
                count += 1;
                write_field_value(&mut input, is_message_id, value);
            }
            input.extend_from_slice(&count.to_le_bytes());
        }
        write_size(&mut input, size);
        // One call over the gathered input: the same hash as a keyed
        // `Hasher` fed the same bytes, without its incremental state.
        let hash = blake3::keyed_hash(self.key.as_bytes(), &input);
        let mut first = [0u8; 16];
        first.copy_from_slice(&hash.as_bytes()[..16]);
        Fingerprint(u128::from_le_bytes(first))
    }

    /// [`Fingerprinter::headers`] (with the size when given) by the general
    /// path only, for fuzzing builds (`--cfg fuzzing`): the reference the
    /// one-pass reader and its fast paths must equal.
    #[cfg(fuzzing)]
    #[doc(hidden)]
    pub fn headers_by_general_path(&self, header_block: &[u8], size: Option<u64>) -> Fingerprint {
        self.headers_of(&header::split(header_block).fields, size)
    }

    /// The header strategy over split fields, by the general normalisation
    /// ([`header::normalise_value`], [`parse_msg_ids`]): the reference that
    /// [`Fingerprinter::headers_selected`] agrees with, and its fallback.
    fn headers_of(&self, fields: &[Field<'_>], size: Option<u64>) -> Fingerprint {
        // Small inputs are gathered first: one hash call instead of dozens.
        let mut input: Vec<u8> = Vec::with_capacity(512);
        input.extend_from_slice(TAG_HEADERS);
        for name in self.names.names() {
            write_bytes(&mut input, name.as_bytes());
            let mut count = 0u64;
            for field in fields
                .iter()
                .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            {
                count += 1;
                write_value_general(&mut input, field);
            }
            input.extend_from_slice(&count.to_le_bytes());
        }
        write_size(&mut input, size);
        let mut keyed = blake3::Hasher::new_keyed(self.key.as_bytes());
        keyed.update(&input);
        finish(&keyed)
    }

    /// [`Strategy::Content`]: every non-transport header field (in name
    /// order) and the body with line endings normalised.
    pub fn content(&self, message: &[u8]) -> Fingerprint {
        let split = header::split(message);
        self.content_of(&split)
    }

    fn content_of(&self, split: &header::Split<'_>) -> Fingerprint {
        let mut head: Vec<u8> = Vec::with_capacity(1024);
        let mut fields: Vec<&Field<'_>> = split
            .fields
            .iter()
            .filter(|f| !is_transport_field(f.name))
            .collect();
        // By lowercased name, compared without lowercasing copies. Stable:
        // fields of one name keep their order.
        fields.sort_by(|a, b| {
            a.name
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.name.iter().map(u8::to_ascii_lowercase))
        });
        head.extend_from_slice(&(fields.len() as u64).to_le_bytes());
        for field in &fields {
            head.extend_from_slice(&(field.name.len() as u64).to_le_bytes());
            head.extend(field.name.iter().map(u8::to_ascii_lowercase));
            write_field_value(
                &mut head,
                field.name.eq_ignore_ascii_case(b"message-id"),
                field.value,
            );
        }
        let mut hasher = self.hasher(TAG_CONTENT);
        hasher.update(&head);
        write_body(&mut hasher, split.body);
        finish(&hasher)
    }

    /// All fingerprints of a whole message, with its Message-ID status.
    pub fn message(&self, message: &[u8]) -> MessageFingerprints {
        let split = header::split(message);
        let mut all = self.of_fields(&split.fields, message);
        all.content = Some(self.content_of(&split));
        all
    }

    /// The fingerprints that a header block alone gives (no
    /// [`Strategy::Content`]); `header_block` is typically the response to
    /// [`Fingerprinter::fetch_item`], which includes `Message-ID`.
    pub fn header_block(&self, header_block: &[u8]) -> MessageFingerprints {
        self.of_fields(&header::split(header_block).fields, header_block)
    }

    fn of_fields(&self, fields: &[Field<'_>], header_block: &[u8]) -> MessageFingerprints {
        let id_values: Vec<&[u8]> = fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(b"message-id"))
            .map(|f| f.value)
            .collect();
        let message_id = MessageIdStatus::from_field_values(&id_values);
        let by_message_id = message_id.usable().map(|id| self.message_id(id));
        MessageFingerprints {
            message_id,
            by_message_id,
            headers: self.headers_selected(header_block, None),
            content: None,
        }
    }
}

fn finish(hasher: &blake3::Hasher) -> Fingerprint {
    let hash = hasher.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash.as_bytes()[..16]);
    Fingerprint(u128::from_le_bytes(first))
}

/// Length-prefixed, so that field boundaries are unambiguous.
fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn write_size(out: &mut Vec<u8>, size: Option<u64>) {
    match size {
        Some(size) => {
            out.push(1);
            out.extend_from_slice(&size.to_le_bytes());
        }
        None => out.push(0),
    }
}

/// A field value as [`write_value_general`] writes it, by the fast paths
/// where the value allows them.
fn write_field_value(out: &mut Vec<u8>, is_message_id: bool, value: &[u8]) {
    if is_message_id {
        if write_plain_id(out, value) {
            return;
        }
        if let Ok(ids) = parse_msg_ids(value) {
            write_ids(out, &ids);
            return;
        }
    }
    header::write_normalised(out, value);
}

fn write_ids(out: &mut Vec<u8>, ids: &[MessageId]) {
    let mut text = Vec::new();
    for id in ids {
        if !text.is_empty() {
            text.push(b' ');
        }
        text.extend_from_slice(id.as_str().as_bytes());
    }
    write_bytes(out, &text);
}

/// A field value, normalised by the general path.
fn write_value_general(out: &mut Vec<u8>, field: &Field<'_>) {
    if field.name.eq_ignore_ascii_case(b"message-id")
        && let Ok(ids) = parse_msg_ids(field.value)
    {
        write_ids(out, &ids);
        return;
    }
    write_bytes(out, &header::normalise_value(field.value));
}

/// The body with CR LF read as LF and trailing white space ignored.
fn write_body(hasher: &mut blake3::Hasher, body: &[u8]) {
    let end = body
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    let body = &body[..end];
    let mut rest = body;
    while let Some(cr) = memchr::memchr(b'\r', rest) {
        hasher.update(&rest[..cr]);
        if rest.get(cr + 1) != Some(&b'\n') {
            // A lone CR is a line ending too.
            hasher.update(b"\n");
        }
        rest = &rest[cr + 1..];
    }
    // The body is the last input, so it needs no length prefix.
    hasher.update(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{ProptestConfig, Strategy as Generator, prop, prop_oneof, proptest};

    /// [`Fingerprinter::content_of`] as it was before the fast paths: every
    /// value through the general normalisation.
    fn content_general(f: &Fingerprinter, split: &header::Split<'_>) -> Fingerprint {
        let mut head: Vec<u8> = Vec::new();
        let mut fields: Vec<(Vec<u8>, &Field<'_>)> = split
            .fields
            .iter()
            .filter(|f| !is_transport_field(f.name))
            .map(|f| (f.name.to_ascii_lowercase(), f))
            .collect();
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        head.extend_from_slice(&(fields.len() as u64).to_le_bytes());
        for (name, field) in &fields {
            write_bytes(&mut head, name);
            write_value_general(&mut head, field);
        }
        let mut hasher = f.hasher(TAG_CONTENT);
        hasher.update(&head);
        write_body(&mut hasher, split.body);
        finish(&hasher)
    }

    /// The fast paths give what the general paths give, for the header
    /// strategy (with and without size, default and custom fields) and the
    /// content strategy.
    fn assert_paths_agree(message: &[u8]) {
        let key = FingerprintKey::from_bytes([9; 32]);
        let custom =
            Fingerprinter::with_fields(&key, &["subject", "X-Other", "message-id", "received"])
                .unwrap();
        let split = header::split(message);
        for f in [Fingerprinter::new(&key), custom] {
            let shown = String::from_utf8_lossy(message);
            assert_eq!(
                f.headers(message),
                f.headers_of(&split.fields, None),
                "{shown:?}"
            );
            assert_eq!(
                f.headers_with_size(message, 1234),
                f.headers_of(&split.fields, Some(1234)),
                "{shown:?}"
            );
            assert_eq!(
                f.content_of(&split),
                content_general(&f, &split),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn fast_paths_agree_on_the_corpora() {
        let mut checked = 0;
        // The MIME classification corpus: real-world and broken messages.
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../imapmig-mime/tests/data/classify"
        );
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "eml") {
                assert_paths_agree(&std::fs::read(&path).unwrap());
                checked += 1;
            }
        }
        assert!(checked >= 40, "only {checked} corpus messages");
        // The Message-ID corpus, each input as a Message-ID value.
        let cases = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/message_id/cases.tsv"
        ))
        .unwrap();
        for line in cases
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let input = line
                .split('\t')
                .next()
                .unwrap()
                .replace("\\r", "\r")
                .replace("\\n", "\n");
            assert_paths_agree(format!("Message-ID: {input}\r\nSubject: x\r\n\r\nbody").as_bytes());
            checked += 1;
        }
        // More Message-IDs than the fast path records.
        let many: String = (0..40)
            .map(|i| format!("Message-ID: <{i}@x.org>\r\n"))
            .collect();
        assert_paths_agree(many.as_bytes());
        assert_paths_agree(BASE);
        assert!(checked > 60);
    }

    fn field_name() -> impl Generator<Value = &'static str> {
        prop::sample::select(vec![
            "Message-ID",
            "message-id",
            "MESSAGE-ID",
            "Date",
            "From",
            "To",
            "cc",
            "Subject",
            "SUBJECT ",
            "X-Other",
            "Received",
            "Content-Type",
            // Lines that are not fields, or fields the one-pass reader
            // takes by its slower path: the block ends, or goes on, at the
            // same line on both paths.
            "",
            "Bad\u{7f}Name",
            "N\u{e9}",
            "X\tY",
            "\rSubject",
            "Subject\t",
            "A-Very-Long-Field-Name-Of-Many-Words",
        ])
    }

    fn field_value() -> impl Generator<Value = String> {
        prop_oneof![
            "<[a-zA-Z0-9.+]{1,10}@[a-zA-Z0-9.-]{1,10}>".prop_map(|v| format!(" {v}")),
            "[ \t]{0,2}<[a-zA-Z0-9.\"@ ]{0,10}@[A-Z.\\[\\]]{1,6}>[ ]{0,2}(\\(c\\))?",
            "<[a-z]{1,4}@[a-z]{1,4}> <[a-z]{1,4}@[a-z]{1,4}>",
            "( =?utf-8?[qQbB]?[A-Za-z0-9=_+/]{0,12}\\?=| [a-zA-Z\u{e9}=?_.,]{1,8}|\r\n |\t| =?UTF-8?q?Caf=C3=A9?=| =?iso-8859-1?q?Caf=E9?=){0,6}",
        ]
    }

    fn generated_message() -> impl Generator<Value = Vec<u8>> {
        (
            prop::collection::vec((field_name(), field_value()), 0..12),
            prop::bool::ANY,
            prop::option::of("[a-z ]{0,20}"),
            prop::bool::ANY,
        )
            .prop_map(|(fields, crlf, body, mbox)| {
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut text = String::new();
                if mbox {
                    text.push_str("From someone Mon Jan  1 00:00:00 2024\n");
                }
                for (name, value) in fields {
                    text.push_str(&format!("{name}:{value}{eol}"));
                }
                if let Some(body) = body {
                    text.push_str(eol);
                    text.push_str(&body);
                }
                text.into_bytes()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn fast_paths_agree_on_generated_headers(message in generated_message()) {
            assert_paths_agree(&message);
        }
    }

    fn fingerprinter() -> Fingerprinter {
        Fingerprinter::new(&FingerprintKey::from_bytes([42; 32]))
    }

    const BASE: &[u8] = b"Message-ID: <abc.123@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Caf\xc3\xa9 meeting\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee you there.\r\n-- \r\nAlice\r\n";

    #[test]
    fn same_content() {
        let f = fingerprinter();
        let base = f.content(BASE);
        let lf: Vec<u8> = String::from_utf8_lossy(BASE)
            .replace("\r\n", "\n")
            .into_bytes();
        let variants: Vec<(&str, Vec<u8>)> = vec![
            ("lf", lf.clone()),
            (
                "transport",
                [
                    b"Return-Path: <alice@example.org>\r\nReceived: from a by b; Mon, 1 Jan 2024\r\n\tfolded\r\nDelivered-To: bob@example.net\r\nX-Spam: no\r\nDKIM-Signature: v=1\r\nARC-Seal: i=1\r\nAuthentication-Results: mx; spf=pass\r\n".as_slice(),
                    BASE,
                ]
                .concat(),
            ),
            (
                "refolded",
                String::from_utf8_lossy(BASE)
                    .replace("Subject: Caf\u{e9} meeting", "Subject: Caf\u{e9}\r\n   meeting")
                    .into_bytes(),
            ),
            (
                "rfc2047",
                String::from_utf8_lossy(BASE)
                    .replace("Subject: Caf\u{e9} meeting", "Subject: =?ISO-8859-1?Q?Caf=E9?= meeting")
                    .into_bytes(),
            ),
            ("trailing newline", [BASE, b"\r\n\r\n".as_slice()].concat()),
            (
                "message-id case of domain",
                String::from_utf8_lossy(BASE)
                    .replace("<abc.123@example.org>", "<abc.123@EXAMPLE.org> (x)")
                    .into_bytes(),
            ),
            (
                "exchange headers between fields",
                String::from_utf8_lossy(BASE)
                    .replace("MIME-Version", "X-MS-Exchange-Organization-AuthAs: Internal\r\nMIME-Version")
                    .into_bytes(),
            ),
        ];
        for (name, variant) in &variants {
            assert_eq!(f.content(variant), base, "content: {name}");
            assert_eq!(f.headers(variant), f.headers(BASE), "headers: {name}");
        }
    }

    #[test]
    fn different_content() {
        let f = fingerprinter();
        let base = f.content(BASE);
        let text = String::from_utf8_lossy(BASE).into_owned();
        let variants: Vec<(&str, String)> = vec![
            ("body", text.replace("See you there.", "See you here.")),
            ("subject", text.replace("meeting", "meting")),
            (
                "list copy",
                text.replace("MIME-Version", "List-Id: <dev.example.org>\r\nMIME-Version"),
            ),
            ("message-id left case", text.replace("abc.123", "ABC.123")),
            (
                "empty body",
                text.split("\r\n\r\n").next().unwrap_or_default().to_owned(),
            ),
            ("line joined", text.replace("-- \r\nAlice", "-- Alice")),
        ];
        for (name, variant) in &variants {
            assert_ne!(f.content(variant.as_bytes()), base, "{name}");
        }
    }

    #[test]
    fn strategies_are_separated() {
        let f = fingerprinter();
        let id = MessageId::parse("<abc.123@example.org>").unwrap();
        let all = f.message(BASE);
        assert_eq!(all.by_message_id, Some(f.message_id(&id)));
        assert_eq!(all.headers, f.headers(BASE));
        assert_eq!(all.content, Some(f.content(BASE)));
        assert_ne!(all.by_message_id, Some(all.headers));
        assert_ne!(Some(all.headers), all.content);
        assert_ne!(
            f.headers(BASE),
            f.headers_with_size(BASE, BASE.len() as u64)
        );
    }

    #[test]
    fn header_fetch_response_matches_full_message() {
        let f = fingerprinter();
        // What Dovecot returns for FETCH_HEADER_FIELDS: the fields in message order, then CRLF.
        let response = b"Message-ID: <abc.123@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Caf\xc3\xa9 meeting\r\n\r\n";
        assert_eq!(f.headers(response), f.headers(BASE));
        assert_eq!(f.header_block(response).headers, f.message(BASE).headers);
        assert_eq!(f.fetch_item(), FETCH_HEADER_FIELDS);
    }

    #[test]
    fn keys_matter() {
        let a = Fingerprinter::new(&FingerprintKey::from_bytes([1; 32]));
        let b = Fingerprinter::new(&FingerprintKey::from_bytes([2; 32]));
        assert_ne!(a.content(BASE), b.content(BASE));
        assert_ne!(
            FingerprintKey::generate().unwrap(),
            FingerprintKey::generate().unwrap()
        );
        assert_eq!(format!("{:?}", a.key()), "FingerprintKey(<redacted>)");
    }

    #[test]
    fn message_id_field_order_and_repeats() {
        let f = fingerprinter();
        let one = b"To: a@x\r\nTo: b@x\r\n\r\n";
        let swapped = b"To: b@x\r\nTo: a@x\r\n\r\n";
        let joined = b"To: a@x b@x\r\n\r\n";
        assert_ne!(f.headers(one), f.headers(swapped));
        assert_ne!(f.headers(one), f.headers(joined));
    }
}
