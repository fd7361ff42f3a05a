//! Checks a generated project once, for profilers (`valgrind --tool=callgrind`, `perf`).
fn main() {
    let lines: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let files = xop_bench::project(lines, 20);
    let mut ws = xop_compiler::db::Workspace::new();
    for (p, t) in &files {
        ws.set_file(p, t.as_str());
    }
    println!("{} diagnostics", ws.diagnostics().len());
}
