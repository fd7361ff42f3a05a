//! Test support: a local HTTP server standing in for an operator's CAMARA endpoints and its
//! OAuth2 token endpoint, which records every request; and the OpenAPI files (copies of
//! `../shared/camara/` in `tests/camara/`), to check each request against its operation's
//! schema and to answer with the spec's own examples.

#![allow(dead_code, missing_docs)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use xop_network::{Camara, CamaraConfig, Clock, WallClock};

pub const CLIENT_ID: &str = "xop-client";
pub const CLIENT_SECRET: &str = "s3cret:with&odd chars";
pub const TOKEN_PATH: &str = "/oauth2/token";

/// A request the stub received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or(Json::Null)
    }
}

/// What the stub answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Bytes to send instead of `body` (one that is not UTF-8 text, say).
    pub bytes: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &Json) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            bytes: None,
            headers: vec![("Content-Type".into(), "application/json".into())],
            delay: Duration::ZERO,
        }
    }

    pub fn raw(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            bytes: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// An answer whose body is `bytes` as they are, declared JSON.
    pub fn bytes(status: u16, bytes: &[u8]) -> Reply {
        Reply {
            bytes: Some(bytes.to_vec()),
            ..Reply::raw(status, "").with_header("Content-Type", "application/json")
        }
    }

    pub fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn with_header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = Box<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

/// A local HTTP server: the token endpoint at [`TOKEN_PATH`] (a fresh token each time, valid
/// `token_lifetime` seconds), and `handler` for everything else, which gets the request and
/// how many requests to the same path came before it. Every CAMARA answer echoes the
/// request's `x-correlator`, as the contract says.
pub struct Stub {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// How long the token endpoint takes to answer, in milliseconds.
    token_delay_ms: Arc<AtomicU64>,
}

impl Stub {
    pub fn start(handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static) -> Stub {
        Stub::start_with_tokens(3600, handler)
    }

    pub fn start_with_tokens(
        token_lifetime: u64,
        handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Stub {
        Stub::start_at("127.0.0.1:0", token_lifetime, handler)
    }

    /// A stub listening on `addr` (a port nothing listened on a moment ago, say).
    pub fn start_at(
        addr: &str,
        token_lifetime: u64,
        handler: impl Fn(&Recorded, usize) -> Reply + Send + Sync + 'static,
    ) -> Stub {
        let server = tiny_http::Server::http(addr).expect("bind a local port");
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let token_delay_ms: Arc<AtomicU64> = Arc::default();
        let handler: Handler = Box::new(handler);
        let (reqs, stopping) = (requests.clone(), stop.clone());
        let token_delay = token_delay_ms.clone();
        let thread = std::thread::spawn(move || {
            let mut tokens = 0u64;
            let mut per_path: HashMap<String, usize> = HashMap::new();
            while !stopping.load(Ordering::SeqCst) {
                let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(20)) else {
                    continue;
                };
                let mut body = String::new();
                let _ = req.as_reader().read_to_string(&mut body);
                let recorded = Recorded {
                    method: req.method().as_str().to_uppercase(),
                    path: req.url().to_string(),
                    headers: req
                        .headers()
                        .iter()
                        .map(|h| {
                            (
                                h.field.as_str().as_str().to_string(),
                                h.value.as_str().to_string(),
                            )
                        })
                        .collect(),
                    body,
                };
                reqs.lock().unwrap().push(recorded.clone());
                let reply = if recorded.path == TOKEN_PATH {
                    tokens += 1;
                    token_reply(&recorded, tokens, token_lifetime)
                        .delayed(Duration::from_millis(token_delay.load(Ordering::SeqCst)))
                } else {
                    let n = per_path.entry(recorded.path.clone()).or_default();
                    let reply = handler(&recorded, *n);
                    *n += 1;
                    // Unless the handler gives its own (a wrong one, to test).
                    let own = reply
                        .headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("x-correlator"));
                    match recorded.header("x-correlator") {
                        Some(c) if !own => reply.with_header("x-correlator", c),
                        _ => reply,
                    }
                };
                // Answer on a thread of its own, so that a slow answer does not hold the
                // requests behind it (a retry after a timeout is served at once).
                std::thread::spawn(move || {
                    if !reply.delay.is_zero() {
                        std::thread::sleep(reply.delay);
                    }
                    let mut response = match reply.bytes {
                        Some(bytes) => tiny_http::Response::from_data(bytes),
                        None => tiny_http::Response::from_string(reply.body),
                    }
                    .with_status_code(reply.status);
                    for (k, v) in reply.headers {
                        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                            response.add_header(h);
                        }
                    }
                    let _ = req.respond(response);
                });
            }
        });
        Stub {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            stop,
            thread: Some(thread),
            token_delay_ms,
        }
    }

    /// Makes the token endpoint answer `d` late from now on.
    pub fn set_token_delay(&self, d: Duration) {
        self.token_delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// The requests received so far (the token endpoint's too).
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests to CAMARA endpoints (not the token endpoint).
    pub fn api_requests(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path != TOKEN_PATH)
            .collect()
    }

    pub fn token_requests(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path == TOKEN_PATH)
            .count()
    }

    /// A configuration pointing every API and the token endpoint at this stub.
    pub fn config(&self) -> CamaraConfig {
        let mut c = CamaraConfig::with_root(
            &self.url,
            &format!("{}{TOKEN_PATH}", self.url),
            CLIENT_ID,
            CLIENT_SECRET,
        )
        .unwrap();
        c.timeout = Duration::from_millis(500);
        c.backoff = Duration::from_millis(10);
        c.max_backoff = Duration::from_millis(50);
        c
    }

    pub fn camara(&self) -> Camara {
        Camara::new(self.config())
    }

    /// Connectors whose own time of day reads `wall_ms`: for a test deciding at a time of its
    /// choosing (the connectors judge Device Status's `lastStatusTime` at their clock too).
    pub fn camara_at(&self, wall_ms: i64) -> Camara {
        self.camara_on(Arc::new(move || wall_ms))
    }

    /// Connectors whose own time of day is told by `wall`.
    pub fn camara_on(&self, wall: WallClock) -> Camara {
        Camara::with_clocks(self.config(), Arc::new(Instant::now), wall)
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The token endpoint: checks the client-credentials request (RFC 6749 §4.4, client
/// authentication with HTTP Basic, §2.3.1) and answers a bearer token `token-N`.
fn token_reply(r: &Recorded, n: u64, lifetime: u64) -> Reply {
    let expected_basic = format!(
        "Basic {}",
        base64(format!("{}:{}", CLIENT_ID, "s3cret%3Awith%26odd+chars").as_bytes())
    );
    let form_ok = r.method == "POST"
        && r.header("content-type") == Some("application/x-www-form-urlencoded")
        && r.body
            .split('&')
            .any(|kv| kv == "grant_type=client_credentials");
    if !form_ok || r.header("authorization") != Some(expected_basic.as_str()) {
        return Reply::json(
            401,
            &json!({ "error": "invalid_client", "error_description": "bad client credentials" }),
        );
    }
    Reply::json(
        200,
        &json!({ "access_token": format!("token-{n}"), "token_type": "Bearer", "expires_in": lifetime }),
    )
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A clock moved by hand.
#[derive(Clone)]
pub struct ManualClock {
    start: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl ManualClock {
    pub fn new() -> ManualClock {
        ManualClock {
            start: Instant::now(),
            offset_ms: Arc::default(),
        }
    }

    pub fn advance(&self, d: Duration) {
        self.offset_ms
            .fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn clock(&self) -> Clock {
        let (start, offset) = (self.start, self.offset_ms.clone());
        Arc::new(move || start + Duration::from_millis(offset.load(Ordering::SeqCst)))
    }
}

// ------------------------------------------------------------------ the OpenAPI contracts

/// One OpenAPI file.
pub struct Spec {
    pub file: &'static str,
    pub doc: Json,
}

impl Spec {
    pub fn load(file: &'static str) -> Spec {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "camara", file]
            .iter()
            .collect();
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Json =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Spec { file, doc }
    }

    /// Follows a local `$ref`.
    pub fn resolve<'a>(&'a self, v: &'a Json) -> &'a Json {
        let mut v = v;
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Json::as_str) else {
                return v;
            };
            let pointer = r.strip_prefix('#').expect("a local $ref");
            v = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("{}: no {r}", self.file));
        }
        v
    }

    pub fn operation(&self, path: &str, method: &str) -> &Json {
        let op = &self.doc["paths"][path][method.to_lowercase()];
        assert!(op.is_object(), "{}: no {method} {path}", self.file);
        op
    }

    /// `components.examples.NAME.value`.
    pub fn example(&self, name: &str) -> Json {
        let v = &self.doc["components"]["examples"][name]["value"];
        assert!(
            !v.is_null() || name.contains("NULL"),
            "{}: no example {name}",
            self.file
        );
        v.clone()
    }

    /// The examples of the success answer of an operation, by name.
    pub fn success_examples(&self, path: &str, method: &str, status: &str) -> Vec<(String, Json)> {
        let resp = self.resolve(&self.operation(path, method)["responses"][status]);
        let examples = &resp["content"]["application/json"]["examples"];
        examples
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)["value"].clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every error answer the operation lists, with each of its examples: (status, body).
    pub fn error_examples(&self, path: &str, method: &str) -> Vec<(u16, Json)> {
        let responses = self.operation(path, method)["responses"]
            .as_object()
            .expect("responses");
        let mut out = Vec::new();
        for (status, r) in responses {
            let Ok(code) = status.parse::<u16>() else {
                continue;
            };
            if code < 400 {
                continue;
            }
            let content = &self.resolve(r)["content"]["application/json"];
            if let Some(examples) = content["examples"].as_object() {
                for e in examples.values() {
                    out.push((code, self.resolve(e)["value"].clone()));
                }
            } else if content["example"].is_object() {
                out.push((code, content["example"].clone()));
            }
        }
        assert!(
            !out.is_empty(),
            "{}: {method} {path} lists no error",
            self.file
        );
        out
    }

    /// What is wrong with `req` as a call of `method path` (empty when it follows the
    /// contract): the bearer token, the `x-correlator` (its schema), the content type and the
    /// body (the request body schema).
    pub fn check_request(
        &self,
        path: &str,
        method: &str,
        req: &Recorded,
        token: &str,
    ) -> Vec<String> {
        let op = self.operation(path, method);
        let mut problems = Vec::new();
        if req.method != method {
            problems.push(format!("method {} instead of {method}", req.method));
        }
        if req.header("authorization") != Some(&format!("Bearer {token}")) {
            problems.push(format!(
                "authorization is {:?}",
                req.header("authorization")
            ));
        }
        for p in op["parameters"].as_array().into_iter().flatten() {
            let p = self.resolve(p);
            if p["in"] == "header" {
                let name = p["name"].as_str().unwrap_or_default();
                match req.header(name) {
                    Some(v) => self.validate(&p["schema"], &json!(v), name, &mut problems),
                    None => problems.push(format!("header {name} is missing")),
                }
            }
        }
        let body = &op["requestBody"];
        if body.is_object() {
            if req.header("content-type") != Some("application/json") {
                problems.push(format!("content-type is {:?}", req.header("content-type")));
            }
            match serde_json::from_str::<Json>(&req.body) {
                Ok(b) => {
                    let schema = &body["content"]["application/json"]["schema"];
                    self.validate(schema, &b, "body", &mut problems);
                }
                Err(e) => problems.push(format!("body is not JSON: {e}")),
            }
        } else if !req.body.is_empty() {
            problems.push("a body where the operation takes none".into());
        }
        problems
    }

    /// What is wrong with `body` as the `status` answer of `method path`.
    pub fn check_response(
        &self,
        path: &str,
        method: &str,
        status: &str,
        body: &Json,
    ) -> Vec<String> {
        let resp = self.resolve(&self.operation(path, method)["responses"][status]);
        let mut problems = Vec::new();
        self.validate(
            &resp["content"]["application/json"]["schema"],
            body,
            "answer",
            &mut problems,
        );
        problems
    }

    /// JSON Schema (the OpenAPI 3.0 subset these files use): `$ref`, `allOf`, `anyOf`, `type`,
    /// `nullable`, `required`, `properties`, `items`, `enum`, `minimum`/`maximum`,
    /// `minLength`/`maxLength`, `pattern`, `minProperties`/`maxProperties`, `minItems`, and the
    /// `date-time`, `ipv4` and `uuid` formats.
    pub fn validate(&self, schema: &Json, v: &Json, at: &str, problems: &mut Vec<String>) {
        let s = self.resolve(schema);
        if s.is_null() {
            return;
        }
        if v.is_null() {
            if s["nullable"] != true {
                problems.push(format!("{at} is null"));
            }
            return;
        }
        for sub in s["allOf"].as_array().into_iter().flatten() {
            self.validate(sub, v, at, problems);
        }
        if let Some(any) = s["anyOf"].as_array() {
            let ok = any.iter().any(|sub| {
                let mut p = Vec::new();
                self.validate(sub, v, at, &mut p);
                p.is_empty()
            });
            if !ok {
                problems.push(format!("{at} matches none of anyOf"));
            }
        }
        let ty = s["type"].as_str();
        let type_ok = match ty {
            Some("object") => v.is_object(),
            Some("string") => v.is_string(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some("boolean") => v.is_boolean(),
            Some("array") => v.is_array(),
            _ => true,
        };
        if !type_ok {
            problems.push(format!("{at} is {v}, not of type {}", ty.unwrap_or("?")));
            return;
        }
        if let Some(values) = s["enum"].as_array()
            && !values.contains(v)
        {
            problems.push(format!("{at} = {v} is not one of {values:?}"));
        }
        if let Some(n) = v.as_f64() {
            if s["minimum"].as_f64().is_some_and(|m| n < m) {
                problems.push(format!("{at} = {n} is below the minimum"));
            }
            if s["maximum"].as_f64().is_some_and(|m| n > m) {
                problems.push(format!("{at} = {n} is above the maximum"));
            }
        }
        if let Some(text) = v.as_str() {
            let len = text.chars().count() as u64;
            if s["minLength"].as_u64().is_some_and(|m| len < m)
                || s["maxLength"].as_u64().is_some_and(|m| len > m)
            {
                problems.push(format!("{at} = {text:?} has the wrong length"));
            }
            if let Some(p) = s["pattern"].as_str() {
                match regex::Regex::new(p) {
                    Ok(re) if re.is_match(text) => {}
                    Ok(_) => problems.push(format!("{at} = {text:?} does not match {p}")),
                    Err(e) => problems.push(format!("{at}: pattern {p} does not compile: {e}")),
                }
            }
            let format_ok = match s["format"].as_str() {
                Some("date-time") => text.parse::<jiff::Timestamp>().is_ok(),
                Some("ipv4") => text.parse::<std::net::Ipv4Addr>().is_ok(),
                Some("uuid") => {
                    let groups: Vec<usize> = text.split('-').map(str::len).collect();
                    groups == [8, 4, 4, 4, 12]
                        && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
                }
                _ => true,
            };
            if !format_ok {
                problems.push(format!("{at} = {text:?} is not a {}", s["format"]));
            }
        }
        if let Some(obj) = v.as_object() {
            for r in s["required"].as_array().into_iter().flatten() {
                let key = r.as_str().unwrap_or_default();
                if !obj.contains_key(key) {
                    problems.push(format!("{at}.{key} is required"));
                }
            }
            if let Some(props) = s["properties"].as_object() {
                for (k, sub) in props {
                    if let Some(x) = obj.get(k) {
                        self.validate(sub, x, &format!("{at}.{k}"), problems);
                    }
                }
            }
            let n = obj.len() as u64;
            if s["minProperties"].as_u64().is_some_and(|m| n < m)
                || s["maxProperties"].as_u64().is_some_and(|m| n > m)
            {
                problems.push(format!("{at} has {n} properties"));
            }
        }
        if let Some(xs) = v.as_array() {
            if s["minItems"]
                .as_u64()
                .is_some_and(|m| (xs.len() as u64) < m)
            {
                problems.push(format!("{at} has too few items"));
            }
            for (i, x) in xs.iter().enumerate() {
                self.validate(&s["items"], x, &format!("{at}[{i}]"), problems);
            }
        }
    }
}

/// A local port nothing listens on (it was free a moment ago): connecting to it is refused.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The path of a request without its query.
pub fn path_only(p: &str) -> &str {
    p.split('?').next().unwrap_or(p)
}
