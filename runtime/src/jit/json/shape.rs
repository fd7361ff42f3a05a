//! Replaying a learned shape: the reader's first path on a flat plan.
//!
//! Callers of one policy usually serialize their input with one serializer: the same keys in
//! the same order with the same spacing, only the values change. After the direct scanner
//! ([`super::scan`]) has read an input, its trace ([`Event`]) becomes a [`Shape`]: the text
//! between the values as exact bytes, and per value its node and where its words go; a list
//! keeps the shape of its first element, which every element must then have. The next input
//! is replayed against it: each literal is compared as one or two words, each value is read by
//! the scanner's own [`Scan::value_untraced`], lists by its own [`Scan::list_direct`]. No key is looked
//! up, no set of fields seen is kept, no whitespace is skipped. An element that does not have
//! the element's shape (one consent withdrawn among others that are not, say) is read by the
//! scanner from its start, and the replay goes on after it.
//!
//! Replaying accepts exactly what the scanner accepts, with the same words, on the inputs it
//! does not give up on: the literals are byte for byte those of a text the scanner read, so the
//! keys (hence which field each value is, that each comes once and that the required ones are
//! all there), the punctuation and the blanks are the ones it checked; each value is read by
//! the same code with the same node and place; and after a value the next literal starts with
//! a byte no value reader takes (`,`, `}`, `]` or a blank), so a value ends where the scanner
//! would end it. Anything else gives up (`None`), and the scanner reads the text from scratch.
#![forbid(unsafe_code)]

use super::super::reader::{MAX_INLINE_NAMES, Op, Read};
use super::scan::{Event, Scan};
use super::{Cx, Node, Plan, kind_index};

/// One step of a shape: literal text, then what follows it.
#[derive(Debug, Clone, Copy)]
struct Step {
    lit: Lit,
    then: Then,
}

/// What follows a step's literal.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// A value of `node` (`n` is its plan node), its words at `at` (from the fixed part's
    /// start, or in a list's element from the element's first word).
    Value { node: u32, n: Node, at: usize },
    /// The value of the reserved `now` key.
    Now,
    /// A list with its header at `header`, elements of node `elem` and `words` words each,
    /// each element read by the `body` steps that follow, or, if it does not have their shape
    /// (or the learned list was empty: `None`), by the scanner.
    List {
        header: usize,
        elem: u32,
        words: usize,
        body: Option<usize>,
    },
    /// The end of the text, or of a list's element.
    End,
}

/// Literal text: `len` bytes at `off` in [`Shape::bytes`], and as words for the usual short
/// ones: the first eight bytes (zero-padded) and, when longer, the last eight.
#[derive(Debug, Clone, Copy)]
struct Lit {
    head: u64,
    tail: u64,
    len: u32,
    off: u32,
}

/// The learned shape of an input (see the module documentation). Empty until learned.
#[derive(Debug, Clone, Default)]
pub(super) struct Shape {
    steps: Vec<Step>,
    bytes: Vec<u8>,
    learned: bool,
}

/// The empty literal.
const NO_LIT: Lit = Lit {
    head: 0,
    tail: 0,
    len: 0,
    off: 0,
};

/// The first eight bytes of `b`, zero-padded, as a little-endian word.
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(w)
}

impl Shape {
    /// Whether a shape was learned.
    pub(super) fn learned(&self) -> bool {
        self.learned
    }

    /// Forgets the shape.
    pub(super) fn forget(&mut self) {
        self.learned = false;
    }

    /// Learns the shape of `text` from the trace of the scanner reading it in direct mode.
    /// Returns whether it learned one (a trace that does not fit is not learned).
    pub(super) fn learn(&mut self, plan: &Plan, trace: &[Event], text: &[u8]) -> bool {
        self.learned = self.build(plan, trace, text).is_some();
        self.learned
    }

    fn build(&mut self, plan: &Plan, trace: &[Event], text: &[u8]) -> Option<()> {
        self.steps.clear();
        self.bytes.clear();
        let mut cursor = 0;
        // The open list: its step's index, its first element's first word, the first step of
        // the element's body, and how many elements ended so far.
        let mut list: Option<(usize, usize, usize, usize)> = None;
        // Inside the second or a later element: skipped (the first one's shape is kept).
        let mut skipping = false;
        for &e in trace {
            match e {
                _ if skipping && !matches!(e, Event::ElemEnd { .. }) => {}
                Event::Value {
                    node,
                    at,
                    start,
                    end,
                } => {
                    let at = match list {
                        Some((_, base, _, _)) => at.checked_sub(base)?,
                        None => at,
                    };
                    let n = *plan.nodes.get(node as usize)?;
                    self.step(text.get(cursor..start)?, Then::Value { node, n, at });
                    cursor = end;
                }
                Event::Now { start, end } => {
                    self.step(text.get(cursor..start)?, Then::Now);
                    cursor = end;
                }
                Event::List {
                    header,
                    elem,
                    words,
                    base,
                    start,
                } => {
                    if list.is_some() {
                        return None; // a list in a list: no flat plan has one
                    }
                    list = Some((self.steps.len(), base, self.steps.len() + 1, 0));
                    let then = Then::List {
                        header,
                        elem,
                        words,
                        body: None,
                    };
                    self.step(text.get(cursor..start)?, then);
                    cursor = start;
                }
                Event::Elem { start } => {
                    let (_, _, _, ended) = list?;
                    if ended == 0 {
                        cursor = start;
                    } else {
                        skipping = true;
                    }
                }
                Event::ElemEnd { end } => {
                    let (step, base, first, ended) = list?;
                    if ended == 0 {
                        self.step(text.get(cursor..end)?, Then::End);
                        let n = self.steps.len() - first;
                        if let Some(Step {
                            then: Then::List { body, .. },
                            ..
                        }) = self.steps.get_mut(step)
                        {
                            *body = Some(n);
                        }
                    }
                    skipping = false;
                    list = Some((step, base, first, ended + 1));
                }
                Event::ListEnd { end } => {
                    list?;
                    list = None;
                    cursor = end;
                }
            }
        }
        if list.is_some() || skipping {
            return None;
        }
        self.step(text.get(cursor..)?, Then::End);
        Some(())
    }

    /// Appends the step of literal `b` then `then`.
    fn step(&mut self, b: &[u8], then: Then) {
        let lit = if b.is_empty() {
            NO_LIT
        } else {
            Lit {
                head: word(b),
                tail: if b.len() > 8 {
                    word(&b[b.len() - 8..])
                } else {
                    0
                },
                len: b.len() as u32,
                off: self.bytes.len() as u32,
            }
        };
        self.bytes.extend_from_slice(b);
        self.steps.push(Step { lit, then });
    }

    /// Replays the shape on `text` into `cx` (direct mode, the output's fixed part zeroed);
    /// `None` if the text does not have this shape or the scanner would not read it.
    pub(super) fn replay(&self, cx: &mut Cx<'_>, text: &str) -> Option<()> {
        if !self.learned {
            return None;
        }
        let mut p = Scan::new(text, Vec::new(), 1);
        self.run(&mut p, cx, &self.steps, 0)?;
        p.rest.is_empty().then_some(())
    }

    /// Runs `steps` (up to their [`Then::End`]) with words placed from `base`.
    fn run(&self, p: &mut Scan<'_>, cx: &mut Cx<'_>, steps: &[Step], base: usize) -> Option<()> {
        let mut i = 0;
        loop {
            let step = steps.get(i)?;
            i += 1;
            if step.lit.len != 0 {
                self.literal(p, &step.lit)?;
            }
            match step.then {
                Then::Value { node, n, at } => p.value_of(cx, node, n, base, at)?,
                Then::Now => cx.now = p.now()?,
                Then::End => return Some(()),
                Then::List {
                    header,
                    elem,
                    words,
                    body,
                } => {
                    let n = body.unwrap_or(0);
                    let shape = steps.get(i..i + n)?;
                    i += n;
                    p.list_direct(cx, words, base + header, |p, cx, at| {
                        let start = p.mark();
                        match body {
                            Some(_) if self.run(p, cx, shape, at).is_some() => Some(()),
                            _ => scan_element(p, cx, start, elem, at),
                        }
                    })?;
                }
            }
        }
    }

    /// Literal `l` (not empty) at the scanner's position: one or two word compares when there
    /// are eight bytes to compare, else the bytes.
    #[inline(always)]
    fn literal(&self, p: &mut Scan<'_>, l: &Lit) -> Option<()> {
        let n = l.len as usize;
        let rest = p.rest;
        let same = match rest.first_chunk::<8>() {
            Some(w) if n <= 8 => {
                let mask = u64::MAX >> (8 * (8 - n));
                u64::from_le_bytes(*w) & mask == l.head
            }
            Some(w) if n <= 16 => {
                u64::from_le_bytes(*w) == l.head
                    && rest
                        .get(n - 8..n)
                        .and_then(|t| t.first_chunk::<8>())
                        .is_some_and(|t| u64::from_le_bytes(*t) == l.tail)
            }
            _ => {
                let want = self.bytes.get(l.off as usize..l.off as usize + n)?;
                rest.get(..n) == Some(want)
            }
        };
        if !same {
            return None;
        }
        p.rest = rest.get(n..)?;
        Some(())
    }

    /// The shape as steps for `ShapeCode::compile` (`super::super::reader`); `None` if it has
    /// a list learned empty (whose elements only the scanner reads) or is not learned.
    pub(super) fn ops(&self, plan: &Plan) -> Option<Vec<Op>> {
        if !self.learned {
            return None;
        }
        let mut i = 0;
        let ops = self.ops_of(plan, &self.steps, &mut i)?;
        (i == self.steps.len()).then_some(ops)
    }

    /// The ops of `steps` from `*i` up to their [`Then::End`] (included in `*i`).
    fn ops_of(&self, plan: &Plan, steps: &[Step], i: &mut usize) -> Option<Vec<Op>> {
        let mut ops = Vec::new();
        loop {
            let step = steps.get(*i)?;
            *i += 1;
            if step.lit.len != 0 {
                let off = step.lit.off as usize;
                let bytes = self.bytes.get(off..off + step.lit.len as usize)?;
                ops.push(Op::Lit(bytes.into()));
            }
            match step.then {
                Then::Value { node, n, at } => ops.push(Op::Value {
                    node,
                    at,
                    read: read_of(plan, n),
                }),
                Then::Now => ops.push(Op::Now),
                Then::End => return Some(ops),
                Then::List {
                    header,
                    elem,
                    words,
                    body,
                } => {
                    body?;
                    let body = self.ops_of(plan, steps, i)?;
                    ops.push(Op::List {
                        header,
                        elem,
                        words,
                        body,
                    });
                }
            }
        }
    }
}

/// How compiled code reads a value of node `n`: booleans, times, strings, integers and the
/// names of small tables (their short forms) inline, the rest by the host.
fn read_of(plan: &Plan, n: Node) -> Read {
    let table = match n {
        Node::Bool => return Read::Bool,
        Node::Time => return Read::Time,
        Node::Text | Node::Id => return Read::Str,
        Node::Tz => return Read::Zone,
        Node::Unread => return Read::Skip,
        Node::Int => return Read::Int,
        Node::Enum(e) => plan.enums.get(e as usize),
        Node::Symbol(kind) => plan.symbols.get(kind_index(kind)),
        _ => None,
    };
    match table {
        Some(t) if t.entries.len() <= MAX_INLINE_NAMES => Read::Names(
            t.entries
                .iter()
                // Qualified names (`std.channel.sms`) are rare in input: left to the host,
                // they halve the code to compile.
                .filter(|(_, name, _)| {
                    name.bytes()
                        .all(|c| c >= 0x20 && c != b'"' && c != b'\\' && c != b'.')
                })
                .map(|(_, name, value)| ([b"\"", name.as_bytes(), b"\""].concat().into(), *value))
                .collect(),
        ),
        _ => Read::Host,
    }
}

/// An element not of the element's shape, read by the scanner from its `start`. What the
/// replay wrote of it before giving up, the scanner writes again (the same values of the same
/// keys, read by the same code).
#[cold]
#[inline(never)]
fn scan_element<'t>(
    p: &mut Scan<'t>,
    cx: &mut Cx<'_>,
    start: (&'t [u8], u32),
    elem: u32,
    at: usize,
) -> Option<()> {
    p.back(start);
    p.value_untraced(cx, elem, at, 0)
}
