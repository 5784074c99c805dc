//! Limits that bound the time and memory of a classification.

/// Limits on what [`classify_with`](crate::classify_with) examines.
///
/// The defaults are far above what real mail reaches (the largest message
/// providers accept is around 150 MB; real MIME trees are a handful of levels
/// deep with at most a few hundred parts) and far below what a MIME bomb
/// needs. Exceeding a limit is a defect (`too-large` or `nesting-too-deep`),
/// never an error, and classification stops looking deeper at that point.
///
/// ```
/// let mut limits = imapmig_mime::Limits::default();
/// limits.max_size = 1024;
/// let verdict = imapmig_mime::classify_with(&vec![b'x'; 2048], &limits);
/// assert_eq!(verdict.codes(), ["too-large"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Limits {
    /// Largest message, in bytes, that is examined at all (default 256 MiB).
    /// A larger one is `too-large` without further checks.
    pub max_size: usize,
    /// Deepest MIME nesting (default 32): the message is depth 0, each
    /// multipart child and each attached message one more. Values above
    /// [`Limits::DEPTH_CAP`] act as the cap, to bound the stack.
    pub max_depth: usize,
    /// Most MIME parts, the message itself included (default 10 000).
    pub max_parts: usize,
    /// Most header fields in one header block (default 10 000).
    pub max_header_fields: usize,
    /// Largest header block, in bytes (default 4 MiB).
    pub max_header_bytes: usize,
}

impl Limits {
    /// The hard cap on [`Limits::max_depth`], whatever it is set to.
    pub const DEPTH_CAP: usize = 256;

    pub(crate) fn depth(&self) -> usize {
        self.max_depth.min(Self::DEPTH_CAP)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_size: 256 * 1024 * 1024,
            max_depth: 32,
            max_parts: 10_000,
            max_header_fields: 10_000,
            max_header_bytes: 4 * 1024 * 1024,
        }
    }
}
