//! Build options of an image beyond its branches and sets: the build variant, the kernel, the
//! repairs run after the build, and the checks of the pinned values (repo snapshot, profile,
//! stage3). Pure; shared by the inputs digest and the CRD types.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A build preset: `opt` (the cpu profile's flags as they are) or `dbg` (`-Og -g` in place of
/// the `-O` level, `FEATURES=splitdebug`: debug info in `/usr/lib/debug`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The cpu profile's flags as they are.
    #[default]
    Opt,
    /// Debug builds: `-Og -g` in place of the profile's `-O` level, `FEATURES=splitdebug`
    /// (debug info in `/usr/lib/debug`).
    Dbg,
}

impl Variant {
    /// Its name: `opt`, `dbg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Opt => "opt",
            Variant::Dbg => "dbg",
        }
    }

    /// True for the default, which the inputs digest leaves out.
    pub fn is_opt(&self) -> bool {
        *self == Variant::Opt
    }

    /// `flags` (CFLAGS or CXXFLAGS) for this variant.
    pub fn flags(self, flags: &str) -> String {
        match self {
            Variant::Opt => flags.to_string(),
            Variant::Dbg => {
                let mut out: Vec<&str> = flags
                    .split_whitespace()
                    .filter(|f| !is_opt_level(f) && *f != "-g" && !f.starts_with("-ggdb"))
                    .collect();
                out.extend(["-Og", "-g"]);
                out.join(" ")
            }
        }
    }

    /// Portage FEATURES this variant adds.
    pub fn features(self) -> &'static str {
        match self {
            Variant::Opt => "",
            Variant::Dbg => "splitdebug",
        }
    }
}

impl std::str::FromStr for Variant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opt" => Ok(Variant::Opt),
            "dbg" => Ok(Variant::Dbg),
            other => Err(format!("unknown variant `{other}` (known: opt, dbg)")),
        }
    }
}

/// `-O`, `-O0`..`-O3`, `-Os`, `-Oz`, `-Og`, `-Ofast`.
fn is_opt_level(flag: &str) -> bool {
    flag.strip_prefix("-O")
        .is_some_and(|l| l.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The kernel an image builds: a `sys-kernel/*` package and, optionally, its configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KernelSpec {
    /// The kernel package, e.g. `sys-kernel/gentoo-kernel` (any atom of category `sys-kernel`).
    pub package: String,
    /// A kernel `.config` in the portage branch, relative to its root (e.g. `kernel/config`):
    /// installed as the package's `savedconfig` (and `USE=savedconfig` set for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// Repairs run after the build.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Repairs {
    /// `emerge @preserved-rebuild` after the build step's emerge: rebuilds packages still
    /// linked to libraries that an upgrade replaced.
    #[serde(default, skip_serializing_if = "is_false")]
    pub preserved_rebuild: bool,
    /// `emerge --depclean` in the assembled target root: removes what the set does not need.
    #[serde(default, skip_serializing_if = "is_false")]
    pub depclean: bool,
    /// Check that every shared library each ELF file of the target root needs resolves inside
    /// that root; missing ones fail the publish step, listed per file.
    #[serde(default, skip_serializing_if = "is_false")]
    pub check_libraries: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Repairs {
    /// True when no repair is asked for (left out of the inputs digest).
    pub fn is_off(&self) -> bool {
        *self == Repairs::default()
    }

    /// The repairs asked for, by name.
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("preservedRebuild", self.preserved_rebuild),
            ("depclean", self.depclean),
            ("checkLibraries", self.check_libraries),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect()
    }
}

/// Why `snapshot` is not a repo snapshot zentoo can sync: `latest`, a date `YYYYMMDD` or a git
/// commit id (7 to 40 hex digits, lower case).
pub fn snapshot_problem(snapshot: &str) -> Option<String> {
    let ok = snapshot == "latest" || is_date(snapshot) || is_commit(snapshot);
    (!ok).then(|| {
        format!(
            "repo snapshot `{snapshot}` is not `latest`, a date (YYYYMMDD, e.g. 20261101) or a git commit id (7 to 40 lower-case hex digits)"
        )
    })
}

/// The kind of a snapshot value already checked by [`snapshot_problem`].
pub fn snapshot_kind(snapshot: &str) -> &'static str {
    if snapshot == "latest" {
        "latest"
    } else if is_date(snapshot) {
        "date"
    } else {
        "commit"
    }
}

fn is_date(s: &str) -> bool {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let month: u32 = s[4..6].parse().unwrap_or(0);
    let day: u32 = s[6..8].parse().unwrap_or(0);
    s[..4] >= *"2000" && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// All-digit values are dates (or nothing), never abbreviated commits.
fn is_commit(s: &str) -> bool {
    (7..=40).contains(&s.len())
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && !s.bytes().all(|b| b.is_ascii_digit())
}

/// Why `profile` cannot be an `eselect profile set` value.
pub fn profile_problem(profile: &str) -> Option<String> {
    let ok = !profile.is_empty()
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./+-:".contains(c))
        && !profile.split('/').any(|p| p == "..")
        && !profile.starts_with('/');
    (!ok).then(|| {
        format!("profile `{profile}` is not a profile path like `default/linux/amd64/23.0`")
    })
}

/// Why `stage3` cannot be an image reference.
pub fn stage3_problem(stage3: &str) -> Option<String> {
    let ok = !stage3.is_empty()
        && stage3
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@-".contains(c));
    (!ok).then(|| format!("stage3 `{stage3}` is not an image reference (host/repo:tag)"))
}

/// Why `kernel` cannot be built.
pub fn kernel_problem(kernel: &KernelSpec) -> Option<String> {
    if let Some(why) = super::atom::atom_problem(&kernel.package) {
        return Some(format!("kernel package `{}`: {why}", kernel.package));
    }
    let cp = kernel
        .package
        .trim_start_matches(['>', '<', '=', '~'])
        .split([':', '['])
        .next()
        .unwrap_or_default();
    if !cp.starts_with("sys-kernel/") {
        return Some(format!(
            "kernel package `{}` is not of category sys-kernel (e.g. sys-kernel/gentoo-kernel)",
            kernel.package
        ));
    }
    if let Some(config) = &kernel.config {
        let ok = !config.is_empty()
            && !config.starts_with('/')
            && config
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..")
            && config
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./+-".contains(c));
        if !ok {
            return Some(format!(
                "kernel config `{config}` is not a path inside the portage branch (like kernel/config)"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbg_replaces_the_optimisation_level_and_adds_debug_info() {
        assert_eq!(
            Variant::Dbg.flags("-O2 -pipe -march=znver3"),
            "-pipe -march=znver3 -Og -g"
        );
        assert_eq!(Variant::Dbg.flags("-Ofast -ggdb3 -g"), "-Og -g");
        assert_eq!(Variant::Opt.flags("-O2 -pipe"), "-O2 -pipe");
        assert_eq!(Variant::Dbg.features(), "splitdebug");
        assert_eq!("dbg".parse::<Variant>(), Ok(Variant::Dbg));
        assert!("fast".parse::<Variant>().unwrap_err().contains("opt, dbg"));
    }

    #[test]
    fn snapshots_are_latest_dates_or_commits() {
        for good in ["latest", "20261101", "c0ffee1", &"a".repeat(40)] {
            assert_eq!(snapshot_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "2026-11-01",
            "20261301",
            "19991231",
            "C0FFEE1",
            "../x",
            "abc",
        ] {
            assert!(snapshot_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(snapshot_kind("20261101"), "date");
        assert_eq!(snapshot_kind("c0ffee1"), "commit");
    }

    #[test]
    fn kernels_are_sys_kernel_packages_with_a_relative_config() {
        let k = |p: &str, c: Option<&str>| KernelSpec {
            package: p.into(),
            config: c.map(Into::into),
        };
        assert_eq!(kernel_problem(&k("sys-kernel/gentoo-kernel", None)), None);
        assert_eq!(
            kernel_problem(&k(
                "=sys-kernel/gentoo-kernel-6.6.58",
                Some("kernel/config")
            )),
            None
        );
        assert!(
            kernel_problem(&k("app-misc/hello", None))
                .unwrap()
                .contains("sys-kernel")
        );
        for bad in ["/etc/passwd", "../x", "kernel/../x", "a b", ""] {
            assert!(
                kernel_problem(&k("sys-kernel/gentoo-kernel", Some(bad))).is_some(),
                "{bad}"
            );
        }
    }

    #[test]
    fn profiles_and_stage3_refs_are_checked() {
        assert_eq!(profile_problem("default/linux/amd64/23.0/hardened"), None);
        assert!(profile_problem("default/../../etc").is_some());
        assert!(profile_problem("a b").is_some());
        assert_eq!(
            stage3_problem("docker.io/gentoo/stage3:amd64-openrc-20261101"),
            None
        );
        assert!(stage3_problem("x y").is_some());
    }

    #[test]
    fn repairs_left_off_serialise_to_nothing() {
        assert_eq!(serde_json::to_string(&Repairs::default()).unwrap(), "{}");
        let r = Repairs {
            depclean: true,
            ..Repairs::default()
        };
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"depclean":true}"#);
        assert_eq!(r.names(), ["depclean"]);
    }
}
