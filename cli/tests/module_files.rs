//! Compiled modules as files: the same sources give the same bytes whatever order their paths
//! are given in; `xop build` never writes a module under a source's name (`.xop`); a module's
//! names reach the terminal with their control characters escaped.

mod support;

use support::{TempDir, text, xop_in};
use xop_runtime::module::Module;

const A: &str = "module a\n\nuse std.consent.service\n\nrecord R { n: Int }\n\n\
                 action act(r: R) purpose service risk minimal\n\n\
                 policy pa for act(r: r) {\n  deny \"a-big\" when r.n > 5\n  allow \"a-ok\"\n}\n\n\
                 test \"ta\" {\n  expect pa(act(r: { n: 1 })) == allow(\"a-ok\")\n}\n";

const B: &str = "module b\n\nuse a.act\n\n\
                 policy pb for act(r: r) {\n  deny \"b-big\" when r.n > 3\n  allow \"b-ok\"\n}\n\n\
                 test \"tb\" {\n  expect pb(act(r: { n: 1 })) == allow(\"b-ok\")\n}\n";

/// `xop build a.xop b.xop` and `xop build b.xop a.xop` write the same bytes (the same
/// identity in the proof log), kept tests in the same order.
#[test]
fn a_module_does_not_depend_on_the_order_of_its_paths() {
    let dir = TempDir::new("build-order");
    dir.write("a.xop", A);
    dir.write("b.xop", B);
    for (out, first, second) in [("ab.xopm", "a.xop", "b.xop"), ("ba.xopm", "b.xop", "a.xop")] {
        let o = xop_in(dir.path(), &["build", first, second, "-o", out]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let ab = std::fs::read(dir.path().join("ab.xopm")).unwrap();
    let ba = std::fs::read(dir.path().join("ba.xopm")).unwrap();
    let tests = |bytes: &[u8]| -> Vec<String> {
        let m = Module::from_bytes(bytes, None).unwrap();
        m.program.tests.iter().map(|t| t.name.clone()).collect()
    };
    assert_eq!(tests(&ab), ["ta", "tb"]);
    assert_eq!(tests(&ba), ["ta", "tb"]);
    assert!(ab == ba, "the two builds differ");
}

/// `-o src/out.xop` would put a binary module among the folder's sources: refused before
/// anything is compiled or written, suggesting a `.xopm` name.
#[test]
fn build_refuses_an_output_named_as_a_source() {
    let dir = TempDir::new("build-xop-output");
    dir.write("src/a.xop", A);
    let o = xop_in(dir.path(), &["build", "src", "-o", "src/out.xop"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("`src/out.xop` ends in `.xop`"), "{out}");
    assert!(
        out.contains("`src/out.xopm`"),
        "the name to give instead: {out}"
    );
    assert!(!dir.path().join("src/out.xop").exists());
    // The folder still checks, and the suggested name builds.
    let o = xop_in(dir.path(), &["check", "src"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = xop_in(dir.path(), &["build", "src", "-o", "src/out.xopm"]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A module's policy names are printed with their control characters escaped when
/// `--policy` names none of them: a forged module cannot write to the terminal.
#[test]
fn a_modules_policy_names_are_shown_escaped() {
    let dir = TempDir::new("policy-names-escaped");
    dir.write("a.xop", A);
    dir.write("in.json", r#"{"r": {"n": 1}}"#);
    let o = xop_in(dir.path(), &["build", "a.xop", "-o", "a.xopm"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut m =
        Module::from_bytes(&std::fs::read(dir.path().join("a.xopm")).unwrap(), None).unwrap();
    m.program.policies[0].name = "p\u{1b}[2Ja".into();
    dir.write("esc.xopm", m.to_bytes(None));
    for extra in [&[][..], &["--log", "L"]] {
        let mut args = vec!["eval", "esc.xopm", "--policy", "nope", "--input", "in.json"];
        args.extend_from_slice(extra);
        let o = xop_in(dir.path(), &args);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{out}");
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("the policies are: p\\u{1b}[2Ja"), "{out}");
    }
}
