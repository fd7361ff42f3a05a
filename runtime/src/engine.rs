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

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
use ed25519_dalek::VerifyingKey;

use crate::bind::{self, BindError, BindErrorKind, Bound};
use crate::connectors::{Connectors, Performed};
use crate::interp::{self, BAD_INPUT, Decision, FixedSignals, Signals};
use crate::ir::{Program, SignalDecl, Verdict};
use crate::jit::{self, JitModule};
use crate::module::{self, LoadedModule, ModuleError, hex};
use crate::proof::evidence::{self, ReadSet};
use crate::proof::record::{
    Body, DecisionRecord, Entry, Evidence, ReviewTerms, SignalRead, encode, encode_with_evidence,
    time_text, value_json,
};
use crate::proof::{LogError, ProofLog};
use crate::value::Value;

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
    /// The module and index of policy `name` (short or qualified name, or `policy@action`).
    pub fn policy(&self, name: &str) -> Option<(&Arc<LoadedPolicies>, usize)> {
        self.modules
            .iter()
            .find_map(|m| m.program().policy(name).map(|(i, _)| (m, i)))
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
    /// The proof log refused the record: the decision was *not* made (never acknowledged
    /// without proof).
    Log(LogError),
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Io(m) => f.write_str(m),
            RuntimeError::Module(e) => write!(f, "module refused: {e}"),
            RuntimeError::Conflict { policy, module } => write!(
                f,
                "policy `{policy}` is already defined by module `{module}`; unload it, or load \
                 this module under the name `{module}` to replace it"
            ),
            RuntimeError::UnknownPolicy { policy, known } => write!(
                f,
                "no loaded module has a policy `{policy}`; the policies are: {}",
                if known.is_empty() {
                    "(none: load a module first)".to_string()
                } else {
                    known.join(", ")
                }
            ),
            RuntimeError::Log(e) => write!(f, "the decision could not be proven: {e}"),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// A decision's input.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// JSON text (see `docs/runtime.md`): the action's parameters, `now`, `signals`.
    Json(&'a str),
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
    /// What went wrong, for a decision that failed closed.
    pub error: Option<String>,
    /// The proof record's sequence number (`None` without a log).
    pub seq: Option<u64>,
    /// The module's content hash, hex.
    pub module: String,
    /// The policy's qualified name.
    pub policy: String,
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
}

fn keyword<S: serde::Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.keyword())
}

/// The runtime: modules and, optionally, the proof log.
pub struct Runtime {
    modules: ArcSwap<ModuleSet>,
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

/// Records every signal read, for the proof record.
struct Recording<'a> {
    inner: &'a dyn Signals,
    reads: std::cell::RefCell<Vec<(u32, Value)>>,
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
        let bytes = std::fs::read(path)
            .map_err(|e| RuntimeError::Io(format!("cannot read `{}`: {e}", path.display())))?;
        self.load_bytes(name, &bytes, trust)
    }

    /// Loads a module from its bytes under `name` (replacing the module of that name): verified
    /// as [`module::load`] does (and signed by `trust`, when given), kept in the log's folder
    /// for replay, then swapped in atomically.
    pub fn load_bytes(
        &self,
        name: &str,
        bytes: &[u8],
        trust: Option<&VerifyingKey>,
    ) -> Result<ModuleInfo, RuntimeError> {
        let entry = self.prepare(name, bytes, trust)?;
        let info = info(&entry);
        let mut result = Ok(());
        self.modules.rcu(|set| {
            let mut modules: Vec<Arc<LoadedPolicies>> = set
                .modules
                .iter()
                .filter(|m| m.name != name)
                .cloned()
                .collect();
            result = check_conflicts(&modules, &entry);
            if result.is_err() {
                // Keep the set as it is.
                return ModuleSet {
                    modules: set.modules.clone(),
                };
            }
            modules.push(Arc::clone(&entry));
            ModuleSet { modules }
        });
        result?;
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
        let infos = entries.iter().map(|e| info(e)).collect();
        self.modules.store(Arc::new(ModuleSet { modules: entries }));
        Ok(infos)
    }

    /// Unloads the module named `name`; whether there was one.
    pub fn unload(&self, name: &str) -> bool {
        let mut found = false;
        self.modules.rcu(|set| {
            found = set.modules.iter().any(|m| m.name == name);
            ModuleSet {
                modules: set
                    .modules
                    .iter()
                    .filter(|m| m.name != name)
                    .cloned()
                    .collect(),
            }
        });
        found
    }

    fn prepare(
        &self,
        name: &str,
        bytes: &[u8],
        trust: Option<&VerifyingKey>,
    ) -> Result<Arc<LoadedPolicies>, RuntimeError> {
        let loaded = module::load(bytes, trust).map_err(RuntimeError::Module)?;
        if let Some(log) = &self.log {
            log.store_module(&loaded.content_hash, bytes)
                .map_err(RuntimeError::Log)?;
        }
        let program = &loaded.module.program;
        let read_sets = program
            .policies
            .iter()
            .map(|p| ReadSet::of_policy(program, p))
            .collect();
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
        let set = self.modules.load();
        let Some((m, index)) = set.policy(policy) else {
            return Err(RuntimeError::UnknownPolicy {
                policy: policy.to_string(),
                known: set
                    .modules
                    .iter()
                    .flat_map(|m| m.program().policies.iter().map(|p| p.name.clone()))
                    .collect(),
            });
        };
        let m = Arc::clone(m);
        drop(set);
        let program = m.program();
        let pol = &program.policies[index];
        let owned;
        let bound = match input {
            Input::Bound(b) => Ok(b),
            Input::Json(text) => match bind::bind_json(program, index, text) {
                Ok(b) => {
                    owned = b;
                    Ok(&owned)
                }
                Err(e) => Err(e),
            },
            Input::Value(v) => match bind::bind_value(program, index, v) {
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
                Err(BindError {
                    kind: BindErrorKind::UnknownField,
                    path: "signals".to_string(),
                    message:
                        "signals are read from the network here; leave `signals` out of the input"
                            .to_string(),
                })
            }
            other => other,
        };
        let now_wall = jiff::Timestamp::now().as_millisecond();
        let (decision, at_ms, evidence, evidence_json, signals) = match &bound {
            Err(e) => (
                // Only the kind and path are kept: the message may quote a personal value.
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
                let fixed = FixedSignals(b.signals.clone());
                let network = match (&connectors, options.signals) {
                    (Some(c), None) => Some(c.signals(program, at)),
                    _ => None,
                };
                let inner: &dyn Signals = match (options.signals, &network) {
                    (Some(s), _) => s,
                    (None, Some(n)) => n.as_ref(),
                    (None, None) => &fixed,
                };
                let recording = Recording {
                    inner,
                    reads: std::cell::RefCell::new(Vec::new()),
                };
                // A compiled policy reads no signal, so the recording stays empty on that path.
                let compiled = m
                    .jit
                    .as_ref()
                    .filter(|j| j.unsupported(index).is_none())
                    .and_then(|j| j.decide(index, &b.args, at));
                let d = match compiled {
                    Some(d) => {
                        self.jit_decisions.fetch_add(1, Ordering::Relaxed);
                        d
                    }
                    None => interp::decide(program, index, &b.args, at, &recording),
                };
                let reads = recording.reads.into_inner();
                // Only a review case needs the evidence as values; otherwise it goes straight
                // into the record's bytes (the same bytes, without building the items).
                let subject = options.subject.unwrap_or("");
                let (evidence, evidence_json) = match &self.log {
                    Some(log) if d.review.is_some() => (
                        evidence::extract(program, pol, &m.read_sets[index], &b.args, subject, log)
                            .map_err(|e| RuntimeError::Log(LogError::Failed(e)))?,
                        None,
                    ),
                    Some(log) => {
                        let mut json = Vec::with_capacity(1024);
                        evidence::extract_json(
                            program,
                            pol,
                            &m.read_sets[index],
                            &b.args,
                            subject,
                            log,
                            &mut json,
                        )
                        .map_err(|e| RuntimeError::Log(LogError::Failed(e)))?;
                        (Vec::new(), Some(json))
                    }
                    None => (Vec::new(), None),
                };
                let signals = reads
                    .iter()
                    .enumerate()
                    .map(|(n, (i, v))| SignalRead {
                        signal: program
                            .signals
                            .get(*i as usize)
                            .map_or_else(|| format!("#{i}"), |s| s.name.clone()),
                        value: value_json(program, v),
                        fetch: inner.fetch(n),
                    })
                    .collect();
                (d, at, evidence, evidence_json, signals)
            }
        };
        let review = decision.review.as_ref().map(|r| ReviewTerms {
            role: r.role.clone(),
            within_ms: r.within_ms,
            fallback: r.fallback,
            deadline: time_text(at_ms.saturating_add(r.within_ms)),
        });
        let case_evidence = if review.is_some() {
            evidence.clone()
        } else {
            Vec::new()
        };
        let signals_read = if signals.is_empty() {
            Vec::new()
        } else {
            signals.clone()
        };
        let seq = match &self.log {
            None => None,
            Some(log) => {
                let entry = Entry {
                    time: time_text(now_wall),
                    body: Body::Decision(DecisionRecord {
                        module: m.hash.clone(),
                        policy: pol.qualified.clone(),
                        at: time_text(at_ms),
                        evidence,
                        signals,
                        verdict: decision.verdict,
                        reasons: decision.reasons.clone(),
                        fired: decision.fired.clone(),
                        review: review.clone(),
                        error: decision.error.clone(),
                    }),
                };
                let rest = match evidence_json {
                    // Fails closed: a record must never lose its evidence.
                    Some(json) => encode_with_evidence(&entry, &json).ok_or_else(|| {
                        RuntimeError::Log(LogError::Failed(
                            "internal: the evidence could not be placed in the record".into(),
                        ))
                    })?,
                    None => encode(&entry),
                };
                Some(log.append_encoded(rest).map_err(RuntimeError::Log)?)
            }
        };
        // The action is carried out only once the decision allowing it is durable, and what
        // came of it is proven right after.
        let (performed, performed_seq) = match (&connectors, &bound) {
            (Some(c), Ok(b))
                if decision.verdict == Verdict::Allow && !self.halts(program, index) =>
            {
                match c.perform(program, &pol.action, &b.args) {
                    Some(p) => {
                        let seq = self.prove_performed(seq, &p)?;
                        (Some(p), seq)
                    }
                    None => (None, None),
                }
            }
            _ => (None, None),
        };
        let outcome = Outcome {
            signals: signals_read,
            performed,
            performed_seq,
            verdict: decision.verdict,
            reasons: decision.reasons,
            fired: decision.fired,
            review: review.clone(),
            case: None,
            case_error: None,
            error: decision.error,
            seq,
            module: m.hash.clone(),
            policy: pol.qualified.clone(),
            at_ms,
        };
        Ok(match &review {
            Some(terms) => self.with_case(outcome, &pol.action, terms, case_evidence),
            None => outcome,
        })
    }

    /// Whether the halt switch holds back policy `index`'s action (it guards a high-risk one).
    fn halts(&self, program: &Program, index: usize) -> bool {
        self.review
            .load()
            .as_ref()
            .is_some_and(|sink| sink.halted())
            && crate::review::halt_fallback(program, index).is_some()
    }

    /// Appends the event `action.performed` for the action the decision `decision` allowed.
    fn prove_performed(
        &self,
        decision: Option<u64>,
        p: &Performed,
    ) -> Result<Option<u64>, RuntimeError> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        let entry = Entry {
            time: time_text(jiff::Timestamp::now().as_millisecond()),
            body: Body::Event {
                name: "action.performed".to_string(),
                data: serde_json::json!({
                    "decision": decision,
                    "action": p.action,
                    "ok": p.ok,
                    "result": p.result,
                    "calls": p.calls,
                }),
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
        match sink.open_case(&case) {
            Ok(id) => outcome.case = Some(id),
            Err(e) => outcome.case_error = Some(e),
        }
        outcome
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
