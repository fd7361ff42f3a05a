//! `xop check`: compile every `.xop` file together and report the diagnostics.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use xop_compiler::codes;
use xop_compiler::db::{STDLIB, Workspace};
use xop_compiler::diagnostic::Diagnostic;
use xop_compiler::render;

use crate::{Color, FAILURE, PROBLEMS, SUCCESS, error, files, out};

/// The long help of `xop check`.
pub const LONG_ABOUT: &str = "\
Check .xop files for errors and warnings.

Every PATH is a .xop file or a folder; folders are searched recursively for *.xop files
(hidden entries and `target` and `node_modules` folders are skipped). All the files found are
compiled together, with the standard library, so they may `use` each other's modules.
Diagnostics name files as you wrote their paths.

The report goes to standard output: diagnostics and a summary line (`checked 3 files:
2 errors, 1 warning`) in the human format, a JSON object or a SARIF 2.1.0 log otherwise.
Problems reading the files go to standard error.";

/// The exit codes and examples of `xop check`.
pub const AFTER_LONG_HELP: &str = "\
Exit status:
  0  no errors (warnings are allowed unless --deny-warnings); --explain printed a code
  1  errors found (or warnings, with --deny-warnings)
  2  usage error, a path that cannot be read or is not UTF-8, a file that is not UTF-8, no
     .xop file found, or an unknown code given to --explain

Examples:
  xop check                             check the current folder
  xop check policies/ shared/util.xop   check a folder and a file together
  xop check --format sarif > xop.sarif  a SARIF log for code scanning in CI
  xop check --explain E0103             what E0103 means and how to fix it";

/// Arguments of `xop check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or folders to check; folders are searched recursively for *.xop files
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Human)]
    pub format: Format,

    /// Print the documentation of a diagnostic code (e.g. E0103) and exit
    #[arg(long, value_name = "CODE", conflicts_with_all = ["paths", "format", "deny_warnings"])]
    pub explain: Option<String>,

    /// Fail (exit 1) on warnings too
    #[arg(long)]
    pub deny_warnings: bool,
}

/// The report format of `xop check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Diagnostics with source excerpts, for people
    Human,
    /// One JSON object with counts and diagnostics
    Json,
    /// A SARIF 2.1.0 log, for code scanning
    Sarif,
}

/// Runs `xop check`; returns the exit status.
pub fn run(args: &CheckArgs, color: Color) -> u8 {
    if let Some(code) = &args.explain {
        return explain(code);
    }
    let mut sources = match files::load(&args.paths) {
        Ok(sources) => sources,
        Err(messages) => {
            messages.iter().for_each(|m| error(m));
            return FAILURE;
        }
    };
    let mut ws = Workspace::new();
    for s in &mut sources {
        // The standard library is in the workspace as `std/NAME.xop`; a user's file of the same
        // name (checked from inside `stdlib/`) must not replace it, nor hide among its files.
        if STDLIB.iter().any(|(path, _)| *path == s.display) {
            s.display = format!("./{}", s.display);
        }
        ws.set_file(&s.display, s.text.as_str());
    }
    let diags = ws.diagnostics();
    let source = |path: &str| ws.source(path).map(|t| t.to_string());
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let status = if errors > 0 || (args.deny_warnings && warnings > 0) {
        PROBLEMS
    } else {
        SUCCESS
    };
    let report = match args.format {
        Format::Human => human(&diags, &source, color.stdout(), sources.len(), args),
        Format::Json => {
            let value = serde_json::json!({
                "files": sources.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": render::json(&diags, &source),
            });
            to_json(&value)
        }
        Format::Sarif => to_json(&crate::sarif::log(&diags, &source)),
    };
    match out(&report) {
        Ok(()) => status,
        Err(failure) => failure,
    }
}

fn to_json(value: &impl serde::Serialize) -> String {
    let mut text = crate::json::pretty(value);
    text.push('\n');
    text
}

fn human(
    diags: &[Diagnostic],
    source: &dyn Fn(&str) -> Option<String>,
    color: bool,
    files: usize,
    args: &CheckArgs,
) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let mut text = render::human(diags, source, color);
    if !text.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&format!(
        "checked {}: {}, {}{}\n",
        plural(files, "file"),
        plural(errors, "error"),
        plural(warnings, "warning"),
        if args.deny_warnings && warnings > 0 {
            " (warnings denied)"
        } else {
            ""
        }
    ));
    text
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `--explain CODE`: the code's section of docs/errors.md, or its title when it has none yet.
fn explain(code: &str) -> u8 {
    let Some(info) = codes::info(code) else {
        error(&unknown_code(code));
        return FAILURE;
    };
    let text = match codes::explain(info.code) {
        Some(doc) => format!("{doc}\n"),
        None => format!(
            "{}: {}\n\nThis code is not documented in docs/errors.md yet.\n",
            info.code, info.title
        ),
    };
    match out(&text) {
        Ok(()) => SUCCESS,
        Err(failure) => failure,
    }
}

/// The message for a code `--explain` does not know: where the codes are listed, and the
/// nearest known code when one is close (a typo).
fn unknown_code(code: &str) -> String {
    let upper = code.to_ascii_uppercase();
    let nearest = xop_compiler::resolve::suggest(&upper, codes::CODES.iter().map(|c| c.code));
    let hint = match nearest {
        Some(near) => format!(" (did you mean `{near}`?)"),
        None => String::new(),
    };
    format!(
        "unknown diagnostic code `{code}`{hint}: the codes are listed in docs/errors.md (E…, \
         W…) and docs/compliance.md (C…)"
    )
}
