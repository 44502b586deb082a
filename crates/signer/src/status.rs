//! `box-signer status`: a local check of the signer on this machine. The
//! signer opens no port, so it is asked in the two ways it can be: its store
//! is locked while it runs (seen in `/proc/locks`, not by taking the lock),
//! and it announces its state (sealed or
//! not, wallet, what it waits for) on the chain, read from the nodes with the
//! signer's own certificate.

use crate::config::Config;
use box_core::ceremony::{Ceremony, SignerAnnounce, SignerState};
use box_core::encoding::Canonical;
use box_proto::{Node, NodeClient, TlsMaterial};

/// What `box-signer status` found: the text to print, and whether the signer runs.
pub struct Status {
    /// Lines for a person.
    pub text: String,
    /// Whether a signer process holds the data directory (exit code 0 only then).
    pub up: bool,
}

/// Whether a signer process holds `config`'s store: redb locks the file
/// while it is open, and the kernel lists every lock in `/proc/locks` (as
/// `major:minor:inode` in hex, hex and decimal). The lock is looked at, never
/// taken, so a signer starting at the same moment is not disturbed. Never
/// creates the data directory.
fn running(config: &Config) -> Result<bool, String> {
    use std::os::unix::fs::MetadataExt;
    let path = config.data_dir.join("signer.redb");
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot tell whether the signer runs: {}: {e}", path.display())),
    };
    let locks = std::fs::read_to_string("/proc/locks")
        .map_err(|e| format!("cannot tell whether the signer runs: cannot read /proc/locks: {e}"))?;
    Ok(locked(&locks, meta.dev(), meta.ino()))
}

/// Whether `/proc/locks` text lists a lock on the file `dev`/`ino` (`dev` as `stat` gives it).
fn locked(proc_locks: &str, dev: u64, ino: u64) -> bool {
    // glibc's gnu_dev_major / gnu_dev_minor.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    proc_locks.lines().any(|line| {
        // "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; "->" lines are waiters.
        if line.contains("->") {
            return false;
        }
        line.split_whitespace().any(|field| {
            let mut parts = field.split(':');
            let (Some(ma), Some(mi), Some(i), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
                return false;
            };
            u64::from_str_radix(ma, 16) == Ok(major)
                && u64::from_str_radix(mi, 16) == Ok(minor)
                && i.parse::<u64>() == Ok(ino)
        })
    })
}

fn state_words(state: u8) -> &'static str {
    match SignerState::from_u8(state) {
        Some(SignerState::AwaitingEnrolment) => "no wallet yet, waiting for the key holders' devices to enrol",
        Some(SignerState::AwaitingGenesis) => "no wallet yet, waiting for the key holders' genesis phrases",
        Some(SignerState::Sealed) => "sealed: the key is not in memory, waiting for every key holder's phrase",
        Some(SignerState::Unsealed) => "unsealed: the key is in memory, transfers are verified and signed",
        Some(SignerState::Locked) => "locked: it signs nothing until a full unseal",
        None => "in a state this version does not know",
    }
}

fn describe(a: &SignerAnnounce) -> String {
    let mut text = format!("state: {}\n", state_words(a.state));
    if a.wallet.is_zero() {
        text.push_str("hot wallet: none yet\n");
    } else {
        text.push_str(&format!("hot wallet: {}\n", a.wallet));
    }
    if a.paused {
        text.push_str("paused by the key holders: nothing is executed\n");
    }
    if matches!(SignerState::from_u8(a.state), Some(SignerState::Sealed | SignerState::Locked)) {
        text.push_str(&format!("phrases received: {} of {}\n", a.received, a.holders));
    }
    if !a.detail.is_empty() {
        text.push_str(&format!("waiting: {}\n", a.detail));
    }
    text
}

/// Checks the signer `config` describes.
///
/// # Errors
/// When its certificate cannot be read, or its store answers with something
/// other than "in use".
pub async fn check(config: &Config) -> Result<Status, String> {
    if !running(config)? {
        return Ok(Status {
            text: format!(
                "box-signer is not running (its data directory {} is not in use)\n",
                config.data_dir.display()
            ),
            up: false,
        });
    }
    let mut text = String::from("box-signer is running\n");
    let tls = TlsMaterial::load(&config.tls.ca, &config.tls.cert, &config.tls.key)?;
    let nodes = config.nodes.iter().map(|addr| Node { id: 0, addr: addr.clone() }).collect();
    match NodeClient::new(nodes, &tls).signer_status().await {
        Ok(info) if info.announce.is_empty() => text.push_str("it has announced nothing on the chain yet\n"),
        Ok(info) => match Ceremony::decode(&info.announce) {
            Ok(Ceremony::Announce(a)) => text.push_str(&describe(&a.value)),
            _ => text.push_str("its latest announcement on the chain cannot be read\n"),
        },
        Err(e) => text.push_str(&format!("its state is unknown: no node answered ({e})\n")),
    }
    Ok(Status { text, up: true })
}

#[cfg(test)]
mod tests {
    use super::locked;

    #[test]
    fn a_lock_on_the_file_is_found_by_device_and_inode() {
        let dev = (0x103u64 << 8) | 0x02; // 259:2, e.g. nvme0n1p2, as stat encodes it
        let text = "1: OFDLCK ADVISORY  WRITE -1 103:02:777 0 0\n2: FLOCK  ADVISORY  WRITE 42 fd:00:777 0 EOF\n";
        assert!(locked(text, dev, 777));
        assert!(!locked(text, dev, 778), "another inode");
        assert!(!locked(text, (0x103 << 8) | 0x03, 777), "another device");
        assert!(
            !locked("3: POSIX  ADVISORY  WRITE 42 103:02:777 0 EOF -> waiting\n", dev, 777),
            "a waiter holds nothing"
        );
        assert!(!locked("", dev, 777));
    }
}
