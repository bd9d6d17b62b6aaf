//! TLS for listeners: the certificate chain and key from PEM files, reloaded when they
//! change on disk (certbot renewals) without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_rustls::rustls;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsFiles;

/// How often, at most, a handshake looks at the files' modification times.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// Why a certificate or key could not be used.
#[derive(Debug)]
pub enum TlsError {
    /// The certificate file cannot be read or holds no PEM certificate.
    Certificate(PathBuf, String),
    /// The key file cannot be read, holds no PEM private key, or is of an unsupported type.
    Key(PathBuf, String),
    /// The key file can be read by every user of the machine.
    KeyPermissions(PathBuf, u32),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Certificate(path, why) => {
                write!(f, "cannot use certificate {}: {why}", path.display())
            }
            TlsError::Key(path, why) => write!(f, "cannot use key {}: {why}", path.display()),
            TlsError::KeyPermissions(path, mode) => write!(
                f,
                "key {} has mode {mode:o}, readable by every user; run `chmod 600 {}` (or 640 with a group of the hearth user)",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for TlsError {}

/// Builds the rustls server config for a listener (ring provider, HTTP/1.1 ALPN).
pub fn load_tls_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let resolver = ReloadingCert::load(files)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Key(files.key.clone(), e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    // Offer only HTTP/1.1: hearth speaks nothing else, and clients fall back to it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct ReloadingCert {
    files: TlsFiles,
    state: Mutex<CertState>,
}

#[derive(Debug)]
struct CertState {
    checked: Instant,
    stamp: FileStamp,
    key: Arc<CertifiedKey>,
}

/// Modification times and sizes of the two files: a change in any means "reload".
type FileStamp = [(Option<SystemTime>, u64); 2];

impl ReloadingCert {
    fn load(files: &TlsFiles) -> Result<ReloadingCert, TlsError> {
        let stamp = file_stamp(files);
        let key = load_certified_key(files)?;
        Ok(ReloadingCert {
            files: files.clone(),
            state: Mutex::new(CertState {
                checked: Instant::now(),
                stamp,
                key,
            }),
        })
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut state = self.state.lock().ok()?;
        if state.checked.elapsed() >= RELOAD_CHECK_INTERVAL {
            state.checked = Instant::now();
            let stamp = file_stamp(&self.files);
            if stamp != state.stamp {
                // Remember the stamp either way: a half-written file is retried on its next change.
                state.stamp = stamp;
                match load_certified_key(&self.files) {
                    Ok(key) => {
                        state.key = key;
                        crate::info!("reloaded TLS certificate {}", self.files.cert.display());
                    }
                    Err(e) => crate::warn!("keeping the old TLS certificate: {e}"),
                }
            }
        }
        Some(state.key.clone())
    }
}

fn file_stamp(files: &TlsFiles) -> FileStamp {
    let stamp_of = |path: &Path| match std::fs::metadata(path) {
        Ok(meta) => (meta.modified().ok(), meta.len()),
        Err(_) => (None, 0),
    };
    [stamp_of(&files.cert), stamp_of(&files.key)]
}

fn load_certified_key(files: &TlsFiles) -> Result<Arc<CertifiedKey>, TlsError> {
    let certificate_error = |why: String| TlsError::Certificate(files.cert.clone(), why);
    let key_error = |why: String| TlsError::Key(files.key.clone(), why);
    let chain = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| certificate_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(e.to_string()))?;
    if chain.is_empty() {
        return Err(certificate_error("no PEM certificate in the file".into()));
    }
    check_key_permissions(&files.key)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| key_error(e.to_string()))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| key_error(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| key_error(format!("does not match the certificate: {e}")))?;
    Ok(Arc::new(certified))
}

/// A private key readable by every user is refused (checked at start and on reload).
fn check_key_permissions(path: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| TlsError::Key(path.to_owned(), e.to_string()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(TlsError::KeyPermissions(path.to_owned(), mode));
    }
    Ok(())
}
