//! One router for every resource: a table of (method, path pattern, body limit, handler).
//!
//! Unknown path: 404 `M_UNRECOGNIZED`; known path, wrong method: 405 `M_UNRECOGNIZED`
//! (spec: c2s "API standards"). `HEAD` is routed as `GET`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::api::{ApiResult, Method, Request};
use crate::server::Server;
use crate::{client, federation};

/// A boxed handler future borrowing the server.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = ApiResult> + Send + 'a>>;
/// A request handler.
pub type Handler = for<'a> fn(&'a Server, Request) -> HandlerFuture<'a>;

/// One row of the routing table.
pub struct Route {
    pub method: Method,
    /// Segments separated by `/`; `{name}` captures one non-empty segment.
    pub pattern: &'static str,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long the request may take, body included.
    pub timeout: Duration,
    /// Whether the request must carry a valid `X-Matrix` signature (server-server
    /// endpoints; checked before the handler runs, which finds the origin in
    /// `Request::origin`).
    pub signed: bool,
    pub handler: Handler,
}

/// Requests without a body of their own still get a little room (some clients send `{}`).
pub const SMALL_BODY: usize = 64 * 1024;
/// The largest body any route accepts; larger is refused before routing.
pub const MAX_BODY: usize = 32 * 1024 * 1024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Turns an `async fn(&Server, Request) -> ApiResult` into a [`Handler`].
macro_rules! handler {
    ($function:path) => {{
        fn boxed<'a>(server: &'a Server, request: Request) -> HandlerFuture<'a> {
            Box::pin($function(server, request))
        }
        boxed as Handler
    }};
}

macro_rules! route {
    (signed $method:ident $pattern:literal => $function:path) => {
        Route {
            signed: true,
            ..route!($method $pattern => $function)
        }
    };
    (signed $method:ident $pattern:literal, $limit:expr => $function:path) => {
        Route {
            signed: true,
            ..route!($method $pattern, $limit => $function)
        }
    };
    ($method:ident $pattern:literal => $function:path) => {
        route!($method $pattern, SMALL_BODY => $function)
    };
    ($method:ident $pattern:literal, $limit:expr => $function:path) => {
        route!($method $pattern, $limit, DEFAULT_TIMEOUT => $function)
    };
    ($method:ident $pattern:literal, $limit:expr, $timeout:expr => $function:path) => {
        Route {
            method: Method::$method,
            pattern: $pattern,
            body_limit: $limit,
            timeout: $timeout,
            signed: false,
            handler: handler!($function),
        }
    };
}

/// A federation transaction: up to 50 PDUs of 64 KiB and 100 EDUs.
const TRANSACTION_BODY: usize = 8 * 1024 * 1024;

/// Long-polling sync may wait this long, plus the time to build its answer.
const SYNC_TIMEOUT: Duration = Duration::from_secs(120);

/// Every resource hearth serves.
pub static ROUTES: &[Route] = &[
    route!(Get "/_matrix/key/v2/server" => federation::endpoints::server_keys::handle),
    route!(Get "/_matrix/key/v2/server/{keyId}" => federation::endpoints::server_keys::handle),
    route!(Get "/_matrix/federation/v1/version" => federation::endpoints::version::handle),
    route!(Get "/_matrix/key/v2/query/{serverName}" => federation::endpoints::key_query::handle_get),
    route!(Post "/_matrix/key/v2/query" => federation::endpoints::key_query::handle_post),
    route!(signed Get "/_matrix/federation/v1/query/profile" => federation::endpoints::query_profile::handle),
    route!(signed Get "/_matrix/federation/v1/query/directory" => federation::endpoints::query_directory::handle),
    route!(signed Get "/_matrix/federation/v1/make_join/{roomId}/{userId}" => federation::endpoints::make_membership::make_join),
    route!(signed Get "/_matrix/federation/v1/make_leave/{roomId}/{userId}" => federation::endpoints::make_membership::make_leave),
    // The directory list is the client API's, served to other servers (one list, one code).
    route!(signed Get "/_matrix/federation/v1/publicRooms" => client::public_rooms::federation_get),
    route!(signed Post "/_matrix/federation/v1/publicRooms" => client::public_rooms::federation_post),
    route!(signed Get "/_matrix/federation/v1/make_knock/{roomId}/{userId}" => federation::endpoints::make_membership::make_knock),
    route!(signed Put "/_matrix/federation/v2/send_join/{roomId}/{eventId}" => federation::endpoints::send_membership::send_join),
    route!(signed Put "/_matrix/federation/v2/send_leave/{roomId}/{eventId}" => federation::endpoints::send_membership::send_leave),
    route!(signed Put "/_matrix/federation/v1/send_knock/{roomId}/{eventId}" => federation::endpoints::send_membership::send_knock),
    route!(signed Put "/_matrix/federation/v1/send/{txnId}", TRANSACTION_BODY => federation::endpoints::transaction::handle),
    route!(signed Put "/_matrix/federation/v2/invite/{roomId}/{eventId}" => federation::endpoints::invite::invite_v2),
    route!(signed Put "/_matrix/federation/v1/invite/{roomId}/{eventId}" => federation::endpoints::invite::invite_v1),
    route!(signed Get "/_matrix/federation/v1/event/{eventId}" => federation::endpoints::room_events::event),
    route!(signed Get "/_matrix/federation/v1/state/{roomId}" => federation::endpoints::room_events::state),
    route!(signed Get "/_matrix/federation/v1/state_ids/{roomId}" => federation::endpoints::room_events::state_ids),
    route!(signed Get "/_matrix/federation/v1/event_auth/{roomId}/{eventId}" => federation::endpoints::room_events::event_auth),
    route!(signed Post "/_matrix/federation/v1/get_missing_events/{roomId}" => federation::endpoints::room_events::get_missing_events),
    route!(signed Get "/_matrix/federation/v1/backfill/{roomId}" => federation::endpoints::room_events::backfill),
    route!(Get "/_matrix/client/versions" => client::versions::handle),
    route!(Get "/.well-known/matrix/server" => client::well_known::server),
    route!(Get "/.well-known/matrix/client" => client::well_known::client),
    route!(Get "/_hearth/test/panic" => test_panic),
    // Client-server API: accounts.
    route!(Get "/_matrix/client/v3/login" => client::login::flows),
    route!(Post "/_matrix/client/v3/login" => client::login::login),
    route!(Post "/_matrix/client/v3/logout" => client::login::logout),
    route!(Post "/_matrix/client/v3/logout/all" => client::login::logout_all),
    route!(Get "/_matrix/client/v3/account/whoami" => client::login::whoami),
    route!(Post "/_matrix/client/v3/register" => client::register::register),
    route!(Get "/_matrix/client/v3/register/available" => client::register::available),
    route!(Get "/_matrix/client/v1/register/m.login.registration_token/validity" => client::register::token_validity),
    route!(Post "/_matrix/client/v3/account/password" => client::account::change_password),
    route!(Post "/_matrix/client/v3/account/deactivate" => client::account::deactivate),
    route!(Get "/_matrix/client/v3/account/3pid" => client::stubs::threepids),
    route!(Get "/_matrix/client/v3/capabilities" => client::capabilities::handle),
    route!(Get "/_matrix/client/v1/auth_metadata" => client::stubs::auth_metadata),
    route!(Get "/_matrix/client/unstable/org.matrix.msc2965/auth_metadata" => client::stubs::auth_metadata),
    route!(Get "/_matrix/client/unstable/org.matrix.msc2965/auth_issuer" => client::stubs::auth_metadata),
    // Profiles, presence, devices, account data, filters.
    route!(Get "/_matrix/client/v3/profile/{userId}" => client::profile::get_profile),
    route!(Get "/_matrix/client/v3/profile/{userId}/displayname" => client::profile::get_displayname),
    route!(Put "/_matrix/client/v3/profile/{userId}/displayname" => client::profile::put_displayname),
    route!(Get "/_matrix/client/v3/profile/{userId}/avatar_url" => client::profile::get_avatar_url),
    route!(Put "/_matrix/client/v3/profile/{userId}/avatar_url" => client::profile::put_avatar_url),
    route!(Get "/_matrix/client/v3/presence/{userId}/status" => client::presence::get_status),
    route!(Put "/_matrix/client/v3/presence/{userId}/status" => client::presence::put_status),
    route!(Get "/_matrix/client/v3/devices" => client::devices::list),
    route!(Get "/_matrix/client/v3/devices/{deviceId}" => client::devices::get),
    route!(Put "/_matrix/client/v3/devices/{deviceId}" => client::devices::put),
    route!(Delete "/_matrix/client/v3/devices/{deviceId}" => client::devices::delete),
    route!(Post "/_matrix/client/v3/delete_devices" => client::devices::delete_many),
    route!(Get "/_matrix/client/v3/user/{userId}/account_data/{type}" => client::account_data::get_global),
    route!(Put "/_matrix/client/v3/user/{userId}/account_data/{type}" => client::account_data::put_global),
    route!(Get "/_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}" => client::account_data::get_room),
    route!(Put "/_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}" => client::account_data::put_room),
    route!(Post "/_matrix/client/v3/user/{userId}/filter" => client::filter::create),
    route!(Get "/_matrix/client/v3/user/{userId}/filter/{filterId}" => client::filter::get),
    route!(Get "/_matrix/client/v3/joined_rooms" => client::joined_rooms::handle),
    route!(Post "/_matrix/client/v3/user_directory/search" => client::user_directory::search),
    // Not supported yet: clear answers for what clients call at start-up (client::stubs).
    route!(Post "/_matrix/client/v3/keys/upload" => client::stubs::keys_upload),
    route!(Post "/_matrix/client/v3/keys/query" => client::stubs::keys_query),
    route!(Post "/_matrix/client/v3/keys/claim" => client::stubs::keys_claim),
    route!(Get "/_matrix/client/v3/keys/changes" => client::stubs::keys_changes),
    route!(Post "/_matrix/client/v3/keys/device_signing/upload" => client::stubs::encryption_unsupported),
    route!(Post "/_matrix/client/v3/keys/signatures/upload" => client::stubs::encryption_unsupported),
    route!(Put "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}" => client::stubs::encryption_unsupported),
    route!(Get "/_matrix/client/v3/room_keys/version" => client::stubs::room_keys_version),
    route!(Get "/_matrix/client/v3/voip/turnServer" => client::stubs::turn_server),
    route!(Get "/_matrix/client/v3/thirdparty/protocols" => client::stubs::thirdparty_protocols),
    route!(Get "/_matrix/client/v1/media/config" => client::stubs::media_unsupported),
    route!(Get "/_matrix/client/v1/media/preview_url" => client::stubs::media_unsupported),
    route!(Get "/_matrix/client/v1/media/download/{serverName}/{mediaId}" => client::stubs::media_not_found),
    route!(Get "/_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}" => client::stubs::media_not_found),
    route!(Get "/_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}" => client::stubs::media_not_found),
    route!(Get "/_matrix/media/v3/config" => client::stubs::media_unsupported),
    route!(Get "/_matrix/media/r0/config" => client::stubs::media_unsupported),
    route!(Get "/_matrix/media/v3/preview_url" => client::stubs::media_unsupported),
    route!(Post "/_matrix/media/v3/upload" => client::stubs::media_unsupported),
    route!(Post "/_matrix/media/r0/upload" => client::stubs::media_unsupported),
    route!(Post "/_matrix/media/v1/create" => client::stubs::media_unsupported),
    route!(Put "/_matrix/media/v3/upload/{serverName}/{mediaId}" => client::stubs::media_unsupported),
    route!(Get "/_matrix/media/v3/download/{serverName}/{mediaId}" => client::stubs::media_not_found),
    route!(Get "/_matrix/media/r0/download/{serverName}/{mediaId}" => client::stubs::media_not_found),
    route!(Get "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}" => client::stubs::media_not_found),
    route!(Get "/_matrix/media/r0/download/{serverName}/{mediaId}/{fileName}" => client::stubs::media_not_found),
    route!(Get "/_matrix/media/v3/thumbnail/{serverName}/{mediaId}" => client::stubs::media_not_found),
    route!(Get "/_matrix/media/r0/thumbnail/{serverName}/{mediaId}" => client::stubs::media_not_found),
    // Rooms.
    route!(Post "/_matrix/client/v3/createRoom" => client::create_room::handle),
    route!(Post "/_matrix/client/v3/join/{roomIdOrAlias}" => client::membership::join),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/join" => client::membership::join),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/leave" => client::membership::leave),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/invite" => client::membership::invite),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/kick" => client::membership::kick),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/ban" => client::membership::ban),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/unban" => client::membership::unban),
    route!(Put "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}" => client::send::send_message),
    route!(Put "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}" => client::send::redact),
    route!(Put "/_matrix/client/v3/rooms/{roomId}/state/{eventType}" => client::send::put_state),
    route!(Put "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}" => client::send::put_state),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/state" => client::send::get_state),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/state/{eventType}" => client::send::get_state),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}" => client::send::get_state),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/messages" => client::messages::handle),
    // Room reads, typing, receipts, knock and forget (h9).
    route!(Get "/_matrix/client/v3/rooms/{roomId}/members" => client::members::members),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/joined_members" => client::members::joined_members),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/event/{eventId}" => client::event::get_event),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/context/{eventId}" => client::event::context),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/forget" => client::forget::handle),
    route!(Post "/_matrix/client/v3/knock/{roomIdOrAlias}" => client::knock::handle),
    route!(Put "/_matrix/client/v3/rooms/{roomId}/typing/{userId}" => client::typing::handle),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}" => client::receipts::receipt),
    route!(Post "/_matrix/client/v3/rooms/{roomId}/read_markers" => client::receipts::read_markers),
    // Room directory.
    route!(Put "/_matrix/client/v3/directory/room/{roomAlias}" => client::directory::put_alias),
    route!(Get "/_matrix/client/v3/directory/room/{roomAlias}" => client::directory::get_alias),
    route!(Delete "/_matrix/client/v3/directory/room/{roomAlias}" => client::directory::delete_alias),
    route!(Get "/_matrix/client/v3/rooms/{roomId}/aliases" => client::directory::room_aliases),
    route!(Get "/_matrix/client/v3/directory/list/room/{roomId}" => client::directory::get_visibility),
    route!(Put "/_matrix/client/v3/directory/list/room/{roomId}" => client::directory::put_visibility),
    route!(Get "/_matrix/client/v3/publicRooms" => client::public_rooms::get),
    route!(Post "/_matrix/client/v3/publicRooms" => client::public_rooms::post),
    // Push rules.
    route!(Get "/_matrix/client/v3/pushrules" => client::push_rules::get_all),
    route!(Get "/_matrix/client/v3/pushrules/" => client::push_rules::get_all),
    route!(Get "/_matrix/client/v3/pushrules/global/" => client::push_rules::get_global),
    route!(Get "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}" => client::push_rules::get_rule),
    route!(Put "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}" => client::push_rules::put_rule),
    route!(Delete "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}" => client::push_rules::delete_rule),
    route!(Get "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled" => client::push_rules::get_enabled),
    route!(Put "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled" => client::push_rules::put_enabled),
    route!(Get "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions" => client::push_rules::get_actions),
    route!(Put "/_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions" => client::push_rules::put_actions),
    route!(Get "/_matrix/client/v3/sync", SMALL_BODY, SYNC_TIMEOUT => client::sync::handle),
];

/// Panics on purpose when `HEARTH_TEST_PANIC_ROUTE=1`, so that a test can prove a panicking
/// request costs that request only (STYLE 4.2); otherwise it does not exist.
async fn test_panic(_server: &Server, _request: Request) -> ApiResult {
    if std::env::var_os("HEARTH_TEST_PANIC_ROUTE").is_some_and(|v| v == "1") {
        panic!("deliberate panic for the panic-isolation test");
    }
    Err(crate::proto::errcode::MatrixError::new(
        404,
        crate::proto::errcode::ErrCode::Unrecognized,
        "unrecognized request",
    ))
}

/// The outcome of looking a request up in the table.
pub enum Lookup<'r> {
    Found(&'r Route, Vec<String>),
    /// The path exists, but not for this method.
    MethodNotAllowed,
    NotFound,
}

/// Finds the route for `method` and the raw (percent-encoded) `path`.
pub fn lookup<'r>(routes: &'r [Route], method: Method, path: &str) -> Lookup<'r> {
    let method = if method == Method::Head {
        Method::Get
    } else {
        method
    };
    let path = normalise_client_version(path);
    let mut path_known = false;
    for route in routes {
        if let Some(params) = match_pattern(route.pattern, &path) {
            if route.method == method {
                return Lookup::Found(route, params);
            }
            path_known = true;
        }
    }
    if path_known {
        Lookup::MethodNotAllowed
    } else {
        Lookup::NotFound
    }
}

/// Whether any route serves `path` (for CORS preflight answers).
pub fn path_exists(routes: &[Route], path: &str) -> bool {
    let path = normalise_client_version(path);
    routes
        .iter()
        .any(|route| match_pattern(route.pattern, &path).is_some())
}

/// Older clients still call `/_matrix/client/r0/...`; the endpoints are the same as v3's.
fn normalise_client_version(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/_matrix/client/r0/") {
        Some(rest) => std::borrow::Cow::Owned(format!("/_matrix/client/v3/{rest}")),
        None => std::borrow::Cow::Borrowed(path),
    }
}

fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    // Most of the ~200 routes differ from the path in their literal start: one comparison
    // rules them out (walking every route segment by segment was 16% of a send's CPU).
    let literal = pattern.split('{').next().unwrap_or(pattern);
    if !path.starts_with(literal) || slashes(pattern) != slashes(path) {
        return None;
    }
    let mut raw_params: Vec<&str> = Vec::new();
    let mut path_segments = path.split('/');
    for pattern_segment in pattern.split('/') {
        let segment = path_segments.next()?;
        if pattern_segment.starts_with('{') {
            // An empty state key is a real one: clients write `/state/m.room.name/`.
            if segment.is_empty() && pattern_segment != "{stateKey}" {
                return None;
            }
            raw_params.push(segment);
        } else if pattern_segment != segment {
            return None;
        }
    }
    if path_segments.next().is_some() {
        return None;
    }
    raw_params.into_iter().map(percent_decode).collect()
}

fn slashes(text: &str) -> usize {
    text.bytes().filter(|byte| *byte == b'/').count()
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 or an escape is broken.
pub fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_owned());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(byte);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(method: Method, path: &str) -> Option<(&'static str, Vec<String>)> {
        match lookup(ROUTES, method, path) {
            Lookup::Found(route, params) => Some((route.pattern, params)),
            _ => None,
        }
    }

    #[test]
    fn routes_and_params() {
        assert_eq!(
            found(Method::Get, "/_matrix/key/v2/server"),
            Some(("/_matrix/key/v2/server", vec![]))
        );
        assert_eq!(
            found(Method::Get, "/_matrix/key/v2/server/ed25519%3Aabc"),
            Some((
                "/_matrix/key/v2/server/{keyId}",
                vec!["ed25519:abc".to_owned()]
            ))
        );
        assert!(found(Method::Head, "/_matrix/client/versions").is_some());
        assert!(found(Method::Get, "/_matrix/key/v2/server/").is_none());
        assert!(found(Method::Get, "/_matrix/key/v2/server/a/b").is_none());
    }

    #[test]
    fn unknown_and_wrong_method() {
        assert!(matches!(
            lookup(ROUTES, Method::Get, "/_matrix/nope"),
            Lookup::NotFound
        ));
        assert!(matches!(
            lookup(ROUTES, Method::Post, "/_matrix/client/versions"),
            Lookup::MethodNotAllowed
        ));
    }

    #[test]
    fn r0_paths_are_served_as_v3() {
        // matrix-commander 8 (through matrix-nio's r0 API) calls GET /_matrix/client/r0/login.
        assert_eq!(
            found(Method::Get, "/_matrix/client/r0/login"),
            Some(("/_matrix/client/v3/login", vec![]))
        );
        assert_eq!(
            found(Method::Get, "/_matrix/client/r0/rooms/%21a%3Ab/messages"),
            Some((
                "/_matrix/client/v3/rooms/{roomId}/messages",
                vec!["!a:b".to_owned()]
            ))
        );
    }

    #[test]
    fn an_empty_state_key_is_a_state_key() {
        // matrix-js-sdk (Element) writes the empty state key as a trailing slash.
        assert_eq!(
            found(
                Method::Put,
                "/_matrix/client/v3/rooms/%21a%3Ab/state/m.room.name/"
            ),
            Some((
                "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
                vec!["!a:b".to_owned(), "m.room.name".to_owned(), String::new()]
            ))
        );
        assert_eq!(
            found(Method::Get, "/_matrix/client/v3/rooms/%21a%3Ab/state//x"),
            None
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("%21room%3Aexample.com").unwrap(),
            "!room:example.com"
        );
        assert_eq!(percent_decode("plain").unwrap(), "plain");
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%ff").is_none());
    }
}
