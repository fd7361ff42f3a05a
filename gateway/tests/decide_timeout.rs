//! A tool call's decision reads its signals under a deadline (`Session::with_decide_timeout`,
//! `xop mcp-gateway --decide-timeout`): a CAMARA endpoint that never answers holds the call about
//! that long, not for the connectors' own timeouts and retries; the signal is absent, the
//! policy decides on it absent (fail closed), and the call is still recorded, its reasons saying
//! that the deadline passed (`xop:decide-timeout`).

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "support/fraud.rs"]
mod fraud;

use serde_json::{Map, Value as Json, json};

use fraud::{call, log_dir, module_bytes, program};
use xop_gateway::policy::DECIDE_TIMEOUT;
use xop_gateway::record::EngineRecorder;
use xop_gateway::session::{Out, Session};
use xop_network::{Camara, CamaraConfig};
use xop_runtime::proof::record::{Body, decode};

fn subject() -> Map<String, Json> {
    json!({"to": {"id": "c-1", "msisdn": "+33612345678"}})
        .as_object()
        .cloned()
        .unwrap()
}

/// A CAMARA endpoint (API and token endpoint alike) that takes connections and never answers:
/// its base URL.
fn hanging() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        // Kept open, never read from or answered, until the test process ends.
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    url
}

/// Connectors to `url` whose reads, undisturbed, take 3 attempts of 5 s each.
fn patient(url: &str) -> Camara {
    let mut c =
        CamaraConfig::with_root(url, &format!("{url}/oauth2/token"), "id", "secret").unwrap();
    c.timeout = Duration::from_secs(5);
    c.connect_timeout = Duration::from_secs(5);
    c.max_attempts = 3;
    Camara::new(c)
}

/// The client's answer among `outs`.
fn answer(outs: &[Out]) -> &Json {
    outs.iter()
        .find_map(Out::to_client)
        .unwrap_or_else(|| panic!("no answer to the client: {outs:?}"))
}

#[test]
fn a_hanging_endpoint_holds_a_call_only_until_the_decide_timeout() {
    let program = program();
    let dir = log_dir("xop-gw-decide-timeout");
    let recorder = EngineRecorder::open(&dir, &module_bytes(&program)).unwrap();
    let mut s = Session::new(program, None, subject(), recorder)
        .unwrap()
        .with_connectors(Box::new(patient(&hanging())))
        .with_decide_timeout(Duration::from_millis(500))
        .with_work_off_loop();
    // As the gateway's loop does: the decision is handed out, a worker thread makes it.
    let started = Instant::now();
    let outs = s.from_client(&call(1));
    let [Out::Work(work)] = outs.as_slice() else {
        panic!("expected the decision handed out, got {outs:?}");
    };
    let work = work.clone();
    let worked = std::thread::spawn(move || work.run()).join().unwrap();
    let outs = s.worked(worked);
    let took = started.elapsed();
    // About the deadline, not the 15 s and more of the connectors' attempts.
    assert!(took >= Duration::from_millis(450), "{took:?}");
    assert!(took < Duration::from_millis(2_000), "{took:?}");
    assert!(!outs.iter().any(|o| o.to_upstream().is_some()), "{outs:?}");
    let error = &answer(&outs)["error"];
    assert_eq!(error["code"], -32006, "{error}");
    assert_eq!(
        error["data"]["reasons"],
        json!(["recent-sim-swap", DECIDE_TIMEOUT]),
        "{error}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .ends_with("recent-sim-swap, xop:decide-timeout"),
        "{error}"
    );
    s.into_recorder().close().unwrap();

    // Recorded: the policy's decision, with the signal absent because the deadline passed, and
    // the call, its reasons saying so.
    let mut r = xop_runtime::proof::verify::LogReader::open(&dir).unwrap();
    let (mut decisions, mut calls) = (Vec::new(), Vec::new());
    for seq in 0..r.size() {
        match decode(&r.record_bytes(seq).unwrap()).unwrap().body {
            Body::Decision(d) => decisions.push(d),
            Body::Event { name, data } if name == "mcp.tools_call" => calls.push(data),
            _ => {}
        }
    }
    let [d] = decisions.as_slice() else {
        panic!("expected one decision recorded, got {}", decisions.len());
    };
    assert_eq!(d.verdict.keyword(), "deny");
    let [call] = calls.as_slice() else {
        panic!("expected one call recorded, got {calls:?}");
    };
    assert_eq!(call["verdict"], "deny");
    assert_eq!(call["reasons"], json!(["recent-sim-swap", DECIDE_TIMEOUT]));
    let read = &d.signals[0];
    assert_eq!(read.value, Json::Null, "absent");
    let reason = read.fetch.as_ref().and_then(|f| f.reason.clone());
    assert_eq!(
        reason.as_deref(),
        Some(
            "std.camara.sim_swap: the decision's deadline passed before sim-swap checkSimSwap \
             could be read (the last try: no access token: timed out)"
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A signal absent for another reason, before the deadline (nothing listens at the endpoint),
/// is decided on absent as before: the reasons do not blame the deadline.
#[test]
fn a_read_that_fails_in_time_is_not_put_on_the_deadline() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut c =
        CamaraConfig::with_root(&url, &format!("{url}/oauth2/token"), "id", "secret").unwrap();
    c.max_attempts = 1;
    let mut s = Session::new(program(), None, subject(), xop_gateway::record::NoRecorder)
        .unwrap()
        .with_connectors(Box::new(Camara::new(c)))
        .with_decide_timeout(Duration::from_secs(10));
    let outs = s.from_client(&call(1));
    let error = &answer(&outs)["error"];
    assert_eq!(error["code"], -32006, "{error}");
    assert_eq!(
        error["data"]["reasons"],
        json!(["recent-sim-swap"]),
        "{error}"
    );
}

/// A CAMARA endpoint (API and token endpoint alike) that takes connections and never answers:
/// its base URL, and how many connections it took (each try of a read opens one).
fn hanging_counted() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tries = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&tries);
    std::thread::spawn(move || {
        // Kept open, never read from or answered, until the test process ends.
        let mut held = Vec::new();
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (url, tries)
}

/// A client that cancels a call still being decided (`notifications/cancelled`) stops its
/// signal reads too: the try under way ends at its own timeout, and no new try starts after
/// the cancel (the connectors would make 3); the call gets no answer and nothing goes upstream.
#[test]
fn a_cancelled_call_starts_no_new_read() {
    let program = program();
    let dir = log_dir("xop-gw-decide-cancel");
    let recorder = EngineRecorder::open(&dir, &module_bytes(&program)).unwrap();
    let (url, tries) = hanging_counted();
    let mut c =
        CamaraConfig::with_root(&url, &format!("{url}/oauth2/token"), "id", "secret").unwrap();
    c.timeout = Duration::from_millis(700);
    c.connect_timeout = Duration::from_millis(700);
    c.max_attempts = 3;
    let mut s = Session::new(program, None, subject(), recorder)
        .unwrap()
        .with_connectors(Box::new(Camara::new(c)))
        .with_decide_timeout(Duration::from_secs(30))
        .with_work_off_loop();
    let outs = s.from_client(&call(1));
    let [Out::Work(work)] = outs.as_slice() else {
        panic!("expected the decision handed out, got {outs:?}");
    };
    let work = work.clone();
    let worker = std::thread::spawn(move || work.run());
    let started = Instant::now();
    while tries.load(Ordering::SeqCst) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no read started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": 1, "reason": "user"}});
    let outs = s.from_client(&cancel.to_string());
    assert!(outs.is_empty(), "{outs:?}");
    let worked = worker.join().unwrap();
    assert_eq!(
        tries.load(Ordering::SeqCst),
        1,
        "no new try after the cancel"
    );
    let outs = s.worked(worked);
    assert!(outs.is_empty(), "the cancelled call gets nothing: {outs:?}");
    s.into_recorder().close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
