//! Crafted modules: the payload of a real module (the examples and the conformance corpus,
//! compiled once) edited at the positions the fuzzer's bytes give, wrapped in a header whose
//! integrity hash matches (anyone can compute it: only a signature needs a key), then loaded,
//! JIT-compiled and decided on sampled inputs by both engines. Loading may refuse the module;
//! nothing may panic or crash, whatever program the bytes decode to.
//! Run: `cargo +nightly fuzz run module` (see docs/testing.md).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xop_runtime::interp::{self, NoSignals};
use xop_runtime::jit;
use xop_runtime::module::{self, Module};
use xop_runtime::sample::Sampler;

/// The header's length: magic, version, integrity hash, sources' hash, payload length.
const HEADER_LEN: usize = 76;

#[path = "../common/corpus.rs"]
mod corpus;

/// Every conformance scenario's module (and the examples'), as file bytes, made once.
fn modules() -> &'static Vec<Vec<u8>> {
    static MODULES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    MODULES.get_or_init(|| {
        corpus::programs()
            .into_iter()
            .map(|program| {
                Module {
                    program,
                    sources: Vec::new(),
                    source_hash: [0; 32],
                }
                .to_bytes(None)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let modules = modules();
    if data.len() < 2 || modules.is_empty() {
        return;
    }
    let mut bytes = modules[usize::from(data[0]) % modules.len()].clone();
    let payload = bytes.len() - HEADER_LEN;
    // Edits of three bytes each: a position in the payload (two bytes) and the new value.
    for edit in data[1..].chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % payload;
        bytes[HEADER_LEN + at] = edit[2];
    }
    // The integrity hash over everything but itself, as a crafter would compute it.
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(&bytes[..8]);
    h.update(&bytes[40..]);
    let hash: [u8; 32] = h.finalize().into();
    bytes[8..40].copy_from_slice(&hash);
    let Ok(loaded) = module::load(&bytes, None) else {
        return;
    };
    let program = &loaded.module.program;
    let compiled = jit::compile(program);
    let mut sampler = Sampler::new(program, u64::from(data[0]));
    for policy in 0..program.policies.len().min(8) {
        for now in [0, 1_764_061_200_000] {
            let Some(args) = sampler.args(program, policy) else {
                continue;
            };
            let _ = compiled.decide(policy, &args, now);
            let _ = interp::decide(program, policy, &args, now, &NoSignals);
        }
    }
});
