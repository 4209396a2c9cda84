//! Do the shared libraries of a target root resolve? Every dynamic ELF file's `DT_NEEDED`
//! entries (and its `PT_INTERP`) are looked up inside the root the way the dynamic linker
//! would: `DT_RPATH`/`DT_RUNPATH` (with `$ORIGIN`), the root's `/etc/ld.so.conf` (and the files
//! it includes), then the default directories; a candidate counts only when it is an ELF file of
//! the same class and machine. Symbolic links are resolved inside the root, never outside.

use super::error::{Error, Result};
use super::walk::{Kind, walk_where};
use goblin::elf::{Elf, header};
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Directories never scanned: debug info (`.debug` files are ELF without loadable code) and
/// pseudo filesystems.
const SKIPPED: [&str; 4] = ["usr/lib/debug", "proc", "sys", "dev"];
/// Symbolic links followed while resolving one path before giving up (like the kernel's 40).
const MAX_LINKS: usize = 40;

/// An ELF file of the root whose libraries (or interpreter) do not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    /// The file, as a path inside the root (`/usr/bin/curl`).
    pub file: String,
    /// `DT_NEEDED` names found nowhere, in the file's order.
    pub libraries: Vec<String>,
    /// Its `PT_INTERP`, when that is missing.
    pub interpreter: Option<String>,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut what: Vec<String> = self.libraries.clone();
        if let Some(interp) = &self.interpreter {
            what.push(format!("interpreter {interp}"));
        }
        write!(f, "{}: {} not found", self.file, what.join(", "))
    }
}

/// What the check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LibraryReport {
    /// Dynamic ELF files looked at.
    pub checked: u64,
    /// The files with something missing, in path order.
    pub missing: Vec<Missing>,
}

impl LibraryReport {
    /// One line per file (at most `max`, then how many more).
    pub fn summary(&self, max: usize) -> String {
        let mut lines: Vec<String> = self
            .missing
            .iter()
            .take(max)
            .map(|m| m.to_string())
            .collect();
        if self.missing.len() > max {
            lines.push(format!("... and {} more files", self.missing.len() - max));
        }
        lines.join("\n")
    }
}

/// (ELF class, machine) of a file: only a library of the same pair can be loaded.
type Abi = (u8, u16);

/// Checks every dynamic ELF file under `root`.
pub fn check_libraries(root: &Path) -> Result<LibraryReport> {
    let mut checker = Checker {
        root: root.to_path_buf(),
        conf_dirs: ld_so_conf(root),
        found: HashMap::new(),
    };
    let mut report = LibraryReport::default();
    walk_where(
        root,
        |rel| !SKIPPED.iter().any(|s| rel.starts_with(s)),
        |entry| {
            if !matches!(entry.kind, Kind::File { size } if size >= 52) {
                return Ok(());
            }
            let Some(bytes) = read_elf(&entry.disk)? else {
                return Ok(());
            };
            let Ok(elf) = Elf::parse(&bytes) else {
                tracing::debug!(file = %entry.disk.display(), "not a parseable ELF file: skipped");
                return Ok(());
            };
            if elf.dynamic.is_none() && elf.interpreter.is_none() {
                return Ok(());
            }
            report.checked += 1;
            let abi = (elf.header.e_ident[header::EI_CLASS], elf.header.e_machine);
            let inside = Path::new("/").join(&entry.path);
            let origin = inside.parent().unwrap_or(Path::new("/")).to_path_buf();
            let mut search: Vec<PathBuf> = Vec::new();
            let expand = |p: &str| {
                let lib = if abi.0 == header::ELFCLASS64 {
                    "lib64"
                } else {
                    "lib"
                };
                PathBuf::from(
                    p.replace("${ORIGIN}", &origin.to_string_lossy())
                        .replace("$ORIGIN", &origin.to_string_lossy())
                        .replace("${LIB}", lib)
                        .replace("$LIB", lib),
                )
            };
            if elf.runpaths.is_empty() {
                search.extend(elf.rpaths.iter().flat_map(|r| r.split(':')).map(expand));
            }
            search.extend(elf.runpaths.iter().flat_map(|r| r.split(':')).map(expand));
            search.extend(checker.conf_dirs.iter().cloned());
            search.extend(default_dirs(abi.0).iter().map(PathBuf::from));
            let libraries: Vec<String> = elf
                .libraries
                .iter()
                .filter(|name| {
                    // A path in DT_NEEDED is loaded as such, `$ORIGIN` expanded (ld.so(8)).
                    let name = if name.contains('/') {
                        expand(name).to_string_lossy().into_owned()
                    } else {
                        name.to_string()
                    };
                    !checker.resolves(&name, &search, abi)
                })
                .map(|name| name.to_string())
                .collect();
            let interpreter = elf
                .interpreter
                .filter(|i| checker.file(Path::new(i), abi).is_none())
                .map(str::to_string);
            if !libraries.is_empty() || interpreter.is_some() {
                report.missing.push(Missing {
                    file: inside.display().to_string(),
                    libraries,
                    interpreter,
                });
            }
            Ok(())
        },
    )?;
    Ok(report)
}

struct Checker {
    root: PathBuf,
    conf_dirs: Vec<PathBuf>,
    /// (directory inside the root, name, abi) -> found.
    found: HashMap<(PathBuf, String, Abi), bool>,
}

impl Checker {
    fn resolves(&mut self, name: &str, search: &[PathBuf], abi: Abi) -> bool {
        if name.contains('/') {
            return self.file(Path::new(name), abi).is_some();
        }
        search.iter().any(|dir| {
            let key = (dir.clone(), name.to_string(), abi);
            if let Some(found) = self.found.get(&key) {
                return *found;
            }
            let found = self.file(&dir.join(name), abi).is_some();
            self.found.insert(key, found);
            found
        })
    }

    /// The file at `path` (inside the root) if it is an ELF file of `abi`.
    fn file(&self, path: &Path, abi: Abi) -> Option<PathBuf> {
        let disk = resolve_in_root(&self.root, path)?;
        let mut head = [0u8; 64];
        let mut file = File::open(&disk).ok()?;
        let n = read_full(&mut file, &mut head).ok()?;
        let h = Elf::parse_header(&head[..n]).ok()?;
        (fs::metadata(&disk).ok()?.is_file() && (h.e_ident[header::EI_CLASS], h.e_machine) == abi)
            .then_some(disk)
    }
}

/// The contents of `path` when it starts with the ELF magic.
fn read_elf(path: &Path) -> Result<Option<Vec<u8>>> {
    let mut file = File::open(path).map_err(|e| Error::read(path, "file", e))?;
    let mut magic = [0u8; 4];
    let n = read_full(&mut file, &mut magic).map_err(|e| Error::read(path, "file", e))?;
    if n < 4 || &magic != b"\x7fELF" {
        return Ok(None);
    }
    let mut bytes = magic.to_vec();
    file.read_to_end(&mut bytes)
        .map_err(|e| Error::read(path, "file", e))?;
    Ok(Some(bytes))
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The dynamic linker's built-in directories for an ELF class.
fn default_dirs(class: u8) -> &'static [&'static str] {
    if class == header::ELFCLASS64 {
        &["/lib64", "/usr/lib64", "/lib", "/usr/lib"]
    } else {
        &["/lib", "/usr/lib", "/lib32", "/usr/lib32"]
    }
}

/// The directories of the root's `/etc/ld.so.conf`, following `include` lines (with a `*`
/// wildcard in the file name part), at most 8 levels deep.
fn ld_so_conf(root: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    read_conf(root, Path::new("/etc/ld.so.conf"), &mut dirs, 0);
    dirs
}

fn read_conf(root: &Path, file: &Path, dirs: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Some(disk) = resolve_in_root(root, file) else {
        return;
    };
    let Ok(text) = fs::read_to_string(disk) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if let Some(pattern) = line.strip_prefix("include") {
            for pattern in pattern.split_whitespace() {
                let pattern = Path::new("/etc").join(pattern);
                for included in glob_in_root(root, &pattern) {
                    read_conf(root, &included, dirs, depth + 1);
                }
            }
        } else {
            for dir in line
                .split([':', ',', ' ', '\t'])
                .filter(|d| d.starts_with('/'))
            {
                let dir = PathBuf::from(dir);
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
}

/// The files matching `pattern` (a `*` allowed in its last component), sorted.
fn glob_in_root(root: &Path, pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![pattern.to_path_buf()];
    };
    let Some(disk) = resolve_in_root(root, dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = fs::read_dir(disk)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.len() >= prefix.len() + suffix.len())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .map(|n| dir.join(n))
        .collect();
    out.sort();
    out
}

/// Where `path` (absolute, as seen inside the root) is on disk, following symbolic links as if
/// `root` were `/`: absolute targets restart at the root and `..` never climbs above it.
/// `None` when it does not exist or loops.
pub fn resolve_in_root(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut pending: Vec<std::ffi::OsString> = components(path);
    pending.reverse();
    let mut resolved: Vec<std::ffi::OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let mut disk = root.to_path_buf();
        disk.extend(&resolved);
        disk.push(&part);
        let meta = fs::symlink_metadata(&disk).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return None;
            }
            let target = fs::read_link(&disk).ok()?;
            if target.is_absolute() {
                resolved.clear();
            }
            let mut more = components(&target);
            more.reverse();
            pending.extend(more);
        } else {
            resolved.push(part);
        }
    }
    let mut disk = root.to_path_buf();
    disk.extend(&resolved);
    Some(disk)
}

/// The normal and `..` components of `path` (root and `.` dropped).
fn components(path: &Path) -> Vec<std::ffi::OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A real dynamic executable of this machine (the test binary's own loader needs).
    fn host_elf() -> PathBuf {
        std::env::current_exe().expect("test binary")
    }

    fn needed(path: &Path) -> (Vec<String>, Option<String>) {
        let bytes = fs::read(path).unwrap();
        let elf = Elf::parse(&bytes).unwrap();
        (
            elf.libraries.iter().map(|s| s.to_string()).collect(),
            elf.interpreter.map(str::to_string),
        )
    }

    #[test]
    fn a_root_without_the_libraries_reports_each_one_per_file() {
        let root = tempfile::tempdir().unwrap();
        let bin = root.path().join("usr/bin");
        fs::create_dir_all(&bin).unwrap();
        fs::copy(host_elf(), bin.join("tool")).unwrap();
        fs::write(bin.join("script"), "#!/bin/sh\n").unwrap();
        let (libs, interp) = needed(&host_elf());
        assert!(!libs.is_empty(), "the test binary links shared libraries");

        let report = check_libraries(root.path()).unwrap();
        assert_eq!(report.checked, 1);
        assert_eq!(report.missing.len(), 1);
        let m = &report.missing[0];
        assert_eq!(m.file, "/usr/bin/tool");
        assert_eq!(m.libraries, libs);
        assert_eq!(m.interpreter, interp);
        assert!(report.summary(10).starts_with("/usr/bin/tool: "));
    }

    #[test]
    fn libraries_found_through_ld_so_conf_and_links_resolve() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::create_dir_all(r.join("opt/libs")).unwrap();
        fs::create_dir_all(r.join("etc/ld.so.conf.d")).unwrap();
        fs::copy(host_elf(), r.join("usr/bin/tool")).unwrap();
        fs::write(r.join("etc/ld.so.conf"), "include ld.so.conf.d/*.conf\n").unwrap();
        fs::write(r.join("etc/ld.so.conf.d/10-opt.conf"), "/opt/libs\n").unwrap();
        let (libs, interp) = needed(&host_elf());
        // Each library: the real file under an odd name, reached by an absolute symlink.
        for (i, lib) in libs.iter().enumerate() {
            fs::copy(host_elf(), r.join(format!("opt/libs/real{i}"))).unwrap();
            symlink(format!("/opt/libs/real{i}"), r.join("opt/libs").join(lib)).unwrap();
        }
        if let Some(interp) = interp {
            let at = r.join(interp.trim_start_matches('/'));
            fs::create_dir_all(at.parent().unwrap()).unwrap();
            fs::copy(host_elf(), at).unwrap();
        }
        let report = check_libraries(r).unwrap();
        assert_eq!(report.missing, [], "{}", report.summary(10));
    }

    #[test]
    fn a_needed_path_with_origin_is_looked_up_beside_the_file() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("opt/app/bin")).unwrap();
        // The test binary with its first library renamed, same length, to a path.
        let mut bytes = fs::read(host_elf()).unwrap();
        let (libs, interp) = needed(&host_elf());
        let first = libs[0].clone();
        let path = format!("$ORIGIN/{}", "x".repeat(first.len().saturating_sub(8)));
        assert_eq!(path.len(), first.len(), "{first} is long enough");
        let at = bytes
            .windows(first.len() + 1)
            .position(|w| w == [first.as_bytes(), &[0]].concat())
            .unwrap();
        bytes[at..at + first.len()].copy_from_slice(path.as_bytes());
        fs::write(r.join("opt/app/bin/tool"), &bytes).unwrap();
        for lib in &libs[1..] {
            fs::create_dir_all(r.join("usr/lib")).unwrap();
            fs::copy(host_elf(), r.join("usr/lib").join(lib)).unwrap();
        }
        if let Some(interp) = interp {
            let at = r.join(interp.trim_start_matches('/'));
            fs::create_dir_all(at.parent().unwrap()).unwrap();
            fs::copy(host_elf(), at).unwrap();
        }
        let report = check_libraries(r).unwrap();
        let missing: Vec<&str> = report
            .missing
            .iter()
            .filter(|m| m.file == "/opt/app/bin/tool")
            .flat_map(|m| m.libraries.iter().map(String::as_str))
            .collect();
        assert_eq!(missing, [path.as_str()]);
        // Beside the file, as ld.so expands it.
        let name = path.trim_start_matches("$ORIGIN/");
        fs::copy(host_elf(), r.join("opt/app/bin").join(name)).unwrap();
        let report = check_libraries(r).unwrap();
        assert!(
            report.missing.iter().all(|m| m.file != "/opt/app/bin/tool"),
            "{}",
            report.summary(10)
        );
    }

    #[test]
    fn a_library_of_another_class_does_not_count() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("usr/bin")).unwrap();
        fs::create_dir_all(r.join("usr/lib64")).unwrap();
        fs::copy(host_elf(), r.join("usr/bin/tool")).unwrap();
        let (libs, _) = needed(&host_elf());
        let mut other = fs::read(host_elf()).unwrap();
        other[4] = if other[4] == 2 { 1 } else { 2 }; // flip EI_CLASS
        fs::write(r.join("usr/lib64").join(&libs[0]), other).unwrap();
        let report = check_libraries(r).unwrap();
        assert!(report.missing[0].libraries.contains(&libs[0]));
    }

    #[test]
    fn links_never_leave_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("a")).unwrap();
        symlink("/etc", r.join("a/etc")).unwrap();
        symlink("../../../../../../etc/passwd", r.join("a/up")).unwrap();
        symlink("loop", r.join("loop")).unwrap();
        assert_eq!(resolve_in_root(r, Path::new("/a/etc/passwd")), None);
        assert_eq!(resolve_in_root(r, Path::new("/a/up")), None);
        assert_eq!(resolve_in_root(r, Path::new("/loop")), None);
        fs::create_dir_all(r.join("etc")).unwrap();
        fs::write(r.join("etc/passwd"), "").unwrap();
        assert_eq!(
            resolve_in_root(r, Path::new("/a/up")),
            Some(r.join("etc/passwd"))
        );
    }
}
