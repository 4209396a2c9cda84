//! Writing a git tree to disk straight from objects: no checkout, modes kept, and nothing a
//! tree holds — `..`, slashes, absolute paths, symlinks, duplicate names — can make zentoo write
//! outside the target directory.
//!
//! Safety rests on two rules: every entry name is a single plain path component, and every
//! file, link and directory is created fresh (`O_EXCL`, `mkdir`), so an existing entry — a
//! symlink above all — is never followed or overwritten.

use git2::{ObjectType, Oid, Repository};
use std::collections::HashSet;
use std::fs::{self, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

/// Bounds on what one materialize may write.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest single file.
    pub max_file_bytes: usize,
    /// Largest total of all files.
    pub max_total_bytes: u64,
    /// Deepest directory nesting.
    pub max_depth: usize,
    /// Most entries (files, links, directories).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 << 20,
            max_total_bytes: 512 << 20,
            max_depth: 32,
            max_entries: 50_000,
        }
    }
}

/// Why a tree could not be materialized.
#[derive(Debug, thiserror::Error)]
pub enum MaterializeError {
    /// The tree holds an entry zentoo refuses to write.
    #[error("{path}: {reason}")]
    Refused {
        /// Path of the entry inside the tree.
        path: String,
        /// Why.
        reason: String,
    },
    /// Writing to disk failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Reading a git object failed.
    #[error("reading git object {id}: {source}")]
    Git {
        /// The object.
        id: String,
        /// The error.
        #[source]
        source: git2::Error,
    },
}

/// What was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Materialized {
    /// Files, links and directories written.
    pub entries: usize,
    /// Bytes of file content written.
    pub bytes: u64,
}

/// Writes tree `tree` of `repo` into `dest`, which must not exist or be an empty directory.
pub fn materialize_tree(
    repo: &Repository,
    tree: Oid,
    dest: &Path,
    limits: &Limits,
) -> Result<Materialized, MaterializeError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MaterializeError::Io { path, source }
    };
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(MaterializeError::Refused {
                    path: dest.display().to_string(),
                    reason: "the target directory is not empty".into(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(io(dest))?
        }
        Err(e) => return Err(io(dest)(e)),
    }
    let mut writer = Writer {
        repo,
        limits,
        done: Materialized::default(),
    };
    writer.tree(tree, dest, "", 0)?;
    Ok(writer.done)
}

struct Writer<'a> {
    repo: &'a Repository,
    limits: &'a Limits,
    done: Materialized,
}

impl Writer<'_> {
    fn tree(
        &mut self,
        id: Oid,
        dir: &Path,
        prefix: &str,
        depth: usize,
    ) -> Result<(), MaterializeError> {
        let git = |source| MaterializeError::Git {
            id: id.to_string(),
            source,
        };
        let tree = self.repo.find_tree(id).map_err(git)?;
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        for entry in tree.iter() {
            let name_bytes = entry.name_bytes();
            let shown = format!("{prefix}{}", String::from_utf8_lossy(name_bytes));
            let refuse = |reason: &str| MaterializeError::Refused {
                path: shown.clone(),
                reason: reason.into(),
            };
            if let Some(reason) = name_problem(name_bytes) {
                return Err(refuse(reason));
            }
            // git never writes two entries of one name; a crafted tree can, e.g. a symlink
            // and then a file to be written through it.
            if !seen.insert(name_bytes.to_vec()) {
                return Err(refuse("a second entry of the same name in one tree"));
            }
            self.done.entries += 1;
            if self.done.entries > self.limits.max_entries {
                return Err(refuse(&format!(
                    "more than {} entries",
                    self.limits.max_entries
                )));
            }
            let path = dir.join(std::ffi::OsStr::from_bytes(name_bytes));
            let io = |source| MaterializeError::Io {
                path: path.clone(),
                source,
            };
            match (entry.kind(), entry.filemode()) {
                (Some(ObjectType::Tree), _) => {
                    if depth + 1 > self.limits.max_depth {
                        return Err(refuse(&format!(
                            "nested deeper than {} directories",
                            self.limits.max_depth
                        )));
                    }
                    fs::create_dir(&path).map_err(io)?;
                    self.tree(entry.id(), &path, &format!("{shown}/"), depth + 1)?;
                }
                (Some(ObjectType::Blob), mode @ (0o100644 | 0o100755 | 0o100664)) => {
                    let content = self.blob(entry.id(), &shown)?;
                    let mode = if mode == 0o100755 { 0o755 } else { 0o644 };
                    let mut file = OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(mode)
                        .open(&path)
                        .map_err(io)?;
                    file.write_all(&content).map_err(io)?;
                    file.set_permissions(Permissions::from_mode(mode))
                        .map_err(io)?;
                }
                (Some(ObjectType::Blob), 0o120000) => {
                    let target = self.blob(entry.id(), &shown)?;
                    if target.is_empty() || target.contains(&0) {
                        return Err(refuse(
                            "a symbolic link with an empty or NUL-holding target",
                        ));
                    }
                    symlink(std::ffi::OsStr::from_bytes(&target), &path).map_err(io)?;
                }
                (Some(ObjectType::Commit), _) => {
                    return Err(refuse(
                        "a submodule (gitlink): zentoo does not follow submodules",
                    ));
                }
                (_, mode) => return Err(refuse(&format!("unsupported tree entry mode {mode:o}"))),
            }
        }
        Ok(())
    }

    fn blob(&mut self, id: Oid, shown: &str) -> Result<Vec<u8>, MaterializeError> {
        let git = |source| MaterializeError::Git {
            id: id.to_string(),
            source,
        };
        let (size, _) = self
            .repo
            .odb()
            .and_then(|o| o.read_header(id))
            .map_err(git)?;
        let refuse = |reason: String| MaterializeError::Refused {
            path: shown.to_string(),
            reason,
        };
        if size > self.limits.max_file_bytes {
            return Err(refuse(format!(
                "{size} bytes; the limit is {}",
                self.limits.max_file_bytes
            )));
        }
        self.done.bytes += size as u64;
        if self.done.bytes > self.limits.max_total_bytes {
            return Err(refuse(format!(
                "the tree holds more than {} bytes",
                self.limits.max_total_bytes
            )));
        }
        Ok(self.repo.find_blob(id).map_err(git)?.content().to_vec())
    }
}

/// Why a tree entry name is refused, if it is.
fn name_problem(name: &[u8]) -> Option<&'static str> {
    match name {
        b"" => Some("an entry with an empty name"),
        b"." | b".." => Some("an entry named `.` or `..`"),
        _ if name.contains(&b'/') => Some("an entry name holding `/`"),
        _ if name.contains(&0) => Some("an entry name holding NUL"),
        _ if name.eq_ignore_ascii_case(b".git") => Some("an entry named `.git`"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_escape_are_refused() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/etc", b".GIT", b"x\0y"] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        for good in [&b"make.conf"[..], b"..foo", b"package.use", b" "] {
            assert!(name_problem(good).is_none(), "{good:?}");
        }
    }
}
