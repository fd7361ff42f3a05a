//! How many words the elements of an input's lists may bind to (`bind::max_words`): an element
//! takes its type's whole room, also for the optional fields it leaves out or gives as `null`,
//! so a few bytes could bind to gigabytes. Binding refuses an input whose elements pass
//! `WORDS_SLACK` plus `WORDS_PER_VALUE` words per JSON value it writes (`too-large`, at the
//! element that passed the limit); the JIT's JSON reader, on every fast path, leaves an input
//! whose elements pass `WORDS_SLACK` words to the reference, so that both engines bind and
//! refuse the same inputs. A parameter's own room, which the module sets, is not counted.

#[path = "../../runtime/tests/support/json_inputs.rs"]
mod json_inputs;

use json_inputs::{Tally, check};
use xop_runtime::bind::{self, BindErrorKind, BindOptions, WORDS_PER_VALUE, WORDS_SLACK};
use xop_runtime::ir::Program;
use xop_runtime::jit::{Bound, JitModule, JsonReader};

/// Fields per record: `Wide`'s are all optional (two words each: presence, value), `Big`'s
/// all required (one word each).
const FIELDS: usize = 100;

/// Policy `p` over `xs: List<Wide>`, `ys: List<Big?>` and, `with_set`, `s: Set<Int>` (a
/// set makes the reader's plan segmented: no shape is learned or compiled).
fn source(with_set: bool) -> String {
    let fields = |name: &str, ty: &str| -> String {
        (0..FIELDS)
            .map(|i| format!("  {name}{i}: {ty}\n"))
            .collect()
    };
    format!(
        "module t.wide\n\nuse std.consent.service\n\nrecord Wide {{\n{}}}\n\nrecord Big {{\n{}}}\n\n\
         action act(xs: List<Wide>, ys: List<Big?>{set}) purpose service risk minimal\n\n\
         policy p for act(xs: xs, ys: ys{set_arg}) {{\n  deny \"many\" when count(xs) + \
         count(ys){set_count} > 10000000\n  allow \"ok\"\n}}\n\n\
         decision d(xs: List<Wide>, ys: List<Big?>{set}) at now {{\n  propose act(xs: xs, \
         ys: ys{set_arg}) rank by 1\n}}\n",
        fields("a", "Int?"),
        fields("b", "Int"),
        set = if with_set { ", s: Set<Int>" } else { "" },
        set_arg = if with_set { ", s: s" } else { "" },
        set_count = if with_set { " + count(s)" } else { "" },
    )
}

/// The program, its JIT module and a reader of policy `p`'s input.
fn compiled(with_set: bool) -> (Program, JitModule, usize, JsonReader) {
    let program = xop_tests::lower_source("t/wide.xop", &source(with_set));
    let jit = xop_runtime::jit::compile(&program);
    let (policy, _) = program.policy("p").expect("the policy");
    let reader = jit.json_reader(policy).expect("a reader");
    (program, jit, policy, reader)
}

/// An input of `xs` empty `Wide` objects and `ys` nulls.
fn input(xs: usize, ys: usize) -> String {
    let list = |n: usize, item: &str| vec![item; n].join(",");
    format!(
        r#"{{"xs": [{}], "ys": [{}]}}"#,
        list(xs, "{}"),
        list(ys, "null")
    )
}

/// The limit, the path where binding passes it and the words of that element, by the
/// documented rule: the JSON values the input writes (the object, two arrays, their elements)
/// and the words of the elements, in order, each counted at its type's room (a `Wide`'s two
/// per field, a `Big?`'s 1 + FIELDS).
fn where_refused(xs: usize, ys: usize) -> Option<(usize, String, usize)> {
    let limit = WORDS_SLACK + WORDS_PER_VALUE * (3 + xs + ys);
    let mut used = 0;
    for (n, list, words) in [(xs, "xs", 2 * FIELDS), (ys, "ys", 1 + FIELDS)] {
        for i in 0..n {
            used += words;
            if used > limit {
                return Some((limit, format!("{list}[{i}]"), words));
            }
        }
    }
    None
}

/// Reads `json` with `reader` and the reference, which must agree (`check`), returning the
/// reference's error, if any, and whether the reader left the input to the reference.
fn agree(
    program: &Program,
    jit: &JitModule,
    reader: &mut JsonReader,
    policy: usize,
    json: &str,
) -> (Option<bind::BindError>, bool) {
    let mut into = Bound::empty();
    check(
        program,
        jit,
        reader,
        policy,
        json,
        &mut into,
        &mut Tally::default(),
    );
    (
        bind::bind_json(program, policy, json).err(),
        reader.fell_back(),
    )
}

#[test]
fn optional_fields_left_out_are_held_to_the_limit_on_both_engines() {
    let (program, jit, policy, mut reader) = compiled(false);
    let mut serde_only = reader.clone();
    serde_only.set_scan(false);
    // A small input of the same shape first, so that the big ones meet the learned shape,
    // replayed and compiled, then the scanner, then the serde path.
    let small = input(3, 2);
    for r in [&mut reader, &mut serde_only] {
        assert_eq!(agree(&program, &jit, r, policy, &small), (None, false));
    }
    assert!(reader.compiled() || reader.compile_now());
    assert!(reader.compiled() || reader.replayed() || reader.scanned());

    // Past the slack of words but within the limit: bound, alike, by the reference.
    let under = WORDS_SLACK / (2 * FIELDS) + 100;
    assert_eq!(where_refused(under, 0), None);
    for r in [&mut reader, &mut serde_only] {
        assert_eq!(
            agree(&program, &jit, r, policy, &input(under, 0)),
            (None, true)
        );
    }

    // Past the limit, by fields left out and by nulls of a wide optional: refused alike, at
    // the value that passed it, saying why and what to do.
    let over = under + 300;
    for (xs, ys) in [(over, 0), (0, 2 * WORDS_SLACK / FIELDS)] {
        let (limit, path, words) = where_refused(xs, ys).expect("past the limit");
        let json = input(xs, ys);
        for r in [&mut reader, &mut serde_only] {
            let (e, fell_back) = agree(&program, &jit, r, policy, &json);
            let e = e.expect("refused");
            assert!(fell_back);
            assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::TooLarge, &*path));
            let name = if xs > 0 { "Wide" } else { "Big?" };
            assert!(
                e.message.starts_with(&format!(
                    "the elements of the input's lists take more than {limit} words once bound \
                     ({WORDS_SLACK} plus {WORDS_PER_VALUE} for each JSON value the input \
                     writes), and this one passed the limit: each {name} takes {words} words, \
                     whatever optional fields it leaves out; send fewer elements"
                )),
                "{e}"
            );
            assert_eq!(e.kind.as_str(), "too-large");
        }
        // The same from a parsed value and from bytes; and bound whatever its size when the
        // caller says the input was held to the limit before (a replay).
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let from_value = bind::bind_value(&program, policy, &value).unwrap_err();
        let from_bytes = bind::bind_json_bytes(&program, policy, json.as_bytes()).unwrap_err();
        assert_eq!(
            (from_value.path, from_bytes.path),
            (path.clone(), path.clone())
        );
        let any_size = BindOptions {
            any_size: true,
            ..BindOptions::default()
        };
        let bound = bind::bind_value_with(&program, policy, &value, any_size).expect("bound");
        assert_eq!(bound.args.len(), 2);
        // A decision's input is held to it too.
        let (decision, _) = program.resolve_decision("d").expect("the decision");
        let e = bind::bind_decision_json(&program, decision, &json).err();
        assert_eq!(
            e.map(|e| (e.kind, e.path)),
            Some((BindErrorKind::TooLarge, path))
        );
    }
}

#[test]
fn written_values_never_pass_the_limit() {
    let (program, jit, policy, mut reader) = compiled(true);
    // A set's repeats are counted before they are dropped: past the slack as written (so the
    // reader leaves it to the reference), three words once laid out. Both engines bind it.
    let repeats = WORDS_SLACK + 1000;
    let set = vec!["7"; repeats].join(",");
    let json = format!(r#"{{"xs": [], "ys": [], "s": [{set}]}}"#);
    assert_eq!(
        bind::max_words(&serde_json::from_str(&json).unwrap()),
        WORDS_SLACK + WORDS_PER_VALUE * (4 + repeats)
    );
    let (e, fell_back) = agree(&program, &jit, &mut reader, policy, &json);
    assert_eq!((e, fell_back), (None, true));
    // Every element given, each of its fields written: many words, all written.
    let full: String = (0..FIELDS)
        .map(|i| format!(r#""a{i}": {i}"#))
        .collect::<Vec<_>>()
        .join(",");
    let n = WORDS_SLACK / (2 * FIELDS) + 10;
    let json = format!(
        r#"{{"xs": [{}], "ys": [], "s": []}}"#,
        vec![format!("{{{full}}}"); n].join(",")
    );
    let (e, fell_back) = agree(&program, &jit, &mut reader, policy, &json);
    assert_eq!((e, fell_back), (None, true));
}

/// A parameter's own room, set by the module however large, is not the input's: a small input
/// of a type that lays out past the slack binds, on both engines.
#[test]
fn a_large_parameter_type_does_not_refuse_a_small_input() {
    let record = |name: &str, field: &str, ty: &str, n: usize| -> String {
        let fields: String = (0..n).map(|i| format!("  {field}{i}: {ty}\n")).collect();
        format!("record {name} {{\n  id: Id\n{fields}}}\n\n")
    };
    let source = format!(
        "module t.big\n\nuse std.consent.service\n\n{}{}{}\
         action act(c: Customer) purpose service risk minimal\n\n\
         policy p for act(c: c) {{\n  deny \"blocked\" when c.id == \"x\"\n  allow \"ok\"\n}}\n",
        record("Customer", "s", "Section?", 90),
        record("Section", "b", "Detail?", 90),
        record("Detail", "c", "Int?", 90),
    );
    let program = xop_tests::lower_source("t/big.xop", &source);
    let jit = xop_runtime::jit::compile(&program);
    let (policy, _) = program.policy("p").expect("the policy");
    let mut reader = jit.json_reader(policy).expect("a reader");
    let json = r#"{"c": {"id": "cust-1"}}"#;
    // Read by a fast path: its words past the slack are the parameter's own.
    assert_eq!(
        agree(&program, &jit, &mut reader, policy, json),
        (None, false)
    );
    let mut into = Bound::empty();
    reader.bind_json_into(&jit, json, &mut into).expect("bound");
    assert!(into.words().len() > WORDS_SLACK, "{}", into.words().len());
}
