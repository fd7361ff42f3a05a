//! Differential testing: for every policy of the examples (ACME and the scenarios) and of the
//! conformance corpus that the JIT compiles, random well-typed inputs give the same decision in
//! the JIT and in the reference interpreter. At least 100,000 comparisons per run; longer runs: raise
//! `XOP_DIFFERENTIAL_CASES` (inputs per policy).

use std::path::Path;

use xop_runtime::interp::{self, NoSignals};
use xop_runtime::ir::Program;
use xop_runtime::sample::Sampler;

/// Compiles every `.xop` file under `dir` into one program.
fn program(dir: &Path) -> Program {
    let mut ws = xop_compiler::db::Workspace::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("readable folder");
        if entry.path().extension().is_some_and(|e| e == "xop") {
            let text = std::fs::read_to_string(entry.path()).expect("readable file");
            ws.set_file(&entry.path().display().to_string(), text);
        }
    }
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", dir.display());
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

/// How many policies of ACME and the conformance corpus the JIT compiles (update it when the
/// JIT learns a construct or the corpus grows).
const COMPILED: usize = 38;

/// What the JIT refuses, and why: only signals (text ordering and concatenation are compiled
/// since the `jit-text` work, Decimal and Money since `jit-decimal`, list and set literals
/// compared with a list of the input since then, lists of the input compared with each other
/// and optional lists since `lists`).
const REFUSED: &[&str] = &[
    "acme.fraud.fraud: reads a signal",
    "scenario.sim_swap.fraud: reads a signal",
    "conf.signals.swaps: reads a signal",
];

/// Policies that order or concatenate texts, compiled and so compared.
const TEXT_POLICIES: &[&str] = &["conf.quantities.scheduling", "conf.functions.accounts"];

/// How many of them read a Decimal or Money value, at least.
const DECIMAL_POLICIES: usize = 8;

#[test]
fn jit_and_interpreter_agree_on_random_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut projects = vec![root.join("examples/acme")];
    for parent in [
        root.join("examples/scenarios"),
        root.join("tests/conformance"),
    ] {
        let Ok(rd) = std::fs::read_dir(&parent) else {
            continue;
        };
        let mut dirs: Vec<_> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        projects.extend(dirs);
    }
    let per_policy: usize = std::env::var("XOP_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // First pass: which policies does the JIT compile?
    let mut compiled: Vec<(Program, xop_runtime::jit::JitModule, Vec<usize>)> = Vec::new();
    for dir in &projects {
        let p = program(dir);
        let jit = xop_runtime::jit::compile(&p);
        let supported: Vec<usize> = (0..p.policies.len())
            .filter(|&i| jit.unsupported(i).is_none())
            .collect();
        compiled.push((p, jit, supported));
    }
    let policies: usize = compiled.iter().map(|(_, _, s)| s.len()).sum();
    // What the JIT still refuses, and why: only constructs it does not compile yet (signals,
    // say), never Decimal or Money, which it compiles since the `jit-decimal` work.
    let refused: Vec<String> = compiled
        .iter()
        .flat_map(|(p, jit, _)| {
            (0..p.policies.len()).filter_map(move |i| {
                jit.unsupported(i)
                    .map(|why| format!("{}: {why}", p.policies[i].qualified))
            })
        })
        .collect();
    eprintln!("{policies} policies compiled; refused: {refused:#?}");
    assert_eq!(refused, REFUSED, "the JIT refuses other policies");
    for name in TEXT_POLICIES {
        let compiled = compiled
            .iter()
            .any(|(p, _, supported)| supported.iter().any(|&i| p.policies[i].qualified == *name));
        assert!(compiled, "{name} is not compiled by the JIT");
    }
    // The policies that read Decimal or Money (refunds, charging, comparing, …) are compared.
    let decimal_policies = compiled
        .iter()
        .map(|(p, _, supported)| {
            supported
                .iter()
                .filter(|&&i| {
                    format!("{:?}", p.policies[i]).contains("Decimal")
                        || format!("{:?}", p.policies[i]).contains("Money")
                })
                .count()
        })
        .sum::<usize>();
    eprintln!("{decimal_policies} of them read Decimal or Money");
    assert!(
        decimal_policies >= DECIMAL_POLICIES,
        "only {decimal_policies} Decimal/Money policies compiled"
    );
    assert_eq!(
        policies, COMPILED,
        "the JIT compiles another number of policies: {refused:#?}"
    );
    let per_policy = if per_policy > 0 {
        per_policy
    } else {
        100_000usize.div_ceil(policies)
    };
    let mut comparisons = 0usize;
    let mut seed = 1u64;
    for (p, jit, supported) in &compiled {
        for &i in supported {
            let mut sampler = Sampler::new(p, seed);
            seed += 1;
            for _ in 0..per_policy {
                let Some(args) = sampler.args(p, i) else {
                    break;
                };
                let now = 1_767_225_600_000 + (sampler.next_u64() % 31_536_000_000) as i64;
                let expected = interp::decide(p, i, &args, now, &NoSignals);
                let actual = jit.decide(i, &args, now);
                assert_eq!(
                    actual.as_ref(),
                    Some(&expected),
                    "policy {} on {args:?} at {now}",
                    p.policies[i].qualified
                );
                comparisons += 1;
            }
        }
    }
    assert!(comparisons >= 100_000, "only {comparisons} comparisons");
}
