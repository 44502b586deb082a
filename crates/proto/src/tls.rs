//! Mutual TLS for every gRPC connection of a deployment (DESIGN §2): the
//! PEM material of one identity, and a cache of channels dialled with it.
//!
//! What this does not do: read a certificate's role (box-ops's `role`), or
//! check a server's role on outgoing calls (a client trusts the deployment
//! CA and the host name).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
#[cfg(feature = "server")]
use tonic::transport::ServerTlsConfig;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// How long dialling a node may take before the call fails over.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// PEM material of one service identity and its CA. `Debug` shows no key.
#[derive(Clone)]
pub struct TlsMaterial {
    /// CA certificate PEM.
    pub ca: String,
    /// This service's certificate PEM.
    pub cert: String,
    /// This service's private key PEM.
    pub key: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsMaterial(<pem>)")
    }
}

impl TlsMaterial {
    /// Reads the three PEM files; the error names the file. Does not parse
    /// them: a bad PEM shows at the first connection.
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Self, String> {
        let read = |p: &Path, what: &str| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read the {what} at {}: {e}", p.display()))
        };
        Ok(Self { ca: read(ca, "CA certificate")?, cert: read(cert, "certificate")?, key: read(key, "private key")? })
    }

    /// Server side: present our certificate, demand one signed by the CA.
    /// Only with the `server` feature (box-node; clients build without it).
    #[cfg(feature = "server")]
    pub fn server(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .client_ca_root(Certificate::from_pem(&self.ca))
    }

    /// Client side: present our certificate, trust only the CA.
    pub fn client(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key))
    }
}

/// Cached mutual-TLS channels by address. openraft asks for a client for
/// every heartbeat round, and clients fail over between nodes often; a fresh
/// handshake each time would not fit their deadlines. Cloning shares the cache.
#[derive(Clone)]
pub struct Channels {
    tls: ClientTlsConfig,
    cache: Arc<Mutex<HashMap<String, Channel>>>,
}

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Channels(<tls>)")
    }
}

impl Channels {
    /// A cache that dials with `tls`.
    pub fn new(tls: ClientTlsConfig) -> Self {
        Self { tls, cache: Arc::default() }
    }

    /// A lazily connecting channel to `addr` (host:port): nothing is dialled
    /// until the first call, which fails if the node cannot be reached within
    /// two seconds. Errs only for an address that is no URI authority.
    pub fn get(&self, addr: &str) -> Result<Channel, tonic::transport::Error> {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ch) = cache.get(addr) {
            return Ok(ch.clone());
        }
        let ch = Endpoint::from_shared(format!("https://{addr}"))?
            .tls_config(self.tls.clone())?
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_lazy();
        cache.insert(addr.to_owned(), ch.clone());
        Ok(ch)
    }
}
