//! Requests forwarded upstream and not answered in time (MCP 2025-11-25, lifecycle,
//! "Timeouts"): the client gets -32001 with its id, the upstream `notifications/cancelled`, a
//! late answer is dropped, progress buys time up to a maximum, and the client's own
//! cancellation stops the wait. First on the session with a clock driven by hand, then through
//! the gateway's loop ([`xop_gateway::run::serve`]) with `sh` scripts as upstream servers.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use xop_compiler::db::Workspace;
use xop_gateway::inflight::Timeouts;
use xop_gateway::jsonrpc;
use xop_gateway::record::MemoryRecorder;
use xop_gateway::run::{EXIT_OK, EXIT_UPSTREAM, serve};
use xop_gateway::session::{Out, Session};
use xop_runtime::ir::Program;

const SOURCE: &str = include_str!("../../cli/tests/mcp/support.xop");

fn program() -> Program {
    let mut ws = Workspace::new();
    ws.set_file("support.xop", SOURCE);
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

fn subject() -> Map<String, Json> {
    json!({"to": {"id": "c-1", "vip": false}})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn timeouts(request_ms: u64, max_ms: u64) -> Timeouts {
    Timeouts::new(ms(request_ms), ms(max_ms)).unwrap()
}

/// A session whose monotonic clock is `t0` plus what `Clock::advance` added.
struct Clock {
    t0: Instant,
    offset: Arc<AtomicU64>,
}

impl Clock {
    fn at(&self, n: u64) {
        self.offset.store(n, Ordering::SeqCst);
    }

    fn instant(&self, n: u64) -> Instant {
        self.t0 + ms(n)
    }
}

fn session(t: Timeouts) -> (Session<MemoryRecorder>, Clock) {
    let clock = Clock {
        t0: Instant::now(),
        offset: Arc::new(AtomicU64::new(0)),
    };
    let (t0, offset) = (clock.t0, Arc::clone(&clock.offset));
    let s = Session::new(program(), None, subject(), MemoryRecorder::default())
        .unwrap()
        .with_timeouts(t)
        .with_monotonic_clock(move || t0 + ms(offset.load(Ordering::SeqCst)));
    (s, clock)
}

/// An allowed call (a refund of 20.00 EUR), with a progress token when given.
fn refund(id: Json, token: Option<Json>) -> String {
    let mut m = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": "refund",
                                  "arguments": {"amount": "20.00 EUR", "reason": "late"}}});
    if let Some(t) = token {
        m["params"]["_meta"] = json!({"progressToken": t});
    }
    m.to_string()
}

fn progress(token: Json, n: u64) -> String {
    json!({"jsonrpc": "2.0", "method": "notifications/progress",
           "params": {"progressToken": token, "progress": n}})
    .to_string()
}

fn answer(id: Json) -> String {
    json!({"jsonrpc": "2.0", "id": id, "result": {"content": [], "isError": false}}).to_string()
}

fn clients(outs: &[Out]) -> Vec<&Json> {
    outs.iter().filter_map(Out::to_client).collect()
}

fn upstreams(outs: &[Out]) -> Vec<&Json> {
    outs.iter().filter_map(Out::to_upstream).collect()
}

fn forwarded(outs: Vec<Out>) -> Json {
    match outs.as_slice() {
        [o] if o.to_upstream().is_some() => o.to_upstream().cloned().unwrap_or_default(),
        other => panic!("expected the request forwarded, got {other:?}"),
    }
}

/// The timeout error for `id` and the cancellation sent upstream, from `expire`'s outputs.
fn timed_out(outs: &[Out], id: &Json) -> (Json, Json) {
    let c = clients(outs);
    let u = upstreams(outs);
    assert_eq!((c.len(), u.len()), (1, 1), "{outs:?}");
    assert_eq!(&c[0]["id"], id, "{outs:?}");
    assert_eq!(c[0]["error"]["code"], jsonrpc::REQUEST_TIMEOUT);
    assert_eq!(
        c[0]["error"]["data"]["reasons"],
        json!(["xop:upstream-timeout"])
    );
    assert_eq!(u[0]["method"], "notifications/cancelled");
    assert_eq!(&u[0]["params"]["requestId"], id);
    assert!(u[0]["params"]["reason"].is_string(), "{}", u[0]);
    (c[0].clone(), u[0].clone())
}

#[test]
fn a_request_the_upstream_never_answers_gets_an_error_and_is_cancelled_upstream() {
    let (mut s, clock) = session(timeouts(100, 1000));
    forwarded(s.from_client(&refund(json!(7), None)));
    forwarded(s.from_client(r#"{"jsonrpc":"2.0","id":"p-1","method":"ping"}"#));
    assert_eq!(s.next_deadline(), Some(clock.instant(100)));
    clock.at(99);
    assert!(s.expire().is_empty());
    clock.at(100);
    let outs = s.expire();
    assert_eq!(clients(&outs).len(), 2, "{outs:?}");
    let (first, second): (Vec<Out>, Vec<Out>) = outs
        .into_iter()
        .filter(|o| !matches!(o, Out::Warn(_)))
        .partition(|o| match (o.to_client(), o.to_upstream()) {
            (Some(v), _) => v["id"] == 7,
            (_, Some(v)) => v["params"]["requestId"] == 7,
            _ => false,
        });
    let (error, _) = timed_out(&first, &json!(7));
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("did not answer `tools/call` within 0.1 s")
            && message.contains("cancelled the request upstream")
            && message.contains("the tool may have acted")
            && message.contains("--upstream-timeout"),
        "{message}"
    );
    assert_eq!(error["error"]["data"]["timeout"], 100);
    assert_eq!(error["error"]["data"]["method"], "tools/call");
    timed_out(&second, &json!("p-1"));
    assert_eq!(s.next_deadline(), None);
    // The decision (allow) is the call's only record: the gateway records no outcome of a
    // forwarded call, a timeout included.
    let events: Vec<&Json> = s.recorder().records.iter().map(|r| &r["verdict"]).collect();
    assert_eq!(events, [&json!("allow")]);
}

#[test]
fn a_late_answer_never_reaches_the_client() {
    let (mut s, clock) = session(timeouts(100, 1000));
    forwarded(s.from_client(&refund(json!(7), Some(json!("t7")))));
    clock.at(150);
    timed_out(&s.expire(), &json!(7));
    // Progress on it is over for the client too.
    assert!(s.from_upstream(&progress(json!("t7"), 1)).is_empty());
    // While its answer may still come, the id is not given to another request: the late
    // answer would be taken for that one's.
    let again = s.from_client(&refund(json!(7), None));
    assert_eq!(
        clients(&again)[0]["error"]["code"],
        jsonrpc::INVALID_REQUEST
    );
    match s.from_upstream(&answer(json!(7))).as_slice() {
        [Out::Warn(w)] => assert!(w.contains("which no request waits for any more"), "{w}"),
        other => panic!("the late answer must be dropped, got {other:?}"),
    }
    // A second late answer is a stray like any other.
    match s.from_upstream(&answer(json!(7))).as_slice() {
        [Out::Warn(w)] => assert!(w.contains("which no request waits for; ignored"), "{w}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn progress_resets_the_clock_and_a_slow_answer_still_arrives() {
    let (mut s, clock) = session(timeouts(100, 1000));
    forwarded(s.from_client(&refund(json!(1), Some(json!("tok")))));
    forwarded(s.from_client(&refund(json!(2), Some(json!(2)))));
    // Progress every 90 ms, for the first request only (the token `"2"` is not `2`).
    for t in [90, 180, 270] {
        clock.at(t);
        let p = progress(json!("tok"), t);
        assert_eq!(
            clients(&s.from_upstream(&p)),
            [&serde_json::from_str::<Json>(&p).unwrap()]
        );
        let outs = s.expire();
        if t == 90 {
            assert!(outs.is_empty(), "{outs:?}");
        } else {
            // The second request, without progress, timed out at 100 ms.
            assert!(clients(&outs).iter().all(|c| c["id"] == 2), "{outs:?}");
        }
        let other = progress(json!("2"), t);
        assert_eq!(s.from_upstream(&other).len(), 1, "an unknown token passes");
    }
    clock.at(369);
    assert!(s.expire().is_empty(), "270 + 100 ms is not reached");
    clock.at(360);
    let outs = s.from_upstream(&answer(json!(1)));
    assert_eq!(clients(&outs)[0]["result"]["isError"], false);
    clock.at(5000);
    assert!(s.expire().is_empty());
}

#[test]
fn progress_does_not_outlast_the_maximum() {
    let (mut s, clock) = session(timeouts(100, 250));
    forwarded(s.from_client(&refund(json!(1), Some(json!(11)))));
    for t in [90, 180, 240] {
        clock.at(t);
        assert_eq!(s.from_upstream(&progress(json!(11), t)).len(), 1);
        assert!(s.expire().is_empty(), "at {t} ms");
    }
    clock.at(250);
    let (error, cancel) = timed_out(&s.expire(), &json!(1));
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("maximum of 0.25 s") && message.contains("--upstream-max-timeout"),
        "{message}"
    );
    assert_eq!(error["error"]["data"]["timeout"], 250);
    assert!(
        cancel["params"]["reason"]
            .as_str()
            .unwrap()
            .contains("0.25 s")
    );
    assert!(
        s.from_upstream(&answer(json!(1)))
            .iter()
            .all(|o| matches!(o, Out::Warn(_)))
    );
}

#[test]
fn an_answer_in_time_is_unaffected() {
    let (mut s, clock) = session(timeouts(100, 1000));
    let list = r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#;
    forwarded(s.from_client(list));
    forwarded(s.from_client(&refund(json!(6), None)));
    clock.at(99);
    let tools = json!({"jsonrpc": "2.0", "id": 5, "result": {"tools": [
        {"name": "refund"}, {"name": "close_account"}]}});
    let out = s.from_upstream(&tools.to_string());
    assert_eq!(
        clients(&out)[0]["result"]["tools"],
        json!([{"name": "refund"}])
    );
    let out = s.from_upstream(&answer(json!(6)));
    assert_eq!(clients(&out)[0]["id"], 6);
    clock.at(10_000);
    assert!(s.expire().is_empty());
    assert_eq!(s.next_deadline(), None);
}

#[test]
fn the_clients_cancellation_stops_the_wait_and_is_forwarded() {
    let (mut s, clock) = session(timeouts(100, 1000));
    forwarded(s.from_client(&refund(json!("c"), None)));
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": "c", "reason": "user"}});
    assert_eq!(forwarded(s.from_client(&cancel.to_string())), cancel);
    clock.at(10_000);
    assert!(
        s.expire().is_empty(),
        "a cancelled request does not time out"
    );
    assert!(
        s.from_upstream(&answer(json!("c")))
            .iter()
            .all(|o| matches!(o, Out::Warn(_)))
    );
    // A cancellation of nothing the gateway waits for passes as before.
    let unknown = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                         "params": {"requestId": 99}});
    assert_eq!(forwarded(s.from_client(&unknown.to_string())), unknown);
}

#[test]
fn initialize_times_out_without_being_cancelled() {
    let (mut s, clock) = session(timeouts(100, 1000));
    forwarded(s.from_client(
        r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
    ));
    clock.at(100);
    let outs = s.expire();
    // MCP: "The initialize request MUST NOT be cancelled by clients".
    assert!(upstreams(&outs).is_empty(), "{outs:?}");
    let c = clients(&outs);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["error"]["code"], jsonrpc::REQUEST_TIMEOUT);
    assert!(
        !c[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled")
    );
}

// ---- Through the gateway's loop, with real processes and real time ----

/// The client's end of the gateway: its input (ours to write, closed on drop), its output.
struct Client {
    input: Option<mpsc::Sender<Vec<u8>>>,
    output: mpsc::Receiver<(Instant, Vec<u8>)>,
    buffered: Vec<u8>,
    /// When the gateway wrote the last bytes read from `output`.
    written: Instant,
    gateway: Option<thread::JoinHandle<Result<(u8, MemoryRecorder), String>>>,
}

struct Input {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.buf = b,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf.drain(..n);
        Ok(n)
    }
}

/// What the gateway writes to the client, with when it wrote it (it writes a line at once).
struct Output(mpsc::Sender<(Instant, Vec<u8>)>);

impl Write for Output {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send((Instant::now(), b.to_vec()));
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Client {
    /// The gateway with `t`, and `script` (sh) as the upstream server.
    fn start(t: Timeouts, script: &str) -> Client {
        let (in_tx, in_rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::channel();
        let upstream = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let gateway = thread::spawn(move || {
            let s = Session::new(program(), None, subject(), MemoryRecorder::default())?
                .with_timeouts(t);
            serve(
                s,
                &upstream,
                Input {
                    rx: in_rx,
                    buf: Vec::new(),
                },
                Output(out_tx),
            )
        });
        Client {
            input: Some(in_tx),
            output: out_rx,
            buffered: Vec::new(),
            written: Instant::now(),
            gateway: Some(gateway),
        }
    }

    fn send(&self, line: &str) {
        if let Some(i) = &self.input {
            i.send(format!("{line}\n").into_bytes()).unwrap();
        }
    }

    /// The next message to the client, waiting at most 20 s (a guard, not a timing).
    fn next(&mut self) -> Option<Json> {
        self.next_timed().map(|(_, v)| v)
    }

    /// The next message to the client, and when the gateway wrote it.
    fn next_timed(&mut self) -> Option<(Instant, Json)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(i) = self.buffered.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffered.drain(..=i).collect();
                return Some((self.written, serde_json::from_slice(&line).unwrap()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok((at, b)) => {
                    self.written = at;
                    self.buffered.extend(b);
                }
                Err(_) => return None,
            }
        }
    }

    /// Closes the client's input; the gateway's exit status and every message it wrote since.
    fn close(mut self) -> (u8, Vec<Json>) {
        self.input = None;
        self.wait()
    }

    /// Waits for the gateway to stop by itself (the upstream exits); its exit status and every
    /// message it wrote since.
    fn wait(mut self) -> (u8, Vec<Json>) {
        let gateway = self.gateway.take().expect("the gateway runs");
        let status = gateway.join().unwrap().unwrap().0;
        self.input = None;
        let mut rest = Vec::new();
        while let Some(v) = self.next() {
            rest.push(v);
        }
        (status, rest)
    }
}

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("xop-gw-{name}-{}", std::process::id()))
}

#[test]
fn the_loop_answers_a_hanging_upstreams_request_and_cancels_it() {
    let log = temp("hanging.log");
    let _ = std::fs::remove_file(&log);
    // An upstream that reads everything and never answers.
    let mut c = Client::start(timeouts(300, 5000), &format!("cat > '{}'", log.display()));
    let started = Instant::now();
    c.send(&refund(json!(7), None));
    // A call the gateway refuses itself is answered at once, not after the timeout.
    c.send(
        &json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {
        "name": "refund", "arguments": {"amount": "500.00 EUR", "reason": "x"}}})
        .to_string(),
    );
    let denied = c.next().expect("the denial");
    assert_eq!(denied["id"], 8);
    assert_eq!(denied["error"]["data"]["verdict"], "deny");
    let error = c.next().expect("the timeout error");
    assert!(started.elapsed() >= ms(300), "{:?}", started.elapsed());
    assert_eq!(error["id"], 7);
    assert_eq!(error["error"]["code"], jsonrpc::REQUEST_TIMEOUT);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did not answer `tools/call` within 0.3 s"),
        "{error}"
    );
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    assert!(rest.is_empty(), "{rest:?}");
    // The upstream saw the call, then its cancellation, and nothing of the refused call.
    let seen: Vec<Json> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let _ = std::fs::remove_file(&log);
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (&seen[0]["id"], &seen[0]["method"]),
        (&json!(7), &json!("tools/call"))
    );
    assert_eq!(seen[1]["method"], "notifications/cancelled");
    assert_eq!(seen[1]["params"]["requestId"], 7);
}

/// An upstream that answers request 1 after eight progress notifications 0.1 s apart (token
/// `"p"`), then exits.
const SLOW_WITH_PROGRESS: &str = r#"read line
i=0
while [ $i -lt 8 ]; do
  sleep 0.1
  printf '%s\n' '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":'$i'}}'
  i=$((i+1))
done
printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}'"#;

#[test]
fn the_loop_lets_progress_keep_a_slow_request_alive() {
    let mut c = Client::start(timeouts(500, 20_000), SLOW_WITH_PROGRESS);
    let started = Instant::now();
    c.send(&refund(json!(1), Some(json!("p"))));
    let mut progress = 0;
    let result = loop {
        let m = c.next().expect("a message");
        if m["method"] == "notifications/progress" {
            progress += 1;
            continue;
        }
        break m;
    };
    // Answered after longer than the timeout: the progress kept it waiting.
    assert!(started.elapsed() >= ms(800), "{:?}", started.elapsed());
    assert_eq!(progress, 8);
    assert_eq!(result["id"], 1);
    assert_eq!(result["result"]["isError"], false, "{result}");
    let (status, rest) = c.wait();
    assert_eq!(status, EXIT_UPSTREAM);
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn the_loop_applies_the_maximum_and_drops_the_late_answer() {
    let mut c = Client::start(timeouts(500, 600), SLOW_WITH_PROGRESS);
    c.send(&refund(json!(1), Some(json!("p"))));
    let error = loop {
        let m = c.next().expect("a message");
        if m["method"] != "notifications/progress" {
            break m;
        }
    };
    assert_eq!(error["id"], 1);
    assert_eq!(error["error"]["code"], jsonrpc::REQUEST_TIMEOUT, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum of 0.6 s"),
        "{error}"
    );
    // The upstream goes on, answers, and exits: neither its progress nor its answer reaches
    // the client any more.
    let (status, rest) = c.wait();
    assert_eq!(status, EXIT_UPSTREAM);
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn the_loop_passes_an_answer_in_time_and_no_error_after_it() {
    let mut c = Client::start(
        timeouts(300, 1000),
        r#"read line
printf '%s\n' '{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":false}}'
cat > /dev/null"#,
    );
    c.send(&refund(json!(3), None));
    let result = c.next().expect("the answer");
    assert_eq!(result["result"]["isError"], false, "{result}");
    // Past the timeout, nothing more comes for it.
    thread::sleep(ms(600));
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn the_loop_times_out_under_a_steady_stream_of_messages() {
    // The client keeps the gateway busy with requests it answers itself (`server/discover`)
    // while a request waits for an upstream that never answers: the timeout must come while
    // the stream lasts, not once it stops.
    let mut c = Client::start(timeouts(100, 1000), "cat > /dev/null");
    c.send(&refund(json!(7), None));
    let sent = Instant::now();
    let n = 100_000;
    let flood: String = (0..n)
        .map(|i| {
            format!("{{\"jsonrpc\":\"2.0\",\"id\":\"d{i}\",\"method\":\"server/discover\"}}\n")
        })
        .collect();
    c.send(flood.trim_end());
    let (mut error_at, mut after_error, mut late) = (None, 0, 0);
    let last = json!(format!("d{}", n - 1));
    loop {
        let (at, m) = c.next_timed().expect("a message");
        if m["id"] == 7 {
            assert_eq!(m["error"]["code"], jsonrpc::REQUEST_TIMEOUT, "{m}");
            error_at = Some(at);
            continue;
        }
        // Answers written well after the deadline, with time enough for the one message in
        // hand when it passed.
        if at > sent + ms(600) {
            late += 1;
            after_error += usize::from(error_at.is_some());
        }
        if m["id"] == last {
            break;
        }
    }
    if late == 0 {
        eprintln!("the stream was over before the deadline; nothing to check on this machine");
    } else {
        assert_eq!(
            after_error, late,
            "the timeout waited for the stream to end"
        );
    }
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    assert!(rest.len() <= 1, "{rest:?}");
}
