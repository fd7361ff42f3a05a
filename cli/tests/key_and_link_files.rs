//! Key files and symbolic links where QA found them mishandled:
//! - a secret key given as a source by mistake (`xop build src release.key`, a forgotten
//!   `--sign`) was printed in full, as the snippet of a syntax error;
//! - a compiled module given as a key (`--trust`, `--sign`, `trust =`) got a message about
//!   sources, or `stream did not contain valid UTF-8`;
//! - `xop build -o LINK` replaced a link that leads to nothing (or loops) with a plain file;
//! - `xop keygen` said `file exists` of a key file that is a link leading to nothing.
#![cfg(unix)]

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Output;

use support::{TempDir, text};

/// `xop ARGS` run in `dir`, without colour.
fn xop(dir: &Path, args: &[&str]) -> Output {
    support::xop_in(dir, args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("xop was killed by a signal")
}

/// The repository's example project.
fn acme() -> String {
    format!("{}/../examples/acme", env!("CARGO_MANIFEST_DIR"))
}

fn input() -> String {
    format!("{}/inputs/offer-on-hold.json", acme())
}

/// `xop keygen -o PREFIX` in `dir`; the hex digits of the secret key it wrote.
fn keygen(dir: &TempDir, prefix: &str) -> String {
    let o = xop(dir.path(), &["keygen", "-o", prefix]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let secret = dir.read(&format!("{prefix}.key"));
    let digits = secret
        .trim()
        .strip_prefix("xop-ed25519-secret:")
        .expect("a secret key file")
        .to_string();
    assert_eq!(digits.len(), 64);
    digits
}

/// Whether any 8 hex digits of `key` in a row are in `shown` (none of a key may be shown).
fn shows_any_of(shown: &str, key: &str) -> bool {
    key.as_bytes()
        .windows(8)
        .any(|w| shown.contains(std::str::from_utf8(w).unwrap_or("")))
}

/// A secret key (or a public one) given where sources go is refused as what it is, exit 2,
/// and none of it is shown: not by `build` (a forgotten `--sign`), `check`, `fmt --check`,
/// `test` or `eval`, nor when it is named like a source or saved with a byte-order mark and
/// CRLF. In a folder, only `.xop` files are read: a key beside them is not.
#[test]
fn a_key_given_as_a_source_is_refused_without_showing_it() {
    let dir = TempDir::new("key-as-source");
    let secret = keygen(&dir, "release");
    let public = dir.read("release.pub");
    let public_digits = public.trim().trim_start_matches("xop-ed25519-public:");
    let refused = "error: `release.key` is an XOP secret key, not a source file: none of it is \
                   shown or read as a source (did you mean `--sign release.key`, to sign the \
                   module `xop build` writes?)\n";
    let acme = acme();
    let input = input();
    for args in [
        &["build", &acme, "release.key", "-o", "acme.xopm"][..],
        &["check", "release.key"],
        &["fmt", "--check", "release.key"],
        &["fmt", "release.key"],
        &["test", "release.key"],
        &[
            "eval",
            "release.key",
            "--policy",
            "contact",
            "--input",
            &input,
        ],
    ] {
        let o = xop(dir.path(), args);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        assert!(stderr(&o).contains(refused), "{args:?}: {}", stderr(&o));
        assert!(!shows_any_of(&text(&o), &secret), "{args:?}: {}", text(&o));
    }
    assert!(!dir.path().join("acme.xopm").exists());
    assert_eq!(
        dir.read("release.key"),
        format!("xop-ed25519-secret:{secret}\n")
    );

    // The public key, as a source: `--trust` is suggested.
    let o = xop(dir.path(), &["check", "release.pub"]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "error: `release.pub` is an XOP public key, not a source file: none of it is shown or \
         read as a source (did you mean `--trust release.pub`, to check a module's signature?)\n"
    );
    assert!(!shows_any_of(&text(&o), public_digits), "{}", text(&o));

    // Named like a source, with a byte-order mark and CRLF (as `log.key` could be copied).
    fs::create_dir(dir.path().join("src")).unwrap();
    dir.write(
        "src/leaked.xop",
        format!("\u{feff}xop-ed25519-secret:{secret}\r\n"),
    );
    let o = xop(dir.path(), &["check", "src"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(
        stderr(&o).contains("`src/leaked.xop` is an XOP secret key, not a source file"),
        "{}",
        stderr(&o)
    );
    assert!(!shows_any_of(&text(&o), &secret), "{}", text(&o));

    // In a folder beside sources, a `.key` file is not a source: it is not read.
    fs::remove_file(dir.path().join("src/leaked.xop")).unwrap();
    fs::copy(
        dir.path().join("release.key"),
        dir.path().join("src/release.key"),
    )
    .unwrap();
    dir.write(
        "src/p.xop",
        fs::read_to_string(format!("{acme}/contact.xop")).unwrap(),
    );
    let o = xop(dir.path(), &["check", "src"]);
    assert!(!shows_any_of(&text(&o), &secret), "{}", text(&o));
    assert!(!text(&o).contains("release.key"), "{}", text(&o));
}

/// A compiled module given where a key goes is named as a module, not a key, by every verb
/// that reads a key: `eval` and `test --trust`, `build --sign`, `mcp-gateway --trust`, `serve`
/// (`trust =` in xop.toml) and `log verify-proof --key`. A file too long to be a key is not
/// read whole, and a missing key is named as the key it should be.
#[test]
fn a_module_given_as_a_key_is_named_as_a_module() {
    let dir = TempDir::new("module-as-key");
    keygen(&dir, "k");
    let acme = acme();
    let input = input();
    let o = xop(
        dir.path(),
        &["build", &acme, "-o", "m.xopm", "--sign", "k.key"],
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    dir.write("xop.toml", "trust = \"m.xopm\"\n");
    // After `error: ` (and, for `serve`, the configuration's name).
    let public = "`m.xopm` is a compiled module, not a public key (make one with `xop \
                  keygen`)\n";
    for args in [
        &[
            "eval", "m.xopm", "--trust", "m.xopm", "--policy", "contact", "--input", &input,
        ][..],
        &["test", "m.xopm", "--trust", "m.xopm"],
        &[
            "mcp-gateway",
            "--module",
            "m.xopm",
            "--trust",
            "m.xopm",
            "--",
            "cat",
        ],
        &["log", "verify-proof", "proof.json", "--key", "m.xopm"],
        &[
            "serve",
            "--module",
            "m.xopm",
            "--data",
            "data",
            "--config",
            "xop.toml",
            "--listen",
            "127.0.0.1:0",
        ],
    ] {
        // Killed after 30 s: `serve` would be a server started by mistake.
        let o = support::xop_within(dir.path(), args, 30);
        assert_eq!(code(&o), 2, "{args:?}: {}", text(&o));
        let err = stderr(&o);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.ends_with(public), "{args:?}: {err}");
        assert!(!err.contains("UTF-8") && !err.contains("source"), "{err}");
    }
    let o = xop(
        dir.path(),
        &["build", &acme, "-o", "new.xopm", "--sign", "m.xopm"],
    );
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "error: `m.xopm` is a compiled module, not a secret key (make one with `xop keygen`)\n"
    );
    assert!(!dir.path().join("new.xopm").exists());

    // Longer than any key: refused without reading it all.
    dir.write("big.pub", vec![b'a'; 70 * 1024]);
    let o = xop(
        dir.path(),
        &[
            "eval", "m.xopm", "--trust", "big.pub", "--policy", "contact", "--input", &input,
        ],
    );
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "error: `big.pub` is not a public key: it is longer than 64 KiB, and a key file is one \
         line (make one with `xop keygen`)\n"
    );
    let o = xop(
        dir.path(),
        &["build", &acme, "-o", "new.xopm", "--sign", "no.key"],
    );
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "error: cannot read the secret key `no.key`: no such file or directory\n"
    );
}

/// Where a link points, as written.
fn link_target(path: &Path) -> String {
    fs::read_link(path).unwrap().display().to_string()
}

/// `xop build -o LINK` where the link leads to nothing yet writes the module through it: the
/// file it names is created and the link is kept. Links that loop, or that lead into a folder
/// that does not exist, are refused (exit 2) and left as they are.
#[test]
fn build_writes_through_a_dangling_link_and_refuses_a_loop() {
    let dir = TempDir::new("build-link");
    let acme = acme();
    fs::create_dir(dir.path().join("release")).unwrap();
    symlink("release/acme.xopm", dir.path().join("current.xopm")).unwrap();
    // Through two links: `latest.xopm` → `current.xopm` → `release/acme.xopm`.
    symlink("current.xopm", dir.path().join("latest.xopm")).unwrap();
    let o = xop(dir.path(), &["build", &acme, "-o", "latest.xopm"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    for (link, to) in [
        ("current.xopm", "release/acme.xopm"),
        ("latest.xopm", "current.xopm"),
    ] {
        let meta = fs::symlink_metadata(dir.path().join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link} was replaced");
        assert_eq!(link_target(&dir.path().join(link)), to);
    }
    let module = fs::read(dir.path().join("release/acme.xopm")).unwrap();
    assert!(module.starts_with(b"XOPM"));
    // Made as any new file is (0666 less the umask), not a temporary file's 0600.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(dir.path().join("release/acme.xopm"))
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(mode & 0o777, 0o600);
    // The link now leads to the module: a rebuild replaces it, through the link.
    let o = xop(dir.path(), &["build", &acme, "-o", "current.xopm"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        fs::symlink_metadata(dir.path().join("current.xopm"))
            .unwrap()
            .file_type()
            .is_symlink()
    );

    symlink("loop-b", dir.path().join("loop-a")).unwrap();
    symlink("loop-a", dir.path().join("loop-b")).unwrap();
    let o = xop(dir.path(), &["build", &acme, "-o", "loop-a"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(
        stderr(&o),
        "error: cannot write `loop-a`: it is a symbolic link that loops (`loop-a` → `loop-b` → \
         `loop-a`): nothing can be written through it; remove the link, or point it at a file; \
         nothing was written\n"
    );
    assert_eq!(link_target(&dir.path().join("loop-a")), "loop-b");
    assert_eq!(link_target(&dir.path().join("loop-b")), "loop-a");

    symlink("gone/m.xopm", dir.path().join("gone.xopm")).unwrap();
    let o = xop(dir.path(), &["build", &acme, "-o", "gone.xopm"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert_eq!(
        stderr(&o),
        "error: cannot write `gone.xopm`: it is a symbolic link to `gone/m.xopm`, whose folder \
         `gone` does not exist: create the folder, or point the link elsewhere; nothing was \
         written\n"
    );
    assert_eq!(link_target(&dir.path().join("gone.xopm")), "gone/m.xopm");
    assert!(!dir.path().join("gone").exists());
}

/// `xop keygen` never writes a key through a link or over one, and says it is a link (one that
/// leads to nothing, or to a file), not `file exists`; nothing is written, not even the other
/// key file.
#[test]
fn keygen_refuses_a_key_file_that_is_a_link() {
    let dir = TempDir::new("keygen-link");
    let nowhere = dir.path().join("nowhere/secret.key");
    symlink(&nowhere, dir.path().join("k.key")).unwrap();
    let o = xop(dir.path(), &["keygen", "-o", "k"]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        format!(
            "error: `k.key` is a symbolic link to `{}`, which does not exist (a dangling link); \
             keygen never writes a key through a link or replaces one: choose another --output, \
             or remove the link\n",
            nowhere.display()
        )
    );
    assert!(!dir.path().join("nowhere").exists());
    assert!(!dir.path().join("k.pub").exists());
    assert_eq!(
        link_target(&dir.path().join("k.key")),
        nowhere.display().to_string()
    );

    // The public key file a link to a file: refused before the secret key is written.
    dir.write("notes.txt", "mine");
    symlink("notes.txt", dir.path().join("j.pub")).unwrap();
    let o = xop(dir.path(), &["keygen", "-o", "j"]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "error: `j.pub` is a symbolic link to `notes.txt`; keygen never writes a key through a \
         link or replaces one: choose another --output, or remove the link\n"
    );
    assert!(!dir.path().join("j.key").exists());
    assert_eq!(dir.read("notes.txt"), "mine");

    // A plain file is named as one.
    dir.write("f.key", "");
    let o = xop(dir.path(), &["keygen", "-o", "f"]);
    assert_eq!(code(&o), 2);
    assert_eq!(
        stderr(&o),
        "error: `f.key` exists, and keygen never replaces a file: choose another --output\n"
    );
}
