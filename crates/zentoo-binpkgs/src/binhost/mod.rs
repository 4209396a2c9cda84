//! The shared binary package volume as a Portage binary host ("binhost").
//!
//! Builds write binary packages into one PKGDIR per compiler settings under the volume
//! (`<CHOST>/<flags-id>`, see `crates/zentoo-core/src/steps/README.md`), each with its own `Packages` index. A
//! binhost serves the volume over HTTP ([`serve`]); a Portage host points a `binrepos.conf`
//! section ([`binrepos_conf`]) at the PKGDIR built with its own CHOST and CFLAGS and runs
//! `emerge --getbinpkg`.

pub mod discover;
pub mod index;
pub mod logs;
pub mod serve;

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The id of a PKGDIR: the first 16 hex digits of the sha256 of
/// `CHOST=..\nCFLAGS=..\nCXXFLAGS=..\nLDFLAGS=..\n`, exactly as `compute_pkgdir` in
/// `crates/zentoo-core/src/steps/common.sh` computes it.
pub fn flags_id(chost: &str, cflags: &str, cxxflags: &str, ldflags: &str) -> String {
    let text = format!("CHOST={chost}\nCFLAGS={cflags}\nCXXFLAGS={cxxflags}\nLDFLAGS={ldflags}\n");
    hex::encode(Sha256::digest(text.as_bytes()))[..16].to_string()
}

/// The PKGDIR (relative to the binary package volume) a build or assemble step with this
/// environment uses, as `compute_pkgdir` does: `ZENTOO_PKGDIR` when set (and under
/// `ZENTOO_BINPKGS`), else `<ZENTOO_CHOST>/<flags-id>`. `None` without CHOST and CFLAGS, or for
/// a `ZENTOO_PKGDIR` outside the volume.
pub fn pkgdir_of_env(env: &BTreeMap<String, String>) -> Option<String> {
    let get = |k: &str| env.get(k).map(String::as_str).unwrap_or_default();
    if !get("ZENTOO_PKGDIR").is_empty() {
        let root = match get("ZENTOO_BINPKGS") {
            "" => zentoo_core::plan::build::BINPKGS_DIR,
            r => r,
        };
        let rel = get("ZENTOO_PKGDIR")
            .strip_prefix(root.trim_end_matches('/'))?
            .trim_matches('/');
        return Some(rel.to_string());
    }
    let (chost, cflags) = (get("ZENTOO_CHOST"), get("ZENTOO_CFLAGS"));
    if chost.is_empty() || cflags.is_empty() {
        return None;
    }
    let cxxflags = match get("ZENTOO_CXXFLAGS") {
        "" => cflags,
        c => c,
    };
    Some(format!(
        "{chost}/{}",
        flags_id(chost, cflags, cxxflags, get("ZENTOO_LDFLAGS"))
    ))
}

/// One section of a `binrepos.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BinRepo {
    /// Section name (`[name]`).
    pub name: String,
    /// `priority`: higher wins when several binhosts have a package.
    pub priority: i32,
    /// `sync-uri`: the URL of the PKGDIR (its `Packages` is `<sync-uri>/Packages`).
    pub sync_uri: String,
    /// `verify-signature` (Portage ≥ 3.0.78 verifies gpkg signatures by default).
    pub verify_signature: bool,
    /// Comment lines written above the section.
    pub comments: Vec<String>,
}

/// A `binrepos.conf` (Portage's format: `[name]`, `key = value`, `#` comments) of `repos`.
pub fn binrepos_conf(repos: &[BinRepo]) -> String {
    let mut out = String::new();
    for (i, repo) in repos.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for line in &repo.comments {
            let _ = writeln!(out, "# {}", line.replace('\n', " "));
        }
        let _ = writeln!(out, "[{}]", repo.name);
        let _ = writeln!(out, "priority = {}", repo.priority);
        let _ = writeln!(out, "sync-uri = {}", repo.sync_uri);
        let _ = writeln!(out, "verify-signature = {}", repo.verify_signature);
    }
    out
}

/// `base` (the binhost's URL) joined with the PKGDIR `rel`, with no doubled or trailing `/`.
pub fn sync_uri(base: &str, rel: &str) -> String {
    let rel = rel.trim_matches('/');
    let base = base.trim_end_matches('/');
    if rel.is_empty() {
        base.to_string()
    } else {
        format!("{base}/{rel}")
    }
}

/// A section name from free text: `[A-Za-z0-9_-]`, others become `-`.
pub fn section_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_flags_id_matches_the_step_scripts() {
        // printf 'CHOST=%s\nCFLAGS=%s\nCXXFLAGS=%s\nLDFLAGS=%s\n' x86_64-pc-linux-gnu \
        //   '-O2 -pipe' '-O2 -pipe' '' | sha256sum | cut -c1-16
        assert_eq!(
            flags_id("x86_64-pc-linux-gnu", "-O2 -pipe", "-O2 -pipe", ""),
            "204a6c5b96ec5bf3"
        );
    }

    #[test]
    fn pkgdirs_follow_the_step_environment() {
        let base = env(&[
            ("ZENTOO_CHOST", "x86_64-pc-linux-gnu"),
            ("ZENTOO_CFLAGS", "-O2 -pipe"),
        ]);
        let dir = pkgdir_of_env(&base).expect("pkgdir");
        assert_eq!(dir, "x86_64-pc-linux-gnu/204a6c5b96ec5bf3");
        let mut same = base.clone();
        same.insert("ZENTOO_CXXFLAGS".into(), "-O2 -pipe".into());
        assert_eq!(pkgdir_of_env(&same).as_deref(), Some(dir.as_str()));
        let mut other = base.clone();
        other.insert("ZENTOO_CFLAGS".into(), "-O2 -pipe -march=znver3".into());
        assert_ne!(pkgdir_of_env(&other).as_deref(), Some(dir.as_str()));
        let mut set = base.clone();
        set.insert(
            "ZENTOO_PKGDIR".into(),
            "/var/cache/binpkgs/custom/dir".into(),
        );
        assert_eq!(pkgdir_of_env(&set).as_deref(), Some("custom/dir"));
        set.insert("ZENTOO_PKGDIR".into(), "/elsewhere".into());
        assert_eq!(pkgdir_of_env(&set), None);
        assert_eq!(pkgdir_of_env(&env(&[("ZENTOO_CHOST", "x")])), None);
    }

    #[test]
    fn binrepos_conf_is_portages_format() {
        let text = binrepos_conf(&[BinRepo {
            name: "zentoo-web".into(),
            priority: 10,
            sync_uri: sync_uri("http://binhost:8080/", "/x86_64-pc-linux-gnu/abc/"),
            verify_signature: false,
            comments: vec!["for web".into()],
        }]);
        assert_eq!(
            text,
            "# for web\n[zentoo-web]\npriority = 10\nsync-uri = http://binhost:8080/x86_64-pc-linux-gnu/abc\nverify-signature = false\n"
        );
        assert_eq!(section_name("zentoo-amd64 web+x"), "zentoo-amd64-web-x");
    }
}
