//! Safe repairs (see [`repair`]).

use std::borrow::Cow;
use std::ops::Range;

use crate::classify::{Classification, Verdict, classify_with};
use crate::defect::DefectKind;
use crate::eight_bit::{self, Unencoded};
use crate::header::{self, LineKind};
use crate::limits::Limits;
use crate::transfer::TransferEncoding;

/// The result of [`repair`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Repaired<'a> {
    /// The repaired message; borrowed (unchanged) when nothing was repaired.
    pub bytes: Cow<'a, [u8]>,
    /// The defects that were present before and are gone now, in the
    /// vocabulary's order.
    pub fixed: Vec<DefectKind>,
    /// The classification of [`Repaired::bytes`].
    pub after: Classification,
    /// The header fields whose raw 8-bit text was RFC 2047-encoded, by name
    /// in header order; empty unless that repair was asked for
    /// ([`RepairOptions::eight_bit_headers`], [`encode_8bit_headers`]).
    pub encoded: Vec<String>,
    /// The header fields that still hold raw 8-bit bytes because encoding
    /// them would not be safe, each with its reason; empty unless the 8-bit
    /// header repair was asked for.
    pub unencoded: Vec<Unencoded>,
}

impl Repaired<'_> {
    /// The codes of [`Repaired::fixed`].
    pub fn fixed_codes(&self) -> Vec<&'static str> {
        self.fixed.iter().map(|k| k.code()).collect()
    }

    /// Whether the bytes differ from the input.
    pub fn changed(&self) -> bool {
        matches!(self.bytes, Cow::Owned(_))
    }
}

/// Repair a message with the default [`Limits`]: fix what can be fixed
/// without changing what the message says.
///
/// | defect | repair |
/// |---|---|
/// | `bare-lf` | every lone LF and lone CR becomes CRLF (RFC 5322 §2.3; IMAP APPEND needs CRLF, and Cyrus, Exchange and Gmail reject bare newlines) |
/// | `nul-byte` | NUL bytes are deleted |
/// | `envelope-from-line` | mbox `From ` (and `>From `) lines in the top-level header block are deleted: they are the mbox container's, not the message's |
/// | `first-line-continuation` | the leading white space of the first header line is removed, when what remains is a valid field |
/// | `missing-header-body-separator` | the missing line break is inserted where the classification found the body to start (or the unterminated last header line is terminated) |
/// | `line-too-long` | header lines are folded at white space (RFC 5322 §2.2.3), which does not change the field's value |
///
/// **NUL.** RFC 5322 and RFC 2045 forbid NUL in 7bit, 8bit, quoted-printable
/// and base64 content alike, and IMAP (RFC 3501 `CHAR8`) cannot carry it in an
/// ordinary literal; Cyrus rejects such an APPEND. A NUL in those places has
/// no meaning a reader could see (base64 and quoted-printable decoders skip
/// it, text renderers drop it), so deleting it loses nothing. The exception is
/// a `Content-Transfer-Encoding: binary` part, where NUL and bare line ends are
/// data: such a part is left byte for byte as it is, and the defect stays
/// reported (send it with `BINARY`/`literal8`, RFC 3516, or skip it).
///
/// Everything else stays as it is: missing or invalid `Date` and
/// `Message-ID`, damaged encodings and truncated multiparts can only be
/// "fixed" by inventing data, which a migration must not do.
///
/// Repairs are idempotent (repairing a repaired message changes nothing) and
/// never touch a message classified `ok`.
///
/// # Example
///
/// ```
/// let raw = b"From kim@example.org Mon Jan  1 10:00:00 2024\nFrom: kim@example.org\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@example.org>\n\nHello\n";
/// let repaired = imapmig_mime::repair(raw);
/// assert_eq!(repaired.fixed_codes(), ["bare-lf", "envelope-from-line"]);
/// assert_eq!(repaired.after.verdict, imapmig_mime::Verdict::Ok);
/// assert!(repaired.bytes.starts_with(b"From: kim@example.org\r\n"));
/// // Idempotent:
/// assert!(!imapmig_mime::repair(&repaired.bytes).changed());
/// ```
pub fn repair(bytes: &[u8]) -> Repaired<'_> {
    repair_with(bytes, &Limits::default())
}

/// Repair a message with explicit [`Limits`].
pub fn repair_with<'a>(bytes: &'a [u8], limits: &Limits) -> Repaired<'a> {
    let before = classify_with(bytes, limits);
    repair_classified(bytes, before, limits)
}

/// Repairs beyond [`repair`]'s, made only when asked for because they change
/// how the header is written (not what it says).
///
/// ```
/// use imapmig_mime::{RepairOptions, repair_with_options, Limits};
///
/// let raw = "From: Jörg <j@example.org>\nSubject: Grüße\nDate: Mon, 1 Jan 2024 10:00:00 +0000\nMessage-ID: <1@example.org>\n\nHallo\n";
/// let options = RepairOptions::default().with_eight_bit_headers(true);
/// let r = repair_with_options(raw.as_bytes(), &Limits::default(), options);
/// assert_eq!(r.fixed_codes(), ["bare-lf"]);
/// assert_eq!(r.encoded, ["From", "Subject"]);
/// assert!(r.bytes.starts_with(b"From: =?UTF-8?B?SsO2cmc=?= <j@example.org>\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct RepairOptions {
    /// RFC 2047-encode raw 8-bit text in the message's header (see
    /// [`encode_8bit_headers`]). Off by default.
    pub eight_bit_headers: bool,
}

impl RepairOptions {
    /// Turn the 8-bit header repair on or off.
    #[must_use]
    pub fn with_eight_bit_headers(mut self, on: bool) -> Self {
        self.eight_bit_headers = on;
        self
    }
}

/// [`repair_with`], plus the repairs `options` turn on (made after the
/// default ones, on their result).
pub fn repair_with_options<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    options: RepairOptions,
) -> Repaired<'a> {
    let before = classify_with(bytes, limits);
    if !options.eight_bit_headers {
        return repair_classified(bytes, before, limits);
    }
    let original: Vec<DefectKind> = before.defects.iter().map(|d| d.kind).collect();
    let first = repair_classified(bytes, before, limits);
    let pass = eight_bit::encode(&first.bytes);
    let Some(out) = pass.bytes else {
        return Repaired {
            encoded: pass.encoded,
            unencoded: pass.unencoded,
            ..first
        };
    };
    encoded_result(out, original, limits, pass.encoded, pass.unencoded)
}

/// The result of a repair whose last step was the 8-bit header encoding:
/// `out` classified again, and the defects of `before` it no longer has.
fn encoded_result<'a>(
    out: Vec<u8>,
    before: impl IntoIterator<Item = DefectKind>,
    limits: &Limits,
    encoded: Vec<String>,
    unencoded: Vec<Unencoded>,
) -> Repaired<'a> {
    let after = classify_with(&out, limits);
    let mut fixed: Vec<DefectKind> = before.into_iter().filter(|k| !after.has(*k)).collect();
    fixed.dedup();
    Repaired {
        bytes: Cow::Owned(out),
        fixed,
        after,
        encoded,
        unencoded,
    }
}

/// The 8-bit header repair alone: RFC 2047-encode the raw 8-bit text of the
/// message's own header block, where RFC 2047 §5 allows encoded words.
///
/// RFC 5322 headers are 7-bit; raw UTF-8 in them (RFC 6532) is only valid
/// where both ends agreed on it, and legacy 8-bit bytes in other charsets
/// never are. Servers handle such mail differently: Cyrus IMAP replaces
/// every 8-bit header byte by `X` on APPEND by default (`munge8bit`), so the
/// copy's Subject and names are lost. Encoding them first keeps their text.
///
/// * **Where.** Unstructured text (`Subject`, `Comments`,
///   `Content-Description`, `Thread-Topic`, `X-` fields): each run of words
///   holding 8-bit text becomes `=?UTF-8?B?...?=` words. Address lists
///   (`From`, `To`, `Cc`, `Bcc`, `Reply-To`, `Sender`, and `Resent-`):
///   a display name holding 8-bit text becomes encoded words, quotes
///   included in what it says; the address itself never. Nothing else:
///   `Message-ID`, `References`, `Received`, `Date`, `Content-Type` and
///   other structured fields forbid encoded words (RFC 2047 §5), and an
///   8-bit address has no 7-bit form; those fields stay as they are and are
///   listed in [`Repaired::unencoded`] with a [`LeftReason`](crate::LeftReason).
/// * **Charset.** Valid UTF-8 is encoded as UTF-8. Bytes that are not UTF-8
///   are decoded, strictly, in the charset the message's `Content-Type`
///   declares, and encoded as UTF-8; without a declared charset, or when
///   they are not valid in it, the field is left (`no-charset`,
///   `undecodable`).
/// * **Form.** Encoded words are at most 75 characters, split between
///   characters; a field holding one is refolded at its white space to
///   lines of at most 76 characters where its words allow (folding does
///   not change a value, RFC 5322 §2.2.3). White space between a new and an
///   existing encoded word is encoded with the new one, since readers drop
///   white space between adjacent encoded words (RFC 2047 §6.2). Decoding
///   the encoded words gives back the original text.
/// * MIME part headers are not rewritten (Cyrus inspects only the
///   message's own header block).
///
/// Idempotent; a message whose header is 7-bit is returned unchanged
/// (borrowed). [`Repaired::fixed`] lists `eight-bit-header` when the
/// classification had it before and not after.
///
/// # Example
///
/// ```
/// let raw = "From: \"Müller, Jörg\" <j@example.org>\r\n\
///            Subject: Re: Grüße aus Köln\r\n\
///            Message-ID: <größe@example.org>\r\n\
///            Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\nHallo\r\n";
/// let r = imapmig_mime::encode_8bit_headers(raw.as_bytes());
/// assert_eq!(r.encoded, ["From", "Subject"]);
/// let text = std::str::from_utf8(&r.bytes).unwrap();
/// assert!(text.starts_with(
///     "From: =?UTF-8?B?TcO8bGxlciwgSsO2cmc=?= <j@example.org>\r\n\
///      Subject: Re: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\n"
/// ));
/// // A Message-ID cannot hold an encoded word: it stays, and is reported.
/// assert_eq!(r.unencoded.len(), 1);
/// assert_eq!(r.unencoded[0].field, "Message-ID");
/// assert_eq!(r.unencoded[0].reason.code(), "structured-field");
/// // Idempotent:
/// assert!(!imapmig_mime::encode_8bit_headers(&r.bytes).changed());
/// ```
pub fn encode_8bit_headers(bytes: &[u8]) -> Repaired<'_> {
    let pass = eight_bit::encode(bytes);
    let limits = Limits::default();
    let Some(out) = pass.bytes else {
        return Repaired {
            encoded: pass.encoded,
            unencoded: pass.unencoded,
            ..unchanged(bytes, classify_with(bytes, &limits))
        };
    };
    let before = classify_with(bytes, &limits);
    encoded_result(
        out,
        before.defects.iter().map(|d| d.kind),
        &limits,
        pass.encoded,
        pass.unencoded,
    )
}

/// Repair a message already classified with `limits` (saves classifying it again).
pub fn repair_classified<'a>(
    bytes: &'a [u8],
    before: Classification,
    limits: &Limits,
) -> Repaired<'a> {
    if before.verdict == Verdict::Ok || before.parts.is_empty() {
        return unchanged(bytes, before);
    }
    let original: Vec<DefectKind> = before.defects.iter().map(|d| d.kind).collect();
    let mut current: Cow<'a, [u8]> = Cow::Borrowed(bytes);
    let mut classification = before;
    // One round can uncover another: a deleted NUL turns "Fro\0m:" into a
    // field, which then needs its separator. Rounds stop when nothing
    // changes; the cap only bounds adversarial input.
    for _ in 0..MAX_ROUNDS {
        if classification.verdict == Verdict::Ok || classification.parts.is_empty() {
            break;
        }
        match repair_round(&current, &classification) {
            Some(out) => {
                classification = classify_with(&out, limits);
                current = Cow::Owned(out);
            }
            None => break,
        }
    }
    let mut fixed: Vec<DefectKind> = original
        .into_iter()
        .filter(|k| !classification.has(*k))
        .collect();
    fixed.dedup();
    Repaired {
        bytes: current,
        fixed,
        after: classification,
        encoded: Vec::new(),
        unencoded: Vec::new(),
    }
}

const MAX_ROUNDS: usize = 8;

/// One round of repairs; `None` when it would change nothing.
fn repair_round(bytes: &[u8], c: &Classification) -> Option<Vec<u8>> {
    let edits = header_edits(bytes, c);
    let protected: Vec<Range<usize>> = c
        .parts
        .iter()
        .filter(|p| p.transfer_encoding == TransferEncoding::Binary)
        .map(|p| p.body.clone())
        .collect();
    let normalize = c.has(DefectKind::BareLf) || c.has(DefectKind::NulByte);
    if edits.is_empty() && !normalize {
        return None;
    }
    let out = apply(bytes, &edits, &protected, normalize);
    (out != bytes).then_some(out)
}

fn unchanged(bytes: &[u8], classification: Classification) -> Repaired<'_> {
    Repaired {
        bytes: Cow::Borrowed(bytes),
        fixed: Vec::new(),
        after: classification,
        encoded: Vec::new(),
        unencoded: Vec::new(),
    }
}

/// An edit: replace `range` of the input with `with` (an insertion when empty).
#[derive(Debug)]
struct Edit {
    range: Range<usize>,
    with: Vec<u8>,
}

fn header_edits(bytes: &[u8], c: &Classification) -> Vec<Edit> {
    let mut edits = Vec::new();
    if let Some(message) = c.parts.first() {
        let header = message.header.clone();
        let mut pos = header.start;
        let mut first = true;
        while pos < header.end {
            let line = header::line_at(bytes, pos, header.end);
            match header::line_kind(bytes, line) {
                LineKind::Envelope => edits.push(Edit {
                    range: line.start..line.end,
                    with: Vec::new(),
                }),
                LineKind::Continuation if first => {
                    let content = &bytes[line.start..line.content_end];
                    let stripped = content.trim_ascii_start();
                    let probe = header::Line {
                        start: 0,
                        content_end: stripped.len(),
                        end: stripped.len(),
                    };
                    if matches!(header::line_kind(stripped, probe), LineKind::Field { .. }) {
                        edits.push(Edit {
                            range: line.start..line.start + (content.len() - stripped.len()),
                            with: Vec::new(),
                        });
                    }
                    first = false;
                }
                _ => first = false,
            }
            pos = line.end;
        }
    }
    if c.has(DefectKind::LineTooLong) {
        for part in &c.parts {
            fold_long_header_lines(bytes, part.header.clone(), &mut edits);
        }
    }
    for d in &c.defects {
        if d.kind == DefectKind::MissingHeaderBodySeparator {
            edits.push(Edit {
                range: d.range.start..d.range.start,
                with: b"\r\n".to_vec(),
            });
        }
    }
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    // Keep edits disjoint: a later edit overlapping an earlier one is dropped.
    let mut disjoint: Vec<Edit> = Vec::with_capacity(edits.len());
    for edit in edits {
        if disjoint
            .last()
            .is_none_or(|last| edit.range.start >= last.range.end && edit.range != last.range)
        {
            disjoint.push(edit);
        }
    }
    disjoint
}

/// Fold header lines longer than 998 octets at white space (RFC 5322 §2.2.3).
fn fold_long_header_lines(bytes: &[u8], header: Range<usize>, edits: &mut Vec<Edit>) {
    let mut pos = header.start;
    while pos < header.end {
        let line = header::line_at(bytes, pos, header.end);
        pos = line.end;
        let content = &bytes[line.start..line.content_end];
        if content.len() <= 998 {
            continue;
        }
        let mut folded = Vec::with_capacity(content.len() + 64);
        let mut rest = content;
        let mut changed = false;
        while rest.len() > 998 {
            // The last white space that leaves at most 998 octets on this
            // line, not at the very start (that would leave an empty line).
            let window = &rest[..=998];
            match window[1..].iter().rposition(|&b| b == b' ' || b == b'\t') {
                Some(i) => {
                    let at = i + 1;
                    folded.extend_from_slice(&rest[..at]);
                    folded.extend_from_slice(b"\r\n");
                    rest = &rest[at..];
                    changed = true;
                }
                None => break,
            }
        }
        if changed {
            folded.extend_from_slice(rest);
            edits.push(Edit {
                range: line.start..line.content_end,
                with: folded,
            });
        }
    }
}

/// Apply `edits`; outside them and outside `protected`, normalize line ends
/// and delete NULs when `normalize` is set.
fn apply(bytes: &[u8], edits: &[Edit], protected: &[Range<usize>], normalize: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 16);
    let mut pos = 0;
    let copy = |from: usize, to: usize, out: &mut Vec<u8>| {
        if normalize {
            copy_normalized(bytes, from..to, protected, out);
        } else {
            out.extend_from_slice(&bytes[from..to]);
        }
    };
    for edit in edits {
        copy(pos, edit.range.start, &mut out);
        if normalize {
            normalize_line_ends(&edit.with, &mut out);
        } else {
            out.extend_from_slice(&edit.with);
        }
        pos = edit.range.end;
    }
    copy(pos, bytes.len(), &mut out);
    out
}

fn copy_normalized(
    bytes: &[u8],
    range: Range<usize>,
    protected: &[Range<usize>],
    out: &mut Vec<u8>,
) {
    let mut pos = range.start;
    for p in protected {
        if p.end <= pos || p.start >= range.end {
            continue;
        }
        let start = p.start.max(pos);
        normalize_line_ends(&bytes[pos..start], out);
        let end = p.end.min(range.end);
        out.extend_from_slice(&bytes[start..end]);
        pos = end;
    }
    normalize_line_ends(&bytes[pos..range.end], out);
}

/// CRLF stays; lone CR and lone LF become CRLF; NUL is deleted. A CR and an
/// LF separated only by NULs are one line end.
fn normalize_line_ends(src: &[u8], out: &mut Vec<u8>) {
    let mut pos = 0;
    while let Some(i) = memchr::memchr3(b'\r', b'\n', 0, &src[pos..]) {
        let at = pos + i;
        out.extend_from_slice(&src[pos..at]);
        match src[at] {
            0 => pos = at + 1,
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                let mut next = at + 1;
                while src.get(next) == Some(&0) {
                    next += 1;
                }
                pos = if src.get(next) == Some(&b'\n') {
                    next + 1
                } else {
                    at + 1
                };
            }
            _ => {
                out.extend_from_slice(b"\r\n");
                pos = at + 1;
            }
        }
    }
    out.extend_from_slice(&src[pos..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "From: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n";

    #[test]
    fn line_end_normalization() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\nb", b"a\r\nb"),
            (b"a\r\nb", b"a\r\nb"),
            (b"a\rb", b"a\r\nb"),
            (b"a\r\r\nb", b"a\r\n\r\nb"),
            (b"a\0b", b"ab"),
            (b"a\r\0\nb", b"a\r\nb"),
            (b"\n\n", b"\r\n\r\n"),
        ];
        for (input, want) in cases {
            let mut out = Vec::new();
            normalize_line_ends(input, &mut out);
            assert_eq!(out, *want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn table() {
        let long_subject = format!("Subject: {}\r\n", "word ".repeat(300));
        let cases: Vec<(String, &[&str], Verdict)> = vec![
            (format!("{HEAD}\nbody\n"), &["bare-lf"], Verdict::Ok),
            (
                format!("{HEAD}\r\nnul\0here\r\n"),
                &["nul-byte"],
                Verdict::Ok,
            ),
            (
                format!("From x Mon Jan  1 00:00:00 2024\r\n{HEAD}\r\nbody\r\n"),
                &["envelope-from-line"],
                Verdict::Ok,
            ),
            (
                format!(" Subject: first\r\n{HEAD}\r\nbody\r\n"),
                &["first-line-continuation"],
                Verdict::Ok,
            ),
            (
                format!("{HEAD}Subject: x\r\nbody starts\r\nand continues\r\n"),
                &["missing-header-body-separator"],
                Verdict::Ok,
            ),
            (
                format!("{HEAD}Subject: cut"),
                &["missing-header-body-separator"],
                Verdict::Ok,
            ),
            (
                format!("{HEAD}{long_subject}\r\nbody\r\n"),
                &["line-too-long"],
                Verdict::Ok,
            ),
            (
                "From: a@example.org\nSubject: no date\n\nbody\n".to_owned(),
                &["bare-lf"],
                Verdict::Repairable,
            ),
        ];
        for (input, fixed, verdict) in cases {
            let repaired = repair(input.as_bytes());
            assert_eq!(repaired.fixed_codes(), fixed, "{input:?}");
            assert_eq!(
                repaired.after.verdict,
                verdict,
                "{input:?}: {:?}",
                repaired.after.codes()
            );
            let again = repair(&repaired.bytes);
            assert!(!again.changed(), "not idempotent on {input:?}");
            assert!(again.fixed.is_empty());
        }
    }

    #[test]
    fn ok_is_never_touched() {
        let ok = format!("{HEAD}\r\nbody\r\n");
        let repaired = repair(ok.as_bytes());
        assert!(!repaired.changed());
        assert!(matches!(repaired.bytes, Cow::Borrowed(_)));
    }

    #[test]
    fn binary_parts_are_left_alone() {
        let msg = format!(
            "{HEAD}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\nline\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\0\n\r\0\r\n--b--\r\n"
        );
        let repaired = repair(msg.as_bytes());
        let out = &repaired.bytes;
        assert!(memchr::memmem::find(out, b"text\r\nline").is_some());
        assert!(memchr::memmem::find(out, b"\r\n\r\n\0\n\r\0\r\n--b--").is_some());
        assert!(repaired.after.has(DefectKind::NulByte));
        assert!(!repair(out).changed());
    }
}
