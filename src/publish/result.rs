//! What a publish reports: printed with `--output json` and, in the cluster, written as the
//! publish container's termination message (read back by the controller, at most 4 KiB).

use super::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The kubelet reads at most this many bytes of a termination message.
pub const TERMINATION_MESSAGE_MAX: usize = 4096;

/// The outcome of one publish.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishResult {
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
}

/// The kernel artifact of a publish.
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

impl PublishResult {
    /// One line of JSON, at most [`TERMINATION_MESSAGE_MAX`] bytes: an over-long tarball path
    /// is shortened to its file name, then over-long references are dropped (digests stay).
    pub fn termination_message(&self) -> String {
        let mut r = self.clone();
        let json = |r: &PublishResult| serde_json::to_string(r).unwrap_or_default();
        if json(&r).len() > TERMINATION_MESSAGE_MAX
            && let Some(t) = &r.tarball
        {
            r.tarball = Path::new(t)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
        }
        if json(&r).len() > TERMINATION_MESSAGE_MAX
            && let Some(k) = r.kernel.as_mut()
        {
            k.artifact = k
                .artifact
                .as_deref()
                .and_then(|a| Path::new(a).file_name())
                .map(|n| n.to_string_lossy().into_owned());
        }
        if json(&r).len() > TERMINATION_MESSAGE_MAX {
            r.tarball = None;
            if let Some(k) = r.kernel.as_mut() {
                k.artifact = None;
            }
        }
        if json(&r).len() > TERMINATION_MESSAGE_MAX {
            r.image = None;
        }
        json(&r)
    }

    /// Writes [`Self::termination_message`] to `path` (e.g. `/dev/termination-log`).
    pub fn write_termination_log(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.termination_message()).map_err(|e| Error::write(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_message_stays_under_4k() {
        let r = PublishResult {
            image: Some(format!("registry.example/{}:latest", "r".repeat(3000))),
            image_digest: Some(format!("sha256:{}", "a".repeat(64))),
            tarball: Some(format!(
                "/{}/stage3-amd64-20231114T221320Z.tar.xz",
                "d".repeat(3000)
            )),
            tarball_digest: Some(format!("sha256:{}", "b".repeat(64))),
            kernel: Some(KernelResult {
                artifact: Some(format!("/{}/kernel-x-6.6.tar.xz", "k".repeat(1000))),
                version: "6.6".into(),
                digest: format!("sha256:{}", "c".repeat(64)),
            }),
        };
        let m = r.termination_message();
        assert!(m.len() <= TERMINATION_MESSAGE_MAX, "{}", m.len());
        let back: PublishResult = serde_json::from_str(&m).unwrap();
        assert_eq!(back.image_digest, r.image_digest);
        assert_eq!(back.tarball_digest, r.tarball_digest);
        assert_eq!(
            back.tarball.as_deref(),
            Some("stage3-amd64-20231114T221320Z.tar.xz")
        );
        assert_eq!(
            back.kernel.as_ref().map(|k| k.version.as_str()),
            Some("6.6")
        );
        assert_eq!(
            back.kernel.and_then(|k| k.artifact).as_deref(),
            Some("kernel-x-6.6.tar.xz")
        );
        let plain = PublishResult {
            image: Some("r/x:latest".into()),
            ..Default::default()
        };
        assert_eq!(plain.termination_message(), r#"{"image":"r/x:latest"}"#);
    }

    #[test]
    fn the_controller_parses_what_publish_writes() {
        let r = PublishResult {
            image: Some("r/x:latest".into()),
            image_digest: Some("sha256:ab".into()),
            tarball: Some("/out/t.tar.xz".into()),
            tarball_digest: Some("sha256:cd".into()),
            kernel: Some(KernelResult {
                artifact: Some("r/x:latest-kernel".into()),
                version: "6.6.58-gentoo-dist".into(),
                digest: "sha256:ef".into(),
            }),
        };
        let parsed =
            crate::controller::outcome::parse_publish_result(&r.termination_message()).unwrap();
        assert_eq!(parsed.image_digest.as_deref(), Some("sha256:ab"));
        assert_eq!(parsed.tarball_digest.as_deref(), Some("sha256:cd"));
        let kernel = parsed.kernel.expect("kernel");
        assert_eq!(kernel.version, "6.6.58-gentoo-dist");
        assert_eq!(kernel.digest, "sha256:ef");
        assert_eq!(kernel.artifact.as_deref(), Some("r/x:latest-kernel"));
    }
}
