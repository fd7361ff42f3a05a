//! Document symbols (the outline: declarations with their fields, values, rules, states) and
//! workspace symbols (every declaration of the project, the stdlib's included).

use xop_compiler::ast::{self, ItemKind};
use xop_compiler::db::{SourceFile, parse_file};
use xop_compiler::resolve::{DefKind, item_table};
use xop_compiler::span::Span;

use crate::state::Snapshot;

/// What kind of symbol (the server maps it to the protocol's kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    /// The file's module.
    Module,
    /// A declaration.
    Def(DefKind),
    /// A test.
    Test,
    /// A record field.
    Field,
    /// An enum value.
    EnumValue,
    /// A policy rule.
    Rule,
    /// A journey state.
    State,
}

/// One symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    /// Its name.
    pub name: String,
    /// A short description (a rule's verdict, a field's type as written).
    pub detail: Option<String>,
    /// What it is.
    pub kind: SymbolKind,
    /// The whole declaration.
    pub span: Span,
    /// Its name.
    pub selection: Span,
    /// What it contains.
    pub children: Vec<Symbol>,
}

fn leaf(
    name: &str,
    kind: SymbolKind,
    span: Span,
    selection: Span,
    detail: Option<String>,
) -> Symbol {
    Symbol {
        name: name.to_string(),
        detail,
        kind,
        span,
        selection,
        children: Vec::new(),
    }
}

/// The outline of `file`.
pub fn document(snap: &Snapshot, file: SourceFile) -> Vec<Symbol> {
    let parsed = parse_file(&snap.db, file);
    let text = snap.text(file);
    let mut out = Vec::new();
    if let Some(m) = &parsed.ast.module {
        out.push(leaf(
            &m.path.dotted(),
            SymbolKind::Module,
            m.span,
            m.path.span,
            None,
        ));
    }
    for item in &parsed.ast.items {
        if let Some(s) = item_symbol(item, &text) {
            out.push(s);
        }
    }
    out
}

fn item_symbol(item: &ast::Item, text: &str) -> Option<Symbol> {
    let written = |s: Span| text.get(s.range()).unwrap_or("").to_string();
    let (name, selection, kind) = match &item.kind {
        ItemKind::Test(t) => (t.name.value.clone(), t.name.span, SymbolKind::Test),
        ItemKind::Error => return None,
        k => {
            let n = item.name()?;
            (n.name.clone(), n.span, SymbolKind::Def(DefKind::of(k)?))
        }
    };
    let mut children = Vec::new();
    match &item.kind {
        ItemKind::Record(r) => {
            for f in &r.fields {
                children.push(leaf(
                    &f.name.name,
                    SymbolKind::Field,
                    f.span,
                    f.name.span,
                    Some(written(f.ty.span())),
                ));
            }
        }
        ItemKind::Enum(e) => {
            for v in &e.variants {
                children.push(leaf(
                    &v.name.name,
                    SymbolKind::EnumValue,
                    v.name.span,
                    v.name.span,
                    None,
                ));
            }
        }
        ItemKind::Policy(p) => {
            for r in &p.rules {
                if let ast::Rule::Rule {
                    kind, reason, span, ..
                } = r
                {
                    let verdict = match kind {
                        ast::RuleKind::Deny => "deny",
                        ast::RuleKind::Allow => "allow",
                        ast::RuleKind::Review { .. } => "review",
                    };
                    let (name, sel) = match reason {
                        Some(t) => (t.value.clone(), t.span),
                        None => (verdict.to_string(), *span),
                    };
                    children.push(leaf(
                        &name,
                        SymbolKind::Rule,
                        *span,
                        sel,
                        Some(verdict.to_string()),
                    ));
                }
            }
        }
        ItemKind::Journey(j) => {
            for s in &j.states {
                children.push(leaf(
                    &s.name.name,
                    SymbolKind::State,
                    s.span,
                    s.name.span,
                    None,
                ));
            }
        }
        _ => {}
    }
    Some(Symbol {
        name,
        detail: Some(item.keyword().to_string()),
        kind,
        span: item.span,
        selection,
        children,
    })
}

/// The declarations of the workspace's files and the stdlib whose name contains `query`
/// (ignoring case), with their files; those of the workspace first, then the stdlib's.
pub fn workspace(snap: &Snapshot, query: &str) -> Vec<(SourceFile, Symbol, String)> {
    let query = query.to_lowercase();
    let mut out = Vec::new();
    let mut files = snap.files();
    // A document that is not a file of the workspace (a diff view's copy) would list its
    // declarations twice.
    files.retain(|f| snap.is_stdlib(*f) || snap.is_workspace_file(*f));
    files.sort_by_key(|f| (snap.is_stdlib(*f), snap.path(*f)));
    for file in files {
        for def in item_table(&snap.db, file).by_name.values() {
            if !def.name.to_lowercase().contains(&query) {
                continue;
            }
            let item = def.item(&snap.db);
            let container = xop_compiler::resolve::module_name(&snap.db, file);
            out.push((
                file,
                leaf(
                    &def.name,
                    SymbolKind::Def(def.kind),
                    item.span,
                    def.span,
                    None,
                ),
                container,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, CUSTOMER, snapshot};

    #[test]
    fn outline_and_workspace_search() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let file = snap.file("customer.xop").expect("file");
        let syms = document(&snap, file);
        let names: Vec<&str> = syms.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "shop.customer",
                "marketing",
                "fraud_desk",
                "Segment",
                "Customer"
            ]
        );
        let fields: Vec<&str> = syms[4].children.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(fields, ["id", "segment", "messages_7d", "consents"]);
        assert_eq!(syms[4].kind, SymbolKind::Def(DefKind::Record));
        let file = snap.file("contact.xop").expect("file");
        let rules: Vec<String> = document(&snap, file)[2]
            .children
            .iter()
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(rules, ["no-consent", "cap", "ok"]);
        let found = workspace(&snap, "MARKET");
        assert_eq!(&*snap.path(found[0].0), "customer.xop");
        assert!(
            found.iter().skip(1).all(|(f, _, _)| snap.is_stdlib(*f)),
            "the workspace's first"
        );
        assert_eq!(found[0].2, "shop.customer");
    }
}
