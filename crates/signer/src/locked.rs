//! Memory for the wallet key: the workspace's only `unsafe` code.
//!
//! [`LockedKey`] keeps the root key and the derived wallet scalar in one
//! anonymous page of their own that is locked in RAM (`mlock`: never swapped
//! out), excluded from core dumps (`MADV_DONTDUMP`), overwritten with zeros
//! before it is unlocked and unmapped, and never printed. [`harden_process`]
//! makes the whole process undumpable and disables core files, so even the
//! transient signing-key copies alloy and k256 make for one signature cannot
//! land in a dump.
//!
//! What this does not do: protect against an attacker who can read this
//! process's memory while it runs (root on the machine, a debugger before
//! `harden_process`), or against hibernation images of the whole machine.
#![allow(unsafe_code)]

use std::fmt;
use std::ptr::NonNull;
use zeroize::Zeroize;

/// Why locked memory could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// `mmap` failed.
    #[error("cannot map a private page for the key: {0}")]
    Map(std::io::Error),
    /// `mlock` failed, usually RLIMIT_MEMLOCK.
    #[error(
        "cannot lock the key's page in memory ({0}); raise the memlock limit (`ulimit -l`, or LimitMEMLOCK= in the systemd unit)"
    )]
    Lock(std::io::Error),
    /// `madvise(MADV_DONTDUMP)` failed.
    #[error("cannot exclude the key's page from core dumps: {0}")]
    DontDump(std::io::Error),
}

/// Bytes of secret held: the 32-byte root key, then the 32-byte wallet scalar.
const SECRET_LEN: usize = 64;

/// The root key and wallet scalar in locked, undumpable memory; zeroized on drop.
pub struct LockedKey {
    page: NonNull<u8>,
    len: usize,
}

// SAFETY: the page is owned exclusively by this value (no other pointer to it
// exists); access goes through `&self` (read-only) or drop (`&mut self`), so
// sharing or moving it across threads is as safe as for a `Box<[u8; 64]>`.
unsafe impl Send for LockedKey {}
// SAFETY: see `Send`: shared access is read-only.
unsafe impl Sync for LockedKey {}

impl LockedKey {
    /// Moves `root` and `wallet` into a fresh locked page and zeroizes the
    /// caller's copies. Fails closed: without locked memory there is no key.
    pub fn new(root: &mut [u8; 32], wallet: &mut [u8; 32]) -> Result<Self, LockError> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let len = usize::try_from(page_size).ok().filter(|p| *p >= SECRET_LEN).unwrap_or(4096);
        // SAFETY: an anonymous private mapping with a null hint has no
        // preconditions; the result is checked against MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            root.zeroize();
            wallet.zeroize();
            return Err(LockError::Map(std::io::Error::last_os_error()));
        }
        let Some(page) = NonNull::new(ptr.cast::<u8>()) else {
            root.zeroize();
            wallet.zeroize();
            return Err(LockError::Map(std::io::Error::other("mmap returned null")));
        };
        // From here on `this` owns the mapping; its Drop unmaps it on every early return.
        let this = Self { page, len };
        // SAFETY: `ptr` is a live mapping of `len` bytes that we own.
        if unsafe { libc::mlock(ptr, len) } != 0 {
            root.zeroize();
            wallet.zeroize();
            return Err(LockError::Lock(std::io::Error::last_os_error()));
        }
        // SAFETY: as above; madvise only changes dump behaviour of our mapping.
        if unsafe { libc::madvise(ptr, len, libc::MADV_DONTDUMP) } != 0 {
            root.zeroize();
            wallet.zeroize();
            return Err(LockError::DontDump(std::io::Error::last_os_error()));
        }
        // SAFETY: the mapping is `len >= 64` bytes, readable and writable, and
        // nothing else references it; the sources are distinct 32-byte arrays.
        unsafe {
            std::ptr::copy_nonoverlapping(root.as_ptr(), page.as_ptr(), 32);
            std::ptr::copy_nonoverlapping(wallet.as_ptr(), page.as_ptr().add(32), 32);
        }
        root.zeroize();
        wallet.zeroize();
        Ok(this)
    }

    fn bytes(&self) -> &[u8; SECRET_LEN] {
        // SAFETY: the first 64 bytes of our live, initialised mapping; the
        // returned borrow cannot outlive `self`, which unmaps only on drop.
        unsafe { &*self.page.as_ptr().cast::<[u8; SECRET_LEN]>() }
    }

    /// Runs `f` with the wallet scalar. Callers build a signing key from it
    /// for one signature and drop it (zeroized) right after.
    pub fn with_wallet<R>(&self, f: impl FnOnce(&[u8; 32]) -> R) -> R {
        let mut w = [0u8; 32];
        w.copy_from_slice(&self.bytes()[32..]);
        let r = f(&w);
        w.zeroize();
        r
    }

    /// Runs `f` with the root key (for deriving further keys).
    pub fn with_root<R>(&self, f: impl FnOnce(&[u8; 32]) -> R) -> R {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.bytes()[..32]);
        let r = f(&k);
        k.zeroize();
        r
    }
}

impl Drop for LockedKey {
    fn drop(&mut self) {
        // SAFETY: we own the live mapping of `self.len` bytes; after zeroing
        // it is unlocked and unmapped exactly once, here.
        unsafe {
            std::slice::from_raw_parts_mut(self.page.as_ptr(), self.len).zeroize();
            libc::munlock(self.page.as_ptr().cast(), self.len);
            libc::munmap(self.page.as_ptr().cast(), self.len);
        }
    }
}

impl fmt::Debug for LockedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockedKey(<locked>)")
    }
}

/// Makes the process undumpable (no core files, no ptrace attach by
/// same-user processes, `/proc/self/mem` closed to others). Call first thing.
pub fn harden_process() -> Result<(), std::io::Error> {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes plain integers and has no
    // memory-safety preconditions.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let zero = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `zero` is a valid rlimit that outlives the call.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Whether the process is currently dumpable (for tests and diagnostics).
pub fn is_dumpable() -> bool {
    // SAFETY: PR_GET_DUMPABLE takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_key_and_zeroizes_the_sources() {
        let mut root = [7u8; 32];
        let mut wallet = [9u8; 32];
        let k = LockedKey::new(&mut root, &mut wallet).unwrap();
        assert_eq!(root, [0; 32]);
        assert_eq!(wallet, [0; 32]);
        k.with_wallet(|w| assert_eq!(w, &[9u8; 32]));
        k.with_root(|r| assert_eq!(r, &[7u8; 32]));
        assert_eq!(format!("{k:?}"), "LockedKey(<locked>)");
        // The page is locked: /proc/self/status counts it under VmLck.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let locked_kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmLck:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        assert!(locked_kb >= 4, "VmLck is {locked_kb} kB");
    }
}
