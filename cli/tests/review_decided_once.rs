//! A review case is decided once from the command line, also after `reviews.log` is restored
//! from a backup older than the proof log (QA: `xop review approve` approved a case already
//! rejected, and `xop log verify` and `xop log replay` passed the log holding both outcomes).

mod support;

use support::{
    TempDir, acme, ana_config, append_review_outcomes, fraud_eval, fraud_input, review_as_ana, s,
    text, verify_and_replay_name_decided_twice, xop,
};

use xop_runtime::engine::Runtime;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::review::{ReviewQueue, RuntimeLog};

#[test]
fn a_rejected_case_restored_open_is_not_approved() {
    let tmp = TempDir::new("decided-once");
    let (input, config) = (fraud_input(&tmp), ana_config(&tmp));
    let data = tmp.0.join("data");
    let acme = acme();
    let o = xop(&fraud_eval(&acme, &input, Some(&data)));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let backup = std::fs::read(data.join("reviews.log")).unwrap();
    let o = review_as_ana("reject", "rv-0", &data, &config);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(text(&o), "rv-0 rejected by ana -> deny (proof record 1)\n");
    std::fs::write(data.join("reviews.log"), &backup).unwrap();

    // Verify names the case open in the queue that the log decided.
    let o = xop(&["log", "verify", s(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "bad: record 1: `review.rejected` (by ana) decided review decision record 0, but its \
             case `rv-0` is open in `reviews.log`"
        ),
        "{out}"
    );

    let o = review_as_ana("approve", "rv-0", &data, &config);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("warning: case `rv-0` was open in ")
            && out.contains(
                "but the proof log's record 1 (`review.rejected`, deny, by ana) already decided it"
            )
            && out.contains("error: case `rv-0` was already decided (rejected, by ana)"),
        "{out}"
    );
    let o = xop(&["log", "verify", s(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("ok: 2 records"), "{out}");
    let o = xop(&["log", "replay", s(&data)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A log in which one decision has two outcomes (written as the fail-open path wrote them:
/// a rejection, then an approval) does not verify and does not replay: both name both records.
#[test]
fn two_outcomes_of_one_decision_fail_verify_and_replay() {
    let tmp = TempDir::new("decided-twice");
    let data = tmp.0.join("data");
    {
        let rt = std::sync::Arc::new(Runtime::with_log(
            ProofLog::open(&data, LogConfig::default()).unwrap(),
        ));
        let queue =
            ReviewQueue::open(&data, Box::new(RuntimeLog(std::sync::Arc::downgrade(&rt)))).unwrap();
        append_review_outcomes(
            rt.log().unwrap(),
            &[("review.rejected", "deny"), ("review.approved", "allow")],
        );
        queue.shutdown();
        drop(queue);
        let Ok(rt) = std::sync::Arc::try_unwrap(rt) else {
            panic!("the runtime is still shared");
        };
        rt.close().unwrap();
    }
    let (_, out) = verify_and_replay_name_decided_twice(&data);
    assert!(
        out.contains("1 events cannot follow from the records they name"),
        "{out}"
    );
}
