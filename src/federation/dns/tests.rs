//! The DNS client against a tiny in-test nameserver on 127.0.0.1 (UDP and TCP on the
//! same port): records, CNAME chains, truncation, failures, retries and the cache.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use simple_dns::rdata::{A, AAAA, CNAME, RData, SOA, SRV};
use simple_dns::{CLASS, Name, Packet, PacketFlag, RCODE, ResourceRecord};

use super::*;

/// What the fake server does with one query: `(name, type code)` → reply.
enum Reply {
    Records(Vec<ResourceRecord<'static>>),
    NxDomain,
    Truncated,
    Fail(RCODE),
    Silent,
    WrongIdThen(Vec<ResourceRecord<'static>>),
}

type Handler = fn(&str, u16, bool) -> Reply;

struct FakeServer {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
}

fn record(name: &str, ttl: u32, rdata: RData<'static>) -> ResourceRecord<'static> {
    let name = Name::new_unchecked(name).into_owned();
    ResourceRecord::new(name, CLASS::IN, ttl, rdata)
}

fn a(name: &str, ip: [u8; 4]) -> ResourceRecord<'static> {
    record(name, 300, RData::A(A::from(std::net::Ipv4Addr::from(ip))))
}

fn cname(name: &str, target: &str) -> ResourceRecord<'static> {
    let target = Name::new_unchecked(target).into_owned();
    record(name, 300, RData::CNAME(CNAME(target)))
}

fn srv(name: &str, priority: u16, port: u16, target: &str) -> ResourceRecord<'static> {
    let target = Name::new_unchecked(target).into_owned();
    let data = SRV {
        priority,
        weight: 5,
        port,
        target,
    };
    record(name, 300, RData::SRV(data))
}

fn reply_bytes(query: &Packet, reply: &Reply, over_tcp: bool, id_offset: u16) -> Vec<u8> {
    let mut packet = Packet::new_reply(query.id().wrapping_add(id_offset));
    packet.questions = query.questions.clone();
    match reply {
        Reply::Records(records) | Reply::WrongIdThen(records) => packet.answers = records.clone(),
        Reply::NxDomain => {
            *packet.rcode_mut() = RCODE::NameError;
            let soa = SOA {
                mname: Name::new_unchecked("ns.test"),
                rname: Name::new_unchecked("admin.test"),
                serial: 1,
                refresh: 60,
                retry: 60,
                expire: 60,
                minimum: 30,
            };
            packet
                .name_servers
                .push(record("test", 600, RData::SOA(soa)));
        }
        Reply::Truncated if !over_tcp => packet.set_flags(PacketFlag::TRUNCATION),
        Reply::Truncated => packet.answers.push(a("big.test", [10, 0, 0, 9])),
        Reply::Fail(code) => *packet.rcode_mut() = *code,
        Reply::Silent => {}
    }
    packet.build_bytes_vec().unwrap()
}

impl FakeServer {
    fn start(handler: Handler) -> FakeServer {
        // UDP and TCP on the same port: the TCP port may be taken by someone else, so try
        // fresh UDP ports until both are free.
        let (udp, addr, tcp) = (0..50)
            .find_map(|_| {
                let udp = UdpSocket::bind("127.0.0.1:0").ok()?;
                let addr = udp.local_addr().ok()?;
                let tcp = TcpListener::bind(addr).ok()?;
                Some((udp, addr, tcp))
            })
            .expect("no free UDP+TCP port pair on 127.0.0.1");
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 1500];
            while let Ok((length, from)) = udp.recv_from(&mut buffer) {
                counter.fetch_add(1, Ordering::SeqCst);
                let Ok(query) = Packet::parse(&buffer[..length]) else {
                    continue;
                };
                let question = &query.questions[0];
                let name = question.qname.to_string();
                let qtype: u16 = match question.qtype {
                    simple_dns::QTYPE::TYPE(t) => t.into(),
                    _ => 0,
                };
                let reply = handler(&name, qtype, false);
                if matches!(reply, Reply::Silent) {
                    continue;
                }
                if matches!(reply, Reply::WrongIdThen(_)) {
                    let spoofed = reply_bytes(
                        &query,
                        &Reply::Records(vec![a(&name, [6, 6, 6, 6])]),
                        false,
                        1,
                    );
                    udp.send_to(&spoofed, from).unwrap();
                }
                udp.send_to(&reply_bytes(&query, &reply, false, 0), from)
                    .unwrap();
            }
        });
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            for stream in tcp.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut length = [0u8; 2];
                stream.read_exact(&mut length).unwrap();
                let mut query = vec![0u8; u16::from_be_bytes(length) as usize];
                stream.read_exact(&mut query).unwrap();
                let query = Packet::parse(&query).unwrap();
                let name = query.questions[0].qname.to_string();
                let reply = reply_bytes(&query, &handler(&name, 1, true), true, 0);
                stream
                    .write_all(&(reply.len() as u16).to_be_bytes())
                    .unwrap();
                stream.write_all(&reply).unwrap();
            }
        });
        FakeServer { addr, queries }
    }

    fn client(&self) -> DnsClient {
        client_for(vec![self.addr])
    }

    fn query_count(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

/// Per-query timeout of the test clients: long enough that a loaded CI machine still gets
/// answers from the in-test servers in time, short enough to keep the timeout test brief.
const TEST_TIMEOUT: Duration = Duration::from_millis(1000);

fn client_for(nameservers: Vec<SocketAddr>) -> DnsClient {
    DnsClient::new(DnsConfig {
        nameservers,
        hosts: Hosts::default(),
        timeout: TEST_TIMEOUT,
        attempts: 2,
    })
}

const A_TYPE: u16 = 1;
const AAAA_TYPE: u16 = 28;
const SRV_TYPE: u16 = 33;

fn lab(name: &str, qtype: u16, _tcp: bool) -> Reply {
    match (name, qtype) {
        ("_matrix-fed._tcp.example.test", SRV_TYPE) => Reply::Records(vec![
            srv("_matrix-fed._tcp.example.test", 10, 8450, "b.example.test"),
            srv("_matrix-fed._tcp.example.test", 5, 443, "a.example.test."),
        ]),
        ("host.test", A_TYPE) => Reply::Records(vec![a("host.test", [10, 0, 0, 1])]),
        ("host.test", AAAA_TYPE) => {
            let ip: std::net::Ipv6Addr = "fd00::1".parse().unwrap();
            Reply::Records(vec![record("host.test", 300, RData::AAAA(AAAA::from(ip)))])
        }
        // A chain answered whole, and one that stops at a name with no address in it.
        ("alias.test", A_TYPE) => Reply::Records(vec![
            cname("alias.test", "middle.test"),
            cname("middle.test", "host.test"),
            a("host.test", [10, 0, 0, 1]),
        ]),
        ("short.test", _) => Reply::Records(vec![cname("short.test", "host.test")]),
        ("loop.test", A_TYPE) => Reply::Records(vec![
            cname("loop.test", "loop2.test"),
            cname("loop2.test", "loop.test"),
        ]),
        ("big.test", _) => Reply::Truncated,
        ("spoofed.test", A_TYPE) => Reply::WrongIdThen(vec![a("spoofed.test", [10, 0, 0, 7])]),
        (name, _) if name.ends_with("broken.test") => Reply::Fail(RCODE::ServerFailure),
        ("slow.test", _) => Reply::Silent,
        (_, AAAA_TYPE) => Reply::Records(vec![]),
        _ => Reply::NxDomain,
    }
}

fn ips(result: Result<Vec<IpAddr>, DnsError>) -> Vec<String> {
    result.unwrap().iter().map(|ip| ip.to_string()).collect()
}

#[test]
fn srv_records_come_back_lower_case_without_the_root_dot() {
    let server = FakeServer::start(lab);
    let client = server.client();
    let records =
        smol::block_on(client.lookup_srv("_matrix-fed._tcp.example.test", Instant::now()));
    let records = records.unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].target, "a.example.test");
    assert_eq!((records[1].priority, records[1].port), (5, 443));
    let none = smol::block_on(client.lookup_srv("_matrix._tcp.example.test", Instant::now()));
    assert_eq!(none.unwrap(), []);
}

#[test]
fn ipv4_then_ipv6() {
    let server = FakeServer::start(lab);
    let found = smol::block_on(server.client().lookup_ip("host.test", Instant::now()));
    assert_eq!(ips(found), ["10.0.0.1", "fd00::1"]);
}

#[test]
fn cname_chains_are_followed_in_the_answer_and_by_asking_again() {
    let server = FakeServer::start(lab);
    let client = server.client();
    let now = Instant::now();
    assert_eq!(
        ips(smol::block_on(client.lookup_ip("alias.test", now))),
        ["10.0.0.1"]
    );
    assert_eq!(
        ips(smol::block_on(client.lookup_ip("short.test", now))),
        ["10.0.0.1", "fd00::1"]
    );
    let looping = smol::block_on(client.lookup_ip("loop.test", now));
    assert!(
        matches!(looping, Err(DnsError::CnameChain(_))),
        "{looping:?}"
    );
}

#[test]
fn a_truncated_answer_is_asked_again_over_tcp() {
    let server = FakeServer::start(lab);
    let found = smol::block_on(server.client().lookup_ip("big.test", Instant::now()));
    assert_eq!(ips(found), ["10.0.0.9"]);
}

#[test]
fn a_datagram_with_another_id_is_ignored() {
    let server = FakeServer::start(lab);
    let found = smol::block_on(server.client().lookup_ip("spoofed.test", Instant::now()));
    assert_eq!(ips(found), ["10.0.0.7"]);
}

#[test]
fn answers_and_negative_answers_are_cached() {
    let server = FakeServer::start(lab);
    let client = server.client();
    let now = Instant::now();
    smol::block_on(client.lookup_ip("host.test", now)).unwrap();
    let nothing = smol::block_on(client.lookup_ip("nothing.test", now)).unwrap();
    assert!(nothing.is_empty());
    let asked = server.query_count();
    assert_eq!(asked, 4);
    smol::block_on(client.lookup_ip("host.test", now + Duration::from_secs(299))).unwrap();
    // NXDOMAIN's SOA says 30 s (its minimum), the AAAA NODATA without SOA 60 s.
    smol::block_on(client.lookup_ip("nothing.test", now + Duration::from_secs(29))).unwrap();
    assert_eq!(server.query_count(), asked);
    smol::block_on(client.lookup_ip("host.test", now + Duration::from_secs(300))).unwrap();
    smol::block_on(client.lookup_ip("nothing.test", now + Duration::from_secs(31))).unwrap();
    assert_eq!(server.query_count(), asked + 3);
}

#[test]
fn failures_move_on_to_the_next_server_and_time_out_in_the_end() {
    let silent = FakeServer::start(|_, _, _| Reply::Silent);
    let failing = FakeServer::start(|_, _, _| Reply::Fail(RCODE::Refused));
    let good = FakeServer::start(lab);
    let client = client_for(vec![silent.addr, failing.addr, good.addr]);
    let found = smol::block_on(client.lookup_ip("host.test", Instant::now()));
    assert_eq!(ips(found), ["10.0.0.1", "fd00::1"]);

    let started = Instant::now();
    let client = client_for(vec![silent.addr]);
    let result = smol::block_on(client.lookup_srv("_matrix-fed._tcp.slow.test", Instant::now()));
    assert_eq!(result, Err(DnsError::Timeout));
    // Two rounds of one timeout each.
    assert!(started.elapsed() >= TEST_TIMEOUT * 2);
    assert_eq!(silent.query_count(), 2 + 2);

    let client = client_for(vec![good.addr]);
    let result = smol::block_on(client.lookup_srv("_matrix-fed._tcp.broken.test", Instant::now()));
    assert_eq!(result, Err(DnsError::ServerFailure(2)));
}

#[test]
fn hosts_entries_win_over_dns_and_ip_literals_need_no_lookup() {
    let server = FakeServer::start(lab);
    let mut hosts = Hosts::default();
    hosts.insert("host.test", vec!["127.0.0.9".parse().unwrap()]);
    let client = DnsClient::new(DnsConfig {
        nameservers: vec![server.addr],
        hosts,
        timeout: Duration::from_millis(300),
        attempts: 1,
    });
    let now = Instant::now();
    assert_eq!(
        ips(smol::block_on(client.lookup_ip("HOST.test.", now))),
        ["127.0.0.9"]
    );
    assert_eq!(ips(smol::block_on(client.lookup_ip("::1", now))), ["::1"]);
    assert_eq!(server.query_count(), 0);
}
