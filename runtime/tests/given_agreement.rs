//! Signal values given in an input's `signals` are judged by the agreement rules the connectors
//! judge their answers by (`connectors::sim_swap_agrees`): a SIM Swap value whose `swapped`
//! its date contradicts is bound as absent, with why in `Bound::judged`, at the input's `now`
//! or, without one, at the decider's clock; consistent values are bound as given.

use xop_runtime::bind::{self, Bound};
use xop_runtime::ir::{Expr, Field, Param, Policy, Program, RecordType, SignalDecl, Type};
use xop_runtime::value::Value;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// 2026-11-25T10:00:00Z
const NOW: i64 = 1_795_600_800_000;

/// A program with `std.camara.SimSwap`, a signal `sim_swap` from `camara.sim_swap(…, 24h)` and
/// a policy `p` without parameters.
fn program() -> Program {
    let field = |name: &str, ty| Field {
        name: name.into(),
        ty,
        personal: false,
    };
    let opt = |t: Type| Type::Optional(Box::new(t));
    Program {
        records: vec![RecordType {
            name: "std.camara.SimSwap".into(),
            fields: vec![
                field("swapped", Type::Bool),
                field("latest_swap", opt(Type::Time)),
                field("monitored_period", opt(Type::Duration)),
            ],
        }],
        signals: vec![SignalDecl {
            name: "m.sim_swap".into(),
            params: vec![Param {
                name: "phone".into(),
                ty: Type::Text,
            }],
            ty: Type::Record(0),
            source: "std.camara.sim_swap".into(),
            source_args: vec![Expr::Slot(0), Expr::Const(Value::Duration(DAY))],
            max_age_ms: Some(300_000),
        }],
        policies: vec![Policy {
            name: "p".into(),
            qualified: "m.p".into(),
            action: "m.a".into(),
            params: vec![],
            now_slot: None,
            slots: 0,
            rules: vec![],
        }],
        ..Program::default()
    }
}

fn bind(signal: &str, now: Option<&str>) -> Bound {
    let now = now.map_or(String::new(), |n| format!("\"now\": \"{n}\", "));
    let json = format!("{{{now}\"signals\": {{\"sim_swap\": {signal}}}}}");
    bind::bind_json_at(&program(), 0, &json, NOW).expect("binds")
}

fn swap(swapped: bool, latest: Option<i64>, monitored: Option<i64>) -> Value {
    let opt = |v: Option<i64>, f: fn(i64) -> Value| v.map_or(Value::Absent, f);
    Value::Record(
        0,
        vec![
            Value::Bool(swapped),
            opt(latest, Value::Time),
            opt(monitored, Value::Duration),
        ]
        .into(),
    )
}

/// The two contradictions of the defect report: "swapped" with no date and a monitored
/// period covering the window, and "swapped" dated before the window. Both are absent, and
/// the proof record's account says why.
#[test]
fn contradictory_sim_swap_values_are_bound_absent() {
    for (signal, says) in [
        (
            r#"{"swapped": true, "latest_swap": null, "monitored_period": "7d"}"#,
            "latest_swap is absent and monitored_period 1w covers the window",
        ),
        (
            r#"{"swapped": true, "latest_swap": "2026-11-22T10:00:00Z"}"#,
            "latest_swap 2026-11-22T10:00:00.000Z is before the window's start \
             2026-11-24T10:00:00.000Z",
        ),
        (
            r#"{"swapped": false, "latest_swap": "2026-11-25T09:00:00Z"}"#,
            "latest_swap 2026-11-25T09:00:00.000Z is after the window's start",
        ),
    ] {
        let bound = bind(signal, Some("2026-11-25T10:00:00Z"));
        assert_eq!(bound.signals, [(0, Value::Absent)], "{signal}");
        let [(0, fetch)] = bound.judged.as_slice() else {
            panic!("no account of {signal}: {:?}", bound.judged);
        };
        let reason = fetch.reason.as_deref().unwrap_or_default();
        assert!(
            reason.starts_with(
                "std.camara.sim_swap: given in the input: the value given disagrees with itself: "
            ) && reason.contains(says),
            "{reason}"
        );
        assert!(fetch.calls.is_empty());
    }
}

/// Consistent values read as before: bound as given, with no account.
#[test]
fn consistent_sim_swap_values_are_bound_as_given() {
    for (signal, value) in [
        (
            r#"{"swapped": true, "latest_swap": "2026-11-25T09:00:00Z"}"#,
            swap(true, Some(NOW - HOUR), None),
        ),
        (
            r#"{"swapped": true, "latest_swap": "2026-11-24T10:00:00Z"}"#,
            swap(true, Some(NOW - DAY), None),
        ),
        (r#"{"swapped": true}"#, swap(true, None, None)),
        (
            r#"{"swapped": true, "latest_swap": null, "monitored_period": "12h"}"#,
            swap(true, None, Some(12 * HOUR)),
        ),
        (
            r#"{"swapped": false, "latest_swap": "2026-10-20T00:00:00Z"}"#,
            swap(false, Some(1_792_454_400_000), None),
        ),
        (
            r#"{"swapped": false, "latest_swap": null, "monitored_period": "7d"}"#,
            swap(false, None, Some(7 * DAY)),
        ),
    ] {
        let bound = bind(signal, Some("2026-11-25T10:00:00Z"));
        assert_eq!(bound.signals, [(0, value)], "{signal}");
        assert!(bound.judged.is_empty(), "{signal}: {:?}", bound.judged);
    }
    let bound = bind("null", Some("2026-11-25T10:00:00Z"));
    assert_eq!(
        (bound.signals, bound.judged),
        (vec![(0, Value::Absent)], vec![])
    );
}

/// Without `now`, the value is judged at the decider's clock: a swap an hour before it agrees,
/// the same value judged a week later would not.
#[test]
fn without_now_the_value_is_judged_at_the_clock() {
    let signal = r#"{"swapped": true, "latest_swap": "2026-11-25T09:00:00Z"}"#;
    assert!(bind(signal, None).judged.is_empty());
    assert_eq!(bind(signal, Some("2026-12-02T10:00:00Z")).judged.len(), 1);
}
