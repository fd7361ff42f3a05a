//! A bound on the work of a decision, as a polynomial in the size of its input, computed from
//! the IR once per module rather than measured: what lets a server choose, before deciding,
//! whether a decision can be left on a thread that must answer other requests.
//!
//! The unit of work is a step: an expression evaluated, or one unit of size of a value walked
//! by an operation whose cost grows with its operands (a comparison or concatenation of
//! texts, lists or records, `in`, an intrinsic that scans a list, a signal read, whose
//! arguments are hashed and whose value is proven). The size of a value is its texts' bytes
//! plus its lists' and records' elements and fields, one per scalar.
//!
//! A value bound from an input of `n` bytes of JSON has a size of at most `W·n`, where `W`
//! ([`Work::widening`]) is `⌈(1 + O)/2⌉` for `O` the most optional fields of any record type
//! the input can bind to (reachable from a policy's parameters or a signal's value). Binding
//! turns an optional field missing from its object into an absent value of size 1, so the two
//! bytes `{}` become a record of as many units as its type has fields, plus one. By induction
//! on the JSON: a scalar, text or list costs at least one byte per unit of size (a text's
//! quotes pay for its own unit, a list's brackets for its); an object of `b` bytes costs its
//! two braces plus, per field given, its value's bytes (and its key's), and binds to a record
//! of size at most `1 + O + W·(its values' bytes)` with at most `O` fields left out, which is
//! at most `W·b` since `1 + O ≤ 2W`. Nesting does not multiply: an optional record field left
//! out is one absent value, not a record, and a required one must be written out, braces and
//! all. Every list held in such a value has a length no larger than its size, so also `W·n`.
//!
//! A quantifier over a list of size `s` evaluates its condition at most `s` times: nested
//! quantifiers over the input multiply, and so the bound is a polynomial in `n` whose degree
//! is the deepest nesting of loops over input-sized collections (`any(xs, a => any(xs, b =>
//! …))` is of degree 2, a comparison of two input texts inside it of degree 3).
//!
//! The bound is sound, never tight: a constant list or record counts its own size, not `n`;
//! a list's length is counted as its size (`W·n`, though no list of the input is longer than
//! `n`); a lambda's element is counted as large as its whole list (the sizes of the elements
//! of one list, summed, are what a loop walks, so a text compared with each element of a list
//! of texts counts as quadratic where it is linear); `and`, `or`, `if` and the first match of
//! a rule are counted as if every branch and every rule were evaluated. User functions are
//! inlined by the compiler, so their quantifiers nest in the IR as they do in the source.
//! A policy's bound ([`Work::of_policy`]) is that of evaluating its rules; parsing, binding
//! and proving the input, done once per decision whatever the policies, are bounded apart
//! ([`Work::of_input`]), linear in `n` with a coefficient that grows with `W`.

use crate::interp::MAX_DEPTH;
use crate::ir::{Expr, Intrinsic, Policy, Program, Quantifier, Type};
use crate::value::Value;

/// A polynomial in the input's size `n` with saturating coefficients: `c[k]` is the
/// coefficient of `n^k`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Work {
    /// Coefficients, lowest degree first; no trailing zero.
    c: Vec<u64>,
}

impl Work {
    /// No work at all.
    pub fn zero() -> Work {
        Work::default()
    }

    /// A constant `k` (steps that do not depend on the input).
    fn constant(k: u64) -> Work {
        Work { c: vec![k] }.trimmed()
    }

    /// `w·n`: a bound on the size of a value bound from the input, `w` its program's
    /// [`Work::widening`].
    fn input(w: u64) -> Work {
        Work { c: vec![0, w] }.trimmed()
    }

    /// How many units of size a byte of the input may bind to in `program` at most (`W` of
    /// the [module documentation](crate::cost)): `⌈(1 + O)/2⌉` for `O` the most optional
    /// fields of any record type an input can bind to (reachable from a policy's parameters
    /// or a signal's value), since an object's two braces may stand for a record of `O`
    /// absent fields. 1 for a program whose inputs hold no record of more than one optional
    /// field.
    pub fn widening(program: &Program) -> u64 {
        let mut reached = vec![false; program.records.len()];
        let mut types: Vec<&Type> = (program.policies.iter())
            .flat_map(|p| p.params.iter().map(|param| &param.ty))
            .chain(program.signals.iter().map(|s| &s.ty))
            .collect();
        let mut optional = 0usize;
        while let Some(ty) = types.pop() {
            match ty {
                Type::List(t) | Type::Set(t) | Type::Optional(t) => types.push(t),
                Type::Record(r) => {
                    let i = *r as usize;
                    // A record named by no declaration binds nothing (binding refuses it).
                    let (Some(seen), Some(decl)) = (reached.get_mut(i), program.records.get(i))
                    else {
                        continue;
                    };
                    if !*seen {
                        *seen = true;
                        let fields = decl.fields.iter().map(|f| &f.ty);
                        optional = optional.max(
                            fields
                                .clone()
                                .filter(|t| matches!(t, Type::Optional(_)))
                                .count(),
                        );
                        types.extend(fields);
                    }
                }
                _ => {}
            }
        }
        // `1 + O ≤ 2W`: the record's own unit and its absent fields, paid by its braces.
        (u64::try_from(optional).unwrap_or(u64::MAX))
            .saturating_add(1)
            .div_ceil(2)
            .max(1)
    }

    /// The bound on the work of reading an input of `program`, done once per decision
    /// whatever policies decide it: parsing its `n` bytes, binding them to values of size at
    /// most `W·n` ([`Work::widening`]) and encoding those to prove them, `(1 + 2W)·n`.
    pub fn of_input(program: &Program) -> Work {
        Work::of_input_widened(Work::widening(program))
    }

    /// [`Work::of_input`] for widening `w` ([`Work::widening`]).
    fn of_input_widened(w: u64) -> Work {
        Work::input(w.saturating_mul(2).saturating_add(1))
    }

    /// A bound that no input meets: every coefficient saturated up to `degree`.
    fn unbounded(degree: usize) -> Work {
        Work {
            c: vec![u64::MAX; degree + 1],
        }
    }

    fn trimmed(mut self) -> Work {
        while self.c.last() == Some(&0) {
            self.c.pop();
        }
        self
    }

    /// `self + other`.
    pub fn plus(&self, other: &Work) -> Work {
        let len = self.c.len().max(other.c.len());
        let at = |w: &Work, k: usize| w.c.get(k).copied().unwrap_or(0);
        Work {
            c: (0..len)
                .map(|k| at(self, k).saturating_add(at(other, k)))
                .collect(),
        }
        .trimmed()
    }

    /// A bound on both `self` and `other` for every input size: the larger of each of their
    /// coefficients.
    pub fn or(&self, other: &Work) -> Work {
        let len = self.c.len().max(other.c.len());
        let at = |w: &Work, k: usize| w.c.get(k).copied().unwrap_or(0);
        Work {
            c: (0..len).map(|k| at(self, k).max(at(other, k))).collect(),
        }
        .trimmed()
    }

    /// `self + k`.
    fn plus_const(&self, k: u64) -> Work {
        self.plus(&Work::constant(k))
    }

    /// `self × other`.
    fn times(&self, other: &Work) -> Work {
        if self.c.is_empty() || other.c.is_empty() {
            return Work::zero();
        }
        let mut c = vec![0u64; self.c.len() + other.c.len() - 1];
        for (i, a) in self.c.iter().enumerate() {
            for (j, b) in other.c.iter().enumerate() {
                c[i + j] = c[i + j].saturating_add(a.saturating_mul(*b));
            }
        }
        Work { c }.trimmed()
    }

    /// The degree of the part that grows with the input: 0 when the work does not depend on
    /// it, 1 when linear, 2 for two nested loops over it, and so on.
    pub fn degree(&self) -> usize {
        self.c.len().saturating_sub(1)
    }

    /// The bound on the steps that grow with an input of `n` bytes (the constant term left
    /// out: a module's own size is not the input's doing), saturating at `u64::MAX`.
    pub fn growing(&self, n: u64) -> u64 {
        let mut sum: u64 = 0;
        let mut power: u64 = 1;
        for c in self.c.iter().skip(1) {
            power = power.saturating_mul(n);
            sum = sum.saturating_add(c.saturating_mul(power));
        }
        sum
    }

    /// The bound on the work of deciding policy `policy` of `program`: every rule's
    /// condition evaluated. A condition nested too deeply for the interpreter to evaluate
    /// ([`MAX_DEPTH`]) is not walked (it fails on its depth in the interpreter); it is counted
    /// as work no input can afford, so that it is never decided where its cost would matter.
    pub fn of_policy(program: &Program, policy: &Policy) -> Work {
        Work::of_policy_widened(program, policy, Work::widening(program))
    }

    /// [`Work::of_policy`] for widening `w` ([`Work::widening`], a walk of every policy's
    /// parameters: found once per program, not per policy).
    fn of_policy_widened(program: &Program, policy: &Policy, w: u64) -> Work {
        let input = Work::input(w);
        let mut slots: Vec<(u32, Slot)> = Vec::with_capacity(policy.params.len() + 1);
        for (i, p) in (0u32..).zip(&policy.params) {
            let slot = Slot {
                size: input.clone(),
                ty: Some(p.ty.clone()),
            };
            slots.push((i, slot));
        }
        if let Some(now) = policy.now_slot {
            let slot = Slot {
                size: Work::constant(1),
                ty: Some(Type::Time),
            };
            slots.push((now, slot));
        }
        let mut walk = Walk {
            program,
            slots,
            input,
        };
        let mut total = Work::zero();
        for rule in &policy.rules {
            total = total.plus_const(1);
            if let Some(c) = &rule.condition {
                if c.deeper_than(MAX_DEPTH) {
                    return Work::unbounded(2);
                }
                total = total.plus(&walk.expr(c).cost);
            }
        }
        total
    }
}

/// What a frame slot holds: a bound on its value's size, and its type if known.
#[derive(Debug, Clone)]
struct Slot {
    size: Work,
    ty: Option<Type>,
}

/// What the walk finds of an expression: a bound on the steps of evaluating it, one on the
/// size of its value, and its type if known (unknown is taken as large).
struct Found {
    cost: Work,
    size: Work,
    ty: Option<Type>,
}

struct Walk<'p> {
    program: &'p Program,
    /// What each slot bound holds, innermost last (a lambda's binding hides an outer one of
    /// its slot until its body is walked). A stack, not a frame: a module's slot numbers are
    /// not trusted to be small.
    slots: Vec<(u32, Slot)>,
    /// A bound on the size of a value bound from the input ([`Work::input`]).
    input: Work,
}

/// Whether a value of type `ty` has a size that does not depend on the input (unknown: no).
fn small(ty: Option<&Type>) -> bool {
    match ty {
        Some(
            Type::Bool
            | Type::Int
            | Type::Decimal
            | Type::Duration
            | Type::Time
            | Type::Symbol(_)
            | Type::Enum(_),
        ) => true,
        Some(Type::Optional(t)) => small(Some(t)),
        _ => false,
    }
}

/// The elements' type of a list or set type.
fn element(ty: Option<&Type>) -> Option<Type> {
    match ty {
        Some(Type::List(t) | Type::Set(t)) => Some((**t).clone()),
        Some(Type::Optional(t)) => element(Some(t)),
        _ => None,
    }
}

/// The size of a constant, and its type where it is small (others are left unknown).
fn constant(v: &Value) -> (u64, Option<Type>) {
    let ty = match v {
        Value::Bool(_) => Some(Type::Bool),
        Value::Int(_) => Some(Type::Int),
        Value::Decimal(_) => Some(Type::Decimal),
        Value::Duration(_) => Some(Type::Duration),
        Value::Time(_) => Some(Type::Time),
        Value::Record(r, _) => Some(Type::Record(*r)),
        _ => None,
    };
    (value_size(v), ty)
}

/// The size of a value: one per scalar, element and field, plus its texts' bytes.
fn value_size(v: &Value) -> u64 {
    match v {
        Value::Text(s) | Value::Tz(s) | Value::Id(s) | Value::Money(_, s) => {
            (s.len() as u64).saturating_add(1)
        }
        Value::Record(_, xs) | Value::List(xs) => xs
            .iter()
            .fold(1u64, |acc, x| acc.saturating_add(value_size(x))),
        _ => 1,
    }
}

/// The bounds on the work of deciding with one module, found once when it is loaded
/// ([`crate::engine::LoadedPolicies::work`]), as its read sets are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleWork {
    /// Reading an input of the module ([`Work::of_input`]): parsing, binding and proving it,
    /// once per decision whatever policies decide it.
    pub input: Work,
    /// Each policy's, by index ([`Work::of_policy`]): evaluating its rules.
    pub policies: Vec<Work>,
    /// A bound on deciding any one of its policies or actions: reading the input plus, for
    /// each action, its policies' bounds summed (an action is decided over all of them), the
    /// largest coefficients of those.
    pub most: Work,
}

impl ModuleWork {
    /// The bounds of `program`'s decisions.
    pub fn of(program: &Program) -> ModuleWork {
        let w = Work::widening(program);
        let policies: Vec<Work> = (program.policies.iter())
            .map(|p| Work::of_policy_widened(program, p, w))
            .collect();
        let mut actions: std::collections::HashMap<&str, Work> = Default::default();
        for (p, w) in program.policies.iter().zip(&policies) {
            let sum = actions.entry(p.action.as_str()).or_default();
            *sum = sum.plus(w);
        }
        let input = Work::of_input_widened(w);
        let most = input.plus(&actions.values().fold(Work::zero(), |m, w| m.or(w)));
        ModuleWork {
            input,
            policies,
            most,
        }
    }

    /// A bound on deciding the policies `indices` together (one policy, or an action's), its
    /// input read once; `None` if an index is not of the module.
    pub fn of_policies(&self, indices: &[usize]) -> Option<Work> {
        (indices.iter()).try_fold(self.input.clone(), |sum, &i| {
            self.policies.get(i).map(|w| sum.plus(w))
        })
    }
}

impl Walk<'_> {
    /// What slot `s` holds; one never bound (out of the frame: the interpreter refuses it)
    /// is taken as an input value of unknown type.
    fn slot(&self, s: u32) -> Slot {
        (self.slots.iter().rev())
            .find(|(i, _)| *i == s)
            .map(|(_, slot)| slot.clone())
            .unwrap_or(Slot {
                size: self.input.clone(),
                ty: None,
            })
    }

    /// The field's type of a value of record type `ty` (through an optional).
    fn field_type(&self, ty: Option<&Type>, i: u32) -> Option<Type> {
        match ty {
            Some(Type::Record(r)) => self
                .program
                .records
                .get(*r as usize)
                .and_then(|rt| rt.fields.get(i as usize))
                .map(|f| f.ty.clone()),
            Some(Type::Optional(t)) => self.field_type(Some(t), i),
            _ => None,
        }
    }

    /// The walk of `xs`: their costs and sizes summed, and their types.
    fn all(&mut self, xs: &[Expr]) -> (Work, Work, Vec<Option<Type>>) {
        let mut cost = Work::zero();
        let mut size = Work::zero();
        let mut tys = Vec::with_capacity(xs.len());
        for x in xs {
            let f = self.expr(x);
            cost = cost.plus(&f.cost);
            size = size.plus(&f.size);
            tys.push(f.ty);
        }
        (cost, size, tys)
    }

    fn expr(&mut self, e: &Expr) -> Found {
        let one = Work::constant(1);
        match e {
            Expr::Const(v) => {
                let (size, ty) = constant(v);
                Found {
                    cost: one,
                    size: Work::constant(size),
                    ty,
                }
            }
            Expr::Slot(s) => {
                let slot = self.slot(*s);
                Found {
                    cost: one,
                    size: slot.size,
                    ty: slot.ty,
                }
            }
            Expr::Field(x, i) => {
                let f = self.expr(x);
                let ty = self.field_type(f.ty.as_ref(), *i);
                Found {
                    cost: f.cost.plus_const(1),
                    size: f.size,
                    ty,
                }
            }
            Expr::Not(x) | Expr::IsPresent(x) => Found {
                cost: self.expr(x).cost.plus_const(1),
                size: one,
                ty: Some(Type::Bool),
            },
            Expr::Neg(x) => {
                let f = self.expr(x);
                Found {
                    cost: f.cost.plus_const(1),
                    ..f
                }
            }
            Expr::And(a, b) | Expr::Or(a, b) => Found {
                cost: self.expr(a).cost.plus(&self.expr(b).cost).plus_const(1),
                size: one,
                ty: Some(Type::Bool),
            },
            Expr::Cmp(_, a, b) => {
                let (fa, fb) = (self.expr(a), self.expr(b));
                // Two values are compared element by element, up to the shorter one: a
                // constant bounds it, else both sizes do; scalars cost one step.
                let walked = if small(fa.ty.as_ref()) && small(fb.ty.as_ref()) {
                    Work::zero()
                } else if matches!(**a, Expr::Const(_)) {
                    fa.size.clone()
                } else if matches!(**b, Expr::Const(_)) {
                    fb.size.clone()
                } else {
                    fa.size.plus(&fb.size)
                };
                Found {
                    cost: fa.cost.plus(&fb.cost).plus(&walked).plus_const(1),
                    size: one,
                    ty: Some(Type::Bool),
                }
            }
            Expr::Arith(_, a, b) => {
                let (fa, fb) = (self.expr(a), self.expr(b));
                let ty = fa.ty.clone().or(fb.ty.clone());
                // Texts are concatenated (a new text as long as both), money compares its
                // currencies; numbers, durations and times cost one step.
                let (walked, size) = if small(fa.ty.as_ref()) && small(fb.ty.as_ref()) {
                    (Work::zero(), one)
                } else {
                    let both = fa.size.plus(&fb.size);
                    (both.clone(), both)
                };
                Found {
                    cost: fa.cost.plus(&fb.cost).plus(&walked).plus_const(1),
                    size,
                    ty,
                }
            }
            Expr::In(x, xs) => {
                let (fx, fxs) = (self.expr(x), self.expr(xs));
                // Compared with each element, each comparison walking at most that element.
                Found {
                    cost: fx.cost.plus(&fxs.cost).plus(&fxs.size).plus_const(1),
                    size: one,
                    ty: Some(Type::Bool),
                }
            }
            Expr::InRange { value, lo, hi, .. } => {
                let found = [self.expr(value), self.expr(lo), self.expr(hi)];
                let cost = found.iter().fold(Work::zero(), |w, f| w.plus(&f.cost));
                // Ordered values are compared up to the shorter one: both walked, if large.
                let walked = if found.iter().all(|f| small(f.ty.as_ref())) {
                    Work::zero()
                } else {
                    found.iter().fold(Work::zero(), |w, f| w.plus(&f.size))
                };
                Found {
                    cost: cost.plus(&walked).plus_const(1),
                    size: one,
                    ty: Some(Type::Bool),
                }
            }
            Expr::Default(a, b) => {
                let (fa, fb) = (self.expr(a), self.expr(b));
                let ty = fb.ty.clone().or_else(|| match fa.ty.clone() {
                    Some(Type::Optional(t)) => Some(*t),
                    t => t,
                });
                Found {
                    cost: fa.cost.plus(&fb.cost).plus_const(1),
                    size: fa.size.plus(&fb.size),
                    ty,
                }
            }
            Expr::If(c, a, b) => {
                let fc = self.expr(c);
                let (fa, fb) = (self.expr(a), self.expr(b));
                Found {
                    cost: fc.cost.plus(&fa.cost).plus(&fb.cost).plus_const(1),
                    size: fa.size.plus(&fb.size),
                    ty: fa.ty.or(fb.ty),
                }
            }
            Expr::List(xs) | Expr::Set(xs) => {
                let (cost, size, tys) = self.all(xs);
                let k = xs.len() as u64;
                // A set's elements are sorted: fewer than k² comparisons, each walking at most
                // the elements' size.
                let sorted = match e {
                    Expr::Set(_) => size.times(&Work::constant(k)),
                    _ => Work::zero(),
                };
                let elem = tys.into_iter().next().flatten();
                Found {
                    cost: cost.plus(&sorted).plus_const(1),
                    size: size.plus_const(k.saturating_add(1)),
                    ty: elem.map(|t| Type::List(Box::new(t))),
                }
            }
            Expr::Record(r, xs) => {
                let (cost, size, _) = self.all(xs);
                Found {
                    cost: cost.plus_const(1),
                    size: size.plus_const((xs.len() as u64).saturating_add(1)),
                    ty: Some(Type::Record(*r)),
                }
            }
            Expr::Quantify {
                quantifier,
                list,
                slot,
                body,
            } => {
                let fl = self.expr(list);
                let ty = Some(match quantifier {
                    Quantifier::Count => Type::Int,
                    Quantifier::Any | Quantifier::All => Type::Bool,
                });
                let Some(body) = body else {
                    return Found {
                        cost: fl.cost.plus_const(1),
                        size: one,
                        ty,
                    };
                };
                // The element: no larger than its list (its type, the list's elements').
                let bound = Slot {
                    size: fl.size.clone(),
                    ty: element(fl.ty.as_ref()),
                };
                self.slots.push((*slot, bound));
                let fb = self.expr(body);
                self.slots.pop();
                // At most as many elements as the list's size, each evaluating the body.
                let loops = fl.size.times(&fb.cost.plus_const(1));
                Found {
                    cost: fl.cost.plus(&loops).plus_const(1),
                    size: one,
                    ty,
                }
            }
            Expr::Intrinsic(which, args) => {
                let (cost, size, tys) = self.all(args);
                // The consent and contact intrinsics scan their list; the time zone ones look
                // a zone up by its name: each walks its large arguments at most once.
                let walked = if tys.iter().all(|t| small(t.as_ref())) {
                    Work::zero()
                } else {
                    size
                };
                let ty = Some(match which {
                    Intrinsic::Consent | Intrinsic::SwappedWithin => Type::Bool,
                    Intrinsic::Hours | Intrinsic::Minutes | Intrinsic::Days => Type::Duration,
                    Intrinsic::LocalHour
                    | Intrinsic::DayOfWeek
                    | Intrinsic::ContactsWithin
                    | Intrinsic::ContactsOnWithin => Type::Int,
                });
                Found {
                    cost: cost.plus(&walked).plus_const(1),
                    size: one,
                    ty,
                }
            }
            Expr::Signal(i, args) => {
                let (cost, size, _) = self.all(args);
                let ty = self
                    .program
                    .signals
                    .get(*i as usize)
                    .map(|d| Type::Optional(Box::new(d.ty.clone())));
                // Its arguments are hashed for the memo, and its value (given in the input,
                // at most its size) is checked, recorded and proven.
                Found {
                    cost: cost.plus(&size).plus(&self.input).plus_const(1),
                    size: self.input.clone(),
                    ty,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::build::{arith, b, cmp, program, rule, slot};
    use crate::ir::{ArithOp, CmpOp, Field, RecordType, Verdict};

    fn int(n: i64) -> Expr {
        Expr::Const(Value::Int(n))
    }

    /// `q(list, slot => body)`.
    fn any(list: Expr, at: u32, body: Expr) -> Expr {
        Expr::Quantify {
            quantifier: Quantifier::Any,
            list: b(list),
            slot: at,
            body: Some(b(body)),
        }
    }

    /// A field `name` of type `ty`, not personal.
    fn field(name: String, ty: Type) -> Field {
        Field {
            name,
            ty,
            personal: false,
        }
    }

    /// The record `t.C { xs: List<Int>, name: Text }`, then the fields `more`.
    fn record_c(more: Vec<Field>) -> RecordType {
        let mut fields = vec![
            field("xs".into(), Type::List(Box::new(Type::Int))),
            field("name".into(), Type::Text),
        ];
        fields.extend(more);
        RecordType {
            name: "t.C".into(),
            fields,
        }
    }

    /// The work of one policy over a record `C { xs: List<Int>, name: Text, tags: List<Text> }`
    /// (slot 0) whose only rule's condition is `condition`; lambdas bind slots 1, 2, 3.
    fn work(condition: Expr) -> Work {
        let mut p = program(
            vec![Type::Record(0)],
            vec![rule(0, Verdict::Deny, "r", Some(condition))],
        );
        p.records.push(record_c(vec![field(
            "tags".into(),
            Type::List(Box::new(Type::Text)),
        )]));
        p.policies[0].slots = 4;
        Work::of_policy(&p, &p.policies[0])
    }

    fn xs() -> Expr {
        Expr::Field(b(slot(0)), 0)
    }
    fn name() -> Expr {
        Expr::Field(b(slot(0)), 1)
    }
    fn tags() -> Expr {
        Expr::Field(b(slot(0)), 2)
    }

    #[test]
    fn scalars_of_the_input_cost_nothing_that_grows() {
        let w = work(cmp(CmpOp::Gt, Expr::Field(b(slot(0)), 0), int(3)));
        // `xs > 3` compares a list with a constant: bounded by the constant.
        assert_eq!(w.degree(), 0, "{w:?}");
        assert_eq!(w.growing(1 << 20), 0);
    }

    #[test]
    fn nested_quantifiers_over_the_input_are_of_their_depth() {
        let pair = any(
            xs(),
            1,
            any(
                xs(),
                2,
                cmp(CmpOp::Eq, arith(ArithOp::Add, slot(1), slot(2)), int(-1)),
            ),
        );
        assert_eq!(work(pair.clone()).degree(), 2);
        let triple = any(
            xs(),
            1,
            any(
                xs(),
                2,
                any(
                    xs(),
                    3,
                    cmp(
                        CmpOp::Eq,
                        arith(ArithOp::Add, arith(ArithOp::Add, slot(1), slot(2)), slot(3)),
                        int(-1),
                    ),
                ),
            ),
        );
        let w = work(triple);
        assert_eq!(w.degree(), 3);
        // 6 KB of input: far past what a linear pass over 64 KiB costs.
        assert!(w.growing(6_000) > 6_000u64.pow(3), "{w:?}");
        // One loop over the input is linear.
        assert_eq!(
            work(any(xs(), 1, cmp(CmpOp::Gt, slot(1), int(0)))).degree(),
            1
        );
    }

    #[test]
    fn a_constant_list_multiplies_by_its_length_not_by_the_input() {
        let literal = Expr::List(vec![int(1), int(2), int(3)]);
        let w = work(any(
            literal,
            1,
            any(xs(), 2, cmp(CmpOp::Eq, slot(1), slot(2))),
        ));
        assert_eq!(w.degree(), 1, "{w:?}");
    }

    #[test]
    fn operations_on_large_values_inside_a_loop_count_their_size() {
        // Two input texts compared for each element: quadratic.
        let w = work(any(xs(), 1, cmp(CmpOp::Eq, name(), name())));
        assert_eq!(w.degree(), 2, "{w:?}");
        // A text concatenated for each tag: quadratic (the reviewer's `t + "x" == c.name + "x"`).
        let concat = |e: Expr| arith(ArithOp::Add, e, Expr::Const(Value::text("x")));
        let w = work(any(
            tags(),
            1,
            cmp(CmpOp::Eq, concat(slot(1)), concat(name())),
        ));
        assert_eq!(w.degree(), 2, "{w:?}");
        // Compared with a constant: bounded by the constant, linear over the loop.
        let w = work(any(
            tags(),
            1,
            cmp(CmpOp::Eq, slot(1), Expr::Const(Value::text("vip"))),
        ));
        assert_eq!(w.degree(), 1, "{w:?}");
        // Membership in an input list, for each element of another: quadratic.
        let w = work(any(xs(), 1, Expr::In(b(slot(1)), b(xs()))));
        assert_eq!(w.degree(), 2, "{w:?}");
        // An intrinsic that scans a list, for each element: quadratic.
        let w = work(any(
            xs(),
            1,
            Expr::Intrinsic(
                Intrinsic::ContactsWithin,
                vec![tags(), Expr::Const(Value::Duration(1))],
            ),
        ));
        assert_eq!(w.degree(), 2, "{w:?}");
        // A signal read for each element, even with a small argument: its value (given in the
        // input) is as large as the input, and proven.
        let w = work(any(
            xs(),
            1,
            Expr::IsPresent(b(Expr::Signal(0, vec![int(1)]))),
        ));
        assert_eq!(w.degree(), 2, "{w:?}");
    }

    #[test]
    fn too_deep_a_condition_is_never_cheap_and_sums_saturate() {
        let mut e = cmp(CmpOp::Gt, slot(0), int(0));
        for _ in 0..=MAX_DEPTH {
            e = Expr::Not(b(e));
        }
        let w = work(e);
        assert!(w.degree() >= 1);
        assert_eq!(w.growing(2), u64::MAX);
        let mut deep = cmp(CmpOp::Gt, slot(3), int(0));
        for _ in 0..40 {
            deep = any(xs(), 3, deep);
        }
        assert_eq!(work(deep).growing(1 << 16), u64::MAX);
    }

    /// A program of one policy over `C { rs: List<R>, ts: List<R> }` (slot 0), `R` a record
    /// of `fields` optional ints, whose only rule is `c.rs == c.ts`.
    fn lists_of_wide_records(fields: usize) -> Program {
        let list_of_r = Type::List(Box::new(Type::Record(1)));
        let mut p = program(
            vec![Type::Record(0)],
            vec![rule(
                0,
                Verdict::Deny,
                "same",
                Some(cmp(
                    CmpOp::Eq,
                    Expr::Field(b(slot(0)), 0),
                    Expr::Field(b(slot(0)), 1),
                )),
            )],
        );
        p.records.push(RecordType {
            name: "t.C".into(),
            fields: vec![
                field("rs".into(), list_of_r.clone()),
                field("ts".into(), list_of_r),
            ],
        });
        p.records.push(RecordType {
            name: "t.R".into(),
            fields: (0..fields)
                .map(|i| field(format!("f{i}"), Type::Optional(Box::new(Type::Int))))
                .collect(),
        });
        p
    }

    #[test]
    fn optional_fields_widen_what_a_byte_of_input_binds_to() {
        // The reviewer's body: two lists of `{}` that bind to records of 1000 absent fields.
        let p = lists_of_wide_records(1000);
        assert_eq!(Work::widening(&p), 501);
        let empties = vec!["{}"; 10_800].join(",");
        let body = format!(r#"{{"a0": {{"rs": [{empties}], "ts": [{empties}]}}}}"#);
        let n = body.len() as u64;
        // Bound whatever its size (binding refuses it past `bind::max_words`; the bound holds
        // without that limit).
        let options = crate::bind::BindOptions {
            any_size: true,
            ..crate::bind::BindOptions::default()
        };
        let json = crate::bind::parse_json(&body).expect("JSON");
        let bound = crate::bind::bind_value_with(&p, 0, &json, options).expect("the body binds");
        let bound_size = (bound.args.iter()).fold(0u64, |acc, v| acc + value_size(v));
        // What binding built, and what the comparison walks: more than a thousand a byte.
        assert!(bound_size > 300 * n, "{bound_size} units from {n} bytes");
        let w = Work::of_policy(&p, &p.policies[0]);
        assert!(w.growing(n) >= bound_size, "{w:?} at {n}: {bound_size}");
        assert!(Work::of_input(&p).growing(n) >= bound_size);
        // The same rule over records of one optional field: a byte binds to a unit at most.
        let narrow = lists_of_wide_records(1);
        assert_eq!(Work::widening(&narrow), 1);
        let w1 = Work::of_policy(&narrow, &narrow.policies[0]);
        assert_eq!(w.degree(), w1.degree());
        assert_eq!(w.growing(n), 501 * w1.growing(n), "{w:?} {w1:?}");
        // No record at all: as wide as a record of one optional field.
        assert_eq!(Work::widening(&program(vec![Type::Int], Vec::new())), 1);
    }

    #[test]
    fn only_records_an_input_can_bind_to_widen_it() {
        // `R` declared but bound by no parameter: a byte still binds to a unit at most.
        let mut p = lists_of_wide_records(1000);
        p.policies[0].params[0].ty = Type::Int;
        assert_eq!(Work::widening(&p), 1);
        // Bound by a signal's value, through an optional and a list: widened.
        p.signals.push(crate::ir::SignalDecl {
            name: "t.s".into(),
            params: Vec::new(),
            ty: Type::Optional(Box::new(Type::List(Box::new(Type::Record(1))))),
            source: "t.src".into(),
            source_args: Vec::new(),
            max_age_ms: None,
        });
        assert_eq!(Work::widening(&p), 501);
        // A record naming one that no declaration holds is no record (binding refuses it).
        let mut q = lists_of_wide_records(3);
        q.records[0].fields[0].ty = Type::Record(7);
        assert_eq!(Work::widening(&q), 2);
    }

    /// Without a loop, every comparison of two values of the input still walks them: nine
    /// rules `c.name == c.name` and the reading of the input (`3n` with no optional field)
    /// pass 2^20 steps from 49,933 bytes, under 64 KiB.
    #[test]
    fn comparisons_of_input_values_add_up_without_a_loop() {
        let one = work(cmp(CmpOp::Eq, name(), name()));
        let mut p = program(
            vec![Type::Record(0)],
            (0..9)
                .map(|i| rule(i, Verdict::Deny, "r", Some(cmp(CmpOp::Eq, name(), name()))))
                .collect(),
        );
        p.records.push(record_c(Vec::new()));
        let nine = Work::of_input(&p).plus(&Work::of_policy(&p, &p.policies[0]));
        assert_eq!((one.degree(), nine.degree()), (1, 1));
        assert_eq!(one.growing(1), 2, "{one:?}");
        assert_eq!(nine.growing(1), 21, "{nine:?}");
        assert!(nine.growing(49_932) <= 1 << 20 && nine.growing(49_933) > 1 << 20);
    }

    #[test]
    fn works_add_up() {
        let one = work(any(xs(), 1, cmp(CmpOp::Gt, slot(1), int(0))));
        let two = work(any(xs(), 1, any(xs(), 2, cmp(CmpOp::Gt, slot(2), int(0)))));
        let sum = one.plus(&two);
        assert_eq!(sum.degree(), 2);
        assert_eq!(sum.growing(100), one.growing(100) + two.growing(100));
        assert_eq!(Work::zero().plus(&one), one);
        let either = one.or(&two);
        for n in [0, 1, 7, 1000] {
            assert!(either.growing(n) >= one.growing(n).max(two.growing(n)));
        }
        assert_eq!(either.degree(), 2);
    }
}
