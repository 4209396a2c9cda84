//! Publishing: a target root directory in, artifacts out — a reproducible OCI image (in an OCI
//! layout, loaded into an engine, pushed to a registry, gathered into a multi-arch index) and
//! a Gentoo stage tarball with its `.DIGESTS` and `.CONTENTS.gz`.
//!
//! - [`walk`]: sorted walk of the root, hard links by (device, inode), xattrs.
//! - [`tar`]: the one tar writer (layers and stage tarballs), PAX records, numeric owners.
//! - [`compress`]: gzip / zstd / xz and the hashing writer.
//! - [`oci`]: [`build_image`] → layer, config, manifest in a [`Layout`].
//! - [`stage`]: [`write_stage`] → `stage3-<tuple>-<stamp>.tar.xz` + `.CONTENTS.gz` + `.DIGESTS`.
//! - [`kernel`]: [`kernel::write_kernel`] → `kernel-<tuple>-<version>.tar.xz` of `/boot` and
//!   `/lib/modules`, with the same companions.
//! - [`libcheck`]: [`libcheck::check_libraries`] → the ELF files whose libraries do not resolve.
//! - [`registry`]: push a layout's image; [`index`]: multi-arch index; [`engine`]: load.
//! - [`result`]: the [`BuildResult`] written as a termination message.
//!
//! Everything is reproducible: the same root content and `SOURCE_DATE_EPOCH` give the same
//! bytes, whatever the on-disk mtimes (later than the epoch) or creation order.

#![forbid(unsafe_code)]

pub mod attach;
pub mod audit;
pub mod auth;
pub mod compress;
pub mod contents;
pub mod engine;
pub mod error;
pub mod index;
pub mod kernel;
pub mod layers;
pub mod layout;
pub mod libcheck;
pub mod oci;
pub mod openpgp;
pub mod pipe;
pub mod pipeline;
pub mod referrers;
pub mod registry;
pub mod result;
pub mod sbom;
pub mod sign;
pub mod spec;
pub mod stage;
pub mod tar;
pub mod time;
pub mod vdb;
pub mod walk;

pub use compress::Compression;
pub use error::{Error, Result};
pub use layout::Layout;
pub use oci::{BuiltImage, BuiltLayer, ImageOptions, LayerMode, build_image, build_image_with};
pub use registry::{Registry, RegistryConfig, UploadMode};
pub use stage::{StageOptions, StageTarball, write_stage, write_stage_with};
pub use zentoo_core::plan::result::{BuildResult, KernelResult};
