//! Inputs with many distinct strings that are no constant of the module: the JIT interns them
//! through a hash index once there are more than a few (it compared each new string with every
//! earlier one, which made binding quadratic). Whatever the way of interning, the ids must be
//! the same: equal texts one id, ids numbered in order of first appearance in the layout (the
//! proof record and both engines rely on it). Checked here from values and from JSON (the
//! reader's scanner, its replay and its compiled shape), against the interpreter's decisions
//! and against the order worked out from the input itself, with a run's own texts
//! (concatenations, a signal's value) looked up among those strings too.

use std::collections::{BTreeSet, HashSet};

use xop_runtime::interp::{self, Decision, FixedSignals};
use xop_runtime::ir::build::{b, cmp, program, rule, slot};
use xop_runtime::ir::{ArithOp, CmpOp, Expr, Program, Quantifier, Rule, SignalDecl, Type, Verdict};
use xop_runtime::jit::{self, Bound, JitModule};
use xop_runtime::value::Value;

fn text(s: &str) -> Expr {
    Expr::Const(Value::text(s))
}

fn int(n: i64) -> Expr {
    Expr::Const(Value::Int(n))
}

/// `quantifier(list, v => body)`, the element in slot 9.
fn quantify(quantifier: Quantifier, list: Expr, body: Expr) -> Expr {
    Expr::Quantify {
        quantifier,
        list: b(list),
        slot: 9,
        body: Some(b(body)),
    }
}

/// `count(list, v => body)`, the element in slot 9.
fn count_where(list: Expr, body: Expr) -> Expr {
    quantify(Quantifier::Count, list, body)
}

/// `any(list, v => body)`, the element in slot 9.
fn any(list: Expr, body: Expr) -> Expr {
    quantify(Quantifier::Any, list, body)
}

fn concat(x: Expr, y: Expr) -> Expr {
    Expr::Arith(ArithOp::Add, b(x), b(y))
}

/// The signal `t.more: List<Text>`, or an empty list.
fn more() -> Expr {
    Expr::Default(b(Expr::Signal(0, vec![])), b(Expr::List(vec![])))
}

/// What a rule counts, by name, each allowing when its count is the one expected.
const COUNTS: [&str; 6] = [
    "tags",
    "probes-in-tags",
    "probes-joined-in-tags",
    "xs-vip",
    "signal-in-tags",
    "signal-joined-in-tags",
];

/// Policy `t.p(a0: Text, a1: Set<Text> (or List<Text>), a2: List<Text>, a3: List<Text>)`
/// with the signal `t.more: List<Text>`: `a1` the many tags, `a2` many strings more, `a3` a
/// few probes read after both. A deny rule per constant; then one allow rule per count of
/// `COUNTS` and per `expected` value of it (so that the reasons show each count), comparing
/// texts by id across parameters, with concatenations (`v + "-"`) that equal input strings,
/// and the signal's texts; and one comparing the signal's texts with a concatenation that no
/// input holds (`a0 + "z"`).
fn strings_program(set: bool, expected: &[i64; 6]) -> Program {
    let tags = || slot(1);
    let in_tags = |e: Expr| Expr::In(b(e), b(tags()));
    let v = || slot(9);
    let counted = [
        Expr::Quantify {
            quantifier: Quantifier::Count,
            list: b(tags()),
            slot: 9,
            body: None,
        },
        count_where(slot(3), in_tags(v())),
        count_where(slot(3), in_tags(concat(v(), text("-")))),
        count_where(slot(2), cmp(CmpOp::Eq, v(), text("vip"))),
        count_where(more(), in_tags(v())),
        count_where(more(), in_tags(concat(v(), text("-")))),
    ];
    let mut rules: Vec<Rule> = vec![
        rule(
            1,
            Verdict::Deny,
            "vip",
            Some(Expr::In(b(text("vip")), b(tags()))),
        ),
        rule(
            2,
            Verdict::Deny,
            "bad",
            Some(cmp(CmpOp::Eq, slot(0), text("bad"))),
        ),
    ];
    for (i, (c, n)) in counted.into_iter().zip(expected).enumerate() {
        rules.push(rule(
            3 + i,
            Verdict::Allow,
            COUNTS[i],
            Some(cmp(CmpOp::Eq, c, int(*n))),
        ));
    }
    rules.push(rule(
        9,
        Verdict::Allow,
        "signal-is-a0-z",
        Some(any(more(), cmp(CmpOp::Eq, v(), concat(slot(0), text("z"))))),
    ));
    let list_of = |t| Type::List(Box::new(t));
    let tags_ty = if set {
        Type::Set(Box::new(Type::Text))
    } else {
        list_of(Type::Text)
    };
    let mut p = program(
        vec![
            Type::Text,
            tags_ty,
            list_of(Type::Text),
            list_of(Type::Text),
        ],
        rules,
    );
    p.policies[0].slots = 10;
    p.signals.push(SignalDecl {
        name: "t.more".into(),
        params: vec![],
        ty: list_of(Type::Text),
        source: "t.more".into(),
        source_args: vec![],
        max_age_ms: None,
    });
    p
}

/// The constants an input below holds some of (each a constant of the program).
const CONSTANTS: [&str; 4] = ["vip", "bad", "-", "z"];

/// One input: `a0`, the tags (`a1`, given in this order, repeats included), `a2`, the probes
/// (`a3`) and the signal's texts.
struct Input {
    a0: String,
    tags: Vec<String>,
    xs: Vec<String>,
    probes: Vec<String>,
    signal: Vec<String>,
}

/// A deterministic PRNG (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// An input of about `n` distinct tags and `n` strings more (`seed` varies which and in what
/// order): repeats interleaved (each tag again later, some strings of `a2` equal to tags),
/// constants mixed in, tags `x{i}-` that `x{i}` joined with `-` equals, probes from early,
/// late and absent strings, and a signal of texts from the input, new ones (repeated), and
/// `{a0}z`, which only a run's concatenation makes otherwise.
fn input(n: usize, seed: u64, a0: &str) -> Input {
    let mut rng = Rng(seed | 1);
    let mut tags = Vec::new();
    for i in 0..n {
        tags.push(if i % 3 == 0 {
            format!("x{i}-")
        } else {
            format!("t{seed}.{i}")
        });
        if i % 7 == 0 {
            let again = rng.below(tags.len());
            tags.push(tags[again].clone());
        }
        // Constants but `vip`, which only the input of seed 6 holds (its rule denies).
        if i % 997 == 0 {
            tags.push(CONSTANTS[1 + (i / 997) % 3].to_string());
        }
        if seed == 6 && i == n / 2 {
            tags.push("vip".into());
        }
    }
    let mut xs = Vec::new();
    for i in 0..n {
        xs.push(match i % 5 {
            0 => tags[rng.below(tags.len())].clone(),
            1 => format!("x{i}"),
            _ => format!("u{seed}.{i}"),
        });
        if i % 11 == 0 {
            let again = rng.below(xs.len());
            xs.push(xs[again].clone());
        }
        if i % 1009 == 0 {
            xs.push("vip".into());
        }
    }
    let mut probes: Vec<String> = Vec::new();
    for _ in 0..40 {
        probes.push(match rng.below(6) {
            0 => tags[rng.below(tags.len().min(20))].clone(),
            1 => tags[rng.below(tags.len())].clone(),
            2 => xs[rng.below(xs.len())].clone(),
            3 => format!("x{}", 3 * rng.below(n.div_ceil(3))),
            4 => format!("absent{}", rng.below(8)),
            _ => CONSTANTS[rng.below(4)].to_string(),
        });
    }
    let mut signal = probes.clone();
    signal.extend((0..10).map(|i| format!("new{}", i % 4)));
    signal.push(format!("{a0}z"));
    signal.extend((0..10).map(|_| xs[rng.below(xs.len())].clone()));
    Input {
        a0: a0.into(),
        tags,
        xs,
        probes,
        signal,
    }
}

fn texts(xs: &[String]) -> Value {
    Value::List(xs.iter().map(|s| Value::text(s)).collect::<Vec<_>>().into())
}

impl Input {
    fn args(&self) -> Vec<Value> {
        vec![
            Value::text(&self.a0),
            texts(&self.tags),
            texts(&self.xs),
            texts(&self.probes),
        ]
    }

    fn json(&self) -> String {
        serde_json::json!({
            "a0": self.a0, "a1": self.tags, "a2": self.xs, "a3": self.probes,
        })
        .to_string()
    }

    /// The same input with every string that is no constant prefixed with `r`: as many
    /// strings, in the same places, equal where they were equal, joined with `-` and `z` alike.
    fn renamed(&self) -> Input {
        let r = |s: &String| {
            if CONSTANTS.contains(&s.as_str()) {
                s.clone()
            } else {
                format!("r{s}")
            }
        };
        let all = |xs: &[String]| xs.iter().map(r).collect();
        Input {
            a0: r(&self.a0),
            tags: all(&self.tags),
            xs: all(&self.xs),
            probes: all(&self.probes),
            signal: all(&self.signal),
        }
    }

    fn signals(&self) -> FixedSignals {
        FixedSignals(vec![(0, texts(&self.signal))])
    }

    /// The tags as the policy has them: sorted and without repeats for a set.
    fn tags_as_bound(&self, set: bool) -> Vec<String> {
        if set {
            let sorted: BTreeSet<&String> = self.tags.iter().collect();
            sorted.into_iter().cloned().collect()
        } else {
            self.tags.clone()
        }
    }

    /// Each count of `COUNTS`, worked out here from the strings.
    fn counts(&self, set: bool) -> [i64; 6] {
        let tags: HashSet<&str> = self.tags.iter().map(String::as_str).collect();
        let count = |xs: &[String], f: &dyn Fn(&str) -> bool| {
            xs.iter().filter(|x| f(x.as_str())).count() as i64
        };
        let joined_in_tags = |x: &str| tags.contains(format!("{x}-").as_str());
        [
            self.tags_as_bound(set).len() as i64,
            count(&self.probes, &|x| tags.contains(x)),
            count(&self.probes, &joined_in_tags),
            count(&self.xs, &|x| x == "vip"),
            count(&self.signal, &|x| tags.contains(x)),
            count(&self.signal, &joined_in_tags),
        ]
    }
}

/// Checks `bound`'s strings against the order worked out from `input`: every string word of
/// the layout (`a0`, then `a1`'s elements, `a2`'s, `a3`'s, each list where its header says)
/// holds the id of its text (a constant's below the first input string's id), and the input's
/// strings are numbered in the order the layout first meets them, each once.
fn check_ids(bound: &Bound, input: &Input, set: bool) {
    let words = bound.words();
    let strings = bound.strings();
    let base = words[0];
    assert_eq!(strings.first(), Some(&input.a0), "a0 is the first string");
    let unique: HashSet<&String> = strings.iter().collect();
    assert_eq!(unique.len(), strings.len(), "a string interned twice");
    let mut next = 0;
    let mut meet = |w: i64, s: &str, at: &str| {
        if CONSTANTS.contains(&s) {
            assert!(
                w < base,
                "{at}: the constant {s:?} has id {w}, not a constant's"
            );
            return;
        }
        let k = usize::try_from(w - base).expect("an input string's id");
        assert_eq!(strings.get(k).map(String::as_str), Some(s), "{at}: id {w}");
        assert!(k <= next, "{at}: id {w} met before ids up to {next}");
        if k == next {
            next += 1;
        }
    };
    meet(words[0], &input.a0, "a0");
    let lists = [
        input.tags_as_bound(set),
        input.xs.clone(),
        input.probes.clone(),
    ];
    for (j, list) in lists.iter().enumerate() {
        let (start, len) = (words[1 + 2 * j] as usize, words[2 + 2 * j] as usize);
        assert_eq!(len, list.len(), "a{}'s length", j + 1);
        for (i, s) in list.iter().enumerate() {
            meet(words[start + i], s, &format!("a{}[{i}]", j + 1));
        }
    }
    assert_eq!(next, strings.len(), "strings no word holds");
}

/// The JIT's decision of policy 0 on the `bound` input, at time 0, reading `signals`.
fn jit_decision(module: &JitModule, bound: &Bound, signals: &FixedSignals) -> Decision {
    let mut out = module.output(0);
    module
        .run_with_signals(bound, 0, signals, &mut out)
        .expect("runs");
    module.decision(bound, &out)
}

/// Decides `input` on the interpreter and on the JIT from values and from JSON (read by
/// `reader` three times: scanned, then replaying the shape it learned, then with that shape
/// compiled, where the plan allows), checks the ids of both layouts, and gives the
/// interpreter's decision and whether reads were replayed and compiled.
fn decide_all_ways(
    p: &Program,
    module: &JitModule,
    reader: &mut jit::JsonReader,
    input: &Input,
    set: bool,
) -> (Decision, bool, bool) {
    let args = input.args();
    let signals = input.signals();
    let by_interp = interp::decide(p, 0, &args, 0, &signals);
    let by_values = module
        .decide_with_signals(0, &args, 0, &signals)
        .expect("the JIT compiles the policy");
    assert_eq!(by_values, by_interp, "from values: the engines disagree");
    let from_values = module.bind(0, &args).expect("the values bind");
    check_ids(&from_values, input, set);
    let json = input.json();
    let (mut replayed, mut compiled) = (false, false);
    for read in 0..3 {
        if read == 2 {
            reader.compile_now();
        }
        let mut laid = Bound::empty();
        reader
            .bind_json_into(module, &json, &mut laid)
            .expect("the JIT's reader binds");
        assert_eq!(
            jit_decision(module, &laid, &signals),
            by_interp,
            "from JSON (read {read}): the JIT disagrees with the interpreter"
        );
        assert!(
            laid.same_layout(&from_values),
            "read {read}: values and JSON laid out differently"
        );
        replayed |= reader.replayed();
        compiled |= reader.compiled();
    }
    (by_interp, replayed, compiled)
}

/// Every count rule and the concatenation rule hold, so the reasons show that each count
/// (worked out from the strings) is the one both engines found.
fn check_reasons(d: &Decision, has_vip: bool) {
    let mut expected: Vec<&str> = if has_vip { vec!["vip"] } else { Vec::new() };
    if !has_vip {
        expected.extend(COUNTS);
        expected.push("signal-is-a0-z");
    }
    let reasons: Vec<&str> = d.reasons.iter().map(String::as_str).collect();
    assert_eq!(reasons, expected, "{d:?}");
}

fn check_many_strings(set: bool) {
    // Inputs of one shape, read in turn by one reader into fresh buffers: large ones (the
    // index used) and small ones (compared one by one), around the switch and far past it.
    for (round, &(n, seed)) in [(20_000, 1), (12, 2), (17, 3), (5, 4), (30, 5), (2_000, 6)]
        .iter()
        .enumerate()
    {
        let a0 = format!("first{round}");
        let inp = input(n, seed, &a0);
        let counts = inp.counts(set);
        assert!(
            counts[1] > 0 && counts[2] > 0 && counts[4] > 0 && counts[5] > 0,
            "the probes and the signal meet tags: {counts:?}"
        );
        let p = strings_program(set, &counts);
        let module = jit::compile(&p);
        assert_eq!(module.unsupported(0), None, "the JIT compiles the policy");
        let mut reader = module.json_reader(0).expect("a reader");
        let has_vip = inp.tags.iter().any(|t| t == "vip");
        let (d, replayed, compiled) = decide_all_ways(&p, &module, &mut reader, &inp, set);
        // Lists alone are read straight into the layout, so the shape is replayed and
        // compiled; a set is not (its elements are sorted when placed).
        assert_eq!((replayed, compiled), (!set, !set), "round {round}");
        check_reasons(&d, has_vip);
        assert_eq!(
            d.verdict,
            if has_vip {
                Verdict::Deny
            } else {
                Verdict::Allow
            }
        );
    }
}

#[test]
fn many_strings_in_a_set_keep_their_ids() {
    check_many_strings(true);
}

#[test]
fn many_strings_in_lists_keep_their_ids() {
    check_many_strings(false);
}

/// One reader and one input buffer reused across inputs of different sizes, bound in turn
/// from values and from JSON, each input followed by a copy of it with every string renamed
/// (as many strings in the same places, other texts): whatever index the buffer or the reader
/// kept from the input before, the same layout as a fresh bind, and the interpreter's decision.
#[test]
fn reused_buffers_keep_the_ids_across_inputs() {
    for set in [true, false] {
        let first = input(3_000, 7, "a");
        let p = strings_program(set, &first.counts(set));
        let module = jit::compile(&p);
        let mut reader = module.json_reader(0).expect("a reader");
        let mut buf = Bound::empty();
        let sizes = [3_000, 20, 16, 17, 18, 40, 2, 100, 33];
        for (i, &n) in sizes.iter().enumerate() {
            let inp = input(n, 8 + i as u64, "a");
            let renamed = inp.renamed();
            for (k, one) in [&inp, &renamed, &inp, &renamed].into_iter().enumerate() {
                let args = one.args();
                let fresh = module.bind(0, &args).expect("the values bind");
                if k % 2 == 0 {
                    module
                        .bind_into(0, &args, &mut buf)
                        .expect("the values bind");
                } else {
                    reader
                        .bind_json_into(&module, &one.json(), &mut buf)
                        .expect("the reader binds");
                }
                check_ids(&buf, one, set);
                assert!(buf.same_layout(&fresh), "input {i} ({n} tags), bind {k}");
                let signals = one.signals();
                assert_eq!(
                    jit_decision(&module, &buf, &signals),
                    interp::decide(&p, 0, &args, 0, &signals),
                    "input {i} ({n} tags), bind {k}"
                );
            }
        }
    }
}
