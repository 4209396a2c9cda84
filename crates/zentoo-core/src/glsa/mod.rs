//! Gentoo security advisories (GLSAs).

pub mod version;
