//! One HTTP/1.1 connection: async-h1 parses requests, this file turns each into an
//! [`api::Request`](crate::api::Request), routes it, enforces the limits, catches panics
//! and logs one line per request.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, FutureExt};
use http_types::StatusCode;

use super::forwarded;
use super::router::{self, Lookup, ROUTES, Route};
use super::stream::AbortableStream;
use crate::api::{ApiResult, Method, Request, Response};
use crate::federation::auth::authenticate;
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::Server;

/// Serves requests on one connection until it closes.
/// On a listener with `x_forwarded`, the client address (log line, rate limits) is the one
/// the reverse proxy put last in `X-Forwarded-For`.
pub async fn serve<S>(server: Arc<Server>, stream: S, peer: SocketAddr, x_forwarded: bool)
where
    S: AsyncRead + AsyncWrite + Clone + Send + Sync + Unpin + 'static,
{
    let stream = AbortableStream::new(stream);
    let abort = stream.abort_handle();
    // async-h1's default head timeout (60 s) bounds slow request heads and idle keep-alive.
    let result = async_h1::accept(stream, |request| {
        let server = server.clone();
        let abort = abort.clone();
        async move {
            let (response, close) = respond(&server, request, peer, x_forwarded).await;
            if close {
                // The body was not read: stop reading and close after this response.
                abort.store(true, Ordering::Relaxed);
            }
            Ok(response)
        }
    })
    .await;
    if let Err(e) = result {
        // Clients that vanish mid-request are routine; malformed requests end up here too.
        crate::debug!("{peer}: connection ended: {e}");
    }
}

/// Handles one request; the flag says whether the connection must close afterwards.
async fn respond(
    server: &Server,
    mut request: http_types::Request,
    peer: SocketAddr,
    x_forwarded: bool,
) -> (http_types::Response, bool) {
    let started = Instant::now();
    let forwarded = if x_forwarded {
        request
            .header("x-forwarded-for")
            .and_then(|values| forwarded::client_address(values.iter().map(|v| v.as_str())))
    } else {
        None
    };
    let client = forwarded.unwrap_or(peer.ip());
    // The proxy's own address stays in the line: it tells connections apart.
    let who = match forwarded {
        Some(ip) => format!("{ip} via {peer}"),
        None => peer.to_string(),
    };
    let method_name = request.method().to_string();
    let path = request.url().path().to_owned();
    let has_body = request.len().is_some_and(|len| len > 0)
        || request
            .header("transfer-encoding")
            .is_some_and(|values| values.as_str().eq_ignore_ascii_case("chunked"));
    let (response, body_read) = route(server, &mut request, &method_name, &path, client).await;
    let close = has_body && !body_read;
    let status = response.status;
    let mut wire = to_wire(response);
    if close {
        wire.insert_header("Connection", "close");
    }
    crate::info!(
        "{who} {method_name} {path} {status} {:.1}ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    (wire, close)
}

/// Routes and runs the handler; the flag says whether the body was read.
async fn route(
    server: &Server,
    request: &mut http_types::Request,
    method_name: &str,
    path: &str,
    client: IpAddr,
) -> (Response, bool) {
    let Some(method) = Method::parse(method_name) else {
        return (error(405, "method not supported"), false);
    };
    if method == Method::Options {
        // CORS preflight: every response carries the CORS headers; nothing else to do.
        return if router::path_exists(ROUTES, path) {
            (Response::ok(&serde_json::json!({})), false)
        } else {
            (unrecognized(404), false)
        };
    }
    let (route, params) = match router::lookup(ROUTES, method, path) {
        Lookup::Found(route, params) => (route, params),
        Lookup::MethodNotAllowed => return (unrecognized(405), false),
        Lookup::NotFound => return (unrecognized(404), false),
    };
    if request.len().is_some_and(|len| len > route.body_limit) {
        return (too_large(route.body_limit), false);
    }
    // Whether the time limit caught the request still arriving (408) or its handler still
    // working, typically waiting for another server (504).
    let body_read = std::sync::atomic::AtomicBool::new(false);
    let work = async {
        let body = read_body(request, route.body_limit).await?;
        body_read.store(true, std::sync::atomic::Ordering::Relaxed);
        // Spec: s2s "Request Authentication": the signature covers the path and query as
        // sent; async-h1's URL keeps both as received (its parser percent-encodes only
        // characters that a conforming sender never leaves bare).
        let uri = match request.url().query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        let api_request = Request {
            method,
            path: path.to_owned(),
            query: request
                .url()
                .query_pairs()
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
            // One entry per value: a repeated header (several `Authorization: X-Matrix`,
            // one per signing key, checklist §2.2) keeps all its values.
            headers: request
                .iter()
                .flat_map(|(name, values)| {
                    values.iter().map(move |value| {
                        (
                            name.as_str().to_ascii_lowercase(),
                            value.as_str().to_owned(),
                        )
                    })
                })
                .collect(),
            body,
            params,
            client: Some(client),
            origin: None,
        };
        // A panic in a handler costs this request only (STYLE 4.2).
        match AssertUnwindSafe(run_route(server, route, api_request, uri))
            .catch_unwind()
            .await
        {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(matrix_error)) => Ok(Response::from_error(&matrix_error)),
            Err(_) => {
                crate::error!("handler for {method_name} {path} panicked");
                Ok(error(500, "internal error"))
            }
        }
    };
    let timeout = async {
        smol::Timer::after(route.timeout).await;
        Err(BodyError::Timeout)
    };
    match work.or(timeout).await {
        Ok(response) => (response, true),
        Err(BodyError::TooLarge) => (too_large(route.body_limit), false),
        Err(BodyError::Timeout) if body_read.load(std::sync::atomic::Ordering::Relaxed) => {
            crate::warn!("{method_name} {path}: no answer within {:?}", route.timeout);
            (
                Response::from_error(&MatrixError::new(
                    504,
                    ErrCode::Unknown,
                    format!(
                        "no answer within {} s (waiting for another server?)",
                        route.timeout.as_secs()
                    ),
                )),
                true,
            )
        }
        Err(BodyError::Timeout) => (
            Response::from_error(&MatrixError::new(
                408,
                ErrCode::Unknown,
                "request timed out",
            )),
            false,
        ),
        Err(BodyError::Io) => (
            Response::from_error(&MatrixError::new(
                400,
                ErrCode::Unknown,
                "could not read the request body",
            )),
            false,
        ),
    }
}

/// Runs the route's handler, after `X-Matrix` authentication on signed routes (401
/// `M_UNAUTHORIZED` without running the handler when it fails).
async fn run_route(server: &Server, route: &Route, mut request: Request, uri: String) -> ApiResult {
    if route.signed {
        request.origin = Some(authenticate(server, &request, &uri).await?);
    }
    (route.handler)(server, request).await
}

enum BodyError {
    TooLarge,
    Timeout,
    Io,
}

/// Reads at most `limit` bytes of body; one byte more means the body is too large.
async fn read_body(request: &mut http_types::Request, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::with_capacity(request.len().unwrap_or(0).min(limit));
    request
        .take_body()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
        .await
        .map_err(|_| BodyError::Io)?;
    if body.len() > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(body)
}

fn error(status: u16, message: &str) -> Response {
    Response::from_error(&MatrixError::new(status, ErrCode::Unknown, message))
}

fn unrecognized(status: u16) -> Response {
    let message = if status == 405 {
        "method not allowed for this endpoint"
    } else {
        "unrecognized request"
    };
    Response::from_error(&MatrixError::new(status, ErrCode::Unrecognized, message))
}

fn too_large(limit: usize) -> Response {
    Response::from_error(&MatrixError::new(
        413,
        ErrCode::TooLarge,
        format!("the request body is larger than {limit} bytes"),
    ))
}

/// Builds async-h1's response, with the CORS headers every Matrix response carries.
fn to_wire(response: Response) -> http_types::Response {
    let status = StatusCode::try_from(response.status).unwrap_or(StatusCode::InternalServerError);
    let mut wire = http_types::Response::new(status);
    wire.set_body(response.body);
    wire.insert_header("Content-Type", response.content_type);
    wire.insert_header("Access-Control-Allow-Origin", "*");
    wire.insert_header(
        "Access-Control-Allow-Methods",
        "GET, HEAD, POST, PUT, DELETE, OPTIONS",
    );
    wire.insert_header(
        "Access-Control-Allow-Headers",
        "X-Requested-With, Content-Type, Authorization, Date",
    );
    for (name, value) in response.headers {
        wire.insert_header(name, value);
    }
    wire
}
