//! A schema-driven JSON reader: JSON text straight into a compiled policy's input layout
//! ([`Bound`]), without the [`serde_json::Value`] tree and the [`Value`]s of [`crate::bind`].
//!
//! [`JsonReader`] is built once per policy from its parameter types: every record gets a table
//! of its field names and where each field's words go, every enum and symbol kind a hash table
//! from the accepted names to their index, and the module's constant strings a hash table to
//! their ids. Reading drives [`serde_json::Deserializer`] with a [`DeserializeSeed`] per value
//! that writes the value's words where the layout puts them, whatever order the keys come in.
//! A list's elements are read into a segment of their own; once the text is read, the segments
//! are placed after the fixed part in the order [`JitModule::bind_into`] places lists, and the
//! strings that are no constant are numbered in the order it meets them, so the words are the
//! same as that path's, word for word.
//!
//! Semantics: [`crate::bind::bind_json`] followed by [`JitModule::bind_into`] is the reference.
//! The reader takes the fast path only for input it fully understands: an object whose keys it
//! all knows, each once, every required field present, every value of its type. Anything else
//! (invalid JSON, a missing or unknown field, a duplicate key, a wrong type, an unknown enum
//! name, a number out of range, a bad time or zone, and the rarer forms: a `Decimal` given as a
//! float, sets of records or optionals, `signals`, lists whose elements take more than
//! [`MAX_WORDS`] words, which binding may refuse as too large) is handed to the reference
//! path, which gives the
//! verdict and the error, word for word. So bad input fails closed with exactly the reference's
//! error, and good input the reference accepts but the fast path does not is still bound, only
//! slower. The fast path allocates nothing once the reader's buffers have grown to the input's
//! size.
//!
//! Before the serde path, the direct scanner ([`scan`]) tries the text: a strict subset of JSON
//! (no escapes, plain integers, known keys once each) read byte by byte against the plan, each
//! value handed to the same [`Cx`] methods as the seeds. On anything else it gives up and the
//! serde path starts over, so it adds speed, never a decision of its own.
//!
//! On a flat plan ([`Plan::direct`]: no list inside a list's element, no set) the scanner
//! skips the segments: it writes each word at its final position in a vector that becomes the
//! input's words, appends a list's elements after the fixed part as it reads them (so lists
//! must come in the order of their header words, or it gives up), and notes only the words to
//! renumber (strings that are no constant) and those that name a zone; [`JsonReader::direct`]
//! says whether the last input was read so. Names are looked up by their bytes in tables whose
//! slots hold key and value (one load per probe), an expected key and its colon are compared
//! as one or two words, and times of 1970 to 2099 are read as two words.
//!
//! On a flat plan, the reader first replays the shape learned from the last input the scanner
//! read ([`shape`]): its text between the values compared as bytes, its values read by the
//! scanner's code into their places. Inputs written by one serializer differ only in their
//! values, so most are read so; any other text goes to the scanner, which learns its shape.
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::Arc;

use jiff::tz::TimeZone;
use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Bound, Entry, JitModule, LINEAR_STRINGS, MAX_RECORD_DEPTH, StrIndex, reader, size};
use crate::bind::{self, BindError};
use crate::interp::{BAD_INPUT, Decision, RUNTIME_ERROR};
use crate::ir::{Program, SymbolKind, Type, Verdict};
use crate::reads::Reads;

mod scan;
mod shape;

/// Why [`JsonReader::bind_json_into`] refused an input.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonError {
    /// The input does not fit the policy's parameters: [`crate::bind::bind_json`]'s error.
    Input(BindError),
    /// The input could not be laid out ([`JitModule::bind_into`]'s refusal, a decision).
    Refused(Decision),
}

impl JsonError {
    /// The decision to return for this input: a deny, with `xop:bad-input` and the error for
    /// refused input (as `xop eval` words it).
    pub fn decision(&self) -> Decision {
        match self {
            JsonError::Input(e) => Decision {
                verdict: Verdict::Deny,
                reasons: vec![BAD_INPUT.to_string()],
                fired: Vec::new(),
                review: None,
                error: Some(e.to_string()),
            },
            JsonError::Refused(d) => d.clone(),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Input(e) => e.fmt(f),
            JsonError::Refused(d) => f.write_str(d.error.as_deref().unwrap_or("refused")),
        }
    }
}

impl std::error::Error for JsonError {}

/// How a value of one type is read (an arena index into [`Plan::nodes`]).
#[derive(Debug, Clone, Copy)]
enum Node {
    Bool,
    Int,
    Duration,
    Time,
    Text,
    Id,
    /// A `Text` or `Id` no rule reads ([`Reads`]): checked to be a string, its word left 0.
    Unread,
    Tz,
    /// Two words: the decimal's [`super::dec_words`].
    Decimal,
    /// Three words: the amount's two, then the currency's string id.
    Money,
    Symbol(SymbolKind),
    /// The enum's index into [`Plan::enums`].
    Enum(u32),
    /// Index into [`Plan::records`].
    Record(u32),
    /// A list or set: its element's node and word count.
    List {
        elem: u32,
        words: usize,
        set: bool,
    },
    /// A presence word, then the inner value's words.
    Optional(u32),
    /// Left to the reference path (sets the fast path cannot sort).
    Other,
}

/// A record's fields: their names, nodes and offsets in the record's words.
#[derive(Debug)]
struct RecordPlan {
    fields: Vec<FieldPlan>,
    /// Field name to index in `fields`.
    index: Names,
    /// Bit `i` set: field `i` must be given (it is not optional).
    required: u128,
}

#[derive(Debug, Clone)]
struct FieldPlan {
    name: Box<str>,
    /// The name has no quote, backslash or control character and no earlier field has it:
    /// the scanner may compare it with the text in place.
    plain: bool,
    /// The name between quotes and the colon after it, as the key's bytes in the text
    /// (`"name":`).
    quoted: Box<[u8]>,
    /// `quoted` as words, for [`FieldPlan::key_in`]: its first eight bytes (zero-padded) and
    /// the mask of those it has, and its last eight bytes when it is longer.
    head: u64,
    head_mask: u64,
    tail: u64,
    node: u32,
    offset: usize,
    /// `1 << i` for field `i`: its bit in the set of fields read.
    bit: u128,
}

impl FieldPlan {
    /// If `text` starts with `quoted` (the key and its colon), the text after it. Keys of up
    /// to 14 bytes (16 with quotes and colon) cost one or two word compares.
    #[inline(always)]
    fn key_in<'t>(&self, text: &'t [u8]) -> Option<&'t [u8]> {
        let n = self.quoted.len();
        let (key, after) = text.split_at_checked(n)?;
        let word = |w: Option<&[u8; 8]>| w.map(|w| u64::from_le_bytes(*w));
        let found = if n <= 8 {
            match word(text.first_chunk::<8>()) {
                Some(w) => w & self.head_mask == self.head,
                None => same(key, &self.quoted),
            }
        } else if n <= 16 {
            word(key.first_chunk::<8>()) == Some(self.head)
                && word(key.last_chunk::<8>()) == Some(self.tail)
        } else {
            same(key, &self.quoted)
        };
        found.then_some(after)
    }
}

/// What a policy's input looks like, derived once from its parameter types.
#[derive(Debug)]
struct Plan {
    module: u64,
    policy: usize,
    input_words: usize,
    nodes: Vec<Node>,
    records: Vec<RecordPlan>,
    /// The parameters, as a record laid out at word 0.
    params: RecordPlan,
    /// The module's constant strings and their ids; `names[id]` is the string of an id.
    strings: Names,
    names: Vec<Box<str>>,
    /// Per symbol kind (channel, purpose, role), every accepted name and its symbol.
    symbols: [Names; 3],
    /// Per enum of the program, variant name to index.
    enums: Vec<Names>,
    /// No list is reachable from a list's element and there is no set: the direct scanner
    /// then writes every word in its final place (see [`Scratch::direct`]).
    direct: bool,
}

/// Names to numbers: an open-addressing table over a key that costs two loads (the first
/// seven bytes and the length, and for longer names the last eight bytes). Most tables (a
/// record's fields, an enum's variants, the channels) are small, and hashing the whole name with
/// a general hasher cost more than the rest of the look-up.
#[derive(Debug, Default)]
struct Names {
    /// (key, name, value), in insertion order.
    entries: Vec<(u64, Box<str>, i64)>,
    /// Per slot: index + 1 into `entries` (0 for an empty slot), the entry's key and value, so
    /// that a probe costs one load; a power of two, at least twice as many slots as entries
    /// (or none). A name of at most seven bytes is its key, so a key that matches is the name.
    slots: Vec<NameSlot>,
}

#[derive(Debug, Default, Clone, Copy)]
struct NameSlot {
    key: u64,
    value: i64,
    entry: u32,
}

/// The table key of a name: [`name_word`] for a name of at most seven bytes (whose key is
/// then the name: the length is its top byte, 0 to 7), else mixed with the last eight bytes
/// and the top bit set, so that no longer name has the key of a short one.
#[inline(always)]
fn name_key(b: &[u8]) -> u64 {
    match b.last_chunk::<8>() {
        Some(w) => (name_word(b) ^ u64::from_le_bytes(*w).rotate_left(29)) | 1 << 63,
        None => name_word(b),
    }
}

/// The first slot to probe for `key` in a table of `mask + 1` slots.
#[inline(always)]
fn first_slot(key: u64, mask: usize) -> usize {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & mask
}

/// The first 7 bytes of a name and its length, as one word. Short names are read as two
/// overlapping loads (the bytes they share are the same), not byte by byte.
#[inline(always)]
fn name_word(b: &[u8]) -> u64 {
    let n = b.len();
    let load4 = |i: usize| {
        b.get(i..i + 4)
            .and_then(|w| w.first_chunk::<4>())
            .map_or(0, |w| u64::from(u32::from_le_bytes(*w)))
    };
    let load2 = |i: usize| {
        b.get(i..i + 2)
            .and_then(|w| w.first_chunk::<2>())
            .map_or(0, |w| u64::from(u16::from_le_bytes(*w)))
    };
    let head = match n {
        8.. => b
            .first_chunk::<8>()
            .map_or(0, |w| u64::from_le_bytes(*w) & 0x00ff_ffff_ffff_ffff),
        4..=7 => load4(0) | (load4(n - 4) << (8 * (n - 4))),
        2..=3 => load2(0) | (load2(n - 2) << (8 * (n - 2))),
        1 => u64::from(b[0]),
        _ => 0,
    };
    head | ((n as u64 & 0xff) << 56)
}

impl Names {
    /// Adds `name` unless it is there already (the first one wins).
    fn insert(&mut self, name: &str, value: i64) {
        if self.get(name).is_some() {
            return;
        }
        let key = name_key(name.as_bytes());
        self.entries.push((key, name.into(), value));
        if self.entries.len() * 2 > self.slots.len() {
            let size = (self.entries.len() * 4).next_power_of_two();
            self.slots.clear();
            self.slots.resize(size, NameSlot::default());
            for i in 0..self.entries.len() {
                self.place(i);
            }
        } else {
            self.place(self.entries.len() - 1);
        }
    }

    /// Puts entry `i` in the first free slot of its probe sequence.
    fn place(&mut self, i: usize) {
        let mask = self.slots.len() - 1;
        let (key, _, value) = self.entries[i];
        let mut at = first_slot(key, mask);
        while self.slots[at].entry != 0 {
            at = (at + 1) & mask;
        }
        self.slots[at] = NameSlot {
            key,
            value,
            entry: i as u32 + 1,
        };
    }

    #[inline(always)]
    fn get(&self, key: &str) -> Option<i64> {
        self.find(key.as_bytes())
    }

    /// [`Names::find`] for a name of at most seven bytes, given as its key ([`name_word`]):
    /// such a key is the name, and no longer name has it ([`name_key`]).
    #[inline(always)]
    fn find_short(&self, key: u64) -> Option<i64> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut at = first_slot(key, mask);
        loop {
            let slot = *self.slots.get(at)?;
            if slot.entry == 0 {
                return None;
            }
            if slot.key == key {
                return Some(slot.value);
            }
            at = (at + 1) & mask;
        }
    }

    /// [`Names::get`] on the name's bytes.
    #[inline(always)]
    fn find(&self, k: &[u8]) -> Option<i64> {
        let h = name_key(k);
        let mask = self.slots.len().checked_sub(1)?;
        let mut at = first_slot(h, mask);
        loop {
            let slot = *self.slots.get(at)?;
            if slot.entry == 0 {
                return None;
            }
            if slot.key == h
                && (k.len() < 8 || {
                    let (_, n, _) = self.entries.get(slot.entry as usize - 1)?;
                    same(n.as_bytes(), k)
                })
            {
                return Some(slot.value);
            }
            at = (at + 1) & mask;
        }
    }
}

/// `a == b`, inline: the names compared here are short, and a call to `memcmp` was a tenth of
/// reading an input. Words of eight bytes (overlapping at the end), then of four, then bytes.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| s.get(i..i + 8).and_then(|w| w.first_chunk::<8>()).copied();
    let n = a.len();
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        return word(a, n - 8) == word(b, n - 8);
    }
    if n >= 4 {
        let half = |s: &[u8], i: usize| s.get(i..i + 4).and_then(|w| w.first_chunk::<4>()).copied();
        return half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4);
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

fn kind_index(kind: SymbolKind) -> usize {
    match kind {
        SymbolKind::Channel => 0,
        SymbolKind::Purpose => 1,
        SymbolKind::Role => 2,
    }
}

struct PlanBuilder<'p> {
    program: &'p Program,
    nodes: Vec<Node>,
    records: Vec<RecordPlan>,
    /// The plan of a record type read whole (`true`) or not at all; a record read in part is
    /// planned again wherever it is met (its parts differ from place to place).
    record_of: FxHashMap<(u32, bool), u32>,
}

impl PlanBuilder<'_> {
    fn node(&mut self, ty: &Type, depth: u32, reads: &Reads) -> Result<u32, String> {
        if depth > MAX_RECORD_DEPTH {
            return Err("a record type nested too deeply (or recursive)".into());
        }
        let node = match ty {
            Type::Bool => Node::Bool,
            Type::Int => Node::Int,
            Type::Duration => Node::Duration,
            Type::Time => Node::Time,
            Type::Text | Type::Id if reads.unread() => Node::Unread,
            Type::Text => Node::Text,
            Type::Id => Node::Id,
            Type::Tz => Node::Tz,
            Type::Decimal => Node::Decimal,
            Type::Money => Node::Money,
            Type::Symbol(k) => Node::Symbol(*k),
            Type::Enum(e) => {
                if (*e as usize) >= self.program.enums.len() {
                    return Err(format!("enum #{e} is not in the program"));
                }
                Node::Enum(*e)
            }
            Type::Record(r) => Node::Record(self.record(*r, depth, reads)?),
            Type::List(elem) | Type::Set(elem) => {
                let set = matches!(ty, Type::Set(_));
                let words = size(self.program, elem, depth + 1)?;
                // A set is sorted by value: the fast path sorts one-word scalars only.
                let sortable = matches!(
                    **elem,
                    Type::Bool
                        | Type::Int
                        | Type::Duration
                        | Type::Time
                        | Type::Text
                        | Type::Id
                        | Type::Tz
                        | Type::Symbol(_)
                        | Type::Enum(_)
                );
                if set && !sortable {
                    Node::Other
                } else {
                    // A set is bound whole (see `Reads::add`).
                    let each = if set { &Reads::All } else { reads.elements() };
                    Node::List {
                        elem: self.node(elem, depth + 1, each)?,
                        words,
                        set,
                    }
                }
            }
            Type::Optional(inner) => Node::Optional(self.node(inner, depth, reads)?),
        };
        self.nodes.push(node);
        Ok((self.nodes.len() - 1) as u32)
    }

    fn record(&mut self, r: u32, depth: u32, reads: &Reads) -> Result<u32, String> {
        let whole = match reads {
            Reads::All => Some(true),
            Reads::Nothing => Some(false),
            _ => None,
        };
        if let Some(&i) = whole.and_then(|w| self.record_of.get(&(r, w))) {
            return Ok(i);
        }
        let rt = self
            .program
            .records
            .get(r as usize)
            .ok_or_else(|| format!("record type #{r} is not in the program"))?;
        let fields: Vec<(String, Type)> = rt
            .fields
            .iter()
            .map(|f| (f.name.clone(), f.ty.clone()))
            .collect();
        let reads: Vec<&Reads> = (0..fields.len()).map(|i| reads.field(i)).collect();
        let plan = self.fields(&fields, &reads, depth + 1)?;
        self.records.push(plan);
        let i = (self.records.len() - 1) as u32;
        if let Some(w) = whole {
            self.record_of.insert((r, w), i);
        }
        Ok(i)
    }

    fn fields(
        &mut self,
        fields: &[(String, Type)],
        reads: &[&Reads],
        depth: u32,
    ) -> Result<RecordPlan, String> {
        if fields.len() > 128 {
            return Err("a record of more than 128 fields".into());
        }
        let mut out = Vec::with_capacity(fields.len());
        let mut required = 0u128;
        let mut offset = 0;
        for (i, (name, ty)) in fields.iter().enumerate() {
            if !matches!(ty, Type::Optional(_)) {
                required |= 1 << i;
            }
            let quoted: Box<[u8]> = [b"\"", name.as_bytes(), b"\":"].concat().into();
            let mut head = [0u8; 8];
            let n = quoted.len().min(8);
            head[..n].copy_from_slice(&quoted[..n]);
            out.push(FieldPlan {
                name: name.as_str().into(),
                plain: name.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\'),
                head: u64::from_le_bytes(head),
                head_mask: u64::MAX >> (64 - 8 * n),
                tail: quoted
                    .last_chunk::<8>()
                    .map_or(0, |w| u64::from_le_bytes(*w)),
                quoted,
                node: self.node(ty, depth, reads.get(i).copied().unwrap_or(&Reads::All))?,
                offset,
                bit: 1 << i,
            });
            offset += size(self.program, ty, depth)?;
        }
        let mut index = Names::default();
        for (i, f) in out.iter().enumerate() {
            index.insert(&f.name, i as i64);
        }
        // A name given to two fields means the first (as in `bind`): the scanner must not
        // match the second in place.
        for (i, f) in out.iter_mut().enumerate() {
            f.plain &= index.get(&f.name) == Some(i as i64);
        }
        Ok(RecordPlan {
            fields: out,
            index,
            required,
        })
    }
}

/// Whether no list is reachable from a list's element and no node is a set (or left to the
/// reference path), so that a reader that meets the lists in the order of their headers can
/// append their elements after the fixed part as it reads them.
fn flat(nodes: &[Node], records: &[RecordPlan]) -> bool {
    // Whether `node` holds a list, memoised per node (the builder rejects recursive records,
    // so the nodes form no cycle).
    fn holds_list(
        nodes: &[Node],
        records: &[RecordPlan],
        memo: &mut [Option<bool>],
        node: u32,
    ) -> bool {
        if let Some(Some(known)) = memo.get(node as usize) {
            return *known;
        }
        let holds = match nodes.get(node as usize) {
            Some(Node::List { .. }) | None => true,
            Some(Node::Optional(inner)) => holds_list(nodes, records, memo, *inner),
            Some(Node::Record(r)) => records.get(*r as usize).is_none_or(|rec| {
                rec.fields
                    .iter()
                    .any(|f| holds_list(nodes, records, memo, f.node))
            }),
            Some(_) => false,
        };
        if let Some(m) = memo.get_mut(node as usize) {
            *m = Some(holds);
        }
        holds
    }
    let mut memo = vec![None; nodes.len()];
    nodes.iter().all(|n| match n {
        Node::List { elem, set, .. } => !*set && !holds_list(nodes, records, &mut memo, *elem),
        Node::Other => false,
        _ => true,
    })
}

impl Plan {
    fn new(module: &JitModule, policy: usize) -> Result<Plan, String> {
        let c = match module.policies.get(policy) {
            Some(Entry::Compiled(c)) => c,
            Some(Entry::Unsupported(why)) => {
                return Err(format!(
                    "policy #{policy} is not compiled by the JIT: it {why}"
                ));
            }
            None => return Err(format!("no policy #{policy} in the program")),
        };
        let program = &module.program;
        let pol = &program.policies[policy];
        // A module built without the compiler's E0221: the reader has no way to read its
        // input, which the reference path refuses whatever it is (`bind::RESERVED_KEYS`).
        if let Some(p) =
            (pol.params.iter()).find(|p| bind::RESERVED_KEYS.contains(&p.name.as_str()))
        {
            return Err(format!(
                "policy {} has a parameter named \"{}\", one of the input's own keys (E0221): \
                 no input can be read for it",
                pol.qualified, p.name
            ));
        }
        let mut b = PlanBuilder {
            program,
            nodes: Vec::new(),
            records: Vec::new(),
            record_of: FxHashMap::default(),
        };
        let params: Vec<(String, Type)> = pol
            .params
            .iter()
            .map(|p| (p.name.clone(), p.ty.clone()))
            .collect();
        let reads: Vec<&Reads> = (0..params.len())
            .map(|i| c.reads.get(i).unwrap_or(&Reads::All))
            .collect();
        let params = b.fields(&params, &reads, 0)?;

        let mut names: Vec<Box<str>> = vec![Box::from(""); module.strings.len()];
        let mut strings = Names::default();
        for (s, &id) in &module.strings {
            if let Some(slot) = usize::try_from(id).ok().and_then(|i| names.get_mut(i)) {
                *slot = s.as_str().into();
            }
            strings.insert(s, id);
        }
        // `Program::symbol` accepts a symbol's qualified name or (unambiguous) short name.
        let mut symbols: [Names; 3] = Default::default();
        for sym in &program.symbols {
            for name in [&sym.name, &sym.qualified] {
                if let Some(i) = program.symbol(sym.kind, name) {
                    symbols[kind_index(sym.kind)].insert(name, i64::from(i));
                }
            }
        }
        let enums = program
            .enums
            .iter()
            .map(|e| {
                let mut m = Names::default();
                // The first variant of a name wins, as in `bind`.
                for (i, v) in e.variants.iter().enumerate() {
                    m.insert(v, i as i64);
                }
                m
            })
            .collect();
        let direct = flat(&b.nodes, &b.records);
        Ok(Plan {
            direct,
            module: module.id,
            policy,
            input_words: c.input_words,
            nodes: b.nodes,
            records: b.records,
            params,
            strings,
            names,
            symbols,
            enums,
        })
    }
}

/// A word that holds the provisional index of a string that is no constant.
const TAG_UNKNOWN: u32 = 1;
/// A word that holds a `Tz` id; the zone is entry `tag >> 2` of [`Scratch::zones`].
const TAG_TZ: u32 = 2;

/// The words of the fixed part (segment 0) or of one list's elements.
#[derive(Debug, Clone, Default)]
struct Segment {
    words: Vec<i64>,
    /// Per word: 0, or [`TAG_UNKNOWN`] / [`TAG_TZ`] bits.
    tags: Vec<u32>,
    /// The segment and word of the list's two header words.
    parent: usize,
    offset: usize,
}

impl Segment {
    /// Makes the words up to `len` exist (zeroed when new). A list grows by doubling, so its
    /// elements cost a resize each only for the first few; [`Cx::end_list`] cuts it to size.
    #[inline(always)]
    fn room(&mut self, len: usize) {
        if self.words.len() < len {
            let to = len.max(2 * self.words.len()).max(16);
            self.words.resize(to, 0);
            self.tags.resize(to, 0);
        }
    }
}

/// A zone name met in an input, kept across calls (looking a zone up costs microseconds).
#[derive(Debug, Clone)]
struct ZoneEntry {
    text: String,
    /// The zone's IANA name, as `bind` keeps it.
    canonical: String,
    /// The name's id if it is a constant of the reader's plan (looked up once, not per input).
    constant: Option<i64>,
    zone: crate::zone::Zone,
}

/// The most words the elements of the lists of an input the fast paths read may take:
/// [`bind::WORDS_SLACK`], which any input's may take whatever its size. Past it they give up
/// before growing further, and the reference path binds or refuses the input
/// ([`bind::max_words`], which counts its values).
pub(super) const MAX_WORDS: usize = bind::WORDS_SLACK;

/// Zone names kept at most: the cache is emptied when an input starts with it full, and an
/// input that names more distinct zone texts than fit (say, one name in many letter cases:
/// each is a text of its own) goes to the reference path, so that no input grows the cache or
/// makes its linear look-up quadratic.
const MAX_ZONES: usize = 64;

/// The strings of an input that are no constant, in order of first appearance in the text:
/// the first `n` of `list` (the rest are buffers kept for the next input), and an index of
/// them by content when there are many (built anew per input once their number passes
/// [`LINEAR_STRINGS`]).
#[derive(Debug, Clone, Default)]
struct Unknown {
    list: Vec<String>,
    n: usize,
    index: StrIndex,
}

impl Unknown {
    /// The provisional index of `text` among the strings, added as the next one if it is not
    /// there. Fewer than [`LINEAR_STRINGS`] are compared one by one here (this path is every
    /// input's, counted to the instruction); from there on, out of line, including the string
    /// whose coming builds the index.
    fn index_of(&mut self, text: &str) -> i64 {
        if self.n >= LINEAR_STRINGS {
            return self.index_of_many(text);
        }
        let known = self.list.get(..self.n).unwrap_or_default();
        if let Some(k) = known
            .iter()
            .position(|u| same(u.as_bytes(), text.as_bytes()))
        {
            return k as i64;
        }
        self.push(text);
        (self.n - 1) as i64
    }

    #[inline(never)]
    fn index_of_many(&mut self, text: &str) -> i64 {
        let known = self.list.get(..self.n).unwrap_or_default();
        let found = if known.len() <= LINEAR_STRINGS {
            known
                .iter()
                .position(|u| same(u.as_bytes(), text.as_bytes()))
        } else {
            self.index.find(known, text)
        };
        if let Some(k) = found {
            return k as i64;
        }
        self.push(text);
        self.index
            .added(self.list.get(..self.n).unwrap_or_default());
        (self.n - 1) as i64
    }

    /// Makes `text` the next string.
    #[inline(always)]
    fn push(&mut self, text: &str) {
        if self.n == self.list.len() {
            self.list.push(String::new());
        }
        if let Some(slot) = self.list.get_mut(self.n) {
            slot.clear();
            slot.push_str(text);
        }
        self.n += 1;
    }
}

/// Buffers reused across calls.
#[derive(Debug, Clone, Default)]
struct Scratch {
    segments: Vec<Segment>,
    used: usize,
    /// The words of the lists' elements read into segments so far, held to [`MAX_WORDS`].
    elements: usize,
    /// Strings that are no constant, in order of first appearance in the text.
    strings: Unknown,
    zones: Vec<ZoneEntry>,
    /// Placement: segments sorted by parent, the queue, each segment's final start.
    by_parent: Vec<usize>,
    queue: Vec<usize>,
    start: Vec<usize>,
    tags: Vec<u32>,
    canon: Vec<u32>,
    order: Vec<usize>,
    set: Vec<(i64, u32)>,
    /// Direct mode (the scanner on a [`Plan::direct`] plan): a word goes straight to word
    /// `seg + at` of `out` (a "segment" is the position of its first word), which becomes the
    /// input's words, and only the words that need renumbering are noted.
    direct: bool,
    out: Vec<i64>,
    /// Direct mode: the words holding a string that is no constant (position, provisional
    /// index), and those holding a zone (position, index into `zones`), in text order.
    unknown_at: Vec<(usize, u32)>,
    zone_at: Vec<(usize, u32)>,
    /// Direct mode: the header of the last list read (lists must come in layout order).
    last_list: Option<usize>,
}

/// Reads JSON text into a compiled policy's input layout ([`Bound`]); see the module
/// documentation. Built by [`JitModule::json_reader`]; cheap to clone (one per thread).
#[derive(Debug, Clone)]
pub struct JsonReader {
    plan: Arc<Plan>,
    scratch: Scratch,
    fell_back: bool,
    /// Whether to try the direct scanner first.
    scan: bool,
    /// Whether the last input was read by the direct scanner.
    scanned: bool,
    /// Whether the last input was read by the direct scanner in direct mode.
    direct: bool,
    /// Whether to replay the learned shape first, and whether the last input was replayed.
    replay: bool,
    replayed: bool,
    /// The shape of the last input the scanner read in direct mode, and the scanner's trace.
    shape: shape::Shape,
    trace: Vec<scan::Event>,
    /// Replays that gave up in a row, and how many inputs to read before trying again.
    misses: u32,
    skip: u32,
    /// The signal values the last input gave (`signals`; only the reference path binds them).
    signals: Vec<(u32, crate::value::Value)>,
    /// Whether to compile a shape replayed often ([`JsonReader::set_compile`]), its code, the
    /// replays of the current shape since it was learned, the shapes compiled so far, and
    /// whether the last input was read by the code.
    compile: bool,
    code: Option<Arc<reader::ShapeCode>>,
    hits: u32,
    compiles: u32,
    compiled: bool,
}

/// Replays of one shape before it is compiled. Compiling the contact input's shape costs about
/// 2.5 ms and saves about 40 ns per input (docs/performance.md), so it pays after about 60,000
/// inputs: a reader that has replayed that many is likely to read many more of them.
const COMPILE_AFTER: u32 = 1 << 16;

/// Shapes compiled at most per reader.
const MAX_COMPILES: u32 = 8;

impl JitModule {
    /// A reader of JSON input for policy `policy`, or why there is none (the policy is not
    /// compiled, or does not exist).
    pub fn json_reader(&self, policy: usize) -> Result<JsonReader, String> {
        Ok(JsonReader {
            plan: Arc::new(Plan::new(self, policy)?),
            scratch: Scratch::default(),
            fell_back: false,
            scan: true,
            scanned: false,
            direct: false,
            replay: true,
            replayed: false,
            shape: shape::Shape::default(),
            trace: Vec::new(),
            misses: 0,
            skip: 0,
            signals: Vec::new(),
            compile: true,
            code: None,
            hits: 0,
            compiles: 0,
            compiled: false,
        })
    }
}

impl Bound {
    /// An empty input for [`JsonReader::bind_json_into`] (or [`JitModule::bind_into`]) to fill.
    pub fn empty() -> Bound {
        Bound {
            module: 0,
            policy: usize::MAX,
            decision: false,
            words: Vec::new(),
            unknown: Vec::new(),
            unknown_base: 0,
            index: super::StrIndex::default(),
            zones: super::Zones::default(),
        }
    }

    /// Whether two inputs are laid out identically: same module and policy, same words, same
    /// strings that are no constant, same zones (by name, and each with its own table). For
    /// tests of the binders.
    pub fn same_layout(&self, other: &Bound) -> bool {
        let zones = |b: &Bound| -> Vec<(i64, Option<String>)> {
            b.zones
                .iter()
                .map(|(id, z)| {
                    (
                        *id,
                        z.as_ref()
                            .and_then(|z| z.tz().iana_name().map(String::from)),
                    )
                })
                .collect()
        };
        self.module == other.module
            && self.policy == other.policy
            && self.words == other.words
            && self.unknown == other.unknown
            && self.unknown_base == other.unknown_base
            && zones(self) == zones(other)
            && self.zones.consistent()
            && other.zones.consistent()
    }

    /// The input's words (the fixed part, then the lists' elements). For tests and tools.
    pub fn words(&self) -> &[i64] {
        &self.words
    }

    /// The input's strings that are no constant of the module, in the order of their ids.
    /// Strings no rule reads are not among them (see [`crate::reads::Reads`]). For tests and
    /// tools.
    pub fn strings(&self) -> &[String] {
        &self.unknown
    }
}

impl JsonReader {
    /// Reads `json` (the input of `xop eval`: one key per parameter, optional `now` and
    /// `signals`) into `into`, reusing its buffers, and returns the input's `now` (ms), if it
    /// gives one. The result equals [`crate::bind::bind_json`] then [`JitModule::bind_into`]
    /// on every input, errors included.
    pub fn bind_json_into(
        &mut self,
        module: &JitModule,
        json: &str,
        into: &mut Bound,
    ) -> Result<Option<i64>, JsonError> {
        if module.id != self.plan.module {
            return Err(JsonError::Refused(Decision::failed(
                RUNTIME_ERROR,
                Vec::new(),
                "the JSON reader was made for another module".into(),
            )));
        }
        self.signals.clear();
        if let Some(now) = self.fast(module, json, into) {
            self.fell_back = false;
            return Ok(now);
        }
        self.fell_back = true;
        self.scanned = false;
        self.direct = false;
        self.replayed = false;
        // The reference path words every error, and binds what the fast path leaves to it.
        let policy = self.plan.policy;
        let bound = bind::bind_json(&module.program, policy, json).map_err(JsonError::Input)?;
        module
            .bind_into(policy, &bound.args, into)
            .map_err(JsonError::Refused)?;
        self.signals = bound.signals;
        Ok(bound.now_ms)
    }

    /// The signal values the last input gave in its `signals` (by signal index; empty when it
    /// gave none or `null`), for deciding it as the interpreter would: pass them to
    /// [`JitModule::run_with_signals`] through [`crate::interp::FixedSignals`]. The layout
    /// [`Self::bind_json_into`] writes holds only the arguments.
    pub fn signals(&self) -> &[(u32, crate::value::Value)] {
        &self.signals
    }

    /// Whether the last call took the reference path (refused input, or input the fast paths
    /// leave to it).
    pub fn fell_back(&self) -> bool {
        self.fell_back
    }

    /// Whether the last call was read by the direct scanner (the first fast path: plain JSON
    /// of the expected shape), not by the serde-driven path nor the reference.
    pub fn scanned(&self) -> bool {
        self.scanned
    }

    /// Whether the last call was read by the direct scanner straight into the input's final
    /// layout (a policy whose lists hold no lists and that has no sets; see
    /// [`JsonReader::scanned`]), rather than into segments placed afterwards.
    pub fn direct(&self) -> bool {
        self.direct
    }

    /// Whether the last call was read by replaying the shape learned from an earlier input
    /// (see [`JsonReader::set_replay`]); such a call is also [`JsonReader::scanned`] and
    /// [`JsonReader::direct`].
    pub fn replayed(&self) -> bool {
        self.replayed
    }

    /// Whether the last call was read by the learned shape's compiled code (see
    /// [`JsonReader::set_compile`]); such a call is also [`JsonReader::replayed`].
    pub fn compiled(&self) -> bool {
        self.compiled
    }

    /// Turns compiling learned shapes on (the default) or off. On, a shape replayed 65,536
    /// times is compiled to native code that reads the next inputs of that shape (at most
    /// eight shapes per reader); off, or where the code gives up, the shape is replayed.
    /// [`JsonReader::compile_now`] compiles at once.
    pub fn set_compile(&mut self, on: bool) {
        self.compile = on;
        // Turned on again, the replays are counted anew.
        self.hits = 0;
        if !on {
            self.code = None;
        }
    }

    /// Compiles the learned shape now (for tests and benchmarks), whether or not it was
    /// replayed often; whether there is code for it now.
    pub fn compile_now(&mut self) -> bool {
        if self.code.is_none() && self.shape.learned() {
            self.code = self
                .shape
                .ops(&self.plan)
                .and_then(|ops| reader::ShapeCode::compile(&ops, self.plan.input_words));
        }
        self.code.is_some()
    }

    /// Turns the direct scanner on (the default) or off. Off, every input is read by the
    /// serde-driven path or the reference: for benchmarks and tests of that path alone.
    pub fn set_scan(&mut self, on: bool) {
        self.scan = on;
    }

    /// Turns replaying on (the default) or off. On a flat plan, the reader learns the shape
    /// of each input its scanner reads (its keys in their order, its punctuation and
    /// blanks) and reads the next input against that shape first: only the values are read,
    /// the rest compared as exact bytes. An input of another shape is read by the scanner.
    pub fn set_replay(&mut self, on: bool) {
        self.replay = on;
        self.shape.forget();
        self.code = None;
        self.hits = 0;
    }

    /// The fast path: `None` if the input is not one it reads (then `into` is garbage).
    fn fast(&mut self, module: &JitModule, json: &str, into: &mut Bound) -> Option<Option<i64>> {
        let plan = &*self.plan;
        let s = &mut self.scratch;
        if s.zones.len() >= MAX_ZONES {
            s.zones.clear();
        }
        let mut now = None;
        // The learned shape's code first, then the shape replayed (both on a flat plan only),
        // then the direct scanner, then the serde path; if one gives up, the next reads the
        // text again from a clean slate.
        self.compiled = self.scan && plan.direct && self.replay && self.skip == 0 && {
            match &self.code {
                Some(code) => {
                    s.begin(plan, true);
                    let mut cx = Cx { plan, s, now: None };
                    let read = code.read(&mut HostRead {
                        cx: &mut cx,
                        text: json,
                    });
                    now = cx.now;
                    read
                }
                None => false,
            }
        };
        if self.compiled {
            // A read of the learned shape, as a replay that hit.
            self.misses = 0;
        }
        self.replayed = self.compiled
            || self.scan && plan.direct && self.replay && self.shape.learned() && {
                if self.skip > 0 {
                    self.skip -= 1;
                    false
                } else {
                    s.begin(plan, true);
                    let mut cx = Cx { plan, s, now: None };
                    let hit = self.shape.replay(&mut cx, json).is_some();
                    now = cx.now;
                    // Replayed often enough: compile the shape, once (and a few shapes per
                    // reader at most, so that inputs of changing shapes do not compile on and
                    // on).
                    self.hits = self.hits.saturating_add(u32::from(hit));
                    if hit
                        && self.hits == COMPILE_AFTER
                        && self.code.is_none()
                        && self.compile
                        && self.compiles < MAX_COMPILES
                    {
                        self.compiles += 1;
                        self.code = self
                            .shape
                            .ops(plan)
                            .and_then(|ops| reader::ShapeCode::compile(&ops, plan.input_words));
                    }
                    // Inputs of changing shapes: after four misses in a row, try again only after
                    // 1, 3, 7, … up to 63 inputs.
                    self.misses = if hit {
                        0
                    } else {
                        self.misses.saturating_add(1)
                    };
                    self.skip = (1u32 << self.misses.saturating_sub(3).min(6)) - 1;
                    hit
                }
            };
        self.scanned = self.replayed
            || self.scan && {
                let root = s.begin(plan, plan.direct);
                // Traced only where a shape can be learned from it.
                let learn = s.direct && self.replay;
                let mut cx = Cx { plan, s, now: None };
                let trace = learn.then_some(&mut self.trace);
                let read = scan::read(&mut cx, json, root, trace).is_some();
                now = cx.now;
                if read && learn {
                    self.shape.learn(plan, &self.trace, json.as_bytes());
                    self.code = None;
                    self.hits = 0;
                }
                read
            };
        if !self.scanned {
            let root = s.begin(plan, false);
            let mut cx = Cx { plan, s, now: None };
            let mut de = serde_json::Deserializer::from_str(json);
            Root {
                cx: &mut cx,
                seg: root,
            }
            .deserialize(&mut de)
            .ok()?;
            de.end().ok()?;
            now = cx.now;
        }
        // Lists' elements past the words any input's may take without counting its values:
        // binding may refuse it (`bind::max_words`), the reference decides. Into segments,
        // the elements were counted as read, repeats of a set included, as binding counts them
        // (`Scratch::element`); in direct mode the words after the fixed part are theirs, and
        // compiled code may have written them into room kept from an earlier input without
        // asking for more.
        let s = &self.scratch;
        let words = match s.direct {
            true => s.out.len().saturating_sub(plan.input_words),
            false => s.elements,
        };
        if words > MAX_WORDS {
            return None;
        }
        self.direct = self.scratch.direct;
        if self.direct {
            self.place_direct(module, into)?;
        } else {
            self.place(module, into)?;
        }
        Some(now)
    }

    /// [`JsonReader::place`] after the direct scanner: the words are in place already; the
    /// strings that are no constant are numbered in the order the layout meets them, and the
    /// zones listed in that order.
    fn place_direct(&mut self, module: &JitModule, into: &mut Bound) -> Option<()> {
        let plan = &*self.plan;
        let s = &mut self.scratch;
        into.module = plan.module;
        into.policy = plan.policy;
        into.decision = false;
        // Text order is layout order unless keys came out of order: then sort (few entries).
        s.unknown_at.sort_unstable_by_key(|&(pos, _)| pos);
        s.zone_at.sort_unstable_by_key(|&(pos, _)| pos);
        let base = module.strings.len() as i64;
        s.canon.clear();
        s.canon.resize(s.strings.n, u32::MAX);
        s.order.clear();
        for &(pos, k) in &s.unknown_at {
            let c = s.canon.get_mut(k as usize)?;
            if *c == u32::MAX {
                *c = s.order.len() as u32;
                s.order.push(k as usize);
            }
            *s.out.get_mut(pos)? = base + i64::from(*c);
        }
        // The zones in layout order, each id once; the entries the input had already (the
        // last input read into it, usually) are kept.
        let mut n = 0;
        for &(pos, z) in &s.zone_at {
            let w = *s.out.get(pos)?;
            if !into.zones.iter().take(n).any(|(id, _)| *id == w) {
                into.zones.set(n, w, &s.zones.get(z as usize)?.zone);
                n += 1;
            }
        }
        into.zones.truncate(n);
        std::mem::swap(&mut s.out, &mut into.words);
        s.unknown(into, base)
    }

    /// Lays the segments out as [`JitModule::bind_into`] does (the fixed part, then each list's
    /// elements, breadth first in the order the lists are met) and numbers the strings that
    /// are no constant in the order that layout meets them.
    fn place(&mut self, module: &JitModule, into: &mut Bound) -> Option<()> {
        let plan = &*self.plan;
        let s = &mut self.scratch;
        into.module = plan.module;
        into.policy = plan.policy;
        into.decision = false;
        into.words.clear();
        into.zones.clear();
        s.tags.clear();
        s.by_parent.clear();
        s.by_parent.extend(1..s.used);
        let segments = &s.segments;
        s.by_parent
            .sort_unstable_by_key(|&i| (segments[i].parent, segments[i].offset));
        s.start.clear();
        s.start.resize(s.used, 0);
        s.queue.clear();
        s.queue.push(0);
        let mut q = 0;
        while q < s.queue.len() {
            let id = s.queue[q];
            q += 1;
            let seg = s.segments.get(id)?;
            let start = into.words.len();
            into.words.extend_from_slice(&seg.words);
            s.tags.extend_from_slice(&seg.tags);
            s.start[id] = start;
            if id != 0 {
                let header = s.start.get(seg.parent)? + seg.offset;
                *into.words.get_mut(header)? = start as i64;
            }
            let from = s.by_parent.partition_point(|&c| segments[c].parent < id);
            let to = s.by_parent.partition_point(|&c| segments[c].parent <= id);
            s.queue.extend_from_slice(s.by_parent.get(from..to)?);
        }
        // Strings that are no constant: ids in order of first appearance in the layout.
        let base = module.strings.len() as i64;
        s.canon.clear();
        s.canon.resize(s.strings.n, u32::MAX);
        s.order.clear();
        for (w, &tag) in into.words.iter_mut().zip(&s.tags) {
            if tag & TAG_UNKNOWN != 0 {
                let k = usize::try_from(*w).ok()?;
                let c = s.canon.get_mut(k)?;
                if *c == u32::MAX {
                    *c = s.order.len() as u32;
                    s.order.push(k);
                }
                *w = base + i64::from(*c);
            }
            if tag & TAG_TZ != 0 && !into.zones.iter().any(|(id, _)| id == w) {
                let zone = s.zones.get((tag >> 2) as usize)?.zone.clone();
                into.zones.push((*w, Some(zone)));
            }
        }
        s.unknown(into, base)
    }
}

impl Scratch {
    /// The strings that are no constant, in the order of `self.order`, into `into`: the
    /// buffers are swapped, not copied (the ones `into` held come back here for the next
    /// input, which clears each before use).
    fn unknown(&mut self, into: &mut Bound, base: i64) -> Option<()> {
        into.unknown.truncate(self.order.len());
        into.unknown.resize_with(self.order.len(), String::new);
        for (u, &k) in into.unknown.iter_mut().zip(&self.order) {
            std::mem::swap(u, self.strings.list.get_mut(k)?);
        }
        // Their order is not the text's: the input's own index, for the run's look-ups.
        if into.unknown.len() > LINEAR_STRINGS {
            into.index.build(&into.unknown);
        }
        into.unknown_base = base;
        Some(())
    }

    /// A zeroed segment of `words` words whose header is word `offset` of segment `parent`.
    fn new_segment(&mut self, parent: usize, offset: usize, words: usize) -> usize {
        if self.used == self.segments.len() {
            self.segments.push(Segment::default());
        }
        let seg = &mut self.segments[self.used];
        seg.words.clear();
        seg.words.resize(words, 0);
        seg.tags.clear();
        seg.tags.resize(words, 0);
        seg.parent = parent;
        seg.offset = offset;
        self.used += 1;
        self.used - 1
    }

    /// Starts reading an input from a clean slate (only the zone cache survives, which holds
    /// no input state), in direct mode (the fixed part's words zeroed, nothing noted) or into
    /// segments; returns the fixed part's segment (in direct mode, its position: 0).
    fn begin(&mut self, plan: &Plan, direct: bool) -> usize {
        self.used = 0;
        self.elements = 0;
        self.strings.n = 0;
        self.direct = direct;
        if !direct {
            return self.new_segment(usize::MAX, 0, plan.input_words);
        }
        self.out.clear();
        self.out.resize(plan.input_words, 0);
        self.unknown_at.clear();
        self.zone_at.clear();
        self.last_list = None;
        0
    }

    /// Counts an element of `words` words read into a segment: `None` (the reference path)
    /// once the input's lists pass [`MAX_WORDS`], before their room grows further.
    fn element(&mut self, words: usize) -> Option<()> {
        self.elements = self.elements.saturating_add(words);
        (self.elements <= MAX_WORDS).then_some(())
    }

    #[inline(always)]
    fn put(&mut self, seg: usize, at: usize, word: i64, tag: u32) -> Option<()> {
        if self.direct {
            let pos = seg + at;
            *self.out.get_mut(pos)? = word;
            if tag != 0 {
                self.note(pos, word, tag)?;
            }
            return Some(());
        }
        let s = self.segments.get_mut(seg)?;
        *s.words.get_mut(at)? = word;
        *s.tags.get_mut(at)? = tag;
        Some(())
    }

    /// Direct mode: notes a word that [`JsonReader::place_direct`] renumbers or reads a zone
    /// from.
    #[inline(never)]
    fn note(&mut self, pos: usize, word: i64, tag: u32) -> Option<()> {
        if tag & TAG_UNKNOWN != 0 {
            self.unknown_at.push((pos, u32::try_from(word).ok()?));
        }
        if tag & TAG_TZ != 0 {
            self.zone_at.push((pos, tag >> 2));
        }
        Some(())
    }

    /// A string's id if it is a constant, else its provisional index and [`TAG_UNKNOWN`].
    fn intern(&mut self, plan: &Plan, text: &str) -> (i64, u32) {
        if let Some(id) = plan.strings.get(text) {
            return (id, 0);
        }
        (self.strings.index_of(text), TAG_UNKNOWN)
    }

    /// The zone entry for `text`, looked up (as `bind` and the input check do) on a miss.
    fn zone(&mut self, plan: &Plan, text: &str) -> Option<usize> {
        if let Some(i) = self
            .zones
            .iter()
            .position(|z| same(z.text.as_bytes(), text.as_bytes()))
        {
            return Some(i);
        }
        if self.zones.len() >= MAX_ZONES {
            return None;
        }
        let tz = TimeZone::get(text).ok()?;
        let canonical = tz.iana_name().unwrap_or(text).to_string();
        // What the layout keeps, and what the input check requires to be a known zone.
        let zone = crate::intrinsics::time_zone(&canonical).ok()?;
        self.zones.push(ZoneEntry {
            text: text.to_string(),
            constant: plan.strings.get(&canonical),
            canonical,
            zone,
        });
        Some(self.zones.len() - 1)
    }

    /// The words of the zone entry `z`: its name's id and tags, as [`Scratch::intern`] gives
    /// them for the name, with [`TAG_TZ`] and the entry.
    #[inline(always)]
    fn zone_word(&mut self, z: usize) -> Option<(i64, u32)> {
        let Scratch { zones, strings, .. } = self;
        let e = zones.get(z)?;
        let (w, tag) = match e.constant {
            Some(id) => (id, 0),
            None => (strings.index_of(&e.canonical), TAG_UNKNOWN),
        };
        Some((w, tag | TAG_TZ | ((z as u32) << 2)))
    }

    /// The text of a string word, for sorting sets.
    fn text<'a>(&'a self, plan: &'a Plan, word: i64, tag: u32) -> &'a str {
        let i = usize::try_from(word).unwrap_or(usize::MAX);
        if tag & TAG_UNKNOWN != 0 {
            self.strings.list.get(i).map_or("", String::as_str)
        } else {
            plan.names.get(i).map_or("", |s| s)
        }
    }
}

/// What compiled shape code ([`super::reader`]) calls back into: the replay's own code at the
/// position the code has reached, over the reader's [`Cx`] and the text.
pub(super) struct HostRead<'h, 'a> {
    cx: &'h mut Cx<'a>,
    text: &'h str,
}

impl<'h> HostRead<'h, '_> {
    /// The text being read.
    pub(super) fn text(&self) -> &'h str {
        self.text
    }

    /// The words' address, capacity and length (they may move when a list grows).
    pub(super) fn out(&mut self) -> (*mut i64, usize, usize) {
        let out = &mut self.cx.s.out;
        (out.as_mut_ptr(), out.capacity(), out.len())
    }

    /// The header of the last list begun, or -1.
    pub(super) fn last_list(&self) -> i64 {
        self.cx.s.last_list.map_or(-1, |h| h as i64)
    }

    /// The words, which compiled code writes through their address and whose length it
    /// moves (see [`super::reader`]).
    pub(super) fn words(&mut self) -> &mut Vec<i64> {
        &mut self.cx.s.out
    }

    /// Sets the header of the last list begun (-1: none).
    pub(super) fn set_last_list(&mut self, last: i64) {
        self.cx.s.last_list = usize::try_from(last).ok();
    }

    /// A value of node `node` at byte `pos`, its words at `base + at`, as the replay reads it:
    /// the position after it.
    pub(super) fn value(&mut self, node: u32, base: usize, at: usize, pos: usize) -> Option<usize> {
        let n = *self.cx.plan.nodes.get(node as usize)?;
        let mut p = scan_at(self.text, pos)?;
        p.value_of(self.cx, node, n, base, at)?;
        Some(self.text.len() - p.rest.len())
    }

    /// A string of node `node` (Text, Id or Tz) whose text is the `len` bytes from byte
    /// `start` (which the scanner's `string` would read: no escape), its word at `word`.
    pub(super) fn string(
        &mut self,
        node: u32,
        word: usize,
        start: usize,
        len: usize,
    ) -> Option<()> {
        let n = *self.cx.plan.nodes.get(node as usize)?;
        let s = self.text.get(start..start.checked_add(len)?)?;
        self.cx.str(n, 0, word, s)
    }

    /// A zone name whose text is the `len` bytes from byte `start` (which the scanner's
    /// `string` would read: no escape), its word at `word`: as [`Cx::str`] reads a Tz.
    pub(super) fn zone(&mut self, word: usize, start: usize, len: usize) -> Option<()> {
        let s = self.text.get(start..start.checked_add(len)?)?;
        self.cx.zone(0, word, s)
    }

    /// A list's element of node `elem` read whole by the scanner from byte `pos`, its words
    /// from `base` (the replay's `scan_element`): the position after it.
    pub(super) fn element(&mut self, elem: u32, base: usize, pos: usize) -> Option<usize> {
        let mut p = scan_at(self.text, pos)?;
        p.value_untraced(self.cx, elem, base, 0)?;
        Some(self.text.len() - p.rest.len())
    }

    /// `now` read by compiled code.
    pub(super) fn set_now(&mut self, now: i64) {
        self.cx.now = Some(now);
    }

    /// The value of `now` at byte `pos`: the position after it.
    pub(super) fn now(&mut self, pos: usize) -> Option<usize> {
        let mut p = scan_at(self.text, pos)?;
        let now = p.now()?;
        let end = self.text.len() - p.rest.len();
        self.cx.now = now;
        Some(end)
    }

    /// Makes room for the words up to `need` (their capacity, growing by doubling; compiled
    /// code zeroes the words it uses).
    pub(super) fn room(&mut self, need: usize) -> Option<()> {
        if need.saturating_sub(self.cx.plan.input_words) > MAX_WORDS {
            return None;
        }
        let out = &mut self.cx.s.out;
        out.reserve(need.saturating_sub(out.len()));
        Some(())
    }
}

/// A scanner (untraced) at byte `pos` of `text`.
fn scan_at(text: &str, pos: usize) -> Option<scan::Scan<'_>> {
    let mut p = scan::Scan::new(text, Vec::new(), 1);
    p.rest = text.as_bytes().get(pos..)?;
    Some(p)
}

/// What the seeds (and the direct scanner) share while reading one input.
struct Cx<'a> {
    plan: &'a Plan,
    s: &'a mut Scratch,
    now: Option<i64>,
}

/// What a value means, whichever tokenizer read it: the serde seeds and the direct scanner
/// ([`scan`]) both go through these, so they cannot differ in what they write.
impl Cx<'_> {
    /// The node past any optionals of `node` (a non-null value: their presence words set to
    /// 1), and where its words go.
    #[inline]
    fn present(&mut self, node: u32, seg: usize, mut at: usize) -> Option<(Node, usize)> {
        let mut node = self.plan.nodes.get(node as usize).copied();
        while let Some(Node::Optional(inner)) = node {
            self.s.put(seg, at, 1, 0)?;
            at += 1;
            node = self.plan.nodes.get(inner as usize).copied();
        }
        node.map(|n| (n, at))
    }

    /// Whether `null` is accepted for `node` (an optional: its words stay 0).
    #[inline]
    fn null(&self, node: u32) -> bool {
        matches!(self.plan.nodes.get(node as usize), Some(Node::Optional(_)))
    }

    /// An integer for the (present) node `node`.
    #[inline]
    fn int(&mut self, node: Node, seg: usize, at: usize, n: i64) -> Option<()> {
        match node {
            Node::Int | Node::Duration => self.s.put(seg, at, n, 0),
            // `bind` reads the number's text: an integer's is `Decimal::from`'s (scale 0).
            Node::Decimal => self.decimal(seg, at, rust_decimal::Decimal::from(n)),
            _ => None,
        }
    }

    /// A boolean for the (present) node `node`.
    #[inline]
    fn bool(&mut self, node: Node, seg: usize, at: usize, b: bool) -> Option<()> {
        match node {
            Node::Bool => self.s.put(seg, at, i64::from(b), 0),
            _ => None,
        }
    }

    /// A string for the (present) node `node`. The common kinds inline; the rest out of line.
    #[inline(always)]
    fn str(&mut self, node: Node, seg: usize, at: usize, s: &str) -> Option<()> {
        match node {
            Node::Text | Node::Id => {
                let (w, tag) = self.s.intern(self.plan, s);
                self.s.put(seg, at, w, tag)
            }
            // Read and checked by the caller; its word stays 0, as the reference binds it.
            Node::Unread => Some(()),
            Node::Time | Node::Symbol(_) | Node::Enum(_) => {
                self.str_bytes(node, seg, at, s.as_bytes())
            }
            _ => self.str_rare(node, seg, at, s),
        }
    }

    /// [`Cx::str`] for the kinds read from the string's bytes alone (times, symbols, enums):
    /// the direct scanner calls it without making a `&str` first.
    #[inline(always)]
    fn str_bytes(&mut self, node: Node, seg: usize, at: usize, s: &[u8]) -> Option<()> {
        let plan = self.plan;
        match node {
            Node::Time => self.s.put(seg, at, time(s)?, 0),
            Node::Symbol(kind) => {
                let i = plan.symbols[kind_index(kind)].find(s)?;
                self.s.put(seg, at, i, 0)
            }
            Node::Enum(e) => {
                let i = plan.enums.get(e as usize).and_then(|m| m.find(s))?;
                self.s.put(seg, at, i, 0)
            }
            _ => None,
        }
    }

    /// A zone name for a (present) Tz node: its cached zone (looked up on a miss), its name's
    /// word and the notes for placing it.
    #[inline(always)]
    fn zone(&mut self, seg: usize, at: usize, s: &str) -> Option<()> {
        let z = self.s.zone(self.plan, s)?;
        let (w, tag) = self.s.zone_word(z)?;
        if !self.s.direct {
            return self.s.put(seg, at, w, tag);
        }
        // Direct mode: the word and its notes (what `put` and `note` do) in line.
        let pos = seg + at;
        *self.s.out.get_mut(pos)? = w;
        if tag & TAG_UNKNOWN != 0 {
            self.s.unknown_at.push((pos, u32::try_from(w).ok()?));
        }
        self.s.zone_at.push((pos, tag >> 2));
        Some(())
    }

    /// [`Cx::str`] for the kinds met less often: zones, durations, decimals, money.
    #[inline(never)]
    fn str_rare(&mut self, node: Node, seg: usize, at: usize, s: &str) -> Option<()> {
        match node {
            Node::Tz => self.zone(seg, at, s),
            Node::Duration => self.s.put(seg, at, bind::parse_duration(s).ok()?, 0),
            Node::Decimal => self.decimal(seg, at, bind::parse_decimal(s).ok()?),
            Node::Money => {
                let (amount, currency) = money_text(s)?;
                self.decimal(seg, at, amount)?;
                self.currency(seg, at, currency)
            }
            _ => None,
        }
    }

    /// A decimal's two words at word `at` of segment `seg`.
    fn decimal(&mut self, seg: usize, at: usize, d: rust_decimal::Decimal) -> Option<()> {
        let [w0, w1] = super::dec_words(&d);
        self.s.put(seg, at, w0, 0)?;
        self.s.put(seg, at + 1, w1, 0)
    }

    /// Money's currency (a valid code), the word after its amount's at word `at`.
    fn currency(&mut self, seg: usize, at: usize, code: &str) -> Option<()> {
        let (w, tag) = self.s.intern(self.plan, code);
        self.s.put(seg, at + 2, w, tag)
    }

    /// Ends a list of `n` elements read into segment `list` (sorted and deduplicated if it is a
    /// set) by writing its length into its header, word `at + 1` of segment `seg`.
    #[allow(clippy::too_many_arguments)]
    fn end_list(
        &mut self,
        list: usize,
        n: usize,
        words: usize,
        elem: u32,
        set: bool,
        seg: usize,
        at: usize,
    ) -> Option<()> {
        let segment = self.s.segments.get_mut(list)?;
        segment.words.truncate(n * words);
        segment.tags.truncate(n * words);
        let mut n = n;
        if set {
            let plan = self.plan;
            let text = matches!(
                plan.nodes.get(elem as usize),
                Some(Node::Text | Node::Id | Node::Tz)
            );
            n = sort_set(plan, self.s, list, text);
        }
        self.s.put(seg, at + 1, n as i64, 0)
    }
}

/// Any refusal of the fast path: the reference path takes over and words the error.
fn no<E: de::Error>() -> E {
    E::custom("")
}

/// The top-level object: the parameters, `now`, `signals`.
struct Root<'c, 'a> {
    cx: &'c mut Cx<'a>,
    seg: usize,
}

impl<'de> DeserializeSeed<'de> for Root<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

/// A key of the top-level object.
enum RootKey {
    Param(usize),
    Now,
    Signals,
}

struct RootKeySeed<'p>(&'p Plan);

impl<'de> DeserializeSeed<'de> for RootKeySeed<'_> {
    type Value = RootKey;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<RootKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for RootKeySeed<'_> {
    type Value = RootKey;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a parameter name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<RootKey, E> {
        if let Some(i) = field_index(&self.0.params, key.as_bytes()) {
            Ok(RootKey::Param(i))
        } else if key == "now" {
            Ok(RootKey::Now)
        } else if key == "signals" {
            Ok(RootKey::Signals)
        } else {
            Err(no())
        }
    }
}

#[inline]
fn field_index(r: &RecordPlan, key: &[u8]) -> Option<usize> {
    r.index.find(key).and_then(|i| usize::try_from(i).ok())
}

impl<'de> Visitor<'de> for Root<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let plan = self.cx.plan;
        let mut seen = 0u128;
        let (mut now_seen, mut signals_seen) = (false, false);
        while let Some(key) = map.next_key_seed(RootKeySeed(plan))? {
            match key {
                RootKey::Param(i) => {
                    if seen & (1 << i) != 0 {
                        return Err(no());
                    }
                    seen |= 1 << i;
                    let f = &plan.params.fields[i];
                    map.next_value_seed(Slot {
                        cx: &mut *self.cx,
                        node: f.node,
                        seg: self.seg,
                        at: f.offset,
                    })?;
                }
                RootKey::Now => {
                    if now_seen {
                        return Err(no());
                    }
                    now_seen = true;
                    self.cx.now = map.next_value_seed(NowSeed)?;
                }
                RootKey::Signals => {
                    if signals_seen {
                        return Err(no());
                    }
                    signals_seen = true;
                    // Only `null` here; signals are bound by the reference path.
                    map.next_value_seed(NullSeed)?;
                }
            }
        }
        if plan.params.required & !seen != 0 {
            return Err(no());
        }
        Ok(())
    }
}

/// `now`: an RFC 3339 time or `null`.
struct NowSeed;

impl<'de> DeserializeSeed<'de> for NowSeed {
    type Value = Option<i64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<i64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NowSeed {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a time or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<i64>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<i64>, E> {
        time(s.as_bytes()).map(Some).ok_or_else(no)
    }
}

/// Accepts only `null`.
struct NullSeed;

impl<'de> DeserializeSeed<'de> for NullSeed {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NullSeed {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A time as `bind` reads it (jiff's RFC 3339), in ms since the epoch.
#[inline(always)]
fn time(s: &[u8]) -> Option<i64> {
    match fast_time(s) {
        Some(t) => Some(t),
        None => jiff_time(s),
    }
}

/// [`time`] for the forms [`fast_time`] leaves to jiff.
#[inline(never)]
fn jiff_time(s: &[u8]) -> Option<i64> {
    crate::time::parse_rfc3339(std::str::from_utf8(s).ok()?).ok()
}

/// Byte `k` of the result is `10 * d[k] + d[k + 1]` for the bytes `d` of `t`, each a digit's
/// value or 0 (as [`civil_ms`] leaves them): no byte carries into the next, since 99 fits a
/// byte.
#[inline(always)]
fn pairs(t: u64) -> u64 {
    t.wrapping_mul(10).wrapping_add(t >> 8)
}

/// The common form `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (years 1970 to 9998, seconds below 60,
/// 1 to 9 digits of fraction) without jiff's general parser; `None` for anything else, which
/// jiff then reads (so `None` is always a safe answer, and `Some` must be jiff's).
#[inline(always)]
fn fast_time(b: &[u8]) -> Option<i64> {
    let (head, tail) = b.split_first_chunk::<19>()?;
    let ms = match tail {
        [b'Z'] => 0,
        [b'.', frac @ .., b'Z'] => frac_ms(frac)?,
        _ => return None,
    };
    Some(civil_ms(head)? + ms)
}

/// `t` xor-ed with a word of these bytes has the digit's value in each digit byte of the
/// text (`'0'` to `'9'` and nothing else give 0 to 9) and 0 in each separator byte that is
/// the one its place requires (little-endian: byte 0 lowest).
pub(super) const YMD: u64 = u64::from_le_bytes(*b"0000-00-");
pub(super) const DTH: u64 = u64::from_le_bytes(*b"00T00:00");
pub(super) const HMS: u64 = u64::from_le_bytes(*b"00:00:00");

/// Added to a word xor-ed as above, per byte: 0x76 on a digit (the byte's high bit is then set
/// exactly when the value is above 9) and 0x7f on a separator (set exactly when it is not 0).
/// A byte that is 0x80 or more already has its high bit set; its carry into the next byte
/// can only change a test that fails anyway.
pub(super) const fn adds(template: u64) -> u64 {
    let mut add = 0;
    let mut k = 0;
    while k < 8 {
        let c = (template >> (8 * k)) & 0xff;
        add |= (if c == b'0' as u64 { 0x76 } else { 0x7f }) << (8 * k);
        k += 1;
    }
    add
}
pub(super) const HIGH: u64 = 0x8080_8080_8080_8080;

/// Days of each month less 28, two bits per month from bit 2 (January) on, February of a
/// common year.
const MONTH_EXTRA: u64 = {
    let extra: [u64; 12] = [3, 0, 3, 2, 3, 2, 3, 3, 2, 3, 2, 3];
    let mut t = 0;
    let mut m = 0;
    while m < 12 {
        t |= extra[m] << (2 * (m + 1));
        m += 1;
    }
    t
};

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS` (UTC), checked as jiff checks it:
/// three overlapping 8-byte words (`YYYY-MM-`, `DDTHH:MM`, `HH:MM:SS`) checked and converted
/// without a branch per byte, the fields' ranges tested together, the days counted from
/// the civil date with years starting in March (no month table). Years from 2100 on, whose
/// leap years are not every fourth, go to [`civil_ms_far`].
#[inline(always)]
fn civil_ms(h: &[u8; 19]) -> Option<i64> {
    let w0 = h.first_chunk::<8>()?;
    let w1 = h[8..].first_chunk::<8>()?;
    let w2 = h.last_chunk::<8>()?;
    let t0 = u64::from_le_bytes(*w0) ^ YMD;
    let t1 = u64::from_le_bytes(*w1) ^ DTH;
    let t2 = u64::from_le_bytes(*w2) ^ HMS;
    let bad = t0
        | t0.wrapping_add(const { adds(YMD) })
        | t1
        | t1.wrapping_add(const { adds(DTH) })
        | t2
        | t2.wrapping_add(const { adds(HMS) });
    if bad & HIGH != 0 {
        return None;
    }
    let (p0, p1, p2) = (pairs(t0), pairs(t1), pairs(t2));
    let byte = |w: u64, k: u32| (w >> (8 * k)) & 0xff;
    let y = byte(p0, 0) * 100 + byte(p0, 2);
    let (mo, d) = (byte(p0, 5), byte(p1, 0));
    let (hh, mi, ss) = (byte(p2, 0), byte(p2, 3), byte(p2, 6));
    if !(1970..2100).contains(&y) {
        return civil_ms_far(y, mo, d, hh, mi, ss);
    }
    // From 1970 to 2099 every fourth year is a leap year (2000 included).
    let leap = y & 3 == 0;
    let last = 28 + ((MONTH_EXTRA >> ((2 * mo) & 63)) & 3) + u64::from(mo == 2 && leap);
    let ok =
        (mo.wrapping_sub(1) < 12) & (d.wrapping_sub(1) < last) & (hh < 24) & (mi < 60) & (ss < 60);
    if !ok {
        return None;
    }
    // Years from March: January and February count with the year before, so that a leap
    // day is the last day of its year; 1970-03-01 is day 59.
    let (y, mo, d) = (y as i64, mo as i64, d as i64);
    let (yy, mm) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let days = 365 * (yy - 1970) + ((yy - 1968) >> 2) + (153 * mm + 2) / 5 + d + 58;
    Some(((days * 24 + hh as i64) * 60 + mi as i64) * 60_000 + ss as i64 * 1000)
}

/// [`civil_ms`] for the years it leaves to this (2100 to 9998, the Gregorian leap years; `None`
/// before 1970 and from 9999 on, which jiff reads): H. Hinnant's days from the civil date.
#[inline(never)]
fn civil_ms_far(y: u64, mo: u64, d: u64, hh: u64, mi: u64, ss: u64) -> Option<i64> {
    let leap = y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let last = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1970..=9998).contains(&y) || d < 1 || d > last || hh > 23 || mi > 59 || ss > 59 {
        return None;
    }
    let (y, mo, d) = (y as i64, mo as i64, d as i64);
    let (yy, m) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = yy / 400;
    let yoe = yy - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh as i64) * 60 + mi as i64) * 60_000 + ss as i64 * 1000)
}

/// One value: its node, and where its words go (segment and word).
struct Slot<'c, 'a> {
    cx: &'c mut Cx<'a>,
    node: u32,
    seg: usize,
    at: usize,
}

impl<'de> DeserializeSeed<'de> for Slot<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Slot<'_, '_> {
    #[inline]
    fn present<E: de::Error>(&mut self) -> Result<(Node, usize), E> {
        self.cx.present(self.node, self.seg, self.at).ok_or_else(no)
    }

    fn int<E: de::Error>(mut self, n: i64) -> Result<(), E> {
        let (node, at) = self.present()?;
        self.cx.int(node, self.seg, at, n).ok_or_else(no)
    }
}

impl<'de> Visitor<'de> for Slot<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value of the parameter's type")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // `null` is absent: the presence word stays 0, and so do the value's words.
        if self.cx.null(self.node) {
            Ok(())
        } else {
            Err(no())
        }
    }

    fn visit_bool<E: de::Error>(mut self, b: bool) -> Result<(), E> {
        let (node, at) = self.present()?;
        self.cx.bool(node, self.seg, at, b).ok_or_else(no)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.int(n)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        // Beyond `i64` is out of range: the reference path says so.
        self.int(i64::try_from(n).map_err(|_| no())?)
    }

    fn visit_str<E: de::Error>(mut self, s: &str) -> Result<(), E> {
        let (node, at) = self.present()?;
        self.cx.str(node, self.seg, at, s).ok_or_else(no)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let (r, at) = match self.present()? {
            (Node::Record(r), at) => (r, at),
            (Node::Money, at) => return money_object(map, self.cx, self.seg, at),
            _ => return Err(no()),
        };
        let plan = self.cx.plan;
        let rec = plan.records.get(r as usize).ok_or_else(no)?;
        let mut seen = 0u128;
        while let Some(i) = map.next_key_seed(KeySeed(rec))? {
            if seen & (1 << i) != 0 {
                return Err(no());
            }
            seen |= 1 << i;
            let f = &rec.fields[i];
            map.next_value_seed(Slot {
                cx: &mut *self.cx,
                node: f.node,
                seg: self.seg,
                at: at + f.offset,
            })?;
        }
        if rec.required & !seen != 0 {
            return Err(no());
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let (Node::List { elem, words, set }, at) = self.present()? else {
            return Err(no());
        };
        let seg = self.cx.s.new_segment(self.seg, at, 0);
        let mut n = 0usize;
        loop {
            self.cx.s.element(words).ok_or_else(no)?;
            self.cx.s.segments[seg].room((n + 1) * words);
            let slot = Slot {
                cx: &mut *self.cx,
                node: elem,
                seg,
                at: n * words,
            };
            if seq.next_element_seed(slot)?.is_none() {
                break;
            }
            n += 1;
        }
        self.cx
            .end_list(seg, n, words, elem, set, self.seg, at)
            .ok_or_else(no)
    }
}

/// Sorts a set's one-word elements by value and drops repeats, as `bind` builds sets; returns
/// how many are left.
fn sort_set(plan: &Plan, s: &mut Scratch, seg: usize, text: bool) -> usize {
    let mut pairs = std::mem::take(&mut s.set);
    pairs.clear();
    let segment = &s.segments[seg];
    pairs.extend(
        segment
            .words
            .iter()
            .copied()
            .zip(segment.tags.iter().copied()),
    );
    // Strings order by text (Tz by its IANA name), everything else by its word.
    pairs.sort_by(|a, b| {
        if text {
            s.text(plan, a.0, a.1).cmp(s.text(plan, b.0, b.1))
        } else {
            a.0.cmp(&b.0)
        }
    });
    pairs.dedup_by(|a, b| a.0 == b.0 && (a.1 & TAG_UNKNOWN) == (b.1 & TAG_UNKNOWN));
    let segment = &mut s.segments[seg];
    segment.words.clear();
    segment.tags.clear();
    for &(w, t) in &pairs {
        segment.words.push(w);
        segment.tags.push(t);
    }
    let n = pairs.len();
    s.set = pairs;
    n
}

/// `bind::currency_code`'s test (three upper-case ASCII letters), without its allocation.
fn is_currency(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Money as text, `"12.50 EUR"`, as `bind` reads it: the amount and the currency code.
fn money_text(s: &str) -> Option<(rust_decimal::Decimal, &str)> {
    // Split as the reference binder splits it (one space, no other blank), so that both
    // refuse the same texts.
    let (amount, currency) = bind::money_parts(s)?;
    if !is_currency(currency) {
        return None;
    }
    Some((bind::money_amount(amount).ok()?, currency))
}

/// Money as `{"amount": "12.50", "currency": "EUR"}`, each key once, into its three words at
/// word `at` of segment `seg`.
fn money_object<'de, A: MapAccess<'de>>(
    mut map: A,
    cx: &mut Cx<'_>,
    seg: usize,
    at: usize,
) -> Result<(), A::Error> {
    let (mut amount, mut currency) = (false, false);
    while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
        match &*key {
            "amount" if !amount => {
                amount = true;
                let d = map.next_value_seed(AmountSeed)?;
                cx.decimal(seg, at, d).ok_or_else(no)?;
            }
            "currency" if !currency => {
                currency = true;
                let code = map.next_value_seed(CurrencySeed)?;
                let code = std::str::from_utf8(&code).map_err(|_| no())?;
                cx.currency(seg, at, code).ok_or_else(no)?;
            }
            _ => return Err(no()),
        }
    }
    if amount && currency {
        Ok(())
    } else {
        Err(no())
    }
}

/// A money amount: a decimal string or an integer (floats go to the reference path).
struct AmountSeed;

impl<'de> DeserializeSeed<'de> for AmountSeed {
    type Value = rust_decimal::Decimal;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AmountSeed {
    type Value = rust_decimal::Decimal;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount")
    }
    // `bind` reads the number's text: an integer's is `Decimal::from`'s (scale 0).
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(rust_decimal::Decimal::from(n))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(rust_decimal::Decimal::from(n))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        bind::parse_decimal(s).map_err(|_| no())
    }
}

/// A currency code.
struct CurrencySeed;

impl<'de> DeserializeSeed<'de> for CurrencySeed {
    type Value = [u8; 3];
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CurrencySeed {
    type Value = [u8; 3];
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a currency code")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if !is_currency(s) {
            return Err(no());
        }
        s.as_bytes().try_into().map_err(|_| no())
    }
}

struct KeySeed<'r>(&'r RecordPlan);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        field_index(self.0, key.as_bytes()).ok_or_else(no)
    }
}

/// The milliseconds of a time's fraction of a second, its 1 to 9 digits after the `.`
/// (truncated to whole milliseconds, as jiff does), or `None` for anything else.
fn frac_ms(frac: &[u8]) -> Option<i64> {
    // Milliseconds, as JavaScript's `toISOString` writes them: three digits at once.
    if let &[a, b, c] = frac {
        let (a, b, c) = (
            a.wrapping_sub(b'0'),
            b.wrapping_sub(b'0'),
            c.wrapping_sub(b'0'),
        );
        if (a > 9) | (b > 9) | (c > 9) {
            return None;
        }
        return Some(i64::from(a) * 100 + i64::from(b) * 10 + i64::from(c));
    }
    if frac.is_empty() || frac.len() > 9 {
        return None;
    }
    let mut ms = 0;
    let mut scale = 100;
    for &c in frac {
        if !c.is_ascii_digit() {
            return None;
        }
        ms += i64::from(c - b'0') * scale;
        scale /= 10;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small and large tables find exactly the names they hold, whatever they share: names
    /// with the same table key (same length, first seven and last eight bytes) included.
    #[test]
    fn name_word_is_the_first_seven_bytes_and_the_length() {
        let name = b"abcdefghijkl";
        for n in 0..=name.len() {
            let b = &name[..n];
            let mut want = (n as u64) << 56;
            for (i, &c) in b.iter().take(7).enumerate() {
                want |= u64::from(c) << (8 * i);
            }
            assert_eq!(name_word(b), want, "{n} bytes");
        }
    }

    /// A short name's key is the name (so a key match is a name match), and no longer name
    /// has the key of a short one, whatever its bytes.
    #[test]
    fn short_keys_are_their_names_and_long_keys_differ() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8)
                .collect();
            let key = name_key(&bytes);
            if len < 8 {
                assert_eq!(key, name_word(&bytes));
                assert_eq!(key >> 56, len as u64);
            } else {
                assert!(key >> 56 >= 0x80, "{bytes:?}");
                // The short name that would share the key if the top byte were a length.
                let name = String::from_utf8_lossy(&bytes).into_owned();
                let key = name_key(name.as_bytes());
                let n = (key >> 56) as usize & 7;
                let short = &key.to_le_bytes()[..n];
                let mut t = Names::default();
                t.insert(&name, 1);
                assert_eq!(t.find(short), None, "{name:?}");
            }
        }
    }

    #[test]
    fn names_find_exactly_their_names() {
        let long = "abcdefg".repeat(40);
        let mut names: Vec<String> = vec![
            "".into(),
            "a".into(),
            "abcdefg".into(),
            "abcdefgh".into(),
            "abcdefgi".into(),
            long[..263].into(),
            "abcdefgh1a12345678".into(),
            "abcdefgh1b12345678".into(),
            "abcdefgh1c12345678".into(),
        ];
        let probes: Vec<String> = vec![
            "abcdef".into(),
            "abcdefgj".into(),
            "abcdefh".into(),
            long[..262].into(),
            long[..264].into(),
            "b".into(),
            "abcdefgh1d12345678".into(),
        ];
        for size in [names.len(), 40] {
            while names.len() < size {
                names.push(format!("n{}", names.len()));
            }
            let mut t = Names::default();
            for (i, n) in names.iter().enumerate() {
                t.insert(n, i as i64);
            }
            t.insert("a", 99); // the first one wins
            for (i, n) in names.iter().enumerate() {
                assert_eq!(t.get(n), Some(i as i64), "{n}");
            }
            for p in &probes {
                assert_eq!(t.get(p), None, "{p}");
            }
        }
    }

    /// A field's key is found in the text exactly when the text starts with `"name":`,
    /// whatever the name's length (the one- and two-word compares and the byte compare), the
    /// text's length after it, and the byte that differs.
    #[test]
    fn key_in_matches_exactly_the_quoted_key() {
        let program = Program::default();
        for len in 0..=20 {
            let name: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            let mut b = PlanBuilder {
                program: &program,
                nodes: Vec::new(),
                records: Vec::new(),
                record_of: FxHashMap::default(),
            };
            let plan = b
                .fields(&[(name.clone(), Type::Int)], &[], 0)
                .expect("a plan");
            let f = &plan.fields[0];
            let key = format!("\"{name}\":");
            for extra in ["", "1", " 12345678", "}"] {
                let text = format!("{key}{extra}");
                assert_eq!(f.key_in(text.as_bytes()), Some(extra.as_bytes()), "{text}");
                // Any one byte changed, and the text cut short: no match.
                for i in 0..key.len() {
                    let mut bad = text.clone().into_bytes();
                    bad[i] ^= 0x01;
                    assert_eq!(f.key_in(&bad), None, "{text} with byte {i} changed");
                    assert_eq!(f.key_in(&text.as_bytes()[..i]), None, "{text} cut at {i}");
                }
            }
        }
    }

    /// The short cut for times, byte by byte: each byte of a time in the forms read in place,
    /// set to each of the 256 values, is refused or read as the reference reads it; every day
    /// from 1970 to 2101 (and the edges of later years) is read, not left to jiff, and read
    /// right; and the edges of each field (leap days, month 13, hour 24, second 60, lower-case
    /// `t` and `z`, offsets, fractions of 1 to 10 digits) are refused or read as the
    /// reference reads them.
    #[test]
    fn fast_time_reads_each_byte_and_day_as_the_reference() {
        let jiff = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .and_then(|s| crate::time::parse_rfc3339(s).ok())
        };
        for base in [
            "2024-02-29T23:59:59Z",
            "2026-11-25T09:00:00.123Z",
            "2099-12-31T23:59:59Z",
            "2100-02-28T00:00:00.5Z",
            "1970-01-01T00:00:00Z",
            "2000-02-29T12:34:56.789Z",
            "2400-02-29T19:09:08.123456789Z",
        ] {
            let b = base.as_bytes();
            assert!(fast_time(b).is_some(), "{base}");
            assert_eq!(fast_time(b), jiff(b), "{base}");
            for i in 0..b.len() {
                for v in 0..=255u8 {
                    let mut m = b.to_vec();
                    m[i] = v;
                    if let Some(t) = fast_time(&m) {
                        assert_eq!(Some(t), jiff(&m), "{base} with byte {i} = {v:#04x}");
                    }
                }
            }
        }
        // Every day, at the day's first and last second.
        let mut day = jiff::civil::date(1970, 1, 1);
        while day.year() < 2102 {
            for clock in ["00:00:00", "23:59:59.999"] {
                let text = format!("{day}T{clock}Z");
                let b = text.as_bytes();
                assert!(fast_time(b).is_some(), "{text}");
                assert_eq!(fast_time(b), jiff(b), "{text}");
            }
            day = day.tomorrow().expect("in range");
        }
        let read = [
            "2096-02-29T00:00:00Z",
            "2028-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2400-02-29T00:00:00Z",
            "2104-02-29T00:00:00Z",
            "2100-03-01T00:00:00Z",
            "9998-12-31T23:59:59.999999999Z",
            "2026-11-25T09:00:00.1Z",
            "2026-11-25T09:00:00.12Z",
            "2026-11-25T09:00:00.1234Z",
            "2026-11-25T09:00:00.99999Z",
            "2026-11-25T09:00:00.123456Z",
            "2026-11-25T09:00:00.0000001Z",
            "2026-11-25T09:00:00.12345678Z",
            "2026-11-25T09:00:00.987654321Z",
        ];
        for text in read {
            let b = text.as_bytes();
            assert!(fast_time(b).is_some(), "{text}");
            assert_eq!(fast_time(b), jiff(b), "{text}");
        }
        let left = [
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-01-32T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01T23:59:60.5Z",
            "2026-01-01t10:00:00Z",
            "2026-01-01T10:00:00z",
            "2026-01-01T10:00:00+01:00",
            "2026-01-01T10:00:00-00:00",
            "2026-01-01T10:00:00.1234567891Z",
            "2026-01-01T10:00:00.Z",
            "2026-01-01T10:00:00.12aZ",
            "1969-12-31T23:59:59Z",
            "9999-01-01T00:00:00Z",
            "2026-01-01T10:00:00",
            "2026-01-01T10:00:00ZZ",
        ];
        for text in left {
            let b = text.as_bytes();
            assert_eq!(fast_time(b), None, "{text}");
            assert_eq!(time(b), jiff(b), "{text}");
        }
    }

    /// The short cut for times must give the reference reader's answer on every text it
    /// accepts, and [`time`] its answer on every text.
    #[test]
    fn fast_time_agrees_with_the_reference() {
        let jiff = |s: &str| crate::time::parse_rfc3339(s).ok();
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut accepted = 0;
        for i in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Up to the year 9999, whole seconds or not.
            let mut ms = (x % 253_402_300_799_000) as i64;
            if i % 3 == 0 {
                ms -= ms % 1000;
            }
            let t = jiff::Timestamp::from_millisecond(ms).expect("in range");
            let mut text = t.to_string();
            if i % 7 == 0 {
                // Sub-millisecond digits are truncated.
                text = text.replace('Z', "123Z");
            }
            let fast = fast_time(text.as_bytes());
            if fast.is_some() {
                accepted += 1;
                assert_eq!(fast, jiff(&text), "{text}");
            }
            assert_eq!(time(text.as_bytes()), jiff(&text), "{text}");
        }
        assert!(accepted > 150_000, "{accepted}");
        for text in [
            "2024-02-29T23:59:59.999Z",
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T23:60:00Z",
            "2026-01-01T23:59:60Z",
            "2026-01-01T10:00:00.Z",
            "2026-01-01T10:00:00.1234567891Z",
            "2026-01-01T10:00:00,5Z",
            "2026-01-01t10:00:00z",
            "1969-12-31T23:59:59.5Z",
            "1970-01-01T00:00:00Z",
            "9998-12-31T23:59:59.999999999Z",
            "9999-12-31T23:59:59Z",
            "+2026-01-01T00:00:00Z",
            "2026-01-01T10:00Z",
            "2026-01-01T10:00:00+24:00",
            "2026-01-01T10:00:00+0100",
            // Around the years the word-at-a-time path leaves to the byte-by-byte one.
            "2096-02-29T00:00:00Z",
            "2097-02-29T00:00:00Z",
            "2099-12-31T23:59:59.999Z",
            "2100-01-01T00:00:00Z",
            "2100-03-01T00:00:00Z",
            "1970-01-01T00:00:00.000000001Z",
            "1969-12-31T23:59:59Z",
            // Bytes next to digits that a word-at-a-time test could mistake for digits.
            "2026-1\u{e9}-01T00:00:00Z",
            "20\u{ff}6-11-01T00:00:00Z",
            "2026/11/01T00:00:00Z",
            "2026-11-01 00:00:00Z",
            "2026-11-01T00-00-00Z",
            "2026-11-01T00:00:0:Z",
            "2026-11-01T00:00:00",
            "2026-11-01T00:00:00ZZ",
            "2026-11-01T00:00:00.5",
            "2026-00-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "2026-1-01T00:00:00Z",
            "",
            "Z",
        ] {
            if let Some(t) = fast_time(text.as_bytes()) {
                assert_eq!(Some(t), jiff(text), "{text}");
            }
            assert_eq!(time(text.as_bytes()), jiff(text), "{text}");
        }
    }
}
