//! Compiled plugin versions, by digest (one compile serves every plugin that uploaded the
//! same bytes): at most [`COMPILED_VERSIONS`], the least recently used evicted first, except
//! the versions some plugin has active, which are always kept. An evicted version is
//! compiled again from storage when it is activated.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::CompiledPlugin;

/// How many compiled versions are kept, unless more are active.
pub(super) const COMPILED_VERSIONS: usize = 32;

/// Compiled versions by digest.
pub(super) struct CompiledVersions<V = Arc<CompiledPlugin>> {
    entries: HashMap<String, Entry<V>>,
    /// Ticks on every use; an entry's `used` is the tick of its last use.
    clock: AtomicU64,
    capacity: usize,
}

struct Entry<V> {
    value: V,
    used: AtomicU64,
}

impl<V: Clone> Default for CompiledVersions<V> {
    fn default() -> Self {
        Self::new(COMPILED_VERSIONS)
    }
}

impl<V: Clone> CompiledVersions<V> {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            clock: AtomicU64::new(0),
            capacity,
        }
    }

    /// The compiled version, counted as a use.
    pub(super) fn get(&self, digest: &str) -> Option<V> {
        let entry = self.entries.get(digest)?;
        entry.used.store(self.tick(), Ordering::Relaxed);
        Some(entry.value.clone())
    }

    /// Keeps `value` as the most recently used, then evicts the least recently used of
    /// those not `active` while there are more than the capacity.
    pub(super) fn insert(&mut self, digest: String, value: V, active: impl Fn(&str) -> bool) {
        let used = AtomicU64::new(self.tick());
        self.entries.insert(digest, Entry { value, used });
        while self.entries.len() > self.capacity {
            let Some(oldest) = self
                .entries
                .iter()
                .filter(|(digest, _)| !active(digest))
                .min_by_key(|(_, entry)| entry.used.load(Ordering::Relaxed))
                .map(|(digest, _)| digest.clone())
            else {
                return;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Forgets a version.
    pub(super) fn remove(&mut self, digest: &str) {
        self.entries.remove(digest);
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(cache: &CompiledVersions<u32>) -> Vec<&str> {
        let mut digests: Vec<&str> = cache.entries.keys().map(String::as_str).collect();
        digests.sort_unstable();
        digests
    }

    #[test]
    fn the_least_recently_used_version_is_evicted_first() {
        let mut cache = CompiledVersions::new(2);
        cache.insert("a".into(), 1, |_| false);
        cache.insert("b".into(), 2, |_| false);
        assert_eq!(cache.get("a"), Some(1));
        cache.insert("c".into(), 3, |_| false);
        assert_eq!(kept(&cache), ["a", "c"]);
    }

    #[test]
    fn active_versions_are_kept_past_the_capacity() {
        let mut cache = CompiledVersions::new(1);
        let active = |digest: &str| digest != "c";
        cache.insert("a".into(), 1, active);
        cache.insert("b".into(), 2, active);
        assert_eq!(kept(&cache), ["a", "b"]);
        cache.insert("c".into(), 3, active);
        assert_eq!(kept(&cache), ["a", "b"], "the only inactive one goes");
    }
}
