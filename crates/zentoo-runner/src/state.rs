//! What the last successful local build of each tuple produced, kept in `<out>/state.json`, so
//! a tuple whose inputs digest has not changed is "up to date".

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zentoo_core::plan::result::{BuildResult, SecurityUpdate};

/// File name of the state under `--out`.
pub const STATE_FILE: &str = "state.json";

/// One successful local build: what it realized, and its [`BuildResult`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalBuild {
    /// The inputs digest built.
    pub inputs_digest: String,
    /// The site revision built at.
    pub revision: String,
    /// What the build produced.
    #[serde(flatten)]
    pub result: BuildResult,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// Why it was built at a newer repo snapshot than its pin, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecurityUpdate>,
}

/// The local build state of one `--out` directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Last successful build per tuple.
    pub tuples: BTreeMap<String, LocalBuild>,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StateError {
    /// The state file.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

impl State {
    /// Reads `<out>/state.json`; a missing file is an empty state, a broken one an error
    /// (never silently dropped: it says what was built).
    pub fn load(out: &Path) -> Result<State, StateError> {
        let path = out.join(STATE_FILE);
        let err = |message: String| StateError {
            path: path.clone(),
            message,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                err(format!(
                    "{e} (fix or delete the file to rebuild everything)"
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// Writes the state atomically (temp file + rename).
    pub fn save(&self, out: &Path) -> Result<(), StateError> {
        let path = out.join(STATE_FILE);
        let err = |message: String| StateError {
            path: path.clone(),
            message,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp = out.join(format!(".{STATE_FILE}.tmp"));
        std::fs::write(&tmp, text + "\n").map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(e.to_string()))
    }

    /// True when `tuple`'s last successful build realized `digest`.
    pub fn is_current(&self, tuple: &str, digest: &str) -> bool {
        self.tuples
            .get(tuple)
            .is_some_and(|r| r.inputs_digest == digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_tells_current_digests() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(State::load(dir.path()).expect("empty"), State::default());
        let mut state = State::default();
        state.tuples.insert(
            "base-none-base".into(),
            LocalBuild {
                inputs_digest: "sha256:aa".into(),
                result: BuildResult {
                    compiled: Some(2),
                    ..BuildResult::default()
                },
                ..Default::default()
            },
        );
        state.save(dir.path()).expect("save");
        let back = State::load(dir.path()).expect("load");
        assert_eq!(back, state);
        assert!(back.is_current("base-none-base", "sha256:aa"));
        assert!(!back.is_current("base-none-base", "sha256:bb"));
        assert!(!back.is_current("other", "sha256:aa"));
    }

    #[test]
    fn a_broken_state_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(STATE_FILE), "{not json").expect("write");
        let err = State::load(dir.path()).expect_err("broken");
        assert!(err.to_string().contains("state.json"), "{err}");
    }
}
