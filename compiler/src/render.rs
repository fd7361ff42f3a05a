//! Rendering diagnostics: ariadne reports for people, JSON for machines.
//!
//! SARIF is produced by the `xop` command from the same values (it needs the rule table from
//! [`crate::codes`] too).

use std::collections::HashMap;

use ariadne::{Config, IndexType, Label, Report, ReportKind};
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};

/// At most this many reports are rendered for people; the rest are counted in a last line.
/// Each report prints the lines it points at, so without a bound a long line holding many
/// errors makes output (and time) grow with their product. JSON and SARIF list them all.
pub const MAX_RENDERED: usize = 100;

/// Renders diagnostics as ariadne reports, in their order, at most [`MAX_RENDERED`] of them:
/// errors before warnings. `source` gives the text of a file by path; a diagnostic whose file
/// is unknown is rendered without a source excerpt.
pub fn human(diags: &[Diagnostic], source: &dyn Fn(&str) -> Option<String>, color: bool) -> String {
    let picked = shown(diags);
    // Every file's text once, and one cache of them for all reports: ariadne indexes a
    // source's lines when it is built.
    let mut texts: HashMap<String, String> = HashMap::new();
    // How many bytes each text was cut at its start: a leading byte-order mark is skipped
    // (language.md §2.1) and no column counts it, as in [`position`]; ariadne would count it.
    let mut cut: HashMap<String, usize> = HashMap::new();
    for d in &picked {
        for file in std::iter::once(&d.file).chain(d.secondary.iter().map(|l| &l.file)) {
            if !texts.contains_key(&**file) {
                let text = source(file).unwrap_or_default();
                let bom = if text.starts_with(BOM) {
                    BOM.len_utf8()
                } else {
                    0
                };
                cut.insert(file.to_string(), bom);
                texts.insert(file.to_string(), for_ariadne(&text[bom..]).into_owned());
            }
        }
    }
    let lens: HashMap<String, usize> = texts.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let mut cache = ariadne::sources(texts.into_iter().map(|(name, text)| (Name(name), text)));
    let mut out = Vec::new();
    for d in &picked {
        let clamp = |file: &str, r: std::ops::Range<usize>| {
            let len = lens.get(file).copied().unwrap_or(0);
            let bom = cut.get(file).copied().unwrap_or(0);
            let at = |i: usize| i.saturating_sub(bom).min(len);
            at(r.start)..at(r.end)
        };
        let kind = match d.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        let main = (Name(d.file.to_string()), clamp(&d.file, d.span.range()));
        let mut report = Report::build(kind, main.clone())
            .with_config(
                Config::default()
                    .with_index_type(IndexType::Byte)
                    .with_color(color),
            )
            .with_code(d.code)
            .with_message(printable(&d.message));
        // Labels in text order, the main file's first: ariadne starts a new block whenever a
        // label lies above the one before it, and heads a second block of the main file with
        // the main location, so a label above the main one (the `@personal` annotation of a
        // field read below) would sit under a header naming the wrong line.
        let mut labels: Vec<(&str, std::ops::Range<usize>, &str)> =
            std::iter::once((&*d.file, main.1.clone(), d.label.as_str()))
                .chain(
                    d.secondary
                        .iter()
                        .map(|l| (&*l.file, clamp(&l.file, l.span.range()), l.message.as_str())),
                )
                .collect();
        labels.sort_by_key(|(file, r, _)| (*file != &*d.file, *file, r.start));
        for (order, (file, range, message)) in labels.into_iter().enumerate() {
            report = report.with_label(
                Label::new((Name(file.to_string()), range))
                    .with_message(printable(message))
                    .with_order(i32::try_from(order).unwrap_or(i32::MAX)),
            );
        }
        for n in &d.notes {
            report = report.with_note(printable(n));
        }
        if let Some(h) = &d.help {
            report = report.with_help(printable(h));
        }
        // Writing into a Vec cannot fail; a failure would only lose this one report.
        let _ = report.finish().write(&mut cache, &mut out);
    }
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if diags.len() > picked.len() {
        text.push_str(&format!(
            "… and {} more not shown (`xop check --format json` lists every one)\n",
            diags.len() - picked.len()
        ));
    }
    text
}

/// A file's name as [`human`] knows it (exact: two names never merge) and shows it in a
/// report's header (`[ a\u{1b}[2Jb.xop:2:14 ]`): with the characters that show nothing
/// escaped ([`crate::format::escape_invisible`]), so that a file's name cannot clear the
/// screen or forge a line. JSON and SARIF keep the exact name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Name(String);

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::format::escape_invisible(&self.0))
    }
}

/// The diagnostics [`human`] renders: the first [`MAX_RENDERED`] errors, then as many of the
/// first warnings as there is room for, in their order.
fn shown(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    if diags.len() <= MAX_RENDERED {
        return diags.iter().collect();
    }
    let errors = diags
        .iter()
        .filter(|d| d.is_error())
        .count()
        .min(MAX_RENDERED);
    let mut warnings = MAX_RENDERED - errors;
    let mut errors = errors;
    diags
        .iter()
        .filter(|d| {
            let left = if d.is_error() {
                &mut errors
            } else {
                &mut warnings
            };
            let keep = *left > 0;
            *left = left.saturating_sub(1);
            keep
        })
        .collect()
}

/// The byte-order mark a file may open with; it is skipped (language.md §2.1).
const BOM: char = '\u{feff}';

/// A message for people: the characters that show nothing escaped as `xop fmt` escapes them
/// in text literals ([`crate::format::escape_invisible`]), line by line, so that a control
/// sequence quoted from a source (a reason, a name) never reaches the terminal.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c != '\n' && crate::format::invisible(c))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(crate::format::escape_invisible)
        .collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

/// `text` as ariadne must be given it to number lines as XOP does, and to show its lines
/// without control sequences. ariadne also ends a line at a lone carriage return, a vertical
/// tab, a form feed, U+0085, U+2028 and U+2029, which XOP reads as ordinary characters (in
/// comments and text) or as errors: each becomes a character of the same length in bytes that
/// ends no line (a space, or a visible `¶` / `␤` for the invisible separators), so that byte
/// offsets, line numbers and columns stay those of [`position`]. Every other character that
/// shows nothing but a tab and a line break (an escape in a text literal, a bidirectional
/// control) is shown as a visible character of its length in bytes (`?`, `¿`, `�`, `𝕏`):
/// printed as it is, it could rewrite the terminal.
pub fn for_ariadne(text: &str) -> std::borrow::Cow<'_, str> {
    let breaks = |c: char| matches!(c, '\x0B' | '\x0C' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let lone_cr =
        |i: usize| text.as_bytes()[i] == b'\r' && text.as_bytes().get(i + 1) != Some(&b'\n');
    let hidden = |i: usize, c: char| {
        !matches!(c, '\n' | '\t') && (c != '\r' || lone_cr(i)) && crate::format::invisible(c)
    };
    if !text.char_indices().any(|(i, c)| breaks(c) || hidden(i, c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        out.push(match c {
            '\x0B' | '\x0C' => ' ',
            '\r' if lone_cr(i) => ' ',
            '\u{85}' => '¶',
            '\u{2028}' | '\u{2029}' => '␤',
            c if hidden(i, c) => match c.len_utf8() {
                1 => '?',
                2 => '¿',
                3 => '\u{fffd}',
                _ => '𝕏',
            },
            c => c,
        });
    }
    std::borrow::Cow::Owned(out)
}

/// A line and column (both 1-based, column in characters) for JSON output.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in Unicode scalar values.
    pub column: usize,
}

/// The 1-based line and column of byte `offset` in `text`, as an editor shows them: a
/// byte-order mark opening the text is no column (it is skipped, language.md §2.1), and the
/// `\r` of a `\r\n` line break is no column either (an offset between the two is the end of its
/// line).
pub fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position {
        line,
        column: column
            .saturating_sub(unseen(text, line_start, offset))
            .max(1),
    }
}

/// How many characters from `line_start` to `offset` (a character boundary of `text`) no
/// editor shows as a column: a byte-order mark opening the text, and a `\r` ending right
/// before the `\n` at `offset`.
fn unseen(text: &str, line_start: usize, offset: usize) -> usize {
    let bom = line_start == 0 && offset > 0 && text.starts_with(BOM);
    let cr = offset > line_start
        && text.as_bytes().get(offset - 1) == Some(&b'\r')
        && text.as_bytes().get(offset) == Some(&b'\n');
    usize::from(bom) + usize::from(cr)
}

/// The line starts of a text, for many positions in it: [`position`] scans the text from its
/// start on every call, which made lowering a file of a thousand rules quadratic.
#[derive(Debug, Clone)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    /// The line starts of `text`.
    pub fn new(text: &str) -> Lines {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { starts }
    }

    /// [`position`] of byte `offset` in `text`, the text these lines are of.
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        if !text.is_char_boundary(offset) {
            return position(text, offset);
        }
        // Line starts at or before `offset`: one more than the newlines before it.
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0).min(offset);
        let column = text.get(start..offset).map_or(0, |s| s.chars().count()) + 1;
        Position {
            line,
            column: column.saturating_sub(unseen(text, start, offset)).max(1),
        }
    }
}

/// Diagnostics as a JSON array: code, severity, message, file, byte span, start and end
/// positions, label, secondary labels (each with its file, byte span, start and end
/// positions and message), notes and help.
pub fn json(diags: &[Diagnostic], source: &dyn Fn(&str) -> Option<String>) -> serde_json::Value {
    let items = diags
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
            located(&mut v, &source(&d.file).unwrap_or_default(), d.span);
            // Each secondary label located as the main one, in its own file.
            if let Some(labels) = v.get_mut("secondary").and_then(|l| l.as_array_mut()) {
                for (value, label) in labels.iter_mut().zip(&d.secondary) {
                    let text = source(&label.file).unwrap_or_default();
                    located(value, &text, label.span);
                }
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
}

/// Adds `start` and `end` ([`position`]s of `span` in `text`) to a JSON object.
fn located(value: &mut serde_json::Value, text: &str, span: crate::span::Span) {
    if let serde_json::Value::Object(map) = value {
        for (key, offset) in [("start", span.start()), ("end", span.end())] {
            map.insert(
                key.into(),
                serde_json::to_value(position(text, offset)).unwrap_or_default(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_output_numbers_lines_as_the_json_does_whatever_separators_the_text_holds() {
        use crate::span::Span;
        for sep in [
            "\u{2028}",
            "\u{2029}",
            "\u{85}",
            "\x0B",
            "\x0C",
            "\r",
            "\u{2028}\u{2029}\u{85}",
        ] {
            let text = format!("module qa\n// a {sep} b\nfn f(): Int = nosuch\n");
            let at = text.find("nosuch").unwrap();
            let d = Diagnostic::error(
                "E0201",
                &std::sync::Arc::from("t.xop"),
                Span::new(at, at + 6),
                "unknown",
            );
            let out = human(std::slice::from_ref(&d), &|_| Some(text.clone()), false);
            let p = position(&text, at);
            assert_eq!((p.line, p.column), (3, 15));
            assert!(out.contains("t.xop:3:15"), "{sep:?}: {out}");
            assert!(out.contains("3 │ fn f(): Int = nosuch"), "{sep:?}: {out}");
            // The same length in bytes: every offset stays where it was.
            assert_eq!(for_ariadne(&text).len(), text.len());
        }
    }

    #[test]
    fn many_reports_render_the_first_errors_then_say_how_many_more() {
        use crate::span::Span;
        // One long line with an unknown name every 16 bytes, and two warnings first.
        let names: Vec<String> = (0..MAX_RENDERED + 50).map(|i| format!("u{i:04}")).collect();
        let text = format!("fn f(): Bool = {}\n", names.join(" or "));
        let file = std::sync::Arc::from("t.xop");
        let mut diags = vec![
            Diagnostic::warning("W0101", &file, Span::new(0, 2), "first warning"),
            Diagnostic::warning("W0101", &file, Span::new(3, 4), "second warning"),
        ];
        for n in &names {
            let at = text.find(n.as_str()).unwrap();
            diags.push(Diagnostic::error(
                "E0201",
                &file,
                Span::new(at, at + 5),
                n.clone(),
            ));
        }
        let out = human(&diags, &|_| Some(text.clone()), false);
        // Errors first: the warnings have no room left, and the last errors are counted.
        assert_eq!(out.matches("first warning").count(), 0, "{out}");
        assert_eq!(out.matches("[E0201]").count(), MAX_RENDERED);
        assert!(
            out.contains("Error: u0099") && !out.contains("Error: u0100"),
            "{out}"
        );
        assert!(
            out.ends_with("… and 52 more not shown (`xop check --format json` lists every one)\n"),
            "{}",
            &out[out.len() - 200..]
        );
        // Fewer than the limit: all of them, in order, warnings included.
        let few = human(&diags[..5], &|_| Some(text.clone()), false);
        assert_eq!(few.matches("Warning: ").count(), 2, "{few}");
        let (second, first_error) = (few.find("second warning"), few.find("Error: u0000"));
        assert!(second.is_some() && second < first_error, "{few}");
        assert!(!few.contains("more not shown"));
    }

    #[test]
    fn a_label_above_the_main_one_is_shown_in_the_same_block() {
        use crate::span::Span;
        let text = "record C {\n  @personal x: Text\n}\nfn f(c: C): Text = c.x\n";
        let file = std::sync::Arc::from("t.xop");
        let (read, note) = (text.find("c.x").unwrap(), text.find("@personal").unwrap());
        let d = Diagnostic::error("C0006", &file, Span::new(read, read + 3), "personal")
            .with_label("read here")
            .with_secondary(&file, Span::new(note, note + 9), "personal here");
        let out = human(std::slice::from_ref(&d), &|_| Some(text.to_string()), false);
        // One header, at the main location; the annotation's line before the read's.
        assert_eq!(out.matches("t.xop:").count(), 1, "{out}");
        assert!(out.contains("[ t.xop:4:20 ]"), "{out}");
        let (two, four) = (out.find(" 2 │"), out.find(" 4 │"));
        assert!(two.is_some() && two < four, "{out}");
    }

    /// A byte-order mark is skipped (language.md §2.1): no column counts it, in the human,
    /// JSON (and so SARIF) positions alike, as an editor shows them.
    #[test]
    fn a_byte_order_mark_is_no_column() {
        use crate::span::Span;
        let text = "\u{feff}module acme.x $\nfn f(): Int = 1\n";
        let at = text.find('$').unwrap();
        assert_eq!(
            position(text, at),
            Position {
                line: 1,
                column: 15
            }
        );
        assert_eq!(position(text, 3), Position { line: 1, column: 1 });
        // The second line is not affected.
        let f = text.find("fn").unwrap();
        assert_eq!(position(text, f), Position { line: 2, column: 1 });
        let lines = Lines::new(text);
        for offset in [0, 3, at, f, text.len()] {
            assert_eq!(lines.position(text, offset), position(text, offset));
        }
        let file = std::sync::Arc::from("t.xop");
        let d = Diagnostic::error("E0101", &file, Span::new(at, at + 1), "unexpected")
            .with_label("here");
        let out = human(std::slice::from_ref(&d), &|_| Some(text.to_string()), false);
        assert!(out.contains("[ t.xop:1:15 ]"), "{out}");
        assert!(out.contains("1 │ module acme.x $"), "{out}");
        let v = json(std::slice::from_ref(&d), &|_| Some(text.to_string()));
        assert_eq!(v[0]["start"]["column"], 15, "{v}");
        assert_eq!(v[0]["end"]["column"], 16, "{v}");
    }

    /// The `\r` of a CRLF line break is no column: a span that ends right before the `\n` (an
    /// unterminated text covers the rest of its line) ends at the end of the line.
    #[test]
    fn the_carriage_return_of_a_crlf_is_no_column() {
        let text = "module m\r\n  deny \"closed\r\nx\r\n";
        let end = text.find("\r\nx").unwrap() + 1;
        assert_eq!(
            position(text, end),
            Position {
                line: 2,
                column: 15
            }
        );
        assert_eq!(
            position(text, end - 1),
            Position {
                line: 2,
                column: 15
            }
        );
        assert_eq!(position(text, end + 1), Position { line: 3, column: 1 });
        // A lone `\r` (an error, E0101) is a character of its line.
        assert_eq!(position("a\rb", 2), Position { line: 1, column: 3 });
        let lines = Lines::new(text);
        for offset in 0..=text.len() {
            assert_eq!(
                lines.position(text, offset),
                position(text, offset),
                "{offset}"
            );
        }
    }

    /// A control sequence quoted from a source (in a message, a label, a note, a help, or the
    /// source line shown) is escaped, never printed as it is; offsets stay.
    #[test]
    fn control_characters_are_never_printed() {
        use crate::span::Span;
        let text = "fn f(): Text = \"ok\u{1b}[2K\u{202e}\"\n";
        let at = text.find('"').unwrap();
        let file = std::sync::Arc::from("t.xop");
        let d = Diagnostic::error(
            "E0205",
            &file,
            Span::new(at, text.len() - 1),
            "no \"ok\u{1b}[2K\"",
        )
        .with_label("unknown \u{1b}[8m")
        .with_note("note \u{7}")
        .with_help("its reasons are: \"ok\u{202e}\"");
        let out = human(std::slice::from_ref(&d), &|_| Some(text.to_string()), false);
        let bad: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && crate::format::invisible(c))
            .collect();
        assert!(bad.is_empty(), "{bad:?} in {out}");
        assert!(out.contains("no \"ok\\u{1b}[2K\""), "{out}");
        assert!(out.contains("unknown \\u{1b}[8m"), "{out}");
        assert!(out.contains("note \\u{7}"), "{out}");
        assert!(out.contains("\"ok\\u{202e}\""), "{out}");
        assert!(
            out.contains("1 │ fn f(): Text = \"ok?[2K\u{fffd}\""),
            "{out}"
        );
        assert_eq!(for_ariadne(text).len(), text.len());
        // Tabs and CRLF line breaks are left to ariadne.
        assert!(matches!(
            for_ariadne("a\tb\r\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// A file's name with control characters (`ESC [2J` clears the screen, a line break would
    /// forge a line) is escaped in every header, the main file's and a secondary file's; two
    /// files are still told apart, and JSON keeps the exact names.
    #[test]
    fn file_names_are_escaped_in_headers() {
        use crate::span::Span;
        let (a, b) = ("module k\nfn g(): Int =\n", "module j\nfn h(): Int = 1\n");
        let (fa, fb): (std::sync::Arc<str>, std::sync::Arc<str>) = (
            std::sync::Arc::from("bad\u{1b}[2Jz.xop"),
            std::sync::Arc::from("x\ny.xop"),
        );
        let d = Diagnostic::error("E0101", &fa, Span::new(22, 22), "expected an expression")
            .with_secondary(&fb, Span::new(12, 13), "h here");
        let texts = [(fa.to_string(), a), (fb.to_string(), b)];
        let source = |name: &str| {
            texts
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.to_string())
        };
        let out = human(std::slice::from_ref(&d), &source, false);
        let bad: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && crate::format::invisible(c))
            .collect();
        assert!(bad.is_empty(), "{bad:?} in {out}");
        assert!(out.contains("bad\\u{1b}[2Jz.xop:2:14"), "{out}");
        assert!(out.contains("x\\ny.xop:2:4"), "{out}");
        // Each file's own line is shown under its name.
        assert!(out.contains("fn h(): Int = 1"), "{out}");
        let v = json(&[d], &source);
        assert_eq!(v[0]["file"], "bad\u{1b}[2Jz.xop", "{v}");
        assert_eq!(v[0]["secondary"][0]["file"], "x\ny.xop", "{v}");
    }

    /// JSON gives every secondary label a start and an end position, in its own file, as the
    /// main location has.
    #[test]
    fn json_secondary_labels_have_positions() {
        use crate::span::Span;
        let (a, b) = (
            "module a\nfn f(): Int = g\n",
            "module b\n\n  fn g(): Int = 1\n",
        );
        let (fa, fb) = (std::sync::Arc::from("a.xop"), std::sync::Arc::from("b.xop"));
        let at = a.find('g').unwrap();
        let g = b.find('g').unwrap();
        let d = Diagnostic::error("E0201", &fa, Span::new(at, at + 1), "m").with_secondary(
            &fb,
            Span::new(g, g + 1),
            "declared here",
        );
        let source = |p: &str| Some(if p == "a.xop" { a } else { b }.to_string());
        let v = json(std::slice::from_ref(&d), &source);
        let second = &v[0]["secondary"][0];
        assert_eq!(second["file"], "b.xop", "{v}");
        assert_eq!(
            second["start"],
            serde_json::json!({"line": 3, "column": 6}),
            "{v}"
        );
        assert_eq!(
            second["end"],
            serde_json::json!({"line": 3, "column": 7}),
            "{v}"
        );
        assert_eq!(
            v[0]["start"],
            serde_json::json!({"line": 2, "column": 15}),
            "{v}"
        );
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("ab\ncé d", 7), Position { line: 2, column: 4 });
        assert_eq!(position("x", 99), Position { line: 1, column: 2 });
    }
}

#[cfg(test)]
mod line_tests {
    use super::{Lines, position};

    #[test]
    fn lines_give_the_positions_of_a_scan() {
        let text = "a\nbé\n\n  ∀x\nlast";
        let lines = Lines::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                lines.position(text, offset),
                position(text, offset),
                "offset {offset}"
            );
        }
    }
}
