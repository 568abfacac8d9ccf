//! Dropping root: `[server] user` and `group`.
//!
//! Started as root (to bind ports below 1024), the server binds every listener first, then —
//! while it is still one thread — gives the data folder to the user, and sets the process's
//! groups, group and user for good. Every thread (shards, their blocking pools, io_uring
//! workers) is created after that, so none of them ever runs as root. Offline commands run
//! as root (`ringpost import …`) drop the same way after taking the data-dir lock, so the
//! files they make belong to the server's user too.

use std::ffi::CString;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::config::RunAs;

/// A user and group resolved from the system's databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Whether the process runs as root.
pub fn is_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: geteuid has no arguments and cannot fail.
    let euid = unsafe { libc::geteuid() };
    euid == 0
}

/// Look up `run_as` in the user and group databases.
pub fn resolve(run_as: &RunAs) -> io::Result<Ids> {
    let name = CString::new(run_as.user.as_str())
        .map_err(|_| io::Error::other("server.user holds a NUL byte"))?;
    let mut buf = vec![0u8; 16 * 1024];
    #[allow(unsafe_code)]
    // SAFETY: an all-zero passwd is a valid value for the out-parameter; getpwnam_r writes
    // it and strings into `buf`, whose length we pass; `found` says whether it succeeded.
    let (uid, primary_gid) = unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() {
            return Err(io::Error::other(format!(
                "server.user: no user {:?} on this system",
                run_as.user
            )));
        }
        (pwd.pw_uid, pwd.pw_gid)
    };
    let gid = match &run_as.group {
        None => primary_gid,
        Some(group) => {
            let name = CString::new(group.as_str())
                .map_err(|_| io::Error::other("server.group holds a NUL byte"))?;
            #[allow(unsafe_code)]
            // SAFETY: as above, for getgrnam_r and a group.
            unsafe {
                let mut grp: libc::group = std::mem::zeroed();
                let mut found: *mut libc::group = std::ptr::null_mut();
                let rc = libc::getgrnam_r(
                    name.as_ptr(),
                    &mut grp,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut found,
                );
                if rc != 0 || found.is_null() {
                    return Err(io::Error::other(format!(
                        "server.group: no group {group:?} on this system"
                    )));
                }
                grp.gr_gid
            }
        }
    };
    Ok(Ids { uid, gid })
}

/// Give everything under `dir` (and `dir`) that is not the user's to it: files made as root
/// before the drop (the lock, a generated certificate, accounts written by `ringpost user …`
/// run as root) must stay usable after it. Symbolic links are not followed.
pub fn give_to(dir: &Path, ids: Ids) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.uid() != ids.uid || meta.gid() != ids.gid {
        std::os::unix::fs::lchown(dir, Some(ids.uid), Some(ids.gid))
            .map_err(|e| io::Error::new(e.kind(), format!("chown {}: {e}", dir.display())))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(dir)? {
            give_to(&entry?.path(), ids)?;
        }
    }
    Ok(())
}

/// Become `ids` for good: supplementary groups (the user's), group, then user. Fails if root
/// could be regained afterwards.
pub fn become_user(ids: Ids, user: &str) -> io::Result<()> {
    let name = CString::new(user).map_err(|_| io::Error::other("user name holds a NUL byte"))?;
    let check = |rc: libc::c_int, what: &str| {
        if rc == 0 {
            Ok(())
        } else {
            let e = io::Error::last_os_error();
            Err(io::Error::new(e.kind(), format!("{what}: {e}")))
        }
    };
    #[allow(unsafe_code)]
    // SAFETY: plain syscalls on integers and a NUL-terminated name that outlives the call.
    unsafe {
        check(
            libc::initgroups(name.as_ptr(), ids.gid as libc::gid_t),
            "initgroups",
        )?;
        check(libc::setgid(ids.gid), "setgid")?;
        check(libc::setuid(ids.uid), "setuid")?;
        if ids.uid != 0 && libc::setuid(0) == 0 {
            return Err(io::Error::other("could regain root after dropping it"));
        }
    }
    Ok(())
}

/// Started as root with `[server] user`: give `data_dir` to the user and become it. A
/// process that is not root keeps running as who it is (a warning when `user` names another).
pub fn drop_root(run_as: Option<&RunAs>, data_dir: &Path) -> io::Result<()> {
    let Some(run_as) = run_as else {
        return Ok(());
    };
    let ids = resolve(run_as)?;
    if !is_root() {
        #[allow(unsafe_code)]
        // SAFETY: getuid has no arguments and cannot fail.
        let uid = unsafe { libc::getuid() };
        if uid != ids.uid {
            tracing::warn!(user = %run_as.user, "not started as root: server.user is ignored");
        }
        return Ok(());
    }
    give_to(data_dir, ids)?;
    become_user(ids, &run_as.user)?;
    tracing::info!(user = %run_as.user, uid = ids.uid, gid = ids.gid, "dropped root");
    Ok(())
}
