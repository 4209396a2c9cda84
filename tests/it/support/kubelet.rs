//! Playing kubelet: the test sets what a kubelet would report for a pod (container states,
//! exit codes, termination messages, phase, conditions) through the pod status subresource.
//!
//! KWOK (tests/cluster/kwok-stages.yaml) leaves pods labelled [`MANUAL_LABEL`] alone except for
//! finishing their deletion, so a test can drive them here. Pods without the label are run and,
//! when a Job owns them, completed by KWOK.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Label that makes KWOK leave a pod to the test's kubelet player (any value).
pub const MANUAL_LABEL: &str = "zentoo.dev/test-kubelet";
/// The value tests use for [`MANUAL_LABEL`].
pub const MANUAL: &str = "manual";

/// Sets pod status as a kubelet would, for the pods of one namespace.
pub struct Kubelet {
    pods: Api<Pod>,
}

/// What one container does now.
#[derive(Clone, Debug)]
pub enum State {
    Waiting(&'static str),
    Running,
    Terminated { exit_code: i32, message: String },
}

impl Kubelet {
    pub fn new(pods: Api<Pod>) -> Self {
        Self { pods }
    }

    /// Starts the pod: every init container terminated with 0, every container running.
    pub async fn run(&self, pod: &str) -> Pod {
        let p = self.get(pod).await;
        let spec = p.spec.clone().unwrap_or_default();
        let mut updates: Vec<(String, bool, State)> = Vec::new();
        for c in spec.init_containers.unwrap_or_default() {
            updates.push((c.name, true, terminated(0, "")));
        }
        for c in spec.containers {
            updates.push((c.name, false, State::Running));
        }
        self.apply(p, &updates).await
    }

    /// Ends `container` (an init container or a container) with `exit_code`, reporting
    /// `message` as its termination message, as the kubelet does from `terminationMessagePath`.
    /// The pod's phase follows (restartPolicy Never): a failed init container fails the pod;
    /// the pod succeeds or fails once all its containers have terminated.
    pub async fn set_pod_terminated(
        &self,
        pod: &str,
        container: &str,
        exit_code: i32,
        message: &str,
    ) -> Pod {
        let p = self.get(pod).await;
        let spec = p.spec.clone().unwrap_or_default();
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .any(|c| c.name == container);
        if !init && !spec.containers.iter().any(|c| c.name == container) {
            panic!("pod {pod} has no container {container}");
        }
        self.apply(
            p,
            &[(container.to_string(), init, terminated(exit_code, message))],
        )
        .await
    }

    /// Sets the states of the named containers (`init` tells which list), keeps the others,
    /// and derives the pod's phase and conditions from the result.
    pub async fn set_states(&self, pod: &str, updates: &[(String, bool, State)]) -> Pod {
        let p = self.get(pod).await;
        self.apply(p, updates).await
    }

    async fn get(&self, pod: &str) -> Pod {
        self.pods
            .get(pod)
            .await
            .unwrap_or_else(|e| panic!("kubelet player: get pod {pod}: {e}"))
    }

    async fn apply(&self, pod: Pod, updates: &[(String, bool, State)]) -> Pod {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = next_status(&pod, updates);
        let patch = json!({ "status": status });
        self.pods
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("kubelet player: set status of pod {name}: {e}"))
    }
}

fn terminated(exit_code: i32, message: &str) -> State {
    State::Terminated {
        exit_code,
        message: message.to_string(),
    }
}

fn now() -> Time {
    Time(Timestamp::now())
}

fn container_status(
    name: &str,
    image: &str,
    state: &State,
    old: Option<&ContainerStatus>,
) -> ContainerStatus {
    let started_at = old
        .and_then(|o| o.state.as_ref())
        .and_then(|s| s.running.as_ref())
        .and_then(|r| r.started_at.clone())
        .unwrap_or_else(now);
    let state_json = match state {
        State::Waiting(reason) => json!({ "waiting": { "reason": reason } }),
        State::Running => json!({ "running": { "startedAt": started_at } }),
        State::Terminated { exit_code, message } => json!({ "terminated": {
            "exitCode": exit_code,
            "reason": if *exit_code == 0 { "Completed" } else { "Error" },
            "message": message,
            "startedAt": started_at,
            "finishedAt": now(),
        }}),
    };
    ContainerStatus {
        name: name.to_string(),
        image: image.to_string(),
        image_id: String::new(),
        ready: matches!(state, State::Running),
        started: Some(matches!(state, State::Running)),
        restart_count: 0,
        state: Some(serde_json::from_value(state_json).expect("container state JSON")),
        ..Default::default()
    }
}

fn state_of(s: &ContainerStatus) -> State {
    match &s.state {
        Some(st) if st.running.is_some() => State::Running,
        Some(st) => match &st.terminated {
            Some(t) => State::Terminated {
                exit_code: t.exit_code,
                message: t.message.clone().unwrap_or_default(),
            },
            None => State::Waiting("ContainerCreating"),
        },
        None => State::Waiting("ContainerCreating"),
    }
}

/// The pod's next status: `updates` applied over its current container states.
fn next_status(pod: &Pod, updates: &[(String, bool, State)]) -> PodStatus {
    let spec = pod.spec.clone().unwrap_or_default();
    let old = pod.status.clone().unwrap_or_default();
    let build = |containers: Vec<(String, String)>, init: bool, olds: &[ContainerStatus]| {
        containers
            .into_iter()
            .map(|(name, image)| {
                let prev = olds.iter().find(|s| s.name == name);
                let state = updates
                    .iter()
                    .find(|(n, i, _)| *n == name && *i == init)
                    .map(|(_, _, s)| s.clone())
                    .or_else(|| prev.map(state_of))
                    .unwrap_or(State::Waiting(if init {
                        "PodInitializing"
                    } else {
                        "ContainerCreating"
                    }));
                container_status(&name, &image, &state, prev)
            })
            .collect::<Vec<_>>()
    };
    let names = |cs: &[k8s_openapi::api::core::v1::Container]| {
        cs.iter()
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect::<Vec<_>>()
    };
    let inits = build(
        names(spec.init_containers.as_deref().unwrap_or_default()),
        true,
        old.init_container_statuses.as_deref().unwrap_or_default(),
    );
    let mains = build(
        names(&spec.containers),
        false,
        old.container_statuses.as_deref().unwrap_or_default(),
    );
    let exit = |s: &ContainerStatus| {
        s.state
            .as_ref()
            .and_then(|st| st.terminated.as_ref())
            .map(|t| t.exit_code)
    };
    let init_failed = inits.iter().any(|s| exit(s).is_some_and(|c| c != 0));
    let initialized = inits.iter().all(|s| exit(s) == Some(0));
    let all_done = mains.iter().all(|s| exit(s).is_some());
    let all_running = mains.iter().all(|s| s.ready);
    let phase = if init_failed || (all_done && mains.iter().any(|s| exit(s) != Some(0))) {
        "Failed"
    } else if all_done {
        "Succeeded"
    } else if initialized {
        "Running"
    } else {
        "Pending"
    };
    let mut conditions = old.conditions.clone().unwrap_or_default();
    let ready = initialized && all_running && phase == "Running";
    for (type_, status) in [
        ("Initialized", initialized),
        ("ContainersReady", ready),
        ("Ready", ready),
    ] {
        let status = if status { "True" } else { "False" };
        match conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == status => {}
            Some(c) => {
                c.status = status.into();
                c.last_transition_time = Some(now());
            }
            None => conditions.push(PodCondition {
                type_: type_.into(),
                status: status.into(),
                last_transition_time: Some(now()),
                ..Default::default()
            }),
        }
    }
    PodStatus {
        phase: Some(phase.into()),
        conditions: Some(conditions),
        init_container_statuses: (!inits.is_empty()).then_some(inits),
        container_statuses: Some(mains),
        start_time: old.start_time.clone().or_else(|| Some(now())),
        host_ip: old.host_ip.clone().or_else(|| Some("10.255.0.1".into())),
        pod_ip: old.pod_ip.clone().or_else(|| Some("10.244.0.10".into())),
        ..Default::default()
    }
}
