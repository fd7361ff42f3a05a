//! Lexer + parser + resolver + type checker + compliance + diagnostics rendering on arbitrary
//! input: must never panic. The input is split at its first NUL byte into two files, so that
//! diagnostics pointing into another file (secondary labels) are rendered too.
//! Run: `cargo +nightly fuzz run front_end` (see docs/testing.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (a, b) = match data.iter().position(|&c| c == 0) {
        Some(at) => (&data[..at], Some(&data[at + 1..])),
        None => (data, None),
    };
    let mut ws = xop_compiler::db::Workspace::new();
    ws.set_file("a.xop", String::from_utf8_lossy(a).as_ref());
    if let Some(b) = b {
        ws.set_file("b.xop", String::from_utf8_lossy(b).as_ref());
    }
    let diags = ws.diagnostics();
    let source = |p: &str| ws.source(p).map(|s| s.to_string());
    let _ = xop_compiler::render::human(&diags, &source, false);
    let _ = xop_compiler::render::json(&diags, &source);
});
