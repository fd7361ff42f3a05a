//! The JIT's code-generation short cuts against the interpreter: rule bits kept in registers
//! (with a rule table in between, and errors after rules fired), `unless` branching on the
//! operand, ranges with constant bounds as one unsigned comparison, and loops that stop early.
//! Each case also runs into one reused output, so that what a run leaves behind cannot leak
//! into the next.

use std::sync::Arc;

use xop_runtime::interp::{self, NoSignals};
use xop_runtime::ir::build::{b, cmp, program, rule, slot};
use xop_runtime::ir::{
    ArithOp, CmpOp, Expr, Field, Intrinsic, Program, RecordType, Symbol, SymbolKind, Type, Verdict,
};
use xop_runtime::jit::{self, JitModule};
use xop_runtime::value::Value;

fn int(n: i64) -> Expr {
    Expr::Const(Value::Int(n))
}

fn range(v: Expr, lo: Expr, hi: Expr, inclusive: bool) -> Expr {
    Expr::InRange {
        value: b(v),
        lo: b(lo),
        hi: b(hi),
        inclusive,
    }
}

/// Decides every input with both engines: `JitModule::decide`, and `run` into one output
/// reused across all inputs then `decision`; all three must be the interpreter's decision.
/// Without an error, the output's reason bit set must name the decision's reasons too (the
/// decision is read from the fired-rule bits; the reason bits are the output's own).
fn agree(p: &Program, inputs: &[Vec<Value>]) -> JitModule {
    let jit = jit::compile(p);
    assert_eq!(jit.unsupported(0), None, "the JIT compiles the policy");
    let mut out = jit.output(0);
    for args in inputs {
        let want = interp::decide(p, 0, args, 0, &NoSignals);
        assert_eq!(jit.decide(0, args, 0).as_ref(), Some(&want), "{args:?}");
        let input = jit.bind(0, args).expect("binds");
        jit.run(&input, 0, &mut out).expect("runs");
        assert_eq!(jit.decision(&input, &out), want, "reused output, {args:?}");
        if want.error.is_none() {
            let mut named = out.reason_names(&jit);
            let mut reasons: Vec<&str> = want.reasons.iter().map(String::as_str).collect();
            named.sort_unstable();
            reasons.sort_unstable();
            assert_eq!(named, reasons, "reason bits, {args:?}");
        }
    }
    jit
}

const EDGES: [i64; 12] = [
    i64::MIN,
    i64::MIN + 1,
    -22,
    -1,
    0,
    1,
    7,
    8,
    20,
    21,
    i64::MAX - 1,
    i64::MAX,
];

#[test]
fn ranges_with_constant_bounds_agree_at_every_edge() {
    let mut bounds: Vec<(i64, i64)> = vec![(8, 21), (21, 8), (5, 5), (-1, 0)];
    for lo in [i64::MIN, -1, i64::MAX] {
        for hi in [i64::MIN, 0, i64::MAX] {
            bounds.push((lo, hi));
        }
    }
    let inputs: Vec<Vec<Value>> = EDGES.iter().map(|&x| vec![Value::Int(x)]).collect();
    let mut fired = 0;
    for (lo, hi) in bounds {
        for inclusive in [false, true] {
            let cond = range(slot(0), int(lo), int(hi), inclusive);
            let p = program(
                vec![Type::Int],
                vec![
                    rule(1, Verdict::Deny, "in", Some(cond)),
                    rule(2, Verdict::Allow, "ok", None),
                ],
            );
            agree(&p, &inputs);
            fired += inputs
                .iter()
                .filter(|a| interp::decide(&p, 0, a, 0, &NoSignals).verdict == Verdict::Deny)
                .count();
        }
    }
    // Neither always nor never inside: the cases test both answers.
    assert!(fired > 20 && fired < 300, "{fired}");
}

#[test]
fn ranges_of_times_and_durations_and_absent_values() {
    let t = |ms: i64| Expr::Const(Value::Time(ms));
    let d = |ms: i64| Expr::Const(Value::Duration(ms));
    let p = program(
        vec![Type::Time, Type::Optional(Box::new(Type::Duration))],
        vec![
            rule(
                1,
                Verdict::Deny,
                "t",
                Some(range(slot(0), t(-5), t(5), true)),
            ),
            rule(
                2,
                Verdict::Review,
                "d",
                Some(range(slot(1), d(0), d(60), false)),
            ),
            rule(3, Verdict::Allow, "ok", None),
        ],
    );
    let mut inputs = Vec::new();
    for &x in &EDGES {
        inputs.push(vec![Value::Time(x), Value::Duration(x)]);
        inputs.push(vec![Value::Time(x / 3), Value::Absent]);
    }
    agree(&p, &inputs);
    let failed = interp::decide(&p, 0, &[Value::Time(0), Value::Absent], 0, &NoSignals);
    assert!(failed.error.is_some(), "an absent value in a range fails");
}

/// `deny unless c` where `c` may be absent: the error names `not`'s operand, as in the
/// interpreter; where it is present, either answer.
#[test]
fn unless_branches_on_its_operand() {
    let p = program(
        vec![Type::Optional(Box::new(Type::Bool)), Type::Int],
        vec![
            rule(1, Verdict::Deny, "x", Some(cmp(CmpOp::Gt, slot(1), int(0)))),
            rule(2, Verdict::Deny, "u", Some(Expr::Not(b(slot(0))))),
            rule(3, Verdict::Allow, "ok", None),
        ],
    );
    let mut inputs = Vec::new();
    for flag in [Value::Bool(true), Value::Bool(false), Value::Absent] {
        for n in [-1, 1] {
            inputs.push(vec![flag.clone(), Value::Int(n)]);
        }
    }
    agree(&p, &inputs);
    let d = interp::decide(&p, 0, &[Value::Absent, Value::Int(1)], 0, &NoSignals);
    assert_eq!(
        d.fired,
        vec!["t.p#1".to_string()],
        "rule 1 fired before the error"
    );
    assert!(d.error.is_some_and(|e| e.contains("not")));
}

/// A rule before, a table of 20 equality-guarded rules, a rule after and an error last:
/// bits set in registers, then in memory by the table, then in registers again, and the
/// fired rules of a failed decision.
#[test]
fn rule_bits_survive_a_rule_table_and_an_error() {
    let mut rules = vec![rule(
        0,
        Verdict::Review,
        "first",
        Some(cmp(CmpOp::Gt, slot(1), int(10))),
    )];
    for i in 0..20 {
        let cond = Expr::And(
            b(cmp(CmpOp::Eq, slot(0), int(i))),
            b(cmp(CmpOp::Ge, slot(1), int(i))),
        );
        // Every other rule shares a reason, so reason bits and rule bits differ.
        let reason = format!("seg-{}", i % 7);
        rules.push(rule(i as usize + 1, Verdict::Deny, &reason, Some(cond)));
    }
    rules.push(rule(
        21,
        Verdict::Allow,
        "after",
        Some(cmp(CmpOp::Lt, slot(1), int(5))),
    ));
    // Fails when `slot(1)` is 0: 100 / 0.
    rules.push(rule(
        22,
        Verdict::Deny,
        "divides",
        Some(cmp(
            CmpOp::Gt,
            Expr::Arith(ArithOp::Div, b(int(100)), b(slot(1))),
            int(1000),
        )),
    ));
    rules.push(rule(23, Verdict::Allow, "ok", None));
    let p = program(vec![Type::Int, Type::Int], rules);
    let mut inputs = Vec::new();
    for seg in [-1, 0, 3, 7, 19, 20] {
        for n in [0, 1, 3, 4, 6, 11, 19, 25] {
            inputs.push(vec![Value::Int(seg), Value::Int(n)]);
        }
    }
    // A failure between successes, on the same output.
    inputs.push(vec![Value::Int(3), Value::Int(0)]);
    inputs.push(vec![Value::Int(19), Value::Int(25)]);
    let jit = agree(&p, &inputs);
    assert_eq!(jit.switches(0), 1, "the 20 rules became a table");
    let d = interp::decide(&p, 0, &[Value::Int(0), Value::Int(0)], 0, &NoSignals);
    assert!(d.error.is_some());
    assert_eq!(d.fired, vec!["t.p#1", "t.p#21"], "fired before the error");
}

/// Runs at the edge of each shape: three equality-guarded rules stay code per rule; four with
/// simple residuals (every comparison, negative constants) become a switch whose cases select
/// the bits without branching; four whose residual can fail, a switch with code per case;
/// sixteen with simple residuals, a rule table. Keys repeat, so a case holds several rules.
/// With `padding` rules before them the bit words no longer fit in registers (more than 8),
/// so the same cases also set bits in memory.
fn short_and_long_runs(padding: usize) {
    let guard = |k: i64| cmp(CmpOp::Eq, slot(0), int(k));
    let ops = [
        CmpOp::Ge,
        CmpOp::Lt,
        CmpOp::Ne,
        CmpOp::Eq,
        CmpOp::Le,
        CmpOp::Gt,
    ];
    let mut rules = Vec::new();
    let mut push = |verdict, reason: String, cond| {
        let id = rules.len();
        rules.push(rule(id, verdict, &reason, cond));
    };
    for i in 0..padding {
        push(
            Verdict::Review,
            format!("pad-{i}"),
            Some(cmp(CmpOp::Gt, slot(1), int(1000 + i as i64))),
        );
    }
    // A run of three, below a switch's threshold.
    for k in 0..3 {
        let cond = Expr::And(b(guard(k)), b(cmp(CmpOp::Ge, slot(1), int(k))));
        push(Verdict::Deny, format!("three-{k}"), Some(cond));
    }
    // Six simple residuals on keys -2, 5, -2, 7, 5, 5, and a bare guard: compact cases.
    for (i, k) in [-2, 5, -2, 7, 5, 5].into_iter().enumerate() {
        let c = [3, 5, -2, 7, 0, 6][i];
        let cond = Expr::And(b(guard(k)), b(cmp(ops[i], slot(1), int(c))));
        push(Verdict::Deny, format!("case-{i}"), Some(cond));
    }
    push(Verdict::Review, "bare".into(), Some(guard(7)));
    push(
        Verdict::Review,
        "between".into(),
        Some(cmp(CmpOp::Gt, slot(1), int(8))),
    );
    // Four residuals that divide (and fail on 0): code per case.
    for (i, k) in [1, 2, 1, 3].into_iter().enumerate() {
        let div = Expr::Arith(ArithOp::Div, b(int(12)), b(slot(1)));
        let cond = Expr::And(b(guard(k)), b(cmp(CmpOp::Gt, div, int(i as i64))));
        push(Verdict::Deny, format!("switch-{i}"), Some(cond));
    }
    push(
        Verdict::Review,
        "between again".into(),
        Some(cmp(CmpOp::Lt, slot(1), int(-4))),
    );
    // Sixteen simple residuals: a rule table.
    for i in 0..16 {
        let cond = Expr::And(
            b(guard(i % 5 + 4)),
            b(cmp(ops[i as usize % 6], slot(1), int(i - 4))),
        );
        push(Verdict::Allow, format!("table-{}", i % 3), Some(cond));
    }
    push(Verdict::Allow, "ok".into(), None);
    let p = program(vec![Type::Int, Type::Int], rules);
    let mut inputs = Vec::new();
    for seg in [-3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9] {
        for n in [-5, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 2000] {
            inputs.push(vec![Value::Int(seg), Value::Int(n)]);
        }
    }
    let jit = agree(&p, &inputs);
    assert_eq!(jit.switches(0), 3, "the runs of seven, four and sixteen");
    assert_eq!(jit.rule_tables(0), 1, "the run of sixteen");
}

#[test]
fn short_runs_become_switches_long_ones_tables() {
    short_and_long_runs(0);
}

#[test]
fn short_runs_set_bits_in_memory_too() {
    short_and_long_runs(200);
}

/// With 600 rules before them the output has 50 bit words (10 of fired rules, 40 of reasons),
/// all cleared at the start of a run: what one run set must not show in the next.
#[test]
fn long_outputs_are_cleared_between_runs() {
    short_and_long_runs(600);
}

/// `consent` stops at the first record that gives it and skips the rest; every record shape
/// (other purpose, other channel, given later, withdrawn before or after, never withdrawn).
#[test]
fn consent_walks_records_until_one_holds() {
    let sym = |kind: SymbolKind, name: &str| Symbol {
        kind,
        name: name.into(),
        qualified: format!("std.x.{name}"),
    };
    let consent = RecordType {
        name: "std.consent.Consent".into(),
        fields: vec![
            Field {
                name: "purpose".into(),
                ty: Type::Symbol(SymbolKind::Purpose),
                personal: false,
            },
            Field {
                name: "channel".into(),
                ty: Type::Symbol(SymbolKind::Channel),
                personal: false,
            },
            Field {
                name: "given_at".into(),
                ty: Type::Time,
                personal: false,
            },
            Field {
                name: "withdrawn_at".into(),
                ty: Type::Optional(Box::new(Type::Time)),
                personal: false,
            },
        ],
    };
    let mut p = program(
        vec![
            Type::List(Box::new(Type::Record(0))),
            Type::Symbol(SymbolKind::Channel),
        ],
        vec![
            rule(
                1,
                Verdict::Deny,
                "no-consent",
                Some(Expr::Not(b(Expr::Intrinsic(
                    Intrinsic::Consent,
                    vec![slot(0), Expr::Const(Value::Symbol(0)), slot(1)],
                )))),
            ),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    p.records = vec![consent];
    p.symbols = vec![
        sym(SymbolKind::Purpose, "marketing"),
        sym(SymbolKind::Purpose, "service"),
        sym(SymbolKind::Channel, "sms"),
        sym(SymbolKind::Channel, "email"),
    ];
    let record = |purpose: u32, channel: u32, given: i64, withdrawn: Option<i64>| {
        Value::Record(
            0,
            Arc::from(vec![
                Value::Symbol(purpose),
                Value::Symbol(channel),
                Value::Time(given),
                withdrawn.map_or(Value::Absent, Value::Time),
            ]),
        )
    };
    let shapes = [
        record(1, 2, -10, None),
        record(0, 3, -10, None),
        record(0, 2, 10, None),
        record(0, 2, -10, Some(-1)),
        record(0, 2, -10, Some(0)),
        record(0, 2, -10, Some(1)),
        record(0, 2, 0, None),
    ];
    let mut inputs = Vec::new();
    for i in 0..shapes.len() {
        for j in 0..shapes.len() {
            for ch in [2, 3] {
                let list = Value::List(Arc::from(vec![shapes[i].clone(), shapes[j].clone()]));
                inputs.push(vec![list, Value::Symbol(ch)]);
            }
        }
    }
    inputs.push(vec![Value::List(Arc::from(vec![])), Value::Symbol(2)]);
    agree(&p, &inputs);
    let allowed = inputs
        .iter()
        .filter(|a| interp::decide(&p, 0, a, 0, &NoSignals).verdict == Verdict::Allow)
        .count();
    assert!(allowed > 10 && allowed < inputs.len() - 10, "{allowed}");
}

/// `x in ((if c then absent else []) ?? [a, b])`: the left side is only ever an empty list,
/// so the default's element type is the join's (found by a long run of generated programs).
#[test]
fn an_empty_list_defaults_to_a_list_of_another_type() {
    let sym = |name: &str| Symbol {
        kind: SymbolKind::Channel,
        name: name.into(),
        qualified: format!("std.channel.{name}"),
    };
    let empty_or_absent = Expr::If(
        b(slot(0)),
        b(Expr::Const(Value::Absent)),
        b(Expr::Const(Value::List(Arc::from(vec![])))),
    );
    let channels = Expr::Const(Value::List(Arc::from(vec![
        Value::Symbol(1),
        Value::Symbol(2),
    ])));
    let cond = Expr::In(
        b(slot(1)),
        b(Expr::Default(b(empty_or_absent), b(channels))),
    );
    let mut p = program(
        vec![Type::Bool, Type::Symbol(SymbolKind::Channel)],
        vec![
            rule(1, Verdict::Deny, "listed", Some(cond)),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    p.symbols = vec![sym("sms"), sym("email"), sym("push")];
    let mut inputs = Vec::new();
    for c in [true, false] {
        for s in 0..3 {
            inputs.push(vec![Value::Bool(c), Value::Symbol(s)]);
        }
    }
    agree(&p, &inputs);
    let denied = inputs
        .iter()
        .filter(|a| interp::decide(&p, 0, a, 0, &NoSignals).verdict == Verdict::Deny)
        .count();
    assert_eq!(denied, 2, "email and push, when the list is absent");
}
