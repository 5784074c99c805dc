//! The inventory section: folders, message counts and sizes, the largest folder.

use std::io::Write;

use super::scan::Mailbox;

/// Write the inventory of every mailbox.
pub(super) fn write(out: &mut impl Write, mailboxes: &[Mailbox]) -> std::io::Result<()> {
    writeln!(out, "== Inventory")?;
    for mailbox in mailboxes {
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
        )?;
        if let Some(largest) = mailbox.folders.iter().max_by_key(|f| (f.bytes, f.messages)) {
            writeln!(
                out,
                "  largest folder: {} ({} messages, {}, {}% of the mailbox)",
                largest.name,
                largest.messages,
                human_size(largest.bytes),
                percent(largest.bytes, total_bytes)
            )?;
        }
    }
    writeln!(out)
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
}
