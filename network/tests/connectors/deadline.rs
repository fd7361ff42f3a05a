//! A decision's deadline bounds its signal reads (`Camara::signals_by_deadline`, the
//! runtime's `Connectors::signals_by_deadline`): no request starts after it, one in flight is
//! cut off at it, no backoff or `Retry-After` wait runs past it, the token request included;
//! the read gives the signal absent, saying so, and caches nothing.
//!
//! Every read here would take seconds without the deadline (`timeout_ms` 2 s, 3 attempts, or
//! waits of 2 s); the assertions on time allow at least twice what the deadline needs, and are
//! at most half of what a single attempt or wait not cut by the deadline would take.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use xop_network::{Camara, CamaraConfig};
use xop_runtime::engine::{Deadline, Input, Options, Runtime, RuntimeError};
use xop_runtime::interp::Signals;
use xop_runtime::module::{Module, hash_sources};
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::value::Value;

use crate::support::{Reply, Stub, path_only};
use crate::{customer, program, signal};

const PHONE: &str = "+33612345678";
const NOW: i64 = 1_795_600_800_000; // 2026-11-25T10:00:00Z
const CHECK: &str = "/sim-swap/v2/check";
const DATE: &str = "/sim-swap/v2/retrieve-date";

/// A SIM Swap stand-in: no swap; `slow_path` answers `delay_ms` late (read at each request).
fn sim_swap(slow_path: &'static str, delay_ms: Arc<AtomicU64>) -> Stub {
    Stub::start(move |r, _| {
        let reply = match path_only(&r.path) {
            CHECK => Reply::json(200, &json!({ "swapped": false })),
            DATE => Reply::json(200, &json!({ "latestSimChange": null })),
            _ => Reply::raw(404, ""),
        };
        if path_only(&r.path) == slow_path {
            reply.delayed(Duration::from_millis(delay_ms.load(Ordering::SeqCst)))
        } else {
            reply
        }
    })
}

/// Each attempt up to 2 s, 3 of them: a read the network does not answer takes 6 s and more.
fn patient(stub: &Stub) -> CamaraConfig {
    let mut c = stub.config();
    c.timeout = Duration::from_secs(2);
    c.connect_timeout = Duration::from_secs(1);
    c.max_attempts = 3;
    c
}

/// Reads `sim_swap(c)` through `camara` for a decision whose reads must be done by `deadline`:
/// the value, the outcome's reason, and how long it took.
fn read(camara: &Camara, deadline: Option<&Deadline>) -> (Value, Option<String>, Duration) {
    let s = signal("sim_swap");
    let started = Instant::now();
    let signals = camara.signals_by_deadline(program(), NOW, deadline);
    let v = signals.read(s, &program().signals[s as usize], &[customer(PHONE)]);
    let took = started.elapsed();
    let outcome = signals.outcomes().pop().expect("the read's outcome");
    assert_eq!(outcome.present, v != Value::Absent);
    (v, outcome.fetch.reason, took)
}

/// A network answering too slowly: the attempt in flight is cut off at the deadline and no other
/// starts, whichever of SIM Swap's two calls is slow; the read is absent, saying so, also when
/// the attempt cut off was the last one allowed.
#[test]
fn a_read_in_flight_is_cut_off_at_the_deadline() {
    for (slow, operation, requests, attempts) in [
        (CHECK, "checkSimSwap", 1, 3),
        (DATE, "retrieveSimSwapDate", 2, 3),
        (CHECK, "checkSimSwap", 1, 1),
    ] {
        let stub = sim_swap(slow, Arc::new(AtomicU64::new(5_000)));
        let mut config = patient(&stub);
        config.max_attempts = attempts;
        let camara = Camara::new(config);
        let deadline = Duration::from_millis(400);
        let (v, reason, took) = read(&camara, Some(&Deadline::new(Instant::now() + deadline)));
        assert_eq!(v, Value::Absent);
        assert_eq!(
            reason.as_deref(),
            Some(
                format!(
                    "std.camara.sim_swap: the decision's deadline passed before sim-swap \
                     {operation} could be read (the last try: timed out)"
                )
                .as_str()
            )
        );
        // At the deadline, not after the 6 s of attempts the retries would take, nor after
        // one whole attempt's 2 s.
        assert!(took >= deadline - Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_millis(1_000), "{took:?}");
        assert_eq!(stub.api_requests().len(), requests, "{slow}");
        // Nothing goes on behind the read's back.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(stub.api_requests().len(), requests, "{slow}");
    }
}

/// A wait before a retry that would end past the deadline is not waited: the read stops at once,
/// `Retry-After` or backoff alike, naming the failure that would have been retried.
#[test]
fn no_wait_before_a_retry_runs_past_the_deadline() {
    let unavailable =
        json!({ "status": 503, "code": "UNAVAILABLE", "message": "Service unavailable" });
    for retry_after in [true, false] {
        let body = unavailable.clone();
        let stub = Stub::start(move |_, _| {
            let reply = Reply::json(503, &body);
            if retry_after {
                reply.with_header("Retry-After", "2")
            } else {
                reply
            }
        });
        let mut config = patient(&stub);
        // Waits of 2 s: two of them without the deadline.
        config.backoff = Duration::from_secs(if retry_after { 0 } else { 2 });
        config.max_backoff = Duration::from_secs(5);
        let camara = Camara::new(config);
        let (v, reason, took) = read(
            &camara,
            Some(&Deadline::new(Instant::now() + Duration::from_millis(500))),
        );
        assert_eq!(v, Value::Absent);
        assert_eq!(
            reason.as_deref(),
            Some(
                "std.camara.sim_swap: the decision's deadline passed before sim-swap \
                 checkSimSwap could be read (the last try: 503 UNAVAILABLE: Service unavailable)"
            ),
            "Retry-After: {retry_after}"
        );
        assert!(took < Duration::from_millis(1_000), "{took:?}");
        assert_eq!(stub.api_requests().len(), 1, "Retry-After: {retry_after}");
    }
}

/// Retries whose waits end before the deadline still run: a deadline stops a read, it does not
/// shorten one that fits.
#[test]
fn retries_that_fit_before_the_deadline_still_run() {
    let stub = Stub::start(|r, n| match path_only(&r.path) {
        CHECK if n < 2 => Reply::json(
            503,
            &json!({ "status": 503, "code": "UNAVAILABLE", "message": "Service unavailable" }),
        ),
        CHECK => Reply::json(200, &json!({ "swapped": false })),
        DATE => Reply::json(200, &json!({ "latestSimChange": null })),
        _ => Reply::raw(404, ""),
    });
    let camara = Camara::new(patient(&stub));
    let (v, reason, _) = read(
        &camara,
        Some(&Deadline::new(Instant::now() + Duration::from_secs(10))),
    );
    assert_ne!(v, Value::Absent, "{reason:?}");
    assert_eq!(stub.api_requests().len(), 4);
}

/// The token request counts: one in flight is cut off at the deadline, and the API is not asked.
#[test]
fn a_token_request_is_cut_off_at_the_deadline() {
    let stub = sim_swap(CHECK, Arc::default());
    stub.set_token_delay(Duration::from_secs(5));
    let camara = Camara::new(patient(&stub));
    let (v, reason, took) = read(
        &camara,
        Some(&Deadline::new(Instant::now() + Duration::from_millis(400))),
    );
    assert_eq!(v, Value::Absent);
    assert_eq!(
        reason.as_deref(),
        Some(
            "std.camara.sim_swap: the decision's deadline passed before sim-swap checkSimSwap \
             could be read (the last try: no access token: timed out)"
        )
    );
    assert!(took < Duration::from_millis(1_000), "{took:?}");
    assert_eq!(stub.token_requests(), 1);
    assert!(stub.api_requests().is_empty());
}

/// A deadline already passed sends nothing at all, not even a token request.
#[test]
fn a_deadline_already_passed_sends_nothing() {
    let stub = sim_swap(CHECK, Arc::default());
    let camara = Camara::new(patient(&stub));
    let (v, reason, _) = read(&camara, Some(&Deadline::new(Instant::now())));
    assert_eq!(v, Value::Absent);
    assert_eq!(
        reason.as_deref(),
        Some(
            "std.camara.sim_swap: the decision's deadline passed before sim-swap checkSimSwap \
             could be read: no request for it was sent"
        )
    );
    assert!(stub.requests().is_empty(), "{:?}", stub.requests());
}

/// A read the deadline stopped is not an answer: nothing is cached, the next read asks the
/// network (and, without a deadline, waits for it as before).
#[test]
fn a_read_the_deadline_stopped_is_not_cached() {
    let delay = Arc::new(AtomicU64::new(5_000));
    let stub = sim_swap(CHECK, delay.clone());
    let camara = Camara::new(patient(&stub));
    let (v, _, _) = read(
        &camara,
        Some(&Deadline::new(Instant::now() + Duration::from_millis(300))),
    );
    assert_eq!(v, Value::Absent);
    assert_eq!(stub.api_requests().len(), 1);
    delay.store(600, Ordering::SeqCst);
    let (v, reason, took) = read(&camara, None);
    assert_ne!(v, Value::Absent, "{reason:?}");
    assert!(took >= Duration::from_millis(550), "{took:?}");
    assert_eq!(
        stub.api_requests().len(),
        3,
        "asked again: /check and /retrieve-date"
    );
}

/// Through the runtime: a decision with a deadline (`Options::deadline`, as `xop serve` gives
/// its `timeout_ms`) has its reads stopped at it, so it is abandoned at about the deadline
/// rather than after the reads' 6 s; nothing is recorded.
#[test]
fn the_runtime_passes_the_decisions_deadline_to_its_reads() {
    let delay = Arc::new(AtomicU64::new(5_000));
    let stub = sim_swap(CHECK, delay.clone());
    let dir = std::env::temp_dir().join(format!("xop-net-deadline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = Runtime::with_log(ProofLog::open(&dir, LogConfig::default()).unwrap());
    let bytes = Module {
        program: program().clone(),
        source_hash: hash_sources([("net.xop", crate::SOURCE.as_bytes())]),
        sources: vec!["net.xop".into()],
    }
    .to_bytes(None);
    rt.load_bytes("net", &bytes, None).unwrap();
    rt.set_connectors(Some(Box::new(Camara::new(patient(&stub)))));
    let input = json!({"to": {"id": "c-1", "msisdn": PHONE}, "now": "2026-11-25T10:00:00Z"});
    let started = Instant::now();
    let deadline = Deadline::new(started + Duration::from_millis(400));
    let options = Options {
        deadline: Some(&deadline),
        ..Options::default()
    };
    let out = rt.decide_with("payments", Input::Json(&input.to_string()), options);
    let took = started.elapsed();
    assert!(
        matches!(out, Err(RuntimeError::DeadlinePassed { .. })),
        "{:?}",
        out.map(|o| o.verdict)
    );
    assert!(took < Duration::from_millis(1_000), "{took:?}");
    assert_eq!(stub.api_requests().len(), 1);
    assert_eq!(rt.log().unwrap().size(), 0, "nothing recorded");
    // Without a deadline the same decision reads as before, and is proven.
    delay.store(0, Ordering::SeqCst);
    let out = rt
        .decide("payments", Input::Json(&input.to_string()))
        .unwrap();
    assert!(out.seq.is_some());
    rt.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The deadline is a value the signal source carries, not a setting of the thread that made it:
/// a source made on one thread and read on others has each read cut off at the deadline.
#[test]
fn reads_on_other_threads_honour_the_deadline() {
    let stub = sim_swap(CHECK, Arc::new(AtomicU64::new(5_000)));
    let camara = Camara::new(patient(&stub));
    let started = Instant::now();
    let deadline = Deadline::new(started + Duration::from_millis(400));
    let signals = camara.signals_by_deadline(program(), NOW, Some(&deadline));
    let s = signal("sim_swap");
    let read = || {
        let v = signals.read(s, &program().signals[s as usize], &[customer(PHONE)]);
        (v, started.elapsed())
    };
    // Two reads, each on a thread of its own, one after the other: the second starts at the
    // deadline and sends nothing.
    let (first, took_first) = std::thread::scope(|scope| scope.spawn(read).join().unwrap());
    let (second, took_second) = std::thread::scope(|scope| scope.spawn(read).join().unwrap());
    assert_eq!((first, second), (Value::Absent, Value::Absent));
    assert!(took_first >= Duration::from_millis(350), "{took_first:?}");
    assert!(
        took_second < Duration::from_millis(1_000),
        "{took_second:?}"
    );
    let reasons: Vec<_> = signals
        .outcomes()
        .into_iter()
        .map(|o| o.fetch.reason.unwrap_or_default())
        .collect();
    assert_eq!(
        reasons,
        [
            "std.camara.sim_swap: the decision's deadline passed before sim-swap checkSimSwap \
             could be read (the last try: timed out)",
            "std.camara.sim_swap: the decision's deadline passed before sim-swap checkSimSwap \
             could be read: no request for it was sent",
        ]
    );
    assert_eq!(stub.api_requests().len(), 1);
}

/// A caller that stops waiting (`Deadline::give_up`) stops the reads for its decision before
/// the deadline: a wait before a retry ends at once, and after a request in flight (which ends
/// at `timeout_ms`) no other starts. The read is absent, saying so.
#[test]
fn giving_up_stops_the_reads_before_the_deadline() {
    let unavailable =
        json!({ "status": 503, "code": "UNAVAILABLE", "message": "Service unavailable" });
    // Waits of 2 s between the tries of a network that is unavailable; attempts of 600 ms
    // against one that does not answer: 3 tries take 4 s, or 1.8 s.
    for waiting in [true, false] {
        let body = unavailable.clone();
        let stub = Stub::start(move |_, _| {
            let reply = Reply::json(503, &body);
            if waiting {
                reply
            } else {
                reply.delayed(Duration::from_secs(5))
            }
        });
        let mut config = patient(&stub);
        config.timeout = Duration::from_millis(600);
        config.backoff = Duration::from_millis(if waiting { 2_000 } else { 10 });
        config.max_backoff = Duration::from_secs(5);
        let camara = Camara::new(config);
        let started = Instant::now();
        let deadline = Deadline::new(started + Duration::from_secs(30));
        let caller = deadline.clone();
        let giving_up = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            caller.give_up()
        });
        let signals = camara.signals_by_deadline(program(), NOW, Some(&deadline));
        let s = signal("sim_swap");
        let v = signals.read(s, &program().signals[s as usize], &[customer(PHONE)]);
        let took = started.elapsed();
        assert!(!giving_up.join().unwrap(), "nothing was recorded");
        assert_eq!(v, Value::Absent);
        let last = if waiting {
            "503 UNAVAILABLE: Service unavailable"
        } else {
            "timed out"
        };
        assert_eq!(
            signals.outcomes()[0].fetch.reason.as_deref(),
            Some(
                format!(
                    "std.camara.sim_swap: the decision's caller stopped waiting before sim-swap \
                     checkSimSwap could be read (the last try: {last})"
                )
                .as_str()
            )
        );
        // At the give-up (plus the attempt in flight then), not after the other tries.
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(
            took < Duration::from_millis(1_200),
            "waiting {waiting}: {took:?}"
        );
        assert_eq!(stub.api_requests().len(), 1, "waiting {waiting}");
    }
}

/// Through the runtime: the decision's `Deadline` itself reaches the reads, so a caller that
/// gives up has the decision's reads stop then, long before the deadline.
#[test]
fn the_runtime_passes_a_give_up_to_its_reads() {
    let unavailable =
        json!({ "status": 503, "code": "UNAVAILABLE", "message": "Service unavailable" });
    let stub = Stub::start(move |_, _| Reply::json(503, &unavailable));
    let mut config = patient(&stub);
    config.backoff = Duration::from_secs(2);
    config.max_backoff = Duration::from_secs(5);
    let rt = Runtime::new();
    let bytes = Module {
        program: program().clone(),
        source_hash: hash_sources([("net.xop", crate::SOURCE.as_bytes())]),
        sources: vec!["net.xop".into()],
    }
    .to_bytes(None);
    rt.load_bytes("net", &bytes, None).unwrap();
    rt.set_connectors(Some(Box::new(Camara::new(config))));
    let input = json!({"to": {"id": "c-1", "msisdn": PHONE}, "now": "2026-11-25T10:00:00Z"});
    let started = Instant::now();
    let deadline = Deadline::new(started + Duration::from_secs(30));
    let caller = deadline.clone();
    let giving_up = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        caller.give_up()
    });
    let options = Options {
        deadline: Some(&deadline),
        ..Options::default()
    };
    let out = rt.decide_with("payments", Input::Json(&input.to_string()), options);
    let took = started.elapsed();
    assert!(!giving_up.join().unwrap());
    assert!(
        matches!(out, Err(RuntimeError::DeadlinePassed { late_ms: 0 })),
        "{:?}",
        out.map(|o| o.verdict)
    );
    assert!(took < Duration::from_millis(1_000), "{took:?}");
    assert_eq!(stub.api_requests().len(), 1);
}
