//! The Redis tier's instruments (feature `metrics`), registered by the authenticator through
//! `ClaimsCache::observe`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jwt_cache::metrics::{KeyValue, Meter, observe_counter, observe_gauge, observe_seconds};

use crate::breaker::CircuitBreaker;
use crate::stats::RedisStats;
use crate::view::RevocationView;

fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

fn redis_kind(kind: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("backend", "redis"),
        KeyValue::new("kind", kind),
    ]
}

/// `jwt_cache.backend.calls`, `jwt_cache.backend.errors{kind}`, `jwt_cache.breaker.state`,
/// `jwt_cache.breaker.opened`.
pub(crate) fn observe_redis(meter: &Meter, stats: &Arc<RedisStats>, breaker: &Arc<CircuitBreaker>) {
    observe_counter(
        meter,
        "jwt_cache.backend.calls",
        "Calls made to the cache backend (a pipeline counts once)",
        stats,
        |s: &RedisStats| vec![(get(&s.calls), vec![KeyValue::new("backend", "redis")])],
    );
    observe_counter(
        meter,
        "jwt_cache.backend.errors",
        "Backend failures by kind: timeout, error (connection, command), decode (a value refused: \
         undecodable, bad HMAC, past its not_after), breaker_open (call not made)",
        stats,
        |s: &RedisStats| {
            let timeouts = get(&s.timeouts);
            vec![
                (timeouts, redis_kind("timeout")),
                (get(&s.errors).saturating_sub(timeouts), redis_kind("error")),
                (get(&s.decode_errors), redis_kind("decode")),
                (get(&s.short_circuited), redis_kind("breaker_open")),
            ]
        },
    );
    observe_gauge(
        meter,
        "jwt_cache.breaker.state",
        "Circuit breaker: 1 open (the backend is skipped), 0 closed",
        breaker,
        |b: &CircuitBreaker| {
            vec![(
                u64::from(b.is_open()),
                vec![KeyValue::new("backend", "redis")],
            )]
        },
    );
    observe_counter(
        meter,
        "jwt_cache.breaker.opened",
        "Times the circuit breaker opened",
        breaker,
        |b: &CircuitBreaker| vec![(b.times_opened(), vec![KeyValue::new("backend", "redis")])],
    );
}

/// `jwt_cache.revocation_view.{entries,fresh,age,reloads,catch_ups,gaps}` of a tiered cache.
pub(crate) fn observe_view(meter: &Meter, view: &Arc<RevocationView>) {
    observe_gauge(
        meter,
        "jwt_cache.revocation_view.entries",
        "Live revocations replicated in this instance's memory",
        view,
        |v: &RevocationView| vec![(v.len() as u64, vec![])],
    );
    observe_gauge(
        meter,
        "jwt_cache.revocation_view.fresh",
        "1 while the replicated revocations are within their freshness bound (requests make no \
         network call), 0 while stale (every request asks Redis)",
        view,
        |v: &RevocationView| vec![(u64::from(v.is_fresh()), vec![])],
    );
    observe_seconds(
        meter,
        "jwt_cache.revocation_view.age",
        "Seconds since the replicated revocations were last confirmed current",
        view,
        |v: &RevocationView| v.age().map(|d| d.as_secs_f64()),
    );
    observe_counter(
        meter,
        "jwt_cache.revocation_view.reloads",
        "Full reloads of the replicated revocations (start, and after a gap the recent \
         announcements could not close)",
        view,
        |v: &RevocationView| vec![(get(&v.stats().reloads), vec![])],
    );
    observe_counter(
        meter,
        "jwt_cache.revocation_view.catch_ups",
        "Gaps closed from the recent announcements Redis keeps, without a reload",
        view,
        |v: &RevocationView| vec![(get(&v.stats().catch_ups), vec![])],
    );
    observe_counter(
        meter,
        "jwt_cache.revocation_view.gaps",
        "Sequence gaps seen on the revocation channel (each followed by a catch-up or a reload)",
        view,
        |v: &RevocationView| vec![(get(&v.stats().gaps), vec![])],
    );
}
