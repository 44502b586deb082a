//! What only the operator at the signer's console may see, and the privacy
//! of the files the signer's output is written to.
//!
//! The signer writes its events to standard output and its log to standard
//! error; a service manager or `boxctl dev up` sends both to a file. At start
//! [`protect_output`] makes such a file readable by the signer's user only
//! (mode 0600): it holds the one-time enrolment code and the ceremony's
//! events. `d` never goes to a file: [`show_d`] prints it only when standard
//! output is a terminal, and says where to find it otherwise
//! (`box-signer show-backup`, which reads the signer's store).
//!
//! What this does not do: keep anything from whoever can read the terminal
//! (its scrollback, a screen recording), or fix a log file the signer's user
//! may not change (it warns). A terminal is trusted here as the console.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;

/// Makes each regular file behind standard output and standard error mode
/// 0600 if others could read it. Returns what it found and did, in words,
/// for the log. Terminals, pipes, sockets and `/dev/null` are left alone.
pub fn protect_output() -> Vec<String> {
    let streams = [
        ("standard output", std::io::stdout().as_fd().try_clone_to_owned()),
        ("standard error", std::io::stderr().as_fd().try_clone_to_owned()),
    ];
    let mut notes = Vec::new();
    for (name, fd) in streams {
        let Ok(fd) = fd else { continue };
        let file = std::fs::File::from(fd);
        let Ok(meta) = file.metadata() else { continue };
        let mode = meta.permissions().mode() & 0o777;
        if !meta.file_type().is_file() || mode & 0o077 == 0 {
            continue;
        }
        notes.push(match file.set_permissions(std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => format!("{name} went to a file others could read (mode {mode:o}); it is now 0600"),
            Err(e) => format!("{name} goes to a file others can read (mode {mode:o}) and it cannot be made 0600: {e}"),
        });
    }
    notes
}

/// Shows `d` for the key holders' paper backups: on a terminal only. A
/// file, a pipe or a journal gets a pointer to `box-signer show-backup`.
pub fn show_d(d: &[u8; 32]) {
    if std::io::stdout().is_terminal() {
        println!(
            "box-signer: d = 0x{} (not secret alone; every key holder puts it on their paper backup)",
            hex::encode(d)
        );
    } else {
        println!(
            "box-signer: d (for every key holder's paper backup) is shown only on a terminal; with the signer stopped, run `box-signer show-backup --config <signer.toml>` on this machine"
        );
    }
}
