//! `hearth check`: a federation tester built in. It resolves a server name the way other
//! servers do (driving the resolution stepper itself so every step shows), connects to
//! every address found, and reports the TLS session, the certificate chain, the version
//! endpoint and the key document with the public federation tester's check names, plus
//! what it does not: both SRV names, each redirect (308 warned), an apex answering
//! differently per address, keys expiring within 7 days, and for each fault the likely
//! cause and fix in plain words (`advice.rs`). The report is stable JSON (`--json`).

pub mod advice;
pub mod cert;
pub mod keys;
pub mod render;
mod run;

use serde::Serialize;

pub use self::cert::CertificateSummary;
pub use self::keys::KeyChecks;
pub use self::run::{CheckSettings, check};

/// Everything `hearth check` found. Field names are a stable interface (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub server_name: String,
    #[serde(rename = "FederationOK")]
    pub federation_ok: bool,
    pub well_known: WellKnownReport,
    pub srv: Vec<SrvReport>,
    pub resolution: ResolutionReport,
    pub connections: Vec<ConnectionReport>,
    /// Faults that break federation: each with the likely cause and the fix.
    pub problems: Vec<Finding>,
    /// Things that work but may not for every peer or not for long.
    pub warnings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WellKnownReport {
    /// Why no well-known was fetched (IP literal or explicit port), if so.
    pub skipped: Option<String>,
    pub hops: Vec<HopReport>,
    /// The delegated server name, when the well-known is valid.
    pub m_server: Option<String>,
    pub error: Option<String>,
    pub content_type: Option<String>,
    /// How long other servers may cache it (from Cache-Control/Expires).
    pub cache_seconds: Option<u64>,
    /// The well-known as each address of the hostname answers it, without following
    /// redirects (detects an apex served by different machines that disagree).
    pub per_address: Vec<AddressAnswer>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HopReport {
    pub url: String,
    pub addr: Option<String>,
    pub status: Option<u16>,
    pub location: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddressAnswer {
    pub addr: String,
    /// `200 m.server=<name>`, `308 -> <location>`, `404`, or the connection error.
    pub answer: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SrvReport {
    pub name: String,
    pub records: Vec<SrvRecordReport>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SrvRecordReport {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolutionReport {
    /// Each lookup and its answer, in the spec's order.
    pub steps: Vec<String>,
    pub destinations: Vec<DestinationReport>,
    pub error: Option<String>,
    /// `no_address`, `service_unavailable` or `dns` when resolution failed.
    pub error_kind: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DestinationReport {
    pub addr: String,
    pub host_header: String,
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionReport {
    pub addr: String,
    pub host_header: String,
    pub tls_server_name: Option<String>,
    /// Why no TLS session could be set up, if so.
    pub error: Option<String>,
    pub tls_version: Option<String>,
    pub cipher_suite: Option<String>,
    /// The chain as sent, leaf first.
    pub certificates: Vec<CertificateSummary>,
    /// Why the certificate is not trusted for the name, if it is not.
    pub certificate_error: Option<String>,
    pub checks: Checks,
    pub version: Option<VersionReport>,
    pub keys: Option<KeyChecks>,
}

/// The public federation tester's checks for one address.
#[derive(Debug, Clone, Default, Serialize)]
#[allow(non_snake_case)] // The tester's names, so reports compare side by side.
pub struct Checks {
    pub AllChecksOK: bool,
    pub ValidCertificates: bool,
    pub MatchingServerName: bool,
    pub FutureValidUntilTS: bool,
    pub HasEd25519Key: bool,
    pub AllEd25519ChecksOK: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionReport {
    pub status: Option<u16>,
    pub name: Option<String>,
    pub version: Option<String>,
    pub error: Option<String>,
}

/// One fault or warning, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `certificate_expired`.
    pub code: String,
    /// What was seen.
    pub message: String,
    /// The likely cause.
    pub cause: String,
    /// What to do about it.
    pub fix: String,
}
