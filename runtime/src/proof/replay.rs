//! Replay: re-deciding a logged decision from its record, against the module it names, to
//! confirm the same verdict, reasons and fired rules.
//!
//! The input is rebuilt from the evidence ([`super::evidence::rebuild`]): the values the rules
//! read at their paths, the signals as read, the decision time; everything the rules do not
//! read gets a default (by the read set's construction it cannot change the outcome).

use std::path::Path;

use super::evidence::rebuild;
use super::record::DecisionRecord;
use super::{LogError, module_path};
use crate::interp::{self, BAD_INPUT, Decision, FixedSignals};
use crate::ir::Program;
use crate::module::{self, LoadedModule, hex};

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The same verdict, reasons, fired rules and error.
    Same,
    /// Something differs: what.
    Different(Vec<String>),
    /// Not replayable, and why (a refused input, whose values were never bound).
    Skipped(String),
}

/// Loads the module `hash` (hex) kept in the log folder `dir`, checking that the file is the
/// module the record names.
pub fn load_module(dir: &Path, hash: &str) -> Result<LoadedModule, LogError> {
    let path = module_path(dir, hash);
    let bytes = std::fs::read(&path).map_err(|e| {
        LogError::Config(format!(
            "module {hash} is not kept in the log folder (`{}`: {e}); copy the module file there \
         under that name",
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

/// Re-decides `record` with `program` and compares.
pub fn replay(program: &Program, record: &DecisionRecord) -> Replayed {
    if record.reasons.iter().any(|r| r == BAD_INPUT) {
        return Replayed::Skipped(
            "the input was refused (xop:bad-input): only the refusal is proven".into(),
        );
    }
    // The policies the record was decided by: one, or every policy guarding its action.
    let guards: Vec<usize> = match &record.action {
        None => match program.policy(&record.policy) {
            Some((index, _)) => vec![index],
            None => {
                return Replayed::Different(vec![format!(
                    "the module has no policy `{}`",
                    record.policy
                )]);
            }
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
                return Replayed::Different(vec![format!(
                    "the module's policies guarding `{action}` are `{}`, the record's `{}`",
                    names.join("+"),
                    record.policy
                )]);
            }
            guards
        }
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
    let bound = match crate::bind::bind_value(program, index, &rebuilt.input) {
        Ok(b) => b,
        Err(e) => {
            return Replayed::Different(vec![format!("the rebuilt input does not bind: {e}")]);
        }
    };
    let Some(now) = bound.now_ms else {
        return Replayed::Different(vec!["the record has no decision time".into()]);
    };
    let signals = FixedSignals(bound.signals);
    let d = match &record.action {
        None => interp::decide(program, index, &bound.args, now, &signals),
        Some(action) => interp::decide_action(program, action, &bound.args, now, &signals),
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
