//! Types and the type checker: every expression is typed, with no implicit conversions, and a
//! value that may be absent must be handled (`is absent` / `is present` narrowing, or `??`)
//! before it is used.
//!
//! Narrowing works on *places*: an expression built from names, fields and calls, all of which
//! are pure within one decision (a signal is read at most once per decision and the value is
//! reused), so `sim_swap(c) is absent or sim_swap(c).swapped` is safe.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use crate::ast::{self, BinOp, Expr, ExprKind, Literal, UnOp};
use crate::db::{Db, Project, SourceFile};
use crate::diagnostic::Diagnostic;
use crate::resolve::{self, Def, DefKind, Lookup, Scope, Signature, TypedParam};
use crate::span::Span;
use xop_runtime::ir::ArithOp;
use xop_runtime::value::Value;

/// A type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    /// `Bool`
    Bool,
    /// `Int`: 64-bit signed.
    Int,
    /// `Decimal`
    Decimal,
    /// `Money`: an amount with a currency.
    Money,
    /// `Text`
    Text,
    /// `Duration`
    Duration,
    /// `Time`: an instant.
    Time,
    /// `Tz`: an IANA time zone.
    Tz,
    /// `Id`: an opaque identifier.
    Id,
    /// `Channel`: a declared channel.
    Channel,
    /// `Purpose`: a declared purpose.
    Purpose,
    /// `Role`: a declared role.
    Role,
    /// A record type.
    Record(Def),
    /// An enum type.
    Enum(Def),
    /// `List<T>`
    List(Box<Ty>),
    /// `Set<T>`
    Set(Box<Ty>),
    /// `T?`
    Optional(Box<Ty>),
    /// `a..b`
    Range(Box<Ty>),
    /// `{ f: T, .. }`: any record with at least these fields.
    Open(Vec<(Arc<str>, Ty)>),
    /// A type that could not be determined (after an error); compatible with everything so
    /// that one mistake is reported once.
    Unknown,
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Bool => write!(f, "Bool"),
            Ty::Int => write!(f, "Int"),
            Ty::Decimal => write!(f, "Decimal"),
            Ty::Money => write!(f, "Money"),
            Ty::Text => write!(f, "Text"),
            Ty::Duration => write!(f, "Duration"),
            Ty::Time => write!(f, "Time"),
            Ty::Tz => write!(f, "Tz"),
            Ty::Id => write!(f, "Id"),
            Ty::Channel => write!(f, "Channel"),
            Ty::Purpose => write!(f, "Purpose"),
            Ty::Role => write!(f, "Role"),
            Ty::Record(d) | Ty::Enum(d) => write!(f, "{}", d.name),
            Ty::List(t) => write!(f, "List<{t}>"),
            Ty::Set(t) => write!(f, "Set<{t}>"),
            Ty::Optional(t) => write!(f, "{t}?"),
            Ty::Range(t) => write!(f, "Range<{t}>"),
            Ty::Open(fields) => {
                write!(f, "{{ ")?;
                for (n, t) in fields {
                    write!(f, "{n}: {t}, ")?;
                }
                write!(f, ".. }}")
            }
            Ty::Unknown => write!(f, "_"),
        }
    }
}

impl Ty {
    /// Whether values of this type may be absent.
    pub fn is_optional(&self) -> bool {
        matches!(self, Ty::Optional(_))
    }

    /// The present type: `T` for `T?`, else itself.
    pub fn present(&self) -> &Ty {
        match self {
            Ty::Optional(t) => t,
            t => t,
        }
    }

    fn ordered(&self) -> bool {
        matches!(
            self,
            Ty::Int | Ty::Decimal | Ty::Money | Ty::Duration | Ty::Time | Ty::Text | Ty::Unknown
        )
    }
}

/// Whether a value of type `actual` may be used where `expected` is required (no conversions:
/// only equal types, `T` for `T?`, and the unknown type after an error).
pub fn compatible(db: &dyn Db, project: Project, actual: &Ty, expected: &Ty) -> bool {
    match (actual, expected) {
        (Ty::Unknown, _) | (_, Ty::Unknown) => true,
        (Ty::Optional(a), Ty::Optional(e)) => compatible(db, project, a, e),
        (a, Ty::Optional(e)) => compatible(db, project, a, e),
        (Ty::List(a), Ty::List(e)) | (Ty::Set(a), Ty::Set(e)) | (Ty::Range(a), Ty::Range(e)) => {
            compatible(db, project, a, e)
        }
        (Ty::Record(d), Ty::Open(fields)) => {
            let Signature::Record(have) = resolve::signature(db, project, d.file, d.index) else {
                return false;
            };
            fields.iter().all(|(n, t)| {
                have.iter().any(|p| {
                    &p.name == n
                        && compatible(db, project, &p.ty, t)
                        && compatible(db, project, t, &p.ty)
                })
            })
        }
        // A record value written in a test (`{ a: 1, .. }`) against a record type is checked
        // field by field where it is written; here it only has to be a record value.
        (Ty::Open(_), Ty::Record(_)) => true,
        (a, e) => a == e,
    }
}

/// Local names and their types.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, (Ty, Span)>,
}

impl Env {
    /// Binds `name`.
    pub fn bind(&mut self, name: &str, ty: Ty, span: Span) {
        self.vars.insert(name.to_string(), (ty, span));
    }

    /// The type of local `name`, if it is bound.
    pub fn get(&self, name: &str) -> Option<&Ty> {
        self.vars.get(name).map(|(t, _)| t)
    }

    /// Where `name` is bound, if it is.
    fn binding(&self, name: &str) -> Option<Span> {
        self.vars.get(name).map(|(_, s)| *s)
    }
}

/// Places known to be present on the current path.
type Facts = BTreeSet<Place>;

/// A place (see [`place`]): an expression that names one value within a decision, by its
/// structure, so that what names a local (its root, a call's argument) is told apart from a
/// field that happens to be spelled like it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Place {
    /// A name: a local, or a declared value (a channel, an enum variant…).
    Name(String),
    /// A field of a place.
    Field(Box<Place>, String),
    /// A call of a function, an intrinsic or a signal (the dotted callee, never a local), with
    /// its arguments: the receiver of the method form first, then as written.
    Call(String, Vec<PlaceArg>),
}

/// An argument of a [`Place::Call`]: its name if given by name, and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlaceArg {
    name: Option<String>,
    value: PlaceValue,
}

/// The value of a [`PlaceArg`]: a place, or a literal (as the checker writes it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum PlaceValue {
    Place(Place),
    Literal(String),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Name(n) => write!(f, "{n}"),
            Place::Field(r, name) => write!(f, "{r}.{name}"),
            Place::Call(callee, args) => {
                write!(f, "{callee}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    if let Some(n) = &a.name {
                        write!(f, "{n}: ")?;
                    }
                    match &a.value {
                        PlaceValue::Place(p) => write!(f, "{p}")?,
                        PlaceValue::Literal(l) => write!(f, "{l}")?,
                    }
                }
                write!(f, ")")
            }
        }
    }
}

impl Place {
    /// Whether the place names local `name`: as its root, or in a call's argument (which is a
    /// place of its own). A field (`r.n`), a callee or an argument's name is not a name of a
    /// local, so `r.n` does not name `n`.
    pub fn names(&self, name: &str) -> bool {
        match self {
            Place::Name(n) => n == name,
            Place::Field(r, _) => r.names(name),
            Place::Call(_, args) => args.iter().any(|a| match &a.value {
                PlaceValue::Place(p) => p.names(name),
                PlaceValue::Literal(_) => false,
            }),
        }
    }
}

/// `a ∪ b`, without building a new set when one side is empty (most conditions learn nothing).
fn union(mut a: Facts, mut b: Facts) -> Facts {
    if a.len() < b.len() {
        std::mem::swap(&mut a, &mut b);
    }
    a.extend(b);
    a
}

/// `a ∩ b`, without building a new set when one side is empty.
fn intersection(a: &Facts, b: &Facts) -> Facts {
    if a.is_empty() || b.is_empty() {
        return Facts::new();
    }
    a & b
}

/// What narrowing learns from a condition: places present if it is true, and if it is false.
struct Learned {
    if_true: Facts,
    if_false: Facts,
}

/// The type checker for the items of one file.
pub struct Checker<'a> {
    db: &'a dyn Db,
    project: Project,
    scope: &'a Scope,
    path: Arc<str>,
    /// Diagnostics found so far.
    pub diags: Vec<Diagnostic>,
    /// Indices of the `use` declarations that were needed.
    pub used_imports: BTreeSet<(u32, String)>,
    /// Whether the expressions checked are a test's (record values are allowed only there).
    pub in_test: bool,
    /// When set, what each expression's type is and what each name refers to (for the
    /// language server; the compiler's own checks leave it unset).
    pub notes: Option<Box<crate::ide::Notes>>,
    file: SourceFile,
    depth: u32,
    /// Signatures already asked for: asking salsa interns the key each time, and every field
    /// access of every rule asks for its record's.
    signatures: rustc_hash::FxHashMap<(SourceFile, u32), &'a Signature>,
    /// Where the file's syntax errors start, sorted, asked for once (see
    /// [`Checker::cut_short`]).
    syntax_errors: Option<Vec<usize>>,
    /// The "did you mean" searches of this checker (one declaration, in a compile): their
    /// budget and the answers given.
    suggestions: Suggestions,
    /// A test's `let`s by the span of their name, with the names visible where each is
    /// written (see `Checker::let_use`).
    pub test_lets: rustc_hash::FxHashMap<Span, (Expr, Env)>,
    /// Whether the expression checked is a test's `let` value, whose record values are typed
    /// where the name is used (see `Checker::let_use`).
    pub deferred: bool,
    /// Whether the expression checked is inside a record value of a test's `let` (with
    /// [`Checker::deferred`]): checked again where the name is used, against the record type
    /// there, so an empty collection in it gets its type then.
    in_deferred_record: bool,
    /// The span of the value of the test's `let` being typed (with [`Checker::deferred`]).
    let_value: Option<Span>,
    /// The test `let`s, by the span of their value, that are checked again where their name
    /// is used although their type holds no record value: a collection whose elements, or an
    /// `if` whose branches, have one type only by the type expected at the use (`[1, absent]`
    /// as a `List<Int?>`, `[{ v: 1 }, { v: absent }]` as a `List<K>`). With each, what was
    /// reported at the `let` in case the name is never used: withdrawn at a use, which checks
    /// the value as if it were written there.
    typed_at_use: rustc_hash::FxHashMap<Span, Vec<Diagnostic>>,
    /// The signals reported read in a function (E0312), by where the function starts: each
    /// once per function.
    signals_in_fns: BTreeSet<(usize, String)>,
}

/// The collection operations, built into the language (`count(xs, x => …)`): no declaration
/// names them, and one of the same name hides them where it is visible.
pub const COLLECTION_OPS: &[&str] = &["any", "all", "count"];

/// How much work the "did you mean" searches of one checker may do, in steps of about a byte
/// compared (see [`resolve::nearest`]): a few tenths of a second (measured, release build: 0.27 s
/// on misspelt fields among a thousand). A compile checks each declaration with a checker of
/// its own (a salsa query each, so that an edit re-checks only what it touches, and so that
/// no budget is shared between queries), so this bounds the searches of one declaration.
/// Every candidate name is looked at for every unknown name, so a declaration of thousands of
/// unknown names among thousands of names would take minutes; the budget stops that, far
/// above what a declaration written by people asks (a thousand misspellings among a thousand
/// names of ten letters take 31 million). Past it the errors that remain in the declaration
/// get no suggestion (their other help is unchanged). A file has no budget of its own: its
/// searches cost the sum of its declarations', about a look at each candidate per unknown
/// name, the file's names being gathered once ([`NearNames`]).
pub const SUGGESTION_BUDGET: u64 = 200_000_000;

/// The candidate lists kept, in names, to reuse the answers for them: a list of names is
/// asked again for each misspelling of a record's field, say.
const SUGGESTION_LISTS_KEPT: usize = 1 << 20;

/// The "did you mean" searches of one checker, that is of one declaration in a compile
/// ([`Checker::suggest`]).
struct Suggestions {
    /// The steps of comparison left (see [`SUGGESTION_BUDGET`]).
    budget: u64,
    /// The candidate lists asked, numbered, while their names total at most
    /// [`SUGGESTION_LISTS_KEPT`].
    lists: rustc_hash::FxHashMap<Box<[Arc<str>]>, usize>,
    /// How many names `lists` holds.
    kept: usize,
    /// The answer for each misspelt name, by candidate list.
    answers: rustc_hash::FxHashMap<usize, rustc_hash::FxHashMap<Box<str>, Option<String>>>,
    /// The answer for each misspelt name, by list of the file's [`NearNames`] (known by
    /// which list it is: hashing a list of thousands of names to find it would cost as much
    /// as searching it).
    shared: rustc_hash::FxHashMap<NearList, rustc_hash::FxHashMap<Box<str>, Option<String>>>,
}

impl Default for Suggestions {
    fn default() -> Self {
        Suggestions {
            budget: SUGGESTION_BUDGET,
            lists: Default::default(),
            kept: 0,
            answers: Default::default(),
            shared: Default::default(),
        }
    }
}

impl Suggestions {
    /// Takes `steps` from the budget; false if that leaves none.
    fn spend(&mut self, steps: u64) -> bool {
        match self.budget.checked_sub(steps) {
            Some(left) => self.budget = left,
            None => self.budget = 0,
        }
        self.budget > 0
    }

    /// The closest of `candidates` to `name` ([`resolve::nearest`]), remembered for the list (looking
    /// it up again costs a step a name); `None` once the budget has run out, even for a name
    /// answered before.
    fn suggest(&mut self, name: &str, candidates: &[Arc<str>]) -> Option<String> {
        // Looking the list up reads each of its names.
        if self.budget == 0 || !self.spend(candidates.len() as u64) {
            return None;
        }
        let list = match self.lists.get(candidates) {
            Some(&list) => Some(list),
            None if self.kept + candidates.len() <= SUGGESTION_LISTS_KEPT => {
                let list = self.lists.len();
                self.lists.insert(candidates.into(), list);
                self.kept += candidates.len();
                Some(list)
            }
            None => None,
        };
        if let Some(found) = list.and_then(|l| self.answers.get(&l)?.get(name)) {
            return found.clone();
        }
        let found = resolve::nearest(name, candidates, &mut self.budget).map(str::to_string);
        if let Some(list) = list {
            (self.answers.entry(list).or_default()).insert(name.into(), found.clone());
        }
        found
    }

    /// The closest to `name` of the names of `shared`, list `which` of the file's
    /// [`NearNames`], followed by `locals`: what [`Suggestions::suggest`] finds in the two
    /// lists joined, without joining them. The answer for `shared` is remembered by `which`
    /// (looking it up again costs a step a byte of `name`); `None` once the budget has run
    /// out.
    fn suggest_near(
        &mut self,
        name: &str,
        which: NearList,
        shared: &[Arc<str>],
        locals: &[Arc<str>],
    ) -> Option<String> {
        if self.budget == 0 || !self.spend(name.len() as u64 + 1) {
            return None;
        }
        let known = self.shared.get(&which).and_then(|a| a.get(name)).cloned();
        let in_shared = match known {
            Some(found) => found,
            None => {
                let found = resolve::nearest(name, shared, &mut self.budget).map(str::to_string);
                if self.budget == 0 {
                    return None;
                }
                (self.shared.entry(which).or_default()).insert(name.into(), found.clone());
                found
            }
        };
        if locals.is_empty() {
            return in_shared;
        }
        let in_locals = self.suggest(name, locals);
        if self.budget == 0 {
            return None;
        }
        // The first of the highest score of the joined lists: a local wins only with a
        // higher score than the best of the earlier list, as a tie goes to the earlier name.
        match (in_shared, in_locals) {
            (Some(s), Some(l))
                if strsim::jaro_winkler(name, &l) > strsim::jaro_winkler(name, &s) =>
            {
                Some(l)
            }
            (Some(s), _) => Some(s),
            (None, l) => l,
        }
    }
}

/// Which list of a file's [`NearNames`] a search is in (what [`Suggestions`] remembers its
/// answers by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum NearList {
    /// [`NearNames::values`].
    Values,
    /// [`NearNames::calls`].
    Calls,
    /// [`NearNames::of_kind`] for this kind.
    Kind(DefKind),
    /// [`parameterless_fns`].
    Parameterless,
}

/// The names a "did you mean" search of a file chooses among, by what the place of the
/// unknown name takes (`Checker::near_name`). A query of its own, so that it is gathered
/// once per file (and again only when the file's scope changes), not for each unknown name:
/// gathering it is a walk of every name the file sees, and the declarations of a file each
/// check with a checker of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct NearNames {
    /// For a value: the channels, purposes and roles visible, sorted, then the variants of
    /// the visible enums.
    pub values: Vec<Arc<str>>,
    /// For a call: the functions, intrinsics and signals visible, sorted, then the
    /// collection operations that no declaration of their name hides.
    pub calls: Vec<Arc<str>>,
    /// For a place that takes one other kind (a type, say): the names visible of that kind,
    /// sorted.
    pub of_kind: BTreeMap<DefKind, Vec<Arc<str>>>,
}

/// The names "did you mean" searches of `file` choose among ([`NearNames`]).
#[salsa::tracked(returns(ref))]
pub fn near_names(db: &dyn Db, project: Project, file: SourceFile) -> NearNames {
    let scope = resolve::file_scope(db, project, file);
    let mut values = scope.visible_names_of(db, |found| takes(None, found));
    values.extend(scope.variants.keys().cloned());
    let mut calls = scope.visible_names_of(db, |found| takes(Some(DefKind::Fn), found));
    calls.extend(
        (COLLECTION_OPS.iter())
            // One that a declaration of its name hides is not callable as one.
            .filter(|op| matches!(scope.lookup(db, op), Lookup::Missing))
            .map(|op| Arc::from(*op)),
    );
    // Each kind's names, sorted without repeats as `visible_names_of` gives them.
    let mut of_kind: BTreeMap<DefKind, Vec<Arc<str>>> = BTreeMap::new();
    for (name, entry) in &scope.names {
        of_kind
            .entry(entry.def.kind)
            .or_default()
            .push(name.clone());
    }
    for &(_, glob) in &scope.globs {
        for (name, def) in &resolve::item_table(db, glob).by_name {
            of_kind.entry(def.kind).or_default().push(name.clone());
        }
    }
    for names in of_kind.values_mut() {
        names.sort();
        names.dedup();
    }
    of_kind.retain(|&kind, _| kind != DefKind::Fn);
    NearNames {
        values,
        calls,
        of_kind,
    }
}

/// The functions and intrinsics visible in `file` that take no parameters, sorted: XOP's
/// named values, which a "did you mean" for an unknown value suggests called
/// (`max_messages()`). A query of its own, as [`NearNames`] is: finding them asks the
/// signature of every function the file sees.
#[salsa::tracked(returns(ref))]
pub fn parameterless_fns(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Arc<str>> {
    let scope = resolve::file_scope(db, project, file);
    let callable = |k| matches!(k, DefKind::Fn | DefKind::Intrinsic);
    let mut out = Vec::new();
    for f in scope.visible_names_of(db, callable) {
        if let Lookup::Found(e) = scope.lookup(db, &f)
            && let Signature::Callable { params, .. } =
                resolve::signature(db, project, e.def.file, e.def.index)
            && params.is_empty()
        {
            out.push(f);
        }
    }
    out
}

/// The most names a help lists (the fields of a record, say, when none is near the name
/// misspelt): enough for any record people read whole, and a long list in each of thousands
/// of errors would make the output quadratic in the file.
pub const MAX_LISTED: usize = 50;

/// `names`, the first of `total`, comma-separated: the first [`MAX_LISTED`], then how many
/// more.
fn listed(names: &[Arc<str>], total: usize) -> String {
    let shown: Vec<&str> = names.iter().take(MAX_LISTED).map(|n| &**n).collect();
    match total.checked_sub(shown.len()) {
        Some(more) if more > 0 => format!("{}, and {more} more", shown.join(", ")),
        _ => shown.join(", "),
    }
}

/// Whether one of `starts` (syntax errors' starts, sorted, without repeats) is at `end` of
/// `text` or after it with only blanks between. Only the first start at or after `end` that
/// is a character boundary need be looked at: the blanks before a later one hold the text
/// before this one. So it costs a binary search and a walk over the blanks after `end`.
fn error_follows(text: &str, starts: &[usize], end: usize) -> bool {
    if !text.is_char_boundary(end) {
        return false;
    }
    let from = starts.partition_point(|&s| s < end);
    for &start in &starts[from..] {
        if start > text.len() {
            return false;
        }
        if let Some(between) = text.get(end..start) {
            return between.chars().all(char::is_whitespace);
        }
        // Inside a character: no text ends there, but a later start may follow blanks.
    }
    false
}

impl<'a> Checker<'a> {
    /// A checker for `file`.
    pub fn new(db: &'a dyn Db, project: Project, file: SourceFile, scope: &'a Scope) -> Self {
        Checker {
            db,
            project,
            scope,
            path: file.path(db).clone(),
            diags: Vec::new(),
            used_imports: BTreeSet::new(),
            in_test: false,
            notes: None,
            file,
            depth: 0,
            signatures: Default::default(),
            syntax_errors: None,
            suggestions: Suggestions::default(),
            test_lets: Default::default(),
            deferred: false,
            in_deferred_record: false,
            let_value: None,
            typed_at_use: Default::default(),
            signals_in_fns: BTreeSet::new(),
        }
    }

    /// The signature of `def` ([`resolve::signature`]), remembered.
    fn signature(&mut self, def: &Def) -> &'a Signature {
        self.signatures
            .entry((def.file, def.index))
            .or_insert_with(|| resolve::signature(self.db, self.project, def.file, def.index))
    }

    fn note_type(&mut self, span: Span, ty: &Ty) {
        if let Some(n) = &mut self.notes {
            n.types.push((span, ty.clone()));
        }
    }

    fn note_ref(&mut self, span: Span, target: crate::ide::Target) {
        if let Some(n) = &mut self.notes {
            n.refs.push(crate::ide::Ref { span, target });
        }
    }

    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Looks up a name in the file's scope, remembering the import it used.
    pub fn lookup(&mut self, name: &str, span: Span) -> Option<Def> {
        match self.scope.lookup(self.db, name) {
            Lookup::Found(e) => {
                if let Some(u) = e.via_use {
                    self.used_imports.insert((u, name.to_string()));
                }
                self.note_ref(span, crate::ide::Target::Def(e.def.clone()));
                Some(e.def)
            }
            Lookup::Ambiguous(defs) => {
                let d = resolve::ambiguous(self.db, &self.path, name, span, &defs);
                self.err(d);
                None
            }
            Lookup::Missing => None,
        }
    }

    /// Looks up a name that must be a declaration of kind `kind`; reports E0205/E0208.
    pub fn expect_def(&mut self, name: &ast::Ident, kind: DefKind) -> Option<Def> {
        match self.lookup(&name.name, name.span) {
            Some(def) if def.kind == kind => Some(def),
            Some(def) => {
                let d = Diagnostic::error(
                    "E0208",
                    &self.path,
                    name.span,
                    format!(
                        "`{}` is {}, not {}",
                        name.name,
                        def.kind.describe(),
                        kind.describe()
                    ),
                )
                .with_label(format!("expected {}", kind.describe()))
                .with_secondary(def.file.path(self.db), def.span, "declared here")
                .with_help(wrong_kind_help(&name.name, def.kind, kind, |n| {
                    self.importable(n)
                }));
                self.err(d);
                None
            }
            None => {
                if !matches!(self.scope.lookup(self.db, &name.name), Lookup::Ambiguous(_)) {
                    self.unresolved(&name.name, name.span, Some(kind), None);
                }
                None
            }
        }
    }

    /// Looks up a path (`a`, or `module.item`) that must be of kind `kind`.
    pub fn expect_path(&mut self, path: &ast::Path, kind: DefKind) -> Option<Def> {
        if path.segments.len() == 1 {
            return self.expect_def(&path.segments[0], kind);
        }
        let module: Vec<&str> = path.segments[..path.segments.len() - 1]
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let module = module.join(".");
        let index = resolve::module_index(self.db, self.project);
        // A connector path such as `camara.sim_swap` is short for `std.camara.sim_swap`.
        let file = index
            .by_name
            .get(&module)
            .or_else(|| index.by_name.get(&format!("std.{module}")))
            .copied();
        let last = path.last();
        let Some(file) = file else {
            let d = Diagnostic::error("E0203", &self.path, path.span, format!("there is no module `{module}`"))
                .with_label("unknown module")
                .with_help("check the name, and that the file declaring that module is among the files checked");
            self.err(d);
            return None;
        };
        let found = resolve::item_table(self.db, file)
            .by_name
            .get(last.name.as_str());
        if let Some(def) = found {
            self.note_ref(last.span, crate::ide::Target::Def(def.clone()));
        }
        match found {
            Some(def) if def.kind == kind => Some(def.clone()),
            Some(def) => {
                let d = Diagnostic::error(
                    "E0208",
                    &self.path,
                    path.span,
                    format!(
                        "`{}` is {}, not {}",
                        path.dotted(),
                        def.kind.describe(),
                        kind.describe()
                    ),
                )
                .with_label(format!("expected {}", kind.describe()))
                .with_help(wrong_kind_help(&path.dotted(), def.kind, kind, |n| {
                    self.importable(n)
                }));
                self.err(d);
                None
            }
            None => {
                // The module as found (`camara` is `std.camara`).
                let module = resolve::module_name(self.db, file);
                let help = resolve::missing_item_help(
                    self.db,
                    self.project,
                    self.file,
                    (&module, file),
                    &last.name,
                    resolve::Written::Path,
                    |found| found == kind,
                );
                let d = Diagnostic::error(
                    "E0204",
                    &self.path,
                    last.span,
                    format!("module `{module}` has no item `{}`", last.name),
                )
                .with_label("not declared there")
                .with_help(help);
                self.err(d);
                None
            }
        }
    }

    /// E0205 for `name` at `span`, which resolves nowhere (`kind`: the kind of declaration
    /// expected there, if any; `None` for a value, whose local names are `env`), with a help
    /// that says how to fix it.
    fn unresolved(&mut self, name: &str, span: Span, kind: Option<DefKind>, env: Option<&Env>) {
        // A name a failed `use` of the file names: the use refers to what the import would
        // have brought, and the import's error (E0203, E0204) already says what to fix.
        if self.scope.failed_imports.contains(name) {
            return;
        }
        let what = kind.map_or("name".to_string(), |k| {
            k.describe()
                .trim_start_matches("an ")
                .trim_start_matches("a ")
                .to_string()
        });
        let d = Diagnostic::error(
            "E0205",
            &self.path,
            span,
            format!("cannot find {what} `{name}`"),
        )
        .with_label("not found in this scope");
        let unbound = match kind {
            None => self.unbound_parameter(name, span),
            Some(_) => None,
        };
        let time = match kind {
            None => self.decision_time_help(name, span),
            Some(_) => None,
        };
        let accept = |found: DefKind| takes(kind, found);
        let help = if let Some(h) = unbound.or(time) {
            h
        } else if let Some(h) = kind.map_or_else(|| other_language_value(name), |_| None) {
            h
        } else if let Some(h) = resolve::import_hint(self.db, self.project, name, accept) {
            // A module declares the very name: importing it is surely what is missing, more
            // surely than a near spelling.
            h
        } else if let Some(h) = kind.map_or_else(|| self.variant_import_hint(name), |_| None) {
            // A value of an enum the file does not import: its variants come with it.
            h
        } else if let Some(s) = self.near_name(name, kind, env) {
            format!("did you mean `{s}`?")
        } else if let Some(k) = kind {
            // No module checked declares it as this place takes (else `import_hint` named
            // it): there is no module to name in a `use`.
            format!(
                "no module checked declares {} `{name}`: declare it (`{}`), or import it with `use` from the module that declares it, checked with this file",
                k.describe(),
                declaration_form(k, name)
            )
        } else {
            // A value: XOP has no constants, a function without parameters gives one.
            format!(
                "no module checked declares `{name}` as a value: declare it (a value is a function without parameters: `fn {name}(): TYPE = VALUE`, read as `{name}()`), or import it with `use` from the module that declares it, checked with this file"
            )
        };
        self.err(d.with_help(help));
    }

    /// Reports `receiver.callee(args)` if it is a function called through its module
    /// (`std.time.local_hour(now, tz)`, see [`Self::module_path`]), and checks its arguments;
    /// whether it is. Apart from [`Self::call`], which recurses once per level of nesting, so
    /// that what this needs is not on the stack at each level (deep nesting is checked up to
    /// the limit without overflowing it).
    #[inline(never)]
    fn qualified_call(
        &mut self,
        env: &Env,
        facts: &Facts,
        span: Span,
        receiver: &Expr,
        callee: &ast::Path,
        args: &[ast::Arg],
    ) -> bool {
        let Some(path) = self.module_path(env, receiver, callee.last()) else {
            return false;
        };
        self.qualified(env, &path, Some(span));
        for a in args {
            self.expr(env, facts, &a.value, None);
        }
        true
    }

    /// Reports `recv.field` if it is a declaration named through its module (`std.time.x`,
    /// see [`Self::module_path`]); whether it is. Apart from [`Self::field`] for the same
    /// reason as [`Self::qualified_call`].
    #[inline(never)]
    fn qualified_field(&mut self, env: &Env, recv: &Expr, field: &ast::Ident) -> bool {
        let Some(path) = self.module_path(env, recv, field) else {
            return false;
        };
        self.qualified(env, &path, None);
        true
    }

    /// For `base.last` (a field read, or the callee of a method call on `base`) whose `base`
    /// is a chain of names (`std.time`) starting with a name that resolves nowhere and that
    /// begins a module's name: the path as written (`std.time.local_hour`). Such a path means
    /// a module's declaration, which is named by importing it (language.md §4.2: qualified
    /// calls are Planned); `None` for anything else, whose names are checked as usual.
    fn module_path(&self, env: &Env, base: &Expr, last: &ast::Ident) -> Option<ast::Path> {
        // Most field reads are of a local (`c.tz`): settled before anything is built or looked
        // up, as this runs on every field read and method call.
        let mut at = base;
        let root = loop {
            match &at.kind {
                ExprKind::Field(inner, _) => at = inner,
                ExprKind::Name(n) => break n,
                _ => return None,
            }
        };
        if env.get(&root.name).is_some()
            || !matches!(self.scope.lookup(self.db, &root.name), Lookup::Missing)
            || self.scope.variants.contains_key(root.name.as_str())
            || self.scope.failed_imports.contains(root.name.as_str())
        {
            return None;
        }
        let index = resolve::module_index(self.db, self.project);
        if !(index.by_name.keys()).any(|m| m.split('.').next() == Some(root.name.as_str())) {
            return None;
        }
        let mut segments = vec![last.clone()];
        let mut at = base;
        while let ExprKind::Field(inner, f) = &at.kind {
            segments.push(f.clone());
            at = inner;
        }
        segments.push(root.clone());
        segments.reverse();
        let span = root.span.to(last.span);
        Some(ast::Path { segments, span })
    }

    /// One diagnostic for a module's declaration named through its module, `path`
    /// (`std.time.local_hour`, from [`Self::module_path`]): called, if `call` is the span of
    /// the whole call, else read as a value. A path to a real declaration is E0205 (qualified
    /// names are not supported yet), whose help imports the declaration and names it as
    /// imported; an unknown module is E0203, an unknown item E0204, as for a `use`. `env`
    /// holds the locals in scope where it is written.
    #[inline(never)]
    fn qualified(&mut self, env: &Env, path: &ast::Path, call: Option<Span>) {
        let segs = &path.segments;
        let last = path.last();
        let index = resolve::module_index(self.db, self.project);
        let whole = path.dotted();
        if call.is_none() && index.by_name.contains_key(&whole) {
            let d = Diagnostic::error(
                "E0205",
                &self.path,
                path.span,
                format!("`{whole}` is a module, not a value"),
            )
            .with_label("a module")
            .with_help(format!(
                "a module's declarations are imported, not read through the module: `use {whole}.NAME`, then write `NAME`"
            ));
            self.err(d);
            return;
        }
        let module_segs = &segs[..segs.len() - 1];
        let module = module_segs
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(".");
        let Some(&file) = index.by_name.get(&module) else {
            let span = module_segs[0]
                .span
                .to(module_segs[module_segs.len() - 1].span);
            let names: Vec<Arc<str>> = index.by_name.keys().map(|m| Arc::from(&**m)).collect();
            let help = match self.suggest(&module, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "check the name, and that the file declaring that module is among the files checked".to_string(),
            };
            let d = Diagnostic::error(
                "E0203",
                &self.path,
                span,
                format!("there is no module `{module}`"),
            )
            .with_label("unknown module")
            .with_help(help);
            self.err(d);
            return;
        };
        let what = if call.is_some() { "calls" } else { "names" };
        let not_yet = format!(
            "qualified {what} are not supported yet: import a declaration with `use MODULE.NAME` and name it as imported"
        );
        let callable = |k: DefKind| matches!(k, DefKind::Fn | DefKind::Intrinsic | DefKind::Signal);
        let found = resolve::item_table(self.db, file)
            .by_name
            .get(last.name.as_str())
            .cloned();
        let Some(def) = found else {
            let help = resolve::missing_item_help(
                self.db,
                self.project,
                self.file,
                (&module, file),
                &last.name,
                resolve::Written::Path,
                |k| call.is_none() || callable(k),
            );
            let d = Diagnostic::error(
                "E0204",
                &self.path,
                last.span,
                format!("module `{module}` has no item `{}`", last.name),
            )
            .with_label("not declared there")
            .with_help(help)
            .with_note(not_yet);
            self.err(d);
            return;
        };
        self.note_ref(last.span, crate::ide::Target::Def(def.clone()));
        let module_last = &module_segs[module_segs.len() - 1].name;
        let (import, local) = self.import_name(env, &module, module_last, &def);
        let written = match call {
            // The call as written, from its name on, under the name the file gives it.
            Some(span) => self
                .written_text(Span::new(last.span.end(), span.end()))
                .map_or_else(|| format!("{local}(…)"), |args| format!("{local}{args}")),
            // A function read, not called, is still called where imported: a function is no
            // value (one without parameters gives one, called).
            None if callable(def.kind) => format!("{local}(…)"),
            None => local.clone(),
        };
        let (message, label) = match call {
            Some(_) => (
                format!("cannot call `{whole}` through its module"),
                "a qualified call",
            ),
            None => (
                format!("cannot name `{whole}` through its module"),
                "a qualified name",
            ),
        };
        let verb = if call.is_some() || callable(def.kind) {
            "call"
        } else {
            "write"
        };
        let help = match import {
            Some(import) => format!("import it with `{import}`, then {verb} `{written}`"),
            None if local == last.name => format!("it is imported already: {verb} `{written}`"),
            None => format!("it is imported already, as `{local}`: {verb} `{written}`"),
        };
        let d = Diagnostic::error("E0205", &self.path, path.span, message)
            .with_label(label)
            .with_note(not_yet)
            .with_help(help);
        self.err(d);
    }

    /// The name under which the file can name `def` (a declaration of module `module`, whose
    /// last segment is `module_last`) where a qualified path to it is written, with the
    /// `use` that gives it that name if the file does not import it yet. A name the file
    /// imports it under already (its own name, else an alias) is that name, with no `use`:
    /// a second import of it would only be a second name for it, and the import is marked
    /// used, since it is what the fix names. Else its own name if free, or an alias
    /// prefixed with the module's last segment (`time_local_hour`), numbered if that is
    /// taken too (`time_local_hour_2`): a name taken already would be defined twice (E0206)
    /// or name something else. Apart from [`Self::qualified`] to keep it off the stack of
    /// the recursive checks.
    #[inline(never)]
    fn import_name(
        &mut self,
        env: &Env,
        module: &str,
        module_last: &str,
        def: &Def,
    ) -> (Option<String>, String) {
        let name = def.name.to_string();
        // Imported already: under its own name (explicitly or by a glob), else any alias.
        let imported = match self.scope.lookup(self.db, &name) {
            Lookup::Found(e) if e.def == *def && env.get(&name).is_none() => {
                Some((name.clone(), e.via_use))
            }
            _ => self
                .scope
                .names
                .iter()
                .find(|(n, e)| e.def == *def && env.get(n).is_none())
                .map(|(n, e)| (n.to_string(), e.via_use)),
        };
        if let Some((local, via_use)) = imported {
            if let Some(u) = via_use {
                self.used_imports.insert((u, local.clone()));
            }
            return (None, local);
        }
        // Its own name, else the alias (`time_local_hour`), numbered from 2 if taken.
        let candidate = if self.name_free(env, &name) {
            name.clone()
        } else {
            resolve::fresh_name(&format!("{module_last}_{name}"), |n| self.name_free(env, n))
        };
        let import = if candidate == name {
            format!("use {module}.{name}")
        } else {
            format!("use {module}.{name} as {candidate}")
        };
        (Some(import), candidate)
    }

    /// Whether `def` is the declaration `name` of the standard library's module `module`:
    /// by identity, since a file may declare an item of the same name.
    pub(crate) fn is_std_item(&self, def: &Def, module: &str, name: &str) -> bool {
        &*def.name == name && resolve::module_name(self.db, def.file) == module
    }

    /// How the file writes value `variant` of enum `enum_name` of module `module`
    /// (`credit_scoring` of `std.risk.AnnexIII`) in a help it can follow as written: the
    /// `use` to add, if the file does not import the enum (variants come into scope with
    /// their enum, language.md §4.3), and the value: the variant alone, or qualified by the
    /// name the enum has in the file (`AnnexIII.credit_scoring`) when the variant alone would
    /// name something else there (a declaration of the file, or a variant of another enum in
    /// scope). `None` if the module has no such enum (a help then names the value as is).
    pub(crate) fn enum_value(
        &mut self,
        module: &str,
        enum_name: &str,
        variant: &str,
    ) -> Option<(Option<String>, String)> {
        let index = resolve::module_index(self.db, self.project);
        let file = *index.by_name.get(module)?;
        let def = resolve::item_table(self.db, file)
            .by_name
            .get(enum_name)
            .filter(|d| d.kind == DefKind::Enum)?
            .clone();
        let module_last = module.rsplit('.').next().unwrap_or(module);
        let (import, local) = self.import_name(&Env::default(), module, module_last, &def);
        let alone = matches!(self.scope.lookup(self.db, variant), Lookup::Missing)
            && !self.scope.failed_imports.contains(variant)
            && self
                .scope
                .variants
                .get(variant)
                .is_none_or(|enums| enums.iter().all(|e| *e == def));
        let value = if alone {
            variant.to_string()
        } else {
            format!("{local}.{variant}")
        };
        Some((import, value))
    }

    /// For a value `name` that resolves nowhere: the `use` of an enum of another module that
    /// has it as a variant (`use std.risk.AnnexIII` for `credit_scoring`), since variants come
    /// into scope with their enum (language.md §4.3), and how to write it then. `None` if no
    /// such enum is left to import.
    #[inline(never)]
    fn variant_import_hint(&mut self, name: &str) -> Option<String> {
        let index = resolve::module_index(self.db, self.project);
        for (module, &file) in &index.by_name {
            if file == self.file {
                continue;
            }
            let enums = resolve::item_table(self.db, file)
                .by_name
                .values()
                .filter(|d| d.kind == DefKind::Enum);
            for def in enums {
                let Signature::Enum(variants) = self.signature(def) else {
                    continue;
                };
                if !variants.iter().any(|v| **v == *name) {
                    continue;
                }
                if let Some((Some(import), value)) = self.enum_value(module, &def.name, name) {
                    let then = if value == name {
                        String::new()
                    } else {
                        format!(", then write `{value}`")
                    };
                    return Some(format!(
                        "`{name}` is a value of enum `{module}.{}`: add `{import}` at the top of the file{then}",
                        def.name
                    ));
                }
            }
        }
        None
    }

    /// Whether `name` names nothing where `env` holds the locals: no declaration or import
    /// of the file, no variant of a visible enum, no name a failed `use` would have brought
    /// in, no local. A name brought in under it would be defined twice, or mean something
    /// else there.
    fn name_free(&self, env: &Env, name: &str) -> bool {
        self.scope.name_free(self.db, name) && env.get(name).is_none()
    }

    /// The name closest to `name` (a likely typo of it) among those that can stand where it is
    /// written, as it is written there: declarations and imports of the kind expected there
    /// (`kind`, see [`takes`]); for a value (`kind` is `None`), also the local names of `env`
    /// and the variants of the visible enums, else a function without parameters, called
    /// (`max_messages()`: XOP's named values); for a call, also the collection operations.
    /// All but the locals are the file's, gathered once for every declaration's check
    /// ([`near_names`], [`parameterless_fns`]): each unknown name pays only its search.
    fn near_name(
        &mut self,
        name: &str,
        kind: Option<DefKind>,
        env: Option<&Env>,
    ) -> Option<String> {
        if self.suggestions.budget == 0 {
            return None;
        }
        // The file's names, gathered once for all its checks; only the locals are this
        // search's own.
        let near = near_names(self.db, self.project, self.file);
        let (which, shared) = match kind {
            None => (NearList::Values, &near.values[..]),
            Some(DefKind::Fn) => (NearList::Calls, &near.calls[..]),
            Some(k) => (
                NearList::Kind(k),
                near.of_kind.get(&k).map_or(&[][..], |names| &names[..]),
            ),
        };
        let locals: Vec<Arc<str>> = match (kind, env) {
            (None, Some(env)) => env.vars.keys().map(|n| Arc::from(n.as_str())).collect(),
            _ => Vec::new(),
        };
        if let Some(s) = self.suggestions.suggest_near(name, which, shared, &locals) {
            return Some(s);
        }
        if kind.is_some() {
            return None;
        }
        let values = parameterless_fns(self.db, self.project, self.file);
        (self.suggestions)
            .suggest_near(name, NearList::Parameterless, values, &[])
            .map(|s| format!("{s}()"))
    }

    /// Whether `name` can be imported into the file: nothing of the file has it, or only the
    /// import itself.
    fn importable(&self, name: &str) -> bool {
        match self.scope.lookup(self.db, name) {
            Lookup::Missing => true,
            Lookup::Found(e) => e.via_use.is_some(),
            Lookup::Ambiguous(_) => false,
        }
    }

    /// For `now` that resolves nowhere, in a policy or decision (at `span`): the help that
    /// says how to read the decision time there. Only the header binds it (`at now`), under
    /// the name it gives (`at t`).
    fn decision_time_help(&self, name: &str, span: Span) -> Option<String> {
        if name != "now" {
            return None;
        }
        let item = self.enclosing_item(span)?;
        let (what, own, at, header) = match &item.kind {
            ast::ItemKind::Policy(p) => (
                "policy",
                &p.name.name,
                &p.at,
                format!("`{}`", p.header_with(None, Some("now"))),
            ),
            ast::ItemKind::Decision(d) => (
                "decision",
                &d.name.name,
                &d.at,
                format!("`decision {}(…) at now`", d.name.name),
            ),
            _ => return None,
        };
        Some(match at {
            Some(t) => format!(
                "this {what} names the decision time `{0}` (`at {0}`): write `{0}`",
                t.name
            ),
            None => format!(
                "`now` is the decision time, which a {what} can read only if its header binds it: add `at now` to the header of {what} `{own}`: {header}"
            ),
        })
    }

    /// The item of the file that `span` is in.
    fn enclosing_item(&self, span: Span) -> Option<&'a ast::Item> {
        crate::db::parse_file(self.db, self.file)
            .ast
            .items
            .iter()
            .find(|i| i.span.start() <= span.start() && span.end() <= i.span.end())
            .map(|i| &**i)
    }

    /// For a name `name` that resolves nowhere, in a policy (at `span`): if it is a parameter
    /// of the guarded action that the policy does not bind (or binds under another name),
    /// the help that says so. Parameters not bound cannot be read (language.md §5.9).
    fn unbound_parameter(&self, name: &str, span: Span) -> Option<String> {
        let ast::ItemKind::Policy(p) = &self.enclosing_item(span)?.kind else {
            return None;
        };
        if let Some(b) = p.bindings.iter().find(|b| b.param.name == name) {
            return Some(format!(
                "parameter `{name}` is bound as `{}` in this policy: write `{}`",
                b.var.name, b.var.name
            ));
        }
        let has = |action: &Def| match resolve::signature(
            self.db,
            self.project,
            action.file,
            action.index,
        ) {
            Signature::Action { params, .. } => params.iter().any(|x| *x.name == *name),
            _ => false,
        };
        let (target, whose) = match &p.target {
            ast::Target::Action(path) => {
                let action = resolve::resolve_path(self.db, self.project, self.file, path)?;
                if action.kind != DefKind::Action || !has(&action) {
                    return None;
                }
                (path.dotted(), format!("action `{}`", action.name))
            }
            ast::Target::Purpose(purpose) => {
                let Lookup::Found(e) = self.scope.lookup(self.db, &purpose.name) else {
                    return None;
                };
                let actions =
                    crate::check::purpose_actions(self.db, self.project, &e.def, &p.bindings);
                if actions.is_empty() || !actions.iter().all(has) {
                    return None;
                }
                (
                    format!("purpose {}", purpose.name),
                    format!("every action of purpose `{}`", purpose.name),
                )
            }
        };
        let mut bound: Vec<String> = p.bindings.iter().map(ast::Binding::written).collect();
        bound.push(name.to_string());
        Some(format!(
            "`{name}` is a parameter of {whose}, which this policy does not bind; bind it to read it: `for {target}({})`",
            bound.join(", ")
        ))
    }

    /// Resolves a written type, reporting problems.
    pub fn ty(&mut self, t: &ast::TypeExpr) -> Ty {
        self.mark_type_imports(t);
        match resolve::resolve_type_in(self.db, self.project, self.scope, t, &self.path) {
            Ok(t) => t,
            Err(d) => {
                self.err(*d);
                Ty::Unknown
            }
        }
    }

    /// Records the imports a written type relies on (for unused-import warnings).
    fn mark_type_imports(&mut self, t: &ast::TypeExpr) {
        match t {
            ast::TypeExpr::Named { path, args, .. } => {
                if path.segments.len() == 1
                    && let Lookup::Found(e) = self.scope.lookup(self.db, &path.segments[0].name)
                    && let Some(u) = e.via_use
                {
                    self.used_imports.insert((u, path.segments[0].name.clone()));
                }
                for a in args {
                    self.mark_type_imports(a);
                }
            }
            ast::TypeExpr::Optional { inner, .. } => self.mark_type_imports(inner),
            ast::TypeExpr::Open { fields, .. } => {
                for (_, f) in fields {
                    self.mark_type_imports(f);
                }
            }
            ast::TypeExpr::Error(_) => {}
        }
    }

    /// Records the import through which enum `def` is visible, if any: under its own name,
    /// else under an alias (`use std.risk.AnnexIII as risk_AnnexIII` brings the variants in
    /// all the same).
    #[inline(never)]
    fn mark_enum_import(&mut self, def: &Def) {
        let via = match self.scope.lookup(self.db, &def.name) {
            Lookup::Found(e) if e.def == *def => e.via_use.map(|u| (u, def.name.to_string())),
            _ => (self.scope.names.iter())
                .find(|(_, e)| e.def == *def)
                .and_then(|(n, e)| e.via_use.map(|u| (u, n.to_string()))),
        };
        if let Some(used) = via {
            self.used_imports.insert(used);
        }
    }

    fn mismatch(&mut self, span: Span, expected: &Ty, found: &Ty, what: &str) {
        let mut d = Diagnostic::error(
            "E0301",
            &self.path,
            span,
            format!("{what}: expected `{expected}`, found `{found}`"),
        )
        .with_label(format!("this is `{found}`"));
        d = match (expected.present(), found.present()) {
            (Ty::Decimal, Ty::Int) => d.with_help(
                "XOP does not convert numbers: write the integer as a decimal, e.g. `3.0`",
            ),
            (Ty::Int, Ty::Decimal) => {
                d.with_help("XOP does not convert numbers: use an integer literal")
            }
            (Ty::Duration, Ty::Int) => {
                d.with_help("write a duration with its unit, e.g. `15m` or `24h`")
            }
            _ => d.with_help(format!(
                "give a value of type `{expected}`; XOP has no implicit conversions"
            )),
        };
        self.err(d);
    }

    /// The scope of the file being checked.
    pub(crate) fn scope(&self) -> &'a Scope {
        self.scope
    }

    /// Checks `e` against `expected`.
    pub fn check(&mut self, env: &Env, facts: &Facts, e: &Expr, expected: &Ty, what: &str) {
        let found = self.expr(env, facts, e, Some(expected));
        self.check_found(env, facts, e, found, expected, what);
    }

    /// Checks `e`, of type `found` (typed with `expected` expected), against `expected`.
    fn check_found(
        &mut self,
        env: &Env,
        facts: &Facts,
        e: &Expr,
        found: Ty,
        expected: &Ty,
        what: &str,
    ) {
        let found = if expected.is_optional() {
            found
        } else {
            self.require_present(facts, e, found)
        };
        if !compatible(self.db, self.project, &found, expected) {
            self.mismatch(e.span, expected, &found, what);
            self.help_hidden_variant(env, e, expected);
        }
    }

    /// When the error just reported is about `e`, a bare name that is a variant of `other`'s
    /// enum but names something else here (a local, or a declaration or import, which come
    /// before enum variants, language.md §4.3: `sms` with `use std.channel.*`), its help says
    /// to write the variant qualified (`E.sms`).
    fn help_hidden_variant(&mut self, env: &Env, e: &Expr, other: &Ty) {
        let ExprKind::Name(n) = &strip_parens(e).kind else {
            return;
        };
        let Ty::Enum(def) = other.present() else {
            return;
        };
        let Signature::Enum(vs) = self.signature(def) else {
            return;
        };
        if !vs.iter().any(|v| **v == *n.name) {
            return;
        }
        let what = if env.get(&n.name).is_some() {
            format!("the local name `{}`", n.name)
        } else if let Lookup::Found(x) = self.scope.lookup(self.db, &n.name) {
            let kind = x.def.kind.describe();
            let kind = kind
                .strip_prefix("an ")
                .or_else(|| kind.strip_prefix("a "))
                .unwrap_or(kind);
            format!("the {kind} `{}`", x.def.qualified(self.db))
        } else {
            return;
        };
        let help = format!(
            "`{0}` here is {what}, which comes before the variant `{0}` of `{1}`: write `{1}.{0}` for the variant",
            n.name, def.name
        );
        if let Some(d) = self.diags.last_mut() {
            d.help = Some(help);
        }
    }

    /// Checks `e`, a duration that the compiled program holds as a number: a review's
    /// `within`, a signal's `max_age`. It is the same for every decision, so it is written
    /// with literals (E0316), and longer than zero (E0317). `what` names it (`` `within` ``).
    pub fn fixed_duration(&mut self, env: &Env, e: &Expr, what: &str, help: &str) {
        let before = self.diags.len();
        let must = format!("{what} must be a duration");
        self.check(env, &Facts::new(), e, &Ty::Duration, &must);
        if self.diags[before..].iter().any(Diagnostic::is_error) {
            return;
        }
        if has_error(e) {
            return; // a part the parser could not read: its syntax error says it
        }
        let d = match duration_value(e) {
            Some(ms) if ms > 0 => return,
            // A deadline already passed when the case opens, a freshness bound no value meets.
            Some(ms) => Diagnostic::error(
                "E0317",
                &self.path,
                e.span,
                format!("{what} must be longer than zero"),
            )
            .with_label(format!("this comes to `{}`", xop_runtime::value::duration_text(ms)))
            .with_note("a review's `within` is the time the reviewer has, a signal's `max_age` the age a value may have: zero or less leaves no time at all")
            .with_help("write a positive duration such as `15m`"),
            None => Diagnostic::error(
                "E0316",
                &self.path,
                e.span,
                format!("{what} must be a duration known when the program is compiled"),
            )
            .with_label(not_constant(e))
            .with_note("the compiled program holds it as a number, the same for every decision: it cannot read the input, call a function or fail")
            .with_help(format!("{help}; XOP has no named constants, so a duration shared by several rules is written as a literal in each")),
        };
        self.err(d);
    }

    /// Checks a test's `at`: a time, which the compiled test holds as a number, so it is
    /// written with literals, arithmetic and `let`s of those (E0316).
    pub fn test_time(&mut self, env: &Env, e: &Expr) {
        let before = self.diags.len();
        self.check(env, &Facts::new(), e, &Ty::Time, "`at` takes a time");
        if self.diags[before..].iter().any(Diagnostic::is_error) {
            return;
        }
        if has_error(e) {
            return;
        }
        let d = match self.test_constant(env, e) {
            Some(Value::Time(ms)) if time_in_range(ms) => return,
            // An instant no input can carry (`xop eval` refuses such a `now`), and no time
            // XOP can write back: a test decided there would decide what never happens.
            Some(Value::Time(ms)) => Diagnostic::error(
                "E0316",
                &self.path,
                e.span,
                "a test's `at` must be a time XOP can hold",
            )
            .with_label(if ms < 0 {
                format!("this comes to a time out of range, before {FIRST_TIME}")
            } else {
                format!("this comes to a time out of range, after {LAST_TIME}")
            })
            .with_note(format!(
                "XOP holds times from {FIRST_TIME} to {LAST_TIME} (language.md §2.5): `xop eval` refuses a decision time outside them, and no decision is made there"
            ))
            .with_help(format!(
                "write a time from {FIRST_TIME} to {LAST_TIME}, arithmetic on it included"
            )),
            _ => Diagnostic::error(
            "E0316",
            &self.path,
            e.span,
            "a test's `at` must be a time known when the test is compiled",
        )
        .with_label("not computed from literals alone, or out of range")
        .with_note("the compiled test holds its decision time as a number")
        .with_help("write a time such as `2026-11-25T10:00:00Z`; arithmetic on literals (`2026-11-25T10:00:00Z + 1h`) and names bound by `let` to such values work too"),
        };
        self.err(d);
    }

    /// The value of `e`, written in a test where `env` is visible, if [`constant_in`] computes
    /// it with the test's `let`s.
    fn test_constant(&self, env: &Env, e: &Expr) -> Option<Value> {
        constant_in(e, &mut |n| {
            let (value, written) = self.test_lets.get(&env.binding(&n.name)?)?;
            self.test_constant(written, value)
        })
    }

    /// Checks a condition (`when`, `unless`, `if`): it must be `Bool`, unless a syntax error
    /// right after it cut it short (`when c.n = 3` reads as `when c.n`, then an unexpected
    /// `=`): then its type says nothing the syntax error does not say better, and only what
    /// it holds is checked.
    pub fn condition(&mut self, env: &Env, e: &Expr) {
        self.condition_in(env, &Facts::new(), e);
    }

    /// [`Checker::condition`] where `facts` hold (a lambda's body).
    fn condition_in(&mut self, env: &Env, facts: &Facts, e: &Expr) {
        if self.cut_short(e.span) {
            self.expr(env, facts, e, None);
        } else {
            self.check(env, facts, e, &Ty::Bool, "a condition must be `Bool`");
        }
    }

    /// Whether a syntax error of the file starts right after `span` (blanks between).
    pub(crate) fn cut_short(&mut self, span: Span) -> bool {
        let (db, file) = (self.db, self.file);
        let starts = self.syntax_errors.get_or_insert_with(|| {
            let mut starts: Vec<usize> = crate::db::parse_file(db, file)
                .diagnostics
                .iter()
                .map(|d| d.span.start())
                .collect();
            // Sorted once, so that each ask is a binary search (asking every start each time
            // made a file of many syntax errors quadratic to check).
            starts.sort_unstable();
            starts.dedup();
            starts
        });
        if starts.is_empty() {
            return false;
        }
        error_follows(file.text(db), starts, span.end())
    }

    /// The closest of `candidates` to `name`, a likely typo of it ([`resolve::suggest`]),
    /// within the checker's budget for it ([`SUGGESTION_BUDGET`]).
    fn suggest(&mut self, name: &str, candidates: &[Arc<str>]) -> Option<String> {
        self.suggestions.suggest(name, candidates)
    }

    /// If `ty` is `T?` and the place `e` is not known to be present, reports E0302; returns `T`.
    fn require_present(&mut self, facts: &Facts, e: &Expr, ty: Ty) -> Ty {
        match ty {
            Ty::Optional(inner) => {
                let key = place(e);
                if !key.as_ref().is_some_and(|p| facts.contains(p)) {
                    let d = self.may_be_absent(e, key, &inner);
                    self.err(d);
                }
                *inner
            }
            t => t,
        }
    }

    /// E0302 for `e`, of type `inner?`. Its help depends on what `e` is: a place can be
    /// tested (`is present`), anything else can only be given a default, and an `if` is
    /// absent through one of its branches.
    fn may_be_absent(&self, e: &Expr, key: Option<Place>, inner: &Ty) -> Diagnostic {
        let note = "a signal is absent when it could not be read or is older than its `max_age`; an optional field may be missing";
        let (message, help) = match (&strip_parens(e).kind, key) {
            (_, Some(p)) => (
                format!("`{p}` may be absent"),
                format!(
                    "handle absence first: `{p} is absent or ...`, `{p} is present and ...`, or give a default with `{p} ?? VALUE`"
                ),
            ),
            (ExprKind::Lit(Literal::Absent), None) if *inner == Ty::Unknown => (
                "this value may be absent".to_string(),
                "nothing here says what `absent` stands for: write it beside a value of its type (`[1, absent]` is a `List<Int?>`), or where an optional type is expected (a field, a parameter)".to_string(),
            ),
            (ExprKind::Lit(Literal::Absent), None) => (
                "this value may be absent".to_string(),
                format!(
                    "`absent` is no `{inner}`: give a value of type `{inner}` here, or make the type where it goes optional (`{inner}?`)"
                ),
            ),
            (ExprKind::If(..), None) => (
                "this value may be absent".to_string(),
                "a branch of this `if` may be absent: handle absence in that branch (`if x is present then x else ...`), or give the whole `if` a default with `(if ...) ?? VALUE`".to_string(),
            ),
            (kind, None) => {
                let shown = self.source_of(e);
                // `??` binds tighter than comparisons and looser than arithmetic.
                let whole = matches!(
                    kind,
                    ExprKind::Call { .. } | ExprKind::Field(..) | ExprKind::Paren(_)
                );
                let shown = if shown == "VALUE" {
                    "(...)".to_string()
                } else if whole {
                    shown
                } else {
                    format!("({shown})")
                };
                (
                    "this value may be absent".to_string(),
                    format!(
                        "give it a default with `{shown} ?? VALUE`; `is present` narrows only names, fields and calls whose arguments are such places or literals"
                    ),
                )
            }
        };
        Diagnostic::error("E0302", &self.path, e.span, message)
            .with_label(format!("this is `{inner}?`"))
            .with_note(note)
            .with_help(help)
    }

    /// The type of a use of name `n` (of type `ty` where it is bound). A test's `let` of a
    /// record value has no record type where it is written (`let c = { score: 9, .. }`): as
    /// lowering builds it where it is used, of the record type expected there, it is checked
    /// there, against that type (what that finds is reported once, at the value). Where no
    /// record type is expected, the value cannot be built (E0310).
    ///
    /// So is a `let` whose collections' elements (or `if`'s branches) have one type only by
    /// the type expected where it is used (see [`Checker::typed_at_use`]).
    fn let_use(&mut self, env: &Env, n: &ast::Ident, ty: Ty, expected: Option<&Ty>) -> Ty {
        if !self.in_test {
            return ty;
        }
        let Some(binding) = env.binding(&n.name) else {
            return ty;
        };
        let Some(value_span) = self.test_lets.get(&binding).map(|(v, _)| v.span) else {
            return ty;
        };
        let at_use = self.typed_at_use.contains_key(&value_span);
        if self.deferred {
            // Passed on by another `let`'s value: that one is checked where it is used, and
            // this one with it.
            if at_use {
                self.type_at_use(Vec::new());
            }
            return ty;
        }
        if !has_open(&ty) && !at_use {
            return ty;
        }
        // What the `let` reported in case its name was never used: this use checks the value
        // as if it were written here, and reports what is wrong with it here.
        if let Some(provisional) = self.typed_at_use.get(&value_span) {
            self.diags.retain(|d| !provisional.contains(d));
        }
        let Some((value, written)) = self.test_lets.get(&binding).cloned() else {
            return ty;
        };
        if !typed_by(&ty, expected) {
            let d = Diagnostic::error(
                "E0310",
                &self.path,
                n.span,
                format!("the record type of `{}` cannot be inferred here", n.name),
            )
            .with_label(match expected {
                Some(t) => format!("a `{t}` is expected here, which names no record type"),
                None => "no record type is expected here".to_string(),
            })
            .with_secondary(&self.path, value.span, "a record value, typed where it is used")
            .with_help("use it where a record type is expected (an action's argument, a field of a record value, a `given` value), and compare records field by field");
            self.err(d);
            return Ty::Unknown;
        }
        let before = self.diags.len();
        let ty = self.expr(&written, &Facts::new(), &value, expected);
        // Used twice as the same type, the value has the same problems: say them once.
        let found = self.diags.split_off(before);
        for d in found {
            if !self.diags.contains(&d) {
                self.diags.push(d);
            }
        }
        ty
    }

    /// The type of `e` (possibly `T?`), given an expected type for literals that need one.
    pub fn expr(&mut self, env: &Env, facts: &Facts, e: &Expr, expected: Option<&Ty>) -> Ty {
        if self.depth == 0
            && let Some(n) = &mut self.notes
        {
            // The names in scope where an item's expressions start, for completion.
            for (name, (ty, span)) in &env.vars {
                n.locals.push(crate::ide::Local {
                    name: Arc::from(name.as_str()),
                    span: *span,
                    scope: None,
                    ty: ty.clone(),
                });
            }
        }
        // A test's `let` is typed where its name is used only through what passes its value
        // on (parentheses, an `if`'s branches, a collection's elements, a record value's
        // fields): elsewhere (an operand, an argument, a field read) what a value is built of
        // is decided where it is written, and checked there, as lowering builds it.
        //
        // The value of a test's `let` itself (its statement types it with `deferred` set) is
        // remembered, for what its parts find to be checked where the name is used.
        let let_value = self.deferred && self.depth == 0;
        if let_value {
            self.let_value = Some(e.span);
        }
        let saved = (self.deferred, self.in_deferred_record);
        if self.deferred && !passes_value_on(e) {
            self.deferred = false;
            self.in_deferred_record = false;
        }
        self.depth += 1;
        let ty = self.expr_kind(env, facts, e, expected);
        self.depth -= 1;
        (self.deferred, self.in_deferred_record) = saved;
        if let_value {
            self.let_value = None;
        }
        if self.notes.is_some() && matches!(ty, Ty::Optional(_)) {
            // What the editor shows and completes on is the type here: a place known to be
            // present is its present type (the checker narrows where the value is used).
            let shown = narrowed(facts, e, ty.clone());
            self.note_type(e.span, &shown);
        } else {
            self.note_type(e.span, &ty);
        }
        ty
    }

    fn expr_kind(&mut self, env: &Env, facts: &Facts, e: &Expr, expected: Option<&Ty>) -> Ty {
        match &e.kind {
            ExprKind::Lit(l) => self.literal(l, e.span, expected),
            ExprKind::Paren(inner) => self.expr(env, facts, inner, expected),
            ExprKind::Error => Ty::Unknown,
            ExprKind::Name(n) => {
                let ty = self.name(env, n);
                self.let_use(env, n, ty, expected)
            }
            ExprKind::Field(recv, field) => self.field(env, facts, recv, field),
            ExprKind::Call {
                callee,
                receiver,
                args,
            } => self.call(env, facts, e.span, callee, receiver.as_deref(), args),
            ExprKind::Unary(UnOp::Not, x) => {
                let learned = self.cond(env, facts, x);
                drop(learned);
                Ty::Bool
            }
            ExprKind::Unary(UnOp::Neg, x) => {
                let t = self.expr(env, facts, x, expected);
                let t = self.require_present(facts, x, t);
                match t {
                    Ty::Int | Ty::Decimal | Ty::Money | Ty::Duration | Ty::Unknown => t,
                    other => {
                        self.op_error(e.span, "-", &other, None);
                        Ty::Unknown
                    }
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(env, facts, e, *op, a, b),
            ExprKind::Is { expr, present: _ } => {
                let t = self.expr(env, facts, expr, None);
                if !t.is_optional() && t != Ty::Unknown {
                    let d = Diagnostic::warning(
                        "W0301",
                        &self.path,
                        expr.span,
                        format!("this value is `{t}`, which is never absent"),
                    )
                    .with_label("never absent")
                    .with_help("remove the test: it is always the same");
                    self.err(d);
                }
                Ty::Bool
            }
            ExprKind::Range { .. } => {
                // A range is not a value: the engines test `x in lo..hi` without building one.
                self.range(env, facts, e);
                let d = Diagnostic::error(
                    "E0304",
                    &self.path,
                    e.span,
                    "a range can only stand right of `in` or `not in`",
                )
                .with_label("a range used as a value")
                .with_help(
                    "test a value with `x in lo..hi`; to compare two ranges, compare their bounds",
                );
                self.err(d);
                Ty::Unknown
            }
            ExprKind::If(c, a, b) => {
                let learned = self.cond(env, facts, c);
                // A branch is a value of the `if`: what the condition proves of it holds there
                // (`if e is present then e else 0` is an `Int`), as it does for its operands.
                // Without an expected type, a branch with a type of its own gives it to one
                // that has none (`if c then [] else xs`, `if c then absent else x`).
                // (`if c then "UTC" else zone`: a text literal is a `Tz` there).
                if expected.is_none() && literal_rank(a) < literal_rank(b) {
                    let tb = self.expr(env, &learned.if_false, b, None);
                    let tb = narrowed(&learned.if_false, b, tb);
                    let ta = self.expr(env, &learned.if_true, a, Some(&tb));
                    let ta = narrowed(&learned.if_true, a, ta);
                    return self.join(e.span, ta, tb);
                }
                let ta = self.expr(env, &learned.if_true, a, expected);
                let ta = narrowed(&learned.if_true, a, ta);
                let tb = self.expr(env, &learned.if_false, b, expected.or(Some(&ta)));
                let tb = narrowed(&learned.if_false, b, tb);
                if self.typing_let()
                    && !compatible(self.db, self.project, &tb, &ta)
                    && !compatible(self.db, self.project, &ta, &tb)
                {
                    return self.join_at_use(
                        e.span,
                        ta,
                        tb,
                        "both branches of `if` must have the same type",
                    );
                }
                self.join(e.span, ta, tb)
            }
            ExprKind::List(xs) | ExprKind::Set(xs) => {
                if xs.is_empty() && expected.is_none() {
                    self.untyped_empty(e);
                }
                let elem = Box::new(self.elements(env, facts, xs, expected));
                if matches!(e.kind, ExprKind::Set(_)) {
                    Ty::Set(elem)
                } else {
                    Ty::List(elem)
                }
            }
            ExprKind::Record { .. } if !self.in_test => {
                let d = Diagnostic::error("E0313", &self.path, e.span, "a record value can only be written in a test")
                    .with_label("record value here")
                    .with_note("policies read records from their input; a value built in a rule would be data the input schema does not describe")
                    .with_help("compare the fields you need (`c.field == value`), or move the value into a `test` block");
                self.err(d);
                Ty::Unknown
            }
            ExprKind::Record { fields, rest } => {
                self.record_value(env, facts, e.span, fields, *rest, expected)
            }
            ExprKind::Lambda(..) => {
                let d = Diagnostic::error(
                    "E0306",
                    &self.path,
                    e.span,
                    "a lambda can only be the last argument of `any`, `all` or `count`",
                )
                .with_label("lambda here")
                .with_help(
                    "write `any(list, x => condition)`; XOP has no other functions as values",
                );
                self.err(d);
                Ty::Unknown
            }
        }
    }

    /// The type of range `e` (`lo..hi`, `lo..=hi`), where it may stand: right of `in`.
    fn range(&mut self, env: &Env, facts: &Facts, e: &Expr) -> Ty {
        let ExprKind::Range { lo, hi, .. } = &e.kind else {
            return self.expr(env, facts, e, None);
        };
        let a = self.expr(env, facts, lo, None);
        let a = self.require_present(facts, lo, a);
        self.check(
            env,
            facts,
            hi,
            &a,
            "both ends of a range must have the same type",
        );
        if !a.ordered() {
            self.op_error(e.span, "..", &a, None);
        }
        let ty = Ty::Range(Box::new(a));
        self.note_type(e.span, &ty);
        ty
    }

    fn join(&mut self, span: Span, a: Ty, b: Ty) -> Ty {
        if compatible(self.db, self.project, &b, &a) {
            if b.is_optional() && !a.is_optional() {
                b
            } else {
                a
            }
        } else if compatible(self.db, self.project, &a, &b) {
            b
        } else {
            self.mismatch(
                span,
                &a,
                &b,
                "both branches of `if` must have the same type",
            );
            Ty::Unknown
        }
    }

    /// E0310 for `[]` or `{}` (`e`) written where no collection type is expected: its elements
    /// would have no type, and what reads them (a lambda's variable) none either. In a record
    /// value of a test's `let`, it is typed where the name is used.
    fn untyped_empty(&mut self, e: &Expr) {
        // A `let` of `[]` itself is reported by the test's check, once.
        if self.deferred && (self.in_deferred_record || self.depth == 1) {
            return;
        }
        let what = if matches!(e.kind, ExprKind::Set(_)) {
            "set"
        } else {
            "list"
        };
        let d = Diagnostic::error(
            "E0310",
            &self.path,
            e.span,
            format!("the element type of this empty {what} cannot be inferred"),
        )
        .with_label(format!("no {what} type is expected here"))
        .with_note("`[]` and `{}` take their element type from where they are written: a field, a parameter, the right of `in`, the other side of `==`")
        .with_help(format!(
            "write the {what} where its type is known, or give it an element; an operation on a {what} that is always empty is always the same (`count([])` is `0`, `any([], …)` is `false`)"
        ));
        self.err(d);
    }

    fn elements(&mut self, env: &Env, facts: &Facts, xs: &[Expr], expected: Option<&Ty>) -> Ty {
        let elem_expected = match expected.map(Ty::present) {
            Some(Ty::List(t) | Ty::Set(t)) => Some((**t).clone()),
            // Unknown after an earlier error: so are its elements (a record value among them
            // is not reported again, E0310).
            Some(Ty::Unknown) => Some(Ty::Unknown),
            _ => None,
        };
        let mut elem = elem_expected.clone();
        // Without an expected element type, an element that has a type of its own gives it to
        // the empty collections before it (`[[], [1]]` is a `List<List<Int>>`), and to the text
        // literals before it (`["UTC", zone]` is a `List<Tz>`).
        let leader = match elem {
            None => {
                let top = xs.iter().map(literal_rank).max().unwrap_or(0);
                xs.iter().position(|x| top > 0 && literal_rank(x) == top)
            }
            Some(_) => None,
        };
        // In a test's `let`, the elements need only have one type by the type expected where
        // the name is used (`[1, absent]`, a `List<Int?>` there): they are joined here, and
        // checked there as if written there (see `Checker::let_use`).
        let at_use = self.typing_let();
        // Where no element type is expected, the element type is the one that holds every
        // element: `absent` or a `T?` among `T`s makes it `T?` (`[1, absent]` is a
        // `List<Int?>`), in any order, as an `if`'s branches do.
        let joined = elem_expected.is_none() && !at_use;
        if let Some(i) = leader.filter(|&i| i > 0) {
            let t = self.expr(env, facts, &xs[i], None);
            elem = Some(self.element_type(facts, &xs[i], t, at_use, joined));
        }
        for (i, x) in xs.iter().enumerate() {
            if leader.is_some_and(|l| l > 0 && l == i) {
                continue;
            }
            match &elem {
                None => {
                    let t = self.expr(env, facts, x, None);
                    elem = Some(self.element_type(facts, x, t, at_use, joined));
                }
                Some(t) if joined => {
                    let t = t.clone();
                    let found = self.expr(env, facts, x, Some(&t));
                    let found = narrowed(facts, x, found);
                    match (&t, &found) {
                        // After an error (`[absent, absent]`): that one is reported.
                        (Ty::Unknown, _) => {}
                        (Ty::Optional(_), _) => {
                            self.check_found(env, facts, x, found, &t, COLLECTION_ELEMENTS);
                        }
                        // `absent`, or a `T?`, after `T`s: the elements are `T?`s.
                        (_, Ty::Optional(inner))
                            if **inner != Ty::Unknown
                                && compatible(self.db, self.project, inner, &t) =>
                        {
                            elem = Some(Ty::Optional(Box::new(t)));
                        }
                        _ => self.check_found(env, facts, x, found, &t, COLLECTION_ELEMENTS),
                    }
                }
                Some(t) if at_use => {
                    let t = t.clone();
                    let found = self.expr(env, facts, x, Some(&t));
                    elem = Some(self.join_at_use(x.span, t, found, COLLECTION_ELEMENTS));
                }
                Some(t) => {
                    let t = t.clone();
                    self.check(env, facts, x, &t, COLLECTION_ELEMENTS);
                }
            }
        }
        elem.unwrap_or(Ty::Unknown)
    }

    /// Whether the expression checked passes on the value of a test's `let` (see
    /// [`Checker::deferred`]), which is then checked again where the name is used.
    fn typing_let(&self) -> bool {
        self.deferred && self.let_value.is_some()
    }

    /// Marks the test's `let` being typed as checked where its name is used, with what was
    /// reported at it (`provisional`), withdrawn at a use (see [`Checker::typed_at_use`]).
    fn type_at_use(&mut self, provisional: Vec<Diagnostic>) {
        if let Some(span) = self.let_value {
            self.typed_at_use
                .entry(span)
                .or_default()
                .extend(provisional);
        }
    }

    /// The type of element `e` (of type `ty`) that gives the others theirs: present (E0302
    /// if it may be absent), unless `at_use` (a test's `let`), where `absent` and other
    /// optional elements are allowed as the type expected at the use may be optional, or
    /// `joined` (no element type is expected), where a `T?` makes the elements `T?`s. An
    /// `absent` that no other element gives a type (`[absent]`) is E0302 either way.
    fn element_type(&mut self, facts: &Facts, e: &Expr, ty: Ty, at_use: bool, joined: bool) -> Ty {
        if joined
            && let Ty::Optional(inner) = &ty
            && **inner != Ty::Unknown
        {
            return narrowed(facts, e, ty);
        }
        if !at_use {
            return self.require_present(facts, e, ty);
        }
        if ty.is_optional() {
            self.type_at_use(Vec::new());
        }
        ty
    }

    /// In a test's `let`, the type of a value whose parts (a collection's elements, an `if`'s
    /// branches) have types `a` and `b`: the narrowest that holds both (`Int?` for `Int` and
    /// `absent`; a record value with the fields of both), the value then checked where the
    /// name is used, as if written there. Two types that no type holds (`Int` and `Text`) are
    /// reported at `span` (E0301, `what`) unless the name is used, where the check says more.
    fn join_at_use(&mut self, span: Span, a: Ty, b: Ty, what: &str) -> Ty {
        match join_leniently(&a, &b) {
            Some(j) => {
                if j != a {
                    self.type_at_use(Vec::new());
                }
                j
            }
            None => {
                let before = self.diags.len();
                self.mismatch(span, &a, &b, what);
                let provisional = self.diags[before..].to_vec();
                self.type_at_use(provisional);
                a
            }
        }
    }

    fn literal(&mut self, l: &Literal, span: Span, expected: Option<&Ty>) -> Ty {
        match l {
            Literal::Bool(_) => Ty::Bool,
            Literal::Int(_) => Ty::Int,
            Literal::Decimal(_) => Ty::Decimal,
            Literal::Money(..) => Ty::Money,
            Literal::Duration(..) => Ty::Duration,
            Literal::Time(_) => Ty::Time,
            Literal::Absent => match expected {
                Some(t) => Ty::Optional(Box::new(t.present().clone())),
                None => Ty::Optional(Box::new(Ty::Unknown)),
            },
            // Text literals also write identifiers and time zones where those are expected.
            Literal::Text(s) => {
                match expected.map(Ty::present) {
                    Some(Ty::Id) => Ty::Id,
                    Some(Ty::Tz) => {
                        // The runtime's own test of a zone name, so that a literal it would
                        // refuse (`Etc/Unknown`, jiff's special zone) is refused here too.
                        if xop_runtime::zone::lookup(s).is_none() {
                            let d = Diagnostic::error("E0311", &self.path, span, format!("`{s}` is not an IANA time zone"))
                            .with_label("unknown time zone")
                            .with_help("write a zone of the IANA database, e.g. \"Europe/Paris\" or \"UTC\"");
                            self.err(d);
                        }
                        Ty::Tz
                    }
                    _ => Ty::Text,
                }
            }
        }
    }

    fn name(&mut self, env: &Env, n: &ast::Ident) -> Ty {
        if let Some(t) = env.get(&n.name) {
            if let Some(span) = env.binding(&n.name) {
                let file = self.file;
                self.note_ref(n.span, crate::ide::Target::Local { file, span });
            }
            return t.clone();
        }
        if let Some(def) = self.lookup(&n.name, n.span) {
            return match def.kind {
                DefKind::Channel => Ty::Channel,
                DefKind::Purpose => Ty::Purpose,
                DefKind::Role => Ty::Role,
                other => {
                    let d = Diagnostic::error(
                        "E0208",
                        &self.path,
                        n.span,
                        format!("`{}` is {}, not a value", n.name, other.describe()),
                    )
                    .with_label("used as a value here")
                    .with_secondary(def.file.path(self.db), def.span, "declared here")
                    .with_help(match other {
                        DefKind::Signal | DefKind::Fn | DefKind::Intrinsic => format!("call it: `{}(...)`", n.name),
                        _ => "use a local name, a parameter, a field, a channel, a purpose, a role or an enum value".to_string(),
                    });
                    self.err(d);
                    Ty::Unknown
                }
            };
        }
        // Offered by several glob imports: `lookup` reported E0212, which lists them, and XOP
        // picks none (not an enum value of the same name either): no "cannot find" as well.
        if matches!(self.scope.lookup(self.db, &n.name), Lookup::Ambiguous(_)) {
            return Ty::Unknown;
        }
        if let Some(enums) = self.scope.variants.get(n.name.as_str()) {
            if enums.len() == 1 {
                let def = enums[0].clone();
                self.mark_enum_import(&def);
                let target = crate::ide::Target::Variant {
                    def: def.clone(),
                    name: Arc::from(n.name.as_str()),
                };
                self.note_ref(n.span, target);
                return Ty::Enum(def);
            }
            let d = resolve::ambiguous(self.db, &self.path, &n.name, n.span, enums).with_help(
                format!("qualify it with its enum: `{}.{}`", enums[0].name, n.name),
            );
            self.err(d);
            return Ty::Unknown;
        }
        self.unresolved(&n.name, n.span, None, Some(env));
        Ty::Unknown
    }

    fn field(&mut self, env: &Env, facts: &Facts, recv: &Expr, field: &ast::Ident) -> Ty {
        // `std.time.x`: a declaration named through its module.
        if self.qualified_field(env, recv, field) {
            return Ty::Unknown;
        }
        // `Segment.vip`: a variant of a named enum.
        if let ExprKind::Name(n) = &recv.kind
            && env.get(&n.name).is_none()
            && let Lookup::Found(entry) = self.scope.lookup(self.db, &n.name)
            && entry.def.kind == DefKind::Enum
        {
            if let Some(u) = entry.via_use {
                self.used_imports.insert((u, n.name.clone()));
            }
            let def = entry.def;
            self.note_ref(n.span, crate::ide::Target::Def(def.clone()));
            if let Signature::Enum(vs) = self.signature(&def) {
                if vs.iter().any(|v| **v == *field.name) {
                    let target = crate::ide::Target::Variant {
                        def: def.clone(),
                        name: Arc::from(field.name.as_str()),
                    };
                    self.note_ref(field.span, target);
                    return Ty::Enum(def);
                }
                let mut d = Diagnostic::error(
                    "E0210",
                    &self.path,
                    field.span,
                    format!("enum `{}` has no value `{}`", def.name, field.name),
                )
                .with_label("unknown enum value");
                if let Some(s) = self.suggest(&field.name, vs) {
                    d = d.with_help(format!("did you mean `{}.{s}`?", def.name));
                } else {
                    d = d.with_help(format!("its values are: {}", listed(vs, vs.len())));
                }
                self.err(d);
            }
            return Ty::Unknown;
        }
        let t = self.expr(env, facts, recv, None);
        let t = self.require_present(facts, recv, t);
        self.field_of(&t, field)
    }

    /// The type of field `field` of a value of type `t`.
    pub fn field_of(&mut self, t: &Ty, field: &ast::Ident) -> Ty {
        // Found in place, without copying the record's fields: this runs for every field
        // access of every rule.
        let found = match t {
            Ty::Unknown => return Ty::Unknown,
            Ty::Record(def) => match self.signature(def) {
                Signature::Record(fs) => fs
                    .iter()
                    .find(|p| *p.name == *field.name)
                    .map(|p| p.ty.clone()),
                _ => return Ty::Unknown,
            },
            Ty::Open(fs) => fs
                .iter()
                .find(|(n, _)| **n == *field.name)
                .map(|(_, ty)| ty.clone()),
            other => {
                let d = Diagnostic::error(
                    "E0305",
                    &self.path,
                    field.span,
                    format!("`{other}` has no fields"),
                )
                .with_label(format!("cannot read `.{}` of a `{other}`", field.name))
                .with_help("only records have fields");
                self.err(d);
                return Ty::Unknown;
            }
        };
        if let Some(ty) = found {
            if let Ty::Record(def) = t
                && self.notes.is_some()
            {
                let target = crate::ide::Target::Field {
                    record: def.clone(),
                    name: Arc::from(field.name.as_str()),
                };
                self.note_ref(field.span, target);
            }
            return ty;
        }
        // Past the suggestions' budget only the fields listed are needed: thousands of errors
        // each collecting thousands of fields would be quadratic again.
        let take = match self.suggestions.budget {
            0 => MAX_LISTED,
            _ => usize::MAX,
        };
        let (fields, total): (Vec<Arc<str>>, usize) = match t {
            Ty::Record(def) => match self.signature(def) {
                Signature::Record(fs) => {
                    let names = fs.iter().take(take).map(|p| p.name.clone());
                    (names.collect(), fs.len())
                }
                _ => (Vec::new(), 0),
            },
            Ty::Open(fs) => {
                let names = fs.iter().take(take).map(|(n, _)| n.clone());
                (names.collect(), fs.len())
            }
            _ => (Vec::new(), 0),
        };
        let mut d = Diagnostic::error(
            "E0210",
            &self.path,
            field.span,
            format!("`{t}` has no field `{}`", field.name),
        )
        .with_label("unknown field");
        if let Some(s) = self.suggest(&field.name, &fields) {
            d = d.with_help(format!("did you mean `{s}`?"));
        } else {
            d = d.with_help(format!("its fields are: {}", listed(&fields, total)));
        }
        if let Ty::Record(def) = t {
            d = d.with_secondary(def.file.path(self.db), def.span, "record declared here");
        }
        self.err(d);
        Ty::Unknown
    }

    fn record_value(
        &mut self,
        env: &Env,
        facts: &Facts,
        span: Span,
        fields: &[(ast::Ident, Expr)],
        rest: bool,
        expected: Option<&Ty>,
    ) -> Ty {
        let Some(Ty::Record(def)) = expected.map(Ty::present) else {
            // Without a record type to check against, the value's own fields are its type.
            // Their record values are typed with it: later in a test's `let`, else never (one
            // error is enough).
            let inner = if self.deferred {
                None
            } else {
                Some(&Ty::Unknown)
            };
            let within = self.in_deferred_record;
            self.in_deferred_record = self.deferred;
            let mut out = Vec::new();
            for (n, v) in fields {
                let t = self.expr(env, facts, v, inner);
                out.push((Arc::from(n.name.as_str()), t));
            }
            self.in_deferred_record = within;
            return match expected.map(Ty::present) {
                // A test's `let`: typed, and checked, where the name is used.
                _ if self.deferred => Ty::Open(out),
                Some(Ty::Unknown) => Ty::Unknown,
                // A record value is built of the record type expected where it is written;
                // nothing else says which record, and in which order its fields are.
                None | Some(Ty::Open(_)) => {
                    let label = match expected {
                        Some(t) => format!("a `{t}` is expected here, which names no record type"),
                        None => "no record type is expected here".to_string(),
                    };
                    let d = Diagnostic::error(
                        "E0310",
                        &self.path,
                        span,
                        "the record type of this value cannot be inferred",
                    )
                    .with_label(label)
                    .with_help("write a record value where a record type is expected (an action's argument, a field of a record value, a `given` value), and compare records field by field");
                    self.err(d);
                    Ty::Unknown
                }
                // Reported by the caller as a mismatch.
                Some(_) => Ty::Open(out),
            };
        };
        let def = def.clone();
        let Signature::Record(decl) = self.signature(&def) else {
            return Ty::Unknown;
        };
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for (n, v) in fields {
            if let Some(first) = seen.insert(&n.name, n.span) {
                let d = resolve::duplicate(&self.path, &n.name, n.span, first);
                self.err(d);
            }
            match decl.iter().find(|p| *p.name == *n.name) {
                Some(p) => {
                    let target = crate::ide::Target::Field {
                        record: def.clone(),
                        name: p.name.clone(),
                    };
                    self.note_ref(n.span, target);
                    let what = format!("field `{}` of `{}`", n.name, def.name);
                    self.check(env, facts, v, &p.ty, &what);
                }
                None => {
                    self.field_of(&Ty::Record(def.clone()), n);
                    self.expr(env, facts, v, None);
                }
            }
        }
        if rest {
            self.defaults(span, &def, decl, &seen);
        } else {
            let missing: Vec<&str> = decl
                .iter()
                .filter(|p| !p.ty.is_optional() && !seen.contains_key(&*p.name))
                .map(|p| &*p.name)
                .collect();
            if !missing.is_empty() {
                let d = Diagnostic::error(
                    "E0307",
                    &self.path,
                    span,
                    format!("this `{}` value has no {}", def.name, missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")),
                )
                .with_label("missing fields")
                .with_help("give every field, or end the value with `..` to fill the rest with defaults (tests only)");
                self.err(d);
            }
        }
        Ty::Record(def)
    }

    /// E0307 for the fields of record value `span` (of record `def`, declared as `decl`)
    /// that its `..` leaves out (not in `given`) and that have no default value.
    fn defaults(
        &mut self,
        span: Span,
        def: &Def,
        decl: &[TypedParam],
        given: &BTreeMap<&str, Span>,
    ) {
        let mut lacking = Vec::new();
        for p in decl {
            if !given.contains_key(&*p.name) {
                let mut path = vec![p.name.clone()];
                let mut within = vec![(def.file, def.index)];
                self.no_default(&p.ty, &mut path, &mut within, &mut lacking);
            }
        }
        if lacking.is_empty() {
            return;
        }
        let listed: Vec<String> = lacking
            .iter()
            .map(|(path, ty)| format!("`{}` (a `{ty}`)", path.join(".")))
            .collect();
        let write: Vec<String> = lacking.iter().map(|(path, _)| written(path)).collect();
        let d = Diagnostic::error(
            "E0307",
            &self.path,
            span,
            format!(
                "`..` cannot fill {} of this `{}` value: channels, purposes and roles have no default",
                listed.join(", "),
                def.name
            ),
        )
        .with_label("fields without a default left out")
        .with_help(format!("write them in the value: {}", write.join(", ")));
        self.err(d);
    }

    /// Adds to `out` the fields of a value of type `ty` (the field at `path`) that have no
    /// default: itself if it is a channel, purpose or role, or those of a record it is.
    /// `within` holds the records being filled: one met again contains itself (E0217).
    fn no_default(
        &mut self,
        ty: &Ty,
        path: &mut Vec<Arc<str>>,
        within: &mut Vec<(SourceFile, u32)>,
        out: &mut Vec<(Vec<Arc<str>>, Ty)>,
    ) {
        match ty {
            Ty::Channel | Ty::Purpose | Ty::Role => out.push((path.clone(), ty.clone())),
            Ty::Record(d) if !within.contains(&(d.file, d.index)) => {
                let Signature::Record(fields) = self.signature(d) else {
                    return;
                };
                within.push((d.file, d.index));
                for f in fields {
                    path.push(f.name.clone());
                    self.no_default(&f.ty, path, within, out);
                    path.pop();
                }
                within.pop();
            }
            _ => {}
        }
    }

    fn op_error(&mut self, span: Span, op: &str, a: &Ty, b: Option<&Ty>) {
        let msg = match b {
            Some(b) => format!("`{op}` is not defined for `{a}` and `{b}`"),
            None => format!("`{op}` is not defined for `{a}`"),
        };
        let mut d =
            Diagnostic::error("E0304", &self.path, span, msg).with_label("no such operation");
        d = match (a, b) {
            (Ty::Int, Some(Ty::Decimal)) | (Ty::Decimal, Some(Ty::Int)) => {
                d.with_help("XOP does not mix Int and Decimal: write integers as decimals (`3.0`)")
            }
            _ => d.with_help("see the operator table in docs/language.md#operators"),
        };
        self.err(d);
    }

    fn binary(&mut self, env: &Env, facts: &Facts, e: &Expr, op: BinOp, a: &Expr, b: &Expr) -> Ty {
        if is_error(a) || is_error(b) {
            self.beside_error(env, facts, a, b);
            return Ty::Unknown;
        }
        match op {
            BinOp::And | BinOp::Or => {
                self.cond(env, facts, e);
                Ty::Bool
            }
            BinOp::Default => {
                let ta = self.expr(env, facts, a, None);
                let inner = match &ta {
                    Ty::Optional(t) => (**t).clone(),
                    Ty::Unknown => Ty::Unknown,
                    other => {
                        let d = Diagnostic::warning(
                            "W0301",
                            &self.path,
                            a.span,
                            format!("this value is `{other}`, which is never absent"),
                        )
                        .with_label("never absent")
                        .with_help("remove `?? ...`: the default is never used");
                        self.err(d);
                        other.clone()
                    }
                };
                if inner == Ty::Unknown {
                    let tb = self.expr(env, facts, b, None);
                    return tb;
                }
                self.check(
                    env,
                    facts,
                    b,
                    &inner,
                    "the default must have the type of the value",
                );
                inner
            }
            BinOp::Eq | BinOp::Ne if is_absent_literal(a) || is_absent_literal(b) => {
                self.absent_comparison(env, facts, e, op, a, b)
            }
            BinOp::Eq | BinOp::Ne => {
                // `[] == xs` is typed as `xs == []` is: the empty collection by the other side;
                // so is `"x" == c.id` as `c.id == "x"` (a text literal is an `Id` there).
                let (ta, tb) = if literal_rank(a) < literal_rank(b) {
                    let tb = self.expr(env, facts, b, None);
                    let tb = self.require_present(facts, b, tb);
                    let ta = self.expr(env, facts, a, Some(&tb));
                    (ta, tb)
                } else {
                    let ta = self.expr(env, facts, a, None);
                    let ta = self.require_present(facts, a, ta);
                    let tb = self.expr(env, facts, b, Some(&ta));
                    let tb = self.require_present(facts, b, tb);
                    (ta, tb)
                };
                if !compatible(self.db, self.project, &tb, &ta) {
                    self.op_error(e.span, op.symbol(), &ta, Some(&tb));
                    self.help_hidden_variant(env, b, &ta);
                    self.help_hidden_variant(env, a, &tb);
                }
                Ty::Bool
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                let ta = self.expr(env, facts, a, None);
                let ta = self.require_present(facts, a, ta);
                let tb = self.expr(env, facts, b, Some(&ta));
                let tb = self.require_present(facts, b, tb);
                if !compatible(self.db, self.project, &tb, &ta) || !ta.ordered() {
                    self.op_error(e.span, op.symbol(), &ta, Some(&tb));
                } else if let Some(Value::Money(_, x)) = constant(a)
                    && let Some(Value::Money(_, y)) = constant(b)
                    && x != y
                {
                    self.fails_always(
                        e,
                        format!("money in {x} ordered against money in {y}: mixed currencies"),
                    );
                }
                Ty::Bool
            }
            BinOp::In | BinOp::NotIn => {
                // `"UTC" in c.zones`: the element type of the collection types the literal.
                if literal_rank(a) < literal_rank(b)
                    && !is_absent_literal(a)
                    && !matches!(strip_parens(b).kind, ExprKind::Range { .. })
                {
                    let tb = self.expr(env, facts, b, None);
                    let tb = self.require_present(facts, b, tb);
                    let elem = match tb.present() {
                        Ty::List(t) | Ty::Set(t) => Some((**t).clone()),
                        _ => None,
                    };
                    let ta = self.expr(env, facts, a, elem.as_ref());
                    let ta = self.require_present(facts, a, ta);
                    let ok = match &tb {
                        Ty::List(t) | Ty::Set(t) => compatible(self.db, self.project, &ta, t),
                        Ty::Unknown => true,
                        _ => false,
                    };
                    if !ok {
                        self.op_error(e.span, op.symbol(), &ta, Some(&tb));
                    }
                    return Ty::Bool;
                }
                let ta = self.expr(env, facts, a, None);
                let ta = self.require_present(facts, a, ta);
                let tb = if let range @ Expr {
                    kind: ExprKind::Range { .. },
                    ..
                } = strip_parens(b)
                {
                    self.range(env, facts, range)
                } else {
                    let want = Ty::List(Box::new(ta.clone()));
                    let tb = self.expr(env, facts, b, Some(&want));
                    self.require_present(facts, b, tb)
                };
                let ok = match &tb {
                    Ty::List(t) | Ty::Set(t) | Ty::Range(t) => {
                        compatible(self.db, self.project, &ta, t)
                    }
                    Ty::Unknown => true,
                    _ => false,
                };
                if !ok {
                    self.op_error(e.span, op.symbol(), &ta, Some(&tb));
                }
                Ty::Bool
            }
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                let ta = self.expr(env, facts, a, None);
                let ta = self.require_present(facts, a, ta);
                let tb = self.expr(env, facts, b, None);
                let tb = self.require_present(facts, b, tb);
                match arith(op, &ta, &tb) {
                    Some(t) => {
                        if let Some(x) = constant(a)
                            && let Some(y) = constant(b)
                            && let Some(op) = arith_op(op)
                            && let Err(why) = xop_runtime::interp::arith(op, x, y)
                        {
                            self.fails_always(e, why);
                        }
                        t
                    }
                    None => {
                        self.op_error(e.span, op.symbol(), &ta, Some(&tb));
                        Ty::Unknown
                    }
                }
            }
        }
    }

    /// W0302: operation `e`, of constants only, fails with `why` whatever the input.
    fn fails_always(&mut self, e: &Expr, why: String) {
        let d = Diagnostic::warning(
            "W0302",
            &self.path,
            e.span,
            format!("this operation fails on every input: {why}"),
        )
        .with_label("fails whatever the input")
        .with_help(
            "a rule that evaluates it denies with `xop:runtime-error` every time; write the \
             constant you mean",
        );
        self.err(d);
    }

    /// `x == absent`, `x != absent` (or `absent` first): absence is not a value that `==`
    /// compares (§6.3), so one error, which says to test with `is absent` / `is present`.
    /// `x` is checked on its own, without asking it to be present (that would be a second,
    /// misleading E0302).
    fn absent_comparison(
        &mut self,
        env: &Env,
        facts: &Facts,
        e: &Expr,
        op: BinOp,
        a: &Expr,
        b: &Expr,
    ) -> Ty {
        let other = if is_absent_literal(a) { b } else { a };
        let t = self.expr(env, facts, other, None);
        let shown = self.source_of(other);
        let test = if op == BinOp::Eq { "absent" } else { "present" };
        let mut d = Diagnostic::error(
            "E0314",
            &self.path,
            e.span,
            format!("`{}` cannot test for absence", op.symbol()),
        )
        .with_note("absence is not a value: `==` and `!=` compare present values, and `is absent` / `is present` test for absence (and let the rest of the condition use the value)");
        d = match &t {
            Ty::Optional(_) | Ty::Unknown => d
                .with_label("this compares with `absent`")
                .with_help(format!("write `{shown} is {test}`")),
            other_ty => d
                .with_label(format!("`{shown}` is `{other_ty}`, which is never absent"))
                .with_help(format!(
                    "remove the comparison: it is always {}",
                    op != BinOp::Eq
                )),
        };
        self.err(d);
        Ty::Bool
    }

    /// The source text of `e` for a help line, if it is short and on one line; else `VALUE`.
    fn source_of(&self, e: &Expr) -> String {
        let text = self.file.text(self.db);
        match text.get(e.span.start()..e.span.end()) {
            Some(s) if !s.contains('\n') && s.chars().count() <= 60 => s.to_string(),
            _ => "VALUE".to_string(),
        }
    }

    /// Checks a Bool expression and learns which places are present when it is true or false.
    fn cond(&mut self, env: &Env, facts: &Facts, e: &Expr) -> Learned {
        match &e.kind {
            ExprKind::Binary(_, a, b) if is_error(a) || is_error(b) => {
                self.beside_error(env, facts, a, b);
                Learned {
                    if_true: facts.clone(),
                    if_false: facts.clone(),
                }
            }
            ExprKind::Paren(x) => self.cond(env, facts, x),
            ExprKind::Unary(UnOp::Not, x) => {
                let l = self.cond(env, facts, x);
                Learned {
                    if_true: l.if_false,
                    if_false: l.if_true,
                }
            }
            ExprKind::Binary(BinOp::And, a, b) => {
                let la = self.cond(env, facts, a);
                let lb = self.cond(env, &la.if_true, b);
                Learned {
                    if_true: union(la.if_true, lb.if_true),
                    if_false: intersection(&la.if_false, &lb.if_false),
                }
            }
            ExprKind::Binary(BinOp::Or, a, b) => {
                let la = self.cond(env, facts, a);
                let lb = self.cond(env, &la.if_false, b);
                Learned {
                    if_true: intersection(&la.if_true, &lb.if_true),
                    if_false: union(la.if_false, lb.if_false),
                }
            }
            ExprKind::Is { expr, present } => {
                self.expr(env, facts, e, None);
                let mut with = facts.clone();
                if let Some(p) = place(expr) {
                    with.insert(p);
                }
                if *present {
                    Learned {
                        if_true: with,
                        if_false: facts.clone(),
                    }
                } else {
                    Learned {
                        if_true: facts.clone(),
                        if_false: with,
                    }
                }
            }
            _ => {
                let t = self.expr(env, facts, e, Some(&Ty::Bool));
                let t = self.require_present(facts, e, t);
                if !compatible(self.db, self.project, &t, &Ty::Bool) {
                    self.mismatch(e.span, &Ty::Bool, &t, "a condition must be `Bool`");
                }
                Learned {
                    if_true: facts.clone(),
                    if_false: facts.clone(),
                }
            }
        }
    }

    fn call(
        &mut self,
        env: &Env,
        facts: &Facts,
        span: Span,
        callee: &ast::Path,
        receiver: Option<&Expr>,
        args: &[ast::Arg],
    ) -> Ty {
        // `std.time.local_hour(now, tz)`: a function called through its module.
        if let Some(r) = receiver
            && self.qualified_call(env, facts, span, r, callee, args)
        {
            return Ty::Unknown;
        }
        let fname = &callee.last().name;
        // Collection operations are built in: `any(xs, x => c)`, `all(...)`, `count(xs[, x => c])`.
        if COLLECTION_OPS.contains(&fname.as_str())
            && env.get(fname).is_none()
            && matches!(self.scope.lookup(self.db, fname), Lookup::Missing)
        {
            return self.collection_op(env, facts, span, fname, receiver, args);
        }
        let Some(def) = self.lookup(fname, callee.span) else {
            if !matches!(self.scope.lookup(self.db, fname), Lookup::Ambiguous(_)) {
                self.unresolved(fname, callee.span, Some(DefKind::Fn), None);
            }
            if let Some(r) = receiver {
                self.expr(env, facts, r, None);
            }
            for a in args {
                self.expr(env, facts, &a.value, None);
            }
            return Ty::Unknown;
        };
        if !matches!(def.kind, DefKind::Fn | DefKind::Intrinsic | DefKind::Signal) {
            let d = Diagnostic::error(
                "E0312",
                &self.path,
                callee.span,
                format!("`{fname}` is {} and cannot be called", def.kind.describe()),
            )
            .with_label("not a function")
            .with_secondary(def.file.path(self.db), def.span, "declared here")
            .with_help(if def.kind == DefKind::Action {
                "actions are proposed (`propose action(...)` in a decision or journey), not called in expressions"
            } else {
                "only functions, intrinsics and signals can be called"
            });
            self.err(d);
            return Ty::Unknown;
        }
        if def.kind == DefKind::Intrinsic
            && !crate::lower::callable_intrinsic(&def.qualified(self.db))
        {
            let d = Diagnostic::error(
                "E0312",
                &self.path,
                callee.span,
                format!("`{fname}` is a connector and cannot be called in an expression"),
            )
            .with_label("a connector")
            .with_secondary(def.file.path(self.db), def.span, "declared here")
            .with_note("a connector reads the outside world: a signal reads it, once per decision, and says when its value is absent or stale")
            .with_help(format!(
                "declare a signal from it, `signal s(...): T from {}(...) max_age 5m`, and read the signal",
                callee.dotted()
            ));
            self.err(d);
        }
        let Signature::Callable { params, ret } = self.signature(&def) else {
            return Ty::Unknown;
        };
        if def.kind == DefKind::Signal {
            self.signal_in_fn(span, callee, &def, ret);
        }
        let mut all_args: Vec<ast::Arg> = Vec::new();
        if let Some(r) = receiver {
            all_args.push(ast::Arg {
                name: None,
                value: r.clone(),
            });
        }
        all_args.extend(args.iter().cloned());
        self.args(env, facts, span, fname, params, &all_args);
        ret.clone()
    }

    /// E0312 for a read of signal `def` (of type `ret`) at `span`, if it is in a function's
    /// body: a function is pure, and sees neither the decision time nor signals (language.md
    /// §5.6, §5.8), which are read where it is called.
    fn signal_in_fn(&mut self, span: Span, callee: &ast::Path, def: &Def, ret: &Ty) {
        let Some((start, ast::ItemKind::Fn(f))) =
            self.enclosing_item(span).map(|i| (i.span.start(), &i.kind))
        else {
            return;
        };
        if !self.signals_in_fns.insert((start, def.qualified(self.db))) {
            return;
        }
        let read = self
            .written_text(span)
            .filter(|t| t.chars().count() <= 40)
            .unwrap_or_else(|| format!("{}(...)", callee.dotted()));
        let d = Diagnostic::error(
            "E0312",
            &self.path,
            callee.span,
            format!(
                "function `{}` cannot read signal `{}`",
                f.name.name,
                callee.dotted()
            ),
        )
        .with_label("a signal read in a function")
        .with_secondary(def.file.path(self.db), def.span, "signal declared here")
        .with_note("a function is pure: it sees its parameters and declared names, not the decision time or the outside world; signals are read by policies, decisions and journeys, once per decision")
        .with_help(format!(
            "read the signal in the policy and pass the value as a parameter: give `{}` a parameter of type `{ret}` and pass it `{read}` where it is called",
            f.name.name
        ));
        self.err(d);
    }

    /// Checks the operand of `a op b` that is not an error node (a right operand the parser
    /// could not read) on its own: what it holds is checked, not what the operator asks of it,
    /// since what was meant is not known (`10 and` may have been `10 +`).
    fn beside_error(&mut self, env: &Env, facts: &Facts, a: &Expr, b: &Expr) {
        for x in [a, b] {
            if !is_error(x) {
                self.expr(env, facts, x, None);
            }
        }
    }

    /// Matches arguments to parameters (positional first, then by name) and checks their types.
    pub fn args(
        &mut self,
        env: &Env,
        facts: &Facts,
        span: Span,
        what: &str,
        params: &[TypedParam],
        args: &[ast::Arg],
    ) {
        let reordered;
        let args = match self.positional_after_named(what, params, args) {
            Some(fixed) => {
                reordered = fixed;
                &reordered[..]
            }
            None => args,
        };
        // An argument the parser could not read (an error node, reported already) may stand
        // for any number of arguments: around one, the count is not checked. It keeps its
        // place, so that the positional arguments after it meet their own parameters.
        let broken = args.iter().any(|a| is_error(&a.value));
        let mut given: Vec<Option<&ast::Arg>> = vec![None; params.len()];
        // The parameters an unknown name is a misspelling of (E0211 suggests them).
        let mut misspelt = vec![false; params.len()];
        let mut positional = 0;
        // After an error node the positions are not known (`f(a b, c)` may be three
        // arguments): the positional arguments after one are checked on their own.
        let mut after_error = false;
        for a in args {
            let slot = match &a.name {
                None if is_error(&a.value) => {
                    positional += 1;
                    after_error = true;
                    continue;
                }
                None => {
                    positional += 1;
                    if after_error || (positional > params.len() && broken) {
                        self.expr(env, facts, &a.value, None);
                        continue;
                    }
                    if positional > params.len() {
                        let d = Diagnostic::error(
                            "E0303",
                            &self.path,
                            a.value.span,
                            format!(
                                "`{what}` takes {} argument{}, but more are given",
                                params.len(),
                                if params.len() == 1 { "" } else { "s" }
                            ),
                        )
                        .with_label("extra argument")
                        .with_help("remove it");
                        self.err(d);
                        self.expr(env, facts, &a.value, None);
                        continue;
                    }
                    positional - 1
                }
                Some(n) => match params.iter().position(|p| *p.name == *n.name) {
                    Some(i) => i,
                    None => {
                        let mut d = Diagnostic::error(
                            "E0211",
                            &self.path,
                            n.span,
                            format!("`{what}` has no parameter `{}`", n.name),
                        )
                        .with_label("unknown parameter");
                        let names: Vec<Arc<str>> = params.iter().map(|p| p.name.clone()).collect();
                        if let Some(s) = self.suggest(&n.name, &names) {
                            d = d.with_help(format!("did you mean `{s}`?"));
                            // The misspelt name stands for that parameter: it is not also
                            // reported missing (one mistake, one error).
                            if let Some(i) = params.iter().position(|p| *p.name == *s) {
                                misspelt[i] = true;
                            }
                        } else {
                            d = d.with_help(format!(
                                "its parameters are: {}",
                                listed(&names, names.len())
                            ));
                        }
                        self.err(d);
                        self.expr(env, facts, &a.value, None);
                        continue;
                    }
                },
            };
            if given[slot].is_some() {
                let d = Diagnostic::error(
                    "E0303",
                    &self.path,
                    a.value.span,
                    format!(
                        "parameter `{}` of `{what}` is given twice",
                        params[slot].name
                    ),
                )
                .with_label("given again")
                .with_help("give each parameter once");
                self.err(d);
                continue;
            }
            given[slot] = Some(a);
            let what = format!("argument `{}` of `{what}`", params[slot].name);
            self.check(env, facts, &a.value, &params[slot].ty, &what);
        }
        let missing: Vec<&str> = params
            .iter()
            .zip(&given)
            .zip(&misspelt)
            .filter(|((p, g), m)| g.is_none() && !**m && !p.ty.is_optional())
            .map(|((p, _), _)| &*p.name)
            .collect();
        if !missing.is_empty() && !broken {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let d = Diagnostic::error(
                "E0303",
                &self.path,
                span,
                format!("`{what}` is missing {list}"),
            )
            .with_label("missing arguments")
            .with_help(format!("give {list}"));
            self.err(d);
        }
    }

    /// E0303 for a positional argument written after a named one (`f(y: 1, 2)`): positional
    /// arguments come first (language.md §7.3). Returns the arguments as the help writes them,
    /// to be matched to the parameters instead (so that one mistake is one error): the
    /// positional ones moved first, or, when that gives a parameter twice, named after the
    /// parameters left. `None` when the arguments are in order.
    fn positional_after_named(
        &mut self,
        what: &str,
        params: &[TypedParam],
        args: &[ast::Arg],
    ) -> Option<Vec<ast::Arg>> {
        let first_named = args.iter().position(|a| a.name.is_some())?;
        // An error node (see `args`) is not an argument written out of place.
        let misplaced = args[first_named..]
            .iter()
            .find(|a| a.name.is_none() && !matches!(a.value.kind, ExprKind::Error))?
            .value
            .span;
        let (positional, named): (Vec<&ast::Arg>, Vec<&ast::Arg>) =
            args.iter().partition(|a| a.name.is_none());
        let named_at = |a: &ast::Arg| {
            a.name
                .as_ref()
                .and_then(|n| params.iter().position(|p| *p.name == *n.name))
        };
        // Moved first, the positional arguments fill the first parameters: fine unless one of
        // those is also given by name.
        let moved_fits = positional.len() <= params.len()
            && named
                .iter()
                .all(|a| named_at(a).is_none_or(|i| i >= positional.len()));
        let fixed: Vec<ast::Arg> = if moved_fits {
            positional
                .iter()
                .chain(&named)
                .map(|a| (*a).clone())
                .collect()
        } else {
            // Each positional argument after a named one names the next parameter that no
            // other argument gives.
            let before = first_named;
            let mut taken: Vec<bool> = (0..params.len()).map(|i| i < before).collect();
            for a in &named {
                if let Some(i) = named_at(a) {
                    taken[i] = true;
                }
            }
            let mut out = Vec::new();
            for a in args {
                let mut a = a.clone();
                if a.name.is_none()
                    && a.value.span.start() >= misplaced.start()
                    && let Some(i) = taken.iter().position(|t| !t)
                {
                    taken[i] = true;
                    a.name = Some(ast::Ident {
                        name: params[i].name.to_string(),
                        span: a.value.span,
                    });
                }
                out.push(a);
            }
            out
        };
        let shown: Option<Vec<String>> = fixed
            .iter()
            .map(|a| {
                let value = self.written_text(a.value.span)?;
                Some(match &a.name {
                    Some(n) => format!("{}: {value}", n.name),
                    None => value,
                })
            })
            .collect();
        let help = match shown {
            Some(parts) if parts.join(", ").len() <= 80 => {
                format!("write `{what}({})`", parts.join(", "))
            }
            _ => "give the positional arguments first, then the named ones".to_string(),
        };
        let d = Diagnostic::error(
            "E0303",
            &self.path,
            misplaced,
            "positional arguments come before named ones",
        )
        .with_label("a positional argument after a named one")
        .with_help(help);
        self.err(d);
        Some(fixed)
    }

    /// The source text at `span`, if it is on one line.
    fn written_text(&self, span: Span) -> Option<String> {
        let text = self.file.text(self.db);
        text.get(span.start()..span.end())
            .filter(|s| !s.contains('\n'))
            .map(str::to_string)
    }

    fn collection_op(
        &mut self,
        env: &Env,
        facts: &Facts,
        span: Span,
        op: &str,
        receiver: Option<&Expr>,
        args: &[ast::Arg],
    ) -> Ty {
        let mut values: Vec<&Expr> = receiver.into_iter().collect();
        values.extend(args.iter().map(|a| &a.value));
        let result = if op == "count" { Ty::Int } else { Ty::Bool };
        let arity_ok = match op {
            "count" => values.len() == 1 || values.len() == 2,
            _ => values.len() == 2,
        };
        if !arity_ok && values.iter().any(|v| is_error(v)) {
            // An argument the parser could not read may stand for any number (see `args`);
            // the collection is still checked.
            for v in values
                .into_iter()
                .filter(|v| !is_error(v) && !matches!(v.kind, ExprKind::Lambda(..)))
            {
                self.expr(env, facts, v, None);
            }
            return result;
        }
        if !arity_ok {
            let d = Diagnostic::error(
                "E0303",
                &self.path,
                span,
                format!("`{op}` takes a collection and a lambda"),
            )
            .with_label("wrong arguments")
            .with_help(format!("write `{op}(items, x => condition)`"));
            self.err(d);
            return result;
        }
        let coll = self.expr(env, facts, values[0], None);
        let coll = self.require_present(facts, values[0], coll);
        let elem = match &coll {
            Ty::List(t) | Ty::Set(t) => (**t).clone(),
            Ty::Unknown => Ty::Unknown,
            other => {
                self.mismatch(
                    values[0].span,
                    &Ty::List(Box::new(Ty::Unknown)),
                    other,
                    &format!("`{op}` works on lists and sets"),
                );
                Ty::Unknown
            }
        };
        if let Some(l) = values.get(1).filter(|l| !is_error(l)) {
            match &l.kind {
                ExprKind::Lambda(x, body) => {
                    let mut inner = env.clone();
                    if let Some(n) = &mut self.notes {
                        n.locals.push(crate::ide::Local {
                            name: Arc::from(x.name.as_str()),
                            span: x.span,
                            scope: Some(body.span),
                            ty: elem.clone(),
                        });
                    }
                    inner.bind(&x.name, elem, x.span);
                    // The body runs only where the call is evaluated, so what is known there
                    // holds in it, except of places that name the lambda's variable: that is
                    // another value in the body.
                    let known: Facts = facts
                        .iter()
                        .filter(|p| !p.names(&x.name))
                        .cloned()
                        .collect();
                    self.condition_in(&inner, &known, body);
                }
                _ => {
                    let d = Diagnostic::error(
                        "E0303",
                        &self.path,
                        l.span,
                        format!("the last argument of `{op}` must be a lambda"),
                    )
                    .with_label("expected `x => condition`")
                    .with_help(format!("write `{op}(items, x => condition)`"));
                    self.err(d);
                }
            }
        }
        result
    }
}

/// The result type of an arithmetic operation, if defined.
/// The value of `e` when it is made of literals only (numbers, money, durations, times, `-`
/// and arithmetic on them) and computes without error; else `None` (an operation of constants
/// that fails is reported where it is, not again around it).
fn constant(e: &Expr) -> Option<Value> {
    constant_in(e, &mut |_| None)
}

/// [`constant`], where a name has the value `name` gives it (a test's `let`), if any.
fn constant_in(e: &Expr, name: &mut dyn FnMut(&ast::Ident) -> Option<Value>) -> Option<Value> {
    match &e.kind {
        ExprKind::Paren(x) => constant_in(x, name),
        ExprKind::Name(n) => name(n),
        ExprKind::Lit(Literal::Int(i)) => Some(Value::Int(*i)),
        ExprKind::Lit(Literal::Decimal(d)) => d.parse().ok().map(Value::Decimal),
        ExprKind::Lit(Literal::Money(a, c)) => a
            .parse()
            .ok()
            .map(|a| Value::Money(a, Arc::from(c.as_str()))),
        ExprKind::Lit(Literal::Duration(ms, _)) => Some(Value::Duration(*ms)),
        ExprKind::Lit(Literal::Time(t)) => {
            xop_runtime::time::parse_rfc3339(t).ok().map(Value::Time)
        }
        ExprKind::Unary(UnOp::Neg, x) => match constant_in(x, name)? {
            Value::Int(i) => i.checked_neg().map(Value::Int),
            Value::Decimal(d) => Some(Value::Decimal(-d)),
            Value::Duration(ms) => ms.checked_neg().map(Value::Duration),
            Value::Money(d, c) => Some(Value::Money(-d, c)),
            _ => None,
        },
        ExprKind::Binary(op, a, b) => {
            let op = arith_op(*op)?;
            xop_runtime::interp::arith(op, constant_in(a, name)?, constant_in(b, name)?).ok()
        }
        _ => None,
    }
}

/// Why `e`, of a type the compiled program holds as a number, is not a [`constant`]: what a
/// label under it says.
fn not_constant(e: &Expr) -> String {
    if has_if(e) {
        return "an `if` is not evaluated when the program is compiled".to_string();
    }
    match constant_failure(e) {
        Some(why) if why.contains("overflow") => "this arithmetic overflows".to_string(),
        Some(why) => format!("this arithmetic fails: {why}"),
        None => "not computed from literals alone".to_string(),
    }
}

/// Whether `e` is an error node: a part the parser could not read, whose syntax error is
/// reported already.
fn is_error(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Error)
}

/// Whether an operand of `e`, as [`constant`] reads it, is an error node (see [`is_error`]).
fn has_error(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Error => true,
        ExprKind::Paren(x) | ExprKind::Unary(_, x) => has_error(x),
        ExprKind::Binary(_, a, b) => has_error(a) || has_error(b),
        _ => false,
    }
}

/// Whether `e` has an `if` in it.
fn has_if(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::If(..) => true,
        ExprKind::Paren(x) | ExprKind::Unary(_, x) => has_if(x),
        ExprKind::Binary(_, a, b) => has_if(a) || has_if(b),
        _ => false,
    }
}

/// Why the arithmetic of `e`, written with literals only, does not compute (an overflow, a
/// division by zero), if that is what keeps it from being a [`constant`].
fn constant_failure(e: &Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Paren(x) => constant_failure(x),
        ExprKind::Unary(UnOp::Neg, x) => match constant(x) {
            Some(Value::Int(_) | Value::Duration(_)) if constant(e).is_none() => {
                Some("its negation overflows".to_string())
            }
            Some(_) => None,
            None => constant_failure(x),
        },
        ExprKind::Binary(op, a, b) => {
            let op = arith_op(*op)?;
            match (constant(a), constant(b)) {
                (Some(x), Some(y)) => xop_runtime::interp::arith(op, x, y).err(),
                (None, _) => constant_failure(a),
                (_, None) => constant_failure(b),
            }
        }
        _ => None,
    }
}

/// The milliseconds of duration `e` if it is written with literals only (`15m`, `1h + 30m`)
/// and computes; see [`Checker::fixed_duration`].
pub fn duration_value(e: &Expr) -> Option<i64> {
    match constant(e)? {
        Value::Duration(ms) => Some(ms),
        _ => None,
    }
}

/// The IR's operator for an arithmetic `op`.
fn arith_op(op: BinOp) -> Option<ArithOp> {
    Some(match op {
        BinOp::Add => ArithOp::Add,
        BinOp::Sub => ArithOp::Sub,
        BinOp::Mul => ArithOp::Mul,
        BinOp::Div => ArithOp::Div,
        BinOp::Rem => ArithOp::Rem,
        _ => return None,
    })
}

fn arith(op: BinOp, a: &Ty, b: &Ty) -> Option<Ty> {
    use Ty::*;
    if matches!(a, Unknown) || matches!(b, Unknown) {
        return Some(Unknown);
    }
    Some(match (op, a, b) {
        (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem, Int, Int) => Int,
        (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div, Decimal, Decimal) => Decimal,
        (BinOp::Add | BinOp::Sub, Money, Money) => Money,
        (BinOp::Mul | BinOp::Div, Money, Int | Decimal) => Money,
        (BinOp::Add | BinOp::Sub, Duration, Duration) => Duration,
        (BinOp::Mul | BinOp::Div, Duration, Int) => Duration,
        (BinOp::Mul, Int, Duration) => Duration,
        (BinOp::Add | BinOp::Sub, Time, Duration) => Time,
        (BinOp::Add, Duration, Time) => Time,
        (BinOp::Sub, Time, Time) => Duration,
        (BinOp::Add, Text, Text) => Text,
        _ => return None,
    })
}

/// `ty` where `facts` hold: `T` for a `T?` place known to be present, else `ty` itself.
fn narrowed(facts: &Facts, e: &Expr, ty: Ty) -> Ty {
    match ty {
        Ty::Optional(inner) if place(e).is_some_and(|p| facts.contains(&p)) => *inner,
        t => t,
    }
}

/// How to write a field at `path` in a record value: `fav: …`, `home: { ch: …, .. }`.
fn written(path: &[Arc<str>]) -> String {
    match path {
        [] => String::new(),
        [last] => format!("`{last}: …`"),
        [first, rest @ ..] => {
            let inner = written(rest);
            let inner = inner.trim_matches('`');
            format!("`{first}: {{ {inner}, .. }}`")
        }
    }
}

/// Whether `ty` has an open record type in it: in a test, the type of a record value written
/// where no record type was expected (a `let`).
pub(crate) fn has_open(ty: &Ty) -> bool {
    match ty {
        Ty::Open(_) => true,
        Ty::List(t) | Ty::Set(t) | Ty::Optional(t) => has_open(t),
        _ => false,
    }
}

/// The narrowest type that holds values of types `a` and `b` written in a test's `let`, which
/// the type expected where the name is used may make one (see [`Checker::typed_at_use`]):
/// `T?` for `T` and `absent`, a record value with the fields of both (each joined), a text
/// literal's `Text` with an `Id` or a `Tz`; `None` if no type holds both.
fn join_leniently(a: &Ty, b: &Ty) -> Option<Ty> {
    fn optional(t: Ty) -> Ty {
        match t {
            Ty::Optional(_) => t,
            t => Ty::Optional(Box::new(t)),
        }
    }
    if a == b {
        return Some(a.clone());
    }
    Some(match (a, b) {
        (Ty::Unknown, t) | (t, Ty::Unknown) => t.clone(),
        (Ty::Optional(x), y) | (y, Ty::Optional(x)) => optional(join_leniently(x, y)?),
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(join_leniently(x, y)?)),
        (Ty::Set(x), Ty::Set(y)) => Ty::Set(Box::new(join_leniently(x, y)?)),
        (Ty::Open(xs), Ty::Open(ys)) => {
            let mut out = xs.clone();
            for (n, t) in ys {
                match out.iter_mut().find(|(m, _)| m == n) {
                    Some((_, u)) => *u = join_leniently(u, t)?,
                    None => out.push((n.clone(), t.clone())),
                }
            }
            Ty::Open(out)
        }
        (Ty::Record(d), Ty::Open(_)) | (Ty::Open(_), Ty::Record(d)) => Ty::Record(d.clone()),
        (Ty::Text, t @ (Ty::Id | Ty::Tz)) | (t @ (Ty::Id | Ty::Tz), Ty::Text) => t.clone(),
        _ => return None,
    })
}

/// Whether `expected` gives a record type to each record value of a value of type `ty`.
fn typed_by(ty: &Ty, expected: Option<&Ty>) -> bool {
    let expected = expected.map(Ty::present);
    match ty {
        Ty::Open(_) => matches!(expected, Some(Ty::Record(_) | Ty::Unknown)),
        Ty::List(t) | Ty::Set(t) => match expected {
            Some(Ty::List(e) | Ty::Set(e)) => typed_by(t, Some(e)),
            Some(Ty::Unknown) => true,
            _ => !has_open(t),
        },
        Ty::Optional(t) => typed_by(t, expected),
        _ => true,
    }
}

/// Whether a test's `let` value `e` passes the value of what it holds on as its own, so that
/// the record values in those are typed where the name is used (see [`Checker::expr`]).
fn passes_value_on(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::Paren(_)
            | ExprKind::If(..)
            | ExprKind::List(_)
            | ExprKind::Set(_)
            | ExprKind::Record { .. }
            | ExprKind::Name(_)
            | ExprKind::Lit(_)
            | ExprKind::Error
    )
}

/// How much of its type `e` has of its own, to type first the operand (the branch, the element)
/// that has more and the others by it: 0 for `[]`, `{}` and `absent` (none), 1 for a text
/// literal (a `Text`, or the `Id` or `Tz` expected where it is written), 2 for any other value;
/// a collection or an `if` has the most any of its elements or branches has.
pub(crate) fn literal_rank(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Lit(Literal::Absent) => 0,
        ExprKind::Lit(Literal::Text(_)) => 1,
        ExprKind::Paren(x) => literal_rank(x),
        ExprKind::List(xs) | ExprKind::Set(xs) => xs.iter().map(literal_rank).max().unwrap_or(0),
        ExprKind::If(_, a, b) => literal_rank(a).max(literal_rank(b)),
        _ => 2,
    }
}

/// What an element of a collection that does not have the others' type breaks (E0301).
const COLLECTION_ELEMENTS: &str = "every element of a collection must have the same type";

/// The first time XOP can hold (language.md §2.5).
pub(crate) const FIRST_TIME: &str = "0000-01-01T00:00:00Z";

/// The last time XOP can hold (language.md §2.5).
pub(crate) const LAST_TIME: &str = "9999-12-30T22:00:00.999Z";

/// Whether `ms` (since the epoch) is a time XOP can hold: from [`FIRST_TIME`] to
/// [`LAST_TIME`], as the runtime's one reader of times reads them.
pub(crate) fn time_in_range(ms: i64) -> bool {
    let bound = |t: &str| xop_runtime::time::parse_rfc3339(t).ok();
    matches!(
        (bound(FIRST_TIME), bound(LAST_TIME)),
        (Some(first), Some(last)) if (first..=last).contains(&ms)
    )
}

/// `e` without the parentheses around it.
fn strip_parens(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Paren(x) => strip_parens(x),
        _ => e,
    }
}

/// Whether `e` is the literal `absent` (in parentheses or not).
fn is_absent_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Lit(Literal::Absent) => true,
        ExprKind::Paren(x) => is_absent_literal(x),
        _ => false,
    }
}

/// A canonical key for a pure expression, used for absence narrowing: a name, a field of a
/// place, or a call (of a function, an intrinsic or a signal: each gives one value within a
/// decision) whose arguments are places or literals. `None` for expressions that are not places
/// (literals, arithmetic).
pub fn place(e: &Expr) -> Option<Place> {
    match &e.kind {
        ExprKind::Name(n) => Some(Place::Name(n.name.clone())),
        ExprKind::Paren(x) => place(x),
        ExprKind::Field(r, f) => Some(Place::Field(Box::new(place(r)?), f.name.clone())),
        ExprKind::Call {
            callee,
            receiver,
            args,
        } => {
            let mut parts = Vec::new();
            if let Some(r) = receiver {
                parts.push(PlaceArg {
                    name: None,
                    value: PlaceValue::Place(place(r)?),
                });
            }
            for a in args {
                let value = match &a.value.kind {
                    // As written in XOP (`24h`, `"ab\n"`), for the helps that show the place.
                    ExprKind::Lit(l) => PlaceValue::Literal(crate::format::literal(l)),
                    _ => PlaceValue::Place(place(&a.value)?),
                };
                parts.push(PlaceArg {
                    name: a.name.as_ref().map(|n| n.name.clone()),
                    value,
                });
            }
            Some(Place::Call(callee.dotted(), parts))
        }
        _ => None,
    }
}

/// The help for a value another language writes for XOP's (`True`, `null`), which no one
/// declares: `true`, or how XOP says "no value".
fn other_language_value(name: &str) -> Option<String> {
    match name {
        "True" | "TRUE" => Some("write `true`: XOP's Booleans are `true` and `false`".into()),
        "False" | "FALSE" => Some("write `false`: XOP's Booleans are `true` and `false`".into()),
        "null" | "nil" | "None" | "NULL" | "undefined" => Some(format!(
            "XOP has no `{name}`: an optional value that has none is absent; test it with \
             `x is absent` (or `x is present`), or give a default with `x ?? value`"
        )),
        _ => None,
    }
}

/// How a declaration of `kind` named `name` is written, with capitals for what the writer
/// chooses (`purpose fraud_prevention`, `fn f(PARAM: TYPE): TYPE = EXPR`), for helps.
pub(crate) fn declaration_form(kind: DefKind, name: &str) -> String {
    match kind {
        DefKind::Record => format!("record {name} {{ FIELD: TYPE }}"),
        DefKind::Enum => format!("enum {name} {{ VALUE, VALUE }}"),
        DefKind::Action => format!("action {name}(PARAM: TYPE) purpose PURPOSE risk minimal"),
        DefKind::Signal => {
            format!("signal {name}(PARAM: TYPE): TYPE from CONNECTOR(ARGS) max_age 5m")
        }
        DefKind::Role | DefKind::Channel | DefKind::Purpose => {
            format!("{} {name}", keyword(kind))
        }
        DefKind::Event => format!("event {name}(PARAM: TYPE)"),
        DefKind::Fn => format!("fn {name}(PARAM: TYPE): TYPE = EXPR"),
        DefKind::Intrinsic => format!("intrinsic {name}(PARAM: TYPE): TYPE"),
        DefKind::Policy => format!("policy {name} for ACTION(PARAM: NAME) {{ RULES }}"),
        DefKind::Decision => format!("decision {name}(PARAM: TYPE) {{ propose ACTION(ARGS) }}"),
        DefKind::Journey | DefKind::Agent => format!("{} {name} {{ … }}", keyword(kind)),
    }
}

/// The help of E0208 for `name`, which is `found` where `expected` is needed: what this place
/// takes and how such a declaration is written (under a name of its own: a name means one
/// thing). `free`: whether a name can be imported into the file without clashing, for the
/// standard purposes it lists.
fn wrong_kind_help(
    name: &str,
    found: DefKind,
    expected: DefKind,
    free: impl Fn(&str) -> bool,
) -> String {
    let form = declaration_form(expected, "NAME");
    let standard = match expected {
        DefKind::Purpose => {
            let names: Vec<&str> = ["marketing", "service", "fraud", "billing"]
                .into_iter()
                .filter(|n| free(n))
                .collect();
            if names.is_empty() {
                String::new()
            } else {
                format!(
                    " (the standard ones: `use std.consent.{{{}}}`)",
                    names.join(", ")
                )
            }
        }
        DefKind::Intrinsic => {
            " (the network's are those of `std.camara`, e.g. `camara.sim_swap`)".to_string()
        }
        _ => String::new(),
    };
    format!(
        "this place takes {}, and `{name}` is {}: name {0} here, declared with `{form}` under a name of its own, or imported with `use`{standard}",
        expected.describe(),
        found.describe(),
    )
}

/// Whether a declaration of kind `found` can stand where one of kind `expected` is written
/// (`None`: a value in an expression), so that E0205 suggests no name that would be refused
/// where it is suggested: a value is a channel, a purpose or a role (local names and enum
/// variants are values too, and are not declarations); a call (`Fn`) calls a function, an
/// intrinsic or a signal; elsewhere the kind is the one expected.
fn takes(expected: Option<DefKind>, found: DefKind) -> bool {
    match expected {
        None => matches!(found, DefKind::Channel | DefKind::Purpose | DefKind::Role),
        Some(DefKind::Fn) => matches!(found, DefKind::Fn | DefKind::Intrinsic | DefKind::Signal),
        Some(k) => k == found,
    }
}

fn keyword(kind: DefKind) -> &'static str {
    match kind {
        DefKind::Record => "record",
        DefKind::Enum => "enum",
        DefKind::Action => "action",
        DefKind::Signal => "signal",
        DefKind::Role => "role",
        DefKind::Channel => "channel",
        DefKind::Purpose => "purpose",
        DefKind::Event => "event",
        DefKind::Fn => "fn",
        DefKind::Intrinsic => "intrinsic",
        DefKind::Policy => "policy",
        DefKind::Decision => "decision",
        DefKind::Journey => "journey",
        DefKind::Agent => "agent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Workspace;
    use xop_runtime::interp::{self, FixedSignals};
    use xop_runtime::ir::TestCase;

    /// The repro of a function called through its module (language.md §4.2: qualified calls
    /// are Planned), with `decls` after the record and `qualified` as the rule's call.
    fn qualified_call_source(uses: &str, decls: &str, call: &str) -> String {
        format!(
            "module t.qc\n\nuse std.consent.service\n{uses}\nrecord C {{ id: Id  tz: Tz }}\n{decls}\naction a(to: C) purpose service risk minimal\n\npolicy p for a(to: c) at now {{\n  deny \"night\" unless {call} in 8..21\n  allow \"ok\"\n}}\n"
        )
    }

    /// `cut_short` as it was before [`error_follows`]: every start is looked at, and the text
    /// before it trimmed (quadratic in the syntax errors of a file). Kept as the oracle.
    fn error_follows_by_trimming(text: &str, starts: &[usize], end: usize) -> bool {
        starts.iter().any(|&start| {
            start >= end
                && text
                    .get(end..start)
                    .is_some_and(|between| between.trim().is_empty())
        })
    }

    /// [`error_follows`] (a binary search over the sorted starts) answers as trimming the
    /// text before every start did, at every offset of a file of many syntax errors in
    /// various places, with blanks of several kinds (tabs, newlines, a no-break and an
    /// ideographic space) and letters of several bytes; and with starts no parser gives as
    /// well: inside a character, at and past the end, repeated, unsorted.
    #[test]
    fn error_follows_answers_as_trimming_before_every_start() {
        let mut source = String::from(
            "module t.m\n\npurpose marketing\nrecord C { id: Id, n: Int, s: Text }\naction act(to: C, x: Int) purpose marketing risk minimal\npolicy p for act(to: c, x: x) {\n",
        );
        for i in 0..40 {
            match i % 5 {
                0 => source.push_str("  deny when ) (\n"),
                1 => source.push_str("  deny \"é\" when c.n = 3\t\n"),
                2 => source.push_str("  deny \"r\" when c.n >\u{a0}\n\n  \n"),
                3 => source.push_str("  allow \"ü\" when any(c.s, v => v ==\u{3000})\n"),
                _ => source.push_str("  deny \"x\" when c.n == 1 }\n record {\n"),
            }
        }
        source.push_str("  allow \"ok\"\n}\n   ");
        let parsed = crate::parse::parse(&Arc::from("e.xop"), &source);
        let found: Vec<usize> = parsed.diagnostics.iter().map(|d| d.span.start()).collect();
        assert!(found.len() >= 20, "{:#?}", parsed.diagnostics);
        let inside_char = source.find('é').expect("an é") + 1;
        let mut odd = found.clone();
        odd.extend([inside_char, source.len(), source.len() + 3, found[0], 0]);
        odd.reverse();
        let agree = |source: &str, starts: &[usize]| {
            let mut sorted = starts.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            let mut follows = 0;
            for end in 0..=source.len() + 4 {
                let fast = error_follows(source, &sorted, end);
                let slow = error_follows_by_trimming(source, starts, end);
                assert_eq!(fast, slow, "at {end} of {source:?}, starts {starts:?}");
                follows += usize::from(fast);
            }
            follows
        };
        for starts in [found, odd] {
            let follows = agree(&source, &starts);
            // Both answers occur, many times each.
            assert!(follows >= 20 && follows < source.len() / 2, "{follows}");
        }
        // A start inside a blank of several bytes, first after the end: a later start, after
        // only blanks, still follows it.
        let blanks = "a \u{3000} \u{a0}\t b c";
        let b = blanks.find('b').expect("a b");
        let starts = [3, 7, b, b + 2];
        assert!(error_follows(blanks, &starts, 1));
        assert_eq!(agree(blanks, &starts), 9);
    }

    /// Names for [`resolve::nearest`] to search: the QA's record of `field_i`, names of one letter to
    /// forty, repeated letters, letters past ASCII (some alike modulo 128), and misspellings of
    /// each kind (swapped, dropped, doubled, changed letters).
    fn suggestion_names() -> (Vec<Arc<str>>, Vec<String>) {
        let mut candidates: Vec<Arc<str>> =
            (0..300).map(|i| Arc::from(format!("field_{i}"))).collect();
        for n in [
            "a",
            "ab",
            "id",
            "n",
            "nn",
            "name",
            "names",
            "email",
            "e_mail",
            "consent",
            "consents",
            "max_messages",
            "aaaaaaa",
            "aaaab",
            "straße",
            "strasse",
            "größe",
            "grösse",
            "ŕate",
            "late",
            "customer_lifetime_value_in_euros_per_year",
            "x",
            "xy",
            "yx",
            "count",
            "any",
        ] {
            candidates.push(Arc::from(n));
        }
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |below: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % below
        };
        let mut queries: Vec<String> = (0..300).map(|i| format!("feild_{i}")).collect();
        for _ in 0..1500 {
            let base: Vec<char> = candidates[next(candidates.len())].chars().collect();
            let mut w = base.clone();
            for _ in 0..1 + next(3) {
                let at = next(w.len() + 1);
                match next(5) {
                    0 if at + 1 < w.len() => w.swap(at, at + 1),
                    1 if at < w.len() && w.len() > 1 => {
                        w.remove(at);
                    }
                    2 => w.insert(at, ['e', 'x', '_', 'é', '\u{e5}'][next(5)]),
                    3 if at < w.len() => w[at] = ['a', 'ŕ', '1', 'z'][next(4)],
                    _ => w.extend(base.iter().take(3)),
                }
            }
            queries.push(w.into_iter().collect());
        }
        queries.extend(candidates.iter().map(|c| c.to_string()));
        (candidates, queries)
    }

    /// [`resolve::nearest`] finds what [`resolve::suggest_comparing_all`] finds, for each misspelling of
    /// [`suggestion_names`] and for each name itself: its bounds set aside no answer.
    #[test]
    fn nearest_finds_what_comparing_every_candidate_finds() {
        let (candidates, queries) = suggestion_names();
        let (mut found, mut none) = (0, 0);
        for q in &queries {
            let mut budget = u64::MAX;
            let fast = resolve::nearest(q, &candidates, &mut budget).map(str::to_string);
            let slow = resolve::suggest_comparing_all(q, candidates.iter().map(|c| &**c));
            assert_eq!(fast, slow, "for {q:?}");
            if fast.is_some() {
                found += 1;
            } else {
                none += 1;
            }
        }
        assert!(found > 1000 && none > 100, "{found} found, {none} not");
    }

    /// On the QA's shape (misspelt fields among many alike), and for a name near none, the
    /// bounds set aside almost every candidate without comparing it in full: the budget spent
    /// is little more than the look at each candidate.
    #[test]
    fn nearest_compares_few_candidates_in_full() {
        let candidates: Vec<Arc<str>> =
            (0..2000).map(|i| Arc::from(format!("field_{i}"))).collect();
        let looks: u64 = candidates.iter().map(|c| c.len() as u64 + 8).sum();
        let near = |i: usize| Some(format!("field_{i}"));
        // A name near none of them: no best so far sets any aside, only the bounds.
        let cases = [0, 7, 512, 1999].map(|i| (format!("feild_{i}"), near(i)));
        for (name, answer) in cases.into_iter().chain([("qqqq_512".to_string(), None)]) {
            let in_full: u64 = candidates
                .iter()
                .map(|c| 2 * (name.len() * c.len()) as u64)
                .sum();
            let mut budget = u64::MAX;
            let found = resolve::nearest(&name, &candidates, &mut budget);
            assert_eq!(found, answer.as_deref());
            let spent = u64::MAX - budget;
            assert!(spent >= looks, "{spent} < {looks}");
            assert!(
                spent - looks < in_full / 10,
                "{} of {in_full} for {name}",
                spent - looks
            );
        }
    }

    /// Past its budget a search answers nothing, and so does every later one, even for a
    /// name answered before; an answer given again (the same name and candidates) costs only
    /// looking it up.
    #[test]
    fn suggestions_stop_past_the_budget() {
        let candidates: Vec<Arc<str>> = (0..100).map(|i| Arc::from(format!("field_{i}"))).collect();
        let mut budget = 100;
        assert_eq!(resolve::nearest("feild_99", &candidates, &mut budget), None);
        assert_eq!(budget, 0);

        let mut s = Suggestions::default();
        assert_eq!(
            s.suggest("feild_3", &candidates).as_deref(),
            Some("field_3")
        );
        let left = s.budget;
        assert!(left < SUGGESTION_BUDGET);
        assert_eq!(
            s.suggest("feild_3", &candidates).as_deref(),
            Some("field_3")
        );
        let looked_up = candidates.len() as u64;
        assert_eq!(
            s.budget,
            left - looked_up,
            "asked again, answered from memory"
        );
        // Enough left for one search, not for two.
        let cost = |name: &str| {
            let mut budget = u64::MAX;
            resolve::nearest(name, &candidates, &mut budget);
            u64::MAX - budget
        };
        s.budget = cost("feild_4") + cost("feild_5") / 2 + 2 * looked_up;
        assert_eq!(
            s.suggest("feild_4", &candidates).as_deref(),
            Some("field_4")
        );
        assert_eq!(s.suggest("feild_5", &candidates), None);
        assert_eq!(s.budget, 0);
        assert_eq!(s.suggest("feild_3", &candidates), None);
        assert_eq!(s.suggest("feild_6", &candidates[..3]), None);
    }

    /// A search of a list of the file's names followed by a list of locals
    /// ([`Suggestions::suggest_near`]) finds what one search of the two joined finds, wherever
    /// they are split; of two names as near, the one of the earlier list.
    #[test]
    fn a_search_of_two_lists_finds_what_the_lists_joined_find() {
        let (candidates, queries) = suggestion_names();
        let n = candidates.len();
        for (i, q) in queries.iter().enumerate().step_by(2) {
            let joined = resolve::suggest(q, candidates.iter().map(|c| &**c));
            for split in [0, n / 2 + i % 7, n] {
                let (shared, locals) = candidates.split_at(split);
                let mut s = Suggestions::default();
                let found = s.suggest_near(q, NearList::Values, shared, locals);
                assert_eq!(found, joined, "for {q:?} split at {split}");
                // Asked again, answered from memory alike.
                assert_eq!(s.suggest_near(q, NearList::Values, shared, locals), joined);
            }
        }
        let (one, two): (Arc<str>, Arc<str>) = (Arc::from("abcd1"), Arc::from("abcd2"));
        for (first, then) in [(&one, &two), (&two, &one)] {
            let found = Suggestions::default().suggest_near(
                "abcd",
                NearList::Values,
                std::slice::from_ref(first),
                std::slice::from_ref(then),
            );
            assert_eq!(found.as_deref(), Some(&**first));
        }
    }

    /// [`resolve::NearTo::accepts`] says what comparing the name with one candidate in full
    /// says ([`resolve::suggest_comparing_all`] of a list of one), for each misspelling of
    /// [`suggestion_names`] and each candidate.
    #[test]
    fn near_to_accepts_what_a_search_of_one_candidate_finds() {
        let (candidates, queries) = suggestion_names();
        let mut accepted = 0;
        for q in queries.iter().step_by(4) {
            let mut to = resolve::NearTo::new(q);
            for c in &candidates {
                let found = resolve::suggest_comparing_all(q, std::iter::once(&**c)).is_some();
                assert_eq!(to.accepts(c), found, "{q:?} and {c:?}");
                accepted += usize::from(found);
            }
        }
        assert!(accepted > 500, "{accepted} accepted");
    }

    /// A file of `m` functions `value_name_i` without parameters and `n` functions each
    /// reading one misspelt `valeu_name_i`: each misspelling in a declaration of its own.
    fn misspelt_values_source(m: usize, n: usize) -> String {
        let values: String = (0..m)
            .map(|i| format!("fn value_name_{i}(): Int = {i}\n"))
            .collect();
        let uses: String = (0..n)
            .map(|i| format!("fn use_{i}(): Int = valeu_name_{i}\n"))
            .collect();
        format!("module t.m\n{values}{uses}")
    }

    /// The diagnostics of `source`; how many queries salsa was asked for (a fetch of a
    /// memo counts as one) checking it; how many times the file's names were gathered for
    /// "did you mean" ([`near_names`], [`parameterless_fns`]).
    fn checked_counting_queries(source: &str) -> (Vec<Diagnostic>, u64, u64) {
        use std::sync::atomic::{AtomicU64, Ordering};
        let asked = Arc::new(AtomicU64::new(0));
        let gathered = Arc::new(AtomicU64::new(0));
        let (a, g) = (asked.clone(), gathered.clone());
        let db = crate::db::Database::with_events(move |e| match e.kind {
            salsa::EventKind::WillCheckCancellation => {
                a.fetch_add(1, Ordering::Relaxed);
            }
            salsa::EventKind::WillExecute { database_key } => {
                let key = format!("{database_key:?}");
                if key.starts_with("near_names") || key.starts_with("parameterless_fns") {
                    g.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {}
        });
        let mut ws = Workspace::with_database(db);
        ws.set_file("m.xop", source);
        let diagnostics = ws.diagnostics();
        (
            diagnostics,
            asked.load(Ordering::Relaxed),
            gathered.load(Ordering::Relaxed),
        )
    }

    /// Each declaration checks with a checker of its own, but the names a "did you mean"
    /// chooses among are gathered once for the file: a misspelling in each of `n` declarations
    /// among `m` functions asks salsa a few queries more per declaration, not the signature
    /// of each of the `m` functions again (`m × n` in all, which took 35 s at 2,000 among
    /// 20,000). Every misspelling still gets its suggestion.
    #[test]
    fn misspellings_in_many_declarations_gather_the_files_names_once() {
        let (m, n) = (400, 100);
        let (clean, clean_asked, _) = checked_counting_queries(&misspelt_values_source(m, 0));
        assert!(clean.iter().all(|d| !d.is_error()), "{clean:#?}");
        let (diagnostics, asked, gathered) =
            checked_counting_queries(&misspelt_values_source(m, n));
        let helps: Vec<Option<String>> = (diagnostics.iter())
            .filter(|d| d.code == "E0205")
            .map(|d| d.help.clone())
            .collect();
        let expected: Vec<Option<String>> = (0..n)
            .map(|i| Some(format!("did you mean `value_name_{i}()`?")))
            .collect();
        assert_eq!(helps, expected);
        let per_declaration = (asked - clean_asked) / n as u64;
        assert!(
            per_declaration < m as u64 / 4,
            "{per_declaration} queries asked per misspelt declaration, among {m} functions"
        );
        assert_eq!(gathered, 2, "near_names and parameterless_fns, once each");
    }

    /// A suggestion follows an edit of what it chose among: the file's names are a query
    /// of their own, and a function that takes a parameter is no longer a value to suggest.
    #[test]
    fn a_suggestion_follows_an_edit_of_the_names_it_chose_among() {
        let source = |params: &str| {
            format!(
                "module t.m\nfn max_messages({params}): Int = 3\nfn limit(): Int = max_mesages\n"
            )
        };
        let help = |ws: &Workspace| {
            (ws.diagnostics().into_iter())
                .find(|d| d.code == "E0205")
                .and_then(|d| d.help)
        };
        let mut ws = Workspace::new();
        ws.set_file("m.xop", source("").as_str());
        let called = Some("did you mean `max_messages()`?".to_string());
        assert_eq!(help(&ws), called);
        ws.set_file("m.xop", source("x: Int").as_str());
        let after = help(&ws);
        assert!(
            after
                .as_deref()
                .is_some_and(|h| !h.contains("did you mean")),
            "{after:?}"
        );
        ws.set_file("m.xop", source("").as_str());
        assert_eq!(help(&ws), called);
    }

    /// The source of the QA's shape: a record of `n` fields `field_i`, and a rule reading
    /// each misspelt `c.feild_i`.
    fn misspelt_fields_source(n: usize, read: impl Fn(usize) -> String) -> String {
        let fields: String = (0..n).map(|i| format!("  field_{i}: Int\n")).collect();
        let rules: String = (0..n)
            .map(|i| format!("  deny \"r{i}\" when c.{} == 1\n", read(i)))
            .collect();
        format!(
            "module t.m\n\npurpose marketing\nrecord C {{\n{fields}}}\naction act(to: C, x: Int) purpose marketing risk minimal\npolicy p for act(to: c, x: x) {{\n{rules}  allow \"ok\"\n}}\n"
        )
    }

    /// Each misspelt field of a file of the QA's shape (at a small size) gets the suggestion
    /// comparing it with every field gives.
    #[test]
    fn misspelt_fields_get_the_suggestions_of_comparing_every_field() {
        let n = 300;
        let reads = |i: usize| match i % 3 {
            0 => format!("feild_{i}"),
            1 => format!("field_{}x", i * 7 % n),
            _ => format!("fiel_{}", i / 2),
        };
        let mut ws = Workspace::new();
        ws.set_file("s.xop", misspelt_fields_source(n, reads).as_str());
        let fields: Vec<String> = (0..n).map(|i| format!("field_{i}")).collect();
        let helps: Vec<String> = (ws.diagnostics().iter())
            .filter(|d| d.code == "E0210")
            .map(|d| d.help.clone().unwrap_or_default())
            .collect();
        assert_eq!(helps.len(), n);
        for (i, help) in helps.iter().enumerate() {
            let expected = resolve::suggest(&reads(i), fields.iter().map(String::as_str))
                .expect("a near field");
            assert_eq!(*help, format!("did you mean `{expected}`?"), "{i}");
        }
    }

    /// A help that lists a record's fields lists the first [`MAX_LISTED`], then says how many
    /// more: thousands of errors each listing thousands of fields made output quadratic.
    #[test]
    fn a_long_list_of_fields_is_cut_short() {
        let mut ws = Workspace::new();
        let n = MAX_LISTED + 10;
        ws.set_file(
            "s.xop",
            misspelt_fields_source(n, |_| "zzz".to_string()).as_str(),
        );
        let d = (ws.diagnostics().into_iter())
            .find(|d| d.code == "E0210")
            .expect("an E0210");
        let listed: Vec<String> = (0..MAX_LISTED).map(|i| format!("field_{i}")).collect();
        let help = format!("its fields are: {}, and 10 more", listed.join(", "));
        assert_eq!(d.help.as_deref(), Some(help.as_str()));
    }

    /// The backquoted parts of `help`, in order.
    fn quoted(help: &str) -> Vec<String> {
        help.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// A function called through its module is one E0205 at the whole callee (not an unknown
    /// value `std` with the help of a function without parameters, then an unknown function),
    /// whose help, applied (the `use`, then the call as it says), checks without diagnostics:
    /// under the function's own name, under an alias when the file has that name already (a
    /// numbered one when it has the alias too), as it is when the file imports it already,
    /// and under the alias it is imported as (not imported a second time under another).
    #[test]
    fn a_qualified_call_is_one_e0205_whose_help_compiles() {
        let call = "std.time.local_hour(now, c.tz)";
        let own = "fn local_hour(x: Int): Int = x\npolicy q for a(to: c) {\n  deny \"big\" when local_hour(1) > 5\n  allow \"ok\"\n}\n";
        let own_and_alias = "fn local_hour(x: Int): Int = x\nfn time_local_hour(x: Int): Int = x\npolicy q for a(to: c) {\n  deny \"big\" when local_hour(1) > time_local_hour(5)\n  allow \"ok\"\n}\n";
        let cases = [
            ("", "", "local_hour(now, c.tz)"),
            ("", own, "time_local_hour(now, c.tz)"),
            ("", own_and_alias, "time_local_hour_2(now, c.tz)"),
            ("use std.time.local_hour\n", "", "local_hour(now, c.tz)"),
            (
                "use std.time.local_hour as lh\n",
                own_and_alias,
                "lh(now, c.tz)",
            ),
        ];
        for (uses, decls, fixed_call) in cases {
            let source = qualified_call_source(uses, decls, call);
            let mut ws = Workspace::new();
            ws.set_file("q.xop", source.as_str());
            let diags = ws.diagnostics();
            assert_eq!(diags.len(), 1, "{source}\n{diags:#?}");
            let d = &diags[0];
            assert_eq!(d.code, "E0205", "{d:#?}");
            assert_eq!(
                d.message,
                "cannot call `std.time.local_hour` through its module"
            );
            let start = source.find(call).unwrap();
            assert_eq!(
                d.span,
                Span::new(start, start + "std.time.local_hour".len()),
                "{d:#?}"
            );
            assert!(
                d.notes.iter().any(|n| n.contains("not supported yet")),
                "{d:#?}"
            );
            let help = d.help.clone().unwrap_or_default();
            assert!(!help.contains("fn std"), "{help}");
            let parts = quoted(&help);
            // The `use` to add, if any, and the call; an alias imported already is named
            // between them (`it is imported already, as `lh``).
            let (import, written) = match parts.as_slice() {
                [import, written] if import.starts_with("use ") => {
                    (Some(import.clone()), written.clone())
                }
                [alias, written] => {
                    assert!(written.starts_with(&format!("{alias}(")), "{help}");
                    (None, written.clone())
                }
                [written] => (None, written.clone()),
                _ => panic!("{help}"),
            };
            assert_eq!(written, fixed_call, "{help}");
            assert_eq!(import.is_none(), !uses.is_empty(), "{help}");
            let uses = match import {
                Some(import) => format!("{uses}{import}\n"),
                None => uses.to_string(),
            };
            let fixed = qualified_call_source(&uses, decls, &written);
            ws.set_file("q.xop", fixed.as_str());
            let after = ws.diagnostics();
            assert!(after.is_empty(), "{fixed}\n{after:#?}");
        }
    }

    /// A program with an `@annex_iii` (`annotation`) on a high-risk action, after `uses`,
    /// with `decls` besides.
    fn annex_source(uses: &str, decls: &str, annotation: &str) -> String {
        format!(
            "module t.annex\n\n{uses}\npurpose credit\nrole officer\n\nrecord C {{\n  id: Id\n}}\n{decls}\n{annotation}\naction grant(to: C) purpose credit risk high\n\npolicy p for grant(to: c) {{\n  review \"r\" by role officer within 1h else deny\n}}\n"
        )
    }

    /// The help for an `@annex_iii` whose area is no `AnnexIII` value (E0214), or is a value
    /// of the enum the file does not import (E0205), checks as written: it adds the `use` of
    /// `std.risk.AnnexIII` when the file does not import it (under an alias when the file has
    /// a name `AnnexIII` of its own), and qualifies the value when the file has a declaration
    /// of its name. Before, the E0214 help led to an E0205 whose help led back to the mistake.
    #[test]
    fn an_annex_iii_help_checks_as_written() {
        let cases = [
            // (uses, decls, annotation, code, `use` expected in the help, area expected)
            (
                "",
                "",
                "@annex_iii(area: credit)",
                "E0214",
                Some("use std.risk.AnnexIII"),
                Some("credit_scoring"),
            ),
            (
                "",
                "",
                "@annex_iii(credit)",
                "E0214",
                Some("use std.risk.AnnexIII"),
                Some("credit_scoring"),
            ),
            (
                "use std.risk.AnnexIII\n",
                "",
                "@annex_iii(area: credit)",
                "E0214",
                None,
                Some("credit_scoring"),
            ),
            (
                "",
                "purpose credit_scoring\n",
                "@annex_iii(area: credit_scoring)",
                "E0214",
                Some("use std.risk.AnnexIII"),
                Some("AnnexIII.credit_scoring"),
            ),
            (
                "",
                "record AnnexIII {\n  id: Id\n}\n",
                "@annex_iii(area: credit)",
                "E0214",
                Some("use std.risk.AnnexIII as risk_AnnexIII"),
                Some("credit_scoring"),
            ),
            (
                "",
                "",
                "@annex_iii(area: credit_scoring)",
                "E0205",
                Some("use std.risk.AnnexIII"),
                None,
            ),
        ];
        // A record `AnnexIII` declared only to take the name is never used (C0104): beside
        // the point here.
        let diagnostics = |ws: &Workspace| -> Vec<Diagnostic> {
            let all = ws.diagnostics();
            all.into_iter().filter(|d| d.code != "C0104").collect()
        };
        for (uses, decls, annotation, code, import, area) in cases {
            let source = annex_source(uses, decls, annotation);
            let mut ws = Workspace::new();
            ws.set_file("a.xop", source.as_str());
            let diags = diagnostics(&ws);
            assert_eq!(diags.len(), 1, "{source}\n{diags:#?}");
            let d = &diags[0];
            assert_eq!(d.code, code, "{d:#?}");
            let help = d.help.clone().unwrap_or_default();
            let parts = quoted(&help);
            let written_use = parts.iter().find(|p| p.starts_with("use "));
            assert_eq!(written_use.map(String::as_str), import, "{help}");
            let written_annotation = parts.iter().find(|p| p.starts_with("@annex_iii("));
            let expected = area.map(|a| format!("@annex_iii(area: {a})"));
            assert_eq!(written_annotation, expected.as_ref(), "{help}");
            // The help applied: the `use` added, the annotation written as it says.
            let uses = match written_use {
                Some(u) => format!("{uses}{u}\n"),
                None => uses.to_string(),
            };
            let fixed = annex_source(
                &uses,
                decls,
                written_annotation.map_or(annotation, String::as_str),
            );
            ws.set_file("a.xop", fixed.as_str());
            let after = diagnostics(&ws);
            assert!(after.is_empty(), "{fixed}\n{after:#?}");
        }
    }

    /// A qualified path to what does not exist gets the diagnostics of a `use` of it: an
    /// unknown module (E0203) or item (E0204), with their suggestions, once; a module read
    /// as a value, or an item read through its module, one E0205. None suggests declaring a
    /// function `std`.
    #[test]
    fn a_qualified_path_in_an_expression_is_reported_once() {
        let cases = [
            (
                "std.tme.local_hour(now, c.tz)",
                "E0203",
                "there is no module `std.tme`",
                "did you mean `std.time`?",
            ),
            (
                "std.time.local_hours(now, c.tz)",
                "E0204",
                "module `std.time` has no item `local_hours`",
                "did you mean `std.time.local_hour`?",
            ),
            (
                "std.time.nothing_like_it",
                "E0204",
                "module `std.time` has no item `nothing_like_it`",
                "`std.time` declares `local_hour`",
            ),
            (
                "std.time.hours",
                "E0205",
                "cannot name `std.time.hours` through its module",
                "import it with `use std.time.hours`, then call `hours(…)`",
            ),
            (
                "std.consent.service",
                "E0205",
                "cannot name `std.consent.service` through its module",
                "it is imported already: write `service`",
            ),
            (
                "std.time",
                "E0205",
                "`std.time` is a module, not a value",
                "`use std.time.NAME`",
            ),
        ];
        for (call, code, message, help) in cases {
            let source = qualified_call_source("", "", call);
            let mut ws = Workspace::new();
            ws.set_file("q.xop", source.as_str());
            let diags = ws.diagnostics();
            assert_eq!(diags.len(), 1, "{source}\n{diags:#?}");
            let d = &diags[0];
            assert_eq!((d.code, d.message.as_str()), (code, message), "{d:#?}");
            let got = d.help.clone().unwrap_or_default();
            assert!(got.contains(help), "{got}");
            assert!(!got.contains("fn std"), "{got}");
        }
        // Nested up to the depth limit (and beyond it), in a test thread's stack: reported,
        // not a crash.
        for n in [120, 300] {
            let call = format!("{}1{}", "std.time.hours(".repeat(n), ")".repeat(n));
            let source = qualified_call_source("", "", &call);
            let mut ws = Workspace::new();
            ws.set_file("q.xop", source.as_str());
            let diags = ws.diagnostics();
            assert!(diags.iter().any(|d| d.code == "E0205"), "{diags:#?}");
        }
        // A local name that is no module is read as before: `cx` is a typo of `c`.
        let source = qualified_call_source("", "", "cx.tz.local_hour(now)");
        let mut ws = Workspace::new();
        ws.set_file("q.xop", source.as_str());
        let diags = ws.diagnostics();
        assert!(
            diags.iter().any(|d| d.message == "cannot find name `cx`"),
            "{diags:#?}"
        );
    }

    /// Every unresolved name (E0205) and every name of the wrong kind (E0208), from each place
    /// that reports one, carries a help that says how to fix it; and the decision time, a
    /// name a failed `use` names, and the kinds expected are each told apart.
    #[test]
    fn every_e0205_and_e0208_has_a_help() {
        let source = r#"module acme.m
use std.consent.{consent, Consent}
use std.tme.local_hour
use std.time.local_hours
use acme.nothere.{Thing, Other}
role fraud_desk
purpose marketing
record Customer { id: Id, owner: fraud_desk, consents: List<Consent>, t: Thing, o: List<Other> }
action block(to: Customer) purpose fraud_desk risk minimal
action send(to: Customer, n: Int) purpose nosuch risk minimal
signal swap2(c: Customer): Int from std.consent.Consent(c.id) max_age 5m
policy p1 for send(to: c) {
  deny "a" when c.n >= max_messages
  deny "b" when local_hour(now, c.id) > 2 or local_hours(1) > 1
  deny "c" when nosuch_fn(1) > 2 or send
  review "d" by role marketing within 1h else deny
  allow "ok"
}
policy p2 for send(to: c) at t {
  deny "a" when now == t
  allow "ok"
}
policy p3 for Customer(to: c) {
  allow "ok"
}
policy p4 for std.consent.Consent(to: c) {
  allow "ok"
}
decision d(c: Customer) {
  propose send(to: c, n: now)
}
test "t" {
  expect send(send(to: { .. }, n: 1)) == allow
  expect p1(send(to: { .. }, n: 1)) == deny("nope")
}
"#;
        let mut ws = Workspace::new();
        ws.set_file("m.xop", source);
        let all = ws.diagnostics();
        // `Thing` and `Other` are named by a failed `use` (E0203): no unknown type either.
        assert!(!all.iter().any(|d| d.code == "E0207"), "{all:#?}");
        let diags: Vec<Diagnostic> = all
            .into_iter()
            .filter(|d| matches!(d.code, "E0205" | "E0208"))
            .collect();
        let no_help: Vec<&Diagnostic> = diags.iter().filter(|d| d.help.is_none()).collect();
        assert!(no_help.is_empty(), "{no_help:#?}");
        let help_of = |message: &str| -> String {
            let d = diags
                .iter()
                .find(|d| d.message == message)
                .unwrap_or_else(|| panic!("no `{message}` in {diags:#?}"));
            d.help.clone().unwrap_or_default()
        };
        // The cases with a help of their own.
        assert!(
            help_of("cannot find name `max_messages`")
                .contains("`fn max_messages(): TYPE = VALUE`")
        );
        assert!(help_of("cannot find purpose `nosuch`").contains("`purpose nosuch`"));
        assert!(
            help_of("cannot find function `nosuch_fn`")
                .contains("`fn nosuch_fn(PARAM: TYPE): TYPE = EXPR`")
        );
        for message in [
            "`fraud_desk` is a role, not a purpose",
            "`marketing` is a purpose, not a role",
            "`Customer` is a record, not an action",
        ] {
            let help = help_of(message);
            let expected = message.rsplit("not ").next().unwrap_or_default();
            assert!(
                help.starts_with(&format!("this place takes {expected}")),
                "{help}"
            );
        }
        assert!(
            help_of("`std.consent.Consent` is a record, not an action").contains("`action NAME(")
        );
        assert!(
            help_of("`std.consent.Consent` is a record, not an intrinsic").contains("std.camara")
        );
        assert!(help_of("`send` is an action, not a value").contains("use a local name"));
        assert!(help_of("`fraud_desk` is a role, not a type").contains("records and enums"));
        assert!(help_of("`send` is an action, not a policy").contains("name its arguments"));
        let now: Vec<String> = diags
            .iter()
            .filter(|d| d.message == "cannot find name `now`")
            .map(|d| d.help.clone().unwrap_or_default())
            .collect();
        assert_eq!(now.len(), 3, "{now:#?}");
        assert!(
            now[0].contains("`policy p1 for send(to: c) at now`"),
            "{}",
            now[0]
        );
        assert!(now[1].contains("write `t`"), "{}", now[1]);
        assert!(now[2].contains("`decision d(…) at now`"), "{}", now[2]);
        // `local_hour` and `local_hours` are named by failed `use`s (E0203, E0204).
        assert!(
            !diags.iter().any(|d| d.message.contains("local_hour")),
            "{diags:#?}"
        );
    }

    /// The UI case of test `let`s of collections whose elements have one type only by the type
    /// expected where the name is used (language.md §5.13); its expectations are worked out by
    /// hand from the rules and the dates.
    const LETS: &str = include_str!("../../tests/ui/ok_let_collections_typed_at_use.xop");

    /// The checker accepts those `let`s, and what lowering builds of them where they are used
    /// decides, on the interpreter and on the JIT alike, as each `expect` says.
    #[test]
    fn lets_of_collections_typed_at_use_decide_as_their_tests_expect() {
        let mut ws = Workspace::new();
        ws.set_file("lets.xop", LETS);
        let diags = ws.diagnostics();
        assert!(diags.is_empty(), "{diags:#?}");
        let program = crate::lower::lower(ws.db(), ws.project()).expect("lowered");
        assert_eq!(program.tests.len(), 13);
        decide_tests(&program);
    }

    /// Decides every test of `program` on the interpreter and on the JIT, with the signals
    /// each gives, and asserts the verdict and reasons it expects (each test names them).
    fn decide_tests(program: &xop_runtime::ir::Program) {
        let jit = xop_runtime::jit::compile(program);
        for case in &program.tests {
            let now = if case.now == TestCase::NO_TIME {
                0
            } else {
                case.now
            };
            let at = case.source.line;
            let args: Vec<Value> = (case.args.iter())
                .map(|e| interp::eval_const(program, e, now).expect("a constant argument"))
                .collect();
            let given = (case.given.iter())
                .map(|(s, e)| {
                    (
                        *s,
                        interp::eval_const(program, e, now).expect("a given value"),
                    )
                })
                .collect();
            let signals = FixedSignals(given);
            let policy = case.policy as usize;
            let d = interp::decide(program, policy, &args, now, &signals);
            assert_eq!(d.verdict, case.expect, "line {at}: {d:?}");
            let mut reasons = d.reasons.clone();
            reasons.sort();
            let mut expected = case.reasons.clone().expect("the test names its reasons");
            expected.sort();
            assert_eq!(reasons, expected, "line {at}");
            let j = jit.decide_with_signals(policy, &args, now, &signals);
            assert_eq!(j.as_ref(), Some(&d), "line {at}: the JIT decides alike");
        }
    }

    /// The UI case of collection literals whose elements are joined where no type is expected
    /// (language.md §6.4); its expectations are worked out by hand from the rules.
    const JOINS: &str = include_str!("../../tests/ui/ok_collection_literal_joins_optional.xop");

    /// Where no type is expected, `absent` or a `T?` among `T`s makes a collection's elements
    /// `T?`s, in any order, and the engines decide the resulting values as the tests expect.
    #[test]
    fn collection_literals_join_absent_with_their_elements() {
        let mut ws = Workspace::new();
        ws.set_file("joins.xop", JOINS);
        let diags = ws.diagnostics();
        assert!(diags.is_empty(), "{diags:#?}");
        let program = crate::lower::lower(ws.db(), ws.project()).expect("lowered");
        assert_eq!(program.tests.len(), 8);
        decide_tests(&program);
    }

    /// The codes of the diagnostics of `body`, a function's body of type `Int` with a record
    /// `R { v: Int? }` parameter `r` in scope.
    fn codes_of_fn(body: &str) -> Vec<&'static str> {
        let mut ws = Workspace::new();
        let source = format!(
            "module acme.m\nrecord R {{ v: Int? }}\nfn f(r: R): Int = {body}\nfn g(r: R): Int = f(r)\n"
        );
        ws.set_file("m.xop", source);
        let mut codes: Vec<&'static str> = ws
            .diagnostics()
            .iter()
            .filter(|d| d.code != "C0104")
            .map(|d| d.code)
            .collect();
        codes.sort_unstable();
        codes
    }

    /// What a collection literal's join accepts and refuses where no type is expected: `T` with
    /// `absent` or `T?` in either order, and as a set; not `absent` alone (one error, however
    /// many), not elements that no type holds, nor `absent` where `Int`s are expected.
    #[test]
    fn collection_literal_joins_are_checked() {
        for ok in [
            "count([1, absent])",
            "count([absent, 1])",
            "count([absent, absent, 1, absent])",
            "count({1, absent})",
            "count({absent, 1})",
            "count([r.v, 1])",
            "count([1, r.v])",
            "count([r.v])",
            "count([1, r.v], x => x is absent)",
            "count([absent, \"a\"])",
            "if r.v is present then count([r.v, 1], x => x > 0) else 0",
            "if r.v is present then count([1, r.v], x => x > 0) else 0",
        ] {
            assert_eq!(codes_of_fn(ok), Vec::<&str>::new(), "{ok}");
        }
        for (bad, codes) in [
            ("count([absent])", vec!["E0302"]),
            ("count([absent, absent])", vec!["E0302"]),
            ("count({absent})", vec!["E0302"]),
            ("count([])", vec!["E0310"]),
            ("count([1, \"a\"])", vec!["E0301"]),
            ("count([absent, 1, \"a\"])", vec!["E0301"]),
            ("count([1, absent], x => x > 0)", vec!["E0302"]),
            ("if 1 in [2, absent] then 1 else 0", vec!["E0302"]),
        ] {
            assert_eq!(codes_of_fn(bad), codes, "{bad}");
        }
    }

    /// The fields of the record or function parameter's open record type declared first in
    /// `source` (`name`, or `name: _` for one whose type could not be read), and the messages
    /// of the syntax errors of `source`.
    fn fields_read(source: &str) -> (Vec<String>, Vec<String>) {
        fn shown(name: &ast::Ident, ty: &ast::TypeExpr) -> String {
            match ty {
                ast::TypeExpr::Error(_) => format!("{}: _", name.name),
                _ => name.name.clone(),
            }
        }
        let parsed = crate::parse::parse(&Arc::from("t.xop"), source);
        let messages = parsed
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect();
        let fields = match &parsed.ast.items[0].kind {
            ast::ItemKind::Record(r) => r.fields.iter().map(|f| shown(&f.name, &f.ty)).collect(),
            ast::ItemKind::Fn(f) => match &f.params[0].ty {
                ast::TypeExpr::Open { fields, .. } => {
                    fields.iter().map(|(n, t)| shown(n, t)).collect()
                }
                other => panic!("an open record type: {other:?}"),
            },
            other => panic!("a record or a function: {other:?}"),
        };
        (fields, messages)
    }

    /// A record field that cannot be read, before a field of an open record type (or any
    /// other), is one syntax error: the record keeps the fields before it, it (with the type
    /// read, if any) and those after it, instead of being read again from the open record
    /// type's `{`; so is a field of an open record type that cannot be read.
    #[test]
    fn a_broken_field_keeps_the_fields_around_it() {
        for (source, fields, messages) in [
            (
                "record S {\n  n: Int\n  a: Int = 3\n  b: { x: Int, .. }\n  c: Int\n}\n",
                vec!["n", "a", "b", "c"],
                vec!["unexpected `=`"],
            ),
            (
                "record T {\n  n: Int\n  a: List<Int\n  b: { x: Int, .. }\n  c: Int\n}\n",
                vec!["n", "a: _", "b", "c"],
                vec!["unexpected `b`"],
            ),
            (
                "record U {\n  a: Int = {1}\n  b: Int = max c\n  d: Int\n}\nfn f(u: U): Int = u.d\n",
                vec!["a", "b", "d"],
                vec!["unexpected `=`", "unexpected `=`"],
            ),
            // A missing `}` as well: the next declaration is still one.
            (
                "record V {\n  n: Int\n  a: Int = 3\n/// Doc.\naction x(to: V) purpose p\n",
                vec!["n", "a"],
                vec!["unexpected `=`"],
            ),
            (
                "fn m(x: { n: Int, a: Int = 2, b: { x: Int, .. }, .. }): Int = x.n\n",
                vec!["n", "a", "b"],
                vec!["unexpected `=`"],
            ),
            (
                "fn m(x: { n: Int, a: , b: { x: Int, .. }, .. }): Int = x.n\n",
                vec!["n", "a: _", "b"],
                vec!["unexpected `,`"],
            ),
            // A type missing or unfinished at a line's end: the next field's name is not read
            // as the type (or a type argument), one error each.
            (
                "record W {\n  n: Int\n  a: List<\n  b: Int\n  c: Int\n}\n",
                vec!["n", "a: _", "b", "c"],
                vec!["the type of `a` is unfinished"],
            ),
            (
                "record X {\n  a:\n  b: { x: Int, .. }\n  c: Map<Text, List<\n  d: Int\n}\n",
                vec!["a: _", "b", "c: _", "d"],
                vec![
                    "the type of `a` is missing",
                    "the type of `c` is unfinished",
                ],
            ),
            (
                "record Y {\n  a: List<Int,\n  b:\n  c: Int\n}\n",
                vec!["a: _", "b: _", "c"],
                vec![
                    "the type of `a` is unfinished",
                    "the type of `b` is missing",
                ],
            ),
            (
                "record Z {\n  a: 3\n  b: Int\n}\n",
                vec!["a: _", "b"],
                vec!["unexpected `3`"],
            ),
        ] {
            let (read, said) = fields_read(&format!("module m\n{source}"));
            assert_eq!(
                (read, said),
                (
                    fields.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                    messages.iter().map(|m| m.to_string()).collect::<Vec<_>>()
                ),
                "{source}"
            );
        }
        // The fields kept are known where they are used: the record's uses add no error.
        let mut ws = Workspace::new();
        ws.set_file(
            "m.xop",
            "module m\nrecord S {\n  n: Int\n  a: Int = 3\n  b: { x: Int, .. }\n  c: Int\n}\n\
             fn f(s: S): Int = s.n + s.a + s.c\nfn g(s: S): Int = f(s)\n",
        );
        let mut codes: Vec<_> = ws.diagnostics().iter().map(|d| d.code).collect();
        codes.sort_unstable();
        assert_eq!(codes, ["E0103", "E0315"]);
    }

    /// The UI case of a signal declared `T?`, whose read is `T?` and not `T??`.
    const OPTIONAL_SIGNAL: &str = include_str!("../../tests/ui/ok_optional_signal.xop");

    /// A signal declared `T?` is read as a `T?` (language.md §6.1: `T??` is `T?`): present,
    /// its fields are read; lowered, its value is a `T` that may be absent, and its tests
    /// decide absent and present values as they expect, on the interpreter and the JIT.
    #[test]
    fn a_signal_declared_optional_reads_as_one_optional() {
        let mut ws = Workspace::new();
        let file = ws.set_file("optional_signal.xop", OPTIONAL_SIGNAL);
        let diags = ws.diagnostics();
        assert!(diags.is_empty(), "{diags:#?}");
        let swap = resolve::item_table(ws.db(), file).by_name["swap"].clone();
        let Signature::Callable { ret, .. } =
            resolve::signature(ws.db(), ws.project(), file, swap.index)
        else {
            panic!("a signal has a callable signature");
        };
        assert_eq!(ret.to_string(), "SimSwap?");
        let program = crate::lower::lower(ws.db(), ws.project()).expect("lowered");
        let signal = (program.signals.iter())
            .find(|s| s.name == "acme.ok.optional_signal.swap")
            .expect("the signal is lowered");
        assert!(
            matches!(signal.ty, xop_runtime::ir::Type::Record(_)),
            "{:?}",
            signal.ty
        );
        assert_eq!(program.tests.len(), 3);
        assert!(program.tests.iter().all(|t| t.given.len() == 1));
        decide_tests(&program);
    }

    fn open(fields: &[(&str, Ty)]) -> Ty {
        Ty::Open(
            fields
                .iter()
                .map(|(n, t)| (Arc::from(*n), t.clone()))
                .collect(),
        )
    }

    fn opt(t: Ty) -> Ty {
        Ty::Optional(Box::new(t))
    }

    /// `absent` beside a value makes it optional, in collections and record values too; record
    /// values have the fields of both; types that nothing holds together have no join.
    #[test]
    fn lenient_joins_are_the_narrowest_type_holding_both() {
        let absent = opt(Ty::Unknown);
        let cases = [
            (Ty::Int, absent.clone(), Some(opt(Ty::Int))),
            (absent.clone(), Ty::Int, Some(opt(Ty::Int))),
            (opt(Ty::Int), opt(Ty::Int), Some(opt(Ty::Int))),
            (opt(Ty::Int), Ty::Int, Some(opt(Ty::Int))),
            (Ty::Unknown, Ty::Text, Some(Ty::Text)),
            (
                Ty::List(Box::new(Ty::Int)),
                Ty::List(Box::new(absent.clone())),
                Some(Ty::List(Box::new(opt(Ty::Int)))),
            ),
            (
                Ty::Set(Box::new(Ty::Unknown)),
                Ty::Set(Box::new(Ty::Time)),
                Some(Ty::Set(Box::new(Ty::Time))),
            ),
            (
                open(&[("a", Ty::Time), ("b", Ty::Int)]),
                open(&[("a", absent.clone()), ("c", Ty::Bool)]),
                Some(open(&[
                    ("a", opt(Ty::Time)),
                    ("b", Ty::Int),
                    ("c", Ty::Bool),
                ])),
            ),
            (Ty::Text, Ty::Id, Some(Ty::Id)),
            (Ty::Tz, Ty::Text, Some(Ty::Tz)),
            (Ty::Int, Ty::Text, None),
            (opt(Ty::Int), Ty::Decimal, None),
            (
                Ty::List(Box::new(Ty::Int)),
                Ty::Set(Box::new(Ty::Int)),
                None,
            ),
            (open(&[("a", Ty::Time)]), open(&[("a", Ty::Text)]), None),
            (Ty::Id, Ty::Tz, None),
        ];
        for (a, b, want) in cases {
            assert_eq!(join_leniently(&a, &b), want, "{a} and {b}");
        }
        // A value of a record type beside a record value: the record type, which the value
        // is checked against where the name is used.
        let mut ws = Workspace::new();
        let file = ws.set_file("k.xop", "module k\nrecord K { v: Int? }\n");
        let k = Ty::Record(Def {
            file,
            index: 0,
            kind: DefKind::Record,
            name: Arc::from("K"),
            span: Span::new(16, 17),
        });
        let value = open(&[("v", Ty::Int)]);
        assert_eq!(join_leniently(&k, &value), Some(k.clone()));
        assert_eq!(join_leniently(&value, &k), Some(k.clone()));
        assert_eq!(join_leniently(&k, &Ty::Int), None);
    }
}
