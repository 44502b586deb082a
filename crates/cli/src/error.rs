//! boxctl's errors, grouped by what the user should do, each with its exit code.
//!
//! No variant ever carries a secret: messages name files, addresses and
//! reasons, never a password, phrase or key.

use box_api::ClientError;

/// Why a command did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// Bad arguments, a bad file or a bad value: fix the input and retry. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// The gateway (or the chain or signer behind it) refused. Exit 3.
    #[error("refused ({code}): {message}")]
    Refused {
        /// The machine-readable reason (the gateway's `code`, or boxctl's own).
        code: String,
        /// The reason in words.
        message: String,
    },
    /// The gateway showed data that does not verify; nothing was signed. Exit 4.
    #[error("refusing to go on: {0}")]
    Untrusted(String),
    /// The gateway or the chain cannot be reached now: retry later. Exit 5.
    #[error("{0}")]
    Unavailable(String),
    /// What was waited for did not happen in time (the request may still complete). Exit 6.
    #[error("{0}")]
    Timeout(String),
    /// A local failure (files, terminal). Exit 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failed(_) => 1,
            Self::Usage(_) => 2,
            Self::Refused { .. } => 3,
            Self::Untrusted(_) => 4,
            Self::Unavailable(_) => 5,
            Self::Timeout(_) => 6,
        }
    }

    /// A refusal with boxctl's own code.
    pub fn refused(code: &str, message: impl Into<String>) -> Self {
        Self::Refused { code: code.to_owned(), message: message.into() }
    }

    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// A local failure.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// The refusal code, if this is a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// An I/O error on `path` while doing `what`.
    pub fn io(what: &str, path: &std::path::Path, e: &std::io::Error) -> Self {
        Self::Failed(format!("cannot {what} {}: {e}", path.display()))
    }
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api { status: 503, message, .. } => Self::Unavailable(message),
            ClientError::Api { status: 429, code, message, retry_after } => Self::Refused {
                code,
                message: match retry_after {
                    Some(s) => format!("{message} (retry after {s} s)"),
                    None => message,
                },
            },
            ClientError::Api { code, message, .. } => Self::Refused { code, message },
            ClientError::Transport(m) => Self::Unavailable(format!("cannot reach the gateway: {m}")),
            ClientError::Certificate(m) => Self::Untrusted(format!("the gateway's certificate is not trusted: {m}")),
            ClientError::Decode(m) => Self::Untrusted(format!("unexpected answer from the gateway: {m}")),
            ClientError::Untrusted(m) => Self::Untrusted(m),
            ClientError::Input(m) => Self::Usage(m),
        }
    }
}

/// boxctl's result.
pub type CliResult<T> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_refusals_keep_their_code_and_map_to_exit_codes() {
        let e: CliError = ClientError::Api {
            status: 422,
            code: "over_limit".into(),
            message: "1000 ETH exceeds the per-transfer limit".into(),
            retry_after: None,
        }
        .into();
        assert_eq!(e.code(), Some("over_limit"));
        assert_eq!(e.exit_code(), 3);
        assert_eq!(e.to_string(), "refused (over_limit): 1000 ETH exceeds the per-transfer limit");
        let down: CliError = ClientError::Transport("connection refused".into()).into();
        assert_eq!(down.exit_code(), 5);
        let busy: CliError = ClientError::Api {
            status: 429,
            code: "rate_limited".into(),
            message: "slow down".into(),
            retry_after: Some(7),
        }
        .into();
        assert!(busy.to_string().contains("retry after 7 s"));
        // A certificate that does not verify (another CA, another name) is not "unreachable": exit 4.
        let cert: CliError = ClientError::Certificate("not valid for the name".into()).into();
        assert_eq!(cert.exit_code(), 4);
        assert!(cert.to_string().contains("certificate is not trusted"), "{cert}");
        let lie: CliError = ClientError::Untrusted("bad signature".into()).into();
        assert_eq!(lie.exit_code(), 4);
        assert_eq!(CliError::usage("x").exit_code(), 2);
        assert_eq!(CliError::Timeout("x".into()).exit_code(), 6);
        assert_eq!(CliError::failed("x").exit_code(), 1);
    }
}
