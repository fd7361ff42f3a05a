//! `xop explain DIR N`: why logged decision N was made: the verdict, the evidence the rules
//! read, the signals, and the source of every rule that fired, rendered like a diagnostic.

use std::path::{Path, PathBuf};

use ariadne::{Color as Paint, Config, IndexType, Label, Report, ReportKind};
use clap::Args;
use xop_runtime::ir::{Policy, Program, Rule, Verdict};
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
`xop build` saw them) and still hold the rule, its whole text unchanged, at its line and
column; else from the rule text kept in the module.";

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
    // A forged `module` (`../../other`) is damage, named with its record, never a path.
    if let Body::Decision(d) = &record.body
        && let Err(e) = reader.check_module(args.n, d)
    {
        return crate::log::fail_log(&e);
    }
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
            crate::json::pretty(data)
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
        s.push_str(&format!(" ({})", shown_reasons(&d.reasons)));
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
        s.push_str(&format!("  error: {}\n", shown(e)));
    }
    if let Some(m) = &d.detail {
        s.push_str(&format!("  detail: {}\n", shown(m)));
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
        s.push_str(&format!("  {} = {}{via}\n", shown(&e.path), shown(&value)));
    }
    if !d.signals.is_empty() {
        s.push_str("signals read:\n");
        for sig in &d.signals {
            s.push_str(&format!(
                "  {} = {}\n",
                shown(&sig.signal),
                shown(&sig.value.to_string())
            ));
            if let Some(f) = &sig.fetch {
                s.push_str(&format!("    {}\n", shown(&f.describe())));
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
    if d.fired.is_empty() {
        s.push_str("no rule fired\n");
    }
    // The policies the record names: a qualified name, or an action's, joined with `+`.
    let program = &module.module.program;
    let policies: Vec<usize> = (d.policy.split('+'))
        .filter_map(|q| program.policies.iter().position(|p| p.qualified == q))
        .collect();
    let (rules, shared) = fired_rules(program, &policies, &d.fired);
    for (id, rule) in d.fired.iter().zip(rules) {
        match rule {
            Some(rule) => s.push_str(&render(rule, d.verdict, color)),
            None => s.push_str(&format!("fired {id}: not in the module\n")),
        }
    }
    if shared {
        s.push_str(
            "note: this module gives the same rule ids to rules of several of the policies \
             (it was built before a rule id named its policy's module when policies share a \
             name): each id is taken in the order the rules fired, policy by policy, which is \
             right unless a policy fired no rule\n",
        );
    }
    s
}

/// The rule each id of `fired` names, looked for in `policies` (indices into the program's
/// policies, in the order they were decided), else anywhere in the program; and whether an id
/// names rules of several of those policies.
///
/// A rule id names one rule of a program (language.md §8.2), but a module built before a rule
/// id named its policy's module gave the rules of two policies sharing a short name (in two
/// modules) the same ids. The ids are therefore taken in the order the engines list them (the
/// policies in order, each one's fired rules in order): each is looked for after the rule
/// found before it, which finds such an old id in the policy that fired it unless a policy
/// before it fired none of its rules.
pub(crate) fn fired_rules<'p>(
    program: &'p Program,
    policies: &[usize],
    fired: &[String],
) -> (Vec<Option<&'p Rule>>, bool) {
    let policies: Vec<&Policy> = (policies.iter())
        .filter_map(|&i| program.policies.get(i))
        .collect();
    let rules: Vec<&Rule> = policies.iter().flat_map(|p| p.rules.iter()).collect();
    let mut next = 0;
    let mut shared = false;
    let found = fired
        .iter()
        .map(|id| {
            let has = |p: &&&Policy| p.rules.iter().any(|r| &r.id == id);
            shared |= policies.iter().filter(has).count() > 1;
            let after = (next..rules.len()).find(|&i| &rules[i].id == id);
            if let Some(i) = after.or_else(|| rules.iter().position(|r| &r.id == id)) {
                next = i + 1;
                return Some(rules[i]);
            }
            (program.policies.iter())
                .flat_map(|p| p.rules.iter())
                .find(|r| &r.id == id)
        })
        .collect();
    (found, shared)
}

/// A fired rule as `xop eval` and `xop test` list it: `  fired ID at FILE:LINE: TEXT` (the
/// rule's text on one line, [`rule_text`]), or `  fired ID` when the module has no rule of that
/// id.
pub(crate) fn fired_line(id: &str, rule: Option<&Rule>) -> String {
    match rule {
        Some(rule) => format!(
            "  fired {} at {}:{}: {}\n",
            shown(id),
            shown(&rule.source.file),
            rule.source.line,
            rule_text(&rule.source.text)
        ),
        None => format!("  fired {}\n", shown(id)),
    }
}

/// A rule's source text on one line as it reads ([`xop_compiler::format::one_line`]), with the
/// characters that show nothing escaped ([`shown`]).
pub(crate) fn rule_text(text: &str) -> String {
    shown(&xop_compiler::format::one_line(text))
}

/// A text from a source or an input (a name, a reason, a rule's text, a value) as the CLI
/// prints it for people: the characters that show nothing (control characters, bidirectional
/// and zero-width characters…) escaped as `xop fmt` escapes them in text literals
/// (language.md §2.5), so that no control sequence reaches the terminal. JSON output escapes
/// its own.
pub(crate) fn shown(text: &str) -> String {
    xop_compiler::format::escape_invisible(text)
}

/// Reasons as the CLI lists them for people: [`shown`], joined by `, `.
pub(crate) fn shown_reasons(reasons: &[String]) -> String {
    reasons
        .iter()
        .map(|r| shown(r))
        .collect::<Vec<_>>()
        .join(", ")
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
            .map(|r| format!(" {}", xop_compiler::format::text_lit(r)))
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
/// is found and still has the whole rule, as the module keeps its text, at its line and column,
/// else the rule's text alone at its line (docs/proof-log.md, "Replay and explain").
fn source_text(file: &str, line: u32, column: u32, rule: &str) -> (String, usize) {
    if let Ok(text) = std::fs::read_to_string(file)
        && let Some(offset) = rule_offset(&text, line, column)
        && rule_at(file, &text, offset) == Some(rule)
    {
        return (text, offset);
    }
    // The file moved or changed: a stand-in with the rule at its line and column.
    let pad_lines = "\n".repeat((line as usize).saturating_sub(1).min(100_000));
    let pad_cols = " ".repeat((column as usize).saturating_sub(1).min(1_000));
    let start = pad_lines.len() + pad_cols.len();
    (format!("{pad_lines}{pad_cols}{rule}\n"), start)
}

/// The whole text of the rule the file's text has at byte `offset`, as the parser reads it
/// (the compiler keeps that text in the module): the rule that fired only if it is the same
/// text, every line of it. A prefix is not enough: `deny "big" when r.n > 5` edited into
/// `deny "big" when r.n > 5 and not r.vip` starts with the rule, and is another rule.
fn rule_at<'t>(file: &str, text: &'t str, offset: usize) -> Option<&'t str> {
    let parsed = xop_compiler::parse::parse(&file.into(), text);
    (parsed.ast.items.iter())
        .filter_map(|item| match &item.kind {
            xop_compiler::ast::ItemKind::Policy(p) => Some(&p.rules),
            _ => None,
        })
        .flatten()
        .find_map(|r| match r {
            xop_compiler::ast::Rule::Rule { span, .. } if span.start() == offset => {
                text.get(span.range())
            }
            _ => None,
        })
}

/// The byte offset in `text` of 1-based `line` and `column`, the column counted in characters
/// as the compiler counts it ([`xop_compiler::render::position`]: a byte-order mark opening the
/// text is no column); `None` when the text has no such place on that line.
fn rule_offset(text: &str, line: u32, column: u32) -> Option<usize> {
    let start = match (line as usize).checked_sub(1)? {
        0 => 0,
        n => text.match_indices('\n').nth(n - 1)?.0 + 1,
    };
    let body = &text[start..];
    let body_start = if start == 0 && body.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let in_line = &body[body_start..];
    let line_len = in_line.find('\n').unwrap_or(in_line.len());
    let skip = (column as usize).checked_sub(1)?;
    // The byte where the `skip`-th character of the line starts (or the line's end).
    let (col, _) = in_line[..line_len].char_indices().nth(skip)?;
    Some(start + body_start + col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xop_runtime::ir::SourceRef;

    fn policy(qualified: &str, ids: &[&str]) -> Policy {
        let rules = (ids.iter().enumerate())
            .map(|(i, id)| Rule {
                id: id.to_string(),
                verdict: Verdict::Deny,
                reason: Some(format!("{qualified}/{}", i + 1)),
                condition: None,
                review: None,
                source: SourceRef::default(),
            })
            .collect();
        Policy {
            name: qualified.rsplit('.').next().unwrap_or(qualified).into(),
            qualified: qualified.into(),
            action: "a.act".into(),
            params: Vec::new(),
            now_slot: None,
            slots: 0,
            rules,
        }
    }

    fn reasons(found: &[Option<&Rule>]) -> Vec<String> {
        (found.iter())
            .map(|r| r.and_then(|r| r.reason.clone()).unwrap_or_default())
            .collect()
    }

    /// Where the rule `deny "b"` stands in `text`, as `source_text` finds it in a file holding
    /// `text`: `Some(offset)` when read from the file, `None` when drawn on a stand-in.
    fn found_at(name: &str, text: &str, line: u32, column: u32, rule: &str) -> Option<usize> {
        let path =
            std::env::temp_dir().join(format!("xop-explain-{}-{name}.xop", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let (shown, offset) = source_text(path.to_str().unwrap(), line, column, rule);
        let _ = std::fs::remove_file(&path);
        (shown == text).then_some(offset)
    }

    /// Every line of a rule must be unchanged for the file to be shown; the column counts
    /// characters (a byte-order mark opening the file is none).
    #[test]
    fn the_source_file_is_shown_only_when_it_holds_the_whole_rule() {
        let file = "policy p for a(x: x) {\n  deny \"b\"\n    when x.n > 5\n}\n";
        let rule = "deny \"b\"\n    when x.n > 5";
        assert_eq!(found_at("same", file, 2, 3, rule), Some(25));
        let edited = file.replace("x.n > 5", "x.n > 7");
        assert_eq!(found_at("second-line", &edited, 2, 3, rule), None);
        let longer = file.replace("x.n > 5", "x.n > 5 and x.vip");
        assert_eq!(found_at("longer", &longer, 2, 3, rule), None);
        // Columns in characters: `é` is two bytes, `\u{feff}` three.
        let wide = "policy p for a(x: x) {\n  deny \"é\"  deny \"b\"\n}\n";
        assert_eq!(found_at("wide", wide, 2, 13, "deny \"b\""), Some(36));
        let bom = "\u{feff}policy p for a(x: x) { deny \"b\" }\n";
        assert_eq!(found_at("bom", bom, 1, 24, "deny \"b\""), Some(26));
        // No such line or column: a stand-in, never a panic.
        assert_eq!(found_at("far", file, 99, 3, rule), None);
        assert_eq!(found_at("wide-far", file, 2, 999, rule), None);
        assert_eq!(found_at("zero", file, 0, 0, rule), None);
    }

    /// Rule ids name one rule each: it is found whichever order they come in.
    #[test]
    fn a_fired_id_is_the_rule_of_that_id() {
        let program = Program {
            policies: vec![
                policy("a.contact", &["a.contact#1", "a.contact#2"]),
                policy("b.contact", &["b.contact#1", "b.contact#2"]),
            ],
            ..Program::default()
        };
        let fired = ["b.contact#2".to_string(), "a.contact#1".to_string()];
        let (found, shared) = fired_rules(&program, &[0, 1], &fired);
        assert_eq!(reasons(&found), ["b.contact/2", "a.contact/1"]);
        assert!(!shared);
        let (found, _) = fired_rules(&program, &[], &["nope#1".to_string()]);
        assert_eq!(found, [None]);
    }

    /// A module built when two policies sharing a short name gave their rules the same ids:
    /// the ids are matched in firing order, policy by policy, and flagged.
    #[test]
    fn ids_two_policies_share_are_matched_in_firing_order() {
        let program = Program {
            policies: vec![
                policy("a.contact", &["contact#1", "contact#2", "contact#3"]),
                policy("b.contact", &["contact#1", "contact#2"]),
            ],
            ..Program::default()
        };
        let fired: Vec<String> = ["contact#3", "contact#1", "contact#2"]
            .map(String::from)
            .into();
        let (found, shared) = fired_rules(&program, &[0, 1], &fired);
        assert_eq!(
            reasons(&found),
            ["a.contact/3", "b.contact/1", "b.contact/2"]
        );
        assert!(shared);
    }
}
