//! Reading a build's progress and outcome from its Job and Pod. Pure.

use crate::slim::{BuildJobStatus, BuildPodStatus, StepStatus};
use zentoo_core::plan::build::StepName;
use zentoo_core::plan::result::{BuildCounts, BuildResult, ResultError};

/// Most log text a failure message carries into status.
pub const MAX_MESSAGE: usize = 1024;
/// Log lines a failure message keeps.
pub const TAIL_LINES: usize = 12;

/// Where a Job is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Not finished.
    Running,
    /// Every step succeeded.
    Succeeded,
    /// It failed; why, as the Job says.
    Failed(String),
}

/// The state of a Job from its status's conditions.
pub fn job_state(status: Option<&BuildJobStatus>) -> JobState {
    let conditions = status.map(|s| s.conditions.as_slice()).unwrap_or_default();
    for c in conditions {
        if c.status != "True" {
            continue;
        }
        match c.type_.as_str() {
            "Complete" => return JobState::Succeeded,
            "Failed" => {
                let why = clean(
                    &[c.reason.as_deref(), c.message.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(": "),
                );
                return JobState::Failed(if why.is_empty() {
                    "the Job failed".into()
                } else {
                    why
                });
            }
            _ => {}
        }
    }
    JobState::Running
}

/// The counts the build step of a finished pod wrote as its termination message; `None` when
/// it wrote none (an older stage3 script, or a message that is not the counts: e.g. a
/// failure's log tail).
pub fn build_counts(pod: Option<&BuildPodStatus>) -> Option<BuildCounts> {
    BuildCounts::parse(termination_message(pod, "build")?).ok()
}

fn statuses(status: Option<&BuildPodStatus>) -> impl Iterator<Item = &StepStatus> {
    status.into_iter().flat_map(|s| {
        s.init_container_statuses
            .iter()
            .chain(&s.container_statuses)
    })
}

/// The result the publish step of a finished build pod wrote, if it left one.
pub fn publish_result(pod: Option<&BuildPodStatus>) -> Option<Result<BuildResult, ResultError>> {
    termination_message(pod, "publish").map(BuildResult::parse)
}

/// The result the audit container of a finished audit pod wrote (its `glsa`), if it left one.
pub fn audit_result(pod: Option<&BuildPodStatus>) -> Option<Result<BuildResult, ResultError>> {
    termination_message(pod, crate::render::audit::AUDIT_CONTAINER).map(BuildResult::parse)
}

/// What a finished build pod produced: its publish step's result with its build step's
/// counts, as the local runner reports it.
pub fn build_result(pod: Option<&BuildPodStatus>) -> Option<Result<BuildResult, ResultError>> {
    let counts = build_counts(pod).unwrap_or_default();
    publish_result(pod).map(|r| r.map(|r| r.with_counts(counts)))
}

/// The termination message of `container` of `pod`, once it has terminated with one.
fn termination_message<'a>(pod: Option<&'a BuildPodStatus>, container: &str) -> Option<&'a str> {
    statuses(pod)
        .find(|s| s.name == container)?
        .state
        .terminated
        .as_ref()?
        .message
        .as_deref()
}

/// `sha256:0123456789ab`: a digest shortened for people.
pub fn short_digest(digest: &str) -> String {
    digest.chars().take("sha256:".len() + 12).collect()
}

/// How long before `now` `then` was, as kubectl says it (`45s`, `12m`, `3h`, `9d`); a
/// `then` after `now` (clock skew) is `0s`.
pub fn age(then: jiff::Timestamp, now: jiff::Timestamp) -> String {
    match now.as_second().saturating_sub(then.as_second()).max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The step a build container runs: containers are named after their steps.
pub fn step_of(container: &str) -> Option<StepName> {
    [
        StepName::Materialize,
        StepName::Build,
        StepName::Assemble,
        StepName::Publish,
    ]
    .into_iter()
    .find(|step| step.as_str() == container)
}

/// The step a build pod is at: the first container that has not terminated.
pub fn current_step(pod: Option<&BuildPodStatus>) -> Option<StepName> {
    statuses(pod)
        .find(|s| s.state.terminated.is_none())
        .and_then(|s| step_of(&s.name))
}

/// The step that failed and the end of what it said, if one failed. A step the kernel killed
/// at its memory limit says so first, and what to raise.
pub fn failed_step(pod: Option<&BuildPodStatus>) -> Option<(StepName, String)> {
    statuses(pod).find_map(|s| {
        let terminated = s.state.terminated.as_ref()?;
        let step = step_of(&s.name)?;
        (terminated.exit_code != 0).then(|| {
            let text = clean(terminated.message.as_deref().unwrap_or_default());
            let tail = tail(&text, TAIL_LINES, MAX_MESSAGE);
            let mut message = format!("exit code {}", terminated.exit_code);
            if terminated.reason.as_deref() == Some("OOMKilled") {
                message = format!(
                    "out of memory (OOMKilled: the step reached its memory limit; raise \
                     spec.resources.limits.memory), {message}"
                );
            }
            if !tail.is_empty() {
                message = format!("{message}:\n{tail}");
            }
            (step, message)
        })
    })
}

/// Build output as a person reads it in status and Events: terminal escape sequences removed,
/// each line as a terminal last showed it (a carriage return starts the line over) and no
/// control characters but newline and tab.
pub fn clean(text: &str) -> String {
    let stripped = anstream::adapter::strip_str(text).to_string();
    let mut out = String::with_capacity(stripped.len());
    for (i, line) in stripped.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = line.trim_end_matches('\r');
        let shown = line.rsplit('\r').next().unwrap_or(line);
        out.extend(shown.chars().filter(|c| *c == '\t' || !c.is_control()));
    }
    out
}

/// The last `lines` lines of `text`, at most `max` bytes (cut at a character boundary).
pub fn tail(text: &str, lines: usize, max: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    let kept = all[all.len().saturating_sub(lines)..].join("\n");
    if kept.len() <= max {
        return kept;
    }
    let mut start = kept.len() - max;
    while !kept.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &kept[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus, PodStatus,
    };

    fn status(name: &str, exit: Option<i32>, message: Option<&str>) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(match exit {
                Some(code) => ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        exit_code: code,
                        message: message.map(str::to_string),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                None => ContainerState {
                    running: Some(ContainerStateRunning::default()),
                    ..Default::default()
                },
            }),
            ..Default::default()
        }
    }

    fn pod(inits: Vec<ContainerStatus>, mains: Vec<ContainerStatus>) -> BuildPodStatus {
        PodStatus {
            init_container_statuses: Some(inits),
            container_statuses: Some(mains),
            ..Default::default()
        }
        .into()
    }

    #[test]
    fn the_current_step_is_the_first_unfinished_container() {
        let p = pod(
            vec![
                status("materialize", Some(0), None),
                status("build", None, None),
                status("assemble", None, None),
            ],
            vec![status("publish", None, None)],
        );
        assert_eq!(current_step(Some(&p)), Some(StepName::Build));
        assert_eq!(failed_step(Some(&p)), None);
    }

    #[test]
    fn a_failed_step_is_named_with_its_last_lines() {
        let log: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let p = pod(
            vec![
                status("materialize", Some(0), None),
                status("build", Some(4), Some(&log)),
            ],
            vec![],
        );
        let (step, message) = failed_step(Some(&p)).unwrap();
        assert_eq!(step, StepName::Build);
        assert!(message.starts_with("exit code 4:\nline 29\n"), "{message}");
        assert!(message.ends_with("line 40"));
    }

    #[test]
    fn a_step_killed_at_its_memory_limit_says_so() {
        let mut killed = status("build", Some(4), Some("emerging nginx\nKilled\n"));
        if let Some(t) = killed.state.as_mut().and_then(|s| s.terminated.as_mut()) {
            t.reason = Some("OOMKilled".into());
        }
        let p = pod(vec![status("materialize", Some(0), None), killed], vec![]);
        let (step, message) = failed_step(Some(&p)).expect("a failed step");
        assert_eq!(step, StepName::Build);
        assert_eq!(
            message,
            "out of memory (OOMKilled: the step reached its memory limit; raise \
             spec.resources.limits.memory), exit code 4:\nemerging nginx\nKilled"
        );
        // Any other failure: the exit code and the log.
        let p = pod(vec![status("build", Some(4), Some("Killed\n"))], vec![]);
        assert_eq!(
            failed_step(Some(&p)).expect("failed").1,
            "exit code 4:\nKilled"
        );
    }

    #[test]
    fn the_publish_result_is_read_and_bounded() {
        let json = r#"{"image":"r/x:latest","imageDigest":"sha256:ab","tarball":"t","tarballDigest":"sha256:cd"}"#;
        let p = pod(vec![], vec![status("publish", Some(0), Some(json))]);
        let r = publish_result(Some(&p)).unwrap().unwrap();
        assert_eq!(r.image_digest.as_deref(), Some("sha256:ab"));
        let huge = pod(
            vec![],
            vec![status("publish", Some(0), Some(&"x".repeat(5000)))],
        );
        let err = publish_result(Some(&huge)).unwrap().unwrap_err();
        assert!(err.to_string().contains("4096"), "{err}");
    }

    #[test]
    fn the_build_counts_are_read_from_the_build_step_and_nothing_else() {
        let p = pod(
            vec![status(
                "build",
                Some(0),
                Some("{\"compiled\":9,\"binpkgHits\":7}\n"),
            )],
            vec![status("publish", Some(0), Some(r#"{"compiled":1}"#))],
        );
        let counts = build_counts(Some(&p)).unwrap();
        assert_eq!((counts.compiled, counts.binpkg_hits), (Some(9), Some(7)));
        for junk in ["zentoo[build]: done: 1 compiled", "{\"compiled\":-1}", "[]"] {
            let p = pod(vec![status("build", Some(0), Some(junk))], vec![]);
            assert_eq!(build_counts(Some(&p)), None, "{junk}");
        }
        let huge = format!("{{\"compiled\":1,\"x\":\"{}\"}}", "y".repeat(5000));
        let p = pod(vec![status("build", Some(0), Some(&huge))], vec![]);
        assert_eq!(build_counts(Some(&p)), None);
        let running = pod(vec![status("build", None, None)], vec![]);
        assert_eq!(build_counts(Some(&running)), None);
    }

    #[test]
    fn failure_messages_carry_no_terminal_control() {
        let log = "\x1b[1m\x1b[31m * \x1b[0mERROR: app-misc/hello-1::gentoo failed (compile phase):\r\n\
                   >>> Compiling  10%\r>>> Compiling  55%\r>>> Compiling 100%\n\
                   \x1b]0;emerge: 1 of 2\x07make:\t*** [all] Error 1\x1b[K\n\
                   bell\x07 back\x08space del\x7f c1\u{9b}31m nul\0 \x1bc\x1b(Bdone\u{85}\n";
        let p = pod(vec![status("build", Some(4), Some(log))], vec![]);
        let (_, message) = failed_step(Some(&p)).unwrap();
        assert_eq!(
            message,
            "exit code 4:\n * ERROR: app-misc/hello-1::gentoo failed (compile phase):\n\
             >>> Compiling 100%\nmake:\t*** [all] Error 1\nbell backspace del c131m nul done"
        );
        let job = k8s_openapi::api::batch::v1::JobStatus {
            conditions: Some(vec![k8s_openapi::api::batch::v1::JobCondition {
                type_: "Failed".into(),
                status: "True".into(),
                reason: Some("BackoffLimitExceeded".into()),
                message: Some("\x1b[31mgone\x1b[0m\r".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            job_state(Some(&job.into())),
            JobState::Failed("BackoffLimitExceeded: gone".into())
        );
    }

    #[test]
    fn tails_are_cut_at_character_boundaries() {
        let t = tail(&"ä".repeat(600), 5, 101);
        assert!(t.len() <= 104 && t.starts_with('…'));
    }
}
