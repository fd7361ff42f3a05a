//! The CAMARA connectors against a local stand-in for an operator (a tiny HTTP server started
//! by each test) that checks every request against the OpenAPI contracts in `tests/camara/`
//! and answers with the contracts' own examples.

mod deadline;
mod device_status;
mod docs;
mod hostile;
mod no_panic;
mod policy;
mod qod;
mod runtime;
mod sim_swap;
mod standin;
mod support;
mod token;

use std::sync::OnceLock;

use xop_runtime::ir::Program;
use xop_runtime::value::Value;

/// A project that declares a signal from each connector, a policy reading the SIM swap
/// (DESIGN.md §1) and one guarding the QoD action.
pub const SOURCE: &str = r#"module acme.net

use std.camara.{SimSwap, RoamingStatus, ReachabilityStatus, QosSession, swapped_within, create_qos_session}

purpose fraud
role fraud_desk

record Customer {
  id: Id
  msisdn: Text
}

action block_payment(to: Customer) purpose fraud risk high

signal sim_swap(c: Customer): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age 5m
signal roaming(c: Customer): RoamingStatus from camara.device_roaming(c.msisdn) max_age 1m
signal reachability(c: Customer): ReachabilityStatus from camara.device_reachability(c.msisdn) max_age 1m
signal session(id: Text): QosSession from camara.qos_session(id) max_age 10s

policy payments for block_payment(to: c) {
  // the network did not answer in time: a human looks rather than nobody
  review "recent-sim-swap" by role fraud_desk within 15m else deny
    when sim_swap(c) is absent or sim_swap(c).swapped_within(24h)
  deny "no-recent-sim-swap" unless sim_swap(c) is absent or sim_swap(c).swapped_within(24h)
}

policy boost for create_qos_session(qos_profile: q) {
  deny "unknown-profile" unless q in ["QOS_L", "QOS_M"]
  allow "boost"
}
"#;

/// [`SOURCE`], compiled once.
pub fn program() -> &'static Program {
    static P: OnceLock<Program> = OnceLock::new();
    P.get_or_init(|| {
        let mut ws = xop_compiler::db::Workspace::new();
        ws.set_file("net.xop", SOURCE);
        let errors: Vec<_> = ws
            .diagnostics()
            .into_iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
    })
}

/// The index of signal `name` (short name) in [`program`].
pub fn signal(name: &str) -> u32 {
    let i = program()
        .signals
        .iter()
        .position(|s| s.name.ends_with(&format!(".{name}")))
        .unwrap_or_else(|| panic!("no signal {name}"));
    u32::try_from(i).unwrap()
}

/// A `Customer` with phone number `msisdn`.
pub fn customer(msisdn: &str) -> Value {
    let p = program();
    let i = p
        .records
        .iter()
        .position(|r| r.name == "acme.net.Customer")
        .expect("Customer");
    Value::Record(
        u32::try_from(i).unwrap(),
        vec![Value::Id("c1".into()), Value::text(msisdn)].into(),
    )
}

/// The named fields of a record value.
pub fn fields(v: &Value) -> Vec<(String, Value)> {
    let Value::Record(i, xs) = v else {
        panic!("not a record: {v:?}");
    };
    let rt = &program().records[*i as usize];
    rt.fields
        .iter()
        .map(|f| f.name.clone())
        .zip(xs.iter().cloned())
        .collect()
}

/// The field `name` of a record value.
pub fn field(v: &Value, name: &str) -> Value {
    fields(v)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name}"))
}

/// The name of an enum value's variant.
pub fn variant(v: &Value) -> String {
    let Value::Enum(e, i) = v else {
        panic!("not an enum value: {v:?}");
    };
    program().enums[*e as usize].variants[*i as usize].clone()
}

/// Milliseconds since the epoch of an RFC 3339 time.
pub fn ms(t: &str) -> i64 {
    t.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}
