//! From `.xop` paths or a `.xopm` file to a program the runtime can run: shared by `build`,
//! `eval` and `test`.

use std::path::{Path, PathBuf};

use xop_compiler::db::{STDLIB, Workspace};
use xop_compiler::render;
use xop_runtime::ir::Program;
use xop_runtime::module::Module;

use crate::{Color, FAILURE, PROBLEMS, error, files};

/// A program ready to run, with what identifies its sources.
pub struct Compiled {
    /// The program.
    pub module: Module,
    /// The workspace the sources were compiled in (`None` for a compiled module): what the
    /// program keeps nothing of, such as `test` blocks without an `expect`, is read from it.
    pub workspace: Option<Workspace>,
}

/// Compiles `.xop` files and folders. On errors, prints the diagnostics to standard error and
/// returns the exit status.
pub fn from_sources(paths: &[PathBuf], color: Color) -> Result<Compiled, u8> {
    let mut sources = match files::load(paths) {
        Ok(s) => s,
        Err(messages) => {
            messages.iter().for_each(|m| error(m));
            return Err(FAILURE);
        }
    };
    for s in &mut sources {
        if STDLIB.iter().any(|(path, _)| *path == s.display) {
            s.display = format!("./{}", s.display);
        }
    }
    // In the order `hash_sources` reads them, whatever order the paths were given in: the
    // program is lowered file by file (kept tests, declarations), and a module's bytes, its
    // identity in the proof log, must not depend on the command line's order.
    sources.sort_by(|a, b| a.display.cmp(&b.display));
    let mut ws = Workspace::new();
    for s in &sources {
        ws.set_file(&s.display, s.text.as_str());
    }
    let diags: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    if !diags.is_empty() {
        let source = |p: &str| ws.source(p).map(|t| t.to_string());
        crate::err(&render::human(&diags, &source, color.stderr()));
        error(&format!(
            "{} error{} in the sources: nothing was compiled (run `xop check` for details)",
            diags.len(),
            if diags.len() == 1 { "" } else { "s" }
        ));
        return Err(PROBLEMS);
    }
    let program = match xop_compiler::lower::lower(ws.db(), ws.project()) {
        Ok(p) => p,
        Err(messages) => {
            for m in messages {
                error(&format!("cannot compile: {m}"));
            }
            return Err(FAILURE);
        }
    };
    let source_hash = xop_runtime::module::hash_sources(
        sources
            .iter()
            .map(|s| (s.display.as_str(), s.text.as_bytes())),
    );
    let module = Module {
        program,
        source_hash,
        sources: sources.iter().map(|s| s.display.clone()).collect(),
    };
    Ok(Compiled {
        module,
        workspace: Some(ws),
    })
}

/// The compiled module file, when `paths` are one: a single `.xopm` file, or any single file
/// that starts as a module does (what [`load`] loads as a module).
pub fn module_path(paths: &[PathBuf]) -> Option<&Path> {
    match paths {
        [single] if single.extension().is_some_and(|e| e == "xopm") || files::is_module(single) => {
            Some(single)
        }
        _ => None,
    }
}

/// Loads a compiled module, verifying it (and its signature, when `trust` names a public key
/// file), or compiles sources when `paths` are `.xop` files or folders.
pub fn load(paths: &[PathBuf], trust: Option<&Path>, color: Color) -> Result<Compiled, u8> {
    if let Some(single) = module_path(paths) {
        let bytes = std::fs::read(single).map_err(|e| {
            error(&files::cannot_read(
                &single.display().to_string(),
                &files::reason(&e),
            ));
            FAILURE
        })?;
        let key = match trust {
            Some(path) => Some(read_public_key(path)?),
            None => None,
        };
        return match Module::from_bytes(&bytes, key.as_ref()) {
            Ok(module) => Ok(Compiled {
                module,
                workspace: None,
            }),
            Err(e) => {
                error(&format!("refusing module `{}`: {e}", single.display()));
                Err(FAILURE)
            }
        };
    }
    if trust.is_some() {
        error("--trust applies to a compiled module (.xopm); sources are compiled on the spot");
        return Err(FAILURE);
    }
    from_sources(paths, color)
}

/// Reads a public key file written by `xop keygen` ([`xop_runtime::module::read_verifying_key`],
/// as `serve` and `mcp-gateway` read theirs); on failure, prints why and returns the exit status.
pub fn read_public_key(path: &Path) -> Result<ed25519_dalek::VerifyingKey, u8> {
    xop_runtime::module::read_verifying_key(path).map_err(|m| {
        error(&m);
        FAILURE
    })
}

/// The program of a compiled module.
impl Compiled {
    /// The program.
    pub fn program(&self) -> &Program {
        &self.module.program
    }
}
