//! What a QA pass found where the gateway decided on one value and forwarded a text its tool
//! reads as another, or refused a call without a record: integers beyond 2^53 − 1 (read
//! rounded by a tool reading numbers as doubles, as Node's `JSON.parse` does), in the arguments
//! and as ids; times with digits past the millisecond (decided cut to the millisecond); and
//! tool calls inside a batch (refused, but not recorded).

use serde_json::{Map, Value as Json, json};
use xop_compiler::db::Workspace;
use xop_gateway::jsonrpc;
use xop_gateway::record::MemoryRecorder;
use xop_gateway::session::{Out, Session, check_subject, pick_agent};
use xop_runtime::ir::Program;

const SOURCE: &str = r#"module qa.exact
purpose service
record Customer {
  id: Id
  account: Int
  deadline: Time
}
/// Pay out to an account.
action payout(to: Customer, account: Int) purpose service risk minimal
/// Schedule something.
action schedule(to: Customer, when_: Time) purpose service risk minimal
agent bot {
  tool "payout" -> payout(account)
  tool "schedule" -> schedule(when_)
}
policy payouts for payout(to: c, account: a) {
  deny "not-the-customers-account" unless a == c.account
  allow "own-account"
}
policy scheduling for schedule(to: c, when_: t) {
  deny "after-deadline" when t > c.deadline
  allow "in-time"
}
"#;

fn program() -> Program {
    let mut ws = Workspace::new();
    ws.set_file("exact.xop", SOURCE);
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

/// A session for the customer with `account` and `deadline`, given as JSON texts (the subject
/// is read as `xop mcp-gateway --subject` reads it).
fn session(account: &str, deadline: &str) -> Session<MemoryRecorder> {
    let text = format!(r#"{{"to": {{"id": "c1", "account": {account}, "deadline": {deadline}}}}}"#);
    let subject: Map<String, Json> = match xop_runtime::bind::parse_input(&text) {
        Ok(Json::Object(o)) => o,
        other => panic!("the subject {text} reads as an object, got {other:?}"),
    };
    let program = program();
    let agent = pick_agent(&program, None).expect("one agent");
    check_subject(&program, agent, &subject).expect("the subject binds");
    Session::new(program, None, subject, MemoryRecorder::default()).expect("a session")
}

/// A `tools/call` line with the arguments' JSON text as written.
fn call(id: &str, tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

/// The one message of `outs`, which must go to the client.
fn to_client(outs: &[Out]) -> Json {
    match outs {
        [o] if o.to_client().is_some() => o.to_client().cloned().unwrap_or_default(),
        other => panic!("expected one message to the client, got {other:?}"),
    }
}

/// The line forwarded upstream, which must be the only message.
fn forwarded(outs: &[Out]) -> String {
    match outs {
        [Out::UpstreamText(v)] => v.text.clone(),
        other => panic!("expected the call forwarded, got {other:?}"),
    }
}

/// The events recorded: event, tool, reasons.
fn records(s: &Session<MemoryRecorder>) -> Vec<(String, String, Json)> {
    (s.recorder().records.iter())
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (text("event"), text("tool"), r["reasons"].clone())
        })
        .collect()
}

/// A call refused as bad input: its error says `why` (after the tool and the path), and it is
/// recorded as such. The error.
fn bad_input(
    s: &mut Session<MemoryRecorder>,
    line: &str,
    tool: &str,
    path: &str,
    why: &str,
) -> String {
    let before = s.recorder().records.len();
    let out = to_client(&s.from_client(line));
    assert_eq!(out["error"]["code"], jsonrpc::DENIED, "{out}");
    assert_eq!(
        out["error"]["data"]["reasons"],
        json!(["xop:bad-input"]),
        "{out}"
    );
    let error = out["error"]["data"]["error"].as_str().unwrap_or_default();
    let head = format!("tool \"{tool}\": {path}: ");
    assert!(
        error.starts_with(&head) && error.contains(why),
        "{error}\nshould start {head}\nand say {why}"
    );
    let recorded = &records(s)[before..];
    assert_eq!(
        recorded,
        [(
            "mcp.tools_call".to_string(),
            tool.to_string(),
            json!(["xop:bad-input"])
        )]
    );
    error.to_string()
}

#[test]
fn integers_beyond_2_pow_53_in_the_arguments_are_bad_input() {
    // The subject is the operator's, never forwarded: it keeps its 64 bits.
    let mut s = session("9007199254740993", r#""2026-12-01T00:00:00Z""#);
    const WHY: &str = "is beyond what every JSON reader keeps exactly (±9007199254740991";
    // The account the policy denies reads, to a JSON.parse tool, as the one it would allow.
    for (id, account) in [
        ("1", "9007199254740993"),
        ("2", "9007199254740992"),
        ("3", "-9007199254740992"),
        ("4", "18446744073709551615"),
    ] {
        let line = call(id, "payout", &format!(r#"{{"account": {account}}}"#));
        let why = format!("the number {account} {WHY}");
        let error = bad_input(&mut s, &line, "payout", "account", &why);
        assert!(
            error.contains("give a number within ±9007199254740991"),
            "{error}"
        );
    }
    // The largest integer every reader keeps is decided and forwarded as written.
    let mut s = session("9007199254740991", r#""2026-12-01T00:00:00Z""#);
    let line = call("5", "payout", r#"{ "account" : 9007199254740991 }"#);
    assert_eq!(forwarded(&s.from_client(&line)), line);
    let line = call("6", "payout", r#"{"account": -9007199254740991}"#);
    let out = to_client(&s.from_client(&line));
    assert_eq!(
        out["error"]["data"]["reasons"],
        json!(["not-the-customers-account"])
    );
}

#[test]
fn ids_beyond_2_pow_53_are_invalid_requests() {
    let mut s = session("1", r#""2026-12-01T00:00:00Z""#);
    for id in [
        "9007199254740993",
        "-9007199254740992",
        "9223372036854775807",
    ] {
        let line = call(id, "payout", r#"{"account": 1}"#);
        let outs = s.from_client(&line);
        let out = to_client(&outs);
        assert_eq!(out["error"]["code"], jsonrpc::INVALID_REQUEST, "{out}");
        assert_eq!(out["id"], Json::Null, "{out}");
        let message = out["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("within ±9007199254740991"), "{message}");
        // A tool call refused before it could be decided: recorded as such.
        let last = records(&s).pop();
        assert_eq!(
            last,
            Some((
                "mcp.tools_call".into(),
                "payout".into(),
                json!(["xop:bad-request"])
            )),
            "{id}"
        );
        let ping = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
        let out = to_client(&s.from_client(&ping));
        assert_eq!(out["error"]["code"], jsonrpc::INVALID_REQUEST, "{out}");
    }
    // Within ±(2^53 − 1), an integer id is taken and echoed as sent.
    let line = call("-9007199254740991", "payout", r#"{"account": 1}"#);
    assert_eq!(forwarded(&s.from_client(&line)), line);
}

#[test]
fn times_past_the_millisecond_in_the_arguments_are_bad_input() {
    let mut s = session("1", r#""2026-12-01T00:00:00Z""#);
    // Decided as 00:00:00.000 (not after the deadline), read by the tool as after it.
    for (id, when) in [
        ("1", "2026-12-01T00:00:00.0009Z"),
        ("2", "2026-12-01T00:00:00.000999999Z"),
        ("3", "2026-12-01T01:00:00.0000001+01:00"),
    ] {
        let line = call(id, "schedule", &format!(r#"{{"when_": "{when}"}}"#));
        let why = format!(
            "the time \"{when}\" has digits past the millisecond (`{}`), which xop drops",
            &when[23..when.len() - if when.ends_with('Z') { 1 } else { 6 }]
        );
        let error = bad_input(&mut s, &line, "schedule", "when_", &why);
        assert!(
            error.contains("give at most millisecond precision"),
            "{error}"
        );
    }
    // Digits past the millisecond that are all 0 are the instant decided on: forwarded as
    // written, or denied on it.
    for (id, when) in [
        ("4", "2026-12-01T00:00:00.000000Z"),
        ("5", "2026-11-30T23:59:59.999000Z"),
        ("6", "2026-12-01T00:00:00Z"),
    ] {
        let line = call(id, "schedule", &format!(r#"{{"when_": "{when}"}}"#));
        assert_eq!(forwarded(&s.from_client(&line)), line);
    }
    let line = call(
        "7",
        "schedule",
        r#"{"when_": "2026-12-01T00:00:00.001000Z"}"#,
    );
    let out = to_client(&s.from_client(&line));
    assert_eq!(out["error"]["data"]["reasons"], json!(["after-deadline"]));
    // The subject is never forwarded: its times are read as a decision's input's are, to the
    // millisecond (here the deadline is decided as 00:00:00.000).
    let mut s = session("1", r#""2026-12-01T00:00:00.0009Z""#);
    let line = call("8", "schedule", r#"{"when_": "2026-12-01T00:00:00.000Z"}"#);
    assert_eq!(forwarded(&s.from_client(&line)), line);
}

#[test]
fn each_tool_call_of_a_refused_batch_is_recorded() {
    let mut s = session("1", r#""2026-12-01T00:00:00Z""#);
    let batch = format!(
        "[{}, {}, {}, {}, {}]",
        call("1", "payout", r#"{"account": 1}"#),
        r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
        call("3", "schedule", r#"{"when_": "2026-12-01T00:00:00Z"}"#),
        r#"{"jsonrpc":"2.0","id":4,"method":"Tools/Call","params":{"name":"payout","arguments":{"account":1}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"arguments":{}}}"#,
    );
    let outs = s.from_client(&batch);
    let out = to_client(&outs);
    assert_eq!(out["error"]["code"], jsonrpc::INVALID_REQUEST, "{out}");
    assert_eq!(out["id"], Json::Null);
    let refused = |tool: &str| {
        (
            "mcp.tools_call".to_string(),
            tool.to_string(),
            json!(["xop:bad-request"]),
        )
    };
    assert_eq!(
        records(&s),
        [
            refused("payout"),
            refused("schedule"),
            refused("payout"),
            refused("")
        ]
    );
    // A batch of other messages, or one that gives a key twice: the same, per tool call.
    let mut s = session("1", r#""2026-12-01T00:00:00Z""#);
    to_client(&s.from_client(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#));
    assert_eq!(records(&s), []);
    let twice = format!(
        "[{}]",
        call("1", "payout", r#"{"account": 1, "account": 2}"#)
    );
    to_client(&s.from_client(&twice));
    assert_eq!(records(&s), [refused("payout")]);
}
