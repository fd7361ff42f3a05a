//! Finding and reading the `.xop` files named on the command line, shared by every verb.
//!
//! A path that names a file is taken as is, whatever its extension. A path that names a folder
//! is searched recursively for `*.xop` files, in file-name order, skipping hidden entries (whose
//! name starts with `.`) and folders named `target` or `node_modules`, as the language server
//! does; symbolic links to folders are not followed.
//! A file reached twice (named twice, or named and found in a folder) is read once.
//!
//! Paths are shown as the user wrote them: `xop check src` reports `src/a.xop`, and the default
//! `.` reports `a.xop` rather than `./a.xop`. The compiler knows each file by that name, so a
//! source whose path is not valid UTF-8 is refused: shown, its invalid bytes all become `�`,
//! and two such files could take one name (the second replacing the first).
//!
//! Files are written by [`write_atomically`]: whole, or not at all.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
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
    let (files, errors) = load_each(paths);
    if !errors.is_empty() {
        return Err(errors);
    }
    if files.is_empty() {
        return Err(vec![none_found(paths)]);
    }
    Ok(files)
}

/// The message for `paths` holding no `.xop` file.
pub fn none_found(paths: &[PathBuf]) -> String {
    let roots: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
    format!("no `.xop` files found in {}", roots.join(", "))
}

/// [`load`], but every file that can be read is returned, beside the problems with the others
/// (for `xop fmt`, which formats each file alone: one file it cannot read stops nothing else).
/// Finding no file at all is not one of the problems: both are empty then.
pub fn load_each(paths: &[PathBuf]) -> (Vec<SourceText>, Vec<String>) {
    let mut errors = Vec::new();
    let mut found: Vec<(PathBuf, String)> = Vec::new();
    for root in paths {
        discover(root, &mut found, &mut errors);
    }
    let mut seen = HashSet::new();
    // The compiler keys files by their shown name: two files must never share one.
    let mut names: HashMap<String, PathBuf> = HashMap::new();
    let mut files = Vec::new();
    for (path, display) in found {
        let key = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        if let Some(first) = names.insert(display.clone(), path.clone()) {
            errors.push(format!(
                "`{}` and `{}` are both named `{display}`: rename one of them",
                first.to_string_lossy(),
                path.to_string_lossy()
            ));
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
    (files, errors)
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
    let display = path.display().to_string();
    let bytes = fs::read(path).map_err(|e| cannot_read(&display, &reason(&e)))?;
    utf8(bytes).map_err(|why| cannot_read(&display, &why))
}

/// Reads the source file `path`, naming it `display` in the error. A compiled module or one of
/// XOP's key files is refused as what it is: a module would be read as text that is not UTF-8,
/// and a key as a syntax error whose snippet shows the key (a secret key given by mistake,
/// `xop build src release.key` for `--sign release.key`, would be printed to a CI log).
fn read_named(path: &Path, display: &str) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| cannot_read(display, &reason(&e)))?;
    if bytes.starts_with(xop_runtime::module::MAGIC) {
        return Err(format!(
            "`{display}` is a compiled module, not a source file: give it alone, as the only path \
             (`xop eval {display} --policy NAME --input FILE`, `xop test {display}`)"
        ));
    }
    if let Some(kind) = xop_runtime::module::key_kind(&bytes) {
        let (option, use_) = if kind == "secret" {
            ("--sign", "to sign the module `xop build` writes")
        } else {
            ("--trust", "to check a module's signature")
        };
        return Err(format!(
            "`{display}` is an XOP {kind} key, not a source file: none of it is shown or read as \
             a source (did you mean `{option} {display}`, {use_}?)"
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

/// The message for a source whose path is not valid UTF-8, naming it with each invalid byte
/// written `\xFF` (so that two such names are told apart, and can be typed to rename them).
fn not_utf8_name(path: &Path) -> String {
    let mut shown = String::new();
    for chunk in path.as_os_str().as_encoded_bytes().utf8_chunks() {
        shown.push_str(chunk.valid());
        for byte in chunk.invalid() {
            shown.push_str(&format!("\\x{byte:02X}"));
        }
    }
    format!(
        "the path `{shown}` is not valid UTF-8 (each `\\xNN` shows a byte that is not): rename \
         it; sources are named by their paths, as text, in diagnostics and modules"
    )
}

/// Adds the files named by `root` (a file, or a folder to search) to `found`.
fn discover(root: &Path, found: &mut Vec<(PathBuf, String)>, errors: &mut Vec<String>) {
    if root.to_str().is_none() {
        errors.push(not_utf8_name(root));
        return;
    }
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
            if path.to_str().is_none() {
                errors.push(not_utf8_name(&strip_dot(root, path)));
                continue;
            }
            found.push((strip_dot(root, path), display_under(root, path)));
        }
    }
}

/// Whether the walk skips this entry ([`xop_compiler::db::skipped_in_walk`]): hidden files
/// and folders, `target` and `node_modules` folders.
fn skipped(entry: &walkdir::DirEntry) -> bool {
    let name = entry.file_name().to_string_lossy();
    xop_compiler::db::skipped_in_walk(&name, entry.file_type().is_dir())
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

/// Writes `bytes` to `path` so that it is either left as it was or holds all of them: into a
/// new file in the same folder, then renamed over it, so that a failed write (a full disk)
/// never leaves it truncated. A file replaced keeps its permissions, owner and group; through a
/// link, the file linked to is replaced. A character device (`/dev/null`) is written to as it
/// is; any other special file (a named pipe, a socket), or a folder, is refused: writing a pipe
/// would wait for a reader, and nothing can be renamed over it.
///
/// An existing file the rename would change otherwise than its text is refused and left as it
/// is ([`replaceable`]): one that is read-only or that the user may not write (the rename
/// needs only the folder's permission, and would replace it anyway), one with several hard
/// links (the rename would split them), one whose owner or group the new file cannot be
/// given (it would change hands), and one whose extended attributes (its access control list,
/// ACL, among them) cannot be read or given to the new file (it would lose them, or be opened
/// to more users than its ACL allows).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomically_with(path, bytes, None, &Chown::System)
}

/// [`write_atomically`] for a file that was read as `read` and is rewritten as `bytes`: if it
/// no longer holds exactly `read` when it is about to be replaced (an editor saved it since, or
/// it was removed), it is left as it is and the error is [`ChangedSinceRead`] (see
/// [`changed_since_read`]), so that an edit is never overwritten by the text read before it.
/// It is compared last, just before the rename, to keep the moment in which an edit could
/// still be lost as short as possible.
pub fn rewrite_unchanged(path: &Path, read: &[u8], bytes: &[u8]) -> io::Result<()> {
    write_atomically_with(path, bytes, Some(read), &Chown::System)
}

/// The error of [`rewrite_unchanged`] for a file that no longer holds the text it was read
/// with.
#[derive(Debug)]
pub struct ChangedSinceRead;

impl std::fmt::Display for ChangedSinceRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("changed since it was read: not rewritten (run xop fmt again)")
    }
}

impl std::error::Error for ChangedSinceRead {}

/// Whether `e` is [`ChangedSinceRead`]: the file was left as it is because it changed.
pub fn changed_since_read(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<ChangedSinceRead>())
}

/// How [`write_atomically`] gives the new file the replaced one's owner, group and extended
/// attributes: the system calls, or (in tests) a stand-in that fails as they fail for a user
/// who is not root (root may do both).
enum Chown {
    /// `fchown(2)` and `fsetxattr(2)`.
    System,
    /// `fchown(2)` fails with this error, as it fails for another user's file.
    #[cfg(test)]
    Fail(io::ErrorKind),
    /// `fsetxattr(2)` fails with this error for every attribute, as it fails for an attribute
    /// only root may set (`trusted.*`).
    #[cfg(test)]
    FailXattr(io::ErrorKind),
}

/// [`write_atomically`], or [`rewrite_unchanged`] when `read` is given; `chown` stands in for
/// `fchown(2)` and `fsetxattr(2)` in tests.
fn write_atomically_with(
    path: &Path,
    bytes: &[u8],
    read: Option<&[u8]>,
    chown: &Chown,
) -> io::Result<()> {
    use std::io::Write;
    let existing = fs::metadata(path).ok();
    if let Some(meta) = &existing
        && !meta.is_file()
    {
        return match special(meta) {
            None => fs::write(path, bytes),
            Some(what) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("it is {what}, not a file"),
            )),
        };
    }
    if let Some(meta) = &existing {
        replaceable(path, meta)?;
    }
    let target = match existing {
        Some(_) => fs::canonicalize(path)?,
        None => new_file_target(path)?,
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let folder = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // A new file beside the target (removed if anything below fails), renamed over it.
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A new file gets what `fs::write` would give it (0666 less the umask), not a temporary
    // file's 0600; an existing one keeps its own, set below.
    #[cfg(unix)]
    if existing.is_none() {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o666));
    }
    let mut temp = builder.tempfile_in(folder)?;
    temp.write_all(bytes)?;
    if let Some(meta) = &existing {
        // The owner first: changing it may clear set-user-ID bits, which the mode set after
        // it restores.
        #[cfg(unix)]
        keep_owner(temp.as_file(), meta, chown)?;
        #[cfg(not(unix))]
        let _ = chown;
        keep_attributes(temp.as_file(), &target, meta, chown)?;
    }
    temp.as_file().sync_all()?;
    // Compared after the slow part (writing and syncing), right before the rename. A file
    // removed since it was read holds nothing: it is not brought back.
    if let Some(read) = read
        && !holds(&target, read)?
    {
        return Err(io::Error::other(ChangedSinceRead));
    }
    temp.persist(&target).map(drop).map_err(|e| e.error)
}

/// Whether the file at `path` holds exactly `bytes` (read in blocks, stopping at the first
/// difference).
fn holds(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    use std::io::Read as _;
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let mut rest = bytes;
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut block) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(rest.is_empty());
        }
        match rest.get(..n) {
            Some(expected) if expected == &block[..n] => rest = &rest[n..],
            _ => return Ok(false),
        }
    }
}

/// Gives `file` (the new file) the mode and the extended attributes of `old` (the file it
/// replaces, `meta` its metadata), and takes from it those it got from its folder that `old`
/// lacks (an ACL inherited from the folder's default ACL): after the rename, only the text
/// differs. The access control list (ACL) is the attribute `system.posix_acl_access`; it is set
/// after the mode, because setting the mode rewrites the ACL's mask (the group bits of a file
/// with an ACL are its mask: set from the mode alone, a group allowed to read could write).
/// `security.selinux` is left as the new file got it: like any new file, it is labelled for
/// its folder (and changing a label needs a privilege). If any attribute cannot be read or
/// set, the error names it and says what to do, and the file is not replaced.
fn keep_attributes(
    file: &fs::File,
    old: &Path,
    meta: &fs::Metadata,
    chown: &Chown,
) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        let wanted = xattr::of_path(old)?;
        for name in xattr::names_of_file(file)? {
            if !wanted.iter().any(|(n, _)| *n == name) {
                xattr::remove(file, &name)?;
            }
        }
        file.set_permissions(meta.permissions())?;
        // The ACL after every other: nothing after it changes the mode.
        let (acl, others): (Vec<_>, Vec<_>) =
            wanted.iter().partition(|(name, _)| name == xattr::ACL);
        for (name, value) in others.into_iter().chain(acl) {
            #[cfg(test)]
            if let Chown::FailXattr(kind) = chown {
                return Err(xattr::not_kept(name, &io::Error::from(*kind)));
            }
            xattr::set(file, name, value)?;
        }
        let _ = chown;
        Ok(())
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (old, chown);
        file.set_permissions(meta.permissions())
    }
}

/// Reading and setting extended attributes, for [`keep_attributes`].
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
mod xattr {
    use std::fs;
    use std::io;
    use std::path::Path;

    use rustix::io::Errno;

    use super::reason;

    /// The attribute that holds a file's access control list.
    pub const ACL: &[u8] = b"system.posix_acl_access";

    /// The attribute a new file gets from its folder rather than from the file it replaces:
    /// its SELinux label, as any new file made there gets it.
    const FROM_FOLDER: &[u8] = b"security.selinux";

    /// The largest list or value read (Linux allows 64 KiB); a larger one is refused.
    const MAX: usize = 1 << 20;

    /// `name`, as a message shows it: the ACL by what it is, another attribute by its name.
    fn shown(name: &[u8]) -> String {
        if name == ACL {
            format!(
                "access control list (ACL, `{}`)",
                String::from_utf8_lossy(ACL)
            )
        } else {
            format!(
                "extended attribute `{}`",
                xop_compiler::format::escape_invisible(&String::from_utf8_lossy(name))
            )
        }
    }

    /// How to drop `name` from the file, for a message.
    fn how_to_remove(name: &[u8]) -> String {
        if name == ACL {
            "`setfacl -b FILE`".to_string()
        } else {
            format!(
                "`setfattr -x {} FILE`",
                xop_compiler::format::escape_invisible(&String::from_utf8_lossy(name))
            )
        }
    }

    /// Calls `read` with a buffer large enough for what it reads (a list or a value may grow
    /// between two calls: `ERANGE` asks for a larger one).
    fn sized(mut read: impl FnMut(&mut [u8]) -> rustix::io::Result<usize>) -> io::Result<Vec<u8>> {
        let mut size = 4096;
        loop {
            let mut buf = vec![0u8; size];
            match read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    return Ok(buf);
                }
                Err(Errno::RANGE) if size < MAX => size *= 4,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The names in a NUL-separated list, without [`FROM_FOLDER`].
    fn names(list: &[u8]) -> Vec<Vec<u8>> {
        list.split(|&b| b == 0)
            .filter(|name| !name.is_empty() && *name != FROM_FOLDER)
            .map(<[u8]>::to_vec)
            .collect()
    }

    /// Whether `e` says the file system keeps no extended attributes: a file there has none.
    fn unsupported(e: &io::Error) -> bool {
        e.raw_os_error() == Some(Errno::NOTSUP.raw_os_error())
            || e.raw_os_error() == Some(Errno::OPNOTSUPP.raw_os_error())
    }

    /// The refusal of a file whose attributes cannot be read.
    fn unreadable(what: &str, e: &io::Error) -> io::Error {
        io::Error::other(format!(
            "its {what} could not be read ({}): a new file renamed over it might lose them; \
             run as a user who may read them (`getfattr -d -m - FILE` lists them)",
            reason(e)
        ))
    }

    /// Every extended attribute of the file at `path` (but [`FROM_FOLDER`]), name and value.
    pub fn of_path(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let list = match sized(|buf| rustix::fs::listxattr(path, buf)) {
            Ok(list) => list,
            Err(e) if unsupported(&e) => return Ok(Vec::new()),
            Err(e) => return Err(unreadable("extended attributes", &e)),
        };
        let mut attributes = Vec::new();
        for name in names(&list) {
            let value = sized(|buf| rustix::fs::getxattr(path, name.as_slice(), buf))
                .map_err(|e| unreadable(&shown(&name), &e))?;
            attributes.push((name, value));
        }
        Ok(attributes)
    }

    /// The names of the extended attributes of the open `file` (but [`FROM_FOLDER`]).
    pub fn names_of_file(file: &fs::File) -> io::Result<Vec<Vec<u8>>> {
        match sized(|buf| rustix::fs::flistxattr(file, buf)) {
            Ok(list) => Ok(names(&list)),
            Err(e) if unsupported(&e) => Ok(Vec::new()),
            Err(e) => Err(io::Error::other(format!(
                "the extended attributes of the new file could not be read ({}); run again",
                reason(&e)
            ))),
        }
    }

    /// Removes `name` from the new `file`, which got it from its folder.
    pub fn remove(file: &fs::File, name: &[u8]) -> io::Result<()> {
        rustix::fs::fremovexattr(file, name).map_err(|e| {
            io::Error::other(format!(
                "the new file got an {} from its folder that the file does not have, and it \
                 could not be removed ({}): rewriting would change who may use the file; \
                 run as its owner",
                shown(name),
                reason(&e.into())
            ))
        })
    }

    /// Sets `name` to `value` on the new `file`.
    pub fn set(file: &fs::File, name: &[u8], value: &[u8]) -> io::Result<()> {
        rustix::fs::fsetxattr(file, name, value, rustix::fs::XattrFlags::empty())
            .map_err(|e| not_kept(name, &e.into()))
    }

    /// The refusal of a file whose attribute `name` could not be given to the new file.
    pub fn not_kept(name: &[u8], e: &io::Error) -> io::Error {
        io::Error::other(format!(
            "its {} could not be kept ({}): a new file renamed over it would lose it; run as a \
             user who may set it, or remove it first if it is not needed ({})",
            shown(name),
            reason(e),
            how_to_remove(name)
        ))
    }
}

/// Where a new file written at `path`, which is no file yet, is renamed to: `path` itself, or,
/// when `path` is a symbolic link that leads to nothing (dangling), the path its links end at,
/// as writing through the link would create it (renaming over the link itself would replace
/// it with a plain file). Links that loop, and a link whose end's folder does not exist, are
/// refused.
fn new_file_target(path: &Path) -> io::Result<PathBuf> {
    // Linux follows at most 40 links in one path; a longer chain is as good as a loop.
    const MAX_LINKS: usize = 40;
    let mut chain = vec![path.to_path_buf()];
    loop {
        let Some(current) = chain.last() else {
            return Ok(path.to_path_buf());
        };
        match fs::symlink_metadata(current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let to = fs::read_link(current)?;
                let next = match current.parent() {
                    Some(folder) => folder.join(to),
                    None => to,
                };
                let looped = chain.contains(&next);
                chain.push(next);
                if looped || chain.len() > MAX_LINKS {
                    let how = if looped {
                        shown_chain(&chain)
                    } else {
                        format!("more than {MAX_LINKS} links in a row")
                    };
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "it is a symbolic link that loops ({how}): nothing can be written \
                             through it; remove the link, or point it at a file"
                        ),
                    ));
                }
            }
            // The end of the links exists after all (made since it was looked at): replacing
            // it unchecked could split its links or change its owner, so this write stops.
            Ok(_) if chain.len() > 1 => {
                return Err(io::Error::other(format!(
                    "the file it links to, `{}`, appeared while it was written: run again",
                    current.display()
                )));
            }
            // Not a link: a new file, made where it is named.
            Ok(_) => return Ok(current.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
        }
    }
    let end = chain.last().cloned().unwrap_or_else(|| path.to_path_buf());
    if chain.len() > 1 {
        let folder = match end.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !folder.is_dir() {
            // Not `NotFound`: its message would be shown as `no such file or directory`.
            return Err(io::Error::other(format!(
                "it is a symbolic link to `{}`, whose folder `{}` does not exist: create the \
                 folder, or point the link elsewhere",
                end.display(),
                folder.display()
            )));
        }
    }
    Ok(end)
}

/// `a → b → a`, for a message: a chain of links.
fn shown_chain(chain: &[PathBuf]) -> String {
    let names: Vec<String> = chain.iter().map(|p| format!("`{}`", p.display())).collect();
    names.join(" → ")
}

/// Refuses an existing file that renaming a new file over it would change otherwise than its
/// text: the error says why, and that it was left as it is.
fn replaceable(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let refuse = |why: String| Err(io::Error::other(why));
    if meta.permissions().readonly() {
        return refuse(format!(
            "it is read-only{}: make it writable first (`chmod u+w`) if it is meant to be \
             rewritten",
            mode(meta)
        ));
    }
    // Whether this user may write it, as any other program writing it would be asked (the
    // rename itself needs only the folder's permission). Opening it changes nothing.
    if let Err(e) = fs::OpenOptions::new().write(true).open(path) {
        return refuse(format!(
            "you may not write it: {}{}; its owner can make it writable",
            reason(&e),
            mode(meta)
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.nlink() > 1 {
            return refuse(format!(
                "it has {} hard links: a new file renamed over this name would split them (the \
                 other names would keep the old text); remove the other links first, or use a \
                 copy of the file, which has none",
                meta.nlink()
            ));
        }
    }
    Ok(())
}

/// ` (mode 0444)`, for a message: the file's permission bits.
fn mode(meta: &fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        format!(" (mode {:04o})", meta.permissions().mode() & 0o7777)
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        String::new()
    }
}

/// Gives `file` (the new file) the owner and group of `meta` (the file it replaces), or says
/// why it cannot: a file never silently changes hands.
#[cfg(unix)]
fn keep_owner(file: &fs::File, meta: &fs::Metadata, chown: &Chown) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let new = file.metadata()?;
    if new.uid() == meta.uid() && new.gid() == meta.gid() {
        return Ok(());
    }
    let result = match chown {
        #[cfg(test)]
        Chown::Fail(kind) => Err(io::Error::from(*kind)),
        _ => std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid())),
    };
    result.map_err(|e| {
        io::Error::other(format!(
            "its owner and group (uid {}, gid {}) could not be kept ({}): rewriting it would \
             give it to uid {}, gid {}; run as its owner",
            meta.uid(),
            meta.gid(),
            reason(&e),
            new.uid(),
            new.gid()
        ))
    })
}

/// What a path that is neither a file nor a character device is (`a named pipe (FIFO)`), for
/// a message; `None` for a character device, which is written to as it is.
pub fn special(meta: &fs::Metadata) -> Option<&'static str> {
    if meta.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() {
            return None;
        }
        if t.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
    }
    Some("a special file")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new empty folder for one test, removed at the end.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let path =
                std::env::temp_dir().join(format!("xop-files-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn writes_a_new_file_and_replaces_one_whole() {
        let dir = Scratch::new("replace");
        let path = dir.0.join("a.xop");
        write_atomically(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_atomically(&path, b"two, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two, longer");
        // Nothing is left beside it.
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);
    }

    #[cfg(unix)]
    /// A new file is as readable as one `fs::write` makes (a module others load), not a
    /// temporary file's owner-only 0600.
    #[cfg(unix)]
    #[test]
    fn a_new_file_gets_the_usual_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("new-mode");
        let usual = dir.0.join("usual");
        fs::write(&usual, b"x").unwrap();
        let path = dir.0.join("m.xopm");
        write_atomically(&path, b"module").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&usual));
    }

    #[test]
    fn keeps_permissions_and_replaces_the_file_linked_to() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("link");
        let real = dir.0.join("real.xop");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.0.join("link.xop");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"new");
        let mode = fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    /// Every entry of a folder.
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A read-only file is refused and left as it is, even for root (whom the system would let
    /// write it): its mode says it is not to be changed.
    #[cfg(unix)]
    #[test]
    fn a_read_only_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("read-only");
        let path = dir.0.join("ro.xop");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        let e = write_atomically(&path, b"new").unwrap_err();
        assert!(e.to_string().contains("it is read-only (mode 0444)"), "{e}");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o444
        );
        assert_eq!(entries(&dir.0), ["ro.xop"]);
    }

    /// A file with two hard links is refused: renaming over one name would leave the other
    /// with the old text.
    #[cfg(unix)]
    #[test]
    fn a_file_with_hard_links_is_refused() {
        let dir = Scratch::new("hard-links");
        let (one, two) = (dir.0.join("h.xop"), dir.0.join("h2.xop"));
        fs::write(&one, "old").unwrap();
        fs::hard_link(&one, &two).unwrap();
        let e = write_atomically(&one, b"new").unwrap_err();
        assert!(e.to_string().contains("it has 2 hard links"), "{e}");
        assert_eq!(fs::read(&one).unwrap(), b"old");
        assert_eq!(fs::read(&two).unwrap(), b"old");
        assert_eq!(entries(&dir.0), ["h.xop", "h2.xop"]);
        // Alone again, it is written.
        fs::remove_file(&two).unwrap();
        write_atomically(&one, b"new").unwrap();
        assert_eq!(fs::read(&one).unwrap(), b"new");
    }

    /// A file whose owner the new file cannot be given (`fchown` fails, as for a user who is
    /// not root) is refused and left as it is, and the new file removed. The file is made
    /// another user's first when the test runs as root, so that the owner differs.
    #[cfg(unix)]
    #[test]
    fn a_file_whose_owner_cannot_be_kept_is_refused() {
        use std::os::unix::fs::MetadataExt;
        let dir = Scratch::new("owner");
        let path = dir.0.join("theirs.xop");
        fs::write(&path, "old").unwrap();
        let mine = fs::metadata(&path).unwrap();
        // As root, hand it to another owner; otherwise the owner is already ours and only the
        // group can differ: skip.
        if std::os::unix::fs::chown(&path, Some(mine.uid() + 1), Some(mine.gid() + 1)).is_err() {
            eprintln!("skipped: cannot give a file to another owner here");
            return;
        }
        let e = write_atomically_with(
            &path,
            b"new",
            None,
            &Chown::Fail(io::ErrorKind::PermissionDenied),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(&format!(
                "its owner and group (uid {}, gid {}) could not be kept (permission denied)",
                mine.uid() + 1,
                mine.gid() + 1
            )),
            "{e}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::metadata(&path).unwrap().uid(), mine.uid() + 1);
        assert_eq!(entries(&dir.0), ["theirs.xop"]);
        // With the system call (root may give it away), the owner is kept.
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (mine.uid() + 1, mine.gid() + 1));
    }

    /// A file edited after it was read (an editor saved it while `xop fmt` was busy with
    /// others) is left with the edit, not replaced by the text read before it; one removed is
    /// not brought back; one unchanged is replaced.
    #[test]
    fn a_file_changed_since_it_was_read_is_left_as_it_is() {
        let dir = Scratch::new("changed");
        let path = dir.0.join("a.xop");
        fs::write(&path, "old\n// an edit\n").unwrap();
        let e = rewrite_unchanged(&path, b"old\n", b"new\n").unwrap_err();
        assert!(changed_since_read(&e), "{e}");
        assert_eq!(
            e.to_string(),
            "changed since it was read: not rewritten (run xop fmt again)"
        );
        assert_eq!(fs::read(&path).unwrap(), b"old\n// an edit\n");
        assert_eq!(entries(&dir.0), ["a.xop"]);
        // Cut short (a prefix of what was read) is a change too.
        fs::write(&path, "ol").unwrap();
        assert!(changed_since_read(
            &rewrite_unchanged(&path, b"old\n", b"new\n").unwrap_err()
        ));
        assert_eq!(fs::read(&path).unwrap(), b"ol");
        // Unchanged, it is replaced.
        rewrite_unchanged(&path, b"ol", b"new\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new\n");
        // Removed, it is not written again.
        fs::remove_file(&path).unwrap();
        assert!(changed_since_read(
            &rewrite_unchanged(&path, b"new\n", b"newer\n").unwrap_err()
        ));
        assert!(entries(&dir.0).is_empty());
        // A failure of another kind is not taken for a change.
        assert!(!changed_since_read(&io::Error::other("disk full")));
    }

    /// An access control list: the file's owner rw, user 1000 rw, the owning group r, mask rw,
    /// others r (as `setfacl -m u:1000:rw` leaves a 0644 file), in the kernel's format.
    #[cfg(target_os = "linux")]
    fn acl() -> Vec<u8> {
        let entry = |tag: u16, perm: u16, id: u32| {
            let mut e = tag.to_le_bytes().to_vec();
            e.extend(perm.to_le_bytes());
            e.extend(id.to_le_bytes());
            e
        };
        let mut acl = 2u32.to_le_bytes().to_vec();
        for e in [
            entry(0x01, 6, u32::MAX),
            entry(0x02, 6, 1000),
            entry(0x04, 4, u32::MAX),
            entry(0x10, 6, u32::MAX),
            entry(0x20, 4, u32::MAX),
        ] {
            acl.extend(e);
        }
        acl
    }

    /// The value of the attribute `name` of `path`, if it has one.
    #[cfg(target_os = "linux")]
    fn attribute(path: &Path, name: &str) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        let n = rustix::fs::getxattr(path, name, &mut buf[..]).ok()?;
        buf.truncate(n);
        Some(buf)
    }

    /// A rewritten file keeps its extended attributes and its access control list, and with
    /// them who may read and write it: without the ACL, its group bits (the ACL's mask, rw)
    /// would give the owning group, allowed to read only, the right to write.
    #[cfg(target_os = "linux")]
    #[test]
    fn extended_attributes_and_the_acl_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("xattr");
        let mut kept = 0;
        let path = dir.0.join("note.xop");
        fs::write(&path, "old").unwrap();
        let flags = rustix::fs::XattrFlags::empty();
        match rustix::fs::setxattr(&path, "user.note", b"keep me", flags) {
            Err(e) => eprintln!("skipped: this file system keeps no user attributes ({e})"),
            Ok(()) => {
                write_atomically(&path, b"new").unwrap();
                assert_eq!(fs::read(&path).unwrap(), b"new");
                assert_eq!(
                    attribute(&path, "user.note").as_deref(),
                    Some(&b"keep me"[..])
                );
                kept += 1;
            }
        }
        let path = dir.0.join("acl.xop");
        fs::write(&path, "old").unwrap();
        match rustix::fs::setxattr(&path, "system.posix_acl_access", &acl(), flags) {
            Err(e) => eprintln!("skipped: this file system keeps no ACLs ({e})"),
            Ok(()) => {
                let before = attribute(&path, "system.posix_acl_access").unwrap();
                let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
                let mode_before = mode(&path);
                write_atomically(&path, b"new").unwrap();
                assert_eq!(fs::read(&path).unwrap(), b"new");
                assert_eq!(attribute(&path, "system.posix_acl_access"), Some(before));
                assert_eq!(mode(&path), mode_before);
                kept += 1;
            }
        }
        // Here (`/tmp` on ext4) both run: a test that skipped everything would prove nothing.
        assert!(
            kept > 0,
            "neither user attributes nor ACLs could be set here"
        );
        assert_eq!(entries(&dir.0), ["acl.xop", "note.xop"]);
    }

    /// A file without an ACL, in a folder whose default ACL a new file inherits, is rewritten
    /// without one: it gets no more than it had.
    #[cfg(target_os = "linux")]
    #[test]
    fn an_acl_from_the_folder_is_not_added() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new("default-acl");
        let path = dir.0.join("plain.xop");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let flags = rustix::fs::XattrFlags::empty();
        if let Err(e) = rustix::fs::setxattr(&dir.0, "system.posix_acl_default", &acl(), flags) {
            eprintln!("skipped: this file system keeps no ACLs ({e})");
            return;
        }
        // A new file made there gets one.
        let other = dir.0.join("other");
        fs::write(&other, "x").unwrap();
        assert!(attribute(&other, "system.posix_acl_access").is_some());
        fs::remove_file(&other).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(attribute(&path, "system.posix_acl_access"), None);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o640
        );
    }

    /// A file whose attribute cannot be given to the new file is refused, naming the attribute
    /// and how to go on, and left as it is, the new file removed.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_whose_attribute_cannot_be_kept_is_refused() {
        let dir = Scratch::new("xattr-refused");
        let path = dir.0.join("note.xop");
        fs::write(&path, "old").unwrap();
        let flags = rustix::fs::XattrFlags::empty();
        if let Err(e) = rustix::fs::setxattr(&path, "user.note", b"keep me", flags) {
            eprintln!("skipped: this file system keeps no user attributes ({e})");
            return;
        }
        let denied = Chown::FailXattr(io::ErrorKind::PermissionDenied);
        let e = write_atomically_with(&path, b"new", None, &denied).unwrap_err();
        assert_eq!(
            e.to_string(),
            "its extended attribute `user.note` could not be kept (permission denied): a new \
             file renamed over it would lose it; run as a user who may set it, or remove it \
             first if it is not needed (`setfattr -x user.note FILE`)"
        );
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(
            attribute(&path, "user.note").as_deref(),
            Some(&b"keep me"[..])
        );
        assert_eq!(entries(&dir.0), ["note.xop"]);
    }

    /// A link that leads to nothing is written through, its target read relative to the
    /// link's own folder (as the system reads it), and kept a link.
    #[cfg(unix)]
    #[test]
    fn a_dangling_link_in_another_folder_is_written_through() {
        use std::os::unix::fs::symlink;
        let dir = Scratch::new("dangling");
        fs::create_dir_all(dir.0.join("links")).unwrap();
        fs::create_dir_all(dir.0.join("release")).unwrap();
        let link = dir.0.join("links/out.xopm");
        symlink("../release/m.xopm", &link).unwrap();
        write_atomically(&link, b"module").unwrap();
        assert_eq!(fs::read(dir.0.join("release/m.xopm")).unwrap(), b"module");
        assert_eq!(
            fs::read_link(&link).unwrap(),
            Path::new("../release/m.xopm")
        );
        assert_eq!(entries(&dir.0.join("links")), ["out.xopm"]);
        assert_eq!(entries(&dir.0.join("release")), ["m.xopm"]);
    }

    /// A chain of more links than the system follows is refused as a loop, every link kept.
    #[cfg(unix)]
    #[test]
    fn too_long_a_chain_of_links_is_refused() {
        use std::os::unix::fs::symlink;
        let dir = Scratch::new("chain");
        for n in 0..45 {
            symlink(format!("l{}", n + 1), dir.0.join(format!("l{n}"))).unwrap();
        }
        let e = write_atomically(&dir.0.join("l0"), b"module").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(
            e.to_string()
                .contains("it is a symbolic link that loops (more than 40 links in a row)"),
            "{e}"
        );
        assert_eq!(entries(&dir.0).len(), 45);
        assert!(
            fs::symlink_metadata(dir.0.join("l0"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    /// A named pipe is refused at once: opening it to write would wait for a reader.
    #[cfg(unix)]
    #[test]
    fn a_named_pipe_is_refused() {
        let dir = Scratch::new("fifo");
        let fifo = dir.0.join("m.xopm");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: no mkfifo");
            return;
        }
        // In a thread: should it open the pipe, a reader opened here lets it (and the test) end.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(write_atomically(&path, b"module")));
        let Ok(result) = rx.recv_timeout(std::time::Duration::from_secs(20)) else {
            let _ = fs::read(&fifo);
            panic!("write_atomically waited for a reader of the named pipe");
        };
        let e = result.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("named pipe"), "{e}");
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    /// `/dev/null` is written to as it is.
    #[cfg(unix)]
    #[test]
    fn a_character_device_is_written_as_it_is() {
        use std::os::unix::fs::FileTypeExt;
        write_atomically(Path::new("/dev/null"), b"module").unwrap();
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}
