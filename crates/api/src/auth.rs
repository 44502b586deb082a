//! Request authentication by signature: what a client signs and the
//! gateway checks.
//!
//! Every call to the gateway (except the public deployment, health and
//! OpenAPI documents and the keystore claim) carries four headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Box-Signer` | the caller's address |
//! | `X-Box-Timestamp` | seconds since the Unix epoch, decimal |
//! | `X-Box-Nonce` | 32 random bytes, `0x` + 64 hex digits, never reused by this signer |
//! | `X-Box-Signature` | 65-byte `r ‖ s ‖ v` signature, `0x` + 130 hex digits |
//!
//! The signature is over the EIP-712 [`ApiRequest`] under the deployment's
//! BOX domain, so a hardware wallet can sign it and shows the method and path.
//! `bodyHash` is Keccak-256 of the exact body bytes (of the empty string for
//! none). This module is pure: it parses and checks; the clock, the nonce
//! store and the role registry are the caller's.

#![allow(missing_docs)] // sol! generates the fields.

use crate::wire::parse_hex_32;
use alloy::primitives::{Address, B256, Signature, keccak256};
use alloy::sol;
use box_core::crypto::{SecretKey, recover};
use box_core::typed::Domain;

sol! {
    /// What a caller signs to authenticate one HTTP request to the gateway.
    #[derive(Debug, PartialEq, Eq)]
    struct ApiRequest {
        string method;
        string path;
        bytes32 bodyHash;
        uint64 timestamp;
        bytes32 nonce;
    }
}

/// Header naming the caller's address.
pub const SIGNER: &str = "x-box-signer";
/// Header with the request time (Unix seconds).
pub const TIMESTAMP: &str = "x-box-timestamp";
/// Header with the request nonce.
pub const NONCE: &str = "x-box-nonce";
/// Header with the signature over [`ApiRequest`].
pub const SIGNATURE: &str = "x-box-signature";

/// Why a request's credentials were refused. Each maps to one documented
/// HTTP status and error code (see [`AuthError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A header is missing.
    #[error("the {0} header is missing; every call is signed (see the API documentation, section authentication)")]
    Missing(&'static str),
    /// A header does not parse.
    #[error("the {header} header is malformed: {problem}")]
    Malformed {
        /// The header.
        header: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The timestamp is outside the accepted window.
    #[error(
        "the request timestamp {timestamp} is {skew} seconds from the gateway's clock ({now}); at most {window} are accepted: check the client's clock and sign again"
    )]
    Stale {
        /// The request's timestamp.
        timestamp: u64,
        /// The gateway's clock.
        now: u64,
        /// The difference.
        skew: u64,
        /// The allowed difference.
        window: u64,
    },
    /// The signature does not recover to the named signer.
    #[error(
        "the signature does not match {signer} for {method} {path} (recovered {recovered}); sign the method, path, body hash, timestamp and nonce under this deployment's domain"
    )]
    BadSignature {
        /// Who the request claims to be from.
        signer: Address,
        /// Who the signature is actually from, or why it does not recover.
        recovered: String,
        /// Method.
        method: String,
        /// Path.
        path: String,
    },
}

impl AuthError {
    /// The stable machine-readable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_credentials",
            Self::Malformed { .. } => "malformed_credentials",
            Self::Stale { .. } => "stale_timestamp",
            Self::BadSignature { .. } => "bad_signature",
        }
    }
}

/// The four authentication headers, parsed but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Who the request claims to be from.
    pub signer: Address,
    /// When it was signed.
    pub timestamp: u64,
    /// Its nonce.
    pub nonce: B256,
    /// The signature.
    pub signature: Signature,
}

fn malformed(header: &'static str, problem: impl Into<String>) -> AuthError {
    AuthError::Malformed { header, problem: problem.into() }
}

impl Credentials {
    /// Parses the headers through `get`, which returns a header's value.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, AuthError> {
        let need = |h: &'static str| get(h).ok_or(AuthError::Missing(h));
        let signer = box_core::address::parse_address(need(SIGNER)?).map_err(|e| malformed(SIGNER, e.to_string()))?;
        let ts = need(TIMESTAMP)?;
        let timestamp = ts
            .parse::<u64>()
            .map_err(|_| malformed(TIMESTAMP, format!("{ts:?} is not a whole number of seconds since the epoch")))?;
        let nonce_text = need(NONCE)?;
        let nonce =
            parse_hex_32(nonce_text).ok_or_else(|| malformed(NONCE, "expected 0x followed by 64 hex digits"))?;
        let sig_text = need(SIGNATURE)?;
        let raw = sig_text
            .strip_prefix("0x")
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| malformed(SIGNATURE, "expected 0x followed by 130 hex digits"))?;
        // As wallets return it: v 0/1 is read as 27/28 (see signature_from_wallet).
        let signature = crate::wire::signature_from_wallet(&raw).map_err(|e| malformed(SIGNATURE, e.to_string()))?;
        Ok(Self { signer, timestamp, nonce, signature })
    }

    /// Checks the timestamp against `now` (± `window` seconds) and the
    /// signature against the request. Does not check the nonce's freshness
    /// or the signer's role: those need the store.
    pub fn verify(
        &self,
        domain: &Domain,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
        window: u64,
    ) -> Result<(), AuthError> {
        let skew = now.abs_diff(self.timestamp);
        if skew > window {
            return Err(AuthError::Stale { timestamp: self.timestamp, now, skew, window });
        }
        let msg = request_message(method, path, body, self.timestamp, self.nonce);
        let recovered = recover(&domain.signing_hash(&msg), &self.signature);
        match recovered {
            Ok(a) if a == self.signer => Ok(()),
            other => Err(AuthError::BadSignature {
                signer: self.signer,
                recovered: match other {
                    Ok(a) => a.to_checksum(None),
                    Err(e) => e.to_string(),
                },
                method: method.to_owned(),
                path: path.to_owned(),
            }),
        }
    }
}

/// The [`ApiRequest`] for one request.
pub fn request_message(method: &str, path: &str, body: &[u8], timestamp: u64, nonce: B256) -> ApiRequest {
    ApiRequest {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        bodyHash: keccak256(body),
        timestamp,
        nonce,
    }
}

/// Signs one request: the four header values, in the order
/// `[SIGNER, TIMESTAMP, NONCE, SIGNATURE]`.
pub fn sign_request(
    domain: &Domain,
    key: &SecretKey,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp: u64,
    nonce: B256,
) -> [(&'static str, String); 4] {
    let sig = domain.sign(key, &request_message(method, path, body, timestamp, nonce));
    [
        (SIGNER, key.address().to_checksum(None)),
        (TIMESTAMP, timestamp.to_string()),
        (NONCE, nonce.to_string()),
        (SIGNATURE, format!("0x{}", hex::encode(sig.as_bytes()))),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use box_core::ids::{ChainId, DeploymentId};
    use std::collections::HashMap;

    fn domain() -> Domain {
        Domain { chain_id: ChainId(31337), deployment: DeploymentId(B256::repeat_byte(7)) }
    }

    fn signed(key: &SecretKey, method: &str, path: &str, body: &[u8], ts: u64) -> Credentials {
        let h: HashMap<&str, String> =
            sign_request(&domain(), key, method, path, body, ts, B256::repeat_byte(9)).into_iter().collect();
        Credentials::parse(|k| h.get(k).map(String::as_str)).unwrap()
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_breaks_it() {
        let k = SecretKey::from_label_unchecked("alice");
        let c = signed(&k, "POST", "/v1/transfers", b"{}", 1000);
        c.verify(&domain(), "POST", "/v1/transfers", b"{}", 1010, 300).unwrap();
        for (m, p, b) in
            [("PUT", "/v1/transfers", &b"{}"[..]), ("POST", "/v1/flows", b"{}"), ("POST", "/v1/transfers", b"{ }")]
        {
            let e = c.verify(&domain(), m, p, b, 1000, 300).unwrap_err();
            assert_eq!(e.code(), "bad_signature", "{m} {p}");
        }
        let other = Domain { chain_id: ChainId(1), ..domain() };
        assert_eq!(c.verify(&other, "POST", "/v1/transfers", b"{}", 1000, 300).unwrap_err().code(), "bad_signature");
        let mut forged = c.clone();
        forged.signer = SecretKey::from_label_unchecked("bob").address();
        assert_eq!(
            forged.verify(&domain(), "POST", "/v1/transfers", b"{}", 1000, 300).unwrap_err().code(),
            "bad_signature"
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let k = SecretKey::from_label_unchecked("alice");
        let c = signed(&k, "GET", "/v1/me", b"", 1000);
        assert!(matches!(
            c.verify(&domain(), "GET", "/v1/me", b"", 1301, 300),
            Err(AuthError::Stale { skew: 301, .. })
        ));
        assert!(matches!(c.verify(&domain(), "GET", "/v1/me", b"", 699, 300), Err(AuthError::Stale { .. })));
        c.verify(&domain(), "GET", "/v1/me", b"", 1300, 300).unwrap();
    }

    #[test]
    fn malformed_headers_name_the_header() {
        let k = SecretKey::from_label_unchecked("alice");
        let good: HashMap<&str, String> =
            sign_request(&domain(), &k, "GET", "/", b"", 1, B256::ZERO).into_iter().collect();
        for (h, v) in [(SIGNER, "0x12"), (TIMESTAMP, "-1"), (NONCE, "0x1234"), (SIGNATURE, "0xzz")] {
            let mut m = good.clone();
            m.insert(h, v.to_owned());
            match Credentials::parse(|k| m.get(k).map(String::as_str)) {
                Err(AuthError::Malformed { header, .. }) => assert_eq!(header, h),
                other => panic!("{h}: {other:?}"),
            }
        }
        let mut m = good.clone();
        m.remove(NONCE);
        assert_eq!(Credentials::parse(|k| m.get(k).map(String::as_str)), Err(AuthError::Missing(NONCE)));
    }
}
