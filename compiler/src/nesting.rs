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
//! error node. Dropping an expression or a type never recurses deeper than a fixed number of
//! levels (`DROP_RECURSION`, see `drop_tree`), so neither the replaced subtree nor a partial
//! tree the parser drops while recovering from an error can overflow the stack.

use std::cell::Cell;

use crate::ast::{Expr, ExprKind, Item, TypeExpr};
use crate::span::Span;

/// The deepest an expression or a type may be nested: far beyond what people write, and
/// below what the engines evaluate once lowering has added its few levels.
///
/// Records that hold one another are held to it too (`crate::check::record_depths`): the
/// types of a record's fields, with each record held written out, nest at most this deep.
/// The passes over the values of a type (the consent analysis's paths to channels, input
/// binding, the JIT's layout) take a few stack frames a level, so 128 levels stay far from
/// the end of a language server worker's 2 MiB stack, where 5,000 overflowed it; and real
/// schemas nest a handful of levels (protobuf's parsers stop at 100).
pub const MAX_NESTING: usize = 128;

/// How deep drops recurse before they go on with a heap stack.
const DROP_RECURSION: u32 = 64;

/// Replaces every part of `item` nested deeper than [`MAX_NESTING`] by an error node; returns
/// the span of the first such part of each expression, and of each type (for E0108).
pub fn limit(item: &mut Item) -> (Vec<Span>, Vec<Span>) {
    let roots = item.roots_mut();
    (first_too_deep(roots.exprs), first_too_deep(roots.types))
}

/// For each root, the span of its first part deeper than the limit, which becomes an error
/// node.
fn first_too_deep<T: Tree>(roots: Vec<&mut T>) -> Vec<Span> {
    roots
        .into_iter()
        .filter_map(|root| {
            let mut first = None;
            limit_tree(root, 1, &mut first);
            first
        })
        .collect()
}

/// [`limit`] for `t` at `depth`: recursive, but never deeper than the limit.
fn limit_tree<T: Tree>(t: &mut T, depth: usize, first: &mut Option<Span>) {
    if depth > MAX_NESTING {
        first.get_or_insert(t.span());
        *t = t.error();
        return;
    }
    t.for_each_child(|child| limit_tree(child, depth + 1, first));
}

/// The two trees the parser builds: expressions and types.
pub(crate) trait Tree: Sized {
    /// Calls `f` on each tree directly inside this one.
    fn for_each_child<'a>(&'a mut self, f: impl FnMut(&'a mut Self));
    /// An error node in this one's place (a leaf).
    fn error(&self) -> Self;
    /// Where it is written.
    fn span(&self) -> Span;
    /// Whether it has no children (a cheaper test than counting them may be given).
    fn is_leaf(&mut self) -> bool {
        let mut leaf = true;
        self.for_each_child(|_| leaf = false);
        leaf
    }
    /// Drops its children now, leaving leaves in their place (a cheaper way may be given).
    fn drop_children(&mut self) {
        self.for_each_child(|child| drop(std::mem::replace(child, child.error())));
    }
}

impl Tree for Expr {
    fn for_each_child<'a>(&'a mut self, mut f: impl FnMut(&'a mut Expr)) {
        match &mut self.kind {
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

    fn error(&self) -> Expr {
        Expr {
            kind: ExprKind::Error,
            span: self.span,
        }
    }

    fn span(&self) -> Span {
        self.span
    }

    fn is_leaf(&mut self) -> bool {
        matches!(
            self.kind,
            ExprKind::Lit(_) | ExprKind::Name(_) | ExprKind::Error
        )
    }

    /// The whole kind at once: its boxes and vectors then drop their expressions.
    fn drop_children(&mut self) {
        self.kind = ExprKind::Error;
    }
}

impl Tree for TypeExpr {
    fn for_each_child<'a>(&'a mut self, mut f: impl FnMut(&'a mut TypeExpr)) {
        match self {
            TypeExpr::Named { args, .. } => args.iter_mut().for_each(f),
            TypeExpr::Optional { inner, .. } => f(inner),
            TypeExpr::Open { fields, .. } => fields.iter_mut().for_each(|(_, t)| f(t)),
            TypeExpr::Error(_) => {}
        }
    }

    fn error(&self) -> TypeExpr {
        TypeExpr::Error(TypeExpr::span(self))
    }

    fn span(&self) -> Span {
        TypeExpr::span(self)
    }
}

thread_local! {
    /// How deep the drops under way on this thread recurse.
    static DROPPING: Cell<u32> = const { Cell::new(0) };
}

/// The drop of [`Expr`] and [`TypeExpr`], which must not recurse without bound: a tree can be
/// deeper than the stack before it is limited. The children are taken out and dropped here,
/// error nodes left in their place. Up to [`DROP_RECURSION`] levels they are dropped as usual
/// (recursively: cheap, and no allocation); below that, onto a heap stack, each taken apart in
/// turn, so that every node is dropped with only leaves below it.
pub(crate) fn drop_tree<T: Tree>(t: &mut T) {
    if t.is_leaf() {
        return;
    }
    let depth = DROPPING.get();
    if depth < DROP_RECURSION {
        DROPPING.set(depth + 1);
        t.drop_children();
        DROPPING.set(depth);
        return;
    }
    let mut stack = Vec::new();
    t.for_each_child(|child| stack.push(std::mem::replace(child, child.error())));
    while let Some(mut t) = stack.pop() {
        t.for_each_child(|child| stack.push(std::mem::replace(child, child.error())));
    }
}
