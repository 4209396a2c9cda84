//! zentoo: Gentoo as immutable infrastructure.
//!
//! A git repository of portage configs, buildhooks, package sets and system tuples becomes
//! published OCI images and stage tarballs. This crate holds the pure core (site, plan) and
//! the `zentoo` CLI.

#![forbid(unsafe_code)]

/// The zentoo image of this version: what the chart deploys (`image.repository` and the
/// chart's `appVersion`), what runs the materialize and publish steps of builds, and what
/// `scripts/build-image.sh` builds by default.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/zentoo/zentoo:", env!("CARGO_PKG_VERSION"));

pub mod api;
pub mod binhost;
pub mod cli;
pub mod controller;
pub mod gc;
pub mod plan;
pub mod publish;
pub mod render;
pub mod runner;
pub mod site;
pub mod steps;
