//! TieredCache against real redis-server processes on loopback: revocations reach every
//! instance in milliseconds, a late instance starts with them, a cut channel or a restarted
//! Redis never lets a revoked token through past the freshness bound, and the hot path of a
//! local validator sends nothing to Redis.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jwt_cache::{
    Authenticator, ClaimsCache, JwtCacheBuilder, RevocationUnavailable, StandardClaims,
};
use jwt_cache_redis::{RedisCache, TieredCache};
use jwt_cache_tests::redis::{RedisCluster, RedisServer};
use jwt_cache_tests::{AUD, claims, rs256, rs256_validator};

type Tiered = TieredCache<StandardClaims>;

async fn tiered(url: &str, freshness: Duration) -> Tiered {
    let l2 = RedisCache::<StandardClaims>::connect(url)
        .await
        .unwrap()
        .timeout(Duration::from_millis(500))
        .integrity_key(&jwt_cache_tests::integrity_key(4))
        .unwrap()
        .build();
    TieredCache::builder(l2)
        .freshness(freshness)
        .start()
        .await
        .unwrap()
}

/// An authenticator with the (local) RS256 test validator over `cache`.
fn auth(cache: Tiered) -> Authenticator<StandardClaims> {
    JwtCacheBuilder::new(rs256_validator(AUD))
        .cache(cache)
        .build_authenticator()
}

async fn accepted(a: &Authenticator<StandardClaims>, token: &str) -> bool {
    a.authenticate(token).await.is_ok()
}

/// Wait until `a` refuses `token`, polling every 0.2 ms; the time it took, or `None` past
/// `limit`.
async fn until_refused(
    a: &Authenticator<StandardClaims>,
    token: &str,
    since: Instant,
    limit: Duration,
) -> Option<Duration> {
    loop {
        if !accepted(a, token).await {
            return Some(since.elapsed());
        }
        if since.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_instance_is_refused_on_another_within_milliseconds() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    propagation(&server.url(), 100, "one node").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_propagate_the_same_way_on_a_cluster() {
    let Some(cluster) = RedisCluster::start(3) else {
        return;
    };
    // 100 samples, as on one node: with 30, the "p99" was the slowest single one.
    propagation(&cluster.url(), 100, "3-master cluster").await;
}

/// Revoke `n` tokens on one instance; measure how long until another refuses each, from its
/// view alone (the token is an L1 hit there and the view is fresh).
async fn propagation(url: &str, n: usize, what: &str) {
    let url = url.to_owned();
    let (ca, cb) = (
        tiered(&url, Duration::from_secs(1)).await,
        tiered(&url, Duration::from_secs(1)).await,
    );
    let (a, b) = (auth(ca), auth(cb.clone()));
    let reloads = cb.view().stats().reloads();
    let mut delays = Vec::new();
    for i in 0..n {
        let token = rs256(&claims(&format!("user{i}")));
        assert!(accepted(&b, &token).await, "token {i} accepted first");
        assert!(cb.view().is_fresh());
        let t0 = Instant::now();
        a.revoke_token(&token).await.unwrap();
        let d = until_refused(&b, &token, t0, Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("revocation {i} never reached the other instance"));
        delays.push(d);
    }
    delays.sort();
    let (p50, p99, max) = (
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays[delays.len() - 1],
    );
    eprintln!(
        "PROPAGATION ({what}) over {} revocations (revoke call to refusal on the other instance): p50 {p50:?}, p99 {p99:?}, max {max:?}",
        delays.len()
    );
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
    // Never a reload of the log. A gap can be counted without anything lost: on a cluster an
    // announcement now and then takes ~50 ms over the bus, and a probe that lands meanwhile
    // finds Redis ahead; the view then catches up from the recent announcements, which is
    // cheap. (With 100 samples that made `gaps == 0` fail about one run in six.)
    let stats = cb.view().stats();
    eprintln!(
        "VIEW: {} revocations held (each revoke_token holds the token and its jti); {} gaps, {} catch-ups, {} reloads since the start",
        cb.view().len(),
        stats.gaps(),
        stats.catch_ups(),
        stats.reloads() - reloads
    );
    assert_eq!(stats.reloads(), reloads, "the log was reloaded");
    assert_eq!(stats.resets(), 0);
}

#[tokio::test]
async fn an_instance_started_after_a_revocation_refuses_the_token_from_its_first_request() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let a = auth(tiered(&url, Duration::from_secs(1)).await);
    let token = rs256(&claims("alice"));
    let other = rs256(&claims("bob"));
    a.revoke_token(&token).await.unwrap();
    a.revoke_subject(
        "carol",
        std::time::SystemTime::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    let late = tiered(&url, Duration::from_secs(1)).await;
    assert!(late.view().is_fresh(), "loaded before the first request");
    let c = auth(late);
    assert!(!accepted(&c, &token).await);
    assert!(!accepted(&c, &rs256(&claims("carol"))).await);
    assert!(accepted(&c, &other).await);
}

/// Whether `a` refuses `token` by `deadline` (polling every 2 ms) and, once it does, keeps
/// refusing it at every one of 25 further polls (a view that flips back is caught).
async fn refused_by(a: &Authenticator<StandardClaims>, token: &str, deadline: Instant) -> bool {
    loop {
        if !accepted(a, token).await {
            break;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for _ in 0..25 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        if accepted(a, token).await {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_channel_or_a_restarted_redis_never_outlasts_the_freshness_bound() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let bound = Duration::from_millis(600);
    let (ca, cb) = (tiered(&url, bound).await, tiered(&url, bound).await);
    let (a, b) = (auth(ca), auth(cb.clone()));
    let reloads = |c: &Tiered| c.view().stats().reloads();
    let catch_ups = |c: &Tiered| c.view().stats().catch_ups();

    // The subscriber connections cut: a revocation made meanwhile is announced to nobody.
    let x = rs256(&claims("x"));
    assert!(accepted(&b, &x).await);
    let (before, caught_up) = (reloads(&cb), catch_ups(&cb));
    let killed = server.command("CLIENT KILL TYPE pubsub");
    assert!(!killed.starts_with("-"), "{killed}");
    let t0 = Instant::now();
    a.revoke_token(&x).await.unwrap();
    assert!(
        refused_by(&b, &x, t0 + bound + Duration::from_millis(400)).await,
        "refused within the bound"
    );
    // The view caught up from the announcements Redis keeps (what it missed, not the whole
    // log), and announcements flow again.
    until_fresh_after(
        &cb,
        catch_ups,
        caught_up,
        Duration::from_secs(3),
        "caught up",
    )
    .await;
    assert_eq!(reloads(&cb), before, "caught up without reloading the log");
    // Fresh, so the refusal comes from the view itself (no Redis call): it holds x.
    assert!(cb.view().is_fresh() && !accepted(&b, &x).await);
    let y = rs256(&claims("y"));
    assert!(accepted(&b, &y).await);
    let reloaded = reloads(&cb);
    let t0 = Instant::now();
    a.revoke_token(&y).await.unwrap();
    let d = until_refused(&b, &y, t0, Duration::from_secs(1)).await;
    assert!(d.is_some(), "propagation resumed");
    // By its announcement, not by a reload after the freshness bound: a count, not a time
    // (a loaded machine can take long, the path is what matters).
    assert_eq!(
        reloads(&cb),
        reloaded,
        "propagation resumed through the channel"
    );

    // Redis restarted (empty: no persistence here): the sequence numbers start again; a
    // revocation made after the restart reaches B within the bound, and what B held stays.
    let z = rs256(&claims("z"));
    assert!(accepted(&b, &z).await);
    server.restart();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(5);
    loop {
        if a.revoke_token(&z).await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "revocations never worked again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t1 = Instant::now();
    assert!(
        refused_by(&b, &z, t1 + bound + Duration::from_millis(600)).await,
        "a revocation made after a restart is enforced"
    );
    assert!(
        !accepted(&b, &x).await,
        "what B held before the restart stays"
    );
    // Whether a probe or the catch-up after the reconnection found it, the history changed.
    assert!(
        cb.view().stats().resets() >= 1,
        "the restart was not counted"
    );
}

/// `INFO commandstats` as command → calls.
fn commandstats(server: &RedisServer) -> HashMap<String, u64> {
    server
        .command("INFO commandstats")
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("cmdstat_")?;
            let (name, stats) = rest.split_once(':')?;
            let calls = stats.split(',').next()?.strip_prefix("calls=")?;
            Some((name.to_owned(), calls.parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn with_a_local_validator_hits_and_misses_send_nothing_to_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let freshness = Duration::from_secs(1);
    let cache = tiered(&server.url(), freshness).await;
    let b = auth(cache.clone());
    let warm = rs256(&claims("warm"));
    assert!(accepted(&b, &warm).await);
    let fresh_tokens: Vec<String> = (0..20)
        .map(|i| rs256(&claims(&format!("new{i}"))))
        .collect();
    let before = commandstats(&server);
    let t0 = Instant::now();
    for _ in 0..200 {
        assert!(accepted(&b, &warm).await); // L1 hits
    }
    for t in &fresh_tokens {
        assert!(accepted(&b, t).await); // L1 misses: validated locally
    }
    let elapsed = t0.elapsed();
    let after = commandstats(&server);
    let delta =
        |name: &str| after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0);
    // The only commands meanwhile: the view's probes of the log's position (one EVAL of two
    // GETs, every quarter of the freshness bound) and our own INFO.
    let probes = elapsed.as_millis() as u64 / (freshness.as_millis() as u64 / 4) + 2;
    for (name, _) in after.iter() {
        match name.as_str() {
            "eval" => assert!(
                delta("eval") <= probes,
                "{} EVALs for {probes} probes",
                delta("eval")
            ),
            "get" => assert!(
                delta("get") <= 2 * probes,
                "{} GETs for {probes} probes",
                delta("get")
            ),
            "info" => {}
            other => assert_eq!(delta(other), 0, "{other} sent on the hot path"),
        }
    }
    assert_eq!(cache.l2().stats().calls(), 0, "no cache call went to redis");
}

#[tokio::test]
async fn while_redis_is_down_past_the_bound_the_revocation_choice_applies() {
    for (mode, expected) in [
        (RevocationUnavailable::FailClosed, false),
        (RevocationUnavailable::FailOpen, true),
    ] {
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let bound = Duration::from_millis(300);
        let cache = tiered(&server.url(), bound).await;
        let a = JwtCacheBuilder::new(rs256_validator(AUD))
            .cache(cache.clone())
            .on_revocation_unavailable(mode)
            .build_authenticator();
        let revoked = rs256(&claims("revoked-here"));
        let cached = rs256(&claims("cached"));
        assert!(accepted(&a, &cached).await);
        a.revoke_token(&revoked).await.unwrap();
        server.kill();
        tokio::time::sleep(bound * 2).await;
        assert!(!cache.view().is_fresh(), "{mode:?}: the view went stale");
        let new = rs256(&claims("new"));
        assert_eq!(accepted(&a, &new).await, expected, "{mode:?}: a new token");
        // Revocations this instance made stay enforced from memory either way.
        assert!(!accepted(&a, &revoked).await, "{mode:?}");
    }
}

#[tokio::test]
async fn with_redis_and_the_auth_service_both_down_cached_tokens_follow_the_revocation_choice() {
    for (mode, expected) in [
        (RevocationUnavailable::FailOpen, true),
        (RevocationUnavailable::FailClosed, false),
    ] {
        let Some(mut server) = RedisServer::start() else {
            return;
        };
        let bound = Duration::from_millis(300);
        let cache = tiered(&server.url(), bound).await;
        // A remote validator (an auth service) that can be taken down.
        let v = jwt_cache_tests::CountingValidator::new(rs256_validator(AUD)).remote();
        let a = JwtCacheBuilder::new(v.clone())
            .cache(cache.clone())
            .on_revocation_unavailable(mode)
            .build_authenticator();
        let cached = rs256(&claims("cached"));
        assert!(accepted(&a, &cached).await);
        // Let the fire-and-forget fill of both tiers land.
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.kill();
        v.down.store(true, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(bound * 2).await;
        assert!(!cache.view().is_fresh(), "{mode:?}: the view went stale");
        let calls = v.calls();
        assert_eq!(
            accepted(&a, &cached).await,
            expected,
            "{mode:?}: the cached token"
        );
        assert_eq!(v.calls(), calls, "{mode:?}: the auth service was not asked");
        // A new token cannot be validated by anyone: 503, not a hang.
        let new = a.authenticate(&rs256(&claims("new"))).await.unwrap_err();
        assert_eq!(new.status(), 503, "{mode:?}");
    }
}

/// Security issue 17, item 1: Redis loses its data (here `FLUSHALL`; a failover to a lagging
/// replica or an eviction does the same) while A keeps its subscriber connection. B's next
/// revocations restart the sequence numbers at 1 and 2, which A had seen in the old history:
/// A must still take them (a reset of the log's history is detected by its identity, not its
/// numbers) within the freshness bound, and keep what it held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_after_redis_lost_its_data_reaches_an_instance_that_kept_its_connection()
{
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let bound = Duration::from_millis(600);
    let (ca, cb) = (tiered(&url, bound).await, tiered(&url, bound).await);
    let (a, b) = (auth(ca.clone()), auth(cb));
    // B revokes one token (its signed part and its jti: two revocations); A follows to 2.
    let first = rs256(&claims("first"));
    b.revoke_token(&first).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while ca.view().seq() < 2 {
        assert!(
            Instant::now() < deadline,
            "A never saw the first revocation"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let victim = rs256(&claims("victim"));
    assert!(accepted(&a, &victim).await, "an L1 hit on A from now on");
    let resets = || ca.view().stats().resets();
    let resets_before = resets();
    // Redis loses everything; A's connections stay up.
    assert_eq!(server.command("FLUSHALL").trim(), "+OK");
    // B revokes the victim: sequence numbers 1 and 2 again.
    let t0 = Instant::now();
    b.revoke_token(&victim).await.unwrap();
    assert!(
        refused_by(&a, &victim, t0 + bound + Duration::from_millis(400)).await,
        "A accepted a token revoked after the reset past the freshness bound"
    );
    // It stays refused, and what A held from the old history stays too.
    tokio::time::sleep(bound * 2).await;
    assert!(
        !accepted(&a, &victim).await,
        "the victim was accepted again"
    );
    assert!(
        !accepted(&a, &first).await,
        "a revocation held before the reset was lost"
    );
    assert!(resets() > resets_before, "the reset was not counted");
    assert!(ca.view().is_fresh(), "the view recovered");
}

// The view's own rules, each pinned without a reconnect doing the work (issue 18).

/// Write a revocation of `token` straight into the log, the way the revoke script does, but
/// announce it to nobody: a lost announcement, without any connection dropping.
fn revoke_silently(server: &RedisServer, token: &str, head: u64) {
    use base64::Engine;
    let member = format!(
        "t:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(jwt_cache::cache::SignedHash::of(token).0)
    );
    let until = jwt_cache::cache::now_ms() + 600_000;
    for cmd in [
        format!("ZADD jwt:{{rev}}:log {until} {member}"),
        "INCR jwt:{rev}:seq".to_owned(),
        format!("SET jwt:{{rev}}:head {head:016x}"),
    ] {
        let reply = server.command(&cmd);
        assert!(!reply.starts_with('-'), "{cmd}: {reply}");
    }
}

/// Wait until `count` of `c` has moved from `before` and its view is fresh again; fail after
/// `within`, saying the view never did `what`.
async fn until_fresh_after(
    c: &Tiered,
    count: impl Fn(&Tiered) -> u64,
    before: u64,
    within: Duration,
    what: &str,
) {
    let deadline = Instant::now() + within;
    while count(c) == before || !c.view().is_fresh() {
        assert!(Instant::now() < deadline, "the view never {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn gaps(c: &Tiered) -> u64 {
    c.view().stats().gaps()
}

/// A missed announcement is found by the next one (it does not follow the view's head, its
/// sequence number skips one): the view reloads at once. The freshness bound is long here, so
/// the periodic probe (every 15 s) cannot be what finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_announcement_is_found_by_the_next_one() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let long = Duration::from_secs(60);
    let (ca, cb) = (tiered(&url, long).await, tiered(&url, long).await);
    let (a, b) = (auth(ca.clone()), auth(cb));
    let lost = rs256(&claims("lost"));
    let next = rs256(&claims("next"));
    assert!(accepted(&a, &lost).await && accepted(&a, &next).await);
    let before = gaps(&ca);
    revoke_silently(&server, &lost, 0xabad_cafe);
    assert!(accepted(&a, &lost).await, "nothing announced it yet");
    let t0 = Instant::now();
    b.revoke_token(&next).await.unwrap();
    let d = until_refused(&a, &next, t0, Duration::from_secs(5)).await;
    assert!(d.is_some(), "the next announcement never arrived");
    let d = until_refused(&a, &lost, Instant::now(), Duration::from_secs(5)).await;
    assert!(
        d.is_some(),
        "the gap went unnoticed: the lost revocation is still accepted"
    );
    assert!(gaps(&ca) > before, "no gap counted");
}

/// A view whose missed announcements Redis does not keep (here a revocation written without
/// one, as by a writer of another version, or one trimmed from the list after more were made
/// than it holds) cannot catch up from them: what the list has does not follow the view's
/// head, so it reloads the whole log, and what it missed is enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_whose_missed_announcements_are_not_kept_reloads_the_log() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let bound = Duration::from_millis(400);
    let (ca, cb) = (tiered(&url, bound).await, tiered(&url, bound).await);
    let (a, b) = (auth(ca), auth(cb.clone()));
    // Announcements in the list first, so it is not simply empty.
    let y = rs256(&claims("y"));
    assert!(accepted(&b, &y).await);
    a.revoke_token(&y).await.unwrap();
    assert!(refused_by(&b, &y, Instant::now() + Duration::from_secs(3)).await);
    let x = rs256(&claims("x"));
    assert!(accepted(&b, &x).await);
    let (reloads, catch_ups) = (cb.view().stats().reloads(), cb.view().stats().catch_ups());
    revoke_silently(&server, &x, 0x5eed_f00d);
    until_fresh_after(
        &cb,
        |c| c.view().stats().reloads(),
        reloads,
        bound * 10,
        "reloaded",
    )
    .await;
    // Fresh, so the refusal comes from the view itself (no Redis call): the reload brought x.
    assert!(!accepted(&b, &x).await, "the missed revocation is enforced");
    assert_eq!(
        cb.view().stats().catch_ups(),
        catch_ups,
        "the list's last announcement is not the missed one: no catch-up"
    );
}

/// A catch-up that keeps failing (here the list is a key of another type, so the script
/// errors) is retried, then the view reloads: it is never left stale for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_that_keeps_failing_ends_in_a_reload() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let bound = Duration::from_millis(400);
    let cb = tiered(&url, bound).await;
    let b = auth(cb.clone());
    let x = rs256(&claims("x"));
    assert!(accepted(&b, &x).await);
    let reloads = cb.view().stats().reloads();
    let set = server.command("SET jwt:{rev}:recent not-a-list");
    assert!(set.starts_with("+OK"), "{set}");
    revoke_silently(&server, &x, 0x0dd_ba11);
    until_fresh_after(
        &cb,
        |c| c.view().stats().reloads(),
        reloads,
        bound * 20,
        "reloaded",
    )
    .await;
    assert!(!accepted(&b, &x).await, "the missed revocation is enforced");
    assert!(cb.view().stats().gaps() >= 1);
}

/// A burst of revocations larger than the subscriber's channel (fred keeps 32 messages) makes
/// a view lag; it closes each gap from the announcements Redis keeps, without reloading the
/// log, and ends up holding every revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_lagging_behind_a_burst_catches_up_without_reloading() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let long = Duration::from_secs(60);
    let (ca, cb) = (tiered(&url, long).await, tiered(&url, long).await);
    let a = ca.clone();
    let reloads = cb.view().stats().reloads();
    let n = 5_000u64;
    // All at once: fred pipelines them, faster than the other view's channel drains.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..n {
        let a = a.clone();
        writes.spawn(async move {
            let r = jwt_cache::cache::Revocation::Jti(format!("burst-{i}"));
            a.revoke(&r, Duration::from_secs(600)).await
        });
    }
    while let Some(r) = writes.join_next().await {
        r.unwrap().unwrap();
    }
    // Done when the view stands where Redis does and is confirmed there (holding every
    // revocation is not enough: an announcement that makes a gap is applied too).
    // A bulk reply: `$<len>`, then the number.
    let redis_seq = || {
        let reply = server.command("GET jwt:{rev}:seq");
        reply
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while cb.view().len() < n as usize || cb.view().seq() != redis_seq() || !cb.view().is_fresh() {
        assert!(
            Instant::now() < deadline,
            "the view holds {} of {n}, at {} of {}",
            cb.view().len(),
            cb.view().seq(),
            redis_seq()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = cb.view().stats();
    eprintln!(
        "BURST: {n} revocations; the other view: {} gaps, {} catch-ups, {} reloads after the first",
        stats.gaps(),
        stats.catch_ups(),
        stats.reloads() - reloads
    );
    assert!(
        stats.gaps() >= 1,
        "the burst made no gap: the test shows nothing"
    );
    assert_eq!(stats.reloads(), reloads, "a gap was closed by a reload");
    assert!(stats.catch_ups() >= 1);
}

/// With no announcement after the lost one, the periodic probe finds Redis ahead of the view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_finds_redis_ahead_of_the_view() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let bound = Duration::from_millis(400);
    let ca = tiered(&server.url(), bound).await;
    let a = auth(ca.clone());
    let lost = rs256(&claims("lost"));
    assert!(accepted(&a, &lost).await);
    let reloads = ca.view().stats().reloads();
    revoke_silently(&server, &lost, 0xabad_cafe);
    let t0 = Instant::now();
    assert!(
        refused_by(&a, &lost, t0 + bound * 10).await,
        "the probe never noticed Redis ahead of the view"
    );
    assert!(ca.view().stats().reloads() > reloads);
    assert!(gaps(&ca) >= 1);
}

/// An instance's own revocation is enforced by that instance at once, before (and without)
/// its announcement coming back: here Redis is stopped (SIGSTOP) when the revocation is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instances_own_revocation_is_enforced_at_once_without_redis() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let ca = tiered(&server.url(), Duration::from_secs(60)).await;
    let a = auth(ca.clone());
    let token = rs256(&claims("alice"));
    assert!(accepted(&a, &token).await);
    server.pause();
    // Redis cannot take the write: the call fails after its timeout, and says so...
    let written = a.revoke_token(&token).await;
    // ... but this instance refuses the token at once.
    let refused = !accepted(&a, &token).await;
    server.resume();
    assert!(written.is_err(), "the write could not have reached Redis");
    assert!(
        refused,
        "the instance's own revocation waited for an announcement"
    );
}
