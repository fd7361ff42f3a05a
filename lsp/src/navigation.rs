//! Go to definition, find references and rename, from the compiler's own name resolution
//! ([`xop_compiler::ide`]).

use xop_compiler::db::SourceFile;
use xop_compiler::ide::{self, Target};
use xop_compiler::span::Span;

use crate::state::Snapshot;

/// Replacements in one file: span → new text.
pub type FileEdits = (SourceFile, Vec<(Span, String)>);

/// Where the name at `offset` is declared (possibly in the stdlib).
pub fn definition(snap: &Snapshot, file: SourceFile, offset: usize) -> Option<(SourceFile, Span)> {
    let r = ide::target_at(&snap.db, snap.project, file, offset)?;
    ide::definition(&snap.db, &r.target)
}

/// Every place the name at `offset` refers to the same thing, with or without its
/// declaration.
pub fn references(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    include_declaration: bool,
) -> Vec<(SourceFile, Span)> {
    let Some(r) = ide::target_at(&snap.db, snap.project, file, offset) else {
        return Vec::new();
    };
    let decl = ide::definition(&snap.db, &r.target);
    ide::references(&snap.db, snap.project, &r.target)
        .into_iter()
        .filter(|loc| include_declaration || Some(*loc) != decl)
        .collect()
}

/// The name that would be renamed at `offset`, or why it cannot be.
pub fn prepare_rename(snap: &Snapshot, file: SourceFile, offset: usize) -> Result<Span, String> {
    let r = ide::target_at(&snap.db, snap.project, file, offset)
        .ok_or_else(|| "there is no name here to rename".to_string())?;
    check_renamable(snap, &r.target)?;
    Ok(r.span)
}

/// The edits that rename the name at `offset` to `new_name`, by file.
pub fn rename(
    snap: &Snapshot,
    file: SourceFile,
    offset: usize,
    new_name: &str,
) -> Result<Vec<FileEdits>, String> {
    if !is_identifier(new_name) {
        return Err(format!(
            "`{new_name}` is not a name: use letters, digits and `_`, not starting with a digit, and not a keyword"
        ));
    }
    let r = ide::target_at(&snap.db, snap.project, file, offset)
        .ok_or_else(|| "there is no name here to rename".to_string())?;
    check_renamable(snap, &r.target)?;
    let old = snap
        .text(file)
        .get(r.span.range())
        .unwrap_or_default()
        .to_string();
    let mut out: Vec<FileEdits> = Vec::new();
    for (f, span) in ide::references(&snap.db, snap.project, &r.target) {
        // A name imported under an alias (`use a.x as y`) keeps its alias.
        if snap.text(f).get(span.range()) != Some(old.as_str()) {
            continue;
        }
        match out.iter_mut().find(|(g, _)| *g == f) {
            Some((_, edits)) => edits.push((span, new_name.to_string())),
            None => out.push((f, vec![(span, new_name.to_string())])),
        }
    }
    Ok(out)
}

fn check_renamable(snap: &Snapshot, target: &Target) -> Result<(), String> {
    if let Target::Module(_) = target {
        return Err("a module is renamed by editing its `module` line and each `use` of it".into());
    }
    match ide::definition(&snap.db, target) {
        Some((f, _)) if snap.is_stdlib(f) => {
            Err("this is declared by the standard library, which cannot be edited".into())
        }
        Some(_) => Ok(()),
        None => Err("cannot find where this is declared".into()),
    }
}

/// The words the lexer reserves.
pub const KEYWORDS: &[&str] = &[
    "module",
    "use",
    "as",
    "record",
    "enum",
    "action",
    "signal",
    "role",
    "channel",
    "purpose",
    "event",
    "fn",
    "intrinsic",
    "policy",
    "decision",
    "journey",
    "agent",
    "test",
    "for",
    "at",
    "deny",
    "allow",
    "review",
    "by",
    "within",
    "else",
    "when",
    "unless",
    "from",
    "max_age",
    "risk",
    "propose",
    "rank",
    "state",
    "on",
    "wait",
    "goto",
    "tool",
    "expect",
    "given",
    "let",
    "if",
    "then",
    "and",
    "or",
    "not",
    "in",
    "is",
    "absent",
    "present",
    "true",
    "false",
];

/// Whether `s` is a name the lexer reads as one identifier.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !KEYWORDS.contains(&s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{CONTACT, CUSTOMER, at, snapshot};

    #[test]
    fn definition_across_files_and_into_the_stdlib() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let contact = snap.file("contact.xop").expect("file");
        let (f, span) = definition(&snap, contact, at(CONTACT, "Customer", 1, 1)).expect("found");
        assert_eq!(&*snap.path(f), "customer.xop");
        assert_eq!(span.start(), at(CUSTOMER, "Customer {", 0, 0));
        let (f, span) = definition(&snap, contact, at(CONTACT, "consent(c", 0, 1)).expect("found");
        assert!(snap.is_stdlib(f));
        assert!(snap.text(f)[span.start()..].starts_with("consent("));
    }

    #[test]
    fn references_with_and_without_the_declaration() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let contact = snap.file("contact.xop").expect("file");
        let off = at(CONTACT, "c,", 0, 0);
        // `to: c` and the two uses.
        assert_eq!(references(&snap, contact, off, true).len(), 3);
        assert_eq!(references(&snap, contact, off, false).len(), 2);
    }

    #[test]
    fn rename_edits_every_file_and_refuses_what_it_cannot() {
        let (_st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let contact = snap.file("contact.xop").expect("file");
        let off = at(CONTACT, "Customer", 1, 0);
        let edits = rename(&snap, contact, off, "Client").expect("renamed");
        let total: usize = edits.iter().map(|(_, e)| e.len()).sum();
        assert_eq!(edits.len(), 2);
        assert_eq!(total, 3, "{edits:?}");
        assert!(rename(&snap, contact, off, "deny").is_err());
        assert!(rename(&snap, contact, off, "9lives").is_err());
        let std = at(CONTACT, "consent(c", 0, 0);
        assert!(prepare_rename(&snap, contact, std).is_err());
        assert!(prepare_rename(&snap, contact, at(CONTACT, "\"cap\"", 0, 1)).is_err());
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("fraud_desk") && is_identifier("_x1"));
        assert!(!is_identifier("") && !is_identifier("a-b") && !is_identifier("policy"));
    }
}
