//! The diagnostics to publish: the compiler's own, for every file of the workspace, from the
//! same salsa queries as `xop check` (so an edit recomputes only what it touches, and files
//! that `use` an edited file are re-checked).

use std::sync::Arc;

use xop_compiler::db::{SourceFile, file_diagnostics};
use xop_compiler::diagnostic::Diagnostic;

use crate::state::Snapshot;

/// The diagnostics of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiagnostics {
    /// The file.
    pub file: SourceFile,
    /// Its path.
    pub path: Arc<str>,
    /// The version of the open document they were computed on; `None` for a file that is not
    /// open in the editor.
    pub version: Option<i32>,
    /// What the compiler says about it.
    pub diagnostics: Vec<Diagnostic>,
}

/// The diagnostics of every file that is not part of the stdlib.
pub fn all(snap: &Snapshot) -> Vec<FileDiagnostics> {
    snap.files()
        .into_iter()
        .filter(|f| !snap.is_stdlib(*f))
        .map(|f| of_file(snap, f))
        .collect()
}

/// The diagnostics of one file.
pub fn of_file(snap: &Snapshot, file: SourceFile) -> FileDiagnostics {
    let path = snap.path(file);
    FileDiagnostics {
        file,
        version: snap.versions.get(&*path).copied(),
        path,
        diagnostics: file_diagnostics(&snap.db, snap.project, file).clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use super::*;
    use crate::testing::{CONTACT, CUSTOMER, snapshot};

    #[test]
    fn a_write_cancels_work_on_snapshots_and_dependents_are_rechecked() {
        let (mut st, snap) = snapshot(&[("customer.xop", CUSTOMER), ("contact.xop", CONTACT)]);
        let errors = |all: &[FileDiagnostics]| -> Vec<(String, &'static str)> {
            all.iter()
                .flat_map(|f| {
                    f.diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .map(|d| (f.path.to_string(), d.code))
                })
                .collect()
        };
        assert_eq!(errors(&all(&snap)), vec![]);
        // A reader that never stops asking: only a write's cancellation ends it.
        let reader = std::thread::spawn(move || {
            salsa::Cancelled::catch(AssertUnwindSafe(|| {
                loop {
                    let _ = all(&snap);
                }
            }))
        });
        st.change("customer.xop", 2, |t| t.replace("  messages_7d: Int\n", ""));
        let result: Result<(), salsa::Cancelled> = reader.join().expect("no other panic");
        assert!(result.is_err(), "the reader was cancelled");
        // contact.xop was not edited, and is re-checked against the new customer.xop.
        let snap = st.snapshot();
        let got = all(&snap);
        assert_eq!(errors(&got), vec![("contact.xop".to_string(), "E0210")]);
        let contact = got
            .iter()
            .find(|f| &*f.path == "contact.xop")
            .expect("published");
        assert_eq!(contact.version, Some(1));
    }
}
