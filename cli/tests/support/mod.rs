//! What every test of the `xop` binary needs: a temporary folder, and ways to read a process's
//! output.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty folder whose name says which test made it.
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("xop-test-{}-{name}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Writes `text` to `rel` inside the folder (making its parents); returns its path.
    pub fn write(&self, rel: &str, text: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, text).unwrap();
        path
    }

    /// The text of `rel` inside the folder.
    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.0.join(rel)).unwrap()
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Standard output then standard error, as text.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A path as `&str`, for a command line.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the `xop` binary with `args`: no colour, and no `XOP_TOKEN` from the environment (a
/// test that needs one sets it).
pub fn xop(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("XOP_TOKEN")
        .output()
        .unwrap()
}

/// [`xop`] run in `dir` (paths in `args` relative to it).
pub fn xop_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xop"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("XOP_TOKEN")
        .output()
        .unwrap()
}
