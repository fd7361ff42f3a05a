//! The language server's speed: fresh diagnostics for a 5,000-line project after opening it,
//! and after a one-character edit, measured through the server's own state and conversion to
//! the protocol (what `xop lsp` publishes), without the transport.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use xop_lsp::server::diagnostics_to_publish;
use xop_lsp::state::State;
use xop_lsp::stdlib::StdlibLocation;

/// Opens every file as an editor would, at version 1.
fn open(files: &[(String, String)]) -> State {
    let mut st = State::new(StdlibLocation::Scheme);
    for (p, t) in files {
        st.open(p, t, 1);
    }
    st
}

/// The number of diagnostics published for the state as it is.
fn publish(st: &State) -> usize {
    diagnostics_to_publish(&st.snapshot())
        .iter()
        .map(|(_, _, d)| d.len())
        .sum()
}

fn bench(c: &mut Criterion) {
    // Absolute paths, as documents have: the server publishes to their file URIs.
    let files: Vec<(String, String)> = xop_bench::project(5_000, 10)
        .into_iter()
        .map(|(p, t)| (format!("/bench/{p}"), t))
        .collect();
    let lines: usize = files.iter().map(|(_, t)| t.lines().count()).sum();
    // Before timing: the workload is what it claims to be, every file is published, and the
    // edit below is one character that the checker sees.
    assert!(lines >= 5_000, "generated {lines} lines");
    let st = open(&files);
    assert_eq!(diagnostics_to_publish(&st.snapshot()).len(), files.len());
    assert_eq!(publish(&st), 0, "the generated project checks clean");
    let (path, text) = files[0].clone();
    assert!(text.contains("risk_score > 0"));

    let mut g = c.benchmark_group("lsp");
    g.sample_size(10);
    g.bench_function("5k_lines_open", |b| {
        b.iter_batched(|| (), |()| publish(&open(&files)), BatchSize::PerIteration)
    });
    let mut st = open(&files);
    publish(&st);
    let mut version = 1;
    g.bench_function("5k_lines_one_char_edit", |b| {
        b.iter(|| {
            version += 1;
            let even = version % 2 == 0;
            st.change(&path, version, |old| {
                if even {
                    old.replacen("risk_score > 0", "risk_score > 1", 1)
                } else {
                    old.replacen("risk_score > 1", "risk_score > 0", 1)
                }
            });
            publish(&st)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
