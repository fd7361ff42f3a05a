//! A review decision is decided once, also when `reviews.log` is restored from a backup older
//! than the proof log (QA: the case reopened, was approved after its rejection, and `xop log
//! verify` and `replay` passed): opening the queue closes the case as the log says, and a log
//! holding two outcomes of one decision is named by the queue's check (`xop log verify`) and
//! by replay's cross-check.

mod support;

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use xop_runtime::engine::{ReviewCase, ReviewSink, Runtime};
use xop_runtime::proof::record::Body;
use xop_runtime::proof::replay::CrossCheck;
use xop_runtime::proof::verify::LogReader;
use xop_runtime::review::{FILE, ReviewError, ReviewQueue, Status, check_cases};

use support::{ana, close_runtime, open_review, review_request};

fn open(dir: &Path) -> (Arc<Runtime>, ReviewQueue) {
    let (rt, queue) = open_review(dir);
    (rt, queue.unwrap())
}

fn close(rt: Arc<Runtime>, queue: ReviewQueue) {
    queue.shutdown();
    drop(queue);
    close_runtime(rt);
}

/// Proves a request for review (as `POST /v1/reviews` does) and returns the case it is for.
fn request(rt: &Runtime) -> ReviewCase {
    review_request(rt.log().unwrap(), 600_000)
}

/// Replay's cross-check over every record of the log in `dir`: the records it names.
fn cross_check(dir: &Path) -> Vec<(u64, u64, String)> {
    let mut reader = LogReader::open(dir).unwrap();
    let mut cross = CrossCheck::default();
    for seq in 0..reader.size() {
        let record = reader.record(seq).unwrap();
        match record.body {
            Body::Event { name, data } => cross.event(seq, &name, &data),
            Body::Decision(d) => cross.decision(seq, &d),
            _ => {}
        }
    }
    (cross.mismatches().into_iter())
        .map(|m| (m.event, m.decision, m.message))
        .collect()
}

/// The QA scenario: open, reject, restore the queue file from before the rejection, reopen:
/// the case is rejected as the log says, an approval is refused as for a decided case, and
/// nothing is written to the log.
#[test]
fn a_restored_queue_does_not_let_a_rejected_case_be_approved() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, queue) = open(dir.path());
    let case = request(&rt);
    let id = queue.open_case(&case).unwrap();
    let backup = std::fs::read(dir.path().join(FILE)).unwrap();
    let rejected = queue.reject(&id, &ana(), None).unwrap();
    let outcome = rejected.proof.unwrap();
    close(rt, queue);
    std::fs::write(dir.path().join(FILE), &backup).unwrap();

    // Before the queue is opened again, `xop log verify`'s check names the open case.
    let problems = check_cases(dir.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].record, Some(outcome));
    assert!(problems[0].settled_on_open, "{problems:?}");
    assert!(
        problems[0].message.contains(&format!(
            "`review.rejected` (by ana) decided review decision record {}, but its case `{id}` \
             is open",
            case.seq.unwrap()
        )),
        "{problems:?}"
    );

    let (rt, queue) = open(dir.path());
    let size = rt.log().unwrap().size();
    let c = queue.get(&id).unwrap();
    assert_eq!(
        (c.status, c.verdict.as_deref(), c.proof),
        (Status::Rejected, Some("deny"), Some(outcome))
    );
    assert!(
        (queue.notices().iter()).any(|n| n.contains("already decided it")),
        "{:?}",
        queue.notices()
    );
    let refused = queue.approve(&id, &ana(), None);
    assert!(
        matches!(
            refused,
            Err(ReviewError::AlreadyDecided {
                status: Status::Rejected,
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(rt.log().unwrap().size(), size, "nothing more is proven");
    close(rt, queue);
    assert_eq!(check_cases(dir.path()).unwrap(), Vec::new());
    assert_eq!(cross_check(dir.path()), Vec::new());
}

/// A log with two outcomes of one decision (as the fail-open path wrote them: a rejection,
/// then an approval) is named by both checks, each naming both records; one outcome proven
/// again after a crash (`recovered`, the same outcome) is not.
#[test]
fn two_outcomes_of_one_decision_are_named_by_verify_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (rt, queue) = open(dir.path());
    let log = rt.log().unwrap();
    let twice = request(&rt).seq.unwrap();
    let once = request(&rt).seq.unwrap();
    let outcome = |name: &str, record: u64, verdict: &str, recovered: bool| {
        log.append_event(
            name,
            json!({"case": format!("rv-{record}"), "record": record, "policy": "pay.freeze",
                   "action": "pay.freeze", "role": "fraud_desk", "verdict": verdict,
                   "by": "ana", "recovered": recovered}),
        )
        .unwrap()
    };
    let rejected = outcome("review.rejected", twice, "deny", false);
    let fallback = outcome("review.fallback", once, "deny", false);
    let _again = outcome("review.fallback", once, "deny", true);
    let approved = outcome("review.approved", twice, "allow", false);
    close(rt, queue);

    let problems = check_cases(dir.path()).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].record, Some(approved));
    assert!(!problems[0].settled_on_open);
    let named = format!(
        "review decision record {twice} was decided twice: `review.rejected` (record \
         {rejected}, deny, by ana) and then `review.approved` (record {approved}, allow, by ana)"
    );
    assert!(problems[0].message.contains(&named), "{problems:?}");

    let mismatches = cross_check(dir.path());
    assert_eq!(mismatches.len(), 1, "{mismatches:?}");
    assert_eq!((mismatches[0].0, mismatches[0].1), (approved, twice));
    assert!(mismatches[0].2.contains(&named), "{mismatches:?}");
    assert!(!mismatches[0].2.contains(&format!("record {fallback}")));
}
