//! `boxctl key new|inspect`: a person's own key as a keystore v3 file, made
//! and read offline (no profile, no gateway).
//!
//! `key new` is how a key holder, an admin or an approver makes the key they
//! sign with: the file goes into their profile as an identity, the printed
//! address into the genesis (key holders) or the admin's register. `key
//! inspect` opens any keystore v3 file (geth, ethers, web3.py, MyEtherWallet)
//! with its password and prints whose key it is, so a person can check a file
//! before a ceremony. Both read the password from `BOX_PASSWORD` or a no-echo
//! prompt; neither prints or writes the password or the key.

use crate::error::{CliError, CliResult};
use crate::keystore::{self, Kdf, PasswordForm, ScryptCost};
use crate::profile::ENV_PASSWORD;
use crate::ui::Ui;
use box_core::Address;
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum Key {
    /// Make a new key as a keystore v3 file (mode 0600, never overwritten) and print its address.
    ///
    /// The password is asked twice without echo, or read from BOX_PASSWORD. It
    /// must be at least 16 characters and survive Unicode NFKC normalisation
    /// unchanged (so every wallet reads it the same way). The file uses geth's
    /// standard scrypt parameters and opens in geth, ethers and MyEtherWallet.
    New {
        /// Where to write the keystore.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Open a keystore v3 file offline with its password (BOX_PASSWORD or a prompt) and print its address.
    ///
    /// Reads what geth, ethers, web3.py and MyEtherWallet write. Refuses, with
    /// the reason, files whose parameters would take over 256 MiB of memory or
    /// an unreasonable time to open.
    Inspect {
        /// The keystore file.
        file: PathBuf,
    },
}

/// What `key new` made.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    /// The key's address.
    pub address: Address,
    /// The keystore file.
    pub keystore: PathBuf,
}

/// What `key inspect` found.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Inspected {
    /// The key's address (from the decrypted key).
    pub address: Address,
    /// The key-derivation function and its parameters.
    pub kdf: Kdf,
    /// Whether the file states its address (it then matches: a mismatch is refused).
    pub states_address: bool,
    /// Which form of the password opened it: as typed, or its NFKC normalisation.
    pub password_form: PasswordForm,
}

/// Checks a password for a new keystore: strong enough, and the same under NFKC.
pub fn check_new_password(password: &str) -> CliResult<()> {
    let normal: Zeroizing<String> = Zeroizing::new(password.nfkc().collect());
    if *normal != password {
        return Err(CliError::usage(
            "the password changes under Unicode NFKC normalisation (full-width letters, ligatures and the like), \
             so wallets would read it differently; choose one without such characters",
        ));
    }
    box_core::keys::check_phrase_strength(password)
        .map_err(|e| CliError::usage(e.to_string().replace("phrase", "password")))
}

fn password(prompt: &str, confirm: bool) -> CliResult<Zeroizing<String>> {
    if let Some(p) = std::env::var_os(ENV_PASSWORD) {
        return p
            .into_string()
            .map(Zeroizing::new)
            .map_err(|_| CliError::usage(format!("{ENV_PASSWORD} is not UTF-8")));
    }
    let first = crate::ui::prompt_secret(prompt)?;
    if confirm {
        let again = crate::ui::prompt_secret("The same password again: ")?;
        if *again != *first {
            return Err(CliError::usage("the two passwords differ; nothing was written"));
        }
    }
    Ok(first)
}

/// Makes a key, encrypts it under `password` with geth's standard scrypt
/// parameters and writes it to `out` (new file, mode 0600).
pub fn new_key(out: &Path, password: &str) -> CliResult<NewKey> {
    check_new_password(password)?;
    if out.exists() {
        return Err(CliError::usage(format!("{} already exists; refusing to overwrite it", out.display())));
    }
    let failed = |e: keystore::KeystoreError| CliError::failed(e.to_string());
    let key = keystore::random_key().map_err(failed)?;
    let json = keystore::encrypt(&key, password, ScryptCost::STANDARD).map_err(failed)?;
    let text = serde_json::to_vec_pretty(&json).map_err(|e| CliError::failed(e.to_string()))?;
    crate::files::write_private(out, &text)?;
    Ok(NewKey { address: key.address(), keystore: out.to_path_buf() })
}

/// Opens the keystore `file` with `password`.
pub fn inspect(file: &Path, password: &str) -> CliResult<Inspected> {
    let json = keystore::read_file(file).map_err(CliError::usage)?;
    let opened = keystore::open(&json, password).map_err(|e| match e {
        keystore::KeystoreError::WrongPassword => CliError::usage(format!(
            "wrong password for {} (tried as typed and in its NFKC form), or the file was altered",
            file.display()
        )),
        other => CliError::usage(format!("{}: {other}", file.display())),
    })?;
    Ok(Inspected {
        address: opened.key.address(),
        kdf: opened.kdf,
        states_address: keystore::stated_address(&json).is_some(),
        password_form: opened.password_form,
    })
}

/// Runs a `key` command.
pub fn run(ui: &Ui, k: Key) -> CliResult<()> {
    match k {
        Key::New { out } => {
            let pw = password("Password for the new key: ", true)?;
            let spin = ui.spinner("making the key and encrypting it (scrypt, 256 MiB)");
            let made = new_key(&out, &pw)?;
            drop(spin);
            ui.emit(&made, || {
                ui.done(&format!("a new key for {} is in {} (mode 0600)", made.address, made.keystore.display()));
                ui.line("Keep the password apart from the file. Give the address (not the file) to whoever");
                ui.line("registers you: the genesis for a key holder, the admin for everyone else.");
            })
        }
        Key::Inspect { file } => {
            let pw = password(&format!("Password for {}: ", file.display()), false)?;
            let spin = ui.spinner("opening the keystore");
            let found = inspect(&file, &pw)?;
            drop(spin);
            ui.emit(&found, || {
                ui.done(&format!("{} opens: the key of {}", file.display(), found.address));
                ui.line(&format!("key derivation: {}", found.kdf));
                if !found.states_address {
                    ui.line("the file does not state its address (the address above is the decrypted key's)");
                }
                if found.password_form == PasswordForm::Nfkc {
                    ui.line("it opened with the NFKC form of the password (as ethers writes files)");
                }
            })
        }
    }
}
