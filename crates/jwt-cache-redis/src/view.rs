//! [`RevocationView`]: every instance's in-process replica of the live revocations, kept
//! current through Redis pub/sub with sequence numbers, and trusted only while known fresh.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{EventInterface, LuaInterface, PubsubInterface};
use fred::types::Value;
use jwt_cache::cache::{RevocationSet, StoredRevocation, now_ms};

use crate::log::{
    Announcement, CATCH_UP_SCRIPT, POSITION_SCRIPT, Position, RevocationLog, SNAPSHOT_SCRIPT,
    parse_head,
};

/// Milliseconds on a monotonic clock (a wall-clock step must not extend a lease). Starts at 1.
fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// The replicated revocations of one instance, and how fresh they are known to be.
///
/// Loaded from Redis at start-up, then kept current by the announcements each revocation
/// publishes (one sequence number and one random id each; the log's *head* is the id of the
/// last one). The view is **fresh** for [`freshness`] after the last probe that found Redis's
/// sequence number **and** head equal to the view's; a probe runs every quarter of that. Any
/// gap (a skipped sequence number, an announcement that does not follow the view's head, a
/// lagged receiver, a reconnection, a probe that finds Redis elsewhere — ahead, behind, or on
/// another history after a data loss) makes the instance catch up before it trusts its view
/// again: from the last announcements Redis keeps, applied as if delivered (each must follow
/// the view's head), or, when those do not reach back far enough or do not follow, by
/// reloading the whole log (only live revocations); a reload merges, it never forgets a
/// revocation the view holds. While the view is not fresh, a
/// [`TieredCache`](crate::TieredCache) asks Redis on every request instead.
///
/// [`freshness`]: crate::TieredCacheBuilder::freshness
#[derive(Debug)]
pub struct RevocationView {
    set: Arc<RevocationSet>,
    seq: AtomicU64,
    /// The id of the last revocation applied (0: none): the history the view follows.
    head: AtomicU64,
    fresh_until: AtomicU64,
    /// When the view was last confirmed current (monotonic ms; 0: never).
    confirmed_at: AtomicU64,
    freshness_ms: u64,
    stats: ViewStats,
}

jwt_cache::counters! {
    /// Counters of a [`RevocationView`].
    pub struct ViewStats {
        /// Announcements applied.
        applied,
        /// Full reloads from the log (at start-up, and after a gap the recent announcements
        /// could not close).
        reloads,
        /// Gaps closed from the recent announcements Redis keeps, without a reload.
        catch_ups,
        /// Gaps detected (each followed by a catch-up or a reload).
        gaps,
        /// Probes of the sequence number that failed or timed out.
        probe_failures,
        /// Resets of the log's history detected (Redis lost data, failed over to a replica behind
        /// it, was flushed): each followed by a reload that keeps what the view held.
        resets,
    }
}

impl RevocationView {
    pub(crate) fn new(set: Arc<RevocationSet>, freshness: Duration) -> Self {
        RevocationView {
            set,
            seq: AtomicU64::new(0),
            head: AtomicU64::new(0),
            fresh_until: AtomicU64::new(0),
            confirmed_at: AtomicU64::new(0),
            freshness_ms: jwt_cache::cache::saturating_ms(freshness).max(1),
            stats: ViewStats::default(),
        }
    }

    /// Whether the view is known fresh now (within the freshness bound of its last
    /// confirmation).
    pub fn is_fresh(&self) -> bool {
        mono_ms() < self.fresh_until.load(Ordering::Acquire)
    }

    /// The sequence number of the last revocation applied.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Acquire)
    }

    /// The revocations held (replicated, and this instance's own).
    pub fn revocations(&self) -> &RevocationSet {
        &self.set
    }

    /// Number of revocations held: the gauge of the view's size.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no revocation is held.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> &ViewStats {
        &self.stats
    }

    fn stale(&self) {
        self.fresh_until.store(0, Ordering::Release);
    }

    /// Confirmed current as of `since` (when the confirming read was sent).
    fn confirm(&self, since: u64) {
        self.fresh_until
            .fetch_max(since + self.freshness_ms, Ordering::AcqRel);
        self.confirmed_at.fetch_max(since, Ordering::AcqRel);
    }

    /// How long ago the view was last confirmed current (`None`: never yet).
    pub fn age(&self) -> Option<Duration> {
        match self.confirmed_at.load(Ordering::Acquire) {
            0 => None,
            at => Some(Duration::from_millis(mono_ms().saturating_sub(at))),
        }
    }

    /// Where the view stands in the log's history.
    pub(crate) fn position(&self) -> Position {
        Position {
            seq: self.seq.load(Ordering::Acquire),
            head: self.head.load(Ordering::Acquire),
        }
    }

    fn set_position(&self, p: Position) {
        self.head.store(p.head, Ordering::Release);
        self.seq.store(p.seq, Ordering::Release);
    }

    /// Apply an announcement.
    fn apply(&self, a: &Announcement) -> Applied {
        let current = self.position();
        if a.seq == current.seq + 1 && a.prev == current.head {
            // Replicated revocations are never refused (the bound applies to this instance's
            // own): the view must not forget one.
            self.set
                .extend(std::iter::once((a.revocation, a.until_ms)), now_ms());
            self.set_position(Position {
                seq: a.seq,
                head: a.head,
            });
            self.stats.applied.fetch_add(1, Ordering::Relaxed);
            return Applied::Next;
        }
        // Still apply what it says (a revocation is never wrong to hold), but the view can no
        // longer say it is current.
        self.set
            .extend(std::iter::once((a.revocation, a.until_ms)), now_ms());
        if a.seq == current.seq && a.head == current.head {
            Applied::Seen
        } else if a.seq <= current.seq {
            // Replayed after a reload, or another history whose numbers started again: the
            // probe tells which, at once.
            Applied::Doubtful
        } else {
            Applied::Gap
        }
    }
}

/// What an announcement did to the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    /// It followed the view's head: the view moved on.
    Next,
    /// The view had it already (same sequence number, same id).
    Seen,
    /// Behind the view: an announcement delivered after the reload that included it, or one
    /// of another history (Redis lost data): probe now.
    Doubtful,
    /// Ahead of the view, or not following its head: reload.
    Gap,
}

/// Keeps one view current until the handle is dropped.
pub(crate) struct Replicator {
    pub(crate) view: Arc<RevocationView>,
    pub(crate) client: Client,
    pub(crate) subscriber: SubscriberClient,
    pub(crate) log: RevocationLog,
    pub(crate) timeout: Duration,
}

impl Replicator {
    /// Read the live log and the sequence number atomically, and replace the view with it.
    pub(crate) async fn reload(&self) -> Result<(), fred::error::Error> {
        let since = mono_ms();
        let now = now_ms();
        let snapshot = self
            .eval(
                SNAPSHOT_SCRIPT,
                vec![
                    self.log.seq.clone(),
                    self.log.log.clone(),
                    self.log.subjects.clone(),
                    self.log.head.clone(),
                ],
                vec![now.to_string()],
                "reload",
            )
            .await?;
        let (position, revocations) = parse_snapshot(snapshot).ok_or_else(|| {
            fred::error::Error::new(fred::error::ErrorKind::Parse, "revocation log snapshot")
        })?;
        // Merged, never replaced: a revocation this instance holds stays until it expires,
        // even if Redis lost it (a restart without persistence, a failover, a flush).
        self.view.set.extend(revocations, now);
        self.view.set_position(position);
        self.view.stats.reloads.fetch_add(1, Ordering::Relaxed);
        self.view.confirm(since);
        Ok(())
    }

    /// Close a gap from the announcements Redis keeps (`recent`): `Ok(true)` when the view
    /// then stands where Redis does (same sequence number, same head), each missed
    /// announcement applied in order and following the one before; `Ok(false)` when they do
    /// not reach back far enough or do not follow (another history): reload then. What was
    /// applied before a failure stays (a revocation is never wrong to hold).
    async fn catch_up(&self) -> Result<bool, fred::error::Error> {
        let since = mono_ms();
        let from = self.view.position();
        let answer = self
            .eval(
                CATCH_UP_SCRIPT,
                vec![
                    self.log.seq.clone(),
                    self.log.head.clone(),
                    self.log.recent.clone(),
                ],
                vec![from.seq.to_string()],
                "catch-up",
            )
            .await?;
        let Some((redis, missed)) = parse_catch_up(answer) else {
            return Ok(false);
        };
        // Found here rather than by a probe (after a reconnect, say): counted all the same.
        self.note_reset(redis, from);
        let Some(missed) = missed else {
            return Ok(false);
        };
        for event in &missed {
            let Some(a) = RevocationLog::parse_event(event) else {
                return Ok(false);
            };
            if self.view.apply(&a) != Applied::Next {
                return Ok(false);
            }
        }
        if self.view.position() != redis {
            return Ok(false);
        }
        self.view.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
        self.view.confirm(since);
        Ok(true)
    }

    /// Probe where the log stands: `Ok(true)` when the view is current (same sequence number,
    /// same head). A log behind the view, or on another history, counts a reset.
    async fn probe(&self) -> Result<bool, fred::error::Error> {
        let since = mono_ms();
        let answer = self
            .eval(
                POSITION_SCRIPT,
                vec![self.log.seq.clone(), self.log.head.clone()],
                Vec::new(),
                "probe",
            )
            .await?;
        let parse = || -> Option<Position> {
            let Value::Array(parts) = &answer else {
                return None;
            };
            let [seq, head] = parts.as_slice() else {
                return None;
            };
            parse_position(seq, head)
        };
        let Some(redis) = parse() else {
            return Err(fred::error::Error::new(
                fred::error::ErrorKind::Parse,
                "revocation log position",
            ));
        };
        let view = self.view.position();
        if redis == view {
            self.view.confirm(since);
            return Ok(true);
        }
        self.note_reset(redis, view);
        Ok(false)
    }

    /// Run one of the log's scripts, bounded by the timeout (`what` names it in the error).
    async fn eval(
        &self,
        script: &'static str,
        keys: Vec<String>,
        args: Vec<String>,
        what: &'static str,
    ) -> Result<Value, fred::error::Error> {
        tokio::time::timeout(self.timeout, self.client.eval(script, keys, args))
            .await
            .map_err(|_| fred::error::Error::new(fred::error::ErrorKind::Timeout, what))?
    }

    /// Count and log a reset when Redis stands behind the view, or at its sequence number on
    /// another head: the log's history changed.
    fn note_reset(&self, redis: Position, view: Position) {
        if redis.seq < view.seq || (redis.seq == view.seq && redis.head != view.head) {
            self.view.stats.resets.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                view_seq = view.seq,
                redis_seq = redis.seq,
                "revocation log history changed (Redis lost data, was flushed or failed over): reloading, keeping what this instance holds"
            );
        }
    }

    /// The replication loop: subscribe (fred resubscribes after reconnecting), load, then
    /// apply announcements and probe; reload after any gap.
    pub(crate) async fn run(self) {
        let mut messages = self.subscriber.message_rx();
        let mut reconnects = self.subscriber.reconnect_rx();
        let _resubscribe = self.subscriber.manage_subscriptions();
        let mut subscribed = false;
        let mut needs_reload = true;
        // Nothing to catch up from before the first load.
        let mut loaded = false;
        // Catch-ups that failed in a row (not "did not reach back": an error).
        let mut catch_up_errors = 0u32;
        let period = Duration::from_millis((self.view.freshness_ms / 4).max(5));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if !subscribed {
                // Subscribe before loading: an announcement made in between is then either in
                // the snapshot or delivered (and skipped or applied by its sequence number).
                subscribed = self
                    .subscriber
                    .subscribe(self.log.channel.clone())
                    .await
                    .is_ok();
            }
            // A catch-up that failed (a timeout, a lost connection: Redis is slow or away) is
            // tried again at the next tick, not turned into a reload at once: a reload is the
            // heaviest read there is (seconds with a million live revocations), and a fleet of
            // lagging views sending it to a struggling Redis would keep it busy. The view is
            // stale meanwhile, so requests ask Redis. After three errors in a row (the script
            // itself failing, say on a `recent` key of the wrong type), reload.
            let mut catch_up_failed = false;
            if subscribed && needs_reload && loaded {
                match self.catch_up().await {
                    Ok(true) => (needs_reload, catch_up_errors) = (false, 0),
                    Ok(false) => catch_up_errors = 0,
                    Err(e) => {
                        catch_up_errors += 1;
                        catch_up_failed = catch_up_errors < 3;
                        tracing::debug!(error = %e, "revocation view catch-up failed");
                    }
                }
            }
            if subscribed && needs_reload && !catch_up_failed {
                match self.reload().await {
                    Ok(()) => (needs_reload, loaded, catch_up_errors) = (false, true, 0),
                    Err(e) => tracing::debug!(error = %e, "revocation view reload failed"),
                }
            }
            tokio::select! {
                message = messages.recv() => match message {
                    Ok(m) => match self.apply_message(&m) {
                        Applied::Next | Applied::Seen => {}
                        Applied::Gap => {
                            self.gap();
                            needs_reload = true;
                        }
                        Applied::Doubtful if !needs_reload => {
                            // Probe now rather than at the next tick.
                            if !matches!(self.probe().await, Ok(true)) {
                                self.gap();
                                needs_reload = true;
                            }
                        }
                        Applied::Doubtful => {}
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        self.gap();
                        needs_reload = true;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                reconnect = reconnects.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = reconnect {
                        return;
                    }
                    // Announcements may have been missed while disconnected.
                    self.view.stale();
                    subscribed = false;
                    needs_reload = true;
                }
                _ = tick.tick() => {
                    if needs_reload {
                        continue;
                    }
                    match self.probe().await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Redis is ahead: give an announcement in flight a moment, then
                            // reload if it did not arrive.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            while let Ok(m) = messages.try_recv() {
                                if !matches!(self.apply_message(&m), Applied::Next | Applied::Seen) {
                                    break;
                                }
                            }
                            if !matches!(self.probe().await, Ok(true)) {
                                self.gap();
                                needs_reload = true;
                            }
                        }
                        Err(e) => {
                            self.view.stats.probe_failures.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(error = %e, "revocation view probe failed");
                        }
                    }
                }
            }
        }
    }

    /// Apply one announcement; one that does not parse is a gap (something was announced
    /// that the view could not read).
    fn apply_message(&self, m: &fred::types::Message) -> Applied {
        value_str(&m.value)
            .as_deref()
            .and_then(RevocationLog::parse_event)
            .map_or(Applied::Gap, |a| self.view.apply(&a))
    }

    fn gap(&self) {
        self.view.stale();
        self.view.stats.gaps.fetch_add(1, Ordering::Relaxed);
    }
}

/// [`parse_snapshot`] for the fuzz targets: the number of revocations read.
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_snapshot_for_fuzzing(v: Value) -> Option<usize> {
    parse_snapshot(v).map(|(_, revocations)| revocations.len())
}

/// [`parse_catch_up`] for the fuzz targets: how many of the answer's announcements parse.
#[cfg(feature = "fuzzing")]
pub(crate) fn parse_catch_up_for_fuzzing(v: Value) -> Option<usize> {
    parse_catch_up(v).map(|(_, events)| {
        events
            .unwrap_or_default()
            .iter()
            .filter(|e| RevocationLog::parse_event(e).is_some())
            .count()
    })
}

/// A sequence number (nil: none yet, 0) and a head as the position and catch-up scripts
/// return them. Untrusted input.
fn parse_position(seq: &Value, head: &Value) -> Option<Position> {
    let seq = match seq {
        Value::Null => 0,
        v => value_u64(v)?,
    };
    let head = parse_head(value_str(head).as_deref())?;
    Some(Position { seq, head })
}

/// `{seq, head, {event, …}}` → where the log stands and the announcements the view missed
/// (`None` inside: `recent` does not reach back far enough). Untrusted input.
fn parse_catch_up(v: Value) -> Option<(Position, Option<Vec<String>>)> {
    let Value::Array(parts) = v else {
        return None;
    };
    let (seq, head, events) = match parts.as_slice() {
        [seq, head] => (seq, head, None),
        [seq, head, Value::Array(events)] => (seq, head, Some(events)),
        _ => return None,
    };
    let position = parse_position(seq, head)?;
    let events = match events {
        None => None,
        Some(events) => Some(events.iter().map(value_str).collect::<Option<Vec<_>>>()?),
    };
    Some((position, events))
}

/// `{seq, {member, score, …}, {subject, before, …}, head}` → `(position, revocations)`.
/// Entries that do not parse are skipped, except that an unreadable subject time revokes the
/// whole subject.
fn parse_snapshot(v: Value) -> Option<(Position, Vec<(StoredRevocation, u64)>)> {
    let Value::Array(mut parts) = v else {
        return None;
    };
    if parts.len() != 4 {
        return None;
    }
    let head = parse_head(value_str(&parts.pop()?).as_deref())?;
    let subjects = parts.pop()?;
    let live = parts.pop()?;
    let seq = value_u64(&parts.pop()?)?;
    let mut before = std::collections::HashMap::new();
    if let Value::Array(kv) = subjects {
        for pair in kv.chunks(2) {
            if let [k, v] = pair
                && let Some(k) = value_str(k)
            {
                before.insert(k, value_u64(v));
            }
        }
    }
    let mut out = Vec::new();
    if let Value::Array(ms) = live {
        for pair in ms.chunks(2) {
            if let [m, score] = pair
                && let (Some(m), Some(until)) = (value_str(m), value_u64(score))
                && let Some(r) = RevocationLog::parse(&m, before.get(&m).copied().flatten())
            {
                out.push((r, until));
            }
        }
    }
    Some((Position { seq, head }, out))
}

fn value_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string()),
        Value::Bytes(b) => std::str::from_utf8(b).ok().map(str::to_owned),
        _ => None,
    }
}

fn value_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => u64::try_from(*i).ok(),
        Value::Double(d) if d.is_finite() && *d >= 0.0 => Some(*d as u64),
        other => {
            let s = value_str(other)?;
            s.parse::<u64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .map(|d| d as u64)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn a_catch_up_answer_parses_only_in_its_two_shapes() {
        let head = "00000000000000ff";
        let event = "3 t:AAAA 5 - - 00000000000000ff";
        assert_eq!(
            parse_catch_up(Value::Array(vec![
                Value::Integer(3),
                s(head),
                Value::Array(vec![s(event)])
            ])),
            Some((
                Position { seq: 3, head: 0xff },
                Some(vec![event.to_owned()])
            ))
        );
        // Not far enough back: the position alone, and the view reloads.
        assert_eq!(
            parse_catch_up(Value::Array(vec![Value::Integer(3), s("-")])),
            Some((Position { seq: 3, head: 0 }, None))
        );
        for bad in [
            Value::Null,
            Value::Array(vec![Value::Integer(3)]),
            Value::Array(vec![Value::Integer(-1), s(head)]),
            Value::Array(vec![Value::Integer(3), s("ff")]),
            Value::Array(vec![Value::Integer(3), s(head), s(event)]),
            Value::Array(vec![
                Value::Integer(3),
                s(head),
                Value::Array(vec![Value::Integer(1)]),
            ]),
            Value::Array(vec![
                Value::Integer(3),
                s(head),
                Value::Array(vec![]),
                Value::Null,
            ]),
        ] {
            assert_eq!(parse_catch_up(bad.clone()), None, "{bad:?}");
        }
    }
}
