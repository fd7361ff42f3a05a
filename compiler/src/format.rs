//! The canonical formatter behind `xop fmt` and the language server's formatting.
//!
//! One layout, whatever the input looked like:
//!
//! - a `module` line, a blank line, the `use` lines in the author's order, a blank line, then
//!   the declarations separated by one blank line; 2-space indentation; lines kept within
//!   100 columns where the layout below allows it; exactly one newline at the end; the line
//!   endings of the file's first line (LF or CRLF), and its leading byte-order mark, kept;
//! - doc comments as `/// text` lines above what they document; annotations on their own line
//!   above a declaration, inline before a field or parameter (`@personal(...) msisdn: Text`);
//! - records one field per line, without commas; enums on one line (`enum E { a, b }`) if that
//!   fits and no variant has docs or a comment, else one variant per line with trailing commas;
//! - parameters on one line if they fit (and have no docs or comments), else one per line with
//!   trailing commas and the rest of the declaration after the `)`;
//! - `fn` bodies after ` = ` on the same line if it fits, else on the next lines (an `if` as
//!   `if` / `then` / `else` lines, `else if` kept flat);
//! - one rule, proposal, state, handler, step, tool binding or test statement per line; a line
//!   that does not fit puts its condition (`when` / `unless`) on a continuation line (4 more
//!   spaces), and a condition that still does not fit breaks before each `and` / `or` of its
//!   top-level chain, 4 more spaces in; a proposal puts `rank by` and its condition on
//!   continuation lines; an `expect` breaks before `==`, then packs `at` and `given` after it;
//! - bracketed lists in code (record, list and set literals, call arguments, the reasons of an
//!   `expect`) on one line if they fit; else one element per line, one level deeper, each with
//!   a trailing comma (but `..`, which takes none), and the closing bracket at the start of a
//!   line with the rest of the code after it, as parameter lists; inner lists are laid out the
//!   same way, so one that fits stays flat. Outer lists break first; a list breaks for width
//!   only where nothing but closing brackets follows it on its line (`let c = {`, `f(g(`, not
//!   `f(a) + b`) and the line up to its opening bracket fits; a proposal's or an `expect`'s
//!   call that breaks keeps `rank by` / `==` ... after its `)` if they fit there (and hold no
//!   comment). A list with a comment inside is always broken, so that each comment stays next
//!   to its element (the layout engine is the private `doc` module);
//! - a `fn` body that is a literal or a call and fits neither after ` = ` nor on the next line
//!   opens on the header line (`fn f(): List<Text> = [`);
//! - blocks with nothing inside are written `{}`;
//! - expressions with single spaces around binary operators, none around `..` / `..=`, and
//!   exactly the parentheses the author wrote (they are [`ExprKind::Paren`] nodes; no others are
//!   needed or added); integers written from their values (`1_000` → `1000`), text re-escaped,
//!   the other literals as written (`90m` stays `90m`, `1.50` stays `1.50`); bindings `to: to`
//!   written `to`.
//!
//! Meaning is kept exactly: the tree of the output, spans erased, equals the tree of the input
//! ([`crate::ast::erase_spans`]), and formatting is idempotent.
//!
//! Comments (`//`) are not in the tree: the parser hands them over with their spans, and the
//! formatter puts each one back, in order, next to the code it was written next to. The layout
//! is first built as lines, each remembering the source bytes it was printed from; comments are
//! then placed: a comment before a line's code goes on its own line above it (a blank line
//! before or after it in the source is kept), a comment after a line's code on the same source
//! line stays at the end of that line, two spaces after the code. A comment written inside code
//! that the formatter joins onto one line moves above that line (inside a bracketed list it
//! breaks the list instead, and stays with its element). Nothing is ever dropped.
//!
//! A file with a syntax error is never formatted: [`format()`] returns its diagnostics.

mod doc;
mod invisible;

use std::sync::Arc;

use doc::{Doc, Element, List};
pub use invisible::invisible;
pub(crate) use invisible::shows_nothing;

use crate::ast::*;
use crate::diagnostic::{Diagnostic, Severity};
use crate::lexer::{self, Comment, Token};
use crate::parse;
use crate::span::Span;

/// The width lines are kept within, where the layout allows it.
pub const WIDTH: usize = 100;
/// One level of indentation.
const INDENT: usize = 2;
/// The extra indentation of a continuation line (a broken condition, a broken `expect`).
const CONTINUATION: usize = 4;

/// Formats a source text (named `<input>` in diagnostics). Returns the canonical text, or the
/// syntax diagnostics if the file does not parse cleanly.
pub fn format(source: &str) -> Result<String, Vec<Diagnostic>> {
    format_file(&Arc::from("<input>"), source)
}

/// Formats the source text of the file at `path` (used only to name it in diagnostics).
pub fn format_file(path: &Arc<str>, source: &str) -> Result<String, Vec<Diagnostic>> {
    let parsed = parse::parse(path, source);
    if parsed
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error)
    {
        return Err(parsed.diagnostics);
    }
    if let Some(span) = first_error_node(&parsed.ast) {
        // The parser reports every node it could not read; this is a second line of defence.
        return Err(vec![
            Diagnostic::error("E0103", path, span, "this input could not be read")
                .with_label("the formatter does not format a file with syntax errors"),
        ]);
    }
    let tokens = lexer::lex(source).tokens;
    let mut layout = Layout {
        tokens: &tokens,
        comments: &parsed.comments,
        lines: Vec::new(),
    };
    layout.file(&parsed.ast);
    Ok(keep_conventions(
        source,
        render(&layout.lines, &parsed.comments, source),
    ))
}

/// `out` (LF line endings, no byte-order mark) written as `source` is: with CRLF line endings
/// if its first line ends so, and with its leading byte-order mark, so that formatting a file
/// edited on Windows changes its layout, not every line.
fn keep_conventions(source: &str, out: String) -> String {
    let bom = source.starts_with('\u{feff}') && !out.starts_with('\u{feff}');
    let crlf = source
        .find('\n')
        .is_some_and(|i| source[..i].ends_with('\r'));
    if !bom && !crlf {
        return out;
    }
    let mut text = String::with_capacity(out.len() + out.len() / 16 + 3);
    if bom {
        text.push('\u{feff}');
    }
    if crlf {
        text.push_str(&out.replace('\n', "\r\n"));
    } else {
        text.push_str(&out);
    }
    text
}

/// The first node the parser could not read, if any.
fn first_error_node(file: &File) -> Option<Span> {
    for item in &file.items {
        match &item.kind {
            ItemKind::Error => return Some(item.span),
            ItemKind::Policy(p) => {
                for rule in &p.rules {
                    if let Rule::Error(span) = rule {
                        return Some(*span);
                    }
                }
            }
            ItemKind::Test(t) => {
                for stmt in &t.body {
                    if let TestStmt::Error(span) = stmt {
                        return Some(*span);
                    }
                }
            }
            ItemKind::Journey(j) => {
                for h in j.states.iter().flat_map(|s| &s.handlers) {
                    if let Trigger::Error(span) = h.trigger {
                        return Some(span);
                    }
                }
            }
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------- lines

/// One line of the layout, before comments are placed.
#[derive(Debug, Default)]
struct Line {
    /// Spaces before the text.
    indent: usize,
    /// The code; empty for a blank line.
    text: String,
    /// Comments that start before this byte go above the line.
    lead: Option<usize>,
    /// Where the line's code ends in the source: comments before it go above the line, a
    /// comment after it on the same source line goes at its end.
    end: Option<usize>,
    /// The indentation of comments placed above the line (deeper for a closing `}`).
    comment_indent: usize,
    /// The line opens a block (`{` or `(` at its end).
    opens: bool,
    /// The line closes a block (starts with `}` or `)`).
    closes: bool,
}

impl Line {
    fn first_pos(&self) -> Option<usize> {
        self.lead.or(self.end)
    }
}

/// Builds the lines of a file.
struct Layout<'a> {
    tokens: &'a [(usize, Token, usize)],
    comments: &'a [Comment],
    lines: Vec<Line>,
}

/// Whether a text, indented by `indent`, fits the width.
fn fits(indent: usize, text: &str) -> bool {
    indent + text.chars().count() <= WIDTH
}

impl<'a> Layout<'a> {
    fn src(&self) -> Source<'a> {
        Source {
            tokens: self.tokens,
            comments: self.comments,
        }
    }

    /// `doc` as lines from `indent`, its lists broken where the line does not fit.
    fn flow(&mut self, indent: usize, lead: Option<usize>, doc: &Doc, end: Option<usize>) {
        doc::flow(&mut self.lines, indent, lead, doc, end);
    }

    /// Appends `text` (ending at byte `end`) to the last line if it fits there and no comment is
    /// written before its end (which would have to move above the line); returns whether it did.
    fn append(&mut self, text: &Doc, end: usize) -> bool {
        let commented = self
            .lines
            .last()
            .and_then(|l| l.end)
            .is_none_or(|from| self.has_comment(from, end));
        let Some(last) = self.lines.last_mut() else {
            return false;
        };
        let joined = format!("{} {}", last.text, text.flat());
        if commented || text.forced() || !fits(last.indent, &joined) {
            return false;
        }
        last.text = joined;
        last.end = Some(end);
        true
    }

    fn push(&mut self, indent: usize, text: String, lead: Option<usize>, end: Option<usize>) {
        self.lines.push(Line {
            indent,
            text,
            lead,
            end,
            comment_indent: indent,
            opens: false,
            closes: false,
        });
    }

    fn push_open(&mut self, indent: usize, text: String, lead: Option<usize>, end: Option<usize>) {
        self.push(indent, text, lead, end);
        self.mark_open();
    }

    fn mark_open(&mut self) {
        if let Some(line) = self.lines.last_mut() {
            line.opens = true;
        }
    }

    /// The `}` closing a block that ends at byte `end` (just after the brace).
    fn close(&mut self, indent: usize, end: usize) {
        self.lines.push(Line {
            indent,
            text: "}".to_string(),
            lead: Some(end.saturating_sub(1)),
            end: Some(end),
            comment_indent: indent + INDENT,
            opens: false,
            closes: true,
        });
    }

    fn blank(&mut self) {
        self.lines.push(Line::default());
    }

    /// Whether a comment starts in `from..to`.
    fn has_comment(&self, from: usize, to: usize) -> bool {
        self.src().has_comment(from, to)
    }

    /// The first token of kind `kind` among the three tokens at or after byte `from`.
    fn token_after(&self, from: usize, kind: Token) -> Option<Span> {
        let i = self.tokens.partition_point(|t| t.0 < from);
        self.tokens
            .iter()
            .skip(i)
            .take(3)
            .find(|t| t.1 == kind)
            .map(|&(l, _, r)| Span::new(l, r))
    }

    /// The end of the token of kind `kind` just after byte `from` (`from` if there is none).
    fn end_after(&self, from: usize, kind: Token) -> usize {
        self.token_after(from, kind).map_or(from, |s| s.end())
    }

    /// The spans of `n` doc comment lines starting at byte `start`, if they are there.
    fn doc_spans_from(&self, start: usize, n: usize) -> Vec<Option<Span>> {
        let i = self.tokens.partition_point(|t| t.0 < start);
        self.doc_spans_at(i, n)
    }

    /// The spans of the `n` doc comment lines just before the token at byte `pos`.
    fn doc_spans_before(&self, pos: usize, n: usize) -> Vec<Option<Span>> {
        let i = self.tokens.partition_point(|t| t.0 < pos);
        match i.checked_sub(n) {
            Some(first) => self.doc_spans_at(first, n),
            None => vec![None; n],
        }
    }

    fn doc_spans_at(&self, i: usize, n: usize) -> Vec<Option<Span>> {
        match self.tokens.get(i..i + n) {
            Some(toks) if toks.iter().all(|t| t.1 == Token::DocComment) => toks
                .iter()
                .map(|&(l, _, r)| Some(Span::new(l, r)))
                .collect(),
            _ => vec![None; n],
        }
    }

    /// Doc comment lines, each anchored at its own source line when it can be found.
    fn docs(&mut self, docs: &[String], spans: Vec<Option<Span>>, indent: usize) {
        for (i, doc) in docs.iter().enumerate() {
            let text = if doc.is_empty() {
                "///".to_string()
            } else {
                format!("/// {doc}")
            };
            let span = spans.get(i).copied().flatten();
            self.push(indent, text, span.map(|s| s.start()), span.map(|s| s.end()));
        }
    }

    // ------------------------------------------------------------ file and items

    fn file(&mut self, file: &File) {
        let mut first = true;
        if let Some(m) = &file.module {
            let spans = self.doc_spans_from(m.span.start(), m.docs.len());
            self.docs(&m.docs, spans, 0);
            self.push(
                0,
                format!("module {}", m.path.dotted()),
                Some(m.path.span.start()),
                Some(m.span.end()),
            );
            first = false;
        }
        if !file.uses.is_empty() {
            if !first {
                self.blank();
            }
            for u in &file.uses {
                let spans = self.doc_spans_from(u.span.start(), u.docs.len());
                self.docs(&u.docs, spans, 0);
                self.push(
                    0,
                    format!("use {}", use_text(u)),
                    Some(u.path.span.start()),
                    Some(u.span.end()),
                );
            }
            first = false;
        }
        for item in &file.items {
            if !first {
                self.blank();
            }
            first = false;
            self.item(item);
        }
    }

    fn item(&mut self, item: &Item) {
        let spans = self.doc_spans_from(item.span.start(), item.docs.len());
        self.docs(&item.docs, spans, 0);
        for a in &item.annotations {
            self.push(0, annotation(a), Some(a.span.start()), Some(a.span.end()));
        }
        let end = item.span.end();
        match &item.kind {
            ItemKind::Record(r) => self.record(r, end),
            ItemKind::Enum(e) => self.enumeration(e, end),
            ItemKind::Action(a) => {
                let mut rest = String::new();
                let mut rest_lead = None;
                if let Some(p) = &a.purpose {
                    rest.push_str(&format!(" purpose {}", p.name));
                    rest_lead = Some(p.span.start());
                }
                if let Some(r) = &a.risk {
                    rest.push_str(&format!(" risk {}", r.name));
                    rest_lead = rest_lead.or(Some(r.span.start()));
                }
                self.with_params(
                    Head::new("action", &a.name),
                    &a.params,
                    Rest {
                        prefix: rest,
                        lead: rest_lead,
                        end: Some(end),
                        ..Rest::default()
                    },
                );
            }
            ItemKind::Signal(s) => {
                let mut rest = format!(
                    ": {} from {}{}",
                    ty(&s.ty),
                    s.source.dotted(),
                    arg_list(&s.source_args)
                );
                if let Some(m) = &s.max_age {
                    rest.push_str(&format!(" max_age {}", expr(m, 0)));
                }
                self.with_params(
                    Head::new("signal", &s.name),
                    &s.params,
                    Rest {
                        prefix: rest,
                        lead: Some(s.ty.span().start()),
                        end: Some(end),
                        ..Rest::default()
                    },
                );
            }
            ItemKind::Role(n) => self.simple("role", n, end),
            ItemKind::Channel(n) => self.simple("channel", n, end),
            ItemKind::Purpose(n) => self.simple("purpose", n, end),
            ItemKind::Event(e) => self.with_params(
                Head::new("event", &e.name),
                &e.params,
                Rest {
                    end: Some(end),
                    ..Rest::default()
                },
            ),
            ItemKind::Fn(f) => {
                let head = Head::new(if f.body.is_some() { "fn" } else { "intrinsic" }, &f.name);
                let ret = format!(": {}", ty(&f.ret));
                let ret_lead = Some(f.ret.span().start());
                let Some(body) = &f.body else {
                    let rest = Rest {
                        prefix: ret,
                        lead: ret_lead,
                        end: Some(end),
                        ..Rest::default()
                    };
                    self.with_params(head, &f.params, rest);
                    return;
                };
                let open = self.end_after(head.end, Token::LParen);
                let close = f.params.last().map_or(open, |p| p.span.end());
                let close = self
                    .token_after(close, Token::RParen)
                    .map_or(close, |s| s.start());
                if let Some(list) = self.inline_params(&f.params, open, close) {
                    let header = format!("{}({list}){ret} = ", head.text);
                    let doc = self.src().expr(body, 0);
                    // A literal or a call that fits neither after the header nor on a line of its
                    // own opens on the header line, and breaks.
                    let hug = is_bracketed(body) && !doc.fits(INDENT) && fits(0, &header);
                    let line = Doc::cat(vec![Doc::text(header), doc]);
                    if line.fits(0) {
                        self.push(0, line.flat(), Some(head.lead), Some(end));
                        return;
                    }
                    if hug {
                        self.flow(0, Some(head.lead), &line, Some(end));
                        return;
                    }
                }
                let rest = Rest {
                    prefix: ret + " =",
                    lead: ret_lead,
                    end: Some(self.end_after(f.ret.span().end(), Token::Eq)),
                    ..Rest::default()
                };
                self.with_params(head, &f.params, rest);
                self.body(body, INDENT, end);
            }
            ItemKind::Policy(p) => self.policy(p, end),
            ItemKind::Decision(d) => self.decision(d, end),
            ItemKind::Journey(j) => self.journey(j, end),
            ItemKind::Agent(a) => {
                let text = format!("agent {}", a.name.name);
                let brace = self.end_after(a.name.span.end(), Token::LBrace);
                let block = !a.tools.is_empty() || self.has_comment(brace, end);
                if !block {
                    self.push(0, text + " {}", Some(a.name.span.start()), Some(end));
                    return;
                }
                self.push_open(0, text + " {", Some(a.name.span.start()), Some(brace));
                for t in &a.tools {
                    let params = if t.params.is_empty() {
                        String::new()
                    } else {
                        let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
                        format!("({})", names.join(", "))
                    };
                    self.push(
                        INDENT,
                        format!(
                            "tool {} -> {}{params}",
                            text_lit(&t.tool.value),
                            t.action.dotted()
                        ),
                        Some(t.span.start()),
                        Some(t.span.end()),
                    );
                }
                self.close(0, end);
            }
            ItemKind::Test(t) => self.test(t, end),
            ItemKind::Error => {} // not reached: a file with errors is not formatted
        }
    }

    fn simple(&mut self, keyword: &str, name: &Ident, end: usize) {
        self.push(
            0,
            format!("{keyword} {}", name.name),
            Some(name.span.start()),
            Some(end),
        );
    }

    fn record(&mut self, r: &Record, end: usize) {
        let text = format!("record {}", r.name.name);
        let brace = self.end_after(r.name.span.end(), Token::LBrace);
        if r.fields.is_empty() && !self.has_comment(brace, end) {
            self.push(0, text + " {}", Some(r.name.span.start()), Some(end));
            return;
        }
        self.push_open(0, text + " {", Some(r.name.span.start()), Some(brace));
        for f in &r.fields {
            self.param_line(f, INDENT, "");
        }
        self.close(0, end);
    }

    /// A field or a parameter on its own line: its docs, then annotations inline.
    fn param_line(&mut self, p: &Param, indent: usize, comma: &str) {
        let spans = self.doc_spans_from(p.span.start(), p.docs.len());
        self.docs(&p.docs, spans, indent);
        let lead = p
            .annotations
            .first()
            .map_or(p.name.span.start(), |a| a.span.start());
        self.push(
            indent,
            format!("{}{comma}", param(p)),
            Some(lead),
            Some(p.span.end()),
        );
    }

    fn enumeration(&mut self, e: &Enum, end: usize) {
        let names: Vec<&str> = e.variants.iter().map(|v| v.name.name.as_str()).collect();
        let one_line = if names.is_empty() {
            format!("enum {} {{}}", e.name.name)
        } else {
            format!("enum {} {{ {} }}", e.name.name, names.join(", "))
        };
        let brace = self.end_after(e.name.span.end(), Token::LBrace);
        if e.variants.iter().all(|v| v.docs.is_empty())
            && !self.has_comment(brace, end)
            && fits(0, &one_line)
        {
            self.push(0, one_line, Some(e.name.span.start()), Some(end));
            return;
        }
        self.push_open(
            0,
            format!("enum {} {{", e.name.name),
            Some(e.name.span.start()),
            Some(brace),
        );
        for v in &e.variants {
            let spans = self.doc_spans_before(v.name.span.start(), v.docs.len());
            self.docs(&v.docs, spans, INDENT);
            self.push(
                INDENT,
                format!("{},", v.name.name),
                Some(v.name.span.start()),
                Some(v.name.span.end()),
            );
        }
        self.close(0, end);
    }

    /// `head(params)` then `rest`: the parameters inline if they fit and carry no docs or
    /// comments, else one per line with trailing commas and `)` + rest on the closing line.
    /// The parameters on one line, if none has docs and no comment is written among them
    /// (between bytes `from` and `to`).
    fn inline_params(&self, params: &[Param], from: usize, to: usize) -> Option<String> {
        if params.iter().any(|p| !p.docs.is_empty()) || self.has_comment(from, to) {
            return None;
        }
        let list: Vec<String> = params.iter().map(param).collect();
        Some(list.join(", "))
    }

    fn with_params(&mut self, head: Head, params: &[Param], rest: Rest) {
        let open = self.end_after(head.end, Token::LParen);
        let params_end = params.last().map_or(open, |p| p.span.end());
        let rparen = self.token_after(params_end, Token::RParen);
        let close = rparen.map_or(params_end, |s| s.start());
        if let Some(list) = self.inline_params(params, open, close) {
            let prefix = format!("{}({list}){}", head.text, rest.prefix);
            let line = format!("{prefix}{}", rest.suffix);
            if fits(0, &line) {
                self.push(0, line, Some(head.lead), rest.end);
                if rest.opens {
                    self.mark_open();
                }
                return;
            }
        }
        self.push_open(0, format!("{}(", head.text), Some(head.lead), Some(open));
        for p in params {
            self.param_line(p, INDENT, ",");
        }
        self.lines.push(Line {
            indent: 0,
            text: format!("){}{}", rest.prefix, rest.suffix),
            lead: rparen.map(|s| s.start()).or(rest.lead),
            end: rest.end,
            comment_indent: INDENT,
            opens: rest.opens,
            closes: true,
        });
    }

    /// `prefix kw expr suffix` on one line if it fits; else `kw expr suffix` on a continuation
    /// line (4 more spaces) if that fits; else broken before each `and` / `or` of the
    /// expression's top-level chain, continuation lines indented by 4 more spaces.
    #[allow(clippy::too_many_arguments)]
    fn chain(
        &mut self,
        indent: usize,
        lead: Option<usize>,
        prefix: String,
        cond: Option<(&str, &Expr)>,
        suffix: &str,
        end: Option<usize>,
        last_opens: bool,
    ) {
        match cond {
            None => self.push(indent, format!("{prefix}{suffix}"), lead, end),
            Some((kw, e)) => {
                let head: Vec<&str> = [prefix.as_str(), kw]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                let head = head.join(" ");
                let head = if head.is_empty() { head } else { head + " " };
                let src = self.src();
                let whole = Doc::cat(vec![
                    Doc::text(head.clone()),
                    src.expr(e, 0),
                    Doc::text(suffix),
                ]);
                let alone = || format!("{kw} {}{suffix}", src.expr(e, 0).flat());
                if whole.fits(indent) {
                    self.push(indent, whole.flat(), lead, end);
                } else if !prefix.is_empty()
                    && !kw.is_empty()
                    && !whole.forced()
                    && fits(indent + CONTINUATION, &alone())
                {
                    // the condition fits on a line of its own
                    let i = self.tokens.partition_point(|t| t.0 < e.span.start());
                    let keyword = i.checked_sub(1).and_then(|k| self.tokens.get(k));
                    let before = i.checked_sub(2).and_then(|k| self.tokens.get(k));
                    self.push(indent, prefix, lead, before.map(|t| t.2));
                    self.push(indent + CONTINUATION, alone(), keyword.map(|t| t.0), end);
                } else {
                    let parts = src.chain_parts(e);
                    if parts.len() < 2 {
                        // no `and` / `or` to break before: break the lists in it
                        self.flow(indent, lead, &whole, end);
                    } else {
                        let last = parts.len() - 1;
                        for (i, (op, doc, span)) in parts.into_iter().enumerate() {
                            let (line_indent, line_lead, first) = match op {
                                None => (indent, lead, head.clone()),
                                Some(op) => (
                                    indent + CONTINUATION,
                                    Some(span.start()),
                                    format!("{} ", op.symbol()),
                                ),
                            };
                            let (line_end, tail) = if i == last {
                                (end, suffix)
                            } else {
                                (Some(span.end()), "")
                            };
                            let line = Doc::cat(vec![Doc::text(first), doc, Doc::text(tail)]);
                            self.flow(line_indent, line_lead, &line, line_end);
                        }
                    }
                }
            }
        }
        if last_opens {
            self.mark_open();
        }
    }

    /// A function body on the lines after its header: on one line if it fits, else an `if` as
    /// `if` / `then` / `else` lines (`else if` chains flattened), else broken as a condition.
    fn body(&mut self, e: &Expr, indent: usize, end: usize) {
        if self.src().expr(e, 0).fits(indent) || !matches!(e.kind, ExprKind::If(..)) {
            self.chain(
                indent,
                Some(e.span.start()),
                String::new(),
                Some(("", e)),
                "",
                Some(end),
                false,
            );
            return;
        }
        let mut current = e;
        let mut keyword = "if";
        while let ExprKind::If(c, a, b) = &current.kind {
            self.chain(
                indent,
                Some(current.span.start()),
                String::new(),
                Some((keyword, c)),
                "",
                Some(c.span.end()),
                false,
            );
            self.chain(
                indent,
                Some(a.span.start()),
                String::new(),
                Some(("then", a)),
                "",
                Some(a.span.end()),
                false,
            );
            current = b;
            keyword = "else if";
        }
        self.chain(
            indent,
            Some(current.span.start()),
            String::new(),
            Some(("else", current)),
            "",
            Some(end),
            false,
        );
    }

    fn policy(&mut self, p: &Policy, end: usize) {
        let mut text = format!("policy {} for ", p.name.name);
        let mut header_end = p.name.span.end();
        match &p.target {
            Target::Action(path) => {
                text.push_str(&path.dotted());
                header_end = path.span.end();
            }
            Target::Purpose(n) => {
                text.push_str(&format!("purpose {}", n.name));
                header_end = header_end.max(n.span.end());
            }
        }
        if !p.bindings.is_empty() {
            text.push_str(&bindings(&p.bindings));
            header_end = header_end.max(bindings_end(&p.bindings));
        }
        if let Some(at) = &p.at {
            text.push_str(&format!(" at {}", at.name));
            header_end = at.span.end();
        }
        let brace = self.end_after(header_end, Token::LBrace);
        if p.rules.is_empty() && !self.has_comment(brace, end) {
            self.push(0, text + " {}", Some(p.name.span.start()), Some(end));
            return;
        }
        self.push_open(0, text + " {", Some(p.name.span.start()), Some(brace));
        for rule in &p.rules {
            let Rule::Rule {
                kind,
                reason,
                condition,
                span,
            } = rule
            else {
                continue; // not reached: a file with errors is not formatted
            };
            let mut prefix = match kind {
                RuleKind::Deny => "deny".to_string(),
                RuleKind::Allow => "allow".to_string(),
                RuleKind::Review { .. } => "review".to_string(),
            };
            if let Some(r) = reason {
                prefix.push(' ');
                prefix.push_str(&text_lit(&r.value));
            }
            if let RuleKind::Review {
                role,
                within,
                fallback,
                ..
            } = kind
            {
                prefix.push_str(&format!(
                    " by role {} within {} else {}",
                    role.name,
                    expr(within, 0),
                    fallback.keyword()
                ));
            }
            self.chain(
                INDENT,
                Some(span.start()),
                prefix,
                condition.as_ref().map(condition_parts),
                "",
                Some(span.end()),
                false,
            );
        }
        self.close(0, end);
    }

    fn decision(&mut self, d: &Decision, end: usize) {
        let head = Head::new("decision", &d.name);
        let params_end = d.params.last().map_or(head.end, |p| p.span.end());
        let header_end = d.at.as_ref().map_or(params_end, |a| a.span.end());
        let at =
            d.at.as_ref()
                .map(|a| format!(" at {}", a.name))
                .unwrap_or_default();
        let brace = self.end_after(header_end, Token::LBrace);
        let block = !d.proposals.is_empty() || self.has_comment(brace, end);
        self.with_params(
            head,
            &d.params,
            Rest {
                prefix: at,
                lead: d.at.as_ref().map(|a| a.span.start()),
                suffix: if block { " {" } else { " {}" }.to_string(),
                end: Some(if block { brace } else { end }),
                opens: block,
            },
        );
        if !block {
            return;
        }
        for p in &d.proposals {
            self.proposal(p, INDENT);
        }
        self.close(0, end);
    }

    /// `propose call rank by e when c` on one line if it fits; else the call (its arguments
    /// broken if it does not fit), then `rank by` and the condition after its `)` if they fit
    /// there, else on continuation lines (the condition broken before `and` / `or` if it still
    /// does not fit).
    fn proposal(&mut self, p: &Proposal, indent: usize) {
        let src = self.src();
        let head = Doc::cat(vec![Doc::text("propose "), src.call(&p.call)]);
        let rank = p
            .rank
            .as_ref()
            .map(|r| Doc::cat(vec![Doc::text("rank by "), src.expr(r, 0)]));
        let cond = p.condition.as_ref().map(|c| {
            let (kw, e) = condition_parts(c);
            Doc::cat(vec![Doc::text(format!("{kw} ")), src.expr(e, 0)])
        });
        let rest: Vec<Doc> = [rank.clone(), cond].into_iter().flatten().collect();
        let end = p.span.end();
        if rest.is_empty() {
            self.flow(indent, Some(p.span.start()), &head, Some(end));
            return;
        }
        let rest = spaced(rest);
        let whole = Doc::cat(vec![head.clone(), Doc::text(" "), rest.clone()]);
        if whole.fits(indent) {
            self.push(indent, whole.flat(), Some(p.span.start()), Some(end));
            return;
        }
        self.flow(indent, Some(p.span.start()), &head, Some(p.call.span.end()));
        if self.append(&rest, end) {
            return;
        }
        let cont = indent + CONTINUATION;
        if let (Some(doc), Some(r)) = (rank, &p.rank) {
            let r_end = if p.condition.is_some() {
                r.span.end()
            } else {
                end
            };
            self.flow(cont, Some(r.span.start()), &doc, Some(r_end));
        }
        if let Some(c) = &p.condition {
            self.chain(
                cont,
                Some(c.span.start()),
                String::new(),
                Some(condition_parts(c)),
                "",
                Some(end),
                false,
            );
        }
    }

    fn journey(&mut self, j: &Journey, end: usize) {
        let head = Head::new("journey", &j.name);
        let header_end = j.params.last().map_or(head.end, |p| p.span.end());
        let brace = self.end_after(header_end, Token::LBrace);
        let block = !j.states.is_empty() || self.has_comment(brace, end);
        self.with_params(
            head,
            &j.params,
            Rest {
                suffix: if block { " {" } else { " {}" }.to_string(),
                end: Some(if block { brace } else { end }),
                opens: block,
                ..Rest::default()
            },
        );
        if !block {
            return;
        }
        for s in &j.states {
            let text = format!("state {}", s.name.name);
            let s_end = s.span.end();
            let brace = self.end_after(s.name.span.end(), Token::LBrace);
            if s.handlers.is_empty() && !self.has_comment(brace, s_end) {
                self.push(INDENT, text + " {}", Some(s.span.start()), Some(s_end));
                continue;
            }
            self.push_open(INDENT, text + " {", Some(s.span.start()), Some(brace));
            for h in &s.handlers {
                self.handler(h, 2 * INDENT);
            }
            self.close(INDENT, s_end);
        }
        self.close(0, end);
    }

    fn handler(&mut self, h: &Handler, indent: usize) {
        let h_end = h.span.end();
        let (prefix, cond, header_end) = match &h.trigger {
            Trigger::On {
                event,
                bindings: bs,
                condition,
            } => {
                let mut prefix = format!("on {}", event.dotted());
                let mut header_end = event.span.end();
                if !bs.is_empty() {
                    prefix.push_str(&bindings(bs));
                    header_end = header_end.max(bindings_end(bs));
                }
                if let Some(c) = condition {
                    header_end = c.span.end();
                }
                (prefix, condition.as_ref().map(condition_parts), header_end)
            }
            Trigger::Wait(e) => (format!("wait {}", expr(e, 0)), None, e.span.end()),
            // Not reached: a file with errors is not formatted.
            Trigger::Error(span) => ("on".to_string(), None, span.end()),
        };
        let brace = self.end_after(header_end, Token::LBrace);
        let block = !h.steps.is_empty() || self.has_comment(brace, h_end);
        self.chain(
            indent,
            Some(h.span.start()),
            prefix,
            cond,
            if block { " {" } else { " {}" },
            Some(if block { brace } else { h_end }),
            block,
        );
        if !block {
            return;
        }
        for step in &h.steps {
            match step {
                Step::Propose(c) => {
                    let doc = Doc::cat(vec![Doc::text("propose "), self.src().call(c)]);
                    self.flow(
                        indent + INDENT,
                        Some(c.span.start()),
                        &doc,
                        Some(c.span.end()),
                    );
                }
                Step::Goto(n) => self.push(
                    indent + INDENT,
                    format!("goto {}", n.name),
                    Some(n.span.start()),
                    Some(n.span.end()),
                ),
            }
        }
        self.close(indent, h_end);
    }

    fn test(&mut self, t: &Test, end: usize) {
        let text = format!("test {}", text_lit(&t.name.value));
        let brace = self.end_after(t.name.span.end(), Token::LBrace);
        if t.body.is_empty() && !self.has_comment(brace, end) {
            self.push(0, text + " {}", Some(t.name.span.start()), Some(end));
            return;
        }
        self.push_open(0, text + " {", Some(t.name.span.start()), Some(brace));
        for stmt in &t.body {
            match stmt {
                TestStmt::Let { name, value, span } => {
                    let doc = Doc::cat(vec![
                        Doc::text(format!("let {} = ", name.name)),
                        self.src().expr(value, 0),
                    ]);
                    self.flow(INDENT, Some(span.start()), &doc, Some(span.end()));
                }
                TestStmt::Expect(e) => self.expect(e, INDENT),
                TestStmt::Error(_) => {} // not reached: a file with errors is not formatted
            }
        }
        self.close(0, end);
    }

    /// `expect p(call) == verdict(reasons) at T given s = v` (or `expect call == …`, the action
    /// form) on one line if it fits; else the head `expect p(call)` (the call's arguments broken if it does not fit), then the clauses
    /// after it if they fit there, else broken before `==`, `at` and `given`, packed onto
    /// continuation lines (a clause that does not fit one has its lists broken).
    fn expect(&mut self, e: &Expect, indent: usize) {
        let src = self.src();
        let head = match &e.policy {
            Some(policy) => Doc::cat(vec![
                Doc::text(format!("expect {}(", policy.dotted())),
                src.call(&e.call),
                Doc::text(")"),
            ]),
            // The action form: `expect a(args)`, the action's verdict.
            None => Doc::cat(vec![Doc::text("expect "), src.call(&e.call)]),
        };
        // (clause, first byte, last byte) of each clause after the head
        let mut parts: Vec<(Doc, Option<usize>, Option<usize>)> = Vec::new();
        let mut verdict = vec![Doc::text(format!("== {}", e.verdict.keyword()))];
        let eq = self.token_after(e.call.span.end(), Token::EqEq);
        // the verdict keyword is the token after `==`
        let mut verdict_end = eq.and_then(|eq| src.next_token(eq.end()).map(|t| t.2));
        if let Some(reasons) = &e.reasons {
            let from = verdict_end.map_or(e.call.span.end(), |v| src.start_of(v, Token::LParen));
            let last = reasons.last().map(|r| r.span.end()).or(verdict_end);
            verdict_end = last.and_then(|l| self.token_after(l, Token::RParen).map(|s| s.end()));
            let items = reasons
                .iter()
                .map(|r| element(Doc::text(text_lit(&r.value)), r.span))
                .collect();
            let to = verdict_end.unwrap_or(from);
            verdict.push(src.list(("(", ")"), false, (from, to), items));
        }
        parts.push((Doc::cat(verdict), eq.map(|s| s.start()), verdict_end));
        if let Some(at) = &e.at {
            parts.push((
                Doc::cat(vec![Doc::text("at "), src.expr(at, 0)]),
                Some(at.span.start()),
                Some(at.span.end()),
            ));
        }
        if !e.given.is_empty() {
            let mut given = vec![Doc::text("given ")];
            for (i, (n, v)) in e.given.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                given.push(Doc::text(format!("{sep}{} = ", n.name)));
                given.push(src.expr(v, 0));
            }
            parts.push((
                Doc::cat(given),
                e.given.first().map(|(n, _)| n.span.start()),
                e.given.last().map(|(_, v)| v.span.end()),
            ));
        }
        let rest = spaced(parts.iter().map(|p| p.0.clone()).collect());
        let whole = Doc::cat(vec![head.clone(), Doc::text(" "), rest.clone()]);
        let end = e.span.end();
        if whole.fits(indent) {
            self.push(indent, whole.flat(), Some(e.span.start()), Some(end));
            return;
        }
        self.flow(indent, Some(e.span.start()), &head, Some(e.call.span.end()));
        if self.append(&rest, end) {
            return;
        }
        let cont = indent + CONTINUATION;
        let mut current: Option<(String, Option<usize>, Option<usize>)> = None;
        for (doc, lead, last) in parts {
            if let Some((text, l, r)) = current.take() {
                let joined = format!("{text} {}", doc.flat());
                if !doc.forced() && fits(cont, &joined) {
                    current = Some((joined, l.or(lead), last.or(r)));
                    continue;
                }
                self.push(cont, text, l, r);
            }
            if doc.fits(cont) {
                current = Some((doc.flat(), lead, last));
            } else {
                self.flow(cont, lead, &doc, last);
            }
        }
        match current {
            Some((text, lead, _)) => self.push(cont, text, lead, Some(end)),
            None => {
                if let Some(line) = self.lines.last_mut() {
                    line.end = Some(end);
                }
            }
        }
    }
}

/// The start of a declaration with parameters: `action name`, with where its name is.
struct Head {
    text: String,
    lead: usize,
    end: usize,
}

impl Head {
    fn new(keyword: &str, name: &Ident) -> Head {
        Head {
            text: format!("{keyword} {}", name.name),
            lead: name.span.start(),
            end: name.span.end(),
        }
    }
}

/// What follows a parameter list: `prefix` (e.g. ` purpose p risk r`) and a suffix (` {`), with
/// where the prefix starts and the whole ends in the source, and whether it opens a block.
#[derive(Default)]
struct Rest {
    prefix: String,
    lead: Option<usize>,
    suffix: String,
    end: Option<usize>,
    opens: bool,
}

/// Docs joined by single spaces.
fn spaced(docs: Vec<Doc>) -> Doc {
    let mut parts = Vec::with_capacity(2 * docs.len());
    for (i, d) in docs.into_iter().enumerate() {
        if i > 0 {
            parts.push(Doc::text(" "));
        }
        parts.push(d);
    }
    Doc::cat(parts)
}

/// Whether an expression is written in brackets of its own (a literal list, set or record, or
/// a call), so that it can open at the end of the line before it.
fn is_bracketed(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::List(_)
            | ExprKind::Set(_)
            | ExprKind::Record { .. }
            | ExprKind::Call { receiver: None, .. }
    )
}

fn condition_parts(c: &Condition) -> (&'static str, &Expr) {
    (if c.negated { "unless" } else { "when" }, &c.expr)
}

// ---------------------------------------------------------------- comments

/// A rendered line.
struct Out {
    text: String,
    opens: bool,
    blank: bool,
}

/// What follows a comment placed on its own line.
#[derive(PartialEq)]
enum Next {
    Comment,
    Code,
    Closer,
    End,
}

/// Puts the lines and the comments together.
fn render(lines: &[Line], comments: &[Comment], source: &str) -> String {
    let mut out: Vec<Out> = Vec::new();
    let mut next = 0;
    // the first source byte of the next line that has one, for each line
    let mut bounds = vec![None; lines.len()];
    let mut bound = None;
    for (i, line) in lines.iter().enumerate().rev() {
        bounds[i] = bound;
        bound = line.first_pos().or(bound);
    }
    for (i, line) in lines.iter().enumerate() {
        if line.text.is_empty() {
            push_blank(&mut out);
            continue;
        }
        if let Some(limit) = line.end.or(line.lead) {
            while next < comments.len() && comments[next].span.start() < limit {
                let following = if comments
                    .get(next + 1)
                    .is_some_and(|c| c.span.start() < limit)
                {
                    Next::Comment
                } else if line.closes {
                    Next::Closer
                } else {
                    Next::Code
                };
                own_line(
                    &mut out,
                    &comments[next],
                    line.comment_indent,
                    source,
                    following,
                );
                next += 1;
            }
        }
        let mut text = format!("{}{}", " ".repeat(line.indent), line.text);
        if let (Some(end), Some(c)) = (line.end, comments.get(next)) {
            let start = c.span.start();
            if start >= end
                && !source[end..start].contains('\n')
                && bounds[i].is_none_or(|b| start < b)
            {
                text.push_str("  ");
                text.push_str(&c.text);
                next += 1;
            }
        }
        out.push(Out {
            text,
            opens: line.opens,
            blank: false,
        });
    }
    if next < comments.len() {
        push_blank(&mut out);
        for (k, c) in comments[next..].iter().enumerate() {
            let following = if next + k + 1 < comments.len() {
                Next::Comment
            } else {
                Next::End
            };
            own_line(&mut out, c, 0, source, following);
        }
    }
    while out.last().is_some_and(|o| o.blank) {
        out.pop();
    }
    let mut text = String::new();
    for o in &out {
        text.push_str(&o.text);
        text.push('\n');
    }
    if text.is_empty() {
        text.push('\n');
    }
    text
}

fn push_blank(out: &mut Vec<Out>) {
    if out.last().is_some_and(|o| !o.blank) {
        out.push(Out {
            text: String::new(),
            opens: false,
            blank: true,
        });
    }
}

/// Whether a blank line separates `a` from `b` (which are only whitespace apart).
fn blank_between(gap: &str) -> bool {
    gap.chars().filter(|&c| c == '\n').count() >= 2
}

/// A comment on its own line, keeping a blank line before or after it from the source.
fn own_line(out: &mut Vec<Out>, c: &Comment, indent: usize, source: &str, following: Next) {
    let before = &source[..c.span.start()];
    let gap_before = &before[before.trim_end().len()..];
    if blank_between(gap_before) && out.last().is_some_and(|o| !o.opens) {
        push_blank(out);
    }
    out.push(Out {
        text: format!("{}{}", " ".repeat(indent), c.text),
        opens: false,
        blank: false,
    });
    let after = &source[c.span.end()..];
    let gap_after = &after[..after.len() - after.trim_start().len()];
    if following == Next::Code && blank_between(gap_after) {
        push_blank(out);
    }
}

// ---------------------------------------------------------------- inline text

fn use_text(u: &Use) -> String {
    let path = u.path.dotted();
    match &u.kind {
        UseKind::Single { alias: None } => path,
        UseKind::Single { alias: Some(a) } => format!("{path} as {}", a.name),
        UseKind::Glob => format!("{path}.*"),
        UseKind::Group(names) => {
            let names: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
            format!("{path}.{{{}}}", names.join(", "))
        }
    }
}

fn annotation(a: &Annotation) -> String {
    if a.args.is_empty() {
        format!("@{}", a.name.name)
    } else {
        format!("@{}{}", a.name.name, arg_list(&a.args))
    }
}

/// `@a @b name: Type`
fn param(p: &Param) -> String {
    let mut text = String::new();
    for a in &p.annotations {
        text.push_str(&annotation(a));
        text.push(' ');
    }
    text.push_str(&format!("{}: {}", p.name.name, ty(&p.ty)));
    text
}

fn bindings(bs: &[Binding]) -> String {
    let parts: Vec<String> = bs.iter().map(Binding::written).collect();
    format!("({})", parts.join(", "))
}

fn bindings_end(bs: &[Binding]) -> usize {
    bs.iter()
        .map(|b| b.param.span.end().max(b.var.span.end()))
        .max()
        .unwrap_or(0)
}

/// A type as written: `List<Text>`, `Time?`, `{ consents: List<Consent>, .. }`.
pub fn ty(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named { path, args, .. } => {
            if args.is_empty() {
                path.dotted()
            } else {
                let args: Vec<String> = args.iter().map(ty).collect();
                format!("{}<{}>", path.dotted(), args.join(", "))
            }
        }
        // `T??` lexes as one `??` token, which the type grammar reads as two `?`.
        TypeExpr::Optional { inner, .. } => format!("{}?", ty(inner)),
        TypeExpr::Open { fields, .. } => {
            let mut text = "{ ".to_string();
            for (name, t) in fields {
                text.push_str(&format!("{}: {}, ", name.name, ty(t)));
            }
            text.push_str(".. }");
            text
        }
        // Only in a file with errors, which is not formatted.
        TypeExpr::Error(_) => "?".to_string(),
    }
}

/// `(args)` on one line.
fn arg_list(args: &[Arg]) -> String {
    Source::NONE.args(args, 0, 0).flat()
}

// ---------------------------------------------------------------- expressions

/// The tokens and comments of the file being formatted: where brackets and commas are, for
/// anchoring comments to list elements, and whether a comment is written inside a list (which
/// then cannot be flat). Empty ([`Source::NONE`]) where an expression is only written flat.
#[derive(Clone, Copy)]
struct Source<'a> {
    tokens: &'a [(usize, Token, usize)],
    comments: &'a [Comment],
}

impl Source<'_> {
    const NONE: Source<'static> = Source {
        tokens: &[],
        comments: &[],
    };

    /// Whether a comment starts in `from..to`.
    fn has_comment(&self, from: usize, to: usize) -> bool {
        let i = self.comments.partition_point(|c| c.span.start() < from);
        self.comments.get(i).is_some_and(|c| c.span.start() < to)
    }

    /// The first token at or after byte `from`.
    fn next_token(&self, from: usize) -> Option<(usize, Token, usize)> {
        let i = self.tokens.partition_point(|t| t.0 < from);
        self.tokens.get(i).copied()
    }

    /// The start of the token of kind `kind` just after byte `from` (`from` if it is not there).
    fn start_of(&self, from: usize, kind: Token) -> usize {
        self.next_token(from)
            .filter(|t| t.1 == kind)
            .map_or(from, |t| t.0)
    }

    /// A list whose brackets are at `from` (the opening one's start) and `to` (the closing
    /// one's end).
    fn list(
        &self,
        (open, close): (&'static str, &'static str),
        pad: bool,
        (from, to): (usize, usize),
        items: Vec<Element>,
    ) -> Doc {
        Doc::list(List {
            open,
            close,
            pad,
            items,
            open_end: Some(from + open.len()),
            close_start: Some(to.saturating_sub(close.len()).max(from)),
            commented: self.has_comment(from, to),
        })
    }

    /// `(args)`, the `(` at or after byte `from`, the `)` ending at byte `to`.
    fn args(&self, args: &[Arg], from: usize, to: usize) -> Doc {
        let items = args
            .iter()
            .map(|a| {
                let value = self.expr(&a.value, 0);
                match &a.name {
                    Some(n) => element(
                        Doc::cat(vec![Doc::text(format!("{}: ", n.name)), value]),
                        Span::new(n.span.start(), a.value.span.end()),
                    ),
                    None => element(value, a.value.span),
                }
            })
            .collect();
        let from = self.start_of(from, Token::LParen);
        self.list(("(", ")"), false, (from, to), items)
    }

    /// `callee(args)` of a proposal, a step or an `expect`.
    fn call(&self, c: &Call) -> Doc {
        Doc::cat(vec![
            Doc::text(c.callee.dotted()),
            self.args(&c.args, c.callee.span.end(), c.span.end()),
        ])
    }

    /// An expression in a position that needs at least level `min` (see [`expr`]).
    fn expr(&self, e: &Expr, min: u8) -> Doc {
        let doc = self.bare(e);
        if level(e) < min {
            Doc::cat(vec![Doc::text("("), doc, Doc::text(")")])
        } else {
            doc
        }
    }

    fn bare(&self, e: &Expr) -> Doc {
        let span = (e.span.start(), e.span.end());
        match &e.kind {
            ExprKind::Lit(l) => Doc::text(literal(l)),
            ExprKind::Name(n) => Doc::text(n.name.clone()),
            ExprKind::Field(x, f) => {
                Doc::cat(vec![self.expr(x, 10), Doc::text(format!(".{}", f.name))])
            }
            ExprKind::Call {
                callee,
                receiver,
                args: a,
            } => {
                let args = self.args(a, callee.span.end(), e.span.end());
                match receiver {
                    Some(r) => Doc::cat(vec![
                        self.expr(r, 10),
                        Doc::text(format!(".{}", callee.dotted())),
                        args,
                    ]),
                    None => Doc::cat(vec![Doc::text(callee.dotted()), args]),
                }
            }
            ExprKind::Binary(op, a, b) => {
                let (la, lb) = operand_levels(*op);
                Doc::cat(vec![
                    self.expr(a, la),
                    Doc::text(format!(" {} ", op.symbol())),
                    self.expr(b, lb),
                ])
            }
            ExprKind::Unary(UnOp::Not, x) => Doc::cat(vec![Doc::text("not "), self.expr(x, 3)]),
            ExprKind::Unary(UnOp::Neg, x) => Doc::cat(vec![Doc::text("-"), self.expr(x, 9)]),
            ExprKind::Is { expr: x, present } => Doc::cat(vec![
                self.expr(x, 5),
                Doc::text(if *present {
                    " is present"
                } else {
                    " is absent"
                }),
            ]),
            ExprKind::Range { lo, hi, inclusive } => Doc::cat(vec![
                self.expr(lo, 6),
                Doc::text(if *inclusive { "..=" } else { ".." }),
                self.expr(hi, 6),
            ]),
            ExprKind::If(c, a, b) => Doc::cat(vec![
                Doc::text("if "),
                self.expr(c, 0),
                Doc::text(" then "),
                self.expr(a, 0),
                Doc::text(" else "),
                self.expr(b, 0),
            ]),
            ExprKind::List(xs) => {
                let items = xs.iter().map(|x| element(self.expr(x, 0), x.span));
                self.list(("[", "]"), false, span, items.collect())
            }
            ExprKind::Set(xs) => {
                let items = xs.iter().map(|x| element(self.expr(x, 0), x.span));
                self.list(("{", "}"), false, span, items.collect())
            }
            ExprKind::Record { fields, rest } => {
                let mut items: Vec<Element> = fields
                    .iter()
                    .map(|(n, v)| {
                        let field =
                            Doc::cat(vec![Doc::text(format!("{}: ", n.name)), self.expr(v, 0)]);
                        element(field, Span::new(n.span.start(), v.span.end()))
                    })
                    .collect();
                if *rest {
                    // `..` is the last token before the `}`; the grammar allows no comma after it
                    let close = span.1.saturating_sub(1);
                    let i = self.tokens.partition_point(|t| t.0 < close);
                    let dots = i
                        .checked_sub(1)
                        .and_then(|i| self.tokens.get(i))
                        .filter(|t| t.1 == Token::DotDot);
                    items.push(Element {
                        doc: Doc::text(".."),
                        lead: dots.map(|t| t.0),
                        end: dots.map(|t| t.2),
                        comma: false,
                    });
                }
                self.list(("{", "}"), true, span, items)
            }
            ExprKind::Lambda(x, body) => Doc::cat(vec![
                Doc::text(format!("{} => ", x.name)),
                self.expr(body, 0),
            ]),
            ExprKind::Paren(x) => Doc::cat(vec![Doc::text("("), self.expr(x, 0), Doc::text(")")]),
            ExprKind::Error => Doc::text("absent"), // not built by the parser
        }
    }

    /// The operands of the top-level `and` / `or` chain of a condition, each with the operator
    /// before it (none for the first) and its span. Joined by spaces they give `expr(e, 0)`.
    fn chain_parts(&self, e: &Expr) -> Vec<(Option<BinOp>, Doc, Span)> {
        fn walk(
            src: &Source,
            e: &Expr,
            min: u8,
            op: Option<BinOp>,
            out: &mut Vec<(Option<BinOp>, Doc, Span)>,
        ) {
            if let ExprKind::Binary(o @ (BinOp::And | BinOp::Or), a, b) = &e.kind
                && level(e) >= min
            {
                let (la, lb) = operand_levels(*o);
                walk(src, a, la, op, out);
                walk(src, b, lb, Some(*o), out);
            } else {
                out.push((op, src.expr(e, min), e.span));
            }
        }
        let mut out = Vec::new();
        walk(self, e, 0, None, &mut out);
        out
    }
}

/// An element of a list, written at `span`.
fn element(doc: Doc, span: Span) -> Element {
    Element {
        doc,
        lead: Some(span.start()),
        end: Some(span.end()),
        comma: true,
    }
}

/// How tightly an expression binds, as the grammar's levels: `if` 0, `or` 1, `and` 2, `not` 3,
/// comparisons and `is` 4, ranges 5, `??` 6, `+ -` 7, `* / %` 8, unary `-` 9, postfix 10,
/// primary 11 (the binary levels are [`BinOp::precedence`]).
fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::If(..) | ExprKind::Lambda(..) => 0,
        ExprKind::Binary(op, ..) => op.precedence(),
        ExprKind::Unary(UnOp::Not, _) => 3,
        ExprKind::Is { .. } => 4,
        ExprKind::Range { .. } => 5,
        ExprKind::Unary(UnOp::Neg, _) => 9,
        ExprKind::Field(..)
        | ExprKind::Call {
            receiver: Some(_), ..
        } => 10,
        _ => 11,
    }
}

/// The levels the operands of `op` must have (comparisons do not chain; `and` and `or` are
/// associative, and the parser groups their chains as balanced trees, so either side may be
/// the same operator without parentheses).
fn operand_levels(op: BinOp) -> (u8, u8) {
    let p = op.precedence();
    if p == BinOp::Eq.precedence() {
        (p + 1, p + 1)
    } else if matches!(op, BinOp::And | BinOp::Or) {
        (p, p)
    } else {
        (p, p + 1)
    }
}

/// An expression in a position that needs at least level `min`, on one line. The parser's
/// trees never need added parentheses (the author's are [`ExprKind::Paren`] nodes); others get
/// them.
pub fn expr(e: &Expr, min: u8) -> String {
    Source::NONE.expr(e, min).flat()
}

/// A literal from its value, in normal form.
pub fn literal(l: &Literal) -> String {
    match l {
        Literal::Bool(b) => b.to_string(),
        Literal::Int(i) => i.to_string(),
        Literal::Decimal(d) => d.clone(),
        Literal::Money(amount, currency) => format!("{amount} {currency}"),
        Literal::Text(t) => text_lit(t),
        Literal::Duration(_, written) => written.clone(),
        Literal::Time(t) => t.clone(),
        Literal::Absent => "absent".to_string(),
    }
}

/// A text literal, quoted and escaped: `"`, `\`, newline and tab by their escapes, the other
/// characters that show nothing (controls, zero-width and format characters…) as
/// `\u{..}`.
pub fn text_lit(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => push_shown(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// Source text (a condition, a rule) on one line, as it reads: its tokens as written (text
/// literals exactly, their spaces kept), one space wherever blanks, line breaks or comments
/// separated two of them, and comments left out (a `//` comment would otherwise swallow the
/// rest of the line). What the lexer cannot read is kept as written. For quoting source in
/// messages, helps and fired-rule lines.
pub fn one_line(source: &str) -> String {
    if on_one_line(source) {
        return source.to_string();
    }
    one_line_lexed(source)
}

/// Whether `source` is already on one line as [`one_line`] writes it, judged from its bytes
/// (much cheaper than lexing, and true of most conditions): ASCII, no blank at either end, no
/// blank but single spaces, no comment marker.
pub fn on_one_line(source: &str) -> bool {
    let blank = |b: &u8| b.is_ascii_whitespace() || *b == 0x0b;
    let bytes = source.as_bytes();
    source.is_ascii()
        && !bytes.first().is_some_and(blank)
        && !bytes.last().is_some_and(blank)
        && !bytes.windows(2).any(|w| {
            (blank(&w[0]) && (w[0] != b' ' || blank(&w[1])))
                || (w[0] == b'/' && matches!(w[1], b'/' | b'*'))
        })
}

/// [`one_line`] without its shortcut.
fn one_line_lexed(source: &str) -> String {
    let lexed = crate::lexer::lex(source);
    // Tokens, and whatever the lexer could not read (nothing of the text is left out but
    // blanks and comments).
    let mut pieces: Vec<(usize, usize)> =
        (lexed.tokens.iter().map(|&(start, _, end)| (start, end)))
            .chain(lexed.errors.iter().map(|e| (e.span.start(), e.span.end())))
            .collect();
    pieces.sort_unstable();
    let mut line = String::with_capacity(source.len());
    let mut last: Option<usize> = None;
    for (start, end) in pieces {
        if let Some(last_end) = last {
            if start < last_end {
                continue;
            }
            if start > last_end {
                line.push(' ');
            }
        }
        line.push_str(source.get(start..end).unwrap_or_default());
        last = Some(end);
    }
    line
}

/// `value` with the characters that show nothing escaped as [`text_lit`] escapes them (newline
/// and tab as `\n` and `\t`, the others as `\u{..}`), and nothing else changed: for printing
/// a name, a reason or a rule's text from a source to a terminal, where a control sequence
/// could rewrite what is shown.
pub fn escape_invisible(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        push_shown(&mut out, c);
    }
    out
}

/// Pushes `c`, escaped if it shows nothing.
fn push_shown(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        c if invisible(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        c => out.push(c),
    }
}

/// A duration in milliseconds, in the largest units: `5400000` → `1h30m`, `0` → `0s`.
pub fn duration(ms: i64) -> String {
    // The parser builds no negative duration (`-5m` is a negation of `5m`).
    xop_runtime::value::duration_text(ms.max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSY: &str = r#"// header
module   acme.messy
use std.time.local_hour
use   std.consent.consent   // consent check
/// Customer.
record Customer { id: Id, segment: Segment
  @personal(purpose: [service]) msisdn: Text   tz: Tz }
enum Segment {vip,standard}
action send_offer(to: Customer,channel: Channel) purpose marketing risk minimal
policy contact for send_offer(to: c, channel: ch) at now {
deny "no-consent" unless consent(c,marketing,ch)
  deny "quiet" unless local_hour(now,c.tz) in 8 .. 21   // quiet hours
review "vip" by role desk within 90m else allow when c.segment == vip and (c.id == "x" or not c.id == "y")
    allow "ok"
    // the end
}
test "t" { let x = 1_000
expect contact(send_offer(to: {segment: vip, ..}, channel: sms)) == deny("no-consent") at 2026-11-25T10:00:00Z given s = absent }
"#;

    /// A file with CRLF line endings (and a byte-order mark) keeps them; LF stays LF; each is
    /// a fixed point, and the layout is the same.
    #[test]
    fn line_endings_and_a_byte_order_mark_are_kept() {
        let lf = format(MESSY).unwrap();
        assert!(!lf.contains('\r'));
        let crlf_source = MESSY.replace('\n', "\r\n");
        let crlf = format(&crlf_source).unwrap();
        assert_eq!(crlf, lf.replace('\n', "\r\n"));
        assert_eq!(format(&crlf).unwrap(), crlf);
        let bom = format(&format!("\u{feff}{crlf_source}")).unwrap();
        assert_eq!(bom, format!("\u{feff}{crlf}"));
        assert_eq!(format(&bom).unwrap(), bom);
        assert_eq!(
            format(&format!("\u{feff}{MESSY}")).unwrap(),
            format!("\u{feff}{lf}")
        );
    }

    fn comments(source: &str) -> Vec<String> {
        parse::parse(&Arc::from("t.xop"), source)
            .comments
            .iter()
            .map(|c| c.text.clone())
            .collect()
    }

    fn tree(source: &str) -> serde_json::Value {
        let parsed = parse::parse(&Arc::from("t.xop"), source);
        assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
        erase_spans(&parsed.ast)
    }

    fn fmt(source: &str) -> String {
        format(source).unwrap_or_else(|d| panic!("{d:#?}"))
    }

    #[test]
    fn formats_a_messy_file_canonically() {
        let expected = r#"// header
module acme.messy

use std.time.local_hour
use std.consent.consent  // consent check

/// Customer.
record Customer {
  id: Id
  segment: Segment
  @personal(purpose: [service]) msisdn: Text
  tz: Tz
}

enum Segment { vip, standard }

action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal

policy contact for send_offer(to: c, channel: ch) at now {
  deny "no-consent" unless consent(c, marketing, ch)
  deny "quiet" unless local_hour(now, c.tz) in 8..21  // quiet hours
  review "vip" by role desk within 90m else allow
      when c.segment == vip and (c.id == "x" or not c.id == "y")
  allow "ok"
  // the end
}

test "t" {
  let x = 1000
  expect contact(send_offer(to: { segment: vip, .. }, channel: sms))
      == deny("no-consent") at 2026-11-25T10:00:00Z given s = absent
}
"#;
        assert_eq!(fmt(MESSY), expected);
    }

    #[test]
    fn is_idempotent_and_keeps_the_tree() {
        let once = fmt(MESSY);
        assert_eq!(fmt(&once), once);
        assert_eq!(tree(MESSY), tree(&once));
    }

    #[test]
    fn keeps_every_comment_in_order() {
        let source = "// a\nmodule m // b\n\n// c\nrecord R { // d\n  x: Int // e\n  // f\n}\n// g\nenum E { a, // h\n b }\n// i\n";
        let once = fmt(source);
        assert_eq!(comments(source), comments(&once));
        assert_eq!(
            once,
            "// a\nmodule m  // b\n\n// c\nrecord R {  // d\n  x: Int  // e\n  // f\n}\n\n// g\nenum E {\n  a,  // h\n  b,\n}\n\n// i\n"
        );
    }

    #[test]
    fn a_comment_inside_a_joined_expression_moves_above_its_line() {
        let source = "module m\n\npolicy p for a {\n  deny \"x\" when b and // why\n    c\n}\n";
        let once = fmt(source);
        assert_eq!(
            once,
            "module m\n\npolicy p for a {\n  // why\n  deny \"x\" when b and c\n}\n"
        );
        assert_eq!(fmt(&once), once);
    }

    #[test]
    fn refuses_a_file_with_syntax_errors() {
        let errors = format("module m\nrecord A { x: }\n").expect_err("a syntax error");
        assert!(errors.iter().any(|d| d.code == "E0103"), "{errors:#?}");
        assert!(format("module m\nrole $\n").is_err());
        assert!(format("module m\ntest \"t\" { expect }\n").is_err());
    }

    #[test]
    fn an_empty_file_is_one_newline() {
        assert_eq!(fmt(""), "\n");
        assert_eq!(fmt("\n\n  \n"), "\n");
        assert_eq!(
            fmt("// only\n\n\n// comments\n"),
            "// only\n\n// comments\n"
        );
    }

    #[test]
    fn literals_are_written_in_normal_form() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(90 * 60_000), "1h30m");
        assert_eq!(duration(86_400_000), "1d");
        assert_eq!(duration(604_800_000 + 1), "1w1ms");
        assert_eq!(duration(1_500), "1s500ms");
        assert_eq!(
            text_lit("a\"b\\c\nd\te\u{1}\u{7f}é"),
            r#""a\"b\\c\nd\te\u{1}\u{7f}é""#
        );
        // Characters that would make the line display otherwise than it reads are escaped;
        // other non-ASCII text is kept as written.
        assert_eq!(
            text_lit("\u{202e}abc\u{2066}\u{feff}\u{2028}\u{200b}日本"),
            r#""\u{202e}abc\u{2066}\u{feff}\u{2028}\u{200b}日本""#
        );
        // So are the other characters that show nothing (default ignorable, format, blank
        // symbols), which a reason could otherwise hide behind; spaces are kept.
        assert_eq!(
            text_lit(
                "\u{ad}\u{3164}\u{2800}\u{34f}\u{115f}\u{ffa0}\u{180e}\u{fe0f}\u{e0020}\u{1d173}\u{1bca0} \u{a0}\u{3000}"
            ),
            "\"\\u{ad}\\u{3164}\\u{2800}\\u{34f}\\u{115f}\\u{ffa0}\\u{180e}\\u{fe0f}\\u{e0020}\\u{1d173}\\u{1bca0} \u{a0}\u{3000}\""
        );
        let once =
            fmt("module m\nfn f(): List<Int> = [1_000, 0]\nfn g(): Duration = 5400s + 60m\n");
        assert_eq!(
            once,
            "module m\n\nfn f(): List<Int> = [1000, 0]\n\nfn g(): Duration = 5400s + 60m\n"
        );
    }

    #[test]
    fn parentheses_are_kept_and_none_are_added() {
        let source = "module m\nfn f(a: Int, b: Int): Int = ((a + b)) * (a - b) - -a % 3 + a * b\nfn g(a: Bool, b: Bool): Bool = not (a or b) and a or b\n";
        let once = fmt(source);
        assert_eq!(
            once,
            "module m\n\nfn f(a: Int, b: Int): Int = ((a + b)) * (a - b) - -a % 3 + a * b\n\nfn g(a: Bool, b: Bool): Bool = not (a or b) and a or b\n"
        );
        assert_eq!(tree(source), tree(&once));
    }

    #[test]
    fn long_conditions_break_before_and_or() {
        let cond = (0..8)
            .map(|i| format!("c.field_number_{i} > {i}"))
            .collect::<Vec<_>>();
        let source = format!(
            "module m\npolicy p for a(to: c) {{\n  deny \"r\" when {}\n}}\n",
            cond.join(" and ")
        );
        let once = fmt(&source);
        let lines: Vec<&str> = once.lines().collect();
        assert_eq!(lines[3], "  deny \"r\" when c.field_number_0 > 0");
        assert_eq!(lines[4], "      and c.field_number_1 > 1");
        assert_eq!(lines[10], "      and c.field_number_7 > 7");
        assert_eq!(lines[11], "}");
        assert_eq!(fmt(&once), once);
        assert_eq!(tree(&source), tree(&once));
    }

    #[test]
    fn enums_go_one_variant_per_line_when_documented_or_long() {
        let once = fmt("module m\nenum E { /// first\n a, b }\n");
        assert_eq!(once, "module m\n\nenum E {\n  /// first\n  a,\n  b,\n}\n");
        let names: Vec<String> = (0..12).map(|i| format!("variant_{i}")).collect();
        let once = fmt(&format!("module m\nenum E {{ {} }}\n", names.join(", ")));
        assert_eq!(once.lines().count(), 2 + 2 + 12);
    }

    /// Formats `source`, checks that the result is a fixed point with the same tree and
    /// comments, and returns it.
    fn canonical(source: &str) -> String {
        let once = fmt(source);
        assert_eq!(fmt(&once), once, "not idempotent");
        assert_eq!(tree(source), tree(&once));
        assert_eq!(comments(source), comments(&once));
        once
    }

    /// `test "t" { ... }` in a module, each statement on its own line.
    fn in_test(statements: &[&str]) -> String {
        let mut text = "module m\n\ntest \"t\" {\n".to_string();
        for s in statements {
            text.push_str(s);
            text.push('\n');
        }
        text + "}\n"
    }

    /// The bug QA found: a hand-wrapped record literal was joined into one line and its
    /// per-field comments stacked above the `let`.
    #[test]
    fn a_record_literal_keeps_its_comments_next_to_its_fields() {
        let source = in_test(&[
            "  let c = {",
            "    id: \"x\", // the id",
            "    // leading",
            "    tz: \"Europe/Paris\"",
            "  }",
        ]);
        let expected = in_test(&[
            "  let c = {",
            "    id: \"x\",  // the id",
            "    // leading",
            "    tz: \"Europe/Paris\",",
            "  }",
        ]);
        assert_eq!(canonical(&source), expected);
        // without the comments it fits, and is joined
        let plain = in_test(&[
            "  let c = {",
            "    id: \"x\",",
            "    tz: \"Europe/Paris\"",
            "  }",
        ]);
        assert_eq!(
            canonical(&plain),
            in_test(&["  let c = { id: \"x\", tz: \"Europe/Paris\" }"])
        );
    }

    #[test]
    fn a_list_breaks_when_its_line_is_one_column_too_wide() {
        let line = |n: usize| format!("  let x = [\"{}\", \"b\"]", "a".repeat(n));
        let widest = line(WIDTH - line(0).len());
        assert_eq!(widest.len(), WIDTH);
        assert_eq!(canonical(&in_test(&[&widest])), in_test(&[&widest]));
        let a = "a".repeat(WIDTH + 1 - line(0).len());
        assert_eq!(
            canonical(&in_test(&[&line(a.len())])),
            in_test(&["  let x = [", &format!("    \"{a}\","), "    \"b\",", "  ]"])
        );
    }

    #[test]
    fn a_list_with_code_after_it_breaks_only_for_a_comment() {
        let items: Vec<String> = (0..12).map(|i| format!("\"item-{i}\"")).collect();
        let wide = format!("  let x = [{}] + [\"z\"]", items.join(", "));
        assert!(wide.len() > WIDTH);
        assert_eq!(canonical(&in_test(&[&wide])), in_test(&[&wide]));
        let commented = in_test(&["  let x = [1, // one", "    2] + [3]"]);
        assert_eq!(
            canonical(&commented),
            in_test(&["  let x = [", "    1,  // one", "    2,", "  ] + [3]"])
        );
    }

    #[test]
    fn a_broken_call_keeps_what_follows_its_paren_unless_a_comment_is_in_it() {
        let call = "propose create_qos_session(phone_number: c.msisdn, application_server: c.server, qos_profile: \"QOS_L\")";
        let decision = |body: &str| format!("module m\n\ndecision d(c: C) {{\n{body}}}\n");
        let broken = "  propose create_qos_session(\n    phone_number: c.msisdn,\n    application_server: c.server,\n    qos_profile: \"QOS_L\",\n  )";
        assert_eq!(
            canonical(&decision(&format!("  {call} rank by 10 when c.vip\n"))),
            decision(&format!("{broken} rank by 10 when c.vip\n"))
        );
        assert_eq!(
            canonical(&decision(&format!(
                "  {call} rank by 10 // why\n    when c.vip\n"
            ))),
            decision(&format!(
                "{broken}\n      rank by 10  // why\n      when c.vip\n"
            ))
        );
    }

    #[test]
    fn a_function_body_literal_too_wide_for_its_own_line_opens_on_the_header_line() {
        let names: Vec<String> = (0..11).map(|i| format!("\"name-{i}\"")).collect();
        let source = format!("module m\nfn f(): List<Text> = [{}]\n", names.join(", "));
        let mut expected = "module m\n\nfn f(): List<Text> = [\n".to_string();
        for n in &names {
            expected.push_str(&format!("  {n},\n"));
        }
        expected.push_str("]\n");
        assert_eq!(canonical(&source), expected);
        // one that fits on the next line goes there, as any other body
        let source = format!(
            "module m\nfn f(): List<Text> = [{}]\n",
            names[..9].join(", ")
        );
        assert_eq!(
            canonical(&source),
            format!(
                "module m\n\nfn f(): List<Text> =\n  [{}]\n",
                names[..9].join(", ")
            )
        );
    }

    /// `T??` is written back as it reads (it used to be `T? ?`, when `??` was no type syntax).
    #[test]
    fn a_double_optional_type_is_written_with_two_question_marks() {
        let once = fmt("module m\nrecord R { a: Int? ?, b: Text?? }\n");
        assert!(once.contains("  a: Int??\n  b: Text??\n"), "{once}");
        assert_eq!(fmt(&once), once);
        assert_eq!(
            tree(&once),
            tree("module m\nrecord R { a: Int? ?, b: Text? ? }\n")
        );
    }

    /// A condition is quoted on one line with its text literals exactly as written and its
    /// comments left out.
    #[test]
    fn one_line_keeps_literals_and_drops_comments() {
        assert_eq!(
            one_line("c.name == \"a  b\"\n    and  c.age > 1"),
            "c.name == \"a  b\" and c.age > 1"
        );
        assert_eq!(
            one_line("c.url == \"http://x\" // where\n  or x"),
            "c.url == \"http://x\" or x"
        );
        assert_eq!(one_line("[a, // first\n b]"), "[a, b]");
        assert_eq!(one_line("  x  "), "x");
        assert_eq!(one_line("a == b"), "a == b");
    }

    proptest::proptest! {
        /// The shortcut for source already on one line agrees with lexing it.
        #[test]
        fn one_line_shortcut_agrees_with_lexing(text in "[a1 \"/*\\t\n\r\x0b\x0c=é]{0,10}") {
            proptest::prop_assert_eq!(one_line(&text), one_line_lexed(&text));
        }
    }
}
