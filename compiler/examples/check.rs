//! Checks the files given on the command line and prints the diagnostics (a developer aid;
//! users run `xop check`).
fn main() {
    let mut ws = xop_compiler::db::Workspace::new();
    for p in std::env::args().skip(1) {
        let text = std::fs::read_to_string(&p).expect("readable file");
        ws.set_file(&p, text);
    }
    let mut diags = ws.stdlib_diagnostics();
    diags.extend(ws.diagnostics());
    let out = xop_compiler::render::human(&diags, &|p| ws.source(p).map(|s| s.to_string()), false);
    print!("{out}");
    println!("{} diagnostics", diags.len());
}
