//! One gateway session: the protocol logic between the client and the upstream server, as a
//! pure function of the messages (the I/O is in [`crate::run`]).

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use serde_json::{Map, Value as Json, json};
use xop_runtime::bind::{self, Bound};
use xop_runtime::connectors::{Connectors, Taped, TapedRead};
use xop_runtime::interp::{self, BAD_INPUT, NoSignals, Signals};
use xop_runtime::ir::{AgentDef, Program, ToolBinding, Verdict};
use xop_runtime::proof::evidence::{self, KeyProvider, ReadPath, ReadSet};
use xop_runtime::proof::record::{Evidence, time_text};

use crate::inflight::{self, InFlight, Limit, Progress, Timeouts};
use crate::jsonrpc::{self, Message};
use crate::policy::{
    self, HALT_UNKNOWN, HALTED, REVIEW_APPROVED, REVIEW_EXPIRED, REVIEW_REJECTED, UNBOUND_TOOL,
};
use crate::record::{CallRecord, Recorder};

/// The protocol revision the gateway speaks, to the client and to the upstream server. A client
/// asking for another one (2026-07-28 among them) is answered with this one, as the MCP
/// lifecycle's version negotiation has it; the client decides whether to go on.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// The `_meta` key with which a retried call names its review case.
pub const CASE_META: &str = "xop/case";

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// To the client (on standard output).
    Client(Json),
    /// To the upstream server.
    Upstream(Json),
    /// A warning for the operator (on standard error).
    Warn(String),
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
}

/// The outcome of deciding one call.
struct Decided {
    verdict: Verdict,
    reasons: Vec<String>,
    fired: Vec<String>,
    error: Option<String>,
    review: Option<xop_runtime::ir::Review>,
    bound: Option<Bound>,
    /// The signals the decision read, to prove it with exactly those values.
    reads: Vec<TapedRead>,
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
    /// Other roles the reviewer must also hold (review rules of several roles fired).
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
/// authenticated reviewers approve or reject cases.
pub trait ReviewDesk {
    /// Opens a case for `call`; its id (which the client must not be able to guess).
    fn open(&mut self, call: &HeldCall<'_>) -> Result<String, String>;
    /// What became of case `id`.
    fn resolution(&self, id: &str) -> Resolution;
    /// Whether the operator's halt switch is on: a high-risk call (an action a policy with a
    /// `review` rule guards) that is not denied then gets its fallback, as in `xop serve`.
    /// An error (the desk could not be asked) is taken as on: the gateway fails closed.
    fn halted(&self) -> Result<bool, String> {
        Ok(false)
    }
}

/// The default desk: cases known to this process only, with random ids, that nobody can
/// approve or reject here, so only their deadline's fallback resolves them.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalDesk;

impl ReviewDesk for LocalDesk {
    fn open(&mut self, _call: &HeldCall<'_>) -> Result<String, String> {
        Ok(new_case_id())
    }

    fn resolution(&self, _id: &str) -> Resolution {
        Resolution::Pending
    }
}

/// A gateway session.
pub struct Session<R: Recorder> {
    program: Program,
    agent: AgentDef,
    context: Map<String, Json>,
    recorder: R,
    inflight: InFlight,
    cases: HashMap<String, Case>,
    upstream_alive: bool,
    clock: Box<dyn Fn() -> i64 + Send>,
    monotonic: Box<dyn Fn() -> Instant + Send>,
    desk: Box<dyn ReviewDesk + Send>,
    connectors: Option<Box<dyn Connectors>>,
}

impl<R: Recorder> std::fmt::Debug for Session<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("agent", &self.agent.qualified)
            .field("pending", &self.inflight.len())
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

impl<R: Recorder> Session<R> {
    /// A session for `agent` (or the module's only agent) of `program`, with `context` (the
    /// session's subject: values of the action parameters that tool calls do not give).
    pub fn new(
        program: Program,
        agent: Option<&str>,
        context: Map<String, Json>,
        recorder: R,
    ) -> Result<Session<R>, String> {
        let agent = pick_agent(&program, agent)?.clone();
        Ok(Session {
            program,
            agent,
            context,
            recorder,
            inflight: InFlight::new(Timeouts::default()),
            cases: HashMap::new(),
            upstream_alive: true,
            clock: Box::new(|| jiff::Timestamp::now().as_millisecond()),
            monotonic: Box::new(Instant::now),
            desk: Box::new(LocalDesk),
            connectors: None,
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
    /// loop of [`crate::run`] sleeps until [`Session::next_deadline`] by the real clock, so a
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
    pub fn with_desk(mut self, desk: impl ReviewDesk + Send + 'static) -> Session<R> {
        self.desk = Box::new(desk);
        self
    }

    /// Reads the signals the policies declare through `connectors` (the CAMARA connectors);
    /// without them every signal is absent and the policies' absence handling applies.
    pub fn with_connectors(mut self, connectors: Box<dyn Connectors>) -> Session<R> {
        self.connectors = Some(connectors);
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

    /// Handles a line from the client.
    pub fn from_client(&mut self, line: &str) -> Vec<Out> {
        let (value, message) = match jsonrpc::parse(line) {
            Ok(m) => m,
            Err(bad) => return vec![Out::Client(bad.response)],
        };
        match message {
            Message::Request { id, method, params } => {
                if !self.upstream_alive {
                    return vec![gone(&id)];
                }
                // Answers are matched to requests by id: a second request in flight under the
                // same id would take the first one's place (an unfiltered tool list, say).
                let key = jsonrpc::id_key(&id);
                if self.inflight.contains(&key) {
                    return vec![Out::Client(jsonrpc::error(
                        &id,
                        jsonrpc::INVALID_REQUEST,
                        "this id is already used by a request still in flight; give each \
                         request its own id",
                        None,
                    ))];
                }
                // Nor may it take the place of one the gateway stopped waiting for: the late
                // answer would be taken for this request's.
                if self.inflight.is_abandoned(&key) {
                    return vec![Out::Client(jsonrpc::error(
                        &id,
                        jsonrpc::INVALID_REQUEST,
                        "this id is already used by a request that timed out or was cancelled, \
                         whose answer may still come; give each request its own id",
                        None,
                    ))];
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
                    "tools/list" => self.forward(&id, value, Pending::ToolsList),
                    "tools/call" => self.call(&id, value, &params),
                    // Method names are case-sensitive, but an upstream that matched them
                    // loosely would run `Tools/Call` undecided: such names are not forwarded.
                    m if m.eq_ignore_ascii_case("tools/call")
                        || m.eq_ignore_ascii_case("tools/list") =>
                    {
                        vec![Out::Client(jsonrpc::error(
                            &id,
                            jsonrpc::METHOD_NOT_FOUND,
                            &format!(
                                "method not found: {m} (method names are case-sensitive: \
                                 `tools/call`, `tools/list`)"
                            ),
                            None,
                        ))]
                    }
                    _ => self.forward(&id, value, Pending::Other),
                }
            }
            // A request sent without an id (`tools/call` as a "notification") must not reach
            // the upstream server undecided: only MCP's own notifications pass, and nothing can
            // be answered to a message without an id, so the operator is told.
            Message::Notification { method, .. } if !method.starts_with("notifications/") => {
                vec![Out::Warn(format!(
                    "dropped a client message `{method}` without an id: only `notifications/…` \
                     may be sent without one (a request needs an id to be decided and answered)"
                ))]
            }
            Message::Notification { method } => {
                if !self.upstream_alive {
                    return Vec::new();
                }
                // The client gave up on a request: stop waiting for it too (its late answer is
                // then dropped), and let the upstream know, as before.
                if method == "notifications/cancelled"
                    && let Some(key) = value
                        .get("params")
                        .and_then(|p| p.get("requestId"))
                        .and_then(token_key)
                {
                    self.inflight.cancel(&key);
                }
                vec![Out::Upstream(value)]
            }
            Message::Response { .. } => {
                if self.upstream_alive {
                    vec![Out::Upstream(value)]
                } else {
                    Vec::new()
                }
            }
        }
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
                outs.push(Out::Upstream(json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {
                        "requestId": request.id,
                        "reason": format!("xop mcp-gateway: no answer {waited}"),
                    },
                })));
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

    /// Handles a line from the upstream server.
    pub fn from_upstream(&mut self, line: &str) -> Vec<Out> {
        let (mut value, message) = match jsonrpc::parse(line) {
            Ok(m) => m,
            Err(_) => {
                return vec![Out::Warn(format!(
                    "the upstream server sent a line that is not a JSON-RPC message; ignored: {}",
                    line.chars().take(200).collect::<String>()
                ))];
            }
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
                    Some(Progress::Waiting | Progress::Unknown) | None => vec![Out::Client(value)],
                };
            }
            // Its requests (sampling, elicitation, roots, ping) and other notifications go to
            // the client as they are.
            Message::Request { .. } | Message::Notification { .. } => {
                return vec![Out::Client(value)];
            }
        };
        let key = jsonrpc::id_key(&id);
        match self.inflight.answered(&key).map(|r| r.kind) {
            Some(Pending::Initialize) => {
                let answered = value["result"]["protocolVersion"]
                    .as_str()
                    .map(str::to_string);
                match answered.as_deref() {
                    Some(PROTOCOL_VERSION) => vec![Out::Client(value)],
                    Some(other) => vec![Out::Client(jsonrpc::error(
                        &id,
                        jsonrpc::INTERNAL_ERROR,
                        &format!(
                            "the upstream MCP server speaks protocol {other}, the gateway only \
                             {PROTOCOL_VERSION}: run an upstream server that supports \
                             {PROTOCOL_VERSION}"
                        ),
                        None,
                    ))],
                    // An error response passes as it is.
                    None => vec![Out::Client(value)],
                }
            }
            Some(Pending::ToolsList) => {
                let listed: BTreeSet<String> = self
                    .listed_tools()
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                if let Some(Json::Array(tools)) =
                    value.get_mut("result").and_then(|r| r.get_mut("tools"))
                {
                    tools.retain(|t| {
                        t.get("name")
                            .and_then(Json::as_str)
                            .is_some_and(|n| listed.contains(n))
                    });
                }
                vec![Out::Client(value)]
            }
            Some(Pending::Other) => vec![Out::Client(value)],
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

    /// The upstream server exited: every request waiting for it gets an error, and so does
    /// every later one.
    pub fn upstream_gone(&mut self) -> Vec<Out> {
        self.upstream_alive = false;
        self.inflight.drain().iter().map(|r| gone(&r.id)).collect()
    }

    fn forward(&mut self, id: &Json, value: Json, kind: Pending) -> Vec<Out> {
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
        vec![Out::Upstream(value)]
    }

    fn initialize(&mut self, id: &Json, mut value: Json) -> Vec<Out> {
        match value.get_mut("params") {
            Some(Json::Object(p)) => {
                p.insert("protocolVersion".into(), json!(PROTOCOL_VERSION));
            }
            _ => {
                return vec![Out::Client(jsonrpc::error(
                    id,
                    jsonrpc::INVALID_PARAMS,
                    "initialize needs params {protocolVersion, capabilities, clientInfo}",
                    None,
                ))];
            }
        }
        self.forward(id, value, Pending::Initialize)
    }

    fn call(&mut self, id: &Json, value: Json, params: &Json) -> Vec<Out> {
        let Some(name) = params.get("name").and_then(Json::as_str) else {
            return vec![Out::Client(jsonrpc::error(
                id,
                jsonrpc::INVALID_PARAMS,
                "tools/call needs params.name, the tool's name",
                None,
            ))];
        };
        let arguments = match params.get("arguments") {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(a)) => a.clone(),
            Some(_) => {
                return vec![Out::Client(jsonrpc::error(
                    id,
                    jsonrpc::INVALID_PARAMS,
                    "tools/call params.arguments must be an object",
                    None,
                ))];
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
                return vec![Out::Client(jsonrpc::error(
                    id,
                    jsonrpc::INVALID_PARAMS,
                    &format!("params._meta[\"{CASE_META}\"] must be the case id, a string"),
                    None,
                ))];
            }
        };
        let Some(binding) = self.agent.tool(name).cloned() else {
            return self.unbound(id, name);
        };
        if let Some(c) = &case_id {
            match self.cases.get(c) {
                None => {
                    return vec![Out::Client(jsonrpc::error(
                        id,
                        jsonrpc::BAD_CASE,
                        &format!(
                            "no review case `{c}` in this session: call the tool without \
                             _meta[\"{CASE_META}\"] to have it decided (and held) anew"
                        ),
                        Some(json!({ "case": c })),
                    ))];
                }
                Some(case) if case.tool != name || case.arguments != arguments => {
                    return vec![Out::Client(jsonrpc::error(
                        id,
                        jsonrpc::BAD_CASE,
                        &format!(
                            "review case `{c}` holds another call (tool \"{}\" with other \
                             arguments): retry exactly the call that was held",
                            case.tool
                        ),
                        Some(json!({ "case": c })),
                    ))];
                }
                Some(_) => {}
            }
        }
        let now_ms = (self.clock)();
        let mut d = self.decide(&binding, &arguments, now_ms);
        if let Some((fallback, reason)) = self.halt_fallback(&binding.action, &mut d) {
            // Halted (or unknown): the call's fallback, whatever a reviewer said before. A held
            // call's case stays open, as the server keeps it (approvals wait for the halt to
            // be lifted), unless the fallback lets the call through now.
            d.verdict = fallback;
            d.reasons.push(reason.to_string());
            d.review = None;
            let forward = (fallback == Verdict::Allow).then_some(value);
            if let Some(c) = &case_id {
                if forward.is_some() {
                    self.cases.remove(c);
                } else if let Some(e) = &mut d.error {
                    e.push_str("; the held case stays open: retry it once the halt is lifted");
                }
            }
            let case = case_id.as_deref();
            return self.finish(id, &binding, &d, case, "mcp.halt_fallback", forward);
        }
        match d.verdict {
            Verdict::Allow => {
                if let Some(c) = &case_id {
                    self.cases.remove(c);
                }
                self.finish(id, &binding, &d, None, "mcp.tools_call", Some(value))
            }
            Verdict::Deny => {
                if let Some(c) = &case_id {
                    self.cases.remove(c);
                }
                self.finish(id, &binding, &d, None, "mcp.tools_call", None)
            }
            Verdict::Review => self.review(id, &binding, arguments, d, case_id, now_ms, value),
        }
    }

    /// The fallback the halt switch gives decision `d` of `action`: `Some` when `d` is not a
    /// deny, the action is high-risk (a guarding policy has a `review` rule: the strictest of
    /// their first review rules' fallbacks, as [`xop_runtime::review::halt_fallback`] gives it
    /// to `xop serve`) and the desk says the switch is on, or cannot say (then `deny`); with
    /// the reason to add. Notes why in `d.error`.
    fn halt_fallback(&self, action: &str, d: &mut Decided) -> Option<(Verdict, &'static str)> {
        if d.verdict == Verdict::Deny {
            return None;
        }
        let guards: Vec<usize> = (self.program.policies.iter().enumerate())
            .filter(|(_, p)| p.action == action)
            .map(|(i, _)| i)
            .collect();
        let fallback = xop_runtime::review::halt_fallback(&self.program, &guards)?;
        match self.desk.halted() {
            Ok(false) => None,
            Ok(true) => {
                d.error = Some(
                    "the operator's halt switch is on: high-risk actions get their fallback \
                     until it is lifted"
                        .into(),
                );
                Some((fallback, HALTED))
            }
            Err(e) => {
                d.error = Some(format!(
                    "whether the halt switch is on could not be learned ({e}): a high-risk \
                     action is denied until it can"
                ));
                Some((Verdict::Deny, HALT_UNKNOWN))
            }
        }
    }

    /// Decides a call of `binding`: the action's input from the arguments and the context,
    /// bound to the action's parameters, then every policy guarding the action.
    fn decide(&self, binding: &ToolBinding, arguments: &Map<String, Json>, now_ms: i64) -> Decided {
        let refused = |reason: &str, error: String| Decided {
            verdict: Verdict::Deny,
            reasons: vec![reason.to_string()],
            fired: Vec::new(),
            error: Some(error),
            review: None,
            bound: None,
            reads: Vec::new(),
        };
        let input =
            match policy::action_input(binding, arguments, &self.context, &time_text(now_ms)) {
                Ok(i) => i,
                Err(r) => return refused(r.reason, r.message),
            };
        // The action's policies all take the action's parameters: bind with the first one.
        let Some(guard) = self
            .program
            .policies
            .iter()
            .position(|p| p.action == binding.action && p.params == binding.params)
        else {
            return refused(
                "xop:unguarded",
                format!(
                    "no policy guards `{}`: an action no policy guards is denied",
                    binding.action
                ),
            );
        };
        let bound = match bind::bind_value(&self.program, guard, &input) {
            Ok(b) => b,
            Err(e) => return refused(BAD_INPUT, format!("tool \"{}\": {e}", binding.tool)),
        };
        let at = bound.now_ms.unwrap_or(now_ms);
        let network = self
            .connectors
            .as_ref()
            .map(|c| c.signals(&self.program, at));
        let source: &dyn Signals = match &network {
            Some(n) => n.as_ref(),
            None => &NoSignals,
        };
        let taped = Taped::new(source);
        let d = interp::decide_action(&self.program, &binding.action, &bound.args, at, &taped);
        Decided {
            verdict: d.verdict,
            reasons: d.reasons,
            fired: d.fired,
            error: d.error,
            review: d.review,
            bound: Some(bound),
            reads: taped.into_reads(),
        }
    }

    /// Records the call, then answers it: forwards `forward` (an allowed call) or refuses it.
    fn finish(
        &mut self,
        id: &Json,
        binding: &ToolBinding,
        d: &Decided,
        case: Option<&str>,
        event: &str,
        forward: Option<Json>,
    ) -> Vec<Out> {
        let records = match self.record(&binding.tool, Some(binding), d, case, event) {
            Ok(r) => r,
            Err(e) => return vec![not_proven(id, &e)],
        };
        match forward {
            Some(value) if d.verdict == Verdict::Allow => self.forward(id, value, Pending::Other),
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

    #[allow(clippy::too_many_arguments)]
    fn review(
        &mut self,
        id: &Json,
        binding: &ToolBinding,
        arguments: Map<String, Json>,
        mut d: Decided,
        case_id: Option<String>,
        now_ms: i64,
        value: Json,
    ) -> Vec<Out> {
        // A retry of a held call: a reviewer's decision, else the deadline, settles it.
        if let Some(c) = case_id
            && let Some(case) = self.cases.get(&c).cloned()
        {
            // (verdict, the reason added, the event, why a denial was denied)
            let decided = match self.desk.resolution(&c) {
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
            if let Some((verdict, reason, event, why)) = decided {
                self.cases.remove(&c);
                d.verdict = verdict;
                d.reasons = case.reasons.clone();
                d.reasons.push(reason.to_string());
                if verdict == Verdict::Deny {
                    d.error = why;
                }
                let forward = (verdict == Verdict::Allow).then_some(value);
                return self.finish(id, binding, &d, Some(&c), event, forward);
            }
            if now_ms < case.deadline_ms {
                return self.pending_review(
                    id,
                    binding,
                    &d,
                    &c,
                    case.deadline_ms,
                    "mcp.review_pending",
                );
            }
            self.cases.remove(&c);
            d.verdict = case.fallback;
            d.reasons = case.reasons.clone();
            d.reasons.push(REVIEW_EXPIRED.to_string());
            let forward = (case.fallback == Verdict::Allow).then_some(value);
            return self.finish(id, binding, &d, Some(&c), "mcp.review_fallback", forward);
        }
        let Some(terms) = d.review.clone() else {
            // The interpreter always gives the terms of a review; fail closed if not.
            d.verdict = Verdict::Deny;
            d.error = Some("a review without its terms".into());
            return self.finish(id, binding, &d, None, "mcp.tools_call", None);
        };
        let evidence = self.evidence(&binding.action, d.bound.as_ref());
        let case = match self.desk.open(&HeldCall {
            evidence: &evidence,
            agent: &self.agent.qualified,
            tool: &binding.tool,
            action: &binding.action,
            reasons: &d.reasons,
            role: &terms.role,
            also: &terms.also,
            deadline_ms: now_ms.saturating_add(terms.within_ms),
            within_ms: terms.within_ms,
            fallback: terms.fallback,
        }) {
            Ok(case) => case,
            Err(e) => {
                // No case, no hold: fail closed (the review's fallback needs a case to wait on).
                d.verdict = Verdict::Deny;
                d.error = Some(format!("the review case could not be opened: {e}"));
                return self.finish(id, binding, &d, None, "mcp.tools_call", None);
            }
        };
        let deadline_ms = now_ms.saturating_add(terms.within_ms);
        self.cases.insert(
            case.clone(),
            Case {
                tool: binding.tool.clone(),
                arguments,
                deadline_ms,
                fallback: terms.fallback,
                reasons: d.reasons.clone(),
            },
        );
        self.pending_review(id, binding, &d, &case, deadline_ms, "mcp.tools_call")
    }

    /// The answer to a held call: a tool result with `isError` and the case.
    fn pending_review(
        &mut self,
        id: &Json,
        binding: &ToolBinding,
        d: &Decided,
        case: &str,
        deadline_ms: i64,
        event: &str,
    ) -> Vec<Out> {
        let records = match self.record(&binding.tool, Some(binding), d, Some(case), event) {
            Ok(r) => r,
            Err(e) => {
                self.cases.remove(case);
                return vec![not_proven(id, &e)];
            }
        };
        let terms = d.review.as_ref();
        // Every role the approval needs: a reviewer must hold them all.
        let role = terms.map_or(String::new(), |t| {
            std::iter::once(&t.role)
                .chain(&t.also)
                .cloned()
                .collect::<Vec<_>>()
                .join(" and ")
        });
        let fallback = terms.map_or("deny", |t| t.fallback.keyword());
        let deadline = time_text(deadline_ms);
        let text = format!(
            "Held for human review (case {case}): tool \"{}\" needs the approval of role {role} \
             ({}). Nothing was done. Retry the same call with _meta {{\"{CASE_META}\": \
             \"{case}\"}} after approval; at {deadline} the fallback ({fallback}) applies.",
            binding.tool,
            d.reasons.join(", ")
        );
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
            verdict: Verdict::Deny,
            reasons: vec![UNBOUND_TOOL.to_string()],
            fired: Vec::new(),
            error: None,
            review: None,
            bound: None,
            reads: Vec::new(),
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
        };
        self.recorder.record(&self.program, &call)
    }
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
    Out::Client(jsonrpc::error(
        id,
        jsonrpc::UPSTREAM_GONE,
        "the upstream MCP server has exited; restart the gateway",
        None,
    ))
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
