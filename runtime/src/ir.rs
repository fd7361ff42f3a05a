//! The IR: the contract between the compiler (which lowers checked programs to it) and the
//! runtime (whose interpreter defines its meaning and whose JIT must agree with it).
//!
//! A [`Program`] is closed: every name is resolved to an index, every type is known, user
//! functions are inlined (they cannot recurse), and `let` bindings of tests are substituted.
//! Expressions are pure; the only effects are reading signals, which the runtime memoises per
//! decision so that two reads of the same signal with the same arguments agree.

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// The IR format version written by this runtime. Version 2 added [`Program::agents`],
/// version 3 [`TestCase::action`] (tests of an action's verdict); version 1 and 2 modules still
/// load (with no agents, and only tests of one policy), any other version is refused.
pub const FORMAT_VERSION: u32 = 3;

/// The deepest the expressions, types and values of a program read from bytes may be nested:
/// more than the interpreter evaluates ([`crate::interp::MAX_DEPTH`]) and than the compiler
/// writes, and shallow enough that reading and dropping a program recursively fit in a 2 MiB
/// stack even in a debug build. A module nested deeper is refused as malformed.
pub const MAX_READ_NESTING: u32 = 320;

thread_local! {
    /// How deep the deserialization under way on this thread is, and whether one went deeper
    /// than [`MAX_READ_NESTING`] since [`Level::exceeded`] was last asked.
    static READING: std::cell::Cell<(u32, bool)> = const { std::cell::Cell::new((0, false)) };
}

/// One level of nesting of an expression, type or value being deserialized.
pub(crate) struct Level;

impl Level {
    /// Enters a level; an error past [`MAX_READ_NESTING`] (noted for [`Level::exceeded`]:
    /// some formats keep no custom message).
    pub(crate) fn enter<E: serde::de::Error>() -> Result<Level, E> {
        let (depth, exceeded) = READING.get();
        if depth >= MAX_READ_NESTING {
            READING.set((depth, true));
            return Err(E::custom(too_deep()));
        }
        READING.set((depth + 1, exceeded));
        Ok(Level)
    }

    /// Whether a deserialization on this thread went too deep since the last call.
    pub(crate) fn exceeded() -> bool {
        let (depth, exceeded) = READING.get();
        READING.set((depth, false));
        exceeded
    }
}

impl Drop for Level {
    fn drop(&mut self) {
        let (depth, exceeded) = READING.get();
        READING.set((depth.saturating_sub(1), exceeded));
    }
}

/// The error for a program nested too deeply.
pub(crate) fn too_deep() -> String {
    format!("an expression, type or value is nested deeper than {MAX_READ_NESTING} levels")
}

/// `Serialize` and `Deserialize` for a recursive type whose derived impls are generated as
/// inherent functions (`#[serde(remote = "Self")]`): reading counts each level.
macro_rules! read_with_nesting_limit {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$t>::serialize(self, s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let _level = $crate::ir::Level::enter::<D::Error>()?;
                <$t>::deserialize(d)
            }
        }
    };
}
pub(crate) use read_with_nesting_limit;

read_with_nesting_limit!(Expr);
read_with_nesting_limit!(Type);

/// A compiled program: everything a runtime needs to decide and to explain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Program {
    /// Record types, by index.
    pub records: Vec<RecordType>,
    /// Enum types, by index.
    pub enums: Vec<EnumType>,
    /// Channels, purposes and roles, by index.
    pub symbols: Vec<Symbol>,
    /// Signals, by index.
    pub signals: Vec<SignalDecl>,
    /// Policies, by index.
    pub policies: Vec<Policy>,
    /// Test cases, by index.
    pub tests: Vec<TestCase>,
    /// Decisions (next-best-action), by index.
    #[serde(default)]
    pub decisions: Vec<DecisionDef>,
    /// Agents: the MCP tools an AI agent may call, bound to actions (format version 2).
    #[serde(default)]
    pub agents: Vec<AgentDef>,
}

/// How deeply record types may nest in the JIT's flat input layout (deeper, or recursive, is
/// not compiled).
pub const MAX_RECORD_DEPTH: u32 = 32;

/// How many words a value of `ty` takes in the JIT's flat input layout, its lists' elements
/// (which go after the fixed part) left out: one for a scalar, two for a decimal and for a
/// list's header, three for money, one more than its value for an optional (absent or not), a
/// record's fields summed. Binding holds the elements of an input's lists to a number of these
/// words ([`crate::bind::BindErrorKind::TooLarge`]), so that the engines refuse the same
/// inputs. `Err` for a type at record depth `depth` whose records nest deeper than
/// [`MAX_RECORD_DEPTH`] (or recursively), one naming a record not in the program, or a size
/// beyond `usize`. Each record type is measured once per call, so that record types sharing
/// one another (a field of `B` and one of `C`, each of type `D`) cost their number, not the
/// number of paths through them.
pub fn layout_size(program: &Program, ty: &Type, depth: u32) -> Result<usize, String> {
    let mut memo = Vec::new();
    let (words, height) = measured(program, ty, &mut memo, 0)?;
    if depth.saturating_add(height) > MAX_RECORD_DEPTH {
        return Err("a record type nested too deeply (or recursive)".into());
    }
    Ok(words)
}

/// A record type's measure in [`measured`]'s memo.
#[derive(Clone, Copy)]
enum Measure {
    /// Being measured: met again, the type is recursive.
    Open,
    Done(usize, u32),
}

/// The words of `ty` ([`layout_size`]) and its height: how many records deep its fields nest
/// (0 for a scalar or a list, one more than its deepest field for a record). `level` is how
/// many records deep `ty` is in the type measured: past [`MAX_RECORD_DEPTH`] that type nests
/// too deeply whatever follows, so the recursion stops there (a chain of thousands of records
/// would overflow the stack).
fn measured(
    program: &Program,
    ty: &Type,
    memo: &mut Vec<Option<Measure>>,
    level: u32,
) -> Result<(usize, u32), String> {
    const TOO_LARGE: &str = "a record type too large to lay out";
    Ok(match ty {
        Type::Bool
        | Type::Int
        | Type::Duration
        | Type::Time
        | Type::Text
        | Type::Tz
        | Type::Id
        | Type::Symbol(_)
        | Type::Enum(_) => (1, 0),
        Type::List(_) | Type::Set(_) | Type::Decimal => (2, 0),
        Type::Money => (3, 0),
        Type::Optional(inner) => {
            let (words, height) = measured(program, inner, memo, level)?;
            (words.checked_add(1).ok_or(TOO_LARGE)?, height)
        }
        Type::Record(r) => {
            let i = *r as usize;
            let rt = program
                .records
                .get(i)
                .ok_or_else(|| format!("record type #{r} is not in the program"))?;
            if memo.len() < program.records.len() {
                memo.resize(program.records.len(), None);
            }
            match memo[i] {
                Some(Measure::Done(words, height)) => return Ok((words, height)),
                Some(Measure::Open) => {
                    return Err("a record type nested too deeply (or recursive)".into());
                }
                None => {}
            }
            if level > MAX_RECORD_DEPTH {
                return Err("a record type nested too deeply (or recursive)".into());
            }
            memo[i] = Some(Measure::Open);
            let (mut words, mut height) = (0usize, 0u32);
            for f in &rt.fields {
                let (w, h) = measured(program, &f.ty, memo, level + 1)?;
                words = words.checked_add(w).ok_or(TOO_LARGE)?;
                height = height.max(h.saturating_add(1));
            }
            memo[i] = Some(Measure::Done(words, height));
            (words, height)
        }
    })
}

impl Program {
    /// The policy named `name` (its short or qualified name).
    pub fn policy(&self, name: &str) -> Option<(usize, &Policy)> {
        self.policies
            .iter()
            .enumerate()
            .find(|(_, p)| p.name == name || p.qualified == name)
    }

    /// The policy a user's `name` means, refusing a short name two policies have (two
    /// modules may each declare a policy `contact`): its qualified name, or its short name
    /// (`policy@action` for a purpose policy) when only one policy has it. `Err` holds the
    /// qualified names of the policies with that short name: none when there is no such
    /// policy, several when the name is ambiguous (give one of them). What `xop eval --policy`
    /// and the runtime (`xop serve`) resolve names with; [`Program::policy`] takes the first.
    pub fn resolve_policy(&self, name: &str) -> Result<(usize, &Policy), Vec<&str>> {
        resolve_named(&self.policies, name, |p| (&p.name, &p.qualified))
    }

    /// The decision a user's `name` means, as [`Program::resolve_policy`] finds a policy: a
    /// short name two decisions have (in two modules) is refused with their qualified names.
    pub fn resolve_decision(&self, name: &str) -> Result<(usize, &DecisionDef), Vec<&str>> {
        resolve_named(&self.decisions, name, |d| (&d.name, &d.qualified))
    }

    /// The policies guarding action `action` (qualified name), in declaration order: an
    /// action's verdict combines them all.
    pub fn guards<'p>(&'p self, action: &'p str) -> impl Iterator<Item = &'p Policy> + 'p {
        self.policies.iter().filter(move |p| p.action == action)
    }

    /// The decision named `name` (its short or qualified name).
    pub fn decision(&self, name: &str) -> Option<(usize, &DecisionDef)> {
        self.decisions
            .iter()
            .enumerate()
            .find(|(_, d)| d.name == name || d.qualified == name)
    }

    /// The agent named `name` (its short or qualified name).
    pub fn agent(&self, name: &str) -> Option<&AgentDef> {
        self.agents
            .iter()
            .find(|a| a.name == name || a.qualified == name)
    }

    /// The symbol of `kind` named `name`: its qualified name, or its short name. A short name
    /// means the project's own symbol before the standard library's (a project that declares
    /// `purpose marketing` means its own), and is refused (`None`) when still ambiguous.
    pub fn symbol(&self, kind: SymbolKind, name: &str) -> Option<u32> {
        let index = |i: usize| u32::try_from(i).ok();
        if let Some(i) = self
            .symbols
            .iter()
            .position(|s| s.kind == kind && s.qualified == name)
        {
            return index(i);
        }
        let short: Vec<usize> = (0..self.symbols.len())
            .filter(|&i| self.symbols[i].kind == kind && self.symbols[i].name == name)
            .collect();
        let own: Vec<usize> = short
            .iter()
            .copied()
            .filter(|&i| !self.symbols[i].qualified.starts_with("std."))
            .collect();
        match (own.as_slice(), short.as_slice()) {
            ([i], _) => index(*i),
            ([], [i]) => index(*i),
            _ => None,
        }
    }
}

/// A record type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordType {
    /// Qualified name, e.g. `acme.customer.Customer`.
    pub name: String,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
}

impl RecordType {
    /// The index of field `name`.
    pub fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// A record field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Whether it is `@personal` (logged as a keyed hash, never in clear).
    pub personal: bool,
}

/// An enum type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumType {
    /// Qualified name.
    pub name: String,
    /// Variant names, in order.
    pub variants: Vec<String>,
}

/// What a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SymbolKind {
    /// A channel.
    Channel,
    /// A purpose.
    Purpose,
    /// A role.
    Role,
}

/// A channel, purpose or role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// What it is.
    pub kind: SymbolKind,
    /// Its short name, e.g. `sms` (what inputs write).
    pub name: String,
    /// Its qualified name, e.g. `std.channel.sms`.
    pub qualified: String,
}

impl Expr {
    /// Calls `f` on the expression and on every expression inside it, parents first.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Const(_) | Expr::Slot(_) => {}
            Expr::Field(x, _) | Expr::Not(x) | Expr::Neg(x) | Expr::IsPresent(x) => x.walk(f),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp(_, a, b)
            | Expr::Arith(_, a, b)
            | Expr::In(a, b)
            | Expr::Default(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::InRange { value, lo, hi, .. } => {
                value.walk(f);
                lo.walk(f);
                hi.walk(f);
            }
            Expr::If(a, b, c) => {
                a.walk(f);
                b.walk(f);
                c.walk(f);
            }
            Expr::List(xs)
            | Expr::Set(xs)
            | Expr::Record(_, xs)
            | Expr::Intrinsic(_, xs)
            | Expr::Signal(_, xs) => xs.iter().for_each(|x| x.walk(f)),
            Expr::Quantify { list, body, .. } => {
                list.walk(f);
                if let Some(b) = body {
                    b.walk(f);
                }
            }
        }
    }

    /// Whether the expression is nested more than `limit` levels deep (itself at level 1).
    /// Recursive, but never deeper than `limit` + 1 levels.
    pub fn deeper_than(&self, limit: u32) -> bool {
        if limit == 0 {
            return true;
        }
        let deeper = |e: &Expr| e.deeper_than(limit - 1);
        match self {
            Expr::Const(_) | Expr::Slot(_) => false,
            Expr::Field(x, _) | Expr::Not(x) | Expr::Neg(x) | Expr::IsPresent(x) => deeper(x),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp(_, a, b)
            | Expr::Arith(_, a, b)
            | Expr::In(a, b)
            | Expr::Default(a, b) => deeper(a) || deeper(b),
            Expr::InRange { value, lo, hi, .. } => deeper(value) || deeper(lo) || deeper(hi),
            Expr::If(c, a, b) => deeper(c) || deeper(a) || deeper(b),
            Expr::List(xs)
            | Expr::Set(xs)
            | Expr::Record(_, xs)
            | Expr::Intrinsic(_, xs)
            | Expr::Signal(_, xs) => xs.iter().any(deeper),
            Expr::Quantify { list, body, .. } => {
                deeper(list) || body.as_deref().is_some_and(deeper)
            }
        }
    }
}

/// A type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub enum Type {
    /// `Bool`
    Bool,
    /// `Int`
    Int,
    /// `Decimal`
    Decimal,
    /// `Money`
    Money,
    /// `Text`
    Text,
    /// `Duration`
    Duration,
    /// `Time`
    Time,
    /// `Tz`
    Tz,
    /// `Id`
    Id,
    /// `Channel`, `Purpose` or `Role`.
    Symbol(SymbolKind),
    /// A record type, by index.
    Record(u32),
    /// An enum type, by index.
    Enum(u32),
    /// `List<T>`
    List(Box<Type>),
    /// `Set<T>`
    Set(Box<Type>),
    /// `T?`
    Optional(Box<Type>),
}

/// A typed, named parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
}

/// A signal: a value read from outside when a rule needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalDecl {
    /// Qualified name.
    pub name: String,
    /// Its parameters (slots `0..params.len()` of its source arguments).
    pub params: Vec<Param>,
    /// The type of a present value.
    pub ty: Type,
    /// The connector, e.g. `std.camara.sim_swap`.
    pub source: String,
    /// The connector's arguments, over the signal's parameters.
    pub source_args: Vec<Expr>,
    /// Values older than this are absent.
    pub max_age_ms: Option<i64>,
}

/// A verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Verdict {
    /// Allowed.
    Allow,
    /// Sent to a person of a role.
    Review,
    /// Denied.
    Deny,
}

impl Verdict {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Review => "review",
            Verdict::Deny => "deny",
        }
    }
}

/// Where a rule is written, for explanations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceRef {
    /// The file's path.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The rule's source text.
    pub text: String,
}

/// A policy over one action's parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Short name.
    pub name: String,
    /// Qualified name.
    pub qualified: String,
    /// The qualified name of the action it is evaluated for (a purpose policy is lowered once
    /// per action of the purpose, named `policy@action`).
    pub action: String,
    /// The action's parameters: the input, in slots `0..params.len()`.
    pub params: Vec<Param>,
    /// The slot of the decision time, if the policy names it (`at now`).
    pub now_slot: Option<u32>,
    /// How many slots a frame needs (parameters, the time, lambda variables).
    pub slots: u32,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Whether its rules can read the decision time: the time it names (`at now`), or an
    /// intrinsic that reads it (`consent`, `contacts_within`, `contacts_on_within`,
    /// `swapped_within`). A test of such a policy must give the time (`at`).
    pub fn reads_time(&self) -> bool {
        let mut reads = false;
        for c in self.rules.iter().filter_map(|r| r.condition.as_ref()) {
            c.walk(&mut |e| {
                reads |= match e {
                    Expr::Slot(s) => Some(*s) == self.now_slot,
                    Expr::Intrinsic(i, _) => matches!(
                        i,
                        Intrinsic::Consent
                            | Intrinsic::ContactsWithin
                            | Intrinsic::ContactsOnWithin
                            | Intrinsic::SwappedWithin
                    ),
                    _ => false,
                };
            });
        }
        reads
    }
}

/// A review's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The role that decides.
    pub role: String,
    /// How long it has, in milliseconds.
    pub within_ms: i64,
    /// What applies when nobody decides in time.
    pub fallback: Verdict,
    /// For the terms of a review verdict that several fired review rules gave
    /// ([`crate::interp::merge_reviews`]): the other roles that must approve besides `role`.
    /// A rule has one role, so modules never hold it (nor read it).
    #[serde(skip)]
    pub also: Vec<String>,
}

/// A rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable id: `policy#index`.
    pub id: String,
    /// What it gives when it applies.
    pub verdict: Verdict,
    /// Its reason code.
    pub reason: Option<String>,
    /// When it applies (`unless c` is lowered to `not c`); always if `None`.
    pub condition: Option<Expr>,
    /// For `review` rules, the terms.
    pub review: Option<Review>,
    /// Where it is written.
    pub source: SourceRef,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

/// Collection quantifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Quantifier {
    /// `any(xs, x => c)`
    Any,
    /// `all(xs, x => c)`
    All,
    /// `count(xs, x => c)` (or `count(xs)` without a body)
    Count,
}

/// The runtime's built-in functions (the standard library's intrinsics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Intrinsic {
    /// `std.consent.consent(subject, purpose, channel)`; the subject is lowered to its
    /// `consents` list.
    Consent,
    /// `std.time.local_hour(t, tz)`
    LocalHour,
    /// `std.time.day_of_week(t, tz)`: 1 = Monday … 7 = Sunday.
    DayOfWeek,
    /// `std.time.hours(n)`
    Hours,
    /// `std.time.minutes(n)`
    Minutes,
    /// `std.time.days(n)`
    Days,
    /// `std.contact.contacts_within(subject, window)`; the subject is lowered to its
    /// `contacts` list.
    ContactsWithin,
    /// `std.contact.contacts_on_within(subject, channel, window)`, likewise.
    ContactsOnWithin,
    /// `std.camara.swapped_within(sim_swap, window)`
    SwappedWithin,
}

/// An expression. Every variant is pure; evaluation is total except for the run-time errors
/// the interpreter reports (overflow, division by zero, currency mismatch), which make the
/// decision fail closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self")]
pub enum Expr {
    /// A constant.
    Const(Value),
    /// A frame slot: a parameter, the decision time, a lambda variable.
    Slot(u32),
    /// A record's field, by index.
    Field(Box<Expr>, u32),
    /// `not`
    Not(Box<Expr>),
    /// Unary `-`
    Neg(Box<Expr>),
    /// Short-circuit `and`.
    And(Box<Expr>, Box<Expr>),
    /// Short-circuit `or`.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// Arithmetic.
    Arith(ArithOp, Box<Expr>, Box<Expr>),
    /// Membership of an element in a list or set.
    In(Box<Expr>, Box<Expr>),
    /// `lo <= value < hi` (or `<= hi` when inclusive).
    InRange {
        /// The value tested.
        value: Box<Expr>,
        /// Lower bound, included.
        lo: Box<Expr>,
        /// Upper bound.
        hi: Box<Expr>,
        /// Whether `hi` is included.
        inclusive: bool,
    },
    /// `e is present`
    IsPresent(Box<Expr>),
    /// `a ?? b`
    Default(Box<Expr>, Box<Expr>),
    /// `if c then a else b`
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A list literal.
    List(Vec<Expr>),
    /// A set literal (duplicates dropped).
    Set(Vec<Expr>),
    /// A record value of the given type, fields in declaration order.
    Record(u32, Vec<Expr>),
    /// `any`, `all`, `count` over a list: the element is bound to `slot` in `body`.
    Quantify {
        /// Which.
        quantifier: Quantifier,
        /// The collection.
        list: Box<Expr>,
        /// The element's slot.
        slot: u32,
        /// The condition; `count(xs)` has none.
        body: Option<Box<Expr>>,
    },
    /// A built-in function.
    Intrinsic(Intrinsic, Vec<Expr>),
    /// Read signal `index` with these arguments.
    Signal(u32, Vec<Expr>),
}

/// A decision: candidate actions proposed for a context, each decided by every policy that
/// guards its action, ranked by their `rank by` value (highest first, ties in written order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionDef {
    /// Short name.
    pub name: String,
    /// Qualified name.
    pub qualified: String,
    /// Its parameters: the input, in slots `0..params.len()`.
    pub params: Vec<Param>,
    /// The slot of the decision time, if named (`at now`).
    pub now_slot: Option<u32>,
    /// How many slots a frame needs.
    pub slots: u32,
    /// The candidates, in written order.
    pub proposals: Vec<Proposal>,
}

/// One candidate of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// The proposed action's qualified name.
    pub action: String,
    /// Its arguments, one per action parameter.
    pub args: Vec<Expr>,
    /// `rank by`: an Int or Decimal; 0 if absent.
    pub rank: Option<Expr>,
    /// When the candidate is proposed at all.
    pub condition: Option<Expr>,
    /// Where it is written.
    pub source: SourceRef,
}

/// A test block, lowered: constant inputs and the expected outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    /// What it checks, in words.
    pub name: String,
    /// The policy asked (index into [`Program::policies`]); in the action form
    /// ([`TestCase::action`]), the first policy guarding the action.
    pub policy: u32,
    /// The action's arguments (constant expressions), one per policy parameter.
    pub args: Vec<Expr>,
    /// The decision time (ms since the epoch); [`TestCase::NO_TIME`] if not written.
    pub now: i64,
    /// What each named signal reads (others are absent).
    pub given: Vec<(u32, Expr)>,
    /// The expected verdict.
    pub expect: Verdict,
    /// The expected reasons, exactly (as a set), if written.
    pub reasons: Option<Vec<String>>,
    /// Where the `expect` is written.
    pub source: SourceRef,
    /// `None` for a test of one policy (`expect P(a(args)) == V`); the action's qualified name
    /// for a test of the action's verdict (`expect a(args) == V`), decided over every policy
    /// guarding it, as [`crate::interp::decide_action`] does (format version 3; the tests of
    /// older modules are all of one policy).
    pub action: Option<String>,
}

impl TestCase {
    /// [`TestCase::now`] of a test written without `at`: no time a literal can give. Tests
    /// never read the clock: a runner refuses such a test of a policy that reads the time
    /// ([`Policy::reads_time`]), and runs it at the epoch otherwise (its time cannot matter).
    /// Modules built before this was introduced have the epoch itself there.
    pub const NO_TIME: i64 = i64::MIN;
}

/// An agent: the MCP tools an AI agent may call, each bound to a declared action. A tool no
/// binding names is denied (no shadow orchestration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDef {
    /// Short name.
    pub name: String,
    /// Qualified name.
    pub qualified: String,
    /// Its tool bindings, in written order; tool names are unique.
    pub tools: Vec<ToolBinding>,
}

impl AgentDef {
    /// The binding of tool `name`.
    pub fn tool(&self, name: &str) -> Option<&ToolBinding> {
        self.tools.iter().find(|t| t.tool == name)
    }
}

/// `tool "crm.refund" -> refund(amount, reason)`: a call of the tool is an instance of the
/// action; the listed parameters take the call's arguments of the same name, the others come
/// from the caller's context (the gateway's session subject).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolBinding {
    /// The MCP tool's name.
    pub tool: String,
    /// The action's qualified name (what [`crate::interp::decide_action`] takes).
    pub action: String,
    /// The action's parameters, in order (an action's policies take the same ones).
    pub params: Vec<Param>,
    /// Which tool-call argument fills which parameter.
    pub arguments: Vec<ToolArgument>,
    /// Where the binding is written.
    pub source: SourceRef,
}

impl ToolBinding {
    /// The argument filling parameter `param` (an index into [`ToolBinding::params`]), if the
    /// tool call gives it.
    pub fn argument_for(&self, param: usize) -> Option<&str> {
        self.arguments
            .iter()
            .find(|a| a.param as usize == param)
            .map(|a| a.argument.as_str())
    }
}

/// One tool-call argument bound to an action parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolArgument {
    /// The argument's name in the tool call (`params.arguments` of `tools/call`).
    pub argument: String,
    /// The parameter it fills: an index into [`ToolBinding::params`].
    pub param: u32,
}

/// Builders of IR by hand, for tests of the engines (unit and integration tests): a program is
/// otherwise only made by lowering checked source.
pub mod build {
    use super::{ArithOp, CmpOp, Expr, Param, Policy, Program, Rule, SourceRef, Type, Verdict};
    #[cfg(test)]
    use crate::value::Value;
    #[cfg(test)]
    use std::sync::Arc;

    /// `e`, boxed.
    pub fn b(e: Expr) -> Box<Expr> {
        Box::new(e)
    }
    /// Slot `i` (a parameter, or a quantifier's element).
    pub fn slot(i: u32) -> Expr {
        Expr::Slot(i)
    }
    /// `a op c`.
    pub fn cmp(op: CmpOp, a: Expr, c: Expr) -> Expr {
        Expr::Cmp(op, b(a), b(c))
    }
    /// `a op c`.
    pub fn arith(op: ArithOp, a: Expr, c: Expr) -> Expr {
        Expr::Arith(op, b(a), b(c))
    }
    /// A Decimal from its text (panics on a bad one: tests only).
    #[cfg(test)]
    pub fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().expect("a decimal"))
    }
    /// A Money value from its amount's text and currency (panics on a bad one: tests only).
    #[cfg(test)]
    pub fn money(amount: &str, cur: &str) -> Value {
        Value::Money(amount.parse().expect("a decimal"), Arc::from(cur))
    }
    /// Rule `n` of policy `t.p` (its id `t.p#n`).
    pub fn rule(n: usize, verdict: Verdict, reason: &str, condition: Option<Expr>) -> Rule {
        Rule {
            id: format!("t.p#{n}"),
            verdict,
            reason: Some(reason.into()),
            condition,
            review: None,
            source: SourceRef::default(),
        }
    }
    /// A program of one policy `t.p` over parameters `a0, a1, …` of types `params`.
    pub fn program(params: Vec<Type>, rules: Vec<Rule>) -> Program {
        Program {
            policies: vec![Policy {
                name: "p".into(),
                qualified: "t.p".into(),
                action: "t.act".into(),
                slots: params.len() as u32,
                params: params
                    .into_iter()
                    .enumerate()
                    .map(|(i, ty)| Param {
                        name: format!("a{i}"),
                        ty,
                    })
                    .collect(),
                now_slot: None,
                rules,
            }],
            ..Program::default()
        }
    }
}

/// The item of `items` that `name` means: the one whose qualified name it is, else the only
/// one whose short name it is (`names` gives an item's short and qualified names). `Err` holds
/// the qualified names of the items of that short name: none, or several (ambiguous).
fn resolve_named<'p, T>(
    items: &'p [T],
    name: &str,
    names: impl Fn(&T) -> (&str, &str),
) -> Result<(usize, &'p T), Vec<&'p str>> {
    if let Some(found) = (items.iter().enumerate()).find(|(_, x)| names(x).1 == name) {
        return Ok(found);
    }
    let mut short = (items.iter().enumerate()).filter(|(_, x)| names(x).0 == name);
    match (short.next(), short.next()) {
        (Some(one), None) => Ok(one),
        _ => Err(items
            .iter()
            .filter(|x| names(x).0 == name)
            .map(|x| names(x).1)
            .collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::{Field, MAX_RECORD_DEPTH, Program, RecordType, Type, layout_size};

    /// Records `R0` … `R{n-1}`, each of two optional fields of the next, the last of one
    /// `Int`: `R0` lays out as 2^n paths to the last.
    fn shared(n: u32) -> Program {
        let field = |name: &str, ty: Type| Field {
            name: name.into(),
            ty,
            personal: false,
        };
        let mut p = Program::default();
        for i in 0..n {
            let next = || Type::Optional(Box::new(Type::Record(i + 1)));
            p.records.push(RecordType {
                name: format!("t.R{i}"),
                fields: vec![field("a", next()), field("b", next())],
            });
        }
        p.records.push(RecordType {
            name: format!("t.R{n}"),
            fields: vec![field("x", Type::Int)],
        });
        p
    }

    #[test]
    fn each_record_type_is_measured_once() {
        // Words: w(n) = 1, w(k) = 2 (1 + w(k + 1)). Measured path by path, R0 of 31 levels
        // would take 2^31 visits of the last record: minutes, not a moment.
        let n = MAX_RECORD_DEPTH - 1;
        let p = shared(n);
        let want = (0..n).fold(1usize, |w, _| 2 * (1 + w));
        assert_eq!(layout_size(&p, &Type::Record(0), 0), Ok(want));
        assert_eq!(layout_size(&p, &Type::Record(n), 0), Ok(1));
        // Its height counts: its last field is MAX_RECORD_DEPTH records deep, so at a depth of
        // one more it nests too deeply, as the JIT measured it.
        assert!(layout_size(&p, &Type::Record(0), 1).is_err());
        assert_eq!(
            layout_size(&p, &Type::Record(1), 1),
            layout_size(&p, &Type::Record(1), 0)
        );
        let deeper = shared(MAX_RECORD_DEPTH);
        assert!(layout_size(&deeper, &Type::Record(0), 0).is_err());
        // A record that holds itself, however deep, is refused, not looped over.
        let mut looped = shared(3);
        looped.records[3].fields[0].ty = Type::Optional(Box::new(Type::Record(1)));
        assert!(layout_size(&looped, &Type::Record(0), 0).is_err());
        // A record not in the program is refused.
        assert!(layout_size(&p, &Type::Record(999), 0).is_err());
    }

    /// The JIT's measure as it was, path by path: the reference for small programs.
    fn by_paths(p: &Program, ty: &Type, depth: u32) -> Option<usize> {
        if depth > MAX_RECORD_DEPTH {
            return None;
        }
        Some(match ty {
            Type::List(_) | Type::Set(_) | Type::Decimal => 2,
            Type::Money => 3,
            Type::Optional(inner) => 1 + by_paths(p, inner, depth)?,
            Type::Record(r) => {
                let mut n = 0;
                for f in &p.records.get(*r as usize)?.fields {
                    n += by_paths(p, &f.ty, depth + 1)?;
                }
                n
            }
            _ => 1,
        })
    }

    #[test]
    fn the_measure_is_the_one_path_by_path() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut seen = [0usize; 2];
        for _ in 0..300 {
            // Records whose fields name later records (none a loop), some deeper than allowed.
            let n = 2 + next(48) as u32;
            let mut p = Program::default();
            for i in 0..n {
                let fields = (0..1 + next(3))
                    .map(|j| {
                        // The first field mostly names the next record: long chains.
                        let pick = if j == 0 && next(5) != 0 { 4 } else { next(6) };
                        let ty = match pick {
                            0 => Type::Money,
                            1 => Type::List(Box::new(Type::Record(0))),
                            2 | 3 if i + 1 < n => {
                                Type::Record(i + 1 + next(u64::from(n - i - 1).min(2)) as u32)
                            }
                            4 if i + 1 < n => Type::Optional(Box::new(Type::Record(i + 1))),
                            _ => Type::Int,
                        };
                        Field {
                            name: format!("f{j}"),
                            ty,
                            personal: false,
                        }
                    })
                    .collect();
                p.records.push(RecordType {
                    name: format!("t.R{i}"),
                    fields,
                });
            }
            for r in 0..n {
                for depth in [0, 1, 5] {
                    let ty = Type::Record(r);
                    let want = by_paths(&p, &ty, depth);
                    assert_eq!(
                        layout_size(&p, &ty, depth).ok(),
                        want,
                        "R{r} at {depth} of {p:?}"
                    );
                    seen[usize::from(want.is_some())] += 1;
                }
            }
        }
        // Both nested too deeply and measured, many times.
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }
}
