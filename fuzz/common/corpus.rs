//! The programs the targets start from: the examples' and each conformance scenario's, each
//! folder compiled as one project (a folder that does not compile is left out).

use xop_runtime::ir::Program;

/// Every folder of `tests/conformance` and `examples/acme`, compiled.
pub fn programs() -> Vec<Program> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs = vec![root.join("examples/acme")];
    if let Ok(rd) = std::fs::read_dir(root.join("tests/conformance")) {
        dirs.extend(
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir()),
        );
    }
    dirs.iter()
        .filter_map(|dir| {
            let mut ws = xop_compiler::db::Workspace::new();
            for e in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "xop") {
                    ws.set_file(&p.display().to_string(), std::fs::read_to_string(&p).ok()?);
                }
            }
            xop_compiler::lower::lower(ws.db(), ws.project()).ok()
        })
        .collect()
}
