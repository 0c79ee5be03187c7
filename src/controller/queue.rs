//! The keyed work queue: which key runs next, and when each key runs again.
//!
//! Invariants the controller relies on:
//! - a key is at most once in the ready queue (enqueueing is idempotent);
//! - a key handed out by [`WorkQueue::next`] is not handed out again before [`WorkQueue::done`];
//!   a key enqueued meanwhile is remembered and runs once more right after;
//! - a parked key (terminal error) runs again only after [`WorkQueue::spec_changed`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::Backoff;

/// What a finished run means for the key's schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Disposition {
    /// Success: failures are forgotten; run again after the delay (drift check), if any.
    Succeeded { requeue_after: Option<Duration> },
    /// Transient failure: run again after the next backoff step.
    Retry,
    /// A dependency is not Ready: run again when [`WorkQueue::wake_dependents`] is called, or
    /// after the (shorter) dependency backoff, whichever comes first.
    WaitForDependency,
    /// Terminal failure: do not run again until the spec changes.
    Park,
    /// The resource is gone: drop everything known about the key.
    Forget,
}

/// Counts for metrics and status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub ready: usize,
    pub running: usize,
    pub scheduled: usize,
    pub parked: usize,
    pub waiting_for_dependency: usize,
}

struct Timer<K> {
    at: Instant,
    seq: u64,
    key: K,
}

impl<K> PartialEq for Timer<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<K> Eq for Timer<K> {}
impl<K> PartialOrd for Timer<K> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<K> Ord for Timer<K> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct State<K> {
    ready: VecDeque<K>,
    queued: HashSet<K>,
    running: HashSet<K>,
    /// Keys enqueued while running; `true` if that enqueue was a spec change.
    dirty: HashMap<K, bool>,
    /// The one pending timer per key; heap entries that disagree with it are stale.
    scheduled: HashMap<K, Instant>,
    timers: BinaryHeap<Reverse<Timer<K>>>,
    seq: u64,
    parked: HashSet<K>,
    failures: HashMap<K, u32>,
    waiting: HashSet<K>,
}

struct Inner<K> {
    state: Mutex<State<K>>,
    notify: Notify,
    backoff: Backoff,
    dependency_backoff: Backoff,
}

/// A keyed work queue with merging, per-key exclusion, timers, backoff and parking.
/// Cloning gives another handle to the same queue.
pub struct WorkQueue<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<K: fmt::Debug> fmt::Debug for WorkQueue<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue").finish_non_exhaustive()
    }
}

impl<K> WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + 'static,
{
    pub fn new(backoff: Backoff, dependency_backoff: Backoff) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    ready: VecDeque::new(),
                    queued: HashSet::new(),
                    running: HashSet::new(),
                    dirty: HashMap::new(),
                    scheduled: HashMap::new(),
                    timers: BinaryHeap::new(),
                    seq: 0,
                    parked: HashSet::new(),
                    failures: HashMap::new(),
                    waiting: HashSet::new(),
                }),
                notify: Notify::new(),
                backoff,
                dependency_backoff,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        // A panic while holding this lock can only come from a bug in this module; the state
        // is still structurally valid, so keep serving rather than poisoning every caller.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for `key` to be reconciled now, whatever the reason (file change, webhook, timer,
    /// manual request). Returns `false` if the key is parked after a terminal error: only
    /// [`WorkQueue::spec_changed`] wakes it.
    pub fn enqueue(&self, key: K) -> bool {
        let mut st = self.lock();
        if st.parked.contains(&key) {
            return false;
        }
        st.add_now(key, false);
        drop(st);
        self.inner.notify.notify_one();
        true
    }

    /// Asks for `key` to be reconciled after `delay`; an earlier pending request wins.
    pub fn enqueue_after(&self, key: K, delay: Duration) -> bool {
        let mut st = self.lock();
        if st.parked.contains(&key) {
            return false;
        }
        st.schedule(key, Instant::now() + delay);
        drop(st);
        self.inner.notify.notify_one();
        true
    }

    /// The desired spec of `key` changed: unpark it, forget its failures, run it now.
    /// Call this when a resource's spec digest changes (including its removal from the
    /// manifests); call [`WorkQueue::enqueue`] otherwise.
    pub fn spec_changed(&self, key: K) {
        let mut st = self.lock();
        st.parked.remove(&key);
        st.failures.remove(&key);
        st.add_now(key, true);
        drop(st);
        self.inner.notify.notify_one();
    }

    /// Enqueues every key whose last run reported a dependency not Ready. The controller calls
    /// this whenever some resource becomes Ready, so dependents start without waiting out
    /// their backoff.
    pub fn wake_dependents(&self) {
        let mut st = self.lock();
        let waiting: Vec<K> = st.waiting.drain().collect();
        let woke = !waiting.is_empty();
        for key in waiting {
            st.add_now(key, false);
        }
        drop(st);
        if woke {
            self.inner.notify.notify_one();
        }
    }

    pub fn is_parked(&self, key: &K) -> bool {
        self.lock().parked.contains(key)
    }

    /// Consecutive failures of `key` since its last success or spec change.
    pub fn failures(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    pub fn stats(&self) -> QueueStats {
        let st = self.lock();
        QueueStats {
            ready: st.ready.len(),
            running: st.running.len(),
            scheduled: st.scheduled.len(),
            parked: st.parked.len(),
            waiting_for_dependency: st.waiting.len(),
        }
    }

    /// Waits for the next key that is due and marks it running. Cancel-safe: a key is only
    /// taken from the queue in the same poll that returns it. Meant for one consumer (the
    /// controller loop); the caller limits concurrency by not asking while it is full.
    pub async fn next(&self) -> K {
        loop {
            let deadline = {
                let mut st = self.lock();
                st.promote_due(Instant::now());
                if let Some(key) = st.ready.pop_front() {
                    st.queued.remove(&key);
                    st.running.insert(key.clone());
                    return key;
                }
                st.timers.peek().map(|Reverse(t)| t.at)
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        _ = self.inner.notify.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => self.inner.notify.notified().await,
            }
        }
    }

    /// Records the end of a run of `key` handed out by [`WorkQueue::next`] and returns when
    /// the key will run again on its own, if ever.
    pub fn done(&self, key: &K, disposition: Disposition) -> Option<Instant> {
        let mut st = self.lock();
        st.running.remove(key);
        st.waiting.remove(key);
        let now = Instant::now();
        match disposition {
            Disposition::Succeeded { requeue_after } => {
                st.failures.remove(key);
                if let Some(d) = requeue_after {
                    st.schedule(key.clone(), now + d);
                }
            }
            Disposition::Retry => {
                let n = st.bump_failures(key);
                st.schedule(key.clone(), now + self.inner.backoff.delay(n));
            }
            Disposition::WaitForDependency => {
                let n = st.bump_failures(key);
                st.waiting.insert(key.clone());
                st.schedule(key.clone(), now + self.inner.dependency_backoff.delay(n));
            }
            Disposition::Park => {
                st.bump_failures(key);
                st.scheduled.remove(key);
                st.parked.insert(key.clone());
            }
            Disposition::Forget => {
                st.failures.remove(key);
                st.scheduled.remove(key);
                st.parked.remove(key);
            }
        }
        if let Some(spec_changed) = st.dirty.remove(key) {
            if spec_changed {
                st.parked.remove(key);
                st.failures.remove(key);
            }
            if !st.parked.contains(key) {
                st.add_now(key.clone(), false);
            }
        }
        let next = if st.queued.contains(key) {
            Some(now)
        } else {
            st.scheduled.get(key).copied()
        };
        drop(st);
        self.inner.notify.notify_one();
        next
    }
}

impl<K: Clone + Eq + Hash> State<K> {
    fn add_now(&mut self, key: K, spec_changed: bool) {
        if self.running.contains(&key) {
            let flag = self.dirty.entry(key).or_insert(false);
            *flag |= spec_changed;
        } else if !self.queued.contains(&key) {
            self.scheduled.remove(&key);
            self.waiting.remove(&key);
            self.queued.insert(key.clone());
            self.ready.push_back(key);
        }
    }

    fn schedule(&mut self, key: K, at: Instant) {
        if self.queued.contains(&key) {
            return;
        }
        if self.scheduled.get(&key).is_some_and(|&prev| prev <= at) {
            return;
        }
        self.scheduled.insert(key.clone(), at);
        self.seq += 1;
        let seq = self.seq;
        self.timers.push(Reverse(Timer { at, seq, key }));
    }

    fn promote_due(&mut self, now: Instant) {
        while self.timers.peek().is_some_and(|Reverse(t)| t.at <= now) {
            let Some(Reverse(timer)) = self.timers.pop() else {
                break;
            };
            if self.scheduled.get(&timer.key) == Some(&timer.at) {
                self.scheduled.remove(&timer.key);
                self.add_now(timer.key, false);
            }
        }
        // Drop stale heap entries at the top so `next` does not wake up for them.
        while self
            .timers
            .peek()
            .is_some_and(|Reverse(t)| self.scheduled.get(&t.key) != Some(&t.at))
        {
            self.timers.pop();
        }
    }

    fn bump_failures(&mut self, key: &K) -> u32 {
        let n = self.failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }
}
