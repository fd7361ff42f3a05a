//! Source to ready-to-call, and the JIT's bound hot path, without the peer engines (so it
//! builds without the `peers` feature):
//!
//! ```sh
//! cargo bench -p xop-bench --bench ready
//! ```
//!
//! `ready/xop_{10,100,1000}_rules`: a new workspace, parse, check with the compliance proofs,
//! lower, JIT-compile the engines workload of N equality-guarded rules; then the 1,000-rule
//! figure split into check, lower and JIT. `ready/bound_200/{deny,allow}`: workload (b)'s
//! bound JIT call (the `engines/*/xop_jit` figure of `benches/engines.rs`), to check that
//! faster compiling did not slow deciding.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use xop_bench::engines::{Customer, Handwritten, inputs, xop_compile, xop_source};
use xop_compiler::db::Workspace;
use xop_compiler::lower::lower;
use xop_runtime::jit;

fn ready(c: &mut Criterion) {
    // Source to ready-to-call: parse, check (with the compliance proofs), lower, JIT-compile.
    let mut g = c.benchmark_group("ready");
    g.sample_size(10);
    for n in [10, 100, 1000] {
        let source = xop_source(n);
        g.bench_function(format!("xop_{n}_rules"), |b| {
            b.iter(|| xop_compile(black_box(&source)).policy)
        });
    }
    // Where the 1,000-rule figure goes: the checks alone (a new workspace), lowering a checked
    // project, and JIT-compiling the lowered program.
    let source = xop_source(1000);
    let load = || {
        let mut ws = Workspace::new();
        ws.set_file("bench/engines.xop", source.as_str());
        ws
    };
    g.bench_function("xop_1000_rules/check", |b| {
        b.iter(|| load().diagnostics().len())
    });
    let ws = load();
    assert!(ws.diagnostics().is_empty());
    g.bench_function("xop_1000_rules/lower", |b| {
        b.iter(|| lower(ws.db(), ws.project()).map(|p| p.policies.len()))
    });
    let program = lower(ws.db(), ws.project()).expect("lowering");
    g.bench_function("xop_1000_rules/jit", |b| {
        b.iter(|| jit::compile(black_box(&program)).unsupported(0).is_none())
    });

    // Workload (b), bound: 200 rules, the JIT agreeing with hand-written Rust first.
    let xop = xop_compile(&xop_source(200));
    let hand = Handwritten::new(200);
    let mut out = xop.output();
    for cust in inputs(200, 50) {
        xop.run(&xop.bound(&cust), &mut out);
        assert_eq!(xop.output_outcome(&out), hand.decide(&cust), "{cust:?}");
    }
    g.sample_size(50);
    g.measurement_time(Duration::from_secs(3));
    for (name, messages_7d) in [("deny", 150), ("allow", 149)] {
        let cust = Customer {
            id: "c-42".to_string(),
            segment: "seg-150".to_string(),
            messages_7d,
        };
        let bound = xop.bound(&cust);
        g.bench_function(format!("bound_200/{name}"), |b| {
            b.iter(|| xop.run(black_box(&bound), &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, ready);
criterion_main!(benches);
