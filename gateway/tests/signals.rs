//! Tool calls decided on network signals (`Session::with_connectors`, `xop mcp-gateway
//! --config`): the policy sees the value the connectors read, and the proof record holds that
//! value and how it was fetched (correlators), not a second read.

#[path = "support/fraud.rs"]
mod fraud;

use serde_json::{Map, Value as Json, json};

use fraud::{call, log_dir, module_bytes, program};
use xop_gateway::record::EngineRecorder;
use xop_gateway::session::{Out, Session};
use xop_runtime::connectors::{Connectors, Performed};
use xop_runtime::interp::Signals;
use xop_runtime::ir::{Program, SignalDecl};
use xop_runtime::proof::record::{Body, NetworkCall, SignalFetch, decode};
use xop_runtime::value::Value;

/// Connectors that answer every SIM swap with `swapped` and one call with `correlator`.
struct Fake {
    swapped: bool,
    correlator: &'static str,
}

struct FakeSignals<'a> {
    fake: &'a Fake,
    program: &'a Program,
}

impl Signals for FakeSignals<'_> {
    fn read(&self, _signal: u32, decl: &SignalDecl, _args: &[Value]) -> Value {
        let Some(rec) = self
            .program
            .records
            .iter()
            .position(|r| r.name == "std.camara.SimSwap")
        else {
            return Value::Absent;
        };
        let _ = decl;
        let fields = self.program.records[rec]
            .fields
            .iter()
            .map(|f| match f.name.as_str() {
                "swapped" => Value::Bool(self.fake.swapped),
                // A swap an hour ago, or none in the 120 days the operator watches.
                "latest_swap" if self.fake.swapped => {
                    Value::Time(jiff::Timestamp::now().as_millisecond() - 3_600_000)
                }
                "monitored_period" => Value::Duration(120 * 86_400_000),
                _ => Value::Absent,
            })
            .collect();
        Value::Record(u32::try_from(rec).unwrap(), fields)
    }

    fn fetch(&self, _nth: usize) -> Option<SignalFetch> {
        Some(SignalFetch {
            source: "std.camara.sim_swap".into(),
            cached: false,
            age_ms: Some(0),
            reason: None,
            calls: vec![NetworkCall {
                api: "sim-swap".into(),
                operation: "checkSimSwap".into(),
                method: "POST".into(),
                path: "/check".into(),
                correlator: Some(self.fake.correlator.into()),
                echoed_correlator: Some(self.fake.correlator.into()),
                attempt: 1,
                status: Some(200),
                error_code: None,
                error: None,
                elapsed_ms: 1,
            }],
        })
    }
}

impl Connectors for Fake {
    fn signals<'a>(&'a self, program: &'a Program, _now_ms: i64) -> Box<dyn Signals + 'a> {
        Box::new(FakeSignals {
            fake: self,
            program,
        })
    }

    fn perform(&self, _program: &Program, _action: &str, _args: &[Value]) -> Option<Performed> {
        None
    }
}

#[test]
fn a_call_is_decided_on_the_signal_read_and_proven_with_its_correlator() {
    let program = program();
    let dir = log_dir("xop-gw-signals");
    let bytes = module_bytes(&program);
    let subject: Map<String, Json> = json!({"to": {"id": "c-1", "msisdn": "+33612345678"}})
        .as_object()
        .cloned()
        .unwrap();
    for (swapped, correlator, forwarded) in [(false, "corr-1", true), (true, "corr-2", false)] {
        let recorder = EngineRecorder::open(&dir, &bytes).unwrap();
        let mut s = Session::new(program.clone(), None, subject.clone(), recorder)
            .unwrap()
            .with_connectors(Box::new(Fake {
                swapped,
                correlator,
            }));
        // Decided in place, or (as the gateway's loop does) handed out: reading signals
        // waits on the network, so the loop has a worker thread do it.
        let outs = if swapped {
            let mut s2 = s.with_work_off_loop();
            let outs = s2.from_client(&call(1));
            let [Out::Work(work)] = outs.as_slice() else {
                panic!("expected the decision handed out, got {outs:?}");
            };
            let work = work.clone();
            let outs = std::thread::spawn(move || work.run()).join().unwrap();
            let outs = s2.worked(outs);
            s = s2;
            outs
        } else {
            s.from_client(&call(1))
        };
        let upstream = outs.iter().any(|o| o.to_upstream().is_some());
        assert_eq!(upstream, forwarded, "swapped {swapped}: {outs:?}");
        s.into_recorder().close().unwrap();
    }
    // Without connectors the signal is absent: the policy's absence handling denies.
    let mut s = Session::new(
        program.clone(),
        None,
        subject,
        xop_gateway::record::NoRecorder,
    )
    .unwrap();
    assert!(
        !s.from_client(&call(1))
            .iter()
            .any(|o| o.to_upstream().is_some())
    );

    // The decision records hold the values read and their correlators.
    let mut found = Vec::new();
    let mut r = xop_runtime::proof::verify::LogReader::open(&dir).unwrap();
    for seq in 0..r.size() {
        if let Body::Decision(d) = decode(&r.record_bytes(seq).unwrap()).unwrap().body {
            let read = &d.signals[0];
            let fetch = read.fetch.as_ref().expect("provenance");
            found.push((
                read.value["swapped"].clone(),
                fetch.calls[0].correlator.clone().unwrap(),
                d.verdict.keyword(),
            ));
        }
    }
    assert_eq!(
        found,
        [
            (json!(false), "corr-1".to_string(), "allow"),
            (json!(true), "corr-2".to_string(), "deny")
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}
