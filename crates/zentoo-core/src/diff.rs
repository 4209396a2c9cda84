//! What changed between the packages of two builds, as `gbp diff` shows it: packages added,
//! removed, upgraded and downgraded (per slot, versions in PMS order), and USE changes of the
//! packages in both.

use crate::glsa::Version;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// One installed package, as a build's SBOM records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// `www-servers`.
    pub category: String,
    /// `nginx`.
    pub name: String,
    /// `SLOT` (`0`, `0/3`): packages are matched by its part before `/`.
    pub slot: String,
    /// `1.24.0-r3`.
    pub version: String,
    /// The USE flags it was built with (those its IUSE declares).
    pub use_flags: BTreeSet<String>,
}

impl Package {
    /// `category/name`, with `:slot` when the slot is not `0`.
    fn key(&self) -> String {
        match self.slot.split('/').next().unwrap_or("0") {
            "0" | "" => format!("{}/{}", self.category, self.name),
            slot => format!("{}/{}:{slot}", self.category, self.name),
        }
    }

    fn cpv(&self) -> String {
        format!("{}/{}-{}", self.category, self.name, self.version)
    }
}

/// A package in both builds at different versions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionChange {
    /// `category/name[:slot]`.
    pub package: String,
    /// The version in the first build.
    pub from: String,
    /// The version in the second.
    pub to: String,
}

/// A package in both builds with different USE flags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UseChange {
    /// `category/name[:slot]`.
    pub package: String,
    /// Its version in the second build.
    pub version: String,
    /// Flags on in the second build, not the first.
    pub enabled: Vec<String>,
    /// Flags on in the first build, not the second.
    pub disabled: Vec<String>,
}

/// The difference between two builds' packages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PackageDiff {
    /// In the second build only (`category/name-version`).
    pub added: Vec<String>,
    /// In the first build only.
    pub removed: Vec<String>,
    /// At a higher version in the second build.
    pub upgraded: Vec<VersionChange>,
    /// At a lower version in the second build.
    pub downgraded: Vec<VersionChange>,
    /// Built with other USE flags (whether or not the version changed).
    #[serde(rename = "use")]
    pub use_changes: Vec<UseChange>,
}

impl PackageDiff {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.upgraded.is_empty()
            && self.downgraded.is_empty()
            && self.use_changes.is_empty()
    }

    /// One line per change, sorted by package within each kind: `+ cpv` added, `- cpv`
    /// removed, `U pkg[:slot] from -> to` upgraded, `D pkg[:slot] from -> to` downgraded,
    /// `* pkg-version[:slot] USE +on -off` USE changed.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.added.iter().map(|p| format!("+ {p}")));
        out.extend(self.removed.iter().map(|p| format!("- {p}")));
        let version =
            |mark: char, c: &VersionChange| format!("{mark} {} {} -> {}", c.package, c.from, c.to);
        out.extend(self.upgraded.iter().map(|c| version('U', c)));
        out.extend(self.downgraded.iter().map(|c| version('D', c)));
        for c in &self.use_changes {
            let flags: Vec<String> = c
                .enabled
                .iter()
                .map(|f| format!("+{f}"))
                .chain(c.disabled.iter().map(|f| format!("-{f}")))
                .collect();
            // `category/name-version[:slot]`, as Portage writes a slotted package.
            let (atom, slot) = match c.package.split_once(':') {
                Some((atom, slot)) => (atom, format!(":{slot}")),
                None => (c.package.as_str(), String::new()),
            };
            out.push(format!(
                "* {atom}-{}{slot} USE {}",
                c.version,
                flags.join(" ")
            ));
        }
        out
    }
}

/// The changes from packages `old` to packages `new`.
pub fn diff(old: &[Package], new: &[Package]) -> PackageDiff {
    let by_key = |packages: &[Package]| -> BTreeMap<String, Package> {
        packages.iter().map(|p| (p.key(), p.clone())).collect()
    };
    let (before, after) = (by_key(old), by_key(new));
    let mut out = PackageDiff::default();
    for (key, a) in &before {
        let Some(b) = after.get(key) else {
            out.removed.push(a.cpv());
            continue;
        };
        let change = VersionChange {
            package: key.clone(),
            from: a.version.clone(),
            to: b.version.clone(),
        };
        match compare(&a.version, &b.version) {
            Ordering::Less => out.upgraded.push(change),
            Ordering::Greater => out.downgraded.push(change),
            Ordering::Equal => {}
        }
        if a.use_flags != b.use_flags {
            out.use_changes.push(UseChange {
                package: key.clone(),
                version: b.version.clone(),
                enabled: b.use_flags.difference(&a.use_flags).cloned().collect(),
                disabled: a.use_flags.difference(&b.use_flags).cloned().collect(),
            });
        }
    }
    out.added = after
        .iter()
        .filter(|(key, _)| !before.contains_key(*key))
        .map(|(_, p)| p.cpv())
        .collect();
    out
}

/// PMS version order; versions that do not parse compare as text (and equal ones as equal).
fn compare(a: &str, b: &str) -> Ordering {
    match (Version::parse(a), Version::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(atom: &str, slot: &str, version: &str, flags: &[&str]) -> Package {
        let (category, name) = atom.split_once('/').expect("category/name");
        Package {
            category: category.into(),
            name: name.into(),
            slot: slot.into(),
            version: version.into(),
            use_flags: flags.iter().map(|f| f.to_string()).collect(),
        }
    }

    #[test]
    fn a_use_change_alone_is_exactly_one_line() {
        let old = [
            pkg("app-misc/hello", "0", "2.12.2", &[]),
            pkg("sys-libs/ncurses", "0/6", "6.4", &["cxx"]),
        ];
        let new = [
            pkg("app-misc/hello", "0", "2.12.2", &["nls"]),
            pkg("sys-libs/ncurses", "0/6", "6.4", &["cxx"]),
        ];
        let d = diff(&old, &new);
        assert_eq!(d.lines(), ["* app-misc/hello-2.12.2 USE +nls"]);
        let slotted = diff(
            &[pkg("www-servers/nginx", "mainline", "1.24.0", &["http2"])],
            &[pkg("www-servers/nginx", "mainline", "1.24.0", &["debug"])],
        );
        assert_eq!(
            slotted.lines(),
            ["* www-servers/nginx-1.24.0:mainline USE +debug -http2"]
        );
        assert!(diff(&new, &new).is_empty());
    }

    #[test]
    fn versions_compare_in_pms_order_per_slot() {
        let old = [
            pkg("app-misc/hello", "0", "2.10", &[]),
            pkg("dev-libs/openssl", "0/3", "3.0.9", &[]),
            pkg("dev-lang/python", "3.11", "3.11.9", &[]),
            pkg("app-editors/nano", "0", "7.2-r1", &["spell"]),
            pkg("app-misc/gone", "0", "1", &[]),
        ];
        let new = [
            pkg("app-misc/hello", "0", "2.12.2", &[]),
            // A sub-slot move is the same slot.
            pkg("dev-libs/openssl", "0/3.1", "3.0.10", &[]),
            pkg("dev-lang/python", "3.11", "3.11.9", &[]),
            pkg("dev-lang/python", "3.12", "3.12.1", &[]),
            pkg("app-editors/nano", "0", "7.2", &["debug"]),
        ];
        assert_eq!(
            diff(&old, &new).lines(),
            [
                "+ dev-lang/python-3.12.1",
                "- app-misc/gone-1",
                "U app-misc/hello 2.10 -> 2.12.2",
                // 3.0.10 > 3.0.9, though not as text.
                "U dev-libs/openssl 3.0.9 -> 3.0.10",
                "D app-editors/nano 7.2-r1 -> 7.2",
                "* app-editors/nano-7.2 USE +debug -spell",
            ]
        );
    }

    #[test]
    fn versions_that_do_not_parse_still_compare() {
        let d = diff(&[pkg("x/y", "0", "b", &[])], &[pkg("x/y", "0", "a", &[])]);
        assert_eq!(d.lines(), ["D x/y b -> a"]);
    }
}
