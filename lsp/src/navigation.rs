//! Go to definition, find references and rename, from the compiler's own name resolution
//! ([`xop_compiler::ide`]), and for the named parameters of actions, events, functions,
//! intrinsics and signals, whose names written in bindings and named arguments are not names
//! in scope, from [`crate::params`].

use std::collections::HashSet;
use std::sync::Arc;

use xop_compiler::ast::{ItemKind, TestStmt, TypeExpr};
use xop_compiler::db::{SourceFile, parse_file};
use xop_compiler::ide::{self, Target};
use xop_compiler::lexer::lex;
use xop_compiler::resolve::{
    self, BUILTIN_TYPES, Def, DefKind, Lookup, Scope, Signature, file_scope,
};
use xop_compiler::span::Span;
use xop_compiler::types::{Ty, compatible};

use crate::lines::LineIndex;
use crate::params::{self, Site};
use crate::state::Snapshot;

/// Replacements in one file: span → new text.
pub type FileEdits = (SourceFile, Vec<(Span, String)>);

/// Why a name of the standard library is not renamed, after "… is".
pub(crate) const STDLIB_READ_ONLY: &str =
    "declared by the standard library, which cannot be edited";

/// The named parameter at `offset` that rename and find references work on, with where its
/// name is written there. A binding written as the name alone (`for a(channel)`) is also its
/// local's declaration: those requests work on the local there, as for any local. A use of a
/// function's or a signal's parameter in its body is a local bound at the parameter's
/// declaration: they work on the parameter, which is also written at call sites
/// (`quiet(hour: h)`).
fn param_at(snap: &Snapshot, file: SourceFile, offset: usize) -> Option<(Site, Span)> {
    if let Some(site) = params::site_at(snap, file, offset) {
        let span = site.span;
        return (!site.shorthand).then_some((site, span));
    }
    let r = ide::target_at(&snap.db, snap.project, file, offset)?;
    match r.target {
        Target::Local { file, span } => params::declared_at(snap, file, span).map(|s| (s, r.span)),
        _ => None,
    }
}

/// Where the name at `offset` is declared (possibly in the stdlib): one place, or for a
/// parameter bound by a `for purpose P(...)` policy, its declaration in each action of `P`.
pub fn definition(snap: &Snapshot, file: SourceFile, offset: usize) -> Vec<(SourceFile, Span)> {
    // A shorthand binding's local is declared right there: its parameter is the useful answer.
    if let Some(site) = params::site_at(snap, file, offset) {
        return params::definitions(snap, &site);
    }
    ide::target_at(&snap.db, snap.project, file, offset)
        .and_then(|r| ide::definition(&snap.db, &r.target))
        .into_iter()
        .collect()
}

/// Every place the name at `offset` refers to the same thing, with or without its
/// declaration.
pub fn references(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    include_declaration: bool,
) -> Vec<(SourceFile, Span)> {
    let shown = |f: SourceFile| f == file || snap.is_workspace_file(f) || snap.is_stdlib(f);
    if let Some((site, _)) = param_at(snap, file, offset) {
        return params::references(snap, &params::group(snap, &site))
            .into_iter()
            .filter(|s| include_declaration || !s.declaration)
            .filter(|s| shown(s.file))
            .map(|s| (s.file, s.span))
            .collect();
    }
    let Some(r) = ide::target_at(&snap.db, snap.project, file, offset) else {
        return Vec::new();
    };
    let decl = ide::definition(&snap.db, &r.target);
    ide::references(&snap.db, snap.project, &r.target)
        .into_iter()
        .filter(|loc| include_declaration || Some(*loc) != decl)
        .filter(|(f, _)| shown(*f))
        .collect()
}

/// The name that would be renamed at `offset`, or why it cannot be.
pub fn prepare_rename(snap: &Snapshot, file: SourceFile, offset: usize) -> Result<Span, String> {
    if let Some((site, span)) = param_at(snap, file, offset) {
        params::check_renamable(snap, &params::group(snap, &site))?;
        return Ok(span);
    }
    let r = ide::target_at(&snap.db, snap.project, file, offset)
        .ok_or_else(|| nothing_to_rename(snap, file, offset))?;
    if alias(snap, file, &r).is_none() {
        check_renamable(snap, &r.target)?;
    }
    Ok(r.span)
}

/// The edits that rename the name at `offset` to `new_name`, by file. Only files of the
/// workspace are edited (and the document asked about): a document of another scheme, such
/// as a diff view's `git:` copy of a file, is not the workspace's.
pub fn rename(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    new_name: &str,
) -> Result<Vec<FileEdits>, String> {
    let mut edits = rename_everywhere(snap, file, offset, new_name)?;
    edits.retain(|(f, _)| *f == file || snap.is_workspace_file(*f));
    Ok(edits)
}

/// [`rename`], in every file that writes the name.
fn rename_everywhere(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    new_name: &str,
) -> Result<Vec<FileEdits>, String> {
    check_new_name(new_name)?;
    if let Some((site, _)) = param_at(snap, file, offset) {
        return rename_param(snap, &site, new_name);
    }
    let r = ide::target_at(&snap.db, snap.project, file, offset)
        .ok_or_else(|| nothing_to_rename(snap, file, offset))?;
    if let Some(old) = alias(snap, file, &r) {
        return rename_alias(snap, file, &r.target, &old, new_name);
    }
    check_renamable(snap, &r.target)?;
    let old = snap
        .text(file)
        .get(r.span.range())
        .unwrap_or_default()
        .to_string();
    if new_name != old {
        check_clashes(snap, &r.target, &old, new_name)?;
    }
    // A local bound by a shorthand binding keeps binding its parameter: `for a(channel)`
    // becomes `for a(channel: ch)`. A local's uses are all in its item: its shorthand
    // bindings are read once, not at each use (which made renaming quadratic in the uses).
    let shorthands: HashSet<(SourceFile, Span)> = match r.target {
        Target::Local { file: f, span } if new_name != old => {
            params::shorthands_at(snap, f, span.start())
                .into_iter()
                .map(|s| (f, s))
                .collect()
        }
        _ => HashSet::new(),
    };
    let mut out: Vec<FileEdits> = Vec::new();
    for (f, span) in ide::references(&snap.db, snap.project, &r.target) {
        // A name imported under an alias (`use a.x as y`) keeps its alias.
        if snap.text(f).get(span.range()) != Some(old.as_str()) {
            continue;
        }
        let shorthand = shorthands.contains(&(f, span));
        let text = if shorthand {
            format!("{old}: {new_name}")
        } else {
            new_name.to_string()
        };
        push_edit(&mut out, f, span, text);
    }
    Ok(out)
}

/// Why there is nothing to rename at `offset`: a field of an open record type (where the type
/// writes it, `{ score: Int, .. }`, or where a value of that type is read, `x.score`), which
/// names no record and is not renamed; else no name at all.
fn nothing_to_rename(snap: &Snapshot, file: SourceFile, offset: usize) -> String {
    let text = snap.text(file);
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    let start = text
        .get(..offset)
        .and_then(|t| t.char_indices().rev().find(|(_, c)| !is_name(*c)))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let end = text
        .get(offset..)
        .and_then(|t| t.char_indices().find(|(_, c)| !is_name(*c)))
        .map_or(text.len(), |(i, _)| offset + i);
    let name = text.get(start..end).unwrap_or_default();
    let open = if name.is_empty() {
        None
    } else {
        open_field_declared(snap, file, start).or_else(|| open_field_read(snap, file, start))
    };
    match open {
        Some(ty) => format!(
            "`{name}` here is a field of the open record type `{ty}`, which names no record: \
             it is not renamed; to rename it, edit this type and what reads the field through \
             it by hand, then rename the field of each record passed"
        ),
        None => "there is no name here to rename".to_string(),
    }
}

/// The open record type, as written, of a parameter of an item of `file` that writes a field
/// name at `start`.
fn open_field_declared(snap: &Snapshot, file: SourceFile, start: usize) -> Option<String> {
    fn find(t: &TypeExpr, start: usize) -> Option<Span> {
        match t {
            TypeExpr::Open { fields, span } => fields.iter().find_map(|(n, ty)| {
                if n.span.start() == start {
                    Some(*span)
                } else {
                    find(ty, start)
                }
            }),
            TypeExpr::Named { args, .. } => args.iter().find_map(|a| find(a, start)),
            TypeExpr::Optional { inner, .. } => find(inner, start),
            TypeExpr::Error(_) => None,
        }
    }
    let i = ide::item_at(&snap.db, file, start)?;
    let item = parse_file(&snap.db, file).ast.items.get(i as usize)?;
    let params = match &item.kind {
        ItemKind::Action(a) => &a.params,
        ItemKind::Event(e) => &e.params,
        ItemKind::Fn(f) => &f.params,
        ItemKind::Signal(s) => &s.params,
        _ => return None,
    };
    let span = params.iter().find_map(|p| find(&p.ty, start))?;
    Some(snap.text(file).get(span.range())?.to_string())
}

/// The open record type of the value read by `.name` with `name` at `start`.
fn open_field_read(snap: &Snapshot, file: SourceFile, start: usize) -> Option<String> {
    let text = snap.text(file);
    let before = text.get(..start)?.trim_end();
    let receiver_end = before.strip_suffix('.')?;
    if receiver_end.ends_with('.') {
        return None;
    }
    let receiver_end = receiver_end.trim_end().len();
    let i = ide::item_at(&snap.db, file, start)?;
    let (_, ty) = ide::item_notes(&snap.db, snap.project, file, i)
        .types
        .iter()
        .filter(|(s, _)| s.end() == receiver_end)
        .max_by_key(|(s, _)| s.end() - s.start())?;
    let mut ty = ty;
    while let Ty::Optional(inner) = ty {
        ty = inner;
    }
    matches!(ty, Ty::Open(_)).then(|| ty.to_string())
}

/// The alias `r` is written with, if it names a declaration under another name
/// (`local_gw`, after `use lib.gw as local_gw`).
fn alias(snap: &Snapshot, file: SourceFile, r: &ide::Ref) -> Option<String> {
    let Target::Def(def) = &r.target else {
        return None;
    };
    let written = snap.text(file).get(r.span.range())?.to_string();
    (written != *def.name).then_some(written)
}

/// Renames the alias `old` of `target` in `file`, the only file that knows it: the `use`
/// that declares it and its uses. The declaration keeps its name, even the stdlib's.
fn rename_alias(
    snap: &Snapshot,
    file: SourceFile,
    target: &Target,
    old: &str,
    new: &str,
) -> Result<Vec<FileEdits>, String> {
    let text = snap.text(file);
    let spans: Vec<Span> = ide::references(&snap.db, snap.project, target)
        .into_iter()
        .filter(|(f, span)| *f == file && text.get(span.range()) == Some(old))
        .map(|(_, span)| span)
        .collect();
    if new != old {
        if let Some(what) = visible(snap, file_scope(&snap.db, snap.project, file), new) {
            return Err(format!(
                "`{new}` is already {what} in {}: choose another name",
                snap.path(file)
            ));
        }
        check_not_operation(new)?;
        let refs: Vec<(SourceFile, Span)> = spans.iter().map(|s| (file, *s)).collect();
        check_uses(snap, &refs, old, new)?;
    }
    let edits = spans.into_iter().map(|s| (s, new.to_string())).collect();
    Ok(vec![(file, edits)])
}

/// [`rename`] for the parameter named at `site`, with the parameters that must keep its name
/// ([`params::group`]) and, for a function's or a signal's, its uses in the body.
fn rename_param(snap: &Snapshot, site: &Site, new_name: &str) -> Result<Vec<FileEdits>, String> {
    let group = params::group(snap, site);
    params::check_renamable(snap, &group)?;
    let old = &*group.name;
    if new_name != old {
        params::check_clashes(snap, &group, new_name)?;
        // Where it is also a local, the local's clashes: a local of the body it would clash
        // with, or a name used in the body that it would hide.
        for (file, span) in params::locals(snap, &group) {
            local_clashes(snap, file, span, &Target::Local { file, span }, new_name)?;
        }
    }
    let mut out: Vec<FileEdits> = Vec::new();
    for s in params::references(snap, &group) {
        push_edit(
            &mut out,
            s.file,
            s.span,
            params::replacement(&s, old, new_name),
        );
    }
    Ok(out)
}

/// Adds the replacement of `span` in `file` by `text` to `out`.
fn push_edit(out: &mut Vec<FileEdits>, file: SourceFile, span: Span, text: String) {
    match out.iter_mut().find(|(g, _)| *g == file) {
        Some((_, edits)) => edits.push((span, text)),
        None => out.push((file, vec![(span, text)])),
    }
}

/// Refuses a new name that is not one name to the lexer, or is a built-in type.
fn check_new_name(new: &str) -> Result<(), String> {
    if !is_identifier(new) {
        return Err(format!(
            "`{new}` is not a name: use letters, digits and `_`, not starting with a digit, and not a keyword"
        ));
    }
    if BUILTIN_TYPES.contains(&new) {
        return Err(format!("`{new}` is a built-in type"));
    }
    Ok(())
}

/// Refuses to rename a module, what the stdlib declares, and a field that a parameter of the
/// stdlib or of the workspace requires ([`requirements`]).
fn check_renamable(snap: &Snapshot, target: &Target) -> Result<(), String> {
    if let Target::Module(_) = target {
        return Err("a module is renamed by editing its `module` line and each `use` of it".into());
    }
    match ide::definition(&snap.db, target) {
        Some((f, _)) if snap.is_stdlib(f) => return Err(format!("this is {STDLIB_READ_ONLY}")),
        Some(_) => {}
        None => return Err("cannot find where this is declared".into()),
    }
    if let Target::Field { record, name } = target {
        let needs = requirements(snap, record, name);
        if let Some(first) = needs.first() {
            let mut by: Vec<String> = needs
                .iter()
                .map(|n| {
                    let what = if n.owner == Owner::Intrinsic {
                        "intrinsic "
                    } else {
                        ""
                    };
                    format!("{what}`{}` (parameter `{}`)", n.callee, n.param)
                })
                .collect();
            let last = by.pop().unwrap_or_default();
            let by = if by.is_empty() {
                last
            } else {
                format!("{} and {last}", by.join(", "))
            };
            let (it, takes) = if needs.len() == 1 {
                ("it", "takes")
            } else {
                ("they", "take")
            };
            let mut why = format!(
                "field `{name}` is required by {}, which {takes} any record with `{name}: {}`: \
                 renamed, {it} would no longer take a `{}`; keep this name",
                by, first.ty, record.name
            );
            if needs.iter().any(|n| n.owner == Owner::Intrinsic) {
                why.push_str(
                    " (an intrinsic is implemented by the host application, which reads the \
                     field by this name)",
                );
            } else if let Some(f) = needs.iter().find(|n| n.owner == Owner::Project) {
                why.push_str(&format!(
                    ", or first rename the field by hand in the type of parameter `{}` of `{}` \
                     and where the body reads it",
                    f.param, f.callee
                ));
            }
            return Err(why);
        }
    }
    Ok(())
}

/// Who declares a parameter that requires a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The standard library, which cannot be edited.
    Stdlib,
    /// An `intrinsic` of the project: the host application implements it and reads the field
    /// by its name.
    Intrinsic,
    /// Another declaration of the project (`fn`, `signal`, `action`, `event`).
    Project,
}

/// A field that a parameter requires of the records it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The function, intrinsic or signal, qualified (`std.contact.contacts_within`).
    pub callee: String,
    /// Its parameter.
    pub param: Arc<str>,
    /// The type it requires of the field.
    pub ty: Ty,
    /// Who declares it.
    pub owner: Owner,
}

/// The parameters of the stdlib and of the workspace that take any record with field `field`
/// (`{ contacts: List<Contact>, .. }`) and that `record` satisfies: what their declarations
/// require, so that renaming the field would break every call that passes a `record`. An open
/// record type names no record, so rename cannot follow the field into it (nor into what the
/// body reads of it).
pub fn requirements(snap: &Snapshot, record: &Def, field: &str) -> Vec<Requirement> {
    let db = &snap.db;
    let record_ty = Ty::Record(record.clone());
    let mut out = Vec::new();
    for file in snap.files() {
        let owner = if snap.is_stdlib(file) {
            Owner::Stdlib
        } else if snap.is_workspace_file(file) {
            Owner::Project
        } else {
            continue;
        };
        for def in resolve::item_table(db, file).by_name.values() {
            let params = match resolve::signature(db, snap.project, def.file, def.index) {
                Signature::Callable { params, .. } | Signature::Action { params, .. } => params,
                _ => continue,
            };
            let owner = match owner {
                Owner::Project if def.kind == DefKind::Intrinsic => Owner::Intrinsic,
                o => o,
            };
            for p in params {
                let mut open = Vec::new();
                open_records(&p.ty, &mut open);
                for fields in open {
                    let Some((_, ty)) = fields.iter().find(|(n, _)| &**n == field) else {
                        continue;
                    };
                    let taken = Ty::Open(fields.clone());
                    if compatible(db, snap.project, &record_ty, &taken) {
                        out.push(Requirement {
                            callee: def.qualified(db),
                            param: p.name.clone(),
                            ty: ty.clone(),
                            owner,
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.callee, &a.param).cmp(&(&b.callee, &b.param)));
    out.dedup();
    out
}

/// The open record types (`{ f: T, .. }`) in `ty`, the elements of its lists included.
fn open_records<'a>(ty: &'a Ty, out: &mut Vec<&'a Vec<(Arc<str>, Ty)>>) {
    match ty {
        Ty::Open(fields) => {
            out.push(fields);
            for (_, t) in fields {
                open_records(t, out);
            }
        }
        Ty::List(t) | Ty::Set(t) | Ty::Optional(t) | Ty::Range(t) => open_records(t, out),
        _ => {}
    }
}

/// Refuses the name of a collection operation for a declaration or an alias: a declaration of
/// one hides the operation wherever it is visible (`count(xs)` would call it instead).
fn check_not_operation(new: &str) -> Result<(), String> {
    if xop_compiler::types::COLLECTION_OPS.contains(&new) {
        return Err(format!(
            "`{new}` is a built-in collection operation (`{new}(xs, …)`), which a declaration of \
             that name would hide: choose another name"
        ));
    }
    Ok(())
}

/// Refuses a new name that would clash with, capture or be captured by another name: for a
/// declaration, a name already visible in a file that sees it (declared, imported, or an enum
/// value); for a field or an enum value, a sibling; for a local, another local of the item
/// whose scope overlaps its own, or a name used inside its scope; and for a declaration or an
/// enum value, a local of that name where it is used.
fn check_clashes(snap: &Snapshot, target: &Target, old: &str, new: &str) -> Result<(), String> {
    let db = &snap.db;
    let project = snap.project;
    let refs = ide::references(db, project, target);
    match target {
        Target::Def(def) => {
            check_not_operation(new)?;
            for f in snap.files() {
                // Only the workspace's files are edited: the others cannot clash.
                if !snap.is_workspace_file(f) {
                    continue;
                }
                let scope = file_scope(db, project, f);
                let sees = f == def.file
                    || matches!(scope.lookup(db, old), Lookup::Found(e) if e.def == *def);
                if sees && let Some(what) = visible(snap, scope, new) {
                    return Err(format!("`{new}` is already {what} in {}", snap.path(f)));
                }
            }
        }
        Target::Field { record, .. } => {
            if let Signature::Record(fields) =
                resolve::signature(db, project, record.file, record.index)
                && fields.iter().any(|p| &*p.name == new)
            {
                return Err(format!(
                    "record `{}` already has a field `{new}`",
                    record.name
                ));
            }
            check_shared_values(snap, record, old, &refs)?;
            // Fields are always written after `.` or in a record value: no other name clashes.
            return Ok(());
        }
        Target::Variant { def, .. } => {
            if let Signature::Enum(values) = resolve::signature(db, project, def.file, def.index)
                && values.iter().any(|v| &**v == new)
            {
                return Err(format!("enum `{}` already has a value `{new}`", def.name));
            }
            // A value is also written alone, so every file that writes it must not see `new`.
            let mut files: Vec<SourceFile> = refs.iter().map(|(f, _)| *f).collect();
            files.dedup();
            for f in files {
                if let Some(what) = visible(snap, file_scope(db, project, f), new) {
                    return Err(format!("`{new}` is already {what} in {}", snap.path(f)));
                }
            }
        }
        Target::Local { file, span } => return local_clashes(snap, *file, *span, target, new),
        Target::Module(_) => return Ok(()),
    }
    // A use through an alias (`use lib.gw as g`, then `g`) keeps its name: only the uses that
    // write `old` are renamed, and only they can be captured.
    let written: Vec<(SourceFile, Span)> = refs
        .into_iter()
        .filter(|(f, span)| snap.text(*f).get(span.range()) == Some(old))
        .collect();
    check_uses(snap, &written, old, new)
}

/// Refuses to rename field `name` of `record` where a record value writes it (at one of
/// `refs`) that is also of another record type: a test's `let` is typed where it is used, so
/// `let xs = [{ price: 5 }]` used both as a `List<Item>` and as a `List<Gift>` writes the
/// field of both records, and renaming it for one would break the other use.
fn check_shared_values(
    snap: &Snapshot,
    record: &Def,
    name: &str,
    refs: &[(SourceFile, Span)],
) -> Result<(), String> {
    let db = &snap.db;
    for &(f, at) in refs {
        if !snap.is_workspace_file(f) {
            continue;
        }
        let Some(i) = ide::item_at(db, f, at.start()) else {
            continue;
        };
        let other = ide::item_notes(db, snap.project, f, i)
            .refs
            .iter()
            .find_map(|r| match &r.target {
                Target::Field { record: o, .. } if r.span == at && o != record => Some(o.clone()),
                _ => None,
            });
        let Some(other) = other else {
            continue;
        };
        let line = LineIndex::new(&snap.text(f)).line(at.start()) + 1;
        let value = match let_around(snap, f, i, at) {
            Some(n) => format!("the value of `let {n}`, which the test uses both as"),
            None => "a record value that is both".to_string(),
        };
        return Err(format!(
            "field `{name}` is written at {}:{line} in {value} a `{}` and a `{}` (which also has \
             a field `{name}`): renamed there, it would no longer be a `{}`; keep this name, or \
             first write a separate `let` for each record type",
            snap.path(f),
            record.name,
            other.name,
            other.name
        ));
    }
    Ok(())
}

/// The name of the test's `let` (item `index` of `file`) whose value holds `at`.
fn let_around(snap: &Snapshot, file: SourceFile, index: u32, at: Span) -> Option<String> {
    let parsed = parse_file(&snap.db, file);
    let item = parsed.ast.items.get(usize::try_from(index).ok()?)?;
    let ItemKind::Test(test) = &item.kind else {
        return None;
    };
    test.body.iter().find_map(|s| match s {
        TestStmt::Let { name, value, .. } if value.span.contains(at.start()) => {
            Some(name.name.to_string())
        }
        _ => None,
    })
}

/// Refuses `new` if it is a local name where a declaration named `old` is used (at `refs`):
/// the local would capture it.
fn check_uses(
    snap: &Snapshot,
    refs: &[(SourceFile, Span)],
    old: &str,
    new: &str,
) -> Result<(), String> {
    for (f, at) in refs {
        if ide::locals_at(&snap.db, snap.project, *f, at.start())
            .iter()
            .any(|l| &*l.name == new)
        {
            return Err(format!(
                "`{new}` is a local name where `{old}` is used ({}:{}): choose another name",
                snap.path(*f),
                LineIndex::new(&snap.text(*f)).line(at.start()) + 1
            ));
        }
    }
    Ok(())
}

/// What `name` already is in `scope`, if anything.
fn visible(snap: &Snapshot, scope: &Scope, name: &str) -> Option<String> {
    let db = &snap.db;
    match scope.lookup(db, name) {
        Lookup::Found(e) => Some(format!("the name of `{}`", e.def.qualified(db))),
        Lookup::Ambiguous(_) => Some("imported".into()),
        Lookup::Missing => scope
            .variants
            .get(name)
            .and_then(|enums| enums.first())
            .map(|e| format!("a value of enum `{}`", e.qualified(db))),
    }
}

/// [`check_clashes`] for the local bound at `span` of `file`.
fn local_clashes(
    snap: &Snapshot,
    file: SourceFile,
    span: Span,
    target: &Target,
    new: &str,
) -> Result<(), String> {
    let db = &snap.db;
    let Some(i) = ide::item_at(db, file, span.start()) else {
        return Ok(());
    };
    let notes = ide::item_notes(db, snap.project, file, i);
    // Where the local is visible: its own scope, else the whole item.
    let scope = notes
        .locals
        .iter()
        .find(|l| l.span == span)
        .and_then(|l| l.scope);
    let item_span = parse_file(db, file)
        .ast
        .items
        .get(i as usize)
        .map_or(span, |it| it.span);
    let region = scope.unwrap_or(item_span);
    let overlaps = |other: Option<Span>| {
        let o = other.unwrap_or(item_span);
        o.start() < region.end() && region.start() < o.end()
    };
    if notes
        .locals
        .iter()
        .any(|l| &*l.name == new && l.span != span && overlaps(l.scope))
    {
        return Err(format!("`{new}` is already a local name here"));
    }
    let text = snap.text(file);
    let used = notes.refs.iter().find(|r| {
        region.contains(r.span.start())
            && text.get(r.span.range()) == Some(new)
            && r.target != *target
            // Its own declaration is not a use.
            && ide::definition(db, &r.target) != Some((file, r.span))
    });
    if let Some(r) = used {
        return Err(format!(
            "`{new}` is used here (line {}) for something else, which the renamed name would hide",
            LineIndex::new(&text).line(r.span.start()) + 1
        ));
    }
    // A call whose callee resolves to no declaration is a collection operation (`count(xs)`),
    // which a local of its name hides: it would then call nothing.
    let builtin = params::callees(snap, file, i).into_iter().find(|c| {
        region.contains(c.span.start())
            && c.name == new
            && !notes.refs.iter().any(|r| r.span == c.span)
    });
    match builtin {
        Some(c) => Err(format!(
            "`{new}` is called here (line {}) as a collection operation, which the renamed name would hide",
            LineIndex::new(&text).line(c.span.start()) + 1
        )),
        None => Ok(()),
    }
}

/// The words the lexer reserves.
pub const KEYWORDS: &[&str] = &[
    "module",
    "use",
    "as",
    "record",
    "enum",
    "action",
    "signal",
    "role",
    "channel",
    "purpose",
    "event",
    "fn",
    "intrinsic",
    "policy",
    "decision",
    "journey",
    "agent",
    "test",
    "for",
    "at",
    "deny",
    "allow",
    "review",
    "by",
    "within",
    "else",
    "when",
    "unless",
    "from",
    "max_age",
    "risk",
    "propose",
    "rank",
    "state",
    "on",
    "wait",
    "goto",
    "tool",
    "expect",
    "given",
    "let",
    "if",
    "then",
    "and",
    "or",
    "not",
    "in",
    "is",
    "absent",
    "present",
    "true",
    "false",
];

/// Whether `s` is one name to the compiler's lexer: an identifier, or a soft keyword
/// (`channel`, `event`, `state`, …), which the grammar takes wherever it takes a name.
pub fn is_identifier(s: &str) -> bool {
    let lexed = lex(s);
    matches!(lexed.tokens.as_slice(), [(0, t, end)] if t.is_name() && *end == s.len())
        && lexed.errors.is_empty()
        && lexed.comments.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, CUSTOMER, at, snapshot};

    #[test]
    fn definition_across_files_and_into_the_stdlib() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let contact = snap.file("contact.xop").expect("file");
        let [(f, span)] = definition(&snap, contact, at(CONTACT, "Customer", 1, 1))[..] else {
            panic!("one definition");
        };
        assert_eq!(&*snap.path(f), "customer.xop");
        assert_eq!(span.start(), at(CUSTOMER, "Customer {", 0, 0));
        let [(f, span)] = definition(&snap, contact, at(CONTACT, "consent(c", 0, 1))[..] else {
            panic!("one definition");
        };
        assert!(snap.is_stdlib(f));
        assert!(snap.text(f)[span.start()..].starts_with("consent("));
    }

    #[test]
    fn references_with_and_without_the_declaration() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let contact = snap.file("contact.xop").expect("file");
        let off = at(CONTACT, "c,", 0, 0);
        // `to: c` and the two uses.
        assert_eq!(references(&snap, contact, off, true).len(), 3);
        assert_eq!(references(&snap, contact, off, false).len(), 2);
    }

    #[test]
    fn rename_edits_every_file_and_refuses_what_it_cannot() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let contact = snap.file("contact.xop").expect("file");
        let off = at(CONTACT, "Customer", 1, 0);
        let edits = rename(&snap, contact, off, "Client").expect("renamed");
        let total: usize = edits.iter().map(|(_, e)| e.len()).sum();
        assert_eq!(edits.len(), 2);
        assert_eq!(total, 3, "{edits:?}");
        assert!(rename(&snap, contact, off, "deny").is_err());
        assert!(rename(&snap, contact, off, "9lives").is_err());
        let std = at(CONTACT, "consent(c", 0, 0);
        assert!(prepare_rename(&snap, contact, std).is_err());
        assert!(prepare_rename(&snap, contact, at(CONTACT, "\"cap\"", 0, 1)).is_err());
    }

    #[test]
    fn rename_refuses_clashes_and_captures() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let customer = snap.file("customer.xop").expect("file");
        let contact = snap.file("contact.xop").expect("file");
        let refused = |file, offset, new: &str| match rename(&snap, file, offset, new) {
            Err(e) => e,
            Ok(edits) => panic!("renamed to `{new}`: {edits:?}"),
        };
        let record = at(CUSTOMER, "Customer {", 0, 0);
        assert!(refused(customer, record, "Int").contains("built-in type"));
        assert!(refused(customer, record, "Text").contains("built-in type"));
        // Declared in the module, or imported into it.
        let e = refused(customer, record, "fraud_desk");
        assert!(e.contains("shop.customer.fraud_desk"), "{e}");
        let e = refused(customer, record, "Consent");
        assert!(e.contains("std.consent.Consent"), "{e}");
        // Imported only by contact.xop, which uses `Customer`.
        let e = refused(customer, record, "sms");
        assert!(e.contains("contact.xop"), "{e}");
        // Siblings.
        let field = at(CUSTOMER, "messages_7d", 0, 0);
        assert!(refused(customer, field, "segment").contains("already has a field"));
        assert!(rename(&snap, customer, field, "msgs").is_ok());
        let value = at(CUSTOMER, "vip", 0, 0);
        assert!(refused(customer, value, "standard").contains("already has a value"));
        assert!(refused(customer, value, "marketing").contains("shop.customer.marketing"));
        // A local of the same name where the declaration is used would capture it.
        let purpose = at(CUSTOMER, "marketing", 0, 0);
        let e = refused(customer, purpose, "ch");
        assert!(e.contains("local name where `marketing` is used"), "{e}");
        // A local: another local of the item, or a name used in its scope, clashes.
        let c = at(CONTACT, "to: c", 0, 4);
        assert!(refused(contact, c, "ch").contains("already a local name"));
        assert!(refused(contact, c, "marketing").contains("used here"));
        assert!(refused(contact, c, "consent").contains("used here"));
        assert!(rename(&snap, contact, c, "cust").is_ok());
        // Its own name is no clash.
        assert!(rename(&snap, contact, c, "c").is_ok());
    }

    /// The compiler calls exactly these names without a declaration; a declaration of one
    /// hides it.
    #[test]
    fn collection_operations_are_the_compilers() {
        let errors = |src: &str| -> Vec<&'static str> {
            let (_st, snap) = snapshot(&[("a.xop", src)]);
            let file = snap.file("a.xop").expect("file");
            xop_compiler::db::file_diagnostics(&snap.db, snap.project, file)
                .iter()
                .filter(|d| d.code.starts_with('E'))
                .map(|d| d.code)
                .collect()
        };
        for op in xop_compiler::types::COLLECTION_OPS.iter().chain(&["sum"]) {
            let src = format!(
                "module a\nfn f(xs: List<Int>): Bool = {op}(xs, x => x > 0) == {op}(xs, x => x > 1)\n"
            );
            let builtin = xop_compiler::types::COLLECTION_OPS.contains(op);
            assert_eq!(errors(&src).is_empty(), builtin, "{op}: {:?}", errors(&src));
            if builtin {
                let hidden = format!("{src}fn {op}(x: Int): Bool = x > 0\n");
                assert!(!errors(&hidden).is_empty(), "{op} is not hidden");
            }
        }
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("fraud_desk") && is_identifier("_x1"));
        assert!(!is_identifier("") && !is_identifier("a-b") && !is_identifier("policy"));
        assert!(!is_identifier(" x") && !is_identifier("x y") && !is_identifier("x//"));
        // Soft keywords are names wherever the grammar takes one (`channel: Channel`).
        assert!(is_identifier("channel") && is_identifier("event"));
    }
}
