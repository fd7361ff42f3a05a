//! What the binder refuses that it once read another way, decided by both engines from JSON
//! text: the reference path (`bind::bind_json`, then the interpreter) and the JIT's (its
//! `JsonReader`, then the compiled code) must give the same decision, the one runtime.md
//! ("Input JSON") promises:
//!
//! - a parameter named `now` or `signals`, the input's own keys (a module built without the
//!   compiler's E0221), refuses every input, on every binding path, rather than take the key;
//! - a number JSON cannot read at all (`1e400`, a 401-digit integer) is refused at its path as
//!   `out-of-range`, not as malformed JSON without a path;
//! - a channel (purpose) short name two modules declare is named ambiguous, with both
//!   qualified names, not unknown;
//! - money text takes a plain decimal amount only: no exponent, no `+`.

mod support;

use serde_json::json;
use xop_runtime::bind::{self, BindErrorKind, Readers};
use xop_runtime::ir::build::{cmp, program, rule, slot};
use xop_runtime::ir::{
    CmpOp, DecisionDef, Expr, Program, RecordType, Symbol, SymbolKind, Type, Verdict,
};
use xop_runtime::jit;
use xop_runtime::value::Value;

use support::json_decisions::{decide, reference, refused};

/// `deny "late" when a0 > a1` over two times, else allow; parameter 0 renamed `name`.
fn times_named(name: &str) -> Program {
    let mut p = program(
        vec![Type::Time, Type::Time],
        vec![
            rule(
                1,
                Verdict::Deny,
                "late",
                Some(cmp(CmpOp::Gt, slot(0), slot(1))),
            ),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    p.policies[0].params[0].name = name.into();
    p
}

#[test]
fn a_parameter_named_like_an_input_key_refuses_every_input() {
    for (name, what) in [
        ("now", "the decision time"),
        ("signals", "the signal values"),
    ] {
        let p = times_named(name);
        let want = format!(
            "{name}: policy p has a parameter named \"{name}\", the input's own key for {what}, \
             so no input can say which it gives; the compiler refuses such a parameter (E0221): \
             rename it in the sources and build the module again"
        );
        for text in [
            // The key given: once read as the parameter, the decision time then the clock's.
            format!(r#"{{"{name}": "2026-11-25T22:00:00Z", "a1": "2026-11-25T12:00:00Z"}}"#),
            // Without it, and with the other reserved key.
            r#"{"a1": "2026-11-25T12:00:00Z"}"#.to_string(),
            r#"{"a1": "2026-11-25T12:00:00Z", "now": "2026-11-25T12:00:00Z", "signals": {}}"#
                .to_string(),
            // Not even an object.
            "[]".to_string(),
        ] {
            let d = reference(&p, &text);
            assert_eq!(refused(&d), want, "{text}");
            let e = bind::bind_json(&p, 0, &text).unwrap_err();
            assert_eq!(
                (e.kind, e.path.as_str()),
                (BindErrorKind::ReservedName, name)
            );
            assert_eq!(e.kind.as_str(), "reserved-name");
        }
        // The JIT's JSON reader reads no input for it: there is none to make, and `xop eval
        // --engine jit` takes the reference path, which refuses it as above.
        let module = jit::compile(&p);
        let Err(why) = module.json_reader(0) else {
            panic!("a JSON reader for a parameter named {name}");
        };
        assert!(
            why.contains(&format!("named \"{name}\"")) && why.contains("E0221"),
            "{why}"
        );
        // The Rust-value paths bind through the same check.
        let value = json!({ name: "2026-11-25T22:00:00Z", "a1": "2026-11-25T12:00:00Z" });
        for e in [
            bind::bind_value(&p, 0, &value).unwrap_err(),
            bind::bind_value_at(&p, 0, &value, 0).unwrap_err(),
            bind::bind_serde(&p, 0, &value).unwrap_err(),
            bind::bind_json_bytes(&p, 0, value.to_string().as_bytes()).unwrap_err(),
        ] {
            assert_eq!(e.to_string(), want);
        }
    }
    // So does a decision's input.
    let mut p = times_named("a0");
    p.decisions.push(DecisionDef {
        name: "best".into(),
        qualified: "t.best".into(),
        params: p.policies[0].params.clone(),
        now_slot: None,
        slots: 2,
        proposals: Vec::new(),
    });
    p.decisions[0].params[1].name = "signals".into();
    let e = bind::bind_decision_json(&p, 0, r#"{"a0": "2026-11-25T12:00:00Z", "signals": {}}"#)
        .unwrap_err();
    assert_eq!(
        (e.kind, e.path.as_str()),
        (BindErrorKind::ReservedName, "signals")
    );
    assert!(
        e.message
            .starts_with("decision best has a parameter named \"signals\""),
        "{e}"
    );
    // Other parameters: `now` is the decision time, as before.
    let p = times_named("a0");
    let b = bind::bind_json(
        &p,
        0,
        r#"{"a0": "2026-11-25T12:00:00Z", "a1": "2026-11-25T12:00:00Z", "now": "1970-01-01T00:00:01Z"}"#,
    )
    .unwrap();
    assert_eq!(b.now_ms, Some(1000));
}

#[test]
fn numbers_json_cannot_read_are_refused_at_their_path() {
    // A record `R { n: Int  d: Decimal }` in a list: `a0: List<R>`, and `a1: Int`.
    let mut p = program(
        vec![Type::List(Box::new(Type::Record(0))), Type::Int],
        vec![rule(1, Verdict::Allow, "ok", None)],
    );
    p.records.push(RecordType {
        name: "t.R".into(),
        fields: ["n", "d"]
            .into_iter()
            .zip([Type::Int, Type::Decimal])
            .map(|(name, ty)| xop_runtime::ir::Field {
                name: name.into(),
                ty,
                personal: false,
            })
            .collect(),
    });
    let digits = format!("1{}", "0".repeat(400));
    const WHAT: &str = "is beyond every number type (an Int has 64 bits, a Decimal 28 to 29 \
                        significant digits) and beyond what JSON reads (about ±1.8e308); write a \
                        number its type holds";
    for (number, quoted) in [
        ("1e400", "1e400"),
        ("-1e400", "-1e400"),
        ("1.5E+309", "1.5E+309"),
        (
            digits.as_str(),
            "100000000000000000000000… (401 characters)",
        ),
    ] {
        for (text, path) in [
            (format!(r#"{{"a0": [], "a1": {number}}}"#), "a1"),
            (
                format!(
                    r#"{{"a0": [{{"n": 1, "d": "1"}}, {{"n": {number}, "d": "1"}}], "a1": 1}}"#
                ),
                "a0[1].n",
            ),
            (
                format!(r#"{{"a1": 1, "a0": [{{"n": 1, "d": {number}}}]}}"#),
                "a0[0].d",
            ),
            // An element itself (of the wrong type too: the number is refused first).
            (
                format!(r#"{{"a1": 1, "a0": [{{"n": 1, "d": "1"}}, {number}]}}"#),
                "a0[1]",
            ),
        ] {
            let want = format!("{path}: the number {quoted} {WHAT}");
            assert_eq!(refused(&decide(&p, &text)), want, "{text}");
            // Every reader of JSON text says it so, whether or not it checks numbers further.
            for e in [
                bind::parse_input(&text).unwrap_err(),
                bind::parse_json(&text).unwrap_err(),
                bind::parse_json_bytes(text.as_bytes()).unwrap_err(),
                bind::bind_json_bytes(&p, 0, text.as_bytes()).unwrap_err(),
                bind::inexact_numbers(&text, Readers::Every).unwrap_err(),
            ] {
                assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, path));
                assert_eq!(e.to_string(), want);
                // The proof record keeps the message without the number.
                assert_eq!(e.redacted, format!("the number {WHAT}"));
            }
        }
    }
    // The whole text one such number: the input itself.
    let e = bind::parse_json("1e400").unwrap_err();
    assert_eq!(
        (e.kind, e.to_string()),
        (
            BindErrorKind::OutOfRange,
            format!("input: the number 1e400 {WHAT}")
        )
    );
    // Other invalid JSON is malformed, as before.
    let e = bind::parse_json(r#"{"a0": [1e5,]}"#).unwrap_err();
    assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::Malformed, ""));
}

/// `deny "wa" when a0 == <symbol 1>`, else allow, over a channel; the program declares `sms`
/// (std), `whatsapp` in two modules, and `push` in the standard library and one module.
fn channels() -> Program {
    let mut p = program(
        vec![Type::Symbol(SymbolKind::Channel)],
        vec![
            rule(
                1,
                Verdict::Deny,
                "wa",
                Some(cmp(CmpOp::Eq, slot(0), Expr::Const(Value::Symbol(1)))),
            ),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    for (kind, qualified) in [
        (SymbolKind::Channel, "std.channel.sms"),
        (SymbolKind::Channel, "qa.cha.whatsapp"),
        (SymbolKind::Channel, "qa.chb.whatsapp"),
        (SymbolKind::Channel, "std.channel.push"),
        (SymbolKind::Channel, "qa.cha.push"),
        (SymbolKind::Purpose, "qa.cha.whatsapp"),
    ] {
        let name = qualified.rsplit('.').next().unwrap_or(qualified);
        p.symbols.push(Symbol {
            kind,
            name: name.into(),
            qualified: qualified.into(),
        });
    }
    p
}

#[test]
fn a_short_name_two_modules_declare_is_ambiguous() {
    let p = channels();
    let d = decide(&p, r#"{"a0": "whatsapp"}"#);
    assert_eq!(
        refused(&d),
        "a0: the channel name \"whatsapp\" could mean qa.cha.whatsapp or qa.chb.whatsapp: give \
         its qualified name"
    );
    let e = bind::bind_json(&p, 0, r#"{"a0": "whatsapp"}"#).unwrap_err();
    assert_eq!(e.kind, BindErrorKind::UnknownEnumValue);
    assert_eq!(
        e.redacted,
        "the channel name could mean qa.cha.whatsapp or qa.chb.whatsapp: give its qualified name"
    );
    // Each qualified name is read; the project's own `push` is meant before the standard
    // library's; a name no symbol has is unknown, as before.
    assert_eq!(decide(&p, r#"{"a0": "qa.cha.whatsapp"}"#).reasons, ["wa"]);
    assert_eq!(decide(&p, r#"{"a0": "qa.chb.whatsapp"}"#).reasons, ["ok"]);
    let b = bind::bind_json(&p, 0, r#"{"a0": "push"}"#).unwrap();
    assert_eq!(b.args, [Value::Symbol(4)]);
    let d = decide(&p, r#"{"a0": "fax"}"#);
    assert!(
        refused(&d).starts_with("a0: unknown channel \"fax\"; known: sms, "),
        "{d:?}"
    );
    // A purpose of that name does not make the channel ambiguous, nor the other way round.
    let mut p = channels();
    p.policies[0].params[0].ty = Type::Symbol(SymbolKind::Purpose);
    let b = bind::bind_json(&p, 0, r#"{"a0": "whatsapp"}"#).unwrap();
    assert_eq!(b.args, [Value::Symbol(5)]);
    // Two purposes of one short name are ambiguous the same way.
    p.symbols.push(Symbol {
        kind: SymbolKind::Purpose,
        name: "whatsapp".into(),
        qualified: "qa.chb.whatsapp".into(),
    });
    let e = bind::bind_json(&p, 0, r#"{"a0": "whatsapp"}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a0: the purpose name \"whatsapp\" could mean qa.cha.whatsapp or qa.chb.whatsapp: give \
         its qualified name"
    );
}

#[test]
fn money_text_takes_a_plain_decimal_amount() {
    // deny "big" when a0 >= 100 EUR, else allow; a1 a Decimal.
    let p = program(
        vec![Type::Money, Type::Decimal],
        vec![
            rule(
                1,
                Verdict::Deny,
                "big",
                Some(cmp(
                    CmpOp::Ge,
                    slot(0),
                    Expr::Const(Value::Money(100.into(), "EUR".into())),
                )),
            ),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    const FORM: &str =
        "digits, optionally a point and digits, optionally a leading -: no exponent, no +";
    for amount in [
        "1e2", "+1e2", "+100", "1E2", "1.0e2", "100e0", "1e-2", "1.", ".5", "-",
    ] {
        let text = format!(r#"{{"a0": "{amount} EUR", "a1": "1"}}"#);
        let d = decide(&p, &text);
        assert_eq!(
            refused(&d),
            format!(
                "a0: expected money like \"12.50 EUR\" ({FORM}), found \"{amount} EUR\", whose \
                 amount is no decimal number"
            ),
            "{text}"
        );
        let e = bind::bind_json(&p, 0, &text).unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::Malformed, "a0"));
    }
    for (amount, reason) in [
        ("100", "big"),
        ("99.99", "ok"),
        ("-3", "ok"),
        ("100.00", "big"),
    ] {
        let text = format!(r#"{{"a0": "{amount} EUR", "a1": "1"}}"#);
        assert_eq!(decide(&p, &text).reasons, [reason], "{text}");
    }
    // A Decimal, and the amount of money given as an object (a Decimal), keep the forms
    // runtime.md gives them: a JSON number's (an exponent too), as text or as a number.
    for text in [
        r#"{"a0": {"amount": "1e2", "currency": "EUR"}, "a1": "1e2"}"#,
        r#"{"a0": {"amount": 1e2, "currency": "EUR"}, "a1": 1e2}"#,
    ] {
        let d = decide(&p, text);
        assert_eq!(d.reasons, ["big"], "{text}");
        let b = bind::bind_json(&p, 0, text).unwrap();
        assert_eq!(b.args[1], Value::Decimal(100.into()));
    }
}
