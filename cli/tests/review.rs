//! `xop serve`, `xop review` and `xop token` as processes: reviews decided from the command
//! line (authenticated, by role, once; overdue cases get their fallback when the queue is
//! opened); a graceful stop (SIGTERM); `kill -9` under load, then every acknowledged decision
//! is in the log and `xop log verify` passes. The policies: `server/tests/pay/pay.xop`.

mod support;

use support::{TempDir, s, text, xop};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use xop_runtime::proof::record::{Body, Entry};
use xop_runtime::proof::verify::LogReader;
use xop_runtime::proof::{LogConfig, ProofLog};

/// The test module, built by `xop build`, and xop.toml (hashes by `xop token hash`).
fn setup(tmp: &TempDir) -> (PathBuf, PathBuf) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/pay");
    let module = tmp.0.join("pay.xopm");
    let o = xop(&["build", s(&src), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    let hash = |t: &str| {
        let o = xop(&["token", "hash", t]);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };
    let config = tmp.0.join("xop.toml");
    std::fs::write(
        &config,
        format!(
            "[[reviewers]]\nname = \"ana\"\nroles = [\"fraud_desk\"]\ntoken_sha256 = \"{}\"\n\
             [[reviewers]]\nname = \"bob\"\nroles = [\"marketing\"]\ntoken_sha256 = \"{}\"\n",
            hash("ana-token"),
            hash("bob-token")
        ),
    )
    .unwrap();
    (module, config)
}

/// A running `xop serve`, killed and reaped when dropped, so that a failing assertion (a
/// panic) does not leave the server behind.
struct Served(Child);

impl std::ops::Deref for Served {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Both fail harmlessly when a test has already stopped and reaped the server.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `xop serve` on a free port; returns the process and its address.
fn serve(module: &Path, data: &Path, config: &Path) -> (Served, SocketAddr) {
    let mut child = Served(
        Command::new(env!("CARGO_BIN_EXE_xop"))
            .args([
                "serve",
                "--module",
                s(module),
                "--data",
                s(data),
                "--config",
                s(config),
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "2",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (child, addr)
}

/// POST /v1/decide/{policy}: the status and body, or `None` when the connection failed.
fn decide(addr: SocketAddr, policy: &str, input: &Value) -> Option<(u16, Value)> {
    let body = input.to_string();
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "POST /v1/decide/{policy} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let t = String::from_utf8_lossy(&out).into_owned();
    let status = t.get(9..12)?.parse().ok()?;
    let (_, b) = t.split_once("\r\n\r\n")?;
    Some((status, serde_json::from_str(b).ok()?))
}

fn pay(amount: i64) -> Value {
    json!({"to": {"id": "c-1", "vip": false}, "amount": amount})
}

fn sigterm(child: &mut Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "xop serve exited with {status} after SIGTERM"
    );
}

fn log_verifies(data: &Path) {
    let o = xop(&["log", "verify", s(data)]);
    assert!(o.status.success(), "{}", text(&o));
}

fn record(data: &Path, seq: u64) -> String {
    let mut r = LogReader::open(data).unwrap();
    String::from_utf8(r.record_bytes(seq).unwrap()).unwrap()
}

#[test]
fn reviews_from_the_command_line() {
    let tmp = TempDir::new("cli");
    let (module, config) = setup(&tmp);
    let data = tmp.0.join("data");
    let (mut child, addr) = serve(&module, &data, &config);
    let (st, o) = decide(addr, "freeze", &pay(500)).unwrap();
    assert_eq!(st, 200, "{o}");
    let id = o["case"].as_str().unwrap().to_string();
    let (_, o) = decide(addr, "block", &pay(500)).unwrap();
    let overdue = o["case"].as_str().unwrap().to_string();
    let (_, o) = decide(addr, "freeze", &pay(501)).unwrap();
    let local = o["case"].as_str().unwrap().to_string();
    // The server holds the log: deciding a case on the folder is refused, naming the server.
    let o = xop(&[
        "review",
        "approve",
        &id,
        "--data",
        s(&data),
        "--config",
        s(&config),
        "--token",
        "ana-token",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let url = format!("http://{addr}");
    assert!(
        text(&o).contains(&format!("--server {url}")) && text(&o).contains("nothing was decided"),
        "{}",
        text(&o)
    );
    // Through the running server: its xop.toml authenticates, by role, once.
    let remote = |action: &str, token: Option<&str>, case: &str| {
        let mut args = vec!["review", action, case, "--server", url.as_str()];
        if let Some(t) = token {
            args.extend(["--token", t]);
        }
        args.extend(["--note", "called the customer"]);
        xop(&args)
    };
    let o = remote("approve", None, &id);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("XOP_TOKEN"), "{}", text(&o));
    let o = remote("approve", Some("guess"), &id);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("401 bad_token"), "{}", text(&o));
    let o = remote("reject", Some("bob-token"), &id);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("fraud_desk"), "{}", text(&o));
    let o = remote("approve", Some("ana-token"), "rv-999");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("404"), "{}", text(&o));
    let o = remote("approve", Some("ana-token"), &id);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("approved by ana -> allow"),
        "{}",
        text(&o)
    );
    let o = remote("reject", Some("ana-token"), &id);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already decided"), "{}", text(&o));
    // --server with --data is a usage error; a server that is not there is an I/O error.
    let o = xop(&[
        "review",
        "approve",
        &id,
        "--server",
        &url,
        "--data",
        s(&data),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = xop(&[
        "review",
        "approve",
        &id,
        "--server",
        "https://x",
        "--token",
        "t",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("plain HTTP"), "{}", text(&o));
    // Listing works while it runs (the case approved through the server is no longer open).
    let o = xop(&["review", "list", "--data", s(&data), "--status", "open"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&local), "{}", text(&o));
    assert!(!text(&o).contains(&format!("{id} ")), "{}", text(&o));
    sigterm(&mut child);
    log_verifies(&data);
    // A stopped server leaves no address behind.
    assert!(!data.join("serve.url").exists());
    let id = local;

    let approve = |token: Option<&str>, case: &str| {
        let mut args = vec![
            "review",
            "approve",
            case,
            "--data",
            s(&data),
            "--config",
            s(&config),
        ];
        if let Some(t) = token {
            args.extend(["--token", t]);
        }
        xop(&args)
    };
    let o = approve(None, &id);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("XOP_TOKEN"), "{}", text(&o));
    let o = approve(Some("guess"), &id);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = approve(Some("bob-token"), &id);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("fraud_desk"), "{}", text(&o));
    let o = xop(&[
        "review",
        "show",
        &id,
        "--data",
        s(&data),
        "--format",
        "json",
    ]);
    let case: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(case["status"], "open");

    let o = approve(Some("ana-token"), &id);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("approved by ana -> allow"),
        "{}",
        text(&o)
    );
    let o = approve(Some("ana-token"), &id);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already decided"), "{}", text(&o));

    // `block` gave 1 s: by now the fallback applies as soon as the queue is opened.
    std::thread::sleep(Duration::from_millis(1100));
    let o = xop(&[
        "review",
        "reject",
        &overdue,
        "--data",
        s(&data),
        "--config",
        s(&config),
        "--token",
        "ana-token",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("deadline"), "{}", text(&o));

    let o = xop(&["review", "list", "--data", s(&data), "--format", "json"]);
    let cases: Value = serde_json::from_slice(&o.stdout).unwrap();
    let by: Vec<(&str, &str)> = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["status"].as_str().unwrap(),
                c["decided_by"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        by,
        [
            ("approved", "ana"),
            ("fallback", "deadline"),
            ("approved", "ana")
        ]
    );
    // Both approvals, the one through the server (with its note) and the local one, are proven.
    let proof = cases["cases"][0]["proof"].as_u64().unwrap();
    assert!(record(&data, proof).contains("review.approved"));
    assert_eq!(cases["cases"][0]["note"], "called the customer");
    let proof = cases["cases"][2]["proof"].as_u64().unwrap();
    assert!(record(&data, proof).contains("review.approved"));
    log_verifies(&data);

    let o = xop(&["token", "new"]);
    let t = text(&o);
    let token = t.lines().next().unwrap().split_whitespace().nth(1).unwrap();
    let hash = t.lines().nth(1).unwrap().split_whitespace().nth(1).unwrap();
    assert_eq!(text(&xop(&["token", "hash", token])).trim(), hash);
}

/// Many cases fell due while no server ran: `xop review approve` closes them with their
/// fallback before it records its answer, and says so on stderr with their number, then
/// `done`, as `xop serve` does; the answer to an overdue case is refused.
#[test]
fn review_on_the_folder_says_how_far_closing_overdue_cases_got() {
    let tmp = TempDir::new("cli-overdue");
    let (_, config) = setup(&tmp);
    let data = tmp.0.join("data");
    let n = 1_100u64;
    // Decision records for the cases to name (events stand in for them), then the store.
    let log = ProofLog::open(&data, LogConfig::default()).unwrap();
    let fillers: Vec<_> = (0..n)
        .map(|i| Entry {
            time: "2026-01-01T00:00:00Z".into(),
            body: Body::Event {
                name: "test.decision".into(),
                data: json!(i),
            },
        })
        .collect();
    log.append_many(&fillers).unwrap();
    log.close().unwrap();
    let store: String = (0..n)
        .map(|seq| {
            json!({"op": "open", "case": {
                "id": format!("rv-{seq}"), "seq": seq, "module": "pay", "policy": "pay.fraud",
                "action": "pay.block", "reasons": ["r"], "role": "fraud_desk",
                "within_ms": 1000, "fallback": "deny", "deadline_ms": 1_000,
                "deadline": "1970-01-01T00:00:01Z", "evidence": [], "at_ms": 0,
                "opened_ms": 0, "status": "open", "verdict": null, "decided_by": null,
                "decided_at": null, "note": null, "proof": null}})
            .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(data.join("reviews.log"), store).unwrap();
    let o = xop(&[
        "review",
        "approve",
        "rv-7",
        "--data",
        s(&data),
        "--config",
        s(&config),
        "--token",
        "ana-token",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "xop review: applying the fallback of {n} review cases (their deadline passed \
             while no server was running) before recording this answer…"
        )) && err.contains(&format!("applying the fallback of {n} review cases: done")),
        "{}",
        text(&o)
    );
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    let o = xop(&["review", "list", "--data", s(&data), "--status", "open"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("rv-"), "{}", text(&o));
    log_verifies(&data);
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_decision() {
    let tmp = TempDir::new("kill");
    let (module, config) = setup(&tmp);
    let data = tmp.0.join("data");
    let (mut child, addr) = serve(&module, &data, &config);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let stop = Arc::clone(&stop);
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                let mut n = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    // Alternate allow and deny, so verdicts can be checked against the log.
                    let amount = if (n + i) % 2 == 0 { 5 } else { -5 };
                    match decide(addr, "receipt", &pay(amount)) {
                        Some((200, o)) => acked.lock().unwrap().push((
                            o["seq"].as_u64().unwrap(),
                            o["verdict"].as_str().unwrap().to_string(),
                        )),
                        Some((st, o)) => panic!("{st}: {o}"),
                        // The server is gone: nothing more is acknowledged.
                        None => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 20,
        "only {} decisions under load",
        acked.len()
    );

    // Reopening recovers the log (an interrupted batch was never acknowledged).
    let (mut child, addr) = serve(&module, &data, &config);
    let (st, o) = decide(addr, "receipt", &pay(5)).unwrap();
    assert_eq!(st, 200);
    let after = o["seq"].as_u64().unwrap();
    sigterm(&mut child);
    log_verifies(&data);
    let mut reader = LogReader::open(&data).unwrap();
    for (seq, verdict) in &acked {
        assert!(
            *seq < after,
            "record {seq} acknowledged but reused after the restart"
        );
        let bytes = String::from_utf8(reader.record_bytes(*seq).unwrap()).unwrap();
        assert!(
            bytes.contains("\"policy\":\"t.pay.receipt\"")
                && bytes.contains(&format!("\"verdict\":\"{verdict}\"")),
            "record {seq} is not the acknowledged {verdict}: {bytes}"
        );
    }
}

/// A QoD boost over an hour is reviewed by role `noc`.
const BOOST: &str = r#"module t.boost

use std.camara.create_qos_session

/// Network operations.
role noc

policy boost for create_qos_session(qos_profile: q, duration: d) {
  deny "profile-not-offered" unless q in ["QOS_M", "QOS_L"]
  review "long-boost" by role noc within 15m else deny when d > 1h
  allow "boost"
}
"#;

/// The demo's CAMARA stand-in (`examples/standins/camara.py`), killed when dropped; `None`
/// when python3 cannot be run.
struct StandIn {
    child: Child,
    url: String,
    requests: PathBuf,
}

impl StandIn {
    fn start(dir: &Path) -> Option<StandIn> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/standins/camara.py");
        let (port, requests) = (dir.join("port"), dir.join("requests.jsonl"));
        let child = match Command::new("python3")
            .arg("-B")
            .arg(&script)
            .args(["--port-file", s(&port), "--requests", s(&requests)])
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                eprintln!("skipped: cannot run python3: {e}");
                return None;
            }
        };
        let mut standin = StandIn {
            child,
            url: String::new(),
            requests,
        };
        for _ in 0..1000 {
            if let Ok(p) = std::fs::read_to_string(&port)
                && !p.trim().is_empty()
            {
                standin.url = format!("http://127.0.0.1:{}", p.trim());
                return Some(standin);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the stand-in wrote no port file within 20 s");
    }

    /// `METHOD PATH` of every request it received.
    fn requests(&self) -> Vec<String> {
        (std::fs::read_to_string(&self.requests)
            .unwrap_or_default()
            .lines())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {}",
                v["method"].as_str().unwrap(),
                v["path"].as_str().unwrap()
            )
        })
        .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Approving a reviewed QoD boost on the data folder carries it out through the connectors of
/// `[camara]` in the xop.toml given, proven as `action.performed`; without `[camara]` it is
/// approved but not carried out, and the command and an `action.not_performed` record say so.
#[test]
fn an_approved_boost_is_carried_out_from_the_command_line() {
    let tmp = TempDir::new("cli-boost");
    let Some(standin) = StandIn::start(&tmp.0) else {
        return;
    };
    std::fs::write(tmp.0.join("boost.xop"), BOOST).unwrap();
    let module = tmp.0.join("boost.xopm");
    let o = xop(&["build", s(&tmp.0.join("boost.xop")), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xop(&["token", "hash", "nora-token"]);
    let hash = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let reviewers =
        format!("[[reviewers]]\nname = \"nora\"\nroles = [\"noc\"]\ntoken_sha256 = \"{hash}\"\n");
    let url = &standin.url;
    let with = tmp.0.join("xop.toml");
    std::fs::write(
        &with,
        format!(
            "{reviewers}[camara]\napi_root = \"{url}\"\ntoken_url = \"{url}/oauth2/token\"\n\
             client_id = \"xop-demo\"\nclient_secret = \"demo-secret\"\n"
        ),
    )
    .unwrap();
    let without = tmp.0.join("reviewers.toml");
    std::fs::write(&without, &reviewers).unwrap();
    let data = tmp.0.join("data");
    let (mut child, addr) = serve(&module, &data, &with);
    let boost = json!({"phone_number": "+33612345678", "application_server": "198.51.100.0/24",
                       "qos_profile": "QOS_L", "duration": "90m"});
    for n in 0..2 {
        let (st, o) = decide(addr, "boost", &boost).unwrap();
        assert_eq!(
            (st, o["case"].as_str()),
            (200, Some(format!("rv-{n}").as_str())),
            "{o}"
        );
    }
    sigterm(&mut child);
    assert!(standin.requests().is_empty(), "{:?}", standin.requests());
    // What the case keeps to carry the action out with.
    let o = xop(&["review", "show", "rv-0", "--data", s(&data)]);
    assert!(
        text(&o).contains(
            "  arguments {\"application_server\":\"198.51.100.0/24\",\"duration\":5400000,\
             \"phone_number\":\"+33612345678\",\"qos_profile\":\"QOS_L\"}"
        ),
        "{}",
        text(&o)
    );
    let approve = |id: &str, config: &Path| {
        xop(&[
            "review",
            "approve",
            id,
            "--data",
            s(&data),
            "--config",
            s(config),
            "--token",
            "nora-token",
        ])
    };
    let o = approve("rv-0", &with);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.starts_with("rv-0 approved by nora -> allow (proof record 2)\n"),
        "{out}"
    );
    assert!(
        out.contains("\n  performed std.camara.create_qos_session: done {"),
        "{out}"
    );
    assert!(out.ends_with("(proof record 3)\n"), "{out}");
    assert_eq!(standin.requests(), ["POST /quality-on-demand/v1/sessions"]);
    let r = record(&data, 3);
    assert!(r.contains("\"name\":\"action.performed\""), "{r}");
    assert!(r.contains("\"case\":\"rv-0\""), "{r}");
    let o = approve("rv-1", &without);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains(
            "\n  not performed std.camara.create_qos_session: no connectors are plugged in here \
             (no `[camara]` in xop.toml): the approved action was not carried out (proof record \
             5)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("carry it out at the operator yourself"),
        "{out}"
    );
    assert_eq!(standin.requests().len(), 1, "{:?}", standin.requests());
    assert!(record(&data, 5).contains("\"name\":\"action.not_performed\""));
    log_verifies(&data);
}

/// A reviewed QoD boost whose review falls back to `allow`, overdue while no server ran: `xop
/// review approve|reject --data` opens the queue, which closes it with its fallback, and carries
/// it out through the connectors of `[camara]` in the xop.toml given, as an approval's, proven
/// as `action.performed` naming the fallback, and says so (the late answer itself is refused).
/// Without `[camara]` it is not carried out, and the command and an `action.not_performed`
/// record say so.
#[test]
fn an_overdue_allow_fallback_is_carried_out_from_the_command_line() {
    let tmp = TempDir::new("cli-fallback-boost");
    let Some(standin) = StandIn::start(&tmp.0) else {
        return;
    };
    let source = BOOST.replace("within 15m else deny", "within 2s else allow");
    std::fs::write(tmp.0.join("boost.xop"), source).unwrap();
    let module = tmp.0.join("boost.xopm");
    let o = xop(&["build", s(&tmp.0.join("boost.xop")), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xop(&["token", "hash", "nora-token"]);
    let hash = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let reviewers =
        format!("[[reviewers]]\nname = \"nora\"\nroles = [\"noc\"]\ntoken_sha256 = \"{hash}\"\n");
    let url = &standin.url;
    let with = tmp.0.join("xop.toml");
    std::fs::write(
        &with,
        format!(
            "{reviewers}[camara]\napi_root = \"{url}\"\ntoken_url = \"{url}/oauth2/token\"\n\
             client_id = \"xop-demo\"\nclient_secret = \"demo-secret\"\n"
        ),
    )
    .unwrap();
    let without = tmp.0.join("reviewers.toml");
    std::fs::write(&without, &reviewers).unwrap();
    let data = tmp.0.join("data");
    let boost = json!({"phone_number": "+33612345678", "application_server": "198.51.100.0/24",
                       "qos_profile": "QOS_L", "duration": "90m"});
    // A case opened, the server stopped before its deadline, the deadline passed.
    let overdue = |config: &Path| {
        let (mut child, addr) = serve(&module, &data, config);
        let (st, o) = decide(addr, "boost", &boost).unwrap();
        assert_eq!((st, o["verdict"].as_str()), (200, Some("review")), "{o}");
        sigterm(&mut child);
        std::thread::sleep(Duration::from_millis(2200));
        o["case"].as_str().unwrap().to_string()
    };
    let approve = |id: &str, config: &Path| {
        xop(&[
            "review",
            "approve",
            id,
            "--data",
            s(&data),
            "--config",
            s(config),
            "--token",
            "nora-token",
        ])
    };
    let id = overdue(&with);
    assert_eq!(id, "rv-0");
    assert!(standin.requests().is_empty(), "{:?}", standin.requests());
    let o = approve(&id, &with);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("`rv-0`'s deadline has passed"),
        "{}",
        text(&o)
    );
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.starts_with(
            "rv-0 fallback by deadline -> allow (proof record 1)\n  performed \
             std.camara.create_qos_session: done {"
        ),
        "{out}"
    );
    assert!(out.ends_with("(proof record 2)\n"), "{out}");
    assert_eq!(standin.requests(), ["POST /quality-on-demand/v1/sessions"]);
    let r = record(&data, 2);
    for needle in [
        "\"name\":\"action.performed\"",
        "\"case\":\"rv-0\"",
        "\"fallback\":1",
    ] {
        assert!(r.contains(needle), "{needle}: {r}");
    }

    let id = overdue(&without);
    assert_eq!(id, "rv-3");
    let o = approve(&id, &without);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.starts_with(
            "rv-3 fallback by deadline -> allow (proof record 4)\n  not performed \
             std.camara.create_qos_session: no connectors are plugged in here (no `[camara]` in \
             xop.toml): the action its `allow` fallback let go ahead was not carried out (proof \
             record 5)\n  1 allow fallback of actions xop carries out was not carried out (rv-3)"
        ),
        "{out}"
    );
    assert!(
        out.contains("carry it out at the operator yourself"),
        "{out}"
    );
    assert_eq!(standin.requests().len(), 1, "{:?}", standin.requests());
    assert!(record(&data, 5).contains("\"name\":\"action.not_performed\""));
    log_verifies(&data);
}

/// A policy whose two review rules, of two roles, fire together: one case stands for both.
const FOUR_EYES: &str = r#"module t.four

/// Analysts who review suspicious payments.
role fraud_desk

/// Compliance officers.
role compliance

/// Detecting and stopping fraud.
purpose fraud_prevention

/// A customer.
record Customer {
  id: Id
}

/// Freeze an account.
action freeze_account(to: Customer, amount: Int) purpose fraud_prevention risk high

policy freeze for freeze_account(to: c, amount: a) {
  review "suspicious" by role fraud_desk within 1h else deny when a > 100
  review "very large" by role compliance within 1h else deny when a > 1000
  deny "small" unless a > 100
}
"#;

/// Four eyes from the command line: a case of two roles is approved by one reviewer of each
/// (`xop review approve --data`), says what it waits for in between, and the log verifies; an
/// answer to a case whose role was forged in `reviews.log` is refused (exit 1) for an
/// accomplice holding only the forged role, and `xop review show` says the file differs from
/// the record.
#[test]
fn a_case_of_two_roles_is_approved_by_two_reviewers_from_the_command_line() {
    let tmp = TempDir::new("cli-four-eyes");
    std::fs::write(tmp.0.join("four.xop"), FOUR_EYES).unwrap();
    let module = tmp.0.join("four.xopm");
    let o = xop(&["build", s(&tmp.0.join("four.xop")), "-o", s(&module)]);
    assert!(o.status.success(), "{}", text(&o));
    let mut config = String::new();
    for (name, role) in [
        ("ana", "fraud_desk"),
        ("carl", "compliance"),
        ("eve", "marketing"),
    ] {
        let o = xop(&["token", "hash", &format!("{name}-token")]);
        let hash = String::from_utf8(o.stdout).unwrap().trim().to_string();
        config.push_str(&format!(
            "[[reviewers]]\nname = \"{name}\"\nroles = [\"{role}\"]\ntoken_sha256 = \"{hash}\"\n"
        ));
    }
    let config_path = tmp.0.join("xop.toml");
    std::fs::write(&config_path, config).unwrap();
    let data = tmp.0.join("data");
    let (mut child, addr) = serve(&module, &data, &config_path);
    let input = json!({"to": {"id": "c-1"}, "amount": 5000});
    for n in 0..2 {
        let (st, o) = decide(addr, "freeze", &input).unwrap();
        assert_eq!(
            (st, o["case"].as_str()),
            (200, Some(format!("rv-{n}").as_str())),
            "{o}"
        );
    }
    sigterm(&mut child);
    let approve = |id: &str, who: &str| {
        xop(&[
            "review",
            "approve",
            id,
            "--data",
            s(&data),
            "--config",
            s(&config_path),
            "--token",
            &format!("{who}-token"),
        ])
    };
    let o = approve("rv-0", "ana");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "rv-0: approved for role fraud_desk by ana; waiting for role compliance (proof record \
         2)\n"
    );
    let o = xop(&["review", "show", "rv-0", "--data", s(&data)]);
    let out = text(&o);
    assert!(
        out.contains("approved for role fraud_desk by ana; waiting for role compliance")
            && out.contains("  approved for role fraud_desk by ana at "),
        "{out}"
    );
    let o = approve("rv-0", "ana");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("was already approved for role `fraud_desk`")
            && text(&o).contains("nothing was decided"),
        "{}",
        text(&o)
    );
    let o = approve("rv-0", "carl");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "rv-0 approved by ana and carl -> allow (proof record 3)\n"
    );
    let r = record(&data, 3);
    assert!(
        r.contains("\"name\":\"review.approved\"")
            && r.contains(
                "\"approvals\":[{\"by\":\"ana\",\"record\":2,\"roles\":[\"fraud_desk\"]}"
            ),
        "{r}"
    );
    log_verifies(&data);

    // Whoever can write the data folder gives rv-1 the role `marketing`: eve, who holds only
    // that, cannot approve it, and nothing is recorded.
    let path = data.join("reviews.log");
    let mut edited = String::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        let mut l: Value = serde_json::from_str(line).unwrap();
        if l["op"] == "open" && l["case"]["id"] == "rv-1" {
            l["case"]["role"] = json!("marketing");
        }
        edited.push_str(&format!("{l}\n"));
    }
    std::fs::write(&path, edited).unwrap();
    let o = approve("rv-1", "eve");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(
            "case `rv-1` in `reviews.log` is not the case its decision's proof record (1) \
             describes: its review is role `marketing` and `compliance`"
        ) && text(&o).contains("the record gives role `fraud_desk` and `compliance`"),
        "{}",
        text(&o)
    );
    let size = LogReader::open(&data).unwrap().size();
    assert_eq!(size, 4, "nothing more was recorded");
    let o = xop(&["review", "show", "rv-1", "--data", s(&data)]);
    assert!(
        text(&o).contains("warning: the case in `reviews.log` differs from its proof record"),
        "{}",
        text(&o)
    );
}
