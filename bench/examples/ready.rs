//! Source to ready-to-call for N rules, M times, for profilers (`valgrind --tool=callgrind`,
//! `perf`): `cargo run --release -p xop-bench --example ready -- 1000 20`.

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().ok());
    let rules = args.next().flatten().unwrap_or(1000);
    let times = args.next().flatten().unwrap_or(1);
    let source = xop_bench::engines::xop_source(rules);
    let mut supported = 0;
    for _ in 0..times {
        let compiled = xop_bench::engines::xop_compile(&source);
        supported += usize::from(compiled.jit.unsupported(compiled.policy).is_none());
    }
    println!("{supported} of {times} compiled");
}
