//! Real `redis-server` processes (the Debian package) on loopback, started by the tests.
//!
//! A missing `redis-server` is a test failure, everywhere, like every external tool
//! ([`crate::tools`]).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fred::interfaces::KeysInterface;

/// Wait (up to 5 s) until `key` exists: the fire-and-forget write of a cache entry has landed.
pub async fn wait_for_key(client: &impl KeysInterface, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.exists::<u32, _>(key).await.unwrap() == 0 {
        assert!(Instant::now() < deadline, "{key} never written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The explicit, named opt-out of the Redis tests.
/// Whether `redis-server` can be run: always `true`, or a panic naming the package (a Redis
/// test never passes without Redis). See [`crate::tools::require`].
pub fn available() -> bool {
    crate::tools::require("redis-server", "redis-server");
    true
}

fn free_port() -> u16 {
    // A port whose cluster-bus twin (port + 10000) is free too.
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One `redis-server` on 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    /// Its port.
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    extra: Vec<String>,
    paused: bool,
}

impl RedisServer {
    /// Start a server on a free port (no persistence).
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Option<Self> {
        if !available() {
            return None;
        }
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("jwt-cache-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = RedisServer {
            port,
            child: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            paused: false,
        };
        s.spawn();
        Some(s)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", self.dir.to_str().unwrap()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server");
        self.child = Some(child);
        wait_ready(self.port);
    }

    /// `redis://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.paused {
                signal(c.id(), "CONT");
                self.paused = false;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.spawn();
    }

    /// Save a snapshot, kill it, and start it again on the same port from that snapshot (a
    /// restart that keeps its data).
    pub fn restart_with_data(&mut self) {
        let saved = self.command("SAVE");
        assert!(saved.starts_with("+OK"), "SAVE: {saved}");
        self.kill();
        self.spawn();
    }

    /// SIGSTOP: it keeps its connections but answers nothing.
    pub fn pause(&mut self) {
        signal(self.pid(), "STOP");
        self.paused = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self) {
        signal(self.pid(), "CONT");
        self.paused = false;
    }

    /// Send one command (inline protocol) and return the raw reply.
    pub fn command(&self, cmd: &str) -> String {
        command(self.port, cmd)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid}");
}

fn command(port: u16, cmd: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    let mut buf = [0u8; 65536];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            if s.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 16];
                if let Ok(n) = s.read(&mut buf)
                    && buf[..n].starts_with(b"+PONG")
                {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis-server on port {port} did not become ready");
}

/// A local Redis Cluster of `n` masters (no replicas), killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    /// The nodes.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Start `n` (≥ 3) cluster-enabled servers and join them with `redis-cli --cluster create`.
    pub fn start(n: usize) -> Option<Self> {
        Self::start_with_replicas(n, 0, 5000)
    }

    /// `masters` masters with `replicas` replicas each; a node is failed over after
    /// `node_timeout_ms` without an answer.
    pub fn start_with_replicas(
        masters: usize,
        replicas: usize,
        node_timeout_ms: u64,
    ) -> Option<Self> {
        let n = masters * (1 + replicas);
        let timeout = node_timeout_ms.to_string();
        let mut nodes = Vec::new();
        for _ in 0..n {
            // Each node has its own --dir, so one config file name serves all.
            nodes.push(RedisServer::start_with(&[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &timeout,
            ])?);
        }
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("running redis-cli --cluster create (package redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        if replicas > 0 {
            // Every replica attached and in sync before anyone relies on a failover.
            let deadline = Instant::now() + Duration::from_secs(30);
            while cluster
                .nodes
                .iter()
                .filter(|n| n.command("ROLE").contains("slave"))
                .count()
                < masters * replicas
                || cluster.nodes.iter().any(|n| {
                    n.command("INFO replication")
                        .contains("master_link_status:down")
                })
            {
                assert!(Instant::now() < deadline, "replicas never attached");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Some(cluster)
    }

    /// Wait until every running node says `cluster_state:ok`.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .all(|n| n.command("CLUSTER INFO").contains("cluster_state:ok"));
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "cluster did not reach state ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The index in [`nodes`](Self::nodes) of the master serving the slot of `hash_tag`.
    pub fn master_of(&self, hash_tag: &str) -> usize {
        self.serving(hash_tag)
            .unwrap_or_else(|| panic!("no connected master serves the slot of {hash_tag:?}"))
    }

    /// [`master_of`](Self::master_of), or `None` while no connected master serves the slot (a
    /// failover under way).
    pub fn serving(&self, hash_tag: &str) -> Option<usize> {
        let live = self
            .nodes
            .iter()
            .find(|n| n.child.is_some())
            .expect("a live node");
        let slot: u16 = live
            .command(&format!("CLUSTER KEYSLOT {hash_tag}"))
            .trim()
            .trim_start_matches(':')
            .parse()
            .expect("a slot");
        let nodes = live.command("CLUSTER NODES");
        for line in nodes.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 9
                || !f[2].contains("master")
                || f[2].contains("fail")
                || f[7] != "connected"
            {
                continue;
            }
            let serves = f[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().is_ok_and(|a| a <= slot)
                        && b.parse::<u16>().is_ok_and(|b| slot <= b)
                }
                None => range.parse::<u16>().is_ok_and(|s| s == slot),
            });
            if serves {
                let port: u16 = f[1]
                    .split(['@', ':'])
                    .nth(1)
                    .and_then(|p| p.parse().ok())
                    .expect("a port");
                return self.nodes.iter().position(|n| n.port == port);
            }
        }
        None
    }

    /// `redis-cluster://127.0.0.1:<p1>?node=127.0.0.1:<p2>&…`
    pub fn url(&self) -> String {
        let mut url = format!("redis-cluster://127.0.0.1:{}", self.nodes[0].port);
        for (i, n) in self.nodes.iter().enumerate().skip(1) {
            url.push(if i == 1 { '?' } else { '&' });
            url.push_str(&format!("node=127.0.0.1:{}", n.port));
        }
        url
    }
}

/// A Redis Sentinel (`redis-sentinel`) monitoring one master as `mymaster`, with a replica
/// when asked for one.
#[derive(Debug)]
pub struct RedisSentinel {
    /// The monitored master.
    pub master: RedisServer,
    /// Its replica, if started with one.
    pub replica: Option<RedisServer>,
    /// The sentinel process.
    sentinel: RedisServer,
}

impl RedisSentinel {
    /// Start a master and a sentinel watching it.
    pub fn start() -> Option<Self> {
        Self::start_with(false, 5000)
    }

    /// A master, a replica of it, and a sentinel that fails over after `down_after_ms`.
    pub fn start_with_replica(down_after_ms: u64) -> Option<Self> {
        Self::start_with(true, down_after_ms)
    }

    fn start_with(with_replica: bool, down_after_ms: u64) -> Option<Self> {
        let master = RedisServer::start()?;
        let replica = if with_replica {
            let port = master.port.to_string();
            let r = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port])?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while !r
                .command("INFO replication")
                .contains("master_link_status:up")
            {
                assert!(Instant::now() < deadline, "the replica never synced");
                std::thread::sleep(Duration::from_millis(50));
            }
            Some(r)
        } else {
            None
        };
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("jwt-cache-sentinel-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor mymaster 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds mymaster {down_after_ms}\n\
                 sentinel failover-timeout mymaster 10000\n",
                dir.display(),
                master.port
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server --sentinel");
        wait_ready(port);
        let sentinel = RedisServer {
            port,
            child: Some(child),
            dir,
            extra: Vec::new(),
            paused: false,
        };
        // Wait until the sentinel knows the master.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sentinel
            .command("SENTINEL get-master-addr-by-name mymaster")
            .contains(&master.port.to_string())
        {
            assert!(Instant::now() < deadline, "sentinel never saw the master");
            std::thread::sleep(Duration::from_millis(50));
        }
        if with_replica {
            // The sentinel must know the replica before it can promote it.
            let deadline = Instant::now() + Duration::from_secs(15);
            while !sentinel
                .command("SENTINEL replicas mymaster")
                .contains(&replica.as_ref().expect("replica").port.to_string())
            {
                assert!(Instant::now() < deadline, "sentinel never saw the replica");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Some(RedisSentinel {
            master,
            replica,
            sentinel,
        })
    }

    /// The port the sentinel names as the master now.
    pub fn master_port(&self) -> Option<u16> {
        let reply = self
            .sentinel
            .command("SENTINEL get-master-addr-by-name mymaster");
        // *2 $9 127.0.0.1 $5 <port>
        reply.lines().nth(4).and_then(|p| p.trim().parse().ok())
    }

    /// Kill the master and wait until the sentinel has promoted the replica.
    pub fn fail_over(&mut self) {
        let replica = self.replica.as_ref().expect("a replica").port;
        self.master.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.master_port() != Some(replica) {
            assert!(
                Instant::now() < deadline,
                "sentinel never promoted the replica"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self
            .replica
            .as_ref()
            .expect("replica")
            .command("ROLE")
            .contains("master")
        {
            assert!(
                Instant::now() < deadline,
                "the replica never took the master role"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis-sentinel://127.0.0.1:<sentinel port>/0?sentinelServiceName=mymaster`
    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://127.0.0.1:{}/0?sentinelServiceName=mymaster",
            self.sentinel.port
        )
    }
}
