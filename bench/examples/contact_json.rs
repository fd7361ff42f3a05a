//! Workload (a) from JSON, N times, for profilers (`valgrind --tool=callgrind`, `perf`):
//! `cargo run --release -p xop-bench --example contact_json -- 1000000`.

use xop_bench::{contact, engines::xop_compile_policy};

fn main() {
    let times = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(1_000_000);
    let xop = xop_compile_policy(contact::XOP_SOURCE, contact::POLICY);
    let json = contact::timed_case().json();
    let mut input = xop.json_input();
    let mut out = xop.output();
    let mut allowed = 0usize;
    for _ in 0..times {
        let verdict = xop.run_json(&mut input, std::hint::black_box(&json), &mut out);
        allowed += usize::from(verdict == Some(xop_runtime::ir::Verdict::Allow));
    }
    println!("{allowed} of {times} allowed; {} bytes of JSON", json.len());
}
