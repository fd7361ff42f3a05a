//! Cross-crate tests live in `tests/`; this library holds what several of them share.

use std::path::Path;

use xop_runtime::engine::Runtime;
use xop_runtime::ir::Program;
use xop_runtime::proof::{LogConfig, ProofLog};

/// One source file checked (no error allowed; warnings are) and lowered, as `path`.
pub fn lower_source(path: &str, source: &str) -> Program {
    let mut ws = xop_compiler::db::Workspace::new();
    ws.set_file(path, source);
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    xop_compiler::lower::lower(ws.db(), ws.project()).expect("lowers")
}

/// A runtime writing its proof log in `dir` (origin `test.xop/log`), deciding with the JIT
/// (`jit`) or the interpreter, no module loaded.
pub fn runtime_with_log(dir: &Path, jit: bool) -> Runtime {
    let config = LogConfig {
        origin: Some("test.xop/log".into()),
        ..LogConfig::default()
    };
    let rt = Runtime::with_log(ProofLog::open(dir, config).expect("the proof log opens"));
    rt.set_jit(jit);
    rt
}
