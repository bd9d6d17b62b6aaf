//! A minimal one-shot HTTPS GET (HTTP/1.1, `Connection: close`) for the well-known fetch
//! and `hearth check`: one request per connection, bodies framed by Content-Length,
//! chunked encoding or the end of the connection, with a size cap and a time limit.
//! The federation traffic itself goes through the pooled client in `federation::client`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use futures_rustls::TlsConnector;
use futures_rustls::rustls::ClientConfig;
use futures_rustls::rustls::pki_types::{CertificateDer, ServerName};
use smol::net::TcpStream;

/// Largest response head read.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What the TLS handshake settled on, for reports.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// E.g. `TLSv1_3`.
    pub version: String,
    /// E.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// The chain as the server sent it, leaf first.
    pub peer_certificates: Vec<CertificateDer<'static>>,
}

/// A response read whole.
#[derive(Debug, Clone)]
pub struct HttpsResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub tls: TlsInfo,
}

impl HttpsResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpsError {
    Connect(String),
    Tls(String),
    Timeout,
    /// Not an HTTP/1.x response, or a broken framing.
    Http(String),
    /// The body is over the limit given.
    TooLarge,
}

impl std::fmt::Display for HttpsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpsError::Connect(why) => write!(f, "cannot connect: {why}"),
            HttpsError::Tls(why) => write!(f, "TLS handshake failed: {why}"),
            HttpsError::Timeout => write!(f, "timed out"),
            HttpsError::Http(why) => write!(f, "bad HTTP response: {why}"),
            HttpsError::TooLarge => write!(f, "response body too large"),
        }
    }
}

/// One GET of `path` on `addr`. `tls_server_name` is the name the certificate must be
/// valid for and is sent as SNI; `None` means the certificate must be valid for the IP
/// and no SNI is sent (IP literals).
pub async fn get(
    addr: SocketAddr,
    tls_server_name: Option<&str>,
    host_header: &str,
    path: &str,
    config: Arc<ClientConfig>,
    body_limit: usize,
    timeout: Duration,
) -> Result<HttpsResponse, HttpsError> {
    let server_name = match tls_server_name {
        Some(name) => ServerName::try_from(name.to_owned())
            .map_err(|e| HttpsError::Tls(format!("bad TLS name {name}: {e}")))?,
        None => ServerName::IpAddress(addr.ip().into()),
    };
    // Where the time limit struck: a port that accepts but never answers the handshake is
    // told apart from one that cannot be reached (a plain-HTTP listener waits for a request
    // head, silently, while we wait for its TLS answer).
    let handshaking = AtomicBool::new(false);
    let exchange = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| HttpsError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        handshaking.store(true, Ordering::Relaxed);
        let mut stream = TlsConnector::from(config)
            .connect(server_name, tcp)
            .await
            .map_err(|e| HttpsError::Tls(e.to_string()))?;
        handshaking.store(false, Ordering::Relaxed);
        let connection = stream.get_ref().1;
        let tls = TlsInfo {
            version: connection
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher_suite: connection
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            peer_certificates: connection
                .peer_certificates()
                .map(|chain| chain.iter().map(|c| c.clone().into_owned()).collect())
                .unwrap_or_default(),
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: hearth/{}\r\n\
             Accept: application/json\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| HttpsError::Connect(e.to_string()))?;
        stream
            .flush()
            .await
            .map_err(|e| HttpsError::Connect(e.to_string()))?;
        let (status, headers, body) = read_response(&mut stream, body_limit).await?;
        Ok(HttpsResponse {
            status,
            headers,
            body,
            tls,
        })
    };
    exchange
        .or(async {
            smol::Timer::after(timeout).await;
            if handshaking.load(Ordering::Relaxed) {
                Err(HttpsError::Tls(format!(
                    "no answer within {} s (the port accepts connections but does not \
                     speak TLS: a plain-HTTP listener?)",
                    timeout.as_secs()
                )))
            } else {
                Err(HttpsError::Timeout)
            }
        })
        .await
}

type Head = (u16, Vec<(String, String)>);

async fn read_response(
    stream: &mut (impl futures_lite::AsyncRead + Unpin),
    body_limit: usize,
) -> Result<(u16, Vec<(String, String)>, Vec<u8>), HttpsError> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut head: Option<(Head, usize)> = None;
    loop {
        // Peers that close without close_notify are common; what was read still counts.
        let read = stream.read(&mut chunk).await.unwrap_or(0);
        buffer.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if head.is_none()
            && let Some(end) = find(&buffer, b"\r\n\r\n")
        {
            head = Some((parse_head(buffer.get(..end).unwrap_or_default())?, end + 4));
        }
        match &head {
            None if buffer.len() > MAX_HEAD_BYTES => {
                return Err(HttpsError::Http("response head too large".into()));
            }
            None if read == 0 => return Err(HttpsError::Http("connection closed early".into())),
            None => continue,
            Some(((status, headers), start)) => {
                let body = buffer.get(*start..).unwrap_or_default();
                if let Some(body) = complete_body(headers, body, read == 0, body_limit)? {
                    return Ok((*status, headers.clone(), body));
                }
                if read == 0 {
                    return Err(HttpsError::Http("connection closed mid-body".into()));
                }
            }
        }
    }
}

/// The body once complete (`None`: read more), by the framing the headers give.
fn complete_body(
    headers: &[(String, String)],
    body: &[u8],
    closed: bool,
    limit: usize,
) -> Result<Option<Vec<u8>>, HttpsError> {
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return decode_chunked(body, limit);
    }
    if let Some(length) = header("content-length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| HttpsError::Http("bad Content-Length".into()))?;
        if length > limit {
            return Err(HttpsError::TooLarge);
        }
        return Ok((body.len() >= length).then(|| body.get(..length).unwrap_or_default().to_vec()));
    }
    if body.len() > limit {
        return Err(HttpsError::TooLarge);
    }
    Ok(closed.then(|| body.to_vec()))
}

/// Decodes a chunked body (RFC 9112 §7.1); `None` until the last chunk has arrived.
fn decode_chunked(mut data: &[u8], limit: usize) -> Result<Option<Vec<u8>>, HttpsError> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(data.get(..line_end).unwrap_or_default())
            .map_err(|_| HttpsError::Http("bad chunk size".into()))?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpsError::Http("bad chunk size".into()))?;
        let rest = data.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            // Trailers are not needed; the last chunk is enough.
            return Ok(Some(body));
        }
        if body.len().saturating_add(size) > limit {
            return Err(HttpsError::TooLarge);
        }
        let Some(chunk) = rest.get(..size) else {
            return Ok(None);
        };
        body.extend_from_slice(chunk);
        let Some(after) = rest.get(size + 2..) else {
            return Ok(None);
        };
        data = after;
    }
}

fn parse_head(head: &[u8]) -> Result<Head, HttpsError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpsError::Http("head not UTF-8".into()))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(HttpsError::Http(format!("not HTTP/1.x: {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpsError::Http(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bodies_by_their_framing() {
        let length = headers(&[("content-length", "5")]);
        assert_eq!(complete_body(&length, b"hel", false, 100), Ok(None));
        assert_eq!(
            complete_body(&length, b"hello", false, 100),
            Ok(Some(b"hello".to_vec()))
        );
        assert_eq!(
            complete_body(&length, b"hel", false, 4),
            Err(HttpsError::TooLarge)
        );
        let chunked = headers(&[("transfer-encoding", "chunked")]);
        let wire = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
        assert_eq!(complete_body(&chunked, &wire[..12], false, 100), Ok(None));
        assert_eq!(
            complete_body(&chunked, wire, false, 100),
            Ok(Some(b"hello world".to_vec()))
        );
        assert_eq!(
            complete_body(&chunked, wire, false, 8),
            Err(HttpsError::TooLarge)
        );
        assert!(complete_body(&chunked, b"zz\r\n", false, 8).is_err());
        let none = headers(&[]);
        assert_eq!(complete_body(&none, b"abc", false, 100), Ok(None));
        assert_eq!(
            complete_body(&none, b"abc", true, 100),
            Ok(Some(b"abc".to_vec()))
        );
        assert_eq!(
            complete_body(&none, b"abc", false, 2),
            Err(HttpsError::TooLarge)
        );
    }

    #[test]
    fn heads() {
        let (status, headers) =
            parse_head(b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /x\r\nX-A:  b ").unwrap();
        assert_eq!(status, 308);
        assert_eq!(headers[0], ("location".into(), "/x".into()));
        assert_eq!(headers[1], ("x-a".into(), "b".into()));
        assert!(parse_head(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse_head(b"HTTP/1.1 abc").is_err());
    }
}
