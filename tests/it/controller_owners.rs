//! One owner per GentooImage, against the real control plane: two sites whose names and
//! tuples join into one image name (`demo` + `znver3-desktop-none-kde`, `demo-znver3` +
//! `desktop-none-kde`) never share it, and the writes that create or update an image cannot
//! take one another holds.

use crate::support;

use crate::support::controller::*;
use crate::support::site::Site;
use kube::ResourceExt;
use kube::api::{DeleteParams, PostParams};
use std::time::Duration;
use zentoo::api::{GentooImage, GentooSite};
use zentoo::controller::owner::{self, Written};
use zentoo::render::names::image_name;

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sites_wanting_one_image_name_never_share_it() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-owners").await;
    install_crds(&ns).await;
    let repo = Site::standard("znver3-desktop-none-kde\ndesktop-none-kde\n");
    let git = GitDaemon::serve(&repo);
    let cache = tempfile::TempDir::new().expect("cache dir");
    let _controller = Controller::start(&ns, &cache).await;

    let shared = image_name("demo", "znver3-desktop-none-kde");
    assert_eq!(shared, image_name("demo-znver3", "desktop-none-kde"));
    create_site(&ns, &site_object("demo", &git.url, "1s")).await;
    let job = wait_jobs(&ns, &shared, 1).await.remove(0).name_any();
    let images = ns.api::<GentooImage>();
    let first = images.get(&shared).await.expect("image");
    let demo_uid = ns
        .api::<GentooSite>()
        .get("demo")
        .await
        .expect("site demo")
        .uid();

    let monitor = BuildMonitor::start(&ns).await;
    create_site(&ns, &site_object("demo-znver3", &git.url, "1s")).await;
    let sites = ns.api::<GentooSite>();
    let error = eventually(&ns, T, "demo-znver3 reports the collision", || async {
        let status = sites.get("demo-znver3").await.ok()?.status?;
        status
            .errors
            .into_iter()
            .find(|e| e.tuple.as_deref() == Some("desktop-none-kde"))
    })
    .await;
    assert_eq!(
        (error.file.as_str(), error.line, error.field.as_str()),
        ("tuples", Some(2), "tuple")
    );
    assert_eq!(
        error.message,
        format!(
            "GentooImage `{shared}` belongs to GentooSite `demo` (its tuple \
             `znver3-desktop-none-kde`); rename this site or this tuple"
        )
    );
    // Its other tuple is its own.
    let own = image_name("demo-znver3", "znver3-desktop-none-kde");
    wait_jobs(&ns, &own, 1).await;

    // Several polls of both sites later, the image is as the first site made it.
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "demo-znver3 polled {} times in 30 s\n{}",
            seen.len(),
            images_summary(&ns).await
        );
        let site = sites.get("demo-znver3").await.expect("site");
        if let Some(at) = site.status.and_then(|s| s.last_checked).map(|t| t.0)
            && seen.last() != Some(&at)
        {
            seen.push(at);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = sites
        .get("demo-znver3")
        .await
        .expect("site")
        .status
        .expect("status");
    let stalled = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .expect("Stalled");
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "TupleErrors")
    );
    assert!(
        stalled.message.contains("belongs to GentooSite `demo`"),
        "{}",
        stalled.message
    );
    assert_eq!(status.tuples, Some(1), "one tuple planned, one in error");

    let now = images.get(&shared).await.expect("image");
    assert_eq!(now.uid(), first.uid());
    assert_eq!(now.owner_references(), first.owner_references());
    assert_eq!(now.owner_references()[0].uid, demo_uid.unwrap_or_default());
    assert_eq!(now.spec, first.spec);
    assert_eq!(now.spec.site_ref.name, "demo");
    let jobs_now: Vec<String> = jobs(&ns, &shared)
        .await
        .iter()
        .map(|j| j.name_any())
        .collect();
    assert_eq!(
        jobs_now,
        std::slice::from_ref(&job),
        "the build was superseded"
    );
    let seen_jobs: Vec<String> = monitor
        .seen()
        .created
        .into_iter()
        .filter(|(_, image, _)| *image == shared)
        .map(|(name, _, _)| name)
        .collect();
    assert_eq!(seen_jobs, [job], "Jobs of {shared} came and went");
}

/// A site-made image object, as the site reconciler writes it, owned by a site of `uid`.
fn desired(name: &str, site: &str, uid: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "zentoo.dev/v1alpha1",
        "kind": "GentooImage",
        "metadata": {
            "name": name,
            "ownerReferences": [{
                "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooSite", "name": site,
                "uid": uid, "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {"siteRef": {"name": site}, "portage": "desktop", "set": "kde"},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_writes_cannot_take_an_image_someone_else_made_meanwhile() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let ns = kube.namespace("ctl-owner-race").await;
    install_crds(&ns).await;
    let api = ns.api::<GentooImage>();
    // Owners that exist: the garbage collector would delete images of missing ones.
    let mut uids = Vec::new();
    for site in ["a", "a-b"] {
        let created = ns
            .api::<GentooSite>()
            .create(
                &PostParams::default(),
                &site_object(site, "https://git.invalid/x", "1h"),
            )
            .await
            .expect("create site");
        uids.push(created.uid().expect("uid"));
    }
    let (a, ab) = (uids[0].as_str(), uids[1].as_str());

    // Two creates of one name: the second is told, and changes nothing.
    assert_eq!(
        owner::create(&ns.client, &ns.name, &desired("x", "a", a))
            .await
            .expect("create"),
        Written::Done
    );
    let made = api.get("x").await.expect("image x");
    assert_eq!(
        owner::create(&ns.client, &ns.name, &desired("x", "a-b", ab))
            .await
            .expect("create"),
        Written::Raced
    );
    // An update that expects another image of the name (site a-b's, since replaced by a's).
    let mut changed = desired("x", "a-b", ab);
    changed["spec"]["set"] = "web".into();
    assert_eq!(
        owner::apply(&api, "00000000-0000-0000-0000-000000000001", &changed)
            .await
            .expect("apply"),
        Written::Raced
    );
    let after = api.get("x").await.expect("image x");
    assert_eq!(
        (after.spec.clone(), after.owner_references().to_vec()),
        (made.spec.clone(), made.owner_references().to_vec())
    );
    // The holder's own update goes through.
    let mut update = desired("x", "a", a);
    update["spec"]["set"] = "web".into();
    let uid = made.uid().expect("uid");
    assert_eq!(
        owner::apply(&api, &uid, &update).await.expect("apply"),
        Written::Done
    );
    assert_eq!(api.get("x").await.expect("image x").spec.set, "web");
    // An update of an image deleted meanwhile creates none.
    api.delete("x", &DeleteParams::default())
        .await
        .expect("delete");
    eventually(&ns, T, "x gone", || async {
        api.get_opt("x").await.ok()?.is_none().then_some(())
    })
    .await;
    assert_eq!(
        owner::apply(&api, &uid, &update).await.expect("apply"),
        Written::Raced
    );
    assert!(
        api.get_opt("x").await.expect("get").is_none(),
        "x was made again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_edit_of_a_field_the_site_sets_is_undone() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "ctl-owner-edit", "desktop-none-kde\n", "1h").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");
    wait_jobs(ns, &image, 1).await;
    let api = ns.api::<GentooImage>();
    let before = api.get(&image).await.expect("image");
    merge(&api, &image, serde_json::json!({"spec": {"set": "web"}})).await;
    eventually(ns, T, "the site restores the set", || async {
        let now = api.get(&image).await.ok()?;
        (now.spec.set == "kde").then_some(now)
    })
    .await;
    assert_eq!(api.get(&image).await.expect("image").uid(), before.uid());
}
