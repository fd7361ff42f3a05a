//! Operator precedence below `not`: comparisons, ranges, `??` and arithmetic.
//!
//! The grammar reads these operators flat, operands and operators in the order written
//! ([`Part`]), and [`group`] builds the tree by precedence (docs/language.md §7.1). Written as
//! one grammar level per precedence, an LR parser reduces a unit rule at every level for every
//! operand (`x` is a unary, a product, a sum, a `??`, a range, then a comparison); read flat, an
//! operand costs one reduction. The trees are the ones the levels would build, with the same
//! spans. The two levels without associativity, comparisons (with `is absent` and `is present`)
//! and ranges, do not chain: `a < b < c` is reported ([`Chained`]) where the second operator
//! stands, and the whole sequence becomes [`ExprKind::Error`] so that no later phase reports
//! it again.

use crate::ast::{BinOp, Expr, ExprKind};
use crate::span::Span;

/// An operator between two operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A binary operator: a comparison, `in`, `not in`, `??`, `+`, `-`, `*`, `/`, `%`.
    Bin(BinOp),
    /// `..` (`false`) or `..=` (`true`).
    Range(bool),
}

/// One element of a flat operator sequence, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// An operand (a unary expression or tighter).
    Operand(Expr),
    /// An operator and where it is written.
    Op(Op, Span),
    /// `is present` (`true`) or `is absent` (`false`), from `is` to the last word.
    Is(bool, Span),
}

/// Two operators of one level without associativity, one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chained {
    /// The second operator.
    pub span: Span,
    /// `true` for ranges, `false` for comparisons.
    pub ranges: bool,
}

/// The comparison level: comparisons, `in`, `not in`, `is absent`, `is present`.
const COMPARE: u8 = 1;
/// The range level: `..`, `..=`.
const RANGE: u8 = 2;

/// How tightly `op` binds: 1 (comparisons) to 5 (`*`, `/`, `%`).
fn level(op: Op) -> u8 {
    match op {
        Op::Range(_) => RANGE,
        Op::Bin(BinOp::Default) => 3,
        Op::Bin(BinOp::Add | BinOp::Sub) => 4,
        Op::Bin(BinOp::Mul | BinOp::Div | BinOp::Rem) => 5,
        Op::Bin(_) => COMPARE,
    }
}

/// The level of a part that is an operator (an `is` counts as a comparison).
fn level_of(part: &Part) -> Option<u8> {
    match part {
        Part::Op(op, _) => Some(level(*op)),
        Part::Is(..) => Some(COMPARE),
        Part::Operand(_) => None,
    }
}

/// Groups a flat sequence (an operand, then operators each followed by an operand, or `is`
/// suffixes) into the tree precedence gives it. A chain of comparisons or of ranges gives the
/// first [`Chained`] and an [`ExprKind::Error`] spanning the whole sequence.
pub fn group(parts: Vec<Part>) -> (Expr, Option<Chained>) {
    let whole = Span::new(
        parts.first().map_or(0, |p| span_of(p).start()),
        parts.last().map_or(0, |p| span_of(p).end()),
    );
    let error = |chained| {
        let kind = ExprKind::Error;
        (Expr { kind, span: whole }, chained)
    };
    if let Some(c) = chained(&parts) {
        return error(Some(c));
    }
    match climb(&mut parts.into_iter().peekable(), COMPARE) {
        Some(expr) => (expr, None),
        None => error(None),
    }
}

/// Where a part is written.
fn span_of(p: &Part) -> Span {
    match p {
        Part::Operand(e) => e.span,
        Part::Op(_, s) | Part::Is(_, s) => *s,
    }
}

/// The first operator that chains with one before it on a level without associativity.
/// Nothing below `not` separates two comparisons (parentheses make one operand), so any
/// second comparison or `is` chains; a second range chains unless a comparison came between
/// (`a..b < c..d` compares two ranges).
fn chained(parts: &[Part]) -> Option<Chained> {
    let (mut compare, mut range) = (false, false);
    for part in parts {
        let seen = match level_of(part) {
            Some(COMPARE) => {
                range = false;
                &mut compare
            }
            Some(RANGE) => &mut range,
            _ => continue,
        };
        if *seen {
            let ranges = level_of(part) == Some(RANGE);
            let span = span_of(part);
            return Some(Chained { span, ranges });
        }
        *seen = true;
    }
    None
}

/// Precedence climbing: the longest expression at the front of `parts` whose operators bind
/// at least as tightly as `min`. `None` only for a sequence the grammar cannot produce (no
/// operand where one belongs).
fn climb(parts: &mut Parts, min: u8) -> Option<Expr> {
    let Some(Part::Operand(mut lhs)) = parts.next() else {
        return None;
    };
    loop {
        let op = match parts.peek() {
            Some(&Part::Op(op, _)) if level(op) >= min => op,
            Some(&Part::Is(present, s)) if COMPARE >= min => {
                parts.next();
                lhs = is(lhs, (present, s));
                continue;
            }
            _ => return Some(lhs),
        };
        parts.next();
        // The right operand binds one level tighter: left-associative levels group to the
        // left, and the others never see a second operator of theirs (refused before).
        let rhs = climb(parts, level(op) + 1)?;
        lhs = combine(lhs, op, rhs);
    }
}

/// `a op b`, spanning both operands (also `and` and `or`, which the grammar's levels read).
pub fn combine(a: Expr, op: Op, b: Expr) -> Expr {
    let span = Span::new(a.span.start(), b.span.end());
    let (a, b) = (Box::new(a), Box::new(b));
    let kind = match op {
        Op::Bin(op) => ExprKind::Binary(op, a, b),
        Op::Range(inclusive) => ExprKind::Range {
            lo: a,
            hi: b,
            inclusive,
        },
    };
    Expr { kind, span }
}

/// `a op b op c …` (`and` or `or`) as a balanced tree: each node joins the first half of its
/// operands with the second, so a chain of n operands is about log2(n) deep. Both operators
/// are associative and short-circuit left to right, so every grouping decides the same
/// operands in the same order.
pub fn balance(operands: Vec<Expr>, op: BinOp) -> Expr {
    let n = operands.len();
    grouped(&mut operands.into_iter(), n, op)
}

/// The next `n` operands of `it`, balanced.
fn grouped(it: &mut std::vec::IntoIter<Expr>, n: usize, op: BinOp) -> Expr {
    if n <= 1 {
        // The grammar gives at least three operands; an empty chain is an error node.
        return it.next().unwrap_or(Expr {
            kind: ExprKind::Error,
            span: Span::new(0, 0),
        });
    }
    let half = n.div_ceil(2);
    let left = grouped(it, half, op);
    let right = grouped(it, n - half, op);
    combine(left, Op::Bin(op), right)
}

/// `e is present` (`true`) or `e is absent` (`false`), the suffix written at `suffix.1`.
pub fn is(e: Expr, suffix: (bool, Span)) -> Expr {
    let span = Span::new(e.span.start(), suffix.1.end());
    let kind = ExprKind::Is {
        expr: Box::new(e),
        present: suffix.0,
    };
    Expr { kind, span }
}

/// The parts not grouped yet.
type Parts = std::iter::Peekable<std::vec::IntoIter<Part>>;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::ast::{ExprKind, ItemKind, Literal};
    use crate::parse::{Parsed, parse};

    /// Parses `fn f(): Bool = {expr}`.
    fn parsed(expr: &str) -> Parsed {
        parse(
            &Arc::from("t.xop"),
            &format!("module m\nfn f(): Bool = {expr}\n"),
        )
    }

    /// The tree of `expr` as an S-expression with each node's source text, or the codes of
    /// its diagnostics.
    fn tree(expr: &str) -> Result<String, Vec<&'static str>> {
        let p = parsed(expr);
        if !p.diagnostics.is_empty() {
            return Err(p.diagnostics.iter().map(|d| d.code).collect());
        }
        let src = format!("module m\nfn f(): Bool = {expr}\n");
        let Some(ItemKind::Fn(f)) = p.ast.items.first().map(|i| &i.kind) else {
            panic!("no fn in {expr:?}");
        };
        Ok(sexpr(&src, f.body.as_ref().expect("a body")))
    }

    fn sexpr(src: &str, e: &crate::ast::Expr) -> String {
        let inner = match &e.kind {
            ExprKind::Binary(op, a, b) => format!("{op:?} {} {}", sexpr(src, a), sexpr(src, b)),
            ExprKind::Range { lo, hi, inclusive } => {
                format!("Range{inclusive} {} {}", sexpr(src, lo), sexpr(src, hi))
            }
            ExprKind::Is { expr, present } => format!("Is{present} {}", sexpr(src, expr)),
            ExprKind::Name(_) | ExprKind::Lit(Literal::Int(_)) => {
                return src[e.span.range()].into();
            }
            other => format!("{other:?}"),
        };
        // The span must cover exactly the node's text.
        format!("({inner} @{:?})", &src[e.span.range()])
    }

    #[test]
    fn precedence_and_associativity_follow_the_language_reference() {
        let cases = [
            ("a - b - c", "(Sub (Sub a b @\"a - b\") c @\"a - b - c\")"),
            ("a + b * c", "(Add a (Mul b c @\"b * c\") @\"a + b * c\")"),
            ("a * b + c", "(Add (Mul a b @\"a * b\") c @\"a * b + c\")"),
            (
                "a ?? b + 1",
                "(Default a (Add b 1 @\"b + 1\") @\"a ?? b + 1\")",
            ),
            (
                "a ?? b ?? c",
                "(Default (Default a b @\"a ?? b\") c @\"a ?? b ?? c\")",
            ),
            (
                "x in lo..hi + 1",
                "(In x (Rangefalse lo (Add hi 1 @\"hi + 1\") @\"lo..hi + 1\") @\"x in lo..hi + 1\")",
            ),
            (
                "a..b < c..=d",
                "(Lt (Rangefalse a b @\"a..b\") (Rangetrue c d @\"c..=d\") @\"a..b < c..=d\")",
            ),
            (
                "a + b is absent",
                "(Isfalse (Add a b @\"a + b\") @\"a + b is absent\")",
            ),
            ("a is present", "(Istrue a @\"a is present\")"),
            (
                "a % b not in c",
                "(NotIn (Rem a b @\"a % b\") c @\"a % b not in c\")",
            ),
            // `and` and `or` chains are balanced: the first half of the operands, then the rest.
            ("a and b", "(And a b @\"a and b\")"),
            (
                "a and b and c",
                "(And (And a b @\"a and b\") c @\"a and b and c\")",
            ),
            (
                "a or b or c or d",
                "(Or (Or a b @\"a or b\") (Or c d @\"c or d\") @\"a or b or c or d\")",
            ),
            (
                "a and b and c and d and e",
                "(And (And (And a b @\"a and b\") c @\"a and b and c\") (And d e @\"d and e\") @\"a and b and c and d and e\")",
            ),
            (
                "a or b and c or d",
                "(Or (Or a (And b c @\"b and c\") @\"a or b and c\") d @\"a or b and c or d\")",
            ),
        ];
        for (expr, want) in cases {
            assert_eq!(tree(expr).as_deref(), Ok(want), "{expr}");
        }
    }

    #[test]
    fn comparisons_and_ranges_do_not_chain() {
        for (expr, second) in [
            ("a < b < c", "<"),
            ("a == b + 1 != c", "!="),
            ("a in b not in c", "not in"),
            ("a == b is absent", "is absent"),
            ("a..b..c", ".."),
            ("a..b + 1..=c", "..="),
            ("x in a..b..c", ".."),
        ] {
            let p = parsed(expr);
            let [d] = &p.diagnostics[..] else {
                panic!("{expr}: {:?}", p.diagnostics);
            };
            assert_eq!(d.code, "E0107", "{expr}");
            let src = format!("module m\nfn f(): Bool = {expr}\n");
            assert_eq!(&src[d.span.range()], second, "{expr}");
        }
        // Grouped, or separated by `and`, they are fine.
        for expr in [
            "(a < b) == c",
            "a < b and b < c",
            "a..b < c..d",
            "(a..b)..c",
        ] {
            assert!(tree(expr).is_ok(), "{expr}");
        }
        // Nothing follows `is absent` on its level: a syntax error, as always.
        assert_eq!(tree("a is absent + 1"), Err(vec!["E0103"]));
        assert_eq!(tree("a is absent is present"), Err(vec!["E0103"]));
    }

    const OPS: [&str; 16] = [
        "==", "!=", "<", "<=", ">", ">=", "in", "not in", "..", "..=", "??", "+", "-", "*", "/",
        "%",
    ];

    /// The grammar as one level per precedence, written separately as the oracle: the longest
    /// sequence each level reads, or `None` where the levels would stop before the end.
    fn oracle(toks: &[&str]) -> Option<String> {
        fn level(toks: &[&str], at: &mut usize, lvl: usize) -> String {
            let ops: &[&[&str]] = &[
                &["==", "!=", "<", "<=", ">", ">=", "in", "not in"],
                &["..", "..="],
                &["??"],
                &["+", "-"],
                &["*", "/", "%"],
            ];
            if lvl == ops.len() {
                *at += 1;
                return toks[*at - 1].to_string();
            }
            let mut lhs = level(toks, at, lvl + 1);
            // Levels 0 and 1 take one operator at most (no associativity).
            let most = if lvl < 2 { 1 } else { usize::MAX };
            let mut taken = 0;
            while taken < most && *at < toks.len() && ops[lvl].contains(&toks[*at]) {
                let op = toks[*at];
                *at += 1;
                let rhs = level(toks, at, lvl + 1);
                lhs = format!("[{lhs} {op} {rhs}]");
                taken += 1;
            }
            if lvl == 0 && taken == 0 && toks.get(*at) == Some(&"is absent") {
                *at += 1;
                lhs = format!("[{lhs} is absent]");
            }
            lhs
        }
        let mut at = 0;
        let e = level(toks, &mut at, 0);
        (at == toks.len()).then_some(e)
    }

    /// The parser's tree in the oracle's notation.
    fn bracketed(src: &str, e: &crate::ast::Expr) -> String {
        let op_text = |a: &crate::ast::Expr, b: &crate::ast::Expr| {
            src[a.span.end()..b.span.start()].trim().to_string()
        };
        match &e.kind {
            ExprKind::Binary(_, a, b) => {
                format!(
                    "[{} {} {}]",
                    bracketed(src, a),
                    op_text(a, b),
                    bracketed(src, b)
                )
            }
            ExprKind::Range { lo, hi, .. } => {
                format!(
                    "[{} {} {}]",
                    bracketed(src, lo),
                    op_text(lo, hi),
                    bracketed(src, hi)
                )
            }
            ExprKind::Is { expr, .. } => format!("[{} is absent]", bracketed(src, expr)),
            _ => src[e.span.range()].to_string(),
        }
    }

    proptest! {
        /// Random operator sequences: the parser builds the tree the levels would, and reports
        /// E0107 exactly where the levels would stop at a second comparison or range.
        #[test]
        fn grouping_matches_one_level_per_precedence(
            operands in proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("1")], 1..7),
            ops in proptest::collection::vec(0..OPS.len(), 6),
            absent in any::<bool>(),
        ) {
            let mut toks = vec![operands[0]];
            for (i, x) in operands.iter().enumerate().skip(1) {
                toks.push(OPS[ops[i - 1]]);
                toks.push(x);
            }
            if absent {
                toks.push("is absent");
            }
            let expr = toks.join(" ");
            let src = format!("module m\nfn f(): Bool = {expr}\n");
            let p = parsed(&expr);
            match oracle(&toks) {
                Some(want) => {
                    prop_assert!(p.diagnostics.is_empty(), "{expr}: {:?}", p.diagnostics);
                    let Some(ItemKind::Fn(f)) = p.ast.items.first().map(|i| &i.kind) else {
                        panic!("no fn");
                    };
                    prop_assert_eq!(bracketed(&src, f.body.as_ref().expect("body")), want);
                }
                None => {
                    let codes: Vec<_> = p.diagnostics.iter().map(|d| d.code).collect();
                    prop_assert_eq!(codes, vec!["E0107"], "{}", expr);
                }
            }
        }
    }
}
