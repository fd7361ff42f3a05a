//! What an editor asks about a checked project: what the name at an offset refers to, the type
//! of an expression, where a declaration is used, which local names are in scope. The language
//! server (`lsp/`) turns the answers into protocol messages; nothing here knows about it.
//!
//! The answers come from the type checker itself: [`item_notes`] re-runs the check of one item
//! with a [`Checker`] that takes notes, so that hover and navigation agree with the diagnostics
//! by construction. The notes are a salsa query of their own, computed on demand and only for
//! the items an editor asks about (find-references asks about all of them).

use std::sync::Arc;

use crate::ast::{self, ItemKind, TypeExpr, UseKind};
use crate::db::{Db, Project, SourceFile, item_ast, parse_file};
use crate::resolve::{self, Def, Signature};
use crate::span::Span;
use crate::types::{Checker, Ty};

/// What a name written in the source refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A declaration (record, action, purpose, function, …).
    Def(Def),
    /// A local name (a parameter, a policy binding, a lambda's parameter, a test's `let`),
    /// identified by where it is bound.
    Local {
        /// The file it is bound in.
        file: SourceFile,
        /// Where its binding is written.
        span: Span,
    },
    /// A field of a record.
    Field {
        /// The record.
        record: Def,
        /// The field's name.
        name: Arc<str>,
    },
    /// A value of an enum.
    Variant {
        /// The enum.
        def: Def,
        /// The value's name.
        name: Arc<str>,
    },
    /// A module, by the file that declares it.
    Module(SourceFile),
}

/// A name in the source and what it refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ref {
    /// Where the name is written (the name only, not a whole path).
    pub span: Span,
    /// What it refers to.
    pub target: Target,
}

/// A local name in scope somewhere in an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Local {
    /// Its name.
    pub name: Arc<str>,
    /// Where it is bound.
    pub span: Span,
    /// Where it is visible; `None` for the whole item.
    pub scope: Option<Span>,
    /// Its type.
    pub ty: Ty,
}

/// What checking an item (or a file's `module` and `use` lines) tells an editor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Notes {
    /// The type of each expression.
    pub types: Vec<(Span, Ty)>,
    /// Each name and what it refers to, declarations included.
    pub refs: Vec<Ref>,
    /// The local names bound in the item.
    pub locals: Vec<Local>,
}

/// The notes of item `index` of `file`.
#[salsa::tracked(returns(ref))]
pub fn item_notes(db: &dyn Db, project: Project, file: SourceFile, index: u32) -> Notes {
    let Some(item) = item_ast(db, file, index) else {
        return Notes::default();
    };
    let scope = resolve::file_scope(db, project, file);
    let mut c = Checker::new(db, project, file, scope);
    c.notes = Some(Box::default());
    crate::check::check_item_with(&mut c, db, project, file, index, item);
    let mut notes = c.notes.take().map(|n| *n).unwrap_or_default();
    declarations(db, project, file, index, item, &mut notes);
    let mut seen = std::collections::BTreeSet::new();
    notes
        .locals
        .retain(|l| seen.insert((l.name.clone(), l.span, l.scope)));
    for l in &notes.locals {
        notes.refs.push(Ref {
            span: l.span,
            target: Target::Local { file, span: l.span },
        });
        notes.types.push((l.span, l.ty.clone()));
    }
    finish(db, file, &mut notes);
    notes
}

/// The notes of a file's `module` and `use` lines.
#[salsa::tracked(returns(ref))]
pub fn file_notes(db: &dyn Db, project: Project, file: SourceFile) -> Notes {
    let parsed = parse_file(db, file);
    let modules = resolve::module_index(db, project);
    let mut notes = Notes::default();
    if let Some(m) = &parsed.ast.module {
        notes.refs.push(Ref {
            span: m.path.span,
            target: Target::Module(file),
        });
    }
    for u in &parsed.ast.uses {
        let segs = &u.path.segments;
        let module_len = match u.kind {
            UseKind::Single { .. } => segs.len().saturating_sub(1),
            UseKind::Glob | UseKind::Group(_) => segs.len(),
        };
        let module_segs = &segs[..module_len];
        let name: Vec<&str> = module_segs.iter().map(|s| s.name.as_str()).collect();
        let Some(&module_file) = modules.by_name.get(&name.join(".")) else {
            continue;
        };
        if let (Some(a), Some(b)) = (module_segs.first(), module_segs.last()) {
            notes.refs.push(Ref {
                span: a.span.to(b.span),
                target: Target::Module(module_file),
            });
        }
        let table = resolve::item_table(db, module_file);
        let item = |ident: &ast::Ident, at: Span, notes: &mut Notes| {
            if let Some(def) = table.by_name.get(ident.name.as_str()) {
                notes.refs.push(Ref {
                    span: at,
                    target: Target::Def(def.clone()),
                });
            }
        };
        match &u.kind {
            UseKind::Single { alias } => {
                let last = u.path.last();
                item(last, last.span, &mut notes);
                if let Some(a) = alias {
                    item(last, a.span, &mut notes);
                }
            }
            UseKind::Group(names) => {
                for n in names {
                    item(n, n.span, &mut notes);
                }
            }
            UseKind::Glob => {}
        }
    }
    notes
}

/// Adds what an item declares: its own name, its fields and values, the types it writes.
fn declarations(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
    item: &ast::Item,
    notes: &mut Notes,
) {
    let this = item.name().and_then(|n| {
        resolve::item_table(db, file)
            .by_name
            .get(n.name.as_str())
            .filter(|d| d.index == index)
            .cloned()
    });
    if let Some(def) = &this {
        notes.refs.push(Ref {
            span: def.span,
            target: Target::Def(def.clone()),
        });
    }
    let mut types: Vec<&TypeExpr> = Vec::new();
    fn params<'a>(ps: &'a [ast::Param], types: &mut Vec<&'a TypeExpr>) {
        types.extend(ps.iter().map(|p| &p.ty));
    }
    match &item.kind {
        ItemKind::Record(r) => {
            for f in &r.fields {
                types.push(&f.ty);
                if let Some(def) = &this {
                    notes.refs.push(Ref {
                        span: f.name.span,
                        target: Target::Field {
                            record: def.clone(),
                            name: Arc::from(f.name.name.as_str()),
                        },
                    });
                }
            }
        }
        ItemKind::Enum(e) => {
            if let Some(def) = &this {
                for v in &e.variants {
                    notes.refs.push(Ref {
                        span: v.name.span,
                        target: Target::Variant {
                            def: def.clone(),
                            name: Arc::from(v.name.name.as_str()),
                        },
                    });
                }
            }
        }
        ItemKind::Action(a) => params(&a.params, &mut types),
        ItemKind::Signal(s) => {
            params(&s.params, &mut types);
            types.push(&s.ty);
        }
        ItemKind::Event(e) => params(&e.params, &mut types),
        ItemKind::Fn(f) => {
            params(&f.params, &mut types);
            types.push(&f.ret);
        }
        ItemKind::Decision(d) => params(&d.params, &mut types),
        ItemKind::Journey(j) => params(&j.params, &mut types),
        _ => {}
    }
    for t in types {
        type_refs(db, project, file, t, notes);
    }
}

fn type_refs(db: &dyn Db, project: Project, file: SourceFile, t: &TypeExpr, notes: &mut Notes) {
    match t {
        TypeExpr::Named { path, args, .. } => {
            if let Some(def) = resolve::resolve_path(db, project, file, path) {
                notes.refs.push(Ref {
                    span: path.last().span,
                    target: Target::Def(def),
                });
            }
            for a in args {
                type_refs(db, project, file, a, notes);
            }
        }
        TypeExpr::Optional { inner, .. } => type_refs(db, project, file, inner, notes),
        TypeExpr::Open { fields, .. } => {
            for (_, f) in fields {
                type_refs(db, project, file, f, notes);
            }
        }
        TypeExpr::Error(_) => {}
    }
}

/// Narrows each reference to the name itself (a call's callee may be a whole path) and drops
/// duplicates (the checker may visit an expression twice).
fn finish(db: &dyn Db, file: SourceFile, notes: &mut Notes) {
    let text = file.text(db);
    for r in &mut notes.refs {
        let name = match &r.target {
            Target::Def(d) => d.name.clone(),
            Target::Field { name, .. } | Target::Variant { name, .. } => name.clone(),
            Target::Local { span, .. } => match text.get(span.range()) {
                Some(s) => Arc::from(s),
                None => continue,
            },
            Target::Module(_) => continue,
        };
        let written = text.get(r.span.range()).unwrap_or("");
        // Only a path's last segment is narrowed: an alias that merely ends with the name
        // (`local_gw` for `gw`) is a name of its own.
        let qualified = written
            .strip_suffix(&*name)
            .is_some_and(|path| path.trim_end().ends_with('.'));
        if qualified {
            r.span = Span::new(r.span.end() - name.len(), r.span.end());
        }
    }
    // Keyed by value: a target's `Debug` text would include its file's whole text, which made
    // this quadratic in the file's size.
    let mut seen = std::collections::HashSet::new();
    notes
        .refs
        .retain(|r| seen.insert((r.span, r.target.clone())));
    let mut seen = std::collections::BTreeSet::new();
    notes
        .types
        .retain(|(s, t)| seen.insert((*s, t.to_string())));
}

/// The index of the item of `file` whose span contains `offset`.
pub fn item_at(db: &dyn Db, file: SourceFile, offset: usize) -> Option<u32> {
    parse_file(db, file)
        .ast
        .items
        .iter()
        .position(|i| i.span.contains(offset))
        .and_then(|i| u32::try_from(i).ok())
}

/// The name at `offset` (a cursor just after a name counts) and what it refers to.
pub fn target_at(db: &dyn Db, project: Project, file: SourceFile, offset: usize) -> Option<Ref> {
    let mut refs: Vec<&Ref> = file_notes(db, project, file)
        .refs
        .iter()
        .filter(|r| r.span.contains(offset))
        .collect();
    if let Some(i) = item_at(db, file, offset) {
        refs.extend(
            item_notes(db, project, file, i)
                .refs
                .iter()
                .filter(|r| r.span.contains(offset)),
        );
    }
    // The smallest span wins; at a boundary between two names, the one that starts here.
    refs.into_iter()
        .min_by_key(|r| (r.span.end() - r.span.start(), r.span.start() != offset))
        .cloned()
}

/// The innermost expression at `offset` and its type.
pub fn type_at(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    offset: usize,
) -> Option<(Span, Ty)> {
    let i = item_at(db, file, offset)?;
    item_notes(db, project, file, i)
        .types
        .iter()
        .filter(|(s, _)| s.contains(offset))
        .min_by_key(|(s, _)| s.end() - s.start())
        .cloned()
}

/// Where `target` is declared.
pub fn definition(db: &dyn Db, target: &Target) -> Option<(SourceFile, Span)> {
    match target {
        Target::Def(d) => Some((d.file, d.span)),
        Target::Local { file, span } => Some((*file, *span)),
        Target::Field { record, name } => match &record.item(db).kind {
            ItemKind::Record(r) => r
                .fields
                .iter()
                .find(|f| *f.name.name == **name)
                .map(|f| (record.file, f.name.span)),
            _ => None,
        },
        Target::Variant { def, name } => match &def.item(db).kind {
            ItemKind::Enum(e) => e
                .variants
                .iter()
                .find(|v| *v.name.name == **name)
                .map(|v| (def.file, v.name.span)),
            _ => None,
        },
        Target::Module(f) => {
            let span = parse_file(db, *f)
                .ast
                .module
                .as_ref()
                .map_or(Span::new(0, 0), |m| m.path.span);
            Some((*f, span))
        }
    }
}

/// Every place `target` is written in the project, its declaration included, sorted.
pub fn references(db: &dyn Db, project: Project, target: &Target) -> Vec<(SourceFile, Span)> {
    let mut out = Vec::new();
    let mut scan = |file: SourceFile, notes: &Notes| {
        out.extend(
            notes
                .refs
                .iter()
                .filter(|r| r.target == *target)
                .map(|r| (file, r.span)),
        );
    };
    if let Target::Local { file, span } = target {
        if let Some(i) = item_at(db, *file, span.start()) {
            scan(*file, item_notes(db, project, *file, i));
        }
    } else {
        for &file in project.files(db) {
            scan(file, file_notes(db, project, file));
            let n = parse_file(db, file).ast.items.len();
            for i in 0..n {
                scan(
                    file,
                    item_notes(db, project, file, u32::try_from(i).unwrap_or(u32::MAX)),
                );
            }
        }
    }
    out.sort_by_key(|(f, s)| (f.path(db).clone(), *s));
    out.dedup();
    out
}

/// The local names visible at `offset`.
pub fn locals_at(db: &dyn Db, project: Project, file: SourceFile, offset: usize) -> Vec<Local> {
    let Some(i) = item_at(db, file, offset) else {
        return Vec::new();
    };
    visible(&item_notes(db, project, file, i).locals, offset)
}

/// The local names visible at `offset` once `insert` is written there. Completion asks right
/// after a `.` (`fn f(c: Customer): Bool = c.`), where the item does not parse, so binds
/// nothing, until a name follows the dot: with one inserted, it does. Not a query: the edited
/// text is parsed and its item checked on each call.
pub fn locals_at_with(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    offset: usize,
    insert: &str,
) -> Vec<Local> {
    notes_with(db, project, file, offset, insert)
        .map(|n| visible(&n.locals, offset))
        .unwrap_or_default()
}

/// The notes of the item at `offset` once `insert` is written there: the edited text parsed
/// and that item checked (not a query: on each call). `None` when no item is there.
fn notes_with(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    offset: usize,
    insert: &str,
) -> Option<Notes> {
    let text = file.text(db);
    let (before, after) = (text.get(..offset)?, text.get(offset..)?);
    let parsed = crate::parse::parse(file.path(db), &format!("{before}{insert}{after}"));
    let (index, item) =
        (parsed.ast.items.iter().enumerate()).find(|(_, it)| it.span.contains(offset))?;
    let scope = resolve::file_scope(db, project, file);
    let mut c = Checker::new(db, project, file, scope);
    c.notes = Some(Box::default());
    let index = u32::try_from(index).unwrap_or(u32::MAX);
    crate::check::check_item_with(&mut c, db, project, file, index, item);
    c.notes.take().map(|n| *n)
}

/// The type of the expression written just before a `.` that ends at byte `end` (a local, a
/// field chain, a call's result, a parenthesised expression), from the item's notes when it
/// parses as it is (a name is typed after the dot), else once `insert` is written at `offset`
/// (the cursor, after the dot). `None` when no expression ends there.
///
/// A field access binds tighter than any operator, so the widest expression that ends right
/// before the dot is the receiver.
pub fn receiver_type_at(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    end: usize,
    offset: usize,
    inserts: &[&str],
) -> Option<Ty> {
    let widest = |types: &[(Span, Ty)]| {
        types
            .iter()
            .filter(|(s, _)| s.end() == end && s.start() < end)
            .max_by_key(|(s, _)| s.end() - s.start())
            .map(|(_, t)| t.clone())
    };
    if let Some(i) = item_at(db, file, offset)
        && let Some(t) = widest(&item_notes(db, project, file, i).types)
    {
        return Some(t);
    }
    inserts
        .iter()
        .find_map(|insert| widest(&notes_with(db, project, file, offset, insert)?.types))
}

/// The locals of `locals` visible at `offset`, the innermost of each name.
fn visible(locals: &[Local], offset: usize) -> Vec<Local> {
    let mut out: Vec<Local> = locals
        .iter()
        .filter(|l| l.scope.is_none_or(|s| s.contains(offset)))
        .cloned()
        .collect();
    // The innermost binding of a name shadows the others.
    out.sort_by_key(|l| {
        (
            l.name.clone(),
            l.scope.map_or(usize::MAX, |s| s.end() - s.start()),
        )
    });
    out.dedup_by(|b, a| a.name == b.name);
    out
}

/// The fields of a record type (of the present type, for `T?`), with their types.
pub fn fields_of(db: &dyn Db, project: Project, ty: &Ty) -> Vec<(Arc<str>, Ty)> {
    match ty.present() {
        Ty::Record(def) => match resolve::signature(db, project, def.file, def.index) {
            Signature::Record(fs) => fs.iter().map(|p| (p.name.clone(), p.ty.clone())).collect(),
            _ => Vec::new(),
        },
        Ty::Open(fs) => fs.clone(),
        _ => Vec::new(),
    }
}

/// The doc comment of what `target` refers to, as lines.
pub fn docs(db: &dyn Db, target: &Target) -> Vec<String> {
    match target {
        Target::Def(d) => d.item(db).docs.clone(),
        Target::Field { record, name } => match &record.item(db).kind {
            ItemKind::Record(r) => r
                .fields
                .iter()
                .find(|f| *f.name.name == **name)
                .map(|f| f.docs.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        },
        Target::Variant { def, name } => match &def.item(db).kind {
            ItemKind::Enum(e) => e
                .variants
                .iter()
                .find(|v| *v.name.name == **name)
                .map(|v| v.docs.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        },
        Target::Module(f) => parse_file(db, *f)
            .ast
            .module
            .as_ref()
            .map(|m| m.docs.clone())
            .unwrap_or_default(),
        Target::Local { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Workspace;

    const SRC: &str = "module a\n\
        record Customer {\n  /// how many\n  messages_7d: Int\n  vip: Bool\n}\n\
        enum Segment { gold, silver }\n\
        fn busy(c: Customer): Bool = c.messages_7d > 3 and c.vip\n";

    fn at(text: &str, needle: &str, nth: usize) -> usize {
        text.match_indices(needle)
            .nth(nth)
            .map(|(i, _)| i)
            .expect("needle")
    }

    #[test]
    fn a_field_use_refers_to_its_declaration() {
        let mut ws = Workspace::new();
        let file = ws.set_file("a.xop", SRC);
        let off = at(SRC, "messages_7d", 1) + 2;
        let r = target_at(ws.db(), ws.project(), file, off).expect("a name");
        let (f, span) = definition(ws.db(), &r.target).expect("declared");
        assert_eq!(f, file);
        assert_eq!(&SRC[span.range()], "messages_7d");
        assert_eq!(span.start(), at(SRC, "messages_7d", 0));
        assert_eq!(docs(ws.db(), &r.target), vec!["how many".to_string()]);
    }

    #[test]
    fn locals_and_types() {
        let mut ws = Workspace::new();
        let file = ws.set_file("a.xop", SRC);
        let off = at(SRC, "c.vip", 0);
        let r = target_at(ws.db(), ws.project(), file, off).expect("a name");
        let refs = references(ws.db(), ws.project(), &r.target);
        // `c: Customer` and its two uses.
        assert_eq!(refs.len(), 3, "{refs:?}");
        let (_, ty) = type_at(ws.db(), ws.project(), file, off).expect("typed");
        assert_eq!(ty.to_string(), "Customer");
        let locals = locals_at(ws.db(), ws.project(), file, off);
        assert_eq!(locals.len(), 1);
        assert_eq!(&*locals[0].name, "c");
        let fields = fields_of(ws.db(), ws.project(), &locals[0].ty);
        let names: Vec<&str> = fields.iter().map(|(n, _)| &**n).collect();
        assert_eq!(names, vec!["messages_7d", "vip"]);
    }

    /// An optional place is shown with its present type where it is known to be present.
    #[test]
    fn a_narrowed_place_has_its_present_type() {
        let src = "module a\nrecord C {\n  email: Text?\n}\n\
                   fn f(c: C): Bool = c.email == \"x\" or (c.email is present and c.email == \"y\")\n";
        let mut ws = Workspace::new();
        let file = ws.set_file("a.xop", src);
        let ty = |nth| {
            let off = at(src, "c.email", nth) + 3;
            type_at(ws.db(), ws.project(), file, off)
                .expect("typed")
                .1
                .to_string()
        };
        assert_eq!(ty(0), "Text?");
        assert_eq!(ty(1), "Text?");
        assert_eq!(ty(2), "Text");
    }

    #[test]
    fn duplicate_notes_are_dropped_and_distinct_ones_kept() {
        let mut ws = Workspace::new();
        let a = ws.set_file("a.xop", SRC);
        let b = ws.set_file("b.xop", SRC);
        let c = Span::new(at(SRC, "c: Customer", 0), at(SRC, "c: Customer", 0) + 1);
        let vip = Span::new(at(SRC, "vip", 1), at(SRC, "vip", 1) + 3);
        let local = |file| Target::Local { file, span: c };
        let r = |span, target| Ref { span, target };
        let mut notes = Notes {
            refs: vec![
                r(c, local(a)),
                r(vip, local(a)),
                r(c, local(a)),
                // The same place and name, bound in another file: another target.
                r(c, local(b)),
                r(vip, local(a)),
            ],
            ..Notes::default()
        };
        finish(ws.db(), a, &mut notes);
        assert_eq!(
            notes.refs,
            vec![r(c, local(a)), r(vip, local(a)), r(c, local(b))]
        );
    }

    /// A record value bound by a test's `let` has its record type only where it is used: its
    /// fields are references of that record's fields all the same (else renaming a field
    /// would leave the test's values behind, and the test would no longer compile).
    #[test]
    fn fields_of_record_values_in_test_lets_are_references() {
        let src = "module a\nuse std.consent.service\n\
            record Cust {\n  id: Id\n  score: Int\n}\n\
            action act(to: Cust) purpose service risk minimal\n\
            policy p for act(to: c) {\n  deny \"x\" when c.score > 5\n  allow \"ok\"\n}\n\
            test \"t\" {\n  let one = { score: 9, .. }\n  let many = [{ score: 1, .. }]\n\
              expect p(act(to: one)) == deny(\"x\")\n\
              expect p(act(to: { score: 2, .. })) == allow(\"ok\")\n}\n";
        let mut ws = Workspace::new();
        let file = ws.set_file("a.xop", src);
        let off = at(src, "score", 0);
        let r = target_at(ws.db(), ws.project(), file, off).expect("a name");
        let refs = references(ws.db(), ws.project(), &r.target);
        let starts: Vec<usize> = refs.iter().map(|(_, s)| s.start()).collect();
        // Declared; read by `c.score`; written in `one` (used as a `Cust`) and in the
        // literal in place. `many` is never used as a record: its field refers to nothing.
        for nth in [0, 1, 2, 4] {
            assert!(
                starts.contains(&at(src, "score", nth)),
                "score #{nth}: {starts:?}"
            );
        }
        assert!(!starts.contains(&at(src, "score", 3)), "{starts:?}");
        assert_eq!(refs.len(), 4, "{starts:?}");
    }

    #[test]
    fn references_cross_files() {
        let mut ws = Workspace::new();
        ws.set_file("a.xop", SRC);
        let b = "module b\nuse a.Customer\nfn f(x: Customer): Bool = x.vip\n";
        let fb = ws.set_file("b.xop", b);
        let off = b.rfind("Customer").expect("needle");
        let r = target_at(ws.db(), ws.project(), fb, off).expect("a name");
        assert!(matches!(&r.target, Target::Def(d) if &*d.name == "Customer"));
        let refs = references(ws.db(), ws.project(), &r.target);
        let files: Vec<String> = refs
            .iter()
            .map(|(f, s)| format!("{}:{}", f.path(ws.db()), s.start()))
            .collect();
        // Declared in a.xop, used in b.xop's `use`, and its parameter type, and a's own `c: Customer`.
        assert_eq!(refs.len(), 4, "{files:?}");
    }
}
