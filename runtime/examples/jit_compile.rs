//! Times JIT-compiling the engines benchmark's policy of N equality-guarded rules (the `ready`
//! workload without the front end), for profiling: `perf record target/release/examples/jit_compile 1000`.

use std::time::Instant;

use xop_runtime::ir::{
    CmpOp, Expr, Field, Param, Policy, Program, RecordType, Rule, SourceRef, Type, Verdict,
};
use xop_runtime::jit;
use xop_runtime::value::Value;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let iters: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let program = program(n);
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        let m = jit::compile(&program);
        assert_eq!(m.unsupported(0), None);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "{n} rules: JIT compile median {:?}, min {:?}",
        times[times.len() / 2],
        times[0]
    );
}

fn program(n: usize) -> Program {
    let field = |name: &str, ty| Field {
        name: name.into(),
        ty,
        personal: false,
    };
    let c = || Box::new(Expr::Slot(0));
    let mut rules: Vec<Rule> = (0..n)
        .map(|i| Rule {
            id: format!("bench.p#{}", i + 1),
            verdict: Verdict::Deny,
            reason: Some(format!("seg-{i}")),
            condition: Some(Expr::And(
                Box::new(Expr::Cmp(
                    CmpOp::Eq,
                    Box::new(Expr::Field(c(), 1)),
                    Box::new(Expr::Const(Value::text(&format!("seg-{i}")))),
                )),
                Box::new(Expr::Cmp(
                    CmpOp::Ge,
                    Box::new(Expr::Field(c(), 2)),
                    Box::new(Expr::Const(Value::Int(i as i64))),
                )),
            )),
            review: None,
            source: SourceRef::default(),
        })
        .collect();
    rules.push(Rule {
        id: format!("bench.p#{}", n + 1),
        verdict: Verdict::Allow,
        reason: Some("ok".into()),
        condition: None,
        review: None,
        source: SourceRef::default(),
    });
    Program {
        records: vec![RecordType {
            name: "bench.Customer".into(),
            fields: vec![
                field("id", Type::Id),
                field("segment", Type::Text),
                field("messages_7d", Type::Int),
            ],
        }],
        policies: vec![Policy {
            name: "p".into(),
            qualified: "bench.p".into(),
            action: "bench.act".into(),
            params: vec![Param {
                name: "to".into(),
                ty: Type::Record(0),
            }],
            now_slot: None,
            slots: 1,
            rules,
        }],
        ..Program::default()
    }
}
