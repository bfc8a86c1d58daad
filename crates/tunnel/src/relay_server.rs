//! A relay server to self-host (`whatssound-cli p2p-relay`): hosts and listeners who cannot reach
//! each other directly meet here, and it tells each what its NAT shows the world, which is what
//! hole punching needs. It serves the relay over plain HTTP on a TCP port and address discovery
//! (QUIC) on the UDP port of the same number, with a certificate made at start: the relay sees
//! only end-to-end encrypted QUIC packets either way. Put it behind a TLS proxy for `https://`.

use std::net::SocketAddr;
use std::sync::Arc;

use iroh_relay::server::{AllowAll, QuicConfig, RelayConfig, Server, ServerConfig};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::TunnelError;

/// A relay server that runs until [`RelayServer::stop`] (or until dropped).
#[derive(Debug)]
pub struct RelayServer {
    server: Server,
    http: SocketAddr,
}

impl RelayServer {
    /// Serves the relay on `listen` (TCP) and address discovery on the same address over UDP.
    pub async fn spawn(listen: SocketAddr) -> Result<RelayServer, TunnelError> {
        let failed = |e: &dyn std::fmt::Display| TunnelError::RelayServer(format!("{listen}: {e}"));
        // The TCP port first, so port 0 picks one number for both.
        let probe = std::net::TcpListener::bind(listen).map_err(|e| failed(&e))?;
        let at = probe.local_addr().map_err(|e| failed(&e))?;
        drop(probe);
        let names = vec![at.ip().to_string(), "localhost".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).map_err(|e| failed(&e))?;
        let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
        let tls = rustls::ServerConfig::builder_with_provider(iroh_relay::tls::default_provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| failed(&e))?
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .map_err(|e| failed(&e))?;
        let mut relay = RelayConfig::new(at);
        relay.key_cache_capacity = Some(1024);
        relay.access = Arc::new(AllowAll);
        let mut quic = QuicConfig::new(at);
        quic.server_config = Some(tls);
        let mut config = ServerConfig::default();
        config.relay = Some(relay);
        config.quic = Some(quic);
        let server = Server::spawn(config).await.map_err(|e| failed(&e))?;
        let http = server.http_addr().unwrap_or(at);
        Ok(RelayServer { server, http })
    }

    /// The address it serves on (`0.0.0.0:PORT` when on every interface).
    pub fn local_addr(&self) -> SocketAddr {
        self.http
    }

    /// The URL hosts give as their relay: `http://ADDR:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub async fn stop(self) {
        let _ = self.server.shutdown().await;
    }
}
