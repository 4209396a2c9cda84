//! Portage's records of a root's installed packages (`/var/db/pkg/<category>/<PF>/`): which
//! package owns which file (`CONTENTS`), when the package was built (`BUILD_TIME`) and its
//! `SLOT`. Read to split an image into one layer per package.

use super::error::{Error, Result};
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Where Portage keeps its records, relative to the root.
pub const VDB: &str = "var/db/pkg";

/// What `CONTENTS` says a package installed at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    /// `dir`: a directory (shared with other packages; not a claim on its own).
    Dir,
    /// `obj`: a regular file as merged, with its modification time.
    Obj {
        /// Seconds since the epoch, as merged.
        mtime: i64,
    },
    /// `sym`: a symbolic link to `target`.
    Sym {
        /// The link's target as merged.
        target: PathBuf,
    },
    /// `fif` or `dev`: a named pipe or a device node.
    Special,
}

/// One line of `CONTENTS`: an absolute path (as the package image had it) and what is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentsLine {
    /// The absolute path, as recorded.
    pub path: PathBuf,
    /// What was installed there.
    pub owned: Owned,
}

/// Parses one `CONTENTS` line (`obj /usr/bin/x <md5> <mtime>`, `sym /a -> b <mtime>`,
/// `dir /usr`, `fif /p`, `dev /d`); `Err` says what is wrong with it.
pub fn parse_contents_line(line: &[u8]) -> std::result::Result<ContentsLine, &'static str> {
    let split = |line: &[u8]| -> Option<(Vec<u8>, Vec<u8>)> {
        let at = line.iter().position(|b| *b == b' ')?;
        Some((line[..at].to_vec(), line[at + 1..].to_vec()))
    };
    let (kind, rest) = split(line).ok_or("no path after the entry type")?;
    let last_field = |rest: &[u8]| -> Option<(Vec<u8>, Vec<u8>)> {
        let at = rest.iter().rposition(|b| *b == b' ')?;
        Some((rest[..at].to_vec(), rest[at + 1..].to_vec()))
    };
    let mtime = |field: &[u8]| -> std::result::Result<i64, &'static str> {
        std::str::from_utf8(field)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("the modification time is not a number")
    };
    let (path, owned) = match kind.as_slice() {
        b"dir" => (rest, Owned::Dir),
        b"fif" | b"dev" => (rest, Owned::Special),
        b"obj" => {
            let (rest, time) = last_field(&rest).ok_or("obj without md5 and mtime")?;
            let (path, _md5) = last_field(&rest).ok_or("obj without md5")?;
            (
                path,
                Owned::Obj {
                    mtime: mtime(&time)?,
                },
            )
        }
        b"sym" => {
            let (rest, time) = last_field(&rest).ok_or("sym without mtime")?;
            mtime(&time)?;
            let at = rest
                .windows(4)
                .position(|w| w == b" -> ")
                .ok_or("sym without ' -> '")?;
            let target = PathBuf::from(OsStr::from_bytes(&rest[at + 4..]));
            (rest[..at].to_vec(), Owned::Sym { target })
        }
        _ => return Err("unknown entry type (not dir, obj, sym, fif or dev)"),
    };
    if path.first() != Some(&b'/') {
        return Err("the path is not absolute");
    }
    Ok(ContentsLine {
        path: PathBuf::from(OsStr::from_bytes(&path)),
        owned,
    })
}

/// Splits a `PF` (`nginx-1.24.0-r3`) into its `PN` and version, the way PMS defines a
/// version: the first `-` followed by a valid version ends the name.
pub fn split_pf(pf: &str) -> Option<(&str, &str)> {
    pf.match_indices('-')
        .map(|(i, _)| i)
        .find(|&i| is_version(&pf[i + 1..]))
        .map(|i| (&pf[..i], &pf[i + 1..]))
}

/// PMS 3.2: `1.2.3b_rc2_p1-r4`.
fn is_version(v: &str) -> bool {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let v = match v.rsplit_once("-r") {
        Some((v, revision)) if numeric(revision) => v,
        _ => v,
    };
    let mut parts = v.split('_');
    let Some(numbers) = parts.next() else {
        return false;
    };
    let numbers = numbers
        .strip_suffix(|c: char| c.is_ascii_lowercase())
        .unwrap_or(numbers);
    if !numbers.split('.').all(numeric) {
        return false;
    }
    parts.all(|suffix| {
        ["alpha", "beta", "pre", "rc", "p"].iter().any(|name| {
            suffix
                .strip_prefix(name)
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
    })
}

/// One installed package, as Portage recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// `category/PF` (`www-servers/nginx-1.24.0-r3`).
    pub cpf: String,
    /// `category/PN:SLOT` (`www-servers/nginx:0`): stable across versions, so it orders and
    /// groups layers.
    pub key: String,
    /// `BUILD_TIME`, when recorded.
    pub build_time: Option<i64>,
    /// Its `CONTENTS`, in order.
    pub contents: Vec<ContentsLine>,
}

/// Reads every package record under `root`'s [`VDB`], sorted by key then `PF`. A root
/// without records has no packages. A line of `CONTENTS` that does not parse is skipped with
/// a warning naming the file and line: its file then counts as unowned, so nothing is lost.
pub fn read_packages(root: &Path) -> Result<Vec<Package>> {
    let vdb = root.join(VDB);
    let mut packages = Vec::new();
    for category in sorted_dirs(&vdb)? {
        let cat_dir = vdb.join(&category);
        for pf in sorted_dirs(&cat_dir)? {
            // Portage's merge in progress (`-MERGING-x`) and hidden entries are not packages.
            if pf.starts_with('-') || pf.starts_with('.') {
                continue;
            }
            let dir = cat_dir.join(&pf);
            let contents_path = dir.join("CONTENTS");
            let text = match fs::read(&contents_path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(Error::read(&contents_path, "CONTENTS", e)),
            };
            let mut contents = Vec::new();
            for (n, line) in text.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                match parse_contents_line(line) {
                    Ok(parsed) => contents.push(parsed),
                    Err(why) => tracing::warn!(
                        file = %contents_path.display(),
                        line = n + 1,
                        "{why}; its file goes into the top layer"
                    ),
                }
            }
            let build_time = read_small(&dir.join("BUILD_TIME"))?.and_then(|t| t.parse().ok());
            let slot = read_small(&dir.join("SLOT"))?
                .map(|s| s.split('/').next().unwrap_or_default().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "0".into());
            let pn = split_pf(&pf).map_or(pf.as_str(), |(pn, _)| pn);
            packages.push(Package {
                key: format!("{category}/{pn}:{slot}"),
                cpf: format!("{category}/{pf}"),
                build_time,
                contents,
            });
        }
    }
    packages.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.cpf.cmp(&b.cpf)));
    Ok(packages)
}

/// The subdirectory names of `dir`, sorted; none when it does not exist.
fn sorted_dirs(dir: &Path) -> Result<Vec<String>> {
    let items = match fs::read_dir(dir) {
        Ok(items) => items,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::read(dir, "directory", e)),
    };
    let mut names = Vec::new();
    for item in items {
        let item = item.map_err(|e| Error::read(dir, "directory", e))?;
        let is_dir = item
            .file_type()
            .map_err(|e| Error::read(item.path(), "metadata", e))?
            .is_dir();
        if let (true, Some(name)) = (is_dir, item.file_name().to_str()) {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// A small record file's trimmed text, `None` when absent.
pub(crate) fn read_small(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Ok(None),
        Err(e) => Err(Error::read(path, "record", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_lines_parse_with_spaces_in_paths() {
        let line = parse_contents_line(
            b"obj /usr/share/a b.txt d41d8cd98f00b204e9800998ecf8427e 1700000000",
        )
        .unwrap();
        assert_eq!(line.path, Path::new("/usr/share/a b.txt"));
        assert_eq!(
            line.owned,
            Owned::Obj {
                mtime: 1_700_000_000
            }
        );
        let line = parse_contents_line(b"sym /usr/lib/libz.so -> libz.so.1 1700000001").unwrap();
        assert_eq!(line.path, Path::new("/usr/lib/libz.so"));
        assert_eq!(
            line.owned,
            Owned::Sym {
                target: "libz.so.1".into()
            }
        );
        assert_eq!(
            parse_contents_line(b"dir /usr/lib").unwrap().owned,
            Owned::Dir
        );
        assert_eq!(
            parse_contents_line(b"fif /run/p").unwrap().owned,
            Owned::Special
        );
    }

    #[test]
    fn bad_contents_lines_say_why() {
        assert_eq!(
            parse_contents_line(b"obj /x abc notatime"),
            Err("the modification time is not a number")
        );
        assert_eq!(parse_contents_line(b"sym /x 12"), Err("sym without ' -> '"));
        assert_eq!(
            parse_contents_line(b"what /x"),
            Err("unknown entry type (not dir, obj, sym, fif or dev)")
        );
        assert_eq!(
            parse_contents_line(b"dir relative"),
            Err("the path is not absolute")
        );
        assert_eq!(
            parse_contents_line(b"obj"),
            Err("no path after the entry type")
        );
    }

    #[test]
    fn package_names_split_from_versions_as_pms_says() {
        assert_eq!(split_pf("nginx-1.24.0-r3"), Some(("nginx", "1.24.0-r3")));
        assert_eq!(split_pf("gtk+-3.24.41"), Some(("gtk+", "3.24.41")));
        assert_eq!(
            split_pf("font-adobe-100dpi-1.0.4"),
            Some(("font-adobe-100dpi", "1.0.4"))
        );
        assert_eq!(split_pf("python-3.12.7_p1"), Some(("python", "3.12.7_p1")));
        assert_eq!(
            split_pf("openssl-3.0.15a_rc2_p3-r1"),
            Some(("openssl", "3.0.15a_rc2_p3-r1"))
        );
        assert_eq!(split_pf("no-version"), None);
        assert_eq!(split_pf("bad-1.2_foo"), None);
    }

    #[test]
    fn records_read_sorted_by_package_and_slot() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let record = |cpf: &str, slot: &str, contents: &str| {
            let d = root.join(VDB).join(cpf);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("CONTENTS"), contents).unwrap();
            fs::write(d.join("SLOT"), slot).unwrap();
            fs::write(d.join("BUILD_TIME"), "1700000123\n").unwrap();
        };
        record(
            "dev-lang/python-3.13.1",
            "3.13\n",
            "obj /usr/bin/python3.13 ab 1\nbroken line\n",
        );
        record("dev-lang/python-3.12.8", "3.12/3.12\n", "");
        record("app-misc/hello-1.0", "0\n", "dir /usr\n");
        fs::create_dir_all(root.join(VDB).join("app-misc/-MERGING-x")).unwrap();
        let packages = read_packages(root).unwrap();
        let keys: Vec<_> = packages.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "app-misc/hello:0",
                "dev-lang/python:3.12",
                "dev-lang/python:3.13"
            ]
        );
        assert_eq!(packages[2].cpf, "dev-lang/python-3.13.1");
        assert_eq!(packages[2].build_time, Some(1_700_000_123));
        assert_eq!(packages[2].contents.len(), 1, "the broken line is skipped");
        assert!(read_packages(&root.join("nothing")).unwrap().is_empty());
    }
}
