//! Where the standard library's sources live for the editor.
//!
//! The stdlib is embedded in the compiler, so "go to definition" into it needs a file the
//! editor can open. The server writes each stdlib file once to a cache folder,
//! `$XOP_CACHE_DIR`, else `$XDG_CACHE_HOME/xop`, else `~/.cache/xop`, under
//! `stdlib-VERSION/` (e.g. `~/.cache/xop/stdlib-0.1.0/std/consent.xop`), and hands out
//! `file://` URIs into it: every editor opens those without a plug-in. The files are rewritten
//! when their content differs (a newer build of the same version), through a temporary file and
//! a rename so that two servers never see half a file. When no cache folder can be written,
//! the URIs use the `xop-stdlib:` scheme instead (`xop-stdlib:///std/consent.xop`), which the
//! server itself still understands.

use std::path::{Path, PathBuf};

use xop_compiler::db::STDLIB;

/// The URI scheme used for stdlib files when no cache folder can be written.
pub const SCHEME: &str = "xop-stdlib";

/// Where the stdlib files are for the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdlibLocation {
    /// Written under this folder (`<dir>/std/consent.xop`).
    Dir(PathBuf),
    /// Not written: `xop-stdlib:///std/consent.xop`.
    Scheme,
}

impl StdlibLocation {
    /// Writes the stdlib under the cache folder and says where it is.
    pub fn install() -> StdlibLocation {
        match cache_root() {
            Some(root) => Self::install_in(&root),
            None => StdlibLocation::Scheme,
        }
    }

    /// Writes the stdlib under `root/stdlib-VERSION` (tests use their own root).
    pub fn install_in(root: &Path) -> StdlibLocation {
        let dir = root.join(format!("stdlib-{}", env!("CARGO_PKG_VERSION")));
        for (path, text) in STDLIB {
            if write_if_changed(&dir.join(path), text).is_err() {
                return StdlibLocation::Scheme;
            }
        }
        StdlibLocation::Dir(dir)
    }

    /// The editor-facing location of stdlib file `path` (`std/consent.xop`): a filesystem
    /// path, or `None` for the custom scheme.
    pub fn file_path(&self, path: &str) -> Option<PathBuf> {
        match self {
            StdlibLocation::Dir(dir) => Some(dir.join(path)),
            StdlibLocation::Scheme => None,
        }
    }

    /// The stdlib path (`std/consent.xop`) of a filesystem path inside the stdlib folder.
    pub fn stdlib_path(&self, fs_path: &Path) -> Option<String> {
        let StdlibLocation::Dir(dir) = self else {
            return None;
        };
        let rel = fs_path.strip_prefix(dir).ok()?;
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        STDLIB.iter().any(|(p, _)| *p == rel).then_some(rel)
    }
}

fn cache_root() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("XOP_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("xop"));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".cache").join("xop"))
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_every_file_and_maps_back() {
        let root = std::env::temp_dir().join(format!("xop-lsp-stdlib-{}", std::process::id()));
        let loc = StdlibLocation::install_in(&root);
        let StdlibLocation::Dir(dir) = &loc else {
            panic!("the temp folder is writable: {loc:?}");
        };
        for (path, text) in STDLIB {
            let fs = loc.file_path(path).expect("a path");
            assert_eq!(std::fs::read_to_string(&fs).expect("written"), *text);
            assert_eq!(loc.stdlib_path(&fs).as_deref(), Some(*path));
        }
        assert_eq!(loc.stdlib_path(&dir.join("nope.xop")), None);
        // A second install over the same folder leaves it as it is.
        assert_eq!(StdlibLocation::install_in(&root), loc);
        let _ = std::fs::remove_dir_all(&root);
    }
}
