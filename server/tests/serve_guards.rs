//! What a QA pass of `xop serve` found, each kept from coming back: a policy that shares its
//! action refused on the modules it would be decided with (also under the halt switch); a hot
//! swap or unload proven before it takes effect (a record that cannot be written changes
//! nothing); a client that never reads its answers cut off; the head size limit exact; slot
//! names a module file could have, and printed escaped; an empty slot name refused; the
//! halt's refusal of an approval; `GET /v1/log/checkpoint` before the first checkpoint.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;
use xop_runtime::proof::{LogConfig, ProofLog};
use xop_server::listen::MAX_HEAD;
use xop_server::serve;

use support::{
    ANA, OPS, OTHER, bearer, decide, error_message, hash_of, healthz, json_of, load, loaded,
    log_size, module_bytes, request, setup, setup_with, source_bytes, start, two_policies, unload,
    unrecordable,
};

/// The input of a payment of `amount` (the test module's `receipt`), as a body.
fn pay(amount: i64) -> Vec<u8> {
    json!({"to": {"id": "c-1", "vip": false}, "amount": amount})
        .to_string()
        .into_bytes()
}

/// `POST /v1/halt` as the operator `token`: status and body.
fn halt(addr: SocketAddr, token: &str) -> (u16, String) {
    let auth = bearer(token);
    request(addr, "POST", "/v1/halt", &[("Authorization", &auth)], b"")
}

/// Under the halt switch decisions are made on the blocking pool: a policy that shares its
/// action is refused there too (by the runtime, on the modules it decides with), and nothing
/// is recorded.
#[test]
fn a_policy_that_shares_its_action_is_refused_under_the_halt_switch_too() {
    let s = setup("partial-halt", 1 << 20);
    let two = two_policies(Some(&s.secret));
    std::fs::write(s.tmp.0.join("pay.xopm"), two).unwrap();
    let srv = start(&s);
    let addr = srv.addr();
    let (st, b) = halt(addr, OPS);
    assert_eq!(st, 200, "{b}");
    let size = log_size(addr);
    let (st, o) = decide(addr, "receipt", &pay(5000));
    let message = error_message(st, &o, 409, "partial_policy");
    assert!(
        message.contains("one of 2 policies guarding `t.pay.send_receipt` (receipt, receipt_cap)")
            && message.contains("POST /v1/actions/t.pay.send_receipt/decide"),
        "{message}"
    );
    assert_eq!(log_size(addr), size, "nothing recorded");
    srv.stop().unwrap();
}

/// A hot swap and an unload are proven before they take effect: when their record cannot be
/// written (here: an operator whose name makes it larger than a record may be), the answer is
/// 503 `not_proven` and nothing changed: the old module goes on serving, the unloaded one
/// stays loaded, and no record names the new module.
#[test]
fn a_swap_or_unload_whose_record_fails_changes_nothing() {
    let (s, srv) = unrecordable("unrecorded-swap");
    let addr = srv.addr();
    let before = loaded(addr);
    let size = log_size(addr);
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    let (st, o) = load(addr, "?name=pay", OPS, &v2);
    assert_eq!((st, o["error"].as_str()), (503, Some("not_proven")), "{o}");
    assert_eq!(loaded(addr), before, "the old module serves");
    let (st, o) = decide(addr, "receipt", &pay(5));
    assert_eq!((st, o["reasons"].clone()), (200, json!(["ok"])), "{o}");
    assert_eq!(o["module"], before[0].1, "{o}");
    assert_ne!(before[0].1, hash_of(&v2));
    let (st, o) = unload(addr, "other", OPS);
    assert_eq!((st, o["error"].as_str()), (503, Some("not_proven")), "{o}");
    assert_eq!(loaded(addr), before, "still loaded");
    assert_eq!(decide(addr, "pinger", br#"{"n":1}"#).0, 200);
    // Only the decisions were recorded, and the node still acknowledges.
    assert_eq!(log_size(addr), size + 2);
    let (st, o) = healthz(addr);
    assert_eq!((st, o["status"].as_str()), (200, Some("ok")), "{o}");
    srv.stop().unwrap();
}

/// A client that pipelines requests and never reads the answers (a small receive buffer) is
/// cut off once a write of an answer makes no progress for `timeout_ms`: its connection is
/// reset, well before the deadline of this test, rather than kept for ever.
#[test]
fn a_client_that_never_reads_its_answers_is_cut_off() {
    let s = setup_with("no-reader", 1 << 20, "timeout_ms = 400\n");
    let srv = start(&s);
    let addr = srv.addr();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut client: TcpStream = socket.into();
    client.set_nonblocking(true).unwrap();
    let chunk = b"GET /v1/actions HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    let started = Instant::now();
    let mut at = 0;
    let mut stalled = None;
    let closed = loop {
        if started.elapsed() > Duration::from_secs(20) {
            break None;
        }
        match client.write(&chunk[at..]) {
            Ok(n) => {
                stalled = None;
                at = (at + n) % chunk.len();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stalled.get_or_insert_with(Instant::now);
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                break Some(stalled.map(|t| t.elapsed()));
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    };
    let closed = closed.unwrap_or_else(|| {
        panic!("the connection was still open after 20 s, for a timeout_ms of 400")
    });
    // Cut off a bounded time after the client stopped taking answers (and so requests).
    if let Some(stalled) = closed {
        assert!(stalled < Duration::from_secs(10), "{stalled:?}");
    }
    // The server serves others as before, and stops without waiting for that client.
    assert_eq!(log_size(addr), 0);
    let stopping = Instant::now();
    srv.stop().unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
}

/// A raw request `raw`: the status of the answer (0 when the connection closed without one).
fn status_of(addr: SocketAddr, raw: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may refuse before reading all of it: a failed write is fine then.
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// A request head of `len` bytes (line, headers, the blank line): `GET /healthz` padded with a
/// header.
fn head_of(len: usize) -> Vec<u8> {
    let start = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let pad = len - start.len() - end.len();
    format!("{start}{}{end}", "a".repeat(pad)).into_bytes()
}

/// A head of exactly 408 KiB is served; one byte more, and the 480,000 bytes that were once
/// accepted, are 431.
#[test]
fn the_head_size_limit_is_exact() {
    let s = setup("head-size", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    assert_eq!(MAX_HEAD, 417_792);
    for _ in 0..3 {
        assert_eq!(status_of(addr, &head_of(MAX_HEAD)), 200);
        assert_eq!(status_of(addr, &head_of(MAX_HEAD + 1)), 431);
        assert_eq!(status_of(addr, &head_of(480_000)), 431);
    }
    srv.stop().unwrap();
}

/// Loads `bytes` as the operator under `query`, which names no slot a module file could have:
/// the message of the answer, which must be 400 `code` saying `why` and that nothing was
/// loaded.
#[track_caller]
fn refused_name(addr: SocketAddr, query: &str, bytes: &[u8], code: &str, why: &str) -> String {
    let (st, o) = load(addr, query, OPS, bytes);
    assert_eq!((st, o["error"].as_str()), (400, Some(code)), "{query}: {o}");
    let message = o["message"].as_str().unwrap();
    assert!(
        message.contains(why) && message.ends_with("nothing was loaded"),
        "{message}"
    );
    message.to_string()
}

/// Slot names over HTTP are those a module file could have (start-up names a module after its
/// file): an empty one (`?name=`, `?name`) is 400 `bad_query`, one with a control character, a
/// `/`, `.` or `..`, or longer than 250 bytes is 400 `module_name`; nothing is loaded. A name
/// of 250 bytes loads.
#[test]
fn slot_names_are_those_of_module_files() {
    let s = setup("slot-names", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let before = loaded(addr);
    let other = source_bytes(OTHER, Some(&s.secret));
    let v2 = module_bytes("allow \"ok-v2\"", Some(&s.secret));
    for query in ["?name=", "?name", "?name=&"] {
        let why = "the query parameter `name` is empty";
        refused_name(addr, query, &v2, "bad_query", why);
    }
    let long = "a".repeat(251);
    for (query, why) in [
        (
            "?name=x%0aEVIL%1b%5b31m",
            "contains the control character \\u{a}",
        ),
        ("?name=x%7F", "contains the control character \\u{7f}"),
        ("?name=a%2Fb", "contains `/`"),
        ("?name=..", "is `.` or `..`"),
        ("?name=.", "is `.` or `..`"),
        (
            &format!("?name={long}")[..],
            "is 251 bytes long, more than 250",
        ),
    ] {
        let message = refused_name(addr, query, &other, "module_name", why);
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
    assert_eq!(loaded(addr), before, "nothing loaded");
    assert_eq!(log_size(addr), 0);
    let name = "b".repeat(250);
    let (st, o) = load(addr, &format!("?name={name}"), OPS, &other);
    assert_eq!((st, o["name"].as_str()), (200, Some(name.as_str())), "{o}");
    srv.stop().unwrap();
}

/// A `--module` file whose name has a control character is refused at start-up (its name is
/// shown escaped), and a slot name from the proof log (written by an older version, which
/// did not check names) is printed escaped in the start-up warnings: no raw control
/// character reaches the terminal.
#[test]
fn names_with_control_characters_are_refused_at_start_up_and_printed_escaped() {
    let s = setup("start-up-names", 1 << 20);
    let mut opts = s.opts.clone();
    let odd = s.tmp.0.join("x\u{1b}[31m.xopm");
    std::fs::copy(s.tmp.0.join("pay.xopm"), &odd).unwrap();
    opts.modules = vec![odd];
    let refused = serve(&opts).err().expect("refused");
    assert!(
        refused.contains("`x\\u{1b}[31m` contains the control character \\u{1b}")
            && !refused.contains('\u{1b}'),
        "{refused:?}"
    );
    assert!(!s.opts.data.exists(), "nothing made");
    let log = ProofLog::open(&s.opts.data, LogConfig::default()).unwrap();
    log.append_event(
        "module.loaded",
        json!({"name": "x\nEVIL\u{1b}[31m", "module": "ab12", "by": "ops\r"}),
    )
    .unwrap();
    log.close().unwrap();
    let srv = start(&s);
    let notes = srv.module_notes().to_vec();
    srv.stop().unwrap();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("module `x\\nEVIL\\u{1b}[31m` was serving ab12")
            && notes[0].contains("a hot swap by `ops\\r`"),
        "{notes:?}"
    );
    assert!(!notes[0].chars().any(char::is_control), "{notes:?}");
}

/// While the halt switch is on no case can be approved, also one an operator opened for an
/// action the loaded modules do not review (`send_receipt`, `high_risk: false`): the answer
/// says so, without calling the action high-risk.
#[test]
fn the_halt_refuses_every_approval_and_says_why() {
    let s = setup("halt-low-risk", 1 << 20);
    let srv = start(&s);
    let addr = srv.addr();
    let ops = bearer(OPS);
    let (st, b) = request(
        addr,
        "POST",
        "/v1/reviews",
        &[
            ("Authorization", ops.as_str()),
            ("Content-Type", "application/json"),
        ],
        json!({"action": "t.pay.send_receipt", "policy": "t.pay.receipt",
               "reasons": ["agent-refund"], "role": "fraud_desk", "within_ms": 600_000,
               "fallback": "deny"})
        .to_string()
        .as_bytes(),
    );
    assert_eq!(st, 201, "{b}");
    let id = json_of(&b)["id"].as_str().unwrap().to_string();
    let (st, b) = halt(addr, OPS);
    assert_eq!(st, 200, "{b}");
    let ana = bearer(ANA);
    let (st, b) = request(
        addr,
        "POST",
        &format!("/v1/reviews/{id}/approve"),
        &[("Authorization", ana.as_str())],
        b"",
    );
    let o = json_of(&b);
    let message = error_message(st, &o, 409, "halted");
    assert!(
        message.contains("no review case can be approved until it is lifted")
            && !message.contains("guards a high-risk action"),
        "{message}"
    );
    srv.stop().unwrap();
}

/// Before the first checkpoint (a new, empty log), `GET /v1/log/checkpoint` is 404
/// `no_checkpoint`, in JSON, saying when one is signed.
#[test]
fn no_checkpoint_before_the_first_record() {
    let s = setup("no-checkpoint", 1 << 20);
    let srv = start(&s);
    let (st, b) = request(srv.addr(), "GET", "/v1/log/checkpoint", &[], b"");
    let o = json_of(&b);
    let message = error_message(st, &o, 404, "no_checkpoint");
    assert!(
        message.contains("one is signed within a second of the first record"),
        "{o}"
    );
    srv.stop().unwrap();
}
