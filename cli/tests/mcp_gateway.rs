//! `xop mcp-gateway` end to end: the protocol over real pipes with a plain upstream (version
//! negotiation, malformed input, the upstream dying), and the official Python MCP SDK as the
//! client agent and the upstream tool server (`tests/mcp/client.py`, `tests/mcp/upstream.py`),
//! with the proof log verified and replayed afterwards.
//!
//! Python is needed: without `python3` (or without the `mcp` package for the SDK test) the
//! tests say so and pass, except under CI (`CI` set), where `.ci/run` installs both and a
//! missing one fails.

mod support;

use support::{TempDir, s, text, xop};

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value as Json, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp")
}

/// Whether `python3` runs `code`; under CI a failure is an error, not a skip.
fn python_has(code: &str, what: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", code])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is missing under CI: .ci/run must install it"
        );
        eprintln!("SKIPPED: {what} is not installed here (.ci/run installs it for CI)");
    }
    ok
}

fn build(tmp: &TempDir) -> PathBuf {
    let module = tmp.0.join("support.xopm");
    let o = xop(&[
        "build",
        s(&fixtures().join("support.xop")),
        "-o",
        s(&module),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    module
}

/// A gateway over a plain Python upstream, driven line by line.
struct Gateway {
    child: std::process::Child,
    input: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Gateway {
    fn start(module: &Path) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_xop"))
            .args([
                "mcp-gateway",
                "--module",
                s(module),
                "--subject",
                r#"{"to": {"id": "c-1", "vip": false}}"#,
                "--",
                "python3",
                s(&fixtures().join("fake_upstream.py")),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Gateway {
            input: child.stdin.take(),
            child,
            lines: rx,
        }
    }

    fn send(&mut self, line: &str) {
        self.send_bytes(line.as_bytes());
    }

    fn send_bytes(&mut self, line: &[u8]) {
        let w = self.input.as_mut().unwrap();
        w.write_all(line).unwrap();
        w.write_all(b"\n").unwrap();
        w.flush().unwrap();
    }

    fn recv(&self) -> Json {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("an answer from the gateway within 60 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    fn ask(&mut self, v: Json) -> Json {
        self.send(&v.to_string());
        self.recv()
    }
}

/// A failed test must not leave the gateway (and its upstream) running.
impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn protocol_negotiation_malformed_input_and_upstream_death() {
    if !python_has("import json", "python3") {
        return;
    }
    let tmp = TempDir::new("protocol");
    let module = build(&tmp);
    let mut g = Gateway::start(&module);

    // A client asking for 2026-07-28 is answered with 2025-11-25, and the upstream was asked
    // for 2025-11-25 (the fake upstream echoes what it is asked).
    let r = g.ask(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2026-07-28", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}}),
    );
    assert_eq!(r["id"], 1);
    assert_eq!(r["result"]["protocolVersion"], "2025-11-25", "{r}");
    assert_eq!(
        r["result"]["capabilities"]["tools"],
        json!({"listChanged": false})
    );
    g.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    // The modern era's probe: method not found, so that dual-era clients fall back.
    let r = g.ask(json!({"jsonrpc": "2.0", "id": "d", "method": "server/discover"}));
    assert_eq!(r["error"]["code"], -32601, "{r}");

    // Malformed lines: proper JSON-RPC errors, and the session goes on.
    g.send("this is not json");
    let r = g.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (Json::Null, json!(-32700))
    );
    // Bytes that are not UTF-8 are refused, not replaced: the tool would get other arguments.
    g.send_bytes(b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\",\"x\":\"a\xffb\"}");
    let r = g.recv();
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (Json::Null, json!(-32700))
    );
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not UTF-8 (byte 47"),
        "{r}"
    );
    let r = g.ask(json!([{"jsonrpc": "2.0", "id": 9, "method": "ping"}]));
    assert_eq!(r["error"]["code"], -32600, "{r}");
    let r = g.ask(json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {}}));
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(10), json!(-32602))
    );

    // Listing is filtered.
    let r = g.ask(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["refund", "set_limit"]);

    // An allowed call reaches the upstream, which dies on it: the client gets an error for
    // it, and the gateway exits with status 1.
    let r = g.ask(
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "refund", "arguments": {"amount": "1.00 EUR", "reason": "crash"}}}),
    );
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!(3), json!(-32004)),
        "{r}"
    );
    let status = g.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

#[test]
fn client_closing_ends_the_session_cleanly() {
    if !python_has("import json", "python3") {
        return;
    }
    let tmp = TempDir::new("close");
    let module = build(&tmp);
    let mut g = Gateway::start(&module);
    let r = g.ask(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}));
    assert!(r["result"]["tools"].is_array(), "{r}");
    g.input = None;
    assert_eq!(g.child.wait().unwrap().code(), Some(0));
}

/// An upstream that stops reading its input cannot block the gateway: it still answers what it
/// answers itself, and a client that closes its input ends the session.
#[test]
fn an_upstream_that_stops_reading_does_not_block_the_gateway() {
    if !python_has("import json", "python3") {
        return;
    }
    let tmp = TempDir::new("stall");
    let module = build(&tmp);
    let mut g = Gateway::start(&module);
    g.send(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "refund", "arguments": {"amount": "1.00 EUR", "reason": "stall"}}})
        .to_string(),
    );
    // More than the upstream's pipe holds (64 KiB), fewer than the gateway queues for it.
    let padding = "x".repeat(100);
    for id in 0..2_000 {
        g.send(
            &json!({"jsonrpc": "2.0", "id": 100 + id, "method": "ping",
                    "params": {"_meta": {"pad": padding}}})
            .to_string(),
        );
    }
    let r = g.ask(json!({"jsonrpc": "2.0", "id": "d", "method": "server/discover"}));
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].clone()),
        (json!("d"), json!(-32601))
    );
    let r = g.ask(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "close_account", "arguments": {}}}),
    );
    assert_eq!(r["id"], 2, "{r}");
    assert!(r["error"].is_object(), "{r}");
    g.input = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = g.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the gateway did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

#[test]
fn official_python_sdk_end_to_end() {
    if !python_has(
        "import mcp.client.stdio, mcp.server.mcpserver",
        "the Python `mcp` package",
    ) {
        return;
    }
    let tmp = TempDir::new("sdk");
    let module = build(&tmp);
    let log = tmp.0.join("log");
    let calls = tmp.0.join("calls.jsonl");
    std::fs::write(&calls, "").unwrap();
    let mut child = Command::new("python3")
        .args([
            s(&fixtures().join("client.py")),
            env!("CARGO_BIN_EXE_xop"),
            s(&module),
            s(&log),
            s(&calls),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a hung session fails the test instead of hanging CI.
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("the SDK client did not finish within 300 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "the SDK client failed:\n{}", text(&o));

    // Every call is in the proof log, which verifies and replays.
    let o = xop(&["log", "verify", s(&log)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xop(&["log", "replay", s(&log)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xop(&["log", "show", s(&log)]);
    let listing = text(&o);
    for expected in [
        "decision shop.support.refunds allow (small-refund)",
        "decision shop.support.refunds deny (refund-too-large)",
        "decision shop.support.closing deny (never-by-agent)",
        "decision shop.support.credit_limits review (credit-decision)",
        "event mcp.tools_call",
        "event mcp.review_pending",
    ] {
        assert!(listing.contains(expected), "no `{expected}` in:\n{listing}");
    }
}

/// Seed scenario (d), `examples/scenarios/agent-refund/`: the agent script of the demo, run
/// through the gateway with the SDK, its held refund reviewed in the review queue of a running
/// `xop serve` (`--review-server`) and approved there by a support lead; the script fails on any
/// call the policies would decide otherwise.
#[test]
fn seed_scenario_agent_refund() {
    if !python_has(
        "import mcp.client.stdio, mcp.server.mcpserver",
        "the Python `mcp` package",
    ) {
        return;
    }
    let tmp = TempDir::new("agent-refund");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios/agent-refund");
    let module = tmp.0.join("refund.xopm");
    let o = xop(&["build", s(&scenario), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));

    // A server whose review queue takes the gateway's cases: sam leads support, the gateway
    // is an operator.
    let (lead, gateway) = ("lead-token-1", "gateway-token-1");
    let hash = |t: &str| {
        let o = xop(&["token", "hash", t]);
        text(&o)
            .split_whitespace()
            .find(|w| w.len() == 64)
            .unwrap()
            .to_string()
    };
    std::fs::write(
        tmp.0.join("xop.toml"),
        format!(
            "[[reviewers]]\nname = \"sam\"\nroles = [\"support_lead\"]\ntoken_sha256 = \"{}\"\n\
             [[operators]]\nname = \"mcp-gateway\"\ntoken_sha256 = \"{}\"\n",
            hash(lead),
            hash(gateway)
        ),
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_xop"))
        .args([
            "serve",
            "--module",
            s(&module),
            "--data",
            s(&tmp.0.join("data")),
            "--config",
            s(&tmp.0.join("xop.toml")),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(url.starts_with("http://"), "{line}");

    let log = tmp.0.join("log");
    let subject = r#"{"to": {"id": "cust-42", "consents": [{"purpose": "ai_support", "channel": "in_app", "given_at": "2026-01-01T00:00:00Z"}], "refunds_30d": 0}}"#;
    let o = Command::new("python3")
        .args([
            s(&scenario.join("agent.py")),
            env!("CARGO_BIN_EXE_xop"),
            s(&module),
            s(&log),
            subject,
        ])
        .env("XOP_REVIEW_SERVER", &url)
        .env("XOP_TOKEN", gateway)
        .env("XOP_REVIEWER_TOKEN", lead)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(o.status.success(), "the agent failed:\n{}", text(&o));
    let out = text(&o);
    assert!(out.contains("the support lead sam approves"), "{out}");
    assert!(out.contains("retried with the case: forwarded"), "{out}");
    let listing = text(&xop(&["log", "show", s(&log)]));
    for expected in [
        "decision scenario.agent_refund.refunds allow (small-refund)",
        "decision scenario.agent_refund.refunds review (large-refund)",
        "decision scenario.agent_refund.refunds deny (refund-over-limit)",
        "event mcp.review_approved",
    ] {
        assert!(listing.contains(expected), "no `{expected}` in:\n{listing}");
    }
    assert!(xop(&["log", "verify", s(&log)]).status.success());
    // The server's log has the request and sam's approval.
    let listing = text(&xop(&["log", "show", s(&tmp.0.join("data"))]));
    for expected in ["event review.requested", "event review.approved"] {
        assert!(listing.contains(expected), "no `{expected}` in:\n{listing}");
    }
}

/// `--decide-timeout` takes whole seconds from 1: 0, junk, fractions and more than a year are
/// refused before anything starts, saying what to give.
#[test]
fn the_decide_timeout_option_is_read_strictly() {
    for (value, says) in [
        ("0", "at least 1 second"),
        ("-1", "not a whole number of seconds"),
        ("ten", "not a whole number of seconds"),
        ("1.5", "not a whole number of seconds"),
        ("10s", "not a whole number of seconds"),
        ("", "not a whole number of seconds"),
        ("31536001", "at most 31536000 seconds"),
    ] {
        // `=`: a value starting with `-` is the option's, not another option.
        let option = format!("--decide-timeout={value}");
        let o = xop(&[
            "mcp-gateway",
            "--module",
            "/no/such/module.xopm",
            &option,
            "--",
            "true",
        ]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{value:?}: {out}");
        assert!(
            out.contains("--decide-timeout") && out.contains(says),
            "{value:?}: {out}"
        );
        // Refused as an option, before the module is even read.
        assert!(!out.contains("cannot read the module"), "{value:?}: {out}");
    }
    // A good value gets past the option, to the missing module.
    let o = xop(&[
        "mcp-gateway",
        "--module",
        "/no/such/module.xopm",
        "--decide-timeout",
        "1",
        "--",
        "true",
    ]);
    assert!(text(&o).contains("cannot read the module"), "{}", text(&o));
}

/// End to end: with `--config` pointing at a CAMARA endpoint that never answers, a tool call
/// reading a signal is answered at about `--decide-timeout`, denied on the signal absent, with
/// `xop:decide-timeout` among its reasons.
#[test]
fn a_hanging_network_holds_a_call_for_the_decide_timeout() {
    let tmp = TempDir::new("decide-timeout");
    let source = tmp.0.join("fraud.xop");
    std::fs::write(
        &source,
        r#"module shop.fraud
use std.camara.{SimSwap, swapped_within}
purpose service
record Customer {
  id: Id
  msisdn: Text
}
action refund(to: Customer, amount: Money) purpose service risk minimal
signal sim_swap(c: Customer): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age 5m
agent bot {
  tool "refund" -> refund(amount)
}
policy refunds for refund(to: c) {
  deny "recent-sim-swap" when sim_swap(c) is absent or sim_swap(c).swapped_within(24h)
  allow "ok"
}
"#,
    )
    .unwrap();
    let module = tmp.0.join("fraud.xopm");
    let o = xop(&["build", s(&source), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    // Takes connections, never answers (the token endpoint too).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let config = tmp.0.join("xop.toml");
    // Undisturbed, a read would take 3 attempts of 10 s.
    std::fs::write(
        &config,
        format!(
            "[camara]\napi_root = \"{url}\"\ntoken_url = \"{url}/oauth2/token\"\n\
             client_id = \"id\"\nclient_secret = \"secret\"\ntimeout_ms = 10000\n\
             connect_timeout_ms = 10000\nmax_attempts = 3\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_xop"))
        .args([
            "mcp-gateway",
            "--module",
            s(&module),
            "--subject",
            r#"{"to": {"id": "c-1", "msisdn": "+33612345678"}}"#,
            "--config",
            s(&config),
            "--decide-timeout",
            "1",
            "--",
            "sh",
            "-c",
            "cat >/dev/null",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let started = std::time::Instant::now();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "refund", "arguments": {"amount": "10.00 EUR"}}});
    writeln!(input, "{call}").unwrap();
    input.flush().unwrap();
    let line = rx.recv_timeout(Duration::from_secs(30));
    let took = started.elapsed();
    drop(input);
    let _ = child.kill();
    let _ = child.wait();
    let r: Json = serde_json::from_str(&line.expect("an answer")).unwrap();
    assert_eq!(r["error"]["code"], -32006, "{r}");
    assert_eq!(
        r["error"]["data"]["reasons"],
        json!(["recent-sim-swap", "xop:decide-timeout"]),
        "{r}"
    );
    // About the 1 s given, not the 10 s default nor the reads' 30 s.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}
