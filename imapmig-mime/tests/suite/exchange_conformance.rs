//! `exchange/imceaex-examples.json` from the shared conformance suites.

use std::path::PathBuf;

use imapmig_mime::exchange::{self, LegacyExchangeDn, Recovery};

fn conformance_dir() -> PathBuf {
    match std::env::var_os("IMAPMIG_CONFORMANCE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    }
}

/// The suite's JSON, or `None` when it is absent outside CI.
fn load() -> Option<serde_json::Value> {
    let path = conformance_dir().join("exchange/imceaex-examples.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "conformance suite {} missing under CI: {e}",
                path.display()
            );
            eprintln!("skipping: {} not found ({e})", path.display());
            None
        }
    }
}

#[test]
fn imceaex_examples_pass() {
    let Some(suite) = load() else {
        return;
    };
    let cases = suite["cases"].as_array().unwrap();
    let mut ran = 0;
    for case in cases {
        let imceaex = case["imceaex"].as_str().unwrap();
        let want_dn = case["legacy_exchange_dn"].as_str().unwrap();
        let want_x500 = case["x500"].as_str().unwrap();
        let dn = exchange::decode_imceaex(imceaex).unwrap();
        assert_eq!(dn.as_str(), want_dn, "{imceaex}");
        assert_eq!(dn.to_x500(), want_x500, "{imceaex}");
        // Round trip through the encoder with the example's own domain.
        let domain = imceaex.rsplit_once('@').unwrap().1;
        assert_eq!(exchange::encode_imceaex(&dn, domain), imceaex);
        // And found in a bounce and in a header by the scanner.
        let mut recovery = Recovery::new();
        let ndr = format!(
            "From: postmaster@example.com\r\nTo: \"Old Colleague\" <{imceaex}>\r\nSubject: Undeliverable\r\n\r\nRemote Server returned '550 5.1.1 RESOLVER.ADR.ExRecipNotFound; not found'\r\nOriginal message recipient: {imceaex}\r\n"
        );
        assert_eq!(recovery.add_message(ndr.as_bytes()), 1);
        let all = recovery.recovered();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].x500(), want_x500);
        assert_eq!(all[0].display_names, ["Old Colleague"]);
        ran += 1;
    }
    assert!(ran > 0, "no conformance case ran");
}

/// The suite's note: escapes beyond the worked examples come from the spec
/// rules (`+2E`, a literal `_` as `+5F`, `+40`, lowercase hex and prefix).
#[test]
fn spec_rule_cases() {
    let Some(suite) = load() else {
        return;
    };
    let rules = suite["spec_rules"]["decode_order_note"].as_str().unwrap();
    assert!(rules.contains("+5F"), "the rule this test encodes: {rules}");
    let cases = [
        (
            "IMCEAEX-_O=ORG_CN=RECIPIENTS_CN=john+2Esmith@example.com",
            "/O=ORG/CN=RECIPIENTS/CN=john.smith",
        ),
        (
            "IMCEAEX-_O=ORG_CN=RECIPIENTS_CN=john+5Fsmith@example.com",
            "/O=ORG/CN=RECIPIENTS/CN=john_smith",
        ),
        (
            "IMCEAEX-_O=ORG_CN=RECIPIENTS_CN=a+40b@example.com",
            "/O=ORG/CN=RECIPIENTS/CN=a@b",
        ),
        (
            "IMCEAEX-_O=ORG_CN=RECIPIENTS_CN=john+2esmith@example.com",
            "/O=ORG/CN=RECIPIENTS/CN=john.smith",
        ),
        (
            "imceaex-_o=org_cn=recipients_cn=john@example.com",
            "/o=org/cn=recipients/cn=john",
        ),
    ];
    for (imceaex, want) in cases {
        let dn = exchange::decode_imceaex(imceaex).unwrap();
        assert_eq!(dn, LegacyExchangeDn::parse(want).unwrap(), "{imceaex}");
    }
}
