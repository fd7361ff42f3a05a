//! Finding and reading the `.xop` files named on the command line, shared by every verb.
//!
//! A path that names a file is taken as is, whatever its extension. A path that names a folder
//! is searched recursively for `*.xop` files, in file-name order, skipping hidden entries (whose
//! name starts with `.`) and folders named `target`; symbolic links to folders are not followed.
//! A file reached twice (named twice, or named and found in a folder) is read once.
//!
//! Paths are shown as the user wrote them: `xop check src` reports `src/a.xop`, and the default
//! `.` reports `a.xop` rather than `./a.xop`.

use std::collections::HashSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use walkdir::WalkDir;

/// A source file read from disk.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// Where to read and write it.
    pub path: PathBuf,
    /// How to name it in messages and diagnostics.
    pub display: String,
    /// Its whole text.
    pub text: String,
}

/// Finds and reads every `.xop` file under `paths`.
///
/// On failure, returns one message per problem (without the `error: ` prefix): a path that does
/// not exist, a folder or file that cannot be read, a file that is not UTF-8, or no `.xop` file
/// found at all.
pub fn load(paths: &[PathBuf]) -> Result<Vec<SourceText>, Vec<String>> {
    let mut errors = Vec::new();
    let mut found: Vec<(PathBuf, String)> = Vec::new();
    for root in paths {
        discover(root, &mut found, &mut errors);
    }
    let mut seen = HashSet::new();
    let mut files = Vec::new();
    for (path, display) in found {
        let key = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        match read_named(&path, &display) {
            Ok(text) => files.push(SourceText {
                path,
                display,
                text,
            }),
            Err(message) => errors.push(message),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if files.is_empty() {
        let roots: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
        return Err(vec![format!(
            "no `.xop` files found in {}",
            roots.join(", ")
        )]);
    }
    Ok(files)
}

/// The files [`load`] would read from `paths`, without reading them (what cannot be found or
/// read is left out: [`load`] reports it).
pub fn find(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for root in paths {
        discover(root, &mut found, &mut errors);
    }
    found.into_iter().map(|(path, _)| path).collect()
}

/// The message for a file or folder that cannot be read.
pub fn cannot_read(display: &str, reason: &str) -> String {
    format!("cannot read `{display}`: {reason}")
}

/// Reads a file as UTF-8 text; the error names the file and says what went wrong.
pub fn read_text(path: &Path) -> Result<String, String> {
    read_named(path, &path.display().to_string())
}

/// [`read_text`], naming the file `display` in the error.
fn read_named(path: &Path, display: &str) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| cannot_read(display, &reason(&e)))?;
    if bytes.starts_with(xop_runtime::module::MAGIC) {
        return Err(format!(
            "`{display}` is a compiled module, not a source file: give it alone, as the only path \
             (`xop eval {display} --policy NAME --input FILE`, `xop test {display}`)"
        ));
    }
    utf8(bytes).map_err(|why| cannot_read(display, &why))
}

/// Whether `path` is a file that starts as a compiled module does (whatever its name).
pub fn is_module(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == xop_runtime::module::MAGIC
}

/// Reads UTF-8 text from `path`, or from standard input when `path` is `-`; the error names
/// the file and says what went wrong.
pub fn read_text_or_stdin(path: &Path) -> Result<String, String> {
    if path.as_os_str() != "-" {
        return read_text(path);
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
        .map_err(|e| format!("cannot read standard input: {}", reason(&e)))?;
    utf8(bytes).map_err(|why| format!("cannot read standard input: {why}"))
}

/// Decodes UTF-8 text; the error says where the first invalid byte is.
pub fn utf8(bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let (line, column) = xop_runtime::bind::line_column(bytes, at);
        format!(
            "not valid UTF-8 (byte 0x{:02x} at line {line}, column {column}); save it as UTF-8",
            bytes[at]
        )
    })
}

pub use xop_runtime::io::reason;

/// Adds the files named by `root` (a file, or a folder to search) to `found`.
fn discover(root: &Path, found: &mut Vec<(PathBuf, String)>, errors: &mut Vec<String>) {
    let shown = root.display().to_string();
    let meta = match fs::metadata(root) {
        Ok(meta) => meta,
        Err(e) => {
            errors.push(cannot_read(&shown, &reason(&e)));
            return;
        }
    };
    if meta.is_file() {
        found.push((root.to_path_buf(), shown));
        return;
    }
    if !meta.is_dir() {
        errors.push(cannot_read(&shown, "not a file or a folder"));
        return;
    }
    let walker = WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !skipped(e));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = e.path().unwrap_or(root);
                let why = match e.io_error() {
                    Some(io) => reason(io),
                    None => e.to_string(),
                };
                errors.push(cannot_read(&display_under(root, path), &why));
                continue;
            }
        };
        if entry.depth() == 0 {
            continue;
        }
        let path = entry.path();
        let is_file =
            entry.file_type().is_file() || (entry.file_type().is_symlink() && path.is_file());
        if is_file && path.extension().is_some_and(|ext| ext == "xop") {
            found.push((strip_dot(root, path), display_under(root, path)));
        }
    }
}

/// Whether the walk skips this entry: hidden files and folders, and `target` folders.
fn skipped(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    name.starts_with('.') || (entry.file_type().is_dir() && name == "target")
}

/// A found path without the `./` that walking from `.` puts in front.
fn strip_dot(root: &Path, path: &Path) -> PathBuf {
    let mut components = root.components();
    if components.next() == Some(Component::CurDir)
        && components.next().is_none()
        && let Ok(rest) = path.strip_prefix(".")
    {
        return rest.to_path_buf();
    }
    path.to_path_buf()
}

fn display_under(root: &Path, path: &Path) -> String {
    strip_dot(root, path).display().to_string()
}
