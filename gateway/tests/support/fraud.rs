//! The fraud-desk project the gateway's signal tests share: a refund tool bound to an action
//! whose policy reads a SIM swap from CAMARA (absent or recent: denied).

use std::path::PathBuf;

use serde_json::json;
use xop_compiler::db::Workspace;
use xop_runtime::ir::Program;
use xop_runtime::module::{Module, hash_sources};

/// The project's one source file.
pub const SOURCE: &str = r#"module shop.fraud
use std.camara.{SimSwap, swapped_within}
purpose service
record Customer {
  id: Id
  msisdn: Text
}
action refund(to: Customer, amount: Money) purpose service risk minimal
signal sim_swap(c: Customer): SimSwap from camara.sim_swap(c.msisdn, 24h) max_age 5m
agent bot {
  tool "refund" -> refund(amount)
}
policy refunds for refund(to: c) {
  deny "recent-sim-swap" when sim_swap(c) is absent or sim_swap(c).swapped_within(24h)
  allow "ok"
}
"#;

/// The project, lowered.
pub fn program() -> Program {
    let mut ws = Workspace::new();
    ws.set_file("fraud.xop", SOURCE);
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

/// A `tools/call` of the refund tool, numbered `id`.
pub fn call(id: i64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "refund", "arguments": {"amount": "10.00 EUR"}}})
    .to_string()
}

/// A folder of the temporary directory for a proof log, named `name` and the process, empty.
pub fn log_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The compiled module of `program` (the project, lowered), unsigned, as a recorder keeps it.
pub fn module_bytes(program: &Program) -> Vec<u8> {
    Module {
        program: program.clone(),
        source_hash: hash_sources([("fraud.xop", SOURCE.as_bytes())]),
        sources: vec!["fraud.xop".into()],
    }
    .to_bytes(None)
}
