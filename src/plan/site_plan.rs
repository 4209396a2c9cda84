//! The site plan: one image per good tuple, errors for the rest.

use super::SpecDefaults;
use crate::site::SiteError;
use crate::site::cpus::parse_cpus;
use crate::site::inputs::{BranchInput, CpuInput, Inputs};
use crate::site::sets::{SETS_DIR, SetResolver};
use crate::site::snapshot::SiteSnapshot;
use crate::site::tuples::{Tuple, parse_tuples};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// What makes two tuples the same image: cpu, portage, buildhooks, set.
type TupleKey = (String, String, Option<String>, String);

/// How to plan a site.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Spec fields for images that set none.
    pub defaults: SpecDefaults,
}

/// One image a site defines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePlan {
    /// The tuple as written; the image's name.
    pub name: String,
    /// Its line in the tuples file.
    pub line: u32,
    /// The cpu's name.
    pub cpu: String,
    /// The cpu's Gentoo arch.
    pub arch: String,
    /// Portage config name.
    pub portage: String,
    /// Buildhooks name, `None` for `none`.
    pub buildhooks: Option<String>,
    /// Package set name.
    pub set: String,
    /// The set's atoms with includes expanded, in order.
    pub atoms: Vec<String>,
    /// What the digest was made of.
    pub inputs: Inputs,
    /// `sha256:<hex>` of `inputs`.
    pub inputs_digest: String,
    /// True when the image must be (re)built compared with the earlier plan.
    pub changed: bool,
    /// Why it changed, in words.
    pub reasons: Vec<String>,
}

/// A site's plan at one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitePlan {
    /// Commit id of the tracked ref.
    pub revision: String,
    /// The tracked ref.
    #[serde(rename = "ref")]
    pub tracked_ref: String,
    /// Images of the good tuples, by name.
    pub images: Vec<ImagePlan>,
    /// Images of the earlier plan whose tuple left the tuples file.
    pub removed: Vec<String>,
    /// Problems, by file and line; each stops only what it names.
    pub errors: Vec<SiteError>,
}

/// Plans every tuple of `snapshot`. Pure: no I/O.
pub fn plan_site(snapshot: &SiteSnapshot, options: &PlanOptions) -> SitePlan {
    let (cpus, mut errors) = parse_cpus(snapshot.cpus.as_ref().map(|f| (f.path.as_str(), &f.text)));
    let tuples_text = snapshot.tuples.text.as_deref().unwrap_or_default();
    let (tuples, tuple_errors) = parse_tuples(&snapshot.tuples.path, tuples_text);
    errors.extend(tuple_errors);

    let mut resolver = SetResolver::new(&snapshot.sets);
    let mut first_seen: HashMap<TupleKey, (u32, String)> = HashMap::new();
    let mut images = Vec::new();
    for tuple in &tuples {
        let mut problems: Vec<(&str, String)> = Vec::new();
        let cpu = match cpus.lookup(tuple.cpu.as_deref()) {
            Ok(found) => Some(found),
            Err(why) => {
                problems.push(("cpu", why));
                None
            }
        };
        let cpu_key = match (&cpu, &tuple.cpu) {
            (Some((name, _)), _) => name.clone(),
            (None, Some(raw)) => raw.clone(),
            (None, None) => String::new(),
        };
        let key = (
            cpu_key,
            tuple.portage.clone(),
            tuple.buildhooks.clone(),
            tuple.set.clone(),
        );
        if let Some((line, name)) = first_seen.get(&key) {
            let same = if *name == tuple.name {
                String::new()
            } else {
                format!(" (`{name}`: the same cpu, portage, buildhooks and set)")
            };
            problems.push(("tuple", format!("duplicate of line {line}{same}")));
        } else {
            first_seen.insert(key, (tuple.line, tuple.name.clone()));
        }
        let portage = branch(
            &snapshot.portage,
            &snapshot.prefixes.portage,
            &tuple.portage,
        )
        .map_err(|why| problems.push(("portage", why)))
        .ok();
        let buildhooks = match &tuple.buildhooks {
            None => Some(None),
            Some(name) => branch(&snapshot.buildhooks, &snapshot.prefixes.buildhooks, name)
                .map(Some)
                .map_err(|why| problems.push(("buildhooks", why)))
                .ok(),
        };
        let set = if resolver.exists(&tuple.set) {
            resolver
                .resolve(&tuple.set)
                .map_err(|why| {
                    problems.push(("set", format!("set `{}` cannot be used: {why}", tuple.set)))
                })
                .ok()
        } else {
            let known: Vec<&str> = snapshot.sets.keys().map(String::as_str).take(20).collect();
            problems.push((
                "set",
                format!(
                    "no set `{}`: there is no file {SETS_DIR}/{} on {} (sets: {})",
                    tuple.set,
                    tuple.set,
                    snapshot.tracked_ref,
                    list_or_none(&known)
                ),
            ));
            None
        };

        match (cpu, portage, buildhooks, set, problems.is_empty()) {
            (Some((cpu_name, profile)), Some(portage), Some(buildhooks), Some(set), true) => {
                let inputs = Inputs {
                    portage,
                    buildhooks,
                    set: tuple.set.clone(),
                    sets: set.blobs.clone(),
                    cpu: CpuInput {
                        name: cpu_name.clone(),
                        profile: profile.clone(),
                    },
                    spec: options.defaults.for_arch(&profile.arch),
                };
                images.push(image(
                    tuple,
                    cpu_name,
                    profile.arch.clone(),
                    set.atoms.clone(),
                    inputs,
                ));
            }
            _ => errors.extend(problems.into_iter().map(|(field, message)| {
                SiteError::new(&snapshot.tuples.path, Some(tuple.line), field, message)
                    .for_tuple(&tuple.name)
            })),
        }
    }
    errors.extend(resolver.into_errors());
    errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    errors.dedup();
    images.sort_by(|a, b| a.name.cmp(&b.name));
    SitePlan {
        revision: snapshot.revision.clone(),
        tracked_ref: snapshot.tracked_ref.clone(),
        images,
        removed: Vec::new(),
        errors,
    }
}

fn image(
    tuple: &Tuple,
    cpu: String,
    arch: String,
    atoms: Vec<String>,
    inputs: Inputs,
) -> ImagePlan {
    ImagePlan {
        name: tuple.name.clone(),
        line: tuple.line,
        cpu,
        arch,
        portage: tuple.portage.clone(),
        buildhooks: tuple.buildhooks.clone(),
        set: tuple.set.clone(),
        atoms,
        inputs_digest: inputs.digest(),
        inputs,
        changed: true,
        reasons: vec!["no earlier plan".into()],
    }
}

fn branch(
    branches: &BTreeMap<String, String>,
    prefix: &str,
    name: &str,
) -> Result<BranchInput, String> {
    match branches.get(name) {
        Some(tree) => Ok(BranchInput {
            branch: format!("{prefix}{name}"),
            tree: tree.clone(),
        }),
        None => {
            let known: Vec<&str> = branches.keys().map(String::as_str).take(20).collect();
            Err(format!(
                "no branch {prefix}{name} (branches under {prefix}: {})",
                list_or_none(&known)
            ))
        }
    }
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}
