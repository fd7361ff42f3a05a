//! The nesting limit: no expression or type of a parsed file is nested deeper than
//! [`MAX_NESTING`] levels.
//!
//! The parser builds trees of any depth without recursion (lalrpop's stack is a vector, and
//! operator sequences are grouped in loops), but every later pass (resolution, type checking,
//! the compliance proofs, lowering, the formatter) walks them recursively, so a generated file
//! with 100,000 nested parentheses, a `+` chain as long, or `List<List<…>>` as deep would
//! overflow the stack: a crash of `xop check` and of the language server. The engines evaluate
//! at most 256 levels (`xop_runtime::interp::MAX_DEPTH`; the JIT 200), so a deeper expression
//! could not be decided anyway. Long `and` and `or` chains are not deep: the parser groups them
//! as balanced trees (see `precedence::balance`).
//!
//! Right after parsing, each item's expressions and types are measured, descending no deeper
//! than the limit; the first part of a root found deeper is reported (E0108) and replaced by an
//! error node. Dropping an expression or a type never recurses deeper than [`DROP_RECURSION`]
//! levels (see [`drop_expr`]), so neither the replaced subtree nor a partial tree the parser
//! drops while recovering from an error can overflow the stack.

use std::cell::Cell;

use crate::ast::{Expr, ExprKind, Item, TypeExpr};
use crate::span::Span;

/// The deepest an expression or a type may be nested: far beyond what people write, and
/// below what the engines evaluate once lowering has added its few levels.
pub const MAX_NESTING: usize = 128;

/// How deep drops recurse before they go on with a heap stack.
const DROP_RECURSION: u32 = 64;

/// Replaces every part of `item` nested deeper than [`MAX_NESTING`] by an error node; returns
/// the span of the first such part of each expression, and of each type (for E0108).
pub fn limit(item: &mut Item) -> (Vec<Span>, Vec<Span>) {
    let roots = item.roots_mut();
    let mut exprs = Vec::new();
    for e in roots.exprs {
        let mut first = None;
        limit_expr(e, 1, &mut first);
        exprs.extend(first);
    }
    let mut types = Vec::new();
    for t in roots.types {
        let mut first = None;
        limit_type(t, 1, &mut first);
        types.extend(first);
    }
    (exprs, types)
}

/// [`limit`] for expression `e` at `depth`: recursive, but never deeper than the limit.
fn limit_expr(e: &mut Expr, depth: usize, first: &mut Option<Span>) {
    if depth > MAX_NESTING {
        first.get_or_insert(e.span);
        e.kind = ExprKind::Error;
        return;
    }
    for_each_child(&mut e.kind, |child| limit_expr(child, depth + 1, first));
}

/// [`limit`] for type `t` at `depth`.
fn limit_type(t: &mut TypeExpr, depth: usize, first: &mut Option<Span>) {
    if depth > MAX_NESTING {
        let span = t.span();
        first.get_or_insert(span);
        *t = TypeExpr::Error(span);
        return;
    }
    for_each_type_child(t, |child| limit_type(child, depth + 1, first));
}

/// Calls `f` on each expression directly inside one.
fn for_each_child<'a>(kind: &'a mut ExprKind, mut f: impl FnMut(&'a mut Expr)) {
    match kind {
        ExprKind::Field(x, _)
        | ExprKind::Unary(_, x)
        | ExprKind::Is { expr: x, .. }
        | ExprKind::Lambda(_, x)
        | ExprKind::Paren(x) => f(x),
        ExprKind::Binary(_, a, b) | ExprKind::Range { lo: a, hi: b, .. } => {
            f(a);
            f(b);
        }
        ExprKind::If(c, a, b) => {
            f(c);
            f(a);
            f(b);
        }
        ExprKind::Call { receiver, args, .. } => {
            if let Some(r) = receiver {
                f(r);
            }
            args.iter_mut().for_each(|a| f(&mut a.value));
        }
        ExprKind::List(xs) | ExprKind::Set(xs) => xs.iter_mut().for_each(f),
        ExprKind::Record { fields, .. } => fields.iter_mut().for_each(|(_, v)| f(v)),
        ExprKind::Lit(_) | ExprKind::Name(_) | ExprKind::Error => {}
    }
}

/// Calls `f` on each type directly inside one.
fn for_each_type_child<'a>(t: &'a mut TypeExpr, mut f: impl FnMut(&'a mut TypeExpr)) {
    match t {
        TypeExpr::Named { args, .. } => args.iter_mut().for_each(f),
        TypeExpr::Optional { inner, .. } => f(inner),
        TypeExpr::Open { fields, .. } => fields.iter_mut().for_each(|(_, t)| f(t)),
        TypeExpr::Error(_) => {}
    }
}

thread_local! {
    /// How deep the drops under way on this thread recurse.
    static DROPPING: Cell<u32> = const { Cell::new(0) };
}

/// [`Expr`]'s drop, which must not recurse without bound: a tree can be deeper than the stack
/// before it is limited. Up to [`DROP_RECURSION`] levels, the children are dropped as usual
/// (recursively: cheap, and no allocation); below that, the children's own children are
/// moved onto a heap stack and dropped in a loop, each with only leaves below it.
pub(crate) fn drop_expr(kind: &mut ExprKind) {
    if matches!(kind, ExprKind::Lit(_) | ExprKind::Name(_) | ExprKind::Error) {
        return;
    }
    let depth = DROPPING.get();
    if depth < DROP_RECURSION {
        DROPPING.set(depth + 1);
        drop(std::mem::replace(kind, ExprKind::Error));
        DROPPING.set(depth);
        return;
    }
    let mut stack = vec![std::mem::replace(kind, ExprKind::Error)];
    while let Some(mut kind) = stack.pop() {
        for_each_child(&mut kind, |child| {
            stack.push(std::mem::replace(&mut child.kind, ExprKind::Error));
        });
    }
}

/// [`drop_expr`] for [`TypeExpr`]. The drop is the enum's own, so the children are taken out
/// and dropped here, inside the count, rather than by the fields' drops after it.
pub(crate) fn drop_type(t: &mut TypeExpr) {
    let mut leaf = true;
    for_each_type_child(t, |_| leaf = false);
    if leaf {
        return;
    }
    let span = t.span();
    let depth = DROPPING.get();
    if depth < DROP_RECURSION {
        DROPPING.set(depth + 1);
        for_each_type_child(t, |child| {
            drop(std::mem::replace(child, TypeExpr::Error(span)))
        });
        DROPPING.set(depth);
        return;
    }
    let mut stack = Vec::new();
    for_each_type_child(t, |child| {
        stack.push(std::mem::replace(child, TypeExpr::Error(span)))
    });
    while let Some(mut t) = stack.pop() {
        for_each_type_child(&mut t, |child| {
            stack.push(std::mem::replace(child, TypeExpr::Error(span)));
        });
    }
}
