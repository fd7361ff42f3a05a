//! The repository's examples and conformance programs are in canonical format: `xop fmt
//! --check` on them lists nothing (QA found an example that was not, so CI's `xop fmt --check
//! examples` failed).

mod support;

use std::path::Path;
use std::process::Command;

use support::text;

/// Conformance programs laid out by hand (rules aligned in columns) before this test existed.
/// Formatting one makes this test fail until it is taken off the list; no file may be added.
const HAND_ALIGNED: &[&str] = &[
    "tests/conformance/bad_input/bad_input.xop",
    "tests/conformance/collections/collections.xop",
    "tests/conformance/combining/combining.xop",
    "tests/conformance/consent/consent.xop",
    "tests/conformance/exact_decimals/exact_decimals.xop",
    "tests/conformance/frequency_caps/caps.xop",
    "tests/conformance/functions/functions.xop",
    "tests/conformance/integer_errors/integers.xop",
    "tests/conformance/list_equality/lists.xop",
    "tests/conformance/literal_kinds/literal_kinds.xop",
    "tests/conformance/literal_left/literal_left.xop",
    "tests/conformance/local_time/local_time.xop",
    "tests/conformance/money/money.xop",
    "tests/conformance/optional_fields/optional.xop",
    "tests/conformance/purpose_policy/purpose.xop",
    "tests/conformance/quantities/quantities.xop",
    "tests/conformance/review/review.xop",
    "tests/conformance/signals/signals.xop",
    "tests/conformance/symbols/symbols.xop",
    "tests/conformance/tz_names/tz_names.xop",
];

#[test]
fn examples_and_conformance_programs_are_formatted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(["fmt", "--check", "examples", "tests/conformance"])
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("would reformat: "))
        .map(|p| p.replace('\\', "/"))
        .collect();
    let unexpected: Vec<&String> = listed
        .iter()
        .filter(|p| !HAND_ALIGNED.contains(&p.as_str()))
        .collect();
    assert!(
        unexpected.is_empty(),
        "not in canonical format (run `xop fmt` on them): {unexpected:?}\n{}",
        text(&o)
    );
    let formatted: Vec<&&str> = HAND_ALIGNED
        .iter()
        .filter(|p| !listed.iter().any(|l| l == *p))
        .collect();
    assert!(
        formatted.is_empty(),
        "formatted now: take them off HAND_ALIGNED: {formatted:?}"
    );
    // Nothing else went wrong (a file with syntax errors, one that cannot be read).
    let expected = if listed.is_empty() { 0 } else { 1 };
    assert_eq!(o.status.code(), Some(expected), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("error"),
        "{}",
        text(&o)
    );
}
