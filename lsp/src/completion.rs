//! Completion: record fields after `.`, enum values after an enum's name, modules and items
//! on a `use` line, annotations after `@`, risk classes after `risk`, roles after `by`,
//! purposes after `purpose`; elsewhere keywords, local names, every name in scope (roles,
//! purposes and channels included) and enum values.
//!
//! The context is read from the text before the cursor rather than from the tree: while a
//! name is being typed the rule around it usually does not parse. Right after a `.`, the
//! locals of an item that does not parse are those it binds once a name follows the dot
//! ([`ide::locals_at_with`]).

use std::sync::Arc;

use xop_compiler::check::RISK_CLASSES;
use xop_compiler::db::SourceFile;
use xop_compiler::ide;
use xop_compiler::lexer::{Token, lex};
use xop_compiler::lower;
use xop_compiler::resolve::{self, BUILTIN_TYPES, DefKind, Lookup, Signature, file_scope};
use xop_compiler::types::{Ty, compatible};

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

/// A name written after the cursor to complete as if the name being typed were there.
const PLACEHOLDER: &str = "xop_completion_placeholder";

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
    if let Some(ctx) = use_context(&text, line_start + word_start, offset) {
        use_line(snap, &ctx, &mut out);
        return out;
    }
    if let Some(receiver) = before.strip_suffix('.') {
        members(
            snap,
            file,
            line_start + receiver.len(),
            offset,
            receiver,
            &mut out,
        );
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

/// Completions after `receiver.` (the text before the dot, which ends at byte `dot`): an
/// enum's values, or the fields of the receiver's type and the functions that take it as
/// their first argument (method form: `sim_swap(c).swapped_within(24h)`). The receiver may be
/// any expression: a local, a field chain, a call's result, a parenthesised expression.
fn members(
    snap: &Snapshot,
    file: SourceFile,
    dot: usize,
    offset: usize,
    receiver: &str,
    out: &mut Vec<Completion>,
) {
    let db = &snap.db;
    let scope = file_scope(db, snap.project, file);
    let chain = trailing_chain(receiver);
    if chain.len() == 1 {
        let local = ide::locals_at(db, snap.project, file, offset)
            .into_iter()
            .any(|l| &*l.name == chain[0]);
        if !local
            && let Lookup::Found(e) = scope.lookup(db, chain[0])
            && e.def.kind == DefKind::Enum
        {
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
    }
    // The receiver ends before the dot, blanks aside.
    let end = receiver.trim_end().len() + (dot - receiver.len());
    // Right after the dot, the item does not parse: it does once a name follows the dot, and,
    // when a call is left open (`any(xs, k => k.`), once the brackets are closed too.
    let text = snap.text(file);
    let line = &text[lines::line_start(&text, offset)..offset];
    let closed = format!("{PLACEHOLDER}{}", closers(line));
    let inserts = [PLACEHOLDER, closed.as_str()];
    let ty = ide::receiver_type_at(db, snap.project, file, end, offset, &inserts)
        .filter(|t| !matches!(t, Ty::Unknown))
        // A record value bound by a test's `let` has a record type only where one is expected:
        // a name chain falls back on the locals' own types.
        .or_else(|| chain_type(snap, file, offset, &chain, &inserts));
    let Some(ty) = ty else {
        return;
    };
    let from = out.len();
    for (name, t) in ide::fields_of(db, snap.project, &ty) {
        out.push(Completion {
            label: name.to_string(),
            kind: Kind::Field,
            detail: Some(t.to_string()),
        });
    }
    methods(snap, file, &ty, out);
    // The present type's fields and methods are offered before the value is known to be
    // present (the usual order of writing is the access, then its guard), each saying that
    // the checker wants the guard.
    if matches!(ty, Ty::Optional(_)) {
        for c in &mut out[from..] {
            let detail = c.detail.take().unwrap_or_default();
            c.detail = Some(format!("{detail} {MAY_BE_ABSENT}"));
        }
    }
}

/// Appended to the detail of a field or method offered on a value that may be absent.
const MAY_BE_ABSENT: &str =
    "(the value may be absent: guard it with `… is present and` first, or E0302)";

/// The type of `a.b.c` from the type of the local `a`, bound at `offset` as the item is or
/// once one of `inserts` is written there.
fn chain_type(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    chain: &[&str],
    inserts: &[&str],
) -> Option<Ty> {
    let db = &snap.db;
    let first = *chain.first()?;
    let head = |locals: Vec<ide::Local>| locals.into_iter().find(|l| &*l.name == first);
    let mut ty = head(ide::locals_at(db, snap.project, file, offset))
        .or_else(|| {
            inserts.iter().find_map(|insert| {
                head(ide::locals_at_with(db, snap.project, file, offset, insert))
            })
        })?
        .ty;
    for seg in chain.get(1..)? {
        let fields = ide::fields_of(db, snap.project, &ty);
        ty = fields.into_iter().find(|(n, _)| &**n == *seg)?.1;
    }
    Some(ty)
}

/// The functions, intrinsics and signals in scope whose first parameter takes a `ty` (a `T?`
/// counts as its present `T`: a method is offered before the value is known to be present),
/// and `any`, `all` and `count` on a collection.
fn methods(snap: &Snapshot, file: SourceFile, ty: &Ty, out: &mut Vec<Completion>) {
    let db = &snap.db;
    let scope = file_scope(db, snap.project, file);
    let present = ty.present();
    for name in scope.visible_names(db) {
        let Lookup::Found(e) = scope.lookup(db, &name) else {
            continue;
        };
        let def = &e.def;
        match def.kind {
            DefKind::Fn | DefKind::Signal => {}
            DefKind::Intrinsic if lower::callable_intrinsic(&def.qualified(db)) => {}
            _ => continue,
        }
        if let Signature::Callable { params, .. } =
            resolve::signature(db, snap.project, def.file, def.index)
            && let Some(first) = params.first()
            && !matches!(first.ty, Ty::Unknown)
            && compatible(db, snap.project, present, &first.ty)
            // A record value's fields are checked where it is written: an open record is no
            // record type.
            && !matches!((present, first.ty.present()), (Ty::Open(_), Ty::Record(_)))
        {
            out.push(Completion {
                label: name.to_string(),
                kind: Kind::Def(def.kind),
                detail: Some(def.qualified(db)),
            });
        }
    }
    if matches!(present, Ty::List(_) | Ty::Set(_)) {
        for op in xop_compiler::types::COLLECTION_OPS {
            if matches!(scope.lookup(db, op), Lookup::Missing) {
                out.push(Completion {
                    label: (*op).to_string(),
                    kind: Kind::Def(DefKind::Intrinsic),
                    detail: Some(format!("{op}(collection, x => condition)")),
                });
            }
        }
    }
}

/// The brackets `line` leaves open, closed: `)` for `any(xs, k => k.`.
fn closers(line: &str) -> String {
    let mut open = Vec::new();
    let mut in_text = false;
    let mut escaped = false;
    for c in line.chars() {
        if in_text {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_text = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_text = true,
            '(' => open.push(')'),
            '[' => open.push(']'),
            ')' | ']' if open.last() == Some(&c) => {
                open.pop();
            }
            _ => {}
        }
    }
    open.iter().rev().collect()
}

/// Where the cursor is in a `use`: what is typed of it before the name being typed, and in
/// a group (`use m.{a, b}`) the names the group already lists.
#[derive(Debug, Default, PartialEq, Eq)]
struct UseContext {
    /// The path typed after `use`, blanks and line breaks removed (`std.consent.{Consent,`).
    typed: String,
    /// The names listed in the group, but the one being typed.
    listed: Vec<String>,
}

/// The [`UseContext`] of a cursor at `offset`, after the name typed from `word_start`: on a
/// line that starts with `use`, or inside the braces of a `use` group that spans lines.
fn use_context(text: &str, word_start: usize, offset: usize) -> Option<UseContext> {
    let line_start = lines::line_start(text, word_start);
    let line = &text[line_start..word_start];
    // In a group, the names and commas before the cursor, across lines.
    let group = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ',' || c.is_whitespace())
    };
    let (start, brace) = if line.trim_start().starts_with("use ") {
        (line_start, line.rfind('{').map(|i| line_start + i))
    } else {
        let brace = text[..word_start].rfind('{')?;
        let use_start = lines::line_start(text, brace);
        if !text[use_start..].trim_start().starts_with("use ")
            || !group(&text[brace + 1..word_start])
        {
            return None;
        }
        (use_start, Some(brace))
    };
    let written = &text[start..word_start];
    let typed: String = written
        .trim_start()
        .trim_start_matches("use")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut listed = Vec::new();
    if let Some(brace) = brace {
        let rest = &text[offset..];
        let after = rest.find('}').map_or("", |end| &rest[..end]);
        let after = if group(after) { after } else { "" };
        let names = text[brace + 1..word_start]
            .split(',')
            .chain(after.split(','));
        listed.extend(
            names
                .map(str::trim)
                .filter(|n| !n.is_empty() && group(n))
                .map(String::from),
        );
        // The name under the cursor, after it, is the one being typed.
        let typing = after.split(',').next().unwrap_or("").trim();
        if !typing.is_empty()
            && text[..offset].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        {
            listed.retain(|n| n != typing);
        }
    }
    Some(UseContext { typed, listed })
}

/// Completions in a `use` after what `ctx` says is typed (`std.`, `std.consent.`, nothing):
/// the next segment of the modules under it and, after a whole module, its items (in a group,
/// those it does not list yet).
fn use_line(snap: &Snapshot, ctx: &UseContext, out: &mut Vec<Completion>) {
    let db = &snap.db;
    let typed = ctx.typed.as_str();
    let in_group = typed.contains('{');
    let prefix = typed.trim_start_matches('{');
    let prefix = prefix.rsplit_once('{').map_or(prefix, |(m, _)| m);
    let module = prefix.trim_end_matches('.').trim_end_matches(',').trim();
    let modules = &resolve::module_index(db, snap.project).by_name;
    let mut seen: Vec<Arc<str>> = Vec::new();
    for name in modules.keys().filter(|_| !in_group) {
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
            if ctx.listed.iter().any(|l| **l == **name) {
                continue;
            }
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
        // The fields, then the functions that take a `Customer` first (method form).
        assert_eq!(
            names,
            vec!["id", "segment", "messages_7d", "consents", "consent"]
        );
        assert!(ls[..4].iter().all(|(_, k)| *k == Kind::Field));
    }

    #[test]
    fn fields_after_a_dot_in_a_function_and_a_lambda() {
        // The fields only: the methods are another test's.
        let fields = |ls: Vec<(String, Kind)>| -> Vec<String> {
            ls.into_iter()
                .filter(|(_, k)| *k == Kind::Field)
                .map(|(l, _)| l)
                .collect()
        };
        let names = |text: &str, needle: &str, plus: usize| -> Vec<String> {
            fields(labels(text, at(text, needle, 0, plus)))
        };
        let customer = vec!["id", "segment", "messages_7d", "consents"];
        for body in ["c.", "c. > 3", "\n  c.\n", "c.messages_7d > 3 and c."] {
            let text =
                format!("{CONTACT}fn busy(c: Customer): Bool = {body}\nfn other(): Int = 1\n");
            let dot = text.rfind("c.").expect("dot") + 2;
            assert_eq!(fields(labels(&text, dot)), customer, "after {body:?}");
        }
        // A lambda's parameter, in a policy and in a function.
        let consent = vec!["purpose", "channel", "given_at", "withdrawn_at"];
        let text = CONTACT.replace(
            "  allow \"ok\"",
            "  deny \"x\" when any(c.consents, k => k.)\n  allow \"ok\"",
        );
        assert_eq!(names(&text, "k => k.", 7), consent);
        // Before the call is closed, with a name typed or not.
        let text = CONTACT.replace(
            "  allow \"ok\"",
            "  deny \"x\" when any(c.consents, k => [k.\n  allow \"ok\"",
        );
        assert_eq!(names(&text, "k => [k.", 8), consent);
        let text = text.replace("[k.", "(\"(\" == \"\" or k.ch");
        assert_eq!(names(&text, "k.ch", 4), consent);
        let text = format!("{CONTACT}fn agreed(c: Customer): Bool = c.consents.any(k => k.)\n");
        assert_eq!(names(&text, "k => k.", 7), consent);
    }

    /// Right after the dot, on any receiver: a call's result (a signal's, a function's), a
    /// parenthesised expression, and a local in a decision's `propose` and a test's `expect`
    /// (whose items parse only with a name after the dot, not with the brackets closed).
    #[test]
    fn fields_and_methods_after_a_dot_on_any_receiver() {
        let base = CONTACT.replace(
            "use std.channel.*\n",
            "use std.channel.*\nuse std.camara.{SimSwap, swapped_within}\n",
        ) + "signal sim_swap(c: Customer): SimSwap from camara.sim_swap(\"+33\", 24h) max_age 5m\n\
            fn me(c: Customer): Customer = c\n\
            fn rich(c: Customer): Bool = c.messages_7d > 3\n\
            decision d(c: Customer) at now {\n  propose send_offer(to: c, channel: sms)\n}\n\
            test \"t\" {\n  let cust = { messages_7d: 1, consents: [], .. }\n  \
            expect contact(send_offer(to: cust, channel: sms)) == allow(\"ok\")\n}\n";
        let customer = ["id", "segment", "messages_7d", "consents"];
        let rule =
            |r: &str| base.replace("  allow \"ok\"\n}", &format!("  {r}\n  allow \"ok\"\n}}"));
        let cases = [
            (
                rule("deny \"s\" when sim_swap(c)."),
                "sim_swap(c).",
                vec![
                    "swapped",
                    "latest_swap",
                    "monitored_period",
                    "swapped_within",
                ],
            ),
            (
                rule("deny \"s\" when sim_swap(c) is present and sim_swap(c)."),
                "and sim_swap(c).",
                vec!["swapped", "swapped_within"],
            ),
            (rule("deny \"s\" when me(c)."), "me(c).", customer.to_vec()),
            (rule("deny \"s\" when (c)."), "(c).", customer.to_vec()),
            (
                rule("deny \"s\" when me(c).segment == Segment."),
                "Segment.",
                vec!["vip", "standard"],
            ),
            (
                base.replace("(to: c, channel: sms)", "(to: c., channel: sms)"),
                "to: c.",
                customer.to_vec(),
            ),
            (
                base.replace("(to: cust, channel", "(to: cust., channel"),
                "to: cust.",
                vec!["messages_7d", "consents"],
            ),
        ];
        for (text, needle, want) in cases {
            let text = text.replace(
                "use shop.customer.{Customer, marketing}",
                "use shop.customer.{Customer, marketing, Segment}",
            );
            let got: Vec<String> = labels(&text, at(&text, needle, 0, needle.len()))
                .into_iter()
                .map(|(l, _)| l)
                .collect();
            for w in &want {
                assert!(
                    got.contains(&(*w).to_string()),
                    "{needle:?}: {w} not in {got:?}"
                );
            }
            assert!(!got.iter().any(|l| l == "deny"), "{needle:?}: {got:?}");
        }
        // Methods: the functions whose first parameter takes the receiver, and no other.
        let text = rule("deny \"s\" when me(c).");
        let got = labels(&text, at(&text, "me(c).", 0, 6));
        assert!(has(&got, "rich", Kind::Def(DefKind::Fn)), "{got:?}");
        assert!(has(&got, "me", Kind::Def(DefKind::Fn)), "{got:?}");
        assert!(!got.iter().any(|(l, _)| l == "swapped_within"), "{got:?}");
        let text = rule("deny \"s\" when sim_swap(c).");
        let got = labels(&text, at(&text, "sim_swap(c).", 0, 12));
        assert!(
            has(&got, "swapped_within", Kind::Def(DefKind::Intrinsic)),
            "{got:?}"
        );
        // On a value that may be absent, each offer says the guard is wanted; once narrowed,
        // none does.
        let details = |text: &str, needle: &str| -> Vec<(String, String)> {
            let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", text)]);
            let file = snap.file("contact.xop").expect("file");
            complete(&snap, file, at(text, needle, 0, needle.len()))
                .into_iter()
                .map(|c| (c.label, c.detail.unwrap_or_default()))
                .collect()
        };
        let absent = details(&text, "sim_swap(c).");
        for want in ["swapped", "swapped_within"] {
            assert!(
                absent
                    .iter()
                    .any(|(l, d)| l == want && d.ends_with(MAY_BE_ABSENT)),
                "{want}: {absent:?}"
            );
        }
        let text = rule("deny \"s\" when sim_swap(c) is present and sim_swap(c).");
        let present = details(&text, "and sim_swap(c).");
        assert!(
            present.iter().any(|(l, _)| l == "swapped_within")
                && !present.iter().any(|(_, d)| d.contains(MAY_BE_ABSENT)),
            "{present:?}"
        );
        assert!(!got.iter().any(|(l, _)| l == "rich"), "{got:?}");
        // On a list, the collection operations.
        let text = rule("deny \"s\" when c.consents.");
        let got = labels(&text, at(&text, "c.consents.", 0, 11));
        assert!(has(&got, "any", Kind::Def(DefKind::Intrinsic)), "{got:?}");
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
    fn items_in_a_use_group_across_lines_and_not_twice() {
        let names = |text: &str, offset: usize| -> Vec<String> {
            labels(text, offset).into_iter().map(|(l, _)| l).collect()
        };
        let channels = ["email", "push", "reaches_phone", "sms", "voice"];
        for typed in [
            "use std.channel.{\n  ",
            "use std.channel.{\n  em",
            "use std.channel.{\r\n  ",
            "use std.channel.{ sms,\n  voice,\n  ",
        ] {
            let text = format!("{CONTACT}{typed}");
            let got = names(&text, text.len());
            assert!(!got.iter().any(|l| l == "deny"), "{typed:?}: {got:?}");
            for ch in channels {
                let listed = typed.contains(&format!("{ch},"));
                assert_eq!(
                    got.contains(&ch.to_string()),
                    !listed,
                    "{ch} after {typed:?}: {got:?}"
                );
            }
        }
        // Names listed after the cursor too, on one line; the name being typed stays.
        let text = format!("{CONTACT}use std.consent.{{Consent, }}\n");
        let got = names(&text, at(&text, "{Consent, ", 0, 10));
        assert!(got.contains(&"consent".to_string()), "{got:?}");
        assert!(!got.contains(&"Consent".to_string()), "{got:?}");
        let text = format!("{CONTACT}use std.consent.{{consent, Cons}}\n");
        let got = names(&text, at(&text, "Cons}", 0, 4));
        assert!(got.contains(&"Consent".to_string()), "{got:?}");
        assert!(!got.contains(&"consent".to_string()), "{got:?}");
        // After the group is closed, a `{` of something else is no `use`.
        let text = format!("{CONTACT}use std.channel.{{sms}}\nrecord R {{\n  ");
        assert!(names(&text, text.len()).contains(&"deny".to_string()));
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
