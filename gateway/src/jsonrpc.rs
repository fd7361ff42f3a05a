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

/// Reads one line as a JSON-RPC 2.0 message. The parsed value is returned with it so that it
/// can be forwarded unchanged.
/// An object that gives a key twice is refused as an invalid request: JSON leaves open which
/// value is meant, and the upstream server might read the other one than the policy did.
pub fn parse(line: &str) -> Result<(Json, Message), Malformed> {
    let value = bind::parse_json(line).map_err(|e| Malformed {
        response: match e.kind {
            BindErrorKind::DuplicateKey => error(
                &Json::Null,
                INVALID_REQUEST,
                &format!("invalid request: {e}"),
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
    // distinct large ids would even meet), so they are refused like any other id, with `null`.
    let id = o
        .get("id")
        .filter(|id| id.is_string() || id.is_i64() || id.is_u64());
    let echo = id.cloned().unwrap_or(Json::Null);
    if o.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
        return Err(invalid(&echo, "`jsonrpc` must be \"2.0\""));
    }
    if o.contains_key("id") && id.is_none() {
        return Err(invalid(
            &Json::Null,
            "`id` must be a string or an integer (within 64 bits)",
        ));
    }
    match (o.get("method"), id) {
        (Some(Json::String(method)), Some(id)) => Ok(Message::Request {
            id: id.clone(),
            method: method.clone(),
            params: o.get("params").cloned().unwrap_or(Json::Null),
        }),
        (Some(Json::String(method)), None) => Ok(Message::Notification {
            method: method.clone(),
        }),
        (Some(_), _) => Err(invalid(&echo, "`method` must be a string")),
        (None, Some(id)) if o.contains_key("result") || o.contains_key("error") => {
            Ok(Message::Response { id: id.clone() })
        }
        (None, _) => Err(invalid(
            &echo,
            "a message needs a `method` (request, notification) or a `result`/`error` (response)",
        )),
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
        // Ids that are no string or 64-bit integer would be echoed changed (read as floats).
        for id in ["1.5", "18446744073709551616", "-0", "1e3", "true", "{}"] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(code(&line), (INVALID_REQUEST, Json::Null), "{id}");
        }
        for id in ["-9223372036854775808", "18446744073709551615", "0", "\"x\""] {
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
}
