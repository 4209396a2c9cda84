//! Test fixtures for the pure planning code: sites made in memory.

use super::build::{BuildSettings, ImageTarget, push_reference};
use super::{ImagePlan, PlanOptions, plan_site};
use crate::site::snapshot::{Prefixes, SiteSnapshot, TextFile};

fn text(path: &str, id: &str, text: &str) -> TextFile {
    TextFile {
        path: path.into(),
        id: id.into(),
        text: Ok(text.into()),
    }
}

/// The image of the one tuple in `tuples`, planned from a site made in memory with cpus `zen`
/// (amd64) and `rpi` (arm64), portage `server`, buildhooks `nodocs` and set `web`.
pub fn image_plan(tuples: &str) -> ImagePlan {
    let plan = plan_site(&snapshot(tuples), &PlanOptions::default());
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    plan.images.into_iter().next().expect("one image")
}

/// The in-memory site of [`image_plan`] with `tuples` as its tuples file.
pub fn snapshot(tuples: &str) -> SiteSnapshot {
    SiteSnapshot {
        revision: "c0ffee".into(),
        tracked_ref: "refs/heads/main".into(),
        tuples: text("tuples", "t", tuples),
        cpus: Some(text(
            "cpus.yaml",
            "c",
            "zen:\n  arch: amd64\n  cflags: -O2 -march=znver3\n  cpu_flags: {X86: aes avx}\nrpi:\n  arch: arm64\n",
        )),
        sets: [(
            "web".to_string(),
            text("sets/web", "b-web", "www-servers/nginx\n"),
        )]
        .into(),
        portage: [("server".to_string(), "tree-server".to_string())].into(),
        buildhooks: [("nodocs".to_string(), "tree-hooks".to_string())].into(),
        prefixes: Prefixes::default(),
    }
}

/// Build settings for tests.
pub fn settings() -> BuildSettings {
    BuildSettings {
        zentoo_image: "localhost/zentoo:dev".into(),
        image: Some(ImageTarget::Push(push_reference(
            "registry.example/zentoo/",
            "web",
        ))),
        tarball_dir: Some("/out".into()),
        ..BuildSettings::new("https://git.example/site.git", 1_700_000_000, 4)
    }
}
