//! Workload (a), N times, for profilers (`valgrind --tool=callgrind`, `perf`): from JSON text
//! (the default; `no-replay`: with the reader's replaying off) or, with `bound`, on the input
//! already bound; `cases` reads the 301 inputs of the engines bench's agreement check in turn
//! (their shapes differ: one to three consents, some withdrawn), `cases-no-replay` with
//! replaying off, `texts` the engines bench's 16 texts of the timed input's shape. The reader
//! compiles the shape it learns from the first input at once (as it does by itself after
//! 65,536 replays), unless the mode ends in `no-compile` (or `no-replay`):
//! `cargo run --release -p xop-bench --example contact_json -- 1000000 [MODE]`.

use xop_bench::{contact, engines::xop_compile_policy};
use xop_runtime::ir::Verdict;

fn main() {
    let mut args = std::env::args().skip(1);
    let times = args
        .next()
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(1_000_000);
    let mode = args.next().unwrap_or_default();
    let xop = xop_compile_policy(contact::XOP_SOURCE, contact::POLICY);
    let json = contact::timed_case().json();
    let cases: Vec<String> = if mode.starts_with("texts") {
        contact::timed_shape_cases(16)
            .iter()
            .map(contact::Case::json)
            .collect()
    } else {
        contact::cases(300)
            .iter()
            .chain(std::iter::once(&contact::timed_case()))
            .map(contact::Case::json)
            .collect()
    };
    let mut input = xop.json_input();
    input.set_replay(!mode.ends_with("no-replay"));
    input.set_compile(!mode.ends_with("no-compile"));
    let mut out = xop.output();
    let (bound_input, now) = xop.bound_json(&json);
    // The learned shape compiled, as a reader does by itself after 65,536 replays of it
    // (unless the mode says `no-compile`), so that compiling is paid by every run alike and
    // cancels out of instruction counts.
    if mode != "bound" {
        let first = if mode.starts_with("cases") || mode.starts_with("texts") {
            &cases[0]
        } else {
            &json
        };
        xop.run_json(&mut input, first, &mut out);
        if !mode.ends_with("no-compile") && !mode.ends_with("no-replay") {
            input.compile_now();
        }
    }
    let (mut allowed, mut replayed, mut compiled) = (0usize, 0usize, 0usize);
    for i in 0..times {
        let verdict = match mode.as_str() {
            "bound" => xop.run_at(std::hint::black_box(&bound_input), now, &mut out),
            m if m.starts_with("cases") || m.starts_with("texts") => {
                let text = &cases[i % cases.len()];
                xop.run_json(&mut input, std::hint::black_box(text), &mut out)
            }
            _ => xop.run_json(&mut input, std::hint::black_box(&json), &mut out),
        };
        allowed += usize::from(verdict == Some(Verdict::Allow));
        replayed += usize::from(input.replayed());
        compiled += usize::from(input.compiled());
    }
    println!(
        "{allowed} of {times} allowed, {replayed} replayed, {compiled} compiled; {} bytes of JSON",
        json.len()
    );
}
