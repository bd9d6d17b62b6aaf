//! Which findings each situation gives: one good report, changed one fault at a time.

use std::collections::BTreeMap;

use super::*;
use crate::federation::check::keys::Ed25519Checks;
use crate::federation::check::{
    AddressAnswer, CertificateSummary, Checks, DestinationReport, HopReport, KeyChecks,
    ResolutionReport, SrvRecordReport, SrvReport, VersionReport, WellKnownReport,
};

const NOW_MS: i64 = 1_800_000_000_000;

fn good_keys() -> KeyChecks {
    KeyChecks {
        MatchingServerName: true,
        FutureValidUntilTS: true,
        HasEd25519Key: true,
        AllEd25519ChecksOK: true,
        Ed25519Checks: BTreeMap::from([(
            "ed25519:a".to_owned(),
            Ed25519Checks {
                ValidEd25519: true,
                MatchingSignature: true,
            },
        )]),
        server_name: Some("example.test".into()),
        valid_until_ts: Some(NOW_MS + 30 * 86_400_000),
        expires_soon: false,
        error: None,
    }
}

fn good_connection() -> ConnectionReport {
    ConnectionReport {
        addr: "10.0.0.1:443".into(),
        host_header: "matrix.example.test:443".into(),
        tls_server_name: Some("matrix.example.test".into()),
        error: None,
        tls_version: Some("TLSv1_3".into()),
        cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
        certificates: vec![CertificateSummary {
            subject: "CN=matrix.example.test".into(),
            issuer: "CN=CA".into(),
            subject_alternative_names: vec!["matrix.example.test".into()],
            not_before: NOW_MS / 1000 - 86_400,
            not_after: NOW_MS / 1000 + 86_400 * 60,
        }],
        certificate_error: None,
        checks: Checks {
            AllChecksOK: true,
            ValidCertificates: true,
            MatchingServerName: true,
            FutureValidUntilTS: true,
            HasEd25519Key: true,
            AllEd25519ChecksOK: true,
        },
        version: Some(VersionReport {
            status: Some(200),
            name: Some("hearth".into()),
            version: Some("0.1.0".into()),
            error: None,
        }),
        keys: Some(good_keys()),
    }
}

fn good_report() -> Report {
    Report {
        server_name: "example.test".into(),
        federation_ok: true,
        well_known: WellKnownReport {
            skipped: None,
            hops: vec![HopReport {
                url: "https://example.test/.well-known/matrix/server".into(),
                addr: Some("10.0.0.9:443".into()),
                status: Some(200),
                location: None,
                error: None,
            }],
            m_server: Some("matrix.example.test:443".into()),
            error: None,
            content_type: Some("application/json".into()),
            cache_seconds: Some(86_400),
            per_address: Vec::new(),
        },
        srv: Vec::new(),
        resolution: ResolutionReport {
            steps: Vec::new(),
            destinations: vec![DestinationReport {
                addr: "10.0.0.1:443".into(),
                host_header: "matrix.example.test:443".into(),
                tls_server_name: Some("matrix.example.test".into()),
            }],
            error: None,
            error_kind: None,
        },
        connections: vec![good_connection()],
        problems: Vec::new(),
        warnings: Vec::new(),
    }
}

/// Applies `change` to a good report and compares the codes found.
fn check(change: impl FnOnce(&mut Report), problems: &[&str], warnings: &[&str]) {
    let mut report = good_report();
    change(&mut report);
    add_findings(&mut report, NOW_MS);
    let codes = |findings: &[Finding]| findings.iter().map(|f| f.code.clone()).collect::<Vec<_>>();
    assert_eq!(codes(&report.problems), problems, "problems");
    assert_eq!(codes(&report.warnings), warnings, "warnings");
    for finding in report.problems.iter().chain(&report.warnings) {
        assert!(
            !finding.cause.is_empty() && !finding.fix.is_empty(),
            "{finding:?}"
        );
    }
}

fn broken(report: &mut Report) -> &mut ConnectionReport {
    report.federation_ok = false;
    report.connections[0].checks.AllChecksOK = false;
    &mut report.connections[0]
}

#[test]
fn a_good_report_has_no_findings() {
    check(|_| {}, &[], &[]);
}

#[test]
fn redirects_and_the_308_warning() {
    check(
        |r| {
            let mut first = r.well_known.hops[0].clone();
            first.status = Some(308);
            first.location = Some("https://www.example.test/.well-known/matrix/server".into());
            let mut second = first.clone();
            second.status = Some(302);
            r.well_known.hops.insert(0, second);
            r.well_known.hops.insert(0, first);
        },
        &[],
        &["well_known_redirect_308", "well_known_redirect"],
    );
}

#[test]
fn well_known_details() {
    check(
        |r| r.well_known.content_type = Some("text/plain".into()),
        &[],
        &["well_known_content_type"],
    );
    let invalid = |r: &mut Report| {
        r.well_known.m_server = None;
        r.well_known.error = Some("body is not a JSON object: x".into());
    };
    check(invalid, &[], &["well_known_invalid"]);
    // A missing well-known is normal when not delegating: no warning.
    check(
        |r| {
            r.well_known.m_server = None;
            r.well_known.error = Some("HTTP status 404 (only 200 counts)".into());
        },
        &[],
        &[],
    );
}

#[test]
fn an_apex_answering_differently_per_address() {
    let answer = |addr: &str, answer: &str| AddressAnswer {
        addr: addr.into(),
        answer: answer.into(),
    };
    check(
        |r| {
            r.well_known.per_address = vec![
                answer("10.0.0.9:443", "200 m.server=matrix.example.test:443"),
                answer("[fd00::9]:443", "404"),
            ]
        },
        &[],
        &["apex_differs"],
    );
    // Unreachable addresses are not a disagreement.
    check(
        |r| {
            r.well_known.per_address = vec![
                answer("10.0.0.9:443", "200 m.server=matrix.example.test:443"),
                answer("[fd00::9]:443", "error: cannot connect"),
                answer("10.0.0.8:443", "200 m.server=matrix.example.test:443"),
            ]
        },
        &[],
        &[],
    );
}

#[test]
fn only_the_deprecated_srv_name() {
    let srv = |name: &str, records: Vec<SrvRecordReport>| SrvReport {
        name: name.into(),
        records,
        error: None,
    };
    let record = SrvRecordReport {
        priority: 10,
        weight: 0,
        port: 8448,
        target: "matrix.example.test".into(),
    };
    check(
        |r| {
            r.srv = vec![
                srv("_matrix-fed._tcp.example.test", vec![]),
                srv("_matrix._tcp.example.test", vec![record]),
            ]
        },
        &[],
        &["srv_deprecated"],
    );
}

#[test]
fn resolution_failures() {
    let failed = |kind: &'static str| {
        move |r: &mut Report| {
            r.federation_ok = false;
            r.connections.clear();
            r.resolution.destinations.clear();
            r.resolution.error = Some("no address".into());
            r.resolution.error_kind = Some(kind.into());
        }
    };
    check(failed("no_address"), &["resolution_failed"], &[]);
    check(failed("dns"), &["dns_failed"], &[]);
    check(failed("service_unavailable"), &["srv_unavailable"], &[]);
}

#[test]
fn connection_faults() {
    check(
        |r| broken(r).error = Some("cannot connect: refused".into()),
        &["connect_failed"],
        &[],
    );
    check(
        |r| broken(r).error = Some("timed out".into()),
        &["timeout"],
        &[],
    );
    check(
        |r| broken(r).error = Some("TLS handshake failed: x".into()),
        &["tls_failed"],
        &[],
    );
    let certificate = |change: fn(&mut CertificateSummary)| {
        move |r: &mut Report| {
            let connection = broken(r);
            connection.certificate_error = Some("invalid peer certificate".into());
            connection.checks.ValidCertificates = false;
            change(&mut connection.certificates[0]);
        }
    };
    check(
        certificate(|c| c.not_after = NOW_MS / 1000 - 1),
        &["certificate_expired"],
        &[],
    );
    check(
        certificate(|c| c.subject_alternative_names = vec!["*.other.test".into()]),
        &["certificate_wrong_name"],
        &[],
    );
    check(certificate(|_| {}), &["certificate_untrusted"], &[]);
    check(
        |r| broken(r).version.as_mut().unwrap().status = Some(404),
        &["version_endpoint"],
        &[],
    );
}

#[test]
fn key_faults() {
    let keys =
        |change: fn(&mut KeyChecks)| move |r: &mut Report| change(broken(r).keys.as_mut().unwrap());
    check(
        keys(|k| k.error = Some("HTTP 404".into())),
        &["keys_unavailable"],
        &[],
    );
    check(
        keys(|k| k.MatchingServerName = false),
        &["keys_wrong_server"],
        &[],
    );
    check(
        keys(|k| k.FutureValidUntilTS = false),
        &["keys_expired"],
        &[],
    );
    check(keys(|k| k.HasEd25519Key = false), &["keys_missing"], &[]);
    check(
        keys(|k| k.AllEd25519ChecksOK = false),
        &["keys_bad_signature"],
        &[],
    );
    check(
        |r| r.connections[0].keys.as_mut().unwrap().expires_soon = true,
        &[],
        &["keys_expiring_soon"],
    );
}

#[test]
fn certificate_names() {
    assert!(name_matches("matrix.example.test", "Matrix.Example.test"));
    assert!(name_matches("*.example.test", "matrix.example.test"));
    assert!(!name_matches("*.example.test", "example.test"));
    assert!(!name_matches("*.example.test", "a.b.example.test"));
    assert!(!name_matches("other.test", "matrix.example.test"));
    assert!(name_matches("127.0.0.1", "127.0.0.1"));
}
