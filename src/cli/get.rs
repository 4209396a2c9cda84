//! `zentoo get sites|images [-n NS|-A] [-o table|json]`: where each site and image stands, in
//! the habit of `flux get`: ready, revision or phase and digest, the last build, and why.

use crate::api::conditions::ready_summary;
use crate::api::{GentooImage, GentooSite};
use crate::controller::outcome::age;
use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde::Serialize;
use std::process::ExitCode;

/// Longest text shown in a table cell that says why; `-o json` has it whole.
const WHY_WIDTH: usize = 72;

#[derive(Debug, Subcommand)]
pub enum GetCommand {
    /// GentooSites: ready, revision, tuples, errors, last check, why.
    Sites(Scope),
    /// GentooImages: ready, phase, digest, last build, age, why it was (or is being) built.
    Images(Scope),
}

#[derive(Debug, Args)]
pub struct Scope {
    /// The namespace (default: the kubeconfig's).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

/// One site, as shown.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct SiteRow {
    namespace: String,
    name: String,
    ready: String,
    revision: String,
    tuples: Option<u32>,
    errors: Option<u32>,
    checked: Option<String>,
    why: String,
}

/// One image, as shown.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ImageRow {
    namespace: String,
    name: String,
    ready: String,
    phase: String,
    digest: Option<String>,
    last_build: Option<String>,
    last_result: Option<String>,
    last_finished: Option<String>,
    created: Option<String>,
    why: String,
}

pub fn run(command: GetCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let client = Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG)")?;
        let now = Timestamp::now();
        let text = match command {
            GetCommand::Sites(scope) => {
                let sites = list::<GentooSite>(&client, &scope).await?;
                let rows: Vec<SiteRow> = sites.iter().map(site_row).collect();
                match scope.output {
                    Output::Json => serde_json::to_string_pretty(&rows)? + "\n",
                    Output::Table => sites_table(&rows, scope.all_namespaces, now),
                }
            }
            GetCommand::Images(scope) => {
                let images = list::<GentooImage>(&client, &scope).await?;
                let rows: Vec<ImageRow> = images.iter().map(image_row).collect();
                match scope.output {
                    Output::Json => serde_json::to_string_pretty(&rows)? + "\n",
                    Output::Table => images_table(&rows, scope.all_namespaces, now),
                }
            }
        };
        print!("{text}");
        Ok(ExitCode::SUCCESS)
    })
}

/// The objects of kind `K` in the scope, by namespace and name.
async fn list<K>(client: &Client, scope: &Scope) -> anyhow::Result<Vec<K>>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let api: Api<K> = if scope.all_namespaces {
        Api::all(client.clone())
    } else {
        let ns = scope
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        Api::namespaced(client.clone(), &ns)
    };
    let kind = K::kind(&K::DynamicType::default()).to_string();
    let mut items = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {kind}s"))?
        .items;
    items.sort_by_key(|o| (o.namespace(), o.name_any()));
    Ok(items)
}

fn rfc3339(time: &Option<Time>) -> Option<String> {
    time.as_ref().map(|t| t.0.to_string())
}

fn site_row(site: &GentooSite) -> SiteRow {
    let status = site.status.clone().unwrap_or_default();
    let (ready, why) = ready_summary(&status.conditions);
    SiteRow {
        namespace: site.namespace().unwrap_or_default(),
        name: site.name_any(),
        ready,
        revision: status.short_revision.unwrap_or_default(),
        tuples: status.tuples,
        errors: status.error_count,
        checked: rfc3339(&status.last_checked),
        why,
    }
}

/// An image's row; `why` is the cause of the build running, else of the last build, else
/// what its Ready condition says.
fn image_row(image: &GentooImage) -> ImageRow {
    let status = image.status.clone().unwrap_or_default();
    let (ready, condition) = ready_summary(&status.conditions);
    let last = status.history.first();
    let cause = status
        .current_build
        .as_ref()
        .and_then(|b| b.cause.as_ref())
        .or_else(|| last.and_then(|h| h.cause.as_ref()));
    ImageRow {
        namespace: image.namespace().unwrap_or_default(),
        name: image.name_any(),
        ready,
        phase: format!("{:?}", status.phase),
        digest: status.short_digest.clone(),
        last_build: last.map(|h| h.name.clone()),
        last_result: last.map(|h| h.result.as_str().to_string()),
        last_finished: last.and_then(|h| rfc3339(&h.finished_at)),
        created: rfc3339(&image.metadata.creation_timestamp),
        why: cause.map_or(condition, |c| format!("{}: {}", c.reason, c.message)),
    }
}

fn sites_table(rows: &[SiteRow], namespaced: bool, now: Timestamp) -> String {
    let head = [
        "NAME", "READY", "REVISION", "TUPLES", "ERRORS", "CHECKED", "WHY",
    ];
    let body = rows.iter().map(|r| {
        let cells = [
            r.name.clone(),
            r.ready.clone(),
            dash(&r.revision),
            r.tuples.map_or("-".into(), |n| n.to_string()),
            r.errors.map_or("-".into(), |n| n.to_string()),
            ago(r.checked.as_deref(), now),
            short(&r.why, WHY_WIDTH),
        ];
        (r.namespace.as_str(), cells)
    });
    table(head, body, namespaced)
}

fn images_table(rows: &[ImageRow], namespaced: bool, now: Timestamp) -> String {
    let head = [
        "NAME",
        "READY",
        "PHASE",
        "DIGEST",
        "LAST BUILD",
        "AGE",
        "WHY",
    ];
    let body = rows.iter().map(|r| {
        let last = match (&r.last_result, &r.last_finished) {
            (Some(result), finished) => {
                format!("{result} {}", ago(finished.as_deref(), now))
            }
            (None, _) => "-".into(),
        };
        let cells = [
            r.name.clone(),
            r.ready.clone(),
            r.phase.clone(),
            r.digest.clone().unwrap_or_else(|| "-".into()),
            last,
            ago(r.created.as_deref(), now),
            short(&r.why, WHY_WIDTH),
        ];
        (r.namespace.as_str(), cells)
    });
    table(head, body, namespaced)
}

/// A header and rows as columns, with a NAMESPACE column first when `namespaced`.
fn table<'a, const N: usize>(
    head: [&str; N],
    body: impl Iterator<Item = (&'a str, [String; N])>,
    namespaced: bool,
) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    if namespaced {
        header.insert(0, "NAMESPACE".into());
    }
    rows.push(header);
    for (ns, cells) in body {
        let mut row = cells.to_vec();
        if namespaced {
            row.insert(0, ns.to_string());
        }
        rows.push(row);
    }
    super::columns(&rows)
}

fn dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_string()
    }
}

/// How long before `now` an RFC 3339 time was, as kubectl says it (`45s`, `12m`, `3h`,
/// `9d`); `-` when unknown.
fn ago(time: Option<&str>, now: Timestamp) -> String {
    time.and_then(|t| t.parse::<Timestamp>().ok())
        .map_or_else(|| "-".into(), |then| age(then, now))
}

/// `text` on one line, cut to `max` characters with `…`.
fn short(text: &str, max: usize) -> String {
    let line = text.replace('\n', " ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn ages_read_as_kubectl_shows_them() {
        let now = at("2026-12-06T12:00:00Z");
        let ago = |t: &str| ago(Some(t), now);
        assert_eq!(ago("2026-12-06T11:59:15Z"), "45s");
        assert_eq!(ago("2026-12-06T11:48:00Z"), "12m");
        assert_eq!(ago("2026-12-06T09:00:00Z"), "3h");
        assert_eq!(ago("2026-11-27T12:00:00Z"), "9d");
        assert_eq!(
            ago("2026-12-06T12:00:05Z"),
            "0s",
            "clock skew is not negative"
        );
        assert_eq!(super::ago(Some("yesterday"), now), "-");
        assert_eq!(super::ago(None, now), "-");
    }

    #[test]
    fn long_reasons_are_cut_on_one_line() {
        assert_eq!(short("a\nb", 10), "a b");
        assert_eq!(short("abcdefghij", 5), "abcd…");
        assert_eq!(short("abcde", 5), "abcde");
    }

    #[test]
    fn an_image_says_why_its_build_runs_else_why_the_last_ran() {
        let mut image: GentooImage = serde_json::from_value(serde_json::json!({
            "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooImage",
            "metadata": {"name": "web", "namespace": "ops",
                         "creationTimestamp": "2026-12-06T10:00:00Z"},
            "spec": {"siteRef": {"name": "demo"}, "portage": "server", "set": "web"},
            "status": {
                "phase": "Succeeded", "shortDigest": "sha256:0123456789ab",
                "history": [{"name": "web-2", "inputsDigest": "sha256:b", "result": "Succeeded",
                             "finishedAt": "2026-12-06T11:58:00Z",
                             "cause": {"reason": "InputsChanged",
                                       "message": "portage/server tree changed"}}],
                "conditions": [{"type": "Ready", "status": "True", "reason": "BuildSucceeded",
                                "message": "built", "lastTransitionTime": "2026-12-06T11:58:00Z"}]
            }
        }))
        .expect("an image");
        let row = image_row(&image);
        assert_eq!(row.why, "InputsChanged: portage/server tree changed");
        let text = images_table(&[row], false, at("2026-12-06T12:00:00Z"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "NAME  READY  PHASE      DIGEST               LAST BUILD    AGE  WHY",
                "web   True   Succeeded  sha256:0123456789ab  Succeeded 2m  2h   InputsChanged: portage/server tree changed"
            ]
        );
        if let Some(status) = image.status.as_mut() {
            status.current_build = Some(Box::new(crate::api::image::CurrentBuild {
                name: "web-3".into(),
                cause: Some(crate::api::image::BuildCause {
                    reason: "RebuildRequested".into(),
                    message: "asked".into(),
                }),
                ..Default::default()
            }));
        }
        assert_eq!(image_row(&image).why, "RebuildRequested: asked");
        let text = images_table(&[image_row(&image)], true, at("2026-12-06T12:00:00Z"));
        assert!(text.starts_with("NAMESPACE  NAME"), "{text}");
        assert!(
            text.lines()
                .nth(1)
                .is_some_and(|l| l.starts_with("ops        web")),
            "{text}"
        );
    }
}
