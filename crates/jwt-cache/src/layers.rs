//! The crate's modules form layers: each imports only from the layers below it. This test
//! reads every `crate::…` path in the code (comments and doc links aside) and fails on an
//! import that goes up or sideways. `ARCHITECTURE.md` states the same layers.

/// Bottom to top; a module may use only modules of a lower rank.
const LAYERS: &[(&str, u8)] = &[
    ("clock", 0),
    ("error", 0),
    ("grpc", 1),
    ("claims", 1),
    ("token", 2),
    ("stats", 3),
    ("metrics", 4),
    ("validator", 5),
    ("cache", 6),
    ("authenticator", 7),
    ("adapter", 8),
    ("middleware", 9),
    ("fuzzing", 10),
];

/// The root re-exports (`crate::Rejection`), by the module that defines them.
const REEXPORTS: &[(&str, &str)] = &[
    ("Rejection", "error"),
    ("ValidationError", "error"),
    ("CacheError", "error"),
    ("ConfigError", "error"),
    ("check_secret_entropy", "error"),
    ("StandardClaims", "claims"),
    ("JwtClaims", "claims"),
    ("Requirement", "claims"),
    ("Scopes", "claims"),
    ("Audience", "claims"),
    ("AuthStats", "stats"),
    ("TokenValidator", "validator"),
    ("JwtValidator", "validator"),
    ("VerificationKey", "validator"),
    ("Issuers", "validator"),
    ("ClaimsCache", "cache"),
    ("MemoryCache", "cache"),
    ("Authenticator", "authenticator"),
    ("JwtCacheBuilder", "authenticator"),
    ("RevocationUnavailable", "authenticator"),
    ("JwtCacheLayer", "middleware"),
];

/// The module a `crate::` path names (a root re-export resolved to where it is defined).
fn module_of(used: &str) -> &str {
    REEXPORTS
        .iter()
        .find(|(name, _)| *name == used)
        .map_or(used, |(_, m)| m)
}

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

/// Code without comments: what follows `//` on each line is dropped.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::name` in `code`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let tail = &rest[i + "crate::".len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // A macro (`crate::counters!`) is exported at the root, not a module.
        if !tail[end..].starts_with('!') {
            out.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn modules_import_only_from_the_layers_below() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.clone()];
    let mut violations = Vec::new();
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let Some(own) = rank(&top) else {
            continue; // lib.rs, this file
        };
        checked += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        for used in crate_paths(&code(&text)) {
            let module = module_of(&used);
            if module == top {
                continue;
            }
            match rank(module) {
                Some(r) if r < own => {}
                Some(_) => violations.push(format!("{} uses crate::{used}", rel.display())),
                None => violations.push(format!("{} uses crate::{used} (no layer)", rel.display())),
            }
        }
    }
    assert!(checked > 20, "only {checked} files read");
    assert!(
        violations.is_empty(),
        "imports against the layers:\n{}",
        violations.join("\n")
    );
}
