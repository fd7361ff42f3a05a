//! The abstract syntax tree: what the parser read, with a span on every node.
//!
//! The AST holds only what is written in the source; names are not resolved and nothing is
//! typed here (that is `resolve.rs` and `types.rs`). Nodes derive `Serialize` so that tests can
//! compare two trees with their spans erased (see [`erase_spans`]).

use std::sync::Arc;

use serde::Serialize;

use crate::span::Span;

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// A dotted path: `std.consent.consent`, `Segment.vip`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Path {
    /// The segments, at least one.
    pub segments: Vec<Ident>,
    /// The whole path.
    pub span: Span,
}

impl Path {
    /// The path as written, segments joined by `.`.
    pub fn dotted(&self) -> String {
        let names: Vec<&str> = self.segments.iter().map(|s| s.name.as_str()).collect();
        names.join(".")
    }

    /// The last segment.
    pub fn last(&self) -> &Ident {
        // A path always has at least one segment: the grammar builds none without.
        &self.segments[self.segments.len() - 1]
    }
}

/// A parsed source file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
pub struct File {
    /// `module a.b`, if written (a file without one is an error, reported by the resolver).
    pub module: Option<ModuleDecl>,
    /// `use` declarations, in order.
    pub uses: Vec<Use>,
    /// Everything else, in order. Items the parser could not read are [`ItemKind::Error`].
    /// Shared, so that the query that hands one item to the checks copies a pointer.
    pub items: Vec<Arc<Item>>,
}

/// `module acme.contact`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ModuleDecl {
    /// Doc comment lines before it (without `///`).
    pub docs: Vec<String>,
    /// The module's name.
    pub path: Path,
    /// The whole declaration.
    pub span: Span,
}

/// `use std.consent.consent`, `use std.channel.*`, `use std.time.{local_hour, day_of_week}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Use {
    /// Doc comment lines before it.
    pub docs: Vec<String>,
    /// The module path (for `Single`, the path up to and including the item).
    pub path: Path,
    /// What is imported from it.
    pub kind: UseKind,
    /// The whole declaration.
    pub span: Span,
}

/// What a `use` imports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum UseKind {
    /// `use a.b.item` or `use a.b.item as alias`: the last segment of the path is the item.
    Single {
        /// `as alias`, if written.
        alias: Option<Ident>,
    },
    /// `use a.b.*`: every public item of module `a.b`.
    Glob,
    /// `use a.b.{x, y}`: the named items of module `a.b`.
    Group(Vec<Ident>),
}

/// `@personal(purpose: [service, fraud])`, `@reaches_phone`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Annotation {
    /// The annotation's name, without `@`.
    pub name: Ident,
    /// Its arguments.
    pub args: Vec<Arg>,
    /// The whole annotation.
    pub span: Span,
}

/// A top-level declaration with its doc comment and annotations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Item {
    /// Doc comment lines (`///`), without the `///` and one leading space.
    pub docs: Vec<String>,
    /// Annotations written before it.
    pub annotations: Vec<Annotation>,
    /// What it declares.
    pub kind: ItemKind,
    /// The whole item, docs and annotations included.
    pub span: Span,
}

/// The expressions and types written directly in an item (each with the parts nested in it),
/// for passes that must see every one: [`Item::roots_mut`].
#[derive(Default)]
pub struct Roots<'a> {
    /// Expressions: conditions, bodies, arguments, values.
    pub exprs: Vec<&'a mut Expr>,
    /// Types: of parameters, fields, signals and functions.
    pub types: Vec<&'a mut TypeExpr>,
}

impl<'a> Roots<'a> {
    fn params(&mut self, params: &'a mut [Param]) {
        for p in params {
            self.args(p.annotations.iter_mut().flat_map(|a| &mut a.args));
            self.types.push(&mut p.ty);
        }
    }

    fn args(&mut self, args: impl IntoIterator<Item = &'a mut Arg>) {
        self.exprs.extend(args.into_iter().map(|a| &mut a.value));
    }

    fn condition(&mut self, c: &'a mut Option<Condition>) {
        self.exprs.extend(c.as_mut().map(|c| &mut c.expr));
    }
}

impl Item {
    /// Every expression and type written directly in the item, annotations included.
    pub fn roots_mut(&mut self) -> Roots<'_> {
        let mut r = Roots::default();
        r.args(self.annotations.iter_mut().flat_map(|a| &mut a.args));
        match &mut self.kind {
            ItemKind::Record(x) => r.params(&mut x.fields),
            ItemKind::Action(x) => r.params(&mut x.params),
            ItemKind::Event(x) => r.params(&mut x.params),
            ItemKind::Signal(x) => {
                r.params(&mut x.params);
                r.types.push(&mut x.ty);
                r.args(&mut x.source_args);
                r.exprs.extend(x.max_age.as_mut());
            }
            ItemKind::Fn(x) => {
                r.params(&mut x.params);
                r.types.push(&mut x.ret);
                r.exprs.extend(x.body.as_mut());
            }
            ItemKind::Policy(x) => {
                for rule in &mut x.rules {
                    if let Rule::Rule {
                        kind, condition, ..
                    } = rule
                    {
                        if let RuleKind::Review { within, .. } = kind {
                            r.exprs.push(within);
                        }
                        r.condition(condition);
                    }
                }
            }
            ItemKind::Decision(x) => {
                r.params(&mut x.params);
                for p in &mut x.proposals {
                    r.args(&mut p.call.args);
                    r.exprs.extend(p.rank.as_mut());
                    r.condition(&mut p.condition);
                }
            }
            ItemKind::Journey(x) => {
                r.params(&mut x.params);
                for h in x.states.iter_mut().flat_map(|s| &mut s.handlers) {
                    match &mut h.trigger {
                        Trigger::On { condition, .. } => r.condition(condition),
                        Trigger::Wait(e) => r.exprs.push(e),
                        Trigger::Error(_) => {}
                    }
                    for step in &mut h.steps {
                        if let Step::Propose(call) = step {
                            r.args(&mut call.args);
                        }
                    }
                }
            }
            ItemKind::Test(x) => {
                for stmt in &mut x.body {
                    match stmt {
                        TestStmt::Let { value, .. } => r.exprs.push(value),
                        TestStmt::Expect(e) => {
                            r.args(&mut e.call.args);
                            r.exprs.extend(e.at.as_mut());
                            r.exprs.extend(e.given.iter_mut().map(|(_, v)| v));
                        }
                        TestStmt::Error(_) => {}
                    }
                }
            }
            ItemKind::Enum(_)
            | ItemKind::Role(_)
            | ItemKind::Channel(_)
            | ItemKind::Purpose(_)
            | ItemKind::Agent(_)
            | ItemKind::Error => {}
        }
        r
    }
}

impl Item {
    /// The declared name, if the item has one (tests are named by text, errors by nothing).
    pub fn name(&self) -> Option<&Ident> {
        match &self.kind {
            ItemKind::Record(x) => Some(&x.name),
            ItemKind::Enum(x) => Some(&x.name),
            ItemKind::Action(x) => Some(&x.name),
            ItemKind::Signal(x) => Some(&x.name),
            ItemKind::Role(x) | ItemKind::Channel(x) | ItemKind::Purpose(x) => Some(x),
            ItemKind::Event(x) => Some(&x.name),
            ItemKind::Fn(x) => Some(&x.name),
            ItemKind::Policy(x) => Some(&x.name),
            ItemKind::Decision(x) => Some(&x.name),
            ItemKind::Journey(x) => Some(&x.name),
            ItemKind::Agent(x) => Some(&x.name),
            ItemKind::Test(_) | ItemKind::Error => None,
        }
    }

    /// The declaration keyword, for messages.
    pub fn keyword(&self) -> &'static str {
        match &self.kind {
            ItemKind::Record(_) => "record",
            ItemKind::Enum(_) => "enum",
            ItemKind::Action(_) => "action",
            ItemKind::Signal(_) => "signal",
            ItemKind::Role(_) => "role",
            ItemKind::Channel(_) => "channel",
            ItemKind::Purpose(_) => "purpose",
            ItemKind::Event(_) => "event",
            ItemKind::Fn(f) if f.body.is_none() => "intrinsic",
            ItemKind::Fn(_) => "fn",
            ItemKind::Policy(_) => "policy",
            ItemKind::Decision(_) => "decision",
            ItemKind::Journey(_) => "journey",
            ItemKind::Agent(_) => "agent",
            ItemKind::Test(_) => "test",
            ItemKind::Error => "item",
        }
    }
}

/// The kinds of top-level declaration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum ItemKind {
    /// `record Customer { ... }`
    Record(Record),
    /// `enum Segment { vip, standard }`
    Enum(Enum),
    /// `action send_offer(...) purpose marketing risk minimal`
    Action(Action),
    /// `signal sim_swap(c: Customer): SimSwap from camara.sim_swap(c.msisdn) max_age 5m`
    Signal(Signal),
    /// `role fraud_desk`
    Role(Ident),
    /// `channel sms`
    Channel(Ident),
    /// `purpose marketing`
    Purpose(Ident),
    /// `event call_ended(c: Customer)`
    Event(Event),
    /// `fn name(params): T = expr`, or `intrinsic name(params): T` (no body).
    Fn(Function),
    /// `policy contact for send_offer(to: c) at now { rules }`
    Policy(Policy),
    /// `decision next_best(c: Customer) at now { propose ... }`
    Decision(Decision),
    /// `journey onboarding(c: Customer) { state ... }`
    Journey(Journey),
    /// `agent support_bot { tool "crm.refund" -> refund(amount) }`
    Agent(Agent),
    /// `test "name" { expect ... }`
    Test(Test),
    /// Input the parser skipped to recover from a syntax error.
    Error,
}

/// A type as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum TypeExpr {
    /// `Int`, `Customer`, `List<Text>`, `std.camara.SimSwap`.
    Named {
        /// The type's name.
        path: Path,
        /// Type arguments (`List<T>`, `Set<T>`).
        args: Vec<TypeExpr>,
        /// The whole type.
        span: Span,
    },
    /// `T?`: a value that may be absent.
    Optional {
        /// The present type.
        inner: Box<TypeExpr>,
        /// The whole type.
        span: Span,
    },
    /// `{ consents: List<Consent>, .. }`: any record with at least these fields (intrinsics only).
    Open {
        /// The required fields.
        fields: Vec<(Ident, TypeExpr)>,
        /// The whole type.
        span: Span,
    },
    /// A type the parser refused (nested too deeply, see `nesting`); already reported.
    Error(Span),
}

/// Dropping a type recurses only so deep (see `crate::nesting::drop_tree`).
impl Drop for TypeExpr {
    fn drop(&mut self) {
        crate::nesting::drop_tree(self);
    }
}

impl TypeExpr {
    /// Where the type is written.
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named { span, .. }
            | TypeExpr::Optional { span, .. }
            | TypeExpr::Open { span, .. }
            | TypeExpr::Error(span) => *span,
        }
    }
}

/// A named, typed parameter or field: `name: Type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Param {
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Annotations (`@personal(...)` on record fields).
    pub annotations: Vec<Annotation>,
    /// The name.
    pub name: Ident,
    /// The type.
    pub ty: TypeExpr,
    /// The whole parameter.
    pub span: Span,
}

/// `record Name { fields }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Record {
    /// The record's name.
    pub name: Ident,
    /// Its fields, in order.
    pub fields: Vec<Param>,
}

/// `enum Name { a, b }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Enum {
    /// The enum's name.
    pub name: Ident,
    /// Its variants, in order.
    pub variants: Vec<Variant>,
}

/// One variant of an enum.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Variant {
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The variant's name.
    pub name: Ident,
}

/// `action name(params) purpose P risk R`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Action {
    /// The action's name.
    pub name: Ident,
    /// Its parameters.
    pub params: Vec<Param>,
    /// `purpose P`: what the action is for (consent is per purpose).
    pub purpose: Option<Ident>,
    /// `risk R`: its EU AI Act risk class (`minimal`, `limited`, `high`, `prohibited`).
    pub risk: Option<Ident>,
}

/// `signal name(params): T from source(args) max_age D`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Signal {
    /// The signal's name.
    pub name: Ident,
    /// Its parameters.
    pub params: Vec<Param>,
    /// The type of a present value (reading the signal gives `T?`).
    pub ty: TypeExpr,
    /// The connector it is read from.
    pub source: Path,
    /// The connector's arguments.
    pub source_args: Vec<Arg>,
    /// `max_age D`: older values count as absent.
    pub max_age: Option<Expr>,
}

/// `event name(params)`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Event {
    /// The event's name.
    pub name: Ident,
    /// What it carries.
    pub params: Vec<Param>,
}

/// `fn name(params): T = body` or `intrinsic name(params): T`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Function {
    /// The function's name.
    pub name: Ident,
    /// Its parameters.
    pub params: Vec<Param>,
    /// Its result type.
    pub ret: TypeExpr,
    /// Its body; `None` for an intrinsic, which the runtime implements.
    pub body: Option<Expr>,
}

/// `param: var` in a policy or event binding; `param` alone binds `param`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Binding {
    /// The action's (or event's) parameter.
    pub param: Ident,
    /// The local name it is bound to.
    pub var: Ident,
}

impl Binding {
    /// As it is written canonically: `to` when the local has the parameter's name, else
    /// `to: c`.
    pub fn written(&self) -> String {
        if self.param.name == self.var.name {
            self.param.name.clone()
        } else {
            format!("{}: {}", self.param.name, self.var.name)
        }
    }
}

/// What a policy guards.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Target {
    /// `for send_offer(...)`: one action.
    Action(Path),
    /// `for purpose marketing(...)`: every action with that purpose.
    Purpose(Ident),
}

/// `policy name for target(bindings) at now { rules }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Policy {
    /// The policy's name.
    pub name: Ident,
    /// What it guards.
    pub target: Target,
    /// Parameters of the guarded action bound to local names.
    pub bindings: Vec<Binding>,
    /// `at now`: the name bound to the decision's time.
    pub at: Option<Ident>,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// Its header as written canonically (`policy contact for send_offer(to: c)`), with the
    /// binding `added` (written, `to: c`) after its own and the decision time named `at`
    /// (its own `at` when `None`), for helps that say how to change it.
    pub fn header_with(&self, added: Option<&str>, at: Option<&str>) -> String {
        let mut text = format!("policy {} for ", self.name.name);
        match &self.target {
            Target::Action(path) => text.push_str(&path.dotted()),
            Target::Purpose(n) => text.push_str(&format!("purpose {}", n.name)),
        }
        let mut bindings: Vec<String> = self.bindings.iter().map(Binding::written).collect();
        bindings.extend(added.map(str::to_string));
        if !bindings.is_empty() {
            text.push_str(&format!("({})", bindings.join(", ")));
        }
        if let Some(at) = at.or(self.at.as_ref().map(|a| a.name.as_str())) {
            text.push_str(&format!(" at {at}"));
        }
        text
    }
}

/// A verdict a rule or a fallback gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Verdict {
    /// `allow`
    Allow,
    /// `deny`
    Deny,
    /// `review`
    Review,
}

impl Verdict {
    /// The keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Review => "review",
        }
    }
}

/// What a rule does when it applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum RuleKind {
    /// `deny`
    Deny,
    /// `allow`
    Allow,
    /// `review by role R within D else F`
    Review {
        /// The role whose members decide.
        role: Ident,
        /// How long they have.
        within: Expr,
        /// What applies if nobody decides in time (`allow` or `deny`).
        fallback: Verdict,
        /// Where the fallback is written.
        fallback_span: Span,
    },
}

/// `when cond` or `unless cond`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Condition {
    /// `true` for `unless`.
    pub negated: bool,
    /// The condition.
    pub expr: Expr,
    /// The whole clause, keyword included.
    pub span: Span,
}

/// One rule of a policy.
#[allow(clippy::large_enum_variant)] // error nodes are rare; boxing every rule is not worth it
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Rule {
    /// A rule the parser read.
    Rule {
        /// What it does.
        kind: RuleKind,
        /// Its reason code (required by the compliance checker, optional to the parser).
        reason: Option<TextLit>,
        /// When it applies; always if absent.
        condition: Option<Condition>,
        /// The whole rule.
        span: Span,
    },
    /// Input the parser skipped to recover from a syntax error.
    Error(Span),
}

/// A text literal with its decoded value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TextLit {
    /// The decoded text.
    pub value: String,
    /// Where it is written, quotes included.
    pub span: Span,
}

/// `decision name(params) at now { propose ... }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Decision {
    /// The decision's name.
    pub name: Ident,
    /// What it is given.
    pub params: Vec<Param>,
    /// `at now`: the name bound to the decision's time.
    pub at: Option<Ident>,
    /// The candidates, in order.
    pub proposals: Vec<Proposal>,
}

/// `propose action(args) rank by expr when cond`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Proposal {
    /// The proposed action, as a call.
    pub call: Call,
    /// `rank by expr`: higher ranks first.
    pub rank: Option<Expr>,
    /// When the candidate is proposed at all.
    pub condition: Option<Condition>,
    /// The whole proposal.
    pub span: Span,
}

/// `name(args)`: an action instance, or a call of a policy in a test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Call {
    /// What is called.
    pub callee: Path,
    /// The arguments.
    pub args: Vec<Arg>,
    /// The whole call.
    pub span: Span,
}

/// `journey name(params) { states }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Journey {
    /// The journey's name.
    pub name: Ident,
    /// Per-customer parameters.
    pub params: Vec<Param>,
    /// The states; the first is where a journey starts.
    pub states: Vec<State>,
}

/// `state name { handlers }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct State {
    /// The state's name.
    pub name: Ident,
    /// What it reacts to.
    pub handlers: Vec<Handler>,
    /// The whole state.
    pub span: Span,
}

/// What a journey state reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Trigger {
    /// `on event(bindings) when cond`
    On {
        /// The event.
        event: Path,
        /// The event's parameters bound to local names.
        bindings: Vec<Binding>,
        /// Only when this holds.
        condition: Option<Condition>,
    },
    /// `wait D`: no other handler fired within `D` of entering the state.
    Wait(Expr),
    /// `on` and what the parser could not read after it (the syntax error is reported); the
    /// handler's steps are still read.
    Error(Span),
}

/// A handler of a journey state: a trigger and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Handler {
    /// What starts it.
    pub trigger: Trigger,
    /// What it does, in order.
    pub steps: Vec<Step>,
    /// The whole handler.
    pub span: Span,
}

/// One step of a journey handler.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Step {
    /// `propose action(args)`: goes through the policies that guard the action.
    Propose(Call),
    /// `goto state`
    Goto(Ident),
}

/// `agent name { tool "x" -> action(params) }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Agent {
    /// The agent's name.
    pub name: Ident,
    /// Its tool bindings.
    pub tools: Vec<ToolBinding>,
}

/// `tool "crm.refund" -> refund(amount)`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ToolBinding {
    /// The MCP tool's name.
    pub tool: TextLit,
    /// The action it is bound to.
    pub action: Path,
    /// Action parameters filled from the tool call's arguments of the same name.
    pub params: Vec<Ident>,
    /// The whole binding.
    pub span: Span,
}

/// `test "name" { statements }`
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Test {
    /// What the test checks, in words.
    pub name: TextLit,
    /// Its statements, in order.
    pub body: Vec<TestStmt>,
}

/// A statement of a test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum TestStmt {
    /// `let name = expr`
    Let {
        /// The local name.
        name: Ident,
        /// Its value.
        value: Expr,
        /// The whole statement.
        span: Span,
    },
    /// `expect policy(action(args)) == verdict(reasons) at time given signal = value, ...`
    Expect(Expect),
    /// Input the parser skipped to recover from a syntax error.
    Error(Span),
}

/// `expect policy(action(args)) == verdict("reason", ...) at T given s = v, ...`, or, without
/// a policy around the action instance, `expect action(args) == …`: the action's verdict over
/// every policy guarding it.
///
/// The parser tells the two forms apart by their shape: `P(a(args))`, one positional argument
/// that is a call, is the policy form (`policy` is `P`); any other call is the action form. The
/// checker then requires `P` to be a policy, or the action form's callee to be an action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Expect {
    /// The policy under test, in the policy form; `None` in the action form.
    pub policy: Option<Path>,
    /// The action instance it is asked about.
    pub call: Call,
    /// The expected verdict.
    pub verdict: Verdict,
    /// The expected reasons, exactly, if written.
    pub reasons: Option<Vec<TextLit>>,
    /// `at T`: the decision's time.
    pub at: Option<Expr>,
    /// `given signal = value`: what each signal reads.
    pub given: Vec<(Ident, Expr)>,
    /// The whole statement.
    pub span: Span,
}

impl Expect {
    /// Splits the call written after `expect` into the policy and the action instance:
    /// `P(a(args))`, one positional argument that is a call (`a` may be a path, `m.a`), is the
    /// policy form (`Some(P)`); any other call is the action form (`None`, the call itself).
    pub fn subject(written: Call) -> (Option<Path>, Call) {
        fn segments(e: &Expr, out: &mut Vec<Ident>) -> bool {
            match &e.kind {
                ExprKind::Name(n) => {
                    out.push(n.clone());
                    true
                }
                ExprKind::Field(base, f) => {
                    let ok = segments(base, out);
                    out.push(f.clone());
                    ok
                }
                _ => false,
            }
        }
        let Call { callee, args, span } = written;
        if let [
            Arg {
                name: None,
                value:
                    Expr {
                        kind:
                            ExprKind::Call {
                                callee: inner,
                                receiver,
                                args: inner_args,
                            },
                        span: inner_span,
                    },
            },
        ] = args.as_slice()
        {
            let mut path = Vec::new();
            let start = match receiver {
                None => Some(inner.span.start()),
                Some(r) => segments(r, &mut path).then_some(r.span.start()),
            };
            if let Some(start) = start {
                path.extend(inner.segments.iter().cloned());
                let action = Call {
                    callee: Path {
                        segments: path,
                        span: Span::new(start, inner.span.end()),
                    },
                    args: inner_args.clone(),
                    span: *inner_span,
                };
                return (Some(callee), action);
            }
        }
        (None, Call { callee, args, span })
    }
}

/// An argument: positional, or named (`to: c`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Arg {
    /// `name:`, if written.
    pub name: Option<Ident>,
    /// The value.
    pub value: Expr,
}

/// An expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// The whole expression.
    pub span: Span,
}

/// Dropping an expression recurses only so deep, however deep it is (see
/// `crate::nesting::drop_tree`).
impl Drop for Expr {
    fn drop(&mut self) {
        crate::nesting::drop_tree(self);
    }
}

/// Literal values.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Literal {
    /// `true`, `false`
    Bool(bool),
    /// `42`
    Int(i64),
    /// `12.50`, as written (validated by the parser).
    Decimal(String),
    /// `12.50 EUR`: amount as written and currency code.
    Money(String, String),
    /// `"text"`, decoded.
    Text(String),
    /// `15m`: milliseconds, and the units as written (`24h` stays `24h` when formatted).
    Duration(i64, String),
    /// `2026-11-25T10:00:00Z`, as written (validated by the parser).
    Time(String),
    /// `absent`: no value.
    Absent,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `in`
    In,
    /// `not in`
    NotIn,
    /// `??`: the left value if present, else the right.
    Default,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::NotIn => "not in",
            BinOp::Default => "??",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }

    /// Binding strength: higher binds tighter. Used by the formatter to place parentheses.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq
            | BinOp::Ne
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::In
            | BinOp::NotIn => 4,
            BinOp::Default => 6,
            BinOp::Add | BinOp::Sub => 7,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 8,
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UnOp {
    /// `not`
    Not,
    /// `-`
    Neg,
}

/// The kinds of expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum ExprKind {
    /// A literal.
    Lit(Literal),
    /// A name: a local, a parameter, an enum variant, a channel, a purpose, a role.
    Name(Ident),
    /// `e.field`
    Field(Box<Expr>, Ident),
    /// `f(args)` or `receiver.f(args)` (the receiver is then the first argument).
    Call {
        /// What is called: a function, intrinsic, signal, or an enum's variant path.
        callee: Path,
        /// `receiver.` in method-call form.
        receiver: Option<Box<Expr>>,
        /// The arguments.
        args: Vec<Arg>,
    },
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `op a`
    Unary(UnOp, Box<Expr>),
    /// `e is absent` (`present == false`) or `e is present` (`present == true`).
    Is {
        /// The value that may be absent.
        expr: Box<Expr>,
        /// `true` for `is present`.
        present: bool,
    },
    /// `a..b` (half-open) or `a..=b` (inclusive).
    Range {
        /// The lower bound, included.
        lo: Box<Expr>,
        /// The upper bound.
        hi: Box<Expr>,
        /// Whether `hi` is included.
        inclusive: bool,
    },
    /// `if c then a else b`
    If(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `{a, b}`
    Set(Vec<Expr>),
    /// `{ field: value, .. }`: a record value (in tests); `..` fills the rest with defaults.
    Record {
        /// The given fields.
        fields: Vec<(Ident, Expr)>,
        /// Whether `..` is written.
        rest: bool,
    },
    /// `x => body`: only as the last argument of `any`, `all` and `count`.
    Lambda(Ident, Box<Expr>),
    /// `(e)`: kept so the formatter can keep the author's grouping.
    Paren(Box<Expr>),
    /// An expression the parser could not read.
    Error,
}

/// The AST as JSON with every `span` and `fallback_span` removed: two trees that differ only
/// in layout give equal values. Used to check that formatting keeps the meaning.
pub fn erase_spans(file: &File) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("span");
                map.remove("fallback_span");
                for (_, x) in map.iter_mut() {
                    strip(x);
                }
            }
            serde_json::Value::Array(xs) => xs.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(file).unwrap_or(serde_json::Value::Null);
    strip(&mut value);
    value
}
