//! `zentoo diff FROM TO`: the packages two builds differ in — added, removed, upgraded,
//! downgraded, USE changed — as `gbp diff` shows them, from each build's SBOM (a file, or the
//! SBOM attached to an image in a registry).

use super::publish::RegistryArgs;
use crate::api::GentooImage;
use crate::publish::audit::packages_in_sbom;
use anyhow::Context as _;
use clap::{Args, ValueEnum};
use std::path::Path;
use std::process::ExitCode;
use zentoo_core::diff::{Package, diff};

#[derive(Debug, Args)]
#[command(after_help = "\
Forms:
  zentoo diff FROM TO           two builds: SBOM files or image references
  zentoo diff IMAGE             a GentooImage's last two published builds (the cluster)
  zentoo diff IMAGE BUILD BUILD   two of its builds: names, or numbers (1: the newest published)")]
pub struct DiffArgs {
    /// FROM TO (an SBOM file, SPDX or CycloneDX JSON as zentoo writes them, or an image
    /// reference whose attached SBOM is read), or a GentooImage and optionally two of its builds.
    #[arg(value_name = "BUILDS", num_args = 1..=3, required = true)]
    what: Vec<String>,
    /// The GentooImage's namespace (default: the kubeconfig's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// For an image index, which architecture's image (OCI name: amd64, arm64).
    #[arg(long, value_name = "ARCH", default_value = "amd64")]
    arch: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(flatten)]
    registry: RegistryArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// One line per change: `+` added, `-` removed, `U` upgraded, `D` downgraded, `*` USE.
    Table,
    /// The changes as JSON (`added`, `removed`, `upgraded`, `downgraded`, `use`).
    Json,
}

pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = match &args.what[..] {
        [from, to] => (from.clone(), to.clone()),
        [image, builds @ ..] => cluster_builds(&args, image, builds)?,
        [] => anyhow::bail!("nothing to compare"),
    };
    let old = packages(&args, &from)?;
    let new = packages(&args, &to)?;
    let changes = diff(&old, &new);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&changes)?),
        Output::Table if changes.is_empty() => {
            println!("no package changed ({} packages)", new.len())
        }
        Output::Table => {
            for line in changes.lines() {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The packages of the build `what` names: an SBOM file when one is there, else an image.
fn packages(args: &DiffArgs, what: &str) -> anyhow::Result<Vec<Package>> {
    let path = Path::new(what);
    if path.is_file() {
        let bytes = std::fs::read(path).with_context(|| format!("reading {what}"))?;
        return packages_in_sbom(&bytes)
            .map_err(anyhow::Error::msg)
            .with_context(|| what.to_string());
    }
    let (digest, document) = super::audit::attached_sbom(&args.registry, what, &args.arch)
        .with_context(|| format!("{what} is no SBOM file; reading it as an image"))?;
    eprintln!("{what}: the SBOM of {digest}");
    packages_in_sbom(&document)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("the SBOM of {what}"))
}

/// The images of two builds of GentooImage `image`: `builds` names them (names or numbers, 1
/// being the newest published), else its last two published builds.
fn cluster_builds(
    args: &DiffArgs,
    image: &str,
    builds: &[String],
) -> anyhow::Result<(String, String)> {
    let runtime = tokio::runtime::Runtime::new()?;
    let found: GentooImage = runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG)")?;
        let ns = args
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        kube::Api::<GentooImage>::namespaced(client, &ns)
            .get(image)
            .await
            .with_context(|| format!("GentooImage {ns}/{image}"))
    })?;
    let status = found.status.unwrap_or_default();
    let published = status.published();
    pick_pair(&published, builds).map_err(|e| anyhow::anyhow!("image {image}: {e}"))
}

/// Pure: the (older, newer) references of the two builds `builds` names among `published`
/// (newest first), else of its two newest.
fn pick_pair(published: &[(&str, String)], builds: &[String]) -> Result<(String, String), String> {
    let find = |wanted: &str| -> Result<String, String> {
        let by_number = wanted
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| published.get(i));
        by_number
            .or_else(|| published.iter().find(|(name, _)| *name == wanted))
            .map(|(_, reference)| reference.clone())
            .ok_or_else(|| {
                format!(
                    "no published build {wanted} (published: {})",
                    if published.is_empty() {
                        "none".to_string()
                    } else {
                        published
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )
            })
    };
    match builds {
        [a, b] => Ok((find(a)?, find(b)?)),
        [] => match published {
            [(_, newer), (_, older), ..] => Ok((older.clone(), newer.clone())),
            _ => Err(format!(
                "{} published builds in its history: nothing to compare",
                published.len()
            )),
        },
        _ => Err("name two builds, or none".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_builds_are_named_counted_or_the_last_two() {
        let published = [
            ("web-3", "r/web@sha256:3".to_string()),
            ("web-1", "r/web@sha256:1".to_string()),
        ];
        let pair = |b: &[&str]| {
            pick_pair(
                &published,
                &b.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )
        };
        let last_two = Ok(("r/web@sha256:1".to_string(), "r/web@sha256:3".to_string()));
        assert_eq!(pair(&[]), last_two);
        assert_eq!(pair(&["web-1", "web-3"]), last_two);
        assert_eq!(pair(&["2", "1"]), last_two);
        let e = pair(&["web-2", "1"]).expect_err("web-2 did not publish");
        assert_eq!(e, "no published build web-2 (published: web-3, web-1)");
        assert!(pick_pair(&published[..1], &[]).is_err());
    }
}
