//! What a policy can read of its input, computed once from its IR.
//!
//! **The read set is static.** Every rule expression of a policy is walked once to find the
//! input paths it can read ([`ReadSet::of_policy`]): a field chain (`c.consents`, `c.tz`) is a
//! path; a path used as a whole value (compared, passed to an intrinsic, tested for presence)
//! is read whole; a quantifier's element is the list's path with `[*]`, plus the list's length.
//! A value handed to a signal is not read by the rules: the signal's connector reads the paths
//! of its declared source arguments (`c.msisdn` for `camara.sim_swap(c.msisdn, 24h)`), which
//! are kept apart, marked `via` the signal. The set over-approximates what one evaluation reads
//! (both branches of an `if`, every rule even after a run-time error), never under-approximates.
//!
//! Two users: a decision's evidence ([`crate::proof::evidence`]) records the values at these
//! paths and nothing else of the input; the JIT's binders ([`Reads`]) leave out the strings
//! no path reaches, which no code of the policy can look at.

use std::collections::{BTreeMap, BTreeSet};

use smallvec::SmallVec;

use crate::ir::{Expr, Policy, Program, Quantifier, Type};

/// One step of an input path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// A record's field, by index.
    Field(u32),
    /// Every element of a list.
    Each,
    /// Only a list's length.
    Len,
}

/// An input path: a parameter and the steps into it; the value at its end is read whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReadPath {
    /// The parameter's index.
    pub param: u32,
    /// The steps.
    pub steps: SmallVec<[Step; 4]>,
}

/// What a policy's rules can read of its input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSet {
    /// Paths the rules read.
    pub rules: BTreeSet<ReadPath>,
    /// Paths only passed to a signal's connector, with the signal's qualified name.
    pub via: BTreeMap<ReadPath, String>,
}

struct Walk<'a> {
    program: &'a Program,
    set: ReadSet,
    /// The signal whose connector arguments are being walked, if any.
    via: Option<String>,
    /// Building the binders' trees ([`Reads::of_policy`]) instead of the set: every path read,
    /// `via` a signal or not, goes straight into its parameter's tree, and a signal's
    /// arguments count as read whole (the JIT hands a signal's source their whole values).
    trees: Option<(&'a Policy, Vec<Reads>)>,
}

impl ReadSet {
    /// The read set of `policy`'s rules.
    pub fn of_policy(program: &Program, policy: &Policy) -> ReadSet {
        let mut w = Walk {
            program,
            set: ReadSet::default(),
            via: None,
            trees: None,
        };
        w.rules(policy);
        // A path the rules read needs no `via` entry.
        let rules = w.set.rules.clone();
        w.set.via.retain(|p, _| !rules.contains(p));
        w.set
    }

    /// What any of `sets` reads: the read set of several policies of one action (they share
    /// the action's parameters), as one decision over all of them reads it.
    pub fn union<'s>(sets: impl IntoIterator<Item = &'s ReadSet>) -> ReadSet {
        let mut out = ReadSet::default();
        for set in sets {
            out.rules.extend(set.rules.iter().cloned());
            for (p, signal) in &set.via {
                out.via.entry(p.clone()).or_insert_with(|| signal.clone());
            }
        }
        let rules = &out.rules;
        out.via.retain(|p, _| !rules.contains(p));
        out
    }
}

/// What of one parameter's value a policy can read, shaped like its type: the binders of the
/// JIT leave out (as word 0) every `Text` and `Id` that no path reaches, so an input pays for
/// no string the policy never looks at (`offer` of `send_offer`, a customer's `id` when no rule
/// reads it). Built by [`Reads::of_policy`] from the read set with signal arguments read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reads {
    /// Read whole: every part of the value.
    All,
    /// Not read at all (its length may be, for a list: the header is always laid out).
    Nothing,
    /// A record some of whose fields are read: one entry per field.
    Fields(Box<[Reads]>),
    /// A list some of whose elements' parts are read.
    Elements(Box<Reads>),
}

impl Reads {
    /// One tree per parameter of `policy`.
    pub fn of_policy(program: &Program, policy: &Policy) -> Vec<Reads> {
        let mut w = Walk {
            program,
            set: ReadSet::default(),
            via: None,
            trees: Some((policy, vec![Reads::Nothing; policy.params.len()])),
        };
        w.rules(policy);
        w.trees.map(|(_, t)| t).unwrap_or_default()
    }

    /// Marks the value at `steps` (in a value of type `ty`) read whole. Steps that do not fit
    /// the type (never from a checked program) read the value here whole: coarse, not unsound.
    fn add(&mut self, program: &Program, ty: &Type, steps: &[Step]) {
        if matches!(self, Reads::All) {
            return;
        }
        let ty = match ty {
            Type::Optional(inner) => inner,
            t => t,
        };
        match (steps.first(), ty) {
            (None, _) => *self = Reads::All,
            // The header is always laid out: the length alone reads no part of an element.
            (Some(Step::Len), Type::List(_) | Type::Set(_)) => {}
            (Some(Step::Each), Type::List(elem)) => {
                if matches!(self, Reads::Nothing) {
                    *self = Reads::Elements(Box::new(Reads::Nothing));
                }
                match self {
                    Reads::Elements(e) => e.add(program, elem, &steps[1..]),
                    _ => *self = Reads::All,
                }
            }
            (Some(Step::Field(f)), Type::Record(r)) => {
                let Some(rt) = program.records.get(*r as usize) else {
                    *self = Reads::All;
                    return;
                };
                let Some(field) = rt.fields.get(*f as usize) else {
                    *self = Reads::All;
                    return;
                };
                if matches!(self, Reads::Nothing) {
                    *self = Reads::Fields(vec![Reads::Nothing; rt.fields.len()].into());
                }
                match self {
                    Reads::Fields(fs) if fs.len() == rt.fields.len() => {
                        fs[*f as usize].add(program, &field.ty, &steps[1..]);
                    }
                    _ => *self = Reads::All,
                }
            }
            // A set's elements are sorted and deduplicated by value when bound: left whole,
            // so that leaving a part out cannot change its length.
            _ => *self = Reads::All,
        }
    }

    /// What is read of field `i` of a record read as `self`.
    pub fn field(&self, i: usize) -> &Reads {
        match self {
            Reads::Fields(fs) => fs.get(i).unwrap_or(&Reads::All),
            Reads::Nothing => &Reads::Nothing,
            _ => &Reads::All,
        }
    }

    /// What is read of each element of a list read as `self`.
    pub fn elements(&self) -> &Reads {
        match self {
            Reads::Elements(e) => e,
            Reads::Nothing => &Reads::Nothing,
            _ => &Reads::All,
        }
    }

    /// Whether a string read as `self` may be left out.
    pub fn unread(&self) -> bool {
        matches!(self, Reads::Nothing)
    }
}

/// How deep the walk goes before giving up on precision (the interpreter refuses deeper
/// programs; the walk must not overflow the stack on a hostile module either).
pub(crate) const MAX_DEPTH: u32 = 256;

impl Walk<'_> {
    /// Walks every rule of `policy`, its parameters in their slots.
    fn rules(&mut self, policy: &Policy) {
        let slots = policy.slots.max(policy.params.len() as u32) as usize;
        let mut env: Vec<Option<ReadPath>> = vec![None; slots];
        for (i, slot) in env.iter_mut().enumerate().take(policy.params.len()) {
            *slot = Some(ReadPath {
                param: i as u32,
                steps: SmallVec::new(),
            });
        }
        for rule in &policy.rules {
            if let Some(c) = &rule.condition {
                self.used(c, &mut env, 0);
            }
        }
    }

    fn read(&mut self, p: ReadPath) {
        if let Some((policy, trees)) = &mut self.trees {
            if let (Some(tree), Some(param)) = (
                trees.get_mut(p.param as usize),
                policy.params.get(p.param as usize),
            ) {
                tree.add(self.program, &param.ty, &p.steps);
            }
            return;
        }
        match &self.via {
            None => {
                self.set.rules.insert(p);
            }
            Some(signal) => {
                self.set.via.entry(p).or_insert_with(|| signal.clone());
            }
        }
    }

    /// `e` is used as a value: its path, if it is one, is read whole.
    fn used(&mut self, e: &Expr, env: &mut Vec<Option<ReadPath>>, depth: u32) {
        if let Some(p) = self.path(e, env, depth) {
            self.read(p);
        }
    }

    /// The input path `e` denotes, if it is one; records the reads of its parts otherwise.
    fn path(&mut self, e: &Expr, env: &mut Vec<Option<ReadPath>>, depth: u32) -> Option<ReadPath> {
        if depth > MAX_DEPTH {
            // Too deep to analyse: read every parameter whole (sound, if coarse).
            for p in env.iter().flatten().cloned().collect::<Vec<_>>() {
                self.read(p);
            }
            return None;
        }
        let d = depth + 1;
        match e {
            Expr::Const(_) => None,
            Expr::Slot(s) => env.get(*s as usize).cloned().flatten(),
            Expr::Field(inner, f) => {
                let mut p = self.path(inner, env, d)?;
                p.steps.push(Step::Field(*f));
                Some(p)
            }
            Expr::Quantify {
                quantifier,
                list,
                slot,
                body,
            } => {
                let lp = self.path(list, env, d);
                if let Some(lp) = &lp {
                    let mut len = lp.clone();
                    len.steps.push(Step::Len);
                    self.read(len);
                }
                let element = lp.map(|mut p| {
                    p.steps.push(Step::Each);
                    p
                });
                if let Some(body) = body {
                    let s = *slot as usize;
                    if env.len() <= s {
                        env.resize(s + 1, None);
                    }
                    let saved = std::mem::replace(&mut env[s], element);
                    self.used(body, env, d);
                    env[s] = saved;
                } else if *quantifier != Quantifier::Count {
                    // `any(xs)`/`all(xs)` without a body read the elements themselves.
                    if let Some(p) = element {
                        self.read(p);
                    }
                }
                None
            }
            Expr::Signal(index, args) => {
                let arg_paths: Vec<Option<ReadPath>> =
                    args.iter().map(|a| self.path(a, env, d)).collect();
                if self.trees.is_some() {
                    for p in arg_paths.iter().flatten() {
                        self.read(p.clone());
                    }
                }
                if let Some(decl) = self.program.signals.get(*index as usize) {
                    let mut signal_env = arg_paths;
                    let saved = self.via.replace(decl.name.clone());
                    for a in &decl.source_args {
                        self.used(a, &mut signal_env, d);
                    }
                    self.via = saved;
                } else {
                    for p in arg_paths.into_iter().flatten() {
                        self.read(p);
                    }
                }
                None
            }
            Expr::Not(a) | Expr::Neg(a) | Expr::IsPresent(a) => {
                self.used(a, env, d);
                None
            }
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp(_, a, b)
            | Expr::Arith(_, a, b)
            | Expr::In(a, b)
            | Expr::Default(a, b) => {
                self.used(a, env, d);
                self.used(b, env, d);
                None
            }
            Expr::InRange { value, lo, hi, .. } => {
                for x in [value, lo, hi] {
                    self.used(x, env, d);
                }
                None
            }
            Expr::If(c, a, b) => {
                for x in [c, a, b] {
                    self.used(x, env, d);
                }
                None
            }
            Expr::List(xs) | Expr::Set(xs) | Expr::Record(_, xs) | Expr::Intrinsic(_, xs) => {
                for x in xs {
                    self.used(x, env, d);
                }
                None
            }
        }
    }
}
