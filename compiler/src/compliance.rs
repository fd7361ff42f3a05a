//! The compliance checker: the EU AI Act and GDPR properties of DESIGN.md §2, proved over the
//! whole project at compile time (docs/compliance.md states each property, its legal basis, the
//! analysis and why it is sound).
//!
//! For every action, the rules of every policy that guards it (`for action`, and `for purpose P`
//! where P is the action's purpose) are combined exactly as the runtime combines them: the
//! verdict is deny if a deny rule applies, else review if a review rule applies, else allow if
//! an allow rule applies, else deny. Each rule's condition is abstracted into a propositional
//! formula ([`crate::logic`]) whose atoms are the facts it tests, with names canonicalised
//! (local names → the action's parameters, declarations → their qualified names) so that the
//! same fact written in two policies is one atom. A property is proved when no assignment of the
//! atoms reaches a forbidden outcome; otherwise the assignment found is shown as an example.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::ast::{self, ExprKind, ItemKind, Literal, RuleKind, Target, UnOp, Verdict};
use crate::db::{Db, Project, SourceFile, item_ast, parse_file};
use crate::diagnostic::{Diagnostic, FixData};
use crate::logic::{Answer, Conjunction, Formula, Sat, satisfiable};
use crate::resolve::{self, Def, DefKind, Lookup, Scope, Signature};
use crate::span::Span;
use crate::types::Ty;

/// Whether file `file` holds an error outside its items' own checks: a syntax error (its
/// rules may be half read: a rule that lost its condition looks unconditional), or an error
/// in its module declaration, its item table or its imports (a name from a `use` that failed
/// is unknown wherever it is read, and is not reported again there).
#[salsa::tracked]
pub fn file_failed(db: &dyn Db, project: Project, file: SourceFile) -> bool {
    // The standard library is checked clean by its own tests (`stdlib_diagnostics`), and a
    // compile does not check its items otherwise: asking would check them all for nothing.
    if *file.is_stdlib(db) {
        return false;
    }
    let path = file.path(db);
    parse_file(db, file)
        .diagnostics
        .iter()
        .any(Diagnostic::is_error)
        || resolve::module_index(db, project)
            .diagnostics
            .iter()
            .any(|d| d.file == *path && d.is_error())
        || resolve::item_table(db, file)
            .diagnostics
            .iter()
            .any(Diagnostic::is_error)
        || resolve::file_scope(db, project, file)
            .diagnostics
            .iter()
            .any(Diagnostic::is_error)
}

/// Whether item `index` of `file` cannot be read for compliance: its file failed
/// ([`file_failed`]), or the item itself holds an error (a name that did not resolve, a type
/// error). Compliance says nothing about such an item, nor about an action it guards: its
/// findings would be about what the author did not mean (a consent check on a misspelt name
/// is no check), and the error already reported is the one to fix. Suppressing them is sound
/// only because an error stops the project from being built or run (`xop build`, `xop eval`,
/// `xop test` refuse sources with errors).
#[salsa::tracked]
pub fn item_failed(db: &dyn Db, project: Project, file: SourceFile, index: u32) -> bool {
    if *file.is_stdlib(db) {
        // As in `file_failed`.
        return false;
    }
    *file_failed(db, project, file)
        || crate::check::check_item(db, project, file, index)
            .diagnostics
            .iter()
            .any(Diagnostic::is_error)
}

/// The actions guarded by a policy that failed ([`item_failed`]), by [`key`]; `None` when
/// some failed policy guards what cannot be told (its target did not resolve: it may be meant
/// for any action), so that every action's findings are in doubt.
#[salsa::tracked(returns(ref))]
pub fn failed_guards(db: &dyn Db, project: Project) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for policy in all_defs(db, project, DefKind::Policy) {
        if !*item_failed(db, project, policy.file, policy.index) {
            continue;
        }
        let g = policy_guard(db, project, policy.file, policy.index);
        if g.actions.is_empty() {
            return None;
        }
        out.extend(g.actions.iter().map(|a| key(db, a)));
    }
    Some(out)
}

/// Whether some record of the project nests deeper than E0108 allows
/// ([`crate::check::record_depths`]). Compliance then checks nothing: the consent analysis
/// follows the paths to the channels inside records one step a level, recursively, so a
/// generated chain of thousands of records would overflow the stack; and the error stops the
/// project from being built or run, as any error does.
pub fn records_too_deep(db: &dyn Db, project: Project) -> bool {
    (crate::check::record_depths(db, project).values())
        .any(|d| d.0 as usize > crate::nesting::MAX_NESTING)
}

/// Whether `action`'s findings are in doubt: it failed, or a policy that guards it did (or may),
/// or a record of the project nests too deeply ([`records_too_deep`]).
fn action_failed(db: &dyn Db, project: Project, action: &Def) -> bool {
    records_too_deep(db, project)
        || *item_failed(db, project, action.file, action.index)
        || failed_guards(db, project)
            .as_ref()
            .is_none_or(|keys| keys.contains(&key(db, action)))
}

/// Every compliance diagnostic of the project, for all files. Each action and each policy is
/// checked by its own query, so an edit re-proves only the actions whose guards it changed.
#[salsa::tracked(returns(ref))]
pub fn compliance(db: &dyn Db, project: Project) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if records_too_deep(db, project) {
        return out;
    }
    for action in all_defs(db, project, DefKind::Action) {
        out.extend(
            action_compliance(db, project, action.file, action.index)
                .iter()
                .cloned(),
        );
    }
    for def in all_defs(db, project, DefKind::Policy) {
        out.extend(
            policy_compliance(db, project, def.file, def.index)
                .iter()
                .cloned(),
        );
    }
    let mut cx = Cx::new(db, project);
    let guards = guards(db, project);
    let fine = |def: &Def| !*item_failed(db, project, def.file, def.index);
    for def in all_defs(db, project, DefKind::Signal) {
        if fine(&def) {
            cx.staleness(&def);
        }
    }
    for def in all_defs(db, project, DefKind::Agent) {
        if fine(&def) {
            cx.tools(&def, guards);
        }
    }
    for kind in [DefKind::Decision, DefKind::Journey] {
        for def in all_defs(db, project, kind) {
            if fine(&def) {
                cx.proposals(&def);
            }
        }
    }
    out.extend(cx.diags);
    out.extend(unused(db, project));
    out
}

/// The properties of one action (C0001–C0005, C0010–C0013, C0101–C0103, C0105, C0106).
#[salsa::tracked(returns(ref))]
pub fn action_compliance(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
) -> Vec<Diagnostic> {
    let Some(action) = def_at(db, file, index) else {
        return Vec::new();
    };
    if action_failed(db, project, &action) {
        return Vec::new();
    }
    let rules = action_rules(db, project, file, index);
    let mut cx = Cx::new(db, project);
    cx.action(&action, rules);
    cx.diags
}

/// The checks of one policy's own rules (C0006, C0007).
#[salsa::tracked(returns(ref))]
pub fn policy_compliance(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
) -> Vec<Diagnostic> {
    let Some(policy) = def_at(db, file, index) else {
        return Vec::new();
    };
    if *item_failed(db, project, file, index) {
        return Vec::new();
    }
    let mut cx = Cx::new(db, project);
    cx.reasons(&policy);
    let actions = policy_guard(db, project, file, index).actions.clone();
    cx.personal(&policy, &actions);
    cx.diags
}

/// The rules that guard action `index` of `file` (a query of its own, so that it is unchanged,
/// and its action not re-proved, when an edit touches other actions' policies).
#[salsa::tracked(returns(ref))]
pub fn action_rules(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    index: u32,
) -> Vec<Arc<GuardRule>> {
    guards(db, project)
        .get(&format!("{}#{index}", file.path(db)))
        .cloned()
        .unwrap_or_default()
}

/// The declaration item `index` of `file` is, if the file's table has it (not a second
/// declaration of a name): looked up by the item's name, where a walk of the table per action
/// and per policy made a file of thousands of them quadratic.
fn def_at(db: &dyn Db, file: SourceFile, index: u32) -> Option<Def> {
    let name = parse_file(db, file).ast.items.get(index as usize)?.name()?;
    (resolve::item_table(db, file)
        .by_name
        .get(name.name.as_str()))
    .filter(|d| d.index == index)
    .cloned()
}

/// C0104: declarations of the project (not the standard library) that nothing names.
///
/// A name counts as used when it appears as a name token anywhere in the project other than
/// where it is declared; a local of the same name therefore hides an unused declaration (a
/// missed warning, never a false one). Actions, policies, decisions, journeys and agents are
/// entry points for the runtime and are never reported.
fn unused(db: &dyn Db, project: Project) -> Vec<Diagnostic> {
    let kind = |def: &Def| {
        Some(match def.kind {
            DefKind::Record => "record",
            DefKind::Enum => "enum",
            DefKind::Signal => "signal",
            DefKind::Fn => "function",
            DefKind::Intrinsic => "intrinsic",
            DefKind::Role => "role",
            DefKind::Purpose => "purpose",
            DefKind::Channel => "channel",
            DefKind::Event => "event",
            _ => return None,
        })
    };
    let project_files = || project.files(db).iter().filter(|f| !*f.is_stdlib(db));
    // The declarations that could be reported, by name, each with where it is declared.
    let mut candidates: FxHashMap<&str, Vec<(SourceFile, usize)>> = FxHashMap::default();
    for &f in project_files() {
        for def in resolve::item_table(db, f).by_name.values() {
            if kind(def).is_some() {
                candidates
                    .entry(&*def.name)
                    .or_default()
                    .push((def.file, def.span.start()));
            }
        }
    }
    // The names written somewhere other than where they are declared (a stdlib name that
    // happens to match is no use of the project's declaration: the standard library is not
    // read). With two declarations of one name, each one's name is a use of the other.
    let mut named: FxHashSet<&str> = FxHashSet::default();
    // The names written in what failed to check (an item with an error, a file with a syntax
    // error): one may be a misspelling of a declaration (`Custmer` for `Customer`), which the
    // error's fix makes used, so a declaration near one of them counts as used too. Each
    // name once, with every place it is written (file, and item or an empty span outside the
    // items): a file with a syntax error writes `Int` thousands of times, and a declaration is
    // compared with each name, not with each place.
    let mut failed: Vec<(&str, Vec<(SourceFile, Span)>)> = Vec::new();
    let mut failed_at: FxHashMap<&str, usize> = FxHashMap::default();
    for &f in project_files() {
        let text = f.text(db);
        let file_failed = *file_failed(db, project, f);
        let items = &parse_file(db, f).ast.items;
        let failed_items = ItemSpans::new(
            (items.iter().enumerate())
                .filter(|(i, _)| {
                    *item_failed(db, project, f, u32::try_from(*i).unwrap_or(u32::MAX))
                })
                .map(|(_, item)| item.span)
                .collect(),
        );
        let all_items = ItemSpans::new(items.iter().map(|i| i.span).collect());
        for span in parse_file(db, f).names.iter() {
            let name = text.get(span.range()).unwrap_or("");
            let item = match failed_items.first_holding(*span) {
                Some(s) => Some(s),
                None if file_failed => all_items.first_holding(*span).or(Some(Span::new(0, 0))),
                None => None,
            };
            if let Some(item) = item
                && !candidates.contains_key(name)
            {
                let at = *failed_at.entry(name).or_insert_with(|| {
                    failed.push((name, Vec::new()));
                    failed.len() - 1
                });
                if let Some((_, places)) = failed.get_mut(at) {
                    places.push((f, item));
                }
            }
            let Some(decls) = candidates.get(name) else {
                continue;
            };
            if decls.iter().any(|&d| d != (f, span.start())) {
                named.insert(name);
            }
        }
    }
    // The declarations that could be reported, in the order they are reported.
    let defs: Vec<(SourceFile, &Def, &str)> = project_files()
        .flat_map(|&f| {
            (resolve::item_table(db, f).by_name.values())
                .filter_map(move |def| Some((f, def, kind(def)?)))
        })
        .collect();
    // Which of them are near a name written in what failed, and where not in their own item
    // (a name written there is no misspelt use of it). Each name is made ready for comparing
    // once ([`resolve::NearTo`]), then compared with each declaration not yet known to be
    // used; the comparison sets most declarations aside after counting the characters the
    // two share.
    let mut near_failed = vec![false; defs.len()];
    // The declarations still to be found near a name: those no name written uses.
    let mut open: Vec<usize> = (0..defs.len())
        .filter(|&i| {
            defs.get(i)
                .is_some_and(|(_, def, _)| !named.contains(&*def.name))
        })
        .collect();
    for (w, places) in &failed {
        let mut to = resolve::NearTo::new(w);
        open.retain(|&i| {
            let Some(&(_, def, _)) = defs.get(i) else {
                return false;
            };
            let near = to.accepts(&def.name)
                && places.iter().any(|(f, item)| {
                    !(*f == def.file
                        && item.start() <= def.span.start()
                        && def.span.end() <= item.end())
                });
            if let Some(n) = near_failed.get_mut(i) {
                *n = near;
            }
            !near
        });
    }
    let mut out = Vec::new();
    for (&(f, def, kind), near) in defs.iter().zip(&near_failed) {
        if !named.contains(&*def.name) && !near {
            out.push(
                Diagnostic::warning(
                    "C0104",
                    f.path(db),
                    def.span,
                    format!("{kind} `{}` is never used", def.name),
                )
                .with_label("declared here, named nowhere else")
                .with_help(
                    "remove it, or use it; unused declarations make a policy harder to audit",
                ),
            );
        }
    }
    out
}

/// Spans of items of a file, in file order, to find the item that holds a name.
struct ItemSpans {
    spans: Vec<Span>,
    /// Whether the spans follow one another without overlapping, as a parse gives them.
    ordered: bool,
}

impl ItemSpans {
    fn new(spans: Vec<Span>) -> ItemSpans {
        let ordered = spans.windows(2).all(|w| w[0].end() <= w[1].start());
        ItemSpans { spans, ordered }
    }

    /// The first span that holds `span`: found by a binary search when the spans are
    /// ordered (a walk of every item for every name written made a file of thousands
    /// quadratic).
    fn first_holding(&self, span: Span) -> Option<Span> {
        let holds = |s: &Span| s.start() <= span.start() && span.end() <= s.end();
        // An empty span may lie where one item ends and the next starts: both hold it.
        if !self.ordered || span.start() == span.end() {
            return self.spans.iter().copied().find(holds);
        }
        // The last item starting at or before `span` is the only one that can hold it.
        let after = self.spans.partition_point(|s| s.start() <= span.start());
        (after.checked_sub(1))
            .and_then(|i| self.spans.get(i))
            .copied()
            .filter(holds)
    }
}

/// One rule of a policy guarding an action, with its condition as a formula.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuardRule {
    /// The policy.
    pub policy: Def,
    /// The rule's index in the policy.
    pub index: usize,
    /// What the rule gives.
    pub verdict: Verdict,
    /// A review's fallback.
    pub fallback: Option<(Verdict, Span)>,
    /// The rule's span.
    pub span: Span,
    /// The rule's reason, if written.
    pub reason: Option<String>,
    /// Calls to intrinsics/functions in the condition, by qualified name (for the heuristics).
    pub calls: Vec<Arc<str>>,
    /// The condition (`when`, or negated `unless`), canonicalised.
    pub condition: CanonCondition,
}

/// A condition in canonical form: a formula shape over atom keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CanonCondition {
    /// Always.
    True,
    /// Never.
    False,
    /// A fact, by canonical key, how to show it, and how to show it with the names of
    /// declarations qualified where two facts of a message's example could show the same:
    /// `None` when it names no declaration whose name another declaration has too.
    Atom(String, String, Option<String>),
    /// Negation.
    Not(Box<CanonCondition>),
    /// Conjunction.
    And(Vec<CanonCondition>),
    /// Disjunction.
    Or(Vec<CanonCondition>),
}

/// Every declaration of a kind in the project.
pub(crate) fn all_defs(db: &dyn Db, project: Project, kind: DefKind) -> Vec<Def> {
    let mut out = Vec::new();
    for &f in project.files(db) {
        out.extend(
            resolve::item_table(db, f)
                .by_name
                .values()
                .filter(|d| d.kind == kind)
                .cloned(),
        );
    }
    out
}

/// What one policy contributes: the actions it guards and its rules in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PolicyGuard {
    /// The actions the policy guards.
    pub actions: Vec<Def>,
    /// Its rules.
    pub rules: Vec<Arc<GuardRule>>,
}

/// For every action, the rules of the policies that guard it, by action key.
#[salsa::tracked(returns(ref))]
pub fn guards(db: &dyn Db, project: Project) -> BTreeMap<String, Vec<Arc<GuardRule>>> {
    let mut out: BTreeMap<String, Vec<Arc<GuardRule>>> = BTreeMap::new();
    for policy in all_defs(db, project, DefKind::Policy) {
        let g = policy_guard(db, project, policy.file, policy.index);
        for action in &g.actions {
            out.entry(key(db, action))
                .or_default()
                .extend(g.rules.iter().cloned());
        }
    }
    out
}

/// The actions policy `index` of `file` guards, and its rules in canonical form.
#[salsa::tracked(returns(ref))]
pub fn policy_guard(db: &dyn Db, project: Project, file: SourceFile, index: u32) -> PolicyGuard {
    let mut out = PolicyGuard::default();
    let Some(policy) = def_at(db, file, index) else {
        return out;
    };
    let Some(item) = item_ast(db, policy.file, policy.index) else {
        return out;
    };
    let ItemKind::Policy(p) = &item.kind else {
        return out;
    };
    out.actions = match &p.target {
        Target::Action(path) => resolve::resolve_path(db, project, policy.file, path)
            .filter(|d| d.kind == DefKind::Action)
            .into_iter()
            .collect(),
        Target::Purpose(name) => {
            match resolve::file_scope(db, project, policy.file).lookup(db, &name.name) {
                Lookup::Found(e) if e.def.kind == DefKind::Purpose => {
                    crate::check::purpose_actions(db, project, &e.def, &p.bindings)
                }
                _ => Vec::new(),
            }
        }
    };
    let mut subst: BTreeMap<String, String> = p
        .bindings
        .iter()
        .map(|b| (b.var.name.clone(), format!("${}", b.param.name)))
        .collect();
    if let Some(at) = &p.at {
        // `@` begins no parameter name: no clash. A decision time named like a binding is an
        // error (E0206, at `at`): the name is read as the binding, so that what the clash
        // hides (a consent guard on it, C0005) is not reported as missing too.
        subst
            .entry(at.name.clone())
            .or_insert_with(|| "@now".to_string());
    }
    let scope = resolve::file_scope(db, project, policy.file);
    let text = policy.file.text(db);
    let canon = Canon {
        db,
        project,
        scope,
        subst: &subst,
        text,
        qualify: qualified_here(db, project, policy.file),
    };
    for (index, rule) in p.rules.iter().enumerate() {
        let ast::Rule::Rule {
            kind,
            reason,
            condition,
            span,
        } = rule
        else {
            continue;
        };
        let (verdict, fallback) = match kind {
            RuleKind::Deny => (Verdict::Deny, None),
            RuleKind::Allow => (Verdict::Allow, None),
            RuleKind::Review {
                fallback,
                fallback_span,
                ..
            } => (Verdict::Review, Some((*fallback, *fallback_span))),
        };
        let (cond, calls) = match condition {
            None => (CanonCondition::True, Vec::new()),
            Some(c) => {
                let mut calls = Vec::new();
                canon.calls(&c.expr, &mut calls);
                let f = canon.condition(&c.expr);
                (
                    if c.negated {
                        CanonCondition::Not(Box::new(f))
                    } else {
                        f
                    },
                    calls,
                )
            }
        };
        out.rules.push(Arc::new(GuardRule {
            policy: policy.clone(),
            index,
            verdict,
            fallback,
            span: *span,
            reason: reason.as_ref().map(|r| r.value.clone()),
            calls,
            condition: cond,
        }));
    }
    out
}

/// The key of an action in [`guards`]: its file's path and item index.
fn key(db: &dyn Db, def: &Def) -> String {
    format!("{}#{}", def.file.path(db), def.index)
}

/// Canonical forms of expressions written in one policy.
struct Canon<'a> {
    db: &'a dyn Db,
    project: Project,
    scope: &'a Scope,
    subst: &'a BTreeMap<String, String>,
    text: &'a str,
    /// The names a message writes qualified in this file ([`qualified_here`]): found once per
    /// file, so that a fact naming none of them costs no walk (and a file of thousands of
    /// policies does not walk its scope once per policy).
    qualify: &'a BTreeSet<Arc<str>>,
}

/// The names of `scope` that [`Canon::qualified_shown`] writes qualified: the file's aliases
/// (`use m.x as y`) and the names two declarations of the project share that the file sees.
#[salsa::tracked(returns(ref))]
fn qualified_here(db: &dyn Db, project: Project, file: SourceFile) -> BTreeSet<Arc<str>> {
    let scope = resolve::file_scope(db, project, file);
    let aliases = (scope.names.iter())
        .filter(|(name, e)| *e.def.name != ***name)
        .map(|(name, _)| name.clone());
    let shared = (shared_names(db, project).iter())
        .filter(|n| matches!(scope.lookup(db, n), Lookup::Found(_)))
        .cloned();
    aliases.chain(shared).collect()
}

impl Canon<'_> {
    fn qualified(&self, name: &str) -> Option<String> {
        match self.scope.lookup(self.db, name) {
            Lookup::Found(e) => Some(e.def.qualified(self.db)),
            _ => None,
        }
    }

    /// A canonical key for an expression: locals become `$param`, declarations their
    /// qualified names, and a call's named arguments are put in parameter order.
    fn key(&self, e: &ast::Expr, bound: &[String]) -> String {
        // About as long as the expression's text (names qualified, blanks dropped): sized
        // once, not grown a few bytes at a time.
        let mut out = String::with_capacity(e.span.range().len() + 32);
        self.key_into(e, bound, &mut out);
        out
    }

    /// [`Canon::key`] appended to `out`: one buffer for the whole expression, where a string
    /// per node made the keys a twentieth of checking a large policy.
    fn key_into(&self, e: &ast::Expr, bound: &[String], out: &mut String) {
        use std::fmt::Write as _;
        match &e.kind {
            ExprKind::Name(n) => {
                // Lambda parameters by position, so `x => …` and `y => …` meet.
                if let Some(i) = bound.iter().rposition(|b| *b == n.name) {
                    let _ = write!(out, "#{i}");
                } else if let Some(s) = self.subst.get(&n.name) {
                    out.push_str(s);
                } else if let Some(q) = self.qualified(&n.name) {
                    out.push_str(&q);
                } else {
                    out.push_str(&n.name);
                }
            }
            ExprKind::Paren(x) => self.key_into(x, bound, out),
            ExprKind::Lit(l) => literal_key(l, out),
            ExprKind::Field(r, f) => {
                self.key_into(r, bound, out);
                out.push('.');
                out.push_str(&f.name);
            }
            ExprKind::Call {
                callee,
                receiver,
                args,
            } => {
                let name = callee.last().name.as_str();
                let qualified = self.qualified(name).unwrap_or_else(|| name.to_string());
                let mut values: Vec<(Option<String>, String)> = Vec::new();
                if let Some(r) = receiver {
                    values.push((None, self.key(r, bound)));
                }
                for a in args {
                    values.push((
                        a.name.as_ref().map(|n| n.name.clone()),
                        self.key(&a.value, bound),
                    ));
                }
                out.push_str(&qualified);
                out.push('(');
                // Named arguments in parameter order, when the callee's parameters are known.
                if values.iter().any(|(n, _)| n.is_some())
                    && let Lookup::Found(e) = self.scope.lookup(self.db, name)
                    && let Signature::Callable { params, .. } =
                        resolve::signature(self.db, self.project, e.def.file, e.def.index)
                {
                    let mut positional = values
                        .iter()
                        .filter(|(n, _)| n.is_none())
                        .map(|(_, v)| v.as_str());
                    for (i, p) in params.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        match values.iter().find(|(n, _)| n.as_deref() == Some(&*p.name)) {
                            Some((_, v)) => out.push_str(v),
                            None => out.push_str(positional.next().unwrap_or_default()),
                        }
                    }
                } else {
                    for (i, (_, v)) in values.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(v);
                    }
                }
                out.push(')');
            }
            ExprKind::Binary(op, a, b) => {
                out.push('(');
                self.key_into(a, bound, out);
                out.push(' ');
                out.push_str(op.symbol());
                out.push(' ');
                self.key_into(b, bound, out);
                out.push(')');
            }
            ExprKind::Unary(op, x) => {
                out.push_str(if *op == UnOp::Not { "(not " } else { "(-" });
                self.key_into(x, bound, out);
                out.push(')');
            }
            ExprKind::Is { expr, present } => {
                out.push('(');
                self.key_into(expr, bound, out);
                out.push_str(if *present {
                    " is present)"
                } else {
                    " is absent)"
                });
            }
            ExprKind::Range { lo, hi, inclusive } => {
                self.key_into(lo, bound, out);
                out.push_str(if *inclusive { "..=" } else { ".." });
                self.key_into(hi, bound, out);
            }
            ExprKind::If(c, a, b) => {
                out.push_str("(if ");
                self.key_into(c, bound, out);
                out.push_str(" then ");
                self.key_into(a, bound, out);
                out.push_str(" else ");
                self.key_into(b, bound, out);
                out.push(')');
            }
            ExprKind::List(xs) | ExprKind::Set(xs) => {
                out.push('[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.key_into(x, bound, out);
                }
                out.push(']');
            }
            ExprKind::Record { fields, rest } => {
                out.push('{');
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&n.name);
                    out.push_str(": ");
                    self.key_into(v, bound, out);
                }
                if *rest {
                    out.push_str(", ..");
                }
                out.push('}');
            }
            ExprKind::Lambda(x, body) => {
                let mut inner = bound.to_vec();
                inner.push(x.name.clone());
                let _ = write!(out, "(#{} => ", inner.len() - 1);
                self.key_into(body, &inner, out);
                out.push(')');
            }
            ExprKind::Error => out.push_str("<error>"),
        }
    }

    fn atom(&self, e: &ast::Expr) -> CanonCondition {
        CanonCondition::Atom(self.key(e, &[]), self.shown(e), self.qualified_shown(e))
    }

    /// Expression `e` as [`Canon::shown`] quotes it, with each name of a declaration that
    /// shares its name with another declaration of the project (`marketing` of
    /// `std.consent` and of `acme.crm`), or that the file imports under an alias, written
    /// qualified (`std.consent.marketing`); `None` when it names none such. Locals (the
    /// policy's bindings, its `at`, lambda variables) are kept.
    fn qualified_shown(&self, e: &ast::Expr) -> Option<String> {
        if self.qualify.is_empty() {
            return None;
        }
        let mut replace: Vec<(Span, String)> = Vec::new();
        self.qualified_names(e, &mut Vec::new(), &mut replace);
        if replace.is_empty() {
            return None;
        }
        let start = e.span.start();
        let mut written = self.text.get(e.span.range())?.to_string();
        replace.sort_by_key(|(span, _)| std::cmp::Reverse(span.start()));
        for (span, q) in replace {
            let range = span.start().checked_sub(start)?..span.end().checked_sub(start)?;
            written.get(range.clone())?;
            written.replace_range(range, &q);
        }
        Some(crate::format::one_line(&written))
    }

    /// The names in `e` that [`Canon::qualified_shown`] qualifies, with their qualified names.
    fn qualified_names(
        &self,
        e: &ast::Expr,
        bound: &mut Vec<String>,
        out: &mut Vec<(Span, String)>,
    ) {
        let mut name = |n: &ast::Ident, bound: &[String]| {
            if !self.qualify.contains(n.name.as_str())
                || bound.contains(&n.name)
                || self.subst.contains_key(&n.name)
            {
                return;
            }
            if let Lookup::Found(x) = self.scope.lookup(self.db, &n.name) {
                out.push((n.span, x.def.qualified(self.db)));
            }
        };
        match &e.kind {
            ExprKind::Name(n) => name(n, bound),
            ExprKind::Call {
                callee,
                receiver,
                args,
            } => {
                if let [one] = &callee.segments[..] {
                    name(one, bound);
                }
                for x in receiver
                    .iter()
                    .map(|r| &**r)
                    .chain(args.iter().map(|a| &a.value))
                {
                    self.qualified_names(x, bound, out);
                }
            }
            ExprKind::Field(x, _)
            | ExprKind::Paren(x)
            | ExprKind::Unary(_, x)
            | ExprKind::Is { expr: x, .. } => self.qualified_names(x, bound, out),
            ExprKind::Binary(_, a, b) | ExprKind::Range { lo: a, hi: b, .. } => {
                self.qualified_names(a, bound, out);
                self.qualified_names(b, bound, out);
            }
            ExprKind::If(c, a, b) => {
                for x in [c, a, b] {
                    self.qualified_names(x, bound, out);
                }
            }
            ExprKind::List(xs) | ExprKind::Set(xs) => {
                for x in xs {
                    self.qualified_names(x, bound, out);
                }
            }
            ExprKind::Record { fields, .. } => {
                for (_, x) in fields {
                    self.qualified_names(x, bound, out);
                }
            }
            ExprKind::Lambda(x, body) => {
                bound.push(x.name.clone());
                self.qualified_names(body, bound, out);
                bound.pop();
            }
            ExprKind::Lit(_) | ExprKind::Error => {}
        }
    }

    /// How a condition is quoted in a message ([`shown_expr`]).
    fn shown(&self, e: &ast::Expr) -> String {
        shown_expr(self.text, e)
    }

    /// The propositional structure of a Boolean condition.
    fn condition(&self, e: &ast::Expr) -> CanonCondition {
        match &e.kind {
            ExprKind::Paren(x) => self.condition(x),
            ExprKind::Lit(Literal::Bool(true)) => CanonCondition::True,
            ExprKind::Lit(Literal::Bool(false)) => CanonCondition::False,
            ExprKind::Unary(UnOp::Not, x) => CanonCondition::Not(Box::new(self.condition(x))),
            // `c == true`, `c != false`, `true == c` are `c`; `== false` and `!= true` its negation.
            ExprKind::Binary(op @ (ast::BinOp::Eq | ast::BinOp::Ne), a, b)
                if bool_lit(a).or(bool_lit(b)).is_some() =>
            {
                let (lit, other) = match bool_lit(a) {
                    Some(v) => (v, b),
                    None => (bool_lit(b).unwrap_or(true), a),
                };
                let positive = lit == (*op == ast::BinOp::Eq);
                let c = self.condition(other);
                if positive {
                    c
                } else {
                    CanonCondition::Not(Box::new(c))
                }
            }
            ExprKind::Binary(ast::BinOp::And, a, b) => {
                CanonCondition::And(vec![self.condition(a), self.condition(b)])
            }
            ExprKind::Binary(ast::BinOp::Or, a, b) => {
                CanonCondition::Or(vec![self.condition(a), self.condition(b)])
            }
            ExprKind::If(c, a, b) => {
                let c = self.condition(c);
                CanonCondition::Or(vec![
                    CanonCondition::And(vec![c.clone(), self.condition(a)]),
                    CanonCondition::And(vec![CanonCondition::Not(Box::new(c)), self.condition(b)]),
                ])
            }
            // `x is absent` is the negation of the fact `x is present`, so both spellings meet.
            ExprKind::Is { expr, present } => {
                let fact = CanonCondition::Atom(
                    format!("({} is present)", self.key(expr, &[])),
                    format!("{} is present", self.shown(expr)),
                    self.qualified_shown(expr)
                        .map(|q| format!("{q} is present")),
                );
                if *present {
                    fact
                } else {
                    CanonCondition::Not(Box::new(fact))
                }
            }
            _ => self.atom(e),
        }
    }

    /// The qualified names of everything the expression calls.
    fn calls(&self, e: &ast::Expr, out: &mut Vec<Arc<str>>) {
        match &e.kind {
            ExprKind::Call {
                callee,
                receiver,
                args,
            } => {
                let name = callee.last().name.as_str();
                out.push(Arc::from(
                    self.qualified(name).unwrap_or_else(|| name.to_string()),
                ));
                if let Some(r) = receiver {
                    self.calls(r, out);
                }
                for a in args {
                    self.calls(&a.value, out);
                }
            }
            ExprKind::Field(x, _)
            | ExprKind::Unary(_, x)
            | ExprKind::Paren(x)
            | ExprKind::Lambda(_, x) => self.calls(x, out),
            ExprKind::Is { expr, .. } => self.calls(expr, out),
            ExprKind::Binary(_, a, b) | ExprKind::Range { lo: a, hi: b, .. } => {
                self.calls(a, out);
                self.calls(b, out);
            }
            ExprKind::If(a, b, c) => {
                self.calls(a, out);
                self.calls(b, out);
                self.calls(c, out);
            }
            ExprKind::List(xs) | ExprKind::Set(xs) => xs.iter().for_each(|x| self.calls(x, out)),
            ExprKind::Record { fields, .. } => fields.iter().for_each(|(_, v)| self.calls(v, out)),
            ExprKind::Lit(_) | ExprKind::Name(_) | ExprKind::Error => {}
        }
    }
}

struct Cx<'a> {
    db: &'a dyn Db,
    project: Project,
    /// Atom keys, by index.
    atoms: Vec<String>,
    /// Each atom key's index: a linear search of `atoms` made checking a policy of a
    /// thousand rules quadratic.
    /// (Fx: keyed by our own canonical keys, and SipHash was 3% of checking 1,000 rules.)
    atom_index: FxHashMap<String, u32>,
    /// How each atom is shown.
    shown: Vec<String>,
    /// How each atom is shown with names qualified ([`CanonCondition::Atom`]).
    qualified: Vec<Option<String>>,
    diags: Vec<Diagnostic>,
}

/// How many questions an action asks of its rules whole, as [`satisfiable`] takes them, before
/// [`Guarded`] prepares the rules once: preparing costs a few whole questions, so an action
/// with few allows (most) pays nothing for it, and one with thousands pays it once.
const WHOLE_QUESTIONS: usize = 4;

#[cfg(test)]
thread_local! {
    /// [`WHOLE_QUESTIONS`] for the tests that compare both ways of asking on one policy.
    static WHOLE_QUESTIONS_IN_TESTS: std::cell::Cell<Option<usize>> =
        const { std::cell::Cell::new(None) };
}

fn whole_questions() -> usize {
    #[cfg(test)]
    if let Some(n) = WHOLE_QUESTIONS_IN_TESTS.with(std::cell::Cell::get) {
        return n;
    }
    WHOLE_QUESTIONS
}

/// The rules one kind of rule of an action must get past (every deny, and every review for an
/// allow), asked whether a rule's condition can hold with none of them applying. The first
/// [`WHOLE_QUESTIONS`] are asked whole; the rest of a [`Conjunction`] of the rules' negations,
/// made at the first of them, whose answers are the same ([`Conjunction::decide`]) and cost
/// what the question's own formulas touch: an action guarded by thousands of denies with
/// thousands of allows was quadratic.
struct Guarded<'f> {
    /// The conditions of the rules to get past.
    rules: Vec<&'f Formula>,
    /// Questions asked so far.
    asked: usize,
    /// The rules prepared, once made.
    prepared: Option<Conjunction>,
}

impl<'f> Guarded<'f> {
    fn new(rules: impl IntoIterator<Item = &'f Formula>) -> Self {
        Guarded {
            rules: rules.into_iter().collect(),
            asked: 0,
            prepared: None,
        }
    }

    /// Whether `extra₁ ∧ … ∧ ¬rule₁ ∧ …` can be true: `whole` is that formula as the checks
    /// always wrote it, asked of [`satisfiable`] itself the first times.
    fn ask(&mut self, extra: &[Formula], whole: impl FnOnce() -> Formula) -> Reached {
        self.asked += 1;
        if self.asked <= whole_questions() {
            let sat = satisfiable(&whole());
            let answer = match sat {
                Sat::Unsat => Answer::Unsat,
                Sat::Sat(_) => Answer::Sat,
                Sat::TooLarge => Answer::TooLarge,
            };
            return Reached {
                answer,
                whole: Some(sat),
            };
        }
        let rules = &self.rules;
        let prepared = self.prepared.get_or_insert_with(|| {
            Conjunction::new(rules.iter().map(|f| Formula::negate((*f).clone())))
        });
        Reached {
            answer: prepared.decide(extra),
            whole: None,
        }
    }
}

/// The answer of [`Guarded::ask`], and [`satisfiable`]'s own when it asked it whole.
struct Reached {
    answer: Answer,
    whole: Option<Sat>,
}

impl Reached {
    /// The example a message shows of a question that can be true: [`satisfiable`]'s, asked
    /// of the whole formula (again, when it was not asked whole), so that a message reads as
    /// it always has whichever way the answer was found. Only messages ask: one per finding.
    fn example(&self, whole: impl FnOnce() -> Formula) -> Vec<(u32, bool)> {
        match &self.whole {
            Some(Sat::Sat(w)) => w.clone(),
            Some(_) => Vec::new(),
            None => match satisfiable(&whole()) {
                Sat::Sat(w) => w,
                Sat::Unsat | Sat::TooLarge => Vec::new(),
            },
        }
    }
}

/// C0005's question: whether an allow is reached at all (with too many channel places to ask
/// for consent) or reached without the consent facts (the formula negating them).
enum ConsentReached {
    Reach(Reached),
    Without(Reached, Formula),
}

impl ConsentReached {
    fn answer(&self) -> Answer {
        match self {
            ConsentReached::Reach(r) | ConsentReached::Without(r, _) => r.answer,
        }
    }
}

/// The consent an action needs ([`Cx::consent_atoms`]).
struct Required {
    /// The guard that establishes it, when a policy can write one.
    guard: Option<Arc<ConsentGuard>>,
    /// The action holds channels in more than [`MAX_CHANNEL_PLACES`] places: no guard is
    /// asked for, and any way to allow it is a C0005.
    too_many: bool,
}

/// The guard an action needs, as one policy writes it ([`Cx::in_policy`]).
struct Written {
    /// Each fact, over atoms shown in the policy's names.
    facts: Vec<CanonCondition>,
    /// The whole guard as the policy would write it; `None` when there is none to write.
    guard: Option<String>,
    /// When the guard does not check in the policy as it is, the whole help: where to write
    /// it, and what the policy needs first (its header binding a parameter, a `use` line), or
    /// the policy of the action's own to write when a purpose's policy cannot bind them.
    help: Option<String>,
}

/// A declaration as a consent guard writes it in a file and as a message shows it there
/// ([`write_guard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The name the guard is written with: the file's, or an alias its `use` is to add.
    pub written: String,
    /// The name a message shows: the written one, or the qualified name when that is an alias
    /// the file does not have yet (or a name a local of the policy hides).
    pub shown: String,
}

/// What an action is, for the properties.
struct ActionFacts {
    params: Vec<resolve::TypedParam>,
    purpose: Option<Def>,
    risk: Option<Arc<str>>,
    risk_span: Span,
    annotations: Vec<String>,
    /// The `@annex_iii` annotation, if any: it makes the action high-risk whatever its `risk`
    /// clause says.
    annex_iii: Option<Span>,
}

impl ActionFacts {
    /// The risk class the checks apply: `risk high` for an action in an Annex III area (unless
    /// it is declared `risk prohibited`, stricter still; C0013 reports the contradiction), the
    /// declared class otherwise, and high for an unclassified action (C0011), the strictest
    /// class that may be allowed.
    fn checked_risk(&self) -> &str {
        match self.risk.as_deref() {
            Some("prohibited") => "prohibited",
            _ if self.annex_iii.is_some() => "high",
            declared => declared.unwrap_or("high"),
        }
    }

    /// Where a finding about a high-risk action points to say why it is high-risk, and how.
    fn high_risk_label(&self) -> (Span, &'static str) {
        match (self.risk.as_deref(), self.annex_iii) {
            (Some("high"), _) | (_, None) => (self.risk_span, "declared `risk high` here"),
            (_, Some(annex)) => (annex, "`@annex_iii` makes it high-risk"),
        }
    }
}

impl<'a> Cx<'a> {
    fn new(db: &'a dyn Db, project: Project) -> Self {
        Cx {
            db,
            project,
            atoms: Vec::new(),
            atom_index: FxHashMap::default(),
            shown: Vec::new(),
            qualified: Vec::new(),
            diags: Vec::new(),
        }
    }

    fn path(&self, def: &Def) -> Arc<str> {
        def.file.path(self.db).clone()
    }

    fn formula(&mut self, c: &CanonCondition) -> Formula {
        match c {
            CanonCondition::True => Formula::True,
            CanonCondition::False => Formula::False,
            CanonCondition::Atom(k, shown, qualified) => {
                Formula::Atom(self.atom(k, shown, qualified.as_deref()))
            }
            CanonCondition::Not(x) => Formula::negate(self.formula(x)),
            CanonCondition::And(xs) => {
                let parts: Vec<Formula> = xs.iter().map(|x| self.formula(x)).collect();
                Formula::and(parts)
            }
            CanonCondition::Or(xs) => {
                let parts: Vec<Formula> = xs.iter().map(|x| self.formula(x)).collect();
                Formula::or(parts)
            }
        }
    }

    fn atom(&mut self, key: &str, shown: &str, qualified: Option<&str>) -> u32 {
        if let Some(&i) = self.atom_index.get(key) {
            return i;
        }
        self.atoms.push(key.to_string());
        self.shown.push(shown.to_string());
        self.qualified.push(qualified.map(str::to_string));
        let i = u32::try_from(self.atoms.len() - 1).unwrap_or(u32::MAX);
        self.atom_index.insert(key.to_string(), i);
        i
    }

    /// "for example when …" from a witness assignment. Two facts that would read the same
    /// (`consent(c, marketing, ch)` written in two files where `marketing` names two
    /// purposes) are shown with the names of declarations qualified, so that the example
    /// does not read as a contradiction.
    fn example(&self, witness: &[(u32, bool)]) -> String {
        if witness.is_empty() {
            return "always".to_string();
        }
        let shown = |a: u32| {
            let shown = &self.shown[a as usize];
            if shown.is_empty() {
                &self.atoms[a as usize]
            } else {
                shown
            }
        };
        let parts: Vec<String> = witness
            .iter()
            .map(|&(a, v)| {
                let alike = witness.iter().any(|&(b, _)| b != a && shown(b) == shown(a));
                let text = match &self.qualified[a as usize] {
                    Some(q) if alike => q,
                    _ => shown(a),
                };
                format!("`{text}` is {v}")
            })
            .collect();
        format!("for example when {}", parts.join(" and "))
    }

    fn facts(&self, action: &Def) -> Option<ActionFacts> {
        let item = item_ast(self.db, action.file, action.index).as_ref()?;
        let ItemKind::Action(a) = &item.kind else {
            return None;
        };
        let Signature::Action {
            params,
            purpose,
            risk,
        } = resolve::signature(self.db, self.project, action.file, action.index).clone()
        else {
            return None;
        };
        Some(ActionFacts {
            params,
            purpose,
            risk,
            risk_span: a.risk.as_ref().map_or(action.span, |r| r.span),
            annotations: item
                .annotations
                .iter()
                .map(|x| x.name.name.clone())
                .collect(),
            annex_iii: (item.annotations.iter())
                .find(|x| x.name.name == "annex_iii")
                .map(|x| x.span),
        })
    }

    /// The properties of one action over the rules that guard it.
    fn action(&mut self, action: &Def, rules: &[Arc<GuardRule>]) {
        let Some(facts) = self.facts(action) else {
            return;
        };
        let apath = self.path(action);
        if facts.risk.is_none() {
            self.diags.push(
                Diagnostic::error("C0011", &apath, action.span, format!("action `{}` has no risk class", action.name))
                    .with_label("unclassified")
                    .with_note("EU AI Act: obligations follow the risk class (Art. 5 prohibited, Art. 6 and Annex III high, Art. 50 limited); an unclassified action cannot be checked against them")
                    .with_help(if facts.annex_iii.is_some() {
                        "add `risk high` after the purpose: `@annex_iii` puts the action in an Annex III area"
                    } else {
                        "add `risk minimal`, `risk limited`, `risk high` or `risk prohibited` after the purpose"
                    }),
            );
        }
        // C0013: an action in an Annex III area is high-risk (AI Act Art. 6(2)); a lower class
        // written on it would turn off the checks of oversight, so it is refused, and the
        // action is checked as high-risk meanwhile (`checked_risk`).
        if let (Some(declared), Some(annex)) = (facts.risk.as_deref(), facts.annex_iii)
            && declared != "high"
        {
            self.diags.push(
                Diagnostic::error("C0013", &apath, facts.risk_span, format!("action `{}` is in an Annex III area but declared `risk {declared}`", action.name))
                    .with_label(format!("declared `risk {declared}`"))
                    .with_secondary(&apath, annex, "`@annex_iii` makes the action high-risk")
                    .with_note(format!(
                        "EU AI Act Art. 6(2): an AI system used in an Annex III area is high-risk, and under Art. 14 a person oversees its decisions; the action is checked as {}",
                        if declared == "prohibited" { "prohibited, the stricter class" } else { "high-risk" }
                    ))
                    .with_help(format!("write `risk high` instead of `risk {declared}`, or remove `@annex_iii` if `{}` is not in an Annex III area", action.name)),
            );
        }
        let risk = facts.checked_risk();
        let high = facts.high_risk_label();
        let formulas: Vec<Formula> = rules.iter().map(|r| self.formula(&r.condition)).collect();
        let of_verdict = |v: Verdict| -> Vec<Formula> {
            rules
                .iter()
                .zip(&formulas)
                .filter(|(r, _)| r.verdict == v)
                .map(|(_, f)| f.clone())
                .collect()
        };
        let of = |v: Verdict| {
            (rules.iter().zip(&formulas))
                .filter(move |(r, _)| r.verdict == v)
                .map(|(_, f)| f)
        };
        // Whether a rule takes effect is asked of the rules that guard it: `cond ∧ no_deny ∧
        // no_review` for an allow, `cond ∧ no_deny` for a review. Past the first few questions
        // they are asked of the deny (and review) rules prepared once ([`Guarded`]), so that
        // each costs what its own condition touches, not every deny of the action again.
        let mut allow_guard = Guarded::new(of(Verdict::Deny).chain(of(Verdict::Review)));
        let mut review_guard = Guarded::new(of(Verdict::Deny));
        let no_deny = Formula::negate(Formula::or(of_verdict(Verdict::Deny)));
        let no_review = Formula::negate(Formula::or(of_verdict(Verdict::Review)));

        // C0004: a limited-risk action that addresses a person discloses that an AI is involved.
        // A `to` addresses people whatever its type; without one, so does any parameter that
        // holds a record (with several, it addresses one of them: no need to know which).
        let subject = subject(&facts.params);
        let addressed: Vec<&resolve::TypedParam> = match &subject {
            Subject::Param(p) => vec![p],
            Subject::Ambiguous(ps) => ps.clone(),
            Subject::Nobody => Vec::new(),
        };
        if risk == "limited"
            && !addressed.is_empty()
            && !facts.annotations.iter().any(|a| a == "ai_disclosure")
        {
            self.diags.push(
                Diagnostic::error("C0004", &apath, action.span, format!("limited-risk action `{}` addresses a person without an AI disclosure", action.name))
                    .with_label(format!("addresses {} without disclosure", quoted(addressed.iter().map(|p| &*p.name))))
                    .with_secondary(&apath, facts.risk_span, "declared `risk limited` here")
                    .with_note("EU AI Act Art. 50: people must be told when they interact with an AI system or receive content it generated")
                    .with_help(format!("annotate the action: `@ai_disclosure(\"…\")` above `action {}`", action.name)),
            );
        }

        // The consent facts the action needs, made once for all its rules. The subject is the
        // person only if `consent` can be asked of it: a record that is no person (a message
        // holding a channel) describes no one, and its channels are the action's.
        let person = match &subject {
            Subject::Param(p) => self.person_steps(&p.ty).map(|steps| (*p, steps)),
            Subject::Nobody | Subject::Ambiguous(_) => None,
        };
        let places = self.channel_places(&facts.params, person.as_ref().map(|(p, _)| *p));
        let required = self.consent_atoms(action, &facts, &subject, person, &places);
        let consent_required = required.guard.is_some() || required.too_many;
        // The guard in the names of each policy, made once per policy (not per rule).
        let mut in_policies: Vec<(Def, Written)> = Vec::new();
        let mut in_policy_at: FxHashMap<Def, usize> = FxHashMap::default();
        for (r, cond) in rules.iter().zip(&formulas) {
            // Deny rules never break a property: only allow and review rules are questioned.
            if r.verdict == Verdict::Deny {
                self.never_applies(r, cond);
                continue;
            }
            let rpath = self.path(&r.policy);
            // The whole question, built only when it is asked whole (see `Guarded::ask`) or its
            // example is shown.
            let reachable = || match r.verdict {
                Verdict::Allow => Formula::and([cond.clone(), no_deny.clone(), no_review.clone()]),
                _ => Formula::and([cond.clone(), no_deny.clone()]),
            };
            let guard = match r.verdict {
                Verdict::Allow => &mut allow_guard,
                _ => &mut review_guard,
            };
            // The property that needs to know whether the rule takes effect, if any (C0102, a
            // warning, asks too, but is not worth a C0010): a question nothing needs is not
            // asked, so that its size cannot make the checker give up.
            let property = match (risk, r.verdict) {
                ("prohibited", _) => Some(Undecided::Prohibited),
                ("high", Verdict::Allow) => Some(Undecided::Oversight),
                ("high", _) if matches!(r.fallback, Some((Verdict::Allow, _))) => {
                    Some(Undecided::Fallback)
                }
                _ => None,
            };
            let warns = r.verdict == Verdict::Allow && risk != "high";
            let reach = (property.is_some() || warns)
                .then(|| guard.ask(std::slice::from_ref(cond), reachable));
            let answer = reach.as_ref().map(|r| r.answer);
            let mut undecided = false;
            if answer == Some(Answer::TooLarge)
                && let Some(property) = property
            {
                self.undecided(&rpath, r, action, property);
                undecided = true;
            }
            // C0003: nothing may ever allow or send to review a prohibited practice.
            if risk == "prohibited" {
                if let Some(reach) = &reach
                    && reach.answer == Answer::Sat
                {
                    let example = self.example(&reach.example(reachable));
                    self.diags.push(
                        Diagnostic::error("C0003", &rpath, r.span, format!("this rule can let prohibited action `{}` through", action.name))
                            .with_label(format!(
                                "{} {example}",
                                if r.verdict == Verdict::Allow { "allows" } else { "sends to review" }
                            ))
                            .with_secondary(&apath, facts.risk_span, "declared `risk prohibited` here")
                            .with_note("EU AI Act Art. 5: prohibited practices may not be placed on the market or used, whoever decides")
                            .with_help("remove the rule: a prohibited action can only be denied"),
                    );
                }
                continue;
            }
            // C0001: a high-risk action is never allowed without a human.
            if risk == "high"
                && r.verdict == Verdict::Allow
                && let Some(reach) = &reach
                && reach.answer == Answer::Sat
            {
                let example = self.example(&reach.example(reachable));
                self.diags.push(
                        Diagnostic::error("C0001", &rpath, r.span, format!("high-risk action `{}` can be allowed without human review", action.name))
                            .with_label(format!("allows {example}, with no deny or review applying"))
                            .with_secondary(&apath, high.0, high.1)
                            .with_note("EU AI Act Art. 14: high-risk AI systems are overseen by people who can intervene before a decision takes effect")
                            .with_help(self.review_help(r)),
                    );
            }
            // C0002: the review of a high-risk action must not fall back to allow.
            if risk == "high"
                && r.verdict == Verdict::Review
                && let Some((Verdict::Allow, fspan)) = r.fallback
                && answer == Some(Answer::Sat)
            {
                self.diags.push(
                    Diagnostic::error(
                        "C0002",
                        &rpath,
                        fspan,
                        format!(
                            "the review of high-risk action `{}` falls back to allow",
                            action.name
                        ),
                    )
                    .with_label("when nobody decides in time, this allows without a human")
                    .with_secondary(&apath, high.0, high.1)
                    .with_note("EU AI Act Art. 14: a deadline passing is not human oversight")
                    .with_help("write `else deny`"),
                );
            }
            // C0005: consent for (subject, purpose, channel) on every path to allow.
            if consent_required {
                // By a map: a search of the list was quadratic in the policies of an action.
                let at = match in_policy_at.get(&r.policy) {
                    Some(&at) => at,
                    None => {
                        in_policies.push((
                            r.policy.clone(),
                            self.in_policy(&r.policy, action, &required),
                        ));
                        in_policy_at.insert(r.policy.clone(), in_policies.len() - 1);
                        in_policies.len() - 1
                    }
                };
                let written = &in_policies[at].1;
                // With too many places there is no fact to ask for: any way through is one
                // without consent the checker has verified (`reach` may already say).
                let consent_reached = match (reach, required.too_many) {
                    (Some(known), true) => ConsentReached::Reach(known),
                    (None, true) => {
                        ConsentReached::Reach(guard.ask(std::slice::from_ref(cond), reachable))
                    }
                    (_, false) => {
                        let consent = Formula::and(
                            written
                                .facts
                                .iter()
                                .map(|f| self.formula(f))
                                .collect::<Vec<_>>(),
                        );
                        let without = Formula::negate(consent);
                        let whole = || Formula::and([reachable(), without.clone()]);
                        let reached = guard.ask(&[cond.clone(), without.clone()], whole);
                        ConsentReached::Without(reached, without)
                    }
                };
                match consent_reached.answer() {
                    Answer::Sat => {
                        let w = match &consent_reached {
                            ConsentReached::Reach(reached) => reached.example(reachable),
                            ConsentReached::Without(reached, without) => {
                                reached.example(|| Formula::and([reachable(), without.clone()]))
                            }
                        };
                        let example = self.example(&w);
                        // Qualified where another declaration has the name too: the headline
                        // and the label tell which purpose, as the example and the help do.
                        let purpose = facts
                            .purpose
                            .as_ref()
                            .map_or("?".to_string(), |p| self.purpose_shown(p));
                        let how = if r.verdict == Verdict::Review {
                            "can be approved"
                        } else {
                            "allows"
                        };
                        let on = if required.too_many {
                            format!(
                                "more than {MAX_CHANNEL_PLACES} places with a channel ({} and others)",
                                places
                                    .places
                                    .iter()
                                    .map(|p| format!("`{}`", p.written()))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        } else {
                            quoted(places.places.iter().map(ChannelPlace::written))
                        };
                        let help = match (&written.guard, &written.help) {
                            (Some(guard), None) => format!(
                                "add `deny \"no-consent\" unless {guard}` to a policy that guards `{}` (the names are those the policy binds to the action's parameters)",
                                action.name
                            ),
                            (_, Some(help)) => help.clone(),
                            (None, None) => too_many_places(&action.name),
                        };
                        let mut d = Diagnostic::error("C0005", &rpath, r.span, format!("`{}` can reach a person without consent for `{purpose}` on the channel used", action.name))
                            .with_label(format!("{how} {example}"))
                            .with_secondary(&apath, action.span, format!("`{}` has purpose `{purpose}` and reaches {} on {on}", action.name, quoted(subject_name(&subject))))
                            .with_note("GDPR Art. 6(1)(a) and 7, ePrivacy Art. 13: contacting a person for a purpose on a channel needs their consent for that purpose and channel")
                            .with_help(help);
                        if let Some(g) = &required.guard {
                            d = d.with_fix(FixData::ConsentGuard(g.clone()));
                        }
                        self.diags.push(d);
                    }
                    Answer::TooLarge if !undecided => {
                        let guard = written.guard.clone();
                        self.undecided(&rpath, r, action, Undecided::Consent(guard))
                    }
                    Answer::TooLarge | Answer::Unsat => {}
                }
            }
            // Warnings on the rule itself.
            let never = self.never_applies(r, cond);
            if !never
                && r.verdict == Verdict::Allow
                && answer == Some(Answer::Unsat)
                && risk != "high"
            {
                self.diags.push(
                    Diagnostic::warning(
                        "C0102",
                        &rpath,
                        r.span,
                        format!("this allow never takes effect for `{}`", action.name),
                    )
                    .with_label("whenever it applies, a deny or review applies too")
                    .with_help("remove it, or narrow the rules that shadow it"),
                );
            }
        }
        self.contradictions(action, rules, &formulas);
        self.heuristics(action, &facts, rules, &subject, !places.is_empty());
    }

    /// The help of C0001: the allow `r` rewritten as a review that keeps its reason (and its
    /// condition), by a role the project declares: the one there is, or any of those named;
    /// with none, the role to declare first. So the review written checks as it is (no
    /// `ROLE` to replace, no reason to invent).
    fn review_help(&self, r: &GuardRule) -> String {
        let reason = r
            .reason
            .clone()
            .unwrap_or_else(|| "human-review".to_string());
        let condition = item_ast(self.db, r.policy.file, r.policy.index)
            .as_deref()
            .and_then(|item| match &item.kind {
                ItemKind::Policy(p) => match p.rules.get(r.index) {
                    Some(ast::Rule::Rule {
                        condition: Some(c), ..
                    }) => {
                        let expr = shown_expr(r.policy.file.text(self.db), &c.expr);
                        let keyword = if c.negated { "unless" } else { "when" };
                        Some(format!(" {keyword} {expr}"))
                    }
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or_default();
        // The roles the policy's reviews already name come first: the desk that reviews the
        // action's other cases is the likeliest to review this one.
        let reviewing: Vec<String> = item_ast(self.db, r.policy.file, r.policy.index)
            .as_deref()
            .map(|item| match &item.kind {
                ItemKind::Policy(p) => p
                    .rules
                    .iter()
                    .filter_map(|x| match x {
                        ast::Rule::Rule {
                            kind: RuleKind::Review { role, .. },
                            ..
                        } => Some(role.name.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .unwrap_or_default();
        let scope = resolve::file_scope(self.db, self.project, r.policy.file);
        let mut roles: Vec<(Def, bool)> = all_defs(self.db, self.project, DefKind::Role)
            .into_iter()
            .filter(|d| !*d.file.is_stdlib(self.db))
            .map(|d| {
                let in_scope =
                    matches!(scope.lookup(self.db, &d.name), Lookup::Found(e) if e.def == d);
                (d, in_scope)
            })
            .collect();
        let rank = |(d, in_scope): &(Def, bool)| {
            (
                !(*in_scope && reviewing.iter().any(|n| **n == *d.name)),
                !*in_scope,
                d.name.clone(),
            )
        };
        roles.sort_by_key(rank);
        let review = |role: &str| {
            format!("`review \"{reason}\" by role {role} within 24h else deny{condition}`")
        };
        let import = |d: &Def| {
            format!(
                " (with `use {}.{}` in its file)",
                resolve::module_name(self.db, d.file),
                d.name
            )
        };
        match &roles[..] {
            [] => format!(
                "make it a review, {}, with the role of the people who decide declared (`role reviewer`), or deny whenever this rule applies",
                review("reviewer")
            ),
            [(d, in_scope)] => format!(
                "make it a review: {}{}, or deny whenever this rule applies",
                review(&d.name),
                if *in_scope { String::new() } else { import(d) }
            ),
            [(first, in_scope), ..] => format!(
                "make it a review: {}{}, or by another of the roles declared ({}), or deny whenever this rule applies",
                review(&first.name),
                if *in_scope {
                    String::new()
                } else {
                    import(first)
                },
                quoted(roles.iter().skip(1).map(|(d, _)| &*d.name))
            ),
        }
    }

    /// C0101: whether the rule's condition can never be true (reported if so).
    fn never_applies(&mut self, r: &GuardRule, cond: &Formula) -> bool {
        // A condition that mentions each fact once is satisfiable unless it is `false`.
        let never = *cond == Formula::False
            || (!cond.atoms_are_distinct() && satisfiable(cond) == Sat::Unsat);
        if never {
            let rpath = self.path(&r.policy);
            self.diags.push(
                Diagnostic::warning("C0101", &rpath, r.span, "this rule can never apply")
                    .with_label("its condition is always false")
                    .with_help("remove the rule, or fix its condition"),
            );
        }
        never
    }

    fn undecided(&mut self, path: &Arc<str>, r: &GuardRule, action: &Def, what: Undecided) {
        let (whether, help) = match what {
            Undecided::Prohibited => (
                format!("it lets prohibited action `{}` through", action.name),
                MEMBERSHIP_HELP.to_string(),
            ),
            Undecided::Oversight => (
                format!(
                    "it allows high-risk action `{}` without human review",
                    action.name
                ),
                MEMBERSHIP_HELP.to_string(),
            ),
            Undecided::Fallback => (
                "its fallback to allow can take effect".to_string(),
                MEMBERSHIP_HELP.to_string(),
            ),
            // The guard as a deny rule of its own would have decided the question (propagation
            // fixes its facts before the atoms are counted): no such rule guards the action.
            Undecided::Consent(Some(guard)) => (
                format!("`{}` can reach a person without consent", action.name),
                format!(
                    "add `deny \"no-consent\" unless {guard}` as a rule of its own: it decides the question whatever the other facts; or {MEMBERSHIP_HELP}"
                ),
            ),
            // No guard can decide it: the action must change before consent can be proved.
            Undecided::Consent(None) => (
                format!("`{}` can reach a person without consent", action.name),
                format!("{}; and {MEMBERSHIP_HELP}", too_many_places(&action.name)),
            ),
        };
        self.diags.push(
            Diagnostic::error(
                "C0010",
                path,
                r.span,
                format!(
                    "the checker cannot decide whether this rule respects the properties of `{}`",
                    action.name
                ),
            )
            .with_label(format!(
                "more than {} distinct facts decide whether {whether}",
                crate::logic::MAX_ATOMS
            ))
            .with_help(help),
        );
    }

    /// The guard `required` asks for, in the names `policy` binds the action's parameters to
    /// (`consent(c, marketing, ch)` for `consent(to, marketing, channel)`; a parameter it does
    /// not bind gets the name its header would bind it to), as [`write_guard`] writes it for
    /// the language server's quick fix too, and what else `policy` (of `action`'s guards) needs
    /// for the guard to check there (the binding, the `use` lines, a renamed binding; or a
    /// policy of the action's own when a purpose's policy cannot bind it), so that the help is
    /// code it can take as written.
    fn in_policy(&self, policy: &Def, action: &Def, required: &Required) -> Written {
        let Some(guard) = &required.guard else {
            return Written {
                facts: Vec::new(),
                guard: None,
                help: None,
            };
        };
        let item = item_ast(self.db, policy.file, policy.index);
        let Some(ast::Item {
            kind: ItemKind::Policy(p),
            ..
        }) = item.as_deref()
        else {
            // The rules asked about come from this very item, so it is a policy; were it not,
            // no fact is taken to establish consent, and the help says what to write.
            return Written {
                facts: vec![CanonCondition::False],
                guard: None,
                help: Some(format!(
                    "add to a policy that guards `{}` a rule `deny \"no-consent\" unless consent(…)` asking for consent for its purpose on each channel it holds",
                    action.name
                )),
            };
        };
        let written = write_guard(self.db, self.project, policy.file, p, guard);
        let params = guard.params();
        let asked: Vec<&str> = params.iter().map(|n| &**n).collect();
        let place = self.placement(policy, &asked, false);
        // The policy's name for each parameter the guard reads, as the guard is written: with
        // the renamed bindings' new names.
        let local = |name: &str| {
            let l = written.local(name);
            match written.renamed.iter().find(|(old, _)| *old == l) {
                Some((_, new)) => new.clone(),
                None => l,
            }
        };
        // What else the policy needs for the guard to check as written there.
        let mut needs = Vec::new();
        let mut own_policy = None;
        if let Some(place) = &place
            && let Some(header) = &place.header
        {
            if !self.purpose_can_bind(p, policy, &place.bound) {
                // A purpose's policy binds only what every action of the purpose has: the
                // guard goes in a policy of the action's own.
                // In the order the action declares its parameters.
                let order =
                    match resolve::signature(self.db, self.project, action.file, action.index) {
                        Signature::Action { params: ps, .. } => {
                            ps.iter().map(|x| x.name.clone()).collect::<Vec<_>>()
                        }
                        _ => Vec::new(),
                    };
                let mut in_order: Vec<&Arc<str>> = params.iter().collect();
                in_order.sort_by_key(|n| order.iter().position(|x| x == *n));
                let bindings: Vec<String> = in_order
                    .iter()
                    .map(|n| {
                        let l = local(n);
                        if *l == ***n { l } else { format!("{n}: {l}") }
                    })
                    .collect();
                own_policy = Some(format!(
                    "policy {} for {}({})",
                    self.fresh_policy_name(policy.file, &action.name),
                    action.name,
                    bindings.join(", ")
                ));
            } else {
                needs.push(format!(
                    "its header written `{header}` ({})",
                    Self::header_change(place)
                ));
            }
        }
        for (old, new) in &written.renamed {
            let what = match p.bindings.iter().find(|b| b.var.name == *old) {
                Some(b) => format!(
                    "its binding `{}: {old}` written `{}: {new}`",
                    b.param.name, b.param.name
                ),
                None => format!("its `at {old}` written `at {new}`"),
            };
            needs.push(format!(
                "{what} (and read as `{new}` in its rules): there `{old}` names the binding, not the declaration `{old}` of the file"
            ));
        }
        if !written.imports.is_empty() {
            needs.push(format!("{} in its file", quoted(&written.imports)));
        }
        let rule = format!("deny \"no-consent\" unless {}", written.condition);
        let help = match own_policy {
            Some(header) => Some(format!(
                "add to the file of policy `{}` a policy of `{}`'s own, which can bind {}: `{header} {{ {rule} }}`{}",
                policy.name,
                action.name,
                quoted(place.iter().flat_map(|pl| pl.bound.iter())),
                if needs.is_empty() {
                    String::new()
                } else {
                    format!(", with {}", needs.join(" and "))
                }
            )),
            None if !needs.is_empty() => {
                let policy_name = place
                    .as_ref()
                    .map_or(&*policy.name, |pl| pl.policy.as_str());
                Some(format!(
                    "add `{rule}` to policy `{policy_name}`, with {}",
                    needs.join(" and ")
                ))
            }
            None => None,
        };
        // The facts as messages show them: by the names the policy reads them by, or
        // qualified where those are aliases it does not have yet.
        let as_bound = |name: &str| written.local(name);
        let shown = GuardNames {
            consent: &written.consent.shown,
            purpose: &written.purpose.shown,
            param: &as_bound,
            vars: &written.vars,
        };
        // Qualified where another declaration has the same name ([`shared_names`]).
        let consent_q = self.qualified_if_shared(
            &written.consent,
            self.std_def("std.consent", "consent").as_ref(),
        );
        let purpose_q = self.qualified_if_shared(&written.purpose, Some(&guard.purpose));
        let qualified = GuardNames {
            consent: &consent_q,
            purpose: &purpose_q,
            param: &as_bound,
            vars: &written.vars,
        };
        let key = guard.purpose.qualified(self.db);
        Written {
            facts: guard
                .facts
                .iter()
                .map(|f| f.condition(&key, &shown, &qualified))
                .collect(),
            guard: Some(written.condition.clone()),
            help,
        }
    }

    /// How a message names `def`, shown as `named` where the policy writes it: by its
    /// qualified name when another declaration of the project has the same name
    /// ([`shared_names`]), so that the reader can tell which one it is; else as shown.
    fn qualified_if_shared(&self, named: &Named, def: Option<&Def>) -> String {
        match def {
            Some(def) if shared_names(self.db, self.project).contains(&*def.name) => {
                def.qualified(self.db)
            }
            _ => named.shown.clone(),
        }
    }

    /// A purpose as C0005's headline names it: by its own name, or by its qualified name when
    /// another declaration of the project has the same name, as the help's example names it
    /// ([`Cx::qualified_if_shared`]): "without consent for `std.consent.marketing`" where a
    /// module declares its own `marketing` too.
    fn purpose_shown(&self, purpose: &Def) -> String {
        let own = Named {
            written: purpose.name.to_string(),
            shown: purpose.name.to_string(),
        };
        self.qualified_if_shared(&own, Some(purpose))
    }

    /// Whether purpose policy `p` (or a policy for an action) can bind `params` too: a
    /// purpose's policy binds only parameters every action it guards has, with one type.
    fn purpose_can_bind(&self, p: &ast::Policy, policy: &Def, params: &[String]) -> bool {
        let Target::Purpose(name) = &p.target else {
            return true;
        };
        let Lookup::Found(e) =
            resolve::file_scope(self.db, self.project, policy.file).lookup(self.db, &name.name)
        else {
            return false;
        };
        let actions = crate::check::purpose_actions(self.db, self.project, &e.def, &p.bindings);
        params.iter().all(|param| {
            let types: Vec<Option<Ty>> = actions
                .iter()
                .map(
                    |a| match resolve::signature(self.db, self.project, a.file, a.index) {
                        Signature::Action { params, .. } => params
                            .iter()
                            .find(|x| *x.name == **param)
                            .map(|x| x.ty.clone()),
                        _ => None,
                    },
                )
                .collect();
            types.iter().all(Option::is_some) && types.windows(2).all(|w| w[0] == w[1])
        })
    }

    /// A name for a new policy of `action` in `file`: `ACTION_consent`, numbered if taken.
    fn fresh_policy_name(&self, file: SourceFile, action: &str) -> String {
        let scope = resolve::file_scope(self.db, self.project, file);
        resolve::fresh_name(&format!("{action}_consent"), |n| {
            matches!(scope.lookup(self.db, n), Lookup::Missing)
        })
    }

    /// The consent guard the action needs, one fact per place it holds a channel, if it has a
    /// purpose: every channel it may use needs consent (an action with a second channel
    /// parameter could reach the person on it). An action whose `person` the checker cannot
    /// tell needs none here: C0012 rejects it instead.
    fn consent_atoms(
        &mut self,
        action: &Def,
        facts: &ActionFacts,
        subject: &Subject<'_>,
        person: Option<(&resolve::TypedParam, Vec<Step>)>,
        places: &ChannelPlaces<'_>,
    ) -> Required {
        let none = Required {
            guard: None,
            too_many: false,
        };
        let Some(purpose) = facts.purpose.as_ref() else {
            return none;
        };
        if places.is_empty() {
            return none;
        }
        let Some((person, steps)) = person else {
            self.unknown_recipient(action, facts, subject, places);
            return none;
        };
        if places.more {
            // Too many places to ask a fact of each: C0005 rejects the action rather than
            // leave some of its channels unchecked, with no guard to write.
            return Required {
                guard: None,
                too_many: true,
            };
        }
        let guard = ConsentGuard {
            purpose: purpose.clone(),
            facts: places
                .places
                .iter()
                .map(|place| {
                    let mut segs: Vec<Seg<'_>> = steps.iter().map(Seg::Step).collect();
                    segs.push(Seg::Channel(&place.param.name));
                    segs.extend(place.steps.iter().map(Seg::Step));
                    let at = GuardPlace {
                        root: PlaceRoot::Param(person.name.clone()),
                        fields: Vec::new(),
                    };
                    required_fact(&segs, 0, at, None, &mut Vec::new())
                })
                .collect(),
        };
        Required {
            guard: Some(Arc::new(guard)),
            too_many: false,
        }
    }

    /// C0012: an action that needs consent (it holds a channel) without a person the checker
    /// can tell: no parameter `to` and several parameters holding records, none, or a `to` that
    /// is not a record.
    fn unknown_recipient(
        &mut self,
        action: &Def,
        facts: &ActionFacts,
        subject: &Subject<'_>,
        places: &ChannelPlaces<'_>,
    ) {
        let apath = self.path(action);
        let channels = quoted(places.places.iter().map(ChannelPlace::written));
        let (label, help) = match subject {
            Subject::Ambiguous(ps) => (
                format!(
                    "no parameter `to`, and {} hold records: which one is the person reached on {channels}?",
                    quoted(ps.iter().map(|p| &*p.name))
                ),
                format!(
                    "rename the parameter that holds the person `{}` reaches (one of {}) to `to`, so that consent is required of that person",
                    action.name,
                    quoted(ps.iter().map(|p| &*p.name))
                ),
            ),
            Subject::Nobody => (
                format!("no parameter holds the person reached on {channels}"),
                "add the person the action reaches as a parameter `to` of a record type with `consents: List<Consent>`".to_string(),
            ),
            // A record, but no person's: `consent` reads `consents`, which it does not have.
            Subject::Param(p) if holds_record(&p.ty) => {
                let record = record_in(&p.ty).map_or_else(|| p.ty.to_string(), |d| d.name.to_string());
                let no_person = format!("`{}: {}` is no person: `{record}` has no field `consents: List<Consent>`, which `consent` reads", p.name, p.ty);
                let person = "a record with `consents: List<Consent>` from std.consent, or an optional, list or set of them";
                if &*p.name == "to" {
                    (
                        no_person,
                        format!("give `to` the type of the person `{}` reaches ({person}), and pass the channels `{record}` holds in parameters of their own", action.name),
                    )
                } else {
                    (
                        format!("no parameter `to`, and the only one holding a record, {no_person}"),
                        format!("add the person `{}` reaches as a parameter `to` ({person}): consent is then required of them on the channels of `{}`", action.name, p.name),
                    )
                }
            }
            Subject::Param(p) => (
                format!(
                    "`{}` has type `{}`, not a record holding the person's consents",
                    p.name, p.ty
                ),
                "give `to` the person's record type (with `consents: List<Consent>`), or a list or set of them".to_string(),
            ),
        };
        let mut d = Diagnostic::error(
            "C0012",
            &apath,
            action.span,
            format!(
                "the checker cannot tell whom `{}` reaches, so it cannot require their consent",
                action.name
            ),
        )
        .with_label(label);
        let shown: Vec<&resolve::TypedParam> = match subject {
            Subject::Ambiguous(ps) => ps.clone(),
            Subject::Param(p) => vec![p],
            Subject::Nobody => Vec::new(),
        };
        for p in shown {
            d = d.with_secondary(&apath, p.span, format!("`{}: {}`", p.name, p.ty));
        }
        let purpose = facts.purpose.as_ref().map_or("?", |p| &*p.name);
        self.diags.push(
            d.with_note(format!("GDPR Art. 6(1)(a) and 7, ePrivacy Art. 13: contacting a person for `{purpose}` on a channel needs that person's consent; C0005 proves it once it knows who the person is"))
                .with_help(help),
        );
    }

    /// The steps from a person parameter to each person it holds: none for a person's record
    /// (optional or not), each element for a list or set of them; `None` when it holds no
    /// record `consent` can be asked of (`to: Id`, or a record without the person's consents).
    fn person_steps(&self, ty: &Ty) -> Option<Vec<Step>> {
        match ty {
            Ty::Record(def) if self.is_person(def) => Some(Vec::new()),
            Ty::Optional(t) => {
                let mut steps = self.person_steps(t)?;
                steps.insert(0, Step::Opt);
                Some(steps)
            }
            Ty::List(t) | Ty::Set(t) => {
                let mut steps = self.person_steps(t)?;
                steps.insert(0, Step::Each);
                Some(steps)
            }
            _ => None,
        }
    }

    /// Whether `consent` can be asked of a value of record type `def`: whether it may be the
    /// first argument of `std.consent.consent`, by the type checker's own rule
    /// ([`crate::types::compatible`]; today a field `consents: List<std.consent.Consent>`).
    /// Without the standard library's `consent`, nothing is a person (C0012, not a guess).
    fn is_person(&self, def: &Def) -> bool {
        let Some(&file) = resolve::module_index(self.db, self.project)
            .by_name
            .get("std.consent")
        else {
            return false;
        };
        let Some(consent) = resolve::item_table(self.db, file).by_name.get("consent") else {
            return false;
        };
        let Signature::Callable { params, .. } =
            resolve::signature(self.db, self.project, consent.file, consent.index)
        else {
            return false;
        };
        params.first().is_some_and(|subject| {
            crate::types::compatible(self.db, self.project, &Ty::Record(def.clone()), &subject.ty)
        })
    }

    /// Where the action's parameters hold a channel: a `Channel` parameter, optional or in a
    /// list or set, and a channel inside a record parameter, at any depth, through optionals,
    /// lists and sets. Not among them: the fields of the `person`'s own record (a parameter
    /// [`Cx::person_steps`] accepts), which describe the person (`to.preferred`) and come with
    /// every action about them, whether it contacts them or not (another record's, even another
    /// person's, are the action's); and the channels of consent and contact records
    /// (`std.consent.Consent`, `std.contact.Contact`), which record what a person agreed to and
    /// how they were reached.
    fn channel_places<'p>(
        &self,
        params: &'p [resolve::TypedParam],
        person: Option<&resolve::TypedParam>,
    ) -> ChannelPlaces<'p> {
        let mut out = ChannelPlaces {
            places: Vec::new(),
            more: false,
        };
        let mut memo = FxHashMap::default();
        for param in params {
            // Only the person's own record: another person's (a referrer's) channels may be
            // the ones the action uses, for all the checker knows.
            if person.is_some_and(|p| std::ptr::eq(p, param)) {
                continue;
            }
            let mut found = Vec::new();
            let mut steps = Vec::new();
            let mut open = Vec::new();
            self.channels_in(&param.ty, &mut steps, &mut found, &mut memo, &mut open);
            for steps in found {
                if out.places.len() == MAX_CHANNEL_PLACES {
                    out.more = true;
                    return out;
                }
                out.places.push(ChannelPlace { param, steps });
            }
        }
        out
    }

    /// The paths to the channels a value of type `ty` holds, each `steps` followed by its own.
    /// Only records that hold a channel are entered, so a large record costs nothing; `open`
    /// are the records being walked (a record cannot hold itself, E0217, but a project with
    /// errors is checked too). Stops once there are more than [`MAX_CHANNEL_PLACES`].
    fn channels_in(
        &self,
        ty: &Ty,
        steps: &mut Vec<Step>,
        out: &mut Vec<Vec<Step>>,
        memo: &mut FxHashMap<(SourceFile, u32), bool>,
        open: &mut Vec<(SourceFile, u32)>,
    ) {
        if out.len() > MAX_CHANNEL_PLACES {
            return;
        }
        match ty {
            Ty::Channel => out.push(steps.clone()),
            Ty::Optional(t) | Ty::List(t) | Ty::Set(t) => {
                steps.push(if matches!(ty, Ty::Optional(_)) {
                    Step::Opt
                } else {
                    Step::Each
                });
                self.channels_in(t, steps, out, memo, open);
                steps.pop();
            }
            Ty::Record(def) => {
                let at = (def.file, def.index);
                if open.contains(&at) || !self.holds_channel(ty, memo, open) {
                    return;
                }
                let Signature::Record(fields) =
                    resolve::signature(self.db, self.project, def.file, def.index)
                else {
                    return;
                };
                open.push(at);
                for f in fields {
                    steps.push(Step::Field(f.name.clone()));
                    self.channels_in(&f.ty, steps, out, memo, open);
                    steps.pop();
                }
                open.pop();
            }
            _ => {}
        }
    }

    /// Whether a value of type `ty` holds a channel (see [`Cx::channel_places`]), by record,
    /// remembered in `memo`.
    fn holds_channel(
        &self,
        ty: &Ty,
        memo: &mut FxHashMap<(SourceFile, u32), bool>,
        open: &mut Vec<(SourceFile, u32)>,
    ) -> bool {
        match ty {
            Ty::Channel => true,
            Ty::Optional(t) | Ty::List(t) | Ty::Set(t) => self.holds_channel(t, memo, open),
            Ty::Record(def) => {
                let at = (def.file, def.index);
                if let Some(&known) = memo.get(&at) {
                    return known;
                }
                if open.contains(&at) {
                    return false;
                }
                let evidence = matches!(
                    def.qualified(self.db).as_str(),
                    "std.consent.Consent" | "std.contact.Contact"
                );
                let Signature::Record(fields) =
                    resolve::signature(self.db, self.project, def.file, def.index)
                else {
                    return false;
                };
                open.push(at);
                let holds =
                    !evidence && fields.iter().any(|f| self.holds_channel(&f.ty, memo, open));
                open.pop();
                memo.insert(at, holds);
                holds
            }
            _ => false,
        }
    }

    /// C0103: an allow and a deny with the same condition.
    fn contradictions(&mut self, action: &Def, rules: &[Arc<GuardRule>], formulas: &[Formula]) {
        let with = || rules.iter().zip(formulas);
        // Equivalent conditions over different facts are tautologies in disguise: only a deny
        // over the very facts of an allow is compared with it. The denies by fact set, in
        // order, so that each allow meets just those (every pair was quadratic in the rules).
        // (An allow without a condition contradicts nothing: it is not reported, whatever it
        // meets, so none is compared.)
        let mut allows = with()
            .filter(|(r, _)| r.verdict == Verdict::Allow && r.condition != CanonCondition::True)
            .peekable();
        if allows.peek().is_none() {
            return;
        }
        let mut denies: FxHashMap<Vec<u32>, Vec<(&Arc<GuardRule>, &Formula)>> =
            FxHashMap::default();
        for (d, fd) in with().filter(|(r, _)| r.verdict == Verdict::Deny) {
            denies.entry(fd.atom_set()).or_default().push((d, fd));
        }
        for (a, fa) in allows {
            let Some(same) = denies.get(&fa.atom_set()) else {
                continue;
            };
            for &(d, fd) in same {
                let (fa, fd) = (fa.clone(), fd.clone());
                let differ = Formula::or([
                    Formula::and([fa.clone(), Formula::negate(fd.clone())]),
                    Formula::and([fd, Formula::negate(fa)]),
                ]);
                if satisfiable(&differ) == Sat::Unsat && a.condition != CanonCondition::True {
                    let apath = self.path(&a.policy);
                    let dpath = self.path(&d.policy);
                    self.diags.push(
                        Diagnostic::warning(
                            "C0103",
                            &apath,
                            a.span,
                            format!("this allow contradicts a deny of `{}`", action.name),
                        )
                        .with_label("allows exactly when a deny denies")
                        .with_secondary(&dpath, d.span, "the deny with the same condition")
                        .with_help("decide which is meant and remove the other"),
                    );
                }
            }
        }
    }

    /// C0105 (frequency cap) and C0106 (quiet hours): advisory, by what the rules call.
    /// `has_channel`: whether the action holds a channel ([`Cx::channel_places`]).
    fn heuristics(
        &mut self,
        action: &Def,
        facts: &ActionFacts,
        rules: &[Arc<GuardRule>],
        subject: &Subject<'_>,
        has_channel: bool,
    ) {
        let path = self.path(action);
        let denies: Vec<&Arc<GuardRule>> = rules
            .iter()
            .filter(|r| r.verdict == Verdict::Deny)
            .collect();
        let marketing = facts
            .purpose
            .as_ref()
            .is_some_and(|p| &*p.name == "marketing");
        if marketing && !rules.is_empty() {
            let capped = denies.iter().any(|r| {
                r.calls.iter().any(|c| {
                    matches!(
                        &**c,
                        "std.contact.contacts_within" | "std.contact.contacts_on_within"
                    )
                }) || r.reason.as_deref().is_some_and(|x| {
                    x.split(['-', '_', ' '])
                        .any(|w| matches!(w, "frequency" | "cap" | "capped"))
                })
            });
            if !capped {
                self.diags.push(
                    Diagnostic::warning(
                        "C0105",
                        &path,
                        action.span,
                        format!("marketing action `{}` has no frequency cap", action.name),
                    )
                    .with_label("no deny rule limits how often it reaches a person")
                    .with_help(self.heuristic_help(
                        rules,
                        subject,
                        Heuristic::FrequencyCap,
                    )),
                );
            }
        }
        if has_channel && !rules.is_empty() && self.phone_channels_exist() {
            let quiet = denies.iter().any(|r| {
                r.calls
                    .iter()
                    .any(|c| &**c == "std.time.local_hour" || &**c == "std.contact.in_quiet_hours")
                    || r.reason.as_deref().is_some_and(|x| x.contains("quiet"))
            });
            if !quiet {
                self.diags.push(
                    Diagnostic::warning(
                        "C0106",
                        &path,
                        action.span,
                        format!("`{}` can reach a person's phone at any hour", action.name),
                    )
                    .with_label("no quiet-hours rule guards it")
                    .with_help(self.heuristic_help(
                        rules,
                        subject,
                        Heuristic::QuietHours,
                    )),
                );
            }
        }
    }

    /// The help of C0105 or C0106: the rule to add, written in the names the first policy
    /// guarding the action binds (the person, the decision time), with what else it needs to
    /// check as written there (the header binding them, the import of the function it calls,
    /// the field it reads), so that it is code that can be pasted where it says. When the
    /// person is not one record the rule can read, the help says what to write in words.
    fn heuristic_help(
        &self,
        rules: &[Arc<GuardRule>],
        subject: &Subject<'_>,
        which: Heuristic,
    ) -> String {
        let (module, function, field, field_ty) = match which {
            Heuristic::FrequencyCap => (
                "std.contact",
                "contacts_within",
                "contacts",
                "List<Contact>",
            ),
            Heuristic::QuietHours => ("std.time", "local_hour", "tz", "Tz"),
        };
        let general = match which {
            Heuristic::FrequencyCap => {
                "add a deny rule that counts the person's past contacts, e.g. `contacts_within(PERSON, 7d) >= 3` (std.contact), where `PERSON` is a record with a field `contacts: List<Contact>`"
            }
            Heuristic::QuietHours => {
                "add a deny rule on the hour at the person, e.g. `unless local_hour(now, PERSON.tz) in 8..21` (std.time, with `at now` on the policy), where `PERSON` is a record with a field `tz: Tz`"
            }
        };
        let (Subject::Param(person), Some(first)) = (subject, rules.first()) else {
            return general.to_string();
        };
        let (Ty::Record(record), Some(place)) = (
            &person.ty,
            self.placement(
                &first.policy,
                &[&*person.name],
                which == Heuristic::QuietHours,
            ),
        ) else {
            return general.to_string();
        };
        let person_local = place.locals.first().map_or("", String::as_str);
        // The function by a name no other declaration of the file takes ([`import_name`]):
        // imported under an alias when its own is taken. A callee is never a local, so the
        // policy's bindings take no name here.
        let (import, called) = self
            .std_def(module, function)
            .and_then(|def| import_name(self.db, self.project, first.policy.file, &def, &[]))
            .unwrap_or_else(|| {
                (
                    Some(format!("use {module}.{function}")),
                    function.to_string(),
                )
            });
        let rule = match which {
            Heuristic::FrequencyCap => {
                format!("deny \"frequency-cap\" when {called}({person_local}, 7d) >= 3")
            }
            Heuristic::QuietHours => format!(
                "deny \"quiet-hours\" unless {called}({}, {person_local}.tz) in 8..21",
                place.time
            ),
        };
        let mut help = format!("add e.g. `{rule}` to policy `{}`", place.policy);
        if let Some(header) = &place.header {
            help.push_str(&format!(
                ", with its header written `{header}` ({})",
                Self::header_change(&place)
            ));
        }
        if let Some(import) = import {
            help.push_str(&format!(" and `{import}` in its file"));
        }
        let has_field = match resolve::signature(self.db, self.project, record.file, record.index) {
            Signature::Record(fields) => fields.iter().any(|f| {
                &*f.name == field
                    && match which {
                        Heuristic::FrequencyCap => matches!(&f.ty, Ty::List(_)),
                        Heuristic::QuietHours => f.ty == Ty::Tz,
                    }
            }),
            _ => true,
        };
        if !has_field {
            // `Contact` by a name the record's file can give it, as the function above.
            let (import, field_ty) = match which {
                Heuristic::FrequencyCap => self
                    .std_def("std.contact", "Contact")
                    .and_then(|def| import_name(self.db, self.project, record.file, &def, &[]))
                    .map_or((None, field_ty.to_string()), |(import, name)| {
                        (import, format!("List<{name}>"))
                    }),
                Heuristic::QuietHours => (None, field_ty.to_string()),
            };
            help.push_str(&format!(
                "; record `{}` needs a field `{field}: {field_ty}`",
                record.name
            ));
            if let Some(import) = import {
                help.push_str(&format!(" (with `{import}` in its file)"));
            }
        }
        help
    }

    /// The declaration `name` of the standard library's module `module`, if there is one.
    fn std_def(&self, module: &str, name: &str) -> Option<Def> {
        std_def(self.db, self.project, module, name)
    }

    /// Where a rule C0005, C0105 or C0106 suggests is written: in `policy`, reading the
    /// action's parameters `params` (the person, the channels) and, if `time`, the decision
    /// time under the names it binds them to, or under new ones (taken by nothing the policy
    /// can see) its header would bind.
    fn placement(&self, policy: &Def, params: &[&str], time: bool) -> Option<Placement> {
        let item = item_ast(self.db, policy.file, policy.index);
        let ItemKind::Policy(p) = &item.as_deref()?.kind else {
            return None;
        };
        let scope = resolve::file_scope(self.db, self.project, policy.file);
        let mut taken: Vec<String> = p.bindings.iter().map(|b| b.var.name.clone()).collect();
        taken.extend(p.at.iter().map(|a| a.name.clone()));
        let fresh = |base: &str, taken: &[String]| -> String {
            let free = |n: &str| !taken.iter().any(|t| t == n) && scope.name_free(self.db, n);
            resolve::fresh_name(base, free)
        };
        // As [`write_guard`] binds them, so that the header binds what the guard reads.
        let (locals, bound) = bind_params(self.db, scope, p, params, &mut taken);
        let (at, binds_time) = match (&p.at, time) {
            (Some(a), _) => (a.name.clone(), false),
            (None, true) => (fresh("now", &taken), true),
            (None, false) => (String::new(), false),
        };
        let added = bound.join(", ");
        let header = (!bound.is_empty() || binds_time).then(|| {
            p.header_with(
                (!bound.is_empty()).then_some(added.as_str()),
                binds_time.then_some(at.as_str()),
            )
        });
        Some(Placement {
            policy: p.name.name.clone(),
            locals,
            time: at,
            header,
            bound: params
                .iter()
                .filter(|n| !p.bindings.iter().any(|b| b.param.name == **n))
                .map(|n| n.to_string())
                .collect(),
            binds_time,
        })
    }

    /// What the header of `place` must bind, in words: "binding `to` and `at now` added".
    fn header_change(place: &Placement) -> String {
        let mut what = Vec::new();
        if !place.bound.is_empty() {
            what.push(format!("binding {}", quoted(&place.bound)));
        }
        if place.binds_time {
            what.push(format!("`at {}` added", place.time));
        }
        what.join(" and ")
    }

    fn phone_channels_exist(&self) -> bool {
        all_defs(self.db, self.project, DefKind::Channel)
            .iter()
            .any(|c| {
                item_ast(self.db, c.file, c.index)
                    .as_ref()
                    .is_some_and(|i| i.annotations.iter().any(|a| a.name.name == "reaches_phone"))
            })
    }

    /// C0007: every rule has a reason code.
    fn reasons(&mut self, policy: &Def) {
        let Some(item) = item_ast(self.db, policy.file, policy.index) else {
            return;
        };
        let ItemKind::Policy(p) = &item.kind else {
            return;
        };
        let path = self.path(policy);
        for r in &p.rules {
            if let ast::Rule::Rule {
                kind, reason, span, ..
            } = r
            {
                // A reason without a word (empty, blanks, invisible characters, a lone combining
                // mark, punctuation) explains nothing either.
                if reason
                    .as_ref()
                    .is_some_and(|t| crate::check::says_something(&t.value))
                {
                    continue;
                }
                let verdict = match kind {
                    RuleKind::Deny => "deny",
                    RuleKind::Allow => "allow",
                    RuleKind::Review { .. } => "review",
                };
                self.diags.push(
                    Diagnostic::error("C0007", &path, *span, format!("this {verdict} rule has no reason code"))
                        .with_label(match reason {
                            Some(t) if crate::format::shows_nothing(&t.value) => "a reason that shows nothing",
                            Some(_) => "a reason without a letter or digit",
                            None => "no reason",
                        })
                        .with_note("EU AI Act Art. 13 and 86, GDPR Art. 22: a person affected by a decision is entitled to an explanation; the reason code is what the proof log and `xop explain` show")
                        .with_help(if reason.is_some() {
                            format!("write a reason in words after `{verdict}`: `{verdict} \"short-reason\" …` (a reason needs at least one letter or digit)")
                        } else {
                            format!("write a reason after `{verdict}`: `{verdict} \"short-reason\" …`")
                        }),
                );
            }
        }
    }

    /// C0008: a signal declares how old a value may be.
    fn staleness(&mut self, signal: &Def) {
        let Some(item) = item_ast(self.db, signal.file, signal.index) else {
            return;
        };
        let ItemKind::Signal(s) = &item.kind else {
            return;
        };
        if s.max_age.is_none() {
            let path = self.path(signal);
            self.diags.push(
                Diagnostic::error("C0008", &path, signal.span, format!("signal `{}` has no `max_age`", signal.name))
                    .with_label("staleness unbounded")
                    .with_note("a value read long ago is not evidence about now; with `max_age`, an older value counts as absent and the policy's absence handling applies")
                    .with_help("add `max_age 5m` (or the freshness the decision needs) after the source"),
            );
        }
    }

    /// C0009: every action bound to a tool is guarded by a policy; C0003 for prohibited ones.
    fn tools(&mut self, agent: &Def, guards: &BTreeMap<String, Vec<Arc<GuardRule>>>) {
        let Some(item) = item_ast(self.db, agent.file, agent.index) else {
            return;
        };
        let ItemKind::Agent(a) = &item.kind else {
            return;
        };
        let path = self.path(agent);
        for t in &a.tools {
            let Some(action) = resolve::resolve_path(self.db, self.project, agent.file, &t.action)
                .filter(|d| d.kind == DefKind::Action)
            else {
                continue;
            };
            if self.risk(&action).as_deref() == Some("prohibited") {
                self.prohibited_use(&path, t.action.span, &action, "bound to a tool");
                continue;
            }
            // An action whose guards failed may be guarded by what failed.
            if guards.get(&key(self.db, &action)).is_none_or(Vec::is_empty)
                && !action_failed(self.db, self.project, &action)
            {
                let apath = self.path(&action);
                self.diags.push(
                    Diagnostic::error("C0009", &path, t.span, format!("tool \"{}\" is bound to `{}`, which no policy guards", t.tool.value, action.name))
                        .with_label("every call would be denied, unexplained")
                        .with_secondary(&apath, action.span, "action declared here")
                        .with_note("an agent's tool calls are decided by the policies of the action they are bound to")
                        .with_help(format!("write `policy … for {}(…) {{ … }}`, or remove the binding", action.name)),
                );
            }
        }
    }

    fn risk(&self, action: &Def) -> Option<String> {
        match resolve::signature(self.db, self.project, action.file, action.index) {
            Signature::Action { risk, .. } => risk.as_deref().map(str::to_string),
            _ => None,
        }
    }

    fn prohibited_use(&mut self, path: &Arc<str>, span: Span, action: &Def, how: &str) {
        let apath = self.path(action);
        self.diags.push(
            Diagnostic::error(
                "C0003",
                path,
                span,
                format!("prohibited action `{}` is {how}", action.name),
            )
            .with_label("a prohibited practice")
            .with_secondary(&apath, action.span, "declared `risk prohibited` here")
            .with_note(
                "EU AI Act Art. 5: prohibited practices may not be placed on the market or used",
            )
            .with_help("remove it"),
        );
    }

    /// C0003 for proposals of prohibited actions in decisions and journeys.
    fn proposals(&mut self, def: &Def) {
        let Some(item) = item_ast(self.db, def.file, def.index) else {
            return;
        };
        let path = self.path(def);
        let calls: Vec<&ast::Call> = match &item.kind {
            ItemKind::Decision(d) => d.proposals.iter().map(|p| &p.call).collect(),
            ItemKind::Journey(j) => j
                .states
                .iter()
                .flat_map(|s| s.handlers.iter())
                .flat_map(|h| h.steps.iter())
                .filter_map(|s| match s {
                    ast::Step::Propose(c) => Some(c),
                    ast::Step::Goto(_) => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for call in calls {
            if let Some(action) =
                resolve::resolve_path(self.db, self.project, def.file, &call.callee)
                    .filter(|d| d.kind == DefKind::Action)
                && self.risk(&action).as_deref() == Some("prohibited")
            {
                self.prohibited_use(&path, call.callee.span, &action, "proposed");
            }
        }
    }

    /// C0006: a `@personal` field is read only by rules serving a purpose it lists.
    fn personal(&mut self, policy: &Def, actions: &[Def]) {
        let Some(item) = item_ast(self.db, policy.file, policy.index) else {
            return;
        };
        let ItemKind::Policy(p) = &item.kind else {
            return;
        };
        // The purposes this policy's rules serve: those of the actions it guards.
        let mut purposes: Vec<Def> = Vec::new();
        for a in actions {
            if let Signature::Action {
                purpose: Some(pd), ..
            } = resolve::signature(self.db, self.project, a.file, a.index)
                && !purposes.contains(pd)
            {
                purposes.push(pd.clone());
            }
        }
        // Most projects read few personal fields: only a read of a field of one of these
        // names needs its receiver's type, which is what this check costs.
        let names = personal_field_names(self.db, self.project);
        if purposes.is_empty() || names.is_empty() {
            return;
        }
        let wanted = Wanted {
            names,
            set_fields: personal_set_field_names(self.db, self.project),
        };
        // The types of the policy's bound names.
        let mut env: BTreeMap<String, Ty> = BTreeMap::new();
        if let Some(a) = actions.first()
            && let Signature::Action { params, .. } =
                resolve::signature(self.db, self.project, a.file, a.index)
        {
            for b in &p.bindings {
                if let Some(x) = params.iter().find(|x| *x.name == *b.param.name) {
                    env.insert(b.var.name.clone(), x.ty.clone());
                }
            }
        }
        // Every bound name holds the action's input: reading one that is a set reads the set.
        let inputs: BTreeSet<String> = env.keys().cloned().collect();
        let locals = Locals {
            types: &env,
            inputs: &inputs,
        };
        let path = self.path(policy);
        for r in &p.rules {
            let ast::Rule::Rule {
                kind, condition, ..
            } = r
            else {
                continue;
            };
            // Every expression of the rule that is evaluated to decide: its condition, and a
            // review's deadline, which is part of the verdict.
            let within = match kind {
                RuleKind::Review { within, .. } => Some(within),
                RuleKind::Deny | RuleKind::Allow => None,
            };
            let mut reads = Vec::new();
            for e in condition.iter().map(|c| &c.expr).chain(within) {
                self.personal_reads(policy.file, locals, &wanted, e, &mut reads, 0);
            }
            for read in without_covered_set_reads(reads) {
                let PersonalRead {
                    at: span,
                    field,
                    allowed,
                    decl,
                    how,
                } = read;
                for purpose in &purposes {
                    if !allowed.contains(purpose) {
                        // Purposes are compared by declaration: one that shares its name with
                        // another named here is shown qualified, so that the message does not
                        // read "for `marketing`" against "for `marketing` only".
                        let named = |d: &Def| {
                            let alike = allowed
                                .iter()
                                .chain([purpose])
                                .any(|x| x != d && x.name == d.name);
                            if alike {
                                d.qualified(self.db)
                            } else {
                                d.name.to_string()
                            }
                        };
                        let listed = allowed
                            .iter()
                            .map(|x| format!("`{}`", named(x)))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let dpath = self.path(&decl);
                        let shown = named(purpose);
                        let how_added = self.purpose_to_list(&decl, purpose, &shown);
                        let mut d = Diagnostic::error("C0006", &path, span, format!("personal field `{field}` is read for purpose `{shown}`"))
                            .with_secondary(&dpath, decl.span, format!("`{field}` is `@personal` for {listed} only"))
                            .with_note("GDPR Art. 5(1)(b), purpose limitation: personal data collected for one purpose is not processed for another");
                        d = match &how {
                            How::Set(element) => d
                                .with_label(format!("a set of `{element}` is read here, kept unique by comparing whole records (`{field}` included), by a rule guarding an action of purpose `{shown}`"))
                                .with_note(format!("a set keeps its elements unique and sorted by comparing them whole, every field included: which elements it holds, how many, and in what order depend on `{field}`"))
                                .with_help(format!("use a list (`List<{element}>`, or `[...]` for a literal) or a set of values without `{field}` (such as ids), or (if it is lawful) add `{shown}` to the `@personal(purpose: [...])` of `{field}`{how_added}")),
                            How::Field | How::Whole => d
                                .with_label(format!("read by a rule guarding an action of purpose `{shown}`"))
                                .with_help(format!("do not read `{field}` here, or (if it is lawful) add `{shown}` to its `@personal(purpose: [...])`{how_added}")),
                        };
                        self.diags.push(d);
                    }
                }
            }
        }
    }

    /// How the help of C0006 has `purpose` (`shown` as the message names it) added to the
    /// `@personal` list of a field of record `record`: nothing more when its file names it
    /// so, else the name to write there and the `use` that gives it that name
    /// ([`import_name`]: an alias when a declaration of the file takes its name), so that the
    /// entry names that purpose and not another one of the same name.
    fn purpose_to_list(&self, record: &Def, purpose: &Def, shown: &str) -> String {
        match import_name(self.db, self.project, record.file, purpose, &[]) {
            Some((None, name)) if name == shown => String::new(),
            Some((None, name)) => format!(", written `{name}` there"),
            Some((Some(import), name)) if name == shown => {
                format!(", with `{import}` in its file")
            }
            Some((Some(import), name)) => {
                format!(", written `{name}`, with `{import}` in its file")
            }
            None => String::new(),
        }
    }

    /// The `@personal` fields an expression reads (directly, or through what it calls, see
    /// [`Cx::reads_through`]). A value that is a set of records, or holds sets of them, reads
    /// every field of those records wherever the rule takes it from the input (a bound name, a
    /// field), builds it (a set literal) or gets it from an intrinsic or a signal: keeping a
    /// set unique and sorted compares its elements whole ([`Cx::set_reads`]).
    fn personal_reads(
        &self,
        file: SourceFile,
        locals: Locals<'_>,
        wanted: &Wanted<'_>,
        e: &ast::Expr,
        out: &mut Vec<PersonalRead>,
        depth: usize,
    ) {
        if depth > crate::lower::MAX_INLINING {
            // Functions cannot recurse (E0209), and lowering refuses calls nested deeper than
            // this: every program that builds is walked whole.
            return;
        }
        let names = wanted.names;
        let scope = resolve::file_scope(self.db, self.project, file);
        let mut typer = Typer::new(self.db, self.project, file, locals.types);
        let mut stack = vec![e];
        while let Some(x) = stack.pop() {
            match &x.kind {
                ExprKind::Field(recv, f) => {
                    if names.contains(&f.name)
                        && let Ty::Record(def) = typer.of(recv).present()
                        && let Some((allowed, at)) =
                            personal_purposes(self.db, self.project, def, &f.name)
                    {
                        // The declaration's span is the annotation's, so the label points at it.
                        let decl = Def {
                            span: at,
                            ..def.clone()
                        };
                        out.push(PersonalRead {
                            at: x.span,
                            field: f.name.clone(),
                            allowed,
                            decl,
                            how: How::Field,
                        });
                    }
                    // A set read from the input (`c.household`) was made unique and sorted
                    // when the input was bound, by comparing whole records.
                    if wanted.set_fields.contains(&f.name) {
                        self.set_reads(&typer.of(x), names, x.span, out);
                    }
                    stack.push(recv);
                }
                ExprKind::Name(n) => {
                    // A bound name of the policy is the input itself (`for act(people: ps)`);
                    // a function's or a lambda's parameter is not: the argument or the
                    // collection it comes from is walked where it is written.
                    if locals.inputs.contains(&n.name)
                        && let Some(t) = locals.types.get(&n.name)
                    {
                        self.set_reads(t, names, x.span, out);
                    }
                }
                ExprKind::Call {
                    callee,
                    receiver,
                    args,
                } => {
                    let operands: Vec<&ast::Expr> = receiver
                        .as_deref()
                        .into_iter()
                        .chain(args.iter().map(|a| &a.value))
                        .collect();
                    // `any`/`all`/`count` over a collection: the lambda's parameter is one of
                    // its elements, so reads through it are typed (`m => m.birth_year`).
                    if let [collection, lambda] = operands.as_slice()
                        && let ExprKind::Lambda(param, body) = &lambda.kind
                    {
                        let element = match typer.of(collection).present() {
                            Ty::List(t) | Ty::Set(t) => Some((**t).clone()),
                            _ => None,
                        };
                        if let Some(t) = element {
                            let mut inner_env = locals.types.clone();
                            inner_env.insert(param.name.clone(), t);
                            // The parameter hides a bound name of the same name.
                            let mut inner_inputs = locals.inputs.clone();
                            inner_inputs.remove(&param.name);
                            let inner = Locals {
                                types: &inner_env,
                                inputs: &inner_inputs,
                            };
                            self.personal_reads(file, inner, wanted, body, out, depth + 1);
                            stack.push(collection);
                            continue;
                        }
                    }
                    stack.extend(operands.iter().copied());
                    // A call in an expression names its callee as the type checker and
                    // lowering resolve it: by its last name, in this file's scope.
                    if let Lookup::Found(entry) = scope.lookup(self.db, &callee.last().name) {
                        let bound =
                            self.bound_args(&entry.def, receiver.as_deref(), args, &mut typer);
                        self.reads_through(&entry.def, &bound, wanted, x.span, out, depth);
                        // A set an intrinsic or a signal gives was made unique and sorted (or
                        // checked to be) by comparing whole records; a function's result is
                        // walked in its body.
                        if !is_fn_with_body(self.db, &entry.def)
                            && let Signature::Callable { ret, .. } = resolve::signature(
                                self.db,
                                self.project,
                                entry.def.file,
                                entry.def.index,
                            )
                        {
                            self.set_reads(ret, names, x.span, out);
                        }
                    }
                }
                ExprKind::Unary(_, y) | ExprKind::Paren(y) | ExprKind::Lambda(_, y) => {
                    stack.push(y)
                }
                ExprKind::Is { expr, .. } => stack.push(expr),
                ExprKind::Binary(op, a, b) => {
                    // Comparing whole records (`c.me == c.ref`, `p in c.family`) reads every
                    // field of them, the personal ones included.
                    if matches!(
                        op,
                        ast::BinOp::Eq | ast::BinOp::Ne | ast::BinOp::In | ast::BinOp::NotIn
                    ) {
                        for side in [a, b] {
                            let mut seen = HashSet::new();
                            self.whole_record_reads(
                                &typer.of(side),
                                names,
                                x.span,
                                &How::Whole,
                                out,
                                &mut seen,
                            );
                        }
                    }
                    stack.push(a);
                    stack.push(b);
                }
                ExprKind::Range { lo: a, hi: b, .. } => {
                    stack.push(a);
                    stack.push(b);
                }
                ExprKind::If(a, b, c) => stack.extend([&**a, &**b, &**c]),
                ExprKind::Set(xs) => {
                    // Building a set of two or more records compares them whole (a set of one
                    // has nothing to compare).
                    if xs.len() > 1 {
                        self.set_reads(&typer.of(x), names, x.span, out);
                    }
                    stack.extend(xs.iter());
                }
                ExprKind::List(xs) => stack.extend(xs.iter()),
                ExprKind::Record { fields, .. } => stack.extend(fields.iter().map(|(_, v)| v)),
                ExprKind::Lit(_) | ExprKind::Error => {}
            }
        }
    }

    /// The `@personal` fields a value of type `ty` reads through the sets of records it is
    /// (or holds, in lists, sets and optionals), all reported at `at`: keeping a set unique
    /// and sorted compares its elements whole, so every field of their records is read. The
    /// fields of a record value are not looked into: a set inside is read where it is taken
    /// from the record, or where the record is compared whole.
    fn set_reads(&self, ty: &Ty, names: &BTreeSet<String>, at: Span, out: &mut Vec<PersonalRead>) {
        match ty.present() {
            Ty::List(t) => self.set_reads(t, names, at, out),
            Ty::Set(t) => {
                let how = How::Set(t.present().to_string());
                self.whole_record_reads(t, names, at, &how, out, &mut HashSet::new());
            }
            _ => {}
        }
    }

    /// The types of a call's arguments, by the names of the parameters of `callee` they are
    /// passed to, matched as lowering matches them: positional ones (the receiver first) in
    /// order, named ones by their names.
    fn bound_args(
        &self,
        callee: &Def,
        receiver: Option<&ast::Expr>,
        args: &[ast::Arg],
        typer: &mut Typer<'_>,
    ) -> BTreeMap<String, Ty> {
        let Signature::Callable { params, .. } =
            resolve::signature(self.db, self.project, callee.file, callee.index)
        else {
            return BTreeMap::new();
        };
        let positional = receiver
            .into_iter()
            .chain(args.iter().filter(|a| a.name.is_none()).map(|a| &a.value));
        let mut bound: BTreeMap<String, Ty> = params
            .iter()
            .zip(positional)
            .map(|(p, a)| (p.name.to_string(), typer.of(a)))
            .collect();
        for a in args {
            if let Some(n) = &a.name {
                bound.insert(n.name.clone(), typer.of(&a.value));
            }
        }
        bound
    }

    /// The `@personal` fields a call of `callee` reads through it, given the types of the
    /// values bound to its parameters, all reported at `at`, the call the author can change.
    /// Whatever is evaluated for the call counts: a function's body; for an intrinsic, which
    /// has no body, what its parameters' types let it see ([`Cx::exposed_reads`]); for a
    /// signal, its source called with its arguments (the arguments, and what the source
    /// intrinsic reads of them) and its `max_age`.
    fn reads_through(
        &self,
        callee: &Def,
        bound: &BTreeMap<String, Ty>,
        wanted: &Wanted<'_>,
        at: Span,
        out: &mut Vec<PersonalRead>,
        depth: usize,
    ) {
        if depth > crate::lower::MAX_INLINING {
            return;
        }
        let Some(item) = item_ast(self.db, callee.file, callee.index) else {
            return;
        };
        // The parameters are bound to the caller's arguments, walked where they are written:
        // no name of the body is the input itself.
        let inputs = BTreeSet::new();
        let locals = Locals {
            types: bound,
            inputs: &inputs,
        };
        let mut inner = Vec::new();
        match &item.kind {
            ItemKind::Fn(f) => match &f.body {
                Some(body) => {
                    self.personal_reads(callee.file, locals, wanted, body, &mut inner, depth + 1)
                }
                None => self.intrinsic_reads(callee, bound, wanted.names, &mut inner),
            },
            ItemKind::Signal(s) => {
                for e in s.source_args.iter().map(|a| &a.value).chain(&s.max_age) {
                    self.personal_reads(callee.file, locals, wanted, e, &mut inner, depth + 1);
                }
                // The source is resolved as a path, as the type checker and lowering resolve
                // it (`camara.sim_swap` is `std.camara.sim_swap`, not a signal `sim_swap`).
                if let Some(source) =
                    resolve::resolve_path(self.db, self.project, callee.file, &s.source)
                {
                    let mut typer = Typer::new(self.db, self.project, callee.file, bound);
                    let args = self.bound_args(&source, None, &s.source_args, &mut typer);
                    self.reads_through(&source, &args, wanted, at, &mut inner, depth + 1);
                }
            }
            _ => {}
        }
        out.extend(inner.into_iter().map(|r| PersonalRead { at, ..r }));
    }

    /// The `@personal` fields an intrinsic reads of the values bound to its parameters. It has
    /// no body to walk, so it reads whatever each parameter's type lets it see (see
    /// [`Cx::exposed_reads`]).
    fn intrinsic_reads(
        &self,
        intrinsic: &Def,
        bound: &BTreeMap<String, Ty>,
        names: &BTreeSet<String>,
        out: &mut Vec<PersonalRead>,
    ) {
        let Signature::Callable { params, .. } =
            resolve::signature(self.db, self.project, intrinsic.file, intrinsic.index)
        else {
            return;
        };
        for p in params {
            if let Some(arg) = bound.get(&*p.name) {
                // Where the read is reported is the caller's to set.
                self.exposed_reads(&p.ty, arg, names, Span::default(), out);
            }
        }
    }

    /// The `@personal` fields a value of type `arg` exposes to an intrinsic that takes it as a
    /// `param`: of an open record (`{ msisdn: Text, .. }`), the fields it names, and what their
    /// own types expose in turn; of any other type (`Customer`), everything the value holds,
    /// since it is handed over whole.
    fn exposed_reads(
        &self,
        param: &Ty,
        arg: &Ty,
        names: &BTreeSet<String>,
        at: Span,
        out: &mut Vec<PersonalRead>,
    ) {
        match (param.present(), arg.present()) {
            (Ty::Open(fields), Ty::Record(def)) => {
                let Signature::Record(have) =
                    resolve::signature(self.db, self.project, def.file, def.index)
                else {
                    return;
                };
                for (f, fty) in fields {
                    if names.contains(&**f)
                        && let Some((allowed, span)) =
                            personal_purposes(self.db, self.project, def, f)
                    {
                        let decl = Def {
                            span,
                            ..def.clone()
                        };
                        out.push(PersonalRead {
                            at,
                            field: f.to_string(),
                            allowed,
                            decl,
                            how: How::Field,
                        });
                    }
                    if let Some(h) = have.iter().find(|h| h.name == *f) {
                        self.exposed_reads(fty, &h.ty, names, at, out);
                    }
                }
            }
            (Ty::List(p) | Ty::Set(p), Ty::List(a) | Ty::Set(a)) => {
                // A set handed over was made unique and sorted by comparing whole records,
                // whatever of them the intrinsic names.
                if let Ty::Set(_) = arg.present() {
                    self.set_reads(arg, names, at, out);
                }
                self.exposed_reads(p, a, names, at, out)
            }
            _ => self.whole_record_reads(arg, names, at, &How::Whole, out, &mut HashSet::new()),
        }
    }
}

/// A read of a `@personal` field.
struct PersonalRead {
    /// Where it is reported.
    at: Span,
    /// The field's name.
    field: String,
    /// The purposes it may be read for.
    allowed: Vec<Def>,
    /// Its record's declaration, spanning the field's annotation.
    decl: Def,
    /// How it is read, which the diagnostic explains.
    how: How,
}

/// How a rule reads a `@personal` field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum How {
    /// By its name: `c.birth_year`, or an open record naming it handed to an intrinsic.
    Field,
    /// With its whole record: compared (`c.me == c.ref`), or handed whole to an intrinsic.
    Whole,
    /// Through a set of its records, kept unique and sorted by comparing them whole; holds the
    /// set's element type as written (`Person`).
    Set(String),
}

/// What C0006 looks for in the project.
struct Wanted<'n> {
    /// The names of the `@personal` fields ([`personal_field_names`]).
    names: &'n BTreeSet<String>,
    /// The names of the fields that hold sets of such records ([`personal_set_field_names`]).
    set_fields: &'n BTreeSet<String>,
}

/// The names in scope of an expression that C0006 walks.
#[derive(Clone, Copy)]
struct Locals<'e> {
    /// Their types.
    types: &'e BTreeMap<String, Ty>,
    /// Those that are the policy's bindings, not hidden by a lambda's parameter: the input
    /// itself, so that reading one that is a set reads the set.
    inputs: &'e BTreeSet<String>,
}

/// The reads to report, without the reads through a set that a wider comparison or set of the
/// same field already reports (`c.me in c.family` is one read of each field of `Person`, at
/// the comparison; a function's set and its caller's, reported at one call, are one read).
fn without_covered_set_reads(reads: Vec<PersonalRead>) -> Vec<PersonalRead> {
    let covered = |i: usize, r: &PersonalRead| {
        reads.iter().enumerate().any(|(j, w)| {
            j != i
                && w.field == r.field
                && w.decl == r.decl
                && w.at.start() <= r.at.start()
                && r.at.end() <= w.at.end()
                && match w.how {
                    How::Whole => true,
                    // Of two sets at one place, the first is kept.
                    How::Set(_) => w.at != r.at || j < i,
                    How::Field => false,
                }
        })
    };
    let keep: Vec<bool> = reads
        .iter()
        .enumerate()
        .map(|(i, r)| !matches!(r.how, How::Set(_)) || !covered(i, r))
        .collect();
    reads
        .into_iter()
        .zip(keep)
        .filter_map(|(r, k)| k.then_some(r))
        .collect()
}

/// Types the expressions of one file under the given locals, for the C0006 walk. The type
/// checker is made on the first use: most expressions have no field to type.
struct Typer<'a> {
    db: &'a dyn Db,
    project: Project,
    file: SourceFile,
    env: &'a BTreeMap<String, Ty>,
    checker: Option<(crate::types::Checker<'a>, crate::types::Env)>,
}

impl<'a> Typer<'a> {
    fn new(
        db: &'a dyn Db,
        project: Project,
        file: SourceFile,
        env: &'a BTreeMap<String, Ty>,
    ) -> Self {
        Typer {
            db,
            project,
            file,
            env,
            checker: None,
        }
    }

    fn of(&mut self, e: &ast::Expr) -> Ty {
        let (checker, tenv) = self.checker.get_or_insert_with(|| {
            let mut tenv = crate::types::Env::default();
            for (n, t) in self.env {
                tenv.bind(n, t.clone(), Span::default());
            }
            let scope = resolve::file_scope(self.db, self.project, self.file);
            let checker = crate::types::Checker::new(self.db, self.project, self.file, scope);
            (checker, tenv)
        });
        checker.expr(tenv, &Default::default(), e, None)
    }
}

impl Cx<'_> {
    /// The `@personal` fields a value of type `ty` holds, in its records and theirs (lists,
    /// sets and optionals looked into), reported as read at `at` in the way `how`: comparing
    /// it, handing it whole to an intrinsic, or keeping a set of it unique reads them all.
    fn whole_record_reads(
        &self,
        ty: &Ty,
        names: &BTreeSet<String>,
        at: Span,
        how: &How,
        out: &mut Vec<PersonalRead>,
        seen: &mut HashSet<(SourceFile, u32)>,
    ) {
        let def = match ty.present() {
            Ty::Record(def) => def,
            Ty::List(t) | Ty::Set(t) => {
                return self.whole_record_reads(t, names, at, how, out, seen);
            }
            _ => return,
        };
        // A record that holds itself (through a list) is walked once.
        if !seen.insert((def.file, def.index)) {
            return;
        }
        let Signature::Record(fields) =
            resolve::signature(self.db, self.project, def.file, def.index)
        else {
            return;
        };
        for f in fields {
            if names.contains(&*f.name)
                && let Some((allowed, span)) =
                    personal_purposes(self.db, self.project, def, &f.name)
            {
                let decl = Def {
                    span,
                    ..def.clone()
                };
                out.push(PersonalRead {
                    at,
                    field: f.name.to_string(),
                    allowed,
                    decl,
                    how: how.clone(),
                });
            }
            self.whole_record_reads(&f.ty, names, at, how, out, seen);
        }
    }
}

/// A literal's part of a canonical key.
fn literal_key(l: &Literal, out: &mut String) {
    use std::fmt::Write as _;
    let _ = match l {
        Literal::Duration(ms, _) => write!(out, "{ms}ms"),
        Literal::Int(i) => write!(out, "{i}"),
        // What `{:?}` writes for a text that needs no escape, without formatting it char by
        // char: most policies compare with many texts.
        Literal::Text(t)
            if t.bytes()
                .all(|b| (b.is_ascii_graphic() && b != b'"' && b != b'\\') || b == b' ') =>
        {
            out.push_str("Text(\"");
            out.push_str(t);
            out.push_str("\")");
            Ok(())
        }
        other => write!(out, "{other:?}"),
    };
}

/// Expression `e` of source `text` as a message quotes it, on one line: as written when it is
/// so already, else as `xop fmt` writes it (comments left out, text literals kept exactly,
/// where joining the words would collapse the spaces inside a literal).
fn shown_expr(text: &str, e: &ast::Expr) -> String {
    let written = text.get(e.span.range()).unwrap_or("");
    if crate::format::on_one_line(written) {
        written.to_string()
    } else {
        crate::format::expr(e, 0)
    }
}

/// The value of a Boolean literal (through parentheses).
fn bool_lit(e: &ast::Expr) -> Option<bool> {
    match &e.kind {
        ExprKind::Lit(Literal::Bool(b)) => Some(*b),
        ExprKind::Paren(x) => bool_lit(x),
        _ => None,
    }
}

/// The advisory checks whose help writes a rule to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heuristic {
    /// C0105: `contacts_within`.
    FrequencyCap,
    /// C0106: `local_hour`.
    QuietHours,
}

/// Where, and in which names, a rule C0005, C0105 or C0106 suggests is written
/// ([`Cx::placement`]).
struct Placement {
    /// The policy's name.
    policy: String,
    /// The name the policy reads each parameter asked for under, in the order asked.
    locals: Vec<String>,
    /// The name it reads the decision time under (empty when not asked for).
    time: String,
    /// Its header rewritten, when it must bind a parameter or the time first.
    header: Option<String>,
    /// The parameters the header must bind.
    bound: Vec<String>,
    /// Whether the header must bind the time (`at now`).
    binds_time: bool,
}

/// Whom an action reaches, as its declaration tells.
enum Subject<'p> {
    /// Its parameter `to`, whatever its type; without one, its only parameter that holds a
    /// record ([`holds_record`]).
    Param(&'p resolve::TypedParam),
    /// No parameter `to`, and none that holds a record.
    Nobody,
    /// No parameter `to`, and several that hold records: the checker does not guess which one
    /// is the person (taking the first one took a sender for the recipient).
    Ambiguous(Vec<&'p resolve::TypedParam>),
}

/// The person an action reaches (see [`Subject`]).
fn subject(params: &[resolve::TypedParam]) -> Subject<'_> {
    if let Some(to) = params.iter().find(|p| &*p.name == "to") {
        return Subject::Param(to);
    }
    let mut candidates: Vec<&resolve::TypedParam> =
        params.iter().filter(|p| holds_record(&p.ty)).collect();
    match candidates.len() {
        0 => Subject::Nobody,
        1 => Subject::Param(candidates.remove(0)),
        _ => Subject::Ambiguous(candidates),
    }
}

/// The names of the person parameter, for a message (none when there is no single one).
fn subject_name<'p>(subject: &Subject<'p>) -> Vec<&'p str> {
    match subject {
        Subject::Param(p) => vec![&*p.name],
        Subject::Nobody | Subject::Ambiguous(_) => Vec::new(),
    }
}

/// Whether a value of type `ty` is a record, or an optional, list or set of them.
fn holds_record(ty: &Ty) -> bool {
    match ty {
        Ty::Record(_) => true,
        Ty::Optional(t) | Ty::List(t) | Ty::Set(t) => holds_record(t),
        _ => false,
    }
}

/// The record a value of type `ty` holds, through optionals, lists and sets.
fn record_in(ty: &Ty) -> Option<&Def> {
    match ty {
        Ty::Record(d) => Some(d),
        Ty::Optional(t) | Ty::List(t) | Ty::Set(t) => record_in(t),
        _ => None,
    }
}

/// The most places an action may hold channels in (each needs its consent fact); beyond it the
/// action needs a fact no rule can establish, so it is rejected rather than partly checked.
const MAX_CHANNEL_PLACES: usize = 16;

/// One step from a value to a value it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A record's field.
    Field(Arc<str>),
    /// The value of an optional, when present.
    Opt,
    /// Each element of a list or set.
    Each,
}

/// A place where an action holds a channel: a parameter and the steps to the channel in it.
struct ChannelPlace<'p> {
    param: &'p resolve::TypedParam,
    steps: Vec<Step>,
}

impl ChannelPlace<'_> {
    /// The place as a person reads it: `channel`, `delivery.channel`, `deliveries.channel`.
    fn written(&self) -> String {
        let mut out = self.param.name.to_string();
        for s in &self.steps {
            if let Step::Field(f) = s {
                out.push('.');
                out.push_str(f);
            }
        }
        out
    }
}

/// The places an action holds channels in ([`Cx::channel_places`]).
struct ChannelPlaces<'p> {
    places: Vec<ChannelPlace<'p>>,
    /// More than [`MAX_CHANNEL_PLACES`] places: those listed are not all.
    more: bool,
}

impl ChannelPlaces<'_> {
    fn is_empty(&self) -> bool {
        self.places.is_empty() && !self.more
    }
}

/// A step of the path a consent fact follows: from the person parameter to each person, then
/// (at `Channel`) from a channel's parameter to the channel.
enum Seg<'s> {
    Step(&'s Step),
    Channel(&'s str),
}

/// The consent fact for the path `segs`, as a policy writes it, which [`GuardExpr::condition`]
/// turns into the condition [`Canon`] makes of it: `consent(to, P, channel)`; through a field,
/// `consent(to, P, delivery.channel)`; over a list, `all(channels, x => consent(to, P, x))`;
/// and an optional is tested first, inside a lambda
/// (`all(channels, x => x is absent or consent(to, P, x))`) as outside
/// (`ch is absent or consent(to, P, ch)`: no channel, no contact). `at` is the current place,
/// `person` the person's once the channel's path has begun, `guards` the optional places to
/// test at this depth.
fn required_fact(
    segs: &[Seg<'_>],
    depth: usize,
    mut at: GuardPlace,
    person: Option<&GuardPlace>,
    guards: &mut Vec<GuardPlace>,
) -> GuardExpr {
    let Some((seg, rest)) = segs.split_first() else {
        let person = person.cloned().unwrap_or_else(|| at.clone());
        let fact = GuardExpr::Consent {
            person,
            channel: at,
        };
        return absent_or(std::mem::take(guards), fact);
    };
    match seg {
        Seg::Channel(name) => {
            let person = person.cloned().unwrap_or(at);
            let at = GuardPlace {
                root: PlaceRoot::Param(Arc::from(*name)),
                fields: Vec::new(),
            };
            required_fact(rest, depth, at, Some(&person), guards)
        }
        Seg::Step(Step::Field(f)) => {
            at.fields.push(f.clone());
            required_fact(rest, depth, at, person, guards)
        }
        Seg::Step(Step::Opt) => {
            guards.push(at.clone());
            required_fact(rest, depth, at, person, guards)
        }
        Seg::Step(Step::Each) => {
            let var = GuardPlace {
                root: PlaceRoot::Var(depth),
                fields: Vec::new(),
            };
            let body = required_fact(rest, depth + 1, var, person, &mut Vec::new());
            let all = GuardExpr::All {
                list: at,
                depth,
                body: Box::new(body),
            };
            absent_or(std::mem::take(guards), all)
        }
    }
}

/// `then`, tested after the optionals `absent` if there are any.
fn absent_or(absent: Vec<GuardPlace>, then: GuardExpr) -> GuardExpr {
    if absent.is_empty() {
        then
    } else {
        GuardExpr::AbsentOr {
            absent,
            then: Box::new(then),
        }
    }
}

/// The guard C0005 requires of the policies that guard an action: the consent facts the
/// checker asks for, as a structure, so that a tool writes them with the names of the file it
/// edits (the language server's quick fix reads it from [`Diagnostic::fix`]). The checker keys
/// and shows the same structure: one finding for the check, its messages and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsentGuard {
    /// The action's purpose, the second argument of each `consent`.
    pub purpose: Def,
    /// The facts, each required (`and`), one per place the action holds a channel in.
    pub facts: Vec<GuardExpr>,
}

impl ConsentGuard {
    /// The guard as a policy writes it with `names`: the facts joined by `and`, those behind
    /// the same optionals after one test of them
    /// (`(d is absent or (consent(c, P, d.channel) and consent(c, P, d.backup)))`), without
    /// which `consent` could not be called on them.
    pub fn write(&self, names: &GuardNames<'_>) -> String {
        let mut groups: Vec<(&[GuardPlace], Vec<&GuardExpr>)> = Vec::new();
        for fact in &self.facts {
            let (absent, fact) = match fact {
                GuardExpr::AbsentOr { absent, then } => (&absent[..], &**then),
                fact => (&[][..], fact),
            };
            match groups.iter_mut().find(|(a, _)| *a == absent) {
                Some((_, facts)) => facts.push(fact),
                None => groups.push((absent, vec![fact])),
            }
        }
        let alone = groups.len() == 1;
        groups
            .iter()
            .map(|(absent, facts)| {
                let facts: Vec<String> = facts.iter().map(|f| f.shown(names)).collect();
                if absent.is_empty() {
                    return facts.join(" and ");
                }
                // `and` binds tighter than `or`: the parentheses are for the reader.
                let then = match &facts[..] {
                    [one] => one.clone(),
                    several => format!("({})", several.join(" and ")),
                };
                let test = absent
                    .iter()
                    .map(|p| format!("{} is absent", p.shown(names)))
                    .chain([then])
                    .collect::<Vec<_>>()
                    .join(" or ");
                if alone { test } else { format!("({test})") }
            })
            .collect::<Vec<_>>()
            .join(" and ")
    }

    /// The parameters the guard reads, in the order it reads them first.
    pub fn params(&self) -> Vec<Arc<str>> {
        fn place(p: &GuardPlace, out: &mut Vec<Arc<str>>) {
            if let PlaceRoot::Param(n) = &p.root
                && !out.contains(n)
            {
                out.push(n.clone());
            }
        }
        fn expr(e: &GuardExpr, out: &mut Vec<Arc<str>>) {
            match e {
                GuardExpr::Consent { person, channel } => {
                    place(person, out);
                    place(channel, out);
                }
                GuardExpr::All { list, body, .. } => {
                    place(list, out);
                    expr(body, out);
                }
                GuardExpr::AbsentOr { absent, then } => {
                    absent.iter().for_each(|p| place(p, out));
                    expr(then, out);
                }
            }
        }
        let mut out = Vec::new();
        self.facts.iter().for_each(|f| expr(f, &mut out));
        out
    }

    /// How deep the guard's lambdas nest: how many variables it needs.
    pub fn depth(&self) -> usize {
        fn expr(e: &GuardExpr) -> usize {
            match e {
                GuardExpr::Consent { .. } => 0,
                GuardExpr::All { body, .. } => 1 + expr(body),
                GuardExpr::AbsentOr { then, .. } => expr(then),
            }
        }
        self.facts.iter().map(expr).max().unwrap_or(0)
    }
}

/// A consent fact, or a part of one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GuardExpr {
    /// `consent(person, PURPOSE, channel)`, the stdlib's `std.consent.consent`.
    Consent {
        /// The person asked.
        person: GuardPlace,
        /// The channel.
        channel: GuardPlace,
    },
    /// `all(list, v => body)`, `v` being [`PlaceRoot::Var`]`(depth)`.
    All {
        /// The list or set.
        list: GuardPlace,
        /// The lambda's depth: 0 for the outermost.
        depth: usize,
        /// What holds of each element.
        body: Box<GuardExpr>,
    },
    /// `a₁ is absent or … or then`: optionals, which need no consent when absent (no channel
    /// or no person, no contact), tested before `then` reads them, inside a lambda or not.
    AbsentOr {
        /// The optionals, outermost first.
        absent: Vec<GuardPlace>,
        /// The fact when they are present.
        then: Box<GuardExpr>,
    },
}

/// A value a consent fact reads: a parameter or a lambda's variable, then fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuardPlace {
    /// Where the path starts.
    pub root: PlaceRoot,
    /// The fields read from it, in order.
    pub fields: Vec<Arc<str>>,
}

/// Where a [`GuardPlace`] starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PlaceRoot {
    /// A parameter of the action, by name: a policy reads it through the local it binds it to.
    Param(Arc<str>),
    /// The variable of the enclosing `all` of this depth.
    Var(usize),
}

/// The names a consent guard is written with.
pub struct GuardNames<'a> {
    /// How the file calls `std.consent.consent`.
    pub consent: &'a str,
    /// How the file names the purpose.
    pub purpose: &'a str,
    /// The name for an action's parameter.
    pub param: &'a dyn Fn(&str) -> String,
    /// The variable of the lambda of each depth (`x{depth}` past the end).
    pub vars: &'a [String],
}

impl GuardExpr {
    /// The canonical key of the fact, as [`Canon::key`] keys the condition a policy writes for
    /// it; `purpose` is the purpose's qualified name.
    fn key(&self, purpose: &str) -> String {
        match self {
            GuardExpr::Consent { person, channel } => format!(
                "std.consent.consent({}, {purpose}, {})",
                person.key(),
                channel.key()
            ),
            GuardExpr::All { list, depth, body } => {
                format!("all({}, (#{depth} => {}))", list.key(), body.key(purpose))
            }
            GuardExpr::AbsentOr { absent, then } => {
                let operands: Vec<String> = absent
                    .iter()
                    .map(|p| format!("({} is absent)", p.key()))
                    .chain([then.key(purpose)])
                    .collect();
                or_key(&operands)
            }
        }
    }

    /// The fact as [`Canon::condition`] reads it when a policy writes it outside lambdas: one
    /// atom, but for the tests of optionals, which are facts of their own
    /// (`d is absent or consent(…)` is ¬`d is present` ∨ `consent(…)`), so that a policy that
    /// narrows the other way (`d is present and consent(…)`) establishes it too. `qualified`
    /// are the names that show it where two facts would read the same
    /// ([`CanonCondition::Atom`]).
    fn condition(
        &self,
        purpose: &str,
        names: &GuardNames<'_>,
        qualified: &GuardNames<'_>,
    ) -> CanonCondition {
        match self {
            GuardExpr::AbsentOr { absent, then } => CanonCondition::Or(
                absent
                    .iter()
                    .map(|p| {
                        CanonCondition::Not(Box::new(CanonCondition::Atom(
                            format!("({} is present)", p.key()),
                            format!("{} is present", p.shown(names)),
                            None,
                        )))
                    })
                    .chain([then.condition(purpose, names, qualified)])
                    .collect(),
            ),
            _ => {
                let shown = self.shown(names);
                let q = self.shown(qualified);
                CanonCondition::Atom(self.key(purpose), shown.clone(), (q != shown).then_some(q))
            }
        }
    }

    /// The fact written with `names`, as messages show it (without the tests `is present`).
    fn shown(&self, names: &GuardNames<'_>) -> String {
        match self {
            GuardExpr::Consent { person, channel } => format!(
                "{}({}, {}, {})",
                names.consent,
                person.shown(names),
                names.purpose,
                channel.shown(names)
            ),
            GuardExpr::All { list, depth, body } => format!(
                "all({}, {} => {})",
                list.shown(names),
                var_name(names, *depth),
                body.shown(names)
            ),
            GuardExpr::AbsentOr { absent, then } => absent
                .iter()
                .map(|p| format!("{} is absent", p.shown(names)))
                .chain([then.shown(names)])
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

/// `a or b or …` keyed as [`Canon::key`] keys the tree the parser makes of it: a balanced one
/// (`crate::precedence::balance`), each node the first half of the operands or the rest, so
/// that `x is absent or y is absent or z is absent or consent(…)` meets the policy's.
fn or_key(operands: &[String]) -> String {
    match operands {
        [] => String::new(),
        [one] => one.clone(),
        _ => {
            let (left, right) = operands.split_at(operands.len().div_ceil(2));
            format!("({} or {})", or_key(left), or_key(right))
        }
    }
}

impl GuardPlace {
    /// `$param.field` or `#depth.field`, as [`Canon::key`] writes places.
    fn key(&self) -> String {
        let mut out = match &self.root {
            PlaceRoot::Param(p) => format!("${p}"),
            PlaceRoot::Var(d) => format!("#{d}"),
        };
        for f in &self.fields {
            out.push('.');
            out.push_str(f);
        }
        out
    }

    fn shown(&self, names: &GuardNames<'_>) -> String {
        let mut out = match &self.root {
            PlaceRoot::Param(p) => (names.param)(p),
            PlaceRoot::Var(d) => var_name(names, *d),
        };
        for f in &self.fields {
            out.push('.');
            out.push_str(f);
        }
        out
    }
}

fn var_name(names: &GuardNames<'_>, depth: usize) -> String {
    names
        .vars
        .get(depth)
        .cloned()
        .unwrap_or_else(|| format!("x{depth}"))
}

/// The variables of `guard`'s lambdas, one per depth, for writing it in `policy` of `file`:
/// `x`, `y`, `z`, `u`, `v`, `w`, `x6`…, each with `_2`, `_3`… added until it is none of the
/// names the guard could meet there: a declaration the file sees or an enum variant, a local
/// of the policy (its bindings, its `at`), a parameter the guard reads (written under its own
/// name when the policy does not bind it), and `taken` (the writer's names for `consent` and
/// the purpose, and any local it adds). The checker's help and the language server's quick
/// fix both call it, so that they write the same guard.
pub fn guard_vars(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    policy: &ast::Policy,
    guard: &ConsentGuard,
    taken: &[String],
) -> Vec<String> {
    let scope = resolve::file_scope(db, project, file);
    let params = guard.params();
    let mut vars: Vec<String> = Vec::new();
    let free = |n: &str, vars: &[String]| {
        !vars.iter().any(|v| v == n)
            && !taken.iter().any(|t| t == n)
            && !params.iter().any(|p| **p == *n)
            && !policy.bindings.iter().any(|b| b.var.name == n)
            && policy.at.as_ref().is_none_or(|at| at.name != n)
            && scope.name_free(db, n)
    };
    for depth in 0..guard.depth() {
        let base = ["x", "y", "z", "u", "v", "w"]
            .get(depth)
            .map_or_else(|| format!("x{depth}"), |b| b.to_string());
        let var = resolve::fresh_name(&base, |n| free(n, &vars));
        vars.push(var);
    }
    vars
}

/// The consent guard C0005 asks for, written in one policy ([`write_guard`]): what the
/// checker's help shows and the language server's quick fix inserts, built once so that the
/// two cannot drift apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenGuard {
    /// The condition, in the policy's names: `consent(c, marketing, ch)`.
    pub condition: String,
    /// The `use` lines the policy's file needs for the condition to name what it names
    /// (`use std.consent.consent`, `use std.consent.marketing as consent_marketing`), sorted.
    pub imports: Vec<String>,
    /// How the condition names `std.consent.consent`.
    pub consent: Named,
    /// How the condition names the purpose.
    pub purpose: Named,
    /// Each parameter the guard reads, with the local the policy reads it by: the one it binds
    /// it to, else the one its header is to bind it to (before any renaming, [`Self::renamed`]).
    pub locals: Vec<(Arc<str>, String)>,
    /// The bindings the policy's header must add, as written there: `channel`,
    /// `channel: channel_2` when the parameter's own name is taken.
    pub bindings: Vec<String>,
    /// The policy's locals that hide a declaration of its own file the condition names (which
    /// no `use` can name under another name), as (old, new): the policy must rename each,
    /// where it binds it and where its rules read it, for the condition to check.
    pub renamed: Vec<(String, String)>,
    /// The variables of the condition's lambdas, one per depth ([`guard_vars`]).
    pub vars: Vec<String>,
}

impl WrittenGuard {
    /// The local the policy reads parameter `param` by, before renaming; the parameter's own
    /// name if the guard does not read it.
    pub fn local(&self, param: &str) -> String {
        self.locals
            .iter()
            .find(|(p, _)| **p == *param)
            .map_or_else(|| param.to_string(), |(_, l)| l.clone())
    }
}

/// The declaration `name` of the standard library's module `module`, if there is one.
fn std_def(db: &dyn Db, project: Project, module: &str, name: &str) -> Option<Def> {
    let file = *resolve::module_index(db, project).by_name.get(module)?;
    resolve::item_table(db, file).by_name.get(name).cloned()
}

/// The locals `policy` reads the action's parameters `params` by: the one it binds
/// each to, else a new one its header is to bind (the parameter's own name, or a fresh one
/// when a local of the policy or a name of the file takes it). Returns the locals, in the
/// order of `params`, and the bindings to add (`channel`, `channel: channel_2`); `taken`
/// holds the policy's locals and gets the new ones. `scope` is the policy's file's.
fn bind_params(
    db: &dyn Db,
    scope: &Scope,
    policy: &ast::Policy,
    params: &[&str],
    taken: &mut Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let mut locals = Vec::new();
    let mut added = Vec::new();
    for &param in params {
        match policy.bindings.iter().find(|b| b.param.name == param) {
            Some(b) => locals.push(b.var.name.clone()),
            None => {
                let var = resolve::fresh_name(param, |n| {
                    !taken.iter().any(|t| t == n) && scope.name_free(db, n)
                });
                taken.push(var.clone());
                added.push(if var == param {
                    var.clone()
                } else {
                    format!("{param}: {var}")
                });
                locals.push(var);
            }
        }
    }
    (locals, added)
}

/// The consent guard `guard` written in `policy` of `file`, with what the policy needs for it
/// to check there as written: the parameters it reads under the names the policy binds them
/// to (a parameter it does not bind under the name its header is to bind it to,
/// [`WrittenGuard::bindings`]); `consent` and the purpose under names the file can write them
/// by ([`import_name`], [`WrittenGuard::imports`]): the purpose past the policy's locals,
/// which would hide it, `consent` past the file's declarations only, since a callee is never
/// a local; a local that hides a declaration of the file itself, which no `use` can bring
/// back, renamed ([`WrittenGuard::renamed`]); and lambda variables that clash with none of
/// those names ([`guard_vars`]). The checker's help (C0005) and the language server's quick
/// fix both write the guard with it.
pub fn write_guard(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    policy: &ast::Policy,
    guard: &ConsentGuard,
) -> WrittenGuard {
    let scope = resolve::file_scope(db, project, file);
    let params = guard.params();
    let asked: Vec<&str> = params.iter().map(|n| &**n).collect();
    // The policy's locals (its bindings, its `at`, those its header is to add) hide the file's
    // names of values where the guard is written.
    let mut taken: Vec<String> = policy
        .bindings
        .iter()
        .map(|b| b.var.name.clone())
        .chain(policy.at.iter().map(|a| a.name.clone()))
        .collect();
    let (locals, bindings) = bind_params(db, scope, policy, &asked, &mut taken);
    let mut imports = Vec::new();
    let mut renamed: Vec<(String, String)> = Vec::new();
    let mut name_of = |def: Option<Def>, bare: &str, taken: &mut Vec<String>| -> Named {
        let Some(def) = def else {
            return Named {
                written: bare.to_string(),
                shown: bare.to_string(),
            };
        };
        match import_name(db, project, file, &def, taken) {
            Some((import, name)) => {
                // Shown by the name the policy writes when that is the declaration's own or
                // one the file has already; by its qualified name when it is an alias still to
                // add, which reads as nothing before it is added.
                let shown = if import.is_some() && name != *def.name {
                    def.qualified(db)
                } else {
                    name.clone()
                };
                imports.extend(import);
                Named {
                    written: name,
                    shown,
                }
            }
            None => {
                let old = def.name.to_string();
                let new = resolve::fresh_name(&old, |n| {
                    !taken.iter().any(|t| t == n) && scope.name_free(db, n)
                });
                taken.push(new.clone());
                renamed.push((old.clone(), new));
                Named {
                    written: old,
                    shown: def.qualified(db),
                }
            }
        }
    };
    let consent = name_of(
        std_def(db, project, "std.consent", "consent"),
        "consent",
        &mut Vec::new(),
    );
    let purpose = name_of(Some(guard.purpose.clone()), &guard.purpose.name, &mut taken);
    taken.extend([consent.written.clone(), purpose.written.clone()]);
    // One order whichever is named first: the order of the module paths.
    imports.sort();
    let locals: Vec<(Arc<str>, String)> = params.iter().cloned().zip(locals).collect();
    let local = |name: &str| {
        let l = locals
            .iter()
            .find(|(p, _)| **p == *name)
            .map_or_else(|| name.to_string(), |(_, l)| l.clone());
        match renamed.iter().find(|(old, _)| *old == l) {
            Some((_, new)) => new.clone(),
            None => l,
        }
    };
    let vars = guard_vars(db, project, file, policy, guard, &taken);
    let condition = guard.write(&GuardNames {
        consent: &consent.written,
        purpose: &purpose.written,
        param: &local,
        vars: &vars,
    });
    WrittenGuard {
        condition,
        imports,
        consent,
        purpose,
        locals,
        bindings,
        renamed,
        vars,
    }
}

/// The help for an action with channels in more than [`MAX_CHANNEL_PLACES`] places.
fn too_many_places(action: &str) -> String {
    format!(
        "`{action}` holds channels in more than {MAX_CHANNEL_PLACES} places, which the checker does not check one by one: split the action, or group its channels in one list parameter (`channels: List<Channel>`), which needs one consent fact for all of them"
    )
}

/// Names in backquotes, for a message: "`a`", "`a` and `b`", "`a`, `b` and `c`".
fn quoted<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let names: Vec<String> = names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, init)) => format!("{} and {last}", init.join(", ")),
    }
}

/// The name under which `file` can write `def` where the locals `taken` are in scope, and the
/// `use` line that gives it that name when the file does not see it yet: the name the file
/// sees it by already (its own, else an alias it imports it under), else its own name
/// imported, else an alias prefixed with its module's last segment (`consent_marketing`),
/// numbered if that is taken too (`consent_marketing_2`), as the type checker's import helps
/// name it (E0205). A name a declaration or import of the file takes would be defined twice
/// (E0206) or name the other declaration, and one a local takes would be hidden by it: so
/// that what a help writes with the name checks where it says. `None` for a declaration of
/// `file` itself that a local hides: no `use` can bring it back under another name.
pub fn import_name(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    def: &Def,
    taken: &[String],
) -> Option<(Option<String>, String)> {
    let scope = resolve::file_scope(db, project, file);
    let local = |n: &str| taken.iter().any(|t| t == n);
    if !local(&def.name) && matches!(scope.lookup(db, &def.name), Lookup::Found(e) if e.def == *def)
    {
        return Some((None, def.name.to_string()));
    }
    // The first name of the scope (in order) that is `def`: among those of a declaration by
    // `def`'s name, by a map, where a walk of the scope per call made a file of thousands of
    // actions, each with its policy, quadratic.
    let named = names_by_def_name(db, project, file).get(&def.name);
    let is_def = |n: &Arc<str>| scope.names.get(n).is_some_and(|e| e.def == *def);
    if let Some(alias) = named.into_iter().flatten().find(|n| is_def(n) && !local(n)) {
        return Some((None, alias.to_string()));
    }
    if def.file == file {
        return None;
    }
    let module = resolve::module_name(db, def.file);
    let free = |n: &str| !local(n) && scope.name_free(db, n);
    if free(&def.name) {
        return Some((
            Some(format!("use {module}.{}", def.name)),
            def.name.to_string(),
        ));
    }
    let last = module.rsplit('.').next().unwrap_or(&module);
    let alias = resolve::fresh_name(&format!("{last}_{}", def.name), free);
    Some((Some(format!("use {module}.{} as {alias}", def.name)), alias))
}

/// The names of `file`'s scope (own declarations and explicit imports) by the name of the
/// declaration each names, in the scope's order: `y` under `x` for `use m.x as y`.
#[salsa::tracked(returns(ref))]
fn names_by_def_name(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
) -> BTreeMap<Arc<str>, Vec<Arc<str>>> {
    let mut out: BTreeMap<Arc<str>, Vec<Arc<str>>> = BTreeMap::new();
    for (name, e) in &resolve::file_scope(db, project, file).names {
        out.entry(e.def.name.clone())
            .or_default()
            .push(name.clone());
    }
    out
}

/// The property a C0010 could not decide, for its message.
#[derive(Debug, Clone)]
enum Undecided {
    /// C0003.
    Prohibited,
    /// C0001.
    Oversight,
    /// C0002.
    Fallback,
    /// C0005, with the guard that decides it (in the policy's names), if there is one.
    Consent(Option<String>),
}

/// How to bring the facts of a question under the limit, whatever the property.
const MEMBERSHIP_HELP: &str = "write each fact once: test a list of values with one membership test (`c.country in [\"AT\", \"BE\"]`) rather than one comparison per value, the same way in every rule that tests it (`xop check --explain C0010`)";

/// A record field's `@personal` annotation, if it has one.
pub(crate) fn personal_annotation(field: &ast::Param) -> Option<&ast::Annotation> {
    field.annotations.iter().find(|a| a.name.name == "personal")
}

/// The names two or more declarations of the project have (standard library included), such
/// as `marketing` when a module declares its own purpose besides `std.consent`'s: a message
/// that shows a fact naming one qualifies it where it could read as another
/// ([`CanonCondition::Atom`]).
#[salsa::tracked(returns(ref))]
fn shared_names(db: &dyn Db, project: Project) -> BTreeSet<Arc<str>> {
    let mut seen: BTreeSet<Arc<str>> = BTreeSet::new();
    let mut shared = BTreeSet::new();
    for &f in project.files(db) {
        for name in resolve::item_table(db, f).by_name.keys() {
            if !seen.insert(name.clone()) {
                shared.insert(name.clone());
            }
        }
    }
    shared
}

/// The names of the project's `@personal` record fields (standard library included).
#[salsa::tracked(returns(ref))]
fn personal_field_names(db: &dyn Db, project: Project) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for def in all_defs(db, project, DefKind::Record) {
        if let Some(item) = item_ast(db, def.file, def.index)
            && let ItemKind::Record(r) = &item.kind
        {
            out.extend(
                r.fields
                    .iter()
                    .filter(|f| personal_annotation(f).is_some())
                    .map(|f| f.name.name.clone()),
            );
        }
    }
    out
}

/// The names of the record fields whose type is, or holds in lists, sets or optionals, a set of
/// records with `@personal` fields (`household: Set<Person>`): reading one reads those fields
/// ([`Cx::set_reads`]). Only a read of a field of one of these names needs its type.
#[salsa::tracked(returns(ref))]
fn personal_set_field_names(db: &dyn Db, project: Project) -> BTreeSet<String> {
    let names = personal_field_names(db, project);
    let mut out = BTreeSet::new();
    if names.is_empty() {
        return out;
    }
    let cx = Cx::new(db, project);
    for def in all_defs(db, project, DefKind::Record) {
        if let Signature::Record(fields) = resolve::signature(db, project, def.file, def.index) {
            for f in fields {
                let mut reads = Vec::new();
                cx.set_reads(&f.ty, names, Span::default(), &mut reads);
                if !reads.is_empty() {
                    out.insert(f.name.to_string());
                }
            }
        }
    }
    out
}

/// Whether a declaration is a function with a body (which C0006 walks), rather than an
/// intrinsic, a signal or anything else.
fn is_fn_with_body(db: &dyn Db, def: &Def) -> bool {
    item_ast(db, def.file, def.index)
        .as_ref()
        .is_some_and(|item| matches!(&item.kind, ItemKind::Fn(f) if f.body.is_some()))
}

/// The purposes a `@personal` field may be read for, or `None` if the field is not personal.
/// Also returns where the field's `@personal` annotation is written.
fn personal_purposes(
    db: &dyn Db,
    project: Project,
    record: &Def,
    field: &str,
) -> Option<(Vec<Def>, Span)> {
    let item = item_ast(db, record.file, record.index).as_ref()?;
    let ItemKind::Record(r) = &item.kind else {
        return None;
    };
    let f = r.fields.iter().find(|f| f.name.name == field)?;
    let a = personal_annotation(f)?;
    let mut out = Vec::new();
    // Every `@personal` of the field: a repeated one is E0214, whose fix merges them, so the
    // purposes of both are what the author meant (rather than a C0006 on top of the E0214).
    let all = f.annotations.iter().filter(|a| a.name.name == "personal");
    for arg in all.flat_map(|a| &a.args) {
        if let ExprKind::List(xs) = &arg.value.kind {
            for x in xs {
                // Purposes by declaration, as the record's file sees them: names can be aliased,
                // and two modules may each declare a purpose of the same name.
                if let ExprKind::Name(n) = &x.kind
                    && let Lookup::Found(e) =
                        resolve::file_scope(db, project, record.file).lookup(db, &n.name)
                    && e.def.kind == DefKind::Purpose
                {
                    out.push(e.def);
                }
            }
        }
    }
    Some((out, a.span))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::db::Workspace;
    use crate::diagnostic::Diagnostic;
    use proptest::prelude::*;

    /// C0104's search for misspelt uses compares each name written where checking failed
    /// with each declaration once, however many times it is written (`Int` and `x` hundreds
    /// of times in a file with a syntax error), not once a place: comparing every place with
    /// every declaration made a file of thousands of declarations take seconds. What it finds
    /// is unchanged: a declaration near a name written there (`tally_points`, written
    /// `tally_pionts`) is not reported, the others are.
    #[test]
    fn unused_compares_each_failed_name_once() {
        let n = 300;
        let broken: String = (0..n)
            .map(|i| format!("fn broken_{i}(x: Int): Int = x\n"))
            .collect();
        let broken =
            format!("module a\n{broken}fn total(): Int = tally_pionts()\nfn use(): Int = 1\n");
        let values: String = (0..n)
            .map(|i| format!("fn value_{i}(): Int = {i}\n"))
            .collect();
        let values = format!("module b\n{values}fn tally_points(): Int = 0\n");
        let mut ws = Workspace::new();
        ws.set_file("a.xop", broken.as_str());
        ws.set_file("b.xop", values.as_str());
        crate::resolve::NEAR_TO_COMPARISONS.with(|c| c.set(0));
        let diagnostics = ws.diagnostics();
        let compared = crate::resolve::NEAR_TO_COMPARISONS.with(|c| c.get());
        let unused: BTreeSet<String> = (diagnostics.iter())
            .filter(|d| d.code == "C0104")
            .map(|d| d.message.clone())
            .collect();
        let expected: BTreeSet<String> = (0..n)
            .map(|i| format!("function `value_{i}` is never used"))
            .collect();
        assert_eq!(unused, expected);
        assert!(diagnostics.iter().any(|d| d.code == "E0103"));
        // A few names written (`a`, `x`, `Int`, `tally_pionts`, ...), each compared with
        // each of the 2n declarations; once a place, it would be 4n × 2n.
        let declarations = 2 * n as u64 + 2;
        assert!(
            compared <= 8 * declarations,
            "{compared} comparisons for {declarations} declarations"
        );
    }

    /// [`super::ItemSpans::first_holding`] finds the item a walk of the items in order finds,
    /// whether they follow one another (a binary search) or not, and for empty spans where
    /// one item ends and the next starts.
    #[test]
    fn the_item_holding_a_name_is_the_first_in_order() {
        use crate::span::Span;
        let ordered = vec![
            Span::new(0, 4),
            Span::new(4, 4),
            Span::new(4, 9),
            Span::new(12, 20),
            Span::new(20, 30),
        ];
        let overlapping = vec![Span::new(5, 30), Span::new(0, 10), Span::new(8, 12)];
        for spans in [ordered, overlapping, Vec::new()] {
            let items = super::ItemSpans::new(spans.clone());
            for start in 0..32 {
                for end in start..33 {
                    let name = Span::new(start, end);
                    let walked =
                        (spans.iter().copied()).find(|s| s.start() <= start && end <= s.end());
                    assert_eq!(items.first_holding(name), walked, "{name:?} in {spans:?}");
                }
            }
        }
    }

    /// C0104 across files: a name written in another file is a use, the declaration's own name
    /// is not, and two declarations of one name are each other's use.
    #[test]
    fn unused_declarations_across_files() {
        let mut ws = Workspace::new();
        ws.set_file(
            "a.xop",
            "module a\nrole lonely\nrole twin\nfn g(x: Int): Int = x\nfn idle(x: Int): Int = x\n",
        );
        ws.set_file(
            "b.xop",
            "module b\nuse a.g\nrole twin\nfn h(x: Int): Int = g(x)\n",
        );
        let mut unused: Vec<(String, String)> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "C0104")
            .map(|d| (d.file.to_string(), d.message))
            .collect();
        unused.sort();
        assert_eq!(
            unused,
            [
                ("a.xop", "function `idle` is never used"),
                ("a.xop", "role `lonely` is never used"),
                ("b.xop", "function `h` is never used"),
            ]
            .map(|(f, m)| (f.to_string(), m.to_string()))
        );
    }

    /// The source text of every C0006 of a one-file module, in order.
    fn personal_reads(source: &str) -> Vec<String> {
        let mut ws = Workspace::new();
        ws.set_file("m.xop", source);
        let mut reads: Vec<(usize, String)> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "C0006")
            .map(|d| (d.span.start(), source[d.span.range()].to_string()))
            .collect();
        reads.sort();
        reads.into_iter().map(|(_, r)| r).collect()
    }

    /// C0006 looks at every expression evaluated for a rule: for a signal it reads, its source
    /// call, what the source intrinsic reads of the records it is given included (open records
    /// naming the field, nested or not, and closed record types); not at what an intrinsic
    /// cannot see. (A review's deadline and a signal's `max_age` must be known when compiled,
    /// E0316, so they read no input; a policy with such an error gets no C0006, see
    /// [`no_compliance_finding_on_what_failed`].)
    #[test]
    fn personal_reads_in_deadlines_and_signals() {
        let source = r#"module m
use std.consent.{marketing, service}
use std.camara.SimSwap
role desk
record Profile {
  @personal(purpose: [service]) phone: Text
  segment: Text
}
record Customer {
  id: Id
  profile: Profile
  @personal(purpose: [service]) msisdn: Text
  @personal(purpose: [service]) birth_year: Int
}
intrinsic open_score(x: { msisdn: Text, .. }): Int
intrinsic closed_score(x: Customer): Int
intrinsic nested_score(x: { profile: { phone: Text, .. }, .. }): Int
intrinsic segment_score(x: { profile: { segment: Text, .. }, .. }): Int
signal by_position(c: Customer): Int from open_score(c) max_age 5m
signal by_name(c: Customer): Int from open_score(x: c) max_age 5m
signal closed(c: Customer): Int from closed_score(c) max_age 5m
signal nested(c: Customer): Int from nested_score(c) max_age 5m
signal segment(c: Customer): Int from segment_score(c) max_age 5m
signal aged(c: Customer): SimSwap from camara.sim_swap("+33", 24h) max_age 5m
action offer(to: Customer) purpose marketing risk minimal
policy p for offer(to: c) {
  deny "a" when (by_position(c) ?? 0) > 1
  deny "b" when (by_name(c) ?? 0) > 1
  deny "c" when (closed(c) ?? 0) > 1
  deny "d" when (nested(c) ?? 0) > 1
  deny "e" when (segment(c) ?? 0) > 1
  deny "f" when aged(c) is present
  review "g" by role desk within 1h else deny
}
"#;
        assert_eq!(
            personal_reads(source),
            [
                "by_position(c)",
                "by_name(c)",
                "closed(c)",
                "closed(c)",
                "closed(c)",
                "nested(c)",
            ]
        );
    }

    /// No compliance finding is about an action or policy that holds an error, or that a
    /// policy holding one guards, in whichever file: the error is the one to fix (its rules
    /// may not say what was meant), and it keeps the project from being built. Unused
    /// declarations and imports count the names written where checking failed.
    #[test]
    fn no_compliance_finding_on_what_failed() {
        let codes = |files: &[(&str, &str)]| -> Vec<&'static str> {
            let mut ws = Workspace::new();
            for (path, text) in files {
                ws.set_file(path, *text);
            }
            ws.diagnostics().iter().map(|d| d.code).collect()
        };
        // A personal read in a deadline that is not known when compiled (E0316): no C0006.
        let deadline = r#"module m
use std.consent.{marketing, service}
role desk
record Customer {
  id: Id
  @personal(purpose: [service]) birth_year: Int
}
action offer(to: Customer) purpose marketing risk minimal
policy p for offer(to: c) {
  review "g" by role desk within (if c.birth_year < 2001 then 1h else 2h) else deny
}
"#;
        assert_eq!(codes(&[("m.xop", deadline)]), ["E0316"]);
        // A misspelt purpose in the consent guard: no C0005, C0105 or C0106 on the action.
        let offers = r#"module acme.offers
use std.consent.{consent, marketing, Consent}
use std.contact.{contacts_within, Contact}
use std.time.local_hour
record Customer {
  id: Id
  consents: List<Consent>
  contacts: List<Contact>
  tz: Tz
}
action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal
policy eligibility for send_offer(to: c, channel: ch) at now {
  deny "no-consent" unless consent(c, marketting, ch)
  deny "frequency-cap" when contacts_within(c, 7d) >= 3
  deny "quiet-hours" unless local_hour(now, c.tz) in 8..21
  allow "eligible"
}
"#;
        assert_eq!(codes(&[("o.xop", offers)]), ["E0205"]);
        // A syntax error in another file's policy guarding the action: no C0005 in this one,
        // and the names of the cut rule count as used (no W0201).
        let guarded = offers
            .replace(
                "  deny \"no-consent\" unless consent(c, marketting, ch)\n",
                "",
            )
            .replace("{consent, marketing, Consent}", "{marketing, Consent}");
        let cut = "module acme.guard
use acme.offers.send_offer
use std.consent.{consent, marketing}
policy consent_guard for send_offer(to: c, channel: ch) {
  deny \"no-consent\" unless consent(c, marketing, ch
}
";
        assert_eq!(codes(&[("o.xop", &guarded)]), ["C0005"]);
        assert_eq!(codes(&[("o.xop", &guarded), ("g.xop", cut)]), ["E0103"]);
        // A misspelt type: no C0104 for the type meant, no C0012 on the action.
        let typo = offers.replace("marketting", "marketing").replace(
            "action send_offer(to: Customer",
            "action send_offer(to: Custmer",
        );
        assert_eq!(codes(&[("o.xop", &typo)]), ["E0207"]);
    }

    /// A set of records reads every field of its records wherever the rule takes it: from the
    /// input (a field, a bound name, a signal's value) or from a set literal of two or more;
    /// once, at the widest place that reads it: a comparison of it, or the call of a function
    /// that reads it. Lists, sets of other values, a set of one record, and a function's or a
    /// lambda's parameter (its argument or collection is read instead) read nothing.
    #[test]
    fn sets_of_records_read_every_field_once() {
        let source = r#"module m
use std.consent.{marketing, service}
record Person {
  name: Text
  @personal(purpose: [service]) birth_year: Int
}
record Customer {
  id: Id
  me: Person
  partner: Person
  household: Set<Person>
  groups: List<Set<Person>>
  names: Set<Text>
  people: List<Person>
}
intrinsic household_of_id(id: Id): Set<Person>
signal household(x: Customer): Set<Person> from household_of_id(x.id) max_age 1h
fn household_of(x: Customer): Set<Person> = x.household
fn twice(x: Customer): Bool = count(x.household) > 1 and x.me in x.household
fn crowded(s: Set<Person>): Bool = count(s) > 3
action offer(to: Customer, guests: Set<Person>) purpose marketing risk minimal
policy p for offer(to: c, guests: g) {
  deny "a" when count(c.household) < 2
  deny "b" when count({c.me, c.partner}) == 1
  deny "c" when c.me in c.household
  deny "d" when {c.me, c.partner} != {c.partner}
  deny "e" when count(household_of(c)) > 1
  deny "f" when twice(c)
  deny "g" when count(g) > 1
  deny "h" when any(c.groups, g => count(g) > 1)
  deny "i" when count(household(c) ?? {}) > 1
  deny "j" when count(c.names) > 1 or count(c.people) > 1 or count({c.me}) == 1
  deny "k" when crowded(c.household)
}
"#;
        assert_eq!(
            personal_reads(source),
            [
                "c.household",
                "{c.me, c.partner}",
                "c.me in c.household",
                "{c.me, c.partner} != {c.partner}",
                "household_of(c)",
                "twice(c)",
                "g",
                "c.groups",
                "household(c)",
                "c.household",
            ]
        );
    }

    /// A decision time named like a binding (`at c`) is E0206; the compliance checks read the
    /// name as the binding, so a consent guard written on it is not reported missing (C0005).
    #[test]
    fn decision_time_named_like_a_binding_hides_no_consent_guard() {
        let mut ws = Workspace::new();
        ws.set_file(
            "m.xop",
            r#"module m
use std.consent.{consent, marketing, Consent}
use std.channel.*
record Customer { id: Id, consents: List<Consent> }
action send_offer(to: Customer, channel: Channel) purpose marketing risk minimal
policy contact for send_offer(to: c, channel: ch) at c {
  deny "no-consent" unless consent(c, marketing, ch)
  allow "eligible"
}
"#,
        );
        let codes: Vec<&str> = ws.diagnostics().iter().map(|d| d.code).collect();
        assert!(codes.contains(&"E0206"), "{codes:?}");
        assert!(!codes.contains(&"C0005"), "{codes:?}");
    }

    /// C0005 carries the guard it requires for a tool to write (the language server's quick
    /// fix): written in the policy's names, it is the guard its help spells; an action with too
    /// many channels to write a guard for carries none.
    #[test]
    fn the_consent_guard_a_c0005_carries_is_the_one_its_help_spells() {
        let channels: Vec<String> = (0..17).map(|i| format!("c{i}: Channel")).collect();
        let mut ws = Workspace::new();
        ws.set_file(
            "m.xop",
            format!(
                r#"module m
use std.consent.{{consent, marketing, Consent}}
use std.channel.sms
record Customer {{ id: Id, consents: List<Consent> }}
record Delivery {{ channel: Channel, others: Set<Channel?> }}
action a1(to: Customer, delivery: Delivery) purpose marketing risk minimal
action a2(to: Customer, channels: List<Channel?>) purpose marketing risk minimal
action a3(to: Customer, ds: List<Delivery?>, channel: Channel) purpose marketing risk minimal
action a4(to: Customer, {}) purpose marketing risk minimal
policy contact for purpose marketing(to: c) {{
  deny "no-consent" unless consent(c, marketing, sms)
  allow "eligible"
}}
"#,
                channels.join(", ")
            ),
        );
        let diags: Vec<_> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "C0005")
            .collect();
        assert_eq!(diags.len(), 4, "{diags:#?}");
        let vars = ["x".to_string(), "y".to_string()];
        let names = super::GuardNames {
            consent: "consent",
            purpose: "marketing",
            param: &|p| if p == "to" { "c".into() } else { p.into() },
            vars: &vars,
        };
        let mut written = Vec::new();
        for d in &diags {
            let help = d.help.as_deref().unwrap_or_default();
            match &d.fix {
                Some(super::FixData::ConsentGuard(g)) => {
                    let guard = g.write(&names);
                    // Added to the policy, or to a policy of the action's own when the
                    // purpose's policy cannot bind what the guard reads.
                    assert!(
                        help.contains(&format!("unless {guard}` to"))
                            || help.contains(&format!("unless {guard} }}`")),
                        "{guard}\n{help}"
                    );
                    written.push(guard);
                }
                None => assert!(help.contains("in more than 16 places"), "{help}"),
            }
        }
        assert_eq!(
            written,
            [
                "consent(c, marketing, delivery.channel) \
                 and all(delivery.others, x => x is absent or consent(c, marketing, x))",
                "all(channels, x => x is absent or consent(c, marketing, x))",
                "all(ds, x => x is absent or consent(c, marketing, x.channel)) \
                 and all(ds, x => x is absent or all(x.others, y => y is absent or consent(c, marketing, y))) \
                 and consent(c, marketing, channel)",
            ]
        );
    }

    /// `source` with the guard each C0005's help asks for added before the rule it is about.
    fn with_help_guards(source: &str) -> String {
        let mut ws = Workspace::new();
        ws.set_file("m.xop", source);
        let mut at: Vec<(usize, String)> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "C0005")
            .map(|d| {
                let help = d.help.unwrap_or_default();
                let guard = help
                    .split_once("unless ")
                    .and_then(|(_, rest)| rest.split_once("` to a policy"))
                    .map(|(guard, _)| guard.to_string());
                let guard = guard.unwrap_or_else(|| panic!("no guard in {help}"));
                (d.span.start(), guard)
            })
            .collect();
        assert!(!at.is_empty(), "no C0005 for\n{source}");
        at.sort();
        let mut out = source.to_string();
        for (start, guard) in at.into_iter().rev() {
            out.insert_str(start, &format!("deny \"no-consent\" unless {guard}\n  "));
        }
        out
    }

    /// The guard a C0005's help asks for is code the policy can take as written: its lambdas'
    /// variables clash with none of the policy's names (its bindings, its `at`, the file's
    /// declarations and variants), optionals are tested before `consent` reads them, outside
    /// lambdas as inside, and with it the policy is proved.
    #[test]
    fn every_c0005_help_is_a_guard_that_checks() {
        let sources = [
            r#"module m
use std.consent.{consent, marketing, Consent}
use std.time.local_hour
record Customer { id: Id, tz: Tz, consents: List<Consent> }
record Delivery { channel: Channel, others: Set<Channel?> }
action a(to: List<Customer>, ds: List<Delivery>) purpose marketing risk minimal
policy p for a(to: y, ds: x) at now {
  deny "quiet-hours" unless all(y, c => local_hour(now, c.tz) in 8..21)
  deny "frequency-cap" when count(y) > 3
  allow "eligible"
}
"#,
            r#"module m
use std.consent.{consent, marketing, Consent}
use std.time.local_hour
record Customer { id: Id, tz: Tz, consents: List<Consent> }
record Delivery { channel: Channel, others: Set<Channel?> }
enum Shade { y, z }
fn x(): Int = 3
action b(to: List<Customer>, ds: List<Delivery>, shade: Shade) purpose marketing risk minimal
policy q for b(to: t, ds: ds, shade: s) at y_2 {
  deny "quiet-hours" unless all(t, c => local_hour(y_2, c.tz) in 8..21)
  deny "frequency-cap" when count(t) > x() or s == z
  allow "eligible"
}
"#,
            r#"module m
use std.consent.{consent, marketing, Consent}
record Customer { id: Id, consents: List<Consent> }
record Delivery { channel: Channel, backup: Channel? }
record Wave { inner: List<Delivery?> }
action a1(to: Customer, d: Delivery?) purpose marketing risk minimal
action a2(to: Customer, w: Wave?) purpose marketing risk minimal
action a3(to: Customer?, ch: Channel?, main: Channel) purpose marketing risk minimal
action a4(to: List<Customer?>, ds: Set<Delivery?>, d: Delivery?) purpose marketing risk minimal
policy p1 for a1(to: c, d: d) {
  deny "frequency-cap-quiet-hours" when c.id == "x"
  allow "eligible"
}
policy p2 for a2(to: c, w: w) {
  deny "frequency-cap-quiet-hours" when c.id == "x"
  allow "eligible"
}
policy p3 for a3(to: c, ch: ch, main: m) {
  deny "frequency-cap-quiet-hours" when c is present and c.id == "x"
  allow "eligible"
}
policy p4 for a4(to: x, ds: y, d: d) {
  deny "frequency-cap-quiet-hours" when count(x) > 3
  allow "eligible"
}
"#,
            r#"module m
use std.consent.{consent, marketing, Consent}
record Customer { id: Id, preferred: Channel, consents: List<Consent> }
action a(to: Customer, referrer: Customer, channel: Channel) purpose marketing risk minimal
policy p for a(to: c, referrer: r, channel: ch) {
  deny "no-consent" unless consent(c, marketing, ch)
  deny "frequency-cap-quiet-hours" when c.id == "x"
  allow "eligible"
}
"#,
        ];
        for source in sources {
            let fixed = with_help_guards(source);
            let mut ws = Workspace::new();
            ws.set_file("m.xop", fixed.as_str());
            let errors: Vec<_> = ws
                .diagnostics()
                .into_iter()
                .filter(|d| d.severity == crate::diagnostic::Severity::Error)
                .map(|d| (d.code, d.message))
                .collect();
            assert!(errors.is_empty(), "{fixed}\n{errors:#?}");
        }
    }

    /// `source` with what the help of its one `code` diagnostic asks for pasted where it says:
    /// the rule (a quoted `deny …`) before the policy's `allow`, the header (a quoted
    /// `policy …`) in place of the policy's, a quoted `use …` after the `module` line, and a
    /// field the record "needs" (a quoted `name: Type`) after its `id: Id`.
    fn with_heuristic_help(source: &str, code: &str) -> (String, String) {
        let mut ws = Workspace::new();
        ws.set_file("m.xop", source);
        let helps: Vec<String> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == code)
            .map(|d| d.help.unwrap_or_default())
            .collect();
        let [help] = helps.as_slice() else {
            panic!("not one {code} for\n{source}: {helps:?}");
        };
        let quoted: Vec<&str> = help.split('`').skip(1).step_by(2).collect();
        let mut out = source.to_string();
        for q in &quoted {
            if q.starts_with("deny ") {
                let at = out.find("  allow ").expect("an allow rule");
                out.insert_str(at, &format!("  {q}\n"));
            } else if q.starts_with("policy ") {
                let start = out.find("\npolicy ").expect("a policy") + 1;
                let end = start + out[start..].find(" {").expect("a policy's body");
                out.replace_range(start..end, q);
            } else if q.starts_with("use ") {
                let at = out.find('\n').expect("a module line") + 1;
                out.insert_str(at, &format!("{q}\n"));
            } else if help.contains(&format!("needs a field `{q}`")) {
                out = out.replacen("id: Id", &format!("id: Id, {q}"), 1);
            }
        }
        (out, help.clone())
    }

    /// The rule the help of C0105 and of C0106 asks for is code the policy can take where the
    /// help says, in the names the policy binds (`to: person`, `at t`), with the header, the
    /// import and the field it needs when the policy or the record lacks them; pasted, the
    /// file checks without error and the warning is gone.
    #[test]
    fn c0105_and_c0106_helps_check_once_pasted() {
        let customer = "record Customer { id: Id, consents: List<Consent> }";
        let cases = [
            // C0105: the person is `person`; `contacts_within` and the ledger are missing.
            (
                "C0105",
                format!(
                    "module m\nuse std.consent.{{consent, marketing, Consent}}\n{}\n\
                     action a(to: Customer, channel: Channel) purpose marketing risk minimal\n\
                     policy p for a(to: person, channel: ch) at t {{\n  \
                     deny \"no-consent\" unless consent(person, marketing, ch)\n  \
                     deny \"quiet-hours-x\" when ch == ch\n  allow \"ok\"\n}}\n",
                    customer
                ),
                "contacts_within(person, 7d)",
            ),
            // C0105: the policy does not bind the person, and `to` is a function's name.
            (
                "C0105",
                "module m\nuse std.consent.{consent, marketing, Consent}\n\
                 use std.contact.{contacts_within, Contact}\n\
                 record Customer { id: Id, consents: List<Consent>, contacts: List<Contact> }\n\
                 fn to(): Int = 3\n\
                 action a(to: Customer) purpose marketing risk minimal\n\
                 policy p for a at t {\n  allow \"ok\"\n}\n"
                    .to_string(),
                "contacts_within(to_2, 7d)",
            ),
            // C0106: the time is `t`, the person `person`; `local_hour` and `tz` are missing.
            (
                "C0106",
                format!(
                    "module m\nuse std.consent.{{consent, service, Consent}}\n{}\n\
                     action a(to: Customer, channel: Channel) purpose service risk minimal\n\
                     policy p for a(to: person, channel: ch) at t {{\n  \
                     deny \"no-consent\" unless consent(person, service, ch)\n  allow \"ok\"\n}}\n",
                    customer
                ),
                "local_hour(t, person.tz)",
            ),
            // C0106: no decision time; `now` is an enum value of the file.
            (
                "C0106",
                "module m\nuse std.consent.{consent, service, Consent}\nuse std.time.local_hour\n\
                 record Customer { id: Id, tz: Tz, consents: List<Consent> }\n\
                 enum When { now, later }\n\
                 action a(to: Customer, channel: Channel, w: When) purpose service risk minimal\n\
                 policy p for a(to: person, channel: ch, w: w) {\n  \
                 deny \"no-consent\" unless consent(person, service, ch)\n  \
                 deny \"later\" when w == later\n  allow \"ok\"\n}\n"
                    .to_string(),
                "local_hour(now_2, person.tz)",
            ),
        ];
        for (code, source, call) in cases {
            let (fixed, help) = with_heuristic_help(&source, code);
            assert!(help.contains(call), "{help}");
            let mut ws = Workspace::new();
            ws.set_file("m.xop", fixed.as_str());
            let left = errors_and(&ws, code);
            assert!(left.is_empty(), "{help}\n{fixed}\n{left:#?}");
        }
    }

    /// The errors of `ws` and its diagnostics `code` (what a help that was followed should
    /// leave none of): code, message and help of each.
    fn errors_and(ws: &Workspace, code: &str) -> Vec<(&'static str, String, Option<String>)> {
        ws.diagnostics()
            .into_iter()
            .filter(|d| d.severity == crate::diagnostic::Severity::Error || d.code == code)
            .map(|d| (d.code, d.message, d.help))
            .collect()
    }

    /// `files` with what the help of their one `code` diagnostic asks for done as a person
    /// reading it would: each quoted `use …` added after the `module` line of the file it is
    /// for (the record's file for C0006, else the diagnostic's), a quoted `deny …` before that
    /// file's `allow`, a quoted "`old` written `new`" rewritten, a field record `R` "needs"
    /// added after its `id: Id`, and for C0006 the purpose added to the field's `@personal`
    /// list under the name the help writes. Also returns the help.
    fn with_help_done(files: &[(&str, &str)], code: &str) -> (Vec<(String, String)>, String) {
        let mut ws = Workspace::new();
        for (path, text) in files {
            ws.set_file(path, *text);
        }
        let diags = ws.diagnostics();
        let errors: Vec<_> = (diags.iter())
            .filter(|d| d.severity == crate::diagnostic::Severity::Error && d.code != code)
            .map(|d| (d.code, &d.message))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let of_code: Vec<_> = diags.iter().filter(|d| d.code == code).collect();
        let [d] = of_code.as_slice() else {
            panic!("not one {code}: {of_code:#?}");
        };
        let help = d.help.clone().unwrap_or_default();
        let target = match code {
            "C0006" => d.secondary[0].file.clone(),
            _ => d.file.clone(),
        };
        let mut out: Vec<(String, String)> = (files.iter())
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        let text = &mut out
            .iter_mut()
            .find(|(p, _)| **p == *target)
            .expect("the help's file")
            .1;
        let quoted: Vec<&str> = help.split('`').skip(1).step_by(2).collect();
        for (i, q) in quoted.iter().enumerate() {
            if q.starts_with("use ") {
                let module = text.find("\nmodule ").map_or(0, |m| m + 1);
                let at = module + text[module..].find('\n').expect("a module line") + 1;
                text.insert_str(at, &format!("{q}\n"));
            } else if q.starts_with("deny ") {
                let at = text.find("  allow ").expect("an allow rule");
                text.insert_str(at, &format!("  {q}\n"));
            } else if let Some(new) = quoted.get(i + 1)
                && help.contains(&format!("`{q}` written `{new}`"))
            {
                *text = text.replacen(q, new, 1);
            } else if help.contains(&format!("needs a field `{q}`")) {
                let record = quoted[i - 1];
                let at = text
                    .find(&format!("record {record} {{"))
                    .expect("the record");
                let at = at + text[at..].find("id: Id").expect("an id field") + "id: Id".len();
                text.insert_str(at, &format!(", {q}"));
            }
        }
        if code == "C0006" {
            let entry = help
                .split_once("written `")
                .or_else(|| help.split_once("add `"))
                .and_then(|(_, rest)| rest.split('`').next())
                .expect("a purpose to add");
            *text = text.replacen("purpose: [", &format!("purpose: [{entry}, "), 1);
        }
        (out, help)
    }

    /// The help of C0005, C0006, C0105 and C0106 is code the project can take as written when
    /// a name it needs is taken: by a binding of the policy (`to: consent, channel:
    /// marketing`; a binding named like the file's own purpose), by a declaration of the file
    /// (its own `purpose marketing`, `fn local_hour`, `record Contact`) or by an import (a
    /// project's `fn consent`). Done as it says, the diagnostic is gone and no error comes.
    #[test]
    fn helps_check_as_written_when_their_names_are_taken() {
        // The policy binds the names of the functions the heuristics' rules call: a callee is
        // never a local, so the rules call them by those names still.
        let bound = "module m\nuse std.consent.{consent, marketing, Consent}\n\
                     use std.time.local_hour\nuse std.contact.{contacts_within, Contact}\n\
                     record Customer { id: Id, consents: List<Consent>, tz: Tz, contacts: List<Contact> }\n\
                     action a(to: Customer, channel: Channel, t: Text, n: Int) purpose marketing risk minimal\n\
                     policy p for a(to: c, channel: ch, t: local_hour, n: contacts_within) at now {\n  \
                     deny \"no-consent\" unless consent(c, marketing, ch)\n  \
                     deny \"odd\" when local_hour == \"x\" or contacts_within > 3\n  allow \"ok\"\n}\n";
        // A binding the guard does not read (`offer: marketing`) hides the purpose too.
        let offer = "module m\nuse std.consent.{consent, marketing, Consent}\n\
                     record Customer { id: Id, consents: List<Consent> }\n\
                     action a(to: Customer, channel: Channel, offer: Text) purpose marketing risk minimal\n\
                     policy p for a(to: c, channel: ch, offer: marketing) {\n  \
                     deny \"quiet-hours-frequency-cap\" when marketing == \"x\"\n  allow \"ok\"\n}\n";
        let cases: [(&str, &[(&str, &str)]); 10] = [
            (
                "C0005",
                &[(
                    "a.xop",
                    include_str!("../../tests/ui/C0005_help_bindings_hide_names.xop"),
                )],
            ),
            (
                "C0005",
                &[(
                    "a.xop",
                    include_str!("../../tests/ui/C0005_help_binding_hides_own_purpose.xop"),
                )],
            ),
            (
                "C0005",
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
            (
                "C0005",
                &[
                    (
                        "a.xop",
                        include_str!("../../tests/ui/C0005_own_consent_function/a.xop"),
                    ),
                    (
                        "lib.xop",
                        include_str!("../../tests/ui/C0005_own_consent_function/lib.xop"),
                    ),
                ],
            ),
            (
                "C0006",
                &[
                    (
                        "a.xop",
                        include_str!("../../tests/ui/C0006_same_name_purpose/a.xop"),
                    ),
                    (
                        "crm.xop",
                        include_str!("../../tests/ui/C0006_same_name_purpose/crm.xop"),
                    ),
                ],
            ),
            (
                "C0105",
                &[(
                    "a.xop",
                    include_str!("../../tests/ui/C0106_help_names_taken.xop"),
                )],
            ),
            (
                "C0106",
                &[(
                    "a.xop",
                    include_str!("../../tests/ui/C0106_help_names_taken.xop"),
                )],
            ),
            ("C0005", &[("m.xop", offer)]),
            ("C0105", &[("m.xop", bound)]),
            ("C0106", &[("m.xop", bound)]),
        ];
        for (code, files) in cases {
            let (done, help) = with_help_done(files, code);
            let mut ws = Workspace::new();
            for (path, text) in &done {
                ws.set_file(path, text.as_str());
            }
            let left = errors_and(&ws, code);
            assert!(left.is_empty(), "{help}\n{done:#?}\n{left:#?}");
        }
    }

    /// A policy of `rules` random rules over few facts (`x == k`, `c.n > 3`, `c.b`, the
    /// channel, two consent facts), by a small generator seeded with `seed`: several
    /// policies guarding one action of risk class `risk`, with denies, allows and reviews
    /// falling back either way, conditions combined with `and`, `or`, `not`, `unless`.
    fn random_policy(seed: u64, risk: &str, rules: usize, values: u64) -> String {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        fn condition(next: &mut impl FnMut(u64) -> u64, values: u64, depth: u32) -> String {
            match next(if depth == 0 { 6 } else { 9 }) {
                0 => format!("x == {}", next(values)),
                1 => "c.n > 3".to_string(),
                2 => "c.b".to_string(),
                3 => "ch == sms".to_string(),
                4 => "consent(c, marketing, ch)".to_string(),
                5 => "consent(c, marketing, sms)".to_string(),
                6 => format!("not ({})", condition(next, values, depth - 1)),
                7 => format!(
                    "({} and {})",
                    condition(next, values, depth - 1),
                    condition(next, values, depth - 1)
                ),
                _ => format!(
                    "({} or {})",
                    condition(next, values, depth - 1),
                    condition(next, values, depth - 1)
                ),
            }
        }
        let mut source = format!(
            "module m\nuse std.consent.{{consent, Consent}}\nuse std.channel.sms\n\
             purpose marketing\nrole desk\n\
             record Customer {{\n  id: Id\n  n: Int\n  b: Bool\n  consents: List<Consent>\n}}\n\
             action act(to: Customer, channel: Channel, x: Int) purpose marketing risk {risk}\n"
        );
        let policies = 1 + next(3);
        for p in 0..policies {
            source.push_str(&format!(
                "policy p{p} for act(to: c, channel: ch, x: x) {{\n"
            ));
            // With many values, denies that force no fact: more than the search takes.
            for k in (0..values).filter(|_| values > 20 && p == 0 && next(2) == 0) {
                source.push_str(&format!("  deny \"w{k}\" when x == {k} and c.n > {k}\n"));
            }
            for i in 0..rules as u64 / policies + 1 {
                let cond = condition(&mut next, values, 2);
                let kind = next(7);
                // A deny that always applies would leave nothing to ask: none is written.
                let when = match next(6) {
                    0 if kind > 2 => String::new(),
                    0 | 1 => format!(" unless {cond}"),
                    _ => format!(" when {cond}"),
                };
                source.push_str(&match kind {
                    0..=2 => format!("  deny \"d{i}\"{when}\n"),
                    3..=4 => format!("  allow \"a{i}\"{when}\n"),
                    5 => format!("  review \"r{i}\" by role desk within 1h else deny{when}\n"),
                    _ => format!("  review \"r{i}\" by role desk within 1h else allow{when}\n"),
                });
            }
            source.push_str("}\n");
        }
        source
    }

    /// The diagnostics of `source`, asking `whole` questions of each action whole before
    /// preparing its rules ([`super::Guarded`]).
    fn diagnostics_asking(source: &str, whole: usize) -> Vec<Diagnostic> {
        super::WHOLE_QUESTIONS_IN_TESTS.with(|w| w.set(Some(whole)));
        let mut ws = Workspace::new();
        ws.set_file("m.xop", source);
        let diags = ws.diagnostics();
        super::WHOLE_QUESTIONS_IN_TESTS.with(|w| w.set(None));
        diags
    }

    /// Whether a rule takes effect, asked of the rules prepared once per action, is answered
    /// as the whole formula answers it: on random policies, every diagnostic (code, message,
    /// label with its example, order) is the same as when every question is asked whole,
    /// and the same when the first question only is. The policies range from a few facts
    /// (examples searched) to many (`x == k` for 40 values: propagated, some too large to
    /// decide), and every finding that shows an example, or says none can be found, comes up.
    #[test]
    fn prepared_questions_give_the_diagnostics_whole_ones_give() {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for seed in 0..240u64 {
            let risk = ["minimal", "high", "prohibited"][(seed % 3) as usize];
            let (rules, values) = if seed % 4 == 3 { (40, 40) } else { (12, 4) };
            let source = random_policy(seed, risk, rules, values);
            let whole = diagnostics_asking(&source, usize::MAX);
            assert!(
                whole
                    .iter()
                    .all(|d| d.severity != crate::diagnostic::Severity::Error
                        || d.code.starts_with('C')),
                "{source}\n{whole:#?}"
            );
            for first in [0, 1] {
                let prepared = diagnostics_asking(&source, first);
                assert_eq!(prepared, whole, "{source}");
            }
            seen.extend(whole.iter().map(|d| d.code));
        }
        for code in [
            "C0001", "C0002", "C0003", "C0005", "C0010", "C0101", "C0102", "C0103",
        ] {
            assert!(seen.contains(code), "no {code} among {seen:?}");
        }
    }

    /// An action's questions past the first few are not asked whole (a formula over every
    /// deny, per allow: quadratic in the rules): the rules are prepared once, and answer the
    /// same.
    #[test]
    fn questions_past_the_first_few_are_not_asked_whole() {
        use crate::logic::{Answer, Formula};
        let denies: Vec<Formula> = (0..100).map(Formula::Atom).collect();
        let mut guard = super::Guarded::new(denies.iter());
        let mut asked_whole = 0;
        for i in 0..10 {
            for (cond, expected) in [(95, Answer::Unsat), (200 + i, Answer::Sat)] {
                let cond = Formula::Atom(cond);
                let whole = || {
                    asked_whole += 1;
                    Formula::and([cond.clone(), Formula::negate(Formula::or(denies.clone()))])
                };
                assert_eq!(
                    guard.ask(std::slice::from_ref(&cond), whole).answer,
                    expected
                );
            }
        }
        assert_eq!(asked_whole, super::WHOLE_QUESTIONS);
    }

    /// The label of the one C0005 of `ws` (the test fails if there are none or several).
    fn the_c0005_label(ws: &Workspace) -> String {
        let labels: Vec<String> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "C0005")
            .map(|d| d.label)
            .collect();
        let [label] = labels.as_slice() else {
            panic!("{labels:?}");
        };
        label.clone()
    }

    /// A purpose whose name another declaration has too (two modules' `purpose marketing`,
    /// besides `std.consent`'s) is named in C0005's headline, and in its label on the action,
    /// qualified as the help's `use` line names it, so that the author can tell which; one
    /// imported under another name is named so too, not by a file's alias. A purpose whose
    /// name no other declaration has is named as declared.
    #[test]
    fn the_c0005_headline_qualifies_a_purpose_named_like_another() {
        let mut ws = Workspace::new();
        for (path, text) in [
            (
                "crm.xop",
                include_str!("../../tests/ui/C0005_headline_qualifies_alike_purposes/crm.xop"),
            ),
            (
                "shop.xop",
                include_str!("../../tests/ui/C0005_headline_qualifies_alike_purposes/shop.xop"),
            ),
            (
                "leads.xop",
                include_str!("../../tests/ui/C0005_headline_qualifies_alike_purposes/leads.xop"),
            ),
        ] {
            ws.set_file(path, text);
        }
        let diags: Vec<Diagnostic> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "C0005")
            .collect();
        let of = |action: &str| {
            let found: Vec<&Diagnostic> = (diags.iter())
                .filter(|d| d.message.starts_with(&format!("`{action}` ")))
                .collect();
            let [d] = found.as_slice() else {
                panic!("not one C0005 of `{action}`: {diags:#?}");
            };
            *d
        };
        let headline = |action: &str, purpose: &str| {
            format!(
                "`{action}` can reach a person without consent for `{purpose}` on the channel used"
            )
        };
        // The CRM's `marketing`, which the policy's file must import under an alias.
        let offer = of("send_offer");
        let help = offer.help.as_deref().unwrap_or_default();
        let imported = help
            .split_once("`use ")
            .and_then(|(_, rest)| rest.split_once(" as "))
            .map(|(qualified, _)| qualified)
            .unwrap_or_else(|| panic!("no `use … as` in {help}"));
        assert_eq!(imported, "ui.c0005.alike_purposes.crm.marketing");
        assert_eq!(offer.message, headline("send_offer", imported));
        assert!(
            offer.secondary[0]
                .message
                .starts_with(&format!("`send_offer` has purpose `{imported}` ")),
            "{:?}",
            offer.secondary
        );
        // The shop's `marketing`, which the action's file imports as `promo`.
        let lead = of("send_lead");
        assert_eq!(
            lead.message,
            headline("send_lead", "ui.c0005.alike_purposes.shop.marketing")
        );
        // A purpose no other declaration is named like.
        let mut ws = Workspace::new();
        ws.set_file(
            "crm.xop",
            include_str!("../../tests/ui/C0005_headline_qualifies_alike_purposes/crm.xop")
                .replace("marketing", "outreach")
                .as_str(),
        );
        ws.set_file(
            "p.xop",
            "module p\nuse ui.c0005.alike_purposes.crm.send_offer\n\
             policy offers for send_offer(to: c, channel: ch) { allow \"ok\" }\n",
        );
        let diags: Vec<Diagnostic> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.code == "C0005")
            .collect();
        let [d] = diags.as_slice() else {
            panic!("{diags:#?}");
        };
        assert_eq!(d.message, headline("send_offer", "outreach"));
    }

    /// Where two facts of an example would read the same (`consent(c, marketing, ch)` in two
    /// files whose `marketing` are two purposes), each is shown with the names of
    /// declarations qualified; a fact that reads like no other is shown as written.
    #[test]
    fn facts_that_read_alike_are_shown_qualified() {
        let mut ws = Workspace::new();
        ws.set_file(
            "a.xop",
            include_str!("../../tests/ui/C0005_example_qualifies_alike_facts/a.xop"),
        );
        ws.set_file(
            "b.xop",
            include_str!("../../tests/ui/C0005_example_qualifies_alike_facts/b.xop"),
        );
        let label = the_c0005_label(&ws);
        for shown in [
            "`consent(c, std.consent.marketing, ch)` is false",
            "`consent(c, ui.c0005.alike.a.marketing, ch)` is true",
            "`c.id == \"x\"` is false",
        ] {
            assert!(label.contains(shown), "{label}");
        }
        // Two aliases `mk`, of purposes named otherwise.
        let mut ws = Workspace::new();
        ws.set_file("p.xop", "module p\npurpose promo\npurpose offer\n");
        ws.set_file(
            "b.xop",
            "module b\nuse std.consent.{consent, Consent}\nuse p.offer as mk\n\
             record Customer { id: Id, consents: List<Consent> }\n\
             action send(to: Customer, channel: Channel) purpose mk risk minimal\n\
             policy offers for send(to: c, channel: ch) { allow \"y\" unless consent(c, mk, ch) }\n",
        );
        ws.set_file(
            "a.xop",
            "module a\nuse std.consent.consent\nuse p.promo as mk\nuse b.send\n\
             policy leads for send(to: c, channel: ch) { deny \"x\" unless consent(c, mk, ch) }\n",
        );
        let label = the_c0005_label(&ws);
        for shown in [
            "`consent(c, p.offer, ch)` is false",
            "`consent(c, p.promo, ch)` is true",
        ] {
            assert!(label.contains(shown), "{label}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// A text's key is what `{:?}` writes, with or without the shortcut.
        #[test]
        fn text_keys_are_their_debug_form(t in "[a \"\\\\\n\t\x01é\u{301}]{0,6}") {
            let mut key = String::new();
            let lit = crate::ast::Literal::Text(t);
            super::literal_key(&lit, &mut key);
            prop_assert_eq!(key, format!("{lit:?}"));
        }
    }
}
