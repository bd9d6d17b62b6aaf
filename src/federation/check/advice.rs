//! What each fault probably means and how to fix it, in plain words. Reads a finished
//! report and adds its `problems` (federation broken) and `warnings` (works, but not
//! for every peer or not for long).

use super::{ConnectionReport, Finding, Report};

fn finding(code: &str, message: String, cause: &str, fix: String) -> Finding {
    Finding {
        code: code.to_owned(),
        message,
        cause: cause.to_owned(),
        fix,
    }
}

/// What other servers' users see when they cannot reach yours.
const UNREACHABLE_SYMPTOM: &str = "While this lasts other servers cannot reach yours: \
    joining a room on another server fails (often as \"401 Unauthorized\" or \"Failed to \
    fetch signing keys\"), because that server can neither fetch your keys nor send to you.";

/// Fills `report.problems` and `report.warnings`. `now_ms` is the check's time.
pub fn add_findings(report: &mut Report, now_ms: i64) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    well_known_findings(report, &mut warnings);
    let host = report.server_name.clone();
    if let Some(error) = &report.resolution.error {
        let well_known_note = match &report.well_known.error {
            Some(why) => format!(" The well-known was not usable: {why}."),
            None => String::new(),
        };
        let message =
            format!("Other servers cannot find an address for {host}: {error}.{well_known_note}");
        match report.resolution.error_kind.as_deref() {
            Some("dns") => problems.push(finding(
                "dns_failed",
                message,
                "The DNS lookup itself failed (no answer, or an error code), which says \
                 nothing about your records. If it is this machine's DNS, other servers may \
                 be fine; if your domain's nameservers fail, every server fails the same.",
                "Check /etc/resolv.conf here and try `dig SRV` for the name shown; make sure \
                 your domain's nameservers answer SRV queries (NOERROR with no records is \
                 fine, SERVFAIL is not)."
                    .into(),
            )),
            Some("service_unavailable") => problems.push(finding(
                "srv_unavailable",
                message,
                "An SRV record with target \".\" says federation is deliberately not \
                 offered for this domain (RFC 2782).",
                "Remove that SRV record, or point it at the host and port running hearth.".into(),
            )),
            _ => problems.push(finding(
                "resolution_failed",
                message,
                "Neither a valid /.well-known/matrix/server, an SRV record, nor an A/AAAA \
                 record leads to a server.",
                format!(
                    "Either serve https://{host}/.well-known/matrix/server with \
                 {{\"m.server\": \"<federation host>:443\"}}, or publish an SRV record \
                 _matrix-fed._tcp.{host}, or an A/AAAA record for {host} pointing at the \
                 machine running hearth (then listen on port 8448). {UNREACHABLE_SYMPTOM}"
                ),
            )),
        }
    }
    for connection in &report.connections {
        connection_findings(connection, now_ms, &mut problems, &mut warnings);
    }
    if !report.federation_ok && problems.is_empty() {
        problems.push(finding(
            "federation_not_ok",
            "No address passed every check.".into(),
            "See the per-address results above.",
            UNREACHABLE_SYMPTOM.into(),
        ));
    }
    report.problems = problems;
    report.warnings = warnings;
}

fn well_known_findings(report: &Report, warnings: &mut Vec<Finding>) {
    let well_known = &report.well_known;
    for hop in &well_known.hops {
        let Some(status) = hop.status.filter(|s| (300..400).contains(s)) else {
            continue;
        };
        let target = hop.location.clone().unwrap_or_default();
        if status == 308 {
            warnings.push(finding(
                "well_known_redirect_308",
                format!("{} answers 308 -> {target}.", hop.url),
                "Synapse servers on old Twisted releases do not follow 308 redirects \
                 (element-hq/synapse#8098): they give up on the well-known and fall back \
                 to SRV and port 8448, so they cannot reach you.",
                "Serve the well-known directly with status 200 (or redirect with 301/302).".into(),
            ));
        } else {
            warnings.push(finding(
                "well_known_redirect",
                format!("{} answers {status} -> {target}.", hop.url),
                "Redirects are allowed, but each one is a chance for a peer to give up.",
                "Serve the well-known directly with status 200.".into(),
            ));
        }
    }
    if well_known.m_server.is_some()
        && !well_known
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json"))
    {
        warnings.push(finding(
            "well_known_content_type",
            format!(
                "The well-known's Content-Type is {:?}, not application/json.",
                well_known.content_type.as_deref().unwrap_or("")
            ),
            "The spec says it should be application/json; most servers parse it anyway.",
            "Set `Content-Type: application/json` on /.well-known/matrix/server.".into(),
        ));
    }
    if well_known.skipped.is_none()
        && let Some(error) = &well_known.error
        && !error.contains("404")
        && !error.starts_with("could not fetch")
    {
        warnings.push(finding(
            "well_known_invalid",
            format!("The well-known exists but is not usable: {error}."),
            "A broken well-known is ignored: other servers fall back to SRV and port 8448.",
            "Serve {\"m.server\": \"<host>[:<port>]\"} as JSON with status 200, or remove it."
                .into(),
        ));
    }
    let answers: Vec<&str> = well_known
        .per_address
        .iter()
        .map(|a| a.answer.as_str())
        .filter(|a| !a.starts_with("error:"))
        .collect();
    if answers.windows(2).any(|pair| pair.first() != pair.last()) {
        let shown: Vec<String> = well_known
            .per_address
            .iter()
            .map(|a| format!("{}: {}", a.addr, a.answer))
            .collect();
        warnings.push(finding(
            "apex_differs",
            format!(
                "The addresses of the hostname disagree: {}.",
                shown.join("; ")
            ),
            "The hostname points at several machines (or a CDN) that do not serve the same \
             well-known, so a peer's result depends on the address it happens to pick.",
            "Serve the same /.well-known/matrix/server from every address, or remove the \
             addresses that do not."
                .into(),
        ));
    }
    for pair in report.srv.chunks(2) {
        if let [fed, legacy] = pair
            && fed.records.is_empty()
            && !legacy.records.is_empty()
        {
            warnings.push(finding(
                "srv_deprecated",
                format!("Only the deprecated SRV record {} exists.", legacy.name),
                "Servers following spec v1.8 and later look up _matrix-fed._tcp first; \
                 _matrix._tcp may be dropped from the spec.",
                format!("Publish the same record as {} too.", fed.name),
            ));
        }
    }
}

fn connection_findings(
    connection: &ConnectionReport,
    now_ms: i64,
    problems: &mut Vec<Finding>,
    warnings: &mut Vec<Finding>,
) {
    let addr = &connection.addr;
    let port = addr.rsplit(':').next().unwrap_or("8448");
    if let Some(error) = &connection.error {
        let (code, cause, fix) = if error.starts_with("TLS") {
            (
                "tls_failed",
                "The port answers, but not with TLS a peer accepts: often a plain-HTTP \
                 listener, or a proxy expecting something else.",
                "Set tls_cert and tls_key on that [[listen]] in hearth.toml, or terminate \
                 TLS in the reverse proxy in front of hearth."
                    .to_owned(),
            )
        } else {
            (
                if error.contains("timed out") {
                    "timeout"
                } else {
                    "connect_failed"
                },
                "Nothing listens there, or a firewall, NAT router or hosting provider blocks \
                 or does not forward the port.",
                format!(
                    "Check that hearth runs and listens on port {port} (see [[listen]] in \
                     hearth.toml), open TCP port {port} in the firewall and forward it on \
                     the router. {UNREACHABLE_SYMPTOM}"
                ),
            )
        };
        problems.push(finding(code, format!("{addr}: {error}."), cause, fix));
        return;
    }
    if let Some(error) = &connection.certificate_error {
        let name = connection.tls_server_name.clone().unwrap_or_else(|| {
            addr.rsplit_once(':')
                .map_or(addr.clone(), |(ip, _)| ip.to_owned())
        });
        let leaf = connection.certificates.first();
        let expired =
            leaf.is_some_and(|c| c.not_after * 1000 < now_ms || c.not_before * 1000 > now_ms);
        let matches = leaf.is_some_and(|c| {
            c.subject_alternative_names
                .iter()
                .any(|san| name_matches(san, name.trim_start_matches('[').trim_end_matches(']')))
        });
        let (code, cause, fix) = if expired {
            (
                "certificate_expired",
                "The certificate is outside its validity period.",
                "Renew it (certbot renew, or your ACME client) and make sure the renewed \
                 files are the ones configured; hearth reloads changed certificate files."
                    .to_owned(),
            )
        } else if !matches {
            let sans = leaf
                .map(|c| c.subject_alternative_names.join(", "))
                .unwrap_or_default();
            (
                "certificate_wrong_name",
                "The certificate does not name the host other servers connect to. With a \
                 well-known it must name the delegated host (the m.server value); with \
                 SRV or no delegation it must name the server name, not the SRV target.",
                format!(
                    "Get a certificate whose subject alternative names include {name} (it has: {sans})."
                ),
            )
        } else {
            (
                "certificate_untrusted",
                "The chain does not lead to a public root: a self-signed or private-CA \
                 certificate, or the intermediate certificates are missing.",
                "Use a certificate from a public CA (e.g. Let's Encrypt) and configure the \
                 full chain (fullchain.pem, not cert.pem)."
                    .to_owned(),
            )
        };
        problems.push(finding(code, format!("{addr}: {error}."), cause, fix));
    }
    if let Some(version) = &connection.version
        && version.status != Some(200)
    {
        problems.push(finding(
            "version_endpoint",
            format!(
                "{addr}: /_matrix/federation/v1/version answered {}.",
                version.status.map_or("nothing".into(), |s| s.to_string())
            ),
            "The address speaks HTTPS but not as a Matrix server: a reverse proxy that does \
             not forward /_matrix/, or another website on this port.",
            "Forward /_matrix/ (including /_matrix/key/) to hearth in the reverse proxy.".into(),
        ));
    }
    let Some(keys) = &connection.keys else {
        return;
    };
    let mut key_problem = |code: &str, message: String, cause: &str, fix: &str| {
        problems.push(finding(
            code,
            format!("{addr}: {message}"),
            cause,
            fix.to_owned(),
        ));
    };
    if let Some(error) = &keys.error {
        key_problem(
            "keys_unavailable",
            format!("/_matrix/key/v2/server: {error}."),
            "Other servers cannot fetch this server's signing keys, so they refuse every \
             request and event it signs.",
            "Forward /_matrix/key/ to hearth in the reverse proxy.",
        );
        return;
    }
    if !keys.MatchingServerName {
        key_problem(
            "keys_wrong_server",
            format!(
                "the key document is for {:?}.",
                keys.server_name.as_deref().unwrap_or("")
            ),
            "This address serves another Matrix server: the delegation points at the wrong \
             host, or server_name in hearth.toml is not the name being checked.",
            "Point the well-known/SRV at the server for this name, or fix server_name.",
        );
    }
    if !keys.FutureValidUntilTS {
        key_problem(
            "keys_expired",
            "the key document's valid_until_ts is in the past.".into(),
            "A stale copy is served (a cache in front of the server) or the clock is wrong.",
            "Do not cache /_matrix/key/ in the proxy; check the server's clock (NTP).",
        );
    }
    if !keys.HasEd25519Key {
        key_problem(
            "keys_missing",
            "the key document has no ed25519 key.".into(),
            "The server publishes no usable signing key.",
            "Check the signing key file of the server.",
        );
    } else if !keys.AllEd25519ChecksOK {
        key_problem(
            "keys_bad_signature",
            "the key document's self-signature does not verify.".into(),
            "The published key and the signing key disagree, or something rewrote the JSON.",
            "Make sure the proxy passes the body unchanged; restart the server after \
             replacing its key file.",
        );
    }
    if keys.expires_soon {
        warnings.push(finding(
            "keys_expiring_soon",
            format!(
                "{addr}: the keys are valid for less than 7 days (valid_until_ts {}).",
                keys.valid_until_ts.unwrap_or(0)
            ),
            "Peers refetch keys when they expire; a short validity is normal for servers \
             that republish often (Synapse: daily), but a fixed date means a stale copy.",
            "Nothing, if the date moves forward on each fetch; otherwise do not cache \
             /_matrix/key/ in the proxy."
                .into(),
        ));
    }
}

/// Whether a certificate name covers `host` (one leading `*.` label, RFC 6125 §6.4.3).
pub fn name_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

#[cfg(test)]
#[path = "advice_tests.rs"]
mod tests;
