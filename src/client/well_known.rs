//! `GET /.well-known/matrix/server` and `/.well-known/matrix/client`, from `[well_known]`.
//!
//! Spec: s2s "Resolving server names" step 3 and c2s "Well-known URIs". Served as plain
//! 200 JSON (no redirects: older Synapse servers do not follow a 308); 404 when unset.

use serde_json::json;

use crate::api::{ApiResult, Request, Response};
use crate::proto::errcode::{ErrCode, MatrixError};
use crate::server::Server;

pub async fn server(server: &Server, _request: Request) -> ApiResult {
    match &server.config.well_known.server {
        Some(delegated) => Ok(Response::ok(&json!({ "m.server": delegated }))),
        None => Err(not_configured("server")),
    }
}

pub async fn client(server: &Server, _request: Request) -> ApiResult {
    match &server.config.well_known.client {
        Some(base_url) => Ok(Response::ok(
            &json!({ "m.homeserver": { "base_url": base_url } }),
        )),
        None => Err(not_configured("client")),
    }
}

fn not_configured(which: &str) -> MatrixError {
    MatrixError::new(
        404,
        ErrCode::NotFound,
        format!("no /.well-known/matrix/{which} is configured ([well_known] {which})"),
    )
}
