//! The server driven in-process through its tower `Service`: the protocol handlers, the
//! order of edits, the versions on published diagnostics, and errors that leave it running.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tower::{Service, ServiceExt};
use tower_lsp_server::LspService;
use tower_lsp_server::jsonrpc::Request;
use xop_lsp::server::Backend;

const TEXT: &str = "module a\nrecord C { n: Int }\nfn f(c: C): Bool = c.n > 1\n";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn call(service: &mut LspService<Backend>, req: Request) -> Option<Value> {
    let resp = service
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("no transport error");
    resp.map(|r| serde_json::to_value(r).expect("json"))
}

#[test]
fn edits_apply_in_order_and_errors_leave_the_server_running() {
    runtime().block_on(async {
        let dir = std::env::temp_dir().join(format!("xop-lsp-service-{}", std::process::id()));
        let (mut service, socket) = LspService::new(Backend::new);
        // Everything the server sends the client (publishDiagnostics) is collected here.
        let (tx, rx) = std::sync::mpsc::channel::<Value>();
        tokio::spawn(async move {
            let mut socket = socket;
            while let Some(msg) = socket.next().await {
                let _ = tx.send(serde_json::to_value(msg).expect("json"));
            }
        });
        let uri = format!("file://{}/a.xop", dir.display());
        let init = Request::build("initialize")
            .params(json!({ "capabilities": {} }))
            .id(1)
            .finish();
        let r = call(&mut service, init).await.expect("a response");
        assert_eq!(r["result"]["capabilities"]["hoverProvider"], json!(true));
        call(&mut service, Request::build("initialized").params(json!({})).finish()).await;
        call(
            &mut service,
            Request::build("textDocument/didOpen")
                .params(json!({ "textDocument": { "uri": uri, "languageId": "xop", "version": 1, "text": TEXT } }))
                .finish(),
        )
        .await;
        // Ten edits, each appending to the number: `1` becomes `1111111111`, then an error.
        let end = json!({ "line": 2, "character": 26 });
        for v in 2..12 {
            call(
                &mut service,
                Request::build("textDocument/didChange")
                    .params(json!({
                        "textDocument": { "uri": uri, "version": v },
                        "contentChanges": [{ "range": { "start": end, "end": end }, "text": "1" }]
                    }))
                    .finish(),
            )
            .await;
        }
        call(
            &mut service,
            Request::build("textDocument/didChange")
                .params(json!({
                    "textDocument": { "uri": uri, "version": 12 },
                    "contentChanges": [{ "range": { "start": { "line": 2, "character": 19 }, "end": { "line": 2, "character": 20 } }, "text": "d" }]
                }))
                .finish(),
        )
        .await;
        // The last diagnostics published carry version 12 and the error of the last edit.
        let last = tokio::task::spawn_blocking(move || {
            loop {
                let msg = rx
                    .recv_timeout(Duration::from_secs(20))
                    .expect("diagnostics for version 12");
                if msg["method"] == "textDocument/publishDiagnostics"
                    && msg["params"]["version"] == json!(12)
                {
                    return msg;
                }
            }
        })
        .await
        .expect("the collector");
        let codes: Vec<&str> = last["params"]["diagnostics"]
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|d| d["code"].as_str())
            .collect();
        assert_eq!(codes, vec!["C0104", "E0205"], "{last}");
        // A request about an unknown document fails; the server answers the next one.
        let bad = Request::build("textDocument/hover")
            .params(json!({ "textDocument": { "uri": "file:///nope.xop" }, "position": { "line": 0, "character": 0 } }))
            .id(2)
            .finish();
        let r = call(&mut service, bad).await.expect("a response");
        assert_eq!(r["error"]["code"], json!(-32602));
        let hover = Request::build("textDocument/hover")
            .params(json!({ "textDocument": { "uri": uri }, "position": { "line": 2, "character": 28 } }))
            .id(3)
            .finish();
        let r = call(&mut service, hover).await.expect("a response");
        // The literal the ten edits typed, with its type.
        let value = r["result"]["contents"]["value"].as_str().expect("markdown");
        assert_eq!(value, "```xop\nInt\n```");
        assert_eq!(r["result"]["range"]["end"]["character"], json!(36));
        let _ = std::fs::remove_dir_all(dir);
    });
}

#[test]
fn a_request_is_answered_on_the_text_it_was_sent_after() {
    runtime().block_on(async {
        let (mut service, socket) = LspService::new(Backend::new);
        tokio::spawn(socket.for_each(|_| async {}));
        let uri = "file:///xop-lsp-service-stale/a.xop";
        let init = Request::build("initialize")
            .params(json!({ "capabilities": {} }))
            .id(1)
            .finish();
        call(&mut service, init).await.expect("a response");
        call(&mut service, Request::build("initialized").params(json!({})).finish()).await;
        call(
            &mut service,
            Request::build("textDocument/didOpen")
                .params(json!({ "textDocument": { "uri": uri, "languageId": "xop", "version": 1, "text": "module m\nrole r0\n" } }))
                .finish(),
        )
        .await;
        let (mut old, mut modified) = (0, 0);
        for i in 1..=40 {
            // Line 1 holds `role r{i-1}`: ask about it, then insert `role r{i}` above it before
            // the answer comes, as tower-lsp-server does: the request's handler has started
            // (first poll) when the edit's runs.
            let hover = Request::build("textDocument/hover")
                .params(json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": 6 } }))
                .id(100 + i)
                .finish();
            let mut pending = Box::pin(
                service
                    .ready()
                    .await
                    .expect("ready")
                    .call(hover),
            );
            let first = futures::poll!(&mut pending);
            let at = json!({ "line": 1, "character": 0 });
            call(
                &mut service,
                Request::build("textDocument/didChange")
                    .params(json!({
                        "textDocument": { "uri": uri, "version": i + 1 },
                        "contentChanges": [{ "range": { "start": at, "end": at }, "text": format!("role r{i}\n") }]
                    }))
                    .finish(),
            )
            .await;
            let answer = match first {
                std::task::Poll::Ready(answer) => answer,
                std::task::Poll::Pending => pending.await,
            };
            let r = serde_json::to_value(answer.expect("no transport error")).expect("json");
            if r["error"]["code"] == json!(-32801) {
                modified += 1;
                continue;
            }
            let value = r["result"]["contents"]["value"].as_str().unwrap_or_default();
            let head: String = value.chars().take(30).collect();
            assert!(value.contains(&format!("role r{}\n", i - 1)), "hover {i}: {head:?}");
            old += 1;
        }
        // Either answer is right; both happen.
        assert_eq!(old + modified, 40);
    });
}

/// Go to definition answers a list when a name has several declarations (a parameter bound by
/// a `for purpose P(...)` policy is declared by each action of `P`), and rename edits each
/// document.
#[test]
fn several_definitions_are_a_list_and_rename_edits_each_document() {
    runtime().block_on(async {
        let (mut service, socket) = LspService::new(Backend::new);
        tokio::spawn(socket.for_each(|_| async {}));
        let model = "file:///xop-lsp-service-params/model.xop";
        let rules = "file:///xop-lsp-service-params/rules.xop";
        let init = Request::build("initialize")
            .params(json!({ "capabilities": {} }))
            .id(1)
            .finish();
        call(&mut service, init).await.expect("a response");
        call(&mut service, Request::build("initialized").params(json!({})).finish()).await;
        let texts = [
            (
                model,
                "module m\npurpose p\nrecord C { id: Id }\n\
                 action a(to: C) purpose p risk minimal\naction b(to: C) purpose p risk minimal\n",
            ),
            (
                rules,
                "module r\nuse m.*\npolicy q for purpose p(to: c) {\n  allow \"ok\"\n}\n",
            ),
        ];
        for (uri, text) in texts {
            call(
                &mut service,
                Request::build("textDocument/didOpen")
                    .params(json!({ "textDocument": { "uri": uri, "languageId": "xop", "version": 1, "text": text } }))
                    .finish(),
            )
            .await;
        }
        let at = json!({ "textDocument": { "uri": rules }, "position": { "line": 2, "character": 24 } });
        let r = call(
            &mut service,
            Request::build("textDocument/definition")
                .params(at.clone())
                .id(2)
                .finish(),
        )
        .await
        .expect("a response");
        let lines: Vec<&Value> = r["result"]
            .as_array()
            .unwrap_or_else(|| panic!("a list: {r}"))
            .iter()
            .map(|l| &l["range"]["start"]["line"])
            .collect();
        assert_eq!(lines, vec![&json!(3), &json!(4)], "{r}");
        let mut params = at;
        params["newName"] = json!("recipient");
        let r = call(
            &mut service,
            Request::build("textDocument/rename")
                .params(params)
                .id(3)
                .finish(),
        )
        .await
        .expect("a response");
        let changes = &r["result"]["changes"];
        assert_eq!(changes[model].as_array().map(Vec::len), Some(2), "{r}");
        assert_eq!(changes[rules].as_array().map(Vec::len), Some(1), "{r}");
        assert_eq!(changes[rules][0]["newText"], json!("recipient"));
    });
}
