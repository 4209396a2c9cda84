//! The site plan: one image per good tuple, errors for the rest.

use super::SpecDefaults;
use super::limits::Limits;
use crate::site::SiteError;
use crate::site::cpus::{Cpus, parse_cpus};
use crate::site::inputs::{BranchInput, CpuInput, Inputs, SpecInputs};
use crate::site::names::name_problem;
use crate::site::options::{
    KernelSpec, Repairs, Variant, kernel_problem, profile_problem, snapshot_problem, stage3_problem,
};
use crate::site::sets::{AtomLimits, SETS_DIR, SetResolver};
use crate::site::snapshot::SiteSnapshot;
use crate::site::tuples::parse_tuples;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What makes two tuples the same image: cpu, portage, buildhooks, set.
type TupleKey = (String, String, Option<String>, String);

/// How to plan a site.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Spec fields for images that set none.
    pub defaults: SpecDefaults,
    /// What the site may make.
    pub limits: Limits,
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
    /// The set's atoms with includes expanded, in order; shared by the images of the set.
    #[serde(with = "shared_atoms")]
    pub atoms: Arc<[Arc<str>]>,
    /// What the digest was made of.
    pub inputs: Inputs,
    /// `sha256:<hex>` of `inputs`.
    pub inputs_digest: String,
    /// True when the image must be (re)built compared with the earlier plan.
    pub changed: bool,
    /// Why it changed, in words.
    pub reasons: Vec<String>,
}

impl ImagePlan {
    /// The same image built at repo snapshot `snapshot` instead: what a security update
    /// builds. Its inputs digest is the one planning it with that snapshot gives.
    pub fn at_snapshot(&self, snapshot: &str) -> ImagePlan {
        let mut image = self.clone();
        image.inputs.spec.repo_snapshot = snapshot.to_string();
        image.inputs_digest = image.inputs.digest();
        image
    }
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

/// What one image consumes, named as in a tuple (or a GentooImage spec).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageRequest {
    /// Cpu name; `None`: the site's default cpu.
    pub cpu: Option<String>,
    /// Portage config name.
    pub portage: String,
    /// Buildhooks name; `None`: no buildhooks.
    pub buildhooks: Option<String>,
    /// Set name.
    pub set: String,
    /// Spec fields that override the defaults.
    pub spec: SpecOverrides,
}

/// Build-relevant spec fields an image sets itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecOverrides {
    /// Stage3 image.
    pub stage3: Option<String>,
    /// Ebuild repository snapshot.
    pub repo_snapshot: Option<String>,
    /// Portage profile.
    pub profile: Option<String>,
    /// Build variant.
    pub variant: Option<Variant>,
    /// Kernel to build.
    pub kernel: Option<KernelSpec>,
    /// Repairs after the build.
    pub repairs: Option<Repairs>,
}

/// Resolves images against one snapshot, parsing cpus.yaml and each set once.
struct Planner<'a> {
    snapshot: &'a SiteSnapshot,
    options: &'a PlanOptions,
    cpus: Cpus,
    resolver: SetResolver<'a>,
}

impl<'a> Planner<'a> {
    /// A planner and the errors of cpus.yaml.
    fn new(snapshot: &'a SiteSnapshot, options: &'a PlanOptions) -> (Self, Vec<SiteError>) {
        let (cpus, errors) = parse_cpus(snapshot.cpus.as_ref().map(|f| (f.path.as_str(), &f.text)));
        let limits = AtomLimits {
            per_set: options.limits.set_atoms,
            in_all: options.limits.planned_atoms,
        };
        let resolver = SetResolver::new(&snapshot.sets, limits);
        (
            Planner {
                snapshot,
                options,
                cpus,
                resolver,
            },
            errors,
        )
    }

    /// The resolved cpu name (or the raw field when it cannot be resolved).
    fn cpu_key(&self, cpu: Option<&str>) -> String {
        match self.cpus.lookup(cpu) {
            Ok((name, _)) => name,
            Err(_) => cpu.unwrap_or_default().to_string(),
        }
    }

    /// Plans one image, or says, field by field, why it cannot be planned.
    fn image(
        &mut self,
        name: &str,
        line: u32,
        req: &ImageRequest,
    ) -> Result<ImagePlan, Vec<(&'static str, String)>> {
        let snapshot = self.snapshot;
        // The names a spec gives must be ones the build steps take (tuples are checked when
        // parsed).
        let names = [
            ("cpu", req.cpu.as_deref()),
            ("portage", Some(req.portage.as_str())),
            ("buildhooks", req.buildhooks.as_deref()),
            ("set", Some(req.set.as_str())),
        ];
        let problems: Vec<(&'static str, String)> = names
            .into_iter()
            .filter_map(|(field, name)| Some((field, name_problem(name?)?)))
            .map(|(field, p)| (field, format!("{field} name {p}")))
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        let cpu = self
            .cpus
            .lookup(req.cpu.as_deref())
            .map_err(|why| problems.push(("cpu", why)))
            .ok();
        let portage = branch(&snapshot.portage, &snapshot.prefixes.portage, &req.portage)
            .map_err(|why| problems.push(("portage", why)))
            .ok();
        let buildhooks = match &req.buildhooks {
            None => Some(None),
            Some(name) => branch(&snapshot.buildhooks, &snapshot.prefixes.buildhooks, name)
                .map(Some)
                .map_err(|why| problems.push(("buildhooks", why)))
                .ok(),
        };
        let set = if self.resolver.exists(&req.set) {
            self.resolver
                .resolve(&req.set)
                .map_err(|why| {
                    problems.push(("set", format!("set `{}` cannot be used: {why}", req.set)))
                })
                .ok()
        } else {
            let known: Vec<&str> = snapshot.sets.keys().map(String::as_str).take(20).collect();
            problems.push((
                "set",
                format!(
                    "no set `{}`: there is no file {SETS_DIR}/{} on {} (sets: {})",
                    req.set,
                    req.set,
                    snapshot.tracked_ref,
                    list_or_none(&known)
                ),
            ));
            None
        };
        let spec = cpu.as_ref().map(|(_, profile)| {
            let defaults = self.options.defaults.for_arch(&profile.arch);
            let o = &req.spec;
            SpecInputs {
                stage3: o.stage3.clone().unwrap_or(defaults.stage3),
                repo_snapshot: o.repo_snapshot.clone().unwrap_or(defaults.repo_snapshot),
                profile: o.profile.clone().unwrap_or(defaults.profile),
                variant: o.variant.unwrap_or(defaults.variant),
                kernel: o.kernel.clone().or(defaults.kernel),
                repairs: o.repairs.clone().unwrap_or(defaults.repairs),
            }
        });
        if let Some(spec) = &spec {
            problems.extend(spec_problems(spec));
        }
        match (cpu, portage, buildhooks, set, spec) {
            (Some((cpu_name, profile)), Some(portage), Some(buildhooks), Some(set), Some(spec))
                if problems.is_empty() =>
            {
                let inputs = Inputs {
                    portage,
                    buildhooks,
                    set: req.set.clone(),
                    sets: set.blobs.clone(),
                    cpu: CpuInput {
                        name: cpu_name.clone(),
                        profile: profile.clone(),
                    },
                    spec,
                };
                Ok(ImagePlan {
                    name: name.to_string(),
                    line,
                    cpu: cpu_name,
                    arch: profile.arch.clone(),
                    portage: req.portage.clone(),
                    buildhooks: req.buildhooks.clone(),
                    set: req.set.clone(),
                    atoms: Arc::clone(&set.atoms),
                    inputs_digest: inputs.digest(),
                    inputs,
                    changed: true,
                    reasons: vec!["no earlier plan".into()],
                })
            }
            _ => Err(problems),
        }
    }
}

/// Plans every tuple of `snapshot`. Pure: no I/O.
pub fn plan_site(snapshot: &SiteSnapshot, options: &PlanOptions) -> SitePlan {
    let (mut planner, mut errors) = Planner::new(snapshot, options);
    let tuples_text = snapshot.tuples.text.as_deref().unwrap_or_default();
    let (tuples, tuple_errors) = parse_tuples(&snapshot.tuples.path, tuples_text);
    errors.extend(tuple_errors);

    let limits = &options.limits;
    let mut first_seen: HashMap<TupleKey, (u32, String)> = HashMap::new();
    let mut images = Vec::new();
    let mut planned_atoms = 0usize;
    for (index, tuple) in tuples.iter().enumerate() {
        if index >= limits.tuples {
            let message = format!(
                "the site has more than {} tuples (the limit): this one is not planned",
                limits.tuples
            );
            errors.push(
                SiteError::new(&snapshot.tuples.path, Some(tuple.line), "tuple", message)
                    .for_tuple(&tuple.name),
            );
            continue;
        }
        let request = ImageRequest {
            cpu: tuple.cpu.clone(),
            portage: tuple.portage.clone(),
            buildhooks: tuple.buildhooks.clone(),
            set: tuple.set.clone(),
            spec: SpecOverrides::default(),
        };
        let key = (
            planner.cpu_key(tuple.cpu.as_deref()),
            tuple.portage.clone(),
            tuple.buildhooks.clone(),
            tuple.set.clone(),
        );
        let duplicate = match first_seen.get(&key) {
            Some((line, name)) => {
                let same = if *name == tuple.name {
                    String::new()
                } else {
                    format!(" (`{name}`: the same cpu, portage, buildhooks and set)")
                };
                Some(("tuple", format!("duplicate of line {line}{same}")))
            }
            None => {
                first_seen.insert(key, (tuple.line, tuple.name.clone()));
                None
            }
        };
        let result = planner.image(&tuple.name, tuple.line, &request);
        let problems = match (result, duplicate) {
            (Ok(_), None) if images.len() >= limits.images => vec![(
                "tuple",
                format!(
                    "the site makes {} images already (the limit): this one is not made",
                    limits.images
                ),
            )],
            (Ok(image), None) if planned_atoms + image.atoms.len() > limits.planned_atoms => {
                vec![(
                    "set",
                    format!(
                        "@{}'s {} atoms take the site's images past {} atoms in all (the limit)",
                        image.set,
                        image.atoms.len(),
                        limits.planned_atoms
                    ),
                )]
            }
            (Ok(image), None) => {
                planned_atoms += image.atoms.len();
                images.push(image);
                continue;
            }
            (Ok(_), Some(dup)) => vec![dup],
            (Err(mut problems), dup) => {
                problems.splice(0..0, dup);
                problems
            }
        };
        errors.extend(problems.into_iter().map(|(field, message)| {
            SiteError::new(&snapshot.tuples.path, Some(tuple.line), field, message)
                .for_tuple(&tuple.name)
        }));
    }
    errors.extend(planner.resolver.into_errors());
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

/// Plans one image named `name` from `request` (a GentooImage's spec), with every problem
/// that stops it: its own fields (file `spec`), and the set files and cpu entries it uses.
pub fn plan_image(
    snapshot: &SiteSnapshot,
    name: &str,
    request: &ImageRequest,
    options: &PlanOptions,
) -> Result<ImagePlan, Vec<SiteError>> {
    let (mut planner, cpu_errors) = Planner::new(snapshot, options);
    match planner.image(name, 0, request) {
        Ok(image) => Ok(image),
        Err(problems) => {
            let mut errors: Vec<SiteError> = problems
                .into_iter()
                .map(|(field, message)| {
                    SiteError::new("spec", None, field, message).for_tuple(name)
                })
                .collect();
            errors.extend(planner.resolver.into_errors());
            if errors.iter().any(|e| e.field == "cpu") {
                errors.extend(cpu_errors);
            }
            Err(errors)
        }
    }
}

/// (De)serializes shared atoms as a plain list of strings.
mod shared_atoms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(atoms: &Arc<[Arc<str>]>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(atoms.iter().map(|a| &**a))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[Arc<str>]>, D::Error> {
        let atoms = Vec::<String>::deserialize(d)?;
        Ok(atoms.into_iter().map(Arc::from).collect())
    }
}

/// Problems of the pinned values of `spec`, by field.
fn spec_problems(spec: &SpecInputs) -> Vec<(&'static str, String)> {
    [
        ("stage3", stage3_problem(&spec.stage3)),
        ("repoSnapshot", snapshot_problem(&spec.repo_snapshot)),
        ("profile", profile_problem(&spec.profile)),
        ("kernel", spec.kernel.as_ref().and_then(kernel_problem)),
    ]
    .into_iter()
    .filter_map(|(field, problem)| problem.map(|p| (field, p)))
    .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{image_plan, snapshot};

    fn request() -> ImageRequest {
        ImageRequest {
            cpu: Some("zen".into()),
            portage: "server".into(),
            buildhooks: Some("nodocs".into()),
            set: "web".into(),
            spec: SpecOverrides::default(),
        }
    }

    #[test]
    fn a_spec_plans_like_the_same_tuple() {
        let from_spec = plan_image(
            &snapshot(""),
            "zen-server-nodocs-web",
            &request(),
            &PlanOptions::default(),
        )
        .unwrap();
        let from_tuple = image_plan("zen-server-nodocs-web\n");
        assert_eq!(from_spec.inputs_digest, from_tuple.inputs_digest);
    }

    #[test]
    fn spec_overrides_win_and_change_the_digest() {
        let mut req = request();
        req.spec.stage3 = Some("localhost/stage3:pinned".into());
        let image = plan_image(&snapshot(""), "x", &req, &PlanOptions::default()).unwrap();
        assert_eq!(image.inputs.spec.stage3, "localhost/stage3:pinned");
        assert_eq!(image.inputs.spec.profile, "default/linux/amd64/23.0");
        assert_ne!(
            image.inputs_digest,
            image_plan("zen-server-nodocs-web\n").inputs_digest
        );
    }

    /// Digests of the two tuples (on the site default) and of one image pinned by its spec.
    fn three_digests(default: &str, pinned: &str) -> [String; 3] {
        let mut options = PlanOptions::default();
        options.defaults.repo_snapshot = default.into();
        let site = snapshot("zen-server-nodocs-web\nrpi-server-none-web\n");
        let plan = plan_site(&site, &options);
        assert!(plan.errors.is_empty(), "{:?}", plan.errors);
        let mut req = request();
        req.spec.repo_snapshot = Some(pinned.into());
        let own = plan_image(&site, "pinned", &req, &options).unwrap();
        [
            plan.images[0].inputs_digest.clone(),
            plan.images[1].inputs_digest.clone(),
            own.inputs_digest,
        ]
    }

    #[test]
    fn a_snapshot_change_rebuilds_exactly_the_images_on_it() {
        let before = three_digests("20261101", "20261201");
        let site_moved = three_digests("20261115", "20261201");
        let changed = |a: &[String; 3], b: &[String; 3]| [0, 1, 2].map(|i| a[i] != b[i]);
        assert_eq!(changed(&before, &site_moved), [true, true, false]);
        let pin_moved = three_digests("20261101", "c0ffee1");
        assert_eq!(changed(&before, &pin_moved), [false, false, true]);

        let mut options = PlanOptions::default();
        options.defaults.repo_snapshot = "20261101".into();
        let site = snapshot("zen-server-nodocs-web\n");
        let old = plan_site(&site, &options).images.remove(0);
        options.defaults.repo_snapshot = "20261201".into();
        let new = plan_site(&site, &options).images.remove(0);
        assert_eq!(
            new.inputs.changes_since(&old.inputs),
            ["repo snapshot changed (20261101 -> 20261201)"]
        );
    }

    #[test]
    fn an_image_moved_to_another_snapshot_is_the_image_planned_on_it() {
        let site = snapshot("zen-server-nodocs-web\n");
        let mut options = PlanOptions::default();
        options.defaults.repo_snapshot = "20261001".into();
        let pinned = plan_site(&site, &options).images.remove(0);
        options.defaults.repo_snapshot = "20261101".into();
        let newer = plan_site(&site, &options).images.remove(0);
        let moved = pinned.at_snapshot("20261101");
        assert_eq!(moved.inputs, newer.inputs);
        assert_eq!(moved.inputs_digest, newer.inputs_digest);
        assert_ne!(moved.inputs_digest, pinned.inputs_digest);
    }

    #[test]
    fn bad_pins_stop_the_image_naming_the_field() {
        let mut req = request();
        req.spec.repo_snapshot = Some("2026-11-01".into());
        req.spec.kernel = Some(KernelSpec {
            package: "app-misc/hello".into(),
            config: None,
        });
        let errors = plan_image(&snapshot(""), "x", &req, &PlanOptions::default()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["repoSnapshot", "kernel"]);
        assert!(
            errors[0].message.contains("YYYYMMDD"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn variant_kernel_and_repairs_come_from_defaults_unless_the_spec_sets_them() {
        let mut options = PlanOptions::default();
        options.defaults.variant = Variant::Dbg;
        options.defaults.repairs.depclean = true;
        options.defaults.kernel = Some(KernelSpec {
            package: "sys-kernel/gentoo-kernel".into(),
            config: None,
        });
        let from_defaults = plan_image(&snapshot(""), "x", &request(), &options).unwrap();
        assert_eq!(from_defaults.inputs.spec.variant, Variant::Dbg);
        assert!(from_defaults.inputs.spec.repairs.depclean);
        assert!(from_defaults.inputs.spec.kernel.is_some());
        let mut req = request();
        req.spec.variant = Some(Variant::Opt);
        req.spec.repairs = Some(Repairs::default());
        let own = plan_image(&snapshot(""), "x", &req, &options).unwrap();
        assert_eq!(own.inputs.spec.variant, Variant::Opt);
        assert!(own.inputs.spec.repairs.is_off());
        assert_ne!(own.inputs_digest, from_defaults.inputs_digest);
    }

    #[test]
    fn spec_problems_name_the_field() {
        let mut req = request();
        req.portage = "nosuch".into();
        req.cpu = Some("nosuch".into());
        let errors = plan_image(&snapshot(""), "x", &req, &PlanOptions::default()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["cpu", "portage"]);
        assert!(errors.iter().all(|e| e.file == "spec"));
    }

    fn limited(f: impl FnOnce(&mut Limits)) -> PlanOptions {
        let mut options = PlanOptions::default();
        f(&mut options.limits);
        options
    }

    /// Where each error is, as `line field`.
    fn at(plan: &SitePlan) -> Vec<String> {
        let at = |e: &SiteError| format!("{}:{} {}", e.file, e.line.unwrap_or(0), e.field);
        plan.errors.iter().map(at).collect()
    }

    #[test]
    fn tuples_past_the_limit_stop_only_themselves() {
        let tuples =
            "zen-server-nodocs-web\nbad line\nrpi-server-nodocs-web\nzen-server-none-web\n";
        let plan = plan_site(&snapshot(tuples), &limited(|l| l.tuples = 2));
        let names: Vec<&str> = plan.images.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["rpi-server-nodocs-web", "zen-server-nodocs-web"]);
        assert_eq!(at(&plan), ["tuples:2 tuple", "tuples:4 tuple"]);
        assert!(
            plan.errors[1].message.contains("more than 2 tuples"),
            "{:?}",
            plan.errors
        );
        assert_eq!(plan.errors[1].tuple.as_deref(), Some("zen-server-none-web"));
    }

    #[test]
    fn images_past_the_limit_are_errors_of_their_tuples() {
        let tuples = "zen-server-nodocs-web\nzen-server-nodocs-web\nrpi-server-nodocs-web\nzen-server-none-web\n";
        let plan = plan_site(&snapshot(tuples), &limited(|l| l.images = 1));
        assert_eq!(plan.images.len(), 1);
        assert_eq!(
            at(&plan),
            ["tuples:2 tuple", "tuples:3 tuple", "tuples:4 tuple"]
        );
        assert!(
            plan.errors[0].message.contains("duplicate"),
            "{:?}",
            plan.errors
        );
        assert!(
            plan.errors[2].message.contains("1 images already"),
            "{:?}",
            plan.errors
        );
    }

    #[test]
    fn the_atoms_of_all_images_are_bounded() {
        let mut site =
            snapshot("zen-server-nodocs-web\nrpi-server-nodocs-web\nzen-server-none-web\n");
        let web = site.sets.get_mut("web").unwrap();
        web.text = Ok("a/b\nc/d\ne/f\n".into());
        let plan = plan_site(&site, &limited(|l| l.planned_atoms = 7));
        assert_eq!(plan.images.len(), 2, "{:?}", plan.errors);
        assert_eq!(at(&plan), ["tuples:3 set"]);
        assert!(
            plan.errors[0]
                .message
                .contains("@web's 3 atoms take the site's images past 7"),
            "{:?}",
            plan.errors
        );
        let plan = plan_site(&site, &limited(|l| l.set_atoms = 2));
        assert!(plan.images.is_empty());
        assert!(
            at(&plan).contains(&"sets/web:3 atom".to_string()),
            "{:?}",
            plan.errors
        );
    }

    #[test]
    fn images_of_one_set_share_its_atoms() {
        let tuples = "zen-server-nodocs-web\nrpi-server-nodocs-web\nzen-server-none-web\n";
        let plan = plan_site(&snapshot(tuples), &PlanOptions::default());
        assert_eq!(plan.images.len(), 3);
        for image in &plan.images {
            assert!(
                Arc::ptr_eq(&image.atoms, &plan.images[0].atoms),
                "one list, not copies"
            );
        }
        let json = serde_json::to_value(&plan.images[0]).unwrap();
        assert_eq!(json["atoms"], serde_json::json!(["www-servers/nginx"]));
        let back: ImagePlan = serde_json::from_value(json).unwrap();
        assert_eq!(back, plan.images[0]);
    }

    #[test]
    fn a_spec_names_what_the_build_steps_take() {
        let mut site = snapshot("");
        site.sets.insert("my-set".into(), site.sets["web"].clone());
        site.sets.insert(".web".into(), site.sets["web"].clone());
        for (field, set, cpu) in [
            ("set", "my-set", "zen"),
            ("set", ".web", "zen"),
            ("cpu", "web", ".zen"),
        ] {
            let mut req = request();
            req.set = set.into();
            req.cpu = Some(cpu.into());
            let errors = plan_image(&site, "x", &req, &PlanOptions::default()).unwrap_err();
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, field);
            assert!(
                errors[0].message.starts_with(&format!("{field} name `")),
                "{errors:?}"
            );
        }
    }
}
