//! `imapmig mutf7 encode|decode`: modified UTF-7 mailbox names, one per line.
//!
//! Contract (kept exactly; scripts read it): one name per line on
//! stdin, the result per line on stdout; an invalid input line gives
//! `error: <reason>` on that line, and the command exits 1 at the end.
//!
//! `decode` keeps that one-line-per-line contract even when a valid name
//! decodes to text that cannot be printed on one line: a decoded name that
//! contains any C0 control (U+0000..U+001F, TAB included) or DEL (U+007F)
//! is answered with `error: decoded name contains control character U+00XX
//! at char N` instead of the raw text, and counts as an invalid line. TAB is
//! refused like the other C0 controls so that one rule covers them all and
//! tab-separated consumers of the output cannot be misled either.
//! (C1 controls U+0080..U+009F are printed: they cannot break a line.)

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;
use imapmig_folders::mutf7;

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Encode UTF-8 mailbox names (one per line on stdin) in modified UTF-7.
    Encode,
    /// Decode modified UTF-7 mailbox names (one per line on stdin) to UTF-8, strictly.
    Decode,
}

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let ok = convert(&command, stdin, &mut stdout)?;
    stdout.flush().context("writing stdout")?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Converts every line of `input`; returns whether all lines were valid.
fn convert(
    command: &Command,
    mut input: impl BufRead,
    out: &mut impl Write,
) -> anyhow::Result<bool> {
    let mut all_ok = true;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .context("reading stdin")?
            == 0
        {
            break;
        }
        let name = line.strip_suffix(b"\n").unwrap_or(&line);
        let name = name.strip_suffix(b"\r").unwrap_or(name);
        let result = match command {
            Command::Encode => mutf7::encode_bytes(name).map_err(|e| e.to_string()),
            Command::Decode => mutf7::decode(name)
                .map_err(|e| e.to_string())
                .and_then(|text| match first_control(&text) {
                    Some((at, c)) => Err(format!(
                        "decoded name contains control character U+{:04X} at char {at}",
                        u32::from(c)
                    )),
                    None => Ok(text),
                }),
        };
        match result {
            Ok(text) => writeln!(out, "{text}"),
            Err(reason) => {
                all_ok = false;
                writeln!(out, "error: {reason}")
            }
        }
        .context("writing stdout")?;
    }
    Ok(all_ok)
}

/// The first C0 control or DEL in `text`, with its position in chars.
fn first_control(text: &str) -> Option<(usize, char)> {
    text.chars()
        .enumerate()
        .find(|&(_, c)| c.is_ascii_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convert_table() {
        let cases: &[(Command, &[u8], &str, bool)] = &[
            (
                Command::Encode,
                "Écoles\r\n&\n".as_bytes(),
                "&AMk-coles\n&-\n",
                true,
            ),
            (
                Command::Decode,
                b"&AMk-coles\n&AEE-\nok",
                "Écoles\nerror: invalid modified utf-7 at byte 3: base64 encodes a printable ascii character that must represent itself\nok\n",
                false,
            ),
            (
                Command::Encode,
                b"p\xe4\n",
                "error: input is not valid utf-8 at byte 1\n",
                false,
            ),
            (Command::Decode, b"", "", true),
            (
                Command::Decode,
                b"a&AAo-b\nok",
                "error: decoded name contains control character U+000A at char 1\nok\n",
                false,
            ),
        ];
        for (cmd, input, want, ok) in cases {
            let mut out = Vec::new();
            let got_ok = convert(cmd, *input, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), *want);
            assert_eq!(got_ok, *ok);
        }
    }
}
