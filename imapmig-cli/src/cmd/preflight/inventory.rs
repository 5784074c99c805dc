//! The inventory section: folders, message counts and sizes, the largest
//! folder, and imapmig-core's verdict on each mailbox against the target's
//! quota (whales are refused before anything is copied).

use std::io::Write;

use imapmig_core::inventory::{
    FolderSize, InventoryPolicy, MailboxInventory, Quota, Verdict, assess,
};
use imapmig_core::throttle::Limits;

use super::folder_map::FolderMap;
use super::scan::Mailbox;

/// The quota a target has, as the command line gave it.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuotaOption {
    /// The quota.
    pub(super) quota: Quota,
    /// Why this quota: given, or the sample's demonstration quota.
    pub(super) origin: &'static str,
}

/// Write the inventory of every mailbox, judged by imapmig-core; returns
/// how many mailboxes are whales.
pub(super) fn write(
    out: &mut impl Write,
    mailboxes: &[Mailbox],
    folders: &FolderMap,
    quota: QuotaOption,
) -> std::io::Result<usize> {
    writeln!(out, "== Inventory")?;
    let mut inventories = Vec::with_capacity(mailboxes.len());
    for (index, mailbox) in mailboxes.iter().enumerate() {
        write_folders(out, mailbox)?;
        let copied = folders.copied_folders(index, mailbox);
        let (messages, bytes) = folders.to_migrate(index, mailbox);
        writeln!(
            out,
            "  to migrate: {messages} messages, {} ({bytes} bytes): the folders the map copies \
             and the archived-only mail",
            human_size(bytes)
        )?;
        let mut ranked: Vec<&FolderSize> = copied.iter().collect();
        ranked.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        if let Some(largest) = ranked.first() {
            let next = ranked
                .get(1)
                .map(|f| format!("; next: {} at {}", f.name, human_size(f.bytes)))
                .unwrap_or_default();
            let median = median(ranked.iter().map(|f| f.bytes));
            writeln!(
                out,
                "  largest folder to migrate: {} ({} messages, {}, {}% of the mail to migrate, \
                 {}x the median folder{next})",
                largest.name,
                largest.messages,
                human_size(largest.bytes),
                percent(largest.bytes, bytes),
                largest.bytes.checked_div(median.max(1)).unwrap_or(0)
            )?;
        }
        inventories.push(MailboxInventory {
            mailbox: mailbox.label.clone(),
            folders: copied,
        });
    }
    let gmail = folders.any_gmail();
    let policy = InventoryPolicy {
        quota: quota.quota,
        limits: if gmail {
            Limits::GMAIL_SOURCE
        } else {
            Limits::default()
        },
        ..InventoryPolicy::default()
    };
    let report = assess(&inventories, &policy);
    match quota.quota {
        Quota::PerSeat(bytes) => writeln!(
            out,
            "quota: {} ({bytes} bytes) per mailbox, {}",
            human_size(bytes),
            quota.origin
        )?,
        Quota::Pooled(bytes) => writeln!(
            out,
            "quota: {} ({bytes} bytes) shared by all mailboxes, {}",
            human_size(bytes),
            quota.origin
        )?,
        Quota::Unlimited => writeln!(
            out,
            "quota: none given (--quota BYTES judges each mailbox against the target's quota)"
        )?,
    }
    for judged in &report.mailboxes {
        let action = match judged.verdict {
            Verdict::Whale { .. } => {
                " -> refused before copying: raise the quota or move mail elsewhere"
            }
            Verdict::Outlier { .. } => " -> expect it to finish last",
            _ => "",
        };
        writeln!(
            out,
            "verdict for {}: {}{action}",
            judged.mailbox, judged.verdict
        )?;
        if gmail && let Some(time) = judged.transfer_time {
            if time.as_secs() == 0 {
                writeln!(
                    out,
                    "  transfer: within one day of Gmail's 2,500 MB/day IMAP download limit"
                )?;
            } else {
                writeln!(
                    out,
                    "  transfer time under Gmail's 2,500 MB/day IMAP download limit: {}",
                    duration(time.as_secs())
                )?;
            }
        }
    }
    writeln!(out)?;
    Ok(report
        .mailboxes
        .iter()
        .filter(|m| m.verdict.refused())
        .count())
}

fn write_folders(out: &mut impl Write, mailbox: &Mailbox) -> std::io::Result<()> {
    writeln!(out, "mailbox {}", mailbox.label)?;
    let width = mailbox
        .folders
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("folder".len());
    writeln!(
        out,
        "  {:<width$}  {:>8}  {:>10}",
        "folder", "messages", "size"
    )?;
    for folder in &mailbox.folders {
        let kind = match folder.kind {
            imapmig_mime::source::SourceKind::Mbox => " (mbox)",
            _ => "",
        };
        writeln!(
            out,
            "  {:<width$}  {:>8}  {:>10}{kind}",
            folder.name,
            folder.messages,
            human_size(folder.bytes),
        )?;
    }
    let total_bytes = mailbox.bytes();
    writeln!(
        out,
        "  total: {} folders, {} messages, {} ({} bytes)",
        mailbox.folders.len(),
        mailbox.messages(),
        human_size(total_bytes),
        total_bytes
    )
}

fn median(values: impl Iterator<Item = u64>) -> u64 {
    let mut sorted: Vec<u64> = values.collect();
    sorted.sort_unstable();
    sorted.get(sorted.len() / 2).copied().unwrap_or(0)
}

/// Whole percent of `part` in `whole`, rounded down; 0 for an empty whole.
pub(super) fn percent(part: u64, whole: u64) -> u64 {
    part.saturating_mul(100).checked_div(whole).unwrap_or(0)
}

/// A size in bytes as people read it: `512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`.
pub(super) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration in whole units: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
fn duration(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86400 => format!("{} h {} min", seconds / 3600, seconds % 3600 / 60),
        _ => format!("{} d {} h", seconds / 86400, seconds % 86400 / 3600),
    }
}

/// Parse a size: bytes, or a number with `K`, `M`, `G`, `T` (powers of 1000)
/// or `Ki`, `Mi`, `Gi`, `Ti` (powers of 1024), an optional `B` after either.
pub(super) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| {
        format!("{text:?} is not a size (bytes, or a number with K, M, G, T, Ki, Mi, Gi, Ti)")
    })?;
    let unit = unit.trim();
    let unit = unit.strip_suffix(['B', 'b']).unwrap_or(unit);
    let factor: u64 = match unit {
        "" => 1,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_table() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (5 * 1024 * 1024, "5.0 MiB"),
            (3 * 1024 * 1024 * 1024, "3.0 GiB"),
            (u64::MAX, "16777216.0 TiB"),
        ];
        for (bytes, want) in cases {
            assert_eq!(human_size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn percent_table() {
        let cases = [
            (0, 0, 0),
            (1, 0, 0),
            (1, 2, 50),
            (2, 3, 66),
            (5, 5, 100),
            (u64::MAX, u64::MAX, 1),
        ];
        for (part, whole, want) in cases {
            assert_eq!(percent(part, whole), want, "{part}/{whole}");
        }
    }

    #[test]
    fn parse_size_table() {
        let ok = [
            ("0", 0),
            ("1048576", 1 << 20),
            ("50G", 50_000_000_000),
            ("50GB", 50_000_000_000),
            ("1Mi", 1 << 20),
            ("1 MiB", 1 << 20),
            ("2k", 2000),
            ("100Ti", 100 << 40),
        ];
        for (text, want) in ok {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "G",
            "-1",
            "1.5G",
            "10X",
            "99999999999999999999",
            "20000000T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duration_table() {
        let cases = [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min"),
            (3599, "59 min"),
            (3600, "1 h 0 min"),
            (90061, "1 d 1 h"),
        ];
        for (seconds, want) in cases {
            assert_eq!(duration(seconds), want, "{seconds}");
        }
    }
}
