//! `xop check` speed: a generated 10,000-line project, checked from scratch, and re-checked
//! after a one-line edit (the incremental path the language server takes).

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{Criterion, criterion_group, criterion_main};
use xop_compiler::db::Workspace;

fn load(files: &[(String, String)]) -> Workspace {
    let mut ws = Workspace::new();
    for (p, t) in files {
        ws.set_file(p, t.as_str());
    }
    ws
}

fn bench(c: &mut Criterion) {
    let files = xop_bench::project(10_000, 20);
    let lines: usize = files.iter().map(|(_, t)| t.lines().count()).sum();
    // Before timing: the workload is what it claims to be, and it checks clean.
    assert!(lines >= 10_000, "generated {lines} lines");
    let diags = load(&files).diagnostics();
    assert!(
        diags.is_empty(),
        "the generated project has diagnostics: {diags:#?}"
    );

    let mut g = c.benchmark_group("check");
    g.sample_size(10);
    g.bench_function("10k_lines_cold", |b| {
        b.iter(|| load(&files).diagnostics().len())
    });
    // The same without the compliance proofs: parse, resolve and type-check every file.
    g.bench_function("10k_lines_cold_front_end", |b| {
        b.iter(|| {
            let ws = load(&files);
            let db = ws.db();
            let mut n = 0;
            for f in ws.project().files(db) {
                n += xop_compiler::db::parse_file(db, *f).diagnostics.len();
                n += xop_compiler::check::check_file(db, ws.project(), *f).len();
            }
            n
        })
    });
    let mut ws = load(&files);
    let mut flip = false;
    let (path, text) = files[0].clone();
    g.bench_function("10k_lines_one_line_edit", |b| {
        b.iter(|| {
            flip = !flip;
            let edited = if flip {
                text.replacen("risk_score > 0", "risk_score > 1", 1)
            } else {
                text.clone()
            };
            ws.set_file(&path, edited);
            ws.diagnostics().len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
