//! The byte stream between the editor and `tower-lsp-server`'s [`Server`].
//!
//! `tower-lsp-server` stops reading, and so ends the server, after the first message it cannot
//! decode, and it never answers a request whose method starts with `$/`. This layer sits in
//! front of it: it reads the `Content-Length` frames itself, passes on unchanged every body
//! `tower-lsp-server` can decode, and answers the others itself, with the JSON-RPC error the
//! specification asks for:
//!
//! - a body that is not JSON (or not UTF-8): -32700 (parse error), id `null`;
//! - JSON that is not a request, a notification or a response (not an object, `jsonrpc` not
//!   `"2.0"`, an id that is not a string or an integer (a response's may be `null`), a method
//!   that is not a string, a response without exactly one of `result` and `error`): -32600
//!   (invalid request), with the request's id when it has a usable one and a method, else
//!   `null`;
//! - a request (it has an id) whose method starts with `$/`: -32601 (method not found);
//! - a bad header (no `Content-Length`, a value that is not a number, a frame larger than
//!   [`MAX_FRAME`], a header line too long): -32700, id `null`, and the input is skipped up to
//!   the next `Content-Length` header.
//!
//! One writer thread owns the output: it writes whole frames, the server's and these answers,
//! so two never interleave.

use std::io::{Read, Write};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Id, Request, Response};
use tower_lsp_server::{LspService, Server};

use crate::server::Backend;

/// The largest message body accepted, in bytes; a larger one is answered with a parse error
/// and skipped. A document of a few megabytes, escaped as JSON, fits many times over.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// The longest header line, and the most lines in one header block.
const MAX_HEADER_LINE: usize = 1024;
const MAX_HEADER_LINES: usize = 16;

/// What the resynchronisation after a bad header looks for (compared ignoring ASCII case).
const HEADER_START: &[u8] = b"content-length:";

/// Buffer of each in-memory pipe to and from the server.
const PIPE: usize = 64 * 1024;

/// One message read from the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A body, as it was sent.
    Body(Vec<u8>),
    /// A header that could not be read, and why; the input after it is skipped up to the next
    /// `Content-Length` header.
    Bad(String),
}

/// Reads `Content-Length` frames from a byte stream, and recovers from bad ones.
pub struct FrameReader<R> {
    input: R,
    /// Bytes read and not yet consumed start at `pos`.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// After a bad header: where to look for the next `Content-Length` from.
    resync: Option<usize>,
}

impl<R: Read> FrameReader<R> {
    /// A reader of `input`.
    pub fn new(input: R) -> FrameReader<R> {
        FrameReader {
            input,
            buf: Vec::new(),
            pos: 0,
            eof: false,
            resync: None,
        }
    }

    /// The next frame; `None` at the end of the input (or on a read error), also in the middle
    /// of a frame.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if let Some(from) = self.resync.take() {
            self.skip_to_header(from)?;
        }
        self.compact();
        let mut length: Option<usize> = None;
        let mut lines = 0;
        loop {
            let start = self.pos;
            let line = match self.line() {
                Some(Ok(line)) => line,
                Some(Err(why)) => return Some(self.bad(why, start + 1)),
                None => return None,
            };
            if line.is_empty() {
                if lines == 0 {
                    // Blank lines between frames are tolerated.
                    continue;
                }
                break;
            }
            lines += 1;
            if lines > MAX_HEADER_LINES {
                return Some(self.bad(
                    format!("more than {MAX_HEADER_LINES} header lines"),
                    start + 1,
                ));
            }
            let Some((name, value)) = header(&line) else {
                let shown: String = String::from_utf8_lossy(&line).chars().take(60).collect();
                return Some(self.bad(format!("`{shown}` is not a header"), start + 1));
            };
            if !name.eq_ignore_ascii_case("content-length") {
                // Content-Type and any other header are ignored: bodies are read as UTF-8.
                continue;
            }
            let n = match parse_length(value) {
                Ok(n) if length.is_some_and(|l| l != n) => {
                    Err("two different Content-Length headers".to_string())
                }
                other => other,
            };
            match n {
                Ok(n) => length = Some(n),
                Err(why) => {
                    // The rest of this header block is skipped by the resynchronisation.
                    let here = self.pos;
                    return Some(self.bad(why, here));
                }
            }
        }
        let here = self.pos;
        let Some(n) = length else {
            return Some(self.bad("a header without Content-Length".to_string(), here));
        };
        if n > MAX_FRAME {
            return Some(self.bad(
                format!("a message of {n} bytes (the largest accepted is {MAX_FRAME})"),
                here,
            ));
        }
        while self.buf.len() - self.pos < n {
            if !self.fill() {
                return None;
            }
        }
        let body = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        Some(Frame::Body(body))
    }

    fn bad(&mut self, why: String, resync_from: usize) -> Frame {
        self.resync = Some(resync_from);
        Frame::Bad(why)
    }

    /// The next line without its line break; `None` at the end of the input.
    fn line(&mut self) -> Option<Result<Vec<u8>, String>> {
        let mut scanned = 0;
        loop {
            let rest = &self.buf[self.pos + scanned..];
            if let Some(i) = rest.iter().position(|&b| b == b'\n') {
                let end = self.pos + scanned + i;
                let mut line = &self.buf[self.pos..end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let line = line.to_vec();
                self.pos = end + 1;
                return Some(if line.len() > MAX_HEADER_LINE {
                    Err(format!("a header line longer than {MAX_HEADER_LINE} bytes"))
                } else {
                    Ok(line)
                });
            }
            scanned = self.buf.len() - self.pos;
            if scanned > MAX_HEADER_LINE {
                return Some(Err(format!(
                    "a header line longer than {MAX_HEADER_LINE} bytes"
                )));
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Moves to the next `Content-Length` header at or after byte `from` of the buffer,
    /// reading as needed without keeping what it skips. `None` at the end of the input.
    fn skip_to_header(&mut self, from: usize) -> Option<()> {
        self.pos = from.min(self.buf.len());
        loop {
            let found = self.buf[self.pos..]
                .windows(HEADER_START.len())
                .position(|w| w.eq_ignore_ascii_case(HEADER_START));
            if let Some(i) = found {
                self.pos += i;
                return Some(());
            }
            // Keep only what could be the start of a match split across two reads.
            self.pos = self
                .pos
                .max(self.buf.len().saturating_sub(HEADER_START.len() - 1));
            self.compact();
            if !self.fill() {
                return None;
            }
        }
    }

    fn compact(&mut self) {
        self.buf.drain(..self.pos);
        self.pos = 0;
    }

    /// Reads more input; false at its end.
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.input.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.eof = true;
                    return false;
                }
            }
        }
    }
}

/// A header line's name and value, if it is one (`Name: value`, the name a token).
fn header(line: &[u8]) -> Option<(&str, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (name, value) = line.split_once(':')?;
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    (!name.is_empty() && name.chars().all(token)).then_some((name, value.trim()))
}

fn parse_length(value: &str) -> Result<usize, String> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("Content-Length `{value}` is not a number"));
    }
    value
        .parse()
        .map_err(|_| format!("a message of {value} bytes (the largest accepted is {MAX_FRAME})"))
}

/// Whether `body` is a message `tower-lsp-server` can take, or the error answer to send back.
pub fn check(body: &[u8]) -> Result<(), Response> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        reply(
            Id::Null,
            ErrorCode::ParseError,
            format!("the message is not JSON: {e}"),
        )
    })?;
    let is_request = classify(&value)?;
    // Decoded exactly as `tower-lsp-server` will, so that it never sees one it cannot.
    let decodes = if is_request {
        serde_json::from_value::<Request>(value).is_ok()
    } else {
        serde_json::from_value::<Response>(value).is_ok()
    };
    if decodes {
        Ok(())
    } else {
        Err(reply(
            Id::Null,
            ErrorCode::InvalidRequest,
            "not a valid request, notification or response".into(),
        ))
    }
}

/// Whether `value` is a request or notification (true) or a response (false), or the answer
/// to a message that is none of them.
fn classify(value: &Value) -> Result<bool, Response> {
    let Value::Object(msg) = value else {
        return Err(reply(
            Id::Null,
            ErrorCode::InvalidRequest,
            "a message must be a JSON object (batches are not supported)".into(),
        ));
    };
    let has_method = msg.contains_key("method");
    // A request's id, when it is one a client can match an answer to.
    let id = match msg.get("id") {
        None => None,
        Some(Value::String(s)) => Some(Id::String(s.clone())),
        Some(Value::Number(n)) if n.is_i64() => n.as_i64().map(Id::Number),
        // A response may have a null id (the answer to a request that could not be read).
        Some(Value::Null) if !has_method => Some(Id::Null),
        Some(_) => {
            return Err(reply(
                Id::Null,
                ErrorCode::InvalidRequest,
                "the id must be a string or an integer".into(),
            ));
        }
    };
    let invalid = |why: &str| {
        // Only a request's id is one the client waits on.
        let answer_id = id.clone().filter(|_| has_method).unwrap_or(Id::Null);
        Err(reply(answer_id, ErrorCode::InvalidRequest, why.to_string()))
    };
    if msg.get("jsonrpc") != Some(&Value::String("2.0".into())) {
        return invalid("`jsonrpc` must be \"2.0\"");
    }
    match msg.get("method") {
        Some(Value::String(method)) => {
            if let Some(id) = &id
                && method.starts_with("$/")
            {
                return Err(reply(
                    id.clone(),
                    ErrorCode::MethodNotFound,
                    format!("`{method}` is not a request this server answers"),
                ));
            }
            Ok(true)
        }
        Some(_) => invalid("the method must be a string"),
        None => {
            let answers =
                usize::from(msg.contains_key("result")) + usize::from(msg.contains_key("error"));
            if id.is_none() || answers != 1 {
                return invalid("neither a request, a notification nor a response");
            }
            Ok(false)
        }
    }
}

fn reply(id: Id, code: ErrorCode, message: String) -> Response {
    Response::from_error(
        id,
        Error {
            code,
            message: message.into(),
            data: None,
        },
    )
}

/// `body` framed with its `Content-Length` header.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// How a session ended.
#[derive(Debug)]
pub struct Served<W> {
    /// The output, once everything the server wrote is written to it (`None` if writing
    /// failed).
    pub output: Option<W>,
    /// Whether the client asked for `shutdown` before it sent `exit` or closed its end: the
    /// process's status is 0 then, else 1 (LSP 3.17, `exit`).
    pub shut_down: bool,
}

/// Serves the protocol on `input` and `output` until the client exits or the input ends, on
/// `runtime`. Returns how the session ended once everything the server wrote is written, or an
/// error if a thread cannot start.
///
/// The input is read on a thread of its own, which is left behind blocked on a read if the
/// client sends `exit` and keeps its end open; the process ends anyway.
pub fn serve<R, W>(
    runtime: &tokio::runtime::Runtime,
    input: R,
    output: W,
) -> Result<Served<W>, String>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::channel::<Out>(64);
    let writer = std::thread::Builder::new()
        .name("xop-lsp-writer".into())
        .spawn(move || write_frames(out_rx, output))
        .map_err(|e| format!("cannot start the language server's writer: {e}"))?;
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let answers = out_tx.clone();
    std::thread::Builder::new()
        .name("xop-lsp-reader".into())
        .spawn(move || read_frames(input, &in_tx, &answers))
        .map_err(|e| format!("cannot start the language server's reader: {e}"))?;
    let shut_down = runtime.block_on(async move {
        let (to_server, server_in) = tokio::io::duplex(PIPE);
        let (server_out, from_server) = tokio::io::duplex(PIPE);
        let feed = tokio::spawn(feed(in_rx, to_server));
        let drain = tokio::spawn(drain(from_server, out_tx));
        let (service, socket) = LspService::new(Backend::new);
        let shut_down = service.inner().shutdown_flag();
        Server::new(server_in, server_out, socket)
            .serve(service)
            .await;
        // The server has dropped its output: `drain` forwards what is left, then ends.
        feed.abort();
        let _ = drain.await;
        shut_down.load(std::sync::atomic::Ordering::SeqCst)
    });
    Ok(Served {
        output: writer.join().ok().flatten(),
        shut_down,
    })
}

/// What the writer thread receives.
enum Out {
    /// A whole frame to write.
    Frame(Vec<u8>),
    /// Everything the server wrote has been sent: stop.
    Stop,
}

/// Reads frames from `input`: bodies the server can decode go to `to_server`, the answers to
/// the others to the writer. Ends at the end of the input, or when the server stops reading.
fn read_frames<R: Read>(input: R, to_server: &mpsc::Sender<Vec<u8>>, answers: &mpsc::Sender<Out>) {
    let mut frames = FrameReader::new(input);
    while let Some(f) = frames.next_frame() {
        let answer = match f {
            Frame::Body(body) => match check(&body) {
                Ok(()) => {
                    if to_server.blocking_send(body).is_err() {
                        return;
                    }
                    continue;
                }
                Err(answer) => answer,
            },
            Frame::Bad(why) => reply(
                Id::Null,
                ErrorCode::ParseError,
                format!("cannot read the message: {why}"),
            ),
        };
        log(&answer);
        if let Ok(json) = serde_json::to_vec(&answer)
            && answers.blocking_send(Out::Frame(frame(&json))).is_err()
        {
            return;
        }
    }
}

/// Logs an answer to a bad message on standard error (a failed write to it is ignored: the
/// log is a courtesy, the answer is what the client needs).
fn log(answer: &Response) {
    if let Some(e) = answer.error() {
        let _ = writeln!(
            std::io::stderr(),
            "xop lsp: {} ({})",
            e.message,
            e.code.code()
        );
    }
}

/// Writes valid bodies to the server's input, framed.
async fn feed(mut from_reader: mpsc::Receiver<Vec<u8>>, mut to_server: DuplexStream) {
    while let Some(body) = from_reader.recv().await {
        if to_server.write_all(&frame(&body)).await.is_err() {
            return;
        }
    }
    // The input ended: the server sees the end of its input too.
    let _ = to_server.shutdown().await;
}

/// Cuts the server's output into frames for the writer; `Stop` at its end.
async fn drain(from_server: DuplexStream, to_writer: mpsc::Sender<Out>) {
    let mut input = BufReader::new(from_server);
    let mut writing = true;
    while let Some(body) = server_frame(&mut input).await {
        // If the output is gone, the server's frames are still read, so that it never blocks.
        if writing && to_writer.send(Out::Frame(frame(&body))).await.is_err() {
            writing = false;
        }
    }
    let _ = to_writer.send(Out::Stop).await;
}

/// One frame of the server's own output (always well formed); `None` at its end.
async fn server_frame(input: &mut BufReader<DuplexStream>) -> Option<Vec<u8>> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if input.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    input.read_exact(&mut body).await.ok()?;
    Some(body)
}

/// Writes frames to `output` until `Stop` (or until all senders are gone); returns `output`,
/// or `None` if a write failed.
fn write_frames<W: Write>(mut frames: mpsc::Receiver<Out>, mut output: W) -> Option<W> {
    while let Some(Out::Frame(f)) = frames.blocking_recv() {
        if output.write_all(&f).and_then(|()| output.flush()).is_err() {
            // Keep receiving, so that no sender waits forever on a full channel.
            while let Some(Out::Frame(_)) = frames.blocking_recv() {}
            return None;
        }
    }
    Some(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Frame> {
        let mut r = FrameReader::new(input);
        std::iter::from_fn(|| r.next_frame()).collect()
    }

    fn body(s: &str) -> Frame {
        Frame::Body(s.as_bytes().to_vec())
    }

    fn is_bad(f: &Frame, why: &str) -> bool {
        matches!(f, Frame::Bad(w) if w.contains(why))
    }

    /// A reader that hands out its input a few bytes at a time, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(buf.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn frames_are_read_whatever_the_reads() {
        let input = b"Content-Length: 2\r\n\r\n{}content-length: 3\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n[1]\r\nContent-Length: 0\n\n";
        let expected = vec![body("{}"), body("[1]"), body("")];
        assert_eq!(frames(input), expected);
        let mut r = FrameReader::new(Trickle(input));
        let got: Vec<Frame> = std::iter::from_fn(|| r.next_frame()).collect();
        assert_eq!(got, expected);
        // A frame cut short by the end of the input is not a frame.
        assert_eq!(frames(b"Content-Length: 10\r\n\r\n{}"), vec![]);
    }

    #[test]
    fn a_bad_header_is_reported_and_the_next_frame_read() {
        let next = "Content-Length: 2\r\n\r\n{}";
        for (bad, why) in [
            ("Content-Length: abc\r\n\r\n{\"x\":1}", "not a number"),
            ("Content-Length: -5\r\n\r\n", "not a number"),
            (
                "Content-Type: text/plain\r\n\r\n{\"x\":1}",
                "without Content-Length",
            ),
            (
                "Content-Length: 99999999999\r\n\r\nxyz",
                "the largest accepted",
            ),
            (
                "Content-Length: 99999999999999999999999\r\n\r\nxyz",
                "the largest accepted",
            ),
            (
                "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                "two different",
            ),
            // A body sent without a header, right before the next frame.
            ("{\"jsonrpc\":\"2.0\"}", "is not a header"),
        ] {
            let input = format!("{bad}{next}");
            let got = frames(input.as_bytes());
            assert_eq!(got.len(), 2, "{bad:?}: {got:?}");
            assert!(is_bad(&got[0], why), "{bad:?}: {got:?}");
            assert_eq!(got[1], body("{}"), "{bad:?}");
        }
        let long = format!("X-{}: 1\r\n\r\n{next}", "a".repeat(5000));
        let got = frames(long.as_bytes());
        assert!(is_bad(&got[0], "longer than"), "{got:?}");
        assert_eq!(got.last(), Some(&body("{}")));
        // Garbage that never ends in a header: one report, then the end.
        let got = frames(&[b'x'; 100_000]);
        assert_eq!(got.len(), 1);
        assert!(is_bad(&got[0], "longer than"));
    }

    fn answer(body: &str) -> Option<(i64, Value)> {
        check(body.as_bytes()).err().map(|r| {
            let v = serde_json::to_value(&r).expect("json");
            (
                v["error"]["code"].as_i64().expect("a code"),
                v["id"].clone(),
            )
        })
    }

    #[test]
    fn invalid_messages_are_answered_valid_ones_passed_on() {
        use serde_json::json;
        for (msg, code, id) in [
            ("{bad json}", -32700, json!(null)),
            ("", -32700, json!(null)),
            ("\u{feff}{}", -32700, json!(null)),
            ("[1,2]", -32600, json!(null)),
            ("[]", -32600, json!(null)),
            ("\"str\"", -32600, json!(null)),
            (
                r#"{"jsonrpc":"1.0","id":5000,"method":"textDocument/hover","params":{}}"#,
                -32600,
                json!(5000),
            ),
            (
                r#"{"id":"a","method":"textDocument/hover","params":{}}"#,
                -32600,
                json!("a"),
            ),
            (r#"{"jsonrpc":"2.0","params":{}}"#, -32600, json!(null)),
            (r#"{"jsonrpc":"2.0","id":99999}"#, -32600, json!(null)),
            (
                r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{"code":1,"message":"m"}}"#,
                -32600,
                json!(null),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":"x"}}"#,
                -32600,
                json!(null),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"textDocument/hover","params":{}}"#,
                -32600,
                json!(null),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"textDocument/hover","params":{}}"#,
                -32600,
                json!(null),
            ),
            (
                r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"x"}"#,
                -32600,
                json!(null),
            ),
            (
                r#"{"jsonrpc":"2.0","id":{"a":1},"method":"textDocument/hover","params":{}}"#,
                -32600,
                json!(null),
            ),
            (
                r#"{"jsonrpc":"2.0","id":7,"method":5,"params":{}}"#,
                -32600,
                json!(7),
            ),
            (
                r#"{"jsonrpc":"2.0","id":8,"method":"$/custom"}"#,
                -32601,
                json!(8),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"c","method":"$/cancelRequest","params":{"id":1}}"#,
                -32601,
                json!("c"),
            ),
        ] {
            assert_eq!(answer(msg), Some((code, id.clone())), "{msg}");
        }
        for ok in [
            r#"{"jsonrpc":"2.0","id":1,"method":"textDocument/hover","params":{}}"#,
            r#"{"jsonrpc":"2.0","id":"x","method":"shutdown"}"#,
            r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":1}}"#,
            r#"{"jsonrpc":"2.0","method":"textDocument/didChange","params":{"textDocument":{"version":"x"}}}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":null}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"bad"}}"#,
        ] {
            assert_eq!(answer(ok), None, "{ok}");
        }
    }

    #[test]
    fn frames_keep_their_bytes() {
        let body = "{\"a\":\"é\"}";
        let framed = frame(body.as_bytes());
        let mut r = FrameReader::new(&framed[..]);
        assert_eq!(r.next_frame(), Some(Frame::Body(body.as_bytes().to_vec())));
        assert_eq!(r.next_frame(), None);
    }
}
