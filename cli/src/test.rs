//! `xop test`: runs every `test` block and ends with `N passed, N failed`.

use std::path::PathBuf;

use clap::Args;
use xop_runtime::connectors;
use xop_runtime::interp::{self, FixedSignals};
use xop_runtime::ir::{Program, TestCase, Type};
use xop_runtime::jit::JitModule;
use xop_runtime::value::Value;

use xop_compiler::ast::{ItemKind, TestStmt};
use xop_compiler::db::{SourceFile, Workspace, parse_file};
use xop_compiler::format::text_lit;
use xop_compiler::render;

use crate::explain::shown;
use crate::{Color, PROBLEMS, SUCCESS, compile, out};

/// Long help of `xop test`.
pub const LONG_ABOUT: &str = "\
Run every `test` block of the sources (or of a compiled module: `xop build` keeps the tests,
and `--trust` checks its signature as `xop eval` does): each `expect policy(action(...)) == verdict(reasons)`
(one policy) or `expect action(...) == verdict(reasons)` (the action's verdict over every
policy guarding it) is decided and compared, verdict and (when written) the exact set of
reasons. A failing test shows what was expected and what came out, with the rules that fired.
A `test` block with no `expect` checks nothing: it is listed as `empty`, neither passed nor
failed. Names, reasons and rules' text from the sources are printed with control characters
(and other characters that show nothing) escaped as `xop fmt` writes them: `\u{1b}`.

A `given` value is judged at the test's decision time (`at`) as `xop eval` judges a value given
in an input's `signals`: one that cannot be shown to be within the signal's `max_age`, or that
contradicts itself (a SIM Swap whose `swapped` disagrees with its date), is read as absent, and a
failing test says which and why. A test giving such a value needs an `at`.

Every test runs on the reference interpreter and, when the JIT compiles its policy (one of
the action's policies at least), on the JIT too: the two must give the same decision, or the
test fails.";

/// Exit status documentation of `xop test`.
pub const AFTER_LONG_HELP: &str = "\
Exit status: 0 every test passed; 1 a test failed or the sources have errors; 2 usage or I/O
error. The last line is always `N passed, N failed`; when the sources or the module could not
be loaded, `0 passed, 0 failed, 1 error: no test ran (the error above)`.";

/// Arguments of `xop test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Files or folders of .xop sources (default: the current folder), or one compiled module
    /// (.xopm), whose tests `xop build` kept
    #[arg(value_name = "MODULE|PATHS", default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Refuse a module not signed by this public key (from `xop keygen`)
    #[arg(long, value_name = "PUBKEY")]
    pub trust: Option<PathBuf>,
}

/// Runs `xop test`.
pub fn run(args: &TestArgs, color: Color) -> u8 {
    let compiled = match compile::load(&args.paths, args.trust.as_deref(), color) {
        Ok(c) => c,
        Err(status) => {
            // Still end with the summary line, so CI logs read the same way, but not one that
            // reads as a clean run: no test ran, and the error (already said) is counted.
            let _ = out("0 passed, 0 failed, 1 error: no test ran (the error above)\n");
            return status;
        }
    };
    let program = compiled.program();
    let jit = xop_runtime::jit::compile(program);
    let mut report = String::new();
    let (mut passed, mut failed) = (0usize, 0usize);
    for case in &program.tests {
        // A test's name and file come from the sources: a control character in them must not
        // reach the terminal, where it could erase `FAILED` or print a summary of its own.
        let (name, file) = (shown(&case.name), shown(&case.source.file));
        match run_case(program, &jit, case) {
            Ok(()) => {
                passed += 1;
                report.push_str(&format!("ok     {name} ({file}:{})\n", case.source.line));
            }
            Err(why) => {
                failed += 1;
                report.push_str(&format!(
                    "FAILED {name}\n  at {file}:{}:{}\n{why}",
                    case.source.line, case.source.column
                ));
            }
        }
    }
    // `test` blocks without an `expect` have no test case in the program: listed, so that
    // they are not taken for tests that pass, nor the sources for having no test block.
    let empty = compiled
        .workspace
        .as_ref()
        .map(empty_tests)
        .unwrap_or_default();
    for e in &empty {
        report.push_str(&format!(
            "empty  {} ({}:{}): checks nothing, it has no expect\n",
            shown(&e.name),
            shown(&e.file),
            e.line
        ));
    }
    if program.tests.is_empty() && empty.is_empty() {
        report.push_str(&match compile::module_path(&args.paths) {
            Some(module) => format!(
                "the module `{}` has no tests (its sources had no `test` block when it was \
                 built): nothing was run\n",
                shown(&module.display().to_string())
            ),
            None => "no `test` block in the sources: nothing was run\n".to_string(),
        });
    }
    if !empty.is_empty() {
        crate::err(&match empty.len() {
            1 => "warning: 1 `test` block checks nothing: it has no `expect` (write one, or \
                  remove the block)\n"
                .to_string(),
            n => format!(
                "warning: {n} `test` blocks check nothing: they have no `expect` (write one in \
                 each, or remove them)\n"
            ),
        });
    }
    report.push_str(&format!("{passed} passed, {failed} failed\n"));
    match out(&report) {
        Ok(()) if failed == 0 => SUCCESS,
        Ok(()) => PROBLEMS,
        Err(s) => s,
    }
}

/// Whether every time in `v` (a value of type `ty` at `path`) is one XOP holds, as
/// [`xop_runtime::time::held`] (the range the input reader applies) says; else why not, named
/// by its path (`to.ts`, `to.visits[2].at`).
fn unheld_time(program: &Program, ty: &Type, v: &Value, path: &str) -> Result<(), String> {
    // The path below `path` to the first time out of range, and why.
    fn first(program: &Program, ty: &Type, v: &Value) -> Option<(String, String)> {
        match (ty, v) {
            (Type::Optional(inner), _) => first(program, inner, v),
            (Type::Time, Value::Time(ms)) => xop_runtime::time::held(*ms)
                .err()
                .map(|e| (String::new(), e)),
            (Type::Record(r), Value::Record(_, fields)) => {
                let rt = program.records.get(*r as usize)?;
                rt.fields.iter().zip(fields.iter()).find_map(|(f, v)| {
                    first(program, &f.ty, v).map(|(below, e)| (format!(".{}{below}", f.name), e))
                })
            }
            (Type::List(elem) | Type::Set(elem), Value::List(xs)) => {
                xs.iter().enumerate().find_map(|(i, x)| {
                    first(program, elem, x).map(|(below, e)| (format!("[{i}]{below}"), e))
                })
            }
            _ => None,
        }
    }
    match first(program, ty, v) {
        Some((below, e)) => Err(format!("`{path}{below}`: {e}")),
        None => Ok(()),
    }
}

/// A `test` block with no `expect`: it checks nothing, and the program keeps no test case of it.
#[derive(Debug)]
struct EmptyTest {
    name: String,
    file: String,
    line: usize,
}

/// The `test` blocks of the sources compiled in `ws` that have no `expect`, in file and source
/// order. The program keeps only the `expect`s (`Program::tests`); the workspace still holds
/// the parsed files.
fn empty_tests(ws: &Workspace) -> Vec<EmptyTest> {
    let db = ws.db();
    let mut sources: Vec<SourceFile> = (ws.project().files(db).iter())
        .filter(|f| !*f.is_stdlib(db))
        .copied()
        .collect();
    sources.sort_by(|a, b| a.path(db).cmp(b.path(db)));
    let mut empty = Vec::new();
    for source in sources {
        let text = source.text(db);
        let lines = render::Lines::new(text);
        for item in &parse_file(db, source).ast.items {
            if let ItemKind::Test(t) = &item.kind
                && !t.body.iter().any(|st| matches!(st, TestStmt::Expect(_)))
            {
                empty.push(EmptyTest {
                    name: t.name.value.clone(),
                    file: source.path(db).to_string(),
                    // The line of `test "NAME"`, below its doc comments if any.
                    line: lines.position(text, t.name.span.start()).line,
                });
            }
        }
    }
    empty
}

/// Decides one test case; `Err` says how the outcome differs from the expectation.
pub fn run_case(program: &Program, jit: &JitModule, case: &TestCase) -> Result<(), String> {
    let policy = case.policy as usize;
    // The policies asked: the one of `expect P(a(args))`, or every policy guarding the action
    // of `expect a(args)`, in the order the action's verdict combines them.
    let asked: Vec<usize> = match &case.action {
        None => vec![policy],
        Some(action) => program
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.action == *action)
            .map(|(i, _)| i)
            .collect(),
    };
    // Tests never read the clock: one without `at` passes only where the time cannot matter.
    let now = match case.now {
        TestCase::NO_TIME => {
            match asked
                .iter()
                .filter_map(|&i| program.policies.get(i))
                .find(|p| p.reads_time())
            {
                Some(p) => {
                    return Err(format!(
                        "  policy `{}` reads the decision time (`at now`, or consent, contact \
                         counts, SIM swaps), and the test gives none: tests never read the \
                         clock; write one after the expected verdict, before any `given`: \
                         `… == deny(\"…\") at 2026-11-25T10:00:00Z`\n",
                        p.name
                    ));
                }
                None => 0,
            }
        }
        now => now,
    };
    let constant = |e| {
        interp::eval_const(program, e, now)
            .map_err(|m| format!("  cannot evaluate the test's input: {m}\n"))
    };
    let args: Vec<Value> = case.args.iter().map(constant).collect::<Result<_, _>>()?;
    // A test decides only on values an input could carry: held to the checks binding an input
    // applies (its type, a known zone; a time in the range XOP holds, language.md §2.5), or
    // the test would pass on a decision no input can reach. The engines take such a time as
    // a value, and would refuse the rest as bad input, which a test expecting `deny` would
    // pass on: the test fails first, naming the value.
    let unheld = |what: String| {
        format!(
            "  the test's input is one no input can carry: {what}; write a value an input \
             could give (language.md §2.5)\n"
        )
    };
    // `path` names the value as an input's error would (`to.ts`); `whose`, where it is given.
    let held = |ty: &Type, v: &Value, path: &str, whose: &str| {
        interp::check_value(program, ty, v)
            .map_err(|e| format!("`{path}`: {e}"))
            .and_then(|()| unheld_time(program, ty, v, path))
            .map_err(|e| unheld(format!("{whose}{e}")))
    };
    for pol in asked.iter().filter_map(|&i| program.policies.get(i)) {
        for (param, arg) in pol.params.iter().zip(&args) {
            held(&param.ty, arg, &param.name, "")?;
        }
    }
    let mut given = Vec::new();
    // The given values read as absent, each with why, for the failure's account.
    let mut judged = String::new();
    for (signal, e) in &case.given {
        let mut value = constant(e)?;
        if let Some(decl) = program.signals.get(*signal as usize)
            && value != Value::Absent
        {
            // The signal's own name, as the test writes it.
            let name = decl.name.rsplit('.').next().unwrap_or(&decl.name);
            held(&decl.ty, &value, name, "the value given for the signal, ")?;
            // Judged as the runtime judges a value given in an input's `signals`, by the same
            // function at the decision time, so that the test decides what `xop eval` decides
            // on that input: one that cannot be shown within `max_age`, or that contradicts
            // itself, is absent.
            if connectors::judged_when_given(program, &decl.ty, &value) {
                // The runtime reads the clock for such a value when the input has no `now`;
                // tests never read the clock.
                if case.now == TestCase::NO_TIME {
                    return Err(format!(
                        "  the value given for the signal `{name}` is judged at the decision \
                         time, as a value given in an input's `signals` is (its freshness \
                         against `max_age`, or whether it agrees with itself), and the test \
                         gives none: tests never read the clock; write one after the \
                         expected verdict, before `given`: \
                         `… == deny(\"…\") at 2026-11-25T10:00:00Z given …`\n"
                    ));
                }
                if let Some(fetch) = connectors::judge_given(program, decl, &value, now) {
                    judged.push_str(&format!(
                        "  given `{name}` is read as absent (as in an input's `signals`): signal {} {}\n",
                        shown(&decl.name),
                        shown(&fetch.describe())
                    ));
                    value = Value::Absent;
                }
            }
        }
        given.push((*signal, value));
    }
    let signals = FixedSignals(given);
    let (d, j) = match &case.action {
        None => (
            interp::decide(program, policy, &args, now, &signals),
            // The JIT reads the same given signals.
            jit.decide_with_signals(policy, &args, now, &signals),
        ),
        Some(action) => {
            let d = interp::decide_action(program, action, &args, now, &signals);
            // As the runtime decides an action: each policy by the JIT where it compiled it,
            // else by the interpreter, their fired rules combined. Compared when the JIT
            // decided one of them at least.
            let jitted = asked.iter().any(|&i| jit.unsupported(i).is_none());
            let j = jitted.then(|| {
                interp::combine_guards(program, &asked, |i| {
                    jit.decide_with_signals(i, &args, now, &signals)
                        .unwrap_or_else(|| interp::decide(program, i, &args, now, &signals))
                })
            });
            (d, j)
        }
    };
    if let Some(j) = j
        && j != d
    {
        return Err(format!(
            "  the engines disagree:\n  interpreter {d:?}\n  jit         {j:?}\n{judged}"
        ));
    }
    let mut expected_reasons = case.reasons.clone();
    if let Some(r) = &mut expected_reasons {
        r.sort();
        r.dedup();
    }
    let mut actual_reasons = d.reasons.clone();
    actual_reasons.sort();
    actual_reasons.dedup();
    let verdict_ok = d.verdict == case.expect;
    let reasons_ok = expected_reasons
        .as_ref()
        .is_none_or(|r| *r == actual_reasons);
    if verdict_ok && reasons_ok {
        return Ok(());
    }
    // As the test writes it: `deny` (any reasons), `deny()` (none), `deny("a", "b")`.
    let show = |v: xop_runtime::ir::Verdict, r: Option<&[String]>| match r {
        None => v.keyword().to_string(),
        Some(r) => {
            // Quoted and escaped as a test writes them (a control character in a reason never
            // reaches the terminal).
            let quoted: Vec<String> = r.iter().map(|r| text_lit(r)).collect();
            format!("{}({})", v.keyword(), quoted.join(", "))
        }
    };
    let mut why = format!(
        "  expected {}\n  actual   {}\n",
        show(case.expect, expected_reasons.as_deref()),
        show(d.verdict, Some(&actual_reasons))
    );
    if let Some(e) = &d.error {
        why.push_str(&format!("  error: {}\n", shown(e)));
    }
    let (rules, _) = crate::explain::fired_rules(program, &asked, &d.fired);
    for (id, rule) in d.fired.iter().zip(rules) {
        why.push_str(&crate::explain::fired_line(id, rule));
    }
    why.push_str(&judged);
    Err(why)
}
