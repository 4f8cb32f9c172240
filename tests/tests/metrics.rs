//! OpenTelemetry metrics through the SDK's in-memory exporter: a hit, a miss, a rejection, a
//! revocation, a Redis fallback and a breaker opening each move exactly the instruments they
//! should, with the right attributes.

use std::collections::BTreeMap;
use std::time::Duration;

use jwt_cache::{JwtCacheLayer, MemoryCache};
use jwt_cache_redis::RedisCache;
use jwt_cache_tests::harness::Stack;
use jwt_cache_tests::redis::RedisServer;
use jwt_cache_tests::{AUD, CountingValidator, claims, rs256, rs256_validator};
use opentelemetry::metrics::MeterProvider;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

/// A meter provider whose collections land in memory.
struct Collected {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

type Snapshot = BTreeMap<String, f64>;

impl Collected {
    fn new() -> Self {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        Collected { provider, exporter }
    }

    fn meter(&self) -> opentelemetry::metrics::Meter {
        self.provider.meter("jwt-cache")
    }

    /// Every data point now, as `name{k=v,…}` → value (histograms: their count, as
    /// `name_count{…}`).
    fn snapshot(&self) -> Snapshot {
        self.exporter.reset();
        self.provider.force_flush().unwrap();
        let exported = self.exporter.get_finished_metrics().unwrap();
        let mut out = Snapshot::new();
        let Some(last) = exported.last() else {
            return out;
        };
        fn key<'a>(name: &str, attrs: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> String {
            let mut a: Vec<String> = attrs.map(|kv| format!("{}={}", kv.key, kv.value)).collect();
            a.sort();
            format!("{name}{{{}}}", a.join(","))
        }
        for scope in last.scope_metrics() {
            for m in scope.metrics() {
                let name = m.name();
                match m.data() {
                    AggregatedMetrics::U64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            out.insert(key(name, p.attributes()), p.value() as f64);
                        }
                    }
                    AggregatedMetrics::U64(MetricData::Gauge(g)) => {
                        for p in g.data_points() {
                            out.insert(key(name, p.attributes()), p.value() as f64);
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Gauge(g)) => {
                        for p in g.data_points() {
                            out.insert(key(name, p.attributes()), p.value());
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        for p in h.data_points() {
                            out.insert(
                                key(&format!("{name}_count"), p.attributes()),
                                p.count() as f64,
                            );
                        }
                    }
                    other => panic!("unexpected instrument {name}: {other:?}"),
                }
            }
        }
        out
    }
}

/// What changed between two snapshots.
fn diff(before: &Snapshot, after: &Snapshot) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0.0);
            (d != 0.0).then(|| (k.clone(), d))
        })
        .collect()
}

fn expect(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn a_miss_a_hit_a_rejection_and_a_revocation_move_exactly_their_instruments() {
    let m = Collected::new();
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .cache(MemoryCache::new(100))
        .meter(m.meter())
        .build();
    let auth = layer.authenticator().clone();
    let s = Stack::new(layer);
    let token = rs256(&claims("alice"));

    let before = m.snapshot();
    assert_eq!(s.send(Some(&token)).await.status, 200);
    let after = m.snapshot();
    assert_eq!(
        diff(&before, &after),
        expect(&[
            ("jwt_cache.lookups{result=miss,tier=in_process}", 1.0),
            ("jwt_cache.requests{outcome=accepted}", 1.0),
            (
                "jwt_cache.validation.duration_count{result=valid,validator=local}",
                1.0
            ),
            ("jwt_cache.validations{result=valid,validator=local}", 1.0),
        ]),
        "a miss"
    );

    let before = after;
    assert_eq!(s.send(Some(&token)).await.status, 200);
    let after = m.snapshot();
    assert_eq!(
        diff(&before, &after),
        expect(&[
            ("jwt_cache.lookups{result=hit,tier=in_process}", 1.0),
            ("jwt_cache.requests{outcome=accepted}", 1.0),
        ]),
        "a hit: no validation, no histogram"
    );

    let before = after;
    let forged = jwt_cache_tests::sign_with(
        jwt_cache::jsonwebtoken::Algorithm::RS256,
        &jwt_cache::jsonwebtoken::EncodingKey::from_rsa_pem(jwt_cache_tests::keys::RSA2_PRIVATE)
            .unwrap(),
        None,
        &claims("mallory"),
    );
    assert_eq!(s.send(Some(&forged)).await.status, 401);
    assert_eq!(s.send_headers(&[b"Bearer not a token"]).await.status, 401);
    assert_eq!(s.send(None).await.status, 401);
    let after = m.snapshot();
    assert_eq!(
        diff(&before, &after),
        expect(&[
            ("jwt_cache.lookups{result=miss,tier=in_process}", 1.0),
            (
                "jwt_cache.requests{outcome=rejected,reason=bad_signature}",
                1.0
            ),
            (
                "jwt_cache.requests{outcome=rejected,reason=invalid_request}",
                1.0
            ),
            (
                "jwt_cache.requests{outcome=rejected,reason=missing_token}",
                1.0
            ),
            (
                "jwt_cache.validation.duration_count{result=invalid,validator=local}",
                1.0
            ),
            ("jwt_cache.validations{result=invalid,validator=local}", 1.0),
        ]),
        "rejections, by reason; malformed headers never reach the cache or the validator"
    );

    let before = after;
    auth.revoke_token(&token).await.unwrap();
    assert_eq!(s.send(Some(&token)).await.status, 401);
    let after = m.snapshot();
    assert_eq!(
        diff(&before, &after),
        expect(&[
            // Logout removed the entry: the token is verified again (it is genuine) and
            // refused by the revocation check.
            ("jwt_cache.lookups{result=miss,tier=in_process}", 1.0),
            ("jwt_cache.requests{outcome=rejected,reason=revoked}", 1.0),
            ("jwt_cache.revocations{kind=jti}", 1.0),
            ("jwt_cache.revocations{kind=token}", 1.0),
            (
                "jwt_cache.validation.duration_count{result=valid,validator=local}",
                1.0
            ),
            ("jwt_cache.validations{result=valid,validator=local}", 1.0),
        ]),
        "a revocation, then the revoked token"
    );
}

#[tokio::test]
async fn a_redis_outage_moves_fallbacks_backend_errors_and_the_breaker() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let m = Collected::new();
    let v = CountingValidator::new(rs256_validator(AUD)).remote();
    let cache = RedisCache::connect(&server.url())
        .await
        .unwrap()
        .integrity_key(&jwt_cache_tests::integrity_key(7))
        .unwrap()
        .timeout(Duration::from_millis(150))
        .circuit_breaker(3, Duration::from_secs(30))
        .build();
    let layer = JwtCacheLayer::builder(v.clone())
        .cache(cache.clone())
        .meter(m.meter())
        .build();
    let s = Stack::new(layer);
    let token = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&token)).await.status, 200);
    let before = m.snapshot();
    assert_eq!(before["jwt_cache.breaker.state{backend=redis}"], 0.0);
    assert_eq!(before["jwt_cache.lookups{result=miss,tier=shared}"], 1.0);

    server.pause();
    for _ in 0..4 {
        assert_eq!(
            s.send(Some(&token)).await.status,
            200,
            "Redis down: direct validation"
        );
    }
    let after = m.snapshot();
    server.resume();
    let d = diff(&before, &after);
    assert_eq!(d["jwt_cache.requests{outcome=accepted}"], 4.0);
    assert_eq!(d["jwt_cache.breaker.state{backend=redis}"], 1.0, "{d:#?}");
    assert_eq!(d["jwt_cache.breaker.opened{backend=redis}"], 1.0, "{d:#?}");
    let timeouts = d["jwt_cache.backend.errors{backend=redis,kind=timeout}"];
    let skipped = d["jwt_cache.backend.errors{backend=redis,kind=breaker_open}"];
    assert!(timeouts >= 3.0, "{d:#?}");
    assert!(skipped >= 1.0, "{d:#?}");
    // Every failed lookup fell back to validating directly, and every revocation check that
    // followed failed too (fail-open: accepted, not cached).
    assert_eq!(d["jwt_cache.fallbacks{reason=lookup}"], 4.0, "{d:#?}");
    assert_eq!(
        d["jwt_cache.fallbacks{reason=revocation_check}"], 4.0,
        "{d:#?}"
    );
    assert_eq!(
        d["jwt_cache.validations{result=valid,validator=remote}"], 4.0,
        "{d:#?}"
    );
    assert!(
        !d.keys().any(|k| k.contains("lookups")),
        "no lookup answered: {d:#?}"
    );
    assert!(!d.keys().any(|k| k.contains("rejected")), "{d:#?}");
}

#[tokio::test]
async fn the_tiered_caches_revocation_view_reports_its_size_freshness_and_reloads() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let m = Collected::new();
    let l2 = RedisCache::connect(&server.url()).await.unwrap().build();
    let tiered = jwt_cache_redis::TieredCache::builder(l2)
        .freshness(Duration::from_secs(1))
        .start()
        .await
        .unwrap();
    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .cache(tiered)
        .meter(m.meter())
        .build();
    let auth = layer.authenticator().clone();
    let s = Stack::new(layer);
    let token = rs256(&claims("alice"));
    assert_eq!(s.send(Some(&token)).await.status, 200);
    let before = m.snapshot();
    assert_eq!(before["jwt_cache.revocation_view.entries{}"], 0.0);
    assert_eq!(before["jwt_cache.revocation_view.fresh{}"], 1.0);
    // Fresh means confirmed within the bound (probes run every bound / 4).
    assert!(
        before["jwt_cache.revocation_view.age{}"] < 1.0,
        "{before:#?}"
    );
    assert!(
        before["jwt_cache.revocation_view.reloads{}"] >= 1.0,
        "loaded at start"
    );

    auth.revoke_token(&token).await.unwrap();
    assert_eq!(s.send(Some(&token)).await.status, 401);
    let after = m.snapshot();
    // The token's marker and its jti.
    assert_eq!(
        after["jwt_cache.revocation_view.entries{}"], 2.0,
        "{after:#?}"
    );
    assert_eq!(
        diff(&before, &after)["jwt_cache.requests{outcome=rejected,reason=revoked}"],
        1.0
    );

    // Redis goes away: the view is no longer confirmed, its age grows past the bound.
    drop(server);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stale = m.snapshot();
    assert_eq!(
        stale["jwt_cache.revocation_view.fresh{}"], 0.0,
        "{stale:#?}"
    );
    assert!(stale["jwt_cache.revocation_view.age{}"] > 1.0, "{stale:#?}");
}

/// A writer into a shared buffer, for capturing what tracing prints.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn one_span_per_authentication_with_outcome_and_tier_and_never_the_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let layer = JwtCacheLayer::builder(rs256_validator(AUD))
        .cache(MemoryCache::new(100))
        .build();
    let s = Stack::new(layer.clone());
    let mut c = claims("alice");
    c["email"] = "alice.private@example.test".into();
    let token = rs256(&c);
    assert_eq!(s.send(Some(&token)).await.status, 200);
    assert_eq!(s.send(Some(&token)).await.status, 200);
    let expired = rs256(&{
        let mut c = claims("bob");
        c["exp"] = (jwt_cache_tests::now() - 3600).into();
        c
    });
    assert_eq!(s.send(Some(&expired)).await.status, 401);

    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The close line of each `jwt_cache.authenticate` span (not of the validation nested in it).
    let spans: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.contains("jwt_cache.authenticate{")
                && l.contains("close")
                && !l.contains("jwt_cache.validate")
        })
        .collect();
    assert_eq!(spans.len(), 3, "one span per authentication:\n{out}");
    assert!(
        spans[0].contains("outcome=\"accepted\"") && spans[0].contains("tier=\"validator\""),
        "{out}"
    );
    assert!(
        spans[1].contains("outcome=\"accepted\"") && spans[1].contains("tier=\"in_process\""),
        "{out}"
    );
    assert!(spans[2].contains("outcome=\"rejected\""), "{out}");
    assert!(out.contains("reason=\"expired\""), "{out}");
    // Never the token, any part of it, its hash, or personal claims.
    let key = layer.authenticator().cache_key(&token);
    for secret in [
        token.as_str(),
        token.split('.').nth(1).unwrap(),
        token.split('.').nth(2).unwrap(),
        expired.as_str(),
        &key.token.to_hex(),
        &jwt_cache::cache::SignedHash::of(&token).to_hex(),
        "alice",
        "alice.private@example.test",
        "bob",
    ] {
        assert!(!out.contains(secret), "{secret:?} in the trace:\n{out}");
    }
}
