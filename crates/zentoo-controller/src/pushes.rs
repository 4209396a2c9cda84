//! Pushes the site reconciler has not handled yet: a signed webhook delivery or a change of a
//! local repository's refs marks its site and wakes its reconcile at once. Kept in the
//! controller's memory, not on the GentooSite: the webhook needs no right to write sites, and a
//! push lost with a crashed leader is found by the next poll anyway.

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use kube::runtime::reflector::ObjectRef;
use std::collections::HashSet;
use std::sync::Mutex;
use zentoo_api::GentooSite;

/// The sites pushed to since their last check, and the trigger stream of the site controller.
pub struct Pushes {
    pushed: Mutex<HashSet<(String, String)>>,
    tx: UnboundedSender<ObjectRef<GentooSite>>,
    rx: Mutex<Option<UnboundedReceiver<ObjectRef<GentooSite>>>>,
}

impl Default for Pushes {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        Pushes {
            pushed: Mutex::new(HashSet::new()),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_string(), name.to_string())
}

impl Pushes {
    /// Marks site `namespace/name` as pushed to and wakes its reconcile.
    pub fn push(&self, namespace: &str, name: &str) {
        if let Ok(mut pushed) = self.pushed.lock() {
            pushed.insert(key(namespace, name));
        }
        let _ = self
            .tx
            .unbounded_send(ObjectRef::new(name).within(namespace));
    }

    /// The stream of pushed sites (once; `None` after).
    pub fn triggers(&self) -> Option<UnboundedReceiver<ObjectRef<GentooSite>>> {
        self.rx.lock().ok()?.take()
    }

    /// Whether site `namespace/name` was pushed to since [`Pushes::handled`].
    pub fn pushed(&self, namespace: &str, name: &str) -> bool {
        self.pushed
            .lock()
            .map(|p| p.contains(&key(namespace, name)))
            .unwrap_or(false)
    }

    /// The site starts checking its repository: pushes until now are handled (one arriving
    /// during the check marks it again).
    pub fn handled(&self, namespace: &str, name: &str) {
        if let Ok(mut pushed) = self.pushed.lock() {
            pushed.remove(&key(namespace, name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn a_push_marks_its_site_until_handled_and_wakes_it() {
        let pushes = Pushes::default();
        let mut triggers = pushes.triggers().expect("first take");
        assert!(pushes.triggers().is_none());
        pushes.push("ns", "a");
        assert!(pushes.pushed("ns", "a"));
        assert!(!pushes.pushed("ns", "b"));
        assert!(!pushes.pushed("other", "a"));
        assert_eq!(
            triggers.next().await,
            Some(ObjectRef::new("a").within("ns"))
        );
        pushes.handled("ns", "a");
        assert!(!pushes.pushed("ns", "a"));
    }
}
