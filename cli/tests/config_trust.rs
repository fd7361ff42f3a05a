//! `xop eval --config` and `xop mcp-gateway --config` read `xop.toml` as `xop serve` does: its
//! `trust` (relative to the file) refuses a module that key did not sign, `--trust` given
//! overrides it, and an unknown key (`trsut`) is refused rather than ignored.

mod support;

use support::{TempDir, text, xop_in};

const SOURCE: &str = "module p\n\nuse std.consent.service\n\nrecord R { n: Int }\n\n\
                      action act(r: R) purpose service risk minimal\n\n\
                      policy pol for act(r: r) {\n  deny \"big\" when r.n > 5\n  allow \"fine\"\n}\n";

const CAMARA: &str = "\n[camara]\napi_root = \"http://127.0.0.1:9\"\n\
                      token_url = \"http://127.0.0.1:9/token\"\nclient_id = \"x\"\n\
                      client_secret = \"y\"\nscope = \"sim-swap:check\"\n";

/// A folder with `p.xop`, `in.json`, keys `k` and `j`, `unsigned.xopm`, `k.xopm` (signed by
/// k), `j.xopm` (signed by j), and `conf/xop.toml` trusting `conf/k.pub` (a path relative to
/// the file, not to the current folder).
fn project(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    dir.write("p.xop", SOURCE);
    dir.write("in.json", r#"{"r": {"n": 1}}"#);
    for args in [
        &["keygen", "-o", "conf/k"][..],
        &["keygen", "-o", "j"],
        &["build", "p.xop", "-o", "unsigned.xopm"],
        &["build", "p.xop", "-o", "k.xopm", "--sign", "conf/k.key"],
        &["build", "p.xop", "-o", "j.xopm", "--sign", "j.key"],
    ] {
        std::fs::create_dir_all(dir.path().join("conf")).unwrap();
        let o = xop_in(dir.path(), args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    dir.write("conf/xop.toml", format!("trust = \"k.pub\"\n{CAMARA}"));
    dir
}

fn eval(dir: &TempDir, module: &str, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "eval",
        module,
        "--config",
        "conf/xop.toml",
        "--policy",
        "pol",
        "--input",
        "in.json",
    ];
    args.extend_from_slice(extra);
    let o = xop_in(dir.path(), &args);
    (o.status.code(), text(&o))
}

#[test]
fn eval_config_trust_refuses_a_module_its_key_did_not_sign() {
    let dir = project("eval-config-trust");
    let (code, out) = eval(&dir, "unsigned.xopm", &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("the module is not signed"), "{out}");
    assert!(!out.contains("allow"), "nothing decided: {out}");
    let (code, out) = eval(&dir, "j.xopm", &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not by the trusted key"), "{out}");
    // Signed by the key the file trusts: decided.
    let (code, out) = eval(&dir, "k.xopm", &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("allow"), "{out}");
    // `--trust` overrides the file's `trust`, as `--listen` overrides `listen` for serve.
    let (code, out) = eval(&dir, "j.xopm", &["--trust", "j.pub"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = eval(&dir, "k.xopm", &["--trust", "j.pub"]);
    assert_eq!(code, Some(2), "{out}");
    // Sources are signed by nobody: refused under the file's `trust`, naming it.
    let (code, out) = eval(&dir, "p.xop", &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("conf/xop.toml") && out.contains("signed by nobody"),
        "{out}"
    );
}

#[test]
fn eval_config_refuses_an_unknown_key() {
    let dir = project("eval-config-typo");
    dir.write("conf/xop.toml", format!("trsut = \"k.pub\"\n{CAMARA}"));
    let (code, out) = eval(&dir, "unsigned.xopm", &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("unknown field `trsut`"), "{out}");
}

#[test]
fn mcp_gateway_config_trust_refuses_a_module_its_key_did_not_sign() {
    let dir = project("gateway-config-trust");
    let gateway = |module: &str, config: &str| {
        let o = xop_in(
            dir.path(),
            &[
                "mcp-gateway",
                "--module",
                module,
                "--config",
                config,
                "--",
                "true",
            ],
        );
        (o.status.code(), text(&o))
    };
    let (code, out) = gateway("unsigned.xopm", "conf/xop.toml");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("the module is not signed"), "{out}");
    dir.write("conf/typo.toml", format!("trsut = \"k.pub\"\n{CAMARA}"));
    let (code, out) = gateway("unsigned.xopm", "conf/typo.toml");
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("unknown field `trsut`"), "{out}");
}
