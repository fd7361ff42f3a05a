//! The direct scanner: the first of the reader's three paths (on a flat plan, the replay of a
//! learned shape, [`super::shape`], comes before it, and learns from the scanner's trace). It
//! reads the JSON text byte by byte against the policy's [`Plan`], without serde: keys are
//! compared against the field the layout expects next (one or two word compares of
//! `"name":`, no look-up) before any table is consulted, strings are scanned eight bytes at a
//! time for a quote, a backslash or a control character, integers are read in place. The
//! position is the unread text as a slice; no whitespace or one space, and `,` or `, ` between
//! members, are read inline.
//!
//! It reads only a strict subset of JSON and gives up (`None`) on anything else: an escape in a
//! string, a number that is not a plain integer of at most 18 digits (`-0`, fractions,
//! exponents, leading zeros), an unknown or repeated key, a missing field, a value of the wrong
//! kind, money, anything it cannot place, any byte the JSON grammar does not allow where it
//! stands, and text after the object. What it reads it hands to the same [`Cx`] methods the
//! serde seeds use, so a value means the same on both paths; when it gives up, the serde path
//! reads the text again from scratch, and that path falls back to the reference binder in turn.
//! So the scanner never accepts what serde_json or the reference rejects, and every error is
//! still the reference's.
#![forbid(unsafe_code)]

use super::{Cx, Names, Node, Plan, RecordPlan, fast_time, field_index, kind_index, time};

/// Deeper than this, give up (serde_json's recursion limit is 128; the layout is far
/// shallower, so this never refuses a real input).
const MAX_DEPTH: u32 = 100;

/// Reads `text` into the segments of `cx` (the fixed part is segment `root`); `None` if the
/// text is not one the scanner reads, whatever the reason. `trace`, if given, receives what was
/// read where (see [`Event`]), from which [`super::shape`] learns the text's shape.
pub(super) fn read(
    cx: &mut Cx<'_>,
    text: &str,
    root: usize,
    trace: Option<&mut Vec<Event>>,
) -> Option<()> {
    let Some(trace) = trace else {
        return Scan::new(text, Vec::new(), 1).whole(cx, root);
    };
    trace.clear();
    let mut p = Scan::new(text, std::mem::take(trace), 0);
    let read = p.whole(cx, root);
    *trace = p.trace;
    read
}

/// What the scanner read where in the text, in text order: the values it read whole, and the
/// structure of lists (whose elements repeat). Everything between two events is literal text
/// (keys, punctuation, whitespace, `null` of `signals`), which [`super::shape`] keeps as it is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Event {
    /// A value of node `node` (no record, no list of direct mode) read from `start..end`, its
    /// words at word `at` of the output (direct mode: the segment is a position).
    Value {
        node: u32,
        at: usize,
        start: usize,
        end: usize,
    },
    /// The value of the reserved `now` key, at `start..end`.
    Now { start: usize, end: usize },
    /// A list read in direct mode from its `[` at `start`: its header word, its elements'
    /// node and word count, and where its first element's words go.
    List {
        header: usize,
        elem: u32,
        words: usize,
        base: usize,
        start: usize,
    },
    /// An element of the innermost list starts at `start` (after the `[` or `,` and blanks).
    Elem { start: usize },
    /// That element ends at `end`.
    ElemEnd { end: usize },
    /// The list's `]` ends at `end`.
    ListEnd { end: usize },
}

/// The scanner's state. The position is the text not read yet, as a slice: each step tests
/// the length it needs once, where an index into the text cost a bounds check and an
/// overflow check per access (a third of the scanner's instructions).
pub(super) struct Scan<'t> {
    pub(super) rest: &'t [u8],
    text: &'t str,
    depth: u32,
    /// Events are traced only while this is 0: it counts the values being read whole that
    /// hold others (an optional record, say), and starts at 1 when no trace is wanted.
    quiet: u32,
    trace: Vec<Event>,
}

/// A key: the index of a field of the record (or parameter list) being read, or any other key.
enum Key<'t> {
    Field(usize),
    Other(&'t [u8]),
}

/// Every byte 0x01, every byte 0x80: the constants of the word-at-a-time byte tests.
const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Non-zero if some byte of `x` is zero (exact as a yes/no; not which byte).
#[inline]
fn has_zero(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

/// Non-zero if some byte of the 8 is `"`, `\` or below 0x20: the bytes a plain string stops at.
#[inline]
fn special(x: u64) -> u64 {
    has_zero(x ^ (LO * u64::from(b'"')))
        | has_zero(x ^ (LO * u64::from(b'\\')))
        | (x.wrapping_sub(LO * 0x20) & !x & HI)
}

/// JSON's whitespace: space, tab, line feed, carriage return.
#[inline(always)]
fn is_ws(c: u8) -> bool {
    c <= b' ' && (1u64 << c) & (1 << b' ' | 1 << b'\n' | 1 << b'\t' | 1 << b'\r') != 0
}

impl<'t> Scan<'t> {
    /// A scanner at the start of `text`, tracing into `trace` unless `quiet` is non-zero.
    pub(super) fn new(text: &'t str, trace: Vec<Event>, quiet: u32) -> Scan<'t> {
        Scan {
            rest: text.as_bytes(),
            text,
            depth: 0,
            quiet,
            trace,
        }
    }

    /// The whole text: one object and blanks around it.
    fn whole(&mut self, cx: &mut Cx<'_>, root: usize) -> Option<()> {
        self.ws();
        self.root(cx, root)?;
        self.ws();
        self.rest.is_empty().then_some(())
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// How far into the text the scanner is.
    #[inline(always)]
    pub(super) fn pos(&self) -> usize {
        self.text.len() - self.rest.len()
    }

    /// Where the scanner is (position and depth), to come back to with [`Scan::back`].
    #[inline(always)]
    pub(super) fn mark(&self) -> (&'t [u8], u32) {
        (self.rest, self.depth)
    }

    /// Back to a [`Scan::mark`].
    #[inline(always)]
    pub(super) fn back(&mut self, (rest, depth): (&'t [u8], u32)) {
        self.rest = rest;
        self.depth = depth;
    }

    /// Notes `e` in the trace, unless quiet.
    #[inline(always)]
    fn event(&mut self, e: Event) {
        if self.quiet == 0 {
            self.trace.push(e);
        }
    }

    /// Whitespace: none or one space inline (the common cases), more in a loop.
    #[inline(always)]
    fn ws(&mut self) {
        match self.rest {
            [c, ..] if *c > b' ' => {}
            [b' ', tail @ ..] if tail.first().is_some_and(|&c| c > b' ') => self.rest = tail,
            _ => self.ws_loop(),
        }
    }

    #[inline(never)]
    fn ws_loop(&mut self) {
        while let [c, tail @ ..] = self.rest {
            if !is_ws(*c) {
                break;
            }
            self.rest = tail;
        }
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        match self.rest {
            [x, tail @ ..] if *x == c => {
                self.rest = tail;
                Some(())
            }
            _ => None,
        }
    }

    #[inline(always)]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let (head, tail) = self.rest.split_at_checked(word.len())?;
        if head == word {
            self.rest = tail;
            Some(())
        } else {
            None
        }
    }

    /// A string without escapes, at the opening quote; its bytes (between the quotes: the
    /// text of a `&str` cut at two ASCII quotes, so UTF-8).
    #[inline(always)]
    fn string(&mut self) -> Option<&'t [u8]> {
        let [b'"', body @ ..] = self.rest else {
            return None;
        };
        // Eight bytes at a time until a chunk holds a byte a plain string stops at: the lowest
        // flagged byte of `special` is exact (a borrow only flags bytes above a true one), so
        // it is the first such byte.
        let mut s = body;
        while let Some((chunk, tail)) = s.split_first_chunk::<8>() {
            let hit = special(u64::from_le_bytes(*chunk));
            if hit != 0 {
                let end = body.len() - s.len() + (hit.trailing_zeros() / 8) as usize;
                // A quote ends it; an escape (the serde path decodes it) or a control
                // character (invalid) is not read here.
                return self.string_end(body, end);
            }
            s = tail;
        }
        let k = s
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        self.string_end(body, body.len() - s.len() + k)
    }

    /// The string of `body` (the text after an opening quote) up to byte `end`, which must be
    /// its closing quote.
    #[inline(always)]
    fn string_end(&mut self, body: &'t [u8], end: usize) -> Option<&'t [u8]> {
        let (string, after) = body.split_at_checked(end)?;
        let [b'"', tail @ ..] = after else {
            return None;
        };
        self.rest = tail;
        Some(string)
    }

    /// A time: a string read by [`time`], as [`Cx::str`] reads a `Time`. The usual forms,
    /// `"YYYY-MM-DDTHH:MM:SSZ"` and with milliseconds `"YYYY-MM-DDTHH:MM:SS.mmmZ"` (what
    /// JavaScript's `toISOString` writes), are read in place without scanning the string
    /// first: [`fast_time`] accepts those 20 or 24 bytes only if each is a digit or the
    /// separator its place requires, so none ends or escapes the string, and the byte after
    /// them must be the closing quote.
    #[inline(always)]
    fn time(&mut self) -> Option<i64> {
        if let Some((&[b'"', ref body @ .., b'"'], tail)) = self.rest.split_first_chunk::<22>()
            && let Some(t) = fast_time(body)
        {
            self.rest = tail;
            return Some(t);
        }
        if let Some((&[b'"', ref body @ .., b'"'], tail)) = self.rest.split_first_chunk::<26>()
            && body[19] == b'.'
            && let Some(t) = fast_time(body)
        {
            self.rest = tail;
            return Some(t);
        }
        time(self.string()?)
    }

    /// A string looked up in `table` (as [`Names::find`] on its bytes). A name of at most
    /// seven bytes is read in place: the first byte the eight-byte test flags after the
    /// opening quote is the first that ends or escapes the string, so if it is a quote the
    /// bytes before it are the whole string, and they with their length are the table key.
    #[inline(always)]
    fn name(&mut self, table: &Names) -> Option<i64> {
        if let Some((&[b'"', ref w @ ..], _)) = self.rest.split_first_chunk::<9>() {
            let x = u64::from_le_bytes(*w);
            let n = (special(x).trailing_zeros() / 8) as usize;
            if n < 8 && w[n] == b'"' {
                let key = (x & ((1u64 << (8 * n)) - 1)) | ((n as u64) << 56);
                self.rest = self.rest.get(n + 2..)?;
                return table.find_short(key);
            }
        }
        table.find(self.string()?)
    }

    /// [`Scan::string`] as a `&str`.
    #[inline(always)]
    fn string_str(&mut self) -> Option<&'t str> {
        let start = self.text.len() - self.rest.len() + 1;
        let n = self.string()?.len();
        // Quotes are ASCII, so both ends are character boundaries of the `&str`.
        self.text.get(start..start + n)
    }

    /// A plain integer: `-`? and 1 to 18 digits, no leading zero, no fraction nor exponent,
    /// and not `-0` (which serde_json reads as a float). Anything else: `None`.
    #[inline(always)]
    fn int(&mut self) -> Option<i64> {
        let (neg, digits) = match self.rest {
            [b'-', tail @ ..] => (true, tail),
            all => (false, all),
        };
        let len = digits
            .iter()
            .take(19)
            .take_while(|c| c.is_ascii_digit())
            .count();
        // 18 digits always fit an `i64`; longer numbers go to the serde path.
        if len == 0 || len > 18 {
            return None;
        }
        let (num, tail) = digits.split_at_checked(len)?;
        if num[0] == b'0' && (len > 1 || neg) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = tail.first() {
            return None;
        }
        let n = num.iter().fold(0i64, |n, &c| n * 10 + i64::from(c - b'0'));
        self.rest = tail;
        Some(if neg { -n } else { n })
    }

    /// A key at its opening quote and the `:` after it (with the whitespace around it): the
    /// field `rec.fields[*next]` if the text is that name and a colon (compared in place),
    /// else looked up; `*next` becomes the field after the one found.
    #[inline(always)]
    fn key(&mut self, rec: &RecordPlan, next: &mut usize) -> Option<Key<'t>> {
        if let Some(f) = rec.fields.get(*next) {
            // `plain`: the name has no byte that would end or escape a JSON string, so the
            // bytes match exactly when the key is that name.
            if let Some(tail) = f.key_in(self.rest)
                && f.plain
            {
                self.rest = tail;
                self.ws();
                *next += 1;
                return Some(Key::Field(*next - 1));
            }
        }
        let s = self.string()?;
        self.colon()?;
        Some(match field_index(rec, s) {
            Some(k) => {
                *next = k + 1;
                Key::Field(k)
            }
            None => Key::Other(s),
        })
    }

    /// After a member or an element: `,` (more follow) or the closing `close`. The usual
    /// forms inline: `,` or `, ` then a non-blank byte, or `close` right away.
    #[inline(always)]
    fn more(&mut self, close: u8) -> Option<bool> {
        match self.rest {
            [b',', b' ', tail @ ..] | [b',', tail @ ..]
                if tail.first().is_some_and(|&c| c > b' ') =>
            {
                self.rest = tail;
                Some(true)
            }
            [c, tail @ ..] if *c == close => {
                self.rest = tail;
                Some(false)
            }
            _ => self.more_slow(close),
        }
    }

    /// [`Scan::more`] with any whitespace.
    #[inline(never)]
    fn more_slow(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let [c, tail @ ..] = self.rest else {
            return None;
        };
        let c = *c;
        self.rest = tail;
        if c == b',' {
            self.ws();
            Some(true)
        } else if c == close {
            Some(false)
        } else {
            None
        }
    }

    /// `{`, whitespace, and whether the object has members (else its `}` is read).
    #[inline(always)]
    fn open(&mut self, c: u8, close: u8) -> Option<bool> {
        self.eat(c)?;
        self.ws();
        if self.peek()? == close {
            self.rest = self.rest.get(1..)?;
            return Some(false);
        }
        Some(true)
    }

    /// `:` between a key and its value, with the whitespace around it.
    #[inline(always)]
    fn colon(&mut self) -> Option<()> {
        self.ws();
        self.eat(b':')?;
        self.ws();
        Some(())
    }

    /// The top-level object: the parameters, `now` and `signals` (only `null`).
    fn root(&mut self, cx: &mut Cx<'_>, seg: usize) -> Option<()> {
        let plan: &Plan = cx.plan;
        let (mut seen, mut next) = (0u128, 0usize);
        let (mut now_seen, mut signals_seen) = (false, false);
        let mut more = self.open(b'{', b'}')?;
        while more {
            // `now` (no parameter has that name) is usually first: matched in place.
            let key = match self.rest.split_at_checked(6) {
                Some((b"\"now\":", tail)) => {
                    self.rest = tail;
                    self.ws();
                    Key::Other(b"now")
                }
                _ => self.key(&plan.params, &mut next)?,
            };
            match key {
                Key::Field(k) => {
                    let f = plan.params.fields.get(k)?;
                    if seen & f.bit != 0 {
                        return None;
                    }
                    seen |= f.bit;
                    self.value(cx, f.node, seg, f.offset)?;
                }
                Key::Other(b"now") if !now_seen => {
                    now_seen = true;
                    let start = self.pos();
                    cx.now = self.now()?;
                    self.event(Event::Now {
                        start,
                        end: self.pos(),
                    });
                }
                Key::Other(b"signals") if !signals_seen => {
                    signals_seen = true;
                    // Only `null` here; signals are bound by the reference path.
                    self.literal(b"null")?;
                }
                Key::Other(_) => return None,
            }
            more = self.more(b'}')?;
        }
        (plan.params.required & !seen == 0).then_some(())
    }

    /// The value of the reserved `now` key: `null` or a time.
    #[inline(always)]
    pub(super) fn now(&mut self) -> Option<Option<i64>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Some(None)
        } else {
            Some(Some(self.time()?))
        }
    }

    /// One value of node `node`, its words at word `at` of segment `seg`, traced as an
    /// [`Event::Value`] unless it is a record or a list (whose insides are traced).
    #[inline(always)]
    pub(super) fn value(
        &mut self,
        cx: &mut Cx<'_>,
        node: u32,
        seg: usize,
        at: usize,
    ) -> Option<()> {
        let n = *cx.plan.nodes.get(node as usize)?;
        if self.quiet != 0 {
            return self.value_of(cx, node, n, seg, at);
        }
        let start = self.pos();
        self.value_of(cx, node, n, seg, at)?;
        if !matches!(n, Node::Record(_) | Node::List { .. }) {
            self.event(Event::Value {
                node,
                at: seg + at,
                start,
                end: self.pos(),
            });
        }
        Some(())
    }

    /// [`Scan::value`] without its event. Dispatched on the node first for the common kinds
    /// that are not optional: each accepts only the one form of JSON value
    /// [`Scan::any_value`] would read for it (a string, a literal, an integer, an object or
    /// an array), so both give up on the same text.
    #[inline(always)]
    pub(super) fn value_untraced(
        &mut self,
        cx: &mut Cx<'_>,
        node: u32,
        seg: usize,
        at: usize,
    ) -> Option<()> {
        let n = *cx.plan.nodes.get(node as usize)?;
        self.value_of(cx, node, n, seg, at)
    }

    /// [`Scan::value_untraced`] given the node (`n` is `plan.nodes[node]`).
    #[inline(always)]
    pub(super) fn value_of(
        &mut self,
        cx: &mut Cx<'_>,
        node: u32,
        n: Node,
        seg: usize,
        at: usize,
    ) -> Option<()> {
        let plan: &Plan = cx.plan;
        match n {
            Node::Time => {
                let t = self.time()?;
                cx.s.put(seg, at, t, 0)
            }
            // As `Cx::str_bytes` reads them: the name's entry in the kind's table.
            Node::Symbol(kind) => {
                let i = self.name(&plan.symbols[kind_index(kind)])?;
                cx.s.put(seg, at, i, 0)
            }
            Node::Enum(e) => {
                let i = self.name(plan.enums.get(e as usize)?)?;
                cx.s.put(seg, at, i, 0)
            }
            n @ (Node::Text | Node::Id | Node::Tz) => {
                let s = self.string_str()?;
                cx.str(n, seg, at, s)
            }
            // Only checked: a string no rule reads keeps word 0.
            Node::Unread => self.string().map(drop),
            Node::Bool => {
                let b = match self.peek()? {
                    b't' => self.literal(b"true").map(|()| true)?,
                    _ => self.literal(b"false").map(|()| false)?,
                };
                cx.s.put(seg, at, i64::from(b), 0)
            }
            Node::Int => {
                let n = self.int()?;
                cx.s.put(seg, at, n, 0)
            }
            Node::Record(r) => self.record(cx, r, seg, at),
            Node::List { elem, words, set } => self.list(cx, elem, words, set, seg, at),
            _ => self.any_value(cx, node, seg, at),
        }
    }

    /// [`Scan::value`] for every node, dispatched on the value's first byte. It is traced as
    /// one value: what it holds is not.
    #[inline(never)]
    fn any_value(&mut self, cx: &mut Cx<'_>, node: u32, seg: usize, at: usize) -> Option<()> {
        self.quiet += 1;
        let read = self.any_value_inner(cx, node, seg, at);
        self.quiet -= 1;
        read
    }

    fn any_value_inner(&mut self, cx: &mut Cx<'_>, node: u32, seg: usize, at: usize) -> Option<()> {
        let c = self.peek()?;
        if c == b'n' {
            // `null` is absent: the presence word stays 0, and so do the value's words.
            self.literal(b"null")?;
            return cx.null(node).then_some(());
        }
        let (node, at) = cx.present(node, seg, at)?;
        match c {
            b'"' => {
                let s = self.string_str()?;
                cx.str(node, seg, at, s)
            }
            b't' => {
                self.literal(b"true")?;
                cx.bool(node, seg, at, true)
            }
            b'f' => {
                self.literal(b"false")?;
                cx.bool(node, seg, at, false)
            }
            b'-' | b'0'..=b'9' => {
                let n = self.int()?;
                cx.int(node, seg, at, n)
            }
            b'{' => match node {
                Node::Record(r) => self.record(cx, r, seg, at),
                _ => None,
            },
            b'[' => match node {
                Node::List { elem, words, set } => self.list(cx, elem, words, set, seg, at),
                _ => None,
            },
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A record's object: each field once, in any order, every required field given.
    #[inline(never)]
    fn record(&mut self, cx: &mut Cx<'_>, r: u32, seg: usize, at: usize) -> Option<()> {
        self.enter()?;
        let plan: &Plan = cx.plan;
        let rec = plan.records.get(r as usize)?;
        let (mut seen, mut next) = (0u128, 0usize);
        let mut more = self.open(b'{', b'}')?;
        while more {
            let Key::Field(k) = self.key(rec, &mut next)? else {
                return None;
            };
            let f = rec.fields.get(k)?;
            if seen & f.bit != 0 {
                return None;
            }
            seen |= f.bit;
            self.value(cx, f.node, seg, at + f.offset)?;
            more = self.more(b'}')?;
        }
        self.depth -= 1;
        (rec.required & !seen == 0).then_some(())
    }

    /// A list's array: the elements into a segment of their own, as the serde path does.
    #[inline(never)]
    fn list(
        &mut self,
        cx: &mut Cx<'_>,
        elem: u32,
        words: usize,
        set: bool,
        seg: usize,
        at: usize,
    ) -> Option<()> {
        self.enter()?;
        if cx.s.direct {
            let header = seg + at;
            self.event(Event::List {
                header,
                elem,
                words,
                base: cx.s.out.len(),
                start: self.pos(),
            });
            self.list_direct(cx, words, header, |p, cx, base| {
                p.event(Event::Elem { start: p.pos() });
                p.value(cx, elem, base, 0)?;
                p.event(Event::ElemEnd { end: p.pos() });
                Some(())
            })?;
            self.event(Event::ListEnd { end: self.pos() });
            self.depth -= 1;
            return Some(());
        }
        let list = cx.s.new_segment(seg, at, 0);
        let mut n = 0usize;
        let mut more = self.open(b'[', b']')?;
        while more {
            cx.s.element(words)?;
            cx.s.segments.get_mut(list)?.room((n + 1) * words);
            self.value(cx, elem, list, n * words)?;
            n += 1;
            more = self.more(b']')?;
        }
        self.depth -= 1;
        cx.end_list(list, n, words, elem, set, seg, at)
    }

    /// A list's array in direct mode (a flat plan: no list inside, not a set): the elements
    /// appended to the words read so far, where the layout puts them provided the lists come
    /// in the order of their headers (else `None`: the serde path places them). `element`
    /// reads one element whose words start at the position it is given.
    #[inline(always)]
    pub(super) fn list_direct(
        &mut self,
        cx: &mut Cx<'_>,
        words: usize,
        header: usize,
        mut element: impl FnMut(&mut Self, &mut Cx<'_>, usize) -> Option<()>,
    ) -> Option<()> {
        if cx.s.last_list.is_some_and(|h| header <= h) {
            return None;
        }
        cx.s.last_list = Some(header);
        let start = cx.s.out.len();
        let mut n = 0usize;
        let mut more = self.open(b'[', b']')?;
        while more {
            // Room for one more element: the words grow by doubling (zeroed), and are cut
            // to the elements read at the end.
            let need = start + (n + 1) * words;
            if cx.s.out.len() < need {
                if need.saturating_sub(cx.plan.input_words) > super::MAX_WORDS {
                    return None;
                }
                let to = need.max(start + 2 * (n * words)).max(start + 4 * words);
                cx.s.out.resize(to, 0);
            }
            element(self, cx, start + n * words)?;
            n += 1;
            more = self.more(b']')?;
        }
        cx.s.out.truncate(start + n * words);
        *cx.s.out.get_mut(header)? = start as i64;
        *cx.s.out.get_mut(header + 1)? = n as i64;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight-byte test stops at exactly the bytes the byte loop stops at.
    #[test]
    fn special_flags_exactly_quotes_backslashes_and_control_bytes() {
        for b in 0..=255u8 {
            let stop = b == b'"' || b == b'\\' || b < 0x20;
            for pos in 0..8 {
                let mut chunk = [b'a'; 8];
                chunk[pos] = b;
                // Neighbours that could trip a borrow: the largest and smallest plain bytes.
                if pos > 0 {
                    chunk[pos - 1] = 0xff;
                }
                if pos < 7 {
                    chunk[pos + 1] = 0x20;
                }
                let word = u64::from_le_bytes(chunk);
                assert_eq!(special(word) != 0, stop, "byte {b:#x} at {pos}");
            }
        }
    }

    /// The lowest byte `special` flags is the first byte a plain string stops at, whatever
    /// the bytes around it (a borrow only ever flags bytes above a true stop).
    #[test]
    fn special_finds_the_first_stop_byte() {
        let bytes = [
            0u8, 0x01, 0x1f, 0x20, 0x21, b'"', b'#', b'\\', b'a', 0x7f, 0x80, 0xff,
        ];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            // xorshift: any chunk of the interesting bytes.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let chunk: [u8; 8] =
                std::array::from_fn(|k| bytes[((state >> (5 * k)) % bytes.len() as u64) as usize]);
            let first = chunk
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let hit = special(u64::from_le_bytes(chunk));
            let found = (hit != 0).then(|| (hit.trailing_zeros() / 8) as usize);
            assert_eq!(found, first, "{chunk:x?}");
        }
    }

    /// Times: the in-place form and the scanned one give [`time`]'s value of the string and
    /// stop after its closing quote; anything that is not a whole string is refused.
    #[test]
    fn time_reads_the_string_as_time_does() {
        let read = |t: &str| {
            let mut p = Scan::new(t, Vec::new(), 1);
            p.time().map(|n| (n, p.pos()))
        };
        for (text, inner) in [
            ("\"2026-11-25T09:00:00Z\"", "2026-11-25T09:00:00Z"),
            ("\"2026-11-25T09:00:00Z\", ", "2026-11-25T09:00:00Z"),
            ("\"2126-11-25T09:00:00Z\"}", "2126-11-25T09:00:00Z"),
            ("\"2026-11-25T09:00:00.5Z\"", "2026-11-25T09:00:00.5Z"),
            ("\"2026-11-25T09:00:00.123Z\"", "2026-11-25T09:00:00.123Z"),
            (
                "\"2026-11-25T09:00:00.123Z\"}, ",
                "2026-11-25T09:00:00.123Z",
            ),
            ("\"1970-01-01T00:00:00.000Z\"", "1970-01-01T00:00:00.000Z"),
            (
                "\"2026-11-25T09:00:00.12345Z\"",
                "2026-11-25T09:00:00.12345Z",
            ),
            (
                "\"2026-11-25T09:00:00.1234567891Z\"",
                "2026-11-25T09:00:00.1234567891Z",
            ),
            ("\"2026-11-25T09:00:00+01:00\"", "2026-11-25T09:00:00+01:00"),
            ("\"2026-11-25t09:00:00z\"", "2026-11-25t09:00:00z"),
        ] {
            let want = time(inner.as_bytes()).expect(inner);
            assert_eq!(read(text), Some((want, inner.len() + 2)), "{text}");
        }
        for text in [
            "\"2026-11-25T09:00:00Z",
            "\"2026-11-25T09:00:00Zx\"",
            "\"2026-11-25T09:00:00Z\\\"",
            "\"2026-11-25T09:00:00.123Z",
            "\"2026-11-25T09:00:00.123Zx\"",
            "\"2026-11-25T09:00:00.1\"3Z\"",
            "\"2026-11-25T09:00:00.12\\Z\"",
            "\"2026-02-30T09:00:00.123Z\"",
            "\"2026-02-30T09:00:00Z\"",
            "2026-11-25T09:00:00Z",
            "\"2026-11-25T09:00\n00Z\"",
            "\"\"",
            // Not RFC 3339 (crate::time).
            "\"2026-11-25T09:00:00,123Z\"",
            "\"2026-11-25T09:00Z\"",
            "\"2026-11-25T09:00:00+24:00\"",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    /// Names: the in-place read of short names and the scanned one find exactly the table's
    /// entries, stop after the closing quote, and refuse what is no whole plain string.
    #[test]
    fn name_finds_exactly_the_table_entries() {
        let mut t = Names::default();
        let names = [
            "",
            "a",
            "sms",
            "email",
            "service",
            "abcdefg",
            "marketing",
            "abcdefgh",
        ];
        for (i, n) in names.iter().enumerate() {
            t.insert(n, i as i64);
        }
        let read = |text: &str| {
            let mut p = Scan::new(text, Vec::new(), 1);
            p.name(&t).map(|v| (v, p.pos()))
        };
        for (i, n) in names.iter().enumerate() {
            for after in ["", "}", ", \"channel\": 1}", "\"\"\"\"\"\"\"\""] {
                let text = format!("\"{n}\"{after}");
                assert_eq!(read(&text), Some((i as i64, n.len() + 2)), "{text}");
            }
        }
        for text in [
            "\"sm\"",
            "\"smss\", \"x\"",
            "\"Sms\"        ",
            "\"abcdef\"        ",
            "\"abcdefgi\"       ",
            "\"sms",
            "\"sms\\\"\"       ",
            "\"em\\u0061il\"       ",
            "\"sm\ns\"       ",
            "sms",
            "\"\u{e9}\"        ",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    /// Integers: exactly the plain forms, with their value; the position after them.
    #[test]
    fn int_reads_only_plain_integers() {
        let read = |t: &str| {
            let mut p = Scan::new(t, Vec::new(), 1);
            p.int().map(|n| (n, p.pos()))
        };
        assert_eq!(read("0"), Some((0, 1)));
        assert_eq!(read("0,"), Some((0, 1)));
        assert_eq!(read("-1}"), Some((-1, 2)));
        assert_eq!(
            read("123456789012345678"),
            Some((123_456_789_012_345_678, 18))
        );
        assert_eq!(
            read("-999999999999999999"),
            Some((-999_999_999_999_999_999, 19))
        );
        for t in [
            "",
            "-",
            "-0",
            "01",
            "-01",
            "1.5",
            "1e3",
            "1E3",
            "0.0",
            "1234567890123456789",
            "+1",
            "x",
        ] {
            assert_eq!(read(t), None, "{t}");
        }
    }
}
