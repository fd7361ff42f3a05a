//! Hover: what the name under the cursor is (its signature, type and doc comment; an
//! action's purpose and risk class with what the law asks of it), the type of the expression
//! under the cursor, and the legal basis of any diagnostic there.

use xop_compiler::ast::ItemKind;
use xop_compiler::codes;
use xop_compiler::db::SourceFile;
use xop_compiler::ide::{self, Target};
use xop_compiler::resolve::{Def, DefKind, Signature, TypedParam, module_name, signature};
use xop_compiler::span::Span;
use xop_compiler::types::Ty;

use crate::state::Snapshot;

/// What to show, and over which part of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoverInfo {
    /// The range the hover is about.
    pub span: Span,
    /// Markdown.
    pub markdown: String,
}

/// The hover at byte `offset` of `file`.
pub fn hover(snap: &Snapshot, file: SourceFile, offset: usize) -> Option<HoverInfo> {
    let db = &snap.db;
    let mut parts: Vec<String> = Vec::new();
    let mut span = None;
    if let Some(r) = ide::target_at(db, snap.project, file, offset) {
        span = Some(r.span);
        parts.push(describe(snap, &r.target, &types_here(snap, file, &r)));
    } else if let Some(site) = crate::params::site_at(snap, file, offset)
        && let Some(md) = crate::params::describe(snap, &site)
    {
        // A parameter's name where the language writes it (a binding, a named argument).
        span = Some(site.span);
        parts.push(md);
    } else if let Some((risk_span, risk)) = risk_at(snap, file, offset) {
        span = Some(risk_span);
        parts.push(format!("```xop\nrisk {risk}\n```\n\n{}", risk_class(&risk)));
    } else if let Some((s, ty)) = ide::type_at(db, snap.project, file, offset) {
        span = Some(s);
        parts.push(format!("```xop\n{ty}\n```"));
    }
    for d in xop_compiler::db::file_diagnostics(db, snap.project, file) {
        if !d.span.contains(offset) {
            continue;
        }
        span.get_or_insert(d.span);
        let title = codes::info(d.code).map_or("", |i| i.title);
        let mut text = format!("**{}** {title}: {}", d.code, d.message);
        for n in &d.notes {
            text.push_str(&format!("\n\n{n}"));
        }
        if let Some(doc) = codes::explain(d.code) {
            // The code's own section of the docs: what it guards against, the law it rests on
            // (compliance codes), and how to fix it; headings one level down from the hover's.
            let doc = doc.replacen("## ", "#### ", 1);
            text.push_str(&format!("\n\n{doc}\n\n*{}*", codes::doc_file(d.code)));
        }
        parts.push(text);
    }
    let span = span?;
    Some(HoverInfo {
        span,
        markdown: parts.join("\n\n---\n\n"),
    })
}

/// A `risk CLASS` written in an action declaration, at `offset`.
fn risk_at(snap: &Snapshot, file: SourceFile, offset: usize) -> Option<(Span, String)> {
    let i = ide::item_at(&snap.db, file, offset)?;
    let item = xop_compiler::db::item_ast(&snap.db, file, i).as_ref()?;
    let ItemKind::Action(a) = &item.kind else {
        return None;
    };
    let r = a.risk.as_ref().filter(|r| r.span.contains(offset))?;
    Some((r.span, r.name.clone()))
}

/// What the EU AI Act asks of an action of risk class `class`.
pub fn risk_class(class: &str) -> String {
    match class {
        "minimal" => "**minimal risk** (EU AI Act): no obligation beyond the general ones; a reason code on every rule still explains each decision (Art. 13, 86).".to_string(),
        "limited" => "**limited risk** (EU AI Act Art. 50): a person talking to an AI system is told so; the action must carry `@ai_disclosure(\"…\")` (C0004).".to_string(),
        "high" => "**high risk** (EU AI Act Art. 6 and Annex III): human oversight (Art. 14) — every path to allow goes through a `review … by role R within D else deny` (C0001, C0002).".to_string(),
        "prohibited" => "**prohibited practice** (EU AI Act Art. 5): it can never be proposed (C0003).".to_string(),
        other => format!("`{other}` is not a risk class: write minimal, limited, high or prohibited (E0308)."),
    }
}

/// The types the checker gives the expression that the name at `r` ends, where it is used: the
/// local itself (`x`), or the field access (`c.email` for `email`). Empty where the name is
/// not an expression's (a declaration, a record value's field).
fn types_here(snap: &Snapshot, file: SourceFile, r: &ide::Ref) -> Vec<Ty> {
    let db = &snap.db;
    if !matches!(r.target, Target::Local { .. } | Target::Field { .. }) {
        return Vec::new();
    }
    let Some(i) = ide::item_at(db, file, r.span.start()) else {
        return Vec::new();
    };
    let types = &ide::item_notes(db, snap.project, file, i).types;
    let ends_here = |s: &Span| s.end() == r.span.end() && s.start() <= r.span.start();
    let Some(innermost) = types
        .iter()
        .map(|(s, _)| *s)
        .filter(ends_here)
        .min_by_key(|s| s.end() - s.start())
    else {
        return Vec::new();
    };
    types
        .iter()
        .filter(|(s, _)| *s == innermost)
        .map(|(_, t)| t.clone())
        .collect()
}

/// The type to show for a local or a field declared `declared`, used where the checker gives
/// it the types `here`: its present type where a guard makes the optional place present
/// (`x is present and x + "b" == "ab"`, `c.email is present and …`), as the checker narrows
/// it there; else the declared type.
fn shown_type(declared: Ty, here: &[Ty]) -> Ty {
    match declared {
        Ty::Optional(inner) if !here.is_empty() && here.iter().all(|t| *t == *inner) => *inner,
        t => t,
    }
}

/// What `target` is; `here`, the types the checker gives it where the cursor is
/// ([`types_here`]).
fn describe(snap: &Snapshot, target: &Target, here: &[Ty]) -> String {
    let db = &snap.db;
    let mut out = match target {
        Target::Def(d) => {
            let mut s = format!("```xop\n{}\n```", head(snap, d));
            s.push_str(&format!(
                "\n\n{} `{}`",
                capitalise(d.kind.describe()),
                d.qualified(db)
            ));
            s
        }
        Target::Local { file, span } => {
            let name = file.text(db).get(span.range()).unwrap_or("").to_string();
            let ty = ide::type_at(db, snap.project, *file, span.start())
                .filter(|(s, _)| s == span)
                .map_or_else(|| "_".to_string(), |(_, t)| shown_type(t, here).to_string());
            format!("```xop\n{name}: {ty}\n```\n\nlocal name")
        }
        Target::Field { record, name } => {
            let ty = match signature(db, snap.project, record.file, record.index) {
                Signature::Record(fs) => fs.iter().find(|f| f.name == *name).map_or_else(
                    || "_".to_string(),
                    |f| shown_type(f.ty.clone(), here).to_string(),
                ),
                _ => "_".to_string(),
            };
            let mut s = format!("```xop\n{}.{name}: {ty}\n```", record.name);
            if let ItemKind::Record(r) = &record.item(db).kind
                && let Some(f) = r.fields.iter().find(|f| *f.name.name == **name)
            {
                for a in &f.annotations {
                    let text = record.file.text(db);
                    if let Some(t) = text.get(a.span.range()) {
                        s.push_str(&format!(
                            "\n\n`{t}`: personal data, read only by rules of these purposes (GDPR Art. 5(1)(b), C0006)"
                        ));
                    }
                }
            }
            s
        }
        Target::Variant { def, name } => format!(
            "```xop\n{}.{name}\n```\n\nvalue of enum `{}`",
            def.name,
            def.qualified(db)
        ),
        Target::Module(f) => format!("```xop\nmodule {}\n```", module_name(db, *f)),
    };
    let docs = ide::docs(db, target);
    if !docs.is_empty() {
        out.push_str("\n\n");
        out.push_str(&docs.join("\n"));
    }
    if let Target::Def(d) = target
        && d.kind == DefKind::Action
        && let Signature::Action { purpose, risk, .. } =
            signature(db, snap.project, d.file, d.index)
    {
        if let Some(p) = purpose {
            out.push_str(&format!(
                "\n\n**Purpose** `{}`: consent is given per purpose and channel (GDPR Art. 6(1)(a), 7); if the action has a channel, every path to allow checks `consent(subject, {}, channel)` (C0005).",
                p.name, p.name
            ));
        }
        match risk {
            Some(r) => out.push_str(&format!("\n\n**Risk class** {}", risk_class(r))),
            None => out.push_str("\n\n**Risk class** none declared (C0011)."),
        }
    }
    out
}

/// The declaration's head as written in XOP, with resolved types.
fn head(snap: &Snapshot, d: &Def) -> String {
    let db = &snap.db;
    let item = d.item(db);
    let params = |ps: &[TypedParam]| {
        ps.iter()
            .map(|p| format!("{}: {}", p.name, p.ty))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (signature(db, snap.project, d.file, d.index), &item.kind) {
        (Signature::Record(fs), _) => {
            let body: String = fs
                .iter()
                .map(|f| format!("  {}: {}\n", f.name, f.ty))
                .collect();
            format!("record {} {{\n{body}}}", d.name)
        }
        (Signature::Enum(vs), _) => {
            let vs: Vec<&str> = vs.iter().map(|v| &**v).collect();
            format!("enum {} {{ {} }}", d.name, vs.join(", "))
        }
        (Signature::Action { params: ps, .. }, ItemKind::Action(a)) => {
            let mut s = format!("action {}({})", d.name, params(ps));
            if let Some(p) = &a.purpose {
                s.push_str(&format!(" purpose {}", p.name));
            }
            if let Some(r) = &a.risk {
                s.push_str(&format!(" risk {}", r.name));
            }
            s
        }
        (Signature::Callable { params: ps, ret }, ItemKind::Event(_)) => {
            let _ = ret;
            format!("event {}({})", d.name, params(ps))
        }
        (Signature::Callable { params: ps, ret }, _) => {
            format!("{} {}({}): {ret}", item.keyword(), d.name, params(ps))
        }
        _ => format!("{} {}", item.keyword(), d.name),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, CUSTOMER, at, snapshot};

    fn hover_at(files: &[(&str, &str)], path: &str, offset: usize) -> String {
        let (_st, snap) = snapshot(files);
        let file = snap.file(path).expect("file");
        hover(&snap, file, offset).expect("a hover").markdown
    }

    #[test]
    fn an_action_shows_its_purpose_and_risk_class() {
        let files = [("customer.xop", CUSTOMER), ("contact.xop", CONTACT)];
        let h = hover_at(&files, "contact.xop", at(CONTACT, "send_offer", 1, 2));
        assert!(
            h.contains(
                "action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal"
            ),
            "{h}"
        );
        assert!(h.contains("Offer something."), "{h}");
        assert!(h.contains("**Purpose** `marketing`"), "{h}");
        assert!(h.contains("**minimal risk**"), "{h}");
    }

    #[test]
    fn a_parameter_name_in_a_binding_shows_its_type_and_its_action() {
        let files = [("customer.xop", CUSTOMER), ("contact.xop", CONTACT)];
        // `channel` in `for send_offer(to: c, channel: ch)`.
        let h = hover_at(&files, "contact.xop", at(CONTACT, "channel: ch", 0, 2));
        assert!(h.contains("channel: Channel"), "{h}");
        assert!(
            h.contains("parameter of action `shop.contact.send_offer`"),
            "{h}"
        );
    }

    /// A syntax error in a rule loses only what could not be read: a field in the rule's other
    /// operand still shows its type (the whole rule used to be skipped).
    #[test]
    fn a_field_beside_a_syntax_error_shows_its_type() {
        let contact = CONTACT.replace(
            "deny \"cap\" when c.messages_7d >= 3",
            "deny \"cap\" when c.messages_7d >= 3 and consent(c, , ch)",
        );
        let files = [
            ("customer.xop", CUSTOMER),
            ("contact.xop", contact.as_str()),
        ];
        let h = hover_at(&files, "contact.xop", at(&contact, "messages_7d", 0, 1));
        assert!(h.contains("Customer.messages_7d: Int"), "{h}");
    }

    #[test]
    fn a_field_shows_its_type_and_doc() {
        let files = [("customer.xop", CUSTOMER), ("contact.xop", CONTACT)];
        let h = hover_at(&files, "contact.xop", at(CONTACT, "messages_7d", 0, 1));
        assert!(h.contains("Customer.messages_7d: Int"), "{h}");
        assert!(h.contains("Messages in the last 7 days."), "{h}");
    }

    #[test]
    fn a_compliance_diagnostic_shows_its_article() {
        let contact = CONTACT.replace("risk minimal", "risk high");
        let files = [
            ("customer.xop", CUSTOMER),
            ("contact.xop", contact.as_str()),
        ];
        let h = hover_at(&files, "contact.xop", at(&contact, "allow", 0, 1));
        assert!(h.contains("**C0001**"), "{h}");
        assert!(h.contains("Art. 14"), "{h}");
        // And the risk class itself, where it is declared.
        let h = hover_at(&files, "contact.xop", at(&contact, "high", 0, 1));
        assert!(h.contains("**high risk**") && h.contains("Art. 14"), "{h}");
    }

    /// Where a guard makes an optional place present, a local or a field shows its present
    /// type, as the checker gives it there (without the guard, `x + "b"` is E0302); its
    /// declaration, and a use the guard does not cover, show the declared type.
    #[test]
    fn a_guarded_optional_shows_its_present_type() {
        let src = "module shop.guarded\nuse shop.customer.Customer\n\
                   record R {\n  nickname: Text?\n}\n\
                   fn f(x: Text?): Bool = x is present and x + \"b\" == \"ab\"\n\
                   fn g(c: R): Bool = (c.nickname ?? \"a\") == \"a\" or (c.nickname is present and c.nickname + \"b\" == \"ab\")\n";
        let files = [("customer.xop", CUSTOMER), ("guarded.xop", src)];
        let (_st, snap) = snapshot(&files);
        let file = snap.file("guarded.xop").expect("file");
        let errors: Vec<_> = xop_compiler::db::file_diagnostics(&snap.db, snap.project, file)
            .iter()
            .filter(|d| d.code.starts_with('E'))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let shown = |needle: &str, nth: usize, plus: usize| {
            hover(&snap, file, at(src, needle, nth, plus))
                .expect("a hover")
                .markdown
        };
        // The local: declared, tested, then used where it is present.
        assert!(shown("x: Text?", 0, 0).contains("x: Text?\n"));
        assert!(shown("x is present", 0, 0).contains("x: Text?\n"));
        let h = shown("x + \"b\"", 0, 0);
        assert!(h.contains("```xop\nx: Text\n```"), "{h}");
        // The field: declared, read unguarded, tested, then read where it is present.
        assert!(shown("nickname: Text?", 0, 0).contains("R.nickname: Text?"));
        assert!(shown("c.nickname ??", 0, 2).contains("R.nickname: Text?"));
        assert!(shown("c.nickname is", 0, 2).contains("R.nickname: Text?"));
        let h = shown("c.nickname +", 0, 2);
        assert!(h.contains("```xop\nR.nickname: Text\n```"), "{h}");
    }

    #[test]
    fn an_expression_shows_its_type() {
        let files = [("customer.xop", CUSTOMER), ("contact.xop", CONTACT)];
        let h = hover_at(&files, "contact.xop", at(CONTACT, ">= 3", 0, 0));
        assert!(h.contains("```xop\nBool\n```"), "{h}");
    }
}
