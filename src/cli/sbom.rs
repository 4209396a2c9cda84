//! `zentoo sbom`: the SBOM of a root from its Portage records (what `zentoo publish` attaches
//! to the image), written to stdout or a file.

use crate::publish::sbom::{self, Format};
use anyhow::Context;
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SbomArgs {
    /// The root whose /var/db/pkg is read.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// The document format.
    #[arg(long, value_enum, default_value_t = SbomFormat::Spdx)]
    format: SbomFormat,
    /// What the SBOM names (default: the root directory's name).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Creation time (seconds since the epoch): the same root and time give the same bytes.
    #[arg(
        long,
        env = "SOURCE_DATE_EPOCH",
        value_name = "SECONDS",
        default_value_t = 0
    )]
    source_date_epoch: i64,
    /// Write here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SbomFormat {
    /// SPDX 2.3 JSON.
    Spdx,
    /// CycloneDX 1.6 JSON.
    Cyclonedx,
}

pub fn run(args: SbomArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        SbomFormat::Spdx => Format::Spdx,
        SbomFormat::Cyclonedx => Format::CycloneDx,
    };
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let records = sbom::read_records(&args.rootfs, threads)?;
    let read = started.elapsed();
    let name = args.name.clone().unwrap_or_else(|| {
        args.rootfs
            .file_name()
            .map_or_else(|| "root".into(), |n| n.to_string_lossy().into_owned())
    });
    let subject = sbom::Subject {
        name,
        created: args.source_date_epoch,
    };
    let document = sbom::render(format, &subject, &records);
    match &args.output {
        Some(path) => std::fs::write(path, &document)
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&document)?;
        }
    }
    eprintln!(
        "sbom {}: {} packages, {} files, {} bytes in {:.1} ms (records and digests {:.1} ms)",
        format.name(),
        records.len(),
        records.iter().map(|r| r.files.len()).sum::<usize>(),
        document.len(),
        started.elapsed().as_secs_f64() * 1e3,
        read.as_secs_f64() * 1e3,
    );
    Ok(ExitCode::SUCCESS)
}
