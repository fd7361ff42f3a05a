//! The gateway's loop ([`xop_gateway::run::serve`]) with `sh` scripts as upstream servers and
//! real time: a slow review server delays only the calls that need it, a burst of requests is
//! held back from an upstream that reads slowly (and one that reads nothing is stopped, saying
//! so), the answers in flight when the client closes its input are relayed (the rest answered),
//! and a line longer than the gateway reads is refused without keeping it.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use xop_compiler::db::Workspace;
use xop_gateway::inflight::Timeouts;
use xop_gateway::jsonrpc;
use xop_gateway::record::MemoryRecorder;
use xop_gateway::run::{EXIT_OK, EXIT_UPSTREAM, MAX_MESSAGE, UPSTREAM_QUEUE, serve};
use xop_gateway::session::{HeldCall, Resolution, ReviewDesk, Session};
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

fn session(request_ms: u64, max_ms: u64) -> Session<MemoryRecorder> {
    Session::new(program(), None, subject(), MemoryRecorder::default())
        .unwrap()
        .with_timeouts(Timeouts::new(ms(request_ms), ms(max_ms)).unwrap())
}

/// An upstream that answers every request with an empty result, after `delay` seconds (sh,
/// builtins only: the id is cut out of the line as the gateway forwarded it).
fn answering(delay: &str) -> String {
    format!(
        r#"while IFS= read -r line; do
  case "$line" in
    *'"method":"notifications/'*) continue ;;
  esac
  {delay}
  id=${{line#*\"id\":}}
  id=${{id%%,*}}
  printf '{{"jsonrpc":"2.0","id":%s,"result":{{}}}}\n' "$id"
done"#
    )
}

/// The client's end of the gateway.
struct Client {
    input: Option<mpsc::Sender<Vec<u8>>>,
    /// How many bytes of the input the gateway has read.
    consumed: Arc<AtomicUsize>,
    output: mpsc::Receiver<(Instant, Vec<u8>)>,
    buffered: Vec<u8>,
    written: Instant,
    gateway: Option<thread::JoinHandle<Result<(u8, MemoryRecorder), String>>>,
}

struct Input {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    consumed: Arc<AtomicUsize>,
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
        self.consumed.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }
}

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
    fn start(session: Session<MemoryRecorder>, script: &str) -> Client {
        let (in_tx, in_rx) = mpsc::channel();
        let (out_tx, out_rx) = mpsc::channel();
        let consumed = Arc::new(AtomicUsize::new(0));
        let upstream = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let counted = Arc::clone(&consumed);
        let gateway = thread::spawn(move || {
            serve(
                session,
                &upstream,
                Input {
                    rx: in_rx,
                    buf: Vec::new(),
                    consumed: counted,
                },
                Output(out_tx),
            )
        });
        Client {
            input: Some(in_tx),
            consumed,
            output: out_rx,
            buffered: Vec::new(),
            written: Instant::now(),
            gateway: Some(gateway),
        }
    }

    fn send(&self, text: &str) {
        if let Some(i) = &self.input {
            i.send(format!("{text}\n").into_bytes()).unwrap();
        }
    }

    /// The next message to the client and when it was written, waiting at most `wait`.
    fn next_within(&mut self, wait: Duration) -> Option<(Instant, Json)> {
        let deadline = Instant::now() + wait;
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

    fn next(&mut self) -> Option<Json> {
        self.next_within(Duration::from_secs(30)).map(|(_, v)| v)
    }

    /// Closes the input, waits for the gateway to end; its status and what it wrote since.
    fn close(mut self) -> (u8, Vec<Json>) {
        self.input = None;
        self.wait()
    }

    fn wait(self) -> (u8, Vec<Json>) {
        let (status, rest, _) = self.finish();
        (status, rest)
    }

    /// [`Client::wait`], with the records the gateway made.
    fn finish(mut self) -> (u8, Vec<Json>, MemoryRecorder) {
        let gateway = self.gateway.take().expect("the gateway runs");
        let (status, recorder) = gateway.join().unwrap().unwrap();
        self.input = None;
        let mut rest = Vec::new();
        while let Some(v) = self.next() {
            rest.push(v);
        }
        (status, rest, recorder)
    }

    /// Sends `bytes` as they are, then a line break.
    fn send_bytes(&self, bytes: &[u8]) {
        if let Some(i) = &self.input {
            let mut line = bytes.to_vec();
            line.push(b'\n');
            i.send(line).unwrap();
        }
    }
}

/// A review server that takes `delay` to say whether its halt switch is on (off), and opens
/// every case.
struct SlowDesk {
    delay: Duration,
}

impl ReviewDesk for SlowDesk {
    fn open(&self, _call: &HeldCall<'_>) -> Result<String, String> {
        Ok("rv-0".into())
    }

    fn resolution(&self, _id: &str) -> Resolution {
        Resolution::Pending
    }

    fn halted(&self) -> Result<bool, String> {
        thread::sleep(self.delay);
        Ok(false)
    }
}

// 1. A slow review server delays the high-risk calls that need it, nothing else: refusals,
// pass-throughs and other calls are answered meanwhile, and several high-risk calls wait
// together, not one after the other.
#[test]
fn a_slow_review_server_delays_only_the_calls_that_need_it() {
    let s = session(10_000, 20_000).with_desk(SlowDesk { delay: ms(1500) });
    let mut c = Client::start(s, &answering(""));
    let sent = Instant::now();
    for id in ["hr0", "hr1", "hr2"] {
        c.send(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": "set_limit", "arguments": {"limit": "5000.00 EUR"}}})
            .to_string(),
        );
    }
    c.send(
        &json!({"jsonrpc": "2.0", "id": "unbound", "method": "tools/call", "params": {
            "name": "export_customers", "arguments": {}}})
        .to_string(),
    );
    c.send(r#"{"jsonrpc":"2.0","id":"ping","method":"ping"}"#);
    c.send(
        &json!({"jsonrpc": "2.0", "id": "small", "method": "tools/call", "params": {
            "name": "refund", "arguments": {"amount": "5.00 EUR", "reason": "x"}}})
        .to_string(),
    );
    let mut at = std::collections::HashMap::new();
    while at.len() < 6 {
        let (when, m) = c
            .next_within(Duration::from_secs(20))
            .expect("every answer");
        at.insert(m["id"].as_str().unwrap().to_string(), (when - sent, m));
    }
    for quick in ["unbound", "ping", "small"] {
        let (took, m) = &at[quick];
        assert!(*took < ms(1000), "{quick} took {took:?}: {m}");
    }
    assert_eq!(at["unbound"].1["error"]["code"], jsonrpc::UNBOUND_TOOL);
    assert_eq!(at["ping"].1["result"], json!({}));
    for held in ["hr0", "hr1", "hr2"] {
        let (took, m) = &at[held];
        assert!(*took >= ms(1500), "{held} took {took:?}");
        // Asked side by side: three round trips of 1.5 s take far less than 4.5 s.
        assert!(*took < ms(4000), "{held} took {took:?}");
        assert_eq!(m["result"]["structuredContent"]["status"], "pending-review");
    }
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    assert!(rest.is_empty(), "{rest:?}");
}

// 2. A burst far beyond the upstream's queue, to an upstream that reads nothing for a second,
// then one line at a time: held back from it, not taken for its death; every request answered.
#[test]
fn a_burst_beyond_the_queue_is_held_back_from_a_slow_upstream() {
    let script = format!("sleep 1\n{}", answering(""));
    let mut c = Client::start(session(30_000, 60_000), &script);
    let n = 3 * UPSTREAM_QUEUE;
    let burst: String = (0..n)
        .map(|i| format!("{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\"}}\n"))
        .collect();
    c.send(burst.trim_end());
    let mut ok = 0;
    let mut errors = Vec::new();
    while ok + errors.len() < n {
        let m = c.next().expect("an answer to every request");
        if m["result"] == json!({}) {
            ok += 1;
        } else {
            errors.push(m);
        }
    }
    assert!(
        errors.is_empty(),
        "{} errors, the first {}",
        errors.len(),
        errors[0]
    );
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    assert!(rest.is_empty(), "{rest:?}");
}

// 2. An upstream that reads nothing: the gateway stops reading the client once the queue is
// full, and stops the upstream only after it made no progress for the request timeout,
// telling the client what happened (not that the upstream exited).
#[test]
fn an_upstream_that_reads_nothing_is_stopped_after_a_while_and_said_so() {
    let c = Client::start(session(3000, 10_000), "sleep 30");
    let n = 8 * UPSTREAM_QUEUE;
    // Padded, so that the upstream's pipe is full after the first few hundred: those after
    // are forwarded after the upstream's last progress, and are waiting when it is stopped.
    let pad = "x".repeat(200);
    let burst: String = (0..n)
        .map(|i| {
            format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{i},\"method\":\"ping\",\"params\":{{\"_meta\":{{\"pad\":\"{pad}\"}}}}}}\n"
            )
        })
        .collect();
    let total = burst.len();
    c.send(burst.trim_end());
    let consumed = Arc::clone(&c.consumed);
    let (status, rest) = c.wait();
    assert_eq!(status, EXIT_UPSTREAM);
    // Backpressure: the gateway stopped reading the client once the queue was full, far from
    // the end of the burst; what it read is answered.
    let read = consumed.load(Ordering::SeqCst);
    assert!(read < total / 2, "the gateway read {read} of {total} bytes");
    assert!(rest.len() < 2 * UPSTREAM_QUEUE, "{} answers", rest.len());
    let mut seen = std::collections::HashSet::new();
    let mut stopped = 0;
    for m in &rest {
        assert!(seen.insert(m["id"].to_string()), "answered twice: {m}");
        let message = m["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.contains("has exited"), "{m}");
        if m["error"]["code"] == jsonrpc::UPSTREAM_GONE {
            assert!(
                message.contains("has read nothing of its input for 3 s"),
                "{m}"
            );
            stopped += 1;
        }
    }
    assert!(stopped > 0, "{:?}", rest.first());
}

// 3. When the client closes its input, the answers in flight are relayed.
#[test]
fn answers_in_flight_when_the_client_closes_its_input_are_relayed() {
    let c = Client::start(session(10_000, 20_000), &answering("sleep 0.3"));
    c.send(
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "refund", "arguments": {"amount": "20.00 EUR", "reason": "eof"}}})
        .to_string(),
    );
    c.send(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#);
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    let ids: Vec<&Json> = rest.iter().map(|m| &m["id"]).collect();
    assert_eq!(ids, [&json!(1), &json!(2)], "{rest:?}");
    assert!(rest.iter().all(|m| m["result"] == json!({})), "{rest:?}");
}

// 3. What has not come within the grace period gets an error, and is cancelled upstream.
#[test]
fn what_the_upstream_does_not_answer_after_the_client_closed_gets_an_error() {
    let log = std::env::temp_dir().join(format!("xop-gw-closing-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let c = Client::start(
        session(30_000, 60_000),
        &format!("cat > '{}'", log.display()),
    );
    c.send(
        &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
            "name": "refund", "arguments": {"amount": "20.00 EUR", "reason": "x"}}})
        .to_string(),
    );
    let closed = Instant::now();
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    assert!(closed.elapsed() >= xop_gateway::run::CLOSE_GRACE);
    assert_eq!(rest.len(), 1, "{rest:?}");
    let e = &rest[0];
    assert_eq!(e["id"], 7);
    assert_eq!(e["error"]["code"], jsonrpc::REQUEST_TIMEOUT);
    assert_eq!(e["error"]["data"]["reasons"], json!(["xop:client-closed"]));
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the client closed its input") && message.contains("may have acted"),
        "{message}"
    );
    let seen = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(seen.contains("notifications/cancelled"), "{seen}");
}

// 13. A line longer than the gateway reads is refused without being kept, in either direction;
// the session goes on.
#[test]
fn lines_longer_than_the_maximum_are_refused_in_both_directions() {
    // The upstream answers its first request with a line past the maximum, then pings.
    let script = format!(
        r#"IFS= read -r line
printf '{{"jsonrpc":"2.0","id":"big","result":{{"x":"'
head -c {} /dev/zero | tr '\0' x
printf '"}}}}\n'
{}"#,
        MAX_MESSAGE + 10,
        answering("")
    );
    let mut c = Client::start(session(10_000, 20_000), &script);
    c.send(r#"{"jsonrpc":"2.0","id":"big","method":"resources/read","params":{"uri":"x"}}"#);
    let m = c.next().expect("the refusal of the answer");
    assert_eq!(m["id"], "big");
    assert_eq!(m["error"]["code"], jsonrpc::INTERNAL_ERROR, "{m}");
    let message = m["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("longer than the gateway's maximum of 16 MiB"),
        "{message}"
    );
    // From the client: refused with id null, then the session goes on.
    let mut huge = String::from(r#"{"jsonrpc":"2.0","id":"h","method":"ping","params":{"x":""#);
    huge.push_str(&"y".repeat(MAX_MESSAGE));
    huge.push_str("\"}}");
    c.send(&huge);
    let m = c.next().expect("the refusal");
    assert_eq!(m["id"], Json::Null);
    assert_eq!(m["error"]["code"], jsonrpc::INVALID_REQUEST, "{m}");
    c.send(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
    let m = c.next().expect("the ping's answer");
    assert_eq!(
        (m["id"].clone(), m["result"].clone()),
        (json!("p"), json!({}))
    );
    let (status, rest) = c.close();
    assert_eq!(status, EXIT_OK);
    assert!(rest.is_empty(), "{rest:?}");
}

// 14. A client line refused unread leaves a record of its refusal when it is, or may be, a tool
// call: a batch past 16 MiB once (what it held was not read), a batch that is not UTF-8 once per
// tool call in it; each record says why and how long the line was, and holds none of its bytes.
#[test]
fn lines_refused_unread_leave_records() {
    let mut c = Client::start(session(10_000, 20_000), &answering(""));
    // A batch past the maximum (its line break a CRLF, which does not count).
    let mut huge = String::from(
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":{"amount":"1.00 EUR","reason":""#,
    );
    huge.push_str(&"z".repeat(MAX_MESSAGE));
    huge.push_str(r#""}}}]"#);
    let huge_len = huge.len() as u64;
    huge.push('\r');
    c.send(&huge);
    let m = c.next().expect("the refusal");
    assert_eq!(
        (m["id"].clone(), m["error"]["code"].clone()),
        (Json::Null, json!(jsonrpc::INVALID_REQUEST)),
        "{m}"
    );
    // A batch that is not UTF-8: two tool calls and a ping, the second call past the first
    // 64 KiB (the whole line is read for its tool calls, not only its head).
    let mut batch = br#"[{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"refund","arguments":{"amount":"1.00 EUR","reason":"caf"#.to_vec();
    batch.push(0xe9);
    batch.extend_from_slice(br#""}}},{"jsonrpc":"2.0","id":3,"method":"ping","params":{"pad":""#);
    batch.extend(std::iter::repeat_n(b'q', jsonrpc::SNIFF_HEAD));
    batch.extend_from_slice(
        br#""}},{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"export","arguments":{}}}]"#,
    );
    c.send_bytes(&batch);
    let m = c.next().expect("the refusal");
    assert_eq!(
        (m["id"].clone(), m["error"]["code"].clone()),
        (Json::Null, json!(jsonrpc::PARSE_ERROR)),
        "{m}"
    );
    // A ping that is not UTF-8: refused, not a tool call, so not recorded.
    let mut ping = br#"{"jsonrpc":"2.0","id":5,"method":"ping","params":{"x":""#.to_vec();
    ping.extend_from_slice(&[0xff, b'"', b'}', b'}']);
    c.send_bytes(&ping);
    let m = c.next().expect("the refusal");
    assert_eq!(m["error"]["code"], jsonrpc::PARSE_ERROR, "{m}");
    // The session goes on.
    c.send(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
    let m = c.next().expect("the ping's answer");
    assert_eq!(m["id"], "p");
    c.input = None;
    let (status, rest, recorder) = c.finish();
    assert_eq!(status, EXIT_OK);
    assert!(rest.is_empty(), "{rest:?}");
    let seen: Vec<(&str, &str, &Json, &Json)> = (recorder.records.iter())
        .map(|r| {
            (
                r["event"].as_str().unwrap(),
                r["tool"].as_str().unwrap(),
                &r["reasons"],
                &r["line"],
            )
        })
        .collect();
    let bad = json!(["xop:bad-request"]);
    let too_long = json!({"refused": "too-long", "bytes": huge_len});
    let not_utf8 = json!({"refused": "not-utf-8", "bytes": batch.len()});
    assert_eq!(
        seen,
        [
            ("mcp.tools_call", "", &bad, &too_long),
            ("mcp.tools_call", "refund", &bad, &not_utf8),
            ("mcp.tools_call", "export", &bad, &not_utf8),
        ]
    );
    // Nothing of the lines' text is in the records.
    let text = serde_json::to_string(&recorder.records).unwrap();
    assert!(
        !text.contains("zzz") && !text.contains("caf") && !text.contains("qqq"),
        "{text}"
    );
}
