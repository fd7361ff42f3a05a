//! Folding ranges: declarations and their blocks (rules, states, handlers, tests), runs of
//! `use` lines, and runs of comments.

use xop_compiler::ast::{ItemKind, Rule};
use xop_compiler::db::{SourceFile, parse_file};
use xop_compiler::span::Span;

use crate::lines::LineIndex;
use crate::state::Snapshot;

/// What a fold hides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoldKind {
    /// A block of code.
    Region,
    /// Comments.
    Comment,
    /// `use` lines.
    Imports,
}

/// A fold from line `start` to line `end` (both zero-based, `end > start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fold {
    /// The first line.
    pub start: u32,
    /// The last line.
    pub end: u32,
    /// What it hides.
    pub kind: FoldKind,
}

/// The folds of `file`.
pub fn folds(snap: &Snapshot, file: SourceFile) -> Vec<Fold> {
    let text = snap.text(file);
    let idx = LineIndex::new(&text);
    let parsed = parse_file(&snap.db, file);
    let mut out = Vec::new();
    let push = |span: Span, kind: FoldKind, out: &mut Vec<Fold>| {
        let (start, end) = (
            idx.line(span.start()),
            idx.line(span.end().saturating_sub(1)),
        );
        if end > start {
            out.push(Fold { start, end, kind });
        }
    };
    if let (Some(a), Some(b)) = (parsed.ast.uses.first(), parsed.ast.uses.last()) {
        push(a.span.to(b.span), FoldKind::Imports, &mut out);
    }
    for item in &parsed.ast.items {
        // From the declaration itself: the doc comment above it folds as a comment.
        let body = item_body(item);
        push(body, FoldKind::Region, &mut out);
        match &item.kind {
            ItemKind::Policy(p) => {
                for r in &p.rules {
                    if let Rule::Rule { span, .. } = r {
                        push(*span, FoldKind::Region, &mut out);
                    }
                }
            }
            ItemKind::Journey(j) => {
                for s in &j.states {
                    push(s.span, FoldKind::Region, &mut out);
                    for h in &s.handlers {
                        push(h.span, FoldKind::Region, &mut out);
                    }
                }
            }
            _ => {}
        }
    }
    // Runs of comment lines: `//` kept by the lexer, `///` read as doc comments.
    let mut run: Option<(u32, u32)> = None;
    for n in 0..idx.len() {
        let line = idx.line_text(n);
        let i = u32::try_from(n).unwrap_or(u32::MAX);
        if line.trim_start().starts_with("//") {
            run = Some(run.map_or((i, i), |(s, _)| (s, i)));
        } else if let Some((s, e)) = run.take()
            && e > s
        {
            out.push(Fold {
                start: s,
                end: e,
                kind: FoldKind::Comment,
            });
        }
    }
    if let Some((s, e)) = run
        && e > s
    {
        out.push(Fold {
            start: s,
            end: e,
            kind: FoldKind::Comment,
        });
    }
    out.sort_by_key(|f| (f.start, f.end));
    out.dedup();
    out
}

/// An item's span without the doc comment lines before it.
fn item_body(item: &xop_compiler::ast::Item) -> Span {
    let start = item
        .name()
        .map(|n| n.span.start())
        .or(match &item.kind {
            ItemKind::Test(t) => Some(t.name.span.start()),
            _ => None,
        })
        .unwrap_or(item.span.start());
    Span::new(start.max(item.span.start()), item.span.end())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, snapshot};

    #[test]
    fn blocks_imports_and_comments() {
        let text = format!("// one\n// two\n{CONTACT}");
        let (_st, snap) = snapshot(&[("contact.xop", &text)]);
        let file = snap.file("contact.xop").expect("file");
        let folds = folds(&snap, file);
        let line = |needle: &str| {
            u32::try_from(
                text[..text.find(needle).expect("needle")]
                    .matches('\n')
                    .count(),
            )
            .expect("small")
        };
        assert!(
            folds.contains(&Fold {
                start: 0,
                end: 1,
                kind: FoldKind::Comment
            }),
            "{folds:?}"
        );
        assert!(folds.contains(&Fold {
            start: line("use shop"),
            end: line("use std.channel"),
            kind: FoldKind::Imports
        }));
        let last = u32::try_from(text.trim_end().matches('\n').count()).expect("small");
        assert!(
            folds.contains(&Fold {
                start: line("policy"),
                end: last,
                kind: FoldKind::Region
            }),
            "{folds:?}"
        );
    }
}
