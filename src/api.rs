//! The request and response that endpoint handlers see: plain data, no HTTP library types.
//!
//! `src/http` turns async-h1's requests into [`Request`] (body already read within the
//! endpoint's limit) and a [`Response`] back into bytes on the wire.

use serde_json::Value;

use crate::proto::errcode::{ErrCode, MatrixError};

/// An HTTP method hearth routes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Put,
    Post,
    Delete,
    Options,
    Head,
}

impl Method {
    pub fn parse(name: &str) -> Option<Method> {
        Some(match name {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "HEAD" => Method::Head,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Head => "HEAD",
        }
    }
}

/// A request as a handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The path, percent-decoded per segment by the router into `params`.
    pub path: String,
    /// Query parameters, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Path segments captured by `{name}` in the route pattern, percent-decoded.
    pub params: Vec<String>,
    /// The client's address, for rate limits: the TCP peer, or on a listener with
    /// `x_forwarded` the address the reverse proxy put last in `X-Forwarded-For`.
    pub client: Option<std::net::IpAddr>,
    /// The server that signed the request, on routes that require `X-Matrix`
    /// authentication (set by the router once the signature checked out); else `None`.
    pub origin: Option<crate::proto::id::ServerName>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `n`th `{param}` of the route; the router guarantees as many as the pattern has.
    pub fn param(&self, n: usize) -> &str {
        self.params.get(n).map(String::as_str).unwrap_or("")
    }

    /// The body as a JSON object: `M_NOT_JSON` when it is not JSON, `M_BAD_JSON` when it is
    /// not an object.
    pub fn json_object(&self) -> Result<serde_json::Map<String, Value>, MatrixError> {
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(MatrixError::new(
                400,
                ErrCode::BadJson,
                "the body must be a JSON object",
            )),
            Err(e) => Err(MatrixError::new(
                400,
                ErrCode::NotJson,
                format!("the body is not valid JSON: {e}"),
            )),
        }
    }
}

/// A response: status, content type, extra headers and body bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &Value) -> Response {
        Response {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            // INVARIANT: serialising a `Value` cannot fail.
            body: serde_json::to_vec(value).expect("Value always serialises"),
        }
    }

    /// `200` with a JSON body.
    pub fn ok(value: &Value) -> Response {
        Response::json(200, value)
    }

    pub fn from_error(error: &MatrixError) -> Response {
        Response::json(error.status, &error.body())
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

/// What every handler returns.
pub type ApiResult = Result<Response, MatrixError>;
