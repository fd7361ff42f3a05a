//! What the tests of `xop serve` share: a temporary folder, and the test module
//! (`tests/pay/pay.xop`) compiled.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use xop_compiler::db::Workspace;
use xop_runtime::module::{Module, hash_sources, parse_signing_key};

/// A temporary folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty folder whose name says which test made it.
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xop-serve-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test module, compiled (signed by `key`); `tweak` replaces its rule `allow "ok"` first
/// (for a second version): `"allow \"ok\""` gives the module as written.
pub fn module_bytes(tweak: &str, key: Option<&str>) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pay/pay.xop");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("allow \"ok\"", tweak);
    source_bytes(&text, key)
}

/// `text`, one source file `pay.xop`, compiled into a module (signed by `key`).
pub fn source_bytes(text: &str, key: Option<&str>) -> Vec<u8> {
    compiled("pay.xop", text, key)
}

/// `text`, the one source file `name`, compiled into a module (signed by `key`); the test
/// fails if the source has an error.
pub fn compiled(name: &str, text: &str, key: Option<&str>) -> Vec<u8> {
    let mut ws = Workspace::new();
    ws.set_file(name, text);
    let errors: Vec<_> = ws
        .diagnostics()
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let program = xop_compiler::lower::lower(ws.db(), ws.project()).unwrap();
    let module = Module {
        program,
        source_hash: hash_sources([(name, text.as_bytes())]),
        sources: vec![name.into()],
    };
    let key = key.map(|k| parse_signing_key(k).unwrap());
    module.to_bytes(key.as_ref())
}
