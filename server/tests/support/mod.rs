//! What the tests of `xop serve` share: a temporary folder, the test module
//! (`tests/pay/pay.xop`) compiled, a server's files and configuration, and requests.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use xop_compiler::db::Workspace;
use xop_runtime::module::{Module, hash_sources, parse_signing_key, write_keypair};
use xop_server::config::token_hash;
use xop_server::{Running, ServeOptions, serve};

/// A temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty folder whose name says which test made it.
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xop-serve-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test module, compiled (signed by `key`); `tweak` replaces its rule `allow "ok"` first
/// (for a second version): `"allow \"ok\""` gives the module as written.
pub fn module_bytes(tweak: &str, key: Option<&str>) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pay/pay.xop");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("allow \"ok\"", tweak);
    source_bytes(&text, key)
}

/// `text`, one source file `pay.xop`, compiled into a module (signed by `key`).
pub fn source_bytes(text: &str, key: Option<&str>) -> Vec<u8> {
    compiled("pay.xop", text, key)
}

/// `text`, the one source file `name`, compiled into a module (signed by `key`); the test
/// fails if the source has an error.
pub fn compiled(name: &str, text: &str, key: Option<&str>) -> Vec<u8> {
    let mut ws = Workspace::new();
    ws.set_file(name, text);
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let program = xop_compiler::lower::lower(ws.db(), ws.project()).unwrap();
    let module = Module {
        program,
        source_hash: hash_sources([(name, text.as_bytes())]),
        sources: vec![name.into()],
    };
    let key = key.map(|k| parse_signing_key(k).unwrap());
    module.to_bytes(key.as_ref())
}

/// The tokens of [`setup`]'s xop.toml: ana (reviewer, fraud_desk), bob (reviewer,
/// marketing), ops (operator).
pub const ANA: &str = "ana-token";
/// See [`ANA`].
pub const BOB: &str = "bob-token";
/// See [`ANA`].
pub const OPS: &str = "ops-token";

/// A server's files ([`setup`]).
pub struct Setup {
    /// The folder.
    pub tmp: TempDir,
    /// What `xop serve` is given.
    pub opts: ServeOptions,
    /// The key the module is signed with (`trust.pub` is its public half).
    pub secret: String,
}

/// A data folder, a signed module, and xop.toml with ana (fraud_desk), bob (marketing) and
/// ops (operator).
pub fn setup(name: &str, body_limit: usize) -> Setup {
    setup_with(name, body_limit, "")
}

/// [`setup`] with `extra` top-level keys in xop.toml.
pub fn setup_with(name: &str, body_limit: usize, extra: &str) -> Setup {
    let tmp = TempDir::new(name);
    let (secret, public) = write_keypair([7; 32]);
    std::fs::write(tmp.0.join("trust.pub"), public).unwrap();
    std::fs::write(
        tmp.0.join("pay.xopm"),
        module_bytes("allow \"ok\"", Some(&secret)),
    )
    .unwrap();
    let config = format!(
        "trust = \"trust.pub\"\nbody_limit = {body_limit}\n{extra}\
         [[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{}\"\n\
         [[reviewers]]\nname = \"bob\"\nrole = \"marketing\"\ntoken_sha256 = \"{}\"\n\
         [[operators]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\n",
        token_hash(ANA),
        token_hash(BOB),
        token_hash(OPS)
    );
    std::fs::write(tmp.0.join("xop.toml"), config).unwrap();
    let opts = ServeOptions {
        modules: vec![tmp.0.join("pay.xopm")],
        data: tmp.0.join("data"),
        config: Some(tmp.0.join("xop.toml")),
        listen: Some("127.0.0.1:0".into()),
        workers: Some(2),
    };
    Setup { tmp, opts, secret }
}

/// One HTTP/1.1 request (connection closed after it): status and body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may refuse before reading a large body: a failed write is fine then.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A body read as JSON (the test fails if it is not).
pub fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// `POST /v1/modules[?query]` of module `bytes` as the operator `token`: status and answer.
pub fn load(addr: SocketAddr, query: &str, token: &str, bytes: &[u8]) -> (u16, Value) {
    let auth = bearer(token);
    let (st, b) = request(
        addr,
        "POST",
        &format!("/v1/modules{query}"),
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/octet-stream"),
        ],
        bytes,
    );
    (st, json_of(&b))
}

/// `DELETE /v1/modules/{name}` as the operator `token`: status and answer.
pub fn unload(addr: SocketAddr, name: &str, token: &str) -> (u16, Value) {
    let auth = bearer(token);
    let (st, b) = request(
        addr,
        "DELETE",
        &format!("/v1/modules/{name}"),
        &[("Authorization", auth.as_str())],
        b"",
    );
    (st, json_of(&b))
}

/// `POST /v1/decide/{policy}` of the JSON `body`: status and answer.
pub fn decide(addr: SocketAddr, policy: &str, body: &[u8]) -> (u16, Value) {
    let (st, b) = request(
        addr,
        "POST",
        &format!("/v1/decide/{policy}"),
        &[("Content-Type", "application/json")],
        body,
    );
    (st, json_of(&b))
}

/// `POST path` of the JSON `body` as the operator `token`: status and body.
pub fn post_json(addr: SocketAddr, path: &str, token: &str, body: &[u8]) -> (u16, String) {
    let auth = bearer(token);
    request(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", auth.as_str()),
        ],
        body,
    )
}

/// `GET /healthz`: status and answer.
pub fn healthz(addr: SocketAddr) -> (u16, Value) {
    let (st, b) = request(addr, "GET", "/healthz", &[], b"");
    (st, json_of(&b))
}

/// The message of the error answer `o`; the test fails unless the answer is the error `code`
/// with the status `status`.
#[track_caller]
pub fn error_message<'a>(st: u16, o: &'a Value, status: u16, code: &str) -> &'a str {
    assert_eq!((st, o["error"].as_str()), (status, Some(code)), "{o}");
    o["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message in {o}"))
}

/// The server of `setup`, started.
pub fn start(setup: &Setup) -> Running {
    serve(&setup.opts).unwrap()
}

/// `/healthz`' count of records.
pub fn log_size(addr: SocketAddr) -> u64 {
    healthz(addr).1["log_records"].as_u64().unwrap()
}

/// The `Authorization` header's value for `token`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A second module (`t.other`, policy `pinger`), whose policies no other test module has.
pub const OTHER: &str = r#"module t.other

/// Helping a customer with something they asked for.
purpose service

/// Check that the service answers.
action ping(n: Int) purpose service risk minimal

policy pinger for ping(n: n) {
  deny "big" when n > 10
  allow "ok"
}
"#;

/// The name and module hash of each loaded module, as `/healthz` gives them.
pub fn loaded(addr: SocketAddr) -> Vec<(String, String)> {
    healthz(addr).1["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["module"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The content hash (hex) of module `bytes`.
pub fn hash_of(bytes: &[u8]) -> String {
    xop_runtime::module::hex(&xop_runtime::module::content_hash(bytes))
}

/// The test module with a second policy, `receipt_cap` (deny over 1000, else allow), guarding
/// the action `send_receipt` that `receipt` guards; signed by `key`.
pub fn two_policies(key: Option<&str>) -> Vec<u8> {
    module_bytes(
        "allow \"ok\"\n}\n\npolicy receipt_cap for send_receipt(to: c, amount: a) {\n  \
         deny \"too-large\" when a > 1000\n  allow \"capped\"",
        key,
    )
}

/// A server whose module records cannot be written, started, and its files (`setup(name, …)`):
/// its one operator ([`OPS`]) has a name of 17 MiB, so a `module.loaded` or `module.unloaded`
/// record naming it exceeds the log's 16 MiB frame. It serves the test module (`pay`) and
/// [`OTHER`] (`other`), in that order.
pub fn unrecordable(name: &str) -> (Setup, Running) {
    let s = setup(name, 1 << 20);
    std::fs::write(
        s.tmp.0.join("other.xopm"),
        source_bytes(OTHER, Some(&s.secret)),
    )
    .unwrap();
    let huge = "o".repeat(17 << 20);
    std::fs::write(
        s.tmp.0.join("xop.toml"),
        format!(
            "trust = \"trust.pub\"\n[[operators]]\nname = \"{huge}\"\ntoken_sha256 = \"{}\"\n",
            token_hash(OPS)
        ),
    )
    .unwrap();
    drop(huge);
    let mut opts = s.opts.clone();
    opts.modules.push(s.tmp.0.join("other.xopm"));
    let srv = serve(&opts).unwrap();
    (s, srv)
}
