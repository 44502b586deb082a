//! Why a call failed, grouped by what the caller should do.

use crate::error::ErrorBody;
use serde::de::DeserializeOwned;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The gateway refused, with its `{code, message}`: a rule was broken
    /// (fix the request), or 429/503 (wait and retry).
    #[error("the gateway answered {status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Error code.
        code: String,
        /// Message.
        message: String,
        /// `Retry-After`, seconds.
        retry_after: Option<u64>,
    },
    /// The gateway could not be reached (or its certificate is not from the
    /// deployment's CA): retry later, or check the address and the CA.
    #[error("cannot reach the gateway: {0}")]
    Transport(String),
    /// The answer is not what the API documents.
    #[error("unexpected answer from the gateway: {0}")]
    Decode(String),
    /// The gateway showed data that does not verify; nothing was signed.
    #[error("refusing to sign: {0}")]
    Untrusted(String),
    /// Bad arguments or configuration.
    #[error("{0}")]
    Input(String),
}

impl ClientError {
    /// The API error code, if the gateway answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
    /// The HTTP status, if the gateway answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An error and its causes in words (`error sending request for url (…):
/// client error (Connect): tcp connect error: Connection refused (os error
/// 111)`): the outer message names only the stage that failed.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// A raw answer: status, `Retry-After`, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` seconds, if sent.
    pub retry_after: Option<u64>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Decodes a 2xx JSON body (an empty body as `null`), or the `{code,
/// message}` of an error (a body that is not one becomes code `unknown`
/// with the first 500 characters).
pub fn decode<T: DeserializeOwned>(r: RawResponse) -> Result<T, ClientError> {
    if (200..300).contains(&r.status) {
        let body = if r.body.is_empty() { b"null".to_vec() } else { r.body };
        return serde_json::from_slice(&body).map_err(|e| ClientError::Decode(e.to_string()));
    }
    match serde_json::from_slice::<ErrorBody>(&r.body) {
        Ok(e) => {
            Err(ClientError::Api { status: r.status, code: e.code, message: e.message, retry_after: r.retry_after })
        }
        Err(_) => Err(ClientError::Api {
            status: r.status,
            code: "unknown".into(),
            message: String::from_utf8_lossy(&r.body).chars().take(500).collect(),
            retry_after: r.retry_after,
        }),
    }
}
