//! The engines workload (workload (b) of the performance issue): `n` deny rules of the shape
//! `deny "seg-i" when c.segment == "seg-i" and c.messages_7d >= i` and a final `allow "ok"`,
//! written for XOP, Cedar, Rego and as hand-written Rust, plus the inputs the benchmark checks
//! them on. The peers (Cedar, regorus) are behind the `peers` feature so that CI never builds
//! them; `benches/engines.rs` needs it.

use std::collections::HashMap;
use std::fmt::Write as _;

use xop_compiler::db::Workspace;
use xop_runtime::interp::{self, Decision, NoSignals};
use xop_runtime::ir::{Program, Verdict};
use xop_runtime::jit::{self, Bound, JitModule, JsonReader, Output};
use xop_runtime::value::Value;

/// The policy's name in [`xop_source`].
pub const POLICY: &str = "segments";

/// The XOP source of the workload with `n` deny rules.
pub fn xop_source(n: usize) -> String {
    let mut s = String::from(
        "module bench.engines\n\nuse std.consent.service\n\n\
         record Customer {\n  id: Id\n  segment: Text\n  messages_7d: Int\n}\n\n\
         action act(to: Customer) purpose service risk minimal\n\n",
    );
    let _ = writeln!(s, "policy {POLICY} for act(to: c) {{");
    for i in 0..n {
        let _ = writeln!(
            s,
            "  deny \"seg-{i}\" when c.segment == \"seg-{i}\" and c.messages_7d >= {i}"
        );
    }
    s.push_str("  allow \"ok\"\n}\n");
    s
}

/// The Cedar policy set of the workload: `(id, text)` per policy, `forbid` ids equal to XOP's
/// deny reasons. The input is the request's context, `{"to": {...}}` like XOP's JSON input.
pub fn cedar_policies(n: usize) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("seg-{i}"),
                format!(
                    "forbid (principal, action, resource) when {{ context.to.segment == \"seg-{i}\" && context.to.messages_7d >= {i} }};"
                ),
            )
        })
        .collect();
    out.push((
        "ok".to_string(),
        "permit (principal, action, resource);".to_string(),
    ));
    out
}

/// The Rego policy of the workload (`package xop`): `deny` is the set of XOP's deny reasons,
/// `result` the entry point (`data.xop.result`) with `allow` and `deny`.
pub fn rego_source(n: usize) -> String {
    let mut s = String::from("package xop\n\n");
    for i in 0..n {
        let _ = writeln!(
            s,
            "deny contains \"seg-{i}\" if {{\n  input.to.segment == \"seg-{i}\"\n  input.to.messages_7d >= {i}\n}}\n"
        );
    }
    s.push_str("default allow := false\n\nallow if count(deny) == 0\n\n");
    s.push_str("result := {\"allow\": allow, \"deny\": deny}\n");
    s
}

/// The customer, as hand-written Rust holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Its id.
    pub id: String,
    /// Its segment.
    pub segment: String,
    /// Messages sent to it in the last 7 days.
    pub messages_7d: i64,
}

impl Customer {
    /// The XOP JSON input (`{"to": {...}}`), also Cedar's context and Rego's input.
    pub fn json(&self) -> String {
        format!(
            r#"{{"to": {{"id": "{}", "segment": "{}", "messages_7d": {}}}}}"#,
            self.id, self.segment, self.messages_7d
        )
    }
}

/// The hand-written Rust equivalent of the policy: its rules as a table of `(segment,
/// threshold, reason)`, built once; and, for [`Handwritten::decide_indexed`], the same rules
/// indexed by segment.
#[derive(Debug, Clone)]
pub struct Handwritten {
    rules: Vec<(String, i64, String)>,
    by_segment: HashMap<String, Vec<(i64, String)>>,
}

impl Handwritten {
    /// The table for `n` rules.
    pub fn new(n: usize) -> Handwritten {
        let rules: Vec<(String, i64, String)> = (0..n)
            .map(|i| {
                let seg = format!("seg-{i}");
                (seg.clone(), i as i64, seg)
            })
            .collect();
        let mut by_segment: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        for (seg, min, reason) in &rules {
            by_segment
                .entry(seg.clone())
                .or_default()
                .push((*min, reason.clone()));
        }
        Handwritten { rules, by_segment }
    }

    /// Whether `c` is denied, and the reasons (deny reasons in rule order, or `["ok"]`), as
    /// XOP's decision gives them.
    pub fn decide(&self, c: &Customer) -> (bool, Vec<String>) {
        let mut reasons = Vec::new();
        for (seg, min, reason) in &self.rules {
            if c.segment == *seg && c.messages_7d >= *min {
                reasons.push(reason.clone());
            }
        }
        if reasons.is_empty() {
            (false, vec!["ok".to_string()])
        } else {
            (true, reasons)
        }
    }

    /// The same decision, written the way one would by hand knowing that every rule tests
    /// the segment for equality: one hash lookup instead of a scan of the rules.
    pub fn decide_indexed(&self, c: &Customer) -> (bool, Vec<String>) {
        let reasons: Vec<String> = self
            .by_segment
            .get(&c.segment)
            .into_iter()
            .flatten()
            .filter(|(min, _)| c.messages_7d >= *min)
            .map(|(_, reason)| reason.clone())
            .collect();
        if reasons.is_empty() {
            (false, vec!["ok".to_string()])
        } else {
            (true, reasons)
        }
    }
}

/// The XOP workload compiled: the program, the policy's index and the JIT module.
pub struct Xop {
    /// The lowered program (shared with the compiled module).
    pub program: std::sync::Arc<Program>,
    /// The policy's index in `program`.
    pub policy: usize,
    /// The compiled module.
    pub jit: JitModule,
}

/// Source to ready-to-call: parse, check (everything `xop check` reports, compliance proofs
/// included), lower and JIT-compile. Panics if the source has diagnostics or the JIT refuses
/// the policy.
pub fn xop_compile(source: &str) -> Xop {
    xop_compile_policy(source, POLICY)
}

/// [`xop_compile`] for the policy named `policy`.
pub fn xop_compile_policy(source: &str, policy: &str) -> Xop {
    let mut ws = Workspace::new();
    ws.set_file("bench/engines.xop", source);
    let diags = ws.diagnostics();
    assert!(diags.is_empty(), "diagnostics: {diags:#?}");
    let program =
        std::sync::Arc::new(xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowering"));
    let (policy, _) = program.policy(policy).expect("the policy");
    let jit = jit::compile_shared(program.clone());
    if let Some(why) = jit.unsupported(policy) {
        panic!("the JIT does not compile the policy: {why}");
    }
    Xop {
        program,
        policy,
        jit,
    }
}

impl Xop {
    /// `c` as the policy's bound arguments.
    pub fn args(&self, c: &Customer) -> Vec<Value> {
        let bound = xop_runtime::bind::bind_json(&self.program, self.policy, &c.json())
            .expect("binding the input");
        bound.args
    }

    /// `c` laid out for the JIT (the "input bound" form of the hot path).
    pub fn bound(&self, c: &Customer) -> Bound {
        self.jit
            .bind(self.policy, &self.args(c))
            .expect("binding the input")
    }

    /// An output buffer for [`Xop::run`], reused across calls.
    pub fn output(&self) -> Output {
        self.jit.output(self.policy)
    }

    /// The hot path: the compiled policy on a bound input, into a reused output (verdict,
    /// reason bits, fired bits); no allocation.
    pub fn run(&self, input: &Bound, out: &mut Output) -> Option<Verdict> {
        self.jit.run(input, 0, out).expect("the policy runs");
        out.verdict()
    }

    /// Buffers for [`Xop::run_json`], reused across calls.
    pub fn json_input(&self) -> JsonInput {
        JsonInput {
            reader: self
                .jit
                .json_reader(self.policy)
                .expect("the policy is compiled"),
            bound: Bound::empty(),
        }
    }

    /// From JSON text to the hot path's output: the JIT's JSON reader lays the text out
    /// straight into a reused input (no `serde_json::Value`, no `Value`s), then the run (at
    /// the input's `now`, else 0).
    pub fn run_json(&self, input: &mut JsonInput, json: &str, out: &mut Output) -> Option<Verdict> {
        let now = input
            .reader
            .bind_json_into(&self.jit, json, &mut input.bound)
            .expect("reading the input");
        self.jit
            .run(&input.bound, now.unwrap_or(0), out)
            .expect("the policy runs");
        out.verdict()
    }

    /// The path before the JSON reader: `bind_json` to `Value`s, `JitModule::bind`, run.
    pub fn run_json_values(&self, json: &str, out: &mut Output) -> Option<Verdict> {
        let (input, now) = self.bound_json(json);
        self.jit.run(&input, now, out).expect("the policy runs");
        out.verdict()
    }

    /// JSON text laid out for the JIT, and its `now` (0 if it has none).
    pub fn bound_json(&self, json: &str) -> (Bound, i64) {
        let bound = xop_runtime::bind::bind_json(&self.program, self.policy, json)
            .expect("binding the input");
        let input = self
            .jit
            .bind(self.policy, &bound.args)
            .expect("laying out the input");
        (input, bound.now_ms.unwrap_or(0))
    }

    /// The hot path at time `now`.
    pub fn run_at(&self, input: &Bound, now: i64, out: &mut Output) -> Option<Verdict> {
        self.jit.run(input, now, out).expect("the policy runs");
        out.verdict()
    }

    /// The interpreter's decision on JSON text.
    pub fn interp_json(&self, json: &str) -> Decision {
        let bound = xop_runtime::bind::bind_json(&self.program, self.policy, json)
            .expect("binding the input");
        interp::decide(
            &self.program,
            self.policy,
            &bound.args,
            bound.now_ms.unwrap_or(0),
            &NoSignals,
        )
    }

    /// An output as every engine can state it (see [`outcome`]), from the verdict and the
    /// reason bits the generated code wrote.
    pub fn output_outcome(&self, out: &Output) -> (bool, Vec<String>) {
        let mut reasons: Vec<String> = (out.reason_names(&self.jit).into_iter())
            .map(str::to_string)
            .collect();
        reasons.sort();
        (out.verdict() == Some(Verdict::Deny), reasons)
    }

    /// The JIT's decision.
    pub fn jit(&self, args: &[Value]) -> Decision {
        self.jit
            .decide(self.policy, args, 0)
            .expect("the policy is compiled")
    }

    /// The interpreter's decision.
    pub fn interp(&self, args: &[Value]) -> Decision {
        interp::decide(&self.program, self.policy, args, 0, &NoSignals)
    }

    /// From JSON text: bind, then the JIT's decision.
    pub fn jit_json(&self, json: &str) -> Decision {
        let bound = xop_runtime::bind::bind_json(&self.program, self.policy, json)
            .expect("binding the input");
        self.jit(&bound.args)
    }
}

/// The JSON reader of [`Xop`]'s policy and the input it fills ([`Xop::run_json`]).
pub struct JsonInput {
    reader: JsonReader,
    bound: Bound,
}

impl JsonInput {
    /// Whether the last read took the reference path instead of the fast one.
    pub fn fell_back(&self) -> bool {
        self.reader.fell_back()
    }

    /// Whether the last read replayed the shape learned from the read before.
    pub fn replayed(&self) -> bool {
        self.reader.replayed()
    }

    /// Turns the reader's replaying of learned shapes on or off (`JsonReader::set_replay`).
    pub fn set_replay(&mut self, on: bool) {
        self.reader.set_replay(on);
    }

    /// Whether the last read ran the learned shape's compiled code.
    pub fn compiled(&self) -> bool {
        self.reader.compiled()
    }

    /// Compiles the shape the reader learned from the last input (`JsonReader::compile_now`):
    /// what a reader does by itself after 65,536 replays of it; whether there is code now.
    pub fn compile_now(&mut self) -> bool {
        self.reader.compile_now()
    }

    /// Turns the reader's compiling of learned shapes on or off (`JsonReader::set_compile`).
    pub fn set_compile(&mut self, on: bool) {
        self.reader.set_compile(on);
    }
}

/// A decision as every engine can state it: denied, and the sorted reasons (deny reasons, or
/// `["ok"]` for the allow).
pub fn outcome(d: &Decision) -> (bool, Vec<String>) {
    let mut reasons = d.reasons.clone();
    reasons.sort();
    (d.verdict == Verdict::Deny, reasons)
}

/// `count` inputs for `n` rules, deterministic: segments that match a rule, some that do not,
/// message counts on both sides of each threshold.
pub fn inputs(n: usize, count: usize) -> Vec<Customer> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..count)
        .map(|k| {
            let r = next();
            let seg = (r % (n as u64 + 10)) as i64;
            let segment = if seg < n as i64 {
                format!("seg-{seg}")
            } else {
                ["vip", "standard", "seg-", "seg--1", "SEG-1"][(seg as usize) % 5].to_string()
            };
            let messages_7d = match k % 4 {
                0 => seg,
                1 => seg - 1,
                2 => (next() % (2 * n as u64 + 1)) as i64,
                _ => -((next() % 5) as i64),
            };
            Customer {
                id: format!("c-{k}"),
                segment,
                messages_7d,
            }
        })
        .collect()
}

/// The peers: Cedar and regorus, prepared once.
#[cfg(feature = "peers")]
pub mod peers {
    use std::str::FromStr as _;
    use std::sync::Arc;

    use cedar_policy::{
        Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, Policy, PolicyId,
        PolicySet, Request, Response,
    };
    use regorus::rvm::RegoVM;
    use regorus::rvm::program::Program as RvmProgram;

    use super::Customer;

    /// The Cedar side: an authorizer, the policy set, no entities, and the fixed principal,
    /// action and resource.
    pub struct Cedar {
        authorizer: Authorizer,
        policies: PolicySet,
        entities: Entities,
        principal: EntityUid,
        action: EntityUid,
        resource: EntityUid,
    }

    impl Cedar {
        /// The policy set for `n` rules.
        pub fn new(n: usize) -> Cedar {
            Cedar::with_policies(super::cedar_policies(n))
        }

        /// A policy set of `(id, text)` policies.
        pub fn with_policies(texts: Vec<(String, String)>) -> Cedar {
            let mut policies = PolicySet::new();
            for (id, text) in texts {
                let p = Policy::parse(Some(PolicyId::new(&id)), &text).expect("cedar policy");
                policies.add(p).expect("adding a cedar policy");
            }
            Cedar {
                authorizer: Authorizer::new(),
                policies,
                entities: Entities::empty(),
                principal: EntityUid::from_str(r#"Agent::"bench""#).expect("uid"),
                action: EntityUid::from_str(r#"Action::"act""#).expect("uid"),
                resource: EntityUid::from_str(r#"Customer::"c""#).expect("uid"),
            }
        }

        /// The request for a context given as JSON text (what "from JSON" measures).
        pub fn request_json(&self, json: &str) -> Request {
            let context = Context::from_json_str(json, None).expect("cedar context");
            Request::new(
                self.principal.clone(),
                self.action.clone(),
                self.resource.clone(),
                context,
                None,
            )
            .expect("cedar request")
        }

        /// The request for `c`, built once before timing.
        pub fn request(&self, c: &Customer) -> Request {
            self.request_json(&c.json())
        }

        /// Authorizes a prepared request.
        pub fn authorize(&self, request: &Request) -> Response {
            self.authorizer
                .is_authorized(request, &self.policies, &self.entities)
        }

        /// From JSON text: the context parsed, the request built, then authorized.
        pub fn authorize_json(&self, json: &str) -> Response {
            self.authorize(&self.request_json(json))
        }
    }

    /// A Cedar response as [`super::outcome`] states it: denied, and the ids of the determining
    /// policies (the forbids that applied, or the permit), sorted.
    pub fn cedar_outcome(r: &Response) -> (bool, Vec<String>) {
        assert!(
            r.diagnostics().errors().next().is_none(),
            "cedar errors: {:?}",
            r.diagnostics().errors().collect::<Vec<_>>()
        );
        let mut reasons: Vec<String> = r.diagnostics().reason().map(|p| p.to_string()).collect();
        reasons.sort();
        (r.decision() == CedarDecision::Deny, reasons)
    }

    /// The regorus side: the policy compiled for its bytecode VM (RVM), entry point
    /// `data.xop.result`; also the tree-walking engine, for reference.
    pub struct Rego {
        program: Arc<RvmProgram>,
        vm: RegoVM,
        engine: regorus::Engine,
    }

    /// The entry point.
    pub const ENTRY: &str = "data.xop.result";

    impl Rego {
        /// The policy for `n` rules, compiled.
        pub fn new(n: usize) -> Rego {
            Rego::with_source(super::rego_source(n))
        }

        /// A policy (`package xop`, entry [`ENTRY`]), compiled.
        pub fn with_source(source: String) -> Rego {
            let mut engine = regorus::Engine::new();
            engine
                .add_policy("xop.rego".to_string(), source)
                .expect("rego policy");
            let compiled = engine
                .compile_with_entrypoint(&regorus::Rc::from(ENTRY))
                .expect("compiling the rego policy");
            let program = regorus::languages::rego::compiler::Compiler::compile_from_policy(
                &compiled,
                &[ENTRY],
            )
            .expect("compiling to the RVM");
            let mut vm = RegoVM::new();
            vm.load_program(program.clone());
            Rego {
                program,
                vm,
                engine,
            }
        }

        /// The input for `c`, parsed once before timing.
        pub fn input(c: &Customer) -> regorus::Value {
            regorus::Value::from_json_str(&c.json()).expect("rego input")
        }

        /// Evaluates on the RVM with a prepared input (the clone is the VM's `set_input`
        /// taking ownership; a `Value` clone is a reference-count increment).
        pub fn eval(&mut self, input: &regorus::Value) -> regorus::Value {
            self.vm.set_input(input.clone());
            self.vm.execute().expect("rvm execution")
        }

        /// From JSON text: parse the input, then evaluate on the RVM.
        pub fn eval_json(&mut self, json: &str) -> regorus::Value {
            let input = regorus::Value::from_json_str(json).expect("rego input");
            self.vm.set_input(input);
            self.vm.execute().expect("rvm execution")
        }

        /// Evaluates with regorus's tree-walking interpreter (its default evaluator).
        pub fn eval_interp(&mut self, input: &regorus::Value) -> regorus::Value {
            self.engine.set_input(input.clone());
            self.engine
                .eval_rule(ENTRY.to_string())
                .expect("rego evaluation")
        }

        /// A fresh VM over the same program (the RVM keeps state between runs).
        pub fn fresh_vm(&mut self) {
            self.vm = RegoVM::new();
            self.vm.load_program(self.program.clone());
        }
    }

    /// A Rego result as [`super::outcome`] states it: denied, and the deny set, or `["ok"]`
    /// when allowed.
    pub fn rego_outcome(v: &regorus::Value) -> (bool, Vec<String>) {
        let allow = *v["allow"].as_bool().expect("allow is a bool");
        let mut deny: Vec<String> = v["deny"]
            .as_set()
            .expect("deny is a set")
            .iter()
            .map(|r| r.as_string().expect("a deny reason").to_string())
            .collect();
        deny.sort();
        assert_eq!(allow, deny.is_empty(), "allow iff no deny: {v}");
        if allow {
            (false, vec!["ok".to_string()])
        } else {
            (true, deny)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The XOP engines and the hand-written Rust agree on the workload (small, for CI speed).
    #[test]
    fn xop_and_handwritten_agree() {
        let n = 12;
        let xop = xop_compile(&xop_source(n));
        let hand = Handwritten::new(n);
        let mut denied = 0;
        for c in inputs(n, 50) {
            let args = xop.args(&c);
            let want = hand.decide(&c);
            assert_eq!(hand.decide_indexed(&c), want, "{c:?}");
            denied += usize::from(want.0);
            assert_eq!(outcome(&xop.jit(&args)), want, "{c:?}");
            assert_eq!(outcome(&xop.interp(&args)), want, "{c:?}");
            assert_eq!(outcome(&xop.jit_json(&c.json())), want, "{c:?}");
        }
        assert!((5..45).contains(&denied), "{denied} of 50 denied");
    }
}
