//! The trigger facts of invocations in flight, by request id, bounded so that ids nobody takes (an extension
//! that never asks, invocations that crash) cannot grow it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::trigger::TriggerInfo;

/// A shared, bounded map from request id to [`TriggerInfo`]. Cloning shares the map.
#[derive(Debug, Clone)]
pub struct TriggerStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    triggers: HashMap<String, TriggerInfo>,
    /// Responses that came before their event was parsed (the parse runs after the event is forwarded, so a
    /// very quick function can win the race): applied when the event arrives.
    early_responses: HashMap<String, (Vec<u8>, bool)>,
    /// Insertion order, oldest first, for eviction; may hold ids already taken.
    order: VecDeque<String>,
    evicted: u64,
}

impl TriggerStore {
    /// A store that keeps at most `capacity` invocations (at least one); past that the oldest is dropped.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        TriggerStore {
            inner: Arc::new(Mutex::new(Inner {
                capacity,
                triggers: HashMap::new(),
                early_responses: HashMap::new(),
                order: VecDeque::new(),
                evicted: 0,
            })),
        }
    }

    /// Takes the trigger facts of `request_id`, leaving nothing behind. Take them once the invocation is over
    /// (after its `platform.runtimeDone`): by then the response, and so the HTTP status, has been seen.
    pub fn take(&self, request_id: &str) -> Option<TriggerInfo> {
        let mut inner = self.lock();
        inner.early_responses.remove(request_id);
        inner.triggers.remove(request_id)
    }

    /// How many invocations are held.
    pub fn len(&self) -> usize {
        self.lock().triggers.len()
    }

    /// Whether no invocation is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many invocations were dropped unread to stay within the capacity.
    pub fn evicted(&self) -> u64 {
        self.lock().evicted
    }

    pub(crate) fn insert(&self, request_id: String, mut info: TriggerInfo) {
        let mut inner = self.lock();
        if let Some((prefix, complete)) = inner.early_responses.remove(&request_id) {
            info.record_response(&prefix, complete);
        }
        if inner.triggers.insert(request_id.clone(), info).is_none() {
            inner.order.push_back(request_id);
        }
        inner.evict_over_capacity();
    }

    pub(crate) fn record_response(&self, request_id: &str, prefix: Vec<u8>, complete: bool) {
        let mut inner = self.lock();
        if let Some(info) = inner.triggers.get_mut(request_id) {
            info.record_response(&prefix, complete);
            return;
        }
        if inner.early_responses.len() >= inner.capacity {
            inner.early_responses.clear();
        }
        inner.early_responses.insert(request_id.to_string(), (prefix, complete));
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves the maps consistent (every change is one call).
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn evict_over_capacity(&mut self) {
        while self.triggers.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else { break };
            if self.triggers.remove(&oldest).is_some() {
                self.evicted += 1;
            }
        }
        // Ids taken earlier stay in `order` until here: drop them before the queue outgrows the map.
        if self.order.len() > 2 * self.capacity {
            let triggers = &self.triggers;
            self.order.retain(|id| triggers.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::trigger::{extract_trigger, TriggerInfo};
    use super::*;

    fn http_api() -> TriggerInfo {
        extract_trigger(br#"{"version":"2.0","rawPath":"/","requestContext":{"http":{"method":"GET"}}}"#)
    }

    #[test]
    fn take_returns_each_invocation_once() {
        let store = TriggerStore::new(4);
        store.insert("a".into(), TriggerInfo::other());
        assert_eq!(store.len(), 1);
        assert_eq!(store.take("a"), Some(TriggerInfo::other()));
        assert_eq!(store.take("a"), None);
        assert!(store.is_empty());
    }

    #[test]
    fn the_oldest_is_evicted_past_the_capacity() {
        let store = TriggerStore::new(2);
        for id in ["a", "b", "c"] {
            store.insert(id.into(), TriggerInfo::other());
        }
        assert_eq!((store.take("a"), store.evicted(), store.len()), (None, 1, 2));
        assert!(store.take("b").is_some() && store.take("c").is_some());
        // Taken ids never count against the capacity.
        for round in 0..20 {
            let id = format!("r{round}");
            store.insert(id.clone(), TriggerInfo::other());
            assert!(store.take(&id).is_some());
        }
        assert_eq!(store.evicted(), 1);
        assert!(store.lock().order.len() <= 4);
    }

    #[test]
    fn a_response_before_its_event_is_applied_when_the_event_arrives() {
        let store = TriggerStore::new(2);
        store.record_response("a", br#"{"statusCode":404}"#.to_vec(), true);
        store.insert("a".into(), http_api());
        let info = store.take("a").unwrap();
        assert_eq!(info.attributes.last().unwrap().key, "http.response.status_code");
        store.record_response("b", b"ok".to_vec(), true);
        store.insert("b".into(), http_api());
        assert!(store.take("b").unwrap().attribute("http.response.status_code").is_some());
    }
}
