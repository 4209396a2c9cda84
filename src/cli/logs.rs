//! `zentoo logs IMAGE [--build B] [--step S] [--package P] [-f]`: a cluster build's logs.
//!
//! While the build's pod exists, its steps' logs come from the kubelet (through the API
//! server), in step order; `-f` follows each running step and waits for the next one until the
//! build ends. Afterwards (and for `--package`, Portage's per-package log), they come from what
//! the build steps kept on the site's binary package volume, served read-only by the binhost
//! (`/logs/<image>/<build>/`) and read through the API server's service proxy: the steps that
//! run Portage (build, sign, assemble) and every package's own log. docs/operations.md, "Build
//! logs".

use crate::api::GentooImage;
use crate::api::GentooSite;
use crate::api::labels;
use crate::binhost::logs::{Builds, Listing};
use crate::controller::gc::record_name;
use crate::render::storage::claim_name;
use anyhow::{Context as _, bail};
use clap::Args;
use futures::{AsyncBufReadExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ContainerState, Pod, Service};
use kube::api::{Api, ListParams, LogParams};
use kube::{Client, ResourceExt};
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;
use zentoo_core::glsa::version::split_pf;

/// The annotation on a binhost Service naming the binary package claim it serves.
pub const BINPKGS_CLAIM_ANNOTATION: &str = "zentoo.dev/binpkgs-claim";
/// The steps whose logs are stored, in the order they run.
const STORED_STEPS: [&str; 3] = ["build", "sign", "assemble"];
/// How often a followed build's pod is looked at again.
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The GentooImage.
    image: String,
    /// Its namespace (default: the kubeconfig's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// The build: its name (as `zentoo tree` shows it) or a number, 1 being the newest
    /// (default: the running build, else the last one).
    #[arg(long)]
    build: Option<String>,
    /// Only this step (materialize, build, sign, assemble, pack, publish; once the pod is gone:
    /// build, sign, assemble).
    #[arg(long)]
    step: Option<String>,
    /// Portage's own log of this package (`cat/pkg`, `pkg` or `cat/pkg-1.2`), from the stored
    /// logs; every build of it in the build step, oldest first.
    #[arg(long, conflicts_with_all = ["step", "follow"])]
    package: Option<String>,
    /// Follow a running build: each step's log as it is written, until the build ends.
    #[arg(short = 'f', long)]
    follow: bool,
    /// List the stored log files of the build (path and size) instead of printing them.
    #[arg(long, conflicts_with_all = ["package", "follow"])]
    list: bool,
    /// The binhost Service serving the site's binary package volume, `NAME[:PORT]` (default:
    /// the one annotated `zentoo.dev/binpkgs-claim` with the site's claim).
    #[arg(long)]
    binhost: Option<String>,
}

pub fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(logs(args))
}

async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let client = Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG)")?;
    let ns = args
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let images: Api<GentooImage> = Api::namespaced(client.clone(), &ns);
    let image = images
        .get(&args.image)
        .await
        .with_context(|| format!("GentooImage {ns}/{}", args.image))?;
    let build = which_build(&image, args.build.as_deref())?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    if args.package.is_none() && !args.list {
        let mut image = image.clone();
        loop {
            if let Some(pod) = build_pod(&pods, &build).await? {
                return from_pod(&pods, pod, &build, &args).await;
            }
            // A build that has just started has its Job before its pod: followed, it is waited for.
            let running = image
                .status
                .as_ref()
                .and_then(|s| s.current_build.as_ref())
                .is_some_and(|c| c.name == build);
            if !(args.follow && running) {
                break;
            }
            tokio::time::sleep(POLL).await;
            image = images.get(&args.image).await?;
        }
        if args.follow {
            eprintln!("zentoo: build {build} has ended (its pod is gone): its stored logs");
        }
    }
    let store = Store::find(&client, &ns, &image, args.binhost.as_deref()).await?;
    from_store(&store, &record_name(&image), &build, &args).await
}

/// The build `wanted` names (a name, or a number from the newest), else the running one, else
/// the last one.
fn which_build(image: &GentooImage, wanted: Option<&str>) -> anyhow::Result<String> {
    let status = image.status.as_ref();
    let mut builds: Vec<&str> = Vec::new();
    if let Some(current) = status.and_then(|s| s.current_build.as_ref()) {
        builds.push(&current.name);
    }
    for record in status.map(|s| s.history.as_slice()).unwrap_or_default() {
        if !builds.contains(&record.name.as_str()) {
            builds.push(&record.name);
        }
    }
    pick_build(&builds, wanted).map_err(|e| anyhow::anyhow!("image {}: {e}", image.name_any()))
}

/// Pure: `wanted` among `builds` (newest first): a number counts from 1, the newest; a name
/// is taken as it is (an older build may have left the history but kept its logs).
fn pick_build(builds: &[&str], wanted: Option<&str>) -> Result<String, String> {
    match wanted {
        None => builds
            .first()
            .map(|b| b.to_string())
            .ok_or_else(|| "no build yet".to_string()),
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            let i: usize = n.parse().map_err(|_| format!("no build {n}"))?;
            i.checked_sub(1)
                .and_then(|i| builds.get(i))
                .map(|b| b.to_string())
                .ok_or_else(|| {
                    format!(
                        "no build {n}: it has {} (1 is the newest, `zentoo tree` lists them)",
                        builds.len()
                    )
                })
        }
        Some(name) => Ok(name.to_string()),
    }
}

/// The pod of build `build`, if it still exists.
async fn build_pod(pods: &Api<Pod>, build: &str) -> anyhow::Result<Option<Pod>> {
    let lp = ListParams::default().labels(&format!("{}={build}", labels::BUILD));
    let list = pods.list(&lp).await.context("listing the build's pods")?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .max_by_key(|p| p.creation_timestamp()))
}

/// Where a step's container stands.
#[derive(Debug, PartialEq, Eq)]
enum Stage {
    Waiting,
    Running,
    Done,
}

fn stage(pod: &Pod, step: &str) -> Stage {
    let status = pod.status.as_ref();
    let state: Option<&ContainerState> = status
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .find(|c| c.name == step)
        .and_then(|c| c.state.as_ref());
    match state {
        Some(s) if s.terminated.is_some() => Stage::Done,
        Some(s) if s.running.is_some() => Stage::Running,
        _ => Stage::Waiting,
    }
}

/// The pod's steps, in the order they run (init containers, then the rest).
fn steps_of(pod: &Pod) -> Vec<String> {
    pod.spec
        .iter()
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
        })
        .map(|c| c.name.clone())
        .collect()
}

/// True when the pod will run no more containers.
fn ended(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

async fn from_pod(
    pods: &Api<Pod>,
    mut pod: Pod,
    build: &str,
    args: &LogsArgs,
) -> anyhow::Result<ExitCode> {
    let name = pod.name_any();
    let steps: Vec<String> = steps_of(&pod)
        .into_iter()
        .filter(|s| args.step.as_deref().is_none_or(|w| w == s))
        .collect();
    if steps.is_empty() {
        bail!(
            "build {build} has no step {} (its steps: {})",
            args.step.as_deref().unwrap_or_default(),
            steps_of(&pod).join(", ")
        );
    }
    let several = steps.len() > 1;
    for step in steps {
        loop {
            match stage(&pod, &step) {
                Stage::Waiting if args.follow && !ended(&pod) => {
                    tokio::time::sleep(POLL).await;
                    match pods.get_opt(&name).await? {
                        Some(p) => pod = p,
                        None => {
                            eprintln!("zentoo: the pod of build {build} is gone");
                            return Ok(ExitCode::SUCCESS);
                        }
                    }
                }
                // Not started (and not followed): the later steps have not run either.
                Stage::Waiting => return Ok(ExitCode::SUCCESS),
                _ => break,
            }
        }
        if several {
            eprintln!("==> {build}: step {step} <==");
        }
        let lp = LogParams {
            container: Some(step.clone()),
            follow: args.follow,
            ..LogParams::default()
        };
        let mut lines = pods
            .log_stream(&name, &lp)
            .await
            .with_context(|| format!("the log of step {step} of pod {name}"))?
            .lines();
        let mut out = std::io::stdout().lock();
        while let Some(line) = lines.try_next().await? {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        drop(out);
        if let Some(p) = pods.get_opt(&name).await? {
            pod = p;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The stored logs: the binhost Service serving the site's binary package volume, reached
/// through the API server's service proxy.
struct Store {
    client: Client,
    /// `/api/v1/namespaces/<ns>/services/<name>:<port>/proxy`.
    base: String,
    /// For messages.
    service: String,
}

impl Store {
    async fn find(
        client: &Client,
        ns: &str,
        image: &GentooImage,
        named: Option<&str>,
    ) -> anyhow::Result<Store> {
        let services: Api<Service> = Api::namespaced(client.clone(), ns);
        let (name, port) =
            match named {
                Some(named) => match named.split_once(':') {
                    Some((n, p)) => (n.to_string(), p.to_string()),
                    None => {
                        let svc = services
                            .get(named)
                            .await
                            .with_context(|| format!("binhost Service {ns}/{named}"))?;
                        (named.to_string(), service_port(&svc))
                    }
                },
                None => {
                    let site = &image.spec.site_ref.name;
                    let site: GentooSite = Api::namespaced(client.clone(), ns)
                        .get(site)
                        .await
                        .with_context(|| format!("GentooSite {ns}/{site}"))?;
                    let claim = claim_name(&site.name_any(), "binpkgs", &site.spec.storage.binpkgs);
                    let lp = ListParams::default().labels("app.kubernetes.io/component=binhost");
                    let list = services
                        .list(&lp)
                        .await
                        .context("listing binhost Services")?;
                    let svc = list
                    .items
                    .into_iter()
                    .find(|s| {
                        s.annotations().get(BINPKGS_CLAIM_ANNOTATION).map(String::as_str)
                            == Some(claim.as_str())
                    })
                    .with_context(|| {
                        format!(
                            "no binhost serves claim {claim} in namespace {ns}: a finished build's \
                             logs are read from the binhost of the site's binary package volume \
                             (chart values binhost.enabled=true, binhost.claimName={claim}), or \
                             name one with --binhost NAME[:PORT]"
                        )
                    })?;
                    (svc.name_any(), service_port(&svc))
                }
            };
        Ok(Store {
            client: client.clone(),
            base: format!("/api/v1/namespaces/{ns}/services/{name}:{port}/proxy"),
            service: format!("{ns}/{name}:{port}"),
        })
    }

    /// GET `path` (below the binhost's root); `None` when it is not there.
    async fn get(&self, path: &str) -> anyhow::Result<Option<String>> {
        let request = http::Request::get(format!("{}{path}", self.base)).body(Vec::new())?;
        match self.client.request_text(request).await {
            Ok(text) => Ok(Some(text)),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
            Err(e) => Err(e).with_context(|| format!("GET {path} from binhost {}", self.service)),
        }
    }
}

fn service_port(svc: &Service) -> String {
    let ports = svc.spec.iter().flat_map(|s| s.ports.iter().flatten());
    let mut ports = ports
        .clone()
        .filter(|p| p.name.as_deref() == Some("http"))
        .chain(ports);
    ports
        .next()
        .map_or_else(|| "http".to_string(), |p| p.port.to_string())
}

async fn from_store(
    store: &Store,
    record: &str,
    build: &str,
    args: &LogsArgs,
) -> anyhow::Result<ExitCode> {
    let dir = format!("/logs/{record}/{build}/");
    let Some(listing) = store.get(&dir).await? else {
        let kept = match store.get(&format!("/logs/{record}/")).await? {
            Some(text) => serde_json::from_str::<Builds>(&text)
                .map(|b| b.builds.into_iter().map(|b| b.name).collect::<Vec<_>>())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        bail!(
            "no stored logs of build {build} (image {record}); builds with stored logs: {}",
            if kept.is_empty() {
                "none".to_string()
            } else {
                kept.join(", ")
            }
        );
    };
    let listing: Listing =
        serde_json::from_str(&listing).context("the binhost's listing of the build's logs")?;
    if args.list {
        for file in &listing.files {
            println!("{:>10}  {}", file.size, file.path);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let files: Vec<String> = match &args.package {
        Some(package) => {
            let files = package_logs(&listing, package);
            if files.is_empty() {
                bail!(
                    "build {build} kept no log of package {package} (it has {} package logs; \
                     --list shows them)",
                    listing
                        .files
                        .iter()
                        .filter(|f| f.path.starts_with("packages/"))
                        .count()
                );
            }
            files
        }
        None => {
            if let Some(step) = &args.step
                && !STORED_STEPS.contains(&step.as_str())
            {
                bail!(
                    "step {step}'s log lives only as long as the build's pod, which is gone; \
                     stored: {} (the build's status names what failed)",
                    STORED_STEPS.join(", ")
                );
            }
            STORED_STEPS
                .iter()
                .filter(|s| args.step.as_deref().is_none_or(|w| w == **s))
                .map(|s| format!("{s}.log"))
                .filter(|f| listing.files.iter().any(|l| &l.path == f))
                .collect()
        }
    };
    let several = files.len() > 1;
    for file in files {
        if several {
            eprintln!("==> {build}: {file} <==");
        }
        let text = store
            .get(&format!("{dir}{file}"))
            .await?
            .unwrap_or_default();
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Pure: the per-package logs of `listing` that `package` names, oldest first. Portage names
/// them `packages/<category>:<pf>:<YYYYMMDD-HHMMSS>.log`; `package` is `cat/pkg`, `pkg`,
/// `cat/pkg-1.2` or `pkg-1.2`.
fn package_logs(listing: &Listing, package: &str) -> Vec<String> {
    let (want_cat, want) = match package.split_once('/') {
        Some((c, p)) => (Some(c), p),
        None => (None, package),
    };
    let mut found: Vec<(&str, &str)> = listing
        .files
        .iter()
        .filter_map(|f| {
            let name = f.path.strip_prefix("packages/")?.strip_suffix(".log")?;
            let (cat, rest) = name.split_once(':')?;
            let (pf, time) = rest.rsplit_once(':')?;
            let (pn, _) = split_pf(pf)?;
            let category_ok = want_cat.is_none_or(|c| c == cat);
            (category_ok && (want == pn || want == pf)).then_some((time, f.path.as_str()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, p)| p.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binhost::logs::LogFile;

    fn listing(paths: &[&str]) -> Listing {
        Listing {
            files: paths
                .iter()
                .map(|p| LogFile {
                    path: p.to_string(),
                    size: 1,
                    modified: 0,
                })
                .collect(),
        }
    }

    #[test]
    fn a_package_is_found_by_name_with_or_without_category_or_version() {
        let l = listing(&[
            "build.log",
            "packages/sys-libs:ncurses-6.4_p20230401:20261206-070929.log",
            "packages/sys-libs:ncurses-6.4_p20230401:20261206-070913.log",
            "packages/app-misc:hello-2.12.1:20261206-070909.log",
            "packages/app-misc:hello-world-1:20261206-070909.log",
            "packages/elog/summary.log",
        ]);
        let both = [
            "packages/sys-libs:ncurses-6.4_p20230401:20261206-070913.log",
            "packages/sys-libs:ncurses-6.4_p20230401:20261206-070929.log",
        ];
        assert_eq!(package_logs(&l, "sys-libs/ncurses"), both, "oldest first");
        assert_eq!(package_logs(&l, "ncurses"), both);
        assert_eq!(package_logs(&l, "sys-libs/ncurses-6.4_p20230401"), both);
        assert_eq!(
            package_logs(&l, "hello"),
            ["packages/app-misc:hello-2.12.1:20261206-070909.log"],
            "hello is not hello-world"
        );
        assert!(package_logs(&l, "dev-libs/ncurses").is_empty());
        assert!(package_logs(&l, "summary").is_empty());
    }

    #[test]
    fn a_build_is_named_or_counted_from_the_newest() {
        let builds = ["web-3", "web-2", "web-1"];
        assert_eq!(pick_build(&builds, None).as_deref(), Ok("web-3"));
        assert_eq!(pick_build(&builds, Some("1")).as_deref(), Ok("web-3"));
        assert_eq!(pick_build(&builds, Some("3")).as_deref(), Ok("web-1"));
        assert_eq!(pick_build(&builds, Some("web-0")).as_deref(), Ok("web-0"));
        for bad in ["0", "4", "99999999999999999999999"] {
            let e = pick_build(&builds, Some(bad)).expect_err(bad);
            assert!(e.starts_with(&format!("no build {bad}")), "{e}");
        }
        assert_eq!(pick_build(&[], None), Err("no build yet".to_string()));
    }
}
