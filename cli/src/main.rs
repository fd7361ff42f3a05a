//! The `xop` command: check and format XOP policies.
//!
//! Each verb lives in its own module ([`check`], [`fmt`]); [`files`] finds and reads the `.xop`
//! files they work on, and [`sarif`] turns diagnostics into a SARIF log for CI.

mod build;
mod check;
mod compile;
mod eval;
mod explain;
mod files;
mod fmt;
mod http;
mod json;
mod log;
mod mcp_gateway;
mod review;
mod sarif;
mod test;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// mimalloc rather than the system allocator: the compiler allocates a node at a time, and
/// glibc's malloc and free were a third of the time from source to a ready policy
/// (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ABOUT: &str = "Check, format, build and run XOP policies";

const LONG_ABOUT: &str = "\
Check, format, build and run XOP policies.

XOP is a policy language for experience orchestration: `.xop` files declare the actions a
business may take towards a customer and the policies (deny, review, allow) that guard them.
The compiler proves compliance properties (human review of high-risk actions, consent,
purpose limitation) and reports every problem as a diagnostic with a stable code.";

const AFTER_LONG_HELP: &str = "\
Exit status:
  0  success
  1  the command did its job and found problems (errors, or files to reformat)
  2  usage error, or a file or folder could not be read or written

Examples:
  xop check                       check every .xop file under the current folder
  xop check --explain E0103       explain a diagnostic code
  xop fmt --check policies/       list the files that are not formatted";

#[derive(Debug, Parser)]
#[command(
    name = "xop",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = AFTER_LONG_HELP,
    propagate_version = true,
    arg_required_else_help = true
)]
struct Cli {
    /// When to colour diagnostics
    ///
    /// `auto` colours them only when they go to a terminal and the NO_COLOR environment
    /// variable is unset or empty; `always` and `never` override both.
    #[arg(
        long,
        value_enum,
        value_name = "WHEN",
        global = true,
        default_value_t = Color::Auto
    )]
    color: Color,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check .xop files for errors and warnings
    #[command(long_about = check::LONG_ABOUT, after_long_help = check::AFTER_LONG_HELP)]
    Check(check::CheckArgs),
    /// Format .xop files in place, or check that they are formatted
    #[command(long_about = fmt::LONG_ABOUT, after_long_help = fmt::AFTER_LONG_HELP)]
    Fmt(fmt::FmtArgs),
    /// Compile .xop sources into a (signed) module
    #[command(long_about = build::BUILD_LONG_ABOUT)]
    Build(build::BuildArgs),
    /// Decide one input with one policy
    #[command(long_about = eval::LONG_ABOUT, after_long_help = eval::AFTER_LONG_HELP)]
    Eval(eval::EvalArgs),
    /// Run the test blocks of .xop sources
    #[command(long_about = test::LONG_ABOUT, after_long_help = test::AFTER_LONG_HELP)]
    Test(test::TestArgs),
    /// Make an Ed25519 key pair for signing modules
    #[command(long_about = build::KEYGEN_LONG_ABOUT)]
    Keygen(build::KeygenArgs),
    /// Run the language server on standard input and output (for editors)
    #[command(
        long_about = "Run the XOP language server (LSP) on standard input and output.\n\nEditors start it; see docs/editors.md for VS Code, Neovim and Helix."
    )]
    Lsp,
    /// Verify, show, prove, replay the proof log; erase a subject's key
    #[command(long_about = log::LONG_ABOUT, after_long_help = log::AFTER_LONG_HELP)]
    Log(log::LogArgs),
    /// Explain a logged decision: evidence and the source of the rules that fired
    #[command(long_about = explain::LONG_ABOUT)]
    Explain(explain::ExplainArgs),
    /// Gate an AI agent's MCP tool calls with the module's policies (stdio proxy)
    #[command(long_about = mcp_gateway::LONG_ABOUT)]
    McpGateway(mcp_gateway::McpGatewayArgs),
    /// List, show, approve and reject human review cases
    #[command(long_about = review::LONG_ABOUT, after_long_help = review::AFTER_LONG_HELP)]
    Review(review::ReviewArgs),
    /// Serve decisions, reviews and the proof log over HTTP
    #[command(long_about = review::SERVE_LONG_ABOUT)]
    Serve(review::ServeArgs),
    /// Make reviewer and operator tokens, and their SHA-256 for xop.toml
    Token(review::TokenArgs),
}

/// The `--color` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when writing to a terminal and NO_COLOR is not set
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

impl Color {
    /// Whether to colour output written to a stream that is (or is not) a terminal.
    pub fn enabled(self, is_terminal: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    /// Whether to colour standard output.
    pub fn stdout(self) -> bool {
        self.enabled(io::stdout().is_terminal())
    }

    /// Whether to colour standard error.
    pub fn stderr(self) -> bool {
        self.enabled(io::stderr().is_terminal())
    }
}

/// Exit status 0: success.
pub const SUCCESS: u8 = 0;
/// Exit status 1: problems found.
pub const PROBLEMS: u8 = 1;
/// Exit status 2: usage or I/O error.
pub const FAILURE: u8 = 2;

/// Prints `error: MESSAGE` on standard error.
pub fn error(message: &str) {
    err(&format!("error: {message}\n"));
}

/// Writes `text` to standard error. Unlike `eprint!`, a closed or failing standard error
/// (`xop … 2>&1 >/dev/null | head -c 10`) is not a panic: there is nowhere left to report it,
/// and the exit status still says what happened.
pub fn err(text: &str) {
    use std::io::Write as _;
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Writes `text`, the product of the command (`xop fmt -`'s formatted text), to standard
/// output, refusing a closed one ([`stdout_closed`]): the text would be lost, as on a full
/// disk, so the exit status says so (2) rather than success. Other output goes through
/// [`out`]: a daemon started with `/dev/null` for its output (read and write, as a closed
/// stream's stand-in is) must not fail for printing a summary.
pub fn out_product(text: &str) -> Result<(), u8> {
    if !text.is_empty() && stdout_closed() {
        error(
            "cannot write to standard output: it is closed (or is /dev/null opened for reading \
             and writing, which stands in for a closed one), so the formatted text would be \
             lost; send it to a file or a pipe, or to `> /dev/null` to discard it",
        );
        return Err(FAILURE);
    }
    out(text)
}

/// Writes `text` to standard output. A closed pipe (`xop check | head`) is not an error: the
/// reader has seen what it wanted, and the exit status still says what was found.
pub fn out(text: &str) -> Result<(), u8> {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => {
            error(&format!(
                "cannot write to standard output: {}",
                files::reason(&e)
            ));
            Err(FAILURE)
        }
    }
}

/// Whether standard output was closed when xop started. Rust's runtime puts `/dev/null`,
/// opened for reading and writing, in place of a standard stream that is closed (so that a
/// file opened later cannot take its number), and writes to it then succeed, losing
/// everything; a `/dev/null` meant to discard output (`> /dev/null`) is opened to write only,
/// so it is told apart. Checked once.
#[cfg(unix)]
fn stdout_closed() -> bool {
    use std::os::fd::AsFd;
    static CLOSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CLOSED.get_or_init(|| stands_in_for_closed(io::stdout().as_fd()))
}

/// Elsewhere, a closed standard output is not told apart.
#[cfg(not(unix))]
fn stdout_closed() -> bool {
    false
}

/// Whether `fd` is `/dev/null` opened for reading and writing: what Rust's runtime puts in
/// place of a closed standard stream ([`stdout_closed`]).
#[cfg(unix)]
fn stands_in_for_closed(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use rustix::fs::{FileType, OFlags};
    let (Ok(meta), Ok(null), Ok(flags)) = (
        rustix::fs::fstat(fd),
        rustix::fs::stat("/dev/null"),
        rustix::fs::fcntl_getfl(fd),
    ) else {
        return false;
    };
    FileType::from_raw_mode(meta.st_mode) == FileType::CharacterDevice
        && meta.st_rdev == null.st_rdev
        && flags & OFlags::RWMODE == OFlags::RDWR
}

fn main() -> ExitCode {
    #[cfg(unix)]
    survive_file_size_limit();
    let cli = Cli::parse();
    let status = match cli.command {
        Command::Check(args) => check::run(&args, cli.color),
        Command::Fmt(args) => fmt::run(&args, cli.color),
        Command::Build(args) => build::run(&args, cli.color),
        Command::Eval(args) => eval::run(&args, cli.color),
        Command::Test(args) => test::run(&args, cli.color),
        Command::Keygen(args) => build::keygen(&args),
        // LSP 3.17: status 1 for a session that ended without `shutdown`.
        Command::Lsp => match xop_lsp::run_stdio() {
            Ok(true) => SUCCESS,
            Ok(false) => PROBLEMS,
            Err(e) => {
                error(&e);
                FAILURE
            }
        },
        Command::Log(args) => log::run(&args),
        Command::Explain(args) => explain::run(&args, cli.color),
        Command::McpGateway(args) => mcp_gateway::run(args),
        Command::Review(args) => review::run(&args),
        Command::Serve(args) => review::serve(&args),
        Command::Token(args) => review::token(&args),
    };
    ExitCode::from(status)
}

/// Handles SIGXFSZ, for every verb, before anything is written. A process that writes past
/// its file size limit (`ulimit -f`, a service manager's `LimitFSIZE`) is sent SIGXFSZ, whose
/// default action kills it without a word: `xop serve` died with requests unanswered and
/// `/healthz` never failing. Handled (by a handler that does nothing: tokio's, the one safe way
/// among this workspace's crates; the effect of ignoring it), the write fails with EFBIG
/// instead ("File too large"), which every writer already handles as a failed write: the proof
/// log refuses later records (`/healthz` fails), a command says what failed and exits 2. A
/// handler, unlike an ignored signal, is not passed on to the programs xop starts.
#[cfg(unix)]
fn survive_file_size_limit() {
    use tokio::signal::unix::{SignalKind, signal};
    let xfsz = SignalKind::from_raw(rustix::process::Signal::XFSZ.as_raw());
    // The handler stays installed for the whole process once registered, after this runtime
    // (needed to register it) is gone.
    let handled = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .and_then(|rt| {
            let _entered = rt.enter();
            signal(xfsz).map(drop)
        });
    if let Err(e) = handled {
        eprintln!(
            "warning: SIGXFSZ cannot be handled ({e}): a write past the file size limit \
             (`ulimit -f`) would stop xop at once, rather than fail as a write that failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    /// `/dev/null` opened for reading and writing (as Rust's runtime opens it for a closed
    /// stream) stands in for a closed one; opened to write (`> /dev/null`), or a file, does not.
    #[cfg(unix)]
    #[test]
    fn dev_null_for_reading_and_writing_stands_in_for_closed() {
        use std::os::fd::AsFd;
        let both = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .unwrap();
        assert!(stands_in_for_closed(both.as_fd()));
        let write = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        assert!(!stands_in_for_closed(write.as_fd()));
        let file = tempfile::tempfile().unwrap();
        assert!(!stands_in_for_closed(file.as_fd()));
    }

    #[test]
    fn color_never_and_always_ignore_the_terminal() {
        assert!(!Color::Never.enabled(true));
        assert!(Color::Always.enabled(false));
        assert!(!Color::Auto.enabled(false));
    }
}
