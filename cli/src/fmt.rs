//! `xop fmt`: format `.xop` files in place, check that they are formatted, or format stdin.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use xop_compiler::diagnostic::Diagnostic;
use xop_compiler::format::format;
use xop_compiler::render;

use crate::explain::shown;
use crate::{Color, FAILURE, PROBLEMS, SUCCESS, err, error, files, out};

/// The long help of `xop fmt`.
pub const LONG_ABOUT: &str = "\
Format .xop files in place, or check that they are formatted.

Every PATH is a .xop file or a folder; folders are searched recursively for *.xop files
(hidden entries and `target` and `node_modules` folders are skipped). A file is rewritten
only when formatting changes it, into a new file renamed over it: a write that fails (a full
disk) leaves it as it was; its permissions, owner, group and extended attributes (its access
control list, ACL) are kept. A file that renaming would change otherwise is refused and left
as it is: one that is read-only or that you may not write, one with several hard links (the
rename would split them), one whose owner, group or extended attributes could not be kept. A
file edited since it was read (saved while fmt was busy with others) is left as it is, with
the edit: run fmt again. A file with syntax errors is never rewritten: its diagnostics are
printed on standard error and the exit status is 1. A file that cannot be read (not UTF-8, no
permission) is reported, and the others are formatted all the same.

With --check nothing is written: each file that would change is listed on standard output as
`would reformat: PATH`. With `-` as the only PATH, the source is read from standard input and
the formatted text written to standard output. A summary goes to standard error.";

/// The exit codes and examples of `xop fmt`.
pub const AFTER_LONG_HELP: &str = "\
Exit status:
  0  every file is formatted (or has been)
  1  --check found files to reformat, or a file has syntax errors
  2  usage error, or a file or folder could not be read or written, or a file changed
     while fmt ran (the others were formatted), or standard output is closed

Examples:
  xop fmt                          format every .xop file under the current folder
  xop fmt --check                  in CI: fail if a file is not formatted
  xop fmt - < in.xop > out.xop     format standard input";

/// Arguments of `xop fmt`.
#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files or folders to format; `-` alone formats standard input to standard output
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Write nothing; list the files that would change and exit 1 if there are any
    #[arg(long)]
    pub check: bool,
}

/// Runs `xop fmt`; returns the exit status.
pub fn run(args: &FmtArgs, color: Color) -> u8 {
    let stdin = Path::new("-");
    if args.paths.iter().any(|p| p == stdin) {
        if args.paths.len() > 1 {
            error("`-` (standard input) cannot be combined with other paths");
            return FAILURE;
        }
        return run_stdin(args.check, color);
    }
    // Each file is formatted alone: one that cannot be read (not UTF-8, no permission) is
    // reported, and the others are formatted all the same.
    let (sources, unread) = files::load_each(&args.paths);
    // Names are printed with their control characters escaped (as every name from a source
    // is), so that a file name cannot rewrite the terminal's line or forge a line of its own.
    unread.iter().for_each(|m| error(&shown(m)));
    if sources.is_empty() {
        // Nothing to format (or to sum up): what was wrong is said above.
        if unread.is_empty() {
            error(&files::none_found(&args.paths));
        }
        return FAILURE;
    }
    let mut changed = 0;
    let mut broken = 0;
    let mut unwritten = 0;
    let mut listing = String::new();
    for file in &sources {
        let formatted = match format(&file.text) {
            Ok(formatted) => formatted,
            Err(diags) => {
                broken += 1;
                report(&diags, &file.display, &file.text, color);
                continue;
            }
        };
        if formatted == file.text {
            continue;
        }
        if args.check {
            changed += 1;
            listing.push_str(&format!("would reformat: {}\n", shown(&file.display)));
        } else if let Err(message) = rewrite(file, &formatted) {
            error(&message);
            unwritten += 1;
        } else {
            changed += 1;
        }
    }
    if let Err(failure) = out(&listing) {
        return failure;
    }
    let mut line = summary(sources.len(), changed, broken, unwritten, args.check);
    if !unread.is_empty() {
        line.push_str(&format!(
            "; {} could not be read (above)",
            match unread.len() {
                1 => "1 path".to_string(),
                n => format!("{n} paths"),
            }
        ));
    }
    err(&format!("{line}\n"));
    if unwritten > 0 || !unread.is_empty() {
        FAILURE
    } else if broken > 0 || (args.check && changed > 0) {
        PROBLEMS
    } else {
        SUCCESS
    }
}

/// Replaces `file` with its `formatted` text, unless it changed since it was read (an edit saved
/// while the run was busy with other files is never overwritten by the text read before it);
/// the error is the message to print.
fn rewrite(file: &files::SourceText, formatted: &str) -> Result<(), String> {
    // Written into a new file renamed over the source: a failed write (a full disk) leaves
    // the source as it was.
    files::rewrite_unchanged(&file.path, file.text.as_bytes(), formatted.as_bytes()).map_err(|e| {
        // The whole message escaped: a reason may name the file too (a link's chain).
        shown(&if files::changed_since_read(&e) {
            format!("`{}` {e}", file.display)
        } else {
            format!(
                "cannot write `{}`: {}; it was left unchanged",
                file.display,
                files::reason(&e)
            )
        })
    })
}

fn run_stdin(check: bool, color: Color) -> u8 {
    const NAME: &str = "<stdin>";
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut bytes) {
        error(&files::cannot_read(NAME, &files::reason(&e)));
        return FAILURE;
    }
    let text = match files::utf8(bytes) {
        Ok(text) => text,
        Err(why) => {
            error(&files::cannot_read(NAME, &why));
            return FAILURE;
        }
    };
    match format(&text) {
        Err(diags) => {
            report(&diags, NAME, &text, color);
            PROBLEMS
        }
        Ok(formatted) if check => {
            if formatted == text {
                SUCCESS
            } else {
                match out(&format!("would reformat: {NAME}\n")) {
                    Ok(()) => PROBLEMS,
                    Err(failure) => failure,
                }
            }
        }
        Ok(formatted) => match crate::out_product(&formatted) {
            Ok(()) => SUCCESS,
            Err(failure) => failure,
        },
    }
}

/// Prints a broken file's diagnostics on standard error, naming it `display`.
fn report(diags: &[Diagnostic], display: &str, text: &str, color: Color) {
    let name: Arc<str> = Arc::from(display);
    let mut diags = diags.to_vec();
    // The formatter names the file it was given however it likes; show the user's path.
    for d in &mut diags {
        let original = d.file.clone();
        d.file = name.clone();
        for label in &mut d.secondary {
            if label.file == original {
                label.file = name.clone();
            }
        }
    }
    let texts: HashMap<&str, &str> = HashMap::from([(display, text)]);
    let source = |path: &str| texts.get(path).map(|t| t.to_string());
    err(&render::human(&diags, &source, color.stderr()));
}

/// The summary line: of `files`, `changed` reformatted (or to be, with `check`), `broken` with
/// syntax errors, `unwritten` that needed formatting but could not be written.
fn summary(files: usize, changed: usize, broken: usize, unwritten: usize, check: bool) -> String {
    let count = |n: usize| {
        if n == 1 {
            "1 file".to_string()
        } else {
            format!("{n} files")
        }
    };
    let mut parts = Vec::new();
    if check {
        parts.push(format!("{} would be reformatted", count(changed)));
    } else {
        parts.push(format!("{} reformatted", count(changed)));
    }
    parts.push(format!(
        "{} already formatted",
        files - changed - broken - unwritten
    ));
    if unwritten > 0 {
        parts.push(format!("{} could not be written", count(unwritten)));
    }
    if broken > 0 {
        parts.push(format!(
            "{} with syntax errors left unchanged",
            count(broken)
        ));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file saved again after `xop fmt` read it (an edit made while it was busy with other
    /// files) keeps the edit: it is not rewritten, and the message names it and says to run
    /// again.
    #[test]
    fn an_edit_saved_after_the_file_was_read_is_kept() {
        let dir = std::env::temp_dir().join(format!("xop-fmt-edit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a\u{1b}[2Kb.xop");
        std::fs::write(&path, "module m\nfn   f(): Int = 1\n").unwrap();
        let (sources, unread) = files::load_each(std::slice::from_ref(&path));
        assert!(unread.is_empty(), "{unread:?}");
        let formatted = format(&sources[0].text).unwrap();
        assert_ne!(formatted, sources[0].text);
        let edited = "module m\nfn   f(): Int = 1\n// saved while xop fmt ran\n";
        std::fs::write(&path, edited).unwrap();
        let message = rewrite(&sources[0], &formatted).unwrap_err();
        let now = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(now, edited);
        assert!(
            message.ends_with(
                "a\\u{1b}[2Kb.xop` changed since it was read: not rewritten (run xop fmt again)"
            ),
            "{message}"
        );
        assert!(!message.contains('\u{1b}'), "{message}");
    }
}
