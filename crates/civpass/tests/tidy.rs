//! The written invariants of ARCHITECTURE.md, checked on the source tree (after
//! rust-analyzer's `tidy`): which crate may depend on which, what the domain core may not link,
//! core's feature slices depending downward only, a `//!` on every module, the two migration
//! directories in step. The language catalogs are
//! kept in step by `civpass-server`'s `i18n` unit test, and core's wall-clock and id rules by
//! clippy (`crates/civpass-core/clippy.toml`).

// A tidy check reports a broken tree by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The `[dependencies]` of a crate (not its dev-dependencies: tests may use anything).
fn dependencies(krate: &str) -> BTreeSet<String> {
    let path = root().join("crates").join(krate).join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn dependencies_between_crates_point_one_way() {
    // Each crate and the civpass crates it may use: the domain core knows only the crypto
    // crate and the device API's formats; adapters (store, registry, server) know the core; the wallet knows the device
    // API; only the binary and the test kit see everything.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("civpass-crypto", &[][..]),
        ("civpass-api", &[][..]),
        // X.509 and CMS for signing: knows nothing of civpass's accounts or storage.
        ("civpass-pki", &[][..]),
        // Core verifies the device API's signed message formats.
        ("civpass-core", &["civpass-api", "civpass-crypto", "civpass-pki"][..]),
        ("civpass-store", &["civpass-core", "civpass-crypto"][..]),
        ("civpass-registry", &["civpass-core", "civpass-crypto"][..]),
        ("civpass-server", &["civpass-api", "civpass-core", "civpass-crypto"][..]),
        // A wallet needs no provider code: the device API and a key.
        ("civpass-wallet", &["civpass-api", "civpass-crypto"][..]),
        // The one wiring: every adapter, never the wallet or the test kit.
        (
            "civpass-driver",
            &[
                "civpass-core",
                "civpass-crypto",
                "civpass-registry",
                "civpass-server",
                "civpass-store",
            ][..],
        ),
        ("civpass-testkit", &["*"][..]),
        ("civpass", &["*"][..]),
    ]);
    for krate in crates() {
        let Some(may) = allowed.get(krate.as_str()) else {
            panic!(
                "{krate} is a new crate: say in this test (and ARCHITECTURE.md) what it may use"
            );
        };
        if may.contains(&"*") {
            continue;
        }
        for dep in dependencies(&krate).iter().filter(|d| d.starts_with("civpass")) {
            assert!(may.contains(&dep.as_str()), "{krate} may not depend on {dep}");
        }
    }
}

#[test]
fn the_domain_core_links_no_http_sql_runtime_or_cli() {
    let deps = dependencies("civpass-core");
    for forbidden in [
        "axum",
        "axum-extra",
        "hyper",
        "hyper-util",
        "tower",
        "tower-http",
        "reqwest",
        "sqlx",
        "tokio",
        "clap",
    ] {
        assert!(!deps.contains(forbidden), "civpass-core depends on {forbidden}");
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_says_what_it_is_for() {
    let mut files = Vec::new();
    for krate in crates() {
        rust_files(&root().join("crates").join(&krate).join("src"), &mut files);
    }
    assert!(files.len() > 50, "the walk found the sources");
    let silent: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            !text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!"))
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(silent.is_empty(), "modules without a `//!` header: {silent:?}");
}

#[test]
fn the_migration_directories_hold_the_same_numbered_steps() {
    let dir = root().join("crates/civpass-store/migrations");
    let names = |dialect: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(dialect))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    };
    let (sqlite, postgres) = (names("sqlite"), names("postgres"));
    assert_eq!(sqlite, postgres, "each step exists for both databases, under one name");
    for (i, name) in sqlite.iter().enumerate() {
        let expected = format!("{:04}_", i + 1);
        assert!(
            name.starts_with(&expected)
                && name.ends_with(".sql")
                && name[5..name.len() - 4]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit()),
            "{name}: migrations are numbered from 0001 without gaps, NNNN_snake_case.sql"
        );
    }
    // That each is embedded in the migrator is `civpass-store`'s own unit test.
}

/// Core's feature slices, lowest first: a slice may use those before it, never those after it
/// (ARCHITECTURE.md, "Slices"), so there is no circle and a slice can become a crate of its own.
/// `store` (every port at once) and `platform` (the facade) at the top compose them all.
const SLICES: [&str; 12] = [
    "kernel", "identity", "eme", "device", "signing", "counter", "consent", "keys", "oidc",
    "account", "store", "platform",
];

/// The slice a core source file belongs to: its folder, or its own name at the crate root.
fn slice_of(relative: &Path) -> String {
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The first segment of every `crate::` path in `code`, and of each item of a grouped one.
fn used_modules(code: &str) -> Vec<String> {
    let segment = |rest: &str| {
        let rest = rest.trim_start();
        rest[..rest.find(|c: char| !c.is_ascii_lowercase() && c != '_').unwrap_or(rest.len())]
            .to_owned()
    };
    let mut used = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                used.extend(group.split(',').map(segment));
            }
            None => used.push(segment(rest)),
        }
    }
    used
}

/// Every source file of the domain core, as (path inside `src/`, text).
fn core_sources() -> Vec<(PathBuf, String)> {
    let src = root().join("crates/civpass-core/src");
    let mut out = Vec::new();
    let mut files = vec![src.clone()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        out.push((path.strip_prefix(&src).unwrap().to_owned(), text));
    }
    out
}

#[test]
fn grouped_imports_are_read_like_paths() {
    let code =
        "use crate::kernel::Ctx; use crate::{oidc::OidcService,\n    account::AccountService};";
    assert_eq!(used_modules(code), ["kernel", "oidc", "account"]);
}

#[test]
fn core_slices_depend_downward_only() {
    let mut broken = Vec::new();
    for (relative, text) in core_sources() {
        let slice = slice_of(&relative);
        if slice == "lib" {
            continue;
        }
        let rank = SLICES.iter().position(|s| *s == slice).unwrap_or_else(|| {
            panic!("{}: a new slice; place it in SLICES (and ARCHITECTURE.md)", relative.display())
        });
        // Comments aside, and lines joined, so that a grouped import (`use crate::{a, b};`,
        // over several lines too) is read like a path.
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join(" ");
        for used in used_modules(&code) {
            let Some(used_rank) = SLICES.iter().position(|s| *s == used) else { continue };
            if used_rank > rank {
                broken.push(format!("{}: {slice} uses {used}", relative.display()));
            }
        }
    }
    assert!(broken.is_empty(), "a slice reaches up:\n{}", broken.join("\n"));
}

/// A service reaches another slice's data through that slice's service, never through the
/// other service's ports (`self.oidc.store…`) or internals (`self.device.ceremonies…`).
#[test]
fn a_service_uses_only_its_own_ports() {
    let mut broken = Vec::new();
    for (relative, text) in core_sources() {
        for (n, line) in text.lines().enumerate() {
            for slice in SLICES {
                for internal in ["store", "ceremonies"] {
                    if line.contains(&format!("self.{slice}.{internal}")) {
                        broken.push(format!(
                            "{}:{}: self.{slice}.{internal}",
                            relative.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "a service reaches into another's ports:\n{}", broken.join("\n"));
}
