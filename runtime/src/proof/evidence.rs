//! Evidence: the input values a decision's rules read.
//!
//! The paths are the policy's read set ([`ReadSet`], computed once when a module is loaded; see
//! [`crate::reads`]): whatever a rule could have looked at is in the record, and nothing else of
//! the input is. A path read only by a signal's connector is logged marked `via` the signal, and
//! the signal's value is logged too.
//!
//! **Extraction** ([`extract`]) walks the input values along the read set and emits one item
//! per scalar (a record read whole is expanded field by field; a list gives its length and
//! its elements). An `@personal` field is never written in clear: its whole value is replaced
//! by `HMAC-SHA-256(subject key, JSON text of the value)` and the key's id. The subject is the
//! `id` field of the nearest enclosing record, or the caller's subject.

use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;

use super::record::{Evidence, SignalRead, first_symbol, value_json};
use crate::ir::{Policy, Program, Type};
use crate::module::hex;
use crate::reads::MAX_DEPTH;
pub use crate::reads::{ReadPath, ReadSet, Step};
use crate::value::Value;

/// A subject's hash key and its id, as [`extract`] needs them.
pub trait KeyProvider {
    /// The key of `subject` (created if it has none yet): its 16-byte id and 32-byte secret.
    fn key_for(&self, subject: &str) -> Result<([u8; 16], [u8; 32]), String>;
}

/// HMAC-SHA-256 of `data` under `key`, hex.
pub fn keyed_hash(key: &[u8; 32], data: &[u8]) -> String {
    // HMAC accepts a key of any length; a 32-byte key cannot be refused.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(data);
    hex(&mac.finalize().into_bytes())
}

/// The evidence of a decision: the values at the read set's paths in `args` (personal ones
/// hashed with their subject's key from `keys`; `subject` when no enclosing record has an `id`).
pub fn extract(
    program: &Program,
    policy: &Policy,
    set: &ReadSet,
    args: &[Value],
    subject: &str,
    keys: &dyn KeyProvider,
) -> Result<Vec<Evidence>, String> {
    let mut items = Items {
        program,
        out: Vec::with_capacity(32),
    };
    walk_set(program, policy, set, args, subject, keys, &mut items)?;
    let mut out = items.out;
    // In (path, kind) order, each once, the first emitted winning: a stable sort keeps
    // emission order among equal keys and `dedup_by` keeps the first of each run. (A vector
    // sorted once allocates far less per decision than a map keyed by cloned paths.)
    out.sort_by(|(ka, a), (kb, b)| a.path.cmp(&b.path).then(ka.cmp(kb)));
    out.dedup_by(|(kb, b), (ka, a)| *ka == *kb && a.path == b.path);
    Ok(out.into_iter().map(|(_, e)| e).collect())
}

/// The evidence of a decision as [`extract`] finds it, written straight to `out` as the JSON
/// array that encoding [`extract`]'s result gives, byte for byte (`serde_json::to_vec(&items)`),
/// without building the items: the hot path of a logged decision, where the items would only
/// be encoded and dropped.
pub fn extract_json(
    program: &Program,
    policy: &Policy,
    set: &ReadSet,
    args: &[Value],
    subject: &str,
    keys: &dyn KeyProvider,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mut j = JsonItems {
        program,
        buf: Vec::with_capacity(1024),
        items: Vec::with_capacity(32),
    };
    walk_set(program, policy, set, args, subject, keys, &mut j)?;
    let JsonItems { buf, mut items, .. } = j;
    let path = |i: &JsonItem| &buf[i.start as usize..i.path_end as usize];
    // The same order and deduplication as `extract` (paths compared as the same bytes).
    items.sort_by(|a, b| path(a).cmp(path(b)).then(a.kind.cmp(&b.kind)));
    items.dedup_by(|a, b| a.kind == b.kind && path(a) == path(b));
    out.push(b'[');
    for (n, i) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"path\":");
        json_utf8(out, path(i));
        out.extend_from_slice(&buf[i.path_end as usize..i.end as usize]);
        out.push(b'}');
    }
    out.push(b']');
    Ok(())
}

fn walk_set(
    program: &Program,
    policy: &Policy,
    set: &ReadSet,
    args: &[Value],
    subject: &str,
    keys: &dyn KeyProvider,
    out: &mut dyn Emit,
) -> Result<(), String> {
    let mut x = Extract { program, keys, out };
    // One path buffer for the whole walk, extended and cut back at each step: a decision
    // reads tens of paths, and formatting each anew was a good part of extracting them.
    let mut path = String::with_capacity(128);
    let paths = set
        .rules
        .iter()
        .map(|p| (p, None))
        .chain(set.via.iter().map(|(p, s)| (p, Some(s.as_str()))));
    for (p, via) in paths {
        let (Some(param), Some(value)) = (
            policy.params.get(p.param as usize),
            args.get(p.param as usize),
        ) else {
            continue;
        };
        path.clear();
        path.push_str(&param.name);
        x.walk(value, &p.steps, &mut path, subject, false, via)?;
    }
    Ok(())
}

/// One evidence item as the walk finds it.
enum Item<'v> {
    /// A value read (never a record or a list: those are expanded).
    Value(&'v Value),
    /// A list's length.
    Len(u64),
    /// A personal value's keyed hash and the key's id, hex.
    Hashed(String, String),
}

/// Where the walk puts items: kind 0 for a value (or hash), 1 for a length.
trait Emit {
    fn emit(&mut self, kind: u8, path: &str, item: Item<'_>, via: Option<&str>);
}

/// Items as [`Evidence`] values.
struct Items<'a> {
    program: &'a Program,
    out: Vec<(u8, Evidence)>,
}

impl Emit for Items<'_> {
    fn emit(&mut self, kind: u8, path: &str, item: Item<'_>, via: Option<&str>) {
        let mut e = Evidence {
            path: path.to_string(),
            value: None,
            len: None,
            hmac: None,
            key: None,
            via: via.map(str::to_string),
        };
        match item {
            Item::Value(v) => e.value = Some(value_json(self.program, v)),
            Item::Len(n) => e.len = Some(n),
            Item::Hashed(h, k) => {
                e.hmac = Some(h);
                e.key = Some(k);
            }
        }
        self.out.push((kind, e));
    }
}

/// Items as JSON: each item's path (raw) and the rest of its object (encoded) in one buffer.
struct JsonItems<'a> {
    program: &'a Program,
    buf: Vec<u8>,
    items: Vec<JsonItem>,
}

struct JsonItem {
    start: u32,
    path_end: u32,
    end: u32,
    kind: u8,
}

impl Emit for JsonItems<'_> {
    fn emit(&mut self, kind: u8, path: &str, item: Item<'_>, via: Option<&str>) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(path.as_bytes());
        let path_end = self.buf.len() as u32;
        // The fields after `path`, in the order and form `Evidence` serializes them.
        match item {
            Item::Value(v) => {
                self.buf.extend_from_slice(b",\"value\":");
                scalar_json(self.program, v, &mut self.buf);
            }
            Item::Len(n) => {
                self.buf.extend_from_slice(b",\"len\":");
                self.buf.extend_from_slice(n.to_string().as_bytes());
            }
            Item::Hashed(h, k) => {
                self.buf.extend_from_slice(b",\"hmac\":");
                json_str(&mut self.buf, &h);
                self.buf.extend_from_slice(b",\"key\":");
                json_str(&mut self.buf, &k);
            }
        }
        if let Some(via) = via {
            self.buf.extend_from_slice(b",\"via\":");
            json_str(&mut self.buf, via);
        }
        self.items.push(JsonItem {
            start,
            path_end,
            end: self.buf.len() as u32,
            kind,
        });
    }
}

/// A JSON string exactly as `serde_json` writes one.
fn json_str(out: &mut Vec<u8>, s: &str) {
    json_utf8(out, s.as_bytes());
}

/// `json_str` of UTF-8 bytes. Evidence strings (paths, names, ids) rarely need escaping, and
/// serde_json escapes only control bytes, `"` and `\` (UTF-8 is written as is), so a string
/// without them is copied between quotes; any other goes through serde_json.
fn json_utf8(out: &mut Vec<u8>, b: &[u8]) {
    // One pass without early exit (it vectorises): bytes to escape, and bytes past ASCII.
    let (escape, high) = b.iter().fold((false, false), |(e, h), &c| {
        (e | (c < 0x20) | (c == b'"') | (c == b'\\'), h | (c >= 0x80))
    });
    if !escape && (!high || std::str::from_utf8(b).is_ok()) {
        out.reserve(b.len() + 2);
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
    } else {
        // Writing a `&str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(b));
    }
}

/// `value_json(program, v)` encoded, without building the JSON value for the scalars.
fn scalar_json(program: &Program, v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Absent => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Int(i) | Value::Duration(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Text(s) | Value::Tz(s) | Value::Id(s) => json_str(out, s),
        Value::Symbol(i) => match program.symbols.get(*i as usize) {
            Some(s) => json_str(out, &s.qualified),
            None => json_str(out, &format!("#{i}")),
        },
        Value::Enum(e, i) => match program
            .enums
            .get(*e as usize)
            .and_then(|t| t.variants.get(*i as usize))
        {
            Some(name) => json_str(out, name),
            None => json_str(out, &format!("#{i}")),
        },
        Value::Time(ms) => json_str(out, &super::record::time_text(*ms)),
        // Rare, or not scalars: the general conversion.
        other => {
            let _ = serde_json::to_writer(&mut *out, &value_json(program, other));
        }
    }
}

/// Appends `[i]` to a path.
fn push_index(path: &mut String, i: usize) {
    use std::fmt::Write as _;
    // Writing to a `String` cannot fail.
    let _ = write!(path, "[{i}]");
}

struct Extract<'a> {
    program: &'a Program,
    keys: &'a dyn KeyProvider,
    /// Where the items go, with their kind (0 value, 1 length); the caller sorts and
    /// deduplicates them at the end so that each (path, kind) is written once, the rules'
    /// reading (walked first) winning over a connector's.
    out: &'a mut dyn Emit,
}

impl Extract<'_> {
    /// The subject a record value speaks of: its `id` field, if it has one.
    fn subject_of<'v>(&self, v: &'v Value) -> Option<&'v str> {
        let Value::Record(t, fields) = v else {
            return None;
        };
        let i = self.program.records.get(*t as usize)?.field("id")?;
        match fields.get(i)? {
            Value::Id(s) | Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Walks `v` along `steps`; `path` is where `v` is, and is as it was on return.
    fn walk(
        &mut self,
        v: &Value,
        steps: &[Step],
        path: &mut String,
        subject: &str,
        personal: bool,
        via: Option<&str>,
    ) -> Result<(), String> {
        let subject = self.subject_of(v).unwrap_or(subject);
        if personal {
            // The whole personal value, whatever part of it was read, as one keyed hash.
            let (id, key) = self.keys.key_for(subject)?;
            let text = serde_json::to_vec(&value_json(self.program, v)).unwrap_or_default();
            self.out.emit(
                0,
                path,
                Item::Hashed(keyed_hash(&key, &text), hex(&id)),
                via,
            );
            return Ok(());
        }
        let Some((step, rest)) = steps.split_first() else {
            return self.whole(v, path, subject, via);
        };
        match (step, v) {
            (Step::Field(f), Value::Record(t, fields)) => {
                let Some(field) = self
                    .program
                    .records
                    .get(*t as usize)
                    .and_then(|r| r.fields.get(*f as usize))
                else {
                    return Ok(());
                };
                let Some(fv) = fields.get(*f as usize) else {
                    return Ok(());
                };
                let at = path.len();
                path.push('.');
                path.push_str(&field.name);
                let r = self.walk(fv, rest, path, subject, field.personal, via);
                path.truncate(at);
                r
            }
            (Step::Each, Value::List(items)) => {
                self.out.emit(1, path, Item::Len(items.len() as u64), via);
                let at = path.len();
                for (i, x) in items.iter().enumerate() {
                    push_index(path, i);
                    let r = self.walk(x, rest, path, subject, false, via);
                    path.truncate(at);
                    r?;
                }
                Ok(())
            }
            (Step::Len, Value::List(items)) => {
                self.out.emit(1, path, Item::Len(items.len() as u64), via);
                Ok(())
            }
            // An absent optional (or a value of another shape) ends the path here.
            _ => self.whole(v, path, subject, via),
        }
    }

    /// A value read whole: records field by field, lists element by element.
    fn whole(
        &mut self,
        v: &Value,
        path: &mut String,
        subject: &str,
        via: Option<&str>,
    ) -> Result<(), String> {
        let at = path.len();
        match v {
            Value::Record(t, fields) => {
                let Some(rt) = self.program.records.get(*t as usize) else {
                    return Ok(());
                };
                let subject = self.subject_of(v).unwrap_or(subject);
                for (f, fv) in rt.fields.iter().zip(fields.iter()) {
                    path.push('.');
                    path.push_str(&f.name);
                    let r = self.walk(fv, &[], path, subject, f.personal, via);
                    path.truncate(at);
                    r?;
                }
                Ok(())
            }
            Value::List(items) => {
                self.out.emit(1, path, Item::Len(items.len() as u64), via);
                for (i, x) in items.iter().enumerate() {
                    push_index(path, i);
                    let r = self.walk(x, &[], path, subject, false, via);
                    path.truncate(at);
                    r?;
                }
                Ok(())
            }
            scalar => {
                self.out.emit(0, path, Item::Value(scalar), via);
                Ok(())
            }
        }
    }
}

/// A logged decision's input rebuilt from its evidence, for replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Rebuilt {
    /// The input JSON (what [`crate::bind::bind_value`] reads): the logged values at their
    /// paths, defaults elsewhere (the rules do not read those). A set is an array of its
    /// logged length, each element at its logged index (its index in the set decided on);
    /// with defaults in its unread parts, two elements may be equal or out of order, so a
    /// replay binds it in that order, repeats kept (`BindOptions::sets_as_given`), not as a set.
    pub input: Json,
    /// Paths the rules read whose value is only known as a keyed hash (`@personal`), and
    /// signals read with several values: a replay of such a record may differ.
    pub unknown: Vec<String>,
}

/// Rebuilds the input of a decision of `policy` from its evidence, signals and decision time.
pub fn rebuild(
    program: &Program,
    policy: &Policy,
    evidence: &[Evidence],
    signals: &[SignalRead],
    at: &str,
) -> Result<Rebuilt, String> {
    let mut input = serde_json::Map::new();
    for p in &policy.params {
        input.insert(p.name.clone(), default_json(program, &p.ty, 0)?);
    }
    let mut unknown = Vec::new();
    for e in evidence {
        if e.via.is_some() {
            continue;
        }
        if e.hmac.is_some() {
            unknown.push(e.path.clone());
            continue;
        }
        let (name, steps) = parse_path(&e.path)?;
        let param = policy
            .params
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("evidence path `{}`: no parameter `{name}`", e.path))?;
        let slot = input
            .get_mut(&name)
            .ok_or_else(|| format!("evidence path `{}`: no parameter `{name}`", e.path))?;
        set_path(program, slot, &param.ty, &steps, e, &e.path)?;
    }
    input.insert("now".into(), Json::String(at.to_string()));
    let mut sig = serde_json::Map::new();
    for s in signals {
        match sig.get(&s.signal) {
            Some(v) if v != &s.value => unknown.push(format!("signal {}", s.signal)),
            Some(_) => {}
            None => {
                sig.insert(s.signal.clone(), s.value.clone());
            }
        }
    }
    input.insert("signals".into(), Json::Object(sig));
    Ok(Rebuilt {
        input: Json::Object(input),
        unknown,
    })
}

enum PathSeg {
    Field(String),
    Index(usize),
}

fn parse_path(path: &str) -> Result<(String, Vec<PathSeg>), String> {
    let bad = || format!("malformed evidence path `{path}`");
    let mut segs = Vec::new();
    let mut first = None;
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(bad());
        }
        if first.is_none() {
            first = Some(name.to_string());
        } else {
            segs.push(PathSeg::Field(name.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(bad)?;
            segs.push(PathSeg::Index(r[..end].parse().map_err(|_| bad())?));
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(bad());
        }
    }
    Ok((first.ok_or_else(bad)?, segs))
}

fn set_path(
    program: &Program,
    slot: &mut Json,
    ty: &Type,
    steps: &[PathSeg],
    e: &Evidence,
    path: &str,
) -> Result<(), String> {
    let bad = |why: &str| format!("evidence path `{path}`: {why}");
    let ty = match ty {
        Type::Optional(inner) => {
            if steps.is_empty() && e.value == Some(Json::Null) {
                *slot = Json::Null;
                return Ok(());
            }
            if slot.is_null() {
                *slot = default_json(program, inner, 0)?;
            }
            inner.as_ref()
        }
        other => other,
    };
    let Some((step, rest)) = steps.split_first() else {
        if let Some(n) = e.len {
            let (Type::List(elem) | Type::Set(elem)) = ty else {
                return Err(bad("a length for a value that is not a list"));
            };
            let arr = slot
                .as_array_mut()
                .ok_or_else(|| bad("not a list in the rebuilt input"))?;
            let n = usize::try_from(n).map_err(|_| bad("list too long"))?;
            if n > 1_000_000 {
                return Err(bad("list too long"));
            }
            while arr.len() < n {
                arr.push(default_json(program, elem, 0)?);
            }
            return Ok(());
        }
        if let Some(v) = &e.value {
            *slot = v.clone();
        }
        return Ok(());
    };
    match (step, ty) {
        (PathSeg::Field(name), Type::Record(t)) => {
            let rt = program
                .records
                .get(*t as usize)
                .ok_or_else(|| bad("unknown record type"))?;
            let f = rt
                .fields
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| bad(&format!("no field `{name}`")))?;
            let obj = slot
                .as_object_mut()
                .ok_or_else(|| bad("not a record in the rebuilt input"))?;
            let child = obj
                .get_mut(name)
                .ok_or_else(|| bad(&format!("no field `{name}`")))?;
            set_path(program, child, &f.ty, rest, e, path)
        }
        (PathSeg::Index(i), Type::List(elem) | Type::Set(elem)) => {
            let arr = slot
                .as_array_mut()
                .ok_or_else(|| bad("not a list in the rebuilt input"))?;
            if *i > 1_000_000 {
                return Err(bad("index too large"));
            }
            while arr.len() <= *i {
                arr.push(default_json(program, elem, 0)?);
            }
            set_path(program, &mut arr[*i], elem, rest, e, path)
        }
        _ => Err(bad("does not match the parameter's type")),
    }
}

/// The default value of a type in the input format (false, 0, "", empty lists, null for
/// optionals, the first enum variant or symbol, UTC, the epoch), for the parts of a replayed
/// input that no rule reads.
pub fn default_json(program: &Program, ty: &Type, depth: u32) -> Result<Json, String> {
    if depth > MAX_DEPTH {
        return Err("a record type nests too deeply".into());
    }
    Ok(match ty {
        Type::Bool => Json::Bool(false),
        Type::Int | Type::Duration => Json::from(0),
        Type::Decimal => Json::String("0".into()),
        Type::Money => Json::String("0 EUR".into()),
        Type::Text | Type::Id => Json::String(String::new()),
        Type::Time => Json::String("1970-01-01T00:00:00Z".into()),
        Type::Tz => Json::String("UTC".into()),
        Type::Symbol(kind) => Json::String(
            first_symbol(program, *kind)
                .ok_or_else(|| format!("the program declares no {kind:?}"))?,
        ),
        Type::Enum(e) => Json::String(
            program
                .enums
                .get(*e as usize)
                .and_then(|t| t.variants.first())
                .cloned()
                .ok_or_else(|| format!("enum #{e} has no variant"))?,
        ),
        Type::Record(t) => {
            let rt = program
                .records
                .get(*t as usize)
                .ok_or_else(|| format!("unknown record type #{t}"))?;
            let mut m = serde_json::Map::new();
            for f in &rt.fields {
                m.insert(f.name.clone(), default_json(program, &f.ty, depth + 1)?);
            }
            Json::Object(m)
        }
        Type::List(_) | Type::Set(_) => Json::Array(Vec::new()),
        Type::Optional(_) => Json::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let cases: &[&[u8]] = &[
            b"",
            b"to.id",
            b"c-42 \x7f~",
            "Zo\u{eb} \u{1f600} \u{2028}".as_bytes(),
            b"say \"hi\"",
            b"back\\slash",
            b"tab\there\nline\x01\x1f",
            b"bad \xff utf-8",
            b"cut \xe2\x82",
        ];
        for b in cases {
            let mut ours = Vec::new();
            json_utf8(&mut ours, b);
            let serde = serde_json::to_vec(&*String::from_utf8_lossy(b)).expect("a string");
            assert_eq!(ours, serde, "{:?}", String::from_utf8_lossy(b));
        }
    }
}
