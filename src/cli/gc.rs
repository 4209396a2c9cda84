//! `zentoo gc`: remove binary packages no image's last N builds used and distfiles no current
//! build needs, never what a running build may use (see `crates/zentoo-binpkgs/src/gc`).

use super::binhost::VolumeArgs;
use crate::api::duration::parse as parse_duration;
use crate::gc::decide::{GcPlan, Policy, plan_gc};
use crate::gc::store::{self, Applied};
use crate::plan::build::Volume;
use crate::plan::{PlanOptions, plan_site};
use crate::site::SiteRepo;
use clap::{Args, ValueEnum};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    site: super::SiteArgs,
    /// The binary package volume as a directory (default: the site's named volume).
    #[arg(long, value_name = "DIR")]
    binpkgs: Option<PathBuf>,
    /// The distfiles volume as a directory (default: the site's named volume, unless
    /// --binpkgs is given; then distfiles are left alone unless this is given too).
    #[arg(long, value_name = "DIR")]
    distfiles: Option<PathBuf>,
    /// Engine API address, to find a site's named volumes.
    #[arg(long)]
    engine: Option<String>,
    /// Builds kept per image (the newest successful one is always kept).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    keep: u32,
    /// Only list what would be removed and the bytes it would free.
    #[arg(long)]
    dry_run: bool,
    /// The images that exist; records of others are dropped (default: the site's tuples, or,
    /// with --binpkgs, every image with a record).
    #[arg(long = "image", value_name = "NAME")]
    images: Vec<String>,
    /// How long a running build's lease protects what it uses.
    #[arg(long, default_value = "48h", value_parser = parse_secs)]
    lease_ttl: i64,
    /// Files younger than this are never removed.
    #[arg(long, default_value = "1h", value_parser = parse_secs)]
    grace: i64,
    /// How far a build's clock may be off gc's: files made this long before a running build
    /// started are kept as if it had made them.
    #[arg(long, default_value = "5m", value_parser = parse_secs)]
    clock_skew: i64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

fn parse_secs(text: &str) -> Result<i64, String> {
    parse_duration(text)
        .map(|d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .ok_or_else(|| format!("not a duration like 48h, 30m or 90s: {text}"))
}

pub fn run(args: GcArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let volumes = VolumeArgs {
        dir: None,
        engine: args.engine.clone(),
    };
    let site_mode = args.binpkgs.is_none();
    let (binpkgs, distfiles) = runtime.block_on(async {
        let binpkgs = volumes
            .resolve(args.binpkgs.as_deref(), &args.site.site, Volume::Binpkgs)
            .await?;
        let distfiles = match (&args.distfiles, site_mode) {
            (Some(dir), _) => Some(
                volumes
                    .resolve(Some(dir), &args.site.site, Volume::Distfiles)
                    .await?,
            ),
            (None, true) => Some(
                volumes
                    .resolve(None, &args.site.site, Volume::Distfiles)
                    .await?,
            ),
            (None, false) => None,
        };
        anyhow::Ok((binpkgs, distfiles))
    })?;
    let images = if !args.images.is_empty() {
        Some(args.images.iter().cloned().collect())
    } else if site_mode {
        Some(site_images(&args.site)?)
    } else {
        None
    };
    let policy = Policy {
        keep: args.keep as usize,
        now: store::epoch(std::time::SystemTime::now()),
        lease_ttl: args.lease_ttl,
        grace: args.grace,
        clock_skew: args.clock_skew,
        images,
    };

    // A real run holds the gc lock from reading to removing: no lease can appear meanwhile.
    let lock = if args.dry_run {
        None
    } else {
        Some(store::lock_gc(&binpkgs)?)
    };
    let records = store::read_records(&binpkgs)?;
    let leases = store::read_leases(&binpkgs)?;
    let named: BTreeSet<String> = records
        .iter()
        .map(|(_, r)| r.pkgdir.clone())
        .chain(leases.iter().map(|(_, l)| l.pkgdir.clone()))
        .filter(|p| !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == ".."))
        .collect();
    let listing = store::list(&binpkgs, distfiles.as_deref(), &named)?;
    let plan = plan_gc(&records, &leases, &listing, &policy);
    let applied = match &lock {
        Some(_) => Some(store::apply(
            &binpkgs,
            distfiles.as_deref(),
            &plan,
            policy.now,
        )?),
        None => None,
    };
    drop(lock);
    match args.output {
        Output::Json => {
            let value = serde_json::json!({
                "dryRun": args.dry_run,
                "binpkgsDir": binpkgs,
                "distfilesDir": distfiles,
                "bytes": plan.bytes(),
                "plan": plan,
                "applied": applied,
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Output::Table => print!("{}", table(&plan, applied.as_ref(), args.dry_run)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The names of the site's tuples, good or not (a tuple with an error keeps its records).
fn site_images(site: &super::SiteArgs) -> anyhow::Result<BTreeSet<String>> {
    let repo = SiteRepo::open(&site.site)?;
    let snapshot = repo.snapshot(&site.read_options()?)?;
    let plan = plan_site(&snapshot, &PlanOptions::default());
    Ok(plan
        .images
        .iter()
        .map(|i| i.name.clone())
        .chain(plan.errors.iter().filter_map(|e| e.tuple.clone()))
        .collect())
}

/// Bytes as people read them (1024-based).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn table(plan: &GcPlan, applied: Option<&Applied>, dry_run: bool) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    for r in &plan.binpkgs {
        let path = format!("{}/{}", r.pkgdir.as_deref().unwrap_or(""), r.path);
        rows.push(["binpkg".into(), path, human(r.size), reason(r.reason)]);
    }
    for r in &plan.distfiles {
        rows.push([
            "distfile".into(),
            r.path.clone(),
            human(r.size),
            reason(r.reason),
        ]);
    }
    for id in &plan.records {
        rows.push([
            "record".into(),
            id.clone(),
            String::new(),
            "older build".into(),
        ]);
    }
    for id in &plan.stale_leases {
        rows.push(["lease".into(), id.clone(), String::new(), "stale".into()]);
    }
    for image in &plan.logs {
        rows.push([
            "logs".into(),
            format!("{}/{image}/", crate::plan::build::LOGS_DIR),
            String::new(),
            "image gone".into(),
        ]);
    }
    let mut out = super::columns(&rows);
    for note in &plan.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    for build in &plan.running {
        out.push_str(&format!("running: {build} (what it uses is kept)\n"));
    }
    for dir in &plan.unmanaged {
        out.push_str(&format!("left alone: {dir} (no build recorded there)\n"));
    }
    let summary = format!(
        "{} binary packages, {} distfiles ({}); {} build records dropped, {} kept",
        plan.binpkgs.len(),
        plan.distfiles.len(),
        human(plan.bytes()),
        plan.records.len(),
        plan.kept_records
    );
    match applied {
        Some(a) if !dry_run => out.push_str(&format!(
            "removed {summary}; freed {}, {} index entries dropped\n",
            human(a.bytes),
            a.index_entries
        )),
        _ => out.push_str(&format!("would remove {summary} (dry run)\n")),
    }
    out
}

fn reason(r: crate::gc::decide::Reason) -> String {
    use crate::gc::decide::Reason;
    match r {
        Reason::Unreferenced => "unreferenced",
        Reason::NotIndexed => "not indexed",
        Reason::NotNeeded => "not needed",
    }
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(5 * 1024), "5.0 KiB");
        assert_eq!(human(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
    }
}
