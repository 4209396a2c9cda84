//! The in-container build steps: the POSIX sh scripts that run inside the stage3 (embedded in
//! the binary), and the work directory the materialize step writes for them.
//!
//! The work directory is what the build and assemble steps mount at [`WORK_DIR`]:
//! `portage/` (the portage tree), `hooks/` (the buildhooks tree, absent for `none`),
//! `sets/<name>` (the set files) and `steps/*.sh` (these scripts).
//!
//! [`WORK_DIR`]: crate::plan::build::WORK_DIR

use crate::plan::build::MaterializeSpec;
use crate::site::materialize::{Limits, MaterializeError, Materialized, materialize_tree};
use git2::{Oid, Repository};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The step scripts, by file name, as shipped inside zentoo.
pub const SCRIPTS: [(&str, &str); 6] = [
    ("common.sh", include_str!("common.sh")),
    ("records.sh", include_str!("records.sh")),
    ("build.sh", include_str!("build.sh")),
    ("assemble.sh", include_str!("assemble.sh")),
    ("sign.sh", include_str!("sign.sh")),
    ("freshroot.sh", include_str!("freshroot.sh")),
];

/// Writes the work directory of one build into `dest` (which must not exist or be empty):
/// the planned portage tree, buildhooks tree and set blobs read straight from `repo`, and
/// the step scripts. Nothing from git can write outside `dest`.
pub fn write_work_dir(
    repo: &Repository,
    spec: &MaterializeSpec,
    dest: &Path,
    limits: &Limits,
) -> Result<Materialized, MaterializeError> {
    let oid = |what: &str, id: &str| {
        Oid::from_str(id).map_err(|source| MaterializeError::Git {
            id: format!("{what} {id}"),
            source,
        })
    };
    let mut done = materialize_tree(
        repo,
        oid("portage tree", &spec.portage_tree)?,
        &dest.join("portage"),
        limits,
    )?;
    if let Some(tree) = &spec.buildhooks_tree {
        let hooks = materialize_tree(
            repo,
            oid("buildhooks tree", tree)?,
            &dest.join("hooks"),
            limits,
        )?;
        done.entries += hooks.entries;
        done.bytes += hooks.bytes;
    }
    let sets = dest.join("sets");
    create_dir(&sets)?;
    for (name, blob) in &spec.sets {
        if !crate::site::names::is_valid_name(name) {
            return Err(MaterializeError::Refused {
                path: format!("sets/{name}"),
                reason: "not a valid set name".into(),
            });
        }
        let id = oid(&format!("set {name}"), blob)?;
        let git = |source| MaterializeError::Git {
            id: blob.clone(),
            source,
        };
        let blob = repo.find_blob(id).map_err(git)?;
        if blob.size() > limits.max_file_bytes {
            return Err(MaterializeError::Refused {
                path: format!("sets/{name}"),
                reason: format!(
                    "{} bytes; the limit is {}",
                    blob.size(),
                    limits.max_file_bytes
                ),
            });
        }
        write_new(&sets.join(name), blob.content(), 0o644)?;
        done.entries += 1;
        done.bytes += blob.size() as u64;
    }
    write_scripts(&dest.join("steps"))?;
    Ok(done)
}

/// Writes the step scripts into `dir` (created; must not hold them yet).
pub fn write_scripts(dir: &Path) -> Result<(), MaterializeError> {
    create_dir(dir)?;
    for (name, text) in SCRIPTS {
        write_new(&dir.join(name), text.as_bytes(), 0o755)?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<(), MaterializeError> {
    fs::create_dir(dir).map_err(|source| MaterializeError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Creates `path` fresh (never following or replacing what is there) with `mode`.
fn write_new(path: &Path, content: &[u8], mode: u32) -> Result<(), MaterializeError> {
    let io = |source| MaterializeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(content).map_err(io)?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io)
}

#[cfg(test)]
mod logs_tests;
#[cfg(test)]
mod names_tests;
