//! What zentoo reads of a site at one revision: plain data, no git handles.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Branch name prefixes of a site. Each ends in `/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefixes {
    /// Prefix of portage config branches (default `portage/`).
    pub portage: String,
    /// Prefix of buildhooks branches (default `buildhooks/`).
    pub buildhooks: String,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes {
            portage: "portage/".into(),
            buildhooks: "buildhooks/".into(),
        }
    }
}

impl Prefixes {
    /// Prefixes from user input: a missing trailing `/` is added; empty or equal prefixes are
    /// refused, since branches of both kinds would then be indistinguishable.
    pub fn new(portage: &str, buildhooks: &str) -> Result<Self, String> {
        let norm = |p: &str| {
            let p = p.trim().trim_start_matches("refs/heads/").trim_matches('/');
            if p.is_empty() {
                Err("a branch prefix cannot be empty".to_string())
            } else if !git2::Reference::is_valid_name(&format!("refs/heads/{p}/x")) {
                Err(format!(
                    "{} is not a branch name prefix (letters, digits, `/`, `-`, `_`, `.`; no \
                     `..`, no component starting with `.`)",
                    super::error::tidy(&format!("`{p}`"), 100)
                ))
            } else {
                Ok(format!("{p}/"))
            }
        };
        let (portage, buildhooks) = (norm(portage)?, norm(buildhooks)?);
        if portage.starts_with(&buildhooks) || buildhooks.starts_with(&portage) {
            return Err(format!(
                "branch prefixes `{portage}` and `{buildhooks}` overlap: choose two distinct ones"
            ));
        }
        Ok(Prefixes {
            portage,
            buildhooks,
        })
    }
}

/// A file of the tracked branch: its path, blob id and text (or why it has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextFile {
    /// Path in the tracked branch, e.g. `sets/kde`.
    pub path: String,
    /// Git blob id (hex).
    pub id: String,
    /// The UTF-8 text, or why it could not be read (too large, not UTF-8, not a file).
    pub text: Result<String, String>,
}

/// Everything a plan consumes from a site at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSnapshot {
    /// Commit id of the tracked ref.
    pub revision: String,
    /// Full name of the tracked ref, e.g. `refs/heads/main`.
    pub tracked_ref: String,
    /// The `tuples` file.
    pub tuples: TextFile,
    /// `cpus.yaml`, when the branch has one.
    pub cpus: Option<TextFile>,
    /// Files in `sets/`, by set name.
    pub sets: BTreeMap<String, TextFile>,
    /// Portage config branches: name (prefix removed) to tree id.
    pub portage: BTreeMap<String, String>,
    /// Buildhooks branches: name (prefix removed) to tree id.
    pub buildhooks: BTreeMap<String, String>,
    /// Prefixes the branches were read with.
    pub prefixes: Prefixes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_normalised_and_must_differ() {
        let p = Prefixes::new("config/portage", "refs/heads/hooks/").unwrap();
        assert_eq!(p.portage, "config/portage/");
        assert_eq!(p.buildhooks, "hooks/");
        assert!(Prefixes::new("x", "x/").is_err());
        assert!(Prefixes::new("a", "a/b").is_err());
        assert!(Prefixes::new("", "b").is_err());
        for bad in ["../", "a/../b", ".hidden", "a b", "a~1", "x\u{1b}"] {
            assert!(Prefixes::new(bad, "b").is_err(), "{bad}");
        }
    }
}
