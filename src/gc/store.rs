//! gc's I/O: reading build records, leases and the volumes' files; the locks; removing what the
//! plan says and rewriting the `Packages` indexes. The decision itself is [`super::decide`].

use super::decide::{FileInfo, GcPlan, Listing, PkgdirListing};
use super::records::{BuildRecord, Lease};
use crate::binhost::index::Index;
use anyhow::Context as _;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// zentoo's directory in the binary package volume (hidden from the binhost).
pub const META_DIR: &str = ".zentoo";
/// The gc lock: builds take it briefly to write a lease; gc holds it while it runs.
pub const GC_LOCK: &str = "gc.lock";
/// The emerge double's (mkdir) lock on a PKGDIR's index.
pub const PKGDIR_LOCK_DIR: &str = ".Packages.portage_lockdir";
/// Portage's (fcntl) lock file of a PKGDIR's index.
pub const PORTAGE_LOCK_FILE: &str = "Packages.portage_lockfile";
/// A lock older than this is a crashed holder's.
const STALE_LOCK: Duration = Duration::from_secs(3600);

/// Seconds since the epoch of `time`.
pub fn epoch(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Every build record under `<binpkgs>/.zentoo/builds/`, with its path relative to `.zentoo`
/// as id. A record that does not parse is an error naming it (it may protect binpkgs).
pub fn read_records(binpkgs: &Path) -> anyhow::Result<Vec<(String, BuildRecord)>> {
    let dir = binpkgs.join(META_DIR).join("builds");
    let mut out = Vec::new();
    for image in sorted_entries(&dir)? {
        if !image.is_dir() {
            continue;
        }
        for file in sorted_entries(&image)? {
            if let Some(record) = read_json::<BuildRecord>(&file)? {
                out.push((relative(&binpkgs.join(META_DIR), &file), record));
            }
        }
    }
    Ok(out)
}

/// Every lease under `<binpkgs>/.zentoo/leases/`, with its path relative to `.zentoo` as id.
pub fn read_leases(binpkgs: &Path) -> anyhow::Result<Vec<(String, Lease)>> {
    let dir = binpkgs.join(META_DIR).join("leases");
    let mut out = Vec::new();
    for file in sorted_entries(&dir)? {
        if let Some(lease) = read_json::<Lease>(&file)? {
            out.push((relative(&binpkgs.join(META_DIR), &file), lease));
        }
    }
    Ok(out)
}

fn read_json<T: serde::de::DeserializeOwned>(file: &Path) -> anyhow::Result<Option<T>> {
    let name = file.file_name().map(|n| n.to_string_lossy().to_string());
    if !file.is_file() || !name.is_some_and(|n| n.ends_with(".json") && !n.starts_with('.')) {
        return Ok(None);
    }
    let text = fs::read_to_string(file).with_context(|| file.display().to_string())?;
    serde_json::from_str(&text).map(Some).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (a broken build record: fix or delete it)",
            file.display()
        )
    })
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", dir.display())),
    };
    let mut out: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    out.sort();
    Ok(out)
}

fn relative(base: &Path, path: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .to_string()
}

/// The files of the volumes: every PKGDIR found (and those `extra` names that have no index
/// yet), and the distfiles when a DISTDIR is given.
pub fn list(
    binpkgs: &Path,
    distfiles: Option<&Path>,
    extra: &BTreeSet<String>,
) -> anyhow::Result<Listing> {
    let mut rels: BTreeSet<String> = crate::binhost::discover::pkgdirs(binpkgs)?
        .into_iter()
        .map(|p| p.rel)
        .collect();
    rels.extend(extra.iter().filter(|r| binpkgs.join(r).is_dir()).cloned());
    let mut pkgdirs = Vec::new();
    for rel in rels {
        let dir = binpkgs.join(&rel);
        let mut files = Vec::new();
        walk_binpkgs(&dir, &dir, 0, &mut files)?;
        let indexed = match fs::read_to_string(dir.join("Packages")) {
            Ok(text) => Index::parse(&text)
                .map_err(|e| anyhow::anyhow!("{}/Packages: {e}", dir.display()))?
                .packages
                .iter()
                .filter_map(|b| b.get("PATH").map(str::to_string))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(anyhow::anyhow!("{}/Packages: {e}", dir.display())),
        };
        pkgdirs.push(PkgdirListing {
            rel,
            files,
            indexed,
        });
    }
    let distfiles = match distfiles {
        None => None,
        Some(dir) => {
            let mut files = Vec::new();
            for path in sorted_entries(dir)? {
                let meta = fs::symlink_metadata(&path)?;
                let name = relative(dir, &path);
                if meta.is_file() && !name.starts_with('.') {
                    files.push(info(name, &meta));
                }
            }
            Some(files)
        }
    };
    Ok(Listing { pkgdirs, distfiles })
}

fn info(path: String, meta: &fs::Metadata) -> FileInfo {
    FileInfo {
        path,
        size: meta.len(),
        mtime: meta.modified().map_or(0, epoch),
    }
}

/// Binary package files (`*.gpkg.tar`, `*.tbz2`, `*.xpak`) and partial downloads
/// (`*.partial`) under a PKGDIR: `<cat>/<pkg>/<file>` or `<cat>/<file>`; hidden directories
/// (lock directories) skipped.
fn walk_binpkgs(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<FileInfo>,
) -> anyhow::Result<()> {
    for path in sorted_entries(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let meta = fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            if depth < 2 && !name.starts_with('.') {
                walk_binpkgs(root, &path, depth + 1, out)?;
            }
        } else if meta.is_file()
            && depth > 0
            && [".gpkg.tar", ".tbz2", ".xpak", ".partial"]
                .iter()
                .any(|s| name.ends_with(s))
        {
            out.push(info(relative(root, &path), &meta));
        }
    }
    Ok(())
}

/// A mkdir lock, removed when dropped.
pub struct DirLock {
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock directory `path`, waiting up to `wait`; a lock older than an hour is
    /// broken (its holder crashed).
    pub fn take(path: &Path, wait: Duration, owner: &str) -> anyhow::Result<DirLock> {
        let start = Instant::now();
        loop {
            match fs::create_dir(path) {
                Ok(()) => {
                    let _ = fs::write(path.join("owner"), format!("{owner}\n"));
                    return Ok(DirLock {
                        path: path.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = fs::metadata(path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_some_and(|a| a > STALE_LOCK) {
                        tracing::warn!(lock = %path.display(), "breaking a stale lock");
                        let _ = fs::remove_dir_all(path);
                        continue;
                    }
                    if start.elapsed() > wait {
                        let holder = fs::read_to_string(path.join("owner")).unwrap_or_default();
                        anyhow::bail!(
                            "{} is held (by {}): another zentoo gc, or a build taking its lease; \
                             try again later (remove it if nothing runs)",
                            path.display(),
                            holder.trim()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => anyhow::bail!("cannot take the lock {}: {e}", path.display()),
            }
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.path.join("owner"));
        let _ = fs::remove_dir(&self.path);
    }
}

/// Takes the gc lock of the binary package volume.
pub fn lock_gc(binpkgs: &Path) -> anyhow::Result<DirLock> {
    let meta = binpkgs.join(META_DIR);
    fs::create_dir_all(&meta).with_context(|| meta.display().to_string())?;
    DirLock::take(
        &meta.join(GC_LOCK),
        Duration::from_secs(120),
        &format!("gc {}", std::process::id()),
    )
}

/// The locks emerge takes on a PKGDIR's index: the emerge double's lock directory and
/// Portage's fcntl lock on `Packages.portage_lockfile` (removed after, as Portage does).
struct IndexLock {
    _dir: DirLock,
    file: Option<(fs::File, PathBuf)>,
}

impl IndexLock {
    fn take(pkgdir: &Path) -> anyhow::Result<IndexLock> {
        let dir = DirLock::take(
            &pkgdir.join(PKGDIR_LOCK_DIR),
            Duration::from_secs(300),
            &format!("zentoo-gc {}", std::process::id()),
        )?;
        let path = pkgdir.join(PORTAGE_LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| path.display().to_string())?;
        rustix::fs::fcntl_lock(&file, rustix::fs::FlockOperation::LockExclusive)
            .with_context(|| format!("locking {}", path.display()))?;
        Ok(IndexLock {
            _dir: dir,
            file: Some((file, path)),
        })
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        if let Some((file, path)) = self.file.take() {
            let _ = fs::remove_file(&path);
            drop(file);
        }
    }
}

/// What [`apply`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// Binary package files removed.
    pub binpkgs: usize,
    /// Distfiles removed.
    pub distfiles: usize,
    /// `Packages` entries dropped.
    pub index_entries: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Carries out `plan`: per PKGDIR, under its index locks, drops the index entries and removes
/// the files; then the distfiles, the dropped records and the stale leases. Hold the gc lock.
pub fn apply(
    binpkgs: &Path,
    distfiles: Option<&Path>,
    plan: &GcPlan,
    now: i64,
) -> anyhow::Result<Applied> {
    let mut done = Applied::default();
    let mut pkgdirs: BTreeSet<&str> = plan.index_drops.keys().map(String::as_str).collect();
    pkgdirs.extend(plan.binpkgs.iter().filter_map(|r| r.pkgdir.as_deref()));
    for rel in pkgdirs {
        let dir = binpkgs.join(rel);
        let _lock = IndexLock::take(&dir)?;
        if let Some(drops) = plan.index_drops.get(rel) {
            done.index_entries += rewrite_index(&dir, drops, now)?;
        }
        for removal in plan
            .binpkgs
            .iter()
            .filter(|r| r.pkgdir.as_deref() == Some(rel))
        {
            let path = dir.join(&removal.path);
            if remove(&path)? {
                done.binpkgs += 1;
                done.bytes += removal.size;
                prune_empty_parents(&dir, &path);
            }
        }
    }
    if let Some(dir) = distfiles {
        for removal in &plan.distfiles {
            if remove(&dir.join(&removal.path))? {
                done.distfiles += 1;
                done.bytes += removal.size;
            }
        }
    }
    let meta = binpkgs.join(META_DIR);
    for id in plan.records.iter().chain(&plan.stale_leases) {
        remove(&meta.join(id))?;
        let _ = fs::remove_dir(meta.join(id).parent().unwrap_or(&meta));
    }
    Ok(done)
}

/// Drops the entries whose `PATH` is in `drops` from `<dir>/Packages` (written aside, then
/// renamed over it). Returns how many went.
fn rewrite_index(dir: &Path, drops: &BTreeSet<String>, now: i64) -> anyhow::Result<usize> {
    let path = dir.join("Packages");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
    };
    let mut index = Index::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let dropped = index.retain(now, |b| !b.get("PATH").is_some_and(|p| drops.contains(p)));
    if dropped > 0 {
        let tmp = dir.join(".Packages.zentoo-gc");
        fs::write(&tmp, index.render()).with_context(|| tmp.display().to_string())?;
        fs::rename(&tmp, &path).with_context(|| path.display().to_string())?;
    }
    Ok(dropped)
}

fn remove(path: &Path) -> anyhow::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow::anyhow!("removing {}: {e}", path.display())),
    }
}

/// Removes the now-empty `<cat>/<pkg>` and `<cat>` directories above a removed file.
fn prune_empty_parents(pkgdir: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == pkgdir || !d.starts_with(pkgdir) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::decide::{Policy, plan_gc};

    const RECORD: &str = r#"{"version":1,"image":"web","build":"b2","status":"built","pkgdir":"chost/id","started":1,"finished":2,"binpkgs":[{"cpv":"a/y-1","buildId":1,"path":"a/y/y-1-1.gpkg.tar","role":"used"}],"distfiles":["y-1.tar.gz"]}"#;
    const INDEX: &str = "CHOST: chost\nPACKAGES: 2\nTIMESTAMP: 1\nVERSION: 0\n\nCPV: a/x-1\nBUILD_ID: 1\nPATH: a/x/x-1-1.gpkg.tar\n\nCPV: a/y-1\nBUILD_ID: 1\nPATH: a/y/y-1-1.gpkg.tar\n\n";

    #[test]
    fn gc_removes_the_unreferenced_binpkg_and_its_index_entry() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("binpkgs");
        let dist = tmp.path().join("distfiles");
        let pkgdir = root.join("chost/id");
        for d in ["a/x", "a/y"] {
            fs::create_dir_all(pkgdir.join(d)).expect("mkdir");
        }
        fs::create_dir_all(&dist).expect("mkdir");
        fs::write(pkgdir.join("Packages"), INDEX).expect("index");
        fs::write(pkgdir.join("a/x/x-1-1.gpkg.tar"), "xx").expect("x");
        fs::write(pkgdir.join("a/y/y-1-1.gpkg.tar"), "yyy").expect("y");
        fs::write(dist.join("x-1.tar.gz"), "x").expect("dx");
        fs::write(dist.join("y-1.tar.gz"), "y").expect("dy");
        fs::create_dir_all(root.join(".zentoo/builds/web")).expect("mkdir");
        fs::write(root.join(".zentoo/builds/web/b2.json"), RECORD).expect("record");

        let records = read_records(&root).expect("records");
        assert_eq!(records[0].0, "builds/web/b2.json");
        let listing = list(&root, Some(&dist), &BTreeSet::new()).expect("list");
        assert_eq!(listing.pkgdirs[0].files.len(), 2);
        let now = epoch(SystemTime::now()) + 7200;
        let policy = Policy {
            keep: 1,
            now,
            lease_ttl: 3600,
            grace: 3600,
            images: None,
        };
        let plan = plan_gc(&records, &[], &listing, &policy);
        let _lock = lock_gc(&root).expect("gc lock");
        let done = apply(&root, Some(&dist), &plan, now).expect("apply");
        assert_eq!(
            (done.binpkgs, done.distfiles, done.index_entries),
            (1, 1, 1)
        );
        assert_eq!(done.bytes, 3);
        assert!(!pkgdir.join("a/x").exists(), "empty package dir pruned");
        assert!(pkgdir.join("a/y/y-1-1.gpkg.tar").exists());
        assert!(!dist.join("x-1.tar.gz").exists() && dist.join("y-1.tar.gz").exists());
        let index = fs::read_to_string(pkgdir.join("Packages")).expect("index");
        assert!(
            index.contains("PACKAGES: 1\n") && !index.contains("x-1-1.gpkg.tar"),
            "{index}"
        );
        assert!(!pkgdir.join(PKGDIR_LOCK_DIR).exists() && !pkgdir.join(PORTAGE_LOCK_FILE).exists());
        // A second gc lock is refused while one is held (after its wait, so take a short one).
        let held = DirLock::take(
            &root.join(".zentoo/gc.lock"),
            Duration::from_millis(300),
            "x",
        );
        assert!(held.is_err());
    }

    #[test]
    fn a_broken_record_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join(".zentoo/builds/web");
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("b1.json"), "{").expect("write");
        let err = read_records(tmp.path()).expect_err("broken");
        assert!(err.to_string().contains("b1.json"), "{err}");
    }
}
