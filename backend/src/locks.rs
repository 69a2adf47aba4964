//! Per-key async locks inside one process (e.g. one token refresh per adviser at a time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct KeyedLocks(Arc<Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>>);

impl KeyedLocks {
    pub fn for_key(&self, key: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().expect("locks");
        // Drop locks nobody holds so the map does not grow without bound.
        if map.len() > 1024 {
            map.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        map.entry(key).or_default().clone()
    }
}
