//! `Federation`: the outbound client and the key ring, built once at start and held by
//! `Server` (STYLE 1.2: handlers reach them through `&Server`, no globals).

use std::sync::Arc;

use crate::config::Config;
use crate::federation::client::FederationClient;
use crate::federation::dns::{DnsClient, DnsConfig};
use crate::federation::in_flight::InFlight;
use crate::federation::keys::KeyRing;
use crate::federation::resolve::{Resolver, tls};
use crate::federation::sender::Sender;
use crate::proto::id::ServerName;
use crate::proto::signing::SigningKey;

pub struct Federation {
    pub client: FederationClient,
    pub keys: KeyRing,
    /// Wakes the outbound transaction sender (`federation::sender`) for new outbox rows.
    pub sender: Sender,
    /// The inbound transaction in progress of each origin (one at a time).
    pub in_flight: InFlight,
}

impl Federation {
    /// The client signs as `server_name` with `signing_key`; it trusts the public roots
    /// plus `federation.extra_ca` (the resolver's well-known fetch shares the settings).
    pub fn from_config(
        config: &Config,
        server_name: &ServerName,
        signing_key: &SigningKey,
    ) -> Result<Federation, String> {
        let roots = tls::root_store(&config.federation.extra_ca)?;
        let tls = tls::client_config(Arc::new(roots));
        let resolver = Resolver::new(DnsClient::new(DnsConfig::from_system()), tls.clone());
        Ok(Federation {
            client: FederationClient::new(server_name.clone(), signing_key.clone(), resolver, tls),
            keys: KeyRing::default(),
            sender: Sender::new(),
            in_flight: InFlight::default(),
        })
    }
}
