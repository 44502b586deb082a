//! The role a deployment certificate names, and reading it from a caller.
//!
//! A valid certificate of the deployment CA is not authority (DESIGN §2):
//! every certificate also says what its holder is, in exactly one URI
//! subject alternative name, and each gRPC service of a node serves only the
//! roles that need it (box-chain's `access`):
//!
//! | URI subject alternative name | role |
//! |---|---|
//! | `box:node:<id>` | node `<id>` (its raft id: the `id` of its configuration, the `nodeId` of the genesis) |
//! | `box:gateway` | the gateway's chain client |
//! | `box:signer` | the signer |
//! | `box:auditor` | an auditor (reads only) |
//!
//! The common name and the DNS and IP names are not read for authority: they
//! stay free for host names. Any CA can issue such a certificate, e.g.
//! OpenSSL with `subjectAltName = URI:box:node:3, IP:10.0.0.3` in the
//! request's extensions, or a company CA's template with a URI SAN;
//! `box-node certs issue --role node:3` does it with the development CA.
//!
//! What this does not do: decide who may call what (box-chain's `access`),
//! or check the chain of trust (the TLS handshake did: only certificates of
//! the deployment CA get this far).

use std::fmt;
use std::str::FromStr;

/// The URI scheme of a role name.
pub const ROLE_SCHEME: &str = "box:";

/// A node's raft id (box-chain's `NodeId`).
pub type NodeId = u64;

/// What a certificate's holder is in a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertRole {
    /// An authority or backup node, by raft id (at least 1).
    Node(NodeId),
    /// The gateway (its client to the nodes).
    Gateway,
    /// The signer.
    Signer,
    /// An auditor: reads only.
    Auditor,
}

/// Why a certificate grants no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The certificate does not parse.
    #[error("the certificate cannot be read: {0}")]
    Unreadable(String),
    /// No `box:` URI in it.
    #[error(
        "the certificate names no BOX role; it needs one URI subject alternative name box:node:<id>, box:gateway, \
         box:signer or box:auditor (a certificate of the deployment CA alone grants nothing)"
    )]
    Missing,
    /// More than one `box:` URI.
    #[error("the certificate names {0} BOX roles; it must name exactly one")]
    Several(usize),
    /// A `box:` URI that is no role.
    #[error("{0:?} is not a BOX role; expected box:node:<id> (id at least 1), box:gateway, box:signer or box:auditor")]
    Unknown(String),
}

impl CertRole {
    /// The URI subject alternative name that carries this role.
    pub fn uri(&self) -> String {
        format!("{ROLE_SCHEME}{}", self.name())
    }

    /// The role's name without the scheme, as `--role` takes it: `node:3`,
    /// `gateway`, `signer`, `auditor`.
    pub fn name(&self) -> String {
        match self {
            Self::Node(id) => format!("node:{id}"),
            Self::Gateway => "gateway".into(),
            Self::Signer => "signer".into(),
            Self::Auditor => "auditor".into(),
        }
    }

    /// The role the first certificate of a PEM text names (see
    /// [`CertRole::of_certificate`]). Does not check who issued it.
    pub fn of_pem(pem: &str) -> Result<Self, RoleError> {
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| RoleError::Unreadable(format!("not a PEM certificate: {e}")))?;
        Self::of_certificate(&p.contents)
    }

    /// The role a DER certificate names. Only URI subject alternative names
    /// starting with `box:` count; there must be exactly one, and it must be
    /// a role. Does not check who issued the certificate.
    pub fn of_certificate(der: &[u8]) -> Result<Self, RoleError> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| RoleError::Unreadable(e.to_string()))?;
        let san = cert.subject_alternative_name().map_err(|e| RoleError::Unreadable(e.to_string()))?;
        let uris: Vec<&str> = san
            .iter()
            .flat_map(|ext| ext.value.general_names.iter())
            .filter_map(|n| match n {
                GeneralName::URI(u)
                    if u.get(..ROLE_SCHEME.len()).is_some_and(|s| s.eq_ignore_ascii_case(ROLE_SCHEME)) =>
                {
                    Some(*u)
                }
                _ => None,
            })
            .collect();
        match uris[..] {
            [] => Err(RoleError::Missing),
            [uri] => uri[ROLE_SCHEME.len()..].parse().map_err(|_| RoleError::Unknown(uri.to_owned())),
            _ => Err(RoleError::Several(uris.len())),
        }
    }
}

impl FromStr for CertRole {
    type Err = RoleError;

    /// Parses a role name (`node:3`, `gateway`, `signer`, `auditor`), with or
    /// without the `box:` scheme.
    fn from_str(s: &str) -> Result<Self, RoleError> {
        let name = s.strip_prefix(ROLE_SCHEME).unwrap_or(s);
        let unknown = || RoleError::Unknown(s.to_owned());
        match name {
            "gateway" => Ok(Self::Gateway),
            "signer" => Ok(Self::Signer),
            "auditor" => Ok(Self::Auditor),
            _ => {
                let id = name.strip_prefix("node:").ok_or_else(unknown)?;
                // Digits only: no sign, no spaces, no leading "+".
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(unknown());
                }
                match id.parse::<NodeId>() {
                    Ok(n) if n >= 1 => Ok(Self::Node(n)),
                    _ => Err(unknown()),
                }
            }
        }
    }
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Node(id) => write!(f, "node {id}"),
            Self::Gateway => f.write_str("the gateway"),
            Self::Signer => f.write_str("the signer"),
            Self::Auditor => f.write_str("an auditor"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip_and_junk_is_refused() {
        for role in [CertRole::Node(1), CertRole::Node(42), CertRole::Gateway, CertRole::Signer, CertRole::Auditor] {
            assert_eq!(role.name().parse::<CertRole>().unwrap(), role);
            assert_eq!(role.uri().parse::<CertRole>().unwrap(), role);
        }
        assert_eq!(CertRole::Node(3).uri(), "box:node:3");
        for bad in
            ["", "node", "node:", "node:0", "node:-1", "node:+1", "node: 1", "node:x", "Gateway", "box:", "admin"]
        {
            assert!(matches!(bad.parse::<CertRole>(), Err(RoleError::Unknown(_))), "{bad:?}");
        }
    }

    fn cert_with_uris(uris: &[&str]) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::new(vec!["host".to_owned()]).unwrap();
        for u in uris {
            p.subject_alt_names.push(rcgen::SanType::URI((*u).try_into().unwrap()));
        }
        let key = rcgen::KeyPair::generate().unwrap();
        p.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_role_is_the_one_box_uri_of_the_certificate() {
        assert_eq!(CertRole::of_certificate(&cert_with_uris(&["box:node:3"])).unwrap(), CertRole::Node(3));
        let other = cert_with_uris(&["https://example.com/x", "box:gateway"]);
        assert_eq!(CertRole::of_certificate(&other).unwrap(), CertRole::Gateway);
        assert_eq!(CertRole::of_certificate(&cert_with_uris(&[])), Err(RoleError::Missing));
        assert_eq!(CertRole::of_certificate(&cert_with_uris(&["spiffe://box/node/3"])), Err(RoleError::Missing));
        assert_eq!(
            CertRole::of_certificate(&cert_with_uris(&["box:node:1", "box:gateway"])),
            Err(RoleError::Several(2))
        );
        assert!(matches!(CertRole::of_certificate(&cert_with_uris(&["box:root"])), Err(RoleError::Unknown(_))));
        assert!(matches!(CertRole::of_certificate(b"junk"), Err(RoleError::Unreadable(_))));
        // The message tells a person what to do.
        assert!(RoleError::Missing.to_string().contains("box:node:<id>"));
    }

    #[test]
    fn the_role_of_a_pem_certificate() {
        let mut p = rcgen::CertificateParams::new(vec!["host".to_owned()]).unwrap();
        p.subject_alt_names.push(rcgen::SanType::URI("box:node:4".try_into().unwrap()));
        let pem = p.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem();
        assert_eq!(CertRole::of_pem(&pem).unwrap(), CertRole::Node(4));
        assert!(matches!(CertRole::of_pem("junk"), Err(RoleError::Unreadable(_))));
    }
}
