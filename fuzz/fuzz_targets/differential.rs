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

#[path = "../common/corpus.rs"]
mod corpus;

/// Every conformance scenario (and the examples), compiled once.
fn programs() -> &'static Vec<(Program, JitModule)> {
    static PROGRAMS: OnceLock<Vec<(Program, JitModule)>> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        corpus::programs()
            .into_iter()
            .map(|program| {
                let module = jit::compile(&program);
                (program, module)
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
    let Some(args) = sampler.args(program, policy) else {
        return;
    };
    let now = sampler.next_u64() as i64 / 1000;
    if let Some(actual) = module.decide(policy, &args, now) {
        assert_eq!(
            actual,
            interp::decide(program, policy, &args, now, &NoSignals)
        );
    }
});
