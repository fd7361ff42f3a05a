//! Decimal arithmetic is exact or fails (docs/language.md §6.1): `+ - *` on Decimal and Money
//! give the exact result or a run-time error, never a rounded value; `/` rounds to the nearest
//! Decimal at the finest scale that fits (28 digits after the point, a 96-bit mantissa), ties to
//! even, and a quotient that is not 0 never rounds to 0.
//!
//! Checked against an oracle computed with i128 where the exact result fits one, and the JIT
//! against the interpreter on the policies of `tests/conformance/exact_decimals` (same verdict,
//! reasons, rules and error text).

use std::path::Path;

use proptest::prelude::*;
use xop_runtime::interp::{self, NoSignals};
use xop_runtime::ir::{ArithOp, Program};
use xop_runtime::value::Value;

/// The largest mantissa of a Decimal, 2^96 - 1.
const MAX: i128 = (1 << 96) - 1;

/// The text of `m * 10^-s` (any i128, any scale).
fn text(m: i128, s: u32) -> String {
    let digits = m.unsigned_abs().to_string();
    let s = s as usize;
    let padded = format!("{digits:0>width$}", width = s + 1);
    let (int, frac) = padded.split_at(padded.len() - s);
    let sign = if m < 0 { "-" } else { "" };
    if s == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// The Decimal `m * 10^-s` (`|m| <= MAX`, `s <= 28`). The runtime's values are built from text,
/// as an input is.
fn decimal(m: i128, s: u32) -> Value {
    serde_json::from_value(serde_json::json!({ "Decimal": text(m, s) })).expect("a Decimal")
}

/// `m * 10^-s` without the trailing zeros after the point.
fn normal((mut m, mut s): (i128, u32)) -> (i128, u32) {
    while s > 0 && m % 10 == 0 {
        m /= 10;
        s -= 1;
    }
    (m, s)
}

/// The Decimal of an exact result, if one holds it exactly.
fn representable(exact: (i128, u32)) -> Option<Value> {
    let (m, s) = normal(exact);
    (s <= 28 && m.abs() <= MAX).then(|| decimal(m, s))
}

/// A Decimal's mantissa: small, mid-sized, up to 96 bits, near the largest, or with trailing
/// zeros; and a scale, often near 28.
fn operand() -> impl Strategy<Value = (i128, u32)> {
    let mantissa = prop_oneof![
        -1_000i128..1_000,
        -1_000_000_000_000i128..1_000_000_000_000,
        -10_000_000_000_000_000_000i128..10_000_000_000_000_000_000,
        -MAX..=MAX,
        (0i128..1_000).prop_map(|d| MAX - d),
        (-1_000i128..1_000, 0u32..26).prop_map(|(m, k)| m * 10i128.pow(k)),
    ];
    let scale = prop_oneof![0u32..=28, 24u32..=28, 12u32..=16];
    (mantissa, scale)
}

/// What `interp::arith` must answer for `x op y` when the exact result is known: the result if a
/// Decimal holds it, else an error (an overflow, or one that names the exact value).
fn check_exact(x: &Value, op: ArithOp, y: &Value, exact: (i128, u32)) -> Result<(), TestCaseError> {
    let got = interp::arith(op, x.clone(), y.clone());
    match representable(exact) {
        Some(want) => prop_assert_eq!(got, Ok(want), "{:?} {:?} {:?}", x, op, y),
        None => {
            let Err(e) = got else {
                return Err(TestCaseError::fail(format!(
                    "{x:?} {op:?} {y:?} = {got:?}, but the exact result is {}",
                    text(exact.0, exact.1)
                )));
            };
            let (m, s) = normal(exact);
            let named = format!("= {} cannot be represented exactly", text(m, s));
            prop_assert!(
                e.ends_with(" overflows") || e.contains(&named),
                "{} does not say {}",
                e,
                named
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// `x + y` and `x - y` are the exact sum or fail.
    #[test]
    fn sums_are_exact_or_fail(a in operand(), b in operand(), sub in any::<bool>()) {
        let (x, y) = (decimal(a.0, a.1), decimal(b.0, b.1));
        let op = if sub { ArithOp::Sub } else { ArithOp::Add };
        let s = a.1.max(b.1);
        let scaled = |(m, t): (i128, u32)| m.checked_mul(10i128.pow(s - t));
        let exact = scaled(a).zip(scaled(b)).and_then(|(p, q)| {
            if sub { p.checked_sub(q) } else { p.checked_add(q) }
        });
        match exact {
            Some(m) => check_exact(&x, op, &y, (m, s))?,
            // Beyond i128: a result must give back `x` when `y` is taken back off.
            None => {
                if let Ok(r) = interp::arith(op, x.clone(), y.clone()) {
                    let back = if sub { ArithOp::Add } else { ArithOp::Sub };
                    prop_assert_eq!(interp::arith(back, r, y.clone()), Ok(x));
                }
            }
        }
    }

    /// `x * y` is the exact product or fails.
    #[test]
    fn products_are_exact_or_fail(a in operand(), b in operand()) {
        let (x, y) = (decimal(a.0, a.1), decimal(b.0, b.1));
        match a.0.checked_mul(b.0) {
            Some(m) => check_exact(&x, ArithOp::Mul, &y, (m, a.1 + b.1))?,
            // Beyond i128: a product must give back `x` when divided by `y`.
            None => {
                if let Ok(r) = interp::arith(ArithOp::Mul, x.clone(), y.clone()) {
                    prop_assert_eq!(interp::arith(ArithOp::Div, r, y), Ok(x));
                }
            }
        }
    }

    /// Money arithmetic is the Decimal arithmetic of the amounts, in the one currency: exact or
    /// failing alike, with the same message.
    #[test]
    fn money_is_decimal_arithmetic(
        a in operand(),
        b in operand(),
        n in any::<i64>(),
        which in 0..6u8,
    ) {
        let (x, y) = (decimal(a.0, a.1), decimal(b.0, b.1));
        let eur = |v: &Value| match v {
            Value::Decimal(d) => Value::Money(*d, "EUR".into()),
            other => panic!("not a Decimal: {other:?}"),
        };
        let int = decimal(i128::from(n), 0);
        // The operator, the Money operation's right operand and the Decimal operation's.
        let (op, money_y, dec_y) = match which {
            0 => (ArithOp::Add, eur(&y), y.clone()),
            1 => (ArithOp::Sub, eur(&y), y.clone()),
            2 => (ArithOp::Mul, y.clone(), y.clone()),
            3 => (ArithOp::Mul, Value::Int(n), int),
            4 => (ArithOp::Div, y.clone(), y.clone()),
            _ => (ArithOp::Div, Value::Int(n), int),
        };
        let money = interp::arith(op, eur(&x), money_y);
        let dec = interp::arith(op, x.clone(), dec_y).map(|d| eur(&d));
        prop_assert_eq!(money, dec, "{:?}", op);
    }

    /// `x / y` is the nearest Decimal at the finest scale that holds it, ties to even, and not 0
    /// unless `x` is: checked exactly for a dividend below 10^6 and a divisor below 10^6 at a
    /// scale up to 3, where `x * 10^(28 + 3)` fits an i128.
    #[test]
    fn quotients_round_half_to_even(
        ma in -999_999i128..=999_999,
        sa in 0u32..=28,
        mb in prop_oneof![1i128..=999_999, -999_999i128..=-1],
        sb in 0u32..=3,
    ) {
        let (x, y) = (decimal(ma, sa), decimal(mb, sb));
        let got = interp::arith(ArithOp::Div, x.clone(), y.clone());
        // |x / y| * 10^s = |ma| * 10^(sb + s) / (|mb| * 10^sa), rounded half to even.
        let den = mb.abs() * 10i128.pow(sa);
        let rounded = |s: u32| {
            let num = ma.abs() * 10i128.pow(sb + s);
            let (q, r) = (num / den, num % den);
            q + i128::from(2 * r > den || (2 * r == den && q % 2 == 1))
        };
        let (q, s) = (0..=28)
            .rev()
            .map(|s| (rounded(s), s))
            .find(|&(q, _)| q <= MAX)
            .expect("|x / y| < 10^9 fits at scale 0");
        if ma != 0 && q == 0 {
            prop_assert_eq!(
                got,
                Err(format!(
                    "{} / {} cannot be represented: the quotient is not 0 but rounds to 0 (a \
                     Decimal has at most 28 digits after the point)",
                    text(ma, sa),
                    text(mb, sb)
                ))
            );
        } else {
            let sign = if (ma < 0) != (mb < 0) { -1 } else { 1 };
            let want = decimal(sign * q, s);
            prop_assert_eq!(&got, &Ok(want), "{:?} / {:?}", x, y);
        }
    }
}

/// The policies of the conformance scenario on exact decimals, lowered.
fn scenario() -> Program {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/exact_decimals");
    let path = dir.join("exact_decimals.xop");
    let source = std::fs::read_to_string(&path).expect("the scenario's source");
    xop_tests::lower_source(&path.display().to_string(), &source)
}

/// A decimal operand as the JSON text of an input.
fn json_text(m: i128, s: u32) -> serde_json::Value {
    serde_json::Value::String(text(m, s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// The JIT decides like the interpreter, errors and their text included, on operands near
    /// the limits of a Decimal.
    #[test]
    fn jit_and_interpreter_agree_on_decimal_limits(
        a in operand(),
        b in operand(),
        q in operand(),
        int_q in any::<bool>(),
    ) {
        thread_local! {
            static COMPILED: (Program, xop_runtime::jit::JitModule) = {
                let p = scenario();
                let jit = xop_runtime::jit::compile(&p);
                (p, jit)
            };
        }
        let (a, b) = (json_text(a.0, a.1), json_text(b.0, b.1));
        let q = if int_q { json_text(q.0 % 10, 0) } else { json_text(q.0, q.1) };
        let inputs = [
            serde_json::json!({"a": a, "b": b, "q": q}),
            serde_json::json!({
                "amount": format!("{} EUR", a.as_str().unwrap_or_default()),
                "rate": b,
                "limit": format!("{} EUR", q.as_str().unwrap_or_default()),
            }),
        ];
        COMPILED.with(|(p, jit)| {
            for (i, policy) in p.policies.iter().enumerate() {
                let measure = policy.action.ends_with("measure");
                let input = &inputs[usize::from(!measure)];
                let bound = xop_runtime::bind::bind_json(p, i, &input.to_string())
                    .expect("decimal operands bind");
                let want = interp::decide(p, i, &bound.args, 0, &NoSignals);
                let got = jit.decide(i, &bound.args, 0);
                prop_assert_eq!(got, Some(want), "{} on {}", &policy.qualified, input);
            }
            Ok(())
        })?;
    }
}

/// The scenario's policies are all compiled by the JIT (else the comparison above and the
/// conformance cases would test the interpreter alone).
#[test]
fn the_jit_compiles_the_scenario() {
    let p = scenario();
    let jit = xop_runtime::jit::compile(&p);
    assert_eq!(p.policies.len(), 4);
    for i in 0..p.policies.len() {
        assert!(jit.unsupported(i).is_none(), "{}", p.policies[i].qualified);
    }
}
