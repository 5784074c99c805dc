//! Bad-item tolerance: a threshold by count and fraction, reason codes,
//! and the skipped-items CSV log.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::Error;
use crate::ids::Uid;

/// Why a message was not copied. The [`SkipReason::code`] is what the CSV
/// log holds; it is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
#[non_exhaustive]
pub enum SkipReason {
    /// `corrupt`: the message is corrupt beyond safe repair.
    Corrupt,
    /// `too-large`: larger than the target accepts.
    TooLarge,
    /// `rejected`: the target refused the APPEND (a NO that is not quota
    /// or throttling).
    Rejected,
    /// `fetch-failed`: the source could not deliver the message.
    FetchFailed,
    /// `over-quota`: the target mailbox is full.
    OverQuota,
    /// `unidentified`: its identity could not be established after a
    /// UIDVALIDITY change and the operator chose not to copy it.
    Unidentified,
    /// `excluded`: left out on purpose by a rule or policy.
    Excluded,
}

impl SkipReason {
    /// Every reason, in code order.
    pub const ALL: [SkipReason; 7] = [
        SkipReason::Corrupt,
        SkipReason::TooLarge,
        SkipReason::Rejected,
        SkipReason::FetchFailed,
        SkipReason::OverQuota,
        SkipReason::Unidentified,
        SkipReason::Excluded,
    ];

    /// The stable code written to the CSV log.
    pub const fn code(self) -> &'static str {
        match self {
            SkipReason::Corrupt => "corrupt",
            SkipReason::TooLarge => "too-large",
            SkipReason::Rejected => "rejected",
            SkipReason::FetchFailed => "fetch-failed",
            SkipReason::OverQuota => "over-quota",
            SkipReason::Unidentified => "unidentified",
            SkipReason::Excluded => "excluded",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for SkipReason {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        SkipReason::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| Error::invalid("skip reason", s, "unknown code"))
    }
}

impl TryFrom<String> for SkipReason {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        value.parse()
    }
}

impl From<SkipReason> for String {
    fn from(value: SkipReason) -> String {
        value.code().to_owned()
    }
}

/// The bad-item threshold of a run: it stops when more messages than this
/// failed. imapsync's default is 50 errors; that is ours too.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Tolerance {
    /// Most bad items allowed (inclusive); `None` for no count limit.
    pub max_count: Option<u64>,
    /// Largest allowed fraction of bad items among the messages of the
    /// run (inclusive, 0.0 to 1.0); `None` for no fraction limit.
    pub max_fraction: Option<f64>,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            max_count: Some(50),
            max_fraction: None,
        }
    }
}

/// The verdict of a [`Tolerance`] on a run so far.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ToleranceVerdict {
    /// Within the threshold; the run goes on.
    Within,
    /// Over the count limit: stop.
    TooMany {
        /// Bad items so far.
        bad: u64,
        /// The limit.
        limit: u64,
    },
    /// Over the fraction limit: stop.
    TooLargeFraction {
        /// Bad items so far.
        bad: u64,
        /// Messages in the run.
        total: u64,
        /// The limit.
        limit: f64,
    },
}

impl ToleranceVerdict {
    /// True when the run must stop.
    pub fn exceeded(&self) -> bool {
        !matches!(self, ToleranceVerdict::Within)
    }
}

impl fmt::Display for ToleranceVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToleranceVerdict::Within => f.write_str("within the bad-item threshold"),
            ToleranceVerdict::TooMany { bad, limit } => {
                write!(f, "{bad} bad items exceed the threshold of {limit}")
            }
            ToleranceVerdict::TooLargeFraction { bad, total, limit } => write!(
                f,
                "{bad} bad items of {total} exceed the threshold of {:.2} %",
                limit * 100.0
            ),
        }
    }
}

impl Tolerance {
    /// No limit at all.
    pub const UNLIMITED: Tolerance = Tolerance {
        max_count: None,
        max_fraction: None,
    };

    /// Judges `bad` failed items among `total` messages in the run (the
    /// planned total, so that a bad first message does not count as 100 %).
    pub fn verdict(&self, bad: u64, total: u64) -> ToleranceVerdict {
        if let Some(limit) = self.max_count
            && bad > limit
        {
            return ToleranceVerdict::TooMany { bad, limit };
        }
        if let Some(limit) = self.max_fraction {
            let fraction = if total == 0 {
                if bad == 0 { 0.0 } else { 1.0 }
            } else {
                bad as f64 / total as f64
            };
            if fraction > limit {
                return ToleranceVerdict::TooLargeFraction { bad, total, limit };
            }
        }
        ToleranceVerdict::Within
    }
}

/// One row of the skipped-items log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SkipRecord {
    /// Source folder name (decoded).
    pub folder: String,
    /// Source UID.
    pub source_uid: Uid,
    /// The Message-ID header, when there is one.
    pub message_id: Option<String>,
    /// RFC822.SIZE.
    pub size: u64,
    /// Why it was skipped.
    pub reason: SkipReason,
    /// Detail for the operator (defects, the server's reply).
    pub detail: String,
    /// When, in Unix seconds; written as RFC 3339 UTC.
    pub time: i64,
}

/// The CSV header of the skipped-items log.
pub const SKIP_LOG_HEADER: [&str; 7] = [
    "folder",
    "source_uid",
    "message_id",
    "size",
    "reason",
    "detail",
    "time",
];

/// The skipped-items log: RFC 4180 CSV with the columns of
/// [`SKIP_LOG_HEADER`], flushed after every row so a crash loses none.
pub struct SkipLog<W: Write> {
    writer: csv::Writer<W>,
    path: PathBuf,
    rows: u64,
}

impl<W: Write> fmt::Debug for SkipLog<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkipLog")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish()
    }
}

impl SkipLog<File> {
    /// Opens (or creates) a log file for appending; writes the header when
    /// the file is empty.
    pub fn append_to(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref().to_path_buf();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                step: "open skip log",
                source,
            })?;
        let empty = file
            .metadata()
            .map_err(|source| Error::Io {
                path: path.clone(),
                step: "stat skip log",
                source,
            })?
            .len()
            == 0;
        let mut log = SkipLog {
            writer: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(file),
            path,
            rows: 0,
        };
        if empty {
            log.write_header()?;
        }
        Ok(log)
    }
}

impl<W: Write> SkipLog<W> {
    /// A log over any writer; writes the header first.
    pub fn new(writer: W) -> Result<Self, Error> {
        let mut log = SkipLog {
            writer: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(writer),
            path: PathBuf::new(),
            rows: 0,
        };
        log.write_header()?;
        Ok(log)
    }

    fn write_header(&mut self) -> Result<(), Error> {
        self.writer
            .write_record(SKIP_LOG_HEADER)
            .map_err(|e| self.error(e))?;
        self.flush()
    }

    fn error(&self, source: csv::Error) -> Error {
        Error::SkipLog {
            path: self.path.clone(),
            source,
        }
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.writer
            .flush()
            .map_err(|e| self.error(csv::Error::from(e)))
    }

    /// Writes one row and flushes it.
    pub fn write(&mut self, record: &SkipRecord) -> Result<(), Error> {
        let time = chrono::DateTime::from_timestamp(record.time, 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_else(|| record.time.to_string());
        let row = [
            record.folder.clone(),
            record.source_uid.to_string(),
            record.message_id.clone().unwrap_or_default(),
            record.size.to_string(),
            record.reason.code().to_owned(),
            record.detail.clone(),
            time,
        ];
        self.writer.write_record(&row).map_err(|e| self.error(e))?;
        self.rows += 1;
        self.flush()
    }

    /// Rows written through this log (the header not counted).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The underlying writer (every row written is already flushed to it).
    pub fn get_ref(&self) -> &W {
        self.writer.get_ref()
    }

    /// Flushes and returns the writer.
    pub fn into_inner(self) -> Result<W, Error> {
        let path = self.path;
        self.writer.into_inner().map_err(|e| Error::SkipLog {
            path,
            source: csv::Error::from(e.into_error()),
        })
    }
}

/// Reads a skipped-items log back (for verification and resume). Rows
/// whose time is RFC 3339 or a plain integer are accepted.
pub fn read_skip_log(reader: impl std::io::Read) -> Result<Vec<SkipRecord>, Error> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let wrap = |source: csv::Error| Error::SkipLog {
        path: PathBuf::new(),
        source,
    };
    let headers = csv.headers().map_err(wrap)?.clone();
    if headers.iter().ne(SKIP_LOG_HEADER) {
        return Err(Error::invalid(
            "skip log header",
            &headers.iter().collect::<Vec<_>>().join(","),
            "expected folder,source_uid,message_id,size,reason,detail,time",
        ));
    }
    let mut out = Vec::new();
    for row in csv.records() {
        let row = row.map_err(wrap)?;
        let field = |i: usize| row.get(i).unwrap_or("");
        let time = field(6);
        let time = chrono::DateTime::parse_from_rfc3339(time)
            .map(|t| t.timestamp())
            .or_else(|_| time.parse::<i64>())
            .map_err(|_| Error::invalid("skip log time", time, "not RFC 3339"))?;
        out.push(SkipRecord {
            folder: field(0).to_owned(),
            source_uid: field(1).parse()?,
            message_id: Some(field(2).to_owned()).filter(|s| !s.is_empty()),
            size: field(3)
                .parse()
                .map_err(|_| Error::invalid("skip log size", field(3), "not a number"))?,
            reason: field(4).parse()?,
            detail: field(5).to_owned(),
            time,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerance_table() {
        let by_count = Tolerance::default();
        let by_fraction = Tolerance {
            max_count: None,
            max_fraction: Some(0.01),
        };
        let cases: &[(Tolerance, u64, u64, bool)] = &[
            (by_count, 0, 0, false),
            (by_count, 50, 100, false),
            (by_count, 51, 100_000, true),
            (by_fraction, 10, 1000, false),
            (by_fraction, 11, 1000, true),
            (by_fraction, 1, 0, true),
            (by_fraction, 0, 0, false),
            (Tolerance::UNLIMITED, u64::MAX, 1, false),
        ];
        for (t, bad, total, exceeded) in cases {
            assert_eq!(
                t.verdict(*bad, *total).exceeded(),
                *exceeded,
                "{t:?} {bad}/{total}"
            );
        }
        assert_eq!(
            by_count.verdict(51, 1).to_string(),
            "51 bad items exceed the threshold of 50"
        );
    }

    #[test]
    fn reasons_round_trip() {
        for r in SkipReason::ALL {
            assert_eq!(r.code().parse::<SkipReason>().unwrap(), r);
        }
        assert!("nope".parse::<SkipReason>().is_err());
    }

    #[test]
    fn skip_log_is_rfc4180_and_reads_back() {
        let record = SkipRecord {
            folder: "INBOX/Ünïcode, \"quoted\"".into(),
            source_uid: Uid::try_from(42).unwrap(),
            message_id: Some("<a,b@example.com>".into()),
            size: 1234,
            reason: SkipReason::Corrupt,
            detail: "close-boundary-missing\nsecond line".into(),
            time: 1_700_000_000,
        };
        let mut log = SkipLog::new(Vec::new()).unwrap();
        log.write(&record).unwrap();
        assert_eq!(log.rows(), 1);
        let bytes = log.into_inner().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("folder,source_uid,message_id,size,reason,detail,time\r\n"));
        assert!(text.contains("\"INBOX/Ünïcode, \"\"quoted\"\"\""));
        assert!(text.contains("2023-11-14T22:13:20Z"));
        assert_eq!(read_skip_log(&bytes[..]).unwrap(), vec![record]);
    }

    #[test]
    fn file_log_is_flushed_per_row_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skips.csv");
        let mut record = SkipRecord {
            folder: "INBOX".into(),
            source_uid: Uid::try_from(1).unwrap(),
            message_id: None,
            size: 1,
            reason: SkipReason::Rejected,
            detail: "NO [CANNOT] bad".into(),
            time: 0,
        };
        let mut log = SkipLog::append_to(&path).unwrap();
        log.write(&record).unwrap();
        // Read while the log is still open: the row must be there already.
        let rows = read_skip_log(File::open(&path).unwrap()).unwrap();
        assert_eq!(rows, vec![record.clone()]);
        drop(log);
        record.source_uid = Uid::try_from(2).unwrap();
        SkipLog::append_to(&path).unwrap().write(&record).unwrap();
        let rows = read_skip_log(File::open(&path).unwrap()).unwrap();
        assert_eq!(rows.len(), 2, "one header, two rows");
    }
}
