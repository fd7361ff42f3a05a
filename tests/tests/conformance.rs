//! The conformance corpus: policies with inputs and expected outputs, under `tests/conformance/`,
//! that pin what the reference interpreter decides (and that every other engine, the JIT
//! included, must decide the same way).
//!
//! Each folder `tests/conformance/<scenario>/` is one project: its `.xop` files (checked
//! together, with the standard library; they must have no error, warnings are fine) and a
//! `cases.json`, an array of cases:
//!
//! ```json
//! [{"name": "what the case shows",
//!   "policy": "contact",
//!   "input": {"to": {...}, "channel": "sms", "now": "2026-11-25T10:00:00Z", "signals": {...}},
//!   "expect": {"verdict": "deny", "reasons": ["no-consent"], "fired": ["contact#2"],
//!              "review": {"role": "fraud_desk", "within_ms": 900000, "fallback": "deny"},
//!              "error_contains": "to.consents[0].given_at:"}}]
//! ```
//!
//! - `policy` is a policy's name (`policy@action` for a `for purpose` policy);
//! - `input` is the input JSON of `xop eval` (docs/runtime.md): one key per parameter of the
//!   action, `"now"` (the Unix epoch when absent, as in `xop test`) and `"signals"`;
//! - `expect.verdict` and `expect.reasons` (the exact list, in order) are always compared;
//!   `fired` (the exact list of rule ids, in order), `review` (the terms of a review verdict;
//!   `null` for none) and `error_contains` (a substring of the error of a decision that failed
//!   closed) only when given.
//!
//! A case may ask a `decision` (next best action, docs/language.md §5.10) instead of a policy:
//!
//! ```json
//! [{"name": "a VIP's video call is boosted",
//!   "decision": "consultation_boost",
//!   "input": {"c": {...}, "call": {...}, "now": "2026-11-25T10:00:00Z"},
//!   "expect": {"choice": 0,
//!              "candidates": [{"action": "std.camara.create_qos_session", "rank": 10,
//!                              "verdict": "allow", "reasons": ["boost-within-limits"]}]}}]
//! ```
//!
//! - `expect.candidates` is the exact list of candidates, by rank (highest first, ties in source
//!   order), each with its action's qualified name, its `rank` (JSON as in `xop eval --format
//!   json`), and its verdict and reasons;
//! - `expect.choice` is the index of the first candidate not denied, or `null` for none.
//!
//! Input that does not bind is decided as `deny` with the single reason `xop:bad-input`, no rule
//! fired, and the binding error (which names the field path) as the error, like `xop eval`.
//!
//! Expected outputs are what docs/language.md and docs/runtime.md say, not what an engine happens
//! to do: an engine that disagrees with a case is wrong, or the documentation is and must be
//! changed first. The corpus may not shrink below [`MIN_SCENARIOS`] scenarios and [`MIN_CASES`]
//! cases.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use xop_compiler::db::Workspace;
use xop_compiler::diagnostic::Severity;
use xop_compiler::render;
use xop_runtime::interp::{self, Decision, FixedSignals};
use xop_runtime::ir::{Program, Verdict};

/// The fewest scenario folders the corpus may hold.
const MIN_SCENARIOS: usize = 21;

/// The fewest cases the corpus may hold, over all scenarios.
const MIN_CASES: usize = 314;

/// An engine: decides policy `policy` of `program` on the input JSON text, or `None` where it
/// does not apply (the JIT for a policy it does not compile yet).
type Engine = fn(&Program, usize, &str) -> Option<Decision>;

/// The engines every case is decided by.
const ENGINES: &[(&str, Engine)] = &[("interp", interp_engine), ("jit", jit_engine)];

/// The reference interpreter.
fn interp_engine(program: &Program, policy: usize, input: &str) -> Option<Decision> {
    Some(interp_decision(program, policy, input))
}

/// The JIT, for the policies it compiles, reading the signals the input gives as the binder
/// judged them (the values `xop eval --engine jit` reads).
fn jit_engine(program: &Program, policy: usize, input: &str) -> Option<Decision> {
    let bound = xop_runtime::bind::bind_json(program, policy, input).ok()?;
    let jit = xop_runtime::jit::compile(program);
    jit.decide_with_signals(
        policy,
        &bound.args,
        bound.now_ms.unwrap_or(0),
        &FixedSignals(bound.signals),
    )
}

/// The reference interpreter, with input bound from JSON like `xop eval`.
fn interp_decision(program: &Program, policy: usize, input: &str) -> Decision {
    match xop_runtime::bind::bind_json(program, policy, input) {
        Ok(bound) => interp::decide(
            program,
            policy,
            &bound.args,
            bound.now_ms.unwrap_or(0),
            &FixedSignals(bound.signals),
        ),
        Err(e) => Decision {
            verdict: Verdict::Deny,
            reasons: vec![interp::BAD_INPUT.to_string()],
            fired: Vec::new(),
            review: None,
            error: Some(e.to_string()),
        },
    }
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

/// The seed scenarios of `examples/scenarios/`, in the corpus's format.
fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/scenarios")
}

/// The scenario folders under `dir`, sorted by name.
fn scenarios(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir)
        .min_depth(1)
        .max_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        if entry.file_type().is_dir() {
            out.push(entry.into_path());
        }
    }
    out
}

/// The `.xop` files of a scenario (its folder and subfolders), sorted, as (path relative to
/// `tests/`, text).
fn sources(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        let path = entry.path();
        if !entry.file_type().is_file() || path.extension().is_none_or(|e| e != "xop") {
            continue;
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let rel = path
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")))
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        out.push((rel, text));
    }
    if out.is_empty() {
        return Err("no .xop file".to_string());
    }
    Ok(out)
}

/// Checks and lowers a scenario's project; every error diagnostic is a failure.
fn compile(files: &[(String, String)]) -> Result<Program, String> {
    let mut ws = Workspace::new();
    for (path, text) in files {
        ws.set_file(path, text.as_str());
    }
    let diags = ws.diagnostics();
    let errors: Vec<_> = diags
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        let rendered = render::human(&errors, &|p| ws.source(p).map(|s| s.to_string()), false);
        return Err(format!(
            "the sources have {} error(s):\n{rendered}",
            errors.len()
        ));
    }
    xop_compiler::lower::lower(ws.db(), ws.project())
        .map_err(|errors| format!("lowering failed:\n  {}", errors.join("\n  ")))
}

/// What a case expects.
#[derive(Debug)]
struct Expect {
    verdict: String,
    reasons: Vec<String>,
    fired: Option<Vec<String>>,
    /// `Some(None)`: no review terms; `Some(Some(..))`: these terms.
    review: Option<Option<Json>>,
    error_contains: Option<String>,
}

/// One case of `cases.json`.
#[derive(Debug)]
struct Case {
    name: String,
    /// The policy asked, or the decision's name and what it expects.
    target: Target,
    input: Json,
    expect: Expect,
}

/// What a case asks.
#[derive(Debug)]
enum Target {
    Policy(String),
    Decision(String, DecisionExpect),
}

/// What a decision case expects.
#[derive(Debug)]
struct DecisionExpect {
    choice: Option<usize>,
    /// (action, rank, verdict, reasons), by rank.
    candidates: Vec<(String, Json, String, Vec<String>)>,
}

fn strings(v: &Json, what: &str) -> Result<Vec<String>, String> {
    let Json::Array(items) = v else {
        return Err(format!("`{what}` must be an array of strings"));
    };
    items
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{what}` must be an array of strings"))
        })
        .collect()
}

fn string(obj: &serde_json::Map<String, Json>, key: &str) -> Result<String, String> {
    obj.get(key)
        .and_then(Json::as_str)
        .map(str::to_string)
        .ok_or_else(|| format!("`{key}` must be a string"))
}

fn only_keys(
    obj: &serde_json::Map<String, Json>,
    allowed: &[&str],
    what: &str,
) -> Result<(), String> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown key `{k}` in {what}; allowed: {}",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn parse_case(v: &Json) -> Result<Case, String> {
    let Json::Object(obj) = v else {
        return Err("a case must be an object".to_string());
    };
    only_keys(
        obj,
        &["name", "policy", "decision", "input", "expect"],
        "a case",
    )?;
    let name = string(obj, "name")?;
    let in_case = |e: String| format!("case {name:?}: {e}");
    let input = obj
        .get("input")
        .cloned()
        .ok_or_else(|| in_case("`input` is missing".to_string()))?;
    let Some(Json::Object(ex)) = obj.get("expect") else {
        return Err(in_case("`expect` must be an object".to_string()));
    };
    if obj.contains_key("decision") {
        if obj.contains_key("policy") {
            return Err(in_case("give `policy` or `decision`, not both".to_string()));
        }
        let decision = string(obj, "decision").map_err(in_case)?;
        let expect = parse_decision_expect(ex).map_err(in_case)?;
        return Ok(Case {
            name,
            target: Target::Decision(decision, expect),
            input,
            expect: Expect {
                verdict: String::new(),
                reasons: Vec::new(),
                fired: None,
                review: None,
                error_contains: None,
            },
        });
    }
    let policy = string(obj, "policy").map_err(in_case)?;
    only_keys(
        ex,
        &["verdict", "reasons", "fired", "review", "error_contains"],
        "`expect`",
    )
    .map_err(in_case)?;
    let verdict = string(ex, "verdict").map_err(in_case)?;
    if !["allow", "deny", "review"].contains(&verdict.as_str()) {
        return Err(in_case(format!(
            "`verdict` is {verdict:?}, not allow, deny or review"
        )));
    }
    let reasons = strings(
        ex.get("reasons")
            .ok_or_else(|| in_case("`expect.reasons` is missing".to_string()))?,
        "reasons",
    )
    .map_err(in_case)?;
    let fired = ex
        .get("fired")
        .map(|f| strings(f, "fired"))
        .transpose()
        .map_err(in_case)?;
    let review = match ex.get("review") {
        None => None,
        Some(Json::Null) => Some(None),
        Some(r @ Json::Object(o)) => {
            only_keys(
                o,
                &["role", "also", "within_ms", "fallback"],
                "`expect.review`",
            )
            .map_err(in_case)?;
            Some(Some(r.clone()))
        }
        Some(_) => {
            return Err(in_case(
                "`expect.review` must be null or {role, [also,] within_ms, fallback}".to_string(),
            ));
        }
    };
    let error_contains = ex
        .get("error_contains")
        .map(|e| {
            e.as_str()
                .map(str::to_string)
                .ok_or_else(|| in_case("`error_contains` must be a string".to_string()))
        })
        .transpose()?;
    Ok(Case {
        name,
        target: Target::Policy(policy),
        input,
        expect: Expect {
            verdict,
            reasons,
            fired,
            review,
            error_contains,
        },
    })
}

fn parse_decision_expect(ex: &serde_json::Map<String, Json>) -> Result<DecisionExpect, String> {
    only_keys(ex, &["choice", "candidates"], "`expect` of a decision case")?;
    let choice = match ex.get("choice") {
        Some(Json::Null) => None,
        Some(Json::Number(n)) => Some(
            n.as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or("`choice` must be an index or null")?,
        ),
        _ => return Err("`expect.choice` must be an index or null".to_string()),
    };
    let Some(Json::Array(items)) = ex.get("candidates") else {
        return Err("`expect.candidates` must be an array".to_string());
    };
    let mut candidates = Vec::new();
    for c in items {
        let Json::Object(o) = c else {
            return Err("a candidate must be an object".to_string());
        };
        only_keys(o, &["action", "rank", "verdict", "reasons"], "a candidate")?;
        let reasons = strings(
            o.get("reasons").ok_or("a candidate needs `reasons`")?,
            "reasons",
        )?;
        candidates.push((
            string(o, "action")?,
            o.get("rank").cloned().ok_or("a candidate needs `rank`")?,
            string(o, "verdict")?,
            reasons,
        ));
    }
    Ok(DecisionExpect { choice, candidates })
}

/// Ranks decision `index` on the input like `xop eval --decision`: what differs from
/// `expect`, as text (empty when it conforms).
fn decision_differences(
    program: &Program,
    index: usize,
    input: &str,
    expect: &DecisionExpect,
) -> Option<String> {
    let b = match xop_runtime::bind::bind_decision_json(program, index, input) {
        Ok(b) => b,
        Err(e) => return Some(format!("the input does not bind: {e}")),
    };
    let now = b.now_ms.unwrap_or(0);
    let mut engines = vec![(
        "interp",
        interp::rank(
            program,
            index,
            &b.args,
            now,
            &FixedSignals(b.signals.clone()),
        ),
    )];
    // The JIT ranks too, where it compiles the decision (it reads no signal).
    if b.signals.is_empty()
        && let Some(r) = xop_runtime::jit::compile(program).decide_decision(index, &b.args, now)
    {
        engines.push(("jit", r));
    }
    let mut out = Vec::new();
    for (engine, ranked) in engines {
        if let Some(d) = ranking_differences(program, ranked, expect) {
            out.push(format!("[{engine}] {d}"));
        }
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// What differs between a ranking and a decision case's expectation.
fn ranking_differences(
    program: &Program,
    ranked: Result<Vec<interp::Candidate>, Decision>,
    expect: &DecisionExpect,
) -> Option<String> {
    let ranked = match ranked {
        Ok(r) => r,
        Err(d) => return Some(format!("no candidate: {}", describe(&d))),
    };
    let actual: Vec<(String, Json, String, Vec<String>)> = ranked
        .iter()
        .map(|c| {
            (
                c.action.clone(),
                xop_runtime::proof::record::value_json(program, &c.rank),
                c.decision.verdict.keyword().to_string(),
                c.decision.reasons.clone(),
            )
        })
        .collect();
    let choice = ranked
        .iter()
        .position(|c| c.decision.verdict != Verdict::Deny);
    if actual == expect.candidates && choice == expect.choice {
        return None;
    }
    Some(format!(
        "candidates or choice differ\n    expected choice {:?}, {:?}\n    actual   choice {choice:?}, {actual:?}",
        expect.choice, expect.candidates
    ))
}

fn cases(dir: &Path) -> Result<Vec<Case>, String> {
    let path = dir.join("cases.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: Json = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid JSON: {e}", path.display()))?;
    let Json::Array(items) = json else {
        return Err(format!("{} must hold an array of cases", path.display()));
    };
    let cases = items
        .iter()
        .map(parse_case)
        .collect::<Result<Vec<_>, _>>()?;
    if cases.is_empty() {
        return Err(format!("{} has no case", path.display()));
    }
    let mut names = BTreeSet::new();
    for c in &cases {
        if !names.insert(c.name.as_str()) {
            return Err(format!("two cases are named {:?}", c.name));
        }
    }
    Ok(cases)
}

/// The review terms of a decision, as JSON like `xop eval --format json`.
fn review_json(d: &Decision) -> Json {
    d.review.as_ref().map_or(Json::Null, |r| {
        let mut v = serde_json::json!({
            "role": r.role,
            "within_ms": r.within_ms,
            "fallback": r.fallback.keyword(),
        });
        // The other roles of merged reviews, only when there are some (as the files write it).
        if !r.also.is_empty() {
            v["also"] = serde_json::json!(r.also);
        }
        v
    })
}

fn describe(d: &Decision) -> String {
    format!(
        "verdict={} reasons={:?} fired={:?} review={} error={:?}",
        d.verdict.keyword(),
        d.reasons,
        d.fired,
        review_json(d),
        d.error
    )
}

/// What differs between a case's expectation and a decision (empty when it conforms).
fn differences(expect: &Expect, d: &Decision) -> Vec<&'static str> {
    let mut out = Vec::new();
    if d.verdict.keyword() != expect.verdict {
        out.push("verdict");
    }
    if d.reasons != expect.reasons {
        out.push("reasons");
    }
    if expect.fired.as_ref().is_some_and(|f| *f != d.fired) {
        out.push("fired");
    }
    if let Some(review) = &expect.review
        && review.clone().unwrap_or(Json::Null) != review_json(d)
    {
        out.push("review");
    }
    if let Some(part) = &expect.error_contains
        && !d
            .error
            .as_deref()
            .is_some_and(|e| e.contains(part.as_str()))
    {
        out.push("error");
    }
    out
}

fn expected_text(e: &Expect) -> String {
    let mut s = format!("verdict={} reasons={:?}", e.verdict, e.reasons);
    if let Some(f) = &e.fired {
        s.push_str(&format!(" fired={f:?}"));
    }
    if let Some(r) = &e.review {
        s.push_str(&format!(" review={}", r.clone().unwrap_or(Json::Null)));
    }
    if let Some(part) = &e.error_contains {
        s.push_str(&format!(" error containing {part:?}"));
    }
    s
}

/// Decides every case of every scenario on every engine; the failures, and how many cases ran.
fn run_scenarios(scenarios: &[PathBuf]) -> (Vec<String>, usize) {
    let mut failures: Vec<String> = Vec::new();
    let mut total_cases = 0;
    for dir in scenarios {
        let scenario = dir
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let program = match sources(dir).and_then(|files| compile(&files)) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{scenario}: {e}"));
                continue;
            }
        };
        let cases = match cases(dir) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{scenario}: {e}"));
                continue;
            }
        };
        total_cases += cases.len();
        for case in &cases {
            let policy = match &case.target {
                Target::Policy(p) => p,
                Target::Decision(name, expect) => {
                    match program.decision(name) {
                        None => failures
                            .push(format!("{scenario} / {}: no decision `{name}`", case.name)),
                        Some((index, _)) => {
                            if let Some(d) = decision_differences(
                                &program,
                                index,
                                &case.input.to_string(),
                                expect,
                            ) {
                                failures.push(format!("{scenario} / {}: {d}", case.name));
                            }
                        }
                    }
                    continue;
                }
            };
            let Some((index, _)) = program.policy(policy) else {
                let names: Vec<&str> = program.policies.iter().map(|p| p.name.as_str()).collect();
                failures.push(format!(
                    "{scenario} / {}: no policy `{}`; the policies are: {}",
                    case.name,
                    policy,
                    names.join(", ")
                ));
                continue;
            };
            let input = case.input.to_string();
            for (engine_name, engine) in ENGINES {
                let Some(decision) = engine(&program, index, &input) else {
                    continue;
                };
                let diff = differences(&case.expect, &decision);
                if !diff.is_empty() {
                    failures.push(format!(
                        "{scenario} / {} [{engine_name}]: {} differ\n    expected {}\n    actual   {}",
                        case.name,
                        diff.join(", "),
                        expected_text(&case.expect),
                        describe(&decision)
                    ));
                }
            }
        }
    }
    (failures, total_cases)
}

#[test]
fn conformance_corpus() {
    let scenarios = scenarios(&corpus_dir());
    let (mut failures, total_cases) = run_scenarios(&scenarios);
    if scenarios.len() < MIN_SCENARIOS {
        failures.push(format!(
            "the corpus has {} scenario(s); it must keep at least {MIN_SCENARIOS}",
            scenarios.len()
        ));
    }
    if total_cases < MIN_CASES {
        failures.push(format!(
            "the corpus has {total_cases} case(s); it must keep at least {MIN_CASES}"
        ));
    }
    assert!(
        failures.is_empty(),
        "{} conformance failure(s) ({} scenarios, {total_cases} cases):\n\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n\n")
    );
}

/// The seed scenarios of issue 7 that are written so far (`examples/scenarios/`), each a
/// project with its cases, decided like the corpus on both engines.
#[test]
fn seed_scenarios() {
    let scenarios = scenarios(&seed_dir());
    let (failures, total_cases) = run_scenarios(&scenarios);
    assert!(scenarios.len() >= 3, "{} seed scenario(s)", scenarios.len());
    assert!(total_cases >= 10, "{total_cases} seed case(s)");
    assert!(
        failures.is_empty(),
        "{} seed scenario failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
