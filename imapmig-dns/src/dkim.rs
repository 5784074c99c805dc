//! DKIM key records at `selector._domainkey.domain` (RFC 6376 §3.6.1).

use base64::Engine as _;

use crate::der::{PublicKey, parse_public_key};
use crate::finding::{Finding, Severity};
use crate::{DomainName, Error, RData, RecordType, Resolver};

/// Shortest RSA key verifiers accept (RFC 8301 §3.2).
pub const MIN_RSA_BITS: u32 = 1024;
/// RSA length RFC 8301 recommends signers use.
pub const RECOMMENDED_RSA_BITS: u32 = 2048;

/// The key type (`k=`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum KeyType {
    /// `rsa` (the default).
    Rsa,
    /// `ed25519` (RFC 8463).
    Ed25519,
    /// Anything else.
    Other(String),
}

/// A parsed key record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DkimKey {
    /// `v=`, when present (must be `DKIM1`).
    pub version: Option<String>,
    /// `k=`.
    pub key_type: KeyType,
    /// `h=`: acceptable hash algorithms (empty: all).
    pub hash_algorithms: Vec<String>,
    /// `s=`: service types (empty: all).
    pub service_types: Vec<String>,
    /// `t=`: flags such as `y` (testing) and `s` (no subdomains).
    pub flags: Vec<String>,
    /// The decoded `p=`; empty when the key is revoked.
    pub public_key: Vec<u8>,
}

impl DkimKey {
    /// Parses a key record's text (RFC 6376 §3.2 tag-list).
    ///
    /// ```
    /// use imapmig_dns::dkim::DkimKey;
    /// let revoked = DkimKey::parse(b"v=DKIM1; k=rsa; p=")?;
    /// assert!(revoked.is_revoked());
    /// assert!(DkimKey::parse(b"v=DKIM1; k=rsa").is_err());
    /// # Ok::<(), imapmig_dns::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DkimSyntax`] with the byte offset of what is wrong:
    /// a misplaced or wrong `v=`, no `p=`, bad base64, a repeated tag.
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        let err = |position, reason| Error::DkimSyntax { position, reason };
        if text.len() > 16_384 {
            return Err(err(16_384, "record longer than 16384 bytes"));
        }
        let mut key = DkimKey {
            version: None,
            key_type: KeyType::Rsa,
            hash_algorithms: Vec::new(),
            service_types: Vec::new(),
            flags: Vec::new(),
            public_key: Vec::new(),
        };
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut have_p = false;
        for (index, (at, name, value)) in tag_list(text).into_iter().enumerate() {
            let name = name?;
            if seen.contains(&name.to_vec()) {
                return Err(err(at, "tag appears twice"));
            }
            seen.push(name.to_vec());
            let list = |v: &[u8]| -> Vec<String> {
                v.split(|&b| b == b':')
                    .map(|s| String::from_utf8_lossy(s).trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            match name {
                b"v" => {
                    if index != 0 {
                        return Err(err(at, "v= must be the first tag"));
                    }
                    if value != b"DKIM1" {
                        return Err(err(at, "v= must be DKIM1"));
                    }
                    key.version = Some("DKIM1".to_owned());
                }
                b"k" => {
                    key.key_type = match value.to_ascii_lowercase().as_slice() {
                        b"rsa" => KeyType::Rsa,
                        b"ed25519" => KeyType::Ed25519,
                        other => KeyType::Other(String::from_utf8_lossy(other).into_owned()),
                    }
                }
                b"h" => key.hash_algorithms = list(value),
                b"s" => key.service_types = list(value),
                b"t" => key.flags = list(value),
                b"p" => {
                    have_p = true;
                    let compact: Vec<u8> = value
                        .iter()
                        .copied()
                        .filter(|b| !b.is_ascii_whitespace())
                        .collect();
                    key.public_key = base64::engine::general_purpose::STANDARD
                        .decode(&compact)
                        .map_err(|_| err(at, "p= is not valid base64"))?;
                }
                _ => {}
            }
        }
        if !have_p {
            return Err(err(text.len(), "no p= tag"));
        }
        Ok(key)
    }

    /// Whether the key is revoked (empty `p=`).
    pub fn is_revoked(&self) -> bool {
        self.public_key.is_empty()
    }

    /// Whether `t=y` marks the domain as testing DKIM.
    pub fn is_testing(&self) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case("y"))
    }

    /// The RSA modulus length in bits, read from the DER key.
    ///
    /// # Errors
    /// [`Error::Der`] when the key is not well-formed DER.
    pub fn rsa_bits(&self) -> Result<Option<u32>, Error> {
        if self.key_type != KeyType::Rsa || self.is_revoked() {
            return Ok(None);
        }
        match parse_public_key(&self.public_key)? {
            PublicKey::Rsa { bits } => Ok(Some(bits)),
            PublicKey::Ed25519 | PublicKey::Other => Ok(None),
        }
    }
}

/// Splits a tag-list into `(offset, name, value)` with whitespace trimmed.
#[allow(clippy::type_complexity, reason = "a private iterator of parsed parts")]
fn tag_list(text: &[u8]) -> Vec<(usize, Result<&[u8], Error>, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    for part in text.split(|&b| b == b';') {
        let start = at;
        at += part.len() + 1;
        if part.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let lead = part.iter().take_while(|b| b.is_ascii_whitespace()).count();
        let (name, value) = match part.iter().position(|&b| b == b'=') {
            Some(eq) => (&part[..eq], &part[eq + 1..]),
            None => {
                out.push((
                    start + lead,
                    Err(Error::DkimSyntax {
                        position: start + lead,
                        reason: "tag without '='",
                    }),
                    &part[..0],
                ));
                continue;
            }
        };
        let name = name.trim_ascii();
        let ok = !name.is_empty()
            && name[0].is_ascii_alphabetic()
            && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
        let name = if ok {
            Ok(name)
        } else {
            Err(Error::DkimSyntax {
                position: start + lead,
                reason: "bad tag name",
            })
        };
        out.push((start + lead, name, value.trim_ascii()));
    }
    out
}

/// The result of checking one selector.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DkimCheck {
    /// `selector._domainkey.domain`.
    pub name: String,
    /// The key, when one record parsed.
    pub key: Option<DkimKey>,
    /// RSA bits, when known.
    pub rsa_bits: Option<u32>,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// Looks up and checks the key of `selector` for `domain`.
pub fn check_selector(resolver: &dyn Resolver, domain: &DomainName, selector: &str) -> DkimCheck {
    let mut check = DkimCheck {
        name: format!("{selector}._domainkey.{domain}"),
        key: None,
        rsa_bits: None,
        findings: Vec::new(),
    };
    let name = match domain.prepend(&format!("{selector}._domainkey")) {
        Ok(n) => n,
        Err(e) => {
            check.findings.push(Finding::new(
                Severity::Blocking,
                "dkim-bad-selector",
                e.to_string(),
            ));
            return check;
        }
    };
    let lookup = match resolver.lookup(&name, RecordType::Txt) {
        Ok(l) => l,
        Err(e) => {
            check.findings.push(Finding::new(
                Severity::Warning,
                "dkim-lookup-failed",
                format!("{name}: {e}"),
            ));
            return check;
        }
    };
    let texts: Vec<Vec<u8>> = lookup
        .data_of(RecordType::Txt)
        .filter_map(RData::txt_joined)
        .collect();
    let f = &mut check.findings;
    match texts.as_slice() {
        [] => {
            f.push(Finding::new(
                Severity::Blocking,
                "dkim-missing",
                format!("no DKIM key at {name}"),
            ));
        }
        [text] => match DkimKey::parse(text) {
            Err(e) => f.push(Finding::new(
                Severity::Blocking,
                "dkim-invalid",
                format!("{name}: {e}"),
            )),
            Ok(key) => {
                if key.is_revoked() {
                    f.push(Finding::new(
                        Severity::Blocking,
                        "dkim-revoked",
                        format!("the key at {name} is revoked (empty p=)"),
                    ));
                }
                if key.is_testing() {
                    f.push(Finding::new(
                        Severity::Warning,
                        "dkim-testing",
                        format!("{name} has t=y: verifiers may ignore failures"),
                    ));
                }
                if let KeyType::Other(k) = &key.key_type {
                    f.push(Finding::new(
                        Severity::Warning,
                        "dkim-unknown-key-type",
                        format!("{name}: unknown key type {k:?}"),
                    ));
                }
                let bits = key.rsa_bits();
                match &bits {
                    Ok(Some(bits)) if *bits < MIN_RSA_BITS => f.push(Finding::new(
                        Severity::Blocking,
                        "dkim-weak-key",
                        format!(
                            "{name}: RSA key of {bits} bits; verifiers reject keys under {MIN_RSA_BITS} (RFC 8301)"
                        ),
                    )),
                    Ok(Some(bits)) if *bits < RECOMMENDED_RSA_BITS => f.push(Finding::new(
                        Severity::Warning,
                        "dkim-short-key",
                        format!(
                            "{name}: RSA key of {bits} bits; {RECOMMENDED_RSA_BITS} recommended (RFC 8301)"
                        ),
                    )),
                    Ok(_) => {}
                    Err(e) => f.push(Finding::new(
                        Severity::Blocking,
                        "dkim-invalid-key",
                        format!("{name}: {e}"),
                    )),
                }
                check.rsa_bits = bits.ok().flatten();
                check.key = Some(key);
            }
        },
        more => f.push(Finding::new(
            Severity::Blocking,
            "dkim-multiple",
            format!(
                "{name} has {} TXT records; verifiers need exactly one",
                more.len()
            ),
        )),
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&[u8], Result<KeyType, usize>)] = &[
            (b"v=DKIM1; k=rsa; p=AAAA", Ok(KeyType::Rsa)),
            (b"p=AAAA", Ok(KeyType::Rsa)),
            (b"v=DKIM1; k=ed25519; p=AAAA", Ok(KeyType::Ed25519)),
            (b"k=rsa; v=DKIM1; p=AAAA", Err(7)),
            (b"v=DKIM2; p=AAAA", Err(0)),
            (b"v=DKIM1; k=rsa", Err(14)),
            (b"v=DKIM1; p=!!", Err(9)),
            (b"v=DKIM1; p=AAAA; p=AAAA", Err(17)),
            (b"v=DKIM1; junk; p=AAAA", Err(9)),
        ];
        for (text, want) in cases {
            let got = DkimKey::parse(text)
                .map(|k| k.key_type)
                .map_err(|e| match e {
                    Error::DkimSyntax { position, .. } => position,
                    _ => usize::MAX,
                });
            assert_eq!(&got, want, "{}", text.escape_ascii());
        }
    }

    #[test]
    fn key_lengths_from_records() -> Result<(), Error> {
        for (n_len, bits) in [(64usize, 512u32), (128, 1024), (256, 2048)] {
            let der = crate::der::tests::spki(n_len);
            let text = format!(
                "v=DKIM1; k=rsa; p={}",
                base64::engine::general_purpose::STANDARD.encode(der)
            );
            assert_eq!(DkimKey::parse(text.as_bytes())?.rsa_bits()?, Some(bits));
        }
        Ok(())
    }

    #[test]
    fn selector_findings() -> Result<(), Error> {
        let key = |n| base64::engine::general_purpose::STANDARD.encode(crate::der::tests::spki(n));
        let zone = crate::ZoneResolver::from_zone_text(
            "t.test",
            &format!(
                r#"
ok._domainkey      TXT "v=DKIM1; k=rsa; " "p={}"
weak._domainkey    TXT "v=DKIM1; p={}"
short._domainkey   TXT "v=DKIM1; p={}"
gone._domainkey    TXT "v=DKIM1; p="
test._domainkey    TXT "v=DKIM1; t=y; p={}"
two._domainkey     TXT "v=DKIM1; p={}"
two._domainkey     TXT "v=DKIM1; p={}"
junk._domainkey    TXT "v=DKIM1; p=AAAA"
"#,
                key(256),
                key(64),
                key(128),
                key(256),
                key(256),
                key(256)
            ),
        )?;
        let cases: &[(&str, Option<u32>, &[&str])] = &[
            ("ok", Some(2048), &[]),
            ("weak", Some(512), &["dkim-weak-key"]),
            ("short", Some(1024), &["dkim-short-key"]),
            ("gone", None, &["dkim-revoked"]),
            ("test", Some(2048), &["dkim-testing"]),
            ("two", None, &["dkim-multiple"]),
            ("junk", None, &["dkim-invalid-key"]),
            ("absent", None, &["dkim-missing"]),
        ];
        for (selector, bits, codes) in cases {
            let c = check_selector(&zone, &"t.test".parse()?, selector);
            let got: Vec<&str> = c.findings.iter().map(|f| &*f.code).collect();
            assert_eq!((&got[..], c.rsa_bits), (*codes, *bits), "{selector}");
        }
        Ok(())
    }
}
