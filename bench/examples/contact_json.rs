//! Workload (a), N times, for profilers (`valgrind --tool=callgrind`, `perf`): from JSON text
//! (the default) or, with `bound`, on the input already bound:
//! `cargo run --release -p xop-bench --example contact_json -- 1000000 [bound]`.

use xop_bench::{contact, engines::xop_compile_policy};
use xop_runtime::ir::Verdict;

fn main() {
    let mut args = std::env::args().skip(1);
    let times = args
        .next()
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(1_000_000);
    let bound = args.next().as_deref() == Some("bound");
    let xop = xop_compile_policy(contact::XOP_SOURCE, contact::POLICY);
    let json = contact::timed_case().json();
    let mut input = xop.json_input();
    let mut out = xop.output();
    let (bound_input, now) = xop.bound_json(&json);
    let mut allowed = 0usize;
    for _ in 0..times {
        let verdict = if bound {
            xop.run_at(std::hint::black_box(&bound_input), now, &mut out)
        } else {
            xop.run_json(&mut input, std::hint::black_box(&json), &mut out)
        };
        allowed += usize::from(verdict == Some(Verdict::Allow));
    }
    println!("{allowed} of {times} allowed; {} bytes of JSON", json.len());
}
