//! Proof records: what the log keeps of each decision (and of each erasure and other event),
//! and their canonical encoding.
//!
//! A record is one line of JSON with no whitespace, its keys in this order: `seq`, `time`,
//! `kind`, then the kind's fields in the order of the structs below. The bytes as written are
//! the Merkle leaf, so the encoding is defined by the bytes, not re-derived: [`encode`] is the
//! one writer, and `xop log verify` checks that every record re-encodes to exactly its bytes.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::cell::{Cell, RefCell};

use crate::ir::{Program, SymbolKind, Verdict};
use crate::value::Value;

/// A record, as stored (the leaf of the tree).
// No `deny_unknown_fields` here or in the bodies: serde does not support it with `flatten`.
// Unknown fields are caught by the canonical check of `decode` instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Its position in the log, from 0.
    pub seq: u64,
    /// When it was made (RFC 3339, UTC, milliseconds): a decision's, when the decision began;
    /// an event's, when it was handed to the log. Not when it was written: records made at
    /// once are numbered as they reach the writer, so `time` need not increase with `seq`.
    pub time: String,
    /// What it records.
    #[serde(flatten)]
    pub body: Body,
}

/// A record without its sequence number: what a caller hands to the log, which numbers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// When it was made (RFC 3339, UTC, milliseconds): see [`Record::time`].
    pub time: String,
    /// What it records.
    #[serde(flatten)]
    pub body: Body,
}

/// What a record records.
// Records are built once per decision and moved, never kept in bulk: boxing the large
// variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A decision.
    Decision(DecisionRecord),
    /// A subject's hash key was erased (GDPR Art. 17): the evidence hashed with it is unlinked.
    Erasure {
        /// The erased key's id.
        key: String,
    },
    /// Anything else the runtime proves (a review's outcome, a module swap): a name and a JSON
    /// object. It must hold no personal data in clear.
    Event {
        /// What happened, e.g. `review.approved`.
        name: String,
        /// The details.
        data: Json,
    },
}

/// A decision, as proven.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The module's content hash (hex): the module file's SHA-256.
    pub module: String,
    /// The policy's qualified name; for a decision of an action over every policy guarding it
    /// ([`DecisionRecord::action`]), their qualified names joined with `+`, in the order they
    /// were evaluated.
    pub policy: String,
    /// For a decision of an action over every policy guarding it (`xop serve`'s `POST
    /// /v1/actions/{action}/decide`, [`crate::engine::Runtime::decide_action`]): the action's
    /// qualified name. Absent for a decision of one policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The decision time the rules saw (RFC 3339, milliseconds).
    pub at: String,
    /// The input values the rules read (see [`super::evidence`]).
    pub evidence: Vec<Evidence>,
    /// The signals read, in order.
    pub signals: Vec<SignalRead>,
    /// The verdict: `allow`, `review` or `deny`.
    #[serde(with = "verdict_keyword")]
    pub verdict: Verdict,
    /// The reasons.
    pub reasons: Vec<String>,
    /// The ids of the rules that fired.
    pub fired: Vec<String>,
    /// The review's terms, for a review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewTerms>,
    /// For a review whose case keeps the action's arguments (an action the connectors carry
    /// out, decided with them plugged in: [`crate::engine::ReviewSink::open_case_with_args`]):
    /// [`args_sha256`] of those arguments. The case lives in the review queue's file, which is
    /// not part of this log: an approval carries the action out only with arguments that hash
    /// to this ([`crate::engine::Runtime::perform_approved`]). Absent otherwise, and in
    /// records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_sha256: Option<String>,
    /// What went wrong, for a decision that failed closed. For refused input
    /// (`xop:bad-input`): the field path and the stable error kind, `to.messages_7d:
    /// wrong-type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For refused input: what was expected and the hint, without the input's values (a
    /// value found is named by its JSON type: `expected an integer, found a string`; see
    /// [`crate::bind::BindError::redacted`]). Absent otherwise, and in records written
    /// before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A review's terms as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewTerms {
    /// The role that decides.
    pub role: String,
    /// How long it has, in milliseconds.
    pub within_ms: i64,
    /// What applies when nobody decides in time.
    #[serde(with = "verdict_keyword")]
    pub fallback: Verdict,
    /// The deadline (RFC 3339): the decision time plus `within_ms`.
    pub deadline: String,
    /// When review rules of several roles fired: the other roles that must approve too (each
    /// by someone holding it: [`crate::review::Case::waiting`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<String>,
}

/// One input value a rule read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// The input path, e.g. `to.consents[0].purpose`.
    pub path: String,
    /// The value in the input JSON format (`null` for absent); for a list, see `len`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub value: Option<Json>,
    /// For a list: its length (its elements' read parts follow as their own items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<u64>,
    /// For an `@personal` value: HMAC-SHA-256 of its JSON text, keyed by its subject's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac: Option<String>,
    /// For an `@personal` value: the id of the subject key it is hashed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Set when the value was read only to be passed to this signal's connector (not by a
    /// rule directly): replay does not need it, the signal's value is recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// One signal read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalRead {
    /// The signal's qualified name.
    pub signal: String,
    /// The value read (`null` when absent), in the input JSON format.
    pub value: Json,
    /// Where the value came from, when a connector read it: the network calls and their
    /// correlators, or why the signal is absent. A value given in the input has none, unless
    /// it was judged stale or of unknown freshness and read as absent: then this says why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<SignalFetch>,
}

/// How a connector read a signal: fetched now, or reused within its `max_age`, or absent and
/// why; with the network calls behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalFetch {
    /// The declared source, e.g. `std.camara.sim_swap`.
    pub source: String,
    /// Whether the value was reused from an earlier call (the calls are then that call's).
    pub cached: bool,
    /// How old the value was when read, in milliseconds (0 when fetched for this read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_ms: Option<u64>,
    /// Why the signal is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The HTTP requests behind the value, or made in vain.
    pub calls: Vec<NetworkCall>,
}

impl SignalFetch {
    /// For people: `from SOURCE: fetched (x-correlator …)`, `reused, N ms old`, or
    /// `absent: why`.
    pub fn describe(&self) -> String {
        let how = match (&self.reason, self.cached) {
            (Some(why), _) => format!("absent: {why}"),
            (None, true) => format!("reused, {} ms old", self.age_ms.unwrap_or(0)),
            (None, false) => "fetched".to_string(),
        };
        format!("from {}: {how}{}", self.source, correlators(&self.calls))
    }
}

/// ` (x-correlator A, B)` for the calls that carried one; empty when none did.
pub fn correlators(calls: &[NetworkCall]) -> String {
    let c: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.correlator.as_deref())
        .collect();
    if c.is_empty() {
        String::new()
    } else {
        format!(" (x-correlator {})", c.join(", "))
    }
}

/// One HTTP request made to the network (one attempt of a call, or a token request), as the
/// proof record keeps it. Phone numbers and other arguments are not in it: the decision's
/// evidence has them, hashed when personal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCall {
    /// The API (`sim-swap`, `quality-on-demand`, `device-roaming-status`,
    /// `device-reachability-status`), or `oauth2` for the token endpoint.
    pub api: String,
    /// The operation's `operationId` in the API's OpenAPI file (`checkSimSwap`), or `token`.
    pub operation: String,
    /// The HTTP method.
    pub method: String,
    /// The path under the API's base URL (`/check`, `/sessions/{id}`).
    pub path: String,
    /// The `x-correlator` sent (one per call, the same on each of its attempts); `None` for
    /// the token endpoint, which is not a CAMARA API.
    pub correlator: Option<String>,
    /// The `x-correlator` the answer carried, if any.
    pub echoed_correlator: Option<String>,
    /// 1 for the first attempt of a call, 2 for its first retry, …
    pub attempt: u32,
    /// The HTTP status of the answer; `None` when there was none (timeout, connection failed).
    pub status: Option<u16>,
    /// The CAMARA error `code` of an error answer (or OAuth2 `error` of the token endpoint).
    pub error_code: Option<String>,
    /// What went wrong with this request; `None` when it succeeded.
    pub error: Option<String>,
    /// How long the request took, in milliseconds.
    pub elapsed_ms: u64,
}

/// A field that is present is `Some`, even when it is `null` (an absent input value).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// Verdicts as their keywords (`allow`, `review`, `deny`).
mod verdict_keyword {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ir::Verdict;

    pub fn serialize<S: Serializer>(v: &Verdict, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.keyword())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Verdict, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "allow" => Ok(Verdict::Allow),
            "review" => Ok(Verdict::Review),
            "deny" => Ok(Verdict::Deny),
            other => Err(serde::de::Error::custom(format!(
                "unknown verdict {other:?} (expected allow, review or deny)"
            ))),
        }
    }
}

/// The commitment a decision record keeps to the arguments its review case keeps
/// ([`DecisionRecord::args_sha256`]): the SHA-256, lowercase hex, of their canonical JSON
/// ([`canonical_json`]).
pub fn args_sha256(args: &serde_json::Map<String, Json>) -> String {
    use sha2::{Digest, Sha256};
    let mut bytes = Vec::with_capacity(256);
    canonical_object(args.iter(), &mut bytes);
    crate::module::hex(&Sha256::digest(&bytes))
}

/// Writes `v` as canonical JSON: no whitespace, the keys of every object sorted by their UTF-8
/// bytes, strings and numbers as serde_json writes them. A `serde_json::Map` iterates in key
/// order only without serde_json's `preserve_order` feature, which any crate of a build may
/// turn on; sorting here keeps the encoding (and so a commitment) the same either way.
pub fn canonical_json(v: &Json, out: &mut Vec<u8>) {
    match v {
        Json::Object(m) => canonical_object(m.iter(), out),
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        // Writing a scalar to a `Vec` cannot fail.
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// [`canonical_json`] of an object given by its entries.
fn canonical_object<'a>(entries: impl Iterator<Item = (&'a String, &'a Json)>, out: &mut Vec<u8>) {
    let mut entries: Vec<_> = entries.collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut *out, k);
        out.push(b':');
        canonical_json(v, out);
    }
    out.push(b'}');
}

/// The record's canonical bytes, without the sequence number: `{"time":…}`. The writer
/// prefixes `{"seq":N,` (see [`with_seq`]).
pub fn encode(entry: &Entry) -> Vec<u8> {
    // Serializing plain structs of strings, integers and JSON values cannot fail.
    // Sized for a typical decision record, so that encoding rarely reallocates.
    let mut out = Vec::with_capacity(2048);
    match serde_json::to_writer(&mut out, entry) {
        Ok(()) => out,
        Err(_) => b"{}".to_vec(),
    }
}

/// [`encode`] of a decision entry whose `evidence` is empty, with `evidence_json` (the encoded
/// array, see [`super::evidence::extract_json`]) in its place: the bytes `encode` gives for the
/// entry holding those items. `None` if the entry is not such a decision.
pub fn encode_with_evidence(entry: &Entry, evidence_json: &[u8]) -> Option<Vec<u8>> {
    match &entry.body {
        Body::Decision(d) if d.evidence.is_empty() => {}
        _ => return None,
    }
    thread_local! {
        /// The entry as serialized, reused: only the record's own bytes are allocated.
        static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }
    let mut rest = SCRATCH.with(Cell::take);
    rest.clear();
    let out = serde_json::to_writer(&mut rest, entry).ok().and_then(|()| {
        // The fields before `evidence` (time, kind, module hash, policy name, action, decision time)
        // are JSON strings, in which a quote is escaped: the first `,"evidence":[]` is the
        // field.
        const EMPTY: &[u8] = b",\"evidence\":[]";
        let at = rest.windows(EMPTY.len()).position(|w| w == EMPTY)? + EMPTY.len() - 2;
        let mut out = Vec::with_capacity(rest.len() + evidence_json.len());
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(evidence_json);
        out.extend_from_slice(&rest[at + 2..]);
        Some(out)
    });
    // A rare huge record's buffer is not kept.
    if rest.capacity() <= 1 << 16 {
        SCRATCH.with(|s| s.set(rest));
    }
    out
}

/// The full record bytes: `{"seq":N,` followed by `rest` without its opening brace.
pub fn with_seq(seq: u64, rest: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"seq\":");
    // Writing to a `Vec` cannot fail; no string is allocated for the number.
    let _ = std::io::Write::write_fmt(out, format_args!("{seq}"));
    match rest.get(1..) {
        Some(tail) if tail != b"}" => {
            out.push(b',');
            out.extend_from_slice(tail);
        }
        _ => out.push(b'}'),
    }
}

/// The sequence number a record's bytes start with, as the writer numbers them ([`with_seq`]):
/// `{"seq":N` then `,` or `}`, N in canonical decimal (no leading zero, no sign). `None` when
/// they do not start so. Readers check it against the record's place without decoding the rest.
pub fn leading_seq(bytes: &[u8]) -> Option<u64> {
    let rest = bytes.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0
        || (digits > 1 && rest[0] == b'0')
        || !matches!(rest.get(digits), Some(b',' | b'}'))
    {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Parses a record's bytes, checking that they are canonical (re-encode to the same bytes).
pub fn decode(bytes: &[u8]) -> Result<Record, String> {
    let record: Record =
        serde_json::from_slice(bytes).map_err(|e| format!("not a proof record: {e}"))?;
    let again = serde_json::to_vec(&record).map_err(|e| e.to_string())?;
    if again != bytes {
        return Err(
            "the record is not in canonical form (its bytes differ from its \
                    re-encoding): it was edited"
                .into(),
        );
    }
    Ok(record)
}

/// Checks a decision record's `module`: the SHA-256 of a module file, 64 lowercase hexadecimal
/// digits, as the runtime writes it. Replay and `xop explain` read the module from
/// `DIR/modules/<module>.xopm` ([`super::module_path`]), so a record whose `module` is
/// anything else (`../../other`, forged or damaged) must not name a file: the error says what
/// the field holds (quoted, cut to 80 characters) and what it should be.
pub fn check_module_hash(module: &str) -> Result<(), String> {
    if module.len() == 64
        && module
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Ok(());
    }
    let shown: String = module.chars().take(80).collect();
    let cut = if shown.len() < module.len() {
        "…"
    } else {
        ""
    };
    Err(format!(
        "its `module` is {shown:?}{cut}, not the SHA-256 of a module file (64 lowercase \
         hexadecimal digits, as the runtime writes it): the record was forged or damaged, and \
         no module file is read for it"
    ))
}

/// A time in the record format: RFC 3339, UTC, milliseconds.
pub fn time_text(ms: i64) -> String {
    thread_local! {
        /// The last two times this thread formatted: a decision formats its time and its
        /// decision time, and the decisions of one millisecond (or of inputs giving the same
        /// `now`) share them, so a copy is made instead of formatting again.
        static LAST: RefCell<[(Option<i64>, String); 2]> =
            const { RefCell::new([(None, String::new()), (None, String::new())]) };
    }
    // Every time XOP reads has a text, the last second's milliseconds included.
    let format = |ms: i64| match crate::time::timestamp(ms) {
        Some(t) => format!("{t:.3}"),
        None => ms.to_string(),
    };
    LAST.with(|last| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return format(ms);
        };
        if let Some((_, text)) = last.iter().find(|(m, _)| *m == Some(ms)) {
            return text.clone();
        }
        let text = format(ms);
        last.swap(0, 1);
        last[0] = (Some(ms), text.clone());
        text
    })
}

/// A value in the input JSON format (what [`crate::bind`] reads back): records as objects,
/// lists as arrays, symbols by qualified name, times in RFC 3339, durations in milliseconds,
/// money as `"12.50 EUR"`, decimals as strings.
pub fn value_json(program: &Program, v: &Value) -> Json {
    match v {
        Value::Absent => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Decimal(d) => Json::String(d.to_string()),
        Value::Money(d, c) => Json::String(format!("{d} {c}")),
        Value::Text(s) | Value::Tz(s) | Value::Id(s) => Json::String(s.to_string()),
        Value::Duration(ms) => Json::from(*ms),
        Value::Time(ms) => Json::String(time_text(*ms)),
        Value::Symbol(i) => Json::String(
            program
                .symbols
                .get(*i as usize)
                .map_or_else(|| format!("#{i}"), |s| s.qualified.clone()),
        ),
        Value::Enum(e, i) => Json::String(
            program
                .enums
                .get(*e as usize)
                .and_then(|t| t.variants.get(*i as usize))
                .cloned()
                .unwrap_or_else(|| format!("#{i}")),
        ),
        Value::Record(t, fields) => {
            let mut m = serde_json::Map::new();
            if let Some(rt) = program.records.get(*t as usize) {
                for (f, v) in rt.fields.iter().zip(fields.iter()) {
                    m.insert(f.name.clone(), value_json(program, v));
                }
            }
            Json::Object(m)
        }
        Value::List(items) => Json::Array(items.iter().map(|v| value_json(program, v)).collect()),
    }
}

/// The first symbol of a kind, by qualified name: the default of a channel, purpose or role
/// in a replayed input (its value was not read, so any one does).
pub(crate) fn first_symbol(program: &Program, kind: SymbolKind) -> Option<String> {
    program
        .symbols
        .iter()
        .find(|s| s.kind == kind)
        .map(|s| s.qualified.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every time an input can give is written as RFC 3339, the last second XOP holds
    /// included (jiff's `from_millisecond` stops a second before it).
    #[test]
    fn every_time_is_written_as_rfc_3339() {
        assert_eq!(time_text(0), "1970-01-01T00:00:00.000Z");
        let last = crate::time::parse_rfc3339("9999-12-30T22:00:00.999Z").unwrap();
        assert_eq!(time_text(last), "9999-12-30T22:00:00.999Z");
        assert_eq!(time_text(last - 499), "9999-12-30T22:00:00.500Z");
        let first = crate::time::parse_rfc3339("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(time_text(first), "0000-01-01T00:00:00.000Z");
    }

    fn entry() -> Entry {
        Entry {
            time: time_text(1_764_064_800_000),
            body: Body::Decision(DecisionRecord {
                module: "ab".into(),
                policy: "acme.contact".into(),
                action: None,
                at: time_text(0),
                evidence: vec![
                    Evidence {
                        path: "to.tz".into(),
                        value: Some(Json::String("Europe/Paris".into())),
                        len: None,
                        hmac: None,
                        key: None,
                        via: None,
                    },
                    // An absent value is `null`, and stays so.
                    Evidence {
                        path: "to.nickname".into(),
                        value: Some(Json::Null),
                        len: None,
                        hmac: None,
                        key: None,
                        via: None,
                    },
                ],
                signals: vec![],
                verdict: Verdict::Deny,
                reasons: vec!["quiet-hours".into()],
                fired: vec!["contact#4".into()],
                review: None,
                args_sha256: None,
                error: None,
                detail: None,
            }),
        }
    }

    #[test]
    fn records_round_trip_canonically() {
        let rest = encode(&entry());
        let mut bytes = Vec::new();
        with_seq(7, &rest, &mut bytes);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(
            text.starts_with(
                r#"{"seq":7,"time":"2025-11-25T10:00:00.000Z","kind":"decision","module":"ab""#
            ),
            "{text}"
        );
        let r = decode(&bytes).unwrap();
        assert_eq!(r.seq, 7);
        assert_eq!(r.body, entry().body);
        // Whitespace, reordered keys or unknown keys are not canonical.
        let spaced = text.replacen(',', ", ", 1);
        assert!(decode(spaced.as_bytes()).is_err());
        let unknown = text.replacen("\"kind\"", "\"x\":1,\"kind\"", 1);
        assert!(decode(unknown.as_bytes()).is_err());
        assert!(decode(b"not json").is_err());
    }

    #[test]
    fn a_refused_inputs_detail_follows_its_error_and_old_records_stay_canonical() {
        let refused = |detail: Option<&str>| {
            let mut e = entry();
            let Body::Decision(d) = &mut e.body else {
                unreachable!()
            };
            d.evidence.clear();
            d.reasons = vec!["xop:bad-input".into()];
            d.fired.clear();
            d.error = Some("to.messages_7d: wrong-type".into());
            d.detail = detail.map(Into::into);
            let mut bytes = Vec::new();
            with_seq(3, &encode(&e), &mut bytes);
            (e, String::from_utf8(bytes).unwrap())
        };
        let (e, text) = refused(Some("expected an integer, found a string"));
        assert!(
            text.ends_with(
                r#""error":"to.messages_7d: wrong-type","detail":"expected an integer, found a string"}"#
            ),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes()).unwrap().body, e.body);
        // A record written before the detail was kept reads and re-encodes as it was.
        let (old, text) = refused(None);
        assert!(
            text.ends_with(r#""error":"to.messages_7d: wrong-type"}"#),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes()).unwrap().body, old.body);
    }

    /// The commitment to a review case's arguments hashes their canonical JSON: keys sorted at
    /// every depth, whatever order the map gives them in, no whitespace.
    #[test]
    fn the_arguments_commitment_is_of_their_canonical_json() {
        use sha2::{Digest, Sha256};
        let Json::Object(args) = serde_json::json!({
            "phone": "+33612345678",
            "duration": 3600,
            "at": {"z": 1, "a": [true, null, "é\"x", {"y": 2, "b": -1}]},
        }) else {
            unreachable!()
        };
        let canonical = concat!(
            r#"{"at":{"a":[true,null,"é\"x",{"b":-1,"y":2}],"z":1},"#,
            r#""duration":3600,"phone":"+33612345678"}"#
        );
        let mut out = Vec::new();
        canonical_json(&Json::Object(args.clone()), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), canonical);
        assert_eq!(
            args_sha256(&args),
            crate::module::hex(&Sha256::digest(canonical.as_bytes()))
        );
        // Entries given out of order (as a map under `preserve_order` would) are sorted.
        let (a, b) = (String::from("b"), String::from("a"));
        let (one, two) = (Json::from(1), Json::from(2));
        let mut out = Vec::new();
        canonical_object([(&a, &one), (&b, &two)].into_iter(), &mut out);
        assert_eq!(out, br#"{"a":2,"b":1}"#);
        // Any change of a value changes the commitment.
        let mut changed = args.clone();
        changed.insert("phone".into(), Json::from("+33600000000"));
        assert_ne!(args_sha256(&changed), args_sha256(&args));
    }

    /// A review's commitment to its case's arguments follows its terms; a record without one
    /// (written before it was kept) reads and re-encodes as it was.
    #[test]
    fn a_reviews_arguments_commitment_follows_its_terms() {
        let reviewed = |sha: Option<&str>| {
            let mut e = entry();
            let Body::Decision(d) = &mut e.body else {
                unreachable!()
            };
            d.verdict = Verdict::Review;
            d.review = Some(ReviewTerms {
                role: "acme.desk".into(),
                within_ms: 60_000,
                fallback: Verdict::Deny,
                deadline: time_text(60_000),
                also: Vec::new(),
            });
            d.args_sha256 = sha.map(Into::into);
            let mut bytes = Vec::new();
            with_seq(4, &encode(&e), &mut bytes);
            (e, String::from_utf8(bytes).unwrap())
        };
        let (e, text) = reviewed(Some("ab12"));
        assert!(
            text.ends_with(r#""deadline":"1970-01-01T00:01:00.000Z"},"args_sha256":"ab12"}"#),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes()).unwrap().body, e.body);
        let (old, text) = reviewed(None);
        assert!(
            text.ends_with(r#""deadline":"1970-01-01T00:01:00.000Z"}}"#),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes()).unwrap().body, old.body);
    }

    #[test]
    fn the_leading_seq_is_read_as_the_writer_writes_it() {
        let rest = encode(&entry());
        for seq in [0, 7, 10, u64::MAX] {
            let mut bytes = Vec::new();
            with_seq(seq, &rest, &mut bytes);
            assert_eq!(leading_seq(&bytes), Some(seq));
        }
        assert_eq!(leading_seq(b"{\"seq\":3}"), Some(3));
        for bad in [
            &b"{\"seq\":03,"[..],
            b"{\"seq\":-3,",
            b"{\"seq\":3",
            b"{\"seq\":3x",
            b"{\"seq\":,",
            b"{\"seq\":18446744073709551616,",
            b"{\"time\":\"x\",\"seq\":3,",
            b"",
        ] {
            assert_eq!(leading_seq(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// QA: a record's `module` rewritten to `../../other` made replay and `xop explain` read a
    /// file outside the log folder. Only a SHA-256 in lowercase hex names a module file.
    #[test]
    fn only_a_sha256_names_a_module_file() {
        let good = "0123456789abcdef".repeat(4);
        assert_eq!(check_module_hash(&good), Ok(()));
        for bad in [
            "../../other".to_string(),
            String::new(),
            good.to_uppercase(),
            good[..63].to_string(),
            format!("{good}0"),
            format!("{}/", &good[..63]),
            format!("{}g", &good[..63]),
        ] {
            let e = check_module_hash(&bad).unwrap_err();
            assert!(
                e.starts_with(&format!("its `module` is {bad:?}, not the SHA-256")),
                "{bad}: {e}"
            );
        }
        // A long forged value is cut, and control characters are escaped.
        let long = format!("\u{1b}[2J{}", "a".repeat(200));
        let e = check_module_hash(&long).unwrap_err();
        assert!(
            e.contains("\\u{1b}[2J") && e.contains("…, not the SHA-256"),
            "{e}"
        );
        assert!(e.len() < 300, "{e}");
    }

    #[test]
    fn events_and_erasures_encode() {
        for body in [
            Body::Erasure { key: "k1".into() },
            Body::Event {
                name: "review.approved".into(),
                data: serde_json::json!({"case": "c-1", "by": "alice"}),
            },
        ] {
            let rest = encode(&Entry {
                time: time_text(0),
                body: body.clone(),
            });
            let mut bytes = Vec::new();
            with_seq(0, &rest, &mut bytes);
            assert_eq!(decode(&bytes).unwrap().body, body);
        }
    }
}
