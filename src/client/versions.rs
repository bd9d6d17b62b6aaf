//! `GET /_matrix/client/versions`: the spec versions hearth speaks. Clients refuse servers
//! that list too few, so the list is the full realistic one, as Synapse's.

use serde_json::json;

use crate::api::{ApiResult, Request, Response};
use crate::server::Server;

pub const SPEC_VERSIONS: &[&str] = &[
    "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1", "v1.1", "v1.2",
    "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
];

pub async fn handle(_server: &Server, _request: Request) -> ApiResult {
    Ok(Response::ok(&json!({
        "versions": SPEC_VERSIONS,
        "unstable_features": {},
    })))
}
