//! The periodic cleanup of a site's shared volumes as a Job: `zentoo gc` in the zentoo image,
//! with the binpkgs and distfiles claims mounted read-write. Pure.

use super::job::restricted;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;
use zentoo_api::labels;
use zentoo_core::plan::build::{BINPKGS_DIR, DISTFILES_DIR};

/// The `zentoo.dev/component` label of gc Jobs.
pub const GC_COMPONENT: &str = "gc";

/// Everything a gc Job needs.
#[derive(Clone, Debug, PartialEq)]
pub struct GcContext {
    /// The Job's name.
    pub name: String,
    /// Its namespace (the site's).
    pub namespace: String,
    /// The GentooSite.
    pub site: String,
    /// Owner reference to the GentooSite.
    pub owner: OwnerReference,
    /// Claim of the binary package volume.
    pub binpkgs_claim: String,
    /// Claim of the distfiles volume.
    pub distfiles_claim: String,
    /// The zentoo image.
    pub zentoo_image: String,
    /// Pull policy.
    pub image_pull_policy: String,
    /// ServiceAccount of the pod (one with no API rights).
    pub service_account: Option<String>,
    /// Builds kept per image.
    pub keep: u32,
    /// The record names of the site's images (records of other images are dropped).
    pub images: Vec<String>,
    /// Seconds before the Job is stopped.
    pub active_deadline_seconds: i64,
}

/// The gc Job of a site. Owned by the site; removed a day after it finished.
pub fn render_gc_job(ctx: &GcContext) -> Job {
    let labels = BTreeMap::from([
        (labels::SITE.to_string(), ctx.site.clone()),
        (labels::COMPONENT.to_string(), GC_COMPONENT.to_string()),
        (labels::MANAGED_BY.to_string(), "zentoo".to_string()),
    ]);
    let mut command = vec![
        "zentoo".to_string(),
        "gc".into(),
        "--binpkgs".into(),
        BINPKGS_DIR.into(),
        "--distfiles".into(),
        DISTFILES_DIR.into(),
        "--keep".into(),
        ctx.keep.max(1).to_string(),
    ];
    for image in &ctx.images {
        command.extend(["--image".to_string(), image.clone()]);
    }
    let claim = |name: &str, claim: &str| Volume {
        name: name.into(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.into(),
            read_only: None,
        }),
        ..Volume::default()
    };
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    };
    let quantity = |s: &str| Quantity(s.to_string());
    let container = Container {
        name: "gc".into(),
        image: Some(ctx.zentoo_image.clone()),
        image_pull_policy: Some(ctx.image_pull_policy.clone()),
        command: Some(command),
        volume_mounts: Some(vec![
            mount("binpkgs", BINPKGS_DIR),
            mount("distfiles", DISTFILES_DIR),
        ]),
        // Root (the files are root's), but no capabilities: it removes files in directories
        // root owns, nothing more.
        security_context: Some(restricted(Some(0), &[])),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), quantity("50m")),
                ("memory".to_string(), quantity("64Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), quantity("512Mi"))])),
            ..ResourceRequirements::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(ctx.name.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(labels.clone()),
            owner_references: Some(vec![ctx.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(ctx.active_deadline_seconds),
            ttl_seconds_after_finished: Some(24 * 3600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    service_account_name: ctx.service_account.clone(),
                    containers: vec![container],
                    volumes: Some(vec![
                        claim("binpkgs", &ctx.binpkgs_claim),
                        claim("distfiles", &ctx.distfiles_claim),
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> GcContext {
        GcContext {
            name: "demo-gc-abc".into(),
            namespace: "ns".into(),
            site: "demo".into(),
            owner: OwnerReference {
                api_version: "zentoo.dev/v1alpha1".into(),
                kind: "GentooSite".into(),
                name: "demo".into(),
                uid: "u".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
            binpkgs_claim: "demo-binpkgs".into(),
            distfiles_claim: "shared-distfiles".into(),
            zentoo_image: "ghcr.io/zentoo/zentoo:1".into(),
            image_pull_policy: "IfNotPresent".into(),
            service_account: Some("zentoo-build".into()),
            keep: 3,
            images: vec!["base-none-base".into(), "server-nodocs-web".into()],
            active_deadline_seconds: 3600,
        }
    }

    #[test]
    fn the_gc_job_runs_zentoo_gc_on_the_sites_claims() {
        let job = render_gc_job(&ctx());
        let spec = job.spec.expect("spec");
        let pod = spec.template.spec.expect("pod");
        let c = &pod.containers[0];
        assert_eq!(
            c.command.as_ref().expect("command").join(" "),
            "zentoo gc --binpkgs /var/cache/binpkgs --distfiles /var/cache/distfiles --keep 3 \
             --image base-none-base --image server-nodocs-web"
        );
        let claims: Vec<String> = pod
            .volumes
            .expect("volumes")
            .iter()
            .filter_map(|v| {
                v.persistent_volume_claim
                    .as_ref()
                    .map(|c| c.claim_name.clone())
            })
            .collect();
        assert_eq!(claims, ["demo-binpkgs", "shared-distfiles"]);
        let security = c.security_context.as_ref().expect("security");
        assert_eq!(security.privileged, Some(false));
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(spec.ttl_seconds_after_finished, Some(86400));
        let labels = job.metadata.labels.expect("labels");
        assert_eq!(labels[labels::COMPONENT], GC_COMPONENT);
        assert_eq!(
            job.metadata.owner_references.expect("owner")[0].kind,
            "GentooSite"
        );
    }
}
