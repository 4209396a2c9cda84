//! zentoo: Gentoo as immutable infrastructure.
//!
//! A git repository of portage configs, buildhooks, package sets and system tuples becomes
//! published OCI images and stage tarballs. This crate holds the pure core (site, plan) and
//! the `zentoo` CLI.

#![forbid(unsafe_code)]

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
