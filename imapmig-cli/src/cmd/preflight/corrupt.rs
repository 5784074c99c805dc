//! The corrupt-items section: every message classified by imapmig-mime, the
//! corrupt ones listed with their defect codes and, when asked, written to a
//! skipped-items CSV in imapmig-core's format (the one `migrate --skip-log`
//! writes).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use imapmig_core::Tolerance;
use imapmig_core::tolerance::{SkipLog, SkipRecord};
use imapmig_core::{SkipReason, Uid};
use imapmig_mime::{Verdict, classify, encode_8bit_headers};

use super::scan::{Mailbox, Message};

/// How many repairable messages the report lists by name per mailbox.
const LISTED_REPAIRABLE: usize = 10;

/// Verdicts on every message, per mailbox.
#[derive(Debug, Default)]
pub(super) struct Corrupt {
    mailboxes: Vec<MailboxCorrupt>,
}

#[derive(Debug, Default)]
struct MailboxCorrupt {
    ok: u64,
    repairable: Vec<Item>,
    corrupt: Vec<Item>,
    /// Messages per defect code, in the vocabulary's order.
    by_code: BTreeMap<imapmig_mime::DefectKind, u64>,
    /// Messages with raw 8-bit bytes in their own header block (UTF-8 or not).
    eight_bit: u64,
    /// Of those, the ones the 8-bit header repair would leave with some 8-bit bytes (a
    /// Message-ID or an address, text in no known charset).
    eight_bit_left: u64,
}

#[derive(Debug)]
struct Item {
    id: String,
    folder: String,
    position: u32,
    message_id: Option<String>,
    size: u64,
    codes: String,
}

impl Corrupt {
    /// Classify one message.
    pub(super) fn observe(&mut self, message: &Message<'_>, message_id: Option<&str>) {
        while self.mailboxes.len() <= message.mailbox {
            self.mailboxes.push(MailboxCorrupt::default());
        }
        let mailbox = &mut self.mailboxes[message.mailbox];
        let classification = classify(message.bytes);
        let mut kinds: Vec<_> = classification.defects.iter().map(|d| d.kind).collect();
        kinds.dedup();
        for kind in kinds {
            *mailbox.by_code.entry(kind).or_default() += 1;
        }
        let header = classification
            .parts
            .first()
            .and_then(|p| message.bytes.get(p.header.clone()))
            .unwrap_or_default();
        if !header.is_ascii() {
            mailbox.eight_bit += 1;
            if !encode_8bit_headers(message.bytes).unencoded.is_empty() {
                mailbox.eight_bit_left += 1;
            }
        }
        let item = || Item {
            id: message.id.to_owned(),
            folder: message.folder.to_owned(),
            position: message.position,
            message_id: message_id.map(str::to_owned),
            size: message.bytes.len() as u64,
            codes: classification.codes().join(","),
        };
        match classification.verdict {
            Verdict::Ok => mailbox.ok += 1,
            Verdict::Repairable => mailbox.repairable.push(item()),
            Verdict::Corrupt => mailbox.corrupt.push(item()),
        }
    }

    /// Corrupt messages in all mailboxes.
    pub(super) fn corrupt_count(&self) -> usize {
        self.mailboxes.iter().map(|m| m.corrupt.len()).sum()
    }

    /// Write the section, and the skipped-items CSV when `skip_csv` is given.
    pub(super) fn write(
        &self,
        out: &mut impl Write,
        mailboxes: &[Mailbox],
        skip_csv: Option<&Path>,
    ) -> anyhow::Result<()> {
        writeln!(out, "== Corrupt items")?;
        for (mailbox, found) in mailboxes.iter().zip(&self.mailboxes) {
            found.write(out, mailbox)?;
        }
        if let Some(path) = skip_csv {
            let rows = self.write_csv(path)?;
            writeln!(
                out,
                "skipped-items CSV: {rows} corrupt messages written to {}",
                path.display()
            )?;
        } else if self.corrupt_count() > 0 {
            writeln!(
                out,
                "(--skip-csv FILE writes the corrupt messages as a skipped-items CSV)"
            )?;
        }
        writeln!(out)?;
        Ok(())
    }

    fn write_csv(&self, path: &Path) -> anyhow::Result<u64> {
        let file = File::create(path)
            .with_context(|| format!("creating the skipped-items CSV {}", path.display()))?;
        let mut log = SkipLog::new(file)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        for item in self.mailboxes.iter().flat_map(|m| &m.corrupt) {
            log.write(&SkipRecord {
                folder: item.folder.clone(),
                source_uid: Uid::try_from(item.position)?,
                message_id: item.message_id.clone(),
                size: item.size,
                reason: SkipReason::Corrupt,
                detail: format!("{} ({})", item.codes, item.id),
                time: now,
            })?;
        }
        let rows = log.rows();
        log.into_inner()?.sync_all()?;
        Ok(rows)
    }
}

impl MailboxCorrupt {
    fn write(&self, out: &mut impl Write, mailbox: &Mailbox) -> std::io::Result<()> {
        let total = self.ok + self.repairable.len() as u64 + self.corrupt.len() as u64;
        writeln!(out, "mailbox {}", mailbox.label)?;
        writeln!(
            out,
            "  {total} messages: {} ok, {} repairable, {} corrupt",
            self.ok,
            self.repairable.len(),
            self.corrupt.len()
        )?;
        if !self.by_code.is_empty() {
            let codes: Vec<String> = self
                .by_code
                .iter()
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            writeln!(out, "  messages per defect: {}", codes.join(", "))?;
        }
        if self.eight_bit > 0 {
            self.write_eight_bit(out)?;
        }
        let verdict = Tolerance::default().verdict(self.corrupt.len() as u64, total);
        writeln!(
            out,
            "  bad-item tolerance (default, {} at most): {verdict}",
            Tolerance::default().max_count.unwrap_or(u64::MAX)
        )?;
        if !self.corrupt.is_empty() {
            writeln!(out, "  corrupt (skipped by a migration, with this reason):")?;
            for item in &self.corrupt {
                writeln!(
                    out,
                    "    {}\tcorrupt\t{}",
                    shown(&item.id, &mailbox.label),
                    item.codes
                )?;
            }
        }
        if !self.repairable.is_empty() {
            writeln!(out, "  repairable (repaired before they are copied):")?;
            for item in self.repairable.iter().take(LISTED_REPAIRABLE) {
                writeln!(
                    out,
                    "    {}\trepairable\t{}",
                    shown(&item.id, &mailbox.label),
                    item.codes
                )?;
            }
            if self.repairable.len() > LISTED_REPAIRABLE {
                writeln!(
                    out,
                    "    ... and {} more (`imapmig mime classify FOLDER` lists every message of a Maildir or mbox)",
                    self.repairable.len() - LISTED_REPAIRABLE
                )?;
            }
        }
        Ok(())
    }
}

impl MailboxCorrupt {
    /// Raw 8-bit header text: which targets change it, and the repair that keeps it.
    fn write_eight_bit(&self, out: &mut impl Write) -> std::io::Result<()> {
        let not_utf8 = self
            .by_code
            .get(&imapmig_mime::DefectKind::EightBitHeader)
            .copied()
            .unwrap_or(0);
        writeln!(
            out,
            "  raw 8-bit header text: {} messages ({not_utf8} of them not UTF-8: eight-bit-header)",
            self.eight_bit
        )?;
        writeln!(
            out,
            "    targets that change it: Cyrus IMAP stores every such byte as X (munge8bit, its default); \
             Dovecot and Courier-IMAP store it as it is; Exchange and Gmail are not tested"
        )?;
        writeln!(
            out,
            "    `imapmig migrate --repair-8bit-headers` RFC 2047-encodes it before APPEND (on by default \
             for a Cyrus target); {} messages would keep bytes it cannot encode (a Message-ID, an \
             address, text in no declared charset)",
            self.eight_bit_left
        )
    }
}

/// A message id relative to its mailbox's path, which the section names already.
fn shown<'a>(id: &'a str, root: &str) -> &'a str {
    id.strip_prefix(root)
        .map(|rest| rest.trim_start_matches('/'))
        .filter(|rest| !rest.is_empty() && !rest.starts_with('#'))
        .unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_8bit_headers_are_counted_with_what_the_repair_leaves() {
        let messages: [&[u8]; 4] = [
            "From: Jörg <j@example.org>\r\nSubject: Grüße\r\nMessage-ID: <1@example.org>\r\n\r\nx\r\n"
                .as_bytes(),
            "From: k@example.org\r\nSubject: ok\r\nMessage-ID: <größe@example.org>\r\n\r\nx\r\n"
                .as_bytes(),
            b"From: k@example.org\r\nSubject: Caf\xe9\r\nMessage-ID: <3@example.org>\r\n\r\nx\r\n",
            "From: k@example.org\r\nSubject: ascii\r\nMessage-ID: <4@example.org>\r\n\r\nGrüße\r\n"
                .as_bytes(),
        ];
        let mut corrupt = Corrupt::default();
        for (i, bytes) in messages.iter().enumerate() {
            let message = Message {
                mailbox: 0,
                folder: "INBOX",
                position: i as u32 + 1,
                id: "m",
                bytes,
            };
            corrupt.observe(&message, None);
        }
        let found = &corrupt.mailboxes[0];
        // The body's 8-bit text does not count; the Message-ID and the Latin-1 Subject
        // without a charset stay.
        assert_eq!((found.eight_bit, found.eight_bit_left), (3, 2));
        let mut out = Vec::new();
        found.write_eight_bit(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "  raw 8-bit header text: 3 messages (1 of them not UTF-8: eight-bit-header)\n"
        ));
        assert!(text.contains("Cyrus IMAP stores every such byte as X"));
        assert!(text.contains("--repair-8bit-headers"));
        assert!(text.contains("2 messages would keep bytes it cannot encode"));
    }

    #[test]
    fn shown_ids_are_relative_to_the_mailbox() {
        let cases = [
            ("/m/cur/1:2,S", "/m", "cur/1:2,S"),
            ("/m/Work/cur/1", "/m", "Work/cur/1"),
            ("/m/", "/m", "/m/"),
            ("/mail.mbox#3", "/mail.mbox", "/mail.mbox#3"),
            ("/other/cur/1", "/m", "/other/cur/1"),
        ];
        for (id, root, want) in cases {
            assert_eq!(shown(id, root), want, "{id} under {root}");
        }
    }
}
