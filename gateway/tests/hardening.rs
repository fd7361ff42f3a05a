//! The session's answers to what a QA pass of the gateway found (one test or more per finding):
//! work that waits on the network handed out of the loop, a held call that stays held while the
//! review server cannot be asked, the subject checked at start, numbers refused rather than
//! rounded and requests forwarded as written, tool lists that cannot be filtered, loose method
//! names, invalid upstream answers answered at once, refused tool calls recorded, invalid
//! JSON-RPC refused, Money text read exactly, and messages that say what happened.

#[path = "support/fraud.rs"]
mod fraud;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json, json};
use xop_compiler::db::Workspace;
use xop_gateway::jsonrpc;
use xop_gateway::record::{MemoryRecorder, UnreadLine};
use xop_gateway::session::{
    HeldCall, LocalDesk, Out, Resolution, ReviewDesk, Session, check_subject, pick_agent,
};
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

fn session() -> Session<MemoryRecorder> {
    Session::new(program(), None, subject(), MemoryRecorder::default()).unwrap()
}

fn call(id: Json, tool: &str, args: Json) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
}

fn retry(id: i64, tool: &str, args: &Json, case: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
        "name": tool, "arguments": args, "_meta": {"xop/case": case}}})
    .to_string()
}

/// The one message of `outs`, which must go to the client.
fn to_client(outs: Vec<Out>) -> Json {
    match outs.as_slice() {
        [o] if o.to_client().is_some() => o.to_client().cloned().unwrap_or_default(),
        other => panic!("expected one message to the client, got {other:?}"),
    }
}

fn nothing_upstream(outs: &[Out]) {
    assert!(outs.iter().all(|o| o.to_upstream().is_none()), "{outs:?}");
}

/// The events recorded, with their reasons.
fn records(s: &Session<MemoryRecorder>) -> Vec<(String, Json)> {
    (s.recorder().records.iter())
        .map(|r| {
            (
                r["event"].as_str().unwrap().to_string(),
                r["reasons"].clone(),
            )
        })
        .collect()
}

/// A desk whose answers the test sets, counting how often it is asked.
#[derive(Clone, Default)]
struct Desk {
    halted: Arc<Mutex<Option<Result<bool, String>>>>,
    resolution: Arc<Mutex<Option<Resolution>>>,
    asked: Arc<AtomicUsize>,
    remote: bool,
}

impl ReviewDesk for Desk {
    fn open(&self, _call: &HeldCall<'_>) -> Result<String, String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok("rv-1".into())
    }

    fn resolution(&self, _id: &str) -> Resolution {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.resolution
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(Resolution::Pending)
    }

    fn halted(&self) -> Result<bool, String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.halted.lock().unwrap().clone().unwrap_or(Ok(false))
    }

    fn remote(&self) -> bool {
        self.remote
    }
}

// 1. The review server's round trips are work for another thread: the call waits, parked, and
// the session answers everything else meanwhile.
#[test]
fn review_server_round_trips_are_handed_out_and_nothing_else_waits() {
    let desk = Desk {
        remote: true,
        ..Desk::default()
    };
    let mut s = session().with_desk(desk.clone()).with_work_off_loop();
    let limit = json!({"limit": "5000.00 EUR"});
    // The high-risk call needs the halt switch: handed out, not asked here.
    let outs = s.from_client(&call(json!(1), "set_limit", limit.clone()));
    let [Out::Work(halt)] = outs.as_slice() else {
        panic!("expected work, got {outs:?}");
    };
    assert_eq!(
        desk.asked.load(Ordering::SeqCst),
        0,
        "nothing asked in place"
    );
    assert_eq!(s.pending(), 1);
    // Meanwhile: a small refund is forwarded, an unbound tool refused, a ping forwarded.
    let outs = s.from_client(&call(
        json!(2),
        "refund",
        json!({"amount": "5.00 EUR", "reason": "x"}),
    ));
    assert!(outs[0].to_upstream().is_some(), "{outs:?}");
    let out = to_client(s.from_client(&call(json!(3), "export", json!({}))));
    assert_eq!(out["error"]["code"], jsonrpc::UNBOUND_TOOL);
    // The parked call's id is in use.
    let out = to_client(s.from_client(&call(json!(1), "set_limit", limit.clone())));
    assert_eq!(out["error"]["code"], jsonrpc::INVALID_REQUEST);
    // The halt switch is off: the next work opens the case; then the call is held.
    let outs = s.worked(halt.clone().run());
    let [Out::Work(open)] = outs.as_slice() else {
        panic!("expected work, got {outs:?}");
    };
    let held = to_client(s.worked(open.clone().run()));
    assert_eq!(held["id"], 1);
    assert_eq!(held["result"]["structuredContent"]["case"], "rv-1");
    assert_eq!(s.pending(), 1, "only the forwarded refund waits");
    // The retry asks the halt switch, then the case, both handed out; approved: forwarded.
    *desk.resolution.lock().unwrap() = Some(Resolution::Approved { by: "ann".into() });
    let outs = s.from_client(&retry(4, "set_limit", &limit, "rv-1"));
    let [Out::Work(halt)] = outs.as_slice() else {
        panic!("expected work, got {outs:?}");
    };
    let outs = s.worked(halt.clone().run());
    let [Out::Work(resolution)] = outs.as_slice() else {
        panic!("expected work, got {outs:?}");
    };
    let outs = s.worked(resolution.clone().run());
    let up = outs[0].to_upstream().expect("forwarded");
    assert_eq!(up["params"]["name"], "set_limit");
    // A local desk is asked in place (nothing to wait for).
    let mut local = session().with_work_off_loop();
    let held = to_client(local.from_client(&call(json!(1), "set_limit", limit)));
    assert_eq!(
        held["result"]["structuredContent"]["status"],
        "pending-review"
    );
}

// 1. A call the client cancels while it waits for the review server is never forwarded.
#[test]
fn a_call_cancelled_while_parked_is_dropped() {
    let desk = Desk {
        remote: true,
        ..Desk::default()
    };
    let mut s = session().with_desk(desk).with_work_off_loop();
    let outs = s.from_client(&call(json!(9), "set_limit", json!({"limit": "1.00 EUR"})));
    let [Out::Work(work)] = outs.as_slice() else {
        panic!("expected work, got {outs:?}");
    };
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": 9}});
    // Not passed upstream either: the upstream never saw the request.
    assert!(s.from_client(&cancel.to_string()).is_empty());
    assert!(s.worked(work.clone().run()).is_empty());
    assert_eq!(s.pending(), 0);
}

// 4. While the review server cannot be asked, a held call's retry stays held (the held
// result again, saying the case stays open), not denied; a new high-risk call is denied.
#[test]
fn a_held_calls_retry_stays_held_while_the_server_cannot_be_asked() {
    let desk = Desk::default();
    let mut s = session().with_desk(desk.clone());
    let limit = json!({"limit": "5000.00 EUR"});
    let held = to_client(s.from_client(&call(json!(1), "set_limit", limit.clone())));
    assert_eq!(held["result"]["structuredContent"]["case"], "rv-1");
    *desk.halted.lock().unwrap() = Some(Err("the review server did not answer".into()));
    let again = to_client(s.from_client(&retry(2, "set_limit", &limit, "rv-1")));
    let r = &again["result"];
    assert_eq!(r["isError"], true, "{again}");
    assert_eq!(r["structuredContent"]["status"], "pending-review");
    assert_eq!(r["structuredContent"]["case"], "rv-1");
    assert_eq!(
        r["structuredContent"]["reasons"],
        json!(["credit-decision", "xop:halt-unknown"])
    );
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("the case stays open"), "{text}");
    // Once the server answers again and a reviewer approved: forwarded.
    *desk.halted.lock().unwrap() = None;
    *desk.resolution.lock().unwrap() = Some(Resolution::Approved { by: "ann".into() });
    let outs = s.from_client(&retry(3, "set_limit", &limit, "rv-1"));
    assert!(outs[0].to_upstream().is_some(), "{outs:?}");
    // A new high-risk call while the server cannot say: denied (fail-closed), no case.
    *desk.halted.lock().unwrap() = Some(Err("no answer".into()));
    let out = to_client(s.from_client(&call(json!(4), "set_limit", limit)));
    assert_eq!(out["error"]["code"], jsonrpc::DENIED);
    assert_eq!(
        out["error"]["data"]["reasons"],
        json!(["credit-decision", "xop:halt-unknown"])
    );
    let events: Vec<String> = records(&s).into_iter().map(|(e, _)| e).collect();
    assert_eq!(
        events,
        [
            "mcp.tools_call",
            "mcp.review_pending",
            "mcp.review_approved",
            "mcp.halt_fallback"
        ]
    );
}

// 5. A subject value that does not fit its parameter is refused at start, with its path.
#[test]
fn the_subject_is_bound_at_start() {
    let p = program();
    let agent = pick_agent(&p, None).unwrap();
    let bad = |v: Json| {
        check_subject(&p, agent, v.as_object().unwrap())
            .unwrap_err()
            .to_string()
    };
    let e = bad(json!({"to": 5}));
    assert!(e.starts_with("to: expected a Customer"), "{e}");
    assert!(e.contains("tool \"refund\""), "{e}");
    let e = bad(json!({"to": {"id": "c-1", "vip": "no"}}));
    assert!(e.starts_with("to.vip: "), "{e}");
    let e = bad(json!({"to": {"id": "c-1"}}));
    assert!(e.starts_with("to.vip: missing"), "{e}");
    // A key that is an argument of every tool taking it, or of no action, is not looked at.
    assert!(check_subject(&p, agent, &subject()).is_ok());
    let mut extra = subject();
    extra.insert("amount".into(), json!(5));
    extra.insert("unrelated".into(), json!([1]));
    assert!(check_subject(&p, agent, &extra).is_ok());
    // Session::new refuses it too.
    let e = Session::new(
        p.clone(),
        None,
        json!({"to": 5}).as_object().cloned().unwrap(),
        MemoryRecorder::default(),
    )
    .unwrap_err();
    assert!(e.starts_with("to: expected a Customer"), "{e}");
}

// 6. A number JSON reads rounded is refused (xop:bad-input, as `xop serve`'s 400
// inexact_number), and an allowed call is forwarded as the client wrote it.
#[test]
fn inexact_numbers_are_refused_and_requests_forwarded_as_written() {
    let mut s = session();
    let line = call(
        json!(1),
        "refund",
        json!({"amount": {"amount": "1.00", "currency": "EUR"}, "reason": "x"}),
    )
    .replace("\"1.00\"", "99.99999999999999999999");
    let out = to_client(s.from_client(&line));
    assert_eq!(out["error"]["code"], jsonrpc::DENIED, "{out}");
    assert_eq!(out["error"]["data"]["reasons"], json!(["xop:bad-input"]));
    let why = out["error"]["data"]["error"].as_str().unwrap();
    assert!(
        why.starts_with(
            "tool \"refund\": amount.amount: the number 99.99999999999999999999 cannot be read \
             as written"
        ),
        "{why}"
    );
    // An inexact number elsewhere than in the arguments does not refuse the call; the
    // arguments' numbers, kept, are forwarded as written: `20.50`, `1e1`, `-0`, the spaces.
    let line = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"_meta":{"n":0.1000000000000000000000000001},"name":"refund","arguments":{ "amount" : {"amount": 20.50, "currency": "EUR"}, "reason": "caf\u00e9 1e1 -0"}}}"#;
    let outs = s.from_client(line);
    match outs.as_slice() {
        [Out::UpstreamText(v)] => assert_eq!(v.text, line),
        other => panic!("expected the line forwarded as written, got {other:?}"),
    }
    let line = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"refund","arguments":{"amount":{"amount":-0,"currency":"EUR"},"reason":"x"}}}"#;
    match s.from_client(line).as_slice() {
        [Out::UpstreamText(v)] => assert_eq!(v.text, line),
        other => panic!("expected the line forwarded as written, got {other:?}"),
    }
    // The tool's answer comes back as it wrote it too.
    let answer = r#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"n":1e2, "isError":false}}"#;
    match s.from_upstream(answer).as_slice() {
        [Out::ClientText(v)] => assert_eq!(v.text, answer),
        other => panic!("expected the answer as written, got {other:?}"),
    }
}

// 7. A tools/list answer the gateway cannot filter never reaches the client.
#[test]
fn unfilterable_tool_lists_are_never_passed_on() {
    let mut s = session();
    for (i, result) in [
        json!({"tools": {"export_customers": {}}}),
        json!({"tools": "export_customers"}),
        json!({"items": [{"name": "export_customers"}]}),
        json!([{"name": "export_customers"}]),
    ]
    .into_iter()
    .enumerate()
    {
        let id = json!(format!("l{i}"));
        s.from_client(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}).to_string());
        let answer = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
        let outs = s.from_upstream(&answer);
        let out = outs.iter().find_map(Out::to_client).expect("an answer");
        assert_eq!(out["error"]["code"], jsonrpc::INTERNAL_ERROR, "{out}");
        assert!(!out.to_string().contains("export_customers"), "{out}");
    }
    // Both a result and an error, or a method: not passed on either.
    for (i, answer) in [
        r#"{"jsonrpc":"2.0","id":"m0","result":{"tools":[{"name":"export"}]},"error":{"code":1,"message":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":"m1","method":"tools/list","result":{"tools":[{"name":"export"}]}}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("m{i}");
        s.from_client(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"}).to_string());
        let outs = s.from_upstream(answer);
        let out = outs.iter().find_map(Out::to_client).expect("an answer");
        assert_eq!(out["id"], id.as_str());
        assert_eq!(out["error"]["code"], jsonrpc::INTERNAL_ERROR, "{out}");
        assert!(!out.to_string().contains("\"export\""), "{out}");
    }
    // An error answer passes as it is.
    s.from_client(r#"{"jsonrpc":"2.0","id":"e","method":"tools/list"}"#);
    let err = r#"{"jsonrpc":"2.0","id":"e","error":{"code":-32000,"message":"busy"}}"#;
    let out = to_client(s.from_upstream(err));
    assert_eq!(out["error"]["message"], "busy");
}

// 8. A method that reads as tools/call or tools/list to a loose reader is refused, never
// forwarded (and recorded when it reads as a tool call).
#[test]
fn loose_variants_of_the_tool_methods_are_refused() {
    let mut s = session();
    let methods = [
        "tools/call ",
        "tools/call\u{0}",
        "/tools/call",
        "tools//call",
        "tools/call/",
        "tools\\call",
        "\ttools/call\n",
        "tools/ca\u{200b}ll",
        "\u{feff}tools/call",
        "Tools/Call",
        "ｔｏｏｌｓ/ｃａｌｌ",
        "tools/list ",
        "TOOLS//LIST",
    ];
    for (i, method) in methods.iter().enumerate() {
        let line = json!({"jsonrpc": "2.0", "id": i, "method": method,
                          "params": {"name": "refund", "arguments": {"amount": "1.00 EUR", "reason": "x"}}});
        let outs = s.from_client(&line.to_string());
        nothing_upstream(&outs);
        let out = to_client(outs);
        assert_eq!(
            out["error"]["code"],
            jsonrpc::METHOD_NOT_FOUND,
            "{method:?}"
        );
    }
    // The tool-call variants are recorded as the agent's attempts.
    let calls = (methods.iter())
        .filter(|m| !m.to_lowercase().contains("list"))
        .count();
    assert_eq!(s.recorder().records.len(), calls);
    // Other methods pass.
    let line = json!({"jsonrpc": "2.0", "id": 99, "method": "tools/calls"});
    assert!(s.from_client(&line.to_string())[0].to_upstream().is_some());
}

// 9. An invalid answer to a request that waits is answered at once, saying why.
#[test]
fn an_invalid_answer_is_answered_at_once() {
    let mut s = session();
    s.from_client(r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#);
    let outs = s.from_upstream(
        r#"{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"refund","name":"export"}]}}"#,
    );
    let out = outs
        .iter()
        .find_map(Out::to_client)
        .expect("an answer at once");
    assert_eq!(out["id"], 5);
    assert_eq!(out["error"]["code"], jsonrpc::INTERNAL_ERROR);
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("is given twice"), "{message}");
    assert_eq!(s.pending(), 0);
    // A later valid answer is no longer for anyone.
    let late = r#"{"jsonrpc":"2.0","id":5,"result":{"tools":[]}}"#;
    assert!(matches!(s.from_upstream(late).as_slice(), [Out::Warn(_)]));
    // Not UTF-8, or too long: the head is enough to find the id.
    let refund = call(
        json!("r"),
        "refund",
        json!({"amount": "1.00 EUR", "reason": "x"}),
    );
    s.from_client(&refund);
    let outs = s.upstream_unreadable(
        "{\"jsonrpc\":\"2.0\",\"id\":\"r\",\"result\":{\"content\":[{\"text\":\"\u{fffd}",
        "the line is not UTF-8",
    );
    let out = outs
        .iter()
        .find_map(Out::to_client)
        .expect("an answer at once");
    assert_eq!(out["id"], "r");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not UTF-8") && message.contains("the tool may have acted"),
        "{message}"
    );
    // An id nobody waits for, or none: a warning only.
    assert!(matches!(
        s.upstream_unreadable("{\"id\":77,", "x").as_slice(),
        [Out::Warn(_)]
    ));
}

// 11. Tool calls refused at the protocol level are recorded as tool calls.
#[test]
fn protocol_refusals_of_tool_calls_are_recorded() {
    let mut s = session();
    let lines = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":[]}}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"refund","arguments":{"amount":"900.00 EUR","amount":"20.00 EUR","reason":"dup"}}}"#,
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"refund","arguments":{"amount":"900.00 EUR","reason":"notif"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"Tools/Call","params":{"name":"refund","arguments":{"amount":"20.00 EUR","reason":"x"}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"refund","_meta":{"xop/case":7}}}"#,
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","result":{},"params":{"name":"refund"}}"#,
    ];
    for line in lines {
        let outs = s.from_client(line);
        nothing_upstream(&outs);
    }
    let recs = records(&s);
    assert_eq!(recs.len(), lines.len(), "{recs:?}");
    for (event, reasons) in &recs {
        assert_eq!(event, "mcp.tools_call");
        assert_eq!(reasons, &json!(["xop:bad-request"]));
    }
    let tools: Vec<&str> = (s.recorder().records.iter())
        .map(|r| r["tool"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "refund", "refund", "refund", "refund", "", "refund", "refund"
        ]
    );
    // Unreadable lines that are tool calls too.
    s.client_unreadable(
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"ref"#,
        "too long",
        too_long(20 << 20),
    );
    assert_eq!(s.recorder().records.len(), lines.len() + 1);
    s.client_unreadable(
        r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
        "x",
        not_utf8(40),
    );
    assert_eq!(s.recorder().records.len(), lines.len() + 1);
}

fn too_long(bytes: u64) -> UnreadLine {
    UnreadLine {
        too_long: true,
        bytes,
    }
}

fn not_utf8(bytes: u64) -> UnreadLine {
    UnreadLine {
        too_long: false,
        bytes,
    }
}

/// The records of a session, from the `n`th on: each one's tool and `line`.
fn lines_recorded(s: &Session<MemoryRecorder>, n: usize) -> Vec<(String, Json)> {
    (s.recorder().records[n..].iter())
        .map(|r| {
            assert_eq!(r["event"], "mcp.tools_call", "{r}");
            assert_eq!(r["reasons"], json!(["xop:bad-request"]), "{r}");
            (r["tool"].as_str().unwrap().to_string(), r["line"].clone())
        })
        .collect()
}

/// Asserts that `outs` forward nothing and answer the client `code` with id `null`.
fn refused_unread(outs: Vec<Out>, code: i64) {
    nothing_upstream(&outs);
    let out = to_client(outs);
    assert_eq!(
        (out["id"].clone(), out["error"]["code"].clone()),
        (Json::Null, json!(code))
    );
}

// 11b. A line refused unread (too long, not UTF-8) leaves a record of its refusal when it is,
// or may be, a tool call: why it was refused and its length, never its bytes.
#[test]
fn lines_refused_unread_are_recorded_when_they_may_be_tool_calls() {
    let mut s = session();
    // A batch too long: its head cannot say what the rest holds, so the line is recorded once.
    let batch_head = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":{"reason":"xxxx"#;
    refused_unread(
        s.client_unreadable(batch_head, "too long", too_long(17 << 20)),
        jsonrpc::INVALID_REQUEST,
    );
    assert_eq!(
        lines_recorded(&s, 0),
        [(
            String::new(),
            json!({"refused": "too-long", "bytes": 17 << 20})
        )]
    );
    // A batch of pings too long: the same (its head alone cannot rule a tool call out).
    let pings = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    refused_unread(
        s.client_unreadable(pings, "x", too_long(1 << 25)),
        jsonrpc::INVALID_REQUEST,
    );
    assert_eq!(lines_recorded(&s, 1).len(), 1);
    // An object too long whose head names no method: it may be a tool call.
    let no_method = r#"{"jsonrpc":"2.0","id":3,"params":{"x":"yyy"#;
    refused_unread(
        s.client_unreadable(no_method, "x", too_long(1 << 25)),
        jsonrpc::INVALID_REQUEST,
    );
    assert_eq!(lines_recorded(&s, 2).len(), 1);
    // One too long that reads as another method is not a tool call: not recorded.
    let ping = r#"{"jsonrpc":"2.0","id":4,"method":"ping","params":{"x":"#;
    refused_unread(
        s.client_unreadable(ping, "x", too_long(1 << 25)),
        jsonrpc::INVALID_REQUEST,
    );
    assert_eq!(s.recorder().records.len(), 3);
    // A batch not UTF-8 (read whole, bad bytes replaced): one record per tool call, with its
    // tool's name, as for a batch that is valid text.
    let batch = concat!(
        "[{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"refund\",\"arguments\":{\"reason\":\"\u{fffd}\"}}},",
        r#"{"jsonrpc":"2.0","id":6,"method":"ping"},"#,
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"export","arguments":{}}}]"#
    );
    refused_unread(
        s.client_unreadable(batch, "the line is not UTF-8", not_utf8(233)),
        jsonrpc::PARSE_ERROR,
    );
    let line = json!({"refused": "not-utf-8", "bytes": 233});
    assert_eq!(
        lines_recorded(&s, 3),
        [
            ("refund".to_string(), line.clone()),
            ("export".to_string(), line)
        ]
    );
    // A single tool call not UTF-8, and one that is not JSON either: recorded; a ping is not.
    let refund = "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":\"refund\",\"arguments\":{\"reason\":\"\u{fffd}\"}}}";
    refused_unread(
        s.client_unreadable(refund, "x", not_utf8(98)),
        jsonrpc::PARSE_ERROR,
    );
    let cut = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"#;
    refused_unread(
        s.client_unreadable(cut, "x", not_utf8(60)),
        jsonrpc::PARSE_ERROR,
    );
    let ping = "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\",\"x\":\"\u{fffd}\"}";
    refused_unread(
        s.client_unreadable(ping, "x", not_utf8(51)),
        jsonrpc::PARSE_ERROR,
    );
    assert_eq!(
        lines_recorded(&s, 5),
        [
            (
                "refund".to_string(),
                json!({"refused": "not-utf-8", "bytes": 98})
            ),
            (String::new(), json!({"refused": "not-utf-8", "bytes": 60})),
        ]
    );
    // Other refusals' records have no `line`.
    s.from_client(
        r#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"refund","arguments":[]}}"#,
    );
    assert_eq!(lines_recorded(&s, 7), [("refund".to_string(), Json::Null)]);
}

// 11c. When the log cannot take the record of a line refused unread, the line is refused as
// ever, with a warning: as for every refusal's record.
#[test]
fn a_line_refused_unread_whose_record_fails_is_refused_with_a_warning() {
    let mut s = Session::new(
        program(),
        None,
        subject(),
        MemoryRecorder {
            fail: true,
            ..MemoryRecorder::default()
        },
    )
    .unwrap();
    let outs = s.client_unreadable(r#"[{"jsonrpc":"2.0""#, "too long", too_long(1 << 25));
    nothing_upstream(&outs);
    let warned: Vec<&String> = outs
        .iter()
        .filter_map(|o| match o {
            Out::Warn(w) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(warned.len(), 1, "{outs:?}");
    assert!(
        warned[0].contains("could not be recorded in the proof log: the log is full"),
        "{}",
        warned[0]
    );
    let out = outs.iter().find_map(Out::to_client).expect("the refusal");
    assert_eq!(
        (out["id"].clone(), out["error"]["code"].clone()),
        (Json::Null, json!(jsonrpc::INVALID_REQUEST))
    );
}

// 11d. In the proof log itself: the refusal of a line refused unread is an `mcp.tools_call`
// event whose `line` says why and how long; a decided call's event has no `line`.
#[test]
fn a_line_refused_unread_is_an_event_of_the_proof_log() {
    use xop_gateway::record::EngineRecorder;
    use xop_runtime::proof::record::{Body, decode};
    let program = fraud::program();
    let dir = fraud::log_dir("xop-gw-unread-line");
    let recorder = EngineRecorder::open(&dir, &fraud::module_bytes(&program)).unwrap();
    let customer = json!({"to": {"id": "c-1", "msisdn": "+33612345678"}});
    let subject = customer.as_object().cloned().unwrap_or_default();
    let mut s = Session::new(program, None, subject, recorder).unwrap();
    let head = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund""#;
    let outs = s.client_unreadable(head, "too long", too_long(20 << 20));
    assert!(!outs.iter().any(|o| matches!(o, Out::Warn(_))), "{outs:?}");
    s.from_client(&fraud::call(2));
    s.into_recorder().close().unwrap();
    let mut r = xop_runtime::proof::verify::LogReader::open(&dir).unwrap();
    let mut calls = Vec::new();
    for seq in 0..r.size() {
        if let Body::Event { name, data } = decode(&r.record_bytes(seq).unwrap()).unwrap().body
            && name == "mcp.tools_call"
        {
            calls.push(data);
        }
    }
    let [unread, decided] = calls.as_slice() else {
        panic!("expected two calls recorded, got {calls:?}");
    };
    assert_eq!(
        (&unread["tool"], &unread["verdict"], &unread["reasons"]),
        (&json!(""), &json!("deny"), &json!(["xop:bad-request"]))
    );
    assert_eq!(
        unread["line"],
        json!({"refused": "too-long", "bytes": 20 << 20})
    );
    assert_eq!(decided["tool"], "refund");
    assert!(decided.get("line").is_none(), "{decided}");
    let _ = std::fs::remove_dir_all(&dir);
}

// 12. Invalid JSON-RPC and MCP messages from the client are refused.
#[test]
fn invalid_messages_from_the_client_are_refused() {
    let mut s = session();
    let cases = [
        (
            r#"{"jsonrpc":"2.0","id":21,"result":{},"method":"ping"}"#,
            jsonrpc::INVALID_REQUEST,
        ),
        (
            r#"{"jsonrpc":"2.0","id":92,"result":{},"error":{"code":1,"message":"m"}}"#,
            jsonrpc::INVALID_REQUEST,
        ),
        (
            r#"{"jsonrpc":"2.0","id":93,"error":{"code":"1","message":"m"}}"#,
            jsonrpc::INVALID_REQUEST,
        ),
        (
            r#"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":5}}"#,
            jsonrpc::INVALID_PARAMS,
        ),
        (
            r#"{"jsonrpc":"2.0","id":3,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#,
            jsonrpc::INVALID_PARAMS,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":[],"clientInfo":{"name":"c","version":"1"}}}"#,
            jsonrpc::INVALID_PARAMS,
        ),
        (
            r#"{"jsonrpc":"2.0","id":5,"method":"initialize"}"#,
            jsonrpc::INVALID_PARAMS,
        ),
    ];
    for (line, code) in cases {
        let outs = s.from_client(line);
        nothing_upstream(&outs);
        let out = to_client(outs);
        assert_eq!(out["error"]["code"], code, "{line}: {out}");
    }
}

// 14. Money text is exactly `<amount> <CODE>`.
#[test]
fn money_arguments_with_other_blanks_are_refused() {
    let mut s = session();
    for amount in [
        "20.00\tEUR",
        "20.00 EUR\n",
        " 20.00\u{a0}EUR ",
        "20.00  EUR",
        "20.00\u{2009}EUR",
    ] {
        let outs = s.from_client(&call(
            json!(1),
            "refund",
            json!({"amount": amount, "reason": "x"}),
        ));
        nothing_upstream(&outs);
        let out = to_client(outs);
        assert_eq!(
            out["error"]["data"]["reasons"],
            json!(["xop:bad-input"]),
            "{amount:?}"
        );
    }
    let outs = s.from_client(&call(
        json!(2),
        "refund",
        json!({"amount": "20.00 EUR", "reason": "x"}),
    ));
    assert!(outs[0].to_upstream().is_some());
}

// 15. Without a review server, the held answer says that nobody can approve the case.
#[test]
fn a_local_desks_held_answer_does_not_promise_an_approval() {
    let mut s = session().with_desk(LocalDesk);
    let held = to_client(s.from_client(&call(
        json!(1),
        "set_limit",
        json!({"limit": "5000.00 EUR"}),
    )));
    let r = &held["result"];
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(!text.contains("after approval"), "{text}");
    assert!(text.contains("nobody can approve it"), "{text}");
    assert!(text.contains("fallback (deny) applies"), "{text}");
    assert_eq!(r["structuredContent"]["approvable"], false);
    // A desk with reviewers says to retry after approval.
    let mut s = session().with_desk(Desk::default());
    let held = to_client(s.from_client(&call(
        json!(1),
        "set_limit",
        json!({"limit": "5000.00 EUR"}),
    )));
    let text = held["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("after approval"), "{text}");
}

// 15. JSON nested too deep is valid JSON: said so, not "invalid JSON".
#[test]
fn too_deep_json_is_not_called_invalid() {
    let mut s = session();
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"x":{}{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let out = to_client(s.from_client(&line));
    assert_eq!(out["error"]["code"], jsonrpc::INVALID_REQUEST);
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("more than 128 deep"), "{message}");
    assert!(!message.contains("invalid JSON"), "{message}");
}
