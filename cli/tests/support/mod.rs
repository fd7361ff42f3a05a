//! What every test of the `xop` binary needs: a temporary folder, ways to run `xop` (also with
//! a deadline) and to read a process's output, a named pipe, and review records to write.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use xop_runtime::proof::ProofLog;

/// A temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty folder whose name says which test made it.
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("xop-test-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Writes `text` to `rel` inside the folder (making its parents); returns its path.
    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// The text of `rel` inside the folder.
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.0.join(rel)).unwrap()
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Standard output then standard error, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A path as `&str`, for a command line.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the `xop` binary with `args`: no colour, and no `XOP_TOKEN` from the environment (a
/// test that needs one sets it).
pub fn xop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("XOP_TOKEN")
        .output()
        .unwrap()
}

/// [`xop`] run in `dir` (paths in `args` relative to it).
pub fn xop_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("XOP_TOKEN")
        .output()
        .unwrap()
}

/// [`xop_in`], its input empty, killed after `secs` seconds: a test of a command that could
/// wait forever (on a named pipe, or as a server started by mistake) fails, naming the
/// command, rather than hanging the test run.
pub fn xop_within(dir: &Path, args: &[&str], secs: u64) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("XOP_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`xop {}` still runs after {secs} s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Makes a named pipe at `path`; `false` (the caller skips its test, as it says) where
/// `mkfifo` is missing or fails.
pub fn mkfifo(path: &Path) -> bool {
    let made = Command::new("mkfifo").arg(path).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mkfifo");
        return false;
    }
    true
}

/// `examples/acme`, whose `fraud` policy sends a payment to review after a SIM swap.
pub fn acme() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme")
}

/// An input of acme's `fraud` policy in `tmp`: a payment to a customer whose SIM was swapped
/// an hour before, `review (recent-sim-swap)`.
pub fn fraud_input(tmp: &TempDir) -> PathBuf {
    tmp.write(
        "fraud.json",
        r#"{"now":"2026-11-25T10:00:00Z","to":{"id":"cust-42","segment":"vip",
        "in_service_interaction":false,"messages_7d":0,"risk_score":1,"tz":"Europe/Paris",
        "consents":[],"contacts":[],"msisdn":"+33612345678"},
        "tx":{"id":"tx1","amount":"250.00 EUR","merchant":"ACME"},
        "signals":{"sim_swap":{"swapped":true,"latest_swap":"2026-11-25T09:00:00Z"}}}"#,
    )
}

/// `xop.toml` in `tmp` listing ana, of role fraud_desk, with the token `ana-token`.
pub fn ana_config(tmp: &TempDir) -> PathBuf {
    let o = xop(&["token", "hash", "ana-token"]);
    assert!(o.status.success(), "{}", text(&o));
    let hash = String::from_utf8(o.stdout).unwrap().trim().to_string();
    tmp.write(
        "xop.toml",
        format!(
            "[[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{hash}\"\n"
        ),
    )
}

/// The arguments of `xop eval ACME --policy fraud --input INPUT`, with `--log DATA` when
/// `data` is given (`acme` is [`acme`]'s folder).
pub fn fraud_eval<'a>(acme: &'a Path, input: &'a Path, data: Option<&'a Path>) -> Vec<&'a str> {
    let mut args = vec!["eval", s(acme), "--policy", "fraud", "--input", s(input)];
    if let Some(data) = data {
        args.extend(["--log", s(data)]);
    }
    args
}

/// `xop review VERB CASE --data DATA --config CONFIG --token ana-token`: ana (of
/// [`ana_config`]) answers the case.
pub fn review_as_ana(verb: &str, case: &str, data: &Path, config: &Path) -> Output {
    xop(&[
        "review",
        verb,
        case,
        "--data",
        s(data),
        "--config",
        s(config),
        "--token",
        "ana-token",
    ])
}

/// Appends to `log` a request for review of `pay.freeze` (role fraud_desk) and then, of its
/// case `rv-SEQ`, each of `outcomes` (the event's name, its verdict) by ana: the records as the
/// runtime writes them. Returns the request's record number, SEQ.
pub fn append_review_outcomes(log: &ProofLog, outcomes: &[(&str, &str)]) -> u64 {
    let seq = log
        .append_event(
            "review.requested",
            json!({"module": "m", "policy": "pay.freeze", "action": "pay.freeze",
                   "reasons": ["large"], "role": "fraud_desk", "within_ms": 600_000,
                   "fallback": "deny"}),
        )
        .unwrap();
    for (name, verdict) in outcomes {
        log.append_event(
            name,
            json!({"case": format!("rv-{seq}"), "record": seq, "policy": "pay.freeze",
                   "action": "pay.freeze", "role": "fraud_desk", "verdict": verdict,
                   "by": "ana"}),
        )
        .unwrap();
    }
    seq
}

/// Runs `xop log verify` and `xop log replay` on `data`, whose proof log holds the records of
/// [`append_review_outcomes`] with a rejection and then an approval: the test fails unless
/// each fails (status 1) naming the decision decided twice, by both records. Returns the
/// output of verify, then of replay, for what else a test checks in them.
pub fn verify_and_replay_name_decided_twice(data: &Path) -> (String, String) {
    let named = "review decision record 0 was decided twice: `review.rejected` (record 1, deny, \
                 by ana) and then `review.approved` (record 2, allow, by ana)";
    // Replay says the same of the same records as verify.
    let [verified, replayed] =
        [("verify", "bad: record 2: "), ("replay", "record 2: ")].map(|(command, at)| {
            let o = xop(&["log", command, s(data)]);
            let out = text(&o);
            assert_eq!(o.status.code(), Some(1), "`xop log {command}`: {out}");
            assert!(out.contains(&format!("{at}{named}")), "{out}");
            out
        });
    (verified, replayed)
}
