//! What `xop fmt` may rewrite, where QA found:
//! - a read-only file (0444) rewritten, and another user's file given to the user running fmt;
//! - a file with two hard links split in two (the rename replaced one name only);
//! - one file that is not UTF-8 stopping the whole folder, with no summary.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use support::{TempDir, text, xop_in};

const MESSY: &str = "module qa.ro\npurpose   service\n";
const TIDY: &str = "module qa.ro\n\npurpose service\n";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names in a folder: nothing left beside the files (no temporary file).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A read-only file is refused (exit 2) and left as it is, mode included; the others are
/// formatted.
#[cfg(unix)]
#[test]
fn a_read_only_file_is_left_as_it_is() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("fmt-read-only");
    let ro = dir.write("ro.xop", MESSY);
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o444)).unwrap();
    dir.write("rw.xop", MESSY.replace("qa.ro", "qa.rw"));
    let o = xop_in(dir.path(), &["fmt", "."]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "error: cannot write `ro.xop`: it is read-only (mode 0444): make it writable first"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("1 file reformatted, 0 already formatted, 1 file could not be written"),
        "{}",
        stderr(&o)
    );
    assert_eq!(dir.read("ro.xop"), MESSY);
    assert_eq!(
        fs::metadata(&ro).unwrap().permissions().mode() & 0o777,
        0o444
    );
    assert_eq!(dir.read("rw.xop"), TIDY.replace("qa.ro", "qa.rw"));
    assert_eq!(entries(dir.path()), ["ro.xop", "rw.xop"]);
}

/// A file with two hard links is refused: both names keep the same text.
#[cfg(unix)]
#[test]
fn a_file_with_hard_links_is_not_split() {
    let dir = TempDir::new("fmt-hard-links");
    let one = dir.write("h.xop", MESSY);
    fs::hard_link(&one, dir.path().join("h2.xop")).unwrap();
    let o = xop_in(dir.path(), &["fmt", "h.xop"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("cannot write `h.xop`: it has 2 hard links")
            && stderr(&o).contains("remove the other links first")
            && !stderr(&o).contains("format a copy"),
        "{}",
        stderr(&o)
    );
    assert_eq!(dir.read("h.xop"), MESSY);
    assert_eq!(dir.read("h2.xop"), MESSY);
    assert_eq!(entries(dir.path()), ["h.xop", "h2.xop"]);
}

/// Run as another user (`nobody`, through `setpriv`, when the tests run as root): a file of
/// root's that `nobody` may not write is refused; one `nobody` may write (mode 0666) but whose
/// owner the new file could not be given is refused too, rather than handed to `nobody`.
#[cfg(unix)]
#[test]
fn another_users_file_never_changes_hands() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = TempDir::new("fmt-owner");
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_xop"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
    };
    let root = fs::metadata(dir.path()).unwrap().uid() == 0;
    let probe = as_nobody(&["--version"]);
    if !root || !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: needs root, setpriv, and a binary user `nobody` can run");
        return;
    }
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let theirs = dir.write("theirs.xop", MESSY);
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o644)).unwrap();
    let o = as_nobody(&["fmt", "theirs.xop"]).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("cannot write `theirs.xop`: you may not write it: permission denied"),
        "{}",
        stderr(&o)
    );
    assert_eq!(dir.read("theirs.xop"), MESSY);
    assert_eq!(fs::metadata(&theirs).unwrap().uid(), 0);

    let shared = dir.write("shared.xop", MESSY);
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody(&["fmt", "shared.xop"]).unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "cannot write `shared.xop`: its owner and group (uid 0, gid 0) could not be kept"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(dir.read("shared.xop"), MESSY);
    assert_eq!(fs::metadata(&shared).unwrap().uid(), 0);
    assert_eq!(entries(dir.path()), ["shared.xop", "theirs.xop"]);
}

/// A file that is not UTF-8 is reported, the others are still formatted (or listed with
/// `--check`), the summary is printed, and the status is 2.
#[test]
fn a_file_that_cannot_be_read_stops_nothing_else() {
    let dir = TempDir::new("fmt-unreadable");
    dir.write("a.xop", MESSY);
    dir.write("b.xop", b"module qa.b\n// caf\xe9\n");
    let o = xop_in(dir.path(), &["fmt", "--check", "."]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "would reformat: a.xop\n"
    );
    let err = stderr(&o);
    assert!(
        err.contains("error: cannot read `b.xop`: not valid UTF-8 (byte 0xe9 at line 2"),
        "{err}"
    );
    assert!(
        err.ends_with(
            "1 file would be reformatted, 0 already formatted; 1 path could not be read \
             (above)\n"
        ),
        "{err}"
    );
    let o = xop_in(dir.path(), &["fmt", "."]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).ends_with(
            "1 file reformatted, 0 already formatted; 1 path could not be read (above)\n"
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(dir.read("a.xop"), TIDY);
    assert_eq!(
        fs::read(dir.path().join("b.xop")).unwrap(),
        b"module qa.b\n// caf\xe9\n"
    );
    // Nothing readable at all: the error alone, nothing to sum up.
    let o = xop_in(dir.path(), &["fmt", "b.xop"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).starts_with("error: cannot read `b.xop`"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
    // No file found is said as before.
    fs::create_dir(dir.path().join("none")).unwrap();
    let o = xop_in(dir.path(), &["fmt", "none"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(stderr(&o), "error: no `.xop` files found in `none`\n");
}
