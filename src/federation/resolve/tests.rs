//! The stepper driven with canned answers (STYLE 2.3): one line per row of the spec's
//! resolution table (checklist §1.1), checking the address, the `Host` header and the
//! TLS server name chosen, and the order of the lookups made.

use std::collections::HashMap;
use std::net::IpAddr;

use super::step::{Resolution, Step};
use super::{Destination, ResolveError};
use crate::federation::dns::{DnsError, SrvRecord};
use crate::proto::id::ServerName;

/// Canned DNS and well-known answers.
#[derive(Default)]
struct World {
    well_known: HashMap<&'static str, &'static str>,
    srv: HashMap<&'static str, Vec<(u16, u16, &'static str)>>,
    addrs: HashMap<&'static str, Vec<&'static str>>,
    failing: Vec<&'static str>,
}

impl World {
    fn well_known(mut self, host: &'static str, server: &'static str) -> World {
        self.well_known.insert(host, server);
        self
    }
    fn srv(mut self, name: &'static str, records: Vec<(u16, u16, &'static str)>) -> World {
        self.srv.insert(name, records);
        self
    }
    fn addr(mut self, host: &'static str, ips: Vec<&'static str>) -> World {
        self.addrs.insert(host, ips);
        self
    }
    fn failing(mut self, name: &'static str) -> World {
        self.failing.push(name);
        self
    }
}

/// Runs a resolution to the end: the lookups made (`wk host`, `srv name`, `addr host:port`)
/// and the outcome, destinations written `addr host_header sni`.
fn run(server_name: &str, world: &World) -> (Vec<String>, Result<Vec<String>, ResolveError>) {
    let server_name = ServerName::parse(server_name).unwrap();
    let mut resolution = Resolution::new(&server_name, 42);
    let mut lookups = Vec::new();
    for _ in 0..20 {
        match resolution.poll() {
            Step::WellKnown(host) => {
                lookups.push(format!("wk {host}"));
                let delegated = world
                    .well_known
                    .get(host.as_str())
                    .map(|text| ServerName::parse(text).unwrap());
                resolution.handle_well_known(delegated.as_ref());
            }
            Step::Srv(name) => {
                lookups.push(format!("srv {name}"));
                let answer = if world.failing.contains(&name.as_str()) {
                    Err(DnsError::Timeout)
                } else {
                    let records = world.srv.get(name.as_str()).cloned().unwrap_or_default();
                    Ok(records
                        .into_iter()
                        .map(|(priority, port, target)| SrvRecord {
                            priority,
                            weight: 0,
                            port,
                            target: target.to_owned(),
                        })
                        .collect())
                };
                resolution.handle_srv(answer);
            }
            Step::Addr(host, port) => {
                lookups.push(format!("addr {host}:{port}"));
                let answer = if world.failing.contains(&host.as_str()) {
                    Err(DnsError::ServerFailure(2))
                } else {
                    let ips = world.addrs.get(host.as_str()).cloned().unwrap_or_default();
                    Ok(ips.iter().map(|ip| ip.parse::<IpAddr>().unwrap()).collect())
                };
                resolution.handle_addr(answer);
            }
            Step::Done(result) => {
                let shown = result.map(|destinations| destinations.iter().map(show).collect());
                return (lookups, shown);
            }
        }
    }
    panic!("resolution did not finish: {lookups:?}");
}

fn show(destination: &Destination) -> String {
    format!(
        "{} {} {}",
        destination.addr,
        destination.host_header,
        destination.tls_server_name.as_deref().unwrap_or("-")
    )
}

fn check(server_name: &str, world: World, lookups: &[&str], destinations: &[&str]) {
    let (made, result) = run(server_name, &world);
    assert_eq!(made, lookups, "lookups for {server_name}");
    assert_eq!(
        result.unwrap(),
        destinations,
        "destinations for {server_name}"
    );
}

#[test]
fn step_1_ip_literals_are_used_directly_without_sni() {
    check(
        "1.2.3.4",
        World::default(),
        &[],
        &["1.2.3.4:8448 1.2.3.4 -"],
    );
    check(
        "1.2.3.4:8000",
        World::default(),
        &[],
        &["1.2.3.4:8000 1.2.3.4:8000 -"],
    );
    check("[::1]", World::default(), &[], &["[::1]:8448 [::1] -"]);
    check(
        "[2001:db8::2]:443",
        World::default(),
        &[],
        &["[2001:db8::2]:443 [2001:db8::2]:443 -"],
    );
}

#[test]
fn step_2_explicit_port_skips_well_known_and_srv() {
    let world = World::default()
        .well_known("example.test", "elsewhere.test")
        .addr("example.test", vec!["10.0.0.1", "fd00::1"]);
    check(
        "example.test:8000",
        world,
        &["addr example.test:8000"],
        &[
            "10.0.0.1:8000 example.test:8000 example.test",
            "[fd00::1]:8000 example.test:8000 example.test",
        ],
    );
}

#[test]
fn step_3_1_delegation_to_an_ip_literal() {
    let world = World::default().well_known("example.test", "10.9.9.9:1234");
    check(
        "example.test",
        world,
        &["wk example.test"],
        &["10.9.9.9:1234 10.9.9.9:1234 -"],
    );
    let world = World::default().well_known("example.test", "[fd00::9]");
    check(
        "example.test",
        world,
        &["wk example.test"],
        &["[fd00::9]:8448 [fd00::9] -"],
    );
}

#[test]
fn step_3_2_delegated_name_with_port() {
    let world = World::default()
        .well_known("example.test", "matrix.example.test:443")
        .srv(
            "_matrix-fed._tcp.matrix.example.test",
            vec![(1, 9999, "ignored.test")],
        )
        .addr("matrix.example.test", vec!["10.0.0.2"]);
    check(
        "example.test",
        world,
        &["wk example.test", "addr matrix.example.test:443"],
        &["10.0.0.2:443 matrix.example.test:443 matrix.example.test"],
    );
}

#[test]
fn step_3_3_delegated_name_srv_keeps_the_delegated_name_for_host_and_sni() {
    let world = World::default()
        .well_known("example.test", "matrix.example.test")
        .srv(
            "_matrix-fed._tcp.matrix.example.test",
            vec![(10, 8450, "target.test")],
        )
        .addr("target.test", vec!["10.0.0.3"]);
    check(
        "example.test",
        world,
        &[
            "wk example.test",
            "srv _matrix-fed._tcp.matrix.example.test",
            "addr target.test:8450",
        ],
        &["10.0.0.3:8450 matrix.example.test matrix.example.test"],
    );
}

#[test]
fn step_3_4_deprecated_srv_of_the_delegated_name() {
    let world = World::default()
        .well_known("example.test", "matrix.example.test")
        .srv(
            "_matrix._tcp.matrix.example.test",
            vec![(10, 8451, "old.test")],
        )
        .addr("old.test", vec!["10.0.0.4"]);
    check(
        "example.test",
        world,
        &[
            "wk example.test",
            "srv _matrix-fed._tcp.matrix.example.test",
            "srv _matrix._tcp.matrix.example.test",
            "addr old.test:8451",
        ],
        &["10.0.0.4:8451 matrix.example.test matrix.example.test"],
    );
}

#[test]
fn step_3_5_delegated_name_on_8448() {
    let world = World::default()
        .well_known("example.test", "matrix.example.test")
        .addr("matrix.example.test", vec!["10.0.0.5"]);
    check(
        "example.test",
        world,
        &[
            "wk example.test",
            "srv _matrix-fed._tcp.matrix.example.test",
            "srv _matrix._tcp.matrix.example.test",
            "addr matrix.example.test:8448",
        ],
        &["10.0.0.5:8448 matrix.example.test matrix.example.test"],
    );
}

#[test]
fn step_4_srv_of_the_server_name_when_well_known_fails() {
    let world = World::default()
        .srv(
            "_matrix-fed._tcp.example.test",
            vec![(10, 8450, "hsrv.test")],
        )
        .srv("_matrix._tcp.example.test", vec![(10, 1, "never.test")])
        .addr("hsrv.test", vec!["10.0.0.6"]);
    check(
        "example.test",
        world,
        &[
            "wk example.test",
            "srv _matrix-fed._tcp.example.test",
            "addr hsrv.test:8450",
        ],
        &["10.0.0.6:8450 example.test example.test"],
    );
}

#[test]
fn step_5_deprecated_srv_of_the_server_name() {
    let world = World::default()
        .srv("_matrix._tcp.example.test", vec![(10, 8451, "legacy.test")])
        .addr("legacy.test", vec!["10.0.0.7"]);
    check(
        "example.test",
        world,
        &[
            "wk example.test",
            "srv _matrix-fed._tcp.example.test",
            "srv _matrix._tcp.example.test",
            "addr legacy.test:8451",
        ],
        &["10.0.0.7:8451 example.test example.test"],
    );
}

#[test]
fn step_6_the_server_name_on_8448() {
    let world = World::default().addr("example.test", vec!["10.0.0.8"]);
    check(
        "example.test",
        world,
        &[
            "wk example.test",
            "srv _matrix-fed._tcp.example.test",
            "srv _matrix._tcp.example.test",
            "addr example.test:8448",
        ],
        &["10.0.0.8:8448 example.test example.test"],
    );
}

#[test]
fn srv_targets_in_priority_order_and_a_failing_target_does_not_stop_the_others() {
    let world = World::default()
        .srv(
            "_matrix-fed._tcp.example.test",
            vec![
                (20, 8002, "second.test"),
                (10, 8001, "first.test"),
                (30, 8003, "third.test"),
            ],
        )
        .addr("second.test", vec!["10.0.0.2"])
        .addr("third.test", vec!["10.0.0.3"])
        .failing("first.test");
    check(
        "example.test",
        world,
        &[
            "wk example.test",
            "srv _matrix-fed._tcp.example.test",
            "addr first.test:8001",
            "addr second.test:8002",
            "addr third.test:8003",
        ],
        &[
            "10.0.0.2:8002 example.test example.test",
            "10.0.0.3:8003 example.test example.test",
        ],
    );
}

#[test]
fn failures_say_why() {
    // No address anywhere.
    let (_, result) = run("example.test", &World::default());
    assert_eq!(
        result,
        Err(ResolveError::NoAddress {
            host: "example.test".into()
        })
    );
    // "." as the only SRV target: the service is decidedly not available (RFC 2782).
    let world = World::default().srv("_matrix-fed._tcp.example.test", vec![(0, 0, "")]);
    let (_, result) = run("example.test", &world);
    assert_eq!(
        result,
        Err(ResolveError::ServiceUnavailable {
            srv_name: "_matrix-fed._tcp.example.test".into()
        })
    );
    // A DNS failure of the SRV lookup is not taken as "no SRV record".
    let world = World::default()
        .failing("_matrix-fed._tcp.example.test")
        .addr("example.test", vec!["10.0.0.8"]);
    let (lookups, result) = run("example.test", &world);
    assert_eq!(lookups.len(), 2);
    assert!(
        matches!(result, Err(ResolveError::Dns { .. })),
        "{result:?}"
    );
    // The only target's lookup failed: that failure is the reason given.
    let world = World::default().failing("example.test");
    let (_, result) = run("example.test:8448", &world);
    assert!(matches!(result, Err(ResolveError::Dns { name, .. }) if name == "example.test"));
}

#[test]
fn poll_repeats_until_answered_and_stray_answers_are_ignored() {
    let server_name = ServerName::parse("example.test").unwrap();
    let mut resolution = Resolution::new(&server_name, 1);
    assert_eq!(resolution.poll(), Step::WellKnown("example.test".into()));
    assert_eq!(resolution.poll(), Step::WellKnown("example.test".into()));
    // An SRV or address answer while the well-known is awaited changes nothing.
    resolution.handle_srv(Ok(vec![]));
    resolution.handle_addr(Ok(vec![]));
    assert_eq!(resolution.poll(), Step::WellKnown("example.test".into()));
}
