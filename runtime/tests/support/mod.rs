//! Helpers shared by test binaries.

// Each test binary including `support` uses only some of it.
#![allow(dead_code)]

pub mod json_decisions;
pub mod json_inputs;

use std::path::Path;
use std::sync::Arc;

use xop_runtime::engine::{ReviewCase, Runtime};
use xop_runtime::ir::Verdict;
use xop_runtime::proof::record::ReviewTerms;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::review::{ReviewError, ReviewQueue, Reviewer, RuntimeLog};

/// A runtime over the proof log in `dir`, and the review queue of `dir` opened over it (as
/// `xop serve` opens them).
pub fn open_review(dir: &Path) -> (Arc<Runtime>, Result<ReviewQueue, ReviewError>) {
    let rt = Arc::new(Runtime::with_log(
        ProofLog::open(dir, LogConfig::default()).unwrap(),
    ));
    let queue = ReviewQueue::open(dir, Box::new(RuntimeLog(Arc::downgrade(&rt))));
    (rt, queue)
}

/// Closes the runtime of [`open_review`] (its queue dropped first, or the test fails).
pub fn close_runtime(rt: Arc<Runtime>) {
    let Ok(rt) = Arc::try_unwrap(rt) else {
        panic!("the runtime is still shared");
    };
    rt.close().unwrap();
}

/// Proves in `log` a request for review of `pay.freeze` (as `POST /v1/reviews` does: reason
/// `large`, role fraud_desk, within `within_ms`, else deny) and returns the case it is for.
pub fn review_request(log: &ProofLog, within_ms: i64) -> ReviewCase {
    let seq = log
        .append_event(
            "review.requested",
            serde_json::json!({"module": "m", "policy": "pay.freeze", "action": "pay.freeze",
                "reasons": ["large"], "role": "fraud_desk", "within_ms": within_ms,
                "fallback": "deny"}),
        )
        .unwrap();
    ReviewCase {
        seq: Some(seq),
        module: "m".into(),
        policy: "pay.freeze".into(),
        action: "pay.freeze".into(),
        reasons: vec!["large".into()],
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

/// The reviewer ana, of role fraud_desk.
pub fn ana() -> Reviewer {
    Reviewer {
        name: "ana".into(),
        roles: vec!["fraud_desk".into()],
    }
}
