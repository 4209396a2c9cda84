//! Publishing: a target root directory in, artifacts out — a reproducible OCI image (in an OCI
//! layout, loaded into an engine, pushed to a registry, gathered into a multi-arch index) and
//! a Gentoo stage tarball with its `.DIGESTS` and `.CONTENTS.gz`.
//!
//! The pieces: [`walk`] (sorted walk), [`tar`] (one tar writer), [`compress`], [`oci`]
//! ([`oci::build_image`]), [`layout`] (OCI layout dir), [`stage`] (stage tarball).

pub mod auth;
pub mod compress;
pub mod contents;
pub mod engine;
pub mod error;
pub mod index;
pub mod layout;
pub mod oci;
pub mod registry;
pub mod result;
pub mod spec;
pub mod stage;
pub mod tar;
pub mod time;
pub mod walk;

pub use compress::Compression;
pub use error::{Error, Result};
pub use layout::Layout;
pub use oci::{BuiltImage, ImageOptions, build_image, build_image_with};
pub use result::PublishResult;
pub use stage::{StageOptions, StageTarball, write_stage, write_stage_with};
