//! `xop log replay` on decisions over sets whose rules read only part of them: a set's length
//! (`count(tags)`), or some fields of its elements (`count(rs, r => r.a > 0)`). The evidence
//! keeps only those parts; the replay must still rebuild the set with the length and the
//! order of elements that were decided on, and find the same decision.

mod support;

use support::{TempDir, text, xop_in};

/// Writes `source` and `input`, decides them with `xop eval --log log` (by the policy, then by
/// the action), checks that the verdict is `deny` with `reason`, then replays the log.
fn eval_then_replay(name: &str, source: &str, input: &str, reason: &str) {
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
        "module qa.r\n\
         purpose p1\n\
         action act(tags: Set<Text>) purpose p1 risk minimal\n\
         policy pol for act(tags: tags) {\n\
         \x20 deny \"many-tags\" when count(tags) > 1\n\
         \x20 allow \"ok\"\n\
         }\n",
        r#"{"tags":["a","b","c"]}"#,
        "many-tags",
    );
}

#[test]
fn a_set_of_records_read_in_part_keeps_its_repeats() {
    // Only each `a` is logged: the two elements, equal in `a`, would bind as one.
    eval_then_replay(
        "set-fields",
        "module qa.q\n\
         record R { a: Int, b: Text }\n\
         purpose p1\n\
         action act(rs: Set<R>) purpose p1 risk minimal\n\
         policy pol for act(rs: rs) {\n\
         \x20 deny \"two-big\" when count(rs, r => r.a > 0) > 1\n\
         \x20 allow \"ok\"\n\
         }\n",
        r#"{"rs":[{"a":1,"b":"x"},{"a":1,"b":"y"}]}"#,
        "two-big",
    );
}

#[test]
fn a_set_of_records_read_in_part_keeps_its_order() {
    // Only each `b` is logged: sorted again by `b` alone, the element dividing by zero would
    // come first, and the replay would fail where the decision did not.
    eval_then_replay(
        "set-order",
        "module qa.o\n\
         record R { a: Int, b: Int }\n\
         purpose p1\n\
         action act(rs: Set<R>) purpose p1 risk minimal\n\
         policy pol for act(rs: rs) {\n\
         \x20 deny \"big-share\" when any(rs, r => 10 / r.b > 1)\n\
         \x20 allow \"ok\"\n\
         }\n",
        r#"{"rs":[{"a":1,"b":5},{"a":2,"b":0}]}"#,
        "big-share",
    );
}

#[test]
fn sets_inside_records_inside_sets_keep_their_length() {
    // The inner sets' lengths only are logged, and no field of the outer elements.
    eval_then_replay(
        "set-nested",
        "module qa.n\n\
         record R { a: Int, tags: Set<Text> }\n\
         purpose p1\n\
         action act(rs: Set<R>) purpose p1 risk minimal\n\
         policy pol for act(rs: rs) {\n\
         \x20 deny \"tagged\" when count(rs, r => count(r.tags) > 1) > 1\n\
         \x20 allow \"ok\"\n\
         }\n",
        r#"{"rs":[{"a":1,"tags":["x","y"]},{"a":2,"tags":["z","w"]}]}"#,
        "tagged",
    );
}
