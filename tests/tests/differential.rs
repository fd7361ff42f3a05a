//! Differential testing: for every policy of the examples (ACME and the scenarios) and of the
//! conformance corpus that the JIT compiles, random well-typed inputs give the same decision in
//! the JIT and in the reference interpreter. A policy that reads signals gets random signal
//! values (well-typed near the decision time, absent, or out of contract), the same for both
//! engines, which must make the same reads. At least 100,000 comparisons per run; longer runs:
//! raise `XOP_DIFFERENTIAL_CASES` (inputs per policy).

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;

use xop_runtime::interp::{self, Signals};
use xop_runtime::ir::{Program, SignalDecl, Type};
use xop_runtime::sample::Sampler;
use xop_runtime::value::Value;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// One read: the signal, its arguments, the value answered.
type Read = (u32, Vec<Value>, Value);

/// A seeded source of random signal values: a quarter absent or out of the declared type's
/// contract, the others well-typed, with times and durations mostly near the decision time
/// (so that `swapped_within` windows both hit and miss, edges included). Keeps its reads.
struct RandomSignals<'a> {
    program: &'a Program,
    now: i64,
    sampler: &'a RefCell<Sampler>,
    reads: RefCell<Vec<Read>>,
}

impl RandomSignals<'_> {
    /// `v` with its times and durations moved near `self.now` (most of them).
    fn near(&self, s: &mut Sampler, v: Value) -> Value {
        let pick = |s: &mut Sampler, xs: &[i64]| xs[(s.next_u64() % xs.len() as u64) as usize];
        match v {
            Value::Time(_) if !s.next_u64().is_multiple_of(4) => {
                let offsets = [
                    -30 * DAY,
                    -2 * DAY,
                    -DAY - 1,
                    -DAY,
                    -DAY + 1,
                    -HOUR,
                    0,
                    HOUR,
                ];
                Value::Time(self.now.saturating_add(pick(s, &offsets)))
            }
            Value::Duration(_) if !s.next_u64().is_multiple_of(4) => Value::Duration(pick(
                s,
                &[0, HOUR, 12 * HOUR, DAY - 1, DAY, DAY + 1, 2 * DAY],
            )),
            Value::Record(r, fields) => {
                Value::Record(r, fields.iter().map(|f| self.near(s, f.clone())).collect())
            }
            Value::List(xs) => Value::List(xs.iter().map(|x| self.near(s, x.clone())).collect()),
            v => v,
        }
    }

    /// A value that does not match `ty`: of another kind, or a record of the type with a
    /// field missing or of another kind.
    fn out_of_contract(&self, s: &mut Sampler, ty: &Type) -> Value {
        let other = if matches!(ty, Type::Int) {
            Value::text("not an Int")
        } else {
            Value::Int(7)
        };
        match (s.value(self.program, ty), s.next_u64() % 3) {
            (Some(Value::Record(r, fields)), 0) if !fields.is_empty() => {
                Value::Record(r, fields[1..].to_vec().into())
            }
            (Some(Value::Record(r, fields)), 1) if !fields.is_empty() => {
                let mut fields = fields.to_vec();
                fields[0] = Value::Tz(Arc::from("Not/AZone"));
                Value::Record(r, fields.into())
            }
            _ => other,
        }
    }
}

impl Signals for RandomSignals<'_> {
    fn read(&self, signal: u32, decl: &SignalDecl, args: &[Value]) -> Value {
        let mut s = self.sampler.borrow_mut();
        let v = match s.next_u64() % 8 {
            0 => Value::Absent,
            1 => self.out_of_contract(&mut s, &decl.ty),
            _ => match s.value(self.program, &decl.ty) {
                Some(v) => self.near(&mut s, v),
                None => Value::Absent,
            },
        };
        self.reads
            .borrow_mut()
            .push((signal, args.to_vec(), v.clone()));
        v
    }
}

/// Answers the reads of a tape in order: the `k`-th read gets the `k`-th value if it reads
/// the same signal with the same arguments, else absent (and the reads differ, which the test
/// catches). Keeps its reads.
struct Tape<'a> {
    tape: &'a [Read],
    next: Cell<usize>,
    reads: RefCell<Vec<Read>>,
}

impl Signals for Tape<'_> {
    fn read(&self, signal: u32, _decl: &SignalDecl, args: &[Value]) -> Value {
        let k = self.next.get();
        self.next.set(k + 1);
        let v = match self.tape.get(k) {
            Some((s, a, v)) if *s == signal && a == args => v.clone(),
            _ => Value::Absent,
        };
        self.reads
            .borrow_mut()
            .push((signal, args.to_vec(), v.clone()));
        v
    }
}

/// Compiles every `.xop` file under `dir` into one program.
fn program(dir: &Path) -> Program {
    let mut ws = xop_compiler::db::Workspace::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("readable folder");
        if entry.path().extension().is_some_and(|e| e == "xop") {
            let text = std::fs::read_to_string(entry.path()).expect("readable file");
            ws.set_file(&entry.path().display().to_string(), text);
        }
    }
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", dir.display());
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

/// How many policies of ACME and the conformance corpus the JIT compiles (update it when the
/// JIT learns a construct or the corpus grows).
const COMPILED: usize = 50;

/// What the JIT refuses, and why: nothing (text ordering and concatenation are compiled since
/// the `jit-text` work, Decimal and Money since `jit-decimal`, list and set literals compared
/// with a list of the input since then, lists of the input compared with each other and
/// optional lists since `lists`, signals and `swapped_within` since `sig`).
const REFUSED: &[&str] = &[];

/// The compiled policies that read signals, compared with random signal values.
const SIGNAL_POLICIES: &[&str] = &[
    "acme.fraud.fraud",
    "scenario.sim_swap.fraud",
    "conf.signals.swaps",
    "conf.signals.by_data",
];

/// Policies that order or concatenate texts, compiled and so compared.
const TEXT_POLICIES: &[&str] = &["conf.quantities.scheduling", "conf.functions.accounts"];

/// How many of them read a Decimal or Money value, at least.
const DECIMAL_POLICIES: usize = 8;

#[test]
fn jit_and_interpreter_agree_on_random_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut projects = vec![root.join("examples/acme")];
    for parent in [
        root.join("examples/scenarios"),
        root.join("tests/conformance"),
    ] {
        let Ok(rd) = std::fs::read_dir(&parent) else {
            continue;
        };
        let mut dirs: Vec<_> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        projects.extend(dirs);
    }
    let per_policy: usize = std::env::var("XOP_DIFFERENTIAL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // First pass: which policies does the JIT compile?
    let mut compiled: Vec<(Program, xop_runtime::jit::JitModule, Vec<usize>)> = Vec::new();
    for dir in &projects {
        let p = program(dir);
        let jit = xop_runtime::jit::compile(&p);
        let supported: Vec<usize> = (0..p.policies.len())
            .filter(|&i| jit.unsupported(i).is_none())
            .collect();
        compiled.push((p, jit, supported));
    }
    let policies: usize = compiled.iter().map(|(_, _, s)| s.len()).sum();
    // What the JIT still refuses, and why: only constructs it does not compile yet (signals,
    // say), never Decimal or Money, which it compiles since the `jit-decimal` work.
    let refused: Vec<String> = compiled
        .iter()
        .flat_map(|(p, jit, _)| {
            (0..p.policies.len()).filter_map(move |i| {
                jit.unsupported(i)
                    .map(|why| format!("{}: {why}", p.policies[i].qualified))
            })
        })
        .collect();
    eprintln!("{policies} policies compiled; refused: {refused:#?}");
    assert_eq!(refused, REFUSED, "the JIT refuses other policies");
    for name in TEXT_POLICIES {
        let compiled = compiled
            .iter()
            .any(|(p, _, supported)| supported.iter().any(|&i| p.policies[i].qualified == *name));
        assert!(compiled, "{name} is not compiled by the JIT");
    }
    // The policies that read Decimal or Money (refunds, charging, comparing, …) are compared.
    let decimal_policies = compiled
        .iter()
        .map(|(p, _, supported)| {
            supported
                .iter()
                .filter(|&&i| {
                    format!("{:?}", p.policies[i]).contains("Decimal")
                        || format!("{:?}", p.policies[i]).contains("Money")
                })
                .count()
        })
        .sum::<usize>();
    eprintln!("{decimal_policies} of them read Decimal or Money");
    assert!(
        decimal_policies >= DECIMAL_POLICIES,
        "only {decimal_policies} Decimal/Money policies compiled"
    );
    assert_eq!(
        policies, COMPILED,
        "the JIT compiles another number of policies: {refused:#?}"
    );
    let per_policy = if per_policy > 0 {
        per_policy
    } else {
        100_000usize.div_ceil(policies)
    };
    let mut comparisons = 0usize;
    let mut seed = 1u64;
    // Per policy that reads signals: how many comparisons read at least one, how many read a
    // present value, and the distinct outcomes (verdict and reasons) they gave.
    let mut signal_reads: Vec<(String, usize, usize)> = Vec::new();
    let mut outcomes: Vec<(String, Vec<String>)> = Vec::new();
    for (p, jit, supported) in &compiled {
        for &i in supported {
            let mut sampler = Sampler::new(p, seed);
            let values = RefCell::new(Sampler::new(p, seed ^ 0x5167_6e61_6c73));
            seed += 1;
            let name = &p.policies[i].qualified;
            let mut reading = (0, 0);
            let mut seen: Vec<String> = Vec::new();
            for _ in 0..per_policy {
                let Some(args) = sampler.args(p, i) else {
                    break;
                };
                let now = 1_767_225_600_000 + (sampler.next_u64() % 31_536_000_000) as i64;
                let random = RandomSignals {
                    program: p,
                    now,
                    sampler: &values,
                    reads: RefCell::new(Vec::new()),
                };
                let expected = interp::decide(p, i, &args, now, &random);
                let tape = random.reads.into_inner();
                let replay = Tape {
                    tape: &tape,
                    next: Cell::new(0),
                    reads: RefCell::new(Vec::new()),
                };
                let actual = jit.decide_with_signals(i, &args, now, &replay);
                assert_eq!(
                    actual.as_ref(),
                    Some(&expected),
                    "policy {name} on {args:?} at {now}, signals {tape:?}"
                );
                assert_eq!(
                    replay.reads.into_inner(),
                    tape,
                    "policy {name} on {args:?} at {now}: other reads"
                );
                if !tape.is_empty() {
                    reading.0 += 1;
                    reading.1 += usize::from(tape.iter().any(|r| r.2 != Value::Absent));
                    let outcome = format!("{:?} {:?}", expected.verdict, expected.reasons);
                    if !seen.contains(&outcome) {
                        seen.push(outcome);
                    }
                }
                comparisons += 1;
            }
            if reading.0 > 0 {
                signal_reads.push((name.clone(), reading.0, reading.1));
                outcomes.push((name.clone(), seen));
            }
        }
    }
    assert!(comparisons >= 100_000, "only {comparisons} comparisons");
    eprintln!("signal reads (policy, decisions reading, reading a value): {signal_reads:?}");
    let names: Vec<&str> = signal_reads.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, SIGNAL_POLICIES, "other policies read signals");
    for (name, reading, present) in &signal_reads {
        assert!(
            *present * 2 >= *reading,
            "{name}: only {present} of {reading} decisions read a value"
        );
    }
    // The random values reach more than one outcome (the fraud policies have two: review
    // for a recent swap or no answer, deny otherwise).
    eprintln!("their outcomes: {outcomes:#?}");
    for (name, seen) in &outcomes {
        assert!(seen.len() >= 2, "{name}: only {seen:?}");
    }
}
