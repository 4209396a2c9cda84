//! Watches that decode only what reconciles read.
//!
//! A watch decodes every listed object; decoded in full, each object's `managedFields` (the
//! API server's record of who set which field, a deep JSON tree) and a build pod's or Job's
//! spec cost far more memory than the rest: a restart's relist of 2,000 images, Jobs and pods
//! peaked at over 200 MiB. [`Slim`] decodes an object's metadata (without managed fields),
//! the parts of its spec and status a [`Slimmed`] type keeps, and skips the rest unread.

use futures::{Stream, TryStreamExt};
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::Resource;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::watcher::{self, Event};
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};
use serde::{Deserialize, de};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use zentoo_api::{
    GentooImage, GentooImageSpec, GentooImageStatus, GentooSite, GentooSiteSpec, GentooSiteStatus,
    annotations, labels,
};

/// A kind decoded by [`Slim`]: which parts of its spec and status it keeps, and how it is
/// put back together.
pub trait Slimmed: Resource<DynamicType = ()> + Clone + std::fmt::Debug + Send + 'static {
    /// What is decoded of `spec` ([`IgnoredAny`]: nothing).
    type Spec: DeserializeOwned;
    /// What is decoded of `status` ([`IgnoredAny`]: nothing).
    type Status: DeserializeOwned;
    /// The object from its metadata (without managed fields), spec and status.
    fn assemble(
        metadata: ObjectMeta,
        spec: Option<Self::Spec>,
        status: Option<Self::Status>,
    ) -> Result<Self, String>;
}

/// An object of kind `K` decoded without its managed fields and without what `K` skips:
/// read through `Api<Slim<K>>`, it is the same API resource as `K`.
#[derive(Clone, Debug)]
pub struct Slim<K>(pub K);

/// Object metadata without `managedFields`, `selfLink`, `generateName` and the deletion
/// grace period, which no reconcile reads.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Metadata {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    generation: Option<i64>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
    owner_references: Option<Vec<OwnerReference>>,
    finalizers: Option<Vec<String>>,
}

impl From<Metadata> for ObjectMeta {
    fn from(m: Metadata) -> Self {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            uid: m.uid,
            resource_version: m.resource_version,
            generation: m.generation,
            creation_timestamp: m.creation_timestamp,
            deletion_timestamp: m.deletion_timestamp,
            labels: m.labels,
            annotations: m.annotations,
            owner_references: m.owner_references,
            finalizers: m.finalizers,
            ..ObjectMeta::default()
        }
    }
}

/// The decoded parts of an object; every other field is skipped unread.
#[derive(Deserialize)]
#[serde(bound = "S: DeserializeOwned, T: DeserializeOwned")]
struct Parts<S, T> {
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Option<S>,
    #[serde(default)]
    status: Option<T>,
}

impl<'de, K: Slimmed> Deserialize<'de> for Slim<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let parts = Parts::<K::Spec, K::Status>::deserialize(deserializer)?;
        K::assemble(parts.metadata.into(), parts.spec, parts.status)
            .map(Slim)
            .map_err(de::Error::custom)
    }
}

/// The kind, group, version and plural of `K`: a type read through another's API.
macro_rules! same_kind_as {
    ($k:ident) => {
        fn kind(dt: &()) -> Cow<'_, str> {
            $k::kind(dt)
        }
        fn group(dt: &()) -> Cow<'_, str> {
            $k::group(dt)
        }
        fn version(dt: &()) -> Cow<'_, str> {
            $k::version(dt)
        }
        fn plural(dt: &()) -> Cow<'_, str> {
            $k::plural(dt)
        }
    };
}

impl<K: Slimmed> Resource for Slim<K> {
    type DynamicType = ();
    type Scope = K::Scope;

    same_kind_as!(K);
    fn metadata_api() -> bool {
        K::metadata_api()
    }
    fn meta(&self) -> &ObjectMeta {
        self.0.meta()
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        self.0.meta_mut()
    }
}

/// Objects per page of a watch's (re)list. A page's response is read whole before it is
/// decoded; build pods and Jobs are ~10 KiB of JSON each (their specs and managed fields are
/// sent even though they are skipped), so pages of kube's default 500 held megabytes per
/// watch at once during a restart's relist; at 100, the pages being read were still 6 of
/// the 28 MB heap peak of a restart with 2,000 images (heaptrack).
pub const LIST_PAGE: u32 = 50;

/// A watch of `api` whose objects are decoded slim and handed on as `K`; its lists are paged
/// by [`LIST_PAGE`].
pub fn watcher<K: Slimmed>(
    api: Api<Slim<K>>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send {
    watcher::watcher(api, config.page_size(LIST_PAGE)).map_ok(|event| match event {
        Event::Apply(Slim(obj)) => Event::Apply(obj),
        Event::Delete(Slim(obj)) => Event::Delete(obj),
        Event::Init => Event::Init,
        Event::InitApply(Slim(obj)) => Event::InitApply(obj),
        Event::InitDone => Event::InitDone,
    })
}

/// What the cache keeps of an object of kind `K`: its metadata and its status `S` (its spec
/// is never read). Its own type, not `K` with the spec left out: a `Job` or a `Pod` holds its
/// spec's every optional field inline (2.5-2.8 KiB each, empty or not), which made up a third
/// of the controller's heap with 2,000 images cached.
#[derive(Clone, Debug)]
pub struct Cached<K, S> {
    /// Metadata, with only the labels and annotations reconciles read.
    pub metadata: ObjectMeta,
    /// The parts of its status reconciles read.
    pub status: Option<S>,
    kind: PhantomData<fn() -> K>,
}

/// A build Job as cached.
pub type CachedJob = Cached<Job, BuildJobStatus>;
/// A build pod as cached.
pub type CachedPod = Cached<Pod, BuildPodStatus>;

/// What reconciles read of a build Job's status: whether it ended, how, and when.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildJobStatus {
    /// Its conditions (`Complete`, `Failed`, ...).
    pub conditions: Vec<JobEnd>,
    /// When it completed.
    pub completion_time: Option<Time>,
}

/// A Job condition, without its probe and transition times.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct JobEnd {
    /// `Complete`, `Failed`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Why, in a word.
    pub reason: Option<String>,
    /// Why, for people.
    pub message: Option<String>,
}

impl From<JobStatus> for BuildJobStatus {
    fn from(s: JobStatus) -> Self {
        BuildJobStatus {
            conditions: s
                .conditions
                .unwrap_or_default()
                .into_iter()
                .map(|c| JobEnd {
                    type_: c.type_,
                    status: c.status,
                    reason: c.reason,
                    message: c.message,
                })
                .collect(),
            completion_time: s.completion_time,
        }
    }
}

/// What reconciles read of a build pod's status: its phase and each step's (container's)
/// end. A pod's full status holds every container's image, IDs, resources and states: several
/// KiB per running build.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BuildPodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed`.
    pub phase: Option<String>,
    /// The steps run as init containers, in order.
    pub init_container_statuses: Vec<StepStatus>,
    /// The steps run as containers.
    pub container_statuses: Vec<StepStatus>,
}

/// A container of a build pod (named after its step).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct StepStatus {
    /// The container's name.
    pub name: String,
    /// How it ended, once it has.
    pub state: StepState,
}

/// A container's state, as far as it ended.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct StepState {
    /// Set once the container has terminated.
    pub terminated: Option<StepEnd>,
}

/// How a container ended.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct StepEnd {
    /// Its exit code.
    pub exit_code: i32,
    /// Why, in a word (`OOMKilled`, `Error`, `Completed`).
    pub reason: Option<String>,
    /// Its termination message.
    pub message: Option<String>,
}

impl From<PodStatus> for BuildPodStatus {
    fn from(s: PodStatus) -> Self {
        let steps = |statuses: Option<Vec<ContainerStatus>>| {
            statuses
                .unwrap_or_default()
                .into_iter()
                .map(|c| StepStatus {
                    name: c.name,
                    state: StepState {
                        terminated: c.state.and_then(|s| s.terminated).map(|t| StepEnd {
                            exit_code: t.exit_code,
                            reason: t.reason,
                            message: t.message,
                        }),
                    },
                })
                .collect()
        };
        BuildPodStatus {
            phase: s.phase,
            init_container_statuses: steps(s.init_container_statuses),
            container_statuses: steps(s.container_statuses),
        }
    }
}

impl<K, S> Cached<K, S> {
    /// An object with this metadata and status.
    pub fn new(metadata: ObjectMeta, status: Option<S>) -> Self {
        Cached {
            metadata,
            status,
            kind: PhantomData,
        }
    }
}

impl<K, S> Resource for Cached<K, S>
where
    K: Resource<DynamicType = ()>,
{
    type DynamicType = ();
    type Scope = K::Scope;

    same_kind_as!(K);
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Decoded as [`Slim`] decodes it, so that it can be watched as its own kind.
impl<'de, K, S> Deserialize<'de> for Cached<K, S>
where
    Cached<K, S>: Slimmed,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Slim::<Self>::deserialize(deserializer).map(|Slim(cached)| cached)
    }
}

/// Only the entries of `keys` of a label or annotation map: the others (the Job
/// controller's four labels on every pod, say) are never read.
fn only(map: Option<BTreeMap<String, String>>, keys: &[&str]) -> Option<BTreeMap<String, String>> {
    map.map(|m| {
        m.into_iter()
            .filter(|(k, _)| keys.contains(&k.as_str()))
            .collect()
    })
}

/// Build Jobs: metadata (the labels and annotations reconciles read, owner references) and
/// status.
impl Slimmed for CachedJob {
    type Spec = IgnoredAny;
    type Status = BuildJobStatus;
    fn assemble(
        metadata: ObjectMeta,
        _: Option<IgnoredAny>,
        status: Option<BuildJobStatus>,
    ) -> Result<Self, String> {
        let metadata = ObjectMeta {
            labels: only(metadata.labels, &[labels::IMAGE, labels::COMPONENT]),
            annotations: only(
                metadata.annotations,
                &[
                    annotations::INPUTS_DIGEST,
                    annotations::REVISION,
                    annotations::CAUSE,
                    annotations::REBUILD_REQUESTED_AT,
                ],
            ),
            ..metadata
        };
        Ok(Cached::new(metadata, status))
    }
}

/// Build pods: the labels reconciles read, and status (annotations, owner references and the
/// uid are never read: a pod finds its image and Job by label).
impl Slimmed for CachedPod {
    type Spec = IgnoredAny;
    type Status = BuildPodStatus;
    fn assemble(
        metadata: ObjectMeta,
        _: Option<IgnoredAny>,
        status: Option<BuildPodStatus>,
    ) -> Result<Self, String> {
        let metadata = ObjectMeta {
            labels: only(
                metadata.labels,
                &[labels::BUILD, labels::COMPONENT, labels::IMAGE],
            ),
            annotations: None,
            owner_references: None,
            uid: None,
            ..metadata
        };
        Ok(Cached::new(metadata, status))
    }
}

/// GentooImages: all but managed fields.
impl Slimmed for GentooImage {
    type Spec = GentooImageSpec;
    type Status = GentooImageStatus;
    fn assemble(
        metadata: ObjectMeta,
        spec: Option<GentooImageSpec>,
        status: Option<GentooImageStatus>,
    ) -> Result<Self, String> {
        let spec = spec.ok_or("a GentooImage without a spec")?;
        Ok(GentooImage {
            metadata,
            spec,
            status,
        })
    }
}

/// GentooSites: all but managed fields.
impl Slimmed for GentooSite {
    type Spec = GentooSiteSpec;
    type Status = GentooSiteStatus;
    fn assemble(
        metadata: ObjectMeta,
        spec: Option<GentooSiteSpec>,
        status: Option<GentooSiteStatus>,
    ) -> Result<Self, String> {
        let spec = spec.ok_or("a GentooSite without a spec")?;
        Ok(GentooSite {
            metadata,
            spec,
            status,
        })
    }
}

/// Metadata of GentooImages (what the site controller reads of its images).
impl Slimmed for PartialObjectMeta<GentooImage> {
    type Spec = IgnoredAny;
    type Status = IgnoredAny;
    fn assemble(
        metadata: ObjectMeta,
        _: Option<IgnoredAny>,
        _: Option<IgnoredAny>,
    ) -> Result<Self, String> {
        Ok(PartialObjectMeta {
            types: None,
            metadata,
            _phantom: std::marker::PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn managed_fields() -> serde_json::Value {
        json!([{
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "batch/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:active": {}, "f:startTime": {}}},
        }])
    }

    #[test]
    fn a_job_keeps_metadata_and_status_and_drops_the_rest() {
        let text = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": "b-1",
                "namespace": "ns",
                "uid": "u-1",
                "resourceVersion": "42",
                "generation": 1,
                "creationTimestamp": "2026-11-25T00:00:00Z",
                "labels": {
                    "zentoo.dev/image": "web", "zentoo.dev/site": "demo",
                    "app.kubernetes.io/managed-by": "zentoo",
                },
                "annotations": {"zentoo.dev/inputs-digest": "sha256:ab", "other": "x"},
                "ownerReferences": [{
                    "apiVersion": "zentoo.dev/v1alpha1", "kind": "GentooImage",
                    "name": "web", "uid": "u-0", "controller": true,
                }],
                "finalizers": ["f"],
                "managedFields": managed_fields(),
                "selfLink": "/x",
            },
            "spec": {"template": {"spec": {"containers": [{"name": "build"}]}}},
            "status": {
                "active": 1, "startTime": "2026-11-25T00:00:00Z",
                "completionTime": "2026-11-25T00:10:00Z",
                "conditions": [{
                    "type": "Complete", "status": "True", "reason": "Done",
                    "lastProbeTime": "2026-11-25T00:10:00Z",
                    "lastTransitionTime": "2026-11-25T00:10:00Z",
                }],
            },
        })
        .to_string();
        let job: CachedJob = serde_json::from_str(&text).expect("a valid Job");
        let meta = &job.metadata;
        assert_eq!(meta.name.as_deref(), Some("b-1"));
        assert_eq!(meta.namespace.as_deref(), Some("ns"));
        assert_eq!(meta.uid.as_deref(), Some("u-1"));
        assert_eq!(meta.resource_version.as_deref(), Some("42"));
        assert_eq!(meta.generation, Some(1));
        assert!(meta.creation_timestamp.is_some());
        let only = |k: &str, v: &str| Some(BTreeMap::from([(k.to_string(), v.to_string())]));
        assert_eq!(meta.labels, only("zentoo.dev/image", "web"));
        assert_eq!(
            meta.annotations,
            only("zentoo.dev/inputs-digest", "sha256:ab")
        );
        assert_eq!(meta.owner_references.as_ref().map(Vec::len), Some(1));
        assert_eq!(meta.finalizers, Some(vec!["f".to_string()]));
        assert_eq!(meta.managed_fields, None);
        assert_eq!(meta.self_link, None);
        let status = job.status.expect("a status");
        assert!(status.completion_time.is_some());
        assert_eq!(
            status.conditions,
            vec![JobEnd {
                type_: "Complete".into(),
                status: "True".into(),
                reason: Some("Done".into()),
                message: None,
            }]
        );
    }

    #[test]
    fn a_pod_keeps_the_labels_read_and_status_but_not_annotations_owners_or_uid() {
        let text = json!({
            "metadata": {
                "name": "p", "uid": "p-1", "annotations": {"c": "d"},
                "labels": {
                    "zentoo.dev/build": "b-1", "zentoo.dev/site": "demo",
                    "job-name": "b-1", "controller-uid": "u",
                },
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "b-1", "uid": "u"}],
                "managedFields": managed_fields(),
                "deletionTimestamp": "2026-11-25T00:00:01Z",
            },
            "spec": {"containers": [{"name": "build", "image": "x"}]},
            "status": {
                "phase": "Running", "qosClass": "Burstable", "podIP": "10.0.0.1",
                "initContainerStatuses": [{
                    "name": "build", "image": "stage3", "imageID": "sha256:ab",
                    "containerID": "containerd://x", "ready": false, "restartCount": 0,
                    "state": {"terminated": {
                        "exitCode": 1, "reason": "OOMKilled", "message": "Killed",
                        "startedAt": "2026-11-25T00:00:00Z", "finishedAt": "2026-11-25T00:01:00Z",
                    }},
                    "lastState": {},
                }],
                "containerStatuses": [{
                    "name": "publish", "image": "zentoo", "imageID": "sha256:cd",
                    "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}},
                }],
            },
        })
        .to_string();
        let pod: CachedPod = serde_json::from_str(&text).expect("a valid Pod");
        assert_eq!(
            pod.metadata.labels,
            Some(BTreeMap::from([("zentoo.dev/build".into(), "b-1".into())]))
        );
        assert_eq!(pod.metadata.owner_references, None);
        assert_eq!(pod.metadata.uid, None);
        assert!(pod.metadata.deletion_timestamp.is_some());
        assert_eq!(pod.metadata.annotations, None);
        assert_eq!(pod.metadata.managed_fields, None);
        let end = StepEnd {
            exit_code: 1,
            reason: Some("OOMKilled".into()),
            message: Some("Killed".into()),
        };
        let step = |name: &str, terminated| StepStatus {
            name: name.into(),
            state: StepState { terminated },
        };
        assert_eq!(
            pod.status,
            Some(BuildPodStatus {
                phase: Some("Running".into()),
                init_container_statuses: vec![step("build", Some(end))],
                container_statuses: vec![step("publish", None)],
            })
        );
    }

    #[test]
    fn an_image_keeps_its_spec_and_status() {
        let text = json!({
            "apiVersion": "zentoo.dev/v1alpha1",
            "kind": "GentooImage",
            "metadata": {"name": "web", "managedFields": managed_fields()},
            "spec": {"siteRef": {"name": "s"}, "portage": "p", "set": "web"},
            "status": {"inputsDigest": "sha256:cd"},
        })
        .to_string();
        let Slim(image): Slim<GentooImage> = serde_json::from_str(&text).expect("an image");
        assert_eq!(image.spec.site_ref.name, "s");
        assert_eq!(image.spec.portage, "p");
        assert_eq!(
            image.status.and_then(|s| s.inputs_digest).as_deref(),
            Some("sha256:cd")
        );
        assert_eq!(image.metadata.managed_fields, None);
    }

    #[test]
    fn an_image_without_a_spec_is_an_error_not_a_default() {
        let text = json!({"metadata": {"name": "web"}}).to_string();
        let err = serde_json::from_str::<Slim<GentooImage>>(&text)
            .expect_err("no spec")
            .to_string();
        assert!(err.contains("without a spec"), "{err}");
    }

    #[test]
    fn a_bad_field_it_keeps_is_still_an_error() {
        let text = json!({"metadata": {"name": 5}, "status": {}}).to_string();
        assert!(serde_json::from_str::<CachedJob>(&text).is_err());
    }

    #[test]
    fn image_metadata_reads_the_metadata_api() {
        assert!(Slim::<PartialObjectMeta<GentooImage>>::metadata_api());
        assert!(!Slim::<GentooImage>::metadata_api());
        assert_eq!(Slim::<CachedJob>::plural(&()), "jobs");
        assert_eq!(
            CachedPod::url_path(&(), Some("ns")),
            "/api/v1/namespaces/ns/pods"
        );
        assert_eq!(
            CachedJob::url_path(&(), Some("ns")),
            "/apis/batch/v1/namespaces/ns/jobs"
        );
        assert_eq!(Slim::<GentooImage>::plural(&()), GentooImage::plural(&()));
    }
}
