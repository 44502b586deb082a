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
    /// The gateway's TLS certificate is not acceptable (another CA, another
    /// name, expired): the profile's gateway URL or CA is wrong, or someone
    /// else answers. Nothing was sent.
    #[error("the gateway's certificate is not trusted: {0}")]
    Certificate(String),
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

/// A failed exchange with `base` as what the caller should do: an
/// unacceptable certificate ([`ClientError::Certificate`], with the cause in
/// words: another CA, another name, expired), else the cause of not reaching
/// it ([`ClientError::Transport`]: connection refused, timed out, …).
pub(super) fn transport(e: &(dyn std::error::Error + 'static), base: &str) -> ClientError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(outer) = cause {
        // rustls's error reaches here inside (nested) io::Errors, whose source() skips what they wrap.
        let mut c = outer;
        loop {
            if let Some(tls) = c.downcast_ref::<rustls::Error>() {
                return certificate(tls, base);
            }
            let Some(io) = c.downcast_ref::<std::io::Error>() else { break };
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return ClientError::Transport(format!(
                        "nothing answers at {base} (connection refused): is the gateway running, and is the profile's URL right?"
                    ));
                }
                std::io::ErrorKind::TimedOut => {
                    return ClientError::Transport(format!("{base} did not answer in time (timed out)"));
                }
                _ => {}
            }
            match io.get_ref() {
                Some(inner) => c = inner,
                None => break,
            }
        }
        cause = outer.source();
    }
    ClientError::Transport(error_chain(e))
}

/// A TLS failure with `base` in words.
fn certificate(tls: &rustls::Error, base: &str) -> ClientError {
    use rustls::CertificateError as C;
    match tls {
        rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            ClientError::Certificate(format!(
                "it is not valid for the name in {base} (the profile's gateway URL must use a name or address the gateway's certificate lists)"
            ))
        }
        // BadSignature: an issuer of the same name that did not sign it.
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => ClientError::Certificate(format!(
            "the certificate {base} presents is not signed by the CA in the profile (check `ca`: the deployment's CA certificate)"
        )),
        rustls::Error::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => ClientError::Certificate(format!(
            "the certificate {base} presents has expired or is not valid yet (check this machine's clock, or renew the certificate)"
        )),
        rustls::Error::InvalidCertificate(C::Revoked) => {
            ClientError::Certificate(format!("the certificate {base} presents is revoked"))
        }
        rustls::Error::InvalidCertificate(_) => {
            ClientError::Certificate(format!("the certificate {base} presents does not verify"))
        }
        other => ClientError::Transport(format!("the TLS handshake with {base} failed: {other}")),
    }
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
