//! The audit of a built image against a newer repo snapshot's GLSAs (a site's
//! `spec.security.followSnapshot`), as one Job: init containers materialize → sync (the
//! stage3 with the image's settings at that snapshot, syncing it into the repo volume as a
//! build step would), container audit (`zentoo audit` of the SBOM attached to the image, with
//! the result as its termination message).

use super::job::{
    BuildContext, build_labels, render_job, restricted, volume_mount, with_registry_credentials,
};
use super::resources::resources;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Container;
use std::collections::BTreeSet;
use zentoo_core::plan::build::{BuildPlan, REPOS_DIR, StepName, Volume, WORK_DIR};

/// How long a finished audit Job stays (its result is in the image's status by then).
pub const AUDIT_TTL_SECONDS: i32 = 3600;
/// The component label of audit Jobs and their pods.
pub const AUDIT_COMPONENT: &str = "audit";
/// The init container that syncs the followed snapshot.
pub const SYNC_CONTAINER: &str = "sync";
/// The container that audits the image and reports as its termination message.
pub const AUDIT_CONTAINER: &str = "audit";

/// Renders the audit Job of the image `reference` (`<repository>@<digest>`); `plan` is the
/// image's build plan at the followed snapshot. Pure.
pub fn render_audit_job(plan: &BuildPlan, ctx: &BuildContext, reference: &str) -> Job {
    let mut job = render_job(plan, ctx);
    if let Some(spec) = job.spec.as_mut() {
        spec.ttl_seconds_after_finished = Some(AUDIT_TTL_SECONDS);
    }
    let labels = build_labels(ctx, plan, AUDIT_COMPONENT);
    job.metadata.labels = Some(labels.clone());
    let Some(template) = job.spec.as_mut().map(|s| &mut s.template) else {
        return job;
    };
    if let Some(meta) = template.metadata.as_mut() {
        meta.labels = Some(labels);
    }
    let Some(pod) = template.spec.as_mut() else {
        return job;
    };
    let mut inits: Vec<Container> = pod
        .init_containers
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.name == StepName::Materialize.as_str() || c.name == StepName::Build.as_str())
        .collect();
    for c in &mut inits {
        if c.name == StepName::Build.as_str() {
            c.name = SYNC_CONTAINER.into();
            c.command = Some(vec![
                "/bin/sh".into(),
                format!("{WORK_DIR}/steps/freshroot.sh"),
                "true".into(),
            ]);
            if let Some(env) = c.env.as_mut() {
                env.retain(|e| e.name != "ZENTOO_RESULT_FILE");
            }
        }
    }
    let audit = audit_container(plan, ctx, reference);
    let used: BTreeSet<String> = inits
        .iter()
        .chain([&audit])
        .flat_map(|c| c.volume_mounts.iter().flatten().map(|m| m.name.clone()))
        .collect();
    if let Some(volumes) = pod.volumes.as_mut() {
        volumes.retain(|v| used.contains(&v.name));
    }
    pod.init_containers = Some(inits);
    pod.containers = vec![audit];
    job
}

fn audit_container(plan: &BuildPlan, ctx: &BuildContext, reference: &str) -> Container {
    let glsa_dir = plan
        .publish
        .glsa_dir
        .clone()
        .unwrap_or_else(|| format!("{REPOS_DIR}/metadata/glsa"));
    let mut command = vec![
        "zentoo".to_string(),
        "audit".into(),
        reference.into(),
        "--glsa-dir".into(),
        glsa_dir,
        "--arch".into(),
        zentoo_publish::audit::gentoo_arch(&plan.publish.oci_arch).to_string(),
        "--termination-log".into(),
        ctx.result_file.clone(),
    ];
    if let Some(host) = &plan.publish.insecure_registry {
        command.extend(["--insecure-registry".to_string(), host.clone()]);
    }
    let mut mounts = vec![volume_mount(ctx, Volume::Repo, REPOS_DIR, true)];
    let mut env = Vec::new();
    with_registry_credentials(ctx, &mut mounts, &mut env);
    Container {
        name: AUDIT_CONTAINER.into(),
        image: Some(plan.zentoo_image.clone()),
        image_pull_policy: Some(ctx.image_pull_policy.clone()),
        command: Some(command),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(restricted(Some(super::job::NONROOT_UID), &[])),
        resources: Some(resources([("cpu", "100m"), ("memory", "64Mi")], "512Mi")),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::job::tests::context;
    use zentoo_core::plan::build::build_plan;
    use zentoo_core::plan::testing::{image_plan, settings};

    fn plan() -> BuildPlan {
        build_plan(
            &image_plan("zen-server-nodocs-web\n"),
            "c0ffee",
            &settings(),
        )
    }

    #[test]
    fn the_audit_job_syncs_the_snapshot_and_audits_the_image_with_no_build_secrets() {
        let mut p = plan();
        p.publish.glsa_dir = Some(format!("{REPOS_DIR}/20261101/metadata/glsa"));
        let ctx = context();
        let job = render_audit_job(&p, &ctx, "reg.example/zentoo/x@sha256:01");
        let labels = job.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get(zentoo_api::labels::COMPONENT)
                .map(String::as_str),
            Some(AUDIT_COMPONENT)
        );
        let pod = job.spec.and_then(|s| s.template.spec).expect("pod");
        let inits: Vec<&str> = pod
            .init_containers
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(inits, ["materialize", SYNC_CONTAINER]);
        let sync = &pod.init_containers.as_ref().expect("inits")[1];
        assert_eq!(
            sync.command.as_deref(),
            Some(
                &[
                    "/bin/sh".to_string(),
                    format!("{WORK_DIR}/steps/freshroot.sh"),
                    "true".into()
                ][..]
            )
        );
        let audit = &pod.containers[0];
        let cmd = audit.command.clone().unwrap_or_default().join(" ");
        assert!(
            cmd.starts_with("zentoo audit reg.example/zentoo/x@sha256:01 --glsa-dir /var/db/zentoo/repos/20261101/metadata/glsa --arch amd64 --termination-log "),
            "{cmd}"
        );
        // Only the registry credentials: the signing keys are not in the pod at all.
        let volumes: Vec<&str> = pod
            .volumes
            .iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        assert!(volumes.contains(&"registry-credentials"), "{volumes:?}");
        assert!(
            !volumes.contains(&"binpkg-signing") && !volumes.contains(&"image-signing"),
            "{volumes:?}"
        );
        let repo = audit
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == REPOS_DIR)
            .expect("repo mount");
        assert_eq!(repo.read_only, Some(true));
        assert_eq!(
            audit.security_context.as_ref().and_then(|s| s.privileged),
            Some(false)
        );
    }
}
