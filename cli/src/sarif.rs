//! Diagnostics as a SARIF 2.1.0 log (for GitHub code scanning and other CI tools).
//!
//! One run of the tool `xop`, whose rules are every code of [`codes::CODES`] with its
//! documentation; one result per diagnostic, located by 1-based line and column (columns count
//! Unicode code points), with secondary labels as related locations.

use serde_sarif::sarif as s;
use xop_compiler::codes::{self, CodeInfo};
use xop_compiler::diagnostic::{Diagnostic, Severity};
use xop_compiler::render;
use xop_compiler::span::Span;

/// The JSON schema of SARIF 2.1.0.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where the repository's files are browsed; a code's doc file and anchor are appended.
pub const REPO_BLOB: &str = "https://github.com/xop-lang/xop/blob/main";

/// The project's home page.
pub const INFORMATION_URI: &str = "https://github.com/xop-lang/xop";

/// The SARIF log of `diags`; `source` gives a file's text by path, for line and column numbers.
pub fn log(diags: &[Diagnostic], source: &dyn Fn(&str) -> Option<String>) -> s::Sarif {
    let driver = s::ToolComponent::builder()
        .name("xop")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .information_uri(INFORMATION_URI)
        .rules(codes::CODES.iter().map(rule).collect::<Vec<_>>())
        .build();
    // Each file's text fetched and indexed once for all its results.
    let mut at = render::Locator::new(source);
    let results: Vec<s::Result> = diags.iter().map(|d| result(d, &mut at)).collect();
    let mut run = s::Run::builder()
        .tool(s::Tool::builder().driver(driver).build())
        .results(results)
        .column_kind(serde_json::json!("unicodeCodePoints"))
        .build();
    // Where the standard library's files are (SARIF §3.14.14): they are no files of the
    // user's repository, and a consumer must not look for them there.
    let stdlib = s::ArtifactLocation::builder()
        .uri(format!("{REPO_BLOB}/stdlib/"))
        .description(
            s::Message::builder()
                .text("the XOP standard library, embedded in the xop compiler")
                .build(),
        )
        .build();
    run.original_uri_base_ids = Some(std::collections::BTreeMap::from([(
        STDLIB_BASE.to_string(),
        stdlib,
    )]));
    s::Sarif::builder()
        .schema(SCHEMA)
        .version(serde_json::json!("2.1.0"))
        .runs(vec![run])
        .build()
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn text(text: impl Into<String>) -> s::MultiformatMessageString {
    s::MultiformatMessageString::builder().text(text).build()
}

/// The rule for one code.
fn rule(info: &CodeInfo) -> s::ReportingDescriptor {
    let doc = codes::explain(info.code);
    let full = codes::full_description(info.code).unwrap_or(info.title);
    let help = match doc {
        Some(doc) => s::MultiformatMessageString::builder()
            .text(doc)
            .markdown(doc)
            .build(),
        None => text(format!(
            "{}: {} (not documented in {} yet)",
            info.code,
            info.title,
            codes::doc_file(info.code)
        )),
    };
    s::ReportingDescriptor::builder()
        .id(info.code)
        .short_description(text(info.title))
        .full_description(text(full))
        .help(help)
        .help_uri(help_uri(info))
        .default_configuration(
            s::ReportingConfiguration::builder()
                .level(serde_json::json!(level(info.severity)))
                .build(),
        )
        .build()
}

/// The address of a code's section in its doc file (docs/errors.md or docs/compliance.md).
fn help_uri(info: &CodeInfo) -> String {
    let heading = codes::explain(info.code)
        .and_then(|doc| doc.lines().next())
        .map(|line| line.trim_start_matches('#').trim().to_string())
        .unwrap_or_else(|| format!("{}: {}", info.code, info.title));
    format!(
        "{REPO_BLOB}/{}#{}",
        codes::doc_file(info.code),
        anchor(&heading)
    )
}

/// GitHub's anchor for a heading: lowercase, punctuation other than `-` and `_` dropped,
/// spaces turned into `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The result for one diagnostic.
fn result(d: &Diagnostic, at: &mut render::Locator<'_>) -> s::Result {
    let mut message = d.message.clone();
    for note in &d.notes {
        message.push_str("\nnote: ");
        message.push_str(note);
    }
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    let level = match d.severity {
        Severity::Error => s::ResultLevel::Error,
        Severity::Warning => s::ResultLevel::Warning,
    };
    let mut result = s::Result::builder()
        .rule_id(d.code)
        .level(level)
        .message(s::Message::builder().text(message).build())
        .locations(vec![location(&d.file, d.span, &d.label, at)])
        .build();
    if let Some(index) = codes::CODES.iter().position(|c| c.code == d.code) {
        result.rule_index = i64::try_from(index).ok();
    }
    if !d.secondary.is_empty() {
        let related = d
            .secondary
            .iter()
            .zip(1..)
            .map(|(label, id)| {
                let mut loc = location(&label.file, label.span, &label.message, at);
                loc.id = Some(id);
                loc
            })
            .collect();
        result.related_locations = Some(related);
    }
    result
}

fn location(file: &str, span: Span, message: &str, at: &mut render::Locator<'_>) -> s::Location {
    let artifact = artifact(file);
    let mut physical = s::PhysicalLocation::builder()
        .artifact_location(artifact)
        .build();
    if let (Some(start), Some(end)) = (
        at.position(file, span.start()),
        at.position(file, span.end()),
    ) {
        let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        physical.region = Some(
            s::Region::builder()
                .start_line(n(start.line))
                .start_column(n(start.column))
                .end_line(n(end.line))
                .end_column(n(end.column))
                .build(),
        );
    }
    let mut loc = s::Location::builder().physical_location(physical).build();
    if !message.is_empty() {
        loc.message = Some(s::Message::builder().text(message).build());
    }
    loc
}

/// The `uriBaseId` of the standard library's files (`std/consent.xop`, as the compiler names
/// them), defined in the run's `originalUriBaseIds`.
pub const STDLIB_BASE: &str = "XOPSTDLIB";

/// The artifact location of a file the compiler names `file`: a standard library file relative
/// to [`STDLIB_BASE`], any other by [`uri`].
fn artifact(file: &str) -> s::ArtifactLocation {
    // The compiler names its own files `std/NAME.xop`; a user's file of that name is `./std/…`.
    if xop_compiler::db::STDLIB
        .iter()
        .any(|(path, _)| *path == file)
        && let Some(name) = file.strip_prefix("std/")
    {
        return s::ArtifactLocation::builder()
            .uri(uri(&format!("std/{name}")))
            .uri_base_id(STDLIB_BASE)
            .build();
    }
    s::ArtifactLocation::builder().uri(uri(file)).build()
}

/// A path as a URI reference (SARIF §3.4.3): forward slashes, characters outside the URI's
/// unreserved set percent-encoded; an absolute path as a `file://` URI on every system
/// (`/tmp/a.xop` → `file:///tmp/a.xop`, `C:\p\a.xop` → `file:///C:/p/a.xop`, a network path
/// `\\host\share\a.xop` → `file://host/share/a.xop`); a relative path stays relative (to the
/// folder the check ran in, which code scanning takes for the repository's root).
fn uri(path: &str) -> String {
    let path = path.replace('\\', "/");
    let bytes = path.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    let (mut out, rest) = if drive {
        (format!("file:///{}", &path[..2]), &path[2..])
    } else if let Some(network) = path.strip_prefix("//") {
        // The host is the URI's authority.
        ("file://".to_string(), network)
    } else if path.starts_with('/') {
        ("file://".to_string(), path.as_str())
    } else {
        (String::new(), path.as_str())
    };
    out.extend(percent_encoding::utf8_percent_encode(rest, PATH_ESCAPED));
    out
}

/// What a path's characters are escaped from in a URI: all but RFC 3986's unreserved ones
/// and the `/` between segments.
const PATH_ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github() {
        assert_eq!(anchor("E0103: unexpected token"), "e0103-unexpected-token");
        assert_eq!(
            anchor("E0106: misplaced `module` or use_declaration"),
            "e0106-misplaced-module-or-use_declaration"
        );
    }

    #[test]
    fn uris_use_forward_slashes_and_escape() {
        assert_eq!(uri("src\\a b.xop"), "src/a%20b.xop");
        assert_eq!(uri("C:\\p\\x.xop"), "file:///C:/p/x.xop");
        assert_eq!(uri("é.xop"), "%C3%A9.xop");
    }

    /// An absolute path is a `file://` URI on every system, as a drive path is; a relative
    /// one stays relative.
    #[test]
    fn absolute_paths_are_file_uris() {
        assert_eq!(uri("/tmp/x y.xop"), "file:///tmp/x%20y.xop");
        assert_eq!(uri("\\\\host\\share\\x.xop"), "file://host/share/x.xop");
        assert_eq!(uri("src/x.xop"), "src/x.xop");
        assert_eq!(uri("./std/consent.xop"), "./std/consent.xop");
    }

    /// A location in the standard library is relative to its own base, defined in the run, not
    /// a file of the repository; a user's `./std/…` is the user's.
    #[test]
    fn standard_library_locations_have_their_own_base() {
        let std_file = xop_compiler::db::STDLIB[0].0;
        let stdlib = artifact(std_file);
        assert_eq!(stdlib.uri_base_id.as_deref(), Some(STDLIB_BASE));
        assert_eq!(stdlib.uri.as_deref(), Some(std_file));
        let mine = artifact(&format!("./{std_file}"));
        assert_eq!(mine.uri_base_id, None);
        let value = serde_json::to_value(log(&[], &|_| None)).unwrap();
        let base = &value["runs"][0]["originalUriBaseIds"][STDLIB_BASE]["uri"];
        assert_eq!(base, &format!("{REPO_BLOB}/stdlib/"), "{value}");
    }

    #[test]
    fn every_code_is_a_rule_with_a_help_uri() {
        let log = log(&[], &|_| None);
        let value = serde_json::to_value(&log).unwrap();
        let rules = value["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), codes::CODES.len());
        assert_eq!(rules[0]["id"], codes::CODES[0].code);
        let uri = rules[0]["helpUri"].as_str().unwrap();
        assert!(
            uri.starts_with(&format!("{REPO_BLOB}/docs/errors.md")) && uri.contains("#e01"),
            "{uri}"
        );
    }

    /// Every region's line and column are [`render::position`]'s (code points, a byte-order
    /// mark and the `\r` of a CRLF no column), on long lines too, and each file's text is asked
    /// for once however many results it holds.
    #[test]
    fn regions_are_the_positions_of_a_scan_and_each_file_is_read_once() {
        let long = "ab\té 😀 ∀x ".repeat(200);
        let texts = [
            format!("\u{feff}{long}\r\nshort\r\n{long}\n😀{long}"),
            format!("{long}\r{long}\n\n"),
        ];
        let names = ["a.xop", "b.xop"];
        let mut diags = Vec::new();
        for (text, name) in texts.iter().zip(names) {
            let file = std::sync::Arc::from(name);
            let other = std::sync::Arc::from(names[(diags.len() + 1) % 2]);
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .step_by(11)
                .collect();
            for pair in bounds.windows(2) {
                diags.push(
                    Diagnostic::error("E0201", &file, Span::new(pair[0], pair[1]), "m")
                        .with_secondary(&other, Span::new(pair[0], pair[0]), "here"),
                );
            }
        }
        let asked = std::cell::Cell::new(0);
        let source = |file: &str| {
            asked.set(asked.get() + 1);
            Some(texts[names.iter().position(|n| *n == file)?].clone())
        };
        let value = serde_json::to_value(log(&diags, &source)).unwrap();
        assert_eq!(asked.get(), names.len(), "each file asked for once");
        let results = value["runs"][0]["results"].as_array().unwrap();
        assert_eq!(results.len(), diags.len());
        let region = |file: &str, span: Span| {
            let text = &texts[names.iter().position(|n| *n == file).unwrap()];
            let (start, end) = (
                render::position(text, span.start()),
                render::position(text, span.end()),
            );
            serde_json::json!({
                "startLine": start.line, "startColumn": start.column,
                "endLine": end.line, "endColumn": end.column,
            })
        };
        for (result, d) in results.iter().zip(&diags) {
            let main = &result["locations"][0]["physicalLocation"]["region"];
            assert_eq!(main, &region(&d.file, d.span), "{result}");
            let label = &d.secondary[0];
            let related = &result["relatedLocations"][0]["physicalLocation"]["region"];
            assert_eq!(related, &region(&label.file, label.span), "{result}");
        }
        // A file the source does not know has no region.
        let gone = Diagnostic::error(
            "E0201",
            &std::sync::Arc::from("gone.xop"),
            Span::new(1, 2),
            "m",
        );
        let value = serde_json::to_value(log(&[gone], &|_| None)).unwrap();
        let physical = &value["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
        assert!(physical.get("region").is_none(), "{physical}");
    }
}
