//! `xop fmt` on arbitrary input: for any text that parses without an error, the formatted text
//! parses without an error to the same tree (spans erased), keeps every comment in order, and
//! is a fixed point; and formatting never panics. The repository's files are checked the same
//! way in `tests/tests/format.rs`; this target looks for the texts no one wrote.
//! Run: `cargo +nightly fuzz run format fuzz/corpus/front_end` (see docs/testing.md).
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use xop_compiler::ast::erase_spans;
use xop_compiler::diagnostic::{Diagnostic, Severity};
use xop_compiler::format::format_file;
use xop_compiler::parse::parse;

fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(|d| d.severity == Severity::Error)
}

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let path: Arc<str> = Arc::from("fuzz.xop");
    let before = parse(&path, source);
    let formatted = format_file(&path, source);
    if has_errors(&before.diagnostics) {
        // A text with syntax errors is refused, never rewritten.
        assert!(formatted.is_err(), "a text with syntax errors was formatted");
        return;
    }
    let once = formatted.unwrap_or_else(|d| panic!("a text that parses was refused: {d:#?}"));
    let after = parse(&path, &once);
    assert!(
        !has_errors(&after.diagnostics),
        "the formatted text does not parse: {:#?}\n{once}",
        after.diagnostics
    );
    assert_eq!(
        erase_spans(&before.ast),
        erase_spans(&after.ast),
        "formatting changed the tree:\n{once}"
    );
    let comments = |p: &xop_compiler::parse::Parsed| -> Vec<String> {
        p.comments.iter().map(|c| c.text.clone()).collect()
    };
    assert_eq!(
        comments(&before),
        comments(&after),
        "formatting lost or reordered comments:\n{once}"
    );
    let twice = format_file(&path, &once).expect("the formatted text formats");
    assert_eq!(once, twice, "formatting is not idempotent");
});
