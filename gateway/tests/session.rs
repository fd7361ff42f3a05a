//! The gateway's session logic on a compiled program (the end-to-end fixture of
//! `cli/tests/mcp/`): agents lowered to the IR, list filtering, each call decided and then
//! forwarded, refused or held, proof records, and the protocol's edge cases.

use serde_json::{Map, Value as Json, json};
use xop_compiler::db::Workspace;
use xop_gateway::jsonrpc;
use xop_gateway::record::MemoryRecorder;
use xop_gateway::session::{HeldCall, Out, PROTOCOL_VERSION, Resolution, ReviewDesk, Session};
use xop_runtime::ir::{Program, Type};

const SOURCE: &str = include_str!("../../cli/tests/mcp/support.xop");

fn program() -> Program {
    let mut ws = Workspace::new();
    ws.set_file("support.xop", SOURCE);
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

fn subject() -> Map<String, Json> {
    json!({"to": {"id": "c-1", "vip": false}})
        .as_object()
        .unwrap()
        .clone()
}

fn session() -> Session<MemoryRecorder> {
    Session::new(program(), None, subject(), MemoryRecorder::default()).unwrap()
}

fn call(id: i64, tool: &str, args: Json) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": args}})
    .to_string()
}

/// The one message of `outs`, which must go to the client.
fn to_client(outs: Vec<Out>) -> Json {
    match outs.as_slice() {
        [o] if o.to_client().is_some() => o.to_client().cloned().unwrap_or_default(),
        other => panic!("expected one message to the client, got {other:?}"),
    }
}

/// The events the session recorded, in order.
fn events(s: &Session<MemoryRecorder>) -> Vec<&str> {
    (s.recorder().records.iter())
        .map(|r| r["event"].as_str().unwrap())
        .collect()
}

fn to_upstream(outs: Vec<Out>) -> Json {
    match outs.as_slice() {
        [o] if o.to_upstream().is_some() => o.to_upstream().cloned().unwrap_or_default(),
        other => panic!("expected one message upstream, got {other:?}"),
    }
}

#[test]
fn agents_are_lowered_with_their_bindings() {
    let p = program();
    let agent = p.agent("support_bot").expect("the agent");
    assert_eq!(agent.qualified, "shop.support.support_bot");
    let tools: Vec<(&str, &str)> = agent
        .tools
        .iter()
        .map(|t| (t.tool.as_str(), t.action.as_str()))
        .collect();
    assert_eq!(
        tools,
        [
            ("refund", "shop.support.refund"),
            ("set_limit", "shop.support.set_credit_limit"),
            ("close_account", "shop.support.close_account"),
        ]
    );
    let refund = agent.tool("refund").unwrap();
    let params: Vec<&str> = refund.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(params, ["to", "amount", "reason"]);
    assert_eq!(refund.params[1].ty, Type::Money);
    assert_eq!(refund.argument_for(0), None);
    assert_eq!(refund.argument_for(1), Some("amount"));
    assert_eq!(refund.argument_for(2), Some("reason"));
    assert_eq!(refund.source.line, 23);
    assert!(agent.tool("close_account").unwrap().arguments.is_empty());
    // The action's parameters are the policies' (the gateway binds with them).
    let (_, pol) = p.policy("refunds").unwrap();
    assert_eq!(pol.params, refund.params);
}

#[test]
fn lists_only_tools_that_can_be_allowed() {
    let mut s = session();
    assert_eq!(s.listed_tools(), ["refund", "set_limit"]);
    let req = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"});
    assert_eq!(to_upstream(s.from_client(&req.to_string())), req);
    let names = [
        "refund",
        "set_limit",
        "close_account",
        "delete_all_customers",
    ];
    let tools: Vec<Json> = names.iter().map(|n| json!({"name": n})).collect();
    let resp = json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": tools, "nextCursor": "x"}});
    let out = to_client(s.from_upstream(&resp.to_string()));
    assert_eq!(
        out["result"],
        json!({"tools": [{"name": "refund"}, {"name": "set_limit"}], "nextCursor": "x"})
    );
    // A response to another request is not filtered.
    let ping = json!({"jsonrpc": "2.0", "id": 8, "method": "ping"});
    assert_eq!(to_upstream(s.from_client(&ping.to_string())), ping);
    let other = json!({"jsonrpc": "2.0", "id": 8, "result": {"tools": tools}});
    assert_eq!(to_client(s.from_upstream(&other.to_string())), other);
    // A second answer to the list, or an answer no request waits for, never reaches the
    // client: it would show the tools the gateway hides.
    for id in [json!(7), json!(8), json!(987), json!("7")] {
        let again = json!({"jsonrpc": "2.0", "id": id, "result": {"tools": tools}});
        match s.from_upstream(&again.to_string()).as_slice() {
            [Out::Warn(w)] => assert!(w.contains("which no request waits for"), "{w}"),
            other => panic!("{id}: expected a warning only, got {other:?}"),
        }
    }
}

#[test]
fn a_subject_missing_a_parameter_hides_the_tools_that_need_it() {
    let s = Session::new(program(), None, Map::new(), MemoryRecorder::default()).unwrap();
    assert!(s.listed_tools().is_empty());
    let warnings = s.startup_warnings().join("\n");
    assert!(warnings.contains("add \"to\" to --subject"), "{warnings}");
    assert!(warnings.contains("no policy can allow `shop.support.close_account`"));
}

#[test]
fn allowed_calls_are_forwarded_unchanged_and_recorded() {
    let mut s = session();
    let line = call(
        1,
        "refund",
        json!({"amount": "20.00 EUR", "reason": "late"}),
    );
    let out = to_upstream(s.from_client(&line));
    assert_eq!(out, serde_json::from_str::<Json>(&line).unwrap());
    // The tool's result goes back as it is.
    let result = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": false}});
    assert_eq!(to_client(s.from_upstream(&result.to_string())), result);
    let rec = &s.recorder().records[0];
    assert_eq!(rec["verdict"], "allow");
    assert_eq!(rec["reasons"], json!(["small-refund"]));
    assert_eq!(rec["action"], "shop.support.refund");
}

#[test]
fn denied_calls_are_refused_with_their_reasons() {
    let mut s = session();
    let out = to_client(s.from_client(&call(
        2,
        "refund",
        json!({"amount": "500.00 EUR", "reason": "x"}),
    )));
    assert_eq!(out["id"], 2);
    assert_eq!(out["error"]["code"], jsonrpc::DENIED);
    assert_eq!(out["error"]["data"]["reasons"], json!(["refund-too-large"]));
    assert_eq!(
        out["error"]["data"]["fired"],
        json!(["refunds#1", "refunds#3"])
    );
    // The subject is what the policies see of the customer.
    let mut vip = Session::new(
        program(),
        Some("support_bot"),
        json!({"to": {"id": "c-2", "vip": true}})
            .as_object()
            .unwrap()
            .clone(),
        MemoryRecorder::default(),
    )
    .unwrap();
    let out = to_client(vip.from_client(&call(
        3,
        "refund",
        json!({"amount": "1.00 EUR", "reason": "x"}),
    )));
    assert_eq!(
        out["error"]["data"]["reasons"],
        json!(["vip-refunds-by-staff"])
    );
    // Deny-only action: refused.
    let out = to_client(s.from_client(&call(4, "close_account", json!({}))));
    assert_eq!(out["error"]["data"]["reasons"], json!(["never-by-agent"]));
    assert_eq!(s.recorder().records.len(), 2);
}

#[test]
fn bad_and_unbound_arguments_fail_closed() {
    let mut s = session();
    let out =
        to_client(s.from_client(&call(1, "refund", json!({"amount": "lots", "reason": "x"}))));
    assert_eq!(out["error"]["code"], jsonrpc::DENIED);
    assert_eq!(out["error"]["data"]["reasons"], json!(["xop:bad-input"]));
    let message = out["error"]["data"]["error"].as_str().unwrap();
    assert!(message.contains("amount"), "{message}");
    let out = to_client(s.from_client(&call(2, "refund", json!({"reason": "x"}))));
    assert_eq!(out["error"]["data"]["reasons"], json!(["xop:bad-input"]));
    let out = to_client(s.from_client(&call(
        3,
        "refund",
        json!({"amount": "1.00 EUR", "reason": "x", "customer": "other"}),
    )));
    assert_eq!(
        out["error"]["data"]["reasons"],
        json!(["xop:unbound-argument"])
    );
    let out = to_client(s.from_client(&call(4, "refund", json!("not an object"))));
    assert_eq!(out["error"]["code"], jsonrpc::INVALID_PARAMS);
}

#[test]
fn unbound_tools_are_always_refused() {
    let mut s = session();
    let out = to_client(s.from_client(&call(5, "delete_all_customers", json!({}))));
    assert_eq!(out["error"]["code"], jsonrpc::UNBOUND_TOOL);
    assert_eq!(out["error"]["data"]["reasons"], json!(["xop:unbound-tool"]));
    assert_eq!(s.recorder().records[0]["verdict"], "deny");
}

/// `Tools/Call` is no MCP method, but an upstream that matched names loosely would run it
/// undecided: it is answered, never forwarded.
#[test]
fn tool_methods_in_another_case_are_never_forwarded() {
    let mut s = session();
    for method in ["Tools/Call", "TOOLS/CALL", "tools/List"] {
        let line = json!({"jsonrpc": "2.0", "id": 9, "method": method,
                          "params": {"name": "refund", "arguments": {"amount": "1 EUR"}}});
        let out = to_client(s.from_client(&line.to_string()));
        assert_eq!(out["error"]["code"], jsonrpc::METHOD_NOT_FOUND, "{method}");
    }
}

#[test]
fn review_holds_the_call_until_its_deadline_then_applies_the_fallback() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    let now = Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = Arc::clone(&now);
    let mut s = session().with_clock(move || clock.load(Ordering::SeqCst));
    let args = json!({"limit": "5000.00 EUR"});
    let held = to_client(s.from_client(&call(1, "set_limit", args.clone())));
    let r = &held["result"];
    assert_eq!(r["isError"], true);
    let sc = &r["structuredContent"];
    assert_eq!(sc["status"], "pending-review");
    assert_eq!(sc["role"], "credit_officer");
    assert_eq!(sc["fallback"], "deny");
    assert_eq!(sc["deadline"], "2027-01-16T08:00:00.000Z");
    let case = sc["case"].as_str().unwrap().to_string();
    assert!(case.starts_with("case-") && case.len() == 37, "{case}");

    let retry = |id: i64, args: &Json, case: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "set_limit", "arguments": args, "_meta": {"xop/case": case}}})
        .to_string()
    };
    // Before the deadline: still pending.
    let again = to_client(s.from_client(&retry(2, &args, &case)));
    assert_eq!(again["result"]["structuredContent"]["case"], case.as_str());
    // Another call, or an unknown case: refused.
    let other = to_client(s.from_client(&retry(3, &json!({"limit": "1.00 EUR"}), &case)));
    assert_eq!(other["error"]["code"], jsonrpc::BAD_CASE);
    let unknown = to_client(s.from_client(&retry(4, &args, "case-nope")));
    assert_eq!(unknown["error"]["code"], jsonrpc::BAD_CASE);
    // After the deadline nobody approved: the fallback (deny) applies, and the case is closed.
    now.fetch_add(24 * 3_600_000, Ordering::SeqCst);
    let expired = to_client(s.from_client(&retry(5, &args, &case)));
    assert_eq!(expired["error"]["code"], jsonrpc::DENIED);
    assert_eq!(
        expired["error"]["data"]["reasons"],
        json!(["credit-decision", "xop:review-expired"])
    );
    let closed = to_client(s.from_client(&retry(6, &args, &case)));
    assert_eq!(closed["error"]["code"], jsonrpc::BAD_CASE);
    // The retries naming another call or an unknown case, and the one after the case was
    // closed, are refused before any decision: their events say so (xop:bad-case).
    assert_eq!(
        events(&s),
        [
            "mcp.tools_call",
            "mcp.review_pending",
            "mcp.tools_call",
            "mcp.tools_call",
            "mcp.review_fallback",
            "mcp.tools_call"
        ]
    );
    assert_eq!(s.recorder().records[2]["reasons"], json!(["xop:bad-case"]));
}

#[test]
fn an_unproven_decision_is_never_acted_upon() {
    let recorder = MemoryRecorder {
        fail: true,
        ..MemoryRecorder::default()
    };
    let mut s = Session::new(program(), None, subject(), recorder).unwrap();
    let out = to_client(s.from_client(&call(
        1,
        "refund",
        json!({"amount": "1.00 EUR", "reason": "x"}),
    )));
    assert_eq!(out["error"]["code"], jsonrpc::NOT_PROVEN);
    let out = to_client(s.from_client(&call(2, "set_limit", json!({"limit": "1.00 EUR"}))));
    assert_eq!(out["error"]["code"], jsonrpc::NOT_PROVEN);
}

#[test]
fn initialize_is_negotiated_to_the_gateways_version() {
    for asked in ["2026-07-28", "2025-11-25", "2024-11-05", "1999-01-01"] {
        let mut s = session();
        let req = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": asked, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}});
        let up = to_upstream(s.from_client(&req.to_string()));
        assert_eq!(up["params"]["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(up["params"]["clientInfo"]["name"], "c");
        let resp = json!({"jsonrpc": "2.0", "id": 0, "result": {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {"tools": {}},
            "serverInfo": {"name": "u", "version": "1"}}});
        let out = to_client(s.from_upstream(&resp.to_string()));
        assert_eq!(out["result"]["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(out["result"]["capabilities"], json!({"tools": {}}));
    }
    // An upstream that answers another version cannot be spoken to.
    let mut s = session();
    s.from_client(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#);
    let out = to_client(s.from_upstream(
        r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2024-11-05","capabilities":{}}}"#,
    ));
    assert_eq!(out["error"]["code"], jsonrpc::INTERNAL_ERROR);
    // initialize without params.
    let out = to_client(s.from_client(r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#));
    assert_eq!(out["error"]["code"], jsonrpc::INVALID_PARAMS);
}

#[test]
fn notifications_responses_and_upstream_requests_pass_through() {
    let mut s = session();
    let n = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(to_upstream(s.from_client(&n.to_string())), n);
    let ping = json!({"jsonrpc": "2.0", "id": "p", "method": "ping"});
    assert_eq!(to_upstream(s.from_client(&ping.to_string())), ping);
    // The upstream asks the client something; the client answers.
    let ask = json!({"jsonrpc": "2.0", "id": 99, "method": "roots/list"});
    assert_eq!(to_client(s.from_upstream(&ask.to_string())), ask);
    let answer = json!({"jsonrpc": "2.0", "id": 99, "result": {"roots": []}});
    assert_eq!(to_upstream(s.from_client(&answer.to_string())), answer);
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
    assert_eq!(to_client(s.from_upstream(&changed.to_string())), changed);
    // Garbage from the upstream is a warning, not a crash.
    assert!(matches!(
        s.from_upstream("garbage").as_slice(),
        [Out::Warn(_)]
    ));
}

#[test]
fn the_upstream_dying_answers_every_pending_request() {
    let mut s = session();
    s.from_client(&call(
        1,
        "refund",
        json!({"amount": "1.00 EUR", "reason": "x"}),
    ));
    s.from_client(r#"{"jsonrpc":"2.0","id":"two","method":"tools/list"}"#);
    let outs = s.upstream_gone();
    let ids: Vec<Json> = outs
        .iter()
        .map(|o| match o.to_client() {
            Some(v) => {
                assert_eq!(v["error"]["code"], jsonrpc::UPSTREAM_GONE);
                v["id"].clone()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, [json!("two"), json!(1)]);
    // Later requests get the same error at once.
    let out = to_client(s.from_client(r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#));
    assert_eq!(out["error"]["code"], jsonrpc::UPSTREAM_GONE);
}

#[test]
fn no_input_line_panics() {
    let mut s = session();
    for line in [
        "",
        "null",
        "{}",
        "\"x\"",
        "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"tools/call\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":5}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"refund\",\"_meta\":{\"xop/case\":5}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"refund\",\"arguments\":{\"amount\":{\"amount\":\"1e999999\",\"currency\":\"EUR\"},\"reason\":[]}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}",
    ] {
        let _ = s.from_client(line);
        let _ = s.from_upstream(line);
    }
}

#[test]
fn agent_selection() {
    let p = program();
    assert!(
        Session::new(
            p.clone(),
            Some("nobody"),
            Map::new(),
            MemoryRecorder::default()
        )
        .unwrap_err()
        .contains("its agents are: shop.support.support_bot")
    );
    let empty = Program::default();
    assert!(
        Session::new(empty, None, Map::new(), MemoryRecorder::default())
            .unwrap_err()
            .contains("has no agent")
    );
}

/// A desk whose cases a test decides (as the review queue's reviewers will).
#[derive(Clone, Default)]
struct Desk(
    std::sync::Arc<std::sync::Mutex<Vec<(String, String, Resolution)>>>,
    /// Refuse to open cases.
    bool,
    /// The evidence each case was opened with, as JSON.
    std::sync::Arc<std::sync::Mutex<Vec<Json>>>,
    /// What `halted` answers (`None`: not halted).
    std::sync::Arc<std::sync::Mutex<Option<Result<bool, String>>>>,
);

impl ReviewDesk for Desk {
    fn open(&self, call: &HeldCall<'_>) -> Result<String, String> {
        let mut cases = self.0.lock().unwrap();
        if self.1 {
            return Err("the queue is closed".into());
        }
        let id = format!("q-{}", cases.len());
        cases.push((id.clone(), call.role.to_string(), Resolution::Pending));
        self.2
            .lock()
            .unwrap()
            .push(serde_json::to_value(call.evidence).unwrap());
        Ok(id)
    }

    fn resolution(&self, id: &str) -> Resolution {
        let cases = self.0.lock().unwrap();
        cases
            .iter()
            .find(|(c, _, _)| c == id)
            .map_or(Resolution::Pending, |(_, _, r)| r.clone())
    }

    fn halted(&self) -> Result<bool, String> {
        self.3.lock().unwrap().clone().unwrap_or(Ok(false))
    }
}

/// The halt switch (as `xop serve`'s): a high-risk call gets its fallback at once, and so
/// does one the desk cannot say about; a call of an action without a review rule is decided
/// as ever; a held call's retry is refused while halted, its case kept for after the halt; a
/// held call whose case the server closed with its fallback is refused on retry.
#[test]
fn the_halt_switch_sends_high_risk_calls_to_their_fallback() {
    let desk = Desk::default();
    let mut s = session().with_desk(desk.clone());
    let limit = json!({"limit": "5000.00 EUR"});
    let retry = |id: i64, case: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "set_limit", "arguments": limit, "_meta": {"xop/case": case}}})
        .to_string()
    };
    // Held before the halt: a case.
    let held = to_client(s.from_client(&call(1, "set_limit", limit.clone())));
    assert_eq!(held["result"]["structuredContent"]["case"], "q-0");
    *desk.3.lock().unwrap() = Some(Ok(true));
    for (id, reason, why) in [
        (2, "xop:halted", "halt switch is on"),
        (3, "xop:halt-unknown", "could not be learned"),
    ] {
        if id == 3 {
            *desk.3.lock().unwrap() = Some(Err("no answer".into()));
        }
        let out = to_client(s.from_client(&call(id, "set_limit", limit.clone())));
        assert_eq!(out["error"]["code"], jsonrpc::DENIED, "{out}");
        assert_eq!(
            out["error"]["data"]["reasons"],
            json!(["credit-decision", reason])
        );
        let error = out["error"]["data"]["error"].as_str().unwrap();
        assert!(error.contains(why), "{error}");
        assert_eq!(desk.0.lock().unwrap().len(), 1, "no case opened");
    }
    // Not high-risk: a small refund is still forwarded.
    let refund = json!({"amount": "5.00 EUR", "reason": "late"});
    let up = to_upstream(s.from_client(&call(4, "refund", refund)));
    assert_eq!(up["params"]["name"], "refund");
    // The held call, approved before the halt, retried while halted: refused, its case kept.
    *desk.3.lock().unwrap() = Some(Ok(true));
    desk.0.lock().unwrap()[0].2 = Resolution::Approved { by: "ann".into() };
    let out = to_client(s.from_client(&retry(5, "q-0")));
    assert_eq!(out["error"]["code"], jsonrpc::DENIED, "{out}");
    assert_eq!(out["error"]["data"]["case"], "q-0");
    let error = out["error"]["data"]["error"].as_str().unwrap();
    assert!(error.contains("stays open"), "{error}");
    // Lifted: the same retry goes through.
    *desk.3.lock().unwrap() = None;
    let up = to_upstream(s.from_client(&retry(6, "q-0")));
    assert_eq!(up["params"]["name"], "set_limit");
    // A case the server closed with its fallback (the halt did) is refused on retry.
    let held = to_client(s.from_client(&call(7, "set_limit", limit.clone())));
    assert_eq!(held["result"]["structuredContent"]["case"], "q-1");
    desk.0.lock().unwrap()[1].2 = Resolution::Fallback { by: "halt".into() };
    let out = to_client(s.from_client(&retry(8, "q-1")));
    assert_eq!(out["error"]["code"], jsonrpc::DENIED, "{out}");
    assert_eq!(
        out["error"]["data"]["reasons"],
        json!(["credit-decision", "xop:halted"])
    );
    assert_eq!(
        events(&s),
        [
            "mcp.tools_call",
            "mcp.halt_fallback",
            "mcp.halt_fallback",
            "mcp.tools_call",
            "mcp.halt_fallback",
            "mcp.review_approved",
            "mcp.tools_call",
            "mcp.review_fallback"
        ]
    );
}

#[test]
fn an_approved_case_is_forwarded_on_retry_and_a_rejected_one_refused() {
    let desk = Desk::default();
    let mut s = session().with_desk(desk.clone());
    let args = json!({"limit": "5000.00 EUR"});
    let retry = |id: i64, case: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "set_limit", "arguments": args, "_meta": {"xop/case": case}}})
        .to_string()
    };
    let held = to_client(s.from_client(&call(1, "set_limit", args.clone())));
    assert_eq!(held["result"]["structuredContent"]["case"], "q-0");
    assert_eq!(desk.0.lock().unwrap()[0].1, "credit_officer");
    // The reviewer sees the call's input, though the review reads none of it: the limit and
    // the customer (whose fields are not personal here).
    let evidence = desk.2.lock().unwrap()[0].clone();
    let paths: Vec<(&str, &Json)> = evidence
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap(), &e["value"]))
        .collect();
    assert!(
        paths.contains(&("limit", &json!("5000.00 EUR"))),
        "{evidence}"
    );
    assert!(paths.contains(&("to.vip", &json!(false))), "{evidence}");
    desk.0.lock().unwrap()[0].2 = Resolution::Approved { by: "alice".into() };
    // Approved: the retry goes to the tool.
    let up = to_upstream(s.from_client(&retry(2, "q-0")));
    assert_eq!(up["params"]["name"], "set_limit");
    // The case is closed: it cannot be used twice.
    let again = to_client(s.from_client(&retry(3, "q-0")));
    assert_eq!(again["error"]["code"], jsonrpc::BAD_CASE);

    let held = to_client(s.from_client(&call(4, "set_limit", args.clone())));
    assert_eq!(held["result"]["structuredContent"]["case"], "q-1");
    desk.0.lock().unwrap()[1].2 = Resolution::Rejected { by: "bob".into() };
    let refused = to_client(s.from_client(&retry(5, "q-1")));
    assert_eq!(refused["error"]["code"], jsonrpc::DENIED);
    assert_eq!(
        refused["error"]["data"]["reasons"],
        json!(["credit-decision", "xop:review-rejected"])
    );
    assert!(
        refused["error"]["data"]["error"]
            .as_str()
            .unwrap()
            .contains("bob")
    );
    assert_eq!(
        events(&s),
        [
            "mcp.tools_call",
            "mcp.review_approved",
            "mcp.tools_call",
            "mcp.tools_call",
            "mcp.review_rejected"
        ]
    );
}

#[test]
fn a_case_that_cannot_be_opened_denies_the_call() {
    let mut s = session().with_desk(Desk(
        Default::default(),
        true,
        Default::default(),
        Default::default(),
    ));
    let out = to_client(s.from_client(&call(1, "set_limit", json!({"limit": "1.00 EUR"}))));
    assert_eq!(out["error"]["code"], jsonrpc::DENIED);
    let why = out["error"]["data"]["error"].as_str().unwrap();
    assert!(why.contains("could not be opened"), "{why}");
}

#[test]
fn a_tool_call_without_an_id_is_never_forwarded() {
    // Found by tests/no_panic.rs: a `tools/call` sent as a notification passed undecided.
    let mut s = session();
    let n = json!({"jsonrpc": "2.0", "method": "tools/call",
                   "params": {"name": "close_account", "arguments": {}}});
    let outs = s.from_client(&n.to_string());
    assert!(outs.iter().all(|o| o.to_upstream().is_none()), "{outs:?}");
    assert!(matches!(outs.as_slice(), [Out::Warn(w)] if w.contains("without an id")));
    // MCP's own notifications still pass.
    let n =
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}});
    assert_eq!(to_upstream(s.from_client(&n.to_string())), n);
}

#[test]
fn a_request_reusing_an_id_in_flight_is_refused() {
    let mut s = session();
    let list = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/list"});
    assert_eq!(to_upstream(s.from_client(&list.to_string())), list);
    // The same id again before the answer: refused, so the list's answer is still filtered.
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let err = to_client(s.from_client(&ping.to_string()));
    assert_eq!(err["error"]["code"], -32600, "{err}");
    let tools = json!([{"name": "refund"}, {"name": "delete_all_customers"}]);
    let resp = json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": tools}});
    let out = to_client(s.from_upstream(&resp.to_string()));
    assert_eq!(out["result"]["tools"], json!([{"name": "refund"}]));
    // Once answered, the id may be used again.
    assert_eq!(to_upstream(s.from_client(&ping.to_string())), ping);
}
