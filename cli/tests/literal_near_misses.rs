//! `xop fmt` and literals written nearly right: a time the lexer reads as a near miss
//! (`2026-11-25T10:00Z`) is an error, so the file is left as written, never turned into
//! something else (a subtraction, a time with a zone the writer did not give); a decimal
//! literal whose trailing zeros a Decimal cannot hold keeps them, and its point.

mod support;

use support::{TempDir, xop_in as xop};

const HEAD: &str = "module m\n\npurpose service\n\n\
    record R {\n  id: Id\n  due: Time\n  rate: Decimal\n}\n\n\
    action act(to: R) purpose service risk minimal\n\n";

#[test]
fn fmt_leaves_a_near_miss_time_as_written() {
    for time in [
        "2026-11-25T10:00Z",
        "2026-11-25T10:00:00.Z",
        "2026-11-25T10:00:00+0100",
        "2026-11-25T10:00:00-05",
        "2026-11-25T10:00",
    ] {
        let dir = TempDir::new("fmt-near-miss");
        // Spaced as the formatter would not leave it, so that a formatted file would differ.
        let text = format!(
            "{HEAD}policy p for act(to: r) {{\n  deny   \"early\" when r.due < {time}\n  allow \"ok\"\n}}\n"
        );
        dir.write("t.xop", &text);
        let o = xop(dir.path(), &["fmt", "t.xop"]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{time}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "[E0105] Error: `{time}` is not a valid RFC 3339 time"
            )),
            "{time}: {stderr}"
        );
        assert_eq!(stderr.matches("Error:").count(), 1, "{time}: {stderr}");
        assert_eq!(dir.read("t.xop"), text, "{time}");
    }
}

#[test]
fn fmt_keeps_a_decimal_literals_trailing_zeros() {
    let dir = TempDir::new("fmt-decimal-zeros");
    let text = format!(
        "{HEAD}policy p for act(to: r) {{\n  \
         deny \"above\" when r.rate > 9999999999999999999999999999.0\n  \
         deny \"one\" when r.rate == 1.00000000000000000000000000000\n  \
         allow \"ok\"\n}}\n"
    );
    dir.write("t.xop", &text);
    let o = xop(dir.path(), &["fmt", "--check", "t.xop"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(dir.read("t.xop"), text);
}
