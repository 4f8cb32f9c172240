//! [`SingleFlight`]: concurrent callers asking for the same key share one run of the work.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared, WeakShared};

type Flights<K, T> = Mutex<HashMap<K, (u64, WeakShared<BoxFuture<'static, T>>)>>;

/// Runs at most one future per key at a time; callers that arrive while it runs get a handle
/// on the same future. The map holds weak handles only: when every caller has gone (their
/// requests were dropped) the work is dropped too and its entry removed, and a finished
/// flight removes its own entry, so the next caller starts afresh.
pub(crate) struct SingleFlight<K, T> {
    flights: Arc<Flights<K, T>>,
    ids: AtomicU64,
}

impl<K, T> Default for SingleFlight<K, T> {
    fn default() -> Self {
        SingleFlight {
            flights: Arc::new(Mutex::new(HashMap::new())),
            ids: AtomicU64::new(0),
        }
    }
}

impl<K, T> SingleFlight<K, T>
where
    K: Hash + Eq + Copy + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The flight under way for `key`, or a new one running `start()`; `joined` counts the
    /// callers that found one under way.
    pub(crate) fn join_or_start<F>(
        &self,
        key: K,
        joined: &AtomicU64,
        start: F,
    ) -> Shared<BoxFuture<'static, T>>
    where
        F: FnOnce() -> BoxFuture<'static, T>,
    {
        let mut map = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(flight) = under_way(&map, &key) {
            joined.fetch_add(1, Ordering::Relaxed);
            return flight;
        }
        let guard = self.landing(key);
        let id = guard.id;
        let work = start();
        let fut: BoxFuture<'static, T> = Box::pin(async move {
            let _guard = guard;
            work.await
        });
        enter(&mut map, key, id, fut)
    }

    /// Lead the flight for `key` on this thread, without a future, when none is under way:
    /// callers that arrive meanwhile join it (through [`join_or_start`](Self::join_or_start))
    /// and get what [`Lead::land`] hands them; a lead dropped without landing gives them
    /// `T::default()`. `None`: a flight is under way.
    pub(crate) fn lead(&self, key: K) -> Option<Lead<K, T>>
    where
        T: Default,
    {
        let mut map = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        if under_way(&map, &key).is_some() {
            return None;
        }
        let landing = self.landing(key);
        let (tx, rx) = tokio::sync::oneshot::channel::<T>();
        let fut: BoxFuture<'static, T> = Box::pin(async move { rx.await.unwrap_or_default() });
        let flight = enter(&mut map, key, landing.id, fut);
        Some(Lead {
            tx,
            _flight: flight,
            _landing: landing,
        })
    }

    /// A new flight's landing: a fresh id for `key`, whose entry it removes.
    fn landing(&self, key: K) -> Landing<K, T> {
        Landing {
            flights: Arc::downgrade(&self.flights),
            key,
            id: self.ids.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Flights under way (or abandoned and not yet cleaned up).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.flights.lock().unwrap().len()
    }
}

/// A flight led on the caller's thread ([`SingleFlight::lead`]); its entry leaves the map
/// when it is dropped.
pub(crate) struct Lead<K: Hash + Eq, T> {
    tx: tokio::sync::oneshot::Sender<T>,
    /// Keeps the joiners' handle alive while the leader works.
    _flight: Shared<BoxFuture<'static, T>>,
    _landing: Landing<K, T>,
}

impl<K: Hash + Eq, T> Lead<K, T> {
    /// Hand the result to every caller that joined.
    pub(crate) fn land(self, value: T) {
        let Lead { tx, .. } = self;
        let _ = tx.send(value);
    }
}

/// The flight under way for `key`, if any is still wanted.
fn under_way<K: Hash + Eq, T>(
    map: &HashMap<K, (u64, WeakShared<BoxFuture<'static, T>>)>,
    key: &K,
) -> Option<Shared<BoxFuture<'static, T>>> {
    map.get(key).and_then(|(_, weak)| weak.upgrade())
}

/// Enter `fut` as flight `id` for `key` (the map holds a weak handle) and hand it back shared.
fn enter<K: Hash + Eq, T: Clone>(
    map: &mut HashMap<K, (u64, WeakShared<BoxFuture<'static, T>>)>,
    key: K,
    id: u64,
    fut: BoxFuture<'static, T>,
) -> Shared<BoxFuture<'static, T>> {
    let flight = fut.shared();
    if let Some(weak) = flight.downgrade() {
        map.insert(key, (id, weak));
    }
    flight
}

/// Removes a flight's entry when the flight finishes or is dropped, unless a newer flight
/// for the same key has replaced it.
struct Landing<K: Hash + Eq, T> {
    flights: Weak<Flights<K, T>>,
    key: K,
    id: u64,
}

impl<K: Hash + Eq, T> Drop for Landing<K, T> {
    fn drop(&mut self) {
        if let Some(map) = self.flights.upgrade() {
            let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
            if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    fn counted(runs: &Arc<AtomicUsize>, value: u32) -> BoxFuture<'static, u32> {
        let runs = runs.clone();
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            value
        })
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_run() {
        let sf = SingleFlight::<u8, u32>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let joined = AtomicU64::new(0);
        let a = sf.join_or_start(1, &joined, || counted(&runs, 7));
        let b = sf.join_or_start(1, &joined, || counted(&runs, 8));
        let c = sf.join_or_start(2, &joined, || counted(&runs, 9));
        let (a, b, c) = tokio::join!(a, b, c);
        assert_eq!((a, b, c), (7, 7, 9));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(joined.load(Ordering::SeqCst), 1, "b joined a's flight");
        // A finished flight is gone: the next caller runs the work again.
        assert_eq!(sf.len(), 0);
        assert_eq!(
            sf.join_or_start(1, &joined, || counted(&runs, 10)).await,
            10
        );
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn abandoned_flights_are_dropped() {
        let sf = SingleFlight::<u8, u32>::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let joined = AtomicU64::new(0);
        let a = sf.join_or_start(1, &joined, || counted(&runs, 1));
        assert_eq!(sf.len(), 1);
        drop(a);
        // Every caller gone: the work was dropped with them and a new caller starts afresh.
        assert_eq!(sf.join_or_start(1, &joined, || counted(&runs, 2)).await, 2);
        assert_eq!(sf.len(), 0);
    }
}
