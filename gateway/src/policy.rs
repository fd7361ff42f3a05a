//! From MCP to the policies: which bound tools are listed, and how a tool call becomes an
//! action's input.

use serde_json::{Map, Value as Json};
use xop_runtime::interp::BAD_INPUT;
use xop_runtime::ir::{Expr, Program, ToolBinding, Type, Verdict};
use xop_runtime::value::Value;

/// The reason of a call whose arguments include one that the binding does not name.
pub const UNBOUND_ARGUMENT: &str = "xop:unbound-argument";
/// The reason of a call of a tool that no binding of the agent names.
pub const UNBOUND_TOOL: &str = "xop:unbound-tool";
/// The reason of a tool call refused before it could be decided because the message is not a
/// valid one (arguments that are not an object, a key given twice, no tool name, a method
/// that only reads as `tools/call` to a loose reader, no id, an id in use).
pub const BAD_REQUEST: &str = "xop:bad-request";
/// The reason of a retry naming a review case that is unknown, closed, or another call's.
pub const BAD_CASE: &str = "xop:bad-case";
/// The reason added when a review's deadline passed and its fallback applied.
pub const REVIEW_EXPIRED: &str = "xop:review-expired";
/// The reason added when a reviewer approved a held call.
pub const REVIEW_APPROVED: &str = "xop:review-approved";
/// The reason added when a reviewer rejected a held call.
pub const REVIEW_REJECTED: &str = "xop:review-rejected";
/// The reason added when a signal the decision read was absent because the decision's
/// deadline (`--decide-timeout`) passed before the network answered: the policies decided on it
/// absent.
pub const DECIDE_TIMEOUT: &str = "xop:decide-timeout";
/// The reason added when the operator's halt switch sent a high-risk call to its fallback.
pub const HALTED: &str = "xop:halted";
/// The reason added when a high-risk call was denied because the review server could not say
/// whether its halt switch is on.
pub const HALT_UNKNOWN: &str = "xop:halt-unknown";

/// Whether a condition is the constant `b` (after `not`s): the only conditions the listing
/// evaluates statically.
fn constant(e: &Expr) -> Option<bool> {
    match e {
        Expr::Const(Value::Bool(b)) => Some(*b),
        Expr::Not(inner) => constant(inner).map(|b| !b),
        _ => None,
    }
}

/// Whether some policy can allow action `action`: it is what decides whether a tool bound to
/// the action is listed. A static over-approximation, so that no tool that could be allowed is
/// hidden: the action is listable unless it is *certainly* never allowed, which is when
///
/// - no policy guards it (an unguarded action is denied), or
/// - a guarding policy has a deny rule that always applies (no condition, or a constant true
///   one: deny wins over everything), or
/// - no guarding policy has an allow or review rule that can apply (a review counts: a person
///   may approve, or its fallback may allow).
///
/// Conditions other than constants are assumed satisfiable: a listed tool may still be denied
/// on every input (the compiler's C0101/C0102 warnings name such rules), and every call is
/// decided anyway.
pub fn can_allow(program: &Program, action: &str) -> bool {
    let mut guarded = false;
    let mut some_allow = false;
    for p in program.guards(action) {
        guarded = true;
        for r in &p.rules {
            let applies = r.condition.as_ref().map_or(Some(true), constant);
            match r.verdict {
                Verdict::Deny if applies == Some(true) => return false,
                Verdict::Deny => {}
                Verdict::Allow | Verdict::Review => some_allow |= applies != Some(false),
            }
        }
    }
    guarded && some_allow
}

/// The action parameters of `binding` that the tool call does not give and the context must:
/// those without a tool argument whose type is not optional.
pub fn context_params(binding: &ToolBinding) -> Vec<&str> {
    binding
        .params
        .iter()
        .enumerate()
        .filter(|(i, p)| binding.argument_for(*i).is_none() && !matches!(p.ty, Type::Optional(_)))
        .map(|(_, p)| p.name.as_str())
        .collect()
}

/// Whether tool `binding` is listed in a session with `context`: its action can be allowed and
/// the context gives every parameter the call does not (otherwise every call would be refused
/// as bad input).
pub fn listable(program: &Program, binding: &ToolBinding, context: &Map<String, Json>) -> bool {
    can_allow(program, &binding.action)
        && context_params(binding)
            .iter()
            .all(|p| context.contains_key(*p))
}

/// A call refused before any policy is asked: the reason and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The reason code ([`UNBOUND_ARGUMENT`] or [`BAD_INPUT`]).
    pub reason: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The action's input (the JSON `bind` reads: one key per action parameter, and `now`) for a
/// call of `binding` with `arguments`: each parameter the binding lists takes the argument of
/// the same name, the others the context's value of that name (the context is the session's
/// subject, trusted; the arguments come from the agent). An argument the binding does not name
/// refuses the call: a value no policy sees must not reach the tool (no shadow orchestration).
pub fn action_input(
    binding: &ToolBinding,
    arguments: &Map<String, Json>,
    context: &Map<String, Json>,
    now: &str,
) -> Result<Json, Refusal> {
    if let Some(extra) = arguments
        .keys()
        .find(|k| !binding.arguments.iter().any(|a| &a.argument == *k))
    {
        let bound: Vec<&str> = binding
            .arguments
            .iter()
            .map(|a| a.argument.as_str())
            .collect();
        return Err(Refusal {
            reason: UNBOUND_ARGUMENT,
            message: format!(
                "tool \"{}\" was called with argument `{extra}`, which its binding does not \
                 pass to `{}` (it binds: {}); no policy would see it, so the call is refused. \
                 Bind it in the agent (`tool \"{}\" -> action(…, {extra})`) or do not send it",
                binding.tool,
                binding.action,
                if bound.is_empty() {
                    "nothing".to_string()
                } else {
                    bound.join(", ")
                },
                binding.tool
            ),
        });
    }
    let mut input = Map::new();
    for (i, p) in binding.params.iter().enumerate() {
        let value = match binding.argument_for(i) {
            Some(arg) => arguments.get(arg),
            None => context.get(&p.name),
        };
        if let Some(v) = value {
            input.insert(p.name.clone(), v.clone());
        } else if binding.argument_for(i).is_none() && !matches!(p.ty, Type::Optional(_)) {
            return Err(Refusal {
                reason: BAD_INPUT,
                message: format!(
                    "`{}` needs parameter `{}`, which tool \"{}\" does not take from the call; \
                     give it in the session's subject (`--subject '{{\"{}\": …}}'`)",
                    binding.action, p.name, binding.tool, p.name
                ),
            });
        }
        // A missing argument is left to `bind`, which names the parameter.
    }
    if !binding.params.iter().any(|p| p.name == "now") {
        input.insert("now".into(), Json::String(now.to_string()));
    }
    Ok(Json::Object(input))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use xop_runtime::ir::{Param, Policy, Rule, SourceRef, ToolArgument};

    use super::*;

    fn rule(verdict: Verdict, condition: Option<Expr>) -> Rule {
        Rule {
            id: "p#1".into(),
            verdict,
            reason: Some("r".into()),
            condition,
            review: None,
            source: SourceRef::default(),
        }
    }

    fn policy(action: &str, rules: Vec<Rule>) -> Policy {
        Policy {
            name: "p".into(),
            qualified: "m.p".into(),
            action: action.into(),
            params: Vec::new(),
            now_slot: None,
            slots: 0,
            rules,
        }
    }

    fn program(policies: Vec<Policy>) -> Program {
        Program {
            policies,
            ..Program::default()
        }
    }

    fn cond() -> Option<Expr> {
        Some(Expr::Slot(0))
    }

    fn t() -> Option<Expr> {
        Some(Expr::Const(Value::Bool(true)))
    }

    fn f() -> Option<Expr> {
        Some(Expr::Not(Box::new(Expr::Const(Value::Bool(true)))))
    }

    #[test]
    fn listing_approximation() {
        use Verdict::*;
        // Unguarded: never allowed.
        assert!(!can_allow(&program(vec![]), "m.a"));
        assert!(!can_allow(
            &program(vec![policy("m.b", vec![rule(Allow, None)])]),
            "m.a"
        ));
        // A conditional allow can apply.
        let p = program(vec![policy(
            "m.a",
            vec![rule(Deny, cond()), rule(Allow, None)],
        )]);
        assert!(can_allow(&p, "m.a"));
        // Deny-only: nothing allowed is denied.
        assert!(!can_allow(
            &program(vec![policy("m.a", vec![rule(Deny, cond())])]),
            "m.a"
        ));
        // An unconditional deny anywhere wins, even in another guarding policy.
        let p = program(vec![
            policy("m.a", vec![rule(Allow, None)]),
            policy("m.a", vec![rule(Deny, t())]),
        ]);
        assert!(!can_allow(&p, "m.a"));
        // An allow that can never apply does not count; a review does.
        assert!(!can_allow(
            &program(vec![policy("m.a", vec![rule(Allow, f())])]),
            "m.a"
        ));
        assert!(can_allow(
            &program(vec![policy("m.a", vec![rule(Review, None)])]),
            "m.a"
        ));
        // Allow in one policy, conditional deny in another (the combining rule is global).
        let p = program(vec![
            policy("m.a", vec![rule(Deny, cond())]),
            policy("m.a", vec![rule(Allow, cond())]),
        ]);
        assert!(can_allow(&p, "m.a"));
    }

    fn binding() -> ToolBinding {
        ToolBinding {
            tool: "crm.refund".into(),
            action: "acme.refund".into(),
            params: vec![
                Param {
                    name: "to".into(),
                    ty: Type::Record(0),
                },
                Param {
                    name: "amount".into(),
                    ty: Type::Money,
                },
                Param {
                    name: "note".into(),
                    ty: Type::Optional(Box::new(Type::Text)),
                },
            ],
            arguments: vec![ToolArgument {
                argument: "amount".into(),
                param: 1,
            }],
            source: SourceRef::default(),
        }
    }

    fn obj(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn maps_arguments_and_context() {
        let b = binding();
        let ctx = obj(json!({"to": {"id": "c-1"}, "amount": "9999 EUR", "other": 1}));
        let input = action_input(&b, &obj(json!({"amount": "12 EUR"})), &ctx, "T").unwrap();
        // The argument wins for a bound parameter; the context fills the rest; unrelated
        // context keys are not passed; the optional parameter stays absent.
        assert_eq!(
            input,
            json!({"to": {"id": "c-1"}, "amount": "12 EUR", "now": "T"})
        );
        // A missing argument is left to the binder (which names it).
        let input = action_input(&b, &Map::new(), &ctx, "T").unwrap();
        assert_eq!(input, json!({"to": {"id": "c-1"}, "now": "T"}));
    }

    #[test]
    fn refuses_unbound_arguments_and_missing_context() {
        let b = binding();
        let ctx = obj(json!({"to": {"id": "c-1"}}));
        let e =
            action_input(&b, &obj(json!({"amount": "1 EUR", "to": "x"})), &ctx, "T").unwrap_err();
        assert_eq!(e.reason, UNBOUND_ARGUMENT);
        assert!(e.message.contains("argument `to`"), "{}", e.message);
        let e = action_input(&b, &obj(json!({"amount": "1 EUR"})), &Map::new(), "T").unwrap_err();
        assert_eq!(e.reason, BAD_INPUT);
        assert!(e.message.contains("--subject"), "{}", e.message);
    }

    #[test]
    fn listing_needs_the_context() {
        let b = binding();
        let p = program(vec![policy(
            "acme.refund",
            vec![rule(Verdict::Allow, None)],
        )]);
        assert_eq!(context_params(&b), vec!["to"]);
        assert!(listable(&p, &b, &obj(json!({"to": {}}))));
        assert!(!listable(&p, &b, &Map::new()));
    }
}
