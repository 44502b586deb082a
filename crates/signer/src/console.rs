//! What only the operator at the signer's console may see, and the privacy
//! of the files the signer's output is written to.
//!
//! The signer writes its events to standard output and its log to standard
//! error; a service manager or `boxctl dev up` sends both to a file. At start
//! [`protect_output`] makes such a file readable by the signer's user only
//! (mode 0600): it holds the ceremony's events. The one-time enrolment code
//! and `d` never go to standard output or standard error: [`reveal`] writes
//! them to the controlling terminal (`/dev/tty`), or, when the operator asks
//! with `--enrolment-out FILE`, to that file (mode 0600) instead, and prints
//! only where they went. Without a terminal or the flag they are shown
//! nowhere, and the line says where else to find them (a restart on a
//! terminal; `box-signer show-backup` for `d`, which reads the store).
//!
//! What this does not do: keep anything from whoever can read the terminal
//! (its scrollback, a screen recording), or fix a log file the signer's user
//! may not change (it warns). A terminal is trusted here as the console.

use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

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

/// Where what only the operator may see goes: the enrolment code and `d`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reveal {
    /// The controlling terminal (`/dev/tty`) only; with none, nowhere.
    #[default]
    Terminal,
    /// This file (created or appended to, mode 0600), asked for with
    /// `--enrolment-out`; nothing goes to the terminal then.
    File(PathBuf),
}

/// Shows `text` (which holds `what`) where `to` says, never on standard
/// output or standard error. Returns a line for standard output saying where
/// it went, or, when it could go nowhere, where else to find it (`otherwise`).
pub fn reveal(to: &Reveal, what: &str, text: &str, otherwise: &str) -> String {
    match to {
        Reveal::Terminal => {
            if box_ops::unlock::to_terminal(text) {
                format!("{what} is shown on the controlling terminal")
            } else {
                format!("{what} is shown only on a terminal, and this signer has none: {otherwise}")
            }
        }
        Reveal::File(path) => match append_private(path, text) {
            Ok(()) => {
                format!("{what} is shown only on a terminal; as asked, it was written to {} instead", path.display())
            }
            Err(e) => format!(
                "{what} is shown only on a terminal, and {} could not be written ({e}): {otherwise}",
                path.display()
            ),
        },
    }
}

/// Appends to `path`, creating it mode 0600 and making an existing one 0600.
fn append_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    if f.metadata()?.permissions().mode() & 0o077 != 0 {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Shows the one-time enrolment code (and its QR code) to the operator; the
/// returned line says where, for standard output.
pub fn show_enrolment_code(to: &Reveal, code: &str) -> String {
    let mut text = format!(
        "box-signer: one-time enrolment code: {code}\nbox-signer: key holders enrol with `boxctl keyholder enrol --code {code}` (or scan):\n"
    );
    if let Ok(qr) = qrcode::QrCode::new(code.as_bytes()) {
        text.push_str(&qr.render::<qrcode::render::unicode::Dense1x2>().quiet_zone(true).build());
        text.push('\n');
    }
    reveal(to, "the one-time enrolment code", &text, "restart the signer on a terminal, or with --enrolment-out FILE")
}

/// Shows `d` for the key holders' paper backups to the operator; the
/// returned line says where, for standard output.
pub fn show_d(to: &Reveal, d: &[u8; 32]) -> String {
    let text = format!(
        "box-signer: d = 0x{} (not secret alone; every key holder puts it on their paper backup)\n",
        hex::encode(d)
    );
    let show_backup = "with the signer stopped, run `box-signer show-backup --config <signer.toml>` on this machine";
    let line = reveal(to, "d (for every key holder's paper backup)", &text, show_backup);
    match to {
        Reveal::File(_) => format!("{line}; to see it again, {show_backup}"),
        Reveal::Terminal => line,
    }
}
