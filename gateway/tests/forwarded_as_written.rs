//! What a QA pass found where the gateway decided on one value and forwarded a text its tool
//! reads as another: a leap second (`:60`), decided as `:59`, which a tool may read as the next
//! minute's first second; and a `Set` argument given with repeats, decided on with each element
//! once, which the tool would receive as many times as written. Both are bad input in a tool's
//! arguments, and read as before in the subject, which is never forwarded.

use serde_json::{Map, Value as Json, json};
use xop_compiler::db::Workspace;
use xop_gateway::jsonrpc;
use xop_gateway::record::MemoryRecorder;
use xop_gateway::session::{Out, Session, check_subject, pick_agent};
use xop_runtime::ir::Program;

const SOURCE: &str = r#"module qa.forwarded
purpose ops
record Customer {
  id: Id
  blocked: Set<Id>
  seen_at: Time
}
/// Schedule something.
action schedule(to: Customer, at_time: Time) purpose ops risk minimal
/// Refund orders.
action refund_orders(to: Customer, orders: Set<Id>) purpose ops risk minimal
agent bot {
  tool "schedule" -> schedule(at_time)
  tool "refund_orders" -> refund_orders(orders)
}
policy sched for schedule(to: c, at_time: t) {
  deny "after-cutoff" when t >= 2017-01-01T00:00:00Z
  allow "before-cutoff"
}
policy cap for refund_orders(to: c, orders: o) {
  deny "too-many-orders" when count(o) > 1
  allow "one-order"
}
"#;

fn program() -> Program {
    let mut ws = Workspace::new();
    ws.set_file("forwarded.xop", SOURCE);
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

/// A session for the customer given as the JSON text `to` (read as `--subject` is).
fn session(to: &str) -> Session<MemoryRecorder> {
    let text = format!(r#"{{"to": {to}}}"#);
    let subject: Map<String, Json> = match xop_runtime::bind::parse_input(&text) {
        Ok(Json::Object(o)) => o,
        other => panic!("the subject {text} reads as an object, got {other:?}"),
    };
    let program = program();
    let agent = pick_agent(&program, None).expect("one agent");
    check_subject(&program, agent, &subject).expect("the subject binds");
    Session::new(program, None, subject, MemoryRecorder::default()).expect("a session")
}

const CUSTOMER: &str = r#"{"id": "c1", "blocked": [], "seen_at": "2016-01-01T00:00:00Z"}"#;

/// A `tools/call` line with the arguments' JSON text as written.
fn call(id: u32, tool: &str, arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

/// What the gateway did with `line`: the text forwarded upstream (`Ok`), or the error sent
/// back to the client (`Err`), with the refusal's reasons and error.
fn outcome(s: &mut Session<MemoryRecorder>, line: &str) -> Result<String, (Json, String)> {
    match s.from_client(line).as_slice() {
        [Out::UpstreamText(v)] => Ok(v.text.clone()),
        [o] if o.to_client().is_some() => {
            let out = o.to_client().cloned().unwrap_or_default();
            assert_eq!(out["error"]["code"], jsonrpc::DENIED, "{out}");
            let data = &out["error"]["data"];
            let error = data["error"].as_str().unwrap_or_default().to_string();
            Err((data["reasons"].clone(), error))
        }
        other => panic!("expected the call forwarded or answered, got {other:?}"),
    }
}

#[test]
fn a_leap_second_in_the_arguments_is_bad_input() {
    let mut s = session(CUSTOMER);
    // Decided as 23:59:59 (before the cutoff), read by a tool as 00:00:00, past it.
    for (id, at) in [
        (1, "2016-12-31T23:59:60Z"),
        (2, "2017-01-01T00:59:60+01:00"),
        (3, "2016-12-31T23:59:60.500Z"),
    ] {
        let line = call(id, "schedule", &format!(r#"{{"at_time": "{at}"}}"#));
        let (reasons, error) = outcome(&mut s, &line).expect_err(at);
        assert_eq!(reasons, json!(["xop:bad-input"]), "{at}");
        let head = format!(r#"tool "schedule": at_time: the time "{at}" has the second 60"#);
        assert!(
            error.starts_with(&head) && error.contains("give the second as 59"),
            "{error}"
        );
    }
    // The seconds around it are decided on and forwarded as written.
    let line = call(4, "schedule", r#"{"at_time": "2016-12-31T23:59:59.999Z"}"#);
    assert_eq!(outcome(&mut s, &line), Ok(line.clone()));
    let line = call(5, "schedule", r#"{"at_time": "2017-01-01T00:00:00Z"}"#);
    assert_eq!(
        outcome(&mut s, &line).map_err(|(reasons, _)| reasons),
        Err(json!(["after-cutoff"]))
    );
    // The subject is never forwarded: its leap second is read as :59, as `xop serve` reads it.
    let mut s = session(r#"{"id": "c1", "blocked": [], "seen_at": "2016-12-31T23:59:60Z"}"#);
    let line = call(6, "schedule", r#"{"at_time": "2016-12-31T23:00:00Z"}"#);
    assert_eq!(outcome(&mut s, &line), Ok(line.clone()));
}

#[test]
fn a_set_argument_with_repeats_is_bad_input() {
    let mut s = session(CUSTOMER);
    // Decided on as one order (allowed), received by the tool as four.
    for (id, orders, first, again) in [
        (1, r#"["o1", "o1", "o1", "o1"]"#, 0, 1),
        (2, r#"["o1", "o2", "o2"]"#, 1, 2),
    ] {
        let line = call(id, "refund_orders", &format!(r#"{{"orders": {orders}}}"#));
        let (reasons, error) = outcome(&mut s, &line).expect_err(orders);
        assert_eq!(reasons, json!(["xop:bad-input"]), "{orders}");
        let head = format!(
            r#"tool "refund_orders": orders[{again}]: "o{}" is the same Id as element [{first}] of the set"#,
            first + 1
        );
        assert!(
            error.starts_with(&head) && error.contains("give each element once"),
            "{error}"
        );
    }
    let line = call(3, "refund_orders", r#"{"orders": ["o1"]}"#);
    assert_eq!(outcome(&mut s, &line), Ok(line.clone()));
    let line = call(4, "refund_orders", r#"{"orders": ["o1", "o2"]}"#);
    assert_eq!(
        outcome(&mut s, &line).map_err(|(reasons, _)| reasons),
        Err(json!(["too-many-orders"]))
    );
    // The subject is never forwarded: its set's repeats are dropped, as `xop serve` does.
    let mut s =
        session(r#"{"id": "c1", "blocked": ["x", "x"], "seen_at": "2016-01-01T00:00:00Z"}"#);
    let line = call(5, "refund_orders", r#"{"orders": ["o1"]}"#);
    assert_eq!(outcome(&mut s, &line), Ok(line.clone()));
}
