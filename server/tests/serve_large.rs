//! What a QA pass of `xop serve` found about decisions whose cost grows with their input, and
//! about hot swaps refused for the disk, each kept from coming back: a large decision (a body
//! over `app::LARGE_BODY`) is decided on the blocking pool, so its `timeout_ms` answers on
//! time and `/healthz` and small decisions are answered while large ones compute; at most
//! `app::large_permits()` of them compute at once, and one waiting for its turn is timed out
//! by its own deadline; a decision that outlives its deadline is not recorded. A hot swap
//! whose module copy cannot be kept (the modules folder unusable) is answered as a module
//! load that failed, not as an unproven decision, and leaves the node serving.

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use xop_runtime::proof::verify::LogReader;
use xop_server::Running;
use xop_server::app::{LARGE_BODY, large_permits};

use support::{
    OPS, Setup, compiled, decide, error_message, hash_of, healthz, load, loaded, log_size,
    module_bytes, request, setup, setup_with, start, unload, unrecordable,
};

/// A module with a policy whose cost is quadratic in its input's list (`pairs`: a nested
/// `any`, no pair of which ever matches, so every pair is tried) and one whose cost is linear
/// (`first`, of another action).
const QUADRATIC: &str = r#"module t.q

/// Telling a customer about an offer.
purpose marketing

record C { id: Id, xs: List<Int> }

/// Send the customer an offer.
action offer(to: C) purpose marketing risk minimal

/// Greet the customer.
action greet(to: C) purpose marketing risk minimal

policy pairs for offer(to: c) {
  deny "pair" when any(c.xs, a => any(c.xs, b => a + b == 0 - 1))
  allow "ok"
}

policy first for greet(to: c) {
  deny "negative" when any(c.xs, a => a < 0)
  allow "ok"
}
"#;

/// Ints in the list of a decision that takes seconds (about 6 s on the JIT at 0.5 ns a pair,
/// longer in a debug build or on a busy machine): `timeout_ms` is far shorter.
const LONG: usize = 100_000;

/// Ints in the list of a large body (over `LARGE_BODY`) that `first` decides in milliseconds.
const WIDE: usize = 20_000;

/// A server of [`QUADRATIC`] (signed as `setup` trusts) with `timeout_ms` and a body limit
/// that takes [`LONG`]'s body: its files, and the server started.
fn quadratic_server(name: &str, timeout_ms: u64) -> (Setup, Running) {
    let mut s = setup_with(name, 4 << 20, &format!("timeout_ms = {timeout_ms}\n"));
    std::fs::write(
        s.tmp.0.join("q.xopm"),
        compiled("q.xop", QUADRATIC, Some(&s.secret)),
    )
    .unwrap();
    s.opts.modules = vec![s.tmp.0.join("q.xopm")];
    let srv = start(&s);
    (s, srv)
}

/// A decision's input: a customer whose list holds `0..n`.
fn body(n: usize) -> Vec<u8> {
    let xs: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!(
        "{{\"now\":\"2026-11-25T10:00:00Z\",\"to\":{{\"id\":\"a\",\"xs\":[{}]}}}}",
        xs.join(",")
    )
    .into_bytes()
}

/// `POST /v1/decide/{policy}` of `body`: status, answer, and how long it took.
fn timed_decide(addr: SocketAddr, policy: &str, body: &[u8]) -> (u16, Value, Duration) {
    let t = Instant::now();
    let (st, o) = decide(addr, policy, body);
    (st, o, t.elapsed())
}

/// `GET /healthz`: status and how long it took.
fn timed_health(addr: SocketAddr) -> (u16, Duration) {
    let t = Instant::now();
    let (st, _) = request(addr, "GET", "/healthz", &[], b"");
    (st, t.elapsed())
}

/// `n` decisions of `pairs` on `body`, each on a thread of its own: what
/// [`timed_decide`] gives.
fn spawn_pairs(
    addr: SocketAddr,
    n: usize,
    body: &[u8],
) -> Vec<thread::JoinHandle<(u16, Value, Duration)>> {
    (0..n)
        .map(|_| {
            let body = body.to_vec();
            thread::spawn(move || timed_decide(addr, "pairs", &body))
        })
        .collect()
}

/// `/healthz` and a small decision (of `first`) are each answered within a second (while
/// large ones compute: they hold no async worker).
#[track_caller]
fn small_requests_answer_quickly(addr: SocketAddr) {
    let (st, took) = timed_health(addr);
    assert!(
        st == 200 && took < Duration::from_secs(1),
        "/healthz: {st} after {took:?}"
    );
    let (st, o, took) = timed_decide(addr, "first", b"{\"to\":{\"id\":\"a\",\"xs\":[1]}}");
    assert!(
        st == 200 && took < Duration::from_secs(1),
        "a small decision: {st} after {took:?}: {o}"
    );
}

/// `timeout_ms` bounds a large decision's time: it is answered 503 `timeout` (abandoned) at
/// its deadline while its computation would take far longer; `/healthz` and a small decision
/// are answered meanwhile; a large one that finds every permit taken waits under its own
/// deadline (503 `timeout`, abandoned); and none of the abandoned decisions is recorded,
/// also once their computation has ended.
#[test]
fn the_timeout_bounds_a_large_decision() {
    let (s, srv) = quadratic_server("large-timeout", 1000);
    let addr = srv.addr();
    let wide = body(WIDE);
    assert!(wide.len() > LARGE_BODY);
    // Decided on the blocking pool, and recorded.
    let size = log_size(addr);
    let (st, o, _) = timed_decide(addr, "first", &wide);
    assert_eq!((st, o["verdict"].as_str()), (200, Some("allow")), "{o}");
    assert_eq!(log_size(addr), size + 1);

    let runs = spawn_pairs(addr, large_permits(), &body(LONG));
    // Let them take every permit (they compute for seconds more).
    thread::sleep(Duration::from_secs(1));
    small_requests_answer_quickly(addr);
    // Large and quick, but no permit is free before its deadline.
    let (st, o, took) = timed_decide(addr, "first", &wide);
    let message = error_message(st, &o, 503, "timeout");
    assert!(
        message.contains("was abandoned") && took < Duration::from_secs(3),
        "{took:?}: {o}"
    );
    for run in runs {
        let (st, o, took) = run.join().unwrap();
        let message = error_message(st, &o, 503, "timeout");
        assert!(
            message.starts_with("the decision took longer than 1000 ms")
                && message.contains("was abandoned before it was recorded"),
            "{message}"
        );
        assert!(took < Duration::from_secs(3), "answered after {took:?}");
    }
    // Once a permit is free again (an abandoned computation has ended), a large decision is
    // made.
    let waited = Instant::now();
    while timed_decide(addr, "first", &wide).0 != 200 {
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "no permit freed"
        );
        thread::sleep(Duration::from_millis(200));
    }
    // The stop waits for the computations still running (up to 10 s): none of the abandoned
    // decisions was recorded, also once it had ended; the others were.
    srv.stop().unwrap();
    let mut r = LogReader::open(&s.opts.data).unwrap();
    let policies: Vec<String> = (0..r.size())
        .map(|seq| {
            let v: Value = serde_json::from_slice(&r.record_bytes(seq).unwrap()).unwrap();
            v["policy"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert!(
        !policies.iter().any(|p| p == "t.q.pairs")
            && policies.iter().filter(|p| *p == "t.q.first").count() >= 3,
        "{policies:?}"
    );
}

/// Two large decisions that compute for seconds hold no async worker: `/healthz` and a small
/// decision answer within a second meanwhile, and both large ones are decided and recorded.
#[test]
fn healthz_answers_while_two_large_decisions_run() {
    let (_s, srv) = quadratic_server("large-healthz", 600_000);
    let addr = srv.addr();
    let size = log_size(addr);
    let runs = spawn_pairs(addr, 2, &body(LONG));
    thread::sleep(Duration::from_millis(500));
    small_requests_answer_quickly(addr);
    for run in runs {
        let (st, o, took) = run.join().unwrap();
        assert_eq!((st, o["verdict"].as_str()), (200, Some("allow")), "{o}");
        // Slow enough that the checks above ran while it computed.
        assert!(took > Duration::from_secs(1), "decided in {took:?}");
    }
    assert_eq!(log_size(addr), size + 3);
    srv.stop().unwrap();
}

/// A hot swap whose module copy cannot be kept for replay (here `DATA/modules` is a file:
/// as a full disk, it cannot be written, and this holds also for root) is 503 `not_proven`
/// saying the module was not loaded and the old one goes on serving, not that a decision
/// could not be proven; the log still writes (`/healthz` ok), and the old module decides.
#[test]
fn a_hot_swap_whose_module_cannot_be_kept_speaks_of_the_module() {
    let s = setup("swap-unkept", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let before = loaded(addr);
    let modules = s.opts.data.join("modules");
    std::fs::remove_dir_all(&modules).unwrap();
    std::fs::write(&modules, b"not a folder").unwrap();
    let size = log_size(addr);
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    let (st, o) = load(addr, "?name=pay", OPS, &v2);
    let message = error_message(st, &o, 503, "not_proven");
    assert!(
        message.starts_with(&format!(
            "the module was not loaded (no decision was made), so nothing changed: module \
             `pay` ({}) goes on serving as before. Its copy for replay could not be kept: ",
            before[0].1
        )) && message.contains(&format!("module {} is not loaded", hash_of(&v2)))
            && message
                .ends_with("fix the cause (a full disk, permissions) and load the module again")
            && !message.contains("decision could not be proven")
            && !message.contains("must not be acted upon"),
        "{message}"
    );
    assert_eq!(loaded(addr), before);
    // A pay decision (the test module's `receipt`).
    let (st, o) = decide(
        addr,
        "receipt",
        br#"{"to": {"id": "c-1", "vip": false}, "amount": 5}"#,
    );
    assert_eq!(
        (st, o["module"].as_str()),
        (200, Some(before[0].1.as_str())),
        "{o}"
    );
    let (st, o) = healthz(addr);
    assert_eq!((st, o["status"].as_str()), (200, Some("ok")), "{o}");
    assert_eq!(log_size(addr), size + 1, "only the decision was recorded");
    srv.stop().unwrap();
}

/// A hot swap and an unload whose record cannot be written (an operator name too large for a
/// record) say so of the module: which record, that nothing changed and what serves, what to
/// do; never that a decision could not be proven.
#[test]
fn a_swap_or_unload_whose_record_fails_speaks_of_the_module() {
    let (s, srv) = unrecordable("swap-unrecorded");
    let addr = srv.addr();
    let before = loaded(addr);
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    let (st, o) = load(addr, "?name=pay", OPS, &v2);
    let message = error_message(st, &o, 503, "not_proven");
    assert!(
        message.starts_with(&format!(
            "the module was not loaded (no decision was made), so nothing changed: module \
             `pay` ({}) goes on serving as before. Its proof record `module.loaded` could not \
             be written: ",
            before[0].1
        )) && message.ends_with("load it again (POST /v1/modules?name=pay)")
            && !message.contains("decision could not be proven"),
        "{message}"
    );
    let (st, o) = unload(addr, "other", OPS);
    let message = error_message(st, &o, 503, "not_proven");
    assert!(
        message.starts_with(&format!(
            "the module was not unloaded (no decision was made), so nothing changed: module \
             `other` ({}) goes on serving as before. Its proof record `module.unloaded` could \
             not be written: ",
            before[1].1
        )) && message.ends_with("unload it again (DELETE /v1/modules/other)")
            && !message.contains("decision could not be proven"),
        "{message}"
    );
    assert_eq!(loaded(addr), before);
    srv.stop().unwrap();
}
