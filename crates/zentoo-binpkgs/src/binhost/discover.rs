//! Finding the PKGDIRs of a binary package volume: the directories holding a `Packages` index.

use super::index::Index;
use std::path::Path;

/// A PKGDIR found under the volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkgdir {
    /// Path relative to the volume, `/`-separated (`x86_64-pc-linux-gnu/<flags-id>`).
    pub rel: String,
    /// `CHOST` of the index header.
    pub chost: Option<String>,
    /// `CFLAGS` of its first instance (every instance of a zentoo PKGDIR has the same).
    pub cflags: Option<String>,
    /// Instances indexed.
    pub packages: usize,
}

/// The public key a signing build leaves at the volume's top (`signing_pubkey` in
/// `crates/zentoo-core/src/steps/common.sh`): its binary packages are signed with it.
pub const SIGNING_PUBKEY: &str = "binpkg-signing.asc";

/// True when builds sign the binary packages of the volume at `root` (the public key of the
/// site's signing key is there).
pub fn signed(root: &Path) -> bool {
    root.join(SIGNING_PUBKEY).is_file()
}

/// How deep below the volume a PKGDIR may be (zentoo's are two levels down).
const MAX_DEPTH: usize = 4;

/// Every PKGDIR under `root`, sorted, hidden directories skipped. An unreadable or broken
/// `Packages` is an error naming it.
pub fn pkgdirs(root: &Path) -> anyhow::Result<Vec<Pkgdir>> {
    let mut out = Vec::new();
    walk(root, root, 0, &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<Pkgdir>) -> anyhow::Result<()> {
    let index = dir.join("Packages");
    if index.is_file() {
        let text = std::fs::read_to_string(&index)
            .map_err(|e| anyhow::anyhow!("{}: {e}", index.display()))?;
        let parsed =
            Index::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", index.display()))?;
        let rel = dir
            .strip_prefix(root)
            .unwrap_or(dir)
            .to_string_lossy()
            .to_string();
        out.push(Pkgdir {
            rel,
            chost: parsed.header.get("CHOST").map(str::to_string),
            cflags: parsed
                .packages
                .first()
                .and_then(|p| p.get("CFLAGS"))
                .map(str::to_string),
            packages: parsed.packages.len(),
        });
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if dir == root => return Err(anyhow::anyhow!("{}: {e}", dir.display())),
        Err(_) => return Ok(()),
    };
    let mut dirs: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in dirs {
        walk(root, &d, depth + 1, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_volume_is_signed_when_its_public_key_is_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(!signed(dir.path()));
        std::fs::write(
            dir.path().join(SIGNING_PUBKEY),
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n",
        )
        .expect("write");
        assert!(signed(dir.path()));
    }

    #[test]
    fn pkgdirs_are_the_directories_with_an_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for rel in [
            "x86_64-pc-linux-gnu/aaa",
            "x86_64-pc-linux-gnu/bbb",
            ".zentoo/builds",
        ] {
            std::fs::create_dir_all(root.join(rel)).expect("mkdir");
        }
        std::fs::write(
            root.join("x86_64-pc-linux-gnu/aaa/Packages"),
            "CHOST: x86_64-pc-linux-gnu\n\nCPV: a/b-1\nCFLAGS: -O2\n\n",
        )
        .expect("write");
        std::fs::write(root.join(".zentoo/builds/Packages"), "CHOST: x\n\n").expect("write");
        let found = pkgdirs(root).expect("pkgdirs");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rel, "x86_64-pc-linux-gnu/aaa");
        assert_eq!(found[0].cflags.as_deref(), Some("-O2"));
        assert_eq!(found[0].packages, 1);
    }
}
