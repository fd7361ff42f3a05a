//! The named parameters of actions, events, functions, intrinsics and signals: where each is
//! declared and every place its name is written, for go to definition, find references and
//! rename ([`crate::navigation`]).
//!
//! A parameter's name is written, besides its declaration, in a policy's bindings
//! (`for send_offer(to: c)`, `for purpose marketing(to: c)`), a journey's event bindings
//! (`on signed_up(source: s)`), the named arguments of an action instance (`propose` in a
//! decision or a journey, a test's `expect`), an agent's tool bindings (`-> refund(amount)`),
//! and the named arguments of a call (`quiet(hour: h)`, `c.score(at: now)`, a signal's
//! `from camara.sim_swap(phone_number: c.phone, window: 24h)`). None of these is a name in
//! scope, so the compiler's notes ([`xop_compiler::ide`]) do not record them: they are read
//! from the syntax tree here, each with its action, event, function, intrinsic or signal
//! resolved as the checker resolves it.
//!
//! A parameter of a function or a signal is also a local of its body (the function's body, the
//! signal's source arguments and `max_age`): its uses there are the compiler's references of
//! that local, and belong to the parameter too ([`references`]).
//!
//! A policy `for purpose P(to: c)` binds `to` in every action of purpose `P` at once, and the
//! checker requires each of them to have it: such parameters must keep one name, so they are
//! one [`Group`], renamed together with all their uses.

use std::sync::Arc;

use xop_compiler::ast::{self, Expr, ExprKind, ItemKind, TestStmt, Trigger};
use xop_compiler::check::guarded_actions;
use xop_compiler::db::{SourceFile, parse_file};
use xop_compiler::ide::{self, Target};
use xop_compiler::resolve::{self, Def, DefKind, Lookup, Signature, TypedParam};
use xop_compiler::span::Span;

use crate::state::Snapshot;

/// Whose parameter a [`Site`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    /// One action, event, function, intrinsic or signal.
    One(Def),
    /// Every action of this purpose (a `for purpose P(...)` binding).
    Purpose(Def),
}

/// A place where the name of a parameter of an action, event, function, intrinsic or signal is
/// written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The file it is written in.
    pub file: SourceFile,
    /// Where the name is written.
    pub span: Span,
    /// The parameter's name.
    pub name: Arc<str>,
    /// Whether this is the parameter's declaration.
    pub declaration: bool,
    /// Whether this is a binding written as the name alone (`for a(channel)`), which also
    /// binds a local of that name at the same place.
    pub shorthand: bool,
    owner: Owner,
}

/// Parameters that share one name (see the module's documentation), by their declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The name they share.
    pub name: Arc<str>,
    /// The actions, events, functions, intrinsics and signals whose parameter of that name
    /// belongs to the group.
    pub owners: Vec<Def>,
}

/// What is called with named arguments in an expression (`f(name: value)`).
const CALLABLE: [DefKind; 3] = [DefKind::Fn, DefKind::Intrinsic, DefKind::Signal];

/// The parameters of `def`, an action, an event, a function, an intrinsic or a signal.
fn params_of<'a>(snap: &'a Snapshot, def: &Def) -> &'a [TypedParam] {
    match resolve::signature(&snap.db, snap.project, def.file, def.index) {
        Signature::Action { params, .. } if def.kind == DefKind::Action => params,
        Signature::Callable { params, .. }
            if def.kind == DefKind::Event || CALLABLE.contains(&def.kind) =>
        {
            params
        }
        _ => &[],
    }
}

/// The declaration of parameter `name` of `def`.
fn declared(snap: &Snapshot, def: &Def, name: &str) -> Option<Span> {
    params_of(snap, def)
        .iter()
        .find(|p| &*p.name == name)
        .map(|p| p.span)
}

/// The declarations `site` names a parameter of: one, or for a purpose's binding each
/// action of the purpose (those lacking the parameter are the checker's errors, not owners).
fn owners(snap: &Snapshot, site: &Site) -> Vec<Def> {
    let candidates = match &site.owner {
        Owner::One(def) => vec![def.clone()],
        Owner::Purpose(p) => guarded_actions(&snap.db, snap.project, p),
    };
    candidates
        .into_iter()
        .filter(|d| declared(snap, d, &site.name).is_some())
        .collect()
}

/// The parameters a binding list names; `channel` alone binds parameter `channel` to a local
/// at the same place (a shorthand).
fn bindings(bs: &[ast::Binding]) -> Vec<(&ast::Ident, bool)> {
    bs.iter()
        .map(|b| (&b.param, b.param.span == b.var.span))
        .collect()
}

/// The parameters an action instance's arguments name.
fn named(args: &[ast::Arg]) -> Vec<(&ast::Ident, bool)> {
    args.iter()
        .filter_map(|a| a.name.as_ref())
        .map(|n| (n, false))
        .collect()
}

/// The callees of the calls written in item `index` of `file` (`count` in `count(xs)`).
pub fn callees(snap: &Snapshot, file: SourceFile, index: u32) -> Vec<ast::Ident> {
    let Some(item) = parse_file(&snap.db, file).ast.items.get(index as usize) else {
        return Vec::new();
    };
    let mut copy = ast::Item::clone(item);
    calls(roots(&mut copy))
        .into_iter()
        .map(|(callee, _)| callee.last().clone())
        .collect()
}

/// Every expression written in `item`. [`ast::Item::roots_mut`] lists them for the compiler's
/// passes; it wants the item mutable, so it is given a copy.
fn roots(item: &mut ast::Item) -> Vec<&Expr> {
    item.roots_mut()
        .exprs
        .into_iter()
        .map(|e| -> &Expr { e })
        .collect()
}

/// Every call in `roots` and the expressions nested in them: its callee and its arguments.
fn calls(roots: Vec<&Expr>) -> Vec<(&ast::Path, &[ast::Arg])> {
    let mut out = Vec::new();
    let mut stack = roots;
    while let Some(e) = stack.pop() {
        match &e.kind {
            ExprKind::Call {
                callee,
                receiver,
                args,
            } => {
                out.push((callee, args.as_slice()));
                stack.extend(receiver.as_deref());
                stack.extend(args.iter().map(|a| &a.value));
            }
            ExprKind::Field(x, _)
            | ExprKind::Unary(_, x)
            | ExprKind::Is { expr: x, .. }
            | ExprKind::Lambda(_, x)
            | ExprKind::Paren(x) => stack.push(x),
            ExprKind::Binary(_, a, b) | ExprKind::Range { lo: a, hi: b, .. } => {
                stack.push(a);
                stack.push(b);
            }
            ExprKind::If(c, a, b) => stack.extend([&**c, &**a, &**b]),
            ExprKind::List(xs) | ExprKind::Set(xs) => stack.extend(xs),
            ExprKind::Record { fields, .. } => stack.extend(fields.iter().map(|(_, v)| v)),
            ExprKind::Lit(_) | ExprKind::Name(_) | ExprKind::Error => {}
        }
    }
    out
}

/// Names of parameters written together: their action, event, function, intrinsic or signal (if
/// it resolves), each name with whether it is a shorthand binding, and whether they are the
/// declarations.
type Names<'a> = (Option<Owner>, Vec<(&'a ast::Ident, bool)>, bool);

#[cfg(test)]
thread_local! {
    /// How many items this thread has read the sites of: the tests count the work a request
    /// does.
    pub(crate) static ITEMS_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The sites written in item `index` of `file`.
fn item_sites(snap: &Snapshot, file: SourceFile, index: usize, item: &ast::Item) -> Vec<Site> {
    #[cfg(test)]
    ITEMS_READ.with(|n| n.set(n.get() + 1));
    let db = &snap.db;
    let project = snap.project;
    // As the checker resolves them: a path of the right kind, else nothing.
    let resolve = |path: &ast::Path, kind: DefKind| {
        resolve::resolve_path(db, project, file, path)
            .filter(|d| d.kind == kind)
            .map(Owner::One)
    };
    let mut copy = item.clone();
    let roots = roots(&mut copy);
    let mut lists: Vec<Names> = Vec::new();
    // The named arguments of every call in the item's expressions: a call's callee is looked up
    // as a name in scope, as the checker does (`count` declared as a function is that function;
    // not declared, the collection operation, which has no parameters).
    let scope = resolve::file_scope(db, project, file);
    for (callee, args) in calls(roots) {
        let owner = match scope.lookup(db, &callee.last().name) {
            Lookup::Found(e) if CALLABLE.contains(&e.def.kind) => Some(Owner::One(e.def)),
            _ => None,
        };
        lists.push((owner, named(args), false));
    }
    match &item.kind {
        ItemKind::Action(ast::Action { name, params, .. })
        | ItemKind::Event(ast::Event { name, params })
        | ItemKind::Fn(ast::Function { name, params, .. })
        | ItemKind::Signal(ast::Signal { name, params, .. }) => {
            let this = resolve::item_table(db, file)
                .by_name
                .get(name.name.as_str())
                .filter(|d| d.index as usize == index)
                .cloned()
                .map(Owner::One);
            lists.push((
                this,
                params.iter().map(|p| (&p.name, false)).collect(),
                true,
            ));
            // A signal's source: an intrinsic, by its path.
            if let ItemKind::Signal(sig) = &item.kind {
                let owner = resolve(&sig.source, DefKind::Intrinsic);
                lists.push((owner, named(&sig.source_args), false));
            }
        }
        ItemKind::Policy(p) => {
            let owner = match &p.target {
                ast::Target::Action(path) => resolve(path, DefKind::Action),
                ast::Target::Purpose(purpose) => {
                    match resolve::file_scope(db, project, file).lookup(db, &purpose.name) {
                        Lookup::Found(e) if e.def.kind == DefKind::Purpose => {
                            Some(Owner::Purpose(e.def))
                        }
                        _ => None,
                    }
                }
            };
            lists.push((owner, bindings(&p.bindings), false));
        }
        ItemKind::Decision(d) => {
            for p in &d.proposals {
                let owner = resolve(&p.call.callee, DefKind::Action);
                lists.push((owner, named(&p.call.args), false));
            }
        }
        ItemKind::Journey(j) => {
            for h in j.states.iter().flat_map(|s| &s.handlers) {
                if let Trigger::On {
                    event,
                    bindings: bs,
                    ..
                } = &h.trigger
                {
                    lists.push((resolve(event, DefKind::Event), bindings(bs), false));
                }
                for step in &h.steps {
                    if let ast::Step::Propose(call) = step {
                        let owner = resolve(&call.callee, DefKind::Action);
                        lists.push((owner, named(&call.args), false));
                    }
                }
            }
        }
        ItemKind::Agent(a) => {
            for t in &a.tools {
                let names = t.params.iter().map(|n| (n, false)).collect();
                lists.push((resolve(&t.action, DefKind::Action), names, false));
            }
        }
        ItemKind::Test(t) => {
            for stmt in &t.body {
                if let TestStmt::Expect(e) = stmt {
                    let owner = resolve(&e.call.callee, DefKind::Action);
                    lists.push((owner, named(&e.call.args), false));
                }
            }
        }
        _ => {}
    }
    let mut out = Vec::new();
    for (owner, names, declaration) in lists {
        let Some(owner) = owner else { continue };
        out.extend(names.into_iter().map(|(name, shorthand)| Site {
            file,
            span: name.span,
            name: Arc::from(name.name.as_str()),
            declaration,
            shorthand,
            owner: owner.clone(),
        }));
    }
    out
}

/// Every site of the project, the stdlib's included.
fn all_sites(snap: &Snapshot) -> Vec<Site> {
    snap.files()
        .into_iter()
        .flat_map(|file| file_sites(snap, file))
        .collect()
}

/// The sites of the item at `offset` of `file`.
fn sites_at(snap: &Snapshot, file: SourceFile, offset: usize) -> Vec<Site> {
    let Some(i) = ide::item_at(&snap.db, file, offset) else {
        return Vec::new();
    };
    match parse_file(&snap.db, file).ast.items.get(i as usize) {
        Some(item) => item_sites(snap, file, i as usize, item),
        None => Vec::new(),
    }
}

/// What hovering a parameter's name at `site` shows: the parameter with its type, and whose
/// it is (for a purpose policy's binding, every action of the purpose that has it).
pub fn describe(snap: &Snapshot, site: &Site) -> Option<String> {
    let db = &snap.db;
    let mut shown: Vec<String> = Vec::new();
    let mut whose: Vec<String> = Vec::new();
    for def in owners(snap, site) {
        let Some(p) = params_of(snap, &def).iter().find(|p| *p.name == *site.name) else {
            continue;
        };
        let line = format!("{}: {}", p.name, p.ty);
        if !shown.contains(&line) {
            shown.push(line);
        }
        // "an action" → "action"
        let kind = def.kind.describe().split_once(' ').map_or("", |(_, k)| k);
        whose.push(format!("{kind} `{}`", def.qualified(db)));
    }
    if whose.is_empty() {
        return None;
    }
    Some(format!(
        "```xop\n{}\n```\n\nparameter of {}",
        shown.join("\n"),
        whose.join(", ")
    ))
}

/// The parameter name at `offset` (a cursor just after a name counts) whose action or event
/// is known, if any.
pub fn site_at(snap: &Snapshot, file: SourceFile, offset: usize) -> Option<Site> {
    sites_at(snap, file, offset)
        .into_iter()
        // Two names of parameters are never adjacent: at most one contains the offset.
        .find(|s| s.span.contains(offset) && !owners(snap, s).is_empty())
}

/// The bindings written as the parameter's name alone in the item at `offset` of `file`,
/// whatever the parameter (renaming their locals must not rename the parameters they bind,
/// even a wrong one). Asked once for all the uses of a local, which are all in its item: the
/// item's sites are read in one pass.
pub fn shorthands_at(snap: &Snapshot, file: SourceFile, offset: usize) -> Vec<Span> {
    sites_at(snap, file, offset)
        .into_iter()
        .filter(|s| s.shorthand)
        .map(|s| s.span)
        .collect()
}

/// Every site written in `file`, item by item, each in one pass.
pub fn file_sites(snap: &Snapshot, file: SourceFile) -> Vec<Site> {
    let mut out = Vec::new();
    for (i, item) in parse_file(&snap.db, file).ast.items.iter().enumerate() {
        out.extend(item_sites(snap, file, i, item));
    }
    out
}

/// The parameters `site` names and those that must keep one name with them: for each action
/// of a purpose whose policies bind the name, every action of that purpose.
pub fn group(snap: &Snapshot, site: &Site) -> Group {
    let mut members = owners(snap, site);
    let sites = all_sites(snap);
    // The bindings of the name by purpose policies: each ties the actions of its purpose.
    let mut ties: Vec<(&Site, &Def)> = sites
        .iter()
        .filter(|s| s.name == site.name)
        .filter_map(|s| match &s.owner {
            Owner::Purpose(p) => Some((s, p)),
            Owner::One(_) => None,
        })
        .collect();
    // Until no tie reaches a member (one round, as long as an action has one purpose).
    while let Some(i) = ties
        .iter()
        .position(|(_, p)| members.iter().any(|d| purpose_of(snap, d) == Some(*p)))
    {
        let (tie, _) = ties.swap_remove(i);
        for d in owners(snap, tie) {
            if !members.contains(&d) {
                members.push(d);
            }
        }
    }
    Group {
        name: site.name.clone(),
        owners: members,
    }
}

/// The purpose of `def`, if it is an action whose purpose resolves.
fn purpose_of<'a>(snap: &'a Snapshot, def: &Def) -> Option<&'a Def> {
    match resolve::signature(&snap.db, snap.project, def.file, def.index) {
        Signature::Action { purpose, .. } => purpose.as_ref(),
        _ => None,
    }
}

/// Whether `site` names a parameter of the group.
fn names(snap: &Snapshot, site: &Site, group: &Group) -> bool {
    site.name == group.name
        && match &site.owner {
            Owner::One(d) => group.owners.contains(d),
            Owner::Purpose(p) => group.owners.iter().any(|d| purpose_of(snap, d) == Some(p)),
        }
}

/// Where the parameters `site` names are declared: one, or one per action of a purpose.
pub fn definitions(snap: &Snapshot, site: &Site) -> Vec<(SourceFile, Span)> {
    owners(snap, site)
        .iter()
        .filter_map(|d| declared(snap, d, &site.name).map(|s| (d.file, s)))
        .collect()
}

/// The parameter declared at `span` of `file`, if one is: a use of a function's or a signal's
/// parameter in its body is a local bound there.
pub fn declared_at(snap: &Snapshot, file: SourceFile, span: Span) -> Option<Site> {
    sites_at(snap, file, span.start())
        .into_iter()
        .find(|s| s.declaration && s.span == span)
}

/// Where parameter `name` of `def` is declared, if it is also a local of its declaration's body
/// (a function's parameter, or a signal's in its source's arguments and `max_age`).
fn local_of(snap: &Snapshot, def: &Def, name: &str) -> Option<Span> {
    let span = declared(snap, def, name)?;
    ide::item_notes(&snap.db, snap.project, def.file, def.index)
        .locals
        .iter()
        .any(|l| l.span == span)
        .then_some(span)
}

/// The parameters of `group` that are also locals of their declaration's body, by where they
/// are declared.
pub fn locals(snap: &Snapshot, group: &Group) -> Vec<(SourceFile, Span)> {
    group
        .owners
        .iter()
        .filter_map(|d| local_of(snap, d, &group.name).map(|s| (d.file, s)))
        .collect()
}

/// Every site that names a parameter of `group`, declarations included, and the uses of those
/// that are locals of their declaration's body, sorted by file and place.
pub fn references(snap: &Snapshot, group: &Group) -> Vec<Site> {
    let mut out: Vec<Site> = all_sites(snap)
        .into_iter()
        .filter(|s| names(snap, s, group))
        .collect();
    for def in &group.owners {
        let Some(decl) = local_of(snap, def, &group.name) else {
            continue;
        };
        let local = Target::Local {
            file: def.file,
            span: decl,
        };
        for (file, span) in ide::references(&snap.db, snap.project, &local) {
            if (file, span) != (def.file, decl) {
                out.push(Site {
                    file,
                    span,
                    name: group.name.clone(),
                    declaration: false,
                    shorthand: false,
                    owner: Owner::One(def.clone()),
                });
            }
        }
    }
    out.sort_by_key(|s| (snap.path(s.file), s.span));
    out.dedup_by(|a, b| a.file == b.file && a.span == b.span);
    out
}

/// Why the parameters of `group` cannot be renamed, if they cannot: one of them is the
/// stdlib's.
pub fn check_renamable(snap: &Snapshot, group: &Group) -> Result<(), String> {
    match group.owners.iter().find(|d| snap.is_stdlib(d.file)) {
        Some(d) => Err(format!(
            "parameter `{}` of `{}` is {}",
            group.name,
            d.qualified(&snap.db),
            crate::navigation::STDLIB_READ_ONLY
        )),
        None if group.owners.is_empty() => Err("cannot find where this is declared".into()),
        None => Ok(()),
    }
}

/// Refuses `new` if an action or event of `group` already has a parameter of that name.
pub fn check_clashes(snap: &Snapshot, group: &Group, new: &str) -> Result<(), String> {
    match group
        .owners
        .iter()
        .find(|d| declared(snap, d, new).is_some())
    {
        Some(d) => Err(format!(
            "{} `{}` already has a parameter `{new}`",
            d.item(&snap.db).keyword(),
            d.name
        )),
        None => Ok(()),
    }
}

/// The replacement that renames the parameter at `site` from `old` to `new`: a shorthand
/// binding keeps its local's name (`channel` becomes `medium: channel`).
pub fn replacement(site: &Site, old: &str, new: &str) -> String {
    if site.shorthand && old != new {
        format!("{new}: {old}")
    } else {
        new.to_string()
    }
}
