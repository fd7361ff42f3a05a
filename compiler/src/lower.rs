//! Lowering: a checked project to the runtime's IR ([`xop_runtime::ir::Program`]).
//!
//! Every name becomes an index, user functions are inlined (they cannot recurse, E0209), test
//! `let`s are substituted, record values in tests get their defaults, and a policy written for
//! a purpose is lowered once per action of that purpose (named `policy@action`). Lowering is
//! only run on a project without errors; what it still cannot lower is reported as a message.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rust_decimal::Decimal;
use rustc_hash::FxHashMap as HashMap;
use xop_runtime::ir::{self, Expr as IExpr, Program, SymbolKind};
use xop_runtime::value::Value;

use crate::ast::{self, BinOp, ExprKind, ItemKind, Literal, Target, UnOp};
use crate::db::{Db, Project, SourceFile, item_ast, parse_file};
use crate::resolve::{self, Def, DefKind, Lookup, Signature};
use crate::types::{self, Checker, Env, Ty, duration_value};

/// Lowers the whole project (standard library included) to one program.
pub fn lower(db: &dyn Db, project: Project) -> Result<Program, Vec<String>> {
    // A record that contains itself (E0217) has no finite default value (`..` in a test would
    // build one forever): such a program is refused here too, not only by the checker.
    let recursive = recursive_records(db, project);
    if !recursive.is_empty() {
        return Err(recursive);
    }
    let l = lowered(db, project);
    if l.errors.is_empty() {
        Ok(l.program)
    } else {
        Err(l.errors)
    }
}

/// Every part of the project lowered, in the order each needs the last.
fn lowered(db: &dyn Db, project: Project) -> Lowering<'_> {
    let mut l = Lowering::new(db, project);
    l.declarations();
    l.policies();
    l.decisions();
    l.agents();
    l.tests();
    l.depths();
    l
}

/// Each rule, proposal, test and signal lowered, with the nodes it built.
/// Whether lowering types the left operand of `a op b` on its own: not for `and`, `or` and
/// arithmetic, which do not need it (and typing it again is a sizeable part of lowering), nor
/// for a comparison with a literal other than a text (which can be an Id or a zone), which is
/// the same value whatever it is compared with. The checker's size measure follows it
/// (`inlining`).
pub(crate) fn types_left_alone(op: BinOp, b: &ast::Expr) -> bool {
    let plain_literal =
        matches!(&strip(b).kind, ExprKind::Lit(l) if !matches!(l, Literal::Text(_)));
    match op {
        BinOp::And | BinOp::Or | BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            false
        }
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => !plain_literal,
        BinOp::In | BinOp::NotIn | BinOp::Default => true,
    }
}

/// Whether the left operand of `a op b` has less of a type of its own than the right one
/// (`"x" == c.id`, `"UTC" in c.zones`, `[] == xs`), and is typed by it, as the checker types
/// it: a text literal is built as the `Id` or `Tz` it stands for there.
pub(crate) fn typed_by_right(op: BinOp, a: &ast::Expr, b: &ast::Expr) -> bool {
    matches!(op, BinOp::Eq | BinOp::Ne | BinOp::In | BinOp::NotIn)
        && types::literal_rank(a) < types::literal_rank(b)
        && !matches!(strip(b).kind, ExprKind::Range { .. })
}

/// The type the left operand of `a op b` takes from the right one's, `right`
/// ([`typed_by_right`]): the same for `==` and `!=`, the element type for `in`.
pub(crate) fn left_from_right(op: BinOp, right: &Ty) -> Ty {
    match (op, right.present()) {
        (BinOp::Eq | BinOp::Ne, t) => t.clone(),
        (_, Ty::List(t) | Ty::Set(t)) => (**t).clone(),
        _ => Ty::Unknown,
    }
}

#[cfg(test)]
pub(crate) type BuiltLog = Vec<(String, u64)>;

/// [`lower`], and its [`BuiltLog`].
#[cfg(test)]
pub(crate) fn lower_logged(
    db: &dyn Db,
    project: Project,
) -> (Result<Program, Vec<String>>, BuiltLog) {
    let mut l = lowered(db, project);
    let log = std::mem::take(&mut l.built_log);
    if l.errors.is_empty() {
        (Ok(l.program), log)
    } else {
        (Err(l.errors), log)
    }
}

/// The names that occur more than once in `names`: short names that several declarations
/// (in different modules) share.
fn shared_names<'n>(names: impl IntoIterator<Item = &'n str>) -> BTreeSet<&'n str> {
    let mut seen = BTreeSet::new();
    names.into_iter().filter(|n| !seen.insert(*n)).collect()
}

/// What lowering says about each record that contains itself (E0217), in declaration order.
fn recursive_records(db: &dyn Db, project: Project) -> Vec<String> {
    let cycles = crate::check::record_cycles(db, project);
    let mut out = Vec::new();
    for &file in project.files(db) {
        for def in resolve::item_table(db, file).by_name.values() {
            if def.kind == DefKind::Record && cycles.contains_key(&(def.file, def.index)) {
                out.push(format!(
                    "record `{}` contains itself (E0217): run `xop check`",
                    def.qualified(db)
                ));
            }
        }
    }
    out
}

struct Lowering<'a> {
    db: &'a dyn Db,
    project: Project,
    program: Program,
    /// Record and enum declarations → their index.
    /// (Keyed by where they are declared: a qualified name is two allocations to build, and
    /// every field access asks.)
    records: HashMap<(SourceFile, u32), u32>,
    enums: HashMap<(SourceFile, u32), u32>,
    signals: BTreeMap<String, u32>,
    errors: Vec<String>,
    /// Each source text's line starts (by address and length), for rules' positions.
    lines: std::cell::RefCell<HashMap<(usize, usize), crate::render::Lines>>,
    /// Each file's scope (asking salsa interns the (project, file) pair every time, and
    /// lowering asks at every expression node) and, once needed, its type checker (kept for
    /// the signatures it has looked up).
    files: std::cell::RefCell<Vec<FileCx<'a>>>,
    /// The functions being inlined, outermost first.
    inlining: Vec<String>,
    /// The rule, proposal, test or signal being lowered (as its message names it), and how
    /// many IR nodes lowering it has built: see [`MAX_BUILT`].
    item: String,
    built: u64,
    /// Whether it built more than [`MAX_BUILT`]: what is left of it is not lowered.
    over: bool,
    /// Each item lowered and what it built.
    #[cfg(test)]
    built_log: Vec<(String, u64)>,
}

/// The most function calls lowering inlines inside one another. Every inlined body adds at
/// least one level to the rule's expression, and the engines evaluate at most 256
/// (`xop_runtime::interp::MAX_DEPTH`), so a deeper chain could never be decided; stopping here
/// also keeps lowering's own recursion short (a chain of 20,000 calls overflowed the stack).
pub const MAX_INLINING: usize = 64;

/// The most IR nodes lowering builds for one rule, proposal, test or signal: one for each
/// expression it lowers (but parentheses) and each node of an argument it copies into an
/// inlined body, as the checker counts them ([`crate::inlining::MAX_INLINED`], E0220). A bit
/// above the checker's limit: a checked program never meets it, and one the checker missed
/// is refused here rather than inlined for minutes (a chain of functions that each call a
/// function, or read a parameter, twice doubles what it builds at each step).
pub const MAX_BUILT: u64 = crate::inlining::MAX_INLINED + crate::inlining::MAX_INLINED / 2;

/// How deep a lowered expression may be: what the engines evaluate.
const MAX_DEPTH: u32 = xop_runtime::interp::MAX_DEPTH;

/// What lowering keeps of one file: see [`Lowering::files`].
struct FileCx<'a> {
    file: SourceFile,
    scope: &'a resolve::Scope,
    checker: Option<Checker<'a>>,
}

/// How a name reads inside the expression being lowered.
#[derive(Clone)]
enum Local {
    /// A frame slot.
    Slot(u32),
    /// An inlined function's parameter: the argument's expression itself (copied at each
    /// read), and how many nodes it is.
    Inline(std::rc::Rc<IExpr>, u64),
    /// A test's `let`: lowered where it is used, against the type expected there (a record
    /// value has no type of its own), with the names visible where it was written (a later
    /// `let` of the same name must not capture the names it reads).
    Deferred(Box<(ast::Expr, Frame)>),
}

impl Local {
    /// An inlined function's parameter standing for `x`.
    #[inline(never)]
    fn inline(x: IExpr) -> Local {
        let n = nodes(&x);
        Local::Inline(std::rc::Rc::new(x), n)
    }
}

/// The names visible where an expression is lowered, and their types.
#[derive(Clone, Default)]
struct Frame {
    locals: BTreeMap<String, Local>,
    env: Env,
}

fn index(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Binds the decision time (`at now`) to the next free slot.
fn bind_now(frame: &mut Frame, slots: &mut u32, at: &ast::Ident) -> u32 {
    let s = *slots;
    *slots += 1;
    frame.locals.insert(at.name.clone(), Local::Slot(s));
    frame.env.bind(&at.name, Ty::Time, at.span);
    s
}

impl<'a> Lowering<'a> {
    fn new(db: &'a dyn Db, project: Project) -> Self {
        Lowering {
            db,
            project,
            program: Program::default(),
            records: HashMap::default(),
            enums: HashMap::default(),
            signals: BTreeMap::new(),
            errors: Vec::new(),
            lines: std::cell::RefCell::new(HashMap::default()),
            files: std::cell::RefCell::new(Vec::new()),
            inlining: Vec::new(),
            item: String::new(),
            built: 0,
            over: false,
            #[cfg(test)]
            built_log: Vec::new(),
        }
    }

    /// The line and column of byte `offset` of `text` (a source file's text).
    fn position(&self, text: &str, offset: usize) -> crate::render::Position {
        let key = (text.as_ptr() as usize, text.len());
        self.lines
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| crate::render::Lines::new(text))
            .position(text, offset)
    }

    /// A frame with `params` in slots `0..n`, and their IR form.
    fn param_frame(&mut self, params: &[resolve::TypedParam]) -> (Frame, Vec<ir::Param>) {
        let mut frame = Frame::default();
        let mut ir_params = Vec::new();
        for (i, p) in params.iter().enumerate() {
            frame
                .locals
                .insert(p.name.to_string(), Local::Slot(index(i)));
            frame.env.bind(&p.name, p.ty.clone(), p.span);
            ir_params.push(ir::Param {
                name: p.name.to_string(),
                ty: self.ty(&p.ty),
            });
        }
        (frame, ir_params)
    }

    /// The program's index of record type `def` (`u32::MAX` if unknown: a checked project has
    /// every record indexed, and the runtime refuses an out-of-range index).
    fn record_index(&self, def: &Def) -> u32 {
        self.records
            .get(&(def.file, def.index))
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// The program's index of enum type `def` (`u32::MAX` if unknown).
    fn enum_index(&self, def: &Def) -> u32 {
        self.enums
            .get(&(def.file, def.index))
            .copied()
            .unwrap_or(u32::MAX)
    }

    fn defs(&self, kind: DefKind) -> Vec<Def> {
        let mut out = Vec::new();
        for &f in self.project.files(self.db) {
            out.extend(
                resolve::item_table(self.db, f)
                    .by_name
                    .values()
                    .filter(|d| d.kind == kind)
                    .cloned(),
            );
        }
        out
    }

    fn declarations(&mut self) {
        let (db, project) = (self.db, self.project);
        for def in self.defs(DefKind::Record) {
            let at = index(self.records.len());
            self.records.insert((def.file, def.index), at);
        }
        for def in self.defs(DefKind::Enum) {
            let at = index(self.enums.len());
            self.enums.insert((def.file, def.index), at);
            let variants = match resolve::signature(db, project, def.file, def.index) {
                Signature::Enum(vs) => vs.iter().map(|v| v.to_string()).collect(),
                _ => Vec::new(),
            };
            self.program.enums.push(ir::EnumType {
                name: def.qualified(db),
                variants,
            });
        }
        // Record fields after every index is known (fields may name records declared later).
        for def in self.defs(DefKind::Record) {
            let fields = match resolve::signature(db, project, def.file, def.index).clone() {
                Signature::Record(fs) => fs,
                _ => Vec::new(),
            };
            let personal: BTreeSet<String> =
                match item_ast(db, def.file, def.index).as_ref().map(|i| &i.kind) {
                    Some(ItemKind::Record(r)) => r
                        .fields
                        .iter()
                        .filter(|f| crate::compliance::personal_annotation(f).is_some())
                        .map(|f| f.name.name.clone())
                        .collect(),
                    _ => BTreeSet::new(),
                };
            let mut out = Vec::new();
            for f in fields {
                let ty = self.ty(&f.ty);
                out.push(ir::Field {
                    name: f.name.to_string(),
                    ty,
                    personal: personal.contains(&*f.name),
                });
            }
            self.program.records.push(ir::RecordType {
                name: def.qualified(db),
                fields: out,
            });
        }
        for (kind, sk) in [
            (DefKind::Channel, SymbolKind::Channel),
            (DefKind::Purpose, SymbolKind::Purpose),
            (DefKind::Role, SymbolKind::Role),
        ] {
            for def in self.defs(kind) {
                self.program.symbols.push(ir::Symbol {
                    kind: sk,
                    name: def.name.to_string(),
                    qualified: def.qualified(db),
                });
            }
        }
        for def in self.defs(DefKind::Signal) {
            self.signals
                .insert(def.qualified(db), index(self.signals.len()));
        }
        for def in self.defs(DefKind::Signal) {
            let signal = self.signal(&def);
            self.program.signals.push(signal);
        }
    }

    fn ty(&mut self, t: &Ty) -> ir::Type {
        match t {
            Ty::Bool => ir::Type::Bool,
            Ty::Int => ir::Type::Int,
            Ty::Decimal => ir::Type::Decimal,
            Ty::Money => ir::Type::Money,
            Ty::Text => ir::Type::Text,
            Ty::Duration => ir::Type::Duration,
            Ty::Time => ir::Type::Time,
            Ty::Tz => ir::Type::Tz,
            Ty::Id => ir::Type::Id,
            Ty::Channel => ir::Type::Symbol(SymbolKind::Channel),
            Ty::Purpose => ir::Type::Symbol(SymbolKind::Purpose),
            Ty::Role => ir::Type::Symbol(SymbolKind::Role),
            Ty::Record(d) => ir::Type::Record(self.record_index(d)),
            Ty::Enum(d) => ir::Type::Enum(self.enum_index(d)),
            Ty::List(t) => ir::Type::List(Box::new(self.ty(t))),
            Ty::Set(t) => ir::Type::Set(Box::new(self.ty(t))),
            Ty::Optional(t) => ir::Type::Optional(Box::new(self.ty(t))),
            Ty::Range(_) | Ty::Open(_) | Ty::Unknown => {
                self.errors
                    .push(format!("internal: type `{t}` has no run-time form"));
                ir::Type::Bool
            }
        }
    }

    fn signal(&mut self, def: &Def) -> ir::SignalDecl {
        let (db, project) = (self.db, self.project);
        let (params, ret) = match resolve::signature(db, project, def.file, def.index).clone() {
            Signature::Callable { params, ret } => (params, ret),
            _ => (Vec::new(), Ty::Unknown),
        };
        let (frame, ir_params) = self.param_frame(&params);
        let item = item_ast(db, def.file, def.index).clone();
        let (source, args, max_age) = match item.as_ref().map(|i| &i.kind) {
            Some(ItemKind::Signal(s)) => {
                let source_def = resolve::resolve_path(db, project, def.file, &s.source);
                let source = match &source_def {
                    Some(d) => d.qualified(db),
                    None => s.source.dotted(),
                };
                let mut slots = index(params.len());
                self.start_item(format!("signal `{}`", def.name));
                // In the connector's parameter order (an argument may be given by name), each
                // of its parameter's type (a text literal given for an `Id` is an `Id`).
                let source_params = match source_def
                    .map(|d| resolve::signature(db, project, d.file, d.index).clone())
                {
                    Some(Signature::Callable { params, .. }) => params,
                    _ => Vec::new(),
                };
                let args = if source_params.is_empty() {
                    s.source_args
                        .iter()
                        .map(|a| self.expr(def.file, &frame, &mut slots, &a.value, None))
                        .collect()
                } else {
                    let ordered = in_parameter_order(&source_params, None, &s.source_args);
                    source_params
                        .iter()
                        .zip(&ordered)
                        .map(|(p, a)| match a {
                            Some(x) => self.expr(def.file, &frame, &mut slots, x, Some(&p.ty)),
                            None => IExpr::Const(Value::Absent),
                        })
                        .collect()
                };
                // Written with literals (the checker refuses anything else, E0316).
                let max_age = s.max_age.as_ref().map(|m| match duration_value(m) {
                    Some(ms) => ms,
                    None => {
                        self.errors.push(format!(
                            "signal `{}`: `max_age` is not a duration known when compiled (E0316): run `xop check`",
                            def.name
                        ));
                        0
                    }
                });
                (source, args, max_age)
            }
            _ => (String::new(), Vec::new(), None),
        };
        let ty = self.ty(ret.present());
        ir::SignalDecl {
            name: def.qualified(db),
            params: ir_params,
            ty,
            source,
            source_args: args,
            max_age_ms: max_age,
        }
    }

    /// The policies in the order they are evaluated (language.md §8.2): by module name, then
    /// as declared. Which review's terms lead and where a run-time error stops an action's
    /// decision depend on it, so it must not follow the names of the policies.
    fn policies_in_order(&self) -> Vec<Def> {
        let (db, project) = (self.db, self.project);
        let index = resolve::module_index(db, project);
        let mut files: Vec<SourceFile> = index.by_name.values().copied().collect();
        for &f in project.files(db) {
            if !files.contains(&f) {
                files.push(f);
            }
        }
        let mut out = Vec::new();
        for f in files {
            let mut defs: Vec<Def> = resolve::item_table(db, f)
                .by_name
                .values()
                .filter(|d| d.kind == DefKind::Policy)
                .cloned()
                .collect();
            defs.sort_by_key(|d| d.index);
            out.extend(defs);
        }
        out
    }

    fn policies(&mut self) {
        let (db, project) = (self.db, self.project);
        let mut lowered = Vec::new();
        for def in self.policies_in_order() {
            let Some(item) = item_ast(db, def.file, def.index).as_ref() else {
                continue;
            };
            let ItemKind::Policy(p) = &item.kind else {
                continue;
            };
            let actions: Vec<Def> = match &p.target {
                Target::Action(path) => resolve::resolve_path(db, project, def.file, path)
                    .into_iter()
                    .collect(),
                Target::Purpose(name) => {
                    match resolve::file_scope(db, project, def.file).lookup(db, &name.name) {
                        Lookup::Found(e) => {
                            crate::check::purpose_actions(db, project, &e.def, &p.bindings)
                        }
                        _ => Vec::new(),
                    }
                }
            };
            if !actions.is_empty() {
                lowered.push((def, p, actions));
            }
        }
        // Rule ids name their policy by its short name, unless another policy of the program
        // has it too (in another module): then by its qualified name, so that an id names one
        // rule of one policy (language.md §8.2).
        let shared = shared_names(lowered.iter().map(|(def, _, _)| &*def.name));
        for (def, p, actions) in &lowered {
            let purpose_policy = matches!(p.target, Target::Purpose(_));
            let id_prefix = if shared.contains(&*def.name) {
                def.qualified(db)
            } else {
                def.name.to_string()
            };
            for action in actions {
                let policy = self.policy(def, p, action, purpose_policy, &id_prefix);
                self.program.policies.push(policy);
            }
        }
    }

    fn policy(
        &mut self,
        def: &Def,
        p: &ast::Policy,
        action: &Def,
        purpose_policy: bool,
        id_prefix: &str,
    ) -> ir::Policy {
        let (db, project) = (self.db, self.project);
        let params = match resolve::signature(db, project, action.file, action.index).clone() {
            Signature::Action { params, .. } => params,
            _ => Vec::new(),
        };
        let mut frame = Frame::default();
        let mut ir_params = Vec::new();
        for (i, param) in params.iter().enumerate() {
            ir_params.push(ir::Param {
                name: param.name.to_string(),
                ty: self.ty(&param.ty),
            });
            if let Some(b) = p.bindings.iter().find(|b| *b.param.name == *param.name) {
                frame
                    .locals
                    .insert(b.var.name.clone(), Local::Slot(index(i)));
                frame.env.bind(&b.var.name, param.ty.clone(), b.var.span);
            }
        }
        let mut slots = index(params.len());
        let now_slot = p.at.as_ref().map(|at| bind_now(&mut frame, &mut slots, at));
        let text = def.file.text(db);
        let path = def.file.path(db).to_string();
        let mut rules = Vec::new();
        for (i, rule) in p.rules.iter().enumerate() {
            let ast::Rule::Rule {
                kind,
                reason,
                condition,
                span,
            } = rule
            else {
                continue;
            };
            self.start_item(format!("rule `{id_prefix}#{}`", i + 1));
            let condition = condition.as_ref().map(|c| {
                let e = self.expr(def.file, &frame, &mut slots, &c.expr, Some(&Ty::Bool));
                if c.negated {
                    IExpr::Not(Box::new(e))
                } else {
                    e
                }
            });
            let (verdict, review) = match kind {
                ast::RuleKind::Deny => (ir::Verdict::Deny, None),
                ast::RuleKind::Allow => (ir::Verdict::Allow, None),
                ast::RuleKind::Review {
                    role,
                    within,
                    fallback,
                    ..
                } => {
                    let within_ms = match duration_value(within) {
                        Some(ms) => ms,
                        None => {
                            self.errors.push(format!(
                                "{path}: `within` of rule {} is not a duration known when compiled (E0316): run `xop check`",
                                i + 1
                            ));
                            0
                        }
                    };
                    let fallback = if *fallback == ast::Verdict::Allow {
                        ir::Verdict::Allow
                    } else {
                        ir::Verdict::Deny
                    };
                    (
                        ir::Verdict::Review,
                        Some(ir::Review {
                            role: role.name.clone(),
                            within_ms,
                            fallback,
                            also: Vec::new(),
                        }),
                    )
                }
            };
            let pos = self.position(text, span.start());
            rules.push(ir::Rule {
                id: format!("{id_prefix}#{}", i + 1),
                verdict,
                reason: reason.as_ref().map(|r| r.value.clone()),
                condition,
                review,
                source: ir::SourceRef {
                    file: path.clone(),
                    line: index(pos.line),
                    column: index(pos.column),
                    text: text.get(span.range()).unwrap_or("").to_string(),
                },
            });
        }
        let name = if purpose_policy {
            format!("{}@{}", def.name, action.name)
        } else {
            def.name.to_string()
        };
        ir::Policy {
            qualified: format!("{}.{}", resolve::module_name(db, def.file), name),
            name,
            action: action.qualified(db),
            params: ir_params,
            now_slot,
            slots,
            rules,
        }
    }

    /// The index of `file` in [`Lowering::files`] (added on first use), and its scope.
    fn file_cx(&self, file: SourceFile) -> (usize, &'a resolve::Scope) {
        let mut files = self.files.borrow_mut();
        if let Some(i) = files.iter().position(|f| f.file == file) {
            return (i, files[i].scope);
        }
        let scope = resolve::file_scope(self.db, self.project, file);
        files.push(FileCx {
            file,
            scope,
            checker: None,
        });
        (files.len() - 1, scope)
    }

    /// The scope of `file`.
    fn scope(&self, file: SourceFile) -> &'a resolve::Scope {
        self.file_cx(file).1
    }

    fn checker_type(
        &self,
        file: SourceFile,
        frame: &Frame,
        e: &ast::Expr,
        expected: Option<&Ty>,
    ) -> Ty {
        // A local (a policy's parameter, most often the receiver of a field read) has the
        // type it was bound with, which is all the checker would look up.
        if let ExprKind::Name(n) = &e.kind
            && let Some(t) = frame.env.get(&n.name)
        {
            return t.clone();
        }
        let (i, scope) = self.file_cx(file);
        let mut files = self.files.borrow_mut();
        let c = files[i]
            .checker
            .get_or_insert_with(|| Checker::new(self.db, self.project, file, scope));
        // The file's check reports its errors; lowering wants only the type.
        c.diags.clear();
        c.expr(&frame.env, &BTreeSet::new(), e, expected)
    }

    /// `expected`, or else the type the checker gives `e` where `frame` is visible, if it is
    /// known: what a value built of literals (a text for an `Id`, a record value) is built as.
    fn expected_or_checked(
        &self,
        file: SourceFile,
        frame: &Frame,
        e: &ast::Expr,
        expected: Option<&Ty>,
    ) -> Option<Ty> {
        match expected {
            Some(t) => Some(t.clone()),
            None => Some(self.checker_type(file, frame, e, None)).filter(|t| *t != Ty::Unknown),
        }
    }

    fn symbol(&self, def: &Def) -> Option<u32> {
        let q = def.qualified(self.db);
        self.program
            .symbols
            .iter()
            .position(|s| s.qualified == q)
            .map(index)
    }

    /// Starts lowering rule, proposal, test or signal `item` (as a message names it): the
    /// budget of [`MAX_BUILT`] nodes is its own.
    fn start_item(&mut self, item: String) {
        #[cfg(test)]
        self.built_log.push((item.clone(), 0));
        self.item = item;
        self.built = 0;
        self.over = false;
    }

    /// Counts `n` nodes built for the current item: false, and one message, once it has built
    /// more than [`MAX_BUILT`].
    fn build(&mut self, n: u64) -> bool {
        if self.over {
            return false;
        }
        self.built = self.built.saturating_add(n);
        #[cfg(test)]
        if let Some((_, b)) = self.built_log.last_mut() {
            *b = self.built;
        }
        if self.built > MAX_BUILT {
            self.over = true;
            self.errors.push(format!(
                "{}: inlining its function calls builds more than {MAX_BUILT} expression nodes (E0220): XOP inlines each call, with a copy of each argument for each read of its parameter; bind the value once (compute it in a rule condition or pass it already computed) and call fewer functions in each body: run `xop check`",
                self.item
            ));
            return false;
        }
        true
    }

    /// Counts the node lowering `e` builds (none for parentheses): whether the item is past
    /// its budget. Not inlined, as [`Lowering::copy`]: `expr` recurses, and its frame is kept
    /// small.
    #[inline(never)]
    fn spent(&mut self, e: &ast::Expr) -> bool {
        !matches!(e.kind, ExprKind::Paren(_)) && !self.build(1)
    }

    /// A copy of an inlined function's argument `x`, of `n` nodes, for a read of its
    /// parameter; a constant past the item's budget.
    #[inline(never)]
    fn copy(&mut self, x: &IExpr, n: u64) -> IExpr {
        if self.build(n) {
            x.clone()
        } else {
            IExpr::Const(Value::Absent)
        }
    }

    /// Lowers an expression written in `file`. `slots` is the next free frame slot.
    fn expr(
        &mut self,
        file: SourceFile,
        frame: &Frame,
        slots: &mut u32,
        e: &ast::Expr,
        expected: Option<&Ty>,
    ) -> IExpr {
        let db = self.db;
        // Every node counts towards the item's budget; past it, nothing more is lowered.
        if self.spent(e) {
            return IExpr::Const(Value::Absent);
        }
        let scope = self.scope(file);
        match &e.kind {
            ExprKind::Paren(x) => self.expr(file, frame, slots, x, expected),
            ExprKind::Lit(l) => IExpr::Const(self.literal(l, expected)),
            ExprKind::Name(n) => {
                if let Some(local) = frame.locals.get(&n.name) {
                    return match local {
                        Local::Slot(s) => IExpr::Slot(*s),
                        Local::Inline(x, n) => self.copy(x, *n),
                        Local::Deferred(deferred) => {
                            let (x, written) = deferred.as_ref().clone();
                            self.expr(file, &written, slots, &x, expected)
                        }
                    };
                }
                if let Lookup::Found(entry) = scope.lookup(db, &n.name)
                    && let Some(s) = self.symbol(&entry.def)
                {
                    return IExpr::Const(Value::Symbol(s));
                }
                if let Some(enums) = scope.variants.get(n.name.as_str())
                    && let Some(def) = enums.first()
                {
                    return self.variant(def, &n.name);
                }
                self.errors.push(format!("cannot lower name `{}`", n.name));
                IExpr::Const(Value::Absent)
            }
            ExprKind::Field(recv, f) => {
                if let ExprKind::Name(n) = &recv.kind
                    && !frame.locals.contains_key(&n.name)
                    && let Lookup::Found(entry) = scope.lookup(db, &n.name)
                    && entry.def.kind == DefKind::Enum
                {
                    return self.variant(&entry.def, &f.name);
                }
                let t = self.checker_type(file, frame, recv, None);
                let inner = self.expr(file, frame, slots, recv, None);
                match t.present() {
                    Ty::Record(d) => {
                        let rid = self.record_index(d);
                        let fi = self
                            .program
                            .records
                            .get(rid as usize)
                            .and_then(|r| r.field(&f.name))
                            .unwrap_or(usize::MAX);
                        IExpr::Field(Box::new(inner), index(fi))
                    }
                    other => {
                        self.errors
                            .push(format!("cannot lower field `.{}` of `{other}`", f.name));
                        IExpr::Const(Value::Absent)
                    }
                }
            }
            ExprKind::Unary(UnOp::Not, x) => {
                IExpr::Not(Box::new(self.expr(file, frame, slots, x, Some(&Ty::Bool))))
            }
            ExprKind::Unary(UnOp::Neg, x) => {
                IExpr::Neg(Box::new(self.expr(file, frame, slots, x, expected)))
            }
            ExprKind::Is { expr, present } => {
                let x = IExpr::IsPresent(Box::new(self.expr(file, frame, slots, expr, None)));
                if *present { x } else { IExpr::Not(Box::new(x)) }
            }
            ExprKind::If(c, a, b) => {
                // Where nothing is expected, the branches have the `if`'s type: a branch may
                // take it from the other (`(if u then f(x) else { .. }) == y`).
                let typed = self.expected_or_checked(file, frame, e, expected);
                let expected = typed.as_ref();
                IExpr::If(
                    Box::new(self.expr(file, frame, slots, c, Some(&Ty::Bool))),
                    Box::new(self.expr(file, frame, slots, a, expected)),
                    Box::new(self.expr(file, frame, slots, b, expected)),
                )
            }
            ExprKind::Binary(op, a, b) => self.binary(file, frame, slots, *op, a, b),
            ExprKind::Range { .. } => {
                self.errors
                    .push("a range can only stand right of `in`".to_string());
                IExpr::Const(Value::Absent)
            }
            ExprKind::List(xs) | ExprKind::Set(xs) => {
                // Where nothing is expected, the elements have the type the checker gives the
                // collection: an element may take it from another (`[c.id, "x"]` is a list of
                // `Id`s, `[f(x), { .. }]` of records).
                let typed = self.expected_or_checked(file, frame, e, expected);
                let elem = match typed.as_ref().map(Ty::present) {
                    Some(Ty::List(t) | Ty::Set(t)) => Some((**t).clone()),
                    _ => None,
                };
                let items = xs
                    .iter()
                    .map(|x| self.expr(file, frame, slots, x, elem.as_ref()))
                    .collect();
                if matches!(e.kind, ExprKind::Set(_))
                    || matches!(expected.map(Ty::present), Some(Ty::Set(_)))
                {
                    IExpr::Set(items)
                } else {
                    IExpr::List(items)
                }
            }
            ExprKind::Record { fields, rest } => {
                self.record(file, frame, slots, fields, *rest, expected)
            }
            ExprKind::Call {
                callee,
                receiver,
                args,
            } => self.call(file, frame, slots, callee, receiver.as_deref(), args),
            ExprKind::Lambda(..) | ExprKind::Error => {
                self.errors
                    .push("internal: a lambda or an error node reached lowering".to_string());
                IExpr::Const(Value::Absent)
            }
        }
    }

    fn variant(&mut self, def: &Def, name: &str) -> IExpr {
        let eid = self.enum_index(def);
        let vi = self
            .program
            .enums
            .get(eid as usize)
            .and_then(|en| en.variants.iter().position(|v| v == name))
            .unwrap_or(usize::MAX);
        IExpr::Const(Value::Enum(eid, index(vi)))
    }

    fn literal(&mut self, l: &Literal, expected: Option<&Ty>) -> Value {
        match l {
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::Int(*i),
            Literal::Decimal(d) => match d.parse::<Decimal>() {
                Ok(v) => Value::Decimal(v),
                Err(_) => {
                    self.errors.push(format!("decimal `{d}` is out of range"));
                    Value::Absent
                }
            },
            Literal::Money(a, c) => match a.parse::<Decimal>() {
                Ok(v) => Value::Money(v, Arc::from(c.as_str())),
                Err(_) => {
                    self.errors.push(format!("amount `{a}` is out of range"));
                    Value::Absent
                }
            },
            Literal::Text(s) => match expected.map(Ty::present) {
                Some(Ty::Id) => Value::Id(Arc::from(s.as_str())),
                // As the tz database spells it, as inputs are read (`"europe/paris"` is
                // `"Europe/Paris"`): equality compares names.
                Some(Ty::Tz) => Value::Tz(Arc::from(
                    xop_runtime::intrinsics::time_zone(s)
                        .ok()
                        .and_then(|z| z.tz().iana_name().map(str::to_owned))
                        .unwrap_or_else(|| s.to_string()),
                )),
                _ => Value::Text(Arc::from(s.as_str())),
            },
            Literal::Duration(ms, _) => Value::Duration(*ms),
            Literal::Time(t) => match xop_runtime::time::parse_rfc3339(t) {
                Ok(ms) => Value::Time(ms),
                Err(_) => {
                    self.errors.push(format!("time `{t}` is not valid"));
                    Value::Absent
                }
            },
            Literal::Absent => Value::Absent,
        }
    }

    /// The type a left operand with less of a type of its own than the right one takes from
    /// it, or `None` when it has its own. Apart from [`Self::binary`], which recurses through
    /// nested expressions, so that its locals do not weigh on every level of the stack.
    #[inline(never)]
    fn typed_by_rhs(
        &self,
        file: SourceFile,
        frame: &Frame,
        op: BinOp,
        a: &ast::Expr,
        b: &ast::Expr,
    ) -> Option<Ty> {
        typed_by_right(op, a, b)
            .then(|| left_from_right(op, &self.checker_type(file, frame, b, None)))
    }

    fn binary(
        &mut self,
        file: SourceFile,
        frame: &Frame,
        slots: &mut u32,
        op: BinOp,
        a: &ast::Expr,
        b: &ast::Expr,
    ) -> IExpr {
        let lhs_ty = if types_left_alone(op, b) {
            self.checker_type(file, frame, a, None)
        } else {
            Ty::Unknown
        };
        // A left operand with less of a type of its own than the right one (`"x" == c.id`,
        // `"UTC" in c.zones`, `[] == xs`) is typed by it, as the checker types it: a text
        // literal is built as the `Id` or `Tz` it stands for there.
        let (lhs_ty, la_expected) = match self.typed_by_rhs(file, frame, op, a, b) {
            Some(ta) => {
                let want = Some(ta.clone()).filter(|t| *t != Ty::Unknown);
                (ta, want)
            }
            None => (lhs_ty, None),
        };
        let la = self.expr(file, frame, slots, a, la_expected.as_ref());
        let bx = |l: &mut Self, slots: &mut u32, expected: Option<&Ty>| {
            Box::new(l.expr(file, frame, slots, b, expected))
        };
        match op {
            BinOp::And => IExpr::And(Box::new(la), bx(self, slots, Some(&Ty::Bool))),
            BinOp::Or => IExpr::Or(Box::new(la), bx(self, slots, Some(&Ty::Bool))),
            BinOp::Default => IExpr::Default(Box::new(la), bx(self, slots, Some(lhs_ty.present()))),
            BinOp::In | BinOp::NotIn => {
                let inner = if let ExprKind::Range { lo, hi, inclusive } = &strip(b).kind {
                    IExpr::InRange {
                        value: Box::new(la),
                        lo: Box::new(self.expr(file, frame, slots, lo, Some(lhs_ty.present()))),
                        hi: Box::new(self.expr(file, frame, slots, hi, Some(lhs_ty.present()))),
                        inclusive: *inclusive,
                    }
                } else {
                    let want = Ty::List(Box::new(lhs_ty.present().clone()));
                    IExpr::In(Box::new(la), bx(self, slots, Some(&want)))
                };
                if op == BinOp::NotIn {
                    IExpr::Not(Box::new(inner))
                } else {
                    inner
                }
            }
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let cmp = match op {
                    BinOp::Eq => ir::CmpOp::Eq,
                    BinOp::Ne => ir::CmpOp::Ne,
                    BinOp::Lt => ir::CmpOp::Lt,
                    BinOp::Le => ir::CmpOp::Le,
                    BinOp::Gt => ir::CmpOp::Gt,
                    _ => ir::CmpOp::Ge,
                };
                IExpr::Cmp(cmp, Box::new(la), bx(self, slots, Some(lhs_ty.present())))
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                let arith = match op {
                    BinOp::Add => ir::ArithOp::Add,
                    BinOp::Sub => ir::ArithOp::Sub,
                    BinOp::Mul => ir::ArithOp::Mul,
                    BinOp::Div => ir::ArithOp::Div,
                    _ => ir::ArithOp::Rem,
                };
                IExpr::Arith(arith, Box::new(la), bx(self, slots, None))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        file: SourceFile,
        frame: &Frame,
        slots: &mut u32,
        fields: &[(ast::Ident, ast::Expr)],
        rest: bool,
        expected: Option<&Ty>,
    ) -> IExpr {
        let Some(Ty::Record(def)) = expected.map(Ty::present) else {
            self.errors.push(
                "a record value needs a known record type (write it where a record is expected)"
                    .to_string(),
            );
            return IExpr::Const(Value::Absent);
        };
        let def = def.clone();
        let Signature::Record(decl) =
            resolve::signature(self.db, self.project, def.file, def.index).clone()
        else {
            return IExpr::Const(Value::Absent);
        };
        let rid = self.record_index(&def);
        let mut out = Vec::new();
        for p in &decl {
            match fields.iter().find(|(n, _)| *n.name == *p.name) {
                Some((_, v)) => out.push(self.expr(file, frame, slots, v, Some(&p.ty))),
                None if rest || p.ty.is_optional() => {
                    out.push(self.default(&p.ty, &p.name, &mut Vec::new()));
                }
                None => {
                    self.errors
                        .push(format!("record value of `{}` lacks `{}`", def.name, p.name));
                    out.push(IExpr::Const(Value::Absent));
                }
            }
        }
        IExpr::Record(rid, out)
    }

    /// The value `..` gives a field in a test's record value. `within` holds the records whose
    /// defaults are being built: a record met again inside its own default contains itself
    /// (E0217), and has no finite default.
    fn default(&mut self, t: &Ty, field: &str, within: &mut Vec<(SourceFile, u32)>) -> IExpr {
        IExpr::Const(match t {
            Ty::Optional(_) => Value::Absent,
            Ty::Bool => Value::Bool(false),
            Ty::Int => Value::Int(0),
            Ty::Decimal => Value::Decimal(Decimal::ZERO),
            Ty::Money => Value::Money(Decimal::ZERO, Arc::from("XXX")),
            Ty::Text => Value::text(""),
            Ty::Duration => Value::Duration(0),
            Ty::Time => Value::Time(0),
            Ty::Tz => Value::Tz(Arc::from("UTC")),
            Ty::Id => Value::Id(Arc::from("")),
            Ty::List(_) | Ty::Set(_) => Value::List(Arc::from(Vec::new())),
            Ty::Enum(d) => {
                let eid = self.enum_index(d);
                Value::Enum(eid, 0)
            }
            Ty::Record(d) => {
                let d = d.clone();
                if within.contains(&(d.file, d.index)) {
                    self.errors.push(format!(
                        "record `{}` contains itself (E0217): field `{field}` has no default",
                        d.name
                    ));
                    return IExpr::Const(Value::Absent);
                }
                let Signature::Record(decl) =
                    resolve::signature(self.db, self.project, d.file, d.index).clone()
                else {
                    return IExpr::Const(Value::Absent);
                };
                let rid = self.record_index(&d);
                within.push((d.file, d.index));
                let fields = decl
                    .iter()
                    .map(|p| self.default(&p.ty, &p.name, within))
                    .collect();
                within.pop();
                return IExpr::Record(rid, fields);
            }
            other => {
                self.errors.push(format!(
                    "field `{field}` of type `{other}` has no default: give it in the test"
                ));
                Value::Absent
            }
        })
    }

    /// Refuses every rule, proposal and test whose expression is deeper than the engines
    /// evaluate once its calls are inlined ([`MAX_DEPTH`]): each body is at most 128 levels
    /// and calls nest at most [`MAX_INLINING`] deep, so the sum can pass the limit, and such a
    /// program would fail every decision (and a module of it would not load).
    fn depths(&mut self) {
        let deep = |e: &IExpr| e.deeper_than(MAX_DEPTH);
        let what = |kind: &str, name: &str, s: &xop_runtime::ir::SourceRef| {
            format!(
                "{kind} `{name}` ({}:{}) is nested more than {MAX_DEPTH} levels deep once its function calls are inlined (E0219), deeper than the engines evaluate; compute it with fewer nested calls",
                s.file, s.line
            )
        };
        let mut errors = Vec::new();
        let shared = shared_names(self.program.decisions.iter().map(|d| d.name.as_str()));
        for p in &self.program.policies {
            for r in p
                .rules
                .iter()
                .filter(|r| r.condition.as_ref().is_some_and(deep))
            {
                errors.push(what("rule", &r.id, &r.source));
            }
        }
        for d in &self.program.decisions {
            // As a rule's id: by the decision's short name unless another decision has it too.
            let name = if shared.contains(d.name.as_str()) {
                &d.qualified
            } else {
                &d.name
            };
            for (i, p) in d.proposals.iter().enumerate() {
                if p.args.iter().chain(&p.rank).chain(&p.condition).any(deep) {
                    errors.push(what("proposal", &format!("{name}#{}", i + 1), &p.source));
                }
            }
        }
        for t in &self.program.tests {
            if t.args
                .iter()
                .chain(t.given.iter().map(|(_, e)| e))
                .any(deep)
            {
                errors.push(what("test", &t.name, &t.source));
            }
        }
        self.errors.extend(errors);
    }

    fn call(
        &mut self,
        file: SourceFile,
        frame: &Frame,
        slots: &mut u32,
        callee: &ast::Path,
        receiver: Option<&ast::Expr>,
        args: &[ast::Arg],
    ) -> IExpr {
        let (db, project) = (self.db, self.project);
        let name = callee.last().name.as_str();
        let mut values: Vec<&ast::Expr> = receiver.into_iter().collect();
        values.extend(args.iter().map(|a| &a.value));
        let scope = self.scope(file);
        let found = match scope.lookup(db, name) {
            Lookup::Found(e) => Some(e.def),
            _ => None,
        };
        if found.is_none() && matches!(name, "any" | "all" | "count") {
            return self.quantify(file, frame, slots, name, &values);
        }
        let Some(def) = found else {
            self.errors.push(format!("cannot lower call of `{name}`"));
            return IExpr::Const(Value::Absent);
        };
        let Signature::Callable { params, ret } =
            resolve::signature(db, project, def.file, def.index).clone()
        else {
            return IExpr::Const(Value::Absent);
        };
        let ordered = in_parameter_order(&params, receiver, args);
        let mut lowered: Vec<IExpr> = Vec::new();
        for (p, a) in params.iter().zip(&ordered) {
            lowered.push(match a {
                Some(x) => self.expr(file, frame, slots, x, Some(&p.ty)),
                None => IExpr::Const(Value::Absent),
            });
        }
        match def.kind {
            DefKind::Signal => {
                let i = self
                    .signals
                    .get(&def.qualified(db))
                    .copied()
                    .unwrap_or(u32::MAX);
                IExpr::Signal(i, lowered)
            }
            DefKind::Fn => {
                // Inline: the body, with each parameter standing for its argument.
                let Some(item) = item_ast(db, def.file, def.index).as_ref() else {
                    return IExpr::Const(Value::Absent);
                };
                let ItemKind::Fn(f) = &item.kind else {
                    return IExpr::Const(Value::Absent);
                };
                let Some(body) = &f.body else {
                    return IExpr::Const(Value::Absent);
                };
                if self.inlining.len() >= MAX_INLINING {
                    let calls = &self.inlining;
                    let chain = format!(
                        "`{}` → `{}` → … → `{}` → `{name}`",
                        calls[0],
                        calls[1],
                        calls[calls.len() - 1]
                    );
                    self.errors.push(format!(
                        "{chain} calls functions inside one another more than {MAX_INLINING} deep (E0219): XOP inlines each call into the rule, and the engines evaluate at most {MAX_DEPTH} levels; compute the value with fewer nested calls"
                    ));
                    return IExpr::Const(Value::Absent);
                }
                let mut inner = Frame::default();
                for ((p, x), a) in params.iter().zip(lowered).zip(&ordered) {
                    // An open-record parameter (`{ score: Int, .. }`, also inside `?`, `List`
                    // or `Set`) has, in this call, the type of its argument: its fields are
                    // read from that record.
                    let ty = match a {
                        Some(a) if crate::types::has_open(&p.ty) => {
                            self.checker_type(file, frame, a, Some(&p.ty))
                        }
                        _ => p.ty.clone(),
                    };
                    inner.locals.insert(p.name.to_string(), Local::inline(x));
                    inner.env.bind(&p.name, ty, p.span);
                }
                self.inlining.push(name.to_string());
                // Of the function's result type: a text literal it returns is an `Id` if that
                // is what the function gives.
                let ret = Some(&ret).filter(|t| !crate::types::has_open(t));
                let body = self.expr(def.file, &inner, slots, body, ret);
                self.inlining.pop();
                body
            }
            DefKind::Intrinsic => {
                // The static record type of each argument, for open-record parameters.
                let arg_types: Vec<Option<Ty>> = params
                    .iter()
                    .zip(&ordered)
                    .map(|(p, a)| match (&p.ty, a) {
                        (Ty::Open(_), Some(x)) => {
                            Some(self.checker_type(file, frame, x, Some(&p.ty)))
                        }
                        _ => None,
                    })
                    .collect();
                self.intrinsic(&def, &params, &arg_types, lowered)
            }
            _ => {
                self.errors.push(format!("`{name}` cannot be called"));
                IExpr::Const(Value::Absent)
            }
        }
    }

    fn intrinsic(
        &mut self,
        def: &Def,
        params: &[resolve::TypedParam],
        arg_types: &[Option<Ty>],
        mut args: Vec<IExpr>,
    ) -> IExpr {
        let q = def.qualified(self.db);
        // An open-record parameter (`{ consents: List<Consent>, .. }`) is passed as that field.
        for (i, p) in params.iter().enumerate() {
            if let Ty::Open(fields) = &p.ty
                && let Some((field, _)) = fields.first()
                && let Some(arg) = args.get_mut(i)
            {
                let subject = std::mem::replace(arg, IExpr::Const(Value::Absent));
                let ty = arg_types.get(i).and_then(Option::as_ref);
                *arg = self.open_field(subject, ty, field);
            }
        }
        let which = match builtin(&q) {
            Some(Builtin::Runtime(which)) => which,
            Some(Builtin::ReachesPhone) => {
                // Known at compile time: the channels annotated `@reaches_phone`.
                let phones: Vec<IExpr> = self
                    .defs(DefKind::Channel)
                    .iter()
                    .filter(|c| {
                        item_ast(self.db, c.file, c.index)
                            .as_ref()
                            .is_some_and(|i| {
                                i.annotations.iter().any(|a| a.name.name == "reaches_phone")
                            })
                    })
                    .filter_map(|c| self.symbol(c))
                    .map(|s| IExpr::Const(Value::Symbol(s)))
                    .collect();
                let ch = args
                    .into_iter()
                    .next()
                    .unwrap_or(IExpr::Const(Value::Absent));
                return IExpr::In(Box::new(ch), Box::new(IExpr::List(phones)));
            }
            // A connector (the checker refuses its calls, E0312).
            None => {
                self.errors
                    .push(format!("intrinsic `{q}` can only be a signal's source"));
                return IExpr::Const(Value::Absent);
            }
        };
        IExpr::Intrinsic(which, args)
    }

    /// `subject.field` for an open-record parameter: the field's index in the argument's own
    /// record type, looked up by name. Only when that type is not a known record (it always is in
    /// a checked program) is the index taken from every record having the field, if they agree.
    fn open_field(&mut self, subject: IExpr, ty: Option<&Ty>, field: &str) -> IExpr {
        if let Some(Ty::Record(def)) = ty.map(Ty::present) {
            let at = self
                .program
                .records
                .get(self.record_index(def) as usize)
                .and_then(|r| r.field(field));
            if let Some(at) = at {
                return IExpr::Field(Box::new(subject), index(at));
            }
        }
        let indices: BTreeSet<usize> = self
            .program
            .records
            .iter()
            .filter_map(|r| r.field(field))
            .collect();
        match indices.len() {
            1 => IExpr::Field(
                Box::new(subject),
                index(indices.into_iter().next().unwrap_or(0)),
            ),
            _ => {
                self.errors.push(format!(
                    "records disagree on the position of field `{field}`; declare it at the same position in every record passed to the standard library"
                ));
                IExpr::Const(Value::Absent)
            }
        }
    }

    fn quantify(
        &mut self,
        file: SourceFile,
        frame: &Frame,
        slots: &mut u32,
        op: &str,
        values: &[&ast::Expr],
    ) -> IExpr {
        let Some(list) = values.first() else {
            return IExpr::Const(Value::Absent);
        };
        let list_ty = self.checker_type(file, frame, list, None);
        let elem = match list_ty.present() {
            Ty::List(t) | Ty::Set(t) => (**t).clone(),
            _ => Ty::Unknown,
        };
        let known = Some(&list_ty).filter(|t| **t != Ty::Unknown);
        let list = self.expr(file, frame, slots, list, known);
        let slot = *slots;
        *slots += 1;
        let body = values.get(1).and_then(|l| match &l.kind {
            ExprKind::Lambda(x, body) => Some((x, body)),
            _ => None,
        });
        let body = body.map(|(x, b)| {
            let mut inner = frame.clone();
            inner.locals.insert(x.name.clone(), Local::Slot(slot));
            inner.env.bind(&x.name, elem.clone(), x.span);
            Box::new(self.expr(file, &inner, slots, b, Some(&Ty::Bool)))
        });
        let quantifier = match op {
            "any" => ir::Quantifier::Any,
            "all" => ir::Quantifier::All,
            _ => ir::Quantifier::Count,
        };
        IExpr::Quantify {
            quantifier,
            list: Box::new(list),
            slot,
            body,
        }
    }

    fn decisions(&mut self) {
        let (db, project) = (self.db, self.project);
        for def in self.defs(DefKind::Decision) {
            let Some(item) = item_ast(db, def.file, def.index).as_ref() else {
                continue;
            };
            let ItemKind::Decision(d) = &item.kind else {
                continue;
            };
            let scope = resolve::file_scope(db, project, def.file);
            let params: Vec<resolve::TypedParam> = d
                .params
                .iter()
                .map(|p| resolve::TypedParam {
                    name: Arc::from(p.name.name.as_str()),
                    ty: resolve::resolve_type(db, project, scope, &p.ty).unwrap_or(Ty::Unknown),
                    span: p.name.span,
                })
                .collect();
            let (mut frame, ir_params) = self.param_frame(&params);
            let mut slots = index(params.len());
            let now_slot = d.at.as_ref().map(|at| bind_now(&mut frame, &mut slots, at));
            let text = def.file.text(db);
            let mut proposals = Vec::new();
            for p in &d.proposals {
                let Some(action) = resolve::resolve_path(db, project, def.file, &p.call.callee)
                else {
                    continue;
                };
                let Signature::Action {
                    params: action_params,
                    ..
                } = resolve::signature(db, project, action.file, action.index).clone()
                else {
                    continue;
                };
                self.start_item(format!("proposal `{}#{}`", def.name, proposals.len() + 1));
                let args = self.call_args(def.file, &frame, &mut slots, &p.call, &action_params);
                let rank = p
                    .rank
                    .as_ref()
                    .map(|r| self.expr(def.file, &frame, &mut slots, r, None));
                let condition = p.condition.as_ref().map(|c| {
                    let e = self.expr(def.file, &frame, &mut slots, &c.expr, Some(&Ty::Bool));
                    if c.negated {
                        IExpr::Not(Box::new(e))
                    } else {
                        e
                    }
                });
                let pos = self.position(text, p.span.start());
                proposals.push(ir::Proposal {
                    action: action.qualified(db),
                    args,
                    rank,
                    condition,
                    source: ir::SourceRef {
                        file: def.file.path(db).to_string(),
                        line: index(pos.line),
                        column: index(pos.column),
                        text: text.get(p.span.range()).unwrap_or("").to_string(),
                    },
                });
            }
            let decision = ir::DecisionDef {
                name: def.name.to_string(),
                qualified: def.qualified(db),
                params: ir_params,
                now_slot,
                slots,
                proposals,
            };
            self.program.decisions.push(decision);
        }
    }

    /// Agents: each tool binding with its action's parameters and which tool-call argument
    /// fills which parameter (the checker has refused unknown actions and parameters).
    fn agents(&mut self) {
        let (db, project) = (self.db, self.project);
        for def in self.defs(DefKind::Agent) {
            let Some(item) = item_ast(db, def.file, def.index).as_ref() else {
                continue;
            };
            let ItemKind::Agent(a) = &item.kind else {
                continue;
            };
            let text = def.file.text(db);
            let mut tools = Vec::new();
            for t in &a.tools {
                let Some(action) = resolve::resolve_path(db, project, def.file, &t.action) else {
                    self.errors.push(format!(
                        "agent {}: tool \"{}\" is bound to an unknown action",
                        def.name, t.tool.value
                    ));
                    continue;
                };
                let Signature::Action { params, .. } =
                    resolve::signature(db, project, action.file, action.index).clone()
                else {
                    self.errors.push(format!(
                        "agent {}: tool \"{}\" is bound to `{}`, which is not an action",
                        def.name, t.tool.value, action.name
                    ));
                    continue;
                };
                let mut arguments = Vec::new();
                for name in &t.params {
                    match params.iter().position(|p| *p.name == *name.name) {
                        Some(i) => arguments.push(ir::ToolArgument {
                            argument: name.name.clone(),
                            param: index(i),
                        }),
                        None => self.errors.push(format!(
                            "agent {}: tool \"{}\": `{}` has no parameter `{}`",
                            def.name, t.tool.value, action.name, name.name
                        )),
                    }
                }
                let ir_params = params
                    .iter()
                    .map(|p| ir::Param {
                        name: p.name.to_string(),
                        ty: self.ty(&p.ty),
                    })
                    .collect();
                let pos = self.position(text, t.span.start());
                tools.push(ir::ToolBinding {
                    tool: t.tool.value.clone(),
                    action: action.qualified(db),
                    params: ir_params,
                    arguments,
                    source: ir::SourceRef {
                        file: def.file.path(db).to_string(),
                        line: index(pos.line),
                        column: index(pos.column),
                        text: text.get(t.span.range()).unwrap_or("").to_string(),
                    },
                });
            }
            self.program.agents.push(ir::AgentDef {
                name: def.name.to_string(),
                qualified: def.qualified(db),
                tools,
            });
        }
    }

    /// An action call's arguments in the action's parameter order (positional, then named);
    /// a parameter not given is absent.
    fn call_args(
        &mut self,
        file: SourceFile,
        frame: &Frame,
        slots: &mut u32,
        call: &ast::Call,
        params: &[resolve::TypedParam],
    ) -> Vec<IExpr> {
        let positional: Vec<&ast::Arg> = call.args.iter().filter(|a| a.name.is_none()).collect();
        let mut next = 0;
        let mut out = Vec::new();
        for p in params {
            let named = call
                .args
                .iter()
                .find(|a| a.name.as_ref().is_some_and(|n| *n.name == *p.name));
            let given = named.or_else(|| {
                let a = positional.get(next).copied();
                next += 1;
                a
            });
            out.push(match given {
                Some(a) => self.expr(file, frame, slots, &a.value, Some(&p.ty)),
                None => IExpr::Const(Value::Absent),
            });
        }
        out
    }

    fn tests(&mut self) {
        let (db, project) = (self.db, self.project);
        for &f in project.files(db) {
            if *f.is_stdlib(db) {
                continue;
            }
            let parsed = parse_file(db, f);
            let text = f.text(db);
            for item in &parsed.ast.items {
                let ItemKind::Test(t) = &item.kind else {
                    continue;
                };
                let mut frame = Frame::default();
                let mut slots = 0;
                for stmt in &t.body {
                    match stmt {
                        ast::TestStmt::Let { name, value, .. } => {
                            // Substituted where used, lowered there with the expected type.
                            let ty = self.checker_type(f, &frame, value, None);
                            let written = frame.clone();
                            frame.locals.insert(
                                name.name.clone(),
                                Local::Deferred(Box::new((value.clone(), written))),
                            );
                            frame.env.bind(&name.name, ty, name.span);
                        }
                        ast::TestStmt::Expect(e) => {
                            let case = self.expect(f, &frame, &mut slots, t, e, text);
                            if let Some(case) = case {
                                self.program.tests.push(case);
                            }
                        }
                        ast::TestStmt::Error(_) => {}
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn expect(
        &mut self,
        file: SourceFile,
        frame: &Frame,
        slots: &mut u32,
        t: &ast::Test,
        e: &ast::Expect,
        text: &str,
    ) -> Option<ir::TestCase> {
        let (db, project) = (self.db, self.project);
        let action = resolve::resolve_path(db, project, file, &e.call.callee)?;
        let action_q = action.qualified(db);
        let (policy, action_form) = match &e.policy {
            Some(policy) => {
                let policy_def = resolve::resolve_path(db, project, file, policy)?;
                let policy_module = resolve::module_name(db, policy_def.file);
                let policy = self.program.policies.iter().position(|p| {
                    p.action == action_q
                        && (p.qualified == format!("{policy_module}.{}", policy_def.name)
                            || p.qualified
                                == format!("{policy_module}.{}@{}", policy_def.name, action.name))
                })?;
                (policy, None)
            }
            // The action's verdict: every policy guarding it; the first one's parameters are
            // the action's.
            None => {
                let first = self
                    .program
                    .policies
                    .iter()
                    .position(|p| p.action == action_q)?;
                (first, Some(action_q.clone()))
            }
        };
        let params = match resolve::signature(db, project, action.file, action.index).clone() {
            Signature::Action { params, .. } => params,
            _ => return None,
        };
        self.start_item(format!("test `{}`", t.name.value));
        let args = self.call_args(file, frame, slots, &e.call, &params);
        let now = match &e.at {
            // Literals, arithmetic and `let`s of those (the checker refuses the rest, E0316).
            Some(x) => {
                let at = self.expr(file, frame, slots, x, Some(&Ty::Time));
                match xop_runtime::interp::eval_const(&self.program, &at, 0) {
                    // Within the times XOP holds (the checker refuses others, E0316).
                    Ok(Value::Time(ms)) if crate::types::time_in_range(ms) => ms,
                    _ => {
                        let pos = self.position(text, x.span.start());
                        self.errors.push(format!(
                            "test \"{}\" ({}:{}:{}): `at` is not a time known when compiled, or out of range (E0316): run `xop check`",
                            t.name.value,
                            file.path(db),
                            pos.line,
                            pos.column
                        ));
                        0
                    }
                }
            }
            None => ir::TestCase::NO_TIME,
        };
        let mut given = Vec::new();
        for (signal, value) in &e.given {
            if let Lookup::Found(entry) =
                resolve::file_scope(db, project, file).lookup(db, &signal.name)
                && let Signature::Callable { ret, .. } =
                    resolve::signature(db, project, entry.def.file, entry.def.index).clone()
            {
                let i = self
                    .signals
                    .get(&entry.def.qualified(db))
                    .copied()
                    .unwrap_or(u32::MAX);
                given.push((i, self.expr(file, frame, slots, value, Some(&ret))));
            }
        }
        let pos = self.position(text, e.span.start());
        Some(ir::TestCase {
            name: t.name.value.clone(),
            policy: index(policy),
            args,
            now,
            given,
            expect: match e.verdict {
                ast::Verdict::Allow => ir::Verdict::Allow,
                ast::Verdict::Deny => ir::Verdict::Deny,
                ast::Verdict::Review => ir::Verdict::Review,
            },
            reasons: e
                .reasons
                .as_ref()
                .map(|rs| rs.iter().map(|r| r.value.clone()).collect()),
            source: ir::SourceRef {
                file: file.path(db).to_string(),
                line: index(pos.line),
                column: index(pos.column),
                text: text.get(e.span.range()).unwrap_or("").to_string(),
            },
            action: action_form,
        })
    }
}

/// How an intrinsic called in an expression is compiled.
enum Builtin {
    /// By the runtime.
    Runtime(ir::Intrinsic),
    /// `std.channel.reaches_phone`: known when compiled, from the channels' annotations.
    ReachesPhone,
}

/// The intrinsic of qualified name `q`, if an expression may call it: the others are
/// connectors, which only a signal's `from` names (they read the outside world).
fn builtin(q: &str) -> Option<Builtin> {
    Some(Builtin::Runtime(match q {
        "std.consent.consent" => ir::Intrinsic::Consent,
        "std.time.local_hour" => ir::Intrinsic::LocalHour,
        "std.time.day_of_week" => ir::Intrinsic::DayOfWeek,
        "std.time.hours" => ir::Intrinsic::Hours,
        "std.time.minutes" => ir::Intrinsic::Minutes,
        "std.time.days" => ir::Intrinsic::Days,
        "std.contact.contacts_within" => ir::Intrinsic::ContactsWithin,
        "std.contact.contacts_on_within" => ir::Intrinsic::ContactsOnWithin,
        "std.camara.swapped_within" => ir::Intrinsic::SwappedWithin,
        "std.channel.reaches_phone" => return Some(Builtin::ReachesPhone),
        _ => return None,
    }))
}

/// Whether an expression may call the intrinsic of qualified name `q` (E0312 otherwise).
pub fn callable_intrinsic(q: &str) -> bool {
    builtin(q).is_some()
}

/// How many nodes `e` is (without recursion: an expression lowering refuses may be deep).
pub(crate) fn nodes(e: &IExpr) -> u64 {
    let mut n = 0u64;
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        n += 1;
        match e {
            IExpr::Const(_) | IExpr::Slot(_) => {}
            IExpr::Field(x, _) | IExpr::Not(x) | IExpr::Neg(x) | IExpr::IsPresent(x) => {
                todo.push(x);
            }
            IExpr::And(a, b)
            | IExpr::Or(a, b)
            | IExpr::Cmp(_, a, b)
            | IExpr::Arith(_, a, b)
            | IExpr::In(a, b)
            | IExpr::Default(a, b) => todo.extend([&**a, &**b]),
            IExpr::InRange { value, lo, hi, .. } => todo.extend([&**value, &**lo, &**hi]),
            IExpr::If(c, a, b) => todo.extend([&**c, &**a, &**b]),
            IExpr::List(xs)
            | IExpr::Set(xs)
            | IExpr::Record(_, xs)
            | IExpr::Intrinsic(_, xs)
            | IExpr::Signal(_, xs) => todo.extend(xs),
            IExpr::Quantify { list, body, .. } => {
                todo.push(list);
                todo.extend(body.as_deref());
            }
        }
    }
    n
}

/// The arguments of a call (`receiver` first, for the method form) in parameter order:
/// positional ones first, then those given by name; `None` for a parameter not given.
pub(crate) fn in_parameter_order<'e>(
    params: &[resolve::TypedParam],
    receiver: Option<&'e ast::Expr>,
    args: &'e [ast::Arg],
) -> Vec<Option<&'e ast::Expr>> {
    let mut ordered: Vec<Option<&ast::Expr>> = vec![None; params.len()];
    let mut pos = 0;
    if let Some(r) = receiver {
        if let Some(slot) = ordered.first_mut() {
            *slot = Some(r);
        }
        pos = 1;
    }
    for a in args {
        match &a.name {
            None => {
                if let Some(slot) = ordered.get_mut(pos) {
                    *slot = Some(&a.value);
                }
                pos += 1;
            }
            Some(n) => {
                if let Some(i) = params.iter().position(|p| *p.name == *n.name) {
                    ordered[i] = Some(&a.value);
                }
            }
        }
    }
    ordered
}

fn strip(e: &ast::Expr) -> &ast::Expr {
    match &e.kind {
        ExprKind::Paren(x) => strip(x),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Workspace;

    /// QA's crash: `..` in a test of a record that contains itself filled its defaults forever
    /// (`xop test` and `xop build` overflowed the stack).
    const RECURSIVE: &str = r#"module qa.rr4
use std.consent.service
record N { id: Id, next: N }
action act(n: N) purpose service risk minimal
policy p for act(n: n) { allow "ok" }
test "t" { expect p(act(n: { id: "a", .. })) == allow }
"#;

    /// The codes of `ws`'s errors.
    fn error_codes(ws: &Workspace) -> Vec<&'static str> {
        (ws.diagnostics().iter())
            .filter(|d| d.is_error())
            .map(|d| d.code)
            .collect()
    }

    fn workspace(source: &str) -> Workspace {
        let mut ws = Workspace::new();
        ws.set_file("rr4.xop", source);
        ws
    }

    /// The checker reports it (E0217), so `xop` never lowers it; lowering refuses it anyway.
    #[test]
    fn a_recursive_record_is_an_error_and_is_not_lowered() {
        let ws = workspace(RECURSIVE);
        let codes = error_codes(&ws);
        assert_eq!(codes, ["E0217"]);
        let errors = lower(ws.db(), ws.project()).expect_err("refused");
        assert_eq!(
            errors,
            ["record `qa.rr4.N` contains itself (E0217): run `xop check`"]
        );
    }

    /// A test's `at` computed past the times XOP holds (language.md §2.5) is reported by the
    /// checker (E0316), and lowering refuses it too: no test is decided at a time no input
    /// can carry.
    #[test]
    fn a_test_time_out_of_range_is_an_error_and_is_not_lowered() {
        for at in [
            "9999-12-30T22:00:00.999Z + 1ms",
            "0000-01-01T00:00:00Z - 1d",
        ] {
            let ws = workspace(&format!(
                r#"module qa.times
use std.consent.service
record R {{ n: Int }}
action act(x: R) purpose service risk minimal
policy p for act(x: r) at now {{ allow "ok" when now >= 0000-01-01T00:00:00Z }}
test "t" {{ expect p(act(x: {{ n: 1 }})) == allow at {at} }}
"#
            ));
            assert_eq!(error_codes(&ws), ["E0316"], "{at}");
            let errors = lower(ws.db(), ws.project()).expect_err("refused");
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert!(errors[0].contains("out of range (E0316)"), "{errors:?}");
        }
        // The last and the first time XOP holds are times a test may be decided at.
        for at in ["9999-12-30T22:00:00.999Z", "0000-01-01T00:00:00Z"] {
            let ws = workspace(&format!(
                r#"module qa.times
use std.consent.service
record R {{ n: Int }}
action act(x: R) purpose service risk minimal
policy p for act(x: r) at now {{ allow "ok" when now >= 0000-01-01T00:00:00Z }}
test "t" {{ expect p(act(x: {{ n: 1 }})) == allow at {at} + 0ms }}
"#
            ));
            assert!(error_codes(&ws).is_empty(), "{at}");
            let program = lower(ws.db(), ws.project()).expect("lowered");
            let want = xop_runtime::time::parse_rfc3339(at).expect("a time");
            assert_eq!(program.tests[0].now, want, "{at}");
        }
    }

    /// The defaults `..` gives stop at a record met again inside its own default, whatever
    /// let the type through.
    #[test]
    fn defaults_stop_at_a_record_that_contains_itself() {
        let ws = workspace(RECURSIVE);
        let (db, project) = (ws.db(), ws.project());
        let file = ws.file("rr4.xop").expect("the file");
        let def = resolve::item_table(db, file)
            .by_name
            .get("N")
            .cloned()
            .expect("record N");
        let mut l = Lowering::new(db, project);
        l.declarations();
        let value = l.default(&Ty::Record(def), "n", &mut Vec::new());
        assert!(matches!(value, IExpr::Record(_, _)));
        assert_eq!(
            l.errors,
            ["record `N` contains itself (E0217): field `next` has no default"]
        );
    }

    /// The program of the project of these `(path, text)` files, which must check clean.
    fn project(files: &[(&str, &str)]) -> Program {
        let mut ws = Workspace::new();
        for (path, text) in files {
            ws.set_file(path, *text);
        }
        let errors: Vec<String> = ws
            .diagnostics()
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        lower(ws.db(), ws.project()).expect("lowered")
    }

    /// What the program holds as numbers is computed from the literals it is written with:
    /// before, `within 1h + 30m` was refused, `max_age (1m + 30s)` silently dropped (a signal
    /// that never goes stale) and a test's `at noon + 1h` run at the epoch.
    #[test]
    fn durations_and_test_times_written_with_arithmetic_are_computed() {
        let program = project(&[(
            "fixed.xop",
            r#"module acme.fixed
use std.camara.SimSwap
purpose service
role desk
record C { id: Id, msisdn: Text }
action call_back(to: C) purpose service risk minimal
signal sim_swap(c: C): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age (1m + 30s)
policy p for call_back(to: c) {
  review "swapped" by role desk within 1h + 30m else deny
    when sim_swap(c) is absent or sim_swap(c).swapped
  allow "ok"
}
test "t" {
  let noon = 2026-11-25T12:00:00Z
  expect p(call_back(to: { .. })) == review("swapped") at noon + 1h
}
"#,
        )]);
        let signal = program
            .signals
            .iter()
            .find(|s| s.name == "acme.fixed.sim_swap");
        assert_eq!(signal.and_then(|s| s.max_age_ms), Some(90_000));
        let (policy, _) = program.policy("p").expect("policy p");
        let review = program.policies[policy].rules[0].review.as_ref();
        assert_eq!(review.map(|r| r.within_ms), Some(5_400_000));
        let at = xop_runtime::time::parse_rfc3339("2026-11-25T13:00:00Z").expect("a time");
        assert_eq!(program.tests[0].now, at);
    }

    /// What lowering cannot build, the checker refuses first, with a code and a place: a range
    /// as a value (E0304), a channel left to `..` (E0307), a record value of no record type
    /// (E0310), a connector called in a rule (E0312), a `within` read from the input (E0316), a
    /// `within` of zero or less (E0317).
    #[test]
    fn what_lowering_refuses_is_a_checked_error() {
        let cases = [
            ("deny \"r\" when (1..3) == (c.n..3)", "", "E0304"),
            (
                "deny \"r\" when c.n > 3",
                "expect p(call_back(to: { n: 5, .. })) == deny",
                "E0307",
            ),
            (
                "deny \"r\" when c.n > 3",
                "expect p(call_back(to: { n: 5, ch: sms } == { n: 5, ch: sms })) == deny",
                "E0310",
            ),
            ("deny \"r\" when sim_swap(\"+33\", 1h).swapped", "", "E0312"),
            (
                "review \"r\" by role desk within (if c.n > 1 then 1h else 2h) else deny",
                "",
                "E0316",
            ),
            (
                "review \"r\" by role desk within -1h else allow",
                "",
                "E0317",
            ),
            (
                "review \"r\" by role desk within 1h - 2h else allow",
                "",
                "E0317",
            ),
            (
                "review \"r\" by role desk within 0s else allow",
                "",
                "E0317",
            ),
            // An empty list whose elements a lambda reads: its element type is unknown.
            ("deny \"r\" when any([], x => x.foo > 1)", "", "E0310"),
            ("deny \"r\" when count([]) > 0 or [] == []", "", "E0310"),
            // A test's `let` whose record values are operands or read: built where written.
            (
                "deny \"r\" when c.n > 3",
                "let b = { n: 5, ch: sms, .. } == { n: 5, ch: sms, .. }\n  \
                 expect p(call_back(to: { n: if b then 5 else 1, ch: sms, .. })) == deny",
                "E0310",
            ),
            (
                "deny \"r\" when c.n > 3",
                "let n = { n: 5, ch: sms, .. }.n\n  \
                 expect p(call_back(to: { n: n, ch: sms, .. })) == deny",
                "E0310",
            ),
        ];
        for (rule, test, code) in cases {
            let source = format!(
                "module acme.refused\nuse std.camara.sim_swap\nuse std.channel.sms\n\
                 purpose service\nrole desk\nrecord C {{ id: Id, n: Int, ch: Channel }}\n\
                 action call_back(to: C) purpose service risk minimal\n\
                 policy p for call_back(to: c) {{\n  {rule}\n  allow \"ok\"\n}}\n\
                 test \"t\" {{\n  {test}\n}}\n"
            );
            let ws = workspace(&source);
            let codes = error_codes(&ws);
            assert!(codes.contains(&code), "{code}: {codes:?}\n{source}");
        }
    }

    /// The text of `e`'s lowered form (`Id("vip")`, `Record(..)`), to look into.
    fn shown(e: &IExpr) -> String {
        format!("{e:?}")
    }

    /// What the checker accepts, lowering builds with the types the checker gave: a text
    /// literal a function returns as an `Id` is an `Id` (it was a `Text`, never equal to one),
    /// and so is one in a list or an `if` typed by another element or branch; a record value
    /// in an `if`'s branch or a list element is of the record type of the other (lowering
    /// refused them); the fields of a parameter of an open record type inside a list or `?`
    /// are read (lowering refused them); a signal's source arguments given by name are in the
    /// connector's parameter order (they were passed as written).
    #[test]
    fn lowering_builds_values_of_the_types_the_checker_gave() {
        let program = project(&[(
            "typed.xop",
            r#"module acme.typed
use std.camara.SimSwap
purpose service
record S { id: Id, n: Int }
record C { id: Id, n: Int, m: Int?, ids: List<Id>, ss: List<S>, msisdn: Text }
action call_back(to: C, flag: Bool) purpose service risk minimal
signal swap(c: C): SimSwap from camara.sim_swap(window: 24h, phone_number: c.msisdn) max_age 5m
fn vip(): Id = "vip"
fn pick(c: C): C = c
fn any_n(xs: List<{ n: Int, .. }>): Bool = any(xs, x => x.n > 0)
fn has_m(x: { m: Int?, .. }?): Bool = x is present and x.m is present
policy p for call_back(to: c, flag: f) {
  deny "vip" when c.id == vip()
  deny "listed" when [c.id, "x"] == c.ids
  deny "either" when (if f then c.id else "y") == c.id
  deny "n" when any_n(c.ss) or has_m(c)
  deny "swapped" when swap(c) is present and swap(c).swapped
  allow "ok"
}
test "t" {
  expect p(call_back(to: { .. }, flag: (if true then pick({ .. }) else { n: 1, .. }) == pick({ .. }))) == deny
  expect p(call_back(to: { .. }, flag: count([pick({ .. }), { n: 1, .. }]) == 2)) == deny
}
"#,
        )]);
        let (policy, _) = program.policy("p").expect("policy p");
        let rules: Vec<String> = program.policies[policy]
            .rules
            .iter()
            .map(|r| r.condition.as_ref().map(shown).unwrap_or_default())
            .collect();
        assert!(rules[0].contains(r#"Id("vip")"#), "{}", rules[0]);
        assert!(rules[1].contains(r#"Id("x")"#), "{}", rules[1]);
        assert!(rules[2].contains(r#"Id("y")"#), "{}", rules[2]);
        assert!(!rules.iter().any(|r| r.contains("Text(")), "{rules:?}");
        let swap = (program.signals.iter())
            .find(|s| s.name == "acme.typed.swap")
            .expect("signal swap");
        let args: Vec<String> = swap.source_args.iter().map(shown).collect();
        assert!(args[0].contains("Field"), "{args:?}");
        assert!(args[1].contains("Duration(86400000)"), "{args:?}");
        assert_eq!(program.tests.len(), 2);
    }

    /// A policy `contact` and a policy `fraud`; with [`OTHER`], two modules that each have a
    /// policy `contact` guarding `send_offer`.
    const CONTACT: &str = r#"module acme.contact
use std.consent.{marketing, service}
record C { id: Id, n: Int }
action send_offer(to: C) purpose marketing risk minimal
action send_news(to: C) purpose marketing risk minimal
action call_back(to: C) purpose service risk minimal
policy contact for send_offer(to: c) {
  deny "busy" when c.n > 5
  allow "ok"
}
policy fraud for call_back(to: c) { allow "ok" }
"#;

    const OTHER: &str = r#"module acme.other
use std.consent.marketing
use acme.contact.{C, send_offer}
policy contact for send_offer(to: c) {
  deny "cap" when c.n >= 1
  allow "fine"
}
"#;

    /// A purpose policy also named `contact`: lowered once per action of the purpose.
    const THIRD: &str = r#"module acme.third
use std.consent.marketing
use acme.contact.C
policy contact for purpose marketing {
  deny "third" when false
}
"#;

    fn ids(program: &Program) -> Vec<(String, Vec<String>)> {
        program
            .policies
            .iter()
            .map(|p| {
                let ids = p.rules.iter().map(|r| r.id.clone()).collect();
                (p.qualified.clone(), ids)
            })
            .collect()
    }

    /// QA's audit trail named rules that never fired: two policies `contact` (in two modules)
    /// both gave their rules the ids `contact#1`, `contact#2`, so a fired id was looked up in
    /// the wrong policy. A short name that several policies share qualifies their rule ids; the
    /// others keep the short form.
    #[test]
    fn rule_ids_are_qualified_when_policies_share_a_short_name() {
        let program = project(&[("contact.xop", CONTACT), ("other.xop", OTHER)]);
        assert_eq!(
            ids(&program),
            [
                (
                    "acme.contact.contact".to_string(),
                    vec![
                        "acme.contact.contact#1".to_string(),
                        "acme.contact.contact#2".to_string()
                    ]
                ),
                (
                    "acme.contact.fraud".to_string(),
                    vec!["fraud#1".to_string()]
                ),
                (
                    "acme.other.contact".to_string(),
                    vec![
                        "acme.other.contact#1".to_string(),
                        "acme.other.contact#2".to_string()
                    ]
                ),
            ]
        );
        let all: Vec<&str> = (program.policies.iter())
            .flat_map(|p| p.rules.iter().map(|r| r.id.as_str()))
            .collect();
        let unique: BTreeSet<&str> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "{all:?}");

        // A purpose policy sharing the name: qualified by its module, not by the action it is
        // lowered for (its rules are the same rules in each copy).
        let program = project(&[
            ("contact.xop", CONTACT),
            ("other.xop", OTHER),
            ("third.xop", THIRD),
        ]);
        let third: Vec<(String, Vec<String>)> = ids(&program)
            .into_iter()
            .filter(|(q, _)| q.starts_with("acme.third."))
            .collect();
        assert_eq!(
            third,
            [
                (
                    "acme.third.contact@send_news".to_string(),
                    vec!["acme.third.contact#1".to_string()]
                ),
                (
                    "acme.third.contact@send_offer".to_string(),
                    vec!["acme.third.contact#1".to_string()]
                ),
            ]
        );
    }

    /// Without a shared name, every id keeps the short form that outputs, snapshots and docs
    /// show (`contact#2`).
    #[test]
    fn rule_ids_keep_the_short_name_when_it_is_unambiguous() {
        let program = project(&[("contact.xop", CONTACT)]);
        assert_eq!(
            ids(&program),
            [
                (
                    "acme.contact.contact".to_string(),
                    vec!["contact#1".to_string(), "contact#2".to_string()]
                ),
                (
                    "acme.contact.fraud".to_string(),
                    vec!["fraud#1".to_string()]
                ),
            ]
        );
    }
}
