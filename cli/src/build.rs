//! `xop build` (sources → signed, content-addressed `.xopm` module) and `xop keygen`.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::{Color, FAILURE, SUCCESS, compile, error, files, out};

/// Long help of `xop build`.
pub const BUILD_LONG_ABOUT: &str = "\
Compile .xop sources into a module (.xopm) that runtimes load.

The sources must check without errors. The module holds the IR, the input layout, the rule and
reason tables with source locations for explanations, the SHA-256 of the sources and of its own
content; with --sign it is signed with an Ed25519 key made by `xop keygen`, and loaders given
the public key (`--trust`) refuse it if any byte changed.

The module is written whole or not at all (into a new file, renamed over -o FILE). It may
replace an earlier module, but never a source, the --sign key or another file: those are
refused, and so is a name ending in .xop (a source's: give the module a .xopm name) and a
named pipe or socket (a character device such as /dev/null is written to as it is).";

/// Arguments of `xop build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Files or folders of .xop sources, compiled together
    #[arg(required = true, value_name = "PATHS")]
    pub paths: Vec<PathBuf>,
    /// Where to write the module
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Sign the module with this secret key file (from `xop keygen`)
    #[arg(long, value_name = "KEYFILE")]
    pub sign: Option<PathBuf>,
}

/// Runs `xop build`.
pub fn run(args: &BuildArgs, color: Color) -> u8 {
    // Before compiling: a module written over a source or a key would destroy it.
    if let Err(m) = check_output(args) {
        error(&m);
        return FAILURE;
    }
    let compiled = match compile::from_sources(&args.paths, color) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let key = match &args.sign {
        None => None,
        Some(path) => match xop_runtime::module::read_signing_key(path) {
            Ok(k) => Some(k),
            Err(m) => {
                error(&m);
                return FAILURE;
            }
        },
    };
    let bytes = compiled.module.to_bytes(key.as_ref());
    if let Err(e) = files::write_atomically(&args.output, &bytes) {
        // A refusal of `write_atomically`'s own says what to do; the system's errors do not.
        let hint = match e.kind() {
            std::io::ErrorKind::Other | std::io::ErrorKind::InvalidInput => "",
            _ => " (check that its folder exists and is writable, or give another path with -o)",
        };
        error(&format!(
            "cannot write `{}`: {}; nothing was written{hint}",
            args.output.display(),
            files::reason(&e)
        ));
        return FAILURE;
    }
    let hash = xop_runtime::module::content_hash(&bytes);
    let program = compiled.program();
    let summary = format!(
        "wrote {} ({} bytes, {} policies, {} tests{}), sha256 {}\n",
        args.output.display(),
        bytes.len(),
        program.policies.len(),
        program.tests.len(),
        if key.is_some() { ", signed" } else { "" },
        xop_runtime::module::hex(&hash)
    );
    match out(&summary) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

/// Refuses an output path the module must not be written to: a folder, a name ending in
/// `.xop` (a source's), the `--sign` key, one of the sources (named, or found in a folder given), or an existing file that is not a
/// compiled module. Replacing an earlier module (a rebuild) is fine, and so is an empty file.
fn check_output(args: &BuildArgs) -> Result<(), String> {
    let output = &args.output;
    let shown = output.display();
    if ends_with_separator(output) || output.is_dir() {
        return Err(format!(
            "`{shown}` names a folder: -o takes the module's file, e.g. `{}`",
            output.join("NAME.xopm").display()
        ));
    }
    let Some(target) = canonical(output) else {
        // Its folder does not exist: writing will say so, and nothing can be overwritten.
        return Ok(());
    };
    let another = another_path(output);
    if let Some(key) = &args.sign
        && canonical(key).is_some_and(|k| k == target)
    {
        return Err(format!(
            "`{shown}` is the secret key given to --sign: writing the module there would \
             destroy the key; give the module another path with -o, e.g. `{another}`"
        ));
    }
    if let Some(source) = files::find(&args.paths)
        .iter()
        .find(|p| canonical(p).is_some_and(|p| p == target))
    {
        let what = if source == output {
            "is one of the sources".to_string()
        } else {
            format!("is the source `{}`", source.display())
        };
        return Err(format!(
            "`{shown}` {what}: writing the module there would replace it; give the module \
             another path with -o, e.g. `{another}`"
        ));
    }
    // A `.xop` name is a source's, even one not there yet or not among the paths given: a
    // module written there is read back as one by every command given its folder (`xop check
    // src` refuses it, a rebuild calls it a source).
    if output.extension().is_some_and(|e| e == "xop") {
        return Err(format!(
            "`{shown}` ends in `.xop`, the name of a source file: the module would be read as a \
             source wherever its folder is given; give the module a name ending in `.xopm`, \
             e.g. `{another}`"
        ));
    }
    // A named pipe or socket would take the module a write at a time, or wait for a reader
    // forever; only a character device (`/dev/null`) is written to as it is.
    if let Ok(meta) = std::fs::metadata(output)
        && !meta.is_file()
        && let Some(what) = files::special(&meta)
    {
        return Err(format!(
            "`{shown}` is {what}: -o takes the module's file (a new one, or an earlier module), \
             e.g. `{another}`"
        ));
    }
    if let Ok(meta) = std::fs::metadata(output)
        && meta.is_file()
        && meta.len() > 0
        && !files::is_module(output)
    {
        return Err(format!(
            "`{shown}` exists and is not a compiled module: give another path, or remove it \
             first"
        ));
    }
    Ok(())
}

/// A path to suggest instead of `output`: the same name ending in `.xopm`, or `NAME.xopm`.
fn another_path(output: &Path) -> String {
    let xopm = output.with_extension("xopm");
    if xopm != output && output.file_name().is_some() {
        xopm.display().to_string()
    } else {
        "NAME.xopm".to_string()
    }
}

/// Whether `path` is written with a separator at its end (`keys/`): a folder, not a file.
fn ends_with_separator(path: &Path) -> bool {
    path.to_string_lossy()
        .chars()
        .next_back()
        .is_some_and(std::path::is_separator)
}

/// `path` with every link and `..` resolved; for a file that does not exist yet, its folder's
/// such path and its name. `None` when its folder does not exist either.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::canonicalize(folder).ok().map(|f| f.join(name))
}

/// Long help of `xop keygen`.
pub const KEYGEN_LONG_ABOUT: &str = "\
Make an Ed25519 key pair for signing modules: PREFIX.key (secret: keep it out of version
control) and PREFIX.pub (give it to runtimes as --trust). The prefix is kept whole (`-o
acme.prod` writes acme.prod.key and acme.prod.pub); a folder is not a prefix (`-o keys/acme`
writes into keys/). Existing files are never overwritten, and a key is never written through a
symbolic link (even one that leads to nothing) or over one.";

/// Arguments of `xop keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write PREFIX.key and PREFIX.pub
    #[arg(short, long, value_name = "PREFIX", default_value = "xop-signing")]
    pub output: PathBuf,
}

/// Runs `xop keygen`.
pub fn keygen(args: &KeygenArgs) -> u8 {
    let (secret_path, public_path) = match key_paths(&args.output) {
        Ok(paths) => paths,
        Err(m) => {
            error(&m);
            return FAILURE;
        }
    };
    for p in [&secret_path, &public_path] {
        if let Some(m) = taken(p) {
            error(&m);
            return FAILURE;
        }
    }
    let mut seed = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut seed) {
        error(&format!("no randomness from the operating system: {e}"));
        return FAILURE;
    }
    let (secret, public) = xop_runtime::module::write_keypair(seed);
    for (path, text, secret) in [
        (&secret_path, &secret, true),
        (&public_path, &public, false),
    ] {
        if let Err(e) = write_new(path, text, secret) {
            // Made since it was looked at above (a file or a link): say which.
            match taken(path).filter(|_| e.kind() == std::io::ErrorKind::AlreadyExists) {
                Some(m) => error(&m),
                None => error(&format!(
                    "cannot write `{}`: {} (check that its folder exists and is writable, or \
                     choose another --output)",
                    path.display(),
                    files::reason(&e)
                )),
            }
            if !secret {
                // Half a key pair is of no use: the secret key written just before goes too.
                let _ = std::fs::remove_file(&secret_path);
            }
            return FAILURE;
        }
    }
    match out(&format!(
        "wrote {} (secret) and {} (public)\n",
        secret_path.display(),
        public_path.display()
    )) {
        Ok(()) => SUCCESS,
        Err(s) => s,
    }
}

/// Why keygen cannot write the key file `path`, when something is there already: a file, or a
/// symbolic link (even one that leads to nothing, which `Path::exists` does not see): a key is
/// never written through a link, where it could land anywhere, nor over one.
fn taken(path: &Path) -> Option<String> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let shown = path.display();
    if !meta.file_type().is_symlink() {
        return Some(format!(
            "`{shown}` exists, and keygen never replaces a file: choose another --output"
        ));
    }
    let to = match std::fs::read_link(path) {
        Ok(to) => format!(" to `{}`", to.display()),
        Err(_) => String::new(),
    };
    let dangling = if path.exists() {
        ""
    } else {
        ", which does not exist (a dangling link)"
    };
    Some(format!(
        "`{shown}` is a symbolic link{to}{dangling}; keygen never writes a key through a link or \
         replaces one: choose another --output, or remove the link"
    ))
}

/// The key files of `-o PREFIX`: `PREFIX.key` and `PREFIX.pub`, the prefix kept whole
/// (`acme.prod` gives `acme.prod.key`). A prefix that is a folder is refused.
fn key_paths(prefix: &Path) -> Result<(PathBuf, PathBuf), String> {
    if ends_with_separator(prefix) || prefix.is_dir() {
        let example = prefix.join("NAME");
        return Err(format!(
            "`{}` names a folder, but --output is the prefix of the key files: give e.g. `-o {}` \
             (writes {}.key and {}.pub)",
            prefix.display(),
            example.display(),
            example.display(),
            example.display()
        ));
    }
    // `-o acme.key` would write acme.key.key: the user gave a file, not the prefix.
    if let Some(stem) = ["key", "pub"]
        .iter()
        .find(|e| prefix.extension().is_some_and(|x| x == **e))
        .and(prefix.file_stem())
    {
        let example = prefix.with_file_name(stem);
        return Err(format!(
            "`{}` looks like one of the key files, but --output is their prefix: give `-o {}` \
             (writes {}.key and {}.pub)",
            prefix.display(),
            example.display(),
            example.display(),
            example.display()
        ));
    }
    let with = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    Ok((with(".key"), with(".pub")))
}

/// Creates `path` (never replacing a file) and writes `text`; a secret is readable by its owner
/// only.
fn write_new(path: &std::path::Path, text: &str, secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    options.open(path)?.write_all(text.as_bytes())
}
