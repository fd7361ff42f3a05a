//! The XOP language server, `xop lsp`: diagnostics as you type, hover, navigation,
//! completion, formatting, rename, quick fixes, semantic tokens and folding, over the
//! compiler's own salsa database (`xop_compiler::db`), so that the editor and `xop check`
//! agree by construction.
//!
//! One module per concept: [`transport`] frames the messages on standard input and output and
//! answers malformed ones, [`server`] speaks the protocol, [`convert`] holds every conversion
//! to and from the protocol's types, [`state`] owns the database; the features ([`hover`],
//! [`navigation`] with [`params`], [`completion`], [`symbols`], [`formatting`], [`actions`],
//! [`semantic`], [`folding`], [`diagnostics`]) are plain functions over a [`state::Snapshot`]
//! that return plain values, and are tested as such.

pub mod actions;
pub mod completion;
pub mod convert;
pub mod diagnostics;
pub mod folding;
pub mod formatting;
pub mod hover;
pub mod lines;
pub mod navigation;
pub mod params;
pub mod semantic;
pub mod server;
pub mod state;
pub mod stdlib;
pub mod symbols;
pub mod transport;

#[cfg(test)]
mod testing;

/// Serves the protocol on standard input and output until the client exits or closes its
/// input. Returns whether the client sent `shutdown` before the session ended, or an error
/// message if the runtime or a thread cannot start.
///
/// LSP 3.17 asks a server to exit with status 1 when the session ends without `shutdown` (an
/// `exit` sent without one, or the input closed) and 0 after it: the caller decides the status
/// from the answer.
pub fn run_stdio() -> Result<bool, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_io()
        .build()
        .map_err(|e| format!("cannot start the language server's runtime: {e}"))?;
    let served = transport::serve(&runtime, std::io::stdin(), std::io::stdout());
    // Diagnostics still being computed are not waited for: the process ends.
    runtime.shutdown_background();
    Ok(served?.shut_down)
}
