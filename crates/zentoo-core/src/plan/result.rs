//! What a build produced, as the steps write it: the build step its counts (JSON, from
//! Portage's records), the publish step the whole [`BuildResult`] (JSON). Both backends read
//! these records back; no result is ever scraped from a log line. Pure.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The kubelet reads at most this many bytes of a termination message.
pub const TERMINATION_MESSAGE_MAX: usize = 4096;

/// The outcome of one build: what the publish step wrote, with the build step's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildResult {
    /// The image reference pushed or loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Its manifest digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Where the stage tarball went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball: Option<String>,
    /// Its `sha256:` digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarball_digest: Option<String>,
    /// The kernel published beside the image, if the root has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<KernelResult>,
    /// Packages the build step compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<u32>,
    /// Packages the build step took from binary packages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binpkg_hits: Option<u32>,
    /// Layers of the pushed image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u32>,
    /// Layers the push uploaded (the registry had the others).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers_uploaded: Option<u32>,
    /// Bytes the push uploaded (layers, config, manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_uploaded: Option<u64>,
    /// The SBOM attached to the image: `<repo>@<digest>` of its referrer when pushed, else the
    /// referrer's digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbom: Option<String>,
    /// The provenance attached to the image, as [`BuildResult::sbom`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<String>,
    /// The key that signed the image and its attestations (`sha256:` of its public key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    /// The GLSA audit of the image against its repo snapshot's advisories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glsa: Option<GlsaResult>,
}

/// A GLSA audit, as a build reports it: which advisories of the repo snapshot affect which
/// installed packages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GlsaResult {
    /// Advisories read.
    pub advisories: u32,
    /// Affected packages, one per advisory and package.
    #[serde(default)]
    pub affected: Vec<GlsaHit>,
    /// Affected packages left out of `affected` to keep the result short.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: u32,
}

/// Why an image is built at a newer repo snapshot than its pin: a followed snapshot's
/// advisories affected its last build.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityUpdate {
    /// The snapshot the image is pinned to (the update holds while this pin does).
    pub pinned: String,
    /// The followed snapshot it is built at.
    pub snapshot: String,
    /// The advisories of `snapshot` that affected the build it replaces.
    pub fixes: GlsaResult,
}

impl SecurityUpdate {
    /// One line: which advisories, which snapshot, which pin.
    pub fn summary(&self) -> String {
        format!(
            "security update to snapshot {} (pinned {}): GLSA {}",
            self.snapshot,
            self.pinned,
            self.fixes.summary()
        )
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One installed package an advisory affects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GlsaHit {
    /// The advisory (`202610-01`).
    pub id: String,
    /// Its severity (`high`, `normal`, `low`, `minimal`).
    pub severity: String,
    /// The package: `category/name-version`.
    pub package: String,
}

impl GlsaResult {
    /// The affecting advisories' ids, each once, in order.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = Vec::new();
        for hit in &self.affected {
            if !ids.contains(&hit.id.as_str()) {
                ids.push(&hit.id);
            }
        }
        ids
    }

    /// `202610-01 (high: app-misc/hello-2.10), ...`, with how many more were left out.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for id in self.ids() {
            let hits: Vec<&GlsaHit> = self.affected.iter().filter(|h| h.id == id).collect();
            let packages: Vec<&str> = hits.iter().map(|h| h.package.as_str()).collect();
            let severity = hits.first().map_or("", |h| h.severity.as_str());
            parts.push(format!("{id} ({severity}: {})", packages.join(", ")));
        }
        if self.omitted > 0 {
            parts.push(format!("{} more", self.omitted));
        }
        parts.join(", ")
    }
}

/// The kernel artifact of a build.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KernelResult {
    /// Where `kernel-<tuple>-<version>.tar.xz` went (a path or an OCI reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<String>,
    /// The kernel release.
    pub version: String,
    /// `sha256:` digest of the tarball.
    pub digest: String,
}

/// What the build step writes to `ZENTOO_RESULT_FILE` (`crates/zentoo-core/src/steps/build.sh`): its counts, from
/// Portage's records. The step runs site code (hooks), so this is only ever read as numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildCounts {
    /// Packages compiled.
    pub compiled: Option<u32>,
    /// Packages taken from binary packages.
    pub binpkg_hits: Option<u32>,
}

/// Why a step's result could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// Longer than a termination message can be.
    #[error("the {step} result is {len} bytes; at most {TERMINATION_MESSAGE_MAX} are read")]
    TooLong {
        /// The step that wrote it.
        step: &'static str,
        /// Its length.
        len: usize,
    },
    /// Not the JSON the step writes.
    #[error("the {step} result is not the expected JSON: {source}")]
    Json {
        /// The step that wrote it.
        step: &'static str,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

fn parse<T: serde::de::DeserializeOwned>(step: &'static str, text: &str) -> Result<T, ResultError> {
    if text.len() > TERMINATION_MESSAGE_MAX {
        return Err(ResultError::TooLong {
            step,
            len: text.len(),
        });
    }
    serde_json::from_str(text.trim()).map_err(|source| ResultError::Json { step, source })
}

impl BuildCounts {
    /// Parses what the build step wrote (at most [`TERMINATION_MESSAGE_MAX`] bytes).
    pub fn parse(text: &str) -> Result<BuildCounts, ResultError> {
        parse("build", text)
    }
}

impl BuildResult {
    /// Parses what the publish step wrote (at most [`TERMINATION_MESSAGE_MAX`] bytes).
    pub fn parse(text: &str) -> Result<BuildResult, ResultError> {
        parse("publish", text)
    }

    /// This result with the build step's counts (they win over any the publish step wrote).
    pub fn with_counts(mut self, counts: BuildCounts) -> BuildResult {
        self.compiled = counts.compiled.or(self.compiled);
        self.binpkg_hits = counts.binpkg_hits.or(self.binpkg_hits);
        self
    }

    /// One line of JSON, at most [`TERMINATION_MESSAGE_MAX`] bytes: the SBOM and provenance
    /// references are shortened to their digests, then an over-long tarball path to its file
    /// name, then over-long references are dropped (digests stay).
    pub fn termination_message(&self) -> String {
        let mut r = self.clone();
        let json = |r: &BuildResult| serde_json::to_string(r).unwrap_or_default();
        let file_name = |p: &str| {
            Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        };
        if json(&r).len() > TERMINATION_MESSAGE_MAX {
            // `<repo>@<digest>` → the digest: the repository is the image's.
            for attached in [&mut r.sbom, &mut r.provenance].into_iter().flatten() {
                if let Some((_, digest)) = attached.rsplit_once('@') {
                    *attached = digest.to_string();
                }
            }
        }
        if json(&r).len() > TERMINATION_MESSAGE_MAX
            && let Some(t) = &r.tarball
        {
            r.tarball = file_name(t);
        }
        if json(&r).len() > TERMINATION_MESSAGE_MAX
            && let Some(k) = r.kernel.as_mut()
        {
            k.artifact = k.artifact.as_deref().and_then(file_name);
        }
        if json(&r).len() > TERMINATION_MESSAGE_MAX {
            r.tarball = None;
            if let Some(k) = r.kernel.as_mut() {
                k.artifact = None;
            }
        }
        // GLSA hits go from the end (the first one stays, with the count of those left out).
        while json(&r).len() > TERMINATION_MESSAGE_MAX
            && r.glsa.as_ref().is_some_and(|g| g.affected.len() > 1)
        {
            if let Some(g) = r.glsa.as_mut() {
                g.affected.pop();
                g.omitted += 1;
            }
        }
        if json(&r).len() > TERMINATION_MESSAGE_MAX {
            r.image = None;
        }
        json(&r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> BuildResult {
        BuildResult {
            image: Some("r/x:latest".into()),
            image_digest: Some("sha256:ab".into()),
            tarball: Some("/out/t.tar.xz".into()),
            tarball_digest: Some("sha256:cd".into()),
            kernel: Some(KernelResult {
                artifact: Some("r/x:latest-kernel".into()),
                version: "6.6.58-gentoo-dist".into(),
                digest: "sha256:ef".into(),
            }),
            compiled: Some(3),
            binpkg_hits: Some(2),
            layers: Some(41),
            layers_uploaded: Some(2),
            bytes_uploaded: Some(123_456),
            sbom: Some("r/x@sha256:01".into()),
            provenance: Some("r/x@sha256:02".into()),
            signed_by: Some("sha256:03".into()),
            glsa: Some(GlsaResult {
                advisories: 4,
                affected: vec![GlsaHit {
                    id: "202610-01".into(),
                    severity: "high".into(),
                    package: "app-misc/hello-2.10".into(),
                }],
                omitted: 0,
            }),
        }
    }

    #[test]
    fn the_result_round_trips_through_its_json() {
        let r = full();
        assert_eq!(BuildResult::parse(&r.termination_message()).unwrap(), r);
        let plain = BuildResult {
            image: Some("r/x:latest".into()),
            ..Default::default()
        };
        assert_eq!(plain.termination_message(), r#"{"image":"r/x:latest"}"#);
        assert!(BuildResult::parse("{truncated").is_err());
        let long = BuildResult::parse(&"x".repeat(5000)).unwrap_err();
        assert!(long.to_string().contains("4096"), "{long}");
    }

    #[test]
    fn termination_message_stays_under_4k() {
        let r = BuildResult {
            image: Some(format!("registry.example/{}:latest", "r".repeat(3000))),
            tarball: Some(format!(
                "/{}/stage3-amd64-20231114T221320Z.tar.xz",
                "d".repeat(3000)
            )),
            kernel: Some(KernelResult {
                artifact: Some(format!("/{}/kernel-x-6.6.tar.xz", "k".repeat(1000))),
                version: "6.6".into(),
                digest: format!("sha256:{}", "c".repeat(64)),
            }),
            sbom: Some(format!("registry.example/{}@sha256:01", "r".repeat(3000))),
            ..full()
        };
        let m = r.termination_message();
        assert!(m.len() <= TERMINATION_MESSAGE_MAX, "{}", m.len());
        let back = BuildResult::parse(&m).unwrap();
        assert_eq!(back.image_digest, r.image_digest);
        assert_eq!(back.tarball_digest, r.tarball_digest);
        assert_eq!(back.sbom.as_deref(), Some("sha256:01"));
        assert_eq!(
            back.tarball.as_deref(),
            Some("stage3-amd64-20231114T221320Z.tar.xz")
        );
        assert_eq!(
            back.kernel.and_then(|k| k.artifact).as_deref(),
            Some("kernel-x-6.6.tar.xz")
        );
    }

    #[test]
    fn many_glsa_hits_are_cut_to_fit_and_counted() {
        let hit = |i: usize| GlsaHit {
            id: format!("2026{:02}-{:02}", 1 + i / 99, 1 + i % 99),
            severity: "normal".into(),
            package: format!("dev-libs/lib{i}-1.0"),
        };
        let r = BuildResult {
            glsa: Some(GlsaResult {
                advisories: 500,
                affected: (0..200).map(hit).collect(),
                omitted: 0,
            }),
            ..full()
        };
        let m = r.termination_message();
        assert!(m.len() <= TERMINATION_MESSAGE_MAX, "{}", m.len());
        let glsa = BuildResult::parse(&m).unwrap().glsa.unwrap();
        assert!(glsa.affected.len() > 10, "{}", glsa.affected.len());
        assert_eq!(glsa.affected.len() as u32 + glsa.omitted, 200);
        assert_eq!(glsa.affected[0], hit(0));
        assert!(glsa.summary().ends_with(&format!("{} more", glsa.omitted)));
        assert_eq!(r.glsa.unwrap().ids().len(), 200);
    }

    #[test]
    fn a_glsa_summary_lists_each_advisory_once_with_its_packages() {
        let hit = |id: &str, severity: &str, package: &str| GlsaHit {
            id: id.into(),
            severity: severity.into(),
            package: package.into(),
        };
        let g = GlsaResult {
            advisories: 4,
            affected: vec![
                hit("202610-01", "high", "app-misc/hello-2.10"),
                hit("202610-02", "normal", "dev-libs/libdemo-0.9"),
                hit("202610-02", "normal", "dev-libs/libdemo-0.8"),
            ],
            omitted: 0,
        };
        assert_eq!(g.ids(), ["202610-01", "202610-02"]);
        assert_eq!(
            g.summary(),
            "202610-01 (high: app-misc/hello-2.10), 202610-02 (normal: dev-libs/libdemo-0.9, dev-libs/libdemo-0.8)"
        );
    }

    #[test]
    fn counts_come_from_the_build_step_and_are_only_numbers() {
        let counts = BuildCounts::parse("{\"compiled\":9,\"binpkgHits\":7}\n").unwrap();
        let r = BuildResult {
            compiled: Some(1),
            ..BuildResult::default()
        }
        .with_counts(counts);
        assert_eq!((r.compiled, r.binpkg_hits), (Some(9), Some(7)));
        for junk in ["zentoo[build]: done: 1 compiled", "{\"compiled\":-1}", "[]"] {
            assert!(BuildCounts::parse(junk).is_err(), "{junk}");
        }
    }
}
