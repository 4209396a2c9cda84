//! Security rebuilds: the site's `spec.security.followSnapshot`, a newer repo snapshot than the
//! image's own. An image whose last successful build is not yet audited against it gets an
//! audit Job ([`render_audit_job`](crate::render::audit::render_audit_job)): the snapshot
//! synced into the repo volume, the SBOM attached to the published image matched against its
//! GLSAs. When one affects the build, the image is rebuilt at that snapshot, says why
//! (`status.securityUpdate`, a `SecurityUpdate` event), and stays on it while its own snapshot
//! does not change; otherwise it is left as it is. Finished audit Jobs are removed an hour
//! later by their TTL.

use super::Run;
use super::inputs::Inputs;
use super::jobs::newest_pod;
use crate::build::{Target, create_audit};
use crate::error::Result;
use crate::outcome::{JobState, audit_result, job_state};
use crate::render::audit::AUDIT_COMPONENT;
use crate::render::names::dns_label;
use crate::status::Notice;
use kube::ResourceExt;
use sha2::{Digest, Sha256};
use tracing::info;
use zentoo_api::conditions::reasons;
use zentoo_api::image::{BuildCause, SecurityUpdate};
use zentoo_core::plan::follow::{holding, is_newer};

/// Moves the inputs to the snapshot of the security update in force; drops an update made
/// against another pin (the image's own snapshot changed: the new pin wins).
pub(super) fn carry(run: &mut Run<'_>, inputs: &mut Inputs) {
    match holding(run.status.security_update.as_ref(), &inputs.pinned) {
        Some(update) => {
            inputs.planned = inputs.planned.at_snapshot(&update.snapshot);
            run.status.inputs_digest = Some(inputs.planned.inputs_digest.clone());
        }
        None => run.status.security_update = None,
    }
}

/// The audit against the site's followed snapshot, when one is due: the last successful
/// build is current, published with a digest, and not audited against it yet. Creates the
/// audit Job, or reads the finished one: an affected build moves the inputs to the followed
/// snapshot (the decision then starts the rebuild).
pub(super) async fn follow(run: &mut Run<'_>, inputs: &mut Inputs) -> Result<Vec<Notice>> {
    let Some(snapshot) = inputs
        .site
        .spec
        .security
        .as_ref()
        .and_then(|s| s.follow_snapshot.clone())
    else {
        return Ok(Vec::new());
    };
    if !is_newer(&snapshot, &inputs.planned.inputs.spec.repo_snapshot) {
        return Ok(Vec::new());
    }
    let Some(build) = run
        .status
        .last_successful_build
        .as_deref()
        .filter(|b| b.inputs_digest == inputs.desired())
        .cloned()
    else {
        return Ok(Vec::new());
    };
    let (Some(image), Some(digest)) = (&build.image, &build.image_digest) else {
        return Ok(Vec::new());
    };
    let checked = format!("{snapshot}@{}", build.name);
    if run.status.security_checked.as_deref() == Some(checked.as_str()) {
        return Ok(Vec::new());
    }
    let job_name = audit_name(&run.name, &checked);
    let caches = run.ctx.caches()?;
    let job = caches
        .jobs_of(&run.namespace, &run.name)
        .into_iter()
        .find(|j| j.name_any() == job_name);
    let Some(job) = job else {
        let reference = digest_reference(image, digest);
        let at = inputs.planned.at_snapshot(&snapshot);
        let target = Target {
            image: run.image,
            site: &inputs.site,
            namespace: &run.namespace,
            planned: &at,
            revision: &inputs.revision,
        };
        create_audit(&target, run.ctx, &reference, &job_name).await?;
        return Ok(Vec::new());
    };
    let state = job_state(job.status.as_ref());
    if state == JobState::Running {
        return Ok(Vec::new());
    }
    let pod = newest_pod(caches, &run.namespace, &job_name, AUDIT_COMPONENT);
    let result = match (
        &state,
        audit_result(pod.as_deref().and_then(|p| p.status.as_ref())),
    ) {
        (JobState::Succeeded, Some(Ok(result))) => result
            .glsa
            .ok_or_else(|| "the audit left a result without `glsa`".to_string()),
        (JobState::Succeeded, Some(Err(why))) => Err(why.to_string()),
        (JobState::Succeeded, None) => Err("the audit left no result".into()),
        (JobState::Failed(why), _) => Err(why.clone()),
        (JobState::Running, _) => return Ok(Vec::new()),
    };
    // The finished Job stays (its TTL removes it): a reconcile reading a status written
    // before this one finds its result again instead of auditing again.
    run.status.security_checked = Some(checked);
    let notice = match result {
        Ok(fixes) if !fixes.affected.is_empty() => {
            let update = SecurityUpdate {
                pinned: inputs.pinned.clone(),
                snapshot: snapshot.clone(),
                fixes,
            };
            info!(%snapshot, "security update: {}", update.summary());
            let note = format!(
                "rebuilding at snapshot {snapshot} (pinned {}): GLSA {} of that snapshot affects build {}",
                update.pinned,
                update.fixes.summary(),
                build.name
            );
            inputs.planned = inputs.planned.at_snapshot(&snapshot);
            run.status.inputs_digest = Some(inputs.planned.inputs_digest.clone());
            run.cause = Some(BuildCause {
                reason: reasons::SECURITY_UPDATE.into(),
                message: update.summary(),
            });
            run.status.security_update = Some(update);
            Notice::normal(reasons::SECURITY_UPDATE, note)
        }
        Ok(_) => return Ok(Vec::new()),
        Err(why) => Notice::warning(
            reasons::SECURITY_AUDIT_FAILED,
            format!(
                "auditing build {} against snapshot {snapshot} failed: {why}; it runs again \
                 when the followed snapshot or the image's last build changes",
                build.name
            ),
        ),
    };
    Ok(vec![notice])
}

/// The audit Job of image `image` for `checked` (`<snapshot>@<build>`): one per pair.
fn audit_name(image: &str, checked: &str) -> String {
    let hash = hex::encode(Sha256::digest(checked.as_bytes()));
    dns_label(&[image, "audit", &hash[..10]], 63)
}

/// `<repository>@<digest>` of the published `image` (a tag or digest reference).
fn digest_reference(image: &str, digest: &str) -> String {
    let name = image.split_once('@').map_or(image, |(name, _)| name);
    let last = name.rfind('/').map_or(0, |i| i + 1);
    let name = match name[last..].rfind(':') {
        Some(colon) => &name[..last + colon],
        None => name,
    };
    format!("{name}@{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audited_reference_is_the_repository_at_the_digest() {
        assert_eq!(
            digest_reference("127.0.0.1:5000/zentoo/x:latest", "sha256:01"),
            "127.0.0.1:5000/zentoo/x@sha256:01"
        );
        assert_eq!(
            digest_reference("reg.example/x@sha256:00", "sha256:01"),
            "reg.example/x@sha256:01"
        );
        assert_eq!(
            digest_reference("localhost:5000/x", "sha256:01"),
            "localhost:5000/x@sha256:01"
        );
    }

    #[test]
    fn one_audit_per_snapshot_and_build_named_within_a_label() {
        let image = "i".repeat(70);
        let a = audit_name(&image, "20261101@b-1");
        assert!(a.len() <= 63, "{a}");
        assert_ne!(a, audit_name(&image, "20261102@b-1"));
        assert_ne!(a, audit_name(&image, "20261101@b-2"));
        assert_eq!(a, audit_name(&image, "20261101@b-1"));
    }
}
