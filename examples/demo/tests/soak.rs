//! The chaos soak: two demo processes (the layer over `TieredCache`, exactly as
//! `REDIS_URL=… cargo run -p jwt-cache-demo` runs) on loopback, under sustained load from a token
//! population — valid, revoked during the run, expired, expiring during the run, forged —
//! while Redis is broken on a schedule:
//!
//! - one node: killed and restarted empty, restarted with its data, paused (`SIGSTOP`) past the
//!   client timeouts, its pub/sub clients killed, `FLUSHALL`;
//! - Sentinel: a master and a replica, the master killed, the replica promoted;
//! - Cluster: 3 masters and 3 replicas, the master holding the revocation log's slot killed,
//!   its replica promoted.
//!
//! Per run it counts and asserts: valid tokens refused (0: the demo is fail-open, so never a
//! 401 nor a 503); revoked tokens accepted later than the freshness bound after their logout
//! returned (0); forged or expired tokens accepted (0); no request slower than the timeouts plus
//! a margin; each instance's resident memory flat within a margin. Each run prints its figures.
//!
//! `JWT_CACHE_SOAK_SECS` (default 6) is the time between two faults: the CI run takes about a
//! minute for the three topologies; `JWT_CACHE_SOAK_SECS=60` is a long run.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jwt_cache::jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwt_cache_tests::redis::{RedisCluster, RedisSentinel, RedisServer};
use jwt_cache_tests::tools::{Process, free_port};
use jwt_cache_tests::{AUD, ISS, keys, now};
use serde_json::json;

/// The demo's revocation freshness bound (`TieredCache`'s default) and the margin we allow on a
/// loaded two-core machine on top of it.
const BOUND: Duration = Duration::from_millis(1000);
const MARGIN: Duration = Duration::from_millis(1000);
/// The slowest a `GET /me` may be: the Redis timeouts (5 ms lookups) and the breaker keep
/// every request short; a second of margin for a shared machine.
const SLOWEST: Duration = Duration::from_millis(1500);
/// Resident memory may grow this much over a run (caches filling, allocator slack).
const RSS_MARGIN_KB: u64 = 48 * 1024;

fn phase() -> Duration {
    Duration::from_secs(
        std::env::var("JWT_CACHE_SOAK_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(6),
    )
}

/// One demo process (killed when the run ends).
struct Instance {
    process: Process,
    base: String,
}

impl Instance {
    async fn start(redis_url: &str, key_file: &std::path::Path) -> Instance {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_jwt-cache-demo"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("ADDR", format!("127.0.0.1:{port}"))
            .env("JWT_PUBLIC_KEY_FILE", key_file)
            .env("JWT_ALG", "RS256")
            .env("JWT_ISSUER", ISS)
            .env("JWT_AUDIENCE", AUD)
            .env("REDIS_URL", redis_url)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the demo binary");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/healthz")).await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "the demo did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Instance {
            process: Process::new(child, None),
            base,
        }
    }

    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// What a token is, and so what every answer to it must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Valid,
    /// Revoked during the run (index into the revocation times).
    ToRevoke(usize),
    Expired,
    /// `exp` during the run: refused once past it plus the validator's 60 s leeway.
    Expiring(u64),
    Forged,
}

struct Population {
    tokens: Vec<(Kind, String)>,
    revocations: Mutex<Vec<Revoked>>,
    to_revoke: usize,
    /// How many tokens to revoke the revoker has reached.
    progress: std::sync::atomic::AtomicUsize,
}

impl Population {
    /// The `n`-th pseudo-random pick: half valid tokens, a quarter among the tokens revoked so
    /// far and the next few, the rest expired, expiring and forged ones.
    fn pick(&self, n: usize) -> &(Kind, String) {
        let valid = 200;
        let revoking = valid..valid + self.to_revoke;
        let others = valid + self.to_revoke..self.tokens.len();
        let i = match n % 8 {
            0..=3 => n / 8 % valid,
            4 | 5 => {
                let reached = self.progress.load(Ordering::Relaxed) + 10;
                revoking.start + n / 8 % reached.min(self.to_revoke)
            }
            _ => others.start + n / 8 % others.len(),
        };
        &self.tokens[i]
    }
}

/// Where a token to revoke stands.
#[derive(Clone, Copy, Debug)]
enum Revoked {
    /// Not yet: it must be accepted.
    Not,
    /// A logout was sent (it may take effect before it answers, or fail half-way: Redis
    /// down): accepted or refused.
    Attempted,
    /// A logout answered 204 at this instant: refused everywhere past the bound.
    At(Instant),
}

fn sign(key: &EncodingKey, claims: serde_json::Value) -> String {
    jwt_cache::jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, key).unwrap()
}

fn population(run: &str) -> Population {
    let key = EncodingKey::from_rsa_pem(keys::RSA_PRIVATE).unwrap();
    let other = EncodingKey::from_rsa_pem(keys::RSA2_PRIVATE).unwrap();
    let t = now();
    let claims = |sub: String, exp: u64| json!({"sub": sub, "iss": ISS, "aud": AUD, "iat": t, "nbf": t - 1, "exp": exp, "jti": format!("{run}-{sub}")});
    let mut tokens = Vec::new();
    for i in 0..200 {
        tokens.push((
            Kind::Valid,
            sign(&key, claims(format!("valid{i}"), t + 3600)),
        ));
    }
    let to_revoke = 2000;
    for i in 0..to_revoke {
        tokens.push((
            Kind::ToRevoke(i),
            sign(&key, claims(format!("revoked{i}"), t + 3600)),
        ));
    }
    for i in 0..20 {
        tokens.push((
            Kind::Expired,
            sign(&key, claims(format!("expired{i}"), t - 120)),
        ));
        let exp = t + 2 + i;
        tokens.push((
            Kind::Expiring(exp),
            sign(&key, claims(format!("expiring{i}"), exp)),
        ));
        tokens.push((
            Kind::Forged,
            sign(&other, claims(format!("forged{i}"), t + 3600)),
        ));
    }
    Population {
        tokens,
        revocations: Mutex::new(vec![Revoked::Not; to_revoke]),
        to_revoke,
        progress: std::sync::atomic::AtomicUsize::new(0),
    }
}

/// The counts of a run.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    by_status: Mutex<HashMap<(String, u16), u64>>,
    violations: Mutex<Vec<String>>,
    slowest_ms: AtomicU64,
    logouts: AtomicU64,
    logouts_refused: AtomicU64,
    logouts_half_done: AtomicU64,
}

impl Tally {
    fn violation(&self, v: String) {
        let mut all = self.violations.lock().unwrap();
        if all.len() < 50 {
            all.push(v);
        }
    }
}

/// Load: `workers` loops of `GET /me` with a random token on a random instance, until `stop`.
fn load(
    bases: Arc<Vec<String>>,
    pop: Arc<Population>,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    workers: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|w| {
            let (bases, pop, tally, stop) =
                (bases.clone(), pop.clone(), tally.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let mut n: usize = w * 7919;
                while !stop.load(Ordering::Relaxed) {
                    n = n
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let (kind, token) = pop.pick(n >> 29);
                    let base = &bases[(n >> 17) % bases.len()];
                    let revoked_then = match kind {
                        Kind::ToRevoke(i) => pop.revocations.lock().unwrap()[*i],
                        _ => Revoked::Not,
                    };
                    let sent = Instant::now();
                    let sent_secs = now();
                    let status = match client
                        .get(format!("{base}/me"))
                        .bearer_auth(token)
                        .send()
                        .await
                    {
                        Ok(r) => r.status().as_u16(),
                        Err(_) => 0,
                    };
                    let took = sent.elapsed();
                    tally.requests.fetch_add(1, Ordering::Relaxed);
                    tally
                        .slowest_ms
                        .fetch_max(took.as_millis() as u64, Ordering::Relaxed);
                    if took > SLOWEST {
                        tally.violation(format!("{kind:?} on {base}: {took:?}"));
                    }
                    *tally
                        .by_status
                        .lock()
                        .unwrap()
                        .entry((
                            format!("{kind:?}").split('(').next().unwrap().to_owned(),
                            status,
                        ))
                        .or_default() += 1;
                    let wrong = match *kind {
                        Kind::Valid => status != 200,
                        Kind::ToRevoke(i) => {
                            // The state when the request was sent (a logout may land while
                            // it is in flight: read again after).
                            let after = pop.revocations.lock().unwrap()[i];
                            match (revoked_then, after) {
                                // Accepted past the bound after its logout returned.
                                (Revoked::At(at), _) if sent > at + BOUND + MARGIN => status != 401,
                                (Revoked::Not, Revoked::Not) => status != 200,
                                _ => status != 200 && status != 401,
                            }
                        }
                        Kind::Expired | Kind::Forged => status != 401,
                        Kind::Expiring(exp) if sent_secs > exp + 62 => status != 401,
                        Kind::Expiring(exp) if sent_secs + 2 < exp + 60 => status != 200,
                        Kind::Expiring(_) => status != 200 && status != 401,
                    };
                    if wrong {
                        tally.violation(format!("{kind:?} on {base}: {status}"));
                    }
                }
            })
        })
        .collect()
}

/// Revocations: every `every`, the next token to revoke is logged out on a random instance,
/// unless `quiet` (a data-losing fault is about to happen: a revocation Redis loses before
/// another instance could take it is lost by Redis, not by us).
fn revoker(
    bases: Arc<Vec<String>>,
    pop: Arc<Population>,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    quiet: Arc<AtomicBool>,
    every: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut next = 0;
        while !stop.load(Ordering::Relaxed) && next < pop.to_revoke {
            tokio::time::sleep(every).await;
            if quiet.load(Ordering::Relaxed) {
                continue;
            }
            let token = pop
                .tokens
                .iter()
                .find(|(k, _)| *k == Kind::ToRevoke(next))
                .map(|(_, t)| t.clone())
                .unwrap();
            let base = &bases[next % bases.len()];
            {
                let mut states = pop.revocations.lock().unwrap();
                if matches!(states[next], Revoked::Not) {
                    states[next] = Revoked::Attempted;
                }
            }
            let r = client
                .post(format!("{base}/logout"))
                .bearer_auth(&token)
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            match r.map(|r| r.status().as_u16()) {
                Ok(204) => {
                    pop.revocations.lock().unwrap()[next] = Revoked::At(Instant::now());
                    tally.logouts.fetch_add(1, Ordering::Relaxed);
                    next += 1;
                    pop.progress.store(next, Ordering::Relaxed);
                }
                // An earlier logout of this token failed half-way (kept by the instance that
                // took it, not written to Redis): that instance now refuses the token, so the
                // logout itself is refused. It stays "attempted"; the next token is revoked.
                Ok(401) => {
                    tally.logouts_half_done.fetch_add(1, Ordering::Relaxed);
                    next += 1;
                    pop.progress.store(next, Ordering::Relaxed);
                }
                // Redis could not take it (down, paused): the logout says so (503), and the
                // token is tried again later.
                _ => {
                    tally.logouts_refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    })
}

/// A fault, applied to the topology: its name and what it does.
type Fault<T> = (&'static str, bool, Box<dyn FnOnce(&mut T) + Send>);

/// Run the soak over `topology` with these faults, one per phase; every assertion at the end.
async fn soak<T: Send + 'static>(
    name: &str,
    url: String,
    mut topology: T,
    faults: Vec<Fault<T>>,
) -> T {
    let dir = std::env::temp_dir().join(format!("jwt-cache-soak-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("issuer.pem");
    std::fs::File::create(&key_file)
        .unwrap()
        .write_all(keys::RSA_PUBLIC)
        .unwrap();
    let instances = [
        Instance::start(&url, &key_file).await,
        Instance::start(&url, &key_file).await,
    ];
    let bases = Arc::new(instances.iter().map(|i| i.base.clone()).collect::<Vec<_>>());
    let pop = Arc::new(population(name));
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let quiet = Arc::new(AtomicBool::new(false));
    let phase = phase();
    let mut tasks = load(bases.clone(), pop.clone(), tally.clone(), stop.clone(), 4);
    tasks.push(revoker(
        bases.clone(),
        pop.clone(),
        tally.clone(),
        stop.clone(),
        quiet.clone(),
        Duration::from_millis(150),
    ));
    // Warm: every token seen once, caches filled; then the memory baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_start: Vec<u64> = instances.iter().map(Instance::rss_kb).collect();
    let started = Instant::now();
    let mut injected = Vec::new();
    for (fault, loses_data, apply) in faults {
        tokio::time::sleep(phase.saturating_sub(Duration::from_secs(2))).await;
        if loses_data {
            // No revocation in flight when Redis loses its data.
            quiet.store(true, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let t = Instant::now();
        let topology = &mut topology;
        tokio::task::block_in_place(|| apply(topology));
        injected.push(format!("{fault} ({:?})", t.elapsed()));
        quiet.store(false, Ordering::Relaxed);
    }
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let rss_end: Vec<u64> = instances.iter().map(Instance::rss_kb).collect();
    let by_status = tally.by_status.lock().unwrap().clone();
    let mut by_status: Vec<_> = by_status.into_iter().collect();
    by_status.sort();
    let violations = tally.violations.lock().unwrap().clone();
    eprintln!(
        "SOAK {name}: {:?}, {} requests, {} logouts ({} refused while Redis could not take them, \
         {} tokens left half-revoked by one), \
         faults: {injected:?}; answers by kind and status: {by_status:?}; slowest {} ms; \
         RSS kB start {rss_start:?} end {rss_end:?}; violations: {}",
        started.elapsed(),
        tally.requests.load(Ordering::Relaxed),
        tally.logouts.load(Ordering::Relaxed),
        tally.logouts_refused.load(Ordering::Relaxed),
        tally.logouts_half_done.load(Ordering::Relaxed),
        tally.slowest_ms.load(Ordering::Relaxed),
        violations.len(),
    );
    assert!(violations.is_empty(), "{name}: {violations:#?}");
    assert!(
        tally.logouts.load(Ordering::Relaxed) >= 10,
        "{name}: too few revocations to mean anything"
    );
    for (start, end) in rss_start.iter().zip(&rss_end) {
        assert!(
            *end <= start + RSS_MARGIN_KB,
            "{name}: resident memory grew from {start} kB to {end} kB"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    topology
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_one_node_killed_restarted_paused_cut_and_flushed() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let url = server.url();
    let faults: Vec<Fault<RedisServer>> = vec![
        ("killed, restarted empty", true, Box::new(|s| s.restart())),
        (
            "restarted with its data",
            false,
            Box::new(|s| s.restart_with_data()),
        ),
        (
            "paused (SIGSTOP) 3 s",
            false,
            Box::new(|s| {
                s.pause();
                std::thread::sleep(Duration::from_secs(3));
                s.resume();
            }),
        ),
        (
            "pub/sub clients killed",
            false,
            Box::new(|s| {
                let r = s.command("CLIENT KILL TYPE pubsub");
                assert!(r.starts_with(':'), "{r}");
            }),
        ),
        (
            "FLUSHALL",
            true,
            Box::new(|s| {
                let r = s.command("FLUSHALL");
                assert!(r.starts_with("+OK"), "{r}");
            }),
        ),
    ];
    soak("one-node", url, server, faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_sentinel_failover() {
    let Some(sentinel) = RedisSentinel::start_with_replica(500) else {
        return;
    };
    let url = sentinel.url();
    let faults: Vec<Fault<RedisSentinel>> = vec![(
        "master killed (the replica is promoted by Sentinel meanwhile)",
        true,
        Box::new(|s| s.master.kill()),
    )];
    let sentinel = soak("sentinel", url, sentinel, faults).await;
    assert_eq!(
        sentinel.master_port(),
        sentinel.replica.as_ref().map(|r| r.port),
        "Sentinel did not promote the replica"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_cluster_failover_of_the_revocation_logs_master() {
    let Some(cluster) = RedisCluster::start_with_replicas(3, 1, 1000) else {
        return;
    };
    let url = cluster.url();
    let faults: Vec<Fault<RedisCluster>> = vec![(
        "the master of the revocation log's slot killed, its replica promoted",
        true,
        Box::new(|c| {
            // The log's keys share the hash tag `rev` (`jwt:{rev}:…`).
            let i = c.master_of("rev");
            c.nodes[i].kill();
        }),
    )];
    let killed = cluster.master_of("rev");
    let cluster = soak("cluster", url, cluster, faults).await;
    let now = cluster.serving("rev");
    assert!(
        now.is_some_and(|m| m != killed),
        "the log's slot was not failed over: {now:?}"
    );
}
