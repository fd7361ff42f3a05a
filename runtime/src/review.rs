//! The review queue (DESIGN.md §5): a `review` verdict opens a durable case; a person of the
//! named role approves or rejects it, once (a case for reviews of several roles is approved
//! role by role, each by someone holding it, and rejected by any of them); when nobody does in
//! time, the deadline's fallback applies. Every outcome, and who decided it (a reviewer's name,
//! `deadline`, or `halt`), is a proof record (`review.approved`, `review.rejected`,
//! `review.fallback`; an approval of some roles of a case is `review.approval`). An answer is
//! accepted only for a case that is the one its decision's proof record describes
//! ([`differs`]): the store is outside the proof log. A halt switch sends every high-risk action
//! to its fallback until it is lifted. The file format and the reasoning behind it:
//! `docs/review.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use xop_runtime::engine::Runtime;
//! use xop_runtime::proof::{LogConfig, ProofLog};
//! use xop_runtime::review::{ReviewQueue, RuntimeLog};
//!
//! let dir = std::path::Path::new("data");
//! let rt = Arc::new(Runtime::with_log(ProofLog::open(dir, LogConfig::default())?));
//! let queue = ReviewQueue::open(dir, Box::new(RuntimeLog(Arc::downgrade(&rt))))?;
//! rt.set_review_sink(Some(queue.sink()));
//! queue.start_timer();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Store.** `DIR/reviews.log` is an append-only file of JSON lines, each written with one
//! `write` and one `fdatasync` before the change it describes is visible: `open` (a case),
//! `decide` (its outcome, the decider), `proved` (the outcome's proof record), `approve` and
//! `proved_approval` (an approval of some of a case's roles, and its proof record), `halt` and
//! `lift`. Opening the file replays it; a last line a crash cut short is dropped (its change was
//! never acknowledged). A write that fails is undone (the file cut back), or, if that fails
//! too, the store refuses every later change until reopened. A decided case whose `proved` line
//! is missing (a crash between the two) gets its proof record appended on open, marked
//! `recovered`. Opening refuses cases that name records the proof log does not have, and a case
//! id is never handed to another decision.
//!
//! **High risk.** The IR does not carry an action's risk class, but the compiler proves that
//! every `risk high` action is guarded by a `review` rule before any allow (E-level
//! compliance check). So the runtime treats every policy with a `review` rule as guarding a
//! high-risk action: a superset of the high-risk actions, which errs on the safe side. Its
//! fallback is the first review rule's `else` verdict ([`halt_fallback`]).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::engine::{ReviewCase, ReviewSink, Runtime};
use crate::ir::{Program, Verdict};
use crate::proof::record::{Body, Entry, Evidence, Record, ReviewTerms, time_text};
use crate::proof::verify::LogReader;
use crate::proof::{LogError, ProofLog};

/// The name of the review store in a data folder.
pub const FILE: &str = "reviews.log";

/// The decider recorded when the deadline's fallback applies.
pub const BY_DEADLINE: &str = "deadline";
/// The decider recorded when the halt switch applies the fallback.
pub const BY_HALT: &str = "halt";
/// The decider recorded when opening the queue gives its fallback to a `review` decision
/// record that has no case and no outcome record (a crash between the record and its case, or
/// a queue that lost its lines): see [`ReviewQueue::open_reporting`].
pub const BY_RECOVERY: &str = "recovery";

/// Whether the queue itself closed `case` with its review's fallback: the deadline passed (the
/// timer, opening the queue, or a reviewer's late answer: [`BY_DEADLINE`]) or opening the queue
/// gave a `review` decision that had no case its fallback ([`BY_RECOVERY`]). Not a case the halt
/// switch closed ([`BY_HALT`]: the decision itself answered that verdict), nor one a reviewer
/// decided. These are the cases [`ReviewQueue::set_on_fallback`] hands its owner, `allow` and
/// `deny` alike.
pub fn closed_by_fallback(case: &Case) -> bool {
    case.status == Status::Fallback
        && matches!(case.decided_by.as_deref(), Some(BY_DEADLINE | BY_RECOVERY))
}

/// What the owner of a queue is told of each case the queue closes with its fallback
/// ([`ReviewQueue::set_on_fallback`]).
pub type OnFallback = Box<FallbackHook>;

/// The hook of [`OnFallback`].
pub type FallbackHook = dyn Fn(&Case) + Send + Sync;

/// Runs the owner's `hook` for `case`; a hook that panics does not take the thread with it
/// (the timer's: deadlines would stop applying). The panic is reported on stderr as any is.
fn call(hook: &FallbackHook, case: &Case) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(case)));
}

/// Where the queue writes its proof records.
pub trait EventLog: Send + Sync {
    /// Appends an event record and returns its sequence number once it is durable.
    fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String>;

    /// Appends event records together and returns their sequence numbers, in order, once all
    /// are durable. A proof log makes them durable with one sync (the default appends them one
    /// by one). On an error, some of them may have been appended.
    fn append_events(&self, events: Vec<(&str, serde_json::Value)>) -> Result<Vec<u64>, String> {
        events
            .into_iter()
            .map(|(name, data)| self.append_event(name, data))
            .collect()
    }

    /// How many records the log has, if known: opening the queue refuses cases that name a
    /// record beyond it (the log lost records the queue remembers).
    fn size(&self) -> Option<u64> {
        None
    }

    /// What the log says about reviews and the halt switch ([`LogFacts`]), if it can be read:
    /// opening the queue checks the queue against it, both ways. `None`: not checked.
    fn facts(&self) -> Option<Result<LogFacts, String>> {
        None
    }

    /// Proof record `seq`, decoded, if the log can be read here: an approval or a rejection is
    /// checked against the record of the decision its case was opened for ([`Recorded`]), and
    /// a reviewer is shown that record's reasons and evidence ([`Shown`]). `None`: no log to
    /// read (nothing is checked); `Some(Err)`: the log has no such record, or it cannot be read.
    fn record(&self, seq: u64) -> Option<Result<Record, String>> {
        let _ = seq;
        None
    }
}

/// Proof record `seq` of `log`, decoded; an error names the record.
fn read_record(log: &ProofLog, seq: u64) -> Result<Record, String> {
    match log.record_bytes(seq) {
        Ok(Some(bytes)) => crate::proof::record::decode(&bytes)
            .map_err(|e| format!("proof record {seq} cannot be read: {e}")),
        Ok(None) => Err(format!(
            "the proof log has no record {seq} (it has {})",
            log.size()
        )),
        Err(e) => Err(format!("proof record {seq} cannot be read: {e}")),
    }
}

/// What a proof log says about the review queue: the last `halt.on`/`halt.off` record, the
/// `review` decision records, the `review.approval` records, and which records an outcome
/// record names.
#[derive(Debug, Clone, Default)]
pub struct LogFacts {
    /// How many records were read.
    pub size: u64,
    /// The last `halt.on` or `halt.off` record.
    pub halt: Option<LogHalt>,
    /// The records an outcome record names (`review.approved`, `review.rejected`,
    /// `review.fallback`, `halt.fallback`: their `record`).
    pub decided: std::collections::BTreeSet<u64>,
    /// The `review` decision records, by record (so in order), as their cases are checked
    /// against them ([`differs`]).
    pub recorded: BTreeMap<u64, Recorded>,
    /// The `review.approval` records, by record: an approval of some of a case's roles counts
    /// only if the record its `proved_approval` line names is one of these, of that case, by
    /// that reviewer, for those roles.
    pub approvals: BTreeMap<u64, LoggedApproval>,
    /// The outcome records (those [`LogFacts::decided`] counts), by the decision record they
    /// name, each decision's in log order: opening the queue closes a case the queue has open
    /// as the first of them says, and two that are not one outcome proven twice
    /// ([`decided_twice`]) mean the decision was decided twice.
    pub outcomes: BTreeMap<u64, Vec<LoggedOutcome>>,
}

/// An outcome record of a review decision: `review.approved`, `review.rejected`,
/// `review.fallback` or `halt.fallback`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedOutcome {
    /// Its record.
    pub seq: u64,
    /// Its name (`review.approved`, …).
    pub name: String,
    /// The case (`rv-N`; empty for a `halt.fallback`, which closes no case).
    pub case: String,
    /// The verdict that applies (`allow`, `deny`; empty when the record gives none).
    pub verdict: String,
    /// Who decided it (a reviewer, `deadline`, `halt`, `recovery`, `case-error`; empty when
    /// the record gives none).
    pub by: String,
    /// Whether it is marked `"recovered": true`: proven when the queue was opened, for an
    /// outcome a crash left unproven (or a case the queue lost).
    pub recovered: bool,
    /// Its record's time (RFC 3339).
    pub time: String,
}

impl LoggedOutcome {
    /// The outcome record `seq`, event `name` with `data`, written at `time`, and the decision
    /// record it names; `None` for any other event, or one naming no record.
    pub fn of(
        seq: u64,
        name: &str,
        data: &serde_json::Value,
        time: &str,
    ) -> Option<(u64, LoggedOutcome)> {
        if !matches!(
            name,
            "review.approved" | "review.rejected" | "review.fallback" | "halt.fallback"
        ) {
            return None;
        }
        let text = |k: &str| data[k].as_str().unwrap_or_default().to_string();
        let decision = data["record"].as_u64()?;
        Some((
            decision,
            LoggedOutcome {
                seq,
                name: name.to_string(),
                case: text("case"),
                verdict: text("verdict"),
                by: text("by"),
                recovered: data["recovered"].as_bool() == Some(true),
                time: time.to_string(),
            },
        ))
    }

    /// The case status this outcome gives.
    fn status(&self) -> Status {
        match self.name.as_str() {
            "review.approved" => Status::Approved,
            "review.rejected" => Status::Rejected,
            _ => Status::Fallback,
        }
    }

    /// Whether this record proves again the outcome `earlier` proved: the same outcome (name,
    /// case, verdict, decider), marked `recovered`. Opening the queue writes one when a crash
    /// came after an outcome's record and before its `proved` line (docs/review.md); it is not
    /// a second decision.
    pub fn repeats(&self, earlier: &LoggedOutcome) -> bool {
        self.recovered
            && self.name == earlier.name
            && self.case == earlier.case
            && self.verdict == earlier.verdict
            && self.by == earlier.by
    }
}

/// A review decision decided twice: `second`, an outcome record of decision record `decision`
/// that is not `first`'s outcome proven again ([`LoggedOutcome::repeats`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedTwice {
    /// The decision record (or the `review.requested` record of a case asked for elsewhere).
    pub decision: u64,
    /// Its first outcome record.
    pub first: LoggedOutcome,
    /// A later one deciding it again.
    pub second: LoggedOutcome,
}

impl DecidedTwice {
    /// What is wrong, naming both records, and what to do.
    pub fn message(&self) -> String {
        let said = |o: &LoggedOutcome| {
            let mut s = format!("`{}` (record {}", o.name, o.seq);
            if !o.verdict.is_empty() {
                s.push_str(&format!(", {}", o.verdict));
            }
            if !o.by.is_empty() {
                s.push_str(&format!(", by {}", o.by));
            }
            s.push(')');
            s
        };
        format!(
            "review decision record {} was decided twice: {} and then {}. A decision has one \
             outcome: the review queue lost the first (`{FILE}` restored from an older backup \
             than the proof log, and an xop that did not close the case from the log) or a \
             record was forged. The first outcome is the one that applies; check what was \
             carried out on the second",
            self.decision,
            said(&self.first),
            said(&self.second)
        )
    }
}

/// Every outcome record in `outcomes` (by the decision record they name) that decides its
/// decision again: not the first outcome record of it, nor one proving an earlier one again
/// ([`LoggedOutcome::repeats`]). In the order of the decisions, then of the records.
pub fn decided_twice(outcomes: &BTreeMap<u64, Vec<LoggedOutcome>>) -> Vec<DecidedTwice> {
    let mut found = Vec::new();
    for (&decision, records) in outcomes {
        let mut records = records.clone();
        records.sort_by_key(|o| o.seq);
        let Some((first, later)) = records.split_first() else {
            continue;
        };
        for (i, o) in later.iter().enumerate() {
            // `first`, then the `i` records of `later` before `o`.
            let earlier = later.get(..i).unwrap_or_default();
            if !std::iter::once(first).chain(earlier).any(|e| o.repeats(e)) {
                found.push(DecidedTwice {
                    decision,
                    first: first.clone(),
                    second: o.clone(),
                });
            }
        }
    }
    found
}

/// A `review.approval` record: one reviewer's approval of some of a case's roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedApproval {
    /// The case (`rv-N`).
    pub case: String,
    /// The case's decision record (its `record`).
    pub record: Option<u64>,
    /// The reviewer.
    pub by: String,
    /// The roles approved.
    pub roles: Vec<String>,
}

/// A `halt.on` or `halt.off` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHalt {
    /// Its record.
    pub seq: u64,
    /// `halt.on`.
    pub on: bool,
    /// Who (its `by`).
    pub by: String,
    /// Why (a `halt.on`'s `reason`).
    pub reason: String,
    /// When it was written (RFC 3339).
    pub time: String,
}

impl LogFacts {
    /// Notes one record.
    pub fn note(&mut self, r: &Record) {
        self.size = self.size.max(r.seq + 1);
        match &r.body {
            Body::Decision(d) if d.verdict == Verdict::Review => {
                if let Some(rec) = Recorded::of(r) {
                    self.recorded.insert(r.seq, rec);
                }
            }
            Body::Event { name, data } => {
                let text = |k: &str| data[k].as_str().unwrap_or_default().to_string();
                match name.as_str() {
                    "halt.on" | "halt.off" => {
                        self.halt = Some(LogHalt {
                            seq: r.seq,
                            on: name == "halt.on",
                            by: text("by"),
                            reason: text("reason"),
                            time: r.time.clone(),
                        });
                    }
                    "review.approved" | "review.rejected" | "review.fallback" | "halt.fallback" => {
                        if let Some((seq, outcome)) = LoggedOutcome::of(r.seq, name, data, &r.time)
                        {
                            self.decided.insert(seq);
                            self.outcomes.entry(seq).or_default().push(outcome);
                        }
                    }
                    "review.approval" => {
                        self.approvals.insert(
                            r.seq,
                            LoggedApproval {
                                case: text("case"),
                                record: data["record"].as_u64(),
                                by: text("by"),
                                roles: serde_json::from_value(data["roles"].clone())
                                    .unwrap_or_default(),
                            },
                        );
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Reads the committed records of the proof log in `dir` (read-only).
    pub fn read(dir: &Path) -> Result<LogFacts, String> {
        let mut reader = LogReader::open(dir).map_err(|e| e.to_string())?;
        let mut facts = LogFacts::default();
        for seq in 0..reader.size() {
            facts.note(&reader.record(seq).map_err(|e| e.to_string())?);
        }
        facts.size = reader.size();
        Ok(facts)
    }
}

/// A review case as its proof record gives it: the `review` decision the case was opened for,
/// or the `review.requested` event of a case opened for a decision made elsewhere (`POST
/// /v1/reviews`: an MCP gateway's held call). `reviews.log` is outside the proof log, so what a
/// case says is checked against this ([`differs`]) before a reviewer's answer is accepted,
/// before its action is carried out ([`crate::engine::Runtime::perform_approved`]), and by
/// `xop log verify` ([`check_cases`]); a reviewer is shown its reasons and evidence ([`Shown`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// What the record gives the case (`seq` is the record's).
    pub case: ReviewCase,
    /// The action the record names: `None` for a decision of one policy, whose action only the
    /// module says.
    pub action: Option<String>,
    /// The record's commitment to the arguments the case keeps, if it holds one
    /// ([`crate::proof::record::DecisionRecord::args_sha256`]).
    pub args_sha256: Option<String>,
    /// The record's `time` (ms since the epoch): for a decision, when it began (before its
    /// input was bound and its signals read); for a `review.requested` event, when it was
    /// written. The case's period runs from then ([`differs`]). `None`: not known (a record
    /// read without its time), and the deadline is not compared with it.
    pub written_ms: Option<i64>,
}

/// How much later than its record's `time` a case may be opened ([`differs`]). A decision's
/// record carries the time the decision began; its case is opened only once the record is
/// durable, after the decision's input was bound and its signals read (network reads, within
/// `xop serve`'s `timeout_ms`, 10 s by default), the proof log synced, and the queue's lock
/// taken. A case whose `opened_ms` (and so deadline) is later than this after its record was
/// moved in `reviews.log`, and no answer to it is accepted.
pub const OPENING_ALLOWANCE_MS: i64 = 60_000;

impl Recorded {
    /// What record `r` gives a review case: `None` when it is neither a `review` decision nor a
    /// `review.requested` event.
    pub fn of(r: &Record) -> Option<Recorded> {
        let written_ms = r
            .time
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_millisecond());
        match &r.body {
            Body::Decision(d) => {
                Recorded::of_decision(r.seq, d).map(|rec| Recorded { written_ms, ..rec })
            }
            Body::Event { name, data } if name == "review.requested" => {
                let text = |k: &str| data[k].as_str().unwrap_or_default().to_string();
                let list = |k: &str| serde_json::from_value(data[k].clone()).unwrap_or_default();
                let fallback = match data["fallback"].as_str()? {
                    "allow" => Verdict::Allow,
                    "deny" => Verdict::Deny,
                    _ => return None,
                };
                Some(Recorded {
                    case: ReviewCase {
                        seq: Some(r.seq),
                        module: text("module"),
                        policy: text("policy"),
                        action: text("action"),
                        reasons: list("reasons"),
                        terms: ReviewTerms {
                            role: text("role"),
                            within_ms: data["within_ms"].as_i64()?,
                            fallback,
                            deadline: String::new(),
                            also: list("also"),
                        },
                        evidence: serde_json::from_value(data["evidence"].clone())
                            .unwrap_or_default(),
                        at_ms: r
                            .time
                            .parse::<jiff::Timestamp>()
                            .map_or(0, |t| t.as_millisecond()),
                    },
                    action: Some(text("action")),
                    args_sha256: None,
                    written_ms,
                })
            }
            _ => None,
        }
    }
}

impl Recorded {
    /// What decision record `seq` (`d`) gives a review case: `None` when it is not a `review`
    /// decision.
    pub fn of_decision(seq: u64, d: &crate::proof::record::DecisionRecord) -> Option<Recorded> {
        if d.verdict != Verdict::Review {
            return None;
        }
        Some(Recorded {
            case: ReviewCase {
                seq: Some(seq),
                module: d.module.clone(),
                policy: d.policy.clone(),
                action: d.action.clone().unwrap_or_default(),
                reasons: d.reasons.clone(),
                terms: d.review.clone()?,
                evidence: d.evidence.clone(),
                at_ms: d
                    .at
                    .parse::<jiff::Timestamp>()
                    .map_or(0, |t| t.as_millisecond()),
            },
            action: d.action.clone(),
            args_sha256: d.args_sha256.clone(),
            written_ms: None,
        })
    }
}

/// A case as a reviewer is shown it (`xop review show`, `xop review list`, `GET
/// /v1/reviews[/{id}]`): the reasons and evidence are those of the proof record the case was
/// opened for, not `reviews.log`'s (a file outside the proof log, which anyone who can write
/// the data folder can change); where the file's case differs from the record, `record_differs`
/// says how, and where the record cannot be read, `record_error` says so (the reasons and
/// evidence are then the file's, unchecked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shown {
    /// The case, with the record's reasons and evidence.
    #[serde(flatten)]
    pub case: Case,
    /// The roles the case still waits for an approval of (none once it is decided).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<String>,
    /// How the case in `reviews.log` differs from its record: its reasons, its evidence, and
    /// what [`differs`] names. Absent when they agree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_differs: Option<String>,
    /// Why the case's record could not be read: the reasons and evidence shown are then the
    /// file's, not checked. Absent when it was read (or there is no proof log).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_error: Option<String>,
}

impl Shown {
    /// `case` as a reviewer is shown it, given its record (`None`: no proof log to read).
    pub fn of(mut case: Case, record: Option<Result<Record, String>>) -> Shown {
        let waiting = match case.status {
            Status::Open => case.waiting(),
            _ => Vec::new(),
        };
        let unchecked = "the reasons and evidence shown are the file's, not checked against it";
        let (record_differs, record_error) = match (case.seq, record) {
            (_, None) => (None, None),
            (None, Some(_)) => (
                None,
                Some(format!(
                    "the case names no proof record (`seq`) in `{FILE}`: {unchecked}"
                )),
            ),
            (Some(_), Some(Err(e))) => (None, Some(format!("{e}: {unchecked}"))),
            (Some(seq), Some(Ok(r))) => match Recorded::of(&r) {
                None => (
                    None,
                    Some(format!(
                        "proof record {seq} is neither a `review` decision nor a \
                         `review.requested` request: {unchecked}"
                    )),
                ),
                Some(rec) => {
                    let mut what = Vec::new();
                    if case.reasons != rec.case.reasons {
                        what.push(format!(
                            "its reasons in `{FILE}` are {:?}; the record's are {:?} (shown)",
                            case.reasons, rec.case.reasons
                        ));
                    }
                    if case.evidence != rec.case.evidence {
                        what.push(format!(
                            "its evidence in `{FILE}` ({} items) is not the record's ({} items, \
                             shown)",
                            case.evidence.len(),
                            rec.case.evidence.len()
                        ));
                    }
                    what.extend(differs(&case, &rec));
                    case.reasons = rec.case.reasons;
                    case.evidence = rec.case.evidence;
                    ((!what.is_empty()).then(|| what.join("; ")), None)
                }
            },
        };
        Shown {
            case,
            waiting,
            record_differs,
            record_error,
        }
    }

    /// The cases of the data folder `dir` as a reviewer is shown them, their records read from
    /// the proof log there (read-only: a live server's folder can be read). A log that cannot
    /// be opened is said in each case's `record_error`.
    pub fn read_all(dir: &Path, cases: Vec<Case>) -> Vec<Shown> {
        let mut reader = LogReader::open(dir).map_err(|e| e.to_string());
        cases
            .into_iter()
            .map(|c| {
                let record = c.seq.map(|seq| match &mut reader {
                    Ok(r) => r
                        .record(seq)
                        .map_err(|e| format!("proof record {seq}: {e}")),
                    Err(e) => Err(format!("the proof log cannot be read ({e})")),
                });
                let record = record.or_else(|| Some(Err(String::new())));
                Shown::of(c, record)
            })
            .collect()
    }
}

/// A review's terms as a reviewer reads them: `role `a` (and `b`), within N ms, else deny`.
fn terms_text(role: &str, also: &[String], within_ms: i64, fallback: &str) -> String {
    let also: String = also.iter().map(|r| format!(" and `{r}`")).collect();
    format!("role `{role}`{also}, within {within_ms} ms, else {fallback}")
}

/// Where `case` differs from what its proof record gives it (`rec`), `; `-separated: its id
/// (`rv-N`, N the record: one case per decision), its review (role, other roles, period,
/// fallback), its module, policy and action, and the arguments it keeps (when the record
/// commits to them). `None`: it is the record's case. This is the one comparison of a case
/// with its record: the queue makes it before accepting a reviewer's answer
/// ([`ReviewError::Changed`]), [`crate::engine::Runtime::perform_approved`] before carrying
/// an action out, and [`check_cases`] for `xop log verify`. Reasons and evidence, which
/// decide nothing, are compared by [`Shown`].
pub fn differs(case: &Case, rec: &Recorded) -> Option<String> {
    let r = &rec.case;
    let mut what = Vec::new();
    if let Some(seq) = r.seq
        && case.id != format!("rv-{seq}")
    {
        what.push(format!(
            "its id is `{}`, but this record's case is `rv-{seq}` (a second case for one \
             decision)",
            case.id
        ));
    }
    let fallback = verdict_keyword(r.terms.fallback);
    if case.role != r.terms.role
        || case.also != r.terms.also
        || case.within_ms != r.terms.within_ms
        || case.fallback != fallback
    {
        what.push(format!(
            "its review is {}; the record gives {}",
            terms_text(&case.role, &case.also, case.within_ms, &case.fallback),
            terms_text(&r.terms.role, &r.terms.also, r.terms.within_ms, &fallback)
        ));
    }
    // The deadline: the period (checked above) from the case's opening, which follows its
    // record by at most `OPENING_ALLOWANCE_MS`. A case the queue rebuilt from its record on
    // opening (`BY_RECOVERY`) was opened then, and closed at once: no answer is taken.
    let rebuilt =
        case.status == Status::Fallback && case.decided_by.as_deref() == Some(BY_RECOVERY);
    if !rebuilt {
        let due = rec.written_ms.map(|w| {
            let due = w.saturating_add(r.terms.within_ms);
            (w, due.saturating_add(OPENING_ALLOWANCE_MS))
        });
        if case.deadline_ms != case.opened_ms.saturating_add(case.within_ms) {
            what.push(format!(
                "its deadline is {} ({} ms), not its opening ({} ms) plus its period ({} ms)",
                case.deadline, case.deadline_ms, case.opened_ms, case.within_ms
            ));
        } else if let Some((written, due)) = due
            && case.deadline_ms > due
        {
            what.push(format!(
                "its deadline is {} ({} ms), later than the record allows ({} ms: its period \
                 from the record's time, {}, and at most {OPENING_ALLOWANCE_MS} ms to open the \
                 case)",
                case.deadline,
                case.deadline_ms,
                due,
                time_text(written)
            ));
        }
    }
    for (field, got, want) in [
        ("module", &case.module, &r.module),
        ("policy", &case.policy, &r.policy),
    ] {
        if got != want {
            what.push(format!("its {field} is `{got}`; the record's is `{want}`"));
        }
    }
    if let Some(action) = &rec.action
        && &case.action != action
    {
        what.push(format!(
            "its action is `{}`; the record's is `{action}`",
            case.action
        ));
    }
    if let Some(want) = &rec.args_sha256 {
        match &case.args {
            Some(args) => {
                let got = crate::proof::record::args_sha256(args);
                if &got != want {
                    what.push(format!(
                        "it keeps arguments whose SHA-256 is {got}; the record commits to {want}"
                    ));
                }
            }
            None => what.push(format!(
                "it keeps no arguments; the record commits to arguments whose SHA-256 is {want}"
            )),
        }
    }
    (!what.is_empty()).then(|| what.join("; "))
}

impl EventLog for ProofLog {
    fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
        ProofLog::append_event(self, name, data).map_err(|e| e.to_string())
    }

    fn append_events(&self, events: Vec<(&str, serde_json::Value)>) -> Result<Vec<u64>, String> {
        append_events(self, events)
    }

    fn size(&self) -> Option<u64> {
        Some(ProofLog::size(self))
    }

    fn facts(&self) -> Option<Result<LogFacts, String>> {
        Some(LogFacts::read(self.dir()))
    }

    fn record(&self, seq: u64) -> Option<Result<Record, String>> {
        Some(read_record(self, seq))
    }
}

/// A runtime's proof log, held weakly: the runtime holds the queue (as its review sink), so a
/// strong reference back would keep both alive forever.
pub struct RuntimeLog(pub Weak<Runtime>);

impl RuntimeLog {
    /// `f` on the runtime's proof log, or why there is none to write to.
    fn with_log<T>(&self, f: impl FnOnce(&ProofLog) -> Result<T, String>) -> Result<T, String> {
        let rt = self.0.upgrade().ok_or(
            "the runtime was closed; outcomes will be proven when the queue is next opened",
        )?;
        let log = rt
            .log()
            .ok_or("the runtime has no proof log: open it with `Runtime::with_log`")?;
        f(log)
    }
}

impl EventLog for RuntimeLog {
    fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
        self.with_log(|log| {
            ProofLog::append_event(log, name, data).map_err(|e: LogError| e.to_string())
        })
    }

    fn append_events(&self, events: Vec<(&str, serde_json::Value)>) -> Result<Vec<u64>, String> {
        self.with_log(|log| append_events(log, events))
    }

    fn size(&self) -> Option<u64> {
        self.0.upgrade()?.log().map(ProofLog::size)
    }

    fn facts(&self) -> Option<Result<LogFacts, String>> {
        let rt = self.0.upgrade()?;
        Some(LogFacts::read(rt.log()?.dir()))
    }

    fn record(&self, seq: u64) -> Option<Result<Record, String>> {
        let Some(rt) = self.0.upgrade() else {
            return Some(Err(
                "the runtime was closed: its proof log cannot be read".to_string()
            ));
        };
        Some(read_record(rt.log()?, seq))
    }
}

/// Appends event records to `log` with one wait for the lot ([`ProofLog::append_many`]).
fn append_events(
    log: &ProofLog,
    events: Vec<(&str, serde_json::Value)>,
) -> Result<Vec<u64>, String> {
    let time = time_text(jiff::Timestamp::now().as_millisecond());
    let entries: Vec<Entry> = events
        .into_iter()
        .map(|(name, data)| Entry {
            time: time.clone(),
            body: Body::Event {
                name: name.to_string(),
                data,
            },
        })
        .collect();
    Ok(log
        .append_many(&entries)
        .map_err(|e| e.to_string())?
        .collect())
}

/// An authenticated person who may decide cases of their roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    /// Their name, as recorded in the proof log.
    pub name: String,
    /// The roles they hold (a case names one).
    pub roles: Vec<String>,
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Waiting for a reviewer.
    Open,
    /// A reviewer approved it: the action may go ahead.
    Approved,
    /// A reviewer rejected it.
    Rejected,
    /// Nobody decided in time (or the halt switch was on): the fallback applied.
    Fallback,
}

impl Status {
    /// The keyword (`open`, `approved`, …).
    pub fn keyword(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Fallback => "fallback",
        }
    }

    /// Parses a keyword.
    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "open" => Status::Open,
            "approved" => Status::Approved,
            "rejected" => Status::Rejected,
            "fallback" => Status::Fallback,
            _ => return None,
        })
    }
}

/// A review case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// Its id (`rv-<record>`: the decision's proof record).
    pub id: String,
    /// The decision's proof record.
    pub seq: Option<u64>,
    /// The module's content hash, hex.
    pub module: String,
    /// The policy's qualified name.
    pub policy: String,
    /// The action's qualified name.
    pub action: String,
    /// Why it is reviewed.
    pub reasons: Vec<String>,
    /// The role that decides.
    pub role: String,
    /// Other roles, each to be approved too (by someone holding it): the case stands for review
    /// rules of several roles that fired together (`interp::merge_reviews`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
    /// How long the role has, in milliseconds.
    pub within_ms: i64,
    /// The verdict when nobody decides in time (`allow` or `deny`).
    pub fallback: String,
    /// The deadline (ms since the epoch): when the case was opened plus `within_ms`.
    pub deadline_ms: i64,
    /// The deadline, RFC 3339.
    pub deadline: String,
    /// The evidence, as logged (personal values hashed).
    pub evidence: Vec<Evidence>,
    /// The decision time the rules saw (ms since the epoch).
    pub at_ms: i64,
    /// When the case was opened (ms since the epoch).
    pub opened_ms: i64,
    /// Where it stands.
    pub status: Status,
    /// The final verdict once decided (`allow` when approved, `deny` when rejected, the
    /// fallback otherwise).
    pub verdict: Option<String>,
    /// Who decided: a reviewer's name, `deadline` or `halt`.
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// The reviewer's note.
    pub note: Option<String>,
    /// The outcome's proof record, once durable.
    pub proof: Option<u64>,
    /// The action's arguments (one key per parameter, values as proof records write them),
    /// kept so that an approval, or an `allow` fallback at the deadline, can carry out an
    /// action the connectors carry out ([`crate::engine::Runtime::perform_approved`]); absent
    /// otherwise. Never kept when an
    /// argument holds a `@personal` value, which would be in clear here
    /// ([`crate::engine::ReviewSink::open_case_with_args`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<serde_json::Map<String, serde_json::Value>>,
    /// The approvals given so far, in order: a case for reviews of several roles (`also`) is
    /// approved once each of its roles is, by someone holding it; until then it stays open
    /// with the approvals given. Of an approved case, the last is the one that completed it
    /// (by [`Case::decided_by`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<Approval>,
}

/// One reviewer's approval of a case, for the roles of the case they hold that nobody had
/// approved yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// The reviewer's name.
    pub by: String,
    /// The roles of the case it approved.
    pub roles: Vec<String>,
    /// When (RFC 3339).
    pub at: String,
    /// The reviewer's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Its proof record, once durable: a `review.approval` event, or, for the approval that
    /// completed the case, its `review.approved`.
    pub proof: Option<u64>,
}

impl Case {
    /// Every role the case stands for: `role`, then `also`, each once.
    pub fn roles(&self) -> Vec<String> {
        let mut roles: Vec<String> = Vec::new();
        for r in std::iter::once(&self.role).chain(&self.also) {
            if !roles.contains(r) {
                roles.push(r.clone());
            }
        }
        roles
    }

    /// The roles of the case that no approval has covered yet, in [`Case::roles`] order (none,
    /// once it is approved).
    pub fn waiting(&self) -> Vec<String> {
        self.roles()
            .into_iter()
            .filter(|r| !self.approvals.iter().any(|a| a.roles.contains(r)))
            .collect()
    }
}

/// The halt switch's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// Who turned it on.
    pub by: String,
    /// When (RFC 3339).
    pub at: String,
    /// Why, as given.
    pub reason: String,
}

/// Why the queue refused something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewError {
    /// No case has this id.
    NotFound(String),
    /// The case was decided already: nothing changed.
    AlreadyDecided {
        /// The case.
        id: String,
        /// How it was decided.
        status: Status,
        /// By whom.
        by: String,
    },
    /// The reviewer holds none of the case's roles: nothing changed.
    WrongRole {
        /// The case.
        id: String,
        /// The role it needs (the first it still waits for).
        role: String,
        /// The reviewer.
        reviewer: String,
    },
    /// Every role of the case the reviewer holds was approved already (by them or another):
    /// nothing changed; the case waits for other roles.
    AlreadyApproved {
        /// The case.
        id: String,
        /// The reviewer.
        reviewer: String,
        /// The roles of the case they hold.
        roles: Vec<String>,
        /// The roles it still waits for.
        waiting: Vec<String>,
    },
    /// The case in `reviews.log` is not the one its decision's proof record describes (it was
    /// changed in the file since), or that record cannot be read: the answer is refused, and
    /// nothing changed. The case still falls back at its deadline.
    Changed {
        /// The case.
        id: String,
        /// The decision's proof record, if the case names one.
        record: Option<u64>,
        /// What differs, or why the record cannot be read.
        what: String,
    },
    /// The halt switch is on: no case can be approved. Every case is a review's, and every
    /// reviewed action counts as high-risk (see the module documentation), also one whose case
    /// was opened for a decision made elsewhere: the module that made it, and so its action's
    /// risk class, is not known here.
    Halted {
        /// The case.
        id: String,
        /// Who halted.
        by: String,
    },
    /// The store could not be read or written.
    Io(String),
    /// The store is damaged.
    Corrupt(String),
    /// The outcome is durable in the queue but its proof record could not be appended (it will
    /// be when the queue is next opened).
    Log(String),
    /// The halt switch was turned on (`on`) or off in the queue, and applies, but its proof
    /// record (`halt.on`, `halt.off`) could not be appended: it is when the queue is next
    /// opened.
    HaltLog {
        /// Whether the halt was turned on.
        on: bool,
        /// Why the record could not be written.
        why: String,
    },
}

impl fmt::Display for ReviewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReviewError::NotFound(id) => write!(
                f,
                "no review case `{id}`; `xop review list` (or `GET /v1/reviews`) shows the cases"
            ),
            ReviewError::AlreadyDecided { id, by, .. } if by == BY_DEADLINE => write!(
                f,
                "case `{id}`'s deadline has passed: its fallback applies (`xop review show \
                 {id} --data DIR`, or `GET /v1/reviews/{id}`, gives its verdict); a case is \
                 decided before its deadline or not at all"
            ),
            ReviewError::AlreadyDecided { id, status, by } => write!(
                f,
                "case `{id}` was already decided ({}, by {by}); a case is decided once",
                status.keyword()
            ),
            ReviewError::WrongRole { id, role, reviewer } => write!(
                f,
                "case `{id}` needs a reviewer of role `{role}`, which `{reviewer}` does not \
                 hold (nor any other role of the case); ask a reviewer of that role, or add the \
                 role to `{reviewer}` in xop.toml"
            ),
            ReviewError::AlreadyApproved {
                id,
                reviewer,
                roles,
                waiting,
            } => write!(
                f,
                "case `{id}` was already approved for {} (every role of it that `{reviewer}` \
                 holds); it waits for {}: ask a reviewer of {}",
                role_list(roles),
                role_list(waiting),
                if waiting.len() == 1 {
                    "that role"
                } else {
                    "those roles"
                }
            ),
            ReviewError::Changed { id, record, what } => write!(
                f,
                "case `{id}` in `{FILE}` is not the case its decision's proof record{} \
                 describes: {what}. The file is not part of the proof log: it was changed since \
                 the decision, so no answer to the case is accepted (nothing was recorded); \
                 compare it (`xop review show {id}`) with the record (`xop log show`); the case \
                 still falls back at its deadline",
                record.map_or(String::new(), |r| format!(" ({r})"))
            ),
            ReviewError::Halted { id, by } => write!(
                f,
                "the halt switch is on (turned on by {by}): no review case can be approved \
                 until it is lifted, case `{id}` included (every action sent to review counts \
                 as high-risk, also one whose case was opened for a decision made elsewhere); \
                 it can be rejected, and its deadline still applies"
            ),
            ReviewError::Io(m) | ReviewError::Corrupt(m) => f.write_str(m),
            ReviewError::Log(m) => write!(
                f,
                "the outcome is recorded in the review queue, but its proof record could not be \
                 written: {m}; it is written when the queue is next opened"
            ),
            ReviewError::HaltLog { on, why } => write!(
                f,
                "the halt switch is {} (recorded in the review queue, and applied), but its \
                 proof record (`halt.{}`) could not be written: {why}; it is written when the \
                 queue is next opened",
                if *on { "on" } else { "off" },
                if *on { "on" } else { "off" }
            ),
        }
    }
}

impl std::error::Error for ReviewError {}

impl ReviewError {
    /// An I/O error said with what was being done when it happened (`what`: "giving …"), so
    /// that an operator knows which step failed; any other error as it is.
    fn doing(self, what: &str) -> ReviewError {
        match self {
            ReviewError::Io(m) => ReviewError::Io(format!("{what}: {m}")),
            e => e,
        }
    }
}

/// `role `a``, `roles `a` and `b``.
pub fn role_list(roles: &[String]) -> String {
    let names: Vec<String> = roles.iter().map(|r| format!("`{r}`")).collect();
    match names.len() {
        1 => format!("role {}", names[0]),
        _ => format!("roles {}", names.join(" and ")),
    }
}

/// One line of the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum Line {
    Open {
        case: Box<Case>,
    },
    Decide {
        id: String,
        status: Status,
        verdict: String,
        by: String,
        at: String,
        note: Option<String>,
    },
    Proved {
        id: String,
        seq: u64,
    },
    /// A reviewer's approval of some of an open case's roles, not all of those it waits for
    /// (the approval that completes it is a `decide` line).
    Approve {
        id: String,
        by: String,
        roles: Vec<String>,
        at: String,
        note: Option<String>,
    },
    /// The proof record (`review.approval`) of approval `n` (0-based) of the case.
    #[serde(rename = "proved_approval")]
    ProvedApproval {
        id: String,
        n: usize,
        seq: u64,
    },
    /// Approval `n` (0-based) of an open case does not count, and is taken out of it: opening
    /// the queue found it unproven or not the approval its proof record gives
    /// ([`approval_fault`]). Written so that a replay numbers later approvals as the queue did.
    #[serde(rename = "drop_approval")]
    DropApproval {
        id: String,
        n: usize,
        reason: String,
    },
    Halt {
        halt: Halt,
    },
    Lift {
        by: String,
        at: String,
    },
}

/// How many cases opening (or the timer) decides and proves together: one sync of the store
/// and one of the proof log for each batch, not for each case.
pub const BATCH: usize = 1024;

/// What opening the queue is doing ([`ReviewQueue::open_reporting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Which work.
    pub stage: Stage,
    /// How many cases of it are done.
    pub done: usize,
    /// How many there are.
    pub total: usize,
}

/// The work opening the queue does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Proving outcomes a crash left unproven (durable in the queue, not in the proof log).
    Unproven,
    /// Applying the fallback of cases whose deadline passed.
    Overdue,
    /// Giving their fallback to `review` decision records that have no case and no outcome
    /// record ([`BY_RECOVERY`]).
    Lost,
}

/// From how many cases an [`OpeningReport`] says what opening the queue is doing.
pub const REPORT_FROM: usize = 1000;
/// How often it then says how far it got.
pub const REPORT_EVERY: Duration = Duration::from_secs(3);

/// What a command says on stderr while opening the queue proves or closes many cases (after a
/// crash, or a long stop with many cases falling due), fed the [`Progress`] of
/// [`ReviewQueue::open_reporting`]: what it does and how many, once, then how far it got every
/// [`REPORT_EVERY`], then that it is done. Nothing under [`REPORT_FROM`] cases, which take too
/// little time to mention. `xop serve` and `xop review` share it.
pub struct OpeningReport<N> {
    now: N,
    before: &'static str,
    last: Option<std::time::Instant>,
}

impl<N: FnMut() -> std::time::Instant> OpeningReport<N> {
    /// A report reading the time from `now` (injectable for tests); `before` says what waits
    /// for the work, e.g. "before listening".
    pub fn new(now: N, before: &'static str) -> Self {
        OpeningReport {
            now,
            before,
            last: None,
        }
    }

    /// The line to print for `p`, if any.
    pub fn line(&mut self, p: Progress) -> Option<String> {
        if p.total < REPORT_FROM {
            return None;
        }
        let now = (self.now)();
        let what = match p.stage {
            Stage::Unproven => "proving the outcomes of",
            Stage::Overdue => "applying the fallback of",
            Stage::Lost => "applying the fallback of",
        };
        if p.done == 0 {
            self.last = Some(now);
            let why = match p.stage {
                Stage::Unproven => "decided before a crash, not yet in the proof log",
                Stage::Overdue => "their deadline passed while no server was running",
                Stage::Lost => "review decisions in the proof log that the queue has no case for",
            };
            return Some(format!(
                "{what} {} review cases ({why}) {}…",
                p.total, self.before
            ));
        }
        if p.done >= p.total {
            self.last = Some(now);
            return Some(format!("{what} {} review cases: done", p.total));
        }
        if self
            .last
            .is_none_or(|t| now.duration_since(t) >= REPORT_EVERY)
        {
            self.last = Some(now);
            return Some(format!("{what} review cases: {} of {}…", p.done, p.total));
        }
        None
    }
}

/// A clock: milliseconds since the epoch (injectable for tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn wall_clock() -> Clock {
    Arc::new(|| jiff::Timestamp::now().as_millisecond())
}

struct State {
    file: File,
    /// The file's length: where the next line goes, and what a failed write is cut back to.
    len: u64,
    /// Why the store stopped accepting lines: a failed write could not be undone, so the file
    /// may end in a partial line that a later line would turn into damage.
    failed: Option<String>,
    cases: BTreeMap<String, Case>,
    halt: Option<Halt>,
    /// What opening did to make the queue agree with the proof log, for the operator.
    notices: Vec<String>,
    /// Tests: how the next write fails.
    #[cfg(test)]
    fault: Option<Fault>,
    /// Tests: how many lines' writes were synced.
    #[cfg(test)]
    syncs: usize,
}

/// Tests: a write that fails as on a full disk, after writing part of the line.
#[cfg(test)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Half the line is written, then the write fails.
    Torn,
    /// As `Torn`, and cutting the file back fails too.
    TornUnrecoverable,
}

// Tests: how the first write of the next queue this thread opens fails (a full disk while
// opening: a lost case's fallback, say).
#[cfg(test)]
thread_local! {
    static OPEN_FAULT: std::cell::Cell<Option<Fault>> = const { std::cell::Cell::new(None) };
}

impl State {
    /// Makes `line` durable, then applies it. A failed write is undone (the file cut back to
    /// its length before it), so a partial line never stays in front of later ones; if even
    /// that fails, the store refuses every later line until it is reopened (fail closed).
    fn write(&mut self, path: &Path, line: Line) -> Result<(), ReviewError> {
        self.write_lines(path, vec![line])
    }

    /// Makes `lines` durable together (one write, one sync), then applies them; as
    /// [`State::write`]: on a failure none of them is applied, nor left in the file.
    fn write_lines(&mut self, path: &Path, lines: Vec<Line>) -> Result<(), ReviewError> {
        if lines.is_empty() {
            return Ok(());
        }
        if let Some(why) = &self.failed {
            return Err(ReviewError::Io(format!(
                "the review store `{}` stopped accepting changes after a write failed and could \
                 not be undone ({why}); nothing was changed: fix the cause and restart (reopening \
                 drops the partial line)",
                path.display()
            )));
        }
        let mut text = String::new();
        for line in &lines {
            text.push_str(&serde_json::to_string(line).map_err(|e| {
                ReviewError::Io(format!("internal: cannot encode a review line: {e}"))
            })?);
            text.push('\n');
        }
        if let Err(e) = self.append(text.as_bytes()) {
            let undone = match self.undo() {
                Ok(()) => "it was cut back off, so nothing was changed".to_string(),
                Err(undo) => {
                    self.failed = Some(format!("{e}, then {undo}"));
                    format!(
                        "cutting it back off failed too ({undo}), so the queue accepts no change \
                         until it is opened again"
                    )
                }
            };
            return Err(ReviewError::Io(format!(
                "`{}`: a line could not be written ({e}); {undone}",
                path.display()
            )));
        }
        self.len += text.len() as u64;
        for line in lines {
            apply(&mut self.cases, &mut self.halt, line);
        }
        Ok(())
    }

    /// Writes and syncs `bytes` at the end of the file.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fault.is_some() {
            self.file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(std::io::Error::other(
                "No space left on device (injected by a test)",
            ));
        }
        self.file.write_all(bytes)?;
        #[cfg(test)]
        {
            self.syncs += 1;
        }
        self.file.sync_data()
    }

    /// Takes approval `n` of case `id`, whose `approve` line is the store's last (from
    /// `before`), back out: of the case, and of the file (cut back and synced). When the file
    /// cannot be cut, the store stops accepting lines (as after a write that cannot be undone);
    /// opening it again drops the unproven line.
    fn retract(&mut self, before: u64, id: &str, n: usize) {
        if let Some(c) = self.cases.get_mut(id)
            && n < c.approvals.len()
        {
            c.approvals.remove(n);
        }
        if self.failed.is_some() {
            return;
        }
        let cut = (self.file.set_len(before)).and_then(|()| self.file.sync_data());
        match cut {
            Ok(()) => self.len = before,
            Err(e) => {
                self.failed = Some(format!(
                    "an approval that could not be proven could not be taken back out ({e})"
                ));
            }
        }
    }

    /// Cuts the file back to its length before a failed write, and syncs it.
    fn undo(&mut self) -> std::io::Result<()> {
        #[cfg(test)]
        if self.fault.take() == Some(Fault::TornUnrecoverable) {
            return Err(std::io::Error::other(
                "Input/output error (injected by a test)",
            ));
        }
        self.file.set_len(self.len)?;
        self.file.sync_data()
    }
}

struct Inner {
    path: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
    stop: AtomicBool,
    events: Box<dyn EventLog>,
    clock: Clock,
    timer: Mutex<Option<JoinHandle<()>>>,
    /// Whether [`ReviewQueue::start_timer`] was called: from then on, cases closed with their
    /// fallback while no hook is set are not kept for one.
    timer_started: AtomicBool,
    /// The owner's hook for cases closed with their fallback, and those closed before it was
    /// set. Its own lock, never held while the hook runs, nor taken under `state`'s.
    fallbacks: Mutex<Fallbacks>,
}

/// [`ReviewQueue::set_on_fallback`]'s hook, and the cases closed before there was one.
#[derive(Default)]
struct Fallbacks {
    hook: Option<Arc<FallbackHook>>,
    kept: Vec<Case>,
}

/// What [`ReviewQueue::settle`] applied to a decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// The halt switch is on, and gave the decision its policy's fallback.
    pub halted: bool,
    /// No case could be opened: the proof record of the review's fallback (`review.fallback`,
    /// `by: "case-error"`).
    pub fallback_seq: Option<u64>,
}

/// Why [`ReviewQueue::settle`] could not settle a decision: what applies to it could not be
/// proven.
#[derive(Debug)]
pub enum SettleError {
    /// The halt switch's fallback ([`ReviewQueue::halt_decision`]).
    Halt(ReviewError),
    /// The fallback of a review whose case could not be opened, `verdict`.
    Fallback {
        /// The fallback.
        verdict: Verdict,
        /// Why its record could not be written.
        why: LogError,
    },
}

impl fmt::Display for SettleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettleError::Halt(e) => e.fmt(f),
            SettleError::Fallback { verdict, why } => write!(
                f,
                "the review's fallback ({}) could not be proven: {why}",
                verdict.keyword()
            ),
        }
    }
}

impl std::error::Error for SettleError {}

/// The review queue of a data folder. Cloning shares it.
#[derive(Clone)]
pub struct ReviewQueue {
    inner: Arc<Inner>,
}

impl fmt::Debug for ReviewQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReviewQueue")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path, e: &std::io::Error) -> ReviewError {
    ReviewError::Io(format!("`{}`: {e}", path.display()))
}

/// Case ids for a message: the first ten, then how many more.
fn case_ids<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> String {
    let n = ids.len();
    let mut text: Vec<String> = ids.take(10).map(|id| format!("`{id}`")).collect();
    if n > 10 {
        text.push(format!("and {} more", n - 10));
    }
    text.join(", ")
}

/// The lost cases of `batch` (review decisions without a case), for a message: "the lost case
/// `rv-3`", or "the 3 lost cases `rv-3`, …".
fn lost_cases(batch: &[ReviewCase]) -> String {
    let ids: Vec<String> = (batch.iter())
        .map(|c| format!("rv-{}", c.seq.unwrap_or_default()))
        .collect();
    let list = case_ids(ids.iter().map(String::as_str));
    match batch.len() {
        1 => format!("the lost case {list}"),
        n => format!("the {n} lost cases {list}"),
    }
}

/// Opens `path`, the queue's file in `dir`, creating `dir` and the file when missing. What it
/// creates is made durable before any line can be acknowledged: the new file synced, then its
/// folder (whose entry for it would otherwise be lost with power), and the parent of every
/// folder it created ([`crate::proof::store::create_dir_durably`]).
fn create_durably(dir: &Path, path: &Path) -> Result<File, ReviewError> {
    let dir_err = |e: LogError| ReviewError::Io(e.to_string());
    crate::proof::store::create_dir_durably(dir).map_err(dir_err)?;
    let open = |create: bool| {
        File::options()
            .create_new(create)
            .read(true)
            .append(true)
            .open(path)
    };
    match open(true) {
        Ok(file) => {
            file.sync_all().map_err(|e| io_err(path, &e))?;
            crate::proof::store::sync_dir(dir).map_err(dir_err)?;
            Ok(file)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            open(false).map_err(|e| io_err(path, &e))
        }
        Err(e) => Err(io_err(path, &e)),
    }
}

fn verdict_keyword(v: Verdict) -> String {
    v.keyword().to_string()
}

/// The fallback a halt applies to a decision of the policies `policies` of `program` (one
/// policy, or every policy guarding an action): each policy's is its first `review` rule's
/// `else` verdict, and of several the strictest (deny if any is deny). `None` when none of
/// them has a review rule: then they do not guard a high-risk action (see the module
/// documentation).
pub fn halt_fallback(program: &Program, policies: &[usize]) -> Option<Verdict> {
    policies
        .iter()
        .filter_map(|&i| {
            program
                .policies
                .get(i)?
                .rules
                .iter()
                .find_map(|r| r.review.as_ref().map(|t| t.fallback))
        })
        .reduce(stricter)
}

/// The stricter of two fallbacks: `deny` if either is.
pub fn stricter(a: Verdict, b: Verdict) -> Verdict {
    if b == Verdict::Deny { b } else { a }
}

/// Reads the queue of `dir` without opening it for writing (no lock, no fallback applied):
/// for listing cases while `xop serve` runs. A missing store is an empty queue.
pub fn read(dir: &Path) -> Result<(Vec<Case>, Option<Halt>), ReviewError> {
    let path = dir.join(FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(e) => return Err(io_err(&path, &e)),
    };
    let (cases, halt, _, _) = replay(&path, &mut file)?;
    let mut cases: Vec<Case> = cases.into_values().collect();
    cases.sort_by_key(|c| (c.seq, c.opened_ms));
    Ok((cases, halt))
}

impl ReviewQueue {
    /// Opens (or creates) the queue in `dir` with the wall clock; see
    /// [`ReviewQueue::open_with_clock`].
    pub fn open(dir: &Path, events: Box<dyn EventLog>) -> Result<ReviewQueue, ReviewError> {
        ReviewQueue::open_with_clock(dir, events, wall_clock())
    }

    /// Opens (or creates) the queue in `dir`: replays the store, proves outcomes a crash left
    /// unproven, and applies the fallback of every case whose deadline has passed (also those
    /// that passed while nothing ran). Call [`ReviewQueue::start_timer`] to keep applying them.
    pub fn open_with_clock(
        dir: &Path,
        events: Box<dyn EventLog>,
        clock: Clock,
    ) -> Result<ReviewQueue, ReviewError> {
        ReviewQueue::open_reporting(dir, events, clock, &mut |_| {})
    }

    /// [`ReviewQueue::open_with_clock`], telling `progress` how the work done on open goes:
    /// once with `done: 0` before each stage that has work, then after each batch (of up to
    /// [`BATCH`] cases, one sync of the store and one of the proof log each). `xop serve` says
    /// on stderr what it is doing when there are many.
    ///
    /// An I/O error (a full disk, a read-only file system) says which step failed and what to
    /// do: the write that failed was undone, and nothing was started.
    pub fn open_reporting(
        dir: &Path,
        events: Box<dyn EventLog>,
        clock: Clock,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ReviewQueue, ReviewError> {
        ReviewQueue::open_steps(dir, events, clock, progress).map_err(|e| match e {
            ReviewError::Io(m) => ReviewError::Io(format!(
                "cannot open the review queue `{}`: {m}. Nothing was started, and the write \
                 that failed (if one did) was undone: free space on the disk of the data folder, \
                 or fix the cause (permissions, a read-only file system), and start again; \
                 opening again goes on from there",
                dir.join(FILE).display()
            )),
            e => e,
        })
    }

    /// [`ReviewQueue::open_reporting`]'s steps; an I/O error says which step failed.
    fn open_steps(
        dir: &Path,
        events: Box<dyn EventLog>,
        clock: Clock,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ReviewQueue, ReviewError> {
        let path = dir.join(FILE);
        let mut file =
            create_durably(dir, &path).map_err(|e| e.doing("creating or opening the file"))?;
        let (cases, halt, good_len, lifted) =
            replay(&path, &mut file).map_err(|e| e.doing("reading it"))?;
        if let Some(size) = events.size() {
            check_records(&path, &cases, size)?;
        }
        // Read now, before this queue appends anything: what the log says about reviews and
        // the halt, to check the queue against it the other way too.
        let facts = events.facts().transpose().map_err(|e| {
            ReviewError::Corrupt(format!(
                "cannot read the proof log to check the review queue `{}` against it: {e}; \
                 nothing was started (`xop log verify` on the data folder says more)",
                path.display()
            ))
        })?;
        let len = file.metadata().map_err(|e| io_err(&path, &e))?.len();
        if good_len < len {
            // A line a crash cut short: its change was never acknowledged.
            (file.set_len(good_len))
                .and_then(|()| file.sync_all())
                .map_err(|e| {
                    io_err(&path, &e).doing("cutting off a last line a crash cut short")
                })?;
        }
        let queue = ReviewQueue {
            inner: Arc::new(Inner {
                path,
                state: Mutex::new(State {
                    file,
                    len: good_len,
                    failed: None,
                    cases,
                    halt,
                    notices: Vec::new(),
                    #[cfg(test)]
                    fault: OPEN_FAULT.take(),
                    #[cfg(test)]
                    syncs: 0,
                }),
                wake: Condvar::new(),
                stop: AtomicBool::new(false),
                events,
                clock,
                timer: Mutex::new(None),
                timer_started: AtomicBool::new(false),
                fallbacks: Mutex::new(Fallbacks::default()),
            }),
        };
        // `reviews.log` is not signed: an approval of some of an open case's roles counts only
        // if the proof log holds its `review.approval` record. One without (a crash between
        // the line and the record, or a forged line) is dropped, never proven now: its
        // reviewer was answered only after the record, so nothing acknowledged is lost.
        queue
            .drop_approvals(facts.as_ref())
            .map_err(|e| e.doing("dropping approvals that do not count"))?;
        let unproven: Vec<Case> = queue
            .lock()
            .cases
            .values()
            .filter(|c| c.status != Status::Open && c.proof.is_none())
            .cloned()
            .collect();
        let total = unproven.len();
        for (i, batch) in unproven.chunks(BATCH).enumerate() {
            if i == 0 {
                progress(Progress {
                    stage: Stage::Unproven,
                    done: 0,
                    total,
                });
            }
            // A fallback decided before a crash and never proven was never handed to an owner
            // either (that follows its proof): it is now.
            let proven = queue.prove_many(batch, true).map_err(|e| {
                e.doing(&format!(
                    "proving the outcomes a crash left unproven ({})",
                    case_ids(batch.iter().map(|c| c.id.as_str()))
                ))
            })?;
            queue.tell_fallbacks(&proven);
            progress(Progress {
                stage: Stage::Unproven,
                done: (i * BATCH + batch.len()),
                total,
            });
        }
        if let Some(facts) = facts {
            queue.reconcile(&facts, lifted.as_ref(), progress)?;
        }
        queue
            .apply_due_reporting(progress)
            .map_err(|e| e.doing("applying the fallback of cases whose deadline passed"))?;
        Ok(queue)
    }

    /// Drops every approval of an open case that does not check against the proof log
    /// ([`approval_fault`]): one `drop_approval` line each (written together), and a notice
    /// naming the case and the approval.
    fn drop_approvals(&self, facts: Option<&LogFacts>) -> Result<(), ReviewError> {
        let mut state = self.lock();
        let mut lines = Vec::new();
        let mut notices = Vec::new();
        for c in state.cases.values().filter(|c| c.status == Status::Open) {
            // From the last: each line's `n` is then still its approval's place.
            for (n, a) in c.approvals.iter().enumerate().rev() {
                if let Some(why) = approval_fault(c, a, facts) {
                    notices.push(format!(
                        "case `{}`: the `approve` line of {} for {} ({}) in `{}` does not count: \
                         {why}; it was dropped (a `drop_approval` line), and the case waits for \
                         that approval again",
                        c.id,
                        a.by,
                        role_list(&a.roles),
                        a.at,
                        self.inner.path.display()
                    ));
                    lines.push(Line::DropApproval {
                        id: c.id.clone(),
                        n,
                        reason: why,
                    });
                }
            }
        }
        state.write_lines(&self.inner.path, lines)?;
        state.notices.extend(notices);
        Ok(())
    }

    /// What opening the queue did to make it agree with the proof log (a halt re-established
    /// or proven, review decisions given their fallback), one line each, for the operator.
    pub fn notices(&self) -> Vec<String> {
        self.lock().notices.clone()
    }

    /// Makes the queue agree with the proof log `facts` describes (read before anything was
    /// appended on this open), failing closed: the halt switch as the log's last
    /// `halt.on`/`halt.off` has it (re-established when the queue lost it, proven when the
    /// log lacks it), and every `review` decision record with a case or an outcome record
    /// (one without either gets its fallback, proven, decided by [`BY_RECOVERY`]).
    fn reconcile(
        &self,
        facts: &LogFacts,
        lifted: Option<&(String, String)>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), ReviewError> {
        let halt = self.lock().halt.clone();
        match halt_fix(halt.as_ref(), lifted, facts.halt.as_ref()) {
            HaltFix::Agree => {}
            HaltFix::ProveOn(h) => {
                let seq = self
                    .inner
                    .events
                    .append_event(
                        "halt.on",
                        json!({"by": h.by, "reason": h.reason, "recovered": true}),
                    )
                    .map_err(|why| ReviewError::HaltLog { on: true, why })?;
                self.lock().notices.push(format!(
                    "the halt switch turned on by {} at {} was not in the proof log: proven now \
                     (record {seq}, `halt.on`, recovered)",
                    h.by, h.at
                ));
            }
            HaltFix::ProveOff(by) => {
                let seq = self
                    .inner
                    .events
                    .append_event("halt.off", json!({"by": by, "recovered": true}))
                    .map_err(|why| ReviewError::HaltLog { on: false, why })?;
                self.lock().notices.push(format!(
                    "the halt switch lifted by {by} was not in the proof log: proven now \
                     (record {seq}, `halt.off`, recovered)"
                ));
            }
            HaltFix::Restore(h) => {
                let mut state = self.lock();
                let line = Line::Halt {
                    halt: Halt {
                        by: h.by.clone(),
                        at: h.time.clone(),
                        reason: h.reason.clone(),
                    },
                };
                state.write(&self.inner.path, line).map_err(|e| {
                    e.doing(&format!(
                        "turning the halt switch on again, as the proof log's record {} has it",
                        h.seq
                    ))
                })?;
                state.notices.push(format!(
                    "the proof log's record {} turned the halt switch on (by {}, {}) and no \
                     `halt.off` follows, but `{}` had it off (it lost lines: deleted, or \
                     restored from an older backup than the log): the halt is on again; lift \
                     it (`xop review lift`, `DELETE /v1/halt`) once that is understood",
                    h.seq,
                    h.by,
                    h.time,
                    self.inner.path.display()
                ));
            }
        }
        self.close_as_logged(facts)
            .map_err(|e| e.doing("closing the cases the proof log already decided"))?;
        let lost: Vec<ReviewCase> = {
            let state = self.lock();
            lost_reviews(facts, &state.cases).cloned().collect()
        };
        let total = lost.len();
        let now = (self.inner.clock)();
        for (i, batch) in lost.chunks(BATCH).enumerate() {
            if i == 0 {
                progress(Progress {
                    stage: Stage::Lost,
                    done: 0,
                    total,
                });
            }
            let decided: Vec<Case> = {
                let mut state = self.lock();
                let mut lines = Vec::new();
                for c in batch {
                    let case = new_case(c, &format!("rv-{}", c.seq.unwrap_or_default()), now, None);
                    lines.push(Line::Decide {
                        id: case.id.clone(),
                        status: Status::Fallback,
                        verdict: case.fallback.clone(),
                        by: BY_RECOVERY.to_string(),
                        at: time_text(now),
                        note: None,
                    });
                    lines.insert(
                        lines.len() - 1,
                        Line::Open {
                            case: Box::new(case),
                        },
                    );
                }
                state.write_lines(&self.inner.path, lines).map_err(|e| {
                    e.doing(&format!(
                        "giving {} {} review's fallback (a `review` decision record with no case \
                         in the queue and no outcome record; none was decided)",
                        lost_cases(batch),
                        if batch.len() == 1 { "its" } else { "their" }
                    ))
                })?;
                batch
                    .iter()
                    .filter_map(|c| {
                        state
                            .cases
                            .get(&format!("rv-{}", c.seq.unwrap_or_default()))
                    })
                    .cloned()
                    .collect()
            };
            let proven = self
                .prove_many(&decided, true)
                .map_err(|e| e.doing(&format!("proving the fallback of {}", lost_cases(batch))))?;
            self.tell_fallbacks(&proven);
            progress(Progress {
                stage: Stage::Lost,
                done: i * BATCH + batch.len(),
                total,
            });
        }
        if total > 0 {
            let seqs: Vec<String> = lost
                .iter()
                .take(10)
                .map(|c| c.seq.unwrap_or_default().to_string())
                .collect();
            self.lock().notices.push(format!(
                "{total} `review` decision record{} in the proof log had no case in `{}` and no \
                 outcome record (a crash between a record and its case, or a queue that lost \
                 lines): each got its fallback, proven as `review.fallback` by `{BY_RECOVERY}` \
                 (record{} {}{})",
                if total == 1 { "" } else { "s" },
                self.inner.path.display(),
                if total == 1 { "" } else { "s" },
                seqs.join(", "),
                if total > 10 { ", …" } else { "" }
            ));
        }
        Ok(())
    }

    /// Closes every case the queue has open whose decision the proof log already decided (an
    /// outcome record names its record: [`decided_open`]), as the log's first outcome record
    /// of it says: a `decide` line (its status, verdict and decider, at the record's time) and
    /// a `proved` line naming that record, written together, and a notice for each. The queue
    /// lost the outcome's lines (`reviews.log` restored from an older backup than the log):
    /// left open, the case could be decided a second time. The log holds the outcome already,
    /// so no record is written (as for a halt the queue lost), and no owner is told of a
    /// fallback again (it was when it was proven).
    fn close_as_logged(&self, facts: &LogFacts) -> Result<(), ReviewError> {
        let mut state = self.lock();
        let open: Vec<(Case, LoggedOutcome)> = decided_open(facts, &state.cases)
            .map(|(c, o)| (c.clone(), o.clone()))
            .collect();
        let mut lines = Vec::new();
        let mut notices = Vec::new();
        for (c, o) in open {
            let status = o.status();
            let verdict = match (o.verdict.as_str(), status) {
                ("", Status::Approved) => "allow".to_string(),
                ("", Status::Rejected) => "deny".to_string(),
                ("", _) => c.fallback.clone(),
                (v, _) => v.to_string(),
            };
            let by = match (o.by.as_str(), o.name.as_str()) {
                ("", "halt.fallback") => BY_HALT.to_string(),
                ("", _) => BY_RECOVERY.to_string(),
                (by, _) => by.to_string(),
            };
            notices.push(format!(
                "case `{}` was open in `{}`, but the proof log's record {} (`{}`, {verdict}, by \
                 {by}) already decided it (the queue lost lines: restored from an older backup \
                 than the log): it is closed as the log says ({}, {verdict}), and no answer to \
                 it is accepted",
                c.id,
                self.inner.path.display(),
                o.seq,
                o.name,
                status.keyword()
            ));
            lines.push(Line::Decide {
                id: c.id.clone(),
                status,
                verdict,
                by,
                at: o.time.clone(),
                note: None,
            });
            lines.push(Line::Proved {
                id: c.id.clone(),
                seq: o.seq,
            });
        }
        state.write_lines(&self.inner.path, lines)?;
        state.notices.extend(notices);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The sink to plug into the runtime ([`Runtime::set_review_sink`]).
    pub fn sink(&self) -> Box<dyn ReviewSink> {
        Box::new(self.clone())
    }

    /// Tells `hook` of every case the queue closes with its review's fallback by the deadline
    /// or on recovery ([`closed_by_fallback`]: the timer, opening the queue — overdue cases,
    /// fallbacks a crash left unproven, `review` decisions recovered without a case —, a
    /// reviewer's late answer), `allow` and `deny` alike, once each, right after its outcome is
    /// proven (`review.fallback`, [`Case::proof`]): for the owner to carry out what an `allow`
    /// fallback lets go ahead when it is an action xop carries out
    /// ([`Runtime::perform_approved`]), as an approval's is. Not told of the halt switch's
    /// fallbacks.
    ///
    /// The hook runs on the thread that closed the case (the timer's, the caller's of
    /// [`ReviewQueue::approve`] or [`ReviewQueue::reject`] for a late answer, this one for the
    /// cases kept), outside the queue's lock, so it may block (on the network) and call the
    /// queue; while it runs, the timer applies no other deadline (their late answers are still
    /// closed with the fallback), and [`ReviewQueue::shutdown`] waits for it.
    ///
    /// Cases closed before a hook is set (opening the queue closes them) are kept and handed to
    /// it here, on this thread, before this returns, so none is missed; set it before
    /// [`ReviewQueue::start_timer`] (a queue whose timer runs without a hook keeps no more of
    /// them). A hook set again replaces the previous one.
    pub fn set_on_fallback(&self, hook: OnFallback) {
        let hook: Arc<FallbackHook> = Arc::from(hook);
        let kept = {
            let mut f = self.fallbacks();
            f.hook = Some(Arc::clone(&hook));
            std::mem::take(&mut f.kept)
        };
        for case in &kept {
            call(&*hook, case);
        }
    }

    /// Hands the cases of `cases` that the queue closed with their fallback to the owner's hook
    /// (outside every lock), or keeps them for it. Called with proven cases only, and never
    /// under the queue's lock.
    fn tell_fallbacks(&self, cases: &[Case]) {
        let fell: Vec<&Case> = cases.iter().filter(|c| closed_by_fallback(c)).collect();
        if fell.is_empty() {
            return;
        }
        let hook = {
            let mut f = self.fallbacks();
            match &f.hook {
                Some(h) => Arc::clone(h),
                None => {
                    if !self.inner.timer_started.load(Ordering::SeqCst) {
                        f.kept.extend(fell.into_iter().cloned());
                    }
                    return;
                }
            }
        };
        for case in fell {
            call(&*hook, case);
        }
    }

    fn fallbacks(&self) -> MutexGuard<'_, Fallbacks> {
        self.inner
            .fallbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the thread that applies fallbacks when deadlines pass (idempotent).
    pub fn start_timer(&self) {
        let mut timer = self
            .inner
            .timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if timer.is_some() {
            return;
        }
        self.inner.timer_started.store(true, Ordering::SeqCst);
        let queue = self.clone();
        *timer = std::thread::Builder::new()
            .name("xop-review-timer".into())
            .spawn(move || queue.run_timer())
            .ok();
    }

    /// Stops the timer thread and waits for it.
    pub fn shutdown(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
        let handle = self
            .inner
            .timer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    fn run_timer(&self) {
        while !self.inner.stop.load(Ordering::SeqCst) {
            // An error (a full disk) is retried on the next tick; nothing is lost, as the
            // case stays open and due.
            let _ = self.apply_due();
            let state = self.lock();
            let now = (self.inner.clock)();
            let next = state
                .cases
                .values()
                .filter(|c| c.status == Status::Open)
                .map(|c| c.deadline_ms)
                .min();
            // Wake at the next deadline, and at least every second (the clock may be a test's).
            let wait = next.map_or(1000, |d| d.saturating_sub(now).clamp(1, 1000));
            if self.inner.stop.load(Ordering::SeqCst) {
                break;
            }
            let _ = self
                .inner
                .wake
                .wait_timeout(state, Duration::from_millis(wait as u64));
        }
    }

    /// Applies the fallback to every open case whose deadline has passed; returns them.
    pub fn apply_due(&self) -> Result<Vec<Case>, ReviewError> {
        self.apply_due_reporting(&mut |_| {})
    }

    /// [`ReviewQueue::apply_due`] in batches of up to [`BATCH`] cases, as one would close each:
    /// the batch's outcomes are made durable in the store together (one write, one sync), then
    /// proven together (one sync of the proof log), then marked `proved` together. A crash in
    /// between leaves decided cases without `proved`, which opening proves (`recovered`).
    fn apply_due_reporting(
        &self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<Case>, ReviewError> {
        let now = (self.inner.clock)();
        let due: Vec<String> = self
            .lock()
            .cases
            .values()
            .filter(|c| c.status == Status::Open && c.deadline_ms <= now)
            .map(|c| c.id.clone())
            .collect();
        let total = due.len();
        if total > 0 {
            progress(Progress {
                stage: Stage::Overdue,
                done: 0,
                total,
            });
        }
        let mut done = Vec::new();
        for (i, batch) in due.chunks(BATCH).enumerate() {
            let decided: Vec<Case> = {
                let mut state = self.lock();
                let at = time_text((self.inner.clock)());
                // Decided meanwhile by a reviewer: theirs stands.
                let lines: Vec<Line> = batch
                    .iter()
                    .filter_map(|id| state.cases.get(id))
                    .filter(|c| c.status == Status::Open)
                    .map(|c| Line::Decide {
                        id: c.id.clone(),
                        status: Status::Fallback,
                        verdict: c.fallback.clone(),
                        by: BY_DEADLINE.to_string(),
                        at: at.clone(),
                        note: None,
                    })
                    .collect();
                let ids: Vec<String> = lines
                    .iter()
                    .filter_map(|l| match l {
                        Line::Decide { id, .. } => Some(id.clone()),
                        _ => None,
                    })
                    .collect();
                state.write_lines(&self.inner.path, lines)?;
                ids.iter()
                    .filter_map(|id| state.cases.get(id).cloned())
                    .collect()
            };
            let proven = self.prove_many(&decided, false)?;
            self.tell_fallbacks(&proven);
            done.extend(proven);
            progress(Progress {
                stage: Stage::Overdue,
                done: i * BATCH + batch.len(),
                total,
            });
        }
        Ok(done)
    }

    /// Every case, in id order, optionally only those of one status.
    pub fn list(&self, status: Option<Status>) -> Vec<Case> {
        let mut cases: Vec<Case> = self
            .lock()
            .cases
            .values()
            .filter(|c| status.is_none_or(|s| c.status == s))
            .cloned()
            .collect();
        cases.sort_by_key(|c| (c.seq, c.opened_ms));
        cases
    }

    /// One case.
    pub fn get(&self, id: &str) -> Option<Case> {
        self.lock().cases.get(id).cloned()
    }

    /// `case` as a reviewer is shown it ([`Shown`]): its reasons and evidence read from its
    /// proof record (outside the queue's lock).
    pub fn show(&self, case: Case) -> Shown {
        let record = match case.seq {
            Some(seq) => self.inner.events.record(seq),
            // Beside a proof log, every case names its record.
            None => self.inner.events.size().map(|_| Err(String::new())),
        };
        Shown::of(case, record)
    }

    /// Approves case `id` as `reviewer`, for every role of the case they hold that nobody has
    /// approved yet (they must hold one). Once every role of the case is approved, its verdict
    /// becomes `allow` and a `review.approved` proof record names every approver; before, the
    /// case stays open with this approval (a `review.approval` record) and waits for the
    /// others ([`Case::waiting`]). Refused when the case is not the one its decision's proof
    /// record describes ([`ReviewError::Changed`]), or every role of it the reviewer holds was
    /// approved already ([`ReviewError::AlreadyApproved`]).
    pub fn approve(
        &self,
        id: &str,
        reviewer: &Reviewer,
        note: Option<&str>,
    ) -> Result<Case, ReviewError> {
        self.close(id, Status::Approved, &reviewer.name, Some(reviewer), note)
    }

    /// Rejects case `id` as `reviewer` (who must hold one of its roles; once), also after other
    /// roles were approved. The case's verdict becomes `deny`; a `review.rejected` proof record
    /// names the reviewer. Refused when the case is not the one its decision's proof record
    /// describes ([`ReviewError::Changed`]).
    pub fn reject(
        &self,
        id: &str,
        reviewer: &Reviewer,
        note: Option<&str>,
    ) -> Result<Case, ReviewError> {
        self.close(id, Status::Rejected, &reviewer.name, Some(reviewer), note)
    }

    /// Decides a case, or records a reviewer's approval of some of its roles: checks the case
    /// against its decision's proof record ([`ReviewQueue::check_record`]), then (under the
    /// lock) that it is open and the reviewer holds one of its roles (for an approval, one it
    /// still waits for), makes the outcome (or the approval) durable in the store, then proves
    /// it.
    fn close(
        &self,
        id: &str,
        status: Status,
        by: &str,
        reviewer: Option<&Reviewer>,
        note: Option<&str>,
    ) -> Result<Case, ReviewError> {
        if reviewer.is_some() {
            self.check_record(id)?;
        }
        let late;
        // The approval recorded, when it approves some of the roles the case waits for only.
        let mut partial = None;
        let case = {
            let mut state = self.lock();
            let halt_by = state.halt.as_ref().map(|h| h.by.clone());
            let case = state
                .cases
                .get(id)
                .ok_or_else(|| ReviewError::NotFound(id.to_string()))?;
            if case.status != Status::Open {
                return Err(ReviewError::AlreadyDecided {
                    id: id.to_string(),
                    status: case.status,
                    by: case.decided_by.clone().unwrap_or_default(),
                });
            }
            let waiting = case.waiting();
            // The roles of the case this reviewer approves: those it waits for that they hold.
            let mut covers = waiting.clone();
            if let Some(r) = reviewer {
                let held: Vec<String> = (case.roles().into_iter())
                    .filter(|role| r.roles.contains(role))
                    .collect();
                if held.is_empty() {
                    return Err(ReviewError::WrongRole {
                        id: id.to_string(),
                        role: waiting.first().unwrap_or(&case.role).clone(),
                        reviewer: r.name.clone(),
                    });
                }
                covers.retain(|role| held.contains(role));
                if status == Status::Approved && covers.is_empty() {
                    return Err(ReviewError::AlreadyApproved {
                        id: id.to_string(),
                        reviewer: r.name.clone(),
                        roles: held,
                        waiting,
                    });
                }
            }
            // Past the deadline the fallback applies, whether or not the timer has got to the
            // case yet (many cases falling due at once, a loaded machine): a reviewer's late
            // answer closes it with its fallback and is told so, never decides it.
            let now = (self.inner.clock)();
            late = reviewer.is_some() && case.deadline_ms <= now;
            if let (Status::Approved, Some(halt_by), false) = (status, halt_by, late) {
                return Err(ReviewError::Halted {
                    id: id.to_string(),
                    by: halt_by,
                });
            }
            let line = if !late && status == Status::Approved && covers.len() < waiting.len() {
                // Some of the roles it waits for: the case stays open, with this approval.
                partial = Some(case.approvals.len());
                Line::Approve {
                    id: id.to_string(),
                    by: by.to_string(),
                    roles: covers,
                    at: time_text(now),
                    note: note.map(str::to_string),
                }
            } else {
                let (status, by, note) = if late {
                    (Status::Fallback, BY_DEADLINE, None)
                } else {
                    (status, by, note)
                };
                let verdict = match status {
                    Status::Approved => "allow".to_string(),
                    Status::Rejected => "deny".to_string(),
                    _ => case.fallback.clone(),
                };
                Line::Decide {
                    id: id.to_string(),
                    status,
                    verdict,
                    by: by.to_string(),
                    at: time_text(now),
                    note: note.map(str::to_string),
                }
            };
            let before = state.len;
            state.write(&self.inner.path, line)?;
            if let Some(n) = partial {
                // Proven before the lock is released, so that an approval completing the case
                // (another role's, at the same moment) finds this one's record to name.
                return self.prove_approval(&mut state, id, n, before);
            }
            state.cases.get(id).cloned()
        };
        let case = case.ok_or_else(|| ReviewError::NotFound(id.to_string()))?;
        let case = self.prove(&case, false)?;
        if late {
            self.tell_fallbacks(std::slice::from_ref(&case));
            return Err(ReviewError::AlreadyDecided {
                id: case.id,
                status: case.status,
                by: case.decided_by.unwrap_or_default(),
            });
        }
        Ok(case)
    }

    /// Checks open case `id` against the proof record of the decision it was opened for
    /// ([`differs`]): `reviews.log` is outside the proof log, and an answer to a case changed
    /// there (a forged role, say) must not stand. Refused ([`ReviewError::Changed`]) when they
    /// differ, or when the record cannot be read (fail closed). Not checked without a proof
    /// log to read ([`EventLog::record`]), nor for a case already decided (the answer is
    /// refused as such). The log is read outside the queue's lock; what is compared never
    /// changes once the case is open.
    fn check_record(&self, id: &str) -> Result<(), ReviewError> {
        let Some(case) = self.get(id).filter(|c| c.status == Status::Open) else {
            return Ok(());
        };
        let changed = |record, what: String| ReviewError::Changed {
            id: id.to_string(),
            record,
            what,
        };
        let Some(seq) = case.seq else {
            if self.inner.events.size().is_some() {
                return Err(changed(
                    None,
                    "it names no proof record (`seq`), though every case opened beside a proof \
                     log names its decision's"
                        .to_string(),
                ));
            }
            return Ok(());
        };
        let record = match self.inner.events.record(seq) {
            None => return Ok(()),
            Some(Err(e)) => {
                return Err(changed(
                    Some(seq),
                    format!("its record cannot be read to check the case against it ({e})"),
                ));
            }
            Some(Ok(r)) => r,
        };
        let Some(rec) = Recorded::of(&record) else {
            return Err(changed(
                Some(seq),
                format!(
                    "proof record {seq} is neither a `review` decision nor a `review.requested` \
                     request"
                ),
            ));
        };
        match differs(&case, &rec) {
            Some(what) => Err(changed(Some(seq), what)),
            None => Ok(()),
        }
    }

    /// Proves approval `n` of open case `id`, just made durable in the store (whose length was
    /// `before` it), under the queue's lock: appends its `review.approval` record, then notes
    /// it (`proved_approval`). When either fails the approval is taken back out of the store
    /// and the queue (it never counts unproven, and opening would drop it anyway), and the
    /// reviewer is told it was not recorded.
    fn prove_approval(
        &self,
        state: &mut State,
        id: &str,
        n: usize,
        before: u64,
    ) -> Result<Case, ReviewError> {
        let case =
            (state.cases.get(id).cloned()).ok_or_else(|| ReviewError::NotFound(id.into()))?;
        let Some(a) = case.approvals.get(n) else {
            return Err(ReviewError::NotFound(id.to_string()));
        };
        // The roles still waiting once this approval (and those before it) counted.
        let given = case.approvals.get(..=n).unwrap_or_default();
        let waiting: Vec<String> = (case.roles().into_iter())
            .filter(|r| !given.iter().any(|a| a.roles.contains(r)))
            .collect();
        let data = json!({
            "case": case.id,
            "record": case.seq,
            "policy": case.policy,
            "action": case.action,
            "roles": a.roles,
            "waiting": waiting,
            "by": a.by,
        });
        let proven = match self.inner.events.append_event("review.approval", data) {
            Ok(seq) => {
                let line = Line::ProvedApproval {
                    id: id.to_string(),
                    n,
                    seq,
                };
                state
                    .write(&self.inner.path, line)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e),
        };
        if let Err(why) = proven {
            state.retract(before, id, n);
            return Err(ReviewError::Io(format!(
                "the approval of case `{id}` by {} for {} could not be proven ({why}): it was not \
                 recorded and does not count; approve again once the proof log accepts records",
                a.by,
                role_list(&a.roles)
            )));
        }
        (state.cases.get(id).cloned()).ok_or_else(|| ReviewError::NotFound(id.to_string()))
    }

    /// Appends the outcome's proof record and notes it in the store.
    fn prove(&self, case: &Case, recovered: bool) -> Result<Case, ReviewError> {
        self.prove_many(std::slice::from_ref(case), recovered)?
            .pop()
            .ok_or_else(|| ReviewError::NotFound(case.id.clone()))
    }

    /// Appends the outcomes' proof records together (durable before any is noted), then notes
    /// them in the store together (one write, one sync).
    fn prove_many(&self, cases: &[Case], recovered: bool) -> Result<Vec<Case>, ReviewError> {
        if cases.is_empty() {
            return Ok(Vec::new());
        }
        let events = cases
            .iter()
            .map(|case| {
                let name = match case.status {
                    Status::Approved => "review.approved",
                    Status::Rejected => "review.rejected",
                    _ => "review.fallback",
                };
                let mut data = json!({
                    "case": case.id,
                    "record": case.seq,
                    "policy": case.policy,
                    "action": case.action,
                    "role": case.role,
                    "verdict": case.verdict,
                    "by": case.decided_by,
                });
                if case.status == Status::Approved
                    && let Some(o) = data.as_object_mut()
                {
                    // Every approver, with the roles each approved and the `review.approval`
                    // record of each before the last (the last is this record).
                    let approvals: Vec<serde_json::Value> = (case.approvals.iter())
                        .enumerate()
                        .map(|(n, a)| {
                            let mut v = json!({"by": a.by, "roles": a.roles});
                            if n + 1 < case.approvals.len() {
                                v["record"] = json!(a.proof);
                            }
                            v
                        })
                        .collect();
                    o.insert("approvals".into(), json!(approvals));
                }
                if recovered && let Some(o) = data.as_object_mut() {
                    o.insert("recovered".into(), json!(true));
                }
                (name, data)
            })
            .collect();
        let seqs = self
            .inner
            .events
            .append_events(events)
            .map_err(ReviewError::Log)?;
        if seqs.len() != cases.len() {
            return Err(ReviewError::Log(format!(
                "internal: {} proof records appended for {} outcomes",
                seqs.len(),
                cases.len()
            )));
        }
        let mut state = self.lock();
        let lines = cases
            .iter()
            .zip(&seqs)
            .map(|(case, &seq)| Line::Proved {
                id: case.id.clone(),
                seq,
            })
            .collect();
        state.write_lines(&self.inner.path, lines)?;
        Ok(cases
            .iter()
            .zip(seqs)
            .map(|(case, seq)| {
                state.cases.get(&case.id).cloned().unwrap_or_else(|| {
                    let mut c = case.clone();
                    c.proof = Some(seq);
                    c
                })
            })
            .collect())
    }

    /// The halt switch's state (`None`: not halted).
    pub fn halted(&self) -> Option<Halt> {
        self.lock().halt.clone()
    }

    /// Turns the halt switch on (durable; a `halt.on` proof record names `by`). Until it is
    /// lifted, high-risk actions get their fallback and their cases cannot be approved.
    pub fn halt(&self, by: &str, reason: &str) -> Result<Halt, ReviewError> {
        let halt = Halt {
            by: by.to_string(),
            at: time_text((self.inner.clock)()),
            reason: reason.to_string(),
        };
        {
            let mut state = self.lock();
            let line = Line::Halt { halt: halt.clone() };
            state.write(&self.inner.path, line)?;
        }
        self.inner
            .events
            .append_event("halt.on", json!({"by": by, "reason": reason}))
            .map_err(|why| ReviewError::HaltLog { on: true, why })?;
        Ok(halt)
    }

    /// Lifts the halt switch (durable; a `halt.off` proof record names `by`). Whether it was on.
    pub fn lift(&self, by: &str) -> Result<bool, ReviewError> {
        {
            let mut state = self.lock();
            if state.halt.is_none() {
                return Ok(false);
            }
            let line = Line::Lift {
                by: by.to_string(),
                at: time_text((self.inner.clock)()),
            };
            state.write(&self.inner.path, line)?;
        }
        self.inner
            .events
            .append_event("halt.off", json!({"by": by}))
            .map_err(|why| ReviewError::HaltLog { on: false, why })?;
        Ok(true)
    }

    /// While the halt switch is on, a decision of a high-risk policy (one with a review rule,
    /// whose fallback is `fallback`) that is not a deny gets the fallback: proven as a
    /// `halt.fallback` record naming the decision's record. Returns the verdict that applies
    /// (`None`: the decision's own).
    pub fn halt_decision(
        &self,
        seq: Option<u64>,
        policy: &str,
        verdict: Verdict,
        case: Option<&str>,
        fallback: Option<Verdict>,
    ) -> Result<Option<Verdict>, ReviewError> {
        let Some(fallback) = fallback else {
            return Ok(None);
        };
        if verdict == Verdict::Deny || self.halted().is_none() {
            return Ok(None);
        }
        if let Some(id) = case {
            // The case was closed by the halt when it was opened (see `open_case`).
            return Ok(self.get(id).and_then(|c| c.verdict).map(|v| {
                if v == "allow" {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                }
            }));
        }
        self.inner
            .events
            .append_event(
                "halt.fallback",
                json!({"record": seq, "policy": policy, "verdict": fallback.keyword()}),
            )
            .map_err(ReviewError::Log)?;
        Ok(Some(fallback))
    }

    /// What is applied to a decision's outcome once its record is durable, before it is
    /// answered (`xop serve`'s decide answer, `xop eval --log`): the halt switch
    /// ([`ReviewQueue::halt_decision`]), and a `review` verdict whose case could not be opened
    /// given its fallback at once, proven as `review.fallback` with `by: "case-error"` in
    /// `rt`'s proof log (so that no review decision is left without its case or its outcome).
    /// `outcome.verdict` becomes the verdict that applies, and the review's deadline that of
    /// its case (opened now: later than the record's when the input gave a past `now`), the
    /// one the queue applies the fallback at.
    pub fn settle(
        &self,
        rt: &Runtime,
        outcome: &mut crate::engine::Outcome,
    ) -> Result<Settled, SettleError> {
        let o = &*outcome;
        let halted = self
            .halt_decision(
                o.seq,
                &o.policy,
                o.verdict,
                o.case.as_deref(),
                o.halt_fallback,
            )
            .map_err(SettleError::Halt)?;
        let mut settled = Settled {
            halted: halted.is_some(),
            fallback_seq: None,
        };
        if let Some(v) = halted {
            outcome.verdict = v;
        }
        if let (Verdict::Review, None, Some(terms)) =
            (outcome.verdict, &outcome.case, &outcome.review)
        {
            // No case could be opened: the fallback applies now, proven.
            let verdict = terms.fallback;
            if let Some(log) = rt.log() {
                let seq = log
                    .append_event(
                        "review.fallback",
                        json!({"record": outcome.seq, "policy": outcome.policy,
                               "verdict": verdict.keyword(), "by": "case-error"}),
                    )
                    .map_err(|why| SettleError::Fallback { verdict, why })?;
                settled.fallback_seq = Some(seq);
            }
            outcome.verdict = verdict;
        }
        if let (Some(terms), Some(case)) = (&mut outcome.review, outcome.case.as_deref())
            && let Some(c) = self.get(case)
        {
            terms.deadline = c.deadline;
        }
        Ok(settled)
    }

    fn open_case_inner(
        &self,
        case: &ReviewCase,
        args: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Result<String, ReviewError> {
        let now = (self.inner.clock)();
        let (id, halted) = {
            let mut state = self.lock();
            let id = match case.seq {
                // One case per decision record: opening it again is a no-op.
                Some(seq) => {
                    let id = format!("rv-{seq}");
                    if let Some(old) = state.cases.get(&id) {
                        // The same decision opened again is a no-op. Another decision with the
                        // same record number means the proof log lost records the queue still
                        // has: answering with the old case (perhaps approved) would let the new
                        // decision through unseen, so it fails closed.
                        if same_decision(old, case) {
                            return Ok(id);
                        }
                        return Err(ReviewError::Corrupt(format!(
                            "case `{id}` already exists for another decision (policy `{}`, \
                             module {}, opened {}) than record {seq} (policy `{}`, module {}): \
                             the proof log has lost records that the review queue `{}` still \
                             refers to; no case was opened, the review's fallback applies. Run \
                             `xop log verify` on the data folder and restore it from a backup",
                            old.policy,
                            old.module,
                            time_text(old.opened_ms),
                            case.policy,
                            case.module,
                            self.inner.path.display()
                        )));
                    }
                    id
                }
                // A runtime without a proof log: the opening time, made unique.
                None => (0u64..)
                    .map(|n| format!("rv-t{now}-{n}"))
                    .find(|id| !state.cases.contains_key(id))
                    .unwrap_or_default(),
            };
            let line = Line::Open {
                case: Box::new(new_case(case, &id, now, args)),
            };
            state.write(&self.inner.path, line)?;
            (id, state.halt.is_some())
        };
        self.inner.wake.notify_all();
        if halted {
            // Every review-gated action counts as high risk: the halt applies its fallback now.
            match self.close(&id, Status::Fallback, BY_HALT, None, None) {
                // A zero deadline's timer may have been first: the fallback applied either way.
                Ok(_) | Err(ReviewError::AlreadyDecided { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(id)
    }
}

/// A new open case `id` for the decision `case` describes, opened at `now`: its deadline is
/// `now` plus the review's `within`.
fn new_case(
    case: &ReviewCase,
    id: &str,
    now: i64,
    args: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Case {
    let deadline_ms = now.saturating_add(case.terms.within_ms);
    Case {
        id: id.to_string(),
        seq: case.seq,
        module: case.module.clone(),
        policy: case.policy.clone(),
        action: case.action.clone(),
        reasons: case.reasons.clone(),
        role: case.terms.role.clone(),
        also: case.terms.also.clone(),
        within_ms: case.terms.within_ms,
        fallback: verdict_keyword(case.terms.fallback),
        deadline_ms,
        deadline: time_text(deadline_ms),
        evidence: case.evidence.clone(),
        at_ms: case.at_ms,
        opened_ms: now,
        status: Status::Open,
        verdict: None,
        decided_by: None,
        decided_at: None,
        note: None,
        proof: None,
        args: args.cloned(),
        approvals: Vec::new(),
    }
}

/// How the queue's halt switch is made to agree with the proof log's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HaltFix {
    /// They agree.
    Agree,
    /// The queue has the halt on, the log does not (its `halt.on` was never written, or the
    /// queue lost a later lift): it stays on, and is proven now.
    ProveOn(Halt),
    /// The queue lifted the halt after the log's last `halt.on`, but the `halt.off` was never
    /// written: proven now (by whom).
    ProveOff(String),
    /// The log's last halt record is a `halt.on` the queue does not have (it lost lines): the
    /// halt is turned on again.
    Restore(LogHalt),
}

/// How to make the queue's halt state (`halt`, and `lifted`: the last lift line after every
/// halt line, its `by` and `at`) agree with the log's last halt record (`log`): fail closed.
fn halt_fix(
    halt: Option<&Halt>,
    lifted: Option<&(String, String)>,
    log: Option<&LogHalt>,
) -> HaltFix {
    match (halt, log) {
        (Some(_), Some(l)) if l.on => HaltFix::Agree,
        (Some(h), _) => HaltFix::ProveOn(h.clone()),
        (None, Some(l)) if l.on => match lifted {
            // Both texts are `time_text`'s: they compare as the instants do.
            Some((by, at)) if at.as_str() >= l.time.as_str() => HaltFix::ProveOff(by.clone()),
            _ => HaltFix::Restore(l.clone()),
        },
        (None, _) => HaltFix::Agree,
    }
}

/// The `review` decision records of `facts` with no case in `cases` and no outcome record.
fn lost_reviews<'a>(
    facts: &'a LogFacts,
    cases: &'a BTreeMap<String, Case>,
) -> impl Iterator<Item = &'a ReviewCase> {
    facts.recorded.values().map(|r| &r.case).filter(|c| {
        c.seq.is_some_and(|seq| {
            !facts.decided.contains(&seq) && !cases.contains_key(&format!("rv-{seq}"))
        })
    })
}

/// The cases `cases` has open whose decision the log `facts` describes already has an outcome
/// record for, each with the first of them (the one that applies).
fn decided_open<'a>(
    facts: &'a LogFacts,
    cases: &'a BTreeMap<String, Case>,
) -> impl Iterator<Item = (&'a Case, &'a LoggedOutcome)> {
    cases.values().filter_map(|c| {
        if c.status != Status::Open {
            return None;
        }
        let first = facts.outcomes.get(&c.seq?)?.iter().min_by_key(|o| o.seq)?;
        Some((c, first))
    })
}

/// A disagreement between the review queue and the proof log beside it ([`check_cases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseProblem {
    /// The proof record it is about, if one.
    pub record: Option<u64>,
    /// What is wrong, and what to do.
    pub message: String,
    /// Whether it can be the moment between the queue's line and the log's record while a
    /// writer runs (or a crash there), which opening the queue settles (and proves): a halt
    /// the log lacks or the queue lacks, a `review` decision record without a case. A case
    /// naming a record the log lacks is never that.
    pub settled_on_open: bool,
}

/// Every decision of the log decided twice ([`decided_twice`]), as a problem at the later
/// outcome's record: a fault of the log alone, whether or not a queue is beside it. Its
/// `facts` may be gathered in a pass that reads the log for another reason (`xop log verify`
/// notes each record it verifies, [`crate::proof::verify::verify_log_noting`]).
pub fn twice_decided(facts: &LogFacts) -> Vec<CaseProblem> {
    (decided_twice(&facts.outcomes).into_iter())
        .map(|twice| CaseProblem {
            record: Some(twice.second.seq),
            message: twice.message(),
            settled_on_open: false,
        })
        .collect()
}

/// Checks the queue of `dir` against its proof log, read-only (nothing is written, no lock is
/// taken; a live server's folder can be checked): what opening the queue refuses (a case
/// naming a record the log lacks), what it settles (a halt the log and the queue disagree
/// on, `review` decision records without a case or an outcome record), a case that is not
/// the one its decision's record describes ([`differs`]: its arguments, its deadline, …),
/// which an answer is refused for and an approval does not carry out
/// ([`crate::engine::Runtime::perform_approved`]), and an approval of an open case that does
/// not count (unproven, or not the `review.approval` its line names: opening drops it), a case
/// open in the queue whose decision the log already decided (opening closes it as the log
/// says), and a decision the log holds two outcomes of ([`decided_twice`]). The queue is read
/// before the log, so a live server's cases are always in the log read after (it opens a
/// case only for a durable record). No `reviews.log`: only what the log alone shows, a
/// decision it holds two outcomes of (a log that cannot be read is then no problem of the
/// queue's: verifying the log names it).
pub fn check_cases(dir: &Path) -> Result<Vec<CaseProblem>, ReviewError> {
    Ok(match check_queue(dir)? {
        Some(problems) => problems,
        None => (LogFacts::read(dir).map(|facts| twice_decided(&facts))).unwrap_or_default(),
    })
}

/// [`check_cases`] when `dir` has a `reviews.log`; `None`, reading nothing more, when it has
/// none: what the log alone shows ([`twice_decided`]) is then left to the caller, who may
/// find it in a pass over the log it makes anyway (`xop log verify`).
pub fn check_queue(dir: &Path) -> Result<Option<Vec<CaseProblem>>, ReviewError> {
    let path = dir.join(FILE);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path, &e)),
    };
    let (cases, halt, _, lifted) = replay(&path, &mut file)?;
    let facts = LogFacts::read(dir).map_err(ReviewError::Io)?;
    let mut problems = Vec::new();
    for c in cases.values() {
        let approvals = c.approvals.iter().map(|a| a.proof);
        for seq in [c.seq, c.proof].into_iter().chain(approvals).flatten() {
            if seq >= facts.size {
                problems.push(CaseProblem {
                    record: Some(seq),
                    message: format!(
                        "case `{}` in `{FILE}` refers to proof record {seq}, but the log has only \
                         {} records: the log lost records (cut, or restored from an older \
                         backup than the queue)",
                        c.id, facts.size
                    ),
                    settled_on_open: false,
                });
            }
        }
    }
    match halt_fix(halt.as_ref(), lifted.as_ref(), facts.halt.as_ref()) {
        HaltFix::Agree => {}
        HaltFix::ProveOn(h) => problems.push(CaseProblem {
            record: None,
            message: format!(
                "`{FILE}` has the halt switch on (by {}, {}), but the proof log has no `halt.on` \
                 after its last `halt.off`: the halt is not proven (the next `xop serve` or \
                 `xop review --data` proves it)",
                h.by, h.at
            ),
            settled_on_open: true,
        }),
        HaltFix::ProveOff(by) => problems.push(CaseProblem {
            record: facts.halt.as_ref().map(|h| h.seq),
            message: format!(
                "`{FILE}` has the halt switch lifted (by {by}) after this `halt.on`, but the \
                 proof log has no `halt.off` for it (the next open of the queue proves it)"
            ),
            settled_on_open: true,
        }),
        HaltFix::Restore(h) => problems.push(CaseProblem {
            record: Some(h.seq),
            message: format!(
                "`halt.on` (by {}) with no `halt.off` after it, but `{FILE}` has the halt off: \
                 the queue lost lines (deleted, or restored from an older backup than the log); \
                 the next open of the queue turns the halt on again",
                h.by
            ),
            settled_on_open: true,
        }),
    }
    for c in cases.values() {
        if let Some(problem) = changed_case(c, &facts) {
            problems.push(problem);
        }
        if c.status != Status::Open {
            continue;
        }
        for a in &c.approvals {
            if let Some(why) = approval_fault(c, a, Some(&facts)) {
                problems.push(CaseProblem {
                    record: a.proof.or(c.seq),
                    message: format!(
                        "case `{}` in `{FILE}` lists an approval by {} for {} that does not \
                         count: {why} (the next open of the queue drops it, and the case waits \
                         for that approval again)",
                        c.id,
                        a.by,
                        role_list(&a.roles)
                    ),
                    // An unproven one can be an approval being proven while a writer runs.
                    settled_on_open: a.proof.is_none(),
                });
            }
        }
    }
    for (c, o) in decided_open(&facts, &cases) {
        problems.push(CaseProblem {
            record: Some(o.seq),
            message: format!(
                "`{}` (by {}) decided review decision record {}, but its case `{}` is open in \
                 `{FILE}`: the queue lost lines (restored from an older backup than the log); \
                 the next open of the queue closes it as the log says",
                o.name,
                if o.by.is_empty() { "?" } else { &o.by },
                c.seq.unwrap_or_default(),
                c.id
            ),
            settled_on_open: true,
        });
    }
    problems.extend(twice_decided(&facts));
    for c in lost_reviews(&facts, &cases) {
        problems.push(CaseProblem {
            record: c.seq,
            message: format!(
                "a `review` decision (policy `{}`) with no case in `{FILE}` and no outcome \
                 record: a crash came between the record and its case, or the queue lost lines \
                 (the next open of the queue gives it its fallback, proven)",
                c.policy
            ),
            settled_on_open: true,
        });
    }
    Ok(Some(problems))
}

/// Why approval `a` of open case `case` does not count, `None` when it does: an approval of
/// some of a case's roles counts only if the proof log holds its `review.approval` record, of
/// that case (and its decision record), by that reviewer, for those roles. `reviews.log` is
/// not signed, so an `approve` line with no `proved_approval` line (never proven: its reviewer
/// was never answered) or one whose line names another record (forged, or the file changed)
/// does not. Without a proof log to check against (`facts` `None`) a proven one counts.
fn approval_fault(case: &Case, a: &Approval, facts: Option<&LogFacts>) -> Option<String> {
    let Some(seq) = a.proof else {
        return Some(
            "it was never proven (no `proved_approval` line names its `review.approval` record): \
             a crash before its record, or a line written by hand; its reviewer was never \
             answered"
                .to_string(),
        );
    };
    let logged = facts?.approvals.get(&seq);
    match logged {
        None => Some(format!(
            "its `proved_approval` line names proof record {seq}, which is no `review.approval` \
             record"
        )),
        Some(l)
            if l.case != case.id || l.record != case.seq || l.by != a.by || l.roles != a.roles =>
        {
            Some(format!(
                "its `proved_approval` line names proof record {seq}, the approval of case `{}` \
                 by {} for {}, not this one",
                l.case,
                l.by,
                role_list(&l.roles)
            ))
        }
        Some(_) => None,
    }
}

/// A case of a `review` decision that is not the case its record describes ([`differs`]):
/// another id than `rv-N` (a second case for one decision), another review (role, other roles,
/// period, fallback), a deadline later than the record allows, module, policy or action, or
/// arguments the record does not commit to; or a case naming no record at all (`seq` removed:
/// beside a proof log every case names one).
/// Changed in the queue's file since the decision: no reviewer's answer to it is accepted, and
/// an approval, or a fallback, does not carry it out. A case whose record is no `review`
/// decision (one a gateway asked for) is not judged here, nor are arguments whose record holds
/// no commitment (records written by earlier versions hold none; an approval does not carry
/// those out either).
fn changed_case(c: &Case, facts: &LogFacts) -> Option<CaseProblem> {
    let Some(seq) = c.seq else {
        // Beside a proof log every case names its record: one naming none cannot be checked
        // against it, so no answer to it is accepted ([`ReviewQueue::check_record`]).
        return Some(CaseProblem {
            record: None,
            message: format!(
                "case `{}` in `{FILE}` names no proof record (`seq`), though every case opened \
                 beside a proof log names its decision's: it was changed in the file (no answer \
                 to it is accepted); compare it (`xop review show {}`) with the log's records \
                 (`xop log show`)",
                c.id, c.id
            ),
            settled_on_open: false,
        });
    };
    let what = differs(c, facts.recorded.get(&seq)?)?;
    Some(CaseProblem {
        record: Some(seq),
        message: format!(
            "case `{}` in `{FILE}` is not the case this decision record describes ({what}): it \
             was changed in the file since the decision (no answer to it is accepted, and an \
             approval, or a fallback, does not carry its action out); compare it (`xop review \
             show {}`) with the record (`xop log show`)",
            c.id, c.id
        ),
        settled_on_open: false,
    })
}

/// Whether `old` was opened for the decision `case` describes: every field the decision gave
/// it is the same (its record, module, policy, action, reasons, terms, evidence and time).
fn same_decision(old: &Case, case: &ReviewCase) -> bool {
    old.seq == case.seq
        && old.module == case.module
        && old.policy == case.policy
        && old.action == case.action
        && old.reasons == case.reasons
        && old.role == case.terms.role
        && old.also == case.terms.also
        && old.within_ms == case.terms.within_ms
        && old.fallback == verdict_keyword(case.terms.fallback)
        && old.evidence == case.evidence
        && old.at_ms == case.at_ms
}

/// Refuses a queue whose cases name records (decisions or outcome proofs) the proof log of
/// `size` records does not have: the log lost them (damage, or a log restored from an older
/// backup than the queue), and new decisions would reuse their numbers.
fn check_records(
    path: &Path,
    cases: &BTreeMap<String, Case>,
    size: u64,
) -> Result<(), ReviewError> {
    let beyond = cases.values().find_map(|c| {
        [c.seq, c.proof]
            .into_iter()
            .chain(c.approvals.iter().map(|a| a.proof))
            .flatten()
            .find(|&seq| seq >= size)
            .map(|seq| (c, seq))
    });
    match beyond {
        None => Ok(()),
        Some((c, seq)) => Err(ReviewError::Corrupt(format!(
            "case `{}` in `{}` refers to proof record {seq}, but the proof log has only {size} \
             records: the log lost records (damage, or restored from an older backup than the \
             review queue). Nothing was started; run `xop log verify` on the data folder and \
             restore the log and `{FILE}` from the same backup",
            c.id,
            path.display()
        ))),
    }
}

impl ReviewSink for ReviewQueue {
    fn open_case(&self, case: &ReviewCase) -> Result<String, String> {
        self.open_case_inner(case, None).map_err(|e| e.to_string())
    }

    fn open_case_with_args(
        &self,
        case: &ReviewCase,
        args: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<String, String> {
        self.open_case_inner(case, Some(args))
            .map_err(|e| e.to_string())
    }

    fn halted(&self) -> bool {
        ReviewQueue::halted(self).is_some()
    }
}

fn apply(cases: &mut BTreeMap<String, Case>, halt: &mut Option<Halt>, line: Line) {
    match line {
        Line::Open { case } => {
            cases.entry(case.id.clone()).or_insert(*case);
        }
        Line::Decide {
            id,
            status,
            verdict,
            by,
            at,
            note,
        } => {
            if let Some(c) = cases.get_mut(&id)
                && c.status == Status::Open
            {
                if status == Status::Approved {
                    // The approval that completes the case covers every role it waited for
                    // (the queue checked that its reviewer holds them).
                    let roles = c.waiting();
                    c.approvals.push(Approval {
                        by: by.clone(),
                        roles,
                        at: at.clone(),
                        note: note.clone(),
                        proof: None,
                    });
                }
                c.status = status;
                c.verdict = Some(verdict);
                c.decided_by = Some(by);
                c.decided_at = Some(at);
                c.note = note;
            }
        }
        Line::Proved { id, seq } => {
            if let Some(c) = cases.get_mut(&id) {
                c.proof = Some(seq);
                if c.status == Status::Approved
                    && let Some(last) = c.approvals.last_mut()
                {
                    last.proof = Some(seq);
                }
            }
        }
        Line::Approve {
            id,
            by,
            roles,
            at,
            note,
        } => {
            if let Some(c) = cases.get_mut(&id)
                && c.status == Status::Open
            {
                c.approvals.push(Approval {
                    by,
                    roles,
                    at,
                    note,
                    proof: None,
                });
            }
        }
        Line::ProvedApproval { id, n, seq } => {
            if let Some(a) = cases.get_mut(&id).and_then(|c| c.approvals.get_mut(n)) {
                a.proof = Some(seq);
            }
        }
        Line::DropApproval { id, n, .. } => {
            if let Some(c) = cases.get_mut(&id)
                && c.status == Status::Open
                && n < c.approvals.len()
            {
                c.approvals.remove(n);
            }
        }
        Line::Halt { halt: h } => *halt = Some(h),
        Line::Lift { .. } => *halt = None,
    }
}

/// The cases, the halt state, the length of the good prefix, and the last `lift` line after
/// every `halt` line (its `by` and `at`), if any.
type Replayed = (
    BTreeMap<String, Case>,
    Option<Halt>,
    u64,
    Option<(String, String)>,
);

/// Reads the store: the cases, the halt state, and the length of its good prefix (a last
/// line a crash cut short is not part of it; a bad line before the last is damage).
fn replay(path: &Path, file: &mut File) -> Result<Replayed, ReviewError> {
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_err(path, &e))?;
    let mut reader = BufReader::new(&*file);
    let mut cases = BTreeMap::new();
    let mut halt = None;
    let mut lifted = None;
    let mut good = 0u64;
    let mut buf = Vec::new();
    let mut number = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| io_err(path, &e))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = buf.last() == Some(&b'\n');
        if !complete {
            // A torn last line (only the last can lack its newline): dropped by the caller.
            break;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            // A blank line (an editor's, a tool's): nothing to apply.
            good += n as u64;
            continue;
        }
        match serde_json::from_slice::<Line>(&buf) {
            Ok(line) => {
                match &line {
                    Line::Halt { .. } => lifted = None,
                    Line::Lift { by, at } => lifted = Some((by.clone(), at.clone())),
                    _ => {}
                }
                apply(&mut cases, &mut halt, line);
                good += n as u64;
            }
            Err(e) => {
                // serde's own position is within the line: the column is what helps.
                let e = e.to_string();
                let e = e.split(" at line ").next().unwrap_or(&e);
                return Err(ReviewError::Corrupt(format!(
                    "`{}` is damaged at line {number}: {e}; restore it from a backup (every \
                     outcome is also in the proof log)",
                    path.display()
                )));
            }
        }
    }
    Ok((cases, halt, good, lifted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    /// Many cases: said once with their number and what waits, then every few seconds, then
    /// done; a few: nothing.
    #[test]
    fn an_opening_report_says_what_it_does_and_how_far_it_got() {
        use std::cell::Cell;
        use std::time::Instant;
        let at = |stage, done, total| Progress { stage, done, total };
        let start = Instant::now();
        let t = Cell::new(start);
        let mut r = OpeningReport::new(|| t.get(), "before answering");
        assert_eq!(r.line(at(Stage::Overdue, 0, REPORT_FROM - 1)), None);
        let first = r.line(at(Stage::Overdue, 0, 38_000)).unwrap();
        assert!(
            first.contains("applying the fallback of 38000 review cases")
                && first.ends_with("before answering…"),
            "{first}"
        );
        t.set(start + Duration::from_secs(1));
        assert_eq!(r.line(at(Stage::Overdue, 1024, 38_000)), None);
        t.set(start + REPORT_EVERY + Duration::from_secs(1));
        let mid = r.line(at(Stage::Overdue, 2048, 38_000)).unwrap();
        assert!(mid.contains("2048 of 38000"), "{mid}");
        let end = r.line(at(Stage::Overdue, 38_000, 38_000)).unwrap();
        assert!(end.ends_with("done"), "{end}");
        let rec = r.line(at(Stage::Unproven, 0, 1024)).unwrap();
        assert!(rec.contains("proving the outcomes of 1024"), "{rec}");
    }

    #[derive(Default)]
    struct Events(Mutex<Vec<(String, serde_json::Value)>>);

    impl EventLog for Arc<Events> {
        fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
            let mut v = self.0.lock().unwrap();
            v.push((name.to_string(), data));
            Ok(v.len() as u64 - 1)
        }
    }

    /// A proof log that counts how its records come: the sizes of the batches.
    #[derive(Default)]
    struct Batches(Arc<Events>, Mutex<Vec<usize>>, AtomicBool);

    impl EventLog for Arc<Batches> {
        fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
            self.append_events(vec![(name, data)])
                .map(|mut v| v.remove(0))
        }

        fn append_events(
            &self,
            events: Vec<(&str, serde_json::Value)>,
        ) -> Result<Vec<u64>, String> {
            if self.2.load(Ordering::SeqCst) {
                return Err("No space left on device (injected by a test)".into());
            }
            self.1.lock().unwrap().push(events.len());
            events
                .into_iter()
                .map(|(n, d)| self.0.append_event(n, d))
                .collect()
        }
    }

    /// Writes a store of `n` open cases, due at 1 000 ms.
    fn overdue_store(dir: &Path, n: u64) {
        std::fs::create_dir_all(dir).unwrap();
        let mut text = String::new();
        for seq in 0..n {
            let c = case(seq, 500);
            let line = Line::Open {
                case: Box::new(Case {
                    id: format!("rv-{seq}"),
                    seq: Some(seq),
                    module: c.module,
                    policy: c.policy,
                    action: c.action,
                    reasons: c.reasons,
                    role: c.terms.role,
                    also: Vec::new(),
                    within_ms: 500,
                    fallback: "deny".into(),
                    deadline_ms: 1_000,
                    deadline: time_text(1_000),
                    evidence: Vec::new(),
                    at_ms: 0,
                    opened_ms: 500,
                    status: Status::Open,
                    verdict: None,
                    decided_by: None,
                    decided_at: None,
                    note: None,
                    proof: None,
                    args: None,
                    approvals: Vec::new(),
                }),
            };
            text.push_str(&serde_json::to_string(&line).unwrap());
            text.push('\n');
        }
        std::fs::write(dir.join(FILE), text).unwrap();
    }

    /// Many overdue cases on open (after a crash, a long stop): each gets its fallback, once,
    /// proven once, but a batch of them shares one sync of the store per step and one append
    /// to the proof log; the progress is reported.
    #[test]
    fn many_overdue_cases_are_decided_and_proven_in_batches() {
        let dir = tmp("batches");
        let n = 2 * BATCH as u64 + 5;
        overdue_store(&dir, n);
        let log = Arc::new(Batches::default());
        let mut reports = Vec::new();
        let clock: Clock = Arc::new(|| 2_000);
        let q = ReviewQueue::open_reporting(
            &dir,
            Box::new(Arc::clone(&log)),
            clock.clone(),
            &mut |p| reports.push(p),
        )
        .unwrap();
        let cases = q.list(None);
        assert_eq!(cases.len() as u64, n);
        let mut proofs: Vec<u64> = cases
            .iter()
            .map(|c| {
                assert_eq!(
                    (c.status, c.decided_by.as_deref(), c.verdict.as_deref()),
                    (Status::Fallback, Some(BY_DEADLINE), Some("deny")),
                    "{}",
                    c.id
                );
                c.proof.unwrap()
            })
            .collect();
        proofs.sort_unstable();
        assert_eq!(
            proofs,
            (0..n).collect::<Vec<_>>(),
            "one outcome record each"
        );
        assert_eq!(*log.1.lock().unwrap(), [BATCH, BATCH, 5]);
        // Per batch: the outcomes in one sync, then their `proved` lines in one.
        assert_eq!(q.lock().syncs, 6);
        let total = n as usize;
        assert_eq!(
            reports.first(),
            Some(&Progress {
                stage: Stage::Overdue,
                done: 0,
                total
            })
        );
        assert_eq!(
            reports.last().map(|p| (p.done, p.total)),
            Some((total, total))
        );
        assert_eq!(reports.len(), 4);
        drop(q);
        // Durable: reopening finds nothing to do.
        let q = ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&log)), clock).unwrap();
        assert_eq!(q.list(Some(Status::Fallback)).len() as u64, n);
        assert_eq!(log.0.0.lock().unwrap().len() as u64, n);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A batch whose outcomes are durable in the queue but whose proof records could not be
    /// written (a crash, a full disk between the two): reopening proves each of them once,
    /// marked `recovered`, in batches too.
    #[test]
    fn a_batch_decided_but_not_proven_is_proven_on_reopen() {
        let dir = tmp("batch-recover");
        let n = BATCH as u64 + 1;
        overdue_store(&dir, n);
        let log = Arc::new(Batches::default());
        log.2.store(true, Ordering::SeqCst);
        let clock: Clock = Arc::new(|| 2_000);
        let Err(ReviewError::Log(_)) =
            ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&log)), clock.clone())
        else {
            panic!("opened although the proof log refused the outcomes");
        };
        log.2.store(false, Ordering::SeqCst);
        let mut reports = Vec::new();
        let q = ReviewQueue::open_reporting(&dir, Box::new(Arc::clone(&log)), clock, &mut |p| {
            reports.push(p)
        })
        .unwrap();
        // The first batch was decided before the failure: recovered; the rest applied now.
        assert_eq!(
            reports.first().map(|p| (p.stage, p.total)),
            Some((Stage::Unproven, BATCH))
        );
        let events = log.0.0.lock().unwrap().clone();
        assert_eq!(events.len() as u64, n);
        let recovered = events
            .iter()
            .filter(|e| e.1["recovered"] == json!(true))
            .count();
        assert_eq!(recovered, BATCH);
        assert!(
            q.list(None)
                .iter()
                .all(|c| c.status == Status::Fallback && c.proof.is_some())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A proof log that also says what it holds ([`LogFacts`]): the decisions in `1` (their
    /// records numbered apart from the events'), and the events appended; `2` makes appends
    /// fail (a full disk).
    struct Factual(Arc<Events>, Mutex<LogFacts>, AtomicBool);

    impl EventLog for Arc<Factual> {
        fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
            if self.2.load(Ordering::SeqCst) {
                return Err("No space left on device (injected by a test)".into());
            }
            self.0.append_event(name, data)
        }

        fn facts(&self) -> Option<Result<LogFacts, String>> {
            let mut f = self.1.lock().unwrap().clone();
            for (seq, (name, data)) in self.0.0.lock().unwrap().iter().enumerate() {
                f.note(&Record {
                    seq: seq as u64,
                    time: time_text(1_000 + seq as i64),
                    body: Body::Event {
                        name: name.clone(),
                        data: data.clone(),
                    },
                });
            }
            Some(Ok(f))
        }
    }

    /// A log with no decision records yet.
    fn factual() -> Arc<Factual> {
        Arc::new(Factual(
            Arc::default(),
            Mutex::default(),
            AtomicBool::new(false),
        ))
    }

    /// Writes `review` decision records 100 and 101 to `log` (numbered apart from events).
    fn decide_two(log: &Factual) {
        let mut facts = log.1.lock().unwrap();
        for seq in [100, 101] {
            facts.recorded.insert(seq, recorded(case(seq, 900_000)));
        }
    }

    /// What the `review` decision record of `c` gives it.
    fn recorded(c: ReviewCase) -> Recorded {
        Recorded {
            case: c,
            action: None,
            args_sha256: None,
            written_ms: None,
        }
    }

    fn names(ev: &Events) -> Vec<String> {
        ev.0.lock().unwrap().iter().map(|e| e.0.clone()).collect()
    }

    /// Losing `reviews.log` (or rolling it back) neither lifts the halt nor drops the log's
    /// review decisions: opening turns the halt on again from the log's `halt.on`, and gives
    /// each review decision without a case or an outcome record its fallback, proven
    /// (`review.fallback` naming the record, by `recovery`); said in the notices; once.
    #[test]
    fn a_lost_queue_keeps_the_halt_and_gives_lost_reviews_their_fallback() {
        let dir = tmp("lost");
        let log = factual();
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        decide_two(&log);
        // Record 100's case was opened; 101's never was (a crash in between).
        q.open_case(&case(100, 900_000)).unwrap();
        q.halt("ops", "incident").unwrap();
        drop(q);
        std::fs::remove_file(dir.join(FILE)).unwrap();
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        let h = q.halted().expect("the halt is on again");
        assert_eq!((h.by.as_str(), h.reason.as_str()), ("ops", "incident"));
        for id in ["rv-100", "rv-101"] {
            let c = q.get(id).expect(id);
            assert_eq!(
                (c.status, c.decided_by.as_deref(), c.verdict.as_deref()),
                (Status::Fallback, Some(BY_RECOVERY), Some("deny")),
                "{id}"
            );
            assert!(c.proof.is_some(), "{id}");
        }
        let events = log.0.0.lock().unwrap().clone();
        let fallbacks: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e.0 == "review.fallback")
            .map(|e| &e.1)
            .collect();
        assert_eq!(fallbacks.len(), 2);
        assert_eq!(fallbacks[0]["record"], json!(100));
        assert_eq!(fallbacks[0]["by"], json!(BY_RECOVERY));
        assert_eq!(fallbacks[0]["recovered"], json!(true));
        let notices = q.notices().join("\n");
        assert!(
            notices.contains("halt switch on again") || notices.contains("the halt is on again"),
            "{notices}"
        );
        assert!(notices.contains("records 100, 101"), "{notices}");
        drop(q);
        // Settled: reopening changes nothing.
        let before = names(&log.0);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        assert_eq!(names(&log.0), before);
        assert!(q.notices().is_empty(), "{:?}", q.notices());
        assert!(q.halted().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The owner's hook is told of every case the queue closes with its fallback by the
    /// deadline or on recovery, `allow` and `deny` alike, once each, proven, outside the
    /// queue's lock: those closed on open (overdue, decided before a failure but not proven, a
    /// `review` decision without a case) are kept and handed over when it is set; then each
    /// the deadline closes (`apply_due`, as the timer does, and a late answer). Not an
    /// approval, nor the halt's fallback.
    #[test]
    fn the_owner_is_told_of_every_fallback_also_those_closed_on_open() {
        let dir = tmp("on-fallback");
        let log = factual();
        let (now, clock) = test_clock(1_000);
        let q =
            ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&log)), clock.clone()).unwrap();
        let allowing = |seq, within_ms| {
            let mut c = case(seq, within_ms);
            c.terms.fallback = Verdict::Allow;
            c
        };
        q.open_case(&allowing(1, 500)).unwrap();
        q.open_case(&case(2, 500)).unwrap();
        let approved = q.open_case(&case(3, 500)).unwrap();
        q.approve(&approved, &desk(), None).unwrap();
        // Due first, decided while the proof log refuses its record: unproven.
        q.open_case(&allowing(4, 200)).unwrap();
        now.store(1_300, Ordering::SeqCst);
        log.2.store(true, Ordering::SeqCst);
        assert!(q.apply_due().is_err());
        log.2.store(false, Ordering::SeqCst);
        drop(q);
        // A `review` decision whose case was never opened.
        (log.1.lock().unwrap().recorded).insert(100, recorded(allowing(100, 900_000)));
        now.store(2_000, Ordering::SeqCst);
        let q = ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&log)), clock).unwrap();
        let told = Arc::new(Mutex::new(Vec::new()));
        let (into, inner) = (Arc::clone(&told), Arc::downgrade(&q.inner));
        q.set_on_fallback(Box::new(move |c: &Case| {
            let unlocked = inner.upgrade().unwrap().state.try_lock().is_ok();
            into.lock().unwrap().push((
                c.id.clone(),
                c.verdict.clone().unwrap(),
                c.decided_by.clone().unwrap(),
                c.proof.is_some(),
                unlocked,
            ));
        }));
        let told_ids = || {
            let t = told.lock().unwrap();
            assert!(
                t.iter().all(|t| t.3 && t.4),
                "unproven, or under the lock: {t:?}"
            );
            t.iter().map(|t| t.0.clone()).collect::<Vec<_>>()
        };
        assert_eq!(told_ids(), ["rv-4", "rv-100", "rv-1", "rv-2"]);
        assert_eq!(
            told.lock().unwrap()[1..3]
                .iter()
                .map(|t| (t.1.as_str(), t.2.as_str()))
                .collect::<Vec<_>>(),
            [("allow", BY_RECOVERY), ("allow", BY_DEADLINE)]
        );
        // Closed by the deadline once the hook is set: told at once.
        q.open_case(&allowing(5, 500)).unwrap();
        now.store(3_000, Ordering::SeqCst);
        assert_eq!(q.apply_due().unwrap().len(), 1);
        assert_eq!(told_ids().last().map(String::as_str), Some("rv-5"));
        // A late answer closes its case with the fallback: told too.
        let late = q.open_case(&allowing(6, 500)).unwrap();
        now.store(4_000, Ordering::SeqCst);
        assert!(matches!(
            q.approve(&late, &desk(), None),
            Err(ReviewError::AlreadyDecided { .. })
        ));
        assert_eq!(told_ids().last().map(String::as_str), Some("rv-6"));
        // The halt's fallback is not the queue's to tell.
        q.halt("ops", "incident").unwrap();
        let halted = q.open_case(&allowing(7, 500)).unwrap();
        assert_eq!(q.get(&halted).unwrap().decided_by.as_deref(), Some(BY_HALT));
        assert_eq!(told_ids().len(), 6, "{:?}", told_ids());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A halt (or a lift) the proof log could not record applies, is said to be unproven
    /// (not "the outcome"), and is proven on the next open (`recovered`), once.
    #[test]
    fn a_halt_or_lift_the_log_could_not_record_is_proven_on_open() {
        let dir = tmp("halt-unproven");
        let log = factual();
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        decide_two(&log);
        q.open_case(&case(100, 900_000)).unwrap();
        q.open_case(&case(101, 900_000)).unwrap();
        log.2.store(true, Ordering::SeqCst);
        let err = q.halt("ops", "incident").unwrap_err();
        assert!(
            matches!(err, ReviewError::HaltLog { on: true, .. }),
            "{err}"
        );
        let m = err.to_string();
        assert!(
            m.contains("the halt switch is on")
                && m.contains("`halt.on`")
                && !m.contains("outcome"),
            "{m}"
        );
        assert!(q.halted().is_some());
        drop(q);
        log.2.store(false, Ordering::SeqCst);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        assert!(q.halted().is_some());
        let events = log.0.0.lock().unwrap().clone();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].0.as_str(), &events[0].1["recovered"]),
            ("halt.on", &json!(true))
        );
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        assert_eq!(log.0.0.lock().unwrap().len(), 1, "proven once");
        // A lift the log could not record: proven on the next open; the halt stays off.
        log.2.store(true, Ordering::SeqCst);
        assert!(matches!(
            q.lift("ops"),
            Err(ReviewError::HaltLog { on: false, .. })
        ));
        drop(q);
        log.2.store(false, Ordering::SeqCst);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        assert!(q.halted().is_none());
        assert_eq!(names(&log.0), ["halt.on", "halt.off"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `check_cases` reads a folder's queue and log and names what disagrees, writing
    /// nothing: a `halt.on` the queue lacks, a review decision without a case, a case naming a
    /// record the log lacks.
    #[test]
    fn check_cases_names_what_the_queue_and_the_log_disagree_on() {
        use crate::proof::record::DecisionRecord;
        let dir = tmp("check");
        let log = ProofLog::open(&dir, crate::proof::LogConfig::default()).unwrap();
        let decision = Entry {
            time: time_text(1_000),
            body: Body::Decision(DecisionRecord {
                module: "m".into(),
                policy: "p.fraud".into(),
                action: None,
                at: time_text(0),
                evidence: Vec::new(),
                signals: Vec::new(),
                verdict: Verdict::Review,
                reasons: vec!["r".into()],
                fired: Vec::new(),
                review: Some(case(0, 60_000).terms),
                args_sha256: None,
                error: None,
                detail: None,
            }),
        };
        assert_eq!(log.append(&decision).unwrap(), 0);
        assert_eq!(check_cases(&dir).unwrap(), Vec::new(), "no reviews.log");
        // No queue: nothing of it to check, the log left to the caller.
        assert_eq!(check_queue(&dir).unwrap(), None);
        std::fs::write(dir.join(FILE), "").unwrap();
        assert!(check_queue(&dir).unwrap().is_some());
        let lost = check_cases(&dir).unwrap();
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!((lost[0].record, lost[0].settled_on_open), (Some(0), true));
        log.append_event("halt.on", json!({"by": "ops", "reason": "x"}))
            .unwrap();
        let mut text = String::new();
        let mut c = new_case(&case(7, 60_000), "rv-7", 0, None);
        c.seq = Some(7);
        text.push_str(&serde_json::to_string(&Line::Open { case: Box::new(c) }).unwrap());
        text.push('\n');
        std::fs::write(dir.join(FILE), &text).unwrap();
        let found = check_cases(&dir).unwrap();
        let text = format!("{found:?}");
        assert_eq!(found.len(), 3, "{text}");
        assert!(
            found
                .iter()
                .any(|p| p.record == Some(7) && !p.settled_on_open),
            "{text}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.record == Some(1) && p.message.contains("halt off")),
            "{text}"
        );
        // Read-only.
        assert_eq!(std::fs::read_to_string(dir.join(FILE)).unwrap().len(), {
            let mut c = new_case(&case(7, 60_000), "rv-7", 0, None);
            c.seq = Some(7);
            serde_json::to_string(&Line::Open { case: Box::new(c) })
                .unwrap()
                .len()
                + 1
        });
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A blank line (an editor's) is skipped; damage names one line number.
    #[test]
    fn a_blank_line_is_skipped_and_damage_names_its_line() {
        let dir = tmp("blank");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        q.open_case(&case(3, 60_000)).unwrap();
        drop(q);
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}\n")).unwrap();
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        assert_eq!(q.get("rv-3").unwrap().status, Status::Open);
        q.approve("rv-3", &desk(), None).unwrap();
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        assert_eq!(q.get("rv-3").unwrap().status, Status::Approved);
        drop(q);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{text}{{\n")).unwrap();
        let Err(ReviewError::Corrupt(m)) = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev)))
        else {
            panic!("opened a damaged store")
        };
        assert!(
            m.contains("at line 5:") && !m.contains(" at line 1 "),
            "{m}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A log of `1` records, for the check on open.
    struct Sized(Arc<Events>, u64);

    impl EventLog for Sized {
        fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
            self.0.append_event(name, data)
        }

        fn size(&self) -> Option<u64> {
            Some(self.1)
        }
    }

    fn case(seq: u64, within_ms: i64) -> ReviewCase {
        ReviewCase {
            seq: Some(seq),
            module: "m".into(),
            policy: "p.fraud".into(),
            action: "p.block".into(),
            reasons: vec!["r".into()],
            terms: ReviewTerms {
                role: "fraud_desk".into(),
                within_ms,
                fallback: Verdict::Deny,
                deadline: String::new(),
                also: Vec::new(),
            },
            evidence: Vec::new(),
            at_ms: 0,
        }
    }

    fn desk() -> Reviewer {
        Reviewer {
            name: "ana".into(),
            roles: vec!["fraud_desk".into()],
        }
    }

    /// A clock at `start` ms that the test moves by storing into the first value.
    fn test_clock(start: i64) -> (Arc<AtomicI64>, Clock) {
        let now = Arc::new(AtomicI64::new(start));
        let read = Arc::clone(&now);
        (now, Arc::new(move || read.load(Ordering::SeqCst)))
    }

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("xop-review-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    fn reviewer(name: &str, roles: &[&str]) -> Reviewer {
        Reviewer {
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// A case for reviews of `fraud_desk` and `lead`, record `seq`.
    fn two_roles(seq: u64, within_ms: i64) -> ReviewCase {
        let mut c = case(seq, within_ms);
        c.terms.also = vec!["lead".into()];
        c
    }

    /// A case for reviews of several roles is approved role by role, by different people (four
    /// eyes): each approval is durable and proven (`review.approval`), the case stays open and
    /// lists them until every role is approved, and the last one's `review.approved` names
    /// every approver. A reviewer holding none of its roles, or only roles already approved,
    /// is refused and nothing is recorded.
    #[test]
    fn a_case_of_several_roles_is_approved_role_by_role() {
        let dir = tmp("roles");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        let id = q.open_case(&two_roles(3, 60_000)).unwrap();
        let err = q
            .approve(&id, &reviewer("mo", &["marketing"]), None)
            .unwrap_err();
        assert!(
            matches!(&err, ReviewError::WrongRole { role, .. } if role == "fraud_desk"),
            "{err}"
        );
        let c = q.approve(&id, &desk(), Some("called")).unwrap();
        assert_eq!(c.status, Status::Open);
        assert_eq!(c.waiting(), vec!["lead".to_string()]);
        assert_eq!(
            c.approvals,
            vec![Approval {
                by: "ana".into(),
                roles: vec!["fraud_desk".into()],
                at: c.approvals[0].at.clone(),
                note: Some("called".into()),
                proof: Some(0),
            }]
        );
        let (name, data) = ev.0.lock().unwrap()[0].clone();
        assert_eq!(name, "review.approval");
        assert_eq!(
            (&data["case"], &data["record"], &data["by"]),
            (&json!(id), &json!(3), &json!("ana"))
        );
        assert_eq!(
            (&data["roles"], &data["waiting"]),
            (&json!(["fraud_desk"]), &json!(["lead"]))
        );
        // Ana again, or another of her role: that role is approved; the case waits for `lead`.
        for who in [desk(), reviewer("zed", &["fraud_desk"])] {
            let err = q.approve(&id, &who, None).unwrap_err();
            let ReviewError::AlreadyApproved { waiting, .. } = &err else {
                panic!("{err}");
            };
            assert_eq!(waiting, &vec!["lead".to_string()]);
            assert!(
                err.to_string().contains("it waits for role `lead`"),
                "{err}"
            );
        }
        assert_eq!(ev.0.lock().unwrap().len(), 1, "nothing more was recorded");
        // Durable across a reopen.
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        assert_eq!(q.get(&id).unwrap().approvals.len(), 1);
        assert_eq!(
            ev.0.lock().unwrap().len(),
            1,
            "the approval was proven once"
        );
        let c = q.approve(&id, &reviewer("lee", &["lead"]), None).unwrap();
        assert_eq!(
            (c.status, c.decided_by.as_deref(), c.verdict.as_deref()),
            (Status::Approved, Some("lee"), Some("allow"))
        );
        assert_eq!(c.proof, Some(1));
        assert!(c.waiting().is_empty());
        let by: Vec<(&str, &[String], Option<u64>)> = (c.approvals.iter())
            .map(|a| (a.by.as_str(), &a.roles[..], a.proof))
            .collect();
        assert_eq!(
            by,
            [
                ("ana", &["fraud_desk".to_string()][..], Some(0)),
                ("lee", &["lead".to_string()][..], Some(1))
            ]
        );
        let (name, data) = ev.0.lock().unwrap()[1].clone();
        assert_eq!(name, "review.approved");
        assert_eq!(
            data["approvals"],
            json!([{"by": "ana", "roles": ["fraud_desk"], "record": 0},
                   {"by": "lee", "roles": ["lead"]}])
        );
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        assert_eq!(q.get(&id).unwrap(), c, "the same case after a reopen");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// One reviewer holding every role of the case decides it in one step, as a reviewer of a
    /// one-role case does: one `review.approved`, no `review.approval`.
    #[test]
    fn a_reviewer_of_every_role_approves_in_one_step() {
        let dir = tmp("roles-one-step");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        let id = q.open_case(&two_roles(3, 60_000)).unwrap();
        let both = reviewer("bo", &["lead", "fraud_desk"]);
        let c = q.approve(&id, &both, None).unwrap();
        assert_eq!(
            (c.status, c.decided_by.as_deref()),
            (Status::Approved, Some("bo"))
        );
        assert_eq!(c.approvals[0].roles, vec!["fraud_desk", "lead"]);
        assert_eq!(names(&ev), ["review.approved"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A rejection by a holder of any role of the case denies it at once, also after another
    /// role was approved, and also by a holder of the role approved.
    #[test]
    fn a_rejection_by_any_role_denies_a_partly_approved_case() {
        let dir = tmp("roles-reject");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        for (seq, by) in [(3, "lee"), (4, "zed")] {
            let id = q.open_case(&two_roles(seq, 60_000)).unwrap();
            q.approve(&id, &desk(), None).unwrap();
            let who = match by {
                "lee" => reviewer("lee", &["lead"]),
                _ => reviewer("zed", &["fraud_desk"]),
            };
            let c = q.reject(&id, &who, None).unwrap();
            assert_eq!(
                (c.status, c.decided_by.as_deref(), c.verdict.as_deref()),
                (Status::Rejected, Some(by), Some("deny"))
            );
            assert!(matches!(
                q.approve(&id, &reviewer("lee", &["lead"]), None),
                Err(ReviewError::AlreadyDecided { .. })
            ));
        }
        assert_eq!(
            names(&ev),
            [
                "review.approval",
                "review.rejected",
                "review.approval",
                "review.rejected"
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A partial approval changes neither the deadline nor the fallback: the case still falls
    /// back at its deadline (listing the approval), a late approval of the other role closes
    /// it with its fallback, and while the halt switch is on no role can be approved.
    #[test]
    fn a_partly_approved_case_falls_back_and_halts_as_any() {
        let dir = tmp("roles-fallback");
        let ev = Arc::new(Events::default());
        let (now, clock) = test_clock(1_000);
        let q = ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&ev)), clock).unwrap();
        let id = q.open_case(&two_roles(3, 5_000)).unwrap();
        let late = q.open_case(&two_roles(4, 5_000)).unwrap();
        q.approve(&id, &desk(), None).unwrap();
        q.approve(&late, &desk(), None).unwrap();
        q.halt("ops", "incident").unwrap();
        assert!(matches!(
            q.approve(&id, &reviewer("lee", &["lead"]), None),
            Err(ReviewError::Halted { .. })
        ));
        assert!(q.lift("ops").unwrap());
        now.store(6_000, Ordering::SeqCst);
        assert!(matches!(
            q.approve(&late, &reviewer("lee", &["lead"]), None),
            Err(ReviewError::AlreadyDecided { .. })
        ));
        q.apply_due().unwrap();
        for id in [&id, &late] {
            let c = q.get(id).unwrap();
            assert_eq!(
                (c.status, c.decided_by.as_deref(), c.verdict.as_deref()),
                (Status::Fallback, Some(BY_DEADLINE), Some("deny"))
            );
            assert_eq!(c.approvals.len(), 1);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An approval of some roles the proof log refuses is not recorded: the reviewer is told,
    /// it is taken back out of the queue (the case waits for that role again, and the reviewer
    /// may approve again), and it is never proven later.
    #[test]
    fn an_approval_the_log_refuses_is_taken_back() {
        let dir = tmp("roles-refused");
        let log = Arc::new(Batches::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        let id = q.open_case(&two_roles(3, 60_000)).unwrap();
        let before = std::fs::read_to_string(dir.join(FILE)).unwrap();
        log.2.store(true, Ordering::SeqCst);
        let err = q.approve(&id, &desk(), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("was not recorded and does not count"),
            "{err}"
        );
        let c = q.get(&id).unwrap();
        assert_eq!((c.status, c.approvals.len()), (Status::Open, 0));
        assert_eq!(
            std::fs::read_to_string(dir.join(FILE)).unwrap(),
            before,
            "its line was taken back out"
        );
        drop(q);
        log.2.store(false, Ordering::SeqCst);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        assert!(q.get(&id).unwrap().approvals.is_empty());
        assert!(log.0.0.lock().unwrap().is_empty(), "never proven later");
        let c = q.approve(&id, &desk(), None).unwrap();
        assert_eq!((c.approvals.len(), c.approvals[0].proof), (1, Some(0)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A proof log shared with the test, which appends decision records to it.
    struct Shared(Arc<ProofLog>);

    impl EventLog for Shared {
        fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
            EventLog::append_event(&*self.0, name, data)
        }

        fn size(&self) -> Option<u64> {
            EventLog::size(&*self.0)
        }

        fn facts(&self) -> Option<Result<LogFacts, String>> {
            EventLog::facts(&*self.0)
        }

        fn record(&self, seq: u64) -> Option<Result<Record, String>> {
            EventLog::record(&*self.0, seq)
        }
    }

    /// Appends the `review` decision record of `c` to `log`, written at `time` ms.
    fn log_review(log: &ProofLog, c: &ReviewCase, time: i64) -> u64 {
        let decision = crate::proof::record::DecisionRecord {
            module: c.module.clone(),
            policy: c.policy.clone(),
            action: None,
            at: time_text(time),
            evidence: Vec::new(),
            signals: Vec::new(),
            verdict: Verdict::Review,
            reasons: c.reasons.clone(),
            fired: Vec::new(),
            review: Some(c.terms.clone()),
            args_sha256: None,
            error: None,
            detail: None,
        };
        let entry = Entry {
            time: time_text(time),
            body: Body::Decision(decision),
        };
        log.append(&entry).unwrap()
    }

    /// Appends `lines` (JSON values) to the store in `dir`, as anyone who can write the data
    /// folder can.
    fn forge(dir: &Path, lines: &[serde_json::Value]) {
        let mut f = File::options().append(true).open(dir.join(FILE)).unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
    }

    /// `reviews.log` is not signed: an approval counts only if the proof log holds its
    /// `review.approval` record, of that case, by that reviewer, for those roles. A forged
    /// `approve` line (unproven, or naming another approval's record or none) is named by
    /// `xop log verify`, and dropped on opening (durably, with a notice, never proven as
    /// recovered); later approvals of the case count as before.
    #[test]
    fn a_forged_or_unproven_approval_does_not_count() {
        let dir = tmp("forged-approval");
        let (_, clock) = test_clock(1_000_000);
        let log = Arc::new(ProofLog::open(&dir, crate::proof::LogConfig::default()).unwrap());
        let open = || {
            ReviewQueue::open_with_clock(&dir, Box::new(Shared(Arc::clone(&log))), clock.clone())
                .unwrap()
        };
        let q = open();
        for seq in [0, 1] {
            assert_eq!(log_review(&log, &two_roles(seq, 900_000), 1_000_000), seq);
            q.open_case(&two_roles(seq, 900_000)).unwrap();
        }
        let ana = q.approve("rv-0", &desk(), None).unwrap();
        assert_eq!(ana.approvals[0].proof, Some(2));
        drop(q);
        let approve = |id: &str, by: &str, role: &str| {
            json!({"op": "approve", "id": id, "by": by, "roles": [role],
                   "at": "2026-01-01T00:00:00.000Z", "note": null})
        };
        let proved = |id: &str, n: usize, seq: u64| json!({"op": "proved_approval", "id": id, "n": n, "seq": seq});
        forge(
            &dir,
            &[
                // Ana's record, named for another case and reviewer.
                approve("rv-1", "mallory", "fraud_desk"),
                proved("rv-1", 0, 2),
                // Never proven.
                approve("rv-1", "mallory", "lead"),
                // A record that is no approval (a decision).
                approve("rv-0", "mallory", "lead"),
                proved("rv-0", 1, 1),
            ],
        );
        let problems = check_cases(&dir).unwrap();
        let named: Vec<&CaseProblem> = (problems.iter())
            .filter(|p| p.message.contains("approval by mallory"))
            .collect();
        assert_eq!(named.len(), 3, "{problems:?}");
        assert_eq!(
            named.iter().filter(|p| p.settled_on_open).count(),
            1,
            "only the unproven one can be a writer's moment: {problems:?}"
        );
        let size = log.size();
        let q = open();
        let notices = q.notices();
        assert_eq!(notices.len(), 3, "{notices:?}");
        assert!(
            notices
                .iter()
                .all(|n| n.contains("mallory") && n.contains("does not count")),
            "{notices:?}"
        );
        assert!(notices.iter().any(|n| n.starts_with("case `rv-1`")));
        assert!(notices.iter().any(|n| n.starts_with("case `rv-0`")));
        assert_eq!(log.size(), size, "nothing was proven as recovered");
        assert!(q.get("rv-1").unwrap().approvals.is_empty());
        assert_eq!(q.get("rv-0").unwrap().approvals, ana.approvals);
        assert_eq!(q.get("rv-0").unwrap().waiting(), vec!["lead".to_string()]);
        // Dropped for good; approvals after the drops are numbered as a replay numbers them.
        let lee = q
            .approve("rv-1", &reviewer("lee", &["lead"]), None)
            .unwrap();
        drop(q);
        assert!(check_cases(&dir).unwrap().is_empty());
        let q = open();
        assert!(q.notices().is_empty(), "{:?}", q.notices());
        assert_eq!(q.get("rv-1").unwrap().approvals, lee.approvals);
        let c = q.approve("rv-1", &desk(), None).unwrap();
        assert_eq!(c.status, Status::Approved);
        drop(q);
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A case's deadline is its record's: one moved later in `reviews.log` (alone, or with
    /// its opening time) is refused to a reviewer after the real deadline, and named by `xop
    /// log verify`.
    #[test]
    fn a_deadline_moved_later_is_refused_and_named() {
        const T: i64 = 1_000_000;
        for moved_opening in [false, true] {
            let dir = tmp(&format!("moved-deadline-{moved_opening}"));
            let (now, clock) = test_clock(T);
            let log = Arc::new(ProofLog::open(&dir, crate::proof::LogConfig::default()).unwrap());
            let q = ReviewQueue::open_with_clock(
                &dir,
                Box::new(Shared(Arc::clone(&log))),
                clock.clone(),
            )
            .unwrap();
            log_review(&log, &case(0, 60_000), T);
            let id = q.open_case(&case(0, 60_000)).unwrap();
            drop(q);
            assert!(check_cases(&dir).unwrap().is_empty(), "the case as opened");
            let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
            let mut line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
            line["case"]["deadline_ms"] = json!(T + 600_000);
            if moved_opening {
                line["case"]["opened_ms"] = json!(T + 540_000);
            }
            std::fs::write(dir.join(FILE), format!("{line}\n")).unwrap();
            let problems = check_cases(&dir).unwrap();
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].record, Some(0));
            assert!(
                problems[0].message.contains("its deadline is"),
                "{problems:?}"
            );
            // After the real deadline (and its allowance), before the file's.
            now.store(T + 60_000 + OPENING_ALLOWANCE_MS + 1, Ordering::SeqCst);
            let q = ReviewQueue::open_with_clock(
                &dir,
                Box::new(Shared(Arc::clone(&log))),
                clock.clone(),
            )
            .unwrap();
            let err = q.approve(&id, &desk(), None).unwrap_err();
            assert!(
                matches!(&err, ReviewError::Changed { what, .. } if what.contains("deadline")),
                "{err}"
            );
            assert_eq!(q.get(&id).unwrap().status, Status::Open);
            drop(q);
            drop(log);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// A case whose record (`seq`) was removed in `reviews.log` beside a proof log is named by
    /// `xop log verify` (and refused to reviewers).
    #[test]
    fn a_case_whose_record_was_removed_is_named() {
        let dir = tmp("seq-removed");
        let log = Arc::new(ProofLog::open(&dir, crate::proof::LogConfig::default()).unwrap());
        let q = ReviewQueue::open(&dir, Box::new(Shared(Arc::clone(&log)))).unwrap();
        let now = jiff::Timestamp::now().as_millisecond();
        log_review(&log, &case(0, 600_000), now);
        let id = q.open_case(&case(0, 600_000)).unwrap();
        drop(q);
        assert!(check_cases(&dir).unwrap().is_empty(), "the case as opened");
        let text = std::fs::read_to_string(dir.join(FILE)).unwrap();
        let mut line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        line["case"]["seq"] = serde_json::Value::Null;
        std::fs::write(dir.join(FILE), format!("{line}\n")).unwrap();
        let problems = check_cases(&dir).unwrap();
        let named: Vec<&CaseProblem> = (problems.iter())
            .filter(|p| p.message.contains(&format!("case `{id}`")))
            .collect();
        assert_eq!(named.len(), 1, "{problems:?}");
        assert!(
            named[0].message.contains("names no proof record") && !named[0].settled_on_open,
            "{problems:?}"
        );
        let q = ReviewQueue::open(&dir, Box::new(Shared(Arc::clone(&log)))).unwrap();
        assert!(matches!(
            q.approve(&id, &desk(), None),
            Err(ReviewError::Changed { .. })
        ));
        drop(q);
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A proof log slow to write `review.approval` records, widening the moment in which
    /// another role's approval could complete a case before the earlier one is proven.
    struct Slow(Arc<Events>);

    impl EventLog for Slow {
        fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
            if name == "review.approval" {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            self.0.append_event(name, data)
        }
    }

    /// Two roles of many cases approved at once, by two reviewers in two threads: every case
    /// is approved, and its `review.approved` names the record of the approval before the
    /// last (proven before the queue's lock is released, so the last finds it).
    #[test]
    fn approvals_at_the_same_moment_each_name_their_record() {
        let dir = tmp("roles-race");
        let ev = Arc::new(Events::default());
        let q = Arc::new(ReviewQueue::open(&dir, Box::new(Slow(Arc::clone(&ev)))).unwrap());
        let ids: Vec<String> = (0..40)
            .map(|seq| q.open_case(&two_roles(seq, 600_000)).unwrap())
            .collect();
        let threads: Vec<_> = [desk(), reviewer("lee", &["lead"])]
            .into_iter()
            .map(|who| {
                let (q, ids) = (Arc::clone(&q), ids.clone());
                std::thread::spawn(move || {
                    for id in &ids {
                        q.approve(id, &who, None).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let events = ev.0.lock().unwrap().clone();
        let approved: Vec<&serde_json::Value> = (events.iter())
            .filter(|(name, _)| name == "review.approved")
            .map(|(_, data)| data)
            .collect();
        assert_eq!(approved.len(), ids.len());
        for data in approved {
            let first = &data["approvals"][0];
            let seq = first["record"].as_u64();
            assert!(seq.is_some(), "{data}");
            let (name, proof) = &events[seq.unwrap_or_default() as usize];
            assert_eq!(name, "review.approval");
            assert_eq!(
                (&proof["case"], &proof["by"]),
                (&data["case"], &first["by"])
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A proof log whose record 5 cannot be read and whose record 6 is an `allow` decision,
    /// not a review; every other record is the `review` decision [`case`] describes.
    struct Recording(Arc<Events>);

    impl EventLog for Recording {
        fn append_event(&self, name: &str, data: serde_json::Value) -> Result<u64, String> {
            self.0.append_event(name, data)
        }

        fn size(&self) -> Option<u64> {
            Some(1_000)
        }

        fn record(&self, seq: u64) -> Option<Result<Record, String>> {
            let c = case(seq, 60_000);
            let decision = crate::proof::record::DecisionRecord {
                module: c.module,
                policy: c.policy,
                action: None,
                at: time_text(0),
                evidence: Vec::new(),
                signals: Vec::new(),
                verdict: if seq == 6 {
                    Verdict::Allow
                } else {
                    Verdict::Review
                },
                reasons: c.reasons,
                fired: Vec::new(),
                review: (seq != 6).then_some(c.terms),
                args_sha256: None,
                error: None,
                detail: None,
            };
            Some(match seq {
                5 => Err("proof record 5 cannot be read: damaged (injected by a test)".into()),
                // Written now: the queue's cases here were opened just before.
                _ => Ok(Record {
                    seq,
                    time: time_text(jiff::Timestamp::now().as_millisecond()),
                    body: Body::Decision(decision),
                }),
            })
        }
    }

    /// An answer is checked against the case's record, failing closed: refused when the
    /// record cannot be read, is no review, or the case names none beside a proof log; the
    /// case of its record is decided.
    #[test]
    fn an_answer_needs_a_case_its_record_describes() {
        let dir = tmp("recorded");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Recording(Arc::clone(&ev)))).unwrap();
        let mut no_seq = case(7, 60_000);
        no_seq.seq = None;
        let no_seq = q.open_case(&no_seq).unwrap();
        for (id, what) in [
            (q.open_case(&case(5, 60_000)).unwrap(), "cannot be read"),
            (
                q.open_case(&case(6, 60_000)).unwrap(),
                "neither a `review` decision",
            ),
            (no_seq, "names no proof record"),
        ] {
            let err = q.approve(&id, &desk(), None).unwrap_err();
            assert!(
                matches!(&err, ReviewError::Changed { what: w, .. } if w.contains(what)),
                "{id}: {err}"
            );
            assert!(matches!(
                q.reject(&id, &desk(), None),
                Err(ReviewError::Changed { .. })
            ));
            assert_eq!(q.get(&id).unwrap().status, Status::Open);
        }
        assert!(ev.0.lock().unwrap().is_empty(), "nothing was recorded");
        let c = q.approve("rv-8", &desk(), None);
        assert!(matches!(c, Err(ReviewError::NotFound(_))));
        let id = q.open_case(&case(8, 60_000)).unwrap();
        assert_eq!(
            q.approve(&id, &desk(), None).unwrap().status,
            Status::Approved
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reviewer is shown the reasons and evidence of the case's record, told where the file
    /// differs, and told plainly when the record cannot be read.
    #[test]
    fn a_case_is_shown_with_its_records_reasons() {
        let decision = case(3, 60_000);
        let mut opened = new_case(&decision, "rv-3", 0, None);
        opened.reasons = vec!["forged".into()];
        let record = Record {
            seq: 3,
            time: time_text(0),
            body: Body::Event {
                name: "review.requested".into(),
                data: json!({"module": "m", "policy": "p.fraud", "action": "p.block",
                    "reasons": ["r"], "role": "fraud_desk", "within_ms": 60_000,
                    "fallback": "deny"}),
            },
        };
        let shown = Shown::of(opened.clone(), Some(Ok(record)));
        assert_eq!(shown.case.reasons, vec!["r".to_string()]);
        assert_eq!(shown.waiting, vec!["fraud_desk".to_string()]);
        assert_eq!(
            shown.record_differs.as_deref(),
            Some(r#"its reasons in `reviews.log` are ["forged"]; the record's are ["r"] (shown)"#)
        );
        let unread = Shown::of(opened.clone(), Some(Err("the log has no record 3".into())));
        assert_eq!(unread.case.reasons, vec!["forged".to_string()]);
        assert!(
            unread
                .record_error
                .as_deref()
                .is_some_and(|e| e.starts_with(
                    "the log has no record 3: the reasons and evidence shown are the file's"
                )),
            "{unread:?}"
        );
        // No proof log: nothing to say.
        let plain = Shown::of(opened, None);
        assert_eq!((plain.record_differs, plain.record_error), (None, None));
    }

    #[test]
    fn decided_once_by_the_role_and_durable() {
        let dir = tmp("once");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        let id = q.open_case(&case(7, 60_000)).unwrap();
        assert_eq!(id, "rv-7");
        let other = Reviewer {
            name: "bob".into(),
            roles: vec!["marketing".into()],
        };
        assert!(matches!(
            q.approve(&id, &other, None),
            Err(ReviewError::WrongRole { .. })
        ));
        assert_eq!(q.get(&id).unwrap().status, Status::Open);
        let c = q.approve(&id, &desk(), Some("ok")).unwrap();
        assert_eq!(c.status, Status::Approved);
        assert_eq!(c.proof, Some(0));
        assert!(matches!(
            q.reject(&id, &desk(), None),
            Err(ReviewError::AlreadyDecided { .. })
        ));
        assert_eq!(ev.0.lock().unwrap().len(), 1);
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        let c = q.get(&id).unwrap();
        assert_eq!(
            (c.status, c.decided_by.as_deref()),
            (Status::Approved, Some("ana"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn deadline_fallback_with_a_clock_and_across_reopen() {
        let dir = tmp("clock");
        let ev = Arc::new(Events::default());
        let (now, clock) = test_clock(1_000);
        let q =
            ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&ev)), clock.clone()).unwrap();
        let id = q.open_case(&case(1, 500)).unwrap();
        assert!(q.apply_due().unwrap().is_empty());
        drop(q);
        now.store(2_000, Ordering::SeqCst);
        let q = ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&ev)), clock).unwrap();
        let c = q.get(&id).unwrap();
        assert_eq!(c.status, Status::Fallback);
        assert_eq!(c.decided_by.as_deref(), Some(BY_DEADLINE));
        assert_eq!(c.verdict.as_deref(), Some("deny"));
        assert_eq!(ev.0.lock().unwrap()[0].0, "review.fallback");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reviewer's answer after the deadline, before the timer got to the case (no timer
    /// runs here), closes it with its fallback and is refused: a late approval never allows.
    #[test]
    fn a_late_answer_is_refused_and_the_fallback_applies() {
        let dir = tmp("late");
        let ev = Arc::new(Events::default());
        let (now, clock) = test_clock(1_000);
        let q = ReviewQueue::open_with_clock(&dir, Box::new(Arc::clone(&ev)), clock).unwrap();
        let (late, rejected, on_time) = (
            q.open_case(&case(1, 500)).unwrap(),
            q.open_case(&case(2, 500)).unwrap(),
            q.open_case(&case(3, 5_000)).unwrap(),
        );
        let other = Reviewer {
            name: "bob".into(),
            roles: vec!["marketing".into()],
        };
        now.store(1_500, Ordering::SeqCst);
        // Without the role, nothing changes, late or not.
        assert!(matches!(
            q.approve(&late, &other, None),
            Err(ReviewError::WrongRole { .. })
        ));
        assert_eq!(q.get(&late).unwrap().status, Status::Open);
        let err = q.approve(&late, &desk(), None).unwrap_err();
        assert!(
            err.to_string()
                .contains("deadline has passed: its fallback applies"),
            "{err}"
        );
        assert!(q.reject(&rejected, &desk(), None).is_err());
        for id in [&late, &rejected] {
            let c = q.get(id).unwrap();
            assert_eq!(
                (c.status, c.decided_by.as_deref(), c.verdict.as_deref()),
                (Status::Fallback, Some(BY_DEADLINE), Some("deny")),
                "{id}"
            );
        }
        // Before its deadline a case is decided as asked.
        let c = q.approve(&on_time, &desk(), None).unwrap();
        assert_eq!(c.status, Status::Approved);
        let names: Vec<String> = ev.0.lock().unwrap().iter().map(|e| e.0.clone()).collect();
        assert_eq!(
            names,
            ["review.fallback", "review.fallback", "review.approved"]
        );
        // The timer finds nothing left to do.
        assert!(q.apply_due().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cases_without_a_record_get_distinct_ids() {
        let dir = tmp("noseq");
        let clock: Clock = Arc::new(|| 5_000);
        let q = ReviewQueue::open_with_clock(&dir, Box::new(Arc::new(Events::default())), clock)
            .unwrap();
        let mut c = case(0, 60_000);
        c.seq = None;
        let a = q.open_case(&c).unwrap();
        let b = q.open_case(&c).unwrap();
        assert_ne!(a, b);
        assert_eq!(q.list(Some(Status::Open)).len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_damage_is_refused() {
        let dir = tmp("torn");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        q.open_case(&case(3, 60_000)).unwrap();
        drop(q);
        let path = dir.join(FILE);
        let mut f = File::options().append(true).open(&path).unwrap();
        f.write_all(b"{\"op\":\"decide\",\"id\":\"rv-3\"").unwrap();
        drop(f);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        assert_eq!(q.get("rv-3").unwrap().status, Status::Open);
        drop(q);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("garbage\n{text}")).unwrap();
        assert!(matches!(
            ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))),
            Err(ReviewError::Corrupt(_))
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn halt_applies_fallback_and_refuses_approval() {
        let dir = tmp("halt");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        let open = q.open_case(&case(1, 60_000)).unwrap();
        q.halt("ops", "incident").unwrap();
        let refused = q.approve(&open, &desk(), None);
        assert!(
            matches!(refused, Err(ReviewError::Halted { .. })),
            "{refused:?}"
        );
        // Every case is refused, whatever the loaded modules say of its action (a case opened
        // for a decision made elsewhere may name one they do not review): the message says
        // so, and claims no risk class of the case's own.
        let message = refused.unwrap_err().to_string();
        assert!(
            message.contains("no review case can be approved until it is lifted")
                && message.contains(&format!("case `{open}` included"))
                && !message.contains("guards a high-risk action"),
            "{message}"
        );
        let id = q.open_case(&case(2, 60_000)).unwrap();
        let c = q.get(&id).unwrap();
        assert_eq!(
            (c.status, c.decided_by.as_deref()),
            (Status::Fallback, Some(BY_HALT))
        );
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        assert!(q.halted().is_some());
        assert!(q.lift("ops").unwrap());
        assert!(q.approve(&open, &desk(), None).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_case_id_of_another_decision_is_refused_never_reused() {
        let dir = tmp("reuse");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        let first = case(7, 60_000);
        assert_eq!(q.open_case(&first).unwrap(), "rv-7");
        q.approve("rv-7", &desk(), None).unwrap();
        // The same decision again: the same case.
        assert_eq!(q.open_case(&first).unwrap(), "rv-7");
        // Another decision under the same record number (the log lost records): refused, and
        // the approved case is not handed to it.
        let mut other = case(7, 60_000);
        other.at_ms = 1;
        other.evidence =
            vec![serde_json::from_value(json!({"path": "amount", "value": 900})).unwrap()];
        let err = q.open_case(&other).unwrap_err();
        assert!(err.contains("already exists for another decision"), "{err}");
        let mut policy = case(7, 60_000);
        policy.policy = "p.other".into();
        assert!(q.open_case(&policy).is_err());
        assert_eq!(q.list(None).len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cases_beyond_the_proof_log_are_refused_on_open() {
        let dir = tmp("beyond");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Sized(Arc::clone(&ev), 10))).unwrap();
        q.open_case(&case(7, 60_000)).unwrap();
        drop(q);
        // The log now has 8 records: record 7 is there.
        ReviewQueue::open(&dir, Box::new(Sized(Arc::clone(&ev), 8))).unwrap();
        // It lost records: case rv-7 names one it no longer has.
        let Err(ReviewError::Corrupt(m)) =
            ReviewQueue::open(&dir, Box::new(Sized(Arc::clone(&ev), 5)))
        else {
            panic!("opened over a log without record 7");
        };
        assert!(m.contains("rv-7") && m.contains("record 7"), "{m}");
        // The outcome's proof record counts too: record 9 here.
        for i in 0..9 {
            ev.append_event("other", json!(i)).unwrap();
        }
        let q = ReviewQueue::open(&dir, Box::new(Sized(Arc::clone(&ev), 10))).unwrap();
        assert_eq!(q.approve("rv-7", &desk(), None).unwrap().proof, Some(9));
        drop(q);
        let Err(ReviewError::Corrupt(m)) =
            ReviewQueue::open(&dir, Box::new(Sized(Arc::clone(&ev), 9)))
        else {
            panic!("opened over a log without the outcome's proof record 9");
        };
        assert!(m.contains("record 9"), "{m}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_is_undone_so_the_store_stays_readable() {
        let dir = tmp("torn-write");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        q.open_case(&case(3, 60_000)).unwrap();
        let path = dir.join(FILE);
        let before = std::fs::read(&path).unwrap();
        q.lock().fault = Some(Fault::Torn);
        assert!(matches!(
            q.approve("rv-3", &desk(), None),
            Err(ReviewError::Io(_))
        ));
        // Nothing of the failed line is left, and nothing changed.
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(q.get("rv-3").unwrap().status, Status::Open);
        // The next write lands after the last good line, and the store reopens.
        q.approve("rv-3", &desk(), Some("retried")).unwrap();
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        let c = q.get("rv-3").unwrap();
        assert_eq!(
            (c.status, c.note.as_deref()),
            (Status::Approved, Some("retried"))
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_that_cannot_be_undone_stops_the_store() {
        let dir = tmp("stuck");
        let ev = Arc::new(Events::default());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        q.open_case(&case(4, 60_000)).unwrap();
        q.lock().fault = Some(Fault::TornUnrecoverable);
        assert!(q.approve("rv-4", &desk(), None).is_err());
        // The partial line is still in the file: every later change is refused rather than
        // written after it (where it would be lost, and make the store unreadable).
        let Err(ReviewError::Io(m)) = q.reject("rv-4", &desk(), None) else {
            panic!("a write after an unrecoverable failure was accepted");
        };
        assert!(m.contains("stopped accepting changes"), "{m}");
        assert!(q.open_case(&case(5, 60_000)).is_err());
        assert!(q.halt("ops", "x").is_err());
        assert_eq!(q.get("rv-4").unwrap().status, Status::Open);
        drop(q);
        // Reopening drops the partial (last) line; the case is still open and can be decided.
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&ev))).unwrap();
        assert_eq!(q.get("rv-4").unwrap().status, Status::Open);
        assert_eq!(
            q.reject("rv-4", &desk(), None).unwrap().status,
            Status::Rejected
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `reviews.log` restored from a backup older than the proof log: a case the log's
    /// `review.rejected` decided is open in the file. Opening closes it as the log says (no new
    /// record: the log has it), says so, and an approval is then refused as for any decided
    /// case; reopening changes nothing more.
    #[test]
    fn a_case_the_log_already_decided_is_closed_as_the_log_says() {
        let dir = tmp("decided-in-log");
        let log = factual();
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        decide_two(&log);
        let id = q.open_case(&case(100, 900_000)).unwrap();
        let backup = std::fs::read(dir.join(FILE)).unwrap();
        q.reject(&id, &desk(), Some("no")).unwrap();
        drop(q);
        std::fs::write(dir.join(FILE), &backup).unwrap();
        let events = names(&log.0);
        assert_eq!(events, ["review.rejected"]);

        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        let c = q.get(&id).unwrap();
        assert_eq!(
            (
                c.status,
                c.verdict.as_deref(),
                c.decided_by.as_deref(),
                c.proof
            ),
            (Status::Rejected, Some("deny"), Some("ana"), Some(0))
        );
        assert_eq!(c.decided_at.as_deref(), Some(time_text(1_000).as_str()));
        let notices = q.notices().join("\n");
        assert!(
            notices.contains(&format!("case `{id}` was open in"))
                && notices
                    .contains("record 0 (`review.rejected`, deny, by ana) already decided it")
                && notices.contains("closed as the log says (rejected, deny)"),
            "{notices}"
        );
        let refused = q.approve(&id, &desk(), None);
        assert!(
            matches!(
                &refused,
                Err(ReviewError::AlreadyDecided { status: Status::Rejected, by, .. }) if by == "ana"
            ),
            "{refused:?}"
        );
        // Record 101 had no case: it got its fallback, as before; nothing else was written.
        assert_eq!(names(&log.0), ["review.rejected", "review.fallback"]);
        drop(q);
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        assert!(q.notices().is_empty(), "{:?}", q.notices());
        assert_eq!(names(&log.0), ["review.rejected", "review.fallback"]);
        assert_eq!(q.get(&id).unwrap().status, Status::Rejected);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Two outcome records of one decision are a second decision unless the later one proves
    /// the same outcome again after a crash (`recovered`, same name, case, verdict, decider).
    #[test]
    fn a_second_outcome_of_a_decision_is_found_but_not_one_proven_again() {
        let outcome = |seq, name: &str, by: &str, recovered| {
            let data = json!({"case": "rv-7", "record": 7, "verdict": "deny", "by": by,
                              "recovered": recovered});
            LoggedOutcome::of(seq, name, &data, "t").unwrap()
        };
        let mut outcomes: BTreeMap<u64, Vec<LoggedOutcome>> = BTreeMap::new();
        let note = |outcomes: &mut BTreeMap<u64, Vec<LoggedOutcome>>, (d, o)| {
            outcomes.entry(d).or_default().push(o)
        };
        note(&mut outcomes, outcome(9, "review.rejected", "ana", false));
        note(&mut outcomes, outcome(10, "review.rejected", "ana", true));
        assert_eq!(decided_twice(&outcomes), Vec::new());
        note(&mut outcomes, outcome(12, "review.approved", "bob", false));
        note(&mut outcomes, outcome(11, "review.rejected", "ana", false));
        let twice = decided_twice(&outcomes);
        let seconds: Vec<u64> = twice.iter().map(|t| t.second.seq).collect();
        assert_eq!(seconds, [11, 12]);
        assert!(twice.iter().all(|t| t.first.seq == 9 && t.decision == 7));
        let message = twice[1].message();
        assert!(
            message.contains("review decision record 7 was decided twice")
                && message.contains("`review.rejected` (record 9, deny, by ana)")
                && message.contains("`review.approved` (record 12, deny, by bob)"),
            "{message}"
        );
        // Not an outcome: nothing.
        assert_eq!(
            LoggedOutcome::of(3, "review.approval", &json!({"record": 7}), ""),
            None
        );
    }

    /// A write that fails while opening (a full disk, as the lost case's fallback is written)
    /// says what was being done, that nothing was decided, and what to do; the store is left
    /// as it was, and opens once the cause is gone.
    #[test]
    fn a_failed_write_on_open_says_what_was_being_done_and_what_to_do() {
        let dir = tmp("open-full");
        let log = factual();
        drop(ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap());
        decide_two(&log);
        let before = std::fs::read(dir.join(FILE)).unwrap();
        OPEN_FAULT.set(Some(Fault::Torn));
        let e = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap_err();
        OPEN_FAULT.set(None);
        let m = e.to_string();
        assert!(matches!(e, ReviewError::Io(_)), "{e:?}");
        assert!(
            m.starts_with(&format!(
                "cannot open the review queue `{}`: giving the 2 lost cases `rv-100`, `rv-101` \
                 their review's fallback",
                dir.join(FILE).display()
            )) && m.contains("none was decided")
                && m.contains("a line could not be written (No space left on device")
                && m.contains("it was cut back off, so nothing was changed")
                && m.contains("Nothing was started")
                && m.contains("free space on the disk of the data folder")
                && m.contains("and start again"),
            "{m}"
        );
        assert_eq!(std::fs::read(dir.join(FILE)).unwrap(), before);
        assert!(names(&log.0).is_empty());
        let q = ReviewQueue::open(&dir, Box::new(Arc::clone(&log))).unwrap();
        assert_eq!(q.get("rv-100").unwrap().status, Status::Fallback);
        drop(q);

        // A folder where the file should be: opening says which step failed, on what.
        let other = tmp("open-dir");
        std::fs::create_dir_all(other.join(FILE)).unwrap();
        let m = ReviewQueue::open(&other, Box::new(Arc::new(Events::default())))
            .unwrap_err()
            .to_string();
        assert!(
            m.starts_with(&format!(
                "cannot open the review queue `{}`: creating or opening the file: `{}`: ",
                other.join(FILE).display(),
                other.join(FILE).display()
            )) && m.contains("Is a directory")
                && m.contains("fix the cause"),
            "{m}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::remove_dir_all(&other);
    }

    /// A new queue's file, its folder and the folders made for it are synced on open, before
    /// any line can be acknowledged: the folder once its file is in it, and each new folder's
    /// parent.
    #[test]
    fn a_new_queue_file_and_its_folders_are_synced() {
        let top = tmp("synced");
        let dir = top.join("a").join("data");
        std::fs::create_dir_all(&top).unwrap();
        crate::proof::store::synced::take();
        let q = ReviewQueue::open(&dir, Box::new(Arc::new(Events::default()))).unwrap();
        let synced = crate::proof::store::synced::take();
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap();
        let folders: Vec<&PathBuf> = synced.iter().map(|(p, _)| p).collect();
        assert_eq!(
            folders,
            [&canon(&top), &canon(&top.join("a")), &canon(&dir)],
            "{synced:?}"
        );
        assert!(synced[2].1.contains(&FILE.to_string()), "{synced:?}");
        drop(q);
        // An existing one: nothing is created, nothing synced.
        drop(ReviewQueue::open(&dir, Box::new(Arc::new(Events::default()))).unwrap());
        assert!(crate::proof::store::synced::take().is_empty());
        let _ = std::fs::remove_dir_all(&top);
    }
}
