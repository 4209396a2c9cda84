//! Local sites: a source given as a `file://` URL or an absolute path (development, one
//! machine). The repository's refs (`refs/`, `packed-refs`, `HEAD` in its common git dir)
//! are watched with `notify` (inotify on Linux); a commit or push there wakes the site's
//! reconcile at once instead of at the next poll.

use super::pushes::Pushes;
use notify::event::ModifyKind;
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing::{debug, info, warn};

/// The repository path of a local source: `file:///abs/path` or `/abs/path`; `None` for a
/// remote one (`https://`, `ssh://`, `git://`, `user@host:path`).
pub fn local_path(url: &str) -> Option<PathBuf> {
    let url = url.trim();
    if url.starts_with('/') {
        return Some(PathBuf::from(url));
    }
    if url.starts_with("file://") {
        return url::Url::parse(url).ok()?.to_file_path().ok();
    }
    None
}

/// The directory holding a repository's refs: its common git dir (`.git` of a work tree,
/// the repository itself when bare, the main repository's for a linked work tree).
pub fn refs_home(repository: &Path) -> Result<PathBuf, String> {
    let repo = git2::Repository::open(repository)
        .map_err(|e| format!("{}: {}", repository.display(), e.message()))?;
    Ok(repo.commondir().to_path_buf())
}

/// Whether `event` under the git dir `home` may have moved a ref: something created,
/// changed, renamed or removed under `refs/`, or `packed-refs` or `HEAD` written. Lock
/// files (`*.lock`, git's staging of a ref update) and reads are not.
pub fn moves_refs(event: &Event, home: &Path) -> bool {
    let writes = match event.kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Other => false,
    };
    let refs = home.join("refs");
    writes
        && event.paths.iter().any(|p| {
            let lock = p.extension().is_some_and(|e| e == "lock");
            !lock
                && (p.starts_with(&refs)
                    || *p == home.join("packed-refs")
                    || *p == home.join("HEAD"))
        })
}

struct Watch {
    home: PathBuf,
    _watcher: RecommendedWatcher,
}

/// One watcher per local site; each change of its refs is a push to the site ([`Pushes`]).
pub struct LocalWatches {
    watches: Mutex<HashMap<String, Watch>>,
    pushes: Arc<Pushes>,
}

fn key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl LocalWatches {
    /// No watches yet; changes are reported to `pushes`.
    pub fn new(pushes: Arc<Pushes>) -> Self {
        LocalWatches {
            watches: Mutex::new(HashMap::new()),
            pushes,
        }
    }

    /// Watches the repository of site `namespace/name` when `url` is local (again only when
    /// it moved); stops watching when it is not.
    pub fn sync(&self, namespace: &str, name: &str, url: &str) -> Result<(), String> {
        let key = key(namespace, name);
        let Some(path) = local_path(url) else {
            self.forget(namespace, name);
            return Ok(());
        };
        let home = refs_home(&path)?;
        let mut watches = self.watches.lock().map_err(|_| "watch table poisoned")?;
        if watches.get(&key).is_some_and(|w| w.home == home) {
            return Ok(());
        }
        let watcher = self.watch(&key, namespace, name, &home)?;
        info!(site = %key, repository = %home.display(), "watching a local repository's refs");
        watches.insert(
            key,
            Watch {
                home,
                _watcher: watcher,
            },
        );
        Ok(())
    }

    fn watch(
        &self,
        key: &str,
        namespace: &str,
        name: &str,
        home: &Path,
    ) -> Result<RecommendedWatcher, String> {
        let pushes = self.pushes.clone();
        let (key_owned, namespace, name) =
            (key.to_string(), namespace.to_string(), name.to_string());
        let watched = home.to_path_buf();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<Event>| match event {
                Ok(event) if moves_refs(&event, &watched) => {
                    debug!(site = %key_owned, paths = ?event.paths, "local refs changed");
                    pushes.push(&namespace, &name);
                }
                Ok(_) => {}
                Err(e) => warn!(site = %key_owned, "watching the local repository: {e}"),
            })
            .map_err(|e| format!("watching {}: {e}", home.display()))?;
        watcher
            .watch(&home.join("refs"), RecursiveMode::Recursive)
            .map_err(|e| format!("watching {}/refs: {e}", home.display()))?;
        watcher
            .watch(home, RecursiveMode::NonRecursive)
            .map_err(|e| format!("watching {}: {e}", home.display()))?;
        Ok(watcher)
    }

    /// Stops watching site `namespace/name`.
    pub fn forget(&self, namespace: &str, name: &str) {
        let key = key(namespace, name);
        if let Ok(mut watches) = self.watches.lock()
            && watches.remove(&key).is_some()
        {
            debug!(site = %key, "stopped watching a local repository");
        }
    }

    /// How many repositories are watched.
    pub fn len(&self) -> usize {
        self.watches.lock().map(|w| w.len()).unwrap_or(0)
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{AccessKind, CreateKind, RenameMode};

    #[test]
    fn file_urls_and_absolute_paths_are_local() {
        assert_eq!(
            local_path("file:///srv/site.git"),
            Some(PathBuf::from("/srv/site.git"))
        );
        assert_eq!(local_path("/srv/site"), Some(PathBuf::from("/srv/site")));
        for remote in [
            "https://git.example/site.git",
            "ssh://git@git.example/site.git",
            "git://127.0.0.1:9418/site",
            "git@git.example:site.git",
            "site",
        ] {
            assert_eq!(local_path(remote), None, "{remote}");
        }
    }

    fn event(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn only_ref_writes_count() {
        let home = Path::new("/r/.git");
        let renamed = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert!(moves_refs(
            &event(renamed, "/r/.git/refs/heads/portage/x"),
            home
        ));
        assert!(moves_refs(
            &event(EventKind::Create(CreateKind::File), "/r/.git/packed-refs"),
            home
        ));
        assert!(moves_refs(&event(renamed, "/r/.git/HEAD"), home));
        assert!(!moves_refs(
            &event(
                EventKind::Create(CreateKind::File),
                "/r/.git/refs/heads/main.lock"
            ),
            home
        ));
        assert!(!moves_refs(
            &event(
                EventKind::Access(AccessKind::Any),
                "/r/.git/refs/heads/main"
            ),
            home
        ));
        assert!(!moves_refs(&event(renamed, "/r/.git/index"), home));
        assert!(!moves_refs(&event(renamed, "/r/.git/ORIG_HEAD"), home));
    }

    #[tokio::test]
    async fn a_commit_to_a_watched_repository_marks_its_site() {
        use futures::StreamExt;
        let dir = tempfile::TempDir::new().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let pushes = Arc::new(Pushes::default());
        let watches = LocalWatches::new(pushes.clone());
        let mut triggers = pushes.triggers().unwrap();
        let url = format!("file://{}", dir.path().display());
        watches.sync("ns", "site", &url).unwrap();
        watches.sync("ns", "site", &url).unwrap();
        assert_eq!(watches.len(), 1);
        assert!(!pushes.pushed("ns", "site"));

        let tree = repo.treebuilder(None).unwrap().write().unwrap();
        let tree = repo.find_tree(tree).unwrap();
        let sig = git2::Signature::now("t", "t@example").unwrap();
        repo.commit(Some("refs/heads/main"), &sig, &sig, "c", &tree, &[])
            .unwrap();
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), triggers.next())
            .await
            .expect("a trigger within 10 s");
        assert_eq!(
            got,
            Some(kube::runtime::reflector::ObjectRef::new("site").within("ns"))
        );
        assert!(pushes.pushed("ns", "site"));
        watches.sync("ns", "site", "https://example/x").unwrap();
        assert!(watches.is_empty());
    }
}
