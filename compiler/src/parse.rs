//! The parser: tokens to a [`File`] AST, with every syntax error as a diagnostic.
//!
//! The grammar is `grammar/xop.lalrpop`. Parsing never fails: a file with errors yields a partial
//! tree (unreadable items are [`crate::ast::ItemKind::Error`]) and the list of what went wrong.

use std::sync::Arc;

use lalrpop_util::{ErrorRecovery, ParseError};

use crate::ast::File;
use crate::diagnostic::Diagnostic;
use crate::lexer::{self, Comment, LexErrorKind, Token};
use crate::span::Span;

lalrpop_util::lalrpop_mod!(
    #[allow(
        clippy::all,
        clippy::pedantic,
        missing_docs,
        unused_parens,
        unused_qualifications
    )]
    grammar,
    "/xop.rs"
);

/// Something the grammar's actions noticed while parsing.
#[derive(Debug)]
pub enum Issue {
    /// A syntax error the parser recovered from.
    Syntax(ErrorRecovery<usize, Token, ()>),
    /// A literal that is well-formed for the lexer but not a valid value.
    Literal(Span, String),
    /// A `module` or `use` in the wrong place.
    Misplaced(Span, &'static str),
    /// Two comparisons, or two ranges, in a row.
    Chained(crate::precedence::Chained),
    /// An expression (`false`: a type) nested deeper than [`crate::nesting::MAX_NESTING`],
    /// from where the limit is passed.
    TooDeep(Span, bool),
    /// A field or parameter written without the `:` between its name and its type (the
    /// name's span, the type's).
    MissingColon(Span, Span),
    /// A doc comment where nothing takes one (among a policy's rules, a test's statements).
    StrayDoc(Span),
    /// A parameter written without the `,` before it (the parameter's span, its name's).
    MissingComma(Span, Span),
    /// A parameter list whose `)` is missing before what follows it (an action's `purpose`, a
    /// decision's `{`): where it is missing (the end of the last parameter or the start of what
    /// follows).
    MissingParen(usize),
    /// An action's header cut off by the next declaration: where what was read of it ends,
    /// and whether its `)` is missing (`false`: its `purpose` is).
    CutOff(usize, bool),
    /// An action's `risk` clause written before its `purpose` (the clauses' spans).
    RiskFirst(Span, Span),
    /// Annotations before a `module` line, which annotate nothing (their span).
    AnnotatedModule(Span),
    /// A keyword where a field's or parameter's name is written (the keyword's span).
    KeywordName(Span),
    /// A field's type missing or unfinished where the next field starts (`a:` or `a: List<`
    /// then `b: Int`): the field's name, the end of its `:` (`None`: the `:` is missing too)
    /// and what was written of the type.
    CutType(Span, Option<usize>, Option<Span>),
}

/// A field's start where a type was cut off (`Cut` in the grammar): where it starts (at its doc
/// comment or annotation, if any), its doc comment, annotations and name, and where its `:`
/// ends (`None`: the `:` is missing too, the name stands alone).
pub(crate) struct NextField {
    pub(crate) start: usize,
    pub(crate) docs: Vec<String>,
    pub(crate) annotations: Vec<crate::ast::Annotation>,
    pub(crate) name: crate::ast::Ident,
    pub(crate) colon: Option<usize>,
}

/// A field read at a cut: `field`, with its type and where it ends, or, if the next field cut
/// it off, what was written of it (reported, `Issue::CutType`; the field keeps its name and
/// has no type to check against).
pub(crate) fn cut_field(
    issues: &mut Vec<Issue>,
    field: NextField,
    ty: Result<(crate::ast::TypeExpr, usize), Option<Span>>,
) -> crate::ast::Param {
    let NextField {
        start,
        docs,
        annotations,
        name,
        colon,
    } = field;
    let (ty, end) = match ty {
        Ok(read) => read,
        Err(written) => {
            issues.push(Issue::CutType(name.span, colon, written));
            let after = colon.unwrap_or(name.span.end());
            let at = written.unwrap_or(Span::new(after, after));
            (crate::ast::TypeExpr::Error(at), at.end())
        }
    };
    crate::ast::Param {
        docs,
        annotations,
        name,
        ty,
        span: Span::new(start, end),
    }
}

/// The help of a syntax error at, or just after, a doc comment that documents nothing.
const DOC_HELP: &str = "doc comments (`///`) document declarations; use `//` for a comment here";

/// A parsed file: the tree, its comments (for the formatter) and the syntax diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parsed {
    /// The (possibly partial) tree; shared, so that the standard library's trees, parsed once
    /// per process, cost every new workspace a pointer copy instead of a deep copy.
    pub ast: Arc<File>,
    /// Comments, in source order (shared like the tree).
    pub comments: Arc<[Comment]>,
    /// Lexical and syntax errors.
    pub diagnostics: Vec<Diagnostic>,
    /// Where a name is written ([`Token::is_name`]), in source order, wherever it stands: the
    /// lexer's view, so that even a name in text the parser skipped counts as written.
    pub names: Arc<[Span]>,
}

/// Parses one file. `path` names it in diagnostics.
pub fn parse(path: &Arc<str>, source: &str) -> Parsed {
    let mut issues = Vec::new();
    let eof = source.trim_end().len();
    // The parser takes the tokens as they are lexed. The doc comments among them are noted,
    // each with where the token after it starts (`None` for the last token of the file), so
    // that a syntax error at or just after one can say what a doc comment is for.
    let mut stream = lexer::Stream::new(source);
    let mut docs: Vec<(Span, Option<usize>)> = Vec::new();
    // What the lexer could not read is reported by it, and the parser reads on as if it were
    // not there (`send_offeré(` is `send_offer(`); a syntax error that causes is a follow-up
    // (`FollowUps`). Only where a value must come (after `=`, an operator, `(` or `,`) is it
    // handed on, as a value that cannot be read (`Unreadable`): skipped, the next line's
    // declaration would be read as that value. An unclosed text is still a text.
    let mut previous = None;
    let tokens = (&mut stream)
        .filter_map(move |(l, token, r)| {
            let token = match token {
                Token::Error if source.get(l..).is_some_and(|s| s.starts_with('"')) => Token::Text,
                Token::Error if !previous.is_some_and(expects_value) => return None,
                t => t,
            };
            previous = Some(token);
            Some((l, token, r))
        })
        .inspect(|&(l, token, r)| {
            if let Some(last) = docs.last_mut()
                && last.1.is_none()
            {
                last.1 = Some(l);
            }
            if token == Token::DocComment {
                docs.push((Span::new(l, r), None));
            }
        })
        .map(Ok::<_, ()>);
    let result = grammar::FileParser::new().parse(source, &mut issues, tokens);
    let ast = match result {
        Ok(ast) => *ast,
        Err(e) => {
            issues.push(Issue::Syntax(ErrorRecovery {
                error: e,
                dropped_tokens: Vec::new(),
            }));
            File::default()
        }
    };
    // The parser recovers up to the end of the text, so this reads nothing; should a parse
    // ever stop early, the unread text's comments, errors and names still count.
    stream.by_ref().for_each(drop);
    let mut diagnostics = lex_diagnostics(path, source, &stream.errors);
    // A doc comment that is itself the unexpected token documents nothing either: the token
    // after it is not to blame on it (the recovery may have read it as the next declaration's).
    let unexpected_docs: Vec<usize> = issues
        .iter()
        .filter_map(|i| match i {
            Issue::Syntax(ErrorRecovery {
                error:
                    ParseError::UnrecognizedToken {
                        token: (l, Token::DocComment, _),
                        ..
                    },
                ..
            }) => Some(*l),
            _ => None,
        })
        .collect();
    let after_doc = |at: usize| {
        docs.iter()
            .any(|d| d.1 == Some(at) && !unexpected_docs.contains(&d.0.start()))
    };
    let ends_with_doc = docs.last().is_some_and(|d| d.1.is_none());
    // Doc comments that document a declaration inside a block left open (`}` missing before
    // them): the missing `}` is the one mistake, reported at the declaration's keyword
    // (`syntax_diagnostic`), not the doc comment too.
    let documents_declaration: Vec<usize> = issues
        .iter()
        .filter_map(|i| match i {
            Issue::Syntax(ErrorRecovery {
                error:
                    ParseError::UnrecognizedToken {
                        token: (l, token, _),
                        ..
                    },
                ..
            }) if token.starts_declaration()
                && after_doc(*l)
                && unclosed_bracket(source, *l).is_some() =>
            {
                Some(*l)
            }
            _ => None,
        })
        .collect();
    // The characters the parser was not handed (a text in single quotes, an unclosed one, is
    // handed as text, and a block comment is a comment: what follows them is read in step).
    let lexed_at: Vec<Span> = stream
        .errors
        .iter()
        .filter(|e| matches!(e.kind, LexErrorKind::UnexpectedChar(_)))
        .map(|e| e.span)
        .collect();
    // Whether the lexer found an error in `gap` (between a name and its type, a parameter and
    // the one before it): the parser's guess there is its own follow-up.
    let lex_error_in = |gap: Span| {
        lexed_at
            .iter()
            .any(|e| gap.start() <= e.start() && e.end() <= gap.end())
    };
    let unclosed_comment = stream
        .errors
        .iter()
        .any(|e| e.kind == LexErrorKind::BlockComment { closed: false });
    let mut follow_ups = FollowUps::new(source, &issues, &lexed_at);
    let mut issues = issues.into_iter().peekable();
    while let Some(issue) = issues.next() {
        match issue {
            Issue::Syntax(rec) => {
                if follow_ups.is_follow_up(&rec) {
                    continue;
                }
                // A `/*` never closed runs to the end of the file (E0101): that the file then
                // ends too early is the same mistake.
                if unclosed_comment && matches!(rec.error, ParseError::UnrecognizedEof { .. }) {
                    continue;
                }
                if let Some(d) =
                    syntax_diagnostic(path, source, eof, rec.error, &after_doc, ends_with_doc)
                {
                    diagnostics.push(d);
                }
            }
            // A doc comment that is itself the unexpected token of a syntax error is reported
            // there, once (the parser then reads it as a stray one too).
            Issue::StrayDoc(first) if unexpected_docs.contains(&first.start()) => {}
            Issue::StrayDoc(first) => {
                // Lines of one doc comment are one mistake.
                let mut span = first;
                while let Some(Issue::StrayDoc(next)) = issues.peek()
                    && source
                        .get(span.end()..next.start())
                        .is_some_and(|gap| gap.trim().is_empty())
                {
                    span = span.to(*next);
                    issues.next();
                }
                let next_token = docs.iter().find(|d| d.0.end() == span.end()).and_then(|d| d.1);
                if next_token.is_some_and(|at| documents_declaration.contains(&at)) {
                    continue;
                }
                let text = source.get(first.range()).unwrap_or_default().trim_end();
                diagnostics.push(
                    Diagnostic::error("E0103", path, span, format!("unexpected `{text}`"))
                        .with_label("a doc comment, where nothing takes one")
                        .with_help(DOC_HELP),
                );
            }
            Issue::Literal(span, msg) => diagnostics.push(
                Diagnostic::error("E0105", path, span, msg)
                    .with_label("invalid literal")
                    .with_help("see the literal forms in docs/language.md#literals"),
            ),
            Issue::Misplaced(span, what) => diagnostics.push(
                Diagnostic::error("E0106", path, span, format!("{what} is not where it belongs"))
                    .with_label("misplaced declaration")
                    .with_help(
                        "a file starts with one `module` line, then its `use` lines, then its declarations",
                    ),
            ),
            Issue::Chained(c) => diagnostics.push(chained(path, source, c)),
            Issue::TooDeep(span, expr) => diagnostics.push(too_deep(path, source, span, expr)),
            Issue::MissingColon(name, ty) if lex_error_in(Span::new(name.end(), ty.start())) => {}
            Issue::MissingComma(param, name) => {
                // The gap before the parameter, back to what the previous one ends with.
                let before = source.get(..param.start()).unwrap_or_default();
                let gap = Span::new(before.trim_end().len(), param.start());
                if lex_error_in(gap) {
                    continue;
                }
                let name = source.get(name.range()).unwrap_or_default();
                let last = before.split_whitespace().last().unwrap_or_default();
                diagnostics.push(
                    Diagnostic::error(
                        "E0103",
                        path,
                        gap,
                        format!("expected `,` before the parameter `{name}`"),
                    )
                    .with_label("`,` missing here")
                    .with_help(format!("separate parameters with `,`: `{last}, {name}`")),
                );
            }
            Issue::MissingParen(at) => {
                // The blank between the last parameter and what follows the list.
                let before = source.get(..at).unwrap_or_default().trim_end();
                let after = source.get(at..).unwrap_or_default();
                let next_at = at + (after.len() - after.trim_start().len());
                let gap = header_gap(source, before.len(), next_at);
                let last = before.split_whitespace().last().unwrap_or_default();
                let next = source
                    .get(next_at..)
                    .unwrap_or_default()
                    .split_whitespace()
                    .next()
                    .unwrap_or_default();
                // What follows on a later line is not part of the fix.
                let (message, fixed) = if next.is_empty() {
                    ("expected `)` at the end of the file".to_string(), format!("{last})"))
                } else if source.get(gap.start()..next_at).is_some_and(|s| s.contains('\n')) {
                    (format!("expected `)` before `{next}`"), format!("{last})"))
                } else {
                    (format!("expected `)` before `{next}`"), format!("{last}) {next}"))
                };
                diagnostics.push(
                    Diagnostic::error("E0103", path, gap, message)
                        .with_label("`)` missing here")
                        .with_help(format!("close the parameter list: `{fixed}`")),
                );
            }
            Issue::CutOff(at, paren) => {
                // The blank between what was read of the header and the next declaration.
                let before = source.get(..at).unwrap_or_default().trim_end();
                let after = source.get(at..).unwrap_or_default();
                let gap = header_gap(
                    source,
                    before.len(),
                    at + (after.len() - after.trim_start().len()),
                );
                // A trailing `,` is allowed, but not needed in the fix.
                let last = before
                    .split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .trim_end_matches(',');
                let (missing, help) = if paren {
                    (
                        "`)`",
                        format!(
                            "close the parameter list, then name the purpose the action serves: \
                             `{last}) purpose NAME`"
                        ),
                    )
                } else {
                    (
                        "`purpose`",
                        format!(
                            "name the purpose the action serves after its parameters: \
                             `{last} purpose NAME`"
                        ),
                    )
                };
                diagnostics.push(
                    Diagnostic::error(
                        "E0103",
                        path,
                        gap,
                        format!("expected {missing} before the next declaration"),
                    )
                    .with_label(format!("{missing} missing here"))
                    .with_help(help),
                );
            }
            Issue::RiskFirst(span, purpose) => {
                let risk = source.get(span.range()).unwrap_or_default();
                let purpose = source.get(purpose.range()).unwrap_or_default();
                diagnostics.push(
                    Diagnostic::error(
                        "E0103",
                        path,
                        span,
                        "an action's `risk` clause comes after its `purpose`",
                    )
                    .with_label("written before `purpose`")
                    .with_help(format!("write it after the purpose: `{purpose} {risk}`")),
                );
            }
            Issue::AnnotatedModule(span) => {
                let written = source.get(span.range()).unwrap_or_default();
                diagnostics.push(
                    Diagnostic::error(
                        "E0103",
                        path,
                        span,
                        format!("`{written}` cannot stand before `module`"),
                    )
                    .with_label("an annotation, where nothing takes one")
                    .with_help(
                        "annotations annotate the declaration after them, and `module` takes \
                         none: remove it, or move it before the declaration it is for",
                    ),
                );
            }
            Issue::KeywordName(span) => {
                let word = source.get(span.range()).unwrap_or_default();
                diagnostics.push(
                    Diagnostic::error("E0103", path, span, format!("unexpected `{word}`"))
                        .with_label("a keyword, where a name is expected")
                        .with_help(format!(
                            "`{word}` is a keyword and cannot be used as a name; choose another name"
                        )),
                );
            }
            Issue::CutType(name_span, colon, written) => {
                let name = source.get(name_span.range()).unwrap_or_default();
                diagnostics.push(match (colon, written) {
                    (None, _) => Diagnostic::error(
                        "E0103",
                        path,
                        name_span,
                        format!("the `:` and the type of `{name}` are missing"),
                    )
                    .with_label("a `:` and a type are expected after this name")
                    .with_help(format!(
                        "write the field's type after a `:`: `{name}: Text`"
                    )),
                    (Some(colon), None) => Diagnostic::error(
                        "E0103",
                        path,
                        Span::new(colon.saturating_sub(1), colon),
                        format!("the type of `{name}` is missing"),
                    )
                    .with_label("a type is expected after this `:`")
                    .with_help(format!("write the field's type after its `:`: `{name}: Text`")),
                    (Some(_), Some(at)) => {
                        let ty = source.get(at.range()).unwrap_or_default();
                        Diagnostic::error(
                            "E0103",
                            path,
                            at,
                            format!("the type of `{name}` is unfinished"),
                        )
                        .with_label("the next field starts before this type ends")
                        .with_help(format!(
                            "finish `{ty}`: each `<` takes its type arguments and a closing `>` \
                             (`List<Int>`)"
                        ))
                    }
                });
            }
            Issue::MissingColon(name, ty) => {
                let text = |s: Span| source.get(s.range()).unwrap_or_default();
                diagnostics.push(
                    Diagnostic::error(
                        "E0103",
                        path,
                        Span::new(name.end(), ty.start()),
                        format!("expected `:` between `{}` and its type", text(name)),
                    )
                    .with_label("`:` missing here")
                    .with_help(format!("write `{}: {}`", text(name), text(ty))),
                );
            }
        }
    }
    crate::diagnostic::sort(&mut diagnostics);
    Parsed {
        ast: Arc::new(ast),
        comments: stream.comments.into(),
        diagnostics,
        names: stream.names.into(),
    }
}

/// How many tokens the parser must read after resuming from a syntax error before a new
/// syntax error counts as a mistake of its own (yacc's rule, for the same reason).
const RESYNC_TOKENS: usize = 3;

/// Syntax errors that follow a recovered one too closely to be a mistake of their own: the
/// parser resumes after an error where the next token fits, inside the declaration (an
/// argument, an operand, a parameter, a part), and when that guess is wrong (a `)` too many
/// closes the parameter list, and the `:` after it is unexpected) the next error is the same
/// mistake seen again. One that comes before [`RESYNC_TOKENS`] tokens are read past where the
/// parser resumed is not reported; the parser still recovers from it. The parser also reads on
/// past what the lexer could not read (it is not handed to it): an error just after that is the
/// lexer's error seen again (`a && b` read as `a b`). A rule, test statement or declaration
/// that starts a line in between ends this: the parser is back in step, and an error there is
/// another mistake (the next rule's missing `by role`).
struct FollowUps {
    /// Where the tokens start, in order, and whether each starts a line with a rule's, a test
    /// statement's or a declaration's keyword; read only when the file has two errors or more.
    tokens: Vec<(usize, bool)>,
    /// Where the parser resumed after the last syntax error, if it did.
    resumed: Option<usize>,
    /// Where the characters the lexer could not read end, in order.
    lexed: Vec<usize>,
}

impl FollowUps {
    fn new(source: &str, issues: &[Issue], lexed: &[Span]) -> FollowUps {
        let errors = issues
            .iter()
            .filter(|i| matches!(i, Issue::Syntax(_)))
            .count();
        let tokens = if errors + usize::from(!lexed.is_empty()) > 1 {
            lexer::lex(source)
                .tokens
                .iter()
                .filter(|t| t.1 != Token::Error)
                .map(|&(start, token, _)| (start, starts_line(source, start) && is_boundary(token)))
                .collect()
        } else {
            Vec::new()
        };
        FollowUps {
            tokens,
            resumed: None,
            lexed: lexed.iter().map(|s| s.end()).collect(),
        }
    }

    /// Whether `rec` follows the last recovered error, or a lexer error, too closely; notes
    /// where the parser resumed after `rec`.
    fn is_follow_up(&mut self, rec: &ErrorRecovery<usize, Token, ()>) -> bool {
        let at = match &rec.error {
            ParseError::UnrecognizedToken { token, .. } | ParseError::ExtraToken { token } => {
                Some(token.0)
            }
            ParseError::InvalidToken { location } => Some(*location),
            ParseError::UnrecognizedEof { .. } | ParseError::User { .. } => None,
        };
        // Where the parser last read on from: after its last recovery, or after the last
        // lexer error before `at`.
        let before = |p: usize| at.is_none_or(|at| p <= at);
        let lexed = self.lexed.iter().rev().copied().find(|&p| before(p));
        let from = self.resumed.filter(|&p| before(p)).max(lexed);
        let follows = from.is_some_and(|from| {
            let first = self.tokens.partition_point(|t| t.0 < from);
            let last = at.map_or(self.tokens.len(), |at| {
                self.tokens.partition_point(|t| t.0 < at)
            });
            // The tokens read since, not the unexpected one: a line cut short by the mistake
            // shows it at the next line's first token, a rule's keyword maybe.
            let boundary = self.tokens[first.min(last)..last].iter().any(|t| t.1);
            last.saturating_sub(first) < RESYNC_TOKENS && !boundary
        });
        // The parser resumes at the first token it did not drop: the unexpected one, or the
        // one after the last dropped.
        self.resumed = match rec.dropped_tokens.last() {
            Some(&(_, _, end)) => Some(end),
            None => at,
        };
        follows
    }
}

/// Whether a value must come after `token`: an operator, `=`, an opening bracket, `,`, `:`, or
/// a keyword that a value follows.
fn expects_value(token: Token) -> bool {
    use Token::*;
    matches!(
        token,
        Eq | EqEq
            | Ne
            | Lt
            | Gt
            | Le
            | Ge
            | Plus
            | Minus
            | Star
            | Slash
            | Percent
            | QuestionQuestion
            | DotDot
            | DotDotEq
            | FatArrow
            | LParen
            | LBracket
            | Comma
            | Colon
            | And
            | Or
            | Not
            | In
            | When
            | Unless
            | If
            | Then
            | Else
            | Within
            | MaxAge
            | At
    )
}

/// Whether the text before `at` on its line is blank.
fn starts_line(source: &str, at: usize) -> bool {
    let before = source.get(..at).unwrap_or_default();
    let line = before.rsplit_once('\n').map_or(before, |(_, l)| l);
    line.trim().is_empty()
}

/// Where something is missing between `end`, where a declaration's header ends, and `next`,
/// where what follows starts: the blank between them, or, if what follows is on a later line,
/// the end of the header's line (its line break), so that the mistake shows on that line.
fn header_gap(source: &str, end: usize, next: usize) -> Span {
    let blank = source.get(end..next).unwrap_or_default();
    match blank.find('\n') {
        // The line break itself, if nothing else is left on the line.
        Some(0) => Span::new(end, end + 1),
        Some(line_end) => Span::new(end, end + line_end),
        None => Span::new(end, next),
    }
}

/// Whether `token` opens a rule, a test statement or a declaration (a soft keyword, which can
/// also be a field's name, does not count).
fn is_boundary(token: Token) -> bool {
    matches!(
        token,
        Token::Deny | Token::Allow | Token::Review | Token::Let | Token::Expect
    ) || (token.starts_declaration() && !token.is_name())
}

/// E0108 for a part nested deeper than the limit, pointed at by its first character (the part
/// itself may run over a whole generated file).
fn too_deep(path: &Arc<str>, source: &str, span: Span, expr: bool) -> Diagnostic {
    let start = span.start();
    let len = source
        .get(start..)
        .and_then(|s| s.chars().next())
        .map_or(0, char::len_utf8);
    let what = if expr { "expression" } else { "type" };
    let limit = crate::nesting::MAX_NESTING;
    Diagnostic::error(
        "E0108",
        path,
        Span::new(start, start + len),
        format!("{what} nested more than {limit} levels deep"),
    )
    .with_label(format!("this part is {} levels deep", limit + 1))
    .with_note(if expr {
        format!(
            "XOP reads expressions up to {limit} levels deep: the engines evaluate at most 256, and the passes in between walk them recursively"
        )
    } else {
        format!(
            "XOP reads types up to {limit} levels deep: the passes that read them walk them recursively"
        )
    })
    .with_help(if expr {
        "write it with less nesting: give inner parts names with `fn`, test one value against many with `x in [a, b, c]`; long `and` and `or` chains do not count"
    } else {
        "write the type with less nesting"
    })
}

/// E0107 for a second comparison or range in a row.
fn chained(path: &Arc<str>, source: &str, c: crate::precedence::Chained) -> Diagnostic {
    let op = source.get(c.span.range()).unwrap_or("");
    let (what, help) = if c.ranges {
        (
            "range",
            "a range has one lower and one upper bound (`lo..hi`); put a range used as a bound in parentheses",
        )
    } else {
        (
            "comparison",
            "join two comparisons with `and` (`a < b and b < c`), or put one in parentheses",
        )
    };
    Diagnostic::error(
        "E0107",
        path,
        c.span,
        format!("`{op}` cannot follow another {what}: {what}s do not chain"),
    )
    .with_label(format!("a second {what} in a row"))
    .with_help(help)
}

/// Where the `test` keyword just before the token at `at` is, if it starts a line (a test's
/// head, `test "name" {`).
fn test_keyword_before(source: &str, at: usize) -> Option<(usize, usize)> {
    let lexed = lexer::lex(source);
    let i = lexed.tokens.partition_point(|t| t.0 < at);
    let &(l, token, r) = lexed.tokens.get(i.checked_sub(1)?)?;
    (token == Token::Test && starts_line(source, l)).then_some((l, r))
}

/// The closer of the innermost bracket still open at `at` (`}` for a `{`), if any.
fn unclosed_bracket(source: &str, at: usize) -> Option<char> {
    let mut open = Vec::new();
    for &(l, token, _) in &lexer::lex(source).tokens {
        if l >= at {
            break;
        }
        match token {
            Token::LBrace => open.push('}'),
            Token::LParen => open.push(')'),
            Token::LBracket => open.push(']'),
            Token::RBrace | Token::RParen | Token::RBracket => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

/// The diagnostic of a syntax error. `after_doc(at)` says whether the token at `at` follows a
/// doc comment; `ends_with_doc`, whether the file's last token is one.
fn syntax_diagnostic(
    path: &Arc<str>,
    source: &str,
    eof: usize,
    error: ParseError<usize, Token, ()>,
    after_doc: &dyn Fn(usize) -> bool,
    ends_with_doc: bool,
) -> Option<Diagnostic> {
    match error {
        ParseError::UnrecognizedToken {
            token: (_, Token::Error, _),
            ..
        } => None, // already reported by the lexer
        // `test "name"` inside a record or an enum left open: `test` is also a name, read as a
        // field's or a variant's, and the test's name is the unexpected token. The mistake is
        // the missing `}` before the `test` (before its doc comment, if it has one).
        ParseError::UnrecognizedToken {
            token: (l, Token::Text, _),
            ..
        } if let Some((tl, tr)) = test_keyword_before(source, l)
            && unclosed_bracket(source, tl) == Some('}') =>
        {
            let before_doc = if after_doc(tl) {
                ", before the doc comment of this `test`"
            } else {
                ""
            };
            Some(
                Diagnostic::error("E0103", path, Span::new(tl, tr), "unexpected `test`")
                    .with_label("a test, inside the declaration above it")
                    .with_help(format!(
                        "is a `}}` missing before this `test`? Close the declaration above \
                         it{before_doc}"
                    )),
            )
        }
        ParseError::UnrecognizedToken {
            token: (l, token, r),
            expected,
        } => {
            let found = &source[l..r];
            let wants = |t: &str| expected.iter().any(|e| e == t);
            // A literal (`3`, `15m`) is a value, not a keyword, though it may be all letters
            // and digits.
            let literal = matches!(
                token,
                Token::Int
                    | Token::Decimal
                    | Token::Money
                    | Token::Duration
                    | Token::Time
                    | Token::Text
            );
            let keyword = !token.is_name()
                && !literal
                && found.chars().all(|c| c.is_alphanumeric() || c == '_');
            // The advice fits the mistake: a keyword where a name goes, `=` for `==`.
            // A declaration's keyword where a `}` could close the one before: the `}` is
            // likelier missing than the keyword misused.
            // A declaration's keyword inside an unclosed bracket, where that bracket's closer
            // may come (or after a doc comment, which documents it): the closer is missing.
            let missing = if token.starts_declaration() {
                unclosed_bracket(source, l).filter(|&c| after_doc(l) || wants(&format!("\"{c}\"")))
            } else {
                None
            };
            let help = if token == Token::DocComment {
                DOC_HELP.to_string()
            } else if let Some(close) = missing {
                let what = match close {
                    '}' => "the declaration",
                    ')' => "the `(`",
                    _ => "the `[`",
                };
                if after_doc(l) {
                    format!(
                        "is a `{close}` missing before this `{found}`? Close {what} above it, \
                         before the doc comment of this `{found}`"
                    )
                } else {
                    format!("is a `{close}` missing before this `{found}`? Close {what} above it")
                }
            } else if after_doc(l) {
                format!("the doc comment before this `{found}` documents nothing: {DOC_HELP}")
            } else if keyword && wants("IDENT") && !wants("INT") {
                format!("`{found}` is a keyword and cannot be used as a name; choose another name")
            } else if literal && wants("IDENT") && !wants("INT") {
                // Where a type goes, `{` (an open record type) is expected too; where `*` is,
                // the end of a `use` path.
                if wants("\"{\"") && !wants("\"*\"") {
                    format!(
                        "`{found}` is {}, a value: a type is expected here (`Int`, `Text`, \
                         `List<Int>`)",
                        token.describe()
                    )
                } else {
                    format!(
                        "`{found}` is {}, a value: a name is expected here",
                        token.describe()
                    )
                }
            } else if found == "if" && wants("INT") {
                // `a and if b then c else d`: `if` starts only a whole expression.
                "an `if` stands only where a whole expression does: put it in parentheses, \
                 `a and (if b then c else d)`"
                    .to_string()
            } else if keyword && wants("INT") {
                format!(
                    "a value is expected here, and `{found}` cannot start one: is the expression \
                     before it unfinished?"
                )
            } else if found == "=" && wants("\"==\"") {
                "to compare, write `==`; a single `=` only gives a value (`let x = …`)".to_string()
            } else if expected.len() == 1
                && wants("\"by\"")
                && !source
                    .get(..l)
                    .is_some_and(|s| s.trim_end().ends_with("rank"))
            {
                // `by` alone follows a review's head (and `rank`, in a decision).
                "a review names the role that decides: `review \"…\" by role ROLE within 15m else deny`"
                    .to_string()
            } else {
                "check the declaration's form in docs/language.md".to_string()
            };
            Some(
                Diagnostic::error(
                    "E0103",
                    path,
                    Span::new(l, r),
                    format!("unexpected `{found}`"),
                )
                .with_label(format!("expected {}", expected_list(&expected)))
                .with_help(help),
            )
        }
        ParseError::ExtraToken { token: (l, _, r) } => Some(
            Diagnostic::error(
                "E0103",
                path,
                Span::new(l, r),
                format!("unexpected `{}`", &source[l..r]),
            )
            .with_label("expected the end of the file"),
        ),
        ParseError::UnrecognizedEof { expected, .. } => {
            // Where a declaration may start, every bracket is closed.
            let top = expected.iter().any(|t| t == "\"record\"");
            let (message, help) = match (ends_with_doc, top) {
                (true, true) => ("the file ends after a doc comment", DOC_HELP.to_string()),
                (true, false) => (
                    "the file ends after a doc comment",
                    format!(
                        "{DOC_HELP}; then close every `{{`, `(` and `[`, and finish the last declaration"
                    ),
                ),
                (false, _) => (
                    "the file ends too early",
                    "close every `{`, `(` and `[`, and finish the last declaration".to_string(),
                ),
            };
            Some(
                Diagnostic::error(
                    "E0104",
                    path,
                    // Just after the last thing written, not past the final newline: on the
                    // line the reader sees, and the same place in every output format.
                    Span::new(eof, eof),
                    message,
                )
                .with_label(format!("expected {}", expected_list(&expected)))
                .with_help(help),
            )
        }
        ParseError::InvalidToken { location } => Some(
            Diagnostic::error(
                "E0101",
                path,
                Span::new(location, location + 1),
                "unreadable input",
            )
            .with_label("no token starts here"),
        ),
        ParseError::User { .. } => None,
    }
}

/// The lexer's errors as diagnostics. Operators of other languages (`!`, `&&`, `||`) and
/// single quotes get advice of their own: "remove it" would turn `!c.flag` into its opposite.
fn lex_diagnostics(path: &Arc<str>, source: &str, errors: &[lexer::LexError]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut i = 0;
    while let Some(e) = errors.get(i) {
        i += 1;
        let d = match e.kind {
            LexErrorKind::UnexpectedChar('\r') => Diagnostic::error(
                "E0101",
                path,
                e.span,
                "a carriage return (`\\r`) without a line feed",
            )
            .with_label("a line ends with `\\n` or `\\r\\n`, not `\\r` alone")
            .with_help("convert the file's line endings to LF or CRLF"),
            LexErrorKind::UnexpectedChar(c @ ('&' | '|')) => {
                // `&&` is two unreadable characters: one diagnostic for both.
                let mut span = e.span;
                let mut written = c.to_string();
                if let Some(next) = errors.get(i)
                    && next.kind == e.kind
                    && next.span.start() == span.end()
                {
                    span = Span::new(span.start(), next.span.end());
                    written.push(c);
                    i += 1;
                }
                let word = if c == '&' { "and" } else { "or" };
                Diagnostic::error(
                    "E0101",
                    path,
                    span,
                    format!("`{written}` is not an operator in XOP"),
                )
                .with_label(format!("write `{word}` here"))
                .with_help(format!(
                    "XOP's logical operators are words: `a {word} b` (and `not a`)"
                ))
            }
            LexErrorKind::UnexpectedChar('!') => {
                Diagnostic::error("E0101", path, e.span, "`!` is not an operator in XOP")
                    .with_label("write `not` here")
                    .with_help("negation is the word `not`: `not c.flag` (`!=` is not-equal)")
            }
            LexErrorKind::UnexpectedChar('\'') => {
                Diagnostic::error("E0101", path, e.span, "unexpected character `'`")
                    .with_label("text is written in double quotes")
                    .with_help("write text as \"like this\"; XOP has no single-quoted literals")
            }
            LexErrorKind::UnexpectedChar('#') => Diagnostic::error(
                "E0101",
                path,
                e.span,
                "`#` starts no comment in XOP",
            )
            .with_label("a comment of another language, to the end of the line")
            .with_help("write `//` for `#`: XOP comments start with `//`"),
            LexErrorKind::UnexpectedChar(';') => {
                Diagnostic::error("E0101", path, e.span, "unexpected character `;`")
                    .with_label("XOP has no `;`")
                    .with_help(
                        "remove it: nothing ends with `;` in XOP (parameters and arguments are separated by `,`)",
                    )
            }
            LexErrorKind::UnexpectedChar(c) if c.is_alphabetic() => Diagnostic::error(
                "E0101",
                path,
                e.span,
                format!("unexpected character `{}`", c.escape_debug()),
            )
            .with_label("names are written with ASCII letters, digits and `_`")
            .with_help(format!(
                "write the name with ASCII letters (`{}` cannot be part of it), or, if this is \
                 text, put it inside double quotes",
                c.escape_debug()
            )),
            LexErrorKind::UnexpectedChar(c) => Diagnostic::error(
                "E0101",
                path,
                e.span,
                format!("unexpected character `{}`", c.escape_debug()),
            )
            .with_label("no token starts with this character")
            .with_help("remove it; text belongs inside double quotes"),
            LexErrorKind::SingleQuoted => {
                let written = source.get(e.span.range()).unwrap_or_default();
                let inner = written
                    .get(1..written.len().saturating_sub(1))
                    .unwrap_or_default();
                Diagnostic::error("E0101", path, e.span, "text in single quotes")
                    .with_label("text is written in double quotes")
                    .with_help(format!(
                        "write `\"{inner}\"`; XOP has no single-quoted literals"
                    ))
            }
            LexErrorKind::Typographic => {
                let written = source.get(e.span.range()).unwrap_or_default();
                let inner = other_quoted_inner(written);
                Diagnostic::error("E0101", path, e.span, "text in typographic quotes")
                    .with_label("text is written in straight double quotes")
                    .with_help(format!(
                        "write straight quotes: `\"{inner}\"` (typographic quotes, as word \
                         processors write them, start no text in XOP)"
                    ))
            }
            LexErrorKind::BlockComment { closed } => Diagnostic::error(
                "E0101",
                path,
                e.span,
                if closed {
                    "XOP has no block comments"
                } else {
                    "XOP has no block comments (and this `/*` is never closed)"
                },
            )
            .with_label(if closed {
                "a block comment"
            } else {
                "a block comment, to the end of the file"
            })
            .with_help("start each line of a comment with `//`"),
            LexErrorKind::UnterminatedText => {
                Diagnostic::error("E0102", path, e.span, "text literal is not closed")
                    .with_label("this text has no closing `\"` on its line")
                    .with_help(unclosed_text_help(source, e.span))
            }
        };
        out.push(d);
    }
    out
}

/// What is inside the quotes of `written`, a text in quotes other than `"`.
fn other_quoted_inner(written: &str) -> &str {
    let mut chars = written.chars();
    chars.next();
    chars.next_back();
    chars.as_str()
}

/// The help of E0102: close the text where the lexer ended it ([`lexer::unclosed_text_end`]):
/// before a rule's condition (closed at the line's end, the condition would become part of the
/// reason and the rule would apply unconditionally), or before the brackets that close the
/// line; else at the line's end.
fn unclosed_text_help(source: &str, span: Span) -> String {
    let rest = source.get(span.end()..).unwrap_or_default();
    let after = rest[..rest.find('\n').unwrap_or(rest.len())].trim();
    if after.is_empty() {
        return "add a closing `\"`; a text literal cannot span lines (use `\\n`)".to_string();
    }
    let before = source.get(..span.start()).unwrap_or_default();
    let head = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .trim_start();
    let written = source.get(span.range()).unwrap_or_default().trim_end();
    let next = after.split_whitespace().next().unwrap_or_default();
    let (what, next) = if matches!(next, "when" | "unless" | "by") {
        ("the reason", if next == "by" { "by role" } else { next })
    } else {
        ("the text", next)
    };
    // The blank between the text and what ends it, as written.
    let gap = &rest[..rest.len() - rest.trim_start().len()];
    format!("close {what} before `{next}`: `{head}{written}\"{gap}{after}`")
}

/// Turns lalrpop's terminal names into words: `"deny"` → `` `deny` ``, `IDENT` → "a name".
fn expected_list(expected: &[String]) -> String {
    // Soft keywords are names too: where a name is expected, listing them only distracts.
    const SOFT: &[&str] = &[
        "\"channel\"",
        "\"purpose\"",
        "\"role\"",
        "\"risk\"",
        "\"event\"",
        "\"state\"",
        "\"tool\"",
        "\"rank\"",
        "\"wait\"",
        "\"test\"",
    ];
    // The keywords a field's or parameter's name can be mistaken for (the grammar's
    // `KeywordName`): offered only to report them, never worth listing.
    const KEYWORD_NAMES: &[&str] = &[
        "\"as\"",
        "\"for\"",
        "\"at\"",
        "\"deny\"",
        "\"allow\"",
        "\"review\"",
        "\"by\"",
        "\"within\"",
        "\"else\"",
        "\"when\"",
        "\"unless\"",
        "\"from\"",
        "\"max_age\"",
        "\"propose\"",
        "\"on\"",
        "\"goto\"",
        "\"expect\"",
        "\"given\"",
        "\"let\"",
        "\"then\"",
        "\"and\"",
        "\"or\"",
        "\"in\"",
        "\"is\"",
        "\"present\"",
    ];
    let names_expected = expected.iter().any(|t| t == "IDENT");
    // All of them together: a field's or parameter's name can come here.
    let keyword_names = KEYWORD_NAMES
        .iter()
        .all(|k| expected.iter().any(|t| t == k));
    // Just after a type's name (`<` for its arguments, and no operator): a `:` there would make
    // the name the next field's, after a missing or unfinished type (the grammar's `Cut`);
    // offered only to read such a field, never worth listing.
    let after_type =
        expected.iter().any(|t| t == "\"<\"") && !expected.iter().any(|t| t == "\"+\"");
    // Where a type may start (`{` for an open record type, and a name), an annotation only
    // starts the next field, after a missing type (the grammar's `Cut`): never worth listing.
    let type_start = names_expected && expected.iter().any(|t| t == "\"{\"");
    // After an expression that is complete where something else may follow it (a `}`, `)`, `]`
    // or `,`, the next rule), the operators that could still extend it are not what is
    // missing: the tokens that continue the construct are listed, not every operator.
    const OPERATORS: &[&str] = &[
        "\"and\"", "\"or\"", "\"not\"", "\"in\"", "\"is\"", "\"==\"", "\"!=\"", "\"<\"", "\"<=\"",
        "\">\"", "\">=\"", "\"+\"", "\"-\"", "\"*\"", "\"/\"", "\"%\"", "\"??\"", "\"..\"",
        "\"..=\"", "\".\"",
    ];
    // (Not in a type, where `?` may follow and `<`, `>` and `.` are no operators.)
    let complete = !expected.iter().any(|t| t == "INT" || t == "\"?\"")
        && expected.iter().any(|t| {
            matches!(
                t.as_str(),
                "\"}\"" | "\")\"" | "\"]\"" | "\",\"" | "\"deny\"" | "\"allow\"" | "\"review\""
            )
        });
    // Declarations' keywords without `module` (which may start any top-level entry): after
    // an action's parameters, offered only to read its header cut off by the next declaration
    // (the grammar's `CutAction`), never what is missing; nor is the annotation one may start
    // with, where no parameter (with annotations of its own) can come.
    const DECLARATIONS: &[&str] = &[
        "\"record\"",
        "\"enum\"",
        "\"action\"",
        "\"signal\"",
        "\"fn\"",
        "\"intrinsic\"",
        "\"policy\"",
        "\"decision\"",
        "\"journey\"",
        "\"agent\"",
        "\"test\"",
    ];
    let cut_off =
        expected.iter().any(|t| t == "\"policy\"") && !expected.iter().any(|t| t == "\"module\"");
    // After an action's `)`, `risk` is offered only to read it written before `purpose`
    // (reported): `purpose` comes first.
    let risk_first = expected.iter().any(|t| t == "\"purpose\"");
    // Closing brackets first: they are the likeliest fix.
    let mut ordered: Vec<&String> = expected
        .iter()
        .filter(|t| !(cut_off && DECLARATIONS.contains(&t.as_str())))
        .filter(|t| !(cut_off && !names_expected && t.as_str() == "\"@\""))
        .filter(|t| !(risk_first && t.as_str() == "\"risk\""))
        .filter(|t| !(after_type && t.as_str() == "\":\""))
        .filter(|t| !(type_start && t.as_str() == "\"@\""))
        .filter(|t| !(complete && OPERATORS.contains(&t.as_str())))
        .filter(|t| !(names_expected && SOFT.contains(&t.as_str())))
        .filter(|t| !(keyword_names && KEYWORD_NAMES.contains(&t.as_str())))
        .collect();
    ordered.sort_by_key(|t| !matches!(t.as_str(), "\"}\"" | "\")\"" | "\"]\""));
    let mut words: Vec<String> = ordered
        .into_iter()
        .filter_map(|t| {
            Some(match t.as_str() {
                "IDENT" => "a name".to_string(),
                "INT" => "an integer".to_string(),
                "DECIMAL" => "a decimal".to_string(),
                "MONEY" => "an amount of money".to_string(),
                "DURATION" => "a duration".to_string(),
                "TIME" => "a time".to_string(),
                "TEXT" => "a text".to_string(),
                "DOC" | "LEXERROR" => return None,
                quoted => format!("`{}`", quoted.trim_matches('"')),
            })
        })
        .collect();
    words.dedup();
    match words.len() {
        0 => "something else".to_string(),
        1 => words.remove(0),
        n if n <= 8 => {
            let last = words.pop().unwrap_or_default();
            format!("one of {} or {last}", words.join(", "))
        }
        _ => format!("one of {}, …", words[..8].join(", ")),
    }
}

/// Helpers called from the grammar's actions: literal decoding and tree assembly.
pub mod literal {
    use super::Issue;
    use crate::ast::*;
    use crate::span::Span;

    /// A top-level entry before the file is assembled.
    #[allow(clippy::large_enum_variant)] // short-lived, one per declaration
    pub enum Top {
        /// `module a.b`
        Module(ModuleDecl),
        /// `use a.b.c`
        Use(Use),
        /// Any other declaration.
        Item(Item),
        /// An action whose header the next declaration cut off, and the declarations after
        /// it (`CutAction` in the grammar), in source order.
        Cut(Vec<Item>),
    }

    /// Builds the file; a second `module`, or a `module`/`use` after declarations, is reported.
    /// A declaration that the parser resumed at after a syntax error, in the middle of a line,
    /// whose keyword is also a word of other declarations (`role`, `purpose`, `channel`,
    /// `event`, `test`), is left out: it is part of the declaration the error broke (`by role
    /// desk` in a policy's rule, `purpose marketing` in an action's header), not one of its own.
    pub fn assemble(text: &str, tops: Vec<Top>, issues: &mut Vec<Issue>) -> File {
        let mut file = File::default();
        let mut after_error = false;
        for top in tops {
            let resumed_here = std::mem::replace(
                &mut after_error,
                matches!(&top, Top::Item(i) if i.kind == ItemKind::Error),
            );
            if let Top::Item(i) = &top
                && resumed_here
                && matches!(
                    i.kind,
                    ItemKind::Role(_)
                        | ItemKind::Purpose(_)
                        | ItemKind::Channel(_)
                        | ItemKind::Event(_)
                        | ItemKind::Test(_)
                )
                && !super::starts_line(text, i.span.start())
            {
                // Its own follow-up errors are not reported either (`FollowUps`).
                after_error = true;
                continue;
            }
            match top {
                Top::Module(m) => {
                    if file.module.is_some() {
                        issues.push(Issue::Misplaced(m.span, "a second `module` declaration"));
                    } else if !file.uses.is_empty() || !file.items.is_empty() {
                        issues.push(Issue::Misplaced(
                            m.span,
                            "a `module` declaration after others",
                        ));
                        file.module = Some(m);
                    } else {
                        file.module = Some(m);
                    }
                }
                Top::Use(u) => {
                    if file.items.iter().any(|i| i.kind != ItemKind::Error) {
                        issues.push(Issue::Misplaced(u.span, "a `use` after declarations"));
                    }
                    file.uses.push(u);
                }
                Top::Item(i) => push_item(&mut file, i, issues),
                Top::Cut(items) => {
                    for i in items {
                        push_item(&mut file, i, issues);
                    }
                }
            }
        }
        file
    }

    /// Adds a declaration to the file, its expressions and types cut at the nesting limit.
    fn push_item(file: &mut File, mut i: Item, issues: &mut Vec<Issue>) {
        let (exprs, types) = crate::nesting::limit(&mut i);
        issues.extend(exprs.into_iter().map(|s| Issue::TooDeep(s, true)));
        issues.extend(types.into_iter().map(|s| Issue::TooDeep(s, false)));
        file.items.push(std::sync::Arc::new(i));
    }

    /// A flat operator sequence grouped by precedence; a chain is reported.
    pub fn group(parts: Vec<crate::precedence::Part>, issues: &mut Vec<Issue>) -> Expr {
        let (e, chained) = crate::precedence::group(parts);
        if let Some(c) = chained {
            issues.push(Issue::Chained(c));
        }
        e
    }

    /// `/// text` → `text`.
    pub fn doc_line(raw: &str) -> String {
        let body = raw.trim_start_matches("///");
        body.strip_prefix(' ')
            .unwrap_or(body)
            .trim_end()
            .to_string()
    }

    /// Decodes a quoted text literal; a bad escape is reported and left out.
    pub fn text(raw: &str, span: Span, issues: &mut Vec<Issue>) -> String {
        // Single quotes too: the lexer reports text in them (E0101) and hands it on as text, so
        // that the rule or expression around it is still read.
        let inner = raw
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| other_quoted(raw))
            .unwrap_or(raw);
        // An unclosed text (E0102) is read as far as it goes, undecoded: its escapes may be
        // cut, and one error for it is enough.
        if !closed(raw) {
            return raw.get(1..).unwrap_or_default().to_string();
        }
        if !inner.contains('\\') {
            return inner.to_string(); // nothing to decode
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('u') => {
                    let rest: String = chars.clone().collect();
                    let decoded = rest
                        .strip_prefix('{')
                        .and_then(|r| r.split_once('}'))
                        // 1 to 6 hex digits, nothing else (`from_str_radix` takes a sign).
                        .filter(|(hex, _)| {
                            (1..=6).contains(&hex.len())
                                && hex.bytes().all(|b| b.is_ascii_hexdigit())
                        })
                        .and_then(|(hex, _)| {
                            u32::from_str_radix(hex, 16).ok().map(|v| (hex.len(), v))
                        })
                        .and_then(|(n, v)| char::from_u32(v).map(|c| (n, c)));
                    match decoded {
                        Some((n, c)) => {
                            out.push(c);
                            for _ in 0..n + 2 {
                                chars.next();
                            }
                        }
                        None => issues.push(Issue::Literal(
                            span,
                            "invalid unicode escape: write `\\u{XXXX}` with 1 to 6 hex digits of a valid code point"
                                .to_string(),
                        )),
                    }
                }
                other => {
                    let shown = other.map(|c| c.to_string()).unwrap_or_default();
                    issues.push(Issue::Literal(
                        span,
                        format!("unknown escape `\\{shown}` in text: use `\\n`, `\\t`, `\\\"`, `\\\\` or `\\u{{...}}`"),
                    ));
                }
            }
        }
        out
    }

    /// What is inside a text written in quotes other than `"` (`'a'`, `“a”`), which the lexer
    /// reports and hands on as text only when closed.
    fn other_quoted(raw: &str) -> Option<&str> {
        let len = crate::lexer::other_quoted_len(raw).filter(|&n| n == raw.len())?;
        let open = raw.chars().next()?.len_utf8();
        let close = raw.chars().next_back()?.len_utf8();
        raw.get(open..len - close)
    }

    /// Whether a text token ends with its closing quote (an unclosed text goes to the end of
    /// its line, and may end with an escaped `\"`).
    fn closed(raw: &str) -> bool {
        // Most texts are in `"`: asked first.
        let Some(body) = raw.strip_prefix('"').and_then(|b| b.strip_suffix('"')) else {
            return other_quoted(raw).is_some();
        };
        let escapes = body.len() - body.trim_end_matches('\\').len();
        escapes % 2 == 0
    }

    /// A text literal in an expression; one with a bad escape is reported and is an error
    /// node.
    pub fn text_expr(raw: &str, span: Span, issues: &mut Vec<Issue>) -> ExprKind {
        let before = issues.len();
        let value = text(raw, span, issues);
        valid(Literal::Text(value), before, issues)
    }

    /// `literal`, or an error node if reading it reported an issue after the first `before`:
    /// an invalid literal has no value for later checks to compute with.
    fn valid(literal: Literal, before: usize, issues: &[Issue]) -> ExprKind {
        if issues.len() > before {
            ExprKind::Error
        } else {
            ExprKind::Lit(literal)
        }
    }

    /// An integer literal; one that does not fit in 64 bits is reported and is an error node.
    pub fn int(raw: &str, span: Span, issues: &mut Vec<Issue>) -> ExprKind {
        // Separators are rare: parse the text as it is when it has none.
        let parsed = if raw.contains('_') {
            raw.replace('_', "").parse::<i64>()
        } else {
            raw.parse::<i64>()
        };
        match parsed {
            Ok(v) => ExprKind::Lit(Literal::Int(v)),
            Err(_) => {
                let mut why = format!("integer `{raw}` is too large (the largest is {})", i64::MAX);
                // An integer literal is an `Int` wherever it stands (language.md §6.4); the
                // number may be meant as a `Decimal`, which is written with a point.
                if xop_runtime::bind::exact_decimal(&raw.replace('_', "")).is_some() {
                    why.push_str(&format!(
                        "; if a Decimal is meant, write it with a point: `{raw}.0`"
                    ));
                }
                issues.push(Issue::Literal(span, why));
                ExprKind::Error
            }
        }
    }

    /// A decimal literal; one that a `Decimal` cannot hold exactly (more than 28 significant
    /// digits, or beyond its range) is reported, never rounded: `0.1` followed by 29 zeros and
    /// a 1 must not silently mean `0.1`.
    pub fn decimal(raw: &str, span: Span, issues: &mut Vec<Issue>) -> ExprKind {
        let before = issues.len();
        let digits = raw.replace('_', "");
        exact(&digits, "decimal", raw, span, issues);
        valid(Literal::Decimal(digits), before, issues)
    }

    /// `12.50 EUR` → amount and currency; an amount a `Decimal` cannot hold exactly is
    /// reported.
    pub fn money(raw: &str, span: Span, issues: &mut Vec<Issue>) -> ExprKind {
        let before = issues.len();
        let (amount, currency) = raw.rsplit_once(' ').unwrap_or((raw, ""));
        let amount = amount.replace('_', "");
        exact(&amount, "amount", raw, span, issues);
        valid(Literal::Money(amount, currency.to_string()), before, issues)
    }

    /// Reports `digits` (a decimal or an amount, `_` removed) unless a `Decimal` holds it
    /// exactly, read as inputs are ([`xop_runtime::bind::exact_decimal`]: trailing zeros of
    /// the fraction make no literal inexact); lowering reads the same value from the text.
    fn exact(digits: &str, what: &str, raw: &str, span: Span, issues: &mut Vec<Issue>) {
        use xop_runtime::bind::exact_decimal;
        if exact_decimal(digits).is_some() {
            return;
        }
        let max = rust_decimal::Decimal::MAX;
        let whole = digits.split_once('.').map_or(digits, |(whole, _)| whole);
        let why = if exact_decimal(whole).is_none() {
            format!(
                "{what} `{raw}` is beyond the range of Decimal: its whole part alone is more \
                 than {max}, the largest a Decimal holds"
            )
        } else {
            format!(
                "{what} `{raw}` cannot be held exactly: decimals have at most 28 digits after \
                 the point, 28 to 29 significant digits, and lie within ±{max}; round it \
                 yourself to what you mean"
            )
        };
        issues.push(Issue::Literal(span, why));
    }

    /// `1h30m` → milliseconds; an overflowing duration is reported and is an error node.
    pub fn duration(raw: &str, span: Span, issues: &mut Vec<Issue>) -> ExprKind {
        let mut total: i64 = 0;
        let mut rest = raw;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (num, tail) = rest.split_at(digits);
            let unit_len = if tail.starts_with("ms") { 2 } else { 1 };
            let (unit, tail) = tail.split_at(unit_len.min(tail.len()));
            let factor: i64 = match unit {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => 604_800_000, // "w": the lexer admits no other unit
            };
            let part = num
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(factor))
                .and_then(|p| total.checked_add(p));
            match part {
                Some(t) => total = t,
                None => {
                    issues.push(Issue::Literal(
                        span,
                        format!("duration `{raw}` is too long"),
                    ));
                    return ExprKind::Error;
                }
            }
            rest = tail;
        }
        ExprKind::Lit(Literal::Duration(total, raw.to_string()))
    }

    /// An RFC 3339 time, checked to be a real instant; one that is not (a near miss the lexer
    /// took as a time included) is reported once, saying what is wrong, and is an error node.
    pub fn time(raw: &str, span: Span, issues: &mut Vec<Issue>) -> ExprKind {
        match xop_runtime::time::parse_rfc3339(raw) {
            Ok(_) => ExprKind::Lit(Literal::Time(raw.to_string())),
            Err(why) => {
                let why = match near_miss(raw) {
                    None => why,
                    Some((wrong, fixed)) => match xop_runtime::time::parse_rfc3339(&fixed) {
                        Ok(_) => format!("{wrong}; write `{fixed}`"),
                        // What is left once those are mended (no zone, a day out of range).
                        Err(more) => format!("{wrong}; and {more}"),
                    },
                };
                issues.push(Issue::Literal(
                    span,
                    format!("`{raw}` is not a valid RFC 3339 time: {why}"),
                ));
                ExprKind::Error
            }
        }
    }

    /// What makes `raw`, a time as the lexer reads one, miss RFC 3339's form, and `raw` with
    /// that mended (the reader's general message would only restate the form); `None` when its
    /// form is right. The mending adds nothing that changes the instant meant: `:00` for the
    /// missing minutes or seconds, the colon or `:00` minutes of an offset, and drops a `.`
    /// with no digits. A missing zone is not made up: the reader says it is missing.
    fn near_miss(raw: &str) -> Option<(String, String)> {
        // The date and `T`, always whole: the lexer's form starts so.
        let (date, rest) = raw.split_at_checked(11)?;
        let clock_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ':'))
            .unwrap_or(rest.len());
        let (clock, rest) = rest.split_at(clock_len);
        let mut wrong = Vec::new();
        let clock = match clock.len() {
            2 => {
                wrong.push("minutes and seconds are required (`hh:mm:ss`)");
                format!("{clock}:00:00")
            }
            5 => {
                wrong.push("seconds are required (`hh:mm:ss`)");
                format!("{clock}:00")
            }
            _ => clock.to_string(),
        };
        let (fraction, zone) = match rest.strip_prefix('.') {
            Some(more) => {
                let n = more
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(more.len());
                if n == 0 {
                    wrong.push("the fraction of a second has no digits after `.`");
                    ("", more)
                } else {
                    (&rest[..n + 1], &more[n..])
                }
            }
            None => ("", rest),
        };
        let zone = match zone.as_bytes() {
            [b'+' | b'-', _, _] => {
                wrong.push("an offset has hours and minutes, written like `+01:00`");
                format!("{zone}:00")
            }
            [b'+' | b'-', _, _, _, _] => {
                wrong.push("an offset is written with a colon, like `+01:00`");
                format!("{}:{}", &zone[..3], &zone[3..])
            }
            _ => zone.to_string(),
        };
        (!wrong.is_empty()).then(|| (wrong.join(", "), format!("{date}{clock}{fraction}{zone}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{ExprKind, ItemKind, Path, TestStmt};

    fn p(src: &str) -> Parsed {
        parse(&Arc::from("t.xop"), src)
    }

    /// Each declaration's kind and name, and an action's parameters, purpose and risk.
    fn shapes(parsed: &Parsed) -> Vec<String> {
        parsed
            .ast
            .items
            .iter()
            .map(|i| match &i.kind {
                ItemKind::Action(a) => {
                    let params: Vec<_> = a.params.iter().map(|p| p.name.name.as_str()).collect();
                    format!(
                        "action {}({}) {:?} {:?}",
                        a.name.name,
                        params.join(", "),
                        a.purpose.as_ref().map(|p| p.name.as_str()),
                        a.risk.as_ref().map(|r| r.name.as_str())
                    )
                }
                ItemKind::Error => "error".to_string(),
                other => format!(
                    "{} {}",
                    format!("{other:?}")
                        .split('(')
                        .next()
                        .unwrap_or_default()
                        .to_lowercase(),
                    i.name().map_or("", |n| n.name.as_str())
                ),
            })
            .collect()
    }

    fn messages(parsed: &Parsed) -> Vec<String> {
        parsed
            .diagnostics
            .iter()
            .map(|d| format!("{} {}", d.code, d.message))
            .collect()
    }

    /// A parameter list whose `)` is missing before an action's `risk`, written before its
    /// `purpose`: the `)` and the order are reported, and both clauses kept. `risk` and a name
    /// after a parameter is that clause; a parameter named `risk` still reads as one.
    #[test]
    fn a_missing_paren_before_risk_keeps_the_action() {
        let parsed = p("module m\n\
             action a(to: C, channel: Channel\n  risk minimal\n  purpose service\n\
             action b(to: C) risk high purpose service\n\
             action c(to: C, risk: Int\n  purpose service risk minimal\n\
             action d(to: C risk: Int) purpose service\n\
             fn f(a: Int, risk: Int): Int = risk\n");
        assert_eq!(
            messages(&parsed),
            [
                "E0103 expected `)` before `risk`",
                "E0103 an action's `risk` clause comes after its `purpose`",
                "E0103 an action's `risk` clause comes after its `purpose`",
                "E0103 expected `)` before `purpose`",
                "E0103 expected `,` before the parameter `risk`",
            ]
        );
        assert_eq!(
            shapes(&parsed),
            [
                "action a(to, channel) Some(\"service\") Some(\"minimal\")",
                "action b(to) Some(\"service\") Some(\"high\")",
                "action c(to, risk) Some(\"service\") Some(\"minimal\")",
                "action d(to, risk) Some(\"service\") None",
                "fn f",
            ]
        );
        // The `)` is missing where the last parameter ends; the fix leaves the next line alone,
        // and the order's fix names the purpose written.
        let d = &parsed.diagnostics;
        assert_eq!(
            d[0].span.start(),
            "module m\naction a(to: C, channel: Channel".len()
        );
        assert_eq!(
            d[0].help.as_deref(),
            Some("close the parameter list: `Channel)`")
        );
        assert_eq!(
            d[1].help.as_deref(),
            Some("write it after the purpose: `purpose service risk minimal`")
        );
    }

    /// An action whose header the next declaration cuts off (its `)` missing, or its
    /// `purpose`) is one error, and the next declaration, of any kind that cannot be a
    /// parameter, is read as written, with its doc comment and annotations.
    #[test]
    fn an_action_cut_off_keeps_the_next_declaration() {
        let src = "module m\n\
             action a(to: C, channel: Channel\n\naction other(to: C) purpose service risk minimal\n\
             action b(to: C\npolicy p for other(to: c) {\n  allow \"ok\"\n}\n\
             action c(to: C,\nrecord R { x: Int }\n\
             action d(\nenum E { a }\n\
             action e(to: C)\n/// doc\n@annex_iii(area: employment)\naction f(to: C) purpose service\n\
             action g(to: C\naction h(to: C\ntest \"t\" {\n  expect other(to: c) == allow\n}\n\
             action i(to: C\nfn k(): Int = 1\n\
             action j(to: C\ndecision n(c: C) {\n  propose other(to: c)\n}\n";
        let parsed = p(src);
        let expected_paren = "E0103 expected `)` before the next declaration";
        assert_eq!(
            messages(&parsed),
            [
                expected_paren,
                expected_paren,
                expected_paren,
                expected_paren,
                "E0103 expected `purpose` before the next declaration",
                expected_paren,
                expected_paren,
                expected_paren,
                expected_paren,
            ]
        );
        assert_eq!(
            shapes(&parsed),
            [
                "action a(to, channel) None None",
                "action other(to) Some(\"service\") Some(\"minimal\")",
                "action b(to) None None",
                "policy p",
                "action c(to) None None",
                "record R",
                "action d() None None",
                "enum E",
                "action e(to) None None",
                "action f(to) Some(\"service\") None",
                "action g(to) None None",
                "action h(to) None None",
                "test ",
                "action i(to) None None",
                "fn k",
                "action j(to) None None",
                "decision n",
            ]
        );
        let f = &parsed.ast.items[9];
        assert_eq!((f.docs.len(), f.annotations.len()), (1, 1));
        // The error is where the header ends, and its fix closes it there.
        let d = &parsed.diagnostics[0];
        assert_eq!(d.span.start(), src.find("Channel\n").map_or(0, |at| at + 7));
        assert_eq!(
            d.help.as_deref(),
            Some(
                "close the parameter list, then name the purpose the action serves: `Channel) purpose NAME`"
            )
        );
        assert_eq!(
            parsed.diagnostics[2].help.as_deref(),
            Some(
                "close the parameter list, then name the purpose the action serves: `C) purpose NAME`"
            ),
            "a trailing `,` is not part of the fix"
        );
    }

    /// The parser reads tokens as they are lexed: what follows the last syntax error, up to the
    /// end of the text, is still lexed, so its comments, lexical errors and names are kept.
    #[test]
    fn text_after_the_last_syntax_error_is_still_lexed() {
        let src = "module m\nfn f(): Int = (1 +\n// tail note\nlater $ name";
        let parsed = p(src);
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert!(codes.contains(&"E0101"), "{codes:?}");
        assert_eq!(
            parsed.comments.last().map(|c| c.text.as_str()),
            Some("// tail note")
        );
        let names: Vec<&str> = parsed.names.iter().map(|s| &src[s.range()]).collect();
        assert_eq!(names.last(), Some(&"name"), "{names:?}");
    }

    /// The reason of a rule left open before its condition, or written in typographic
    /// quotes, is read as meant: the rule keeps its condition (closed at the line's end, the
    /// condition would be part of the reason and the rule would apply to everyone), and the
    /// reason is the text inside the quotes.
    #[test]
    fn reasons_left_open_or_in_typographic_quotes_are_read_as_meant() {
        let src = "module m\npolicy p for a(to: c) {\n  deny “young” when c.age < 18\n  \
                   allow \"adult when c.age >= 18\n  allow \"old unless c.age < 99\n}\n";
        let parsed = p(src);
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["E0101", "E0102", "E0102"]);
        let ItemKind::Policy(policy) = &parsed.ast.items[0].kind else {
            panic!("a policy: {:?}", parsed.ast.items[0].kind);
        };
        let rules: Vec<(String, bool, String)> = policy
            .rules
            .iter()
            .map(|r| match r {
                crate::ast::Rule::Rule {
                    reason, condition, ..
                } => {
                    let condition = condition.as_ref().expect("a condition");
                    (
                        reason.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
                        condition.negated,
                        src[condition.span.range()].to_string(),
                    )
                }
                other => panic!("a rule: {other:?}"),
            })
            .collect();
        let rule = |r: &str, n, c: &str| (r.to_string(), n, c.to_string());
        assert_eq!(
            rules,
            [
                rule("young", false, "when c.age < 18"),
                rule("adult", false, "when c.age >= 18"),
                rule("old", true, "unless c.age < 99"),
            ]
        );
    }

    /// `expect P(a(args))` asks policy `P` (the action a path or a name); `expect a(args)`, any
    /// other call, asks for the action's verdict: the two forms read alike up to `(`.
    #[test]
    fn the_two_forms_of_expect() {
        let src = "module m\ntest \"t\" {\n\
                   expect p(a(to: c)) == allow\n\
                   expect p(m.n.a(to: c, x: 1)) == allow\n\
                   expect a(to: c, x: 1) == allow\n\
                   expect a(f(x)) == allow\n\
                   expect a(f(x), 2) == allow\n\
                   expect a(g().f(x)) == allow\n\
                   expect a() == allow\n}\n";
        let parsed = p(src);
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let ItemKind::Test(t) = &parsed.ast.items[0].kind else {
            panic!("a test");
        };
        let forms: Vec<(Option<String>, String, usize)> = t
            .body
            .iter()
            .map(|s| match s {
                TestStmt::Expect(e) => (
                    e.policy.as_ref().map(Path::dotted),
                    e.call.callee.dotted(),
                    e.call.args.len(),
                ),
                _ => panic!("an expect"),
            })
            .collect();
        let f = |p: Option<&str>, c: &str, n| (p.map(str::to_string), c.to_string(), n);
        assert_eq!(
            forms,
            [
                f(Some("p"), "a", 1),
                f(Some("p"), "m.n.a", 2),
                f(None, "a", 2),
                // One positional call reads as the policy form, whatever the names mean.
                f(Some("a"), "f", 1),
                f(None, "a", 2),
                f(None, "a", 1),
                f(None, "a", 0),
            ]
        );
        let TestStmt::Expect(e) = &t.body[1] else {
            unreachable!()
        };
        assert_eq!(&src[e.call.callee.span.range()], "m.n.a");
        assert_eq!(&src[e.call.span.range()], "m.n.a(to: c, x: 1)");
    }

    /// A doc comment where nothing takes one says what doc comments are for: as the unexpected
    /// token, just before the unexpected token (documenting nothing), and at the end of the
    /// file; among rules and test statements it is reported once, with no error after it.
    #[test]
    fn doc_comments_that_document_nothing() {
        let helps = |src: &str| -> Vec<(&'static str, String)> {
            p(src)
                .diagnostics
                .iter()
                .map(|d| (d.code, d.help.clone().unwrap_or_default()))
                .collect()
        };
        let doc = |code| (code, DOC_HELP.to_string());
        // The unexpected token itself (nothing takes one between a return type and `=`).
        let h = helps("module m\nrecord R { id: Id }\nfn f(r: R): Int /// who\n= 1\n");
        assert_eq!(h.first(), Some(&doc("E0103")), "{h:?}");
        // The token after it: a field's doc comment with no field after it.
        let h = helps("module m\nrecord R {\n  id: Id\n  /// nothing\n}\n");
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].1.ends_with(DOC_HELP) && h[0].1.contains("`}`"),
            "{h:?}"
        );
        // The end of the file, at the top level and inside a declaration.
        assert_eq!(helps("module m\npurpose p\n/// end\n"), [doc("E0104")]);
        let h = helps("module m\nrecord R {\n  id: Id\n  /// end\n");
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(
            h[0].1.starts_with(DOC_HELP) && h[0].1.contains("close every"),
            "{h:?}"
        );
        // Among rules and test statements: one error per doc comment, whatever its lines.
        let src = "module m\npolicy P for a(to: c) {\n  /// one\n  /// two\n  allow \"ok\"\n}\n\
                   test \"t\" {\n  /// no\n  let a = 1\n}\n";
        assert_eq!(helps(src), [doc("E0103"), doc("E0103")]);
        let parsed = p(src);
        let ItemKind::Test(t) = &parsed.ast.items[1].kind else {
            panic!("a test");
        };
        assert!(matches!(
            t.body.as_slice(),
            [TestStmt::Error(_), TestStmt::Let { .. }]
        ));
    }

    /// A syntax error right after the parser resumed from another is the same mistake seen
    /// again (a `)` too many closes the parameter list, then the `:` after it is unexpected):
    /// reported once. Mistakes further apart are each reported.
    #[test]
    fn an_error_right_after_a_recovery_is_not_reported_again() {
        let syntax = |src: &str| -> Vec<usize> {
            p(src)
                .diagnostics
                .iter()
                .filter(|d| d.code == "E0103")
                .map(|d| d.span.start())
                .collect()
        };
        let src = "module m\naction a(to: C, limit) : Money) purpose p risk minimal\nrole r\n";
        assert_eq!(syntax(src), [src.find(") :").unwrap()]);
        let src = "module m\nfn f(): Int = two(1, , 2)\nfn g(): Int = two(3, , 4)\n";
        assert_eq!(syntax(src).len(), 2);
    }

    /// Integers and texts as written and with separators or escapes (the two paths of each).
    #[test]
    fn literals_with_and_without_separators_or_escapes() {
        let mut issues = Vec::new();
        let sp = Span::new(0, 1);
        let int = |v| ExprKind::Lit(crate::ast::Literal::Int(v));
        assert_eq!(literal::int("1500", sp, &mut issues), int(1500));
        assert_eq!(literal::int("1_500", sp, &mut issues), int(1500));
        assert_eq!(literal::text(r#""a b""#, sp, &mut issues), "a b");
        assert_eq!(
            literal::text(r#""a\"b\n\u{e9}""#, sp, &mut issues),
            "a\"b\né"
        );
        assert!(issues.is_empty());
        assert_eq!(
            literal::int("9223372036854775808", sp, &mut issues),
            ExprKind::Error
        );
        assert_eq!(literal::text(r#""a\qb""#, sp, &mut issues), "ab");
        assert_eq!(
            issues.len(),
            2,
            "an overflow and an unknown escape are reported"
        );
    }

    /// Lines end with `\n` or `\r\n`; a lone `\r` is E0101 wherever it is, also after a
    /// comment or inside a text literal, so that no line break is counted by an editor and
    /// not by the compiler. CRLF files read as LF ones.
    #[test]
    fn a_lone_carriage_return_is_an_error_and_crlf_a_line_break() {
        let codes = |src: &str| -> Vec<&'static str> {
            p(src).diagnostics.iter().map(|d| d.code).collect()
        };
        let lf = "module m\n// note\nfn f(): Text = \"a\"\n";
        assert_eq!(codes(lf), Vec::<&str>::new());
        assert_eq!(codes(&lf.replace('\n', "\r\n")), Vec::<&str>::new());
        let crlf = p(&lf.replace('\n', "\r\n"));
        assert_eq!(crlf.comments[0].text, "// note");
        for src in [
            "module m\rfn f(): Int = 1\n",
            "module m\n// note\rfn f(): Int = 1\n",
            "module m\nfn f(): Text = \"a\rb\"\n",
        ] {
            let parsed = p(src);
            let first = &parsed.diagnostics[0];
            assert!(
                first.code == "E0101" || first.code == "E0102",
                "{src:?}: {:?}",
                parsed.diagnostics
            );
            assert!(
                parsed
                    .diagnostics
                    .iter()
                    .any(|d| d.message.contains("carriage return"))
                    || first.code == "E0102",
                "{src:?}: {:?}",
                parsed.diagnostics
            );
        }
    }

    /// A byte-order mark that opens a file is skipped (spans still count it, so positions are
    /// the text's own); anywhere else it is E0101.
    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let parsed = p("\u{feff}module m\nfn f(): Int = 1\n");
        assert_eq!(parsed.diagnostics.len(), 0, "{:?}", parsed.diagnostics);
        let module = parsed.ast.module.as_ref().expect("a module line");
        assert_eq!(module.span.start(), 3);
        let codes: Vec<_> = p("module m\n\u{feff}fn f(): Int = 1\n")
            .diagnostics
            .iter()
            .map(|d| d.code)
            .collect();
        assert_eq!(codes, ["E0101"]);
    }

    /// Time literals are read by the runtime's RFC 3339 reader: what it refuses is E0105 with
    /// its reason, and a fraction of any length is a time.
    #[test]
    fn time_literals_are_read_as_inputs_are() {
        let errors = |src: &str| -> Vec<String> {
            p(&format!("module m\nfn t(): Time = {src}\n"))
                .diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect()
        };
        assert_eq!(
            errors("2026-11-25T10:00:00.1234567891Z"),
            Vec::<String>::new()
        );
        let offset = errors("2026-11-25T10:00:00+24:00");
        assert_eq!(offset.len(), 1, "{offset:?}");
        assert!(
            offset[0].starts_with("E0105 ") && offset[0].contains("the offset is out of range"),
            "{offset:?}"
        );
        assert!(errors("2026-02-30T10:00:00Z")[0].contains("out of range"));
    }

    /// Trailing zeros of a fraction make no decimal literal inexact, whatever its size; the
    /// value lowered from the text is the one the check read, at the same scale. A literal
    /// beyond the range says so; one with too many digits, that it cannot be held exactly.
    #[test]
    fn decimal_literals_are_read_as_inputs_are() {
        let errors = |src: &str| -> Vec<String> {
            p(&format!("module m\nfn t(): Decimal = {src}\n"))
                .diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect()
        };
        for src in [
            "9999999999999999999999999999.0",
            "1.00000000000000000000000000000",
            "79228162514264337593543950335.000",
            "0.00000000000000000000000000000000",
            "1.23456789012345678901234567890",
            "12.50",
            "7_922_816_251_426_433_759_354_395_033.5",
        ] {
            assert_eq!(errors(src), Vec::<String>::new(), "{src}");
            let digits = src.replace('_', "");
            let read = xop_runtime::bind::exact_decimal(&digits).expect("exact");
            // What lowering (and the type checker's constants) read from the literal's text.
            let lowered: rust_decimal::Decimal = digits.parse().expect("a decimal");
            assert_eq!((read, read.scale()), (lowered, lowered.scale()), "{src}");
        }
        let beyond = |src: &str| {
            vec![format!(
                "E0105 decimal `{src}` is beyond the range of Decimal: its whole part alone is \
                 more than 79228162514264337593543950335, the largest a Decimal holds"
            )]
        };
        for src in [
            "79228162514264337593543950336.0",
            "100000000000000000000000000000.0",
        ] {
            assert_eq!(errors(src), beyond(src), "{src}");
        }
        for src in [
            "0.000000000000000000000000000001",
            "9999999999999999999999999999.5",
            "1.000000000000000000000000000001",
        ] {
            let e = errors(src);
            assert_eq!(e.len(), 1, "{e:?}");
            assert!(
                e[0].starts_with(&format!("E0105 decimal `{src}` cannot be held exactly")),
                "{e:?}"
            );
        }
        assert_eq!(
            errors("10000000000000000000000000000"),
            [
                "E0105 integer `10000000000000000000000000000` is too large (the largest is \
              9223372036854775807); if a Decimal is meant, write it with a point: \
              `10000000000000000000000000000.0`"
            ]
        );
        assert_eq!(
            errors("100000000000000000000000000000"),
            [
                "E0105 integer `100000000000000000000000000000` is too large (the largest is \
              9223372036854775807)"
            ]
        );
        assert_eq!(
            errors("0.1 EUR + 1.000000000000000000000000000000 EUR"),
            Vec::<String>::new()
        );
    }

    /// A near miss of a time is one E0105 for the whole literal, saying what is wrong and,
    /// where the mending changes no instant, the time to write; no error follows it.
    #[test]
    fn near_miss_times_are_one_error_that_says_what_is_wrong() {
        let errors = |src: &str| -> Vec<(String, std::ops::Range<usize>)> {
            let text = format!("module m\nfn t(): Time = {src}\n");
            let at = text.find(src).unwrap();
            p(&text)
                .diagnostics
                .iter()
                .map(|d| {
                    let r = d.span.range();
                    (
                        format!("{} {}", d.code, d.message),
                        r.start - at..r.end - at,
                    )
                })
                .collect()
        };
        for (src, says) in [
            (
                "2026-11-25T10:00Z",
                "seconds are required (`hh:mm:ss`); write `2026-11-25T10:00:00Z`",
            ),
            (
                "2026-11-25T10Z",
                "minutes and seconds are required (`hh:mm:ss`); write `2026-11-25T10:00:00Z`",
            ),
            (
                "2026-11-25T10:00:00.Z",
                "the fraction of a second has no digits after `.`; write `2026-11-25T10:00:00Z`",
            ),
            (
                "2026-11-25T10:00:00+0100",
                "an offset is written with a colon, like `+01:00`; write \
                 `2026-11-25T10:00:00+01:00`",
            ),
            (
                "2026-11-25T10:00:00-05",
                "an offset has hours and minutes, written like `+01:00`; write \
                 `2026-11-25T10:00:00-05:00`",
            ),
            (
                "2026-11-25T10:00.+0100",
                "seconds are required (`hh:mm:ss`), the fraction of a second has no digits \
                 after `.`, an offset is written with a colon, like `+01:00`; write \
                 `2026-11-25T10:00:00+01:00`",
            ),
            (
                "2026-11-25T10:00",
                "seconds are required (`hh:mm:ss`); and the time zone is missing: end it with \
                 `Z` or an offset like `+01:00`",
            ),
            (
                "2026-02-30T10:00Z",
                "seconds are required (`hh:mm:ss`); and the day is out of range (01 to 28)",
            ),
            (
                "2026-11-25T10:00:00",
                "the time zone is missing: end it with `Z` or an offset like `+01:00`",
            ),
        ] {
            assert_eq!(
                errors(src),
                [(
                    format!("E0105 `{src}` is not a valid RFC 3339 time: {says}"),
                    0..src.len()
                )],
                "{src}"
            );
        }
    }

    #[test]
    fn parses_the_design_example_shapes() {
        let parsed = p(r#"
module acme.contact
use std.consent.consent
use std.channel.*
use std.time.{local_hour, day_of_week}

/// Customer.
record Customer {
  id: Id
  segment: Segment
  @personal(purpose: [service, fraud]) msisdn: Text
  tags: Set<Text>
  nickname: Text?
}
enum Segment { vip, standard }
action send_offer(to: Customer, channel: Channel, offer: Text) purpose marketing risk minimal
signal sim_swap(c: Customer): SimSwap from camara.sim_swap(c.msisdn) max_age 5m
policy contact for send_offer(to: c, channel: ch) at now {
  deny  "no-consent"   unless consent(c, marketing, ch)
  deny  "quiet-hours"  unless local_hour(now, c.tz) in 8..21
  review "recent-sim-swap" by role fraud_desk within 15m else deny
    when sim_swap(c) is absent or sim_swap(c).swapped_within(24h)
  allow "eligible"
}
test "t" {
  expect contact(send_offer(to: { in_service_interaction: true, .. }, channel: sms, offer: "x")) == deny("a")
}
"#);
        assert!(parsed.diagnostics.is_empty(), "{:#?}", parsed.diagnostics);
        assert_eq!(parsed.ast.uses.len(), 3);
        assert_eq!(parsed.ast.items.len(), 6);
    }

    #[test]
    fn enum_variants_need_no_separator_like_record_fields() {
        for src in [
            "module m\nenum T {\n  /// doc\n  standard\n  vip\n}\n",
            "module m\nenum T { standard, vip }\n",
            "module m\nenum T { standard, vip, }\n",
            "module m\nenum T { standard vip }\n",
        ] {
            let parsed = p(src);
            assert!(
                parsed.diagnostics.is_empty(),
                "{src}: {:#?}",
                parsed.diagnostics
            );
            let Some(crate::ast::ItemKind::Enum(e)) = parsed.ast.items.first().map(|i| &i.kind)
            else {
                panic!("{src}: no enum");
            };
            let names: Vec<&str> = e.variants.iter().map(|v| v.name.name.as_str()).collect();
            assert_eq!(names, ["standard", "vip"], "{src}");
        }
        // Two commas in a row are still an error.
        assert!(!p("module m\nenum T { a,, b }\n").diagnostics.is_empty());
    }

    /// Text that the lexer reports (in single quotes, or not closed on its line) is handed to
    /// the parser as text: the rule keeps it as its reason, and the rest of the line is read.
    #[test]
    fn reported_text_is_still_read_as_text() {
        let src = "module m\npolicy p for a(to: c) {\n  deny 'minor' when c.young\n  deny \"old\n  allow \"ok\"\n}\n";
        let parsed = p(src);
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["E0101", "E0102"], "{:?}", parsed.diagnostics);
        let ItemKind::Policy(policy) = &parsed.ast.items[0].kind else {
            panic!("a policy: {:?}", parsed.ast.items[0].kind);
        };
        let reasons: Vec<(Option<&str>, bool)> = policy
            .rules
            .iter()
            .map(|r| match r {
                crate::ast::Rule::Rule {
                    reason, condition, ..
                } => (
                    reason.as_ref().map(|t| t.value.as_str()),
                    condition.is_some(),
                ),
                crate::ast::Rule::Error(_) => (None, false),
            })
            .collect();
        assert_eq!(
            reasons,
            [
                (Some("minor"), true),
                (Some("old"), false),
                (Some("ok"), false)
            ]
        );
    }

    /// What the lexer cannot read is not handed to the parser, except where a value must
    /// come: a syntax error it causes is not reported, and a declaration after a missing value
    /// is still read.
    #[test]
    fn unreadable_characters_are_skipped_unless_they_stand_for_a_value() {
        let codes = |src: &str| -> Vec<&'static str> {
            p(src).diagnostics.iter().map(|d| d.code).collect()
        };
        // `a b` after `&&`: the parser's error is the lexer's seen again.
        assert_eq!(
            codes("module m\nfn f(a: Bool, b: Bool): Bool = a && b\n"),
            ["E0101"]
        );
        // Text in single quotes is read as text: a mistake right after it is one of its own.
        assert_eq!(
            codes("module m\npolicy p for a(to: c) {\n  allow 'ok' whne c.x\n}\n"),
            ["E0101", "E0103"]
        );
        // A value that cannot be read: the next line's `purpose` is a declaration, not it.
        let parsed = p("module m\nfn f(): Int = $\npurpose marketing\n");
        assert_eq!(
            parsed
                .diagnostics
                .iter()
                .map(|d| d.code)
                .collect::<Vec<_>>(),
            ["E0101"]
        );
        assert!(
            parsed
                .ast
                .items
                .iter()
                .any(|i| i.name().is_some_and(|n| n.name == "marketing")),
            "{:?}",
            parsed.ast.items
        );
    }

    /// A missing `,` between parameters and a keyword used as a field's name are reported
    /// where they are, and the declaration keeps every other parameter and field.
    #[test]
    fn a_missing_comma_and_a_keyword_name_keep_the_declaration() {
        let parsed = p(
            "module m\nrecord R {\n  a: Int\n  from: Time\n  b: Int\n}\naction x(to: R y: Int, in: Int, z: Int) purpose p\n",
        );
        let messages: Vec<_> = parsed
            .diagnostics
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        assert_eq!(
            messages,
            [
                "unexpected `from`",
                "expected `,` before the parameter `y`",
                "unexpected `in`"
            ]
        );
        let ItemKind::Record(r) = &parsed.ast.items[0].kind else {
            panic!("a record: {:?}", parsed.ast.items[0].kind);
        };
        let fields: Vec<_> = r.fields.iter().map(|f| f.name.name.as_str()).collect();
        assert_eq!(fields, ["a", "b"]);
        let ItemKind::Action(a) = &parsed.ast.items[1].kind else {
            panic!("an action: {:?}", parsed.ast.items[1].kind);
        };
        let params: Vec<_> = a.params.iter().map(|f| f.name.name.as_str()).collect();
        assert_eq!(params, ["to", "y", "z"]);
        // Between a policy's bindings, as between parameters.
        let parsed = p("module m\npolicy q for x(to: c y: n) {\n  allow \"ok\"\n}\n");
        let messages: Vec<_> = parsed.diagnostics.iter().map(|d| &d.message).collect();
        assert_eq!(messages, ["expected `,` before the parameter `y`"]);
        let ItemKind::Policy(q) = &parsed.ast.items[0].kind else {
            panic!("a policy: {:?}", parsed.ast.items[0].kind);
        };
        let bound: Vec<_> = q.bindings.iter().map(|b| b.var.name.as_str()).collect();
        assert_eq!(bound, ["c", "n"]);
        // A record value's field named with a keyword: left out, the others kept.
        let parsed = p("module m\nfn f(): R = { when: 1, b: 2, .. }\n");
        let messages: Vec<_> = parsed.diagnostics.iter().map(|d| &d.message).collect();
        assert_eq!(messages, ["unexpected `when`"]);
        let ItemKind::Fn(f) = &parsed.ast.items[0].kind else {
            panic!("a function: {:?}", parsed.ast.items[0].kind);
        };
        let Some(ExprKind::Record { fields, rest: true }) = f.body.as_ref().map(|b| &b.kind) else {
            panic!("a record value: {:?}", f.body);
        };
        let names: Vec<_> = fields.iter().map(|(n, _)| n.name.as_str()).collect();
        assert_eq!(names, ["b"]);
    }

    /// Something unreadable between a declaration's name and its `(` or `{`, between an
    /// action's `)` and `purpose`, or before a policy's `{`, is one error, and the declaration
    /// is kept whole; a stray character after a field is skipped.
    #[test]
    fn a_bad_header_keeps_the_declaration() {
        let parsed = p("module m\nrecord R .{\n  a: Int;\n  b: Int\n}\n\
             action x.v2(to: R, n: Int) purpose p risk minimal\n\
             action y(to: R) -> Int purpose p\n\
             policy q for x(to: c) at now now {\n  allow \"ok\"\n}\n\
             action zé(to: R) purpose p\n");
        let errors: Vec<_> = parsed
            .diagnostics
            .iter()
            .map(|d| format!("{} {}", d.code, d.message))
            .collect();
        assert_eq!(
            errors,
            [
                "E0103 unexpected `.`",
                "E0101 unexpected character `;`",
                "E0103 unexpected `.`",
                "E0103 unexpected `->`",
                "E0103 unexpected `now`",
                "E0101 unexpected character `é`",
            ]
        );
        let shapes: Vec<String> = parsed
            .ast
            .items
            .iter()
            .map(|i| match &i.kind {
                ItemKind::Record(r) => format!("record {} {}", r.name.name, r.fields.len()),
                ItemKind::Action(a) => format!(
                    "action {} {} {:?}",
                    a.name.name,
                    a.params.len(),
                    a.purpose.as_ref().map(|p| p.name.as_str())
                ),
                ItemKind::Policy(p) => format!("policy {} {}", p.name.name, p.rules.len()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            shapes,
            [
                "record R 2",
                "action x 2 Some(\"p\")",
                "action y 1 Some(\"p\")",
                "policy q 1",
                "action z 1 Some(\"p\")",
            ]
        );
    }

    /// After an error that drops a declaration, `role x` or `purpose x` in the middle of a line
    /// (a word of the broken declaration) is not read as a declaration; one that starts a line
    /// is.
    #[test]
    fn a_soft_keyword_resumed_at_mid_line_is_no_declaration() {
        let parsed = p("module m\npolicy p for a(to: c channel: ch) {\n  \
             review \"r\" by role desk within 1h else deny\n}\nrole desk\n");
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["E0103"], "{:?}", parsed.diagnostics);
        let roles: Vec<_> = parsed
            .ast
            .items
            .iter()
            .filter(|i| matches!(i.kind, ItemKind::Role(_)))
            .map(|i| i.span.start())
            .collect();
        assert_eq!(
            roles,
            [parsed.ast.items.last().map_or(0, |i| i.span.start())]
        );
        assert_eq!(roles.len(), 1);
    }

    /// A literal that is not a valid value is an error node, wherever it is written: no later
    /// phase computes with a made-up value.
    #[test]
    fn invalid_literals_are_error_nodes() {
        for (ty, literal) in [
            ("Int", "99999999999999999999"),
            ("Decimal", "0.12345678901234567890123456789"),
            ("Money", "0.12345678901234567890123456789 EUR"),
            ("Duration", "99999999999999999999h"),
            ("Time", "2026-02-30T00:00:00Z"),
            ("Text", "\"a\\qb\""),
        ] {
            let src = format!("module m\nfn f(): {ty} = {literal}\n");
            let parsed = p(&src);
            let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
            assert_eq!(codes, ["E0105"], "{literal}");
            let ItemKind::Fn(f) = &parsed.ast.items[0].kind else {
                panic!("a function: {:?}", parsed.ast.items[0].kind);
            };
            let body = f.body.as_ref().expect("a body");
            assert_eq!(body.kind, ExprKind::Error, "{literal}");
            assert_eq!(&src[body.span.range()], literal);
        }
        // Valid ones are values.
        let parsed = p("module m\nfn f(): Duration = 1h30m\n");
        let ItemKind::Fn(f) = &parsed.ast.items[0].kind else {
            panic!("a function");
        };
        assert_eq!(
            f.body.as_ref().map(|b| &b.kind),
            Some(&ExprKind::Lit(crate::ast::Literal::Duration(
                5_400_000,
                "1h30m".to_string()
            )))
        );
    }

    /// Two mistakes in two rules that follow each other are both reported: a rule that starts
    /// a line ends the suppression of follow-ups. A follow-up within a rule is still not.
    #[test]
    fn a_rule_that_starts_a_line_ends_the_suppression_of_follow_ups() {
        let syntax = |src: &str| -> Vec<String> {
            p(src)
                .diagnostics
                .iter()
                .map(|d| format!("{} {}", d.code, d.message))
                .collect()
        };
        let src = "module m\npolicy p for a(to: c) {\n  allow \"ok\" when c.age = 18\n  review \"x\" within 1h else deny\n}\n";
        assert_eq!(
            syntax(src),
            ["E0103 unexpected `=`", "E0103 unexpected `within`"]
        );
        // The missing `by role` is named (`rank` in a decision takes `by` alone too).
        let help = p(src).diagnostics[1].help.clone().unwrap_or_default();
        assert!(help.contains("by role ROLE"), "{help}");
        let help = p("module m\ndecision d(c: Int) {\n  propose f(c) rank 3\n}\n").diagnostics[0]
            .help
            .clone()
            .unwrap_or_default();
        assert!(!help.contains("review"), "{help}");
        // On one line, the second is the first seen again.
        let src = "module m\npolicy p for a(to: c) {\n  allow \"ok\" when c.age = 18 review \"x\" within 1h else deny\n}\n";
        assert_eq!(syntax(src), ["E0103 unexpected `=`"]);
    }

    #[test]
    fn recovers_and_reports_every_error() {
        let parsed = p(
            "module m\nrecord A { x: }\nenum B { $ }\npolicy p for a { deny \"x\" when }\nrole r\n",
        );
        let codes: Vec<_> = parsed.diagnostics.iter().map(|d| d.code).collect();
        assert!(codes.len() >= 3, "{codes:?}");
        assert!(codes.contains(&"E0101"));
        // the declaration after the errors is still there
        assert!(
            parsed
                .ast
                .items
                .iter()
                .any(|i| i.name().is_some_and(|n| n.name == "r"))
        );
    }

    /// `T??` is `T?` of `T?` (§6.1): in a type, the `??` token (the default operator in
    /// expressions) is read as two `?`, the inner one spanning the first.
    #[test]
    fn a_double_question_mark_after_a_type_is_two_optionals() {
        use crate::ast::{ItemKind, TypeExpr};
        let parsed = p("module m\nrecord R { a: Int??, b: Int? ?, c: List<Int??>? }\n");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
        let ItemKind::Record(r) = &parsed.ast.items[0].kind else {
            panic!("a record: {:?}", parsed.ast.items[0].kind);
        };
        // The inner optional's span, and the outer one's, if `t` is `T??` (or `T? ?`).
        let twice = |t: &TypeExpr| match t {
            TypeExpr::Optional { inner, span } => match &**inner {
                TypeExpr::Optional { inner, span: s } => {
                    matches!(&**inner, TypeExpr::Named { .. }).then_some((*s, *span))
                }
                _ => None,
            },
            _ => None,
        };
        let (inner, outer) = twice(&r.fields[0].ty).expect("`Int??` is two optionals");
        assert_eq!(
            (inner.end() + 1, inner.start()),
            (outer.end(), outer.start())
        );
        assert!(twice(&r.fields[1].ty).is_some(), "{:?}", r.fields[1].ty);
        // Still the default operator in an expression.
        let parsed = p("module m\nfn f(a: Int?): Int = a ?? 0\n");
        assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    }
}
