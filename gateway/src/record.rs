//! Proof of every tool call: what the gateway records, behind a small trait so that the
//! session logic does not depend on where records go.

use std::path::Path;

use serde_json::{Value as Json, json};
use xop_runtime::bind::Bound;
use xop_runtime::connectors::{Replay, TapedRead};
use xop_runtime::engine::{Input, Options, Runtime};
use xop_runtime::ir::Program;
use xop_runtime::proof::evidence::KeyProvider;
use xop_runtime::proof::{LogConfig, ProofLog};

/// One tool call as decided, for the record. It holds no argument values: those the rules
/// read are in the policies' decision records, as evidence (personal ones as keyed hashes).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord<'a> {
    /// The agent's qualified name.
    pub agent: &'a str,
    /// The tool called.
    pub tool: &'a str,
    /// The action it is bound to (`None` for an unbound tool).
    pub action: Option<&'a str>,
    /// The action's input, bound (`None` when the call was refused before binding).
    pub bound: Option<&'a Bound>,
    /// The signals the decision read, with how they were fetched.
    pub reads: &'a [TapedRead],
    /// `allow`, `deny` or `review`.
    pub verdict: &'a str,
    /// The reasons.
    pub reasons: &'a [String],
    /// The rules that fired, across the action's policies.
    pub fired: &'a [String],
    /// The review case, for a review or a review's resolution.
    pub case: Option<&'a str>,
    /// What happened, e.g. `mcp.tools_call`, `mcp.review_fallback`.
    pub event: &'a str,
    /// For a line the gateway refused without reading it as text (too long, not UTF-8): what
    /// the record says of it, as `"line"` (`None` for every other record, which has no such
    /// key).
    pub line: Option<UnreadLine>,
}

/// A client line the gateway could not read as text, as its refusal is recorded: why, and its
/// length. Never its bytes (they may be personal, and were never decided on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnreadLine {
    /// Longer than [`crate::jsonrpc::MAX_MESSAGE`]; else, not UTF-8.
    pub too_long: bool,
    /// Its length in bytes, without its line break (all of it, the part the gateway dropped
    /// unread too).
    pub bytes: u64,
}

impl UnreadLine {
    /// The record's `line`: `{"refused": "too-long" | "not-utf-8", "bytes": N}`.
    pub fn json(&self) -> Json {
        json!({
            "refused": if self.too_long { "too-long" } else { "not-utf-8" },
            "bytes": self.bytes,
        })
    }
}

/// Where tool calls are proven. An error means the call was not proven: the gateway then
/// refuses it ([`crate::jsonrpc::NOT_PROVEN`]) rather than act without proof.
pub trait Recorder {
    /// Records `call`; the sequence numbers of the records written, in order.
    fn record(&mut self, program: &Program, call: &CallRecord<'_>) -> Result<Vec<u64>, String>;

    /// The subject keys that `@personal` values are hashed with in this log's records, so that
    /// a review case's evidence hashes them the same way (`None`: no log).
    fn keys(&self) -> Option<&dyn KeyProvider> {
        None
    }
}

/// No log: nothing is recorded (the gateway runs without `--log`).
#[derive(Debug, Default)]
pub struct NoRecorder;

impl Recorder for NoRecorder {
    fn record(&mut self, _program: &Program, _call: &CallRecord<'_>) -> Result<Vec<u64>, String> {
        Ok(Vec::new())
    }
}

/// The proof log of the runtime ([`xop_runtime::engine`]): for a decided call, one decision
/// record per policy guarding the action (with its evidence; each replays with `xop log
/// replay`), then an `mcp.tools_call` event that ties them to the call and gives the combined
/// verdict. An unbound tool or a refused input gets the event only.
pub struct EngineRecorder {
    runtime: Runtime,
}

impl std::fmt::Debug for EngineRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineRecorder").finish_non_exhaustive()
    }
}

/// The name the module is loaded under in the runtime.
const MODULE_NAME: &str = "mcp-gateway";

impl EngineRecorder {
    /// Opens (or creates) the proof log in `dir` and loads the module's bytes into it (the log
    /// keeps a copy of the module for replay).
    pub fn open(dir: &Path, module: &[u8]) -> Result<EngineRecorder, String> {
        let log = ProofLog::open(dir, LogConfig::default())
            .map_err(|e| format!("cannot open the proof log `{}`: {e}", dir.display()))?;
        if let Some(w) = log.recovery_warning() {
            eprintln!("warning: {w}");
        }
        let runtime = Runtime::with_log(log);
        runtime
            .load_bytes(MODULE_NAME, module, None)
            .map_err(|e| format!("cannot load the module into the proof log: {e}"))?;
        // A damaged copy of the module in DIR/modules/ was replaced: someone changed the folder.
        for w in runtime
            .log()
            .map(ProofLog::take_warnings)
            .unwrap_or_default()
        {
            eprintln!("warning: {w}");
        }
        Ok(EngineRecorder { runtime })
    }

    /// Closes the log (a final signed checkpoint).
    pub fn close(self) -> Result<(), String> {
        self.runtime.close().map_err(|e| e.to_string())
    }
}

impl Recorder for EngineRecorder {
    fn keys(&self) -> Option<&dyn KeyProvider> {
        self.runtime.log().map(|l| l as &dyn KeyProvider)
    }

    fn record(&mut self, program: &Program, call: &CallRecord<'_>) -> Result<Vec<u64>, String> {
        let mut seqs = Vec::new();
        if let (Some(action), Some(bound)) = (call.action, call.bound) {
            for p in program.guards(action) {
                let outcome = self
                    .runtime
                    .decide_with(
                        &p.qualified,
                        Input::Bound(bound),
                        Options {
                            // Proven with what the decision read, not a second read.
                            signals: Some(&Replay::new(call.reads)),
                            ..Options::default()
                        },
                    )
                    .map_err(|e| e.to_string())?;
                seqs.extend(outcome.seq);
            }
        }
        let log = self
            .runtime
            .log()
            .ok_or_else(|| "the runtime has no proof log".to_string())?;
        let mut data = json!({
            "agent": call.agent,
            "tool": call.tool,
            "action": call.action,
            "verdict": call.verdict,
            "reasons": call.reasons,
            "fired": call.fired,
            "decisions": seqs,
            "case": call.case,
        });
        if let (Some(line), Some(map)) = (call.line, data.as_object_mut()) {
            map.insert("line".into(), line.json());
        }
        let seq = log
            .append_event(call.event, data)
            .map_err(|e| e.to_string())?;
        seqs.push(seq);
        Ok(seqs)
    }
}

/// A recorder that keeps the records in memory, for tests of the session logic.
#[derive(Debug, Default)]
pub struct MemoryRecorder {
    /// The records, as JSON, in order.
    pub records: Vec<Json>,
    /// Fail every record (to test that an unproven call is refused).
    pub fail: bool,
}

impl Recorder for MemoryRecorder {
    fn record(&mut self, _program: &Program, call: &CallRecord<'_>) -> Result<Vec<u64>, String> {
        if self.fail {
            return Err("the log is full".into());
        }
        let mut record = json!({
            "event": call.event,
            "tool": call.tool,
            "action": call.action,
            "verdict": call.verdict,
            "reasons": call.reasons,
            "case": call.case,
        });
        if let (Some(line), Some(map)) = (call.line, record.as_object_mut()) {
            map.insert("line".into(), line.json());
        }
        self.records.push(record);
        Ok(vec![self.records.len() as u64 - 1])
    }
}
