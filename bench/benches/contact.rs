//! Workload (a), the contact policy (`xop_bench::contact`), bound, without the peer engines (so
//! it builds without the `peers` feature):
//!
//! ```sh
//! cargo bench -p xop-bench --bench contact
//! ```
//!
//! `contact_bound/xop_jit` is exactly `benches/engines.rs`'s `contact/xop_jit` (the timed case
//! bound once, each call writing into a reused output); `rust_zone_table` is hand-written Rust
//! reading the same zone table (`contact::decide_zone_table`), `rust` hand-written Rust with
//! jiff's zone (`contact::decide`). The JIT's `local_hour` is what separates the first two.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use xop_bench::contact;
use xop_bench::engines::{outcome, xop_compile_policy};
use xop_runtime::zone::Zone;

fn contact_bound(c: &mut Criterion) {
    let xop = xop_compile_policy(contact::XOP_SOURCE, contact::POLICY);
    let mut out = xop.output();
    // The JIT agrees with both hand-written versions and the interpreter before timing.
    for k in contact::cases(300)
        .iter()
        .chain(std::iter::once(&contact::timed_case()))
    {
        let (deny, bits) = contact::decide(k);
        let zone = Zone::get(&k.tz).expect("the case's zone");
        assert_eq!(contact::decide_zone_table(k, &zone), (deny, bits), "{k:?}");
        let want = (deny, contact::reason_names(bits));
        let json = k.json();
        let (input, now) = xop.bound_json(&json);
        xop.run_at(&input, now, &mut out);
        assert_eq!(xop.output_outcome(&out), want, "xop jit, {json}");
        assert_eq!(
            outcome(&xop.interp_json(&json)),
            want,
            "interpreter, {json}"
        );
    }

    let k = contact::timed_case();
    let (bound, now) = xop.bound_json(&k.json());
    let zone = Zone::get(&k.tz).expect("the timed case's zone");
    let mut g = c.benchmark_group("contact_bound");
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    g.bench_function("rust", |b| b.iter(|| contact::decide(black_box(&k))));
    g.bench_function("rust_zone_table", |b| {
        b.iter(|| contact::decide_zone_table(black_box(&k), &zone))
    });
    g.bench_function("xop_jit", |b| {
        b.iter(|| xop.run_at(black_box(&bound), now, &mut out))
    });
    g.finish();
}

/// Workload (a) from JSON text with each of the reader's paths for a learned shape: its
/// compiled code (the default once a shape has been replayed 65,536 times; compiled at once
/// here), the replay, and the direct scanner alone (replaying off).
fn contact_json(c: &mut Criterion) {
    let xop = xop_compile_policy(contact::XOP_SOURCE, contact::POLICY);
    let json = contact::timed_case().json();
    let mut out = xop.output();
    let mut g = c.benchmark_group("contact_json");
    g.measurement_time(Duration::from_secs(4));
    g.warm_up_time(Duration::from_secs(1));
    for (name, compile, replay) in [
        ("xop_jit_compiled", true, true),
        ("xop_jit_replayed", false, true),
        ("xop_jit_scanned", false, false),
    ] {
        let mut input = xop.json_input();
        input.set_replay(replay);
        input.set_compile(compile);
        let want = xop.run_json(&mut input, &json, &mut out);
        // What the reader does by itself after 65,536 replays of the shape.
        assert_eq!(input.compile_now(), compile, "{name}");
        for _ in 0..300 {
            assert_eq!(xop.run_json(&mut input, &json, &mut out), want);
        }
        assert_eq!(input.compiled(), compile, "{name}");
        assert_eq!(input.replayed(), replay, "{name}");
        g.bench_function(name, |b| {
            b.iter(|| xop.run_json(&mut input, black_box(&json), &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, contact_bound, contact_json);
criterion_main!(benches);
