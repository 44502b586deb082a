//! Service keys at rest: a node's account key and the signer's identity key
//! as Ethereum keystore v3 files (scrypt, the [`keystore`](crate::keystore)
//! boxctl uses), opened at start with a passphrase from a file descriptor,
//! an environment variable or the controlling terminal.
//!
//! ```text
//! box-node keygen --out account.json          → keystore v3 (passphrase asked twice on the terminal)
//! box-node keygen --from plain.json --out account.json   → the same key, encrypted
//! box-node run --config node.toml [--passphrase-fd 3]    → opens it (fd 3, BOX_KEY_PASSPHRASE, or a prompt)
//! box-node run --config node.toml --dev       → also accepts the plaintext form (development only)
//! ```
//!
//! [`load_key`] reads either form (mode 0600 required for both, see
//! [`keyfile`]). The plaintext `{"address", "secret"}` form is refused unless
//! [`Unlock::dev`] is set, with the command that converts it. The passphrase
//! is read, in this order, from [`Unlock::passphrase_fd`] (one line), from
//! [`ENV_PASSPHRASE`], or from a no-echo prompt on `/dev/tty`; with none of
//! them it refuses and says which to give. It is held in zeroizing buffers
//! and never printed.
//!
//! What this does not do: keep the key from whoever can read the running
//! process's memory, or the passphrase from whoever can read its
//! environment (`/proc/<pid>/environ`, readable by the same user and root):
//! prefer the file descriptor or the prompt in production.

use crate::keyfile::{self, KeyFileError};
use crate::keystore::{self, KeystoreError, ScryptCost};
use box_core::Address;
use box_core::crypto::SecretKey;
use serde::Deserialize;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// The environment variable a key's passphrase may come from.
pub const ENV_PASSPHRASE: &str = "BOX_KEY_PASSPHRASE";

/// The longest passphrase line read from a file descriptor.
const MAX_PASSPHRASE_BYTES: u64 = 1024;

/// How a service may open its key file. The default is production: only an
/// encrypted keystore, passphrase from the environment or a prompt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unlock {
    /// Development: the plaintext key form is accepted too.
    pub dev: bool,
    /// Read the passphrase from this open file descriptor (its first line).
    pub passphrase_fd: Option<u32>,
}

/// Why a service key could not be opened or written. Never carries the key or the passphrase.
#[derive(Debug, thiserror::Error)]
pub enum UnlockError {
    /// The file could not be read, or its plaintext form is broken.
    #[error(transparent)]
    File(#[from] KeyFileError),
    /// The keystore is malformed, or the passphrase does not open it.
    #[error("key file {path}: {source}", path = path.display())]
    Keystore {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        source: KeystoreError,
    },
    /// A plaintext key file outside development.
    #[error(
        "key file {path} is not encrypted; a plaintext key is accepted only with --dev. Encrypt it with \
         `{program} keygen --from {path} --out {path}.keystore`, point the configuration at the new file, \
         then delete the plaintext one",
        path = path.display()
    )]
    Plaintext {
        /// The key file.
        path: PathBuf,
        /// The program whose keygen converts it.
        program: &'static str,
    },
    /// No passphrase could be read.
    #[error("no passphrase for {path}: {reason}", path = path.display())]
    NoPassphrase {
        /// The key file.
        path: PathBuf,
        /// Why, and what to give instead.
        reason: String,
    },
    /// A new passphrase is refused.
    #[error("{0}")]
    WeakPassphrase(String),
}

/// Only whether the file is a keystore: the plaintext secret is skipped, not copied.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    version: Option<serde_json::Value>,
    #[serde(default, alias = "Crypto")]
    crypto: Option<serde::de::IgnoredAny>,
}

/// Opens a service key file of either form (see the module documentation).
/// `program` names the binary whose `keygen` converts a plaintext file.
pub fn load_key(path: &Path, unlock: &Unlock, program: &'static str) -> Result<SecretKey, UnlockError> {
    let text = keyfile::read_private(path)?;
    let probe: Option<Probe> = serde_json::from_str(&text).ok();
    let is_keystore = probe.is_some_and(|p| p.version.is_some() || p.crypto.is_some());
    if !is_keystore {
        if !unlock.dev {
            // The plaintext form's checks first, so a broken file says what is broken.
            keyfile::parse_plain(path, &text)?;
            return Err(UnlockError::Plaintext { path: path.to_path_buf(), program });
        }
        return Ok(keyfile::parse_plain(path, &text)?);
    }
    let keystore_err = |source| UnlockError::Keystore { path: path.to_path_buf(), source };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|_| keystore_err(KeystoreError::Malformed("not valid JSON".into())))?;
    // Refused before any passphrase is asked for.
    keystore::parse(&json).map_err(keystore_err)?;
    let passphrase = passphrase(path, unlock, &format!("Passphrase for {}: ", path.display()), false)?;
    keystore::decrypt(&json, &passphrase).map_err(keystore_err)
}

/// Reads a passphrase: the first line of `--passphrase-fd`, else
/// [`ENV_PASSPHRASE`], else a no-echo prompt on the controlling terminal
/// (asked twice when `confirm`).
pub fn passphrase(path: &Path, unlock: &Unlock, prompt: &str, confirm: bool) -> Result<Zeroizing<String>, UnlockError> {
    let none = |reason: String| UnlockError::NoPassphrase { path: path.to_path_buf(), reason };
    if let Some(fd) = unlock.passphrase_fd {
        // /proc/self/fd/N opens what descriptor N refers to (a pipe, a file) without unsafe code.
        let file = std::fs::File::open(format!("/proc/self/fd/{fd}"))
            .map_err(|e| none(format!("file descriptor {fd} is not open ({e})")))?;
        let mut line = Zeroizing::new(String::new());
        std::io::BufReader::new(std::io::Read::take(file, MAX_PASSPHRASE_BYTES))
            .read_line(&mut line)
            .map_err(|e| none(format!("cannot read file descriptor {fd} ({e})")))?;
        let trimmed = line.trim_end_matches(['\n', '\r']);
        if trimmed.is_empty() {
            return Err(none(format!("file descriptor {fd} gave an empty line")));
        }
        return Ok(Zeroizing::new(trimmed.to_owned()));
    }
    if let Some(v) = std::env::var_os(ENV_PASSPHRASE) {
        return v.into_string().map(Zeroizing::new).map_err(|_| none(format!("{ENV_PASSPHRASE} is not UTF-8")));
    }
    let no_terminal = |e: std::io::Error| {
        none(format!(
            "no terminal to ask on ({e}); give --passphrase-fd N (a descriptor holding the passphrase) or set {ENV_PASSPHRASE}"
        ))
    };
    let first = Zeroizing::new(rpassword::prompt_password(prompt).map_err(no_terminal)?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("The same passphrase again: ").map_err(no_terminal)?);
        if *again != *first {
            return Err(UnlockError::WeakPassphrase("the two passphrases differ; nothing was written".into()));
        }
    }
    Ok(first)
}

/// Refuses a passphrase for a new keystore that is weak (box-core's phrase
/// rules) or that changes under Unicode NFKC (wallets would read it differently).
pub fn check_new_passphrase(passphrase: &str) -> Result<(), UnlockError> {
    let normal: Zeroizing<String> = Zeroizing::new(passphrase.nfkc().collect());
    if *normal != passphrase {
        return Err(UnlockError::WeakPassphrase(
            "the passphrase changes under Unicode NFKC normalisation; choose one without full-width letters, ligatures and the like".into(),
        ));
    }
    box_core::keys::check_phrase_strength(passphrase)
        .map_err(|e| UnlockError::WeakPassphrase(e.to_string().replace("phrase", "passphrase")))
}

/// The command-line flags that say how a service key file is opened, one
/// definition for box-node, box-signer and boxctl's node commands (flatten
/// it into a clap command).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KeyArgs {
    /// Development only: accept (keygen: write) the plaintext key form.
    #[arg(long)]
    pub dev: bool,
    /// Read the key's passphrase from this open file descriptor (its first
    /// line) instead of BOX_KEY_PASSPHRASE or a prompt on the terminal.
    #[arg(long, value_name = "N")]
    pub passphrase_fd: Option<u32>,
}

impl KeyArgs {
    /// The [`Unlock`] these flags ask for.
    pub fn unlock(&self) -> Unlock {
        Unlock { dev: self.dev, passphrase_fd: self.passphrase_fd }
    }
}

/// `keygen`'s arguments (`--out`, `--from`, and [`KeyArgs`]), shared by
/// box-node and box-signer.
#[derive(Debug, Clone, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the key file; refused if it exists.
    #[arg(long)]
    pub out: PathBuf,
    /// Encrypt the key of this plaintext key file instead of making a new key.
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    /// --dev (write the plaintext form), --passphrase-fd.
    #[command(flatten)]
    pub key: KeyArgs,
}

impl KeygenArgs {
    /// Runs [`keygen`] as the flags say; returns the new key's address.
    pub fn run(&self) -> Result<Address, UnlockError> {
        let form = if self.key.dev { KeyForm::Plaintext } else { KeyForm::Encrypted };
        keygen(&self.out, self.from.as_deref(), form, &self.key.unlock())
    }
}

/// What `keygen` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyForm {
    /// Keystore v3 under a passphrase (production).
    Encrypted,
    /// The plaintext `{"address", "secret"}` form (development only).
    Plaintext,
}

/// `keygen` for box-node and box-signer: writes a new key file at `out`
/// (mode 0600, never overwriting) in `form` and returns its address. The key
/// is `from`'s (a plaintext key file being encrypted) or a fresh random one.
/// An encrypted file uses geth's standard scrypt cost; its passphrase comes
/// from [`passphrase`] (asked twice on a terminal) and must pass
/// [`check_new_passphrase`].
pub fn keygen(out: &Path, from: Option<&Path>, form: KeyForm, unlock: &Unlock) -> Result<Address, UnlockError> {
    let key = match from {
        Some(p) => keyfile::load(p)?,
        None => keystore::random_key().map_err(|source| UnlockError::Keystore { path: out.to_path_buf(), source })?,
    };
    if out.exists() {
        return Err(KeyFileError::Exists { path: out.to_path_buf() }.into());
    }
    match form {
        KeyForm::Plaintext => keyfile::generate(out, *key.expose_bytes()).map_err(UnlockError::from),
        KeyForm::Encrypted => {
            let prompt = format!("Passphrase for the new key file {}: ", out.display());
            let passphrase = passphrase(out, unlock, &prompt, true)?;
            check_new_passphrase(&passphrase)?;
            let json = keystore::encrypt(&key, &passphrase, ScryptCost::STANDARD)
                .map_err(|source| UnlockError::Keystore { path: out.to_path_buf(), source })?;
            let text = serde_json::to_vec_pretty(&json).map_err(|e| {
                UnlockError::File(KeyFileError::Malformed { path: out.to_path_buf(), reason: e.to_string() })
            })?;
            keyfile::write_new(out, &text)?;
            Ok(key.address())
        }
    }
}

/// Writes `text` to the controlling terminal only: for a secret an operator
/// must see (never a log, a pipe or a file). Returns false when there is no
/// controlling terminal.
pub fn to_terminal(text: &str) -> bool {
    let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") else {
        return false;
    };
    tty.write_all(text.as_bytes()).and_then(|()| tty.flush()).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    const PASS: &str = "slate harbours glow at noon";

    /// A descriptor holding `text`, as `--passphrase-fd` would get it.
    fn fd_with(dir: &Path, text: &str) -> std::fs::File {
        let p = dir.join(format!("pass-{}", text.len()));
        std::fs::write(&p, text).unwrap();
        std::fs::File::open(p).unwrap()
    }

    #[test]
    fn plaintext_only_with_dev_and_a_keystore_only_with_its_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::from_bytes(&[7u8; 32]).unwrap();
        let secret_hex = hex::encode(key.expose_bytes());
        let plain = dir.path().join("plain.json");
        keyfile::generate(&plain, *key.expose_bytes()).unwrap();
        let err = load_key(&plain, &Unlock::default(), "box-node").unwrap_err();
        assert!(matches!(err, UnlockError::Plaintext { .. }), "{err}");
        assert!(err.to_string().contains("box-node keygen --from"), "{err}");
        let dev = Unlock { dev: true, passphrase_fd: None };
        assert_eq!(load_key(&plain, &dev, "box-node").unwrap().address(), key.address());

        let sealed = dir.path().join("sealed.json");
        let json = keystore::encrypt(&key, PASS, ScryptCost::LIGHT).unwrap();
        keyfile::write_new(&sealed, json.to_string().as_bytes()).unwrap();
        let right = fd_with(dir.path(), &format!("{PASS}\n"));
        let unlock = Unlock { dev: false, passphrase_fd: Some(right.as_raw_fd().try_into().unwrap()) };
        assert_eq!(load_key(&sealed, &unlock, "box-node").unwrap().address(), key.address());

        let wrong = fd_with(dir.path(), "not the passphrase\n");
        let unlock = Unlock { dev: false, passphrase_fd: Some(wrong.as_raw_fd().try_into().unwrap()) };
        let err = load_key(&sealed, &unlock, "box-node").unwrap_err();
        assert!(err.to_string().contains("wrong password"), "{err}");
        let closed = Unlock { dev: false, passphrase_fd: Some(999) };
        let none = load_key(&sealed, &closed, "box-node").unwrap_err();
        assert!(none.to_string().contains("file descriptor 999 is not open"), "{none}");
        for e in [err, none] {
            let shown = format!("{e} {e:?} {unlock:?}");
            assert!(!shown.contains(PASS) && !shown.contains("not the passphrase"), "{shown}");
            assert!(!shown.contains(&secret_hex), "{shown}");
        }
    }

    #[test]
    fn a_new_passphrase_is_checked() {
        assert!(check_new_passphrase("short").is_err());
        assert!(check_new_passphrase("ＦＵＬＬ width letters here ok").is_err());
        check_new_passphrase(PASS).unwrap();
    }
}
