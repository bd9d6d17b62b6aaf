//! Request authentication between servers (spec: s2s "Request Authentication";
//! checklist §2.2): the JSON object that is signed for a request, the
//! `Authorization: X-Matrix ...` header that carries the signature, and its parsing.
//!
//! Pure: the caller supplies the method, the URI exactly as sent on the wire, the body,
//! the server names and the keys. Fetching the origin's keys is `federation::keys`.

use serde_json::{Map, Value};

use super::canonical_json::JsonError;
use super::id::ServerName;
use super::signing::{SigningKey, VerifyError, sign_json, verify_json};

/// A parsed `X-Matrix` authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XMatrix {
    pub origin: ServerName,
    /// Absent in requests from servers older than spec v1.3.
    pub destination: Option<ServerName>,
    /// `ed25519:<version>`.
    pub key_id: String,
    /// Unpadded base64, as sent.
    pub signature: String,
}

/// Why a request's `X-Matrix` authentication was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XMatrixError {
    /// No `Authorization` header, or one with another scheme.
    NotXMatrix,
    /// The parameter list does not follow RFC 9110 §11.4 (with the spec's allowances).
    Malformed(&'static str),
    /// A required parameter (`origin`, `key`, `sig`) is missing.
    MissingParam(&'static str),
    /// A parameter was given twice: which one was signed would be ambiguous.
    DuplicateParam(String),
    InvalidOrigin,
    InvalidDestination,
    /// The key ID is not `<algorithm>:<version>`.
    InvalidKeyId,
    /// Only ed25519 keys exist in Matrix today.
    UnsupportedAlgorithm(String),
    /// `destination` names another server (spec: "must deny the request with 401").
    WrongDestination(ServerName),
    /// The signature does not verify over the request.
    Signature(VerifyError),
}

impl std::fmt::Display for XMatrixError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XMatrixError::NotXMatrix => write!(f, "missing X-Matrix Authorization header"),
            XMatrixError::Malformed(why) => write!(f, "malformed X-Matrix header: {why}"),
            XMatrixError::MissingParam(name) => {
                write!(f, "X-Matrix header has no `{name}` parameter")
            }
            XMatrixError::DuplicateParam(name) => {
                write!(f, "X-Matrix header has `{name}` twice")
            }
            XMatrixError::InvalidOrigin => write!(f, "X-Matrix origin is not a server name"),
            XMatrixError::InvalidDestination => {
                write!(f, "X-Matrix destination is not a server name")
            }
            XMatrixError::InvalidKeyId => write!(f, "X-Matrix key is not <algorithm>:<version>"),
            XMatrixError::UnsupportedAlgorithm(algorithm) => {
                write!(f, "X-Matrix key algorithm {algorithm} is not supported")
            }
            XMatrixError::WrongDestination(name) => {
                write!(f, "X-Matrix destination {name} is not this server")
            }
            XMatrixError::Signature(e) => write!(f, "X-Matrix signature: {e}"),
        }
    }
}

impl std::error::Error for XMatrixError {}

/// The object that is signed for a request (spec: s2s "Request Authentication", step 1).
/// `uri` is the path from `/_matrix/...` with `?query`, exactly as on the wire; `content`
/// is the parsed JSON body, `None` when the request has no body.
pub fn request_json(
    method: &str,
    uri: &str,
    origin: &ServerName,
    destination: &ServerName,
    content: Option<&Value>,
) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("method".into(), Value::String(method.to_owned()));
    object.insert("uri".into(), Value::String(uri.to_owned()));
    object.insert("origin".into(), Value::String(origin.as_str().to_owned()));
    object.insert(
        "destination".into(),
        Value::String(destination.as_str().to_owned()),
    );
    if let Some(content) = content {
        object.insert("content".into(), content.clone());
    }
    object
}

/// The `Authorization` header value for a request from `origin` to `destination`
/// (server names from before delegation), signed with `key`.
///
/// Written the way the spec asks senders to, for older receivers: one space after
/// `X-Matrix`, lower-case names, no spaces around commas, every value quoted (server
/// names, key IDs and base64 hold no `"` or `\`, so nothing needs escaping).
pub fn authorization_header(
    key: &SigningKey,
    method: &str,
    uri: &str,
    origin: &ServerName,
    destination: &ServerName,
    content: Option<&Value>,
) -> Result<String, JsonError> {
    let mut object = request_json(method, uri, origin, destination, content);
    sign_json(&mut object, origin.as_str(), key)?;
    let key_id = key.key_id();
    let signature = object
        .get("signatures")
        .and_then(|s| s.get(origin.as_str()))
        .and_then(|s| s.get(&key_id))
        .and_then(Value::as_str)
        .ok_or(JsonError::NotAnObject)?;
    Ok(format!(
        "X-Matrix origin=\"{origin}\",destination=\"{destination}\",key=\"{key_id}\",sig=\"{signature}\""
    ))
}

/// Parses an `Authorization` header value of scheme `X-Matrix`.
///
/// Spec: RFC 9110 §11.4 syntax; scheme and parameter names case-insensitive, any order,
/// values quoted (backslash escapes undone) or bare, bare values may contain `:` (old
/// servers send `origin=example.org:8448`); unknown parameters ignored; `destination`
/// optional. The signature parameter is `sig`, as in the spec's example and every
/// implementation (its parameter list says "signature").
pub fn parse_header(value: &str) -> Result<XMatrix, XMatrixError> {
    let value = value.trim_start_matches([' ', '\t']);
    let scheme_end = value.find([' ', '\t']).ok_or(XMatrixError::NotXMatrix)?;
    let (scheme, params) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case("X-Matrix") {
        return Err(XMatrixError::NotXMatrix);
    }
    let mut origin = None;
    let mut destination = None;
    let mut key = None;
    let mut sig = None;
    for (name, param) in parse_params(params)? {
        let slot = match name.as_str() {
            "origin" => &mut origin,
            "destination" => &mut destination,
            "key" => &mut key,
            "sig" => &mut sig,
            // Spec: "Unknown parameters are ignored."
            _ => continue,
        };
        if slot.replace(param).is_some() {
            return Err(XMatrixError::DuplicateParam(name));
        }
    }
    let origin = origin.ok_or(XMatrixError::MissingParam("origin"))?;
    let origin = ServerName::parse(&origin).map_err(|_| XMatrixError::InvalidOrigin)?;
    let destination = destination
        .map(|d| ServerName::parse(&d).map_err(|_| XMatrixError::InvalidDestination))
        .transpose()?;
    let key_id = key.ok_or(XMatrixError::MissingParam("key"))?;
    let (algorithm, version) = key_id.split_once(':').ok_or(XMatrixError::InvalidKeyId)?;
    if algorithm.is_empty() || version.is_empty() {
        return Err(XMatrixError::InvalidKeyId);
    }
    if algorithm != "ed25519" {
        return Err(XMatrixError::UnsupportedAlgorithm(algorithm.to_owned()));
    }
    let signature = sig.ok_or(XMatrixError::MissingParam("sig"))?;
    Ok(XMatrix {
        origin,
        destination,
        key_id,
        signature,
    })
}

/// Checks `header` against the request as received by `our_name`.
///
/// The caller supplies the origin's public key for `header.key_id` (unpadded base64),
/// valid now. A request without `destination` is checked as if it named us, as Synapse
/// does (spec: "recipients should accept requests without this parameter").
pub fn verify_request(
    header: &XMatrix,
    method: &str,
    uri: &str,
    our_name: &ServerName,
    content: Option<&Value>,
    public_key_base64: &str,
) -> Result<(), XMatrixError> {
    check_destination(header, our_name)?;
    let mut object = request_json(method, uri, &header.origin, our_name, content);
    let mut by_key = Map::new();
    by_key.insert(
        header.key_id.clone(),
        Value::String(header.signature.clone()),
    );
    let mut signatures = Map::new();
    signatures.insert(header.origin.as_str().to_owned(), Value::Object(by_key));
    object.insert("signatures".into(), Value::Object(signatures));
    verify_json(
        &object,
        header.origin.as_str(),
        &header.key_id,
        public_key_base64,
    )
    .map_err(XMatrixError::Signature)
}

/// Spec: "If this property is included, but the value does not match the receiving
/// server's name, the receiving server must deny the request with 401". Cheap, so
/// callers run it before fetching any key.
pub fn check_destination(header: &XMatrix, our_name: &ServerName) -> Result<(), XMatrixError> {
    match &header.destination {
        Some(destination) if destination != our_name => {
            Err(XMatrixError::WrongDestination(destination.clone()))
        }
        _ => Ok(()),
    }
}

/// `auth-param *( OWS "," OWS auth-param )`, names lower-cased, values unescaped.
fn parse_params(text: &str) -> Result<Vec<(String, String)>, XMatrixError> {
    let mut params = Vec::new();
    let mut rest = text.trim_start_matches([' ', '\t']);
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Ok(params);
        }
        let name_end = rest.find(|c: char| !is_tchar(c)).unwrap_or(rest.len());
        if name_end == 0 {
            return Err(XMatrixError::Malformed("expected a parameter name"));
        }
        let (name, after) = rest.split_at(name_end);
        let after = after.trim_start_matches([' ', '\t']);
        let after = after
            .strip_prefix('=')
            .ok_or(XMatrixError::Malformed(
                "expected `=` after a parameter name",
            ))?
            .trim_start_matches([' ', '\t']);
        let (value, after) = match after.strip_prefix('"') {
            Some(quoted) => parse_quoted(quoted)?,
            None => {
                // Bare value: RFC 9110 wants a token, but the spec lets old servers send
                // `:` unquoted; Synapse takes everything up to the comma, and so do we.
                let end = after.find([',', ' ', '\t']).unwrap_or(after.len());
                let (value, after) = after.split_at(end);
                if value.is_empty() {
                    return Err(XMatrixError::Malformed("empty parameter value"));
                }
                (value.to_owned(), after)
            }
        };
        let after = after.trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            return Err(XMatrixError::Malformed("expected `,` between parameters"));
        }
        params.push((name.to_ascii_lowercase(), value));
        rest = after;
    }
}

/// The rest of a quoted string after its opening quote: (unescaped value, text after the
/// closing quote).
fn parse_quoted(text: &str) -> Result<(String, &str), XMatrixError> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Ok((value, text.get(index + 1..).unwrap_or(""))),
            '\\' => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err(XMatrixError::Malformed("unterminated quoted value"))
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
#[path = "x_matrix_tests.rs"]
mod tests;
