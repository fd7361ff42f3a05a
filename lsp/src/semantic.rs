//! Semantic tokens: the lexer's tokens (keywords, literals, comments), and each name
//! classified by what the compiler resolved it to.

use std::collections::{HashMap, HashSet};

use self::lexemes::lex_tokens;
use xop_compiler::db::{SourceFile, parse_file};
use xop_compiler::ide::{self, Target};
use xop_compiler::resolve::DefKind;
use xop_compiler::span::Span;

use crate::state::Snapshot;

/// Token types, in the order of the legend the server announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenType {
    /// `policy`, `deny`, `when`, …
    Keyword,
    /// A module name.
    Namespace,
    /// A record.
    Struct,
    /// An enum.
    Enum,
    /// An enum value, a role, a channel, a purpose.
    EnumMember,
    /// A function, intrinsic, signal or action.
    Function,
    /// A local name.
    Variable,
    /// A parameter of a declaration.
    Parameter,
    /// A record field.
    Property,
    /// A text literal.
    String,
    /// A number, duration, amount or time.
    Number,
    /// A comment.
    Comment,
    /// An annotation.
    Decorator,
    /// A policy, decision, journey, agent or event.
    Class,
    /// A built-in type.
    Type,
}

/// Every token type, in legend order.
pub const TOKEN_TYPES: &[TokenType] = &[
    TokenType::Keyword,
    TokenType::Namespace,
    TokenType::Struct,
    TokenType::Enum,
    TokenType::EnumMember,
    TokenType::Function,
    TokenType::Variable,
    TokenType::Parameter,
    TokenType::Property,
    TokenType::String,
    TokenType::Number,
    TokenType::Comment,
    TokenType::Decorator,
    TokenType::Class,
    TokenType::Type,
];

/// Modifier bit: the name is declared here.
pub const MOD_DECLARATION: u32 = 1;
/// Modifier bit: it comes from the stdlib.
pub const MOD_DEFAULT_LIBRARY: u32 = 2;

/// One token: where, what, modifier bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// Where.
    pub span: Span,
    /// What.
    pub ty: TokenType,
    /// [`MOD_DECLARATION`] and [`MOD_DEFAULT_LIBRARY`] bits.
    pub modifiers: u32,
}

/// The tokens of `file`, in order, not overlapping.
pub fn tokens(snap: &Snapshot, file: SourceFile) -> Vec<Token> {
    let db = &snap.db;
    let text = snap.text(file);
    let mut names: HashMap<usize, (Span, Target)> = HashMap::new();
    let mut collect = |notes: &ide::Notes| {
        for r in &notes.refs {
            names
                .entry(r.span.start())
                .or_insert((r.span, r.target.clone()));
        }
    };
    collect(ide::file_notes(db, snap.project, file));
    for i in 0..parse_file(db, file).ast.items.len() {
        collect(ide::item_notes(
            db,
            snap.project,
            file,
            u32::try_from(i).unwrap_or(u32::MAX),
        ));
    }
    let params = param_names(&parse_file(db, file).ast);
    let sites = param_sites(snap, file);
    // A name the compiler resolved, else the name of a parameter where a binding or a named
    // argument writes it (or its declaration, for an action's or an event's, which binds no
    // local).
    let name = |span: Span| match names.get(&span.start()) {
        Some((s, target)) if *s == span => Some(classify(snap, target, span, &params)),
        _ => sites.get(&span).map(|m| (TokenType::Parameter, *m)),
    };
    let mut out = Vec::new();
    for (span, kind) in lex_tokens(&text) {
        let token = match kind {
            Lexeme::Keyword => Some((TokenType::Keyword, 0)),
            Lexeme::Text => Some((TokenType::String, 0)),
            Lexeme::Number => Some((TokenType::Number, 0)),
            Lexeme::Comment => Some((TokenType::Comment, 0)),
            Lexeme::Annotation => Some((TokenType::Decorator, 0)),
            Lexeme::Name => name(span).or_else(|| {
                text.get(span.range())
                    .filter(|t| xop_compiler::resolve::BUILTIN_TYPES.contains(t))
                    .map(|_| (TokenType::Type, MOD_DEFAULT_LIBRARY))
            }),
            // `channel`, `risk`, `purpose`…: a name where one is written (a field, a
            // parameter, a local), coloured as what it names; a keyword elsewhere
            // (`risk minimal`, `channel sms`), unless it is written where only a name can
            // be (after `.`, before `:`) and resolves to nothing known.
            Lexeme::SoftKeyword => name(span).or_else(|| {
                (!lexemes::name_position(&text, span)).then_some((TokenType::Keyword, 0))
            }),
        };
        if let Some((ty, modifiers)) = token {
            out.push(Token {
                span,
                ty,
                modifiers,
            });
        }
    }
    out
}

/// Where the names of the parameters of the file's declarations (functions, actions, events,
/// signals, decisions, journeys) are written: a local bound there is a parameter, at its
/// declaration and at every use.
fn param_names(ast: &xop_compiler::ast::File) -> HashSet<Span> {
    use xop_compiler::ast::ItemKind;
    ast.items
        .iter()
        .flat_map(|item| match &item.kind {
            ItemKind::Action(x) => &x.params[..],
            ItemKind::Event(x) => &x.params[..],
            ItemKind::Signal(x) => &x.params[..],
            ItemKind::Fn(x) => &x.params[..],
            ItemKind::Decision(x) => &x.params[..],
            ItemKind::Journey(x) => &x.params[..],
            _ => &[],
        })
        .map(|p| p.name.span)
        .collect()
}

/// Where the names of parameters are written in `file` (declarations, bindings, named
/// arguments) with their modifiers, for those whose action, event, function, intrinsic or
/// signal has a parameter of that name.
fn param_sites(snap: &Snapshot, file: SourceFile) -> HashMap<Span, u32> {
    crate::params::file_sites(snap, file)
        .into_iter()
        .filter_map(|site| {
            let declared = crate::params::definitions(snap, &site);
            if declared.is_empty() {
                return None;
            }
            let mut modifiers = 0;
            if site.declaration {
                modifiers |= MOD_DECLARATION;
            }
            if declared.iter().all(|(f, _)| snap.is_stdlib(*f)) {
                modifiers |= MOD_DEFAULT_LIBRARY;
            }
            Some((site.span, modifiers))
        })
        .collect()
}

fn classify(
    snap: &Snapshot,
    target: &Target,
    at: Span,
    params: &HashSet<Span>,
) -> (TokenType, u32) {
    let db = &snap.db;
    let decl = ide::definition(db, target);
    let mut modifiers = 0;
    if let Some((f, s)) = decl {
        if s == at {
            modifiers |= MOD_DECLARATION;
        }
        if snap.is_stdlib(f) {
            modifiers |= MOD_DEFAULT_LIBRARY;
        }
    }
    let ty = match target {
        Target::Def(d) => match d.kind {
            DefKind::Record => TokenType::Struct,
            DefKind::Enum => TokenType::Enum,
            DefKind::Role | DefKind::Channel | DefKind::Purpose => TokenType::EnumMember,
            DefKind::Fn | DefKind::Intrinsic | DefKind::Signal | DefKind::Action => {
                TokenType::Function
            }
            DefKind::Event
            | DefKind::Policy
            | DefKind::Decision
            | DefKind::Journey
            | DefKind::Agent => TokenType::Class,
        },
        Target::Local { span, .. } if params.contains(span) => TokenType::Parameter,
        Target::Local { .. } => TokenType::Variable,
        Target::Field { .. } => TokenType::Property,
        Target::Variant { .. } => TokenType::EnumMember,
        Target::Module(_) => TokenType::Namespace,
    };
    (ty, modifiers)
}

/// What the lexer says a piece of text is, coarsely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lexeme {
    /// A keyword.
    Keyword,
    /// A name.
    Name,
    /// A soft keyword (`channel`, `risk`, …): a keyword, or a name where one is expected.
    SoftKeyword,
    /// A text literal.
    Text,
    /// A number, duration, amount of money or time.
    Number,
    /// A comment (doc comments included).
    Comment,
    /// `@name`.
    Annotation,
}

/// The lexer's view of a text, reduced to what highlighting needs.
mod lexemes {
    use xop_compiler::lexer::{Token, lex};
    use xop_compiler::span::Span;

    use super::Lexeme;

    /// Every token and comment of `text`, in order.
    pub fn lex_tokens(text: &str) -> Vec<(Span, Lexeme)> {
        let lexed = lex(text);
        let mut out: Vec<(Span, Lexeme)> = Vec::new();
        let mut after_at = false;
        for &(start, tok, end) in &lexed.tokens {
            let span = Span::new(start, end);
            let kind = match tok {
                t if t.is_name() && after_at => {
                    // `@personal`: one decorator token from the `@`.
                    if let Some(last) = out.last_mut()
                        && last.1 == Lexeme::Annotation
                    {
                        last.0 = last.0.to(span);
                    }
                    after_at = false;
                    continue;
                }
                Token::Ident => Lexeme::Name,
                t if t.is_name() => Lexeme::SoftKeyword,
                Token::Text => Lexeme::Text,
                Token::Int | Token::Decimal | Token::Money | Token::Duration | Token::Time => {
                    Lexeme::Number
                }
                Token::DocComment | Token::Comment => Lexeme::Comment,
                Token::AtSign => {
                    after_at = true;
                    out.push((span, Lexeme::Annotation));
                    continue;
                }
                Token::Error => continue,
                t if t.describe() == "a keyword or symbol" && is_word(text, span) => {
                    Lexeme::Keyword
                }
                _ => {
                    after_at = false;
                    continue;
                }
            };
            after_at = false;
            out.push((span, kind));
        }
        out.extend(lexed.comments.iter().map(|c| (c.span, Lexeme::Comment)));
        out.sort_by_key(|(s, _)| s.start());
        out
    }

    /// Whether `span` is written where the grammar takes only a name: right after a `.` (a
    /// field, a path's segment) or right before a `:` (a field or a parameter declared, a
    /// binding, a named argument, a field of a record value), blanks aside.
    pub fn name_position(text: &str, span: Span) -> bool {
        let before = text.get(..span.start()).unwrap_or_default().trim_end();
        let after = text.get(span.end()..).unwrap_or_default().trim_start();
        before.ends_with('.') || after.starts_with(':')
    }

    fn is_word(text: &str, span: Span) -> bool {
        text.get(span.range())
            .and_then(|s| s.chars().next())
            .is_some_and(|c| c.is_ascii_alphabetic())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::State;
    use crate::stdlib::StdlibLocation;

    const SRC: &str = "/// Doc.\nmodule a\nuse std.consent.consent\nrecord C { consents: List<std.consent.Consent> }\nfn f(c: C): Bool = consent(c, std.consent.marketing, std.channel.sms)\npolicy p for x(to: c) {\n  deny \"r\" when true\n}\n";

    #[test]
    fn keywords_names_and_comments() {
        let mut st = State::new(StdlibLocation::Scheme);
        st.open("a.xop", SRC, 1);
        let snap = st.snapshot();
        let file = snap.file("a.xop").expect("file");
        let toks = tokens(&snap, file);
        let at = |needle: &str| {
            let off = SRC.find(needle).expect("needle");
            toks.iter()
                .find(|t| t.span.start() == off)
                .map(|t| (t.ty, t.modifiers))
        };
        assert_eq!(at("/// Doc."), Some((TokenType::Comment, 0)));
        assert_eq!(at("policy"), Some((TokenType::Keyword, 0)));
        assert_eq!(at("record"), Some((TokenType::Keyword, 0)));
        assert_eq!(at("C {"), Some((TokenType::Struct, MOD_DECLARATION)));
        assert_eq!(
            at("consent(c"),
            Some((TokenType::Function, MOD_DEFAULT_LIBRARY))
        );
        assert_eq!(at("\"r\""), Some((TokenType::String, 0)));
        assert_eq!(at("Bool"), Some((TokenType::Type, MOD_DEFAULT_LIBRARY)));
        // A function's parameter where it is declared and where it is used.
        assert_eq!(at("c: C"), Some((TokenType::Parameter, MOD_DECLARATION)));
        assert_eq!(at("c, std"), Some((TokenType::Parameter, 0)));
        // Sorted and not overlapping.
        for w in toks.windows(2) {
            assert!(w[0].span.end() <= w[1].span.start(), "{w:?}");
        }
    }

    /// Soft keywords (`channel`, `risk`, `purpose`) are names where a name is written, coloured
    /// as what they name; the names of parameters are parameters where they are declared, in
    /// bindings and in named arguments, whatever the word.
    #[test]
    fn names_are_coloured_by_what_they_name_even_soft_keywords() {
        use crate::testing::{CUSTOMER, snapshot};
        let src = "module shop.soft\n\
            use shop.customer.{Customer, marketing}\n\
            use std.channel.*\n\
            use std.consent.consent\n\
            record Ticket {\n  channel: Channel\n  risk: Int\n  level: Text\n}\n\
            action notify(to: Customer, channel: Channel, t: Ticket) purpose marketing risk minimal\n\
            fn quiet(hour: Int): Bool = hour > 21\n\
            policy p for notify(to: c, channel: ch, t: tk) {\n\
            \x20 deny \"no-consent\" unless consent(c, marketing, ch)\n\
            \x20 deny \"risky\" when tk.risk > 3 or tk.level == \"open\" or tk.channel == sms\n\
            \x20 deny \"old\" when c.consents.any(k => k.purpose == marketing and k.channel == ch)\n\
            \x20 deny \"late\" when quiet(hour: 23)\n\
            \x20 allow \"ok\"\n}\n";
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("soft.xop", src)]);
        let file = snap.file("soft.xop").expect("file");
        let errors: Vec<_> = xop_compiler::db::file_diagnostics(&snap.db, snap.project, file)
            .iter()
            .filter(|d| d.code.starts_with('E'))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let toks = tokens(&snap, file);
        let at = |needle: &str, plus: usize| {
            let off = src.find(needle).expect("needle") + plus;
            toks.iter()
                .find(|t| t.span.start() == off)
                .map(|t| (t.ty, t.modifiers))
        };
        let field = Some((TokenType::Property, MOD_DECLARATION));
        let param = Some((TokenType::Parameter, MOD_DECLARATION));
        let read = Some((TokenType::Property, 0));
        let std_read = Some((TokenType::Property, MOD_DEFAULT_LIBRARY));
        let named = Some((TokenType::Parameter, 0));
        for (needle, plus, expected) in [
            // Fields where they are declared, and where they are read.
            ("channel: Channel\n", 0, field),
            ("risk: Int", 0, field),
            ("level: Text", 0, field),
            ("tk.risk", 3, read),
            ("tk.level", 3, read),
            ("tk.channel", 3, read),
            ("k.purpose", 2, std_read),
            (" k.channel", 3, std_read),
            // An action's parameters where they are declared, and in a policy's bindings.
            ("to: Customer", 0, param),
            ("channel: Channel, t", 0, param),
            ("to: c", 0, named),
            ("channel: ch", 0, named),
            // A named argument.
            ("hour: 23", 0, named),
            // Soft keywords where they are keywords.
            ("purpose marketing risk", 0, Some((TokenType::Keyword, 0))),
            ("risk minimal", 0, Some((TokenType::Keyword, 0))),
            // A module's name in a path is no keyword.
            ("channel.*", 0, None),
        ] {
            assert_eq!(at(needle, plus), expected, "{needle:?}");
        }
    }
}
