//! `hearth check [SERVER_NAME] [--json]`: checks federation with a server from here, as
//! other servers would reach it (`federation::check`). Without a name it checks this
//! server's own `server_name` from the outside in. Exit status 0 only when federation is
//! OK. Names can be pointed at test addresses with a hosts file named by
//! `HEARTH_HOSTS_FILE`; `federation.extra_ca` adds trusted CAs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::CmdResult;
use crate::federation::check::{CheckSettings, check, render};
use crate::federation::dns::{DnsClient, DnsConfig};
use crate::federation::resolve::tls;
use crate::proto::id::ServerName;

/// The command line of `hearth check`.
pub struct Check {
    pub server_name: Option<String>,
    pub json: bool,
    pub config: Option<PathBuf>,
}

pub fn run(args: Check) -> CmdResult {
    let config = super::load_config(args.config)?;
    let name = args
        .server_name
        .unwrap_or_else(|| config.server_name.clone());
    let server_name = ServerName::parse(&name)
        .map_err(|e| format!("`{name}` is not a valid server name: {e}"))?;
    let roots = tls::root_store(&config.federation.extra_ca)?;
    let settings = CheckSettings {
        dns: DnsClient::new(DnsConfig::from_system()),
        roots: Arc::new(roots),
        timeout: Duration::from_secs(15),
    };
    let report = smol::block_on(check(&settings, &server_name));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::render(&report));
    }
    if report.federation_ok {
        Ok(())
    } else {
        Err(format!("federation with {name} is not OK").into())
    }
}
