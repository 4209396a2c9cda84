//! An index of a watch cache by one label, so that a reconcile finds an image's Jobs or a
//! Job's pods without scanning every cached object (2,000 images each scanning 2,000 Jobs and
//! 2,000 pods made a restart's resync quadratic).
//!
//! The index holds names, the store holds objects. It is fed twice per watch event: before
//! the store applies it ([`LabelIndex::before`]) it only adds, after ([`LabelIndex::after`])
//! it removes what is gone, so that every object in the store is always in the index and a
//! lookup, read through the store, sees exactly the store's objects.

use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use kube::{Resource, ResourceExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// (namespace, name) of an object.
type Key = (String, String);

/// Names of objects by (namespace, value of one label); see the module docs.
#[derive(Clone)]
pub struct LabelIndex {
    label: &'static str,
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// Names per (namespace, label value), sorted: a superset of the store's objects. A few
    /// per group (an image's Jobs, a Job's pods): a vector, not a tree node per group.
    groups: HashMap<Key, Vec<String>>,
    /// The label value of each object in the store.
    values: HashMap<Key, String>,
    /// The values seen by a relist in progress (`Init` to `InitDone`).
    relist: Option<HashMap<Key, String>>,
}

impl State {
    fn add(&mut self, (namespace, name): &Key, value: &str) {
        let names = self
            .groups
            .entry((namespace.clone(), value.to_string()))
            .or_insert_with(|| Vec::with_capacity(1));
        if let Err(at) = names.binary_search(name) {
            names.insert(at, name.clone());
        }
    }

    fn remove(&mut self, (namespace, name): &Key, value: &str) {
        let group = (namespace.clone(), value.to_string());
        if let Some(names) = self.groups.get_mut(&group) {
            names.retain(|n| n != name);
            if names.is_empty() {
                self.groups.remove(&group);
            }
        }
    }
}

impl LabelIndex {
    /// An empty index by `label`.
    pub fn new(label: &'static str) -> Self {
        LabelIndex {
            label,
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than losing them: keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry<K: Resource>(&self, obj: &K) -> Option<(Key, String)> {
        let value = obj.meta().labels.as_ref()?.get(self.label)?;
        Some((key(obj)?, value.clone()))
    }

    /// Applies the additions of `event`: call before the store applies it.
    pub fn before<K: Resource>(&self, event: &Event<K>) {
        let mut state = self.state();
        match event {
            Event::Init => state.relist = Some(HashMap::new()),
            Event::Apply(obj) => {
                if let Some((key, value)) = self.entry(obj) {
                    state.add(&key, &value);
                }
            }
            Event::InitApply(obj) => {
                if let Some((key, value)) = self.entry(obj) {
                    state.add(&key, &value);
                    if let Some(relist) = state.relist.as_mut() {
                        relist.insert(key, value);
                    }
                }
            }
            Event::Delete(_) | Event::InitDone => {}
        }
    }

    /// Applies the removals of `event`: call after the store applies it.
    pub fn after<K: Resource>(&self, event: &Event<K>) {
        let mut state = self.state();
        match event {
            Event::Apply(obj) => {
                let Some(key) = key(obj) else { return };
                let now = self.entry(obj).map(|(_, value)| value);
                let before = match &now {
                    Some(value) => state.values.insert(key.clone(), value.clone()),
                    None => state.values.remove(&key),
                };
                if let Some(old) = before.filter(|old| Some(old) != now.as_ref()) {
                    state.remove(&key, &old);
                }
            }
            Event::Delete(obj) => {
                let Some(key) = key(obj) else { return };
                if let Some(old) = state.values.remove(&key) {
                    state.remove(&key, &old);
                }
            }
            Event::InitDone => {
                // The store now holds exactly the relist's objects.
                let values = state.relist.take().unwrap_or_default();
                state.groups.clear();
                for (key, value) in &values {
                    state.add(key, value);
                }
                state.values = values;
            }
            Event::Init | Event::InitApply(_) => {}
        }
    }

    /// Names of the objects in `namespace` whose label is `value`.
    pub fn names(&self, namespace: &str, value: &str) -> Vec<String> {
        self.state()
            .groups
            .get(&(namespace.to_string(), value.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The objects of `store` (the one this index is fed with) in `namespace` whose label is
    /// `value`.
    pub fn objects<K>(&self, store: &Store<K>, namespace: &str, value: &str) -> Vec<Arc<K>>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        self.names(namespace, value)
            .into_iter()
            .filter_map(|name| store.get(&ObjectRef::new(&name).within(namespace)))
            // The index may briefly hold an object whose label the store has seen change.
            .filter(|obj| obj.labels().get(self.label).map(String::as_str) == Some(value))
            .collect()
    }
}

/// (namespace, name) of `obj`; `None` for an object without a name.
fn key<K: Resource>(obj: &K) -> Option<Key> {
    let meta = obj.meta();
    Some((
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::Job;
    use kube::api::ObjectMeta;

    const LABEL: &str = "zentoo.dev/image";

    fn job(name: &str, image: Option<&str>) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                labels: image.map(|i| [(LABEL.to_string(), i.to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Job::default()
        }
    }

    /// Feeds `event` as a watch does: before the store, then after.
    fn feed(index: &LabelIndex, event: Event<Job>) {
        index.before(&event);
        index.after(&event);
    }

    #[test]
    fn finds_objects_by_label_value_and_namespace() {
        let index = LabelIndex::new(LABEL);
        feed(&index, Event::Apply(job("a-1", Some("a"))));
        feed(&index, Event::Apply(job("a-2", Some("a"))));
        feed(&index, Event::Apply(job("b-1", Some("b"))));
        feed(&index, Event::Apply(job("unlabelled", None)));
        assert_eq!(index.names("ns", "a"), ["a-1", "a-2"]);
        assert_eq!(index.names("ns", "b"), ["b-1"]);
        assert!(index.names("other", "a").is_empty());
        assert!(index.names("ns", "c").is_empty());
    }

    #[test]
    fn a_deleted_object_leaves_only_after_the_store_dropped_it() {
        let index = LabelIndex::new(LABEL);
        feed(&index, Event::Apply(job("a-1", Some("a"))));
        let delete = Event::Delete(job("a-1", Some("a")));
        index.before(&delete);
        assert_eq!(index.names("ns", "a"), ["a-1"], "still in the store");
        index.after(&delete);
        assert!(index.names("ns", "a").is_empty());
    }

    #[test]
    fn a_relabelled_object_is_in_both_groups_while_the_store_changes() {
        let index = LabelIndex::new(LABEL);
        feed(&index, Event::Apply(job("j", Some("a"))));
        let moved = Event::Apply(job("j", Some("b")));
        index.before(&moved);
        assert_eq!(index.names("ns", "a"), ["j"]);
        assert_eq!(index.names("ns", "b"), ["j"]);
        index.after(&moved);
        assert!(index.names("ns", "a").is_empty());
        assert_eq!(index.names("ns", "b"), ["j"]);
        feed(&index, Event::Apply(job("j", None)));
        assert!(index.names("ns", "b").is_empty(), "label removed");
    }

    #[test]
    fn a_relist_keeps_old_objects_until_it_is_done_then_holds_exactly_the_new_ones() {
        let index = LabelIndex::new(LABEL);
        feed(&index, Event::Apply(job("old", Some("a"))));
        feed(&index, Event::Apply(job("kept", Some("a"))));
        feed(&index, Event::Init);
        feed(&index, Event::InitApply(job("kept", Some("a"))));
        feed(&index, Event::InitApply(job("new", Some("a"))));
        assert_eq!(index.names("ns", "a"), ["kept", "new", "old"]);
        let done: Event<Job> = Event::InitDone;
        index.before(&done);
        assert_eq!(index.names("ns", "a"), ["kept", "new", "old"]);
        index.after(&done);
        assert_eq!(index.names("ns", "a"), ["kept", "new"]);
        // Later deletes still find their value.
        feed(&index, Event::Delete(job("new", Some("a"))));
        assert_eq!(index.names("ns", "a"), ["kept"]);
    }
}
