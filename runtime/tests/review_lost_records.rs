//! The review queue over a proof log that lost records (restored from an older copy): it
//! refuses to start rather than let new decisions reuse the numbers of cases it remembers.

mod support;

use xop_runtime::review::ReviewError;

use support::{ana, close_runtime as close, open_review as open, review_request};

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
    let case = review_request(log, 60_000);
    let id = xop_runtime::engine::ReviewSink::open_case(&queue, &case).unwrap();
    queue.approve(&id, &ana(), None).unwrap();
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
