//! Fingerprints are stored (in indexes and migration state), so they must
//! never change: a few messages of the common shapes with the fingerprints
//! this version computes for them. A change to the normalisation or the
//! hash input that alters any of them breaks every stored index, and shows
//! here first.

use imapmig_dedupe::{FingerprintKey, Fingerprinter};

/// Real-mail shapes: transport fields, folding, RFC 2047 in `From` and
/// `Subject` (Q and B, UTF-8 and Latin-1), no Message-ID, raw 8-bit text,
/// LF line ends.
const MESSAGES: &[&[u8]] = &[
    b"Return-Path: <sender7@example.org>\r\nDelivered-To: me@example.net\r\n\
Received: from mx7.example.net (mx7.example.net [192.0.2.7])\r\n\tby mx.example.org with ESMTPS id 00000007; Mon, 1 Jul 2024 10:07:00 +0000\r\n\
DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\r\n\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\
Message-ID: <CA+7abcdef7@mail.example.org>\r\nDate: Mon, 1 Jul 2024 10:07:00 +0000\r\n\
From: =?utf-8?q?J=C3=B6rg_Sender?= <sender7@example.org>\r\nTo: Me <me@example.net>, team@example.net\r\n\
Cc: boss@example.net\r\nSubject: =?utf-8?B?UXVhcnRlcmx5IHJlcG9ydA==?= #7\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nthe numbers.\r\n",
    b"Date: Tue, 2 Jul 2024 08:00:00 +0200\nFrom: monitor@example.com\nTo: ops@example.com\n\
Subject: [ALERT] disk\n  nearly full\n\nsda1 at 97%\n",
    b"Message-ID: <1@x.example>\r\nFrom: =?ISO-8859-1?Q?Caf=E9?= <c@x.example>\r\n\
Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_au_lait?=\r\n\r\nbody\r\n",
    b"From: \"J\xc3\xb6rg\" <j@x.example>\r\nSubject: Gr\xfc\xdfe\r\nMessage-ID: <ABC.def@EXAMPLE.org> (comment)\r\n\r\n",
    b"Subject: Re: Re:   spaced    out\r\nTo: a@x.example,\r\n b@x.example\r\n\r\n",
];

/// `headers`, `headers_with_size(.., 4096)`, `content` and the Message-ID
/// fingerprint (or `-`), as this version computes them with key `[1; 32]`.
const EXPECTED: &[[&str; 4]] = &[
    [
        "2deb2e0016128b27bee0398489ead987",
        "564194d16f621a79bd7747da16781dc9",
        "28d646bbf344a7a3aedad616ccefbfa3",
        "0c2eb46629a8ab066ffade0ec38e464d",
    ],
    [
        "72012902b12873879669f1205f40f765",
        "4a5cb1fc2cc6c7569c183c39674e6634",
        "11dbaf38e8f268baa8d58c75a03c6083",
        "-",
    ],
    [
        "f564afefc47582ff1d8ed3a22c251e5a",
        "39039f81d19e741660cae729a38c2c22",
        "02f479d78cc864a42af046839e767cc9",
        "633413e85930e74524682b003bce64da",
    ],
    [
        "008f97f9d170423002f634379390ed33",
        "3bb9714682277e756d616e62247c910c",
        "0c6eed2dc7e8edc76bcc2bea37664f6a",
        "3ae4b8475d8fd0c84127afc714ebcac4",
    ],
    [
        "bf21a1586acbf4b828ebb78843157f38",
        "a3303b49a6a53bb991cfdaf1a89641db",
        "a16bc54308bcfcdce45a910750b4d466",
        "-",
    ],
];

#[test]
fn stored_fingerprints_never_change() {
    let f = Fingerprinter::new(&FingerprintKey::from_bytes([1; 32]));
    let got: Vec<[String; 4]> = MESSAGES
        .iter()
        .map(|m| {
            let all = f.message(m);
            [
                f.headers(m).to_string(),
                f.headers_with_size(m, 4096).to_string(),
                f.content(m).to_string(),
                all.by_message_id
                    .map_or_else(|| "-".to_owned(), |fp| fp.to_string()),
            ]
        })
        .collect();
    let shown: Vec<String> = got.iter().map(|row| format!("    {row:?},")).collect();
    assert_eq!(got.len(), EXPECTED.len(), "\n{}", shown.join("\n"));
    for (row, expected) in got.iter().zip(EXPECTED) {
        assert_eq!(row, expected, "\n{}", shown.join("\n"));
    }
}
