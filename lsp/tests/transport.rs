//! The whole server behind its framing layer ([`xop_lsp::transport::serve`]), on in-memory
//! input and output: bad messages are answered and the server goes on.

use std::sync::mpsc;

use serde_json::{Value, json};
use xop_lsp::transport::{Frame, FrameReader, frame, serve};

fn msg(v: Value) -> Vec<u8> {
    frame(v.to_string().as_bytes())
}

/// Input read from, or output written to, a channel of byte chunks.
struct Pipe<T>(T);

impl std::io::Read for Pipe<mpsc::Receiver<Vec<u8>>> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One chunk per read is enough for these tests' small messages.
        match self.0.recv() {
            Ok(chunk) => {
                assert!(chunk.len() <= buf.len(), "a chunk larger than the buffer");
                buf[..chunk.len()].copy_from_slice(&chunk);
                Ok(chunk.len())
            }
            Err(_) => Ok(0),
        }
    }
}

impl std::io::Write for Pipe<mpsc::Sender<Vec<u8>>> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn bad_messages_are_answered_and_the_server_goes_on() {
    let uri = "file:///xop-transport-test/a.xop";
    let (to_server, input) = mpsc::channel::<Vec<u8>>();
    let (output, from_server) = mpsc::channel::<Vec<u8>>();
    let server = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        serve(&runtime, Pipe(input), Pipe(output)).map(|s| (s.output.is_some(), s.shut_down))
    });
    let mut frames = FrameReader::new(Pipe(from_server));
    let mut answers: Vec<Value> = Vec::new();
    // Reads answers until `done` holds of them.
    let mut until = |done: &dyn Fn(&[Value]) -> bool| {
        while !done(&answers) {
            let Some(f) = frames.next_frame() else {
                panic!("the output ended; answers so far: {answers:?}")
            };
            let Frame::Body(b) = f else {
                panic!("the server wrote a bad frame: {f:?}")
            };
            let v: Value = serde_json::from_slice(&b).expect("JSON");
            if v.get("method").is_none() {
                answers.push(v);
            }
        }
        answers.clone()
    };
    let answered = |id: Value| move |a: &[Value]| a.iter().any(|m| m["id"] == id);
    let send = |bytes: Vec<u8>| to_server.send(bytes).expect("the server reads");
    // A client waits for the answer to `initialize` before it sends anything else.
    send(msg(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
    ));
    until(&answered(json!(1)));
    send(msg(
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
    ));
    send(msg(
        json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": uri, "languageId": "xop", "version": 1, "text": "module m\nrole r\n"}}}),
    ));
    for bad in [
        "{bad json}",
        "[1,2]",
        r#"{"jsonrpc":"1.0","id":5000,"method":"textDocument/hover","params":{}}"#,
        r#"{"id":5001,"method":"textDocument/hover","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"textDocument/hover","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":7,"method":5,"params":{}}"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"$/custom"}"#,
    ] {
        send(frame(bad.as_bytes()));
    }
    send(b"Content-Length: lots\r\n\r\n{}".to_vec());
    send(b"Content-Length: 999999999999\r\n\r\n{}".to_vec());
    send(msg(
        json!({"jsonrpc": "2.0", "id": 9, "method": "textDocument/hover", "params": {
        "textDocument": {"uri": uri}, "position": {"line": 1, "character": 5}}}),
    ));
    send(msg(
        json!({"jsonrpc": "2.0", "id": 10, "method": "shutdown"}),
    ));
    let answers = until(&|a: &[Value]| {
        let nulls = a.iter().filter(|m| m["id"].is_null()).count();
        [5000, 5001, 7, 8, 9, 10]
            .iter()
            .all(|id| a.iter().any(|m| m["id"] == json!(id)))
            && nulls >= 5
    });
    let error = |id: Value| -> Vec<i64> {
        answers
            .iter()
            .filter(|a| a["id"] == id)
            .filter_map(|a| a["error"]["code"].as_i64())
            .collect()
    };
    assert_eq!(error(json!(5000)), vec![-32600]);
    assert_eq!(error(json!(5001)), vec![-32600]);
    assert_eq!(error(json!(7)), vec![-32600]);
    assert_eq!(error(json!(8)), vec![-32601]);
    let mut null = error(Value::Null);
    null.sort();
    // `{bad json}` and the two bad headers; `[1,2]` and the fractional id.
    assert_eq!(
        null,
        vec![-32700, -32700, -32700, -32600, -32600],
        "{answers:?}"
    );
    let hover = answers
        .iter()
        .find(|a| a["id"] == json!(9))
        .expect("hover answered");
    let text = hover["result"]["contents"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("role r"), "{hover}");
    let shutdown = answers
        .iter()
        .find(|a| a["id"] == json!(10))
        .expect("shutdown answered");
    assert_eq!(shutdown["result"], Value::Null, "{shutdown}");
    // The end of the input ends the server, with everything written.
    drop(to_server);
    assert_eq!(server.join().expect("no panic"), Ok((true, true)));
}

/// LSP 3.17, `exit`: the status is 0 if `shutdown` came first, else 1. `serve` says which.
#[test]
fn a_session_says_whether_the_client_shut_it_down() {
    for shutdown_first in [false, true] {
        let (to_server, input) = mpsc::channel::<Vec<u8>>();
        let (output, from_server) = mpsc::channel::<Vec<u8>>();
        let server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            serve(&runtime, Pipe(input), Pipe(output)).map(|s| s.shut_down)
        });
        let mut frames = FrameReader::new(Pipe(from_server));
        // Waits for the answer to request `id`.
        let mut answer = |id: i64| loop {
            let Some(Frame::Body(b)) = frames.next_frame() else {
                panic!("the output ended before the answer to {id}")
            };
            let v: Value = serde_json::from_slice(&b).expect("JSON");
            if v["id"] == json!(id) && v.get("method").is_none() {
                return v;
            }
        };
        let send = |v: Value| to_server.send(msg(v)).expect("the server reads");
        send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}),
        );
        answer(1);
        send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
        if shutdown_first {
            send(json!({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}));
            assert_eq!(answer(2)["result"], Value::Null);
        }
        send(json!({"jsonrpc": "2.0", "method": "exit"}));
        // `exit` ends the session though the client keeps its end open.
        assert_eq!(
            server.join().expect("no panic"),
            Ok(shutdown_first),
            "shutdown first: {shutdown_first}"
        );
        drop(to_server);
    }
}
