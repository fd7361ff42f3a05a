//! The JIT's JSON reader against the reference path (`bind::bind_json`, then
//! `JitModule::bind`) on real projects: ACME (`examples/acme`), the seed scenarios
//! (`examples/scenarios`) and the conformance corpus (`tests/conformance`). For every policy
//! the JIT compiles: the projects' own inputs (the ACME input files, every case of
//! `cases.json`, bad input included), then generated inputs, valid and mutated. The reader
//! must give the same words for every input the reference accepts and the same error for
//! every input it refuses.

#[path = "../../runtime/tests/support/json_inputs.rs"]
mod json_inputs;

use std::path::{Path, PathBuf};

use json_inputs::{Tally, check, check_program};
use xop_compiler::db::Workspace;
use xop_compiler::diagnostic::Severity;
use xop_runtime::ir::{Program, Type};
use xop_runtime::jit::{Bound, JitModule, JsonReader};

/// Checks and lowers the `.xop` files under `dir` (none may have an error).
fn compile(dir: &Path) -> Program {
    let mut ws = Workspace::new();
    let mut files = 0;
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.expect("a readable folder");
        let path = entry.path();
        if entry.file_type().is_file() && path.extension().is_some_and(|e| e == "xop") {
            let text = std::fs::read_to_string(path).expect("a readable file");
            ws.set_file(&path.to_string_lossy(), text.as_str());
            files += 1;
        }
    }
    assert!(files > 0, "no .xop file under {}", dir.display());
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", dir.display());
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowering")
}

/// The JSON inputs a project ships: `inputs/*.json`, and the `input` of each case of
/// `cases.json` with its policy's name.
fn shipped_inputs(dir: &Path) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("inputs")) {
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            out.push((None, std::fs::read_to_string(p).expect("a readable input")));
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("cases.json")) {
        let cases: serde_json::Value = serde_json::from_str(&text).expect("cases.json is JSON");
        for case in cases.as_array().into_iter().flatten() {
            let policy = case["policy"].as_str().map(String::from);
            out.push((policy, case["input"].to_string()));
        }
    }
    out
}

/// Whether a value of `ty` holds a Decimal or Money somewhere.
fn has_decimals(program: &Program, ty: &Type, depth: u32) -> bool {
    match ty {
        Type::Decimal | Type::Money => true,
        Type::Optional(t) | Type::List(t) | Type::Set(t) => has_decimals(program, t, depth),
        Type::Record(r) if depth < 16 => program.records[*r as usize]
            .fields
            .iter()
            .any(|f| has_decimals(program, &f.ty, depth + 1)),
        _ => false,
    }
}

fn projects() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("../examples/acme")];
    for parent in [root.join("../examples/scenarios"), root.join("conformance")] {
        let mut sub: Vec<PathBuf> = std::fs::read_dir(&parent)
            .expect("a readable folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        sub.sort();
        dirs.extend(sub);
    }
    dirs
}

#[test]
fn reader_agrees_with_the_reference_on_the_projects() {
    let mut total = Tally::default();
    let mut compiled = 0;
    let mut with_decimals = 0;
    for (i, dir) in projects().iter().enumerate() {
        let program = compile(dir);
        let jit = xop_runtime::jit::compile(&program);
        // The projects' own inputs, for every policy they can be read for.
        let inputs = shipped_inputs(dir);
        for policy in 0..program.policies.len() {
            let Ok(mut reader) = jit.json_reader(policy) else {
                continue;
            };
            compiled += 1;
            if program.policies[policy]
                .params
                .iter()
                .any(|p| has_decimals(&program, &p.ty, 0))
            {
                with_decimals += 1;
            }
            let mut into = Bound::empty();
            let name = &program.policies[policy].name;
            for (for_policy, json) in &inputs {
                if for_policy.as_ref().is_none_or(|p| p == name) {
                    check(
                        &program,
                        &jit,
                        &mut reader,
                        policy,
                        json,
                        &mut into,
                        &mut total,
                    );
                }
            }
        }
        let t = check_program(&program, 7 + i as u64, 400);
        total.inputs += t.inputs;
        total.accepted += t.accepted;
        total.fast += t.fast;
        total.replayed += t.replayed;
    }
    eprintln!("{compiled} policies ({with_decimals} with Decimal or Money input), {total:?}");
    assert!(
        compiled >= 10,
        "only {compiled} policies compiled by the JIT"
    );
    // The money policies (refunds, charging, comparing, …) are read too, with their shipped
    // inputs and generated ones in every form `bind` accepts.
    assert!(
        with_decimals >= 9,
        "only {with_decimals} policies with Decimal or Money input read"
    );
    assert!(total.accepted * 5 > total.inputs, "{total:?}");
    assert!(total.accepted < total.inputs * 4 / 5, "{total:?}");
    assert!(total.fast * 10 > total.accepted * 9, "{total:?}");
    // Texts of a shape just read are replayed (see `check_program`'s siblings).
    assert!(total.replayed > 500, "{total:?}");
}

/// DESIGN.md §1's contact policy (the benchmarks' workload (a)), whose input has a list of
/// records with an optional field.
const CONTACT: &str = include_str!("../../bench/src/contact.xop");

/// The contact input with `consents` (JSON array elements) and `now` as given.
fn contact_input(now: &str, id: &str, consents: &[&str]) -> String {
    format!(
        r#"{{"now": {now}, "to": {{"id": "{id}", "in_service_interaction": false, "messages_7d": 12, "tz": "Europe/Paris", "consents": [{}]}}, "channel": "sms", "offer": "o"}}"#,
        consents.join(", ")
    )
}

/// The contact input's usual `now`, and consent records: given, given for service, withdrawn.
const T: &str = r#""2026-11-25T09:00:00Z""#;
const SMS: &str =
    r#"{"purpose": "marketing", "channel": "sms", "given_at": "2026-11-24T09:00:00Z"}"#;
const EMAIL: &str =
    r#"{"purpose": "service", "channel": "email", "given_at": "2025-01-02T03:04:05Z"}"#;
const WITHDRAWN: &str = r#"{"purpose": "marketing", "channel": "sms", "given_at": "2026-11-24T09:00:00Z", "withdrawn_at": "2026-11-24T10:00:00Z"}"#;

/// The contact policy compiled, its index and a reader of its input.
fn contact_reader() -> (Program, JitModule, usize, JsonReader) {
    let program = xop_tests::lower_source("t/contact.xop", CONTACT);
    let jit = xop_runtime::jit::compile(&program);
    let (policy, _) = program.policy("contact").expect("the policy");
    let reader = jit.json_reader(policy).expect("a reader");
    (program, jit, policy, reader)
}

/// `json` without the blank after the `offer` key's colon.
fn tight(json: String) -> String {
    json.replace(r#""offer": "#, r#""offer":"#)
}

/// Replaying a learned shape: which texts are replayed, and that every one, replayed or not,
/// is read as the reference reads it (`check` compares words and errors).
#[test]
fn texts_of_the_learned_shape_are_replayed_and_others_read_anew() {
    let (program, jit, policy, mut reader) = contact_reader();
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    let (t, sms, email, withdrawn) = (T, SMS, EMAIL, WITHDRAWN);
    let spaced = r#"{"purpose":"marketing", "channel": "sms", "given_at": "2026-11-24T09:00:00Z"}"#;
    // (text, replayed): each read right after the one before it.
    let steps: Vec<(String, bool)> = vec![
        // Learned from the first.
        (contact_input(t, "c-1", &[sms, email]), false),
        // Other values, of other lengths, and more or fewer elements of the same shape.
        (
            contact_input(t, "customer-12345", &[email, sms, email]),
            true,
        ),
        (contact_input(t, "c", &[sms]), true),
        (contact_input(t, "c", &[]), true),
        // `now` as `null`, then as a time again.
        (contact_input("null", "c-1", &[sms]), true),
        (contact_input(t, "c-1", &[sms]), true),
        // A value the reference refuses: not replayed (the reference's error).
        (
            contact_input(t, "c-1", &[&sms.replace("sms", "fax")]),
            false,
        ),
        (
            contact_input(r#""2026-13-25T09:00:00Z""#, "c-1", &[sms]),
            false,
        ),
        (contact_input(t, "c-1", &[sms]), true),
        // Elements of another shape: the scanner reads those, the replay the rest.
        (
            contact_input(t, "c-1", &[sms, withdrawn, email, spaced]),
            true,
        ),
        (contact_input(t, "c-1", &[spaced]), true),
        // Other blanks outside the list: read anew by the scanner, which learns them.
        (tight(contact_input(t, "c-1", &[sms])), false),
        (tight(contact_input(t, "c-2", &[email, withdrawn])), true),
        // Four replays given up in a row: the next input is not tried (the scanner reads
        // and learns it), the one after is.
        (contact_input(t, "c-1", &[sms]), false),
        (
            contact_input(t, "c-1", &[&sms.replace("sms", "fax")]),
            false,
        ),
        (
            contact_input(t, "c-1", &[sms]).replace(": 12", ": 1.5"),
            false,
        ),
        (
            contact_input(t, "c-1", &[sms]).replace(r#""channel": "sms""#, r#""channel": 1"#),
            false,
        ),
        (contact_input(t, "c-1", &[email]), false),
        (contact_input(t, "c-1", &[email]), true),
        // A shape learned with an empty list (other blanks after `offer`, so read anew):
        // the scanner reads every element, the replay the rest.
        (tight(contact_input(t, "c-1", &[])), false),
        (tight(contact_input(t, "c-2", &[])), true),
        (tight(contact_input(t, "c-1", &[sms, withdrawn])), true),
        // Text after the object, or cut short: refused, as the reference does.
        (contact_input(t, "c-1", &[sms]) + " x", false),
        (
            contact_input(t, "c-1", &[sms])
                .trim_end_matches('}')
                .to_string(),
            false,
        ),
    ];
    let mut read_all = |reader: &mut JsonReader, replaying: bool| {
        for (i, (json, replayed)) in steps.iter().enumerate() {
            check(&program, &jit, reader, policy, json, &mut into, &mut tally);
            assert_eq!(
                reader.replayed(),
                replaying && *replayed,
                "step {i}: {json}"
            );
        }
    };
    read_all(&mut reader, true);
    // Replaying off: nothing is.
    reader.set_replay(false);
    read_all(&mut reader, false);
    assert_eq!(tally.replayed, steps.iter().filter(|s| s.1).count());
}

/// A learned shape compiled to native code (`JsonReader::compile_now`): which texts its code
/// reads and which it leaves to the replay, and that every one is read as the reference reads
/// it (`check` compares words and errors).
#[test]
fn a_compiled_shape_reads_texts_of_its_shape_and_leaves_the_rest() {
    let (program, jit, policy, mut reader) = contact_reader();
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    let (t, sms, email, withdrawn) = (T, SMS, EMAIL, WITHDRAWN);
    let first = contact_input(t, "c-1", &[sms, email]);
    check(
        &program,
        &jit,
        &mut reader,
        policy,
        &first,
        &mut into,
        &mut tally,
    );
    assert!(!reader.compiled());
    assert!(reader.compile_now(), "the contact input's shape compiles");
    // (text, compiled): each read right after the one before it, all by the same code.
    let steps: Vec<(String, bool)> = vec![
        (first.clone(), true),
        // Other values and lengths, more or fewer elements, `now` as `null` and with
        // milliseconds, qualified names, a year the in-place parse leaves to the host, an
        // escape-free string of every length around a word.
        (
            contact_input(t, "customer-12345", &[email, sms, email]),
            true,
        ),
        (contact_input(t, "c", &[sms]), true),
        (contact_input(t, "c", &[]), true),
        (contact_input("null", "c-1", &[sms]), true),
        (
            contact_input(r#""2026-11-25T09:00:00.250Z""#, "c-1", &[sms]),
            true,
        ),
        (
            contact_input(r#""2150-11-25T09:00:00Z""#, "c-1", &[sms]),
            true,
        ),
        (
            contact_input(
                t,
                "c-1",
                &[&sms.replace(r#""sms""#, r#""std.channel.sms""#)],
            ),
            true,
        ),
        (contact_input(t, "1234567", &[sms]), true),
        (contact_input(t, "12345678", &[sms]), true),
        (contact_input(t, "123456789", &[sms]), true),
        // Blanks around the list's elements, as the replay reads them.
        (
            contact_input(t, "c-1", &[sms, email])
                .replace("[{", "[ \n{")
                .replace("}, {", "} ,\t{")
                .replace("}]", "}\r\n]"),
            true,
        ),
        // An escape in a string: the host reads it (the serde path, in the end).
        (contact_input(t, "c\\u002d1", &[sms]), false),
        (contact_input(t, "c-1", &[sms]), true),
        // Values the reference refuses: the code gives up, and the reference words the error
        // (three in a row at most: after four misses the reader stops trying for a while).
        (
            contact_input(t, "c-1", &[&sms.replace("sms", "fax")]),
            false,
        ),
        (
            contact_input(r#""2026-13-25T09:00:00Z""#, "c-1", &[sms]),
            false,
        ),
        (
            contact_input(t, "c-1", &[sms]).replace("false", "nope"),
            false,
        ),
        (contact_input(t, "c-1", &[sms]), true),
        // Elements of another shape: the host's scanner reads those, the code the rest.
        (contact_input(t, "c-1", &[sms, withdrawn, email]), true),
        (contact_input(t, "c-1", &[withdrawn]), true),
        // Text after the object, or cut short.
        (contact_input(t, "c-1", &[sms]) + " x", false),
        (
            contact_input(t, "c-1", &[sms])
                .trim_end_matches('}')
                .to_string(),
            false,
        ),
        (contact_input(t, "c-1", &[email]), true),
        // Integers: negative (the host reads it), and forms the reference refuses (a leading
        // zero, a fraction, an exponent, more digits than fit), each after a good text.
        (
            contact_input(t, "c-1", &[sms]).replace(": 12", ": -12"),
            true,
        ),
        (
            contact_input(t, "c-1", &[sms]).replace(": 12", ": 012"),
            false,
        ),
        (contact_input(t, "c-1", &[sms]).replace(": 12", ": 0"), true),
        (
            contact_input(t, "c-1", &[sms]).replace(": 12", ": 1.5"),
            false,
        ),
        (
            contact_input(t, "c-1", &[sms]).replace(": 12", ": 1e2"),
            false,
        ),
        (
            contact_input(t, "c-1", &[sms]).replace(": 12", ": 123456789012345678"),
            true,
        ),
        (
            contact_input(t, "c-1", &[sms]).replace(": 12", ": 1234567890123456789"),
            false,
        ),
        (contact_input(t, "c-1", &[sms]), true),
        // A list closed by the wrong bracket, or with a comma too many.
        (contact_input(t, "c-1", &[sms]).replace("}]", "}}"), false),
        (contact_input(t, "c-1", &[sms]).replace("}]", "},]"), false),
        (contact_input(t, "c-1", &[sms]), true),
        // Lists as long as the room made when a list starts (four elements), one longer, and
        // much longer with elements of another shape among them; then shorter ones again, so
        // that words left from a longer list would show.
        (contact_input(t, "c-1", &[sms, email, sms, email]), true),
        (
            contact_input(t, "c-1", &[email, sms, email, sms, email]),
            true,
        ),
        (
            contact_input(
                t,
                "c-1",
                &[
                    sms, withdrawn, email, sms, withdrawn, sms, email, sms, withdrawn,
                ],
            ),
            true,
        ),
        (contact_input(t, "c-1", &[email, withdrawn]), true),
        (contact_input(t, "c-1", &[]), true),
        (
            contact_input(
                t,
                "c-1",
                &[withdrawn, withdrawn, withdrawn, withdrawn, withdrawn],
            ),
            true,
        ),
        (contact_input(t, "c-1", &[email]), true),
    ];
    // Then with compiling off: nothing is read by the code, everything still as the
    // reference reads it.
    for compiling in [true, false] {
        reader.set_compile(compiling);
        for (i, (json, compiled)) in steps.iter().enumerate() {
            check(
                &program,
                &jit,
                &mut reader,
                policy,
                json,
                &mut into,
                &mut tally,
            );
            assert_eq!(
                reader.compiled(),
                compiling && *compiled,
                "step {i}: {json}"
            );
        }
    }
    assert_eq!(tally.compiled, steps.iter().filter(|s| s.1).count());
}

/// Times read by a compiled shape's own code (`now` and a consent's `given_at`, whole seconds
/// and milliseconds): each byte of a few times set to each printable value, and the first and
/// last second of every month from December 1969 to January 2100 with the days just outside
/// it. Each is read as the reference reads it (or refused with its error), and by the code
/// whenever the reference accepts it (the code parses the usual forms of 1970 to 2099 itself
/// and leaves the rest to the host).
#[test]
fn times_are_read_by_compiled_code_as_the_reference_reads_them() {
    let (program, jit, policy, mut reader) = contact_reader();
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    let good = contact_input(T, "c-1", &[SMS]);
    check(
        &program,
        &jit,
        &mut reader,
        policy,
        &good,
        &mut into,
        &mut tally,
    );
    assert!(reader.compile_now(), "the contact input's shape compiles");
    let given = "2026-11-24T09:00:00Z";
    // `time` as `now` or as the consent's `given_at`, then a good text (so that refusals
    // never add up to the reader pausing its code).
    let mut read = |time: &str, tally: &mut Tally| {
        for json in [
            contact_input(&format!("\"{time}\""), "c-1", &[SMS]),
            contact_input(T, "c-1", &[&SMS.replace(given, time)]),
        ] {
            let accepted = tally.accepted;
            check(&program, &jit, &mut reader, policy, &json, &mut into, tally);
            if tally.accepted > accepted {
                assert!(reader.compiled(), "{json}");
            }
            check(&program, &jit, &mut reader, policy, &good, &mut into, tally);
            assert!(reader.compiled());
        }
    };
    for base in [
        "2026-11-25T09:00:00Z",
        "2024-02-29T23:59:59Z",
        "2000-02-29T12:34:56.789Z",
        "2099-12-31T23:59:59.999Z",
        "1970-01-01T00:00:00.000Z",
    ] {
        for i in 0..base.len() {
            for v in 0x20..0x7fu8 {
                let mut t = base.as_bytes().to_vec();
                t[i] = v;
                read(&String::from_utf8(t).expect("ASCII"), &mut tally);
            }
        }
    }
    for y in 1969..=2100 {
        for m in 1..=12 {
            let last = jiff::civil::date(y, m, 1).days_in_month();
            for (d, clock) in [
                (0, "00:00:00Z"),
                (1, "00:00:00.000Z"),
                (last, "23:59:59.999Z"),
            ] {
                read(&format!("{y}-{m:02}-{d:02}T{clock}"), &mut tally);
            }
            read(&format!("{y}-{m:02}-{:02}T23:59:59Z", last + 1), &mut tally);
        }
    }
    assert!(tally.compiled > 20_000, "{tally:?}");
}

/// Lists must come in the order of their headers, as the scanner requires: a compiled list
/// after a list the host read (an optional list that was `null` in the learned shape) with a
/// later header gives up, and the reader's other paths give the reference's layout; in the
/// order of their headers, the code reads them.
#[test]
fn compiled_lists_come_in_the_order_of_their_headers() {
    const SOURCE: &str = r#"module t.lists

use std.consent.service

record Order {
  first: List<Int>
  later: List<Int>?
}

action place(order: Order) purpose service risk minimal

policy orders for place(order: o) {
  deny "big" when any(o.first, n => n > 100)
  deny "later" when any(o.later ?? [], n => n > 5)
  allow "ok"
}
"#;
    let program = xop_tests::lower_source("t/lists.xop", SOURCE);
    let jit = xop_runtime::jit::compile(&program);
    let (policy, _) = program.policy("orders").expect("the policy");
    let mut reader = jit.json_reader(policy).expect("a reader");
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    let text = |later: &str, first: &str| {
        format!(r#"{{"order": {{"later": {later}, "first": [{first}]}}}}"#)
    };
    check(
        &program,
        &jit,
        &mut reader,
        policy,
        &text("null", "1, 2"),
        &mut into,
        &mut tally,
    );
    assert!(reader.compile_now(), "the shape compiles");
    // (text, read by the code)
    let steps = [
        (text("null", "3, 200"), true),
        (text("[7, 8]", "1, 2"), false),
        (text("null", ""), true),
        (text("[]", "4"), false),
        (text("null", "5"), true),
    ];
    for (json, compiled) in &steps {
        check(
            &program,
            &jit,
            &mut reader,
            policy,
            json,
            &mut into,
            &mut tally,
        );
        assert_eq!(reader.compiled(), *compiled, "{json}");
    }
    assert_eq!(tally.accepted, steps.len() + 1, "{tally:?}");
}

/// Zone names read by one reader one after another, so that its cache of zones holds the
/// earlier ones: names that differ from a cached one in one byte or in case, a link, names
/// that are a prefix of another or have one as a prefix, and names a rule spells (constants of
/// the module, whose id the reader keeps with the cached zone) against names it does not.
/// Each is read as the reference reads it, by the scanner, the replay and the compiled shape.
#[test]
fn zone_names_are_read_as_the_reference_reads_them() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/tz_names");
    let program = compile(&dir);
    let jit = xop_runtime::jit::compile(&program);
    let (policy, _) = program.policy("zones").expect("the policy");
    let names = [
        "Europe/Paris",
        "Europe/Parit",
        "europe/paris",
        "EUROPE/PARIS",
        "Europe/Pari",
        "Europe/Paris2",
        "Europe/Kyiv",
        "Europe/Kiev",
        "Europe/Berlin",
        "Asia/Pyongyang",
        "asia/pyongyang",
        "America/Indiana",
        "America/Indiana/Indianapolis",
        "America/Indianapolis",
        "America/Argentina/Buenos_Aires",
        "America/Buenos_Aires",
        "UTC",
        "Etc/UTC",
        "",
    ];
    for compiled in [false, true] {
        let mut reader = jit.json_reader(policy).expect("a reader");
        let mut into = Bound::empty();
        let mut tally = Tally::default();
        let text = |tz: &str| format!(r#"{{"p": {{"tz": "{tz}"}}}}"#);
        check(
            &program,
            &jit,
            &mut reader,
            policy,
            &text("Europe/Paris"),
            &mut into,
            &mut tally,
        );
        if compiled {
            assert!(reader.compile_now(), "the input's shape compiles");
        }
        // Forwards, then backwards: each name after others are cached.
        for tz in names.iter().chain(names.iter().rev()) {
            check(
                &program,
                &jit,
                &mut reader,
                policy,
                &text(tz),
                &mut into,
                &mut tally,
            );
        }
        assert!(tally.accepted > names.len(), "{tally:?}");
        if compiled {
            assert!(tally.compiled > names.len(), "{tally:?}");
        } else {
            assert!(tally.replayed > names.len(), "{tally:?}");
        }
    }
}

/// A reader compiles the shape it has replayed 65,536 times by itself, whatever else it read
/// in between, and reads the next texts of that shape with the code.
#[test]
fn a_shape_replayed_often_is_compiled() {
    let (program, jit, policy, mut reader) = contact_reader();
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    let text = |i: usize| contact_input(T, &format!("c-{i}"), &[SMS]);
    let refused = contact_input(T, "c-1", &[&SMS.replace("sms", "fax")]);
    // Read 0 is learned; then 65,536 replays, with a refused text now and then (not a
    // replay, and no new shape learned).
    reader
        .bind_json_into(&jit, &text(0), &mut into)
        .expect("read");
    assert!(!reader.replayed());
    let (mut replays, mut i) = (0, 0);
    while replays < 65_535 {
        i += 1;
        if i % 1000 == 0 {
            assert!(reader.bind_json_into(&jit, &refused, &mut into).is_err());
            assert!(!reader.replayed());
        }
        reader
            .bind_json_into(&jit, &text(i), &mut into)
            .expect("read");
        assert!(reader.replayed() && !reader.compiled(), "read {i}");
        replays += 1;
    }
    // The 65,536th replay compiles the shape; the texts after it are read by the code.
    check(
        &program,
        &jit,
        &mut reader,
        policy,
        &text(i + 1),
        &mut into,
        &mut tally,
    );
    assert!(reader.replayed() && !reader.compiled());
    for k in 2..20 {
        check(
            &program,
            &jit,
            &mut reader,
            policy,
            &text(i + k),
            &mut into,
            &mut tally,
        );
        assert!(reader.compiled(), "read {}", i + k);
    }
    // Compiling off drops the code; on again, the replays are counted anew.
    reader.set_compile(false);
    reader.set_compile(true);
    for k in 0..65_536 {
        reader
            .bind_json_into(&jit, &text(k), &mut into)
            .expect("read");
        assert!(reader.replayed() && !reader.compiled(), "replay {k}");
    }
    reader
        .bind_json_into(&jit, &text(0), &mut into)
        .expect("read");
    assert!(reader.compiled());
}

/// What the contact policy reads of its input, and that the strings it does not read (the
/// customer's `id`, the `offer`) are bound as nothing by the reader on every path (scanned,
/// replayed, compiled) and by the reference alike; once a rule reads the id, it is bound.
#[test]
fn strings_no_rule_reads_are_not_bound() {
    use xop_runtime::reads::Reads::{self, All, Nothing};
    let (program, jit, policy, mut reader) = contact_reader();
    let pol = &program.policies[policy];
    let names: Vec<&str> = pol.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["to", "channel", "offer"]);
    // `to`: id, in_service_interaction, messages_7d, tz, consents.
    assert_eq!(
        Reads::of_policy(&program, pol),
        [
            Reads::Fields(vec![Nothing, All, All, All, All].into()),
            All,
            Nothing
        ]
    );
    let input = |id: &str, offer: &str| {
        contact_input(T, id, &[SMS, EMAIL])
            .replace(r#""offer": "o""#, &format!(r#""offer": "{offer}""#))
    };
    let (a, b) = (input("c-1", "o"), input("customer-12345", r#"buy \"now\""#));
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    let mut words = Vec::new();
    for round in 0..3 {
        if round == 2 {
            assert!(reader.compile_now());
        }
        for json in [&a, &b] {
            check(
                &program,
                &jit,
                &mut reader,
                policy,
                json,
                &mut into,
                &mut tally,
            );
            assert_eq!(into.strings(), ["Europe/Paris"], "round {round}");
            words.push(into.words().to_vec());
            // The first text is scanned, then replayed, then read by the compiled shape (the
            // second, with an escape, by the serde path).
            if json == &a {
                assert_eq!(
                    (reader.scanned(), reader.replayed(), reader.compiled()),
                    (true, round > 0, round == 2)
                );
            }
        }
    }
    assert!(words.iter().all(|w| *w == words[0]));
    assert_eq!(tally.accepted, 6);

    // A rule that reads the id: it is bound, as a constant or as one of the input's strings.
    let source = CONTACT.replace(
        r#"  allow "eligible""#,
        "  deny \"blocked\" when c.id == \"c-0\"\n  allow \"eligible\"",
    );
    let program = xop_tests::lower_source("t/contact.xop", &source);
    let jit = xop_runtime::jit::compile(&program);
    let (policy, pol) = program.policy("contact").expect("the policy");
    assert_eq!(
        Reads::of_policy(&program, pol)[0],
        Reads::Fields(vec![All, All, All, All, All].into())
    );
    let mut reader = jit.json_reader(policy).expect("a reader");
    for (json, strings) in [
        (&a, vec!["c-1", "Europe/Paris"]),
        (&input("c-0", "o"), vec!["Europe/Paris"]),
    ] {
        check(
            &program,
            &jit,
            &mut reader,
            policy,
            json,
            &mut into,
            &mut tally,
        );
        assert_eq!(into.strings(), strings);
    }
}

/// Lengths, list elements read in part, optionals and sets: what is read of each, and that
/// the reader binds what the reference binds, on generated inputs too. A set is bound whole
/// even where only its length is read: the reader sorts and deduplicates it by its strings.
#[test]
fn parts_of_lists_and_records_no_rule_reads() {
    use xop_runtime::reads::Reads::{self, All, Elements, Fields, Nothing};
    const SOURCE: &str = r#"module t.reads

use std.consent.service

record Item {
  sku: Text
  note: Text
  qty: Int
}

record Order {
  id: Id
  tags: Set<Text>
  labels: List<Text>
  items: List<Item>
  memo: Text?
}

action place(order: Order, clerk: Id) purpose service risk minimal

policy orders for place(order: o) {
  deny "many-tags" when count(o.tags) > 2
  deny "many-labels" when count(o.labels) > 2
  deny "bulk" when o.items.any(i => i.qty >= 10 and i.sku == "x")
  deny "memo" when o.memo is present
  allow "ok"
}
"#;
    let program = xop_tests::lower_source("t/reads.xop", SOURCE);
    let jit = xop_runtime::jit::compile(&program);
    let (policy, pol) = program.policy("orders").expect("the policy");
    let item = Fields(vec![All, Nothing, All].into());
    assert_eq!(
        Reads::of_policy(&program, pol),
        [
            Fields(vec![Nothing, Nothing, Nothing, Elements(Box::new(item)), All].into()),
            Nothing
        ]
    );
    let mut reader = jit.json_reader(policy).expect("a reader");
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    let input = |tags: &str, memo: &str| {
        format!(
            r#"{{"now": {T}, "order": {{"id": "o-1", "tags": [{tags}], "labels": ["l1", "l2", "l3"], "items": [{{"sku": "x", "note": "fragile", "qty": 12}}, {{"sku": "y", "note": "n", "qty": 1}}], "memo": {memo}}}, "clerk": "agent-7"}}"#
        )
    };
    for json in [
        input(r#""b", "a", "b""#, "null"),
        input(r#""b", "a", "c", "d""#, r#""call first""#),
        input("", "null"),
    ] {
        check(
            &program,
            &jit,
            &mut reader,
            policy,
            &json,
            &mut into,
            &mut tally,
        );
        // Only the tags (a set, bound whole), the items' sku and the memo (whose presence is
        // read, which reads it whole) are bound as strings.
        assert!(
            into.strings()
                .iter()
                .all(|s| ["a", "b", "c", "d", "y", "call first"].contains(&s.as_str())),
            "{:?}",
            into.strings()
        );
    }
    assert_eq!(tally.accepted, 3);
    // Generated inputs, valid and mutated, against the reference.
    let total = check_program(&program, 11, 600);
    assert!(total.accepted > 100, "{total:?}");
}

/// An input that names more distinct zone texts than the reader caches (one name in many
/// letter cases, each a text of its own) goes to the reference path rather than growing the
/// cache, whose look-up is linear: 20,000 of them took 5 s before, against 0.1 s for the
/// interpreter. The next input, with few zones, is read by a fast path again.
#[test]
fn many_distinct_zone_texts_in_one_input_go_to_the_reference() {
    let source = "module t.z\n\nuse std.consent.service\nuse std.time.local_hour\n\n\
                  record Place {\n  tz: Tz\n}\n\n\
                  action act(ps: List<Place>) purpose service risk minimal\n\n\
                  policy p for act(ps: ps) at now {\n  deny \"night\" when any(ps, x => \
                  local_hour(now, x.tz) < 6)\n  allow \"ok\"\n}\n";
    let program = xop_tests::lower_source("t/z.xop", source);
    let jit = xop_runtime::jit::compile(&program);
    let (policy, _) = program.policy("p").expect("the policy");
    let mut reader = jit.json_reader(policy).expect("a reader");
    // "Europe/Paris" with its letters in upper or lower case by the bits of `i`.
    let variant = |i: usize| -> String {
        let mut bit = 0;
        "Europe/Paris"
            .chars()
            .map(|c| {
                if !c.is_ascii_alphabetic() {
                    return c;
                }
                bit += 1;
                if i >> (bit - 1) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let input = |n: usize| {
        let places: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"tz": "{}"}}"#, variant(i)))
            .collect();
        format!(
            r#"{{"now": "2026-11-25T09:00:00Z", "ps": [{}]}}"#,
            places.join(", ")
        )
    };
    let mut into = Bound::empty();
    let mut tally = Tally::default();
    for (n, fell_back) in [(3, false), (200, true), (3, false), (40, false)] {
        check(
            &program,
            &jit,
            &mut reader,
            policy,
            &input(n),
            &mut into,
            &mut tally,
        );
        assert_eq!(reader.fell_back(), fell_back, "{n} zone texts");
    }
    assert_eq!(tally.accepted, 4);
}
