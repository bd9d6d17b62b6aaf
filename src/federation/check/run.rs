//! Running the checks: the well-known (with every hop and each address's own answer),
//! both SRV names, the resolution steps, then one connection report per destination.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_rustls::rustls::RootCertStore;

use super::keys::{KeyChecks, check_key_document};
use super::{
    AddressAnswer, Checks, ConnectionReport, DestinationReport, HopReport, Report,
    ResolutionReport, SrvRecordReport, SrvReport, VersionReport, WellKnownReport, advice, cert,
};
use crate::federation::dns::DnsClient;
use crate::federation::resolve::fetch::fetch_well_known;
use crate::federation::resolve::step::{Resolution, Step};
use crate::federation::resolve::well_known::{MAX_BODY_BYTES, parse_body};
use crate::federation::resolve::{Destination, ResolveError, https, tls};
use crate::proto::id::ServerName;

/// Largest version or key response read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// What the checker needs: DNS, and the roots to judge certificates by.
#[derive(Clone)]
pub struct CheckSettings {
    pub dns: DnsClient,
    pub roots: Arc<RootCertStore>,
    /// Time allowed for each request.
    pub timeout: Duration,
}

/// Checks federation with `server_name` from here, as another server would see it.
pub async fn check(settings: &CheckSettings, server_name: &ServerName) -> Report {
    let now = Instant::now();
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let (well_known, delegated) = well_known_report(settings, server_name, now, since_epoch).await;
    let srv = srv_reports(settings, server_name, delegated.as_ref(), now).await;
    let (resolution, destinations) =
        resolution_report(settings, server_name, delegated.as_ref(), now).await;
    let now_ms = i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX);
    let mut connections = Vec::new();
    for destination in &destinations {
        connections.push(connection_report(settings, destination, server_name, now_ms).await);
    }
    let federation_ok = resolution.error.is_none()
        && !connections.is_empty()
        && connections.iter().all(|c| c.checks.AllChecksOK);
    let mut report = Report {
        server_name: server_name.to_string(),
        federation_ok,
        well_known,
        srv,
        resolution,
        connections,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    advice::add_findings(&mut report, now_ms);
    report
}

async fn well_known_report(
    settings: &CheckSettings,
    server_name: &ServerName,
    now: Instant,
    since_epoch: Duration,
) -> (WellKnownReport, Option<ServerName>) {
    let mut report = WellKnownReport {
        skipped: None,
        hops: Vec::new(),
        m_server: None,
        error: None,
        content_type: None,
        cache_seconds: None,
        per_address: Vec::new(),
    };
    if server_name.is_ip_literal() {
        report.skipped = Some("the server name is an IP address (spec step 1)".into());
        return (report, None);
    }
    if server_name.port().is_some() {
        report.skipped = Some("the server name has an explicit port (spec step 2)".into());
        return (report, None);
    }
    let hostname = server_name.host();
    let config = tls::client_config(settings.roots.clone());
    let fetch = fetch_well_known(&settings.dns, config, hostname, now, since_epoch.as_secs()).await;
    report.hops = fetch
        .hops
        .iter()
        .map(|hop| HopReport {
            url: hop.url.clone(),
            addr: hop.addr.map(|a| a.to_string()),
            status: hop.status,
            location: hop.location.clone(),
            error: hop.error.clone(),
        })
        .collect();
    report.content_type = fetch.content_type.clone();
    match &fetch.outcome {
        Ok(delegated) => {
            report.m_server = Some(delegated.to_string());
            report.cache_seconds = Some(fetch.lifetime.map_or(0, |d| d.as_secs()));
        }
        Err(error) => report.error = Some(error.to_string()),
    }
    if let Ok(addresses) = settings.dns.lookup_ip(hostname, now).await
        && addresses.len() > 1
    {
        for ip in addresses {
            let addr = SocketAddr::new(ip, 443);
            let answer = answer_at(settings, addr, hostname).await;
            report.per_address.push(AddressAnswer {
                addr: addr.to_string(),
                answer,
            });
        }
    }
    (report, fetch.outcome.ok())
}

/// The well-known as one address serves it, redirects not followed.
async fn answer_at(settings: &CheckSettings, addr: SocketAddr, hostname: &str) -> String {
    let (config, _) = tls::recording_client_config(settings.roots.clone());
    let path = "/.well-known/matrix/server";
    let response = https::get(
        addr,
        Some(hostname),
        hostname,
        path,
        config,
        MAX_BODY_BYTES,
        settings.timeout,
    );
    match response.await {
        Ok(response) if response.status == 200 => match parse_body(&response.body) {
            Ok(name) => format!("200 m.server={name}"),
            Err(error) => format!("200 invalid ({error})"),
        },
        Ok(response) => match response.header("location") {
            Some(location) => format!("{} -> {location}", response.status),
            None => response.status.to_string(),
        },
        Err(error) => format!("error: {error}"),
    }
}

async fn srv_reports(
    settings: &CheckSettings,
    server_name: &ServerName,
    delegated: Option<&ServerName>,
    now: Instant,
) -> Vec<SrvReport> {
    if server_name.is_ip_literal() || server_name.port().is_some() {
        return Vec::new();
    }
    let mut hostnames = vec![server_name.host().to_owned()];
    if let Some(delegated) = delegated
        && !delegated.is_ip_literal()
        && delegated.port().is_none()
        && delegated.host() != server_name.host()
    {
        hostnames.push(delegated.host().to_owned());
    }
    let mut reports = Vec::new();
    for hostname in hostnames {
        for service in ["_matrix-fed._tcp", "_matrix._tcp"] {
            let name = format!("{service}.{hostname}");
            let (records, error) = match settings.dns.lookup_srv(&name, now).await {
                Ok(records) => (records, None),
                Err(error) => (Vec::new(), Some(error.to_string())),
            };
            let records = records
                .into_iter()
                .map(|r| SrvRecordReport {
                    priority: r.priority,
                    weight: r.weight,
                    port: r.port,
                    target: r.target,
                })
                .collect();
            reports.push(SrvReport {
                name,
                records,
                error,
            });
        }
    }
    reports
}

/// Drives the resolver's stepper with the well-known already fetched, noting each step.
async fn resolution_report(
    settings: &CheckSettings,
    server_name: &ServerName,
    delegated: Option<&ServerName>,
    now: Instant,
) -> (ResolutionReport, Vec<Destination>) {
    let mut resolution = Resolution::new(server_name, getrandom::u64().unwrap_or(1));
    let mut steps = Vec::new();
    if server_name.is_ip_literal() {
        steps.push("IP literal: connect to it directly, no SNI (step 1)".to_owned());
    } else if let Some(port) = server_name.port() {
        steps.push(format!(
            "explicit port {port}: no well-known, no SRV (step 2)"
        ));
    }
    loop {
        match resolution.poll() {
            Step::WellKnown(hostname) => {
                steps.push(match delegated {
                    Some(name) => format!("well-known of {hostname}: delegated to {name} (step 3)"),
                    None => format!(
                        "well-known of {hostname}: none valid, so SRV of {hostname} (step 4)"
                    ),
                });
                resolution.handle_well_known(delegated);
            }
            Step::Srv(name) => {
                let answer = settings.dns.lookup_srv(&name, now).await;
                steps.push(match &answer {
                    Ok(records) if records.is_empty() => format!("SRV {name}: none"),
                    Ok(records) => {
                        let shown: Vec<String> = records
                            .iter()
                            .map(|r| format!("{} {} {} {}", r.priority, r.weight, r.port, r.target))
                            .collect();
                        format!("SRV {name}: {}", shown.join(", "))
                    }
                    Err(error) => format!("SRV {name}: failed: {error}"),
                });
                resolution.handle_srv(answer);
            }
            Step::Addr(host, port) => {
                let answer = settings.dns.lookup_ip(&host, now).await;
                steps.push(match &answer {
                    Ok(ips) if ips.is_empty() => format!("A/AAAA {host}: none"),
                    Ok(ips) => {
                        let shown: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
                        format!("A/AAAA {host}: {} (port {port})", shown.join(", "))
                    }
                    Err(error) => format!("A/AAAA {host}: failed: {error}"),
                });
                resolution.handle_addr(answer);
            }
            Step::Done(result) => {
                let (destinations, error, error_kind) = match result {
                    Ok(destinations) => (destinations, None, None),
                    Err(error) => {
                        let kind = match &error {
                            ResolveError::NoAddress { .. } => "no_address",
                            ResolveError::ServiceUnavailable { .. } => "service_unavailable",
                            ResolveError::Dns { .. } => "dns",
                        };
                        (Vec::new(), Some(error.to_string()), Some(kind.to_owned()))
                    }
                };
                let report = ResolutionReport {
                    steps,
                    destinations: destinations
                        .iter()
                        .map(|d| DestinationReport {
                            addr: d.addr.to_string(),
                            host_header: d.host_header.clone(),
                            tls_server_name: d.tls_server_name.clone(),
                        })
                        .collect(),
                    error,
                    error_kind,
                };
                return (report, destinations);
            }
        }
    }
}

async fn connection_report(
    settings: &CheckSettings,
    destination: &Destination,
    server_name: &ServerName,
    now_ms: i64,
) -> ConnectionReport {
    let mut report = ConnectionReport {
        addr: destination.addr.to_string(),
        host_header: destination.host_header.clone(),
        tls_server_name: destination.tls_server_name.clone(),
        error: None,
        tls_version: None,
        cipher_suite: None,
        certificates: Vec::new(),
        certificate_error: None,
        checks: Checks::default(),
        version: None,
        keys: None,
    };
    let get = |path: &'static str| {
        let (config, verdict) = tls::recording_client_config(settings.roots.clone());
        let response = https::get(
            destination.addr,
            destination.tls_server_name.as_deref(),
            &destination.host_header,
            path,
            config,
            MAX_RESPONSE_BYTES,
            settings.timeout,
        );
        async move {
            let response = response.await;
            let verdict = verdict.lock().unwrap_or_else(|p| p.into_inner()).take();
            (response, verdict)
        }
    };
    let (version, verdict) = get("/_matrix/federation/v1/version").await;
    let version = match version {
        Ok(version) => version,
        Err(error) => {
            report.error = Some(error.to_string());
            return report;
        }
    };
    report.tls_version = Some(version.tls.version.clone());
    report.cipher_suite = Some(version.tls.cipher_suite.clone());
    report.certificates = version
        .tls
        .peer_certificates
        .iter()
        .filter_map(|der| cert::summarize(der))
        .collect();
    report.certificate_error = verdict.map(|error| error.to_string());
    let body: Option<serde_json::Value> = serde_json::from_slice(&version.body).ok();
    let field = |name: &str| {
        body.as_ref()
            .and_then(|b| b.get("server"))
            .and_then(|s| s.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    report.version = Some(VersionReport {
        status: Some(version.status),
        name: field("name"),
        version: field("version"),
        error: (version.status != 200).then(|| format!("HTTP {}", version.status)),
    });
    let (keys, _) = get("/_matrix/key/v2/server").await;
    let keys = match keys {
        Ok(response) if response.status == 200 => {
            check_key_document(&response.body, server_name.as_str(), now_ms)
        }
        Ok(response) => KeyChecks::unavailable(format!("HTTP {}", response.status)),
        Err(error) => KeyChecks::unavailable(error.to_string()),
    };
    let valid_certificates = report.certificate_error.is_none();
    report.checks = Checks {
        AllChecksOK: valid_certificates && keys.all_ok(),
        ValidCertificates: valid_certificates,
        MatchingServerName: keys.MatchingServerName,
        FutureValidUntilTS: keys.FutureValidUntilTS,
        HasEd25519Key: keys.HasEd25519Key,
        AllEd25519ChecksOK: keys.AllEd25519ChecksOK,
    };
    report.keys = Some(keys);
    report
}
