//! The inputs of one image and their digest: the drift key.
//!
//! An image consumes the *tree* of its portage and buildhooks branches, the *blobs* of its set
//! file and of every set it includes, its cpu profile and the build-relevant fields of its spec.
//! The digest is sha256 over a canonical JSON encoding of exactly those, so a commit that
//! changes nothing an image consumes leaves its digest alone.

use super::cpus::CpuProfile;
use super::options::{KernelSpec, Repairs, Variant};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Domain separator hashed before the encoding; bump it only to rebuild every image.
const DIGEST_DOMAIN: &[u8] = b"zentoo.dev/inputs/v1\n";

/// A branch an image consumes, by name and tree id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BranchInput {
    /// Full branch name, e.g. `portage/desktop`.
    pub branch: String,
    /// Git tree id of the branch tip.
    pub tree: String,
}

/// The cpu an image is built for: its name and canonical profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CpuInput {
    /// The cpu's name (`amd64`, `znver3`, ...).
    pub name: String,
    /// Its canonical profile.
    #[serde(flatten)]
    pub profile: CpuProfile,
}

/// Build-relevant fields of an image's spec.
///
/// Fields added later must be `Option` and skipped when `None`, so digests of images that do
/// not use them stay the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpecInputs {
    /// The stage3 image builds start from.
    pub stage3: String,
    /// The ebuild repository snapshot (`latest`, a date, or a commit).
    pub repo_snapshot: String,
    /// The Portage profile (`eselect profile set` value).
    pub profile: String,
    /// The build variant; `opt` (the default) is left out.
    #[serde(default, skip_serializing_if = "Variant::is_opt")]
    pub variant: Variant,
    /// The kernel built with the image, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelSpec>,
    /// Repairs after the build; none are left out.
    #[serde(default, skip_serializing_if = "Repairs::is_off")]
    pub repairs: Repairs,
}

/// Everything one image consumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    /// The portage config branch.
    pub portage: BranchInput,
    /// The buildhooks branch, if any.
    pub buildhooks: Option<BranchInput>,
    /// The set the image installs.
    pub set: String,
    /// Blob ids of that set's file and every set file it includes, by set name.
    pub sets: BTreeMap<String, String>,
    /// The cpu profile.
    pub cpu: CpuInput,
    /// Build-relevant spec fields.
    pub spec: SpecInputs,
}

impl Inputs {
    /// `sha256:<hex>` over the canonical encoding.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(DIGEST_DOMAIN);
        // Serialising plain structs and BTreeMaps cannot fail and is deterministic.
        let encoded = serde_json::to_vec(self).unwrap_or_default();
        hasher.update(&encoded);
        format!("sha256:{}", hex::encode(hasher.finalize()))
    }

    /// What changed from `old` to `self`, in words a person understands.
    pub fn changes_since(&self, old: &Inputs) -> Vec<String> {
        let mut reasons = Vec::new();
        branch_change(
            &mut reasons,
            "portage",
            Some(&old.portage),
            Some(&self.portage),
        );
        branch_change(
            &mut reasons,
            "buildhooks",
            old.buildhooks.as_ref(),
            self.buildhooks.as_ref(),
        );
        if old.set != self.set {
            reasons.push(format!("set changed (@{} -> @{})", old.set, self.set));
        }
        let top = &self.set;
        if old.sets.get(top) != self.sets.get(top) {
            reasons.push(format!("set {top} changed"));
        }
        let names: std::collections::BTreeSet<&String> = old
            .sets
            .keys()
            .chain(self.sets.keys())
            .filter(|n| *n != top)
            .collect();
        for name in names {
            match (old.sets.get(name), self.sets.get(name)) {
                (Some(a), Some(b)) if a != b => {
                    reasons.push(format!("set {top} changed via @{name}"))
                }
                (None, Some(_)) => reasons.push(format!("set {top} now includes @{name}")),
                (Some(_), None) => reasons.push(format!("set {top} no longer includes @{name}")),
                _ => {}
            }
        }
        cpu_change(&mut reasons, &old.cpu, &self.cpu);
        let (a, b) = (&old.spec, &self.spec);
        for (what, x, y) in [
            ("stage3", &a.stage3, &b.stage3),
            ("repo snapshot", &a.repo_snapshot, &b.repo_snapshot),
            ("profile", &a.profile, &b.profile),
        ] {
            if x != y {
                reasons.push(format!("{what} changed ({x} -> {y})"));
            }
        }
        if a.variant != b.variant {
            reasons.push(format!(
                "variant changed ({} -> {})",
                a.variant.as_str(),
                b.variant.as_str()
            ));
        }
        let kernel = |k: &Option<KernelSpec>| match k {
            None => "none".to_string(),
            Some(k) => match &k.config {
                Some(c) => format!("{} with {c}", k.package),
                None => k.package.clone(),
            },
        };
        if a.kernel != b.kernel {
            reasons.push(format!(
                "kernel changed ({} -> {})",
                kernel(&a.kernel),
                kernel(&b.kernel)
            ));
        }
        if a.repairs != b.repairs {
            let names = |r: &Repairs| match r.names() {
                n if n.is_empty() => "none".to_string(),
                n => n.join(", "),
            };
            reasons.push(format!(
                "repairs changed ({} -> {})",
                names(&a.repairs),
                names(&b.repairs)
            ));
        }
        reasons
    }
}

fn branch_change(
    reasons: &mut Vec<String>,
    kind: &str,
    old: Option<&BranchInput>,
    new: Option<&BranchInput>,
) {
    match (old, new) {
        (Some(a), Some(b)) if a.branch != b.branch => reasons.push(format!(
            "{kind} branch changed ({} -> {})",
            a.branch, b.branch
        )),
        (Some(a), Some(b)) if a.tree != b.tree => {
            reasons.push(format!("{} tree changed", b.branch))
        }
        (None, Some(b)) => reasons.push(format!("{} added", b.branch)),
        (Some(a), None) => reasons.push(format!("{} no longer used", a.branch)),
        _ => {}
    }
}

fn cpu_change(reasons: &mut Vec<String>, old: &CpuInput, new: &CpuInput) {
    if old.name != new.name {
        reasons.push(format!("cpu changed ({} -> {})", old.name, new.name));
        return;
    }
    let (a, b) = (&old.profile, &new.profile);
    let fields: Vec<&str> = [
        ("arch", a.arch != b.arch),
        ("chost", a.chost != b.chost),
        ("cflags", a.cflags != b.cflags),
        ("cxxflags", a.cxxflags != b.cxxflags),
        ("cpu_flags", a.cpu_flags != b.cpu_flags),
    ]
    .into_iter()
    .filter_map(|(f, changed)| changed.then_some(f))
    .collect();
    if !fields.is_empty() {
        reasons.push(format!("cpu {} changed ({})", new.name, fields.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            portage: BranchInput {
                branch: "portage/desktop".into(),
                tree: "t1".into(),
            },
            buildhooks: None,
            set: "kde".into(),
            sets: BTreeMap::from([("kde".into(), "b1".into()), ("base".into(), "b2".into())]),
            cpu: CpuInput {
                name: "amd64".into(),
                profile: CpuProfile {
                    arch: "amd64".into(),
                    chost: "x86_64-pc-linux-gnu".into(),
                    cflags: "-O2 -pipe".into(),
                    cxxflags: "-O2 -pipe".into(),
                    cpu_flags: BTreeMap::new(),
                },
            },
            spec: SpecInputs {
                stage3: "s".into(),
                repo_snapshot: "latest".into(),
                profile: "p".into(),
                ..SpecInputs::default()
            },
        }
    }

    #[test]
    fn digest_is_stable_and_pinned() {
        let a = inputs();
        assert_eq!(a.digest(), a.clone().digest());
        assert!(a.digest().starts_with("sha256:"));
        assert_eq!(a.digest().len(), 7 + 64);
        // Pinned: a change here rebuilds every image of every site. Only bump deliberately.
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"portage":{"branch":"portage/desktop","tree":"t1"},"buildhooks":null,"set":"kde","sets":{"base":"b2","kde":"b1"},"cpu":{"name":"amd64","arch":"amd64","chost":"x86_64-pc-linux-gnu","cflags":"-O2 -pipe","cxxflags":"-O2 -pipe","cpuFlags":{}},"spec":{"stage3":"s","repoSnapshot":"latest","profile":"p"}}"#
        );
    }

    #[test]
    fn every_input_changes_the_digest_and_says_why() {
        let base = inputs();
        type Case = (Box<dyn Fn(&mut Inputs)>, &'static str);
        let cases: Vec<Case> = vec![
            (
                Box::new(|i| i.portage.tree = "t2".into()),
                "portage/desktop tree changed",
            ),
            (
                Box::new(|i| {
                    i.buildhooks = Some(BranchInput {
                        branch: "buildhooks/x".into(),
                        tree: "h".into(),
                    })
                }),
                "buildhooks/x added",
            ),
            (
                Box::new(|i| {
                    i.sets.insert("kde".into(), "b9".into());
                }),
                "set kde changed",
            ),
            (
                Box::new(|i| {
                    i.sets.insert("base".into(), "b9".into());
                }),
                "set kde changed via @base",
            ),
            (
                Box::new(|i| {
                    i.sets.insert("more".into(), "b9".into());
                }),
                "set kde now includes @more",
            ),
            (
                Box::new(|i| {
                    i.sets.remove("base");
                }),
                "set kde no longer includes @base",
            ),
            (
                Box::new(|i| i.cpu.profile.cflags = "-O3".into()),
                "cpu amd64 changed (cflags)",
            ),
            (
                Box::new(|i| i.spec.stage3 = "t".into()),
                "stage3 changed (s -> t)",
            ),
            (
                Box::new(|i| i.spec.repo_snapshot = "2026".into()),
                "repo snapshot changed (latest -> 2026)",
            ),
            (
                Box::new(|i| i.spec.profile = "q".into()),
                "profile changed (p -> q)",
            ),
            (
                Box::new(|i| i.spec.variant = Variant::Dbg),
                "variant changed (opt -> dbg)",
            ),
            (
                Box::new(|i| {
                    i.spec.kernel = Some(KernelSpec {
                        package: "sys-kernel/gentoo-kernel".into(),
                        config: Some("kernel/config".into()),
                    })
                }),
                "kernel changed (none -> sys-kernel/gentoo-kernel with kernel/config)",
            ),
            (
                Box::new(|i| i.spec.repairs.depclean = true),
                "repairs changed (none -> depclean)",
            ),
        ];
        for (change, reason) in cases {
            let mut next = base.clone();
            change(&mut next);
            assert_ne!(next.digest(), base.digest(), "{reason}");
            assert_eq!(next.changes_since(&base), [reason]);
        }
        assert!(base.changes_since(&base).is_empty());
    }
}
