//! The files of a backup: copying a snapshot folder out with a checksum per file, the
//! manifest that lists them, and copying them back, checked, into a data folder.
//!
//! The manifest (`ringpost-backup`, text, written last):
//!
//! ```text
//! ringpost-backup 1
//! taken 1767225600 2026-01-01T00:00:00Z server
//! partition 582 end 3 12345 1000
//! partition 17 whole
//! file 1a2b3c4d 16777216 store/p0582/seg-00000003.log
//! ```
//!
//! `partition` lines are the snapshot points (see [`crate::store::snapshot`]); `file` lines
//! give the CRC-32C (hex) and size of each file as copied, and its path (`/`-separated,
//! relative, last on the line).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::{io_error, BackupError, SnapshotFolder, Source};
use crate::store::{PartitionSnapshot, SnapshotEnd};

/// The manifest's name in a backup folder.
pub const MANIFEST: &str = "ringpost-backup";
const FORMAT: &str = "ringpost-backup 1";
const CHUNK: usize = 1 << 20;

/// One copied file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileEntry {
    /// Relative, `/`-separated.
    path: String,
    size: u64,
    crc: u32,
}

/// A backup's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Manifest {
    pub taken_at: i64,
    source: Source,
    partitions: Vec<PartitionSnapshot>,
    files: Vec<FileEntry>,
}

impl Manifest {
    fn render(&self) -> String {
        let source = match self.source {
            Source::Server => "server",
            Source::Offline => "offline",
        };
        let mut out = format!(
            "{FORMAT}\ntaken {} {} {source}\n",
            self.taken_at,
            crate::date::rfc3339(self.taken_at)
        );
        for p in &self.partitions {
            match p.end {
                Some(e) => out.push_str(&format!(
                    "partition {} end {} {} {}\n",
                    p.partition, e.segment, e.offset, e.next_seq
                )),
                None => out.push_str(&format!("partition {} whole\n", p.partition)),
            }
        }
        for f in &self.files {
            out.push_str(&format!("file {:08x} {} {}\n", f.crc, f.size, f.path));
        }
        out
    }

    fn parse(text: &str) -> Result<Manifest, String> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, FORMAT)) => {}
            _ => return Err(format!("the first line is not {FORMAT:?}")),
        }
        let mut manifest = Manifest {
            taken_at: 0,
            source: Source::Offline,
            partitions: Vec::new(),
            files: Vec::new(),
        };
        let mut taken = false;
        for (i, line) in lines {
            let bad = || format!("line {}: {line:?}", i + 1);
            let words: Vec<&str> = line.splitn(4, ' ').collect();
            match words.as_slice() {
                ["taken", secs, _, source] => {
                    manifest.taken_at = secs.parse().map_err(|_| bad())?;
                    manifest.source = match *source {
                        "server" => Source::Server,
                        "offline" => Source::Offline,
                        _ => return Err(bad()),
                    };
                    taken = true;
                }
                ["partition", n, "whole"] => manifest.partitions.push(PartitionSnapshot {
                    partition: n.parse().map_err(|_| bad())?,
                    end: None,
                }),
                ["partition", n, "end", rest] => {
                    let v: Vec<&str> = rest.split(' ').collect();
                    let [segment, offset, next_seq] = v.as_slice() else {
                        return Err(bad());
                    };
                    manifest.partitions.push(PartitionSnapshot {
                        partition: n.parse().map_err(|_| bad())?,
                        end: Some(SnapshotEnd {
                            segment: segment.parse().map_err(|_| bad())?,
                            offset: offset.parse().map_err(|_| bad())?,
                            next_seq: next_seq.parse().map_err(|_| bad())?,
                        }),
                    });
                }
                ["file", crc, size, path] => {
                    if !is_relative_path(path) {
                        return Err(format!("line {}: unsafe path {path:?}", i + 1));
                    }
                    manifest.files.push(FileEntry {
                        path: (*path).to_string(),
                        size: size.parse().map_err(|_| bad())?,
                        crc: u32::from_str_radix(crc, 16).map_err(|_| bad())?,
                    });
                }
                _ => return Err(bad()),
            }
        }
        if !taken {
            return Err("no `taken` line".into());
        }
        Ok(manifest)
    }
}

/// Whether `path` stays inside the folder it is relative to (no `..`, not absolute).
fn is_relative_path(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// `dest` must be an empty folder, or absent (then it is made, mode 0700).
pub(super) fn prepare_destination(dest: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::Refused(format!(
                    "{} is not empty: back up into a new or empty folder",
                    dest.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .mode(0o700)
            .recursive(true)
            .create(dest)
            .map_err(io_error("creating", dest)),
        Err(e) => Err(io_error("reading", dest)(e)),
    }
}

/// Refuse a data folder that holds anything but a pid file (which a stopped server leaves).
pub(super) fn refuse_non_empty(data_dir: &Path) -> Result<(), BackupError> {
    let entries = match std::fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("reading", data_dir)(e)),
    };
    for entry in entries {
        let name = entry.map_err(io_error("reading", data_dir))?.file_name();
        if name != "ringpost.pid" {
            return Err(BackupError::Refused(format!(
                "{} is not empty (it holds {}): restore only into an empty data folder",
                data_dir.display(),
                name.to_string_lossy()
            )));
        }
    }
    Ok(())
}

/// Every file under `dir`, as `/`-separated paths relative to it, in order.
fn files_under(dir: &Path) -> Result<Vec<String>, BackupError> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), BackupError> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io_error("reading", dir))?
            .collect::<Result<_, _>>()
            .map_err(io_error("reading", dir))?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| {
                BackupError::Damaged(format!("{}: a file name is not UTF-8", dir.display()))
            })?;
            let path = format!("{prefix}{name}");
            let kind = entry.file_type().map_err(io_error("reading", dir))?;
            if kind.is_dir() {
                walk(&entry.path(), &format!("{path}/"), out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    Ok(out)
}

/// Copy `from` to the new file `to` (same permission bits), CRC-32C over the bytes written.
/// With `keep`, only that many bytes are read and the rest, up to the size `from` had when
/// opened, is written as zeros.
fn copy_file(from: &Path, to: &Path, keep: Option<u64>) -> Result<(u64, u32), BackupError> {
    let mut source = File::open(from).map_err(io_error("opening", from))?;
    let meta = source.metadata().map_err(io_error("reading", from))?;
    let mode = meta.permissions().mode() & 0o777;
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .map_err(io_error("creating", to))?;
    target
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_error("writing", to))?;
    let mut buf = vec![0u8; CHUNK];
    let (mut written, mut crc) = (0u64, 0u32);
    let mut left = keep.unwrap_or(u64::MAX);
    while left > 0 {
        let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
        let n = source
            .read(&mut buf[..want])
            .map_err(io_error("reading", from))?;
        if n == 0 {
            break;
        }
        target
            .write_all(&buf[..n])
            .map_err(io_error("writing", to))?;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        written += n as u64;
        left -= n as u64;
    }
    if let Some(keep) = keep {
        if written != keep {
            return Err(BackupError::Damaged(format!(
                "{} is shorter ({written} bytes) than its snapshot point ({keep})",
                from.display()
            )));
        }
        buf.fill(0);
        while written < meta.len() {
            let n = usize::try_from((meta.len() - written).min(CHUNK as u64)).unwrap_or(CHUNK);
            target
                .write_all(&buf[..n])
                .map_err(io_error("writing", to))?;
            crc = crc32c::crc32c_append(crc, &buf[..n]);
            written += n as u64;
        }
    }
    target.sync_all().map_err(io_error("syncing", to))?;
    Ok((written, crc))
}

/// Create `dir` and the folders above it that are missing, mode 0700.
fn make_dirs(dir: &Path) -> Result<(), BackupError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
        .map_err(io_error("creating", dir))
}

/// Make every folder at or under `dir` durable (its entries survive a crash).
fn sync_tree(dir: &Path) -> Result<(), BackupError> {
    for entry in std::fs::read_dir(dir).map_err(io_error("reading", dir))? {
        let entry = entry.map_err(io_error("reading", dir))?;
        if entry
            .file_type()
            .map_err(io_error("reading", dir))?
            .is_dir()
        {
            sync_tree(&entry.path())?;
        }
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing", dir))
}

/// Copy the snapshot in `folder` into `dest` and write the manifest last. Returns the files
/// and bytes copied.
pub(super) fn write_backup(
    folder: &SnapshotFolder,
    partitions: &[PartitionSnapshot],
    dest: &Path,
    taken_at: i64,
    source: Source,
) -> Result<(usize, u64), BackupError> {
    let bounds: Vec<(String, u64)> = partitions
        .iter()
        .filter_map(PartitionSnapshot::bound)
        .map(|(path, len)| (format!("store/{}", path.to_string_lossy()), len))
        .collect();
    let paths = files_under(folder.path())?;
    for (path, _) in &bounds {
        if !paths.contains(path) {
            return Err(BackupError::Damaged(format!(
                "the snapshot has no {path}, where a partition's log ends"
            )));
        }
    }
    let mut files = Vec::with_capacity(paths.len());
    let mut bytes = 0;
    for path in paths {
        let to = dest.join(&path);
        if let Some(parent) = to.parent() {
            make_dirs(parent)?;
        }
        let keep = bounds.iter().find(|(p, _)| *p == path).map(|(_, n)| *n);
        let (size, crc) = copy_file(&folder.path().join(&path), &to, keep)?;
        bytes += size;
        files.push(FileEntry { path, size, crc });
    }
    let manifest = Manifest {
        taken_at,
        source,
        partitions: partitions.to_vec(),
        files,
    };
    let count = manifest.files.len();
    sync_tree(dest)?;
    let tmp = dest.join(format!(".{MANIFEST}.tmp"));
    let mut f = File::create(&tmp).map_err(io_error("creating", &tmp))?;
    f.write_all(manifest.render().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(io_error("writing", &tmp))?;
    std::fs::rename(&tmp, dest.join(MANIFEST)).map_err(io_error("writing", dest))?;
    File::open(dest)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing", dest))?;
    Ok((count, bytes))
}

/// Read and check the manifest of the backup in `src`.
pub(super) fn read_manifest(src: &Path) -> Result<Manifest, BackupError> {
    let path = src.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BackupError::Damaged(format!(
                "{} is not a complete ringpost backup: it has no {MANIFEST} file (a backup \
                 writes it last)",
                src.display()
            )))
        }
        Err(e) => return Err(io_error("reading", &path)(e)),
    };
    Manifest::parse(&text).map_err(|e| BackupError::Damaged(format!("{}: {e}", path.display())))
}

/// Copy every file the manifest lists from `src` into `data_dir`, checking sizes and
/// checksums: first into a staging folder inside it, then moved into place, so a failure
/// leaves `data_dir` as it was. Returns the files and bytes copied.
pub(super) fn restore_files(
    src: &Path,
    manifest: &Manifest,
    data_dir: &Path,
) -> Result<(usize, u64), BackupError> {
    let staging = data_dir.join(format!(".restore-{}", std::process::id()));
    let result = (|| {
        make_dirs(&staging)?;
        let mut bytes = 0;
        for f in &manifest.files {
            let to = staging.join(&f.path);
            if let Some(parent) = to.parent() {
                make_dirs(parent)?;
            }
            let (size, crc) = copy_file(&src.join(&f.path), &to, None)?;
            if (size, crc) != (f.size, f.crc) {
                return Err(BackupError::Damaged(format!(
                    "{} does not match the manifest ({size} bytes, CRC {crc:08x}; expected {} \
                     bytes, CRC {:08x})",
                    src.join(&f.path).display(),
                    f.size,
                    f.crc
                )));
            }
            bytes += size;
        }
        sync_tree(&staging)?;
        let mut top: Vec<PathBuf> = std::fs::read_dir(&staging)
            .map_err(io_error("reading", &staging))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io_error("reading", &staging))?;
        top.sort();
        for from in top {
            if let Some(name) = from.file_name() {
                let to = data_dir.join(name);
                std::fs::rename(&from, &to).map_err(io_error("moving into place", &to))?;
            }
        }
        Ok(bytes)
    })();
    let _ = std::fs::remove_dir_all(&staging);
    let bytes = result?;
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("syncing", data_dir))?;
    Ok((manifest.files.len(), bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            taken_at: 1_767_225_600,
            source: Source::Server,
            partitions: vec![
                PartitionSnapshot {
                    partition: 17,
                    end: None,
                },
                PartitionSnapshot {
                    partition: 582,
                    end: Some(SnapshotEnd {
                        segment: 3,
                        offset: 12_345,
                        next_seq: 1_000,
                    }),
                },
            ],
            files: vec![
                FileEntry {
                    path: "accounts".into(),
                    size: 120,
                    crc: 0xdead_beef,
                },
                FileEntry {
                    path: "store/p0582/accounts/a b@example.com.idx".into(),
                    size: 4096,
                    crc: 1,
                },
            ],
        }
    }

    #[test]
    fn the_manifest_round_trips() {
        let m = manifest();
        let text = m.render();
        assert!(text.starts_with(
            "ringpost-backup 1\ntaken 1767225600 2026-01-01T00:00:00Z server\npartition 17 whole\n"
        ));
        assert!(text.contains("\nfile deadbeef 120 accounts\n"));
        assert_eq!(Manifest::parse(&text).unwrap(), m);
    }

    #[test]
    fn a_manifest_with_an_escaping_path_or_garbage_is_refused() {
        let text = manifest().render();
        for bad in [
            text.replace("file 00000001 4096 store", "file 00000001 4096 ../store"),
            text.replace(
                "file deadbeef 120 accounts",
                "file deadbeef 120 /etc/passwd",
            ),
            text.replace("ringpost-backup 1", "ringpost-backup 2"),
            text.replace("taken 1767225600 2026-01-01T00:00:00Z server\n", ""),
            format!("{text}surprise\n"),
        ] {
            assert!(Manifest::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bounded_copy_keeps_the_prefix_and_zeros_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("seg");
        let mut bytes = vec![7u8; 10_000];
        bytes.extend_from_slice(&[9u8; 6_384]);
        std::fs::write(&from, &bytes).unwrap();
        let to = dir.path().join("copy");
        let (size, crc) = copy_file(&from, &to, Some(10_000)).unwrap();
        let copied = std::fs::read(&to).unwrap();
        assert_eq!(size, 16_384);
        assert_eq!(&copied[..10_000], &bytes[..10_000]);
        assert!(copied[10_000..].iter().all(|&b| b == 0));
        assert_eq!(crc, crc32c::crc32c(&copied));
        // A whole copy is the file.
        let whole = dir.path().join("whole");
        let (size, crc) = copy_file(&from, &whole, None).unwrap();
        assert_eq!((size, crc), (16_384, crc32c::crc32c(&bytes)));
        // A file shorter than its bound is damage.
        let short = dir.path().join("short");
        assert!(copy_file(&from, &short, Some(20_000)).is_err());
    }

    #[test]
    fn only_an_empty_data_folder_or_one_with_a_pid_file_is_restored_into() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        refuse_non_empty(&data).unwrap();
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("ringpost.pid"), "1\n").unwrap();
        refuse_non_empty(&data).unwrap();
        std::fs::write(data.join("accounts"), "").unwrap();
        let e = refuse_non_empty(&data).unwrap_err().to_string();
        assert!(e.contains("is not empty (it holds accounts)"), "{e}");
    }
}
