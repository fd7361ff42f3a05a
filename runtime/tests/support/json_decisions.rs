//! Decisions on a JSON text by both engines, for tests of what the binder reads and refuses:
//! the reference path (`bind::bind_json`, then the interpreter) and the JIT's (its
//! `JsonReader`, then the compiled code), which must agree. Shared by
//! `runtime/tests/input_keys.rs` and `runtime/tests/input_edges.rs`.

// Each test binary including `support` uses only some of it.
#![allow(dead_code)]

use xop_runtime::bind;
use xop_runtime::interp::{self, BAD_INPUT, Decision, NoSignals};
use xop_runtime::ir::{Program, Verdict};
use xop_runtime::jit::{self, Bound, JsonError};

/// The decision on `text` by the reference path, at the input's `now` (0 without one).
pub fn reference(p: &Program, text: &str) -> Decision {
    match bind::bind_json(p, 0, text) {
        Ok(b) => interp::decide(p, 0, &b.args, b.now_ms.unwrap_or(0), &NoSignals),
        Err(e) => JsonError::Input(e).decision(),
    }
}

/// The decision on `text` by the JIT's JSON reader and compiled code, which must equal the
/// reference's; twice, so that a shape the reader learned from the first is replayed.
pub fn decide(p: &Program, text: &str) -> Decision {
    let module = jit::compile(p);
    assert_eq!(module.unsupported(0), None, "the JIT compiles the policy");
    let mut reader = module.json_reader(0).expect("a reader");
    let want = reference(p, text);
    for _ in 0..2 {
        let mut bound = Bound::empty();
        let jit = match reader.bind_json_into(&module, text, &mut bound) {
            Ok(now) => {
                let mut out = module.output(0);
                match module.run(&bound, now.unwrap_or(0), &mut out) {
                    Ok(()) => module.decision(&bound, &out),
                    Err(e) => panic!("{text}: the JIT failed to run: {e}"),
                }
            }
            Err(e) => e.decision(),
        };
        assert_eq!(jit, want, "{text}: the engines disagree");
    }
    want
}

/// The error of a refused input, asserting it was refused.
pub fn refused(d: &Decision) -> &str {
    assert_eq!(
        (d.verdict, d.reasons.as_slice()),
        (Verdict::Deny, &[BAD_INPUT.to_string()][..]),
        "{d:?}"
    );
    d.error.as_deref().unwrap_or_default()
}
