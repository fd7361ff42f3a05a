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

/// Functions calling one another in a chain: 20,000 deep checks clean in linear time (the
/// recursion check asks the call graph's cycles once) and is refused by lowering with a
/// message, without overflowing the stack; 60 deep lowers and decides, unless the inlined
/// bodies together are deeper than the engines evaluate.
#[test]
fn long_call_chains_are_checked_and_refused_when_too_deep() {
    fn chain(n: usize) -> String {
        let mut fns = vec!["fn f0(x: Int): Int = x".to_string()];
        fns.extend((1..n).map(|i| format!("fn f{i}(x: Int): Int = f{}(x) + 1", i - 1)));
        source(&fns.join("\n"), "Int", &format!("f{}(c.a) > 100", n - 1))
    }
    let lowered = |text: String| {
        on_small_stack(move || {
            let mut ws = Workspace::new();
            ws.set_file("deep.xop", text.as_str());
            let diags = ws.diagnostics();
            assert!(diags.is_empty(), "{diags:#?}");
            xop_compiler::lower::lower(ws.db(), ws.project())
        })
    };
    let errors = lowered(chain(20_000)).expect_err("too deep to inline");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("`f19999` → `f19998` → … → `f19936` → `f19935` calls functions inside one another more than 64 deep"),
        "{errors:?}"
    );
    // Within the call limit, but each body adds five levels: deeper than the engines evaluate.
    let mut fns = vec!["fn f0(x: Int): Int = x".to_string()];
    fns.extend(
        (1..60).map(|i| format!("fn f{i}(x: Int): Int = f{}(x) + 1 + 1 + 1 + 1 + 1", i - 1)),
    );
    let errors = lowered(source(&fns.join("\n"), "Int", "f59(c.a) > 100"))
        .expect_err("too deep to evaluate");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("rule `p#1` (deep.xop:74) is nested more than 256 levels deep"),
        "{errors:?}"
    );
    let program = lowered(chain(60)).expect("60 calls inline");
    let (policy, _) = program.policy("p").expect("the policy");
    for (a, verdict) in [(41, Verdict::Allow), (42, Verdict::Deny)] {
        let input = format!(r#"{{"to": {{"a": {a}, "b": 0}}}}"#);
        let args = bind_json(&program, policy, &input).expect("bound").args;
        let d = interp::decide(&program, policy, &args, 0, &NoSignals);
        assert_eq!(d.verdict, verdict, "a = {a}: {d:?}");
    }
}
