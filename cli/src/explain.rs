//! `xop explain DIR N`: why logged decision N was made: the verdict, the evidence the rules
//! read, the signals, and the source of every rule that fired, rendered like a diagnostic.

use std::path::{Path, PathBuf};

use ariadne::{Color as Paint, Config, IndexType, Label, Report, ReportKind};
use clap::Args;
use xop_runtime::ir::{Rule, Verdict};
use xop_runtime::proof::record::{Body, DecisionRecord};
use xop_runtime::proof::replay::load_module;
use xop_runtime::proof::verify::LogReader;

use crate::{Color, FAILURE, SUCCESS, error, out};

/// Long help of `xop explain`.
pub const LONG_ABOUT: &str = "\
Explain a logged decision: its verdict and reasons, the evidence its rules read (personal values
as keyed hashes), the signals it read, and the source of every rule that fired.

The rules are found in the module the record names, kept in DIR/modules/. Their source lines are
shown from the source files when they are found (paths relative to the current folder, as
`xop build` saw them), else from the rule text kept in the module.";

/// Arguments of `xop explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The log's folder
    pub dir: PathBuf,
    /// The record's sequence number
    pub n: u64,
}

/// Runs `xop explain`.
pub fn run(args: &ExplainArgs, color: Color) -> u8 {
    let mut reader = match LogReader::open(&args.dir) {
        Ok(r) => r,
        // A damaged log is a problem found (exit 1), as for `xop log`.
        Err(e) => return crate::log::fail_log(&e),
    };
    let record = match reader.record(args.n) {
        Ok(r) => r,
        Err(e) => {
            error(&e.to_string());
            return FAILURE;
        }
    };
    let text = match &record.body {
        Body::Decision(d) => explain(&args.dir, args.n, &record.time, d, color.stdout()),
        Body::Erasure { key } => format!(
            "record {}: at {}, the hash key {key} of a data subject was erased (GDPR Art. 17): \
             the personal evidence hashed with it can no longer be linked to anyone\n",
            args.n, record.time
        ),
        Body::Event { name, data } => format!(
            "record {}: event {name} at {}\n{}\n",
            args.n,
            record.time,
            serde_json::to_string_pretty(data).unwrap_or_default()
        ),
    };
    match out(&text) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

fn explain(dir: &Path, n: u64, time: &str, d: &DecisionRecord, color: bool) -> String {
    let mut s = format!("record {n}: {}", d.verdict.keyword());
    if !d.reasons.is_empty() {
        s.push_str(&format!(" ({})", d.reasons.join(", ")));
    }
    let what = match &d.action {
        Some(action) => format!(
            "action {action} over its policies {}",
            d.policy.split('+').collect::<Vec<_>>().join(", ")
        ),
        None => format!("policy {}", d.policy),
    };
    s.push_str(&format!(
        "\n  {what} of module {}\n  decided for {}, logged at {time}\n",
        d.module, d.at
    ));
    if let Some(r) = &d.review {
        s.push_str(&format!(
            "  review by role {} before {}, else {}\n",
            crate::eval::roles(&r.role, &r.also),
            r.deadline,
            r.fallback.keyword()
        ));
    }
    if let Some(e) = &d.error {
        s.push_str(&format!("  error: {e}\n"));
    }
    s.push_str("evidence (the input values the rules read):\n");
    if d.evidence.is_empty() {
        s.push_str("  (none)\n");
    }
    for e in &d.evidence {
        let value = match (&e.value, e.len, &e.hmac) {
            (_, _, Some(h)) => format!(
                "@personal, HMAC-SHA-256 {h} (subject key {})",
                e.key.as_deref().unwrap_or("?")
            ),
            (_, Some(len), _) => format!("a list of {len}"),
            (Some(v), _, _) => v.to_string(),
            _ => "?".into(),
        };
        let via = e
            .via
            .as_ref()
            .map(|v| format!("  (passed to signal {v})"))
            .unwrap_or_default();
        s.push_str(&format!("  {} = {value}{via}\n", e.path));
    }
    if !d.signals.is_empty() {
        s.push_str("signals read:\n");
        for sig in &d.signals {
            s.push_str(&format!("  {} = {}\n", sig.signal, sig.value));
            if let Some(f) = &sig.fetch {
                s.push_str(&format!("    {}\n", f.describe()));
            }
        }
    }
    let module = match load_module(dir, &d.module) {
        Ok(m) => m,
        Err(e) => {
            s.push_str(&format!(
                "fired: {} (the rules' source is not available: {e})\n",
                d.fired.join(", ")
            ));
            return s;
        }
    };
    let rules: Vec<&Rule> = module
        .module
        .program
        .policies
        .iter()
        .flat_map(|p| p.rules.iter())
        .collect();
    if d.fired.is_empty() {
        s.push_str("no rule fired\n");
    }
    for id in &d.fired {
        match rules.iter().find(|r| &r.id == id) {
            Some(rule) => s.push_str(&render(rule, d.verdict, color)),
            None => s.push_str(&format!("fired {id}: not in the module\n")),
        }
    }
    s
}

/// One fired rule as an ariadne report over its source line.
fn render(rule: &Rule, verdict: Verdict, color: bool) -> String {
    let src = &rule.source;
    let (text, start) = source_text(&src.file, src.line, src.column, &src.text);
    let first_line = src.text.lines().next().unwrap_or_default();
    let span = start..(start + first_line.len()).min(text.len());
    let paint = match rule.verdict {
        Verdict::Deny => Paint::Red,
        Verdict::Review => Paint::Yellow,
        Verdict::Allow => Paint::Green,
    };
    let decisive = if rule.verdict == verdict {
        "decided the verdict"
    } else {
        "fired, outweighed"
    };
    let message = format!(
        "rule {} fired: {}{}",
        rule.id,
        rule.verdict.keyword(),
        rule.reason
            .as_ref()
            .map(|r| format!(" \"{r}\""))
            .unwrap_or_default()
    );
    let file = src.file.clone();
    let report = Report::build(
        ReportKind::Custom("fired", paint),
        (file.clone(), span.clone()),
    )
    .with_config(
        Config::default()
            .with_index_type(IndexType::Byte)
            .with_color(color),
    )
    .with_message(message)
    .with_label(Label::new((file.clone(), span)).with_message(decisive));
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail; a failure would only lose this one rule's picture.
    let _ = report.finish().write(
        ariadne::sources([(file, xop_compiler::render::for_ariadne(&text).into_owned())]),
        &mut buf,
    );
    let text = String::from_utf8_lossy(&buf).into_owned();
    if color { text } else { strip_ansi(&text) }
}

/// `text` without ANSI colour sequences: ariadne colours a custom report kind's name even
/// when colour is off.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The text to show a rule in, and the byte offset of the rule in it: the source file when it
/// is found and still has the rule at its line, else the rule's text alone at its line.
fn source_text(file: &str, line: u32, column: u32, rule: &str) -> (String, usize) {
    let first = rule.lines().next().unwrap_or_default();
    if let Ok(text) = std::fs::read_to_string(file) {
        let mut offset = 0;
        for (i, l) in text.split_inclusive('\n').enumerate() {
            if i + 1 == line as usize {
                let col = (column as usize).saturating_sub(1).min(l.len());
                if l.get(col..).is_some_and(|rest| rest.starts_with(first)) {
                    return (text.clone(), offset + col);
                }
                break;
            }
            offset += l.len();
        }
    }
    // The file moved or changed: a stand-in with the rule at its line and column.
    let pad_lines = "\n".repeat((line as usize).saturating_sub(1).min(100_000));
    let pad_cols = " ".repeat((column as usize).saturating_sub(1).min(1_000));
    let start = pad_lines.len() + pad_cols.len();
    (format!("{pad_lines}{pad_cols}{rule}\n"), start)
}
