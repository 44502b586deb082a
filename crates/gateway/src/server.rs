//! Starting a gateway: TLS (rustls with ring), the store, the replica, the
//! relay and the HTTPS server.

use crate::api::{AppState, Shared};
use crate::config::GatewayConfig;
use crate::follower::{self, Replica, SharedReplica};
use crate::store::Store;
use box_core::typed::Genesis;
use box_proto::{Node, NodeClient, Timeouts, TlsMaterial};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A file could not be read or parsed; the message names it.
    #[error("{0}")]
    Input(String),
    /// The database could not be opened.
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Installs ring as rustls's process-wide provider (DESIGN.md §9). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The server's rustls config from PEM files.
pub fn server_tls(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, StartError> {
    install_crypto_provider();
    let read = |p: &Path| std::fs::read(p).map_err(|e| StartError::Input(format!("cannot read {}: {e}", p.display())));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| StartError::Input(format!("{}: not a PEM certificate chain: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| StartError::Input(format!("{}: not a PEM private key: {e}", key.display())))?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| StartError::Input(format!("the TLS certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A TCP listener that completes TLS handshakes off the accept loop and
/// hands axum only established sessions.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Accepts on `tcp`, handshaking with `config`, until `shutdown` changes.
    pub fn new(
        tcp: TcpListener,
        config: rustls::ServerConfig,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    a = tcp.accept() => a,
                    _ = shutdown.changed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { rx, local })
    }
}

/// The client's address, for per-IP limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ended (shutdown): never yield another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// A running gateway.
pub struct Gateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (store, replica, chain), for tests and benches.
    pub state: Shared,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gateway({})", self.addr)
    }
}

/// How long one call to a node may take before the next node is asked.
const CHAIN_TIMEOUTS: Timeouts =
    Timeouts { write: Duration::from_secs(5), read: Duration::from_secs(5), witness: Duration::from_secs(5) };

/// Reads a genesis JSON file.
pub fn load_genesis(path: &Path) -> Result<Genesis, StartError> {
    let text = std::fs::read(path)
        .map_err(|e| StartError::Input(format!("cannot read the genesis {}: {e}", path.display())))?;
    serde_json::from_slice(&text)
        .map_err(|e| StartError::Input(format!("the genesis {} is not valid: {e}", path.display())))
}

impl Gateway {
    /// Opens the store, replays the stored blocks, starts the follower, the
    /// relay and the HTTPS server. Returns once it listens.
    pub async fn start(config: &GatewayConfig) -> Result<Self, StartError> {
        install_crypto_provider();
        let genesis = load_genesis(&config.genesis)?;
        let tls = server_tls(&config.tls.cert, &config.tls.key)?;
        let chain_tls =
            TlsMaterial::load(&config.chain.ca, &config.chain.cert, &config.chain.key).map_err(StartError::Input)?;
        let nodes: Vec<Node> = if config.chain.nodes.is_empty() {
            genesis.nodes.iter().map(|n| Node { id: n.nodeId, addr: n.endpoint.clone() }).collect()
        } else {
            config
                .chain
                .nodes
                .iter()
                .map(|a| Node {
                    id: genesis.nodes.iter().find(|n| n.endpoint == *a).map_or(0, |n| n.nodeId),
                    addr: a.clone(),
                })
                .collect()
        };
        let chain = NodeClient::new(nodes, &chain_tls).timeouts(CHAIN_TIMEOUTS);
        // The genesis against the nodes': refused now if one answers with another; while none
        // answers, compared in the background (a mismatch then stops the gateway).
        let fingerprint = box_core::genesis::Fingerprint::of(&genesis);
        let genesis_open = match box_proto::genesis::compare_once(&chain, fingerprint).await {
            Err(mismatch) => return Err(StartError::Input(mismatch.to_string())),
            Ok(box_proto::genesis::Round::NoAnswer(_)) => true,
            Ok(round) => {
                if let box_proto::genesis::Round::Agrees(node) = round {
                    tracing::info!(fingerprint = %fingerprint, node, "the nodes run this genesis");
                }
                false
            }
        };
        let store = Store::open(&config.database).await?;
        let replica = SharedReplica::new(Replica::new(genesis.clone()).map_err(StartError::Input)?);
        let resumed = crate::bootstrap::load(&store, &replica, &genesis, &chain, config.chain.bootstrap)
            .await
            .map_err(|e| StartError::Input(format!("replaying stored blocks: {e}")))?;
        // A replica that starts below what this store recorded final
        // statuses at shows those where they are newer (api::view).
        replica.recorded_to(store.finals_recorded_to().await?);
        let state = Arc::new(AppState::new(
            store.clone(),
            chain.clone(),
            replica.clone(),
            genesis.clone(),
            config.admins.iter().copied().collect(),
            config.limits,
            config.eth_rpc.as_deref().map(eth_client).transpose().map_err(|e| StartError::Input(e.to_string()))?,
        ));
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        if genesis_open {
            tasks.spawn(genesis_watch(chain.clone(), fingerprint, rx.clone()));
        }
        tasks.spawn(crate::backfill::run(store.clone(), chain.clone(), replica.clone(), genesis.clone(), rx.clone()));
        tasks.spawn(follower::run(store.clone(), chain.clone(), replica, resumed, rx.clone()));
        tasks.spawn(crate::relay::run(store.clone(), chain, state.relay_wake.clone(), rx.clone()));
        tasks.spawn(prune_nonces(store, config.limits.timestamp_window_seconds, rx.clone()));
        let tcp = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen { addr: config.listen, source })?;
        let listener = TlsListener::new(tcp, tls, rx.clone())
            .map_err(|source| StartError::Listen { addr: config.listen, source })?;
        let addr = listener.local;
        let app = crate::api::router(state.clone()).into_make_service_with_connect_info::<PeerAddr>();
        let mut stop = rx;
        tasks.spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.changed().await;
            });
            if let Err(e) = serve.await {
                tracing::error!("server: {e}");
            }
        });
        tracing::info!(%addr, "box-gateway serving HTTPS");
        Ok(Self { addr, state, shutdown, tasks })
    }

    /// Stops the server and the background tasks and waits for them
    /// (open connections are closed after at most 5 seconds).
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), async { while self.tasks.join_next().await.is_some() {} })
            .await;
        self.tasks.abort_all();
    }

    /// Waits until a background task ends (which only happens on shutdown or failure).
    pub async fn wait(&mut self) {
        let _ = self.tasks.join_next().await;
    }
}

/// The wallet view's Ethereum client: a node beside the gateway, asked with
/// a short deadline so a slow node does not hold a request.
fn eth_client(url: &str) -> Result<box_eth::Eth, box_eth::EthError> {
    box_eth::Eth::connect_with(url, &box_eth::EthOptions { timeout: Duration::from_secs(5), ..Default::default() })
}

/// Compares the genesis with the nodes' once one answers; ends (stopping the
/// gateway, see [`Gateway::wait`]) only on a mismatch, with the reason logged.
async fn genesis_watch(
    chain: NodeClient,
    fingerprint: box_core::genesis::Fingerprint,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::select! {
        r = box_proto::genesis::check_genesis(&chain, fingerprint) => match r {
            Err(mismatch) => {
                tracing::error!("{mismatch}");
                return;
            }
            Ok(_) => tracing::info!(fingerprint = %fingerprint, "the nodes run this genesis"),
        },
        _ = shutdown.changed() => return,
    }
    let _ = shutdown.changed().await;
}

/// Forgets nonces older than the timestamp window (those requests are refused as stale anyway).
async fn prune_nonces(store: Store, window: u64, mut shutdown: watch::Receiver<bool>) {
    loop {
        let before = crate::store::now() - i64::try_from(window.saturating_mul(2)).unwrap_or(i64::MAX / 2);
        if let Err(e) = store.prune_nonces(before).await {
            tracing::warn!("pruning nonces: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
