//! End to end with a real Prometheus (Debian package `prometheus`): the demo serves `/metrics`,
//! a Prometheus on loopback scrapes it every second with the repository's alert rules loaded,
//! and the counters are read back through Prometheus' HTTP API.
//!
//! Without a `prometheus` binary the test fails (`scripts/test.sh` installs the package when it
//! runs as root).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jwt_cache_example_support::{Vars, from_vars};

fn prometheus() -> Option<PathBuf> {
    Some(jwt_cache_tests::tools::require("prometheus", "prometheus"))
}

/// The Prometheus process, killed (and its directory removed) when the test ends.
type Running = jwt_cache_tests::tools::Process;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One number from an instant query (`None`: no sample yet).
async fn query(client: &reqwest::Client, base: &str, promql: &str) -> Option<f64> {
    let body: serde_json::Value = client
        .post(format!("{base}/api/v1/query"))
        .form(&[("query", promql)])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let value = body["data"]["result"].get(0)?["value"][1].as_str()?;
    value.parse().ok()
}

/// Poll `promql` until it equals `want` (scrapes are every second), or fail after 30 s.
async fn until(client: &reqwest::Client, base: &str, promql: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while Instant::now() < deadline {
        last = query(client, base, promql).await;
        if last == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{promql}: wanted {want}, Prometheus says {last:?}");
}

#[tokio::test]
async fn prometheus_scrapes_the_demo_and_reads_the_counters_back() {
    let Some(bin) = prometheus() else {
        return;
    };
    // The demo, in dev mode, with its /metrics.
    let config = from_vars("demo", &Vars::from_pairs([])).await.unwrap();
    let dev = config.issuer.clone().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let demo = listener.local_addr().unwrap();
    let app = jwt_cache_demo::app(config.auth, config.issuer)
        .merge(jwt_cache_demo::metrics_route(config.telemetry));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Prometheus, scraping it every second, with our rules.
    let dir = std::env::temp_dir().join(format!("jwt-cache-prometheus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/prometheus/jwt-cache.rules.yml")
        .canonicalize()
        .unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: demo\n    static_configs:\n      - targets: ['{demo}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let running = Running::new(child, Some(dir));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = client.get(format!("{base}/-/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus not ready; its log: {}",
            std::fs::read_to_string(running.dir().unwrap().join("prometheus.log"))
                .unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Traffic: one token five times (a miss, then hits), two forged tokens, one request
    // without a token.
    let me = format!("http://{demo}/me");
    let token = dev.token("alice", Duration::from_secs(600));
    for _ in 0..5 {
        let r = client.get(&me).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..2 {
        let r = client
            .get(&me)
            .bearer_auth("eyJhbGciOiJub25lIn0.e30.c2ln")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    assert_eq!(client.get(&me).send().await.unwrap().status(), 401);

    let expected = [
        (
            r#"sum(jwt_cache_requests_total{job="demo",outcome="accepted"})"#,
            5.0,
        ),
        (
            r#"sum(jwt_cache_lookups_total{job="demo",tier="in_process",result="hit"})"#,
            4.0,
        ),
        (
            r#"sum(jwt_cache_requests_total{job="demo",outcome="rejected"})"#,
            3.0,
        ),
        (
            r#"sum(jwt_cache_requests_total{job="demo",outcome="rejected",reason="missing_token"})"#,
            1.0,
        ),
        (
            r#"sum(jwt_cache_validation_duration_seconds_count{job="demo",result="valid"})"#,
            1.0,
        ),
    ];
    for (promql, want) in expected {
        until(&client, &base, promql, want).await;
    }

    // Prometheus loaded the rules and evaluates them without error.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rules: serde_json::Value = client
            .get(format!("{base}/api/v1/rules"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let group = &rules["data"]["groups"][0];
        assert_eq!(group["name"], "jwt-cache", "{rules}");
        let all = group["rules"].as_array().unwrap().clone();
        assert_eq!(all.len(), 8);
        if all.iter().all(|r| r["health"] == "ok") {
            break;
        }
        assert!(Instant::now() < deadline, "rules unhealthy: {all:#?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    drop(running);
}

/// Every `jwt_cache_…` name that the alert rules, crates/jwt-cache/guide/operations.md and the Grafana dashboard
/// use: each must be a metric the demo exports (one naming scheme in code, docs, rules and
/// dashboards).
fn names_in(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("jwt_cache_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        // A recording rule (`jwt_cache:…`) never matches; a name cut by `*` or `…` in prose
        // ends in `_`.
        let name = &tail[..end];
        if !name.ends_with('_') {
            out.insert(name.to_owned());
        }
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn every_metric_named_by_the_rules_the_operations_guide_and_the_dashboard_is_exported() {
    let Some(redis) = jwt_cache_tests::redis::RedisServer::start() else {
        return;
    };
    let (issuer, base) = jwt_cache_example_issuer::Issuer::spawn(|_| {})
        .await
        .unwrap();
    // The demo with everything that has instruments: a JWKS source (discovery), the tiered
    // cache on Redis.
    let url = redis.url();
    let config = from_vars(
        "demo",
        &Vars::from_pairs([
            ("JWT_ISSUER_URL", base.as_str()),
            ("JWT_AUDIENCE", "jwt-cache-demo"),
            ("REDIS_URL", url.as_str()),
            (
                "JWT_CACHE_INTEGRITY_KEY",
                "9f2c4e1a7b3d8c60e5f14a2b9c7d3e8f",
            ),
        ]),
    )
    .await
    .unwrap();
    let token = issuer.token("alice");
    let claims = config.auth.authenticate(&token).await;
    assert!(claims.is_ok(), "{claims:?}");
    let exported_text = config.telemetry.text().unwrap();
    let mut exported: std::collections::BTreeSet<String> = exported_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect();
    // A histogram is exported as its series; the docs name the histogram itself.
    let histograms: Vec<String> = exported
        .iter()
        .filter_map(|n| n.strip_suffix("_bucket").map(str::to_owned))
        .collect();
    exported.extend(histograms);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in [
        "deploy/prometheus/jwt-cache.rules.yml",
        "deploy/grafana/jwt-cache.json",
        "crates/jwt-cache/guide/operations.md",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let named = names_in(&text);
        assert!(named.len() > 5, "{file}: {named:?}");
        for name in named {
            assert!(
                exported.contains(&name),
                "{file} names {name}, which the demo does not export; it exports:\n{exported:#?}"
            );
        }
    }
}
