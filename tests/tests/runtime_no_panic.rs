//! The runtime never panics and never allows on bad input: arbitrary JSON (and arbitrary text)
//! through input binding and the interpreter, over the example project's policies.

use proptest::prelude::*;
use serde_json::{Map, Value as Json};
use xop_runtime::interp::{self, FixedSignals};
use xop_runtime::ir::{Program, Verdict};

fn program() -> Program {
    let mut ws = xop_compiler::db::Workspace::new();
    let dir = format!("{}/../examples/acme", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).expect("examples/acme") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "xop") {
            let text = std::fs::read_to_string(&path).expect("readable");
            ws.set_file(&path.display().to_string(), text);
        }
    }
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("the examples lower")
}

/// A runtime (JIT on, no log) with the example project loaded, made once.
fn runtime() -> &'static xop_runtime::engine::Runtime {
    static RT: std::sync::OnceLock<xop_runtime::engine::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        let rt = xop_runtime::engine::Runtime::new();
        let module = xop_runtime::module::Module {
            program: program(),
            source_hash: [0; 32],
            sources: Vec::new(),
        };
        rt.load_bytes("acme", &module.to_bytes(None), None)
            .expect("the examples load");
        rt
    })
}

/// Decides `input` with every policy, and every action over its policies through the runtime:
/// bad input must be denied, and nothing may panic.
fn decide_all(program: &Program, input: &str) {
    let mut actions: Vec<&str> = program.policies.iter().map(|p| p.action.as_str()).collect();
    actions.dedup();
    for action in actions {
        let o = runtime()
            .decide_action(
                action,
                xop_runtime::engine::Input::Json(input),
                Default::default(),
            )
            .expect("no log: a decision is always made");
        if o.error.is_some() {
            assert_eq!(o.verdict, Verdict::Deny, "{o:?}");
        }
    }
    for i in 0..program.policies.len() {
        match xop_runtime::bind::bind_json(program, i, input) {
            Ok(b) => {
                let d = interp::decide(
                    program,
                    i,
                    &b.args,
                    b.now_ms.unwrap_or(0),
                    &FixedSignals(b.signals),
                );
                // A decision from accepted input may go any way, but an error never allows.
                if d.error.is_some() {
                    assert_eq!(d.verdict, Verdict::Deny, "{d:?}");
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        prop_oneof![
            Just("sms".to_string()),
            Just("marketing".to_string()),
            Just("vip".to_string()),
            Just("Europe/Paris".to_string()),
            Just("2026-11-25T10:00:00Z".to_string()),
            Just("12.50 EUR".to_string()),
            Just("15m".to_string()),
            "\\PC{0,12}",
        ]
        .prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("to".to_string()),
                        Just("channel".to_string()),
                        Just("offer".to_string()),
                        Just("now".to_string()),
                        Just("consents".to_string()),
                        Just("in_service_interaction".to_string()),
                        Just("tz".to_string()),
                        "[a-z_]{1,8}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Json::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Replaces the `k`-th leaf (in walk order, modulo the number of leaves) of `v` with `with`.
fn replace_leaf(v: &mut Json, k: usize, with: Json) {
    fn leaves(v: &Json) -> usize {
        match v {
            Json::Array(xs) => xs.iter().map(leaves).sum::<usize>().max(1),
            Json::Object(m) => m.values().map(leaves).sum::<usize>().max(1),
            _ => 1,
        }
    }
    fn walk(v: &mut Json, k: &mut usize, with: &mut Option<Json>) {
        let is_leaf = match v {
            Json::Array(xs) => xs.is_empty(),
            Json::Object(m) => m.is_empty(),
            _ => true,
        };
        if is_leaf {
            if *k == 0
                && let Some(w) = with.take()
            {
                *v = w;
            }
            *k = k.wrapping_sub(1);
            return;
        }
        match v {
            Json::Array(xs) => xs.iter_mut().for_each(|x| walk(x, k, with)),
            Json::Object(m) => m.values_mut().for_each(|x| walk(x, k, with)),
            _ => {}
        }
    }
    let n = leaves(v);
    let mut k = k % n;
    walk(v, &mut k, &mut Some(with));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_valid_input_with_one_value_changed_never_panics(k in any::<usize>(), with in json()) {
        let program = program();
        let text = std::fs::read_to_string(format!(
            "{}/../examples/acme/inputs/offer-on-hold.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("example input");
        let mut input: Json = serde_json::from_str(&text).expect("example input is JSON");
        replace_leaf(&mut input, k, with);
        decide_all(&program, &input.to_string());
    }

    #[test]
    fn arbitrary_json_never_panics_or_allows_by_error(input in json()) {
        let program = program();
        decide_all(&program, &input.to_string());
    }

    #[test]
    fn arbitrary_text_never_panics(input in "\\PC{0,200}") {
        let program = program();
        decide_all(&program, &input);
    }
}

#[test]
fn a_valid_example_input_is_accepted() {
    // The generators above mean something only if a valid input does get decided.
    let program = program();
    let input = std::fs::read_to_string(format!(
        "{}/../examples/acme/inputs/offer-on-hold.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("example input");
    let (i, _) = program.policy("contact").expect("policy contact");
    let b = xop_runtime::bind::bind_json(&program, i, &input).expect("valid input binds");
    let d = interp::decide(
        &program,
        i,
        &b.args,
        b.now_ms.unwrap_or(0),
        &FixedSignals(b.signals),
    );
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.reasons, vec!["in-service-interaction".to_string()]);
}
