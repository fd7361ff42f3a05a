//! The connectors plugged into the runtime (`Runtime::set_connectors`): signals are read from
//! the network when a rule needs them and their correlators are proven in the decision's record;
//! an allowed QoD instruction creates its session, proven as `action.performed`; signal values
//! in the input are refused (the network is their source).

use serde_json::json;
use xop_runtime::engine::{Input, Runtime};
use xop_runtime::ir::Verdict;
use xop_runtime::module::{Module, hash_sources};
use xop_runtime::proof::record::{Body, Record, decode};
use xop_runtime::proof::{LogConfig, ProofLog};

use crate::program;
use crate::support::{Reply, Spec, Stub, path_only};

const PHONE: &str = "+33612345678";

/// A stand-in for SIM Swap (a swap an hour ago) and QoD (the contract's creation example).
fn network() -> Stub {
    let created = Spec::load("quality-on-demand.yaml").example("SESSION_CREATION_EXAMPLE");
    Stub::start(move |r, _| match path_only(&r.path) {
        "/sim-swap/v2/check" => Reply::json(200, &json!({ "swapped": true })),
        "/sim-swap/v2/retrieve-date" => {
            Reply::json(200, &json!({ "latestSimChange": "2026-11-25T09:00:00Z" }))
        }
        "/quality-on-demand/v1/sessions" => Reply::json(201, &created),
        _ => Reply::raw(404, ""),
    })
}

fn runtime(dir: &std::path::Path, stub: &Stub) -> Runtime {
    let log = ProofLog::open(dir, LogConfig::default()).unwrap();
    let rt = Runtime::with_log(log);
    let bytes = Module {
        program: program().clone(),
        source_hash: hash_sources([("net.xop", crate::SOURCE.as_bytes())]),
        sources: vec!["net.xop".into()],
    }
    .to_bytes(None);
    rt.load_bytes("net", &bytes, None).unwrap();
    rt.set_connectors(Some(Box::new(stub.camara())));
    rt
}

fn record(rt: &Runtime, seq: u64) -> Record {
    let bytes = rt.log().unwrap().record_bytes(seq).unwrap().unwrap();
    decode(&bytes).unwrap()
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("xop-net-rt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn signal_reads_are_proven_with_their_correlators() {
    let stub = network();
    let dir = temp("signals");
    let rt = runtime(&dir, &stub);
    let input = json!({"to": {"id": "c-1", "msisdn": PHONE}, "now": "2026-11-25T10:00:00Z"});
    let out = rt
        .decide("payments", Input::Json(&input.to_string()))
        .unwrap();
    assert_eq!(out.verdict, Verdict::Review, "{out:?}");
    let seq = out.seq.unwrap();
    let record = record(&rt, seq);
    let Body::Decision(d) = record.body else {
        panic!("not a decision: {record:?}")
    };
    let fetch = d.signals[0].fetch.as_ref().expect("the read's provenance");
    assert_eq!(fetch.source, "std.camara.sim_swap");
    let sent: Vec<String> = stub
        .api_requests()
        .iter()
        .map(|r| r.header("x-correlator").unwrap().to_string())
        .collect();
    let proven: Vec<String> = fetch
        .calls
        .iter()
        .filter_map(|c| c.correlator.clone())
        .collect();
    assert_eq!(
        proven, sent,
        "the correlators the operator saw are in the record"
    );
    assert_eq!(sent.len(), 2);
    rt.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn signals_in_the_input_are_refused_when_the_network_is_their_source() {
    let stub = network();
    let dir = temp("refused");
    let rt = runtime(&dir, &stub);
    // A caller claiming "no swap" must not get past the fraud check.
    let input =
        json!({"to": {"id": "c-1", "msisdn": PHONE}, "signals": {"sim_swap": {"swapped": false}}});
    let out = rt
        .decide("payments", Input::Json(&input.to_string()))
        .unwrap();
    assert_eq!(out.verdict, Verdict::Deny);
    assert_eq!(out.reasons, ["xop:bad-input"]);
    assert!(
        out.error.as_deref().unwrap_or("").starts_with("signals:"),
        "{out:?}"
    );
    assert!(
        stub.api_requests().is_empty(),
        "nothing was asked of the network"
    );
    rt.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_allowed_qod_instruction_creates_the_session_and_proves_it() {
    let stub = network();
    let dir = temp("qod");
    let rt = runtime(&dir, &stub);
    let input = |profile: &str| {
        json!({"phone_number": PHONE, "application_server": "198.51.100.0/24",
               "qos_profile": profile, "duration": "1h"})
        .to_string()
    };
    // Denied: nothing is sent.
    let out = rt.decide("boost", Input::Json(&input("QOS_X"))).unwrap();
    assert_eq!(out.verdict, Verdict::Deny);
    assert!(out.performed.is_none());
    assert!(stub.api_requests().is_empty());
    // Allowed: the session is created and the event follows the decision in the log.
    let out = rt.decide("boost", Input::Json(&input("QOS_L"))).unwrap();
    assert_eq!(out.verdict, Verdict::Allow);
    let p = out.performed.as_ref().expect("performed");
    assert!(p.ok, "{p:?}");
    let session = p.result["session_id"].as_str().unwrap().to_string();
    let sent = stub.api_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["qosProfile"], "QOS_L");
    assert_eq!(sent[0].json()["duration"], 3600);
    let record = record(&rt, out.performed_seq.unwrap());
    let Body::Event { name, data } = record.body else {
        panic!("not an event: {record:?}")
    };
    assert_eq!(name, "action.performed");
    assert_eq!(data["decision"], json!(out.seq));
    assert_eq!(data["result"]["session_id"], json!(session));
    // In the contract's spelling, as the operator wrote it.
    assert_eq!(data["result"]["qos_status"], "REQUESTED");
    let correlators: Vec<&str> = data["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["correlator"].as_str())
        .collect();
    assert_eq!(correlators, [sent[0].header("x-correlator").unwrap()]);
    rt.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A review sink with the halt switch on.
struct Halted;

impl xop_runtime::engine::ReviewSink for Halted {
    fn open_case(&self, _case: &xop_runtime::engine::ReviewCase) -> Result<String, String> {
        Ok("case-1".into())
    }

    fn halted(&self) -> bool {
        true
    }
}

#[test]
fn a_halt_holds_back_a_high_risk_network_action_even_when_allowed() {
    // A QoD policy with a review rule guards a high-risk use: under a halt it is not carried out.
    let source = r#"module acme.boost
use std.camara.create_qos_session
role network_ops
policy boost for create_qos_session(qos_profile: q) {
  review "premium-profile" by role network_ops within 1h else deny when q == "QOS_E"
  allow "boost"
}
"#;
    let mut ws = xop_compiler::db::Workspace::new();
    ws.set_file("boost.xop", source);
    let program = xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers");
    let stub = network();
    let rt = Runtime::new();
    let bytes = Module {
        program,
        source_hash: hash_sources([("boost.xop", source.as_bytes())]),
        sources: vec!["boost.xop".into()],
    }
    .to_bytes(None);
    rt.load_bytes("boost", &bytes, None).unwrap();
    rt.set_connectors(Some(Box::new(stub.camara())));
    let input = json!({"phone_number": PHONE, "application_server": "198.51.100.0/24",
                       "qos_profile": "QOS_L", "duration": "1h"})
    .to_string();
    rt.set_review_sink(Some(Box::new(Halted)));
    let out = rt.decide("boost", Input::Json(&input)).unwrap();
    assert_eq!(
        out.verdict,
        Verdict::Allow,
        "the runtime's verdict; the server applies the halt"
    );
    assert!(out.performed.is_none(), "{out:?}");
    assert!(
        stub.api_requests().is_empty(),
        "nothing was sent under the halt"
    );
    // Without the halt, the same decision creates the session.
    rt.set_review_sink(None);
    let out = rt.decide("boost", Input::Json(&input)).unwrap();
    assert!(out.performed.as_ref().is_some_and(|p| p.ok), "{out:?}");
    assert_eq!(stub.api_requests().len(), 1);
}

/// In the runtime, with the decision time the caller gives: a status the network observed 3
/// days ago is stale however far `now` is set back, and one observed now is after a `now` set
/// 3 days back (out of contract); each decision is proven with what was read and replays to
/// the same verdict (`xop log replay` judges a logged value at the record's decision time,
/// where whatever the connectors let through passes too).
#[test]
fn a_caller_setting_now_back_cannot_make_a_network_status_fresh_and_it_replays() {
    const DAY: i64 = 86_400_000;
    let source = r#"module acme.roam
use std.camara.RoamingStatus
purpose alerts
record Customer {
  id: Id
  msisdn: Text
}
action notify(to: Customer) purpose alerts risk minimal
signal roaming(c: Customer): RoamingStatus from camara.device_roaming(c.msisdn) max_age 1m
policy notify_ok for notify(to: c) {
  deny "roaming-unknown" when roaming(c) is absent
  deny "roaming" when roaming(c) is present and roaming(c).roaming
  allow "ok"
}
"#;
    let mut ws = xop_compiler::db::Workspace::new();
    ws.set_file("roam.xop", source);
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let program = xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers");
    let real = || jiff::Timestamp::now().as_millisecond();
    let time = xop_runtime::proof::record::time_text;
    // The network observed the status 3 days before it answers, then 10 s before, in turn.
    let stub = Stub::start(move |_, n| {
        let ago = if n % 2 == 0 { 3 * DAY } else { 10_000 };
        Reply::json(
            200,
            &json!({"roaming": false, "lastStatusTime": time(real() - ago)}),
        )
    });
    let dir = temp("backdated");
    let log = ProofLog::open(&dir, LogConfig::default()).unwrap();
    let rt = Runtime::with_log(log);
    let bytes = Module {
        program: program.clone(),
        source_hash: hash_sources([("roam.xop", source.as_bytes())]),
        sources: vec!["roam.xop".into()],
    }
    .to_bytes(None);
    rt.load_bytes("roam", &bytes, None).unwrap();
    rt.set_connectors(Some(Box::new(stub.camara())));
    let decide = |now: Option<i64>| {
        let mut input = json!({"to": {"id": "c-1", "msisdn": PHONE}});
        if let Some(now) = now {
            input["now"] = json!(time(now));
        }
        let out = rt
            .decide("notify_ok", Input::Json(&input.to_string()))
            .unwrap();
        let Body::Decision(d) = record(&rt, out.seq.unwrap()).body else {
            panic!("not a decision")
        };
        (out, d)
    };
    // Observed 3 days ago, decided "3 days ago plus 30 s": stale, 3 days old.
    let (out, d) = decide(Some(real() - 3 * DAY + 30_000));
    assert_eq!(out.reasons, ["roaming-unknown"], "{out:?}");
    let fetch = d.signals[0].fetch.as_ref().unwrap();
    let reason = fetch.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("std.camara.device_roaming: stale: the network observed it 3d"),
        "{reason}"
    );
    assert!(reason.contains("by the connectors' clock"), "{reason}");
    assert!(fetch.age_ms.unwrap() >= 3 * DAY as u64, "{fetch:?}");
    // Observed 10 s ago, decided "3 days ago": after the decision time, out of contract.
    let (out, d) = decide(Some(real() - 3 * DAY));
    assert_eq!(out.reasons, ["roaming-unknown"], "{out:?}");
    let reason = d.signals[0].fetch.as_ref().unwrap().reason.clone().unwrap();
    assert!(reason.contains("is after the decision time"), "{reason}");
    // Observed 3 days ago, decided now: stale. Observed 10 s ago, decided now: read.
    let (out, _) = decide(None);
    assert_eq!(out.reasons, ["roaming-unknown"], "{out:?}");
    let (out, d) = decide(None);
    assert_eq!(out.verdict, Verdict::Allow, "{out:?}");
    assert!(d.signals[0].value.is_object());
    // Every decision replays to what was logged.
    for seq in 0..4 {
        let Body::Decision(d) = record(&rt, seq).body else {
            panic!("not a decision")
        };
        assert_eq!(
            xop_runtime::proof::replay::replay(&program, &d),
            xop_runtime::proof::replay::Replayed::Same,
            "record {seq}"
        );
    }
    rt.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
