//! Why a build starts: the cause its Job (`zentoo.dev/cause`), `status.currentBuild`, its
//! history record and its `Building` condition and event carry.

use crate::outcome::short_digest;
use zentoo_api::annotations;
use zentoo_api::conditions::reasons;
use zentoo_api::image::{BuildCause, BuildRecord, SuccessfulBuild};
use zentoo_core::site::inputs::Inputs;

/// At most this many bytes of changes are named; the rest are counted.
const MESSAGE_MAX: usize = 1024;

/// What the decision knows when it starts a build of `desired` (the digest of `planned`).
pub(super) struct Before<'a> {
    /// The last successful build.
    pub last: Option<&'a SuccessfulBuild>,
    /// Finished builds, newest first.
    pub history: &'a [BuildRecord],
    /// A new rebuild request is being handled.
    pub rebuild: bool,
}

/// Why a build of `planned` (digest `desired`) starts now: a rebuild request of inputs built
/// or tried before, the image's first build, or the inputs that changed since the last
/// successful build, named as `zentoo plan --against` names them.
pub(super) fn cause(planned: &Inputs, desired: &str, before: &Before<'_>) -> BuildCause {
    let tried = before.last.is_some_and(|l| l.inputs_digest == desired)
        || before.history.iter().any(|h| h.inputs_digest == desired);
    if before.rebuild && tried {
        return BuildCause {
            reason: reasons::REBUILD_REQUESTED.into(),
            message: format!(
                "the {} annotation asked to build inputs {} again",
                annotations::REBUILD_REQUESTED_AT,
                short_digest(desired)
            ),
        };
    }
    let Some(last) = before.last else {
        let message = match before.history.first() {
            None => "the image's first build".to_string(),
            Some(h) => format!(
                "no build of the image has succeeded yet (the last, {}, {})",
                h.name,
                h.result.as_str().to_lowercase()
            ),
        };
        return BuildCause {
            reason: reasons::CREATED.into(),
            message,
        };
    };
    let changes = last
        .inputs
        .as_ref()
        .map(|old| planned.changes_since(old))
        .unwrap_or_default();
    let message = if changes.is_empty() {
        format!(
            "inputs digest changed ({} -> {}) since build {}",
            short_digest(&last.inputs_digest),
            short_digest(desired),
            last.name
        )
    } else {
        bounded(&changes)
    };
    BuildCause {
        reason: reasons::INPUTS_CHANGED.into(),
        message,
    }
}

/// `changes` joined by `; `, as many as fit in [`MESSAGE_MAX`] bytes, then how many more.
fn bounded(changes: &[String]) -> String {
    let mut out = String::new();
    for (i, change) in changes.iter().enumerate() {
        if !out.is_empty() && out.len() + 2 + change.len() > MESSAGE_MAX {
            out.push_str(&format!("; and {} more", changes.len() - i));
            break;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(change);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use zentoo_api::image::Ending;
    use zentoo_core::site::inputs::{BranchInput, CpuInput, SpecInputs};

    fn inputs(portage_tree: &str, snapshot: &str) -> Inputs {
        Inputs {
            portage: BranchInput {
                branch: "portage/desktop".into(),
                tree: portage_tree.into(),
            },
            buildhooks: None,
            set: "kde".into(),
            sets: [("kde".to_string(), "b1".to_string())].into(),
            cpu: CpuInput {
                name: "amd64".into(),
                profile: serde_json::from_value(serde_json::json!({
                    "arch": "amd64", "chost": "x86_64-pc-linux-gnu",
                    "cflags": "-O2 -pipe", "cxxflags": "-O2 -pipe"
                }))
                .expect("a cpu profile"),
            },
            spec: SpecInputs {
                stage3: "s".into(),
                repo_snapshot: snapshot.into(),
                profile: "p".into(),
                ..SpecInputs::default()
            },
        }
    }

    fn success(inputs: Option<Inputs>, digest: &str) -> SuccessfulBuild {
        SuccessfulBuild {
            name: "img-1".into(),
            inputs_digest: digest.into(),
            inputs,
            ..SuccessfulBuild::default()
        }
    }

    fn record(digest: &str, result: Ending) -> BuildRecord {
        BuildRecord {
            name: "img-0".into(),
            inputs_digest: digest.into(),
            result,
            ..BuildRecord::default()
        }
    }

    #[test]
    fn the_first_build_is_created() {
        let now = inputs("t1", "latest");
        let why = cause(
            &now,
            &now.digest(),
            &Before {
                last: None,
                history: &[],
                rebuild: false,
            },
        );
        assert_eq!(why.reason, "Created");
        assert_eq!(why.message, "the image's first build");
        let failed = [record("sha256:00", Ending::Failed)];
        let why = cause(
            &now,
            &now.digest(),
            &Before {
                last: None,
                history: &failed,
                rebuild: false,
            },
        );
        assert_eq!(
            (why.reason.as_str(), why.message.as_str()),
            (
                "Created",
                "no build of the image has succeeded yet (the last, img-0, failed)"
            )
        );
    }

    #[test]
    fn changed_inputs_are_named_as_plan_against_names_them() {
        let old = inputs("t1", "20261001");
        let now = inputs("t2", "20261101");
        let last = success(Some(old.clone()), &old.digest());
        let why = cause(
            &now,
            &now.digest(),
            &Before {
                last: Some(&last),
                history: &[],
                rebuild: false,
            },
        );
        assert_eq!(why.reason, "InputsChanged");
        assert_eq!(why.message, now.changes_since(&old).join("; "));
        assert_eq!(
            why.message,
            "portage/desktop tree changed; repo snapshot changed (20261001 -> 20261101)"
        );
        // A build from before inputs were recorded: only the digests can be compared.
        let unrecorded = success(None, "sha256:aaaaaaaaaaaaaaaaaaaa");
        let why = cause(
            &now,
            &now.digest(),
            &Before {
                last: Some(&unrecorded),
                history: &[],
                rebuild: false,
            },
        );
        assert_eq!(why.reason, "InputsChanged");
        assert!(
            why.message.starts_with("inputs digest changed (")
                && why.message.ends_with(") since build img-1"),
            "{}",
            why.message
        );
    }

    #[test]
    fn a_rebuild_request_of_tried_inputs_says_so_but_changed_inputs_win() {
        let now = inputs("t1", "latest");
        let digest = now.digest();
        let built = success(Some(now.clone()), &digest);
        let rebuild = |last, history| {
            cause(
                &now,
                &digest,
                &Before {
                    last,
                    history,
                    rebuild: true,
                },
            )
            .reason
        };
        assert_eq!(rebuild(Some(&built), &[]), "RebuildRequested");
        let failed = [record(&digest, Ending::Failed)];
        assert_eq!(rebuild(None, &failed), "RebuildRequested");
        let old = inputs("t0", "latest");
        let older = success(Some(old.clone()), &old.digest());
        assert_eq!(rebuild(Some(&older), &[]), "InputsChanged");
    }

    #[test]
    fn many_changes_are_cut_at_a_kilobyte_and_counted() {
        let changes: Vec<String> = (0..200).map(|i| format!("set s{i:03} changed")).collect();
        let message = bounded(&changes);
        assert!(message.len() <= MESSAGE_MAX + 20, "{}", message.len());
        let named = message.matches(" changed").count();
        assert!(
            message.ends_with(&format!("; and {} more", 200 - named)),
            "{message}"
        );
        assert_eq!(bounded(&changes[..2]), "set s000 changed; set s001 changed");
    }
}
