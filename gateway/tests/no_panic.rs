//! Whatever a client or an upstream server sends, and however time passes, the gateway's
//! session neither panics, nor forwards a tool call that the policies do not allow, nor answers
//! one request twice (a late answer after a timeout; proptest over sequences of lines).
//! The fixture is the end-to-end one (`cli/tests/mcp/support.xop`): only `refund` of at most
//! 100.00 EUR for a customer who is not a VIP can be allowed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{Map, Value as Json, json};
use xop_compiler::db::Workspace;
use xop_gateway::inflight::Timeouts;
use xop_gateway::record::MemoryRecorder;
use xop_gateway::session::Session;

const SOURCE: &str = include_str!("../../cli/tests/mcp/support.xop");

fn session() -> Session<MemoryRecorder> {
    let mut ws = Workspace::new();
    ws.set_file("support.xop", SOURCE);
    let program = xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers");
    let subject: Map<String, Json> = json!({"to": {"id": "c-1", "vip": false}})
        .as_object()
        .cloned()
        .unwrap_or_default();
    Session::new(program, None, subject, MemoryRecorder::default()).expect("a session")
}

fn odd() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::from),
        any::<i64>().prop_map(Json::from),
        ".{0,20}".prop_map(Json::from),
        Just(json!("20.00 EUR")),
        Just(json!("100.00 EUR")),
        Just(json!("100.01 EUR")),
        Just(json!("-5.00 EUR")),
        Just(json!("1e400 EUR")),
        Just(json!("99999999999999999999.99 EUR")),
        Just(json!("20.00 USD")),
        Just(json!({"id": "c-2", "vip": true})),
        Just(json!([1, 2])),
    ]
}

fn id() -> impl Strategy<Value = Json> {
    prop_oneof![
        (0i64..5).prop_map(Json::from),
        Just(json!("a")),
        Just(Json::Null),
        Just(json!({"x": 1})),
        Just(json!(1.5)),
    ]
}

/// A line from the client: JSON-RPC-shaped (tools, methods and arguments drawn from what
/// matters) or arbitrary text.
fn client_line() -> impl Strategy<Value = String> {
    let tool = prop::sample::select(vec![
        "refund",
        "set_limit",
        "close_account",
        "delete_all_customers",
        "",
    ]);
    let method = prop::sample::select(vec![
        "tools/call",
        "tools/list",
        "initialize",
        "notifications/initialized",
        "ping",
        "resources/list",
        "tools/call ",
    ]);
    let args = prop::collection::btree_map(
        prop::sample::select(vec!["amount", "reason", "limit", "to", "x"]),
        odd(),
        0..4,
    );
    prop_oneof![
        4 => (id(), method, tool, args, any::<bool>(), any::<bool>(), prop::option::of(id())).prop_map(
            |(id, method, tool, args, with_id, with_case, token)| {
                let mut params = json!({"name": tool, "arguments": args});
                if with_case {
                    params["_meta"] = json!({"xop/case": "case-0"});
                }
                if let Some(t) = token {
                    params["_meta"]["progressToken"] = t;
                }
                let mut m = json!({"jsonrpc": "2.0", "method": method, "params": params});
                if with_id {
                    m["id"] = id;
                }
                m.to_string()
            }
        ),
        1 => id().prop_map(|id| json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                       "params": {"requestId": id, "reason": "r"}}).to_string()),
        1 => ".{0,80}",
        1 => Just("[]".to_string()),
        1 => Just(r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"refund","arguments":{"amount":"500.00 EUR","reason":"x"}}}]"#.to_string()),
    ]
}

/// A line from the upstream server: a response to some id, or arbitrary text.
fn upstream_line() -> impl Strategy<Value = String> {
    prop_oneof![
        (id(), odd()).prop_map(|(id, r)| json!({"jsonrpc": "2.0", "id": id, "result": r}).to_string()),
        id().prop_map(|id| json!({"jsonrpc": "2.0", "id": id,
                                  "result": {"tools": [{"name": "refund"}, {"name": "delete_all_customers"}]}})
            .to_string()),
        id().prop_map(|t| json!({"jsonrpc": "2.0", "method": "notifications/progress",
                                 "params": {"progressToken": t, "progress": 1}}).to_string()),
        ".{0,60}",
    ]
}

/// An id's key, when a client may be answered under it.
fn answerable(v: &Json) -> Option<String> {
    let id = v.get("id")?;
    (!id.is_null()).then(|| id.to_string())
}

/// The amount of a refund in cents, if it is written `N.NN EUR`.
fn cents(v: &Json) -> Option<i128> {
    let s = v.as_str()?.strip_suffix(" EUR")?;
    let (whole, frac) = s.split_once('.')?;
    Some(whole.parse::<i128>().ok()? * 100 + frac.parse::<i128>().ok()?)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_line_panics_and_only_allowed_calls_are_forwarded(
        lines in prop::collection::vec((0u8..3, client_line(), upstream_line(), 0u64..150), 1..16),
    ) {
        // Requests time out after 100 ms without progress, 250 ms in all.
        let t0 = Instant::now();
        let elapsed = Arc::new(AtomicU64::new(0));
        let clock = Arc::clone(&elapsed);
        let mut s = session()
            .with_timeouts(Timeouts::new(Duration::from_millis(100), Duration::from_millis(250)).unwrap())
            .with_monotonic_clock(move || t0 + Duration::from_millis(clock.load(Ordering::SeqCst)));
        let mut asked: HashMap<String, usize> = HashMap::new();
        let mut answered: HashMap<String, usize> = HashMap::new();
        let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#;
        asked.insert("0".into(), 1);
        s.from_client(init);
        for (step, c, u, wait) in &lines {
            let outs = match step {
                0 => {
                    if let Some(k) = serde_json::from_str::<Json>(c).ok().as_ref().and_then(answerable) {
                        *asked.entry(k).or_default() += 1;
                    }
                    s.from_client(c)
                }
                1 => s.from_upstream(u),
                _ => {
                    elapsed.fetch_add(*wait, Ordering::SeqCst);
                    s.expire()
                }
            };
            for out in outs {
                if let Some(m) = out.to_client()
                    && m.get("method").is_none()
                    && let Some(k) = answerable(m)
                {
                    let n = answered.entry(k.clone()).or_default();
                    *n += 1;
                    prop_assert!(
                        *n <= asked.get(&k).copied().unwrap_or(0),
                        "more answers than requests for id {}: {}", k, m
                    );
                }
                let Some(m) = out.to_upstream() else { continue };
                if m["method"] != "tools/call" {
                    continue;
                }
                let p = &m["params"];
                prop_assert_eq!(&p["name"], "refund", "forwarded {}", m);
                let amount = cents(&p["arguments"]["amount"]);
                prop_assert!(
                    amount.is_some_and(|a| a <= 10_000), // cents
                    "a refund over the limit was forwarded: {}", m
                );
            }
        }
        let _ = s.upstream_gone();
    }
}
