//! Cross-crate tests live in `tests/`; this library holds what several of them share.

use xop_runtime::ir::Program;

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
