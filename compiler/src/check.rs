//! Semantic checks of a file: its module and imports, then each item on its own (a salsa query
//! per item, so that editing one policy re-checks that policy only), then unused imports.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::ast::{self, ItemKind, Target, TestStmt, Trigger};
use crate::db::{Db, Project, SourceFile, parse_file};
use crate::diagnostic::Diagnostic;
use crate::resolve::{self, Def, DefKind, Signature, TypedParam};
use crate::span::Span;
use crate::types::{Checker, Env, Ty};

/// The EU AI Act risk classes an action may declare.
pub const RISK_CLASSES: &[&str] = &["minimal", "limited", "high", "prohibited"];

/// Annotations the compiler knows, and where they may be written.
const ANNOTATIONS: &[(&str, &str)] = &[
    ("personal", "a record field"),
    ("reaches_phone", "a channel"),
    ("annex_iii", "an action"),
    ("ai_disclosure", "an action"),
];

/// Resolution and type diagnostics of one file.
#[salsa::tracked(returns(ref))]
pub fn check_file(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let path = file.path(db);
    let parsed = parse_file(db, file);
    let mut out: Vec<Diagnostic> = resolve::module_index(db, project)
        .diagnostics
        .iter()
        .filter(|d| d.file == *path)
        .cloned()
        .collect();
    out.extend(resolve::item_table(db, file).diagnostics.iter().cloned());
    let scope = resolve::file_scope(db, project, file);
    out.extend(scope.diagnostics.iter().cloned());
    let mut used = BTreeSet::new();
    // Names written where checking could not see them all: anywhere in a file with a syntax
    // error (a rule cut short is not checked whole), or in an item with an error. A `use`
    // that brings one in may well be needed once the error is fixed, so it is not reported.
    let syntax_error = parsed.diagnostics.iter().any(Diagnostic::is_error);
    let mut unchecked: Vec<Span> = Vec::new();
    for (i, item) in parsed.ast.items.iter().enumerate() {
        let checked = check_item(db, project, file, u32::try_from(i).unwrap_or(u32::MAX));
        out.extend(checked.diagnostics.iter().cloned());
        used.extend(checked.used_imports.iter().cloned());
        if syntax_error || checked.diagnostics.iter().any(Diagnostic::is_error) {
            unchecked.push(item.span);
        }
    }
    let text = file.text(db);
    let unchecked_names: BTreeSet<&str> = parsed
        .names
        .iter()
        .filter(|n| {
            unchecked
                .iter()
                .any(|s| s.start() <= n.start() && n.end() <= s.end())
        })
        .filter_map(|n| text.get(n.range()))
        .collect();
    // Imports nothing needed, name by name. Glob imports are exempt: they are a deliberate
    // "all of it". An import from the file's own module is never needed, glob or not.
    for (i, u) in parsed.ast.uses.iter().enumerate() {
        if resolve::imports_itself(db, project, file, u) {
            out.extend(self_import(db, file, path, u));
            continue;
        }
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        let names: Vec<(&str, Span)> = match &u.kind {
            ast::UseKind::Glob => continue,
            ast::UseKind::Single { alias } => {
                let n = alias.as_ref().unwrap_or(u.path.last());
                vec![(n.name.as_str(), u.span)]
            }
            ast::UseKind::Group(ns) => ns.iter().map(|n| (n.name.as_str(), n.span)).collect(),
        };
        // Only names this `use` did bring in (an unknown one is reported as E0204).
        let unused: Vec<(&str, Span)> = names
            .into_iter()
            .filter(|(n, _)| scope.names.get(*n).is_some_and(|e| e.via_use == Some(i)))
            .filter(|(n, _)| !used.contains(&(i, n.to_string())))
            .filter(|(n, _)| !unchecked_names.contains(n))
            .collect();
        let brought = scope
            .names
            .values()
            .filter(|e| e.via_use == Some(i))
            .count();
        if unused.is_empty() {
            continue;
        }
        if unused.len() == brought {
            out.push(
                Diagnostic::warning(
                    "W0201",
                    path,
                    u.span,
                    format!("`use {}` is not needed", use_written(u)),
                )
                .with_label("nothing in this file uses it")
                .with_help("remove the line"),
            );
        } else {
            for (n, span) in unused {
                out.push(
                    Diagnostic::warning(
                        "W0201",
                        path,
                        span,
                        format!("`{n}` is imported but not used"),
                    )
                    .with_label("not used in this file")
                    .with_help(format!("remove `{n}` from the `use` line")),
                );
            }
        }
    }
    let dropped = dropped_names(db, project);
    if !dropped.is_empty() {
        out.retain(|d| d.file != *path || !names_a_dropped_name(d, text, dropped));
    }
    out
}

/// What `u` imports, as a `use` line writes it (`std.consent.{consent, Consent}`, `std.time.*`,
/// `std.time.local_hour as lh`), for a message that quotes the line.
fn use_written(u: &ast::Use) -> String {
    let path = u.path.dotted();
    match &u.kind {
        ast::UseKind::Single { alias: Some(a) } => format!("{path} as {}", a.name),
        ast::UseKind::Single { alias: None } => path,
        ast::UseKind::Glob => format!("{path}.*"),
        ast::UseKind::Group(ns) => {
            let names: Vec<&str> = ns.iter().map(|n| n.name.as_str()).collect();
            format!("{path}.{{{}}}", names.join(", "))
        }
    }
}

/// W0201 for `u`, a `use` of the file's own module (in file `file`, at `path`): it brings
/// nothing, since the file's own declarations are in scope without a `use`; a glob of it too.
/// A name its module does not declare is E0204 already, and an alias (`use acme.b.x as y`)
/// does bring a name of its own, reported like any import if unused.
fn self_import(db: &dyn Db, file: SourceFile, path: &Arc<str>, u: &ast::Use) -> Vec<Diagnostic> {
    let own = resolve::item_table(db, file);
    let module = resolve::use_module(u);
    let names: Vec<&ast::Ident> = match &u.kind {
        ast::UseKind::Glob => Vec::new(),
        ast::UseKind::Single { alias: Some(a) } if a.name != u.path.last().name => return vec![],
        ast::UseKind::Single { .. } => vec![u.path.last()],
        ast::UseKind::Group(ns) => ns.iter().collect(),
    };
    let declared: Vec<&ast::Ident> = (names.iter().copied())
        .filter(|n| own.by_name.contains_key(n.name.as_str()))
        .collect();
    let why = "the file's own declarations are in scope without a `use`";
    if matches!(u.kind, ast::UseKind::Glob)
        || (!declared.is_empty() && declared.len() == names.len())
    {
        let d = Diagnostic::warning(
            "W0201",
            path,
            u.span,
            format!("`use {}` is not needed", use_written(u)),
        )
        .with_label(format!("`{module}` is this file's own module"))
        .with_help(format!("remove the line: {why}"));
        return vec![d];
    }
    (declared.into_iter())
        .map(|n| {
            Diagnostic::warning(
                "W0201",
                path,
                n.span,
                format!("`{}` is imported but not needed", n.name),
            )
            .with_label("declared in this file")
            .with_help(format!("remove `{}` from the `use` line: {why}", n.name))
        })
        .collect()
}

/// The names written where the parser could read no declaration, in any file of the project:
/// outside the module line, every `use` and every item it read (an item it could not read is
/// [`ItemKind::Error`], and a broken `use` line is none). Such text may declare or import a
/// name (`policy p for …` missing its `}`, `enum Segment { vip, standard` unclosed, a `use`
/// group missing its `}`), so a use of one of these names elsewhere is not reported as
/// unresolved: the syntax error says what to fix, and what was skipped raises no error of its
/// own (errors.md E0103).
#[salsa::tracked(returns(ref))]
pub fn dropped_names(db: &dyn Db, project: Project) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for &file in project.files(db) {
        let parsed = parse_file(db, file);
        if !parsed.diagnostics.iter().any(Diagnostic::is_error) {
            continue;
        }
        let ast = &parsed.ast;
        let read: Vec<Span> = (ast.module.iter().map(|m| m.span))
            .chain(ast.uses.iter().map(|u| u.span))
            .chain(
                (ast.items.iter())
                    .filter(|i| !matches!(i.kind, ItemKind::Error))
                    .map(|i| i.span),
            )
            .collect();
        let text = file.text(db);
        for n in parsed.names.iter() {
            let inside = |s: &Span| s.start() <= n.start() && n.end() <= s.end();
            if !read.iter().any(inside)
                && let Some(name) = text.get(n.range())
            {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// Whether `d` says a name does not resolve (E0204, E0205 "cannot find", E0207) where the name, at
/// `d`'s span in `text`, is one of `dropped` ([`dropped_names`]).
fn names_a_dropped_name(d: &Diagnostic, text: &str, dropped: &BTreeSet<String>) -> bool {
    matches!(d.code, "E0204" | "E0205" | "E0207")
        && text
            .get(d.span.range())
            .and_then(|t| t.rsplit('.').next())
            .is_some_and(|name| dropped.contains(name.trim()))
}

/// What checking one item found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ItemCheck {
    /// Its diagnostics.
    pub diagnostics: Vec<Diagnostic>,
    /// The `use` declarations it needed.
    pub used_imports: BTreeSet<(u32, String)>,
}

/// Checks item `index` of `file`: names and types.
#[salsa::tracked(returns(ref))]
pub fn check_item(db: &dyn Db, project: Project, file: SourceFile, index: u32) -> ItemCheck {
    let Some(item) = crate::db::item_ast(db, file, index) else {
        return ItemCheck::default();
    };
    let scope = resolve::file_scope(db, project, file);
    let mut c = Checker::new(db, project, file, scope);
    check_item_with(&mut c, db, project, file, index, item);
    // What lowering would refuse once it inlines the item's calls (E0219).
    c.diags
        .extend(crate::inlining::check(db, project, file, item));
    ItemCheck {
        diagnostics: c.diags,
        used_imports: c.used_imports,
    }
}

/// Checks `item`, item `index` of `file`, with `c`, which collects what is found. The language
/// server runs it with a checker that takes notes (see [`crate::ide`]).
pub fn check_item_with(
    c: &mut Checker<'_>,
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
    item: &ast::Item,
) {
    let path = file.path(db).clone();
    let scope = resolve::file_scope(db, project, file);
    annotations(c, &path, item, scope);
    match &item.kind {
        ItemKind::Record(r) => {
            params(
                c,
                &path,
                &r.fields,
                Open::Refused("a record field"),
                Site::Fields,
            );
            for f in &r.fields {
                for a in &f.annotations {
                    annotation_use(c, &path, a, "personal", Some(scope));
                }
                repeated_annotations(c, &path, &f.annotations, &format!("`{}`", f.name.name));
            }
            if let Some(name) = item.name()
                && let Some(cycle) = record_recursion(db, project, file, index)
            {
                c.diags
                    .push(recursive_record(db, project, &path, &name.name, r, &cycle));
            }
            if let Some(name) = item.name()
                && let Some(d) = record_too_deep(db, project, file, index, &path, &name.name, r)
            {
                c.diags.push(d);
            }
        }
        ItemKind::Enum(e) => {
            if e.variants.is_empty() {
                // No value has the type: no input, no test, could give one (§5.3).
                let n = &e.name.name;
                c.diags.push(
                    Diagnostic::error("E0218", &path, e.name.span, format!("enum `{n}` has no variants"))
                        .with_label("an enum needs at least one variant")
                        .with_note("a value of an enum is one of its variants: an enum without any has no values, so no input and no test can give one")
                        .with_help(format!("list its values, `enum {n} {{ first, second }}`, or remove the enum")),
                );
            }
            let mut seen = BTreeMap::new();
            for v in &e.variants {
                if let Some(first) = seen.insert(v.name.name.clone(), v.name.span) {
                    c.diags
                        .push(resolve::duplicate(&path, &v.name.name, v.name.span, first));
                }
            }
        }
        ItemKind::Action(a) => {
            params(
                c,
                &path,
                &a.params,
                Open::Refused("an action's parameter"),
                Site::Params(Some(&a.name.name)),
            );
            let owner = format!("action `{}`", a.name.name);
            (c.diags).extend(resolve::reserved_params(&path, &owner, &a.params));
            if let Some(p) = &a.purpose {
                c.expect_def(p, DefKind::Purpose);
            }
            if let Some(r) = &a.risk
                && !RISK_CLASSES.contains(&r.name.as_str())
            {
                let mut d = Diagnostic::error(
                    "E0308",
                    &path,
                    r.span,
                    format!("`{}` is not a risk class", r.name),
                )
                .with_label("unknown risk class")
                .with_note("the EU AI Act's classes are minimal, limited, high and prohibited");
                d = match resolve::suggest(&r.name, RISK_CLASSES.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(
                        "write `risk minimal`, `risk limited`, `risk high` or `risk prohibited`",
                    ),
                };
                c.diags.push(d);
            }
        }
        ItemKind::Signal(s) => {
            let ps = params(
                c,
                &path,
                &s.params,
                Open::Refused("a signal's parameter"),
                Site::Params(None),
            );
            c.ty(&s.ty);
            // What a read gives is typed where the signal is declared, not where it is read.
            refuse_open(c, &path, &s.ty, "a signal");
            let mut env = Env::default();
            bind_params(&mut env, &ps);
            let source = c.expect_path(&s.source, DefKind::Intrinsic);
            if let Some(source) = &source {
                not_a_connector(c, db, project, &path, s, source);
            }
            if let Some(source) = source
                && let Signature::Callable { params: sp, ret } =
                    resolve::signature(db, project, source.file, source.index).clone()
            {
                let facts = BTreeSet::new();
                c.args(
                    &env,
                    &facts,
                    s.source.span,
                    &s.source.dotted(),
                    &sp,
                    &s.source_args,
                );
                let declared = c.ty(&s.ty);
                if !crate::types::compatible(db, project, &ret, &declared) {
                    let d = Diagnostic::error(
                        "E0301",
                        &path,
                        s.ty.span(),
                        format!("signal type `{declared}` does not match its source, which gives `{ret}`"),
                    )
                    .with_label("declared type")
                    .with_secondary(source.file.path(db), source.span, "source declared here")
                    .with_help(format!("declare the signal as `: {ret}`"));
                    c.diags.push(d);
                }
            }
            if let Some(m) = &s.max_age {
                c.fixed_duration(
                    &env,
                    m,
                    "`max_age`",
                    "write a duration such as `5m` (arithmetic on literals, `1h + 30m`, works too)",
                );
            }
        }
        ItemKind::Event(e) => {
            params(
                c,
                &path,
                &e.params,
                Open::Refused("an event's parameter"),
                Site::Params(None),
            );
        }
        ItemKind::Fn(f) => {
            let ps = params(c, &path, &f.params, Open::Allowed, Site::Params(None));
            let ret = c.ty(&f.ret);
            // A result has the type written here, which its readers need whole.
            refuse_open(c, &path, &f.ret, "a function's result");
            if let Some(body) = &f.body {
                let mut env = Env::default();
                bind_params(&mut env, &ps);
                c.check(
                    &env,
                    &BTreeSet::new(),
                    body,
                    &ret,
                    "the body must have the function's result type",
                );
                if let Some(name) = item.name()
                    && let Some(cycle) = recursion(db, project, file, index)
                {
                    c.diags.push(
                        Diagnostic::error("E0209", &path, name.span, format!("function `{}` calls itself", name.name))
                            .with_label(format!("through {cycle}"))
                            .with_note("XOP programs always terminate: functions may not be recursive")
                            .with_help("compute the value without recursion, e.g. with `any`, `all` or `count`"),
                    );
                }
            }
        }
        ItemKind::Policy(p) => policy(c, db, project, &path, p),
        ItemKind::Decision(d) => {
            let ps = params(
                c,
                &path,
                &d.params,
                Open::Refused("a decision's parameter"),
                Site::Params(None),
            );
            let owner = format!("decision `{}`", d.name.name);
            (c.diags).extend(resolve::reserved_params(&path, &owner, &d.params));
            let mut env = Env::default();
            bind_params(&mut env, &ps);
            if let Some(at) = &d.at {
                let bound = d
                    .params
                    .iter()
                    .map(|p| (&p.name, format!("parameter `{}`", p.name.name)));
                bind_time(c, &path, &mut env, at, bound);
            }
            for p in &d.proposals {
                action_call(c, db, project, &env, &p.call);
                if let Some(r) = &p.rank {
                    let t = c.expr(&env, &BTreeSet::new(), r, None);
                    if !matches!(t, Ty::Int | Ty::Decimal | Ty::Unknown) {
                        c.diags.push(
                            Diagnostic::error(
                                "E0301",
                                &path,
                                r.span,
                                format!("a rank must be `Int` or `Decimal`, found `{t}`"),
                            )
                            .with_label("rank expression")
                            .with_help("rank by a number: higher ranks first"),
                        );
                    }
                }
                if let Some(cond) = &p.condition {
                    c.condition(&env, &cond.expr);
                }
            }
        }
        ItemKind::Journey(j) => journey(c, db, project, file, j),
        ItemKind::Agent(a) => {
            let mut seen = BTreeMap::new();
            for t in &a.tools {
                if let Some(first) = seen.insert(t.tool.value.clone(), t.tool.span) {
                    c.diags
                        .push(resolve::duplicate(&path, &t.tool.value, t.tool.span, first));
                }
                // A binding cut short by a syntax error (`tool "a" ->` with the next binding's
                // `tool` read as the action) names no action: the syntax error says what is wrong.
                if c.cut_short(t.span) {
                    continue;
                }
                let Some(action) = c.expect_path(&t.action, DefKind::Action) else {
                    continue;
                };
                if let Signature::Action { params: ap, .. } =
                    resolve::signature(db, project, action.file, action.index)
                {
                    let mut bound: BTreeMap<&str, Span> = BTreeMap::new();
                    for name in &t.params {
                        if !ap.iter().any(|p| *p.name == *name.name) {
                            unknown_param(c, &path, &action.name, name, ap);
                        }
                        // One tool argument fills one parameter: a second listing is a slip.
                        if let Some(first) = bound.insert(&name.name, name.span) {
                            c.diags.push(
                                Diagnostic::error(
                                    "E0216",
                                    &path,
                                    name.span,
                                    format!(
                                        "tool \"{}\" lists parameter `{}` twice",
                                        t.tool.value, name.name
                                    ),
                                )
                                .with_label("listed again here")
                                .with_secondary(&path, first, "first listed here")
                                .with_help(format!("remove the second `{}`", name.name)),
                            );
                        }
                    }
                }
            }
        }
        ItemKind::Test(t) => test(c, db, project, &path, t),
        ItemKind::Role(_) | ItemKind::Channel(_) | ItemKind::Purpose(_) | ItemKind::Error => {}
    }
}

/// Whether parameters (or fields) may have an open record type.
#[derive(Clone, Copy)]
enum Open {
    /// A function's parameters: it reads only the fields it names, of any record that has them.
    Allowed,
    /// Anything else, named for the diagnostic: an input (a field, an action's parameter) must
    /// have a declared type, which the runtime binds and checks.
    Refused(&'static str),
}

/// E0315 when `t` has an open record type: only the parameters of functions and intrinsics
/// take one, since their argument has a declared type where they are called; `what` names the
/// place, e.g. "a signal's parameter".
fn refuse_open(c: &mut Checker<'_>, path: &Arc<str>, t: &ast::TypeExpr, what: &str) {
    let Some(span) = open_type(t) else {
        return;
    };
    c.diags.push(
        Diagnostic::error(
            "E0315",
            path,
            span,
            format!("an open record type cannot be the type of {what}"),
        )
        .with_label("open record type")
        .with_note(
            "an open record type `{ f: T, .. }` accepts any record with those fields; it is for \
             a function's parameters, whose argument has a declared type where the function is \
             called",
        )
        .with_help("declare a record with these fields and use its name here"),
    );
}

/// The first open record type written in `t` (itself, or inside `?`, `List<…>`, `Set<…>`).
fn open_type(t: &ast::TypeExpr) -> Option<Span> {
    match t {
        ast::TypeExpr::Open { span, .. } => Some(*span),
        ast::TypeExpr::Optional { inner, .. } => open_type(inner),
        ast::TypeExpr::Named { args, .. } => args.iter().find_map(open_type),
        ast::TypeExpr::Error(_) => None,
    }
}

/// What a list of [`params`] declares, for the annotations written on them.
#[derive(Clone, Copy)]
enum Site<'a> {
    /// A record's fields, where `@personal` belongs.
    Fields,
    /// The parameters of a declaration, which take no annotation; the action's name if the
    /// declaration is an action.
    Params(Option<&'a str>),
}

fn params(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    ps: &[ast::Param],
    open: Open,
    site: Site<'_>,
) -> Vec<TypedParam> {
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for p in ps {
        if let Site::Params(action) = site {
            for a in &p.annotations {
                param_annotation(c, path, p, a, action);
            }
        }
        if let Some(first) = seen.insert(p.name.name.clone(), p.name.span) {
            c.diags
                .push(resolve::duplicate(path, &p.name.name, p.name.span, first));
        }
        let ty = c.ty(&p.ty);
        if let Open::Refused(what) = open {
            refuse_open(c, path, &p.ty, what);
        }
        out.push(TypedParam {
            name: Arc::from(p.name.name.as_str()),
            ty,
            span: p.name.span,
        });
    }
    out
}

fn bind_params(env: &mut Env, ps: &[TypedParam]) {
    for p in ps {
        env.bind(&p.name, p.ty.clone(), p.span);
    }
}

fn annotations(c: &mut Checker<'_>, path: &Arc<str>, item: &ast::Item, scope: &resolve::Scope) {
    let expected = match &item.kind {
        ItemKind::Channel(_) => "reaches_phone",
        ItemKind::Action(_) => "annex_iii ai_disclosure",
        _ => "",
    };
    for a in &item.annotations {
        annotation_use(c, path, a, expected, Some(scope));
    }
    if let Some(name) = item.name() {
        repeated_annotations(c, path, &item.annotations, &format!("`{}`", name.name));
    }
}

/// The purposes written in `@personal(purpose: [a, b])`, if it is written in that form.
fn written_purposes(a: &ast::Annotation) -> Option<Vec<&ast::Ident>> {
    match a.args.as_slice() {
        [arg] if arg.name.as_ref().is_some_and(|n| n.name == "purpose") => match &arg.value.kind {
            ast::ExprKind::List(xs) => xs
                .iter()
                .map(|x| match &x.kind {
                    ast::ExprKind::Name(n) => Some(n),
                    _ => None,
                })
                .collect(),
            _ => None,
        },
        _ => None,
    }
}

/// A type as written, for a help that rewrites a declaration.
fn type_text(t: &ast::TypeExpr) -> String {
    match t {
        ast::TypeExpr::Named { path, args, .. } if args.is_empty() => path.dotted(),
        ast::TypeExpr::Named { path, args, .. } => format!(
            "{}<{}>",
            path.dotted(),
            args.iter().map(type_text).collect::<Vec<_>>().join(", ")
        ),
        ast::TypeExpr::Optional { inner, .. } => format!("{}?", type_text(inner)),
        ast::TypeExpr::Open { fields, .. } => {
            let fields: String = fields
                .iter()
                .map(|(n, t)| format!("{}: {}, ", n.name, type_text(t)))
                .collect();
            format!("{{ {fields}.. }}")
        }
        ast::TypeExpr::Error(_) => "T".to_string(),
    }
}

/// E0214 for annotation `a` on parameter `p` (of action `action`, if an action's): no
/// annotation means anything on a parameter. `@personal` on a parameter would be ignored by
/// purpose limitation (C0006) and by the proof log, which follow record fields; the others
/// mark channels and actions.
fn param_annotation(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    p: &ast::Param,
    a: &ast::Annotation,
    action: Option<&str>,
) {
    let name = a.name.name.as_str();
    if !ANNOTATIONS.iter().any(|(n, _)| *n == name) {
        // Unknown anywhere: said so, with the nearest known name.
        annotation_use(c, path, a, "", None);
        return;
    }
    let param = &p.name.name;
    let help = match name {
        "personal" => {
            let written = written_purposes(a);
            // The purposes are named all the same: their imports are not also unused.
            for n in written.iter().flatten() {
                c.lookup(&n.name, n.span);
            }
            let (annotation, import) = match written {
                Some(ns) if !ns.is_empty() => (
                    format!(
                        "@personal(purpose: [{}])",
                        ns.iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    String::new(),
                ),
                _ => {
                    let (purpose, import) = example_purpose(&purposes_in_scope(Some(c.scope())));
                    (format!("@personal(purpose: [{purpose}])"), import)
                }
            };
            format!(
                "`@personal` marks a record field: declare `{param}` in a record (`record Contact {{ {annotation} {param}: {} }}`{import}) and take that record as the parameter",
                type_text(&p.ty)
            )
        }
        "reaches_phone" => {
            "`@reaches_phone` marks a channel: write it on the line above a `channel` declaration"
                .to_string()
        }
        _ => match action {
            Some(act) => {
                format!("`@{name}` marks an action: write it on the line above `action {act}(…)`")
            }
            None => format!(
                "`@{name}` marks an action: write it on the line above an `action` declaration"
            ),
        },
    };
    c.diags.push(
        Diagnostic::error("E0214", path, a.span, format!("`@{name}` does not belong on a parameter"))
            .with_label(format!("on parameter `{param}`, which takes no annotation"))
            .with_note("annotations mark record fields (`@personal`), channels (`@reaches_phone`) and actions (`@annex_iii`, `@ai_disclosure`); purpose limitation (C0006) and the proof log follow `@personal` record fields, so one on a parameter would be ignored")
            .with_help(help),
    );
}

/// E0214 for each known annotation of `anns` (those of one declaration or field, `on`)
/// written a second time: only one of the two would count.
fn repeated_annotations(c: &mut Checker<'_>, path: &Arc<str>, anns: &[ast::Annotation], on: &str) {
    for (i, a) in anns.iter().enumerate() {
        let name = a.name.name.as_str();
        if !ANNOTATIONS.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let Some(first) = anns[..i].iter().find(|x| x.name.name == name) else {
            continue;
        };
        let help = match name {
            "personal" => {
                // Every purpose of the annotations of this name, once, in order.
                let mut all: Vec<&str> = Vec::new();
                let mut complete = true;
                for x in anns.iter().filter(|x| x.name.name == name) {
                    match written_purposes(x) {
                        Some(ns) => {
                            for n in ns {
                                if !all.contains(&n.name.as_str()) {
                                    all.push(&n.name);
                                }
                            }
                        }
                        None => complete = false,
                    }
                }
                if complete && !all.is_empty() {
                    format!(
                        "merge them into one that lists every purpose: `@personal(purpose: [{}])`",
                        all.join(", ")
                    )
                } else {
                    "merge them into one `@personal(purpose: [...])` that lists every purpose"
                        .to_string()
                }
            }
            "ai_disclosure" => {
                "keep one: the action shows one disclosure, the text the person should read"
                    .to_string()
            }
            "annex_iii" => {
                "keep one: `@annex_iii` names the area that makes the action high-risk".to_string()
            }
            _ => format!("remove the second `@{name}`"),
        };
        c.diags.push(
            Diagnostic::error("E0214", path, a.span, format!("`@{name}` is written twice on {on}"))
                .with_label("written again here")
                .with_secondary(path, first.span, "first written here")
                .with_note("a declaration or field takes each annotation once: of two, one would be silently ignored")
                .with_help(help),
        );
    }
}

/// Checks an annotation written where `allowed` (space-separated names) may stand. `scope`
/// (the file's) names the purposes a help may use.
fn annotation_use(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    a: &ast::Annotation,
    allowed: &str,
    scope: Option<&resolve::Scope>,
) {
    let name = a.name.name.as_str();
    let Some((_, place)) = ANNOTATIONS.iter().find(|(n, _)| *n == name) else {
        let known: Vec<&str> = ANNOTATIONS.iter().map(|(n, _)| *n).collect();
        let mut d = Diagnostic::error(
            "E0214",
            path,
            a.name.span,
            format!("unknown annotation `@{name}`"),
        )
        .with_label("not an annotation XOP knows");
        d = match resolve::suggest(name, known.iter().copied()) {
            Some(s) => d.with_help(format!("did you mean `@{s}`?")),
            None => d.with_help(format!(
                "the annotations are: {}",
                known
                    .iter()
                    .map(|k| format!("@{k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        c.diags.push(d);
        return;
    };
    if !allowed.split(' ').any(|x| x == name) {
        c.diags.push(
            Diagnostic::error(
                "E0214",
                path,
                a.span,
                format!("`@{name}` does not belong here"),
            )
            .with_label(format!("`@{name}` is written on {place}"))
            .with_help("move it or remove it"),
        );
        return;
    }
    match name {
        "personal" => {
            // `@personal(purpose: [a, b])`: the purposes the field may be read for.
            let list = a
                .args
                .iter()
                .find(|x| x.name.as_ref().is_some_and(|n| n.name == "purpose"));
            match list.map(|x| &x.value.kind) {
                Some(ast::ExprKind::List(xs)) if a.args.len() == 1 => {
                    for x in xs {
                        match &x.kind {
                            ast::ExprKind::Name(n) => {
                                c.expect_def(n, DefKind::Purpose);
                            }
                            _ => bad_personal(c, path, a, scope),
                        }
                    }
                }
                _ => bad_personal(c, path, a, scope),
            }
        }
        "reaches_phone" => {
            if !a.args.is_empty() {
                bad_annotation(c, path, a, "`@reaches_phone`");
            }
        }
        "annex_iii" => match a.args.as_slice() {
            [arg] if arg.name.as_ref().is_some_and(|n| n.name == "area") => {
                let env = Env::default();
                let t = c.expr(&env, &BTreeSet::new(), &arg.value, None);
                // By identity, not spelling: a file's own `enum AnnexIII` is no Annex III area.
                let area = matches!(&t, Ty::Enum(d) if c.is_std_item(d, "std.risk", "AnnexIII"));
                if !area && t != Ty::Unknown {
                    let form = annex_iii_form(c);
                    bad_annotation(c, path, a, &form);
                }
            }
            _ => {
                let form = annex_iii_form(c);
                bad_annotation(c, path, a, &form);
            }
        },
        _ => {
            // ai_disclosure("text"): the disclosure shown to the person.
            match a.args.as_slice() {
                [arg] if arg.name.is_none() => match &arg.value.kind {
                    ast::ExprKind::Lit(ast::Literal::Text(t)) if !says_something(t) => {
                        // It would satisfy C0004 and tell the person nothing.
                        c.diags.push(
                            Diagnostic::error("E0214", path, arg.value.span, "`@ai_disclosure` says nothing")
                                .with_label(wordless(t))
                                .with_note("EU AI Act Art. 50: the person must be told that they interact with an AI system; the disclosure is the text they are shown")
                                .with_help("write in words (at least one letter or digit) what the person should read, e.g. `@ai_disclosure(\"You are talking to an AI assistant.\")`"),
                        );
                    }
                    ast::ExprKind::Lit(ast::Literal::Text(_)) => {}
                    _ => bad_annotation(
                        c,
                        path,
                        a,
                        "`@ai_disclosure(\"You are talking to an AI assistant.\")`",
                    ),
                },
                _ => bad_annotation(
                    c,
                    path,
                    a,
                    "`@ai_disclosure(\"You are talking to an AI assistant.\")`",
                ),
            }
        }
    }
}

/// The form of `@annex_iii` for a help, as the file can write it: an `AnnexIII` value of
/// `std.risk`, with the `use` that brings the enum (and so its variants) in if the file does not
/// import it, so that the help checks as written rather than leading to an unknown name.
fn annex_iii_form(c: &mut Checker<'_>) -> String {
    match c.enum_value("std.risk", "AnnexIII", "credit_scoring") {
        Some((Some(import), value)) => format!(
            "`@annex_iii(area: {value})`, an `AnnexIII` value from std.risk, with `{import}` at the top of the file"
        ),
        Some((None, value)) => {
            format!("`@annex_iii(area: {value})` with an `AnnexIII` value from std.risk")
        }
        // No standard library among the files checked: the form as documented.
        None => {
            "`@annex_iii(area: credit_scoring)` with an `AnnexIII` value from std.risk".to_string()
        }
    }
}

/// Whether `text` says something to a person: it has a letter or a digit (`char::is_alphanumeric`)
/// that is no combining mark (general category M, which Unicode may count as alphabetic: U+0345,
/// U+036F, an Indic vowel sign such as U+093E) and shows ([`crate::format::invisible`]: not a
/// Hangul filler). A text of blanks, invisible characters, lone combining marks, private-use
/// characters (U+E000), symbols or punctuation (U+FFFC, `"-"`) says nothing. An
/// `@ai_disclosure` (E0214) and a rule's reason (C0007) must.
pub(crate) fn says_something(text: &str) -> bool {
    text.chars().any(|c| {
        c.is_alphanumeric()
            && !unicode_normalization::char::is_combining_mark(c)
            && !crate::format::invisible(c)
    })
}

/// What a text that does not [`says_something`] is, for a label.
fn wordless(text: &str) -> &'static str {
    if text.is_empty() {
        "an empty text"
    } else if crate::format::shows_nothing(text) {
        "a text that shows nothing"
    } else {
        "a text without a letter or digit"
    }
}

/// The purposes the file can name without an import.
fn purposes_in_scope(scope: Option<&resolve::Scope>) -> Vec<&str> {
    scope
        .map(|s| {
            (s.names.iter())
                .filter(|(_, e)| e.def.kind == DefKind::Purpose)
                .map(|(n, _)| &**n)
                .collect()
        })
        .unwrap_or_default()
}

/// The purpose a `@personal` example names when the annotation names none the file can
/// name, and what the file must add for it: one of `in_scope`, else `service` with its
/// import, so that the example checks as written.
fn example_purpose(in_scope: &[&str]) -> (String, String) {
    match in_scope.first() {
        Some(one) => (one.to_string(), String::new()),
        None => (
            "service".to_string(),
            " (with `use std.consent.service` at the top of the file)".to_string(),
        ),
    }
}

/// E0214 for a `@personal` not written `@personal(purpose: [P, …])`: a misspelt key is named
/// as such, and the example is written with purposes the file can name (those the annotation
/// already lists, else those in scope), so that it checks as written.
fn bad_personal(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    a: &ast::Annotation,
    scope: Option<&resolve::Scope>,
) {
    if a.args
        .iter()
        .any(|x| matches!(x.value.kind, ast::ExprKind::Error))
    {
        return;
    }
    let in_scope = purposes_in_scope(scope);
    // The purposes the annotation names, wherever it names them (`purpse: [service]`,
    // `purpose: service`), if the file can name them.
    let mut written: Vec<&str> = Vec::new();
    for arg in &a.args {
        let names: Vec<&ast::Ident> = match &arg.value.kind {
            ast::ExprKind::List(xs) => xs
                .iter()
                .filter_map(|x| match &x.kind {
                    ast::ExprKind::Name(n) => Some(n),
                    _ => None,
                })
                .collect(),
            ast::ExprKind::Name(n) => vec![n],
            _ => Vec::new(),
        };
        for n in names {
            if in_scope.contains(&n.name.as_str()) && !written.contains(&n.name.as_str()) {
                written.push(&n.name);
            }
        }
    }
    let (purposes, import) = if written.is_empty() {
        example_purpose(&in_scope)
    } else {
        (written.join(", "), String::new())
    };
    let example = format!("`@personal(purpose: [{purposes}])`{import}");
    let unknown_key = a
        .args
        .iter()
        .filter_map(|x| x.name.as_ref())
        .find(|n| n.name != "purpose");
    let (label, help) = match unknown_key {
        Some(k) => (
            format!("`{}` is not a key of `@personal`", k.name),
            match resolve::suggest(&k.name, std::iter::once("purpose")) {
                Some(_) => format!("did you mean `purpose`? write {example}"),
                None => format!("its only key is `purpose`: write {example}"),
            },
        ),
        None => ("invalid arguments".to_string(), format!("write {example}")),
    };
    c.diags.push(
        Diagnostic::error(
            "E0214",
            path,
            a.span,
            format!("`@{}` is not written in its form", a.name.name),
        )
        .with_label(label)
        .with_help(help),
    );
}

fn bad_annotation(c: &mut Checker<'_>, path: &Arc<str>, a: &ast::Annotation, form: &str) {
    // An argument the parser could not read: its syntax error says what is wrong.
    if a.args
        .iter()
        .any(|x| matches!(x.value.kind, ast::ExprKind::Error))
    {
        return;
    }
    c.diags.push(
        Diagnostic::error(
            "E0214",
            path,
            a.span,
            format!("`@{}` is not written in its form", a.name.name),
        )
        .with_label("invalid arguments")
        .with_help(format!("write {form}")),
    );
}

fn unknown_param(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    owner: &str,
    name: &ast::Ident,
    params: &[TypedParam],
) {
    let mut d = Diagnostic::error(
        "E0211",
        path,
        name.span,
        format!("`{owner}` has no parameter `{}`", name.name),
    )
    .with_label("unknown parameter");
    d = match resolve::suggest(&name.name, params.iter().map(|p| &*p.name)) {
        Some(s) => d.with_help(format!("did you mean `{s}`?")),
        None => {
            let names: Vec<&str> = params.iter().map(|p| &*p.name).collect();
            d.with_help(format!("its parameters are: {}", names.join(", ")))
        }
    };
    c.diags.push(d);
}

/// Binds `param: var` pairs to the types of `params`, reporting unknown parameters.
fn bind(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    env: &mut Env,
    owner: &str,
    params: &[TypedParam],
    bindings: &[ast::Binding],
) {
    // Each parameter bound once, each name once: a parameter bound twice, or two parameters
    // under one name, would let the checker and the compiled policy read different ones.
    let mut params_seen: BTreeMap<&str, Span> = BTreeMap::new();
    let mut vars_seen: BTreeMap<&str, Span> = BTreeMap::new();
    for b in bindings {
        let twice = [
            params_seen
                .insert(&b.param.name, b.param.span)
                .map(|first| {
                    let n = &b.param.name;
                    (
                        b.param.span,
                        first,
                        format!("parameter `{n}` is bound more than once"),
                        "bound again here",
                        "first bound here",
                        format!("bind `{n}` once"),
                    )
                }),
            vars_seen.insert(&b.var.name, b.var.span).map(|first| {
                (
                    b.var.span,
                    first,
                    format!("`{}` names two parameters", b.var.name),
                    "a second parameter under this name",
                    "first named here",
                    "give each parameter its own name".to_string(),
                )
            }),
        ];
        for (span, first, message, label, secondary, help) in twice.into_iter().flatten() {
            c.diags.push(
                Diagnostic::error("E0206", path, span, message)
                    .with_label(label)
                    .with_secondary(path, first, secondary)
                    .with_help(help),
            );
        }
    }
    for b in bindings {
        match params.iter().find(|p| *p.name == *b.param.name) {
            Some(p) => env.bind(&b.var.name, p.ty.clone(), b.var.span),
            None => {
                unknown_param(c, path, owner, &b.param, params);
                // Bound all the same, so that its uses are not reported again.
                env.bind(&b.var.name, Ty::Unknown, b.var.span);
            }
        }
    }
}

/// Binds the names of `bindings` to no type: the action or purpose they name does not resolve
/// (its error is reported), and their uses are not reported again as unresolved names.
fn bind_unresolved(env: &mut Env, bindings: &[ast::Binding]) {
    for b in bindings {
        env.bind(&b.var.name, Ty::Unknown, b.var.span);
    }
}

/// Binds `at`, the name of the decision time (`at now`), unless a name of `bound` (a
/// policy's bindings, a decision's parameters, with what each names) is the same: then the
/// rules could not read one of the two, and which one they read would depend on who reads
/// them (E0206, at `at`, which is written after them).
fn bind_time<'n>(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    env: &mut Env,
    at: &ast::Ident,
    bound: impl Iterator<Item = (&'n ast::Ident, String)>,
) {
    let bound: Vec<(&ast::Ident, String)> = bound.collect();
    for (name, what) in &bound {
        if name.name == at.name {
            // A name no binding takes, to suggest: `now`, else `now_2`, `now_3`…
            let free = |n: &str| !bound.iter().any(|(b, _)| b.name == n);
            let suggested = resolve::fresh_name("now", free);
            c.diags.push(
                Diagnostic::error(
                    "E0206",
                    path,
                    at.span,
                    format!("`{}` names both {what} and the decision time", at.name),
                )
                .with_label("the decision time, under a name already taken")
                .with_secondary(
                    path,
                    name.span,
                    format!("{what} is named `{}` here", at.name),
                )
                .with_help(format!(
                    "give the decision time a name of its own, e.g. `at {suggested}`, or rename {what}"
                )),
            );
            // Neither meaning is right: its uses are not checked against one.
            env.bind(&at.name, Ty::Unknown, at.span);
            return;
        }
    }
    env.bind(&at.name, Ty::Time, at.span);
}

/// The actions a policy guards.
pub fn guarded_actions(db: &dyn Db, project: Project, scope_def: &Def) -> Vec<Def> {
    let mut out = Vec::new();
    for &f in resolve::module_index(db, project).by_name.values() {
        for def in resolve::item_table(db, f).by_name.values() {
            if def.kind != DefKind::Action {
                continue;
            }
            if let Signature::Action {
                purpose: Some(p), ..
            } = resolve::signature(db, project, def.file, def.index)
                && p == scope_def
            {
                out.push(def.clone());
            }
        }
    }
    out
}

/// The actions a purpose policy binding `bindings` guards: every action of `purpose`
/// ([`guarded_actions`]) but the standard library's that lack a parameter it binds. The
/// standard library's `create_qos_session` is of purpose `service` and has no `to`: a
/// project's `for purpose service(to: c)` means the project's actions, and the QoD action
/// keeps the policies that name it. A project's own action that lacks a bound parameter is
/// still guarded, and an error (E0211): the policy must not silently skip it.
pub fn purpose_actions(
    db: &dyn Db,
    project: Project,
    purpose: &Def,
    bindings: &[ast::Binding],
) -> Vec<Def> {
    let mut actions = guarded_actions(db, project, purpose);
    actions.retain(|a| {
        !*a.file.is_stdlib(db)
            || match resolve::signature(db, project, a.file, a.index) {
                Signature::Action { params, .. } => bindings
                    .iter()
                    .all(|b| params.iter().any(|x| *x.name == *b.param.name)),
                _ => false,
            }
    });
    actions
}

fn policy(c: &mut Checker<'_>, db: &dyn Db, project: Project, path: &Arc<str>, p: &ast::Policy) {
    let mut env = Env::default();
    match &p.target {
        Target::Action(a) => {
            if let Some(def) = c.expect_path(a, DefKind::Action)
                && let Signature::Action { params, .. } =
                    resolve::signature(db, project, def.file, def.index)
            {
                bind(c, path, &mut env, &def.name, params, &p.bindings);
            } else {
                bind_unresolved(&mut env, &p.bindings);
            }
        }
        Target::Purpose(purpose) => {
            if let Some(def) = c.expect_def(purpose, DefKind::Purpose) {
                // A binding must name a parameter that every action of the purpose has, with
                // one type, so that the policy reads the same thing whichever action it guards.
                let actions = purpose_actions(db, project, &def, &p.bindings);
                for b in &p.bindings {
                    let mut ty: Option<Ty> = None;
                    for a in &actions {
                        let Signature::Action { params, .. } =
                            resolve::signature(db, project, a.file, a.index)
                        else {
                            continue;
                        };
                        match params.iter().find(|x| *x.name == *b.param.name) {
                            None => {
                                c.diags.push(
                                    Diagnostic::error(
                                        "E0211",
                                        path,
                                        b.param.span,
                                        format!(
                                            "action `{}` of purpose `{}` has no parameter `{}`",
                                            a.name, purpose.name, b.param.name
                                        ),
                                    )
                                    .with_label("not a parameter of every action of this purpose")
                                    .with_secondary(a.file.path(db), a.span, "this action lacks it")
                                    .with_help(
                                        "bind only parameters that every action of the purpose has",
                                    ),
                                );
                            }
                            Some(x) => match &ty {
                                None => ty = Some(x.ty.clone()),
                                Some(t) if *t != x.ty => {
                                    c.diags.push(
                                        Diagnostic::error(
                                            "E0301",
                                            path,
                                            b.param.span,
                                            format!("parameter `{}` has type `{t}` in one action and `{}` in `{}`", b.param.name, x.ty, a.name),
                                        )
                                        .with_label("types differ across the purpose's actions")
                                        .with_secondary(a.file.path(db), x.span, "here")
                                        .with_help("give the parameter one type in every action of the purpose"),
                                    );
                                }
                                Some(_) => {}
                            },
                        }
                    }
                    env.bind(&b.var.name, ty.unwrap_or(Ty::Unknown), b.var.span);
                }
            } else {
                bind_unresolved(&mut env, &p.bindings);
            }
        }
    }
    if let Some(at) = &p.at {
        let bound = p
            .bindings
            .iter()
            .map(|b| (&b.var, format!("parameter `{}`", b.param.name)));
        bind_time(c, path, &mut env, at, bound);
    }
    for rule in &p.rules {
        let ast::Rule::Rule {
            kind, condition, ..
        } = rule
        else {
            continue;
        };
        if let ast::RuleKind::Review { role, within, .. } = kind {
            c.expect_def(role, DefKind::Role);
            c.fixed_duration(
                &env,
                within,
                "`within`",
                "write a duration such as `15m`; for a deadline that depends on the case, write one review rule per case, each with its own `when`",
            );
        }
        if let Some(cond) = condition {
            c.condition(&env, &cond.expr);
        }
    }
}

/// Checks `action(args)`: the action exists and the arguments fit its parameters.
fn action_call(
    c: &mut Checker<'_>,
    db: &dyn Db,
    project: Project,
    env: &Env,
    call: &ast::Call,
) -> Option<Def> {
    let def = c.expect_path(&call.callee, DefKind::Action)?;
    if let Signature::Action { params, .. } =
        resolve::signature(db, project, def.file, def.index).clone()
    {
        c.args(
            env,
            &BTreeSet::new(),
            call.span,
            &def.name,
            &params,
            &call.args,
        );
    }
    Some(def)
}

fn journey(c: &mut Checker<'_>, db: &dyn Db, project: Project, file: SourceFile, j: &ast::Journey) {
    let path = file.path(db);
    let ps = params(
        c,
        path,
        &j.params,
        Open::Refused("a journey's parameter"),
        Site::Params(None),
    );
    let mut states: BTreeMap<&str, Span> = BTreeMap::new();
    for s in &j.states {
        if let Some(first) = states.insert(&s.name.name, s.name.span) {
            c.diags
                .push(resolve::duplicate(path, &s.name.name, s.name.span, first));
        }
    }
    for s in &j.states {
        for h in &s.handlers {
            let mut env = Env::default();
            bind_params(&mut env, &ps);
            match &h.trigger {
                Trigger::On {
                    event,
                    bindings,
                    condition,
                } => {
                    if let Some(def) = c.expect_path(event, DefKind::Event)
                        && let Signature::Callable { params, .. } =
                            resolve::signature(db, project, def.file, def.index)
                    {
                        bind(c, path, &mut env, &def.name, params, bindings);
                    }
                    if let Some(cond) = condition {
                        c.condition(&env, &cond.expr);
                    }
                }
                Trigger::Wait(d) => c.check(
                    &env,
                    &BTreeSet::new(),
                    d,
                    &Ty::Duration,
                    "`wait` takes a duration",
                ),
                Trigger::Error(_) => {} // reported by the parser
            }
            unreachable_steps(c, path, file.text(db), &h.steps);
            for step in &h.steps {
                match step {
                    ast::Step::Propose(call) => {
                        action_call(c, db, project, &env, call);
                    }
                    ast::Step::Goto(target) => {
                        if !states.contains_key(target.name.as_str()) {
                            let mut d = Diagnostic::error(
                                "E0213",
                                path,
                                target.span,
                                format!("journey `{}` has no state `{}`", j.name.name, target.name),
                            )
                            .with_label("unknown state");
                            if let Some(s) = resolve::suggest(&target.name, states.keys().copied())
                            {
                                d = d.with_help(format!("did you mean `{s}`?"));
                            } else {
                                d = d.with_help(format!(
                                    "add `state {} {{ ... }}` to the journey",
                                    target.name
                                ));
                            }
                            c.diags.push(d);
                        }
                    }
                }
            }
        }
    }
}

/// W0202 for the steps of a handler written after its first `goto`, which ends the handler
/// (§5.11): they never run.
fn unreachable_steps(c: &mut Checker<'_>, path: &Arc<str>, text: &str, steps: &[ast::Step]) {
    // A step is its keyword and what follows; the tree keeps only the latter's span, and the
    // keyword is the word written right before it (`propose`, `goto`).
    let span = |s: &ast::Step| {
        let (keyword, span) = match s {
            ast::Step::Propose(call) => ("propose", call.span),
            ast::Step::Goto(target) => ("goto", target.span),
        };
        let before = text.get(..span.start()).unwrap_or("").trim_end();
        match before.strip_suffix(keyword) {
            Some(rest) if !rest.ends_with(|ch: char| ch.is_alphanumeric() || ch == '_') => {
                Span::new(rest.len(), span.end())
            }
            _ => span,
        }
    };
    let Some(at) = steps.iter().position(|s| matches!(s, ast::Step::Goto(_))) else {
        return;
    };
    let (Some(ast::Step::Goto(target)), Some(first), Some(last)) =
        (steps.get(at), steps.get(at + 1), steps.last())
    else {
        return;
    };
    let n = steps.len() - at - 1;
    let what = if n == 1 { "this step" } else { "these steps" };
    c.diags.push(
        Diagnostic::warning(
            "W0202",
            path,
            span(first).to(span(last)),
            format!(
                "{what} after `goto {}` never run{}",
                target.name,
                if n == 1 { "s" } else { "" }
            ),
        )
        .with_label("unreachable")
        .with_secondary(
            path,
            span(&steps[at]),
            "`goto` enters the state and ends the handler here",
        )
        .with_help(format!(
            "move {what} before `goto {}`, or remove {}",
            target.name,
            if n == 1 { "it" } else { "them" }
        )),
    );
}

/// E0312 for a signal whose `from` names `source`, an intrinsic the engines evaluate: a signal
/// reads a connector (§5.8), an intrinsic that reads the outside world.
fn not_a_connector(
    c: &mut Checker<'_>,
    db: &dyn Db,
    project: Project,
    path: &Arc<str>,
    s: &ast::Signal,
    source: &Def,
) {
    if !crate::lower::callable_intrinsic(&source.qualified(db)) {
        return;
    }
    let mut connectors: Vec<String> = crate::compliance::all_defs(db, project, DefKind::Intrinsic)
        .iter()
        .map(|d| d.qualified(db))
        .filter(|q| !crate::lower::callable_intrinsic(q))
        .collect();
    connectors.sort();
    let connectors: Vec<String> = connectors.iter().map(|q| format!("`{q}`")).collect();
    c.diags.push(
        Diagnostic::error(
            "E0312",
            path,
            s.source.span,
            format!("`{}` is not a connector: a signal cannot read it", s.source.dotted()),
        )
        .with_label("an intrinsic the engines evaluate, not a connector")
        .with_secondary(source.file.path(db), source.span, "declared here")
        .with_note(format!(
            "a signal's `from` names a connector, an intrinsic that reads the outside world; the connectors here are {}, and any intrinsic a project declares",
            connectors.join(", ")
        ))
        .with_help(format!(
            "call `{}(…)` where its value is needed, in a rule's condition or a function, instead of declaring a signal",
            source.name
        )),
    );
}

fn test(c: &mut Checker<'_>, db: &dyn Db, project: Project, path: &Arc<str>, t: &ast::Test) {
    c.in_test = true;
    let mut env = Env::default();
    for stmt in &t.body {
        match stmt {
            TestStmt::Let { name, value, .. } => {
                let empty = match &value.kind {
                    ast::ExprKind::List(xs) | ast::ExprKind::Set(xs) => xs.is_empty(),
                    ast::ExprKind::Lit(ast::Literal::Absent) => true,
                    _ => false,
                };
                if empty {
                    // A `let` has no type to check against, so `[]` or `absent` has none.
                    c.diags.push(
                        Diagnostic::error("E0310", path, value.span, format!("the type of `{}` cannot be inferred", name.name))
                            .with_label("an empty collection or `absent` has no type of its own")
                            .with_help("write the value where it is used (e.g. `tags: []` in a record value), where its type is known"),
                    );
                }
                // Its record values get their type where the name is used.
                c.deferred = true;
                let ty = c.expr(&env, &BTreeSet::new(), value, None);
                c.deferred = false;
                c.test_lets.insert(name.span, (value.clone(), env.clone()));
                env.bind(&name.name, ty, name.span);
            }
            TestStmt::Expect(e) => {
                match &e.policy {
                    Some(policy_path) => {
                        let before = c.diags.len();
                        let policy = c.expect_path(policy_path, DefKind::Policy);
                        // `expect act(mk(3))`: one unnamed argument reads as a policy asked
                        // about an action instance; `act` is the action itself. Say how to
                        // write the action's form, and do not also read `mk(3)` as an action.
                        let misread = help_wrong_kind(c, before, "is an action", || {
                            format!(
                                "to expect the verdict of action `{0}`, name its arguments: `expect {0}(parameter: value, …) == …`; `{0}(x)` with one unnamed argument reads as a policy `{0}` asked about the action instance `x`",
                                policy_path.dotted()
                            )
                        });
                        if !misread
                            && let Some(action) = action_call(c, db, project, &env, &e.call)
                            && let Some(policy) = policy
                        {
                            expect_guards(c, db, project, path, e, &policy, &action);
                        }
                    }
                    None => {
                        let before = c.diags.len();
                        match action_call(c, db, project, &env, &e.call) {
                            Some(action) => expect_action(c, db, project, path, e, &action),
                            None => {
                                // `expect contact(to: c)`: a policy is asked about an action
                                // instance, written inside it.
                                help_wrong_kind(c, before, "is a policy", || {
                                    format!(
                                        "to ask policy `{0}` alone, write the action instance inside it: `expect {0}(action(...)) == ...`; to ask for an action's verdict, write the action: `expect action(...) == ...`",
                                        e.call.callee.dotted()
                                    )
                                });
                            }
                        }
                    }
                }
                if let Some(at) = &e.at {
                    c.test_time(&env, at);
                }
                let mut given: BTreeMap<&str, Span> = BTreeMap::new();
                for (signal, value) in &e.given {
                    if let Some(first) = given.insert(&signal.name, signal.span) {
                        // The runner would read one of the two and ignore the other.
                        c.diags.push(
                            Diagnostic::error(
                                "E0206",
                                path,
                                signal.span,
                                format!("signal `{}` is given twice", signal.name),
                            )
                            .with_label("given again here")
                            .with_secondary(path, first, "first given here")
                            .with_help("give each signal one value; remove one of the two"),
                        );
                    }
                    if let Some(def) = c.expect_def(signal, DefKind::Signal)
                        && let Signature::Callable { ret, .. } =
                            resolve::signature(db, project, def.file, def.index).clone()
                    {
                        let what = format!("the value given for signal `{}`", signal.name);
                        c.check(&env, &BTreeSet::new(), value, &ret, &what);
                    }
                }
            }
            TestStmt::Error(_) => {}
        }
    }
    // A test with nothing to check passes whatever the policies say: `xop test` would count
    // it as run. A statement the parser could not read may have been an `expect`: its syntax
    // error is the one to fix.
    let checks = t
        .body
        .iter()
        .any(|s| matches!(s, TestStmt::Expect(_) | TestStmt::Error(_)));
    if !checks {
        c.diags.push(
            Diagnostic::warning(
                "W0203",
                path,
                t.name.span,
                format!("test \"{}\" checks nothing", t.name.value.escape_debug()),
            )
            .with_label("no `expect` in this test")
            .with_note("a test checks the verdicts of its `expect` lines; without one it can never fail")
            .with_help("write what the policies must decide in `expect` lines (their forms are in docs/language.md §5.13), or remove the test"),
        );
    }
}

/// Gives the first diagnostic reported since `before`, if it is an E0208 saying the name
/// `is_a` something (`"is an action"`), the help `help` in place of the general one (which
/// says what kind the place takes); whether it did.
fn help_wrong_kind(
    c: &mut Checker<'_>,
    before: usize,
    is_a: &str,
    help: impl FnOnce() -> String,
) -> bool {
    match c.diags.get_mut(before) {
        // Not a name used as a value (an argument), whose help says how to write one.
        Some(d)
            if d.code == "E0208"
                && d.message.contains(is_a)
                && !d.message.ends_with("not a value") =>
        {
            d.help = Some(help());
            true
        }
        _ => false,
    }
}

/// In a test: the policy must guard the action, and every expected reason must be one of
/// the policy's reasons.
fn expect_guards(
    c: &mut Checker<'_>,
    db: &dyn Db,
    project: Project,
    path: &Arc<str>,
    e: &ast::Expect,
    policy: &Def,
    action: &Def,
) {
    let ItemKind::Policy(p) = &policy.item(db).kind else {
        return;
    };
    let guards = match &p.target {
        Target::Action(_) => {
            let item = policy.item(db);
            let pscope = resolve::file_scope(db, project, policy.file);
            let target = match &item.kind {
                ItemKind::Policy(ast::Policy {
                    target: Target::Action(a),
                    ..
                }) => match pscope.lookup(db, &a.last().name) {
                    resolve::Lookup::Found(x) => Some(x.def),
                    _ => None,
                },
                _ => None,
            };
            target.is_none_or(|t| t == *action)
        }
        Target::Purpose(_) => {
            let pscope = resolve::file_scope(db, project, policy.file);
            let Target::Purpose(pname) = &p.target else {
                return;
            };
            match pscope.lookup(db, &pname.name) {
                resolve::Lookup::Found(x) => {
                    purpose_actions(db, project, &x.def, &p.bindings).contains(action)
                }
                _ => true,
            }
        }
    };
    if !guards {
        c.diags.push(
            Diagnostic::error(
                "E0301",
                path,
                e.call.callee.span,
                format!(
                    "policy `{}` does not guard action `{}`",
                    policy.name, action.name
                ),
            )
            .with_label("not guarded by this policy")
            .with_secondary(policy.file.path(db), policy.span, "policy declared here")
            .with_help("ask a policy that guards this action"),
        );
    }
    let broken = broken_rules(db, policy, p);
    let reasons: BTreeSet<&str> = policy_reasons(p).collect();
    let message = |r: &str| format!("policy `{}` has no rule with reason \"{r}\"", policy.name);
    expect_reasons(c, path, e, &message, "its", reasons, &broken);
}

/// The source text of each rule of `p` (declared as `def`) that could not be read: the reason
/// such a rule was meant to have is not known, but is written there.
fn broken_rules(db: &dyn Db, def: &Def, p: &ast::Policy) -> Vec<String> {
    let text = def.file.text(db);
    (p.rules.iter())
        .filter_map(|r| match r {
            ast::Rule::Error(span) => text.get(span.range()).map(str::to_string),
            _ => None,
        })
        .collect()
}

/// The reasons of a policy's rules.
fn policy_reasons(p: &ast::Policy) -> impl Iterator<Item = &str> {
    p.rules.iter().filter_map(|r| match r {
        ast::Rule::Rule {
            reason: Some(t), ..
        } => Some(t.value.as_str()),
        _ => None,
    })
}

/// In a test of an action's verdict (`expect a(args) == V`): some policy must guard the action,
/// and every expected reason must be a reason of one of its guarding policies.
fn expect_action(
    c: &mut Checker<'_>,
    db: &dyn Db,
    project: Project,
    path: &Arc<str>,
    e: &ast::Expect,
    action: &Def,
) {
    let guards: Vec<Def> = crate::compliance::all_defs(db, project, DefKind::Policy)
        .into_iter()
        .filter(|p| {
            crate::compliance::policy_guard(db, project, p.file, p.index)
                .actions
                .contains(action)
        })
        .collect();
    if guards.is_empty() {
        c.diags.push(
            Diagnostic::error(
                "E0301",
                path,
                e.call.callee.span,
                format!("no policy guards action `{}`", action.name),
            )
            .with_label("not guarded by any policy")
            .with_secondary(action.file.path(db), action.span, "action declared here")
            .with_help("an action no policy guards is always denied: test a guarded action, or write a policy for this one"),
        );
        return;
    }
    let items: Vec<_> = guards.iter().map(|g| g.item(db)).collect();
    let policies: Vec<(&Def, &ast::Policy)> = (guards.iter().zip(&items))
        .filter_map(|(def, item)| match &item.kind {
            ItemKind::Policy(p) => Some((def, p)),
            _ => None,
        })
        .collect();
    let broken: Vec<String> = (policies.iter())
        .flat_map(|(def, p)| broken_rules(db, def, p))
        .collect();
    let reasons: BTreeSet<&str> = (policies.into_iter())
        .flat_map(|(_, p)| policy_reasons(p))
        .collect();
    let mut names: Vec<String> = guards.iter().map(|g| format!("`{}`", g.name)).collect();
    names.sort();
    let message = |r: &str| {
        format!(
            "no policy guarding action `{}` ({}) has a rule with reason \"{r}\"",
            action.name,
            names.join(", ")
        )
    };
    expect_reasons(c, path, e, &message, "their", reasons, &broken);
}

/// Every reason an `expect` writes must be one of `reasons` (E0205), or
/// `xop:runtime-error`; `message` says so of a reason that is not. A reason written (quoted)
/// in the text of a rule that could not be read (`broken`) is not reported: that rule may be
/// the one with it, and its syntax error says what to fix.
fn expect_reasons(
    c: &mut Checker<'_>,
    path: &Arc<str>,
    e: &ast::Expect,
    message: &dyn Fn(&str) -> String,
    whose: &str,
    mut reasons: BTreeSet<&str>,
    broken: &[String],
) {
    // A test may expect the decision to fail closed (an overflow, a division by zero).
    let failed = xop_runtime::interp::RUNTIME_ERROR;
    let expected: Vec<&str> = e
        .reasons
        .iter()
        .flatten()
        .map(|r| r.value.as_str())
        .collect();
    if expected.contains(&failed) {
        reasons.insert(failed);
    }
    for r in e.reasons.iter().flatten() {
        let quoted = format!("\"{}\"", r.value);
        if !reasons.contains(r.value.as_str()) && !broken.iter().any(|t| t.contains(&quoted)) {
            let mut d = Diagnostic::error("E0205", path, r.span, message(&r.value))
                .with_label("unknown reason");
            d = match resolve::suggest(&r.value, reasons.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean \"{s}\"?")),
                None => d.with_help(format!(
                    "{whose} reasons are: {}",
                    reasons
                        .iter()
                        .map(|r| format!("\"{r}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            c.diags.push(d);
        }
    }
}

/// If function `index` of `file` can call itself, the chain of calls that does (`a → b → a`):
/// the first cycle back to it that a depth-first search meets, among the functions of its
/// cycle of the call graph ([`call_cycles`]). A function outside every cycle costs a look-up;
/// searching from every function instead walked, for a chain of n calls, the whole chain
/// below each one (quadratic, and a copy of the path at each step made it cubic).
fn recursion(db: &dyn Db, project: Project, file: SourceFile, index: u32) -> Option<String> {
    type Node = (SourceFile, u32);
    let cycles = call_cycles(db, project);
    let start: Node = (file, index);
    let cycle = *cycles.get(&start)?;
    let mut stack = vec![start];
    // Function reached → the function that called it and the name it was called by.
    let mut reached: HashMap<Node, (Node, Arc<str>)> = HashMap::new();
    while let Some(node) = stack.pop() {
        for (callee, name) in fn_callees(db, project, node.0, node.1).iter() {
            if *callee == start {
                let mut chain = vec![name.to_string()];
                let mut at = node;
                while let Some((caller, name)) = reached.get(&at).filter(|_| at != start) {
                    chain.push(name.to_string());
                    at = *caller;
                }
                chain.reverse();
                return Some(chain.join(" → "));
            }
            // Only the cycle's functions lead back: a call out of it never returns to it.
            if cycles.get(callee) == Some(&cycle) && !reached.contains_key(callee) {
                reached.insert(*callee, (node, name.clone()));
                stack.push(*callee);
            }
        }
    }
    None
}

/// The functions of the project that can call themselves, each with the number of its cycle
/// (strongly connected component) of the call graph: components of two functions or more,
/// and functions that call themselves directly. Kosaraju's algorithm, as petgraph runs it
/// with explicit stacks, so a chain of calls of any length cannot overflow the stack.
#[salsa::tracked(returns(ref))]
pub fn call_cycles(db: &dyn Db, project: Project) -> HashMap<(SourceFile, u32), u32> {
    let mut graph = petgraph::Graph::<(SourceFile, u32), ()>::new();
    let mut nodes = HashMap::new();
    for &file in project.files(db) {
        for (i, item) in crate::db::parse_file(db, file).ast.items.iter().enumerate() {
            if let ItemKind::Fn(ast::Function { body: Some(_), .. }) = &item.kind {
                let node = (file, u32::try_from(i).unwrap_or(u32::MAX));
                nodes.insert(node, graph.add_node(node));
            }
        }
    }
    // In declaration order, so that the same program numbers its cycles the same way and
    // an unchanged answer lets salsa keep what depends on it.
    let nodes = &nodes;
    let calls: Vec<_> = graph
        .node_indices()
        .flat_map(|at| {
            let (file, index) = graph[at];
            fn_callees(db, project, file, index)
                .iter()
                .filter_map(move |(callee, _)| Some((at, *nodes.get(callee)?)))
        })
        .collect();
    let mut self_calls = BTreeSet::new();
    for (at, to) in calls {
        graph.add_edge(at, to, ());
        if at == to {
            self_calls.insert(at);
        }
    }
    let mut out = HashMap::new();
    let components = petgraph::algo::kosaraju_scc(&graph);
    for (n, component) in components.iter().enumerate() {
        if component.len() > 1 || component.iter().any(|at| self_calls.contains(at)) {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            out.extend(component.iter().map(|&at| (graph[at], n)));
        }
    }
    out
}

/// The functions that function `index` of `file` calls directly.
#[salsa::tracked(returns(ref))]
pub fn fn_callees(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
) -> Vec<((SourceFile, u32), Arc<str>)> {
    let Some(item) = crate::db::item_ast(db, file, index) else {
        return Vec::new();
    };
    let ItemKind::Fn(ast::Function {
        body: Some(body), ..
    }) = &item.kind
    else {
        return Vec::new();
    };
    let scope = resolve::file_scope(db, project, file);
    let mut out = Vec::new();
    let mut todo = vec![body];
    while let Some(e) = todo.pop() {
        use ast::ExprKind::*;
        match &e.kind {
            Call {
                callee,
                receiver,
                args,
            } => {
                if let resolve::Lookup::Found(entry) = scope.lookup(db, &callee.last().name)
                    && entry.def.kind == DefKind::Fn
                {
                    out.push(((entry.def.file, entry.def.index), entry.def.name.clone()));
                }
                todo.extend(receiver.as_deref());
                todo.extend(args.iter().map(|a| &a.value));
            }
            Field(x, _) | Unary(_, x) | Paren(x) | Lambda(_, x) => todo.push(x),
            Is { expr, .. } => todo.push(expr),
            Binary(_, a, b) => todo.extend([&**a, &**b]),
            Range { lo, hi, .. } => todo.extend([&**lo, &**hi]),
            If(a, b, d) => todo.extend([&**a, &**b, &**d]),
            List(xs) | Set(xs) => todo.extend(xs.iter()),
            Record { fields, .. } => todo.extend(fields.iter().map(|(_, v)| v)),
            Lit(_) | Name(_) | Error => {}
        }
    }
    out
}

/// A record (by where it is declared) and the index of one of its fields.
type FieldStep = ((SourceFile, u32), u32);

/// The records a value of type `ty` holds: the type itself, or what its `?`, `List` or `Set`
/// holds (a record inside an optional or a collection is still inside).
fn records_in(ty: &Ty, out: &mut Vec<(SourceFile, u32)>) {
    match ty {
        Ty::Record(d) => out.push((d.file, d.index)),
        Ty::Optional(t) | Ty::List(t) | Ty::Set(t) | Ty::Range(t) => records_in(t, out),
        Ty::Open(fields) => fields.iter().for_each(|(_, t)| records_in(t, out)),
        _ => {}
    }
}

/// The records that the fields of record `index` of `file` hold: `(field index, record)`, in
/// the order of the fields.
fn record_refs(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
) -> Vec<(u32, (SourceFile, u32))> {
    let Signature::Record(fields) = resolve::signature(db, project, file, index) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let mut held = Vec::new();
        records_in(&f.ty, &mut held);
        let i = u32::try_from(i).unwrap_or(u32::MAX);
        out.extend(held.into_iter().map(|r| (i, r)));
    }
    out
}

/// The records of the project that contain themselves (§5.2: directly, through other records,
/// or inside `?`, `List` or `Set`), each with the number of its cycle (strongly connected
/// component) of the graph "a field of record A holds record B". Found once per project, as
/// [`call_cycles`] finds recursive functions.
#[salsa::tracked(returns(ref))]
pub fn record_cycles(db: &dyn Db, project: Project) -> HashMap<(SourceFile, u32), u32> {
    let mut graph = petgraph::Graph::<(SourceFile, u32), ()>::new();
    let mut nodes = HashMap::new();
    for &file in project.files(db) {
        for (i, item) in crate::db::parse_file(db, file).ast.items.iter().enumerate() {
            if let ItemKind::Record(_) = &item.kind {
                let node = (file, u32::try_from(i).unwrap_or(u32::MAX));
                nodes.insert(node, graph.add_node(node));
            }
        }
    }
    let mut self_refs = BTreeSet::new();
    for at in graph.node_indices().collect::<Vec<_>>() {
        let (file, index) = graph[at];
        for (_, target) in record_refs(db, project, file, index) {
            if let Some(&to) = nodes.get(&target) {
                graph.add_edge(at, to, ());
                if at == to {
                    self_refs.insert(at);
                }
            }
        }
    }
    let mut out = HashMap::new();
    for (n, component) in petgraph::algo::kosaraju_scc(&graph).iter().enumerate() {
        if component.len() > 1 || component.iter().any(|at| self_refs.contains(at)) {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            out.extend(component.iter().map(|&at| (graph[at], n)));
        }
    }
    out
}

/// If record `index` of `file` contains itself, a shortest chain of fields that leads from it
/// back to it: its own field first, the field that closes the cycle last.
pub fn record_recursion(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
) -> Option<Vec<FieldStep>> {
    type Node = (SourceFile, u32);
    let cycles = record_cycles(db, project);
    let start: Node = (file, index);
    let cycle = *cycles.get(&start)?;
    // Breadth first, so that the chain shown is a shortest one.
    let mut queue = std::collections::VecDeque::from([start]);
    // Record reached → the record and field it was reached through.
    let mut reached: HashMap<Node, FieldStep> = HashMap::new();
    while let Some(node) = queue.pop_front() {
        for (field, target) in record_refs(db, project, node.0, node.1) {
            if target == start {
                let mut chain = vec![(node, field)];
                let mut at = node;
                while let Some(&step) = reached.get(&at) {
                    chain.push(step);
                    at = step.0;
                }
                chain.reverse();
                return Some(chain);
            }
            // Only the records of the cycle lead back to it.
            if cycles.get(&target) == Some(&cycle) && !reached.contains_key(&target) {
                reached.insert(target, (node, field));
                queue.push_back(target);
            }
        }
    }
    None
}

/// How deeply the fields of a record nest ([`record_depths`]): `(levels, field, held)`, where
/// `field` is the index of a field that is that deep, and `held` says
/// whether a record that is itself too deep holds it (then that one is reported, not this one).
pub type RecordDepth = (u32, u32, bool);

/// How deeply the fields of each record of the project nest, counted as E0108 counts the
/// levels of a written type ([`crate::nesting::MAX_NESTING`]): the deepest of its fields'
/// types, written out in full, where a value such as `Int` is one level, each `?`, `List`,
/// `Set` or open record around it one more, and a record held one more than its own fields
/// (a type already reported too deep, or unknown, counts nothing more). A record that
/// contains itself (E0217) counts one level. Measured once per project, the records held
/// first, without recursing along the records: a generated chain of 15,000 records must not
/// overflow the stack of the check that refuses it.
#[salsa::tracked(returns(ref))]
pub fn record_depths(db: &dyn Db, project: Project) -> HashMap<(SourceFile, u32), RecordDepth> {
    type Node = (SourceFile, u32);
    let cycles = record_cycles(db, project);
    let mut out: HashMap<Node, RecordDepth> = HashMap::new();
    let mut records = Vec::new();
    for &file in project.files(db) {
        for (i, item) in crate::db::parse_file(db, file).ast.items.iter().enumerate() {
            if let ItemKind::Record(_) = &item.kind {
                records.push((file, u32::try_from(i).unwrap_or(u32::MAX)));
            }
        }
    }
    for &start in &records {
        // Depth first with a stack of (record, whether the records it holds are measured).
        let mut stack = vec![(start, false)];
        while let Some((node, ready)) = stack.pop() {
            if out.contains_key(&node) || cycles.contains_key(&node) {
                continue;
            }
            if !ready {
                stack.push((node, true));
                for (_, held) in record_refs(db, project, node.0, node.1) {
                    if !out.contains_key(&held) && !cycles.contains_key(&held) {
                        stack.push((held, false));
                    }
                }
                continue;
            }
            let Signature::Record(fields) = resolve::signature(db, project, node.0, node.1) else {
                continue;
            };
            let (mut depth, mut deepest) = (1, 0);
            for (i, f) in fields.iter().enumerate() {
                let d = type_depth(&f.ty, &out);
                if d > depth {
                    (depth, deepest) = (d, u32::try_from(i).unwrap_or(u32::MAX));
                }
            }
            out.insert(node, (depth, deepest, false));
        }
    }
    // Only the outermost of the records too deep are reported: a chain of 15,000 is one error.
    let limit = crate::nesting::MAX_NESTING as u32;
    let held: Vec<Node> = (out.iter())
        .filter(|(_, d)| d.0 > limit)
        .flat_map(|(&(file, index), _)| record_refs(db, project, file, index))
        .map(|(_, held)| held)
        .collect();
    for node in held {
        if let Some(d) = out.get_mut(&node) {
            d.2 = true;
        }
    }
    out
}

/// The levels of a value of type `ty`, with the depths of the records measured so far (a
/// record not among them counts as one whose fields are one level deep). Recursive over `?`,
/// `List`, `Set` and open record types only, which the parser limits to
/// [`crate::nesting::MAX_NESTING`] levels.
fn type_depth(ty: &Ty, records: &HashMap<(SourceFile, u32), RecordDepth>) -> u32 {
    match ty {
        Ty::Record(d) => records
            .get(&(d.file, d.index))
            .map_or(1, |r| r.0)
            .saturating_add(1),
        // Where the parser cut a type too deep (E0108 already), or another error.
        Ty::Unknown => 0,
        Ty::Optional(t) | Ty::List(t) | Ty::Set(t) | Ty::Range(t) => {
            type_depth(t, records).saturating_add(1)
        }
        Ty::Open(fields) => (fields.iter())
            .map(|(_, t)| type_depth(t, records))
            .max()
            .unwrap_or(0)
            .saturating_add(1),
        _ => 1,
    }
}

/// E0108 for record `name` (`r`, record `index` of `file`) when its fields nest deeper than
/// [`crate::nesting::MAX_NESTING`] levels and no record that holds it is reported already: at
/// its field through which they are that deep.
fn record_too_deep(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
    path: &Arc<str>,
    name: &str,
    r: &ast::Record,
) -> Option<Diagnostic> {
    let limit = crate::nesting::MAX_NESTING;
    let &(depth, field, held) = record_depths(db, project).get(&(file, index))?;
    if depth as usize <= limit || held {
        return None;
    }
    let f = r.fields.get(field as usize)?;
    Some(
        Diagnostic::error(
            "E0108",
            path,
            f.name.span.to(f.ty.span()),
            format!("record `{name}` is nested too deeply: its fields are {depth} levels deep, more than {limit}"),
        )
        .with_label(format!("`{}` holds values {depth} levels deep", f.name.name))
        .with_note(format!(
            "each record, `?`, `List` or `Set` around a value is one more level: every pass over the values of a type (the consent analysis, input binding, the engines) walks them level by level, and XOP reads at most {limit}, as in a written type"
        ))
        .with_help("flatten the records: hold fewer records inside one another, or refer to an inner record by its `Id` instead of holding it"),
    )
}

/// `ty` written with the record `target` replaced by `Id`: what a field holds to refer to a
/// record instead of containing it (`N?` → `Id?`, `List<N>` → `List<Id>`).
fn with_id(ty: &Ty, target: (SourceFile, u32)) -> String {
    match ty {
        Ty::Record(d) if (d.file, d.index) == target => "Id".to_string(),
        Ty::Optional(t) => format!("{}?", with_id(t, target)),
        Ty::List(t) => format!("List<{}>", with_id(t, target)),
        Ty::Set(t) => format!("Set<{}>", with_id(t, target)),
        other => other.to_string(),
    }
}

/// E0217 for record `name` (`r`), which contains itself through `cycle` (from
/// [`record_recursion`]): reported at its own field that starts the cycle, the other fields
/// of the cycle shown as secondary labels.
fn recursive_record(
    db: &dyn Db,
    project: Project,
    path: &Arc<str>,
    name: &str,
    r: &ast::Record,
    cycle: &[FieldStep],
) -> Diagnostic {
    // Each step's record name, field (name, resolved type, where written) and file.
    let step = |((file, index), field): FieldStep| {
        let item = crate::db::item_ast(db, file, index).as_ref()?;
        let ItemKind::Record(rec) = &item.kind else {
            return None;
        };
        let f = rec.fields.get(field as usize)?;
        let ty = match resolve::signature(db, project, file, index) {
            Signature::Record(fs) => fs.get(field as usize).map(|p| p.ty.clone()),
            _ => None,
        }?;
        Some((
            rec.name.name.clone(),
            f.name.name.clone(),
            ty,
            file.path(db).clone(),
            f.name.span.to(f.ty.span()),
        ))
    };
    let steps: Vec<_> = cycle.iter().filter_map(|s| step(*s)).collect();
    let chain: Vec<String> = steps
        .iter()
        .map(|(rn, f, ..)| format!("{rn}.{f}"))
        .collect();
    let chain = format!("{} → {name}", chain.join(" → "));
    // The record each step's field holds: the next step's record, and the first one at the end.
    let held = |i: usize| -> String {
        steps
            .get(i + 1)
            .map_or_else(|| name.to_string(), |(rn, ..)| rn.clone())
    };
    let first = r
        .fields
        .get(cycle[0].1 as usize)
        .map_or(r.name.span, |f| f.name.span.to(f.ty.span()));
    let mut d = Diagnostic::error(
        "E0217",
        path,
        first,
        format!("record `{name}` contains itself"),
    )
    .with_label(format!("through {chain}"));
    for (i, (rn, f, _, file, span)) in steps.iter().enumerate().skip(1) {
        let message = if i + 1 == steps.len() {
            format!("`{rn}.{f}` holds `{}` again, closing the cycle", held(i))
        } else {
            format!("`{rn}.{f}` holds `{}`", held(i))
        };
        d = d.with_secondary(file, *span, message);
    }
    d = d.with_note(
        "record values are finite trees: a record may not contain itself, directly or through other records, not even inside `?`, `List` or `Set`",
    );
    if let Some((_, f, ty, ..)) = steps.first() {
        // The record the first field holds: the next of the cycle, or the record itself.
        let target = cycle.get(1).map_or(cycle[0].0, |s| s.0);
        d = d.with_help(format!(
            "refer to the `{}` by its `Id` instead of holding it: write `{f}: {}` rather than `{f}: {ty}`",
            held(0),
            with_id(ty, target)
        ));
    }
    d
}
