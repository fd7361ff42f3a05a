//! `xop log verify` names a decision the proof log holds two review outcomes of also when no
//! review queue is beside the log (QA: with `DIR/reviews.log` removed, verify passed a log
//! holding a rejection and then an approval of one decision, which replay refused): two
//! outcomes of one decision is a fault of the log alone.

mod support;

use support::{TempDir, s, text, xop};

use serde_json::json;
use xop_runtime::engine::Runtime;
use xop_runtime::proof::{LogConfig, ProofLog};

#[test]
fn two_outcomes_of_one_decision_fail_verify_without_a_queue() {
    let tmp = TempDir::new("decided-twice-no-queue");
    let data = tmp.0.join("data");
    {
        // The runtime's own writer, no review queue: the records as the fail-open path wrote
        // them (a request for review, its rejection, then its approval).
        let rt = Runtime::with_log(ProofLog::open(&data, LogConfig::default()).unwrap());
        let log = rt.log().unwrap();
        let seq = log
            .append_event(
                "review.requested",
                json!({"module": "m", "policy": "pay.freeze", "action": "pay.freeze",
                       "reasons": ["large"], "role": "fraud_desk", "within_ms": 600_000,
                       "fallback": "deny"}),
            )
            .unwrap();
        for (name, verdict) in [("review.rejected", "deny"), ("review.approved", "allow")] {
            log.append_event(
                name,
                json!({"case": format!("rv-{seq}"), "record": seq, "policy": "pay.freeze",
                       "action": "pay.freeze", "role": "fraud_desk", "verdict": verdict,
                       "by": "ana"}),
            )
            .unwrap();
        }
        rt.close().unwrap();
    }
    // Also a queue a reviewer had, then deleted: none is read.
    let _ = std::fs::remove_file(data.join("reviews.log"));
    assert!(!data.join("reviews.log").exists());

    let named = "review decision record 0 was decided twice: `review.rejected` (record 1, deny, \
                 by ana) and then `review.approved` (record 2, allow, by ana)";
    let o = xop(&["log", "verify", s(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("bad: record 2: {named}")), "{out}");
    assert!(
        out.contains("the log does not verify: 1 problem, the first at record 2"),
        "{out}"
    );
    // Replay says the same of the same records.
    let o = xop(&["log", "replay", s(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains(&format!("record 2: {named}")), "{out}");
}

/// Without a queue, a log whose decisions have one outcome each verifies.
#[test]
fn one_outcome_of_each_decision_verifies_without_a_queue() {
    let tmp = TempDir::new("decided-once-no-queue");
    let data = tmp.0.join("data");
    {
        let rt = Runtime::with_log(ProofLog::open(&data, LogConfig::default()).unwrap());
        let log = rt.log().unwrap();
        let seq = log
            .append_event(
                "review.requested",
                json!({"module": "m", "policy": "pay.freeze", "action": "pay.freeze",
                       "reasons": ["large"], "role": "fraud_desk", "within_ms": 600_000,
                       "fallback": "deny"}),
            )
            .unwrap();
        log.append_event(
            "review.rejected",
            json!({"case": format!("rv-{seq}"), "record": seq, "policy": "pay.freeze",
                   "action": "pay.freeze", "role": "fraud_desk", "verdict": "deny",
                   "by": "ana"}),
        )
        .unwrap();
        rt.close().unwrap();
    }
    assert!(!data.join("reviews.log").exists());
    let o = xop(&["log", "verify", s(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("ok: 2 records"), "{out}");
}
