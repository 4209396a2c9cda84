//! Starting a build: plan the image at the site's revision, render its Job (and distcc
//! workers), create them; and removing a finished build's workers.

use super::context::Context;
use super::error::{Error, Result};
use super::outcome::short_digest;
use super::spec::{image_request, plan_options, prefixes, tuple_name};
use crate::render::audit::render_audit_job;
use crate::render::distcc::{Workers, distcc_hosts, render_workers, workers_name};
use crate::render::job::{BuildContext, SharedClaims, render_job};
use crate::render::names::dns_label;
use crate::render::storage::claim_name;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Service, Toleration};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use std::sync::Arc;
use tracing::info;
use zentoo_api::{FIELD_MANAGER, GentooImage, GentooSite};
use zentoo_core::plan::build::{BuildSettings, ImageTarget, build_plan, push_reference};
use zentoo_core::plan::{ImagePlan, plan_image};

/// The node label (and taint key) of a node's cpu architecture.
pub const ARCH_LABEL: &str = "kubernetes.io/arch";
/// The path the publish step writes its result to (the termination message).
pub const RESULT_FILE: &str = "/dev/termination-log";

/// Removes the distcc workers of build `job`, if it had any, when it ends (they are also
/// owned by its Job, so the garbage collector removes them with it): their StatefulSet,
/// Service and NetworkPolicy share one name, so each is deleted by it. No list: a push
/// superseding 100 builds listed Services and StatefulSets 200 times.
pub async fn cleanup_workers(ctx: &Context, namespace: &str, job: &str) -> Result<()> {
    let name = workers_name(job);
    let client = &ctx.client;
    delete_if_present(
        &Api::<StatefulSet>::namespaced(client.clone(), namespace),
        &name,
    )
    .await?;
    delete_if_present(
        &Api::<Service>::namespaced(client.clone(), namespace),
        &name,
    )
    .await?;
    delete_if_present(
        &Api::<NetworkPolicy>::namespaced(client.clone(), namespace),
        &name,
    )
    .await
}

/// Deletes `name` in the background; one already gone is fine.
async fn delete_if_present<K>(api: &Api<K>, name: &str) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Plans the image at the site's revision (blocking git reads off the runtime; the site is
/// read once per revision, see [`Context::snapshot`]). Also returns the revision's commit time.
pub async fn plan(
    image: &GentooImage,
    site: &GentooSite,
    ctx: Arc<Context>,
    cache: std::path::PathBuf,
    revision: String,
) -> Result<(Result<ImagePlan, Vec<zentoo_core::site::SiteError>>, i64)> {
    let prefixes = prefixes(site)?;
    let options = plan_options(site, ctx.settings.limits);
    let request = image_request(image);
    let name = tuple_name(image);
    tokio::task::spawn_blocking(move || {
        let snapshot = ctx.snapshot(&cache, &revision, &prefixes)?;
        Ok((
            plan_image(&snapshot.site, &name, &request, &options),
            snapshot.epoch,
        ))
    })
    .await?
}

/// A build's plan and the context of its Job, named `job_name`; `distcc` workers when wanted.
struct Prepared {
    plan: zentoo_core::plan::BuildPlan,
    context: BuildContext,
    distcc: Option<zentoo_api::site::DistccSpec>,
}

/// What one build or audit of an image is made from.
pub struct Target<'a> {
    /// The image.
    pub image: &'a GentooImage,
    /// Its site.
    pub site: &'a GentooSite,
    /// Their namespace.
    pub namespace: &'a str,
    /// The image planned at `revision`.
    pub planned: &'a ImagePlan,
    /// The site revision.
    pub revision: &'a str,
}

fn prepare(target: &Target<'_>, ctx: &Context, epoch: i64, job_name: &str) -> Result<Prepared> {
    let Target {
        image,
        site,
        namespace,
        planned,
        revision,
    } = *target;
    // A source the site controller refuses (credentials in its URL, a Secret over a plain
    // transport) builds nothing either.
    super::validate::source(&site.spec.source, ctx.settings.allow_local_sources)
        .map_err(|e| Error::SiteNotReady(format!("GentooSite {}: {e}", site.name_any())))?;
    let image_name = image.name_any();
    let defaults = &site.spec.image_defaults;
    let distcc = image
        .spec
        .distcc
        .clone()
        .or_else(|| defaults.distcc.clone())
        .filter(|d| d.workers_per_arch > 0);
    let push_image = image.spec.publish.image.clone().or_else(|| {
        defaults
            .registry
            .as_ref()
            .map(|r| push_reference(r, &image_name))
    });
    let settings = BuildSettings {
        zentoo_image: ctx.settings.zentoo_image.clone(),
        distcc_hosts: distcc
            .as_ref()
            .map(|d| distcc_hosts(job_name, namespace, d.workers_per_arch)),
        image: push_image.map(ImageTarget::Push),
        tmpfs: image
            .spec
            .tmpfs
            .as_ref()
            .or(defaults.tmpfs.as_ref())
            .map(|t| t.size.0.clone()),
        insecure_registries: ctx.settings.insecure_registries.clone(),
        builder: zentoo_core::plan::provenance::CONTROLLER_BUILDER.into(),
        ..BuildSettings::new(&site.spec.source.url, epoch, ctx.settings.build_jobs)
    };
    let plan = build_plan(planned, revision, &settings);
    let owner = image
        .controller_owner_ref(&())
        .ok_or_else(|| Error::Internal("image without uid".into()))?;
    let storage = &site.spec.storage;
    let site_name = site.name_any();
    let mut node_selector = image.spec.node_selector.clone();
    node_selector.insert(ARCH_LABEL.into(), plan.publish.oci_arch.clone());
    let context = BuildContext {
        name: job_name.to_string(),
        namespace: namespace.to_string(),
        site: site_name.clone(),
        image: image_name.clone(),
        owner,
        claims: SharedClaims {
            binpkgs: claim_name(&site_name, "binpkgs", &storage.binpkgs),
            distfiles: claim_name(&site_name, "distfiles", &storage.distfiles),
            repo: claim_name(&site_name, "repo", &storage.repo),
        },
        node_selector,
        tolerations: with_arch_toleration(&image.spec.tolerations, &plan.publish.oci_arch),
        resources: image.spec.resources.clone(),
        active_deadline_seconds: ctx.settings.build_deadline_seconds,
        service_account: ctx.settings.build_service_account.clone(),
        git_secret: site.spec.source.secret_ref.as_ref().map(|s| s.name.clone()),
        signing_secret: site
            .spec
            .storage
            .binpkg_signing
            .as_ref()
            .map(|s| s.secret_ref.name.clone()),
        image_signing_secret: site
            .spec
            .publish
            .signing
            .as_ref()
            .map(|s| s.secret_ref.name.clone()),
        registry_secret: defaults
            .registry_secret_ref
            .as_ref()
            .map(|s| s.name.clone()),
        image_pull_policy: ctx.settings.image_pull_policy.clone(),
        result_file: RESULT_FILE.into(),
        host_network: ctx.settings.build_host_network,
        log_keep: image.spec.history_limit,
    };
    Ok(Prepared {
        plan,
        context,
        distcc,
    })
}

/// `job`'s pod template with the controller's extra build pod labels.
fn with_pod_labels(mut job: Job, ctx: &Context) -> Job {
    if let Some(meta) = job.spec.as_mut().and_then(|s| s.template.metadata.as_mut()) {
        let labels = meta.labels.get_or_insert_with(Default::default);
        for (k, v) in &ctx.settings.build_pod_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    job
}

/// Creates the audit Job `job_name` of `image`'s published `reference` (`repo@digest`)
/// against the GLSAs of the snapshot `planned` is planned at ([`render_audit_job`]). One that
/// exists already is fine.
pub async fn create_audit(
    target: &Target<'_>,
    ctx: &Context,
    reference: &str,
    job_name: &str,
) -> Result<()> {
    let Prepared { plan, context, .. } = prepare(target, ctx, 0, job_name)?;
    let job = with_pod_labels(render_audit_job(&plan, &context, reference), ctx);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), target.namespace);
    match jobs.create(&PostParams::default(), &job).await {
        Ok(_) => {
            info!(job = %job_name, %reference, "audit created");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates the build Job of `planned` (and its distcc workers); `cause` says why it was
/// started, `rebuild` the rebuild request it handles. Returns the Job's name.
pub async fn create_build(
    target: &Target<'_>,
    ctx: &Context,
    epoch: i64,
    cause: &zentoo_api::image::BuildCause,
    rebuild: Option<&str>,
) -> Result<String> {
    let Target {
        image,
        namespace,
        planned,
        ..
    } = *target;
    let image_name = image.name_any();
    let digest_hex = planned.inputs_digest.trim_start_matches("sha256:");
    // Milliseconds: a build deleted by hand and made again within one second must not get
    // its predecessor's name (history tells builds apart by name). At most 40+1+8+1+8 = 58.
    let stamp = base36(u64::try_from(Timestamp::now().as_millisecond()).unwrap_or(0));
    let job_name = format!(
        "{}-{}-{}",
        dns_label(&[&image_name], 40),
        &digest_hex[..8.min(digest_hex.len())],
        stamp
    );
    let Prepared {
        plan,
        context,
        distcc,
    } = prepare(target, ctx, epoch, &job_name)?;
    let mut job = with_pod_labels(render_job(&plan, &context), ctx);
    let notes = job
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    notes.insert(
        zentoo_api::annotations::CAUSE.into(),
        serde_json::to_string(cause).unwrap_or_default(),
    );
    if let Some(token) = rebuild {
        notes.insert(
            zentoo_api::annotations::REBUILD_REQUESTED_AT.into(),
            token.to_string(),
        );
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), namespace);
    let uid = match jobs.create(&PostParams::default(), &job).await {
        Ok(created) => created.metadata.uid,
        // Created by an earlier reconcile whose Job the cache does not show yet: take it from
        // the cache once it does (no right to read Jobs one by one is needed).
        Err(kube::Error::Api(e)) if e.code == 409 => ctx
            .caches
            .get()
            .and_then(|c| {
                c.jobs
                    .get(&kube::runtime::reflector::ObjectRef::new(&job_name).within(namespace))
            })
            .map(|cached| cached.metadata.uid.clone())
            .ok_or_else(|| {
                Error::Internal(format!(
                    "Job {job_name} exists but is not in the watch cache yet; retrying"
                ))
            })?,
        Err(e) => return Err(e.into()),
    };
    info!(job = %job_name, inputs = %short_digest(&planned.inputs_digest), "build created");
    if let Some(distcc) = distcc {
        let job_owner = OwnerReference {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: job_name.clone(),
            uid: uid.unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let Workers {
            service,
            set,
            policy,
        } = render_workers(
            &plan,
            &context,
            job_owner,
            distcc.workers_per_arch,
            distcc.resources.clone(),
        );
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        // The fence first: no moment where workers listen and nothing restricts who reaches them.
        let policies: Api<NetworkPolicy> = Api::namespaced(ctx.client.clone(), namespace);
        policies
            .patch(
                &policy.name_any(),
                &pp,
                &Patch::Apply(&with_type(&policy, "networking.k8s.io/v1", "NetworkPolicy")),
            )
            .await?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
        let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
        let svc_name = service.name_any();
        services
            .patch(
                &svc_name,
                &pp,
                &Patch::Apply(&with_type(&service, "v1", "Service")),
            )
            .await?;
        sets.patch(
            &set.name_any(),
            &pp,
            &Patch::Apply(&with_type(&set, "apps/v1", "StatefulSet")),
        )
        .await?;
    }
    Ok(job_name)
}

/// `tolerations` plus one for the `kubernetes.io/arch=<arch>` taint that clusters put on
/// nodes of a minority arch: the node selector already pins the pod to that arch.
pub fn with_arch_toleration(tolerations: &[Toleration], arch: &str) -> Vec<Toleration> {
    let mut out = tolerations.to_vec();
    let covered = out
        .iter()
        .any(|t| t.key.as_deref() == Some(ARCH_LABEL) && t.value.as_deref() == Some(arch));
    if !covered {
        out.push(Toleration {
            key: Some(ARCH_LABEL.into()),
            operator: Some("Equal".into()),
            value: Some(arch.into()),
            effect: Some("NoSchedule".into()),
            toleration_seconds: None,
        });
    }
    out
}

fn with_type<T: serde::Serialize>(obj: &T, api_version: &str, kind: &str) -> serde_json::Value {
    let mut value = serde_json::to_value(obj).unwrap_or_default();
    value["apiVersion"] = api_version.into();
    value["kind"] = kind.into();
    value
}

pub(crate) fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}
