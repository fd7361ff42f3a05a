//! JSON-RPC 2.0 messages as MCP uses them (one JSON object per line, no batches), and the
//! error codes the gateway answers with.

use serde_json::{Value as Json, json};
use xop_runtime::bind::{self, BindErrorKind};

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC 2.0 message.
pub const INVALID_REQUEST: i64 = -32600;
/// A method the gateway does not serve.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Parameters of the wrong shape.
pub const INVALID_PARAMS: i64 = -32602;
/// The gateway could not do what it must (e.g. the upstream answered another protocol version).
pub const INTERNAL_ERROR: i64 = -32603;

/// The policies denied the tool call (server-error range; reasons in `error.data`). Not -32001,
/// which the official SDKs read as a timed-out request ([`REQUEST_TIMEOUT`]): a client that
/// retries timeouts must not retry a denial.
pub const DENIED: i64 = -32006;
/// The agent binds no action to this tool: it is never allowed.
pub const UNBOUND_TOOL: i64 = -32002;
/// The decision could not be recorded in the proof log, so it is not acted upon.
pub const NOT_PROVEN: i64 = -32003;
/// The upstream MCP server is not running.
pub const UPSTREAM_GONE: i64 = -32004;
/// A retry names a review case that does not exist or is for another call.
pub const BAD_CASE: i64 = -32005;
/// The upstream MCP server did not answer a forwarded request in time: the official SDKs' code
/// for a timed-out request (TypeScript `ErrorCode.RequestTimeout`, Python 2.x
/// `REQUEST_TIMEOUT`), so that a client built on them treats it as it treats its own timeouts
/// (`error.data.reasons` is `["xop:upstream-timeout"]`).
pub const REQUEST_TIMEOUT: i64 = -32001;

/// The largest message the gateway reads, in either direction: 16 MiB of JSON on one line
/// (without its line break). A longer line is not kept in memory: its first
/// [`SNIFF_HEAD`] bytes are, to find its id, and the rest is skipped; the client gets `-32600`,
/// a request the upstream answered with such a line `-32603`.
pub const MAX_MESSAGE: usize = 16 << 20;

/// How much of a line that cannot be read (too long, not UTF-8) is kept to find its id and
/// method ([`sniff`]).
pub const SNIFF_HEAD: usize = 64 << 10;

/// How deep the JSON of a message may nest: serde_json's limit (128 arrays or objects).
pub const MAX_DEPTH: usize = 128;

/// A message read from a peer, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: it has an id and a method.
    Request {
        /// Its id (a string or a number).
        id: Json,
        /// Its method.
        method: String,
        /// Its parameters (`Json::Null` when absent).
        params: Json,
    },
    /// A notification: a method without an id.
    Notification {
        /// Its method.
        method: String,
    },
    /// A response (a result or an error) to a request of the other side.
    Response {
        /// The id of the request it answers.
        id: Json,
    },
}

/// Why a line is not a JSON-RPC message: the error response to send, if one can be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    /// The error response (id `null` when the id could not be read).
    pub response: Json,
}

impl Malformed {
    /// What is wrong, as the error response says it.
    pub fn message(&self) -> &str {
        self.response["error"]["message"].as_str().unwrap_or("")
    }
}

/// Reads one line as a JSON-RPC 2.0 message. The parsed value is returned with it so that it
/// can be forwarded unchanged.
/// An object that gives a key twice is refused as an invalid request: JSON leaves open which
/// value is meant, and the upstream server might read the other one than the policy did. So is
/// JSON nested deeper than [`MAX_DEPTH`] (valid, but more than the gateway reads).
pub fn parse(line: &str) -> Result<(Json, Message), Malformed> {
    let value = bind::parse_json(line).map_err(|e| Malformed {
        response: match e.kind {
            BindErrorKind::DuplicateKey => error(
                &Json::Null,
                INVALID_REQUEST,
                &format!("invalid request: {e}"),
                None,
            ),
            _ if e.message.contains("recursion limit exceeded") => error(
                &Json::Null,
                INVALID_REQUEST,
                &format!(
                    "invalid request: the message nests arrays and objects more than \
                     {MAX_DEPTH} deep, more than the gateway reads ({})",
                    e.message
                        .strip_prefix("invalid JSON: recursion limit exceeded ")
                        .unwrap_or(&e.message)
                ),
                None,
            ),
            _ => error(
                &Json::Null,
                PARSE_ERROR,
                &format!(
                    "parse error: {}; send one JSON-RPC message per line",
                    e.message
                ),
                None,
            ),
        },
    })?;
    let message = classify(&value)?;
    Ok((value, message))
}

fn classify(value: &Json) -> Result<Message, Malformed> {
    let invalid = |id: &Json, why: &str| Malformed {
        response: error(
            id,
            INVALID_REQUEST,
            &format!("invalid request: {why}"),
            None,
        ),
    };
    let Json::Object(o) = value else {
        let why = if value.is_array() {
            "batches are not supported (MCP 2025-11-25 sends one message per line)"
        } else {
            "a JSON-RPC message is a JSON object"
        };
        return Err(invalid(&Json::Null, why));
    };
    // MCP ids are strings or integers. Other numbers cannot be echoed exactly: a fraction, or
    // an integer past 64 bits, is read as a float and would be written back changed (two
    // distinct large ids would even meet), and so would an integer past 2^53 − 1 by a peer
    // reading numbers as doubles; they are refused like any other id, with `null`.
    let id = o.get("id").filter(|id| valid_id(id));
    let echo = id.cloned().unwrap_or(Json::Null);
    if o.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
        return Err(invalid(&echo, "`jsonrpc` must be \"2.0\""));
    }
    if o.contains_key("id") && id.is_none() {
        return Err(invalid(
            &Json::Null,
            "`id` must be a string or an integer within ±9007199254740991 (2^53 − 1, what \
             every JSON reader keeps exactly: a peer reading numbers as doubles, such as \
             JavaScript's JSON.parse, would answer another id)",
        ));
    }
    let answers = o.contains_key("result") || o.contains_key("error");
    match (o.get("method"), id) {
        // A request or a notification carries no result: which is it meant to be?
        (Some(_), _) if answers => Err(invalid(
            &echo,
            "a message with a `method` (a request or a notification) cannot carry a `result` \
             or an `error` (a response)",
        )),
        (Some(Json::String(method)), Some(id)) => Ok(Message::Request {
            id: id.clone(),
            method: method.clone(),
            params: o.get("params").cloned().unwrap_or(Json::Null),
        }),
        (Some(Json::String(method)), None) => Ok(Message::Notification {
            method: method.clone(),
        }),
        (Some(_), _) => Err(invalid(&echo, "`method` must be a string")),
        // A response is not answered: its errors are said with id `null`.
        (None, Some(id)) if answers => {
            if o.contains_key("result") && o.contains_key("error") {
                return Err(invalid(
                    &Json::Null,
                    "a response carries a `result` or an `error`, not both",
                ));
            }
            if let Some(e) = o.get("error") {
                let code = e.get("code").is_some_and(|c| c.is_i64());
                let message = e.get("message").is_some_and(Json::is_string);
                if !(e.is_object() && code && message) {
                    return Err(invalid(
                        &Json::Null,
                        "a response's `error` is an object with an integer `code` and a \
                         string `message`",
                    ));
                }
            }
            Ok(Message::Response { id: id.clone() })
        }
        (None, _) => Err(invalid(
            &echo,
            "a message needs a `method` (request, notification) or a `result`/`error` (response)",
        )),
    }
}

/// Whether `id` is an id the gateway takes: a string, or an integer every JSON reader keeps
/// exactly (within ±[`bind::MAX_EXACT_INTEGER`], 2^53 − 1, RFC 8259 §6). A larger one is read
/// rounded by a peer that holds numbers as doubles (the TypeScript SDK's `JSON.parse`), which
/// would answer another id than the one sent: the answer would be lost, or taken for another
/// request's.
pub fn valid_id(id: &Json) -> bool {
    let magnitude = id.as_i64().map(i64::unsigned_abs).or(id.as_u64());
    id.is_string() || magnitude.is_some_and(|m| m <= bind::MAX_EXACT_INTEGER)
}

/// The methods the gateway decides (`tools/call`) or filters (`tools/list`): a method that is
/// not one of them but reads as one of them to a loose reader ([`loosely`]) is refused, never
/// forwarded.
pub const GATED_METHODS: [&str; 2] = ["tools/call", "tools/list"];

/// A method name as a loose reader might take it: ASCII and full-width letters folded to lower
/// case ASCII (`Ｔools` is `tools`), every whitespace, control and format character (zero-width
/// spaces and joiners, bidirectional marks, the byte-order mark, the soft hyphen) left out, a
/// backslash read as a slash, runs of slashes read as one, and slashes at either end left out.
/// `" /Tools//Call\u{200b} "` reads `tools/call`. Not a check of look-alike letters of other
/// scripts.
pub fn loosely(method: &str) -> String {
    let mut out = String::with_capacity(method.len());
    for c in method.chars() {
        // Full-width forms of ASCII (U+FF01 to U+FF5E) are ASCII shifted by 0xFEE0.
        let c = match u32::from(c) {
            0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        if c.is_whitespace() || c.is_control() || is_format(c) {
            continue;
        }
        let c = if c == '\\' { '/' } else { c };
        if c == '/' && (out.is_empty() || out.ends_with('/')) {
            continue;
        }
        out.extend(c.to_lowercase());
    }
    while out.ends_with('/') {
        out.pop();
    }
    out
}

/// Unicode's format characters (general category Cf) that can hide in a name: zero-width
/// spaces, joiners and non-joiners, bidirectional marks and isolates, word joiners and
/// invisible operators, the byte-order mark, the soft hyphen, and the like.
fn is_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// The gated method (`tools/call`, `tools/list`) that `method` reads as to a loose reader
/// ([`loosely`]) without being it; `None` for the gated methods themselves and every other
/// method.
pub fn gated_variant(method: &str) -> Option<&'static str> {
    if GATED_METHODS.contains(&method) {
        return None;
    }
    let loose = loosely(method);
    GATED_METHODS.into_iter().find(|m| *m == loose)
}

/// Whether `method` is `tools/call` or reads as it to a loose reader.
pub fn is_tool_call(method: &str) -> bool {
    method == "tools/call" || gated_variant(method) == Some("tools/call")
}

/// The value of the top-level key `key` of the JSON object that `text` begins with, when it
/// is a string or an integer [`valid_id`] takes, found without reading the whole text: `text` may
/// be cut short, not valid JSON further on, or give other keys twice. For a message that
/// cannot be read, to answer the request it is about (its `id`) or to know what it was (its
/// `method`). `None` when the key is not found before the text ends or stops making sense, when
/// its value is of another kind, or when it is given twice with different values.
pub fn sniff(text: &str, key: &str) -> Option<Json> {
    let mut s = Scanner {
        b: text.as_bytes(),
        text,
        i: 0,
    };
    if text.starts_with('\u{feff}') {
        s.i = 3;
    }
    s.ws();
    if !s.eat(b'{') {
        return None;
    }
    let mut found: Option<Json> = None;
    loop {
        s.ws();
        match s.peek() {
            Some(b'"') => {}
            Some(b',') => {
                s.i += 1;
                continue;
            }
            _ => return found,
        }
        let Some(k) = s.string() else {
            return found;
        };
        s.ws();
        if !s.eat(b':') {
            return found;
        }
        s.ws();
        let Some(v) = s.value() else {
            return found;
        };
        if k.as_str() == Some(key) {
            let v = v.filter(valid_id)?;
            match &found {
                Some(f) if *f != v => return None,
                _ => found = Some(v),
            }
        }
    }
}

/// A forgiving reader of JSON's tokens, for [`sniff`].
struct Scanner<'a> {
    b: &'a [u8],
    text: &'a str,
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let ok = self.peek() == Some(c);
        self.i += usize::from(ok);
        ok
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// A string at the cursor, decoded (`Some(Json::String)`), or `Some(Json::Null)` when its
    /// escapes do not decode; `None` when it does not end.
    fn string(&mut self) -> Option<Json> {
        let start = self.i;
        self.i += 1;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    let raw = self.text.get(start..self.i)?;
                    return Some(serde_json::from_str::<Json>(raw).unwrap_or(Json::Null));
                }
                _ => self.i += 1,
            }
        }
        None
    }

    /// A value at the cursor, skipped: `Some(Some(v))` for a string or a number (`v`, or
    /// `Json::Null` for a number that does not parse), `Some(None)` for anything else;
    /// `None` when the text ends or stops making sense first.
    fn value(&mut self) -> Option<Option<Json>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while matches!(
                    self.peek(),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                // The number might go on past the end of a cut-short text.
                self.peek()?;
                let n = self.text.get(start..self.i)?;
                Some(Some(serde_json::from_str::<Json>(n).unwrap_or(Json::Null)))
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Some(None);
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            b't' | b'f' | b'n' => {
                while self.peek()?.is_ascii_alphabetic() {
                    self.i += 1;
                }
                Some(None)
            }
            _ => None,
        }
    }
}

/// An error response.
pub fn error(id: &Json, code: i64, message: &str, data: Option<Json>) -> Json {
    let mut e = json!({ "code": code, "message": message });
    if let Some(data) = data {
        e["data"] = data;
    }
    json!({ "jsonrpc": "2.0", "id": id, "error": e })
}

/// A result response.
pub fn result(id: &Json, result: Json) -> Json {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// The key under which an id is remembered (ids `1` and `"1"` are different requests).
pub fn id_key(id: &Json) -> String {
    id.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(line: &str) -> (i64, Json) {
        let m = parse(line).unwrap_err().response;
        (m["error"]["code"].as_i64().unwrap(), m["id"].clone())
    }

    #[test]
    fn classifies_messages() {
        let (_, m) = parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        assert_eq!(
            m,
            Message::Request {
                id: json!(1),
                method: "tools/list".into(),
                params: Json::Null
            }
        );
        let (_, m) = parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(
            m,
            Message::Notification {
                method: "notifications/initialized".into()
            }
        );
        let (_, m) = parse(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#).unwrap();
        assert_eq!(m, Message::Response { id: json!("a") });
    }

    #[test]
    fn malformed_lines_get_proper_errors() {
        assert_eq!(code("{not json"), (PARSE_ERROR, Json::Null));
        assert_eq!(code("[1, 2]"), (INVALID_REQUEST, Json::Null));
        assert_eq!(code("42"), (INVALID_REQUEST, Json::Null));
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#),
            (INVALID_REQUEST, json!(7))
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
            (INVALID_REQUEST, Json::Null)
        );
        // Ids that are no string or 64-bit integer would be echoed changed (read as floats),
        // and so would one beyond ±(2^53 − 1) by a peer reading numbers as doubles.
        for id in [
            "1.5",
            "18446744073709551616",
            "-0",
            "1e3",
            "true",
            "{}",
            "9007199254740992",
            "-9007199254740992",
            "18446744073709551615",
            "-9223372036854775808",
        ] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(code(&line), (INVALID_REQUEST, Json::Null), "{id}");
        }
        let big = parse(r#"{"jsonrpc":"2.0","id":9007199254740993,"method":"x"}"#).unwrap_err();
        assert!(
            big.message()
                .contains("an integer within ±9007199254740991 (2^53 − 1"),
            "{}",
            big.message()
        );
        for id in ["-9007199254740991", "9007199254740991", "0", "\"x\""] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            let (value, _) = parse(&line).unwrap();
            assert_eq!(value["id"].to_string(), id, "{id} is echoed as it is");
        }
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":3,"method":5}"#),
            (INVALID_REQUEST, json!(3))
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":3}"#),
            (INVALID_REQUEST, json!(3))
        );
        // A key given twice, in a tool call's arguments or anywhere else in the message.
        let twice = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"refund","arguments":{"amount":5,"amount":5000}}}"#;
        assert_eq!(code(twice), (INVALID_REQUEST, Json::Null));
        let e = parse(twice).unwrap_err().response;
        let message = e["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "invalid request: params.arguments.amount: the key \"amount\" is given twice"
            ),
            "{message}"
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":5,"id":6,"method":"x"}"#),
            (INVALID_REQUEST, Json::Null)
        );
    }

    #[test]
    fn requests_and_responses_cannot_be_both() {
        // 12: a method with a result or an error; a response with both, or an error that is
        // not JSON-RPC's.
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":21,"result":{},"method":"tools/call"}"#),
            (INVALID_REQUEST, json!(21))
        );
        assert_eq!(
            code(
                r#"{"jsonrpc":"2.0","method":"notifications/x","error":{"code":1,"message":"m"}}"#
            ),
            (INVALID_REQUEST, Json::Null)
        );
        for response in [
            r#"{"jsonrpc":"2.0","id":92,"result":{},"error":{"code":1,"message":"m"}}"#,
            r#"{"jsonrpc":"2.0","id":93,"error":{"code":"1","message":"m"}}"#,
            r#"{"jsonrpc":"2.0","id":94,"error":{"code":1}}"#,
            r#"{"jsonrpc":"2.0","id":95,"error":"boom"}"#,
        ] {
            assert_eq!(code(response), (INVALID_REQUEST, Json::Null), "{response}");
        }
        let (_, m) =
            parse(r#"{"jsonrpc":"2.0","id":96,"error":{"code":-1,"message":"m"}}"#).unwrap();
        assert_eq!(m, Message::Response { id: json!(96) });
    }

    #[test]
    fn too_deep_json_is_said_to_be_too_deep() {
        // 15: valid JSON, only deeper than serde_json reads: not "invalid JSON".
        let line = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{}{}}}"#,
            "[".repeat(130),
            "]".repeat(130)
        );
        let e = parse(&line).unwrap_err();
        assert_eq!(e.response["error"]["code"], INVALID_REQUEST);
        assert!(
            e.message().contains("more than 128 deep"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("invalid JSON"), "{}", e.message());
    }

    #[test]
    fn loose_readings_of_the_tool_methods() {
        // 8: what a loose reader takes for tools/call or tools/list.
        for m in [
            "tools/call ",
            " tools/call",
            "tools/call\u{0}",
            "tools/call\r\n",
            "/tools/call",
            "tools//call",
            "tools/call/",
            "//tools///call//",
            "tools\\call",
            "Tools/Call",
            "tools/ca\u{200b}ll",
            "tools/\u{200d}call",
            "tools/call\u{feff}",
            "tools/c\u{ad}all",
            "ｔｏｏｌｓ／ｃａｌｌ",
            "tools/\u{202e}call",
        ] {
            assert_eq!(gated_variant(m), Some("tools/call"), "{m:?}");
            assert!(is_tool_call(m), "{m:?}");
        }
        assert_eq!(gated_variant("TOOLS/LIST "), Some("tools/list"));
        for m in [
            "tools/call",
            "tools/list",
            "tools/calls",
            "tool/call",
            "tools.call",
            "ping",
            "",
        ] {
            assert_eq!(gated_variant(m), None, "{m:?}");
        }
        assert!(is_tool_call("tools/call") && !is_tool_call("tools/list"));
        assert_eq!(loosely(" /Tools//Call\u{200b} "), "tools/call");
    }

    #[test]
    fn sniffing_the_id_of_what_cannot_be_read() {
        // 9, 13: the id of a message cut short, not UTF-8, with a key twice elsewhere.
        let id = |t: &str| sniff(t, "id");
        assert_eq!(
            id(r#"{"jsonrpc":"2.0","id":5,"result":{"x":"#),
            Some(json!(5))
        );
        assert_eq!(
            id(r#"{"result":{"id":9,"a":[1,{"b":"}"}]},"id":"r"}"#),
            Some(json!("r"))
        );
        assert_eq!(
            id(r#"{"id":"a\"b","result":1,"result":2}"#),
            Some(json!("a\"b"))
        );
        assert_eq!(
            id("\u{feff} {\"id\" : -3 , \"x\":\u{fffd}"),
            Some(json!(-3))
        );
        // Not found, of another kind, or given twice with two values: none.
        assert_eq!(id(r#"{"result":{"x":"...."#), None);
        assert_eq!(id(r#"{"id":1.5}"#), None);
        assert_eq!(id(r#"{"id":9007199254740992}"#), None);
        assert_eq!(
            id(r#"{"id":-9007199254740991}"#),
            Some(json!(-9007199254740991_i64))
        );
        assert_eq!(id(r#"{"id":null}"#), None);
        assert_eq!(id(r#"{"id":1,"id":2}"#), None);
        assert_eq!(id(r#"{"id":1,"id":1}"#), Some(json!(1)));
        assert_eq!(id(r#"{"id":12"#), None);
        assert_eq!(id("[1]"), None);
        assert_eq!(id(""), None);
        assert_eq!(
            sniff(
                r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"#,
                "method"
            ),
            Some(json!("tools/call"))
        );
    }
}
