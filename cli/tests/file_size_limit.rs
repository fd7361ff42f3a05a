//! A file size limit (`ulimit -f`) makes a write fail, not kill xop (QA: SIGXFSZ ended `xop
//! eval --log` and `xop serve` with status 153 and no word): the write fails with EFBIG, which
//! the proof log handles as any failed write.

#![cfg(unix)]

mod support;

use support::{TempDir, acme, fraud_eval, fraud_input, s, text, xop};

use std::process::{Command, Stdio};

#[test]
fn a_decision_past_the_file_size_limit_fails_as_a_failed_write() {
    let tmp = TempDir::new("ulimit-f");
    let input = fraud_input(&tmp);
    let data = tmp.0.join("data");
    let acme = acme();
    let eval = fraud_eval(&acme, &input, Some(&data));
    let o = xop(&eval);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = std::fs::read(data.join("log.xpl")).unwrap();
    // `ulimit -f 2`: at most 1 or 2 KiB per file (512- or 1024-byte blocks, by shell); the log
    // is longer than 1 KiB, and a second record takes it past 2 KiB. SIGXFSZ is left as the
    // shell has it (its default action kills).
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -f 2 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_xop"))
        .args(&eval)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "not killed by SIGXFSZ: {out}");
    assert!(
        out.contains(
            "error: the decision could not be proven: the proof log stopped accepting records: "
        ) && out.contains("log.xpl`: file too large"),
        "{out}"
    );
    assert!(
        !out.contains("review (recent-sim-swap)"),
        "no verdict answered: {out}"
    );
    // The earlier record is intact: the log verifies, and holds it as it was.
    let o = xop(&["log", "verify", s(&data)]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.starts_with("ok: 1 records"), "{out}");
    let after = std::fs::read(data.join("log.xpl")).unwrap();
    assert_eq!(after.get(..before.len()), Some(&before[..]));
    // Without the limit the next decision is recorded after it.
    let o = xop(&eval);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("  proof: record 1 in "), "{}", text(&o));
}
