//! The TLS client configuration of outbound federation: the public roots compiled in
//! (webpki-roots) plus the CAs of `federation.extra_ca`, ring, HTTP/1.1 ALPN.
//!
//! Spec: s2s "TLS": servers present a certificate valid for the server name (or the
//! delegated name), signed by a CA the sender trusts; no self-signed certificates.

use std::path::Path;
use std::sync::Arc;

use futures_rustls::rustls;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why `federation.extra_ca` could not be loaded.
#[derive(Debug)]
pub struct CaError {
    pub file: String,
    pub reason: String,
}

impl std::fmt::Display for CaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "federation.extra_ca {}: {}", self.file, self.reason)
    }
}

impl std::error::Error for CaError {}

/// The client config for outbound federation (and the well-known fetch).
pub fn client_config(extra_ca: &[impl AsRef<Path>]) -> Result<Arc<rustls::ClientConfig>, CaError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for path in extra_ca {
        let path = path.as_ref();
        let error = |reason: String| CaError {
            file: path.display().to_string(),
            reason,
        };
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|e| error(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| error(e.to_string()))?;
        if certificates.is_empty() {
            return Err(error("no PEM certificate in the file".into()));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| error(format!("not a usable CA certificate: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CaError {
            file: String::new(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // STACK-NOTES gotcha 7: offer http/1.1, the only protocol hearth speaks.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
