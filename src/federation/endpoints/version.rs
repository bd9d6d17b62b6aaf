//! `GET /_matrix/federation/v1/version`: the server software's name and version.

use serde_json::json;

use crate::api::{ApiResult, Request, Response};
use crate::server::Server;

pub async fn handle(_server: &Server, _request: Request) -> ApiResult {
    Ok(Response::ok(&json!({
        "server": { "name": "hearth", "version": env!("CARGO_PKG_VERSION") }
    })))
}
