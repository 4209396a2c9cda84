//! `zentoo reconcile site|image NAME`: ask the controller to reconcile now, wait for it, and
//! say what happened (like `flux reconcile`).
//!
//! The request is an annotation with a new token (the current time); the controller copies
//! the token into status once it acted on it, which the command waits for by watching the one
//! object, at most `--timeout`.

use crate::api::conditions::{reasons, types};
use crate::api::{GentooImage, GentooSite, annotations};
use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::wait::await_condition;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Debug, Subcommand)]
pub enum ReconcileCommand {
    /// Plan a GentooSite's fetched revision again and re-apply its images; with
    /// `--with-source`, check its git repository first and fetch what moved.
    Site(Target),
    /// Reconcile a GentooImage now (plan its inputs, supersede or start a build); with
    /// `--with-source`, reconcile its site with source first.
    Image(Target),
}

#[derive(Debug, Args)]
pub struct Target {
    /// The object's name.
    name: String,
    /// Its namespace (default: the kubeconfig's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Check the site's git repository first (`ls-remote`, fetching what moved).
    #[arg(long)]
    with_source: bool,
    /// How long to wait for each reconcile, e.g. `30s`, `5m`.
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    timeout: Duration,
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    crate::api::duration::parse(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("not a duration like 30s or 5m: {text}"))
}

pub fn run(command: ReconcileCommand) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let client = Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG)")?;
        let ok = match command {
            ReconcileCommand::Site(t) => {
                let ns = namespace(&client, &t);
                site(&client, &ns, &t.name, t.with_source, t.timeout).await?
            }
            ReconcileCommand::Image(t) => {
                let ns = namespace(&client, &t);
                image(&client, &ns, &t, t.timeout).await?
            }
        };
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}

fn namespace(client: &Client, target: &Target) -> String {
    target
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string())
}

/// Reconciles site `name`; true when it ended well (Ready, or only not ready because it is
/// suspended).
async fn site(
    client: &Client,
    ns: &str,
    name: &str,
    with_source: bool,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let api: Api<GentooSite> = Api::namespaced(client.clone(), ns);
    let what = format!("GentooSite {ns}/{name}");
    let current = get(&api, name, &what).await?;
    if current.spec.suspend {
        println!("✗ {what} is suspended (spec.suspend): nothing to reconcile");
        return Ok(false);
    }
    let key = if with_source {
        annotations::FETCH_REQUESTED_AT
    } else {
        annotations::RECONCILE_REQUESTED_AT
    };
    let handled = move |s: &GentooSite, token: &str| {
        let status = s.status.as_ref();
        let seen = if with_source {
            status.and_then(|s| s.last_handled_fetch_at.as_deref())
        } else {
            status.and_then(|s| s.last_handled_reconcile_at.as_deref())
        };
        seen == Some(token)
    };
    let doing = if with_source {
        "to check its repository and plan"
    } else {
        "to plan its fetched revision"
    };
    let done = request(&api, name, &what, key, doing, timeout, handled).await?;
    let status = done.status.clone().unwrap_or_default();
    let ready = ready(&status.conditions);
    let revision = status.short_revision.as_deref().unwrap_or("-");
    let images = status.tuples.unwrap_or(0);
    match ready {
        Some(c) if c.status == "True" => {
            println!("✔ {what} reconciled: revision {revision}, {images} images");
            Ok(true)
        }
        Some(c) => {
            println!(
                "✗ {what} reconciled with problems ({}): {}",
                c.reason, c.message
            );
            for e in status.errors.iter().take(10) {
                println!("  {e}");
            }
            Ok(false)
        }
        None => {
            println!("✔ {what} reconciled: revision {revision}, {images} images");
            Ok(true)
        }
    }
}

/// Reconciles image `target.name` (its site with source first when asked); true when it
/// ended well: built, building, or suspended.
async fn image(
    client: &Client,
    ns: &str,
    target: &Target,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let api: Api<GentooImage> = Api::namespaced(client.clone(), ns);
    let name = &target.name;
    let what = format!("GentooImage {ns}/{name}");
    let current = get(&api, name, &what).await?;
    if target.with_source {
        let site = &current.spec.site_ref.name;
        if !self::site(client, ns, site, true, timeout).await? {
            return Ok(false);
        }
    }
    let handled = |i: &GentooImage, token: &str| {
        i.status
            .as_ref()
            .and_then(|s| s.last_handled_reconcile_at.as_deref())
            == Some(token)
    };
    let done = request(
        &api,
        name,
        &what,
        annotations::RECONCILE_REQUESTED_AT,
        "to reconcile",
        timeout,
        handled,
    )
    .await?;
    let status = done.status.clone().unwrap_or_default();
    let Some(ready) = ready(&status.conditions) else {
        println!("✔ {what} reconciled: phase {:?}", status.phase);
        return Ok(true);
    };
    let good = ready.status == "True"
        || [reasons::BUILDING, reasons::SUPERSEDING, reasons::SUSPENDED]
            .contains(&ready.reason.as_str());
    let mark = if good { "✔" } else { "✗" };
    println!(
        "{mark} {what} reconciled: {:?}, {}: {}",
        status.phase, ready.reason, ready.message
    );
    Ok(good)
}

async fn get<K>(api: &Api<K>, name: &str, what: &str) -> anyhow::Result<K>
where
    K: Clone + DeserializeOwned + Debug,
{
    api.get_opt(name)
        .await
        .with_context(|| format!("reading {what}"))?
        .ok_or_else(|| anyhow!("{what} not found"))
}

/// Sets annotation `key` to a new token on `name` and waits, at most `timeout`, until
/// `handled(object, token)`; returns the object then.
async fn request<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    key: &str,
    doing: &str,
    timeout: Duration,
    handled: impl Fn(&K, &str) -> bool + Send + 'static,
) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let progress = Spinner::new();
    progress.say(&format!("► annotating {what}"));
    let token = Timestamp::now().to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {key: token}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("annotating {what}"))?;
    progress.say(&format!("◎ waiting for {what} {doing}"));
    let started = Instant::now();
    let want = token.clone();
    let waited = tokio::time::timeout(
        timeout,
        await_condition(api.clone(), name, move |obj: Option<&K>| {
            obj.is_some_and(|o| handled(o, &want))
        }),
    )
    .await;
    progress.finish();
    match waited {
        Err(_) => bail!(
            "timed out after {} waiting for {what} {doing} (is the controller running?)",
            humanize(timeout)
        ),
        Ok(Err(e)) => Err(anyhow!("watching {what}: {e}")),
        Ok(Ok(None)) => bail!("{what} was deleted"),
        Ok(Ok(Some(obj))) => {
            eprintln!(
                "  {what} handled the request in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(obj)
        }
    }
}

fn ready(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == types::READY)
}

fn humanize(d: Duration) -> String {
    if d.as_secs() >= 60 && d.as_secs().is_multiple_of(60) {
        format!("{}m", d.as_secs() / 60)
    } else {
        format!("{:.0}s", d.as_secs_f64())
    }
}

/// A spinner on a terminal; plain lines on stderr otherwise.
struct Spinner {
    bar: Option<ProgressBar>,
}

impl Spinner {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Spinner { bar }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(line.to_string()),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
