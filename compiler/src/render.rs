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
    for d in &picked {
        for file in std::iter::once(&d.file).chain(d.secondary.iter().map(|l| &l.file)) {
            if !texts.contains_key(&**file) {
                let text = source(file).unwrap_or_default();
                texts.insert(file.to_string(), for_ariadne(&text).into_owned());
            }
        }
    }
    let lens: HashMap<String, usize> = texts.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let mut cache = ariadne::sources(texts);
    let mut out = Vec::new();
    for d in &picked {
        let clamp = |file: &str, r: std::ops::Range<usize>| {
            let len = lens.get(file).copied().unwrap_or(0);
            r.start.min(len)..r.end.min(len)
        };
        let kind = match d.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        let main = (d.file.to_string(), clamp(&d.file, d.span.range()));
        let mut report = Report::build(kind, main.clone())
            .with_config(
                Config::default()
                    .with_index_type(IndexType::Byte)
                    .with_color(color),
            )
            .with_code(d.code)
            .with_message(&d.message);
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
                Label::new((file.to_string(), range))
                    .with_message(message)
                    .with_order(i32::try_from(order).unwrap_or(i32::MAX)),
            );
        }
        for n in &d.notes {
            report = report.with_note(n);
        }
        if let Some(h) = &d.help {
            report = report.with_help(h);
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

/// `text` as ariadne must be given it to number lines as XOP does. ariadne also ends a line at
/// a lone carriage return, a vertical tab, a form feed, U+0085, U+2028 and U+2029, which XOP
/// reads as ordinary characters (in comments and text) or as errors: each becomes a character
/// of the same length in bytes that ends no line (a space, or a visible `¶` / `␤` for the
/// invisible separators), so that byte offsets, line numbers and columns stay those of
/// [`position`].
pub fn for_ariadne(text: &str) -> std::borrow::Cow<'_, str> {
    let breaks = |c: char| matches!(c, '\x0B' | '\x0C' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let lone_cr =
        |i: usize| text.as_bytes()[i] == b'\r' && text.as_bytes().get(i + 1) != Some(&b'\n');
    if !text
        .char_indices()
        .any(|(i, c)| breaks(c) || (c == '\r' && lone_cr(i)))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        out.push(match c {
            '\x0B' | '\x0C' => ' ',
            '\r' if lone_cr(i) => ' ',
            '\u{85}' => '¶',
            '\u{2028}' | '\u{2029}' => '␤',
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

/// The 1-based line and column of byte `offset` in `text`.
pub fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position { line, column }
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
        Position { line, column }
    }
}

/// Diagnostics as a JSON array: code, severity, message, file, byte span, start and end
/// positions, label, secondary labels, notes and help.
pub fn json(diags: &[Diagnostic], source: &dyn Fn(&str) -> Option<String>) -> serde_json::Value {
    let items = diags
        .iter()
        .map(|d| {
            let text = source(&d.file).unwrap_or_default();
            let mut v = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
            if let serde_json::Value::Object(map) = &mut v {
                map.insert(
                    "start".into(),
                    serde_json::to_value(position(&text, d.span.start())).unwrap_or_default(),
                );
                map.insert(
                    "end".into(),
                    serde_json::to_value(position(&text, d.span.end())).unwrap_or_default(),
                );
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
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
