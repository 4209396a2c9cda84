//! zentoo: Gentoo as immutable infrastructure.
//!
//! A git repository of portage configs, buildhooks, package sets and system tuples becomes
//! published OCI images and stage tarballs. This crate holds the pure core (site, plan) and
//! the `zentoo` CLI.

#![forbid(unsafe_code)]

pub use zentoo_core::DEFAULT_IMAGE;

pub use zentoo_api as api;
pub use zentoo_binpkgs::binhost;
pub mod cli;
pub use zentoo_binpkgs::gc;
pub use zentoo_controller as controller;
pub use zentoo_controller::render;
pub use zentoo_core::plan;
pub use zentoo_core::site;
pub use zentoo_core::steps;
pub use zentoo_publish as publish;
pub use zentoo_runner as runner;
