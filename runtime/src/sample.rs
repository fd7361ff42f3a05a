//! Random well-typed values for a program's types: the inputs of differential tests (the JIT
//! against the interpreter) and of long fuzzing runs. Deterministic for a seed, no dependency.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::ir::{Expr, Program, Type};
use crate::value::Value;

/// A seeded generator of values (xorshift64*), biased towards the constants the program
/// compares with, so that rules fire and do not fire in roughly equal measure.
pub struct Sampler {
    state: u64,
    texts: Vec<Arc<str>>,
    ints: Vec<i64>,
}

impl Sampler {
    /// A sampler for `program`'s types, from `seed`.
    pub fn new(program: &Program, seed: u64) -> Sampler {
        let mut texts: Vec<Arc<str>> = vec![Arc::from(""), Arc::from("x"), Arc::from("UTC")];
        let mut ints = vec![0, 1, -1, 2, 3, i64::MAX, i64::MIN];
        let mut visit = |e: &Expr| {
            if let Expr::Const(v) = e {
                match v {
                    Value::Text(s) | Value::Id(s) | Value::Tz(s) => texts.push(s.clone()),
                    Value::Int(i) | Value::Duration(i) => {
                        ints.extend([*i, i.saturating_sub(1), i.saturating_add(1)])
                    }
                    _ => {}
                }
            }
        };
        for p in &program.policies {
            for r in &p.rules {
                if let Some(c) = &r.condition {
                    c.walk(&mut visit);
                }
            }
        }
        texts.sort();
        texts.dedup();
        ints.sort_unstable();
        ints.dedup();
        Sampler {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            texts,
            ints,
        }
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % n as u64).unwrap_or(0)
    }

    fn int(&mut self) -> i64 {
        if self.below(4) == 0 {
            // Any value, extremes included (overflow paths).
            self.next_u64() as i64
        } else {
            let i = self.below(self.ints.len());
            self.ints[i]
        }
    }

    /// Mostly cents; now and then another scale (`1.5` against `1.50`), or an extreme (overflow,
    /// rounding at 28 digits, signed zeros).
    fn decimal(&mut self) -> Decimal {
        match self.below(8) {
            0 => Decimal::new(self.int() % 100_000, self.below(5) as u32),
            1 => {
                let extremes = [
                    Decimal::MAX,
                    Decimal::MIN,
                    Decimal::ZERO,
                    -Decimal::new(0, 2),
                    Decimal::new(1, 28),
                    Decimal::new(i64::MAX, 0),
                    Decimal::new(self.int(), 3),
                    Decimal::new(1, 0) / Decimal::new(3, 0),
                ];
                extremes[self.below(extremes.len())]
            }
            _ => Decimal::new(self.int() % 100_000, 2),
        }
    }

    fn text(&mut self) -> Arc<str> {
        let i = self.below(self.texts.len());
        self.texts[i].clone()
    }

    /// A value of type `ty`, or `None` for a type the program does not define.
    pub fn value(&mut self, program: &Program, ty: &Type) -> Option<Value> {
        self.value_at(program, ty, 0)
    }

    fn value_at(&mut self, program: &Program, ty: &Type, depth: u32) -> Option<Value> {
        if depth > 8 {
            return None;
        }
        Some(match ty {
            Type::Bool => Value::Bool(self.below(2) == 0),
            Type::Int => Value::Int(self.int()),
            Type::Decimal => Value::Decimal(self.decimal()),
            Type::Money => {
                let amount = self.decimal();
                // Now and then another currency (mixed-currency errors).
                let currency = if self.below(8) == 0 { "USD" } else { "EUR" };
                Value::Money(amount, Arc::from(currency))
            }
            Type::Text => Value::Text(self.text()),
            Type::Id => Value::Id(self.text()),
            Type::Tz => Value::Tz(Arc::from(
                ["UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo"][self.below(4)],
            )),
            Type::Duration => Value::Duration(self.int()),
            // Around 2026, where the examples' times are, and now and then anywhere.
            Type::Time => Value::Time(if self.below(8) == 0 {
                self.int()
            } else {
                1_767_225_600_000 + (self.next_u64() % 31_536_000_000) as i64
            }),
            Type::Symbol(kind) => {
                let of_kind: Vec<usize> = (0..program.symbols.len())
                    .filter(|&i| program.symbols[i].kind == *kind)
                    .collect();
                let i = *of_kind.get(self.below(of_kind.len()))?;
                Value::Symbol(u32::try_from(i).ok()?)
            }
            Type::Enum(e) => {
                let n = program.enums.get(*e as usize)?.variants.len();
                Value::Enum(*e, u32::try_from(self.below(n)).ok()?)
            }
            Type::Record(r) => {
                let rt = program.records.get(*r as usize)?;
                let mut fields = Vec::with_capacity(rt.fields.len());
                for f in &rt.fields {
                    fields.push(self.value_at(program, &f.ty, depth + 1)?);
                }
                Value::Record(*r, Arc::from(fields))
            }
            Type::List(t) | Type::Set(t) => {
                let n = self.below(4);
                let mut xs = Vec::with_capacity(n);
                for _ in 0..n {
                    xs.push(self.value_at(program, t, depth + 1)?);
                }
                if matches!(ty, Type::Set(_)) {
                    xs.sort();
                    xs.dedup();
                }
                Value::List(Arc::from(xs))
            }
            Type::Optional(t) => {
                if self.below(3) == 0 {
                    Value::Absent
                } else {
                    self.value_at(program, t, depth + 1)?
                }
            }
        })
    }

    /// Arguments for policy `policy`'s parameters.
    pub fn args(&mut self, program: &Program, policy: usize) -> Option<Vec<Value>> {
        let p = program.policies.get(policy)?;
        p.params
            .iter()
            .map(|param| self.value(program, &param.ty))
            .collect()
    }
}
