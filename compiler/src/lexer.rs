//! The lexer: source text to tokens with byte spans (logos).
//!
//! Comments are not tokens of the grammar: the lexer keeps them aside in [`Lexed::comments`]
//! so that the formatter can put them back. A lexer error does not stop lexing: it is recorded
//! and given as an [`Token::Error`] token (text in single quotes as a [`Token::Text`]), so that
//! one bad character still lets every later syntax error be reported (see TECH-NOTES). The
//! parser skips such a token, except where it stands for a value (`crate::parse::parse`).

use logos::Logos;

use crate::span::Span;

/// A token of the XOP grammar. Tokens carry no data: the parser slices the source by span.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq, Hash)]
// A line ends with `\n` or `\r\n`; a carriage return alone is an error (E0101), not a
// line break the editor would count and the compiler would not.
#[logos(skip r"([ \t\n\f]|\r\n)+")]
pub enum Token {
    // ---- declarations
    /// `module`
    #[token("module")]
    Module,
    /// `use`
    #[token("use")]
    Use,
    /// `as`
    #[token("as")]
    As,
    /// `record`
    #[token("record")]
    Record,
    /// `enum`
    #[token("enum")]
    Enum,
    /// `action`
    #[token("action")]
    Action,
    /// `signal`
    #[token("signal")]
    Signal,
    /// `role`
    #[token("role")]
    Role,
    /// `channel`
    #[token("channel")]
    Channel,
    /// `purpose`
    #[token("purpose")]
    Purpose,
    /// `event`
    #[token("event")]
    Event,
    /// `fn`
    #[token("fn")]
    Fn,
    /// `intrinsic`
    #[token("intrinsic")]
    Intrinsic,
    /// `policy`
    #[token("policy")]
    Policy,
    /// `decision`
    #[token("decision")]
    Decision,
    /// `journey`
    #[token("journey")]
    Journey,
    /// `agent`
    #[token("agent")]
    Agent,
    /// `test`
    #[token("test")]
    Test,
    // ---- clauses
    /// `for`
    #[token("for")]
    For,
    /// `at`
    #[token("at")]
    At,
    /// `deny`
    #[token("deny")]
    Deny,
    /// `allow`
    #[token("allow")]
    Allow,
    /// `review`
    #[token("review")]
    Review,
    /// `by`
    #[token("by")]
    By,
    /// `within`
    #[token("within")]
    Within,
    /// `else`
    #[token("else")]
    Else,
    /// `when`
    #[token("when")]
    When,
    /// `unless`
    #[token("unless")]
    Unless,
    /// `from`
    #[token("from")]
    From,
    /// `max_age`
    #[token("max_age")]
    MaxAge,
    /// `risk`
    #[token("risk")]
    Risk,
    /// `propose`
    #[token("propose")]
    Propose,
    /// `rank`
    #[token("rank")]
    Rank,
    /// `state`
    #[token("state")]
    State,
    /// `on`
    #[token("on")]
    On,
    /// `wait`
    #[token("wait")]
    Wait,
    /// `goto`
    #[token("goto")]
    Goto,
    /// `tool`
    #[token("tool")]
    Tool,
    /// `expect`
    #[token("expect")]
    Expect,
    /// `given`
    #[token("given")]
    Given,
    /// `let`
    #[token("let")]
    Let,
    // ---- expressions
    /// `if`
    #[token("if")]
    If,
    /// `then`
    #[token("then")]
    Then,
    /// `and`
    #[token("and")]
    And,
    /// `or`
    #[token("or")]
    Or,
    /// `not`
    #[token("not")]
    Not,
    /// `in`
    #[token("in")]
    In,
    /// `is`
    #[token("is")]
    Is,
    /// `absent`
    #[token("absent")]
    Absent,
    /// `present`
    #[token("present")]
    Present,
    /// `true`
    #[token("true")]
    True,
    /// `false`
    #[token("false")]
    False,
    // ---- punctuation
    /// `(`
    #[token("(")]
    LParen,
    /// `)`
    #[token(")")]
    RParen,
    /// `{`
    #[token("{")]
    LBrace,
    /// `}`
    #[token("}")]
    RBrace,
    /// `[`
    #[token("[")]
    LBracket,
    /// `]`
    #[token("]")]
    RBracket,
    /// `<`
    #[token("<")]
    Lt,
    /// `>`
    #[token(">")]
    Gt,
    /// `<=`
    #[token("<=")]
    Le,
    /// `>=`
    #[token(">=")]
    Ge,
    /// `==`
    #[token("==")]
    EqEq,
    /// `!=`
    #[token("!=")]
    Ne,
    /// `=`
    #[token("=")]
    Eq,
    /// `=>`
    #[token("=>")]
    FatArrow,
    /// `->`
    #[token("->")]
    Arrow,
    /// `:`
    #[token(":")]
    Colon,
    /// `,`
    #[token(",")]
    Comma,
    /// `.`
    #[token(".")]
    Dot,
    /// `..`
    #[token("..")]
    DotDot,
    /// `..=`
    #[token("..=")]
    DotDotEq,
    /// `?`
    #[token("?")]
    Question,
    /// `??`
    #[token("??")]
    QuestionQuestion,
    /// `+`
    #[token("+")]
    Plus,
    /// `-`
    #[token("-")]
    Minus,
    /// `*`
    #[token("*")]
    Star,
    /// `/`
    #[token("/")]
    Slash,
    /// `%`
    #[token("%")]
    Percent,
    /// `@`
    #[token("@")]
    AtSign,
    // ---- literals and names
    /// An identifier: `segment`, `Customer`, `fraud_desk`.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    /// An integer: `42`, `1_000`.
    #[regex(r"[0-9][0-9_]*")]
    Int,
    /// A decimal: `12.50`.
    #[regex(r"[0-9][0-9_]*\.[0-9][0-9_]*")]
    Decimal,
    /// An amount of money: a number and an ISO 4217 code, `12.50 EUR`.
    #[regex(r"[0-9][0-9_]*(\.[0-9][0-9_]*)? [A-Z][A-Z][A-Z]")]
    Money,
    /// A duration: `500ms`, `15m`, `24h`, `7d`, `2w`, `1h30m`.
    #[regex(r"([0-9]+(ms|s|m|h|d|w))+")]
    Duration,
    /// An RFC 3339 time: `2026-11-25T10:00:00Z`, `2026-11-25T10:00:00.5+01:00`; or a near miss
    /// of one, which the parser reports as one invalid literal (E0105, saying what is wrong):
    /// a clock without seconds or minutes (`2026-11-25T10:00Z`), a fraction without digits
    /// (`…:00.Z`), an offset without its colon or minutes (`+0100`, `+01`), or no zone at all.
    /// Lexed otherwise, such a text would be the subtraction `2026 - 11 - 25` followed by
    /// errors that do not say what is wrong with the time. No valid program writes a date
    /// followed by `T` and two digits, so the near miss takes nothing from another token.
    #[regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}(:[0-9]{2}(:[0-9]{2})?)?(\.[0-9]*)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?")]
    Time,
    /// A text literal: `"in-service-interaction"`, with `\"`, `\\`, `\n`, `\t`, `\u{..}` escapes.
    #[regex(r#""([^"\\\n\r]|\\[^\n\r])*""#)]
    Text,
    /// A doc comment line: `/// ...`. Attached by the grammar to the next declaration.
    #[regex(r"///[^\n\r]*", allow_greedy = true)]
    DocComment,
    /// A line comment: `// ...`. Never reaches the parser; kept for the formatter.
    #[regex(r"//([^/\n\r][^\n\r]*)?", allow_greedy = true)]
    #[regex(r"////[^\n\r]*", allow_greedy = true)]
    Comment,
    /// Stands for input the lexer could not read (a block comment too); the parser skips it, or
    /// reads it as a value that cannot be read where a value must come.
    Error,
}

impl Token {
    /// Whether the token can be a name: an identifier or a soft keyword (`fn risk(...)` is a
    /// name).
    pub fn is_name(self) -> bool {
        use Token::*;
        matches!(
            self,
            Ident | Channel | Purpose | Role | Risk | Event | State | Tool | Rank | Wait | Test
        )
    }

    /// Whether the token can open a file-level line: `module`, `use` or a declaration's keyword.
    pub fn starts_declaration(self) -> bool {
        use Token::*;
        matches!(
            self,
            Module
                | Use
                | Record
                | Enum
                | Action
                | Signal
                | Role
                | Channel
                | Purpose
                | Event
                | Fn
                | Intrinsic
                | Policy
                | Decision
                | Journey
                | Agent
                | Test
        )
    }

    /// How a token is named in "expected one of …" messages.
    pub fn describe(self) -> &'static str {
        use Token::*;
        match self {
            Ident => "a name",
            Int => "an integer",
            Decimal => "a decimal",
            Money => "an amount of money",
            Duration => "a duration",
            Time => "a time",
            Text => "a text literal",
            DocComment => "a doc comment",
            Comment => "a comment",
            Error => "an unreadable character",
            _ => "a keyword or symbol",
        }
    }
}

/// A problem the lexer found, with where.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LexError {
    /// Where the unreadable input is.
    pub span: Span,
    /// What is wrong.
    pub kind: LexErrorKind,
}

/// What kind of input the lexer could not read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LexErrorKind {
    /// A character that starts no token.
    UnexpectedChar(char),
    /// A `"` with no closing `"` on the same line.
    UnterminatedText,
    /// Text in single quotes (`'bad'`), closed on its line: handed to the parser as text.
    SingleQuoted,
    /// Text in typographic quotes (`“bad”`, `‘bad’`), closed on its line, as word processors
    /// write it: handed to the parser as text.
    Typographic,
    /// A block comment (`/* … */`, or a `/*` never closed, to the end of the file).
    BlockComment {
        /// Whether its `*/` is written.
        closed: bool,
    },
}

/// A comment kept aside for the formatter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comment {
    /// Where the comment is, `//` included.
    pub span: Span,
    /// The comment's text, `//` included, trailing spaces trimmed.
    pub text: String,
}

/// The output of lexing a file.
#[derive(Debug, Clone, Default)]
pub struct Lexed {
    /// Tokens for the parser, comments removed, errors as [`Token::Error`].
    pub tokens: Vec<(usize, Token, usize)>,
    /// The comments, in source order.
    pub comments: Vec<Comment>,
    /// What could not be read.
    pub errors: Vec<LexError>,
}

/// Lexes a whole source text. Never fails: problems are in [`Lexed::errors`].
pub fn lex(source: &str) -> Lexed {
    let mut stream = Stream::new(source);
    let tokens = (&mut stream).collect();
    Lexed {
        tokens,
        comments: stream.comments,
        errors: stream.errors,
    }
}

/// The parser's tokens one at a time, comments and errors kept aside as they are met: the
/// parser reads a file without a vector of all its tokens.
pub struct Stream<'s> {
    lexer: logos::Lexer<'s, Token>,
    source: &'s str,
    /// The comments met so far, in source order.
    pub comments: Vec<Comment>,
    /// What could not be read so far.
    pub errors: Vec<LexError>,
    /// Where the names met so far are written ([`Token::is_name`]).
    pub names: Vec<Span>,
}

impl<'s> Stream<'s> {
    /// A stream over `source`.
    pub fn new(source: &'s str) -> Self {
        let mut lexer = Token::lexer(source);
        // A byte-order mark that opens the file (Windows editors write one) is not text; one
        // anywhere else is an unexpected character like any other.
        if source.starts_with('\u{feff}') {
            lexer.bump('\u{feff}'.len_utf8());
        }
        Stream {
            lexer,
            source,
            comments: Vec::new(),
            errors: Vec::new(),
            names: Vec::new(),
        }
    }
}

impl Iterator for Stream<'_> {
    type Item = (usize, Token, usize);

    /// The next token for the parser (a comment is kept aside; what cannot be read is
    /// recorded and given as [`Token::Error`]).
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let result = self.lexer.next()?;
            let range = self.lexer.span();
            match result {
                Ok(Token::Comment) => self.comments.push(Comment {
                    span: Span::new(range.start, range.end),
                    text: self.source[range.clone()].trim_end().to_string(),
                }),
                // `/*` is never XOP (`*` starts no operand): a block comment of another
                // language, one error for all of it, whatever it holds.
                Ok(Token::Slash) if self.source[range.end..].starts_with('*') => {
                    let body = &self.source[range.end + 1..];
                    let (end, closed) = body.find("*/").map_or((self.source.len(), false), |i| {
                        (range.end + 1 + i + 2, true)
                    });
                    self.lexer.bump(end - range.end);
                    let span = Span::new(range.start, end);
                    self.errors.push(LexError {
                        span,
                        kind: LexErrorKind::BlockComment { closed },
                    });
                    return Some((span.start(), Token::Error, span.end()));
                }
                Ok(tok) => {
                    if tok.is_name() {
                        self.names.push(Span::new(range.start, range.end));
                    }
                    return Some((range.start, tok, range.end));
                }
                Err(()) => {
                    let rest = &self.source[range.start..];
                    // Text in single quotes, closed on its line: one error for the text, which
                    // the parser reads as text, so that the rule around it is still read.
                    // Typographic quotes likewise (`“bad”`, text pasted from a word processor).
                    if let Some(len) = other_quoted_len(rest) {
                        let end = range.start + len;
                        self.lexer.bump(end.saturating_sub(range.end));
                        let span = Span::new(range.start, end);
                        let kind = if rest.starts_with('\'') {
                            LexErrorKind::SingleQuoted
                        } else {
                            LexErrorKind::Typographic
                        };
                        self.errors.push(LexError { span, kind });
                        return Some((span.start(), Token::Text, span.end()));
                    }
                    let kind = if rest.starts_with('"') {
                        // Swallow the rest of the line so one missing quote is one error.
                        let end = unclosed_text_end(self.source, range.start);
                        if end < range.end {
                            // The lexer read past where the text ends (to the line's end): it
                            // starts again there.
                            self.lexer = Token::lexer(self.source);
                            self.lexer.bump(end);
                            let span = Span::new(range.start, end);
                            self.errors.push(LexError {
                                span,
                                kind: LexErrorKind::UnterminatedText,
                            });
                            return Some((span.start(), Token::Error, span.end()));
                        }
                        self.lexer.bump(end.saturating_sub(range.end));
                        LexErrorKind::UnterminatedText
                    } else if rest.starts_with('#') {
                        // A comment of another language (`# note`): one error for it, and its
                        // words are not read as XOP.
                        let line = rest.find(['\n', '\r']).unwrap_or(rest.len());
                        let end = range.start + rest[..line].trim_end().len();
                        self.lexer.bump(end.saturating_sub(range.end));
                        LexErrorKind::UnexpectedChar('#')
                    } else {
                        LexErrorKind::UnexpectedChar(rest.chars().next().unwrap_or('\0'))
                    };
                    let span = Span::new(range.start, self.lexer.span().end);
                    self.errors.push(LexError { span, kind });
                    return Some((span.start(), Token::Error, span.end()));
                }
            }
        }
    }
}

/// Where a text opened at `start` with `"` and not closed on its line ends: at the end of the
/// line, so that one missing quote is one error, except where what ends the line is plainly not
/// part of the text: a rule's condition after its reason (`allow "adult when c.age >= 18`, up to
/// ` when`; a review's `by role`), or the brackets that close the line (`test "name {`,
/// `@ai_disclosure("text)`). Those are read as XOP, so that the declaration around the text is
/// read as meant and raises no errors of its own.
pub(crate) fn unclosed_text_end(source: &str, start: usize) -> usize {
    let rest = source.get(start..).unwrap_or_default();
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let before = source.get(..start).unwrap_or_default();
    let head = before
        .rsplit_once('\n')
        .map_or(before, |(_, l)| l)
        .trim_end();
    let rule = ["deny", "allow", "review"].into_iter().find(|k| {
        head.strip_suffix(k)
            .is_some_and(|rest| !rest.ends_with(|c: char| c.is_alphanumeric() || c == '_'))
    });
    if let Some(rule) = rule {
        // A review's reason is followed by `by role`, a rule's by its condition.
        let words: &[&str] = if rule == "review" {
            &[" by role "]
        } else {
            &[" when ", " unless "]
        };
        if let Some(at) = words.iter().filter_map(|w| line.find(w)).min() {
            return start + line[..at].trim_end().len();
        }
    }
    let trimmed = line.trim_end();
    let body =
        trimmed.trim_end_matches(|c: char| matches!(c, '{' | '}' | ')') || c.is_whitespace());
    if body.len() < trimmed.len() {
        return start + body.len();
    }
    start + line.len()
}

/// The quotes that close a text opened with `open`, other than `"`: `'` closes `'`; `”` (or
/// `“`) closes `“`, `”` and `„`; `’` (or `‘`) closes `‘`, `’` and `‚`.
fn closing_quotes(open: char) -> Option<&'static [char]> {
    match open {
        '\'' => Some(&['\'']),
        '“' | '”' | '„' => Some(&['”', '“']),
        '‘' | '’' | '‚' => Some(&['’', '‘']),
        _ => None,
    }
}

/// The length of the text in quotes other than `"` that `rest` starts with, up to its
/// closing quote on the same line (`None` if `rest` starts with no such quote, or the quote is
/// not closed on its line).
pub(crate) fn other_quoted_len(rest: &str) -> Option<usize> {
    let open = rest.chars().next()?;
    let closers = closing_quotes(open)?;
    let body = &rest[open.len_utf8()..];
    let i = body.find(|c: char| c == '\n' || c == '\r' || closers.contains(&c))?;
    let close = body[i..].chars().next().filter(|c| closers.contains(c))?;
    Some(open.len_utf8() + i + close.len_utf8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Token> {
        lex(src).tokens.into_iter().map(|(_, t, _)| t).collect()
    }

    #[test]
    fn literals() {
        assert_eq!(
            kinds("8..21 12.50 15m 1h30m 12.50 EUR 2026-11-25T10:00:00Z \"a\\\"b\""),
            vec![
                Token::Int,
                Token::DotDot,
                Token::Int,
                Token::Decimal,
                Token::Duration,
                Token::Duration,
                Token::Money,
                Token::Time,
                Token::Text
            ]
        );
    }

    /// Near misses of a time are one token each, up to where the time's form ends; what
    /// follows a valid time is not taken into it.
    #[test]
    fn near_miss_times_are_one_token() {
        for src in [
            "2026-11-25T10:00Z",
            "2026-11-25T10Z",
            "2026-11-25T10:00:00.Z",
            "2026-11-25T10:00:00+0100",
            "2026-11-25T10:00:00+01",
            "2026-11-25T10:00:00",
            "2026-11-25t10:00",
        ] {
            assert_eq!(lex(src).tokens, [(0, Token::Time, src.len())], "{src}");
            assert!(lex(src).errors.is_empty(), "{src}");
        }
        assert_eq!(
            kinds("2026-11-25T10:00:00Z-1h 2026-11-25T10:00:00+01:00..x 2026-11-25 x"),
            [
                Token::Time,
                Token::Minus,
                Token::Duration,
                Token::Time,
                Token::DotDot,
                Token::Ident,
                Token::Int,
                Token::Minus,
                Token::Int,
                Token::Minus,
                Token::Int,
                Token::Ident
            ]
        );
    }

    #[test]
    fn keywords_and_names() {
        assert_eq!(
            kinds("deny denying max_age"),
            vec![Token::Deny, Token::Ident, Token::MaxAge]
        );
    }

    #[test]
    fn comments_are_kept_aside() {
        let lexed = lex("/// doc\n// note\nrecord // tail\n");
        assert_eq!(
            lexed.tokens.iter().map(|t| t.1).collect::<Vec<_>>(),
            vec![Token::DocComment, Token::Record]
        );
        let texts: Vec<_> = lexed.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["// note", "// tail"]);
    }

    /// Text in single quotes is one error and a text token; a block comment is one error and
    /// one error token, closed or not; a lone `'` is an unexpected character.
    #[test]
    fn single_quotes_and_block_comments_are_one_error_each() {
        let src = "'a b' x /* y \"z\n w */ v 'u\n/* open";
        let lexed = lex(src);
        let kinds: Vec<_> = lexed.errors.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                LexErrorKind::SingleQuoted,
                LexErrorKind::BlockComment { closed: true },
                LexErrorKind::UnexpectedChar('\''),
                LexErrorKind::BlockComment { closed: false },
            ]
        );
        let spans: Vec<_> = lexed.errors.iter().map(|e| &src[e.span.range()]).collect();
        assert_eq!(spans, ["'a b'", "/* y \"z\n w */", "'", "/* open"]);
        assert_eq!(
            kinds_of(&lexed),
            [
                Token::Text,
                Token::Ident,
                Token::Error,
                Token::Ident,
                Token::Error,
                Token::Ident,
                Token::Error
            ]
        );
    }

    fn kinds_of(lexed: &Lexed) -> Vec<Token> {
        lexed.tokens.iter().map(|t| t.1).collect()
    }

    #[test]
    fn errors_do_not_stop_lexing() {
        let lexed = lex("a $ b \"open\nc");
        assert_eq!(lexed.errors.len(), 2);
        assert_eq!(lexed.errors[0].kind, LexErrorKind::UnexpectedChar('$'));
        assert_eq!(lexed.errors[1].kind, LexErrorKind::UnterminatedText);
        assert_eq!(
            kinds("a $ b \"open\nc"),
            vec![
                Token::Ident,
                Token::Error,
                Token::Ident,
                Token::Error,
                Token::Ident
            ]
        );
    }
}
