//! zentoo's pure core: the site repository (portage trees, buildhooks, sets, tuples) read
//! from git, and the build plan made from it. No Kubernetes, no container engine, no network:
//! the backends (`zentoo-runner`, `zentoo-controller`) execute what this crate plans.

#![forbid(unsafe_code)]

/// The zentoo image of this version: what the chart deploys (`image.repository` and the
/// chart's `appVersion`), what runs the materialize and publish steps of builds, and what
/// `scripts/build-image.sh` builds by default.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/zentoo/zentoo:", env!("CARGO_PKG_VERSION"));

pub mod diff;
pub mod glsa;
pub mod plan;
pub mod site;
pub mod steps;
