//! Lexer + parser + resolver + type checker on arbitrary input: must never panic.
//! Run: `cargo +nightly fuzz run front_end` (see docs/testing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut ws = xop_compiler::db::Workspace::new();
    ws.set_file("fuzz.xop", text.as_ref());
    let diags = ws.diagnostics();
    let _ = xop_compiler::render::human(&diags, &|p| ws.source(p).map(|s| s.to_string()), false);
});
