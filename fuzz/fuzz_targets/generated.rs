//! The JIT against the interpreter on generated programs (`xop_runtime::synth`): the fuzzer's
//! bytes seed the program and its inputs, so long runs explore programs far beyond the test
//! suite's seeds. Run: `cargo +nightly fuzz run generated` (see docs/testing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use xop_runtime::interp::{self, NoSignals};
use xop_runtime::jit;
use xop_runtime::sample::Sampler;
use xop_runtime::synth;

/// Inputs per compiled policy: compiling dominates, so each program is asked many times.
const INPUTS: usize = 64;

/// 2026-01-01T00:00:00Z and one year, where the sampler's times are.
const YEAR_2026: i64 = 1_767_225_600_000;
const YEAR_MS: u64 = 31_536_000_000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let seed = u64::from_le_bytes(data[..8].try_into().unwrap_or([0; 8]));
    let input_seed = u64::from_le_bytes(data[8..16].try_into().unwrap_or([0; 8]));
    let program = synth::program(seed);
    let module = jit::compile(&program);
    for policy in 0..program.policies.len() {
        if module.unsupported(policy).is_some() {
            continue;
        }
        let mut sampler = Sampler::new(&program, input_seed ^ policy as u64);
        for k in 0..INPUTS {
            let Some(args) = sampler.args(&program, policy) else {
                break;
            };
            // Mostly around the sampler's times, now and then anywhere (overflow paths).
            let now = if k % 8 == 7 {
                sampler.next_u64() as i64
            } else {
                YEAR_2026 + (sampler.next_u64() % YEAR_MS) as i64
            };
            let expected = interp::decide(&program, policy, &args, now, &NoSignals);
            let actual = module.decide(policy, &args, now);
            assert!(
                actual.as_ref() == Some(&expected),
                "engines disagree: program seed {seed}, input seed {input_seed}, policy \
                 {policy}, now {now}\nargs: {args:?}\ninterpreter: {expected:#?}\nJIT: \
                 {actual:#?}\npolicy: {:#?}",
                program.policies[policy]
            );
        }
    }
});
