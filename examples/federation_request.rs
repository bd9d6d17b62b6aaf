//! Sends one signed federation request with hearth's outbound client, as the server of a
//! config would, and prints the status line and the JSON answer; or fetches a server's
//! keys through a notary and prints them. For the interop tests
//! (tests/interop/test_federation_auth.py) and for debugging by hand:
//!
//!     cargo build --example federation_request
//!     target/debug/examples/federation_request CONFIG DESTINATION METHOD PATH [JSON_BODY]
//!     target/debug/examples/federation_request CONFIG --keys-via NOTARY SERVER_NAME [KEY_ID...]
//!
//! Exit status 0 when an answer came back (whatever its status), 1 otherwise.

use hearth::api::Method;
use hearth::config::Config;
use hearth::federation::Federation;
use hearth::proto::id::ServerName;
use hearth::proto::signing::SigningKey;
use hearth::store::Store;
use serde_json::{Value, json};

type Outcome = Result<(u16, Value), Box<dyn std::error::Error>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.as_slice() {
        [config, flag, notary, server_name, key_ids @ ..] if flag == "--keys-via" => {
            keys_via(config, notary, server_name, key_ids)
        }
        [config, destination, method, path, rest @ ..] => {
            request(config, destination, method, path, rest.first())
        }
        _ => {
            eprintln!("usage: federation_request CONFIG DESTINATION METHOD PATH [JSON_BODY]");
            eprintln!("       federation_request CONFIG --keys-via NOTARY SERVER_NAME [KEY_ID...]");
            std::process::exit(2);
        }
    };
    match outcome {
        Ok((status, body)) => println!("{status}\n{body}"),
        Err(e) => {
            eprintln!("federation_request: {e}");
            std::process::exit(1);
        }
    }
}

/// The config, its server name, and the federation client signing with its key.
fn load(config: &str) -> Result<(Config, Federation), Box<dyn std::error::Error>> {
    let config = Config::load(std::path::Path::new(config))?;
    let name = ServerName::parse(&config.server_name)?;
    let key = SigningKey::parse_key_file(&std::fs::read_to_string(config.signing_key_path())?)?;
    let federation = Federation::from_config(&config, &name, &key)?;
    Ok((config, federation))
}

fn request(
    config: &str,
    destination: &str,
    method: &str,
    path: &str,
    body: Option<&String>,
) -> Outcome {
    let (_, federation) = load(config)?;
    let destination = ServerName::parse(destination)?;
    let method = Method::parse(method).ok_or("unknown method")?;
    let body = body.map(|text| serde_json::from_str(text)).transpose()?;
    let answer = smol::block_on(federation.client.request(
        &destination,
        method,
        path,
        body.as_ref(),
    ))?;
    Ok(answer)
}

fn keys_via(config: &str, notary: &str, server_name: &str, key_ids: &[String]) -> Outcome {
    let (config, federation) = load(config)?;
    let store = Store::open(&config.database_path())?;
    let (notary, server_name) = (ServerName::parse(notary)?, ServerName::parse(server_name)?);
    let keys = smol::block_on(federation.keys.fetch_via_notary(
        &store,
        &federation.client,
        &notary,
        &server_name,
        key_ids,
    ))?;
    let keys: Vec<Value> = keys
        .keys
        .iter()
        .map(|key| json!({"key_id": key.key_id, "key": key.public_key}))
        .collect();
    Ok((200, Value::Array(keys)))
}
