//! The Exchange section: old LegacyExchangeDN values recovered from the mail
//! (IMCEAEX addresses, X.500 DNs) by imapmig-mime, as the `X500:` proxy
//! addresses to add to the new mailboxes so that replies to old threads
//! still arrive.

use std::io::Write;

use imapmig_mime::exchange::Recovery;

use super::scan::Message;

/// DNs recovered over every mailbox (the people they name may be anyone's
/// correspondents, so one collection serves all mailboxes).
#[derive(Debug, Default)]
pub(super) struct Exchange {
    recovery: Recovery,
}

impl Exchange {
    /// Scan one message; copies of a message already scanned are not given here.
    pub(super) fn observe(&mut self, message: &Message<'_>) {
        self.recovery.add_message(message.bytes);
    }

    /// How many distinct DNs were recovered.
    pub(super) fn recovered(&self) -> usize {
        self.recovery.recovered().len()
    }

    /// Write the section; `domain` names the new mailboxes in the commands.
    pub(super) fn write(&self, out: &mut impl Write, domain: Option<&str>) -> std::io::Result<()> {
        writeln!(out, "== Exchange X500 proxy addresses")?;
        let recovered = self.recovery.recovered();
        if recovered.is_empty() {
            writeln!(
                out,
                "no IMCEAEX address or X.500 DN in {} distinct messages: nothing to add",
                self.recovery.messages_scanned()
            )?;
            return writeln!(out);
        }
        writeln!(
            out,
            "{} old LegacyExchangeDN values in {} distinct messages; without them as X500 \
             proxy addresses, replies to old threads bounce (IMCEAEX non-delivery reports):",
            recovered.len(),
            self.recovery.messages_scanned()
        )?;
        for found in &recovered {
            let names = if found.display_names.is_empty() {
                String::new()
            } else {
                format!("\t{}", found.display_names.join("; "))
            };
            writeln!(out, "{}\t{}{names}", found.x500(), found.messages)?;
        }
        writeln!(
            out,
            "commands for the new organisation (Exchange Online PowerShell):"
        )?;
        for identity in self.recovery.identities() {
            let mailbox = match domain {
                Some(domain) => format!("{}@{domain}", identity.alias),
                None => format!("{}@<new domain>", identity.alias),
            };
            writeln!(out, "  {}", identity.set_mailbox_command(&mailbox))?;
        }
        writeln!(out)
    }
}
