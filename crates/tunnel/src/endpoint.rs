//! Either side's QUIC endpoint: its key, the relay it keeps as home, and how it trusts that relay.
//!
//! The endpoint learns what its NAT shows the world by QUIC address discovery against its relay
//! (there is no STUN in iroh 1.x): that address is what hole punching offers the other side. A
//! relay named by an `http://` URL is a self-hosted one whose discovery port serves a throwaway
//! self-signed certificate, so that certificate is taken as is — what it guards is only our own
//! outside address, and every byte between host and listener is authenticated by the host's key
//! whatever path or relay carries it. An `https://` relay is checked against the usual roots.

use std::path::Path;
use std::sync::Arc;

use iroh::endpoint::{NetReportConfig, QuicTransportConfig, presets};
use iroh::tls::CaTlsConfig;
use iroh::{Endpoint, RelayConfig, RelayMap, RelayMode, RelayUrl, SecretKey};
use iroh_relay::RelayQuicConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::TunnelError;

/// The protocol spoken on a tunnel's connections: a stream per TCP connection, datagrams as they are.
pub const ALPN: &[u8] = b"whatssound/tunnel/1";

/// How long a connection may hear nothing before it is given up, and how often each side speaks
/// when there is nothing to say. A host that died (or restarted with a new process behind the same
/// node key) is noticed within this, the listener's local connections are closed, and the
/// realtime client's own reconnecting dials the host afresh; yet an outage of a few seconds
/// (Wi-Fi roaming, a router's hiccup) is ridden out on QUIC's retransmissions.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// Which relay an endpoint keeps as home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayChoice {
    /// iroh's public relays (n0's): the nearest answers.
    Public,
    /// One relay server, such as a self-hosted `whatssound-cli p2p-relay`.
    Own(RelayUrl),
}

impl std::str::FromStr for RelayChoice {
    type Err = TunnelError;

    /// `public`, or a relay's `http(s)://HOST[:PORT]` URL.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "public" {
            return Ok(RelayChoice::Public);
        }
        let bad = |reason: &str| TunnelError::RelayUrl { url: s.to_owned(), reason: reason.to_owned() };
        if !(s.starts_with("http://") || s.starts_with("https://")) {
            return Err(bad("it must start with http:// or https://, or be `public`"));
        }
        let url: RelayUrl = s.parse().map_err(|e: iroh::RelayUrlParseError| bad(&e.to_string()))?;
        Ok(RelayChoice::Own(url))
    }
}

impl std::fmt::Display for RelayChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayChoice::Public => f.write_str("public"),
            RelayChoice::Own(url) => write!(f, "{}", url.as_str().trim_end_matches('/')),
        }
    }
}

/// The port a relay answers address discovery on: iroh's own (7842) for an `https://` relay, as
/// iroh's relays do; the URL's own port, over UDP, for an `http://` one, as `p2p-relay` does, so
/// one number names a self-hosted relay whole.
fn discovery_port(url: &RelayUrl) -> u16 {
    if url.scheme() == "http" { url.port().unwrap_or(80) } else { iroh_relay::defaults::DEFAULT_RELAY_QUIC_PORT }
}

/// A host's node key, kept in its data dir so its invites stay the same across restarts.
#[derive(Debug, Clone)]
pub struct NodeKey(SecretKey);

impl NodeKey {
    /// Reads the key at `path`, or makes one there (readable by its owner only).
    pub fn load_or_create(path: &Path) -> Result<NodeKey, TunnelError> {
        let err = |reason: String| TunnelError::Key { path: path.display().to_string(), reason };
        match std::fs::read(path) {
            Ok(bytes) => {
                let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| err(format!("{} bytes, not 32", bytes.len())))?;
                Ok(NodeKey(SecretKey::from_bytes(&bytes)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretKey::generate();
                write_private(path, &key.to_bytes()).map_err(|e| err(e.to_string()))?;
                Ok(NodeKey(key))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// A key for this run only (a listener's: nobody needs to find it again).
    pub fn ephemeral() -> NodeKey {
        NodeKey(SecretKey::generate())
    }

    /// The node id others reach this key's endpoint by, as invites carry it (64 hex digits).
    pub fn node_id(&self) -> String {
        self.0.public().to_string()
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Binds an endpoint with `key` that keeps `relay` as home; a host's (`accept`) also takes
/// tunnel connections.
pub async fn bind(key: NodeKey, relay: &RelayChoice, accept: bool) -> Result<Endpoint, TunnelError> {
    // Address discovery and relay latency only; the captive-portal check would fetch port 80
    // of the relay's host whatever port its URL names.
    let mut report = NetReportConfig::default();
    report.captive_portal_check = false;
    let transport = QuicTransportConfig::builder().max_idle_timeout(IDLE_TIMEOUT.try_into().ok()).keep_alive_interval(KEEP_ALIVE).build();
    let mut builder = Endpoint::builder(presets::Minimal).secret_key(key.0).net_report_config(report).transport_config(transport);
    builder = match relay {
        RelayChoice::Public => builder.relay_mode(RelayMode::Default),
        RelayChoice::Own(url) => {
            let config = RelayConfig::new(url.clone(), Some(RelayQuicConfig::new(discovery_port(url))));
            let builder = builder.relay_mode(RelayMode::Custom(RelayMap::from(config)));
            if url.scheme() == "http" { builder.ca_tls_config(self_hosted_trust()) } else { builder }
        }
    };
    if accept {
        builder = builder.alpns(vec![ALPN.to_vec()]);
    }
    builder.bind().await.map_err(|e| TunnelError::Bind(e.to_string()))
}

/// Takes a self-hosted relay's discovery certificate as it is (see the module's comment); the
/// handshake's own signatures are still checked against it.
fn self_hosted_trust() -> CaTlsConfig {
    let build: iroh_relay::tls::ServerCertVerifierBuilder =
        Arc::new(|provider: Arc<CryptoProvider>| -> std::io::Result<Arc<dyn ServerCertVerifier>> {
            Ok(Arc::new(AnyCertificate(provider)))
        });
    CaTlsConfig::custom_server_cert_verifier(build)
}

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_is_public_or_an_http_url_and_anything_else_says_what_to_give() {
        assert_eq!("public".parse::<RelayChoice>().ok(), Some(RelayChoice::Public));
        let own: RelayChoice = "http://10.77.0.1:3340".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(own.to_string(), "http://10.77.0.1:3340");
        let RelayChoice::Own(url) = own else { panic!("not own") };
        assert_eq!(discovery_port(&url), 3340);
        let RelayChoice::Own(tls) = "https://relay.example.org".parse().unwrap_or_else(|e| panic!("{e}")) else { panic!() };
        assert_eq!(discovery_port(&tls), 7842);
        for bad in ["ws://x:1", "relay.example.org", "http://", ""] {
            let e = bad.parse::<RelayChoice>().expect_err(bad).to_string();
            assert!(e.contains("relay server's URL") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn a_node_key_is_kept_and_a_damaged_one_is_named() {
        let dir = std::env::temp_dir().join(format!("wst-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("node.key");
        let first = NodeKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        let again = NodeKey::load_or_create(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.node_id(), again.node_id());
        assert_eq!(first.node_id().len(), 64);
        std::fs::write(&path, b"short").unwrap_or_else(|e| panic!("{e}"));
        let e = NodeKey::load_or_create(&path).expect_err("damaged").to_string();
        assert!(e.contains("node.key") && e.contains("5 bytes"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
