//! Replay: re-deciding a logged decision from its record, against the module it names, to
//! confirm the same verdict, reasons and fired rules.
//!
//! The input is rebuilt from the evidence ([`super::evidence::rebuild`]): the values the rules
//! read at their paths, the signals as read, the decision time; everything the rules do not
//! read gets a default (by the read set's construction it cannot change the outcome). Its sets
//! are re-decided as rebuilt, with the length and the order of elements logged, never sorted
//! or deduplicated again by those defaults (`BindOptions::sets_as_given`).
//!
//! A refused input (`xop:bad-input`) was never bound, so it cannot be re-decided; its record
//! must then be exactly what the runtime writes for one ([`refusal_differences`]), or the
//! replay fails: a record that says `xop:bad-input` is otherwise not checked by anything, and a
//! key holder could turn it into an `allow` that verifies.

use std::path::Path;

use super::evidence::rebuild;
use super::record::{DecisionRecord, check_module_hash};
use super::{LogError, MAX_KEPT_MODULE, module_path, read_regular};
use crate::bind::BindOptions;
use crate::interp::{self, BAD_INPUT, Decision, FixedSignals, Sets};
use crate::ir::{Program, Verdict};
use crate::module::{self, LoadedModule, hex};

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The same verdict, reasons, fired rules and error.
    Same,
    /// Something differs: what.
    Different(Vec<String>),
    /// Not replayable, and why (a refused input, whose values were never bound and whose
    /// record has the refusal's form).
    Skipped(String),
}

/// Loads the module `hash` (hex) kept in the log folder `dir`, checking that the file is the
/// module the record names.
///
/// Only a regular file (or a symbolic link to one) of at most [`MAX_KEPT_MODULE`] bytes is
/// read: anything else there (a named pipe, a device, a folder) is refused before it is
/// opened, and a larger file unread.
///
/// `hash` comes from a record (or a review case), which a forger may have rewritten: anything
/// but a SHA-256 in lowercase hex ([`check_module_hash`]) is refused before a path is built
/// from it, so that `../../other` never names a file outside `DIR/modules/`.
pub fn load_module(dir: &Path, hash: &str) -> Result<LoadedModule, LogError> {
    check_module_hash(hash).map_err(|why| {
        LogError::Config(format!(
            "the module the record names cannot be read: {why}; run `xop log verify {}`",
            dir.display()
        ))
    })?;
    let path = module_path(dir, hash);
    // Not `std::fs::read`: a named pipe put there made replay and `xop explain` wait forever,
    // and a link to `/dev/zero` read until memory ran out.
    let bytes = read_regular(&path, MAX_KEPT_MODULE).map_err(|why| {
        LogError::Config(format!(
            "module {hash} is not kept in the log folder: `{}` {why}; copy the module file \
             there under that name",
            path.display()
        ))
    })?;
    let loaded = module::load(&bytes, None).map_err(|e| LogError::Corrupt {
        path: path.display().to_string(),
        offset: 0,
        message: e.to_string(),
    })?;
    if hex(&loaded.content_hash) != hash {
        return Err(LogError::Corrupt {
            path: path.display().to_string(),
            offset: 0,
            message: format!(
                "the file's SHA-256 is {}, not {hash}: it is not the module the record names",
                hex(&loaded.content_hash)
            ),
        });
    }
    Ok(loaded)
}

/// How a record naming [`BAD_INPUT`] differs from what the runtime writes for refused input:
/// `deny`, that one reason, no review, the refusal's `error` (field path and error kind), and,
/// for input refused before it was bound (no evidence, no signals), no rule fired. Empty when
/// it has that form.
pub fn refusal_differences(record: &DecisionRecord) -> Vec<String> {
    let mut diffs = Vec::new();
    if record.verdict != Verdict::Deny {
        diffs.push(format!(
            "verdict {} logged, where refused input is always deny",
            record.verdict.keyword()
        ));
    }
    if record.reasons != [BAD_INPUT] {
        diffs.push(format!(
            "reasons [{}] logged, where refused input has only {BAD_INPUT}",
            record.reasons.join(", ")
        ));
    }
    if !record.fired.is_empty() && unbound(record) {
        diffs.push(format!(
            "fired [{}] logged, where no rule runs on refused input",
            record.fired.join(", ")
        ));
    }
    if record.review.is_some() {
        diffs.push("a review logged, where refused input has none".into());
    }
    if record.error.is_none() {
        diffs.push("no error logged, where refused input has the refusal's".into());
    }
    diffs
}

/// Whether the record's input was never bound: no value read, no signal.
fn unbound(record: &DecisionRecord) -> bool {
    record.evidence.is_empty() && record.signals.is_empty()
}

/// Re-decides `record` with `program` and compares. A record naming [`BAD_INPUT`] must have
/// the refusal's form ([`refusal_differences`], else [`Replayed::Different`]); input refused
/// before it was bound is then [`Replayed::Skipped`] (there is nothing to re-decide from),
/// input refused after it (its values are in the evidence) is re-decided like any other.
pub fn replay(program: &Program, record: &DecisionRecord) -> Replayed {
    if record.reasons.iter().any(|r| r == BAD_INPUT) {
        let diffs = refusal_differences(record);
        if !diffs.is_empty() {
            return Replayed::Different(diffs);
        }
        if unbound(record) {
            // Nothing to re-decide, but the policies it names must be the module's, as for
            // any other decision: a rewritten refusal may not name a policy the module lacks.
            if let Err(diff) = guards(program, record) {
                return Replayed::Different(vec![diff]);
            }
            return Replayed::Skipped(
                "the input was refused (xop:bad-input): only the refusal is proven, and the \
                 record has its form"
                    .into(),
            );
        }
    }
    let guards = match guards(program, record) {
        Ok(g) => g,
        Err(diff) => return Replayed::Different(vec![diff]),
    };
    let Some(&index) = guards.first() else {
        return Replayed::Different(vec!["the record names no policy".into()]);
    };
    let policy = &program.policies[index];
    let rebuilt = match rebuild(
        program,
        policy,
        &record.evidence,
        &record.signals,
        &record.at,
    ) {
        Ok(r) => r,
        Err(e) => return Replayed::Different(vec![format!("the evidence does not rebuild: {e}")]),
    };
    // The sets as rebuilt, each element at its logged index, not made canonical again by
    // the defaults in their unread parts (which would drop or reorder elements). Of any size:
    // the input was held to its limit when it was decided, and the rebuilt one may write
    // fewer values (its unread parts left out).
    let options = BindOptions {
        sets_as_given: true,
        any_size: true,
        ..BindOptions::default()
    };
    let bound = match crate::bind::bind_value_with(program, index, &rebuilt.input, options) {
        Ok(b) => b,
        Err(e) => {
            return Replayed::Different(vec![format!("the rebuilt input does not bind: {e}")]);
        }
    };
    let Some(now) = bound.now_ms else {
        return Replayed::Different(vec!["the record has no decision time".into()]);
    };
    let signals = FixedSignals(bound.signals);
    // The sets as rebuilt, not made canonical again (`BindOptions::sets_as_given`).
    let d = match &record.action {
        None => interp::decide_in(program, index, &bound.args, now, &signals, Sets::AsGiven),
        Some(action) => {
            interp::decide_action_in(program, action, &bound.args, now, &signals, Sets::AsGiven)
        }
    };
    let diffs = compare(record, &d);
    if diffs.is_empty() {
        Replayed::Same
    } else if !rebuilt.unknown.is_empty() {
        Replayed::Skipped(format!(
            "the rules read values kept only as keyed hashes or read with several values ({}), \
             so the replay cannot rebuild them; it gave: {}",
            rebuilt.unknown.join(", "),
            diffs.join("; ")
        ))
    } else {
        Replayed::Different(diffs)
    }
}

/// The policies the record was decided by: one, or every policy guarding its action; what
/// differs when the module does not have them.
fn guards(program: &Program, record: &DecisionRecord) -> Result<Vec<usize>, String> {
    match &record.action {
        None => match program.policy(&record.policy) {
            Some((index, _)) => Ok(vec![index]),
            None => Err(format!("the module has no policy `{}`", record.policy)),
        },
        Some(action) => {
            let guards: Vec<usize> = (0..program.policies.len())
                .filter(|&i| &program.policies[i].action == action)
                .collect();
            let names: Vec<&str> = guards
                .iter()
                .map(|&i| program.policies[i].qualified.as_str())
                .collect();
            if names.join("+") != record.policy {
                return Err(format!(
                    "the module's policies guarding `{action}` are `{}`, the record's `{}`",
                    names.join("+"),
                    record.policy
                ));
            }
            Ok(guards)
        }
    }
}

/// The events that follow from a decision of a given verdict only, and the field of their data
/// that names the decision's record. None of them can name a refusal (`xop:bad-input`, always
/// `deny`): a review case is opened only for a `review` verdict (`review.requested` is left
/// out: its `record` is the requester's, perhaps of another log), the halt's fallback applies
/// only to a decision that is not `deny`, and nothing is performed but after an `allow`.
const FOLLOWING_EVENTS: [(&str, &str); 6] = [
    ("review.approval", "record"),
    ("review.approved", "record"),
    ("review.rejected", "record"),
    ("review.fallback", "record"),
    ("halt.fallback", "record"),
    ("action.performed", "decision"),
];

/// A cross-check between records, fed every record of a log in any order: an event that
/// follows only from a decision that is not a refusal (`review.approved`, `action.performed`,
/// …) but names a refusal's record is a forgery (a holder of `log.key` rewrote the decision as
/// a well-formed refusal, which replay cannot re-decide) or damage; and a review decision with
/// two outcome records that are not one outcome proven twice was decided twice
/// ([`crate::review::decided_twice`]).
#[derive(Debug, Default)]
pub struct CrossCheck {
    refusals: std::collections::BTreeSet<u64>,
    /// (the event's record, its name, the decision record it names)
    events: Vec<(u64, &'static str, u64)>,
    /// The review outcome records, by the decision record they name.
    outcomes: std::collections::BTreeMap<u64, Vec<crate::review::LoggedOutcome>>,
}

/// An event that cannot follow from the record it names: one naming a refusal's record, or a
/// review decision's second outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The event's record.
    pub event: u64,
    /// The decision record it names.
    pub decision: u64,
    /// What is wrong, naming both.
    pub message: String,
}

impl CrossCheck {
    /// Notes decision record `seq`.
    pub fn decision(&mut self, seq: u64, record: &DecisionRecord) {
        if record.reasons.iter().any(|r| r == BAD_INPUT) {
            self.refusals.insert(seq);
        }
    }

    /// Notes event record `seq`.
    pub fn event(&mut self, seq: u64, name: &str, data: &serde_json::Value) {
        if let Some(&(name, field)) = FOLLOWING_EVENTS.iter().find(|(n, _)| *n == name)
            && let Some(named) = data.get(field).and_then(serde_json::Value::as_u64)
        {
            self.events.push((seq, name, named));
        }
        // The record's time plays no part in the check.
        if let Some((decision, outcome)) = crate::review::LoggedOutcome::of(seq, name, data, "") {
            self.outcomes.entry(decision).or_default().push(outcome);
        }
    }

    /// The events that name a refusal, and the outcome records that decide a review decision
    /// a second time (each naming the first), in the events' order.
    pub fn mismatches(&self) -> Vec<Mismatch> {
        let mut found: Vec<Mismatch> = self
            .events
            .iter()
            .filter(|(_, _, named)| self.refusals.contains(named))
            .map(|&(event, name, decision)| {
                let why = match name {
                    "action.performed" => "nothing is performed on a refusal",
                    "halt.fallback" => "the halt's fallback never applies to a deny",
                    _ => "a review case is opened only for a `review` verdict",
                };
                Mismatch {
                    event,
                    decision,
                    message: format!(
                        "`{name}` names record {decision}, which is a refusal (xop:bad-input): \
                         {why}; one of the two records was rewritten (by a holder of log.key) \
                         or damaged"
                    ),
                }
            })
            .collect();
        found.extend(
            crate::review::decided_twice(&self.outcomes)
                .into_iter()
                .map(|twice| Mismatch {
                    event: twice.second.seq,
                    decision: twice.decision,
                    message: twice.message(),
                }),
        );
        found.sort_by_key(|m| m.event);
        found
    }
}

fn compare(record: &DecisionRecord, d: &Decision) -> Vec<String> {
    let mut diffs = Vec::new();
    if record.verdict != d.verdict {
        diffs.push(format!(
            "verdict {} now, {} logged",
            d.verdict.keyword(),
            record.verdict.keyword()
        ));
    }
    if record.reasons != d.reasons {
        diffs.push(format!(
            "reasons [{}] now, [{}] logged",
            d.reasons.join(", "),
            record.reasons.join(", ")
        ));
    }
    if record.fired != d.fired {
        diffs.push(format!(
            "fired [{}] now, [{}] logged",
            d.fired.join(", "),
            record.fired.join(", ")
        ));
    }
    if record.error != d.error {
        diffs.push(format!(
            "error {:?} now, {:?} logged",
            d.error.as_deref().unwrap_or("none"),
            record.error.as_deref().unwrap_or("none")
        ));
    }
    diffs
}
