//! Durable small-file writes and advisory locks, for the account database and the generated
//! TLS pair.
//!
//! A file is replaced atomically: the new contents go to a temporary file in the same folder,
//! which is fsynced, renamed over the old one, and then the folder is fsynced so the rename
//! itself survives a crash. Readers therefore see the old file or the new one, never a mix.
//! This module never interprets the bytes it writes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Replace `path` with `contents`, atomically and durably, with permission bits `mode`.
pub(crate) fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:016x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    ));
    let result = write_then_rename(&tmp, path, contents, mode);
    if result.is_err() {
        // Best effort: the temporary file is garbage once the rename did not happen.
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    File::open(dir)?.sync_all()
}

fn write_then_rename(tmp: &Path, path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)?;
    // The mode given to open() is filtered by the umask; set it exactly.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    // Root (`ringpost user add` run by an operator) writes files for the server's user: the
    // new file gets the owner of the folder it is in, as the old one had.
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::MetadataExt;
        let folder = std::fs::metadata(parent(path))?;
        std::os::unix::fs::fchown(&file, Some(folder.uid()), Some(folder.gid()))?;
    }
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)
}

/// The folder holding `path` (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An exclusive advisory lock (`flock(2)`) on a lock file, held until dropped.
///
/// Serializes writers in different processes (two `ringpost user` commands at once); it does
/// not stop readers, which need no lock because files are only ever replaced by rename.
#[derive(Debug)]
pub(crate) struct FileLock {
    // Closing the descriptor releases the lock.
    _file: File,
}

impl FileLock {
    /// Create `path` if needed (mode 0600) and block until the lock is ours.
    pub(crate) fn exclusive(path: &Path) -> io::Result<FileLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        loop {
            if flock_exclusive(&file) == 0 {
                return Ok(FileLock { _file: file });
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[allow(unsafe_code)]
fn flock_exclusive(file: &File) -> libc::c_int {
    // SAFETY: flock takes no pointers; `file` is borrowed for the whole call, so the descriptor
    // is open and owned by us while the kernel uses it.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn replaces_contents_with_exact_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"old").unwrap();
        write_atomically(&path, b"new contents\n", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new contents\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }

    #[test]
    fn lock_is_exclusive_across_descriptors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = FileLock::exclusive(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let waiter = std::thread::spawn(move || {
            let _second = FileLock::exclusive(&p).unwrap();
            tx.send(()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(rx.try_recv(), Err(std::sync::mpsc::TryRecvError::Empty));
        drop(held);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
    }
}
