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
  zentoo diff IMAGE BUILD BUILD   two of its builds: names, or numbers (1: the newest published)
  zentoo diff --tuple TUPLE     a tuple's last two local builds (`zentoo build --out DIR`)")]
pub struct DiffArgs {
    /// FROM TO (an SBOM file, SPDX or CycloneDX JSON as zentoo writes them, or an image
    /// reference whose attached SBOM is read), or a GentooImage and optionally two of its builds.
    #[arg(value_name = "BUILDS", num_args = 1..=3, required_unless_present = "tuple")]
    what: Vec<String>,
    /// Compare the last two local builds of this tuple: the SBOMs beside their stage tarballs
    /// in `--out`.
    #[arg(long, value_name = "TUPLE", conflicts_with = "what")]
    tuple: Option<String>,
    /// The output directory of `zentoo build` that `--tuple` reads.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "zentoo-out",
        requires = "tuple"
    )]
    out: std::path::PathBuf,
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
    let (from, to) = match (&args.tuple, &args.what[..]) {
        (Some(tuple), _) => local_builds(&args.out, tuple)?,
        (None, [from, to]) => (from.clone(), to.clone()),
        (None, [image, builds @ ..]) => cluster_builds(&args, image, builds)?,
        (None, []) => anyhow::bail!("nothing to compare"),
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

/// The SBOMs of the last two local builds of `tuple` in `out` (beside their stage tarballs).
fn local_builds(out: &Path, tuple: &str) -> anyhow::Result<(String, String)> {
    let stages = out.join("stages");
    let names: Vec<String> = std::fs::read_dir(&stages)
        .with_context(|| format!("{}: no local builds", stages.display()))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    match &local_sboms(&names, tuple)[..] {
        [.., older, newer] => Ok((
            stages.join(older).display().to_string(),
            stages.join(newer).display().to_string(),
        )),
        found => anyhow::bail!(
            "{}: {} SBOMs of builds of {tuple} (stage3-{tuple}-<time>.tar.xz.spdx.json): two are              needed",
            stages.display(),
            found.len()
        ),
    }
}

/// Pure: the SBOMs of `tuple`'s stage tarballs among `names` (`stage3-<tuple>-<YYYYMMDDTHHMMSSZ>
/// .tar.xz.spdx.json` or `.cdx.json`), oldest first.
fn local_sboms(names: &[String], tuple: &str) -> Vec<String> {
    let prefix = format!("stage3-{tuple}-");
    let mut found: Vec<&String> = names
        .iter()
        .filter(|n| {
            let Some(rest) = n.strip_prefix(&prefix) else {
                return false;
            };
            let Some(stamp) = [".tar.xz.spdx.json", ".tar.xz.cdx.json"]
                .iter()
                .find_map(|suffix| rest.strip_suffix(suffix))
            else {
                return false;
            };
            stamp.len() == 16
                && stamp.bytes().enumerate().all(|(i, b)| match i {
                    8 => b == b'T',
                    15 => b == b'Z',
                    _ => b.is_ascii_digit(),
                })
        })
        .collect();
    found.sort();
    found.into_iter().cloned().collect()
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
    fn a_tuples_sboms_are_its_own_oldest_first() {
        let names: Vec<String> = [
            "stage3-base-none-web-20261206T080000Z.tar.xz.spdx.json",
            "stage3-base-none-web-20261206T070000Z.tar.xz.spdx.json",
            "stage3-base-none-web-20261206T070000Z.tar.xz",
            "stage3-base-none-web-x-20261206T090000Z.tar.xz.spdx.json",
            "stage3-base-none-web-20261206T090000Z.tar.xz.cdx.json",
            "stage3-base-none-web-2026120T0900000Z.tar.xz.spdx.json",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            local_sboms(&names, "base-none-web"),
            [
                "stage3-base-none-web-20261206T070000Z.tar.xz.spdx.json",
                "stage3-base-none-web-20261206T080000Z.tar.xz.spdx.json",
                "stage3-base-none-web-20261206T090000Z.tar.xz.cdx.json",
            ]
        );
        assert!(local_sboms(&names, "base-none").is_empty());
    }

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
