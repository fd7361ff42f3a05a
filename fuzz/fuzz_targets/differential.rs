//! The JIT against the interpreter on the conformance corpus: the fuzzer's bytes seed the
//! random well-typed inputs, so long runs explore far more inputs than the test suite's 100,000.
//! Run: `cargo +nightly fuzz run differential` (see docs/testing.md).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xop_runtime::interp::{self, NoSignals};
use xop_runtime::ir::Program;
use xop_runtime::jit::{self, JitModule};
use xop_runtime::sample::Sampler;

/// Every conformance scenario (and the examples), compiled once.
fn programs() -> &'static Vec<(Program, JitModule)> {
    static PROGRAMS: OnceLock<Vec<(Program, JitModule)>> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut dirs = vec![root.join("examples/acme")];
        if let Ok(rd) = std::fs::read_dir(root.join("tests/conformance")) {
            dirs.extend(rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()));
        }
        dirs.iter()
            .filter_map(|dir| {
                let mut ws = xop_compiler::db::Workspace::new();
                for e in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "xop") {
                        ws.set_file(&p.display().to_string(), std::fs::read_to_string(&p).ok()?);
                    }
                }
                let program = xop_compiler::lower::lower(ws.db(), ws.project()).ok()?;
                let module = jit::compile(&program);
                Some((program, module))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 10 {
        return;
    }
    let seed = u64::from_le_bytes(data[..8].try_into().unwrap_or([0; 8]));
    let programs = programs();
    if programs.is_empty() {
        return;
    }
    let (program, module) = &programs[usize::from(data[8]) % programs.len()];
    if program.policies.is_empty() {
        return;
    }
    let policy = usize::from(data[9]) % program.policies.len();
    let mut sampler = Sampler::new(program, seed);
    let Some(args) = sampler.args(program, policy) else { return };
    let now = sampler.next_u64() as i64 / 1000;
    if let Some(actual) = module.decide(policy, &args, now) {
        assert_eq!(actual, interp::decide(program, policy, &args, now, &NoSignals));
    }
});
