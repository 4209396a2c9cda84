//! gc's I/O: reading build records, leases and the volumes' files; the locks; removing what the
//! plan says and rewriting the `Packages` indexes. The decision itself is [`super::decide`].

use super::decide::{FileInfo, GcPlan, Listing, PkgdirListing};
use super::records::{Lease, UsageRecord};
use crate::binhost::index::Index;
use anyhow::Context as _;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// zentoo's directory in the binary package volume (hidden from the binhost).
pub const META_DIR: &str = ".zentoo";
/// The gc lock: gc holds it while it runs (refreshed); no build begins a lease while it exists.
pub const GC_LOCK: &str = "gc.lock";
/// The emerge double's (mkdir) lock on a PKGDIR's index.
pub const PKGDIR_LOCK_DIR: &str = ".Packages.portage_lockdir";
/// Portage's (fcntl) lock file of a PKGDIR's index.
pub const PORTAGE_LOCK_FILE: &str = "Packages.portage_lockfile";

/// Seconds since the epoch of `time`.
pub fn epoch(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Every build record under `<binpkgs>/.zentoo/builds/`, with its path relative to `.zentoo`
/// as id. A record that does not parse is an error naming it (it may protect binpkgs).
pub fn read_records(binpkgs: &Path) -> anyhow::Result<Vec<(String, UsageRecord)>> {
    let dir = binpkgs.join(META_DIR).join("builds");
    let mut out = Vec::new();
    for image in sorted_entries(&dir)? {
        if !image.is_dir() {
            continue;
        }
        for file in sorted_entries(&image)? {
            if let Some(record) = read_json::<UsageRecord>(&file)? {
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
    let log_images = match fs::read_dir(binpkgs.join(zentoo_core::plan::build::LOGS_DIR)) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(_) => Vec::new(),
    };
    Ok(Listing {
        pkgdirs,
        distfiles,
        log_images,
    })
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

/// How long a live holder's lock or announcement goes unrefreshed at most: holders touch theirs
/// every [`HEARTBEAT`] (gc its lock from a thread, builds theirs from a background loop), so one
/// whose mtime is older than this, or that stays unchanged this long while watched (clocks may
/// differ), is a dead holder's and is taken over. The build steps use the same two values
/// (`LOCK_STALE`, `LOCK_HEARTBEAT` in `crates/zentoo-core/src/steps/common.sh`; a test keeps them equal).
pub const LOCK_STALE: Duration = Duration::from_secs(30);
/// How often a holder refreshes its lock.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// Locks whose holders do not refresh them (the emerge double's index lock) are a crashed
/// holder's after this long.
const STALE_UNREFRESHED: Duration = Duration::from_secs(3600);

/// Who holds a lock, one line, as the build steps write it (`owner_line` in common.sh): host,
/// pid, pid namespace, since when, and `label`.
pub fn owner_line(label: &str) -> String {
    format!(
        "host {} pid {} pidns {} since {} {label}",
        this_host(),
        std::process::id(),
        this_pidns().unwrap_or_else(|| "?".into()),
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
}

fn this_host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        .unwrap_or_else(|| "?".into())
}

fn this_pidns() -> Option<String> {
    fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.to_string_lossy().to_string())
}

/// Whether the holder named by `owner` (an [`owner_line`]) ran on this host, in this pid
/// namespace, and its pid is gone. Another host's or container's holder is judged by its lease.
pub fn holder_dead(owner: &str) -> bool {
    let words: Vec<&str> = owner.split_whitespace().collect();
    let ["host", host, "pid", pid, "pidns", ns, ..] = words.as_slice() else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    *ns != "?"
        && *host == this_host()
        && this_pidns().as_deref() == Some(*ns)
        && !Path::new(&format!("/proc/{pid}")).exists()
}

/// What a lock (or announcement) shows: its mtime (seconds) and its owner line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    mtime: i64,
    owner: String,
}

/// `path`'s [`Seen`], its owner line read from `owner_file`; `None` when it is gone.
fn read_seen(path: &Path, owner_file: &Path) -> Option<Seen> {
    let mtime = fs::metadata(path).ok()?.modified().ok()?;
    let owner = fs::read_to_string(owner_file).unwrap_or_default();
    Some(Seen {
        mtime: epoch(mtime),
        owner: owner.trim_end().to_string(),
    })
}

/// A waiter's view of one lock: what it last saw, since when.
#[derive(Default)]
struct Watch {
    last: Option<(Seen, Instant)>,
}

impl Watch {
    /// Why `seen` is a dead holder's (not refreshed for `bound`), or `None`.
    fn stale(&mut self, seen: &Seen, bound: Duration) -> Option<String> {
        let since = match &self.last {
            Some((last, at)) if last == seen => *at,
            _ => {
                self.last = Some((seen.clone(), Instant::now()));
                Instant::now()
            }
        };
        let bound_secs = i64::try_from(bound.as_secs()).unwrap_or(i64::MAX);
        let age = epoch(SystemTime::now()).saturating_sub(seen.mtime);
        if holder_dead(&seen.owner) {
            Some("its holder's pid is gone".into())
        } else if age > bound_secs {
            Some(format!("not refreshed for {age} s"))
        } else if since.elapsed() > bound {
            Some(format!("unchanged for {} s", since.elapsed().as_secs()))
        } else {
            None
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes the lock directory `path` judged dead if it still shows `seen`: under the guard
/// `<path>.break` (a mkdir lock held for a moment, so two waiters never both break it, the second
/// one a lock just taken), renamed away, then deleted. As `lock_break` in common.sh does.
fn break_lock(path: &Path, seen: &Seen) -> bool {
    let guard = with_suffix(path, ".break");
    match fs::create_dir(&guard) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // a guard left by a waiter killed in that moment goes after the same bound
            let age = fs::metadata(&guard)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if age.is_some_and(|a| a > LOCK_STALE) {
                let _ = fs::remove_dir(&guard);
            }
            return false;
        }
        Err(_) => return false,
    }
    let aside = with_suffix(
        path,
        &format!(".stale.{}.{}", this_host(), std::process::id()),
    );
    let moved = read_seen(path, &path.join("owner")).as_ref() == Some(seen)
        && fs::rename(path, &aside).is_ok();
    let _ = fs::remove_dir(&guard);
    if moved {
        let _ = fs::remove_dir_all(&aside);
    }
    moved
}

/// Refreshes a lock's mtime every [`HEARTBEAT`] from a thread while its owner file still names
/// this holder; stops when dropped.
struct Heartbeat {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    fn start(path: &Path, owner: &str) -> anyhow::Result<Heartbeat> {
        let (stop, stopped) = mpsc::channel::<()>();
        let (path, owner) = (path.to_path_buf(), owner.to_string());
        let thread = std::thread::Builder::new()
            .name("zentoo-lock-heartbeat".into())
            .spawn(move || beat(&path, &owner, &stopped))
            .context("starting the lock's heartbeat thread")?;
        Ok(Heartbeat {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// The heartbeat's loop: until told to stop (or the lock is no longer `owner`'s), touches `path`.
fn beat(path: &Path, owner: &str, stopped: &mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
        if !holds(path, owner) {
            tracing::warn!(lock = %path.display(), "lock taken over: no longer refreshed");
            return;
        }
        let touched = fs::File::open(path).and_then(|f| f.set_modified(SystemTime::now()));
        if let Err(e) = touched {
            tracing::warn!(lock = %path.display(), error = %e, "cannot refresh the lock");
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether the lock directory `path` names `owner` as its holder.
fn holds(path: &Path, owner: &str) -> bool {
    fs::read_to_string(path.join("owner")).is_ok_and(|o| o.trim_end() == owner)
}

/// A mkdir lock (an `owner` file inside), removed when dropped if still ours.
pub struct DirLock {
    path: PathBuf,
    owner: String,
    heartbeat: Option<Heartbeat>,
}

impl DirLock {
    /// Takes the lock directory `path` as a lease, waiting up to `wait`: it is refreshed every
    /// [`HEARTBEAT`] while held; a lock of a dead holder ([`LOCK_STALE`], or its pid gone on
    /// this host) is taken over.
    pub fn leased(path: &Path, wait: Duration, label: &str) -> anyhow::Result<DirLock> {
        let mut lock = Self::acquire(path, wait, label, LOCK_STALE)?;
        lock.heartbeat = Some(Heartbeat::start(path, &lock.owner)?);
        Ok(lock)
    }

    /// Takes the lock directory `path`, waiting up to `wait`, for holders that do not refresh
    /// it: one older than an hour (or whose holder's pid is gone on this host) is broken.
    pub fn take(path: &Path, wait: Duration, label: &str) -> anyhow::Result<DirLock> {
        Self::acquire(path, wait, label, STALE_UNREFRESHED)
    }

    fn acquire(
        path: &Path,
        wait: Duration,
        label: &str,
        stale: Duration,
    ) -> anyhow::Result<DirLock> {
        let start = Instant::now();
        let mut watch = Watch::default();
        loop {
            match fs::create_dir(path) {
                Ok(()) => {
                    let owner = owner_line(label);
                    fs::write(path.join("owner"), format!("{owner}\n")).with_context(|| {
                        format!("writing the owner of the lock {}", path.display())
                    })?;
                    return Ok(DirLock {
                        path: path.to_path_buf(),
                        owner,
                        heartbeat: None,
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let seen = read_seen(path, &path.join("owner"));
                    if let Some(seen) = seen {
                        if let Some(why) = watch.stale(&seen, stale)
                            && break_lock(path, &seen)
                        {
                            let lock = path.display();
                            tracing::warn!(%lock, holder = %seen.owner, why, "lock taken over");
                            continue;
                        }
                        if start.elapsed() > wait {
                            anyhow::bail!(
                                "{} is held by {}, still refreshed: another zentoo gc, or an \
                                 emerge on the index; try again later",
                                path.display(),
                                if seen.owner.is_empty() {
                                    "?"
                                } else {
                                    &seen.owner
                                }
                            );
                        }
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
        drop(self.heartbeat.take());
        if holds(&self.path, &self.owner) {
            let _ = fs::remove_file(self.path.join("owner"));
            let _ = fs::remove_dir(&self.path);
        } else {
            let lock = self.path.display();
            tracing::warn!(%lock, "lock taken over meanwhile: left to its holder");
        }
    }
}

/// Takes the gc lock of the binary package volume (leased: refreshed while gc runs), then waits
/// until no build is between announcing itself (`leases/*.pending`) and writing its lease: from
/// then on no lease can begin until the lock is released. An announcement its build no longer
/// refreshes ([`LOCK_STALE`]: the build was killed) is removed.
pub fn lock_gc(binpkgs: &Path) -> anyhow::Result<DirLock> {
    let meta = binpkgs.join(META_DIR);
    fs::create_dir_all(&meta).with_context(|| meta.display().to_string())?;
    let lock = DirLock::leased(&meta.join(GC_LOCK), Duration::from_secs(120), "zentoo gc")?;
    let start = Instant::now();
    let mut watches: BTreeMap<PathBuf, Watch> = BTreeMap::new();
    loop {
        let mut pending = Vec::new();
        for path in sorted_entries(&meta.join("leases"))? {
            if path.extension().is_none_or(|e| e != "pending") {
                continue;
            }
            let Some(seen) = read_seen(&path, &path) else {
                continue;
            };
            match watches
                .entry(path.clone())
                .or_default()
                .stale(&seen, LOCK_STALE)
            {
                Some(why) => {
                    let announcement = path.display();
                    let holder = &seen.owner;
                    tracing::warn!(%announcement, %holder, why, "a dead build's: removed");
                    let _ = fs::remove_file(&path);
                }
                None => pending.push(path),
            }
        }
        if pending.is_empty() {
            return Ok(lock);
        }
        if start.elapsed() > Duration::from_secs(600) {
            anyhow::bail!(
                "builds are still taking their leases after 10 minutes ({}): try again later",
                pending
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
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
            "zentoo gc (index)",
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
    /// Build log directories of gone images removed.
    pub log_dirs: usize,
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
    let logs = binpkgs.join(zentoo_core::plan::build::LOGS_DIR);
    for image in &plan.logs {
        let dir = logs.join(image);
        match fs::remove_dir_all(&dir) {
            Ok(()) => done.log_dirs += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("removing {}: {e}", dir.display())),
        }
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
#[path = "store_tests.rs"]
mod tests;
