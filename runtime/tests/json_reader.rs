//! The JIT's JSON reader against the reference path (`bind::bind_json`, then
//! `JitModule::bind`) on generated programs: the same words for every input the reference
//! accepts, the same error for every input it refuses. Inputs are the sampler's arguments as
//! JSON (keys in random order, escapes, every accepted form of times, durations, symbols),
//! and mutations of them (dropped and unknown fields, repeated keys, wrong types, odd numbers,
//! bad times and zones, truncated text), and texts of the same shape with other values, which
//! the reader replays against the shape it learned from the text before, and reads again with
//! that shape compiled.

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
        total.replayed += t.replayed;
        total.compiled += t.compiled;
        total.siblings += t.siblings;
        total.siblings_accepted += t.siblings_accepted;
        total.siblings_direct += t.siblings_direct;
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
    // Most siblings of a text read in direct mode are replayed: accepted ones as good input,
    // and some refused ones too, so both outcomes of a replay are compared.
    assert!(total.siblings_accepted * 5 > total.siblings, "{total:?}");
    assert!(total.replayed * 3 > total.siblings_direct, "{total:?}");
    // For every fourth input the siblings are read again after the shape was compiled: most
    // of those replayed are read by the code (the rest it leaves to the replay).
    assert!(total.compiled * 8 > total.replayed, "{total:?}");
}

/// The values an input gives in `signals` reach the compiled code as they reach the
/// interpreter: the layout holds only the arguments, `JsonReader::signals` the rest.
#[test]
fn signal_values_of_the_input_are_handed_over() {
    use xop_runtime::interp::{self, FixedSignals};
    use xop_runtime::ir::build::{b, cmp, program, rule, slot};
    use xop_runtime::ir::{CmpOp, Expr, SignalDecl, Type, Verdict};
    use xop_runtime::jit::{self, Bound};
    use xop_runtime::value::Value;

    // deny "high" when (level() ?? 0) > a0, else allow.
    let level = Expr::Default(b(Expr::Signal(0, vec![])), b(Expr::Const(Value::Int(0))));
    let mut p = program(
        vec![Type::Int],
        vec![
            rule(
                1,
                Verdict::Deny,
                "high",
                Some(cmp(CmpOp::Gt, level, slot(0))),
            ),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    p.signals = vec![SignalDecl {
        name: "t.level".into(),
        params: Vec::new(),
        ty: Type::Int,
        source: "t.source".into(),
        source_args: Vec::new(),
        max_age_ms: None,
    }];
    let module = jit::compile(&p);
    assert_eq!(module.unsupported(0), None);
    let mut reader = module.json_reader(0).expect("a reader");
    let mut bound = Bound::empty();
    let mut out = module.output(0);
    let mut denied = 0;
    for (text, given) in [
        (
            r#"{"a0": 5, "signals": {"level": 9}}"#,
            vec![(0, Value::Int(9))],
        ),
        (
            r#"{"a0": 5, "signals": {"t.level": 2}}"#,
            vec![(0, Value::Int(2))],
        ),
        (
            r#"{"a0": 5, "signals": {"level": null}}"#,
            vec![(0, Value::Absent)],
        ),
        (r#"{"a0": -1, "signals": null}"#, vec![]),
        (r#"{"a0": -1}"#, vec![]),
    ] {
        reader
            .bind_json_into(&module, text, &mut bound)
            .expect("reads");
        assert_eq!(reader.signals(), &given[..], "{text}");
        let signals = FixedSignals(reader.signals().to_vec());
        module
            .run_with_signals(&bound, 0, &signals, &mut out)
            .expect("runs");
        let want = interp::decide(
            &p,
            0,
            &[Value::Int(if text.contains("-1") { -1 } else { 5 })],
            0,
            &signals,
        );
        assert_eq!(module.decision(&bound, &out), want, "{text}");
        denied += usize::from(want.verdict == Verdict::Deny);
    }
    assert_eq!(denied, 3, "9 > 5, 0 > -1 twice");
}

/// Seeds for the `json_reader` fuzz target, written to the folder `XOP_FUZZ_SEEDS` names (a
/// tool, not a check: `cargo test -p xop-runtime --test json_reader -- --ignored`): per generated program the target reads, texts of each policy's input
/// as a serializer writes them, each followed by a zero byte and a text of its shape with other
/// values (so that the second is replayed, and read by the compiled shape). See
/// docs/testing.md.
#[test]
#[ignore = "writes fuzz seeds to XOP_FUZZ_SEEDS"]
fn fuzz_seeds_for_the_json_reader() {
    use support::json_inputs::{Rng, input, serialized, sibling};
    use xop_runtime::sample::Sampler;
    let dir = std::env::var_os("XOP_FUZZ_SEEDS").expect("XOP_FUZZ_SEEDS names the seeds' folder");
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("the seeds' folder");
    let mut written = 0;
    // The fuzz target's programs: `synth::program(seed)` for seeds 0 to 7, picked by the first
    // byte modulo 8.
    for seed in 0..8u8 {
        let program = synth::program(u64::from(seed));
        let mut sampler = Sampler::new(&program, u64::from(seed) ^ 0xf022);
        for policy in 0..program.policies.len() {
            for k in 0..4 {
                let mut rng = Rng(&mut sampler);
                let Some(j) = input(&program, policy, &mut rng) else {
                    break;
                };
                let canon = serialized(&j);
                let other = sibling(&canon, &mut rng);
                let mut bytes = vec![seed];
                bytes.extend_from_slice(canon.as_bytes());
                bytes.push(0);
                bytes.extend_from_slice(other.as_bytes());
                let path = dir.join(format!("seed-{seed}-{policy}-{k}"));
                std::fs::write(path, bytes).expect("a seed");
                written += 1;
            }
        }
    }
    assert!(written > 50, "only {written} seeds");
}
