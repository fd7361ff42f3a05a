//! The limits of inlining (E0219), checked where lowering would meet them.
//!
//! Lowering ([`crate::lower`]) inlines every call of a user function into the rule, proposal,
//! test or signal that makes it, each parameter standing for its argument's expression. It
//! refuses calls nested more than [`MAX_INLINING`] deep, and a rule, proposal or test deeper
//! than the engines evaluate ([`MAX_DEPTH`] levels) once inlined. The checker reports both
//! here, at the call or the expression, counting as lowering counts: the depth of an
//! expression is that of the IR lowering builds of it (`IExpr::deeper_than`), node for node.
//!
//! Inlining a chain of n calls builds a tree n bodies deep, and a project may hold a chain of
//! 20,000 functions: so the checker never inlines. Each function is measured once, callees
//! first ([`inlined_functions`]): the longest chain of calls its inlining nests, and its
//! depth once inlined as a function of its arguments' depths ([`Depth`]); a call is then
//! measured from its callee's summary and its arguments. Linear in the size of the project,
//! and nothing recurses along a chain of calls.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::ast::{self, BinOp, ExprKind, ItemKind, Target, UnOp};
use crate::check::{call_cycles, fn_callees, purpose_actions};
use crate::db::{Db, Project, SourceFile, item_ast, parse_file};
use crate::diagnostic::Diagnostic;
use crate::lower::{MAX_INLINING, in_parameter_order};
use crate::resolve::{self, Def, DefKind, Lookup, Scope, Signature, TypedParam};
use crate::span::Span;
use crate::types::{Checker, Env, Ty};

/// How deep a lowered expression may be: what the engines evaluate.
pub const MAX_DEPTH: u32 = xop_runtime::interp::MAX_DEPTH;

/// The most IR nodes lowering builds (lowers or copies) to inline the calls of one rule,
/// proposal, test or signal: E0220 beyond. Lowering builds 8 to 10 million nodes a second
/// (measured, release build, on rules of `f(n) = f(n-1)(x) + f(n-1)(x)` chains: 18,000
/// nodes in 1.2 ms, 150,000 in 15 to 19 ms; the whole process stayed under 9 MB), so this
/// is at most about 10 to 15 ms and a few megabytes per item, while the largest item of the
/// examples builds 14 nodes and one written by hand, without a chain of functions each
/// doubling what it is given, stays far below. Lowering itself stops at
/// [`crate::lower::MAX_BUILT`], a bit above, should the checker miss something.
pub const MAX_INLINED: u64 = 100_000;

/// A count of nodes as a message says it: `u64::MAX` is where the saturating arithmetic of
/// [`Size`] stops, so the true count is at least that (about 1.8 * 10^19), not that.
fn nodes(n: u64) -> String {
    if n == u64::MAX {
        "more than 10^19".to_string()
    } else {
        n.to_string()
    }
}

/// [`MAX_INLINING`] as a count of calls.
const MAX_CALLS: u32 = MAX_INLINING as u32;

/// A function, by where it is declared.
type Node = (SourceFile, u32);

/// How many levels deep an expression is once its calls are inlined, as a function of the
/// depths `d` of the arguments of the function whose body holds it:
/// `max(base, max over (p, k) in params of k + d[p])`. A parameter read at level `k + 1` adds
/// its argument's depth below level `k`. Outside a function body `params` is empty and `base`
/// is the depth.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Depth {
    /// The depth without the arguments (a parameter read counts 0).
    pub base: u32,
    /// `(parameter index, levels above its reads)`, by parameter index; a parameter that is
    /// not read is not listed.
    pub params: Vec<(u32, u32)>,
}

impl Depth {
    /// A constant, a slot: one level.
    const LEAF: Depth = Depth {
        base: 1,
        params: Vec::new(),
    };

    /// A read of parameter `p`: its argument's expression itself.
    fn param(p: u32) -> Depth {
        Depth {
            base: 0,
            params: vec![(p, 0)],
        }
    }

    /// `self` becomes the deeper of `self` and `other`, argument by argument.
    fn raise(&mut self, other: &Depth) {
        self.base = self.base.max(other.base);
        merge(&mut self.params, &other.params, u32::max);
    }

    /// `self` with `k` levels above it. Saturating: functions composed with one another grow
    /// exponentially (`f(f(f(x)))` in each of a chain of functions), and past `u32::MAX` they
    /// are all too deep alike.
    fn below(mut self, k: u32) -> Depth {
        self.base = self.base.saturating_add(k);
        for (_, at) in &mut self.params {
            *at = at.saturating_add(k);
        }
        self
    }
}

/// Adds `from`'s parameter terms to `into`'s (both by parameter index), combining the two
/// terms of a parameter both have with `both`.
fn merge<T: Copy>(into: &mut Vec<(u32, T)>, from: &[(u32, T)], both: impl Fn(T, T) -> T) {
    for &(p, k) in from {
        match into.binary_search_by_key(&p, |&(q, _)| q) {
            Ok(i) => into[i].1 = both(into[i].1, k),
            Err(i) => into.insert(i, (p, k)),
        }
    }
}

/// How many IR nodes an expression is, or makes lowering build, once its calls are inlined,
/// as a linear function of the sizes `s` of the arguments of the function whose body holds it:
/// `base + sum over (p, k) in params of k * s[p]`. Each read of a parameter is a copy of its
/// argument. Saturating: a chain of functions that each use a parameter, or call a function,
/// twice doubles the size at each step, and past `u64::MAX` they are all too large alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Size {
    /// The nodes but the copies of the arguments.
    pub base: u64,
    /// `(parameter index, copies of its argument)`, by parameter index; a parameter that is
    /// not copied is not listed.
    pub params: Vec<(u32, u64)>,
}

impl Size {
    fn constant(base: u64) -> Size {
        Size {
            base,
            params: Vec::new(),
        }
    }

    /// One copy of parameter `p`'s argument.
    fn param(p: u32) -> Size {
        Size {
            base: 0,
            params: vec![(p, 1)],
        }
    }

    /// `self + other`, argument by argument.
    fn add(&mut self, other: &Size) {
        self.base = self.base.saturating_add(other.base);
        merge(&mut self.params, &other.params, u64::saturating_add);
    }

    /// `self + n`.
    fn plus(mut self, n: u64) -> Size {
        self.base = self.base.saturating_add(n);
        self
    }

    /// `k * self`.
    fn times(&self, k: u64) -> Size {
        Size {
            base: self.base.saturating_mul(k),
            params: self
                .params
                .iter()
                .map(|&(p, n)| (p, n.saturating_mul(k)))
                .collect(),
        }
    }

    /// `self` with each parameter's copies replaced by copies of `args[p]` (a missing
    /// argument is lowered as one constant).
    fn apply(&self, args: &[Size]) -> Size {
        let mut out = Size::constant(self.base);
        for &(p, k) in &self.params {
            match args.get(p as usize) {
                Some(a) => out.add(&a.times(k)),
                None => out.add(&Size::constant(k)),
            }
        }
        out
    }
}

/// What inlining a function gives: see [`inlined_functions`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Inlined {
    /// Its body's depth once inlined, by its parameters' (in their declared order).
    pub depth: Depth,
    /// How many IR nodes its body is once inlined, by its parameters' sizes: what inlining
    /// it produces.
    pub size: Size,
    /// How many IR nodes lowering builds (lowered or copied) to inline its body, by its
    /// parameters' sizes: its size, and what it builds and drops (arguments of functions
    /// that do not read them, an argument lowered before it is copied). What the limit
    /// ([`MAX_INLINED`]) counts.
    pub built: Size,
    /// The longest chain of calls its inlining nests, itself included: 1 for a function that
    /// calls none.
    pub chain: u32,
}

/// A call of a user function that lowering inlines.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Call {
    /// The function called.
    pub callee: (SourceFile, u32),
    /// The name it is called by, as lowering names it.
    pub name: Arc<str>,
    /// The call, in the file of the expression that makes it.
    pub span: Span,
}

/// One function of [`inlined_functions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// What inlining it gives.
    pub inlined: Inlined,
    /// The calls its body makes, in the order lowering inlines them (to name the chain that
    /// passes the limit as lowering meets it).
    pub calls: Vec<Call>,
}

/// Every function of the project with a body that is not recursive (E0209 reports those),
/// measured once, callees first: a depth-first walk of the call graph with an explicit stack,
/// so that a chain of 20,000 calls does not overflow the native one.
#[salsa::tracked(returns(ref))]
pub fn inlined_functions(db: &dyn Db, project: Project) -> HashMap<(SourceFile, u32), Function> {
    let cycles = call_cycles(db, project);
    let mut nodes: Vec<Node> = Vec::new();
    for &file in project.files(db) {
        for (i, item) in parse_file(db, file).ast.items.iter().enumerate() {
            if let ItemKind::Fn(ast::Function { body: Some(_), .. }) = &item.kind {
                nodes.push((file, u32::try_from(i).unwrap_or(u32::MAX)));
            }
        }
    }
    let bodies: HashSet<Node> = nodes.iter().copied().collect();
    let mut out: HashMap<Node, Function> = HashMap::new();
    let mut seen: HashSet<Node> = HashSet::new();
    for start in nodes {
        if !seen.insert(start) {
            continue;
        }
        // (function, index of its next callee to visit)
        let mut stack = vec![(start, 0usize)];
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let callees = fn_callees(db, project, node.0, node.1);
            if let Some((callee, _)) = callees.get(*next) {
                *next += 1;
                if bodies.contains(callee) && seen.insert(*callee) {
                    stack.push((*callee, 0));
                }
                continue;
            }
            stack.pop();
            if !cycles.contains_key(&node)
                && let Some(f) = measure_function(db, project, node, &out)
            {
                out.insert(node, f);
            }
        }
    }
    out
}

/// What inlining function `file`/`index` gives, if it has a body and is not recursive: its
/// entry of [`inlined_functions`], a query of its own so that what reads it is checked again
/// only when this function's summary changes.
#[salsa::tracked]
pub fn inlined(db: &dyn Db, project: Project, file: SourceFile, index: u32) -> Option<Inlined> {
    inlined_functions(db, project)
        .get(&(file, index))
        .map(|f| f.inlined.clone())
}

/// How many channels of the project are annotated `@reaches_phone`: `reaches_phone(ch)` is
/// lowered to `ch in [those channels]`, one level deeper when there are some.
#[salsa::tracked]
fn phone_channels(db: &dyn Db, project: Project) -> usize {
    (project.files(db).iter())
        .map(|&f| {
            (resolve::item_table(db, f).by_name.values())
                .filter(|d| {
                    d.kind == DefKind::Channel
                        && item_ast(db, d.file, d.index).as_ref().is_some_and(|i| {
                            i.annotations.iter().any(|a| a.name.name == "reaches_phone")
                        })
                })
                .count()
        })
        .sum()
}

/// Measures function `node`, whose callees (but those in a cycle) are in `done`.
fn measure_function(
    db: &dyn Db,
    project: Project,
    node: Node,
    done: &HashMap<Node, Function>,
) -> Option<Function> {
    let item = item_ast(db, node.0, node.1).as_ref()?;
    let ItemKind::Fn(ast::Function {
        body: Some(body), ..
    }) = &item.kind
    else {
        return None;
    };
    let Signature::Callable { params, .. } = resolve::signature(db, project, node.0, node.1) else {
        return None;
    };
    let mut w = Walk::new(db, project, node.0, Summaries::Built(done), false);
    // Lowering binds the parameters by the signature's names, a later one over an earlier.
    for (i, p) in params.iter().enumerate() {
        w.locals.push((
            p.name.to_string(),
            Local::Param(u32::try_from(i).unwrap_or(u32::MAX)),
        ));
    }
    let Measured {
        depth, size, built, ..
    } = w.expr(body, None);
    let chain = w
        .calls
        .iter()
        .filter_map(|c| done.get(&c.callee))
        .map(|f| f.inlined.chain)
        .max()
        .unwrap_or(0)
        .saturating_add(1);
    Some(Function {
        inlined: Inlined {
            depth,
            size,
            built,
            chain,
        },
        calls: w.calls,
    })
}

/// How a name reads where an expression is measured (lowering's `Local`).
#[derive(Debug, Clone, Copy)]
enum Local {
    /// A frame slot: a rule's binding, `at now`, a lambda's variable. One level.
    Slot,
    /// A parameter of the function being measured, standing for its argument.
    Param(u32),
    /// A test's `let` (by index), lowered where it is used.
    Let(usize),
}

/// An expression measured.
#[derive(Debug, Clone, Default)]
struct Measured {
    depth: Depth,
    /// How many IR nodes lowering makes of it.
    size: Size,
    /// How many IR nodes lowering builds to make it: one per expression it lowers (but
    /// parentheses), and each copy of an argument.
    built: Size,
    /// The outermost inlined call (an index of [`Walk::calls`]) that builds the most, and
    /// what it builds (outside any function body).
    largest: Option<(u32, u64)>,
    /// The outermost inlined call on a deepest path (an index of [`Walk::calls`]).
    deepest: Option<u32>,
    /// The calls (indices of [`Walk::calls`]) made outside any function whose chain of calls
    /// is longer than lowering inlines.
    too_long: Vec<u32>,
}

impl Measured {
    /// A constant, a slot: one node (built by the expression lowered, if any: see
    /// [`Walk::expr`]).
    fn leaf() -> Measured {
        Measured {
            depth: Depth::LEAF,
            size: Size::constant(1),
            ..Measured::default()
        }
    }

    /// The larger of the calls `self` and `other` hold.
    fn keep_largest(&mut self, other: Option<(u32, u64)>) {
        if let Some((at, n)) = other
            && self.largest.is_none_or(|(_, m)| n > m)
        {
            self.largest = Some((at, n));
        }
    }

    /// One node above `children` (a node without children is one level).
    fn above(children: impl IntoIterator<Item = Measured>) -> Measured {
        let mut out = Measured {
            size: Size::constant(1),
            ..Measured::default()
        };
        for child in children {
            out.size.add(&child.size);
            out.built.add(&child.built);
            out.keep_largest(child.largest);
            let base = (child.depth.base, out.depth.base);
            if base.0 > base.1 || (base.0 == base.1 && out.deepest.is_none()) {
                out.deepest = child.deepest;
            }
            out.depth.raise(&child.depth);
            out.too_long.extend(child.too_long);
        }
        out.depth = out.depth.below(1);
        out
    }

    /// A constant in place of `children`, which lowering builds and drops (a call it cannot
    /// inline): one level, but the calls in them are still made.
    fn dropping(children: impl IntoIterator<Item = Measured>) -> Measured {
        let mut out = Measured::leaf();
        for child in children {
            out.built.add(&child.built);
            out.keep_largest(child.largest);
            out.too_long.extend(child.too_long);
        }
        out
    }
}

/// Where the summaries of the functions called come from.
enum Summaries<'w> {
    /// Being built by [`inlined_functions`]: the callees are done.
    Built(&'w HashMap<Node, Function>),
    /// The finished summaries, each read through [`inlined`].
    Query,
}

/// A test's `let`.
struct Let<'w> {
    name: &'w str,
    value: &'w ast::Expr,
    /// The types of the names visible where it is written (lowering's frame).
    env: Env,
    /// Whether its value holds a record value, whose depth depends on the record type
    /// expected where the name is used.
    has_record: bool,
}

/// What measuring a test needs beyond the rest: the types lowering gives record values (a
/// record value is one level deeper per record its `..` fills in) and the test's `let`s.
struct Typed<'w> {
    /// The types of the names visible (lowering's `frame.env`).
    env: Env,
    /// The checker lowering asks for types (not a test's: it reports nothing).
    checker: Checker<'w>,
    lets: Vec<Let<'w>>,
    /// Each `let` measured, by the record type expected where it is used (`None` when its
    /// value holds no record value, which does not depend on it).
    measured: HashMap<(usize, Option<Ty>), Measured>,
}

/// Measures expressions as lowering builds them: one walk of each, in the order lowering
/// lowers them (arguments before the body they are inlined into).
struct Walk<'w> {
    db: &'w dyn Db,
    project: Project,
    scope: &'w Scope,
    summaries: Summaries<'w>,
    /// Whether the expressions are a rule's, proposal's, test's or signal's (lowering's
    /// inlining starts there), not a function's body.
    root: bool,
    /// The names bound, innermost last.
    locals: Vec<(String, Local)>,
    /// Every inlined call met, in order.
    calls: Vec<Call>,
    typed: Option<Typed<'w>>,
    /// How deep the default value of each record is, and how many nodes (see
    /// [`Walk::default`]).
    defaults: HashMap<Node, (u32, u64)>,
}

impl<'w> Walk<'w> {
    fn new(
        db: &'w dyn Db,
        project: Project,
        file: SourceFile,
        summaries: Summaries<'w>,
        root: bool,
    ) -> Self {
        Walk {
            db,
            project,
            scope: resolve::file_scope(db, project, file),
            summaries,
            root,
            locals: Vec::new(),
            calls: Vec::new(),
            typed: None,
            defaults: HashMap::new(),
        }
    }

    fn local(&self, name: &str) -> Option<Local> {
        self.locals
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, l)| *l)
    }

    fn summary(&self, node: Node) -> Option<Inlined> {
        match self.summaries {
            Summaries::Built(done) => done.get(&node).map(|f| f.inlined.clone()),
            Summaries::Query => inlined(self.db, self.project, node.0, node.1).clone(),
        }
    }

    /// The type lowering's checker gives `e` (only in a test: elsewhere no record value is
    /// built, and no type changes a depth).
    fn checker_type(&mut self, e: &ast::Expr, expected: Option<&Ty>) -> Ty {
        let Some(t) = &mut self.typed else {
            return Ty::Unknown;
        };
        if let ExprKind::Name(n) = &e.kind
            && let Some(ty) = t.env.get(&n.name)
        {
            return ty.clone();
        }
        t.checker.diags.clear();
        t.checker.expr(&t.env, &BTreeSet::new(), e, expected)
    }

    /// `expected`, or else the type lowering's checker gives `e`, if known.
    fn expected_or_checked(&mut self, e: &ast::Expr, expected: Option<&Ty>) -> Option<Ty> {
        match expected {
            Some(t) => Some(t.clone()),
            None if self.typed.is_some() => {
                Some(self.checker_type(e, None)).filter(|t| *t != Ty::Unknown)
            }
            None => None,
        }
    }

    /// Measures `e`, lowered where `expected` is expected: lowering builds one node for each
    /// expression it lowers (but parentheses), and then those of its parts.
    fn expr(&mut self, e: &ast::Expr, expected: Option<&Ty>) -> Measured {
        let mut m = self.node(e, expected);
        if !matches!(e.kind, ExprKind::Paren(_)) {
            m.built = std::mem::take(&mut m.built).plus(1);
        }
        m
    }

    fn node(&mut self, e: &ast::Expr, expected: Option<&Ty>) -> Measured {
        match &e.kind {
            ExprKind::Paren(x) => self.expr(x, expected),
            ExprKind::Lit(_) | ExprKind::Range { .. } | ExprKind::Lambda(..) | ExprKind::Error => {
                Measured::leaf()
            }
            ExprKind::Name(n) => match self.local(&n.name) {
                Some(Local::Param(p)) => Measured {
                    depth: Depth::param(p),
                    size: Size::param(p),
                    built: Size::param(p),
                    ..Measured::default()
                },
                Some(Local::Let(i)) => self.let_value(i, expected),
                Some(Local::Slot) | None => Measured::leaf(),
            },
            ExprKind::Field(recv, _) => {
                // An enum's variant (`Status.active`) is a constant.
                if let ExprKind::Name(n) = &recv.kind
                    && self.local(&n.name).is_none()
                    && let Lookup::Found(entry) = self.scope.lookup(self.db, &n.name)
                    && entry.def.kind == DefKind::Enum
                {
                    return Measured::leaf();
                }
                Measured::above([self.expr(recv, None)])
            }
            ExprKind::Unary(UnOp::Not, x) => Measured::above([self.expr(x, Some(&Ty::Bool))]),
            ExprKind::Unary(UnOp::Neg, x) => Measured::above([self.expr(x, expected)]),
            ExprKind::Is { expr, present } => {
                let is = Measured::above([self.expr(expr, None)]);
                if *present { is } else { Measured::above([is]) }
            }
            ExprKind::If(c, a, b) => {
                let typed = self.expected_or_checked(e, expected);
                let c = self.expr(c, Some(&Ty::Bool));
                let a = self.expr(a, typed.as_ref());
                let b = self.expr(b, typed.as_ref());
                Measured::above([c, a, b])
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b),
            ExprKind::List(xs) | ExprKind::Set(xs) => {
                let typed = self.expected_or_checked(e, expected);
                let elem = match typed.as_ref().map(Ty::present) {
                    Some(Ty::List(t) | Ty::Set(t)) => Some((**t).clone()),
                    _ => None,
                };
                let items: Vec<Measured> = xs.iter().map(|x| self.expr(x, elem.as_ref())).collect();
                Measured::above(items)
            }
            ExprKind::Record { fields, rest } => self.record(fields, *rest, expected),
            ExprKind::Call {
                callee,
                receiver,
                args,
            } => self.call(e.span, callee, receiver.as_deref(), args),
        }
    }

    /// Lowering's `binary`: the same operands typed the same way, the same nodes.
    fn binary(&mut self, op: BinOp, a: &ast::Expr, b: &ast::Expr) -> Measured {
        let mut lhs_ty = Ty::Unknown;
        let mut la_expected = None;
        if self.typed.is_some() {
            if crate::lower::types_left_alone(op, b) {
                lhs_ty = self.checker_type(a, None);
            }
            if crate::lower::typed_by_right(op, a, b) {
                let ta = crate::lower::left_from_right(op, &self.checker_type(b, None));
                la_expected = Some(ta.clone()).filter(|t| *t != Ty::Unknown);
                lhs_ty = ta;
            }
        }
        let la = self.expr(a, la_expected.as_ref());
        let lhs = lhs_ty.present();
        match op {
            BinOp::And | BinOp::Or => Measured::above([la, self.expr(b, Some(&Ty::Bool))]),
            BinOp::In | BinOp::NotIn => {
                let inner = if let ExprKind::Range { lo, hi, .. } = &strip(b).kind {
                    let lo = self.expr(lo, Some(lhs));
                    let hi = self.expr(hi, Some(lhs));
                    Measured::above([la, lo, hi])
                } else {
                    let want = Ty::List(Box::new(lhs.clone()));
                    Measured::above([la, self.expr(b, Some(&want))])
                };
                if op == BinOp::NotIn {
                    Measured::above([inner])
                } else {
                    inner
                }
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                Measured::above([la, self.expr(b, None)])
            }
            // `??` and the comparisons: the right operand of the left one's type.
            _ => Measured::above([la, self.expr(b, Some(lhs))]),
        }
    }

    /// A record value: one node with each declared field, given or filled in by `..`.
    fn record(
        &mut self,
        fields: &[(ast::Ident, ast::Expr)],
        rest: bool,
        expected: Option<&Ty>,
    ) -> Measured {
        let Some(Ty::Record(def)) = expected.map(Ty::present) else {
            return Measured::leaf();
        };
        let Signature::Record(decl) =
            resolve::signature(self.db, self.project, def.file, def.index)
        else {
            return Measured::leaf();
        };
        let mut out = Vec::new();
        for p in decl {
            out.push(match fields.iter().find(|(n, _)| *n.name == *p.name) {
                Some((_, v)) => self.expr(v, Some(&p.ty)),
                None if rest || p.ty.is_optional() => {
                    let (depth, size) = self.default(&p.ty, &mut Vec::new());
                    Measured {
                        depth: Depth {
                            base: depth,
                            params: Vec::new(),
                        },
                        size: Size::constant(size),
                        ..Measured::default()
                    }
                }
                None => Measured::leaf(),
            });
        }
        Measured::above(out)
    }

    /// How deep the value `..` gives a field of type `t` is, and how many nodes: a
    /// constant, or a record of defaults. Remembered by record, since records may share
    /// records to any depth.
    fn default(&mut self, t: &Ty, within: &mut Vec<Node>) -> (u32, u64) {
        let Ty::Record(d) = t else {
            return (1, 1);
        };
        let node = (d.file, d.index);
        if let Some(&measured) = self.defaults.get(&node) {
            return measured;
        }
        let Signature::Record(decl) = resolve::signature(self.db, self.project, d.file, d.index)
        else {
            return (1, 1);
        };
        // A record that contains itself (E0217) has no default; lowering refuses it.
        if within.contains(&node) {
            return (1, 1);
        }
        within.push(node);
        let (mut depth, mut size) = (0u32, 1u64);
        for p in decl {
            let (d, s) = self.default(&p.ty, within);
            depth = depth.max(d);
            size = size.saturating_add(s);
        }
        within.pop();
        let measured = (depth.saturating_add(1), size);
        self.defaults.insert(node, measured);
        measured
    }

    /// A test's `let` `i`, lowered where it is used, in the frame where it is written.
    fn let_value(&mut self, i: usize, expected: Option<&Ty>) -> Measured {
        let Some(t) = &mut self.typed else {
            return Measured::leaf();
        };
        let Some(l) = t.lets.get(i) else {
            return Measured::leaf();
        };
        let key = (i, expected.filter(|_| l.has_record).cloned());
        if let Some(m) = t.measured.get(&key) {
            return m.clone();
        }
        let (value, env) = (l.value, l.env.clone());
        let written: Vec<(String, Local)> = (t.lets[..i].iter().enumerate())
            .map(|(j, l)| (l.name.to_string(), Local::Let(j)))
            .collect();
        let saved_env = std::mem::replace(&mut t.env, env);
        let saved_locals = std::mem::replace(&mut self.locals, written);
        let m = self.expr(value, expected);
        self.locals = saved_locals;
        if let Some(t) = &mut self.typed {
            t.env = saved_env;
            t.measured.insert(key, m.clone());
        }
        m
    }

    /// Whether `e` holds a record value, itself or through a `let` it names.
    fn has_record(&self, e: &ast::Expr) -> bool {
        match &e.kind {
            ExprKind::Record { .. } => true,
            ExprKind::Name(n) => match (self.local(&n.name), &self.typed) {
                (Some(Local::Let(i)), Some(t)) => t.lets.get(i).is_some_and(|l| l.has_record),
                _ => false,
            },
            ExprKind::Field(x, _)
            | ExprKind::Unary(_, x)
            | ExprKind::Is { expr: x, .. }
            | ExprKind::Lambda(_, x)
            | ExprKind::Paren(x) => self.has_record(x),
            ExprKind::Binary(_, a, b) | ExprKind::Range { lo: a, hi: b, .. } => {
                self.has_record(a) || self.has_record(b)
            }
            ExprKind::If(c, a, b) => self.has_record(c) || self.has_record(a) || self.has_record(b),
            ExprKind::Call { receiver, args, .. } => {
                receiver.as_deref().is_some_and(|r| self.has_record(r))
                    || args.iter().any(|a| self.has_record(&a.value))
            }
            ExprKind::List(xs) | ExprKind::Set(xs) => xs.iter().any(|x| self.has_record(x)),
            ExprKind::Lit(_) | ExprKind::Error => false,
        }
    }

    /// Binds a test's `let`, as lowering does: typed where written, measured where used.
    fn bind_let(&mut self, name: &'w ast::Ident, value: &'w ast::Expr) {
        let has_record = self.has_record(value);
        let ty = self.checker_type(value, None);
        let Some(t) = &mut self.typed else {
            return;
        };
        t.lets.push(Let {
            name: &name.name,
            value,
            env: t.env.clone(),
            has_record,
        });
        t.env.bind(&name.name, ty, name.span);
        let i = t.lets.len() - 1;
        self.locals.push((name.name.clone(), Local::Let(i)));
        // Measured now, once, when the type expected where it is used does not matter: a
        // chain of `let`s naming the one before is then never measured recursively.
        if !has_record {
            self.let_value(i, None);
        }
    }

    fn call(
        &mut self,
        span: Span,
        callee: &ast::Path,
        receiver: Option<&ast::Expr>,
        args: &[ast::Arg],
    ) -> Measured {
        let (db, project) = (self.db, self.project);
        let name = callee.last().name.as_str();
        let found = match self.scope.lookup(db, name) {
            Lookup::Found(e) => Some(e.def),
            _ => None,
        };
        if found.is_none() && matches!(name, "any" | "all" | "count") {
            let mut values: Vec<&ast::Expr> = receiver.into_iter().collect();
            values.extend(args.iter().map(|a| &a.value));
            return self.quantify(&values);
        }
        let Some(def) = found else {
            return Measured::leaf();
        };
        let Signature::Callable { params, .. } =
            resolve::signature(db, project, def.file, def.index)
        else {
            return Measured::leaf();
        };
        let ordered = in_parameter_order(params, receiver, args);
        let mut lowered: Vec<Measured> = params
            .iter()
            .zip(&ordered)
            .map(|(p, a)| match a {
                Some(x) => self.expr(x, Some(&p.ty)),
                None => Measured::leaf(),
            })
            .collect();
        match def.kind {
            DefKind::Signal => Measured::above(lowered),
            DefKind::Fn => self.inline(span, &def, name, lowered),
            DefKind::Intrinsic => {
                // An open-record parameter is passed as the field it names.
                for (p, arg) in params.iter().zip(&mut lowered) {
                    if matches!(&p.ty, Ty::Open(fields) if !fields.is_empty()) {
                        *arg = Measured::above([std::mem::take(arg)]);
                    }
                }
                let q = def.qualified(db);
                if q == "std.channel.reaches_phone" {
                    let channel = lowered.into_iter().next().unwrap_or_else(Measured::leaf);
                    let phones = *phone_channels(db, project);
                    Measured::above([channel, Measured::above(vec![Measured::leaf(); phones])])
                } else if crate::lower::callable_intrinsic(&q) {
                    Measured::above(lowered)
                } else {
                    Measured::dropping(lowered)
                }
            }
            _ => Measured::dropping(lowered),
        }
    }

    /// A call of function `def` (by `name`), its arguments measured: its body, each
    /// parameter standing for its argument.
    fn inline(&mut self, span: Span, def: &Def, name: &str, args: Vec<Measured>) -> Measured {
        let node = (def.file, def.index);
        let Some(f) = self.summary(node) else {
            // No body, or recursive (E0209): nothing this check can add.
            return Measured::dropping(args);
        };
        let at = u32::try_from(self.calls.len()).unwrap_or(u32::MAX);
        self.calls.push(Call {
            callee: node,
            name: Arc::from(name),
            span,
        });
        let mut depth = Depth {
            base: f.depth.base,
            params: Vec::new(),
        };
        for &(p, k) in &f.depth.params {
            let arg = args
                .get(p as usize)
                .map_or(Depth::LEAF, |a| a.depth.clone());
            depth.raise(&arg.below(k));
        }
        // The body, each read of a parameter a copy of its argument; and the arguments,
        // lowered once before they are copied (or dropped).
        let sizes: Vec<Size> = args.iter().map(|a| a.size.clone()).collect();
        let size = f.size.apply(&sizes);
        let mut built = f.built.apply(&sizes);
        let mut out = Measured::default();
        for a in &args {
            built.add(&a.built);
            out.keep_largest(a.largest);
        }
        let mut too_long: Vec<u32> = args.into_iter().flat_map(|a| a.too_long).collect();
        if self.root && f.chain > MAX_CALLS {
            too_long.push(at);
        }
        if self.root {
            // This call holds its arguments' calls: it builds the most of them.
            out.largest = Some((at, built.base.saturating_add(1)));
        }
        Measured {
            depth,
            size,
            built,
            deepest: Some(at),
            too_long,
            ..out
        }
    }

    /// `any`, `all` or `count`: the collection, and the lambda's body with its variable in a
    /// slot.
    fn quantify(&mut self, values: &[&ast::Expr]) -> Measured {
        let Some(list) = values.first() else {
            return Measured::leaf();
        };
        let list_ty = self.checker_type(list, None);
        let known = Some(&list_ty).filter(|t| **t != Ty::Unknown);
        let measured = self.expr(list, known);
        let body = values.get(1).and_then(|l| match &l.kind {
            ExprKind::Lambda(x, body) => Some((x, body)),
            _ => None,
        });
        let Some((x, body)) = body else {
            return Measured::above([measured]);
        };
        let elem = match list_ty.present() {
            Ty::List(t) | Ty::Set(t) => (**t).clone(),
            _ => Ty::Unknown,
        };
        self.locals.push((x.name.clone(), Local::Slot));
        let saved = self.typed.as_mut().map(|t| {
            let saved = t.env.clone();
            t.env.bind(&x.name, elem, x.span);
            saved
        });
        let body = self.expr(body, Some(&Ty::Bool));
        if let (Some(t), Some(env)) = (&mut self.typed, saved) {
            t.env = env;
        }
        self.locals.pop();
        Measured::above([measured, body])
    }
}

/// An action instance's arguments in the action's parameter order, as lowering's `call_args`
/// takes them: the one named for each parameter, or else the next positional one.
fn action_args<'e>(call: &'e ast::Call, params: &'e [TypedParam]) -> Vec<(&'e ast::Expr, &'e Ty)> {
    let mut positional = call.args.iter().filter(|a| a.name.is_none());
    let mut out = Vec::new();
    for p in params {
        let named = call
            .args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| *n.name == *p.name));
        if let Some(a) = named.or_else(|| positional.next()) {
            out.push((&a.value, &p.ty));
        }
    }
    out
}

fn strip(e: &ast::Expr) -> &ast::Expr {
    match &e.kind {
        ExprKind::Paren(x) => strip(x),
        _ => e,
    }
}

/// What is checked of one root expression.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// Its calls' chains and its depth (rules, proposals, tests' arguments and `given`s).
    Depth,
    /// Only its calls' chains: lowering does not check the depth of a signal's source
    /// arguments or of a test's `at`.
    Calls,
}

/// The E0219 diagnostics of `item` of `file`: calls nested more than [`MAX_INLINING`] deep
/// in the expressions lowering lowers, and rules, proposals and tests deeper than
/// [`MAX_DEPTH`] once their calls are inlined.
pub fn check<'w>(
    db: &'w dyn Db,
    project: Project,
    file: SourceFile,
    item: &'w ast::Item,
) -> Vec<Diagnostic> {
    let mut r = Report {
        db,
        project,
        path: file.path(db).clone(),
        w: Walk::new(db, project, file, Summaries::Query, true),
        reported: BTreeSet::new(),
        out: Vec::new(),
        #[cfg(test)]
        depths: Vec::new(),
        #[cfg(test)]
        sizes: Vec::new(),
    };
    r.item_of(file, item);
    r.out
}

impl<'w> Report<'w> {
    /// Measures what lowering lowers of `item`.
    fn item_of(&mut self, file: SourceFile, item: &'w ast::Item) {
        let db = self.db;
        match &item.kind {
            ItemKind::Policy(p) => self.policy(file, p),
            ItemKind::Decision(d) => self.decision(file, d),
            ItemKind::Test(t) if !*file.is_stdlib(db) => self.test(file, t),
            ItemKind::Signal(s) => self.signal(file, s),
            _ => {}
        }
    }
}

/// How deep, and how large, a rule's condition that calls nothing may be written and still be
/// left unmeasured ([`plain`]).
const PLAIN_DEPTH: u32 = 100;
const PLAIN_NODES: u32 = 20_000;

/// Whether `e` calls no function and holds no record value, is written at most `depth` levels
/// deep and with at most `*nodes` nodes (which it uses up). Lowering then builds what is
/// written, each node once, adding at most one node and one level above a written one (`not`
/// for `unless` and `not in`, `is absent`): at most 201 levels and 40,001 nodes, within both
/// limits ([`MAX_DEPTH`], [`MAX_INLINED`]), so measuring it can be skipped. That walk, with
/// the types it reads, was a tenth of a 1,000-rule compile.
fn plain(e: &ast::Expr, depth: u32, nodes: &mut u32) -> bool {
    if depth == 0 || *nodes == 0 {
        return false;
    }
    *nodes -= 1;
    let d = depth - 1;
    match &e.kind {
        ExprKind::Call { .. } | ExprKind::Record { .. } => false,
        ExprKind::Lit(_) | ExprKind::Name(_) | ExprKind::Error => true,
        ExprKind::Field(x, _)
        | ExprKind::Unary(_, x)
        | ExprKind::Is { expr: x, .. }
        | ExprKind::Lambda(_, x)
        | ExprKind::Paren(x) => plain(x, d, nodes),
        ExprKind::Binary(_, a, b) | ExprKind::Range { lo: a, hi: b, .. } => {
            plain(a, d, nodes) && plain(b, d, nodes)
        }
        ExprKind::If(c, a, b) => plain(c, d, nodes) && plain(a, d, nodes) && plain(b, d, nodes),
        ExprKind::List(xs) | ExprKind::Set(xs) => xs.iter().all(|x| plain(x, d, nodes)),
    }
}

/// The diagnostics of one item, as its expressions are measured.
struct Report<'w> {
    db: &'w dyn Db,
    project: Project,
    path: Arc<str>,
    w: Walk<'w>,
    /// The calls reported as nesting too deep (a test's `let` is measured once for all its
    /// uses).
    reported: BTreeSet<u32>,
    out: Vec<Diagnostic>,
    /// Each rule, proposal and test measured, and how deep it is.
    #[cfg(test)]
    depths: Vec<(String, u32)>,
    /// Each rule, proposal, test and signal measured, its size and what lowering builds.
    #[cfg(test)]
    sizes: Vec<(String, u64, u64)>,
}

/// One expression of a rule, proposal or test, and what lowering calls it in its message.
struct Part<'e> {
    expr: &'e ast::Expr,
    expected: Option<&'e Ty>,
    /// `unless`: lowering adds a `not` above the condition.
    negated: bool,
    limit: Limit,
    /// "condition", "argument", …
    what: &'static str,
}

impl<'w> Report<'w> {
    fn policy(&mut self, file: SourceFile, p: &'w ast::Policy) {
        let (db, project) = (self.db, self.project);
        // Lowering lowers a policy once per action it guards, and not at all without one.
        let guards = match &p.target {
            Target::Action(path) => resolve::resolve_path(db, project, file, path).is_some(),
            Target::Purpose(name) => match self.w.scope.lookup(db, &name.name) {
                Lookup::Found(e) => !purpose_actions(db, project, &e.def, &p.bindings).is_empty(),
                _ => false,
            },
        };
        if !guards {
            return;
        }
        let bound = p.bindings.iter().map(|b| &b.var).chain(&p.at);
        self.w
            .locals
            .extend(bound.map(|n| (n.name.clone(), Local::Slot)));
        for (i, rule) in p.rules.iter().enumerate() {
            let ast::Rule::Rule {
                condition: Some(c), ..
            } = rule
            else {
                continue;
            };
            // Most rules call no function: nothing to measure (the unit tests measure every
            // rule, to compare each with what lowering builds).
            let mut room = PLAIN_NODES;
            if !cfg!(test) && plain(&c.expr, PLAIN_DEPTH, &mut room) {
                continue;
            }
            let part = Part {
                expr: &c.expr,
                expected: Some(&Ty::Bool),
                negated: c.negated,
                limit: Limit::Depth,
                what: "condition",
            };
            self.item(|| format!("rule `{}#{}`", p.name.name, i + 1), &[part]);
        }
    }

    fn decision(&mut self, file: SourceFile, d: &'w ast::Decision) {
        let (db, project) = (self.db, self.project);
        let bound = d.params.iter().map(|p| &p.name).chain(&d.at);
        self.w
            .locals
            .extend(bound.map(|n| (n.name.clone(), Local::Slot)));
        // Numbered as lowering numbers them: only the proposals of an action.
        let mut n = 0;
        for p in &d.proposals {
            let Some(action) = resolve::resolve_path(db, project, file, &p.call.callee) else {
                continue;
            };
            let Signature::Action { params, .. } =
                resolve::signature(db, project, action.file, action.index)
            else {
                continue;
            };
            n += 1;
            let mut parts: Vec<Part> = action_args(&p.call, params)
                .into_iter()
                .map(|(expr, ty)| Part {
                    expr,
                    expected: Some(ty),
                    negated: false,
                    limit: Limit::Depth,
                    what: "argument",
                })
                .collect();
            parts.extend(p.rank.iter().map(|expr| Part {
                expr,
                expected: None,
                negated: false,
                limit: Limit::Depth,
                what: "rank",
            }));
            parts.extend(p.condition.iter().map(|c| Part {
                expr: &c.expr,
                expected: Some(&Ty::Bool),
                negated: c.negated,
                limit: Limit::Depth,
                what: "condition",
            }));
            self.item(|| format!("proposal `{}#{n}`", d.name.name), &parts);
        }
    }

    fn test(&mut self, file: SourceFile, t: &'w ast::Test) {
        let (db, project) = (self.db, self.project);
        self.w.typed = Some(Typed {
            env: Env::default(),
            checker: Checker::new(db, project, file, self.w.scope),
            lets: Vec::new(),
            measured: HashMap::new(),
        });
        for stmt in &t.body {
            match stmt {
                ast::TestStmt::Let { name, value, .. } => self.w.bind_let(name, value),
                ast::TestStmt::Expect(e) => {
                    let Some(action) = resolve::resolve_path(db, project, file, &e.call.callee)
                    else {
                        continue;
                    };
                    if let Some(policy) = &e.policy
                        && resolve::resolve_path(db, project, file, policy).is_none()
                    {
                        continue;
                    }
                    let Signature::Action { params, .. } =
                        resolve::signature(db, project, action.file, action.index)
                    else {
                        continue;
                    };
                    let mut parts: Vec<Part> = action_args(&e.call, params)
                        .into_iter()
                        .map(|(expr, ty)| Part {
                            expr,
                            expected: Some(ty),
                            negated: false,
                            limit: Limit::Depth,
                            what: "argument",
                        })
                        .collect();
                    parts.extend(e.at.iter().map(|expr| Part {
                        expr,
                        expected: Some(&Ty::Time),
                        negated: false,
                        limit: Limit::Calls,
                        what: "time",
                    }));
                    for (signal, value) in &e.given {
                        if let Lookup::Found(entry) = self.w.scope.lookup(db, &signal.name)
                            && let Signature::Callable { ret, .. } =
                                resolve::signature(db, project, entry.def.file, entry.def.index)
                        {
                            parts.push(Part {
                                expr: value,
                                expected: Some(ret),
                                negated: false,
                                limit: Limit::Depth,
                                what: "given value",
                            });
                        }
                    }
                    self.item(|| format!("test `{}`", t.name.value), &parts);
                }
                ast::TestStmt::Error(_) => {}
            }
        }
    }

    fn signal(&mut self, file: SourceFile, s: &'w ast::Signal) {
        let (db, project) = (self.db, self.project);
        self.w
            .locals
            .extend(s.params.iter().map(|p| (p.name.name.clone(), Local::Slot)));
        let source = resolve::resolve_path(db, project, file, &s.source)
            .map(|d| resolve::signature(db, project, d.file, d.index));
        let params: &[TypedParam] = match source {
            Some(Signature::Callable { params, .. }) => params,
            _ => &[],
        };
        let parts: Vec<Part> = if params.is_empty() {
            (s.source_args.iter())
                .map(|a| (&a.value, None))
                .collect::<Vec<_>>()
        } else {
            let ordered = in_parameter_order(params, None, &s.source_args);
            (params.iter().zip(ordered))
                .filter_map(|(p, a)| Some((a?, Some(&p.ty))))
                .collect()
        }
        .into_iter()
        .map(|(expr, expected)| Part {
            expr,
            expected,
            negated: false,
            limit: Limit::Calls,
            what: "argument",
        })
        .collect();
        self.item(|| format!("signal `{}`", s.name.name), &parts);
    }

    /// Measures the parts of one rule, proposal or test (`name`, as lowering names it),
    /// reporting each call that nests too deep, then the whole if it is too deep and no call
    /// was (lowering cut such a call short, and the depth it then finds is of what it built).
    /// `name` is called only for a diagnostic (or a test's record): most items have none, and
    /// formatting each one's name cost a quarter of the walk.
    fn item(&mut self, name: impl Fn() -> String, parts: &[Part]) {
        let mut deepest: Option<(u32, &Part, Option<u32>)> = None;
        let mut too_long = false;
        // What lowering builds of the whole item, and the part holding the call that builds
        // the most.
        let (mut size, mut built) = (0u64, 0u64);
        let mut largest: Option<(u64, &Part, Option<u32>)> = None;
        for part in parts {
            let mut m = self.w.expr(part.expr, part.expected);
            if part.negated {
                m = Measured::above([m]);
            }
            size = size.saturating_add(m.size.base);
            built = built.saturating_add(m.built.base);
            let (call, n) = m
                .largest
                .map_or((None, m.built.base), |(at, n)| (Some(at), n));
            if largest.as_ref().is_none_or(|(m, ..)| n > *m) {
                largest = Some((n, part, call));
            }
            for &at in &m.too_long {
                too_long = true;
                if self.reported.insert(at) {
                    let d = self.too_long(at);
                    self.out.push(d);
                }
            }
            if part.limit == Limit::Depth
                && deepest.as_ref().is_none_or(|(d, ..)| m.depth.base > *d)
            {
                deepest = Some((m.depth.base, part, m.deepest));
            }
        }
        #[cfg(test)]
        self.depths
            .push((name(), deepest.as_ref().map_or(0, |(d, ..)| *d)));
        #[cfg(test)]
        self.sizes.push((name(), size, built));
        if built > MAX_INLINED
            && !too_long
            && let Some((n, part, call)) = largest
        {
            let d = self.too_large(&name(), size, built, part, call.map(|at| (at, n)));
            self.out.push(d);
        }
        if let Some((depth, part, call)) = deepest
            && depth > MAX_DEPTH
            && !too_long
        {
            let d = self.too_deep(&name(), depth, part, call);
            self.out.push(d);
        }
    }

    /// The chain of calls inlined inside one another from call `at` (of [`Walk::calls`]) as
    /// lowering meets it, the first past the limit: at each function, its first call whose
    /// own chain is long enough. The names, and the function and span of the last call.
    fn chain(&self, at: u32) -> (Vec<Arc<str>>, Option<(Node, Span)>) {
        let fns = inlined_functions(self.db, self.project);
        let Some(first) = self.w.calls.get(at as usize) else {
            return (Vec::new(), None);
        };
        let mut names = vec![first.name.clone()];
        let mut node = first.callee;
        let mut last = None;
        while names.len() <= MAX_CALLS as usize {
            let need = MAX_CALLS + 1 - u32::try_from(names.len()).unwrap_or(MAX_CALLS);
            let next = fns.get(&node).and_then(|f| {
                (f.calls.iter())
                    .find(|c| fns.get(&c.callee).is_some_and(|g| g.inlined.chain >= need))
            });
            let Some(next) = next else {
                break;
            };
            names.push(next.name.clone());
            last = Some((node, next.span));
            node = next.callee;
        }
        (names, last)
    }

    /// E0219 for call `at`, whose inlining nests calls more than [`MAX_INLINING`] deep.
    fn too_long(&self, at: u32) -> Diagnostic {
        let call = &self.w.calls[at as usize];
        let chain = self.summary_chain(call.callee);
        let (names, last) = self.chain(at);
        let name = |i: usize| names.get(i).map_or("…", |n| &**n).to_string();
        let shown = format!(
            "`{}` → `{}` → … → `{}` → `{}`",
            name(0),
            name(1),
            name(MAX_INLINING - 1),
            name(MAX_INLINING)
        );
        let mut d = Diagnostic::error(
            "E0219",
            &self.path,
            call.span,
            format!("{shown} calls functions inside one another more than {MAX_INLINING} deep"),
        )
        .with_label(format!(
            "inlining this call nests {chain} calls inside one another"
        ));
        if let Some(((file, _), span)) = last {
            d = d.with_secondary(
                file.path(self.db),
                span,
                format!(
                    "`{}` calls `{}` here: {} calls inside one another",
                    name(MAX_INLINING - 1),
                    name(MAX_INLINING),
                    MAX_INLINING + 1
                ),
            );
        }
        d.with_note(format!(
            "XOP inlines every function call into the rule that makes it, and each inlined body adds at least one level to its expression; the engines evaluate at most {MAX_DEPTH} levels, so calls nest at most {MAX_INLINING} deep"
        ))
        .with_help(
            "compute the value with fewer nested calls: merge small functions into one, or call the inner function from the rule and pass its value as an argument (`f(g(x))`: an argument is not inside the call)",
        )
    }

    /// E0220 for `name` (a rule, proposal, test or signal), whose lowering builds `built`
    /// nodes (`size` kept), in `part`, through `call` (an index of [`Walk::calls`], and what
    /// that call builds) if the part holds a call. The call is blamed only when it builds most
    /// of it: otherwise the expression itself is too large (a long list literal, say), and
    /// advice about function calls would mislead.
    fn too_large(
        &self,
        name: &str,
        size: u64,
        built: u64,
        part: &Part,
        call: Option<(u32, u64)>,
    ) -> Diagnostic {
        let what = part.what;
        let found = call.and_then(|(at, n)| self.w.calls.get(at as usize).map(|c| (c, n)));
        let Some(call) = found
            // More than half (both may be saturated at `u64::MAX`).
            .filter(|(_, n)| *n > built.saturating_sub(*n))
            .map(|(c, _)| c)
        else {
            return self.too_large_itself(name, built, part, found);
        };
        let (size, built) = (nodes(size), nodes(built));
        let message = format!(
            "inlining the function calls of {name} builds {built} expression nodes, more than the {MAX_INLINED} lowering builds for one rule, proposal, test or signal"
        );
        Diagnostic::error("E0220", &self.path, call.span, message)
            .with_label(format!(
                "inlining `{}` here copies its arguments and the bodies it calls into the {what}",
                call.name
            ))
            .with_note(format!(
                "XOP inlines every function call into the rule, proposal or test that makes it, each parameter replaced by a copy of its argument: a body that calls a function twice, or reads a parameter twice, doubles what it is given, and a chain of n such functions multiplies it by 2^n (here the {what} is {size} nodes once inlined, and lowering builds {built})"
            ))
            .with_help(
                "bind the value once: compute it in the rule's condition, or pass it to the functions that need it already computed, rather than calling the function that computes it in each of their bodies; call fewer functions in each body, and read each parameter fewer times",
            )
    }

    /// E0220 for `name` when what makes it large is not a function call (`call`, the largest
    /// one in `part` if any, builds less than half): its expressions, as written.
    fn too_large_itself(
        &self,
        name: &str,
        built: u64,
        part: &Part,
        call: Option<(&Call, u64)>,
    ) -> Diagnostic {
        let what = part.what;
        let calls = match call {
            Some((call, n)) => format!(
                ", of which its largest function call, `{}`, builds only {}",
                call.name,
                nodes(n)
            ),
            None => String::new(),
        };
        let built = nodes(built);
        Diagnostic::error(
            "E0220",
            &self.path,
            part.expr.span,
            format!(
                "{name} is too large: lowering builds {built} expression nodes of it, more than the {MAX_INLINED} it builds for one rule, proposal, test or signal"
            ),
        )
        .with_label(format!("this {what} is too large"))
        .with_note(format!(
            "lowering builds an expression node for each operator, operand, field read, literal, and element of a list or set; at most {MAX_INLINED} for one rule, proposal, test or signal keep compiling fast and modules small (here {built}{calls})"
        ))
        .with_help(format!(
            "make the {what} smaller: split it (a long condition into several rules, each testing a part of it), or write smaller literals; a long list of values is better given in the input (as a field of a record) than written in the source"
        ))
    }

    /// The longest chain of calls inlining function `node` nests.
    fn summary_chain(&self, node: Node) -> u32 {
        (inlined(self.db, self.project, node.0, node.1).as_ref()).map_or(0, |f| f.chain)
    }

    /// E0219 for `name` (a rule, proposal or test), `depth` levels deep at `part`, through
    /// call `call` (of [`Walk::calls`]) if it holds a call.
    fn too_deep(&self, name: &str, depth: u32, part: &Part, call: Option<u32>) -> Diagnostic {
        let what = part.what;
        let message = format!(
            "{name} is nested {depth} levels deep once its function calls are inlined, more than the {MAX_DEPTH} the engines evaluate"
        );
        let d = match call.and_then(|at| self.w.calls.get(at as usize)) {
            Some(call) => {
                Diagnostic::error("E0219", &self.path, call.span, message).with_label(format!(
                    "inlining `{}` here makes the {what} {depth} levels deep",
                    call.name
                ))
            }
            None => Diagnostic::error("E0219", &self.path, part.expr.span, message)
                .with_label(format!("{depth} levels deep")),
        };
        d.with_note(format!(
            "XOP inlines every function call into the rule, proposal or test that makes it, each parameter replaced by its argument; the engines evaluate at most {MAX_DEPTH} levels, so a deeper expression could never be decided"
        ))
        .with_help(format!(
            "compute the value with fewer nested calls or shallower function bodies (`x + 4` rather than `x + 1 + 1 + 1 + 1`){}",
            if name.starts_with("rule ") {
                ", or split the condition into several rules"
            } else {
                ""
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Workspace;
    use xop_runtime::ir::Expr as IExpr;

    /// Every construct lowering builds, in rules, a proposal and a test: with functions
    /// (positional, named and method-form arguments, open-record parameters, parameters read
    /// inside lambdas and several times), intrinsics (an open-record one, `reaches_phone`),
    /// signals, enum variants, absence, ranges, `??`, `not in`, `unless`, and in the test
    /// `let`s and record values filled in by `..` with records of defaults.
    const PROGRAM: &str = r#"module acme.depths

use std.consent.{consent, marketing, Consent}
use std.contact.{contacts_within, Contact}
use std.channel.{reaches_phone, sms}
use std.time.local_hour
use std.camara.SimSwap

enum Tier { basic, gold }

record Deeper {
  m: Int
}

record Inner {
  n: Int
  deeper: Deeper
  maybe: Deeper?
}

record C {
  id: Id
  n: Int
  o: Int?
  xs: List<Int>
  tier: Tier
  consents: List<Consent>
  contacts: List<Contact>
  msisdn: Text
  inner: Inner
  tz: Tz
}

purpose service

action act(to: C, ch: Channel, k: Int) purpose service risk minimal

signal swap(c: C): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age 5m

fn twice(x: Int): Int = x * 2
fn pick(a: Int, b: Int): Int = if a > b then a else b - a
fn open_n(r: { n: Int, .. }): Int = r.n + 1
fn all_above(xs: List<Int>, k: Int): Bool = all(xs, x => x > k and any(xs, y => y == x + k))
fn has(o: Int?): Bool = o is present and (o ?? 0) > 1
fn id(x: Int): Int = x
fn shadow(x: Int, xs: List<Int>): Bool = count(xs, x => x > 1) > x
fn gold_tier(c: C): Bool = c.tier == Tier.gold

policy p for act(to: c, ch: ch, k: k) at now {
  deny "r1" when c.n > 1
  deny "r2" unless c.o is absent
  deny "r3" when c.n not in 1..3
  deny "r4" when (c.o ?? 2) in [1, 2, twice(c.n)]
  deny "r5" when c.tier == Tier.gold or c.tier == gold or gold_tier(c)
  deny "r6" when consent(c, marketing, ch)
  deny "r7" when contacts_within(c, 1h) > 2
  deny "r8" when reaches_phone(ch) and reaches_phone(sms)
  deny "r9" when local_hour(now, c.tz) in 8..21
  deny "r10" when swap(c) is present and swap(c).swapped
  deny "r11" when pick(b: twice(c.n), a: k) > id(id(id(k)))
  deny "r12" when c.n.pick(twice(k)) > 3
  deny "r13" when open_n(c) > open_n(c.inner)
  deny "r14" when all_above(c.xs, k) and count(c.xs, x => has(c.o) and x > 2) > 1
  deny "r15" when -twice(-k) > 0 and not has(c.o)
  deny "r16" when c.xs.any(x => x > twice(x)) or shadow(twice(k), c.xs)
  deny "r17" when (if c.n > 1 then twice(k) else id(k)) == c.inner.deeper.m
  deny "r18" unless pick(twice(twice(k)), id(c.n)) not in [k, twice(k)]
  deny "r19" when Tier.gold != gold
  allow "ok"
}

decision d(c: C, k: Int) at now {
  propose act(ch: sms, to: c, k: twice(k)) rank by pick(k, c.n) when not has(c.o)
}

test "t" {
  let m = twice(3)
  let r = { n: id(m), .. }
  expect p(act(to: { n: m, inner: r, .. }, ch: sms, k: pick(m, 1))) == deny
  expect p(act(to: { inner: { n: 1, deeper: { m: twice(m) } }, .. }, ch: sms, k: 1)) == deny given swap = { swapped: twice(1) > 1, .. }
  expect p(act(to: { .. }, ch: sms, k: 1)) == deny
}
"#;

    /// How many levels deep `e` is, as the engines count them.
    fn depth(e: &IExpr) -> u32 {
        (1..).find(|&l| !e.deeper_than(l)).expect("a finite depth")
    }

    /// Rules, proposals and tests, each with how deep it is.
    type Depths = Vec<(String, u32)>;

    /// The depth the checker computes of each rule, proposal and test of the project's file
    /// `depths.xop`, and the depth of what lowering builds of them, in the same order.
    fn both(ws: &Workspace) -> (Depths, Depths) {
        let (db, project) = (ws.db(), ws.project());
        let file = ws.file("depths.xop").expect("the file");
        let mut checked = Vec::new();
        for i in 0..parse_file(db, file).ast.items.len() {
            let mut r = Report {
                db,
                project,
                path: file.path(db).clone(),
                w: Walk::new(db, project, file, Summaries::Query, true),
                reported: BTreeSet::new(),
                out: Vec::new(),
                depths: Vec::new(),
                sizes: Vec::new(),
            };
            let index = u32::try_from(i).expect("an index");
            let item = item_ast(db, file, index).as_ref().expect("the item");
            r.item_of(file, item);
            checked.extend(
                r.depths
                    .into_iter()
                    .filter(|(n, _)| !n.starts_with("signal")),
            );
        }
        let program = crate::lower::lower(db, project).expect("lowered");
        let mut lowered = Vec::new();
        let (policy, _) = program.policy("p").expect("policy p");
        for r in &program.policies[policy].rules {
            if let Some(c) = &r.condition {
                lowered.push((format!("rule `{}`", r.id), depth(c)));
            }
        }
        for (i, p) in program.decisions[0].proposals.iter().enumerate() {
            let d = p
                .args
                .iter()
                .chain(&p.rank)
                .chain(&p.condition)
                .map(depth)
                .max();
            lowered.push((format!("proposal `d#{}`", i + 1), d.unwrap_or(0)));
        }
        for t in &program.tests {
            let d = t
                .args
                .iter()
                .chain(t.given.iter().map(|(_, e)| e))
                .map(depth)
                .max();
            lowered.push((format!("test `{}`", t.name), d.unwrap_or(0)));
        }
        (checked, lowered)
    }

    /// Rules, proposals, tests and signals, each with its size and what lowering builds.
    type Sizes = Vec<(String, u64, u64)>;

    /// The sizes the checker computes of each rule, proposal, test and signal of the file
    /// `sizes.xop` (and what lowering builds of them), and those of what lowering builds:
    /// the nodes of its IR and what it counted; sorted.
    fn sizes(source: &str) -> (Sizes, Sizes) {
        let mut ws = Workspace::new();
        ws.set_file("sizes.xop", source);
        let errors: Vec<String> = (ws.diagnostics().iter())
            .filter(|d| d.is_error() && d.code.starts_with('E'))
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let (db, project) = (ws.db(), ws.project());
        let file = ws.file("sizes.xop").expect("the file");
        let mut checked = Vec::new();
        for i in 0..parse_file(db, file).ast.items.len() {
            let mut r = Report {
                db,
                project,
                path: file.path(db).clone(),
                w: Walk::new(db, project, file, Summaries::Query, true),
                reported: BTreeSet::new(),
                out: Vec::new(),
                depths: Vec::new(),
                sizes: Vec::new(),
            };
            let index = u32::try_from(i).expect("an index");
            let item = item_ast(db, file, index).as_ref().expect("the item");
            r.item_of(file, item);
            checked.extend(r.sizes);
        }
        let (program, log) = crate::lower::lower_logged(db, project);
        let program = program.expect("lowered");
        let nodes =
            |es: &mut dyn Iterator<Item = &IExpr>| -> u64 { es.map(crate::lower::nodes).sum() };
        let mut made = Vec::new();
        for p in &program.policies {
            for r in &p.rules {
                made.push((format!("rule `{}`", r.id), nodes(&mut r.condition.iter())));
            }
        }
        for d in &program.decisions {
            for (i, p) in d.proposals.iter().enumerate() {
                let n = nodes(&mut p.args.iter().chain(&p.rank).chain(&p.condition));
                made.push((format!("proposal `{}#{}`", d.name, i + 1), n));
            }
        }
        for t in &program.tests {
            let n = nodes(&mut t.args.iter().chain(t.given.iter().map(|(_, e)| e)));
            made.push((format!("test `{}`", t.name), n));
        }
        for s in &program.signals {
            let name = s.name.rsplit('.').next().unwrap_or_default();
            made.push((format!("signal `{name}`"), nodes(&mut s.source_args.iter())));
        }
        // Each item's nodes and what lowering counted building it, paired in the order
        // lowering lowers them (the expectations of a test share its name).
        let mut lowered = Vec::new();
        for (name, b) in log {
            let m = (made.iter().position(|(n, _)| *n == name)).map_or(0, |i| made.remove(i).1);
            if checked.iter().any(|(n, ..)| *n == name) {
                lowered.push((name, m, b));
            }
        }
        lowered.sort();
        checked.sort();
        (checked, lowered)
    }

    /// The checker's sizes are those of what lowering builds, construct by construct: the
    /// nodes of the IR lowering makes and the nodes it counts building it (lowered or copied),
    /// for every construct, functions that read a parameter several times, call functions
    /// several times or drop an argument, and `let`s used several times.
    #[test]
    fn the_checker_counts_what_lowering_builds() {
        let (checked, lowered) = sizes(&PROGRAM.replace("acme.depths", "acme.sizes"));
        assert_eq!(checked.len(), 19 + 1 + 3 + 1, "{checked:?}");
        assert_eq!(checked, lowered);
        let shapes = r#"module acme.shapes

use std.consent.{consent, marketing, Consent}
use std.channel.sms

record C {
  id: Id
  a: Int
  b: Int?
  xs: List<Int>
  consents: List<Consent>
}

purpose service

action act(to: C, k: Int) purpose service risk minimal

fn f0(x: Int): Int = x + 1
fn f1(x: Int): Int = f0(x) + f0(x)
fn f2(x: Int): Int = f1(x) * f1(x + 2)
fn g(x: Int): Int = x + x + x
fn g2(x: Int): Int = g(g(x))
fn drop(x: Int, y: Int): Int = y
fn keep(x: Int, y: Int): Int = drop(f2(x), y) + drop(y, x)
fn none(): Int = 3
fn both(a: Int, b: Int?): Int = (b ?? a) + g(a) + (if a > 1 then b ?? 2 else none())
fn lam(xs: List<Int>, k: Int): Bool = any(xs, x => x > g(k)) and count(xs) > k
fn ok(c: C): Bool = consent(c, marketing, sms) and lam(c.xs, c.a)

policy p for act(to: c, k: k) {
  deny "r1" when f2(c.a) > 5
  deny "r2" when g2(g2(k)) > (((c.a)))
  deny "r3" when keep(c.a, k) > keep(k, g(c.a))
  deny "r4" unless both(c.a, c.b) > 1 and ok(c)
  deny "r5" when lam(c.xs, f1(k)) or drop(f2(f2(k)), 1) > 0
  allow "ok"
}

decision d(c: C, k: Int) {
  propose act(to: c, k: f2(k)) rank by g2(k) when ok(c)
}

test "t" {
  let m = f1(2)
  let n = g(m) + m
  expect p(act(to: { a: n, xs: [n, m], .. }, k: n)) == deny
}
"#;
        let (checked, lowered) = sizes(shapes);
        assert_eq!(checked.len(), 5 + 1 + 1, "{checked:?}");
        assert_eq!(checked, lowered);
    }

    /// The checker's depths are those of what lowering builds, construct by construct.
    #[test]
    fn the_checker_measures_what_lowering_builds() {
        let mut ws = Workspace::new();
        ws.set_file("depths.xop", PROGRAM);
        let errors: Vec<String> = (ws.diagnostics().iter())
            .filter(|d| d.is_error() && d.code.starts_with('E'))
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let (checked, lowered) = both(&ws);
        assert_eq!(checked.len(), 19 + 1 + 3, "{checked:?}");
        assert_eq!(checked, lowered);
    }

    /// E0220 of a rule made large by a list literal, not by function calls, says so and
    /// suggests splitting it or a smaller literal, without the advice about calls; one made
    /// large by a call still blames the call.
    #[test]
    fn e0220_blames_calls_only_when_they_make_it_large() {
        let list = (0..100_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let source = |condition: &str| {
            format!(
                "module h.one\n\npurpose m\n\nrecord C {{\n  id: Id\n  n: Int\n}}\n\n\
                 action send(to: C) purpose m risk minimal\n\n\
                 fn f0(x: Int): Int = x + 1\n\
                 fn f1(x: Int): Int = f0(x) + f0(x)\n\n\
                 policy p for send(to: c) {{\n  deny \"l\" when {condition}\n  allow \"ok\"\n}}\n"
            )
        };
        let e0220 = |source: &str| {
            let mut ws = Workspace::new();
            ws.set_file("big.xop", source);
            let found: Vec<Diagnostic> = (ws.diagnostics().into_iter())
                .filter(|d| d.code == "E0220")
                .collect();
            assert_eq!(found.len(), 1, "{found:#?}");
            let d = found.into_iter().next().expect("one E0220");
            let text = format!("{} {} {:?} {:?}", d.message, d.label, d.notes, d.help);
            (d, text)
        };
        for condition in [
            format!("c.n in [{list}]"),
            // A call, but one that builds little of it.
            format!("f1(c.n) in [{list}]"),
        ] {
            let (d, text) = e0220(&source(&condition));
            assert!(
                d.message
                    .starts_with("rule `p#1` is too large: lowering builds 1000"),
                "{}",
                d.message
            );
            for wrong in ["inlining", "call fewer", "2^n", "bind the value once"] {
                assert!(!text.contains(wrong), "`{wrong}` in {text}");
            }
            for right in [
                "split it",
                "smaller literals",
                "this condition is too large",
            ] {
                assert!(text.contains(right), "`{right}` missing from {text}");
            }
            // At the condition, not at a call.
            assert_eq!(Some(d.span.start()), source(&condition).find(&condition));
        }
        let (_, text) = e0220(&source(&format!("f1(c.n) in [{list}]")));
        assert!(
            text.contains("its largest function call, `f1`, builds only"),
            "{text}"
        );
    }
}
