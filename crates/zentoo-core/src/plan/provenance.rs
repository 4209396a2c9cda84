//! The SLSA v1 provenance predicate of a build: which site repository and revision, which
//! tuple, its inputs digest and everything that digest covers (portage and buildhooks trees,
//! set blobs, cpu profile, stage3, ebuild repository snapshot), and which builder. The publish
//! step adds the subject (the image digest) and the build time, both reproducible.

use super::build::BuildSettings;
use super::site_plan::ImagePlan;
use crate::site::url::redact_url;
use serde_json::{Value, json};

/// The SLSA predicate type.
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What a zentoo build is: the build type URI of its provenance.
pub const BUILD_TYPE: &str = "https://zentoo.dev/build/v1";
/// The builder of `zentoo build` on one machine.
pub const LOCAL_BUILDER: &str = "https://zentoo.dev/builder/local";
/// The builder of the cluster's controller.
pub const CONTROLLER_BUILDER: &str = "https://zentoo.dev/builder/controller";

/// The provenance predicate of building `image` at `revision` with `settings`. Pure; the
/// same plan gives the same value.
pub fn predicate(image: &ImagePlan, revision: &str, settings: &BuildSettings) -> Value {
    let inputs = &image.inputs;
    // Never a credential: the source as the annotations show it.
    let source = redact_url(&settings.source);
    let mut dependencies = vec![json!({
        "uri": format!("git+{source}"),
        "digest": {"gitCommit": revision},
    })];
    dependencies.push(json!({
        "name": inputs.portage.branch,
        "digest": {"gitTree": inputs.portage.tree},
    }));
    if let Some(hooks) = &inputs.buildhooks {
        dependencies.push(json!({"name": hooks.branch, "digest": {"gitTree": hooks.tree}}));
    }
    for (set, blob) in &inputs.sets {
        dependencies.push(json!({"name": format!("sets/{set}"), "digest": {"gitBlob": blob}}));
    }
    dependencies.push(json!({"name": "stage3", "uri": inputs.spec.stage3}));
    dependencies.push(json!({
        "name": "repo-snapshot",
        "annotations": {"snapshot": inputs.spec.repo_snapshot},
    }));
    json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "source": source,
                "revision": revision,
                "tuple": image.name,
            },
            "internalParameters": {
                "inputsDigest": image.inputs_digest,
                "cpu": inputs.cpu,
                "spec": inputs.spec,
                "set": inputs.set,
            },
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {
                "id": settings.builder,
                "version": {"zentoo": env!("CARGO_PKG_VERSION")},
            },
            "metadata": {"invocationId": format!("{}@{revision}", image.inputs_digest)},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::{image_plan, settings};

    #[test]
    fn the_predicate_names_every_input_and_the_builder() {
        let image = image_plan("zen-server-nodocs-web\n");
        let p = predicate(&image, "c0ffee", &settings());
        let definition = &p["buildDefinition"];
        assert_eq!(definition["externalParameters"]["revision"], "c0ffee");
        assert_eq!(definition["externalParameters"]["tuple"], image.name);
        assert_eq!(
            definition["internalParameters"]["inputsDigest"],
            image.inputs_digest
        );
        let deps = definition["resolvedDependencies"].as_array().unwrap();
        assert_eq!(deps[0]["digest"]["gitCommit"], "c0ffee");
        assert_eq!(deps[1]["digest"]["gitTree"], image.inputs.portage.tree);
        assert!(deps.iter().any(|d| d["name"] == "repo-snapshot"));
        assert!(
            deps.iter()
                .any(|d| d["name"].as_str().is_some_and(|n| n.starts_with("sets/")))
        );
        assert_eq!(p["runDetails"]["builder"]["id"], LOCAL_BUILDER);
        assert_eq!(p, predicate(&image, "c0ffee", &settings()), "pure");
    }
}
