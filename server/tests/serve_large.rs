//! What a QA pass of `xop serve` found about decisions whose cost grows with their input, and
//! about hot swaps refused for the disk, each kept from coming back: a large decision (a body
//! over `app::LARGE_BODY`) is decided on the blocking pool, so its `timeout_ms` answers on
//! time and `/healthz` and small decisions are answered while large ones compute; at most
//! `app::large_permits()` of them compute at once, and one waiting for its turn waits under its
//! own deadline; a decision that outlives its deadline is not recorded, and stops computing,
//! so its permit is free again at once. A small body
//! whose decision is costly (a cubic policy: three nested `any`) is decided there too, with a
//! permit, also under the halt switch, by the bound on its work that its policy's IR gives
//! (`xop_runtime::cost::Work`, `app::WORK_BUDGET`). A hot swap
//! whose module copy cannot be kept (the modules folder unusable) is answered as a module
//! load that failed, not as an unproven decision, and leaves the node serving.

mod support;

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use xop_runtime::cost::Work;
use xop_runtime::module::Module;
use xop_runtime::proof::verify::LogReader;
use xop_server::Running;
use xop_server::app::{LARGE_BODY, WORK_BUDGET, large_permits};

use support::{
    OPS, Setup, compiled, decide, error_message, hash_of, healthz, load, loaded, log_size,
    module_bytes, post_json, request, setup, setup_with, start, unload, unrecordable,
};

/// A module with a policy whose cost is quadratic in its input's list (`pairs`: a nested
/// `any`, no pair of which ever matches, so every pair is tried), one whose cost is linear
/// (`first`, of another action), and one whose cost is cubic (`triple`, of a third).
const QUADRATIC: &str = r#"module t.q

/// Telling a customer about an offer.
purpose marketing

record C { id: Id, xs: List<Int> }

/// Send the customer an offer.
action offer(to: C) purpose marketing risk minimal

/// Greet the customer.
action greet(to: C) purpose marketing risk minimal

/// Remind the customer.
action remind(to: C) purpose marketing risk minimal

policy pairs for offer(to: c) {
  deny "pair" when any(c.xs, a => any(c.xs, b => a + b == 0 - 1))
  allow "ok"
}

policy first for greet(to: c) {
  deny "negative" when any(c.xs, a => a < 0)
  allow "ok"
}

policy triple for remind(to: c) {
  deny "triple" when any(c.xs, a => any(c.xs, b => any(c.xs, d => a + b + d == 0 - 1)))
  allow "ok"
}
"#;

/// Ints in the list of a decision that takes seconds (about 6 s on the JIT at 0.5 ns a pair,
/// longer in a debug build or on a busy machine): `timeout_ms` is far shorter.
const LONG: usize = 100_000;

/// Ints in the list of a large body (over `LARGE_BODY`) that `first` decides in milliseconds.
const WIDE: usize = 20_000;

/// Ints in the list of a small body (about 7 KB, far under `LARGE_BODY`) whose decision by
/// `triple` takes seconds (1600³ triples: about 3.5 s at 0.8 ns each, longer on a busy
/// machine): `timeout_ms` is far shorter.
const CUBED: usize = 1600;

/// Ints in the list of a small body whose decision by `triple` takes 14 G triples (about 11 s
/// at 0.8 ns each): far longer than a `timeout_ms` of 2 s.
const CUBED_LONGER: usize = 2400;

/// Ints in the list of a small body whose decision by `triple` is costly (past `WORK_BUDGET`:
/// it needs a permit) but short: 64,000 triples, well under a millisecond.
const CUBED_SHORT: usize = 40;

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
/// are answered meanwhile; the abandoned decisions stop computing, so a large one is made at
/// once after them (their permits are free); and none of the abandoned decisions is recorded.
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
    // Let them take every permit (they would compute for seconds more).
    thread::sleep(Duration::from_millis(500));
    small_requests_answer_quickly(addr);
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
    // The abandoned computations stopped: a permit is free, and a large decision is made
    // (while they would still compute for seconds).
    let (st, o, took) = timed_decide(addr, "first", &wide);
    assert_eq!(
        (st, o["verdict"].as_str()),
        (200, Some("allow")),
        "{took:?}: {o}"
    );
    // None of the abandoned decisions was recorded; the others were.
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

/// The program of [`QUADRATIC`], as the compiler lowers it.
fn program() -> xop_runtime::ir::Program {
    (Module::from_bytes(&compiled("q.xop", QUADRATIC, None), None).unwrap()).program
}

/// `n` decisions of `policy` on `body`, each on a thread of its own: status, answer, and when
/// it was answered, from `t0`.
fn spawn_at(
    addr: SocketAddr,
    policy: &'static str,
    n: usize,
    body: &[u8],
    t0: Instant,
) -> Vec<thread::JoinHandle<(u16, Value, Duration)>> {
    (0..n)
        .map(|_| {
            let body = body.to_vec();
            thread::spawn(move || {
                let (st, o) = decide(addr, policy, &body);
                (st, o, t0.elapsed())
            })
        })
        .collect()
}

/// Each of `runs` answered 503 `timeout`, abandoned before it was recorded (`timeout_ms` as
/// given): when the latest was answered.
fn abandoned(runs: Vec<thread::JoinHandle<(u16, Value, Duration)>>, timeout_ms: u64) -> Duration {
    let mut latest = Duration::ZERO;
    for run in runs {
        let (st, o, at) = run.join().unwrap();
        let message = error_message(st, &o, 503, "timeout");
        assert!(
            message.starts_with(&format!("the decision took longer than {timeout_ms} ms"))
                && message.contains("was abandoned before it was recorded"),
            "{message}"
        );
        latest = latest.max(at);
    }
    latest
}

/// Right after decisions of `triple` were abandoned at their deadline, while their
/// computations would go on for seconds had they not stopped: a costly but short decision (of
/// `triple` too: it needs a permit) is made, within its own `timeout_ms`, so a permit was free
/// again at once; and a large one (of `first`) too.
#[track_caller]
fn permits_freed_at_once(addr: SocketAddr) {
    let (st, o, took) = timed_decide(addr, "triple", &body(CUBED_SHORT));
    assert_eq!(
        (st, o["verdict"].as_str()),
        (200, Some("allow")),
        "a costly but short decision after {took:?}: {o}"
    );
    // A large one too, within 1.5 s (tried again if the machine is so loaded that deciding it
    // takes longer than its `timeout_ms`): without cancelling, the permits would stay held for
    // the seconds the cubic decisions take.
    let since = Instant::now();
    loop {
        let (st, o, took) = timed_decide(addr, "first", &body(WIDE));
        if st == 200 || since.elapsed() > Duration::from_millis(1500) {
            assert_eq!(
                (st, o["verdict"].as_str()),
                (200, Some("allow")),
                "a large decision after {took:?}: {o}"
            );
            break;
        }
    }
}

/// A small body (far under `LARGE_BODY`) whose decision is cubic in its list is decided on the
/// blocking pool as a large one is: it is answered 503 `timeout` at its deadline and stops
/// computing, so that its permit is free again at once ([`permits_freed_at_once`]), and
/// `/healthz` and a cheap small decision are answered while it computes (a cheap one needs no
/// permit: it stays on the async path). Decided on an async worker, its 503 would come when
/// its computation ends.
#[test]
fn the_timeout_bounds_a_small_costly_decision() {
    let (_s, srv) = quadratic_server("small-costly", 500);
    let addr = srv.addr();
    let cubed = body(CUBED);
    assert!(cubed.len() < LARGE_BODY / 8);
    let t0 = Instant::now();
    // As many as the async workers (2) and the permits: neither is left free to answer.
    let runs = spawn_at(addr, "triple", large_permits().max(2), &cubed, t0);
    thread::sleep(Duration::from_millis(200));
    small_requests_answer_quickly(addr);
    // A body on which `triple` would be costly is not, for `first`: its own bound counts.
    let some = body(100);
    let p = program();
    let triple = Work::of_policy(&p, p.resolve_policy("triple").unwrap().1);
    assert!(
        triple.growing(some.len() as u64) > WORK_BUDGET,
        "{triple:?}"
    );
    let (st, o, took) = timed_decide(addr, "first", &some);
    assert!(
        st == 200 && took < Duration::from_secs(1),
        "a cheap decision: {st} after {took:?}: {o}"
    );
    let answered = abandoned(runs, 500);
    assert!(
        answered < Duration::from_secs(3),
        "answered after {answered:?}"
    );
    permits_freed_at_once(addr);
    srv.stop().unwrap();
}

/// With the halt switch on (a decision then goes to the blocking pool, as with `[camara]`),
/// a small but costly decision still takes one of the `large_permits()`, and holds it until it
/// is abandoned at its deadline: a large decision sent meanwhile waits for a permit until then
/// (so the threads computing never outnumber the permits), and gets one as soon as they are
/// abandoned, since they stop computing. A cheap decision is still made meanwhile.
#[test]
fn with_the_halt_on_a_small_costly_decision_holds_a_permit() {
    let (_s, srv) = quadratic_server("small-costly-halt", 2000);
    let addr = srv.addr();
    let (st, b) = post_json(addr, "/v1/halt", OPS, br#"{"reason":"incident 42"}"#);
    assert_eq!(st, 200, "{b}");
    // The switch is on: what follows runs on the halt's path.
    let (st, h) = healthz(addr);
    assert_eq!((st, &h["halted"]), (200, &Value::Bool(true)), "{h}");
    let t0 = Instant::now();
    let runs = spawn_at(addr, "triple", large_permits(), &body(CUBED_LONGER), t0);
    thread::sleep(Duration::from_millis(600));
    small_requests_answer_quickly(addr);
    // Sent 0.6 s (or more) after them: its deadline is 0.6 s after theirs.
    let large = spawn_at(addr, "first", 1, &body(WIDE), t0);
    let answered = abandoned(runs, 2000);
    let (st, o, at) = large.into_iter().next().unwrap().join().unwrap();
    assert_eq!(
        (st, o["verdict"].as_str()),
        (200, Some("allow")),
        "{at:?}: {o}"
    );
    assert!(
        at >= Duration::from_millis(1900),
        "answered after {at:?} (the costly ones after {answered:?}): it did not wait for a permit"
    );
    srv.stop().unwrap();
}

/// The bounds on the work of deciding with [`QUADRATIC`]'s policies, as lowered by the
/// compiler, reading the input included ([`Work::of_input`]: its records have no optional
/// field, so `3n`): of degree 1, 2 and 3 in the body's size. A linear one stays under
/// `WORK_BUDGET` up to `LARGE_BODY`
/// (its bodies go to the blocking pool only past it); the quadratic one passes it on a body of
/// 65,453 bytes (the QA's: under `LARGE_BODY`, and decided for seconds on an async worker
/// before), and the cubic one on a few dozen bytes.
#[test]
fn the_work_bounds_of_the_test_policies() {
    let program = program();
    let work = |name: &str| {
        let (_, p) = program.resolve_policy(name).unwrap();
        Work::of_input(&program).plus(&Work::of_policy(&program, p))
    };
    assert_eq!(Work::of_input(&program).growing(1000), 3000);
    let (first, pairs, triple) = (work("first"), work("pairs"), work("triple"));
    assert_eq!((first.degree(), pairs.degree(), triple.degree()), (1, 2, 3));
    assert!(first.growing(LARGE_BODY as u64) <= WORK_BUDGET, "{first:?}");
    assert!(pairs.growing(65_453) > WORK_BUDGET, "{pairs:?}");
    assert!(pairs.growing(64) <= WORK_BUDGET, "{pairs:?}");
    assert!(triple.growing(64) > WORK_BUDGET, "{triple:?}");
    assert!(triple.growing(8) <= WORK_BUDGET, "{triple:?}");
}

/// A module whose record `R` has `fields` optional ints, with a policy `same` that compares
/// two input lists of them (the reviewer's: its bound is linear) and one, `plain`, that never
/// looks at them (no work of its own that grows with the input).
fn wide(fields: usize) -> String {
    let fields: Vec<String> = (0..fields).map(|i| format!("f{i}: Int?")).collect();
    format!(
        r#"module t.w

/// Telling a customer about an offer.
purpose marketing

record R {{ {} }}

record C {{ id: Id, rs: List<R>, ts: List<R> }}

/// Send the customer an offer.
action offer(to: C) purpose marketing risk minimal

/// Greet the customer.
action greet(to: C) purpose marketing risk minimal

policy same for offer(to: c) {{
  deny "same" when c.rs == c.ts
  allow "ok"
}}

policy plain for greet(to: c) {{
  deny "b" when c.id == "b"
  allow "ok"
}}
"#,
        fields.join(", ")
    )
}

/// The reviewer's body (64,860 bytes): two lists of 10,800 `{}`, each of which binds to a
/// record of as many absent fields as `R` has.
fn empty_records() -> Vec<u8> {
    let rows = vec!["{}"; 10_800].join(",");
    format!(r#"{{"now":"2026-11-25T10:00:00Z","to":{{"id":"a","rs":[{rows}],"ts":[{rows}]}}}}"#)
        .into_bytes()
}

/// A body far under `LARGE_BODY` is costly when what it binds to is not small: its `{}` bind to
/// records of 1000 absent fields (21.6 million values from 64,860 bytes, which `same` walked for
/// 16 s on an async worker, `/healthz` waiting as long). The bound on deciding counts reading
/// the input, `(1 + 2W)·n` with `W` = 501 for 1000 optional fields ([`Work::of_input`]), and a
/// value of the input as `W·n` large: past `WORK_BUDGET` for `same`, and for `plain` by its
/// binding alone, while the same module with records of one optional field stays under it.
#[test]
fn a_body_of_empty_records_is_costly_by_what_it_binds_to() {
    let body = empty_records();
    let n = body.len() as u64;
    assert!(body.len() < LARGE_BODY, "{n}");
    let decided = |fields: usize, policy: &str| {
        let p =
            (Module::from_bytes(&compiled("w.xop", &wide(fields), None), None).unwrap()).program;
        let (_, at) = p.resolve_policy(policy).unwrap();
        (
            Work::widening(&p),
            Work::of_input(&p),
            Work::of_policy(&p, at),
        )
    };
    let (w, input, same) = decided(1000, "same");
    assert_eq!(w, 501);
    // What binding builds: 2 lists of 10,800 records of 1001 units each, all walked by `==`.
    let built = 2 * 10_800 * 1001;
    assert!(
        input.growing(n) >= built && same.growing(n) >= built,
        "{input:?} {same:?}"
    );
    assert!(input.plus(&same).growing(n) > WORK_BUDGET);
    let (_, input, plain) = decided(1000, "plain");
    assert_eq!(plain.growing(n), 0, "{plain:?}");
    assert!(input.growing(n) > WORK_BUDGET, "{input:?}");
    // One optional field: a byte binds to a unit at most, and a linear bound stays under.
    let (w, input, same) = decided(1, "same");
    assert_eq!(w, 1);
    assert!(
        input.plus(&same).growing(n) <= WORK_BUDGET,
        "{input:?} {same:?}"
    );
}
