//! The little DER (X.690) a DKIM key needs: RSA modulus length from a
//! SubjectPublicKeyInfo (RFC 5280 §4.1) or a bare RSAPublicKey (RFC 8017 A.1.1).
//! Every read is bounds-checked; nesting is at most three levels.

use crate::Error;

/// Largest key accepted, in bytes (a 16384-bit RSA key is about 2 KiB).
pub(crate) const MAX_KEY_BYTES: usize = 8192;

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1, rsaEncryption.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.3.101.112, Ed25519.
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A public key as far as a DKIM check cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublicKey {
    /// RSA with this many modulus bits.
    Rsa { bits: u32 },
    /// Ed25519 wrapped in a SubjectPublicKeyInfo.
    Ed25519,
    /// Another algorithm.
    Other,
}

/// One TLV: tag, content start, content end (exclusive), all offsets in `input`.
fn tlv(input: &[u8], at: usize, end: usize) -> Result<(u8, usize, usize), Error> {
    let err = |position, reason| Error::Der { position, reason };
    let tag = *input
        .get(at)
        .filter(|_| at < end)
        .ok_or(err(at, "truncated before a tag"))?;
    if tag & 0x1f == 0x1f {
        return Err(err(at, "multi-byte tags are not used in public keys"));
    }
    let first = *input
        .get(at + 1)
        .filter(|_| at + 1 < end)
        .ok_or(err(at + 1, "truncated before a length"))?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return Err(err(at + 1, "length form not allowed in DER"));
        }
        let mut len = 0usize;
        for i in 0..n {
            let b = *input
                .get(at + 2 + i)
                .filter(|_| at + 2 + i < end)
                .ok_or(err(at + 2 + i, "truncated inside a length"))?;
            len = (len << 8) | usize::from(b);
        }
        if len < 0x80 {
            return Err(err(at + 1, "long length form for a short length"));
        }
        (len, 2 + n)
    };
    let start = at + header;
    let stop = start
        .checked_add(len)
        .filter(|&s| s <= end)
        .ok_or(err(at + 1, "length runs past the end"))?;
    Ok((tag, start, stop))
}

fn expect(
    input: &[u8],
    at: usize,
    end: usize,
    want: u8,
    what: &'static str,
) -> Result<(usize, usize), Error> {
    let (tag, start, stop) = tlv(input, at, end)?;
    if tag != want {
        return Err(Error::Der {
            position: at,
            reason: what,
        });
    }
    Ok((start, stop))
}

/// Bits in a positive DER INTEGER's content.
fn integer_bits(content: &[u8]) -> u32 {
    let skip = content.iter().take_while(|&&b| b == 0).count();
    match content.get(skip) {
        None => 0,
        Some(&top) => {
            let rest = u32::try_from(content.len() - skip - 1).unwrap_or(u32::MAX / 16);
            rest.saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

/// Reads `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key(input: &[u8], at: usize, end: usize) -> Result<u32, Error> {
    let (start, stop) = expect(input, at, end, SEQUENCE, "RSAPublicKey is not a SEQUENCE")?;
    let (m_start, m_stop) = expect(input, start, stop, INTEGER, "RSA modulus is not an INTEGER")?;
    expect(
        input,
        m_stop,
        stop,
        INTEGER,
        "RSA exponent is not an INTEGER",
    )?;
    Ok(integer_bits(&input[m_start..m_stop]))
}

/// Parses a public key: a SubjectPublicKeyInfo, or a bare RSAPublicKey.
pub(crate) fn parse_public_key(input: &[u8]) -> Result<PublicKey, Error> {
    if input.len() > MAX_KEY_BYTES {
        return Err(Error::Der {
            position: MAX_KEY_BYTES,
            reason: "key longer than 8192 bytes",
        });
    }
    let end = input.len();
    let (start, stop) = expect(input, 0, end, SEQUENCE, "key is not a SEQUENCE")?;
    if stop != end {
        return Err(Error::Der {
            position: stop,
            reason: "bytes after the key",
        });
    }
    let (first_tag, first_start, first_stop) = tlv(input, start, stop)?;
    match first_tag {
        // A bare RSAPublicKey: modulus first.
        INTEGER => rsa_public_key(input, 0, end).map(|bits| PublicKey::Rsa { bits }),
        SEQUENCE => {
            let (oid_start, oid_stop) = expect(
                input,
                first_start,
                first_stop,
                OID,
                "algorithm is not an OID",
            )?;
            let oid = &input[oid_start..oid_stop];
            let (bs_start, bs_stop) = expect(
                input,
                first_stop,
                stop,
                BIT_STRING,
                "public key is not a BIT STRING",
            )?;
            if input.get(bs_start) != Some(&0) || bs_start >= bs_stop {
                return Err(Error::Der {
                    position: bs_start,
                    reason: "BIT STRING with unused bits",
                });
            }
            if oid == RSA_ENCRYPTION {
                rsa_public_key(input, bs_start + 1, bs_stop).map(|bits| PublicKey::Rsa { bits })
            } else if oid == ED25519 {
                Ok(PublicKey::Ed25519)
            } else {
                Ok(PublicKey::Other)
            }
        }
        _ => Err(Error::Der {
            position: start,
            reason: "unexpected element in key",
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A SubjectPublicKeyInfo for an RSA key with an `n` of `n_len` bytes (top bit set).
    pub(crate) fn spki(n_len: usize) -> Vec<u8> {
        fn wrap(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            let len = body.len();
            if len < 0x80 {
                out.push(len as u8);
            } else if len < 0x100 {
                out.extend([0x81, len as u8]);
            } else {
                out.extend([0x82, (len >> 8) as u8, len as u8]);
            }
            out.extend_from_slice(body);
            out
        }
        let mut n = vec![0x00, 0xc1];
        n.resize(n_len + 1, 0x55);
        let rsa = wrap(
            SEQUENCE,
            &[wrap(INTEGER, &n), wrap(INTEGER, &[1, 0, 1])].concat(),
        );
        let alg = wrap(
            SEQUENCE,
            &[wrap(OID, RSA_ENCRYPTION), vec![0x05, 0x00]].concat(),
        );
        let bits = wrap(BIT_STRING, &[&[0u8][..], &rsa].concat());
        wrap(SEQUENCE, &[alg, bits].concat())
    }

    #[test]
    fn rsa_lengths() -> Result<(), Error> {
        for (bytes, bits) in [(64, 512), (128, 1024), (256, 2048), (512, 4096)] {
            assert_eq!(parse_public_key(&spki(bytes))?, PublicKey::Rsa { bits });
        }
        Ok(())
    }

    #[test]
    fn malformed_keys_are_errors_not_panics() {
        let good = spki(128);
        for cut in 0..good.len() {
            assert!(parse_public_key(&good[..cut]).is_err(), "cut at {cut}");
        }
        let cases: &[&[u8]] = &[
            &[],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x81, 0x05],
            &[0x1f, 0x00],
        ];
        for c in cases {
            assert!(parse_public_key(c).is_err(), "{c:?}");
        }
    }
}
