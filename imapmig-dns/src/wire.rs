//! DNS messages, sans-IO: build a query, check and read a response.
//! Encoding and decoding are hickory-proto's; the checks are ours.

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{self, DNSClass, Name};

use crate::{DomainName, Error, Lookup, Outcome, RData, Record, RecordType};

/// Most CNAMEs followed inside one answer.
const MAX_CHAIN: usize = 16;

fn wire_err(reason: impl Into<String>) -> Error {
    Error::Wire {
        reason: reason.into(),
    }
}

fn to_hickory_type(rtype: RecordType) -> rr::RecordType {
    match rtype {
        RecordType::A => rr::RecordType::A,
        RecordType::Aaaa => rr::RecordType::AAAA,
        RecordType::Mx => rr::RecordType::MX,
        RecordType::Txt => rr::RecordType::TXT,
        RecordType::Ptr => rr::RecordType::PTR,
        RecordType::Ns => rr::RecordType::NS,
        RecordType::Cname => rr::RecordType::CNAME,
        RecordType::Soa => rr::RecordType::SOA,
    }
}

fn to_hickory_name(name: &DomainName) -> Result<Name, Error> {
    let mut n = Name::from_labels(name.labels().map(str::as_bytes))
        .map_err(|e| wire_err(format!("name {name}: {e}")))?;
    n.set_fqdn(true);
    Ok(n)
}

fn from_hickory_name(name: &Name) -> Result<DomainName, Error> {
    let mut text = String::new();
    for label in name.iter() {
        if !text.is_empty() {
            text.push('.');
        }
        if !label.iter().all(|b| (0x20..0x7f).contains(b) && *b != b'.') {
            return Err(wire_err("name with bytes that are not printable ascii"));
        }
        text.extend(label.iter().map(|&b| char::from(b)));
    }
    if text.is_empty() {
        return Ok(DomainName::root());
    }
    DomainName::parse(&text)
}

/// Encodes a query for `name`/`rtype` with the given ID, the RD bit, and an
/// EDNS0 OPT record advertising `edns_payload` bytes when given.
///
/// # Errors
/// [`Error::Wire`] when the name cannot be encoded.
pub fn encode_query(
    id: u16,
    name: &DomainName,
    rtype: RecordType,
    recursion_desired: bool,
    edns_payload: Option<u16>,
) -> Result<Vec<u8>, Error> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = recursion_desired;
    let mut q = Query::query(to_hickory_name(name)?, to_hickory_type(rtype));
    q.set_query_class(DNSClass::IN);
    msg.add_query(q);
    if let Some(payload) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload.max(512));
        msg.set_edns(edns);
    }
    msg.to_vec()
        .map_err(|e| wire_err(format!("encoding query: {e}")))
}

/// A checked response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The TC bit was set: ask again over TCP.
    Truncated,
    /// The answer.
    Answer(Lookup),
}

fn convert(data: &rr::RData) -> Result<Option<RData>, Error> {
    Ok(Some(match data {
        rr::RData::A(a) => RData::A(a.0),
        rr::RData::AAAA(a) => RData::Aaaa(a.0),
        rr::RData::MX(mx) => RData::Mx {
            preference: mx.preference,
            exchange: from_hickory_name(&mx.exchange)?,
        },
        rr::RData::TXT(txt) => RData::Txt(txt.txt_data.iter().map(|s| s.to_vec()).collect()),
        rr::RData::PTR(p) => RData::Ptr(from_hickory_name(&p.0)?),
        rr::RData::NS(n) => RData::Ns(from_hickory_name(&n.0)?),
        rr::RData::CNAME(c) => RData::Cname(from_hickory_name(&c.0)?),
        rr::RData::SOA(s) => RData::Soa {
            mname: from_hickory_name(&s.mname)?,
            serial: s.serial,
            minimum: s.minimum,
        },
        _ => return Ok(None),
    }))
}

/// Decodes and checks a response to the query (`id`, `name`, `rtype`):
/// it must be a response with that ID to a standard query with the same
/// question; RCODE NOERROR or NXDOMAIN. Only answer records on the path
/// from `name` through its CNAMEs are kept.
///
/// # Errors
/// [`Error::Wire`] when the bytes do not decode or do not match the
/// query; [`Error::ServerFailure`] for any other RCODE.
pub fn decode_response(
    id: u16,
    name: &DomainName,
    rtype: RecordType,
    bytes: &[u8],
) -> Result<Response, Error> {
    let msg = Message::from_vec(bytes).map_err(|e| wire_err(format!("decoding response: {e}")))?;
    let meta = &msg.metadata;
    if meta.id != id {
        return Err(wire_err(format!(
            "response ID {} does not match query ID {id}",
            meta.id
        )));
    }
    if meta.message_type != MessageType::Response || meta.op_code != OpCode::Query {
        return Err(wire_err("not a response to a standard query"));
    }
    if meta.truncation {
        return Ok(Response::Truncated);
    }
    let [question] = msg.queries.as_slice() else {
        return Err(wire_err(format!(
            "response carries {} questions, not 1",
            msg.queries.len()
        )));
    };
    let qname = from_hickory_name(question.name())?;
    if qname != *name
        || question.query_type() != to_hickory_type(rtype)
        || question.query_class() != DNSClass::IN
    {
        return Err(wire_err(format!(
            "response is for {qname} {}, not {name} {rtype}",
            question.query_type()
        )));
    }
    let outcome_code = meta.response_code;
    if outcome_code != ResponseCode::NoError && outcome_code != ResponseCode::NXDomain {
        return Err(Error::ServerFailure {
            name: name.to_string(),
            rtype,
            rcode: outcome_code.to_string(),
        });
    }
    let mut all = Vec::new();
    for r in &msg.answers {
        if r.dns_class != DNSClass::IN {
            continue;
        }
        if let Some(data) = convert(&r.data)? {
            all.push(Record {
                name: from_hickory_name(&r.name)?,
                ttl: r.ttl,
                data,
            });
        }
    }
    // Keep the records on the path name -> CNAME -> ... -> records of rtype.
    let mut records = Vec::new();
    let mut current = name.clone();
    for _ in 0..MAX_CHAIN {
        let here: Vec<&Record> = all.iter().filter(|r| r.name == current).collect();
        let wanted: Vec<Record> = here
            .iter()
            .filter(|r| r.data.record_type() == rtype)
            .map(|r| (*r).clone())
            .collect();
        if !wanted.is_empty() {
            records.extend(wanted);
            break;
        }
        match here.iter().find_map(|r| match &r.data {
            RData::Cname(t) => Some(((*r).clone(), t.clone())),
            _ => None,
        }) {
            Some((r, target)) => {
                records.push(r);
                current = target;
            }
            None => break,
        }
    }
    let has_wanted = records.iter().any(|r| r.data.record_type() == rtype);
    let outcome = if outcome_code == ResponseCode::NXDomain && !has_wanted {
        Outcome::NxDomain
    } else if has_wanted {
        Outcome::Answer
    } else {
        Outcome::NoData
    };
    Ok(Response::Answer(Lookup {
        outcome,
        records,
        authoritative: meta.authoritative,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME, TXT};

    fn response(
        id: u16,
        qname: &str,
        rtype: rr::RecordType,
        build: impl FnOnce(&mut Message),
    ) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(qname)?, rtype));
        build(&mut m);
        Ok(m.to_vec()?)
    }

    #[test]
    fn query_round_trips_through_hickory() -> Result<(), Box<dyn std::error::Error>> {
        let name: DomainName = "sel._domainkey.example.test".parse()?;
        let bytes = encode_query(0x1234, &name, RecordType::Txt, true, Some(1232))?;
        let m = Message::from_vec(&bytes)?;
        assert_eq!(m.metadata.id, 0x1234);
        assert_eq!(
            m.queries[0].name().to_ascii(),
            "sel._domainkey.example.test."
        );
        assert_eq!(m.edns.as_ref().map(Edns::max_payload), Some(1232));
        Ok(())
    }

    #[test]
    fn response_checks() -> Result<(), Box<dyn std::error::Error>> {
        let name: DomainName = "www.example.test".parse()?;
        let ok = response(7, "www.example.test.", rr::RecordType::A, |m| {
            m.add_answer(rr::Record::from_rdata(
                Name::from_ascii("www.example.test.").unwrap_or_default(),
                60,
                rr::RData::CNAME(CNAME(
                    Name::from_ascii("host.example.test.").unwrap_or_default(),
                )),
            ));
            m.add_answer(rr::Record::from_rdata(
                Name::from_ascii("host.example.test.").unwrap_or_default(),
                30,
                rr::RData::A(A::new(192, 0, 2, 1)),
            ));
            m.add_answer(rr::Record::from_rdata(
                Name::from_ascii("unrelated.test.").unwrap_or_default(),
                30,
                rr::RData::A(A::new(203, 0, 113, 1)),
            ));
        })?;
        match decode_response(7, &name, RecordType::A, &ok)? {
            Response::Answer(l) => {
                assert_eq!(l.outcome, Outcome::Answer);
                assert_eq!(l.records.len(), 2);
            }
            Response::Truncated => panic!("not truncated"),
        }
        assert!(
            decode_response(8, &name, RecordType::A, &ok).is_err(),
            "wrong id"
        );
        assert!(
            decode_response(7, &"other.test".parse()?, RecordType::A, &ok).is_err(),
            "wrong question"
        );
        assert!(
            decode_response(7, &name, RecordType::Mx, &ok).is_err(),
            "wrong type"
        );
        let tc = response(9, "www.example.test.", rr::RecordType::A, |m| {
            m.metadata.truncation = true
        })?;
        assert_eq!(
            decode_response(9, &name, RecordType::A, &tc)?,
            Response::Truncated
        );
        let fail = response(10, "www.example.test.", rr::RecordType::A, |m| {
            m.metadata.response_code = ResponseCode::ServFail
        })?;
        assert!(matches!(
            decode_response(10, &name, RecordType::A, &fail),
            Err(Error::ServerFailure { .. })
        ));
        let nx = response(11, "www.example.test.", rr::RecordType::A, |m| {
            m.metadata.response_code = ResponseCode::NXDomain
        })?;
        assert!(matches!(
            decode_response(11, &name, RecordType::A, &nx)?,
            Response::Answer(Lookup {
                outcome: Outcome::NxDomain,
                ..
            })
        ));
        let txt = response(12, "www.example.test.", rr::RecordType::TXT, |m| {
            m.add_answer(rr::Record::from_rdata(
                Name::from_ascii("www.example.test.").unwrap_or_default(),
                30,
                rr::RData::TXT(TXT::new(vec!["a".into(), "b".into()])),
            ));
        })?;
        match decode_response(12, &name, RecordType::Txt, &txt)? {
            Response::Answer(l) => assert_eq!(
                l.records[0].data,
                RData::Txt(vec![b"a".to_vec(), b"b".to_vec()])
            ),
            Response::Truncated => panic!("not truncated"),
        }
        for cut in 0..ok.len() {
            assert!(decode_response(7, &name, RecordType::A, &ok[..cut]).is_err());
        }
        Ok(())
    }
}
