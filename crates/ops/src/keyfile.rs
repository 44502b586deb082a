//! Node account key files.
//!
//! A node's companion votes with its own secp256k1 account key (DESIGN §3).
//! The key lives in a small JSON file next to the node's config:
//!
//! ```json
//! {
//!   "address": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
//!   "secret": "0x…64 hex digits…"
//! }
//! ```
//!
//! The address is redundant on purpose: it lets an operator see whose key a
//! file is without tools, and lets [`load`] detect a corrupt or edited file.
//! Files are created with mode 0600 and never overwritten; [`load`] refuses a
//! file that group or others can read. The secret is held in zeroizing
//! buffers while read and written, and no error message ever contains it.
//!
//! What this does not do: encrypt the file (its protection is the file mode
//! and the machine), or make randomness ([`generate`] takes the 32 bytes from
//! the caller, who draws them from the operating system).

use box_core::Address;
use box_core::address::{checksummed, parse_address};
use box_core::crypto::SecretKey;
use serde::Deserialize;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// A key file larger than this is not one of ours (the real size is ~130 bytes).
const MAX_FILE_LEN: u64 = 4096;

/// Why a key file was not written or not loaded. No variant carries or
/// prints the secret.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// [`generate`] found a file at the path; it was left untouched.
    #[error(
        "key file {path} already exists; refusing to overwrite a key (move it away first if you really mean to replace it)"
    )]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("could not {action} key file {path}: {source}")]
    Io {
        /// What was being done ("create", "write", "open", "read").
        action: &'static str,
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's permissions let group or others read or write it.
    #[error(
        "key file {path} is accessible by group or others (mode {mode:04o}); only the node's user may read it: run `chmod 600 {path}`",
        path = path.display()
    )]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is not a key file of the expected form.
    #[error("key file {path} is malformed: {reason}", path = path.display())]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never quotes the file's contents).
        reason: String,
    },
    /// The secret is well-formed hex but not a valid secp256k1 key.
    #[error(
        "key file {path} is corrupt: its secret is not a valid secp256k1 key (zero or not below the curve order)",
        path = path.display()
    )]
    InvalidSecret {
        /// The key file.
        path: PathBuf,
    },
    /// The stored address is not the secret's address.
    #[error(
        "key file {path} is corrupt or was edited: it claims address {stored} but its secret belongs to {derived}",
        path = path.display(),
        stored = checksummed(stored),
        derived = checksummed(derived)
    )]
    AddressMismatch {
        /// The key file.
        path: PathBuf,
        /// The address written in the file.
        stored: Address,
        /// The address of the secret in the file.
        derived: Address,
    },
    /// The 32 bytes given to [`generate`] are not a valid key (probability
    /// about 2^-128 for random bytes; a zero buffer means the randomness
    /// source failed).
    #[error(
        "the 32 random bytes are not a valid secp256k1 key (zero or not below the curve order); draw new random bytes"
    )]
    UnusableEntropy,
}

/// The file as stored. Fields borrow from the zeroizing input buffer, so the
/// secret is never copied into an ordinary `String`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored<'a> {
    #[serde(borrow)]
    address: &'a str,
    #[serde(borrow)]
    secret: &'a str,
}

/// Makes a key from `entropy` and writes it to a new file at `path` (mode
/// 0600 on unix), returning its address. Never overwrites: an existing file
/// is [`KeyFileError::Exists`]. Does not create missing parent directories.
///
/// `entropy` must be 32 bytes from the operating system's randomness source;
/// this function does not judge their quality.
pub fn generate(path: &Path, entropy: [u8; 32]) -> Result<Address, KeyFileError> {
    let entropy = Zeroizing::new(entropy);
    let key = SecretKey::from_bytes(&entropy).map_err(|_| KeyFileError::UnusableEntropy)?;
    // Capacity for the whole text up front, so the buffer never reallocates
    // and leaves a stray copy of the secret behind.
    let mut text = Zeroizing::new(String::with_capacity(256));
    let address = checksummed(&key.address());
    text.push_str("{\n  \"address\": \"");
    text.push_str(&address);
    text.push_str("\",\n  \"secret\": \"0x");
    for b in key.expose_bytes() {
        // Writing to a String cannot fail.
        let _ = write!(text, "{b:02x}");
    }
    text.push_str("\"\n}\n");
    write_new(path, text.as_bytes())?;
    Ok(key.address())
}

/// Reads a key file: refuses it (on unix) if group or others have any access,
/// checks its form, that the secret is a valid key and that the stored
/// address is the secret's. Returns the key; its `Debug` shows the address only.
pub fn load(path: &Path) -> Result<SecretKey, KeyFileError> {
    let text = read_private(path)?;
    parse_plain(path, &text)
}

/// Reads a key file's text (plaintext or keystore) into a zeroizing buffer:
/// refuses it (on unix) if group or others have any access, if it is not a
/// regular file, or if it is larger than any key file.
pub(crate) fn read_private(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let io = |action| move |source| KeyFileError::Io { action, path: path.to_path_buf(), source };
    let malformed = |reason: &str| KeyFileError::Malformed { path: path.to_path_buf(), reason: reason.to_owned() };
    let mut file = std::fs::File::open(path).map_err(io("open"))?;
    let meta = file.metadata().map_err(io("read"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen { path: path.to_path_buf(), mode });
        }
    }
    if !meta.is_file() {
        return Err(malformed("it is not a regular file"));
    }
    if meta.len() > MAX_FILE_LEN {
        return Err(malformed("it is too large to be a key file"));
    }
    // The +1 lets read_to_string see end of file without growing the buffer.
    let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
    let mut text = Zeroizing::new(String::with_capacity(capacity));
    (&mut file).take(MAX_FILE_LEN + 1).read_to_string(&mut text).map_err(io("read"))?;
    Ok(text)
}

/// The plaintext form's checks: its shape, a valid secret, and the stated address the secret's.
pub(crate) fn parse_plain(path: &Path, text: &str) -> Result<SecretKey, KeyFileError> {
    let malformed = |reason: &str| KeyFileError::Malformed { path: path.to_path_buf(), reason: reason.to_owned() };
    // serde_json's messages may quote the input; report only where it failed.
    let stored: Stored<'_> = serde_json::from_str(text).map_err(|e| {
        let reason = match e.classify() {
            serde_json::error::Category::Data => {
                "expected a JSON object with exactly the string fields \"address\" and \"secret\"".to_owned()
            }
            _ => format!("not valid JSON (line {}, column {})", e.line(), e.column()),
        };
        KeyFileError::Malformed { path: path.to_path_buf(), reason }
    })?;
    let stored_address = parse_address(stored.address)
        .map_err(|_| malformed("\"address\" is not an Ethereum address with a valid checksum"))?;
    let bytes =
        decode_secret(stored.secret).ok_or_else(|| malformed("\"secret\" is not 0x followed by 64 hex digits"))?;
    let key = SecretKey::from_bytes(&bytes).map_err(|_| KeyFileError::InvalidSecret { path: path.to_path_buf() })?;
    if key.address() != stored_address {
        return Err(KeyFileError::AddressMismatch {
            path: path.to_path_buf(),
            stored: stored_address,
            derived: key.address(),
        });
    }
    Ok(key)
}

/// `0x` and 64 hex digits (either case) into 32 bytes.
fn decode_secret(s: &str) -> Option<Zeroizing<[u8; 32]>> {
    let hex = s.strip_prefix("0x")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = Zeroizing::new([0u8; 32]);
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| char::from(c).to_digit(16);
        let (hi, lo) = (digit(pair[0])?, digit(pair[1])?);
        // Both digits are below 16, so the value fits a byte.
        *byte = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Creates `path` (never overwriting), mode 0600 on unix, writes and syncs;
/// removes the file again if writing fails.
pub(crate) fn write_new(path: &Path, contents: &[u8]) -> Result<(), KeyFileError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists { path: path.to_path_buf() }
        } else {
            KeyFileError::Io { action: "create", path: path.to_path_buf(), source }
        }
    })?;
    if let Err(source) = file.write_all(contents).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(KeyFileError::Io { action: "write", path: path.to_path_buf(), source });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const ENTROPY: [u8; 32] = [7u8; 32];

    fn secret_hex() -> String {
        SecretKey::from_bytes(&ENTROPY).unwrap().expose_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Writes `text` as a 0600 key file.
    fn write_key_file(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[test]
    fn generate_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node1.key.json");
        let address = generate(&path, ENTROPY).unwrap();
        let key = load(&path).unwrap();
        assert_eq!(key.address(), address);
        assert_eq!(key.expose_bytes(), &ENTROPY);
        let text = std::fs::read_to_string(&path).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["address"], checksummed(&address));
        assert_eq!(json["secret"], format!("0x{}", secret_hex()));
        assert!(!format!("{key:?}").contains(&secret_hex()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // Upper-case hex and a lower-case address are read too.
        let path2 = dir.path().join("upper.json");
        let upper = text
            .replace(&secret_hex(), &secret_hex().to_uppercase())
            .replace(&checksummed(&address), &checksummed(&address).to_lowercase());
        write_key_file(&path2, &upper);
        assert_eq!(load(&path2).unwrap().address(), address);
    }

    #[test]
    fn never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        generate(&path, ENTROPY).unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = generate(&path, [9u8; 32]).unwrap_err();
        assert!(matches!(err, KeyFileError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(matches!(generate(&dir.path().join("no/such/dir.json"), ENTROPY), Err(KeyFileError::Io { .. })));
        assert!(matches!(generate(&dir.path().join("zero.json"), [0u8; 32]), Err(KeyFileError::UnusableEntropy)));
        assert!(!dir.path().join("zero.json").exists());
    }

    #[test]
    fn tampered_address_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let address = generate(&path, ENTROPY).unwrap();
        let other = SecretKey::from_bytes(&[8u8; 32]).unwrap().address();
        let text = std::fs::read_to_string(&path).unwrap().replace(&checksummed(&address), &checksummed(&other));
        let edited = dir.path().join("edited.json");
        write_key_file(&edited, &text);
        let err = load(&edited).unwrap_err();
        assert!(matches!(err, KeyFileError::AddressMismatch { .. }));
        assert!(err.to_string().contains("corrupt or was edited"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        generate(&path, ENTROPY).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = load(&path).unwrap_err();
            assert!(matches!(err, KeyFileError::TooOpen { .. }), "{mode:o}: {err}");
            assert!(err.to_string().contains(&format!("chmod 600 {}", path.display())), "{err}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        load(&path).unwrap();
    }

    #[test]
    fn malformed_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let address = generate(&path, ENTROPY).unwrap();
        let good = std::fs::read_to_string(&path).unwrap();
        let hex = secret_hex();
        let cases = [
            ("not json", "{ \"address\": ".to_owned()),
            ("array", "[1, 2]".to_owned()),
            ("extra field", good.replace("\n}", ",\n  \"note\": \"x\"\n}")),
            ("no 0x", good.replace(&format!("0x{hex}"), &hex)),
            ("short", good.replace(&hex, &hex[..62])),
            ("not hex", good.replace(&hex[..2], "zz")),
            ("bad address", good.replace(&checksummed(&address), "0x1234")),
            ("escaped secret", good.replace(&format!("0x{hex}"), &format!("\\u0030x{hex}"))),
        ];
        for (i, (what, text)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("bad{i}.json"));
            write_key_file(&p, text);
            let err = load(&p).unwrap_err();
            assert!(matches!(err, KeyFileError::Malformed { .. }), "{what}: {err}");
        }
        let zero = good.replace(&hex, &"0".repeat(64));
        let p = dir.path().join("zero.json");
        write_key_file(&p, &zero);
        assert!(matches!(load(&p), Err(KeyFileError::InvalidSecret { .. })));
        assert!(matches!(load(&dir.path().join("missing.json")), Err(KeyFileError::Io { action: "open", .. })));
    }

    #[test]
    fn no_error_message_contains_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let address = generate(&path, ENTROPY).unwrap();
        let good = std::fs::read_to_string(&path).unwrap();
        let hex = secret_hex();
        let mut errors = vec![generate(&path, ENTROPY).unwrap_err(), generate(&path, [0; 32]).unwrap_err()];
        let mut load_text = |name: &str, text: String| {
            let p = dir.path().join(name);
            write_key_file(&p, &text);
            errors.push(load(&p).unwrap_err());
        };
        let other = SecretKey::from_bytes(&[8u8; 32]).unwrap().address();
        load_text("mismatch.json", good.replace(&checksummed(&address), &checksummed(&other)));
        load_text("escaped.json", good.replace(&format!("0x{hex}"), &format!("\\u0030x{hex}")));
        load_text("number.json", good.replace(&format!("\"0x{hex}\""), &format!("{}", u128::MAX)));
        load_text("secret-as-address.json", good.replace(&checksummed(&address), &format!("0x{hex}")));
        load_text("extra.json", good.replace("\n}", &format!(",\n  \"0x{hex}\": 1\n}}")));
        load_text("trailing.json", format!("{good} 0x{hex}"));
        load_text("bad-secret.json", good.replace(&hex[..2], "zz"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            errors.push(load(&path).unwrap_err());
        }
        errors.push(KeyFileError::InvalidSecret { path: path.clone() });
        errors.push(KeyFileError::Io {
            action: "read",
            path: path.clone(),
            source: std::io::Error::other("disk on fire"),
        });
        let upper = hex.to_uppercase();
        let mut seen = std::collections::HashSet::new();
        for err in &errors {
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(&hex) && !shown.contains(&upper), "secret leaked: {shown}");
            assert!(!shown.contains(&hex[..16]), "part of the secret leaked: {shown}");
            seen.insert(std::mem::discriminant(err));
        }
        assert_eq!(seen.len(), if cfg!(unix) { 7 } else { 6 }, "every variant is covered");
    }
}
