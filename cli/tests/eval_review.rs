//! `xop eval --log DIR` with a `review` verdict opens the decision's durable case in the data
//! folder's review queue, as `xop serve` does (QA: it opened none, and the next opening of the
//! queue took the decision for a crash and closed it with its fallback). The policy:
//! `examples/acme`'s `fraud`, which sends a payment to review after a SIM swap.

mod support;

use support::{TempDir, acme, ana_config, fraud_eval, fraud_input, review_as_ana, s, text, xop};

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use serde_json::Value;
use xop_runtime::engine::Runtime;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_runtime::review::{ReviewQueue, RuntimeLog};

/// `xop eval examples/acme --policy fraud --input INPUT --log DATA` with `extra` arguments.
fn eval(input: &Path, data: &Path, extra: &[&str]) -> Output {
    let acme = acme();
    let mut args = fraud_eval(&acme, input, Some(data));
    args.extend_from_slice(extra);
    xop(&args)
}

/// `xop review show CASE --data DATA --format json`.
fn show_json(case: &str, data: &Path) -> Output {
    xop(&[
        "review",
        "show",
        case,
        "--data",
        s(data),
        "--format",
        "json",
    ])
}

#[test]
fn a_review_verdict_opens_its_case_which_review_lists_shows_and_approves() {
    let tmp = TempDir::new("eval-case");
    let input = fraud_input(&tmp);
    let data = tmp.0.join("data");
    let o = eval(&input, &data, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("review (recent-sim-swap)\n"), "{out}");
    assert!(out.contains("  proof: record 0 in "), "{out}");
    assert!(
        out.contains("  case: rv-0, open until ")
            && out.contains(", for role fraud_desk, else deny (`xop review show rv-0 --data "),
        "{out}"
    );
    assert!(!out.contains("warning"), "{out}");

    // The case is in the queue, open, as `xop serve` would have opened it.
    let o = xop(&["review", "list", "--data", s(&data), "--status", "open"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.starts_with("rv-0  acme.fraud.block_payment  role fraud_desk  else deny")
            && out.contains("open until "),
        "{out}"
    );
    let o = show_json("rv-0", &data);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["seq"], 0, "{shown}");
    assert_eq!(shown["status"], "open", "{shown}");
    assert_eq!(shown["reasons"], serde_json::json!(["recent-sim-swap"]));
    assert!(shown.get("record_differs").is_none(), "{shown}");

    // Approved once: no crash warning, no fallback by recovery.
    let config = ana_config(&tmp);
    let o = review_as_ana("approve", "rv-0", &data, &config);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out, "rv-0 approved by ana -> allow (proof record 1)\n");
    let o = xop(&["log", "verify", s(&data)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn the_json_output_carries_the_case_and_its_deadline_as_serve_answers() {
    let tmp = TempDir::new("eval-case-json");
    let input = fraud_input(&tmp);
    let data = tmp.0.join("data");
    let o = eval(&input, &data, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "review", "{v}");
    assert_eq!(v["seq"], 0, "{v}");
    assert_eq!(v["case"], "rv-0", "{v}");
    assert_eq!(v["case_error"], Value::Null, "{v}");
    assert_eq!(v["halted"], false, "{v}");
    // The case's deadline (opened now plus 15 minutes), as `xop review` shows it.
    let o = show_json("rv-0", &data);
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["review"]["deadline"], shown["deadline"], "{v}\n{shown}");
    assert_eq!(v["review"]["role"], "fraud_desk", "{v}");

    // Without --log, nothing is durable: no case, and the human output says so.
    let acme = acme();
    let o = xop(&fraud_eval(&acme, &input, None));
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("  no case opened (no --log: "), "{out}");
    // A verdict other than review says nothing of cases.
    let allowed = tmp.write(
        "allowed.json",
        std::fs::read_to_string(&input).unwrap().replace(
            r#""swapped":true,"latest_swap":"2026-11-25T09:00:00Z""#,
            r#""swapped":false,"latest_swap":"2026-10-01T09:00:00Z""#,
        ),
    );
    let o = xop(&fraud_eval(&acme, &allowed, None));
    let out = text(&o);
    assert!(!out.starts_with("review") && !out.contains("case"), "{out}");
}

#[test]
fn a_folder_another_process_holds_is_refused_before_anything_is_decided() {
    let tmp = TempDir::new("eval-case-lock");
    let input = fraud_input(&tmp);
    let data = tmp.0.join("data");
    // This test process holds the log, as a running `xop serve` would.
    let held = ProofLog::open(&data, LogConfig::default()).unwrap();
    let o = eval(&input, &data, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "another process holds `{}`",
            data.join("LOCK").display()
        )) && out.contains("nothing was decided or recorded")
            && out.contains("if `xop serve` runs on this folder, ask it (POST /v1/decide/POLICY"),
        "{out}"
    );
    assert!(!out.contains("review (recent-sim-swap)"), "{out}");
    assert_eq!(held.size(), 0, "nothing recorded");
    held.close().unwrap();
    assert!(!data.join("reviews.log").exists(), "no queue opened");
    // Once it is free, the decision and its case.
    let o = eval(&input, &data, &[]);
    assert!(
        text(&o).contains("  case: rv-0, open until "),
        "{}",
        text(&o)
    );
}

#[test]
fn under_the_halt_switch_the_fallback_applies_and_the_case_is_closed_with_it() {
    let tmp = TempDir::new("eval-case-halt");
    let input = fraud_input(&tmp);
    let data = tmp.0.join("data");
    {
        // An operator turned the halt switch on (`POST /v1/halt` while `xop serve` ran).
        let rt = Arc::new(Runtime::with_log(
            ProofLog::open(&data, LogConfig::default()).unwrap(),
        ));
        let queue = ReviewQueue::open(&data, Box::new(RuntimeLog(Arc::downgrade(&rt)))).unwrap();
        queue.halt("ops", "incident 42").unwrap();
        queue.shutdown();
        drop(queue);
        Arc::try_unwrap(rt).ok().unwrap().close().unwrap();
    }
    let o = eval(&input, &data, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "deny", "{v}");
    assert_eq!(v["halted"], true, "{v}");
    assert_eq!(v["case"], "rv-1", "{v}");
    let o = show_json("rv-1", &data);
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["status"], "fallback", "{shown}");
    assert_eq!(shown["decided_by"], "halt", "{shown}");
    let o = eval(&input, &data, &[]);
    let out = text(&o);
    assert!(
        out.starts_with("deny (recent-sim-swap)\n")
            && out.contains(
                "  halted: the halt switch is on, so this high-risk policy's fallback applies: \
                 deny (case rv-3, closed with it)"
            ),
        "{out}"
    );
    let o = xop(&["log", "verify", s(&data)]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
