//! The layout engine for inline code (expressions, argument lists, reason lists): text with
//! bracketed lists that stay on the line when they fit and break when they do not.
//!
//! A [`Doc`] is text and [`List`]s. [`flow`] writes one as lines, deciding each list from left
//! to right, outer lists before the lists inside them (as Wadler's and Prettier's printers do).
//! A list breaks if a comment is written inside it (a line comment cannot stay inside a one-line
//! layout); or if its line does not fit the width, nothing but closing brackets follows it on
//! the line (breaking `f(a, b) + c` would leave `) + c` reading as part of the list), and the
//! line up to its opening bracket fits (else breaking does not help). Broken, the opening
//! bracket ends the line, each element goes on its own line one level deeper, followed by a
//! comma (except `..`, which the grammar forbids a comma after), and the closing bracket starts
//! a line with the rest of the code after it. The elements are laid out the same way, so an
//! inner list that fits stays flat.
//!
//! Each line remembers the source bytes it was printed from, as the rest of the formatter's
//! lines do, so comments written next to an element stay next to it.

use super::{INDENT, Line, WIDTH};

/// Inline code, with its width on one line and whether it must break (a comment inside).
#[derive(Clone)]
pub(super) struct Doc {
    kind: Kind,
    /// Width in characters, laid out flat.
    width: usize,
    /// A comment is written inside one of its lists: it cannot be laid out flat.
    forced: bool,
}

#[derive(Clone)]
enum Kind {
    Text(String),
    Cat(Vec<Doc>),
    List(Box<List>),
}

/// A bracketed, comma-separated list: `(a, b)`, `[a, b]`, `{a, b}`, `{ a: 1, b: 2 }`.
#[derive(Clone)]
pub(super) struct List {
    pub open: &'static str,
    pub close: &'static str,
    /// Spaces inside the brackets when flat (`{ a: 1 }`).
    pub pad: bool,
    pub items: Vec<Element>,
    /// Where the opening bracket ends in the source.
    pub open_end: Option<usize>,
    /// Where the closing bracket starts in the source.
    pub close_start: Option<usize>,
    /// A comment is written between the brackets.
    pub commented: bool,
}

/// An element of a [`List`].
#[derive(Clone)]
pub(super) struct Element {
    pub doc: Doc,
    /// Where the element starts in the source.
    pub lead: Option<usize>,
    /// Where it ends in the source (a comment after it on its line stays at the end of its line).
    pub end: Option<usize>,
    /// Whether a comma follows it when the list is broken (`..` takes none).
    pub comma: bool,
}

impl Doc {
    pub fn text(text: impl Into<String>) -> Doc {
        let text = text.into();
        Doc {
            width: text.chars().count(),
            forced: false,
            kind: Kind::Text(text),
        }
    }

    pub fn cat(parts: Vec<Doc>) -> Doc {
        Doc {
            width: parts.iter().map(|d| d.width).sum(),
            forced: parts.iter().any(|d| d.forced),
            kind: Kind::Cat(parts),
        }
    }

    pub fn list(list: List) -> Doc {
        let n = list.items.len();
        let pad = if list.pad && n > 0 { 2 } else { 0 };
        let width = list.open.len()
            + list.close.len()
            + pad
            + list.items.iter().map(|i| i.doc.width).sum::<usize>()
            + 2 * n.saturating_sub(1);
        Doc {
            width,
            forced: list.commented || list.items.iter().any(|i| i.doc.forced),
            kind: Kind::List(Box::new(list)),
        }
    }

    /// Whether it fits flat on a line indented by `indent`.
    pub fn fits(&self, indent: usize) -> bool {
        !self.forced && indent + self.width <= WIDTH
    }

    /// Whether it must break.
    pub fn forced(&self) -> bool {
        self.forced
    }

    /// The text on one line.
    pub fn flat(&self) -> String {
        let mut out = String::with_capacity(self.width);
        self.write_flat(&mut out);
        out
    }

    fn write_flat(&self, out: &mut String) {
        match &self.kind {
            Kind::Text(t) => out.push_str(t),
            Kind::Cat(parts) => parts.iter().for_each(|p| p.write_flat(out)),
            Kind::List(l) => {
                out.push_str(l.open);
                if l.pad && !l.items.is_empty() {
                    out.push(' ');
                }
                for (i, item) in l.items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.doc.write_flat(out);
                }
                if l.pad && !l.items.is_empty() {
                    out.push(' ');
                }
                out.push_str(l.close);
            }
        }
    }

    /// The text and lists in order, concatenations opened.
    fn atoms<'d>(&'d self, out: &mut Vec<&'d Doc>) {
        match &self.kind {
            Kind::Cat(parts) => parts.iter().for_each(|p| p.atoms(out)),
            _ => out.push(self),
        }
    }

    /// Text of closing brackets only (and the ` {` that opens a block after a condition).
    fn closing(&self) -> bool {
        match &self.kind {
            Kind::Text(t) => t.chars().all(|c| matches!(c, ')' | ']' | '}' | ' ' | '{')),
            _ => false,
        }
    }
}

/// A line being filled.
struct Open {
    indent: usize,
    text: String,
    /// The width of `text` (kept, not counted: a line may be long).
    width: usize,
    lead: Option<usize>,
    /// It starts with a closing bracket.
    closes: bool,
}

/// Writes `doc` as lines starting at `indent` (the first anchored at source byte `lead`, the
/// last ending at `end`), breaking its lists as needed.
pub(super) fn flow(
    lines: &mut Vec<Line>,
    indent: usize,
    lead: Option<usize>,
    doc: &Doc,
    end: Option<usize>,
) {
    let mut line = Open {
        indent,
        text: String::new(),
        width: 0,
        lead,
        closes: false,
    };
    let mut atoms = Vec::new();
    doc.atoms(&mut atoms);
    fill(lines, &mut line, &atoms, 0);
    emit(lines, line, end, false);
}

/// Appends `atoms` to `line`; `tail` is the width of what follows them on their last line.
fn fill(lines: &mut Vec<Line>, line: &mut Open, atoms: &[&Doc], tail: usize) {
    // for each atom, the width of the atoms after it and whether they only close brackets
    // (computed once from the end: a generated line may hold thousands of calls)
    let mut after = vec![(tail, true); atoms.len()];
    for i in (1..atoms.len()).rev() {
        let (width, closing) = after[i];
        after[i - 1] = (width + atoms[i].width, closing && atoms[i].closing());
    }
    for (atom, (rest, last)) in atoms.iter().zip(after) {
        let Kind::List(list) = &atom.kind else {
            line.write(atom);
            continue;
        };
        let column = line.indent + line.width;
        let long = column + atom.width + rest > WIDTH;
        // Only a list that ends its line's code breaks for width (`f(a, b)` but not `f(a, b) + c`):
        // breaking one in the middle would leave code after its `)` that reads as part of it.
        // And only if that helps: the line up to its opening bracket fits.
        let helps = column + list.open.len() <= WIDTH;
        if atom.forced || (long && last && helps && !list.items.is_empty()) {
            split(lines, line, list);
        } else {
            line.write(atom);
        }
    }
}

/// Breaks `list`: ends `line` at the opening bracket, writes one element a line, and leaves
/// `line` as the closing bracket's line, for the text after it.
fn split(lines: &mut Vec<Line>, line: &mut Open, list: &List) {
    line.text.push_str(list.open);
    let indent = line.indent;
    let opening = std::mem::replace(
        line,
        Open {
            indent,
            text: list.close.to_string(),
            width: list.close.len(),
            lead: list.close_start,
            closes: true,
        },
    );
    emit(lines, opening, list.open_end, true);
    for item in &list.items {
        let mut element = Open {
            indent: indent + INDENT,
            text: String::new(),
            width: 0,
            lead: item.lead,
            closes: false,
        };
        let mut atoms = Vec::new();
        item.doc.atoms(&mut atoms);
        fill(lines, &mut element, &atoms, usize::from(item.comma));
        if item.comma {
            element.text.push(',');
        }
        emit(lines, element, item.end, false);
    }
}

impl Open {
    fn write(&mut self, doc: &Doc) {
        doc.write_flat(&mut self.text);
        self.width += doc.width;
    }
}

fn emit(lines: &mut Vec<Line>, line: Open, end: Option<usize>, opens: bool) {
    lines.push(Line {
        indent: line.indent,
        text: line.text,
        lead: line.lead,
        end,
        // comments above a closing bracket belong to the elements: indent them as those
        comment_indent: line.indent + if line.closes { INDENT } else { 0 },
        opens,
        closes: line.closes,
    });
}
