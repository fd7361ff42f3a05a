//! Differential tests: the JIT must give exactly the interpreter's decision (verdict, reasons,
//! fired rules, review terms, error message) on many generated inputs.

use std::collections::HashMap;
use std::sync::Arc;

use xop_runtime::interp::{self, Decision, NoSignals, RUNTIME_ERROR};
use xop_runtime::ir::{
    ArithOp, CmpOp, DecisionDef, EnumType, Expr, Field, Intrinsic, Param, Policy, Program,
    Proposal, Quantifier, RecordType, Review, Rule, SourceRef, Symbol, SymbolKind, Type, Verdict,
};
use xop_runtime::jit;
use xop_runtime::value::Value;

// ---------------------------------------------------------------- a deterministic PRNG

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    /// An integer biased towards small values and the edges of `i64`.
    fn int(&mut self) -> i64 {
        match self.below(10) {
            0 => *self.pick(&[
                i64::MIN,
                i64::MIN + 1,
                i64::MAX,
                i64::MAX - 1,
                0,
                1,
                -1,
                i64::MAX / 2,
                i64::MIN / 2,
                i64::MAX / 3 + 1,
            ]),
            1 => self.next() as i64,
            2..=5 => self.below(41) as i64 - 20,
            _ => self.below(4001) as i64 - 2000,
        }
    }
}

// ---------------------------------------------------------------- building programs

fn b(e: Expr) -> Box<Expr> {
    Box::new(e)
}
fn slot(i: u32) -> Expr {
    Expr::Slot(i)
}
fn int(n: i64) -> Expr {
    Expr::Const(Value::Int(n))
}
fn dur(n: i64) -> Expr {
    Expr::Const(Value::Duration(n))
}
fn text(s: &str) -> Expr {
    Expr::Const(Value::text(s))
}
fn cmp(op: CmpOp, a: Expr, c: Expr) -> Expr {
    Expr::Cmp(op, b(a), b(c))
}
fn ar(op: ArithOp, a: Expr, c: Expr) -> Expr {
    Expr::Arith(op, b(a), b(c))
}
fn field(e: Expr, i: u32) -> Expr {
    Expr::Field(b(e), i)
}
fn and(a: Expr, c: Expr) -> Expr {
    Expr::And(b(a), b(c))
}
fn or(a: Expr, c: Expr) -> Expr {
    Expr::Or(b(a), b(c))
}
fn not(a: Expr) -> Expr {
    Expr::Not(b(a))
}
fn param(name: &str, ty: Type) -> Param {
    Param {
        name: name.into(),
        ty,
    }
}
fn opt(t: Type) -> Type {
    Type::Optional(Box::new(t))
}

type RuleSpec = (Verdict, &'static str, Option<Expr>);

fn policy(name: &str, params: Vec<Param>, now_slot: Option<u32>, rules: Vec<RuleSpec>) -> Policy {
    let slots = params.len() as u32 + 2;
    Policy {
        name: name.into(),
        qualified: format!("acme.{name}"),
        action: "acme.act".into(),
        params,
        now_slot,
        slots,
        rules: rules
            .into_iter()
            .enumerate()
            .map(|(i, (verdict, reason, condition))| Rule {
                id: format!("acme.{name}#{i}"),
                verdict,
                reason: (!reason.is_empty()).then(|| reason.to_string()),
                condition,
                review: (verdict == Verdict::Review).then(|| Review {
                    role: format!("role-{i}"),
                    within_ms: 60_000 * (i as i64 + 1),
                    fallback: Verdict::Deny,
                    also: Vec::new(),
                }),
                source: SourceRef::default(),
            })
            .collect(),
    }
}

// Records: 0 = Address { country: Text, zip: Int? },
//          1 = Customer { id: Id, age: Int, vip: Bool, tier: Tier, channel: Channel,
//                         addr: Address, backup: Address?, limit: Duration?, seen: Time?,
//                         consents: List<Text> }
const C_ID: u32 = 0;
const C_AGE: u32 = 1;
const C_VIP: u32 = 2;
const C_TIER: u32 = 3;
const C_CHANNEL: u32 = 4;
const C_ADDR: u32 = 5;
const C_BACKUP: u32 = 6;
const C_LIMIT: u32 = 7;

fn f(name: &str, ty: Type) -> Field {
    Field {
        name: name.into(),
        ty,
        personal: false,
    }
}

fn base_program() -> Program {
    Program {
        records: vec![
            RecordType {
                name: "acme.Address".into(),
                fields: vec![f("country", Type::Text), f("zip", opt(Type::Int))],
            },
            RecordType {
                name: "acme.Customer".into(),
                fields: vec![
                    f("id", Type::Id),
                    f("age", Type::Int),
                    f("vip", Type::Bool),
                    f("tier", Type::Enum(0)),
                    f("channel", Type::Symbol(SymbolKind::Channel)),
                    f("addr", Type::Record(0)),
                    f("backup", opt(Type::Record(0))),
                    f("limit", opt(Type::Duration)),
                    f("seen", opt(Type::Time)),
                    f("consents", Type::List(Box::new(Type::Text))),
                ],
            },
        ],
        enums: vec![EnumType {
            name: "acme.Tier".into(),
            variants: vec!["bronze".into(), "silver".into(), "gold".into()],
        }],
        symbols: vec![
            Symbol {
                kind: SymbolKind::Channel,
                name: "sms".into(),
                qualified: "std.channel.sms".into(),
            },
            Symbol {
                kind: SymbolKind::Channel,
                name: "email".into(),
                qualified: "std.channel.email".into(),
            },
            Symbol {
                kind: SymbolKind::Channel,
                name: "voice".into(),
                qualified: "std.channel.voice".into(),
            },
            Symbol {
                kind: SymbolKind::Purpose,
                name: "marketing".into(),
                qualified: "std.purpose.marketing".into(),
            },
        ],
        ..Program::default()
    }
}

/// Customer-shaped policies: records, nested and optional fields, enums, symbols, text.
fn customer_policy() -> Policy {
    let c = || slot(0);
    let addr = || field(c(), C_ADDR);
    let gold = Expr::Const(Value::Enum(0, 2));
    let in_channels = Expr::In(
        b(field(c(), C_CHANNEL)),
        b(Expr::List(vec![
            Expr::Const(Value::Symbol(0)),
            Expr::Const(Value::Symbol(1)),
        ])),
    );
    policy(
        "customer",
        vec![
            param("c", Type::Record(1)),
            param("country", Type::Text),
            param("tz", Type::Tz),
        ],
        Some(3),
        vec![
            (
                Verdict::Deny,
                "minor",
                Some(cmp(CmpOp::Lt, field(c(), C_AGE), int(18))),
            ),
            (
                Verdict::Review,
                "vip",
                Some(and(
                    field(c(), C_VIP),
                    cmp(CmpOp::Eq, field(c(), C_TIER), gold),
                )),
            ),
            (
                Verdict::Allow,
                "channel",
                Some(and(
                    in_channels,
                    not(cmp(CmpOp::Eq, field(addr(), 0), text("FR"))),
                )),
            ),
            (
                Verdict::Allow,
                "zip",
                Some(and(
                    Expr::IsPresent(b(field(addr(), 1))),
                    Expr::InRange {
                        value: b(field(addr(), 1)),
                        lo: b(int(1000)),
                        hi: b(int(9999)),
                        inclusive: false,
                    },
                )),
            ),
            (
                Verdict::Review,
                "if",
                Some(cmp(
                    CmpOp::Ge,
                    Expr::If(
                        b(field(c(), C_VIP)),
                        b(field(c(), C_AGE)),
                        b(ar(ArithOp::Sub, field(c(), C_AGE), int(10))),
                    ),
                    int(30),
                )),
            ),
            (
                Verdict::Deny,
                "same-country",
                Some(cmp(CmpOp::Eq, field(addr(), 0), slot(1))),
            ),
            (
                Verdict::Deny,
                "paris",
                Some(cmp(
                    CmpOp::Eq,
                    slot(2),
                    Expr::Const(Value::Tz(Arc::from("Europe/Paris"))),
                )),
            ),
            (
                Verdict::Allow,
                "id",
                Some(or(
                    cmp(
                        CmpOp::Eq,
                        field(c(), C_ID),
                        Expr::Const(Value::Id(Arc::from("u-1"))),
                    ),
                    // an Id is never equal to a Text of the same letters
                    cmp(CmpOp::Eq, field(c(), C_ID), text("u-2")),
                )),
            ),
            (
                Verdict::Allow,
                "set",
                Some(Expr::In(
                    b(slot(1)),
                    b(Expr::Const(Value::List(Arc::from(vec![
                        Value::text("DE"),
                        Value::Decimal(1.into()),
                        Value::text("NL"),
                    ])))),
                )),
            ),
            (
                Verdict::Review,
                "backup-same",
                Some(cmp(CmpOp::Eq, field(c(), C_BACKUP), addr())),
            ),
            (
                Verdict::Deny,
                "backup-de",
                // fails closed when the backup address is absent
                Some(cmp(CmpOp::Eq, field(field(c(), C_BACKUP), 0), text("DE"))),
            ),
            (Verdict::Allow, "", None),
        ],
    )
}

/// Arithmetic: overflow, division by zero, `MIN / -1`, negation, durations and times.
fn arith_policy() -> Policy {
    let (d, t, now) = (slot(2), slot(3), slot(4));
    policy(
        "arith",
        vec![
            param("a", Type::Int),
            param("x", Type::Int),
            param("d", Type::Duration),
            param("t", Type::Time),
        ],
        Some(4),
        vec![
            (
                Verdict::Deny,
                "mul",
                Some(cmp(CmpOp::Gt, ar(ArithOp::Mul, slot(0), int(3)), int(1000))),
            ),
            (
                Verdict::Allow,
                "div",
                Some(cmp(
                    CmpOp::Gt,
                    ar(ArithOp::Div, int(100), ar(ArithOp::Rem, slot(1), int(7))),
                    int(20),
                )),
            ),
            (
                Verdict::Review,
                "add",
                Some(cmp(CmpOp::Le, ar(ArithOp::Add, slot(0), slot(1)), int(0))),
            ),
            (
                Verdict::Allow,
                "sub-div",
                Some(cmp(
                    CmpOp::Ne,
                    ar(ArithOp::Div, ar(ArithOp::Sub, slot(0), slot(1)), slot(1)),
                    int(2),
                )),
            ),
            (
                Verdict::Allow,
                "rem",
                Some(cmp(CmpOp::Eq, ar(ArithOp::Rem, slot(0), slot(1)), int(0))),
            ),
            (
                Verdict::Deny,
                "neg",
                Some(cmp(CmpOp::Lt, Expr::Neg(b(slot(0))), int(-500))),
            ),
            (
                Verdict::Allow,
                "time",
                Some(cmp(
                    CmpOp::Lt,
                    ar(ArithOp::Sub, now.clone(), t.clone()),
                    d.clone(),
                )),
            ),
            (
                Verdict::Review,
                "time-add",
                Some(cmp(
                    CmpOp::Gt,
                    ar(ArithOp::Add, d.clone(), t.clone()),
                    now.clone(),
                )),
            ),
            (
                Verdict::Deny,
                "dur",
                Some(cmp(
                    CmpOp::Ge,
                    ar(
                        ArithOp::Add,
                        ar(ArithOp::Mul, d.clone(), slot(1)),
                        t.clone(),
                    ),
                    ar(
                        ArithOp::Sub,
                        t.clone(),
                        ar(ArithOp::Div, d.clone(), slot(0)),
                    ),
                )),
            ),
            (
                Verdict::Deny,
                "neg-dur",
                Some(cmp(CmpOp::Gt, Expr::Neg(b(d.clone())), dur(0))),
            ),
            (
                Verdict::Allow,
                "t-minus-d",
                Some(cmp(CmpOp::Lt, ar(ArithOp::Sub, t, d.clone()), now)),
            ),
            (
                Verdict::Allow,
                "int-dur",
                Some(cmp(CmpOp::Gt, ar(ArithOp::Mul, int(2), d), dur(100))),
            ),
        ],
    )
}

/// Optionals: `??`, `is present`, absent errors in arithmetic, ordering, `not` and conditions.
fn optional_policy() -> Policy {
    policy(
        "optional",
        vec![
            param("n", opt(Type::Int)),
            param("m", opt(Type::Int)),
            param("flag", opt(Type::Bool)),
            param("c", opt(Type::Record(1))),
            param("k", Type::Int),
        ],
        None,
        vec![
            (
                Verdict::Allow,
                "default",
                Some(cmp(
                    CmpOp::Ge,
                    ar(ArithOp::Add, Expr::Default(b(slot(0)), b(int(0))), slot(4)),
                    int(5),
                )),
            ),
            (
                Verdict::Deny,
                "eq-opt",
                Some(cmp(CmpOp::Eq, slot(0), slot(1))),
            ),
            (
                Verdict::Review,
                "chain",
                Some(cmp(
                    CmpOp::Ne,
                    Expr::Default(b(slot(0)), b(slot(1))),
                    Expr::Const(Value::Absent),
                )),
            ),
            (
                Verdict::Allow,
                "if-absent",
                Some(Expr::IsPresent(b(Expr::If(
                    b(cmp(CmpOp::Gt, slot(4), int(0))),
                    b(slot(0)),
                    b(Expr::Const(Value::Absent)),
                )))),
            ),
            (
                Verdict::Deny,
                "record-default",
                Some(cmp(CmpOp::Eq, field(field(slot(3), C_ADDR), 0), text("FR"))),
            ),
            (
                Verdict::Allow,
                "limit",
                Some(not(cmp(
                    CmpOp::Gt,
                    Expr::Default(b(field(slot(3), C_LIMIT)), b(dur(5))),
                    dur(100),
                ))),
            ),
            (
                Verdict::Deny,
                "absent-add",
                Some(cmp(CmpOp::Gt, ar(ArithOp::Add, slot(0), slot(1)), int(3))),
            ),
            (
                Verdict::Allow,
                "absent-order",
                Some(cmp(CmpOp::Lt, slot(1), slot(4))),
            ),
            (Verdict::Review, "flag", Some(slot(2))),
            (Verdict::Deny, "not-flag", Some(not(slot(2)))),
            (
                Verdict::Allow,
                "lambda-slot",
                Some(Expr::IsPresent(b(slot(6)))),
            ),
            (
                Verdict::Allow,
                "neg-absent",
                Some(cmp(CmpOp::Lt, Expr::Neg(b(slot(1))), int(0))),
            ),
        ],
    )
}

/// More than 64 rules: the fired-rule bitset spans several words.
fn many_rules_policy() -> Policy {
    let rules: Vec<RuleSpec> = (0..150)
        .map(|i| {
            let verdict = match i % 7 {
                0 => Verdict::Deny,
                1 | 2 => Verdict::Review,
                _ => Verdict::Allow,
            };
            let reason: &'static str = ["r0", "r1", "r2", "r3", "", "r5"][i % 6];
            let threshold = (i as i64) * 37 - 2000;
            let cond = if i % 5 == 0 {
                cmp(CmpOp::Lt, slot(0), int(threshold))
            } else if i % 5 == 1 {
                cmp(CmpOp::Gt, slot(0), int(-threshold))
            } else if i % 3 == 0 {
                cmp(
                    CmpOp::Eq,
                    ar(ArithOp::Rem, slot(0), int(i as i64 + 2)),
                    int(1),
                )
            } else if i == 149 {
                // a late error after many fired rules
                cmp(
                    CmpOp::Eq,
                    ar(ArithOp::Div, int(1), ar(ArithOp::Rem, slot(0), int(5))),
                    int(0),
                )
            } else {
                cmp(
                    CmpOp::Ge,
                    ar(ArithOp::Rem, slot(0), int(11)),
                    int(i as i64 % 11),
                )
            };
            (verdict, reason, Some(cond))
        })
        .collect();
    policy("many", vec![param("v", Type::Int)], None, rules)
}

/// Long runs of equality-guarded rules with simple residuals, compiled to rule tables: Text keys
/// (dense: indexed directly) with every comparison on an Int, Int keys (sparse: searched)
/// with comparisons on a Duration, enum keys with `==`/`!=` on a Text; keys on either side,
/// duplicate keys, keys no input has, rules without residual, reasons shared across verdicts.
fn table_policy() -> Policy {
    let (seg, n, d, tier) = (slot(0), slot(1), slot(2), slot(3));
    let ops = [
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Gt,
        CmpOp::Ge,
    ];
    let verdict = |i: usize| match i % 7 {
        0 => Verdict::Deny,
        1 | 2 => Verdict::Review,
        _ => Verdict::Allow,
    };
    let reason = |i: usize| -> &'static str { ["a", "b", "c", "", "d", "e", "f"][i % 7] };
    let mut rules: Vec<RuleSpec> = Vec::new();
    let keys = ["FR", "DE", "NL", "US", "u-1", "u-2", "", "XX"];
    for i in 0..48 {
        let key = keys[(i * 5) % keys.len()];
        let guard = if i % 4 == 0 {
            cmp(CmpOp::Eq, text(key), seg.clone())
        } else {
            cmp(CmpOp::Eq, seg.clone(), text(key))
        };
        let cond = if i % 9 == 4 {
            guard
        } else {
            and(
                guard,
                cmp(ops[i % 6], n.clone(), int((i as i64 % 13) * 7 - 40)),
            )
        };
        rules.push((verdict(i), reason(i), Some(cond)));
    }
    let sparse = [
        -2000,
        -7,
        0,
        1,
        2,
        3,
        5,
        8,
        13,
        21,
        34,
        55,
        89,
        1000,
        5000,
        i64::MIN,
    ];
    for i in 0..32 {
        let cond = and(
            cmp(CmpOp::Eq, n.clone(), int(sparse[(i * 3) % sparse.len()])),
            cmp(ops[(i + 2) % 6], d.clone(), dur((i as i64 % 11) * 5 - 20)),
        );
        rules.push((verdict(i + 1), reason(i + 2), Some(cond)));
    }
    for i in 0..18 {
        let cond = and(
            cmp(
                CmpOp::Eq,
                tier.clone(),
                Expr::Const(Value::Enum(0, (i % 3) as u32)),
            ),
            cmp(
                if i % 2 == 0 { CmpOp::Eq } else { CmpOp::Ne },
                seg.clone(),
                text(keys[i % 5]),
            ),
        );
        rules.push((verdict(i + 2), reason(i + 4), Some(cond)));
    }
    rules.push((Verdict::Allow, "ok", None));
    policy(
        "table",
        vec![
            param("seg", Type::Text),
            param("n", Type::Int),
            param("d", Type::Duration),
            param("tier", Type::Enum(0)),
        ],
        None,
        rules,
    )
}

/// Runs of rules guarded by equality on one input path (compiled to switches), on Text, Int,
/// enum, symbol and Id paths, constants on either side, duplicate keys, keys no input has,
/// errors inside a case, reasons shared across verdicts, and guards the switch must not take
/// (an optional path, a path broken by another rule).
fn guarded_policy() -> Policy {
    let c = || slot(0);
    let seg = || slot(1);
    let n = || slot(2);
    let verdicts = [Verdict::Allow, Verdict::Deny, Verdict::Review];
    let reasons: [&'static str; 5] = ["a", "b", "", "c", "a"];
    let mut rules: Vec<RuleSpec> = vec![(Verdict::Allow, "base", None)];
    // 1..=40: `seg == "…" and n >= k`, the shape of the 200-rule benchmark.
    for i in 0..40usize {
        let key = ["FR", "DE", "XX", "u-1", "FR"][i % 5];
        let cond = and(
            cmp(CmpOp::Eq, seg(), text(key)),
            cmp(CmpOp::Ge, n(), int(i as i64 - 20)),
        );
        rules.push((verdicts[i % 3], reasons[i % 5], Some(cond)));
    }
    // 41: not guarded: ends the run.
    rules.push((Verdict::Deny, "big", Some(cmp(CmpOp::Gt, n(), int(1000)))));
    // 42..=53: Int keys (negative too), constant on the left, an error inside a case.
    for i in 0..12i64 {
        let k = i % 6 - 3;
        let guard = if i % 2 == 0 {
            cmp(CmpOp::Eq, n(), int(k))
        } else {
            cmp(CmpOp::Eq, int(k), n())
        };
        let cond = if k == 0 {
            and(guard, cmp(CmpOp::Eq, ar(ArithOp::Div, int(1), n()), int(0)))
        } else {
            and(
                and(guard, field(c(), C_VIP)),
                cmp(CmpOp::Lt, int(k), int(2)),
            )
        };
        rules.push((
            verdicts[(i % 3) as usize],
            reasons[(i % 5) as usize],
            Some(cond),
        ));
    }
    // 54..=59: the enum field `c.tier`.
    for i in 0..6u32 {
        let cond = and(
            cmp(
                CmpOp::Eq,
                field(c(), C_TIER),
                Expr::Const(Value::Enum(0, i % 3)),
            ),
            cmp(CmpOp::Gt, field(c(), C_AGE), int(i64::from(i) * 10)),
        );
        rules.push((verdicts[(i % 3) as usize], "tier", Some(cond)));
    }
    // 60..=63: the symbol `c.channel`, bare guards.
    for i in 0..4u32 {
        let cond = cmp(
            CmpOp::Eq,
            Expr::Const(Value::Symbol(i % 3)),
            field(c(), C_CHANNEL),
        );
        rules.push((verdicts[(i % 3) as usize], "channel", Some(cond)));
    }
    // 64..=67: the Id `c.id`, and the nested Text `c.addr.country`, interleaved: no run of 4.
    for i in 0..4usize {
        let cond = if i % 2 == 0 {
            cmp(
                CmpOp::Eq,
                field(c(), C_ID),
                Expr::Const(Value::Id(Arc::from("u-2"))),
            )
        } else {
            cmp(CmpOp::Eq, field(field(c(), C_ADDR), 0), text("NL"))
        };
        rules.push((Verdict::Review, "who", Some(cond)));
    }
    // 68..=71: an optional path (`c.addr.zip`): not a switch, still right.
    for i in 0..4i64 {
        let cond = cmp(CmpOp::Eq, field(field(c(), C_ADDR), 1), int(i));
        rules.push((Verdict::Deny, "zip", Some(cond)));
    }
    // 72..=76: the Id path again, in a run of 5.
    for i in 0..5usize {
        let id = ["u-1", "u-2", "u-3", "u-9", "u-1"][i];
        let cond = cmp(
            CmpOp::Eq,
            field(c(), C_ID),
            Expr::Const(Value::Id(Arc::from(id))),
        );
        rules.push((verdicts[i % 3], reasons[i], Some(cond)));
    }
    policy(
        "guarded",
        vec![
            param("c", Type::Record(1)),
            param("seg", Type::Text),
            param("n", Type::Int),
        ],
        None,
        rules,
    )
}

// Records 2 = Consent { purpose: Purpose, channel: Channel, given_at: Time, withdrawn_at: Time? }
//         3 = Contact { channel: Channel, contacted_at: Time }
fn list_records() -> [RecordType; 2] {
    [
        RecordType {
            name: "std.consent.Consent".into(),
            fields: vec![
                f("purpose", Type::Symbol(SymbolKind::Purpose)),
                f("channel", Type::Symbol(SymbolKind::Channel)),
                f("given_at", Type::Time),
                f("withdrawn_at", opt(Type::Time)),
            ],
        },
        RecordType {
            name: "std.contact.Contact".into(),
            fields: vec![
                f("channel", Type::Symbol(SymbolKind::Channel)),
                f("contacted_at", Type::Time),
            ],
        },
    ]
}

/// Lists and sets of the input, quantifiers (nested too), `in` a list value, and the
/// intrinsics: consent, contact counts, local hour and day of week (zones that exist and one
/// that does not, instants out of range), durations from counts (overflowing too).
fn lists_policy() -> Policy {
    let c = || slot(0);
    let consents = || slot(1);
    let contacts = || slot(2);
    let ch = || slot(3);
    let tz = || slot(4);
    let n = || slot(5);
    let now = || slot(6);
    let sym = |i| Expr::Const(Value::Symbol(i));
    let intr = |w, args| Expr::Intrinsic(w, args);
    let q = |quantifier, list, slot, body: Option<Expr>| Expr::Quantify {
        quantifier,
        list: b(list),
        slot,
        body: body.map(b),
    };
    let hour = |zone| intr(Intrinsic::LocalHour, vec![now(), zone]);
    let mut pol = policy(
        "lists",
        vec![
            param("c", Type::Record(1)),
            param("consents", Type::List(Box::new(Type::Record(2)))),
            param("contacts", Type::Set(Box::new(Type::Record(3)))),
            param("ch", Type::Symbol(SymbolKind::Channel)),
            param("tz", Type::Tz),
            param("n", Type::Int),
        ],
        Some(6),
        vec![
            (
                Verdict::Deny,
                "no-consent",
                Some(not(intr(
                    Intrinsic::Consent,
                    vec![consents(), sym(3), ch()],
                ))),
            ),
            (
                Verdict::Allow,
                "email-consent",
                Some(intr(Intrinsic::Consent, vec![consents(), sym(3), sym(1)])),
            ),
            (
                Verdict::Deny,
                "cap",
                Some(cmp(
                    CmpOp::Ge,
                    intr(
                        Intrinsic::ContactsWithin,
                        vec![contacts(), intr(Intrinsic::Hours, vec![n()])],
                    ),
                    int(1),
                )),
            ),
            (
                Verdict::Review,
                "cap-channel",
                Some(cmp(
                    CmpOp::Ge,
                    intr(
                        Intrinsic::ContactsOnWithin,
                        vec![contacts(), ch(), intr(Intrinsic::Days, vec![int(1)])],
                    ),
                    int(1),
                )),
            ),
            (
                Verdict::Deny,
                "quiet-hours",
                Some(not(Expr::InRange {
                    value: b(hour(tz())),
                    lo: b(int(8)),
                    hi: b(int(21)),
                    inclusive: false,
                })),
            ),
            (
                Verdict::Allow,
                "weekday",
                Some(cmp(
                    CmpOp::Le,
                    intr(Intrinsic::DayOfWeek, vec![now(), tz()]),
                    int(5),
                )),
            ),
            (
                Verdict::Allow,
                "tagged",
                Some(Expr::In(b(text("FR")), b(field(c(), 9)))),
            ),
            (
                Verdict::Deny,
                "any-sms",
                Some(q(
                    Quantifier::Any,
                    contacts(),
                    7,
                    Some(cmp(CmpOp::Eq, field(slot(7), 0), sym(0))),
                )),
            ),
            (
                Verdict::Review,
                "all-recent",
                Some(q(
                    Quantifier::All,
                    contacts(),
                    7,
                    Some(cmp(
                        CmpOp::Gt,
                        field(slot(7), 1),
                        ar(ArithOp::Sub, now(), intr(Intrinsic::Minutes, vec![n()])),
                    )),
                )),
            ),
            (
                Verdict::Allow,
                "count",
                Some(cmp(
                    CmpOp::Gt,
                    q(Quantifier::Count, field(c(), 9), 7, None),
                    int(1),
                )),
            ),
            (
                Verdict::Deny,
                "nested",
                Some(q(
                    Quantifier::Any,
                    consents(),
                    7,
                    Some(cmp(
                        CmpOp::Gt,
                        q(
                            Quantifier::Count,
                            contacts(),
                            8,
                            Some(cmp(CmpOp::Eq, field(slot(8), 0), field(slot(7), 1))),
                        ),
                        int(0),
                    )),
                )),
            ),
            (
                Verdict::Allow,
                "paris-ten",
                Some(cmp(
                    CmpOp::Eq,
                    hour(Expr::Const(Value::Tz(Arc::from("Europe/Paris")))),
                    int(10),
                )),
            ),
            (
                Verdict::Deny,
                "atlantis",
                Some(and(
                    cmp(CmpOp::Eq, n(), int(7)),
                    cmp(
                        CmpOp::Eq,
                        hour(Expr::Const(Value::Tz(Arc::from("Atlantis/Deep")))),
                        int(3),
                    ),
                )),
            ),
        ],
    );
    pol.slots = 9;
    pol
}

fn program() -> Program {
    let mut p = base_program();
    p.records.extend(list_records());
    p.policies = vec![
        customer_policy(),
        arith_policy(),
        optional_policy(),
        many_rules_policy(),
        guarded_policy(),
        lists_policy(),
        table_policy(),
    ];
    p
}

// ---------------------------------------------------------------- generating inputs

const TEXTS: &[&str] = &["FR", "DE", "NL", "US", "u-1", "u-2", "u-3", ""];
const ZONES: &[&str] = &[
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Nowhere/Atlantis",
];

fn gen_value(rng: &mut Rng, p: &Program, ty: &Type) -> Value {
    match ty {
        Type::Optional(inner) => {
            if rng.chance(30) {
                Value::Absent
            } else {
                gen_value(rng, p, inner)
            }
        }
        Type::Bool => Value::Bool(rng.chance(50)),
        Type::Int => Value::Int(if rng.chance(50) {
            rng.below(100) as i64
        } else {
            rng.int()
        }),
        Type::Duration => Value::Duration(rng.int()),
        Type::Time => Value::Time(if rng.chance(30) {
            *rng.pick(&[0, 1, -1, 20, 1000, -2000])
        } else {
            rng.int()
        }),
        Type::Text => Value::text(rng.pick::<&str>(TEXTS)),
        Type::Id => Value::Id(Arc::from(*rng.pick(TEXTS))),
        Type::Tz => Value::Tz(Arc::from(*rng.pick(ZONES))),
        // symbols 0..=2 are channels, 3 the one purpose
        Type::Symbol(SymbolKind::Purpose) => Value::Symbol(3),
        Type::Symbol(_) => Value::Symbol(rng.below(3) as u32),
        Type::Enum(e) => Value::Enum(*e, rng.below(3) as u32),
        Type::Record(r) => {
            let fields: Vec<Value> = p.records[*r as usize]
                .fields
                .iter()
                .map(|f| gen_value(rng, p, &f.ty))
                .collect();
            Value::Record(*r, Arc::from(fields))
        }
        Type::List(inner) => {
            let n = rng.below(5);
            let xs: Vec<Value> = (0..n).map(|_| gen_value(rng, p, inner)).collect();
            Value::List(Arc::from(xs))
        }
        Type::Set(inner) => {
            let n = rng.below(5);
            let mut xs: Vec<Value> = (0..n).map(|_| gen_value(rng, p, inner)).collect();
            xs.sort();
            xs.dedup();
            Value::List(Arc::from(xs))
        }
        _ => Value::List(Arc::from(vec![])),
    }
}

fn gen_args(rng: &mut Rng, p: &Program, pol: &Policy) -> Vec<Value> {
    let mut args: Vec<Value> = pol
        .params
        .iter()
        .map(|x| gen_value(rng, p, &x.ty))
        .collect();
    // Now and then, input that does not match the parameters.
    if rng.chance(2) {
        let i = rng.below(args.len() as u64) as usize;
        args[i] = Value::Bool(true);
    }
    if rng.chance(1) {
        args.pop();
    }
    args
}

fn now(rng: &mut Rng) -> i64 {
    match rng.below(10) {
        // instants the generated times often equal: boundaries get exercised
        0..=2 => *rng.pick(&[0, 1, -1, 20, 1000, -2000]),
        3 | 4 => rng.below(10_000) as i64,
        // 2023 to 2026: every hour and weekday in every zone
        5 | 6 => 1_672_531_200_000 + rng.below(100_000_000_000) as i64,
        _ => rng.int(),
    }
}

/// Runs `n` random decisions of `policy` on both engines; returns the decisions.
fn differential(seed: u64, policy: usize, n: usize) -> Vec<Decision> {
    let p = program();
    let jit = Arc::new(jit::compile(&p));
    assert_eq!(jit.unsupported(policy), None, "policy {policy} is compiled");
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let args = gen_args(&mut rng, &p, &p.policies[policy]);
        let t = now(&mut rng);
        let expected = interp::decide(&p, policy, &args, t, &NoSignals);
        let got = jit.decide(policy, &args, t);
        assert_eq!(
            got.as_ref(),
            Some(&expected),
            "policy {policy}, args {args:?}, now {t}"
        );
        out.push(expected);
    }
    out
}

/// What the decisions covered: per verdict, errors, bad input, per fired rule.
fn coverage(ds: &[Decision]) -> (HashMap<String, usize>, usize, usize) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut errors, mut bad) = (0, 0);
    for d in ds {
        *seen.entry(format!("{:?}", d.verdict)).or_default() += 1;
        for r in &d.fired {
            *seen.entry(r.clone()).or_default() += 1;
        }
        if d.reasons == [RUNTIME_ERROR] {
            errors += 1;
            *seen
                .entry(format!(
                    "error@{}",
                    d.error
                        .as_deref()
                        .unwrap_or("")
                        .split(':')
                        .next()
                        .unwrap_or("")
                ))
                .or_default() += 1;
        } else if d.error.is_some() {
            bad += 1;
        }
    }
    (seen, errors, bad)
}

fn assert_rules_fired(seen: &HashMap<String, usize>, name: &str, rules: usize) {
    for i in 0..rules {
        let id = format!("acme.{name}#{i}");
        assert!(seen.get(&id).copied().unwrap_or(0) > 0, "{id} never fired");
    }
}

#[test]
fn customer_records_enums_symbols_text() {
    let ds = differential(0x9E37_79B9_7F4A_7C15, 0, 6000);
    let (seen, errors, bad) = coverage(&ds);
    assert_rules_fired(&seen, "customer", 10);
    for v in ["Allow", "Review", "Deny"] {
        assert!(seen.contains_key(v), "no {v}");
    }
    assert!(errors > 100 && bad > 50, "errors {errors}, bad input {bad}");
}

#[test]
fn arithmetic_overflow_and_division() {
    let ds = differential(0xD1B5_4A32_D192_ED03, 1, 6000);
    let (seen, errors, _) = coverage(&ds);
    assert_rules_fired(&seen, "arith", 12);
    for i in [0, 1, 2, 3, 6, 7, 8, 10, 11] {
        let key = format!("error@rule acme.arith#{i}");
        assert!(seen.contains_key(&key), "no error in rule {i}: {seen:?}");
    }
    assert!(errors > 500, "{errors}");
    // the exact messages agree: spot-check a division by zero
    let p = program();
    let jit = jit::compile(&p);
    let args = [
        Value::Int(1),
        Value::Int(14),
        Value::Duration(0),
        Value::Time(0),
    ];
    let d = jit.decide(1, &args, 0).expect("compiled");
    assert_eq!(
        d.error.as_deref(),
        Some("rule acme.arith#1: 100 / 0: division by zero")
    );
}

#[test]
fn optionals_and_absent_errors() {
    let ds = differential(0x0123_4567_89AB_CDEF, 2, 6000);
    let (seen, errors, _) = coverage(&ds);
    assert_rules_fired(&seen, "optional", 10);
    assert!(errors > 500, "{errors}");
}

#[test]
fn more_than_64_rules() {
    let ds = differential(42, 3, 6000);
    let (seen, errors, _) = coverage(&ds);
    assert_rules_fired(&seen, "many", 149);
    assert!(errors > 100, "{errors}");
    assert!(ds.iter().any(|d| d.fired.len() > 64));
}

#[test]
fn equality_guards_compiled_to_switches() {
    let p = program();
    let jit = jit::compile(&p);
    // seg (Text), n (Int), c.tier, c.channel, c.id: five runs; the optional and broken ones not.
    assert_eq!(jit.switches(4), 5);
    // The run of 40 is a rule table; the four short ones are switches.
    assert_eq!(jit.rule_tables(4), 1);
    let ds = differential(0x5EED_0F5A_17C4, 4, 20_000);
    let (seen, errors, _) = coverage(&ds);
    let never: Vec<String> = (0..77)
        .map(|i| format!("acme.guarded#{i}"))
        .filter(|id| !seen.contains_key(id))
        .collect();
    // Rules keyed on "XX" and "u-9" cannot fire: no input has those values; nor can the Int
    // rules keyed on 0 (they fail: 1 / 0) or on 2 (`2 < 2`).
    let expected_never: Vec<String> = [3, 8, 13, 18, 23, 28, 33, 38, 45, 47, 51, 53, 75]
        .iter()
        .map(|i| format!("acme.guarded#{i}"))
        .collect();
    assert_eq!(never, expected_never);
    assert!(errors > 100, "division by zero inside a case: {errors}");
    for v in ["Allow", "Review", "Deny"] {
        assert!(seen.contains_key(v), "no {v}");
    }
}

#[test]
fn equality_guards_compiled_to_rule_tables() {
    let p = program();
    let jit = jit::compile(&p);
    assert_eq!(jit.switches(6), 3);
    let ds = differential(0x7AB1_E5EE_D000_0001, 6, 30_000);
    let (seen, _, _) = coverage(&ds);
    let never: Vec<usize> = (0..98)
        .filter(|i| !seen.contains_key(&format!("acme.table#{i}")))
        .collect();
    // Rules keyed on "XX" cannot fire (no input has it); a few others need rare inputs (an
    // exact Int, a rare key); most fire.
    assert!(never.len() < 15, "never fired: {never:?}");
    for i in (0..48).filter(|&i| keys_xx(i)) {
        assert!(never.contains(&i), "rule {i} keyed on XX fired");
    }
    for v in ["Allow", "Review", "Deny"] {
        assert!(seen.contains_key(v), "no {v}");
    }
}

/// Whether rule `i` of the Text run of `table_policy` is keyed on "XX".
fn keys_xx(i: usize) -> bool {
    (i * 5) % 8 == 7
}

#[test]
fn lists_quantifiers_and_intrinsics() {
    let ds = differential(0x1157_5EED, 5, 20_000);
    let (seen, errors, _) = coverage(&ds);
    assert_rules_fired(&seen, "lists", 12);
    for v in ["Allow", "Review", "Deny"] {
        assert!(seen.contains_key(v), "no {v}: {seen:?}");
    }
    // unknown zones, instants out of range, overflowing durations: all reported alike
    assert!(errors > 200, "{errors}");
    let messages: Vec<&str> = ds.iter().filter_map(|d| d.error.as_deref()).collect();
    for needle in [
        "unknown time zone \"Nowhere/Atlantis\"",
        "unknown time zone \"Atlantis/Deep\"",
        "outside the supported range of times",
        "overflows the range of durations",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(needle)),
            "no error {needle:?}"
        );
    }
}

#[test]
fn bound_inputs_and_reusable_outputs() {
    let p = program();
    let jit = jit::compile(&p);
    let other = jit::compile(&p);
    let mut rng = Rng(7);
    let mut out = jit.output(4);
    let mut input = jit.bind(4, &gen_args(&mut rng, &p, &p.policies[4])).ok();
    let mut runs = 0;
    for _ in 0..2000 {
        let args = gen_args(&mut rng, &p, &p.policies[4]);
        let expected = interp::decide(&p, 4, &args, 0, &NoSignals);
        let Some(bound) = input.as_mut() else {
            input = jit.bind(4, &args).ok();
            continue;
        };
        if let Err(d) = jit.bind_into(4, &args, bound) {
            assert_eq!(d, expected, "bad input fails closed like the interpreter");
            continue;
        }
        jit.run(bound, 0, &mut out).expect("runs");
        runs += 1;
        assert_eq!(jit.decision(bound, &out), expected);
        // The verdict and the reason bits are the code's own, not recomputed.
        assert_eq!(out.verdict().is_some(), expected.error.is_none());
        if let Some(v) = out.verdict() {
            assert_eq!(v, expected.verdict);
            let mut from_bits = out.reason_names(&jit);
            let mut reasons: Vec<&str> = expected.reasons.iter().map(String::as_str).collect();
            from_bits.sort_unstable();
            reasons.sort_unstable();
            assert_eq!(from_bits, reasons);
        }
    }
    assert!(runs > 1000, "{runs}");
    // An input or output of another module or policy is refused, never run.
    let bound = input.expect("bound");
    assert_eq!(
        other.run(&bound, 0, &mut other.output(4)),
        Err(jit::RunError::Mismatch)
    );
    assert_eq!(
        jit.run(&bound, 0, &mut jit.output(3)),
        Err(jit::RunError::Mismatch)
    );
}

#[test]
fn negation_overflow() {
    let mut p = base_program();
    p.policies = vec![policy(
        "neg",
        vec![param("a", Type::Int), param("d", Type::Duration)],
        None,
        vec![
            (
                Verdict::Allow,
                "a",
                Some(cmp(CmpOp::Lt, Expr::Neg(b(slot(0))), int(0))),
            ),
            (
                Verdict::Deny,
                "d",
                Some(cmp(CmpOp::Lt, Expr::Neg(b(slot(1))), dur(0))),
            ),
        ],
    )];
    let jit = jit::compile(&p);
    let cases = [
        (
            i64::MIN,
            0,
            Some("rule acme.neg#0: -(-9223372036854775808) overflows"),
        ),
        (
            1,
            i64::MIN,
            Some("rule acme.neg#1: -(-9223372036854775808ms) overflows"),
        ),
        (i64::MAX, i64::MAX, None),
    ];
    for (a, d, error) in cases {
        let args = [Value::Int(a), Value::Duration(d)];
        let got = jit.decide(0, &args, 0).expect("compiled");
        assert_eq!(got, interp::decide(&p, 0, &args, 0, &NoSignals));
        assert_eq!(got.error.as_deref(), error);
    }
}

#[test]
fn no_such_policy_fails_closed_like_the_interpreter() {
    let p = program();
    let jit = jit::compile(&p);
    let expected = interp::decide(&p, 99, &[], 0, &NoSignals);
    assert_eq!(jit.decide(99, &[], 0), Some(expected));
}

#[test]
fn unsupported_policies_fall_back() {
    let mut p = base_program();
    p.policies = vec![
        policy(
            "literal",
            vec![param("n", Type::Int)],
            None,
            vec![(
                Verdict::Deny,
                "any",
                // A list of elements of two kinds (ill-typed; list literals of one kind are
                // compiled).
                Some(Expr::Quantify {
                    quantifier: Quantifier::Any,
                    list: b(Expr::List(vec![Expr::Const(Value::text("one")), slot(0)])),
                    slot: 1,
                    body: Some(b(cmp(CmpOp::Eq, slot(1), int(3)))),
                }),
            )],
        ),
        policy(
            "record",
            vec![param("n", Type::Int)],
            None,
            vec![(
                Verdict::Deny,
                "r",
                Some(cmp(
                    CmpOp::Eq,
                    Expr::Record(
                        3,
                        vec![Expr::Const(Value::Symbol(0)), Expr::Const(Value::Time(0))],
                    ),
                    Expr::Record(
                        3,
                        vec![Expr::Const(Value::Symbol(0)), Expr::Const(Value::Time(0))],
                    ),
                )),
            )],
        ),
        policy(
            "signal",
            vec![param("x", Type::Text)],
            None,
            vec![(
                Verdict::Deny,
                "d",
                Some(cmp(CmpOp::Eq, Expr::Signal(0, vec![slot(0)]), slot(0))),
            )],
        ),
        policy(
            "fine",
            vec![param("n", Type::Int)],
            None,
            vec![(Verdict::Allow, "ok", Some(cmp(CmpOp::Gt, slot(0), int(0))))],
        ),
    ];
    p.records.extend(list_records());
    let jit = jit::compile(&p);
    assert_eq!(jit.decide(0, &[Value::Int(1)], 0), None);
    assert!(
        jit.unsupported(0)
            .expect("a reason")
            .contains("list or set value")
    );
    assert_eq!(jit.decide(1, &[Value::Int(1)], 0), None);
    assert!(
        jit.unsupported(1)
            .expect("a reason")
            .contains("builds a record")
    );
    // Signals are compiled, but not a read of a signal the program does not declare (the
    // interpreter fails when it reaches it).
    assert_eq!(jit.decide(2, &[Value::text("a")], 0), None);
    assert!(
        jit.unsupported(2)
            .expect("a reason")
            .contains("reads signal #0, which is not in the program")
    );
    // the supported policy of the same module still runs
    assert_eq!(jit.unsupported(3), None);
    let d = jit.decide(3, &[Value::Int(5)], 0).expect("compiled");
    assert_eq!(d, interp::decide(&p, 3, &[Value::Int(5)], 0, &NoSignals));
    assert_eq!(d.verdict, Verdict::Allow);
}

#[test]
fn shared_across_threads_and_dropped() {
    let p = program();
    let jit = Arc::new(jit::compile(&p));
    let handles: Vec<_> = (0..2u64)
        .map(|k| {
            let jit = Arc::clone(&jit);
            let p = p.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(1000 + k);
                for _ in 0..500 {
                    let args = gen_args(&mut rng, &p, &p.policies[1]);
                    let t = now(&mut rng);
                    assert_eq!(
                        jit.decide(1, &args, t),
                        Some(interp::decide(&p, 1, &args, t, &NoSignals))
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no panic");
    }
    drop(jit); // frees the code (the last Arc)
}

// ---------------------------------------------------------------- decisions

fn proposal(
    action: &str,
    args: Vec<Expr>,
    rank: Option<Expr>,
    condition: Option<Expr>,
) -> Proposal {
    Proposal {
        action: action.into(),
        args,
        rank,
        condition,
        source: SourceRef::default(),
    }
}

fn guard_policy(
    name: &str,
    action: &str,
    params: Vec<Param>,
    now: Option<u32>,
    rules: Vec<RuleSpec>,
) -> Policy {
    let mut p = policy(name, params, now, rules);
    p.action = action.into();
    p
}

/// Decisions whose candidates are guarded by two policies (one with an equality-guard switch),
/// by one, or by none; with ranks that tie, overflow and fail.
fn decision_program() -> Program {
    let mut p = base_program();
    let c = || slot(0);
    let mut customer = customer_policy();
    customer.action = "acme.offer".into();
    let offer_params = || {
        vec![
            param("c", Type::Record(1)),
            param("country", Type::Text),
            param("tz", Type::Tz),
        ]
    };
    let mut second_rules: Vec<RuleSpec> = vec![
        (
            Verdict::Deny,
            "young",
            Some(cmp(CmpOp::Lt, field(c(), C_AGE), int(30))),
        ),
        (Verdict::Review, "vip", Some(field(c(), C_VIP))),
        (
            Verdict::Deny,
            "overflow",
            Some(cmp(
                CmpOp::Eq,
                ar(ArithOp::Mul, field(c(), C_AGE), int(1_000_000_000_000)),
                int(7_000_000_000_000),
            )),
        ),
    ];
    for (k, country) in ["FR", "DE", "NL", "US", "FR"].iter().enumerate() {
        second_rules.push((
            if k % 2 == 0 {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            ["c-fr", "c-de", "c-nl", "c-us", "c-fr2"][k],
            Some(and(
                cmp(CmpOp::Eq, slot(1), text(country)),
                cmp(CmpOp::Ge, field(c(), C_AGE), int(20 * k as i64)),
            )),
        ));
    }
    let second = guard_policy(
        "second",
        "acme.offer",
        offer_params(),
        Some(3),
        second_rules,
    );
    let note = guard_policy(
        "note",
        "acme.note",
        vec![param("n", Type::Int)],
        None,
        vec![
            (Verdict::Allow, "pos", Some(cmp(CmpOp::Gt, slot(0), int(0)))),
            (
                Verdict::Deny,
                "big",
                Some(cmp(CmpOp::Gt, slot(0), int(100))),
            ),
            (
                Verdict::Allow,
                "pos",
                Some(cmp(CmpOp::Gt, slot(0), int(10))),
            ),
        ],
    );
    p.policies = vec![customer, second, note];
    let tz = |z: &str| Expr::Const(Value::Tz(Arc::from(z)));
    let n = || slot(1);
    let mut nba = DecisionDef {
        name: "nba".into(),
        qualified: "acme.nba".into(),
        params: vec![
            param("c", Type::Record(1)),
            param("n", Type::Int),
            param("country", Type::Text),
        ],
        now_slot: Some(3),
        slots: 5,
        proposals: vec![
            proposal(
                "acme.offer",
                vec![c(), text("FR"), tz("Europe/Paris")],
                Some(ar(ArithOp::Mul, field(c(), C_AGE), n())),
                Some(field(c(), C_VIP)),
            ),
            proposal("acme.offer", vec![c(), slot(2), tz("UTC")], Some(n()), None),
            proposal(
                "acme.offer",
                vec![c(), field(field(c(), C_ADDR), 0), tz("America/New_York")],
                Some(int(100)),
                Some(cmp(CmpOp::Gt, field(c(), C_AGE), n())),
            ),
            proposal("acme.unguarded", vec![c()], Some(Expr::Neg(b(n()))), None),
            proposal(
                "acme.offer",
                vec![c(), text("DE"), tz("UTC")],
                Some(n()),
                // fails when the backup address is absent
                Some(cmp(CmpOp::Eq, field(field(c(), C_BACKUP), 0), text("DE"))),
            ),
            proposal(
                "acme.note",
                vec![ar(ArithOp::Add, n(), field(c(), C_AGE))],
                None,
                Some(cmp(CmpOp::Lt, n(), int(50))),
            ),
            proposal(
                "acme.note",
                vec![n()],
                Some(Expr::If(b(field(c(), C_VIP)), b(n()), b(int(0)))),
                None,
            ),
        ],
    };
    for (i, prop) in nba.proposals.iter_mut().enumerate() {
        prop.source.line = 10 + i as u32;
    }
    let decimal = DecisionDef {
        name: "decimal".into(),
        qualified: "acme.decimal".into(),
        params: vec![param("n", Type::Int)],
        now_slot: None,
        slots: 1,
        proposals: vec![proposal(
            "acme.note",
            vec![slot(0)],
            Some(Expr::Const(Value::Decimal(1.into()))),
            None,
        )],
    };
    let empty = DecisionDef {
        name: "empty".into(),
        qualified: "acme.empty".into(),
        params: vec![param("n", Type::Int)],
        now_slot: None,
        slots: 1,
        proposals: Vec::new(),
    };
    p.decisions = vec![nba, decimal, empty];
    p
}

#[test]
fn decisions_rank_like_the_interpreter() {
    let p = decision_program();
    let jit = jit::compile(&p);
    assert_eq!(jit.decision_unsupported(0), None);
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for _ in 0..20_000 {
        let mut args: Vec<Value> = p.decisions[0]
            .params
            .iter()
            .map(|x| gen_value(&mut rng, &p, &x.ty))
            .collect();
        if rng.chance(2) {
            args[rng.below(3) as usize] = Value::Bool(true);
        }
        if rng.chance(1) {
            args.pop();
        }
        let t = now(&mut rng);
        let expected = interp::rank(&p, 0, &args, t, &NoSignals);
        let got = jit.decide_decision(0, &args, t);
        assert_eq!(got.as_ref(), Some(&expected), "args {args:?}, now {t}");
        match &expected {
            Err(d) => *seen.entry(format!("refused {}", d.reasons[0])).or_default() += 1,
            Ok(cands) => {
                *seen
                    .entry(format!("{} candidates", cands.len()))
                    .or_default() += 1;
                for w in cands.windows(2) {
                    if w[0].rank == w[1].rank {
                        *seen.entry("tie".into()).or_default() += 1;
                    }
                }
                for c in cands {
                    let d = &c.decision;
                    let what = match d.error.as_deref() {
                        Some(e) if e.starts_with("proposal") => "candidate error".to_string(),
                        Some(_) => "rule error".to_string(),
                        None => format!("{:?}", d.verdict),
                    };
                    *seen.entry(format!("line {} {what}", c.line)).or_default() += 1;
                    for r in &d.fired {
                        *seen.entry(r.clone()).or_default() += 1;
                    }
                }
            }
        }
    }
    // The inputs reach every outcome the test is about.
    for key in [
        "refused xop:bad-input",
        "3 candidates",
        "7 candidates",
        "tie",
        "line 10 candidate error",
        "line 10 Deny",
        "line 11 rule error",
        "line 11 Allow",
        "line 11 Review",
        "line 12 rule error",
        "line 13 Deny",
        "line 13 candidate error",
        "line 14 candidate error",
        "line 15 candidate error",
        "line 15 Allow",
        "line 16 Deny",
        "acme.second#4",
        "acme.second#7",
    ] {
        assert!(
            seen.get(key).copied().unwrap_or(0) > 0,
            "{key} never seen: {seen:?}"
        );
    }
}

#[test]
fn decisions_hot_path_and_fallback() {
    let p = decision_program();
    let jit = jit::compile(&p);
    // A Decimal rank is compiled (three words per rank) and ranks as the interpreter does.
    assert_eq!(jit.decision_unsupported(1), None);
    let ranked = jit.decide_decision(1, &[Value::Int(1)], 0);
    assert_eq!(
        ranked,
        Some(interp::rank(&p, 1, &[Value::Int(1)], 0, &NoSignals))
    );
    assert_eq!(
        ranked.and_then(Result::ok).expect("ranked")[0].rank,
        Value::Decimal(1.into())
    );
    let input = jit.bind_decision(1, &[Value::Int(1)]).expect("valid input");
    let mut out = jit.decision_output(1);
    jit.run_decision(&input, 0, &mut out).expect("runs");
    assert_eq!(out.rank(0), Some(Value::Decimal(1.into())));
    assert_eq!(out.candidate(0), Some((0, 1)));
    // A rank of another kind is not compiled: the interpreter ranks it, and the reason says
    // why.
    let mut money = p.clone();
    money.decisions[1].proposals[0].rank = Some(Expr::Const(Value::Money(
        1.into(),
        std::sync::Arc::from("EUR"),
    )));
    let money_jit = jit::compile(&money);
    assert!(
        money_jit
            .decision_unsupported(1)
            .expect("a reason")
            .contains("ranks by a value of kind Money")
    );
    assert_eq!(money_jit.decide_decision(1, &[Value::Int(1)], 0), None);
    // No proposal: no candidate.
    assert_eq!(
        jit.decide_decision(2, &[Value::Int(1)], 0),
        Some(interp::rank(&p, 2, &[Value::Int(1)], 0, &NoSignals))
    );
    // No such decision fails closed like the interpreter.
    assert_eq!(
        jit.decide_decision(9, &[], 0),
        Some(interp::rank(&p, 9, &[], 0, &NoSignals))
    );
    // Bound once, run into a reused output: the ranked pairs and verdicts without allocating.
    let mut rng = Rng(7);
    let mut out = jit.decision_output(0);
    for _ in 0..200 {
        let args: Vec<Value> = p.decisions[0]
            .params
            .iter()
            .map(|x| gen_value(&mut rng, &p, &x.ty))
            .collect();
        let input = jit.bind_decision(0, &args).expect("valid input");
        jit.run_decision(&input, 1000, &mut out).expect("runs");
        let expected = interp::rank(&p, 0, &args, 1000, &NoSignals).expect("valid input");
        assert_eq!(out.len(), expected.len());
        for (k, c) in expected.iter().enumerate() {
            let (prop, rank) = out.candidate(k).expect("a candidate");
            assert_eq!(p.decisions[0].proposals[prop].source.line, c.line);
            assert_eq!(Value::Int(rank), c.rank);
            let verdict = (c.decision.error.is_none()).then_some(c.decision.verdict);
            assert_eq!(out.verdict(&jit, prop), verdict);
        }
        assert_eq!(jit.candidates(&input, &out, &args, 1000), expected);
    }
    // Inputs and outputs of policies and decisions do not mix.
    let input = jit
        .bind_decision(
            0,
            &[
                gen_value(&mut rng, &p, &Type::Record(1)),
                Value::Int(1),
                Value::text("FR"),
            ],
        )
        .expect("valid input");
    let mut pout = jit.output(0);
    assert_eq!(jit.run(&input, 0, &mut pout), Err(jit::RunError::Mismatch));
    let mut other = jit.decision_output(2);
    assert_eq!(
        jit.run_decision(&input, 0, &mut other),
        Err(jit::RunError::Mismatch)
    );
}

/// Two candidates whose policies have rules at the same places: the first's are an equality
/// switch, the second's are not. What the generator learned of the first candidate's rules
/// must not be used for the second's.
#[test]
fn each_candidate_is_compiled_from_its_own_rules() {
    let mut p = base_program();
    let n = || slot(0);
    // Five deny rules `n <op> 0, 10, …, 40`, named `<name>0` to `<name>4`.
    let policy = |name: &'static str, op: CmpOp| {
        let rules: Vec<RuleSpec> = (0..5)
            .map(|k| {
                let reason: &'static str = format!("{name}{k}").leak();
                (
                    Verdict::Deny,
                    reason,
                    Some(cmp(op, n(), int(10 * k as i64))),
                )
            })
            .collect();
        let action = format!("acme.{name}");
        guard_policy(name, &action, vec![param("n", Type::Int)], None, rules)
    };
    p.policies = vec![policy("eq", CmpOp::Eq), policy("lt", CmpOp::Lt)];
    p.decisions = vec![DecisionDef {
        name: "pick".into(),
        qualified: "acme.pick".into(),
        params: vec![param("n", Type::Int)],
        now_slot: None,
        slots: 1,
        proposals: vec![
            proposal("acme.eq", vec![n()], None, None),
            proposal("acme.lt", vec![n()], None, None),
        ],
    }];
    let jit = jit::compile(&p);
    assert_eq!(jit.decision_unsupported(0), None);
    for v in -5..55 {
        let args = [Value::Int(v)];
        let expected = interp::rank(&p, 0, &args, 0, &NoSignals);
        assert_eq!(jit.decide_decision(0, &args, 0), Some(expected), "n = {v}");
    }
}
