//! The review queue over a proof log that lost records (restored from an older copy): it
//! refuses to start rather than let new decisions reuse the numbers of cases it remembers.

use std::sync::Arc;

use xop_runtime::engine::{ReviewCase, Runtime};
use xop_runtime::ir::Verdict;
use xop_runtime::proof::record::ReviewTerms;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::review::{ReviewError, ReviewQueue, Reviewer, RuntimeLog};

fn open(dir: &std::path::Path) -> (Arc<Runtime>, Result<ReviewQueue, ReviewError>) {
    let rt = Arc::new(Runtime::with_log(
        ProofLog::open(dir, LogConfig::default()).unwrap(),
    ));
    let queue = ReviewQueue::open(dir, Box::new(RuntimeLog(Arc::downgrade(&rt))));
    (rt, queue)
}

fn close(rt: Arc<Runtime>) {
    let Ok(rt) = Arc::try_unwrap(rt) else {
        panic!("the runtime is still shared");
    };
    rt.close().unwrap();
}

#[test]
fn a_queue_whose_cases_the_log_lost_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, queue) = open(dir.path());
    let queue = queue.unwrap();
    let log = rt.log().unwrap();
    for i in 0..3 {
        log.append_event("test.filler", serde_json::json!(i))
            .unwrap();
    }
    // The log as a backup taken now would hold it: 3 records.
    let backup = std::fs::read(dir.path().join("log.xpl")).unwrap();
    // The request a case is opened for (as `POST /v1/reviews` proves it): the queue checks an
    // answer against it.
    let seq = log
        .append_event(
            "review.requested",
            serde_json::json!({"module": "m", "policy": "pay.freeze", "action": "pay.freeze",
                "reasons": ["large"], "role": "fraud_desk", "within_ms": 60_000,
                "fallback": "deny"}),
        )
        .unwrap();
    let case = ReviewCase {
        seq: Some(seq),
        module: "m".into(),
        policy: "pay.freeze".into(),
        action: "pay.freeze".into(),
        reasons: vec!["large".into()],
        terms: ReviewTerms {
            role: "fraud_desk".into(),
            within_ms: 60_000,
            fallback: Verdict::Deny,
            deadline: String::new(),
            also: Vec::new(),
        },
        evidence: Vec::new(),
        at_ms: 0,
    };
    let id = xop_runtime::engine::ReviewSink::open_case(&queue, &case).unwrap();
    let ana = Reviewer {
        name: "ana".into(),
        roles: vec!["fraud_desk".into()],
    };
    queue.approve(&id, &ana, None).unwrap();
    queue.shutdown();
    drop(queue);
    close(rt);

    // The whole log is there: the queue opens.
    let (rt, queue) = open(dir.path());
    queue.unwrap().shutdown();
    close(rt);

    // The log restored from the older copy: record 3 (the approved case's decision) is gone,
    // and the next decision would get its number.
    std::fs::write(dir.path().join("log.xpl"), &backup).unwrap();
    let (rt, queue) = open(dir.path());
    let Err(ReviewError::Corrupt(m)) = queue else {
        panic!("the queue started over a log without its cases' records");
    };
    assert!(
        m.contains(&format!("`{id}`")) && m.contains("only 3 records"),
        "{m}"
    );
    close(rt);
}
