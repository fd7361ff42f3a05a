//! The table of diagnostic codes. Each code is stable once released and documented in
//! `docs/errors.md` under a heading `## CODE: title`; [`explain`] prints that section.

use crate::diagnostic::Severity;

/// A diagnostic code and what it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The code, e.g. `E0205`.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// A short title (SARIF's short description).
    pub title: &'static str,
}

const fn e(code: &'static str, title: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        severity: Severity::Error,
        title,
    }
}

const fn w(code: &'static str, title: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        severity: Severity::Warning,
        title,
    }
}

/// Every code the compiler can emit.
pub const CODES: &[CodeInfo] = &[
    e("E0101", "unexpected character"),
    e("E0102", "text literal not closed"),
    e("E0103", "unexpected token"),
    e("E0104", "unexpected end of file"),
    e("E0105", "invalid literal"),
    e("E0106", "misplaced module or use declaration"),
    e("E0107", "comparisons or ranges in a row"),
    e("E0108", "nested too deeply"),
    e("E0201", "missing module declaration"),
    e("E0202", "module declared by two files"),
    e("E0203", "unknown module"),
    e("E0204", "unknown item in module"),
    e("E0205", "unresolved name"),
    e("E0206", "duplicate definition"),
    e("E0207", "unknown type"),
    e("E0208", "wrong kind of name"),
    e("E0209", "recursive function"),
    e("E0210", "unknown field"),
    e("E0211", "unknown parameter"),
    e("E0212", "ambiguous name"),
    e("E0213", "unknown journey state"),
    e("E0214", "invalid annotation"),
    e("E0215", "reserved module name"),
    e("E0216", "parameter listed twice in a tool binding"),
    e("E0217", "recursive record"),
    e("E0218", "enum without variants"),
    e("E0219", "function calls nested too deep"),
    e("E0220", "function calls inline too large"),
    e("E0221", "parameter named like an input key"),
    e("E0222", "type named like a built-in type"),
    e("E0301", "type mismatch"),
    e("E0302", "value may be absent"),
    e("E0303", "wrong arguments"),
    e("E0304", "operator not defined for these types"),
    e("E0305", "field access on a value that is not a record"),
    e("E0306", "lambda outside a collection operation"),
    e("E0307", "missing fields in record value"),
    e("E0308", "invalid risk class"),
    e("E0309", "invalid type arguments"),
    e("E0310", "type cannot be inferred"),
    e("E0311", "unknown time zone"),
    e("E0312", "not callable"),
    e("E0313", "record value outside a test"),
    e("E0314", "comparison with absent"),
    e("E0315", "open record type out of place"),
    e("E0316", "value not known when compiled"),
    e("E0317", "duration not longer than zero"),
    w("W0201", "unused import"),
    w("W0202", "unreachable step"),
    w("W0203", "test that checks nothing"),
    w("W0301", "value is never absent"),
    w("W0302", "operation fails on every input"),
    e("C0001", "high-risk action allowed without human review"),
    e("C0002", "review of a high-risk action falls back to allow"),
    e("C0003", "prohibited action used"),
    e("C0004", "limited-risk action without AI disclosure"),
    e("C0005", "action allowed without consent"),
    e("C0006", "personal data read for another purpose"),
    e("C0007", "rule without a reason code"),
    e("C0008", "signal without max_age"),
    e("C0009", "tool bound to an unguarded action"),
    e("C0010", "compliance cannot be decided"),
    e("C0011", "action without a risk class"),
    e("C0012", "recipient of an action not identified"),
    e("C0013", "Annex III action not declared high-risk"),
    w("C0101", "rule never applies"),
    w("C0102", "allow never takes effect"),
    w("C0103", "contradictory rules"),
    w("C0104", "unused declaration"),
    w("C0105", "marketing action without frequency cap"),
    w("C0106", "no quiet-hours rule"),
];

/// The entry for `code`, if it exists.
pub fn info(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

const ERRORS_MD: &str = include_str!("../../docs/errors.md");
const COMPLIANCE_MD: &str = include_str!("../../docs/compliance.md");

/// The documentation file of `code`, relative to the repository: compliance codes (`C…`)
/// are documented in `docs/compliance.md`, the others in `docs/errors.md`.
pub fn doc_file(code: &str) -> &'static str {
    if code.starts_with('C') {
        "docs/compliance.md"
    } else {
        "docs/errors.md"
    }
}

/// The documentation of `code` from its doc file (its section, heading included).
pub fn explain(code: &str) -> Option<&'static str> {
    let info = info(code)?;
    let doc = if doc_file(info.code) == "docs/compliance.md" {
        COMPLIANCE_MD
    } else {
        ERRORS_MD
    };
    let heading = format!("## {}", info.code);
    let start = doc.find(&heading)?;
    let rest = &doc[start..];
    let end = rest[heading.len()..]
        .find("\n## ")
        .map_or(rest.len(), |i| i + heading.len() + 1);
    Some(rest[..end].trim_end())
}

/// The title line of `code`'s section in docs/errors.md's own words, for SARIF's full description.
pub fn full_description(code: &str) -> Option<&'static str> {
    let section = explain(code)?;
    section
        .lines()
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("```"))
}
