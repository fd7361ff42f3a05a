//! Name resolution: which module each file is, what each module declares, what each file can
//! see (its own items, its imports, glob imports), and the resolved signatures of declarations.
//!
//! Every function here that takes the database is a salsa query, so a change to one file only
//! recomputes what depends on it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::ast::{self, ItemKind, TypeExpr, UseKind};
use crate::db::{Db, Project, SourceFile, parse_file};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::types::Ty;

/// What kind of thing a declaration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefKind {
    /// `record`
    Record,
    /// `enum`
    Enum,
    /// `action`
    Action,
    /// `signal`
    Signal,
    /// `role`
    Role,
    /// `channel`
    Channel,
    /// `purpose`
    Purpose,
    /// `event`
    Event,
    /// `fn`
    Fn,
    /// `intrinsic`
    Intrinsic,
    /// `policy`
    Policy,
    /// `decision`
    Decision,
    /// `journey`
    Journey,
    /// `agent`
    Agent,
}

impl DefKind {
    /// The kind in words, with an article: "a record".
    pub fn describe(self) -> &'static str {
        match self {
            DefKind::Record => "a record",
            DefKind::Enum => "an enum",
            DefKind::Action => "an action",
            DefKind::Signal => "a signal",
            DefKind::Role => "a role",
            DefKind::Channel => "a channel",
            DefKind::Purpose => "a purpose",
            DefKind::Event => "an event",
            DefKind::Fn => "a function",
            DefKind::Intrinsic => "an intrinsic",
            DefKind::Policy => "a policy",
            DefKind::Decision => "a decision",
            DefKind::Journey => "a journey",
            DefKind::Agent => "an agent",
        }
    }

    /// The kind of definition an item declares (`None` for tests and unparsable items).
    pub fn of(kind: &ItemKind) -> Option<DefKind> {
        Some(match kind {
            ItemKind::Record(_) => DefKind::Record,
            ItemKind::Enum(_) => DefKind::Enum,
            ItemKind::Action(_) => DefKind::Action,
            ItemKind::Signal(_) => DefKind::Signal,
            ItemKind::Role(_) => DefKind::Role,
            ItemKind::Channel(_) => DefKind::Channel,
            ItemKind::Purpose(_) => DefKind::Purpose,
            ItemKind::Event(_) => DefKind::Event,
            ItemKind::Fn(f) if f.body.is_none() => DefKind::Intrinsic,
            ItemKind::Fn(_) => DefKind::Fn,
            ItemKind::Policy(_) => DefKind::Policy,
            ItemKind::Decision(_) => DefKind::Decision,
            ItemKind::Journey(_) => DefKind::Journey,
            ItemKind::Agent(_) => DefKind::Agent,
            ItemKind::Test(_) | ItemKind::Error => return None,
        })
    }
}

/// A declaration somewhere in the project.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Def {
    /// The file that declares it.
    pub file: SourceFile,
    /// Its index in the file's items.
    pub index: u32,
    /// What it is.
    pub kind: DefKind,
    /// Its name.
    pub name: Arc<str>,
    /// Where its name is written.
    pub span: Span,
}

/// The name of the module `file` declares (empty if it declares none).
pub fn module_name(db: &dyn Db, file: SourceFile) -> String {
    parse_file(db, file)
        .ast
        .module
        .as_ref()
        .map(|m| m.path.dotted())
        .unwrap_or_default()
}

impl Def {
    /// The declaration's qualified name: `acme.contact.send_offer`.
    pub fn qualified(&self, db: &dyn Db) -> String {
        format!("{}.{}", module_name(db, self.file), self.name)
    }

    /// The declaration's AST item.
    pub fn item<'db>(&self, db: &'db dyn Db) -> &'db ast::Item {
        &parse_file(db, self.file).ast.items[self.index as usize]
    }
}

/// The declarations of one file, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ItemTable {
    /// Name → declaration (the first, if declared twice).
    pub by_name: BTreeMap<Arc<str>, Def>,
    /// Duplicate definitions.
    pub diagnostics: Vec<Diagnostic>,
}

/// The items a file declares.
#[salsa::tracked(returns(ref))]
pub fn item_table(db: &dyn Db, file: SourceFile) -> ItemTable {
    let parsed = parse_file(db, file);
    let path = file.path(db);
    let mut table = ItemTable::default();
    for (i, item) in parsed.ast.items.iter().enumerate() {
        let (Some(kind), Some(name)) = (DefKind::of(&item.kind), item.name()) else {
            continue;
        };
        let def = Def {
            file,
            index: u32::try_from(i).unwrap_or(u32::MAX),
            kind,
            name: Arc::from(name.name.as_str()),
            span: name.span,
        };
        if matches!(kind, DefKind::Record | DefKind::Enum)
            && BUILTIN_TYPES.contains(&name.name.as_str())
        {
            table.diagnostics.push(builtin_type_name(
                path,
                &module_name(db, file),
                &name.name,
                name.span,
                kind,
            ));
        }
        if let Some(first) = table.by_name.get(name.name.as_str()) {
            table
                .diagnostics
                .push(duplicate(path, &name.name, name.span, first.span));
        } else {
            table.by_name.insert(def.name.clone(), def);
        }
    }
    table
}

/// The first of `base`, `base_2`, `base_3`… that `free` accepts: a name for the helps and
/// fixes to write where `base` may be taken. Names are finite where they are checked, so one
/// comes.
pub fn fresh_name(base: &str, free: impl Fn(&str) -> bool) -> String {
    if free(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| free(n))
        .unwrap_or_else(|| base.to_string())
}

/// E0206 for a name declared twice in one scope.
pub fn duplicate(path: &Arc<str>, name: &str, span: Span, first: Span) -> Diagnostic {
    Diagnostic::error(
        "E0206",
        path,
        span,
        format!("`{name}` is defined more than once"),
    )
    .with_label("defined again here")
    .with_secondary(path, first, "first defined here")
    .with_help(format!(
        "rename one of the two, or remove the second `{name}`"
    ))
}

/// E0222 for a record or enum named like a built-in type. Written bare, the name means the
/// built-in type; written qualified (`acme.lib.Channel`), it would mean the declaration, so a
/// parameter could read as a channel (or a purpose, an `Int`…) and be none, and the
/// compliance checker, which knows channels by their built-in type, would not see it.
fn builtin_type_name(
    path: &Arc<str>,
    module: &str,
    name: &str,
    span: Span,
    kind: DefKind,
) -> Diagnostic {
    let what = if kind == DefKind::Enum {
        "enum"
    } else {
        "record"
    };
    Diagnostic::error(
        "E0222",
        path,
        span,
        format!("{what} `{name}` is named like the built-in type `{name}`"),
    )
    .with_label(format!(
        "`{name}` in a type is the built-in type, and `{module}.{name}` this {what}"
    ))
    .with_help(format!(
        "give the {what} a name of its own (`{name}Kind`, `My{name}`…) where it is declared and \
         wherever it is named"
    ))
}

/// The names no action or decision parameter may have: the keys a decision's input object
/// gives beside its parameters, `now` (the decision time) and `signals` (the signal values)
/// (runtime.md, "Input JSON").
pub const RESERVED_PARAMS: [&str; 2] = ["now", "signals"];

/// E0221 for each parameter of `ps` named like a key of [`RESERVED_PARAMS`]: the parameters of
/// `owner` (`action `remind``), an action or a decision, whose input is such an object. Such a
/// parameter would take the key, and the decision would be taken at the clock's time, or
/// without the signals given.
pub fn reserved_params(path: &Arc<str>, owner: &str, ps: &[ast::Param]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for p in ps {
        let name = p.name.name.as_str();
        let what = match name {
            "now" => "the decision time",
            "signals" => "the signal values",
            _ => continue,
        };
        // A name no other parameter has, to suggest: `now_2`, `now_3`…
        let free = |n: &str| !ps.iter().any(|q| q.name.name == n);
        let suggested = fresh_name(name, free);
        out.push(
            Diagnostic::error(
                "E0221",
                path,
                p.name.span,
                format!("a parameter of {owner} cannot be named `{name}`"),
            )
            .with_label(format!("`{name}` is the input's own key for {what}"))
            .with_note(
                "a decision's input gives one key per parameter and two more: `now`, the \
                 decision time, and `signals`, the signal values; a parameter of either name \
                 would take that key",
            )
            .with_help(format!(
                "rename the parameter, e.g. `{suggested}`, wherever it is named"
            )),
        );
    }
    out
}

/// Which file declares which module.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ModuleIndex {
    /// Module name → file.
    pub by_name: BTreeMap<String, SourceFile>,
    /// Missing, duplicate and reserved module names, attributed to files by path.
    pub diagnostics: Vec<Diagnostic>,
}

/// The project's modules.
#[salsa::tracked(returns(ref))]
pub fn module_index(db: &dyn Db, project: Project) -> ModuleIndex {
    let mut index = ModuleIndex::default();
    let mut spans: BTreeMap<String, (Arc<str>, Span)> = BTreeMap::new();
    for &file in project.files(db) {
        let parsed = parse_file(db, file);
        let path = file.path(db);
        let Some(m) = &parsed.ast.module else {
            if parsed.diagnostics.is_empty() {
                index.diagnostics.push(
                    Diagnostic::error(
                        "E0201",
                        path,
                        Span::new(0, 0),
                        "this file declares no module",
                    )
                    .with_label("expected `module name` here")
                    .with_help("start the file with a line such as `module acme.contact`"),
                );
            }
            continue;
        };
        let name = m.path.dotted();
        if (name == "std" || name.starts_with("std.")) && !*file.is_stdlib(db) {
            index.diagnostics.push(
                Diagnostic::error(
                    "E0215",
                    path,
                    m.path.span,
                    format!("module name `{name}` is reserved"),
                )
                .with_label("`std` is the standard library's namespace")
                .with_help("name your module after your organisation, e.g. `acme.contact`"),
            );
            continue;
        }
        if let Some((first_path, first_span)) = spans.get(&name) {
            index.diagnostics.push(
                Diagnostic::error(
                    "E0202",
                    path,
                    m.path.span,
                    format!("module `{name}` is declared by two files"),
                )
                .with_label("declared again here")
                .with_secondary(first_path, *first_span, "first declared here")
                .with_help("give each file its own module name"),
            );
            continue;
        }
        spans.insert(name.clone(), (path.clone(), m.path.span));
        index.by_name.insert(name, file);
    }
    index
}

/// What a name in a file's scope refers to, and through which `use` (if any).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The declaration.
    pub def: Def,
    /// The index of the `use` that brought it in, if imported.
    pub via_use: Option<u32>,
}

/// The names one file can see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scope {
    /// Own items and explicit imports, by name.
    pub names: BTreeMap<Arc<str>, Entry>,
    /// Glob-imported modules: (use index, module file).
    pub globs: Vec<(u32, SourceFile)>,
    /// Enum variant name → the visible enums that have it.
    pub variants: BTreeMap<Arc<str>, Vec<Def>>,
    /// Import errors.
    pub diagnostics: Vec<Diagnostic>,
    /// The names a failed `use` of the file would have brought in (an unknown module, E0203,
    /// or an item the module does not declare, E0204), and, in a file that declares a module
    /// another file declares first (E0202), the names that file declares. A use of one of them
    /// means what the import (or the module the file believes it is in) would have brought,
    /// and that error already says what to fix: it is not reported again as an unresolved
    /// name (E0205) or an unknown type (E0207).
    pub failed_imports: BTreeSet<Arc<str>>,
}

/// The lookup result for a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Exactly one declaration.
    Found(Entry),
    /// Several glob imports offer different declarations.
    Ambiguous(Vec<Def>),
    /// Nothing by that name.
    Missing,
}

impl Scope {
    /// Whether no name of the file's scope is `name`: no item, import or glob-imported item,
    /// no variant of a visible enum, no name a failed `use` would have brought. What a help
    /// that adds a name to the file (a local, an import alias) asks before choosing it, with
    /// the locals where it writes.
    pub fn name_free(&self, db: &dyn Db, name: &str) -> bool {
        matches!(self.lookup(db, name), Lookup::Missing)
            && !self.variants.contains_key(name)
            && !self.failed_imports.contains(name)
    }

    /// Looks `name` up: own items and explicit imports first, then glob imports.
    pub fn lookup(&self, db: &dyn Db, name: &str) -> Lookup {
        if let Some(e) = self.names.get(name) {
            return Lookup::Found(e.clone());
        }
        let mut found: Vec<Entry> = Vec::new();
        for &(u, file) in &self.globs {
            if let Some(def) = item_table(db, file).by_name.get(name)
                && !found.iter().any(|e| e.def == *def)
            {
                found.push(Entry {
                    def: def.clone(),
                    via_use: Some(u),
                });
            }
        }
        match found.len() {
            0 => Lookup::Missing,
            1 => Lookup::Found(found.remove(0)),
            _ => Lookup::Ambiguous(found.into_iter().map(|e| e.def).collect()),
        }
    }

    /// Every name visible in the scope (for suggestions and completion).
    pub fn visible_names(&self, db: &dyn Db) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = self.names.keys().cloned().collect();
        for &(_, file) in &self.globs {
            out.extend(item_table(db, file).by_name.keys().cloned());
        }
        out.extend(self.variants.keys().cloned());
        out.sort();
        out.dedup();
        out
    }

    /// The names visible in the scope that declare something of a kind `accept` takes (for
    /// suggestions: a name of another kind would be refused where it is suggested). Enum
    /// variants are not declarations and are not among them.
    pub fn visible_names_of(&self, db: &dyn Db, accept: impl Fn(DefKind) -> bool) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = (self.names.iter())
            .filter(|(_, e)| accept(e.def.kind))
            .map(|(n, _)| n.clone())
            .collect();
        for &(_, file) in &self.globs {
            out.extend(
                (item_table(db, file).by_name.iter())
                    .filter(|(_, d)| accept(d.kind))
                    .map(|(n, _)| n.clone()),
            );
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The scope of one file.
#[salsa::tracked(returns(ref))]
pub fn file_scope(db: &dyn Db, project: Project, file: SourceFile) -> Scope {
    let parsed = parse_file(db, file);
    let path = file.path(db);
    let modules = module_index(db, project);
    let mut scope = Scope::default();
    for (name, def) in &item_table(db, file).by_name {
        scope.names.insert(
            name.clone(),
            Entry {
                def: def.clone(),
                via_use: None,
            },
        );
    }
    let own_items = item_table(db, file);
    // A module declared by another file first (E0202): this file was written as part of it,
    // and expects that file's declarations in scope. E0202 says what to fix; once it is, a
    // name still missing is reported, with the `use` that imports it.
    let claimed = parsed.ast.module.as_ref().map(|m| m.path.dotted());
    if let Some(&first) = claimed.and_then(|m| modules.by_name.get(&m))
        && first != file
    {
        scope.failed_imports.extend(
            (item_table(db, first).by_name.keys())
                .filter(|n| !own_items.by_name.contains_key(*n))
                .cloned(),
        );
    }
    // The first import of each name (where its name is written, and what it imports), so that
    // a later import or declaration of the name is reported against it once.
    let mut first_imports: BTreeMap<Arc<str>, (Span, Def)> = BTreeMap::new();
    for (u, import) in parsed.ast.uses.iter().enumerate() {
        let u = u32::try_from(u).unwrap_or(u32::MAX);
        let segs = &import.path.segments;
        let (module_segs, items): (&[ast::Ident], Vec<(&ast::Ident, &ast::Ident)>) =
            match &import.kind {
                UseKind::Single { alias } => {
                    let last = import.path.last();
                    (
                        &segs[..segs.len() - 1],
                        vec![(last, alias.as_ref().unwrap_or(last))],
                    )
                }
                UseKind::Glob => (&segs[..], vec![]),
                UseKind::Group(names) => (&segs[..], names.iter().map(|n| (n, n)).collect()),
            };
        let module_name = module_segs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let module_span = match (module_segs.first(), module_segs.last()) {
            (Some(a), Some(b)) => a.span.to(b.span),
            _ => import.path.span,
        };
        // `use std.camara`: a module where a declaration is expected (§4.2).
        let whole_module = match import.kind {
            UseKind::Single { .. } => {
                let whole = import.path.dotted();
                modules.by_name.get(&whole).map(|&f| (whole, f))
            }
            _ => None,
        };
        let Some(&module_file) = modules.by_name.get(&module_name) else {
            for (_, alias) in &items {
                scope.failed_imports.insert(Arc::from(alias.name.as_str()));
            }
            let mut d = Diagnostic::error(
                "E0203",
                path,
                module_span,
                format!("there is no module `{module_name}`"),
            )
            .with_label("unknown module");
            let names: Vec<&str> = modules.by_name.keys().map(String::as_str).collect();
            if module_segs.is_empty() && whole_module.is_none() {
                // `use std`: one name, which is neither a module of one name nor a declaration.
                d = Diagnostic::error(
                    "E0203",
                    path,
                    import.path.span,
                    format!("there is no module `{}`", import.path.dotted()),
                )
                .with_label("unknown module")
                .with_help("a `use` names a module, then what it imports from it: `use std.consent.consent`, `use std.time.{local_hour, hours}` or `use std.channel.*`");
            } else if let Some((whole, file)) = &whole_module {
                // What was meant is most likely the module's glob (`use std.channel.*`): its
                // names raise no errors of their own.
                for name in item_table(db, *file).by_name.keys() {
                    scope.failed_imports.insert(name.clone());
                }
                let last = &import.path.last().name;
                let shown = if module_name.is_empty() {
                    "no module".to_string()
                } else {
                    format!("no module `{module_name}` declaring `{last}`")
                };
                d = Diagnostic::error(
                    "E0203",
                    path,
                    import.path.span,
                    format!("`use {whole}` names a module, not a declaration"),
                )
                .with_label(format!("a module: there is {shown}"))
                .with_help(use_module_help(db, whole, *file));
            } else if let Some(s) = suggest(&module_name, names.iter().copied()) {
                d = d.with_help(format!("did you mean `{s}`?"));
            } else {
                d = d.with_help(
                    "check the name, and that the file declaring that module is among the files checked",
                );
            }
            scope.diagnostics.push(d);
            continue;
        };
        if matches!(import.kind, UseKind::Glob) {
            scope.globs.push((u, module_file));
            continue;
        }
        let table = item_table(db, module_file);
        for (item, alias) in items {
            match table.by_name.get(item.name.as_str()) {
                Some(def) => {
                    let name: Arc<str> = Arc::from(alias.name.as_str());
                    let own = own_items.by_name.get(&name);
                    let earlier = first_imports.get(&name);
                    // The same declaration again (imported twice, or imported into its own
                    // module): nothing new, nothing wrong.
                    if own == Some(def) || earlier.is_some_and(|(_, d)| d == def) {
                        continue;
                    }
                    // The first definition of the name it clashes with, declared or imported:
                    // each clash is reported once, at whichever comes later in the file
                    // (declarations enter the scope before imports), naming the first.
                    let clash = [own.map(|d| d.span), earlier.map(|(s, _)| *s)]
                        .into_iter()
                        .flatten()
                        .min_by_key(|s| s.start());
                    first_imports
                        .entry(name.clone())
                        .or_insert_with(|| (alias.span, def.clone()));
                    if let Some(other) = clash {
                        let (again, first) = if other.start() > alias.span.start() {
                            (other, alias.span)
                        } else {
                            (alias.span, other)
                        };
                        scope
                            .diagnostics
                            .push(duplicate(path, &alias.name, again, first));
                        continue;
                    }
                    scope.names.insert(
                        name,
                        Entry {
                            def: def.clone(),
                            via_use: Some(u),
                        },
                    );
                }
                None => {
                    scope.failed_imports.insert(Arc::from(alias.name.as_str()));
                    let mut d = Diagnostic::error(
                        "E0204",
                        path,
                        item.span,
                        format!("module `{module_name}` has no item `{}`", item.name),
                    )
                    .with_label("not declared there");
                    d = d.with_help(match &whole_module {
                        Some((whole, file)) => use_module_help(db, whole, *file),
                        None => missing_item_help(
                            db,
                            project,
                            file,
                            (&module_name, module_file),
                            &item.name,
                            Written::Use {
                                alias: (alias.name != item.name).then_some(alias.name.as_str()),
                            },
                            |_| true,
                        ),
                    });
                    scope.diagnostics.push(d);
                }
            }
        }
    }
    // Enum variants of every visible enum, for bare variant names (`vip`).
    let mut enums: Vec<Def> = scope
        .names
        .values()
        .filter(|e| e.def.kind == DefKind::Enum)
        .map(|e| e.def.clone())
        .collect();
    for &(_, f) in &scope.globs {
        enums.extend(
            item_table(db, f)
                .by_name
                .values()
                .filter(|d| d.kind == DefKind::Enum)
                .cloned(),
        );
    }
    let mut unique: Vec<Def> = Vec::new();
    for def in enums {
        if !unique.contains(&def) {
            unique.push(def);
        }
    }
    for def in unique {
        if let ItemKind::Enum(e) = &def.item(db).kind {
            for v in &e.variants {
                let list = scope
                    .variants
                    .entry(Arc::from(v.name.name.as_str()))
                    .or_default();
                if !list.contains(&def) {
                    list.push(def.clone());
                }
            }
        }
    }
    scope
}

/// The help for `use M` where `M` (declared by `file`) is a module: a `use` imports
/// declarations, all of them with a glob or some by name.
fn use_module_help(db: &dyn Db, module: &str, file: SourceFile) -> String {
    // In the order they are declared: a module starts with what it is about.
    let mut defs: Vec<&Def> = item_table(db, file).by_name.values().collect();
    defs.sort_by_key(|d| d.index);
    let names: Vec<&str> = defs.iter().map(|d| &*d.name).collect();
    let some = match names.as_slice() {
        [] => "…".to_string(),
        [a] => a.to_string(),
        [a, b] => format!("{a}, {b}"),
        [a, b, ..] => format!("{a}, {b}, …"),
    };
    format!(
        "a `use` imports declarations: write `use {module}.*` for all of those of `{module}`, or `use {module}.{{{some}}}` for those you need"
    )
}

/// How a name that a module does not declare is written, for the help of E0204.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written<'a> {
    /// Imported by a `use`, under `alias` if the `use` gives it one (`use m.x as y`).
    Use {
        /// The name given with `as`.
        alias: Option<&'a str>,
    },
    /// A qualified path in the code (`policy p for std.camara.create_qos_session(…)`).
    Path,
}

/// The help of E0204 for `name`, which module `module` (declared by `file`) does not declare,
/// written in file `here` as `written` says, where a declaration of a kind `accept` takes is
/// expected: that a built-in type is named without a module; that the module only imports
/// the name, and from where; which module declares the very name; a close name the module
/// declares; or else what it declares. Each says what to write instead.
pub fn missing_item_help(
    db: &dyn Db,
    project: Project,
    here: SourceFile,
    (module, file): (&str, SourceFile),
    name: &str,
    written: Written<'_>,
    accept: impl Fn(DefKind) -> bool,
) -> String {
    let own_module = module_name(db, here);
    // How the file names `original` of module `from`: the `use` that imports it (under the
    // name the file gives it), or the path.
    let refer = |from: &str, original: &str| -> String {
        match written {
            Written::Use { alias } => {
                let alias = alias.or((original != name).then_some(name));
                let alias = alias.map(|a| format!(" as {a}")).unwrap_or_default();
                format!("`use {from}.{original}{alias}`")
            }
            Written::Path if from == own_module => format!("`{original}`"),
            Written::Path => format!("`{from}.{original}`"),
        }
    };
    let in_own = match written {
        Written::Use { .. } => "remove it from this `use`".to_string(),
        Written::Path => format!("write `{name}`"),
    };
    if BUILTIN_TYPES.contains(&name) {
        return format!(
            "`{name}` is a built-in type, in scope everywhere without a `use`: {in_own}"
        );
    }
    if let Some((from, original)) = imported_by(db, project, file, name) {
        let declared = module_index(db, project)
            .by_name
            .get(&from)
            .is_some_and(|f| item_table(db, *f).by_name.contains_key(original.as_str()));
        return if !declared {
            format!(
                "`{module}` imports `{name}` from `{from}` but does not declare it, and only a declaration can be named through its module: name `{name}` through the module that declares it"
            )
        } else if from == own_module {
            format!(
                "`{module}` imports `{name}` from this module, `{from}`, which declares it: {in_own}"
            )
        } else {
            format!(
                "`{module}` imports `{name}` from `{from}` but does not declare it, and only a declaration can be named through its module: write {}",
                refer(&from, &original)
            )
        };
    }
    let declares = |f: SourceFile| {
        item_table(db, f)
            .by_name
            .get(name)
            .is_some_and(|d| accept(d.kind))
    };
    if declares(here) {
        return format!("`{name}` is declared in this module: {in_own}");
    }
    let elsewhere = (module_index(db, project).by_name.iter())
        .find(|(m, f)| m.as_str() != module && declares(**f));
    if let Some((other, _)) = elsewhere {
        return format!("`{other}` declares `{name}`: write {}", refer(other, name));
    }
    let table = item_table(db, file);
    let near = (table.by_name.values())
        .filter(|d| accept(d.kind))
        .map(|d| &*d.name);
    let near = suggest(name, near);
    // `use acme.b.x` in module `acme.b` itself: whatever was meant, this `use` is not, as the
    // file's own declarations are in scope without one.
    if file == here && matches!(written, Written::Use { .. }) {
        return match near {
            Some(s) => format!(
                "`{module}` is this file's own module, whose declarations are in scope without a `use`: remove it from this `use`, and write `{s}` if that is the name you mean"
            ),
            None => format!(
                "`{module}` is this file's own module, and no module checked declares `{name}`: remove it from this `use`, and declare `{name}` in this file or import it from the module that declares it, checked with this file"
            ),
        };
    }
    if let Some(s) = near {
        return match written {
            Written::Use { .. } => format!("did you mean `{s}`?"),
            Written::Path => format!("did you mean `{module}.{s}`?"),
        };
    }
    // In the order they are declared: a module starts with what it is about.
    let mut defs: Vec<&Def> = (table.by_name.values())
        .filter(|d| accept(d.kind))
        .collect();
    defs.sort_by_key(|d| d.index);
    const SHOWN: usize = 12;
    let mut names: Vec<String> = defs
        .iter()
        .take(SHOWN)
        .map(|d| format!("`{}`", d.name))
        .collect();
    if defs.len() > SHOWN {
        names.push(format!("and {} more", defs.len() - SHOWN));
    }
    let stdlib = if module == "std" || module.starts_with("std.") {
        " (docs/stdlib.md lists the standard library)"
    } else {
        ""
    };
    if names.is_empty() {
        let what = match written {
            Written::Use { .. } => "nothing",
            Written::Path => "nothing this place takes",
        };
        format!(
            "`{module}` declares {what}{stdlib}: name another module, or declare `{name}` where it is needed"
        )
    } else {
        format!(
            "`{module}` declares {}{stdlib}: name one of those, or declare `{name}` where it is needed",
            names.join(", ")
        )
    }
}

/// The name of the module a `use` imports from (`std.time` for `use std.time.local_hour`, as
/// for `use std.time.*` and `use std.time.{hours, local_hour}`).
pub fn use_module(import: &ast::Use) -> String {
    let segs = &import.path.segments;
    let module = match import.kind {
        UseKind::Single { .. } => &segs[..segs.len().saturating_sub(1)],
        UseKind::Glob | UseKind::Group(_) => &segs[..],
    };
    module
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(".")
}

/// Whether `import`, a `use` of `file`, imports from the module `file` declares itself (a
/// self-import, which brings nothing: the file's own declarations are in scope already).
pub fn imports_itself(db: &dyn Db, project: Project, file: SourceFile, import: &ast::Use) -> bool {
    module_index(db, project).by_name.get(&use_module(import)) == Some(&file)
}

/// If `file` imports `name` (by a single, group or glob `use` of a module that declares it),
/// the module it imports it from and the name it has there (an alias renames). Read from the
/// `use` lines themselves, not the file's scope: two modules may import from each other. A
/// `use` of the file's own module imports nothing (it may be the very `use` being explained).
fn imported_by(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    name: &str,
) -> Option<(String, String)> {
    for import in &parse_file(db, file).ast.uses {
        if imports_itself(db, project, file, import) {
            continue;
        }
        let segs = &import.path.segments;
        let joined = |s: &[ast::Ident]| {
            s.iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>()
                .join(".")
        };
        match &import.kind {
            UseKind::Single { alias } => {
                let last = import.path.last();
                if alias.as_ref().unwrap_or(last).name == name && segs.len() > 1 {
                    return Some((joined(&segs[..segs.len() - 1]), last.name.clone()));
                }
            }
            UseKind::Group(names) => {
                if names.iter().any(|n| n.name == name) {
                    return Some((joined(segs), name.to_string()));
                }
            }
            UseKind::Glob => {
                let from = joined(segs);
                if let Some(f) = module_index(db, project).by_name.get(&from)
                    && item_table(db, *f).by_name.contains_key(name)
                {
                    return Some((from, name.to_string()));
                }
            }
        }
    }
    None
}

/// The closest candidate to `name`, if one is close enough to be a likely typo: the first of
/// the highest Jaro-Winkler score among those scoring above 0.85 or at most a third of the
/// name's length away in Levenshtein distance ([`nearest`], which sets most candidates aside
/// without comparing them in full, so that thousands of unknown names among thousands of
/// candidates stay cheap).
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    let candidates: Vec<&str> = candidates.collect();
    let mut unbounded = u64::MAX;
    nearest(name, &candidates, &mut unbounded).map(str::to_string)
}

/// [`suggest`] as it was written first, comparing every candidate in full: the oracle the
/// bounds of [`nearest`] are tested against.
#[cfg(test)]
pub(crate) fn suggest_comparing_all<'a>(
    name: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let score = strsim::jaro_winkler(name, c);
        let close = strsim::levenshtein(name, c) <= (name.len().max(3) / 3).max(1);
        if (score > 0.85 || close) && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// Room for error in the bounds of [`nearest`]: far above the rounding of a score (about
/// 1e-16), far below a difference of scores of names (1e-3 and more).
const SCORE_SLACK: f64 = 1e-9;

/// The closest of `candidates` to `name`, as [`suggest`] finds it (the first of the
/// highest Jaro-Winkler score among those scoring above 0.85 or at most a third of the name's
/// length away in Levenshtein distance), if `budget` lasts; `None` once it runs out, and then
/// for good.
///
/// Most candidates are set aside without computing either measure, by bounds from what the
/// two names have in common: the characters both hold, counted with repeats, bound the
/// characters Jaro matches (`m <= common`), so its score from above, and the edit distance
/// from below (`>= longer - common`). Of those that the bounds leave a chance of being
/// accepted, each whose score's bound is higher than every one before it is compared in full
/// at once, and from then on a candidate whose bound is below the best score found is set
/// aside as it is met; the others are compared afterwards, highest bound first, until the
/// bound falls below the best score found. A candidate near the name is found early, so
/// thousands of names alike (`Kind1` … `Kind4000`, each misspelt once) are not each compared
/// with every earlier one, nor kept. Ties go to the earlier candidate, as they did comparing
/// in order; the bounds being true bounds, what is set aside could not have been the answer.
pub fn nearest<'c, S: AsRef<str>>(
    name: &str,
    candidates: &'c [S],
    budget: &mut u64,
) -> Option<&'c str> {
    if *budget == 0 {
        return None;
    }
    let mut to = NearTo::new(name);
    // Each candidate that may be accepted and is not compared yet: its score's bound, its
    // place, its distance's bound.
    let mut open: Vec<Open> = Vec::new();
    // The best accepted so far: its score and place.
    let mut best: Option<(f64, usize)> = None;
    // The highest bound met so far.
    let mut top = f64::NEG_INFINITY;
    for (k, c) in candidates.iter().enumerate() {
        let c: &str = c.as_ref();
        let cost = c.len() as u64 + 8;
        if *budget < cost {
            *budget = 0;
            return None;
        }
        *budget -= cost;
        let Some((score_bound, distance_bound)) = to.bounds(c) else {
            continue;
        };
        // One that cannot reach the best score, nor tie with it, is set aside.
        if best.is_some_and(|(s, _)| score_bound + SCORE_SLACK < s) {
            continue;
        }
        let candidate = Open(score_bound, k, distance_bound);
        if score_bound > top {
            // A bound higher than any before: compared now, so that a near name found
            // early sets aside, unkept, the thousands that share its letters.
            top = score_bound;
            if !compare_in_full(name, to.near, candidates, &candidate, &mut best, budget) {
                return None;
            }
        } else {
            open.push(candidate);
        }
    }
    // The rest, highest bound first (a heap rather than a sort: often only the first few are
    // compared before the bound falls below the best found). Which are compared first
    // changes nothing but the work: every one that could reach the best score is compared,
    // and of equal scores the earliest wins.
    let mut open = std::collections::BinaryHeap::from(open);
    while let Some(o) = open.pop() {
        // No candidate left can reach the best score, nor tie with it.
        if best.is_some_and(|(s, _)| o.0 + SCORE_SLACK < s) {
            break;
        }
        if !compare_in_full(name, to.near, candidates, &o, &mut best, budget) {
            return None;
        }
    }
    best.and_then(|(_, k)| candidates.get(k)).map(AsRef::as_ref)
}

/// For [`nearest`]: compares candidate `o` of `candidates` with `name` in full, and makes it
/// `best` if it is accepted (a Jaro-Winkler score above 0.85, or at most `near` away in
/// Levenshtein distance) and scores higher than the best so far, or as high and earlier.
/// False, with `budget` emptied, if the budget does not cover the comparison.
fn compare_in_full<S: AsRef<str>>(
    name: &str,
    near: usize,
    candidates: &[S],
    o: &Open,
    best: &mut Option<(f64, usize)>,
    budget: &mut u64,
) -> bool {
    let Open(_, k, distance_bound) = *o;
    let Some(c) = candidates.get(k).map(AsRef::as_ref) else {
        return true;
    };
    // Both measures take a step for each pair of characters.
    let cost = (name.len() as u64)
        .saturating_mul(c.len() as u64)
        .saturating_mul(2);
    if *budget < cost {
        *budget = 0;
        return false;
    }
    *budget -= cost;
    let score = strsim::jaro_winkler(name, c);
    // As comparing in order did: a higher score wins, an equal one only if earlier.
    if best.is_some_and(|(s, at)| score < s || (score == s && k > at)) {
        return true;
    }
    if score > 0.85 || (distance_bound <= near && strsim::levenshtein(name, c) <= near) {
        *best = Some((score, k));
    }
    true
}

/// A candidate [`nearest`] compares in full unless the best found beats its bound: its score's
/// bound, its place, its distance's bound. Ordered by the bound, then the earlier place first,
/// so that a heap gives them highest bound first and, of equal bounds, in order.
struct Open(f64, usize, usize);

impl Ord for Open {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.total_cmp(&other.0)).then(other.1.cmp(&self.1))
    }
}

impl PartialOrd for Open {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Open {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Open {}

#[cfg(test)]
thread_local! {
    /// How many times [`NearTo::accepts`] compared a candidate on this thread: tests count
    /// the comparisons of what must not compare every pair.
    pub(crate) static NEAR_TO_COMPARISONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One name, made ready to be compared with candidates one at a time: whether a candidate is
/// near enough to it to be suggested for it, as [`suggest`] would suggest it from a list of
/// that candidate alone. The bounds of [`nearest`] set most candidates aside after a count of
/// the characters they share with the name, so that a name compared with thousands of
/// candidates costs about a step a byte of each.
pub struct NearTo<'n> {
    name: &'n str,
    profile: Profile,
    /// The Levenshtein distance at most which a candidate is near the name.
    near: usize,
    /// Scratch for [`Profile::common`]: all zeros between calls.
    used: [u32; 128],
}

impl<'n> NearTo<'n> {
    /// `name`, ready to be compared.
    pub fn new(name: &'n str) -> NearTo<'n> {
        NearTo {
            name,
            profile: Profile::of(name),
            near: (name.len().max(3) / 3).max(1),
            used: [0; 128],
        }
    }

    /// Whether `candidate` is near enough to the name to be suggested for it: what
    /// `suggest(name, std::iter::once(candidate)).is_some()` says, at the cost of a count of
    /// their characters for most candidates that are not.
    pub fn accepts(&mut self, candidate: &str) -> bool {
        #[cfg(test)]
        NEAR_TO_COMPARISONS.with(|n| n.set(n.get() + 1));
        let Some((_, distance_bound)) = self.bounds(candidate) else {
            return false;
        };
        strsim::jaro_winkler(self.name, candidate) > 0.85
            || (distance_bound <= self.near
                && strsim::levenshtein(self.name, candidate) <= self.near)
    }

    /// For a candidate that may be near the name, bounds of its measures: its Jaro-Winkler
    /// score's upper bound and its Levenshtein distance's lower bound. `None` for the name
    /// itself, and for a candidate the bounds show cannot be near it (see [`nearest`]).
    fn bounds(&mut self, c: &str) -> Option<(f64, usize)> {
        if c == self.name {
            return None;
        }
        let profile = &self.profile;
        let (common, chars) = profile.common(c, &mut self.used);
        let m = common.min(profile.chars).min(chars);
        let prefix = (self.name.chars().take(4).zip(c.chars()))
            .take_while(|(a, b)| a == b)
            .count();
        let score_bound = if m == 0 {
            0.0
        } else {
            let (m, a, b) = (m as f64, profile.chars as f64, chars as f64);
            // `(m / a + m / b + 1) / 3` with one division (a search makes thousands): the
            // rounding differs by far less than the slack every use of the bound allows.
            let jaro = (m * (a + b) + a * b) / (3.0 * a * b);
            // Winkler's bonus (given only above 0.7) grows with the score it is given to:
            // added to the bound whatever the score, the bound still bounds.
            jaro + 0.1 * prefix as f64 * (1.0 - jaro)
        };
        let distance_bound = profile.chars.max(chars) - m;
        if score_bound < 0.85 - SCORE_SLACK && distance_bound > self.near {
            return None;
        }
        Some((score_bound, distance_bound))
    }
}

/// What [`nearest`] bounds its measures with: a name's length in characters, and how many
/// times it holds each character (those past ASCII counted together by their code modulo
/// 128, which can only count more in common, never less: the bounds stay true).
struct Profile {
    chars: usize,
    counts: [u32; 128],
    /// `counts` in bytes, when each fits (a name of fewer than 256 bytes): copied for each
    /// candidate and counted down, which needs no second pass to reset.
    small: Option<[u8; 128]>,
}

impl Profile {
    fn of(name: &str) -> Profile {
        let mut counts = [0u32; 128];
        let mut chars = 0;
        for ch in name.chars() {
            counts[ch as usize % 128] += 1;
            chars += 1;
        }
        let small = (name.len() <= usize::from(u8::MAX)).then(|| counts.map(|c| c as u8));
        Profile {
            chars,
            counts,
            small,
        }
    }

    /// How many characters `other` has in common with the name, counted with repeats, and
    /// its length in characters. `used` is all zeros, and left so.
    fn common(&self, other: &str, used: &mut [u32; 128]) -> (usize, usize) {
        let (mut common, mut chars) = (0, 0);
        // Bytes, when each is a character: the same count without decoding (names are most
        // often ASCII, and a search looks at thousands of them).
        if let Some(small) = &self.small
            && other.is_ascii()
        {
            let mut left = *small;
            for &b in other.as_bytes() {
                let l = &mut left[usize::from(b)];
                let has = u8::from(*l > 0);
                *l -= has;
                common += usize::from(has);
            }
            return (common, other.len());
        }
        if other.is_ascii() {
            for &b in other.as_bytes() {
                let at = usize::from(b);
                if used[at] < self.counts[at] {
                    used[at] += 1;
                    common += 1;
                }
            }
            for &b in other.as_bytes() {
                used[usize::from(b)] = 0;
            }
            return (common, other.len());
        }
        for ch in other.chars() {
            let at = ch as usize % 128;
            if used[at] < self.counts[at] {
                used[at] += 1;
                common += 1;
            }
            chars += 1;
        }
        for ch in other.chars() {
            used[ch as usize % 128] = 0;
        }
        (common, chars)
    }
}

/// For a name that resolves nowhere: a `use` line that would bring it in, if some module of
/// the project (the standard library included) declares it as something of a kind `accept`
/// takes (a record `Consent` is no help where a function `consent` is called).
pub fn import_hint(
    db: &dyn Db,
    project: Project,
    name: &str,
    accept: impl Fn(DefKind) -> bool,
) -> Option<String> {
    module_index(db, project)
        .by_name
        .iter()
        .find(|(_, f)| {
            item_table(db, **f)
                .by_name
                .get(name)
                .is_some_and(|d| accept(d.kind))
        })
        .map(|(m, _)| format!("add `use {m}.{name}` at the top of the file"))
}

/// A parameter or field with its resolved type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TypedParam {
    /// Its name.
    pub name: Arc<str>,
    /// Its type.
    pub ty: Ty,
    /// Where its name is written.
    pub span: Span,
}

/// The resolved signature of a declaration: what other items need to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Signature {
    /// A record's fields.
    Record(Vec<TypedParam>),
    /// An enum's variants.
    Enum(Vec<Arc<str>>),
    /// An action's parameters, purpose and risk class.
    Action {
        /// Parameters.
        params: Vec<TypedParam>,
        /// The purpose's declaration, if it resolves.
        purpose: Option<Def>,
        /// The risk class as written.
        risk: Option<Arc<str>>,
    },
    /// Parameters and the type of a value (signals give `T?`; functions `T`).
    Callable {
        /// Parameters.
        params: Vec<TypedParam>,
        /// The result type.
        ret: Ty,
    },
    /// Anything else: roles, channels, purposes, policies, decisions, journeys, agents.
    Other,
}

/// The signature of the declaration `index` of `file`; types that do not resolve are
/// [`Ty::Unknown`] (the declaring file's check reports them).
#[salsa::tracked(returns(ref))]
pub fn signature(db: &dyn Db, project: Project, file: SourceFile, index: u32) -> Signature {
    let Some(item) = crate::db::item_ast(db, file, index) else {
        return Signature::Other;
    };
    let scope = file_scope(db, project, file);
    let params = |ps: &[ast::Param]| -> Vec<TypedParam> {
        ps.iter()
            .map(|p| TypedParam {
                name: Arc::from(p.name.name.as_str()),
                ty: resolve_type(db, project, scope, &p.ty).unwrap_or(Ty::Unknown),
                span: p.name.span,
            })
            .collect()
    };
    match &item.kind {
        ItemKind::Record(r) => Signature::Record(params(&r.fields)),
        ItemKind::Enum(e) => Signature::Enum(
            e.variants
                .iter()
                .map(|v| Arc::from(v.name.name.as_str()))
                .collect(),
        ),
        ItemKind::Action(a) => Signature::Action {
            params: params(&a.params),
            purpose: a
                .purpose
                .as_ref()
                .and_then(|p| match scope.lookup(db, &p.name) {
                    Lookup::Found(e) if e.def.kind == DefKind::Purpose => Some(e.def),
                    _ => None,
                }),
            risk: a.risk.as_ref().map(|r| Arc::from(r.name.as_str())),
        },
        ItemKind::Signal(s) => Signature::Callable {
            params: params(&s.params),
            // A read is absent when the signal cannot be read: `T?`, and for a declared `T?`
            // the same `T?`, since `T??` is `T?` (language.md §6.1).
            ret: match resolve_type(db, project, scope, &s.ty).unwrap_or(Ty::Unknown) {
                t @ Ty::Optional(_) => t,
                t => Ty::Optional(Box::new(t)),
            },
        },
        ItemKind::Event(e) => Signature::Callable {
            params: params(&e.params),
            ret: Ty::Unknown,
        },
        ItemKind::Fn(f) => Signature::Callable {
            params: params(&f.params),
            ret: resolve_type(db, project, scope, &f.ret).unwrap_or(Ty::Unknown),
        },
        _ => Signature::Other,
    }
}

/// The names of the built-in types.
pub const BUILTIN_TYPES: &[&str] = &[
    "Bool", "Int", "Decimal", "Money", "Text", "Duration", "Time", "Tz", "Id", "Channel",
    "Purpose", "Role", "List", "Set",
];

/// Resolves a written type in `scope`.
pub fn resolve_type(
    db: &dyn Db,
    project: Project,
    scope: &Scope,
    t: &TypeExpr,
) -> Result<Ty, Box<Diagnostic>> {
    resolve_type_in(db, project, scope, t, &Arc::from(""))
}

/// Resolves a written type, reporting problems against `path`.
pub fn resolve_type_in(
    db: &dyn Db,
    project: Project,
    scope: &Scope,
    t: &TypeExpr,
    path: &Arc<str>,
) -> Result<Ty, Box<Diagnostic>> {
    match t {
        // Reported by the parser.
        TypeExpr::Error(_) => Ok(Ty::Unknown),
        TypeExpr::Optional { inner, .. } => {
            let inner = resolve_type_in(db, project, scope, inner, path)?;
            Ok(match inner {
                Ty::Optional(_) => inner,
                other => Ty::Optional(Box::new(other)),
            })
        }
        TypeExpr::Open { fields, .. } => {
            let mut out = Vec::new();
            for (name, ft) in fields {
                out.push((
                    Arc::from(name.name.as_str()),
                    resolve_type_in(db, project, scope, ft, path)?,
                ));
            }
            Ok(Ty::Open(out))
        }
        TypeExpr::Named {
            path: p,
            args,
            span,
        } => {
            let name = p.dotted();
            let arity = |n: usize| -> Result<(), Box<Diagnostic>> {
                if args.len() == n {
                    Ok(())
                } else {
                    Err(Box::new(
                        Diagnostic::error(
                            "E0309",
                            path,
                            *span,
                            format!(
                                "`{name}` takes {n} type argument{}, found {}",
                                if n == 1 { "" } else { "s" },
                                args.len()
                            ),
                        )
                        .with_label("wrong number of type arguments")
                        .with_help(if n == 1 {
                            format!("write `{name}<T>`")
                        } else {
                            format!("write `{name}` alone")
                        }),
                    ))
                }
            };
            let builtin = match name.as_str() {
                "Bool" => Some(Ty::Bool),
                "Int" => Some(Ty::Int),
                "Decimal" => Some(Ty::Decimal),
                "Money" => Some(Ty::Money),
                "Text" => Some(Ty::Text),
                "Duration" => Some(Ty::Duration),
                "Time" => Some(Ty::Time),
                "Tz" => Some(Ty::Tz),
                "Id" => Some(Ty::Id),
                "Channel" => Some(Ty::Channel),
                "Purpose" => Some(Ty::Purpose),
                "Role" => Some(Ty::Role),
                "List" | "Set" => {
                    arity(1)?;
                    let inner = resolve_type_in(db, project, scope, &args[0], path)?;
                    return Ok(if name == "List" {
                        Ty::List(Box::new(inner))
                    } else {
                        Ty::Set(Box::new(inner))
                    });
                }
                _ => None,
            };
            if let Some(b) = builtin {
                arity(0)?;
                return Ok(b);
            }
            let found = if p.segments.len() == 1 {
                scope.lookup(db, &name)
            } else {
                let module: Vec<&str> = p.segments[..p.segments.len() - 1]
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect();
                match module_index(db, project).by_name.get(&module.join(".")) {
                    Some(f) => item_table(db, *f)
                        .by_name
                        .get(p.last().name.as_str())
                        .map_or(Lookup::Missing, |d| {
                            Lookup::Found(Entry {
                                def: d.clone(),
                                via_use: None,
                            })
                        }),
                    None => Lookup::Missing,
                }
            };
            match found {
                Lookup::Found(e) => {
                    let ty = match e.def.kind {
                        DefKind::Record => Ty::Record(e.def.clone()),
                        DefKind::Enum => Ty::Enum(e.def.clone()),
                        other => {
                            return Err(Box::new(
                                Diagnostic::error(
                                    "E0208",
                                    path,
                                    *span,
                                    format!("`{name}` is {}, not a type", other.describe()),
                                )
                                .with_label("expected a type")
                                .with_secondary(e.def.file.path(db), e.def.span, "declared here")
                                .with_help("types are the built-in types, records and enums"),
                            ));
                        }
                    };
                    arity(0)?;
                    Ok(ty)
                }
                Lookup::Ambiguous(defs) => Err(Box::new(ambiguous(db, path, &name, *span, &defs))),
                // Named by a failed `use`: its error says what to fix.
                Lookup::Missing if scope.failed_imports.contains(name.as_str()) => Ok(Ty::Unknown),
                Lookup::Missing => {
                    let mut d =
                        Diagnostic::error("E0207", path, *span, format!("unknown type `{name}`"))
                            .with_label("no type by this name is in scope");
                    let is_type = |k: DefKind| matches!(k, DefKind::Record | DefKind::Enum);
                    let mut candidates: Vec<Arc<str>> =
                        BUILTIN_TYPES.iter().map(|s| Arc::from(*s)).collect();
                    candidates.extend(scope.visible_names_of(db, is_type));
                    // A module that declares the very name beats a near spelling.
                    if let Some(h) = import_hint(db, project, &name, is_type) {
                        d = d.with_help(h);
                    } else if let Some(s) = suggest(&name, candidates.iter().map(|c| &**c)) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    } else {
                        d = d.with_help(format!(
                            "declare `record {name} {{ ... }}` or import it with `use`"
                        ));
                    }
                    Err(Box::new(d))
                }
            }
        }
    }
}

/// E0212 for a name offered by several imports (`defs`, the declarations it could mean). The
/// help names the explicit `use` of each, which takes precedence over the glob imports.
pub fn ambiguous(db: &dyn Db, path: &Arc<str>, name: &str, span: Span, defs: &[Def]) -> Diagnostic {
    let uses: Vec<String> = defs
        .iter()
        .map(|def| format!("`use {}`", def.qualified(db)))
        .collect();
    let choice = match uses.split_last() {
        Some((last, [])) => format!(": {last}"),
        Some((last, rest)) => format!(": {} or {last}", rest.join(", ")),
        // An ambiguous name has candidates; without them, the help still says what to do.
        None => String::new(),
    };
    let mut d = Diagnostic::error("E0212", path, span, format!("`{name}` is ambiguous"))
        .with_label("more than one declaration in scope has this name")
        .with_help(format!(
            "import the one you mean explicitly (an explicit `use` takes precedence over a glob import){choice}"
        ));
    for def in defs {
        d = d.with_secondary(def.file.path(db), def.span, "one candidate");
    }
    d
}

/// Resolves a path written in `file` without reporting (the type checker reports): a single
/// name in the file's scope, or `module.item`, where a connector path such as `camara.x` is
/// short for `std.camara.x`.
pub fn resolve_path(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    path: &ast::Path,
) -> Option<Def> {
    if path.segments.len() == 1 {
        return match file_scope(db, project, file).lookup(db, &path.segments[0].name) {
            Lookup::Found(e) => Some(e.def),
            _ => None,
        };
    }
    let module: Vec<&str> = path.segments[..path.segments.len() - 1]
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let module = module.join(".");
    let index = module_index(db, project);
    let f = index
        .by_name
        .get(&module)
        .or_else(|| index.by_name.get(&format!("std.{module}")))?;
    item_table(db, *f)
        .by_name
        .get(path.last().name.as_str())
        .cloned()
}
