//! What builds write into the binary package volume for gc (by `crates/zentoo-core/src/steps/records.sh`): a
//! lease while a build runs, a record when it ends.

use serde::{Deserialize, Serialize};

/// A binary package a build named: the instance and its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinpkgRef {
    /// `category/package-version`.
    pub cpv: String,
    /// BUILD_ID (multi-instance layout), if any.
    #[serde(default)]
    pub build_id: Option<u64>,
    /// File path relative to the PKGDIR.
    pub path: String,
    /// Why the build named it: `resolved` (lease), `used`, `produced`, `assemble`.
    #[serde(default)]
    pub role: String,
}

/// How a build ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    /// The build step's emerge succeeded.
    Built,
    /// It failed (what it used and made is still recorded).
    Failed,
}

/// `.zentoo/builds/<image>/<build>.json`: what one build used, made and will assemble.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageRecord {
    /// Format version (1).
    pub version: u32,
    /// The image (tuple) built.
    pub image: String,
    /// The build's id (unique per build).
    pub build: String,
    /// How the build step ended.
    pub status: BuildStatus,
    /// The PKGDIR, relative to the volume.
    pub pkgdir: String,
    /// When its lease was taken (seconds since the epoch).
    pub started: i64,
    /// When the record was written.
    pub finished: i64,
    /// Binary packages used, produced, and to be installed by the assemble step.
    pub binpkgs: Vec<BinpkgRef>,
    /// Distfiles the build fetched or that belong to a package it merged (names in DISTDIR).
    #[serde(default)]
    pub distfiles: Vec<String>,
}

/// `.zentoo/leases/<build>.json`: a running build and the binary packages its emerge resolved to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// Format version (1).
    pub version: u32,
    /// The image being built.
    pub image: String,
    /// The build's id.
    pub build: String,
    /// The PKGDIR, relative to the volume.
    pub pkgdir: String,
    /// When it was taken (seconds since the epoch).
    pub started: i64,
    /// The binary packages the build's emerge will take.
    pub binpkgs: Vec<BinpkgRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_written_by_the_build_step_parses() {
        let text = r#"{"version":1,"image":"base-none-base","build":"b1","status":"built","pkgdir":"x86_64-pc-linux-gnu/204a6c5b96ec5bf3","started":1795550059,"finished":1795550062,"binpkgs":[{"cpv":"app-editors/nano-7.2","buildId":1,"path":"app-editors/nano/nano-7.2-1.gpkg.tar","role":"produced"},{"cpv":"app-misc/hello-2.12.1","buildId":null,"path":"app-misc/hello-2.12.1.gpkg.tar","role":"used"}],"distfiles":["nano-7.2.tar.xz"]}"#;
        let record: UsageRecord = serde_json::from_str(text).expect("parse");
        assert_eq!(record.status, BuildStatus::Built);
        assert_eq!(record.binpkgs[0].build_id, Some(1));
        assert_eq!(record.binpkgs[1].build_id, None);
        assert_eq!(record.distfiles, ["nano-7.2.tar.xz"]);
    }
}
