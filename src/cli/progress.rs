//! Progress of long work: a bar on a terminal, a summary line otherwise.

use crate::publish::tar::Archived;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A progress bar on a terminal, a summary line otherwise.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
}

impl Progress {
    pub(crate) fn new(what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix} {binary_bytes} ({binary_bytes_per_sec}) {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
        }
    }

    pub(crate) fn entry(&self, a: &Archived<'_>) {
        if let Some(bar) = &self.bar {
            bar.inc(a.size + 512);
        }
    }

    pub(crate) fn done(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!("{message} in {:.1}s", self.start.elapsed().as_secs_f64());
    }
}
