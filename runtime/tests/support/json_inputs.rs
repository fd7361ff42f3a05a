//! Random JSON inputs for a policy, valid and mutated, and the check that the JIT's JSON reader
//! (`JsonReader::bind_json_into`) agrees with the reference path (`bind::bind_json`, then
//! `JitModule::bind`): the same words or the same error. Shared by `runtime/tests/json_reader.rs`
//! (generated programs) and `tests/tests/json_reader.rs` (ACME and the conformance corpus).

#![allow(dead_code)]

use xop_runtime::bind;
use xop_runtime::ir::{Program, Type};
use xop_runtime::jit::{Bound, JitModule, JsonError, JsonReader};
use xop_runtime::sample::Sampler;
use xop_runtime::value::Value;

/// A JSON document whose object keys keep their order and may repeat, and whose numbers keep
/// their text.
#[derive(Debug, Clone)]
pub enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// A deterministic generator (the sampler's).
pub struct Rng<'a>(pub &'a mut Sampler);

impl Rng<'_> {
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.0.next_u64() % n as u64) as usize
        }
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

/// Texts that probe the reader: constants' look-alikes, escapes, unicode, bad times and zones.
const ODD_TEXTS: &[&str] = &[
    "",
    "x",
    "X",
    "é🙂",
    "a\"b\\c",
    "\u{0}\u{1f}",
    "line\nbreak",
    "yesterday",
    "2026-02-30T10:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01t10:00:00z",
    "2026-01-01 10:00:00Z",
    "2026-01-01T10:00:00.1234567891Z",
    "2026-01-01T10:00:60Z",
    "2024-02-29T23:59:59.999Z",
    "2100-02-29T00:00:00Z",
    "1969-12-31T23:59:59.5Z",
    "9999-12-31T23:59:59Z",
    "2026-06-01T10:00:00+02:00",
    "2026-06-01T10:00Z",
    "Mars/Olympus",
    "europe/paris",
    "EUROPE/PARIS",
    "EST",
    "UTC",
    "Etc/Unknown",
    "America/New_York",
    "1h30m",
    "90x",
    "-5m",
    "1w2d",
    "2m1h",
    "9999999999999999999w",
    "1.5",
    "-0",
    "12.50 EUR",
    "12.50  EUR",
    "12.50\tEUR",
    " 12.50 EUR",
    "12.50\u{a0}EUR",
    "12.50 eur",
    "sms",
    "std.channel.sms",
    "marketing",
    "vip",
    "standard",
    "gold",
];

const ODD_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e3",
    "1E400",
    "-1e-7",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "123456789012345678901234567890",
    "3.0",
];

/// `v` (of type `ty`) as JSON, in one of the forms `bind` accepts.
pub fn encode(program: &Program, ty: &Type, v: &Value, rng: &mut Rng) -> J {
    match (ty, v) {
        (Type::Optional(_), Value::Absent) => J::Null,
        (Type::Optional(inner), v) => encode(program, inner, v, rng),
        (_, Value::Bool(b)) => J::Bool(*b),
        (_, Value::Int(n)) => J::Num(n.to_string()),
        (_, Value::Decimal(d)) => {
            if rng.chance(30) && d.fract().is_zero() {
                J::Num(d.trunc().to_string())
            } else {
                J::Str(d.to_string())
            }
        }
        (_, Value::Money(d, c)) => {
            if rng.chance(50) {
                J::Str(format!("{d} {c}"))
            } else {
                J::Obj(vec![
                    ("currency".into(), J::Str(c.to_string())),
                    ("amount".into(), J::Str(d.to_string())),
                ])
            }
        }
        (_, Value::Text(s) | Value::Id(s)) => J::Str(s.to_string()),
        (_, Value::Tz(s)) => J::Str(s.to_string()),
        (_, Value::Duration(ms)) => {
            let ms = *ms;
            match rng.below(3) {
                0 => J::Num(ms.to_string()),
                1 if ms != i64::MIN => J::Str(format!(
                    "{}{}ms",
                    if ms < 0 { "-" } else { "" },
                    ms.unsigned_abs()
                )),
                _ if ms > 0 && ms % 60_000 == 0 => {
                    let h = ms / 3_600_000;
                    let m = (ms % 3_600_000) / 60_000;
                    J::Str(match (h, m) {
                        (0, m) => format!("{m}m"),
                        (h, 0) => format!("{h}h"),
                        (h, m) => format!("{h}h{m}m"),
                    })
                }
                _ => J::Num(ms.to_string()),
            }
        }
        (_, Value::Time(ms)) => match jiff::Timestamp::from_millisecond(*ms) {
            Ok(t) if rng.chance(15) => {
                let offset = jiff::tz::Offset::from_hours(2).expect("an offset");
                J::Str(t.display_with_offset(offset).to_string())
            }
            Ok(t) => J::Str(t.to_string()),
            Err(_) => J::Str(format!("{ms}ms after 1970")),
        },
        (_, Value::Symbol(i)) => {
            let sym = &program.symbols[*i as usize];
            J::Str(if rng.chance(30) {
                sym.qualified.clone()
            } else {
                sym.name.clone()
            })
        }
        (Type::Enum(e), Value::Enum(_, i)) => {
            J::Str(program.enums[*e as usize].variants[*i as usize].clone())
        }
        (Type::Record(r), Value::Record(_, fields)) => {
            let rt = &program.records[*r as usize];
            let mut out = Vec::new();
            for (f, fv) in rt.fields.iter().zip(fields.iter()) {
                if matches!(fv, Value::Absent) && rng.chance(50) {
                    continue; // a missing optional field
                }
                out.push((f.name.clone(), encode(program, &f.ty, fv, rng)));
            }
            rng.shuffle(&mut out);
            J::Obj(out)
        }
        (Type::List(t) | Type::Set(t), Value::List(xs)) => {
            let mut out: Vec<J> = xs.iter().map(|x| encode(program, t, x, rng)).collect();
            if matches!(ty, Type::Set(_)) {
                // Any order and repeats: the binder sorts and deduplicates.
                if !out.is_empty() && rng.chance(40) {
                    let i = rng.below(out.len());
                    out.push(out[i].clone());
                }
                rng.shuffle(&mut out);
            }
            J::Arr(out)
        }
        _ => J::Null,
    }
}

/// A valid input for policy `policy` (from the sampler's arguments), or `None` if the sampler
/// has none.
pub fn input(program: &Program, policy: usize, rng: &mut Rng) -> Option<J> {
    let args = rng.0.args(program, policy)?;
    let pol = &program.policies[policy];
    let mut fields: Vec<(String, J)> = Vec::new();
    for (p, a) in pol.params.iter().zip(&args) {
        // An absent optional parameter may be left out.
        if matches!(a, Value::Absent) && rng.chance(50) {
            continue;
        }
        fields.push((p.name.clone(), encode(program, &p.ty, a, rng)));
    }
    match rng.below(4) {
        0 => {}
        1 => fields.push(("now".into(), J::Null)),
        _ => {
            let ms = 1_767_225_600_000 + (rng.0.next_u64() % 31_536_000_000) as i64;
            let t = jiff::Timestamp::from_millisecond(ms).expect("a time");
            fields.push(("now".into(), J::Str(t.to_string())));
        }
    }
    if rng.chance(10) {
        fields.push(("signals".into(), J::Null));
    }
    rng.shuffle(&mut fields);
    Some(J::Obj(fields))
}

fn odd_value(rng: &mut Rng) -> J {
    match rng.below(7) {
        0 => J::Null,
        1 => J::Bool(rng.chance(50)),
        2 => J::Num(ODD_NUMBERS[rng.below(ODD_NUMBERS.len())].into()),
        3 | 4 => J::Str(ODD_TEXTS[rng.below(ODD_TEXTS.len())].into()),
        5 => J::Arr(if rng.chance(50) {
            Vec::new()
        } else {
            vec![J::Num("1".into()), J::Str("x".into())]
        }),
        _ => J::Obj(if rng.chance(50) {
            Vec::new()
        } else {
            vec![("zzz".into(), J::Num("1".into()))]
        }),
    }
}

/// Counts the nodes of `j`.
fn count(j: &J) -> usize {
    1 + match j {
        J::Arr(xs) => xs.iter().map(count).sum(),
        J::Obj(fs) => fs.iter().map(|(_, v)| count(v)).sum(),
        _ => 0,
    }
}

/// Node `n` of `j` in pre-order.
fn nth(j: &mut J, n: usize) -> Option<&mut J> {
    if n == 0 {
        return Some(j);
    }
    let mut n = n - 1;
    let children: Vec<&mut J> = match j {
        J::Arr(xs) => xs.iter_mut().collect(),
        J::Obj(fs) => fs.iter_mut().map(|(_, v)| v).collect(),
        _ => return None,
    };
    for c in children {
        let k = count(c);
        if n < k {
            return nth(c, n);
        }
        n -= k;
    }
    None
}

/// One random change that is likely (not certain) to make the input invalid.
pub fn mutate(j: &mut J, rng: &mut Rng) {
    let n = count(j);
    let at = rng.below(n);
    let Some(node) = nth(j, at) else { return };
    match rng.below(8) {
        // Drop a field or an element.
        0 => match node {
            J::Obj(fs) if !fs.is_empty() => {
                let i = rng.below(fs.len());
                fs.remove(i);
            }
            J::Arr(xs) if !xs.is_empty() => {
                let i = rng.below(xs.len());
                xs.remove(i);
            }
            other => *other = odd_value(rng),
        },
        // An unknown field, or a key given twice.
        1 => match node {
            J::Obj(fs) if !fs.is_empty() && rng.chance(60) => {
                let i = rng.below(fs.len());
                let dup = if rng.chance(50) {
                    fs[i].1.clone()
                } else {
                    odd_value(rng)
                };
                let key = fs[i].0.clone();
                let at = rng.below(fs.len() + 1);
                fs.insert(at, (key, dup));
            }
            J::Obj(fs) => fs.push(("zzz".into(), J::Num("1".into()))),
            other => *other = odd_value(rng),
        },
        // A string that is almost right.
        2 => match node {
            J::Str(s) if !s.is_empty() && rng.chance(50) => {
                s.pop();
            }
            J::Str(s) => s.push_str(ODD_TEXTS[rng.below(ODD_TEXTS.len())]),
            other => *other = odd_value(rng),
        },
        _ => *node = odd_value(rng),
    }
}

/// `s` as a JSON string; with `escapes`, ordinary characters escaped now and then too.
fn push_string(s: &str, out: &mut String, mut rng: Option<&mut Rng>, escapes: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            // Escapes of ordinary characters: the reader must see the unescaped text.
            c if escapes && rng.as_deref_mut().is_some_and(|r| r.chance(3)) => {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{u:04X}"));
                }
            }
            '/' if escapes && rng.as_deref_mut().is_some_and(|r| r.chance(50)) => {
                out.push_str("\\/")
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `j` as JSON text, with random whitespace and escapes.
pub fn text(j: &J, rng: &mut Rng) -> String {
    let mut out = String::new();
    write(j, &mut out, Some(rng), true);
    out
}

/// `j` as a serializer writes it: every object's keys sorted, no blanks, no escapes but
/// those that must be. Objects with the same keys then look alike, as they do from one client.
pub fn serialized(j: &J) -> String {
    fn sorted(j: &J) -> J {
        match j {
            J::Arr(xs) => J::Arr(xs.iter().map(sorted).collect()),
            J::Obj(fs) => {
                let mut fs: Vec<(String, J)> =
                    fs.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
                fs.sort_by(|a, b| a.0.cmp(&b.0));
                J::Obj(fs)
            }
            other => other.clone(),
        }
    }
    let mut out = String::new();
    write(&sorted(j), &mut out, None, false);
    out
}

/// `j` as JSON text with random whitespace, escaping only what must be (the form most
/// clients send, and the one the reader's direct scanner reads).
pub fn plain_text(j: &J, rng: &mut Rng) -> String {
    let mut out = String::new();
    write(j, &mut out, Some(rng), false);
    out
}

/// `j` as JSON text: with `rng`, random blanks (and escapes if `escapes`); without, none.
fn write(j: &J, out: &mut String, mut rng: Option<&mut Rng>, escapes: bool) {
    let space = |out: &mut String, rng: Option<&mut Rng>| {
        if let Some(rng) = rng
            && rng.chance(10)
        {
            out.push_str([" ", "\n  ", "\t"][rng.below(3)]);
        }
    };
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => push_string(s, out, rng, escapes),
        J::Arr(xs) => {
            out.push('[');
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(out, rng.as_deref_mut());
                write(x, out, rng.as_deref_mut(), escapes);
            }
            out.push(']');
        }
        J::Obj(fs) => {
            out.push('{');
            for (i, (k, v)) in fs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                space(out, rng.as_deref_mut());
                push_string(k, out, rng.as_deref_mut(), escapes);
                out.push(':');
                space(out, rng.as_deref_mut());
                write(v, out, rng.as_deref_mut(), escapes);
            }
            out.push('}');
        }
    }
}

/// `json` with a few values changed and its shape mostly kept: one to three digits or letters
/// changed to others of their class, doubled or dropped, so values change length too. Keys
/// change now and then (a letter of a key is a letter), and a changed value may be refused:
/// both must be read as the reference reads them, whatever shape the reader learned.
pub fn sibling(json: &str, rng: &mut Rng) -> String {
    let mut out = json.as_bytes().to_vec();
    let mut changes = 0;
    for _ in 0..64 {
        if changes > rng.below(3) {
            break;
        }
        let i = rng.below(out.len());
        let Some(&c) = out.get(i) else { continue };
        // Mostly digits: letters are more often keys and names, which the reference refuses
        // when changed.
        let (base, n) = match c {
            b'0'..=b'9' => (b'0', 10),
            b'a'..=b'z' if rng.chance(25) => (b'a', 26),
            b'A'..=b'Z' if rng.chance(25) => (b'A', 26),
            _ => continue,
        };
        changes += 1;
        match rng.below(8) {
            0 => out.insert(i, c),
            1 => {
                out.remove(i);
            }
            _ => out[i] = base + rng.below(n) as u8,
        }
    }
    // Only ASCII bytes were changed, added or removed, next to other ASCII bytes.
    String::from_utf8(out).expect("still UTF-8")
}

/// One random change to the text itself (truncation, trailing data, a stray byte, and the
/// near-misses of JSON's grammar a hand-written scanner could let through).
pub fn mutate_text(s: &mut String, rng: &mut Rng) {
    // A random character boundary.
    let at = |s: &String, rng: &mut Rng| {
        let mut i = rng.below(s.len() + 1);
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match rng.below(14) {
        0 if !s.is_empty() => {
            let cut = at(s, rng);
            s.truncate(cut);
        }
        1 => s.push_str(["x", " ", "{}", ",", "\u{feff}", "\r\n", "\u{0}"][rng.below(7)]),
        2 => s.insert(0, [' ', '\n', '[', '\u{feff}', '\r'][rng.below(5)]),
        3 => *s = s.replacen(':', "::", 1),
        // A stray byte anywhere: a control character, a backslash, a quote, a comma.
        4 => {
            let i = at(s, rng);
            s.insert(
                i,
                ['\u{1}', '\u{1f}', '\t', '\\', '"', ',', '\u{7f}', 'é'][rng.below(8)],
            );
        }
        // A trailing comma, an empty member, a missing colon or comma.
        5 => *s = s.replacen('}', ",}", 1),
        6 => *s = s.replacen(']', ",]", 1),
        7 => *s = s.replacen(',', "", 1),
        8 => *s = s.replacen(':', "", 1),
        // Numbers serde_json reads as floats or refuses: leading zeros, `-0`, a bare sign.
        9 => {
            let pick = ["01", "-0", "-", "00", "1.", ".5", "1e", "-01", "0x1"][rng.below(9)];
            *s = s.replacen(|c: char| c.is_ascii_digit(), pick, 1);
        }
        // Literals almost right.
        10 => {
            let (from, to) = [
                ("true", "tru"),
                ("false", "fals"),
                ("null", "nul"),
                ("true", "True"),
                ("null", "nulll"),
            ][rng.below(5)];
            *s = s.replacen(from, to, 1);
        }
        // Whitespace JSON does not allow (a form feed, a non-breaking space).
        11 => *s = s.replacen(": ", [":\u{c}", ":\u{a0}"][rng.below(2)], 1),
        // A raw line break inside a string.
        12 => *s = s.replacen("\"", "\"\n", 1),
        _ => *s = s.replacen('"', "'", 1),
    }
}

/// The same document with other whitespace (all of JSON's four kinds, in runs): a change the
/// reader must not notice.
pub fn respace(s: &str, rng: &mut Rng) -> String {
    outside_strings(s, |c, out| {
        if matches!(c, '{' | '[' | ',' | ':') && rng.chance(30) {
            for _ in 0..1 + rng.below(3) {
                out.push([' ', '\t', '\n', '\r'][rng.below(4)]);
            }
        }
    })
}

/// The same document with one space after every `,` and `:` outside strings (the form of
/// Python's `json.dumps`, which the direct scanner reads inline).
pub fn spaced(s: &str) -> String {
    outside_strings(s, |c, out| {
        if matches!(c, ',' | ':') {
            out.push(' ');
        }
    })
}

/// `s` with `after(c, out)` called after each character `c` that is outside strings (and is
/// not a string's opening quote), to add what it likes.
fn outside_strings(s: &str, mut after: impl FnMut(char, &mut String)) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    let mut in_string = false;
    let mut escaped = false;
    for c in s.chars() {
        out.push(c);
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else {
            after(c, &mut out);
        }
    }
    out
}

/// The reference: `bind::bind_json`, then `JitModule::bind`.
pub fn reference(
    program: &Program,
    jit: &JitModule,
    policy: usize,
    json: &str,
) -> Result<(Bound, Option<i64>), JsonError> {
    let bound = bind::bind_json(program, policy, json).map_err(JsonError::Input)?;
    let laid = jit.bind(policy, &bound.args).map_err(JsonError::Refused)?;
    Ok((laid, bound.now_ms))
}

/// Tallies of one run of [`check`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Inputs checked.
    pub inputs: usize,
    /// Inputs the reference accepted.
    pub accepted: usize,
    /// Accepted inputs that the fast path read (no fallback).
    pub fast: usize,
    /// Accepted inputs that the direct scanner read (the first fast path).
    pub scanned: usize,
    /// Of those, the inputs it read straight into their final layout (direct mode).
    pub direct: usize,
    /// Of those, the inputs read by replaying the shape learned from an earlier input.
    pub replayed: usize,
    /// Of those, the inputs read by the learned shape's compiled code.
    pub compiled: usize,
    /// Siblings checked (an input as a serializer writes it, and texts of its shape with
    /// other values; not counted above), those the reference accepted, and those of these
    /// read in direct mode.
    pub siblings: usize,
    pub siblings_accepted: usize,
    pub siblings_direct: usize,
}

/// Reads `json` with the reader (into `into`, reused across calls) and with the reference, and
/// panics, naming the input, unless they agree.
pub fn check(
    program: &Program,
    jit: &JitModule,
    reader: &mut JsonReader,
    policy: usize,
    json: &str,
    into: &mut Bound,
    tally: &mut Tally,
) {
    let got = reader.bind_json_into(jit, json, into);
    let want = reference(program, jit, policy, json);
    tally.inputs += 1;
    match (&got, &want) {
        (Ok(now), Ok((bound, want_now))) => {
            tally.accepted += 1;
            tally.fast += usize::from(!reader.fell_back());
            tally.scanned += usize::from(reader.scanned());
            tally.direct += usize::from(reader.direct());
            tally.replayed += usize::from(reader.replayed());
            tally.compiled += usize::from(reader.compiled());
            assert!(
                into.same_layout(bound) && now == want_now,
                "policy {}: the reader's layout differs from the reference on\n{json}\nreader (scanned: {}):    {into:?} now {now:?}\nreference: {bound:?} now {want_now:?}",
                program.policies[policy].name,
                reader.scanned()
            );
        }
        (Err(a), Err(b)) => assert_eq!(
            (a, reader.scanned()),
            (b, false),
            "policy {}: the reader's error differs from the reference on\n{json}",
            program.policies[policy].name
        ),
        _ => panic!(
            "policy {}: the reader and the reference disagree on\n{json}\nreader:    {got:?}\nreference: {want:?}",
            program.policies[policy].name
        ),
    }
}

/// Checks `count` random inputs (a third valid, the rest mutated) for every policy of
/// `program` that the JIT compiles, each with the reader's direct scanner on and off (so both
/// fast paths are compared with the reference); returns the tallies.
pub fn check_program(program: &Program, seed: u64, count: usize) -> Tally {
    let jit = xop_runtime::jit::compile(program);
    let mut sampler = Sampler::new(program, seed);
    let mut tally = Tally::default();
    for policy in 0..program.policies.len() {
        let Ok(mut reader) = jit.json_reader(policy) else {
            continue;
        };
        let fresh = reader.clone();
        let mut serde_reader = reader.clone();
        serde_reader.set_scan(false);
        let mut into = Bound::empty();
        for i in 0..count {
            let mut rng = Rng(&mut sampler);
            let Some(mut j) = input(program, policy, &mut rng) else {
                break;
            };
            if i % 3 != 0 {
                for _ in 0..1 + rng.below(2) {
                    mutate(&mut j, &mut rng);
                }
            }
            let mut json = if i % 2 == 0 {
                plain_text(&j, &mut rng)
            } else {
                text(&j, &mut rng)
            };
            if i % 4 == 1 {
                json = respace(&json, &mut rng);
            } else if i % 4 == 3 {
                json = spaced(&json);
            }
            if i % 7 == 5 {
                mutate_text(&mut json, &mut rng);
            }
            for r in [&mut reader, &mut serde_reader] {
                check(program, &jit, r, policy, &json, &mut into, &mut tally);
            }
            // The input as a serializer writes it, then texts of its shape with other values,
            // read against the shape the reader learned from it (if it read it in direct mode).
            // A new reader each time: the shapes of these checks change all the time, and a
            // reader that sees that stops replaying for a while.
            let mut sib = Tally::default();
            let mut r = fresh.clone();
            let canon = serialized(&j);
            let others: Vec<String> = (0..2).map(|_| sibling(&canon, &mut rng)).collect();
            for text in std::iter::once(&canon).chain(&others) {
                check(program, &jit, &mut r, policy, text, &mut into, &mut sib);
            }
            // For every fourth input, the same texts once more by a reader that compiled the
            // shape it learned (compiling costs milliseconds, more in debug builds).
            let mut compiled = Tally::default();
            if i % 4 == 0 {
                let mut r = fresh.clone();
                check(
                    program,
                    &jit,
                    &mut r,
                    policy,
                    &canon,
                    &mut into,
                    &mut compiled,
                );
                if r.compile_now() {
                    for other in &others {
                        check(
                            program,
                            &jit,
                            &mut r,
                            policy,
                            other,
                            &mut into,
                            &mut compiled,
                        );
                    }
                }
            }
            tally.siblings += sib.inputs;
            tally.siblings_accepted += sib.accepted;
            tally.siblings_direct += sib.direct;
            tally.replayed += sib.replayed;
            tally.compiled += compiled.compiled;
        }
    }
    tally
}
