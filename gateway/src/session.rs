//! One gateway session: the protocol logic between the client and the upstream server, as a
//! pure function of the messages (the I/O is in [`crate::run()`]).
//!
//! What waits on the network (the review server's halt switch and cases, the CAMARA
//! connectors' signal reads) is done in place by default. [`Session::with_work_off_loop`] (the
//! gateway's loop sets it) hands it out instead, as [`Out::Work`], for a worker thread to do
//! and give back ([`Session::worked`]): the call waits, parked, and nothing else does.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use xop_runtime::bind::{self, Bound};
use xop_runtime::connectors::{Connectors, Taped, TapedRead};
use xop_runtime::engine::Deadline;
use xop_runtime::interp::{self, BAD_INPUT, NoSignals, Signals};
use xop_runtime::ir::{AgentDef, Param, Policy, Program, SignalDecl, ToolBinding, Verdict};
use xop_runtime::proof::evidence::{self, KeyProvider, ReadPath, ReadSet};
use xop_runtime::proof::record::{Evidence, SignalFetch, time_text};
use xop_runtime::value::Value;

use crate::inflight::{self, InFlight, Limit, Progress, Timeouts};
use crate::jsonrpc::{self, Message};
use crate::policy::{
    self, BAD_CASE, BAD_REQUEST, DECIDE_TIMEOUT, HALT_UNKNOWN, HALTED, REVIEW_APPROVED,
    REVIEW_EXPIRED, REVIEW_REJECTED, UNBOUND_TOOL,
};
use crate::record::{CallRecord, Recorder, UnreadLine};

/// The protocol revision the gateway speaks, to the client and to the upstream server. A client
/// asking for another one (2026-07-28 among them) is answered with this one, as the MCP
/// lifecycle's version negotiation has it; the client decides whether to go on.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// The `_meta` key with which a retried call names its review case.
pub const CASE_META: &str = "xop/case";

/// The reason code of a request the gateway stopped waiting for because the client closed its
/// input and the answer did not come within the grace period ([`crate::run::CLOSE_GRACE`]).
pub const CLIENT_CLOSED: &str = "xop:client-closed";

/// A message passed on as its sender wrote it: `text` is what is written (the line without
/// its line break, a leading byte-order mark or carriage returns, which JSON reads as nothing),
/// `value` what it reads as.
#[derive(Debug, Clone, PartialEq)]
pub struct Verbatim {
    /// The text written.
    pub text: String,
    /// Its value.
    pub value: Json,
}

/// `line` without a leading byte-order mark, which JSON reads as nothing.
fn without_mark(line: &str) -> &str {
    line.strip_prefix('\u{feff}').unwrap_or(line)
}

impl Verbatim {
    fn new(line: &str, value: Json) -> Verbatim {
        let line = without_mark(line);
        let text = if line.contains('\r') {
            line.replace('\r', "")
        } else {
            line.to_string()
        };
        Verbatim { text, value }
    }
}

/// A message to send, or work to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// To the client (on standard output), made by the gateway.
    Client(Json),
    /// To the upstream server, made (or changed) by the gateway.
    Upstream(Json),
    /// To the client, the upstream server's message as it wrote it.
    ClientText(Verbatim),
    /// To the upstream server, the client's message as it wrote it (an allowed tool call is
    /// forwarded unchanged: the tool gets the very text that was decided on).
    UpstreamText(Verbatim),
    /// A warning for the operator (on standard error).
    Warn(String),
    /// Work that waits on the network, to do off the loop ([`Work::run`]) and give back to
    /// [`Session::worked`] (only with [`Session::with_work_off_loop`]).
    Work(Work),
}

impl Out {
    /// The message, if it goes to the client.
    pub fn to_client(&self) -> Option<&Json> {
        match self {
            Out::Client(v) | Out::ClientText(Verbatim { value: v, .. }) => Some(v),
            _ => None,
        }
    }

    /// The message, if it goes to the upstream server.
    pub fn to_upstream(&self) -> Option<&Json> {
        match self {
            Out::Upstream(v) | Out::UpstreamText(Verbatim { value: v, .. }) => Some(v),
            _ => None,
        }
    }
}

/// What a request forwarded upstream was, to treat its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Initialize,
    ToolsList,
    Other,
}

/// A call held for review.
#[derive(Debug, Clone, PartialEq)]
struct Case {
    tool: String,
    arguments: Map<String, Json>,
    deadline_ms: i64,
    fallback: Verdict,
    reasons: Vec<String>,
    /// Every role the approval needs, as the held answer says it (`a and b`).
    role: String,
}

/// The outcome of deciding one call.
#[derive(Debug, Clone)]
pub struct Decided {
    verdict: Verdict,
    reasons: Vec<String>,
    fired: Vec<String>,
    error: Option<String>,
    review: Option<xop_runtime::ir::Review>,
    bound: Option<Bound>,
    /// The signals the decision read, to prove it with exactly those values.
    reads: Vec<TapedRead>,
}

impl Decided {
    fn refused(reason: &str, error: String) -> Decided {
        Decided {
            verdict: Verdict::Deny,
            reasons: vec![reason.to_string()],
            fired: Vec::new(),
            error: Some(error),
            review: None,
            bound: None,
            reads: Vec::new(),
        }
    }
}

/// A call held for review, as a [`ReviewDesk`] receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldCall<'a> {
    /// The agent's qualified name.
    pub agent: &'a str,
    /// The tool called.
    pub tool: &'a str,
    /// The action's qualified name.
    pub action: &'a str,
    /// The review's reasons.
    pub reasons: &'a [String],
    /// The role that decides.
    pub role: &'a str,
    /// Other roles to be approved too (review rules of several roles fired).
    pub also: &'a [String],
    /// The deadline (ms since the epoch), after which the fallback applies.
    pub deadline_ms: i64,
    /// How long the role has, in milliseconds.
    pub within_ms: i64,
    /// What applies when nobody decides in time.
    pub fallback: Verdict,
    /// What the action's policies read of the call's arguments, as their records keep it
    /// (`@personal` values hashed), so that the reviewer sees what they decide on.
    pub evidence: &'a [Evidence],
}

/// A [`HeldCall`] that owns its parts, to hand to another thread.
#[derive(Debug, Clone, PartialEq)]
struct OwnedCall {
    agent: String,
    tool: String,
    action: String,
    reasons: Vec<String>,
    role: String,
    also: Vec<String>,
    deadline_ms: i64,
    within_ms: i64,
    fallback: Verdict,
    evidence: Vec<Evidence>,
}

impl OwnedCall {
    fn held(&self) -> HeldCall<'_> {
        HeldCall {
            agent: &self.agent,
            tool: &self.tool,
            action: &self.action,
            reasons: &self.reasons,
            role: &self.role,
            also: &self.also,
            deadline_ms: self.deadline_ms,
            within_ms: self.within_ms,
            fallback: self.fallback,
            evidence: &self.evidence,
        }
    }
}

/// What became of a review case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Nobody decided yet.
    Pending,
    /// A reviewer approved the call: its retry is forwarded.
    Approved {
        /// Who.
        by: String,
    },
    /// A reviewer rejected the call: its retry is refused.
    Rejected {
        /// Who.
        by: String,
    },
    /// The desk applied the case's fallback (its deadline passed there, or its halt switch
    /// closed the case): the retry gets the fallback at once.
    Fallback {
        /// What applied it (`deadline`, `halt`).
        by: String,
    },
}

/// Where review cases are opened and decided: the seam for the review queue (DESIGN §5), whose
/// authenticated reviewers approve or reject cases. A desk is shared with the threads that ask
/// it off the gateway's loop, hence `&self` and `Sync`.
pub trait ReviewDesk: Send + Sync {
    /// Opens a case for `call`; its id (which the client must not be able to guess).
    fn open(&self, call: &HeldCall<'_>) -> Result<String, String>;
    /// What became of case `id`.
    fn resolution(&self, id: &str) -> Resolution;
    /// Whether the operator's halt switch is on: a high-risk call (an action a policy with a
    /// `review` rule guards) that is not denied then gets its fallback, as in `xop serve`.
    /// An error (the desk could not be asked) is taken as on: the gateway fails closed.
    fn halted(&self) -> Result<bool, String> {
        Ok(false)
    }
    /// Whether asking it takes a round trip over the network (or any time worth not waiting
    /// for on the loop): the gateway's loop then asks it from a worker thread. Yes unless
    /// said otherwise.
    fn remote(&self) -> bool {
        true
    }
    /// Whether anyone can approve or reject its cases (the held answer then says to retry
    /// after approval; otherwise, that only the deadline's fallback will apply).
    fn approvable(&self) -> bool {
        true
    }
}

/// The default desk: cases known to this process only, with random ids, that nobody can
/// approve or reject here, so only their deadline's fallback resolves them.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalDesk;

impl ReviewDesk for LocalDesk {
    fn open(&self, _call: &HeldCall<'_>) -> Result<String, String> {
        Ok(new_case_id())
    }

    fn resolution(&self, _id: &str) -> Resolution {
        Resolution::Pending
    }

    fn remote(&self) -> bool {
        false
    }

    fn approvable(&self) -> bool {
        false
    }
}

/// Work a call waits for, done off the gateway's loop: a question to the review desk, or the
/// decision itself when it reads signals through the connectors. [`Work::run`] does it (it may
/// take seconds: the review server's round trip, its timeout), and [`Session::worked`] takes
/// what it gave.
#[derive(Clone)]
pub struct Work {
    job: u64,
    task: Task,
}

#[derive(Clone)]
enum Task {
    Decide {
        program: Arc<Program>,
        context: Arc<Map<String, Json>>,
        connectors: Arc<dyn Connectors>,
        binding: ToolBinding,
        arguments: Map<String, Json>,
        now_ms: i64,
        /// When its signal reads must be done by ([`Session::with_decide_timeout`]).
        deadline: Deadline,
    },
    Halted(Arc<dyn ReviewDesk>),
    Resolution(Arc<dyn ReviewDesk>, String),
    Open(Arc<dyn ReviewDesk>, Box<OwnedCall>),
}

impl Task {
    fn run(self) -> Answer {
        match self {
            Task::Decide {
                program,
                context,
                connectors,
                binding,
                arguments,
                now_ms,
                deadline,
            } => Answer::Decided(Box::new(decide(
                &program,
                &context,
                Some((connectors.as_ref(), &deadline)),
                &binding,
                &arguments,
                now_ms,
            ))),
            Task::Halted(desk) => Answer::Halted(desk.halted()),
            Task::Resolution(desk, id) => Answer::Resolution(desk.resolution(&id)),
            Task::Open(desk, call) => Answer::Opened(desk.open(&call.held())),
        }
    }

    /// Whether it waits on the network.
    fn remote(&self) -> bool {
        match self {
            Task::Decide { .. } => true,
            Task::Halted(d) | Task::Resolution(d, _) | Task::Open(d, _) => d.remote(),
        }
    }

    fn stage(&self) -> Stage {
        match self {
            Task::Decide { .. } => Stage::Decide,
            Task::Halted(_) => Stage::Halt,
            Task::Resolution(..) => Stage::Resolve,
            Task::Open(..) => Stage::Open,
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Task::Decide { .. } => "decide (reading signals)",
            Task::Halted(_) => "ask the halt switch",
            Task::Resolution(..) => "ask a review case",
            Task::Open(..) => "open a review case",
        }
    }
}

impl Work {
    /// Which job it is.
    pub fn job(&self) -> u64 {
        self.job
    }

    /// Does the work (on any thread); hand what it gives to [`Session::worked`].
    pub fn run(self) -> Worked {
        Worked {
            job: self.job,
            answer: self.task.run(),
        }
    }
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("job", &self.job)
            .field("task", &self.task.what())
            .finish()
    }
}

impl PartialEq for Work {
    fn eq(&self, other: &Work) -> bool {
        self.job == other.job
    }
}

/// What a [`Work`] gave.
#[derive(Debug)]
pub struct Worked {
    job: u64,
    answer: Answer,
}

impl Worked {
    /// Which job it was.
    pub fn job(&self) -> u64 {
        self.job
    }
}

#[derive(Debug)]
enum Answer {
    Decided(Box<Decided>),
    Halted(Result<bool, String>),
    Resolution(Resolution),
    Opened(Result<String, String>),
}

/// Where a call is in its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// To be decided (by the policies, reading signals).
    Decide,
    /// Decided; the halt switch to ask, if the action is high-risk.
    Halt,
    /// The verdict to act on.
    Verdict,
    /// A retry of a held call: the case's resolution asked.
    Resolve,
    /// Held: the case being opened.
    Open,
}

/// A tool call on its way: waiting for work ([`Out::Work`]), or being decided.
struct Parked {
    id: Json,
    key: String,
    binding: ToolBinding,
    arguments: Map<String, Json>,
    case_id: Option<String>,
    now_ms: i64,
    /// The request as the client wrote it, forwarded if allowed.
    request: Verbatim,
    decided: Option<Decided>,
    stage: Stage,
    /// The deadline of its decision's signal reads, once they are handed out: a client that
    /// cancels the call gives it up ([`Deadline::give_up`]), so no read starts after that.
    deadline: Option<Deadline>,
}

/// A gateway session.
pub struct Session<R: Recorder> {
    program: Arc<Program>,
    agent: AgentDef,
    context: Arc<Map<String, Json>>,
    recorder: R,
    inflight: InFlight,
    cases: HashMap<String, Case>,
    upstream_alive: bool,
    clock: Box<dyn Fn() -> i64 + Send>,
    monotonic: Box<dyn Fn() -> Instant + Send>,
    desk: Arc<dyn ReviewDesk>,
    connectors: Option<Arc<dyn Connectors>>,
    /// How long a decision's signal reads may take ([`Session::with_decide_timeout`]).
    decide_timeout: Duration,
    /// Hand out the work that waits on the network ([`Out::Work`]) instead of doing it.
    offload: bool,
    /// The calls waiting for their work, by job.
    parked: HashMap<u64, Parked>,
    next_job: u64,
}

impl<R: Recorder> std::fmt::Debug for Session<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("agent", &self.agent.qualified)
            .field("pending", &self.inflight.len())
            .field("parked", &self.parked.len())
            .field("cases", &self.cases.len())
            .finish_non_exhaustive()
    }
}

/// Picks the agent: the one named, or the module's only one.
pub fn pick_agent<'p>(program: &'p Program, name: Option<&str>) -> Result<&'p AgentDef, String> {
    let names = || {
        program
            .agents
            .iter()
            .map(|a| a.qualified.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match name {
        Some(n) => program.agent(n).ok_or_else(|| {
            if program.agents.is_empty() {
                format!("the module has no agent `{n}`, nor any other: declare one (`agent {n} {{ tool \"…\" -> action(…) }}`) and rebuild the module")
            } else {
                format!("the module has no agent `{n}`; its agents are: {}", names())
            }
        }),
        None => match program.agents.as_slice() {
            [only] => Ok(only),
            [] => Err("the module has no agent: declare one (`agent NAME { tool \"…\" -> action(…) }`) and rebuild the module".into()),
            _ => Err(format!(
                "the module has several agents ({}): choose one with --agent NAME",
                names()
            )),
        },
    }
}

/// Checks the subject against the parameters it gives to the agent's tools: each value the
/// subject gives for a parameter that a tool does not take from the call is bound to the
/// parameter's type, as a call would bind it. The first value that does not fit, with its
/// path (`to.vip: expected a Bool, found 5`) and the tool it is for.
pub fn check_subject(
    program: &Program,
    agent: &AgentDef,
    subject: &Map<String, Json>,
) -> Result<(), String> {
    for b in &agent.tools {
        let given: Vec<Param> = b
            .params
            .iter()
            .enumerate()
            .filter(|(i, p)| b.argument_for(*i).is_none() && subject.contains_key(&p.name))
            .map(|(_, p)| p.clone())
            .collect();
        if given.is_empty() {
            continue;
        }
        // The binder takes a policy: one whose parameters are those the subject gives.
        let input: Map<String, Json> = given
            .iter()
            .filter_map(|p| subject.get(&p.name).map(|v| (p.name.clone(), v.clone())))
            .collect();
        let mut probe = program.clone();
        probe.policies = vec![Policy {
            name: "subject".into(),
            qualified: "subject".into(),
            action: b.action.clone(),
            slots: u32::try_from(given.len()).unwrap_or(u32::MAX),
            params: given,
            now_slot: None,
            rules: Vec::new(),
        }];
        if let Err(e) = bind::bind_value(&probe, 0, &Json::Object(input)) {
            return Err(format!(
                "{e} (the subject's value for tool \"{}\", whose action `{}` takes it)",
                b.tool, b.action
            ));
        }
    }
    Ok(())
}

impl<R: Recorder> Session<R> {
    /// A session for `agent` (or the module's only agent) of `program`, with `context` (the
    /// session's subject: values of the action parameters that tool calls do not give). A
    /// subject value that does not fit its parameter is refused ([`check_subject`]).
    pub fn new(
        program: Program,
        agent: Option<&str>,
        context: Map<String, Json>,
        recorder: R,
    ) -> Result<Session<R>, String> {
        let agent = pick_agent(&program, agent)?.clone();
        check_subject(&program, &agent, &context)?;
        Ok(Session {
            program: Arc::new(program),
            agent,
            context: Arc::new(context),
            recorder,
            inflight: InFlight::new(Timeouts::default()),
            cases: HashMap::new(),
            upstream_alive: true,
            clock: Box::new(|| jiff::Timestamp::now().as_millisecond()),
            monotonic: Box::new(Instant::now),
            desk: Arc::new(LocalDesk),
            connectors: None,
            decide_timeout: DEFAULT_DECIDE_TIMEOUT,
            offload: false,
            parked: HashMap::new(),
            next_job: 0,
        })
    }

    /// Replaces the clock (ms since the epoch), for tests of review deadlines.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + 'static) -> Session<R> {
        self.clock = Box::new(clock);
        self
    }

    /// How long requests forwarded upstream are waited for ([`Timeouts::default`]: 60 s, reset
    /// by progress, at most 600 s).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Session<R> {
        self.inflight.set_timeouts(timeouts);
        self
    }

    /// Replaces the monotonic clock that upstream timeouts are measured with, for tests. The
    /// loop of [`crate::run()`] sleeps until [`Session::next_deadline`] by the real clock, so a
    /// session given another clock is for driving by hand.
    pub fn with_monotonic_clock(
        mut self,
        clock: impl Fn() -> Instant + Send + 'static,
    ) -> Session<R> {
        self.monotonic = Box::new(clock);
        self
    }

    /// The timeouts of requests forwarded upstream.
    pub fn timeouts(&self) -> Timeouts {
        self.inflight.timeouts()
    }

    /// Replaces where review cases are opened and decided (the in-process [`LocalDesk`] by
    /// default).
    pub fn with_desk(mut self, desk: impl ReviewDesk + 'static) -> Session<R> {
        self.desk = Arc::new(desk);
        self
    }

    /// Reads the signals the policies declare through `connectors` (the CAMARA connectors);
    /// without them every signal is absent and the policies' absence handling applies.
    pub fn with_connectors(mut self, connectors: Box<dyn Connectors>) -> Session<R> {
        self.connectors = Some(Arc::from(connectors));
        self
    }

    /// How long the signal reads of a call's decision may take, counted from when the call
    /// reaches its decision ([`DEFAULT_DECIDE_TIMEOUT`] unless given): the connectors start no
    /// request after it and cut one in flight off at it, so a network that does not answer
    /// holds the call about this long, not for the connectors' own timeouts and retries. A read
    /// so stopped is absent (the policies' absence handling applies: fail closed); the call is
    /// still decided and recorded, and its reasons gain [`DECIDE_TIMEOUT`]. At most
    /// [`MAX_DECIDE_TIMEOUT`] (a longer one is taken as that).
    pub fn with_decide_timeout(mut self, timeout: Duration) -> Session<R> {
        self.decide_timeout = timeout.min(MAX_DECIDE_TIMEOUT);
        self
    }

    /// Hands out what waits on the network (a remote desk's questions, decisions reading
    /// signals) as [`Out::Work`], for the caller to do on another thread and give back to
    /// [`Session::worked`], instead of doing it in place: the gateway's loop, which must never
    /// wait on the network, sets it.
    pub fn with_work_off_loop(mut self) -> Session<R> {
        self.offload = true;
        self
    }

    /// The recorder (to close the log at the end).
    pub fn into_recorder(self) -> R {
        self.recorder
    }

    /// The recorder, borrowed.
    pub fn recorder(&self) -> &R {
        &self.recorder
    }

    /// How many requests wait for an answer: forwarded upstream, or parked on work.
    pub fn pending(&self) -> usize {
        self.inflight.len() + self.parked.len()
    }

    /// The tools listed to the client, in binding order.
    pub fn listed_tools(&self) -> Vec<&str> {
        self.agent
            .tools
            .iter()
            .filter(|b| policy::listable(&self.program, b, &self.context))
            .map(|b| b.tool.as_str())
            .collect()
    }

    /// Warnings about the configuration: bound tools that will not be listed, and why.
    pub fn startup_warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.agent.tools {
            if !policy::can_allow(&self.program, &b.action) {
                out.push(format!(
                    "tool \"{}\" is not listed: no policy can allow `{}`",
                    b.tool, b.action
                ));
                continue;
            }
            let missing: Vec<&str> = policy::context_params(b)
                .into_iter()
                .filter(|p| !self.context.contains_key(*p))
                .collect();
            if !missing.is_empty() {
                out.push(format!(
                    "tool \"{}\" is not listed: the subject does not give {} of `{}`; add {} to --subject",
                    b.tool,
                    missing.join(", "),
                    b.action,
                    missing
                        .iter()
                        .map(|m| format!("\"{m}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        out
    }

    /// Whether a request with this id key is still being answered.
    fn in_use(&self, key: &str) -> bool {
        self.inflight.contains(key) || self.parked.values().any(|p| p.key == key)
    }

    /// Handles a line from the client.
    pub fn from_client(&mut self, line: &str) -> Vec<Out> {
        let (value, message) = match jsonrpc::parse(line) {
            Ok(m) => m,
            Err(bad) => {
                // A tool call that cannot be read is still a tool call the agent attempted.
                let mut outs = self.record_unreadable_call(line, bad.message());
                outs.push(Out::Client(bad.response));
                return outs;
            }
        };
        match message {
            Message::Request { id, method, params } => {
                if !self.upstream_alive {
                    return vec![gone(&id)];
                }
                let tool = jsonrpc::is_tool_call(&method).then(|| tool_name(&params));
                // Answers are matched to requests by id: a second request in flight under the
                // same id would take the first one's place (an unfiltered tool list, say).
                let key = jsonrpc::id_key(&id);
                if self.in_use(&key) {
                    return self.protocol_refusal(
                        Some(&id),
                        jsonrpc::INVALID_REQUEST,
                        "this id is already used by a request still in flight; give each \
                         request its own id",
                        tool.as_deref(),
                        BAD_REQUEST,
                    );
                }
                // Nor may it take the place of one the gateway stopped waiting for: the late
                // answer would be taken for this request's.
                if self.inflight.is_abandoned(&key) {
                    return self.protocol_refusal(
                        Some(&id),
                        jsonrpc::INVALID_REQUEST,
                        "this id is already used by a request that timed out or was cancelled, \
                         whose answer may still come; give each request its own id",
                        tool.as_deref(),
                        BAD_REQUEST,
                    );
                }
                match method.as_str() {
                    "initialize" => self.initialize(&id, value),
                    // The modern era's probe: answered as a server of the handshake era does, so
                    // that a dual-era client falls back to `initialize` (never forwarded: a modern
                    // upstream would lock the client into an era the gateway does not speak).
                    "server/discover" => vec![Out::Client(jsonrpc::error(
                        &id,
                        jsonrpc::METHOD_NOT_FOUND,
                        "method not found: server/discover (this gateway speaks MCP 2025-11-25: \
                         use the initialize handshake)",
                        None,
                    ))],
                    "tools/list" => {
                        let out = Out::UpstreamText(Verbatim::new(line, value));
                        self.forward(&id, out, Pending::ToolsList)
                    }
                    "tools/call" => self.call(&id, line, value, &params),
                    // Method names are case-sensitive, but an upstream that matched them
                    // loosely (in another case, trimmed, without zero-width characters or
                    // doubled slashes) would run `Tools/Call ` undecided: never forwarded.
                    m if jsonrpc::gated_variant(m).is_some() => {
                        let gated = jsonrpc::gated_variant(m).unwrap_or_default();
                        self.protocol_refusal(
                            Some(&id),
                            jsonrpc::METHOD_NOT_FOUND,
                            &format!(
                                "method not found: {} (it reads as `{gated}` to a loose reader; \
                                 method names are exact: `tools/call`, `tools/list`)",
                                Json::String(m.to_string())
                            ),
                            tool.as_deref(),
                            BAD_REQUEST,
                        )
                    }
                    _ => {
                        let out = Out::UpstreamText(Verbatim::new(line, value));
                        self.forward(&id, out, Pending::Other)
                    }
                }
            }
            // A request sent without an id (`tools/call` as a "notification") must not reach
            // the upstream server undecided: only MCP's own notifications pass, and nothing can
            // be answered to a message without an id, so the operator is told.
            Message::Notification { method, .. } if !method.starts_with("notifications/") => {
                let mut outs = Vec::new();
                if jsonrpc::is_tool_call(&method) {
                    let tool = value.get("params").map(tool_name).unwrap_or_default();
                    outs.extend(self.record_refusal(&tool, BAD_REQUEST));
                }
                outs.push(Out::Warn(format!(
                    "dropped a client message `{method}` without an id: only `notifications/…` \
                     may be sent without one (a request needs an id to be decided and answered)"
                )));
                outs
            }
            Message::Notification { method } => {
                if !self.upstream_alive {
                    return Vec::new();
                }
                // The client gave up on a request: stop waiting for it too (its late answer is
                // then dropped), and let the upstream know, as before. A call still being
                // decided never reached the upstream: it is dropped here, not forwarded later.
                if method == "notifications/cancelled"
                    && let Some(key) = value
                        .get("params")
                        .and_then(|p| p.get("requestId"))
                        .and_then(token_key)
                {
                    if let Some(job) = self
                        .parked
                        .iter()
                        .find(|(_, p)| p.key == key)
                        .map(|(j, _)| *j)
                    {
                        // Its signal reads stop too: no new attempt starts (one under way ends
                        // at its own timeout, its answer dropped).
                        if let Some(d) = self.parked.remove(&job).and_then(|p| p.deadline) {
                            d.give_up();
                        }
                        return Vec::new();
                    }
                    self.inflight.cancel(&key);
                }
                vec![Out::UpstreamText(Verbatim::new(line, value))]
            }
            Message::Response { .. } => {
                if self.upstream_alive {
                    vec![Out::UpstreamText(Verbatim::new(line, value))]
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// Handles a line from the client that could not be read as text: too long
    /// ([`jsonrpc::MAX_MESSAGE`]) or not UTF-8, as `line` says, with its length. `text` is the
    /// line with its bytes that are not UTF-8 replaced (only to tell what it was: it is never
    /// forwarded), or, for a line too long, its first [`jsonrpc::SNIFF_HEAD`] bytes (the rest was
    /// dropped unread). Refused with id `null` (`-32600` when too long, `-32700` otherwise), and
    /// recorded as every refused tool call is (`xop:bad-request`), each record saying why the
    /// line was refused and its length (`line`): a line not UTF-8, read whole, as a line that is
    /// not a valid message (one record per tool call it reads as, a batch's included); a line
    /// cut short, once, unless its head reads as a message of another method (`ping`): a
    /// `tools/call`, a batch or a head that names no method may hold tool calls the gateway
    /// cannot tell. A record that cannot be written is a warning (the line is refused anyway).
    pub fn client_unreadable(&mut self, text: &str, why: &str, line: UnreadLine) -> Vec<Out> {
        let mut outs = if line.too_long {
            let other_method = jsonrpc::sniff(text, "method")
                .as_ref()
                .and_then(Json::as_str)
                .is_some_and(|m| !jsonrpc::is_tool_call(m));
            if other_method {
                Vec::new()
            } else {
                self.record_refusal_of("", BAD_REQUEST, Some(line))
            }
        } else {
            self.record_unreadable_call_of(text, Some(line))
        };
        let (code, what) = if line.too_long {
            (jsonrpc::INVALID_REQUEST, "invalid request")
        } else {
            (jsonrpc::PARSE_ERROR, "parse error")
        };
        outs.push(Out::Client(jsonrpc::error(
            &Json::Null,
            code,
            &format!("{what}: {why}"),
            None,
        )));
        outs
    }

    /// A tool call that was refused before it could be decided: the answer (when it has an
    /// id), after its record (an `mcp.tools_call` event with `reason`, as for an unbound tool).
    fn protocol_refusal(
        &mut self,
        id: Option<&Json>,
        code: i64,
        message: &str,
        tool: Option<&str>,
        reason: &str,
    ) -> Vec<Out> {
        let mut outs = match tool {
            Some(t) => self.record_refusal(t, reason),
            None => Vec::new(),
        };
        if let Some(id) = id {
            outs.push(Out::Client(jsonrpc::error(id, code, message, None)));
        }
        outs
    }

    /// Records a tool call refused before it was decided: an event only. A failure to record
    /// it is a warning (the call is refused anyway).
    fn record_refusal(&mut self, tool: &str, reason: &str) -> Vec<Out> {
        self.record_refusal_of(tool, reason, None)
    }

    /// [`Self::record_refusal`], for a call in a line refused unread (`line`), which the record
    /// describes.
    fn record_refusal_of(
        &mut self,
        tool: &str,
        reason: &str,
        line: Option<UnreadLine>,
    ) -> Vec<Out> {
        let d = Decided {
            reasons: vec![reason.to_string()],
            error: None,
            ..Decided::refused(reason, String::new())
        };
        match self.record_with(tool, None, &d, None, "mcp.tools_call", line) {
            Ok(_) => Vec::new(),
            Err(e) => vec![Out::Warn(format!(
                "a refused tool call (\"{tool}\", {reason}) could not be recorded in the proof \
                 log: {e}"
            ))],
        }
    }

    /// Records a line that is not a valid message but reads as a tool call (`method`
    /// `tools/call`, or a loose variant of it), as the agent's attempt; for a batch (refused
    /// whole), each of its elements that reads as one, one record each.
    fn record_unreadable_call(&mut self, line: &str, _why: &str) -> Vec<Out> {
        self.record_unreadable_call_of(line, None)
    }

    /// [`Self::record_unreadable_call`], for a line refused unread (`unread`: not UTF-8, its
    /// bad bytes replaced in `line`), which each record describes.
    fn record_unreadable_call_of(&mut self, line: &str, unread: Option<UnreadLine>) -> Vec<Out> {
        // A lenient reading (a key given twice: its last value), or the top of the text.
        let loose = serde_json::from_str::<Json>(without_mark(line));
        let messages = match loose {
            Ok(Json::Array(batch)) => batch,
            Ok(message) => vec![message],
            Err(_) => {
                let method = jsonrpc::sniff(line, "method");
                return if method
                    .as_ref()
                    .and_then(Json::as_str)
                    .is_some_and(jsonrpc::is_tool_call)
                {
                    self.record_refusal_of("", BAD_REQUEST, unread)
                } else {
                    Vec::new()
                };
            }
        };
        let mut outs = Vec::new();
        for message in &messages {
            let method = message.get("method").and_then(Json::as_str);
            if method.is_some_and(jsonrpc::is_tool_call) {
                let tool = message.get("params").map(tool_name).unwrap_or_default();
                outs.extend(self.record_refusal_of(&tool, BAD_REQUEST, unread));
            }
        }
        outs
    }

    /// When the earliest request forwarded upstream runs out of time, if any waits: the loop
    /// calls [`Session::expire`] then (it may find nothing due yet, when the request was
    /// answered or reported progress since).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.inflight.next_deadline()
    }

    /// Stops waiting for the requests forwarded upstream whose time is up: each gets a
    /// [`jsonrpc::REQUEST_TIMEOUT`] error, and the upstream a `notifications/cancelled` for it
    /// (except `initialize`, which MCP forbids cancelling). Their late answers are dropped.
    pub fn expire(&mut self) -> Vec<Out> {
        let now = (self.monotonic)();
        let timeouts = self.inflight.timeouts();
        let mut outs = Vec::new();
        for (request, limit) in self.inflight.expire(now) {
            let method = &request.method;
            let (option, timeout, waited) = match limit {
                Limit::Timeout => (
                    "--upstream-timeout",
                    timeouts.request,
                    format!("within {}", inflight::seconds(timeouts.request)),
                ),
                Limit::Max => (
                    "--upstream-max-timeout",
                    timeouts.max,
                    format!(
                        "within the gateway's maximum of {} for one request, progress \
                         notwithstanding",
                        inflight::seconds(timeouts.max)
                    ),
                ),
            };
            let cancel = request.kind != Pending::Initialize;
            let mut message = format!(
                "the upstream MCP server did not answer `{method}` {waited}; the gateway stopped \
                 waiting"
            );
            if cancel {
                message.push_str(" and cancelled the request upstream");
            }
            if method == "tools/call" {
                message.push_str(" (the call was allowed and forwarded: the tool may have acted)");
            }
            message.push_str(&format!(
                ". Retry later, check the upstream server, or give the gateway a longer {option}"
            ));
            outs.push(Out::Client(jsonrpc::error(
                &request.id,
                jsonrpc::REQUEST_TIMEOUT,
                &message,
                Some(json!({
                    "reasons": [UPSTREAM_TIMEOUT],
                    "method": method,
                    "timeout": u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                })),
            )));
            if cancel {
                outs.push(cancelled(&request.id, &format!("no answer {waited}")));
            }
            outs.push(Out::Warn(format!(
                "the upstream server did not answer `{method}` (id {}) {waited}; the client got \
                 error {}{}",
                request.id,
                jsonrpc::REQUEST_TIMEOUT,
                if cancel {
                    " and the upstream notifications/cancelled"
                } else {
                    ""
                }
            )));
        }
        outs
    }

    /// The client closed its input and what it still waits for did not come within `grace`:
    /// every request still forwarded upstream gets [`jsonrpc::REQUEST_TIMEOUT`] (reason
    /// [`CLIENT_CLOSED`]) and is cancelled upstream (except `initialize`), and every call still
    /// being decided (waiting for the review server) gets the same error and is not forwarded.
    pub fn client_closed(&mut self, grace: std::time::Duration) -> Vec<Out> {
        let waited = inflight::seconds(grace);
        let mut outs = Vec::new();
        for request in self.inflight.drain() {
            let method = &request.method;
            let mut message = format!(
                "the client closed its input and the upstream MCP server did not answer \
                 `{method}` within the {waited} the gateway waits then; the gateway stopped \
                 waiting"
            );
            if method == "tools/call" {
                message.push_str(" (the call was allowed and forwarded: the tool may have acted)");
            }
            outs.push(Out::Client(jsonrpc::error(
                &request.id,
                jsonrpc::REQUEST_TIMEOUT,
                &message,
                Some(json!({"reasons": [CLIENT_CLOSED], "method": method})),
            )));
            if request.kind != Pending::Initialize {
                outs.push(cancelled(
                    &request.id,
                    &format!("the client closed its input; no answer within {waited}"),
                ));
            }
        }
        let mut parked: Vec<Parked> = self.parked.drain().map(|(_, p)| p).collect();
        parked.sort_by(|a, b| a.key.cmp(&b.key));
        for p in parked {
            outs.push(Out::Client(jsonrpc::error(
                &p.id,
                jsonrpc::REQUEST_TIMEOUT,
                &format!(
                    "the client closed its input before tool \"{}\" was decided (the review \
                     server or the network had not answered within {waited}); the call was not \
                     forwarded",
                    p.binding.tool
                ),
                Some(json!({"reasons": [CLIENT_CLOSED], "method": "tools/call"})),
            )));
        }
        outs
    }

    /// Handles a line from the upstream server.
    pub fn from_upstream(&mut self, line: &str) -> Vec<Out> {
        let (mut value, message) = match jsonrpc::parse(line) {
            Ok(m) => m,
            Err(bad) => return self.upstream_unreadable(line, bad.message()),
        };
        let id = match message {
            Message::Response { id } => id,
            Message::Notification { method } if method == "notifications/progress" => {
                let token = value
                    .get("params")
                    .and_then(|p| p.get("progressToken"))
                    .and_then(token_key);
                let now = (self.monotonic)();
                return match token.map(|t| self.inflight.progress(&t, now)) {
                    // The client has its answer (a timeout, or it cancelled): progress on a
                    // request that is over is no longer for it.
                    Some(Progress::Abandoned) => Vec::new(),
                    Some(Progress::Waiting | Progress::Unknown) | None => {
                        vec![Out::ClientText(Verbatim::new(line, value))]
                    }
                };
            }
            // Its requests (sampling, elicitation, roots, ping) and other notifications go to
            // the client as they are.
            Message::Request { .. } | Message::Notification { .. } => {
                return vec![Out::ClientText(Verbatim::new(line, value))];
            }
        };
        let key = jsonrpc::id_key(&id);
        let answered = |v: Json| vec![Out::ClientText(Verbatim::new(line, v))];
        match self.inflight.answered(&key).map(|r| r.kind) {
            Some(Pending::Initialize) => {
                if value.get("error").is_some() {
                    return answered(value);
                }
                let version = value["result"]["protocolVersion"].as_str();
                let why = match version {
                    Some(PROTOCOL_VERSION) => return answered(value),
                    Some(other) => format!(
                        "the upstream MCP server speaks protocol {other}, the gateway only \
                         {PROTOCOL_VERSION}: run an upstream server that supports \
                         {PROTOCOL_VERSION}"
                    ),
                    None => "the upstream MCP server's answer to initialize gives no \
                             protocolVersion: it cannot be spoken to"
                        .to_string(),
                };
                vec![Out::Client(jsonrpc::error(
                    &id,
                    jsonrpc::INTERNAL_ERROR,
                    &why,
                    None,
                ))]
            }
            Some(Pending::ToolsList) => {
                if value.get("error").is_some() {
                    return answered(value);
                }
                let listed: BTreeSet<String> = self
                    .listed_tools()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                let Some(Json::Array(tools)) =
                    value.get_mut("result").and_then(|r| r.get_mut("tools"))
                else {
                    // Never passed on unfiltered: it might name the tools the gateway hides.
                    return vec![
                        Out::Client(jsonrpc::error(
                            &id,
                            jsonrpc::INTERNAL_ERROR,
                            "the upstream MCP server's answer to tools/list has no `tools` \
                             array for the gateway to filter, so it is not passed on",
                            None,
                        )),
                        Out::Warn(format!(
                            "the upstream server's answer to tools/list (id {id}) has no \
                             `tools` array; the client got error {}",
                            jsonrpc::INTERNAL_ERROR
                        )),
                    ];
                };
                tools.retain(|t| {
                    t.get("name")
                        .and_then(Json::as_str)
                        .is_some_and(|n| listed.contains(n))
                });
                vec![Out::Client(value)]
            }
            Some(Pending::Other) => answered(value),
            // The answer to a request the gateway stopped waiting for: the client already has
            // its answer (a timeout error) or gave up on it (cancelled).
            None if self.inflight.late(&key) => vec![Out::Warn(format!(
                "the upstream server answered id {id}, which no request waits for any more (it \
                 timed out or the client cancelled it); ignored"
            ))],
            // No request of the client waits for this answer: a second answer to one request
            // (a second, unfiltered tool list, say) or an id the client never sent. Passing it
            // on could show the agent what the gateway filtered, or answer a later request
            // that reuses the id.
            None => vec![Out::Warn(format!(
                "the upstream server answered id {id}, which no request waits for; ignored"
            ))],
        }
    }

    /// Handles a line from the upstream server that is not a valid message (not JSON-RPC, a
    /// key given twice, not UTF-8, too long): a warning, and, when its id ([`jsonrpc::sniff`]
    /// on `head`, its beginning) is that of a request waiting for the upstream's answer, an
    /// error answer to it at once ([`jsonrpc::INTERNAL_ERROR`], saying why), rather than
    /// silence until the request times out.
    pub fn upstream_unreadable(&mut self, head: &str, why: &str) -> Vec<Out> {
        let shown: String = head.chars().take(200).collect();
        let id = jsonrpc::sniff(head, "id");
        let request = id
            .as_ref()
            .and_then(|id| self.inflight.answered(&jsonrpc::id_key(id)));
        let Some(request) = request else {
            return vec![Out::Warn(format!(
                "the upstream server sent a line that is not a valid JSON-RPC message ({why}); \
                 ignored: {shown}"
            ))];
        };
        let method = &request.method;
        let mut message = format!(
            "the upstream MCP server answered `{method}` with a message that is not valid \
             JSON-RPC ({why}), so it is not passed on"
        );
        if method == "tools/call" {
            message.push_str(" (the call was allowed and forwarded: the tool may have acted)");
        }
        vec![
            Out::Client(jsonrpc::error(
                &request.id,
                jsonrpc::INTERNAL_ERROR,
                &message,
                Some(json!({"method": method})),
            )),
            Out::Warn(format!(
                "the upstream server answered `{method}` (id {}) with a message that is not \
                 valid JSON-RPC ({why}); the client got error {}: {shown}",
                request.id,
                jsonrpc::INTERNAL_ERROR
            )),
        ]
    }

    /// The upstream server exited: every request waiting for it gets an error, and so does
    /// every later one.
    pub fn upstream_gone(&mut self) -> Vec<Out> {
        self.upstream_stopped("the upstream MCP server has exited; restart the gateway")
    }

    /// The upstream server is gone for the reason `message` says (it exited, closed its input,
    /// read nothing for too long): every request waiting for it, or still being decided, gets
    /// [`jsonrpc::UPSTREAM_GONE`] with that message, and so does every later one.
    pub fn upstream_stopped(&mut self, message: &str) -> Vec<Out> {
        self.upstream_alive = false;
        let mut outs: Vec<Out> = self
            .inflight
            .drain()
            .iter()
            .map(|r| gone_because(&r.id, message))
            .collect();
        let mut parked: Vec<Parked> = self.parked.drain().map(|(_, p)| p).collect();
        parked.sort_by(|a, b| a.key.cmp(&b.key));
        outs.extend(parked.iter().map(|p| gone_because(&p.id, message)));
        outs
    }

    /// Forwards `out` (the request with id `id`) and waits for its answer, unless the upstream
    /// is gone.
    fn forward(&mut self, id: &Json, out: Out, kind: Pending) -> Vec<Out> {
        if !self.upstream_alive {
            return vec![gone(id)];
        }
        let Some(value) = out.to_upstream() else {
            return vec![out];
        };
        let method = value
            .get("method")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        // Progress the upstream reports under this token gives the request more time.
        let token = value
            .get("params")
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get("progressToken"))
            .and_then(token_key);
        let now = (self.monotonic)();
        self.inflight
            .insert(jsonrpc::id_key(id), id.clone(), kind, method, token, now);
        vec![out]
    }

    /// `initialize`: its params must be MCP's (`protocolVersion`, `capabilities`,
    /// `clientInfo` with `name` and `version`); forwarded with the gateway's version.
    fn initialize(&mut self, id: &Json, mut value: Json) -> Vec<Out> {
        let params = value.get("params");
        let wrong = match params {
            Some(Json::Object(p)) => {
                let info = p.get("clientInfo");
                if !p.get("protocolVersion").is_some_and(Json::is_string) {
                    Some("params.protocolVersion must be a string")
                } else if !p.get("capabilities").is_some_and(Json::is_object) {
                    Some("params.capabilities must be an object")
                } else if !info.is_some_and(|i| {
                    i.get("name").is_some_and(Json::is_string)
                        && i.get("version").is_some_and(Json::is_string)
                }) {
                    Some("params.clientInfo must be an object with a string `name` and `version`")
                } else {
                    None
                }
            }
            _ => Some("params are missing"),
        };
        if let Some(wrong) = wrong {
            return vec![Out::Client(jsonrpc::error(
                id,
                jsonrpc::INVALID_PARAMS,
                &format!(
                    "initialize needs params {{protocolVersion, capabilities, clientInfo: \
                     {{name, version}}}}: {wrong}"
                ),
                None,
            ))];
        }
        if let Some(Json::Object(p)) = value.get_mut("params") {
            p.insert("protocolVersion".into(), json!(PROTOCOL_VERSION));
        }
        self.forward(id, Out::Upstream(value), Pending::Initialize)
    }

    fn call(&mut self, id: &Json, line: &str, value: Json, params: &Json) -> Vec<Out> {
        let Some(name) = params.get("name").and_then(Json::as_str) else {
            return self.protocol_refusal(
                Some(id),
                jsonrpc::INVALID_PARAMS,
                "tools/call needs params.name, the tool's name",
                Some(""),
                BAD_REQUEST,
            );
        };
        let arguments = match params.get("arguments") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(a)) => a.clone(),
            Some(_) => {
                return self.protocol_refusal(
                    Some(id),
                    jsonrpc::INVALID_PARAMS,
                    "tools/call params.arguments must be an object",
                    Some(name),
                    BAD_REQUEST,
                );
            }
        };
        let case_id = params
            .get("_meta")
            .and_then(|m| m.get(CASE_META))
            .map(|c| c.as_str().map(str::to_string).ok_or(()));
        let case_id = match case_id {
            None => None,
            Some(Ok(c)) => Some(c),
            Some(Err(())) => {
                return self.protocol_refusal(
                    Some(id),
                    jsonrpc::INVALID_PARAMS,
                    &format!("params._meta[\"{CASE_META}\"] must be the case id, a string"),
                    Some(name),
                    BAD_REQUEST,
                );
            }
        };
        let Some(binding) = self.agent.tool(name).cloned() else {
            return self.unbound(id, name);
        };
        if let Some(c) = &case_id {
            let wrong = match self.cases.get(c) {
                None => Some(format!(
                    "no review case `{c}` in this session: call the tool without \
                     _meta[\"{CASE_META}\"] to have it decided (and held) anew"
                )),
                Some(case) if case.tool != name || case.arguments != arguments => Some(format!(
                    "review case `{c}` holds another call (tool \"{}\" with other arguments): \
                     retry exactly the call that was held",
                    case.tool
                )),
                Some(_) => None,
            };
            if let Some(message) = wrong {
                let mut outs = self.record_refusal(name, BAD_CASE);
                outs.push(Out::Client(jsonrpc::error(
                    id,
                    jsonrpc::BAD_CASE,
                    &message,
                    Some(json!({ "case": c })),
                )));
                return outs;
            }
        }
        let now_ms = (self.clock)();
        // A number JSON would read rounded is refused, as in a decision's input anywhere: the
        // policies would decide on another value than the tool receives.
        if let Some(e) = inexact_argument(line, &arguments) {
            let d = Decided::refused(BAD_INPUT, format!("tool \"{name}\": {e}"));
            return self.finish(id, &binding, &d, None, "mcp.tools_call", None);
        }
        let parked = Parked {
            id: id.clone(),
            key: jsonrpc::id_key(id),
            binding,
            arguments,
            case_id,
            now_ms,
            request: Verbatim::new(line, value),
            decided: None,
            stage: Stage::Decide,
            deadline: None,
        };
        self.advance(parked, None)
    }

    /// Takes what a [`Work`] gave and goes on with the call that waited for it. Work for a call
    /// that is no longer waiting (the client cancelled it, the upstream is gone) is dropped.
    pub fn worked(&mut self, worked: Worked) -> Vec<Out> {
        match self.parked.remove(&worked.job) {
            Some(p) => self.advance(p, Some(worked.answer)),
            None => Vec::new(),
        }
    }

    /// Takes call `p` as far as it goes: to its answer, or to work it must wait for (handed out
    /// as [`Out::Work`] when it waits on the network and the session is told to, done in place
    /// otherwise). `answer` is what the work it waited for gave.
    fn advance(&mut self, mut p: Parked, mut answer: Option<Answer>) -> Vec<Out> {
        loop {
            let task = match (p.stage, answer.take()) {
                (Stage::Decide, None) => match &self.connectors {
                    Some(c) => Task::Decide {
                        program: Arc::clone(&self.program),
                        context: Arc::clone(&self.context),
                        connectors: Arc::clone(c),
                        binding: p.binding.clone(),
                        arguments: p.arguments.clone(),
                        now_ms: p.now_ms,
                        // From now, by the real clock (the HTTP requests are timed by it, not
                        // by a clock a test drives): time spent waiting for a worker counts.
                        deadline: {
                            let now = Instant::now();
                            // A timeout past what the clock can add (never given, as it is
                            // capped) fails closed.
                            let d =
                                Deadline::new(now.checked_add(self.decide_timeout).unwrap_or(now));
                            // Kept with the call, for a cancel to give up.
                            p.deadline = Some(d.clone());
                            d
                        },
                    },
                    None => {
                        p.decided = Some(decide(
                            &self.program,
                            &self.context,
                            None,
                            &p.binding,
                            &p.arguments,
                            p.now_ms,
                        ));
                        p.stage = Stage::Halt;
                        continue;
                    }
                },
                (Stage::Decide, Some(Answer::Decided(d))) => {
                    p.decided = Some(*d);
                    p.stage = Stage::Halt;
                    continue;
                }
                (Stage::Halt, None) => {
                    if self.halt_terms(&p).is_none() {
                        p.stage = Stage::Verdict;
                        continue;
                    }
                    Task::Halted(Arc::clone(&self.desk))
                }
                (Stage::Halt, Some(Answer::Halted(halted))) => {
                    if let Some(outs) = self.halt_applies(&mut p, halted) {
                        return outs;
                    }
                    p.stage = Stage::Verdict;
                    continue;
                }
                (Stage::Verdict, None) => match self.act(&mut p) {
                    Ok(outs) => return outs,
                    Err(task) => *task,
                },
                (Stage::Resolve, Some(Answer::Resolution(r))) => return self.resolved(p, r),
                (Stage::Open, Some(Answer::Opened(r))) => return self.opened(p, r),
                (stage, answer) => {
                    // Never: every stage gets the answer of its own work. Fail closed.
                    let d = Decided::refused(
                        interp::RUNTIME_ERROR,
                        format!("the gateway lost track of the call ({stage:?}, {answer:?})"),
                    );
                    let binding = p.binding.clone();
                    return self.finish(&p.id, &binding, &d, None, "mcp.tools_call", None);
                }
            };
            p.stage = task.stage();
            if self.offload && task.remote() {
                let job = self.next_job;
                self.next_job += 1;
                self.parked.insert(job, p);
                return vec![Out::Work(Work { job, task })];
            }
            answer = Some(task.run());
        }
    }

    /// The decision of a parked call (decided before the halt stage).
    fn decided(p: &mut Parked) -> &mut Decided {
        p.decided.get_or_insert_with(|| {
            Decided::refused(interp::RUNTIME_ERROR, "the call was not decided".into())
        })
    }

    /// The fallback the halt switch would give call `p`: `Some` when its decision is not a
    /// deny and its action is high-risk (a guarding policy has a `review` rule: the strictest
    /// of their first review rules' fallbacks, as [`xop_runtime::review::halt_fallback`] gives
    /// it to `xop serve`). The desk is then asked whether the switch is on.
    fn halt_terms(&self, p: &Parked) -> Option<Verdict> {
        if p.decided
            .as_ref()
            .is_none_or(|d| d.verdict == Verdict::Deny)
        {
            return None;
        }
        let guards: Vec<usize> = (self.program.policies.iter().enumerate())
            .filter(|(_, pol)| pol.action == p.binding.action)
            .map(|(i, _)| i)
            .collect();
        xop_runtime::review::halt_fallback(&self.program, &guards)
    }

    /// What the halt switch's state (`halted`, as the desk said it) does to call `p`: its
    /// answer when the switch is on (the call's fallback), or when the desk could not say (a
    /// new call is denied, fail-closed; a held call's retry stays held); `None` when off.
    fn halt_applies(&mut self, p: &mut Parked, halted: Result<bool, String>) -> Option<Vec<Out>> {
        let fallback = self.halt_terms(p)?;
        if halted == Ok(false) {
            return None;
        }
        let mut d = Self::decided(p).clone();
        let (id, binding) = (p.id.clone(), p.binding.clone());
        let (fallback, reason) = match halted {
            Ok(_) => {
                d.error = Some(
                    "the operator's halt switch is on: high-risk actions get their fallback \
                     until it is lifted"
                        .into(),
                );
                (fallback, HALTED)
            }
            Err(e) => {
                let why = format!(
                    "whether the halt switch is on could not be learned ({e}): a high-risk \
                     action is denied until it can"
                );
                // A held call stays held: the server could not be asked, so nothing changed.
                if let Some(c) = p.case_id.clone()
                    && let Some(case) = self.cases.get(&c).cloned()
                {
                    if p.now_ms < case.deadline_ms {
                        d.verdict = Verdict::Review;
                        d.reasons = case.reasons.clone();
                        d.reasons.push(HALT_UNKNOWN.to_string());
                        d.error = Some(why);
                        let note = format!(
                            "The review server could not be asked whether the operator's halt \
                             switch is on ({e}), so the call was not forwarded; the case stays \
                             open: retry it later."
                        );
                        return Some(self.pending_review(
                            &id,
                            &binding,
                            &d,
                            &c,
                            "mcp.review_pending",
                            Some(&note),
                        ));
                    }
                    if case.fallback == Verdict::Deny {
                        // Its deadline passed: its fallback (deny) applies, halt or no halt.
                        self.cases.remove(&c);
                        d.verdict = Verdict::Deny;
                        d.reasons = case.reasons.clone();
                        d.reasons.push(REVIEW_EXPIRED.to_string());
                        d.review = None;
                        return Some(self.finish(
                            &id,
                            &binding,
                            &d,
                            Some(&c),
                            "mcp.review_fallback",
                            None,
                        ));
                    }
                }
                d.error = Some(why);
                (Verdict::Deny, HALT_UNKNOWN)
            }
        };
        // Halted (or unknown): the call's fallback, whatever a reviewer said before. A held
        // call's case stays open, as the server keeps it (approvals wait for the halt to be
        // lifted), unless the fallback lets the call through now.
        let forward = (fallback == Verdict::Allow).then(|| p.request.clone());
        d.verdict = fallback;
        d.reasons.push(reason.to_string());
        d.review = None;
        if let Some(c) = &p.case_id {
            if forward.is_some() {
                self.cases.remove(c);
            } else if let Some(e) = &mut d.error {
                e.push_str("; the held case stays open: retry it once the halt is lifted");
            }
        }
        let case = p.case_id.clone();
        Some(self.finish(
            &id,
            &binding,
            &d,
            case.as_deref(),
            "mcp.halt_fallback",
            forward,
        ))
    }

    /// Acts on call `p`'s verdict: its answer, or the desk work a review needs.
    fn act(&mut self, p: &mut Parked) -> Result<Vec<Out>, Box<Task>> {
        let d = Self::decided(p).clone();
        let (id, binding) = (p.id.clone(), p.binding.clone());
        match d.verdict {
            Verdict::Allow | Verdict::Deny => {
                if let Some(c) = &p.case_id {
                    self.cases.remove(c);
                }
                let forward = (d.verdict == Verdict::Allow).then(|| p.request.clone());
                Ok(self.finish(&id, &binding, &d, None, "mcp.tools_call", forward))
            }
            Verdict::Review => {
                // A retry of a held call: a reviewer's decision, else the deadline, settles it.
                if let Some(c) = &p.case_id {
                    if !self.cases.contains_key(c) {
                        return Ok(self.closed_meanwhile(&id, &binding, c));
                    }
                    return Err(Box::new(Task::Resolution(
                        Arc::clone(&self.desk),
                        c.clone(),
                    )));
                }
                let Some(terms) = d.review.clone() else {
                    // The interpreter always gives the terms of a review; fail closed if not.
                    let mut d = d;
                    d.verdict = Verdict::Deny;
                    d.error = Some("a review without its terms".into());
                    return Ok(self.finish(&id, &binding, &d, None, "mcp.tools_call", None));
                };
                let evidence = self.evidence(&binding.action, d.bound.as_ref());
                Err(Box::new(Task::Open(
                    Arc::clone(&self.desk),
                    Box::new(OwnedCall {
                        evidence,
                        agent: self.agent.qualified.clone(),
                        tool: binding.tool.clone(),
                        action: binding.action.clone(),
                        reasons: d.reasons.clone(),
                        role: terms.role.clone(),
                        also: terms.also.clone(),
                        deadline_ms: p.now_ms.saturating_add(terms.within_ms),
                        within_ms: terms.within_ms,
                        fallback: terms.fallback,
                    }),
                )))
            }
        }
    }

    /// A retry whose case another retry closed while it was being decided.
    fn closed_meanwhile(&mut self, id: &Json, binding: &ToolBinding, c: &str) -> Vec<Out> {
        let mut outs = self.record_refusal(&binding.tool, BAD_CASE);
        outs.push(Out::Client(jsonrpc::error(
            id,
            jsonrpc::BAD_CASE,
            &format!(
                "review case `{c}` was closed meanwhile (another retry settled it): call the \
                 tool without _meta[\"{CASE_META}\"] to have it decided (and held) anew"
            ),
            Some(json!({ "case": c })),
        )));
        outs
    }

    /// A held call's retry, once the desk said what became of its case.
    fn resolved(&mut self, mut p: Parked, resolution: Resolution) -> Vec<Out> {
        let (id, binding) = (p.id.clone(), p.binding.clone());
        let c = p.case_id.clone().unwrap_or_default();
        let Some(case) = self.cases.get(&c).cloned() else {
            return self.closed_meanwhile(&id, &binding, &c);
        };
        // (verdict, the reason added, the event, why a denial was denied)
        let decided = match resolution {
            Resolution::Approved { .. } => {
                Some((Verdict::Allow, REVIEW_APPROVED, "mcp.review_approved", None))
            }
            Resolution::Rejected { by } => Some((
                Verdict::Deny,
                REVIEW_REJECTED,
                "mcp.review_rejected",
                Some(format!("the review was rejected by {by}")),
            )),
            Resolution::Fallback { by } => Some((
                case.fallback,
                if by == xop_runtime::review::BY_DEADLINE {
                    REVIEW_EXPIRED
                } else {
                    HALTED
                },
                "mcp.review_fallback",
                Some(format!(
                    "the review server applied the case's fallback ({by})"
                )),
            )),
            Resolution::Pending => None,
        };
        let now_ms = p.now_ms;
        let d = Self::decided(&mut p);
        if let Some((verdict, reason, event, why)) = decided {
            self.cases.remove(&c);
            d.verdict = verdict;
            d.reasons = case.reasons.clone();
            d.reasons.push(reason.to_string());
            if verdict == Verdict::Deny {
                d.error = why;
            }
            let d = d.clone();
            let forward = (verdict == Verdict::Allow).then(|| p.request.clone());
            return self.finish(&id, &binding, &d, Some(&c), event, forward);
        }
        if now_ms < case.deadline_ms {
            let d = d.clone();
            return self.pending_review(&id, &binding, &d, &c, "mcp.review_pending", None);
        }
        self.cases.remove(&c);
        d.verdict = case.fallback;
        d.reasons = case.reasons.clone();
        d.reasons.push(REVIEW_EXPIRED.to_string());
        let d = d.clone();
        let forward = (case.fallback == Verdict::Allow).then(|| p.request.clone());
        self.finish(&id, &binding, &d, Some(&c), "mcp.review_fallback", forward)
    }

    /// A held call, once the desk opened its case (or could not).
    fn opened(&mut self, mut p: Parked, opened: Result<String, String>) -> Vec<Out> {
        let (id, binding) = (p.id.clone(), p.binding.clone());
        let d = Self::decided(&mut p);
        let terms = d.review.clone().unwrap_or_else(|| xop_runtime::ir::Review {
            role: String::new(),
            also: Vec::new(),
            within_ms: 0,
            fallback: Verdict::Deny,
        });
        let case = match opened {
            Ok(case) => case,
            Err(e) => {
                // No case, no hold: fail closed (the review's fallback needs a case to wait on).
                d.verdict = Verdict::Deny;
                d.error = Some(format!("the review case could not be opened: {e}"));
                let d = d.clone();
                return self.finish(&id, &binding, &d, None, "mcp.tools_call", None);
            }
        };
        let d = d.clone();
        // Every role the approval needs, each approved by a member of it.
        let role = std::iter::once(&terms.role)
            .chain(&terms.also)
            .cloned()
            .collect::<Vec<_>>()
            .join(" and ");
        self.cases.insert(
            case.clone(),
            Case {
                tool: binding.tool.clone(),
                arguments: p.arguments.clone(),
                deadline_ms: p.now_ms.saturating_add(terms.within_ms),
                fallback: terms.fallback,
                reasons: d.reasons.clone(),
                role,
            },
        );
        self.pending_review(&id, &binding, &d, &case, "mcp.tools_call", None)
    }

    /// Records the call, then answers it: forwards `forward` (an allowed call) or refuses it.
    fn finish(
        &mut self,
        id: &Json,
        binding: &ToolBinding,
        d: &Decided,
        case: Option<&str>,
        event: &str,
        forward: Option<Verbatim>,
    ) -> Vec<Out> {
        let records = match self.record(&binding.tool, Some(binding), d, case, event) {
            Ok(r) => r,
            Err(e) => return vec![not_proven(id, &e)],
        };
        match forward {
            Some(request) if d.verdict == Verdict::Allow => {
                self.forward(id, Out::UpstreamText(request), Pending::Other)
            }
            _ => vec![Out::Client(jsonrpc::error(
                id,
                jsonrpc::DENIED,
                &format!(
                    "denied by policy: tool \"{}\" ({}) — {}",
                    binding.tool,
                    binding.action,
                    if d.reasons.is_empty() {
                        "no rule allows it".to_string()
                    } else {
                        d.reasons.join(", ")
                    }
                ),
                Some(json!({
                    "verdict": "deny",
                    "reasons": d.reasons,
                    "fired": d.fired,
                    "tool": binding.tool,
                    "action": binding.action,
                    "error": d.error,
                    "records": records,
                    "case": case,
                })),
            ))],
        }
    }

    /// The answer to a held call: a tool result with `isError` and case `case` (one of the
    /// session's). `note` is added to the text.
    fn pending_review(
        &mut self,
        id: &Json,
        binding: &ToolBinding,
        d: &Decided,
        case: &str,
        event: &str,
        note: Option<&str>,
    ) -> Vec<Out> {
        let Some(held) = self.cases.get(case).cloned() else {
            return self.closed_meanwhile(id, binding, case);
        };
        let records = match self.record(&binding.tool, Some(binding), d, Some(case), event) {
            Ok(r) => r,
            Err(e) => {
                if event == "mcp.tools_call" {
                    self.cases.remove(case);
                }
                return vec![not_proven(id, &e)];
            }
        };
        let role = &held.role;
        let fallback = held.fallback.keyword();
        let deadline = time_text(held.deadline_ms);
        let approvable = self.desk.approvable();
        let reasons = held.reasons.join(", ");
        let mut text = if approvable {
            format!(
                "Held for human review (case {case}): tool \"{}\" needs the approval of role \
                 {role} ({reasons}). Nothing was done. Retry the same call with _meta \
                 {{\"{CASE_META}\": \"{case}\"}} after approval; at {deadline} the fallback \
                 ({fallback}) applies.",
                binding.tool,
            )
        } else {
            format!(
                "Held for human review (case {case}): tool \"{}\" needs the approval of role \
                 {role} ({reasons}), but this gateway has no review server, so nobody can \
                 approve it: at {deadline} the review's fallback ({fallback}) applies. Nothing \
                 was done. Retried with _meta {{\"{CASE_META}\": \"{case}\"}} after that time, \
                 the call gets the fallback.",
                binding.tool,
            )
        };
        if let Some(note) = note {
            text.push(' ');
            text.push_str(note);
        }
        vec![Out::Client(jsonrpc::result(
            id,
            json!({
                "content": [{ "type": "text", "text": text }],
                "isError": true,
                "structuredContent": {
                    "status": "pending-review",
                    "case": case,
                    "role": role,
                    "deadline": deadline,
                    "fallback": fallback,
                    "approvable": approvable,
                    "reasons": d.reasons,
                    "tool": binding.tool,
                    "action": binding.action,
                    "records": records,
                },
            }),
        ))]
    }

    fn unbound(&mut self, id: &Json, name: &str) -> Vec<Out> {
        let d = Decided {
            error: None,
            ..Decided::refused(UNBOUND_TOOL, String::new())
        };
        let records = match self.record(name, None, &d, None, "mcp.tools_call") {
            Ok(r) => r,
            Err(e) => return vec![not_proven(id, &e)],
        };
        vec![Out::Client(jsonrpc::error(
            id,
            jsonrpc::UNBOUND_TOOL,
            &format!(
                "tool \"{name}\" is not bound to any action of agent {}: it is never allowed \
                 (bind it in the agent: `tool \"{name}\" -> action(…)`)",
                self.agent.name
            ),
            Some(json!({
                "verdict": "deny",
                "reasons": [UNBOUND_TOOL],
                "tool": name,
                "records": records,
            })),
        ))]
    }

    /// Records a call.
    fn record(
        &mut self,
        tool: &str,
        binding: Option<&ToolBinding>,
        d: &Decided,
        case: Option<&str>,
        event: &str,
    ) -> Result<Vec<u64>, String> {
        self.record_with(tool, binding, d, case, event, None)
    }

    /// [`Self::record`], saying of a call in a line refused unread what the line was.
    fn record_with(
        &mut self,
        tool: &str,
        binding: Option<&ToolBinding>,
        d: &Decided,
        case: Option<&str>,
        event: &str,
        line: Option<UnreadLine>,
    ) -> Result<Vec<u64>, String> {
        let call = CallRecord {
            agent: &self.agent.qualified,
            tool,
            action: binding.map(|b| b.action.as_str()),
            bound: d.bound.as_ref(),
            reads: &d.reads,
            verdict: d.verdict.keyword(),
            reasons: &d.reasons,
            fired: &d.fired,
            case,
            event,
            line,
        };
        self.recorder.record(&self.program, &call)
    }
}

/// Decides a call of `binding`: the action's input from the arguments and the context, bound
/// to the action's parameters, then every policy guarding the action, reading signals through
/// `connectors` (absent without them) by their deadline: a read that came back absent once it
/// had passed adds [`DECIDE_TIMEOUT`] to the reasons.
fn decide(
    program: &Program,
    context: &Map<String, Json>,
    connectors: Option<(&dyn Connectors, &Deadline)>,
    binding: &ToolBinding,
    arguments: &Map<String, Json>,
    now_ms: i64,
) -> Decided {
    let input = match policy::action_input(binding, arguments, context, &time_text(now_ms)) {
        Ok(i) => i,
        Err(r) => return Decided::refused(r.reason, r.message),
    };
    // The action's policies all take the action's parameters: bind with the first one.
    let Some(guard) = program
        .policies
        .iter()
        .position(|p| p.action == binding.action && p.params == binding.params)
    else {
        return Decided::refused(
            "xop:unguarded",
            format!(
                "no policy guards `{}`: an action no policy guards is denied",
                binding.action
            ),
        );
    };
    // The arguments are forwarded as written: a time in them must be the instant decided on,
    // not one that binding cut to the millisecond (the subject is never forwarded).
    let from_call: Vec<&str> = (binding.params.iter().enumerate())
        .filter(|(i, _)| binding.argument_for(*i).is_some())
        .map(|(_, p)| p.name.as_str())
        .collect();
    let options = bind::BindOptions {
        forwarded: &from_call,
        ..bind::BindOptions::default()
    };
    let bound = match bind::bind_value_with(program, guard, &input, options) {
        Ok(b) => b,
        Err(e) => return Decided::refused(BAD_INPUT, format!("tool \"{}\": {e}", binding.tool)),
    };
    let at = bound.now_ms.unwrap_or(now_ms);
    let network = connectors
        .map(|(c, deadline)| (c.signals_by_deadline(program, at, Some(deadline)), deadline));
    let bounded = match &network {
        Some((n, deadline)) => Bounded::new(n.as_ref(), Some(deadline)),
        None => Bounded::new(&NoSignals, None),
    };
    let taped = Taped::new(&bounded);
    let d = interp::decide_action(program, &binding.action, &bound.args, at, &taped);
    let mut reasons = d.reasons;
    if bounded.late.get() {
        reasons.push(DECIDE_TIMEOUT.to_string());
    }
    Decided {
        verdict: d.verdict,
        reasons,
        fired: d.fired,
        error: d.error,
        review: d.review,
        bound: Some(bound),
        reads: taped.into_reads(),
    }
}

/// How long a call's signal reads may take unless [`Session::with_decide_timeout`] says
/// otherwise: `xop serve`'s default `timeout_ms`.
pub const DEFAULT_DECIDE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest [`Session::with_decide_timeout`] takes: a year, longer than any read waits
/// anyway, and short enough to add to any instant.
pub const MAX_DECIDE_TIMEOUT: Duration = Duration::from_secs(365 * 86_400);

/// A decision's signal source, telling whether a read came back absent once the decision's
/// deadline had passed: the deadline, not the network's answer, made it absent.
struct Bounded<'a> {
    inner: &'a dyn Signals,
    deadline: Option<&'a Deadline>,
    late: Cell<bool>,
}

impl<'a> Bounded<'a> {
    fn new(inner: &'a dyn Signals, deadline: Option<&'a Deadline>) -> Bounded<'a> {
        Bounded {
            inner,
            deadline,
            late: Cell::new(false),
        }
    }
}

impl Signals for Bounded<'_> {
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        let value = self.inner.read(signal, decl, args);
        if matches!(value, Value::Absent) && self.deadline.is_some_and(Deadline::passed) {
            self.late.set(true);
        }
        value
    }

    fn fetch(&self, nth: usize) -> Option<SignalFetch> {
        self.inner.fetch(nth)
    }
}

/// The first argument of the tool call `line` (whose arguments are `arguments`) given as a
/// JSON number that some JSON reader reads rounded ([`bind::inexact_numbers`] for
/// [`bind::Readers::Every`]): one that xop itself reads rounded (as `xop serve` and `xop eval`
/// refuse it), or an integer beyond ±(2^53 − 1), which xop decides on exactly but a tool
/// reading numbers as doubles (a Node upstream's `JSON.parse`) reads as another number. Its
/// path within the arguments and why, e.g. `x: the number 99.99999999999999999999 cannot be
/// read as written: …`.
fn inexact_argument(line: &str, arguments: &Map<String, Json>) -> Option<String> {
    fn suspect(v: &Json) -> bool {
        match v {
            // A float has no integer value: always looked at.
            Json::Number(n) => (n.as_i64().map(i64::unsigned_abs))
                .or(n.as_u64())
                .is_none_or(|m| m > bind::MAX_EXACT_INTEGER),
            Json::Array(a) => a.iter().any(suspect),
            Json::Object(o) => o.values().any(suspect),
            _ => false,
        }
    }
    // Most calls have no number read as a float nor a wide integer: nothing to look at again.
    if !arguments.values().any(suspect) {
        return None;
    }
    const AT: &str = "params.arguments.";
    // `inexact_numbers` skips a leading byte-order mark itself.
    let errors = bind::inexact_numbers(line, bind::Readers::Every).ok()?;
    errors.into_iter().find_map(|e| {
        let path = e.path.strip_prefix(AT)?;
        Some(format!("{path}: {}", e.message))
    })
}

/// The tool a `tools/call`'s params name, or `""`.
fn tool_name(params: &Json) -> String {
    params
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A `notifications/cancelled` for the request with id `id`.
fn cancelled(id: &Json, why: &str) -> Out {
    Out::Upstream(json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {
            "requestId": id,
            "reason": format!("xop mcp-gateway: {why}"),
        },
    }))
}

impl<R: Recorder> Session<R> {
    /// The held call's input as the reviewer sees it: every parameter of the action, whole,
    /// not only what the rules read (a review that always applies reads nothing, and the
    /// reviewer must still see the amount), with `@personal` values hashed by the log's
    /// subject keys (without a log, by a key of this process that nobody keeps: the reviewer
    /// sees that there is such a value, never the value). Empty if it cannot be made.
    fn evidence(&self, action: &str, bound: Option<&Bound>) -> Vec<Evidence> {
        let (Some(bound), Some(policy)) = (bound, self.program.guards(action).next()) else {
            return Vec::new();
        };
        let ephemeral = EphemeralKeys::new();
        let keys: &dyn KeyProvider = match self.recorder.keys() {
            Some(k) => k,
            None => &ephemeral,
        };
        let whole = ReadSet {
            rules: (0..policy.params.len())
                .map(|i| ReadPath {
                    param: u32::try_from(i).unwrap_or(u32::MAX),
                    steps: Default::default(),
                })
                .collect(),
            via: Default::default(),
        };
        evidence::extract(&self.program, policy, &whole, &bound.args, "", keys).unwrap_or_default()
    }
}

/// A subject key made for one process and never stored: `@personal` values hashed with it
/// cannot be linked to anything outside the process.
struct EphemeralKeys {
    id: [u8; 16],
    key: [u8; 32],
}

impl EphemeralKeys {
    fn new() -> EphemeralKeys {
        let mut bytes = [0u8; 48];
        // Without randomness the key is all zeros: the hashes are then guessable for small
        // values, so nothing is hashed at all (the key is refused below).
        let ok = getrandom::fill(&mut bytes).is_ok();
        let mut k = EphemeralKeys {
            id: [0; 16],
            key: [0; 32],
        };
        if ok {
            k.id.copy_from_slice(&bytes[..16]);
            k.key.copy_from_slice(&bytes[16..]);
        }
        k
    }
}

impl KeyProvider for EphemeralKeys {
    fn key_for(&self, _subject: &str) -> Result<([u8; 16], [u8; 32]), String> {
        if self.key == [0; 32] {
            return Err("no randomness for a key".into());
        }
        Ok((self.id, self.key))
    }
}

/// The answer to a call whose decision could not be recorded (fail closed).
fn not_proven(id: &Json, e: &str) -> Out {
    Out::Client(jsonrpc::error(
        id,
        jsonrpc::NOT_PROVEN,
        &format!(
            "the decision could not be recorded in the proof log, so the call is refused: {e}"
        ),
        None,
    ))
}

fn gone(id: &Json) -> Out {
    gone_because(
        id,
        "the upstream MCP server has exited; restart the gateway",
    )
}

fn gone_because(id: &Json, message: &str) -> Out {
    Out::Client(jsonrpc::error(id, jsonrpc::UPSTREAM_GONE, message, None))
}

/// The reason code of a request the upstream server did not answer in time.
pub const UPSTREAM_TIMEOUT: &str = "xop:upstream-timeout";

/// The key of a request id or progress token (a string or an integer, as MCP has them; `1` and
/// `"1"` differ), `None` for anything else.
fn token_key(v: &Json) -> Option<String> {
    (v.is_string() || v.is_i64() || v.is_u64()).then(|| jsonrpc::id_key(v))
}

/// A case id no client can guess: 16 random bytes, hex.
fn new_case_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // No randomness: fall back to the time, still unique within the session.
        let t = jiff::Timestamp::now().as_nanosecond().to_le_bytes();
        b.copy_from_slice(&t);
    }
    format!("case-{}", xop_runtime::module::hex(&b))
}
