//! `zentoo plan`: what a site defines, and what changed since an earlier plan.

use crate::plan::{PlanOptions, SitePlan, parse_earlier, plan_site};
use crate::site::SiteRepo;
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    site: super::SiteArgs,
    /// An earlier `--output json` plan: mark only what changed since.
    #[arg(long, value_name = "PLAN.json")]
    against: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(flatten)]
    limits: super::LimitArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

pub fn run(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let read = args.site.read_options()?;
    let earlier = match &args.against {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--against {}", path.display()))?;
            Some(
                parse_earlier(&text)
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("--against {}", path.display()))?,
            )
        }
        None => None,
    };
    let repo = SiteRepo::open(&args.site.site)?;
    let snapshot = repo.snapshot(&read)?;
    let options = PlanOptions {
        limits: args.limits.limits(),
        ..PlanOptions::default()
    };
    let mut plan = plan_site(&snapshot, &options);
    if let Some(earlier) = &earlier {
        plan.compare_with(earlier);
    }
    // Written as it is encoded: the atoms of a set shared by many images are repeated in the
    // text, never in memory.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &plan)?;
            writeln!(out)?;
        }
        Output::Table => write!(out, "{}", table(&plan))?,
    }
    out.flush()?;
    Ok(if plan.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The plan as a table a person reads, errors under it.
fn table(plan: &SitePlan) -> String {
    let short = &plan.revision[..plan.revision.len().min(12)];
    let mut out = format!("site {short} ({})\n", plan.tracked_ref);
    let mut rows = vec![
        [
            "NAME",
            "CPU",
            "ARCH",
            "PORTAGE",
            "BUILDHOOKS",
            "SET",
            "INPUTS",
            "CHANGED",
        ]
        .map(String::from),
    ];
    for i in &plan.images {
        let digest = i.inputs_digest.trim_start_matches("sha256:");
        let changed = match (i.changed, i.reasons.is_empty()) {
            (false, _) => "no".to_string(),
            (true, true) => "yes".to_string(),
            (true, false) => format!("yes: {}", i.reasons.join("; ")),
        };
        rows.push([
            i.name.clone(),
            i.cpu.clone(),
            i.arch.clone(),
            i.portage.clone(),
            i.buildhooks.clone().unwrap_or_else(|| "-".into()),
            i.set.clone(),
            digest[..digest.len().min(12)].to_string(),
            changed,
        ]);
    }
    out.push_str(&super::columns(&rows));
    let changed = plan.images.iter().filter(|i| i.changed).count();
    out.push_str(&format!(
        "\n{} image{}, {changed} to build",
        plan.images.len(),
        if plan.images.len() == 1 { "" } else { "s" }
    ));
    if !plan.removed.is_empty() {
        out.push_str(&format!(", removed: {}", plan.removed.join(", ")));
    }
    out.push('\n');
    if !plan.errors.is_empty() {
        out.push_str(&format!(
            "\n{} error{}:\n",
            plan.errors.len(),
            if plan.errors.len() == 1 { "" } else { "s" }
        ));
        for e in &plan.errors {
            out.push_str(&format!("  {e}\n"));
        }
    }
    out
}
