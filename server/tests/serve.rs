//! `xop serve` over real HTTP on loopback: decisions and every refusal, reviews and their
//! authentication, deadlines (also across a restart), hot swap under load, the halt switch,
//! the log endpoints. The policies: `tests/pay/pay.xop`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xop_runtime::proof::verify::{LogReader, read_public_key, verify_log};
use xop_server::config::{Config, token_hash};
use xop_server::{Running, ServeOptions, serve, unheld_review_roles};

use support::{
    ANA, BOB, OPS, OTHER, TempDir, bearer, compiled, hash_of, json_of, loaded, log_size,
    module_bytes, request, setup, setup_with, source_bytes, start, two_policies,
};

/// Raw bytes in, status and body out.
fn request_raw(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(raw).unwrap();
    read_response(&mut s)
}

fn post_json(addr: SocketAddr, path: &str, input: &Value) -> (u16, Value) {
    let (s, b) = request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        input.to_string().as_bytes(),
    );
    (s, json_of(&b))
}

fn decide(addr: SocketAddr, policy: &str, input: &Value) -> (u16, Value) {
    post_json(addr, &format!("/v1/decide/{policy}"), input)
}

fn decide_action(addr: SocketAddr, action: &str, input: &Value) -> (u16, Value) {
    post_json(addr, &format!("/v1/actions/{action}/decide"), input)
}

fn pay(amount: i64) -> Value {
    json!({"to": {"id": "c-1", "vip": false}, "amount": amount})
}

fn review_action(addr: SocketAddr, id: &str, action: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(bearer);
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let (s, b) = request(
        addr,
        "POST",
        &format!("/v1/reviews/{id}/{action}"),
        &headers,
        br#"{"note":"checked"}"#,
    );
    (s, json_of(&b))
}

fn case(addr: SocketAddr, id: &str) -> Value {
    let auth = bearer(ANA);
    let (s, b) = request(
        addr,
        "GET",
        &format!("/v1/reviews/{id}"),
        &[("Authorization", auth.as_str())],
        b"",
    );
    assert_eq!(s, 200, "{b}");
    json_of(&b)
}

/// `xop log verify`'s check: the tree and every checkpoint, no problem.
fn verified(data: &Path) {
    let key = read_public_key(&data.join("log.pub")).unwrap();
    let report = verify_log(data, &key).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.checkpoints > 0 && report.verified_size == report.records);
}

/// The log verifies and record `seq` contains every one of `needles`.
fn record_contains(data: &Path, seq: u64, needles: &[&str]) {
    let mut r = LogReader::open(data).unwrap();
    let bytes = String::from_utf8(r.record_bytes(seq).unwrap()).unwrap();
    for n in needles {
        assert!(bytes.contains(n), "record {seq} lacks {n}: {bytes}");
    }
}

#[test]
fn decide_happy_path_and_every_refusal() {
    let s = setup("decide", 1024);
    let srv = start(&s);
    let addr = srv.addr();

    let (st, o) = decide(addr, "receipt", &pay(5));
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["verdict"], "allow");
    assert_eq!(o["reasons"], json!(["ok"]));
    assert_eq!(o["fired"], json!(["receipt#2"]));
    let first = o["seq"].as_u64().unwrap();
    let (st, o) = decide(addr, "receipt", &pay(-1));
    assert_eq!((st, o["verdict"].as_str()), (200, Some("deny")));
    assert_eq!(o["seq"].as_u64(), Some(first + 1));
    // Ill-typed input is a proven deny, never an allow.
    let (st, o) = decide(addr, "receipt", &json!({"to": {"id": "c"}, "amount": "x"}));
    assert_eq!((st, o["verdict"].as_str()), (200, Some("deny")));
    assert_eq!(o["reasons"], json!(["xop:bad-input"]));

    let size = log_size(addr);
    let json_ct = [("Content-Type", "application/json")];
    // Malformed JSON.
    let (st, b) = request(addr, "POST", "/v1/decide/receipt", &json_ct, b"{\"to\": ");
    assert_eq!(st, 400, "{b}");
    assert_eq!(json_of(&b)["error"], "malformed_json");
    let message = json_of(&b)["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("invalid JSON") && message.contains("line 1"),
        "{message}"
    );
    // A key given twice: which one is meant is not decided for the caller.
    let twice = br#"{"to": {"id": "c", "id": "d"}, "amount": 5}"#;
    let (st, b) = request(addr, "POST", "/v1/decide/receipt", &json_ct, twice);
    assert_eq!(st, 400, "{b}");
    assert_eq!(json_of(&b)["error"], "duplicate_key");
    let message = json_of(&b)["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("the body gives a key twice: to.id: "),
        "{message}"
    );
    // A number JSON would read rounded (an integer beyond 64 bits): refused at its path,
    // nothing decided.
    let rounded = br#"{"to": {"id": "c", "vip": false}, "amount": 18446744073709551616}"#;
    let (st, b) = request(addr, "POST", "/v1/decide/receipt", &json_ct, rounded);
    assert_eq!(st, 400, "{b}");
    assert_eq!(json_of(&b)["error"], "inexact_number");
    let message = json_of(&b)["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("amount: the number 18446744073709551616 cannot be read as written"),
        "{message}"
    );
    // Wrong and missing content type.
    let body = pay(5).to_string();
    let (st, b) = request(
        addr,
        "POST",
        "/v1/decide/receipt",
        &[("Content-Type", "text/plain")],
        body.as_bytes(),
    );
    assert_eq!(st, 415, "{b}");
    assert!(
        json_of(&b)["message"]
            .as_str()
            .unwrap()
            .contains("application/json")
    );
    let (st, _) = request(addr, "POST", "/v1/decide/receipt", &[], body.as_bytes());
    assert_eq!(st, 415);
    // Oversize.
    // (Announced, not sent: refused on the header, before the body is read.)
    let (st, b) = request_raw(
        addr,
        b"POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n",
    );
    assert_eq!(st, 413, "{b}");
    assert_eq!(json_of(&b)["error"], "too_large");
    // Unknown policy, unknown endpoint, wrong method.
    let (st, o) = decide(addr, "nope", &pay(5));
    assert_eq!(st, 404);
    assert!(o["message"].as_str().unwrap().contains("receipt"), "{o}");
    let (st, b) = request(addr, "GET", "/v2/x", &[], b"");
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (404, Some("not_found"))
    );
    // A wrong method is JSON like every refusal, with the methods allowed.
    for (method, path) in [("GET", "/v1/decide/receipt"), ("DELETE", "/healthz")] {
        let (st, b) = request(addr, method, path, &[], b"");
        assert_eq!(
            (st, json_of(&b)["error"].as_str()),
            (405, Some("method_not_allowed")),
            "{method} {path}: {b}"
        );
    }
    // A path that is not percent-encoded UTF-8.
    for (method, path) in [("POST", "/v1/decide/%FF"), ("GET", "/v1/log/proof/%C0%AF")] {
        let (st, b) = request(addr, method, path, &json_ct, b"{}");
        assert_eq!(
            (st, json_of(&b)["error"].as_str()),
            (400, Some("bad_path")),
            "{path}: {b}"
        );
    }
    // A body that ends before its length, or a bad chunk, is the client's error, not a size.
    let mut short = TcpStream::connect(addr).unwrap();
    short
        .write_all(
            b"POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"a\":1}",
        )
        .unwrap();
    short.shutdown(std::net::Shutdown::Write).unwrap();
    let (st, b) = read_response(&mut short);
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (400, Some("bad_body")),
        "{b}"
    );
    let (st, b) = request_raw(
        addr,
        b"POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    );
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (400, Some("bad_body")),
        "{b}"
    );
    // No refusal wrote a record.
    assert_eq!(log_size(addr), size);

    // The log endpoints: a checkpoint and a proof of the first decision.
    let deadline = Instant::now() + Duration::from_secs(10);
    let proof = loop {
        let (st, b) = request(addr, "GET", &format!("/v1/log/proof/{first}"), &[], b"");
        if st == 200 {
            break json_of(&b);
        }
        assert_eq!(json_of(&b)["error"], "not_yet_covered");
        assert!(Instant::now() < deadline, "no checkpoint in 10 s");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        proof["record"]
            .as_str()
            .unwrap()
            .contains("\"verdict\":\"allow\"")
    );
    let (st, note) = request(addr, "GET", "/v1/log/checkpoint", &[], b"");
    assert_eq!(st, 200);
    assert!(note.contains("xop.local/log/"), "{note}");
    let (st, b) = request(addr, "GET", "/v1/log/proof/x", &[], b"");
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (400, Some("bad_record_number"))
    );
    let (st, _) = request(addr, "GET", "/v1/log/proof/999999", &[], b"");
    assert_eq!(st, 404);
    let (st, m) = request(addr, "GET", "/metrics", &[], b"");
    assert_eq!(st, 200);
    assert!(
        m.contains("xop_decisions_total{verdict=\"allow\"} 1"),
        "{m}"
    );
    assert!(m.contains("xop_decision_seconds_count 3"), "{m}");
    // One server per data folder.
    let err = serve(&s.opts)
        .err()
        .expect("a second server on the folder is refused");
    assert!(err.contains("open for writing"), "{err}");

    srv.stop().unwrap();
    verified(&s.opts.data);
}

/// Status and body of a response read from `s` (the server closes or answers within 30 s).
fn read_response(s: &mut TcpStream) -> (u16, String) {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn a_stalled_body_times_out_and_decides_nothing() {
    let s = setup_with("stall", 1 << 20, "timeout_ms = 400\n");
    let srv = start(&s);
    let addr = srv.addr();
    let size = log_size(addr);
    let body = pay(5).to_string();
    // Announce the whole body, send half of it, then nothing: the client stalls.
    let mut c = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    let started = Instant::now();
    let (st, b) = read_response(&mut c);
    let waited = started.elapsed();
    assert!(st == 408 || st == 503, "status {st}: {b}");
    let err = json_of(&b);
    assert_eq!(err["error"], "timeout", "{b}");
    assert!(
        err["message"].as_str().unwrap().contains("timeout_ms"),
        "{b}"
    );
    // Answered at the limit, not at the client's pace (nor never).
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    // A body trickled in slower than the limit allows is cut off the same way.
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    let trickle = std::thread::spawn(move || {
        for byte in body.as_bytes() {
            if c.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        c
    });
    let mut c = trickle.join().unwrap();
    let (st, b) = read_response(&mut c);
    assert!(st == 408 || st == 503, "status {st}: {b}");
    assert_eq!(json_of(&b)["error"], "timeout", "{b}");
    // Nothing was decided, nothing logged; the server still answers.
    assert_eq!(log_size(addr), size);
    let (st, o) = decide(addr, "receipt", &pay(5));
    assert_eq!((st, o["verdict"].as_str()), (200, Some("allow")));
    let (_, m) = request(addr, "GET", "/metrics", &[], b"");
    assert!(
        m.contains("xop_decisions_total{verdict=\"allow\"} 1"),
        "{m}"
    );
    srv.stop().unwrap();
    verified(&s.opts.data);
}

/// A chunked request (no Content-Length) with `chunks` as its body.
/// A policy that is one of several guarding its action is not decided alone: its allow could
/// be another's deny (the compliance checker proves all of them together).
#[test]
fn a_policy_that_shares_its_action_is_not_decided_alone() {
    let s = setup("partial", 1 << 20);
    let two = two_policies(Some(&s.secret));
    std::fs::write(s.tmp.0.join("pay.xopm"), two).unwrap();
    let srv = start(&s);
    let addr = srv.addr();
    let size = log_size(addr);
    for policy in ["receipt", "receipt_cap"] {
        let (st, o) = decide(addr, policy, &pay(5000));
        assert_eq!(
            (st, o["error"].as_str()),
            (409, Some("partial_policy")),
            "{o}"
        );
        let message = o["message"].as_str().unwrap();
        assert!(message.contains("receipt, receipt_cap"), "{message}");
        assert!(
            message.contains("/v1/actions/t.pay.send_receipt/decide"),
            "{message}"
        );
    }
    // A policy alone on its action is decided as before.
    assert_eq!(decide(addr, "block", &pay(5)).0, 200);
    assert_eq!(log_size(addr), size + 1);
    // The action is decided over both: `receipt` allows 5,000, `receipt_cap` denies it.
    let (st, o) = decide_action(addr, "send_receipt", &pay(5000));
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["verdict"], "deny", "{o}");
    assert_eq!(o["reasons"], json!(["too-large"]), "{o}");
    assert_eq!(o["action"], "t.pay.send_receipt", "{o}");
    assert_eq!(o["policy"], "t.pay.receipt+t.pay.receipt_cap", "{o}");
    let denied = o["seq"].as_u64().unwrap();
    let (st, o) = decide_action(addr, "t.pay.send_receipt", &pay(5));
    assert_eq!((st, o["verdict"].as_str()), (200, Some("allow")), "{o}");
    assert_eq!(o["reasons"], json!(["ok", "capped"]), "{o}");
    assert_eq!(log_size(addr), size + 3);
    // The actions, their policies and parameters, and an input of the right shape that
    // decides as it is.
    let (st, b) = request(addr, "GET", "/v1/actions", &[], b"");
    assert_eq!(st, 200, "{b}");
    let actions = json_of(&b)["actions"].as_array().unwrap().clone();
    let receipt = actions
        .iter()
        .find(|a| a["action"] == "t.pay.send_receipt")
        .unwrap_or_else(|| panic!("{b}"));
    assert_eq!(
        receipt["policies"],
        json!(["t.pay.receipt", "t.pay.receipt_cap"])
    );
    assert_eq!(
        receipt["params"],
        json!([{"name": "to", "type": "Customer"}, {"name": "amount", "type": "Int"}])
    );
    assert_eq!(receipt["high_risk"], false);
    let block = actions
        .iter()
        .find(|a| a["action"] == "t.pay.block_payment")
        .unwrap();
    assert_eq!(block["high_risk"], true);
    let (st, o) = decide_action(addr, "send_receipt", &receipt["example"]);
    assert_eq!((st, o["verdict"].as_str()), (200, Some("allow")), "{o}");
    // An action no policy guards, and ill-typed input (a proven deny, as for a policy).
    let (st, o) = decide_action(addr, "send_reciept", &pay(5));
    assert_eq!(
        (st, o["error"].as_str()),
        (404, Some("unknown_action")),
        "{o}"
    );
    let message = o["message"].as_str().unwrap();
    assert!(message.contains("t.pay.send_receipt"), "{message}");
    let (st, o) = decide_action(addr, "send_receipt", &json!({"to": 1}));
    assert_eq!(
        (st, o["reasons"].clone()),
        (200, json!(["xop:bad-input"])),
        "{o}"
    );
    srv.stop().unwrap();
    record_contains(
        &s.opts.data,
        denied,
        &[
            "\"action\":\"t.pay.send_receipt\"",
            "\"policy\":\"t.pay.receipt+t.pay.receipt_cap\"",
        ],
    );
    verified(&s.opts.data);
}

/// A client that never finishes a request's head is cut off at `timeout_ms`, and cannot hold
/// up a stopping server.
#[test]
fn a_request_head_not_sent_in_time_closes_the_connection() {
    let s = setup_with("head", 1 << 20, "timeout_ms = 400\n");
    let srv = start(&s);
    let addr = srv.addr();
    assert_eq!(decide(addr, "receipt", &pay(5)).0, 200);
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    // The server closes it (hyper answers 408 or just closes): either way the read ends.
    let (st, _) = read_response(&mut slow);
    assert!(st == 0 || st == 408, "{st}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Another one, open while the server stops: the stop does not wait for it.
    let mut held = TcpStream::connect(addr).unwrap();
    held.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    let stopping = Instant::now();
    srv.stop().unwrap();
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopping.elapsed()
    );
    verified(&s.opts.data);
}

fn chunked(chunks: &[&[u8]]) -> Vec<u8> {
    let mut raw = b"POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
          Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for c in chunks {
        raw.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        raw.extend_from_slice(c);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw
}

#[test]
fn a_chunked_body_over_the_limit_is_refused() {
    let s = setup("chunked", 1024);
    let srv = start(&s);
    let addr = srv.addr();
    let size = log_size(addr);
    // Within the limit, chunked is read like any body and decided.
    let body = pay(5).to_string();
    let (half, rest) = body.as_bytes().split_at(body.len() / 2);
    let (st, b) = request_raw(addr, &chunked(&[half, rest]));
    assert_eq!(st, 200, "{b}");
    assert_eq!(json_of(&b)["verdict"], "allow");
    assert_eq!(log_size(addr), size + 1);
    // Over it: no length announced, so the limit applies while reading. Valid JSON (spaces
    // before the object), so only the size can refuse it.
    let padding = vec![b' '; 700];
    let (st, b) = request_raw(addr, &chunked(&[&padding, &padding, body.as_bytes()]));
    assert_eq!(st, 413, "{b}");
    let err = json_of(&b);
    assert_eq!(err["error"], "too_large");
    assert!(
        err["message"].as_str().unwrap().contains("1024 bytes"),
        "{b}"
    );
    // One byte over, in one chunk.
    let mut just_over = vec![b' '; 1025 - body.len()];
    just_over.extend_from_slice(body.as_bytes());
    let (st, _) = request_raw(addr, &chunked(&[&just_over]));
    assert_eq!(st, 413);
    // Exactly at the limit is fine.
    let at_limit = &just_over[1..];
    let (st, b) = request_raw(addr, &chunked(&[at_limit]));
    assert_eq!(st, 200, "{b}");
    assert_eq!(log_size(addr), size + 2);
    srv.stop().unwrap();
    verified(&s.opts.data);
}

#[test]
fn reviews_need_the_role_and_are_decided_once() {
    let s = setup("review", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let (st, o) = decide(addr, "freeze", &pay(500));
    assert_eq!(st, 200, "{o}");
    assert_eq!(o["verdict"], "review");
    assert_eq!(o["review"]["role"], "fraud_desk");
    let id = o["case"].as_str().unwrap().to_string();
    assert_eq!(id, format!("rv-{}", o["seq"]));

    // Listing needs a token.
    let (st, _) = request(addr, "GET", "/v1/reviews", &[], b"");
    assert_eq!(st, 401);
    let size = log_size(addr);
    // No token, a bad token, the wrong role: refused, nothing changes.
    let (st, b) = review_action(addr, &id, "approve", None);
    assert_eq!(
        (st, b["error"].as_str()),
        (401, Some("unauthenticated")),
        "{b}"
    );
    let (st, b) = review_action(addr, &id, "approve", Some("guess"));
    assert_eq!((st, b["error"].as_str()), (401, Some("bad_token")));
    let (st, b) = review_action(addr, &id, "approve", Some(BOB));
    assert_eq!((st, b["error"].as_str()), (403, Some("wrong_role")));
    assert!(b["message"].as_str().unwrap().contains("fraud_desk"));
    assert_eq!(case(addr, &id)["status"], "open");
    assert_eq!(log_size(addr), size);

    // The right role decides, once.
    let (st, c) = review_action(addr, &id, "approve", Some(ANA));
    assert_eq!(st, 200, "{c}");
    assert_eq!(
        (
            c["status"].as_str(),
            c["decided_by"].as_str(),
            c["verdict"].as_str()
        ),
        (Some("approved"), Some("ana"), Some("allow"))
    );
    let proof = c["proof"].as_u64().unwrap();
    let (st, b) = review_action(addr, &id, "reject", Some(ANA));
    assert_eq!((st, b["error"].as_str()), (409, Some("already_decided")));
    let (st, _) = review_action(addr, &id, "approve", Some(ANA));
    assert_eq!(st, 409);
    let c = case(addr, &id);
    assert_eq!(
        (c["status"].as_str(), c["note"].as_str()),
        (Some("approved"), Some("checked"))
    );
    assert_eq!(log_size(addr), size + 1);
    let auth = bearer(ANA);
    let (st, b) = request(
        addr,
        "GET",
        "/v1/reviews?status=open",
        &[("Authorization", auth.as_str())],
        b"",
    );
    assert_eq!(st, 200);
    assert_eq!(json_of(&b)["cases"], json!([]));
    let (st, _) = request(
        addr,
        "GET",
        "/v1/reviews/rv-404",
        &[("Authorization", auth.as_str())],
        b"",
    );
    assert_eq!(st, 404);
    srv.stop().unwrap();
    record_contains(
        &s.opts.data,
        proof,
        &["review.approved", "\"by\":\"ana\"", &id],
    );
    verified(&s.opts.data);
}

/// Whether case `c` has `status` and, once decided, its outcome's proof record: the queue
/// writes the outcome before its record is durable, so for a moment a case shows its new
/// status with `proof` still null (docs/review.md, "A case").
fn settled(c: &Value, status: &str) -> bool {
    c["status"] == status && (status == "open" || c["proof"].is_u64())
}

fn wait_status(addr: SocketAddr, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let c = case(addr, id);
        if settled(&c, status) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "case {id} is still {}",
            c["status"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_passed_deadline_applies_the_fallback_also_after_a_restart() {
    let s = setup("deadline", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    // `block` gives its fraud desk 1 s, else deny.
    let (_, o) = decide(addr, "block", &pay(500));
    assert_eq!(o["verdict"], "review");
    let id = o["case"].as_str().unwrap().to_string();
    let c = wait_status(addr, &id, "fallback");
    assert_eq!(
        (c["decided_by"].as_str(), c["verdict"].as_str()),
        (Some("deadline"), Some("deny"))
    );
    let proof = c["proof"].as_u64().unwrap();
    let (st, _) = review_action(addr, &id, "approve", Some(ANA));
    assert_eq!(st, 409, "too late to approve");

    // A case open when the server stops gets its fallback when it starts again.
    let (_, o) = decide(addr, "block", &pay(700));
    let id2 = o["case"].as_str().unwrap().to_string();
    srv.stop().unwrap();
    let (cases, _) = xop_runtime::review::read(&s.opts.data).unwrap();
    let open = cases.iter().find(|c| c.id == id2).unwrap();
    assert_eq!(open.status.keyword(), "open", "stopped before the deadline");
    std::thread::sleep(Duration::from_millis(1200));
    let srv = start(&s);
    let c = case(srv.addr(), &id2);
    assert_eq!(
        (c["status"].as_str(), c["decided_by"].as_str()),
        (Some("fallback"), Some("deadline"))
    );
    let proof2 = c["proof"].as_u64().unwrap();
    srv.stop().unwrap();
    record_contains(&s.opts.data, proof, &["review.fallback", &id]);
    record_contains(&s.opts.data, proof2, &["review.fallback", &id2]);
    verified(&s.opts.data);
}

/// Decisions are awaited on the async workers: under concurrent requests each answer is its own
/// decision, with a record of its own that is durable when the answer comes.
#[test]
fn concurrent_decides_are_answered_once_their_own_records_are_durable() {
    let s = setup("concurrent", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let workers: Vec<_> = (0..8i64)
        .map(|w| {
            std::thread::spawn(move || {
                (0..25i64)
                    .map(|i| {
                        // Negative amounts are denied: both verdicts in the mix.
                        let amount = if i % 5 == 0 {
                            -(w * 100 + i)
                        } else {
                            w * 100 + i
                        };
                        let (st, o) = decide(addr, "receipt", &pay(amount));
                        assert_eq!(st, 200, "{o}");
                        let seq = o["seq"].as_u64().unwrap();
                        assert!(log_size(addr) > seq, "record {seq} answered before durable");
                        let verdict = if amount < 0 { "deny" } else { "allow" };
                        assert_eq!(o["verdict"], verdict, "{amount}: {o}");
                        (seq, amount)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<(u64, i64)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let seqs: std::collections::HashSet<u64> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs.len(), 200, "two answers share a record");
    srv.stop().unwrap();
    verified(&s.opts.data);
    for (seq, amount) in answers {
        record_contains(&s.opts.data, seq, &[&format!("\"value\":{amount}}}")]);
    }
}

#[test]
fn hot_swap_under_concurrent_decides() {
    let s = setup("swap", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    let octet = [("Content-Type", "application/octet-stream")];
    // Refusals first: no token, a reviewer, an unsigned module, a wrong content type.
    let (st, _) = request(addr, "POST", "/v1/modules", &octet, &v2);
    assert_eq!(st, 401);
    let ana = bearer(ANA);
    let ops = bearer(OPS);
    let (st, b) = request(
        addr,
        "POST",
        "/v1/modules",
        &[octet[0], ("Authorization", ana.as_str())],
        &v2,
    );
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (403, Some("not_operator"))
    );
    let unsigned = module_bytes("allow \"ok-v2\"", None);
    let (st, b) = request(
        addr,
        "POST",
        "/v1/modules",
        &[octet[0], ("Authorization", ops.as_str())],
        &unsigned,
    );
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (422, Some("module_refused")),
        "{b}"
    );
    let (st, _) = request(
        addr,
        "POST",
        "/v1/modules",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", ops.as_str()),
        ],
        &v2,
    );
    assert_eq!(st, 415);

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (st, o) = decide(addr, "receipt", &pay(5));
                    assert_eq!(st, 200, "{o}");
                    assert_eq!(o["verdict"], "allow");
                    seen.lock()
                        .unwrap()
                        .push(o["reasons"][0].as_str().unwrap().to_string());
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (st, b) = request(
        addr,
        "POST",
        "/v1/modules?name=pay",
        &[octet[0], ("Authorization", ops.as_str())],
        &v2,
    );
    assert_eq!(st, 200, "{b}");
    // ana holds the fraud desk's role, which the module's review rules name: nothing to warn.
    assert_eq!(json_of(&b).get("warnings"), None, "{b}");
    let after = seen.lock().unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|r| r == "ok"), "decided before the swap");
    assert!(seen.len() > after, "decided after the swap");
    // Every decision started after the swap answered uses the new module. Each worker has at
    // most one request in flight, so at most 4 answers from the old module can still arrive,
    // in any order: a preempted thread may deliver its answer after the others' next ones.
    let late_old = seen[after..].iter().filter(|r| *r == "ok").count();
    assert!(
        late_old <= 4,
        "{late_old} answers from the old module after the swap"
    );
    assert!(
        seen[after..].iter().any(|r| r == "ok-v2"),
        "no answer from the new module"
    );
    srv.stop().unwrap();
    verified(&s.opts.data);
}

#[test]
fn the_halt_switch_sends_high_risk_actions_to_their_fallback() {
    let s = setup("halt", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let (_, o) = decide(addr, "freeze", &pay(500));
    let open = o["case"].as_str().unwrap().to_string();
    let json_ct = ("Content-Type", "application/json");
    let (st, _) = request(addr, "POST", "/v1/halt", &[json_ct], b"{}");
    assert_eq!(st, 401);
    let ana = bearer(ANA);
    let ops = bearer(OPS);
    let (st, _) = request(
        addr,
        "POST",
        "/v1/halt",
        &[json_ct, ("Authorization", ana.as_str())],
        b"{}",
    );
    assert_eq!(st, 403);
    let (st, b) = request(
        addr,
        "POST",
        "/v1/halt",
        &[json_ct, ("Authorization", ops.as_str())],
        br#"{"reason":"incident 42"}"#,
    );
    assert_eq!(st, 200, "{b}");
    // A high-risk action gets its fallback (the review's `else deny`), proven; a minimal-risk
    // one is untouched; an open high-risk case cannot be approved.
    let (st, o) = decide(addr, "freeze", &pay(600));
    assert_eq!(st, 200);
    assert_eq!(
        (o["verdict"].as_str(), o["halted"].as_bool()),
        (Some("deny"), Some(true))
    );
    let closed = case(addr, o["case"].as_str().unwrap());
    assert_eq!(closed["decided_by"], "halt");
    let (_, o) = decide(addr, "receipt", &pay(5));
    assert_eq!(o["verdict"], "allow");
    // Decided as an action, the same.
    let (_, o) = decide_action(addr, "freeze_account", &pay(600));
    assert_eq!(
        (o["verdict"].as_str(), o["halted"].as_bool()),
        (Some("deny"), Some(true)),
        "{o}"
    );
    let (_, o) = decide_action(addr, "send_receipt", &pay(5));
    assert_eq!(
        (o["verdict"].as_str(), o["halted"].as_bool()),
        (Some("allow"), Some(false))
    );
    let (st, b) = review_action(addr, &open, "approve", Some(ANA));
    assert_eq!((st, b["error"].as_str()), (409, Some("halted")));
    srv.stop().unwrap();

    // Durable: still halted after a restart, until an operator lifts it.
    let srv = start(&s);
    let addr = srv.addr();
    let (_, b) = request(addr, "GET", "/v1/halt", &[], b"");
    assert_eq!(json_of(&b)["halt"]["by"], "ops");
    let (_, o) = decide(addr, "freeze", &pay(600));
    assert_eq!(o["verdict"], "deny");
    let (st, _) = request(
        addr,
        "DELETE",
        "/v1/halt",
        &[("Authorization", ana.as_str())],
        b"",
    );
    assert_eq!(st, 403);
    let (st, _) = request(
        addr,
        "DELETE",
        "/v1/halt",
        &[("Authorization", ops.as_str())],
        b"",
    );
    assert_eq!(st, 200);
    let (_, o) = decide(addr, "freeze", &pay(600));
    assert_eq!(o["verdict"], "review");
    let (st, _) = review_action(addr, &open, "approve", Some(ANA));
    assert_eq!(st, 200);
    srv.stop().unwrap();
    verified(&s.opts.data);
    drop(s.tmp);
}

/// `POST /v1/reviews`: an operator (the MCP gateway) opens a case for a call held elsewhere;
/// it is proven first, and reviewers of its role decide it like any other.
#[test]
fn an_operator_opens_a_review_case_for_a_held_call() {
    let s = setup("open-review", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let body = json!({"source": "mcp-gateway acme.bot tool refund", "action": "acme.refund",
                      "reasons": ["large-refund"], "role": "fraud_desk", "within_ms": 60000,
                      "fallback": "deny", "module": "ab12",
                      "evidence": [{"path": "amount", "value": "500.00 EUR"}]});
    let open = |token: Option<&str>, body: &Value| {
        let auth = token.map(bearer);
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        let (st, b) = request(
            addr,
            "POST",
            "/v1/reviews",
            &headers,
            body.to_string().as_bytes(),
        );
        (st, json_of(&b))
    };
    let size = log_size(addr);
    // Only an operator may open one; a bad request says what to send; nothing is logged.
    assert_eq!(open(None, &body).0, 401);
    let (st, b) = open(Some(ANA), &body);
    assert_eq!(
        (st, b["error"].as_str()),
        (403, Some("not_operator")),
        "{b}"
    );
    let mut bad = body.clone();
    bad["fallback"] = json!("review");
    let (st, b) = open(Some(OPS), &bad);
    assert_eq!(
        (st, b["error"].as_str()),
        (400, Some("bad_review_request")),
        "{b}"
    );
    assert!(b["message"].as_str().unwrap().contains("fallback"), "{b}");
    let mut bad = body.clone();
    bad["reasons"] = json!([]);
    assert_eq!(open(Some(OPS), &bad).0, 400);
    // Fields of the wrong type are refused, not dropped; so are unknown ones, and a deadline
    // no time can hold.
    for (key, value) in [
        ("record", json!(-1)),
        ("record", json!("5")),
        ("module", json!(5)),
        ("within_ms", json!(i64::MAX)),
        ("fallbak", json!("deny")),
        ("evidence", json!([{"path": "amount", "colour": 1}])),
        ("evidence", json!("amount")),
        ("also", json!("marketing")),
        ("also", json!([""])),
    ] {
        let mut bad = body.clone();
        bad[key] = value.clone();
        let (st, b) = open(Some(OPS), &bad);
        assert_eq!(
            (st, b["error"].as_str()),
            (400, Some("bad_review_request")),
            "{key} = {value}: {b}"
        );
        assert!(b["message"].as_str().unwrap().contains(key), "{b}");
    }
    assert_eq!(log_size(addr), size);

    // A case for reviews of two roles is approved role by role, by two people: after the
    // first, it stays open (the gateway's call stays held) and says what it waits for.
    let mut two = body.clone();
    two["also"] = json!(["marketing"]);
    let (st, c) = open(Some(OPS), &two);
    assert_eq!((st, c["also"].clone()), (201, json!(["marketing"])), "{c}");
    assert_eq!(c["waiting"], json!(["fraud_desk", "marketing"]), "{c}");
    let two_id = c["id"].as_str().unwrap().to_string();
    let (st, b) = review_action(addr, &two_id, "approve", Some(ANA));
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (&b["status"], &b["waiting"], &b["approvals"][0]["by"]),
        (&json!("open"), &json!(["marketing"]), &json!("ana")),
        "{b}"
    );
    let held = case(addr, &two_id);
    assert_eq!(
        (&held["status"], &held["decided_by"], &held["waiting"]),
        (&json!("open"), &Value::Null, &json!(["marketing"])),
        "{held}"
    );
    let (st, b) = review_action(addr, &two_id, "approve", Some(ANA));
    assert_eq!(
        (st, b["error"].as_str()),
        (409, Some("already_approved")),
        "{b}"
    );
    let (st, b) = review_action(addr, &two_id, "approve", Some(BOB));
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (&b["status"], &b["decided_by"], b.get("waiting")),
        (&json!("approved"), &json!("bob"), None),
        "{b}"
    );
    let approved = b["proof"].as_u64().unwrap();
    // The request, ana's approval (`review.approval`), and bob's `review.approved`.
    assert_eq!(log_size(addr), size + 3);

    let (st, c) = open(Some(OPS), &body);
    assert_eq!(st, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_string();
    let requested = c["seq"].as_u64().unwrap();
    // The reviewer sees what the held call carried.
    assert_eq!(
        c["evidence"],
        json!([{"path": "amount", "value": "500.00 EUR"}]),
        "{c}"
    );
    assert_eq!(id, format!("rv-{requested}"));
    assert_eq!(
        (
            c["status"].as_str(),
            c["role"].as_str(),
            c["fallback"].as_str()
        ),
        (Some("open"), Some("fraud_desk"), Some("deny"))
    );
    // The wrong role is refused; the right one approves, and the gateway reads the outcome.
    assert_eq!(review_action(addr, &id, "approve", Some(BOB)).0, 403);
    // A note under another name, or a body that is no object, is refused, not read as none.
    let auth = format!("bearer {ANA}");
    for body in [&br#"{"nte":"x"}"#[..], b"[1]", br#"{"note":5}"#] {
        let (st, b) = request(
            addr,
            "POST",
            &format!("/v1/reviews/{id}/approve"),
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            body,
        );
        assert_eq!(
            (st, json_of(&b)["error"].as_str()),
            (400, Some("bad_note")),
            "{b}"
        );
    }
    assert_eq!(case(addr, &id)["status"], "open");
    let (st, c) = review_action(addr, &id, "approve", Some(ANA));
    assert_eq!(st, 200, "{c}");
    assert_eq!(case(addr, &id)["status"], "approved");
    srv.stop().unwrap();
    record_contains(
        &s.opts.data,
        approved - 1,
        &[
            "review.approval",
            "\"roles\":[\"fraud_desk\"]",
            "\"by\":\"ana\"",
        ],
    );
    record_contains(
        &s.opts.data,
        approved,
        &["review.approved", "\"approvals\":[{\"by\":\"ana\""],
    );
    record_contains(
        &s.opts.data,
        requested,
        &[
            "review.requested",
            "\"by\":\"ops\"",
            "large-refund",
            "mcp-gateway",
            "500.00 EUR",
        ],
    );
    verified(&s.opts.data);
}

/// The whole response (status line, headers, body) to `raw`, as text.
fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Headers the request leaves ambiguous, or that would have the body read as what it is not,
/// are refused (JSON, nothing decided): two Content-Types, a content coding; one leading
/// byte-order mark is skipped, a second is invalid JSON.
#[test]
fn ambiguous_types_codings_and_a_second_bom_are_refused() {
    let s = setup("headers", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let size = log_size(addr);
    let body = pay(5).to_string();
    // Two Content-Types, in either order: which one is meant is not decided for the client.
    for types in [
        [
            ("Content-Type", "application/json"),
            ("Content-Type", "text/plain"),
        ],
        [
            ("Content-Type", "text/plain"),
            ("Content-Type", "application/json"),
        ],
        [
            ("Content-Type", "application/json"),
            ("Content-Type", "application/json"),
        ],
    ] {
        let (st, b) = request(addr, "POST", "/v1/decide/receipt", &types, body.as_bytes());
        assert_eq!(
            (st, json_of(&b)["error"].as_str()),
            (400, Some("duplicate_header")),
            "{types:?}: {b}"
        );
        assert!(
            json_of(&b)["message"]
                .as_str()
                .unwrap()
                .contains("more than one Content-Type header; send one"),
            "{b}"
        );
    }
    // A content coding is not decoded: refused, with the coding that would do.
    for coding in ["gzip", "identity, gzip", "br"] {
        let raw = format!(
            "POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Encoding: {coding}\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let answer = exchange(addr, raw.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("\r\naccept-encoding: identity\r\n"),
            "{answer}"
        );
        let b = answer.split_once("\r\n\r\n").unwrap().1;
        assert_eq!(json_of(b)["error"], "unsupported_encoding", "{b}");
        assert!(
            json_of(b)["message"]
                .as_str()
                .unwrap()
                .contains("send it uncompressed"),
            "{b}"
        );
    }
    assert_eq!(log_size(addr), size, "a refused request was decided");
    let json_ct = [("Content-Type", "application/json")];
    let encoded = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "identity"),
    ];
    let (st, b) = request(
        addr,
        "POST",
        "/v1/decide/receipt",
        &encoded,
        body.as_bytes(),
    );
    assert_eq!(st, 200, "{b}");
    // One leading byte-order mark is skipped; a second one is not JSON.
    let bom = format!("\u{feff}{body}");
    let (st, b) = request(addr, "POST", "/v1/decide/receipt", &json_ct, bom.as_bytes());
    assert_eq!(
        (st, json_of(&b)["verdict"].as_str()),
        (200, Some("allow")),
        "{b}"
    );
    let size = log_size(addr);
    let two = format!("\u{feff}\u{feff}{body}");
    let (st, b) = request(addr, "POST", "/v1/decide/receipt", &json_ct, two.as_bytes());
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (400, Some("malformed_json")),
        "{b}"
    );
    assert!(b.contains("a second byte-order mark"), "{b}");
    assert_eq!(log_size(addr), size);
    srv.stop().unwrap();
    verified(&s.opts.data);
}

/// What docs/serve.md says of requests the HTTP layer refuses before the API sees them: 400
/// with no body (hyper offers no way to give one), the connection closed, nothing decided.
#[test]
fn malformed_http_framing_is_refused_before_the_api() {
    let s = setup("framing", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let size = log_size(addr);
    let body = pay(5).to_string();
    let post = |lengths: &str| {
        format!(
            "POST /v1/decide/receipt HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             {lengths}\r\n{body}"
        )
    };
    for raw in [
        post(&format!(
            "Content-Length: {}\r\nContent-Length: 3\r\n",
            body.len()
        )),
        post("Content-Length: abc\r\n"),
        post("Transfer-Encoding: gzip\r\n"),
        "GARBAGE\r\n\r\n".to_string(),
        "POST /v1/decide/receipt HTTP/9.9\r\nHost: x\r\n\r\n".to_string(),
    ] {
        let answer = exchange(addr, raw.as_bytes());
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{raw:?}: {answer}"
        );
        let (head, rest) = answer.split_once("\r\n\r\n").unwrap();
        assert!(
            rest.is_empty() && head.to_ascii_lowercase().contains("content-length: 0"),
            "{raw:?}: {answer}"
        );
    }
    // A well-formed method no endpoint takes reaches the API: JSON.
    let answer = exchange(
        addr,
        b"FOO /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.contains("\"method_not_allowed\""), "{answer}");
    // The same length twice is one length: decided.
    let twice = post(&format!(
        "Connection: close\r\nContent-Length: {0}\r\nContent-Length: {0}\r\n",
        body.len()
    ));
    let answer = exchange(addr, twice.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(log_size(addr), size + 1);
    srv.stop().unwrap();
    verified(&s.opts.data);
}

/// A module refused because it defines a policy another loaded module defines is not kept in
/// the data folder: at start-up and on hot swap. One kept before (the loaded module itself,
/// sent again under another name) stays: records name it.
#[test]
fn a_module_refused_for_a_conflict_is_not_kept() {
    let s = setup("conflict", 1 << 20);
    let kept = |bytes: &[u8]| {
        s.opts
            .data
            .join("modules")
            .join(format!(
                "{}.xopm",
                xop_runtime::module::hex(&xop_runtime::module::content_hash(bytes))
            ))
            .exists()
    };
    let pay = std::fs::read(s.tmp.0.join("pay.xopm")).unwrap();
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    std::fs::write(s.tmp.0.join("other.xopm"), &v2).unwrap();
    let mut both = s.opts.clone();
    both.modules.push(s.tmp.0.join("other.xopm"));
    let err = serve(&both)
        .err()
        .expect("a conflict at start-up is refused");
    assert!(
        err.contains(&format!(
            "`{}`: policy `receipt` is already defined by module `pay` (`{}`)",
            both.modules[1].display(),
            both.modules[0].display()
        )) && err.contains("give only one of them with --module"),
        "{err}"
    );
    assert!(!kept(&v2), "the refused module was kept");

    let srv = start(&s);
    let addr = srv.addr();
    assert!(kept(&pay));
    let ops = bearer(OPS);
    let headers = [
        ("Content-Type", "application/octet-stream"),
        ("Authorization", ops.as_str()),
    ];
    let (st, b) = request(addr, "POST", "/v1/modules?name=other", &headers, &v2);
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (409, Some("conflict")),
        "{b}"
    );
    assert!(!kept(&v2), "the refused module was kept");
    let (st, b) = request(addr, "POST", "/v1/modules?name=other", &headers, &pay);
    assert_eq!(st, 409, "{b}");
    assert!(kept(&pay), "a module records may name was removed");
    // Accepted, it is kept (before any record names it).
    let (st, b) = request(addr, "POST", "/v1/modules?name=pay", &headers, &v2);
    assert_eq!(st, 200, "{b}");
    assert!(kept(&v2));
    srv.stop().unwrap();
    verified(&s.opts.data);
}

/// A QoD boost reviewed past an hour, for a device that is not roaming (read from the network).
const BOOST: &str = r#"module t.boost

use std.camara.{create_qos_session, RoamingStatus}

/// Network operations.
role noc

/// The roaming status of a phone number.
signal roaming(p: Text): RoamingStatus from camara.device_roaming(p) max_age 5m

policy boost for create_qos_session(phone_number: p, qos_profile: q, duration: d) {
  deny "roaming-unknown" when roaming(p) is absent
  deny "roaming" when roaming(p) is present and roaming(p).roaming
  deny "profile-not-offered" unless q in ["QOS_M", "QOS_L"]
  review "long-boost" by role noc within 15m else deny when d > 1h
  allow "boost"
}
"#;

const NORA: &str = "nora-token";

/// An action carried out: its name and arguments.
type Carried = (String, Vec<xop_runtime::value::Value>);

/// Connectors standing in for the operator: the roaming status is read in `delay_ms` (not
/// roaming, observed now), and every action is carried out in `perform_delay_ms`, kept in
/// `performed`. The instant each decision's reads were to be done by is kept in `untils`.
#[derive(Clone, Default)]
struct SlowNetwork {
    delay_ms: Arc<std::sync::atomic::AtomicU64>,
    perform_delay_ms: Arc<std::sync::atomic::AtomicU64>,
    performed: Arc<Mutex<Vec<Carried>>>,
    untils: Arc<Mutex<Vec<Option<std::time::Instant>>>>,
}

struct SlowSignals<'a> {
    net: &'a SlowNetwork,
    program: &'a xop_runtime::ir::Program,
}

impl xop_runtime::interp::Signals for SlowSignals<'_> {
    fn read(
        &self,
        _signal: u32,
        _decl: &xop_runtime::ir::SignalDecl,
        _args: &[xop_runtime::value::Value],
    ) -> xop_runtime::value::Value {
        use xop_runtime::value::Value as V;
        std::thread::sleep(Duration::from_millis(
            self.net.delay_ms.load(Ordering::SeqCst),
        ));
        let Some(i) =
            (self.program.records.iter()).position(|r| r.name == "std.camara.RoamingStatus")
        else {
            return V::Absent;
        };
        let fields = (self.program.records[i].fields.iter())
            .map(|f| match f.name.as_str() {
                "roaming" => V::Bool(false),
                "country_name" => V::List(Vec::new().into()),
                "last_status_time" => V::Time(jiff::Timestamp::now().as_millisecond()),
                _ => V::Absent,
            })
            .collect();
        V::Record(u32::try_from(i).unwrap(), fields)
    }
}

impl xop_runtime::connectors::Connectors for SlowNetwork {
    fn signals<'a>(
        &'a self,
        program: &'a xop_runtime::ir::Program,
        _now_ms: i64,
    ) -> Box<dyn xop_runtime::interp::Signals + 'a> {
        Box::new(SlowSignals { net: self, program })
    }

    fn signals_by_deadline<'a>(
        &'a self,
        program: &'a xop_runtime::ir::Program,
        now_ms: i64,
        deadline: Option<&xop_runtime::engine::Deadline>,
    ) -> Box<dyn xop_runtime::interp::Signals + 'a> {
        let until = deadline.map(xop_runtime::engine::Deadline::at);
        self.untils.lock().unwrap().push(until);
        self.signals(program, now_ms)
    }

    fn perform(
        &self,
        _program: &xop_runtime::ir::Program,
        action: &str,
        args: &[xop_runtime::value::Value],
    ) -> Option<xop_runtime::connectors::Performed> {
        let delay = self.perform_delay_ms.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(delay));
        let mut performed = self.performed.lock().unwrap();
        performed.push((action.to_string(), args.to_vec()));
        Some(xop_runtime::connectors::Performed {
            action: action.to_string(),
            ok: true,
            result: json!({"session_id": format!("session-{}", performed.len())}),
            calls: Vec::new(),
        })
    }
}

/// `xop serve` on the boost module, with `timeout_ms` and nora of role `noc`, deciding on
/// `net`.
fn serve_boost(tmp: &TempDir, timeout_ms: u64, net: &SlowNetwork) -> Running {
    serve_boost_source(tmp, timeout_ms, net, BOOST)
}

/// [`serve_boost`] on the module `source` (a variant of [`BOOST`]).
fn serve_boost_source(tmp: &TempDir, timeout_ms: u64, net: &SlowNetwork, source: &str) -> Running {
    std::fs::write(
        tmp.0.join("boost.xopm"),
        compiled("boost.xop", source, None),
    )
    .unwrap();
    std::fs::write(
        tmp.0.join("xop.toml"),
        format!(
            "timeout_ms = {timeout_ms}\n[[reviewers]]\nname = \"nora\"\nroles = [\"noc\"]\n\
             token_sha256 = \"{}\"\n",
            token_hash(NORA)
        ),
    )
    .unwrap();
    let opts = ServeOptions {
        modules: vec![tmp.0.join("boost.xopm")],
        data: tmp.0.join("data"),
        config: Some(tmp.0.join("xop.toml")),
        listen: Some("127.0.0.1:0".into()),
        workers: Some(2),
    };
    xop_server::serve_with(&opts, Some(Box::new(net.clone()))).unwrap()
}

fn boost(duration: &str) -> Value {
    json!({"phone_number": "+33612345678", "application_server": "198.51.100.0/24",
           "qos_profile": "QOS_L", "duration": duration})
}

/// The names of the log's records (`decision`, or the event's name).
fn record_names(data: &Path) -> Vec<String> {
    let mut r = LogReader::open(data).unwrap();
    (0..r.size())
        .map(|seq| {
            let v: Value = serde_json::from_slice(&r.record_bytes(seq).unwrap()).unwrap();
            v["name"].as_str().unwrap_or("decision").to_string()
        })
        .collect()
}

/// A decision that outlives `timeout_ms` (the network is slow) is answered 503 `timeout` and
/// abandoned: it is not recorded, its allowed action not carried out, its review case not
/// opened, so the retry the answer asks for does not do either twice.
#[test]
fn a_decision_answered_timeout_is_abandoned_and_its_retry_does_it_once() {
    let tmp = TempDir::new("timeout-abandoned");
    let net = SlowNetwork::default();
    let server = serve_boost(&tmp, 400, &net);
    let addr = server.addr();
    for (duration, verdict) in [("30m", "allow"), ("90m", "review")] {
        let size = log_size(addr);
        net.delay_ms.store(900, Ordering::SeqCst);
        let sent = std::time::Instant::now();
        let (status, body) = decide_action(addr, "create_qos_session", &boost(duration));
        let answered = std::time::Instant::now();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "timeout");
        // The connectors were told when the decision's reads must be done by: the request's
        // deadline, `timeout_ms` after it came in.
        let until = net.untils.lock().unwrap().last().copied().flatten();
        let until = until.expect("the decision's deadline reached the connectors");
        assert!(
            until >= sent + Duration::from_millis(400) && until <= answered,
            "{:?} after the request, which was answered after {:?}",
            until - sent,
            answered - sent
        );
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(
                "abandoned before it was recorded: nothing was recorded, carried out \
                              or sent to review; retry it"
            ),
            "{message}"
        );
        // The decision's thread reads the slow signal to the end: still nothing happens.
        std::thread::sleep(Duration::from_millis(900));
        assert_eq!(log_size(addr), size, "the abandoned decision was recorded");
        net.delay_ms.store(0, Ordering::SeqCst);
        let (status, body) = decide_action(addr, "create_qos_session", &boost(duration));
        assert_eq!(
            (status, body["verdict"].as_str()),
            (200, Some(verdict)),
            "{body}"
        );
        assert_eq!(body["seq"].as_u64(), Some(size), "{body}");
    }
    let performed = net.performed.lock().unwrap().clone();
    assert_eq!(performed.len(), 1, "{performed:?}");
    let auth = bearer(NORA);
    let (_, cases) = request(addr, "GET", "/v1/reviews", &[("Authorization", &auth)], b"");
    assert_eq!(
        json_of(&cases)["cases"].as_array().unwrap().len(),
        1,
        "{cases}"
    );
    server.stop().unwrap();
    let data = tmp.0.join("data");
    assert_eq!(
        record_names(&data),
        ["decision", "action.performed", "decision"]
    );
    verified(&data);
}

/// A decision recorded in time whose action takes longer than `timeout_ms` stands: the 503
/// says it was recorded (its record's number) and that the action may have been carried out,
/// and a retry is not asked for; the action completes and is proven.
#[test]
fn a_decision_recorded_before_its_timeout_stands_and_the_answer_says_so() {
    let tmp = TempDir::new("timeout-recorded");
    let net = SlowNetwork::default();
    net.perform_delay_ms.store(900, Ordering::SeqCst);
    let server = serve_boost(&tmp, 400, &net);
    let addr = server.addr();
    let (status, body) = decide_action(addr, "create_qos_session", &boost("30m"));
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("timeout")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    for needle in [
        "after its decision was recorded: it was not acknowledged, but the decision stands: \
         its record (0) becomes durable",
        "an allowed action the connectors had started before the deadline completes",
        "look this one up first (`xop log show DATA 0`",
    ] {
        assert!(message.contains(needle), "{message}");
    }
    assert!(!message.contains("retry it"), "{message}");
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(net.performed.lock().unwrap().len(), 1);
    server.stop().unwrap();
    let data = tmp.0.join("data");
    assert_eq!(record_names(&data), ["decision", "action.performed"]);
    verified(&data);
}

/// An approved QoD boost is carried out through the connectors, with the arguments its case
/// kept, and proven as `action.performed` naming the case and the approval, as an allow's is.
#[test]
fn an_approved_boost_is_carried_out() {
    let tmp = TempDir::new("approved-boost");
    let net = SlowNetwork::default();
    let server = serve_boost(&tmp, 10_000, &net);
    let addr = server.addr();
    let (status, decided) = decide_action(addr, "create_qos_session", &boost("90m"));
    assert_eq!((status, decided["verdict"].as_str()), (200, Some("review")));
    let id = decided["case"].as_str().unwrap().to_string();
    let auth = bearer(NORA);
    let (_, opened) = request(
        addr,
        "GET",
        &format!("/v1/reviews/{id}"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(
        json_of(&opened)["args"],
        json!({"phone_number": "+33612345678", "application_server": "198.51.100.0/24",
               "qos_profile": "QOS_L", "duration": 5_400_000})
    );
    assert!(net.performed.lock().unwrap().is_empty());
    let (status, approved) = review_action(addr, &id, "approve", Some(NORA));
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["performed"]["ok"], true, "{approved}");
    let seq = approved["performed_seq"].as_u64().unwrap();
    {
        use xop_runtime::value::Value as V;
        let performed = net.performed.lock().unwrap();
        assert_eq!(performed.len(), 1);
        assert_eq!(performed[0].0, "std.camara.create_qos_session");
        assert_eq!(
            performed[0].1,
            [
                V::Text("+33612345678".into()),
                V::Text("198.51.100.0/24".into()),
                V::Text("QOS_L".into()),
                V::Duration(5_400_000),
            ]
        );
    }
    server.stop().unwrap();
    let data = tmp.0.join("data");
    assert_eq!(
        record_names(&data),
        ["decision", "review.approved", "action.performed"]
    );
    record_contains(
        &data,
        seq,
        &[
            &format!("\"case\":\"{id}\""),
            &format!("\"approval\":{}", approved["proof"]),
            "\"decision\":0",
            "session-1",
        ],
    );
    verified(&data);
}

/// A boost case whose arguments were edited in `reviews.log` while the server was stopped
/// (another phone number, which the queue's file alone holds) is not carried out when approved
/// over HTTP: the decision's record commits to the arguments it was decided on. The answer says
/// why, naming that record; `action.not_performed` proves it; nothing is sent; and the check
/// `xop log verify` makes of the queue names the case.
#[test]
fn an_approval_of_a_boost_whose_case_was_edited_is_refused() {
    let tmp = TempDir::new("edited-boost");
    let net = SlowNetwork::default();
    let server = serve_boost(&tmp, 10_000, &net);
    let (status, decided) = decide_action(server.addr(), "create_qos_session", &boost("90m"));
    assert_eq!((status, decided["verdict"].as_str()), (200, Some("review")));
    let id = decided["case"].as_str().unwrap().to_string();
    let seq = decided["seq"].as_u64().unwrap();
    server.stop().unwrap();
    let data = tmp.0.join("data");
    let path = data.join(xop_runtime::review::FILE);
    let mut text = String::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let mut l: Value = serde_json::from_str(line).unwrap();
        if l["op"] == "open" && l["case"]["id"] == id.as_str() {
            assert_eq!(l["case"]["args"]["phone_number"], "+33612345678");
            l["case"]["args"]["phone_number"] = json!("+33699999999");
            l["case"]["reasons"] = json!(["forged"]);
        }
        text.push_str(&serde_json::to_string(&l).unwrap());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    let server = serve_boost(&tmp, 10_000, &net);
    // The queue checks the case against its decision's record: the approval is refused,
    // saying what differs, and nothing is recorded.
    let (status, refused) = review_action(server.addr(), &id, "approve", Some(NORA));
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("case_changed")),
        "{refused}"
    );
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("decision's proof record ({seq})"))
            && message.contains("it keeps arguments whose SHA-256 is ")
            && message.contains("nothing was recorded"),
        "{message}"
    );
    // The reviewer is shown the case, and what differs from its record.
    // The reviewer is shown the record's reasons, and what differs from the record.
    let shown = boost_case_once(server.addr(), &id, "open");
    let differs = shown["record_differs"].as_str().unwrap_or_default();
    assert!(
        differs.contains("it keeps arguments whose SHA-256 is ")
            && differs.contains(r#"its reasons in `reviews.log` are ["forged"]"#),
        "{shown}"
    );
    assert!(
        !shown["reasons"].as_array().unwrap().is_empty() && shown["reasons"] != json!(["forged"]),
        "{shown}"
    );
    assert!(shown.get("record_error").is_none(), "{shown}");
    // So does the list.
    let auth = bearer(NORA);
    let (st, b) = request(
        server.addr(),
        "GET",
        "/v1/reviews",
        &[("Authorization", auth.as_str())],
        b"",
    );
    assert_eq!(st, 200, "{b}");
    let listed = json_of(&b)["cases"][0].clone();
    assert_eq!(
        (&listed["reasons"], &listed["record_differs"]),
        (&shown["reasons"], &shown["record_differs"]),
        "{listed}"
    );
    server.stop().unwrap();
    assert!(net.performed.lock().unwrap().is_empty(), "nothing was sent");
    assert_eq!(record_names(&data), ["decision"]);
    verified(&data);
    let problems = xop_runtime::review::check_cases(&data).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].record, Some(seq));
    assert!(
        problems[0].message.starts_with(&format!(
            "case `{id}` in `reviews.log` is not the case this decision record describes"
        )),
        "{}",
        problems[0].message
    );
}

/// [`BOOST`] with its review given `within` and falling back to `fallback`.
fn boost_falling_back(within: &str, fallback: &str) -> String {
    BOOST.replace(
        "within 15m else deny",
        &format!("within {within} else {fallback}"),
    )
}

/// Case `id` as nora (of role `noc`) sees it over HTTP, once its status is `status`.
fn boost_case_once(addr: SocketAddr, id: &str, status: &str) -> Value {
    let auth = bearer(NORA);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (st, b) = request(
            addr,
            "GET",
            &format!("/v1/reviews/{id}"),
            &[("Authorization", &auth)],
            b"",
        );
        assert_eq!(st, 200, "{b}");
        let c = json_of(&b);
        if settled(&c, status) {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "case {id} is still {}",
            c["status"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The actions `net` carried out, once there are `n` (within 15 s).
fn carried_once(net: &SlowNetwork, n: usize) -> Vec<Carried> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let performed = net.performed.lock().unwrap().clone();
        if performed.len() >= n {
            return performed;
        }
        assert!(Instant::now() < deadline, "carried out: {performed:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A QoD boost whose review falls back to `allow` is carried out when nobody decides in time,
/// as an approval's is: the deadline's timer closes the case (`review.fallback`, by
/// `deadline`), then the session is created at the operator with the arguments the case kept,
/// proven as `action.performed` naming the case and the fallback's record. A case that fell
/// due while the server was stopped is carried out when it starts again, before it listens.
#[test]
fn an_allow_fallback_at_the_deadline_carries_the_boost_out() {
    use xop_runtime::value::Value as V;
    let tmp = TempDir::new("allow-fallback-boost");
    let net = SlowNetwork::default();
    let source = boost_falling_back("1s", "allow");
    let server = serve_boost_source(&tmp, 10_000, &net, &source);
    let addr = server.addr();
    let (status, decided) = decide_action(addr, "create_qos_session", &boost("90m"));
    assert_eq!((status, decided["verdict"].as_str()), (200, Some("review")));
    let id = decided["case"].as_str().unwrap().to_string();
    assert!(net.performed.lock().unwrap().is_empty());
    let c = boost_case_once(addr, &id, "fallback");
    assert_eq!(
        (c["decided_by"].as_str(), c["verdict"].as_str()),
        (Some("deadline"), Some("allow"))
    );
    let performed = carried_once(&net, 1);
    assert_eq!(performed.len(), 1, "{performed:?}");
    assert_eq!(performed[0].0, "std.camara.create_qos_session");
    assert_eq!(
        performed[0].1,
        [
            V::Text("+33612345678".into()),
            V::Text("198.51.100.0/24".into()),
            V::Text("QOS_L".into()),
            V::Duration(5_400_000),
        ]
    );
    // Closed while the server is stopped: carried out when it starts, before it listens.
    let (_, decided) = decide_action(addr, "create_qos_session", &boost("2h"));
    let id2 = decided["case"].as_str().unwrap().to_string();
    server.stop().unwrap();
    let (cases, _) = xop_runtime::review::read(&tmp.0.join("data")).unwrap();
    let open = cases.iter().find(|c| c.id == id2).unwrap();
    assert_eq!(open.status.keyword(), "open", "stopped before the deadline");
    std::thread::sleep(Duration::from_millis(1200));
    let server = serve_boost_source(&tmp, 10_000, &net, &source);
    let performed = net.performed.lock().unwrap().clone();
    assert_eq!(performed.len(), 2, "{performed:?}");
    assert_eq!(performed[1].1[3], V::Duration(7_200_000));
    let c2 = boost_case_once(server.addr(), &id2, "fallback");
    server.stop().unwrap();
    let data = tmp.0.join("data");
    assert_eq!(
        record_names(&data),
        [
            "decision",
            "review.fallback",
            "action.performed",
            "decision",
            "review.fallback",
            "action.performed"
        ]
    );
    for (case, seq, session) in [(&c, 2, "session-1"), (&c2, 5, "session-2")] {
        record_contains(
            &data,
            seq,
            &[
                &format!("\"case\":\"{}\"", case["id"].as_str().unwrap()),
                &format!("\"fallback\":{}", case["proof"]),
                &format!("\"decision\":{}", case["seq"]),
                session,
            ],
        );
        let mut r = LogReader::open(&data).unwrap();
        let text = String::from_utf8(r.record_bytes(seq).unwrap()).unwrap();
        assert!(!text.contains("\"approval\""), "{text}");
    }
    verified(&data);
}

/// A QoD boost whose review falls back to `deny` is not carried out when nobody decides in
/// time: the case closes with its fallback, and nothing is sent nor performed.
#[test]
fn a_deny_fallback_at_the_deadline_carries_nothing_out() {
    let tmp = TempDir::new("deny-fallback-boost");
    let net = SlowNetwork::default();
    let server = serve_boost_source(&tmp, 10_000, &net, &boost_falling_back("1s", "deny"));
    let addr = server.addr();
    let (status, decided) = decide_action(addr, "create_qos_session", &boost("90m"));
    assert_eq!((status, decided["verdict"].as_str()), (200, Some("review")));
    let id = decided["case"].as_str().unwrap().to_string();
    let c = boost_case_once(addr, &id, "fallback");
    assert_eq!(
        (c["decided_by"].as_str(), c["verdict"].as_str()),
        (Some("deadline"), Some("deny"))
    );
    // Time for anything the fallback would set going.
    std::thread::sleep(Duration::from_millis(500));
    server.stop().unwrap();
    assert!(net.performed.lock().unwrap().is_empty());
    let data = tmp.0.join("data");
    assert_eq!(record_names(&data), ["decision", "review.fallback"]);
    verified(&data);
}

/// QA defects 1, 7, 8b, 8c. Losing `reviews.log` neither lifts the halt switch nor drops the
/// log's review decisions: the restart turns the halt on again from the log's `halt.on`, and
/// the case it lost gets its fallback, proven by `recovery`. The answer's review deadline is
/// the case's (opened plus `within`), not the input's `now` plus `within`. Two Authorization
/// headers, and unknown or repeated query parameters of the review list, are refused.
#[test]
fn a_lost_queue_keeps_the_halt_and_the_answer_gives_the_cases_deadline() {
    let s = setup("lostq", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let mut input = pay(500);
    input["now"] = json!("2020-01-01T00:00:00Z");
    let (st, o) = decide(addr, "freeze", &input);
    assert_eq!((st, o["verdict"].as_str()), (200, Some("review")), "{o}");
    let id = o["case"].as_str().unwrap().to_string();
    let c = case(addr, &id);
    assert_eq!(o["review"]["deadline"], c["deadline"], "{o} {c}");
    assert!(o["review"]["deadline"].as_str().unwrap() > "2026", "{o}");
    let seq = o["seq"].as_u64().unwrap();
    // The record keeps the decision time plus `within` (documented).
    record_contains(
        &s.opts.data,
        seq,
        &["\"deadline\":\"2020-01-01T01:00:00.000Z\""],
    );

    let (ana, ops) = (bearer(ANA), bearer(OPS));
    let (st, b) = request(
        addr,
        "GET",
        "/v1/reviews",
        &[
            ("Authorization", ana.as_str()),
            ("Authorization", "Bearer guess"),
        ],
        b"",
    );
    assert_eq!(st, 400, "{b}");
    assert_eq!(json_of(&b)["error"], "duplicate_header");
    for q in ["stauts=open", "status=open&status=all", "status=open&x"] {
        let (st, b) = request(
            addr,
            "GET",
            &format!("/v1/reviews?{q}"),
            &[("Authorization", ana.as_str())],
            b"",
        );
        assert_eq!(st, 400, "{q}: {b}");
        assert_eq!(json_of(&b)["error"], "bad_query", "{q}");
    }
    let (st, _) = request(
        addr,
        "GET",
        "/v1/reviews?status=open",
        &[("Authorization", ana.as_str())],
        b"",
    );
    assert_eq!(st, 200);

    let (st, b) = request(
        addr,
        "POST",
        "/v1/halt",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", ops.as_str()),
        ],
        br#"{"reason":"incident"}"#,
    );
    assert_eq!(st, 200, "{b}");
    srv.stop().unwrap();
    std::fs::remove_file(s.opts.data.join("reviews.log")).unwrap();

    let srv = start(&s);
    let addr = srv.addr();
    let (_, b) = request(addr, "GET", "/v1/halt", &[], b"");
    assert_eq!(json_of(&b)["halt"]["by"], "ops", "{b}");
    let c = case(addr, &id);
    assert_eq!(
        (
            c["status"].as_str(),
            c["decided_by"].as_str(),
            c["verdict"].as_str()
        ),
        (Some("fallback"), Some("recovery"), Some("deny")),
        "{c}"
    );
    let proof = c["proof"].as_u64().unwrap();
    let (_, o) = decide(addr, "freeze", &pay(600));
    assert_eq!(o["halted"], true, "{o}");
    srv.stop().unwrap();
    record_contains(
        &s.opts.data,
        proof,
        &["review.fallback", &format!("\"record\":{seq}"), "recovery"],
    );
    verified(&s.opts.data);
}

/// QA 8g: a port in use is found before the data folder is made: no new log or key is left.
#[test]
fn a_port_in_use_creates_no_data_folder() {
    let s = setup("busy", 1 << 20);
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut opts = s.opts.clone();
    opts.listen = Some(busy.local_addr().unwrap().to_string());
    let err = serve(&opts).err().expect("the port is in use");
    assert!(err.contains("cannot listen"), "{err}");
    assert!(!opts.data.exists(), "{err}");
}

/// A review role that a loaded module's rules name and nobody in the configuration holds is
/// warned about (its cases can only fall back): once per role, naming the policy and the file;
/// a role someone holds is not.
#[test]
fn a_review_role_nobody_holds_is_warned_about() {
    let rt = xop_runtime::engine::Runtime::new();
    rt.load_bytes("pay", &module_bytes("allow \"ok\"", None), None)
        .unwrap();
    let base = Path::new("/etc/xop");
    let bob = format!(
        "[[reviewers]]\nname = \"bob\"\nrole = \"marketing\"\ntoken_sha256 = \"{}\"\n",
        token_hash(BOB)
    );
    let ana = format!(
        "{bob}[[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{}\"\n",
        token_hash(ANA)
    );
    let path = Path::new("/etc/xop/xop.toml");
    let only_bob = Config::parse(&bob, base).unwrap();
    let warnings = unheld_review_roles(&rt.modules(), &only_bob, Some(path));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    for needle in [
        "`/etc/xop/xop.toml`",
        "`fraud_desk`",
        "t.pay.block",
        "roles = [\"fraud_desk\"]",
    ] {
        assert!(warnings[0].contains(needle), "{needle}: {}", warnings[0]);
    }
    let none = unheld_review_roles(&rt.modules(), &Config::default(), None);
    assert!(none[0].contains("no --config"), "{none:?}");
    let with_ana = Config::parse(&ana, base).unwrap();
    assert_eq!(
        unheld_review_roles(&rt.modules(), &with_ana, Some(path)),
        Vec::<String>::new()
    );
}

/// QA q2: two `--module` files of one file name (in two folders) would be loaded under one
/// name, the second replacing the first: a request the first's policy denies was allowed.
/// Refused before anything is bound, created or loaded, naming both paths and the name; so is
/// one path given twice, and (Unix) a file name that is not UTF-8, which once fell back to the
/// name `module` and collided with every other such file.
#[test]
fn two_modules_one_name_are_refused_before_anything_is_made() {
    let s = setup("stem", 1 << 20);
    for dir in ["a", "b"] {
        std::fs::create_dir_all(s.tmp.0.join(dir)).unwrap();
    }
    let strict = s.tmp.0.join("a/pay.xopm");
    let lenient = s.tmp.0.join("b/pay.xopm");
    std::fs::copy(s.tmp.0.join("pay.xopm"), &strict).unwrap();
    std::fs::write(
        &lenient,
        module_bytes("allow \"lenient\"", Some(&s.secret)).as_slice(),
    )
    .unwrap();
    let mut opts = s.opts.clone();
    opts.modules = vec![strict.clone(), lenient.clone()];
    let err = serve(&opts)
        .err()
        .expect("two modules named `pay` are refused");
    for needle in [
        &format!("`{}`", strict.display()),
        &format!("`{}`", lenient.display()),
        "the module `pay`",
        "rename one of the files",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    assert!(!opts.data.exists(), "{err}");
    opts.modules = vec![strict.clone(), strict.clone()];
    let err = serve(&opts)
        .err()
        .expect("one module given twice is refused");
    assert!(err.contains("is given twice"), "{err}");
    assert!(!opts.data.exists(), "{err}");
    // Distinct names are each their file name without extension.
    assert_eq!(
        xop_server::slot_names(&[strict.clone(), s.tmp.0.join("b/other.xopm")]).unwrap(),
        ["pay", "other"]
    );
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let odd = s.tmp.0.join(std::ffi::OsStr::from_bytes(b"caf\xe9.xopm"));
        std::fs::copy(&strict, &odd).unwrap();
        opts.modules = vec![odd];
        let err = serve(&opts)
            .err()
            .expect("a non-UTF-8 file name is refused");
        assert!(err.contains("not UTF-8") && err.contains("rename"), "{err}");
        assert!(!opts.data.exists(), "{err}");
    }
}

/// QA q2: one token hash under two names (`eve`, marketing; `ana`, fraud_desk) let the token
/// approve a fraud_desk case as `eve`. The configuration is refused, naming both entries and
/// their lines (also when the hex differs only in case); `xop serve` then makes nothing. One
/// name listed as reviewer and as operator with one token is one person, and gets both.
#[test]
fn a_token_two_names_share_is_refused() {
    let base = Path::new(".");
    let shared = format!(
        "[[reviewers]]\nname = \"eve\"\nroles = [\"marketing\"]\ntoken_sha256 = \"{}\"\n\
         [[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{}\"\n",
        token_hash(ANA),
        token_hash(ANA).to_ascii_uppercase()
    );
    let err = Config::parse(&shared, base).unwrap_err();
    for needle in [
        "[[reviewers]] `ana`",
        "(line 8)",
        "[[reviewers]] `eve` (line 4)",
        "xop token new",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // A reviewer and an operator of two names, one token: refused too.
    let across = format!(
        "[[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{0}\"\n\
         [[operators]]\nname = \"ops\"\ntoken_sha256 = \"{0}\"\n",
        token_hash(ANA)
    );
    let err = Config::parse(&across, base).unwrap_err();
    assert!(
        err.contains("[[operators]] `ops`") && err.contains("[[reviewers]] `ana`"),
        "{err}"
    );
    // One name, reviewer and operator, one token: both.
    let both = across.replace("\"ops\"", "\"ana\"");
    let ana = Config::parse(&both, base)
        .unwrap()
        .authenticate(ANA)
        .unwrap();
    assert_eq!((ana.name.as_str(), ana.operator), ("ana", true));
    assert_eq!(ana.roles, ["fraud_desk"]);
    // `xop serve` refuses it before the data folder is made.
    let s = setup("shared-token", 1 << 20);
    std::fs::write(s.tmp.0.join("xop.toml"), &shared).unwrap();
    let err = serve(&s.opts).err().expect("a shared token is refused");
    assert!(err.contains("xop.toml") && err.contains("`eve`"), "{err}");
    assert!(!s.opts.data.exists(), "{err}");
}

/// QA q2: hyper undoes `chunked` but leaves a coding before it on the body, which was then
/// decided as if uncoded. Any transfer coding but a lone `chunked` is 501
/// `unsupported_transfer_coding` (JSON, naming the coding), at every endpoint, and nothing is
/// decided or done; `chunked` alone (in any case) is decided.
#[test]
fn transfer_codings_but_chunked_are_refused() {
    let s = setup("te", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let size = log_size(addr);
    let body = pay(5).to_string();
    let post = |path: &str, extra: &str, te: &str| {
        let mut raw = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\n{extra}{te}\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()).as_bytes());
        raw
    };
    for (te, named) in [
        ("Transfer-Encoding: gzip, chunked\r\n", "`gzip`"),
        ("Transfer-Encoding: x-unknown, chunked\r\n", "`x-unknown`"),
        (
            "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
            "`gzip`",
        ),
        ("Transfer-Encoding: chunked, chunked\r\n", "only once"),
    ] {
        let answer = exchange(addr, &post("/v1/decide/receipt", "", te));
        assert!(answer.starts_with("HTTP/1.1 501"), "{te:?}: {answer}");
        let b = answer.split_once("\r\n\r\n").unwrap().1;
        let err = json_of(b);
        assert_eq!(err["error"], "unsupported_transfer_coding", "{b}");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(named), "{te:?}: {message}");
        assert!(message.contains("nothing was done"), "{message}");
    }
    assert_eq!(log_size(addr), size, "a coded body was decided");
    // Not only the decide endpoints: the halt switch stays off.
    let auth = format!("Authorization: {}\r\n", bearer(OPS));
    let answer = exchange(
        addr,
        &post("/v1/halt", &auth, "Transfer-Encoding: gzip, chunked\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 501"), "{answer}");
    let (st, b) = request(addr, "GET", "/v1/halt", &[], b"");
    assert_eq!((st, json_of(&b)["halt"].clone()), (200, Value::Null), "{b}");
    // `chunked` alone is read and decided.
    let answer = exchange(
        addr,
        &post("/v1/decide/receipt", "", "Transfer-Encoding: Chunked\r\n"),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(log_size(addr), size + 1);
    srv.stop().unwrap();
    verified(&s.opts.data);
}

/// A module whose policy (`pinger`) no other test module defines.
/// `POST /v1/modules`'s query is percent-decoded (a space as `%20` or `+`): the slot `my pay`
/// is swapped, not joined by a second slot `my%20pay`. A misspelt parameter (`nmae`), a
/// repeated one, and one that is not percent-encoded UTF-8 are 400 `bad_query` and change
/// nothing (the review list's query is read the same way).
#[test]
fn the_module_query_is_decoded_and_checked() {
    let s = setup("query", 1 << 20);
    let mut opts = s.opts.clone();
    std::fs::rename(s.tmp.0.join("pay.xopm"), s.tmp.0.join("my pay.xopm")).unwrap();
    opts.modules = vec![s.tmp.0.join("my pay.xopm")];
    let srv = serve(&opts).unwrap();
    let addr = srv.addr();
    let v1 = std::fs::read(s.tmp.0.join("my pay.xopm")).unwrap();
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    let other = source_bytes(OTHER, Some(&s.secret));
    let ops = bearer(OPS);
    let headers = [
        ("Content-Type", "application/octet-stream"),
        ("Authorization", ops.as_str()),
    ];
    let load = |query: &str, bytes: &[u8]| {
        let (st, b) = request(
            addr,
            "POST",
            &format!("/v1/modules{query}"),
            &headers,
            bytes,
        );
        (st, json_of(&b))
    };
    let (st, b) = load("?name=my%20pay", &v2);
    assert_eq!((st, b["name"].as_str()), (200, Some("my pay")), "{b}");
    assert_eq!(loaded(addr), [("my pay".to_string(), hash_of(&v2))]);
    let (st, b) = load("?name=my+pay", &v1);
    assert_eq!((st, b["name"].as_str()), (200, Some("my pay")), "{b}");
    assert_eq!(loaded(addr), [("my pay".to_string(), hash_of(&v1))]);
    let size = log_size(addr);
    for (query, says) in [
        ("?nmae=other", "an unknown query parameter `nmae`"),
        (
            "?name=other&name=my%20pay",
            "a repeated query parameter `name`",
        ),
        ("?name=x&status=open", "an unknown query parameter `status`"),
        ("?name=my%2", "`%2` is not `%` and two hex digits"),
        ("?name=%zzpay", "`%zz` is not `%` and two hex digits"),
        ("?name=%FF", "not UTF-8"),
    ] {
        let (st, b) = load(query, &other);
        assert_eq!(
            (st, b["error"].as_str()),
            (400, Some("bad_query")),
            "{query}: {b}"
        );
        let message = b["message"].as_str().unwrap();
        assert!(
            message.contains(says)
                && message.contains("the only one is `name`, once")
                && message.ends_with("nothing was loaded"),
            "{query}: {message}"
        );
    }
    assert_eq!(loaded(addr), [("my pay".to_string(), hash_of(&v1))]);
    assert_eq!(log_size(addr), size, "a refused load was recorded");
    // The review list's `status`, percent-encoded, is read as such.
    let ana = bearer(ANA);
    let (st, b) = request(
        addr,
        "GET",
        "/v1/reviews?status=op%65n",
        &[("Authorization", ana.as_str())],
        b"",
    );
    assert_eq!(st, 200, "{b}");
    let (st, b) = request(
        addr,
        "GET",
        "/v1/reviews?status=%C3",
        &[("Authorization", ana.as_str())],
        b"",
    );
    assert_eq!(
        (st, json_of(&b)["error"].as_str()),
        (400, Some("bad_query")),
        "{b}"
    );
    srv.stop().unwrap();
    verified(&s.opts.data);
}

/// `DELETE /v1/modules/{name}` unloads a module (operator only), proven as `module.unloaded`
/// naming the operator; its policies are gone, its file stays. An unknown name (404
/// `unknown_module`) and the only loaded module (409 `last_module`) are refused, nothing
/// changed. A conflict's 409 names the two ways out, both over HTTP.
#[test]
fn an_operator_unloads_a_module() {
    let s = setup("unload", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let ops = bearer(OPS);
    let ana = bearer(ANA);
    let pay = std::fs::read(s.tmp.0.join("pay.xopm")).unwrap();
    let delete = |path: &str, token: Option<&str>| {
        let headers: Vec<(&str, &str)> = token.map(|t| ("Authorization", t)).into_iter().collect();
        let (st, b) = request(addr, "DELETE", path, &headers, b"");
        (st, json_of(&b))
    };
    let size = log_size(addr);
    assert_eq!(delete("/v1/modules/pay", None).0, 401);
    assert_eq!(
        delete("/v1/modules/pay", Some(&ana)).1["error"],
        "not_operator"
    );
    let (st, b) = delete("/v1/modules/nope", Some(&ops));
    assert_eq!(
        (st, b["error"].as_str()),
        (404, Some("unknown_module")),
        "{b}"
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("the loaded modules are: pay"),
        "{b}"
    );
    let (st, b) = delete("/v1/modules/pay", Some(&ops));
    assert_eq!((st, b["error"].as_str()), (409, Some("last_module")), "{b}");
    assert_eq!(log_size(addr), size, "a refused unload was recorded");

    let headers = [
        ("Content-Type", "application/octet-stream"),
        ("Authorization", ops.as_str()),
    ];
    let (st, b) = request(addr, "POST", "/v1/modules?name=my%20other", &headers, &pay);
    let message = json_of(&b)["message"].as_str().unwrap().to_string();
    assert_eq!(st, 409, "{b}");
    assert!(
        message.contains("POST /v1/modules?name=pay")
            && message.contains("DELETE /v1/modules/pay")
            && !message.contains("unload it,"),
        "{message}"
    );
    let other = source_bytes(OTHER, Some(&s.secret));
    let (st, b) = request(
        addr,
        "POST",
        "/v1/modules?name=my%20other",
        &headers,
        &other,
    );
    assert_eq!(st, 200, "{b}");
    let (st, o) = decide(addr, "pinger", &json!({"n": 1}));
    assert_eq!((st, o["verdict"].as_str()), (200, Some("allow")), "{o}");
    let (st, b) = delete("/v1/modules/my%20other", Some(&ops));
    assert_eq!(
        (st, b["name"].as_str(), b["module"].as_str()),
        (200, Some("my other"), Some(hash_of(&other).as_str())),
        "{b}"
    );
    let seq = log_size(addr) - 1;
    assert_eq!(loaded(addr), [("pay".to_string(), hash_of(&pay))]);
    let (st, o) = decide(addr, "pinger", &json!({"n": 1}));
    assert_eq!(
        (st, o["error"].as_str()),
        (404, Some("unknown_policy")),
        "{o}"
    );
    assert!(
        s.opts
            .data
            .join(format!("modules/{}.xopm", hash_of(&other)))
            .exists(),
        "the unloaded module's file is gone"
    );
    srv.stop().unwrap();
    record_contains(
        &s.opts.data,
        seq,
        &[
            "\"name\":\"module.unloaded\"",
            "\"by\":\"ops\"",
            &hash_of(&other),
        ],
    );
    verified(&s.opts.data);
}

/// A hot swap lasts until a restart: a restart that loads another module under the slot than
/// the log's last `module.loaded` names says so (which serves, which served, where its file is
/// kept) and records the start-up's `module.loaded`, so the next start says nothing; a slot the
/// log says serves that is left out is said and recorded as `module.unloaded`. A log without
/// hot swaps gets no start-up record.
#[test]
fn a_restart_that_undoes_a_hot_swap_says_so_once() {
    let s = setup("undone", 1 << 20);
    let srv = start(&s);
    assert_eq!(srv.module_notes(), [] as [String; 0]);
    let addr = srv.addr();
    assert_eq!(
        log_size(addr),
        0,
        "a start-up without hot swaps recorded something"
    );
    let ops = bearer(OPS);
    let headers = [
        ("Content-Type", "application/octet-stream"),
        ("Authorization", ops.as_str()),
    ];
    let pay = std::fs::read(s.tmp.0.join("pay.xopm")).unwrap();
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    let other = source_bytes(OTHER, Some(&s.secret));
    for (query, bytes) in [("?name=pay", &v2), ("?name=other", &other)] {
        let (st, b) = request(
            addr,
            "POST",
            &format!("/v1/modules{query}"),
            &headers,
            bytes,
        );
        assert_eq!(st, 200, "{b}");
    }
    srv.stop().unwrap();

    let srv = start(&s);
    let notes = srv.module_notes().to_vec();
    let addr = srv.addr();
    let (_, o) = decide(addr, "receipt", &pay_input());
    assert_eq!(o["reasons"][0], "ok", "{o}");
    srv.stop().unwrap();
    assert_eq!(notes.len(), 2, "{notes:?}");
    let kept = |bytes: &[u8]| {
        s.opts
            .data
            .join("modules")
            .join(format!("{}.xopm", hash_of(bytes)))
            .display()
            .to_string()
    };
    assert!(
        notes[0].contains(&format!(
            "module `pay` is loaded from `{}` ({}), but the proof log says `pay` was serving {} \
             (record 0: a hot swap by `ops`)",
            s.opts.modules[0].display(),
            hash_of(&pay),
            hash_of(&v2)
        )) && notes[0].contains(&format!("copy `{}` to `pay.xopm`", kept(&v2)))
            && notes[0].contains("recorded as `module.loaded` (record 2)"),
        "{}",
        notes[0]
    );
    assert!(
        notes[1].contains(&format!(
            "the proof log says module `other` was serving {} (record 1: a hot swap by `ops`), \
             but it is not loaded now",
            hash_of(&other)
        )) && notes[1].contains(&format!("copy `{}` to `other.xopm`", kept(&other)))
            && notes[1].contains("recorded as `module.unloaded` (record 3)"),
        "{}",
        notes[1]
    );
    record_contains(
        &s.opts.data,
        2,
        &[
            "\"name\":\"module.loaded\"",
            "\"startup\":true",
            &hash_of(&pay),
        ],
    );
    record_contains(
        &s.opts.data,
        3,
        &[
            "\"name\":\"module.unloaded\"",
            "\"startup\":true",
            &hash_of(&other),
        ],
    );
    // The log now says what serves: the next start has nothing to say or record.
    let srv = start(&s);
    assert_eq!(srv.module_notes(), [] as [String; 0]);
    let addr = srv.addr();
    assert_eq!(log_size(addr), 5);
    // A module unloaded over HTTP and given again at the next start: said, and recorded.
    let (st, b) = request(addr, "POST", "/v1/modules?name=other", &headers, &other);
    assert_eq!(st, 200, "{b}");
    let (st, b) = request(
        addr,
        "DELETE",
        "/v1/modules/other",
        &[("Authorization", ops.as_str())],
        b"",
    );
    assert_eq!(st, 200, "{b}");
    srv.stop().unwrap();
    std::fs::write(s.tmp.0.join("other.xopm"), &other).unwrap();
    let mut opts = s.opts.clone();
    opts.modules.push(s.tmp.0.join("other.xopm"));
    let srv = serve(&opts).unwrap();
    let notes = srv.module_notes().to_vec();
    srv.stop().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains(&format!(
            "module `other` is loaded from `{}` ({}), but the proof log says `other` was \
             unloaded (record 6: unloaded by `ops`): this restart serves it again",
            opts.modules[1].display(),
            hash_of(&other)
        )) && notes[0].contains("recorded as `module.loaded` (record 7)"),
        "{}",
        notes[0]
    );
    verified(&s.opts.data);
}

fn pay_input() -> Value {
    pay(5)
}

/// A module posted again after its kept copy in `DATA/modules/` was damaged: the copy is
/// replaced (the log's decisions stay replayable), and the operator who posted it is told, in
/// the answer's `warnings`.
#[test]
fn a_damaged_kept_copy_is_reported_to_who_loads_the_module() {
    let s = setup("kept", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    let octet = ("Content-Type", "application/octet-stream");
    let ops = bearer(OPS);
    let post = || {
        request(
            addr,
            "POST",
            "/v1/modules?name=pay",
            &[octet, ("Authorization", ops.as_str())],
            &v2,
        )
    };
    let (st, b) = post();
    assert_eq!(st, 200, "{b}");
    assert_eq!(json_of(&b).get("warnings"), None, "{b}");
    let kept = xop_runtime::proof::module_path(&s.opts.data, &hash_of(&v2));
    std::fs::write(&kept, b"").unwrap();
    let (st, b) = post();
    assert_eq!(st, 200, "{b}");
    let warnings = json_of(&b)["warnings"].to_string();
    assert!(
        warnings.contains(&kept.display().to_string()) && warnings.contains("it is empty"),
        "{b}"
    );
    assert_eq!(
        std::fs::read(&kept).unwrap(),
        v2,
        "the copy is not replaced"
    );
    srv.stop().unwrap();
    verified(&s.opts.data);
}
