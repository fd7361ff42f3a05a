//! Signal values given in the input's `signals` are judged by the connectors' freshness rule
//! when their type says when the network observed them (Device Status's `last_status_time`):
//! stale, without a time under a `max_age`, or observed beyond the clock allowance after the
//! decision time, they read as absent, on both engines, with why in the proof record; the
//! record replays. Values whose type carries no such time are the caller's answer now.

use std::path::Path;

use xop_runtime::bind::{self, Bound};
use xop_runtime::engine::{Engine, Input, Outcome, Runtime};
use xop_runtime::ir::{
    EnumType, Expr, Field, Param, Policy, Program, RecordType, Rule, SignalDecl, SourceRef, Type,
    Verdict,
};
use xop_runtime::module::{Module, hash_sources};
use xop_runtime::proof::record::Body;
use xop_runtime::proof::replay::{Replayed, replay};
use xop_runtime::proof::verify::LogReader;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::value::Value;

/// The decision time of the inputs.
const NOW: &str = "2026-11-25T10:00:00Z";

fn rule(n: usize, verdict: Verdict, reason: &str, condition: Option<Expr>) -> Rule {
    Rule {
        id: format!("p#{n}"),
        verdict,
        reason: Some(reason.into()),
        condition,
        review: None,
        source: SourceRef {
            file: "rr.xop".into(),
            line: n as u32 + 10,
            column: 3,
            text: format!("{} \"{reason}\" …", verdict.keyword()),
        },
    }
}

fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.into(),
        ty,
        personal: false,
    }
}

/// `signal reach(c: Cust): ReachabilityStatus from camara.device_reachability(c.phone)
/// max_age 5m` (`max_age` as given), a Bool signal `flag` of the same `max_age`, and
/// `policy p { deny "status-unknown" when reach(c) is absent; deny "no-flag" when flag(c) is
/// absent; allow "reachable" }`.
fn program(max_age_ms: Option<i64>) -> Program {
    let signal = |n: u32| Box::new(Expr::Signal(n, vec![Expr::Slot(0)]));
    let absent = |n: u32| Some(Expr::Not(Box::new(Expr::IsPresent(signal(n)))));
    let decl = |name: &str, ty: Type| SignalDecl {
        name: format!("rr.{name}"),
        params: vec![Param {
            name: "c".into(),
            ty: Type::Record(0),
        }],
        ty,
        source: "std.camara.device_reachability".into(),
        source_args: vec![Expr::Field(Box::new(Expr::Slot(0)), 0)],
        max_age_ms,
    };
    Program {
        records: vec![
            RecordType {
                name: "rr.Cust".into(),
                fields: vec![field("phone", Type::Text)],
            },
            RecordType {
                name: "std.camara.ReachabilityStatus".into(),
                fields: vec![
                    field("reachable", Type::Bool),
                    field("connectivity", Type::List(Box::new(Type::Enum(0)))),
                    field("last_status_time", Type::Optional(Box::new(Type::Time))),
                ],
            },
        ],
        enums: vec![EnumType {
            name: "std.camara.Reachability".into(),
            variants: vec!["connected_data".into(), "connected_sms".into()],
        }],
        symbols: vec![],
        signals: vec![decl("reach", Type::Record(1)), decl("flag", Type::Bool)],
        policies: vec![Policy {
            name: "p".into(),
            qualified: "rr.p".into(),
            action: "rr.call".into(),
            params: vec![Param {
                name: "c".into(),
                ty: Type::Record(0),
            }],
            now_slot: None,
            slots: 1,
            rules: vec![
                rule(1, Verdict::Deny, "status-unknown", absent(0)),
                rule(2, Verdict::Deny, "no-flag", absent(1)),
                rule(3, Verdict::Allow, "reachable", None),
            ],
        }],
        tests: vec![],
        decisions: vec![],
        agents: vec![],
    }
}

fn module_bytes(max_age_ms: Option<i64>) -> Vec<u8> {
    Module {
        program: program(max_age_ms),
        source_hash: hash_sources([("rr.xop", &b"module rr"[..])]),
        sources: vec!["rr.xop".into()],
    }
    .to_bytes(None)
}

/// An input at `now` (none when `None`) whose `reach` was observed at `observed` (no
/// `last_status_time` when `None`), with `flag` given true.
fn input(now: Option<&str>, observed: Option<&str>) -> String {
    let mut reach = serde_json::json!({"reachable": true, "connectivity": ["connected_data"]});
    if let Some(t) = observed {
        reach["last_status_time"] = serde_json::json!(t);
    }
    let mut i = serde_json::json!({
        "c": {"phone": "+33612345678"},
        "signals": {"reach": reach, "flag": true},
    });
    if let Some(now) = now {
        i["now"] = serde_json::json!(now);
    }
    i.to_string()
}

fn ms(t: &str) -> i64 {
    xop_runtime::time::parse_rfc3339(t).unwrap()
}

/// The cases: the observation time, and `None` when the value is present or what the reason
/// says when it is absent.
fn cases() -> Vec<(Option<&'static str>, Option<&'static str>)> {
    vec![
        // QA's three: three days old, a day in the future, no time at all.
        (
            Some("2026-11-22T10:00:00Z"),
            Some(
                "std.camara.device_reachability: given in the input: stale: the network observed \
                 it 3d ago (last_status_time 2026-11-22T10:00:00.000Z), more than max_age 5m",
            ),
        ),
        (
            Some("2026-11-26T10:00:00Z"),
            Some(
                "std.camara.device_reachability: given in the input: out of contract: \
                 last_status_time 2026-11-26T10:00:00.000Z is after the decision time \
                 2026-11-25T10:00:00.000Z (more than the 5m allowed for clocks apart), so it \
                 cannot be shown to be within max_age 5m",
            ),
        ),
        (
            None,
            Some(
                "std.camara.device_reachability: given in the input: freshness unknown: the \
                 value given has no last_status_time, so it cannot be shown to be within \
                 max_age 5m; the policy's handling of an absent signal applies",
            ),
        ),
        // Fresh, and at the edges of `max_age` and of the clock allowance.
        (Some("2026-11-25T09:56:00Z"), None),
        (Some("2026-11-25T09:55:00Z"), None),
        (
            Some("2026-11-25T09:54:59.999Z"),
            Some(
                "std.camara.device_reachability: given in the input: stale: the network observed \
                 it 5m1ms ago (last_status_time 2026-11-25T09:54:59.999Z), more than max_age 5m",
            ),
        ),
        (Some("2026-11-25T10:04:00+00:00"), None),
        (Some("2026-11-25T11:05:00+01:00"), None),
        (
            Some("2026-11-25T10:05:00.001Z"),
            Some(
                "std.camara.device_reachability: given in the input: out of contract: \
                 last_status_time 2026-11-25T10:05:00.001Z is after the decision time \
                 2026-11-25T10:00:00.000Z (more than the 5m allowed for clocks apart), so it \
                 cannot be shown to be within max_age 5m",
            ),
        ),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        origin: Some("test.xop/log".into()),
        ..LogConfig::default()
    }
}

/// A runtime logging into `dir` with the module loaded, deciding `p` on `engine`.
fn runtime(dir: &Path, engine: Engine) -> Runtime {
    let rt = Runtime::with_log(ProofLog::open(dir, config()).unwrap());
    rt.set_jit(engine == Engine::Jit);
    rt.load_bytes("rr", &module_bytes(Some(300_000)), None)
        .unwrap();
    let set = rt.modules();
    let (m, index) = set.policy("p").unwrap();
    assert_eq!(m.engine(index), engine, "{:?}", m.jit_unsupported(index));
    rt
}

/// What binding gives for `reach`: its value and the account of why it is absent.
fn reach(b: &Bound) -> (&Value, Option<&str>) {
    let value = b.signals.iter().find(|(i, _)| *i == 0).map(|(_, v)| v);
    let why = (b.judged.iter().find(|(i, _)| *i == 0)).and_then(|(_, f)| f.reason.as_deref());
    (value.unwrap(), why)
}

#[test]
fn binding_judges_a_given_value_by_when_the_network_observed_it() {
    let p = program(Some(300_000));
    for (observed, absent) in cases() {
        let b = bind::bind_json(&p, 0, &input(Some(NOW), observed)).unwrap();
        let (value, why) = reach(&b);
        assert_eq!(why, absent, "{observed:?}");
        assert_eq!(*value == Value::Absent, absent.is_some(), "{observed:?}");
        // A value whose type carries no observation time is the caller's answer now.
        assert!(b.signals.contains(&(1, Value::Bool(true))), "{observed:?}");
        assert_eq!(b.judged.len(), usize::from(absent.is_some()));
        if absent.is_some() {
            let fetch = &b.judged[0].1;
            assert_eq!(fetch.source, "std.camara.device_reachability");
            assert!(!fetch.cached && fetch.calls.is_empty());
        }
        // The same through a parsed value and a decision time given by the caller.
        let v: serde_json::Value = serde_json::from_str(&input(None, observed)).unwrap();
        let at = bind::bind_value_at(&p, 0, &v, ms(NOW)).unwrap();
        assert_eq!(reach(&at), reach(&b), "{observed:?}");
        let bytes = input(None, observed);
        let at = bind::bind_json_bytes_at(&p, 0, bytes.as_bytes(), ms(NOW)).unwrap();
        assert_eq!(reach(&at), reach(&b), "{observed:?}");
    }
    // The stale value's age is in its account.
    let b = bind::bind_json(&p, 0, &input(Some(NOW), Some("2026-11-22T10:00:00Z"))).unwrap();
    assert_eq!(b.judged[0].1.age_ms, Some(3 * 86_400_000));
    // `null` is absent, with nothing to account for.
    let null =
        r#"{"c": {"phone": "+1"}, "now": "2026-11-25T10:00:00Z", "signals": {"reach": null}}"#;
    let b = bind::bind_json(&p, 0, null).unwrap();
    assert_eq!(b.signals, vec![(0, Value::Absent)]);
    assert!(b.judged.is_empty());
}

#[test]
fn without_max_age_a_given_value_is_not_judged() {
    // As the connectors: without a `max_age` a value never goes stale (the compliance checker
    // refuses such a signal, C0008).
    let p = program(None);
    for (observed, _) in cases() {
        let b = bind::bind_json(&p, 0, &input(Some(NOW), observed)).unwrap();
        assert!(b.judged.is_empty(), "{observed:?}");
        assert_ne!(*reach(&b).0, Value::Absent, "{observed:?}");
    }
}

#[test]
fn without_now_a_given_value_is_judged_at_the_clock() {
    let p = program(Some(300_000));
    let clock = jiff::Timestamp::now();
    let text = |ago: i64| {
        let t = clock.as_millisecond() - ago;
        let t = jiff::Timestamp::from_millisecond(t).unwrap().to_string();
        input(None, Some(&t))
    };
    let b = bind::bind_json(&p, 0, &text(60_000)).unwrap();
    assert!(b.judged.is_empty() && b.now_ms.is_none());
    let b = bind::bind_json(&p, 0, &text(3_600_000)).unwrap();
    assert_eq!(*reach(&b).0, Value::Absent);
    let why = reach(&b).1.unwrap();
    assert!(why.contains("stale: the network observed it 1h"), "{why}");
}

/// Decides every case on `rt`: the outcomes, in order.
fn decide_all(rt: &Runtime) -> Vec<Outcome> {
    let mut out = Vec::new();
    for (observed, absent) in cases() {
        let text = input(Some(NOW), observed);
        let o = rt.decide("p", Input::Json(&text)).unwrap();
        let want: &[&str] = if absent.is_some() {
            &["status-unknown"]
        } else {
            &["reachable"]
        };
        assert_eq!(o.reasons, want, "{observed:?}");
        let verdict = if absent.is_some() {
            Verdict::Deny
        } else {
            Verdict::Allow
        };
        assert_eq!(o.verdict, verdict, "{observed:?}");
        // Both signals are read; `reach`'s account says why it is absent, `flag` has none.
        let read = |name: &str| {
            (o.signals.iter())
                .find(|s| s.signal == name)
                .unwrap_or_else(|| panic!("{name} not read: {:?}", o.signals))
        };
        let reach = read("rr.reach");
        let why = reach.fetch.as_ref().and_then(|f| f.reason.as_deref());
        assert_eq!(why, absent, "{observed:?}");
        assert_eq!(reach.value.is_null(), absent.is_some(), "{observed:?}");
        assert_eq!(read("rr.flag").fetch, None);
        // The JSON bytes and a parsed value are judged alike.
        let bytes = rt.decide("p", Input::JsonBytes(text.as_bytes())).unwrap();
        assert_eq!((bytes.verdict, &bytes.signals), (o.verdict, &o.signals));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let parsed = rt.decide("p", Input::Value(&value)).unwrap();
        assert_eq!((parsed.verdict, &parsed.signals), (o.verdict, &o.signals));
        out.push(o);
    }
    out
}

#[test]
fn both_engines_read_a_value_that_cannot_be_shown_fresh_as_absent_and_prove_why() {
    let jit_dir = tempfile::tempdir().unwrap();
    let interp_dir = tempfile::tempdir().unwrap();
    let jit = runtime(jit_dir.path(), Engine::Jit);
    let interp = runtime(interp_dir.path(), Engine::Interpreter);
    let before = jit.jit_decisions();
    let by_jit = decide_all(&jit);
    assert!(jit.jit_decisions() > before, "the JIT decided none");
    let by_interp = decide_all(&interp);
    assert_eq!(interp.jit_decisions(), 0);
    for (j, i) in by_jit.iter().zip(&by_interp) {
        assert_eq!(
            (j.verdict, &j.reasons, &j.fired, &j.signals),
            (i.verdict, &i.reasons, &i.fired, &i.signals)
        );
    }
    // The records say the same, and replay: the record's decision time judges the values
    // again as it did.
    let program = program(Some(300_000));
    for (rt, dir) in [(jit, jit_dir.path()), (interp, interp_dir.path())] {
        rt.close().unwrap();
        let mut reader = LogReader::open(dir).unwrap();
        let mut replayed = 0;
        for seq in 0..reader.size() {
            let Body::Decision(d) = reader.record(seq).unwrap().body else {
                continue;
            };
            assert_eq!(replay(&program, &d), Replayed::Same, "record {seq}");
            replayed += 1;
        }
        assert_eq!(replayed, 3 * cases().len());
    }
}
