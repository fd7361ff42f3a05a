//! The runtime as a library: modules loaded (verified) and swapped atomically while decisions
//! run, and decisions proven in the proof log before they are answered.
//!
//! ```no_run
//! use xop_runtime::engine::{Input, Runtime};
//! use xop_runtime::proof::{LogConfig, ProofLog};
//!
//! let log = ProofLog::open("data".as_ref(), LogConfig::default())?;
//! let rt = Runtime::with_log(log);
//! rt.load_file("acme", "acme.xopm".as_ref(), None)?;
//! let outcome = rt.decide("contact", Input::Json(r#"{"to": {"id": "c-1"}}"#))?;
//! println!("{} (record {:?})", outcome.verdict.keyword(), outcome.seq);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules are held in an [`ArcSwap`]: a decision takes a snapshot of the module set (one
//! atomic load) and keeps it to the end, so a swap never changes a decision under way, and
//! loading never blocks deciding. Each module is loaded under a *name* (a deployment slot,
//! e.g. `acme`); loading another module under the same name replaces it.
//!
//! A decision is answered only once its proof record is durable (group commit, see
//! [`crate::proof::store`]); [`Outcome::seq`] is the record's sequence number. A `review`
//! verdict is handed to the [`ReviewSink`], if one is plugged in, after its record is durable;
//! the sink opens the case and returns its id ([`Outcome::case`]).

use std::cell::Cell;
use std::collections::BinaryHeap;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};
use ed25519_dalek::VerifyingKey;

use crate::bind::{self, BindError, BindErrorKind, Bound};
use crate::connectors::{Connectors, Performed};
use crate::interp::{self, BAD_INPUT, Cancelled, Decision, FixedSignals, RUNTIME_ERROR, Signals};
use crate::ir::{Program, SignalDecl, Verdict};
use crate::jit::{self, JitModule};
use crate::module::{self, LoadedModule, ModuleError, hex};
use crate::proof::evidence::{self, ReadSet};
use crate::proof::record::{
    Body, DecisionRecord, Entry, Evidence, Record, ReviewTerms, SignalFetch, SignalRead,
    args_sha256, encode, encode_with_evidence, time_text, value_json,
};
use crate::proof::store::check_size;
use crate::proof::{Durable, LogError, ProofLog};
use crate::value::Value;

thread_local! {
    /// The evidence of this thread's last decision as JSON, its buffer reused by the next: it
    /// is copied into the record.
    static EVIDENCE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A module ready to decide with.
#[derive(Debug)]
pub struct LoadedPolicies {
    /// The name it is loaded under.
    pub name: String,
    /// The module, verified.
    pub loaded: LoadedModule,
    /// Its content hash, hex (its identity in proof records).
    pub hash: String,
    /// Each policy's read set (by policy index).
    pub read_sets: Vec<ReadSet>,
    /// The read set of each action guarded by several of the module's policies: the union of
    /// theirs, which a decision of the action reads (found once at load, not per decision).
    pub action_read_sets: HashMap<String, ReadSet>,
    /// Each policy's halt fallback (by policy index), found once at load rather than by a
    /// scan of its rules on every decision ([`crate::review::halt_fallback`]).
    pub halt_fallbacks: Vec<Option<Verdict>>,
    /// Bounds on the work of deciding with it ([`crate::cost::ModuleWork`]), found once at
    /// load: what lets a server choose, before deciding, where a decision may run.
    pub work: crate::cost::ModuleWork,
    /// The module's policies compiled by the JIT, when the runtime uses it and it compiled
    /// at least one of them.
    pub jit: Option<JitModule>,
}

/// Which engine decides a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The compiled code ([`crate::jit`]).
    Jit,
    /// The reference interpreter ([`crate::interp`]).
    Interpreter,
}

impl LoadedPolicies {
    /// The program.
    pub fn program(&self) -> &Program {
        &self.loaded.module.program
    }

    /// The engine that decides policy `index`: the JIT when it compiled the policy, the
    /// interpreter otherwise.
    pub fn engine(&self, index: usize) -> Engine {
        match &self.jit {
            Some(j) if j.unsupported(index).is_none() => Engine::Jit,
            _ => Engine::Interpreter,
        }
    }

    /// Why the JIT does not decide policy `index` (`None` when it does).
    pub fn jit_unsupported(&self, index: usize) -> Option<&str> {
        match &self.jit {
            Some(j) => j.unsupported(index),
            None => Some("the JIT is off for this runtime (or compiled none of the module)"),
        }
    }
}

/// The modules loaded at one moment.
#[derive(Debug, Default)]
pub struct ModuleSet {
    /// The modules, in load order.
    pub modules: Vec<Arc<LoadedPolicies>>,
}

impl ModuleSet {
    /// The module and index of policy `name` (short or qualified name, or `policy@action`);
    /// `None` for an unknown or ambiguous name ([`ModuleSet::resolve_policy`] says which).
    pub fn policy(&self, name: &str) -> Option<(&Arc<LoadedPolicies>, usize)> {
        self.resolve_policy(name).ok()
    }

    /// The module and index of policy `name`: its qualified name, or its short name (or
    /// `policy@action`) when only one loaded policy has it ([`Program::resolve_policy`]).
    /// An unknown name is [`RuntimeError::UnknownPolicy`], a short name several policies
    /// have (two modules of one program may each declare a `contact`) is
    /// [`RuntimeError::AmbiguousPolicy`]: deciding the first would answer for a policy the
    /// caller may not have meant.
    pub fn resolve_policy(
        &self,
        name: &str,
    ) -> Result<(&Arc<LoadedPolicies>, usize), RuntimeError> {
        // Two loaded modules never share a policy name (`RuntimeError::Conflict`): the first
        // module that knows the name decides.
        for m in &self.modules {
            match m.program().resolve_policy(name) {
                Ok((i, _)) => return Ok((m, i)),
                Err(matches) if matches.len() > 1 => {
                    return Err(RuntimeError::AmbiguousPolicy {
                        policy: name.to_string(),
                        matches: matches.iter().map(|q| q.to_string()).collect(),
                    });
                }
                Err(_) => {}
            }
        }
        Err(RuntimeError::UnknownPolicy {
            policy: name.to_string(),
            known: self
                .modules
                .iter()
                .flat_map(|m| m.program().policies.iter().map(|p| p.name.clone()))
                .collect(),
        })
    }

    /// Every loaded policy guarding action `action` (its qualified name): each module with
    /// such policies, and their indices in declaration order.
    pub fn guards(&self, action: &str) -> Vec<(&Arc<LoadedPolicies>, Vec<usize>)> {
        self.modules
            .iter()
            .filter_map(|m| {
                let found: Vec<usize> = (m.program().policies.iter().enumerate())
                    .filter(|(_, p)| p.action == action)
                    .map(|(i, _)| i)
                    .collect();
                (!found.is_empty()).then_some((m, found))
            })
            .collect()
    }

    /// The qualified name of the guarded action `name` (its qualified or its short name),
    /// with the module whose policies guard it and their indices. An unknown or ambiguous
    /// name, or an action guarded in several modules, is an error.
    pub fn action(
        &self,
        name: &str,
    ) -> Result<(String, Arc<LoadedPolicies>, Vec<usize>), RuntimeError> {
        // A qualified name (what clients mostly send) needs no list of every action.
        let exact = self.guards(name);
        let action = if !exact.is_empty() {
            name.to_string()
        } else {
            let mut actions: Vec<&str> = self
                .modules
                .iter()
                .flat_map(|m| m.program().policies.iter().map(|p| p.action.as_str()))
                .collect();
            actions.sort_unstable();
            actions.dedup();
            let matches: Vec<&str> = actions
                .iter()
                .copied()
                .filter(|a| a.rsplit('.').next() == Some(name))
                .collect();
            match matches.as_slice() {
                [one] => one.to_string(),
                [] => {
                    return Err(RuntimeError::UnknownAction {
                        action: name.to_string(),
                        known: actions.iter().map(|a| a.to_string()).collect(),
                    });
                }
                many => {
                    return Err(RuntimeError::AmbiguousAction {
                        action: name.to_string(),
                        matches: many.iter().map(|a| a.to_string()).collect(),
                    });
                }
            }
        };
        let mut guards = if exact.is_empty() {
            self.guards(&action)
        } else {
            exact
        };
        if guards.len() > 1 {
            return Err(RuntimeError::SplitAction {
                action: action.clone(),
                modules: guards.iter().map(|(m, _)| m.name.clone()).collect(),
            });
        }
        match guards.pop() {
            Some((m, indices)) => Ok((action, Arc::clone(m), indices)),
            None => Err(RuntimeError::UnknownAction {
                action: name.to_string(),
                known: Vec::new(),
            }),
        }
    }
}

/// What a load reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// The name it is loaded under.
    pub name: String,
    /// Its content hash, hex.
    pub hash: String,
    /// Its policies' names.
    pub policies: Vec<String>,
    /// The signer's public key (hex), if signed.
    pub signer: Option<String>,
}

/// What [`Runtime::unload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unloaded {
    /// The module was unloaded: what it was.
    Module(ModuleInfo),
    /// No module of that name is loaded; nothing changed.
    NotLoaded {
        /// The names of the modules loaded.
        loaded: Vec<String>,
    },
    /// It is the only loaded module, which the caller asked to keep; nothing changed.
    LastModule,
}

/// Why the runtime refused something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeError {
    /// A module file could not be read.
    Io(String),
    /// A module was refused (damaged, altered, unsigned, …).
    Module(ModuleError),
    /// Two loaded modules would define the same policy.
    Conflict {
        /// The policy.
        policy: String,
        /// The module already defining it.
        module: String,
    },
    /// No loaded module has this policy.
    UnknownPolicy {
        /// The name asked for.
        policy: String,
        /// The policies there are.
        known: Vec<String>,
    },
    /// The short name of a policy means several policies (of two modules of one program).
    AmbiguousPolicy {
        /// The name asked for.
        policy: String,
        /// The qualified names it could mean.
        matches: Vec<String>,
    },
    /// No loaded policy guards this action.
    UnknownAction {
        /// The name asked for.
        action: String,
        /// The guarded actions there are.
        known: Vec<String>,
    },
    /// The short name of an action means several guarded actions.
    AmbiguousAction {
        /// The name asked for.
        action: String,
        /// The qualified names it could mean.
        matches: Vec<String>,
    },
    /// The action is guarded by policies of several loaded modules: their compliance
    /// properties were never proven together, so the runtime does not combine them.
    SplitAction {
        /// The action's qualified name.
        action: String,
        /// The modules guarding it.
        modules: Vec<String>,
    },
    /// The policy is one of several guarding its action (in the loaded modules the decision
    /// would be made with), and the caller asked for whole actions only
    /// ([`Options::whole_action`]): nothing was decided or recorded.
    PartialPolicy {
        /// The policy's qualified name.
        policy: String,
        /// The action it guards.
        action: String,
        /// The short names of every policy guarding the action, in module then declaration
        /// order.
        guards: Vec<String>,
        /// The modules those policies are in (one, or several: then the action cannot be
        /// decided whole either, [`RuntimeError::SplitAction`]).
        modules: Vec<String>,
    },
    /// The proof log refused the record: the decision was *not* made (never acknowledged
    /// without proof).
    Log(LogError),
    /// The decision's [`Deadline`] passed (or its caller gave up) before its record was
    /// submitted: it was abandoned. Nothing was recorded, carried out or sent to review.
    DeadlinePassed {
        /// How long after the deadline the runtime found it passed, in milliseconds (0 when
        /// the caller gave up first).
        late_ms: u64,
    },
}

/// `known`, names from modules' sources, as a message lists them: each escaped
/// ([`RuntimeError`]'s `Display`), or a word for none.
fn shown_names(known: &[String]) -> String {
    if known.is_empty() {
        return "(none: load a module first)".to_string();
    }
    (known.iter())
        .map(|k| k.escape_debug().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Io(m) => f.write_str(m),
            RuntimeError::Module(e) => write!(f, "module refused: {e}"),
            RuntimeError::Conflict { policy, module } => write!(
                f,
                "policy `{policy}` is already defined by module `{module}`, and two loaded \
                 modules may not define one policy: load this module under the name \
                 `{module}` to replace that one, or unload `{module}` first"
            ),
            // The names come from a module's sources and the request: a control character in
            // one must not reach a terminal (runtime.md). The runtime does not depend on the
            // compiler, whose `escape_invisible` the CLI uses; std's `escape_debug` writes the
            // control and format characters with the same `\u{..}` escapes.
            RuntimeError::UnknownPolicy { policy, known } => write!(
                f,
                "no loaded module has a policy `{}`; the policies are: {}",
                policy.escape_debug(),
                shown_names(known)
            ),
            RuntimeError::UnknownAction { action, known } => write!(
                f,
                "no loaded policy guards an action `{}`; the guarded actions are: {}",
                action.escape_debug(),
                shown_names(known)
            ),
            RuntimeError::AmbiguousPolicy { policy, matches } => write!(
                f,
                "the policy name `{policy}` could mean {}: give its qualified name",
                matches.join(" or ")
            ),
            RuntimeError::AmbiguousAction { action, matches } => write!(
                f,
                "the action name `{action}` could mean {}: give its qualified name",
                matches.join(" or ")
            ),
            RuntimeError::SplitAction { action, modules } => write!(
                f,
                "action `{action}` is guarded by policies of {} modules ({}): they were checked \
                 apart, so their compliance was never proven together; build its policies into \
                 one module",
                modules.len(),
                modules.join(", ")
            ),
            RuntimeError::PartialPolicy {
                policy,
                action,
                guards,
                ..
            } => write!(
                f,
                "`{policy}` is one of {} policies guarding `{action}` ({}): deciding it alone \
                 could allow what another denies or sends to review, so nothing was decided; \
                 decide the action over all its policies",
                guards.len(),
                guards.join(", ")
            ),
            RuntimeError::Log(e) => write!(f, "the decision could not be proven: {e}"),
            RuntimeError::DeadlinePassed { late_ms } => write!(
                f,
                "the decision's deadline passed before its record was written ({late_ms} ms \
                 after it): it was abandoned; nothing was recorded, carried out or sent to review"
            ),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// A decision's input.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// JSON text (see `docs/runtime.md`): the action's parameters, `now`, `signals`. A
    /// leading byte-order mark is skipped.
    Json(&'a str),
    /// The same as bytes, as read from a file or a socket: bytes that are not UTF-8 are
    /// refused input (`xop:bad-input`, saying where the first invalid byte is), proven like
    /// any other.
    JsonBytes(&'a [u8]),
    /// A parsed JSON value of the same shape.
    Value(&'a serde_json::Value),
    /// Values already bound to the policy's parameters.
    Bound(&'a Bound),
}

/// Options of one decision.
#[derive(Default, Clone, Copy)]
pub struct Options<'a> {
    /// The data subject, for keying `@personal` evidence when the value's record has no `id`
    /// field (the empty subject otherwise).
    pub subject: Option<&'a str>,
    /// Where signals are read; the input's `signals` when `None`.
    pub signals: Option<&'a dyn Signals>,
    /// When the caller stops waiting for the decision (e.g. `xop serve`'s `timeout_ms`): checked
    /// before its record is submitted (past it, the decision is abandoned:
    /// [`RuntimeError::DeadlinePassed`], nothing recorded, carried out or sent to review) and
    /// again right before an allowed action is carried out (past it, it is not, and the event
    /// `action.not_performed` says why). `None`: no deadline.
    pub deadline: Option<&'a Deadline>,
    /// Refuse a policy decided alone while others guard its action too (in any loaded module):
    /// [`RuntimeError::PartialPolicy`], nothing decided or recorded. Checked on the snapshot of
    /// the modules the decision is made with, so a hot swap between a caller's own check and
    /// the decision cannot let one policy's verdict stand for its action's (`xop serve`'s
    /// `POST /v1/decide/{policy}`). Ignored when deciding an action over all its policies.
    pub whole_action: bool,
}

/// A decision's deadline, shared by the caller who waits for the decision and the runtime that
/// makes it (cloning shares it; see [`Options::deadline`]). A caller that stops waiting calls
/// [`Deadline::give_up`], which says exactly whether the decision's record had been submitted
/// by then: if not, it never will be (the runtime abandons the decision); if so, the decision
/// stands and what follows its record (a review case, an action the connectors started before
/// the deadline) goes on.
///
/// A decision still computing when the caller gives up or the deadline passes stops computing
/// (docs/runtime.md, "Deadlines stop decisions under way"): it is abandoned as one past its
/// deadline is, [`RuntimeError::DeadlinePassed`], and its thread is free again. The
/// interpreter asks [`Deadline::passed`] every [`interp::STOP_EVERY`] iterations of its
/// quantifiers; the JIT's code loads the deadline's stop flag in its nested loops, which
/// [`Deadline::give_up`] sets, and which a watchdog thread of the runtime sets when the deadline
/// passes while such code runs.
#[derive(Debug, Clone)]
pub struct Deadline(Arc<DeadlineState>);

#[derive(Debug)]
struct DeadlineState {
    at: Instant,
    /// [`OPEN`], [`RECORDED`] or [`ABANDONED`].
    state: AtomicU8,
    /// The caller stopped waiting.
    gave_up: AtomicBool,
    /// The decision should stop computing: set by [`Deadline::give_up`], and by the watchdog
    /// ([`Deadline::watch`]) once the deadline passes. The JIT's code loads it.
    stop: AtomicBool,
    /// Whether the watchdog has it ([`Deadline::watch`]): once is enough. Changed only with
    /// [`WATCHED`] locked.
    watched: AtomicBool,
    /// The decisions under way that it stops ([`Watching`]): once none is, the watchdog may
    /// forget it before it passes.
    runs: AtomicU32,
    /// The record's sequence number once it is known ([`NO_SEQ`] before).
    seq: AtomicU64,
}

/// Neither recorded nor abandoned yet.
const OPEN: u8 = 0;
/// The runtime submits (or submitted) the decision's record: it stands.
const RECORDED: u8 = 1;
/// Abandoned before its record was submitted: it never will be.
const ABANDONED: u8 = 2;
const NO_SEQ: u64 = u64::MAX;

impl Deadline {
    /// A deadline at `at`.
    pub fn new(at: Instant) -> Deadline {
        Deadline(Arc::new(DeadlineState {
            at,
            state: AtomicU8::new(OPEN),
            gave_up: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            watched: AtomicBool::new(false),
            runs: AtomicU32::new(0),
            seq: AtomicU64::new(NO_SEQ),
        }))
    }

    /// When it is.
    pub fn at(&self) -> Instant {
        self.0.at
    }

    /// Whether the caller gave up ([`Deadline::give_up`]), whether or not the deadline passed.
    pub fn gave_up(&self) -> bool {
        self.0.gave_up.load(Ordering::SeqCst)
    }

    /// Whether it has passed, or the caller gave up.
    pub fn passed(&self) -> bool {
        self.0.gave_up.load(Ordering::SeqCst)
            || self.0.stop.load(Ordering::SeqCst)
            || Instant::now() >= self.0.at
    }

    /// The caller stops waiting. Returns whether the decision's record had been submitted by
    /// then (`true`: the decision stands, and its record becomes durable unless the log
    /// fails); `false`: nothing of it was or will be recorded, carried out or sent to review.
    pub fn give_up(&self) -> bool {
        self.0.gave_up.store(true, Ordering::SeqCst);
        // A decision still computing stops (and is abandoned: `Deadline::abandon`).
        self.0.stop.store(true, Ordering::SeqCst);
        match (self.0.state).compare_exchange(OPEN, ABANDONED, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => false,
            Err(state) => state == RECORDED,
        }
    }

    /// The decision's record number, once the runtime has submitted it and knows it (it may not
    /// be durable yet).
    pub fn seq(&self) -> Option<u64> {
        Some(self.0.seq.load(Ordering::SeqCst)).filter(|&s| s != NO_SEQ)
    }

    /// The runtime, before submitting the record: whether it may (it then stands), or the
    /// decision is abandoned (the deadline passed, or the caller gave up).
    fn record(&self) -> Result<(), RuntimeError> {
        let now = Instant::now();
        if now >= self.0.at {
            // Abandoned, unless the caller's `give_up` saw it recorded (it cannot have been).
            let _ = (self.0.state).compare_exchange(
                OPEN,
                ABANDONED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
            return Err(RuntimeError::DeadlinePassed {
                late_ms: u64::try_from(now.duration_since(self.0.at).as_millis())
                    .unwrap_or(u64::MAX),
            });
        }
        match (self.0.state).compare_exchange(OPEN, RECORDED, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => Ok(()),
            Err(RECORDED) => Ok(()),
            Err(_) => Err(RuntimeError::DeadlinePassed { late_ms: 0 }),
        }
    }

    fn note_seq(&self, seq: u64) {
        self.0.seq.store(seq, Ordering::SeqCst);
    }

    /// The runtime, for a decision an engine stopped ([`Cancelled`]: it saw the stop flag set
    /// or the deadline passed): it is abandoned, never recorded. The state moves to
    /// [`ABANDONED`] here, without [`Deadline::record`]: a caller's `give_up` sets the flag
    /// before it moves the state itself, so the state may still be [`OPEN`] for a decision that
    /// stopped on it, and recording it then would give a verdict the engine never finished.
    fn abandon(&self) -> RuntimeError {
        let _ =
            (self.0.state).compare_exchange(OPEN, ABANDONED, Ordering::SeqCst, Ordering::SeqCst);
        let now = Instant::now();
        RuntimeError::DeadlinePassed {
            late_ms: u64::try_from(now.saturating_duration_since(self.0.at).as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    /// The stop flag the JIT's code loads ([`crate::jit::JitModule::run_until`]).
    fn stop_flag(&self) -> &AtomicBool {
        &self.0.stop
    }

    /// Has the watchdog set the stop flag when the deadline passes, for the decision under
    /// way until the returned guard is dropped: what stops compiled code, which loads the flag
    /// but never reads the clock, when nobody calls [`Deadline::give_up`]. Watching costs a
    /// lock and a push onto the watchdog's heap, and wakes the watchdog only when this deadline
    /// is earlier than the one it waits for (not in a steady stream of requests of one
    /// `timeout_ms`). A deadline whose decisions have ended stays on the heap until it passes
    /// or the heap is next compacted (when it has doubled: the deadlines no decision under way
    /// has are dropped), so the heap holds about twice the decisions under way at most,
    /// whatever the timeouts. Nothing when the flag is set already, or when the watchdog's
    /// thread could not be started (the code then stops only on `give_up`).
    fn watch(&self) -> Option<Watching> {
        if self.0.stop.load(Ordering::SeqCst) {
            return None;
        }
        static STARTED: OnceLock<bool> = OnceLock::new();
        let started = *STARTED.get_or_init(|| {
            std::thread::Builder::new()
                .name("xop-deadlines".into())
                .spawn(watch_deadlines)
                .is_ok()
        });
        if !started {
            return None;
        }
        let mut w = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
        self.0.runs.fetch_add(1, Ordering::SeqCst);
        let watching = Some(Watching(Arc::clone(&self.0)));
        // A deadline shared by decisions made one after the other is kept once.
        if self.0.watched.swap(true, Ordering::SeqCst) {
            return watching;
        }
        w.deadlines.push(Due(Arc::clone(&self.0)));
        if w.deadlines.len() >= w.compact_at {
            w.deadlines.retain(|d| {
                let live = d.0.runs.load(Ordering::SeqCst) > 0;
                if !live {
                    d.0.watched.store(false, Ordering::SeqCst);
                }
                live
            });
            w.compact_at = (2 * w.deadlines.len()).max(MIN_COMPACT);
        }
        let sooner = w.wakes_at.is_none_or(|at| self.0.at < at);
        if sooner {
            w.wakes_at = Some(self.0.at);
        }
        drop(w);
        if sooner {
            WATCH_WAKE.notify_one();
        }
        watching
    }
}

/// A decision under way that the watchdog stops ([`Deadline::watch`]) until this is dropped.
struct Watching(Arc<DeadlineState>);

impl Drop for Watching {
    fn drop(&mut self) {
        self.0.runs.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The watchdog's heap is compacted when it holds this many deadlines at least.
const MIN_COMPACT: usize = 1024;

/// What the watchdog watches ([`Deadline::watch`]).
struct Watched {
    /// The deadlines whose stop flag it sets when they pass, the earliest first: a heap, so
    /// that a decision adds its deadline, and the watchdog takes the passed ones, in time
    /// logarithmic in how many are watched (one per decision with nested loops within the
    /// last timeout), not linear.
    deadlines: BinaryHeap<Due>,
    /// When it wakes next (`None`: when told, having nothing to watch).
    wakes_at: Option<Instant>,
    /// The heap's length at which the deadlines no decision under way has are dropped.
    compact_at: usize,
}

/// A watched deadline, ordered so that the heap's greatest is the earliest.
struct Due(Arc<DeadlineState>);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0.at == other.0.at
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0.at.cmp(&self.0.at)
    }
}

/// How much later than a deadline the watchdog may wake for it, so that deadlines passing
/// close together (one per request under load) cost one wake, not one each.
const WATCH_SLACK: std::time::Duration = std::time::Duration::from_millis(1);

static WATCHED: Mutex<Watched> = Mutex::new(Watched {
    deadlines: BinaryHeap::new(),
    wakes_at: None,
    compact_at: MIN_COMPACT,
});

/// Wakes the watchdog when a deadline earlier than the one it waits for is added.
static WATCH_WAKE: Condvar = Condvar::new();

/// The watchdog's thread: sets the stop flag of each watched deadline that passes (and stops
/// watching it), sleeping until the earliest of the others.
fn watch_deadlines() {
    let mut w = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let now = Instant::now();
        while w.deadlines.peek().is_some_and(|d| d.0.at <= now) {
            if let Some(d) = w.deadlines.pop() {
                d.0.stop.store(true, Ordering::SeqCst);
            }
        }
        w.wakes_at = (w.deadlines.peek()).map(|d| d.0.at.max(now + WATCH_SLACK));
        w = match w.wakes_at {
            None => WATCH_WAKE.wait(w).unwrap_or_else(PoisonError::into_inner),
            Some(at) => {
                WATCH_WAKE
                    .wait_timeout(w, at.saturating_duration_since(now))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        };
    }
}

/// A review case to open: what a [`ReviewSink`] receives.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewCase {
    /// The decision's proof record.
    pub seq: Option<u64>,
    /// The module's content hash, hex.
    pub module: String,
    /// The policy's qualified name.
    pub policy: String,
    /// The action's qualified name.
    pub action: String,
    /// The review reasons.
    pub reasons: Vec<String>,
    /// Role, deadline, fallback.
    pub terms: ReviewTerms,
    /// The evidence, as logged (personal values hashed).
    pub evidence: Vec<Evidence>,
    /// The decision time (ms since the epoch).
    pub at_ms: i64,
}

/// Where review cases go (the review queue plugs in here).
pub trait ReviewSink: Send + Sync {
    /// Opens a durable case and returns its id. Called after the decision's record is
    /// durable. An error leaves the outcome without a case id and with
    /// [`Outcome::case_error`]: the caller must then apply the review's fallback itself.
    fn open_case(&self, case: &ReviewCase) -> Result<String, String>;

    /// [`ReviewSink::open_case`] for a decision whose action the runtime's connectors may
    /// carry out once a reviewer approves it, or its `allow` fallback applies at the deadline
    /// ([`Runtime::perform_approved`]): `args` are the action's arguments (one key per
    /// parameter, as a decision's input gives them, in the form proof records keep values),
    /// which the case keeps to carry the action out with.
    /// The runtime gives them only when connectors that carry the action out are plugged in
    /// ([`crate::connectors::Connectors::carries_out`]) and no argument holds a
    /// `@personal` value (which would be kept in clear). The default keeps none (an approval,
    /// or an `allow` fallback, then cannot carry the action out).
    fn open_case_with_args(
        &self,
        case: &ReviewCase,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, String> {
        let _ = args;
        self.open_case(case)
    }

    /// Whether the halt switch is on: high-risk actions (a policy with a review rule) then get
    /// their fallback, so the runtime does not carry them out even when allowed.
    fn halted(&self) -> bool {
        false
    }
}

/// A decision made by the runtime.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// The verdict.
    #[serde(serialize_with = "keyword")]
    pub verdict: Verdict,
    /// The reasons.
    pub reasons: Vec<String>,
    /// The rules that fired.
    pub fired: Vec<String>,
    /// For a review: the role, deadline and fallback.
    pub review: Option<ReviewTerms>,
    /// For a review: the case the review sink opened.
    pub case: Option<String>,
    /// For a review whose case could not be opened: why.
    pub case_error: Option<String>,
    /// What went wrong, for a decision that failed closed. For refused input, the whole
    /// message (`to.messages_7d: expected an integer, found "3"`), which the record keeps only
    /// as `path: kind` and a detail without the input's values.
    pub error: Option<String>,
    /// The proof record's sequence number (`None` without a log).
    pub seq: Option<u64>,
    /// The module's content hash, hex.
    pub module: String,
    /// The policy's qualified name; for a decision of an action over all its policies,
    /// their qualified names joined with `+` (as in the proof record).
    pub policy: String,
    /// For a decision of an action over all its policies ([`Runtime::decide_action`]): the
    /// action's qualified name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// What the halt switch turns this decision into: the fallback of the high-risk action it
    /// decided (a policy with a `review` rule guards it), from the module it was decided
    /// with; `None` when the action is not high-risk.
    #[serde(skip)]
    pub halt_fallback: Option<Verdict>,
    /// The decision time (ms since the epoch).
    pub at_ms: i64,
    /// The action the decision allowed, carried out by the [`Connectors`] (`None` when the
    /// action is not theirs, or was not allowed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performed: Option<Performed>,
    /// The signals read, in order, with how each was fetched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalRead>,
    /// The proof record of [`Outcome::performed`] (the event `action.performed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub performed_seq: Option<u64>,
    /// Why an allowed action was not handed to the [`Connectors`] to carry out: the policy
    /// was decided alone while others guard its action too (its verdict is not the action's),
    /// or the decision's [`Deadline`] passed before the action's turn came. Set only when
    /// connectors are plugged in (whether the action is theirs is for them to say: the reason
    /// is given for any allowed action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_performed: Option<String>,
}

/// What came of the action of a review case that was approved, or closed with an `allow`
/// fallback by its deadline or on recovery ([`Runtime::perform_approved`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Approved {
    /// The connectors carried it out (or tried: [`Performed::ok`]).
    Performed {
        /// What came of it.
        performed: Performed,
        /// Its proof record, the event `action.performed` (`None` without a log).
        seq: Option<u64>,
    },
    /// It was not carried out: nothing was sent.
    NotPerformed {
        /// Why.
        reason: String,
        /// Its proof record, the event `action.not_performed` (`None` without a log).
        seq: Option<u64>,
        /// Whether the only reason is that no connectors are plugged in here, and the case's
        /// arguments (if it keeps any) are the decision's: the operator may carry it out by
        /// hand. Never for arguments that do not match the decision's record (or that no record
        /// can vouch for), nor under the halt switch.
        by_hand: bool,
    },
}

impl Approved {
    /// What came of it, in a line for people, `action` the case's: `performed ACTION: done {…}
    /// (x-correlator …) (proof record N)` (`failed` when the operator refused), or `not
    /// performed ACTION: why (proof record N)`. `xop review` and `xop serve` say it so.
    pub fn summary(&self, action: &str) -> String {
        let record =
            |seq: &Option<u64>| seq.map_or(String::new(), |s| format!(" (proof record {s})"));
        match self {
            Approved::Performed { performed: p, seq } => format!(
                "performed {}: {} {}{}{}",
                p.action,
                if p.ok { "done" } else { "failed" },
                p.result,
                crate::proof::record::correlators(&p.calls),
                record(seq)
            ),
            Approved::NotPerformed { reason, seq, .. } => {
                format!("not performed {action}: {reason}{}", record(seq))
            }
        }
    }
}

/// One decision of a batch ([`Runtime::decide_many`]).
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The policy.
    pub policy: &'a str,
    /// The input.
    pub input: Input<'a>,
    /// The options.
    pub options: Options<'a>,
}

/// A decision made, its record queued ([`Runtime::submit`]): a future that completes once the
/// record is durable, with the [`Decided`] decision to [`Runtime::finish`], or with the error
/// that kept it from being proven (then it must not be acted upon). Dropping it does not
/// withdraw the record, which is written all the same.
#[must_use = "a decision is proven only once its `Pending` completes"]
pub struct Pending {
    /// `None` once completed.
    prepared: Option<Prepared>,
    /// `None` without a log.
    durable: Option<Durable>,
}

impl Pending {
    /// The sequence number the proof record will have (`None` without a log); it is not
    /// durable before the future completes.
    pub fn seq(&self) -> Option<u64> {
        self.durable.as_ref().map(Durable::seq)
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

impl Future for Pending {
    type Output = Result<Decided, RuntimeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let seq = match &mut this.durable {
            Some(d) => match Pin::new(d).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => Some(r),
            },
            None => None,
        };
        let Some(mut prepared) = this.prepared.take() else {
            return Poll::Ready(Err(RuntimeError::Log(LogError::Failed(
                "internal: a decision awaited again after it completed".into(),
            ))));
        };
        Poll::Ready(match seq {
            Some(Err(e)) => Err(RuntimeError::Log(e)),
            Some(Ok(seq)) => {
                prepared.outcome.seq = Some(seq);
                Ok(Decided { prepared })
            }
            None => Ok(Decided { prepared }),
        })
    }
}

/// A decision whose proof record is durable, waiting for [`Runtime::finish`].
pub struct Decided {
    prepared: Prepared,
}

impl Decided {
    /// Whether [`Runtime::finish`] may block: it carries out an allowed action through the
    /// connectors (the network), or hands a `review` to the review sink (a durable case).
    /// When it may, an async caller runs it where blocking is allowed.
    pub fn may_block(&self) -> bool {
        self.prepared.perform.is_some() || self.prepared.outcome.review.is_some()
    }

    /// The decision as it stands (without the action's result or the review case, which
    /// [`Runtime::finish`] adds).
    pub fn outcome(&self) -> &Outcome {
        &self.prepared.outcome
    }
}

impl fmt::Debug for Decided {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decided")
            .field("outcome", &self.prepared.outcome)
            .finish_non_exhaustive()
    }
}

/// A decision made, before its record is durable.
struct Prepared {
    module: Arc<LoadedPolicies>,
    index: usize,
    /// Without the case, the action's result and (until durable) `seq`.
    outcome: Outcome,
    /// The proof record's bytes (without `seq`) until queued; `None` without a log.
    record: Option<Vec<u8>>,
    /// For a review case: the evidence as logged.
    case_evidence: Vec<Evidence>,
    /// An allowed action the connectors may carry out, with its arguments.
    perform: Option<Perform>,
    /// For a review case: the action's arguments, kept with the case so that an approval can
    /// carry the action out (only with connectors plugged in; see
    /// [`ReviewSink::open_case_with_args`]).
    case_args: Option<serde_json::Map<String, serde_json::Value>>,
    /// The caller's deadline, checked again right before the action is carried out.
    deadline: Option<Deadline>,
}

impl Prepared {
    /// Checks the deadline before the record is submitted: past it, the decision is abandoned.
    fn may_record(&self) -> Result<(), RuntimeError> {
        match &self.deadline {
            Some(d) => d.record(),
            None => Ok(()),
        }
    }
}

/// What a decision is asked of.
#[derive(Clone, Copy)]
enum Target<'a> {
    /// One policy, by name.
    Policy(&'a str),
    /// An action, by name: every policy guarding it.
    Action(&'a str),
}

/// The policies a decision evaluates (indices in their module's program).
enum Guards {
    /// One policy.
    One(usize),
    /// Every policy guarding an action, in declaration order (never empty).
    Action(Vec<usize>),
}

impl Guards {
    fn as_slice(&self) -> &[usize] {
        match self {
            Guards::One(i) => std::slice::from_ref(i),
            Guards::Action(v) => v,
        }
    }

    fn first(&self) -> usize {
        self.as_slice().first().copied().unwrap_or(0)
    }
}

/// Signal reads memoised across the policies of one action's decision (see
/// [`Runtime::decide_guards`]).
struct Memo<'a> {
    inner: &'a dyn Signals,
    seen: std::cell::RefCell<HashMap<(u32, Vec<Value>), Value>>,
}

impl Signals for Memo<'_> {
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        let key = (signal, args.to_vec());
        if let Some(v) = self.seen.borrow().get(&key) {
            return v.clone();
        }
        let v = self.inner.read(signal, decl, args);
        self.seen.borrow_mut().insert(key, v.clone());
        v
    }
}

/// The connectors that carry an allowed action out, and the action's arguments.
type Perform = (Arc<Box<dyn Connectors>>, Vec<Value>);

fn keyword<S: serde::Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.keyword())
}

/// The runtime: modules and, optionally, the proof log.
pub struct Runtime {
    modules: ArcSwap<ModuleSet>,
    /// Held by whatever changes the module set (load, replace, unload), from its conflict
    /// check to its swap: two loads racing could otherwise both pass the check against the
    /// old set, and the one then refused would have stored its file for nothing. Decisions
    /// never take it (they read the set's snapshot).
    swapping: std::sync::Mutex<()>,
    log: Option<ProofLog>,
    review: ArcSwapOption<Box<dyn ReviewSink>>,
    connectors: ArcSwapOption<Box<dyn Connectors>>,
    /// Whether modules loaded from now on are compiled by the JIT.
    use_jit: AtomicBool,
    /// Decisions made by compiled code (for tests and metrics).
    jit_decisions: AtomicU64,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("modules", &self.modules.load().modules.len())
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// The signals given in the input ([`FixedSignals`]), which also say why a value the binder
/// judged stale, of unknown freshness or from the future reads as absent
/// ([`crate::bind::Bound::judged`]), for the proof record. `xop eval` reads through it too.
pub struct Given<'a> {
    values: FixedSignals,
    judged: &'a [(u32, SignalFetch)],
    /// The signal of each read, in order.
    reads: std::cell::RefCell<Vec<u32>>,
}

impl<'a> Given<'a> {
    /// The `values` given, with the binder's `judged` accounts.
    pub fn new(values: Vec<(u32, Value)>, judged: &'a [(u32, SignalFetch)]) -> Self {
        Given {
            values: FixedSignals(values),
            judged,
            reads: std::cell::RefCell::new(Vec::new()),
        }
    }
}

impl Signals for Given<'_> {
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        self.reads.borrow_mut().push(signal);
        self.values.read(signal, decl, args)
    }

    fn fetch(&self, nth: usize) -> Option<SignalFetch> {
        let signal = *self.reads.borrow().get(nth)?;
        (self.judged.iter())
            .find(|(s, _)| *s == signal)
            .map(|(_, f)| f.clone())
    }
}

/// Records every signal read through `inner`, for the proof record ([`Self::signal_reads`]).
pub struct Recording<'a> {
    inner: &'a dyn Signals,
    reads: std::cell::RefCell<Vec<(u32, Value)>>,
}

impl<'a> Recording<'a> {
    /// Reads through `inner`, keeping each read.
    pub fn new(inner: &'a dyn Signals) -> Self {
        Recording {
            inner,
            reads: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The reads made so far, in order, as the proof record keeps them: each with how its
    /// source says it was read (`Signals::fetch`).
    pub fn signal_reads(&self, program: &Program) -> Vec<SignalRead> {
        (self.reads.borrow().iter().enumerate())
            .map(|(n, (i, v))| SignalRead {
                signal: (program.signals.get(*i as usize))
                    .map_or_else(|| format!("#{i}"), |s| s.name.clone()),
                value: value_json(program, v),
                fetch: self.inner.fetch(n),
            })
            .collect()
    }
}

impl Signals for Recording<'_> {
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        let v = self.inner.read(signal, decl, args);
        self.reads.borrow_mut().push((signal, v.clone()));
        v
    }
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime::new()
    }
}

impl Runtime {
    /// A runtime without a proof log (decisions are not proven; `seq` is `None`).
    pub fn new() -> Runtime {
        Runtime {
            modules: ArcSwap::from_pointee(ModuleSet::default()),
            swapping: std::sync::Mutex::new(()),
            log: None,
            review: ArcSwapOption::empty(),
            connectors: ArcSwapOption::empty(),
            use_jit: AtomicBool::new(true),
            jit_decisions: AtomicU64::new(0),
        }
    }

    /// Whether modules loaded from now on are compiled by the JIT (on by default). Off, every
    /// policy is decided by the reference interpreter; the decisions are the same either way.
    pub fn set_jit(&self, on: bool) {
        self.use_jit.store(on, Ordering::Relaxed);
    }

    /// How many decisions compiled code has made so far.
    pub fn jit_decisions(&self) -> u64 {
        self.jit_decisions.load(Ordering::Relaxed)
    }

    /// A runtime proving every decision in `log`.
    pub fn with_log(log: ProofLog) -> Runtime {
        Runtime {
            log: Some(log),
            ..Runtime::new()
        }
    }

    /// The proof log, if any.
    pub fn log(&self) -> Option<&ProofLog> {
        self.log.as_ref()
    }

    /// Closes the proof log (a final signed checkpoint), if any.
    pub fn close(self) -> Result<(), LogError> {
        match self.log {
            Some(log) => log.close(),
            None => Ok(()),
        }
    }

    /// Plugs in (or replaces, or with `None` removes) the review sink.
    pub fn set_review_sink(&self, sink: Option<Box<dyn ReviewSink>>) {
        self.review.store(sink.map(Arc::new));
    }

    /// Plugs in (or with `None` removes) the connectors to the network: from then on signals
    /// are read through them, not from the input, and allowed actions that are theirs are
    /// carried out and proven.
    pub fn set_connectors(&self, connectors: Option<Box<dyn Connectors>>) {
        self.connectors.store(connectors.map(Arc::new));
    }

    /// The modules loaded now (a snapshot).
    pub fn modules(&self) -> Arc<ModuleSet> {
        self.modules.load_full()
    }

    /// Loads a module file under `name` (replacing the module of that name).
    pub fn load_file(
        &self,
        name: &str,
        path: &Path,
        trust: Option<&VerifyingKey>,
    ) -> Result<ModuleInfo, RuntimeError> {
        let bytes = std::fs::read(path).map_err(|e| {
            RuntimeError::Io(format!(
                "cannot read `{}`: {}",
                path.display(),
                crate::io::reason(&e)
            ))
        })?;
        self.load_bytes(name, &bytes, trust)
    }

    /// Loads a module from its bytes under `name` (replacing the module of that name): verified
    /// as [`module::load`] does (and signed by `trust`, when given), checked against the other
    /// loaded modules (two may not define one policy: [`RuntimeError::Conflict`]), kept in the
    /// log's folder for replay, then swapped in atomically. A module refused is not kept (its
    /// file stays only if it was kept before: records may name it). Loads, replacements and
    /// unloads are made one at a time, so the set a load was checked against is the one it
    /// joins; decisions go on meanwhile.
    pub fn load_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        trust: Option<&VerifyingKey>,
    ) -> Result<ModuleInfo, RuntimeError> {
        self.load_bytes_recorded(name, bytes, trust, |_| Ok::<(), RuntimeError>(()))
    }

    /// [`Runtime::load_bytes`], calling `record` with what is loaded once the module is
    /// verified, checked and kept, and before it is swapped in, while no other load or unload
    /// can intervene: a caller that proves the load there (`xop serve`'s `module.loaded`) has
    /// its record before any decision the module makes. If `record` fails, nothing is swapped
    /// (the module kept in the log's folder stays: it is harmless, and records may name it).
    pub fn load_bytes_recorded<E: From<RuntimeError>>(
        &self,
        name: &str,
        bytes: &[u8],
        trust: Option<&VerifyingKey>,
        record: impl FnOnce(&ModuleInfo) -> Result<(), E>,
    ) -> Result<ModuleInfo, E> {
        let entry = self.prepare(name, bytes, trust)?;
        let info = info(&entry);
        let _swapping = self
            .swapping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut modules: Vec<Arc<LoadedPolicies>> = (self.modules.load().modules.iter())
            .filter(|m| m.name != name)
            .cloned()
            .collect();
        // Before the file is stored: a module refused for a conflict leaves nothing behind.
        check_conflicts(&modules, &entry)?;
        self.store_module(&entry, bytes)?;
        record(&info)?;
        modules.push(entry);
        self.modules.store(Arc::new(ModuleSet { modules }));
        Ok(info)
    }

    /// Replaces every loaded module by these (name, bytes) at once: all are verified first,
    /// and nothing changes unless all load.
    pub fn replace_all(
        &self,
        modules: &[(&str, &[u8])],
        trust: Option<&VerifyingKey>,
    ) -> Result<Vec<ModuleInfo>, RuntimeError> {
        let mut entries: Vec<Arc<LoadedPolicies>> = Vec::new();
        for (name, bytes) in modules {
            let e = self.prepare(name, bytes, trust)?;
            check_conflicts(&entries, &e)?;
            entries.push(e);
        }
        let _swapping = self
            .swapping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (e, (_, bytes)) in entries.iter().zip(modules) {
            self.store_module(e, bytes)?;
        }
        let infos = entries.iter().map(|e| info(e)).collect();
        self.modules.store(Arc::new(ModuleSet { modules: entries }));
        Ok(infos)
    }

    /// Unloads the module named `name`: decisions under way finish on it, later ones no
    /// longer see its policies. Its file stays in the log's folder (records name it). With
    /// `keep_last`, the only loaded module is not unloaded ([`Unloaded::LastModule`]): a
    /// runtime without modules decides nothing.
    pub fn unload(&self, name: &str, keep_last: bool) -> Unloaded {
        match self.unload_recorded(name, keep_last, |_| Ok::<(), std::convert::Infallible>(())) {
            Ok(unloaded) => unloaded,
            Err(never) => match never {},
        }
    }

    /// [`Runtime::unload`], calling `record` with the module to unload before it is unloaded,
    /// while no other load or unload can intervene: a caller that proves the unload there
    /// (`xop serve`'s `module.unloaded`) has its record before the module stops deciding. If
    /// `record` fails, nothing changes and its error is returned.
    pub fn unload_recorded<E>(
        &self,
        name: &str,
        keep_last: bool,
        record: impl FnOnce(&ModuleInfo) -> Result<(), E>,
    ) -> Result<Unloaded, E> {
        let _swapping = self
            .swapping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let set = self.modules.load_full();
        let Some(gone) = set.modules.iter().find(|m| m.name == name) else {
            return Ok(Unloaded::NotLoaded {
                loaded: set.modules.iter().map(|m| m.name.clone()).collect(),
            });
        };
        if keep_last && set.modules.len() == 1 {
            return Ok(Unloaded::LastModule);
        }
        let gone = info(gone);
        record(&gone)?;
        let modules = (set.modules.iter())
            .filter(|m| m.name != name)
            .cloned()
            .collect();
        self.modules.store(Arc::new(ModuleSet { modules }));
        Ok(Unloaded::Module(gone))
    }

    /// Keeps `bytes`, the module of `entry`, in the log's folder, before any decision by it
    /// can be recorded (replay and explain find it there by its hash).
    fn store_module(&self, entry: &LoadedPolicies, bytes: &[u8]) -> Result<(), RuntimeError> {
        match &self.log {
            Some(log) => log
                .store_module(&entry.loaded.content_hash, bytes)
                .map_err(RuntimeError::Log),
            None => Ok(()),
        }
    }

    /// A module verified and made ready to decide with (not yet stored or swapped in).
    fn prepare(
        &self,
        name: &str,
        bytes: &[u8],
        trust: Option<&VerifyingKey>,
    ) -> Result<Arc<LoadedPolicies>, RuntimeError> {
        let loaded = module::load(bytes, trust).map_err(RuntimeError::Module)?;
        let program = &loaded.module.program;
        let read_sets: Vec<ReadSet> = program
            .policies
            .iter()
            .map(|p| ReadSet::of_policy(program, p))
            .collect();
        let mut by_action: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, p) in program.policies.iter().enumerate() {
            by_action.entry(p.action.as_str()).or_default().push(i);
        }
        let action_read_sets = by_action
            .into_iter()
            .filter(|(_, indices)| indices.len() > 1)
            .map(|(action, indices)| {
                let sets: &Vec<ReadSet> = &read_sets;
                (
                    action.to_string(),
                    ReadSet::union(indices.iter().map(|&i| &sets[i])),
                )
            })
            .collect();
        let halt_fallbacks = (0..program.policies.len())
            .map(|i| crate::review::halt_fallback(program, &[i]))
            .collect();
        let work = crate::cost::ModuleWork::of(program);
        // Compiled once per load, before the swap: deciding never waits for the compiler.
        let jit = if self.use_jit.load(Ordering::Relaxed) {
            let j = jit::compile(program);
            (0..program.policies.len())
                .any(|i| j.unsupported(i).is_none())
                .then_some(j)
        } else {
            None
        };
        Ok(Arc::new(LoadedPolicies {
            name: name.to_string(),
            hash: hex(&loaded.content_hash),
            loaded,
            read_sets,
            action_read_sets,
            halt_fallbacks,
            work,
            jit,
        }))
    }

    /// Decides `policy` on `input`; see [`Runtime::decide_with`].
    pub fn decide(&self, policy: &str, input: Input<'_>) -> Result<Outcome, RuntimeError> {
        self.decide_with(policy, input, Options::default())
    }

    /// Decides `policy` on `input`: binds it (bad input is a deny with `xop:bad-input`, proven
    /// like any decision), evaluates it with the JIT's code when the policy is compiled (else,
    /// or if the compiled code cannot run, on the reference interpreter: the decision is the
    /// same), appends the proof record and waits until it is durable, then opens a review case
    /// if the verdict is `review`. An error means the decision was not proven and must not be
    /// acted upon.
    pub fn decide_with(
        &self,
        policy: &str,
        input: Input<'_>,
        options: Options<'_>,
    ) -> Result<Outcome, RuntimeError> {
        self.decide_target(Target::Policy(policy), input, options)
    }

    /// Decides action `action` (its qualified name, or its short name when that is unique) on
    /// `input` over every policy guarding it, as it is decided wherever it is proposed: their
    /// fired rules are combined as one policy's (a deny in any wins, a review in one holds the
    /// action; nothing allowed is deny). This is the action's verdict, the one the compliance
    /// checker's proofs are about; [`Runtime::decide_with`] gives one policy's alone. The
    /// input is the action's (the same for each of its policies); each policy is decided by
    /// the JIT's code when it is compiled, else by the interpreter, reading signals through
    /// one memo, so the outcome is [`interp::decide_action`]'s. One proof record holds the
    /// combined decision, with the evidence every policy read and
    /// [`DecisionRecord::action`]. An action guarded by policies of several loaded modules is
    /// refused ([`RuntimeError::SplitAction`]).
    pub fn decide_action(
        &self,
        action: &str,
        input: Input<'_>,
        options: Options<'_>,
    ) -> Result<Outcome, RuntimeError> {
        self.decide_target(Target::Action(action), input, options)
    }

    fn decide_target(
        &self,
        target: Target<'_>,
        input: Input<'_>,
        options: Options<'_>,
    ) -> Result<Outcome, RuntimeError> {
        let mut p = self.make_decision(target, input, options)?;
        p.may_record()?;
        if let (Some(log), Some(rest)) = (&self.log, p.record.take()) {
            p.outcome.seq = Some(match &p.deadline {
                // Its number is known as soon as it is queued: the caller who gave up is told.
                Some(d) => {
                    let durable = log.submit_encoded(rest).map_err(RuntimeError::Log)?;
                    d.note_seq(durable.seq());
                    park_on(durable).map_err(RuntimeError::Log)?
                }
                None => log.append_encoded(rest).map_err(RuntimeError::Log)?,
            });
        }
        self.follow_up(p)
    }

    /// Decides every request of `batch`, each as [`Runtime::decide_with`] does, with one wait
    /// for the lot: the records are queued together and the calling thread waits once, until
    /// the last is durable (the log is durable in order), instead of once per decision. The
    /// results are in the order of `batch`, their records' sequence numbers consecutive in
    /// that order (skipping the requests that failed before a record was made). If the log
    /// fails, every decision of the batch fails (closed).
    pub fn decide_many(&self, batch: &[Request<'_>]) -> Vec<Result<Outcome, RuntimeError>> {
        let mut prepared: Vec<Result<Prepared, RuntimeError>> = batch
            .iter()
            .map(|r| {
                let p = self.make_decision(Target::Policy(r.policy), r.input, r.options)?;
                p.may_record()?;
                Ok(p)
            })
            .collect();
        if let Some(log) = &self.log {
            let records: Vec<Vec<u8>> = prepared
                .iter_mut()
                .filter_map(|p| p.as_mut().ok().and_then(|p| p.record.take()))
                .collect();
            match log.append_many_encoded(records) {
                Ok(first) => {
                    for (p, seq) in prepared.iter_mut().flatten().zip(first..) {
                        p.outcome.seq = Some(seq);
                        if let Some(d) = &p.deadline {
                            d.note_seq(seq);
                        }
                    }
                }
                Err(e) => {
                    for p in &mut prepared {
                        if p.is_ok() {
                            *p = Err(RuntimeError::Log(e.clone()));
                        }
                    }
                }
            }
        }
        prepared
            .into_iter()
            .map(|p| p.and_then(|p| self.follow_up(p)))
            .collect()
    }

    /// Decides `policy` on `input` as [`Runtime::decide_with`] does, but only queues the proof
    /// record and returns at once, without waiting for the disk: the [`Pending`] future
    /// completes once the record is durable (one sync for every decision of the batch, no
    /// thread waiting per decision), and [`Runtime::finish`] then gives the [`Outcome`].
    /// Nothing of the decision may be acted upon before that.
    ///
    /// Deciding itself does not block, unless connectors are plugged in
    /// ([`Runtime::set_connectors`]): then signals are read over the network while deciding.
    pub fn submit(
        &self,
        policy: &str,
        input: Input<'_>,
        options: Options<'_>,
    ) -> Result<Pending, RuntimeError> {
        self.submit_target(Target::Policy(policy), input, options)
    }

    /// [`Runtime::submit`] for a decision of action `action` over all its policies, as
    /// [`Runtime::decide_action`] makes it.
    pub fn submit_action(
        &self,
        action: &str,
        input: Input<'_>,
        options: Options<'_>,
    ) -> Result<Pending, RuntimeError> {
        self.submit_target(Target::Action(action), input, options)
    }

    fn submit_target(
        &self,
        target: Target<'_>,
        input: Input<'_>,
        options: Options<'_>,
    ) -> Result<Pending, RuntimeError> {
        let mut p = self.make_decision(target, input, options)?;
        p.may_record()?;
        let durable = match (&self.log, p.record.take()) {
            (Some(log), Some(rest)) => Some(log.submit_encoded(rest).map_err(RuntimeError::Log)?),
            _ => None,
        };
        if let (Some(d), Some(durable)) = (&p.deadline, &durable) {
            d.note_seq(durable.seq());
        }
        Ok(Pending {
            prepared: Some(p),
            durable,
        })
    }

    /// The outcome of a decision whose record is durable (a completed [`Pending`]): carries out
    /// an allowed action through the connectors and proves it, or opens a review case, when
    /// there is one to (see [`Decided::may_block`]: that work may block).
    pub fn finish(&self, decided: Decided) -> Result<Outcome, RuntimeError> {
        self.follow_up(decided.prepared)
    }

    /// Whether connectors are plugged in: deciding then reads signals over the network, so it
    /// may block.
    pub fn has_connectors(&self) -> bool {
        self.connectors.load().is_some()
    }

    /// Carries out the action of review case `case`, which a reviewer approved or which the
    /// queue closed with an `allow` fallback at its deadline or on recovery
    /// ([`crate::review::closed_by_fallback`]; its outcome proven: [`crate::review::Case::proof`]),
    /// through the connectors, as an allowed decision's action is carried out, with the
    /// arguments the case kept ([`ReviewSink::open_case_with_args`]); blocks while it does. Meant
    /// for an action the connectors carry out (QoD's `create_qos_session`, `delete_qos_session`):
    /// the caller knows which those are. A case the halt switch closed with an `allow` fallback
    /// is not carried out here (the decision itself answered that verdict), nor is one
    /// rejected, or closed with a `deny` fallback; nor is an `allow` fallback while the halt
    /// switch is on (the review sink says so: [`ReviewSink::halted`]), as an allowed decision's
    /// action is not.
    ///
    /// - `Ok(None)`: nothing to carry out: the case is neither approved nor closed with an
    ///   `allow` fallback by the deadline or recovery (or its outcome is not proven), it was
    ///   opened for a decision made elsewhere (its record is not a decision: an MCP gateway's
    ///   held call, which the agent's retry carries out), or the connectors say the action is
    ///   not theirs.
    /// - [`Approved::Performed`]: carried out (or tried: [`Performed::ok`]), proven as the event
    ///   `action.performed` with `{"decision", "case", "approval", …}` for an approval and
    ///   `{"decision", "case", "fallback", …}` for a fallback (the outcome's record).
    /// - [`Approved::NotPerformed`]: it could not be (the halt switch is on, no connectors
    ///   plugged in, the case kept no arguments, its arguments are not the ones its decision's
    ///   proof record commits to ([`DecisionRecord::args_sha256`]: changed in the queue's file
    ///   since, or a record written without a commitment), its module or action is not its
    ///   decision's, its module cannot be found, its arguments no longer bind), and why; proven
    ///   as the event `action.not_performed`, naming the case and the outcome the same way.
    ///   Nothing was sent.
    ///
    /// The module is the one the decision was made with: loaded now, or kept in the log's
    /// folder by its hash. A runtime without a proof log has no record to check the case's
    /// arguments against, and carries them out as kept. An error is a proof record that could
    /// not be written.
    pub fn perform_approved(
        &self,
        case: &crate::review::Case,
    ) -> Result<Option<Approved>, RuntimeError> {
        use crate::review::{BY_RECOVERY, Status, closed_by_fallback};
        let fallback = closed_by_fallback(case) && case.verdict.as_deref() == Some("allow");
        if (case.status != Status::Approved && !fallback) || case.proof.is_none() {
            return Ok(None);
        }
        // The decision's proof record, which holds the commitment to the case's arguments. A
        // case opened for a decision made elsewhere (`POST /v1/reviews`: an agent's tool call
        // that the MCP gateway holds, which its retry carries out once approved) is not the
        // runtime's to carry out: its record is that request, not a decision.
        // When the decision's record was written (its `time`): the review's period runs from
        // then, whatever the case in `reviews.log` says its deadline is.
        let mut recorded_ms = None;
        let decision = match (&self.log, case.seq) {
            (Some(log), Some(seq)) => Some(match log.record_bytes(seq) {
                Ok(Some(bytes)) => {
                    if serde_json::from_slice::<serde_json::Value>(&bytes)
                        .is_ok_and(|r| r["kind"] != "decision")
                    {
                        return Ok(None);
                    }
                    match crate::proof::record::decode(&bytes) {
                        Ok(Record {
                            time,
                            body: Body::Decision(d),
                            ..
                        }) => {
                            recorded_ms = crate::time::parse_rfc3339(&time).ok();
                            Ok((seq, d))
                        }
                        Ok(_) => Err((Some(seq), "it is not a decision".to_string())),
                        Err(e) => Err((Some(seq), e)),
                    }
                }
                Ok(None) => Err((Some(seq), "the log has no such record".to_string())),
                Err(e) => Err((Some(seq), e.to_string())),
            }),
            // The case names no record: with a log, every decision has one.
            (Some(_), None) => Some(Err((None, String::new()))),
            // Without a proof log there is no record to check against.
            (None, _) => None,
        };
        let reviewed = Some(Reviewed {
            case: &case.id,
            outcome: case.proof,
            fallback,
        });
        // What was not done, as the reasons below end.
        let undone = if fallback {
            "the action its `allow` fallback let go ahead was not carried out"
        } else {
            "the approved action was not carried out"
        };
        let not_by = |why: String, by_hand: bool| -> Result<Option<Approved>, RuntimeError> {
            let seq = self.prove_not_performed(case.seq, &case.action, &why, reviewed)?;
            Ok(Some(Approved::NotPerformed {
                reason: why,
                seq,
                by_hand,
            }))
        };
        let not = |why: String| not_by(why, false);
        // Every reviewed action counts as high risk: while the halt switch is on, none is
        // carried out, as an allowed decision's is not (an approval is refused then).
        if fallback
            && self
                .review
                .load()
                .as_ref()
                .is_some_and(|sink| sink.halted())
        {
            return not(format!(
                "the halt switch is on, and no high-risk action is carried out while it is: \
                 {undone}"
            ));
        }
        // The case lives in `reviews.log`, outside the proof log: what it keeps is carried out
        // only as its decision's record committed to it. Checked before anything else is said
        // of the action, so that nobody is told to carry out by hand what was never decided.
        let decided = match (&case.args, decision) {
            (Some(_), Some(decision)) => match committed(decision)
                .and_then(|d| same_terms(case, d, fallback.then_some(recorded_ms)))
            {
                Ok(d) => Some(d),
                Err(why) => return not(format!("{why}: {undone}")),
            },
            _ => None,
        };
        let Some(connectors) = self.connectors.load_full() else {
            return not_by(
                format!("no connectors are plugged in here (no `[camara]` in xop.toml): {undone}"),
                // Arguments it keeps were checked above against the record, where there is
                // one; without a log they cannot be, and nobody is told to use them by hand.
                case.args.is_none() || decided.is_some(),
            );
        };
        if !connectors.carries_out(&case.action) {
            return Ok(None);
        }
        let Some(args) = &case.args else {
            // A policy decided alone while others guard the action too: its case never keeps
            // them (its verdict is not the action's), so say that rather than guess.
            let guards: usize = (self.modules.load().guards(&case.action).iter())
                .map(|(_, v)| v.len())
                .sum();
            let why = if case.decided_by.as_deref() == Some(BY_RECOVERY) {
                "the case was rebuilt from its decision's proof record when the queue was \
                 opened, and that record keeps no arguments"
            } else if guards > 1 {
                "it is the review of one policy decided alone while others guard the action \
                 too, whose verdict is not the action's: the action's own decision \
                 (`--action`, `POST /v1/actions/{action}/decide`) opens a case that carries it \
                 out"
            } else {
                "it was opened without connectors, by an earlier version, or an argument holds \
                 a `@personal` value"
            };
            return not(format!(
                "the case keeps no arguments to carry the action out with ({why}): {undone}"
            ));
        };
        let set = self.modules.load();
        let kept;
        let program = match set.modules.iter().find(|m| m.hash == case.module) {
            Some(m) => m.program(),
            None => {
                let found = match &self.log {
                    Some(log) => crate::proof::replay::load_module(log.dir(), &case.module)
                        .map_err(|e| e.to_string()),
                    None => Err("the runtime has no proof log folder to find it in".into()),
                };
                match found {
                    Ok(m) => {
                        kept = m;
                        &kept.module.program
                    }
                    Err(e) => {
                        return not(format!(
                            "the module the decision was made with ({}) cannot be found ({e}): \
                             {undone}",
                            case.module
                        ));
                    }
                }
            }
        };
        if let Some((seq, d)) = &decided {
            // The action the decision was of: named by a decision of an action, else the
            // action of the (first) policy decided.
            let first = d.policy.split('+').next().unwrap_or_default();
            let of = d.action.as_deref().or_else(|| {
                (program.policies.iter())
                    .find(|p| p.qualified == first)
                    .map(|p| p.action.as_str())
            });
            if of != Some(case.action.as_str()) {
                return not(format!(
                    "the case names the action `{}`, but its decision (proof record {seq}) was \
                     of {}: the case was changed in `{}` since the decision: {undone}",
                    case.action,
                    of.map_or_else(|| format!("policy `{}`", d.policy), |a| format!("`{a}`")),
                    crate::review::FILE
                ));
            }
        }
        let Some(index) = (program.policies.iter()).position(|p| p.action == case.action) else {
            return not(format!(
                "module {} has no policy guarding `{}`: {undone}",
                case.module, case.action
            ));
        };
        let now = jiff::Timestamp::now().as_millisecond();
        let input = serde_json::Value::Object(args.clone());
        // Of any size: the arguments were held to the limit when the input was decided, and
        // are bound again without the input's other keys.
        let options = bind::BindOptions {
            any_size: true,
            ..bind::BindOptions::default()
        };
        let bound = match bind::bind_value_with_at(program, index, &input, now, options) {
            Ok(b) => b,
            Err(e) => {
                return not(format!(
                    "the arguments the case kept do not bind to `{}` ({e}): {undone}",
                    case.action
                ));
            }
        };
        let Some(done) = connectors.perform(program, &case.action, &bound.args) else {
            return Ok(None);
        };
        let seq = self.prove_performed(case.seq, &done, reviewed)?;
        Ok(Some(Approved::Performed {
            performed: done,
            seq,
        }))
    }

    /// Decides, and encodes the proof record (when there is a log), without waiting for
    /// anything but the connectors' signals.
    fn make_decision(
        &self,
        target: Target<'_>,
        input: Input<'_>,
        options: Options<'_>,
    ) -> Result<Prepared, RuntimeError> {
        // A deadline passed already (a caller that gave up, a decision that waited for a
        // thread): abandoned before any signal is read.
        if let Some(d) = options.deadline
            && d.passed()
        {
            // Abandoned here, not through `record`: past a `give_up` that has set the flags but
            // not yet settled the state, `record` would find it open and let the decision go
            // on, while its engine may stop on the flag and give no verdict to record.
            return Err(d.abandon());
        }
        let set = self.modules.load();
        let (m, guards, action) = match target {
            Target::Policy(policy) => {
                let (m, index) = set.resolve_policy(policy)?;
                (Arc::clone(m), Guards::One(index), None)
            }
            Target::Action(name) => {
                let (action, m, indices) = set.action(name)?;
                (m, Guards::Action(indices), Some(action))
            }
        };
        // A policy decided alone while others guard its action too (in any loaded module): its
        // verdict is not the action's, so what it allows is never carried out.
        let alone_of = match &guards {
            Guards::One(index) => {
                let pol = &m.program().policies[*index];
                let by_module = set.guards(&pol.action);
                let n: usize = by_module.iter().map(|(_, v)| v.len()).sum();
                // Refused here, on the snapshot this decision is made with, not by the caller
                // on one of its own: a hot swap in between would go unseen.
                if n > 1 && options.whole_action {
                    return Err(RuntimeError::PartialPolicy {
                        policy: pol.qualified.clone(),
                        action: pol.action.clone(),
                        guards: (by_module.iter())
                            .flat_map(|(m, v)| {
                                v.iter().map(|&i| m.program().policies[i].name.clone())
                            })
                            .collect(),
                        modules: by_module.iter().map(|(m, _)| m.name.clone()).collect(),
                    });
                }
                (n > 1).then_some(n)
            }
            Guards::Action(_) => None,
        };
        drop(set);
        let program = m.program();
        // Every policy of an action has the action's parameters: the first binds the input.
        let index = guards.first();
        let pol = &program.policies[index];
        let merged;
        let read_set = match (&guards, &action) {
            (Guards::Action(indices), Some(action)) if indices.len() > 1 => {
                match m.action_read_sets.get(action) {
                    Some(set) => set,
                    // Not found at load (no module loads so): the union, as there.
                    None => {
                        merged = ReadSet::union(indices.iter().map(|&i| &m.read_sets[i]));
                        &merged
                    }
                }
            }
            _ => &m.read_sets[index],
        };
        // Read before binding: an input without `now` is decided at this time, and its given
        // signals are judged fresh or not at the same time.
        let now_wall = jiff::Timestamp::now().as_millisecond();
        let owned;
        let bound = match input {
            // Values given as they are: a set in them may be out of order or hold repeats. The
            // engines decide on it canonical; the evidence and what is carried out use the
            // same canonical values (one copy, only when a set is not canonical already).
            Input::Bound(b) => match canonical_bound(program, &pol.params, b) {
                Some(c) => {
                    owned = c;
                    Ok(&owned)
                }
                None => Ok(b),
            },
            Input::Json(text) => match bind::bind_json_at(program, index, text, now_wall) {
                Ok(b) => {
                    owned = b;
                    Ok(&owned)
                }
                Err(e) => Err(e),
            },
            Input::JsonBytes(bytes) => {
                match bind::bind_json_bytes_at(program, index, bytes, now_wall) {
                    Ok(b) => {
                        owned = b;
                        Ok(&owned)
                    }
                    Err(e) => Err(e),
                }
            }
            Input::Value(v) => match bind::bind_value_at(program, index, v, now_wall) {
                Ok(b) => {
                    owned = b;
                    Ok(&owned)
                }
                Err(e) => Err(e),
            },
        };
        let connectors = self.connectors.load_full();
        let bound = match bound {
            // The network is the source of signals: a value given in the input could hide a
            // SIM swap, so it is refused, not ignored.
            Ok(b) if connectors.is_some() && options.signals.is_none() && !b.signals.is_empty() => {
                Err(BindError::new(
                    BindErrorKind::UnknownField,
                    "signals",
                    "signals are read from the network here; leave `signals` out of the input",
                ))
            }
            other => other,
        };
        // Refused input: the caller is told the whole message (`to.messages_7d: expected an
        // integer, found "3"`), the record keeps the stable `path: kind` as its error and the
        // message without the input's values as its detail: a value may be personal, and a
        // record is never rewritten.
        let (told, detail) = match &bound {
            Err(e) => (Some(e.to_string()), Some(e.redacted.clone())),
            Ok(_) => (None, None),
        };
        let (decision, at_ms, evidence, evidence_json, signals) = match &bound {
            Err(e) => (
                Decision {
                    verdict: Verdict::Deny,
                    reasons: vec![BAD_INPUT.to_string()],
                    fired: Vec::new(),
                    review: None,
                    error: Some(format!(
                        "{}: {}",
                        if e.path.is_empty() { "input" } else { &e.path },
                        e.kind
                    )),
                },
                now_wall,
                Vec::new(),
                None,
                Vec::new(),
            ),
            Ok(b) => {
                let at = b.now_ms.unwrap_or(now_wall);
                let fixed = Given::new(b.signals.clone(), &b.judged);
                let network = match (&connectors, options.signals) {
                    // The reads stop at the caller's deadline: past it the decision is
                    // abandoned anyway, and a read in flight would only hold this thread.
                    // The deadline itself, not only its instant: a read also stops once the
                    // caller gave up.
                    (Some(c), None) => Some(c.signals_by_deadline(program, at, options.deadline)),
                    _ => None,
                };
                let inner: &dyn Signals = match (options.signals, &network) {
                    (Some(s), _) => s,
                    (None, Some(n)) => n.as_ref(),
                    (None, None) => &fixed,
                };
                let recording = Recording::new(inner);
                // Both engines read through the recording: the same reads, in the same order,
                // so the proof record does not depend on which one decided.
                let deadline = options.deadline;
                let d = match &guards {
                    Guards::One(index) => {
                        self.decide_policy(&m, *index, &b.args, at, &recording, deadline)
                    }
                    Guards::Action(indices) => {
                        self.decide_guards(&m, indices, &b.args, at, &recording, deadline)
                    }
                };
                // Stopped by its deadline (or its caller giving up): abandoned, whatever the
                // deadline's state says yet; nothing of it is recorded.
                let d = match (d, deadline) {
                    (Ok(d), _) => d,
                    (Err(Cancelled), Some(deadline)) => return Err(deadline.abandon()),
                    (Err(Cancelled), None) => {
                        return Err(RuntimeError::DeadlinePassed { late_ms: 0 });
                    }
                };
                // Only a review case needs the evidence as values; otherwise it goes straight
                // into the record's bytes (the same bytes, without building the items).
                let subject = options.subject.unwrap_or("");
                let (evidence, evidence_json) = match &self.log {
                    Some(log) if d.review.is_some() => (
                        evidence::extract(program, pol, read_set, &b.args, subject, log)
                            .map_err(|e| RuntimeError::Log(LogError::Failed(e)))?,
                        None,
                    ),
                    Some(log) => {
                        let mut json = EVIDENCE.with(Cell::take);
                        json.clear();
                        evidence::extract_json(
                            program, pol, read_set, &b.args, subject, log, &mut json,
                        )
                        .map_err(|e| RuntimeError::Log(LogError::Failed(e)))?;
                        (Vec::new(), Some(json))
                    }
                    None => (Vec::new(), None),
                };
                let signals = recording.signal_reads(program);
                (d, at, evidence, evidence_json, signals)
            }
        };
        let review = decision.review.as_ref().map(|r| ReviewTerms {
            role: r.role.clone(),
            within_ms: r.within_ms,
            fallback: r.fallback,
            deadline: time_text(at_ms.saturating_add(r.within_ms)),
            also: r.also.clone(),
        });
        // The action is carried out only once the decision allowing it is durable (in
        // `follow_up`), with the arguments it was decided on; never on one policy's verdict
        // alone when others guard the action too.
        let mut not_performed = None;
        let perform = match (&connectors, &bound) {
            (Some(c), Ok(_))
                if decision.verdict == Verdict::Allow
                    && alone_of.is_some()
                    && c.carries_out(&pol.action) =>
            {
                not_performed = Some(format!(
                    "`{}` is one of {} policies guarding `{}`: its verdict alone is not the \
                     action's, and only the action's verdict (every policy guarding it, \
                     combined) carries the action out",
                    pol.qualified,
                    alone_of.unwrap_or_default(),
                    pol.action
                ));
                None
            }
            (Some(c), Ok(b))
                if decision.verdict == Verdict::Allow && c.carries_out(&pol.action) =>
            {
                Some((Arc::clone(c), b.args.clone()))
            }
            _ => None,
        };
        // A review the connectors' action may follow: its case keeps the action's arguments, so
        // that an approval can carry it out (on one policy's review alone, never).
        let case_args = match (&connectors, &bound) {
            (Some(c), Ok(b))
                if decision.verdict == Verdict::Review
                    && alone_of.is_none()
                    && c.carries_out(&pol.action) =>
            {
                kept_args(program, pol, &b.args)
            }
            _ => None,
        };
        let entry = Entry {
            time: time_text(now_wall),
            body: Body::Decision(DecisionRecord {
                module: m.hash.clone(),
                policy: match &guards {
                    Guards::One(_) => pol.qualified.clone(),
                    Guards::Action(indices) => indices
                        .iter()
                        .map(|&i| program.policies[i].qualified.as_str())
                        .collect::<Vec<_>>()
                        .join("+"),
                },
                action,
                at: time_text(at_ms),
                evidence,
                signals,
                verdict: decision.verdict,
                reasons: decision.reasons,
                fired: decision.fired,
                review,
                // The case's arguments live in the review queue's file, outside this log: the
                // record commits to them, and an approval carries out only what hashes to it.
                args_sha256: case_args.as_ref().map(args_sha256),
                error: decision.error,
                detail,
            }),
        };
        let record = match &self.log {
            None => None,
            Some(_) => {
                let rest = match &evidence_json {
                    // Fails closed: a record must never lose its evidence.
                    Some(json) => encode_with_evidence(&entry, json).ok_or_else(|| {
                        RuntimeError::Log(LogError::Failed(
                            "internal: the evidence could not be placed in the record".into(),
                        ))
                    })?,
                    None => encode(&entry),
                };
                check_size(rest.len()).map_err(RuntimeError::Log)?;
                if let Some(json) = evidence_json
                    && json.capacity() <= 1 << 16
                {
                    EVIDENCE.with(|e| e.set(json));
                }
                Some(rest)
            }
        };
        // The record's parts become the outcome's: moved, not copied.
        let Body::Decision(r) = entry.body else {
            return Err(RuntimeError::Log(LogError::Failed(
                "internal: a decision record of another kind".into(),
            )));
        };
        let case_evidence = if r.review.is_some() {
            r.evidence
        } else {
            Vec::new()
        };
        let outcome = Outcome {
            signals: r.signals,
            performed: None,
            performed_seq: None,
            verdict: r.verdict,
            reasons: r.reasons,
            fired: r.fired,
            review: r.review,
            case: None,
            case_error: None,
            error: told.or(r.error),
            seq: None,
            module: r.module,
            policy: r.policy,
            action: r.action,
            halt_fallback: (guards.as_slice().iter())
                .filter_map(|&i| m.halt_fallbacks.get(i).copied().flatten())
                .reduce(crate::review::stricter),
            at_ms,
            not_performed,
        };
        Ok(Prepared {
            module: m,
            index,
            outcome,
            record,
            case_evidence,
            perform,
            case_args,
            deadline: options.deadline.cloned(),
        })
    }

    /// What follows a decision once its record is durable: the allowed action, the review case.
    fn follow_up(&self, p: Prepared) -> Result<Outcome, RuntimeError> {
        let Prepared {
            module,
            index,
            mut outcome,
            case_evidence,
            perform,
            case_args,
            deadline,
            ..
        } = p;
        let program = module.program();
        let pol = &program.policies[index];
        // What came of the action is proven right after the decision; past the caller's
        // deadline it is not carried out (the caller was told the decision was not
        // acknowledged), and a record says why.
        if let Some((c, args)) = perform
            && !self.halts(&outcome)
        {
            if let Some(d) = deadline.as_ref().filter(|d| d.passed()) {
                let late = Instant::now().saturating_duration_since(d.at()).as_millis();
                let why = format!(
                    "the decision's deadline passed before the action was carried out ({late} ms \
                     after it; its caller was not told of the decision): it was not handed to the \
                     connectors"
                );
                self.prove_not_performed(outcome.seq, &pol.action, &why, None)?;
                outcome.not_performed = Some(why);
            } else if let Some(done) = c.perform(program, &pol.action, &args) {
                outcome.performed_seq = self.prove_performed(outcome.seq, &done, None)?;
                outcome.performed = Some(done);
            }
        }
        Ok(match outcome.review.clone() {
            Some(terms) => self.with_case(outcome, &pol.action, &terms, case_evidence, case_args),
            None => outcome,
        })
    }

    /// Whether the halt switch holds back the action `outcome` decided (a high-risk one).
    fn halts(&self, outcome: &Outcome) -> bool {
        self.review
            .load()
            .as_ref()
            .is_some_and(|sink| sink.halted())
            && outcome.halt_fallback.is_some()
    }

    /// Decides policy `index` of `m`: by the JIT's code when it is compiled (and can run),
    /// else by the reference interpreter; the decision is the same. Under a `deadline`, either
    /// engine stops early once it passes or its caller gives up ([`Cancelled`]): the
    /// interpreter asks [`Deadline::passed`] as it goes, the JIT's code loads the deadline's
    /// stop flag, which the watchdog sets when the deadline passes ([`Deadline::watch`]), for
    /// code that loads it at all (a policy with a loop nested in another).
    fn decide_policy(
        &self,
        m: &LoadedPolicies,
        index: usize,
        args: &[Value],
        at: i64,
        signals: &dyn Signals,
        deadline: Option<&Deadline>,
    ) -> Result<Decision, Cancelled> {
        let compiled = (m.jit.as_ref())
            .filter(|j| j.unsupported(index).is_none())
            .and_then(|j| match deadline {
                None => j.decide_with_signals(index, args, at, signals).map(Ok),
                Some(d) => {
                    let _watching = (j.stop_checks(index) > 0).then(|| d.watch());
                    j.decide_until(index, args, at, signals, d.stop_flag())
                }
            });
        match (compiled, deadline) {
            (Some(d), _) => {
                self.jit_decisions.fetch_add(1, Ordering::Relaxed);
                d
            }
            (None, None) => Ok(interp::decide(m.program(), index, args, at, signals)),
            (None, Some(d)) => {
                interp::decide_until(m.program(), index, args, at, signals, &|| d.passed())
            }
        }
    }

    /// Decides an action over its policies `guards` of `m` (in declaration order), each by
    /// [`Runtime::decide_policy`], and combines their fired rules as
    /// [`interp::decide_action`] does: its result, whichever engine decided each policy. The
    /// policies read signals through one memo, so a signal is read once per decision for the
    /// same arguments, as the interpreter's one evaluator reads it. The first policy that
    /// fails ends the decision, with the rules that fired before it.
    fn decide_guards(
        &self,
        m: &LoadedPolicies,
        guards: &[usize],
        args: &[Value],
        at: i64,
        signals: &dyn Signals,
        deadline: Option<&Deadline>,
    ) -> Result<Decision, Cancelled> {
        let program = m.program();
        let memo = Memo {
            inner: signals,
            seen: std::cell::RefCell::new(HashMap::new()),
        };
        let cancelled = Cell::new(false);
        let d = interp::combine_guards(program, guards, |index| {
            match self.decide_policy(m, index, args, at, &memo, deadline) {
                Ok(d) => d,
                // A failed decision ends the combining; it is dropped just below.
                Err(Cancelled) => {
                    cancelled.set(true);
                    Decision::failed(RUNTIME_ERROR, Vec::new(), "cancelled".into())
                }
            }
        });
        if cancelled.get() {
            return Err(Cancelled);
        }
        Ok(d)
    }

    /// Appends the event `action.performed` for the action the decision `decision` allowed (or
    /// that the review case `reviewed` let go ahead: `{"case", "approval"}` or
    /// `{"case", "fallback"}`).
    fn prove_performed(
        &self,
        decision: Option<u64>,
        p: &Performed,
        reviewed: Option<Reviewed<'_>>,
    ) -> Result<Option<u64>, RuntimeError> {
        let mut data = serde_json::json!({
            "decision": decision,
            "action": p.action,
            "ok": p.ok,
            "result": p.result,
            "calls": p.calls,
        });
        add_review(&mut data, reviewed);
        self.prove_event("action.performed", data)
    }

    /// Appends the event `action.not_performed`: the action allowed by the decision `decision`
    /// (or let go ahead by the review case `reviewed`) was not carried out, and `why`.
    fn prove_not_performed(
        &self,
        decision: Option<u64>,
        action: &str,
        why: &str,
        reviewed: Option<Reviewed<'_>>,
    ) -> Result<Option<u64>, RuntimeError> {
        let mut data = serde_json::json!({
            "decision": decision,
            "action": action,
            "reason": why,
        });
        add_review(&mut data, reviewed);
        self.prove_event("action.not_performed", data)
    }

    fn prove_event(
        &self,
        name: &str,
        data: serde_json::Value,
    ) -> Result<Option<u64>, RuntimeError> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        let entry = Entry {
            time: time_text(jiff::Timestamp::now().as_millisecond()),
            body: Body::Event {
                name: name.to_string(),
                data,
            },
        };
        log.append(&entry).map(Some).map_err(RuntimeError::Log)
    }

    fn with_case(
        &self,
        mut outcome: Outcome,
        action: &str,
        terms: &ReviewTerms,
        evidence: Vec<Evidence>,
        args: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Outcome {
        let Some(sink) = self.review.load_full() else {
            return outcome;
        };
        let case = ReviewCase {
            seq: outcome.seq,
            module: outcome.module.clone(),
            policy: outcome.policy.clone(),
            action: action.to_string(),
            reasons: outcome.reasons.clone(),
            terms: terms.clone(),
            evidence,
            at_ms: outcome.at_ms,
        };
        let opened = match &args {
            Some(args) => sink.open_case_with_args(&case, args),
            None => sink.open_case(&case),
        };
        match opened {
            Ok(id) => outcome.case = Some(id),
            Err(e) => outcome.case_error = Some(e),
        }
        outcome
    }
}

/// Adds an approval's case and record to an `action.performed` / `action.not_performed`
/// event's data.
/// The review case whose outcome let an action go ahead ([`Runtime::perform_approved`]).
#[derive(Clone, Copy)]
struct Reviewed<'a> {
    /// Its id.
    case: &'a str,
    /// Its outcome's proof record (`review.approved`, `review.fallback`).
    outcome: Option<u64>,
    /// Whether the outcome is an `allow` fallback (else an approval).
    fallback: bool,
}

/// Names the review case in an `action.performed`/`action.not_performed` event: `case`, and its
/// outcome's record as `approval` or `fallback`.
fn add_review(data: &mut serde_json::Value, reviewed: Option<Reviewed<'_>>) {
    if let (Some(r), Some(o)) = (reviewed, data.as_object_mut()) {
        o.insert("case".into(), serde_json::json!(r.case));
        let key = if r.fallback { "fallback" } else { "approval" };
        o.insert(key.into(), serde_json::json!(r.outcome));
    }
}

/// Checks review case `case` against its decision's proof record `decision` (its number and
/// the record) with the queue's comparison ([`crate::review::differs`]): `reviews.log` is
/// outside the proof log, so a case whose id, review (role, other roles, period, fallback),
/// module, policy, action or arguments were changed there is not carried out. For a case that
/// fell back (`fallback`: `Some` of when the record was written), the period must also have
/// run out since the record was written. The record, or why not.
fn same_terms(
    case: &crate::review::Case,
    decision: (u64, DecisionRecord),
    fallback: Option<Option<i64>>,
) -> Result<(u64, DecisionRecord), String> {
    use crate::review::{FILE, Recorded, differs};
    let (seq, d) = &decision;
    let changed = format!("the case was changed in `{FILE}` since the decision");
    let Some(rec) = Recorded::of_decision(*seq, d) else {
        return Err(format!(
            "its decision (proof record {seq}) gave no review: {changed}"
        ));
    };
    if let Some(what) = differs(case, &rec) {
        return Err(format!(
            "the case `{}` is not its decision's (proof record {seq}: {what}): {changed} (look at \
             `{FILE}` in the data folder, which is not part of the proof log)",
            case.id
        ));
    }
    if let Some(recorded) = fallback {
        let now = jiff::Timestamp::now().as_millisecond();
        let within_ms = rec.case.terms.within_ms;
        let due = recorded.map(|t| t.saturating_add(within_ms));
        if due.is_none_or(|due| now < due) {
            return Err(format!(
                "the case fell back before its review's period ran out ({within_ms} ms from its \
                 decision, proof record {seq}): {changed}"
            ));
        }
    }
    Ok(decision)
}

/// Checks that the decision the arguments `args` of a review case are to be carried out with
/// can vouch for them (`decision`: its number and the record; or its number, if the case
/// names one, and why it cannot be read): the record must be readable and commit to arguments
/// ([`DecisionRecord::args_sha256`]; that they are the case's is [`same_terms`]'s check). The
/// record, or why the case's arguments are not to be carried out (fail closed: a record
/// without a commitment, written by an earlier version, is not trusted either).
fn committed(
    decision: Result<(u64, DecisionRecord), (Option<u64>, String)>,
) -> Result<(u64, DecisionRecord), String> {
    use crate::review::FILE;
    let (seq, d) = match decision {
        Ok(d) => d,
        Err((Some(seq), why)) => {
            return Err(format!(
                "the case's decision (proof record {seq}) cannot be read ({why}), so the \
                 arguments the case keeps cannot be checked against it"
            ));
        }
        Err((None, _)) => {
            return Err(format!(
                "the case names no decision record to check the arguments it keeps against \
                 (`seq` is missing from it in `{FILE}`)"
            ));
        }
    };
    if d.args_sha256.is_none() {
        return Err(format!(
            "the case's decision (proof record {seq}) holds no commitment to the arguments the \
             case keeps (`args_sha256`: the decision was made by an earlier version of xop, or \
             the arguments were added to the case in `{FILE}` since), so they are not trusted; \
             check them against the decision before carrying the action out by hand"
        ));
    }
    Ok((seq, d))
}

/// The arguments of policy `pol`'s action as a review case keeps them, to carry the action out
/// once approved: one key per parameter, each value as proof records write values (which the
/// binder reads back). `None` when a parameter's type holds a `@personal` field: the case would
/// keep it in clear, which the proof log never does ([`evidence`] keeps it as a keyed hash).
fn kept_args(
    program: &Program,
    pol: &crate::ir::Policy,
    args: &[Value],
) -> Option<serde_json::Map<String, serde_json::Value>> {
    if (pol.params.iter()).any(|p| holds_personal(program, &p.ty, 0)) {
        return None;
    }
    Some(
        (pol.params.iter().zip(args))
            .map(|(p, v)| (p.name.clone(), value_json(program, v)))
            .collect(),
    )
}

/// Whether a value of type `ty` may hold a `@personal` field (at any depth).
fn holds_personal(program: &Program, ty: &crate::ir::Type, depth: usize) -> bool {
    use crate::ir::Type;
    if depth > 64 {
        return true; // fails closed on a type nested absurdly deep
    }
    match ty {
        Type::Optional(t) | Type::List(t) | Type::Set(t) => holds_personal(program, t, depth + 1),
        Type::Record(i) => match program.records.get(*i as usize) {
            Some(r) => {
                (r.fields.iter()).any(|f| f.personal || holds_personal(program, &f.ty, depth + 1))
            }
            None => true,
        },
        _ => false,
    }
}

/// Waits for `f` on this thread, parked until it is woken (the runtime has no executor of its
/// own): a [`Durable`] record, for a decision whose caller may give up.
fn park_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

fn info(e: &LoadedPolicies) -> ModuleInfo {
    ModuleInfo {
        name: e.name.clone(),
        hash: e.hash.clone(),
        policies: e
            .program()
            .policies
            .iter()
            .map(|p| p.name.clone())
            .collect(),
        signer: e.loaded.signer.map(|k| hex(k.as_bytes())),
    }
}

fn check_conflicts(
    modules: &[Arc<LoadedPolicies>],
    new: &LoadedPolicies,
) -> Result<(), RuntimeError> {
    for p in &new.program().policies {
        for m in modules {
            if m.program()
                .policies
                .iter()
                .any(|q| q.qualified == p.qualified || q.name == p.name)
            {
                return Err(RuntimeError::Conflict {
                    policy: p.name.clone(),
                    module: m.name.clone(),
                });
            }
        }
    }
    Ok(())
}

/// `b` with every set in its arguments (against `params`) and in its signals' values made
/// canonical ([`interp::canonical`]), or `None` when they are already. A value that does not
/// fit its type is left as it is: deciding refuses it (an argument) or reads it as absent (a
/// signal's value) then.
fn canonical_bound(program: &Program, params: &[crate::ir::Param], b: &Bound) -> Option<Bound> {
    let mut args: Option<Vec<Value>> = None;
    for (i, (param, arg)) in params.iter().zip(&b.args).enumerate() {
        if let Ok(std::borrow::Cow::Owned(v)) = interp::canonical(program, &param.ty, arg) {
            args.get_or_insert_with(|| b.args.clone())[i] = v;
        }
    }
    let mut signals: Option<Vec<(u32, Value)>> = None;
    for (i, (signal, value)) in b.signals.iter().enumerate() {
        let Some(decl) = usize::try_from(*signal)
            .ok()
            .and_then(|s| program.signals.get(s))
        else {
            continue;
        };
        if let Ok(std::borrow::Cow::Owned(v)) = interp::canonical(program, &decl.ty, value) {
            signals.get_or_insert_with(|| b.signals.clone())[i].1 = v;
        }
    }
    if args.is_none() && signals.is_none() {
        return None;
    }
    Some(Bound {
        args: args.unwrap_or_else(|| b.args.clone()),
        signals: signals.unwrap_or_else(|| b.signals.clone()),
        ..b.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{CmpOp, Expr, Param, Policy, Review, Rule, SourceRef, Type};
    use crate::module::{Module, hash_sources};
    use crate::proof::LogConfig;

    /// The watchdog forgets the deadlines of decisions that have ended, before they pass: a
    /// server whose timeouts are long would otherwise hold one per decision made within them.
    /// A decision still under way keeps its deadline watched, and stopped once it passes.
    #[test]
    fn the_watchdog_forgets_deadlines_no_decision_has() {
        let start = Instant::now();
        let ms = std::time::Duration::from_millis;
        let live: Vec<Deadline> = (0..10)
            .map(|i| Deadline::new(start + ms(300 + i)))
            .collect();
        let guards: Vec<Option<Watching>> = live.iter().map(Deadline::watch).collect();
        assert!(guards.iter().all(Option::is_some));
        for _ in 0..5 * MIN_COMPACT {
            // A decision that ended at once, its deadline an hour away.
            drop(Deadline::new(start + ms(3_600_000)).watch());
        }
        let held = WATCHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .deadlines
            .len();
        assert!(held < 2 * MIN_COMPACT + 100, "{held} deadlines watched");
        let until = Instant::now() + ms(5_000);
        while live.iter().any(|d| !d.0.stop.load(Ordering::SeqCst)) && Instant::now() < until {
            std::thread::sleep(ms(5));
        }
        assert!(live.iter().all(|d| d.0.stop.load(Ordering::SeqCst)));
        drop(guards);
    }

    /// The watchdog sets each watched deadline's stop flag once it passes, whatever order
    /// they were watched in, and not before: the earliest first, a far one never here.
    #[test]
    fn the_watchdog_stops_each_deadline_once_it_passes() {
        let start = Instant::now();
        let ms = std::time::Duration::from_millis;
        // Watched out of order, some twice; the far one last, so that it is the heap's
        // greatest at the end.
        let soon: Vec<Deadline> = (0..200u64)
            .map(|i| Deadline::new(start + ms(40 + (i * 7919) % 200)))
            .collect();
        let far = Deadline::new(start + ms(3_600_000));
        for d in soon.iter().chain(soon.iter().take(20)).chain([&far]) {
            d.watch();
        }
        let passed = |d: &Deadline| d.0.stop.load(Ordering::SeqCst);
        // Each flag, seen set, is past its deadline; all are set within seconds.
        let until = Instant::now() + ms(5_000);
        let mut seen = vec![false; soon.len()];
        while seen.iter().any(|s| !s) && Instant::now() < until {
            for (d, seen) in soon.iter().zip(&mut seen) {
                if !*seen && passed(d) {
                    assert!(Instant::now() >= d.at(), "stopped before its deadline");
                    *seen = true;
                }
            }
            std::thread::sleep(ms(1));
        }
        for d in &soon {
            assert!(
                passed(d),
                "a deadline {:?} after the start was not stopped",
                d.at() - start
            );
        }
        assert!(!passed(&far));
        assert!(!far.gave_up());
    }

    fn rule(n: usize, verdict: Verdict, reason: &str, condition: Option<Expr>) -> Rule {
        Rule {
            id: format!("acme.p#{n}"),
            verdict,
            reason: Some(reason.into()),
            condition,
            review: (verdict == Verdict::Review).then(|| Review {
                role: "acme.desk".into(),
                within_ms: 60_000,
                fallback: Verdict::Deny,
                also: Vec::new(),
            }),
            source: SourceRef {
                file: "acme.xop".into(),
                line: n as u32,
                column: 3,
                text: reason.into(),
            },
        }
    }

    fn cmp(op: CmpOp, n: i64) -> Option<Expr> {
        Some(Expr::Cmp(
            op,
            Box::new(Expr::Slot(0)),
            Box::new(Expr::Const(Value::Int(n))),
        ))
    }

    /// The policy `acme.{name}(n: Int)` of `rules`, guarding `action`.
    fn int_policy(name: &str, action: &str, rules: Vec<Rule>) -> Policy {
        Policy {
            name: name.into(),
            qualified: format!("acme.{name}"),
            action: action.into(),
            params: vec![Param {
                name: "n".into(),
                ty: Type::Int,
            }],
            now_slot: None,
            slots: 1,
            rules,
        }
    }

    /// The module of `program`, its one source `acme.xop` with the text `source` (which tells
    /// modules of the same policies apart), unsigned.
    fn module_of(program: Program, source: &[u8]) -> Vec<u8> {
        Module {
            program,
            source_hash: hash_sources([("acme.xop", source)]),
            sources: vec!["acme.xop".into()],
        }
        .to_bytes(None)
    }

    /// `p(n: Int)`: deny from 10 on, review at 5, allow otherwise.
    fn module_bytes() -> Vec<u8> {
        let rules = vec![
            rule(1, Verdict::Deny, "big", cmp(CmpOp::Ge, 10)),
            rule(2, Verdict::Review, "five", cmp(CmpOp::Eq, 5)),
            rule(3, Verdict::Allow, "ok", None),
        ];
        let program = Program {
            policies: vec![int_policy("p", "acme.act", rules)],
            ..Program::default()
        };
        module_of(program, b"module acme")
    }

    /// A module of one policy `name` (action `acme.{name}_act`, allowing all), told apart from
    /// others of the same policy by `tag` (its source hash).
    fn one_policy_bytes(name: &str, tag: &str) -> Vec<u8> {
        let rules = vec![rule(1, Verdict::Allow, "ok", None)];
        let program = Program {
            policies: vec![int_policy(name, &format!("acme.{name}_act"), rules)],
            ..Program::default()
        };
        module_of(program, tag.as_bytes())
    }

    /// Whether the log folder keeps the module `bytes`.
    fn kept(dir: &Path, bytes: &[u8]) -> bool {
        crate::proof::module_path(dir, &hex(&crate::module::content_hash(bytes))).exists()
    }

    /// Two loads at once, under two names, of modules defining the same policy: one is loaded,
    /// the other refused for the conflict, and only the loaded one's file is kept (the refused
    /// one's checked against the set before its file is written, and no other load can change
    /// the set in between). Many rounds, each with modules new to the folder.
    #[test]
    fn racing_conflicting_loads_keep_only_the_loaded_modules_file() {
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(runtime(dir.path()));
        for round in 0..24 {
            let policy = format!("q{round}");
            let versions: Vec<Vec<u8>> = ["a", "b"]
                .iter()
                .map(|who| one_policy_bytes(&policy, &format!("{who}{round}")))
                .collect();
            let barrier = Arc::new(std::sync::Barrier::new(2));
            let loads: Vec<_> = (versions.iter().cloned().enumerate())
                .map(|(i, bytes)| {
                    let (rt, barrier) = (Arc::clone(&rt), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        rt.load_bytes(&format!("slot{round}-{i}"), &bytes, None)
                    })
                })
                .collect();
            let results: Vec<_> = loads.into_iter().map(|t| t.join().unwrap()).collect();
            let loaded: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
            assert_eq!(loaded.len(), 1, "round {round}: {results:?}");
            let (ok, refused) = (loaded[0], 1 - loaded[0]);
            assert!(
                matches!(&results[refused], Err(RuntimeError::Conflict { .. })),
                "{results:?}"
            );
            assert!(kept(dir.path(), &versions[ok]), "round {round}");
            assert!(
                !kept(dir.path(), &versions[refused]),
                "round {round}: the module refused for a conflict was kept"
            );
        }
    }

    /// Unloading: an unknown name changes nothing and lists the loaded ones; the last module
    /// is kept when asked; an unloaded module's policies are gone, its file stays.
    #[test]
    fn unload_refuses_an_unknown_name_and_when_asked_the_last_module() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        assert_eq!(
            rt.unload("nope", true),
            Unloaded::NotLoaded {
                loaded: vec!["acme".into()]
            }
        );
        assert_eq!(rt.unload("acme", true), Unloaded::LastModule);
        assert_eq!(rt.modules().modules.len(), 1);
        let other = one_policy_bytes("other", "other");
        rt.load_bytes("other", &other, None).unwrap();
        let Unloaded::Module(gone) = rt.unload("other", true) else {
            panic!("not unloaded");
        };
        assert_eq!(gone.hash, hex(&crate::module::content_hash(&other)));
        assert!(rt.modules().policy("other").is_none());
        assert!(rt.modules().policy("p").is_some());
        assert!(kept(dir.path(), &other));
        assert!(matches!(rt.unload("acme", false), Unloaded::Module(_)));
        assert!(rt.modules().modules.is_empty());
    }

    /// `module_bytes`' policy `p` (allowing below 10) and a policy `q` denying everything,
    /// both guarding `acme.act`: `p`'s verdict alone is not the action's.
    fn shared_action_bytes() -> Vec<u8> {
        let p = vec![
            rule(1, Verdict::Deny, "big", cmp(CmpOp::Ge, 10)),
            rule(3, Verdict::Allow, "ok", None),
        ];
        let q = vec![rule(4, Verdict::Deny, "strict", None)];
        let program = Program {
            policies: vec![
                int_policy("p", "acme.act", p),
                int_policy("q", "acme.act", q),
            ],
            ..Program::default()
        };
        module_of(program, b"module acme, shared")
    }

    /// With `whole_action`, a policy that shares its action is refused by the call that
    /// decides, on the modules it decides with: swapped in right before, the sharing module
    /// is seen (no caller's check on an older snapshot stands between), and nothing is decided
    /// or recorded; alone on its action the policy is decided.
    #[test]
    fn a_policy_sharing_its_action_is_refused_on_the_modules_it_is_decided_with() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let whole = Options {
            whole_action: true,
            ..Options::default()
        };
        let input = Input::Json(r#"{"n": 1}"#);
        let o = rt.decide_with("p", input, whole).unwrap();
        assert_eq!((o.verdict, o.seq), (Verdict::Allow, Some(0)));
        rt.load_bytes("acme", &shared_action_bytes(), None).unwrap();
        let refusals = [
            rt.decide_with("p", input, whole).map(|_| ()),
            rt.submit("acme.p", input, whole).map(|_| ()),
            rt.decide_many(&[Request {
                policy: "p",
                input,
                options: whole,
            }])
            .remove(0)
            .map(|_| ()),
        ];
        for refused in refusals {
            match refused {
                Err(RuntimeError::PartialPolicy {
                    policy,
                    action,
                    guards,
                    modules,
                }) => {
                    assert_eq!(
                        (policy.as_str(), action.as_str(), guards, modules),
                        (
                            "acme.p",
                            "acme.act",
                            vec!["p".to_string(), "q".to_string()],
                            vec!["acme".to_string()]
                        )
                    );
                }
                other => panic!("not refused: {other:?}"),
            }
        }
        assert_eq!(rt.log().unwrap().size(), 1, "nothing recorded");
        // The action over all its policies is decided (q denies), and without `whole_action`
        // the policy alone still is (its allow never carries the action out).
        let o = rt.decide_action("acme.act", input, whole).unwrap();
        assert_eq!(o.verdict, Verdict::Deny);
        let o = rt.decide_with("p", input, Options::default()).unwrap();
        assert_eq!(o.verdict, Verdict::Allow);
    }

    /// `load_bytes_recorded` and `unload_recorded` call their `record` before the swap: the
    /// module set it sees, and a decision made from it, are the old ones. A `record` that
    /// fails leaves the old module serving (loading) or the module loaded (unloading).
    #[test]
    fn a_load_is_recorded_before_it_is_swapped_in_and_a_failed_record_swaps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let old = rt.modules().modules[0].hash.clone();
        let input = Input::Json(r#"{"n": 1}"#);
        let hash_of = |o: Outcome| o.module;
        let refused = rt.load_bytes_recorded("acme", &one_policy_bytes("p", "v2"), None, |info| {
            assert_ne!(info.hash, old);
            // Nothing of the new module decides yet.
            assert_eq!(rt.modules().modules[0].hash, old);
            assert_eq!(hash_of(rt.decide("p", input).unwrap()), old);
            Err(RuntimeError::Io("the record could not be written".into()))
        });
        assert_eq!(
            refused,
            Err(RuntimeError::Io("the record could not be written".into()))
        );
        assert_eq!(hash_of(rt.decide("p", input).unwrap()), old, "old serves");
        let mut recorded = None;
        let info = rt
            .load_bytes_recorded("acme", &one_policy_bytes("p", "v2"), None, |_| {
                recorded = Some(rt.modules().modules[0].hash.clone());
                assert_eq!(hash_of(rt.decide("p", input).unwrap()), old);
                Ok::<(), RuntimeError>(())
            })
            .unwrap();
        assert_eq!(recorded, Some(old.clone()));
        assert_eq!(hash_of(rt.decide("p", input).unwrap()), info.hash);
        // Unloading: recorded while the module still serves; a failed record unloads nothing.
        rt.load_bytes("other", &one_policy_bytes("o", "x"), None)
            .unwrap();
        let failed = rt.unload_recorded("other", true, |gone| {
            assert_eq!(gone.name, "other");
            assert!(rt.modules().modules.iter().any(|m| m.name == "other"));
            Err("no record")
        });
        assert_eq!(failed, Err("no record"));
        assert!(rt.decide("o", input).is_ok(), "still loaded");
        let unloaded = rt.unload_recorded("other", true, |_| {
            assert!(rt.decide("o", input).is_ok());
            Ok::<(), ()>(())
        });
        assert!(matches!(unloaded, Ok(Unloaded::Module(ref m)) if m.name == "other"));
        assert!(matches!(
            rt.decide("o", input),
            Err(RuntimeError::UnknownPolicy { .. })
        ));
    }

    fn runtime(dir: &Path) -> Runtime {
        let log = ProofLog::open(
            dir,
            LogConfig {
                origin: Some("test.xop/log".into()),
                ..LogConfig::default()
            },
        )
        .unwrap();
        let rt = Runtime::with_log(log);
        rt.load_bytes("acme", &module_bytes(), None).unwrap();
        rt
    }

    /// The record `seq` as JSON.
    fn record(rt: &Runtime, seq: u64) -> serde_json::Value {
        let bytes = rt.log().unwrap().record_bytes(seq).unwrap().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Runs a future on this thread (the runtime has no executor of its own).
    fn block_on<F: Future>(f: F) -> F::Output {
        super::park_on(f)
    }

    fn is_pending<F: Future + Unpin>(f: &mut F) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        Pin::new(f).poll(&mut cx).is_pending()
    }

    /// `p(n: Int)` of [`module_bytes`], and `q` guarding the same action: deny at 7.
    fn two_policies_bytes() -> Vec<u8> {
        let loaded = module::load(&module_bytes(), None).unwrap();
        let mut program = loaded.module.program;
        let mut q = program.policies[0].clone();
        q.name = "q".into();
        q.qualified = "acme.q".into();
        q.rules = vec![
            rule(1, Verdict::Deny, "seven", cmp(CmpOp::Eq, 7)),
            rule(2, Verdict::Allow, "fine", None),
        ];
        for r in &mut q.rules {
            r.id = r.id.replace("acme.p", "acme.q");
        }
        program.policies.push(q);
        module_of(program, b"module acme, twice")
    }

    /// Connectors that carry out every action (counting them) and read no signal.
    #[derive(Default)]
    struct Counting {
        performed: Arc<std::sync::Mutex<Vec<Vec<Value>>>>,
    }

    impl Connectors for Counting {
        fn signals<'a>(&'a self, _program: &'a Program, _now_ms: i64) -> Box<dyn Signals + 'a> {
            Box::new(FixedSignals::default())
        }

        fn perform(&self, _program: &Program, action: &str, args: &[Value]) -> Option<Performed> {
            self.performed.lock().unwrap().push(args.to_vec());
            Some(Performed {
                action: action.to_string(),
                ok: true,
                result: serde_json::json!({"done": args.len()}),
                calls: Vec::new(),
            })
        }
    }

    fn counting(rt: &Runtime) -> Arc<std::sync::Mutex<Vec<Vec<Value>>>> {
        let c = Counting::default();
        let performed = Arc::clone(&c.performed);
        rt.set_connectors(Some(Box::new(c)));
        performed
    }

    /// The names of the events in the log, in order.
    fn events(rt: &Runtime) -> Vec<String> {
        let log = rt.log().unwrap();
        (0..log.size())
            .map(|seq| {
                let r = record(rt, seq);
                r["name"]
                    .as_str()
                    .unwrap_or(r["kind"].as_str().unwrap())
                    .to_string()
            })
            .collect()
    }

    /// A policy decided alone while another guards its action too never carries the action
    /// out, and says why; the action decided over both does.
    #[test]
    fn a_policy_decided_alone_performs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = ProofLog::open(dir.path(), LogConfig::default()).unwrap();
        let rt = Runtime::with_log(log);
        rt.load_bytes("acme", &two_policies_bytes(), None).unwrap();
        let performed = counting(&rt);
        let o = rt.decide("p", Input::Json(r#"{"n": 7}"#)).unwrap();
        assert_eq!(o.verdict, Verdict::Allow);
        assert_eq!((&o.performed, o.performed_seq), (&None, None));
        let why = o.not_performed.unwrap();
        assert!(
            why.contains("`acme.p` is one of 2 policies guarding `acme.act`"),
            "{why}"
        );
        assert!(performed.lock().unwrap().is_empty());
        // The action's verdict: q denies 7, nothing is carried out; 1 is allowed by both.
        let o = rt
            .decide_action("acme.act", Input::Json(r#"{"n": 7}"#), Options::default())
            .unwrap();
        assert_eq!((o.verdict, &o.not_performed), (Verdict::Deny, &None));
        let o = rt
            .decide_action("acme.act", Input::Json(r#"{"n": 1}"#), Options::default())
            .unwrap();
        assert_eq!(o.verdict, Verdict::Allow);
        assert!(o.performed.is_some() && o.not_performed.is_none());
        assert_eq!(*performed.lock().unwrap(), vec![vec![Value::Int(1)]]);
        assert_eq!(
            events(&rt),
            ["decision", "decision", "decision", "action.performed"]
        );
    }

    /// The case of one policy's review decided alone while another guards the action too
    /// keeps no arguments, and its approval says that this is why it carries nothing out (not
    /// a missing connector, an earlier version or a `@personal` value).
    #[test]
    fn approving_a_review_decided_alone_says_why_nothing_is_carried_out() {
        use crate::review::{ReviewQueue, Reviewer, RuntimeLog};
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(Runtime::with_log(
            ProofLog::open(dir.path(), LogConfig::default()).unwrap(),
        ));
        rt.load_bytes("acme", &two_policies_bytes(), None).unwrap();
        let performed = counting(&rt);
        let queue =
            ReviewQueue::open(dir.path(), Box::new(RuntimeLog(Arc::downgrade(&rt)))).unwrap();
        rt.set_review_sink(Some(queue.sink()));
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        assert_eq!(o.verdict, Verdict::Review);
        let ana = Reviewer {
            name: "ana".into(),
            roles: vec!["acme.desk".into()],
        };
        let case = queue
            .approve(o.case.as_deref().unwrap(), &ana, None)
            .unwrap();
        assert_eq!(case.args, None);
        let Some(Approved::NotPerformed { reason, .. }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("a review decided alone was carried out");
        };
        assert!(
            reason.contains(
                "the review of one policy decided alone while others guard the action too"
            ),
            "{reason}"
        );
        assert!(performed.lock().unwrap().is_empty());
        queue.shutdown();
    }

    /// Connectors that carry out no action (`carries_out` false) but would count a perform.
    #[derive(Default)]
    struct Bystander {
        performed: Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Connectors for Bystander {
        fn signals<'a>(&'a self, _program: &'a Program, _now_ms: i64) -> Box<dyn Signals + 'a> {
            Box::new(FixedSignals::default())
        }

        fn perform(&self, _program: &Program, action: &str, _args: &[Value]) -> Option<Performed> {
            self.performed.lock().unwrap().push(action.to_string());
            None
        }

        fn carries_out(&self, _action: &str) -> bool {
            false
        }
    }

    /// An action the connectors do not carry out is never handed to them, and a policy decided
    /// alone over it gets no `not_performed` and no `action.not_performed` event: there was
    /// nothing to carry out.
    #[test]
    fn an_action_the_connectors_do_not_carry_out_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let log = ProofLog::open(dir.path(), LogConfig::default()).unwrap();
        let rt = Runtime::with_log(log);
        rt.load_bytes("acme", &two_policies_bytes(), None).unwrap();
        let c = Bystander::default();
        let performed = Arc::clone(&c.performed);
        rt.set_connectors(Some(Box::new(c)));
        let o = rt.decide("p", Input::Json(r#"{"n": 7}"#)).unwrap();
        assert_eq!(o.verdict, Verdict::Allow);
        assert_eq!((&o.performed, &o.not_performed), (&None, &None));
        let o = rt
            .decide_action("acme.act", Input::Json(r#"{"n": 1}"#), Options::default())
            .unwrap();
        assert_eq!(o.verdict, Verdict::Allow);
        assert_eq!((&o.performed, &o.not_performed), (&None, &None));
        assert!(performed.lock().unwrap().is_empty());
        assert_eq!(events(&rt), ["decision", "decision"]);
    }

    /// A decision whose deadline has passed before its record is submitted is abandoned:
    /// nothing recorded, carried out or sent to review, whichever way it is asked; the caller
    /// that gives up is told so. One recorded in time stands.
    #[test]
    fn a_decision_past_its_deadline_is_abandoned_before_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let performed = counting(&rt);
        let passed = Deadline::new(Instant::now());
        let late = Options {
            deadline: Some(&passed),
            ..Options::default()
        };
        for input in [r#"{"n": 1}"#, r#"{"n": 5}"#] {
            assert!(matches!(
                rt.decide_with("p", Input::Json(input), late),
                Err(RuntimeError::DeadlinePassed { .. })
            ));
            assert!(matches!(
                rt.submit("p", Input::Json(input), late),
                Err(RuntimeError::DeadlinePassed { .. })
            ));
            let batch = [Request {
                policy: "p",
                input: Input::Json(input),
                options: late,
            }];
            assert!(matches!(
                rt.decide_many(&batch)[0],
                Err(RuntimeError::DeadlinePassed { .. })
            ));
        }
        assert!(!passed.give_up(), "told it was recorded");
        assert_eq!(passed.seq(), None);
        assert_eq!(rt.log().unwrap().size(), 0);
        assert!(performed.lock().unwrap().is_empty());
        // A caller that gives up first abandons it too, though its time has not come.
        let gave_up = Deadline::new(Instant::now() + std::time::Duration::from_secs(60));
        assert!(!gave_up.give_up());
        assert!(
            rt.decide_with(
                "p",
                Input::Json(r#"{"n": 1}"#),
                Options {
                    deadline: Some(&gave_up),
                    ..Options::default()
                }
            )
            .is_err()
        );
        assert_eq!(rt.log().unwrap().size(), 0);
        // In time: recorded and carried out, and a caller giving up afterwards is told so.
        let ample = Deadline::new(Instant::now() + std::time::Duration::from_secs(60));
        let o = rt
            .decide_with(
                "p",
                Input::Json(r#"{"n": 1}"#),
                Options {
                    deadline: Some(&ample),
                    ..Options::default()
                },
            )
            .unwrap();
        assert_eq!((o.seq, o.performed_seq), (Some(0), Some(1)));
        assert!(ample.give_up());
        assert_eq!(ample.seq(), Some(0));
    }

    /// `cubic(xs: List<Int>)`: deny when three elements add up to -1, which on `0..n` none do,
    /// so deciding it walks all n³ triples.
    fn cubic_bytes() -> Vec<u8> {
        let q = |slot: u32, body: Expr| Expr::Quantify {
            quantifier: crate::ir::Quantifier::Any,
            list: Box::new(Expr::Slot(0)),
            slot,
            body: Some(Box::new(body)),
        };
        let add = |a: Expr, b: Expr| Expr::Arith(crate::ir::ArithOp::Add, Box::new(a), Box::new(b));
        let sum = add(add(Expr::Slot(1), Expr::Slot(2)), Expr::Slot(3));
        let hit = Expr::Cmp(
            CmpOp::Eq,
            Box::new(sum),
            Box::new(Expr::Const(Value::Int(-1))),
        );
        let cond = q(1, q(2, q(3, hit)));
        let mut pol = int_policy(
            "cubic",
            "acme.cubic_act",
            vec![
                rule(1, Verdict::Deny, "triple", Some(cond)),
                rule(2, Verdict::Allow, "ok", None),
            ],
        );
        pol.params[0].ty = Type::List(Box::new(Type::Int));
        pol.slots = 4;
        let program = Program {
            policies: vec![pol],
            ..Program::default()
        };
        module_of(program, b"module acme cubic")
    }

    /// A decision whose engine stopped on its deadline's stop flag is abandoned by the runtime
    /// itself, also while the deadline's state is still open, as it is between the two steps of
    /// a caller's `give_up` (the flag set, the state not yet settled): it is never recorded, and
    /// the caller's `give_up` is told so. On both engines.
    #[test]
    fn a_decision_stopped_on_its_flag_is_abandoned_though_the_state_is_open() {
        for jit in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let log = ProofLog::open(dir.path(), LogConfig::default()).unwrap();
            let rt = Runtime::with_log(log);
            rt.set_jit(jit);
            rt.load_bytes("acme", &cubic_bytes(), None).unwrap();
            let engine = rt.modules().modules[0].engine(0);
            assert_eq!(engine == Engine::Jit, jit);
            // Seconds of computing on either engine (the JIT: 8·10^9 triples).
            let n = if jit { 2000 } else { 400 };
            let xs: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let input = format!(r#"{{"n": [{}]}}"#, xs.join(","));
            let deadline = Deadline::new(Instant::now() + std::time::Duration::from_secs(3600));
            let started = Instant::now();
            let r = std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    // `give_up`'s first step alone.
                    deadline.0.stop.store(true, Ordering::SeqCst);
                });
                rt.decide_with(
                    "cubic",
                    Input::Json(&input),
                    Options {
                        deadline: Some(&deadline),
                        ..Options::default()
                    },
                )
            });
            assert!(
                matches!(r, Err(RuntimeError::DeadlinePassed { late_ms: 0 })),
                "{engine:?}: {r:?}"
            );
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "{engine:?}"
            );
            assert_eq!(rt.log().unwrap().size(), 0, "{engine:?}");
            assert!(!deadline.give_up(), "{engine:?}: told it was recorded");
            assert_eq!(deadline.seq(), None);
            // The flag set before the decision starts (an empty list: no loop would see it):
            // abandoned before deciding, not recorded.
            let early = Deadline::new(Instant::now() + std::time::Duration::from_secs(3600));
            early.0.stop.store(true, Ordering::SeqCst);
            let r = rt.decide_with(
                "cubic",
                Input::Json(r#"{"n": []}"#),
                Options {
                    deadline: Some(&early),
                    ..Options::default()
                },
            );
            assert!(
                matches!(r, Err(RuntimeError::DeadlinePassed { late_ms: 0 })),
                "{engine:?}: {r:?}"
            );
            assert_eq!(rt.log().unwrap().size(), 0, "{engine:?}");
            assert!(!early.give_up(), "{engine:?}: told it was recorded");
        }
    }

    /// Past the deadline when its turn comes, an allowed action recorded in time is not carried
    /// out, and a record says why.
    #[test]
    fn an_action_whose_turn_comes_past_the_deadline_is_not_carried_out() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let performed = counting(&rt);
        let deadline = Deadline::new(Instant::now() + std::time::Duration::from_millis(300));
        let held = rt.log().unwrap().hold_writer();
        let pending = rt
            .submit(
                "p",
                Input::Json(r#"{"n": 1}"#),
                Options {
                    deadline: Some(&deadline),
                    ..Options::default()
                },
            )
            .unwrap();
        assert_eq!(deadline.seq(), Some(0));
        // The disk is slow: the record is durable only after the deadline.
        std::thread::sleep(std::time::Duration::from_millis(400));
        drop(held);
        let o = rt.finish(block_on(pending).unwrap()).unwrap();
        assert_eq!((o.verdict, o.seq), (Verdict::Allow, Some(0)));
        assert_eq!((&o.performed, o.performed_seq), (&None, None));
        assert!(
            o.not_performed
                .unwrap()
                .starts_with("the decision's deadline passed")
        );
        assert!(performed.lock().unwrap().is_empty());
        assert_eq!(events(&rt), ["decision", "action.not_performed"]);
        let r = record(&rt, 1);
        assert_eq!(
            (&r["data"]["decision"], &r["data"]["action"]),
            (&0.into(), &"acme.act".into())
        );
    }

    /// A review whose action the connectors carry out keeps the action's arguments in its case;
    /// once approved, the action is carried out with them and proven, naming the case and the
    /// approval. Without connectors it is not, and a record says why.
    #[test]
    fn an_approved_case_is_carried_out_with_the_arguments_it_kept() {
        use crate::review::{ReviewQueue, Reviewer, RuntimeLog};
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(runtime(dir.path()));
        let queue =
            ReviewQueue::open(dir.path(), Box::new(RuntimeLog(Arc::downgrade(&rt)))).unwrap();
        rt.set_review_sink(Some(queue.sink()));
        let performed = counting(&rt);
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        assert_eq!(o.verdict, Verdict::Review);
        assert!(
            performed.lock().unwrap().is_empty(),
            "a review performs nothing"
        );
        let id = o.case.unwrap();
        let case = queue.get(&id).unwrap();
        assert_eq!(
            serde_json::Value::Object(case.args.clone().unwrap()),
            serde_json::json!({"n": 5})
        );
        // Not approved yet: nothing to carry out.
        assert_eq!(rt.perform_approved(&case).unwrap(), None);
        let ana = Reviewer {
            name: "ana".into(),
            roles: vec!["acme.desk".into()],
        };
        let case = queue.approve(&id, &ana, None).unwrap();
        let Some(Approved::Performed { performed: p, seq }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("not carried out");
        };
        assert!(p.ok);
        assert_eq!(*performed.lock().unwrap(), vec![vec![Value::Int(5)]]);
        let r = record(&rt, seq.unwrap());
        assert_eq!(r["name"], "action.performed");
        assert_eq!(r["data"]["decision"], o.seq.unwrap());
        assert_eq!(
            (&r["data"]["case"], &r["data"]["approval"]),
            (&id.clone().into(), &case.proof.into())
        );
        // Without connectors, another approved case is not carried out, and says so.
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let case = queue
            .approve(o.case.as_deref().unwrap(), &ana, None)
            .unwrap();
        rt.set_connectors(None);
        let Some(Approved::NotPerformed {
            reason,
            seq,
            by_hand,
        }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("carried out without connectors");
        };
        assert!(
            reason.starts_with("no connectors are plugged in"),
            "{reason}"
        );
        // Its arguments are the decision's: the operator may carry it out by hand.
        assert!(by_hand);
        assert_eq!(record(&rt, seq.unwrap())["name"], "action.not_performed");
        assert_eq!(performed.lock().unwrap().len(), 1);
        // A case opened for a decision made elsewhere (an MCP gateway's held call, whose retry
        // carries it out once approved) is not the runtime's to carry out.
        let log = rt.log().unwrap();
        let seq = log
            .append_event(
                "review.requested",
                serde_json::json!({"action": "acme.act", "reasons": ["held"],
                    "role": "acme.desk", "within_ms": 60_000, "fallback": "deny"}),
            )
            .unwrap();
        let elsewhere = ReviewCase {
            seq: Some(seq),
            module: String::new(),
            policy: String::new(),
            action: "acme.act".into(),
            reasons: vec!["held".into()],
            terms: ReviewTerms {
                role: "acme.desk".into(),
                within_ms: 60_000,
                fallback: Verdict::Deny,
                deadline: String::new(),
                also: Vec::new(),
            },
            evidence: Vec::new(),
            at_ms: 0,
        };
        let id = ReviewSink::open_case(&queue, &elsewhere).unwrap();
        let case = queue.approve(&id, &ana, None).unwrap();
        assert_eq!(rt.perform_approved(&case).unwrap(), None);
        assert_eq!(log.size(), seq + 2, "only the request and the approval");
        queue.shutdown();
    }

    /// `reviews.log` is outside the proof log: a case whose role, fallback or deadline was
    /// changed there, or a second case made for one decision, is not carried out once
    /// approved or fallen back; the case of the decision as it was is.
    #[test]
    fn a_case_whose_review_terms_were_changed_is_not_carried_out() {
        use crate::review::{FILE, ReviewError, ReviewQueue, Reviewer, RuntimeLog, Status};
        use serde_json::Value as Json;
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(runtime(dir.path()));
        rt.load_bytes("acme", &module_bytes(), None).unwrap();
        let open = || {
            let q =
                ReviewQueue::open(dir.path(), Box::new(RuntimeLog(Arc::downgrade(&rt)))).unwrap();
            rt.set_review_sink(Some(q.sink()));
            q
        };
        let queue = open();
        let performed = counting(&rt);
        let role = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let early = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let twice = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let id = |o: &Outcome| o.case.clone().unwrap();
        assert_eq!(queue.get(&id(&early)).unwrap().fallback, "deny");
        queue.shutdown();
        drop(queue);
        // Whoever can write the data folder gives the first case another role, makes the
        // second fall back to allow at once, and makes a second case of the third decision.
        let path = dir.path().join(FILE);
        let mut out = String::new();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let mut l: Json = serde_json::from_str(line).unwrap();
            let case = l["case"]["id"].as_str().unwrap_or_default().to_string();
            if l["op"] == "open" && case == id(&role) {
                l["case"]["role"] = "acme.other".into();
            }
            if l["op"] == "open" && case == id(&early) {
                l["case"]["fallback"] = "allow".into();
                l["case"]["deadline_ms"] = l["case"]["opened_ms"].clone();
            }
            out.push_str(&serde_json::to_string(&l).unwrap());
            out.push('\n');
            if l["op"] == "open" && case == id(&twice) {
                l["case"]["id"] = "rv-dup".into();
                out.push_str(&serde_json::to_string(&l).unwrap());
                out.push('\n');
            }
        }
        std::fs::write(&path, out).unwrap();
        // `xop log verify` names the three.
        let problems = crate::review::check_cases(dir.path()).unwrap();
        let mut named: Vec<(Option<u64>, String)> = problems
            .into_iter()
            .map(|p| {
                (
                    p.record,
                    p.message.split('`').nth(1).unwrap_or("").to_string(),
                )
            })
            .collect();
        named.sort();
        let mut want = vec![
            (role.seq, id(&role)),
            (early.seq, id(&early)),
            (twice.seq, "rv-dup".to_string()),
        ];
        want.sort();
        assert_eq!(named, want);
        // Opening applies the early case's forged fallback.
        let queue = open();
        let early = queue.get(&id(&early)).unwrap();
        assert_eq!(early.verdict.as_deref(), Some("allow"));
        // The queue checks an answer against the decision's record: an accomplice who holds
        // only the forged role cannot approve (nor reject) the case, nor can anyone the second
        // case; nothing is recorded, and the cases stay open (their deadlines still apply).
        let eve = Reviewer {
            name: "eve".into(),
            roles: vec!["acme.other".into()],
        };
        let ana = Reviewer {
            name: "ana".into(),
            roles: vec!["acme.desk".into()],
        };
        let size = rt.log().unwrap().size();
        for (case, who, what) in [
            (id(&role), &eve, "role `acme.other`"),
            (id(&role), &ana, "the record gives role `acme.desk`"),
            ("rv-dup".to_string(), &ana, "its id is `rv-dup`"),
        ] {
            let Err(e @ ReviewError::Changed { .. }) = queue.approve(&case, who, None) else {
                panic!("{case}: an answer to an edited case was accepted");
            };
            let m = e.to_string();
            assert!(
                m.contains(what) && m.contains("nothing was recorded"),
                "{m}"
            );
            assert!(matches!(
                queue.reject(&case, who, None),
                Err(ReviewError::Changed { .. })
            ));
            assert_eq!(queue.get(&case).unwrap().status, Status::Open);
        }
        assert_eq!(rt.log().unwrap().size(), size, "nothing was recorded");
        // The decision's own case is approved, and carried out.
        let twice = queue.approve(&id(&twice), &ana, None).unwrap();
        // Edited after its approval (what the queue could not see), it is not carried out.
        let mut forged_role = twice.clone();
        forged_role.role = "acme.other".into();
        let mut dup = twice.clone();
        dup.id = "rv-dup".into();
        for (case, why) in [
            (&early, "its review is role `acme.desk`, within"),
            (&forged_role, "its review is role `acme.other`"),
            (&dup, "its id is `rv-dup`"),
        ] {
            let Some(Approved::NotPerformed {
                reason, by_hand, ..
            }) = rt.perform_approved(case).unwrap()
            else {
                panic!("{}: an edited case was carried out", case.id);
            };
            assert!(reason.contains(why), "{}: {reason}", case.id);
            assert!(reason.contains(&format!("changed in `{FILE}`")), "{reason}");
            assert!(!by_hand);
        }
        assert!(performed.lock().unwrap().is_empty(), "nothing was sent");
        let Some(Approved::Performed { .. }) = rt.perform_approved(&twice).unwrap() else {
            panic!("the unedited case was not carried out");
        };
        assert_eq!(performed.lock().unwrap().len(), 1);
        queue.shutdown();
    }

    /// The case's arguments live in `reviews.log`, outside the proof log, so the decision's
    /// record commits to them: a case whose arguments were edited in the file after the
    /// decision, or added to a case whose record holds no commitment, is not carried out once
    /// approved (the connectors are not called), proven as `action.not_performed` naming the
    /// record; `check_cases` (`xop log verify`) names the edited case; an unedited case is
    /// carried out. A case whose module or action is not its decision's is not carried out
    /// either.
    #[test]
    fn a_case_whose_arguments_were_changed_is_not_carried_out() {
        use crate::proof::record::args_sha256;
        use crate::review::{FILE, ReviewQueue, Reviewer, RuntimeLog, check_cases};
        use serde_json::Value as Json;
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(runtime(dir.path()));
        // Another module of the action (kept in the log's folder once loaded), and a module
        // with a second action taking the same arguments: what an edited case could name.
        let elsewhere = rt
            .load_bytes("acme", &module_falling_back_bytes(Verdict::Allow), None)
            .unwrap()
            .hash;
        let loaded = module::load(&module_bytes(), None).unwrap();
        let mut program = loaded.module.program;
        let mut p2 = program.policies[0].clone();
        p2.name = "p2".into();
        p2.qualified = "acme.p2".into();
        p2.action = "acme.act2".into();
        for r in &mut p2.rules {
            r.id = r.id.replace("acme.p", "acme.p2");
        }
        program.policies.push(p2);
        let two_actions = module_of(program, b"module acme, two actions");
        rt.load_bytes("acme", &two_actions, None).unwrap();
        let open = || {
            let q =
                ReviewQueue::open(dir.path(), Box::new(RuntimeLog(Arc::downgrade(&rt)))).unwrap();
            rt.set_review_sink(Some(q.sink()));
            q
        };
        let queue = open();
        let performed = counting(&rt);
        let edited = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let kept = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        // Decided without connectors: the case keeps no arguments, the record commits to none.
        rt.set_connectors(None);
        let added = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let performed_too = counting(&rt);
        let Json::Object(args) = serde_json::json!({"n": 5}) else {
            unreachable!()
        };
        for o in [&edited, &kept] {
            assert_eq!(
                record(&rt, o.seq.unwrap())["args_sha256"],
                args_sha256(&args).as_str()
            );
        }
        assert!(record(&rt, added.seq.unwrap()).get("args_sha256").is_none());
        assert_eq!(check_cases(dir.path()).unwrap(), Vec::new());
        // Whoever can write the data folder edits the first case's arguments and gives the
        // third some.
        queue.shutdown();
        drop(queue);
        let path = dir.path().join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let mut l: Json = serde_json::from_str(line).unwrap();
            if l["op"] == "open" && l["case"]["id"] == edited.case.as_deref().unwrap() {
                l["case"]["args"]["n"] = 6.into();
            }
            if l["op"] == "open" && l["case"]["id"] == added.case.as_deref().unwrap() {
                l["case"]["args"] = serde_json::json!({"n": 5});
            }
            out.push_str(&serde_json::to_string(&l).unwrap());
            out.push('\n');
        }
        std::fs::write(&path, out).unwrap();
        // `xop log verify` names the edited case and its record (not the one added to: its
        // record may be an earlier version's, which commits to nothing).
        let problems = check_cases(dir.path()).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].record, edited.seq);
        assert!(!problems[0].settled_on_open);
        let id = edited.case.clone().unwrap();
        let mut edited_args = args.clone();
        edited_args.insert("n".into(), 6.into());
        let differ = format!(
            "it keeps arguments whose SHA-256 is {}; the record commits to {}",
            args_sha256(&edited_args),
            args_sha256(&args)
        );
        assert!(
            problems[0].message.starts_with(&format!(
                "case `{id}` in `reviews.log` is not the case this decision record describes"
            )) && problems[0].message.contains(&differ),
            "{}",
            problems[0].message
        );
        let queue = open();
        let ana = Reviewer {
            name: "ana".into(),
            roles: vec!["acme.desk".into()],
        };
        let size = rt.log().unwrap().size();
        // The queue refuses to approve the edited case: nothing is recorded.
        let refused = queue.approve(&id, &ana, None).unwrap_err().to_string();
        assert!(refused.contains(&differ), "{refused}");
        assert_eq!(rt.log().unwrap().size(), size);
        // Edited after its approval, the same case is not carried out, and that is proven.
        let kept_case = queue
            .approve(kept.case.as_deref().unwrap(), &ana, None)
            .unwrap();
        let mut case = kept_case.clone();
        case.args = Some(edited_args.clone());
        let Some(Approved::NotPerformed {
            reason,
            seq,
            by_hand,
        }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("an edited case was carried out");
        };
        // Nobody is told to carry out by hand what was never decided.
        assert!(!by_hand);
        assert!(
            reason.starts_with(&format!(
                "the case `{}` is not its decision's (proof record {}: {differ})",
                case.id,
                kept.seq.unwrap()
            )),
            "{reason}"
        );
        assert!(
            reason.ends_with("the approved action was not carried out"),
            "{reason}"
        );
        let r = record(&rt, seq.unwrap());
        assert_eq!(r["name"], "action.not_performed");
        assert_eq!(
            (
                &r["data"]["case"],
                &r["data"]["decision"],
                &r["data"]["approval"]
            ),
            (
                &case.id.as_str().into(),
                &kept.seq.into(),
                &case.proof.into()
            )
        );
        assert_eq!(r["data"]["reason"], reason.as_str());
        assert_eq!(
            rt.log().unwrap().size(),
            size + 2,
            "the approval and the refusal"
        );
        // Arguments added to a case whose record commits to none: not trusted.
        let case = queue
            .approve(added.case.as_deref().unwrap(), &ana, None)
            .unwrap();
        let Some(Approved::NotPerformed { reason, seq, .. }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("arguments the record does not commit to were carried out");
        };
        assert!(
            reason.starts_with(&format!(
                "the case's decision (proof record {}) holds no commitment to the arguments",
                added.seq.unwrap()
            )),
            "{reason}"
        );
        assert_eq!(record(&rt, seq.unwrap())["name"], "action.not_performed");
        assert!(performed.lock().unwrap().is_empty());
        assert!(performed_too.lock().unwrap().is_empty(), "nothing was sent");
        // The unedited case is carried out, with its arguments; first, the same case naming
        // another module, or another action, is not.
        let case = kept_case;
        let mut other = case.clone();
        other.module = elsewhere;
        let Some(Approved::NotPerformed { reason, .. }) = rt.perform_approved(&other).unwrap()
        else {
            panic!("a case naming another module was carried out");
        };
        assert!(
            reason.contains(&format!(
                "its module is `{}`; the record's is `{}`",
                other.module, case.module
            )),
            "{reason}"
        );
        let mut other = case.clone();
        other.action = "acme.act2".into();
        let Some(Approved::NotPerformed { reason, .. }) = rt.perform_approved(&other).unwrap()
        else {
            panic!("a case naming another action was carried out");
        };
        assert!(
            reason.starts_with(&format!(
                "the case names the action `acme.act2`, but its decision (proof record {}) \
                 was of `acme.act`",
                kept.seq.unwrap()
            )),
            "{reason}"
        );
        assert!(performed_too.lock().unwrap().is_empty());
        let Some(Approved::Performed { performed: p, seq }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("an unedited case was not carried out");
        };
        assert!(p.ok);
        assert_eq!(*performed_too.lock().unwrap(), vec![vec![Value::Int(5)]]);
        assert_eq!(record(&rt, seq.unwrap())["name"], "action.performed");
        queue.shutdown();
    }

    /// The review period of [`module_falling_back_bytes`], in milliseconds: short, because a
    /// fallback is carried out only once that much wall-clock time has passed since the
    /// decision's record was written, whatever the queue's (test) clock says.
    const FALLING_BACK_WITHIN_MS: i64 = 200;

    /// [`module_bytes`] with its review falling back to `fallback` after
    /// [`FALLING_BACK_WITHIN_MS`].
    fn module_falling_back_bytes(fallback: Verdict) -> Vec<u8> {
        let loaded = module::load(&module_bytes(), None).unwrap();
        let mut program = loaded.module.program;
        for r in &mut program.policies[0].rules {
            if let Some(review) = &mut r.review {
                review.fallback = fallback;
                review.within_ms = FALLING_BACK_WITHIN_MS;
            }
        }
        module_of(program, fallback.keyword().as_bytes())
    }

    /// A case closed with an `allow` fallback at its deadline is carried out as an approved
    /// one is, with the arguments it kept, proven naming the case and the fallback's record
    /// (`fallback`, not `approval`); without connectors, or while the halt switch is on, it is
    /// not, and a record says why. A `deny` fallback carries nothing out, nor does an `allow`
    /// fallback the halt switch applied (the decision answered it).
    #[test]
    fn an_allow_fallback_at_the_deadline_is_carried_out() {
        use crate::review::{BY_DEADLINE, BY_HALT, ReviewQueue, RuntimeLog, Status};
        use std::sync::atomic::AtomicI64;
        let dir = tempfile::tempdir().unwrap();
        let rt = Arc::new(runtime(dir.path()));
        rt.load_bytes("acme", &module_falling_back_bytes(Verdict::Allow), None)
            .unwrap();
        let now = Arc::new(AtomicI64::new(jiff::Timestamp::now().as_millisecond()));
        let clock = Arc::clone(&now);
        let queue = ReviewQueue::open_with_clock(
            dir.path(),
            Box::new(RuntimeLog(Arc::downgrade(&rt))),
            Arc::new(move || clock.load(Ordering::SeqCst)),
        )
        .unwrap();
        rt.set_review_sink(Some(queue.sink()));
        let performed = counting(&rt);
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let id = o.case.unwrap();
        // Still open: nothing to carry out.
        assert_eq!(rt.perform_approved(&queue.get(&id).unwrap()).unwrap(), None);
        let due = std::time::Duration::from_millis(FALLING_BACK_WITHIN_MS as u64 + 50);
        std::thread::sleep(due);
        now.fetch_add(61_000, Ordering::SeqCst);
        let closed = queue.apply_due().unwrap();
        assert_eq!(closed.len(), 1);
        let case = &closed[0];
        assert_eq!(
            (
                case.status,
                case.decided_by.as_deref(),
                case.verdict.as_deref()
            ),
            (Status::Fallback, Some(BY_DEADLINE), Some("allow"))
        );
        let Some(Approved::Performed { performed: p, seq }) = rt.perform_approved(case).unwrap()
        else {
            panic!("an allow fallback was not carried out");
        };
        assert!(p.ok);
        assert_eq!(*performed.lock().unwrap(), vec![vec![Value::Int(5)]]);
        let r = record(&rt, seq.unwrap());
        assert_eq!(r["name"], "action.performed");
        assert_eq!(r["data"]["decision"], o.seq.unwrap());
        assert_eq!(
            (&r["data"]["case"], &r["data"]["fallback"]),
            (&id.clone().into(), &case.proof.into())
        );
        assert!(r["data"].get("approval").is_none(), "{r}");
        // Without connectors: not carried out, and said so.
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        now.fetch_add(61_000, Ordering::SeqCst);
        let case = queue.apply_due().unwrap().pop().unwrap();
        assert_eq!(case.id, o.case.unwrap());
        rt.set_connectors(None);
        let Some(Approved::NotPerformed { reason, seq, .. }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("carried out without connectors");
        };
        assert!(
            reason.ends_with("the action its `allow` fallback let go ahead was not carried out"),
            "{reason}"
        );
        let r = record(&rt, seq.unwrap());
        assert_eq!(r["name"], "action.not_performed");
        assert_eq!(r["data"]["fallback"], case.proof.unwrap());
        let performed = counting(&rt);
        // An `allow` fallback at the deadline while the halt switch is on: not carried out,
        // and said so.
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        queue.halt("ops", "incident").unwrap();
        now.fetch_add(61_000, Ordering::SeqCst);
        let case = queue.apply_due().unwrap().pop().unwrap();
        assert_eq!(
            (case.id.as_str(), case.decided_by.as_deref()),
            (o.case.as_deref().unwrap(), Some(BY_DEADLINE))
        );
        let Some(Approved::NotPerformed { reason, seq, .. }) = rt.perform_approved(&case).unwrap()
        else {
            panic!("carried out under the halt switch");
        };
        assert!(reason.starts_with("the halt switch is on"), "{reason}");
        assert_eq!(record(&rt, seq.unwrap())["name"], "action.not_performed");
        // The halt switch's `allow` fallback: the decision answered it; nothing here.
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        let case = queue.get(&o.case.unwrap()).unwrap();
        assert_eq!(
            (
                case.status,
                case.decided_by.as_deref(),
                case.verdict.as_deref()
            ),
            (Status::Fallback, Some(BY_HALT), Some("allow"))
        );
        assert_eq!(rt.perform_approved(&case).unwrap(), None);
        queue.lift("ops").unwrap();
        // A `deny` fallback at the deadline: nothing.
        rt.load_bytes("acme", &module_falling_back_bytes(Verdict::Deny), None)
            .unwrap();
        let o = rt.decide("p", Input::Json(r#"{"n": 5}"#)).unwrap();
        now.fetch_add(61_000, Ordering::SeqCst);
        let case = queue.apply_due().unwrap().pop().unwrap();
        assert_eq!(
            (case.id.as_str(), case.verdict.as_deref()),
            (o.case.as_deref().unwrap(), Some("deny"))
        );
        let size = rt.log().unwrap().size();
        assert_eq!(rt.perform_approved(&case).unwrap(), None);
        assert_eq!(rt.log().unwrap().size(), size);
        assert!(performed.lock().unwrap().is_empty());
        queue.shutdown();
    }

    #[test]
    fn decide_many_answers_each_request_with_its_own_decision_and_record() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let inputs = [
            r#"{"n": 1}"#,
            r#"{"n": 12}"#,
            "",
            r#"{"n": 5}"#,
            r#"{"n": 7}"#,
        ];
        let batch: Vec<Request<'_>> = inputs
            .iter()
            .enumerate()
            .map(|(i, text)| Request {
                // The third names no loaded policy: it fails alone.
                policy: if i == 2 { "nope" } else { "p" },
                input: Input::Json(text),
                options: Options::default(),
            })
            .collect();
        let results = rt.decide_many(&batch);
        assert_eq!(results.len(), 5);
        assert!(matches!(
            results[2],
            Err(RuntimeError::UnknownPolicy { .. })
        ));
        let expected = [
            (0, Verdict::Allow, 1, 0),
            (1, Verdict::Deny, 12, 1),
            (3, Verdict::Review, 5, 2),
            (4, Verdict::Allow, 7, 3),
        ];
        // Every acknowledged record is durable when the batch returns.
        assert_eq!(rt.log().unwrap().size(), 4);
        for (i, verdict, n, seq) in expected {
            let o = results[i].as_ref().unwrap();
            assert_eq!(o.verdict, verdict, "request {i}");
            assert_eq!(o.seq, Some(seq), "request {i}");
            let r = record(&rt, seq);
            assert_eq!(r["seq"], seq);
            assert_eq!(r["verdict"], verdict.keyword());
            assert_eq!(r["evidence"][0]["path"], "n");
            assert_eq!(r["evidence"][0]["value"], n, "request {i}: {r}");
        }
        assert_eq!(
            results[3].as_ref().unwrap().review.as_ref().unwrap().role,
            "acme.desk"
        );
    }

    #[test]
    fn a_submitted_decision_is_acknowledged_only_once_its_record_is_durable() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let log = rt.log().unwrap();
        let held = log.hold_writer();
        let mut pending: Vec<Pending> = (0..3)
            .map(|n| {
                let text = format!(r#"{{"n": {}}}"#, n * 6);
                rt.submit("p", Input::Json(&text), Options::default())
                    .unwrap()
            })
            .collect();
        for (i, p) in pending.iter_mut().enumerate() {
            assert_eq!(p.seq(), Some(i as u64));
            assert!(
                is_pending(p),
                "decision {i} answered before its record was written"
            );
        }
        assert_eq!(log.size(), 0);
        drop(held);
        let verdicts = [Verdict::Allow, Verdict::Allow, Verdict::Deny];
        for (i, p) in pending.into_iter().enumerate() {
            let decided = block_on(p).unwrap();
            assert!(
                log.size() > i as u64,
                "decision {i} acknowledged before durable"
            );
            assert!(!decided.may_block());
            let o = rt.finish(decided).unwrap();
            assert_eq!(o.seq, Some(i as u64));
            assert_eq!(o.verdict, verdicts[i]);
            assert_eq!(record(&rt, i as u64)["evidence"][0]["value"], i * 6);
        }
        // A review is handed to the sink on finishing, which may block.
        let review = block_on(
            rt.submit("p", Input::Json(r#"{"n": 5}"#), Options::default())
                .unwrap(),
        )
        .unwrap();
        assert!(review.may_block());
        assert_eq!(review.outcome().verdict, Verdict::Review);
    }

    #[test]
    fn a_log_that_fails_fails_every_decision_closed() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        let log = rt.log().unwrap();
        log.fail_next_batch();
        let first = rt
            .submit("p", Input::Json(r#"{"n": 1}"#), Options::default())
            .unwrap();
        assert!(matches!(
            block_on(first),
            Err(RuntimeError::Log(LogError::Failed(_)))
        ));
        // From then on nothing is acknowledged, whichever way it is asked.
        assert!(matches!(
            rt.decide("p", Input::Json(r#"{"n": 1}"#)),
            Err(RuntimeError::Log(_))
        ));
        let batch = [Request {
            policy: "p",
            input: Input::Json(r#"{"n": 2}"#),
            options: Options::default(),
        }; 3];
        let results = rt.decide_many(&batch);
        assert_eq!(results.len(), 3);
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(RuntimeError::Log(_))))
        );
        assert!(
            rt.submit("p", Input::Json(r#"{"n": 1}"#), Options::default())
                .is_err()
        );
        assert_eq!(log.size(), 0);
    }

    #[test]
    fn a_batch_waiting_on_a_failing_write_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let rt = runtime(dir.path());
        rt.log().unwrap().fail_next_batch();
        let batch = [Request {
            policy: "p",
            input: Input::Json(r#"{"n": 2}"#),
            options: Options::default(),
        }; 4];
        // The batch is queued, then its write fails: the parked thread is told, not left.
        let results = rt.decide_many(&batch);
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(RuntimeError::Log(LogError::Failed(_)))))
        );
        assert_eq!(rt.log().unwrap().size(), 0);
    }

    /// A module's policy and action names (and the name asked for) reach a terminal in these
    /// messages: the characters that show nothing are escaped, never written as they are.
    #[test]
    fn unknown_policy_and_action_messages_escape_control_characters() {
        let e = RuntimeError::UnknownPolicy {
            policy: "x\u{1b}[2J".into(),
            known: vec!["p\u{1b}l".into(), "q\u{202e}r".into()],
        };
        let m = e.to_string();
        assert!(!m.contains(['\u{1b}', '\u{202e}']), "{m:?}");
        assert!(m.contains("`x\\u{1b}[2J`"), "{m}");
        assert!(m.contains("are: p\\u{1b}l, q\\u{202e}r"), "{m}");
        let e = RuntimeError::UnknownAction {
            action: "a\u{1b}[2J".into(),
            known: vec!["s\u{1b}nd".into()],
        };
        let m = e.to_string();
        assert!(!m.contains('\u{1b}'), "{m:?}");
        assert!(
            m.contains("`a\\u{1b}[2J`; the guarded actions are: s\\u{1b}nd"),
            "{m}"
        );
    }
}
