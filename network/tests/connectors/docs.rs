//! What docs/network.md tells operators to configure, against the contracts: the example
//! `[camara]` section is a valid configuration, and its `scope` grants every operation the
//! connectors call, as each operation's `security` section in its OpenAPI file requires.

use std::collections::BTreeSet;
use std::path::PathBuf;

use xop_network::CamaraConfig;

use crate::support::Spec;

/// Every operation the connectors call: (contract, path, method).
const OPERATIONS: &[(&str, &str, &str)] = &[
    ("sim-swap.yaml", "/check", "post"),
    ("sim-swap.yaml", "/retrieve-date", "post"),
    ("quality-on-demand.yaml", "/sessions", "post"),
    ("quality-on-demand.yaml", "/sessions/{sessionId}", "get"),
    ("quality-on-demand.yaml", "/sessions/{sessionId}", "delete"),
    (
        "quality-on-demand.yaml",
        "/sessions/{sessionId}/extend",
        "post",
    ),
    ("device-roaming-status.yaml", "/retrieve", "post"),
    ("device-reachability-status.yaml", "/retrieve", "post"),
];

/// The first ```toml block of docs/network.md.
fn documented_config() -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "docs", "network.md"]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let len = text[start..].find("```").expect("the block's end");
    text[start..start + len].to_string()
}

#[test]
fn the_documented_scope_grants_every_operation_the_connectors_call() {
    let config = CamaraConfig::from_toml_with_env(&documented_config(), &|_| Some("x".into()))
        .expect("the documented [camara] section is a valid configuration");
    let scope = config.scope.expect("the example sets scope");
    let granted: BTreeSet<&str> = scope.split_whitespace().collect();
    let mut missing = Vec::new();
    for &(file, path, method) in OPERATIONS {
        let spec = Spec::load(file);
        // `security` lists alternatives; each names the scopes it needs, all of them.
        let alternatives: Vec<Vec<String>> = spec.operation(path, method)["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: {method} {path} has no security"))
            .iter()
            .filter_map(|alt| alt["openId"].as_array())
            .map(|scopes| {
                scopes
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect()
            })
            .collect();
        assert!(!alternatives.is_empty(), "{file}: {method} {path}");
        if !alternatives
            .iter()
            .any(|alt| alt.iter().all(|s| granted.contains(s.as_str())))
        {
            missing.push(format!("{file} {method} {path}: one of {alternatives:?}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/network.md's scope `{scope}` does not grant: {missing:#?}"
    );
    // Nothing beyond what the operations need: the least privilege an operator grants.
    let needed: BTreeSet<String> = OPERATIONS
        .iter()
        .flat_map(|&(file, path, method)| {
            let spec = Spec::load(file);
            spec.operation(path, method)["security"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|alt| alt["openId"].as_array().cloned())
                .flatten()
                .map(|s| s.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for s in &granted {
        assert!(
            needed.contains(*s),
            "`{s}` is not a scope any operation used needs"
        );
    }
}
