//! The openspf.org test suites (RFC 7208 and RFC 4408), run from their
//! `zonedata` through a test resolver that follows the suite's conventions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use imapmig_dns::spf::{self, SpfQuery, SpfResult};
use imapmig_dns::{DomainName, Error, Lookup, Outcome, RData, Record, RecordType, Resolver};
use serde_yaml::Value;

/// Where the shared conformance suites live.
fn conformance_dir() -> PathBuf {
    match std::env::var_os("IMAPMIG_CONFORMANCE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    }
}

/// Reads a suite file; `None` (and a message) when it is missing outside CI.
fn read_suite(name: &str) -> Option<String> {
    let path = conformance_dir().join("spf").join(name);
    match std::fs::read(&path) {
        // The suite holds bytes that are not UTF-8 on purpose: read them as latin-1.
        Ok(bytes) => Some(bytes.iter().map(|&b| char::from(b)).collect()),
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

/// One entry of a name's zonedata, in order.
#[derive(Debug, Clone)]
enum Entry {
    Timeout,
    Data(RData),
}

/// The suite's resolver: entries per name, `TIMEOUT` answering a temporary
/// error unless records of the asked type came before it (the convention of
/// the suite's reference driver), SPF records doubled as TXT unless the name
/// has TXT entries of its own (`TXT: NONE` included).
struct SuiteZone {
    names: HashMap<String, Vec<Entry>>,
}

fn latin1_bytes(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn name(s: &str) -> Result<DomainName, Error> {
    DomainName::parse(s)
}

impl SuiteZone {
    fn from_yaml(zonedata: Option<&Value>) -> Self {
        let mut names = HashMap::new();
        let Some(Value::Mapping(map)) = zonedata else {
            return SuiteZone { names };
        };
        for (key, list) in map {
            let owner = scalar(key).trim_end_matches('.').to_ascii_lowercase();
            let mut entries = Vec::new();
            let mut spf_as_txt = Vec::new();
            let mut has_txt = false;
            for item in list.as_sequence().into_iter().flatten() {
                if let Value::String(s) = item
                    && s == "TIMEOUT"
                {
                    entries.push(Entry::Timeout);
                    continue;
                }
                let Some(m) = item.as_mapping() else { continue };
                for (k, v) in m {
                    let kind = scalar(k);
                    if kind == "TXT" {
                        has_txt = true;
                    }
                    if scalar(v) == "NONE" {
                        continue;
                    }
                    let data = match kind.as_str() {
                        "SPF" | "TXT" => {
                            let parts = match v {
                                Value::Sequence(seq) => {
                                    seq.iter().map(|p| latin1_bytes(&scalar(p))).collect()
                                }
                                other => vec![latin1_bytes(&scalar(other))],
                            };
                            if kind == "SPF" {
                                spf_as_txt.push(RData::Txt(parts));
                                continue;
                            }
                            Some(RData::Txt(parts))
                        }
                        "A" => scalar(v).parse().ok().map(RData::A),
                        "AAAA" => scalar(v).parse().ok().map(RData::Aaaa),
                        "PTR" => name(&scalar(v)).ok().map(RData::Ptr),
                        "CNAME" => name(&scalar(v)).ok().map(RData::Cname),
                        "MX" => v.as_sequence().and_then(|s| {
                            let pref = s
                                .first()
                                .and_then(Value::as_u64)
                                .and_then(|p| u16::try_from(p).ok())?;
                            let host = s.get(1).map(scalar)?;
                            Some(RData::Mx {
                                preference: pref,
                                exchange: name(&host).ok()?,
                            })
                        }),
                        _ => None,
                    };
                    if let Some(d) = data {
                        entries.push(Entry::Data(d));
                    }
                }
            }
            if !has_txt {
                entries.extend(spf_as_txt.into_iter().map(Entry::Data));
            }
            names.insert(owner, entries);
        }
        SuiteZone { names }
    }

    fn answer(&self, qname: &DomainName, rtype: RecordType, depth: u32) -> Result<Lookup, Error> {
        let key = qname.to_lowercase();
        let Some(entries) = self.names.get(&key) else {
            let below = format!(".{key}");
            let outcome = if self.names.keys().any(|k| k.ends_with(&below)) {
                Outcome::NoData
            } else {
                Outcome::NxDomain
            };
            return Ok(Lookup::empty(outcome));
        };
        let mut records = Vec::new();
        for entry in entries {
            match entry {
                Entry::Timeout if records.is_empty() => {
                    return Err(Error::Timeout {
                        server: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                        name: qname.to_string(),
                        rtype,
                    });
                }
                Entry::Timeout => break,
                Entry::Data(RData::Cname(target)) if rtype != RecordType::Cname && depth < 5 => {
                    let mut inner = self.answer(target, rtype, depth + 1)?;
                    records.push(Record {
                        name: qname.clone(),
                        ttl: 300,
                        data: RData::Cname(target.clone()),
                    });
                    records.append(&mut inner.records);
                }
                Entry::Data(d) if d.record_type() == rtype => {
                    records.push(Record {
                        name: qname.clone(),
                        ttl: 300,
                        data: d.clone(),
                    });
                }
                Entry::Data(_) => {}
            }
        }
        let outcome = if records.iter().any(|r| r.data.record_type() == rtype) {
            Outcome::Answer
        } else {
            Outcome::NoData
        };
        Ok(Lookup {
            outcome,
            records,
            authoritative: true,
        })
    }
}

impl Resolver for SuiteZone {
    fn lookup(&self, qname: &DomainName, rtype: RecordType) -> Result<Lookup, Error> {
        self.answer(qname, rtype, 0)
    }
}

/// A failed case: its name, what was expected, what came out.
#[derive(Debug)]
struct Failure {
    name: String,
    expected: String,
    got: String,
}

/// Per case: the acceptable results and the result we gave.
type Outcomes = HashMap<String, (Vec<String>, SpfResult)>;

/// Runs every scenario of a suite; returns (passed, failures, outcomes).
fn run_suite(text: &str) -> (usize, Vec<Failure>, Outcomes) {
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut outcomes = HashMap::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let scenario: Value = match serde::Deserialize::deserialize(doc) {
            Ok(v) => v,
            Err(e) => {
                failures.push(Failure {
                    name: "<yaml>".into(),
                    expected: String::new(),
                    got: e.to_string(),
                });
                continue;
            }
        };
        let zone = SuiteZone::from_yaml(scenario.get("zonedata"));
        let Some(Value::Mapping(tests)) = scenario.get("tests") else {
            continue;
        };
        for (test_name, t) in tests {
            let test_name = scalar(test_name);
            let expected: Vec<String> = match t.get("result") {
                Some(Value::Sequence(s)) => s.iter().map(scalar).collect(),
                Some(v) => vec![scalar(v)],
                None => Vec::new(),
            };
            let host = t.get("host").map(scalar).unwrap_or_default();
            let Ok(ip) = host.parse::<IpAddr>() else {
                failures.push(Failure {
                    name: test_name,
                    expected: "a host address".into(),
                    got: host,
                });
                continue;
            };
            let mailfrom = t.get("mailfrom").map(scalar).unwrap_or_default();
            let helo = t.get("helo").map(scalar).unwrap_or_default();
            let query = SpfQuery::new(ip, &mailfrom, &helo);
            let out = spf::evaluate(&zone, &query);
            outcomes.insert(test_name.clone(), (expected.clone(), out.result));
            let result_ok = expected
                .iter()
                .any(|e| SpfResult::from_name(e) == Some(out.result));
            // "DEFAULT" stands for the implementation's default text; domain-name
            // parts of explanations are compared ignoring case, as DNS does.
            let exp_ok = match t.get("explanation").map(scalar) {
                Some(want) if want != "DEFAULT" && out.result == SpfResult::Fail => out
                    .explanation
                    .as_deref()
                    .is_some_and(|got| got.eq_ignore_ascii_case(&want)),
                _ => true,
            };
            if result_ok && exp_ok {
                passed += 1;
            } else {
                failures.push(Failure {
                    name: test_name,
                    expected: format!("{expected:?} {:?}", t.get("explanation").map(scalar)),
                    got: format!("{} {:?} ({})", out.result, out.explanation, out.reason),
                });
            }
        }
    }
    (passed, failures, outcomes)
}

#[test]
fn rfc7208_suite_passes_completely() {
    let Some(text) = read_suite("rfc7208-tests.yml") else {
        return;
    };
    let (passed, failures, _) = run_suite(&text);
    println!("rfc7208: {passed} passed, {} failed", failures.len());
    for f in &failures {
        println!("  {}: expected {}, got {}", f.name, f.expected, f.got);
    }
    assert!(passed > 0, "the suite ran no cases");
    assert!(
        failures.is_empty(),
        "{} rfc7208 cases failed",
        failures.len()
    );
}

/// Cases where RFC 7208 changed the answer RFC 4408 gave. The RFC 4408
/// suite accepts both the old and the new answer for these (its lists are
/// wider); we give the RFC 7208 answer, which the test below checks.
const RFC7208_CHANGED: &[(&str, &str)] = &[
    (
        "spfonly",
        "type SPF (99) records are no longer consulted: none, not fail",
    ),
    ("txtonly", "TXT is the only record type: fail, never none"),
    (
        "spftimeout",
        "a timeout on type SPF no longer matters: fail",
    ),
    (
        "txttimeout",
        "a timeout on TXT is a temperror, never a fallback to SPF",
    ),
    (
        "nospftxttimeout",
        "a TXT timeout is temperror even when SPF has no record",
    ),
    ("spfoverride", "the TXT record decides, not the SPF one"),
    (
        "multitxt1",
        "two v=spf1 TXT records are a permerror, never a pass",
    ),
    (
        "multispf2",
        "only TXT counts, so one SPF record among TXT passes",
    ),
    (
        "mx-limit",
        "more than 10 MX names is a permerror (RFC 7208 4.6.4)",
    ),
    (
        "cidr6-ip4",
        "an IPv4 client never matches an ip6 mechanism: neutral",
    ),
    (
        "cidr6-0-ip4",
        "even ip6:::/0 does not match an IPv4 client: neutral",
    ),
    (
        "exists-dnserr",
        "a DNS error in exists is a temperror, not a non-match",
    ),
];

#[test]
fn rfc4408_suite_passes_and_rfc7208_changes_are_taken() {
    let Some(text) = read_suite("rfc4408-tests.yml") else {
        return;
    };
    let (passed, failures, outcomes) = run_suite(&text);
    println!("rfc4408: {passed} passed, {} failed", failures.len());
    for f in &failures {
        println!("  {}: expected {}, got {}", f.name, f.expected, f.got);
    }
    assert!(passed > 0, "the suite ran no cases");
    assert!(failures.is_empty(), "rfc4408 cases failed: {failures:#?}");
    let Some(text7208) = read_suite("rfc7208-tests.yml") else {
        return;
    };
    let (_, _, outcomes7208) = run_suite(&text7208);
    for (name, why) in RFC7208_CHANGED {
        let (old, got) = &outcomes[*name];
        let (new, _) = &outcomes7208[*name];
        assert!(
            old.len() > new.len(),
            "{name}: RFC 4408 suite should accept more answers ({why})"
        );
        assert!(
            new.iter().any(|n| SpfResult::from_name(n) == Some(*got)),
            "{name}: we answered {got}, RFC 7208 wants {new:?} ({why})"
        );
    }
}
