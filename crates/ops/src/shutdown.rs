//! The shutdown signals every BOX service obeys (box-node, box-gateway,
//! box-signer): `SIGTERM` (what systemd and `kill` send) and `SIGINT`
//! (Ctrl-C). On either, one `info` line names the signal and says the
//! process is stopping, so a stop is never silent in the journal.

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The installed handlers for `SIGTERM` and `SIGINT`.
///
/// Guarantees: once [`StopSignals::install`] returns, neither signal kills
/// the process any more; [`StopSignals::recv`] resolves on the first one.
/// It does not stop anything itself: the caller stops its work and exits.
pub struct StopSignals {
    term: Signal,
    int: Signal,
}

impl StopSignals {
    /// Installs the handlers. Call inside the tokio runtime, before serving.
    ///
    /// # Errors
    /// When the operating system refuses a handler (the process cannot
    /// then be stopped cleanly, so it should not start).
    pub fn install() -> std::io::Result<Self> {
        Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    /// Waits for `SIGTERM` or `SIGINT`, logs `received SIGTERM: <service>
    /// is stopping` (or `SIGINT`) and returns the signal's name.
    pub async fn recv(&mut self, service: &str) -> &'static str {
        let name = tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        };
        tracing::info!("received {name}: {service} is stopping");
        name
    }
}
