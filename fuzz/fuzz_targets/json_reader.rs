//! The JIT's JSON reader (`JsonReader`) against the reference path (`bind::bind_json`, then
//! `JitModule::bind`) on arbitrary text, with its direct scanner on and off: the same layout
//! for input the reference accepts, the same error for input it refuses, and no panic either
//! way. The first byte picks one of a few generated programs (`xop_runtime::synth`); the rest
//! is one JSON text, or two separated by a zero byte, read in turn for every policy the JIT
//! compiles by one reader (so the second is replayed against the shape learned from the
//! first, and once more by that shape's compiled code; one text is read twice). Run: `cargo +nightly fuzz run json_reader` (see
//! docs/testing.md).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use xop_runtime::bind;
use xop_runtime::ir::Program;
use xop_runtime::jit::{self, Bound, JitModule, JsonError, JsonReader};
use xop_runtime::synth;

/// Programs to read for, compiled once.
const PROGRAMS: u64 = 8;

fn programs() -> &'static [(Program, JitModule)] {
    static CELL: OnceLock<Vec<(Program, JitModule)>> = OnceLock::new();
    CELL.get_or_init(|| {
        (0..PROGRAMS)
            .map(|seed| {
                let program = synth::program(seed);
                let module = jit::compile(&program);
                (program, module)
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(both) = std::str::from_utf8(rest) else {
        return;
    };
    let texts = match both.split_once('\0') {
        Some((a, b)) => [a, b],
        None => [both, both],
    };
    let (program, module) = &programs()[usize::from(pick) % programs().len()];
    for policy in 0..program.policies.len() {
        let Ok(reader) = module.json_reader(policy) else {
            continue;
        };
        // The direct scanner (the default, replaying on), the same with the shape learned
        // from the first text compiled before the second is read, then the serde path alone.
        for (scan, compile) in [(true, false), (true, true), (false, false)] {
            let mut reader = reader.clone();
            reader.set_scan(scan);
            let mut into = Bound::empty();
            for (i, text) in texts.iter().enumerate() {
                if compile && i == 1 {
                    reader.compile_now();
                }
                check(program, module, &mut reader, policy, text, &mut into);
            }
        }
    }
});

/// Reads `text` with `reader` and with the reference, and panics unless they agree.
fn check(
    program: &Program,
    module: &JitModule,
    reader: &mut JsonReader,
    policy: usize,
    text: &str,
    into: &mut Bound,
) {
    let want = bind::bind_json(program, policy, text)
        .map_err(JsonError::Input)
        .and_then(|b| {
            let laid = module.bind(policy, &b.args).map_err(JsonError::Refused)?;
            Ok((laid, b.now_ms))
        });
    match (reader.bind_json_into(module, text, into), &want) {
        (Ok(now), Ok((bound, want_now))) => {
            assert!(into.same_layout(bound), "layouts differ on {text:?}");
            assert_eq!(now, *want_now, "times differ on {text:?}");
        }
        (Err(a), Err(b)) => {
            assert_eq!(&a, b, "errors differ on {text:?}");
            assert!(!reader.scanned(), "the scanner accepted {text:?}");
        }
        (a, b) => panic!("the reader and the reference disagree on {text:?}: {a:?} / {b:?}"),
    }
}
