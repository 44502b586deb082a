//! The deployment's development certificate authority.
//!
//! Every gRPC connection in a BOX deployment is mutual TLS with certificates
//! from the deployment's own CA (DESIGN §2). This module makes that CA and
//! issues node and service certificates from it, with `rcgen` on the `ring`
//! provider:
//!
//! - [`init_ca`] writes `ca.pem` and `ca.key` (mode 0600) into a directory;
//! - [`issue`] loads them and writes `<name>.pem` and `<name>.key` (0600),
//!   a leaf valid for both TLS server and client authentication that names
//!   its holder's role ([`CertRole`]: `box:node:<id>`, `box:gateway`,
//!   `box:signer` or `box:auditor` as a URI subject alternative name; the
//!   nodes serve each role only what it needs);
//! - [`DevCa`] does the same in memory, for tests.
//!
//! What it does not do: revocation (no CRL, no OCSP: to retire a certificate,
//! make a new CA and re-issue), expiry management (certificates are valid
//! from 1975 to 4096, rcgen's default), or keeping the CA key safe: for a
//! production deployment keep `ca.key` offline after issuing. Nothing here is
//! ever overwritten: an existing file is an error, to be removed by hand.
//!
//! Loading a CA back uses rcgen's own certificate reader (its `x509-parser`
//! feature): the certificate must be a CA and its public key must be the key
//! file's, otherwise it is refused rather than mis-issued from.

use crate::role::CertRole;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType,
};
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// File name of the CA certificate in a CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// File name of the CA private key in a CA directory.
pub const CA_KEY_FILE: &str = "ca.key";

/// Longest accepted certificate or CA name (X.509's upper bound for a common name).
const MAX_NAME_LEN: usize = 64;

/// Why a CA or certificate was not made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file to be written exists already; nothing was written.
    #[error("{path} already exists; refusing to overwrite it (remove it first if you mean to replace it)")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// The certificate or CA name cannot be used.
    #[error("{name:?} is not a usable certificate name: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong and what is expected.
        reason: &'static str,
    },
    /// A host cannot be put in a certificate.
    #[error("{host:?} is not a host name or IP address for a certificate: {reason}")]
    BadHost {
        /// The host given.
        host: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The CA certificate or key cannot be used to issue.
    #[error("{origin}: {problem}")]
    BadCa {
        /// The file (or "CA certificate" / "CA key" for in-memory PEM).
        origin: String,
        /// What is wrong and what to do.
        problem: String,
    },
    /// Reading or writing a file failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done ("read", "write", "create directory").
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// rcgen refused to generate a key or certificate.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The files [`init_ca`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFiles {
    /// `ca.pem`: the CA certificate, to be given to every node and service.
    pub cert: PathBuf,
    /// `ca.key`: the CA private key (mode 0600), needed only to issue.
    pub key: PathBuf,
}

/// The files [`issue`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafFiles {
    /// `<name>.pem`: the certificate.
    pub cert: PathBuf,
    /// `<name>.key`: its private key (mode 0600).
    pub key: PathBuf,
}

/// A CA in memory: its key, the parameters it issues with, and its
/// certificate. `Debug` shows the name only.
pub struct DevCa {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: zeroize::Zeroizing<String>,
}

impl fmt::Debug for DevCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCa").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The one CA profile this module makes and accepts: subject = CN only; may
/// sign end-entity certificates only (path length 0).
fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p
}

impl DevCa {
    /// Makes a new CA with a fresh P-256 key. `name` becomes its common name
    /// (1 to 64 characters, no control characters, e.g. "ACME BOX dev CA").
    pub fn new(name: &str) -> Result<Self, CertError> {
        check_ca_name(name)?;
        let key = KeyPair::generate()?;
        let params = ca_params(name);
        let cert_pem = params.self_signed(&key)?.pem();
        let key_pem = zeroize::Zeroizing::new(key.serialize_pem());
        Ok(Self { name: name.to_owned(), issuer: Issuer::new(params, key), cert_pem, key_pem })
    }

    /// Loads a CA made by [`DevCa::new`] or [`init_ca`] from its certificate
    /// and PKCS#8 key PEM. Refuses a key that does not belong to the
    /// certificate and a certificate whose subject is not a lone common name.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CertError> {
        Self::from_pem_named(cert_pem, key_pem, "CA certificate", "CA key")
    }

    fn from_pem_named(cert_pem: &str, key_pem: &str, cert_origin: &str, key_origin: &str) -> Result<Self, CertError> {
        let bad =
            |origin: &str, problem: &str| CertError::BadCa { origin: origin.to_owned(), problem: problem.to_owned() };
        let key = KeyPair::from_pem(key_pem).map_err(|_| bad(key_origin, "is not a PEM private key (PKCS#8)"))?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|_| bad(cert_origin, "is not a PEM certificate"))?;
        let cert = pem.parse_x509().map_err(|_| bad(cert_origin, "is not a well-formed X.509 certificate"))?;
        if !cert.is_ca() {
            return Err(bad(cert_origin, "is not a CA certificate (it lacks the CA basic constraint)"));
        }
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(bad(key_origin, "does not belong to the CA certificate (their public keys differ)"));
        }
        let name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| bad(cert_origin, "has no common name"))?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| bad(cert_origin, &format!("cannot be used to issue certificates: {e}")))?;
        Ok(Self { name, issuer, cert_pem: cert_pem.to_owned(), key_pem: zeroize::Zeroizing::new(key_pem.to_owned()) })
    }

    /// Loads `ca.pem` and `ca.key` from a directory written by [`init_ca`].
    pub fn load(dir: &Path) -> Result<Self, CertError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = read(&cert_path)?;
        let key_pem = zeroize::Zeroizing::new(read(&key_path)?);
        Self::from_pem_named(&cert_pem, &key_pem, &cert_path.display().to_string(), &key_path.display().to_string())
    }

    /// The CA's common name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA certificate, PEM: what every node and service trusts.
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA private key, PKCS#8 PEM. Handle with care: whoever holds it can
    /// mint certificates every node accepts.
    pub fn key_pem(&self) -> zeroize::Zeroizing<String> {
        self.key_pem.clone()
    }

    /// Issues a leaf certificate with a fresh P-256 key: CN = `name`; subject
    /// alternative names = `name` (DNS) plus `hosts` (IP literals become IP
    /// SANs, anything else a DNS SAN) plus `role` as a URI
    /// ([`CertRole::uri`], e.g. `box:node:3`), the only name the nodes read
    /// for authority; extended key usage TLS server and client, so one
    /// certificate serves a node both ways. Returns
    /// `(certificate PEM, private key PEM)`.
    ///
    /// `name` must be a bare file-safe host label: letters, digits, `-` and
    /// `.`, not starting with `-` or `.`, not `ca`.
    pub fn issue(&self, name: &str, role: CertRole, hosts: &[String]) -> Result<(String, String), CertError> {
        check_leaf_name(name)?;
        let mut sans = vec![name.to_owned()];
        for host in hosts {
            check_host(host)?;
            if !sans.contains(host) {
                sans.push(host.clone());
            }
        }
        let mut p = CertificateParams::new(sans)?;
        p.subject_alt_names.push(SanType::URI(role.uri().try_into()?));
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        p.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Makes a new CA named `name` and writes `ca.pem` and `ca.key` (mode 0600 on
/// unix) into `dir`, creating `dir` if missing. Refuses, writing nothing, if
/// either file exists.
pub fn init_ca(dir: &Path, name: &str) -> Result<CaFiles, CertError> {
    let ca = DevCa::new(name)?;
    let files = CaFiles { cert: dir.join(CA_CERT_FILE), key: dir.join(CA_KEY_FILE) };
    write_pair(dir, &files.cert, ca.ca_pem(), &files.key, &ca.key_pem())?;
    Ok(files)
}

/// Issues a certificate for `name` in `role` from the CA in `ca_dir` (see
/// [`DevCa::issue`]) and writes `<name>.pem` and `<name>.key` (mode 0600 on
/// unix) into `out_dir`, creating it if missing. Refuses, writing nothing, if
/// either file exists: to re-issue, remove the old pair first.
pub fn issue(
    ca_dir: &Path,
    out_dir: &Path,
    name: &str,
    role: CertRole,
    hosts: &[String],
) -> Result<LeafFiles, CertError> {
    check_leaf_name(name)?;
    let ca = DevCa::load(ca_dir)?;
    let files = LeafFiles { cert: out_dir.join(format!("{name}.pem")), key: out_dir.join(format!("{name}.key")) };
    // Refuse before generating, so an existing pair costs nothing.
    refuse_existing(&[&files.cert, &files.key])?;
    let (cert_pem, key_pem) = ca.issue(name, role, hosts)?;
    let key_pem = zeroize::Zeroizing::new(key_pem);
    write_pair(out_dir, &files.cert, &cert_pem, &files.key, &key_pem)?;
    Ok(files)
}

fn check_ca_name(name: &str) -> Result<(), CertError> {
    let reason = if name.trim().is_empty() {
        "it is empty"
    } else if name.chars().count() > MAX_NAME_LEN {
        "it is longer than 64 characters"
    } else if name.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(CertError::BadName { name: name.to_owned(), reason })
}

fn check_leaf_name(name: &str) -> Result<(), CertError> {
    let reason = if name.is_empty() {
        "it is empty; give a bare name like \"node1\""
    } else if name.contains(['/', '\\']) {
        "it contains a path separator; give a bare name like \"node1\" (the output directory is a separate argument)"
    } else if name.len() > MAX_NAME_LEN {
        "it is longer than 64 characters"
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        "use only ASCII letters, digits, '-' and '.' (it is also the certificate's DNS name and file name)"
    } else if name.starts_with(['-', '.']) {
        "it must start with a letter or digit"
    } else if name.eq_ignore_ascii_case("ca") {
        "\"ca\" is reserved for the CA's own files"
    } else {
        return Ok(());
    };
    Err(CertError::BadName { name: name.to_owned(), reason })
}

fn check_host(host: &str) -> Result<(), CertError> {
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let reason = if host.is_empty() {
        "it is empty"
    } else if host.len() > 253 {
        "a DNS name is at most 253 characters"
    } else if !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        "expected an IP address or a DNS name of ASCII letters, digits, '-' and '.' (no port, no wildcard)"
    } else if host.starts_with(['-', '.']) || host.ends_with(['-', '.']) || host.contains("..") {
        "a DNS name's labels start and end with a letter or digit"
    } else {
        return Ok(());
    };
    Err(CertError::BadHost { host: host.to_owned(), reason })
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io { action: "read", path: path.to_path_buf(), source })
}

fn refuse_existing(paths: &[&Path]) -> Result<(), CertError> {
    for path in paths {
        // symlink_metadata: a dangling symlink counts as existing too.
        if std::fs::symlink_metadata(path).is_ok() {
            return Err(CertError::Exists { path: path.to_path_buf() });
        }
    }
    Ok(())
}

/// Writes a certificate and its key as new files; on failure removes what
/// this call created, so no half pair is left behind.
fn write_pair(dir: &Path, cert_path: &Path, cert_pem: &str, key_path: &Path, key_pem: &str) -> Result<(), CertError> {
    refuse_existing(&[cert_path, key_path])?;
    std::fs::create_dir_all(dir).map_err(|source| CertError::Io {
        action: "create directory",
        path: dir.to_path_buf(),
        source,
    })?;
    write_new(key_path, key_pem, 0o600)?;
    if let Err(e) = write_new(cert_path, cert_pem, 0o644) {
        let _ = std::fs::remove_file(key_path);
        return Err(e);
    }
    Ok(())
}

/// Creates `path` (never overwriting) with `mode` on unix, writes and syncs.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), CertError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            CertError::Exists { path: path.to_path_buf() }
        } else {
            CertError::Io { action: "create", path: path.to_path_buf(), source }
        }
    })?;
    let written = file.write_all(contents.as_bytes()).and_then(|()| file.sync_all());
    if let Err(source) = written {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(CertError::Io { action: "write", path: path.to_path_buf(), source });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// What the tests look at in a PEM certificate.
    struct Parsed {
        issuer: String,
        subject: String,
        cn: String,
        spki: Vec<u8>,
        dns: Vec<String>,
        ips: Vec<Vec<u8>>,
    }

    fn parse(pem: &str) -> Parsed {
        use x509_parser::extensions::GeneralName;
        let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
        let c = p.parse_x509().unwrap();
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        if let Ok(Some(san)) = c.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                    GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
                    _ => {}
                }
            }
        }
        Parsed {
            issuer: c.issuer().to_string(),
            subject: c.subject().to_string(),
            cn: c.subject().iter_common_name().next().unwrap().as_str().unwrap().to_owned(),
            spki: c.public_key().raw.to_vec(),
            dns,
            ips,
        }
    }

    #[test]
    fn in_memory_ca_issues_leaves_it_signed() {
        let ca = DevCa::new("test CA").unwrap();
        assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(format!("{ca:?}"), "DevCa { name: \"test CA\", .. }");
        let (cert, key) = ca.issue("node1", CertRole::Node(1), &hosts(&["127.0.0.1", "localhost", "::1"])).unwrap();
        assert!(key.contains("BEGIN PRIVATE KEY"));
        KeyPair::from_pem(&key).unwrap();
        let leaf = parse(&cert);
        assert_eq!(leaf.issuer, parse(ca.ca_pem()).subject, "leaf issuer must be the CA's subject");
        assert_eq!(leaf.cn, "node1");
        assert!(leaf.dns.contains(&"node1".to_owned()) && leaf.dns.contains(&"localhost".to_owned()));
        assert!(leaf.ips.contains(&vec![127, 0, 0, 1]), "IP SAN 127.0.0.1");
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert.as_bytes()).unwrap();
        assert_eq!(
            CertRole::of_certificate(&pem.contents).unwrap(),
            CertRole::Node(1),
            "the role is in the certificate"
        );
        assert!(leaf.ips.contains(&[0u8; 15].iter().copied().chain([1]).collect::<Vec<u8>>()), "IP SAN ::1");
        // Two CAs, even of the same name, have different keys.
        let other = DevCa::new("test CA").unwrap();
        assert_ne!(parse(other.ca_pem()).spki, parse(ca.ca_pem()).spki);
    }

    #[test]
    fn ca_round_trips_through_pem() {
        let ca = DevCa::new("round trip").unwrap();
        let loaded = DevCa::from_pem(ca.ca_pem(), &ca.key_pem()).unwrap();
        assert_eq!(loaded.name(), "round trip");
        let (cert, _) = loaded.issue("gateway", CertRole::Gateway, &[]).unwrap();
        assert_eq!(parse(&cert).issuer, parse(ca.ca_pem()).subject);
    }

    #[test]
    fn ca_with_wrong_key_or_not_a_ca_is_refused() {
        let ca = DevCa::new("one").unwrap();
        let other = DevCa::new("two").unwrap();
        let err = DevCa::from_pem(ca.ca_pem(), &other.key_pem()).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
        // A leaf certificate cannot act as a CA.
        let (leaf, leaf_key) = ca.issue("node1", CertRole::Node(1), &[]).unwrap();
        let err = DevCa::from_pem(&leaf, &leaf_key).unwrap_err();
        assert!(err.to_string().contains("not a CA certificate"), "{err}");
        assert!(matches!(DevCa::from_pem("junk", &ca.key_pem()), Err(CertError::BadCa { .. })));
        assert!(matches!(DevCa::from_pem(ca.ca_pem(), "junk"), Err(CertError::BadCa { .. })));
    }

    #[test]
    fn files_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let out = dir.path().join("certs");
        let ca = init_ca(&ca_dir, "BOX dev CA").unwrap();
        assert_eq!(ca, CaFiles { cert: ca_dir.join("ca.pem"), key: ca_dir.join("ca.key") });
        let ca_pem = std::fs::read_to_string(&ca.cert).unwrap();
        assert!(ca_pem.contains("BEGIN CERTIFICATE"));
        KeyPair::from_pem(&std::fs::read_to_string(&ca.key).unwrap()).unwrap();

        let leaf = issue(&ca_dir, &out, "node1", CertRole::Node(1), &hosts(&["127.0.0.1"])).unwrap();
        assert_eq!(leaf, LeafFiles { cert: out.join("node1.pem"), key: out.join("node1.key") });
        let cert = std::fs::read_to_string(&leaf.cert).unwrap();
        assert_eq!(parse(&cert).issuer, parse(&ca_pem).subject);
        KeyPair::from_pem(&std::fs::read_to_string(&leaf.key).unwrap()).unwrap();
        // A second issue loads the same CA again.
        let leaf2 = issue(&ca_dir, &out, "node2", CertRole::Node(2), &[]).unwrap();
        assert_eq!(parse(&std::fs::read_to_string(leaf2.cert).unwrap()).issuer, parse(&ca_pem).subject);
    }

    #[test]
    fn nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let ca = init_ca(dir.path(), "CA").unwrap();
        let before = std::fs::read(&ca.key).unwrap();
        let err = init_ca(dir.path(), "CA").unwrap_err();
        assert!(matches!(&err, CertError::Exists { path } if *path == ca.cert), "{err}");
        assert!(err.to_string().contains("refusing to overwrite"));
        assert_eq!(std::fs::read(&ca.key).unwrap(), before);
        // Only one of the two present still refuses, and writes nothing.
        std::fs::remove_file(&ca.key).unwrap();
        assert!(matches!(init_ca(dir.path(), "CA"), Err(CertError::Exists { .. })));
        assert!(!ca.key.exists());

        let dir = tempfile::tempdir().unwrap();
        init_ca(dir.path(), "CA").unwrap();
        let leaf = issue(dir.path(), dir.path(), "node1", CertRole::Node(1), &[]).unwrap();
        let before = std::fs::read(&leaf.cert).unwrap();
        assert!(matches!(
            issue(dir.path(), dir.path(), "node1", CertRole::Node(1), &[]),
            Err(CertError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&leaf.cert).unwrap(), before);
    }

    #[test]
    fn bad_names_and_hosts_are_refused() {
        let ca = DevCa::new("CA").unwrap();
        for bad in ["", "../node1", "a/b", "a\\b", ".hidden", "-x", "ca", "CA", "node 1", "nöde", &"n".repeat(65)] {
            let err = ca.issue(bad, CertRole::Gateway, &[]).unwrap_err();
            assert!(matches!(err, CertError::BadName { .. }), "{bad:?}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let err = issue(dir.path(), dir.path(), "a/b", CertRole::Gateway, &[]).unwrap_err();
        assert!(err.to_string().contains("path separator"), "{err}");
        for bad in ["", "host:7001", "*.example", "a..b", "bad host", "-x"] {
            let err = ca.issue("node1", CertRole::Node(1), &hosts(&[bad])).unwrap_err();
            assert!(matches!(err, CertError::BadHost { .. }), "{bad:?}: {err}");
        }
        for bad in ["", "  ", "tab\tname", &"c".repeat(65)] {
            assert!(matches!(DevCa::new(bad), Err(CertError::BadName { .. })), "{bad:?}");
        }
        assert!(matches!(
            issue(dir.path(), dir.path(), "node1", CertRole::Node(1), &[]),
            Err(CertError::Io { action: "read", .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ca = init_ca(dir.path(), "CA").unwrap();
        let leaf = issue(dir.path(), dir.path(), "node1", CertRole::Node(1), &[]).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ca.key), 0o600);
        assert_eq!(mode(&leaf.key), 0o600);
        assert_eq!(mode(&leaf.cert) & 0o077 & !0o044, 0, "certificates are public, never writable by others");
    }
}
