//! Formatting: the `xop fmt` formatter, on the document's current text.

use xop_compiler::db::SourceFile;

use crate::state::Snapshot;

/// The formatted text of `file`, `None` if it is already formatted, or an error when the
/// file has syntax errors (the formatter never guesses).
pub fn format(snap: &Snapshot, file: SourceFile) -> Result<Option<String>, String> {
    let text = snap.text(file);
    match xop_compiler::format::format_file(&snap.path(file), &text) {
        Ok(new) if new == *text => Ok(None),
        Ok(new) => Ok(Some(new)),
        Err(diags) => Err(format!(
            "cannot format a file with syntax errors ({} found; the first: {})",
            diags.len(),
            diags.first().map_or("", |d| d.message.as_str())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, snapshot};

    #[test]
    fn formats_like_xop_fmt_and_refuses_broken_files() {
        let messy = CONTACT.replace(
            "  deny \"cap\" when c.messages_7d >= 3",
            "deny  \"cap\"   when c.messages_7d>=3",
        );
        let (_st, snap) = snapshot(&[("a.xop", &messy), ("b.xop", "module b\npolicy {")]);
        let a = snap.file("a.xop").expect("file");
        let expected = xop_compiler::format::format(&messy).expect("formats");
        assert_eq!(format(&snap, a), Ok(Some(expected.clone())));
        assert!(expected.contains("  deny \"cap\" when c.messages_7d >= 3"));
        let b = snap.file("b.xop").expect("file");
        assert!(format(&snap, b).is_err());
        drop(snap);
        let (_st, snap) = snapshot(&[("a.xop", &expected)]);
        let a = snap.file("a.xop").expect("file");
        assert_eq!(format(&snap, a), Ok(None));
    }
}
