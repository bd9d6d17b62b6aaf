//! The text form of a check report, for a person at a terminal.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use super::{ConnectionReport, Finding, Report};

/// The whole report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = write_report(&mut out, report);
    out
}

fn write_report(out: &mut String, report: &Report) -> std::fmt::Result {
    writeln!(out, "Federation check of {}", report.server_name)?;
    writeln!(out)?;
    let well_known = &report.well_known;
    writeln!(out, "Well-known (/.well-known/matrix/server)")?;
    if let Some(skipped) = &well_known.skipped {
        writeln!(out, "  not looked up: {skipped}")?;
    }
    for hop in &well_known.hops {
        let from = hop
            .addr
            .as_deref()
            .map(|a| format!(" from {a}"))
            .unwrap_or_default();
        match (hop.status, &hop.location, &hop.error) {
            (_, _, Some(error)) => writeln!(out, "  GET {}: {error}", hop.url)?,
            (Some(status), Some(location), _) => {
                writeln!(out, "  GET {}: {status}{from} -> {location}", hop.url)?
            }
            (Some(status), None, _) => writeln!(out, "  GET {}: {status}{from}", hop.url)?,
            (None, _, _) => writeln!(out, "  GET {}", hop.url)?,
        }
    }
    match (&well_known.m_server, &well_known.error) {
        (Some(server), _) => {
            let hours = well_known.cache_seconds.unwrap_or(0) as f64 / 3600.0;
            writeln!(
                out,
                "  m.server: {server} (others may cache this {hours:.1} h)"
            )?
        }
        (None, Some(error)) => writeln!(out, "  no delegation: {error}")?,
        (None, None) => {}
    }
    for answer in &well_known.per_address {
        writeln!(out, "  as served by {}: {}", answer.addr, answer.answer)?;
    }
    if !report.srv.is_empty() {
        writeln!(out, "\nSRV records")?;
    }
    for srv in &report.srv {
        match (&srv.error, srv.records.is_empty()) {
            (Some(error), _) => writeln!(out, "  {}: lookup failed: {error}", srv.name)?,
            (None, true) => writeln!(out, "  {}: none", srv.name)?,
            (None, false) => {
                for record in &srv.records {
                    writeln!(
                        out,
                        "  {}: priority {} weight {} -> {}:{}",
                        srv.name, record.priority, record.weight, record.target, record.port
                    )?;
                }
            }
        }
    }
    writeln!(out, "\nResolution (as other servers do it)")?;
    for step in &report.resolution.steps {
        writeln!(out, "  {step}")?;
    }
    for destination in &report.resolution.destinations {
        writeln!(
            out,
            "  => connect to {}, Host: {}, TLS name: {}",
            destination.addr,
            destination.host_header,
            destination
                .tls_server_name
                .as_deref()
                .unwrap_or("(the IP, no SNI)")
        )?;
    }
    if let Some(error) = &report.resolution.error {
        writeln!(out, "  => no address: {error}")?;
    }
    for connection in &report.connections {
        write_connection(out, connection)?;
    }
    write_findings(out, "Warnings", "!", &report.warnings)?;
    write_findings(out, "Problems", "x", &report.problems)?;
    writeln!(out)?;
    let verdict = if report.federation_ok { "OK" } else { "NOT OK" };
    writeln!(
        out,
        "FederationOK: {} — federation with {} is {verdict}",
        report.federation_ok, report.server_name
    )
}

fn write_connection(out: &mut String, connection: &ConnectionReport) -> std::fmt::Result {
    writeln!(out, "\nAddress {}", connection.addr)?;
    if let Some(error) = &connection.error {
        return writeln!(out, "  cannot talk to it: {error}");
    }
    writeln!(
        out,
        "  TLS: {} {}",
        connection.tls_version.as_deref().unwrap_or("?"),
        connection.cipher_suite.as_deref().unwrap_or("?")
    )?;
    for (index, certificate) in connection.certificates.iter().enumerate() {
        writeln!(out, "  certificate {index}: {}", certificate.subject)?;
        writeln!(out, "    issuer: {}", certificate.issuer)?;
        if !certificate.subject_alternative_names.is_empty() {
            writeln!(
                out,
                "    names: {}",
                certificate.subject_alternative_names.join(", ")
            )?;
        }
        writeln!(
            out,
            "    valid: {} to {}",
            date(certificate.not_before),
            date(certificate.not_after)
        )?;
    }
    if let Some(error) = &connection.certificate_error {
        writeln!(out, "  certificate refused: {error}")?;
    }
    if let Some(version) = &connection.version {
        match (&version.name, &version.version, &version.error) {
            (_, _, Some(error)) => writeln!(out, "  version endpoint: {error}")?,
            (name, number, None) => writeln!(
                out,
                "  server: {} {}",
                name.as_deref().unwrap_or("?"),
                number.as_deref().unwrap_or("?")
            )?,
        }
    }
    if let Some(keys) = &connection.keys {
        for (key_id, checks) in &keys.Ed25519Checks {
            let verdict = if checks.ValidEd25519 && checks.MatchingSignature {
                "self-signature ok"
            } else {
                "BAD"
            };
            writeln!(out, "  key {key_id}: {verdict}")?;
        }
        if let Some(until) = keys.valid_until_ts {
            writeln!(out, "  keys valid until {}", date(until / 1000))?;
        }
    }
    let checks = &connection.checks;
    let mark = |ok: bool| if ok { "ok" } else { "FAILED" };
    writeln!(
        out,
        "  ValidCertificates {}, MatchingServerName {}, FutureValidUntilTS {}, HasEd25519Key {}, AllEd25519ChecksOK {}",
        mark(checks.ValidCertificates),
        mark(checks.MatchingServerName),
        mark(checks.FutureValidUntilTS),
        mark(checks.HasEd25519Key),
        mark(checks.AllEd25519ChecksOK)
    )
}

fn write_findings(
    out: &mut String,
    title: &str,
    mark: &str,
    findings: &[Finding],
) -> std::fmt::Result {
    if findings.is_empty() {
        return Ok(());
    }
    writeln!(out, "\n{title}")?;
    for finding in findings {
        writeln!(out, "  {mark} {}", finding.message)?;
        writeln!(out, "    likely cause: {}", finding.cause)?;
        writeln!(out, "    fix: {}", finding.fix)?;
    }
    Ok(())
}

/// `2026-11-26 05:33:00 UTC` from seconds since the epoch.
fn date(seconds: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0));
    let stamp = crate::log::timestamp(time);
    // RFC 3339 with milliseconds: keep the date and the time to the second.
    format!(
        "{} UTC",
        stamp.get(..19).unwrap_or(&stamp).replace('T', " ")
    )
}
