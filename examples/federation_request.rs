//! Sends one signed federation request with hearth's outbound client, as the server of a
//! config would, and prints the status line and the JSON answer. For the interop tests
//! (tests/interop/test_federation_auth.py: hearth's `X-Matrix` signature accepted by
//! Synapse) and for debugging by hand:
//!
//!     cargo build --example federation_request
//!     target/debug/examples/federation_request CONFIG DESTINATION METHOD PATH [JSON_BODY]
//!
//! Exit status 0 when an answer came back (whatever its status), 1 otherwise.

use hearth::api::Method;
use hearth::config::Config;
use hearth::federation::Federation;
use hearth::proto::id::ServerName;
use hearth::proto::signing::SigningKey;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, destination, method, path, rest @ ..] = args.as_slice() else {
        eprintln!("usage: federation_request CONFIG DESTINATION METHOD PATH [JSON_BODY]");
        std::process::exit(2);
    };
    match run(config, destination, method, path, rest.first()) {
        Ok((status, body)) => println!("{status}\n{body}"),
        Err(e) => {
            eprintln!("federation_request: {e}");
            std::process::exit(1);
        }
    }
}

fn run(
    config: &str,
    destination: &str,
    method: &str,
    path: &str,
    body: Option<&String>,
) -> Result<(u16, serde_json::Value), Box<dyn std::error::Error>> {
    let config = Config::load(std::path::Path::new(config))?;
    let name = ServerName::parse(&config.server_name)?;
    let key = SigningKey::parse_key_file(&std::fs::read_to_string(config.signing_key_path())?)?;
    let federation = Federation::from_config(&config, &name, &key)?;
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
