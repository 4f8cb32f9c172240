//! `jwt-cache-mint`: the benchmark's token populations. Writes `--count` RS256 access tokens,
//! one per line, for subjects `<prefix>-0` … (distinct tokens), shaped like the demo's (the
//! design note's claims: `sub`, `email`, `username`, plus `iss`, `aud`, `iat`, `nbf`, `exp`
//! (24 h), `jti`, `scope`), signed on every core.
//!
//! `jwt-cache-mint --key PEM --iss ISS --aud AUD --count N --prefix P --out FILE`

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};

fn main() {
    if let Err(e) = run() {
        eprintln!("jwt-cache-mint: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .ok_or_else(|| format!("{name} is required"))
    };
    let pem = std::fs::read(arg("--key")?).map_err(|e| format!("--key: {e}"))?;
    let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| format!("--key: {e}"))?;
    let (iss, aud, prefix) = (arg("--iss")?, arg("--aud")?, arg("--prefix")?);
    let count: usize = arg("--count")?
        .parse()
        .map_err(|e| format!("--count: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = |i: usize| {
        let sub = format!("{prefix}-{i}");
        let claims = serde_json::json!({
            "sub": sub,
            "email": format!("{sub}@example.test"),
            "username": sub,
            "iss": iss,
            "aud": aud,
            "iat": now,
            "nbf": now,
            "exp": now + 24 * 3600,
            "jti": format!("{:024x}", (now as u128) << 64 | i as u128),
            "scope": "read write",
        });
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
            .expect("signing with --key")
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunks: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || (t..count).step_by(threads).map(token).collect()))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let out = arg("--out")?;
    let mut file =
        std::io::BufWriter::new(std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?);
    // Back in subject order: token i came from worker i % threads.
    let mut iters: Vec<_> = chunks.into_iter().map(Vec::into_iter).collect();
    for i in 0..count {
        let t = iters[i % threads].next().expect("one token per subject");
        writeln!(file, "{t}").map_err(|e| format!("{out}: {e}"))?;
    }
    file.flush().map_err(|e| format!("{out}: {e}"))
}
