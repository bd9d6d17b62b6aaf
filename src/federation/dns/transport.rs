//! Sending one question to the nameservers: UDP first, TCP when the answer comes back
//! truncated (RFC 1035 §4.2; RFC 7766), each server in turn, for the configured rounds.

use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use smol::net::{TcpStream, UdpSocket};

use super::DnsError;
use super::conf::DnsConfig;
use super::wire::{QueryType, Response, ResponseCode, build_query, parse_response};

/// Asks the nameservers until one gives a usable answer (NOERROR or NXDOMAIN).
pub async fn ask(
    config: &DnsConfig,
    name: &str,
    query_type: QueryType,
) -> Result<Response, DnsError> {
    let mut last_error = DnsError::Timeout;
    for _ in 0..config.attempts {
        for server in &config.nameservers {
            let id = random_id();
            let query = build_query(id, name, query_type).map_err(DnsError::BadName)?;
            let outcome = ask_udp(*server, &query, id, name, query_type, config.timeout).await;
            let outcome = match outcome {
                Ok(response) if response.truncated => {
                    ask_tcp(*server, &query, id, name, query_type, config.timeout).await
                }
                other => other,
            };
            match outcome {
                Ok(response) => match response.rcode {
                    ResponseCode::NoError | ResponseCode::NameError => return Ok(response),
                    ResponseCode::Failure(code) => last_error = DnsError::ServerFailure(code),
                },
                Err(error) => last_error = error,
            }
        }
    }
    Err(last_error)
}

async fn ask_udp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    query_type: QueryType,
    timeout: Duration,
) -> Result<Response, DnsError> {
    let exchange = async {
        let local: SocketAddr = if server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let socket = UdpSocket::bind(local).await.map_err(io_error)?;
        // A connected socket only receives datagrams from the server.
        socket.connect(server).await.map_err(io_error)?;
        socket.send(query).await.map_err(io_error)?;
        let mut buffer = vec![0u8; 4096];
        loop {
            let length = socket.recv(&mut buffer).await.map_err(io_error)?;
            let bytes = buffer.get(..length).unwrap_or_default();
            // Anything that is not the answer to this query is ignored (RFC 5452).
            if let Some(response) = parse_response(bytes, id, name, query_type) {
                return Ok(response);
            }
        }
    };
    exchange.or(timed_out(timeout)).await
}

async fn ask_tcp(
    server: SocketAddr,
    query: &[u8],
    id: u16,
    name: &str,
    query_type: QueryType,
    timeout: Duration,
) -> Result<Response, DnsError> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await.map_err(io_error)?;
        let length = u16::try_from(query.len()).map_err(|_| DnsError::BadName(name.to_owned()))?;
        let mut message = length.to_be_bytes().to_vec();
        message.extend_from_slice(query);
        stream.write_all(&message).await.map_err(io_error)?;
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).await.map_err(io_error)?;
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut answer).await.map_err(io_error)?;
        parse_response(&answer, id, name, query_type)
            .ok_or_else(|| DnsError::Io("the TCP answer does not match the query".into()))
    };
    exchange.or(timed_out(timeout)).await
}

async fn timed_out(timeout: Duration) -> Result<Response, DnsError> {
    smol::Timer::after(timeout).await;
    Err(DnsError::Timeout)
}

fn io_error(error: std::io::Error) -> DnsError {
    DnsError::Io(error.to_string())
}

/// A random query ID: guessing it is what an off-path spoofer must do (RFC 5452).
fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    // Without randomness the query still works; only spoofing resistance is lost.
    let _ = getrandom::fill(&mut bytes);
    u16::from_be_bytes(bytes)
}
