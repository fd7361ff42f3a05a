//! `xop fmt`: format `.xop` files in place, check that they are formatted, or format stdin.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use xop_compiler::diagnostic::Diagnostic;
use xop_compiler::format::format;
use xop_compiler::render;

use crate::{Color, FAILURE, PROBLEMS, SUCCESS, err, error, files, out};

/// The long help of `xop fmt`.
pub const LONG_ABOUT: &str = "\
Format .xop files in place, or check that they are formatted.

Every PATH is a .xop file or a folder; folders are searched recursively for *.xop files
(hidden entries and `target` and `node_modules` folders are skipped). A file is rewritten
only when formatting changes it, into a new file renamed over it: a write that fails (a full
disk) leaves it as it was. A file that renaming would change otherwise is refused and left as
it is: one that is read-only or that you may not write, one with several hard links (the
rename would split them), one whose owner or group could not be kept. A file with syntax errors
is never rewritten: its diagnostics are printed on standard error and the exit status is 1. A
file that cannot be read (not UTF-8, no permission) is reported, and the others are formatted
all the same.

With --check nothing is written: each file that would change is listed on standard output as
`would reformat: PATH`. With `-` as the only PATH, the source is read from standard input and
the formatted text written to standard output. A summary goes to standard error.";

/// The exit codes and examples of `xop fmt`.
pub const AFTER_LONG_HELP: &str = "\
Exit status:
  0  every file is formatted (or has been)
  1  --check found files to reformat, or a file has syntax errors
  2  usage error, or a file or folder could not be read or written (the others were
     formatted)

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
    unread.iter().for_each(|m| error(m));
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
            listing.push_str(&format!("would reformat: {}\n", file.display));
        } else if let Err(e) = files::write_atomically(&file.path, formatted.as_bytes()) {
            // Written into a new file renamed over the source: a failed write (a full disk)
            // leaves the source as it was.
            error(&format!(
                "cannot write `{}`: {}; it was left unchanged",
                file.display,
                files::reason(&e)
            ));
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
        Ok(formatted) => match out(&formatted) {
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
