//! Random well-typed programs: the policies of the differential test between the JIT and the
//! interpreter (`runtime/tests/generated_policies.rs`) and of the `generated` fuzz target.
//!
//! [`program`] builds, from a seed, a [`Program`] with record types (nested records, optional,
//! list and set fields, the consent, contact and SIM-swap shapes the intrinsics read), enums,
//! channels, purposes and roles, signals, and several policies. Each policy has typed
//! parameters (records most often), maybe a decision time slot, and 1 to 40 rules of random
//! verdicts (review rules with terms), reasons (shared across rules and verdicts, or absent) and
//! conditions built type-directed over every [`Expr`] variant and every [`Intrinsic`].
//!
//! Every expression is well-typed: on inputs of the parameters' types (what
//! [`crate::sample::Sampler`] generates) the interpreter never meets a value of the wrong kind
//! ([`is_type_error`] tells those errors apart). Run-time errors do happen, on purpose and not
//! too often: overflow-prone constants, division by an input that may be zero, absent optionals
//! where a value is needed, fields of absent records, mixed currencies.
//!
//! Biases, so that the comparison says something: conditions mostly compare input paths with
//! the constants that the sampler also draws from (it collects a program's constants), so that
//! a good share of rules fire; runs of rules guarded by `P == constant` on one path (what the
//! JIT compiles to a switch) are frequent; nesting is bounded. About half of the policies keep to
//! the JIT's scalar subset (see [`crate::jit`]), so that many compile; the others use the whole
//! IR, which the JIT refuses today and will compile as it grows.
//!
//! Deterministic: one seed, one program. The randomness is the sampler's own generator.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::ir::{
    ArithOp, CmpOp, EnumType, Expr, Field, Intrinsic, Param, Policy, Program, Quantifier,
    RecordType, Review, Rule, SignalDecl, SourceRef, Symbol, SymbolKind, Type, Verdict,
};
use crate::sample::Sampler;
use crate::value::Value;

/// The record types every generated program starts with, by index: the shapes that `consent`,
/// `contacts_within` / `contacts_on_within` and `swapped_within` read.
const CONSENT: u32 = 0;
const CONTACT: u32 = 1;
const SIM_SWAP: u32 = 2;

/// Texts of constants (and so of sampled inputs, since the sampler collects them).
/// "é" orders above "z" by code points (and "fr" + "" is "fr", "x" + "x" no constant).
const TEXTS: &[&str] = &["", "x", "gold", "fr", "vip", "é"];
/// Time zones (the sampler's own four, so that equality fires).
const ZONES: &[&str] = &["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"];
/// 2026-01-01T00:00:00Z, where the sampler's times are.
const YEAR_2026: i64 = 1_767_225_600_000;
const DAY_MS: i64 = 86_400_000;
/// Reasons, shared across the rules (and verdicts) of a policy.
const REASONS: &[&str] = &[
    "no-consent",
    "quiet-hours",
    "risk",
    "vip",
    "eligible",
    "shared",
];

/// Whether a policy keeps to what the JIT compiles today, or uses the whole IR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Scalar,
    Full,
}

/// A readable input path (a parameter, the time, a lambda variable, their fields), with its
/// type; `risky` when it goes through an optional record (reading it fails when absent).
#[derive(Debug, Clone)]
struct Path {
    expr: Expr,
    ty: Type,
    risky: bool,
}

/// A program generated from `seed`.
pub fn program(seed: u64) -> Program {
    let mut rng = Sampler::new(&Program::default(), seed);
    generate(&mut rng)
}

/// A program generated from `rng`'s next numbers (for callers that already hold a generator,
/// e.g. a fuzzer).
pub fn generate(rng: &mut Sampler) -> Program {
    let mut s = Synth {
        rng,
        p: Program::default(),
        scalar_record: Vec::new(),
        need: Vec::new(),
        mode: Mode::Full,
        paths: Vec::new(),
        next_slot: 0,
    };
    s.declarations();
    let n = 2 + s.below(5);
    for i in 0..n {
        let pol = s.policy(i);
        s.p.policies.push(pol);
    }
    s.p
}

/// Whether `message` (a failed decision's error) says that a value had the wrong kind: what a
/// well-typed program never does. Overflow, division by zero, a decimal result that cannot be
/// represented exactly, absent values where a value is needed, mixed currencies and times out
/// of range are legitimate run-time errors instead.
pub fn is_type_error(message: &str) -> bool {
    const LEGITIMATE: &[&str] = &[
        "overflows",
        "division by zero",
        "cannot be represented",
        "absent where a value is needed",
        "comparing an absent value",
        "negating an absent value",
        "of an absent value",
        "mixed currencies",
        "comparing money in",
        "outside the supported range of times",
    ];
    !LEGITIMATE.iter().any(|l| message.contains(l))
}

struct Synth<'r> {
    rng: &'r mut Sampler,
    p: Program,
    /// Per record type: whether the JIT's scalar subset reads all of its fields (recursively),
    /// so that records of it may be compared in a scalar policy.
    scalar_record: Vec<bool>,
    /// Per record type: how deeply the sampler nests to build one (it gives up past 8).
    need: Vec<u32>,
    /// The policy being generated: its mode, its readable paths, its next free frame slot.
    mode: Mode,
    paths: Vec<Path>,
    next_slot: u32,
}

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}

fn opt(t: Type) -> Type {
    Type::Optional(Box::new(t))
}

fn field(name: &str, ty: Type) -> Field {
    Field {
        name: name.into(),
        ty,
        personal: false,
    }
}

impl Synth<'_> {
    // ------------------------------------------------------------------ randomness

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.rng.next_u64() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.rng.next_u64() % 100 < percent
    }

    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }

    /// An index from `weights` (non-negative), with probability proportional to its weight.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total.max(1) as usize) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }

    // ------------------------------------------------------------------ declarations

    fn declarations(&mut self) {
        let sym = |kind, name: &str, ns: &str| Symbol {
            kind,
            name: name.into(),
            qualified: format!("gen.{ns}.{name}"),
        };
        let channels = ["sms", "email", "push", "voice"];
        for c in &channels[..2 + self.below(3)] {
            self.p.symbols.push(sym(SymbolKind::Channel, c, "channel"));
        }
        let purposes = ["marketing", "service", "fraud"];
        for c in &purposes[..1 + self.below(3)] {
            self.p.symbols.push(sym(SymbolKind::Purpose, c, "purpose"));
        }
        for c in &["agent", "supervisor"][..1 + self.below(2)] {
            self.p.symbols.push(sym(SymbolKind::Role, c, "role"));
        }
        for e in 0..1 + self.below(3) {
            let n = 2 + self.below(4);
            self.p.enums.push(EnumType {
                name: format!("gen.E{e}"),
                variants: (0..n).map(|v| format!("v{v}")).collect(),
            });
        }
        let (purpose, channel) = (
            Type::Symbol(SymbolKind::Purpose),
            Type::Symbol(SymbolKind::Channel),
        );
        self.push_record(
            "gen.Consent",
            vec![
                field("purpose", purpose),
                field("channel", channel.clone()),
                field("given_at", Type::Time),
                field("withdrawn_at", opt(Type::Time)),
            ],
        );
        self.push_record(
            "gen.Contact",
            vec![field("channel", channel), field("contacted_at", Type::Time)],
        );
        self.push_record(
            "gen.SimSwap",
            vec![
                field("swapped", Type::Bool),
                field("latest_swap", opt(Type::Time)),
                field("monitored_period", opt(Type::Duration)),
            ],
        );
        for r in 0..2 + self.below(3) {
            let n = 2 + self.below(6);
            let fields = (0..n)
                .map(|k| {
                    let (name, ty) = self.field_type(k);
                    field(&name, ty)
                })
                .collect();
            self.push_record(&format!("gen.R{r}"), fields);
        }
        for i in 0..1 + self.below(2) {
            let param = self.scalar_type();
            let ty = self.scalar_type();
            self.p.signals.push(SignalDecl {
                name: format!("gen.signal{i}"),
                params: vec![Param {
                    name: "x".into(),
                    ty: param,
                }],
                ty,
                source: "gen.source".into(),
                source_args: vec![Expr::Slot(0)],
                max_age_ms: None,
            });
        }
    }

    fn push_record(&mut self, name: &str, fields: Vec<Field>) {
        let scalar = fields.iter().all(|f| self.jit_reads(&f.ty));
        let need = 1 + fields.iter().map(|f| self.need(&f.ty)).max().unwrap_or(0);
        self.scalar_record.push(scalar);
        self.need.push(need);
        self.p.records.push(RecordType {
            name: name.into(),
            fields,
        });
    }

    /// How deeply the sampler nests to build a value of `ty`.
    fn need(&self, ty: &Type) -> u32 {
        match ty {
            Type::Record(r) => self.need[*r as usize],
            Type::Optional(t) | Type::List(t) | Type::Set(t) => 1 + self.need(t),
            _ => 0,
        }
    }

    /// Whether the JIT's scalar subset reads (and compares) values of `ty`.
    fn jit_reads(&self, ty: &Type) -> bool {
        match ty {
            Type::Decimal | Type::Money | Type::List(_) | Type::Set(_) => false,
            Type::Optional(t) => !matches!(**t, Type::Optional(_)) && self.jit_reads(t),
            Type::Record(r) => self.scalar_record[*r as usize],
            _ => true,
        }
    }

    /// A scalar type (no records, lists or optionals).
    fn scalar_type(&mut self) -> Type {
        let n = self.p.enums.len();
        match self.below(12) {
            0 | 1 => Type::Bool,
            2..=4 => Type::Int,
            5 => Type::Text,
            6 => Type::Id,
            7 => Type::Duration,
            8 => Type::Time,
            9 => Type::Enum(self.below(n) as u32),
            10 => Type::Symbol(self.pick(&[SymbolKind::Channel, SymbolKind::Purpose])),
            _ => Type::Tz,
        }
    }

    /// Field `k` of a new record type: its name and type (maybe an earlier record type, never
    /// one that would make the sampler nest too deeply).
    fn field_type(&mut self, k: usize) -> (String, Type) {
        let name = format!("f{k}");
        let records = self.p.records.len() as u32;
        let shallow: Vec<u32> = (0..records)
            .filter(|&r| self.need[r as usize] <= 4)
            .collect();
        let ty = match self.weighted(&[14, 2, 2, 3, 2, 2, 2, 2, 2, 1, 1]) {
            0 => self.scalar_type(),
            1 => Type::Decimal,
            2 => Type::Money,
            3 => opt(self.scalar_type()),
            4 if !shallow.is_empty() => Type::Record(self.pick(&shallow)),
            5 if !shallow.is_empty() => opt(Type::Record(self.pick(&shallow))),
            6 => Type::List(Box::new(self.scalar_type())),
            7 => Type::Set(Box::new(self.pick(&[Type::Int, Type::Text]))),
            8 => {
                return (
                    "consents".into(),
                    Type::List(Box::new(Type::Record(CONSENT))),
                );
            }
            9 => {
                return (
                    "contacts".into(),
                    Type::List(Box::new(Type::Record(CONTACT))),
                );
            }
            10 => return ("sim".into(), Type::Record(SIM_SWAP)),
            _ => Type::Int,
        };
        (name, ty)
    }

    /// A parameter's type: records most often.
    fn param_type(&mut self) -> Type {
        let records = self.p.records.len();
        match self.weighted(&[10, 5, 2, 1, 1]) {
            0 => Type::Record((records - 1 - self.below(records.min(4))) as u32),
            1 => self.scalar_type(),
            2 => opt(self.scalar_type()),
            3 => opt(Type::Record(self.below(records) as u32)),
            _ => Type::List(Box::new(self.pick(&[
                Type::Int,
                Type::Text,
                Type::Record(CONSENT),
                Type::Record((records - 1) as u32),
            ]))),
        }
    }

    // ------------------------------------------------------------------ policies

    fn policy(&mut self, index: usize) -> Policy {
        self.mode = if self.chance(50) {
            Mode::Scalar
        } else {
            Mode::Full
        };
        let params: Vec<Param> = (0..1 + self.below(4))
            .map(|k| Param {
                name: format!("a{k}"),
                ty: self.param_type(),
            })
            .collect();
        self.paths.clear();
        for (k, p) in params.iter().enumerate() {
            self.add_paths(Expr::Slot(k as u32), &p.ty, false, 0);
        }
        self.next_slot = params.len() as u32;
        let now_slot = self.chance(60).then(|| {
            let s = self.next_slot;
            self.next_slot += 1;
            self.paths.push(Path {
                expr: Expr::Slot(s),
                ty: Type::Time,
                risky: false,
            });
            s
        });
        let name = format!("p{index}");
        let qualified = format!("gen.{name}");
        let n_rules = if self.chance(50) {
            1 + self.below(10)
        } else {
            11 + self.below(30)
        };
        // Verdict weights per policy, so that some policies mostly allow and others deny.
        let weights = [
            1 + self.below(4) as u32,
            self.below(3) as u32,
            1 + self.below(4) as u32,
        ];
        let guard_share = self.pick(&[0, 10, 30, 60]);
        let mut conditions: Vec<Option<Expr>> = Vec::new();
        while conditions.len() < n_rules {
            if n_rules - conditions.len() >= 4
                && self.chance(guard_share)
                && let Some(run) = self.guard_run(n_rules - conditions.len())
            {
                conditions.extend(run.into_iter().map(Some));
                continue;
            }
            if self.chance(4) {
                conditions.push(None);
            } else {
                let depth = 1 + self.below(4) as u32;
                conditions.push(Some(self.cond(depth)));
            }
        }
        let rules = conditions
            .into_iter()
            .enumerate()
            .map(|(i, condition)| self.rule(&qualified, i, weights, condition))
            .collect();
        Policy {
            name,
            qualified,
            action: format!("gen.act{index}"),
            params,
            now_slot,
            slots: self.next_slot,
            rules,
        }
    }

    fn rule(&mut self, policy: &str, i: usize, weights: [u32; 3], condition: Option<Expr>) -> Rule {
        let verdict = [Verdict::Deny, Verdict::Review, Verdict::Allow][self.weighted(&weights)];
        let reason = (!self.chance(15)).then(|| self.pick(REASONS).to_string());
        let review = (verdict == Verdict::Review).then(|| {
            let roles: Vec<String> = (self.p.symbols.iter())
                .filter(|s| s.kind == SymbolKind::Role)
                .map(|s| s.name.clone())
                .collect();
            Review {
                role: self.pick(&roles),
                within_ms: self.pick(&[60_000, 900_000, DAY_MS]),
                fallback: self.pick(&[Verdict::Deny, Verdict::Allow]),
                also: Vec::new(),
            }
        });
        Rule {
            id: format!("{policy}#{}", i + 1),
            verdict,
            reason,
            condition,
            review,
            source: SourceRef {
                file: "generated.xop".into(),
                line: i as u32 + 1,
                column: 1,
                text: String::new(),
            },
        }
    }

    /// 4 to 8 rules (at most `room`) whose conditions start with `P == constant` on one
    /// always-present scalar path `P`: what the JIT compiles to a switch.
    fn guard_run(&mut self, room: usize) -> Option<Vec<Expr>> {
        let guardable: Vec<Path> = (self.paths.iter())
            .filter(|p| {
                !p.risky
                    && matches!(
                        p.ty,
                        Type::Int
                            | Type::Bool
                            | Type::Enum(_)
                            | Type::Symbol(_)
                            | Type::Text
                            | Type::Id
                            | Type::Tz
                            | Type::Duration
                    )
            })
            .cloned()
            .collect();
        if guardable.is_empty() {
            return None;
        }
        let path = self.pick(&guardable);
        let n = (4 + self.below(5)).min(room);
        let run = (0..n)
            .map(|_| {
                let k = self.guard_constant(&path.ty);
                let eq = if self.chance(80) {
                    Expr::Cmp(CmpOp::Eq, b(path.expr.clone()), b(k))
                } else {
                    Expr::Cmp(CmpOp::Eq, b(k), b(path.expr.clone()))
                };
                match self.below(4) {
                    0 | 1 => eq,
                    2 => Expr::And(b(eq), b(self.cond(2))),
                    _ => Expr::And(b(Expr::And(b(eq), b(self.cond(1)))), b(self.cond(1))),
                }
            })
            .collect();
        Some(run)
    }

    /// A constant for an equality guard: from a small set, so that cases repeat and match.
    fn guard_constant(&mut self, ty: &Type) -> Expr {
        match ty {
            Type::Int => Expr::Const(Value::Int(self.below(6) as i64 - 1)),
            Type::Duration => Expr::Const(Value::Duration(self.pick(&[0, 1, 60_000]))),
            _ => self.constant(ty),
        }
    }

    /// Records `e` of type `ty` and its fields (recursively) as readable paths.
    fn add_paths(&mut self, e: Expr, ty: &Type, risky: bool, depth: u32) {
        self.paths.push(Path {
            expr: e.clone(),
            ty: ty.clone(),
            risky,
        });
        if depth >= 4 {
            return;
        }
        let (r, risky) = match ty {
            Type::Record(r) => (*r, risky),
            Type::Optional(t) => match **t {
                Type::Record(r) => (r, true),
                _ => return,
            },
            _ => return,
        };
        let fields = self.p.records[r as usize].fields.clone();
        for (i, f) in fields.iter().enumerate() {
            self.add_paths(Expr::Field(b(e.clone()), i as u32), &f.ty, risky, depth + 1);
        }
    }

    /// A path of exactly type `ty`: through optional records now and then.
    fn path(&mut self, ty: &Type) -> Option<Expr> {
        let (safe, risky): (Vec<&Path>, Vec<&Path>) = (self.paths.iter())
            .filter(|p| p.ty == *ty)
            .partition(|p| !p.risky);
        let safe: Vec<Expr> = safe.into_iter().map(|p| p.expr.clone()).collect();
        let risky: Vec<Expr> = risky.into_iter().map(|p| p.expr.clone()).collect();
        if !risky.is_empty() && (safe.is_empty() || self.chance(8)) {
            return Some(self.pick(&risky));
        }
        (!safe.is_empty()).then(|| self.pick(&safe))
    }

    /// Whether expressions of type `ty` are generated in the current mode.
    fn allowed(&self, ty: &Type) -> bool {
        self.mode == Mode::Full || self.jit_reads(ty)
    }

    // ------------------------------------------------------------------ constants

    fn constant(&mut self, ty: &Type) -> Expr {
        Expr::Const(self.value(ty))
    }

    fn int_constant(&mut self) -> i64 {
        match self.weighted(&[14, 4, 2]) {
            0 => self.below(14) as i64 - 3,
            1 => self.pick(&[7, 42, 100, 1000]),
            _ => self.pick(&[i64::MAX, i64::MIN, i64::MAX / 2 + 1, -i64::MAX]),
        }
    }

    fn time_constant(&mut self) -> i64 {
        YEAR_2026 + self.below(365) as i64 * DAY_MS + self.below(24) as i64 * 3_600_000
    }

    fn value(&mut self, ty: &Type) -> Value {
        match ty {
            Type::Bool => Value::Bool(self.chance(50)),
            Type::Int => Value::Int(self.int_constant()),
            Type::Decimal => Value::Decimal(Decimal::new(self.int_constant() % 100_000, 2)),
            Type::Money => {
                let cur = if self.chance(8) { "USD" } else { "EUR" };
                Value::Money(
                    Decimal::new(self.int_constant() % 100_000, 2),
                    Arc::from(cur),
                )
            }
            Type::Text => Value::text(self.pick(TEXTS)),
            Type::Id => Value::Id(Arc::from(self.pick(TEXTS))),
            Type::Tz => Value::Tz(Arc::from(self.pick(ZONES))),
            Type::Duration => Value::Duration(match self.weighted(&[6, 2, 1]) {
                0 => self.pick(&[0, 1000, 60_000, 3_600_000, DAY_MS, 30 * DAY_MS]),
                1 => self.below(5) as i64 - 1,
                _ => self.pick(&[i64::MAX, i64::MIN, -DAY_MS]),
            }),
            Type::Time => Value::Time(self.time_constant()),
            Type::Symbol(kind) => {
                let of_kind: Vec<u32> = (0..self.p.symbols.len() as u32)
                    .filter(|&i| self.p.symbols[i as usize].kind == *kind)
                    .collect();
                Value::Symbol(self.pick(&of_kind))
            }
            Type::Enum(e) => {
                let n = self.p.enums[*e as usize].variants.len();
                Value::Enum(*e, self.below(n) as u32)
            }
            Type::Optional(t) => {
                if self.chance(25) {
                    Value::Absent
                } else {
                    self.value(t)
                }
            }
            Type::Record(r) => {
                let fields = self.p.records[*r as usize].fields.clone();
                let values: Vec<Value> = fields.iter().map(|f| self.value(&f.ty)).collect();
                Value::Record(*r, Arc::from(values))
            }
            Type::List(t) | Type::Set(t) => {
                let mut xs: Vec<Value> = (0..self.below(4)).map(|_| self.value(t)).collect();
                if matches!(ty, Type::Set(_)) {
                    xs.sort();
                    xs.dedup();
                }
                Value::List(Arc::from(xs))
            }
        }
    }

    // ------------------------------------------------------------------ expressions

    /// An expression whose value is of type `ty` (absent allowed only for an optional).
    fn expr(&mut self, ty: &Type, depth: u32) -> Expr {
        match ty {
            Type::Bool => self.cond(depth),
            Type::Optional(inner) => self.optional(inner, depth),
            _ => self.value_expr(ty, depth),
        }
    }

    /// A path or a constant of type `ty`.
    fn leaf(&mut self, ty: &Type) -> Expr {
        // The JIT's subset has no record constants: a scalar policy reads records only.
        let must = !self.constant_ok(ty);
        if must || self.chance(65) {
            if let Some(p) = self.path(ty) {
                return p;
            }
            if !must && let Some(p) = self.path(&opt(ty.clone())) {
                return Expr::Default(b(p), b(self.constant(ty)));
            }
        }
        self.constant(ty)
    }

    fn has_path(&self, ty: &Type) -> bool {
        self.paths.iter().any(|p| p.ty == *ty)
    }

    /// An operand where absent is a legitimate run-time error (arithmetic, ordering, unary
    /// minus): now and then an optional input path.
    fn operand(&mut self, ty: &Type, depth: u32) -> Expr {
        if self.chance(6)
            && let Some(p) = self.path(&opt(ty.clone()))
        {
            return p;
        }
        self.expr(ty, depth)
    }

    /// An optional operand of an ordering: an input path (the JIT refuses to order a value that
    /// is always absent, such as the constant; the interpreter fails on it every time anyway).
    fn optional_operand(&mut self, base: &Type, depth: u32) -> Expr {
        match self.path(&opt(base.clone())) {
            Some(p) => p,
            None => self.expr(base, depth),
        }
    }

    /// An Int operand on the right of arithmetic: mostly a small constant.
    fn small_int(&mut self, depth: u32) -> Expr {
        if self.chance(60) {
            Expr::Const(Value::Int(self.pick(&[1, 2, 3, -1, 10, 0])))
        } else {
            self.operand(&Type::Int, depth)
        }
    }

    /// An Int argument of an intrinsic (never absent: an intrinsic given absent reports a value
    /// of the wrong kind).
    fn int_argument(&mut self, depth: u32) -> Expr {
        if self.chance(60) {
            Expr::Const(Value::Int(self.pick(&[1, 2, 24, -1, 0, i64::MAX / 1000])))
        } else {
            self.expr(&Type::Int, depth)
        }
    }

    fn arith(&mut self, op: ArithOp, a: Expr, c: Expr) -> Expr {
        Expr::Arith(op, b(a), b(c))
    }

    fn value_expr(&mut self, ty: &Type, depth: u32) -> Expr {
        if depth == 0 || self.chance(40) {
            return self.leaf(ty);
        }
        let d = depth - 1;
        match self.below(10) {
            0 => return Expr::If(b(self.cond(d)), b(self.expr(ty, d)), b(self.expr(ty, d))),
            1 => {
                return Expr::Default(b(self.optional(ty, d)), b(self.expr(ty, d)));
            }
            2 => {
                if let Some(e) = self.computed_field(ty, d) {
                    return e;
                }
            }
            _ => {}
        }
        let full = self.mode == Mode::Full;
        use ArithOp::{Add, Div, Mul, Rem, Sub};
        match ty {
            Type::Int => match self.weighted(&[6, 1, u32::from(full) * 2, u32::from(full) * 2]) {
                0 => {
                    let op = self.pick(&[Add, Sub, Mul, Div, Rem]);
                    let x = self.operand(ty, d);
                    let y = self.small_int(d);
                    self.arith(op, x, y)
                }
                1 => Expr::Neg(b(self.operand(ty, d))),
                2 => self.quantify(Quantifier::Count, d),
                _ => self.int_intrinsic(d),
            },
            Type::Decimal => match self.below(3) {
                0 => Expr::Neg(b(self.operand(ty, d))),
                _ => {
                    let op = self.pick(&[Add, Sub, Mul, Div]);
                    let x = self.operand(ty, d);
                    let y = self.operand(ty, d);
                    self.arith(op, x, y)
                }
            },
            Type::Money => match self.below(4) {
                0 => Expr::Neg(b(self.operand(ty, d))),
                1 => {
                    let op = self.pick(&[Add, Sub]);
                    let x = self.operand(ty, d);
                    let y = self.operand(ty, d);
                    self.arith(op, x, y)
                }
                _ => {
                    let op = self.pick(&[Mul, Div]);
                    let x = self.operand(ty, d);
                    let by = if self.chance(50) {
                        Type::Int
                    } else {
                        Type::Decimal
                    };
                    let y = self.operand(&by, d);
                    self.arith(op, x, y)
                }
            },
            Type::Duration => match self.weighted(&[3, 3, 1, 2, 1, u32::from(full) * 2]) {
                0 => {
                    let op = self.pick(&[Add, Sub]);
                    let x = self.operand(ty, d);
                    let y = self.operand(ty, d);
                    self.arith(op, x, y)
                }
                1 => {
                    let op = self.pick(&[Mul, Div]);
                    let x = self.operand(ty, d);
                    let y = self.small_int(d);
                    self.arith(op, x, y)
                }
                2 => {
                    let x = self.small_int(d);
                    let y = self.operand(ty, d);
                    self.arith(Mul, x, y)
                }
                3 => {
                    let x = self.operand(&Type::Time, d);
                    let y = self.operand(&Type::Time, d);
                    self.arith(Sub, x, y)
                }
                4 => Expr::Neg(b(self.operand(ty, d))),
                _ => {
                    let which = self.pick(&[Intrinsic::Hours, Intrinsic::Minutes, Intrinsic::Days]);
                    Expr::Intrinsic(which, vec![self.int_argument(d)])
                }
            },
            Type::Time => {
                let x = self.operand(ty, d);
                let y = self.operand(&Type::Duration, d);
                match self.below(3) {
                    0 => self.arith(Add, x, y),
                    1 => self.arith(Sub, x, y),
                    _ => self.arith(Add, y, x),
                }
            }
            // In both modes: the JIT concatenates texts.
            Type::Text => {
                let x = self.expr(ty, d);
                let y = self.expr(ty, d);
                self.arith(Add, x, y)
            }
            Type::Record(r) if full => {
                let fields = self.p.records[*r as usize].fields.clone();
                let values = fields.iter().map(|f| self.expr(&f.ty, d)).collect();
                Expr::Record(*r, values)
            }
            Type::List(t) | Type::Set(t) if full => {
                let items = (0..self.below(4)).map(|_| self.expr(t, d)).collect();
                if matches!(ty, Type::Set(_)) {
                    Expr::Set(items)
                } else {
                    Expr::List(items)
                }
            }
            _ => self.leaf(ty),
        }
    }

    /// A field of type `ty` of a computed record (`(if c then a else b).f`, `(x ?? y).f`), not
    /// only of an input path; `None` if no record type has such a field (or, in a scalar
    /// policy, none of them is readable here).
    fn computed_field(&mut self, ty: &Type, depth: u32) -> Option<Expr> {
        let mut fields: Vec<(u32, u32)> = Vec::new();
        for (r, rt) in self.p.records.iter().enumerate() {
            let record = Type::Record(r as u32);
            if self.mode == Mode::Scalar && !(self.jit_reads(&record) && self.has_path(&record)) {
                continue;
            }
            for (i, f) in rt.fields.iter().enumerate() {
                if f.ty == *ty {
                    fields.push((r as u32, i as u32));
                }
            }
        }
        if fields.is_empty() {
            return None;
        }
        let (r, i) = self.pick(&fields);
        let record = self.value_expr(&Type::Record(r), depth);
        Some(Expr::Field(b(record), i))
    }

    /// An expression of type `inner?`.
    fn optional(&mut self, inner: &Type, depth: u32) -> Expr {
        let ty = opt(inner.clone());
        let signals: Vec<u32> = (0..self.p.signals.len() as u32)
            .filter(|&i| self.p.signals[i as usize].ty == *inner)
            .collect();
        let full = self.mode == Mode::Full;
        let d = depth.saturating_sub(1);
        // A scalar policy builds no record constants: absent, or a path, or a choice of them.
        let present = self.constant_ok(inner) || self.has_path(inner);
        match self.weighted(&[
            2,
            8,
            3 * u32::from(present),
            u32::from(depth > 0),
            u32::from(depth > 0),
            u32::from(full && !signals.is_empty()) * 2,
        ]) {
            0 => Expr::Const(Value::Absent),
            1 => match self.path(&ty) {
                Some(p) => p,
                None if present => self.expr(inner, d),
                None => Expr::Const(Value::Absent),
            },
            2 => self.expr(inner, d),
            3 => Expr::If(
                b(self.cond(d)),
                b(self.optional(inner, d)),
                b(self.optional(inner, d)),
            ),
            4 => Expr::Default(b(self.optional(inner, d)), b(self.optional(inner, d))),
            _ => {
                let s = self.pick(&signals);
                let param = self.p.signals[s as usize].params[0].ty.clone();
                Expr::Signal(s, vec![self.expr(&param, d)])
            }
        }
    }

    /// A Bool condition, nested at most `depth` levels (plus its operands' leaves).
    fn cond(&mut self, depth: u32) -> Expr {
        if depth == 0 {
            return self.atom();
        }
        let d = depth - 1;
        let full = u32::from(self.mode == Mode::Full);
        match self.weighted(&[1, 3, 3, 6, 2, 1, 1, 1, 1, full * 2, full * 2, 1]) {
            0 => Expr::Not(b(self.cond(d))),
            1 => Expr::And(b(self.cond(d)), b(self.cond(d))),
            2 => Expr::Or(b(self.cond(d)), b(self.cond(d))),
            3 => self.compare(d),
            4 => self.member(d),
            5 => self.range(d),
            6 => Expr::IsPresent(b(self.some_optional(d))),
            7 => Expr::If(b(self.cond(d)), b(self.cond(d)), b(self.cond(d))),
            8 => Expr::Default(b(self.optional(&Type::Bool, d)), b(self.cond(d))),
            9 => {
                let q = self.pick(&[Quantifier::Any, Quantifier::All]);
                self.quantify(q, d)
            }
            10 => self.bool_intrinsic(d),
            _ => self.leaf(&Type::Bool),
        }
    }

    /// A condition without nesting: a comparison with a constant, a Bool input, a presence test.
    fn atom(&mut self) -> Expr {
        match self.weighted(&[8, 2, 2, 1]) {
            0 => self.compare(0),
            1 => self.leaf(&Type::Bool),
            2 => Expr::IsPresent(b(self.some_optional(0))),
            _ => Expr::Const(Value::Bool(self.chance(70))),
        }
    }

    /// An optional input path, or an optional expression of some type.
    fn some_optional(&mut self, depth: u32) -> Expr {
        let optionals: Vec<Type> = (self.paths.iter())
            .filter(|p| matches!(p.ty, Type::Optional(_)) && !p.risky)
            .map(|p| p.ty.clone())
            .filter(|t| self.allowed(t))
            .collect();
        if !optionals.is_empty() && self.chance(80) {
            let ty = self.pick(&optionals);
            return self.expr(&ty, depth);
        }
        let ty = self.scalar_type();
        self.optional(&ty, depth)
    }

    /// A type to compare: the type of an input path most of the time (so that the comparison
    /// depends on the input), else a scalar type.
    fn comparable(&mut self) -> Type {
        let readable: Vec<(Type, bool)> = (self.paths.iter())
            .filter(|p| self.allowed(&p.ty))
            .map(|p| (p.ty.clone(), p.risky))
            .collect();
        let readable: Vec<Type> = readable
            .into_iter()
            .filter(|(_, risky)| !risky || self.chance(10))
            .map(|(t, _)| t)
            .collect();
        if !readable.is_empty() && self.chance(85) {
            self.pick(&readable)
        } else {
            let t = self.scalar_type();
            if self.mode == Mode::Full && self.chance(20) {
                self.pick(&[Type::Decimal, Type::Money, t])
            } else {
                t
            }
        }
    }

    fn ordered(&self, ty: &Type) -> bool {
        match ty {
            // Text too: the JIT orders texts (through the host).
            Type::Int | Type::Duration | Type::Time | Type::Text => true,
            Type::Decimal | Type::Money => self.mode == Mode::Full,
            _ => false,
        }
    }

    fn compare(&mut self, depth: u32) -> Expr {
        let ty = self.comparable();
        let (base, optional) = match &ty {
            Type::Optional(t) => ((**t).clone(), true),
            t => (t.clone(), false),
        };
        if self.ordered(&base) && self.chance(55) {
            let op = self.pick(&[CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge]);
            // Ordering an optional fails when it is absent: mostly default it first.
            let x = if optional && self.chance(80) {
                Expr::Default(b(self.expr(&ty, depth)), b(self.constant(&base)))
            } else if optional {
                self.optional_operand(&base, depth)
            } else {
                self.operand(&base, depth)
            };
            let y = if self.chance(75) {
                self.constant(&base)
            } else {
                self.operand(&base, depth)
            };
            return if self.chance(80) {
                Expr::Cmp(op, b(x), b(y))
            } else {
                Expr::Cmp(op, b(y), b(x))
            };
        }
        let op = if self.chance(75) {
            CmpOp::Eq
        } else {
            CmpOp::Ne
        };
        let x = self.expr(&ty, depth);
        let y = if self.chance(75) && self.constant_ok(&base) {
            self.constant(&ty)
        } else {
            self.expr(&ty, depth)
        };
        Expr::Cmp(op, b(x), b(y))
    }

    /// Whether a constant of `ty` may be generated in the current mode (the JIT has no record
    /// or list constants).
    fn constant_ok(&self, ty: &Type) -> bool {
        self.mode == Mode::Full || !matches!(ty, Type::Record(_) | Type::List(_) | Type::Set(_))
    }

    /// `x in [k1, k2, …]`, `x in {…}`, `x in xs`.
    fn member(&mut self, depth: u32) -> Expr {
        let ty = self.comparable();
        let base = match &ty {
            Type::Optional(t) => (**t).clone(),
            t => t.clone(),
        };
        if !self.constant_ok(&base) || matches!(base, Type::Decimal | Type::Money) {
            return self.compare(depth);
        }
        let x = self.expr(&ty, depth);
        let lists: Vec<Expr> = (self.paths.iter())
            .filter(|p| !p.risky && matches!(&p.ty, Type::List(t) | Type::Set(t) if **t == base))
            .map(|p| p.expr.clone())
            .collect();
        let xs = match self.weighted(&[5, 2, 1, u32::from(self.mode == Mode::Full) * 3]) {
            0 | 1 => {
                let items = (0..1 + self.below(4))
                    .map(|_| {
                        if self.chance(85) {
                            self.constant(&base)
                        } else {
                            self.expr(&base, depth)
                        }
                    })
                    .collect();
                if self.chance(70) {
                    Expr::List(items)
                } else {
                    Expr::Set(items)
                }
            }
            2 => {
                let mut vs: Vec<Value> =
                    (0..1 + self.below(4)).map(|_| self.value(&base)).collect();
                vs.sort();
                vs.dedup();
                Expr::Const(Value::List(Arc::from(vs)))
            }
            _ if !lists.is_empty() => self.pick(&lists),
            _ => self.expr(&Type::List(Box::new(base)), depth),
        };
        Expr::In(b(x), b(xs))
    }

    /// `lo <= x < hi` or `lo <= x <= hi` on an ordered type.
    fn range(&mut self, depth: u32) -> Expr {
        let ty = self.comparable();
        let base = match &ty {
            Type::Optional(t) => (**t).clone(),
            t => t.clone(),
        };
        if !self.ordered(&base) {
            return self.compare(depth);
        }
        let value = if ty != base && self.chance(80) {
            Expr::Default(b(self.expr(&ty, depth)), b(self.constant(&base)))
        } else if ty != base {
            self.optional_operand(&base, depth)
        } else {
            self.operand(&base, depth)
        };
        let (lo, hi) = match base {
            Type::Int => {
                let lo = self.int_constant().clamp(-1000, 1000);
                (
                    Expr::Const(Value::Int(lo)),
                    Expr::Const(Value::Int(lo + self.below(12) as i64)),
                )
            }
            Type::Time => {
                let lo = self.time_constant();
                (
                    Expr::Const(Value::Time(lo)),
                    Expr::Const(Value::Time(lo + self.below(200) as i64 * DAY_MS)),
                )
            }
            _ => {
                let (x, y) = (self.value(&base), self.value(&base));
                let (x, y) = if x <= y { (x, y) } else { (y, x) };
                (Expr::Const(x), Expr::Const(y))
            }
        };
        // Now and then a bound is computed, not constant.
        let lo = if self.chance(15) {
            self.operand(&base, depth)
        } else {
            lo
        };
        Expr::InRange {
            value: b(value),
            lo: b(lo),
            hi: b(hi),
            inclusive: self.chance(50),
        }
    }

    /// `any`, `all` or `count` over a list, the element bound to a fresh slot in the body.
    fn quantify(&mut self, quantifier: Quantifier, depth: u32) -> Expr {
        let lists: Vec<(Expr, Type)> = (self.paths.iter())
            .filter(|p| !p.risky)
            .filter_map(|p| match &p.ty {
                Type::List(t) | Type::Set(t) => Some((p.expr.clone(), (**t).clone())),
                _ => None,
            })
            .collect();
        let (list, elem) = if !lists.is_empty() && self.chance(85) {
            self.pick(&lists)
        } else {
            let t = self.scalar_type();
            (self.expr(&Type::List(Box::new(t.clone())), depth), t)
        };
        // A fresh slot per quantifier, as the compiler allocates them (in the frame even when
        // `count(xs)` has no body to bind it in).
        let slot = self.next_slot;
        self.next_slot += 1;
        if quantifier == Quantifier::Count && self.chance(25) {
            return Expr::Quantify {
                quantifier,
                list: b(list),
                slot,
                body: None,
            };
        }
        let mark = self.paths.len();
        self.add_paths(Expr::Slot(slot), &elem, false, 0);
        // The body mostly reads the element.
        let body = if self.chance(80) {
            let saved: Vec<Path> = self.paths.drain(..mark).collect();
            let c = self.cond(depth.min(2));
            let mut paths = saved;
            paths.append(&mut self.paths);
            self.paths = paths;
            c
        } else {
            self.cond(depth.min(2))
        };
        self.paths.truncate(mark);
        Expr::Quantify {
            quantifier,
            list: b(list),
            slot,
            body: Some(b(body)),
        }
    }

    /// The subjects' lists of record `r`'s type (consents, contacts) readable here, or a
    /// literal one.
    fn list_of(&mut self, r: u32, depth: u32) -> Expr {
        let ty = Type::List(Box::new(Type::Record(r)));
        match self.path(&ty) {
            Some(p) if self.chance(85) => p,
            _ => self.expr(&ty, depth),
        }
    }

    fn bool_intrinsic(&mut self, depth: u32) -> Expr {
        if self.chance(60) {
            let consents = self.list_of(CONSENT, depth);
            let purpose = self.leaf(&Type::Symbol(SymbolKind::Purpose));
            let channel = self.leaf(&Type::Symbol(SymbolKind::Channel));
            Expr::Intrinsic(Intrinsic::Consent, vec![consents, purpose, channel])
        } else {
            let sim = self.expr(&Type::Record(SIM_SWAP), depth);
            let window = self.expr(&Type::Duration, depth);
            Expr::Intrinsic(Intrinsic::SwappedWithin, vec![sim, window])
        }
    }

    fn int_intrinsic(&mut self, depth: u32) -> Expr {
        match self.below(3) {
            0 => {
                let which = self.pick(&[Intrinsic::LocalHour, Intrinsic::DayOfWeek]);
                let t = self.expr(&Type::Time, depth);
                let tz = self.leaf(&Type::Tz);
                Expr::Intrinsic(which, vec![t, tz])
            }
            1 => {
                let contacts = self.list_of(CONTACT, depth);
                let window = self.expr(&Type::Duration, depth);
                Expr::Intrinsic(Intrinsic::ContactsWithin, vec![contacts, window])
            }
            _ => {
                let contacts = self.list_of(CONTACT, depth);
                let channel = self.leaf(&Type::Symbol(SymbolKind::Channel));
                let window = self.expr(&Type::Duration, depth);
                Expr::Intrinsic(Intrinsic::ContactsOnWithin, vec![contacts, channel, window])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::interp::{self, BAD_INPUT, NoSignals, RUNTIME_ERROR};

    /// The name of an expression's variant, and of its children's (for coverage).
    fn variants(e: &Expr, out: &mut HashSet<String>) {
        let name = format!("{e:?}");
        let name = name.split(['(', ' ', '{']).next().unwrap_or("").to_string();
        out.insert(name);
        let kids: Vec<&Expr> = match e {
            Expr::Const(_) | Expr::Slot(_) => vec![],
            Expr::Field(x, _) | Expr::Not(x) | Expr::Neg(x) | Expr::IsPresent(x) => vec![&**x],
            Expr::And(x, y)
            | Expr::Or(x, y)
            | Expr::Cmp(_, x, y)
            | Expr::Arith(_, x, y)
            | Expr::In(x, y)
            | Expr::Default(x, y) => vec![&**x, &**y],
            Expr::InRange { value, lo, hi, .. } => vec![&**value, &**lo, &**hi],
            Expr::If(x, y, z) => vec![&**x, &**y, &**z],
            Expr::List(xs) | Expr::Set(xs) | Expr::Record(_, xs) | Expr::Signal(_, xs) => {
                xs.iter().collect()
            }
            Expr::Intrinsic(which, xs) => {
                out.insert(format!("{which:?}"));
                xs.iter().collect()
            }
            Expr::Quantify {
                quantifier,
                list,
                body,
                ..
            } => {
                out.insert(format!("{quantifier:?}"));
                let mut kids = vec![&**list];
                kids.extend(body.as_deref());
                kids
            }
        };
        for k in kids {
            variants(k, out);
        }
    }

    #[test]
    fn one_seed_one_program() {
        assert_eq!(program(7), program(7));
        assert_ne!(program(7), program(8));
    }

    #[test]
    fn generated_programs_are_well_typed() {
        let mut decisions = 0;
        let mut runtime_errors = 0;
        for seed in 0..150 {
            let p = program(seed);
            for (i, pol) in p.policies.iter().enumerate() {
                assert!((1..=40).contains(&pol.rules.len()), "seed {seed}");
                let mut sampler = Sampler::new(&p, seed);
                for _ in 0..25 {
                    let args = sampler
                        .args(&p, i)
                        .unwrap_or_else(|| panic!("seed {seed}: no input for policy {i}"));
                    for (param, arg) in pol.params.iter().zip(&args) {
                        if let Err(e) = interp::check_value(&p, &param.ty, arg) {
                            panic!("seed {seed}, policy {i}: sampled input refused: {e}");
                        }
                    }
                    let now = YEAR_2026 + (sampler.next_u64() % (365 * DAY_MS as u64)) as i64;
                    let d = interp::decide(&p, i, &args, now, &NoSignals);
                    decisions += 1;
                    assert_ne!(d.reasons, [BAD_INPUT], "seed {seed}, policy {i}: {d:?}");
                    if d.reasons == [RUNTIME_ERROR] {
                        runtime_errors += 1;
                        let e = d.error.as_deref().unwrap_or("");
                        assert!(
                            !is_type_error(e),
                            "seed {seed}, policy {i}: a type error: {e}\n{pol:#?}\n{args:?}"
                        );
                    }
                }
            }
        }
        // Errors happen, but most decisions are not errors.
        assert!(runtime_errors > 0, "no run-time error in {decisions}");
        assert!(
            runtime_errors * 3 < decisions,
            "{runtime_errors} errors in {decisions} decisions"
        );
    }

    #[test]
    fn every_variant_and_intrinsic_is_generated() {
        let mut seen = HashSet::new();
        for seed in 0..100 {
            for pol in program(seed).policies {
                for r in &pol.rules {
                    if let Some(c) = &r.condition {
                        variants(c, &mut seen);
                    }
                }
            }
        }
        let expected = [
            "Const",
            "Slot",
            "Field",
            "Not",
            "Neg",
            "And",
            "Or",
            "Cmp",
            "Arith",
            "In",
            "InRange",
            "IsPresent",
            "Default",
            "If",
            "List",
            "Set",
            "Record",
            "Quantify",
            "Intrinsic",
            "Signal",
            "Any",
            "All",
            "Count",
            "Consent",
            "LocalHour",
            "DayOfWeek",
            "Hours",
            "Minutes",
            "Days",
            "ContactsWithin",
            "ContactsOnWithin",
            "SwappedWithin",
        ];
        let missing: Vec<&str> = expected
            .into_iter()
            .filter(|v| !seen.contains(*v))
            .collect();
        assert!(missing.is_empty(), "never generated: {missing:?}");
    }

    #[test]
    fn type_errors_are_told_apart_from_runtime_errors() {
        let p = program(1);
        let c = |v: Value| b(Expr::Const(v));
        let err = |e: Expr| interp::eval(&p, &e, &mut [], 0, &NoSignals).expect_err("an error");
        let type_errors = [
            Expr::Not(c(Value::Int(1))),
            Expr::Arith(ArithOp::Add, c(Value::Int(1)), c(Value::Bool(true))),
            Expr::Cmp(CmpOp::Lt, c(Value::Bool(true)), c(Value::Bool(false))),
            Expr::Neg(c(Value::text("a"))),
            Expr::Field(c(Value::Int(1)), 0),
            Expr::In(c(Value::Int(1)), c(Value::Int(1))),
            Expr::Intrinsic(Intrinsic::Hours, vec![Expr::Const(Value::text("a"))]),
            Expr::Slot(3),
        ];
        for e in type_errors {
            let m = err(e);
            assert!(is_type_error(&m), "{m}");
        }
        let runtime_errors = [
            Expr::Arith(ArithOp::Mul, c(Value::Int(i64::MAX)), c(Value::Int(2))),
            Expr::Arith(ArithOp::Rem, c(Value::Int(1)), c(Value::Int(0))),
            Expr::Arith(
                ArithOp::Mul,
                c(Value::Decimal(Decimal::new(1, 16))),
                c(Value::Decimal(Decimal::new(1, 16))),
            ),
            Expr::Arith(
                ArithOp::Div,
                c(Value::Decimal(Decimal::new(1, 28))),
                c(Value::Decimal(Decimal::TWO)),
            ),
            Expr::Arith(ArithOp::Add, c(Value::Absent), c(Value::Int(2))),
            Expr::Cmp(CmpOp::Lt, c(Value::Absent), c(Value::Int(2))),
            Expr::Neg(c(Value::Absent)),
            Expr::Field(c(Value::Absent), 0),
            Expr::Arith(
                ArithOp::Add,
                c(Value::Money(Decimal::ONE, Arc::from("EUR"))),
                c(Value::Money(Decimal::ONE, Arc::from("USD"))),
            ),
            Expr::Intrinsic(Intrinsic::Days, vec![Expr::Const(Value::Int(i64::MAX))]),
            Expr::Intrinsic(
                Intrinsic::LocalHour,
                vec![
                    Expr::Const(Value::Time(i64::MAX)),
                    Expr::Const(Value::Tz(Arc::from("UTC"))),
                ],
            ),
        ];
        for e in runtime_errors {
            let m = err(e);
            assert!(!is_type_error(&m), "{m}");
        }
    }
}
