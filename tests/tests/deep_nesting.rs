//! Deeply nested input never crashes the toolchain: every nesting construct, 20,000 levels
//! deep (ten times what overflows the stack without the limit), is reported as E0108 by checking, rendering and formatting on a thread with the 2 MiB
//! stack of the language server's workers (a stack overflow aborts the whole test binary, so
//! the test fails loudly). Long `and` and `or` chains are not nested: they check clean,
//! lower, compile and decide the same in both engines.

use xop_compiler::db::Workspace;
use xop_runtime::bind::bind_json;
use xop_runtime::interp::{self, NoSignals};
use xop_runtime::ir::Verdict;
use xop_runtime::jit;

/// Runs `f` on a thread with a 2 MiB stack, as the language server's workers have.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("a thread")
        .join()
        .expect("no panic")
}

/// A file whose policy's first rule has condition `cond`; `extra` goes before the policy.
fn source(extra: &str, ty: &str, cond: &str) -> String {
    format!(
        "module deep\n\nrecord R {{\n  a: Int\n  b: {ty}\n}}\n\npurpose service\n\n{extra}\n\n\
         action act(to: R) purpose service risk minimal\n\n\
         policy p for act(to: c) {{\n  deny \"x\" when {cond}\n  allow \"ok\"\n}}\n"
    )
}

/// The codes of the diagnostics of `text`, after rendering them and trying to format it.
fn codes(text: String) -> Vec<&'static str> {
    on_small_stack(move || {
        let mut ws = Workspace::new();
        ws.set_file("deep.xop", text.as_str());
        let diags = ws.diagnostics();
        let rendered = xop_compiler::render::human(&diags, &|_| Some(text.clone()), false);
        assert!(diags.is_empty() || !rendered.is_empty());
        let _ = xop_compiler::format::format(&text);
        diags.iter().map(|d| d.code).collect()
    })
}

#[test]
fn every_kind_of_deep_nesting_is_an_error_not_a_crash() {
    const N: usize = 20_000;
    let rep = |s: &str| s.repeat(N);
    let cases: Vec<(&str, String)> = vec![
        (
            "parentheses",
            source("", "Int", &format!("{}c.a > 1{}", rep("("), rep(")"))),
        ),
        ("not", source("", "Int", &format!("{}c.a > 1", rep("not ")))),
        (
            "unary minus",
            source("", "Int", &format!("{}c.a > 1", rep("-"))),
        ),
        (
            "+ chain",
            source("", "Int", &format!("c.a{} > 1", rep(" + 1"))),
        ),
        (
            "?? chain",
            // One operand a line: the checker rightly reports the operands it still reads,
            // and rendering each report would print one long line.
            source("", "Int?", &format!("c.b{} ?? 1 > 1", rep("\n    ?? c.b"))),
        ),
        (
            "else-if chain",
            source(
                "",
                "Int",
                &format!("{}true{}", rep("if c.a > 1 then "), rep(" else false")),
            ),
        ),
        (
            "lists",
            source("", "Int", &format!("{}{} == []", rep("["), rep("]"))),
        ),
        (
            "field chain",
            source("", "Int", &format!("c{} > 1", rep(".a"))),
        ),
        (
            "calls",
            source(
                "fn f(x: Int): Int = x",
                "Int",
                &format!("{}c.a{} > 1", rep("f("), rep(")")),
            ),
        ),
        (
            "method calls",
            source(
                "fn f(x: Int): Int = x",
                "Int",
                &format!("c.a{} > 1", rep(".f()")),
            ),
        ),
        (
            "lambdas",
            source(
                "",
                "List<Int>",
                &format!("{}true{}", rep("any(c.b, x => "), rep(")")),
            ),
        ),
        (
            "a type",
            source("", &format!("{}Int{}", rep("List<"), rep(" >")), "c.a > 1"),
        ),
        (
            "an optional type",
            source("", &format!("Int{}", rep("? ")), "c.a > 1"),
        ),
    ];
    for (what, text) in cases {
        let codes = codes(text);
        assert!(codes.contains(&"E0108"), "{what}: {codes:?}");
    }
}

/// The parser drops the deep trees it built when it recovers from a syntax error after them:
/// dropping a tree never recurses.
#[test]
fn deep_trees_dropped_by_error_recovery_do_not_crash() {
    const N: usize = 20_000;
    for open in ["f(c.a", "if c.a > 1 then c.a", "[c.a"] {
        let cond = format!("{open}{} ] > 1", " + 1".repeat(N));
        let codes = codes(source("fn f(x: Int): Int = x", "Int", &cond));
        assert!(
            codes.contains(&"E0103") || codes.contains(&"E0108"),
            "{open}: {codes:?}"
        );
    }
    // A type, dropped with the record it is in.
    let ty = format!("{}Int{} ]", "List<".repeat(N), " >".repeat(N));
    let codes = codes(source("", &ty, "c.a > 1"));
    assert!(codes.contains(&"E0103"), "{codes:?}");
}

#[test]
fn nesting_up_to_the_limit_is_accepted() {
    // 120 parentheses around a comparison of a field: 123 levels.
    let text = source(
        "",
        "Int",
        &format!("{}c.a > 1{}", "(".repeat(120), ")".repeat(120)),
    );
    assert_eq!(codes(text), Vec::<&str>::new());
}

/// `and` and `or` chains of any length are balanced, not nested: 2,000 conditions (as a
/// left-nested tree, 1,000 levels deep) check clean and are decided alike by the interpreter
/// and the JIT.
#[test]
fn long_and_or_chains_are_decided() {
    const N: i64 = 1_000;
    let all: Vec<String> = (0..N).map(|i| format!("c.a > {}", i - N)).collect();
    let any: Vec<String> = (0..N).map(|i| format!("c.a == {}", i * 7)).collect();
    let text = source(
        "",
        "Int",
        &format!("{} and ({})", all.join(" and "), any.join(" or ")),
    );
    let verdicts = on_small_stack(move || {
        let mut ws = Workspace::new();
        ws.set_file("deep.xop", text.as_str());
        let diags = ws.diagnostics();
        assert!(diags.is_empty(), "{diags:#?}");
        let program = xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowering");
        let (policy, _) = program.policy("p").expect("the policy");
        let module = jit::compile(&program);
        assert_eq!(module.unsupported(policy), None);
        [-N - 1, 0, 7, 8, 7 * (N - 1), 7 * N]
            .into_iter()
            .map(|a| {
                let input = format!(r#"{{"to": {{"a": {a}, "b": 0}}}}"#);
                let args = bind_json(&program, policy, &input).expect("bound").args;
                let slow = interp::decide(&program, policy, &args, 0, &NoSignals);
                let fast = module.decide(policy, &args, 0).expect("compiled");
                assert_eq!(slow, fast, "a = {a}");
                slow.verdict
            })
            .collect::<Vec<_>>()
    });
    use Verdict::{Allow, Deny};
    assert_eq!(verdicts, [Allow, Deny, Deny, Allow, Deny, Allow]);
}

/// The diagnostics of `text` (checked on a small stack) and what lowering makes of it, even
/// with errors: lowering keeps its own refusals as a backstop.
fn checked_and_lowered(
    text: String,
) -> (
    Vec<xop_compiler::diagnostic::Diagnostic>,
    Result<xop_runtime::ir::Program, Vec<String>>,
) {
    on_small_stack(move || {
        let mut ws = Workspace::new();
        ws.set_file("deep.xop", text.as_str());
        let diags = ws.diagnostics();
        let lowered = xop_compiler::lower::lower(ws.db(), ws.project());
        (diags, lowered)
    })
}

/// The errors among `diags`, as `CODE: message`.
fn errors(diags: &[xop_compiler::diagnostic::Diagnostic]) -> Vec<String> {
    (diags.iter())
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect()
}

/// Functions calling one another in a chain: 20,000 deep is reported by the checker (E0219,
/// in linear time: the call graph is measured once, callees first, without recursing along
/// it) at the rule's call, naming the chain as lowering does, and lowering still refuses it;
/// 60 deep checks clean, lowers and decides, unless the inlined bodies together are deeper
/// than the engines evaluate, which the checker reports too.
#[test]
fn long_call_chains_are_checked_and_refused_when_too_deep() {
    fn chain(n: usize) -> String {
        let mut fns = vec!["fn f0(x: Int): Int = x".to_string()];
        fns.extend((1..n).map(|i| format!("fn f{i}(x: Int): Int = f{}(x) + 1", i - 1)));
        source(&fns.join("\n"), "Int", &format!("f{}(c.a) > 100", n - 1))
    }
    let named = "`f19999` → `f19998` → … → `f19936` → `f19935` calls functions inside one another more than 64 deep";
    let (diags, lowered) = checked_and_lowered(chain(20_000));
    assert_eq!(errors(&diags), [format!("E0219: {named}")]);
    let at = &diags[0];
    assert_eq!(at.span.range().len(), "f19999(c.a)".len(), "{at:?}");
    assert_eq!(
        (at.secondary.len(), at.secondary[0].message.as_str()),
        (
            1,
            "`f19936` calls `f19935` here: 65 calls inside one another"
        )
    );
    let errors_of_lowering = lowered.expect_err("too deep to inline");
    assert_eq!(errors_of_lowering.len(), 1, "{errors_of_lowering:?}");
    assert!(
        errors_of_lowering[0].starts_with(&format!("{named} (E0219)")),
        "{errors_of_lowering:?}"
    );
    // Within the call limit, but each body adds five levels: deeper than the engines evaluate.
    let mut fns = vec!["fn f0(x: Int): Int = x".to_string()];
    fns.extend(
        (1..60).map(|i| format!("fn f{i}(x: Int): Int = f{}(x) + 1 + 1 + 1 + 1 + 1", i - 1)),
    );
    let (diags, lowered) = checked_and_lowered(source(&fns.join("\n"), "Int", "f59(c.a) > 100"));
    assert_eq!(
        errors(&diags),
        [
            "E0219: rule `p#1` is nested 298 levels deep once its function calls are inlined, more than the 256 the engines evaluate"
        ]
    );
    let errors_of_lowering = lowered.expect_err("too deep to evaluate");
    assert_eq!(errors_of_lowering.len(), 1, "{errors_of_lowering:?}");
    assert!(
        errors_of_lowering[0].starts_with(
            "rule `p#1` (deep.xop:74) is nested more than 256 levels deep once its function calls are inlined (E0219)"
        ),
        "{errors_of_lowering:?}"
    );
    let (diags, lowered) = checked_and_lowered(chain(60));
    assert_eq!(errors(&diags), Vec::<String>::new());
    let program = lowered.expect("60 calls inline");
    let (policy, _) = program.policy("p").expect("the policy");
    for (a, verdict) in [(41, Verdict::Allow), (42, Verdict::Deny)] {
        let input = format!(r#"{{"to": {{"a": {a}, "b": 0}}}}"#);
        let args = bind_json(&program, policy, &input).expect("bound").args;
        let d = interp::decide(&program, policy, &args, 0, &NoSignals);
        assert_eq!(d.verdict, verdict, "a = {a}: {d:?}");
    }
}

/// A project for the inlining limits: functions `fns`, a policy `p` whose first rule has
/// condition `cond` (with the decision time `now`), and `extra` (a decision, a test).
fn inlining_source(fns: &str, cond: &str, extra: &str) -> String {
    format!(
        "module deep\n\nuse std.time.local_hour\nuse std.channel.{{reaches_phone, sms}}\n\n\
         record R {{\n  a: Int\n  b: List<Int>\n  o: Int?\n  inner: Inner\n}}\n\n\
         record Inner {{\n  n: Int\n}}\n\npurpose service\n\n{fns}\n\n\
         action act(to: R) purpose service risk minimal\n\n\
         policy p for act(to: c) at now {{\n  deny \"x\" when {cond}\n  allow \"ok\"\n}}\n\n\
         {extra}\n"
    )
}

/// How many levels deep `e` is (itself at level 1), as the engines count them.
fn depth(e: &xop_runtime::ir::Expr) -> u32 {
    (1..).find(|&l| !e.deeper_than(l)).expect("a finite depth")
}

/// Where the expression made deep goes: a rule's condition, a proposal's rank, a test's
/// argument (through a `let` and a record value).
#[derive(Clone, Copy, Debug)]
enum Place {
    Rule,
    Rank,
    Test,
}

/// A project whose measured expression is `call` (an `Int`, or a `Bool` for a rule) under
/// `pad` levels of `not` or unary minus.
fn padded(fns: &str, place: Place, call: &str, pad: usize) -> String {
    match place {
        Place::Rule => inlining_source(fns, &format!("{}{call}", "not ".repeat(pad)), ""),
        Place::Rank => inlining_source(
            fns,
            "c.a > 1",
            &format!(
                "decision d(c: R) {{\n  propose act(to: c) rank by {}{call}\n}}",
                "-".repeat(pad)
            ),
        ),
        Place::Test => inlining_source(
            fns,
            "c.a > 1",
            &format!(
                "test \"t\" {{\n  let v = {call}\n  expect p(act(to: {{ a: {}v, b: [], .. }})) == allow\n}}",
                "-".repeat(pad)
            ),
        ),
    }
}

/// The depth of the measured expression of a lowered [`padded`] project.
fn measured_depth(program: &xop_runtime::ir::Program, place: Place) -> u32 {
    match place {
        Place::Rule => {
            let (policy, _) = program.policy("p").expect("the policy");
            depth(
                program.policies[policy].rules[0]
                    .condition
                    .as_ref()
                    .expect("a condition"),
            )
        }
        Place::Rank => depth(
            program.decisions[0].proposals[0]
                .rank
                .as_ref()
                .expect("a rank"),
        ),
        Place::Test => program.tests[0]
            .args
            .iter()
            .map(depth)
            .max()
            .expect("an argument"),
    }
}

/// For every shape of function body, the checker reports E0219 exactly when lowering refuses:
/// a chain of the shape's functions whose expression lowers to 150 to 255 levels (measured on
/// what lowering builds) is padded to 255, 256 and 257 levels. The checker computes the depth
/// lowering builds, node for node: any level it counted differently would make it accept the
/// 257 or refuse the 256.
#[test]
fn the_checker_refuses_exactly_what_lowering_refuses_at_the_depth_limit() {
    type Fns = fn(usize) -> String;
    /// `f0`, and `f1` … `fk` each written with `body(i)` (calling `f{i-1}`).
    fn chain(k: usize, f0: &str, body: impl Fn(usize) -> String) -> String {
        let mut fns = vec![f0.to_string()];
        fns.extend((1..=k).map(body));
        fns.join("\n")
    }
    let shapes: [(&str, Fns, Place, &str, usize); 9] = [
        (
            "arithmetic",
            |k| {
                chain(k, "fn f0(x: Int): Int = x", |i| {
                    format!("fn f{i}(x: Int): Int = (f{}(x * 2) + x) * 3 - 1", i - 1)
                })
            },
            Place::Rule,
            "f{k}(c.a) > 0",
            63,
        ),
        (
            "if",
            |k| {
                chain(k, "fn f0(x: Int): Bool = x > 0", |i| {
                    format!(
                        "fn f{i}(x: Int): Bool = if x > {i} then not (not f{}(x - 1) or x > 0) else x < -{i}",
                        i - 1
                    )
                })
            },
            Place::Rule,
            "f{k}(c.a)",
            50,
        ),
        (
            "and, or",
            |k| {
                chain(k, "fn f0(x: Int, y: Bool): Bool = y", |i| {
                    format!(
                        "fn f{i}(x: Int, y: Bool): Bool = y and (x > {i} or f{}(x - 1, not y))",
                        i - 1
                    )
                })
            },
            Place::Rule,
            "f{k}(c.a, c.a > 2)",
            63,
        ),
        (
            "collection operations with lambdas",
            |k| {
                chain(
                    k,
                    "fn f0(xs: List<Int>, k: Int): Bool = any(xs, x => x > k)",
                    |i| {
                        // One call a level: lowering inlines every call, so two would
                        // double what it builds at each level.
                        if i % 2 == 0 {
                            format!(
                                "fn f{i}(xs: List<Int>, k: Int): Bool = \
                                 all(xs, x => x > k or f{j}(xs, k + x)) and count(xs, y => y > k) > 1",
                                j = i - 1
                            )
                        } else {
                            format!(
                                "fn f{i}(xs: List<Int>, k: Int): Bool = \
                                 count(xs, y => y > k) > 1 or xs.any(z => f{j}(xs, z))",
                                j = i - 1
                            )
                        }
                    },
                )
            },
            Place::Rule,
            "f{k}(c.b, c.a)",
            63,
        ),
        (
            "named arguments and the method form",
            |k| {
                chain(k, "fn f0(a: Int, b: Int): Int = a - b", |i| {
                    if i % 2 == 0 {
                        format!(
                            "fn f{i}(a: Int, b: Int): Int = \
                             f{}(b: ((a + 1) * 2 - 1) * 3 + 1, a: b * 5 - 7)",
                            i - 1
                        )
                    } else {
                        format!(
                            "fn f{i}(a: Int, b: Int): Int = b.f{}((a * 2 + 1 - 3) * 4)",
                            i - 1
                        )
                    }
                })
            },
            Place::Rule,
            "f{k}(b: c.a, a: 1) > 0",
            63,
        ),
        (
            "absence, ranges and intrinsics",
            |k| {
                chain(k, "fn f0(x: Int?, t: Time): Bool = x is absent", |i| {
                    format!(
                        "fn f{i}(x: Int?, t: Time): Bool = (x ?? {i}) not in 1..3 and f{}(x, t) \
                         or local_hour(t, \"UTC\") in 8..21 or reaches_phone(sms)",
                        i - 1
                    )
                })
            },
            Place::Rule,
            "f{k}(c.o, now)",
            63,
        ),
        (
            "a proposal's rank",
            |k| {
                chain(k, "fn f0(x: Int): Int = x", |i| {
                    format!("fn f{i}(x: Int): Int = (f{}(x + 1) - x) * 2", i - 1)
                })
            },
            Place::Rank,
            "f{k}(c.a)",
            63,
        ),
        (
            "a test's record value, through a let",
            |k| {
                chain(k, "fn f0(x: Int): Int = x", |i| {
                    format!("fn f{i}(x: Int): Int = (f{}(x * 3) + x) * 2 - 1", i - 1)
                })
            },
            Place::Test,
            "f{k}(1)",
            63,
        ),
        (
            "functions composed in a body",
            |k| {
                // Each function twice as deep as the one before: a few of them suffice.
                let f0 = format!("fn f0(x: Int): Int = x{}", " + 1".repeat(12));
                chain(k, &f0, |i| {
                    format!("fn f{i}(x: Int): Int = f{j}(f{j}(x) - 1)", j = i - 1)
                })
            },
            Place::Rule,
            "f{k}(c.a) > 0",
            4,
        ),
    ];
    for (name, fns, place, call, k) in shapes {
        let text = |k: usize, pad: usize| {
            padded(&fns(k), place, &call.replace("{k}", &k.to_string()), pad)
        };
        // Each chain is about as long as its expression stays within 255 levels (64 calls at
        // most; a longer one could take lowering exponential time, or overflow its stack): the
        // rest is padding, at most about a hundred levels of `not` or `-`.
        let (_, lowered) = checked_and_lowered(text(k, 0));
        let base = lowered.map_or(u32::MAX, |p| measured_depth(&p, place));
        assert!(
            (150..=255).contains(&base),
            "{name}: {k} calls make {base} levels"
        );
        for target in [255, 256, 257] {
            let (diags, lowered) = checked_and_lowered(text(k, target - base as usize));
            let errors = errors(&diags);
            if target <= 256 {
                assert_eq!(errors, Vec::<String>::new(), "{name} at {target}");
                let program = lowered.unwrap_or_else(|e| panic!("{name} at {target}: {e:?}"));
                assert_eq!(measured_depth(&program, place), target as u32, "{name}");
            } else {
                assert_eq!(errors.len(), 1, "{name} at {target}: {errors:?}");
                assert!(
                    errors[0].starts_with("E0219: ")
                        && errors[0].contains(" is nested 257 levels deep"),
                    "{name} at {target}: {errors:?}"
                );
                let refused = lowered.expect_err(name);
                assert_eq!(refused.len(), 1, "{name}: {refused:?}");
                assert!(
                    refused[0].contains("more than 256 levels deep"),
                    "{name}: {refused:?}"
                );
            }
        }
    }
}

/// Chains of 63, 64 and 65 calls: the checker reports E0219 exactly when lowering refuses, at
/// 65, naming the chain lowering names, whether the calls are made in a body's expression, in
/// the arguments of the calls it makes, or in a lambda; the arguments of a rule's calls are not
/// inside them, and do not count.
#[test]
fn the_checker_refuses_exactly_what_lowering_refuses_at_the_call_limit() {
    type Body = fn(usize) -> String;
    let bodies: [(&str, Body); 3] = [
        ("a call", |i| {
            format!("fn f{i}(x: Int): Int = f{}(x) + 1", i - 1)
        }),
        ("an argument", |i| {
            format!("fn f{i}(x: Int): Int = g(f{}(x))", i - 1)
        }),
        ("a lambda", |i| {
            format!(
                "fn f{i}(x: Int): Int = count([x, 1], y => f{}(y) > 0)",
                i - 1
            )
        }),
    ];
    for (name, body) in bodies {
        // `f{n}` nests n + 1 calls.
        let project = |n: usize, cond: &str| {
            let mut fns = vec!["fn g(x: Int): Int = x * 2".to_string()];
            fns.push("fn f0(x: Int): Int = x".to_string());
            fns.extend((1..=n).map(body));
            inlining_source(&fns.join("\n"), cond, "")
        };
        for calls in [63, 64, 65] {
            let n = calls - 1;
            let (diags, lowered) = checked_and_lowered(project(n, &format!("f{n}(c.a) > 0")));
            let errors = errors(&diags);
            if calls <= 64 {
                assert_eq!(errors, Vec::<String>::new(), "{name}: {calls}");
                lowered.unwrap_or_else(|e| panic!("{name}: {calls}: {e:?}"));
            } else {
                assert_eq!(errors.len(), 1, "{name}: {errors:?}");
                let chain = errors[0].strip_prefix("E0219: ").expect("E0219");
                assert!(
                    chain.starts_with(&format!("`f{n}` → `f{}` → … → ", n - 1)),
                    "{chain}"
                );
                // Lowering reports each call it stops at (here, maybe more than one).
                let refused = lowered.expect_err(name);
                assert!(
                    refused[0].starts_with(&format!("{chain} (E0219)")),
                    "{refused:?}"
                );
            }
        }
        // 64 calls, three times in a rule, each the argument of the next: 64 deep.
        let (diags, lowered) = checked_and_lowered(project(63, "f63(f63(f63(c.a))) > 0"));
        assert_eq!(errors(&diags), Vec::<String>::new(), "{name}");
        lowered.unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}

/// A chain of `n` functions, each calling the one below twice (`boom`), or reading its
/// parameter three times (`copies`): the inlined size grows as 2^n or 3^n while the depth
/// stays small. 60 of them would inline to more nodes than memory holds, and lowering them
/// without a limit would not finish: the checker reports them (E0220) at the rule's call,
/// measuring each function once, and lowering refuses them after building its budget of
/// nodes, not more. A short chain checks clean, lowers and decides.
#[test]
fn calls_that_inline_too_large_are_checked_and_refused() {
    fn boom(n: usize) -> String {
        let mut fns = vec!["fn f0(x: Int): Int = x + 1".to_string()];
        fns.extend(
            (1..=n).map(|i| format!("fn f{i}(x: Int): Int = f{}(x) + f{}(x)", i - 1, i - 1)),
        );
        source(&fns.join("\n"), "Int", &format!("f{n}(c.a) > 5"))
    }
    fn copies(n: usize) -> String {
        let mut fns = vec!["fn g0(x: Int): Int = x + x + x".to_string()];
        fns.extend((1..=n).map(|i| format!("fn g{i}(x: Int): Int = g{}(x + x + x)", i - 1)));
        source(&fns.join("\n"), "Int", &format!("g{n}(c.a) > 5"))
    }
    for (what, text, call) in [
        ("calls", boom(60), "f60(c.a)"),
        ("parameter reads", copies(60), "g60(c.a)"),
    ] {
        let (diags, lowered) = checked_and_lowered(text);
        let errors = errors(&diags);
        assert_eq!(errors.len(), 1, "{what}: {errors:?}");
        assert!(
            errors[0].starts_with("E0220: inlining the function calls of rule `p#1` builds "),
            "{what}: {errors:?}"
        );
        assert_eq!(
            diags[0].span.range().len(),
            call.len(),
            "{what}: {:?}",
            diags[0]
        );
        let errors_of_lowering = lowered.expect_err("too large to inline");
        assert_eq!(
            errors_of_lowering.len(),
            1,
            "{what}: {errors_of_lowering:?}"
        );
        assert!(
            errors_of_lowering[0].starts_with(
                "rule `p#1`: inlining its function calls builds more than 150000 expression nodes (E0220)"
            ),
            "{what}: {errors_of_lowering:?}"
        );
    }
    let (diags, lowered) = checked_and_lowered(boom(8));
    assert_eq!(errors(&diags), Vec::<String>::new());
    let program = lowered.expect("a short chain inlines");
    let (policy, _) = program.policy("p").expect("the policy");
    // f8(a) is 256 * (a + 1): more than 5 from a = 0 on.
    for (a, verdict) in [(-1, Verdict::Allow), (0, Verdict::Deny)] {
        let input = format!(r#"{{"to": {{"a": {a}, "b": 0}}}}"#);
        let args = bind_json(&program, policy, &input).expect("bound").args;
        let d = interp::decide(&program, policy, &args, 0, &NoSignals);
        assert_eq!(d.verdict, verdict, "a = {a}: {d:?}");
    }
}

/// A project whose records hold one another `n` deep (`record R0 { r: R1 }` … `record Rn {
/// ch: Channel }`, each field's type wrapped as `wrap` says), taken by a marketing action, so
/// that the consent analysis follows the path to the channel through every record.
fn record_chain(n: usize, wrap: fn(String) -> String) -> String {
    let mut s = String::from(
        "module deep\n\nuse std.consent.{consent, marketing, Consent}\n\n\
         record Customer {\n  id: Id\n  consents: List<Consent>\n}\n\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "record R{i} {{ r: {} }}\n",
            wrap(format!("R{}", i + 1))
        ));
    }
    s.push_str(&format!("record R{n} {{ ch: Channel }}\n\n"));
    s.push_str(
        "action send(to: Customer, d: R0) purpose marketing risk minimal\n\n\
         policy p for send(to: c) {\n  allow \"ok\"\n}\n",
    );
    s
}

/// Records nested 20,000 deep are one E0108, on the outermost record, and nothing else: the
/// depth is measured without recursing, and compliance, which would follow the path to the
/// channel one step a level, does not look at the project. Checked, lowered and compiled on
/// the 2 MiB stack of the language server's workers (without the limit, the consent analysis
/// overflowed it at 5,000 levels).
#[test]
fn records_nested_too_deeply_are_an_error_not_a_crash() {
    let (diags, lowered) = checked_and_lowered(record_chain(20_000, |t| t));
    assert_eq!(
        errors(&diags),
        [
            "E0108: record `R0` is nested too deeply: its fields are 20001 levels deep, more than 128"
        ],
        "{diags:#?}"
    );
    assert!(diags.iter().all(|d| !d.code.starts_with('C')), "{diags:#?}");
    // Lowering is not run on sources with errors; if it is, it must not crash either.
    if let Ok(program) = lowered {
        on_small_stack(move || drop(jit::compile(&program)));
    }
}

/// The limit counts the levels of a record's fields as written types count theirs, with each
/// record held written out: each record, `?` or `List` around a value is one more level. 128
/// levels check (and are analysed for consent: C0005 names the channel 127 records down), 129
/// do not.
#[test]
fn records_nested_up_to_the_limit_are_accepted() {
    type Wrap = fn(String) -> String;
    // (how each field wraps the next record, records below the limit, levels each adds)
    let shapes: [(&str, Wrap, usize); 3] = [
        ("records", |t| t, 127),
        ("lists of records", |t| format!("List<{t}>"), 63),
        ("optional records", |t| format!("{t}?"), 63),
    ];
    for (what, wrap, n) in shapes {
        let (ok, _) = checked_and_lowered(record_chain(n, wrap));
        let errors_ok = errors(&ok);
        assert!(
            errors_ok.iter().all(|e| !e.starts_with("E0108")),
            "{what} at the limit: {errors_ok:?}"
        );
        assert!(
            ok.iter().any(|d| d.code == "C0005"),
            "{what}: compliance still analyses the project: {ok:#?}"
        );
        let (deep, _) = checked_and_lowered(record_chain(n + 1, wrap));
        // One more record past the limit: 129 levels (lists and optionals: 127 + 2).
        assert_eq!(
            errors(&deep),
            [
                "E0108: record `R0` is nested too deeply: its fields are 129 levels deep, more than 128"
            ],
            "{what} past the limit"
        );
    }
}
