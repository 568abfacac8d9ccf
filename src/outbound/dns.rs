//! DNS questions and answers for outbound routing, as bytes: the message codec is
//! hickory-proto's; which questions to ask, and what an answer means for mail, is ours. No IO
//! here: the runtime carries the bytes over UDP (TCP when an answer is truncated).

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// What is asked about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Question {
    Mx,
    A,
    Aaaa,
    Txt,
}

impl Question {
    fn record_type(self) -> RecordType {
        match self {
            Question::Mx => RecordType::MX,
            Question::A => RecordType::A,
            Question::Aaaa => RecordType::AAAA,
            Question::Txt => RecordType::TXT,
        }
    }
}

/// What a resolver said about a name, reduced to what mail routing needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// (preference, exchange) pairs; the exchange without its final dot, lower case; the
    /// root (a null MX, RFC 7505) is `""`.
    Mx(Vec<(u16, String)>),
    Addresses(Vec<IpAddr>),
    Txt(Vec<String>),
    /// The name exists, with no record of that type.
    NoData,
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
}

/// Why an answer is no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("not a valid domain name: {0}")]
    BadName(String),
    #[error("truncated answer")]
    Truncated,
    #[error("the resolver failed ({0})")]
    ServerFailure(String),
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("an answer to another question")]
    Mismatch,
}

/// A recursive query (RD set) with id `id` for `name`.
pub fn query(id: u16, name: &str, question: Question) -> Result<Vec<u8>, DnsError> {
    let name = fqdn(name)?;
    let mut message = Message::new();
    message
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, question.record_type()));
    message
        .to_vec()
        .map_err(|e| DnsError::Malformed(e.to_string()))
}

fn fqdn(name: &str) -> Result<Name, DnsError> {
    let bad = || DnsError::BadName(name.to_string());
    if name.is_empty() || name.len() > 253 {
        return Err(bad());
    }
    let mut n = Name::from_ascii(name).map_err(|_| bad())?;
    n.set_fqdn(true);
    Ok(n)
}

/// Read the answer to [`query`]`(id, name, question)`. Records of the asked type are taken
/// wherever they sit in the answer section (a resolver answers a CNAME with the chain and
/// the records at its end).
pub fn parse_answer(
    bytes: &[u8],
    id: u16,
    name: &str,
    question: Question,
) -> Result<Answer, DnsError> {
    let message = Message::from_vec(bytes).map_err(|e| DnsError::Malformed(e.to_string()))?;
    let asked = fqdn(name)?;
    let Some(q) = message.queries().first() else {
        return Err(DnsError::Mismatch);
    };
    if message.id() != id
        || message.message_type() != MessageType::Response
        || q.query_type() != question.record_type()
        || q.name().to_lowercase() != asked.to_lowercase()
    {
        return Err(DnsError::Mismatch);
    }
    if message.truncated() {
        return Err(DnsError::Truncated);
    }
    match message.response_code() {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Ok(Answer::NoSuchName),
        other => return Err(DnsError::ServerFailure(other.to_string())),
    }
    let rdata = message
        .answers()
        .iter()
        .filter(|r| r.record_type() == question.record_type())
        .map(|r| r.data());
    let answer = match question {
        Question::Mx => Answer::Mx(
            rdata
                .filter_map(|d| match d {
                    RData::MX(mx) => Some((mx.preference(), host_name(mx.exchange()))),
                    _ => None,
                })
                .collect(),
        ),
        Question::A | Question::Aaaa => Answer::Addresses(
            rdata
                .filter_map(|d| match d {
                    RData::A(a) => Some(IpAddr::V4(a.0)),
                    RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                    _ => None,
                })
                .collect(),
        ),
        Question::Txt => Answer::Txt(
            rdata
                .filter_map(|d| match d {
                    // A TXT record's strings are one text (RFC 7208 §3.3).
                    RData::TXT(t) => Some(
                        t.txt_data()
                            .iter()
                            .map(|s| String::from_utf8_lossy(s).to_string())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect(),
        ),
    };
    Ok(match answer {
        Answer::Mx(v) if v.is_empty() => Answer::NoData,
        Answer::Addresses(v) if v.is_empty() => Answer::NoData,
        Answer::Txt(v) if v.is_empty() => Answer::NoData,
        a => a,
    })
}

/// A host name as routing compares it: lower case, without the final dot.
fn host_name(name: &Name) -> String {
    let text = name.to_lowercase().to_ascii();
    text.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::net::{Ipv4Addr, Ipv6Addr};

    use hickory_proto::rr::rdata::{A, AAAA, MX, TXT};
    use hickory_proto::rr::Record;

    use super::*;

    fn respond(q: &[u8], code: ResponseCode, answers: Vec<Record>) -> Vec<u8> {
        let mut m = Message::from_vec(q).unwrap();
        m.set_message_type(MessageType::Response)
            .set_response_code(code);
        for a in answers {
            m.add_answer(a);
        }
        m.to_vec().unwrap()
    }

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    #[test]
    fn mx_answers_with_a_null_mx_and_a_cname_chain() {
        let q = query(7, "Example.ORG", Question::Mx).unwrap();
        let answers = vec![
            Record::from_rdata(
                name("example.org."),
                60,
                RData::CNAME(hickory_proto::rr::rdata::CNAME(name("mail.example.org."))),
            ),
            Record::from_rdata(
                name("mail.example.org."),
                60,
                RData::MX(MX::new(20, name("MX2.example.org."))),
            ),
            Record::from_rdata(
                name("mail.example.org."),
                60,
                RData::MX(MX::new(10, name("."))),
            ),
        ];
        let r = respond(&q, ResponseCode::NoError, answers);
        assert_eq!(
            parse_answer(&r, 7, "example.org", Question::Mx),
            Ok(Answer::Mx(vec![
                (20, "mx2.example.org".into()),
                (10, String::new())
            ]))
        );
        // Another id, another name or another type is not this answer.
        assert_eq!(
            parse_answer(&r, 8, "example.org", Question::Mx),
            Err(DnsError::Mismatch)
        );
        assert_eq!(
            parse_answer(&r, 7, "example.net", Question::Mx),
            Err(DnsError::Mismatch)
        );
        assert_eq!(
            parse_answer(&r, 7, "example.org", Question::A),
            Err(DnsError::Mismatch)
        );
    }

    #[test]
    fn addresses_nxdomain_nodata_failure_and_truncation() {
        let q = query(1, "mx.example.org", Question::A).unwrap();
        let r = respond(
            &q,
            ResponseCode::NoError,
            vec![Record::from_rdata(
                name("mx.example.org."),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            )],
        );
        assert_eq!(
            parse_answer(&r, 1, "mx.example.org", Question::A),
            Ok(Answer::Addresses(vec![IpAddr::V4(Ipv4Addr::new(
                192, 0, 2, 1
            ))]))
        );
        let q6 = query(2, "mx.example.org", Question::Aaaa).unwrap();
        let r = respond(
            &q6,
            ResponseCode::NoError,
            vec![Record::from_rdata(
                name("mx.example.org."),
                60,
                RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
            )],
        );
        assert_eq!(
            parse_answer(&r, 2, "mx.example.org", Question::Aaaa),
            Ok(Answer::Addresses(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]))
        );
        let r = respond(&q, ResponseCode::NXDomain, vec![]);
        assert_eq!(
            parse_answer(&r, 1, "mx.example.org", Question::A),
            Ok(Answer::NoSuchName)
        );
        let r = respond(&q, ResponseCode::NoError, vec![]);
        assert_eq!(
            parse_answer(&r, 1, "mx.example.org", Question::A),
            Ok(Answer::NoData)
        );
        let r = respond(&q, ResponseCode::ServFail, vec![]);
        assert!(matches!(
            parse_answer(&r, 1, "mx.example.org", Question::A),
            Err(DnsError::ServerFailure(_))
        ));
        let mut m = Message::from_vec(&q).unwrap();
        m.set_message_type(MessageType::Response)
            .set_truncated(true);
        assert_eq!(
            parse_answer(&m.to_vec().unwrap(), 1, "mx.example.org", Question::A),
            Err(DnsError::Truncated)
        );
        assert!(matches!(
            parse_answer(b"\x00\x01garbage", 1, "mx.example.org", Question::A),
            Err(DnsError::Malformed(_))
        ));
    }

    #[test]
    fn txt_strings_are_joined_and_bad_names_refused() {
        let q = query(3, "_dmarc.example.org", Question::Txt).unwrap();
        let r = respond(
            &q,
            ResponseCode::NoError,
            vec![Record::from_rdata(
                name("_dmarc.example.org."),
                60,
                RData::TXT(TXT::new(vec!["v=DMARC1; ".into(), "p=reject".into()])),
            )],
        );
        assert_eq!(
            parse_answer(&r, 3, "_dmarc.example.org", Question::Txt),
            Ok(Answer::Txt(vec!["v=DMARC1; p=reject".into()]))
        );
        assert!(query(1, "", Question::A).is_err());
        assert!(query(1, &"a".repeat(300), Question::A).is_err());
        assert!(query(1, "bad..name", Question::A).is_err());
    }
}
