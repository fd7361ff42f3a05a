//! Quick fixes for diagnostics: make a high-risk `allow` a `review` (C0001), add a consent
//! guard (C0005), add a missing reason code (C0007), and apply a "did you mean" suggestion.

use xop_compiler::ast::{self, ItemKind, Rule, RuleKind, Target};
use xop_compiler::check::purpose_actions;
use xop_compiler::db::{SourceFile, file_diagnostics, item_ast, parse_file};
use xop_compiler::diagnostic::Diagnostic;
use xop_compiler::ide;
use xop_compiler::resolve::{self, DefKind, Lookup, Signature, file_scope};
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
            _ => suggestion_fix(d),
        };
        out.extend(fix);
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
            edits.push((
                Span::new(policy_start, policy_start),
                "/// Who reviews high-risk decisions.\nrole reviewer\n\n".to_string(),
            ));
            "reviewer".to_string()
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

/// C0005: add `deny "no-consent" unless consent(SUBJECT, PURPOSE, CHANNEL)` before the rule.
fn consent_fix(snap: &Snapshot, file: SourceFile, d: &Diagnostic) -> Option<Fix> {
    let db = &snap.db;
    let (policy, rule) = rule_at(snap, file, d.span)?;
    let Rule::Rule { span, .. } = rule else {
        return None;
    };
    let action = match &policy.target {
        Target::Action(path) => resolve::resolve_path(db, snap.project, file, path)?,
        Target::Purpose(p) => match file_scope(db, snap.project, file).lookup(db, &p.name) {
            Lookup::Found(e) => purpose_actions(db, snap.project, &e.def, &policy.bindings)
                .into_iter()
                .next()?,
            _ => return None,
        },
    };
    let Signature::Action {
        params,
        purpose: Some(purpose),
        ..
    } = resolve::signature(db, snap.project, action.file, action.index)
    else {
        return None;
    };
    let var_of = |param: &str| {
        policy
            .bindings
            .iter()
            .find(|b| b.param.name == param)
            .map(|b| b.var.name.clone())
    };
    let channel = params
        .iter()
        .find(|p| p.ty == Ty::Channel)
        .and_then(|p| var_of(&p.name))?;
    let has_consents = |t: &Ty| {
        ide::fields_of(db, snap.project, t)
            .iter()
            .any(|(n, _)| &**n == "consents")
    };
    let subject = params
        .iter()
        .find(|p| has_consents(&p.ty))
        .or_else(|| params.iter().find(|p| matches!(p.ty, Ty::Record(_))))
        .and_then(|p| var_of(&p.name))?;
    let text = snap.text(file);
    let line_start = lines::line_start(&text, span.start());
    let indent = &text[line_start..span.start()];
    let mut edits = vec![(
        Span::new(span.start(), span.start()),
        format!(
            "deny \"no-consent\" unless consent({subject}, {}, {channel})\n{indent}",
            purpose.name
        ),
    )];
    let scope = file_scope(db, snap.project, file);
    if !matches!(scope.lookup(db, "consent"), Lookup::Found(_)) {
        edits.push(import_edit(snap, file, "use std.consent.consent"));
    }
    Some(Fix {
        title: format!(
            "Add a consent guard: deny unless consent({subject}, {}, {channel}) (GDPR Art. 6, 7)",
            purpose.name
        ),
        diagnostic: d.clone(),
        edits,
        preferred: true,
    })
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

/// C0007: a reason after the verdict, named after what the condition reads.
fn reason_fix(snap: &Snapshot, file: SourceFile, d: &Diagnostic) -> Option<Fix> {
    let (_, rule) = rule_at(snap, file, d.span)?;
    let Rule::Rule {
        kind,
        reason: None,
        condition,
        span,
    } = rule
    else {
        return None;
    };
    let keyword = match kind {
        RuleKind::Deny => "deny",
        RuleKind::Allow => "allow",
        RuleKind::Review { .. } => "review",
    };
    let reason = condition
        .as_ref()
        .and_then(|c| {
            let words: Vec<String> = written(snap, file, c.expr.span)
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .filter(|w| {
                    w.len() > 2 && w.chars().next().is_some_and(|ch| ch.is_ascii_alphabetic())
                })
                .filter(|w| !matches!(*w, "and" | "not" | "absent" | "present" | "true" | "false"))
                .map(|w| w.replace('_', "-"))
                .collect();
            words.last().cloned()
        })
        .unwrap_or_else(|| format!("{keyword}-reason"));
    let at = span.start() + keyword.len();
    Some(Fix {
        title: format!("Add the reason code \"{reason}\" (EU AI Act Art. 13, 86)"),
        diagnostic: d.clone(),
        edits: vec![(Span::new(at, at), format!(" \"{reason}\""))],
        preferred: true,
    })
}

/// "did you mean `x`?" → replace the name with `x`.
fn suggestion_fix(d: &Diagnostic) -> Option<Fix> {
    let help = d.help.as_deref()?;
    let s = help.strip_prefix("did you mean `")?.strip_suffix("`?")?;
    // Only where the suggestion replaces exactly the span: not `Enum.value` for a value, nor
    // `@name` for an annotation's name.
    if s.contains('@') || (s.contains('.') && d.code != "E0203") {
        return None;
    }
    Some(Fix {
        title: format!("Replace with `{s}`"),
        diagnostic: d.clone(),
        edits: vec![(d.span, s.to_string())],
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
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", contact)]);
        let file = snap.file("contact.xop").expect("file");
        let all = fixes(&snap, file, Span::new(offset, offset));
        let fix = all
            .iter()
            .find(|f| f.title.contains(title))
            .unwrap_or_else(|| panic!("no `{title}` fix among {all:#?}"));
        let mut edits = fix.edits.clone();
        edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start()));
        let mut text = contact.to_string();
        for (s, new) in edits {
            text.replace_range(s.range(), &new);
        }
        drop(snap);
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", &text)]);
        let file = snap.file("contact.xop").expect("file");
        let codes = file_diagnostics(&snap.db, snap.project, file)
            .iter()
            .map(|d| d.code)
            .collect();
        (text, codes)
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

    #[test]
    fn a_did_you_mean_is_applied() {
        let text = CONTACT.replace("c.messages_7d", "c.mesages_7d");
        let (fixed, codes) = apply(&text, at(&text, "mesages", 0, 1), "messages_7d");
        assert!(fixed.contains("c.messages_7d >= 3"));
        assert!(!codes.contains(&"E0210"), "{codes:?}");
    }
}
