//! The profile: which deployment boxctl talks to and as whom.
//!
//! A TOML file (see the crate README for the format) naming the gateway, the
//! CA that signs its certificate, the deployment's genesis (which pins the
//! EIP-712 domain, the key holders and the signer's identity, so a gateway
//! cannot show boxctl another deployment), and named identities, each a
//! keystore v3 file. Relative paths are relative to the profile's directory.

use crate::error::{CliError, CliResult};
use crate::keystore;
use box_core::crypto::SecretKey;
use box_core::typed::Genesis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Environment variable naming the profile file.
pub const ENV_PROFILE: &str = "BOX_PROFILE";
/// Environment variable naming the identity.
pub const ENV_AS: &str = "BOX_AS";
/// Environment variable holding the keystore password (automation).
pub const ENV_PASSWORD: &str = "BOX_PASSWORD";

/// A profile file as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// The gateway's base URL, `https://host:port`.
    pub gateway: String,
    /// PEM file of the CA that signs the gateway's certificate.
    pub ca: PathBuf,
    /// The deployment's genesis JSON.
    pub genesis: PathBuf,
    /// The identity used when neither `--as` nor `--key` is given (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_identity: Option<String>,
    /// Named identities.
    #[serde(default)]
    pub identities: BTreeMap<String, IdentityFile>,
}

/// One identity: a keystore and, for development deployments only, a password file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFile {
    /// Keystore v3 JSON file.
    pub keystore: PathBuf,
    /// A file holding the keystore's password (development deployments only;
    /// otherwise `BOX_PASSWORD` or a no-echo prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl IdentityFile {
    /// This entry as it must be written into the profile file `profile`:
    /// its paths relative to the profile's directory (see `box_ops::paths`).
    pub fn written_for(&self, profile: &Path) -> CliResult<Self> {
        let form = |p: &Path| {
            box_ops::paths::written_form(profile, p)
                .map_err(|e| CliError::failed(format!("cannot place {} in {}: {e}", p.display(), profile.display())))
        };
        Ok(Self {
            keystore: form(&self.keystore)?,
            password_file: self.password_file.as_deref().map(form).transpose()?,
        })
    }
}

/// A loaded profile: paths resolved, CA and genesis read.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The file's contents, paths made absolute.
    pub file: ProfileFile,
    /// The CA PEM.
    pub ca_pem: String,
    /// The genesis.
    pub genesis: Genesis,
}

/// How to pick the identity to act as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityChoice {
    /// `--as NAME`.
    pub name: Option<String>,
    /// `--key FILE`: a keystore outside the profile.
    pub keystore: Option<PathBuf>,
}

/// The default profile path: `$XDG_CONFIG_HOME/box/profile.toml` or `~/.config/box/profile.toml`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("box/profile.toml"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config/box/profile.toml"))
}

/// Reads a genesis JSON file.
pub fn read_genesis(path: &Path) -> CliResult<Genesis> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::io("read the genesis", path, &e))?;
    serde_json::from_str(&text).map_err(|e| CliError::usage(format!("{} is not a BOX genesis: {e}", path.display())))
}

impl Profile {
    /// Loads the profile at `path`.
    pub fn load(path: &Path) -> CliResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!(
                "cannot read the profile {}: {e} (name one with --profile FILE or {ENV_PROFILE}; the format is in boxctl's README)",
                path.display()
            ))
        })?;
        let file: ProfileFile = toml::from_str(&text)
            .map_err(|e| CliError::usage(format!("profile {} is malformed: {e}", path.display())))?;
        Self::from_file(file, path)
    }

    /// A profile from its contents, as if read from `path` (relative paths
    /// resolve against its directory).
    pub fn from_file(mut file: ProfileFile, path: &Path) -> CliResult<Self> {
        if !file.gateway.starts_with("https://") {
            return Err(CliError::usage(format!(
                "profile {}: gateway {:?} must be an https:// URL",
                path.display(),
                file.gateway
            )));
        }
        let base = box_ops::paths::base_of(path);
        let resolve = box_ops::paths::resolve;
        file.ca = resolve(base, &file.ca);
        file.genesis = resolve(base, &file.genesis);
        for id in file.identities.values_mut() {
            id.keystore = resolve(base, &id.keystore);
            id.password_file = id.password_file.as_ref().map(|p| resolve(base, p));
        }
        if let Some(d) = &file.default_identity
            && !file.identities.contains_key(d)
        {
            return Err(CliError::usage(format!(
                "profile {}: default_identity {d:?} is not among [identities]",
                path.display()
            )));
        }
        let ca_pem = std::fs::read_to_string(&file.ca)
            .map_err(|e| CliError::io("read the gateway's CA certificate", &file.ca, &e))?;
        let genesis = read_genesis(&file.genesis)?;
        Ok(Self { path: path.to_owned(), file, ca_pem, genesis })
    }

    /// A profile held in memory only (no file, no identities): for programs
    /// that have the deployment at hand, like `boxctl demo`, to build
    /// [`crate::Session`]s with keys of their own.
    pub fn in_memory(gateway: &str, ca_pem: &str, genesis: Genesis) -> Self {
        Self {
            path: PathBuf::new(),
            file: ProfileFile {
                gateway: gateway.to_owned(),
                ca: PathBuf::new(),
                genesis: PathBuf::new(),
                default_identity: None,
                identities: BTreeMap::new(),
            },
            ca_pem: ca_pem.to_owned(),
            genesis,
        }
    }

    /// Loads the profile named by `explicit`, else `BOX_PROFILE` (clap fills it in), else the default path.
    pub fn locate(explicit: Option<&Path>) -> CliResult<Self> {
        match explicit {
            Some(p) => Self::load(p),
            None => {
                let p = default_path().ok_or_else(|| {
                    CliError::usage(format!("no profile: name one with --profile FILE or {ENV_PROFILE}"))
                })?;
                Self::load(&p)
            }
        }
    }

    /// The identity `choice` selects: `--key`, else `--as`, else the
    /// default identity, else the only one.
    pub fn identity(&self, choice: &IdentityChoice) -> CliResult<(String, IdentityFile)> {
        if let Some(k) = &choice.keystore {
            return Ok((k.display().to_string(), IdentityFile { keystore: k.clone(), password_file: None }));
        }
        let name = match (&choice.name, &self.file.default_identity) {
            (Some(n), _) => n.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) if self.file.identities.len() == 1 => {
                self.file.identities.keys().next().cloned().unwrap_or_default()
            }
            (None, None) => {
                return Err(CliError::usage(format!(
                    "which identity? name one with --as NAME ({}) or --key FILE",
                    self.names()
                )));
            }
        };
        let id = self.file.identities.get(&name).cloned().ok_or_else(|| {
            CliError::usage(format!("profile {} has no identity {name:?} ({})", self.path.display(), self.names()))
        })?;
        Ok((name, id))
    }

    fn names(&self) -> String {
        if self.file.identities.is_empty() {
            "the profile has none".into()
        } else {
            format!("the profile has {}", self.file.identities.keys().cloned().collect::<Vec<_>>().join(", "))
        }
    }
}

impl ProfileFile {
    /// Writes the profile as TOML (paths as they are in `self`), never replacing a file.
    pub fn save(&self, path: &Path) -> CliResult<()> {
        let text = toml::to_string(self).map_err(|e| CliError::failed(format!("profile: {e}")))?;
        crate::files::write_private(path, text.as_bytes())
    }
}

/// For development deployments only: writes `key` as `DIR/NAME.json`, a
/// keystore v3 under a fresh random password kept beside it in
/// `DIR/NAME.password` (both mode 0600), and returns the profile entry.
/// A real deployment keeps passwords out of files (`BOX_PASSWORD` or the prompt).
pub fn write_dev_identity(dir: &Path, name: &str, key: &SecretKey) -> CliResult<IdentityFile> {
    crate::files::private_dir(dir)?;
    let failed = |e: keystore::KeystoreError| CliError::failed(e.to_string());
    let password = keystore::random_password().map_err(failed)?;
    let json = keystore::encrypt(key, &password, keystore::ScryptCost::LIGHT).map_err(failed)?;
    let keystore = dir.join(format!("{name}.json"));
    let password_file = dir.join(format!("{name}.password"));
    let text = serde_json::to_vec_pretty(&json).map_err(|e| CliError::failed(e.to_string()))?;
    crate::files::write_private(&keystore, &text)?;
    crate::files::write_private(&password_file, password.as_bytes())?;
    Ok(IdentityFile { keystore, password_file: Some(password_file) })
}

/// Reads a keystore file as JSON.
pub fn read_keystore(path: &Path) -> CliResult<serde_json::Value> {
    keystore::read_file(path).map_err(CliError::usage)
}

/// The password of an identity: its password file, else `BOX_PASSWORD`,
/// else a no-echo prompt when there is a terminal.
pub fn password(label: &str, id: &IdentityFile) -> CliResult<Zeroizing<String>> {
    if let Some(f) = &id.password_file {
        let text =
            Zeroizing::new(std::fs::read_to_string(f).map_err(|e| CliError::io("read the password file", f, &e))?);
        return Ok(Zeroizing::new(text.trim_end_matches(['\n', '\r']).to_owned()));
    }
    if let Some(p) = std::env::var_os(ENV_PASSWORD) {
        return p
            .into_string()
            .map(Zeroizing::new)
            .map_err(|_| CliError::usage(format!("{ENV_PASSWORD} is not UTF-8")));
    }
    crate::ui::prompt_secret(&format!("Password for {label}: "))
}

/// Decrypts the identity `choice` selects.
pub fn unlock(profile: &Profile, choice: &IdentityChoice) -> CliResult<SecretKey> {
    let (label, id) = profile.identity(choice)?;
    let json = read_keystore(&id.keystore)?;
    let pw = password(&label, &id)?;
    keystore::decrypt(&json, &pw).map_err(|e| match e {
        keystore::KeystoreError::WrongPassword => {
            CliError::usage(format!("wrong password for identity {label} ({})", id.keystore.display()))
        }
        other => CliError::usage(format!("identity {label} ({}): {other}", id.keystore.display())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a CA file and a genesis into `dir`; returns the genesis.
    fn deployment_files(dir: &Path) -> Genesis {
        std::fs::write(dir.join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
        let g = Genesis {
            deploymentId: box_core::B256::repeat_byte(1),
            chainId: 31337,
            keyHolders: vec![],
            nodes: vec![],
            signer: box_core::Address::ZERO,
            assets: vec![],
            time: 1,
        };
        std::fs::write(dir.join("genesis.json"), serde_json::to_string(&g).unwrap()).unwrap();
        g
    }

    const EXAMPLE: &str = r#"
gateway = "https://127.0.0.1:8443"
ca = "ca.pem"
genesis = "genesis.json"
default_identity = "admin"

[identities.admin]
keystore = "keys/admin.json"
password_file = "keys/admin.password"

[identities.key-holder-1]
keystore = "/abs/kh1.json"
"#;

    #[test]
    fn the_readme_example_parses_and_paths_resolve_against_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("profile.toml"), EXAMPLE).unwrap();
        let g = deployment_files(dir.path());
        let p = Profile::load(&dir.path().join("profile.toml")).unwrap();
        assert_eq!(p.genesis, g);
        let (name, admin) = p.identity(&IdentityChoice::default()).unwrap();
        assert_eq!(name, "admin");
        assert_eq!(admin.keystore, dir.path().join("keys/admin.json"));
        assert_eq!(admin.password_file, Some(dir.path().join("keys/admin.password")));
        let (_, kh) = p.identity(&IdentityChoice { name: Some("key-holder-1".into()), keystore: None }).unwrap();
        assert_eq!(kh.keystore, PathBuf::from("/abs/kh1.json"));
        let e = p.identity(&IdentityChoice { name: Some("nobody".into()), keystore: None }).unwrap_err();
        assert!(e.to_string().contains("admin, key-holder-1"), "{e}");
    }

    #[test]
    fn bad_profiles_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "gateway = \"http://x\"\nca = \"a\"\ngenesis = \"g\"\n").unwrap();
        assert!(Profile::load(&path).unwrap_err().to_string().contains("must be an https:// URL"));
        std::fs::write(&path, "gateway = \"https://x\"\nca = \"a\"\ngenesis = \"g\"\ncolour = 1\n").unwrap();
        assert!(Profile::load(&path).unwrap_err().to_string().contains("unknown field"));
        let missing = Profile::load(&dir.path().join("none.toml")).unwrap_err();
        assert_eq!(missing.exit_code(), 2);
    }

    #[test]
    fn a_saved_dev_profile_loads_and_unlocks_its_identities() {
        let dir = tempfile::tempdir().unwrap();
        deployment_files(dir.path());
        let key = SecretKey::from_label_unchecked("dev admin");
        let mut id = write_dev_identity(&dir.path().join("keys"), "admin", &key).unwrap();
        // Relative paths in the file, as `dev up` would write them.
        id.keystore = PathBuf::from("keys/admin.json");
        id.password_file = Some(PathBuf::from("keys/admin.password"));
        let file = ProfileFile {
            gateway: "https://127.0.0.1:8443".into(),
            ca: "ca.pem".into(),
            genesis: "genesis.json".into(),
            default_identity: Some("admin".into()),
            identities: [("admin".to_owned(), id)].into_iter().collect(),
        };
        let path = dir.path().join("profile.toml");
        file.save(&path).unwrap();
        let p = Profile::load(&path).unwrap();
        assert_eq!(unlock(&p, &IdentityChoice::default()).unwrap().address(), key.address());
        assert!(file.save(&path).is_err(), "never replaced");
    }
}
