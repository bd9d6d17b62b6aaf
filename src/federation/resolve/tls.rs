//! TLS client settings for outbound federation connections: the public roots compiled in
//! (webpki-roots) plus the PEM files of `federation.extra_ca`, ring as the provider,
//! HTTP/1.1 by ALPN. Also a verifier that records the verdict instead of refusing, for
//! `hearth check`, which must show a certificate it would not trust.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_rustls::rustls;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The public roots plus every certificate in the `extra_ca` files.
pub fn root_store(extra_ca: &[PathBuf]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in extra_ca {
        let mut found = 0;
        for certificate in CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("federation.extra_ca {}: {e}", path.display()))?
        {
            let certificate =
                certificate.map_err(|e| format!("federation.extra_ca {}: {e}", path.display()))?;
            roots
                .add(certificate)
                .map_err(|e| format!("federation.extra_ca {}: {e}", path.display()))?;
            found += 1;
        }
        if found == 0 {
            return Err(format!(
                "federation.extra_ca {}: no certificate in the file",
                path.display()
            ));
        }
    }
    Ok(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client config that verifies certificates against `roots` (the normal case).
pub fn client_config(roots: Arc<RootCertStore>) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    finish(config)
}

/// A client config that completes the handshake whatever the certificate, and writes
/// the normal verifier's verdict (`None` = valid) into the returned slot. Only for
/// reporting: nothing sent on such a connection may be trusted.
pub fn recording_client_config(
    roots: Arc<RootCertStore>,
) -> (Arc<ClientConfig>, Arc<Mutex<Option<String>>>) {
    let verdict = Arc::new(Mutex::new(None));
    let config = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))
        .and_then(|inner| {
            let recorder = Arc::new(RecordingVerifier {
                inner,
                verdict: verdict.clone(),
            });
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map(|builder| {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(recorder)
                        .with_no_client_auth()
                })
        });
    (finish(config), verdict)
}

fn finish(config: Result<ClientConfig, rustls::Error>) -> Arc<ClientConfig> {
    // INVARIANT: ring's default provider supports the safe default protocol versions,
    // and the webpki verifier builds for any root store (empty ones included), so the
    // builders above cannot fail.
    let mut config = config.expect("ring supports the default TLS versions");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verdict: Arc<Mutex<Option<String>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Err(error) = result {
            let mut slot = self.verdict.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(error.to_string());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
