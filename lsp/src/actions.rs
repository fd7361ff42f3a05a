//! Quick fixes for diagnostics: make a high-risk `allow` a `review` (C0001), add a consent
//! guard (C0005), add a missing reason code (C0007), and apply a "did you mean" suggestion.

use xop_compiler::ast::{self, ItemKind, Rule, RuleKind, Target};
use xop_compiler::check::purpose_actions;
use xop_compiler::compliance::write_guard;
use xop_compiler::db::{SourceFile, file_diagnostics, item_ast, parse_file};
use xop_compiler::diagnostic::{Diagnostic, FixData};
use xop_compiler::ide;
use xop_compiler::resolve::{self, DefKind, Lookup, Signature, TypedParam, file_scope};
use xop_compiler::span::Span;
use xop_compiler::types::Ty;

use crate::lines;
use crate::state::Snapshot;

/// One quick fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What it does, for the menu.
    pub title: String,
    /// The diagnostic it fixes.
    pub diagnostic: Diagnostic,
    /// Replacements in the file: span → new text (an empty span inserts).
    pub edits: Vec<(Span, String)>,
    /// Whether it is the obvious fix.
    pub preferred: bool,
}

/// The fixes for the diagnostics of `file` that touch `range`.
pub fn fixes(snap: &Snapshot, file: SourceFile, range: Span) -> Vec<Fix> {
    let mut out = Vec::new();
    for d in file_diagnostics(&snap.db, snap.project, file) {
        let touches = d.span.start() <= range.end() && range.start() <= d.span.end();
        if !touches {
            continue;
        }
        let fix = match d.code {
            "C0001" => review_fix(snap, file, d),
            "C0005" => consent_fix(snap, file, d),
            "C0007" => reason_fix(snap, file, d),
            _ => suggestion_fix(snap, file, d),
        };
        // Diagnostics at one place may share a fix (a `for purpose` policy's C0005, once per
        // action it guards): offered twice, "fix all" would apply it twice.
        if let Some(fix) = fix
            && !out
                .iter()
                .any(|f: &Fix| f.title == fix.title && f.edits == fix.edits)
        {
            out.push(fix);
        }
    }
    // The fixes write `\n`; a document with other line breaks keeps its own.
    let eol = lines::line_break(&snap.text(file));
    if eol != "\n" {
        for f in &mut out {
            for (_, new) in &mut f.edits {
                *new = new.replace('\n', eol);
            }
        }
    }
    out
}

/// The rule at `span` and the policy that holds it.
fn rule_at(snap: &Snapshot, file: SourceFile, span: Span) -> Option<(&ast::Policy, &Rule)> {
    let i = ide::item_at(&snap.db, file, span.start())?;
    let item = item_ast(&snap.db, file, i).as_ref()?;
    let ItemKind::Policy(p) = &item.kind else {
        return None;
    };
    let rule = p
        .rules
        .iter()
        .find(|r| matches!(r, Rule::Rule { span: s, .. } if *s == span))?;
    Some((p, rule))
}

fn written(snap: &Snapshot, file: SourceFile, span: Span) -> String {
    snap.text(file).get(span.range()).unwrap_or("").to_string()
}

/// C0001: `allow "r" when c` → `review "r" by role R within 24h else deny when c`.
fn review_fix(snap: &Snapshot, file: SourceFile, d: &Diagnostic) -> Option<Fix> {
    let (_, rule) = rule_at(snap, file, d.span)?;
    let Rule::Rule {
        kind: RuleKind::Allow,
        reason,
        condition,
        span,
    } = rule
    else {
        return None;
    };
    let db = &snap.db;
    let scope = file_scope(db, snap.project, file);
    // A role the file can name; else one is declared for the author to rename.
    let role = scope
        .visible_names(db)
        .into_iter()
        .find(|n| matches!(scope.lookup(db, n), Lookup::Found(e) if e.def.kind == DefKind::Role));
    let mut edits = Vec::new();
    let role = match role {
        Some(r) => r.to_string(),
        None => {
            let i = ide::item_at(db, file, span.start())?;
            let policy_start = parse_file(db, file).ast.items.get(i as usize)?.span.start();
            // Not a name the file has (a function, an enum's value written alone): declared
            // twice, or read as the other, it would not check.
            let role = fresh(snap, scope, "reviewer", &[]);
            edits.push((
                Span::new(policy_start, policy_start),
                format!("/// Who reviews high-risk decisions.\nrole {role}\n\n"),
            ));
            role
        }
    };
    let reason = reason.as_ref().map_or_else(
        || "\"needs-review\"".to_string(),
        |r| written(snap, file, r.span),
    );
    let mut text = format!("review {reason} by role {role} within 24h else deny");
    if let Some(c) = condition {
        text.push(' ');
        text.push_str(&written(snap, file, c.span));
    }
    edits.push((*span, text));
    Some(Fix {
        title: format!("Make this a review by role `{role}` (EU AI Act Art. 14)"),
        diagnostic: d.clone(),
        edits,
        preferred: true,
    })
}

/// C0005: add `deny "no-consent" unless GUARD` before the rule, GUARD being the guard the
/// compliance check requires ([`ConsentGuard`](xop_compiler::compliance::ConsentGuard), carried
/// by the diagnostic) as the checker's help writes it ([`write_guard`]): in the file's names,
/// with the `use` lines and bindings it needs added. A parameter the policy does not bind yet is
/// bound, unless the policy is a purpose's and not every action it guards has it; no fix when a
/// binding hides a declaration of the file the guard names (the help renames it, which its
/// rules must follow).
fn consent_fix(snap: &Snapshot, file: SourceFile, d: &Diagnostic) -> Option<Fix> {
    let Some(FixData::ConsentGuard(guard)) = &d.fix else {
        return None;
    };
    let db = &snap.db;
    let (policy, rule) = rule_at(snap, file, d.span)?;
    let Rule::Rule { span, .. } = rule else {
        return None;
    };
    let params = guard.params();
    // A purpose's policy binds only what every action it guards has, with one type (else the
    // binding is an error, or the policy stops guarding a stdlib action).
    if let Target::Purpose(p) = &policy.target {
        let Lookup::Found(e) = file_scope(db, snap.project, file).lookup(db, &p.name) else {
            return None;
        };
        let actions = purpose_actions(db, snap.project, &e.def, &policy.bindings);
        let signatures: Vec<&[TypedParam]> = actions
            .iter()
            .filter_map(
                |a| match resolve::signature(db, snap.project, a.file, a.index) {
                    Signature::Action { params, .. } => Some(&params[..]),
                    _ => None,
                },
            )
            .collect();
        let bound = |name: &str| policy.bindings.iter().any(|b| *b.param.name == *name);
        for name in params.iter().filter(|n| !bound(n)) {
            let types: Vec<Option<&Ty>> = signatures
                .iter()
                .map(|ps| ps.iter().find(|x| *x.name == **name).map(|x| &x.ty))
                .collect();
            if signatures.len() != actions.len()
                || types.iter().any(Option::is_none)
                || types.windows(2).any(|w| w[0] != w[1])
            {
                return None;
            }
        }
    }
    // The guard as the checker's help writes it, with the bindings and `use` lines it needs.
    let written = write_guard(db, snap.project, file, policy, guard);
    // A binding that hides a declaration of the file the guard names must be renamed where
    // the rules read it too: not a fix to insert.
    if !written.renamed.is_empty() {
        return None;
    }
    let condition = written.condition;
    let new_bindings = written.bindings;
    let imports = written.imports;
    let text = snap.text(file);
    let rule = format!("deny \"no-consent\" unless {condition}");
    let mut edits = vec![(
        Span::new(span.start(), span.start()),
        before_rule(&text, span.start(), &rule),
    )];
    if !new_bindings.is_empty() {
        edits.push(binding_edit(snap, file, policy, &new_bindings)?);
    }
    if !imports.is_empty() {
        edits.push(import_edit(snap, file, &imports.join("\n")));
    }
    let bound = if new_bindings.is_empty() {
        String::new()
    } else {
        format!(" and bind {}", new_bindings.join(", "))
    };
    Some(Fix {
        title: format!("Add a consent guard: deny unless {condition}{bound} (GDPR Art. 6, 7)"),
        diagnostic: d.clone(),
        edits,
        preferred: true,
    })
}

/// What to insert at `rule_start` so that `rule` (a whole rule) stands before the rule there:
/// on a line of its own with the same indentation when the rule starts its line, else on the
/// rule's line, right before it (`{ allow "ok" }`, a rule after another on one line), where
/// the text before the rule is code, not indentation.
fn before_rule(text: &str, rule_start: usize, rule: &str) -> String {
    let before = &text[lines::line_start(text, rule_start)..rule_start];
    if before.chars().all(|c| c == ' ' || c == '\t') {
        format!("{rule}\n{before}")
    } else {
        format!("{rule} ")
    }
}

/// `base`, or `base_2`, `base_3`…: the first that is no name of `scope` nor one of `taken`.
fn fresh(snap: &Snapshot, scope: &resolve::Scope, base: &str, taken: &[String]) -> String {
    resolve::fresh_name(base, |n| {
        scope.name_free(&snap.db, n) && !taken.iter().any(|t| t == n)
    })
}

/// The insertion of `bindings` in `policy`'s binding list (`for a(to: c)` → `for a(to: c,
/// channel)`), or of a binding list after its target if it has none.
fn binding_edit(
    snap: &Snapshot,
    file: SourceFile,
    policy: &ast::Policy,
    bindings: &[String],
) -> Option<(Span, String)> {
    let text = snap.text(file);
    let target_end = match &policy.target {
        Target::Action(path) => path.span.end(),
        Target::Purpose(p) => p.span.end(),
    };
    let after = text.get(target_end..)?;
    let rest = after.trim_start();
    let list = bindings.join(", ");
    if !rest.starts_with('(') {
        return Some((Span::new(target_end, target_end), format!("({list})")));
    }
    let open = target_end + (after.len() - rest.len());
    let close = open + text[open..].find(')')?;
    let inside = text[open + 1..close].trim_end();
    let at = open + 1 + inside.len();
    let sep = if inside.trim().is_empty() { "" } else { ", " };
    Some((Span::new(at, at), format!("{sep}{list}")))
}

/// An insertion of `line` after the last `use` (or the `module` line).
fn import_edit(snap: &Snapshot, file: SourceFile, line: &str) -> (Span, String) {
    let ast = &parse_file(&snap.db, file).ast;
    let after = ast
        .uses
        .last()
        .map(|u| u.span.end())
        .or(ast.module.as_ref().map(|m| m.span.end()));
    match after {
        Some(at) => (Span::new(at, at), format!("\n{line}")),
        None => (Span::new(0, 0), format!("{line}\n")),
    }
}

/// C0007: a reason code after the verdict, or in place of one that shows nothing (`""`). It is
/// a placeholder named after what the condition reads (its fields, values and calls, else the
/// parameters its locals bind), in kebab-case, unique among the policy's reasons.
fn reason_fix(snap: &Snapshot, file: SourceFile, d: &Diagnostic) -> Option<Fix> {
    let (policy, rule) = rule_at(snap, file, d.span)?;
    let Rule::Rule {
        kind, reason, span, ..
    } = rule
    else {
        return None;
    };
    let code = placeholder_reasons(snap, file, policy)
        .into_iter()
        .find(|(s, _)| s == span)?
        .1;
    let keyword = verdict_keyword(kind);
    let edit = match reason {
        Some(r) => (r.span, format!("\"{code}\"")),
        None => {
            let at = span.start() + keyword.len();
            (Span::new(at, at), format!(" \"{code}\""))
        }
    };
    Some(Fix {
        title: format!("Add the reason code \"{code}\" (EU AI Act Art. 13, 86)"),
        diagnostic: d.clone(),
        edits: vec![edit],
        preferred: true,
    })
}

fn verdict_keyword(kind: &RuleKind) -> &'static str {
    match kind {
        RuleKind::Deny => "deny",
        RuleKind::Allow => "allow",
        RuleKind::Review { .. } => "review",
    }
}

/// The placeholder reason of each rule of `policy` that C0007 reports, by the rule's span: in
/// the order of the rules, so that each keeps its own whichever is fixed first.
fn placeholder_reasons(
    snap: &Snapshot,
    file: SourceFile,
    policy: &ast::Policy,
) -> Vec<(Span, String)> {
    let lacking: Vec<Span> = file_diagnostics(&snap.db, snap.project, file)
        .iter()
        .filter(|d| d.code == "C0007")
        .map(|d| d.span)
        .collect();
    let mut used: Vec<String> = Vec::new();
    let mut wanted = Vec::new();
    for r in &policy.rules {
        let Rule::Rule {
            kind,
            reason,
            condition,
            span,
        } = r
        else {
            continue;
        };
        if lacking.contains(span) {
            wanted.push((*span, kind, condition));
        } else if let Some(r) = reason {
            used.push(r.value.clone());
        }
    }
    let mut out = Vec::new();
    for (span, kind, condition) in wanted {
        let base = condition
            .as_ref()
            .and_then(|c| condition_words(snap, file, policy, c.expr.span))
            .unwrap_or_else(|| format!("{}-reason", verdict_keyword(kind)));
        let code = (1..)
            .map(|i| {
                if i == 1 {
                    base.clone()
                } else {
                    format!("{base}-{i}")
                }
            })
            .find(|c| !used.contains(c))
            .unwrap_or(base);
        used.push(code.clone());
        out.push((span, code));
    }
    out
}

/// The names the condition at `span` reads, as a reason code: its first two fields, values
/// and calls (`messages-7d`, `contacts-within`), else the parameters bound to the locals it
/// reads (`amount` for `a`, bound by `amount: a`).
fn condition_words(
    snap: &Snapshot,
    file: SourceFile,
    policy: &ast::Policy,
    span: Span,
) -> Option<String> {
    let db = &snap.db;
    let i = ide::item_at(db, file, span.start())?;
    let text = snap.text(file);
    let mut refs: Vec<&ide::Ref> = ide::item_notes(db, snap.project, file, i)
        .refs
        .iter()
        .filter(|r| span.contains(r.span.start()))
        .collect();
    refs.sort_by_key(|r| r.span.start());
    let mut names: Vec<String> = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for r in refs {
        let written = text.get(r.span.range()).unwrap_or_default().to_string();
        let list = match &r.target {
            ide::Target::Field { .. } | ide::Target::Variant { .. } => &mut names,
            ide::Target::Def(d) if !matches!(d.kind, DefKind::Enum | DefKind::Record) => &mut names,
            ide::Target::Local { span, .. } => {
                if let Some(b) = policy.bindings.iter().find(|b| b.var.span == *span)
                    && !params.contains(&b.param.name)
                {
                    params.push(b.param.name.clone());
                }
                continue;
            }
            _ => continue,
        };
        if !list.contains(&written) {
            list.push(written);
        }
    }
    let words = if names.is_empty() { params } else { names };
    let code = words
        .iter()
        .take(2)
        .map(|w| kebab(w))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    (!code.is_empty()).then_some(code)
}

/// `messages_7d` → `messages-7d`, `sendOffer` → `send-offer`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c == '_' || c == '-' {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        } else if c.is_uppercase() {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

/// "did you mean `x`?" → replace what the diagnostic points at so that the text reads `x`:
/// the whole of it for a name (`mesages_7d`, `shop.custmer`), only the value's name for an
/// enum value written qualified (`Tier.gld`, help `Tier.gold`, the diagnostic at `gld`), only
/// the annotation's name (`@persnal`, help `@personal`, the diagnostic at `persnal`); and
/// "did you mean "x"?" → the quoted reason code (`"frequency_cap"`) replaced by `"x"`. No fix
/// where the text around does not read as the help's (a qualifier written otherwise).
fn suggestion_fix(snap: &Snapshot, file: SourceFile, d: &Diagnostic) -> Option<Fix> {
    let help = d.help.as_deref()?.strip_prefix("did you mean ")?;
    let text = snap.text(file);
    let written = text.get(d.span.range())?;
    let before = &text[..d.span.start()];
    let new = if let Some(s) = help.strip_prefix('"').and_then(|h| h.strip_suffix("\"?")) {
        // A reason code, in place of the string literal written: only a plain one, which
        // needs no escape.
        let literal = written.len() >= 2 && written.starts_with('"') && written.ends_with('"');
        if !literal || s.is_empty() || s.contains(['"', '\\']) || s.contains(char::is_control) {
            return None;
        }
        format!("\"{s}\"")
    } else {
        let s = help.strip_prefix('`')?.strip_suffix("`?")?;
        if let Some(name) = s.strip_prefix('@') {
            // An annotation: the diagnostic is at its name, after the `@`, or at both.
            match written.strip_prefix('@') {
                Some(_) => s.to_string(),
                None if before.ends_with('@') => name.to_string(),
                None => return None,
            }
        } else if let Some((qualifier, value)) = s.rsplit_once('.')
            && d.code != "E0203"
        {
            // `Enum.value`: the diagnostic is at the value's name, after `Enum.` as written.
            if !before.ends_with(&format!("{qualifier}.")) || written.contains('.') {
                return None;
            }
            value.to_string()
        } else {
            s.to_string()
        }
    };
    // The title shows the help's text, which is what the code reads once fixed.
    let shown = help.strip_suffix('?').unwrap_or(help);
    Some(Fix {
        title: format!("Replace with {shown}"),
        diagnostic: d.clone(),
        edits: vec![(d.span, new)],
        preferred: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, CUSTOMER, at, snapshot};

    /// Applies the first fix whose title contains `title` at `offset` and returns the new text
    /// and its diagnostic codes.
    fn apply(contact: &str, offset: usize, title: &str) -> (String, Vec<&'static str>) {
        apply_in(CUSTOMER, contact, offset, title)
    }

    /// [`apply`] to `contact.xop` = `contact` beside `customer.xop` = `customer`.
    fn apply_in(
        customer: &str,
        contact: &str,
        offset: usize,
        title: &str,
    ) -> (String, Vec<&'static str>) {
        let all = fixes_at(customer, contact, offset);
        let fix = all
            .iter()
            .find(|f| f.title.contains(title))
            .unwrap_or_else(|| panic!("no `{title}` fix among {all:#?}"));
        let mut edits = fix.edits.clone();
        // Stable: insertions at one place keep their order.
        edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start()));
        let mut text = contact.to_string();
        for (s, new) in edits {
            text.replace_range(s.range(), &new);
        }
        let (_st, snap) = snapshot(&[("customer.xop", customer), ("contact.xop", &text)]);
        let file = snap.file("contact.xop").expect("file");
        let codes = file_diagnostics(&snap.db, snap.project, file)
            .iter()
            .map(|d| d.code)
            .collect();
        (text, codes)
    }

    /// The fixes at `offset` of `contact.xop` = `contact`.
    fn fixes_at(customer: &str, contact: &str, offset: usize) -> Vec<Fix> {
        let (_st, snap) = snapshot(&[("customer.xop", customer), ("contact.xop", contact)]);
        let file = snap.file("contact.xop").expect("file");
        fixes(&snap, file, Span::new(offset, offset))
    }

    /// Fails unless `codes` are free of errors and of `code`.
    fn assert_fixed(codes: &[&str], code: &str, text: &str) {
        assert!(!codes.contains(&code), "{codes:?}\n{text}");
        assert!(
            !codes.iter().any(|c| c.starts_with('E')),
            "{codes:?}\n{text}"
        );
    }

    /// CONTACT without its consent guard nor its import.
    fn unguarded() -> String {
        CONTACT
            .replace(
                "  deny \"no-consent\" unless consent(c, marketing, ch)\n",
                "",
            )
            .replace("use std.consent.consent\n", "")
    }

    #[test]
    fn the_consent_guard_calls_the_stdlibs_consent_past_a_local_function() {
        let text = unguarded().replace(
            "/// Offer something.",
            "fn consent(x: Int): Bool = x > 1\n/// Offer something.",
        );
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(
            fixed.contains("use std.consent.consent as consent_consent\n"),
            "{fixed}"
        );
        assert!(
            fixed.contains(
                "  deny \"no-consent\" unless consent_consent(c, marketing, ch)\n  allow"
            ),
            "{fixed}"
        );
        assert_fixed(&codes, "C0005", &fixed);
    }

    #[test]
    fn the_consent_guard_uses_the_files_names() {
        // An alias the file already has.
        let text = unguarded().replace(
            "use std.channel.*",
            "use std.channel.*\nuse std.consent.consent as has_consent",
        );
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(
            fixed.contains("unless has_consent(c, marketing, ch)\n"),
            "{fixed}"
        );
        assert_eq!(
            fixed.matches("use std.consent.consent").count(),
            1,
            "{fixed}"
        );
        assert_fixed(&codes, "C0005", &fixed);
        // The purpose of an action of another file, which this one does not import yet.
        let customer = format!(
            "{CUSTOMER}action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal\n"
        );
        let text = "module shop.contact\nuse shop.customer.{Customer, send_offer}\n\
            policy contact for send_offer(to: c, channel: ch) {\n  allow \"ok\"\n}\n";
        let (fixed, codes) = apply_in(&customer, text, at(text, "allow", 0, 0), "consent");
        assert!(
            fixed.contains("use shop.customer.marketing\nuse std.consent.consent\n"),
            "{fixed}"
        );
        assert_fixed(&codes, "C0005", &fixed);
    }

    #[test]
    fn the_consent_guard_binds_an_unbound_channel() {
        let text = unguarded().replace("send_offer(to: c, channel: ch)", "send_offer(to: c)");
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(
            fixed.contains("for send_offer(to: c, channel) {"),
            "{fixed}"
        );
        assert!(fixed.contains("consent(c, marketing, channel)"), "{fixed}");
        assert_fixed(&codes, "C0005", &fixed);
        // No binding at all.
        let text = unguarded()
            .replace("send_offer(to: c, channel: ch)", "send_offer")
            .replace("c.messages_7d", "1");
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(fixed.contains("for send_offer(to, channel) {"), "{fixed}");
        assert_fixed(&codes, "C0005", &fixed);
    }

    #[test]
    fn the_consent_guard_binds_no_name_the_decision_time_has() {
        let text = unguarded().replace(
            "send_offer(to: c, channel: ch) {",
            "send_offer(to: c) at channel {",
        );
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(
            fixed.contains("for send_offer(to: c, channel: channel_2) at channel {"),
            "{fixed}"
        );
        assert!(
            fixed.contains("consent(c, marketing, channel_2)"),
            "{fixed}"
        );
        assert_fixed(&codes, "C0005", &fixed);
    }

    /// The consent guard fixed into a policy of `contact.xop` = `decls` (an action, its
    /// policy, what they need) beside CUSTOMER: the fixed text, once checked free of C0005
    /// and errors.
    fn guard_fixed(decls: &str) -> String {
        let text = format!(
            "module shop.contact\nuse shop.customer.{{Customer, marketing}}\nuse std.channel.*\n\
             record Delivery {{\n  channel: Channel\n  text: Text\n}}\n{decls}"
        );
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert_fixed(&codes, "C0005", &fixed);
        assert!(fixed.contains("use std.consent.consent\n"), "{fixed}");
        fixed
    }

    #[test]
    fn the_consent_guard_asks_for_a_channel_inside_a_record() {
        let fixed = guard_fixed(
            "action send_offer(to: Customer, delivery: Delivery) purpose marketing risk minimal\n\
             policy contact for send_offer(to: c, delivery: d) {\n  allow \"ok\"\n}\n",
        );
        assert!(
            fixed
                .contains("  deny \"no-consent\" unless consent(c, marketing, d.channel)\n  allow"),
            "{fixed}"
        );
        // Unbound, and deeper, through an optional: the record is bound and tested first.
        let fixed = guard_fixed(
            "record Envelope {\n  delivery: Delivery?\n}\n\
             action send_offer(to: Customer, e: Envelope) purpose marketing risk minimal\n\
             policy contact for send_offer(to: c) {\n  allow \"ok\"\n}\n",
        );
        assert!(fixed.contains("for send_offer(to: c, e) {"), "{fixed}");
        assert!(
            fixed.contains(
                "unless e.delivery is absent or consent(c, marketing, e.delivery.channel)\n"
            ),
            "{fixed}"
        );
    }

    #[test]
    fn the_consent_guard_asks_for_each_channel_of_a_list_of_optionals() {
        let fixed = guard_fixed(
            "action send_promo(to: Customer, channels: List<Channel?>, channel: Channel) purpose marketing risk minimal\n\
             policy contact for send_promo(to: c, channels: chs, channel: ch) {\n  allow \"ok\"\n}\n",
        );
        assert!(
            fixed.contains(
                "unless all(chs, x => x is absent or consent(c, marketing, x)) and consent(c, marketing, ch)\n"
            ),
            "{fixed}"
        );
        // The lambda's variable is no name of the policy's nor of the file's.
        let fixed = guard_fixed(
            "fn x_2(): Int = 1\n\
             action send_promo(to: Customer, ds: List<Delivery?>) purpose marketing risk minimal\n\
             policy contact for send_promo(to: x, ds: ds) {\n  allow \"ok\"\n}\n",
        );
        assert!(
            fixed.contains(
                "unless all(ds, x_3 => x_3 is absent or consent(x, marketing, x_3.channel))\n"
            ),
            "{fixed}"
        );
    }

    #[test]
    fn the_consent_guard_asks_each_person_of_a_list() {
        let fixed = guard_fixed(
            "action send_all(to: List<Customer>, channel: Channel) purpose marketing risk minimal\n\
             policy contact for send_all(to: cs, channel: ch) {\n  allow \"ok\"\n}\n",
        );
        assert!(
            fixed.contains("unless all(cs, x => consent(x, marketing, ch))\n"),
            "{fixed}"
        );
        let fixed = guard_fixed(
            "action send_all(to: List<Customer>, channels: Set<Channel>) purpose marketing risk minimal\n\
             policy contact for send_all(to: cs, channels: chs) {\n  allow \"ok\"\n}\n",
        );
        assert!(
            fixed.contains("unless all(cs, x => all(chs, y => consent(x, marketing, y)))\n"),
            "{fixed}"
        );
    }

    /// Optionals outside lambdas are tested `is absent or`, as inside (no channel or no person,
    /// no contact): once for the facts behind the same ones.
    #[test]
    fn the_consent_guard_tests_optionals_outside_lambdas_as_inside() {
        let fixed = guard_fixed(
            "action send_offer(to: Customer?, delivery: Delivery?, channel: Channel?) purpose marketing risk minimal\n\
             policy contact for send_offer(to: c, delivery: d, channel: ch) {\n  allow \"ok\"\n}\n",
        );
        assert!(
            fixed.contains(
                "unless (c is absent or d is absent or consent(c, marketing, d.channel)) \
                 and (c is absent or ch is absent or consent(c, marketing, ch))\n"
            ),
            "{fixed}"
        );
        let fixed = guard_fixed(
            "record Pair {\n  main: Channel\n  backup: Channel\n}\n\
             action send_offer(to: Customer, pair: Pair?) purpose marketing risk minimal\n\
             policy contact for send_offer(to: c, pair: p) {\n  allow \"ok\"\n}\n",
        );
        assert!(
            fixed.contains(
                "unless p is absent or (consent(c, marketing, p.main) and consent(c, marketing, p.backup))\n"
            ),
            "{fixed}"
        );
    }

    /// The quick fix writes the guard the diagnostic's help spells, lambda variables included,
    /// which clash with none of the policy's names (the help used to reuse the policy's `x`).
    #[test]
    fn the_consent_guard_is_the_one_the_help_spells() {
        let text = "module shop.contact\nuse shop.customer.{Customer, marketing}\nuse std.channel.*\n\
            use std.consent.consent\n\
            record Delivery {\n  channel: Channel\n}\n\
            fn x_2(): Int = 1\n\
            action send_all(to: List<Customer>, ds: List<Delivery>) purpose marketing risk minimal\n\
            policy contact for send_all(to: y, ds: x) at y_2 {\n  allow \"ok\"\n}\n";
        let all = fixes_at(CUSTOMER, text, at(text, "allow", 0, 0));
        let fix = all
            .iter()
            .find(|f| f.title.contains("consent"))
            .expect("a consent fix");
        let rule = &fix.edits[0].1;
        let guard = rule
            .trim_end()
            .strip_prefix("deny \"no-consent\" unless ")
            .expect("a consent guard");
        assert_eq!(
            guard,
            "all(y, x_3 => all(x, y_3 => consent(x_3, marketing, y_3.channel)))"
        );
        let help = fix.diagnostic.help.as_deref().unwrap_or_default();
        assert!(help.contains(&format!("unless {guard}` to")), "{help}");
    }

    /// The quick fix inserts the guard the help spells, with the `use` lines the help names,
    /// where names are taken or shared: bindings that hide `consent` and the purpose (a callee
    /// is never a local: `consent(…)` stays the function, not an alias), a file whose own
    /// `purpose marketing` is not the action's, a purpose imported under an alias. Both come
    /// from [`write_guard`]; this keeps them from drifting apart. Applied, the fix leaves no
    /// C0005 and no error. Where the help renames a binding that hides the file's own purpose
    /// (which the rules must follow), no fix is offered.
    #[test]
    fn the_consent_fix_inserts_what_the_help_spells_where_names_are_taken() {
        // `consent` and the purpose both to import.
        let customer = format!(
            "{CUSTOMER}action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal\n"
        );
        let contact = "module shop.contact\nuse shop.customer.{Customer, send_offer}\n\
            policy contact for send_offer(to: c, channel: ch) {\n  allow \"ok\"\n}\n";
        // `C0005_headline_qualifies_alike_purposes`: crm and shop each declare a `purpose
        // marketing`; leads imports shop's under an alias.
        let crm = (
            "crm.xop",
            include_str!("../../tests/ui/C0005_headline_qualifies_alike_purposes/crm.xop"),
        );
        let shop = (
            "shop.xop",
            include_str!("../../tests/ui/C0005_headline_qualifies_alike_purposes/shop.xop"),
        );
        let leads = (
            "leads.xop",
            include_str!("../../tests/ui/C0005_headline_qualifies_alike_purposes/leads.xop"),
        );
        let cases: [(&str, &[(&str, &str)]); 5] = [
            (
                "contact.xop",
                &[("customer.xop", &customer), ("contact.xop", contact)],
            ),
            (
                "a.xop",
                &[(
                    "a.xop",
                    include_str!("../../tests/ui/C0005_help_bindings_hide_names.xop"),
                )],
            ),
            (
                "a.xop",
                &[
                    (
                        "a.xop",
                        include_str!("../../tests/ui/C0005_same_name_purpose/a.xop"),
                    ),
                    (
                        "b.xop",
                        include_str!("../../tests/ui/C0005_same_name_purpose/b.xop"),
                    ),
                ],
            ),
            ("shop.xop", &[crm, shop]),
            ("leads.xop", &[crm, shop, leads]),
        ];
        for (path, files) in cases {
            let (_st, snap) = snapshot(files);
            let file = snap.file(path).expect("file");
            let text = snap.text(file).to_string();
            let c0005: Vec<&Diagnostic> = file_diagnostics(&snap.db, snap.project, file)
                .iter()
                .filter(|d| d.code == "C0005" && *d.file == *path)
                .collect();
            let [d] = c0005.as_slice() else {
                panic!("not one C0005 in {path}: {c0005:#?}");
            };
            let help = d.help.as_deref().unwrap_or_default();
            let quoted: Vec<&str> = help.split('`').skip(1).step_by(2).collect();
            let rule = quoted
                .iter()
                .find(|q| q.starts_with("deny \"no-consent\" unless "))
                .unwrap_or_else(|| panic!("no guard in {help}"));
            let uses: Vec<&str> = quoted
                .iter()
                .copied()
                .filter(|q| q.starts_with("use "))
                .collect();
            let all = fixes(&snap, file, d.span);
            let fix = all
                .iter()
                .find(|f| f.title.contains("consent guard"))
                .unwrap_or_else(|| panic!("no consent fix in {path}: {all:#?}"));
            // The rule, on a line of its own before the one the C0005 is at.
            assert_eq!(
                fix.edits[0],
                (
                    Span::new(d.span.start(), d.span.start()),
                    format!("{rule}\n  ")
                ),
                "{help}"
            );
            let inserted: Vec<&str> = fix
                .edits
                .iter()
                .flat_map(|(_, new)| new.lines())
                .filter(|l| l.starts_with("use "))
                .collect();
            assert_eq!(inserted, uses, "{help}");
            // Applied, it checks.
            let mut edits = fix.edits.clone();
            edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start()));
            let mut fixed = text.clone();
            for (s, new) in edits {
                fixed.replace_range(s.range(), &new);
            }
            let others: Vec<(&str, &str)> = files
                .iter()
                .map(|(p, t)| (*p, if *p == path { fixed.as_str() } else { *t }))
                .collect();
            let (_st, snap) = snapshot(&others);
            let file = snap.file(path).expect("file");
            let codes: Vec<&str> = file_diagnostics(&snap.db, snap.project, file)
                .iter()
                .map(|d| d.code)
                .collect();
            assert_fixed(&codes, "C0005", &fixed);
        }
        // The help renames the binding `channel: promo`, which its rules must follow.
        let hidden = include_str!("../../tests/ui/C0005_help_binding_hides_own_purpose.xop");
        let (_st, snap) = snapshot(&[("contact.xop", hidden)]);
        let file = snap.file("contact.xop").expect("file");
        let diags = file_diagnostics(&snap.db, snap.project, file);
        assert!(diags.iter().any(|d| d.code == "C0005"), "{diags:#?}");
        let all = fixes(&snap, file, Span::new(0, hidden.len()));
        assert!(
            !all.iter().any(|f| f.title.contains("consent guard")),
            "{all:#?}"
        );
    }

    /// A purpose's policy can bind only what each action it guards has: a guard that needs
    /// another parameter is not offered, since the binding would be an error.
    #[test]
    fn no_consent_guard_binds_what_a_purposes_other_action_lacks() {
        let text = "module shop.contact\nuse shop.customer.{Customer, marketing}\nuse std.channel.*\n\
            record Delivery {\n  channel: Channel\n}\n\
            action send_offer(to: Customer, delivery: Delivery) purpose marketing risk minimal\n\
            action send_promo(to: Customer, channel: Channel) purpose marketing risk minimal\n\
            policy contact for purpose marketing(to: c) {\n  allow \"ok\"\n}\n";
        let all = fixes_at(CUSTOMER, text, at(text, "allow", 0, 0));
        assert!(!all.iter().any(|f| f.title.contains("consent")), "{all:#?}");
        // Nor when the other has it with another type.
        let other = text.replace(
            "send_promo(to: Customer, channel: Channel)",
            "send_promo(to: Customer, delivery: Delivery?)",
        );
        let all = fixes_at(CUSTOMER, &other, at(&other, "allow", 0, 0));
        assert!(
            !all.iter()
                .any(|f| f.title.contains("consent(c, marketing, delivery.channel)")),
            "{all:#?}"
        );
        // Both have `delivery`: one guard, binding it, fixes both.
        let text = text.replace(
            "send_promo(to: Customer, channel: Channel)",
            "send_promo(to: Customer, delivery: Delivery)",
        );
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(fixed.contains("marketing(to: c, delivery) {"), "{fixed}");
        assert!(
            fixed.contains("unless consent(c, marketing, delivery.channel)\n"),
            "{fixed}"
        );
        assert_fixed(&codes, "C0005", &fixed);
    }

    /// Past the places the checker lists channels in, no guard establishes consent (C0005
    /// stays): none is offered.
    #[test]
    fn no_consent_guard_for_too_many_channels() {
        let channels: Vec<String> = (0..17).map(|i| format!("c{i}: Channel")).collect();
        let text = format!(
            "module shop.contact\nuse shop.customer.{{Customer, marketing}}\nuse std.channel.*\n\
             action send_offer(to: Customer, {}) purpose marketing risk minimal\n\
             policy contact for send_offer(to: c) {{\n  allow \"ok\"\n}}\n",
            channels.join(", ")
        );
        let all = fixes_at(CUSTOMER, &text, at(&text, "allow", 0, 0));
        assert!(!all.iter().any(|f| f.title.contains("consent")), "{all:#?}");
    }

    /// The guard goes before the rule whatever the layout: the text before a rule on its
    /// line is indentation only when it is blank (else it is code: a rule, a policy's head),
    /// and the fixed file holds each rule, and the policy's head, as often as before.
    #[test]
    fn the_consent_guard_fits_any_layout() {
        let guard = "deny \"no-consent\" unless consent(c, marketing, ch)";
        let head = "policy contact for send_offer(to: c, channel: ch) {";
        let layouts = [
            // A rule after another on one line.
            (
                unguarded().replace(">= 3\n  allow", ">= 3 allow"),
                format!("  deny \"cap\" when c.messages_7d >= 3 {guard} allow \"ok\"\n}}"),
            ),
            // A policy on one line.
            (
                unguarded().replace(
                    &format!("{head}\n  deny \"cap\" when c.messages_7d >= 3\n  allow \"ok\"\n}}"),
                    &format!("{head} allow \"ok\" }}"),
                ),
                format!("{head} {guard} allow \"ok\" }}\n"),
            ),
            // Indented with a tab, the rule on its own line.
            (
                unguarded().replace("\n  allow", "\n\tallow"),
                format!(">= 3\n\t{guard}\n\tallow \"ok\"\n}}"),
            ),
        ];
        for (text, expected) in layouts {
            for eol in ["\n", "\r\n"] {
                let text = text.replace('\n', eol);
                let expected = expected.replace('\n', eol);
                let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
                assert!(fixed.contains(&expected), "{expected:?} in\n{fixed}");
                assert_fixed(&codes, "C0005", &fixed);
                assert_eq!(fixed.matches(guard).count(), 1, "{fixed}");
                for kept in [head, "deny \"cap\"", "allow \"ok\""] {
                    let count = |t: &str| t.matches(kept).count();
                    assert_eq!(count(&fixed), count(&text), "{kept:?} in\n{fixed}");
                }
                assert_eq!(fixed.matches('\n').count(), fixed.matches(eol).count());
            }
        }
    }

    #[test]
    fn a_high_risk_allow_becomes_a_review() {
        let text = CONTACT.replace("risk minimal", "risk high");
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "review");
        assert!(
            fixed.contains("review \"ok\" by role reviewer within 24h else deny"),
            "{fixed}"
        );
        assert!(fixed.contains("role reviewer\n"), "{fixed}");
        assert!(!codes.contains(&"C0001"), "{codes:?}\n{fixed}");
        assert!(
            !codes.iter().any(|c| c.starts_with('E')),
            "{codes:?}\n{fixed}"
        );
    }

    #[test]
    fn a_review_declares_a_role_under_a_name_the_file_does_not_have() {
        let text = CONTACT.replace("risk minimal", "risk high").replace(
            "policy contact",
            "enum Who { reviewer }\nfn reviewer_2(w: Who): Bool = w == reviewer\npolicy contact",
        );
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "review");
        assert!(
            fixed.contains("review \"ok\" by role reviewer_3 within 24h else deny"),
            "{fixed}"
        );
        assert!(fixed.contains("role reviewer_3\n"), "{fixed}");
        assert_fixed(&codes, "C0001", &fixed);
    }

    #[test]
    fn one_consent_guard_for_a_purpose_policy_over_two_actions() {
        let text = unguarded().replace(
            "policy contact for send_offer(",
            "action send_promo(to: Customer, channel: Channel) purpose marketing risk minimal\n\
                 policy contact for purpose marketing(",
        );
        let all = fixes_at(CUSTOMER, &text, at(&text, "allow", 0, 0));
        let guards: Vec<&Fix> = all.iter().filter(|f| f.title.contains("consent")).collect();
        assert_eq!(guards.len(), 1, "{all:#?}");
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert_eq!(
            fixed.matches("use std.consent.consent").count(),
            1,
            "{fixed}"
        );
        assert_fixed(&codes, "C0005", &fixed);
    }

    #[test]
    fn a_consent_guard_is_added_with_its_import() {
        let text = CONTACT
            .replace(
                "  deny \"no-consent\" unless consent(c, marketing, ch)\n",
                "",
            )
            .replace("use std.consent.consent\n", "");
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(
            fixed.contains("  deny \"no-consent\" unless consent(c, marketing, ch)\n  allow"),
            "{fixed}"
        );
        assert!(fixed.contains("use std.consent.consent"), "{fixed}");
        assert!(!codes.contains(&"C0005"), "{codes:?}\n{fixed}");
        assert!(
            !codes.iter().any(|c| c.starts_with('E')),
            "{codes:?}\n{fixed}"
        );
    }

    #[test]
    fn fixes_keep_the_documents_line_breaks() {
        let text = CONTACT
            .replace(
                "  deny \"no-consent\" unless consent(c, marketing, ch)\n",
                "",
            )
            .replace("use std.consent.consent\n", "")
            .replace('\n', "\r\n");
        let (fixed, codes) = apply(&text, at(&text, "allow", 0, 0), "consent");
        assert!(
            fixed.contains("  deny \"no-consent\" unless consent(c, marketing, ch)\r\n  allow"),
            "{fixed:?}"
        );
        assert!(
            fixed.contains("\r\nuse std.consent.consent\r\n"),
            "{fixed:?}"
        );
        assert_eq!(fixed.matches('\n').count(), fixed.matches("\r\n").count());
        assert!(!codes.contains(&"C0005"), "{codes:?}");
    }

    #[test]
    fn a_missing_reason_is_added() {
        let text = CONTACT.replace("deny \"cap\" when", "deny when");
        let (fixed, codes) = apply(&text, at(&text, "deny when", 0, 1), "reason");
        assert!(
            fixed.contains("deny \"messages-7d\" when c.messages_7d >= 3"),
            "{fixed}"
        );
        assert!(!codes.contains(&"C0007"), "{codes:?}");
    }

    const REFUNDS: &str = "module shop.contact
use shop.customer.Customer
use std.consent.service
action refund(to: Customer, amount: Money) purpose service risk minimal
policy refunds for refund(to: c, amount: a) {
  deny when a > 100.00 EUR
  deny \"\" when a > 90.00 EUR
  deny \"amount\" when a > 95.00 EUR
  review \"  \" by role r within 1h else deny when a > 50.00 EUR and c.messages_7d > 2
  allow
}
role r
";

    #[test]
    fn missing_reasons_are_named_after_the_condition_and_unique() {
        let reasons: Vec<String> = ["deny when", "deny \"\"", "review", "allow\n"]
            .iter()
            .map(|needle| {
                let all = fixes_at(CUSTOMER, REFUNDS, at(REFUNDS, needle, 0, 1));
                let [fix] = &all[..] else {
                    panic!("one fix at {needle:?}: {all:#?}");
                };
                fix.edits[0].1.clone()
            })
            .collect();
        assert_eq!(
            reasons,
            vec![
                " \"amount-2\"",
                "\"amount-3\"",
                "\"messages-7d\"",
                " \"allow-reason\""
            ]
        );
        // An empty reason is replaced, not written beside.
        let (fixed, codes) = apply_in(CUSTOMER, REFUNDS, at(REFUNDS, "deny \"\"", 0, 1), "reason");
        assert!(
            fixed.contains("deny \"amount-3\" when a > 90.00 EUR"),
            "{fixed}"
        );
        assert_eq!(
            codes.iter().filter(|c| **c == "C0007").count(),
            3,
            "{codes:?}"
        );
    }

    #[test]
    fn a_did_you_mean_replaces_a_value_an_annotation_or_a_reason() {
        let good = "module shop.contact\n\
             purpose fraud_prevention\n\
             enum Tier { gold, silver }\n\
             record Customer {\n  id: Id\n  tier: Tier\n  messages_7d: Int\n  \
             @personal(purpose: [fraud_prevention]) msisdn: Text\n}\n\
             action send_offer(to: Customer) purpose fraud_prevention risk minimal\n\
             policy contact for send_offer(to: c) {\n  \
             deny \"frequency-cap\" when c.messages_7d >= 3 and c.tier == Tier.gold\n  \
             allow \"eligible\"\n}\n\
             test \"busy\" {\n  expect contact(send_offer(to: { messages_7d: 5, tier: gold, .. })) \
             == deny(\"frequency-cap\")\n}\n";
        let (_st, snap) = snapshot(&[("contact.xop", good)]);
        let file = snap.file("contact.xop").expect("file");
        let codes: Vec<&str> = file_diagnostics(&snap.db, snap.project, file)
            .iter()
            .map(|d| d.code)
            .collect();
        assert_fixed(&codes, "E0210", good);
        // The wrong text, the part of it the diagnostic is at, the right text, the title.
        for (code, wrong, part, right, title) in [
            (
                "E0210",
                "Tier.gld",
                "gld",
                "Tier.gold",
                "Replace with `Tier.gold`",
            ),
            (
                "E0214",
                "@persnal",
                "persnal",
                "@personal",
                "Replace with `@personal`",
            ),
            (
                "E0205",
                "deny(\"frequency_cap\")",
                "\"frequency_cap\"",
                "deny(\"frequency-cap\")",
                "Replace with \"frequency-cap\"",
            ),
        ] {
            let text = good.replacen(right, wrong, 1);
            assert_ne!(text, good, "{right}");
            // From either end of the wrong part.
            for plus in [0, part.len()] {
                let (fixed, codes) = apply_in("", &text, at(&text, part, 0, plus), title);
                assert_eq!(fixed, good, "{code}");
                assert_fixed(&codes, code, &fixed);
            }
        }
    }

    #[test]
    fn a_did_you_mean_is_applied() {
        let text = CONTACT.replace("c.messages_7d", "c.mesages_7d");
        let (fixed, codes) = apply(&text, at(&text, "mesages", 0, 1), "messages_7d");
        assert!(fixed.contains("c.messages_7d >= 3"));
        assert!(!codes.contains(&"E0210"), "{codes:?}");
    }
}
