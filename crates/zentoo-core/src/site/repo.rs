//! Reading a site from git objects: no checkout, no work tree (a bare repository works).

use super::cpus::CPUS_FILE;
use super::sets::SETS_DIR;
use super::snapshot::{Prefixes, SiteSnapshot, TextFile};
use git2::{ErrorCode, ObjectType, Repository, RepositoryOpenFlags, TreeEntry};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The tuples file in the tracked branch.
pub const TUPLES_FILE: &str = "tuples";
/// Largest tuples, set or cpus.yaml file zentoo reads.
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Most set files zentoo reads from `sets/`.
pub const MAX_SETS: usize = 10_000;
/// Most bytes of text (tuples, cpus.yaml and set files together) one snapshot holds: set files
/// beyond it are reported unreadable instead of filling memory (git compresses a thousand
/// near-identical megabyte files into a small repository).
pub const MAX_TOTAL_BYTES: usize = 64 << 20;

/// Why a site could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path is missing or not a git repository.
    #[error("{path}: not a git repository ({reason})")]
    Open {
        /// The path given.
        path: PathBuf,
        /// What git said.
        reason: String,
    },
    /// The tracked ref cannot be resolved to a commit.
    #[error("{path}: {reason}")]
    Ref {
        /// The repository.
        path: PathBuf,
        /// What is wrong with the ref.
        reason: String,
    },
    /// The tracked commit has no usable tuples file.
    #[error("{path}: {reason}")]
    Tuples {
        /// The repository.
        path: PathBuf,
        /// What is wrong with the tuples file.
        reason: String,
    },
    /// Git failed reading objects.
    #[error("{path}: reading git objects failed: {source}")]
    Git {
        /// The repository.
        path: PathBuf,
        /// The git error.
        #[source]
        source: git2::Error,
    },
}

/// How to read a site.
#[derive(Clone, Debug, Default)]
pub struct ReadOptions {
    /// Branch or ref to track; `None`: the branch HEAD points to.
    pub tracked_ref: Option<String>,
    /// Branch prefixes.
    pub prefixes: Prefixes,
}

/// An open site repository.
pub struct SiteRepo {
    repo: Repository,
    path: PathBuf,
}

impl SiteRepo {
    /// Opens the repository at `path` (a work tree, its `.git`, or a bare repository). Parent
    /// directories are never searched.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let open_err = |reason: String| ReadError::Open {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_dir() {
            return Err(open_err("no such directory".into()));
        }
        let repo = Repository::open_ext(path, RepositoryOpenFlags::NO_SEARCH, &[] as &[&Path])
            .map_err(|e| open_err(e.message().to_string()))?;
        Ok(SiteRepo {
            repo,
            path: path.to_path_buf(),
        })
    }

    /// The underlying git repository.
    pub fn git(&self) -> &Repository {
        &self.repo
    }

    /// Reads what a plan consumes at the tip of the tracked ref.
    pub fn snapshot(&self, options: &ReadOptions) -> Result<SiteSnapshot, ReadError> {
        let git_err = |source| ReadError::Git {
            path: self.path.clone(),
            source,
        };
        let (tracked_ref, commit) = self.tracked(options.tracked_ref.as_deref())?;
        let tree = commit.tree().map_err(git_err)?;

        let tuples_entry = tree
            .get_name(TUPLES_FILE)
            .ok_or_else(|| ReadError::Tuples {
                path: self.path.clone(),
                reason: format!("{tracked_ref} has no `{TUPLES_FILE}` file at its root"),
            })?;
        let tuples = self
            .text_file(TUPLES_FILE.into(), &tuples_entry)
            .map_err(git_err)?;
        if let Err(why) = &tuples.text {
            return Err(ReadError::Tuples {
                path: self.path.clone(),
                reason: format!("{TUPLES_FILE} on {tracked_ref}: {why}"),
            });
        }
        let cpus = match tree.get_name(CPUS_FILE) {
            Some(entry) => Some(self.text_file(CPUS_FILE.into(), &entry).map_err(git_err)?),
            None => None,
        };
        let mut sets = BTreeMap::new();
        if let Some(entry) = tree.get_name(SETS_DIR)
            && entry.kind() == Some(ObjectType::Tree)
        {
            let sets_tree = self.repo.find_tree(entry.id()).map_err(git_err)?;
            let mut total = text_len(&tuples) + cpus.as_ref().map_or(0, text_len);
            // Smallest first: when the budget runs out, the largest files are the unread ones.
            let odb = self.repo.odb().map_err(git_err)?;
            let mut entries: Vec<(usize, TreeEntry<'_>)> = Vec::new();
            for entry in sets_tree.iter().take(MAX_SETS) {
                if entry.kind() != Some(ObjectType::Blob) || entry.name().is_err() {
                    continue;
                }
                let (size, _) = odb.read_header(entry.id()).map_err(git_err)?;
                entries.push((size, entry));
            }
            entries.sort_by(|a, b| (a.0, a.1.name_bytes()).cmp(&(b.0, b.1.name_bytes())));
            for (_, entry) in entries {
                let Ok(name) = entry.name() else { continue };
                let path = format!("{SETS_DIR}/{name}");
                let mut file = self.text_file(path, &entry).map_err(git_err)?;
                total += text_len(&file);
                if total > MAX_TOTAL_BYTES {
                    file.text = Err(format!(
                        "not read: the site's tuples, cpus.yaml and set files hold more than \
                         {MAX_TOTAL_BYTES} bytes in all"
                    ));
                }
                sets.insert(name.to_string(), file);
            }
        }
        Ok(SiteSnapshot {
            revision: commit.id().to_string(),
            tracked_ref,
            tuples,
            cpus,
            sets,
            portage: self.branches(&options.prefixes.portage).map_err(git_err)?,
            buildhooks: self
                .branches(&options.prefixes.buildhooks)
                .map_err(git_err)?,
            prefixes: options.prefixes.clone(),
        })
    }

    /// Resolves the tracked ref to its full name and commit.
    fn tracked(&self, wanted: Option<&str>) -> Result<(String, git2::Commit<'_>), ReadError> {
        let ref_err = |reason: String| ReadError::Ref {
            path: self.path.clone(),
            reason,
        };
        let reference = match wanted {
            None => self.repo.head().map_err(|e| match e.code() {
                ErrorCode::UnbornBranch => {
                    ref_err("HEAD points to a branch with no commits yet; pass --ref".into())
                }
                _ => ref_err(format!("HEAD cannot be resolved: {}", e.message())),
            })?,
            Some(name) => {
                let candidates = [
                    name.to_string(),
                    format!("refs/heads/{name}"),
                    format!("refs/tags/{name}"),
                    format!("refs/remotes/{name}"),
                ];
                match candidates
                    .iter()
                    .filter(|c| c.starts_with("refs/") || *c == "HEAD")
                    .find_map(|c| self.repo.find_reference(c).ok())
                {
                    Some(r) => r,
                    None => {
                        let object = self
                            .repo
                            .revparse_single(name)
                            .map_err(|_| ref_err(format!("no branch or ref `{name}`")))?;
                        let commit = object
                            .peel_to_commit()
                            .map_err(|_| ref_err(format!("`{name}` is not a commit")))?;
                        return Ok((name.to_string(), commit));
                    }
                }
            }
        };
        let name = reference.name().unwrap_or("HEAD").to_string();
        let commit = reference.peel_to_commit().map_err(|e| {
            ref_err(format!(
                "{name} does not point to a commit: {}",
                e.message()
            ))
        })?;
        Ok((name, commit))
    }

    /// Branches `refs/heads/<prefix><name>` with valid names, to their tree ids.
    fn branches(&self, prefix: &str) -> Result<BTreeMap<String, String>, git2::Error> {
        let full = format!("refs/heads/{prefix}");
        let mut out = BTreeMap::new();
        for reference in self.repo.references()? {
            let reference = reference?;
            let Some(name) = reference.name().ok().and_then(|n| n.strip_prefix(&full)) else {
                continue;
            };
            if !super::names::is_valid_name(name) {
                continue;
            }
            let name = name.to_string();
            if let Ok(tree) = reference.peel_to_tree() {
                out.insert(name, tree.id().to_string());
            }
        }
        Ok(out)
    }

    /// A file's text, or why it cannot be used, without loading oversized blobs.
    fn text_file(&self, path: String, entry: &TreeEntry<'_>) -> Result<TextFile, git2::Error> {
        let id = entry.id().to_string();
        let text = if entry.kind() != Some(ObjectType::Blob) {
            Err("is a directory, not a file".to_string())
        } else if entry.filemode() == i32::from(git2::FileMode::Link) {
            Err("is a symbolic link; zentoo reads regular files only".to_string())
        } else {
            let (size, _) = self.repo.odb()?.read_header(entry.id())?;
            if size > MAX_FILE_BYTES {
                Err(format!("is {size} bytes; the limit is {MAX_FILE_BYTES}"))
            } else {
                let blob = self.repo.find_blob(entry.id())?;
                // A byte order mark (some Windows editors write one) is not part of line 1.
                let bytes = blob.content();
                let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
                String::from_utf8(bytes.to_vec()).map_err(|e| {
                    let at = e.utf8_error().valid_up_to();
                    let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
                    format!("is not UTF-8 text (line {line}, byte {at})")
                })
            }
        };
        Ok(TextFile { path, id, text })
    }
}

fn text_len(file: &TextFile) -> usize {
    file.text.as_ref().map_or(0, String::len)
}
