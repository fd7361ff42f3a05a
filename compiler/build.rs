//! Generates the parser from `grammar/xop.lalrpop` and embeds the standard library
//! (`stdlib/std/*.xop`) so that the compiler ships it.
use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    lalrpop::Configuration::new()
        .set_in_dir("../grammar")
        .set_out_dir(&out)
        .emit_rerun_directives(true)
        .process()
        .expect("the grammar in grammar/ builds");

    let dir = Path::new("../stdlib/std");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "xop"));
    files.sort();
    let mut code = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let abs = f.canonicalize().expect("stdlib file path");
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 file name");
        writeln!(
            code,
            "    (\"std/{name}\", include_str!({:?})),",
            abs.display().to_string()
        )
        .expect("write to string");
    }
    code.push_str("]\n");
    std::fs::write(Path::new(&out).join("stdlib_files.rs"), code).expect("write stdlib_files.rs");
}
