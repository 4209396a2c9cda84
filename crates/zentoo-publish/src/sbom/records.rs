//! What Portage recorded about each installed package, for an SBOM: the `/var/db/pkg` files
//! beyond `CONTENTS` (`SLOT`, `USE`, `IUSE`, `LICENSE`, `HOMEPAGE`, `SRC_URI`, `repository`,
//! `BUILD_ID`, `BINPKGMD5`, ...) and the digests of the files it installed, as they are in
//! the root.

use crate::error::{Error, Result};
use crate::vdb::{self, Owned};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// One installed package.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// `www-servers`.
    pub category: String,
    /// `nginx`.
    pub name: String,
    /// `1.24.0-r3` (PVR).
    pub version: String,
    /// `SLOT` without the sub-slot.
    pub slot: String,
    /// The sub-slot, when recorded.
    pub subslot: Option<String>,
    /// The USE flags it was built with that it declares in `IUSE`, sorted.
    pub use_flags: Vec<String>,
    /// Every enabled flag of `USE` (for `LICENSE` conditionals).
    pub use_enabled: BTreeSet<String>,
    /// `LICENSE` as recorded.
    pub license: String,
    /// `HOMEPAGE` URLs.
    pub homepage: Vec<String>,
    /// `SRC_URI` URLs (`->` renames and conditionals dropped), in order.
    pub sources: Vec<String>,
    /// `A`: the distfiles it was built from.
    pub distfiles: Vec<String>,
    /// `DESCRIPTION`.
    pub description: Option<String>,
    /// The ebuild repository (`repository`).
    pub repository: Option<String>,
    /// The binary package's `BUILD_ID`.
    pub build_id: Option<String>,
    /// The binary package's MD5 (`BINPKGMD5`), when it was merged from one.
    pub binpkg_md5: Option<String>,
    /// The regular files it installed that are in the root, with their digests, by path.
    pub files: Vec<FileRecord>,
}

impl Record {
    /// `www-servers/nginx`.
    pub fn atom(&self) -> String {
        format!("{}/{}", self.category, self.name)
    }

    /// `www-servers/nginx-1.24.0-r3`.
    pub fn cpf(&self) -> String {
        format!("{}/{}-{}", self.category, self.name, self.version)
    }

    /// The package URL (`pkg:ebuild/www-servers/nginx@1.24.0-r3`), as the PURL spec writes
    /// Gentoo packages.
    pub fn purl(&self) -> String {
        format!(
            "pkg:ebuild/{}/{}@{}",
            purl_escape(&self.category),
            purl_escape(&self.name),
            purl_escape(&self.version)
        )
    }
}

/// PURL percent-encoding of a segment: `+` and anything else outside the unreserved set.
fn purl_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A regular file of a package, as it is in the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRecord {
    /// Absolute path in the root (`/usr/bin/nginx`).
    pub path: PathBuf,
    /// SHA-1, hex.
    pub sha1: String,
    /// SHA-256, hex.
    pub sha256: String,
}

/// Reads every package record of `root` (sorted as [`vdb::read_packages`] sorts them) and
/// digests their files on `threads` threads. Files a record lists that are not regular files
/// in the root (removed after the merge, replaced by a link) are left out.
pub fn read_records(root: &Path, threads: usize) -> Result<Vec<Record>> {
    let packages = vdb::read_packages(root)?;
    let mut records = Vec::with_capacity(packages.len());
    let mut pending: Vec<(usize, PathBuf)> = Vec::new();
    for (index, package) in packages.iter().enumerate() {
        let dir = root.join(vdb::VDB).join(&package.cpf);
        records.push(read_record(&dir, &package.cpf)?);
        let mut paths = BTreeSet::new();
        for line in &package.contents {
            if matches!(line.owned, Owned::Obj { .. }) {
                paths.insert(line.path.clone());
            }
        }
        pending.extend(paths.into_iter().map(|p| (index, p)));
    }
    for (index, file) in digest_files(root, &pending, threads)? {
        records[index].files.push(file);
    }
    Ok(records)
}

/// The metadata of the record in `dir` (`category/PF` is `cpf`).
fn read_record(dir: &Path, cpf: &str) -> Result<Record> {
    let field = |name: &str| -> Result<Option<String>> {
        vdb::read_small(&dir.join(name)).map(|v| v.filter(|s| !s.is_empty()))
    };
    let (category, pf) = cpf.split_once('/').unwrap_or(("", cpf));
    let (name, version) = vdb::split_pf(pf).unwrap_or((pf, ""));
    let slot_field = field("SLOT")?.unwrap_or_else(|| "0".into());
    let (slot, subslot) = match slot_field.split_once('/') {
        Some((slot, sub)) => (slot.to_string(), Some(sub.to_string())),
        None => (slot_field.clone(), None),
    };
    let use_enabled: BTreeSet<String> = field("USE")?
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let declared: BTreeSet<String> = field("IUSE")?
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.trim_start_matches(['+', '-']).to_string())
        .collect();
    let words = |v: Option<String>| -> Vec<String> {
        v.unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    Ok(Record {
        category: category.to_string(),
        name: name.to_string(),
        version: version.to_string(),
        slot,
        subslot,
        use_flags: use_enabled.intersection(&declared).cloned().collect(),
        license: field("LICENSE")?.unwrap_or_default(),
        homepage: words(field("HOMEPAGE")?),
        sources: source_urls(&field("SRC_URI")?.unwrap_or_default()),
        distfiles: words(field("A")?),
        description: field("DESCRIPTION")?,
        repository: field("repository")?,
        build_id: field("BUILD_ID")?,
        binpkg_md5: field("BINPKGMD5")?,
        use_enabled,
        files: Vec::new(),
    })
}

/// The URLs of a `SRC_URI` value: `->` renames, conditionals and groups dropped.
pub fn source_urls(value: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for token in value.split_whitespace() {
        if token.contains("://") && !urls.iter().any(|u| u == token) {
            urls.push(token.to_string());
        }
    }
    urls
}

/// Digests `files` (an owner index and an absolute path each) on `threads` threads, in the
/// order given; files that are not regular files are skipped.
fn digest_files(
    root: &Path,
    files: &[(usize, PathBuf)],
    threads: usize,
) -> Result<Vec<(usize, FileRecord)>> {
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, usize, FileRecord)>> {
        let mut done = Vec::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let at = next.fetch_add(1, Ordering::Relaxed);
            let Some((owner, path)) = files.get(at) else {
                return Ok(done);
            };
            let relative = path.strip_prefix("/").unwrap_or(path);
            let on_disk = root.join(relative);
            if let Some(record) = digest_file(&on_disk, path, &mut buf)? {
                done.push((at, *owner, record));
            }
        }
    };
    let mut all: Vec<(usize, usize, FileRecord)> = Vec::with_capacity(files.len());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads.max(1)).map(|_| scope.spawn(work)).collect();
        for handle in handles {
            match handle.join() {
                Ok(done) => all.extend(done?),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        Ok(())
    })?;
    all.sort_by_key(|(at, _, _)| *at);
    Ok(all.into_iter().map(|(_, owner, r)| (owner, r)).collect())
}

/// SHA-1 and SHA-256 of the regular file at `on_disk`; `None` when it is missing or not a
/// regular file (links are not followed).
fn digest_file(on_disk: &Path, path: &Path, buf: &mut [u8]) -> Result<Option<FileRecord>> {
    match std::fs::symlink_metadata(on_disk) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::read(on_disk, "metadata", e)),
    }
    let mut file = File::open(on_disk).map_err(|e| Error::read(on_disk, "file", e))?;
    let (mut sha1, mut sha256) = (Sha1::new(), Sha256::new());
    loop {
        let n = file
            .read(buf)
            .map_err(|e| Error::read(on_disk, "file", e))?;
        if n == 0 {
            break;
        }
        sha1.update(&buf[..n]);
        sha256.update(&buf[..n]);
    }
    Ok(Some(FileRecord {
        path: path.to_path_buf(),
        sha1: hex::encode(sha1.finalize()),
        sha256: hex::encode(sha256.finalize()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn src_uri_keeps_the_urls_once() {
        assert_eq!(
            source_urls(
                "https://a/x-1.tar.gz -> x.tgz ssl? ( https://b/y.patch ) https://a/x-1.tar.gz"
            ),
            ["https://a/x-1.tar.gz", "https://b/y.patch"]
        );
    }

    #[test]
    fn purls_escape_what_the_spec_reserves() {
        let record = Record {
            category: "dev-libs".into(),
            name: "libsigc++".into(),
            version: "2.12.1-r1".into(),
            ..Record::default()
        };
        assert_eq!(record.purl(), "pkg:ebuild/dev-libs/libsigc%2B%2B@2.12.1-r1");
    }

    #[test]
    fn records_carry_portage_fields_and_file_digests() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let vdb = root.join(vdb::VDB).join("www-servers/nginx-1.24.0-r3");
        fs::create_dir_all(&vdb).unwrap();
        for (name, value) in [
            ("SLOT", "mainline/1.24\n"),
            ("USE", "amd64 ssl elibc_glibc\n"),
            ("IUSE", "+ssl -debug http2\n"),
            ("LICENSE", "BSD-2\n"),
            ("HOMEPAGE", "https://nginx.org\n"),
            (
                "SRC_URI",
                "https://nginx.org/download/nginx-1.24.0.tar.gz\n",
            ),
            ("A", "nginx-1.24.0.tar.gz\n"),
            ("repository", "gentoo\n"),
            ("BUILD_ID", "7\n"),
            ("BINPKGMD5", "0123\n"),
            (
                "CONTENTS",
                "dir /usr\nobj /usr/sbin/nginx ab 1\nobj /usr/gone x 1\nsym /usr/l -> nginx 1\n",
            ),
        ] {
            fs::write(vdb.join(name), value).unwrap();
        }
        fs::create_dir_all(root.join("usr/sbin")).unwrap();
        fs::write(root.join("usr/sbin/nginx"), b"abc").unwrap();
        let records = read_records(root, 2).unwrap();
        let r = &records[0];
        assert_eq!(r.atom(), "www-servers/nginx");
        assert_eq!(r.version, "1.24.0-r3");
        assert_eq!(
            (r.slot.as_str(), r.subslot.as_deref()),
            ("mainline", Some("1.24"))
        );
        assert_eq!(r.use_flags, ["ssl"]);
        assert!(r.use_enabled.contains("amd64"));
        assert_eq!(r.build_id.as_deref(), Some("7"));
        assert_eq!(r.binpkg_md5.as_deref(), Some("0123"));
        assert_eq!(
            r.sources,
            ["https://nginx.org/download/nginx-1.24.0.tar.gz"]
        );
        assert_eq!(r.files.len(), 1, "the missing file is left out");
        assert_eq!(r.files[0].path, Path::new("/usr/sbin/nginx"));
        assert_eq!(r.files[0].sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            r.files[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
