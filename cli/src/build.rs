//! `xop build` (sources → signed, content-addressed `.xopm` module) and `xop keygen`.

use std::path::PathBuf;

use clap::Args;

use crate::{Color, FAILURE, SUCCESS, compile, error, files, out};

/// Long help of `xop build`.
pub const BUILD_LONG_ABOUT: &str = "\
Compile .xop sources into a module (.xopm) that runtimes load.

The sources must check without errors. The module holds the IR, the input layout, the rule and
reason tables with source locations for explanations, the SHA-256 of the sources and of its own
content; with --sign it is signed with an Ed25519 key made by `xop keygen`, and loaders given
the public key (`--trust`) refuse it if any byte changed.";

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
    let compiled = match compile::from_sources(&args.paths, color) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let key = match &args.sign {
        None => None,
        Some(path) => {
            let text = match files::read_text(path) {
                Ok(t) => t,
                Err(m) => {
                    error(&m);
                    return FAILURE;
                }
            };
            match xop_runtime::module::parse_signing_key(&text) {
                Ok(k) => Some(k),
                Err(e) => {
                    error(&format!("`{}` is not a secret key: {e}", path.display()));
                    return FAILURE;
                }
            }
        }
    };
    let bytes = compiled.module.to_bytes(key.as_ref());
    if let Err(e) = std::fs::write(&args.output, &bytes) {
        error(&format!(
            "cannot write `{}`: {}",
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

/// Long help of `xop keygen`.
pub const KEYGEN_LONG_ABOUT: &str = "\
Make an Ed25519 key pair for signing modules: PREFIX.key (secret: keep it out of version
control) and PREFIX.pub (give it to runtimes as --trust). Existing files are never overwritten.";

/// Arguments of `xop keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write PREFIX.key and PREFIX.pub
    #[arg(short, long, value_name = "PREFIX", default_value = "xop-signing")]
    pub output: PathBuf,
}

/// Runs `xop keygen`.
pub fn keygen(args: &KeygenArgs) -> u8 {
    let secret_path = args.output.with_extension("key");
    let public_path = args.output.with_extension("pub");
    for p in [&secret_path, &public_path] {
        if p.exists() {
            error(&format!(
                "`{}` exists; choose another --output",
                p.display()
            ));
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
            error(&format!(
                "cannot write `{}`: {}",
                path.display(),
                files::reason(&e)
            ));
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
