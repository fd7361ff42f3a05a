//! Binding inputs: turning a JSON (or any `serde::Serialize`) description of a decision's input
//! into the typed [`Value`]s a policy reads.
//!
//! The input is an object with one key per policy parameter, plus two optional keys:
//!
//! - `"now"`: the decision time, an RFC 3339 string (`"2025-03-01T09:30:00Z"`);
//! - `"signals"`: an object from a signal's short or qualified name to its value, or `null` for
//!   a signal known to be absent. A signal's value applies to every read of it in the decision,
//!   whatever the arguments. A value whose type says when its source observed it (Device
//!   Status's `last_status_time`) is judged at the decision time as a connector's answer is
//!   ([`crate::connectors::judge_given`]): one that cannot be shown to be within the signal's
//!   `max_age` is bound as absent, with why in [`Bound::judged`]. So is one that contradicts
//!   itself by the agreement rules the connectors judge their answers by (a SIM Swap whose
//!   `swapped` its date contradicts, a device not reachable but connected, a QoS session
//!   still available past its end). Other values are the caller's answer now (age zero).
//!
//! The two keys are the input's own ([`RESERVED_KEYS`]): the compiler refuses a parameter of
//! either name (E0221), and a module that has one all the same cannot be given input: binding
//! refuses it ([`BindErrorKind::ReservedName`]) rather than let the parameter take the key, or
//! the key the parameter.
//!
//! Values are converted by their IR [`Type`]:
//!
//! | type | JSON |
//! |------|------|
//! | `Bool` | `true` / `false` |
//! | `Int` | an integer in the `i64` range |
//! | `Decimal` | a number or a string (`"12.50"`), read exactly from its text |
//! | `Money` | `{"amount": "12.50", "currency": "EUR"}` or `"12.50 EUR"` |
//! | `Text`, `Id` | a string |
//! | `Duration` | `"15m"`, `"1h30m"` (units `w d h m s ms`, largest first) or integer milliseconds |
//! | `Time` | an RFC 3339 string |
//! | `Tz` | an IANA time zone name (`"Europe/Paris"`) |
//! | channel, purpose, role | its short or qualified name |
//! | enum | a variant name |
//! | record | an object with the record's fields (optional ones may be missing or `null`) |
//! | `List<T>`, `Set<T>` | an array; a set is kept sorted and unique, as the interpreter builds sets |
//! | `T?` | `null` or missing for absent |
//!
//! An object that gives a key twice is refused ([`BindErrorKind::DuplicateKey`]; see
//! [`parse_json`]).
//!
//! Every error names the field's path (`to.consents[2].given_at`), what was expected and what was
//! found, and has a stable [`BindErrorKind`]. [`BindError::redacted`] is the same message
//! without the input's values, for the proof log. A key the program does not declare is such a
//! value: the path and the redacted message name it by its length (`to[<key of 38
//! characters>]`), only the message quotes it.
//!
//! The elements of an input's lists bind to at most [`max_words`] words of the JIT's flat input
//! layout (an element takes its type's room there, absent optional fields included), else the
//! input is refused ([`BindErrorKind::TooLarge`]): without that, the few bytes `{}` of a record
//! of many optional fields would bind to thousands of words each.
//!
//! JSON text may begin with a UTF-8 byte-order mark, which is skipped (RFC 8259 §8.1 lets a
//! parser ignore it; editors on Windows write one); bytes that are not UTF-8 are refused
//! ([`BindErrorKind::Malformed`], saying where the first invalid byte is).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{Map, Number, Value as Json};

use crate::ir::{Program, SymbolKind, Type, layout_size};
use crate::proof::record::SignalFetch;
use crate::value::Value;

/// A decision's input, bound to a policy's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// One value per policy parameter, in parameter order.
    pub args: Vec<Value>,
    /// The decision time (ms since the Unix epoch), if the input gives one.
    pub now_ms: Option<i64>,
    /// The signals the input gives, by signal index (ascending); [`Value::Absent`] for `null`
    /// and for a value the freshness or agreement rules refused ([`Bound::judged`]).
    pub signals: Vec<(u32, Value)>,
    /// The given signals bound as absent because they cannot be shown fresh, or contradict
    /// themselves, at the decision time (`now`, or the clock when the input gives none), by
    /// signal index (ascending), with why: the proof record's account of them. Judged when
    /// bound, so a [`Bound`] decided later should carry its `now`.
    pub judged: Vec<(u32, SignalFetch)>,
}

/// What kind of binding error this is (stable: tools and tests match on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindErrorKind {
    /// A required field or parameter is missing.
    Missing,
    /// A value of the wrong JSON type (a string where a number is expected, `null` for a
    /// required value, …).
    WrongType,
    /// A field, parameter or signal that the program does not declare.
    UnknownField,
    /// A name that is not one of the enum's variants or the symbols of its kind.
    UnknownEnumValue,
    /// A number or duration outside the representable range.
    OutOfRange,
    /// A value of the right JSON type whose text is not valid (a time, duration, money amount,
    /// currency, time zone; or invalid JSON).
    Malformed,
    /// An object that gives the same key twice. JSON leaves its meaning open (most parsers
    /// keep the last value, some the first), so the input is refused rather than read one way
    /// while the system that wrote it or a log reader reads it the other.
    DuplicateKey,
    /// A parameter of the program named like one of the input's own keys ([`RESERVED_KEYS`]),
    /// which the compiler refuses (E0221): no input can say whether such a key gives the
    /// parameter or the decision time (the signals), so a module built with one is refused
    /// whatever the input.
    ReservedName,
    /// A `Set` that gives an element twice, in a value xop passes on as written to another
    /// program ([`BindOptions::forwarded`]): xop decides on the set, each element once, while
    /// the program would receive every repeat. Elsewhere repeats are dropped.
    DuplicateElement,
    /// An input whose lists' elements bind to more words of the flat input layout than they
    /// may ([`max_words`]: [`WORDS_SLACK`] plus [`WORDS_PER_VALUE`] for each JSON value the
    /// input writes). Each element takes its type's whole room, also for the optional fields it
    /// leaves out or gives as `null`, so the two bytes `{}` of a record of many optional fields
    /// would otherwise bind to thousands of words, and a short text to gigabytes.
    TooLarge,
}

/// The words of the flat input layout ([`crate::ir::layout_size`]) the elements of an input's
/// lists may take beyond [`WORDS_PER_VALUE`] for each JSON value it writes: 2^20, 8 MiB of
/// words, so that a sparse input (records whose optional fields are mostly left out) still
/// binds. The parameters' own words (the layout's fixed part, which the module sets) are not
/// counted.
pub const WORDS_SLACK: usize = 1 << 20;

/// The words of the flat input layout the elements of an input's lists may take for each JSON
/// value it writes ([`max_words`]): more than any written value takes (an optional money
/// amount, four), so that only what the input leaves out or writes as `null` can pass the
/// limit.
pub const WORDS_PER_VALUE: usize = 8;

/// The most words of the flat input layout that the elements of `input`'s lists may take
/// ([`BindErrorKind::TooLarge`]): [`WORDS_SLACK`] plus [`WORDS_PER_VALUE`] for each JSON value
/// it writes (every `null`, boolean, number, string, array and object, nested ones included;
/// keys are not counted). Each element is counted at its type's words, before it is bound.
/// Both engines hold inputs to it: the JIT's words, and the interpreter's values, whose number
/// it bounds too.
pub fn max_words(input: &Json) -> usize {
    let mut values = 0usize;
    let mut todo = vec![input];
    while let Some(v) = todo.pop() {
        values += 1;
        match v {
            Json::Array(items) => todo.extend(items),
            Json::Object(fields) => todo.extend(fields.values()),
            _ => {}
        }
    }
    WORDS_SLACK.saturating_add(values.saturating_mul(WORDS_PER_VALUE))
}

/// The keys an input object has beside the parameters: the decision time and the given
/// signals. No action or decision parameter may be named so (the compiler's E0221).
pub const RESERVED_KEYS: [&str; 2] = ["now", "signals"];

impl BindErrorKind {
    /// A stable, lower-case name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BindErrorKind::Missing => "missing",
            BindErrorKind::WrongType => "wrong-type",
            BindErrorKind::UnknownField => "unknown-field",
            BindErrorKind::UnknownEnumValue => "unknown-enum-value",
            BindErrorKind::OutOfRange => "out-of-range",
            BindErrorKind::Malformed => "malformed",
            BindErrorKind::DuplicateKey => "duplicate-key",
            BindErrorKind::ReservedName => "reserved-name",
            BindErrorKind::DuplicateElement => "duplicate-element",
            BindErrorKind::TooLarge => "too-large",
        }
    }
}

impl fmt::Display for BindErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input that does not fit the policy's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindError {
    /// What went wrong.
    pub kind: BindErrorKind,
    /// Where: the field's path, e.g. `to.consents[2].given_at`; empty for the input itself. A
    /// key the program does not declare is named by its length, never quoted
    /// (`to[<key of 38 characters>]`): it is the input's own text, and the path goes to the
    /// proof record. (Only where the program is known: [`parse_json`] and [`parse_input`]
    /// alone write every key.)
    pub path: String,
    /// What was expected and what was found.
    pub message: String,
    /// [`BindError::message`] without the input's values: a value found is named by its JSON
    /// type (`expected an integer, found a string`), the rest (what was expected, the names
    /// that are known, the hint) is the same. This is what a proof record keeps: a value may
    /// be personal, and a record is never rewritten. Keys the program declares are kept, as in
    /// [`BindError::path`]; one it does not is named by its length (`unknown field <key of 38
    /// characters> of Customer`), as there, while [`BindError::message`] quotes it (escaped,
    /// past 60 characters by its start and its length) for whoever gave the input.
    pub redacted: String,
}

impl BindError {
    /// An error whose message quotes no value of the input (it is its own
    /// [`BindError::redacted`]).
    pub fn new(kind: BindErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        BindError {
            kind,
            path: path.into(),
            redacted: message.clone(),
            message,
        }
    }
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "input"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

impl std::error::Error for BindError {}

/// Binds a JSON text to policy `policy` of `program`. Given signals are judged at the input's
/// `now`, or without one at the clock's time ([`bind_json_at`] to say which).
pub fn bind_json(program: &Program, policy: usize, json: &str) -> Result<Bound, BindError> {
    let params = policy_params(program, policy);
    bind_text(skip_bom(json), program, params, |v| {
        bind_value(program, policy, v)
    })
}

/// Binds the JSON text `text` (without a leading byte-order mark) to `params` with `bind`,
/// read as [`parse_input`] reads it; a binding error about a number read as an `f64` quotes
/// the number as `text` writes it ([`as_written`]). An error found while reading (a key given
/// twice, a number read rounded), before any key is known to be declared, names the keys of
/// its path that `params` do not declare by their length ([`declared_path`]), as binding does.
fn bind_text(
    text: &str,
    program: &Program,
    params: &[crate::ir::Param],
    bind: impl FnOnce(&Json) -> Result<Bound, BindError>,
) -> Result<Bound, BindError> {
    let (json, seen) = strict_seen(text, true).map_err(|mut e| {
        // A number read rounded: the fix for the field's type, now that it is known.
        if e.kind == BindErrorKind::OutOfRange
            && let Some(written) = rounded_at(text, &e.path)
        {
            let ty = type_at(program, params, &e.path);
            e = read_rounded(&e.path, written, ty.as_ref());
        }
        if let Some(path) = declared_path(program, params, &e.path) {
            e.path = path;
        }
        e
    })?;
    bind(&json).map_err(|e| as_written(e, text, &seen))
}

/// The text of the number at `path` of the JSON text `text` if it is one that a Decimal holds
/// and JSON reads rounded ([`read_rounded`]'s). Read again: only for an input refused so.
fn rounded_at<'t>(text: &'t str, path: &str) -> Option<&'t str> {
    let (_, seen) = scan(text);
    let (index, _, read) = seen.floats.iter().find(|(_, at, _)| at == path)?;
    let texts = number_texts(text);
    let written = *texts.get(*index).filter(|_| texts.len() == seen.numbers)?;
    let read = Number::from_f64(*read)?.to_string();
    match parse_decimal(written) {
        Ok(exact) if parse_decimal(&read) != Ok(exact) => Some(written),
        _ => None,
    }
}

/// The parameters of policy `policy`, none if there is no such policy (binding then says so).
fn policy_params(program: &Program, policy: usize) -> &[crate::ir::Param] {
    program.policies.get(policy).map_or(&[], |p| &p.params)
}

/// One step of a path read back from its text ([`read_path`]).
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of the path `path` as [`Path::render`] writes it (`to.consents[2]["a b"]`);
/// `None` if it is not one.
fn read_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if rest.starts_with("[\"") {
            // A quoted key: a JSON string, read back with its escapes.
            let quoted = &rest[1..];
            let mut strings = serde_json::Deserializer::from_str(quoted).into_iter::<String>();
            let key = strings.next()?.ok()?;
            rest = quoted.get(strings.byte_offset()..)?.strip_prefix(']')?;
            steps.push(Step::Key(key));
        } else if let Some(inner) = rest.strip_prefix('[') {
            let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
            steps.push(Step::Index(inner[..digits].parse().ok()?));
            rest = inner[digits..].strip_prefix(']')?;
        } else {
            let key = rest.strip_prefix('.').unwrap_or(rest);
            let end = key.find(['.', '[']).unwrap_or(key.len());
            steps.push(Step::Key(key[..end].to_string()));
            rest = &key[end..];
        }
    }
    Some(steps)
}

/// The path `path` (as [`Path::render`] writes it) with each key that `params` of `program`
/// do not declare at its place, and every key below it, named by its length
/// ([`undeclared_key`]); `None` when no key needs it (or `path` is no path).
fn declared_path(program: &Program, params: &[crate::ir::Param], path: &str) -> Option<String> {
    walk_path(program, params, path).and_then(|(out, changed, _)| changed.then_some(out))
}

/// The type `params` of `program` give the value at `path` (its optional unwrapped), if the
/// path leads to one.
fn type_at(program: &Program, params: &[crate::ir::Param], path: &str) -> Option<Type> {
    walk_path(program, params, path).and_then(|(_, _, ty)| ty)
}

/// Walks `path` through `params` of `program`: the path with its undeclared keys named by
/// their length, whether there was one, and the type of the value it leads to.
fn walk_path(
    program: &Program,
    params: &[crate::ir::Param],
    path: &str,
) -> Option<(String, bool, Option<Type>)> {
    /// What a step of the path is in: the input object, the signals object, a value of a
    /// type, or something no key of which is declared.
    enum In<'t> {
        Input,
        Signals,
        Value(&'t Type),
        Nothing,
    }
    fn unwrapped(mut ty: &Type) -> &Type {
        while let Type::Optional(inner) = ty {
            ty = inner;
        }
        ty
    }
    let steps = read_path(path)?;
    let mut out = String::new();
    let mut within = In::Input;
    let mut changed = false;
    for step in &steps {
        match step {
            Step::Index(i) => {
                out.push_str(&format!("[{i}]"));
                within = match within {
                    In::Value(Type::List(t) | Type::Set(t)) => In::Value(unwrapped(t)),
                    _ => In::Nothing,
                };
            }
            Step::Key(key) => {
                let next = match within {
                    In::Input => match params.iter().find(|p| p.name == *key) {
                        Some(p) => Some(In::Value(unwrapped(&p.ty))),
                        None if key == "signals" => Some(In::Signals),
                        None if key == "now" => Some(In::Nothing),
                        None => None,
                    },
                    In::Signals => {
                        let named = |s: &&crate::ir::SignalDecl| s.name == *key;
                        let by_short = |s: &&crate::ir::SignalDecl| short(&s.name) == key;
                        let mut matching = program.signals.iter().filter(by_short);
                        match program.signals.iter().find(named) {
                            Some(s) => Some(In::Value(unwrapped(&s.ty))),
                            None => match (matching.next(), matching.next()) {
                                (Some(s), None) => Some(In::Value(unwrapped(&s.ty))),
                                // A short name several signals have is a declared name.
                                (Some(_), Some(_)) => Some(In::Nothing),
                                (None, _) => None,
                            },
                        }
                    }
                    In::Value(Type::Record(r)) => (program.records.get(*r as usize))
                        .and_then(|decl| decl.fields.iter().find(|f| f.name == *key))
                        .map(|f| In::Value(unwrapped(&f.ty))),
                    In::Value(Type::Money) => match key.as_str() {
                        "amount" => Some(In::Value(&Type::Decimal)),
                        "currency" => Some(In::Nothing),
                        _ => None,
                    },
                    In::Value(_) | In::Nothing => None,
                };
                match next {
                    Some(next) => {
                        push_key(&mut out, key);
                        within = next;
                    }
                    None => {
                        out.push('[');
                        out.push_str(&undeclared_key(key));
                        out.push(']');
                        within = In::Nothing;
                        changed = true;
                    }
                }
            }
        }
    }
    let ty = match within {
        In::Value(ty) => Some(ty.clone()),
        _ => None,
    };
    Some((out, changed, ty))
}

/// `e` quoting the number at its path as `text` writes it (`1e18`, not `1e+18`), when that
/// number was read as an `f64` (`seen`), whose rendering ([`shown_number`]) the message quotes.
fn as_written(mut e: BindError, text: &str, seen: &Seen) -> BindError {
    let Some((index, _, read)) = seen.floats.iter().find(|(_, path, _)| *path == e.path) else {
        return e;
    };
    let texts = number_texts(text);
    let (Some(written), Some(read)) = (texts.get(*index), Number::from_f64(*read)) else {
        return e;
    };
    if texts.len() != seen.numbers {
        return e;
    }
    // Where the messages quote a number: at their start (`… is out of the Int range`) or
    // after `found` (`expected an integer, found …`), never inside a type's name.
    let (shown, written) = (shown_number(&read), bounded_number(written));
    if let Some(rest) = e.message.strip_prefix(&shown) {
        e.message = format!("{written}{rest}");
    } else if let Some(at) = e.message.rfind(&format!("found {shown}")) {
        let at = at + "found ".len();
        e.message.replace_range(at..at + shown.len(), &written);
    }
    e
}

/// A number's text as messages quote it: whole, or when longer than 27 characters by its
/// first 24 and its length (a number of any length may be written).
fn bounded_number(n: &str) -> String {
    const SHOWN: usize = 24;
    match n.get(..SHOWN) {
        Some(start) if n.len() > SHOWN + 3 => format!("{start}… ({} characters)", n.len()),
        _ => n.to_string(),
    }
}

/// [`bind_json`] for a decision at `clock_ms` when the input gives no `now`: the time its
/// given signals are judged at (the decider's clock, read once for both).
pub fn bind_json_at(
    program: &Program,
    policy: usize,
    json: &str,
    clock_ms: i64,
) -> Result<Bound, BindError> {
    let params = policy_params(program, policy);
    bind_text(skip_bom(json), program, params, |v| {
        bind_value_at(program, policy, v, clock_ms)
    })
}

/// [`bind_json`] on bytes: bytes that are not UTF-8 are refused input too
/// ([`json_text`]).
pub fn bind_json_bytes(program: &Program, policy: usize, json: &[u8]) -> Result<Bound, BindError> {
    // `json_text` skipped the one leading byte-order mark; a second one is no JSON.
    let params = policy_params(program, policy);
    bind_text(json_text(json)?, program, params, |v| {
        bind_value(program, policy, v)
    })
}

/// [`bind_json_bytes`] for a decision at `clock_ms` when the input gives no `now` (as
/// [`bind_json_at`]).
pub fn bind_json_bytes_at(
    program: &Program,
    policy: usize,
    json: &[u8],
    clock_ms: i64,
) -> Result<Bound, BindError> {
    let params = policy_params(program, policy);
    bind_text(json_text(json)?, program, params, |v| {
        bind_value_at(program, policy, v, clock_ms)
    })
}

/// Parses an input's JSON text, refusing what JSON leaves ambiguous: an object that gives a
/// key twice is a [`BindErrorKind::DuplicateKey`] error naming the key's path and position.
/// Invalid JSON is [`BindErrorKind::Malformed`], with serde_json's line and column. A leading
/// byte-order mark is skipped.
pub fn parse_json(text: &str) -> Result<Json, BindError> {
    strict(skip_bom(text), false)
}

/// [`parse_json`] on bytes, which must be UTF-8 ([`json_text`]).
pub fn parse_json_bytes(bytes: &[u8]) -> Result<Json, BindError> {
    strict(json_text(bytes)?, false)
}

/// What a Decimal holds, for the messages refusing a number it cannot hold exactly.
const DECIMAL_LIMITS: &str = "at most 28 digits after the point and 28 to 29 significant digits";

/// [`parse_json`] for a decision's input, which also refuses a number that a JSON number
/// value cannot keep as written: serde_json reads a number with a fraction or an exponent,
/// or an integer beyond 64 bits, as an `f64`, which keeps about 17 significant digits, so
/// `0.1000000000000000000000000001` (a Decimal's 28) would be read as `0.1` and decided on
/// as such. Such a number is an [`BindErrorKind::OutOfRange`] error at its path, saying to give
/// it as a string (a Decimal's exact form). Numbers an `f64` keeps (`0.1`, `12.5`, `1e3`) are
/// read as before.
pub fn parse_input(text: &str) -> Result<Json, BindError> {
    strict(skip_bom(text), true)
}

/// The text of a JSON input given as bytes, without a leading byte-order mark. Bytes that are
/// not UTF-8 (JSON text is, RFC 8259 §8.1) are a [`BindErrorKind::Malformed`] error saying
/// where the first invalid byte is: `not valid UTF-8 (byte 0xff at line 1, column 12)`. The
/// column counts characters, from 1. A second mark after the first is refused here too, so
/// that no path skips it again on the text (the text functions skip one mark themselves).
pub fn json_text(bytes: &[u8]) -> Result<&str, BindError> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if bytes.starts_with(BOM) {
        return Err(BindError::new(
            BindErrorKind::Malformed,
            "",
            "invalid JSON: a second byte-order mark (U+FEFF) follows the first at the start; \
             only one leading mark is skipped: remove the other"
                .to_string(),
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let (line, column) = line_column(bytes, at);
        BindError::new(
            BindErrorKind::Malformed,
            "",
            format!(
                "invalid JSON: not valid UTF-8 (byte 0x{:02x} at line {line}, column {column}); \
                 JSON text must be UTF-8",
                bytes[at]
            ),
        )
    })
}

/// The line and column (both from 1; the column in characters) of byte `at` of `bytes`, whose
/// bytes before `at` are UTF-8 (where a UTF-8 error is: `Utf8Error::valid_up_to`).
pub fn line_column(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = bytes.get(..at).unwrap_or(bytes);
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

/// `text` without a leading byte-order mark.
fn skip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Reads `text` as JSON with [`Strict`]: the value, or serde_json's error, and what was
/// noted on the way (a key given twice, the numbers read).
fn scan(text: &str) -> (Result<Json, serde_json::Error>, Seen) {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    let mut seen = Seen::default();
    let seed = Strict {
        path: &Path::ROOT,
        seen: &mut seen,
    };
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    (parsed, seen)
}

/// Parses `text` as [`parse_json`] does; with `exact`, also as [`parse_input`] does.
fn strict(text: &str, exact: bool) -> Result<Json, BindError> {
    strict_seen(text, exact).map(|(json, _)| json)
}

/// [`strict`], with what was noted while reading.
fn strict_seen(text: &str, exact: bool) -> Result<(Json, Seen), BindError> {
    let (parsed, mut seen) = scan(text);
    if exact && parsed.is_ok() {
        // xop reads the input itself: an integer keeps all 64 bits.
        inexact_number(text, &seen, Readers::Xop)?;
    }
    let duplicate = seen.duplicate.take();
    // The key is in the path already, and serde_json's messages quote no value.
    let parsed = parsed.map_err(|e| match duplicate {
        // The key is the path's last: the record keeps it there, or its length where the
        // program does not declare it ([`bind_text`]).
        Some((path, key)) => BindError {
            kind: BindErrorKind::DuplicateKey,
            path,
            message: format!(
                "the key {} is given twice in one object (line {}, column {}); give each key once",
                shown_key(&key),
                e.line(),
                e.column()
            ),
            redacted: format!(
                "the key is given twice in one object (line {}, column {}); give each key once",
                e.line(),
                e.column()
            ),
        },
        None if is_number_out_of_range(&e) => beyond_every_type(text, &seen),
        None => BindError::new(BindErrorKind::Malformed, "", format!("invalid JSON: {e}")),
    })?;
    Ok((parsed, seen))
}

/// Whether serde_json refused `e` because a number is beyond what it reads (an integer beyond
/// 64 bits it reads as an `f64`; an `f64` beyond ±1.8e308 it refuses): its error has no code
/// to match, so its message, stable across serde_json 1.x, is matched.
fn is_number_out_of_range(e: &serde_json::Error) -> bool {
    e.is_syntax() && e.to_string().starts_with("number out of range")
}

/// The error for the number serde_json refused as out of range while reading `text`: the
/// number after the `seen.numbers` read before it, at the path where [`Strict`] stopped.
/// Larger than every number type (an `Int`, a Decimal), it is refused as such, at its path,
/// as [`inexact_in`] refuses the numbers JSON reads as others.
fn beyond_every_type(text: &str, seen: &Seen) -> BindError {
    const WHAT: &str = "is beyond every number type (an Int has 64 bits, a Decimal 28 to 29 \
                        significant digits) and beyond what JSON reads (about ±1.8e308); write \
                        a number its type holds";
    let path = seen.failed_at.clone().unwrap_or_default();
    let written = number_texts(text)
        .get(seen.numbers)
        .map(|n| bounded_number(n));
    BindError {
        kind: BindErrorKind::OutOfRange,
        path,
        message: match written {
            Some(n) => format!("the number {n} {WHAT}"),
            None => format!("a number {WHAT}"),
        },
        redacted: format!("the number {WHAT}"),
    }
}

/// What [`Strict`] notes while it reads.
#[derive(Default)]
struct Seen {
    /// The path and the key of an object's second use of a key.
    duplicate: Option<(String, String)>,
    /// The numbers read so far.
    numbers: usize,
    /// The numbers read as `f64`: their index among the numbers, their path, and the `f64`.
    floats: Vec<(usize, String, f64)>,
    /// The integers beyond ±[`MAX_EXACT_INTEGER`] (read exactly, as `i64` or `u64`): their
    /// index among the numbers, their path, and the integer.
    wide: Vec<(usize, String, i128)>,
    /// The path of the innermost value whose reading failed (a number serde_json cannot read
    /// is refused before any visit: its path is known only to the array or object holding
    /// it); `None` if none failed, or the top-level value did.
    failed_at: Option<String>,
}

impl Seen {
    /// Notes `path` as where reading failed, unless a value inside it was noted first.
    fn failed(&mut self, path: &Path) {
        if self.failed_at.is_none() {
            let mut at = String::new();
            path.render(&mut at);
            self.failed_at = Some(at);
        }
    }
}

/// The largest integer magnitude every JSON reader keeps exactly, 2^53 − 1: RFC 8259 §6 says
/// beyond ±(2^53 − 1) numbers are not interoperable, since a reader that holds numbers as IEEE
/// doubles (JavaScript's `JSON.parse`) reads such an integer rounded.
pub const MAX_EXACT_INTEGER: u64 = (1 << 53) - 1;

/// Whose reading of a JSON text's numbers [`inexact_numbers`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// xop's own (`xop serve`, `xop eval`, [`parse_input`]): an integer is read exactly within
    /// 64 bits (`i64`, or `u64` when positive); another number is kept when the `f64` it is
    /// read as is the number written.
    Xop,
    /// Every JSON reader, for text xop passes on to another program (the MCP gateway's tool
    /// calls): as [`Readers::Xop`], and an integer beyond ±[`MAX_EXACT_INTEGER`] is not kept
    /// either, since a reader holding numbers as doubles reads it rounded.
    Every,
}

/// Reads one JSON value as [`Json`] does, except that an object's second use of a key stops
/// the parse, noting the key's path and the key; and notes the numbers read as `f64`.
struct Strict<'p, 'd> {
    path: &'p Path<'p>,
    seen: &'d mut Seen,
}

/// The first number of `text` that was read as an `f64` (`seen`) and does not keep the value
/// written: `Err` at its path ([`inexact_in`]).
fn inexact_number(text: &str, seen: &Seen, readers: Readers) -> Result<(), BindError> {
    match inexact_in(text, seen, readers, true).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The numbers of the JSON text `text` that `readers` cannot keep as written, as
/// [`parse_input`] refuses them for [`Readers::Xop`] (it stops at the first): each an
/// [`BindErrorKind::OutOfRange`] error at its path, in document order; empty when every number
/// is kept. For JSON of which only a part is a decision's input (the MCP gateway's messages:
/// their `params.arguments`, which it forwards: [`Readers::Every`]), to look at the numbers of
/// that part. `text` that is not JSON (or gives a key twice) is [`parse_json`]'s error.
pub fn inexact_numbers(text: &str, readers: Readers) -> Result<Vec<BindError>, BindError> {
    let text = skip_bom(text);
    let (parsed, seen) = scan(text);
    if parsed.is_err() {
        return Err(parse_json(text).err().unwrap_or_else(|| {
            BindError::new(BindErrorKind::Malformed, "", "invalid JSON".to_string())
        }));
    }
    Ok(inexact_in(text, &seen, readers, false))
}

/// The numbers of `text` read as an `f64` (`seen`) that do not keep the value written, and for
/// [`Readers::Every`] the integers beyond ±[`MAX_EXACT_INTEGER`], each an error at its path, in
/// document order; only the first with `first`. The numbers' texts are found only when some
/// number was read as an `f64`, so that most inputs pay nothing.
///
/// A number is judged by its text: one a Decimal holds must be read as that Decimal; one it
/// does not hold (`1e-29`, `1e30`) must be read as the same number, which the type then
/// refuses quoting it. One that is neither (`1e-400`, read as 0; `3e-324`, read as `5e-324`)
/// is refused here, quoting the text: no type takes it (only a Decimal takes a number with a
/// fraction or an exponent), and no type must see the number read in its place. Both engines
/// bind through here (the JIT's JSON reader hands every such number to [`bind_json`]).
fn inexact_in(text: &str, seen: &Seen, readers: Readers, first: bool) -> Vec<BindError> {
    // Each error with its number's index, to put the two kinds in document order.
    let mut out: Vec<(usize, BindError)> = Vec::new();
    if readers == Readers::Every {
        out.extend(
            (seen.wide.iter()).map(|(index, path, n)| (*index, beyond_every_reader(path, *n))),
        );
    }
    let texts = if seen.floats.is_empty() {
        Vec::new()
    } else {
        number_texts(text)
    };
    // Never unequal for text serde_json parsed; should it be, no float is refused on a guess.
    let floats = if texts.len() == seen.numbers {
        seen.floats.as_slice()
    } else {
        &[]
    };
    for (index, path, read) in floats {
        let Some(&written) = texts.get(*index) else {
            continue;
        };
        // What the binder sees: the number as serde_json read it (JSON has no NaN nor
        // infinity, so there is one).
        let Some(read) = Number::from_f64(*read).map(|n| n.to_string()) else {
            continue;
        };
        let error = match parse_decimal(written) {
            Ok(exact) if parse_decimal(&read) == Ok(exact) => continue,
            // The field's type is not known yet (the whole text is read before any of it is
            // bound): the fix for either type that takes a number ([`bind_text`] knows it).
            Ok(_) => read_rounded(path, written, None),
            // Beyond a Decimal, but read as written: the type's own check refuses it, quoting
            // the same number.
            Err(_) if same_number(written, &read) => continue,
            Err(_) => BindError {
                kind: BindErrorKind::OutOfRange,
                path: path.clone(),
                message: format!(
                    "the number {written} is more than a Decimal holds ({DECIMAL_LIMITS}), and \
                     JSON reads it rounded, as {read}; write a number a Decimal holds"
                ),
                redacted: format!(
                    "the number is more than a Decimal holds ({DECIMAL_LIMITS}), and JSON reads \
                     it rounded; write a number a Decimal holds"
                ),
            },
        };
        out.push((*index, error));
        if first {
            break;
        }
    }
    // Stable: an index is one number's, so there are no ties anyway.
    out.sort_by_key(|(index, _)| *index);
    if first {
        out.truncate(1);
    }
    out.into_iter().map(|(_, e)| e).collect()
}

/// The error for the number `written` at `path`, which a Decimal holds but JSON reads rounded,
/// with the fix for the field's type `ty` (an Int or a Duration's milliseconds, a Decimal), or
/// for both where it is not known (`None`) or takes no number.
fn read_rounded(path: &str, written: &str, ty: Option<&Type>) -> BindError {
    const WHY: &str = "a JSON number with more than about 17 significant digits, or an integer \
                       beyond 64 bits, is read rounded";
    const INT_FIX: &str = "write an integer from -9223372036854775808 to 9223372036854775807, \
                           with no fraction or exponent";
    const DECIMAL_FIX: &str = "give it as a string";
    // Quoted whole, to be copied into a string: a number a Decimal holds is short anyway
    // (JSON has no leading zeros, a Decimal at most 28 digits after the point).
    let (message, redacted) = match ty {
        Some(Type::Int | Type::Duration) => {
            let what = if ty == Some(&Type::Duration) {
                "a Duration's milliseconds"
            } else {
                "an Int"
            };
            (
                format!(
                    "the number {written} cannot be read as written: {WHY}; for {what}, {INT_FIX}"
                ),
                format!("the number cannot be read as written: {WHY}; for {what}, {INT_FIX}"),
            )
        }
        Some(Type::Decimal) => (
            format!(
                "the number {written} cannot be read as written: {WHY}; for a Decimal, \
                 {DECIMAL_FIX} (\"{written}\"), which is read exactly"
            ),
            format!(
                "the number cannot be read as written: {WHY}; for a Decimal, {DECIMAL_FIX}, \
                 which is read exactly"
            ),
        ),
        _ => (
            format!(
                "the number {written} cannot be read as written: {WHY}; for an Int, {INT_FIX}; \
                 for a Decimal, {DECIMAL_FIX} (\"{written}\"), which is read exactly"
            ),
            format!(
                "the number cannot be read as written: {WHY}; for an Int, {INT_FIX}; for a \
                 Decimal, {DECIMAL_FIX}, which is read exactly"
            ),
        ),
    };
    BindError {
        kind: BindErrorKind::OutOfRange,
        path: path.to_string(),
        message,
        redacted,
    }
}

/// The error for the integer `n` at `path`, beyond ±[`MAX_EXACT_INTEGER`]: read exactly here,
/// but rounded by a reader that holds numbers as doubles.
fn beyond_every_reader(path: &str, n: i128) -> BindError {
    // What such a reader reads: the double nearest `n` (ties to even, as an `as` cast rounds).
    // Past 2^53 a double keeps only some integers; `n` may be one, and then a neighbour may be
    // read as `n` too.
    let read = n as f64;
    let kept = |m: i128| m as f64 as i128 == n;
    let which = if !kept(n) {
        format!("this one as {read:.0}, another number than the one decided on")
    } else if let Some(m) = [n + 1, n - 1].into_iter().find(|m| kept(*m)) {
        format!("{m} as this one, so the tool cannot tell which was meant")
    } else {
        "this one it happens to keep, but not the integers next to it".to_string()
    };
    const WHY: &str = "is beyond what every JSON reader keeps exactly (±9007199254740991, \
                       2^53 − 1, RFC 8259 §6): a reader that holds numbers as doubles \
                       (JavaScript's JSON.parse, so the MCP TypeScript SDK) reads integers \
                       this large rounded";
    const FIX: &str = "give a number within ±9007199254740991, or, for a Decimal, a string";
    BindError {
        kind: BindErrorKind::OutOfRange,
        path: path.to_string(),
        message: format!("the number {n} {WHY}, {which}; {FIX} (\"{n}\"), which is read exactly"),
        redacted: format!("the number {WHY}; {FIX}, which is read exactly"),
    }
}

/// Whether the JSON number texts `a` and `b` write the same number (`1e3` and `1000.0`, `-0`
/// and `0.0`), compared digit by digit, so for numbers beyond any binary or decimal type too.
fn same_number(a: &str, b: &str) -> bool {
    number_value(a) == number_value(b)
}

/// The exact value of a JSON number text (its syntax checked by serde_json): whether it is
/// negative, its significant digits (no leading or trailing zero) and the power of ten of the
/// last one; every zero is `(false, "", 0)`. An exponent beyond `i64` saturates, far past any
/// number an `f64` reads.
fn number_value(s: &str) -> (bool, String, i64) {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (mantissa, exponent) = s.split_once(['e', 'E']).unwrap_or((s, "0"));
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let exponent = exponent
        .parse::<i64>()
        .unwrap_or(if exponent.starts_with('-') {
            i64::MIN / 2
        } else {
            i64::MAX / 2
        });
    let digits = format!("{int}{frac}");
    let kept = digits.trim_end_matches('0');
    let power = exponent
        .saturating_sub(frac.len() as i64)
        .saturating_add((digits.len() - kept.len()) as i64);
    let kept = kept.trim_start_matches('0');
    if kept.is_empty() {
        (false, String::new(), 0)
    } else {
        (negative, kept.to_string(), power)
    }
}

/// The text of every number of the JSON text `json`, in document order (the order serde_json
/// reads them in). Strings, keys included, are skipped with their escapes.
fn number_texts(json: &str) -> Vec<&str> {
    let b = json.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                // Number bytes are ASCII, so both ends are character boundaries.
                out.extend(json.get(start..i));
            }
            _ => i += 1,
        }
    }
    out
}

impl Strict<'_, '_> {
    /// Notes the integer `n`, about to be counted, if it is beyond ±[`MAX_EXACT_INTEGER`]: its
    /// path is rendered only then, so that most inputs pay nothing.
    fn wide(&mut self, n: i128) {
        if n.unsigned_abs() > u128::from(MAX_EXACT_INTEGER) {
            let mut at = String::new();
            self.path.render(&mut at);
            self.seen.wide.push((self.seen.numbers, at, n));
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for Strict<'_, '_> {
    type Value = Json;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict<'_, '_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }

    fn visit_i64<E>(mut self, n: i64) -> Result<Json, E> {
        self.wide(n.into());
        self.seen.numbers += 1;
        Ok(Json::Number(n.into()))
    }

    fn visit_u64<E>(mut self, n: u64) -> Result<Json, E> {
        self.wide(n.into());
        self.seen.numbers += 1;
        Ok(Json::Number(n.into()))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        let mut at = String::new();
        self.path.render(&mut at);
        self.seen.floats.push((self.seen.numbers, at, n));
        self.seen.numbers += 1;
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }

    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_string()))
    }

    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut out = Vec::new();
        loop {
            let path = self.path.index(out.len());
            let seed = Strict {
                path: &path,
                seen: &mut *self.seen,
            };
            match seq.next_element_seed(seed) {
                Ok(Some(v)) => out.push(v),
                Ok(None) => return Ok(Json::Array(out)),
                Err(e) => {
                    self.seen.failed(&path);
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = self.path.key(&key);
            if out.contains_key(&key) {
                let mut at = String::new();
                path.render(&mut at);
                self.seen.duplicate = Some((at, key));
                return Err(serde::de::Error::custom("duplicate key"));
            }
            let seed = Strict {
                path: &path,
                seen: &mut *self.seen,
            };
            let value = map
                .next_value_seed(seed)
                .inspect_err(|_| self.seen.failed(&path))?;
            out.insert(key, value);
        }
        Ok(Json::Object(out))
    }
}

/// Binds a Rust value (serialized to JSON first) to policy `policy` of `program`.
pub fn bind_serde<T: serde::Serialize + ?Sized>(
    program: &Program,
    policy: usize,
    input: &T,
) -> Result<Bound, BindError> {
    let value = serde_json::to_value(input).map_err(|e| BindError {
        kind: BindErrorKind::Malformed,
        path: String::new(),
        message: format!("the input cannot be represented as JSON: {e}"),
        // A `Serialize` implementation's error may say anything.
        redacted: "the input cannot be represented as JSON".into(),
    })?;
    bind_value(program, policy, &value)
}

/// Binds a JSON value to policy `policy` of `program`.
///
/// # Panics
///
/// If `policy` is not an index into `program.policies`.
pub fn bind_value(program: &Program, policy: usize, input: &Json) -> Result<Bound, BindError> {
    bind_policy(program, policy, input, &wall_clock, BindOptions::default())
}

/// How [`bind_value_with`] binds, beyond what every binding does.
#[derive(Debug, Clone, Copy, Default)]
pub struct BindOptions<'a> {
    /// The parameters whose values xop passes on, as written, to another program (the MCP
    /// gateway's tool arguments), which may read them otherwise than xop: they are held to
    /// what every reader keeps. Wherever in such a parameter's value, a [`BindErrorKind::OutOfRange`]
    /// error refuses
    ///
    /// - a time with a digit other than `0` past the millisecond (elsewhere dropped: a time is
    ///   kept to the millisecond), which the program would read as a later instant;
    /// - a time whose second is `60` (a leap second; elsewhere read as `:59`), which the program
    ///   may read as the next minute's first second;
    ///
    /// and a [`BindErrorKind::DuplicateKey`] error refuses an element a `Set` gives twice
    /// (elsewhere dropped: a set is unique), which the program would receive as many times as
    /// written.
    pub forwarded: &'a [&'a str],
    /// Keep every `Set` as the array gives it, in its order and with its repeats, instead of
    /// sorting it and dropping repeats: for a replay, whose input is rebuilt from a record's
    /// evidence, each element at its index in the set decided on, the parts no rule read set
    /// to defaults (so that two rebuilt elements may be equal, or out of order, though the
    /// set decided on had neither).
    pub sets_as_given: bool,
    /// Bind however many words the input takes: no [`BindErrorKind::TooLarge`]. For an input
    /// that was held to the limit when it was first bound, and is bound again from what was
    /// kept of it (a replay's input rebuilt from a record's evidence, a review case's
    /// arguments), which may write fewer JSON values than the input did.
    pub any_size: bool,
}

/// [`bind_value`] with `options`.
///
/// # Panics
///
/// If `policy` is not an index into `program.policies`.
pub fn bind_value_with(
    program: &Program,
    policy: usize,
    input: &Json,
    options: BindOptions<'_>,
) -> Result<Bound, BindError> {
    bind_policy(program, policy, input, &wall_clock, options)
}

/// [`bind_value`] for a decision at `clock_ms` when the input gives no `now` (as
/// [`bind_json_at`]).
///
/// # Panics
///
/// If `policy` is not an index into `program.policies`.
pub fn bind_value_at(
    program: &Program,
    policy: usize,
    input: &Json,
    clock_ms: i64,
) -> Result<Bound, BindError> {
    bind_policy(program, policy, input, &|| clock_ms, BindOptions::default())
}

/// [`bind_value_at`] with `options`.
///
/// # Panics
///
/// If `policy` is not an index into `program.policies`.
pub fn bind_value_with_at(
    program: &Program,
    policy: usize,
    input: &Json,
    clock_ms: i64,
    options: BindOptions<'_>,
) -> Result<Bound, BindError> {
    bind_policy(program, policy, input, &|| clock_ms, options)
}

/// [`bind_value`] with `clock` giving the decision time when the input has no `now`.
fn bind_policy(
    program: &Program,
    policy: usize,
    input: &Json,
    clock: &dyn Fn() -> i64,
    options: BindOptions<'_>,
) -> Result<Bound, BindError> {
    let policy = &program.policies[policy];
    bind_params(
        program,
        &format!("policy {}", policy.name),
        &policy.params,
        input,
        clock,
        options,
    )
}

/// The clock's time, in ms since the Unix epoch: the decision time of an input without `now`.
fn wall_clock() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Binds a JSON text to decision `decision` of `program` (its parameters, `now`, `signals`).
///
/// # Panics
///
/// If `decision` is not an index into `program.decisions`.
pub fn bind_decision_json(
    program: &Program,
    decision: usize,
    json: &str,
) -> Result<Bound, BindError> {
    let value = parse_json(json)?;
    let d = &program.decisions[decision];
    bind_params(
        program,
        &format!("decision {}", d.name),
        &d.params,
        &value,
        &wall_clock,
        BindOptions::default(),
    )
}

/// Binds a JSON object to `params` (of `owner`, named in messages), plus `now` and `signals`;
/// `clock` is the decision time when the input gives no `now`, read only if a given signal
/// needs judging against it.
fn bind_params(
    program: &Program,
    owner: &str,
    params: &[crate::ir::Param],
    input: &Json,
    clock: &dyn Fn() -> i64,
    options: BindOptions<'_>,
) -> Result<Bound, BindError> {
    let budget = Budget {
        input,
        used: Cell::new(0),
        limit: Cell::new(None),
        checked: !options.any_size,
        records: RefCell::new(Vec::new()),
    };
    let binder = Binder {
        program,
        budget: &budget,
        forwarded: false,
        sets_as_given: options.sets_as_given,
    };
    let root = Path::ROOT;
    // A module built without the compiler's E0221: whichever way the key were read, the
    // decision could be taken at another time, or on other signals, than the caller gave.
    if let Some(p) = params
        .iter()
        .find(|p| RESERVED_KEYS.contains(&p.name.as_str()))
    {
        let what = if p.name == "now" {
            "the decision time"
        } else {
            "the signal values"
        };
        return Err(root.key(&p.name).error(
            BindErrorKind::ReservedName,
            format!(
                "{owner} has a parameter named {}, the input's own key for {what}, so no \
                 input can say which it gives; the compiler refuses such a parameter (E0221): \
                 rename it in the sources and build the module again",
                quote(&p.name)
            ),
        ));
    }
    let Json::Object(object) = input else {
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        return Err(root.found(BindErrorKind::WrongType, input, |found| {
            format!(
                "expected an object with the parameters of {} ({}), found {found}",
                owner,
                names.join(", "),
            )
        }));
    };
    let is_param = |name: &str| params.iter().any(|p| p.name == name);

    for key in object.keys() {
        if !is_param(key) && !RESERVED_KEYS.contains(&key.as_str()) {
            let mut known: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            known.extend(RESERVED_KEYS);
            let known = known.join(", ");
            return Err(root.undeclared(key).error_redacted(
                BindErrorKind::UnknownField,
                format!(
                    "unknown parameter {} of {owner}; expected one of: {known}",
                    shown_key(key)
                ),
                format!(
                    "unknown parameter {} of {owner}; expected one of: {known}",
                    undeclared_key(key)
                ),
            ));
        }
    }

    let mut args = Vec::with_capacity(params.len());
    for param in params {
        let path = root.key(&param.name);
        let binder = Binder {
            forwarded: options.forwarded.contains(&param.name.as_str()),
            ..binder
        };
        args.push(binder.field(&param.ty, object.get(&param.name), &path)?);
    }

    let now_ms = match object.get("now") {
        None | Some(Json::Null) => None,
        Some(v) => Some(binder.time(v, &root.key("now"))?),
    };

    let mut signals = match object.get("signals") {
        None | Some(Json::Null) => Vec::new(),
        Some(v) => binder.signals(v, &root.key("signals"))?,
    };
    let judged = judge_signals(program, &mut signals, now_ms, clock);

    Ok(Bound {
        args,
        now_ms,
        signals,
        judged,
    })
}

/// Judges the given `signals` at the decision time (`now_ms`, else `clock`'s) as the connectors
/// judge their answers ([`crate::connectors::judge_given`]): each that cannot be shown fresh,
/// or that contradicts itself (a SIM Swap `swapped` its date disagrees with), becomes
/// [`Value::Absent`], and is returned with why.
fn judge_signals(
    program: &Program,
    signals: &mut [(u32, Value)],
    now_ms: Option<i64>,
    clock: &dyn Fn() -> i64,
) -> Vec<(u32, SignalFetch)> {
    let mut at = now_ms;
    let mut judged = Vec::new();
    for (index, value) in signals.iter_mut() {
        let Some(decl) = usize::try_from(*index)
            .ok()
            .and_then(|i| program.signals.get(i))
        else {
            continue;
        };
        // Most values are neither timed nor checked for agreement: the clock is read only for
        // one that is.
        if !crate::connectors::judged_when_given(program, &decl.ty, value) {
            continue;
        }
        let now = *at.get_or_insert_with(clock);
        if let Some(fetch) = crate::connectors::judge_given(program, decl, value, now) {
            *value = Value::Absent;
            judged.push((*index, fetch));
        }
    }
    judged
}

/// A field path, built on the stack and rendered only for errors.
#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    /// A key the program does not declare: rendered by its length only
    /// ([`undeclared_key`]), never quoted.
    Undeclared(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    /// The path of `key`, which the program does not declare here: an error's path names it
    /// by its length ([`undeclared_key`]).
    fn undeclared(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Undeclared(key),
        }
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            seg: Seg::Index(index),
        }
    }

    fn render(&self, out: &mut String) {
        if let Some(parent) = self.parent {
            parent.render(out);
        }
        match self.seg {
            Seg::Root => {}
            Seg::Key(key) => push_key(out, key),
            Seg::Undeclared(key) => {
                out.push('[');
                out.push_str(&undeclared_key(key));
                out.push(']');
            }
            Seg::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }

    /// An error whose message quotes no value of the input (keys are in the path anyway).
    fn error(&self, kind: BindErrorKind, message: String) -> BindError {
        self.error_redacted(kind, message.clone(), message)
    }

    /// An error saying what was `found`: `message` says it with the value
    /// (`found "3"`), the [`BindError::redacted`] one with its JSON type (`found a string`).
    fn found(
        &self,
        kind: BindErrorKind,
        found: &Json,
        message: impl Fn(&str) -> String,
    ) -> BindError {
        self.error_redacted(kind, message(&describe(found)), message(&json_type(found)))
    }

    fn error_redacted(&self, kind: BindErrorKind, message: String, redacted: String) -> BindError {
        let mut path = String::new();
        self.render(&mut path);
        BindError {
            kind,
            path,
            message,
            redacted,
        }
    }
}

/// Appends the key `key` to the path `out`: `.key` for an identifier (`key` alone first),
/// else `["key"]`.
fn push_key(out: &mut String, key: &str) {
    if is_identifier(key) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&quote(key));
        out.push(']');
    }
}

/// A key the program does not declare, as a path and a proof record name it: by its length in
/// characters, `<key of 38 characters>`, never its text. Such a key is the input's own text
/// (it may be personal: `"jane.doe@example.com"`), of any length, and a record is never
/// rewritten; a hash of it would still name a guessable key. The `<` sets it apart from a key,
/// which a path writes bare or quoted.
fn undeclared_key(key: &str) -> String {
    match key.chars().count() {
        1 => "<key of 1 character>".to_string(),
        n => format!("<key of {n} characters>"),
    }
}

/// A key the program does not declare, as a message to the person who gave it quotes it:
/// escaped, and past 60 characters by its first 60 and its length.
fn shown_key(key: &str) -> String {
    const MAX: usize = 60;
    let length = key.chars().count();
    if length > MAX {
        let cut: String = key.chars().take(MAX).collect();
        format!("{}… ({length} characters)", quote(&cut))
    } else {
        quote(key)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A string as a JSON literal.
fn quote(s: &str) -> String {
    let json = serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"));
    // JSON escapes control characters only: a blank other than the space, or a character that
    // shows nothing (zero-width, bidirectional controls), is escaped too, so that a refused
    // value never looks like an accepted one (`"1\u00a0EUR"`, not `"1 EUR"`).
    let invisible = |c: char| {
        c != ' '
            && (c.is_whitespace()
                || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                    | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}'))
    };
    if !json.contains(|c: char| !c.is_ascii() && invisible(c)) {
        return json;
    }
    json.chars()
        .fold(String::with_capacity(json.len() + 8), |mut out, c| {
            if invisible(c) && !c.is_ascii() {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push(c);
            }
            out
        })
}

/// What a JSON value is, for error messages (strings truncated).
fn describe(v: &Json) -> String {
    const MAX: usize = 60;
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => shown_number(n),
        Json::String(s) if s.chars().count() > MAX => {
            let cut: String = s.chars().take(MAX).collect();
            format!("{}…", quote(&cut))
        }
        Json::String(s) => quote(s),
        Json::Array(a) if a.len() == 1 => "an array of 1 element".into(),
        Json::Array(a) => format!("an array of {} elements", a.len()),
        Json::Object(_) => "an object".into(),
    }
}

/// A number as messages quote it when its text is not at hand (a parsed [`Json`]): an integer
/// that serde_json writes with an exponent (read as an `f64`: written beyond 64 bits, or with
/// an exponent) by its digits, as it is usually written (`100000000000000000000`, not
/// `1e20`), up to 27 of them; else as serde_json writes it (`1.0`, `1e-29`). Where the text is at hand ([`bind_json`]), [`as_written`] quotes it
/// instead.
fn shown_number(n: &Number) -> String {
    let text = n.to_string();
    match n.as_f64() {
        // `1.0` stays: it says the number has a fraction part, which an Int refuses.
        Some(f) if text.contains('e') && f.fract() == 0.0 && f.abs() < 1e27 => format!("{f:.0}"),
        _ => text,
    }
}

/// What a JSON value is, without its value when that is a string or a number (what
/// [`BindError::redacted`] says instead of [`describe`]).
fn json_type(v: &Json) -> String {
    match v {
        Json::String(_) => "a string".into(),
        Json::Number(_) => "a number".into(),
        // `null`, `true`, `false`, and arrays and objects by their length only.
        other => describe(other),
    }
}

/// The last segment of a qualified name.
fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

fn symbol_kind_name(kind: SymbolKind) -> &'static str {
    match kind {
        SymbolKind::Channel => "channel",
        SymbolKind::Purpose => "purpose",
        SymbolKind::Role => "role",
    }
}

/// The qualified names of the symbols of `kind` that the short name `name` could mean when
/// [`Program::symbol`] finds none for it because several have it: those of the project's own
/// modules, or with none of them, the standard library's (its rule: the project's own win).
/// Empty when no symbol has the name, or one does.
fn ambiguous_symbol<'p>(program: &'p Program, kind: SymbolKind, name: &str) -> Vec<&'p str> {
    let short: Vec<&crate::ir::Symbol> = (program.symbols.iter())
        .filter(|s| s.kind == kind && s.name == name)
        .collect();
    let own: Vec<&crate::ir::Symbol> = (short.iter().copied())
        .filter(|s| !s.qualified.starts_with("std."))
        .collect();
    let meant = if own.is_empty() { short } else { own };
    if meant.len() < 2 {
        return Vec::new();
    }
    meant.into_iter().map(|s| s.qualified.as_str()).collect()
}

const DURATION_HELP: &str =
    "a duration like \"15m\" or \"1h30m\" (units w, d, h, m, s, ms) or integer milliseconds";

/// What a Duration holds, for the message refusing one beyond it: `parse_duration` sums
/// milliseconds in an `i64` and negates the sum.
const DURATION_RANGE: &str = "from -9223372036854775807ms to 9223372036854775807ms (about \
                              15250284452 weeks, 292 million years)";

/// A type's name as written in XOP (`List<Consent>`, `Text?`, a record's short name).
pub fn type_name(program: &Program, ty: &Type) -> String {
    match ty {
        Type::Bool => "Bool".into(),
        Type::Int => "Int".into(),
        Type::Decimal => "Decimal".into(),
        Type::Money => "Money".into(),
        Type::Text => "Text".into(),
        Type::Duration => "Duration".into(),
        Type::Time => "Time".into(),
        Type::Tz => "Tz".into(),
        Type::Id => "Id".into(),
        Type::Symbol(SymbolKind::Channel) => "Channel".into(),
        Type::Symbol(SymbolKind::Purpose) => "Purpose".into(),
        Type::Symbol(SymbolKind::Role) => "Role".into(),
        Type::Record(i) => program
            .records
            .get(*i as usize)
            .map_or_else(|| format!("record #{i}"), |r| short(&r.name).into()),
        Type::Enum(i) => program
            .enums
            .get(*i as usize)
            .map_or_else(|| format!("enum #{i}"), |e| short(&e.name).into()),
        Type::List(t) => format!("List<{}>", type_name(program, t)),
        Type::Set(t) => format!("Set<{}>", type_name(program, t)),
        Type::Optional(t) => format!("{}?", type_name(program, t)),
    }
}

/// The words the elements of an input's lists have bound to so far in the flat input layout,
/// held to [`max_words`].
struct Budget<'j> {
    /// The input, whose JSON values are counted once binding passes [`WORDS_SLACK`] (below it
    /// every input is within its limit, so most are never counted).
    input: &'j Json,
    used: Cell<usize>,
    /// [`max_words`] of the input, once counted.
    limit: Cell<Option<usize>>,
    /// Whether the limit is checked: [`BindOptions::any_size`] turns it off.
    checked: bool,
    /// The words of each record type of the program, once computed.
    records: RefCell<Vec<Option<usize>>>,
}

impl Budget<'_> {
    /// Counts `words` more: the limit the input passed, if it did.
    fn charge(&self, words: usize) -> Option<usize> {
        let used = self.used.get().saturating_add(words);
        self.used.set(used);
        if used <= WORDS_SLACK || !self.checked {
            return None;
        }
        let limit = match self.limit.get() {
            Some(limit) => limit,
            None => {
                let limit = max_words(self.input);
                self.limit.set(Some(limit));
                limit
            }
        };
        (used > limit).then_some(limit)
    }
}

#[derive(Clone, Copy)]
struct Binder<'p> {
    program: &'p Program,
    /// What the input has bound to so far.
    budget: &'p Budget<'p>,
    /// Whether the value is passed on as written ([`BindOptions::forwarded`]): a time's digits
    /// past the millisecond must all be `0`, its second not `60`, a set's elements unique.
    forwarded: bool,
    /// [`BindOptions::sets_as_given`].
    sets_as_given: bool,
}

impl Binder<'_> {
    /// The type's name as written in XOP.
    fn type_name(&self, ty: &Type) -> String {
        type_name(self.program, ty)
    }

    /// What a value of `ty` looks like in JSON.
    fn expectation(&self, ty: &Type) -> String {
        match ty {
            Type::Bool => "true or false".into(),
            Type::Int => "an integer".into(),
            Type::Decimal => "a decimal number (a JSON number or a string like \"12.50\")".into(),
            Type::Money => {
                "money ({\"amount\": \"12.50\", \"currency\": \"EUR\"} or \"12.50 EUR\")".into()
            }
            Type::Text => "a string".into(),
            Type::Duration => DURATION_HELP.into(),
            Type::Time => "an RFC 3339 time".into(),
            Type::Tz => "an IANA time zone name".into(),
            Type::Id => "an id (a string)".into(),
            Type::Symbol(kind) => format!("a {} name", symbol_kind_name(*kind)),
            Type::Record(_) => format!("a {} object", self.type_name(ty)),
            Type::Enum(_) => format!("a {} variant name", self.type_name(ty)),
            Type::List(t) | Type::Set(t) => {
                format!("an array of {}", self.type_name(t))
            }
            Type::Optional(t) => format!("{} or null", self.expectation(t)),
        }
    }

    fn wrong_type(&self, ty: &Type, found: &Json, path: &Path) -> BindError {
        let expected = self.expectation(ty);
        path.found(BindErrorKind::WrongType, found, |found| {
            format!("expected {expected}, found {found}")
        })
    }

    /// The words a value of `ty` takes in the flat input layout, its lists' elements left out
    /// ([`crate::ir::layout_size`]; 1 for a type the JIT does not lay out). A record type's
    /// are computed once per input.
    fn words(&self, ty: &Type) -> usize {
        match ty {
            Type::Optional(inner) => self.words(inner).saturating_add(1),
            Type::Record(r) => {
                let records = &self.budget.records;
                let i = *r as usize;
                if i >= self.program.records.len() {
                    return 1; // no such record: binding refuses the value
                }
                if let Some(Some(n)) = records.borrow().get(i) {
                    return *n;
                }
                let n = layout_size(self.program, ty, 0).unwrap_or(1);
                let mut records = records.borrow_mut();
                records.resize(self.program.records.len(), None);
                records[i] = Some(n);
                n
            }
            _ => layout_size(self.program, ty, 0).unwrap_or(1),
        }
    }

    /// Counts element `path` of a list of `elem`s before it is bound: each takes its type's
    /// whole room in the layout, whatever it leaves out.
    fn element(&self, elem: &Type, path: &Path) -> Result<(), BindError> {
        let words = self.words(elem);
        let Some(limit) = self.budget.charge(words) else {
            return Ok(());
        };
        let name = self.type_name(elem);
        Err(path.error(
            BindErrorKind::TooLarge,
            format!(
                "the elements of the input's lists take more than {limit} words once bound \
                 ({WORDS_SLACK} plus {WORDS_PER_VALUE} for each JSON value the input writes), \
                 and this one passed the limit: each {name} takes {words} words, whatever \
                 optional fields it leaves out; send fewer elements, or move the fields of \
                 {name} that are rarely given into a nested optional record"
            ),
        ))
    }

    /// A field or parameter that may be missing.
    fn field(&self, ty: &Type, value: Option<&Json>, path: &Path) -> Result<Value, BindError> {
        match (value, ty) {
            (Some(v), _) => self.value(ty, v, path),
            (None, Type::Optional(_)) => Ok(Value::Absent),
            (None, _) => Err(path.error(
                BindErrorKind::Missing,
                format!("missing; expected {}", self.expectation(ty)),
            )),
        }
    }

    fn value(&self, ty: &Type, v: &Json, path: &Path) -> Result<Value, BindError> {
        match ty {
            Type::Optional(inner) => {
                if v.is_null() {
                    Ok(Value::Absent)
                } else {
                    self.value(inner, v, path)
                }
            }
            Type::Bool => match v {
                Json::Bool(b) => Ok(Value::Bool(*b)),
                _ => Err(self.wrong_type(ty, v, path)),
            },
            Type::Int => match v {
                Json::Number(n) => int(n, path).map(Value::Int),
                _ => Err(self.wrong_type(ty, v, path)),
            },
            Type::Decimal => self.decimal(v, path).map(Value::Decimal),
            Type::Money => self.money(v, path),
            Type::Text => match v {
                Json::String(s) => Ok(Value::Text(Arc::from(s.as_str()))),
                _ => Err(self.wrong_type(ty, v, path)),
            },
            Type::Id => match v {
                Json::String(s) => Ok(Value::Id(Arc::from(s.as_str()))),
                _ => Err(self.wrong_type(ty, v, path)),
            },
            Type::Duration => match v {
                Json::Number(n) => int(n, path).map(Value::Duration),
                Json::String(s) => parse_duration(s).map(Value::Duration).map_err(|kind| {
                    path.found(kind, v, |found| match kind {
                        BindErrorKind::OutOfRange => format!(
                            "the duration {found} is out of range: a Duration holds \
                             {DURATION_RANGE}; give a shorter one"
                        ),
                        _ => format!("expected {DURATION_HELP}, found {found}"),
                    })
                }),
                _ => Err(self.wrong_type(ty, v, path)),
            },
            Type::Time => self.time(v, path).map(Value::Time),
            Type::Tz => match v {
                // The one test of a zone name (the compiler's and the engines'), so that every
                // zone bound is one the policy can use.
                Json::String(s) => match crate::zone::lookup(s) {
                    Some(tz) => Ok(Value::Tz(Arc::from(tz.iana_name().unwrap_or(s)))),
                    None => Err(path.found(BindErrorKind::Malformed, v, |found| {
                        format!(
                            "expected an IANA time zone name like \"Europe/Paris\", found {found}"
                        )
                    })),
                },
                _ => Err(self.wrong_type(ty, v, path)),
            },
            Type::Symbol(kind) => match v {
                Json::String(s) => {
                    self.program
                        .symbol(*kind, s)
                        .map(Value::Symbol)
                        .ok_or_else(|| {
                            let meant = ambiguous_symbol(self.program, *kind, s);
                            if !meant.is_empty() {
                                // A short name two modules declare: as `--policy` says it.
                                let (kind, meant) = (symbol_kind_name(*kind), meant.join(" or "));
                                return path.error_redacted(
                                    BindErrorKind::UnknownEnumValue,
                                    format!(
                                        "the {kind} name {} could mean {meant}: give its \
                                         qualified name",
                                        describe(v)
                                    ),
                                    format!(
                                        "the {kind} name could mean {meant}: give its qualified \
                                         name"
                                    ),
                                );
                            }
                            // As an input can write each: its short name where that names
                            // it (the project's own win over the standard library's), else
                            // its qualified name.
                            let known: Vec<&str> = (self.program.symbols.iter().enumerate())
                                .filter(|(_, sym)| sym.kind == *kind)
                                .map(|(i, sym)| {
                                    let by_short = self.program.symbol(*kind, &sym.name);
                                    if by_short.is_some_and(|j| j as usize == i) {
                                        sym.name.as_str()
                                    } else {
                                        sym.qualified.as_str()
                                    }
                                })
                                .collect();
                            let kind = symbol_kind_name(*kind);
                            let known = list_or_none(&known);
                            path.error_redacted(
                                BindErrorKind::UnknownEnumValue,
                                format!("unknown {kind} {}; known: {known}", describe(v)),
                                format!("unknown {kind} name; known: {known}"),
                            )
                        })
                }
                _ => Err(self.wrong_type(ty, v, path)),
            },
            Type::Enum(index) => {
                let Json::String(s) = v else {
                    return Err(self.wrong_type(ty, v, path));
                };
                let decl = self.program.enums.get(*index as usize).ok_or_else(|| {
                    path.error(
                        BindErrorKind::Malformed,
                        format!("the program has no enum #{index}"),
                    )
                })?;
                match decl.variants.iter().position(|variant| variant == s) {
                    Some(i) => Ok(Value::Enum(*index, i as u32)),
                    None => {
                        let known: Vec<&str> = decl.variants.iter().map(String::as_str).collect();
                        let (name, known) = (short(&decl.name), list_or_none(&known));
                        Err(path.error_redacted(
                            BindErrorKind::UnknownEnumValue,
                            format!(
                                "unknown {name} variant {}; expected one of: {known}",
                                describe(v),
                            ),
                            format!("unknown {name} variant; expected one of: {known}"),
                        ))
                    }
                }
            }
            Type::Record(index) => {
                let Json::Object(object) = v else {
                    return Err(self.wrong_type(ty, v, path));
                };
                self.record(*index, object, path)
            }
            Type::List(elem) | Type::Set(elem) => {
                let Json::Array(items) = v else {
                    return Err(self.wrong_type(ty, v, path));
                };
                let mut out = Vec::with_capacity(items.len());
                if matches!(ty, Type::Set(_)) {
                    // A repeat is counted, though it is dropped below: a written value, it
                    // takes less than the words each value may take.
                    for (i, item) in items.iter().enumerate() {
                        let path = path.index(i);
                        self.element(elem, &path)?;
                        out.push(self.value(elem, item, &path)?);
                    }
                    // Passed on as written, every repeat would reach the program, which may
                    // count it (a tool acting on each) where the policy saw one.
                    if self.forwarded
                        && let Some((first, again)) = first_repeat(&out)
                    {
                        return Err(self.repeated(elem, &items[again], first, &path.index(again)));
                    }
                    // Canonical, as the interpreter builds sets: sorted and unique.
                    if !self.sets_as_given {
                        out.sort();
                        out.dedup();
                    }
                } else {
                    for (i, item) in items.iter().enumerate() {
                        let path = path.index(i);
                        self.element(elem, &path)?;
                        out.push(self.value(elem, item, &path)?);
                    }
                }
                Ok(Value::List(Arc::from(out)))
            }
        }
    }

    /// The error for a forwarded set's element `item` at `path`, the same element as the one
    /// at index `first` (equal once bound: `"1.0"` and `"1.00"` for a Decimal too).
    fn repeated(&self, elem: &Type, item: &Json, first: usize, path: &Path) -> BindError {
        const WHY: &str = "a set holds each element once, so the policy decided on it once, \
                           while the arguments are passed on as written and the tool would \
                           receive every repeat";
        let what = format!(
            "the same {} as element [{first}] of the set",
            self.type_name(elem)
        );
        let fix = format!("give each element once: remove element [{first}] or this one");
        path.error_redacted(
            BindErrorKind::DuplicateElement,
            format!("{} is {what}: {WHY}; {fix}", describe(item)),
            format!("the element is {what}: {WHY}; {fix}"),
        )
    }

    fn record(
        &self,
        index: u32,
        object: &Map<String, Json>,
        path: &Path,
    ) -> Result<Value, BindError> {
        let decl = self.program.records.get(index as usize).ok_or_else(|| {
            path.error(
                BindErrorKind::Malformed,
                format!("the program has no record #{index}"),
            )
        })?;
        for key in object.keys() {
            if decl.field(key).is_none() {
                let known: Vec<&str> = decl.fields.iter().map(|f| f.name.as_str()).collect();
                let (name, known) = (short(&decl.name), list_or_none(&known));
                return Err(path.undeclared(key).error_redacted(
                    BindErrorKind::UnknownField,
                    format!(
                        "unknown field {} of {name}; known fields: {known}",
                        shown_key(key)
                    ),
                    format!(
                        "unknown field {} of {name}; known fields: {known}",
                        undeclared_key(key)
                    ),
                ));
            }
        }
        let mut fields = Vec::with_capacity(decl.fields.len());
        for field in &decl.fields {
            let value = self.field(&field.ty, object.get(&field.name), &path.key(&field.name))?;
            fields.push(value);
        }
        Ok(Value::Record(index, Arc::from(fields)))
    }

    fn decimal(&self, v: &Json, path: &Path) -> Result<Decimal, BindError> {
        let text = match v {
            Json::Number(n) => n.to_string(),
            Json::String(s) => s.clone(),
            _ => return Err(self.wrong_type(&Type::Decimal, v, path)),
        };
        parse_decimal(&text).map_err(|kind| match kind {
            BindErrorKind::OutOfRange => path.error_redacted(
                kind,
                format!(
                    "{} is more than a Decimal holds ({DECIMAL_LIMITS})",
                    describe(v)
                ),
                format!("the number is more than a Decimal holds ({DECIMAL_LIMITS})"),
            ),
            _ => path.found(kind, v, |found| {
                format!("expected a decimal number like \"12.50\", found {found}")
            }),
        })
    }

    fn money(&self, v: &Json, path: &Path) -> Result<Value, BindError> {
        match v {
            Json::String(s) => {
                // Exactly `<amount> <CODE>`: one space (U+0020) between, no other blank
                // anywhere, so that the tool reads the text as the policy did.
                let Some((amount, currency)) = money_parts(s) else {
                    return Err(path.found(BindErrorKind::Malformed, v, |found| {
                        format!(
                            "expected money like \"12.50 EUR\" (a decimal amount, one space, a \
                             currency code; no other blanks), found {found}"
                        )
                    }));
                };
                let amount = money_amount(amount).map_err(|kind| {
                    path.found(kind, v, |found| match kind {
                        BindErrorKind::OutOfRange => format!(
                            "expected money like \"12.50 EUR\", found {found}, whose amount is \
                             more than a Decimal holds ({DECIMAL_LIMITS})"
                        ),
                        _ => format!(
                            "expected money like \"12.50 EUR\" ({MONEY_AMOUNT}), found {found}, \
                             whose amount is no decimal number"
                        ),
                    })
                })?;
                let currency = currency_code(currency)
                    .ok_or_else(|| currency_error(path, &Json::String(currency.into())))?;
                Ok(Value::Money(amount, currency))
            }
            Json::Object(object) => {
                for key in object.keys() {
                    if key != "amount" && key != "currency" {
                        const KNOWN: &str = "known fields: amount, currency";
                        return Err(path.undeclared(key).error_redacted(
                            BindErrorKind::UnknownField,
                            format!("unknown field {} of Money; {KNOWN}", shown_key(key)),
                            format!("unknown field {} of Money; {KNOWN}", undeclared_key(key)),
                        ));
                    }
                }
                let amount_path = path.key("amount");
                let amount = match object.get("amount") {
                    None => {
                        return Err(amount_path.error(
                            BindErrorKind::Missing,
                            "missing; expected a decimal amount like \"12.50\"".into(),
                        ));
                    }
                    Some(a) => self.decimal(a, &amount_path)?,
                };
                let currency_path = path.key("currency");
                let currency = match object.get("currency") {
                    None => {
                        return Err(currency_path.error(
                            BindErrorKind::Missing,
                            "missing; expected a currency code like \"EUR\"".into(),
                        ));
                    }
                    Some(c @ Json::String(code)) => {
                        currency_code(code).ok_or_else(|| currency_error(&currency_path, c))?
                    }
                    Some(other) => {
                        return Err(currency_path.found(
                            BindErrorKind::WrongType,
                            other,
                            |found| format!("expected a currency code like \"EUR\", found {found}"),
                        ));
                    }
                };
                Ok(Value::Money(amount, currency))
            }
            _ => Err(self.wrong_type(&Type::Money, v, path)),
        }
    }

    fn time(&self, v: &Json, path: &Path) -> Result<i64, BindError> {
        let Json::String(s) = v else {
            return Err(self.wrong_type(&Type::Time, v, path));
        };
        // `why` says what is wrong with the form, never quoting the text.
        let ms = crate::time::parse_rfc3339(s).map_err(|why| {
            path.found(BindErrorKind::Malformed, v, |found| {
                format!(
                    "expected an RFC 3339 time like \"2025-03-01T09:30:00Z\", found {found} ({why})"
                )
            })
        })?;
        // `YYYY-MM-DDTHH:MM:SS`: the second is bytes 17 and 18 of a text that parsed.
        if self.forwarded && s.get(17..19) == Some("60") {
            let found = describe(v);
            const WHY: &str = "a leap second, which xop reads as :59, deciding on that second, \
                               while the program it is passed on to (a tool) may read it as the \
                               next minute's first second, a later instant than the one decided on";
            const FIX: &str = "give the second as 59 (or 00 of the next minute, if that is \
                               the instant meant)";
            return Err(path.error_redacted(
                BindErrorKind::OutOfRange,
                format!("the time {found} has the second 60, {WHY}; {FIX}"),
                format!("the time has the second 60, {WHY}; {FIX}"),
            ));
        }
        if self.forwarded
            && let Some((kept, dropped, zone)) = past_the_millisecond(s)
        {
            let found = describe(v);
            let decided = quote(&format!("{kept}{zone}"));
            const WHY: &str = "while the program it is passed on to (a tool) may read them: \
                               it would act on a later instant than the one decided on";
            const FIX: &str = "give at most millisecond precision (digits past it that are \
                               all 0 are read as written)";
            return Err(path.error_redacted(
                BindErrorKind::OutOfRange,
                format!(
                    "the time {found} has digits past the millisecond (`{dropped}`), which xop \
                     drops, deciding on {decided}, {WHY}; {FIX}: {decided}"
                ),
                format!("the time has digits past the millisecond, which xop drops, {WHY}; {FIX}"),
            ));
        }
        Ok(ms)
    }

    fn signals(&self, v: &Json, path: &Path) -> Result<Vec<(u32, Value)>, BindError> {
        let Json::Object(object) = v else {
            return Err(path.found(BindErrorKind::WrongType, v, |found| {
                format!("expected an object from signal names to values, found {found}")
            }));
        };
        let decls = &self.program.signals;
        let mut out: Vec<(u32, Value, &str)> = Vec::with_capacity(object.len());
        for (key, value) in object {
            let key_path = path.key(key);
            let index = match decls.iter().position(|s| s.name == *key) {
                Some(i) => i,
                None => {
                    let matches: Vec<usize> = decls
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| short(&s.name) == key)
                        .map(|(i, _)| i)
                        .collect();
                    match matches.as_slice() {
                        [i] => *i,
                        [] => {
                            let known: Vec<&str> = decls.iter().map(|s| short(&s.name)).collect();
                            let known = list_or_none(&known);
                            return Err(path.undeclared(key).error_redacted(
                                BindErrorKind::UnknownField,
                                format!(
                                    "unknown signal {}; known signals: {known}",
                                    shown_key(key)
                                ),
                                format!(
                                    "unknown signal {}; known signals: {known}",
                                    undeclared_key(key)
                                ),
                            ));
                        }
                        many => {
                            let names: Vec<&str> =
                                many.iter().map(|i| decls[*i].name.as_str()).collect();
                            return Err(key_path.error(
                                BindErrorKind::Malformed,
                                format!(
                                    "ambiguous signal name {}; write one of: {}",
                                    quote(key),
                                    names.join(", ")
                                ),
                            ));
                        }
                    }
                }
            };
            let index = index as u32;
            if let Some((_, _, first)) = out.iter().find(|(i, _, _)| *i == index) {
                return Err(key_path.error(
                    BindErrorKind::Malformed,
                    format!(
                        "signal {} is given twice (also as {})",
                        decls[index as usize].name,
                        quote(first)
                    ),
                ));
            }
            let bound = if value.is_null() {
                Value::Absent
            } else {
                self.value(&decls[index as usize].ty, value, &key_path)?
            };
            out.push((index, bound, key));
        }
        out.sort_by_key(|(i, _, _)| *i);
        Ok(out.into_iter().map(|(i, v, _)| (i, v)).collect())
    }
}

/// For an RFC 3339 time `s` ([`crate::time::parse_rfc3339`] read it) whose fraction of a
/// second has a digit other than `0` past the third: the text up to the millisecond, the
/// digits past it, and the zone.
fn past_the_millisecond(s: &str) -> Option<(&str, &str, &str)> {
    // `YYYY-MM-DDTHH:MM:SS` is 19 bytes, the point the 20th.
    let fraction = s.get(19..)?.strip_prefix('.')?;
    let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
    let past = fraction.get(3.min(digits)..digits)?;
    if past.bytes().all(|d| d == b'0') {
        return None;
    }
    // The digits are ASCII, so these are character boundaries.
    let kept = s.get(..20 + 3.min(digits))?;
    Some((kept, past, fraction.get(digits..)?))
}

/// The first element of `values` (in their order) equal to an earlier one: the earlier one's
/// index and its own. Sorted indices, so that a long array costs `n log n`, not `n²`.
fn first_repeat(values: &[Value]) -> Option<(usize, usize)> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    // Stable: equal values keep their order, so each run of equal ones starts with the first.
    order.sort_by(|a, b| values[*a].cmp(&values[*b]));
    let mut best: Option<(usize, usize)> = None;
    let mut run_start = 0;
    for k in 1..order.len() {
        if values[order[k]] != values[order[k - 1]] {
            run_start = k;
        } else if k == run_start + 1 && best.is_none_or(|(_, again)| order[k] < again) {
            // The run's second element is its first repeat in the array's order.
            best = Some((order[run_start], order[k]));
        }
    }
    best
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "(none)".into()
    } else {
        names.join(", ")
    }
}

/// A JSON number as an `i64`.
fn int(n: &Number, path: &Path) -> Result<i64, BindError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let out_of_range = || {
        let range = format!("the Int range ({} to {})", i64::MIN, i64::MAX);
        path.error_redacted(
            BindErrorKind::OutOfRange,
            format!("{} is out of {range}", shown_number(n)),
            format!("the number is out of {range}"),
        )
    };
    if n.is_u64() {
        return Err(out_of_range());
    }
    match n.as_f64() {
        // An integral number written with an exponent or beyond i64 (parsed as a float).
        Some(f) if f.fract() == 0.0 && f.abs() >= i64::MAX as f64 => Err(out_of_range()),
        // serde_json reads `-0` as the float -0.0; the user wrote no fraction, so it is named
        // as written, with the fix. (`Some(0.0)` would match +0.0 too: `0.0`, `0e0`.)
        Some(f) if f == 0.0 && f.is_sign_negative() => Err(path.error_redacted(
            BindErrorKind::WrongType,
            "expected an integer, found a negative zero; write 0".into(),
            "expected an integer, found a negative zero; write 0".into(),
        )),
        _ => Err(path.error_redacted(
            BindErrorKind::WrongType,
            format!("expected an integer, found {}", shown_number(n)),
            "expected an integer, found a number with a fraction or an exponent".into(),
        )),
    }
}

/// Whether `s` is `[+-]digits[.digits][(e|E)[+-]digits]`.
fn is_decimal_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    if !digits(&mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// A decimal, exactly from its text; the error kind says whether the text is malformed or the
/// number out of range.
pub(crate) fn parse_decimal(s: &str) -> Result<Decimal, BindErrorKind> {
    if !is_decimal_syntax(s) {
        return Err(BindErrorKind::Malformed);
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let parsed = if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        exact_decimal(s)
    };
    parsed.ok_or(BindErrorKind::OutOfRange)
}

/// The decimal written `[-]digits[.digits]`, exactly: as written, or, where a Decimal cannot
/// hold that many digits, with trailing zeros of the fraction dropped until it can (the finest
/// scale that holds it, as `Decimal::from_str` rounds to): `1.` and 29 zeros is 1 at scale
/// 28, `9999999999999999999999999999.0` is 9999999999999999999999999999. Zeros that change no
/// value make no text inexact. `None` when no such decimal is exact. The one reader of decimal
/// text for inputs and the compiler's literals (language.md §6.1), so both take the same texts.
pub fn exact_decimal(s: &str) -> Option<Decimal> {
    if let Ok(d) = Decimal::from_str_exact(s) {
        return Some(d);
    }
    let (_, fraction) = s.split_once('.')?;
    let zeros = fraction.len() - fraction.trim_end_matches('0').len();
    // Down to 28 digits after the point at once (more never fit), then one zero at a time:
    // at most 29 reads, however long the text.
    let first = fraction.len().saturating_sub(28);
    if first > zeros {
        return None;
    }
    (first..=zeros).find_map(|drop| {
        let text = &s[..s.len() - drop];
        Decimal::from_str_exact(text.strip_suffix('.').unwrap_or(text)).ok()
    })
}

/// The form of [`money_amount`], for messages.
const MONEY_AMOUNT: &str =
    "digits, optionally a point and digits, optionally a leading -: no exponent, no +";

/// The amount of money given as text (`12.50` of `"12.50 EUR"`), exactly from its text, which
/// must be `[-]digits[.digits]`: a money literal's amount (language.md §2.5) with an optional
/// sign. An exponent (`1e2`) or a `+`, which a Decimal's text may have, is malformed here, so
/// that no other reader of the text (a tool the amount is passed to) takes it otherwise. The
/// error kind says whether the text is malformed or the number out of range.
pub(crate) fn money_amount(s: &str) -> Result<Decimal, BindErrorKind> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    let plain = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !(plain(int) && plain(frac)) {
        return Err(BindErrorKind::Malformed);
    }
    parse_decimal(s)
}

/// Money as text, `"12.50 EUR"`: the amount and the currency code, split at the one space
/// (U+0020) between them. `None` when the text has no space, or another blank (a tab, a line
/// break, a no-break space, a second space) anywhere, or one at either end: the amount and the
/// code themselves are checked by their own readers.
pub(crate) fn money_parts(s: &str) -> Option<(&str, &str)> {
    let (amount, currency) = s.split_once(' ')?;
    let blank = |t: &str| t.is_empty() || t.chars().any(char::is_whitespace);
    (!blank(amount) && !blank(currency)).then_some((amount, currency))
}

/// A currency code: three upper-case ASCII letters.
pub(crate) fn currency_code(s: &str) -> Option<Arc<str>> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())).then(|| Arc::from(s))
}

/// The error for a currency code that is not one (`found`).
fn currency_error(path: &Path, found: &Json) -> BindError {
    path.found(BindErrorKind::Malformed, found, |found| {
        format!("expected a currency code of 3 upper-case letters like \"EUR\", found {found}")
    })
}

/// A duration like `1h30m` in milliseconds: groups of digits and a unit (`w d h m s ms`), units
/// largest first and each at most once, optionally preceded by `-`.
pub(crate) fn parse_duration(s: &str) -> Result<i64, BindErrorKind> {
    const UNITS: [(&str, i64); 6] = [
        ("w", 604_800_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("ms", 1),
        ("m", 60_000),
        ("s", 1_000),
    ];
    // Rank of each unit, largest first (ms is the smallest despite being tried before m).
    fn rank(unit: &str) -> usize {
        match unit {
            "w" => 0,
            "d" => 1,
            "h" => 2,
            "m" => 3,
            "s" => 4,
            _ => 5,
        }
    }
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty() {
        return Err(BindErrorKind::Malformed);
    }
    let mut total: i64 = 0;
    let mut last_rank = None;
    let mut out_of_range = false;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(BindErrorKind::Malformed);
        }
        let (number, after) = rest.split_at(digits);
        let Some((unit, factor)) = UNITS.iter().find(|(u, _)| after.starts_with(u)) else {
            return Err(BindErrorKind::Malformed);
        };
        let r = rank(unit);
        if last_rank.is_some_and(|last| r <= last) {
            return Err(BindErrorKind::Malformed);
        }
        last_rank = Some(r);
        rest = &after[unit.len()..];
        // Keep checking the syntax after an overflow: a malformed text is reported as such.
        match number
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(*factor))
            .and_then(|n| total.checked_add(n))
        {
            Some(t) => total = t,
            None => out_of_range = true,
        }
    }
    if out_of_range {
        return Err(BindErrorKind::OutOfRange);
    }
    Ok(if negative { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{EnumType, Field, Param, Policy, RecordType, SignalDecl, Symbol};
    use serde_json::json;
    use std::str::FromStr;

    fn field(name: &str, ty: Type) -> Field {
        Field {
            name: name.into(),
            ty,
            personal: false,
        }
    }

    /// A program like the design's example: Customer with consents, a contact policy.
    fn program() -> Program {
        let symbols = vec![
            Symbol {
                kind: SymbolKind::Channel,
                name: "sms".into(),
                qualified: "std.channel.sms".into(),
            },
            Symbol {
                kind: SymbolKind::Channel,
                name: "email".into(),
                qualified: "std.channel.email".into(),
            },
            Symbol {
                kind: SymbolKind::Purpose,
                name: "marketing".into(),
                qualified: "std.purpose.marketing".into(),
            },
            Symbol {
                kind: SymbolKind::Purpose,
                name: "service".into(),
                qualified: "std.purpose.service".into(),
            },
        ];
        let consent = RecordType {
            name: "std.consent.Consent".into(),
            fields: vec![
                field("purpose", Type::Symbol(SymbolKind::Purpose)),
                field("channel", Type::Symbol(SymbolKind::Channel)),
                field("given_at", Type::Time),
                field("withdrawn_at", Type::Optional(Box::new(Type::Time))),
            ],
        };
        let customer = RecordType {
            name: "acme.contact.Customer".into(),
            fields: vec![
                field("id", Type::Id),
                field("segment", Type::Enum(0)),
                field("in_service_interaction", Type::Bool),
                field("messages_7d", Type::Int),
                field("risk_score", Type::Decimal),
                field("tz", Type::Tz),
                Field {
                    name: "msisdn".into(),
                    ty: Type::Text,
                    personal: true,
                },
                field("consents", Type::List(Box::new(Type::Record(0)))),
                field("tags", Type::Set(Box::new(Type::Text))),
                field("balance", Type::Optional(Box::new(Type::Money))),
            ],
        };
        let sim_swap = RecordType {
            name: "std.camara.SimSwap".into(),
            fields: vec![field("swapped_at", Type::Time)],
        };
        Program {
            records: vec![consent, customer, sim_swap],
            enums: vec![EnumType {
                name: "acme.contact.Segment".into(),
                variants: vec!["vip".into(), "standard".into()],
            }],
            symbols,
            signals: vec![SignalDecl {
                name: "acme.contact.sim_swap".into(),
                params: vec![Param {
                    name: "c".into(),
                    ty: Type::Record(1),
                }],
                ty: Type::Record(2),
                source: "std.camara.sim_swap".into(),
                source_args: vec![],
                max_age_ms: Some(300_000),
            }],
            policies: vec![
                Policy {
                    name: "contact".into(),
                    qualified: "acme.contact.contact".into(),
                    action: "acme.contact.send_offer".into(),
                    params: vec![
                        Param {
                            name: "to".into(),
                            ty: Type::Record(1),
                        },
                        Param {
                            name: "channel".into(),
                            ty: Type::Symbol(SymbolKind::Channel),
                        },
                        Param {
                            name: "offer".into(),
                            ty: Type::Text,
                        },
                        Param {
                            name: "note".into(),
                            ty: Type::Optional(Box::new(Type::Text)),
                        },
                    ],
                    now_slot: Some(4),
                    slots: 6,
                    rules: vec![],
                },
                Policy {
                    name: "scalars".into(),
                    qualified: "acme.contact.scalars".into(),
                    action: "acme.contact.scalars".into(),
                    params: vec![
                        Param {
                            name: "amount".into(),
                            ty: Type::Money,
                        },
                        Param {
                            name: "wait".into(),
                            ty: Type::Duration,
                        },
                        Param {
                            name: "n".into(),
                            ty: Type::Int,
                        },
                        Param {
                            name: "d".into(),
                            ty: Type::Decimal,
                        },
                    ],
                    now_slot: None,
                    slots: 4,
                    rules: vec![],
                },
            ],
            tests: vec![],
            decisions: vec![],
            agents: vec![],
        }
    }

    fn customer() -> Json {
        json!({
            "id": "c-42",
            "segment": "vip",
            "in_service_interaction": false,
            "messages_7d": 2,
            "risk_score": "12.50",
            "tz": "Europe/Paris",
            "msisdn": "+33600000000",
            "consents": [
                {"purpose": "marketing", "channel": "sms", "given_at": "2025-01-01T00:00:00Z"},
                {"purpose": "std.purpose.service", "channel": "email",
                 "given_at": "2025-01-02T00:00:00Z", "withdrawn_at": null},
                {"purpose": "marketing", "channel": "email",
                 "given_at": "2025-01-03T00:00:00+01:00", "withdrawn_at": "2025-02-01T00:00:00Z"},
            ],
            "tags": ["a", "b", "a"],
        })
    }

    fn input(to: Json) -> Json {
        json!({ "to": to, "channel": "sms", "offer": "buy-now" })
    }

    fn ms(s: &str) -> i64 {
        jiff::Timestamp::from_str(s).unwrap().as_millisecond()
    }

    fn err(policy: usize, input: Json) -> BindError {
        bind_value(&program(), policy, &input).expect_err("binding should fail")
    }

    fn scalars(amount: Json, wait: Json, n: Json, d: Json) -> Result<Bound, BindError> {
        bind_value(
            &program(),
            1,
            &json!({ "amount": amount, "wait": wait, "n": n, "d": d }),
        )
    }

    #[test]
    fn binds_a_full_customer() {
        let mut i = input(customer());
        i["now"] = json!("2025-03-01T09:30:00Z");
        i["signals"] = json!({ "sim_swap": { "swapped_at": "2025-02-28T12:00:00Z" } });
        let bound = bind_value(&program(), 0, &i).unwrap();
        let consents = Value::List(Arc::from(vec![
            Value::Record(
                0,
                Arc::from(vec![
                    Value::Symbol(2),
                    Value::Symbol(0),
                    Value::Time(ms("2025-01-01T00:00:00Z")),
                    Value::Absent,
                ]),
            ),
            Value::Record(
                0,
                Arc::from(vec![
                    Value::Symbol(3),
                    Value::Symbol(1),
                    Value::Time(ms("2025-01-02T00:00:00Z")),
                    Value::Absent,
                ]),
            ),
            Value::Record(
                0,
                Arc::from(vec![
                    Value::Symbol(2),
                    Value::Symbol(1),
                    Value::Time(ms("2025-01-02T23:00:00Z")),
                    Value::Time(ms("2025-02-01T00:00:00Z")),
                ]),
            ),
        ]));
        let expected_customer = Value::Record(
            1,
            Arc::from(vec![
                Value::Id(Arc::from("c-42")),
                Value::Enum(0, 0),
                Value::Bool(false),
                Value::Int(2),
                Value::Decimal(Decimal::new(1250, 2)),
                Value::Tz(Arc::from("Europe/Paris")),
                Value::text("+33600000000"),
                consents,
                Value::List(Arc::from(vec![Value::text("a"), Value::text("b")])),
                Value::Absent,
            ]),
        );
        assert_eq!(
            bound,
            Bound {
                args: vec![
                    expected_customer,
                    Value::Symbol(0),
                    Value::text("buy-now"),
                    Value::Absent
                ],
                now_ms: Some(ms("2025-03-01T09:30:00Z")),
                signals: vec![(
                    0,
                    Value::Record(2, Arc::from(vec![Value::Time(ms("2025-02-28T12:00:00Z"))]))
                )],
                judged: Vec::new(),
            }
        );
        // The same from a JSON text and from a Rust value.
        assert_eq!(bind_json(&program(), 0, &i.to_string()).unwrap(), bound);
        assert_eq!(bind_serde(&program(), 0, &i).unwrap(), bound);
    }

    #[test]
    fn sets_deduplicate_keeping_first_seen_order() {
        let mut c = customer();
        c["tags"] = json!(["x", "y", "x", "z", "y"]);
        let bound = bind_value(&program(), 0, &input(c)).unwrap();
        let Value::Record(_, fields) = &bound.args[0] else {
            panic!()
        };
        assert_eq!(
            fields[8],
            Value::List(Arc::from(vec![
                Value::text("x"),
                Value::text("y"),
                Value::text("z")
            ]))
        );
        // Lists keep duplicates.
        let mut c = customer();
        c["consents"] = json!([
            {"purpose": "marketing", "channel": "sms", "given_at": "2025-01-01T00:00:00Z"},
            {"purpose": "marketing", "channel": "sms", "given_at": "2025-01-01T00:00:00Z"},
        ]);
        let bound = bind_value(&program(), 0, &input(c)).unwrap();
        let Value::Record(_, fields) = &bound.args[0] else {
            panic!()
        };
        let Value::List(consents) = &fields[7] else {
            panic!()
        };
        assert_eq!(consents.len(), 2);
    }

    #[test]
    fn missing_has_its_path() {
        let mut c = customer();
        c["consents"][2].as_object_mut().unwrap().remove("given_at");
        let e = err(0, input(c));
        assert_eq!(e.kind, BindErrorKind::Missing);
        assert_eq!(e.path, "to.consents[2].given_at");
        assert!(e.message.contains("RFC 3339"), "{e}");

        let e = err(0, json!({ "to": customer(), "offer": "x" }));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Missing, "channel")
        );
    }

    /// A key given twice is refused wherever it is (the input, a record, a list's element,
    /// `signals`), with its path and position, whatever the two values; the same text with
    /// each key once binds, and the parse otherwise gives what serde_json gives.
    #[test]
    fn duplicate_keys_are_refused_with_their_path() {
        let good = input(customer()).to_string();
        assert!(bind_json(&program(), 0, &good).is_ok());
        assert_eq!(parse_json(&good).unwrap(), input(customer()));
        assert_eq!(
            parse_json_bytes(good.as_bytes()).unwrap(),
            input(customer())
        );
        for (from, to, path) in [
            (r#""offer":"#, r#""offer": "x", "offer":"#, "offer"),
            (r#""id":"#, r#""id": "c-0", "id":"#, "to.id"),
            (r#""msisdn":"#, r#""msisdn": null, "msisdn":"#, "to.msisdn"),
            (
                r#""channel":"email""#,
                r#""channel":"email","channel":"email""#,
                "to.consents[1].channel",
            ),
            (
                r#"{"channel""#,
                r#"{"we ird": 1, "we ird": 1, "channel""#,
                "[<key of 6 characters>]",
            ),
        ] {
            assert!(good.contains(from), "{from}");
            let text = good.replacen(from, to, 1);
            let e = bind_json(&program(), 0, &text).expect_err(&text);
            assert_eq!(
                (e.kind, e.path.as_str()),
                (BindErrorKind::DuplicateKey, path),
                "{text}"
            );
            assert!(
                e.message.contains("is given twice") && e.message.contains("line 1"),
                "{e}"
            );
            // Read alone, the key's path is written whole (no program says what is declared).
            let alone = parse_json(&text).unwrap_err();
            assert_eq!((&alone.kind, &alone.message), (&e.kind, &e.message));
            if !path.contains('<') {
                assert_eq!(alone, e);
            }
        }
        // In `signals`, and in a decision's input.
        let text = good.replacen(
            '{',
            r#"{"signals": {"sim_swap": null, "sim_swap": null}, "#,
            1,
        );
        let e = bind_json(&program(), 0, &text).expect_err(&text);
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::DuplicateKey, "signals.sim_swap")
        );
        // Invalid JSON is still malformed, with serde_json's position.
        let e = parse_json(r#"{"a": 1,}"#).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::Malformed);
        assert!(
            e.message
                .starts_with("invalid JSON: trailing comma at line 1"),
            "{e}"
        );
        let e = parse_json("[1] 2").unwrap_err();
        assert_eq!(e.kind, BindErrorKind::Malformed);
        // Values are read as serde_json reads them.
        let text = r#"{"a": [1, -2, 3.5, 18446744073709551615, true, null, "\u00e9"], "b": {}}"#;
        assert_eq!(
            parse_json(text).unwrap(),
            serde_json::from_str::<Json>(text).unwrap()
        );
    }

    #[test]
    fn wrong_type_has_its_path() {
        let mut c = customer();
        c["messages_7d"] = json!("three");
        let e = err(0, input(c));
        assert_eq!(e.kind, BindErrorKind::WrongType);
        assert_eq!(e.path, "to.messages_7d");
        assert_eq!(
            e.to_string(),
            "to.messages_7d: expected an integer, found \"three\""
        );

        // null for a required value
        let mut c = customer();
        c["in_service_interaction"] = Json::Null;
        let e = err(0, input(c));
        assert_eq!(e.kind, BindErrorKind::WrongType);
        assert_eq!(e.path, "to.in_service_interaction");
        assert!(e.message.ends_with("found null"), "{e}");

        // a fractional Int
        let mut c = customer();
        c["messages_7d"] = json!(2.5);
        let e = err(0, input(c));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::WrongType, "to.messages_7d")
        );

        // the input itself
        let e = err(0, json!([1, 2]));
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::WrongType, ""));
        assert!(
            e.to_string().starts_with("input: expected an object"),
            "{e}"
        );
    }

    #[test]
    fn malformed_time_has_its_path() {
        let mut c = customer();
        c["consents"][2]["given_at"] = json!("yesterday");
        let e = err(0, input(c));
        assert_eq!(e.kind, BindErrorKind::Malformed);
        assert_eq!(e.path, "to.consents[2].given_at");
        assert!(
            e.to_string()
                .starts_with("to.consents[2].given_at: expected an RFC 3339 time")
                && e.message.contains("found \"yesterday\" (expected the form"),
            "{e}"
        );
        let mut i = input(customer());
        i["now"] = json!("2025-03-01 09:30");
        let e = err(0, i);
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::Malformed, "now"));
        // Forms that jiff reads but RFC 3339 does not have (crate::time).
        for now in [
            "2025-03-01T09:30Z",
            "2025-03-01T09:30:00+0100",
            "20250301T093000Z",
        ] {
            let mut i = input(customer());
            i["now"] = json!(now);
            let e = err(0, i);
            assert_eq!(
                (e.kind, e.path.as_str()),
                (BindErrorKind::Malformed, "now"),
                "{now}"
            );
        }
        let e = bind_json(&program(), 0, "{\"to\": ").unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::Malformed, ""));
    }

    #[test]
    fn millisecond_times_refuse_digits_past_the_millisecond_where_asked() {
        let with = |given_at: &str, only: &[&str]| {
            let mut c = customer();
            c["consents"][2]["given_at"] = json!(given_at);
            // A set passed on is held to its elements given once (tested below).
            c["tags"] = json!(["a", "b"]);
            let mut i = input(c);
            // `now` is no parameter: never checked, always truncated.
            i["now"] = json!("2025-03-01T09:30:00.0001Z");
            let options = BindOptions {
                forwarded: only,
                ..BindOptions::default()
            };
            bind_value_with(&program(), 0, &i, options)
        };
        let given_at = |b: &Bound| {
            let Value::Record(_, fields) = &b.args[0] else {
                panic!("a record")
            };
            // The third consent's `given_at`, its third field.
            fields.iter().find_map(|f| match f {
                Value::List(l) => match l.get(2) {
                    Some(Value::Record(_, consent)) => consent.get(2).cloned(),
                    _ => None,
                },
                _ => None,
            })
        };
        // Dropped, as ever, where not asked (`xop serve`, `xop eval`; here another parameter).
        let cut = with("2025-01-03T00:00:00.0009+01:00", &["channel"]).unwrap();
        let plain = with("2025-01-03T00:00:00+01:00", &["to"]).unwrap();
        assert_eq!(given_at(&cut), given_at(&plain));
        assert_eq!(cut.now_ms, Some(ms("2025-03-01T09:30:00Z")));
        // Refused within a parameter asked for, at its path, saying what was decided on.
        let e = with("2025-01-03T00:00:00.0009+01:00", &["to"]).unwrap_err();
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::OutOfRange, "to.consents[2].given_at")
        );
        assert!(
            e.message.starts_with(
                "the time \"2025-01-03T00:00:00.0009+01:00\" has digits past the millisecond \
                 (`9`), which xop drops, deciding on \"2025-01-03T00:00:00.000+01:00\""
            ) && e.message.contains("give at most millisecond precision"),
            "{}",
            e.message
        );
        assert!(!e.redacted.contains("2025"), "{}", e.redacted);
        assert!(with("2025-01-03T00:00:00.000000001Z", &["to"]).is_err());
        // Digits past the millisecond that are all 0 are the instant decided on.
        for fine in [
            "2025-01-03T00:00:00.000000Z",
            "2025-01-03T00:00:00.123000Z",
            "2025-01-03T00:00:00.1Z",
            "2025-01-03T00:00:00.999+01:00",
        ] {
            let b = with(fine, &["to"]).unwrap();
            assert_eq!(given_at(&b), Some(Value::Time(ms(fine))), "{fine}");
        }
    }

    /// A leap second is read as `:59`, as xop decides on it; passed on, a tool may read it as
    /// the next minute's first second: refused there, with the fix.
    #[test]
    fn a_forwarded_time_must_not_be_a_leap_second() {
        let with = |given_at: &str, only: &[&str]| {
            let mut c = customer();
            c["consents"][2]["given_at"] = json!(given_at);
            c["tags"] = json!(["a"]);
            let mut i = input(c);
            // `now` is no parameter: never checked.
            i["now"] = json!("2016-12-31T23:59:60Z");
            bind_value_with(
                &program(),
                0,
                &i,
                BindOptions {
                    forwarded: only,
                    ..BindOptions::default()
                },
            )
        };
        for leap in [
            "2016-12-31T23:59:60Z",
            "2017-01-01T00:59:60+01:00",
            "2016-12-31t23:59:60.5z",
        ] {
            // Read as :59 where not passed on (`xop serve`, `xop eval`), as ever.
            let b = with(leap, &["channel"]).unwrap();
            assert_eq!(b.now_ms, Some(ms("2016-12-31T23:59:59Z")));
            let e = with(leap, &["to"]).unwrap_err();
            assert_eq!(
                (e.kind, e.path.as_str()),
                (BindErrorKind::OutOfRange, "to.consents[2].given_at"),
                "{leap}"
            );
            assert!(
                e.message
                    .starts_with(&format!("the time \"{leap}\" has the second 60")),
                "{}",
                e.message
            );
            assert!(e.message.contains("give the second as 59"), "{}", e.message);
            assert!(!e.redacted.contains("2016"), "{}", e.redacted);
        }
        // Other seconds pass.
        assert!(with("2016-12-31T23:59:59.999Z", &["to"]).is_ok());
        assert!(with("2016-12-31T23:06:00Z", &["to"]).is_ok());
    }

    /// A set given with repeats is decided on with each element once; passed on, the tool
    /// would receive every repeat: refused there, naming the repeat and the first.
    #[test]
    fn a_forwarded_set_must_not_repeat_an_element() {
        let with = |tags: Json, only: &[&str]| {
            let mut c = customer();
            c["tags"] = tags;
            bind_value_with(
                &program(),
                0,
                &input(c),
                BindOptions {
                    forwarded: only,
                    ..BindOptions::default()
                },
            )
        };
        // Collapsed where not passed on (`xop serve`, `xop eval`), as ever.
        let b = with(json!(["a", "a", "a", "a"]), &["channel"]).unwrap();
        let b2 = with(json!(["a"]), &["channel"]).unwrap();
        assert_eq!(b.args, b2.args);
        for (tags, first, again) in [
            (json!(["o1", "o1", "o1", "o1"]), 0, 1),
            (json!(["a", "b", "c", "b", "a"]), 1, 3),
            (json!(["z", "y", "x", "w", "z", "y"]), 0, 4),
        ] {
            let e = with(tags.clone(), &["to"]).unwrap_err();
            assert_eq!(
                (e.kind, e.path.as_str()),
                (
                    BindErrorKind::DuplicateElement,
                    &*format!("to.tags[{again}]")
                ),
                "{tags}"
            );
            assert!(
                e.message
                    .contains(&format!("is the same Text as element [{first}] of the set"))
                    && e.message.contains("give each element once"),
                "{}",
                e.message
            );
            assert!(!e.redacted.contains('"'), "{}", e.redacted);
        }
        assert!(with(json!(["a", "b", "c"]), &["to"]).is_ok());
        assert!(with(json!([]), &["to"]).is_ok());
        // Equal once bound: `1.0` and `1.00` are one Decimal.
        assert_eq!(
            first_repeat(&[
                Value::Decimal(Decimal::from_str("1.0").unwrap()),
                Value::Decimal(Decimal::from_str("1.00").unwrap())
            ]),
            Some((0, 1))
        );
        assert_eq!(
            BindErrorKind::DuplicateElement.as_str(),
            "duplicate-element"
        );
    }

    /// A number's message fits the field's type where it is known, says both types where it
    /// is not (read before binding), and quotes the number as written.
    #[test]
    fn number_messages_fit_the_type_and_quote_as_written() {
        let text =
            |n: &str, d: &str| format!(r#"{{"amount": "1 EUR", "wait": 1, "n": {n}, "d": {d}}}"#);
        // Read rounded: the fix for the field's type where it is known (`bind_json`), for
        // both where it is not (`parse_input`, which reads before any type is known).
        const INT_FIX: &str = "write an integer from -9223372036854775808 to \
                               9223372036854775807, with no fraction or exponent";
        for n in ["9223372036854775807.0", "123456789012345678901"] {
            let e = bind_json(&program(), 1, &text(n, "1")).unwrap_err();
            assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, "n"));
            assert!(
                e.message
                    .starts_with(&format!("the number {n} cannot be read as written"))
                    && e.message.ends_with(&format!("; for an Int, {INT_FIX}")),
                "{}",
                e.message
            );
            assert!(!e.redacted.contains(n), "{}", e.redacted);
            // A Decimal: give it as a string.
            let e = bind_json(&program(), 1, &text("1", n)).unwrap_err();
            assert!(
                e.message.ends_with(&format!(
                    "; for a Decimal, give it as a string (\"{n}\"), which is read exactly"
                )),
                "{}",
                e.message
            );
            // A Duration's milliseconds are an integer too.
            let t = format!(r#"{{"amount": "1 EUR", "wait": {n}, "n": 1, "d": 1}}"#);
            let e = bind_json(&program(), 1, &t).unwrap_err();
            assert_eq!(e.path, "wait");
            assert!(
                e.message
                    .ends_with(&format!("; for a Duration's milliseconds, {INT_FIX}")),
                "{}",
                e.message
            );
            let e = parse_input(&text(n, "1")).unwrap_err();
            assert!(
                e.message.contains(&format!("for an Int, {INT_FIX}"))
                    && e.message
                        .contains(&format!("for a Decimal, give it as a string (\"{n}\")")),
                "{}",
                e.message
            );
        }
        // Read as written, refused by the Int: quoted as written.
        for (n, message) in [
            (
                "100000000000000000000",
                "100000000000000000000 is out of the Int range",
            ),
            ("1e20", "1e20 is out of the Int range"),
            ("1e18", "expected an integer, found 1e18"),
            ("1E+18", "expected an integer, found 1E+18"),
        ] {
            let e = bind_json(&program(), 1, &text(n, "1")).unwrap_err();
            assert!(e.message.starts_with(message), "{n}: {}", e.message);
        }
        // Without the text (a parsed value), an integer by its digits, not `1e+20`.
        let v: Json = serde_json::from_str(&text("100000000000000000000", "1")).unwrap();
        let e = bind_value(&program(), 1, &v).unwrap_err();
        assert!(
            e.message
                .starts_with("100000000000000000000 is out of the Int range"),
            "{}",
            e.message
        );
        // The same number, for a Decimal, is taken.
        assert!(bind_json(&program(), 1, &text("1", "100000000000000000000")).is_ok());
        // A duration beyond the range says so, and the range.
        let e = scalars(json!("1 EUR"), json!("15250284453w"), json!(1), json!(1)).unwrap_err();
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::OutOfRange, "wait")
        );
        assert_eq!(
            e.message,
            format!(
                "the duration \"15250284453w\" is out of range: a Duration holds {DURATION_RANGE}; give a shorter one"
            )
        );
        assert!(!e.redacted.contains("15250284453w"), "{}", e.redacted);
        // The range is the one parse_duration holds.
        assert_eq!(
            parse_duration("15250284452w"),
            Ok(15_250_284_452 * 604_800_000)
        );
        assert_eq!(parse_duration("9223372036854775807ms"), Ok(i64::MAX));
        assert_eq!(parse_duration("-9223372036854775807ms"), Ok(-i64::MAX));
        assert_eq!(
            parse_duration("9223372036854775808ms"),
            Err(BindErrorKind::OutOfRange)
        );
        let e = scalars(json!("1 EUR"), json!("15x"), json!(1), json!(1)).unwrap_err();
        assert!(
            e.message.starts_with("expected a duration like"),
            "{}",
            e.message
        );
    }

    #[test]
    fn one_leading_byte_order_mark_is_skipped_not_two() {
        let text = serde_json::to_string(&input(customer())).unwrap();
        let bom = "\u{feff}";
        assert!(bind_json_bytes(&program(), 0, format!("{bom}{text}").as_bytes()).is_ok());
        let e = bind_json_bytes(&program(), 0, format!("{bom}{bom}{text}").as_bytes()).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::Malformed, "{e}");
        assert!(e.message.contains("a second byte-order mark"), "{e}");
        // The bytes' text is refused before any path could skip the second mark on the text.
        let e = json_text(format!("{bom}{bom}{text}").as_bytes()).unwrap_err();
        assert!(e.message.contains("a second byte-order mark"), "{e}");
        assert_eq!(json_text(format!("{bom}{text}").as_bytes()).unwrap(), text);
    }

    #[test]
    fn a_negative_zero_for_an_int_says_to_write_0() {
        // serde_json reads `-0` as the float -0.0: the message must not say `-0.0`.
        let text = serde_json::to_string(&input(customer()))
            .unwrap()
            .replace("\"messages_7d\":2", "\"messages_7d\":-0");
        assert!(text.contains("\"messages_7d\":-0"), "{text}");
        let e = bind_json(&program(), 0, &text).unwrap_err();
        assert_eq!(
            (e.kind, e.path.as_str(), e.message.as_str()),
            (
                BindErrorKind::WrongType,
                "to.messages_7d",
                "expected an integer, found a negative zero; write 0"
            )
        );
    }

    /// A zero written as a float is no negative zero: it is named as the `1.0` of an Int is.
    #[test]
    fn a_float_zero_for_an_int_is_named_as_read() {
        let bind = |n: &str| {
            let text = format!(r#"{{"amount": "1 EUR", "wait": 1, "d": 1, "n": {n}}}"#);
            bind_json(&program(), 1, &text).unwrap_err()
        };
        for n in ["0.0", "0e0", "0E5", "0.00", "0e-5"] {
            let e = bind(n);
            assert_eq!(
                (e.kind, e.path.as_str(), e.message.as_str()),
                (
                    BindErrorKind::WrongType,
                    "n",
                    &*format!("expected an integer, found {n}")
                ),
                "{n}"
            );
            // A parsed value has no text: serde_json's.
            let v: Json = serde_json::from_str(&format!(
                r#"{{"amount": "1 EUR", "wait": 1, "d": 1, "n": {n}}}"#
            ))
            .unwrap();
            let e = bind_value(&program(), 1, &v).unwrap_err();
            assert_eq!(e.message, "expected an integer, found 0.0");
        }
        for n in ["-0", "-0.0", "-0e0"] {
            let e = bind(n);
            assert_eq!(
                e.message, "expected an integer, found a negative zero; write 0",
                "{n}"
            );
        }
        assert_eq!(bind("1.0").message, "expected an integer, found 1.0");
    }

    /// A number a Decimal does not hold and JSON reads as another number (`1e-400` as 0,
    /// `3e-324` as `5e-324`) is refused at its path, quoting what was written; one JSON reads
    /// as written is refused by the type, quoting the same number.
    #[test]
    fn numbers_beyond_a_decimal_are_judged_by_their_text() {
        let text = |d: &str, amount: &str| {
            format!(
                r#"{{"amount": {{"amount": {amount}, "currency": "EUR"}}, "wait": 1, "n": 1, "d": {d}}}"#
            )
        };
        let bind = |d: &str, amount: &str| bind_json(&program(), 1, &text(d, amount));
        for tiny in [
            "1e-400",
            "1e-324",
            "-1e-400",
            "1e-1000",
            "3e-324",
            "2.5e-324",
            "1e-99999999999999999999999",
            "0.1000000000000000000000000000000000000001e-300",
        ] {
            for (d, amount, path) in [(tiny, "1", "d"), ("1", tiny, "amount.amount")] {
                let e = bind(d, amount).unwrap_err();
                assert_eq!(
                    (e.kind, e.path.as_str()),
                    (BindErrorKind::OutOfRange, path),
                    "{tiny}"
                );
                assert!(
                    e.message.starts_with(&format!(
                        "the number {tiny} is more than a Decimal holds ({DECIMAL_LIMITS}), and \
                         JSON reads it rounded, as "
                    )),
                    "{tiny}: {}",
                    e.message
                );
                assert!(!e.redacted.contains(tiny), "{}", e.redacted);
                // Wherever a decision's input is read (`xop serve`, the MCP gateway) too.
                assert_eq!(parse_input(&text(d, amount)).unwrap_err(), e);
                assert_eq!(
                    inexact_numbers(&text(d, amount), Readers::Xop).unwrap(),
                    [e]
                );
            }
        }
        // `3e-324` is read as the smallest f64, which the message says it is read as.
        let e = bind("3e-324", "1").unwrap_err();
        assert!(e.message.contains("as 5e-324;"), "{}", e.message);
        // Read as written: the type's check words it, with the number written.
        for d in ["1e-323", "1e-29", "1e30"] {
            let e = bind(d, "1").unwrap_err();
            assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, "d"));
            // The number quoted is the text written.
            let (quoted, rest) = e.message.split_once(' ').unwrap();
            assert!(same_number(quoted, d), "{d}: {}", e.message);
            assert_eq!(
                rest,
                format!("is more than a Decimal holds ({DECIMAL_LIMITS})")
            );
        }
        // Same numbers written otherwise are kept: the value is exact.
        assert_eq!(
            bind("1.0000000000000000000000000000000", "0e0")
                .unwrap()
                .args[3],
            Value::Decimal(Decimal::ONE)
        );
        assert!(same_number("1e3", "1000.0"));
        assert!(same_number("-0", "0.0"));
        assert!(same_number("0.00e7", "0"));
        assert!(same_number("12.5e-1", "1.25"));
        assert!(!same_number("1e-400", "0.0"));
        assert!(!same_number("-1", "1"));
        assert!(!same_number("1e99999999999999999999", "1e308"));
    }

    #[test]
    fn the_redacted_message_names_a_found_value_by_its_type_only() {
        // (field of the customer, value, the redacted message)
        let cases = [
            (
                "messages_7d",
                json!("7secret"),
                "expected an integer, found a string",
            ),
            (
                "messages_7d",
                json!(7.5),
                "expected an integer, found a number with a fraction or an exponent",
            ),
            (
                "messages_7d",
                json!(1e30),
                "the number is out of the Int range (-9223372036854775808 to 9223372036854775807)",
            ),
            (
                "segment",
                json!("secret-gold"),
                "unknown Segment variant; expected one of: vip, standard",
            ),
            (
                "id",
                json!(735_112),
                "expected an id (a string), found a number",
            ),
            (
                "in_service_interaction",
                json!("secret"),
                "expected true or false, found a string",
            ),
            (
                "tz",
                json!("Secret/Zone"),
                "expected an IANA time zone name like \"Europe/Paris\", found a string",
            ),
            (
                "risk_score",
                json!("12.5secret"),
                "expected a decimal number like \"12.50\", found a string",
            ),
            (
                "risk_score",
                json!("79228162514264337593543950336999"),
                "the number is more than a Decimal holds (at most 28 digits after the point and \
                 28 to 29 significant digits)",
            ),
            (
                "balance",
                json!("12.50 secret"),
                "expected a currency code of 3 upper-case letters like \"EUR\", found a string",
            ),
            (
                "balance",
                json!({"amount": "1", "currency": 735_112}),
                "expected a currency code like \"EUR\", found a number",
            ),
            (
                "msisdn",
                json!(33_612_345_678_i64),
                "expected a string, found a number",
            ),
            (
                "consents",
                json!({"secret": 1}),
                "expected an array of Consent, found an object",
            ),
        ];
        for (field, value, redacted) in cases {
            let mut c = customer();
            c[field] = value.clone();
            let e = err(0, input(c));
            assert_eq!(e.redacted, redacted, "{field}: {e}");
            let shown = match &value {
                Json::String(s) => s.clone(),
                Json::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                other => other.to_string(),
            };
            // The message quotes it (a money text's wrong part, a number as JSON writes it;
            // not an object, which it describes), the redacted one never.
            let quoted = shown.trim_start_matches("12.50 ");
            if !value.is_object() {
                assert!(
                    e.message.contains(quoted) || e.message.contains(&value.to_string()),
                    "{field}: {e}"
                );
            }
            assert!(!e.redacted.contains(quoted), "{field}: {}", e.redacted);
        }
        // The time's hint says what is wrong with the form, never quoting it.
        let mut i = input(customer());
        i["now"] = json!("secret-yesterday");
        let e = err(0, i);
        assert!(
            e.message
                .contains("found \"secret-yesterday\" (expected the form"),
            "{e}"
        );
        assert!(
            e.redacted.starts_with(
                "expected an RFC 3339 time like \"2025-03-01T09:30:00Z\", found a string (expected the form"
            ),
            "{}",
            e.redacted
        );
        // Messages that quote no value (declared keys are in the path) are their own
        // redaction; an undeclared key is named by its length there.
        let mut c = customer();
        c["segmnt"] = json!("vip");
        let e = err(0, input(c));
        assert_eq!(
            e.redacted,
            e.message.replace("\"segmnt\"", "<key of 6 characters>")
        );
        let mut c = customer();
        c["segment"] = json!(null);
        let e = err(0, input(c));
        assert_eq!(e.redacted, e.message);
        let e = bind_json(&program(), 0, "{\"to\": ").unwrap_err();
        assert_eq!(e.redacted, e.message);
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped_and_bytes_must_be_utf8() {
        let text = input(customer()).to_string();
        let want = bind_json(&program(), 0, &text).unwrap();
        assert_eq!(
            bind_json(&program(), 0, &format!("\u{feff}{text}")).unwrap(),
            want
        );
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        assert_eq!(bind_json_bytes(&program(), 0, &bytes).unwrap(), want);
        assert_eq!(json_text(&bytes).unwrap(), text);
        // Only one, and only before the text.
        let e = parse_json(&format!("\u{feff}\u{feff}{text}")).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::Malformed);
        let e = parse_json(&format!(" \u{feff}{text}")).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::Malformed);
        // Not UTF-8: where the first invalid byte is, columns in characters.
        let e = json_text(b"{\n  \"id\": \"caf\xC3\xA9\xFF\"}").unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::Malformed, ""));
        assert_eq!(
            e.message,
            "invalid JSON: not valid UTF-8 (byte 0xff at line 2, column 14); JSON text must be UTF-8"
        );
        assert_eq!(e.redacted, e.message);
        let e = bind_json_bytes(&program(), 0, b"\xC3(").unwrap_err();
        assert!(e.message.contains("byte 0xc3 at line 1, column 1"), "{e}");
        let e = parse_json_bytes(b"\xEF\xBB\xBF\xFF").unwrap_err();
        assert!(e.message.contains("byte 0xff at line 1, column 1"), "{e}");
    }

    #[test]
    fn unknown_field_has_its_path() {
        let mut c = customer();
        c["consents"][1]["chanel"] = json!("sms");
        let e = err(0, input(c));
        assert_eq!(e.kind, BindErrorKind::UnknownField);
        // The key is the input's, not the program's: named by its length.
        assert_eq!(e.path, "to.consents[1][<key of 6 characters>]");
        assert!(
            e.message
                .contains("purpose, channel, given_at, withdrawn_at"),
            "{e}"
        );
        assert!(
            e.message.starts_with("unknown field \"chanel\" of Consent"),
            "{e}"
        );

        let mut c = customer();
        c["odd key"] = json!(1);
        let e = err(0, input(c));
        assert_eq!(e.path, "to[<key of 7 characters>]");

        let mut i = input(customer());
        i["extra"] = json!(1);
        let e = err(0, i);
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::UnknownField, "[<key of 5 characters>]")
        );

        let mut i = input(customer());
        i["signals"] = json!({ "credit_score": 3 });
        let e = err(0, i);
        assert_eq!(
            (e.kind, e.path.as_str()),
            (
                BindErrorKind::UnknownField,
                "signals[<key of 12 characters>]"
            )
        );
        assert!(e.message.contains("sim_swap"), "{e}");
    }

    /// A key the program does not declare is the input's own text, which may be personal and
    /// of any length: the path and the redacted message (what a proof record keeps) give its
    /// length only; the message, for whoever gave the input, quotes it escaped and bounded.
    #[test]
    fn an_undeclared_key_is_never_quoted_in_what_a_record_keeps() {
        let pii = "jane.doe@example.com +33 6 12 34 56 78";
        let long = "k".repeat(200_000);
        let mut cases: Vec<(Json, String)> = Vec::new();
        for key in [pii, long.as_str()] {
            let n = key.chars().count();
            let mut c = customer();
            c[key] = json!(1);
            cases.push((input(c), format!("to[<key of {n} characters>]")));
            let mut c = customer();
            c["consents"][0][key] = json!(1);
            cases.push((input(c), format!("to.consents[0][<key of {n} characters>]")));
            let mut i = input(customer());
            i[key] = json!(1);
            cases.push((i, format!("[<key of {n} characters>]")));
            let mut i = input(customer());
            i["signals"] = json!({ key: 1 });
            cases.push((i, format!("signals[<key of {n} characters>]")));
        }
        for (i, path) in cases {
            let text = i.to_string();
            for e in [
                err(0, i.clone()),
                bind_json(&program(), 0, &text).unwrap_err(),
            ] {
                assert_eq!(
                    (e.kind, e.path.as_str()),
                    (BindErrorKind::UnknownField, &*path)
                );
                assert!(
                    !e.redacted.contains("jane") && !e.redacted.contains("kkk"),
                    "{e:?}"
                );
                assert!(e.redacted.contains("<key of "), "{}", e.redacted);
                // Bounded: a 200,000-character key is quoted by its first 60 characters.
                assert!(e.message.len() < 400, "{}", e.message.len());
                assert!(
                    e.message
                        .contains("\"jane.doe@example.com +33 6 12 34 56 78\"")
                        || e.message
                            .contains(&format!("\"{}\"… (200000 characters)", &long[..60])),
                    "{}",
                    e.message
                );
            }
        }
        // In money given as an object.
        let i = json!({"amount": {"amount": "1", "currency": "EUR", "jane": 1}, "wait": 1, "n": 1, "d": 1});
        let e = err(1, i);
        assert_eq!(e.path, "amount[<key of 4 characters>]");
        assert!(
            !e.redacted.contains("jane") && e.message.contains("\"jane\""),
            "{e:?}"
        );
        // A declared key stays as it is, in both.
        let mut c = customer();
        c["segment"] = json!(5);
        assert_eq!(err(0, input(c)).path, "to.segment");
        // Found while reading, before binding (a key given twice, a number read rounded): the
        // keys the program does not declare are named by their length too, the others kept.
        let good = input(customer()).to_string();
        for (from, to, path) in [
            (
                r#""id":"#,
                r#""jane": 1, "jane": 2, "id":"#,
                "to[<key of 4 characters>]",
            ),
            (
                r#""id":"#,
                r#""jane": {"a": 0.10000000000000000000000000001}, "id":"#,
                "to[<key of 4 characters>][<key of 1 character>]",
            ),
            (r#""id":"#, r#""id": 1, "id":"#, "to.id"),
            (
                r#""risk_score":"12.50""#,
                r#""risk_score":0.10000000000000000000000000001"#,
                "to.risk_score",
            ),
            (
                r#""channel":"email""#,
                r#""channel":"email","x":1e999"#,
                "to.consents[1][<key of 1 character>]",
            ),
        ] {
            assert!(good.contains(from), "{from}");
            let text = good.replacen(from, to, 1);
            let e = bind_json(&program(), 0, &text).unwrap_err();
            assert_eq!(e.path, path, "{text}");
            assert!(!e.redacted.contains("jane"), "{}", e.redacted);
            // Without the program, every key is written.
            let plain = parse_input(&text).unwrap_err();
            assert_eq!(plain.kind, e.kind);
            assert_eq!(plain.path == e.path, !path.contains('<'), "{}", plain.path);
        }
    }

    #[test]
    fn unknown_enum_value_lists_the_known_ones() {
        let mut c = customer();
        c["segment"] = json!("gold");
        let e = err(0, input(c));
        assert_eq!(e.kind, BindErrorKind::UnknownEnumValue);
        assert_eq!(e.path, "to.segment");
        assert!(e.message.contains("vip, standard"), "{e}");

        let mut i = input(customer());
        i["channel"] = json!("fax");
        let e = err(0, i);
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::UnknownEnumValue, "channel")
        );
        assert!(
            e.message.contains("sms, email") && !e.message.contains("marketing"),
            "{e}"
        );

        // A symbol of another kind is unknown.
        let mut c = customer();
        c["consents"][0]["channel"] = json!("marketing");
        let e = err(0, input(c));
        assert_eq!(e.path, "to.consents[0].channel");
        assert_eq!(e.kind, BindErrorKind::UnknownEnumValue);
    }

    /// The known values are listed as an input can write them: a project's purpose named like
    /// the standard library's takes the short name, the other is listed qualified, and none
    /// twice.
    #[test]
    fn known_symbols_are_listed_as_inputs_write_them() {
        let mut p = program();
        p.symbols.push(Symbol {
            kind: SymbolKind::Purpose,
            name: "marketing".into(),
            qualified: "acme.contact.marketing".into(),
        });
        let mut c = customer();
        c["consents"][0]["purpose"] = json!("billing");
        let e = bind_value(&p, 0, &input(c)).expect_err("binding should fail");
        assert_eq!(e.kind, BindErrorKind::UnknownEnumValue);
        assert!(
            e.message
                .contains("known: std.purpose.marketing, service, marketing"),
            "{e}"
        );
    }

    /// A JSON number is read as the nearest `f64` (serde_json's `float_roundtrip`), whose
    /// shortest text is what was written: `1e-28` is the Decimal 1e-28, where a best-effort
    /// reading gave 1.0000000000000001e-28 and refused a Decimal a Decimal holds.
    #[test]
    fn json_numbers_are_read_as_written() {
        for (text, want) in [
            ("1e-28", Decimal::new(1, 28)),
            ("0.0000000000000000000000000011", Decimal::new(11, 28)),
            (
                "12345.678901234567",
                Decimal::new(12_345_678_901_234_567, 12),
            ),
        ] {
            let json = parse_input(&format!("{{\"x\": {text}}}")).expect("JSON");
            let read = parse_decimal(&json["x"].to_string());
            assert_eq!(read, Ok(want), "{text}");
        }
    }

    #[test]
    fn out_of_range_has_its_path() {
        let e = scalars(
            json!("1 EUR"),
            json!(1),
            json!(9_223_372_036_854_775_808u64),
            json!(1),
        )
        .unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, "n"));
        let e = bind_json(
            &program(),
            1,
            r#"{"amount": "1 EUR", "wait": 1, "d": 1, "n": -9223372036854775809}"#,
        )
        .unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, "n"));
        let e = scalars(json!("1 EUR"), json!("999999999999w"), json!(1), json!(1)).unwrap_err();
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::OutOfRange, "wait")
        );
        let e = scalars(json!("1 EUR"), json!(1), json!(1), json!("1e40")).unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, "d"));
        let e = scalars(
            json!({"amount": "100000000000000000000000000000", "currency": "EUR"}),
            json!(1),
            json!(1),
            json!(1),
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::OutOfRange, "amount.amount")
        );
        // Extremes that fit.
        let b = scalars(json!("1 EUR"), json!(1), json!(i64::MIN), json!(1)).unwrap();
        assert_eq!(b.args[2], Value::Int(i64::MIN));
    }

    #[test]
    fn money_forms() {
        let eur = |s: &str| Value::Money(Decimal::from_str(s).unwrap(), Arc::from("EUR"));
        for amount in [
            json!("12.50 EUR"),
            json!({"amount": "12.50", "currency": "EUR"}),
            json!({"amount": 12.50, "currency": "EUR"}),
        ] {
            let b = scalars(amount.clone(), json!(0), json!(0), json!(0)).unwrap();
            assert_eq!(b.args[0], eur("12.50"), "{amount}");
        }
        // The scale is kept from the text.
        let b = scalars(json!("12.50 EUR"), json!(0), json!(0), json!(0)).unwrap();
        let Value::Money(d, _) = &b.args[0] else {
            panic!()
        };
        assert_eq!(d.to_string(), "12.50");
        let b = scalars(json!("-0.001 JPY"), json!(0), json!(0), json!(0)).unwrap();
        assert_eq!(
            b.args[0],
            Value::Money(Decimal::new(-1, 3), Arc::from("JPY"))
        );

        let bad = |amount: Json| scalars(amount, json!(0), json!(0), json!(0)).unwrap_err();
        let e = bad(json!("12.50 eur"));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Malformed, "amount")
        );
        let e = bad(json!("12.50"));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Malformed, "amount")
        );
        let e = bad(json!("EUR 12.50"));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Malformed, "amount")
        );
        // Exactly one space between amount and code, no other blank: a tool reading the text
        // itself must not be able to read it otherwise than the policy did.
        for text in [
            "12.50  EUR",
            " 12.50 EUR",
            "12.50 EUR ",
            "12.50\tEUR",
            "12.50 EUR\n",
            "12.50\u{a0}EUR",
            " 12.50\u{a0}EUR ",
            "12.50 \u{2003}EUR",
            "  12.50   EUR ",
            "12.50\nEUR",
        ] {
            let e = bad(json!(text));
            assert_eq!(
                (e.kind, e.path.as_str()),
                (BindErrorKind::Malformed, "amount"),
                "{text:?}"
            );
            assert!(e.message.contains("one space"), "{}", e.message);
            // The blank that made it wrong is shown, never printed as it is.
            assert!(
                !e.message.contains(['\u{a0}', '\u{2003}', '\t', '\n']),
                "{:?}",
                e.message
            );
        }
        let e = bad(json!("1\u{a0}EUR"));
        assert!(
            e.message.ends_with(r#"found "1\u00a0EUR""#),
            "{}",
            e.message
        );
        let e = bad(json!("1\u{200b} EUR"));
        assert!(
            e.message.contains(r#"found "1\u200b EUR""#),
            "{}",
            e.message
        );
        assert_eq!(money_parts("12.50 EUR"), Some(("12.50", "EUR")));
        assert_eq!(money_parts("12.50EUR"), None);
        // An amount beyond a Decimal says so (the redacted message without the value).
        let e = bad(json!("99999999999999999999999999999999999999 EUR"));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::OutOfRange, "amount")
        );
        assert!(
            e.message
                .ends_with(&format!("more than a Decimal holds ({DECIMAL_LIMITS})")),
            "{}",
            e.message
        );
        assert!(!e.redacted.contains("999"), "{}", e.redacted);
        let e = bad(json!("12,50 EUR"));
        assert!(
            e.message.ends_with("whose amount is no decimal number"),
            "{}",
            e.message
        );
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Malformed, "amount")
        );
        let e = bad(json!({"amount": "12.50", "currency": "EURO"}));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Malformed, "amount.currency")
        );
        let e = bad(json!({"amount": "12.50"}));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Missing, "amount.currency")
        );
        let e = bad(json!({"amount": "12.50", "currency": "EUR", "rate": 1}));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::UnknownField, "amount[<key of 4 characters>]")
        );
        let e = bad(json!({"amount": true, "currency": "EUR"}));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::WrongType, "amount.amount")
        );
        let e = bad(json!(12.5));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::WrongType, "amount")
        );
    }

    #[test]
    fn durations() {
        let wait =
            |w: Json| scalars(json!("1 EUR"), w, json!(0), json!(0)).map(|b| b.args[1].clone());
        for (text, expected) in [
            (json!("15m"), 900_000),
            (json!("1h30m"), 5_400_000),
            (json!("250ms"), 250),
            (json!("1m30s"), 90_000),
            (json!("2d"), 172_800_000),
            (json!("1w1d1h1m1s1ms"), 694_861_001),
            (json!("-5s"), -5_000),
            (json!("0s"), 0),
            (json!(1500), 1500),
        ] {
            assert_eq!(
                wait(text.clone()).unwrap(),
                Value::Duration(expected),
                "{text}"
            );
        }
        for bad in [
            "", "15", "m", "1x", "1h1h", "30m1h", "1.5h", "1 h", "h1", "-", "1ms1s",
        ] {
            let e = wait(json!(bad)).unwrap_err();
            assert_eq!(
                (e.kind, e.path.as_str()),
                (BindErrorKind::Malformed, "wait"),
                "{bad}"
            );
        }
        let e = wait(json!(1.5)).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::WrongType);
        let e = wait(json!(true)).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::WrongType);
    }

    #[test]
    fn decimals_are_exact() {
        let d = |v: Json| scalars(json!("1 EUR"), json!(0), json!(0), v).map(|b| b.args[3].clone());
        let dec = |s: &str| Value::Decimal(Decimal::from_str(s).unwrap());
        assert_eq!(d(json!(0.1)).unwrap(), dec("0.1"));
        assert_eq!(d(json!("0.1")).unwrap(), dec("0.1"));
        assert_eq!(d(json!(42)).unwrap(), dec("42"));
        assert_eq!(d(json!(1.5e-7)).unwrap(), dec("0.00000015"));
        assert_eq!(
            d(json!("12345678901234567890.12345678")).unwrap(),
            dec("12345678901234567890.12345678")
        );
        let e = d(json!("1,5")).unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::Malformed, "d"));
        let e = d(json!([1])).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::WrongType);
    }

    /// A decision's input written as text: a number JSON would read rounded is refused at its
    /// path, with its text in the message and not in the redacted one; a number an `f64` keeps
    /// is read as before; strings that look like numbers do not shift which number is which.
    #[test]
    fn numbers_read_rounded_are_refused() {
        let text = |d: &str, n: &str| {
            format!(r#"{{"amount": "1 EUR", "wait": "1h", "n": {n}, "d": {d}}}"#)
        };
        let bind = |d: &str, n: &str| bind_json(&program(), 1, &text(d, n));
        let dec = |s: &str| Value::Decimal(Decimal::from_str(s).unwrap());
        for (d, want) in [
            ("0.1", "0.1"),
            ("12.5", "12.5"),
            ("1e3", "1000"),
            ("-0", "0"),
        ] {
            let b = bind(d, "3").unwrap_or_else(|e| panic!("{d}: {e}"));
            assert_eq!(b.args[3], dec(want), "{d}");
        }
        let long = "0.1000000000000000000000000001";
        let e = bind(long, "3").unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, "d"));
        assert!(
            e.message.contains(&format!("(\"{long}\")")),
            "{}",
            e.message
        );
        assert!(!e.redacted.contains("0.1"), "{}", e.redacted);
        // The same digits as a string are read exactly.
        let b = bind(&format!("\"{long}\""), "3").unwrap();
        assert_eq!(b.args[3], dec(long));
        // An integer beyond 64 bits, in an Int: refused at its path, not rounded.
        let e = bind("1", "-9223372036854775809").unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (BindErrorKind::OutOfRange, "n"));
        assert!(e.message.contains("-9223372036854775809"), "{}", e.message);
        // The generic parse (a connector's answer, a request body) reads it rounded.
        assert!(parse_json(&text(long, "3")).is_ok());
        // Numbers are found in document order; strings and keys, escapes included, skipped.
        assert_eq!(
            number_texts(r#"{"a\"1": [1, -2.5e+3, "x\\", "\"3.0\"", 4], "5": 0.1}"#),
            ["1", "-2.5e+3", "4", "0.1"]
        );
    }

    #[test]
    fn optionals_symbols_time_zones_and_signals() {
        // An optional parameter: missing, null, or given.
        let mut i = input(customer());
        assert_eq!(
            bind_value(&program(), 0, &i).unwrap().args[3],
            Value::Absent
        );
        i["note"] = Json::Null;
        assert_eq!(
            bind_value(&program(), 0, &i).unwrap().args[3],
            Value::Absent
        );
        i["note"] = json!("hi");
        assert_eq!(
            bind_value(&program(), 0, &i).unwrap().args[3],
            Value::text("hi")
        );
        // An optional field given.
        let mut c = customer();
        c["balance"] = json!("3 USD");
        let b = bind_value(&program(), 0, &input(c)).unwrap();
        let Value::Record(_, fields) = &b.args[0] else {
            panic!()
        };
        assert_eq!(
            fields[9],
            Value::Money(Decimal::new(3, 0), Arc::from("USD"))
        );
        // A qualified channel name.
        let mut i = input(customer());
        i["channel"] = json!("std.channel.email");
        assert_eq!(
            bind_value(&program(), 0, &i).unwrap().args[1],
            Value::Symbol(1)
        );
        // A time zone is validated.
        let mut c = customer();
        c["tz"] = json!("Mars/Olympus");
        let e = err(0, input(c));
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::Malformed, "to.tz")
        );
        // jiff's special unknown zone is no zone either: refused as one, the value left out of
        // the redacted message.
        for name in ["Etc/Unknown", "etc/unknown"] {
            let mut c = customer();
            c["tz"] = json!(name);
            let e = err(0, input(c));
            assert_eq!(
                (e.kind, e.path.as_str(), e.message),
                (
                    BindErrorKind::Malformed,
                    "to.tz",
                    format!(
                        "expected an IANA time zone name like \"Europe/Paris\", found \"{name}\""
                    )
                )
            );
            assert_eq!(
                e.redacted,
                "expected an IANA time zone name like \"Europe/Paris\", found a string"
            );
        }
        // A zone is kept by its IANA name, whatever case it was written in.
        let mut c = customer();
        c["tz"] = json!("europe/paris");
        let b = bind_value(&program(), 0, &input(c)).unwrap();
        let Value::Record(_, fields) = &b.args[0] else {
            panic!()
        };
        assert_eq!(fields[5], Value::Tz(Arc::from("Europe/Paris")));
        // Signals: qualified name, null for absent, values typed and paths reported.
        let mut i = input(customer());
        i["signals"] = json!({ "acme.contact.sim_swap": null });
        let b = bind_value(&program(), 0, &i).unwrap();
        assert_eq!(b.signals, vec![(0, Value::Absent)]);
        assert_eq!(b.now_ms, None);
        i["signals"] = json!({ "sim_swap": { "swapped_at": 5 } });
        let e = err(0, i.clone());
        assert_eq!(
            (e.kind, e.path.as_str()),
            (BindErrorKind::WrongType, "signals.sim_swap.swapped_at")
        );
        i["signals"] = json!({ "sim_swap": null, "acme.contact.sim_swap": null });
        let e = err(0, i);
        assert_eq!(e.kind, BindErrorKind::Malformed);
    }

    #[test]
    fn serde_structs_bind() {
        #[derive(serde::Serialize)]
        struct Consent<'a> {
            purpose: &'a str,
            channel: &'a str,
            given_at: &'a str,
        }
        #[derive(serde::Serialize)]
        struct Customer<'a> {
            id: &'a str,
            segment: &'a str,
            in_service_interaction: bool,
            messages_7d: i64,
            risk_score: f64,
            tz: &'a str,
            msisdn: &'a str,
            consents: Vec<Consent<'a>>,
            tags: Vec<&'a str>,
            balance: Option<&'a str>,
        }
        #[derive(serde::Serialize)]
        struct Input<'a> {
            to: Customer<'a>,
            channel: &'a str,
            offer: &'a str,
        }
        let input = Input {
            to: Customer {
                id: "c-1",
                segment: "standard",
                in_service_interaction: true,
                messages_7d: 0,
                risk_score: 0.25,
                tz: "UTC",
                msisdn: "+1",
                consents: vec![Consent {
                    purpose: "marketing",
                    channel: "sms",
                    given_at: "2025-01-01T00:00:00Z",
                }],
                tags: vec![],
                balance: None,
            },
            channel: "sms",
            offer: "x",
        };
        let b = bind_serde(&program(), 0, &input).unwrap();
        let Value::Record(1, fields) = &b.args[0] else {
            panic!()
        };
        assert_eq!(fields[4], Value::Decimal(Decimal::new(25, 2)));
        assert_eq!(fields[9], Value::Absent);
    }
    #[test]
    fn inexact_numbers_are_all_found_with_their_paths() {
        let text = r#"{"a": 0.1, "meta": {"n": 0.1000000000000000000000000001}, "args": {"x": 99.99999999999999999999, "y": [1e3, 12345678901234567890123], "z": "0.1000000000000000000000000001"}}"#;
        let errors = inexact_numbers(text, Readers::Xop).unwrap();
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["meta.n", "args.x", "args.y[1]"]);
        assert!(errors.iter().all(|e| e.kind == BindErrorKind::OutOfRange));
        assert!(errors[1].message.contains("99.99999999999999999999"));
        // The first is what a decision's input is refused with.
        assert_eq!(parse_input(text).unwrap_err(), errors[0]);
        assert!(
            inexact_numbers(r#"{"a": 1, "b": 0.5, "c": -0}"#, Readers::Every)
                .unwrap()
                .is_empty()
        );
        let e = inexact_numbers(r#"{"a": 1, "a": 2}"#, Readers::Xop).unwrap_err();
        assert_eq!(e.kind, BindErrorKind::DuplicateKey);
        assert!(inexact_numbers("{", Readers::Every).is_err());
    }

    #[test]
    fn integers_beyond_2_pow_53_are_inexact_for_every_reader_only() {
        let text = r#"{"a": 9007199254740991, "b": -9007199254740991, "c": [0.5, 9007199254740993], "d": 0.1000000000000000000000000001, "e": -9007199254740992, "f": 18446744073709551615}"#;
        // xop keeps 64 bits: only the float is refused, as `xop serve` and `xop eval` read it.
        let xop = inexact_numbers(text, Readers::Xop).unwrap();
        let paths: Vec<&str> = xop.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["d"]);
        assert_eq!(parse_input(text).unwrap_err(), xop[0]);
        // Every reader: the integers beyond ±(2^53 − 1) too, in document order with the float.
        let every = inexact_numbers(text, Readers::Every).unwrap();
        let paths: Vec<&str> = every.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["c[1]", "d", "e", "f"]);
        assert!(every.iter().all(|e| e.kind == BindErrorKind::OutOfRange));
        assert_eq!(every[1], xop[0]);
        let m = &every[0].message;
        assert!(
            m.starts_with(
                "the number 9007199254740993 is beyond what every JSON reader keeps exactly \
                 (±9007199254740991"
            ),
            "{m}"
        );
        // What a double-holding reader reads instead, and how to fix it.
        assert!(
            m.contains("this one as 9007199254740992, another number"),
            "{m}"
        );
        assert!(m.contains("give a number within ±9007199254740991"), "{m}");
        // -2^53 is a double, but so is what -2^53 − 1 is read as.
        let m = &every[2].message;
        assert!(
            m.contains("-9007199254740993 as this one, so the tool cannot tell"),
            "{m}"
        );
        let m = &every[3].message;
        assert!(m.contains("this one as 18446744073709551616,"), "{m}");
        assert!(!every[0].redacted.contains("9007199254740993"));
        // 2^53 + 2 is a double, and neither neighbour is read as it.
        let m = &inexact_numbers(r#"{"a": 9007199254740994}"#, Readers::Every).unwrap()[0].message;
        assert!(
            m.contains("this one it happens to keep, but not the integers next"),
            "{m}"
        );
        assert!(
            inexact_numbers(
                r#"{"a": 9007199254740991, "b": [-9007199254740991]}"#,
                Readers::Every
            )
            .unwrap()
            .is_empty()
        );
    }
}
