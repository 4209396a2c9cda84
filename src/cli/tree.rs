//! `zentoo tree site NAME [-n NS]`: a site, the images it builds and each image's builds, as
//! `flux tree` shows what a Kustomization made.

use crate::api::conditions::types;
use crate::api::{GentooImage, GentooSite};
use crate::controller::outcome::age;
use anyhow::Context as _;
use clap::{Args, Subcommand};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TreeCommand {
    /// A GentooSite, its GentooImages and their builds (newest first).
    Site(SiteTarget),
}

#[derive(Debug, Args)]
pub struct SiteTarget {
    /// The site's name.
    name: String,
    /// Its namespace (default: the kubeconfig's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

pub fn run(command: TreeCommand) -> anyhow::Result<ExitCode> {
    let TreeCommand::Site(target) = command;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let client = Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG)")?;
        let ns = target
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        let sites: Api<GentooSite> = Api::namespaced(client.clone(), &ns);
        let site = sites
            .get(&target.name)
            .await
            .with_context(|| format!("GentooSite {ns}/{}", target.name))?;
        let images: Api<GentooImage> = Api::namespaced(client, &ns);
        let mut mine: Vec<GentooImage> = images
            .list(&ListParams::default())
            .await
            .context("listing GentooImages")?
            .items
            .into_iter()
            .filter(|i| i.spec.site_ref.name == target.name)
            .collect();
        mine.sort_by_key(|i| i.name_any());
        print!("{}", tree(&site, &mine, Timestamp::now()));
        Ok(ExitCode::SUCCESS)
    })
}

fn ready(conditions: &[Condition]) -> String {
    conditions
        .iter()
        .find(|c| c.type_ == types::READY)
        .map_or_else(
            || "Ready=Unknown".into(),
            |c| format!("Ready={} {}", c.status, c.reason),
        )
}

/// The tree of `site` and its `images`, one line per object.
fn tree(site: &GentooSite, images: &[GentooImage], now: Timestamp) -> String {
    let status = site.status.clone().unwrap_or_default();
    let mut out = format!(
        "GentooSite/{}  {}  revision {}  {} tuples\n",
        site.name_any(),
        ready(&status.conditions),
        status.short_revision.as_deref().unwrap_or("-"),
        status.tuples.unwrap_or(0)
    );
    for (i, image) in images.iter().enumerate() {
        let last = i + 1 == images.len();
        let (branch, indent) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        let status = image.status.clone().unwrap_or_default();
        out.push_str(&format!(
            "{branch}GentooImage/{}  {}  {:?}  {}\n",
            image.name_any(),
            ready(&status.conditions),
            status.phase,
            status.short_digest.as_deref().unwrap_or("-")
        ));
        let mut builds: Vec<String> = Vec::new();
        if let Some(current) = &status.current_build {
            builds.push(format!(
                "Job/{}  Running ({})  {}  started {} ago",
                current.name,
                current.step.map_or("pending", |s| s.as_str()),
                current.cause.as_ref().map_or("-", |c| c.reason.as_str()),
                current
                    .started_at
                    .as_ref()
                    .map_or_else(|| "-".into(), |t| age(t.0, now))
            ));
        }
        for h in &status.history {
            let result = match h.step {
                Some(step) => format!("{} ({})", h.result.as_str(), step.as_str()),
                None => h.result.as_str().to_string(),
            };
            builds.push(format!(
                "Job/{}  {result}  {}  finished {} ago",
                h.name,
                h.cause.as_ref().map_or("-", |c| c.reason.as_str()),
                h.finished_at
                    .as_ref()
                    .map_or_else(|| "-".into(), |t| age(t.0, now))
            ));
        }
        for (j, build) in builds.iter().enumerate() {
            let twig = if j + 1 == builds.len() {
                "└── "
            } else {
                "├── "
            };
            out.push_str(&format!("{indent}{twig}{build}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_its_images_and_their_builds_newest_first() {
        let site: GentooSite = serde_json::from_value(serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooSite",
            "metadata": {"name": "demo", "namespace": "ops"},
            "spec": {"source": {"url": "https://git.example/site.git"}},
            "status": {"shortRevision": "6b47e781f143", "tuples": 2,
                "conditions": [{"type": "Ready", "status": "True", "reason": "Planned",
                    "message": "", "lastTransitionTime": "2026-12-06T11:00:00Z"}]}
        }))
        .expect("a site");
        let image = |name: &str, status: serde_json::Value| -> GentooImage {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooImage",
                "metadata": {"name": name, "namespace": "ops"},
                "spec": {"siteRef": {"name": "demo"}, "portage": "server", "set": "web"},
                "status": status
            }))
            .expect("an image")
        };
        let images = [
            image(
                "demo-a",
                serde_json::json!({
                    "phase": "Building", "shortDigest": "sha256:0123456789ab",
                    "currentBuild": {"name": "a-2", "inputsDigest": "sha256:2", "phase": "Running",
                        "step": "build", "startedAt": "2026-12-06T11:58:00Z",
                        "cause": {"reason": "InputsChanged", "message": "x"}},
                    "history": [{"name": "a-1", "inputsDigest": "sha256:1", "result": "Succeeded",
                        "finishedAt": "2026-12-06T10:00:00Z",
                        "cause": {"reason": "Created", "message": "y"}}]
                }),
            ),
            image(
                "demo-b",
                serde_json::json!({
                    "phase": "Failed",
                    "history": [{"name": "b-1", "inputsDigest": "sha256:1", "result": "Failed",
                        "step": "build", "finishedAt": "2026-12-06T11:59:00Z"}],
                    "conditions": [{"type": "Ready", "status": "False", "reason": "BuildFailed",
                        "message": "", "lastTransitionTime": "2026-12-06T11:59:00Z"}]
                }),
            ),
        ];
        let now = "2026-12-06T12:00:00Z".parse().expect("a time");
        assert_eq!(
            tree(&site, &images, now),
            "GentooSite/demo  Ready=True Planned  revision 6b47e781f143  2 tuples\n\
             ├── GentooImage/demo-a  Ready=Unknown  Building  sha256:0123456789ab\n\
             │   ├── Job/a-2  Running (build)  InputsChanged  started 2m ago\n\
             │   └── Job/a-1  Succeeded  Created  finished 2h ago\n\
             └── GentooImage/demo-b  Ready=False BuildFailed  Failed  -\n    \
             └── Job/b-1  Failed (build)  -  finished 60s ago\n"
        );
    }
}
