//! Writing commits straight to branches of a repository, without a work tree: used by
//! `zentoo site init`, tests and benchmarks.

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository, Signature};

/// One change to a branch's tree.
#[derive(Clone, Debug)]
pub enum Change<'a> {
    /// Writes a file (creating parent directories).
    File {
        /// Path in the tree.
        path: &'a str,
        /// Its content.
        content: &'a [u8],
        /// Mode 100755 instead of 100644.
        executable: bool,
    },
    /// Writes a symbolic link.
    Symlink {
        /// Path in the tree.
        path: &'a str,
        /// Where it points.
        target: &'a str,
    },
    /// Removes a file or directory.
    Remove(&'a str),
}

impl<'a> Change<'a> {
    /// A regular, non-executable file.
    pub fn file(path: &'a str, content: &'a str) -> Self {
        Change::File {
            path,
            content: content.as_bytes(),
            executable: false,
        }
    }

    /// An executable file.
    pub fn exec(path: &'a str, content: &'a str) -> Self {
        Change::File {
            path,
            content: content.as_bytes(),
            executable: true,
        }
    }
}

/// Commits `changes` on top of `branch` (created, without parent, when missing) and returns
/// the new commit id.
pub fn commit(
    repo: &Repository,
    branch: &str,
    changes: &[Change<'_>],
    message: &str,
) -> Result<Oid, git2::Error> {
    let refname = format!("refs/heads/{branch}");
    let parent = match repo.find_reference(&refname) {
        Ok(r) => Some(r.peel_to_commit()?),
        Err(e) if e.code() == git2::ErrorCode::NotFound => None,
        Err(e) => return Err(e),
    };
    let baseline = match &parent {
        Some(c) => c.tree()?,
        None => repo.find_tree(repo.treebuilder(None)?.write()?)?,
    };
    let mut update = TreeUpdateBuilder::new();
    for change in changes {
        match change {
            Change::File {
                path,
                content,
                executable,
            } => {
                let mode = if *executable {
                    FileMode::BlobExecutable
                } else {
                    FileMode::Blob
                };
                update.upsert(*path, repo.blob(content)?, mode);
            }
            Change::Symlink { path, target } => {
                update.upsert(*path, repo.blob(target.as_bytes())?, FileMode::Link);
            }
            Change::Remove(path) => {
                update.remove(*path);
            }
        }
    }
    let tree = repo.find_tree(update.create_updated(repo, &baseline)?)?;
    let sig = Signature::now("zentoo", "zentoo@localhost")?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some(&refname), &sig, &sig, message, &tree, &parents)
}
