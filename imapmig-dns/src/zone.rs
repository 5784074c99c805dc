//! A resolver that answers from zone-file text (RFC 1035 §5).
//!
//! Use it to check records *before* they are published, and in tests. It
//! reads the common subset of the master-file format: `$ORIGIN`, `$TTL`,
//! `@`, relative names, blank owners (the previous owner), optional TTL and
//! class in either order, parentheses across lines, `;` comments, quoted
//! strings with `\"`, `\\` and `\DDD` escapes, and the record types A, AAAA,
//! MX, TXT, PTR, NS, CNAME and SOA.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::{DomainName, Error, Lookup, Outcome, RData, Record, RecordType, Resolver};

/// Longest zone text accepted, in bytes.
pub const MAX_ZONE_BYTES: usize = 4 << 20;
/// Most CNAMEs followed for one question.
pub const MAX_CNAME_CHAIN: usize = 8;

/// Answers questions from records held in memory.
///
/// ```
/// use imapmig_dns::{DomainName, Outcome, RecordType, Resolver, ZoneResolver};
/// let zone = ZoneResolver::from_zone_text("example.test", r#"
/// $TTL 300
/// @        IN MX  10 mx.example.test.
/// mx          A   192.0.2.1
/// @           TXT "v=spf1 " "mx -all"
/// "#)?;
/// let mx = zone.lookup(&"example.test".parse()?, RecordType::Mx)?;
/// assert_eq!(mx.outcome, Outcome::Answer);
/// assert_eq!(mx.records[0].ttl, 300);
/// let none = zone.lookup(&"nope.example.test".parse()?, RecordType::A)?;
/// assert_eq!(none.outcome, Outcome::NxDomain);
/// # Ok::<(), imapmig_dns::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ZoneResolver {
    records: Vec<Record>,
}

impl ZoneResolver {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads zone text; relative names are taken relative to `origin`.
    ///
    /// # Errors
    /// [`Error::Zone`] naming the line of the first record that cannot be read.
    pub fn from_zone_text(origin: &str, text: &str) -> Result<Self, Error> {
        let mut zone = Self::new();
        zone.add_zone_text(origin, text)?;
        Ok(zone)
    }

    /// Adds the records of more zone text.
    ///
    /// # Errors
    /// [`Error::Zone`] naming the line of the first record that cannot be read;
    /// nothing is added then.
    pub fn add_zone_text(&mut self, origin: &str, text: &str) -> Result<(), Error> {
        if text.len() > MAX_ZONE_BYTES {
            return Err(Error::Zone {
                line: 0,
                reason: format!("zone text longer than {MAX_ZONE_BYTES} bytes"),
            });
        }
        let origin = DomainName::parse(origin).map_err(|e| Error::Zone {
            line: 0,
            reason: format!("origin: {e}"),
        })?;
        let parsed = parse_zone(&origin, text)?;
        self.records.extend(parsed);
        Ok(())
    }

    /// Adds one record.
    pub fn insert(&mut self, record: Record) {
        self.records.push(record);
    }

    /// All records held.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    fn answer(&self, name: &DomainName, rtype: RecordType, out: &mut Vec<Record>) -> Outcome {
        let mut current = name.clone();
        for _ in 0..=MAX_CNAME_CHAIN {
            let here: Vec<&Record> = self.records.iter().filter(|r| r.name == current).collect();
            let matching: Vec<Record> = here
                .iter()
                .filter(|r| r.data.record_type() == rtype)
                .map(|r| (*r).clone())
                .collect();
            if !matching.is_empty() {
                out.extend(matching);
                return Outcome::Answer;
            }
            let cname = here.iter().find_map(|r| match &r.data {
                RData::Cname(target) => Some(((*r).clone(), target.clone())),
                _ => None,
            });
            match cname {
                Some((record, target)) => {
                    out.push(record);
                    current = target;
                }
                None => {
                    let exists = !here.is_empty()
                        || self
                            .records
                            .iter()
                            .any(|r| r.name.is_subdomain_of(&current));
                    return if exists {
                        Outcome::NoData
                    } else {
                        Outcome::NxDomain
                    };
                }
            }
        }
        Outcome::NoData
    }
}

impl Resolver for ZoneResolver {
    fn lookup(&self, name: &DomainName, rtype: RecordType) -> Result<Lookup, Error> {
        let mut records = Vec::new();
        let outcome = self.answer(name, rtype, &mut records);
        Ok(Lookup {
            outcome,
            records,
            authoritative: true,
        })
    }
}

/// Splits a logical record into tokens; quoted tokens keep their bytes.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(Vec<u8>),
    Quoted(Vec<u8>),
}

impl Token {
    fn bytes(&self) -> &[u8] {
        match self {
            Token::Word(b) | Token::Quoted(b) => b,
        }
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }
}

/// A logical entry: its first line number, whether it began with blank, and tokens.
struct Entry {
    line: usize,
    blank_owner: bool,
    tokens: Vec<Token>,
}

fn tokenize(text: &str) -> Result<Vec<Entry>, Error> {
    let bytes = text.as_bytes();
    let mut entries = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let mut depth = 0usize;
    let mut current: Option<Entry> = None;
    let mut at_line_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line += 1;
                i += 1;
                at_line_start = true;
                if depth == 0
                    && let Some(e) = current.take()
                    && !e.tokens.is_empty()
                {
                    entries.push(e);
                }
                continue;
            }
            b';' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                if at_line_start && depth == 0 && current.is_none() {
                    current = Some(Entry {
                        line,
                        blank_owner: true,
                        tokens: Vec::new(),
                    });
                }
                at_line_start = false;
                i += 1;
                continue;
            }
            _ => {}
        }
        at_line_start = false;
        let entry = current.get_or_insert_with(|| Entry {
            line,
            blank_owner: false,
            tokens: Vec::new(),
        });
        match b {
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth = depth.checked_sub(1).ok_or(Error::Zone {
                    line,
                    reason: "unbalanced ')'".into(),
                })?;
                i += 1;
            }
            b'"' => {
                i += 1;
                let start_line = line;
                let mut out = Vec::new();
                loop {
                    let Some(&c) = bytes.get(i) else {
                        return Err(Error::Zone {
                            line: start_line,
                            reason: "unterminated quoted string".into(),
                        });
                    };
                    match c {
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\\' => {
                            let (byte, used) = unescape(&bytes[i + 1..], line)?;
                            out.push(byte);
                            i += 1 + used;
                        }
                        b'\n' => {
                            line += 1;
                            out.push(c);
                            i += 1;
                        }
                        _ => {
                            out.push(c);
                            i += 1;
                        }
                    }
                }
                entry.tokens.push(Token::Quoted(out));
            }
            _ => {
                let mut out = Vec::new();
                while let Some(&c) = bytes.get(i) {
                    if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"') {
                        break;
                    }
                    if c == b'\\' {
                        let (byte, used) = unescape(&bytes[i + 1..], line)?;
                        out.push(byte);
                        i += 1 + used;
                    } else {
                        out.push(c);
                        i += 1;
                    }
                }
                entry.tokens.push(Token::Word(out));
            }
        }
    }
    if depth != 0 {
        return Err(Error::Zone {
            line,
            reason: "unbalanced '('".into(),
        });
    }
    if let Some(e) = current
        && !e.tokens.is_empty()
    {
        entries.push(e);
    }
    Ok(entries)
}

/// Reads the escape after a backslash: `\DDD` or `\X`. Returns the byte and bytes used.
fn unescape(rest: &[u8], line: usize) -> Result<(u8, usize), Error> {
    let bad = |reason: &str| Error::Zone {
        line,
        reason: reason.into(),
    };
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let v = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            u8::try_from(v)
                .map(|v| (v, 3))
                .map_err(|_| bad("escape \\DDD above 255"))
        }
        [d, ..] if d.is_ascii_digit() => Err(bad("escape \\DDD needs three digits")),
        [c, ..] => Ok((*c, 1)),
        [] => Err(bad("backslash at end of input")),
    }
}

fn parse_ttl(word: &str) -> Option<u32> {
    if word.is_empty() || !word.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    // Plain seconds or BIND units (1h30m, 2d, 1w).
    let mut total: u64 = 0;
    let mut num: u64 = 0;
    let mut have_num = false;
    for c in word.chars() {
        if let Some(d) = c.to_digit(10) {
            num = num.checked_mul(10)?.checked_add(u64::from(d))?;
            have_num = true;
        } else {
            let unit = match c.to_ascii_lowercase() {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return None,
            };
            if !have_num {
                return None;
            }
            total = total.checked_add(num.checked_mul(unit)?)?;
            num = 0;
            have_num = false;
        }
    }
    total = total.checked_add(num)?;
    u32::try_from(total).ok()
}

fn parse_zone(origin: &DomainName, text: &str) -> Result<Vec<Record>, Error> {
    let mut origin = origin.clone();
    let mut default_ttl: u32 = 3600;
    let mut last_owner: Option<DomainName> = None;
    let mut out = Vec::new();
    for entry in tokenize(text)? {
        let line = entry.line;
        let err = |reason: String| Error::Zone { line, reason };
        let mut toks = entry.tokens.iter().peekable();
        if !entry.blank_owner
            && let Some(Token::Word(w)) = toks.peek()
            && w.first() == Some(&b'$')
        {
            let directive = String::from_utf8_lossy(w).to_ascii_uppercase();
            toks.next();
            let arg = toks
                .next()
                .map(Token::text)
                .ok_or_else(|| err(format!("{directive} needs an argument")))?;
            match directive.as_str() {
                "$ORIGIN" => {
                    origin = absolute(&arg, &origin).map_err(|e| err(e.to_string()))?;
                }
                "$TTL" => {
                    default_ttl = parse_ttl(&arg).ok_or_else(|| err(format!("bad TTL {arg:?}")))?;
                }
                _ => return Err(err(format!("unsupported directive {directive}"))),
            }
            continue;
        }
        let owner = if entry.blank_owner {
            last_owner
                .clone()
                .ok_or_else(|| err("record without owner".into()))?
        } else {
            let word = toks
                .next()
                .map(Token::text)
                .ok_or_else(|| err("empty record".into()))?;
            absolute(&word, &origin).map_err(|e| err(e.to_string()))?
        };
        last_owner = Some(owner.clone());
        let mut ttl = default_ttl;
        let rtype = loop {
            let word = toks
                .next()
                .map(Token::text)
                .ok_or_else(|| err("missing record type".into()))?;
            if let Some(t) = parse_ttl(&word) {
                ttl = t;
            } else if word.eq_ignore_ascii_case("IN") {
            } else if let Some(t) = RecordType::from_mnemonic(&word) {
                break t;
            } else {
                return Err(err(format!("unsupported record type or field {word:?}")));
            }
        };
        let rest: Vec<&Token> = toks.collect();
        let data = parse_rdata(rtype, &rest, &origin).map_err(err)?;
        out.push(Record {
            name: owner,
            ttl,
            data,
        });
    }
    Ok(out)
}

fn absolute(word: &str, origin: &DomainName) -> Result<DomainName, Error> {
    if word == "@" {
        Ok(origin.clone())
    } else if word.ends_with('.') {
        DomainName::parse(word)
    } else {
        origin.prepend(word)
    }
}

fn parse_rdata(rtype: RecordType, rest: &[&Token], origin: &DomainName) -> Result<RData, String> {
    let word = |i: usize| -> Result<String, String> {
        rest.get(i)
            .map(|t| t.text())
            .ok_or_else(|| format!("{rtype} record is missing a field"))
    };
    let name = |i: usize| -> Result<DomainName, String> {
        absolute(&word(i)?, origin).map_err(|e| e.to_string())
    };
    let number = |i: usize| -> Result<u32, String> {
        let w = word(i)?;
        w.parse::<u32>()
            .map_err(|_| format!("{rtype} field {w:?} is not a number"))
    };
    let expect_len = |n: usize| -> Result<(), String> {
        if rest.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{rtype} record needs {n} fields, found {}",
                rest.len()
            ))
        }
    };
    Ok(match rtype {
        RecordType::A => {
            expect_len(1)?;
            let w = word(0)?;
            RData::A(
                w.parse::<Ipv4Addr>()
                    .map_err(|_| format!("bad IPv4 address {w:?}"))?,
            )
        }
        RecordType::Aaaa => {
            expect_len(1)?;
            let w = word(0)?;
            RData::Aaaa(
                w.parse::<Ipv6Addr>()
                    .map_err(|_| format!("bad IPv6 address {w:?}"))?,
            )
        }
        RecordType::Mx => {
            expect_len(2)?;
            let preference = u16::try_from(number(0)?).map_err(|_| "MX preference over 65535")?;
            RData::Mx {
                preference,
                exchange: name(1)?,
            }
        }
        RecordType::Txt => {
            if rest.is_empty() {
                return Err("TXT record without strings".into());
            }
            let mut parts = Vec::new();
            for t in rest {
                // Like Knot, split strings over 255 bytes into several.
                for chunk in t.bytes().chunks(255) {
                    parts.push(chunk.to_vec());
                }
                if t.bytes().is_empty() {
                    parts.push(Vec::new());
                }
            }
            RData::Txt(parts)
        }
        RecordType::Ptr => {
            expect_len(1)?;
            RData::Ptr(name(0)?)
        }
        RecordType::Ns => {
            expect_len(1)?;
            RData::Ns(name(0)?)
        }
        RecordType::Cname => {
            expect_len(1)?;
            RData::Cname(name(0)?)
        }
        RecordType::Soa => {
            expect_len(7)?;
            name(1)?;
            let ttl_field = |i: usize| -> Result<u32, String> {
                let w = word(i)?;
                parse_ttl(&w).ok_or_else(|| format!("SOA field {w:?} is not a time"))
            };
            for i in 3..6 {
                ttl_field(i)?;
            }
            RData::Soa {
                mname: name(0)?,
                serial: number(2)?,
                minimum: ttl_field(6)?,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = r#"
$ORIGIN example.test.
$TTL 1h
@   IN SOA ns1 hostmaster ( 2024010101 ; serial
        7200 3600 1209600 300 )
    IN NS ns1
    86400 IN MX 10 mx1
    IN MX 20 mx2.example.test.
ns1 A 192.0.2.53
mx1 300 A 192.0.2.10
mx2 AAAA 2001:db8::25
www CNAME mx1
_dmarc TXT "v=DMARC1; p=reject"
sel._domainkey TXT ( "v=DKIM1; k=rsa; "
    "p=MIIB" )
esc TXT "a\"b\\c\065" word
deep.below.node A 192.0.2.99
"#;

    #[test]
    fn reads_zone_and_answers() -> Result<(), Error> {
        let z = ZoneResolver::from_zone_text("example.test", ZONE)?;
        let cases: &[(&str, RecordType, Outcome, usize)] = &[
            ("example.test", RecordType::Mx, Outcome::Answer, 2),
            ("example.test", RecordType::Soa, Outcome::Answer, 1),
            ("example.test", RecordType::A, Outcome::NoData, 0),
            ("www.example.test", RecordType::A, Outcome::Answer, 2),
            ("nothere.example.test", RecordType::A, Outcome::NxDomain, 0),
            ("below.node.example.test", RecordType::A, Outcome::NoData, 0),
            ("_DMARC.example.test", RecordType::Txt, Outcome::Answer, 1),
        ];
        for (name, rtype, outcome, n) in cases {
            let l = z.lookup(&DomainName::parse(name)?, *rtype)?;
            assert_eq!(
                (l.outcome, l.records.len()),
                (*outcome, *n),
                "{name} {rtype}"
            );
        }
        let mx = z.lookup(&"example.test".parse()?, RecordType::Mx)?;
        assert_eq!(mx.records[0].ttl, 86400);
        assert_eq!(mx.records[1].ttl, 3600);
        let key = z.lookup(&"sel._domainkey.example.test".parse()?, RecordType::Txt)?;
        assert_eq!(
            key.records[0].data.txt_joined(),
            Some(b"v=DKIM1; k=rsa; p=MIIB".to_vec())
        );
        let esc = z.lookup(&"esc.example.test".parse()?, RecordType::Txt)?;
        assert_eq!(
            esc.records[0].data,
            RData::Txt(vec![b"a\"b\\cA".to_vec(), b"word".to_vec()])
        );
        Ok(())
    }

    #[test]
    fn errors_name_the_line() {
        let cases: &[(&str, usize)] = &[
            ("a A 1.2.3.4\nb A 999.1.1.1\n", 2),
            ("\n\nx TXT \"open\n", 3),
            ("x BOGUS 1\n", 1),
            ("x MX 10\n", 1),
            ("  A 1.2.3.4\n", 1),
            ("x ( A 1.2.3.4\n", 2),
        ];
        for (text, line) in cases {
            match ZoneResolver::from_zone_text("example.test", text) {
                Err(Error::Zone { line: got, .. }) => assert_eq!(got, *line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("300"), Some(300));
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("2d"), Some(172_800));
        assert_eq!(parse_ttl("h"), None);
        assert_eq!(parse_ttl("99999999999"), None);
    }
}
