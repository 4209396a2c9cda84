//! One tar writer for image layers and stage tarballs: explicit header fields, numeric owners,
//! PAX records for xattrs (`SCHILY.xattr.*`), long names and big numbers, `Link` entries for
//! hard links. The same root gives the same bytes.

use super::error::{Error, Result};
use super::walk::{Entry, Kind, walk_where};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tar::{EntryType, Header};

/// How entries are named and dated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TarOptions {
    /// Names start with `./` and the root itself is `./` (stage tarballs, like
    /// `tar -C root -cf - .`); otherwise names are bare and the root is left out (layers).
    pub dot_prefix: bool,
    /// Modification times later than this are written as this (`SOURCE_DATE_EPOCH`).
    pub clamp_mtime: i64,
}

/// One entry as it went into the archive.
#[derive(Debug)]
pub struct Archived<'a> {
    /// The walked entry.
    pub entry: &'a Entry,
    /// Its name in the archive (`./etc/`, `etc/`).
    pub name: &'a [u8],
    /// Link target as written: the symlink target, or the archived name of the hard link's
    /// first name.
    pub link: Option<&'a [u8]>,
    /// Modification time written.
    pub mtime: i64,
    /// Content bytes written.
    pub size: u64,
}

/// Totals of one archive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TarStats {
    /// Entries written.
    pub entries: u64,
    /// Content bytes of regular files.
    pub content_bytes: u64,
}

const USTAR_MAX_ID: u64 = 0o7777777;
const USTAR_MAX_SIZE: u64 = 0o77777777777;

/// Writes the tree under `root` as a tar stream to `out`, calling `observe` after each entry.
/// `out_path` names the output in write errors.
pub fn write_tree<W: Write>(
    root: &Path,
    out: &mut W,
    out_path: &Path,
    opts: &TarOptions,
    observe: impl FnMut(&Archived<'_>),
) -> Result<TarStats> {
    write_tree_where(root, |_| true, out, out_path, opts, observe)
}

/// [`write_tree`] of only the entries whose relative path `keep` accepts (a refused
/// directory is left out with everything below it).
pub fn write_tree_where<W: Write>(
    root: &Path,
    keep: impl Fn(&Path) -> bool,
    out: &mut W,
    out_path: &Path,
    opts: &TarOptions,
    mut observe: impl FnMut(&Archived<'_>),
) -> Result<TarStats> {
    let mut tar = TarAppender::new(out, out_path, *opts);
    walk_where(root, keep, |entry| tar.append(entry, &mut observe))?;
    tar.finish()
}

/// Appends entries, in the caller's order, to a tar stream; [`TarAppender::finish`] ends it.
pub struct TarAppender<'a, W: Write> {
    out: &'a mut W,
    out_path: &'a Path,
    opts: TarOptions,
    buf: Vec<u8>,
    stats: TarStats,
}

impl<'a, W: Write> TarAppender<'a, W> {
    /// A tar stream into `out` (named `out_path` in errors).
    pub fn new(out: &'a mut W, out_path: &'a Path, opts: TarOptions) -> Self {
        TarAppender {
            out,
            out_path,
            opts,
            buf: vec![0u8; 256 * 1024],
            stats: TarStats::default(),
        }
    }

    /// Writes `entry` (the root itself only with `dot_prefix`), then calls `observe`.
    pub fn append(&mut self, entry: &Entry, observe: &mut impl FnMut(&Archived<'_>)) -> Result<()> {
        let opts = self.opts;
        if entry.path.as_os_str().is_empty() && !opts.dot_prefix {
            return Ok(());
        }
        let name = archive_name(&entry.path, opts.dot_prefix, entry.kind == Kind::Dir);
        let link = match &entry.kind {
            Kind::Symlink(target) => Some(target.as_os_str().as_bytes().to_vec()),
            Kind::Hardlink(first) => Some(archive_name(first, opts.dot_prefix, false)),
            _ => None,
        };
        let mtime = entry.mtime.min(opts.clamp_mtime).max(0);
        let size = write_entry(
            self.out,
            self.out_path,
            entry,
            &name,
            link.as_deref(),
            mtime,
            &mut self.buf,
        )?;
        self.stats.entries += 1;
        self.stats.content_bytes += size;
        observe(&Archived {
            entry,
            name: &name,
            link: link.as_deref(),
            mtime,
            size,
        });
        Ok(())
    }

    /// Writes the end-of-archive blocks; returns the totals.
    pub fn finish(self) -> Result<TarStats> {
        self.out
            .write_all(&[0u8; 1024])
            .map_err(|e| Error::write(self.out_path, e))?;
        Ok(self.stats)
    }
}

fn archive_name(rel: &Path, dot_prefix: bool, dir: bool) -> Vec<u8> {
    let mut name = Vec::with_capacity(rel.as_os_str().len() + 3);
    if dot_prefix {
        name.extend_from_slice(b"./");
    }
    name.extend_from_slice(rel.as_os_str().as_bytes());
    if dir && !name.is_empty() && !name.ends_with(b"/") {
        name.push(b'/');
    }
    name
}

/// Writes one entry (PAX header first when needed); returns the content bytes written.
fn write_entry<W: Write>(
    out: &mut W,
    out_path: &Path,
    e: &Entry,
    name: &[u8],
    link: Option<&[u8]>,
    mtime: i64,
    buf: &mut [u8],
) -> Result<u64> {
    let mut header = Header::new_ustar();
    let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let (kind, size) = match &e.kind {
        Kind::Dir => (EntryType::Directory, 0),
        Kind::File { size } => (EntryType::Regular, *size),
        Kind::Symlink(_) => (EntryType::Symlink, 0),
        Kind::Hardlink(_) => (EntryType::Link, 0),
        Kind::Char { .. } => (EntryType::Char, 0),
        Kind::Block { .. } => (EntryType::Block, 0),
        Kind::Fifo => (EntryType::Fifo, 0),
    };
    header.set_entry_type(kind);
    header.set_mode(e.mode);
    header.set_mtime(mtime as u64);
    for (key, value, max) in [
        ("uid", e.uid, USTAR_MAX_ID),
        ("gid", e.gid, USTAR_MAX_ID),
        ("size", size, USTAR_MAX_SIZE),
    ] {
        let fits = value <= max;
        if !fits {
            pax.push((key.into(), value.to_string().into_bytes()));
        }
        let value = if fits { value } else { 0 };
        match key {
            "uid" => header.set_uid(value),
            "gid" => header.set_gid(value),
            _ => header.set_size(value),
        }
    }
    if let Kind::Char { major, minor } | Kind::Block { major, minor } = e.kind {
        let unrepresentable = |_| Error::Unrepresentable {
            path: e.path.clone(),
            message: format!("device {major}:{minor} does not fit a tar header"),
        };
        header.set_device_major(major).map_err(unrepresentable)?;
        header.set_device_minor(minor).map_err(unrepresentable)?;
    }
    let ustar = header
        .as_ustar_mut()
        .ok_or_else(|| Error::invalid("tar header", "not ustar"))?;
    if !split_name(name, &mut ustar.prefix, &mut ustar.name) {
        pax.push((b"path".to_vec(), name.to_vec()));
        ustar.name.copy_from_slice(&name[..100]);
    }
    if let Some(link) = link {
        let n = link.len().min(100);
        ustar.linkname[..n].copy_from_slice(&link[..n]);
        if link.len() > 100 {
            pax.push((b"linkpath".to_vec(), link.to_vec()));
        }
    }
    for (key, value) in &e.xattrs {
        let mut k = b"SCHILY.xattr.".to_vec();
        k.extend_from_slice(key.as_bytes());
        pax.push((k, value.clone()));
    }
    header.set_cksum();
    let w = |r: io::Result<()>| r.map_err(|err| Error::write(out_path, err));
    if !pax.is_empty() {
        let records = pax_records(&pax);
        let mut ph = Header::new_ustar();
        ph.set_entry_type(EntryType::XHeader);
        ph.set_mode(0o644);
        ph.set_mtime(mtime as u64);
        ph.set_size(records.len() as u64);
        let base = e.path.file_name().map_or(&b"root"[..], |n| n.as_bytes());
        let mut pname = b"PaxHeaders/".to_vec();
        pname.extend_from_slice(&base[..base.len().min(89)]);
        if let Some(u) = ph.as_ustar_mut() {
            u.name[..pname.len()].copy_from_slice(&pname);
        }
        ph.set_cksum();
        w(out.write_all(ph.as_bytes()))?;
        w(out.write_all(&records))?;
        w(pad(out, records.len() as u64))?;
    }
    w(out.write_all(header.as_bytes()))?;
    if let Kind::File { size } = e.kind {
        let mut file = File::open(&e.disk).map_err(|err| Error::read(&e.disk, "file", err))?;
        let mut read = 0u64;
        while read < size {
            let want = buf.len().min((size - read) as usize);
            let n = match file.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Error::read(&e.disk, "file", err)),
            };
            w(out.write_all(&buf[..n]))?;
            read += n as u64;
        }
        if read != size {
            return Err(Error::Changed {
                path: e.disk.clone(),
                expected: size,
                read,
            });
        }
        w(pad(out, size))?;
        return Ok(size);
    }
    Ok(0)
}

/// Puts `name` into the ustar name (100) and prefix (155) fields; false when it cannot fit.
fn split_name(name: &[u8], prefix: &mut [u8; 155], field: &mut [u8; 100]) -> bool {
    if name.len() <= 100 {
        field[..name.len()].copy_from_slice(name);
        return true;
    }
    // The trailing slash of a directory belongs to the last part.
    let search = &name[..name.len() - 1];
    for (i, _) in search.iter().enumerate().filter(|(_, b)| **b == b'/') {
        let rest = &name[i + 1..];
        if i <= 155 && rest.len() <= 100 && !rest.is_empty() {
            prefix[..i].copy_from_slice(&name[..i]);
            field[..rest.len()].copy_from_slice(rest);
            return true;
        }
    }
    false
}

/// PAX extended header records: `<len> <key>=<value>\n`, the length counting itself.
fn pax_records(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let base = key.len() + value.len() + 3; // space, '=', newline
        let mut len = base + 1;
        while base + len.to_string().len() != len {
            len = base + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(key);
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn pad<W: Write>(out: &mut W, len: u64) -> io::Result<()> {
    let rem = (512 - len % 512) % 512;
    out.write_all(&[0u8; 512][..rem as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_lengths_count_themselves() {
        let r = pax_records(&[(b"path".to_vec(), b"a".to_vec())]);
        assert_eq!(r, b"9 path=a\n");
        let long = vec![b'x'; 95];
        let r = pax_records(&[(b"path".to_vec(), long)]);
        assert!(
            r.starts_with(b"105 path="),
            "{}",
            String::from_utf8_lossy(&r)
        );
        assert_eq!(r.len(), 105);
    }

    #[test]
    fn long_names_split_or_fall_back() {
        let (mut p, mut n) = ([0u8; 155], [0u8; 100]);
        let name = format!("{}/{}", "d".repeat(120), "f".repeat(90));
        assert!(split_name(name.as_bytes(), &mut p, &mut n));
        assert_eq!(&p[..120], "d".repeat(120).as_bytes());
        let (mut p, mut n) = ([0u8; 155], [0u8; 100]);
        assert!(!split_name("x".repeat(300).as_bytes(), &mut p, &mut n));
    }
}
