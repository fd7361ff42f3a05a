//! Inputs at the edges of what a type holds, decided by both engines from JSON text: the
//! reference path (`bind::bind_json`, then the interpreter) and the JIT's (its `JsonReader`,
//! then the compiled code) must give the same decision, and the one the docs promise: a number
//! a Decimal cannot hold that JSON reads as another number (`1e-400` as 0) is refused at its
//! path, quoting it; a zero written as a float for an Int is named as read, not as a negative
//! zero; jiff's special `Etc/Unknown` zone and tzdb's `Factory` placeholder are refused like
//! any name that is no zone, also as values; the last second XOP holds (to
//! 9999-12-30T22:00:00.999Z) has a local hour and weekday; trailing zeros of a fraction make
//! no decimal inexact.

mod support;

use xop_runtime::bind::{self, BindErrorKind};
use xop_runtime::interp::{self, Decision, NoSignals};
use xop_runtime::ir::build::{cmp, program, rule, slot};
use xop_runtime::ir::{CmpOp, Expr, Intrinsic, Program, Type, Verdict};
use xop_runtime::jit::{self, Bound};
use xop_runtime::value::Value;

use support::json_decisions::{decide, refused};

const LIMITS: &str = "at most 28 digits after the point and 28 to 29 significant digits";

#[test]
fn tiny_decimal_and_money_numbers_are_refused_as_written() {
    // deny "zero" when a0 == 0, else allow: a number read as 0 would be denied as zero.
    let zero = Expr::Const(Value::Decimal(0.into()));
    let p = program(
        vec![Type::Decimal, Type::Money],
        vec![
            rule(
                1,
                Verdict::Deny,
                "zero",
                Some(cmp(CmpOp::Eq, slot(0), zero)),
            ),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    for (tiny, read) in [
        ("1e-400", "0.0"),
        ("1e-324", "0.0"),
        ("-1e-400", "-0.0"),
        ("1e-1000", "0.0"),
        ("3e-324", "5e-324"),
    ] {
        for (text, path) in [
            (format!(r#"{{"a0": {tiny}, "a1": "1 EUR"}}"#), "a0"),
            (
                format!(r#"{{"a0": 1, "a1": {{"amount": {tiny}, "currency": "EUR"}}}}"#),
                "a1.amount",
            ),
        ] {
            let d = decide(&p, &text);
            assert_eq!(
                refused(&d),
                format!(
                    "{path}: the number {tiny} is more than a Decimal holds ({LIMITS}), and JSON \
                     reads it rounded, as {read}; write a number a Decimal holds"
                ),
                "{text}"
            );
            let e = bind::bind_json(&p, 0, &text).unwrap_err();
            assert_eq!(e.kind, BindErrorKind::OutOfRange);
        }
    }
    // The smallest numbers JSON reads as written are refused by the type, as before.
    for small in ["1e-29", "1e-323"] {
        let d = decide(&p, &format!(r#"{{"a0": {small}, "a1": "1 EUR"}}"#));
        assert_eq!(
            refused(&d),
            format!("a0: {small} is more than a Decimal holds ({LIMITS})")
        );
    }
    // A real zero is decided on.
    let d = decide(
        &p,
        r#"{"a0": 0.0, "a1": {"amount": 0e0, "currency": "EUR"}}"#,
    );
    assert_eq!(d.reasons, ["zero"]);
}

#[test]
fn a_float_zero_for_an_int_is_no_negative_zero() {
    let p = program(vec![Type::Int], vec![rule(1, Verdict::Allow, "ok", None)]);
    for n in ["0.0", "0e0", "0E5", "0.00"] {
        let d = decide(&p, &format!(r#"{{"a0": {n}}}"#));
        // Quoted as written (`bind_json` has the text).
        assert_eq!(
            refused(&d),
            format!("a0: expected an integer, found {n}"),
            "{n}"
        );
    }
    for n in ["-0", "-0.0"] {
        let d = decide(&p, &format!(r#"{{"a0": {n}}}"#));
        assert_eq!(
            refused(&d),
            "a0: expected an integer, found a negative zero; write 0",
            "{n}"
        );
    }
    let d = decide(&p, r#"{"a0": 1.0}"#);
    assert_eq!(refused(&d), "a0: expected an integer, found 1.0");
    assert_eq!(decide(&p, r#"{"a0": 0}"#).reasons, ["ok"]);
}

/// `deny "h{h}" when local_hour(now, a0) == h` for the hours asked, `deny "d{d}"` for the
/// weekdays, and `allow "other"`: the reasons of a deny name the fields.
fn clock(hours: &[i64], days: &[i64]) -> Program {
    let field = |f: Intrinsic, n: i64, reason: String| {
        let call = Expr::Intrinsic(f, vec![slot(1), slot(0)]);
        (reason, cmp(CmpOp::Eq, call, Expr::Const(Value::Int(n))))
    };
    let fields = (hours
        .iter()
        .map(|&h| field(Intrinsic::LocalHour, h, format!("h{h}"))))
    .chain(
        days.iter()
            .map(|&d| field(Intrinsic::DayOfWeek, d, format!("d{d}"))),
    );
    let mut rules: Vec<_> = fields
        .enumerate()
        .map(|(i, (reason, when))| rule(i + 1, Verdict::Deny, &reason, Some(when)))
        .collect();
    rules.push(rule(rules.len() + 1, Verdict::Allow, "other", None));
    let mut p = program(vec![Type::Tz], rules);
    p.policies[0].slots = 2;
    p.policies[0].now_slot = Some(1);
    p
}

#[test]
fn etc_unknown_is_refused_like_any_name_that_is_no_zone() {
    let p = clock(&[12], &[]);
    for zone in [
        "Etc/Unknown",
        "etc/unknown",
        "Nope/Zone",
        // tzdb's placeholder for "local time unknown", whose offset is made up.
        "Factory",
        "factory",
        "FACTORY",
    ] {
        let d = decide(
            &p,
            &format!(r#"{{"a0": "{zone}", "now": "2026-07-01T12:00:00Z"}}"#),
        );
        assert_eq!(
            refused(&d),
            format!("a0: expected an IANA time zone name like \"Europe/Paris\", found \"{zone}\"")
        );
        let e = bind::bind_json(&p, 0, &format!(r#"{{"a0": "{zone}"}}"#)).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::Malformed);
        assert!(!e.redacted.contains(zone), "{}", e.redacted);
    }
    let d = decide(&p, r#"{"a0": "Etc/UTC", "now": "2026-07-01T12:00:00Z"}"#);
    assert_eq!(d.reasons, ["h12"]);
}

#[test]
fn the_last_second_xop_holds_has_a_local_hour_and_weekday() {
    // 9999-12-30 is a Thursday (4); in Kiritimati (+14) it is Friday noon.
    let p = clock(&[22, 12], &[4, 5]);
    for ms in ["", ".500", ".999"] {
        for (zone, want) in [
            ("UTC", ["h22", "d4"]),
            ("Pacific/Kiritimati", ["h12", "d5"]),
        ] {
            let text = format!(r#"{{"a0": "{zone}", "now": "9999-12-30T22:00:00{ms}Z"}}"#);
            let d = decide(&p, &text);
            assert_eq!(
                (d.verdict, d.error.as_deref()),
                (Verdict::Deny, None),
                "{text}"
            );
            assert_eq!(d.reasons, want, "{text}");
        }
    }
    // The next second is past what a time holds: refused when bound, on both engines.
    let d = decide(&p, r#"{"a0": "UTC", "now": "9999-12-30T22:00:01Z"}"#);
    assert!(refused(&d).contains("the last time XOP can hold"), "{d:?}");
}

/// The decisions of both engines on `args` given as values (not JSON), which must agree.
fn decide_values(p: &Program, args: &[Value], now: i64) -> Decision {
    let module = jit::compile(p);
    assert_eq!(module.unsupported(0), None, "the JIT compiles the policy");
    let want = interp::decide(p, 0, args, now, &NoSignals);
    assert_eq!(
        module.decide(0, args, now),
        Some(want.clone()),
        "{args:?}: the engines disagree"
    );
    want
}

/// A zone given as a value is held to the test JSON input is: `Factory` is no zone, in any
/// case, also after the engines have looked real zones up.
#[test]
fn factory_is_no_zone_as_a_value_either() {
    let p = clock(&[12], &[]);
    let noon = 1_782_907_200_000; // 2026-07-01T12:00:00Z
    let tz = |s: &str| Value::Tz(s.into());
    assert_eq!(decide_values(&p, &[tz("UTC")], noon).reasons, ["h12"]);
    for zone in ["Factory", "factory", "Etc/Unknown"] {
        for _ in 0..2 {
            let d = decide_values(&p, &[tz(zone)], noon);
            assert_eq!(
                refused(&d),
                format!("policy t.p: argument 1 (`a0`): unknown time zone \"{zone}\"")
            );
        }
    }
    // The JIT's JSON reader, one reader for several inputs: a zone it has looked up before
    // does not let `Factory` through.
    let module = jit::compile(&p);
    let mut reader = module.json_reader(0).expect("a reader");
    for (zone, ok) in [
        ("UTC", true),
        ("Factory", false),
        ("UTC", true),
        ("factory", false),
    ] {
        let mut bound = Bound::empty();
        let text = format!(r#"{{"a0": "{zone}", "now": "2026-07-01T12:00:00Z"}}"#);
        let read = reader.bind_json_into(&module, &text, &mut bound);
        assert_eq!(read.is_ok(), ok, "{zone}");
    }
}

/// A decimal with more zeros after the point than a Decimal holds digits is read, not refused,
/// by both engines, as a number or as a string, at the finest scale that holds it; what no
/// Decimal holds is still refused.
#[test]
fn trailing_zeros_make_no_decimal_inexact() {
    let limit = "9999999999999999999999999999";
    // deny "big" when a0 >= 9999999999999999999999999999, else allow.
    let p = program(
        vec![Type::Decimal],
        vec![
            rule(
                1,
                Verdict::Deny,
                "big",
                Some(cmp(
                    CmpOp::Ge,
                    slot(0),
                    Expr::Const(Value::Decimal(limit.parse().unwrap())),
                )),
            ),
            rule(2, Verdict::Allow, "ok", None),
        ],
    );
    for (text, reason) in [
        (format!("{limit}.0"), "big"),
        (format!("{limit}.000"), "big"),
        ("1.00000000000000000000000000000".to_string(), "ok"),
        ("10000000000000000000000000000".to_string(), "big"),
    ] {
        let json = format!(r#"{{"a0": "{text}"}}"#);
        assert_eq!(decide(&p, &json).reasons, [reason], "{json}");
    }
    // As a JSON number too, where JSON reads it as written.
    let d = decide(&p, r#"{"a0": 1.00000000000000000000000000000}"#);
    assert_eq!(d.reasons, ["ok"]);
    let one = bind::exact_decimal("1.00000000000000000000000000000").unwrap();
    assert_eq!((one, one.scale()), (1.into(), 28));
    let big = bind::exact_decimal(&format!("{limit}.0")).unwrap();
    assert_eq!((big.to_string().as_str(), big.scale()), (limit, 0));
    for text in [
        "79228162514264337593543950336.0",
        "9999999999999999999999999999.5",
        "1.000000000000000000000000000001",
    ] {
        let d = decide(&p, &format!(r#"{{"a0": "{text}"}}"#));
        assert!(refused(&d).starts_with("a0: "), "{text}");
        assert_eq!(bind::exact_decimal(text), None, "{text}");
    }
}
