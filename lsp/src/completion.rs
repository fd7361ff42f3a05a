//! Completion: record fields after `.`, enum values after an enum's name, modules and items
//! on a `use` line, annotations after `@`, risk classes after `risk`, roles after `by`,
//! purposes after `purpose`; elsewhere keywords, local names, every name in scope (roles,
//! purposes and channels included) and enum values.
//!
//! The context is read from the text before the cursor rather than from the tree: while a
//! name is being typed the rule around it usually does not parse.

use std::sync::Arc;

use xop_compiler::check::RISK_CLASSES;
use xop_compiler::db::SourceFile;
use xop_compiler::ide;
use xop_compiler::lexer::{Token, lex};
use xop_compiler::resolve::{self, BUILTIN_TYPES, DefKind, Lookup, Signature, file_scope};

use crate::lines;
use crate::navigation::KEYWORDS;
use crate::state::Snapshot;

/// What kind of thing a completion is (the server maps it to the protocol's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A keyword.
    Keyword,
    /// A module.
    Module,
    /// A declaration.
    Def(DefKind),
    /// A value of an enum.
    EnumValue,
    /// A record field.
    Field,
    /// A local name.
    Local,
    /// A built-in type.
    BuiltinType,
    /// An annotation.
    Annotation,
    /// A risk class.
    RiskClass,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// What is inserted and shown.
    pub label: String,
    /// What it is.
    pub kind: Kind,
    /// A type or a qualified name.
    pub detail: Option<String>,
}

const ANNOTATIONS: &[&str] = &["personal", "reaches_phone", "annex_iii", "ai_disclosure"];

/// The completions at byte `offset` of `file`.
pub fn complete(snap: &Snapshot, file: SourceFile, offset: usize) -> Vec<Completion> {
    let text = snap.text(file);
    let offset = floor_char(&text, offset.min(text.len()));
    let line_start = lines::line_start(&text, offset);
    let line = &text[line_start..offset];
    if in_comment_or_literal(&text, line_start, offset) {
        return Vec::new();
    }
    // The part of a name already typed is left for the editor to filter on.
    let word_start = line
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_')
        .last()
        .map_or(line.len(), |(i, _)| i);
    let before = &line[..word_start];
    let mut out = Vec::new();
    if line.trim_start().starts_with("use ") {
        use_line(
            snap,
            before.trim_start().trim_start_matches("use").trim(),
            &mut out,
        );
        return out;
    }
    if let Some(receiver) = before.strip_suffix('.') {
        let chain = trailing_chain(receiver);
        if !chain.is_empty() {
            members(snap, file, offset, &chain, &mut out);
        }
        return out;
    }
    if before.ends_with('@') {
        out.extend(ANNOTATIONS.iter().map(|a| Completion {
            label: (*a).to_string(),
            kind: Kind::Annotation,
            detail: None,
        }));
        return out;
    }
    let last_word = before.split_whitespace().next_back().unwrap_or("");
    match last_word {
        "risk" => {
            out.extend(RISK_CLASSES.iter().map(|r| Completion {
                label: (*r).to_string(),
                kind: Kind::RiskClass,
                detail: Some("EU AI Act risk class".into()),
            }));
            return out;
        }
        "by" | "role" => {
            scope_names(snap, file, |k| k == DefKind::Role, &mut out);
            if last_word == "by" {
                out.push(keyword("role"));
            }
            return out;
        }
        "purpose" => {
            scope_names(snap, file, |k| k == DefKind::Purpose, &mut out);
            return out;
        }
        _ => {}
    }
    out.extend(KEYWORDS.iter().map(|k| keyword(k)));
    out.extend(BUILTIN_TYPES.iter().map(|t| Completion {
        label: (*t).to_string(),
        kind: Kind::BuiltinType,
        detail: Some("built-in type".into()),
    }));
    for l in ide::locals_at(&snap.db, snap.project, file, offset) {
        out.push(Completion {
            label: l.name.to_string(),
            kind: Kind::Local,
            detail: Some(l.ty.to_string()),
        });
    }
    scope_names(snap, file, |_| true, &mut out);
    let scope = file_scope(&snap.db, snap.project, file);
    for (name, enums) in &scope.variants {
        for e in enums {
            out.push(Completion {
                label: name.to_string(),
                kind: Kind::EnumValue,
                detail: Some(format!("{}.{name}", e.name)),
            });
        }
    }
    out.dedup();
    out
}

/// Whether `offset` is inside a comment or a text, number, duration, money or time literal,
/// where no name is written. No token spans lines, so the cursor's line is lexed alone.
fn in_comment_or_literal(text: &str, line_start: usize, offset: usize) -> bool {
    let line_end = text[offset..]
        .find(['\n', '\r'])
        .map_or(text.len(), |i| offset + i);
    let line = &text[line_start..line_end];
    let at = offset - line_start;
    let lexed = lex(line);
    // A comment runs to the end of its line, and so does an unclosed `"`.
    let in_comment = |start: usize, end: usize| start < at && at <= end;
    if lexed
        .comments
        .iter()
        .any(|c| in_comment(c.span.start(), c.span.end()))
    {
        return true;
    }
    lexed.tokens.iter().any(|&(start, tok, end)| match tok {
        Token::Comment | Token::DocComment => in_comment(start, end),
        Token::Error => line[start..].starts_with('"') && start < at,
        Token::Text => start < at && at < end,
        Token::Int | Token::Decimal | Token::Money | Token::Duration | Token::Time => {
            start < at && at <= end
        }
        _ => false,
    })
}

fn keyword(k: &str) -> Completion {
    Completion {
        label: k.to_string(),
        kind: Kind::Keyword,
        detail: None,
    }
}

/// The names of `file`'s scope whose kind passes `keep`: own items, imports, glob imports.
fn scope_names(
    snap: &Snapshot,
    file: SourceFile,
    keep: impl Fn(DefKind) -> bool,
    out: &mut Vec<Completion>,
) {
    let db = &snap.db;
    let scope = file_scope(db, snap.project, file);
    for name in scope.visible_names(db) {
        if let Lookup::Found(e) = scope.lookup(db, &name)
            && keep(e.def.kind)
        {
            out.push(Completion {
                label: name.to_string(),
                kind: Kind::Def(e.def.kind),
                detail: Some(e.def.qualified(db)),
            });
        }
    }
}

/// `a.b.c` ending `receiver` (the text before a `.`), as its names; empty if it is not one.
fn trailing_chain(receiver: &str) -> Vec<&str> {
    let start = receiver
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .last()
        .map_or(receiver.len(), |(i, _)| i);
    let chain: Vec<&str> = receiver[start..].split('.').collect();
    if chain.iter().any(|s| s.is_empty()) {
        return Vec::new();
    }
    chain
}

/// Completions after `chain.`: an enum's values, or the fields of the chain's type.
fn members(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    chain: &[&str],
    out: &mut Vec<Completion>,
) {
    let db = &snap.db;
    let scope = file_scope(db, snap.project, file);
    let locals = ide::locals_at(db, snap.project, file, offset);
    let mut ty = match locals.iter().find(|l| &*l.name == chain[0]) {
        Some(l) => l.ty.clone(),
        None => match scope.lookup(db, chain[0]) {
            Lookup::Found(e) if e.def.kind == DefKind::Enum && chain.len() == 1 => {
                if let Signature::Enum(vs) =
                    resolve::signature(db, snap.project, e.def.file, e.def.index)
                {
                    out.extend(vs.iter().map(|v| Completion {
                        label: v.to_string(),
                        kind: Kind::EnumValue,
                        detail: Some(format!("{}.{v}", e.def.name)),
                    }));
                }
                return;
            }
            _ => return,
        },
    };
    for seg in &chain[1..] {
        let fields = ide::fields_of(db, snap.project, &ty);
        match fields.into_iter().find(|(n, _)| &**n == *seg) {
            Some((_, t)) => ty = t,
            None => return,
        }
    }
    for (name, t) in ide::fields_of(db, snap.project, &ty) {
        out.push(Completion {
            label: name.to_string(),
            kind: Kind::Field,
            detail: Some(t.to_string()),
        });
    }
}

/// Completions on a `use` line after `typed` (`std.`, `std.consent.`, or nothing).
fn use_line(snap: &Snapshot, typed: &str, out: &mut Vec<Completion>) {
    let db = &snap.db;
    let prefix = typed.trim_start_matches('{');
    let prefix = prefix.rsplit_once('{').map_or(prefix, |(m, _)| m);
    let module = prefix.trim_end_matches('.').trim_end_matches(',').trim();
    let modules = &resolve::module_index(db, snap.project).by_name;
    let mut seen: Vec<Arc<str>> = Vec::new();
    for name in modules.keys() {
        // The next segment of every module under what is typed.
        let rest = if module.is_empty() {
            Some(name.as_str())
        } else {
            name.strip_prefix(module).and_then(|r| r.strip_prefix('.'))
        };
        if let Some(rest) = rest {
            let seg: Arc<str> = Arc::from(rest.split('.').next().unwrap_or(rest));
            if !seen.contains(&seg) {
                out.push(Completion {
                    label: seg.to_string(),
                    kind: Kind::Module,
                    detail: Some(if module.is_empty() {
                        seg.to_string()
                    } else {
                        format!("{module}.{seg}")
                    }),
                });
                seen.push(seg);
            }
        }
    }
    if let Some(f) = modules.get(module) {
        for (name, def) in &resolve::item_table(db, *f).by_name {
            out.push(Completion {
                label: name.to_string(),
                kind: Kind::Def(def.kind),
                detail: Some(def.qualified(db)),
            });
        }
    }
}

fn floor_char(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, CUSTOMER, at, snapshot};

    fn labels(contact: &str, offset: usize) -> Vec<(String, Kind)> {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", contact)]);
        let file = snap.file("contact.xop").expect("file");
        complete(&snap, file, offset)
            .into_iter()
            .map(|c| (c.label, c.kind))
            .collect()
    }

    fn has(ls: &[(String, Kind)], label: &str, kind: Kind) -> bool {
        ls.iter().any(|(l, k)| l == label && *k == kind)
    }

    #[test]
    fn fields_after_a_dot_even_when_the_rule_does_not_parse() {
        let text = CONTACT.replace("  allow \"ok\"", "  deny \"x\" when c.\n  allow \"ok\"");
        let ls = labels(&text, at(&text, "when c.", 0, 7));
        let names: Vec<&str> = ls.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(names, vec!["id", "segment", "messages_7d", "consents"]);
        assert!(ls.iter().all(|(_, k)| *k == Kind::Field));
    }

    #[test]
    fn nested_fields_and_enum_values() {
        let text = CONTACT.replace("c.messages_7d >= 3", "Segment.vip == c.segment");
        let text = text.replace(
            "use shop.customer.{Customer, marketing}",
            "use shop.customer.{Customer, marketing, Segment}",
        );
        let ls = labels(&text, at(&text, "Segment.vip", 0, 8));
        assert!(
            has(&ls, "vip", Kind::EnumValue) && has(&ls, "standard", Kind::EnumValue),
            "{ls:?}"
        );
    }

    #[test]
    fn names_in_scope_keywords_and_locals() {
        let ls = labels(CONTACT, at(CONTACT, "c.messages_7d", 0, 0));
        assert!(has(&ls, "deny", Kind::Keyword));
        assert!(has(&ls, "c", Kind::Local) && has(&ls, "ch", Kind::Local));
        assert!(has(&ls, "marketing", Kind::Def(DefKind::Purpose)));
        assert!(has(&ls, "sms", Kind::Def(DefKind::Channel)));
        assert!(has(&ls, "consent", Kind::Def(DefKind::Intrinsic)));
        assert!(has(&ls, "Int", Kind::BuiltinType));
    }

    #[test]
    fn after_risk_by_at_and_use() {
        let text = CONTACT.replace("risk minimal", "risk ");
        let ls = labels(&text, at(&text, "risk ", 0, 5));
        let names: Vec<&str> = ls.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(names, RISK_CLASSES.to_vec());
        let text = format!("{CONTACT}use std.");
        let ls = labels(&text, text.len());
        assert!(
            has(&ls, "consent", Kind::Module) && has(&ls, "time", Kind::Module),
            "{ls:?}"
        );
        let text = format!("{CONTACT}use std.time.");
        let ls = labels(&text, text.len());
        assert!(
            has(&ls, "local_hour", Kind::Def(DefKind::Intrinsic)),
            "{ls:?}"
        );
        let text = format!("{CONTACT}@");
        let ls = labels(&text, text.len());
        assert!(has(&ls, "personal", Kind::Annotation));
    }

    #[test]
    fn nothing_inside_comments_and_literals() {
        let text = CONTACT.replace(
            "  allow \"ok\"",
            "  // a comment\n  /// doc\n  deny \"quiet\" when c.messages_7d > 1_000 and ch == sms\n  deny \"open",
        ) + "test t at 2026-11-25T10:00:00Z within 24h\n";
        for (needle, plus) in [
            ("// a comment", 4),
            ("// a comment", 12),
            ("/// doc", 5),
            ("\"quiet\"", 1),
            ("\"quiet\"", 6),
            ("1_000", 1),
            ("1_000", 5),
            ("\"open", 3),
            ("2026-11", 5),
            ("24h", 3),
        ] {
            let ls = labels(&text, at(&text, needle, 0, plus));
            assert!(ls.is_empty(), "{needle:?}+{plus}: {ls:?}");
        }
        // Right after a closing quote, before a comment, and on a name: completions.
        for (needle, plus) in [("\"quiet\" ", 8), ("// a comment", 0), ("ch == sms", 9)] {
            let ls = labels(&text, at(&text, needle, 0, plus));
            assert!(has(&ls, "deny", Kind::Keyword), "{needle:?}+{plus}: {ls:?}");
        }
    }

    #[test]
    fn roles_after_by_role() {
        let text = CONTACT
            .replace(
                "use std.channel.*",
                "use std.channel.*\nuse shop.customer.fraud_desk",
            )
            .replace("  allow \"ok\"", "  review \"r\" by role ");
        let ls = labels(&text, text.find("by role ").expect("by role") + 8);
        assert_eq!(
            ls,
            vec![("fraud_desk".to_string(), Kind::Def(DefKind::Role))]
        );
    }
}
