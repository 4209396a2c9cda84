//! Why each build happened, against the real control plane: the first build is `Created`; a
//! push's build is `InputsChanged` naming what changed exactly as `zentoo plan --against` does
//! for the same push; a rebuild request is `RebuildRequested`. The cause is on the Job, in
//! `status.currentBuild`, in the `Building` condition and event, and stays in the history.

use crate::support;
use crate::support::controller::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::ListParams;
use std::path::Path;
use std::time::Duration;
use zentoo::api::GentooImage;
use zentoo::api::image::BuildCause;
use zentoo::render::names::image_name;
use zentoo::site::write::Change;

/// The cause annotation of a build Job.
fn job_cause(job: &Job) -> BuildCause {
    let text = job
        .annotations()
        .get("zentoo.dev/cause")
        .unwrap_or_else(|| panic!("Job {} has no cause", job.name_any()));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `zentoo plan --output json` of the site, against an earlier plan when given.
fn plan(site: &Path, against: Option<&Path>) -> serde_json::Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_zentoo"));
    cmd.args(["plan", "--site"])
        .arg(site)
        .args(["--output", "json"]);
    if let Some(earlier) = against {
        cmd.arg("--against").arg(earlier);
    }
    let out = cmd.output().expect("run zentoo plan");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Waits until the image's newest history record is `job`'s, and returns the history.
async fn history_after(
    ns: &support::kube::TestNamespace,
    image: &str,
    job: &str,
) -> Vec<zentoo::api::image::BuildRecord> {
    eventually(
        ns,
        Duration::from_secs(60),
        &format!("{job} in the history"),
        || async {
            let status = ns.api::<GentooImage>().get(image).await.ok()?.status?;
            (status.history.first()?.name == job).then_some(status.history)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_build_says_why_and_a_push_names_what_plan_against_names() {
    let Some(kube) = support::kube_env().await else {
        return;
    };
    let env = setup(&kube, "why", "desktop-none-kde\n", "1s").await;
    let ns = &env.ns;
    let image = image_name("demo", "desktop-none-kde");

    // The first build.
    let first = wait_jobs(ns, &image, 1).await.remove(0);
    let created = job_cause(&first);
    assert_eq!(
        (created.reason.as_str(), created.message.as_str()),
        ("Created", "the image's first build")
    );
    finish_build(ns, &first.name_any(), "sha256:01").await;
    let ready = wait_ready(ns, &image, "True", None).await;
    let recorded = ready
        .status
        .and_then(|s| s.last_successful_build)
        .and_then(|b| b.inputs)
        .expect("the successful build records its inputs");
    assert_eq!(recorded.portage.branch, "portage/desktop");

    // A push that changes the portage tree and a set the image's set includes.
    let earlier = tempfile::NamedTempFile::new().expect("temp file");
    let before = plan(env.repo.path(), None);
    std::fs::write(earlier.path(), before.to_string()).expect("write the earlier plan");
    env.repo.commit(
        "portage/desktop",
        &[Change::file("make.conf", "USE=\"X wayland\"\n")],
    );
    env.repo.commit(
        "main",
        &[Change::file(
            "sets/base",
            "app-misc/hello\napp-misc/figlet\n@system\n",
        )],
    );
    let after = plan(env.repo.path(), Some(earlier.path()));
    let planned = after["images"]
        .as_array()
        .and_then(|images| images.iter().find(|i| i["name"] == "desktop-none-kde"))
        .expect("the image in the plan");
    let reasons: Vec<&str> = planned["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert_eq!(
        reasons,
        ["portage/desktop tree changed", "set kde changed via @base"],
        "{planned}"
    );
    let second = wait_jobs(ns, &image, 2).await.remove(1);
    let changed = job_cause(&second);
    assert_eq!(changed.reason, "InputsChanged");
    assert_eq!(
        changed.message,
        reasons.join("; "),
        "as zentoo plan --against says"
    );

    // Shown while it builds: status, the Building condition, and the event.
    let building = eventually(
        ns,
        Duration::from_secs(30),
        "the cause in status",
        || async {
            let img = ns.api::<GentooImage>().get(&image).await.ok()?;
            let current = img.status.as_ref()?.current_build.clone()?;
            (current.name == second.name_any()).then_some(img)
        },
    )
    .await;
    let current = building
        .status
        .as_ref()
        .and_then(|s| s.current_build.clone())
        .expect("a current build");
    assert_eq!(current.cause.as_ref(), Some(&changed));
    let (_, reason, message) = condition(&building, "Ready").expect("Ready");
    assert_eq!(reason, "Building");
    assert!(
        message.ends_with(&format!(": InputsChanged: {}", changed.message)),
        "{message}"
    );
    let events = ns.api::<Event>();
    let lp = ListParams::default().fields(&format!("involvedObject.name={image}"));
    eventually(
        ns,
        Duration::from_secs(30),
        "a Building event saying why",
        || async {
            let items = events.list(&lp).await.ok()?.items;
            items.into_iter().find(|e| {
                e.reason.as_deref() == Some("Building")
                    && e.message.as_deref().is_some_and(|m| {
                        m.contains(&second.name_any()) && m.contains(&changed.message)
                    })
            })
        },
    )
    .await;
    finish_build(ns, &second.name_any(), "sha256:02").await;
    history_after(ns, &image, &second.name_any()).await;

    // A rebuild request of the same inputs.
    merge(
        &ns.api::<GentooImage>(),
        &image,
        serde_json::json!({"metadata": {"annotations": {"zentoo.dev/rebuild-requested-at": "now"}}}),
    )
    .await;
    let third = wait_jobs(ns, &image, 3).await.remove(2);
    assert_eq!(job_cause(&third).reason, "RebuildRequested");
    finish_build(ns, &third.name_any(), "sha256:03").await;
    let history = history_after(ns, &image, &third.name_any()).await;
    let causes: Vec<(&str, &str)> = history
        .iter()
        .map(|h| {
            let cause = h.cause.as_ref().expect("a cause in every record");
            (h.name.as_str(), cause.reason.as_str())
        })
        .collect();
    assert_eq!(
        causes,
        [
            (third.name_any().as_str(), "RebuildRequested"),
            (second.name_any().as_str(), "InputsChanged"),
            (first.name_any().as_str(), "Created"),
        ]
    );

    // `zentoo tree site`: the site, its image, its builds newest first with their causes.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zentoo"))
        .args(["tree", "site", "demo", "-n", &ns.name])
        .env("KUBECONFIG", &kube.kubeconfig)
        .output()
        .expect("run zentoo tree");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("GentooSite/demo  Ready=True"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("└── GentooImage/{image}  Ready=True")),
        "{text}"
    );
    let builds: Vec<(&str, &str)> = lines[2..]
        .iter()
        .map(|l| {
            assert!(l.starts_with("    "), "builds under their image: {l}");
            let fields: Vec<&str> = l.trim_start().split("  ").collect();
            (fields[0], fields[2])
        })
        .collect();
    assert_eq!(
        builds,
        [
            (
                format!("├── Job/{}", third.name_any()).as_str(),
                "RebuildRequested"
            ),
            (
                format!("├── Job/{}", second.name_any()).as_str(),
                "InputsChanged"
            ),
            (format!("└── Job/{}", first.name_any()).as_str(), "Created"),
        ],
        "{text}"
    );
}
