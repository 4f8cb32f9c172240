//! The configuration's checks, before anything is read or connected: the variables we own
//! (known names, with the closest one for a misspelling), their consistency (no weaker mode
//! because of a mistake), and the syntax of the values.

use std::net::SocketAddr;
use std::str::FromStr;

use jwt_cache::jsonwebtoken::Algorithm;

use crate::Vars;

/// What a variable is for: whether it chooses how tokens are validated (any of those set means
/// "not dev mode"), and whether it gives what to validate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Where keys (or a remote validator) come from.
    Key,
    /// How tokens are validated, without saying with what.
    Validation,
    /// Anything else (cache, cookie, address).
    Other,
}

/// Every variable the examples read under the prefixes they own, with its role.
const VARIABLES: &[(&str, Role)] = &[
    ("JWT_PUBLIC_KEY_FILE", Role::Key),
    ("JWT_ALG", Role::Validation),
    ("JWT_ISSUER", Role::Validation),
    ("JWT_AUDIENCE", Role::Validation),
    ("JWT_ISSUERS", Role::Key),
    ("JWT_JWKS_URL", Role::Key),
    ("JWT_ISSUER_URL", Role::Key),
    ("JWT_COOKIE", Role::Other),
    ("JWT_COOKIE_ALLOWED_ORIGINS", Role::Other),
    ("JWT_CACHE_TTL", Role::Other),
    ("JWT_CACHE_INTEGRITY_KEY", Role::Other),
    ("JWT_CACHE_INTEGRITY_KEY_FILE", Role::Other),
    ("REDIS_URL", Role::Other),
    ("INTROSPECTION_URL", Role::Key),
    ("INTROSPECTION_CLIENT_ID", Role::Validation),
    ("INTROSPECTION_CLIENT_SECRET", Role::Validation),
    ("AUTH_GRPC_URL", Role::Key),
];

/// The names of the variables with one of these roles.
fn variables(roles: &[Role]) -> Vec<&'static str> {
    VARIABLES
        .iter()
        .filter(|(_, r)| roles.contains(r))
        .map(|(name, _)| *name)
        .collect()
}

/// Every variable the examples read, under the prefixes they own.
pub fn known_variables() -> Vec<&'static str> {
    variables(&[Role::Key, Role::Validation, Role::Other])
}

/// Variables of the test harness that share a prefix, and are not the examples' to refuse.
const HARNESS_VARIABLES: &[&str] = &["JWT_CACHE_SOAK_SECS"];

/// The prefixes whose unknown variables stop start-up.
const OWNED_PREFIXES: &[&str] = &["JWT_", "INTROSPECTION_", "REDIS_", "AUTH_"];

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Refuse a variable under our prefixes that we do not read: a misspelt name must stop the
/// service, never let it start in a weaker mode.
pub fn check_variables(vars: &Vars) -> Result<(), String> {
    let known = known_variables();
    let mut names = vars.names();
    names.sort();
    for name in names {
        if !OWNED_PREFIXES.iter().any(|p| name.starts_with(p))
            || known.contains(&name.as_str())
            || HARNESS_VARIABLES.contains(&name.as_str())
        {
            continue;
        }
        let closest = known
            .iter()
            .min_by_key(|k| edit_distance(&name, k))
            .copied()
            .unwrap_or_default();
        return Err(format!(
            "unknown variable {name} (did you mean {closest}?); known: {}",
            known.join(", ")
        ));
    }
    Ok(())
}

/// Whether nothing about validation is configured: the one case dev mode starts in.
pub fn is_dev_mode(vars: &Vars) -> bool {
    variables(&[Role::Key, Role::Validation])
        .iter()
        .all(|v| vars.get(v).is_none())
}

/// The configuration's consistency, before anything starts.
pub(crate) fn check_consistency(vars: &Vars) -> Result<(), String> {
    check_variables(vars)?;
    let set = |v: &&str| vars.get(v).is_some();
    let keys = variables(&[Role::Key]);
    let validation = variables(&[Role::Key, Role::Validation]);
    if !is_dev_mode(vars) && !keys.iter().any(set) {
        let given: Vec<&str> = validation.iter().copied().filter(set).collect();
        return Err(format!(
            "{} set, but nothing to validate tokens with: set one of {} (dev mode, with a \
             generated key, starts only when none of {} is set)",
            given.join(", "),
            keys.join(", "),
            validation.join(", ")
        ));
    }
    for v in ["INTROSPECTION_CLIENT_ID", "INTROSPECTION_CLIENT_SECRET"] {
        if vars.get(v).is_some() && vars.get("INTROSPECTION_URL").is_none() {
            return Err(format!("{v} is set without INTROSPECTION_URL"));
        }
    }
    if vars.get("INTROSPECTION_URL").is_some() && vars.get("JWT_AUDIENCE").is_none() {
        return Err(
            "INTROSPECTION_URL needs JWT_AUDIENCE: without it, tokens the authorization server \
             issued for any other API would be accepted here"
                .into(),
        );
    }
    for v in ["JWT_CACHE_INTEGRITY_KEY", "JWT_CACHE_INTEGRITY_KEY_FILE"] {
        if vars.get(v).is_some() && vars.get("REDIS_URL").is_none() {
            return Err(format!(
                "{v} is set without REDIS_URL (it authenticates claims in Redis)"
            ));
        }
    }
    if vars.get("JWT_COOKIE_ALLOWED_ORIGINS").is_some() && vars.get("JWT_COOKIE").is_none() {
        return Err("JWT_COOKIE_ALLOWED_ORIGINS is set without JWT_COOKIE".into());
    }
    Ok(())
}

/// A URL fit for a banner or a log line: user-info, query and fragment hidden.
pub fn shown_url(url: &str) -> String {
    jwt_cache::validator::redact_url(url)
}

/// `JWT_COOKIE_ALLOWED_ORIGINS`: `scheme://host[:port]` entries, comma-separated.
pub(crate) fn cookie_origins(vars: &Vars) -> Result<Vec<String>, String> {
    let Some(list) = vars.get("JWT_COOKIE_ALLOWED_ORIGINS") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            // scheme://host[:port], ASCII (it is compared with an `Origin` header). Found by
            // fuzzing: slicing past the scheme at a fixed byte offset split a multi-byte
            // character and panicked.
            let host = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
            let ok = host.is_some_and(|h| {
                !h.is_empty() && h.is_ascii() && !h.contains(['/', '@', '?', '#', ' '])
            });
            if ok {
                Ok(o.trim_end_matches('/').to_ascii_lowercase())
            } else {
                Err(format!(
                    "JWT_COOKIE_ALLOWED_ORIGINS entry {o:?}: expected an origin, scheme://host[:port]"
                ))
            }
        })
        .collect()
}

/// `JWT_ISSUERS` entries: `(issuer, algorithm, PEM file)` each, or what is wrong with one.
pub(crate) fn issuer_entries(spec: &str) -> Result<Vec<(&str, Algorithm, &str)>, String> {
    spec.split([',', ' '])
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let bad = || format!("JWT_ISSUERS entry {entry:?}: expected ISSUER=ALG:PEM_FILE");
            let (iss, rest) = entry.split_once('=').ok_or_else(bad)?;
            let (alg, path) = rest.split_once(':').ok_or_else(bad)?;
            if iss.is_empty() || path.is_empty() {
                return Err(bad());
            }
            let alg = Algorithm::from_str(alg)
                .map_err(|_| format!("JWT_ISSUERS: unknown algorithm {alg:?}"))?;
            Ok((iss, alg, path))
        })
        .collect()
}

/// What start-up checks before it reads a file or opens a connection: the variables (known
/// names, consistency), and the syntax of `ADDR`, `JWT_CACHE_TTL`, `JWT_ISSUERS`,
/// `JWT_COOKIE_ALLOWED_ORIGINS` and `JWT_ALG`. Untrusted text in, an error message out, never a
/// panic (a fuzz target and the tests run it).
pub fn check_configuration(vars: &Vars) -> Result<(), String> {
    check_consistency(vars)?;
    cookie_origins(vars)?;
    if let Some(addr) = vars.get("ADDR") {
        SocketAddr::from_str(&addr).map_err(|e| format!("bad address {addr:?}: {e}"))?;
    }
    if let Some(ttl) = vars.get("JWT_CACHE_TTL") {
        ttl.parse::<u64>()
            .map_err(|_| format!("JWT_CACHE_TTL {ttl:?}: expected seconds"))?;
    }
    if let Some(spec) = vars.get("JWT_ISSUERS") {
        issuer_entries(&spec)?;
    }
    if let Some(alg) = vars.get("JWT_ALG") {
        Algorithm::from_str(&alg).map_err(|_| format!("unknown JWT_ALG {alg:?}"))?;
    }
    Ok(())
}

/// The `configuration` fuzz target: `NAME=value` lines, checked by [`check_configuration`].
#[doc(hidden)]
pub fn fuzz_configuration(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let pairs: Vec<(&str, &str)> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let _ = check_configuration(&Vars::from_pairs(pairs));
}
