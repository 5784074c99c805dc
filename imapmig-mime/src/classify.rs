//! Classification of a raw message: ok, repairable or corrupt, and why.
//!
//! One walk over the message: the header block of each entity, the MIME tree
//! found by searching for each multipart's delimiter lines (RFC 2046 §5.1.1),
//! and each leaf body checked in its transfer encoding and charset as it is
//! decoded into a small buffer. Line-level checks (NUL, bare line ends, long
//! lines) are `memchr` passes over the whole message.

use std::collections::HashMap;
use std::ops::Range;

use memchr::memmem;

use crate::calendar;
use crate::charset::{self, Charset, TextCheck};
use crate::date::{self, Guarded};
use crate::defect::{Defect, DefectKind, Severity};
use crate::encoded_word::{self, WordDefect};
use crate::header::{self, Field, LineKind, MimeValue};
use crate::limits::Limits;
use crate::transfer::{self, TransferEncoding};

/// The overall verdict on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Verdict {
    /// No defect at all.
    Ok,
    /// Only defects of [`Severity::Repairable`].
    Repairable,
    /// At least one defect of [`Severity::Corrupt`].
    Corrupt,
}

impl Verdict {
    /// `ok`, `repairable` or `corrupt`, as `imapmig mime classify` prints it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Repairable => "repairable",
            Self::Corrupt => "corrupt",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entity of the MIME tree: the message itself, a body part, or a
/// message attached inside it. Parts are listed in document order (a parent
/// before its children).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Part {
    /// Bytes of the whole entity, header and body.
    pub range: Range<usize>,
    /// Bytes of the header block (up to, not including, the empty line).
    pub header: Range<usize>,
    /// Bytes of the body, still transfer-encoded.
    pub body: Range<usize>,
    /// 0 for the message, one more per multipart or attached message.
    pub depth: usize,
    /// Index of the enclosing part.
    pub parent: Option<usize>,
    /// `type/subtype`, lowercase, with RFC 2045's defaults applied.
    pub content_type: String,
    /// The Content-Transfer-Encoding.
    pub transfer_encoding: TransferEncoding,
    /// The `charset` parameter, as written.
    pub charset: Option<String>,
    /// The attachment's file name (`filename` or `name` parameter), as written.
    pub filename: Option<String>,
    /// Whether this part is an attachment: `Content-Disposition: attachment`,
    /// or a file name on a part that is not a multipart or a message.
    pub is_attachment: bool,
}

/// The result of [`classify`]: the verdict, the defects and the MIME parts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Classification {
    /// The verdict: the worst [`Severity`] among the defects.
    pub verdict: Verdict,
    /// The defects, sorted in the vocabulary's order (then by part and offset).
    pub defects: Vec<Defect>,
    /// The MIME tree in document order; empty when the message was not
    /// examined (`empty`, or `too-large` by size).
    pub parts: Vec<Part>,
}

impl Classification {
    /// The distinct defect codes, in the vocabulary's order.
    ///
    /// ```
    /// let c = imapmig_mime::classify(b"Subject: no from\n\nbody\n");
    /// assert_eq!(c.codes(), ["bare-lf", "missing-from", "missing-date", "missing-message-id"]);
    /// ```
    pub fn codes(&self) -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = Vec::new();
        for defect in &self.defects {
            if codes.last() != Some(&defect.code()) {
                codes.push(defect.code());
            }
        }
        codes
    }

    /// Whether a defect of this kind was found.
    pub fn has(&self, kind: DefectKind) -> bool {
        self.defects.iter().any(|d| d.kind == kind)
    }

    /// Whether the verdict is [`Verdict::Ok`].
    pub fn is_ok(&self) -> bool {
        self.verdict == Verdict::Ok
    }
}

/// Classify a raw message with the default [`Limits`].
///
/// Never panics and never fails: any input gets a verdict. See the
/// [crate docs](crate) for what is checked.
///
/// ```
/// use imapmig_mime::{classify, Verdict};
///
/// let good = b"From: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nHello\r\n";
/// assert_eq!(classify(good).verdict, Verdict::Ok);
///
/// let truncated = b"From: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <2@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nstart of a part";
/// let c = classify(truncated);
/// assert_eq!(c.verdict, Verdict::Corrupt);
/// assert_eq!(c.codes(), ["close-boundary-missing"]);
/// ```
pub fn classify(bytes: &[u8]) -> Classification {
    classify_with(bytes, &Limits::default())
}

/// Classify a raw message with explicit [`Limits`].
pub fn classify_with(bytes: &[u8], limits: &Limits) -> Classification {
    let mut scan = Scan {
        bytes,
        limits,
        defects: Vec::new(),
        index: HashMap::new(),
        parts: Vec::new(),
        boundaries: Vec::new(),
        stopped: false,
    };
    if bytes.len() > limits.max_size {
        scan.push(
            DefectKind::TooLarge,
            0..bytes.len(),
            0,
            Some("message larger than the size limit"),
        );
    } else if bytes.trim_ascii().is_empty() {
        scan.push(DefectKind::Empty, 0..bytes.len(), 0, None);
    } else {
        scan.entity(0..bytes.len(), 0, None, Role::Message { top: true });
        scan.lines();
    }
    scan.finish()
}

/// What an entity is to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// A message: the top-level one has required header fields.
    Message { top: bool },
    /// A body part of a multipart; `digest` makes message/rfc822 the default type.
    BodyPart { digest: bool },
}

/// What the header block of an entity said.
#[derive(Debug, Default)]
struct Headers {
    range: Range<usize>,
    body_start: usize,
    fields: usize,
    content_type: Option<Field>,
    transfer_encoding: Option<Field>,
    disposition: Option<Field>,
    from: bool,
    date: Option<Field>,
    message_ids: Vec<Field>,
}

struct Scan<'a> {
    bytes: &'a [u8],
    limits: &'a Limits,
    defects: Vec<Defect>,
    index: HashMap<(DefectKind, usize), usize>,
    parts: Vec<Part>,
    boundaries: Vec<Vec<u8>>,
    stopped: bool,
}

impl Scan<'_> {
    fn push(
        &mut self,
        kind: DefectKind,
        range: Range<usize>,
        part: usize,
        note: Option<&'static str>,
    ) {
        if let Some(&i) = self.index.get(&(kind, part)) {
            self.defects[i].count += 1;
            return;
        }
        self.index.insert((kind, part), self.defects.len());
        self.defects.push(Defect {
            kind,
            range,
            part,
            count: 1,
            note,
        });
    }

    fn finish(mut self) -> Classification {
        self.defects
            .sort_by_key(|d| (d.kind, d.part, d.range.start));
        let verdict = match self.defects.iter().map(|d| d.kind.severity()).max() {
            None => Verdict::Ok,
            Some(Severity::Repairable) => Verdict::Repairable,
            Some(Severity::Corrupt) => Verdict::Corrupt,
        };
        Classification {
            verdict,
            defects: self.defects,
            parts: self.parts,
        }
    }

    /// Parse one entity (header block and body) occupying `range`.
    fn entity(&mut self, range: Range<usize>, depth: usize, parent: Option<usize>, role: Role) {
        if self.stopped {
            return;
        }
        if self.parts.len() >= self.limits.max_parts {
            self.push(
                DefectKind::TooLarge,
                range,
                parent.unwrap_or(0),
                Some("more MIME parts than the limit"),
            );
            self.stopped = true;
            return;
        }
        let index = self.parts.len();
        self.parts.push(Part {
            range: range.clone(),
            header: range.start..range.start,
            body: range.clone(),
            depth,
            parent,
            content_type: String::new(),
            transfer_encoding: TransferEncoding::SevenBit,
            charset: None,
            filename: None,
            is_attachment: false,
        });
        let top = role == Role::Message { top: true };
        let headers = self.header_block(range.clone(), index, top);
        let bytes = self.bytes;
        if top && headers.fields == 0 {
            self.push(DefectKind::NoHeaders, range.start..range.start, index, None);
            self.parts[index].content_type = "text/plain".to_owned();
            return;
        }
        if self.stopped {
            return;
        }
        let body = headers.body_start..range.end;

        let content_type = headers
            .content_type
            .as_ref()
            .map(|f| MimeValue::parse(f.value(bytes)));
        let default_type = match role {
            Role::BodyPart { digest: true } => "message/rfc822",
            _ => "text/plain",
        };
        let mime_type = match &content_type {
            Some(ct) if valid_mime_type(&ct.token) => ct.token.clone(),
            _ => default_type.to_owned(),
        };
        let cte = headers
            .transfer_encoding
            .as_ref()
            .map_or(TransferEncoding::SevenBit, |f| {
                TransferEncoding::from_value(f.value(bytes))
            });
        if cte == TransferEncoding::Unknown
            && let Some(f) = &headers.transfer_encoding
        {
            self.push(
                DefectKind::InvalidCte,
                f.range.clone(),
                index,
                Some("unknown Content-Transfer-Encoding"),
            );
        }
        let disposition = headers
            .disposition
            .as_ref()
            .map(|f| MimeValue::parse(f.value(bytes)));
        let is_container = mime_type.starts_with("multipart/") || mime_type.starts_with("message/");
        let filename = disposition
            .as_ref()
            .and_then(|d| d.param("filename"))
            .or_else(|| content_type.as_ref().and_then(|c| c.param("name")))
            .map(|f| String::from_utf8_lossy(f).into_owned());
        let has_filename_param = filename.is_some()
            || disposition
                .as_ref()
                .is_some_and(|d| d.has_param_prefixed("filename"))
            || content_type
                .as_ref()
                .is_some_and(|c| c.has_param_prefixed("name"));
        let is_attachment = !is_container
            && (disposition
                .as_ref()
                .is_some_and(|d| d.token == "attachment")
                || has_filename_param);
        let charset_label = content_type.as_ref().and_then(|c| c.param("charset"));
        {
            let part = &mut self.parts[index];
            part.header = headers.range.clone();
            part.body = body.clone();
            part.content_type = mime_type.clone();
            part.transfer_encoding = cte;
            part.charset = charset_label.map(|c| String::from_utf8_lossy(c).into_owned());
            part.filename = filename;
            part.is_attachment = is_attachment;
        }
        if top {
            self.required_fields(&headers, index);
        }

        let ct_range = headers
            .content_type
            .as_ref()
            .map_or(headers.range.clone(), |f| f.range.clone());
        if mime_type.starts_with("multipart/") {
            if !cte.is_identity() && cte != TransferEncoding::Unknown {
                self.push(
                    DefectKind::InvalidCte,
                    headers
                        .transfer_encoding
                        .as_ref()
                        .map_or(ct_range.clone(), |f| f.range.clone()),
                    index,
                    Some("a multipart must not have a transfer encoding"),
                );
            }
            let boundary = content_type
                .as_ref()
                .and_then(|c| c.param("boundary"))
                .filter(|b| !b.is_empty())
                .map(<[u8]>::to_vec);
            match boundary {
                None => self.push(DefectKind::NoBoundary, ct_range, index, None),
                Some(b) if self.boundaries.contains(&b) => self.push(
                    DefectKind::NoBoundary,
                    ct_range,
                    index,
                    Some("boundary repeats an enclosing multipart's boundary"),
                ),
                Some(b) => {
                    if depth + 1 > self.limits.depth() {
                        self.push(DefectKind::NestingTooDeep, body, index, None);
                    } else {
                        let digest = mime_type == "multipart/digest";
                        self.boundaries.push(b);
                        let b = self.boundaries.last().cloned().unwrap_or_default();
                        self.multipart(body, &b, depth + 1, index, digest);
                        self.boundaries.pop();
                    }
                }
            }
        } else if mime_type == "message/rfc822"
            && !cte.is_identity()
            && cte != TransferEncoding::Unknown
        {
            // RFC 2046 §5.2.1 (and RFC 2045 §6.4): an encapsulated message is
            // 7bit, 8bit or binary. A body that starts with a header field
            // was not encoded (the declaration is the mistake) and is walked
            // as the message it is; anything else is checked in the encoding
            // it declares, so damage there is reported too.
            self.push(
                DefectKind::InvalidCte,
                headers
                    .transfer_encoding
                    .as_ref()
                    .map_or(ct_range.clone(), |f| f.range.clone()),
                index,
                Some("a message/rfc822 must not have a transfer encoding"),
            );
            let first = header::line_at(bytes, body.start, body.end);
            let plain = matches!(header::line_kind(bytes, first), LineKind::Field { .. });
            if !plain {
                self.leaf(
                    index,
                    body,
                    &mime_type,
                    cte,
                    None,
                    ct_range,
                    is_attachment,
                    None,
                );
            } else if depth + 1 > self.limits.depth() {
                self.push(DefectKind::NestingTooDeep, body, index, None);
            } else {
                self.entity(body, depth + 1, Some(index), Role::Message { top: false });
            }
        } else if (mime_type == "message/rfc822" || mime_type == "message/global")
            && (cte.is_identity() || cte == TransferEncoding::Unknown)
        {
            if bytes[body.clone()].trim_ascii().is_empty() {
                return;
            }
            if depth + 1 > self.limits.depth() {
                self.push(DefectKind::NestingTooDeep, body, index, None);
            } else {
                self.entity(body, depth + 1, Some(index), Role::Message { top: false });
            }
        } else {
            let method = content_type.as_ref().and_then(|c| c.param("method"));
            self.leaf(
                index,
                body,
                &mime_type,
                cte,
                charset_label,
                ct_range,
                is_attachment,
                method,
            );
        }
    }

    /// Walk a header block from `range.start`; report its line defects.
    fn header_block(&mut self, range: Range<usize>, index: usize, top: bool) -> Headers {
        let bytes = self.bytes;
        let end = range.end;
        let mut headers = Headers {
            range: range.start..range.start,
            body_start: end,
            ..Headers::default()
        };
        let mut current: Option<Field> = None;
        let mut first_line = true;
        let mut pos = range.start;
        let header_end;
        loop {
            if pos >= end {
                // Headers may end the input when there is no body (RFC 5322
                // §3.5, RFC 2046 §5.1.1), but not in the middle of a line.
                let unterminated = pos > range.start && !matches!(bytes[pos - 1], b'\n' | b'\r');
                if unterminated {
                    self.push(
                        DefectKind::MissingHeaderBodySeparator,
                        end..end,
                        index,
                        Some("input ends inside the header block"),
                    );
                }
                header_end = end;
                headers.body_start = end;
                break;
            }
            if pos - range.start > self.limits.max_header_bytes {
                self.push(
                    DefectKind::TooLarge,
                    range.start..pos,
                    index,
                    Some("header block larger than the limit"),
                );
                self.stopped = true;
                header_end = pos;
                break;
            }
            let (line, kind) = header::header_line(bytes, pos, end);
            if matches!(kind, LineKind::Field { .. } | LineKind::Continuation)
                && !bytes[line.start..line.content_end].is_ascii()
                && std::str::from_utf8(&bytes[line.start..line.content_end]).is_err()
            {
                self.push(
                    DefectKind::EightBitHeader,
                    line.start..line.end,
                    index,
                    None,
                );
            }
            match kind {
                LineKind::Empty => {
                    header_end = line.start;
                    headers.body_start = line.end;
                    break;
                }
                LineKind::Continuation => {
                    if first_line {
                        self.push(
                            DefectKind::FirstLineContinuation,
                            line.start..line.end,
                            index,
                            None,
                        );
                    } else if let Some(field) = current.as_mut() {
                        field.value.end = line.content_end;
                        field.range.end = line.end;
                    }
                }
                LineKind::Envelope => {
                    self.finish_field(current.take(), &mut headers, index, top);
                    self.push(
                        DefectKind::EnvelopeFromLine,
                        line.start..line.end,
                        index,
                        None,
                    );
                    pos = line.end;
                    continue;
                }
                LineKind::Field { name_end, colon } => {
                    self.finish_field(current.take(), &mut headers, index, top);
                    headers.fields += 1;
                    if headers.fields > self.limits.max_header_fields {
                        self.push(
                            DefectKind::TooLarge,
                            line.start..line.end,
                            index,
                            Some("more header fields than the limit"),
                        );
                        self.stopped = true;
                        header_end = line.start;
                        break;
                    }
                    current = Some(Field {
                        name: line.start..name_end,
                        value: colon + 1..line.content_end,
                        range: line.start..line.end,
                    });
                }
                LineKind::BadName => {
                    self.finish_field(current.take(), &mut headers, index, top);
                    self.push(DefectKind::InvalidHeader, line.start..line.end, index, None);
                }
                LineKind::NoColon => {
                    self.finish_field(current.take(), &mut headers, index, top);
                    // A stray line between fields is an invalid header; a
                    // line followed by more non-fields is the body, started
                    // without the empty line.
                    // A line starting with `--` is a multipart delimiter
                    // line, which only a body can hold: the header block
                    // ran into the body even when part headers follow.
                    let is_delimiter = bytes[line.start..line.content_end].starts_with(b"--");
                    let next_is_field = !is_delimiter
                        && line.end < end
                        && matches!(
                            header::line_kind(bytes, header::line_at(bytes, line.end, end)),
                            LineKind::Field { .. } | LineKind::Envelope
                        );
                    if next_is_field {
                        self.push(DefectKind::InvalidHeader, line.start..line.end, index, None);
                    } else {
                        if headers.fields > 0 || !top {
                            self.push(
                                DefectKind::MissingHeaderBodySeparator,
                                line.start..line.start,
                                index,
                                Some("the body starts without an empty line"),
                            );
                        }
                        header_end = line.start;
                        headers.body_start = line.start;
                        break;
                    }
                }
            }
            first_line = false;
            pos = line.end;
        }
        self.finish_field(current.take(), &mut headers, index, top);
        headers.range = range.start..header_end;
        headers
    }

    /// Record what a complete field says; check its encoded words.
    ///
    /// Most fields are neither one looked for nor hold an encoded word: they
    /// are told apart here, inline, by the name's length and a `=?` search.
    #[inline]
    fn finish_field(
        &mut self,
        field: Option<Field>,
        headers: &mut Headers,
        index: usize,
        top: bool,
    ) {
        let Some(field) = field else {
            return;
        };
        if matches!(field.name.len(), 4 | 10 | 12 | 19 | 25)
            || has_encoded_word_start(field.value(self.bytes))
        {
            self.record_field(field, headers, index, top);
        }
    }

    /// [`Self::finish_field`] for a field that matters.
    #[inline(never)]
    fn record_field(&mut self, field: Field, headers: &mut Headers, index: usize, top: bool) {
        let bytes = self.bytes;
        let value = field.value(bytes);
        if has_encoded_word_start(value) && !is_signature(field.name(bytes)) {
            let start = field.value.start;
            let mut found = Vec::new();
            encoded_word::check(value, &mut |d| found.push(d));
            for defect in found {
                let (kind, offset) = match defect {
                    WordDefect::Malformed(at) => (DefectKind::InvalidEncodedWord, at),
                    WordDefect::UnknownCharset(at) => (DefectKind::UnknownCharset, at),
                    WordDefect::Undecodable(at) => (DefectKind::UndecodableText, at),
                };
                self.push(
                    kind,
                    start + offset..field.value.end,
                    index,
                    Some("in an encoded word"),
                );
            }
        }
        // The names looked for have distinct lengths (those `finish_field` lets
        // through): one comparison at most.
        let name = field.name(bytes);
        let is = |wanted: &str| name.eq_ignore_ascii_case(wanted.as_bytes());
        match name.len() {
            12 if is("content-type") => {
                headers.content_type.get_or_insert(field);
            }
            25 if is("content-transfer-encoding") => {
                headers.transfer_encoding.get_or_insert(field);
            }
            19 if is("content-disposition") => {
                headers.disposition.get_or_insert(field);
            }
            4 if top && is("from") => headers.from = true,
            4 if top && is("date") => {
                headers.date.get_or_insert(field);
            }
            10 if top && is("message-id") => headers.message_ids.push(field),
            _ => {}
        }
    }

    /// From, Date and Message-ID of the top-level message (RFC 5322 §3.6).
    fn required_fields(&mut self, headers: &Headers, index: usize) {
        let bytes = self.bytes;
        let block = headers.range.clone();
        if !headers.from {
            self.push(DefectKind::MissingFrom, block.clone(), index, None);
        }
        match &headers.date {
            None => self.push(DefectKind::MissingDate, block.clone(), index, None),
            Some(field) => match date::is_valid_date(&header::unfold(field.value(bytes))) {
                Guarded::Done(true) => {}
                Guarded::Done(false) => {
                    self.push(DefectKind::InvalidDate, field.range.clone(), index, None);
                }
                Guarded::Panicked => self.push(
                    DefectKind::ParserPanic,
                    field.range.clone(),
                    index,
                    Some("mail-parser panicked on the Date field"),
                ),
            },
        }
        match headers.message_ids.as_slice() {
            [] => self.push(DefectKind::MissingMessageId, block, index, None),
            [only] => {
                if only.value(bytes).trim_ascii().is_empty() {
                    self.push(
                        DefectKind::MissingMessageId,
                        only.range.clone(),
                        index,
                        Some("Message-ID is empty"),
                    );
                }
            }
            [_, second, ..] => self.push(
                DefectKind::DuplicateMessageIdHeader,
                second.range.clone(),
                index,
                None,
            ),
        }
    }

    /// The body parts of a multipart, between its delimiter lines.
    fn multipart(
        &mut self,
        body: Range<usize>,
        boundary: &[u8],
        depth: usize,
        parent: usize,
        digest: bool,
    ) {
        let bytes = self.bytes;
        let hay = &bytes[body.clone()];
        let mut delimiter = Vec::with_capacity(boundary.len() + 2);
        delimiter.extend_from_slice(b"--");
        delimiter.extend_from_slice(boundary);
        let finder = memmem::Finder::new(&delimiter);
        let mut part_start: Option<usize> = None;
        let mut opened = false;
        let mut closed = false;
        let mut search = 0;
        while let Some(i) = finder.find(&hay[search..]) {
            let at = search + i;
            search = at + 1;
            if at > 0 && !matches!(hay[at - 1], b'\n' | b'\r') {
                continue;
            }
            let after = at + delimiter.len();
            let line = header::line_at(hay, after, hay.len());
            let rest = &hay[after..line.content_end];
            let is_close = rest.starts_with(b"--") && is_padding(&rest[2..]);
            if !is_close && !is_padding(rest) {
                continue;
            }
            // The line break before a delimiter belongs to the delimiter.
            let part_end = if at >= 2 && &hay[at - 2..at] == b"\r\n" {
                at - 2
            } else {
                at.saturating_sub(1)
            };
            if let Some(start) = part_start.take() {
                let end = part_end.max(start);
                self.entity(
                    body.start + start..body.start + end,
                    depth,
                    Some(parent),
                    Role::BodyPart { digest },
                );
                if self.stopped {
                    return;
                }
            }
            if is_close {
                closed = true;
                break;
            }
            opened = true;
            part_start = Some(line.end);
            search = line.end.max(search);
        }
        if !opened {
            self.push(
                DefectKind::StartBoundaryMissing,
                body,
                parent,
                Some("no delimiter line with the boundary"),
            );
            return;
        }
        if let Some(start) = part_start {
            self.entity(
                body.start + start..body.end,
                depth,
                Some(parent),
                Role::BodyPart { digest },
            );
        }
        if !closed && !self.stopped {
            self.push(
                DefectKind::CloseBoundaryMissing,
                body.end..body.end,
                parent,
                None,
            );
        }
    }

    /// Check a leaf body: transfer encoding, charset, empty attachment, calendar.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; a struct would only rename them"
    )]
    fn leaf(
        &mut self,
        index: usize,
        body: Range<usize>,
        mime_type: &str,
        cte: TransferEncoding,
        charset_label: Option<&[u8]>,
        ct_range: Range<usize>,
        is_attachment: bool,
        method: Option<&[u8]>,
    ) {
        let data = &self.bytes[body.clone()];
        let is_text = mime_type.starts_with("text/");
        let is_calendar = mime_type == "text/calendar";
        let charset = if is_text {
            Charset::resolve(charset_label)
        } else {
            Charset::Unchecked
        };
        if charset == Charset::Unknown {
            self.push(DefectKind::UnknownCharset, ct_range, index, None);
        }
        let mut calendar_text: Vec<u8> = Vec::new();
        let decoded_len = match cte {
            TransferEncoding::Base64 | TransferEncoding::QuotedPrintable => {
                let decode = is_calendar || matches!(charset, Charset::Lenient | Charset::Known(_));
                let mut check = TextCheck::new(if is_text { charset } else { Charset::Unchecked });
                let mut sink = |chunk: &[u8]| {
                    check.feed(chunk, false);
                    if is_calendar {
                        calendar_text.extend_from_slice(chunk);
                    }
                };
                let result = if cte == TransferEncoding::Base64 {
                    transfer::base64(data, decode, &mut sink)
                } else {
                    transfer::quoted_printable(data, decode, &mut sink)
                };
                check.feed(&[], true);
                match result {
                    Ok(n) => {
                        if check.failed_at().is_some() {
                            self.push(
                                DefectKind::UndecodableText,
                                body.clone(),
                                index,
                                Some("decoded text is invalid in its charset"),
                            );
                        }
                        n
                    }
                    Err(bad) => {
                        let kind = if cte == TransferEncoding::Base64 {
                            DefectKind::InvalidBase64
                        } else {
                            DefectKind::InvalidQuotedPrintable
                        };
                        let at = body.start + bad.offset;
                        self.push(kind, at..(at + 1).min(body.end), index, Some(bad.reason));
                        return;
                    }
                }
            }
            _ => {
                if is_text && let Some(at) = charset::check_text(charset, data) {
                    let at = body.start + at;
                    self.push(DefectKind::UndecodableText, at..at + 1, index, None);
                }
                if is_calendar {
                    calendar_text.extend_from_slice(data);
                }
                data.trim_ascii().len()
            }
        };
        if is_attachment && decoded_len == 0 {
            self.push(DefectKind::EmptyAttachment, body.clone(), index, None);
        }
        if is_calendar && let Err(bad) = calendar::check(&calendar_text, method) {
            let range = if cte.is_identity() {
                let at = body.start + bad.offset.min(data.len());
                at..body.end
            } else {
                body
            };
            self.push(
                DefectKind::CalendarMalformed,
                range,
                index,
                Some(bad.reason),
            );
        }
    }

    /// NUL bytes, bare line ends and overlong lines over the whole message.
    ///
    /// Counts first (vectorised), positions only when a defect is there:
    /// clean mail pays a few passes of counting, not a call per line.
    fn lines(&mut self) {
        let bytes = self.bytes;
        let mut found: Vec<(DefectKind, Range<usize>, usize)> = Vec::new();
        if let Some(first) = memchr::memchr(0, bytes) {
            let count = memchr::memchr_iter(0, bytes).count();
            found.push((DefectKind::NulByte, first..first + 1, count));
        }
        let lfs = memchr::memchr_iter(b'\n', bytes).count();
        let crs = memchr::memchr_iter(b'\r', bytes).count();
        let crlf = if lfs == 0 || crs == 0 {
            0
        } else {
            count_crlf(bytes)
        };
        let bare_count = (lfs - crlf) + (crs - crlf);
        if bare_count > 0 {
            let mut bare = if lfs > crlf {
                memchr::memchr_iter(b'\n', bytes)
                    .find(|&lf| lf == 0 || bytes[lf - 1] != b'\r')
                    .map(|lf| lf..lf + 1)
            } else {
                None
            };
            if crs > crlf {
                let lone = memchr::memchr_iter(b'\r', bytes)
                    .find(|&cr| bytes.get(cr + 1) != Some(&b'\n'))
                    .unwrap_or(0);
                if bare.as_ref().is_none_or(|b| lone < b.start) {
                    bare = Some(lone..lone + 1);
                }
            }
            if let Some(range) = bare {
                found.push((DefectKind::BareLf, range, bare_count));
            }
        }
        if let Some((range, count)) = long_lines(bytes) {
            found.push((DefectKind::LineTooLong, range, count));
        }
        for (kind, range, count) in found {
            let part = self.part_at(range.start);
            self.push(kind, range, part, None);
            if let Some(&i) = self.index.get(&(kind, part)) {
                self.defects[i].count = count;
            }
        }
    }

    /// The deepest part containing `offset` (parts are in document order).
    fn part_at(&self, offset: usize) -> usize {
        self.parts
            .iter()
            .rposition(|p| p.range.contains(&offset))
            .unwrap_or(0)
    }
}

/// How many CR LF pairs `bytes` holds: sixteen byte pairs at a time in a
/// fixed-size loop the compiler turns into vector compares.
fn count_crlf(bytes: &[u8]) -> usize {
    let Some(next) = bytes.get(1..) else {
        return 0;
    };
    let whole = next.len() / 16 * 16;
    let mut count = 0usize;
    for (here, after) in bytes[..whole]
        .chunks_exact(16)
        .zip(next[..whole].chunks_exact(16))
    {
        let here: &[u8; 16] = here.try_into().unwrap_or(&[0; 16]);
        let after: &[u8; 16] = after.try_into().unwrap_or(&[0; 16]);
        let mut pairs = 0u8;
        for k in 0..16 {
            pairs += u8::from(here[k] == b'\r') & u8::from(after[k] == b'\n');
        }
        count += usize::from(pairs);
    }
    // The last bytes, one at a time.
    let mut i = whole;
    while i + 1 < bytes.len() {
        count += usize::from(bytes[i] == b'\r' && bytes[i + 1] == b'\n');
        i += 1;
    }
    count
}

/// Lines whose text (line end excluded; a line ends at LF) is longer than
/// 998 bytes (RFC 5322 §2.1.1): the first one's range and how many.
///
/// Jumps a window of 999 bytes at a time: when the window holds a LF, every
/// line ending in it is short, so only the last LF in it matters.
fn long_lines(bytes: &[u8]) -> Option<(Range<usize>, usize)> {
    const MAX: usize = 998;
    let mut first: Option<Range<usize>> = None;
    let mut count = 0usize;
    let mut start = 0;
    while start < bytes.len() {
        let window_end = (start + MAX + 1).min(bytes.len());
        if let Some(last) = memchr::memrchr(b'\n', &bytes[start..window_end]) {
            start += last + 1;
            continue;
        }
        match memchr::memchr(b'\n', &bytes[window_end..]) {
            Some(i) => {
                let lf = window_end + i;
                let content_end = if bytes[lf - 1] == b'\r' { lf - 1 } else { lf };
                if content_end - start > MAX {
                    count += 1;
                    first.get_or_insert(start..lf + 1);
                }
                start = lf + 1;
            }
            None => {
                if bytes.len() - start > MAX {
                    count += 1;
                    first.get_or_insert(start..bytes.len());
                }
                break;
            }
        }
    }
    first.map(|range| (range, count))
}

/// RFC 2046 §5.1.1 transport padding: white space before the line break.
fn is_padding(rest: &[u8]) -> bool {
    rest.iter().all(|&b| b == b' ' || b == b'\t')
}

/// `type/subtype` with both halves non-empty tokens (RFC 2045 §5.1).
fn valid_mime_type(token: &str) -> bool {
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    token
        .split_once('/')
        .is_some_and(|(t, s)| is_token(t) && is_token(s))
}

/// Whether `=?` occurs (cheaper than a substring search on short values).
fn has_encoded_word_start(value: &[u8]) -> bool {
    // Most values are short: a plain loop costs less than a `memchr` call.
    if value.len() <= 32 {
        let mut i = 1;
        while i < value.len() {
            if value[i] == b'?' && value[i - 1] == b'=' {
                return true;
            }
            i += 1;
        }
        return false;
    }
    memchr::memchr_iter(b'=', value).any(|i| value.get(i + 1) == Some(&b'?'))
}

/// DKIM and ARC signature fields carry copied header text, not encoded words.
fn is_signature(name: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(b"signature") || lower.ends_with(b"-seal")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line checks as one loop over every line: what the counting passes replace.
    fn long_lines_per_line(bytes: &[u8]) -> Option<(Range<usize>, usize)> {
        let mut first = None;
        let mut count = 0;
        let mut start = 0;
        for lf in memchr::memchr_iter(b'\n', bytes) {
            let content_end = if lf > 0 && bytes[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            if content_end - start > 998 {
                count += 1;
                first.get_or_insert(start..lf + 1);
            }
            start = lf + 1;
        }
        if bytes.len() - start > 998 {
            count += 1;
            first.get_or_insert(start..bytes.len());
        }
        first.map(|range| (range, count))
    }

    #[test]
    fn long_lines_at_the_limit() {
        let line = |n: usize, end: &str| format!("{}{end}", "a".repeat(n));
        for end in ["\n", "\r\n"] {
            let text = [line(998, end), line(999, end), line(5, end), line(2000, "")].concat();
            let got = long_lines(text.as_bytes());
            assert_eq!(got, long_lines_per_line(text.as_bytes()));
            assert_eq!(got.map(|(_, n)| n), Some(2));
        }
        assert_eq!(long_lines(b""), None);
    }

    proptest::proptest! {
        #[test]
        fn counting_passes_agree_with_a_loop_per_line(
            text in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'\r', b'\n', b'a', b'a', b'a', b'a']),
                0..4000,
            )
        ) {
            let pairs = text.windows(2).filter(|w| w == b"\r\n").count();
            proptest::prop_assert_eq!(count_crlf(&text), pairs);
            proptest::prop_assert_eq!(long_lines(&text), long_lines_per_line(&text));
        }
    }
}
