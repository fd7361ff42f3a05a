//! The reference interpreter: it defines what a compiled [`Program`] means. The JIT must agree
//! with it on every program, input, decision time and signal values.
//!
//! [`decide`] evaluates one policy: every rule's condition in order, then the combining rule
//! (deny > review > allow > nothing allowed is deny). It never panics and never allows by
//! accident: ill-formed input is `deny` with reason [`BAD_INPUT`], and any run-time error while
//! evaluating a rule (absent where a value is needed, overflow, division by zero, a decimal
//! result that cannot be represented exactly, mixed currencies, a value of the wrong kind, an
//! unknown time zone, a malformed program) stops the evaluation and gives `deny` with reason
//! [`RUNTIME_ERROR`].
//!
//! Decisions that the IR leaves open, fixed here:
//! - `and`, `or`, `??`, `if` and the quantifiers `any`/`all` evaluate only what their result
//!   needs (so an error in a later element of `any` after a `true` one is not reached); `count`
//!   evaluates its body on every element.
//! - `==` and `!=` are structural on any two values and never fail; values of different kinds
//!   are unequal (`Absent == Absent`). Sets are compared like lists, in element order: every
//!   set is canonical (sorted, unique; [`canonical`]), a set of the input too, however given.
//! - Ordering (`<`, ranges) fails on absent values and on values of different kinds.
//! - A signal's value that does not match its declared type reads as absent (an answer out of
//!   contract), as does `Absent`; reads are memoised per decision by signal and arguments.
//! - Expressions nested deeper than [`MAX_DEPTH`] are a run-time error (no stack overflow).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::intrinsics;
use crate::ir::{
    ArithOp, CmpOp, Expr, Intrinsic, Policy, Program, Quantifier, Review, Rule, SignalDecl, Type,
    Verdict,
};
use crate::value::Value;

/// The reason of a decision that failed because of a run-time error.
pub const RUNTIME_ERROR: &str = "xop:runtime-error";

/// The reason of a decision refused because its input does not match the policy's parameters.
pub const BAD_INPUT: &str = "xop:bad-input";

/// How deeply expressions may nest; deeper is a run-time error. (The compiler should refuse
/// deeper programs; an unoptimised build needs about 4 KiB of stack per level at worst.)
pub const MAX_DEPTH: u32 = 256;

/// The outcome of a policy on one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// The reasons of the fired rules whose verdict is the final verdict, in rule order,
    /// without duplicates; or the single [`RUNTIME_ERROR`] / [`BAD_INPUT`] reason.
    pub reasons: Vec<String>,
    /// The ids of the rules that fired, in order (for an error, those that fired before it).
    pub fired: Vec<String>,
    /// When the verdict is `review`: the terms of the review rules that fired, merged
    /// ([`merge_reviews`]).
    pub review: Option<Review>,
    /// What went wrong, for a decision that failed closed.
    pub error: Option<String>,
}

impl Decision {
    /// A decision that failed closed: deny with `reason` and what went wrong.
    pub fn failed(reason: &str, fired: Vec<String>, error: String) -> Decision {
        Decision {
            verdict: Verdict::Deny,
            reasons: vec![reason.to_string()],
            fired,
            review: None,
            error: Some(error),
        }
    }
}

/// Where signal values come from.
pub trait Signals {
    /// The value of signal `signal` (declared as `decl`) for `args`, or `Value::Absent` when it
    /// is unavailable, failed or is stale.
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value;

    /// How the `nth` read of this source (from 0, in the order they were made) was fetched,
    /// for the proof record: the network calls and their correlators, or why it is absent.
    /// `None` for a source that keeps no such account (the runtime gives the account of a
    /// value given in the input that its freshness made absent: `bind::Bound::judged`).
    fn fetch(&self, nth: usize) -> Option<crate::proof::record::SignalFetch> {
        let _ = nth;
        None
    }
}

/// No signal is ever available.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSignals;

impl Signals for NoSignals {
    fn read(&self, _signal: u32, _decl: &SignalDecl, _args: &[Value]) -> Value {
        Value::Absent
    }
}

/// Given values: a signal listed here reads its value whatever its arguments (the first entry
/// for it wins); others are absent. What `given` does in tests.
#[derive(Debug, Clone, Default)]
pub struct FixedSignals(pub Vec<(u32, Value)>);

impl Signals for FixedSignals {
    fn read(&self, signal: u32, _decl: &SignalDecl, _args: &[Value]) -> Value {
        self.0
            .iter()
            .find(|(s, _)| *s == signal)
            .map_or(Value::Absent, |(_, v)| v.clone())
    }
}

/// Decides policy `policy` of `program` on the action's arguments `args` at `now_ms`.
pub fn decide(
    program: &Program,
    policy: usize,
    args: &[Value],
    now_ms: i64,
    signals: &dyn Signals,
) -> Decision {
    decide_in(program, policy, args, now_ms, signals, Sets::Canonical)
}

/// A decision stopped before its end because whoever waits for it said so: it has no verdict,
/// and must not be given one (see [`decide_until`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// How many iterations of the quantifiers (all of them, nested ones counted each time) pass
/// between two questions to a decision's `stop` ([`decide_until`]): asking costs a call (and
/// the runtime's asks the time), an iteration a few dozen nanoseconds.
pub const STOP_EVERY: u32 = 1024;

/// [`decide`], asking `stop` every [`STOP_EVERY`] iterations of the quantifiers whether to stop:
/// once it says so, the evaluation ends at once and the decision is [`Cancelled`] (what the
/// runtime does when the decision's deadline passes or its caller gives up). Work outside
/// quantifiers (an intrinsic, an `in` over a list) is not interrupted: between two questions a
/// decision does at most [`STOP_EVERY`] iterations' bodies.
pub fn decide_until(
    program: &Program,
    policy: usize,
    args: &[Value],
    now_ms: i64,
    signals: &dyn Signals,
    stop: &dyn Fn() -> bool,
) -> Result<Decision, Cancelled> {
    decide_stoppable(
        program,
        policy,
        args,
        now_ms,
        signals,
        Sets::Canonical,
        Some(stop),
    )
}

/// How a decision takes the sets in its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sets {
    /// Put in canonical form first ([`canonical`]): what every decision does.
    Canonical,
    /// Checked, but kept in the order given, repeats included: a replay's input rebuilt from
    /// evidence ([`crate::proof::replay`]), whose sets hold their logged elements by index, in
    /// the order and number decided on, the parts no rule reads set to defaults (so that two
    /// of them may be equal, or out of order, though the sets logged were not).
    AsGiven,
}

/// [`check_input`], the arguments as given when `sets` says so.
fn check_args<'a>(
    program: &Program,
    pol: &Policy,
    args: &'a [Value],
    sets: Sets,
) -> Result<Cow<'a, [Value]>, String> {
    let canonical = check_input(program, pol, args)?;
    Ok(match sets {
        Sets::Canonical => canonical,
        Sets::AsGiven => Cow::Borrowed(args),
    })
}

/// [`decide`], taking the arguments' sets as `sets` says.
pub(crate) fn decide_in(
    program: &Program,
    policy: usize,
    args: &[Value],
    now_ms: i64,
    signals: &dyn Signals,
    sets: Sets,
) -> Decision {
    match decide_stoppable(program, policy, args, now_ms, signals, sets, None) {
        Ok(d) => d,
        // Never: nothing asks it to stop.
        Err(Cancelled) => Decision::failed(
            RUNTIME_ERROR,
            Vec::new(),
            "internal: a decision stopped though nothing asked it to".into(),
        ),
    }
}

/// [`decide_in`], asking `stop` (if any) whether to stop ([`decide_until`]).
fn decide_stoppable(
    program: &Program,
    policy: usize,
    args: &[Value],
    now_ms: i64,
    signals: &dyn Signals,
    sets: Sets,
    stop: Option<&dyn Fn() -> bool>,
) -> Result<Decision, Cancelled> {
    let Some(pol) = program.policies.get(policy) else {
        return Ok(Decision::failed(
            RUNTIME_ERROR,
            Vec::new(),
            format!("no policy #{policy} in the program"),
        ));
    };
    let args = match check_args(program, pol, args, sets) {
        Ok(args) => args,
        Err(e) => {
            return Ok(Decision::failed(
                BAD_INPUT,
                Vec::new(),
                format!("policy {}: {e}", pol.qualified),
            ));
        }
    };
    let mut frame = match frame(pol, &args, now_ms) {
        Ok(frame) => frame,
        Err(e) => {
            return Ok(Decision::failed(
                RUNTIME_ERROR,
                Vec::new(),
                format!("policy {}: {e}", pol.qualified),
            ));
        }
    };
    let mut ev = Evaluator::new(program, now_ms, signals);
    ev.stop = stop;
    let fired = fire(&mut ev, pol, &mut frame);
    // Stopped: whatever the rules gave (the error that ended them, most likely) is no verdict.
    if ev.stopped {
        return Err(Cancelled);
    }
    Ok(match fired {
        Ok(fired) => combine(pol, &fired),
        Err(failed) => failed,
    })
}

/// Evaluates every rule of `pol` in order: the indices of those that fire, or the failed
/// decision at the first rule whose condition cannot be evaluated.
fn fire(ev: &mut Evaluator<'_>, pol: &Policy, frame: &mut [Value]) -> Result<Vec<usize>, Decision> {
    let mut fired: Vec<usize> = Vec::new();
    for (i, rule) in pol.rules.iter().enumerate() {
        let applies = match &rule.condition {
            None => Ok(true),
            Some(c) => ev.eval(c, frame).and_then(|v| match v {
                Value::Bool(b) => Ok(b),
                other => Err(format!("the condition is {}, not a Bool", other.kind())),
            }),
        };
        match applies {
            Ok(true) => fired.push(i),
            Ok(false) => {}
            Err(e) => {
                let ids = fired.iter().map(|&j| pol.rules[j].id.clone()).collect();
                return Err(Decision::failed(
                    RUNTIME_ERROR,
                    ids,
                    format!("rule {}: {e}", rule.id),
                ));
            }
        }
    }
    Ok(fired)
}

/// Decides action `action` (its qualified name) as it is decided wherever it is proposed — from
/// a journey, a decision, an agent's tool call: every policy that guards it is evaluated on the
/// same arguments, with one signal cache, and their fired rules are combined as one policy's
/// (deny > review > allow; nothing allowed, or no policy at all, is deny).
pub fn decide_action(
    program: &Program,
    action: &str,
    args: &[Value],
    now_ms: i64,
    signals: &dyn Signals,
) -> Decision {
    decide_action_in(program, action, args, now_ms, signals, Sets::Canonical)
}

/// [`decide_action`], taking the arguments' sets as `sets` says.
pub(crate) fn decide_action_in(
    program: &Program,
    action: &str,
    args: &[Value],
    now_ms: i64,
    signals: &dyn Signals,
    sets: Sets,
) -> Decision {
    let guards: Vec<&Policy> = program.guards(action).collect();
    let mut ev = Evaluator::new(program, now_ms, signals);
    let mut fired: Vec<&Rule> = Vec::new();
    for pol in &guards {
        let args = match check_args(program, pol, args, sets) {
            Ok(args) => args,
            Err(e) => {
                return Decision::failed(BAD_INPUT, Vec::new(), format!("action {action}: {e}"));
            }
        };
        let mut frame = match frame(pol, &args, now_ms) {
            Ok(frame) => frame,
            Err(e) => {
                return Decision::failed(
                    RUNTIME_ERROR,
                    Vec::new(),
                    format!("policy {}: {e}", pol.qualified),
                );
            }
        };
        match fire(&mut ev, pol, &mut frame) {
            Ok(indices) => fired.extend(indices.into_iter().map(|i| &pol.rules[i])),
            Err(mut failed) => {
                // Keep what fired in the policies before, then this one's.
                let mut ids: Vec<String> = fired.iter().map(|r| r.id.clone()).collect();
                ids.append(&mut failed.fired);
                failed.fired = ids;
                return failed;
            }
        }
    }
    combine_rules(&fired)
}

/// Combines the decisions of policies `guards` (indices into [`Program::policies`], in order),
/// each made by `decide` (by either engine), as [`decide_action`] combines its policies' fired
/// rules: the first policy that fails ends the decision, with the rules that fired before it.
/// The runtime decides an action's policies so, each by the engine that compiled it, and
/// `xop test` checks the JIT's per-policy decisions so combined against [`decide_action`].
pub fn combine_guards(
    program: &Program,
    guards: &[usize],
    mut decide: impl FnMut(usize) -> Decision,
) -> Decision {
    let mut fired: Vec<&Rule> = Vec::new();
    for &index in guards {
        let d = decide(index);
        if d.error.is_some() {
            let mut ids: Vec<String> = fired.iter().map(|r| r.id.clone()).collect();
            ids.extend(d.fired);
            return Decision { fired: ids, ..d };
        }
        // A decision's fired rules are in the policy's order: one walk finds them.
        let Some(pol) = program.policies.get(index) else {
            return Decision::failed(
                RUNTIME_ERROR,
                fired.iter().map(|r| r.id.clone()).collect(),
                format!("no policy #{index} in the program"),
            );
        };
        let mut rules = pol.rules.iter();
        for id in &d.fired {
            match rules.find(|r| &r.id == id) {
                Some(r) => fired.push(r),
                None => {
                    return Decision::failed(
                        RUNTIME_ERROR,
                        fired.iter().map(|r| r.id.clone()).collect(),
                        format!("internal: rule `{id}` fired out of its policy's order"),
                    );
                }
            }
        }
    }
    combine_rules(&fired)
}

/// One ranked candidate of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The proposed action's qualified name.
    pub action: String,
    /// Its arguments (empty if they could not be evaluated).
    pub args: Vec<Value>,
    /// Its `rank by` value (`Int(0)` when not written).
    pub rank: Value,
    /// What the action's policies decide for it (deny with `xop:runtime-error` if the
    /// candidate itself could not be evaluated).
    pub decision: Decision,
    /// Where the proposal is written.
    pub line: u32,
    /// Whether evaluating the candidate itself (its condition, arguments or rank) failed:
    /// then it is denied with `xop:runtime-error`, has no arguments, and is ranked below every
    /// real rank, its `rank` only a placeholder.
    pub failed: bool,
}

/// Checks `args` against decision `def`'s parameters: their number and each value's type, and
/// gives them canonical (as [`check_input`]). Bad input is the failed (deny) decision to
/// return. Both engines check with it.
pub(crate) fn check_decision_args<'a>(
    program: &Program,
    def: &crate::ir::DecisionDef,
    args: &'a [Value],
) -> Result<Cow<'a, [Value]>, Decision> {
    if args.len() != def.params.len() {
        return Err(Decision::failed(
            BAD_INPUT,
            Vec::new(),
            format!(
                "decision {}: expects {} argument(s), got {}",
                def.qualified,
                def.params.len(),
                args.len()
            ),
        ));
    }
    let mut owned: Option<Vec<Value>> = None;
    for (i, (param, arg)) in def.params.iter().zip(args).enumerate() {
        let changed = canonical_in(program, &param.ty, arg).map_err(|e| {
            Decision::failed(
                BAD_INPUT,
                Vec::new(),
                format!("decision {}: `{}`: {e}", def.qualified, param.name),
            )
        })?;
        if let Some(v) = changed {
            owned.get_or_insert_with(|| args.to_vec())[i] = v;
        }
    }
    Ok(owned.map_or(Cow::Borrowed(args), Cow::Owned))
}

/// Decides decision `decision`: every proposal whose condition holds becomes a candidate,
/// decided by every policy guarding its action ([`decide_action`]), and the candidates are
/// ranked by their `rank by` value, highest first, ties in written order. The choice is the
/// first candidate not denied (docs/language.md §5.10): the caller acts on it if it is allowed,
/// and once its review approves it if it is held for review. Bad input gives `Err` with the
/// failed decision.
pub fn rank(
    program: &Program,
    decision: usize,
    args: &[Value],
    now_ms: i64,
    signals: &dyn Signals,
) -> Result<Vec<Candidate>, Decision> {
    let Some(def) = program.decisions.get(decision) else {
        return Err(Decision::failed(
            RUNTIME_ERROR,
            Vec::new(),
            format!("no decision #{decision} in the program"),
        ));
    };
    let args = check_decision_args(program, def, args)?;
    let mut frame = frame_of(def.slots, def.now_slot, &args, now_ms).map_err(|e| {
        Decision::failed(
            RUNTIME_ERROR,
            Vec::new(),
            format!("decision {}: {e}", def.qualified),
        )
    })?;
    let mut ev = Evaluator::new(program, now_ms, signals);
    // Each candidate, and whether its own evaluation failed.
    let mut out: Vec<(bool, Candidate)> = Vec::new();
    for p in &def.proposals {
        let failed = |e: String| {
            Decision::failed(
                RUNTIME_ERROR,
                Vec::new(),
                format!("proposal of {} at line {}: {e}", p.action, p.source.line),
            )
        };
        let proposed = match &p.condition {
            None => Ok(true),
            Some(c) => ev.eval(c, &mut frame).and_then(|v| {
                v.as_bool()
                    .ok_or_else(|| format!("the condition is {}, not a Bool", v.kind()))
            }),
        };
        let evaluated = proposed.and_then(|yes| {
            if !yes {
                return Ok(None);
            }
            let mut values = Vec::with_capacity(p.args.len());
            for a in &p.args {
                values.push(ev.eval(a, &mut frame)?);
            }
            let rank = match &p.rank {
                None => Value::Int(0),
                Some(r) => ev.eval(r, &mut frame)?,
            };
            Ok(Some((values, rank)))
        });
        match evaluated {
            Ok(None) => {}
            Ok(Some((values, rank))) => {
                let decision = decide_action(program, &p.action, &values, now_ms, signals);
                out.push((
                    false,
                    Candidate {
                        action: p.action.clone(),
                        args: values,
                        rank,
                        decision,
                        line: p.source.line,
                        failed: false,
                    },
                ));
            }
            // Failed: ranked below every real rank (see `rank_order`), shown as `i64::MIN`.
            Err(e) => out.push((
                true,
                Candidate {
                    action: p.action.clone(),
                    args: Vec::new(),
                    rank: Value::Int(i64::MIN),
                    decision: failed(e),
                    line: p.source.line,
                    failed: true,
                },
            )),
        }
    }
    // Highest rank first; `sort_by` is stable, so ties keep the written order.
    fn real(failed: bool, c: &Candidate) -> Option<&Value> {
        (!failed).then_some(&c.rank)
    }
    out.sort_by(|(fa, a), (fb, b)| rank_order(real(*fb, b), real(*fa, a)));
    Ok(out.into_iter().map(|(_, c)| c).collect())
}

/// The order of two candidates' ranks in a decision, `None` standing for a candidate whose own
/// evaluation failed: below every real rank (even a Decimal below `i64::MIN`, though its
/// [`Candidate::rank`] shows `i64::MIN`), tied with another failed one. An Int and a Decimal
/// compare by value (an `i64` is exact as a `Decimal`), so `3` and `3.0` tie. Ranks of other
/// kinds (which the type checker prevents) order by kind. Both engines rank with it: the
/// interpreter here, the JIT's wide ranks through `xop_rank_cmp` (its one-word Int ranks compare
/// inline, the same order on Ints). Cannot panic and allocates nothing.
pub(crate) fn rank_order(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(Value::Int(x)), Some(Value::Decimal(y))) => Decimal::from(*x).cmp(y),
        (Some(Value::Decimal(x)), Some(Value::Int(y))) => x.cmp(&Decimal::from(*y)),
        (Some(x), Some(y)) => x.cmp(y),
    }
}

/// The combining rule over the indices of the fired rules.
pub(crate) fn combine(pol: &Policy, fired: &[usize]) -> Decision {
    let rules: Vec<&Rule> = fired.iter().map(|&i| &pol.rules[i]).collect();
    combine_rules(&rules)
}

/// The combining rule over the fired rules (of one policy, or of every policy guarding an
/// action): deny if a deny fired, else review, else allow, else deny; the reasons of the rules
/// whose verdict won, deduplicated in order.
pub(crate) fn combine_rules(fired: &[&Rule]) -> Decision {
    let rules = || fired.iter().copied();
    let verdict = if rules().any(|r| r.verdict == Verdict::Deny) {
        Verdict::Deny
    } else if rules().any(|r| r.verdict == Verdict::Review) {
        Verdict::Review
    } else if rules().any(|r| r.verdict == Verdict::Allow) {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    let mut reasons: Vec<String> = Vec::new();
    for r in rules().filter(|r| r.verdict == verdict) {
        if let Some(reason) = &r.reason
            && !reasons.contains(reason)
        {
            reasons.push(reason.clone());
        }
    }
    let review = if verdict == Verdict::Review {
        merge_reviews(rules().filter_map(|r| r.review.as_ref()))
    } else {
        None
    };
    Decision {
        verdict,
        reasons,
        fired: rules().map(|r| r.id.clone()).collect(),
        review,
        error: None,
    }
}

/// The terms of a review verdict over the review rules that fired, in order (language.md
/// §8.3: the action goes ahead only if every one is approved by its role in time, or falls
/// back to allow). One case stands for all of them: the first one's role and every other
/// role named (each approved by a member of it: the review queue keeps approvals role by
/// role), the earliest deadline, and `deny` as the fallback if any of them falls back to deny.
/// Stricter than separate cases, never looser: nobody approves for a role they lack, and a
/// deny fallback is never lost.
pub fn merge_reviews<'r>(fired: impl IntoIterator<Item = &'r Review>) -> Option<Review> {
    let mut merged: Option<Review> = None;
    for r in fired {
        match &mut merged {
            None => {
                merged = Some(Review {
                    also: Vec::new(),
                    ..r.clone()
                });
            }
            Some(m) => {
                if r.role != m.role && !m.also.contains(&r.role) {
                    m.also.push(r.role.clone());
                }
                m.within_ms = m.within_ms.min(r.within_ms);
                if r.fallback == Verdict::Deny {
                    m.fallback = Verdict::Deny;
                }
            }
        }
    }
    merged
}

/// Checks the action's arguments against the policy's parameters and gives them in canonical
/// form ([`canonical`]: every set sorted and without repeats, as binding JSON builds it), so
/// that a set means the same whether it was bound from JSON or given as values. Borrowed when
/// the arguments already are canonical (always so when bound from JSON), copied otherwise.
pub(crate) fn check_input<'a>(
    program: &Program,
    pol: &Policy,
    args: &'a [Value],
) -> Result<Cow<'a, [Value]>, String> {
    if args.len() != pol.params.len() {
        return Err(format!(
            "expects {} argument(s), got {}",
            pol.params.len(),
            args.len()
        ));
    }
    canonical_args(program, &pol.params, args)
}

/// Checks `args` against `params` (their number already checked) and gives them canonical.
fn canonical_args<'a>(
    program: &Program,
    params: &[crate::ir::Param],
    args: &'a [Value],
) -> Result<Cow<'a, [Value]>, String> {
    let mut owned: Option<Vec<Value>> = None;
    for (i, (param, arg)) in params.iter().zip(args).enumerate() {
        let changed = canonical_in(program, &param.ty, arg)
            .map_err(|e| format!("argument {} (`{}`): {e}", i + 1, param.name))?;
        if let Some(v) = changed {
            owned.get_or_insert_with(|| args.to_vec())[i] = v;
        }
    }
    Ok(owned.map_or(Cow::Borrowed(args), Cow::Owned))
}

/// The frame of a policy: its parameters, the decision time, absent lambda slots.
fn frame(pol: &Policy, args: &[Value], now_ms: i64) -> Result<Vec<Value>, String> {
    frame_of(pol.slots, pol.now_slot, args, now_ms)
}

/// A frame of `slots` slots with the arguments first and the decision time in `now_slot`.
fn frame_of(
    slots: u32,
    now_slot: Option<u32>,
    args: &[Value],
    now_ms: i64,
) -> Result<Vec<Value>, String> {
    let slots = usize::try_from(slots).map_err(|_| "too many slots".to_string())?;
    if args.len() > slots {
        return Err(format!(
            "{} slot(s) cannot hold {} parameter(s)",
            slots,
            args.len()
        ));
    }
    let mut frame = vec![Value::Absent; slots];
    frame[..args.len()].clone_from_slice(args);
    if let Some(now_slot) = now_slot {
        let cell = usize::try_from(now_slot)
            .ok()
            .and_then(|i| frame.get_mut(i))
            .ok_or_else(|| format!("the time's slot {now_slot} is out of the frame"))?;
        *cell = Value::Time(now_ms);
    }
    Ok(frame)
}

/// Whether `v` is a value of type `ty` (present unless `ty` is optional; records of the right
/// type and arity; symbols of the right kind; known time zones). A set may be given in any
/// order and with repeats: [`canonical`] gives its value.
pub fn check_value(program: &Program, ty: &Type, v: &Value) -> Result<(), String> {
    canonical_in(program, ty, v).map(|_| ())
}

/// Checks `v` against `ty` (as [`check_value`]) and gives its canonical form: every set in it,
/// at any depth, sorted and without repeats, the first given of equal elements kept (`1.0`
/// before `1.00`), inner sets first, so that two sets of the same elements are equal values.
/// Binding JSON builds sets so (`bind`); both engines put every input, decision argument and
/// signal value given as a [`Value`] in this form before deciding on it. Borrowed when `v`
/// already is canonical.
pub fn canonical<'a>(program: &Program, ty: &Type, v: &'a Value) -> Result<Cow<'a, Value>, String> {
    Ok(canonical_in(program, ty, v)?.map_or(Cow::Borrowed(v), Cow::Owned))
}

/// [`canonical`]: `None` when `v` already is canonical, else its canonical form.
pub(crate) fn canonical_in(
    program: &Program,
    ty: &Type,
    v: &Value,
) -> Result<Option<Value>, String> {
    let mismatch = |what: &str| Err(format!("{} where {what} is expected", v.kind()));
    match (ty, v) {
        (Type::Optional(_), Value::Absent) => Ok(None),
        (Type::Optional(inner), _) => canonical_in(program, inner, v),
        (_, Value::Absent) => Err(format!(
            "absent where {} is expected",
            type_name(program, ty)
        )),
        (Type::Bool, Value::Bool(_))
        | (Type::Int, Value::Int(_))
        | (Type::Decimal, Value::Decimal(_))
        | (Type::Money, Value::Money(..))
        | (Type::Text, Value::Text(_))
        | (Type::Duration, Value::Duration(_))
        | (Type::Time, Value::Time(_))
        | (Type::Id, Value::Id(_)) => Ok(None),
        (Type::Tz, Value::Tz(name)) => intrinsics::time_zone(name).map(|_| None),
        (Type::Symbol(kind), Value::Symbol(s)) => {
            match usize::try_from(*s)
                .ok()
                .and_then(|i| program.symbols.get(i))
            {
                Some(sym) if sym.kind == *kind => Ok(None),
                Some(sym) => Err(format!(
                    "{:?} `{}` where a {kind:?} is expected",
                    sym.kind, sym.name
                )),
                None => Err(format!("unknown symbol #{s}")),
            }
        }
        (Type::Enum(e), Value::Enum(ve, variant)) => {
            let Some(et) = usize::try_from(*e).ok().and_then(|i| program.enums.get(i)) else {
                return Err(format!("enum type #{e} is not in the program"));
            };
            if ve != e {
                return mismatch(&et.name);
            }
            if usize::try_from(*variant).is_ok_and(|i| i < et.variants.len()) {
                Ok(None)
            } else {
                Err(format!("{} has no variant #{variant}", et.name))
            }
        }
        (Type::Record(r), Value::Record(vr, fields)) => {
            let Some(rt) = usize::try_from(*r)
                .ok()
                .and_then(|i| program.records.get(i))
            else {
                return Err(format!("record type #{r} is not in the program"));
            };
            if vr != r {
                return mismatch(&rt.name);
            }
            if fields.len() != rt.fields.len() {
                return Err(format!(
                    "{} with {} field(s) where {} has {}",
                    rt.name,
                    fields.len(),
                    rt.name,
                    rt.fields.len()
                ));
            }
            let changed = canonical_each(fields, |i, fv| {
                let f = &rt.fields[i];
                canonical_in(program, &f.ty, fv).map_err(|e| format!("field `{}`: {e}", f.name))
            })?;
            Ok(changed.map(|fields| Value::Record(*r, Arc::from(fields))))
        }
        (Type::List(elem), Value::List(xs)) => {
            let changed = canonical_each(xs, |i, x| {
                canonical_in(program, elem, x).map_err(|e| format!("element {i}: {e}"))
            })?;
            Ok(changed.map(|xs| Value::List(Arc::from(xs))))
        }
        (Type::Set(elem), Value::List(xs)) => {
            let changed = canonical_each(xs, |i, x| {
                canonical_in(program, elem, x).map_err(|e| format!("element {i}: {e}"))
            })?;
            let mut out = match changed {
                Some(out) => out,
                // Strictly increasing: sorted and unique already (what JSON binding gives),
                // checked without allocating.
                None if xs.windows(2).all(|w| w[0] < w[1]) => return Ok(None),
                None => xs.to_vec(),
            };
            // As `bind` builds a set from JSON: a stable sort, then the first of equal
            // elements kept.
            out.sort();
            out.dedup();
            Ok(Some(Value::List(Arc::from(out))))
        }
        _ => mismatch(&type_name(program, ty)),
    }
}

/// Applies `each` (checking and canonicalising one element) to every element of `xs`: `None`
/// if no element changed, else all of them, changed or not, in order.
fn canonical_each(
    xs: &[Value],
    mut each: impl FnMut(usize, &Value) -> Result<Option<Value>, String>,
) -> Result<Option<Vec<Value>>, String> {
    let mut out: Option<Vec<Value>> = None;
    for (i, x) in xs.iter().enumerate() {
        match (each(i, x)?, &mut out) {
            (Some(c), Some(out)) => out.push(c),
            (Some(c), None) => {
                let mut v = Vec::with_capacity(xs.len());
                v.extend_from_slice(&xs[..i]);
                v.push(c);
                out = Some(v);
            }
            (None, Some(out)) => out.push(x.clone()),
            (None, None) => {}
        }
    }
    Ok(out)
}

/// A type's name, for messages.
fn type_name(program: &Program, ty: &Type) -> String {
    match ty {
        Type::Bool => "a Bool".into(),
        Type::Int => "an Int".into(),
        Type::Decimal => "a Decimal".into(),
        Type::Money => "Money".into(),
        Type::Text => "a Text".into(),
        Type::Duration => "a Duration".into(),
        Type::Time => "a Time".into(),
        Type::Tz => "a Tz".into(),
        Type::Id => "an Id".into(),
        Type::Symbol(kind) => format!("a {kind:?}"),
        Type::Record(r) => usize::try_from(*r)
            .ok()
            .and_then(|i| program.records.get(i))
            .map_or_else(|| format!("record #{r}"), |rt| rt.name.clone()),
        Type::Enum(e) => usize::try_from(*e)
            .ok()
            .and_then(|i| program.enums.get(i))
            .map_or_else(|| format!("enum #{e}"), |et| et.name.clone()),
        Type::List(t) => format!("a List<{}>", type_name(program, t)),
        Type::Set(t) => format!("a Set<{}>", type_name(program, t)),
        Type::Optional(t) => format!("{}?", type_name(program, t)),
    }
}

/// Evaluates expressions for one decision: the program, the decision time, the signals and
/// the signal reads made so far.
pub struct Evaluator<'a> {
    program: &'a Program,
    now_ms: i64,
    signals: &'a dyn Signals,
    memo: HashMap<(u32, Vec<Value>), Value>,
    depth: u32,
    /// Asked every [`STOP_EVERY`] quantifier iterations whether to stop ([`decide_until`]).
    stop: Option<&'a dyn Fn() -> bool>,
    /// Quantifier iterations since `stop` was last asked.
    steps: u32,
    /// `stop` said to stop: every quantifier iteration from then on fails at once, so the
    /// evaluation unwinds, and its outcome is [`Cancelled`], not the error it unwound with.
    stopped: bool,
}

impl<'a> Evaluator<'a> {
    /// An evaluator for one decision at `now_ms`, with no signal read yet.
    pub fn new(program: &'a Program, now_ms: i64, signals: &'a dyn Signals) -> Self {
        Evaluator {
            program,
            now_ms,
            signals,
            memo: HashMap::new(),
            depth: 0,
            stop: None,
            steps: 0,
            stopped: false,
        }
    }

    /// Whether to stop now: asks `stop` every [`STOP_EVERY`] calls (one per quantifier
    /// iteration), and keeps saying so once it said so.
    #[inline]
    fn must_stop(&mut self) -> bool {
        if let Some(stop) = self.stop {
            self.steps += 1;
            if self.steps >= STOP_EVERY {
                self.steps = 0;
                self.stopped = self.stopped || stop();
            }
        }
        self.stopped
    }

    /// Evaluates `expr` in `frame`; quantifiers bind their element in it (and restore the slot
    /// afterwards).
    pub fn eval(&mut self, expr: &Expr, frame: &mut [Value]) -> Result<Value, String> {
        if self.depth >= MAX_DEPTH {
            return Err(too_deep());
        }
        self.depth += 1;
        let r = self.eval_inner(expr, frame);
        self.depth -= 1;
        r
    }

    // The evaluator recurses once per level of nesting: `eval_inner` only dispatches, and
    // each variant has its own small function, so that a level costs little stack even
    // without optimisations.
    fn eval_inner(&mut self, expr: &Expr, frame: &mut [Value]) -> Result<Value, String> {
        match expr {
            Expr::Const(v) => Ok(v.clone()),
            Expr::Slot(s) => read_slot(frame, *s),
            Expr::Field(e, i) => self.eval_field(e, *i, frame),
            Expr::Not(e) => self.eval_not(e, frame),
            Expr::Neg(e) => self.eval_neg(e, frame),
            Expr::And(a, b) => self.eval_and_or(false, a, b, frame),
            Expr::Or(a, b) => self.eval_and_or(true, a, b, frame),
            Expr::Cmp(op, a, b) => self.eval_cmp(*op, a, b, frame),
            Expr::Arith(op, a, b) => self.eval_arith(*op, a, b, frame),
            Expr::In(x, xs) => self.eval_in(x, xs, frame),
            Expr::InRange {
                value,
                lo,
                hi,
                inclusive,
            } => self.eval_in_range(value, lo, hi, *inclusive, frame),
            Expr::IsPresent(e) => self.eval_is_present(e, frame),
            Expr::Default(a, b) => self.eval_default(a, b, frame),
            Expr::If(c, a, b) => self.eval_if(c, a, b, frame),
            Expr::List(items) => self.eval_list(items, frame),
            Expr::Set(items) => self.eval_set(items, frame),
            Expr::Record(ty, fields) => self.eval_record(*ty, fields, frame),
            Expr::Quantify {
                quantifier,
                list,
                slot,
                body,
            } => self.quantify(*quantifier, list, *slot, body.as_deref(), frame),
            Expr::Intrinsic(which, args) => self.eval_intrinsic(*which, args, frame),
            Expr::Signal(i, args) => self.eval_signal(*i, args, frame),
        }
    }

    fn eval_bool(&mut self, expr: &Expr, frame: &mut [Value], what: &str) -> Result<bool, String> {
        match self.eval(expr, frame)? {
            Value::Bool(b) => Ok(b),
            other => Err(not_a_bool(what, &other)),
        }
    }

    fn eval_all(&mut self, exprs: &[Expr], frame: &mut [Value]) -> Result<Vec<Value>, String> {
        let mut out = Vec::with_capacity(exprs.len());
        for e in exprs {
            out.push(self.eval(e, frame)?);
        }
        Ok(out)
    }

    fn eval_field(&mut self, e: &Expr, i: u32, frame: &mut [Value]) -> Result<Value, String> {
        let v = self.eval(e, frame)?;
        field_of(&v, i)
    }

    fn eval_not(&mut self, e: &Expr, frame: &mut [Value]) -> Result<Value, String> {
        let v = self.eval_bool(e, frame, "the operand of `not`")?;
        Ok(Value::Bool(!v))
    }

    fn eval_neg(&mut self, e: &Expr, frame: &mut [Value]) -> Result<Value, String> {
        let v = self.eval(e, frame)?;
        neg(v)
    }

    /// `and` (`is_or` false) or `or` (`is_or` true), short-circuit.
    fn eval_and_or(
        &mut self,
        is_or: bool,
        a: &Expr,
        b: &Expr,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let (left, right) = if is_or {
            ("the left operand of `or`", "the right operand of `or`")
        } else {
            ("the left operand of `and`", "the right operand of `and`")
        };
        if self.eval_bool(a, frame, left)? == is_or {
            return Ok(Value::Bool(is_or));
        }
        let v = self.eval_bool(b, frame, right)?;
        Ok(Value::Bool(v))
    }

    fn eval_cmp(
        &mut self,
        op: CmpOp,
        a: &Expr,
        b: &Expr,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let a = self.eval(a, frame)?;
        let b = self.eval(b, frame)?;
        compare(op, &a, &b).map(Value::Bool)
    }

    fn eval_arith(
        &mut self,
        op: ArithOp,
        a: &Expr,
        b: &Expr,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let a = self.eval(a, frame)?;
        let b = self.eval(b, frame)?;
        arith(op, a, b)
    }

    fn eval_in(&mut self, x: &Expr, xs: &Expr, frame: &mut [Value]) -> Result<Value, String> {
        let x = self.eval(x, frame)?;
        let xs = self.eval(xs, frame)?;
        member(&x, &xs)
    }

    fn eval_in_range(
        &mut self,
        value: &Expr,
        lo: &Expr,
        hi: &Expr,
        inclusive: bool,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let v = self.eval(value, frame)?;
        let lo = self.eval(lo, frame)?;
        let hi = self.eval(hi, frame)?;
        in_range(&v, &lo, &hi, inclusive)
    }

    fn eval_is_present(&mut self, e: &Expr, frame: &mut [Value]) -> Result<Value, String> {
        let v = self.eval(e, frame)?;
        Ok(Value::Bool(v != Value::Absent))
    }

    fn eval_default(&mut self, a: &Expr, b: &Expr, frame: &mut [Value]) -> Result<Value, String> {
        match self.eval(a, frame)? {
            Value::Absent => self.eval(b, frame),
            v => Ok(v),
        }
    }

    fn eval_if(
        &mut self,
        c: &Expr,
        a: &Expr,
        b: &Expr,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        if self.eval_bool(c, frame, "the condition of `if`")? {
            self.eval(a, frame)
        } else {
            self.eval(b, frame)
        }
    }

    fn eval_list(&mut self, items: &[Expr], frame: &mut [Value]) -> Result<Value, String> {
        let xs = self.eval_all(items, frame)?;
        Ok(Value::List(Arc::from(xs)))
    }

    fn eval_set(&mut self, items: &[Expr], frame: &mut [Value]) -> Result<Value, String> {
        let mut xs = self.eval_all(items, frame)?;
        // Canonical: sorted, unique; `{2, 1} == {1, 2}` holds as values.
        xs.sort();
        xs.dedup();
        Ok(Value::List(Arc::from(xs)))
    }

    fn eval_record(
        &mut self,
        ty: u32,
        fields: &[Expr],
        frame: &mut [Value],
    ) -> Result<Value, String> {
        check_record_arity(self.program, ty, fields.len())?;
        let xs = self.eval_all(fields, frame)?;
        Ok(Value::Record(ty, Arc::from(xs)))
    }

    fn eval_intrinsic(
        &mut self,
        which: Intrinsic,
        args: &[Expr],
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let args = self.eval_all(args, frame)?;
        intrinsics::call(self.program, which, &args, self.now_ms)
    }

    fn eval_signal(&mut self, i: u32, args: &[Expr], frame: &mut [Value]) -> Result<Value, String> {
        let args = self.eval_all(args, frame)?;
        self.read_signal(i, args)
    }

    fn quantify(
        &mut self,
        quantifier: Quantifier,
        list: &Expr,
        slot: u32,
        body: Option<&Expr>,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let xs = match self.eval(list, frame)? {
            Value::List(xs) => xs,
            other => return Err(not_a_list("a quantifier", &other)),
        };
        match body {
            None => count_all(quantifier, xs.len()),
            Some(body) => self.quantify_body(quantifier, &xs, slot, body, frame),
        }
    }

    /// Binds each element to `slot` in turn, restoring the slot's value afterwards.
    fn quantify_body(
        &mut self,
        quantifier: Quantifier,
        xs: &[Value],
        slot: u32,
        body: &Expr,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let cell = usize::try_from(slot)
            .ok()
            .filter(|&i| i < frame.len())
            .ok_or_else(|| out_of_frame(slot))?;
        let saved = frame
            .get_mut(cell)
            .map_or(Value::Absent, |c| std::mem::replace(c, Value::Absent));
        let r = self.quantify_loop(quantifier, xs, cell, body, frame);
        if let Some(c) = frame.get_mut(cell) {
            *c = saved;
        }
        r
    }

    fn quantify_loop(
        &mut self,
        quantifier: Quantifier,
        xs: &[Value],
        cell: usize,
        body: &Expr,
        frame: &mut [Value],
    ) -> Result<Value, String> {
        let mut count: i64 = 0;
        for x in xs {
            if self.must_stop() {
                return Err("the decision was cancelled (its deadline passed)".into());
            }
            if let Some(c) = frame.get_mut(cell) {
                *c = x.clone();
            }
            let b = self.eval_bool(body, frame, "the condition of a quantifier")?;
            match quantifier {
                Quantifier::Any if b => return Ok(Value::Bool(true)),
                Quantifier::All if !b => return Ok(Value::Bool(false)),
                Quantifier::Count if b => {
                    count = count.checked_add(1).ok_or_else(count_overflow)?
                }
                _ => {}
            }
        }
        Ok(match quantifier {
            Quantifier::Any => Value::Bool(false),
            Quantifier::All => Value::Bool(true),
            Quantifier::Count => Value::Int(count),
        })
    }

    fn read_signal(&mut self, i: u32, args: Vec<Value>) -> Result<Value, String> {
        let program = self.program;
        let decl = usize::try_from(i)
            .ok()
            .and_then(|j| program.signals.get(j))
            .ok_or_else(|| format!("signal #{i} is not in the program"))?;
        if args.len() != decl.params.len() {
            return Err(format!(
                "signal {} takes {} argument(s), got {}",
                decl.name,
                decl.params.len(),
                args.len()
            ));
        }
        let key = (i, args);
        if let Some(v) = self.memo.get(&key) {
            return Ok(v.clone());
        }
        let v = self.signals.read(i, decl, &key.1);
        // An answer that does not match the declared type is out of contract: absent. A set
        // in it is a set, however the source gave it: canonical, as if bound from JSON.
        let v = match canonical_in(program, &decl.ty, &v) {
            Ok(None) => v,
            Ok(Some(c)) => c,
            Err(_) => Value::Absent,
        };
        self.memo.insert(key, v.clone());
        Ok(v)
    }
}

/// Evaluates `expr` in `frame` with a fresh evaluator (no memoised signal reads).
pub fn eval(
    program: &Program,
    expr: &Expr,
    frame: &mut [Value],
    now_ms: i64,
    signals: &dyn Signals,
) -> Result<Value, String> {
    Evaluator::new(program, now_ms, signals).eval(expr, frame)
}

/// Evaluates a constant expression (a test's argument, given value or time): no inputs, no
/// signals. Its lambdas still bind their elements (`any([1, 2], y => y > 1)`): the frame has
/// the slots they bind, and no others.
pub fn eval_const(program: &Program, expr: &Expr, now_ms: i64) -> Result<Value, String> {
    let mut frame = vec![Value::Absent; bound_slots(expr)];
    eval(program, expr, &mut frame, now_ms, &NoSignals)
}

/// How many frame slots the lambdas of `expr` bind (one past the highest). An expression
/// nested too deeply to evaluate binds none: evaluating it fails on its depth, and the walk
/// (which recurses) is not taken down it.
fn bound_slots(expr: &Expr) -> usize {
    if expr.deeper_than(MAX_DEPTH) {
        return 0;
    }
    let mut slots = 0;
    expr.walk(&mut |e| {
        if let Expr::Quantify { slot, .. } = e {
            slots = slots.max(*slot as usize + 1);
        }
    });
    slots
}

#[cold]
#[inline(never)]
fn too_deep() -> String {
    format!("expression nested deeper than {MAX_DEPTH}")
}

#[cold]
#[inline(never)]
fn not_a_bool(what: &str, v: &Value) -> String {
    format!("{what} is {}, not a Bool", v.kind())
}

#[cold]
#[inline(never)]
fn out_of_frame(slot: u32) -> String {
    format!("slot {slot} is out of the frame")
}

#[cold]
#[inline(never)]
fn not_a_list(what: &str, v: &Value) -> String {
    format!("{what} needs a list or set, not {}", v.kind())
}

#[cold]
#[inline(never)]
fn count_overflow() -> String {
    "count overflows".to_string()
}

/// `count(xs)` without a condition; `any` and `all` always have one.
fn count_all(quantifier: Quantifier, n: usize) -> Result<Value, String> {
    match quantifier {
        Quantifier::Count => i64::try_from(n)
            .map(Value::Int)
            .map_err(|_| count_overflow()),
        Quantifier::Any | Quantifier::All => Err(format!("`{quantifier:?}` without a condition")),
    }
}

fn read_slot(frame: &[Value], s: u32) -> Result<Value, String> {
    usize::try_from(s)
        .ok()
        .and_then(|i| frame.get(i))
        .cloned()
        .ok_or_else(|| out_of_frame(s))
}

fn field_of(v: &Value, i: u32) -> Result<Value, String> {
    match v {
        Value::Record(ty, fields) => usize::try_from(i)
            .ok()
            .and_then(|j| fields.get(j))
            .cloned()
            .ok_or_else(|| format!("record #{ty} has no field #{i}")),
        Value::Absent => Err(format!("reading field #{i} of an absent value")),
        other => Err(format!(
            "reading field #{i} of {}, not a record",
            other.kind()
        )),
    }
}

fn member(x: &Value, xs: &Value) -> Result<Value, String> {
    match xs {
        Value::List(xs) => Ok(Value::Bool(xs.contains(x))),
        other => Err(not_a_list("`in`", other)),
    }
}

/// `lo <= v < hi`, or `lo <= v <= hi` when inclusive.
fn in_range(v: &Value, lo: &Value, hi: &Value, inclusive: bool) -> Result<Value, String> {
    let above_lo = order(lo, v)?.is_le();
    let below_hi = if inclusive {
        order(v, hi)?.is_le()
    } else {
        order(v, hi)?.is_lt()
    };
    Ok(Value::Bool(above_lo && below_hi))
}

fn check_record_arity(program: &Program, ty: u32, n: usize) -> Result<(), String> {
    let rt = usize::try_from(ty)
        .ok()
        .and_then(|i| program.records.get(i))
        .ok_or_else(|| format!("record type #{ty} is not in the program"))?;
    if rt.fields.len() == n {
        Ok(())
    } else {
        Err(format!(
            "record {} built with {n} field(s), it has {}",
            rt.name,
            rt.fields.len()
        ))
    }
}

/// `==` and `!=` are structural; ordering needs two values of one ordered kind.
fn compare(op: CmpOp, a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => order(a, b)?.is_lt(),
        CmpOp::Le => order(a, b)?.is_le(),
        CmpOp::Gt => order(a, b)?.is_gt(),
        CmpOp::Ge => order(a, b)?.is_ge(),
    })
}

/// The order of two values of one ordered kind: Int, Decimal, Money (one currency), Duration,
/// Time, Text (by code points).
fn order(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Decimal(x), Value::Decimal(y)) => Ok(x.cmp(y)),
        (Value::Money(x, cx), Value::Money(y, cy)) => {
            if cx == cy {
                Ok(x.cmp(y))
            } else {
                Err(format!("comparing money in {cx} with money in {cy}"))
            }
        }
        (Value::Duration(x), Value::Duration(y)) | (Value::Time(x), Value::Time(y)) => Ok(x.cmp(y)),
        (Value::Text(x), Value::Text(y)) => Ok(x.cmp(y)),
        (Value::Absent, _) | (_, Value::Absent) => Err("comparing an absent value".to_string()),
        _ => Err(format!("cannot order {} and {}", a.kind(), b.kind())),
    }
}

fn neg(v: Value) -> Result<Value, String> {
    match v {
        Value::Int(n) => n
            .checked_neg()
            .map(Value::Int)
            .ok_or_else(|| format!("-({n}) overflows")),
        Value::Decimal(d) => Ok(Value::Decimal(-d)),
        Value::Money(d, c) => Ok(Value::Money(-d, c)),
        Value::Duration(d) => d
            .checked_neg()
            .map(Value::Duration)
            .ok_or_else(|| format!("-({d}ms) overflows")),
        Value::Absent => Err("negating an absent value".to_string()),
        other => Err(format!("cannot negate {}", other.kind())),
    }
}

fn op_symbol(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Rem => "%",
    }
}

/// Checked integer arithmetic (division truncates toward zero, `%` has the dividend's sign).
fn int_op(op: ArithOp, x: i64, y: i64) -> Result<i64, String> {
    if matches!(op, ArithOp::Div | ArithOp::Rem) && y == 0 {
        return Err(format!("{x} {} 0: division by zero", op_symbol(op)));
    }
    let r = match op {
        ArithOp::Add => x.checked_add(y),
        ArithOp::Sub => x.checked_sub(y),
        ArithOp::Mul => x.checked_mul(y),
        ArithOp::Div => x.checked_div(y),
        // `i64::MIN % -1` is 0, which fits; only its quotient overflows (`checked_rem` says
        // None for both). The divisor is not 0 here.
        ArithOp::Rem => Some(x.wrapping_rem(y)),
    };
    r.ok_or_else(|| format!("{x} {} {y} overflows", op_symbol(op)))
}

/// Why a decimal operation has no result ([`dec_checked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecFailure {
    /// `x / 0`.
    DivZero,
    /// The result is beyond a Decimal's range.
    Overflow,
    /// `+ - *`: the exact result needs more digits than a Decimal has (more than 28 after the
    /// point, or a mantissa beyond 96 bits), so it would be rounded.
    Inexact,
    /// `/`: the quotient is not zero but rounds to zero.
    Vanishes,
    /// `%`, which is for Int only.
    Rem,
}

/// Powers of ten up to a Decimal's largest scale, 28.
const POW10: [i128; 29] = {
    let mut t = [1i128; 29];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `10^k` for a difference of Decimal scales, so `k <= 28` (clamped, never reached, so that no
/// value can index out of bounds).
fn pow10(k: u32) -> i128 {
    POW10[k.min(Decimal::MAX_SCALE) as usize]
}

/// `x op y` on decimals, as both engines compute it (the JIT's `xop_dec_arith` calls this), and
/// without allocating: `+ - *` give the exact result or fail ([`DecFailure::Inexact`]), never
/// a rounded one, since a policy must not decide on a value nobody wrote; `/` is the one
/// operation that rounds (`1 / 3` must stay usable): to the nearest Decimal at the finest scale
/// that fits (28 digits after the point, a 96-bit mantissa), ties to even (rust_decimal's
/// `checked_div`), but a non-zero quotient that would round to zero fails.
pub(crate) fn dec_checked(op: ArithOp, x: Decimal, y: Decimal) -> Result<Decimal, DecFailure> {
    match op {
        ArithOp::Add | ArithOp::Sub => {
            let sub = op == ArithOp::Sub;
            let r = if sub {
                x.checked_sub(y)
            } else {
                x.checked_add(y)
            };
            let r = r.ok_or(DecFailure::Overflow)?;
            sum_is_exact(x, y, sub, r)
                .then_some(r)
                .ok_or(DecFailure::Inexact)
        }
        ArithOp::Mul => {
            let r = x.checked_mul(y).ok_or(DecFailure::Overflow)?;
            product_is_exact(x, y, r)
                .then_some(r)
                .ok_or(DecFailure::Inexact)
        }
        ArithOp::Div => {
            if y.is_zero() {
                return Err(DecFailure::DivZero);
            }
            let r = x.checked_div(y).ok_or(DecFailure::Overflow)?;
            if r.is_zero() && !x.is_zero() {
                return Err(DecFailure::Vanishes);
            }
            Ok(r)
        }
        ArithOp::Rem => Err(DecFailure::Rem),
    }
}

/// Whether `r`, rust_decimal's `x + y` (`x - y` when `sub`), is the exact result. The exact
/// sum has the larger scale `s` of the two; rust_decimal keeps it unless the mantissa would
/// pass 96 bits, and then rounds at scale `s - k` (within a unit of the last digit kept). So
/// `r` is exact iff the exact sum's last `k` digits are zero, computed modulo `10^k` (`k <=
/// 28`: fits an i128).
fn sum_is_exact(x: Decimal, y: Decimal, sub: bool, r: Decimal) -> bool {
    let s = x.scale().max(y.scale());
    let k = s.saturating_sub(r.scale());
    if k == 0 {
        return true;
    }
    // An operand of scale `t` adds `m * 10^e` (e = s - t) to the sum at scale `s`; modulo
    // `10^k` only its mantissa's last `k - e` digits count, and none once `e >= k`.
    let low = |d: Decimal| {
        let e = s - d.scale();
        if e >= k {
            0
        } else {
            d.mantissa().rem_euclid(pow10(k - e)) * pow10(e)
        }
    };
    let (a, b) = (low(x), low(y));
    let digits = if sub { a - b } else { a + b };
    digits.rem_euclid(pow10(k)) == 0
}

/// Whether `r`, rust_decimal's `x * y`, is the exact product. The exact product is
/// `mx * my` (up to 192 bits) at scale `sx + sy`; when rust_decimal returns scale `sx + sy -
/// k` (rounding to fit 28 digits after the point or 96 bits), `r` is exact iff `mx * my` ends
/// in `k` zeros, i.e. has `k` factors 2 and `k` factors 5, counted without the product.
fn product_is_exact(x: Decimal, y: Decimal, r: Decimal) -> bool {
    let (mx, my) = (x.mantissa().unsigned_abs(), y.mantissa().unsigned_abs());
    if mx == 0 || my == 0 {
        return true;
    }
    let k = (x.scale() + y.scale()).saturating_sub(r.scale());
    k == 0 || (mx.trailing_zeros() + my.trailing_zeros() >= k && fives(mx) + fives(my) >= k)
}

/// How many times 5 divides `n` (not 0).
fn fives(mut n: u128) -> u32 {
    let mut count = 0;
    while n != 0 && n.is_multiple_of(5) {
        n /= 5;
        count += 1;
    }
    count
}

/// `x op y` on decimals with the message of its failure ([`dec_checked`]): what the
/// interpreter computes, and the JIT's text for the same failure.
pub(crate) fn dec_op(op: ArithOp, x: Decimal, y: Decimal) -> Result<Decimal, String> {
    dec_checked(op, x, y).map_err(|why| match why {
        DecFailure::DivZero => format!("{x} / {y}: division by zero"),
        DecFailure::Overflow => format!("{x} {} {y} overflows", op_symbol(op)),
        DecFailure::Inexact => {
            let (exact, beyond_scale) = exact_text(op, x, y);
            let limit = if beyond_scale {
                "a Decimal has at most 28 digits after the point"
            } else {
                "a Decimal has 28 to 29 significant digits: at most \
                 79228162514264337593543950335 without its point"
            };
            format!(
                "{x} {} {y} = {exact} cannot be represented exactly ({limit})",
                op_symbol(op)
            )
        }
        DecFailure::Vanishes => format!(
            "{x} / {y} cannot be represented: the quotient is not 0 but rounds to 0 (a Decimal \
             has at most 28 digits after the point)"
        ),
        DecFailure::Rem => "`%` is for Int only".to_string(),
    })
}

/// The exact value of `x op y` (`+ - *`) as text, and whether it has more than 28 digits after
/// the point: for the message of a result a Decimal cannot hold, so it may be slow. Computed on
/// decimal digits (least significant first), as the value can pass 128 bits.
fn exact_text(op: ArithOp, x: Decimal, y: Decimal) -> (String, bool) {
    let digits = |d: Decimal, shift: u32| {
        let mut v = vec![0u8; shift as usize];
        let mut n = d.mantissa().unsigned_abs();
        loop {
            v.push((n % 10) as u8);
            n /= 10;
            if n == 0 {
                break v;
            }
        }
    };
    let (negative, mut v, mut scale) = if op == ArithOp::Mul {
        let (a, b) = (digits(x, 0), digits(y, 0));
        let mut acc = vec![0u32; a.len() + b.len() + 1];
        for (i, &p) in a.iter().enumerate() {
            for (j, &q) in b.iter().enumerate() {
                acc[i + j] += u32::from(p) * u32::from(q);
            }
        }
        let mut carry = 0;
        let v: Vec<u8> = acc
            .iter()
            .map(|&d| {
                let t = d + carry;
                carry = t / 10;
                (t % 10) as u8
            })
            .collect();
        let negative = x.is_sign_negative() != y.is_sign_negative();
        (negative, v, x.scale() + y.scale())
    } else {
        let s = x.scale().max(y.scale());
        let (a, b) = (digits(x, s - x.scale()), digits(y, s - y.scale()));
        let (na, nb) = (
            x.is_sign_negative(),
            y.is_sign_negative() != (op == ArithOp::Sub),
        );
        let len = a.len().max(b.len()) + 1;
        let at = |v: &[u8], i: usize| i32::from(v.get(i).copied().unwrap_or(0));
        // The larger magnitude first, so that a difference needs no sign.
        let a_first = (0..len)
            .rev()
            .map(|i| at(&a, i).cmp(&at(&b, i)))
            .find(|o| o.is_ne())
            != Some(std::cmp::Ordering::Less);
        let (big, small, negative) = if a_first { (&a, &b, na) } else { (&b, &a, nb) };
        let sign = if na == nb { 1 } else { -1 };
        let mut carry = 0;
        let v: Vec<u8> = (0..len)
            .map(|i| {
                let t = at(big, i) + sign * at(small, i) + carry;
                carry = t.div_euclid(10);
                t.rem_euclid(10) as u8
            })
            .collect();
        (negative, v, s)
    };
    while v.len() > 1 && v.last() == Some(&0) {
        v.pop();
    }
    let zeros = v
        .iter()
        .take_while(|&&d| d == 0)
        .count()
        .min(scale as usize);
    v.drain(..zeros);
    scale -= zeros as u32;
    if v.is_empty() || v == [0] {
        return ("0".to_string(), false);
    }
    while v.len() <= scale as usize {
        v.push(0);
    }
    let mut text = String::with_capacity(v.len() + 2);
    if negative {
        text.push('-');
    }
    for (i, d) in v.iter().enumerate().rev() {
        text.push(char::from(b'0' + d));
        if i == scale as usize && i > 0 {
            text.push('.');
        }
    }
    (text, scale > Decimal::MAX_SCALE)
}

/// `a op b` as the engines compute it, or the run-time error it is (overflow, division by
/// zero, a decimal result that cannot be represented exactly, mixed currencies): also what the
/// checker uses to find an operation of constants that fails on every input (W0302).
pub fn arith(op: ArithOp, a: Value, b: Value) -> Result<Value, String> {
    use ArithOp::{Add, Div, Mul, Sub};
    let overflow = |what: String| move || format!("{what} overflows");
    match (op, a, b) {
        (_, Value::Int(x), Value::Int(y)) => int_op(op, x, y).map(Value::Int),
        (_, Value::Decimal(x), Value::Decimal(y)) => dec_op(op, x, y).map(Value::Decimal),
        (Add | Sub, Value::Money(x, cx), Value::Money(y, cy)) => {
            if cx != cy {
                return Err(format!(
                    "money in {cx} {} money in {cy}: mixed currencies",
                    op_symbol(op)
                ));
            }
            dec_op(op, x, y).map(|d| Value::Money(d, cx))
        }
        (Mul | Div, Value::Money(x, c), Value::Int(n)) => {
            dec_op(op, x, Decimal::from(n)).map(|d| Value::Money(d, c))
        }
        (Mul | Div, Value::Money(x, c), Value::Decimal(n)) => {
            dec_op(op, x, n).map(|d| Value::Money(d, c))
        }
        (Add | Sub, Value::Duration(x), Value::Duration(y)) => {
            int_op(op, x, y).map(Value::Duration)
        }
        (Mul | Div, Value::Duration(x), Value::Int(n)) => int_op(op, x, n).map(Value::Duration),
        (Mul, Value::Int(n), Value::Duration(x)) => int_op(op, n, x).map(Value::Duration),
        (Add | Sub, Value::Time(t), Value::Duration(d)) => int_op(op, t, d).map(Value::Time),
        (Add, Value::Duration(d), Value::Time(t)) => t
            .checked_add(d)
            .map(Value::Time)
            .ok_or_else(overflow(format!("{d}ms + time {t}"))),
        (Sub, Value::Time(x), Value::Time(y)) => x
            .checked_sub(y)
            .map(Value::Duration)
            .ok_or_else(overflow(format!("time {x} - time {y}"))),
        (Add, Value::Text(x), Value::Text(y)) => {
            let mut s = String::with_capacity(x.len() + y.len());
            s.push_str(&x);
            s.push_str(&y);
            Ok(Value::Text(Arc::from(s)))
        }
        (_, a @ Value::Absent, b) | (_, a, b @ Value::Absent) => Err(format!(
            "{} {} {}: absent where a value is needed",
            a.kind(),
            op_symbol(op),
            b.kind()
        )),
        (_, a, b) => Err(format!(
            "cannot compute {} {} {}",
            a.kind(),
            op_symbol(op),
            b.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::ir::{Field, Intrinsic, Param, RecordType, Rule, SourceRef, Symbol, SymbolKind};

    // ------------------------------------------------------------------ building programs

    use crate::ir::build::{arith as ar, b, cmp, dec, money, slot};

    fn int(n: i64) -> Expr {
        Expr::Const(Value::Int(n))
    }
    fn boolean(v: bool) -> Expr {
        Expr::Const(Value::Bool(v))
    }
    fn list(xs: Vec<Value>) -> Value {
        Value::List(Arc::from(xs))
    }
    fn param(name: &str, ty: Type) -> Param {
        Param {
            name: name.into(),
            ty,
        }
    }

    fn rule(
        policy: &str,
        i: usize,
        verdict: Verdict,
        reason: &str,
        condition: Option<Expr>,
    ) -> Rule {
        Rule {
            id: format!("{policy}#{i}"),
            verdict,
            reason: Some(reason.into()),
            condition,
            review: (verdict == Verdict::Review).then(|| Review {
                role: format!("role-{i}"),
                within_ms: 900_000,
                fallback: Verdict::Deny,
                also: Vec::new(),
            }),
            source: SourceRef::default(),
        }
    }

    /// A policy over `params`, with `extra` more slots, the time in the slot after the
    /// parameters, and rules `(verdict, reason, condition)`.
    fn policy(params: Vec<Param>, extra: u32, rules: Vec<(Verdict, &str, Option<Expr>)>) -> Policy {
        let n = u32::try_from(params.len()).expect("few params");
        Policy {
            name: "p".into(),
            qualified: "acme.p".into(),
            action: "acme.act".into(),
            params,
            now_slot: Some(n),
            slots: n + 1 + extra,
            rules: rules
                .into_iter()
                .enumerate()
                .map(|(i, (v, r, c))| rule("acme.p", i, v, r, c))
                .collect(),
        }
    }

    fn program(policies: Vec<Policy>) -> Program {
        Program {
            records: vec![RecordType {
                name: "acme.Customer".into(),
                fields: vec![
                    Field {
                        name: "score".into(),
                        ty: Type::Int,
                        personal: false,
                    },
                    Field {
                        name: "tz".into(),
                        ty: Type::Tz,
                        personal: false,
                    },
                ],
            }],
            symbols: vec![
                Symbol {
                    kind: SymbolKind::Channel,
                    name: "sms".into(),
                    qualified: "std.channel.sms".into(),
                },
                Symbol {
                    kind: SymbolKind::Purpose,
                    name: "marketing".into(),
                    qualified: "std.consent.marketing".into(),
                },
            ],
            signals: vec![SignalDecl {
                name: "acme.risk".into(),
                params: vec![param("n", Type::Int)],
                ty: Type::Int,
                source: "acme.risk_source".into(),
                source_args: vec![slot(0)],
                max_age_ms: Some(300_000),
            }],
            policies,
            ..Program::default()
        }
    }

    fn customer(score: i64, tz: &str) -> Value {
        Value::Record(
            0,
            Arc::from(vec![Value::Int(score), Value::Tz(Arc::from(tz))]),
        )
    }

    /// Evaluates a closed expression.
    fn ev(e: Expr) -> Result<Value, String> {
        eval(
            &program(vec![]),
            &e,
            &mut [Value::Absent, Value::Absent],
            0,
            &NoSignals,
        )
    }

    // ------------------------------------------------------------------ the combining rule

    fn three_flags() -> Program {
        let flags = vec![
            param("d", Type::Bool),
            param("r", Type::Bool),
            param("a", Type::Bool),
        ];
        program(vec![policy(
            flags,
            0,
            vec![
                (Verdict::Allow, "allowed", Some(slot(2))),
                (Verdict::Review, "reviewed", Some(slot(1))),
                (Verdict::Deny, "denied", Some(slot(0))),
            ],
        )])
    }

    fn flags(d: bool, r: bool, a: bool) -> Vec<Value> {
        vec![Value::Bool(d), Value::Bool(r), Value::Bool(a)]
    }

    #[test]
    fn deny_beats_review_beats_allow_and_nothing_is_deny() {
        let p = three_flags();
        for d in [false, true] {
            for r in [false, true] {
                for a in [false, true] {
                    let dec = decide(&p, 0, &flags(d, r, a), 0, &NoSignals);
                    let (verdict, reason) = if d {
                        (Verdict::Deny, Some("denied"))
                    } else if r {
                        (Verdict::Review, Some("reviewed"))
                    } else if a {
                        (Verdict::Allow, Some("allowed"))
                    } else {
                        (Verdict::Deny, None)
                    };
                    assert_eq!(dec.verdict, verdict, "{d} {r} {a}");
                    let reasons: Vec<String> = reason.into_iter().map(String::from).collect();
                    assert_eq!(dec.reasons, reasons, "{d} {r} {a}");
                    let mut fired = Vec::new();
                    for (i, on) in [a, r, d].into_iter().enumerate() {
                        if on {
                            fired.push(format!("acme.p#{i}"));
                        }
                    }
                    assert_eq!(dec.fired, fired, "{d} {r} {a}");
                    assert_eq!(dec.error, None);
                    assert_eq!(dec.review.is_some(), verdict == Verdict::Review);
                }
            }
        }
    }

    #[test]
    fn reasons_are_those_of_the_verdict_deduplicated_in_order() {
        let p = program(vec![policy(
            vec![param("x", Type::Int)],
            0,
            vec![
                (Verdict::Allow, "eligible", None),
                (
                    Verdict::Deny,
                    "too-high",
                    Some(cmp(CmpOp::Gt, slot(0), int(10))),
                ),
                (
                    Verdict::Deny,
                    "odd",
                    Some(cmp(CmpOp::Eq, ar(ArithOp::Rem, slot(0), int(2)), int(1))),
                ),
                (
                    Verdict::Deny,
                    "too-high",
                    Some(cmp(CmpOp::Gt, slot(0), int(5))),
                ),
                (
                    Verdict::Review,
                    "look",
                    Some(cmp(CmpOp::Gt, slot(0), int(100))),
                ),
                (
                    Verdict::Review,
                    "look-again",
                    Some(cmp(CmpOp::Gt, slot(0), int(100))),
                ),
            ],
        )]);
        let d = decide(&p, 0, &[Value::Int(11)], 0, &NoSignals);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(d.reasons, vec!["too-high", "odd"]);
        assert_eq!(
            d.fired,
            vec!["acme.p#0", "acme.p#1", "acme.p#2", "acme.p#3"]
        );
        assert_eq!(d.review, None);
        let d = decide(&p, 0, &[Value::Int(4)], 0, &NoSignals);
        assert_eq!(
            (d.verdict, d.reasons, d.fired),
            (
                Verdict::Allow,
                vec!["eligible".to_string()],
                vec!["acme.p#0".to_string()]
            )
        );
        // in the order of the first rule giving each reason
        let d = decide(&p, 0, &[Value::Int(7)], 0, &NoSignals);
        assert_eq!(d.reasons, vec!["odd", "too-high"]);
        assert_eq!(d.fired, vec!["acme.p#0", "acme.p#2", "acme.p#3"]);
    }

    #[test]
    fn the_terms_of_several_fired_reviews_merge_strictly() {
        let r = |role: &str, within_ms, fallback| Review {
            role: role.into(),
            within_ms,
            fallback,
            also: Vec::new(),
        };
        let lax = r("desk", 60_000, Verdict::Allow);
        let strict = r("lead", 900_000, Verdict::Deny);
        let m = merge_reviews([&lax, &strict, &r("desk", 30_000, Verdict::Allow)]).unwrap();
        // Every role, once, the first first; the earliest deadline; a deny fallback wins.
        assert_eq!(m.role, "desk");
        assert_eq!(m.also, vec!["lead".to_string()]);
        assert_eq!(m.within_ms, 30_000);
        assert_eq!(m.fallback, Verdict::Deny);
        // One review keeps its terms.
        assert_eq!(merge_reviews([&lax]), Some(lax.clone()));
        assert_eq!(merge_reviews(std::iter::empty()), None);
    }

    #[test]
    fn review_carries_the_terms_of_every_fired_review() {
        let p = program(vec![policy(
            vec![param("x", Type::Int)],
            0,
            vec![
                (
                    Verdict::Review,
                    "big",
                    Some(cmp(CmpOp::Gt, slot(0), int(10))),
                ),
                (Verdict::Review, "any", None),
                (Verdict::Allow, "ok", None),
            ],
        )]);
        let d = decide(&p, 0, &[Value::Int(1)], 0, &NoSignals);
        assert_eq!(d.verdict, Verdict::Review);
        assert_eq!(d.reasons, vec!["any"]);
        assert_eq!(d.review.map(|r| r.role), Some("role-1".to_string()));
        let d = decide(&p, 0, &[Value::Int(11)], 0, &NoSignals);
        assert_eq!(d.reasons, vec!["big", "any"]);
        assert_eq!(d.fired, vec!["acme.p#0", "acme.p#1", "acme.p#2"]);
        let review = d.review.unwrap();
        // Both reviews fired: the case needs an approval of each role.
        assert_eq!(
            (review.role.as_str(), review.also.as_slice()),
            ("role-0", ["role-1".to_string()].as_slice())
        );
    }

    #[test]
    fn no_rules_is_deny_without_reasons() {
        let p = program(vec![policy(vec![], 0, vec![])]);
        let d = decide(&p, 0, &[], 0, &NoSignals);
        assert_eq!(d.verdict, Verdict::Deny);
        assert!(d.reasons.is_empty() && d.fired.is_empty() && d.error.is_none());
    }

    // ------------------------------------------------------------------ failing closed

    #[test]
    fn runtime_errors_deny_and_stop() {
        let rules = |cond: Expr| {
            vec![
                (Verdict::Allow, "first", None),
                (Verdict::Allow, "boom", Some(cond)),
                (Verdict::Allow, "after", None),
            ]
        };
        let cases: Vec<(Vec<Param>, Vec<Value>, Expr, &str)> = vec![
            (
                vec![param("x", Type::Int)],
                vec![Value::Int(i64::MAX)],
                cmp(CmpOp::Gt, ar(ArithOp::Add, slot(0), int(1)), int(0)),
                "overflows",
            ),
            (
                vec![param("x", Type::Int)],
                vec![Value::Int(0)],
                cmp(CmpOp::Gt, ar(ArithOp::Div, int(10), slot(0)), int(0)),
                "division by zero",
            ),
            (
                vec![param("x", Type::Int)],
                vec![Value::Int(0)],
                cmp(CmpOp::Gt, ar(ArithOp::Rem, int(10), slot(0)), int(0)),
                "division by zero",
            ),
            (
                vec![param("c", Type::Optional(Box::new(Type::Record(0))))],
                vec![Value::Absent],
                cmp(CmpOp::Gt, Expr::Field(b(slot(0)), 0), int(0)),
                "absent",
            ),
            (
                vec![param("m", Type::Money)],
                vec![money("1", "EUR")],
                cmp(CmpOp::Lt, slot(0), Expr::Const(money("2", "USD"))),
                "EUR",
            ),
            (
                vec![param("x", Type::Int)],
                vec![Value::Int(1)],
                slot(0), // not a Bool
                "not a Bool",
            ),
        ];
        for (params, args, cond, what) in cases {
            let p = program(vec![policy(params, 0, rules(cond))]);
            let d = decide(&p, 0, &args, 0, &NoSignals);
            assert_eq!(d.verdict, Verdict::Deny, "{what}");
            assert_eq!(d.reasons, vec![RUNTIME_ERROR], "{what}");
            assert_eq!(d.fired, vec!["acme.p#0"], "{what}");
            assert_eq!(d.review, None);
            let err = d.error.expect("an error message");
            assert!(err.contains("acme.p#1") && err.contains(what), "{err}");
        }
        // the same programs succeed on good values: the errors come from the values
        let p = program(vec![policy(
            vec![param("x", Type::Int)],
            0,
            rules(cmp(CmpOp::Gt, ar(ArithOp::Div, int(10), slot(0)), int(0))),
        )]);
        let d = decide(&p, 0, &[Value::Int(2)], 0, &NoSignals);
        assert_eq!(d.verdict, Verdict::Allow);
        assert_eq!(d.fired.len(), 3);
    }

    #[test]
    fn bad_input_is_denied_before_any_rule() {
        let p = program(vec![policy(
            vec![
                param("c", Type::Record(0)),
                param("ch", Type::Symbol(SymbolKind::Channel)),
            ],
            0,
            vec![(Verdict::Allow, "ok", None)],
        )]);
        let good = vec![customer(1, "Europe/Paris"), Value::Symbol(0)];
        assert_eq!(decide(&p, 0, &good, 0, &NoSignals).verdict, Verdict::Allow);
        let bad: Vec<Vec<Value>> = vec![
            vec![customer(1, "Europe/Paris")],
            vec![customer(1, "Europe/Paris"), Value::Symbol(0), Value::Int(1)],
            vec![customer(1, "Europe/Atlantis"), Value::Symbol(0)],
            vec![customer(1, "Europe/Paris"), Value::Symbol(1)], // a purpose, not a channel
            vec![customer(1, "Europe/Paris"), Value::Symbol(7)],
            vec![Value::Int(1), Value::Symbol(0)],
            vec![Value::Absent, Value::Symbol(0)],
            vec![
                Value::Record(0, Arc::from(vec![Value::Int(1)])),
                Value::Symbol(0),
            ],
            vec![
                Value::Record(
                    0,
                    Arc::from(vec![Value::text("1"), Value::Tz(Arc::from("UTC"))]),
                ),
                Value::Symbol(0),
            ],
        ];
        for args in bad {
            let d = decide(&p, 0, &args, 0, &NoSignals);
            assert_eq!(d.verdict, Verdict::Deny, "{args:?}");
            assert_eq!(d.reasons, vec![BAD_INPUT], "{args:?}");
            assert!(d.fired.is_empty() && d.error.is_some());
        }
        // A set's element of the wrong type is refused at its index, whatever its order.
        let set = program(vec![policy(
            vec![param("s", Type::Set(Box::new(Type::Int)))],
            0,
            vec![(Verdict::Allow, "ok", None)],
        )]);
        let d = decide(
            &set,
            0,
            &[list(vec![Value::Int(2), Value::Int(1), Value::text("x")])],
            0,
            &NoSignals,
        );
        assert_eq!(d.reasons, vec![BAD_INPUT]);
        assert_eq!(
            d.error.as_deref(),
            Some("policy acme.p: argument 1 (`s`): element 2: Text where an Int is expected")
        );
    }

    #[test]
    fn sets_given_as_values_are_made_canonical() {
        let p = program(vec![]);
        let set = |t: Type| Type::Set(Box::new(t));
        let dec = |s: &str| Value::Decimal(s.parse().unwrap());
        // Sorted and unique already: borrowed, not copied.
        let v = list(vec![Value::Int(1), Value::Int(2)]);
        assert!(matches!(
            canonical(&p, &set(Type::Int), &v),
            Ok(Cow::Borrowed(_))
        ));
        // Sorted, without repeats; of equal elements the first given is kept (`1.0`).
        let v = list(vec![dec("2"), dec("1.0"), dec("2"), dec("1.00")]);
        let c = canonical(&p, &set(Type::Decimal), &v).unwrap();
        assert_eq!(*c, list(vec![dec("1.0"), dec("2")]));
        // (equal by value: the kept one's scale shows in its text)
        let Value::List(xs) = &*c else { panic!() };
        assert_eq!(format!("{:?}", xs[0]), format!("{:?}", dec("1.0")));
        // Inner sets first: {{2, 1}, {1, 2}} is {{1, 2}}; a list keeps its order and repeats,
        // its sets made canonical.
        let inner = |a: i64, b: i64| list(vec![Value::Int(a), Value::Int(b)]);
        let nested = list(vec![inner(2, 1), inner(1, 2)]);
        assert_eq!(
            canonical(&p, &set(set(Type::Int)), &nested)
                .unwrap()
                .into_owned(),
            list(vec![inner(1, 2)])
        );
        assert_eq!(
            canonical(
                &p,
                &Type::List(Box::new(set(Type::Int))),
                &list(vec![inner(2, 1), inner(2, 1)])
            )
            .unwrap()
            .into_owned(),
            list(vec![inner(1, 2), inner(1, 2)])
        );
        // Optional sets: absent stays absent, present is made canonical.
        let opt = Type::Optional(Box::new(set(Type::Int)));
        assert!(matches!(
            canonical(&p, &opt, &Value::Absent),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(
            canonical(&p, &opt, &inner(2, 2)).unwrap().into_owned(),
            list(vec![Value::Int(2)])
        );
        // Both engines decide on the canonical set: `count(s)` is 2 for [3, 1, 3].
        let counted = program(vec![policy(
            vec![param("s", set(Type::Int))],
            1,
            vec![(
                Verdict::Allow,
                "two",
                Some(Expr::Cmp(
                    CmpOp::Eq,
                    Box::new(Expr::Quantify {
                        quantifier: Quantifier::Count,
                        list: Box::new(Expr::Slot(0)),
                        slot: 2,
                        body: None,
                    }),
                    Box::new(Expr::Const(Value::Int(2))),
                )),
            )],
        )]);
        let args = [list(vec![Value::Int(3), Value::Int(1), Value::Int(3)])];
        assert_eq!(decide(&counted, 0, &args, 0, &NoSignals).reasons, ["two"]);
        assert_eq!(
            decide_action(&counted, "acme.act", &args, 0, &NoSignals).reasons,
            ["two"]
        );
    }

    #[test]
    fn malformed_programs_fail_closed() {
        let p = program(vec![policy(vec![], 0, vec![(Verdict::Allow, "ok", None)])]);
        assert_eq!(
            decide(&p, 5, &[], 0, &NoSignals).reasons,
            vec![RUNTIME_ERROR]
        );
        let mut q = p.clone();
        q.policies[0].now_slot = Some(9);
        assert_eq!(
            decide(&q, 0, &[], 0, &NoSignals).reasons,
            vec![RUNTIME_ERROR]
        );
        let mut q = p.clone();
        q.policies[0].rules[0].condition = Some(slot(40));
        assert_eq!(
            decide(&q, 0, &[], 0, &NoSignals).reasons,
            vec![RUNTIME_ERROR]
        );
        let mut q = p.clone();
        q.policies[0].rules[0].condition = Some(Expr::Signal(3, vec![]));
        assert_eq!(
            decide(&q, 0, &[], 0, &NoSignals).reasons,
            vec![RUNTIME_ERROR]
        );
        let mut q = p;
        q.policies[0].rules[0].condition = Some(Expr::Signal(0, vec![])); // wrong arity
        assert_eq!(
            decide(&q, 0, &[], 0, &NoSignals).reasons,
            vec![RUNTIME_ERROR]
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let nots = |n: u32| {
            let mut e = boolean(true);
            for _ in 0..n {
                e = Expr::Not(b(e));
            }
            e
        };
        assert_eq!(ev(nots(MAX_DEPTH - 1)), Ok(Value::Bool(MAX_DEPTH % 2 == 1)));
        assert!(ev(nots(MAX_DEPTH)).unwrap_err().contains("deeper"));
        assert!(ev(nots(MAX_DEPTH * 40)).unwrap_err().contains("deeper"));
        // quantifiers use the most stack per level: the deepest allowed nesting fits a
        // test thread's stack
        let mut e = boolean(true);
        for _ in 0..(MAX_DEPTH - 2) {
            e = Expr::Quantify {
                quantifier: Quantifier::All,
                list: b(Expr::List(vec![int(1)])),
                slot: 0,
                body: Some(b(e)),
            };
        }
        assert_eq!(ev(e), Ok(Value::Bool(true)));
    }

    // ------------------------------------------------------------------ signals

    /// Counts the reads; answers `args[0] * 10`, or a Text for 99 (out of contract).
    struct Counting(RefCell<Vec<Vec<Value>>>);

    impl Signals for Counting {
        fn read(&self, _signal: u32, _decl: &SignalDecl, args: &[Value]) -> Value {
            self.0.borrow_mut().push(args.to_vec());
            match args.first() {
                Some(Value::Int(99)) => Value::text("oops"),
                Some(Value::Int(n)) => Value::Int(n * 10),
                _ => Value::Absent,
            }
        }
    }

    #[test]
    fn signal_reads_are_memoised_per_decision() {
        let read = |n: Expr| Expr::Signal(0, vec![n]);
        let p = program(vec![policy(
            vec![param("x", Type::Int)],
            0,
            vec![
                (
                    Verdict::Deny,
                    "high",
                    Some(cmp(
                        CmpOp::Gt,
                        Expr::Default(b(read(slot(0))), b(int(0))),
                        int(50),
                    )),
                ),
                (
                    Verdict::Deny,
                    "same",
                    Some(cmp(
                        CmpOp::Eq,
                        Expr::Default(b(read(slot(0))), b(int(0))),
                        int(70),
                    )),
                ),
                (
                    Verdict::Deny,
                    "other",
                    Some(Expr::IsPresent(b(read(ar(ArithOp::Add, slot(0), int(1)))))),
                ),
                (
                    Verdict::Allow,
                    "again",
                    Some(Expr::IsPresent(b(read(ar(ArithOp::Sub, slot(0), int(0)))))),
                ),
            ],
        )]);
        let s = Counting(RefCell::new(Vec::new()));
        let d = decide(&p, 0, &[Value::Int(7)], 0, &s);
        assert_eq!(d.reasons, vec!["high", "same", "other"]);
        assert_eq!(
            *s.0.borrow(),
            vec![vec![Value::Int(7)], vec![Value::Int(8)]]
        );
        // a new decision reads again
        decide(&p, 0, &[Value::Int(7)], 0, &s);
        assert_eq!(s.0.borrow().len(), 4);
        // an answer out of contract (a Text for an Int signal) reads as absent, once
        let s = Counting(RefCell::new(Vec::new()));
        let d = decide(&p, 0, &[Value::Int(99)], 0, &s);
        assert_eq!(d.fired, vec!["acme.p#2"]); // only 100 is present
        assert_eq!(s.0.borrow().len(), 2);
    }

    #[test]
    fn fixed_and_no_signals() {
        let p = program(vec![]);
        let decl = &p.signals[0];
        let fixed = FixedSignals(vec![(0, Value::Int(3)), (0, Value::Int(4))]);
        assert_eq!(fixed.read(0, decl, &[Value::Int(1)]), Value::Int(3));
        assert_eq!(fixed.read(0, decl, &[Value::Int(2)]), Value::Int(3));
        assert_eq!(fixed.read(1, decl, &[]), Value::Absent);
        assert_eq!(NoSignals.read(0, decl, &[]), Value::Absent);
        let e = Expr::Signal(0, vec![int(5)]);
        assert_eq!(eval(&p, &e, &mut [], 0, &fixed), Ok(Value::Int(3)));
        assert_eq!(eval(&p, &e, &mut [], 0, &NoSignals), Ok(Value::Absent));
    }

    // ------------------------------------------------------------------ expressions

    #[test]
    fn integer_arithmetic() {
        let a = |op, x, y| ev(ar(op, int(x), int(y)));
        assert_eq!(a(ArithOp::Div, -7, 2), Ok(Value::Int(-3)));
        assert_eq!(a(ArithOp::Rem, -7, 2), Ok(Value::Int(-1)));
        assert_eq!(a(ArithOp::Rem, 7, -2), Ok(Value::Int(1)));
        assert_eq!(a(ArithOp::Mul, 6, 7), Ok(Value::Int(42)));
        assert_eq!(a(ArithOp::Sub, 1, 3), Ok(Value::Int(-2)));
        assert!(a(ArithOp::Div, i64::MIN, -1).is_err());
        assert_eq!(a(ArithOp::Rem, i64::MIN, -1), Ok(Value::Int(0)));
        assert!(a(ArithOp::Mul, i64::MAX, 2).is_err());
        assert!(a(ArithOp::Sub, i64::MIN, 1).is_err());
        assert!(ev(Expr::Neg(b(int(i64::MIN)))).is_err());
        assert_eq!(ev(Expr::Neg(b(int(5)))), Ok(Value::Int(-5)));
        assert!(ev(ar(ArithOp::Add, int(1), Expr::Const(dec("1.0")))).is_err());
        assert!(ev(ar(ArithOp::Add, int(1), Expr::Const(Value::Absent))).is_err());
    }

    // ------------------------------------------------------------------ exact decimals

    /// A decimal from its text, exactly.
    fn dx(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    /// `x op y` on decimals written as text.
    fn dop(x: &str, op: ArithOp, y: &str) -> Result<Decimal, String> {
        dec_op(op, dx(x), dx(y))
    }

    /// `x op y` on decimals written as text, which must be `want` exactly (value and scale).
    fn exact(x: &str, op: ArithOp, y: &str, want: &str) {
        let r = dop(x, op, y).unwrap_or_else(|e| panic!("{x} {op:?} {y}: {e}"));
        assert_eq!(r.to_string(), want, "{x} {op:?} {y}");
    }

    /// `x op y` on decimals written as text, which must fail with `msg`.
    fn fails(x: &str, op: ArithOp, y: &str, msg: &str) {
        assert_eq!(dop(x, op, y), Err(msg.to_string()), "{x} {op:?} {y}");
    }

    const PLACES: &str = "(a Decimal has at most 28 digits after the point)";
    const DIGITS: &str = concat!(
        "(a Decimal has 28 to 29 significant digits: ",
        "at most 79228162514264337593543950335 without its point)"
    );

    #[test]
    fn decimal_products_are_exact_or_fail() {
        use ArithOp::Mul;
        exact("1.5", Mul, "2.0", "3.00");
        exact("-1.5", Mul, "-2.0", "3.00");
        exact(
            "0.00000000000001",
            Mul,
            "0.00000000000001",
            "0.0000000000000000000000000001",
        );
        fails(
            "0.000000000000001",
            Mul,
            "0.000000000000001",
            &format!(
                "0.000000000000001 * 0.000000000000001 = 0.000000000000000000000000000001 \
                 cannot be represented exactly {PLACES}"
            ),
        );
        fails(
            "-0.0000000000000001",
            Mul,
            "0.0000000000000001",
            &format!(
                "-0.0000000000000001 * 0.0000000000000001 = \
                 -0.00000000000000000000000000000001 cannot be represented exactly {PLACES}"
            ),
        );
        // Beyond 28 places only through trailing zeros: exact.
        let r = dop("0.5000000000000000", Mul, "0.0000000000002000").unwrap();
        assert_eq!(r, dx("0.0000000000001"));
        // 25 * 4 ends in two zeros, 25 * 2 in one: each factor 2 and 5 counts.
        exact(
            "0.00000000000025",
            Mul,
            "0.0000000000000004",
            "0.0000000000000000000000000001",
        );
        fails(
            "0.00000000000025",
            Mul,
            "0.0000000000000002",
            &format!(
                "0.00000000000025 * 0.0000000000000002 = 0.00000000000000000000000000005 \
                 cannot be represented exactly {PLACES}"
            ),
        );
        // Enough twos (2^4) but one five; enough fives (5^4) but one two.
        assert!(dop("0.0000000000000016", Mul, "0.0000000000000005").is_err());
        assert!(dop("0.0000000000000625", Mul, "0.0000000000000002").is_err());
        // Large mantissas: exact when the digits dropped to fit 96 bits are zeros.
        exact(
            "79228162514264337593543950335",
            Mul,
            "1",
            "79228162514264337593543950335",
        );
        exact(
            "7922816251426433759354395033.5",
            Mul,
            "2",
            "15845632502852867518708790067",
        );
        fails(
            "7922816251426433759354395033.5",
            Mul,
            "3",
            &format!(
                "7922816251426433759354395033.5 * 3 = 23768448754279301278063185100.5 cannot \
                 be represented exactly {DIGITS}"
            ),
        );
        fails(
            "1.0000000000000000000000000001",
            Mul,
            "1.0000000000000000000000000001",
            &format!(
                "1.0000000000000000000000000001 * 1.0000000000000000000000000001 = \
                 1.00000000000000000000000000020000000000000000000000000001 cannot be \
                 represented exactly {PLACES}"
            ),
        );
        // Zero is exact at any scale; overflow stays an overflow.
        assert!(
            dop("0.0000000000000000000000000000", Mul, "0.0000000000000001")
                .is_ok_and(|r| r.is_zero())
        );
        fails(
            "79228162514264337593543950335",
            Mul,
            "2",
            "79228162514264337593543950335 * 2 overflows",
        );
    }

    #[test]
    fn decimal_sums_are_exact_or_fail() {
        use ArithOp::{Add, Sub};
        exact("0.1", Add, "0.2", "0.3");
        exact("1", Add, "0.0000000000000001", "1.0000000000000001");
        // The 28th place: kept while the mantissa fits 96 bits.
        exact(
            "1",
            Add,
            "0.0000000000000000000000000001",
            "1.0000000000000000000000000001",
        );
        exact(
            "1",
            Sub,
            "0.0000000000000000000000000001",
            "0.9999999999999999999999999999",
        );
        exact(
            "7.922816251426433759354395033",
            Add,
            "0.0000000000000000000000000005",
            "7.9228162514264337593543950335",
        );
        fails(
            "7.922816251426433759354395033",
            Add,
            "0.0000000000000000000000000006",
            &format!(
                "7.922816251426433759354395033 + 0.0000000000000000000000000006 = \
                 7.9228162514264337593543950336 cannot be represented exactly {DIGITS}"
            ),
        );
        // QA's case: rust_decimal gives back `a`.
        fails(
            "9.999999999999999999999999999",
            Add,
            "0.0000000000000000000000000001",
            &format!(
                "9.999999999999999999999999999 + 0.0000000000000000000000000001 = \
                 9.9999999999999999999999999991 cannot be represented exactly {DIGITS}"
            ),
        );
        fails(
            "10",
            Sub,
            "0.0000000000000000000000000001",
            &format!(
                "10 - 0.0000000000000000000000000001 = 9.9999999999999999999999999999 cannot \
                 be represented exactly {DIGITS}"
            ),
        );
        fails(
            "0.0000000000000000000000000001",
            Sub,
            "10",
            &format!(
                "0.0000000000000000000000000001 - 10 = -9.9999999999999999999999999999 cannot \
                 be represented exactly {DIGITS}"
            ),
        );
        fails(
            "-10",
            Sub,
            "0.0000000000000000000000000001",
            &format!(
                "-10 - 0.0000000000000000000000000001 = -10.0000000000000000000000000001 \
                 cannot be represented exactly {DIGITS}"
            ),
        );
        // Rounded to fit 96 bits, dropping only a zero: exact, with either sign.
        exact(
            "7922816251426433759354395033.2",
            Add,
            "0.8",
            "7922816251426433759354395034",
        );
        exact(
            "-7922816251426433759354395033.2",
            Sub,
            "0.8",
            "-7922816251426433759354395034",
        );
        fails(
            "7922816251426433759354395033.2",
            Sub,
            "-0.9",
            &format!(
                "7922816251426433759354395033.2 - -0.9 = 7922816251426433759354395034.1 cannot \
                 be represented exactly {DIGITS}"
            ),
        );
        fails(
            "79228162514264337593543950335",
            Add,
            "1",
            "79228162514264337593543950335 + 1 overflows",
        );
    }

    #[test]
    fn decimal_division_rounds_half_to_even() {
        use ArithOp::Div;
        exact("1", Div, "4", "0.25");
        exact("1", Div, "3", "0.3333333333333333333333333333");
        exact("2", Div, "3", "0.6666666666666666666666666667");
        exact("-2", Div, "3", "-0.6666666666666666666666666667");
        // Ties to even, at the 28th place or the 96-bit mantissa's last digit.
        exact(
            "0.0000000000000000000000000003",
            Div,
            "2",
            "0.0000000000000000000000000002",
        );
        exact(
            "0.0000000000000000000000000005",
            Div,
            "2",
            "0.0000000000000000000000000002",
        );
        exact(
            "79228162514264337593543950335",
            Div,
            "2",
            "39614081257132168796771975168",
        );
        exact(
            "79228162514264337593543950333",
            Div,
            "2",
            "39614081257132168796771975166",
        );
        // A quotient that is not 0 never rounds to 0.
        let vanishes = |x: &str, y: &str| {
            format!(
                "{x} / {y} cannot be represented: the quotient is not 0 but rounds to 0 {PLACES}"
            )
        };
        fails(
            "0.0000000000000000000000000001",
            Div,
            "2",
            &vanishes("0.0000000000000000000000000001", "2"),
        );
        fails(
            "-0.0000000000000000000000000001",
            Div,
            "3",
            &vanishes("-0.0000000000000000000000000001", "3"),
        );
        exact("0.0", Div, "3", "0");
        fails("1", Div, "0.00", "1 / 0.00: division by zero");
        fails(
            "79228162514264337593543950335",
            Div,
            "0.5",
            "79228162514264337593543950335 / 0.5 overflows",
        );
    }

    #[test]
    fn money_arithmetic_is_exact_or_fails() {
        use ArithOp::{Add, Div, Mul, Sub};
        let m = |amount: &str| money(amount, "EUR");
        let de = |s: &str| dec(s);
        assert_eq!(arith(Add, m("1.50"), m("2")), Ok(m("3.50")));
        assert_eq!(
            arith(
                Add,
                m("9.999999999999999999999999999"),
                m("0.0000000000000000000000000001")
            ),
            Err(format!(
                "9.999999999999999999999999999 + 0.0000000000000000000000000001 = \
                 9.9999999999999999999999999991 cannot be represented exactly {DIGITS}"
            ))
        );
        assert!(arith(Sub, m("10"), m("0.0000000000000000000000000001")).is_err());
        assert_eq!(
            arith(Mul, m("0.0000000000000000000000000001"), Value::Int(3)),
            Ok(m("0.0000000000000000000000000003"))
        );
        assert_eq!(
            arith(Mul, m("7922816251426433759354395033.5"), Value::Int(3)),
            Err(format!(
                "7922816251426433759354395033.5 * 3 = 23768448754279301278063185100.5 cannot \
                 be represented exactly {DIGITS}"
            ))
        );
        assert_eq!(arith(Mul, m("20.00"), de("0.015")), Ok(m("0.30000")));
        assert_eq!(
            arith(Mul, m("0.00000000000001"), de("0.000000000000001")),
            Err(format!(
                "0.00000000000001 * 0.000000000000001 = 0.00000000000000000000000000001 \
                 cannot be represented exactly {PLACES}"
            ))
        );
        // `Money / n` rounds like Decimal division, not to cents.
        assert_eq!(
            arith(Div, m("1"), Value::Int(3)),
            Ok(m("0.3333333333333333333333333333"))
        );
        assert_eq!(
            arith(Div, m("0.0000000000000000000000000001"), Value::Int(3)),
            Err(format!(
                "0.0000000000000000000000000001 / 3 cannot be represented: the quotient is not \
                 0 but rounds to 0 {PLACES}"
            ))
        );
        assert_eq!(
            arith(Div, m("0.0000000000000000000000000001"), de("-4.0")),
            Err(format!(
                "0.0000000000000000000000000001 / -4.0 cannot be represented: the quotient is \
                 not 0 but rounds to 0 {PLACES}"
            ))
        );
    }

    #[test]
    fn decimal_money_duration_time_text() {
        let c = Expr::Const;
        assert_eq!(
            ev(ar(ArithOp::Add, c(dec("0.1")), c(dec("0.2")))),
            Ok(dec("0.3"))
        );
        assert_eq!(
            ev(ar(ArithOp::Div, c(dec("1")), c(dec("4")))),
            Ok(dec("0.25"))
        );
        assert!(ev(ar(ArithOp::Div, c(dec("1")), c(dec("0")))).is_err());
        assert!(ev(ar(ArithOp::Rem, c(dec("1")), c(dec("3")))).is_err());
        assert!(
            ev(ar(
                ArithOp::Mul,
                c(Value::Decimal(Decimal::MAX)),
                c(dec("2"))
            ))
            .is_err()
        );
        // money
        assert_eq!(
            ev(ar(
                ArithOp::Add,
                c(money("1.50", "EUR")),
                c(money("2", "EUR"))
            )),
            Ok(money("3.5", "EUR"))
        );
        assert!(ev(ar(ArithOp::Add, c(money("1", "EUR")), c(money("1", "USD")))).is_err());
        assert_eq!(
            ev(ar(ArithOp::Mul, c(money("1.5", "EUR")), int(3))),
            Ok(money("4.5", "EUR"))
        );
        assert_eq!(
            ev(ar(ArithOp::Div, c(money("3", "EUR")), c(dec("2")))),
            Ok(money("1.5", "EUR"))
        );
        assert!(ev(ar(ArithOp::Div, c(money("3", "EUR")), int(0))).is_err());
        assert!(ev(ar(ArithOp::Mul, c(money("3", "EUR")), c(money("3", "EUR")))).is_err());
        assert_eq!(
            ev(cmp(
                CmpOp::Eq,
                c(money("12.5", "EUR")),
                c(money("12.50", "EUR"))
            )),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            ev(cmp(
                CmpOp::Eq,
                c(money("12.5", "EUR")),
                c(money("12.5", "USD"))
            )),
            Ok(Value::Bool(false))
        );
        assert_eq!(
            ev(cmp(
                CmpOp::Lt,
                c(money("2", "EUR")),
                c(money("12.5", "EUR"))
            )),
            Ok(Value::Bool(true))
        );
        assert!(ev(cmp(CmpOp::Ge, c(money("2", "EUR")), c(money("1", "USD")))).is_err());
        assert_eq!(
            ev(Expr::Neg(b(c(money("2", "EUR"))))),
            Ok(money("-2", "EUR"))
        );
        // durations and times
        let d = |ms| c(Value::Duration(ms));
        let t = |ms| c(Value::Time(ms));
        assert_eq!(ev(ar(ArithOp::Add, d(1), d(2))), Ok(Value::Duration(3)));
        assert_eq!(ev(ar(ArithOp::Mul, d(5), int(3))), Ok(Value::Duration(15)));
        assert_eq!(ev(ar(ArithOp::Mul, int(3), d(5))), Ok(Value::Duration(15)));
        assert_eq!(ev(ar(ArithOp::Div, d(7), int(2))), Ok(Value::Duration(3)));
        assert!(ev(ar(ArithOp::Div, d(7), int(0))).is_err());
        assert!(ev(ar(ArithOp::Mul, d(i64::MAX), int(2))).is_err());
        assert_eq!(ev(ar(ArithOp::Add, t(10), d(5))), Ok(Value::Time(15)));
        assert_eq!(ev(ar(ArithOp::Add, d(5), t(10))), Ok(Value::Time(15)));
        assert_eq!(ev(ar(ArithOp::Sub, t(10), d(5))), Ok(Value::Time(5)));
        assert_eq!(ev(ar(ArithOp::Sub, t(10), t(25))), Ok(Value::Duration(-15)));
        assert!(ev(ar(ArithOp::Sub, t(i64::MIN), d(1))).is_err());
        assert!(ev(ar(ArithOp::Sub, t(i64::MAX), t(-1))).is_err());
        assert!(ev(ar(ArithOp::Add, t(1), t(1))).is_err());
        assert_eq!(ev(cmp(CmpOp::Le, t(3), t(3))), Ok(Value::Bool(true)));
        assert!(ev(cmp(CmpOp::Le, t(3), d(3))).is_err());
        // text
        let s = |x: &str| c(Value::text(x));
        assert_eq!(
            ev(ar(ArithOp::Add, s("ab"), s("cé"))),
            Ok(Value::text("abcé"))
        );
        assert_eq!(ev(cmp(CmpOp::Lt, s("Z"), s("a"))), Ok(Value::Bool(true)));
        assert_eq!(ev(cmp(CmpOp::Lt, s("é"), s("z"))), Ok(Value::Bool(false)));
        assert!(ev(ar(ArithOp::Sub, s("a"), s("b"))).is_err());
        // equality is total; ordering needs values
        let absent = || c(Value::Absent);
        assert_eq!(
            ev(cmp(CmpOp::Eq, absent(), absent())),
            Ok(Value::Bool(true))
        );
        assert_eq!(ev(cmp(CmpOp::Ne, absent(), int(1))), Ok(Value::Bool(true)));
        assert_eq!(
            ev(cmp(CmpOp::Eq, int(1), c(dec("1")))),
            Ok(Value::Bool(false))
        );
        assert!(ev(cmp(CmpOp::Lt, absent(), int(1))).is_err());
        assert!(ev(cmp(CmpOp::Lt, c(Value::Bool(false)), c(Value::Bool(true)))).is_err());
    }

    #[test]
    fn logic_short_circuits() {
        let boom = || ar(ArithOp::Div, int(1), int(0));
        let err = || cmp(CmpOp::Eq, boom(), int(0));
        assert_eq!(
            ev(Expr::And(b(boolean(false)), b(err()))),
            Ok(Value::Bool(false))
        );
        assert!(ev(Expr::And(b(boolean(true)), b(err()))).is_err());
        assert_eq!(
            ev(Expr::Or(b(boolean(true)), b(err()))),
            Ok(Value::Bool(true))
        );
        assert!(ev(Expr::Or(b(boolean(false)), b(err()))).is_err());
        assert_eq!(
            ev(Expr::If(b(boolean(true)), b(int(1)), b(boom()))),
            Ok(Value::Int(1))
        );
        assert!(ev(Expr::If(b(boolean(false)), b(int(1)), b(boom()))).is_err());
        assert!(ev(Expr::If(b(int(1)), b(int(1)), b(int(2)))).is_err());
        assert_eq!(ev(Expr::Default(b(int(3)), b(boom()))), Ok(Value::Int(3)));
        assert_eq!(
            ev(Expr::Default(b(Expr::Const(Value::Absent)), b(int(4)))),
            Ok(Value::Int(4))
        );
        assert_eq!(
            ev(Expr::IsPresent(b(Expr::Const(Value::Absent)))),
            Ok(Value::Bool(false))
        );
        assert_eq!(ev(Expr::IsPresent(b(int(0)))), Ok(Value::Bool(true)));
        assert_eq!(ev(Expr::Not(b(boolean(false)))), Ok(Value::Bool(true)));
        assert!(ev(Expr::Not(b(int(0)))).is_err());
        assert!(ev(Expr::And(b(int(1)), b(boolean(true)))).is_err());
    }

    #[test]
    fn collections_and_ranges() {
        let xs = || Expr::List(vec![int(3), int(1), int(3), int(2)]);
        let set = || Expr::Set(vec![int(3), int(1), int(3), int(2)]);
        assert_eq!(
            ev(set()),
            Ok(list(vec![Value::Int(1), Value::Int(2), Value::Int(3)]))
        );
        assert_eq!(ev(Expr::In(b(int(2)), b(xs()))), Ok(Value::Bool(true)));
        assert_eq!(ev(Expr::In(b(int(5)), b(set()))), Ok(Value::Bool(false)));
        assert!(ev(Expr::In(b(int(5)), b(int(5)))).is_err());
        let range = |v, lo, hi, inclusive| {
            ev(Expr::InRange {
                value: b(int(v)),
                lo: b(int(lo)),
                hi: b(int(hi)),
                inclusive,
            })
        };
        assert_eq!(range(8, 8, 21, false), Ok(Value::Bool(true)));
        assert_eq!(range(21, 8, 21, false), Ok(Value::Bool(false)));
        assert_eq!(range(21, 8, 21, true), Ok(Value::Bool(true)));
        assert_eq!(range(7, 8, 21, true), Ok(Value::Bool(false)));
        assert!(
            ev(Expr::InRange {
                value: b(int(1)),
                lo: b(Expr::Const(Value::Duration(0))),
                hi: b(int(2)),
                inclusive: false
            })
            .is_err()
        );
        // quantifiers bind slot 1
        let q = |quantifier, body: Option<Expr>| {
            ev(Expr::Quantify {
                quantifier,
                list: b(xs()),
                slot: 1,
                body: body.map(b),
            })
        };
        let gt = |n| Some(cmp(CmpOp::Gt, slot(1), int(n)));
        assert_eq!(q(Quantifier::Count, None), Ok(Value::Int(4)));
        assert_eq!(q(Quantifier::Count, gt(1)), Ok(Value::Int(3)));
        assert_eq!(q(Quantifier::Any, gt(2)), Ok(Value::Bool(true)));
        assert_eq!(q(Quantifier::Any, gt(3)), Ok(Value::Bool(false)));
        assert_eq!(q(Quantifier::All, gt(0)), Ok(Value::Bool(true)));
        assert_eq!(q(Quantifier::All, gt(1)), Ok(Value::Bool(false)));
        // any stops at the first true: 6 / (x - 1) would divide by zero at x = 1
        let risky = Some(cmp(
            CmpOp::Gt,
            ar(ArithOp::Div, int(6), ar(ArithOp::Sub, slot(1), int(1))),
            int(0),
        ));
        assert_eq!(q(Quantifier::Any, risky.clone()), Ok(Value::Bool(true)));
        assert!(q(Quantifier::Count, risky).is_err());
        assert!(q(Quantifier::Any, Some(slot(1))).is_err()); // not a Bool
        let empty = |quantifier| {
            ev(Expr::Quantify {
                quantifier,
                list: b(Expr::List(vec![])),
                slot: 1,
                body: Some(b(boolean(false))),
            })
        };
        assert_eq!(empty(Quantifier::Any), Ok(Value::Bool(false)));
        assert_eq!(empty(Quantifier::All), Ok(Value::Bool(true)));
        assert_eq!(empty(Quantifier::Count), Ok(Value::Int(0)));
        // the slot is restored afterwards; a slot out of the frame is an error
        let p = program(vec![]);
        let mut frame = [Value::Int(42)];
        let e = Expr::Quantify {
            quantifier: Quantifier::Count,
            list: b(xs()),
            slot: 0,
            body: Some(b(cmp(CmpOp::Eq, slot(0), int(3)))),
        };
        assert_eq!(eval(&p, &e, &mut frame, 0, &NoSignals), Ok(Value::Int(2)));
        assert_eq!(frame, [Value::Int(42)]);
        assert!(eval(&p, &e, &mut [], 0, &NoSignals).is_err());
    }

    #[test]
    fn records_fields_and_intrinsics() {
        let rec = Expr::Record(0, vec![int(7), Expr::Const(Value::Tz(Arc::from("UTC")))]);
        assert_eq!(ev(rec.clone()), Ok(customer(7, "UTC")));
        assert_eq!(ev(Expr::Field(b(rec.clone()), 0)), Ok(Value::Int(7)));
        assert!(ev(Expr::Field(b(rec), 2)).is_err());
        assert!(ev(Expr::Field(b(int(1)), 0)).is_err());
        assert!(ev(Expr::Record(0, vec![int(7)])).is_err());
        assert!(ev(Expr::Record(3, vec![])).is_err());
        // an intrinsic reads the decision time of the decision
        let p = program(vec![policy(
            vec![param("c", Type::Record(0))],
            0,
            vec![(
                Verdict::Deny,
                "quiet-hours",
                Some(Expr::Not(b(Expr::InRange {
                    value: b(Expr::Intrinsic(
                        Intrinsic::LocalHour,
                        vec![slot(1), Expr::Field(b(slot(0)), 1)],
                    )),
                    lo: b(int(8)),
                    hi: b(int(21)),
                    inclusive: false,
                }))),
            )],
        )]);
        let at = |s: &str| {
            s.parse::<jiff::Timestamp>()
                .expect("instant")
                .as_millisecond()
        };
        let paris = [customer(0, "Europe/Paris")];
        let d = decide(&p, 0, &paris, at("2026-11-25T21:30:00Z"), &NoSignals);
        assert_eq!(d.reasons, vec!["quiet-hours"]);
        let d = decide(&p, 0, &paris, at("2026-11-25T10:30:00Z"), &NoSignals);
        assert_eq!((d.verdict, d.fired.len()), (Verdict::Deny, 0));
        let d = decide(
            &p,
            0,
            &[customer(0, "America/New_York")],
            at("2026-11-25T21:30:00Z"),
            &NoSignals,
        );
        assert!(d.fired.is_empty());
        // an intrinsic's error fails the decision closed
        let mut q = p.clone();
        q.policies[0].rules[0].condition = Some(cmp(
            CmpOp::Gt,
            Expr::Intrinsic(Intrinsic::Hours, vec![int(i64::MAX)]),
            Expr::Const(Value::Duration(0)),
        ));
        assert_eq!(
            decide(&q, 0, &paris, 0, &NoSignals).reasons,
            vec![RUNTIME_ERROR]
        );
    }

    #[test]
    fn eval_const_builds_test_values() {
        let p = program(vec![]);
        assert_eq!(
            eval_const(&p, &Expr::List(vec![int(1)]), 0),
            Ok(list(vec![Value::Int(1)]))
        );
        assert!(eval_const(&p, &slot(0), 0).is_err());
    }

    #[test]
    fn eval_const_binds_the_slots_of_its_lambdas() {
        let p = program(vec![]);
        let any = |list: Expr, slot: u32, body: Expr| Expr::Quantify {
            quantifier: Quantifier::Any,
            list: Box::new(list),
            slot,
            body: Some(Box::new(body)),
        };
        // `any([1, 2], y => y > 1)`, its element in slot 1 (a test's earlier lambda has 0).
        let flat = any(
            Expr::List(vec![int(1), int(2)]),
            1,
            cmp(CmpOp::Gt, slot(1), int(1)),
        );
        assert_eq!(eval_const(&p, &flat, 0), Ok(Value::Bool(true)));
        // `any([[1], [2, 3]], xs => any(xs, x => x > 2))`: nested, two slots.
        let rows = Expr::List(vec![
            Expr::List(vec![int(1)]),
            Expr::List(vec![int(2), int(3)]),
        ]);
        let nested = any(rows, 0, any(slot(0), 1, cmp(CmpOp::Gt, slot(1), int(2))));
        assert_eq!(eval_const(&p, &nested, 0), Ok(Value::Bool(true)));
        // A slot no lambda binds is still out of the frame.
        let free = any(Expr::List(vec![int(1)]), 0, cmp(CmpOp::Gt, slot(1), int(0)));
        assert!(
            eval_const(&p, &free, 0)
                .unwrap_err()
                .contains("out of the frame")
        );
        // Too deep to evaluate: an error, not a stack overflow.
        let mut deep = any(Expr::List(vec![int(1)]), 0, Expr::Const(Value::Bool(true)));
        for _ in 0..MAX_DEPTH * 40 {
            deep = Expr::Not(Box::new(deep));
        }
        assert!(eval_const(&p, &deep, 0).unwrap_err().contains("deeper"));
    }

    #[test]
    fn decisions_serialize() {
        let d = decide(&three_flags(), 0, &flags(false, true, true), 0, &NoSignals);
        let json = serde_json::to_string(&d).expect("serializable");
        assert!(
            json.contains("\"Review\"") && json.contains("role-1"),
            "{json}"
        );
    }
}
