//! `xop log replay` on decisions over sets whose rules read only part of them: a set's length
//! (`count(tags)`), or some fields of its elements (`count(rs, r => r.a > 0)`). The evidence
//! keeps only those parts; the replay must still rebuild the set with the length and the
//! order of elements that were decided on, and find the same decision.

mod support;

use support::{TempDir, text, xop_in};

/// Writes a module and `input`: the module declares `record` (a record type, or nothing), an
/// action `act` of one parameter `param` (its name and type), and a policy `pol` that denies
/// with `deny` (its reason and condition) and else allows. Decides the input with
/// `xop eval --log log` (by the policy, then by the action), checks that the verdict is `deny`
/// with that reason, then replays the log.
fn eval_then_replay(
    name: &str,
    record: &str,
    param: (&str, &str),
    deny: (&str, &str),
    input: &str,
) {
    let ((p, ty), (reason, condition)) = (param, deny);
    let source = format!(
        "module qa.sets\n\
         {record}\n\
         purpose p1\n\
         action act({p}: {ty}) purpose p1 risk minimal\n\
         policy pol for act({p}: {p}) {{\n\
         \x20 deny \"{reason}\" when {condition}\n\
         \x20 allow \"ok\"\n\
         }}\n"
    );
    let tmp = TempDir::new(name);
    tmp.write("m.xop", source);
    tmp.write("in.json", input);
    for by in [["--policy", "pol"], ["--action", "act"]] {
        let o = xop_in(
            tmp.path(),
            &[
                "eval", "m.xop", by[0], by[1], "--input", "in.json", "--log", "log",
            ],
        );
        let out = text(&o);
        // A decision made (whatever its verdict) is a success.
        assert_eq!(o.status.code(), Some(0), "{name} {by:?}: {out}");
        assert!(
            out.starts_with(&format!("deny ({reason})")),
            "{name} {by:?}: {out}"
        );
    }
    let o = xop_in(tmp.path(), &["log", "verify", "log"]);
    assert!(o.status.success(), "{name}: {}", text(&o));
    let o = xop_in(tmp.path(), &["log", "replay", "log"]);
    let out = text(&o);
    assert!(
        out.contains("2 decisions replayed: 2 same, 0 different"),
        "{name}: {out}"
    );
    assert!(!out.contains("differs"), "{name}: {out}");
    assert_eq!(o.status.code(), Some(0), "{name}: {out}");
}

#[test]
fn a_set_whose_length_only_is_read_replays_with_that_length() {
    // Only `len` is logged: three defaults would bind as one element (repeats dropped).
    eval_then_replay(
        "set-len",
        "",
        ("tags", "Set<Text>"),
        ("many-tags", "count(tags) > 1"),
        r#"{"tags":["a","b","c"]}"#,
    );
}

#[test]
fn a_set_of_records_read_in_part_keeps_its_repeats() {
    // Only each `a` is logged: the two elements, equal in `a`, would bind as one.
    eval_then_replay(
        "set-fields",
        "record R { a: Int, b: Text }",
        ("rs", "Set<R>"),
        ("two-big", "count(rs, r => r.a > 0) > 1"),
        r#"{"rs":[{"a":1,"b":"x"},{"a":1,"b":"y"}]}"#,
    );
}

#[test]
fn a_set_of_records_read_in_part_keeps_its_order() {
    // Only each `b` is logged: sorted again by `b` alone, the element dividing by zero would
    // come first, and the replay would fail where the decision did not.
    eval_then_replay(
        "set-order",
        "record R { a: Int, b: Int }",
        ("rs", "Set<R>"),
        ("big-share", "any(rs, r => 10 / r.b > 1)"),
        r#"{"rs":[{"a":1,"b":5},{"a":2,"b":0}]}"#,
    );
}

#[test]
fn sets_inside_records_inside_sets_keep_their_length() {
    // The inner sets' lengths only are logged, and no field of the outer elements.
    eval_then_replay(
        "set-nested",
        "record R { a: Int, tags: Set<Text> }",
        ("rs", "Set<R>"),
        ("tagged", "count(rs, r => count(r.tags) > 1) > 1"),
        r#"{"rs":[{"a":1,"tags":["x","y"]},{"a":2,"tags":["z","w"]}]}"#,
    );
}
