//! The connectors as the interpreter's signal source: a rule that reads a signal declared
//! `from camara.…` makes the connector call (or reuses a value younger than the signal's
//! `max_age`), and every read leaves a [`SignalOutcome`] saying what was read, from which
//! calls, or why the signal is absent.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xop_runtime::connectors::{self, Freshness, Origin, SimSwapSays};
use xop_runtime::engine::Deadline;
use xop_runtime::interp::{self, Decision, NoSignals, Signals};
use xop_runtime::ir::{Expr, Program, SignalDecl};
use xop_runtime::proof::record::SignalFetch;
use xop_runtime::value::Value;

use crate::Camara;
use crate::api::{ReachabilityStatus, RoamingStatus, SessionInfo, SimSwapDate};
use crate::convert;
use crate::http::{CallError, NetworkCall, lock};

/// What one signal read gave, for the proof record: present (fetched now, or reused from an
/// earlier call younger than `max_age`) or absent, and why; and the network calls behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalOutcome {
    /// The signal's qualified name.
    pub signal: String,
    /// Whether the read gave a value.
    pub present: bool,
    /// Where the value came from: the source, whether it was reused and how old, why it is
    /// absent, and the HTTP requests behind it (what the proof record keeps of the read).
    pub fetch: SignalFetch,
}

/// A connector source a signal can be declared `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    SimSwap,
    Roaming,
    Reachability,
    QosSession,
}

impl Source {
    fn of(name: &str) -> Option<Source> {
        match name.strip_prefix("std.").unwrap_or(name) {
            "camara.sim_swap" => Some(Source::SimSwap),
            "camara.device_roaming" => Some(Source::Roaming),
            "camara.device_reachability" => Some(Source::Reachability),
            "camara.qos_session" => Some(Source::QosSession),
            _ => None,
        }
    }
}

/// A typed answer, kept in the cache: values are rebuilt for each program, whose record
/// indices may differ (a module swapped while serving).
#[derive(Debug, Clone)]
enum Fetched {
    /// `/check`'s answer for a window of `hours`, and `/retrieve-date`'s.
    SimSwap {
        swapped: bool,
        hours: i64,
        date: SimSwapDate,
    },
    Roaming(RoamingStatus),
    Reachability(ReachabilityStatus),
    QosSession(SessionInfo),
}

struct Entry {
    fetched: Fetched,
    at: Instant,
    /// The `max_age` of the signal that fetched it: past it, no signal can use it.
    ttl: Duration,
    calls: Vec<NetworkCall>,
}

/// Answers by source and arguments, reused within a signal's `max_age`. Failures are not
/// kept: the next read asks again.
pub(crate) struct Cache {
    entries: HashMap<(String, Vec<Value>), Entry>,
    capacity: usize,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            capacity,
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    fn insert(&mut self, key: (String, Vec<Value>), entry: Entry, now: Instant) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.at) <= e.ttl);
            if self.entries.len() >= self.capacity {
                // Still full of fresh values: drop the oldest.
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(key, entry);
    }
}

/// The signal source of one decision: reads signals through the connectors and records each
/// read. Make one per decision, pass it to `decide`, then take its [`outcomes`].
///
/// [`outcomes`]: NetworkSignals::outcomes
pub struct NetworkSignals<'a> {
    camara: &'a Camara,
    program: &'a Program,
    now_ms: i64,
    /// The decision's deadline, if it has one: passed with every call its reads make, so they
    /// honour it on whatever thread they run, and stop once its caller gave up.
    deadline: Option<Deadline>,
    outcomes: Mutex<Vec<SignalOutcome>>,
}

impl<'a> NetworkSignals<'a> {
    /// The signal source for a decision of `program` at `now_ms` (the decision time, for source
    /// arguments that read it).
    pub fn new(camara: &'a Camara, program: &'a Program, now_ms: i64) -> NetworkSignals<'a> {
        NetworkSignals {
            camara,
            program,
            now_ms,
            deadline: None,
            outcomes: Mutex::new(Vec::new()),
        }
    }

    /// The same source, its reads bounded by the decision's `deadline` (`None`: no deadline):
    /// no request starts after its instant ([`Deadline::at`]), one in flight is cut off at it,
    /// no wait before a retry runs past it (token requests included), and a read it stops gives
    /// the signal absent, saying so (never a value, and nothing is cached). Besides, once the
    /// deadline's caller gave up ([`Deadline::give_up`]), no request starts and no wait before a
    /// retry goes on: the signal is absent, saying so ([`CallError::GaveUp`]). A request already
    /// in flight then ends at the deadline or at `timeout_ms`, whichever comes first.
    pub fn with_deadline(mut self, deadline: Option<Deadline>) -> NetworkSignals<'a> {
        self.deadline = deadline;
        self
    }

    /// The reads made so far, in order.
    pub fn outcomes(&self) -> Vec<SignalOutcome> {
        lock(&self.outcomes).clone()
    }

    /// The reads made, in order, consuming the source.
    pub fn into_outcomes(self) -> Vec<SignalOutcome> {
        self.outcomes
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn read_signal(&self, decl: &SignalDecl, args: &[Value]) -> (Value, SignalOutcome) {
        let mut out = SignalOutcome {
            signal: decl.name.clone(),
            present: false,
            fetch: SignalFetch {
                source: decl.source.clone(),
                cached: false,
                age_ms: None,
                reason: None,
                calls: Vec::new(),
            },
        };
        let absent = |mut out: SignalOutcome, reason: String| {
            out.fetch.reason = Some(reason);
            (Value::Absent, out)
        };
        let Some(source) = Source::of(&decl.source) else {
            let reason = format!("no connector for source `{}`", decl.source);
            return absent(out, reason);
        };
        let source_args = match self.source_args(decl, args) {
            Ok(a) => a,
            Err(e) => return absent(out, format!("{}: {e}", decl.source)),
        };
        let ttl = decl
            .max_age_ms
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Duration::from_millis);
        let key = (decl.source.clone(), source_args);
        let now = (self.camara.transport.clock)();
        if let Some(ttl) = ttl {
            let hit = lock(&self.camara.cache).entries.get(&key).and_then(|e| {
                let age = now.saturating_duration_since(e.at);
                (age <= ttl).then(|| (e.fetched.clone(), e.calls.clone(), age))
            });
            if let Some((fetched, calls, age)) = hit {
                let judged = self.judge(decl, &fetched, (self.camara.wall)());
                if judged.absent.is_none() {
                    out.fetch.cached = true;
                    let age_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
                    out.fetch.age_ms = Some(age_ms).max(judged.age_ms);
                    out.fetch.calls = calls;
                    return self.value(out, decl, &fetched);
                }
                // Young enough, but no longer current: stale by now, or (SIM Swap) answers that
                // no longer agree at this decision time. Never used: asked again.
                lock(&self.camara.cache).entries.remove(&key);
            }
        }
        let (fetched, calls) = self.camara.fetch(source, &key.1, self.deadline.as_ref());
        // When the answer came, by the connectors' own clock (not the caller's).
        let wall = (self.camara.wall)();
        out.fetch.calls = calls;
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                let reason = failure_reason(&decl.source, &e, &out.fetch.calls);
                return absent(out, reason);
            }
        };
        let judged = self.judge(decl, &fetched, wall);
        out.fetch.age_ms = Some(0).max(judged.age_ms);
        if let Some(why) = judged.absent {
            // Not cached: a failure, which the next read asks about again.
            return absent(out, format!("{}: {why}", decl.source));
        }
        let (value, out) = self.value(out, decl, &fetched);
        if out.present
            && let Some(ttl) = ttl.filter(|t| !t.is_zero())
        {
            let entry = Entry {
                fetched,
                at: now,
                ttl,
                calls: out.fetch.calls.clone(),
            };
            lock(&self.camara.cache).insert(key, entry, now);
        }
        (value, out)
    }

    /// The value of `fetched` as the program's `std.camara` type of the signal.
    fn value(
        &self,
        mut out: SignalOutcome,
        decl: &SignalDecl,
        fetched: &Fetched,
    ) -> (Value, SignalOutcome) {
        let (p, ty) = (self.program, &decl.ty);
        let value = match fetched {
            Fetched::SimSwap { swapped, date, .. } => convert::sim_swap(p, ty, *swapped, date),
            Fetched::Roaming(r) => convert::roaming(p, ty, r),
            Fetched::Reachability(r) => convert::reachability(p, ty, r),
            Fetched::QosSession(s) => convert::qos_session(p, ty, s),
        };
        match value {
            Ok(v) => {
                out.present = true;
                (v, out)
            }
            Err(e) => {
                out.fetch.reason = Some(format!("{}: {e}", decl.source));
                (Value::Absent, out)
            }
        }
    }

    /// Whether `fetched` can be believed at the decision time: not older than the signal's
    /// `max_age` by the time the network says it observed it (`lastStatusTime`; the cache
    /// only knows when the answer came; without it, a signal with a `max_age` cannot be
    /// shown fresh), and, for SIM Swap, `/check` and `/retrieve-date` telling one story. A
    /// swap date that contradicts `swapped` must not turn the network's "swapped" into "no
    /// recent swap": such a value is absent, which policies fail closed on.
    ///
    /// The observation time is judged at the decision time and at `wall_ms`, the connectors'
    /// clock when the answer came (or is reused): the decision time is the caller's, and a
    /// caller setting it back must not make an old observation fresh.
    fn judge(&self, decl: &SignalDecl, fetched: &Fetched, wall_ms: i64) -> Freshness {
        // Device Status says when the network observed the status; a QoS session is the
        // operator's own record, as current as the answer.
        let observed = match fetched {
            Fetched::Roaming(r) => r.last_status_time,
            Fetched::Reachability(r) => r.last_status_time,
            Fetched::SimSwap {
                swapped,
                hours,
                date,
            } => {
                // The runtime's rule, the one that also judges values given in the input.
                let says = SimSwapSays {
                    swapped: *swapped,
                    hours: *hours,
                    latest_swap: date.latest_sim_change,
                    monitored_period_ms: date
                        .monitored_period_days
                        .map(|d| d.saturating_mul(86_400_000)),
                };
                let origin = Origin::Answer { clock_ms: wall_ms };
                return Freshness {
                    age_ms: None,
                    absent: connectors::sim_swap_agrees(origin, &says, self.now_ms).err(),
                };
            }
            // Current, but it must not contradict itself: a session still called available
            // after its `expiresAt` (at the later of the decision time and the connectors'
            // clock, so a caller setting the time back cannot revive it) is out of contract.
            Fetched::QosSession(s) => {
                return Freshness {
                    age_ms: None,
                    absent: crate::api::lapsed(s, wall_ms.max(self.now_ms))
                        .map(|why| format!("out of contract: {why}")),
                };
            }
        };
        // The runtime's rule, the one that also judges values given in the input.
        connectors::freshness(
            Origin::Answer { clock_ms: wall_ms },
            observed,
            decl.max_age_ms,
            self.now_ms,
        )
    }

    /// The connector's arguments: the declaration's source arguments evaluated over the
    /// signal's arguments.
    fn source_args(&self, decl: &SignalDecl, args: &[Value]) -> Result<Vec<Value>, String> {
        let mut slots = args.len();
        for e in &decl.source_args {
            let top = max_slot(e, 0).ok_or("the source arguments nest too deeply")?;
            slots = slots.max(top.map_or(0, |s| {
                usize::try_from(s).map_or(usize::MAX, |s| s.saturating_add(1))
            }));
        }
        // A module is data: refuse a frame no real signal needs rather than allocate it.
        if slots > args.len() + 1024 {
            return Err("the source arguments use more slots than a signal can have".into());
        }
        let mut frame = args.to_vec();
        frame.resize(slots, Value::Absent);
        decl.source_args
            .iter()
            .map(|e| {
                interp::eval(self.program, e, &mut frame, self.now_ms, &NoSignals)
                    .map_err(|err| format!("cannot evaluate its arguments: {err}"))
            })
            .collect()
    }
}

impl Signals for NetworkSignals<'_> {
    fn read(&self, _signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        let (value, outcome) = self.read_signal(decl, args);
        lock(&self.outcomes).push(outcome);
        value
    }

    fn fetch(&self, nth: usize) -> Option<SignalFetch> {
        lock(&self.outcomes).get(nth).map(|o| o.fetch.clone())
    }
}

/// Why a fetch failed, with the operation that failed and how many attempts it took.
fn failure_reason(source: &str, e: &CallError, calls: &[NetworkCall]) -> String {
    // It names the operation and the last try itself; the calls made are in the record.
    if let CallError::DeadlinePassed { .. } | CallError::GaveUp { .. } = e {
        return format!("{source}: {e}");
    }
    let last = calls.iter().rev().find(|c| c.api != "oauth2");
    match last {
        Some(c) if c.attempt > 1 => format!(
            "{source}: {} {}: {e} (after {} attempts)",
            c.api, c.operation, c.attempt
        ),
        Some(c) => format!("{source}: {} {}: {e}", c.api, c.operation),
        None => match calls.iter().filter(|c| c.api == "oauth2").count() {
            n if n > 1 => format!("{source}: {e} (after {n} token requests)"),
            _ => format!("{source}: {e}"),
        },
    }
}

/// The highest slot `e` reads or binds (`Ok(None)` for none), or `None` when it nests deeper
/// than the interpreter would evaluate anyway.
fn max_slot(e: &Expr, depth: u32) -> Option<Option<u32>> {
    if depth > interp::MAX_DEPTH {
        return None;
    }
    let d = depth + 1;
    let all = |xs: &[&Expr]| -> Option<Option<u32>> {
        let mut top = None;
        for x in xs {
            top = top.max(max_slot(x, d)?);
        }
        Some(top)
    };
    match e {
        Expr::Const(_) => Some(None),
        Expr::Slot(s) => Some(Some(*s)),
        Expr::Field(x, _) | Expr::Not(x) | Expr::Neg(x) | Expr::IsPresent(x) => all(&[x]),
        Expr::And(a, b)
        | Expr::Or(a, b)
        | Expr::Cmp(_, a, b)
        | Expr::Arith(_, a, b)
        | Expr::In(a, b)
        | Expr::Default(a, b) => all(&[a, b]),
        Expr::InRange { value, lo, hi, .. } => all(&[value, lo, hi]),
        Expr::If(c, a, b) => all(&[c, a, b]),
        Expr::List(xs)
        | Expr::Set(xs)
        | Expr::Record(_, xs)
        | Expr::Intrinsic(_, xs)
        | Expr::Signal(_, xs) => all(&xs.iter().collect::<Vec<_>>()),
        Expr::Quantify {
            list, slot, body, ..
        } => {
            let inner = match body {
                Some(b) => all(&[list, b])?,
                None => all(&[list])?,
            };
            Some(inner.max(Some(*slot)))
        }
    }
}

impl Camara {
    /// Calls the connector `source` with `args`, every call bounded by `until` (the decision's
    /// deadline); the calls made, whatever the outcome.
    fn fetch(
        &self,
        source: Source,
        args: &[Value],
        until: Option<&Deadline>,
    ) -> (Result<Fetched, CallError>, Vec<NetworkCall>) {
        let bad = |what: &str| {
            (
                Err(CallError::InvalidArgument(format!(
                    "expects {what}, got ({})",
                    args.iter().map(Value::kind).collect::<Vec<_>>().join(", ")
                ))),
                Vec::new(),
            )
        };
        match (source, args) {
            (Source::SimSwap, [phone, Value::Duration(window)]) => {
                let Some(phone) = text(phone) else {
                    return bad("(Text, Duration)");
                };
                // maxAge is in whole hours, rounded up so that the window is covered (the
                // runtime's rule: a value given in the input is judged over the same window).
                let hours = connectors::sim_swap_hours(*window);
                let check = self.check_sim_swap_until(phone, hours, until);
                let mut calls = check.calls;
                let swapped = match check.result {
                    Ok(s) => s,
                    Err(e) => return (Err(e), calls),
                };
                let date = self.retrieve_sim_swap_date_until(phone, until);
                calls.extend(date.calls);
                let fetched = date.result.map(|date| Fetched::SimSwap {
                    swapped,
                    hours,
                    date,
                });
                (fetched, calls)
            }
            (Source::SimSwap, _) => bad("(Text, Duration)"),
            (source, [id]) => {
                let Some(id) = text(id) else {
                    return bad("(Text)");
                };
                match source {
                    Source::Roaming => {
                        let x = self.roaming_status_until(id, until);
                        (x.result.map(Fetched::Roaming), x.calls)
                    }
                    Source::Reachability => {
                        let x = self.reachability_status_until(id, until);
                        (x.result.map(Fetched::Reachability), x.calls)
                    }
                    Source::QosSession | Source::SimSwap => {
                        let x = self.get_session_until(id, until);
                        (x.result.map(Fetched::QosSession), x.calls)
                    }
                }
            }
            (_, _) => bad("(Text)"),
        }
    }

    /// The signal source for one decision of `program` at `now_ms`.
    pub fn signals<'a>(&'a self, program: &'a Program, now_ms: i64) -> NetworkSignals<'a> {
        NetworkSignals::new(self, program, now_ms)
    }

    /// The signal source for one decision of `program` at `now_ms` whose reads are bounded by
    /// its `deadline` (`None`: none), which also stops them once its caller gave up: see
    /// [`NetworkSignals::with_deadline`].
    pub fn signals_by_deadline<'a>(
        &'a self,
        program: &'a Program,
        now_ms: i64,
        deadline: Option<&Deadline>,
    ) -> NetworkSignals<'a> {
        NetworkSignals::new(self, program, now_ms).with_deadline(deadline.cloned())
    }

    /// [`interp::decide`] with signals read through the connectors: the decision, and every
    /// signal read it made (with the correlators of the network calls behind them).
    pub fn decide(
        &self,
        program: &Program,
        policy: usize,
        args: &[Value],
        now_ms: i64,
    ) -> (Decision, Vec<SignalOutcome>) {
        let signals = self.signals(program, now_ms);
        let decision = interp::decide(program, policy, args, now_ms, &signals);
        (decision, signals.into_outcomes())
    }

    /// [`interp::decide_action`] with signals read through the connectors.
    pub fn decide_action(
        &self,
        program: &Program,
        action: &str,
        args: &[Value],
        now_ms: i64,
    ) -> (Decision, Vec<SignalOutcome>) {
        let signals = self.signals(program, now_ms);
        let decision = interp::decide_action(program, action, args, now_ms, &signals);
        (decision, signals.into_outcomes())
    }
}

fn text(v: &Value) -> Option<&str> {
    match v {
        Value::Text(s) | Value::Id(s) => Some(s),
        _ => None,
    }
}
