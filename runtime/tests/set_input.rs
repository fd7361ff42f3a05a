//! A set's value is the same whichever way it is given: bound from JSON (where an array is
//! kept sorted and unique) or handed over as [`Value`]s in any order and with repeats. Both
//! engines decide on the canonical set (sorted, the first of equal elements kept): equal
//! records count once, equal scalars (`1.0` and `1.00` too) count once, records equal but for
//! one field are two elements; for a policy's input, a decision's input and a signal's value.

use std::sync::Arc;

use xop_runtime::bind;
use xop_runtime::interp::{self, Decision, FixedSignals, NoSignals};
use xop_runtime::ir::build::{b, cmp, program, rule, slot};
use xop_runtime::ir::{
    CmpOp, DecisionDef, Expr, Field, Param, Program, Proposal, Quantifier, RecordType, SignalDecl,
    SourceRef, Type, Verdict,
};
use xop_runtime::jit::{self, Bound};
use xop_runtime::value::Value;

/// `count(s)` for the set in `s`, counting through element slot 9.
fn count(s: Expr) -> Expr {
    Expr::Quantify {
        quantifier: Quantifier::Count,
        list: b(s),
        slot: 9,
        body: None,
    }
}

fn int(n: i64) -> Expr {
    Expr::Const(Value::Int(n))
}

/// A rule allowing with `reason` when `count(s) == n`.
fn counts(k: usize, s: Expr, n: i64, reason: &str) -> xop_runtime::ir::Rule {
    rule(
        k,
        Verdict::Allow,
        reason,
        Some(cmp(CmpOp::Eq, count(s), int(n))),
    )
}

fn set_of(t: Type) -> Type {
    Type::Set(Box::new(t))
}

/// Policy `t.p(a0: Set<t.R>, a1: Set<Int>, a2: Set<Decimal>)`, `t.R` being `{n: Int, s: Text}`:
/// one rule per count of each set, one for `a1 == {1, 2}`, so that the reasons show each
/// set's value; the same over the signal `t.tags: Set<Text>?` (rules 7 to 9).
fn sets_program() -> Program {
    let mut p = program(
        vec![
            set_of(Type::Record(0)),
            set_of(Type::Int),
            set_of(Type::Decimal),
        ],
        vec![
            counts(1, slot(0), 1, "records-1"),
            counts(2, slot(0), 2, "records-2"),
            counts(3, slot(0), 3, "records-3"),
            counts(4, slot(1), 2, "ints-2"),
            counts(5, slot(1), 3, "ints-3"),
            rule(
                6,
                Verdict::Allow,
                "ints-are-1-2",
                Some(cmp(
                    CmpOp::Eq,
                    slot(1),
                    Expr::Const(Value::List(Arc::from([Value::Int(1), Value::Int(2)]))),
                )),
            ),
            counts(7, slot(2), 1, "decimals-1"),
            counts(8, slot(2), 2, "decimals-2"),
            counts(
                9,
                Expr::Default(b(Expr::Signal(0, vec![])), b(Expr::List(vec![]))),
                2,
                "tags-2",
            ),
            counts(
                10,
                Expr::Default(b(Expr::Signal(0, vec![])), b(Expr::List(vec![]))),
                3,
                "tags-3",
            ),
        ],
    );
    p.policies[0].slots = 10;
    p.records.push(RecordType {
        name: "t.R".into(),
        fields: vec![
            Field {
                name: "n".into(),
                ty: Type::Int,
                personal: false,
            },
            Field {
                name: "s".into(),
                ty: Type::Text,
                personal: false,
            },
        ],
    });
    p.signals.push(SignalDecl {
        name: "t.tags".into(),
        params: vec![],
        ty: set_of(Type::Text),
        source: "t.tags".into(),
        source_args: vec![],
        max_age_ms: None,
    });
    p
}

fn rec(n: i64, s: &str) -> Value {
    Value::Record(0, Arc::from([Value::Int(n), Value::text(s)]))
}

fn list(xs: Vec<Value>) -> Value {
    Value::List(Arc::from(xs))
}

fn dec(s: &str) -> Value {
    Value::Decimal(s.parse().expect("a decimal"))
}

/// The reasons of `d`, asserting that it allowed.
fn allowed(d: &Decision) -> Vec<&str> {
    assert_eq!(d.verdict, Verdict::Allow, "{d:?}");
    d.reasons.iter().map(String::as_str).collect()
}

/// Decides `args` (with the signal `tags`, if given) on both engines from values, and `json`
/// on both engines from JSON; all four decisions must be equal. Also checks that the JIT lays
/// out the values exactly as its JSON reader lays out the text. Gives the decision.
fn decide_both_ways(args: &[Value], tags: Option<Value>, json: &str) -> Decision {
    let p = sets_program();
    let module = jit::compile(&p);
    assert_eq!(module.unsupported(0), None, "the JIT compiles the policy");
    let signals = FixedSignals(tags.into_iter().map(|v| (0, v)).collect());

    let by_interp = interp::decide(&p, 0, args, 0, &signals);
    let by_jit = module
        .decide_with_signals(0, args, 0, &signals)
        .expect("compiled");
    assert_eq!(by_jit, by_interp, "values: the engines disagree");

    let bound = bind::bind_json(&p, 0, json).expect("the JSON binds");
    let given = FixedSignals(bound.signals.clone());
    let from_json = interp::decide(&p, 0, &bound.args, 0, &given);
    assert_eq!(from_json, by_interp, "{json}: JSON and values disagree");

    let mut reader = module.json_reader(0).expect("a reader");
    let mut laid = Bound::empty();
    reader
        .bind_json_into(&module, json, &mut laid)
        .expect("the JIT's reader binds");
    let mut out = module.output(0);
    module
        .run_with_signals(&laid, 0, &given, &mut out)
        .expect("runs");
    assert_eq!(
        module.decision(&laid, &out),
        by_interp,
        "{json}: the JIT's JSON reader disagrees"
    );
    let from_values = module.bind(0, args).expect("the values bind");
    assert_eq!(
        (from_values.words(), from_values.strings()),
        (laid.words(), laid.strings()),
        "{json}: values and JSON laid out differently"
    );
    by_interp
}

#[test]
fn equal_records_in_a_set_count_once() {
    let d = decide_both_ways(
        &[
            list(vec![rec(2, "x"), rec(1, "y"), rec(2, "x")]),
            list(vec![Value::Int(1)]),
            list(vec![dec("1")]),
        ],
        None,
        r#"{"a0": [{"n": 2, "s": "x"}, {"n": 1, "s": "y"}, {"n": 2, "s": "x"}],
            "a1": [1], "a2": ["1"]}"#,
    );
    assert_eq!(allowed(&d), ["records-2", "decimals-1"]);
}

#[test]
fn records_equal_but_for_one_field_are_two_elements() {
    let d = decide_both_ways(
        &[
            list(vec![rec(1, "x"), rec(1, "y"), rec(2, "x")]),
            list(vec![]),
            list(vec![]),
        ],
        None,
        r#"{"a0": [{"n": 1, "s": "x"}, {"n": 1, "s": "y"}, {"n": 2, "s": "x"}],
            "a1": [], "a2": []}"#,
    );
    assert_eq!(allowed(&d), ["records-3"]);
}

#[test]
fn equal_scalars_in_a_set_count_once_and_the_set_is_sorted() {
    // `[2, 1, 2]` is the set {1, 2}: two elements, equal to the literal {1, 2}; `1.0` and
    // `1.00` are one Decimal.
    let d = decide_both_ways(
        &[
            list(vec![rec(1, "x")]),
            list(vec![Value::Int(2), Value::Int(1), Value::Int(2)]),
            list(vec![dec("1.0"), dec("2"), dec("1.00")]),
        ],
        None,
        r#"{"a0": [{"n": 1, "s": "x"}], "a1": [2, 1, 2], "a2": ["1.0", "2", "1.00"]}"#,
    );
    assert_eq!(
        allowed(&d),
        ["records-1", "ints-2", "ints-are-1-2", "decimals-2"]
    );
}

#[test]
fn a_signals_set_given_with_repeats_counts_once() {
    let tags = list(vec![Value::text("b"), Value::text("a"), Value::text("b")]);
    let d = decide_both_ways(
        &[list(vec![]), list(vec![]), list(vec![])],
        Some(tags),
        r#"{"a0": [], "a1": [], "a2": [], "signals": {"t.tags": ["b", "a", "b"]}}"#,
    );
    assert_eq!(allowed(&d), ["tags-2"]);
}

/// A decision over `xs: Set<Int>` proposing `t.act(xs)`, whose policy allows when
/// `count(a0) == 2`: the candidate's arguments and decision are those of the canonical set, on
/// both engines, from values as from a set written without repeats.
#[test]
fn a_decisions_set_argument_is_canonical() {
    let mut p = program(vec![set_of(Type::Int)], vec![counts(1, slot(0), 2, "two")]);
    p.policies[0].slots = 10;
    p.decisions.push(DecisionDef {
        name: "d".into(),
        qualified: "t.d".into(),
        params: vec![Param {
            name: "xs".into(),
            ty: set_of(Type::Int),
        }],
        now_slot: None,
        slots: 1,
        proposals: vec![Proposal {
            action: "t.act".into(),
            args: vec![slot(0)],
            rank: None,
            condition: None,
            source: SourceRef::default(),
        }],
    });
    let module = jit::compile(&p);
    assert_eq!(module.decision_unsupported(0), None, "the JIT compiles it");
    let given = [list(vec![Value::Int(3), Value::Int(1), Value::Int(3)])];
    let canonical = [list(vec![Value::Int(1), Value::Int(3)])];
    let want = interp::rank(&p, 0, &canonical, 0, &NoSignals).expect("ranks");
    assert_eq!(want.len(), 1);
    assert_eq!(want[0].args, canonical);
    assert_eq!(want[0].decision.reasons, ["two"]);
    assert_eq!(interp::rank(&p, 0, &given, 0, &NoSignals), Ok(want.clone()));
    assert_eq!(module.decide_decision(0, &given, 0), Some(Ok(want)));
}

/// A constant set that is not canonical (only a hand-built program has one), passed to an
/// action by a decision: the interpreter decides the action on it canonical; the JIT does not
/// pass it on as it is laid out (it leaves such a decision to the interpreter) and never
/// decides otherwise.
#[test]
fn a_constant_set_argument_out_of_order_is_decided_canonical() {
    let one_three = Expr::Const(list(vec![Value::Int(1), Value::Int(3)]));
    let mut p = program(
        vec![set_of(Type::Int)],
        vec![
            counts(1, slot(0), 2, "two"),
            rule(
                2,
                Verdict::Allow,
                "one-three",
                Some(cmp(CmpOp::Eq, slot(0), one_three)),
            ),
        ],
    );
    p.policies[0].slots = 10;
    p.decisions.push(DecisionDef {
        name: "d".into(),
        qualified: "t.d".into(),
        params: vec![],
        now_slot: None,
        slots: 0,
        proposals: vec![Proposal {
            action: "t.act".into(),
            args: vec![Expr::Const(list(vec![Value::Int(3), Value::Int(1)]))],
            rank: None,
            condition: None,
            source: SourceRef::default(),
        }],
    });
    let want = interp::rank(&p, 0, &[], 0, &NoSignals).expect("ranks");
    assert_eq!(want[0].decision.reasons, ["two", "one-three"]);
    let module = jit::compile(&p);
    if let Some(by_jit) = module.decide_decision(0, &[], 0) {
        assert_eq!(by_jit, Ok(want));
    }
}

/// Through the runtime, with a proof log: values handed over in a `Bound` (a set out of order
/// and with repeats, in the arguments and in a given signal's value) are decided and proven as
/// the same input in JSON is: the same outcome, and the same decision record (evidence, signal
/// reads, the arguments' hash), the sets in it canonical.
#[test]
fn the_runtime_decides_and_proves_bound_values_as_their_json() {
    use xop_runtime::bind::Bound as Input_;
    use xop_runtime::engine::{Input, Runtime};
    use xop_runtime::module::{Module, hash_sources};
    use xop_runtime::proof::record::Body;
    use xop_runtime::proof::verify::LogReader;
    use xop_runtime::proof::{LogConfig, ProofLog};

    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::with_log(ProofLog::open(dir.path(), LogConfig::default()).unwrap());
    let bytes = Module {
        program: sets_program(),
        source_hash: hash_sources([("t.xop", &b"module t"[..])]),
        sources: vec!["t.xop".into()],
    }
    .to_bytes(None);
    rt.load_bytes("t", &bytes, None).unwrap();
    let json = r#"{"a0": [{"n": 2, "s": "x"}, {"n": 1, "s": "y"}, {"n": 2, "s": "x"}],
        "a1": [2, 1, 2], "a2": ["1.0", "1.00"], "now": "2026-11-25T10:00:00Z",
        "signals": {"t.tags": ["b", "a", "b"]}}"#;
    let from_json = rt.decide("t.p", Input::Json(json)).unwrap();
    let given = Input_ {
        args: vec![
            list(vec![rec(2, "x"), rec(1, "y"), rec(2, "x")]),
            list(vec![Value::Int(2), Value::Int(1), Value::Int(2)]),
            list(vec![dec("1.0"), dec("1.00")]),
        ],
        now_ms: Some(1_795_600_800_000),
        signals: vec![(
            0,
            list(vec![Value::text("b"), Value::text("a"), Value::text("b")]),
        )],
        judged: Vec::new(),
    };
    let from_values = rt.decide("t.p", Input::Bound(&given)).unwrap();
    assert_eq!(
        (
            &from_values.verdict,
            &from_values.reasons,
            &from_values.fired
        ),
        (&from_json.verdict, &from_json.reasons, &from_json.fired)
    );
    assert_eq!(
        from_json.reasons,
        [
            "records-2",
            "ints-2",
            "ints-are-1-2",
            "decimals-1",
            "tags-2"
        ]
    );
    rt.close().unwrap();
    let mut r = LogReader::open(dir.path()).unwrap();
    let mut record = |seq: Option<u64>| match r.record(seq.unwrap()).unwrap().body {
        Body::Decision(d) => d,
        other => panic!("not a decision: {other:?}"),
    };
    let (a, b) = (record(from_json.seq), record(from_values.seq));
    assert_eq!(a, b);
    // The record holds the canonical set the rules read (`a1 == {1, 2}` reads it whole).
    let read = |path: &str| a.evidence.iter().find(|e| e.path == path);
    assert_eq!(read("a1").and_then(|e| e.len), Some(2), "{:#?}", a.evidence);
    let elements = [read("a1[0]"), read("a1[1]")].map(|e| e.and_then(|e| e.value.clone()));
    assert_eq!(
        elements,
        [Some(serde_json::json!(1)), Some(serde_json::json!(2))]
    );
    assert_eq!(b.signals[0].value, serde_json::json!(["a", "b"]));
}
