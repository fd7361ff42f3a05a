//! `xop log verify` names a decision the proof log holds two review outcomes of also when no
//! review queue is beside the log (QA: with `DIR/reviews.log` removed, verify passed a log
//! holding a rejection and then an approval of one decision, which replay refused): two
//! outcomes of one decision is a fault of the log alone.

mod support;

use std::path::Path;

use support::{
    TempDir, append_review_outcomes, s, text, verify_and_replay_name_decided_twice, xop,
};

use xop_runtime::engine::Runtime;
use xop_runtime::proof::{LogConfig, ProofLog};

/// A proof log in `data` written by the runtime's own writer, no review queue beside it: a
/// request for review and then `outcomes` of it ([`append_review_outcomes`]).
fn write_without_a_queue(data: &Path, outcomes: &[(&str, &str)]) {
    let rt = Runtime::with_log(ProofLog::open(data, LogConfig::default()).unwrap());
    append_review_outcomes(rt.log().unwrap(), outcomes);
    rt.close().unwrap();
}

#[test]
fn two_outcomes_of_one_decision_fail_verify_without_a_queue() {
    let tmp = TempDir::new("decided-twice-no-queue");
    let data = tmp.0.join("data");
    // The records as the fail-open path wrote them (a request for review, its rejection, then
    // its approval).
    write_without_a_queue(
        &data,
        &[("review.rejected", "deny"), ("review.approved", "allow")],
    );
    // Also a queue a reviewer had, then deleted: none is read.
    let _ = std::fs::remove_file(data.join("reviews.log"));
    assert!(!data.join("reviews.log").exists());

    let (out, _) = verify_and_replay_name_decided_twice(&data);
    assert!(
        out.contains("the log does not verify: 1 problem, the first at record 2"),
        "{out}"
    );
}

/// Without a queue, a log whose decisions have one outcome each verifies.
#[test]
fn one_outcome_of_each_decision_verifies_without_a_queue() {
    let tmp = TempDir::new("decided-once-no-queue");
    let data = tmp.0.join("data");
    write_without_a_queue(&data, &[("review.rejected", "deny")]);
    assert!(!data.join("reviews.log").exists());
    let o = xop(&["log", "verify", s(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("ok: 2 records"), "{out}");
}
