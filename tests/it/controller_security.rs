//! Security rebuilds against the real control plane, with the controller holding the chart's
//! rights: a site that follows a newer repo snapshot gets each built image audited once
//! against it (an audit Job: the snapshot synced, the image's SBOM matched), and only the image
//! one of its GLSAs affects is rebuilt at it, with the history saying why.

use crate::support;

use crate::support::controller::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::ListParams;
use std::time::Duration;
use zentoo::api::{GentooImage, GentooSite, labels};
use zentoo::render::audit::{AUDIT_COMPONENT, AUDIT_CONTAINER, SYNC_CONTAINER};
use zentoo::render::names::image_name;

/// The audit Jobs of `image`.
async fn audits(ns: &support::kube::TestNamespace, image: &str) -> Vec<Job> {
    let lp = ListParams::default().labels(&format!(
        "{}={image},{}={AUDIT_COMPONENT}",
        labels::IMAGE,
        labels::COMPONENT
    ));
    ns.api::<Job>().list(&lp).await.expect("list audits").items
}

/// Waits for the one audit Job of `image` that is not being deleted.
async fn wait_audit(ns: &support::kube::TestNamespace, image: &str) -> Job {
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("an audit of {image}"),
        || async {
            audits(ns, image)
                .await
                .into_iter()
                .find(|j| j.metadata.deletion_timestamp.is_none())
        },
    )
    .await
}

/// Plays kubelet for audit Job `job`: sync succeeds, the audit reports `glsa`.
async fn finish_audit(ns: &support::kube::TestNamespace, job: &str, glsa: serde_json::Value) {
    let lp = ListParams::default().labels(&format!("{}={job}", labels::BUILD));
    let pods = ns.api::<Pod>();
    let pod = eventually(
        ns,
        Duration::from_secs(30),
        &format!("the pod of {job}"),
        || {
            let (pods, lp) = (pods.clone(), lp.clone());
            async move { pods.list(&lp).await.ok()?.items.into_iter().next() }
        },
    )
    .await;
    let kubelet = ns.kubelet();
    kubelet.run(&pod.name_any()).await;
    let message = serde_json::json!({ "glsa": glsa }).to_string();
    kubelet
        .set_pod_terminated(&pod.name_any(), AUDIT_CONTAINER, 0, &message)
        .await;
}

/// (status, reason, message) of the site's condition `type_`.
fn condition_site(site: &GentooSite, type_: &str) -> Option<(String, String, String)> {
    site.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

fn container<'a>(job: &'a Job, name: &str) -> &'a k8s_openapi::api::core::v1::Container {
    let pod = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod spec");
    pod.init_containers
        .iter()
        .flatten()
        .chain(&pod.containers)
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env(c: &k8s_openapi::api::core::v1::Container, name: &str) -> Option<String> {
    c.env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_snapshot_rebuilds_only_the_image_its_glsas_affect() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env_ = setup(
        &kube,
        "ctl-follow",
        "desktop-none-kde\nserver-none-kde\n",
        "1s",
    )
    .await;
    let ns = &env_.ns;
    let [affected, clean] = ["desktop-none-kde", "server-none-kde"].map(|t| image_name("demo", t));
    let sites = ns.api::<GentooSite>();
    // `latest` never moves: the site refuses to follow it, naming the field.
    merge(
        &sites,
        "demo",
        serde_json::json!({"spec": {"security": {"followSnapshot": "latest"}}}),
    )
    .await;
    eventually(
        ns,
        Duration::from_secs(60),
        "the site refusing latest",
        || async {
            let site = sites.get("demo").await.ok()?;
            let (status, _, message) = condition_site(&site, "Ready")?;
            (status == "False" && message.contains("spec.security.followSnapshot")).then_some(())
        },
    )
    .await;
    merge(&sites, "demo", serde_json::json!({"spec": {"security": null, "imageDefaults": {"repoSnapshot": "20261001"}}})).await;

    let mut first = std::collections::BTreeMap::new();
    for image in [&affected, &clean] {
        let job = eventually(
            ns,
            Duration::from_secs(60),
            &format!("a 20261001 build of {image}"),
            || async {
                jobs(ns, image).await.into_iter().find(|j| {
                    j.metadata.deletion_timestamp.is_none()
                        && env(container(j, "build"), "ZENTOO_REPO_SNAPSHOT").as_deref()
                            == Some("20261001")
                })
            },
        )
        .await;
        finish_build(ns, &job.name_any(), "sha256:01").await;
        wait_ready(ns, image, "True", None).await;
        first.insert(image.clone(), jobs(ns, image).await.len());
    }
    assert!(
        audits(ns, &affected).await.is_empty(),
        "no audit while nothing is followed"
    );

    // The site follows the newer snapshot: each image is audited once against it.
    merge(
        &sites,
        "demo",
        serde_json::json!({"spec": {"security": {"followSnapshot": "20261101"}}}),
    )
    .await;
    let audit = wait_audit(ns, &affected).await;
    let sync = container(&audit, SYNC_CONTAINER);
    assert_eq!(
        env(sync, "ZENTOO_REPO_SNAPSHOT").as_deref(),
        Some("20261101")
    );
    let cmd = container(&audit, AUDIT_CONTAINER)
        .command
        .clone()
        .unwrap_or_default()
        .join(" ");
    assert!(
        cmd.starts_with("zentoo audit r/x@sha256:01 --glsa-dir /var/db/zentoo/repos/20261101/metadata/glsa --arch amd64"),
        "{cmd}"
    );
    finish_audit(
        ns,
        &audit.name_any(),
        serde_json::json!({"advisories": 4, "affected": [
            {"id": "202610-01", "severity": "high", "package": "app-misc/hello-2.10"}
        ]}),
    )
    .await;
    let audit = wait_audit(ns, &clean).await;
    finish_audit(
        ns,
        &audit.name_any(),
        serde_json::json!({"advisories": 4, "affected": []}),
    )
    .await;

    // Only the affected image rebuilds, at the followed snapshot, saying why.
    let rebuilt = wait_jobs(ns, &affected, first[&affected] + 1)
        .await
        .pop()
        .expect("rebuild");
    assert_eq!(
        env(container(&rebuilt, "build"), "ZENTOO_REPO_SNAPSHOT").as_deref(),
        Some("20261101")
    );
    let cause = rebuilt
        .annotations()
        .get("zentoo.dev/cause")
        .cloned()
        .unwrap_or_default();
    assert!(
        cause.contains("SecurityUpdate") && cause.contains("202610-01"),
        "{cause}"
    );
    // Status and events are written when the reconcile that made the Job ends.
    let update = eventually(
        ns,
        Duration::from_secs(30),
        "securityUpdate in status",
        || async {
            let img = ns.api::<GentooImage>().get(&affected).await.ok()?;
            img.status?.security_update
        },
    )
    .await;
    assert_eq!(
        (update.pinned.as_str(), update.snapshot.as_str()),
        ("20261001", "20261101")
    );
    assert_eq!(update.fixes.affected[0].package, "app-misc/hello-2.10");
    let events = ns.api::<Event>();
    let lp = ListParams::default().fields(&format!("involvedObject.name={affected}"));
    eventually(
        ns,
        Duration::from_secs(30),
        "a SecurityUpdate event",
        || async {
            let items = events.list(&lp).await.ok()?.items;
            items.into_iter().find(|e| {
                e.reason.as_deref() == Some("SecurityUpdate")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.contains("GLSA 202610-01"))
            })
        },
    )
    .await;
    finish_build(ns, &rebuilt.name_any(), "sha256:02").await;
    let done = eventually(
        ns,
        Duration::from_secs(60),
        "the rebuild in the history",
        || async {
            let img = ns.api::<GentooImage>().get(&affected).await.ok()?;
            let s = img.status?;
            let record = s.history.first()?.clone();
            (record.name == rebuilt.name_any() && s.last_successful_build?.name == record.name)
                .then_some(record)
        },
    )
    .await;
    assert_eq!(
        done.cause.map(|c| c.reason).as_deref(),
        Some("SecurityUpdate")
    );

    // The clean image was checked and left as it is; the rebuilt one is not audited again
    // (it is on the followed snapshot), and both stay as they are.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        jobs(ns, &clean).await.len(),
        first[&clean],
        "the unaffected image rebuilt"
    );
    assert_eq!(jobs(ns, &affected).await.len(), first[&affected] + 1);
    let clean_status = ns
        .api::<GentooImage>()
        .get(&clean)
        .await
        .expect("image")
        .status
        .expect("status");
    assert!(clean_status.security_update.is_none());
    assert!(
        clean_status
            .security_checked
            .as_deref()
            .is_some_and(|c| c.starts_with("20261101@")),
        "{:?}",
        clean_status.security_checked
    );
    // One audit each: a finished audit stays for its TTL and is never run twice.
    for image in [&affected, &clean] {
        let all = audits(ns, image).await;
        assert_eq!(all.len(), 1, "{image}: {} audits", all.len());
        assert_eq!(
            all[0]
                .spec
                .as_ref()
                .and_then(|s| s.ttl_seconds_after_finished),
            Some(zentoo::render::audit::AUDIT_TTL_SECONDS)
        );
    }
}
