//! A sorted, streaming walk of a root directory: every entry once, parents before children,
//! names in byte order, hard links detected by (device, inode).

use super::error::{Error, Result};
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes.
    File {
        /// Size at stat time.
        size: u64,
    },
    /// A symbolic link to `target` (stored as is, never followed).
    Symlink(PathBuf),
    /// Another name of the entry first seen at this relative path.
    Hardlink(PathBuf),
    /// A character device.
    Char {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// One entry of the root, with the metadata an archive keeps.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Path relative to the root; empty for the root itself.
    pub path: PathBuf,
    /// Absolute path on disk, to read content from.
    pub disk: PathBuf,
    /// What it is.
    pub kind: Kind,
    /// Permission bits with setuid, setgid and sticky (`& 0o7777`).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Extended attributes, sorted by name (`security.selinux` and `system.*` left out).
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Calls `visit` for every entry under `root` (the root first), depth first in byte order of
/// names. Sockets are skipped. Memory: one sorted name list per open directory level.
pub fn walk(root: &Path, visit: impl FnMut(&Entry) -> Result<()>) -> Result<()> {
    walk_where(root, |_| true, visit)
}

/// [`walk`], visiting only the entries whose relative path `keep` accepts; a directory it
/// refuses is not entered.
pub fn walk_where(
    root: &Path,
    keep: impl Fn(&Path) -> bool,
    mut visit: impl FnMut(&Entry) -> Result<()>,
) -> Result<()> {
    let mut links = LinkMap::new();
    walk_meta_where(root, keep, |rel, disk, meta| {
        visit(&entry(disk, rel.to_path_buf(), meta, &mut links)?)
    })
}

/// The same walk without reading link targets or xattrs: `visit` gets each entry's relative
/// path (empty for the root), its path on disk and its `lstat` metadata.
pub fn walk_meta(
    root: &Path,
    visit: impl FnMut(&Path, &Path, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    walk_meta_where(root, |_| true, visit)
}

fn walk_meta_where(
    root: &Path,
    keep: impl Fn(&Path) -> bool,
    mut visit: impl FnMut(&Path, &Path, &fs::Metadata) -> Result<()>,
) -> Result<()> {
    let meta = fs::symlink_metadata(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotADirectory { path: root.into() },
        _ => Error::read(root, "metadata", e),
    })?;
    if !meta.is_dir() {
        return Err(Error::NotADirectory { path: root.into() });
    }
    visit(Path::new(""), root, &meta)?;
    let mut stack = vec![(PathBuf::new(), sorted_names(root)?.into_iter())];
    while let Some((dir, names)) = stack.last_mut() {
        let Some(name) = names.next() else {
            stack.pop();
            continue;
        };
        let rel = dir.join(&name);
        if !keep(&rel) {
            continue;
        }
        let disk = root.join(&rel);
        let meta = fs::symlink_metadata(&disk).map_err(|e| Error::read(&disk, "metadata", e))?;
        if meta.file_type().is_socket() {
            tracing::warn!(path = %disk.display(), "socket skipped");
            continue;
        }
        visit(&rel, &disk, &meta)?;
        if meta.is_dir() {
            let names = sorted_names(&disk)?;
            stack.push((rel, names.into_iter()));
        }
    }
    Ok(())
}

fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = Vec::new();
    for item in fs::read_dir(dir).map_err(|e| Error::read(dir, "directory", e))? {
        names.push(
            item.map_err(|e| Error::read(dir, "directory", e))?
                .file_name(),
        );
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// Hard links seen so far: (device, inode) → the first relative path of that file.
pub type LinkMap = HashMap<(u64, u64), PathBuf>;

/// The entry at `rel` under `root`, read from disk (`lstat`, link target, xattrs); a file
/// whose inode is in `links` already becomes a [`Kind::Hardlink`] to its first name.
pub fn stat_entry(root: &Path, rel: PathBuf, links: &mut LinkMap) -> Result<Entry> {
    let disk = root.join(&rel);
    let meta = fs::symlink_metadata(&disk).map_err(|e| Error::read(&disk, "metadata", e))?;
    entry(&disk, rel, &meta, links)
}

fn entry(disk: &Path, rel: PathBuf, meta: &fs::Metadata, links: &mut LinkMap) -> Result<Entry> {
    let ft = meta.file_type();
    let rdev = meta.rdev();
    let (major, minor) = (dev_major(rdev), dev_minor(rdev));
    let mut kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_symlink() {
        Kind::Symlink(fs::read_link(disk).map_err(|e| Error::read(disk, "link target", e))?)
    } else if ft.is_char_device() {
        Kind::Char { major, minor }
    } else if ft.is_block_device() {
        Kind::Block { major, minor }
    } else if ft.is_fifo() {
        Kind::Fifo
    } else {
        Kind::File { size: meta.len() }
    };
    if !ft.is_dir() && meta.nlink() > 1 {
        match links.get(&(meta.dev(), meta.ino())) {
            Some(first) => kind = Kind::Hardlink(first.clone()),
            None => {
                links.insert((meta.dev(), meta.ino()), rel.clone());
            }
        }
    }
    Ok(Entry {
        xattrs: xattrs(disk)?,
        path: rel,
        disk: disk.to_path_buf(),
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid().into(),
        gid: meta.gid().into(),
        mtime: meta.mtime(),
    })
}

fn xattrs(disk: &Path) -> Result<Vec<(OsString, Vec<u8>)>> {
    let names = match xattr::list(disk) {
        Ok(names) => names,
        Err(e) if unsupported(&e) => return Ok(Vec::new()),
        Err(e) => return Err(Error::read(disk, "xattrs", e)),
    };
    let mut out = Vec::new();
    for name in names {
        let bytes = name.as_bytes();
        if bytes == b"security.selinux" || bytes.starts_with(b"system.") {
            continue;
        }
        match xattr::get(disk, &name) {
            Ok(Some(value)) => out.push((name, value)),
            Ok(None) => {}
            Err(e) if unsupported(&e) => {}
            Err(e) => return Err(Error::read(disk, "xattrs", e)),
        }
    }
    out.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

fn unsupported(e: &std::io::Error) -> bool {
    // ENOTSUP / EOPNOTSUPP (95) and ENODATA (61): nothing to read.
    matches!(e.raw_os_error(), Some(95 | 61)) || e.kind() == std::io::ErrorKind::Unsupported
}

/// glibc's `major()` of a device number.
fn dev_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

/// glibc's `minor()` of a device number.
fn dev_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_with_parents_first_and_detects_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/c")).unwrap();
        fs::write(root.join("b/c/z"), "z").unwrap();
        fs::write(root.join("a"), "a").unwrap();
        fs::hard_link(root.join("a"), root.join("b/a2")).unwrap();
        std::os::unix::fs::symlink("a", root.join("B")).unwrap();
        let mut seen = Vec::new();
        walk(root, |e| {
            seen.push((e.path.display().to_string(), e.kind.clone()));
            Ok(())
        })
        .unwrap();
        let names: Vec<_> = seen.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(names, ["", "B", "a", "b", "b/a2", "b/c", "b/c/z"]);
        assert_eq!(seen[4].1, Kind::Hardlink("a".into()));
        assert_eq!(seen[1].1, Kind::Symlink("a".into()));
    }

    #[test]
    fn a_file_is_not_a_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "").unwrap();
        let err = walk(&dir.path().join("f"), |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::NotADirectory { .. }), "{err}");
        let err = walk(&dir.path().join("missing"), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn device_numbers_split_like_glibc() {
        let dev = (8u64 << 8) | 1; // sda1
        assert_eq!((dev_major(dev), dev_minor(dev)), (8, 1));
        let big = (0x123u64 << 8) | (0xabcde_u64 & 0xff) | ((0xabcde_u64 & !0xff) << 12);
        assert_eq!((dev_major(big), dev_minor(big)), (0x123, 0xabcde));
    }
}
