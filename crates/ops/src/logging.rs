//! Log output shared by BOX's services (box-node, box-gateway, box-signer):
//! `tracing` lines on stderr, filtered by `RUST_LOG` (else `default_filter`),
//! coloured only on a terminal so log files stay plain text.

/// Installs the subscriber. Call once, first thing in `main`.
pub fn init(default_filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
