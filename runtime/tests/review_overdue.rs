//! Many overdue review cases on open (after a crash, or a long stop): every one gets its
//! fallback, proven in a real proof log, and the work is grouped (one sync per batch, not per
//! case); each is handed to the queue's owner once it sets its hook. `XOP_OVERDUE_CASES=20000
//! cargo test --release -p xop-runtime --test review_overdue -- --nocapture` times it on a
//! generated store (docs/review.md gives the figures).

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use xop_runtime::engine::Runtime;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::review::{BY_DEADLINE, Case, ReviewQueue, RuntimeLog, Status};

/// Writes a store of `n` open cases whose deadlines passed long ago, each naming a decision
/// record of the log (filler events stand in for the decisions).
fn generate(dir: &std::path::Path, n: u64) {
    let log = ProofLog::open(dir, LogConfig::default()).unwrap();
    let fillers: Vec<_> = (0..n)
        .map(|i| xop_runtime::proof::record::Entry {
            time: "2026-01-01T00:00:00Z".into(),
            body: xop_runtime::proof::record::Body::Event {
                name: "test.decision".into(),
                data: json!(i),
            },
        })
        .collect();
    log.append_many(&fillers).unwrap();
    log.close().unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create(dir.join("reviews.log")).unwrap());
    for seq in 0..n {
        let line = json!({"op": "open", "case": {
            "id": format!("rv-{seq}"), "seq": seq, "module": "m", "policy": "p.fraud",
            "action": "p.block", "reasons": ["r"], "role": "fraud_desk", "within_ms": 1000,
            "fallback": "deny", "deadline_ms": 1_000, "deadline": "1970-01-01T00:00:01Z",
            "evidence": [], "at_ms": 0, "opened_ms": 0, "status": "open", "verdict": null,
            "decided_by": null, "decided_at": null, "note": null, "proof": null}});
        writeln!(out, "{line}").unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn many_overdue_cases_get_their_fallback_on_open() {
    let n: u64 = std::env::var("XOP_OVERDUE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), n);
    let rt = Arc::new(Runtime::with_log(
        ProofLog::open(dir.path(), LogConfig::default()).unwrap(),
    ));
    let start = Instant::now();
    let queue = ReviewQueue::open(dir.path(), Box::new(RuntimeLog(Arc::downgrade(&rt)))).unwrap();
    let took = start.elapsed();
    eprintln!("{n} overdue cases: open took {took:?}");
    let cases = queue.list(None);
    assert_eq!(cases.len() as u64, n);
    let mut proofs: Vec<u64> = cases
        .iter()
        .map(|c| {
            assert_eq!(c.status, Status::Fallback, "{}", c.id);
            c.proof.expect("proven")
        })
        .collect();
    proofs.sort_unstable();
    proofs.dedup();
    assert_eq!(proofs.len() as u64, n, "one outcome record per case");
    assert_eq!(rt.log().unwrap().size(), 2 * n);
    // The queue's owner, once it sets its hook, is told of every one of them, once, proven
    // (as `xop serve` is, to carry out an `allow` fallback).
    let told = Arc::new(std::sync::Mutex::new(Vec::new()));
    let into = Arc::clone(&told);
    queue.set_on_fallback(Box::new(move |c: &Case| {
        into.lock().unwrap().push(c.clone());
    }));
    let told = told.lock().unwrap().clone();
    assert_eq!(told.len() as u64, n, "each case told once");
    let proven: std::collections::HashMap<&str, Option<u64>> =
        cases.iter().map(|c| (c.id.as_str(), c.proof)).collect();
    let mut ids: Vec<&str> = told
        .iter()
        .map(|c| {
            assert_eq!(c.decided_by.as_deref(), Some(BY_DEADLINE), "{}", c.id);
            assert_eq!(proven.get(c.id.as_str()), Some(&c.proof), "{}", c.id);
            c.id.as_str()
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, n, "each case told once");
}
