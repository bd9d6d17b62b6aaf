//! DNS messages on the wire (RFC 1035), through simple-dns: building one query and
//! reading the records of its answer. No sockets here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};

use super::SrvRecord;
use super::conf::normalize;

/// The record types the resolver asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryType {
    A,
    Aaaa,
    Srv,
}

impl QueryType {
    fn to_type(self) -> TYPE {
        match self {
            QueryType::A => TYPE::A,
            QueryType::Aaaa => TYPE::AAAA,
            QueryType::Srv => TYPE::SRV,
        }
    }
}

/// One record of an answer that the resolver uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Ip(IpAddr),
    Cname(String),
    Srv(SrvRecord),
}

/// What a server answered to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The server's answer did not fit: ask again over TCP (RFC 1035 §4.2.1).
    pub truncated: bool,
    pub rcode: ResponseCode,
    /// Answer-section records, as (owner name, TTL seconds, record).
    pub records: Vec<(String, u32, Record)>,
    /// For a negative answer: how long it may be cached (RFC 2308 §5: the SOA's TTL,
    /// capped by its `minimum`), when the server sent an SOA.
    pub negative_ttl: Option<u32>,
}

/// The response codes that change what the client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseCode {
    NoError,
    /// NXDOMAIN: the name does not exist.
    NameError,
    /// SERVFAIL, REFUSED, NOTIMP, FORMERR and the rest: ask another server.
    Failure(u16),
}

/// A query for `name` with recursion desired.
pub fn build_query(id: u16, name: &str, query_type: QueryType) -> Result<Vec<u8>, String> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    let name = Name::new(name).map_err(|e| format!("bad name {name}: {e}"))?;
    packet.questions.push(Question::new(
        name,
        QTYPE::TYPE(query_type.to_type()),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet
        .build_bytes_vec()
        .map_err(|e| format!("cannot build the query: {e}"))
}

/// Reads the answer to the query `(id, name, query_type)`. `None` when the message is
/// not that answer (wrong id, not a response, other question): keep waiting, as a
/// spoofed or late datagram must not end the query.
pub fn parse_response(
    bytes: &[u8],
    id: u16,
    name: &str,
    query_type: QueryType,
) -> Option<Response> {
    let packet = Packet::parse(bytes).ok()?;
    if packet.id() != id || !packet.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    let question = packet.questions.first()?;
    if normalize(&question.qname.to_string()) != normalize(name)
        || question.qtype != QTYPE::TYPE(query_type.to_type())
    {
        return None;
    }
    let rcode = match packet.rcode() {
        RCODE::NoError => ResponseCode::NoError,
        RCODE::NameError => ResponseCode::NameError,
        other => ResponseCode::Failure(other as u16),
    };
    let mut records = Vec::new();
    for record in &packet.answers {
        let owner = normalize(&record.name.to_string());
        let value = match &record.rdata {
            RData::A(a) => Record::Ip(IpAddr::V4(Ipv4Addr::from(a.address))),
            RData::AAAA(aaaa) => Record::Ip(IpAddr::V6(Ipv6Addr::from(aaaa.address))),
            RData::CNAME(cname) => Record::Cname(normalize(&cname.0.to_string())),
            RData::SRV(srv) => Record::Srv(SrvRecord {
                priority: srv.priority,
                weight: srv.weight,
                port: srv.port,
                target: normalize(&srv.target.to_string()),
            }),
            _ => continue,
        };
        records.push((owner, record.ttl, value));
    }
    let negative_ttl = packet
        .name_servers
        .iter()
        .find_map(|record| match &record.rdata {
            RData::SOA(soa) => Some(record.ttl.min(soa.minimum)),
            _ => None,
        });
    Some(Response {
        truncated: packet.has_flags(PacketFlag::TRUNCATION),
        rcode,
        records,
        negative_ttl,
    })
}
