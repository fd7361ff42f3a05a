//! The JIT's JSON reader against the reference path (`bind::bind_json`, then
//! `JitModule::bind`) on generated programs: the same words for every input the reference
//! accepts, the same error for every input it refuses. Inputs are the sampler's arguments as
//! JSON (keys in random order, escapes, every accepted form of times, durations, symbols),
//! and mutations of them (dropped and unknown fields, repeated keys, wrong types, odd numbers,
//! bad times and zones, truncated text).

mod support;

use support::json_inputs::{Tally, check_program};
use xop_runtime::synth;

#[test]
fn reader_agrees_with_the_reference_on_generated_programs() {
    let mut total = Tally::default();
    for seed in 0..120u64 {
        let program = synth::program(seed);
        let t = check_program(&program, seed ^ 0x5eed, 60);
        total.inputs += t.inputs;
        total.accepted += t.accepted;
        total.fast += t.fast;
        total.scanned += t.scanned;
        total.direct += t.direct;
    }
    eprintln!("{total:?}");
    // The comparison says something only if both outcomes are common and the fast path,
    // not the fallback, reads most good input.
    assert!(total.inputs > 5_000, "{total:?}");
    assert!(total.accepted * 5 > total.inputs, "{total:?}");
    assert!(total.accepted < total.inputs * 4 / 5, "{total:?}");
    assert!(total.fast * 10 > total.accepted * 8, "{total:?}");
    // Half the checks run with the direct scanner off, and half the texts have escapes (the
    // serde path's): the scanner must still have read a good share of the rest.
    assert!(total.scanned * 8 > total.accepted, "{total:?}");
    // Programs without sets nor lists in lists are read straight into their final layout.
    assert!(total.direct * 4 > total.scanned, "{total:?}");
}
