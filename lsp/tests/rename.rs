//! Rename, find references and go to definition of declarations: names imported under an
//! alias, fields the stdlib requires, names of the collection operations, and documents that
//! are not files of the workspace. Each rename is applied and the project checked again.

mod support;

use support::{assert_compiles, at, expected, places, project, refused, renamed};
use xop_lsp::navigation::{definition, prepare_rename, references, rename};
use xop_lsp::symbols;

const LIB: &str = "module lib
/// Our gateway.
channel gw
role ops
";

const MAIN: &str = "module main
use std.consent.{consent, service, Consent}
use lib.gw as local_gw
use lib.ops as team

record Customer {
  id: Id
  consents: List<Consent>
}

action route(to: Customer, channel: Channel) purpose service risk minimal

policy routing for route(to: c, channel: ch) {
  deny \"no-consent\" unless consent(c, service, ch)
  deny \"local\" when ch == local_gw
  review \"r\" by role team within 1h else deny when ch != local_gw
  allow \"ok\"
}
";

/// Another file that imports the channel under its own name.
const PLAIN: &str = "module plain
use lib.gw
fn is_gw(ch: Channel): Bool = ch == gw
";

const ALIASED: &[(&str, &str)] = &[("lib.xop", LIB), ("main.xop", MAIN), ("plain.xop", PLAIN)];

#[test]
fn renaming_a_declaration_leaves_its_aliases_alone() {
    let texts = renamed(ALIASED, "lib.xop", at(LIB, "gw", 0, 0), "zz");
    let want = expected(
        ALIASED,
        &[
            ("lib.xop", "channel gw", "channel zz"),
            ("main.xop", "use lib.gw as", "use lib.zz as"),
            ("plain.xop", "use lib.gw", "use lib.zz"),
            ("plain.xop", "ch == gw", "ch == zz"),
        ],
    );
    assert_eq!(texts, want);
    // From the `use` path of the aliasing file: the same.
    let texts = renamed(ALIASED, "main.xop", at(MAIN, "lib.gw", 0, 4), "zz");
    assert_eq!(texts, want);
}

#[test]
fn renaming_an_alias_renames_its_uses_in_its_file_only() {
    for (needle, plus) in [("as local_gw", 3), ("== local_gw", 3), ("!= local_gw", 5)] {
        let texts = renamed(ALIASED, "main.xop", at(MAIN, needle, 0, plus), "gateway");
        let mut want = expected(ALIASED, &[]);
        want.insert("main.xop".into(), MAIN.replace("local_gw", "gateway"));
        assert_eq!(texts, want, "from {needle:?}");
    }
    let (_st, snap) = project(ALIASED);
    let main = snap.file("main.xop").expect("file");
    let use_at = at(MAIN, "== local_gw", 0, 3);
    let span = prepare_rename(&snap, main, use_at).expect("renamable");
    assert_eq!(&MAIN[span.range()], "local_gw");
    // The alias's clashes are its file's names.
    let e = refused(ALIASED, "main.xop", use_at, "team");
    assert!(e.contains("lib.ops"), "{e}");
    let e = refused(ALIASED, "main.xop", use_at, "ch");
    assert!(e.contains("local name"), "{e}");
    assert!(refused(ALIASED, "main.xop", use_at, "count").contains("collection operation"));
}

#[test]
fn an_alias_of_a_stdlib_name_is_renamed_but_not_the_name() {
    let main = MAIN
        .replace(
            "use std.consent.{consent, service, Consent}",
            "use std.consent.{service, Consent}\nuse std.consent.consent as has_consent",
        )
        .replace("unless consent(", "unless has_consent(");
    let files = [("lib.xop", LIB), ("main.xop", main.as_str())];
    let texts = renamed(
        &files,
        "main.xop",
        at(&main, "has_consent(", 0, 0),
        "agreed",
    );
    assert_eq!(texts["main.xop"], main.replace("has_consent", "agreed"));
    let e = refused(&files, "main.xop", at(&main, "consent as", 0, 0), "agreed");
    assert!(e.contains("standard library"), "{e}");
}

#[test]
fn definition_and_references_at_an_alias() {
    let (_st, snap) = project(ALIASED);
    let main = snap.file("main.xop").expect("file");
    for (needle, plus) in [("== local_gw", 3), ("as local_gw", 3)] {
        let defs = definition(&snap, main, at(MAIN, needle, 0, plus));
        assert_eq!(places(&snap, &defs), vec!["lib.xop: gw"], "from {needle:?}");
        let refs = references(&snap, main, at(MAIN, needle, 0, plus), true);
        assert_eq!(
            places(&snap, &refs),
            vec![
                "lib.xop: gw",
                "main.xop: gw as local_gw",
                "main.xop: local_gw",
                "main.xop: local_gw",
                "main.xop: local_gw",
                "plain.xop: gw",
                "plain.xop: gw",
            ],
            "from {needle:?}"
        );
    }
    // Every range is the name written there, never the end of a longer name.
    let lib = snap.file("lib.xop").expect("file");
    for (f, span) in references(&snap, lib, at(LIB, "gw", 0, 0), true) {
        let written = &snap.text(f)[span.range()];
        assert!(written == "gw" || written == "local_gw", "{written:?}");
        let before = snap.text(f)[..span.start()].chars().next_back();
        assert!(
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_'),
            "{written:?} at {} of {}",
            span.start(),
            snap.path(f)
        );
    }
}

/// The project's own conformance folder that imports a channel under an alias.
#[test]
fn the_conformance_symbols_alias() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/conformance/symbols");
    let local = std::fs::read_to_string(format!("{dir}/local.xop")).expect("local.xop");
    let symbols = std::fs::read_to_string(format!("{dir}/symbols.xop")).expect("symbols.xop");
    let files = [
        ("local.xop", local.as_str()),
        ("symbols.xop", symbols.as_str()),
    ];
    let texts = renamed(
        &files,
        "local.xop",
        at(&local, "channel sms", 0, 8),
        "gateway",
    );
    assert_eq!(
        texts["symbols.xop"],
        symbols.replace("local.sms as", "local.gateway as")
    );
    let texts = renamed(
        &files,
        "symbols.xop",
        at(&symbols, "== local_sms", 0, 3),
        "ours",
    );
    assert_eq!(texts["symbols.xop"], symbols.replace("local_sms", "ours"));
    assert_eq!(texts["local.xop"], local);
}

const CONTACTS: &str = "module a
use std.contact.{Contact, contacts_within}
use std.consent.{Consent, consent}
record Customer {
  id: Id
  contacts: List<Contact>
  consents: List<Consent>
  notes: List<Text>
}
/// Not a list of contacts: no stdlib function takes it.
record Log {
  id: Id
  contacts: Int
}
fn busy(c: Customer): Bool = contacts_within(c, 7d) >= 3
fn logged(l: Log): Bool = l.contacts > 3
";

#[test]
fn a_field_the_stdlib_requires_is_not_renamed() {
    let files = [("a.xop", CONTACTS)];
    let field = at(CONTACTS, "contacts: List", 0, 0);
    let e = refused(&files, "a.xop", field, "history");
    assert!(
        e.contains("`contacts`") && e.contains("std.contact.contacts_within"),
        "{e}"
    );
    assert!(
        e.contains("`subject`") && e.contains("List<Contact>"),
        "{e}"
    );
    let (_st, snap) = project(&files);
    let file = snap.file("a.xop").expect("file");
    assert!(prepare_rename(&snap, file, field).is_err());
    // `consents` is what `std.consent.consent` reads, even where it is not called yet.
    let e = refused(
        &files,
        "a.xop",
        at(CONTACTS, "consents", 0, 0),
        "agreements",
    );
    assert!(e.contains("std.consent.consent"), "{e}");
    // Fields no stdlib parameter takes are renamed: another name, or another type.
    renamed(&files, "a.xop", at(CONTACTS, "notes", 0, 0), "remarks");
    let texts = renamed(
        &files,
        "a.xop",
        at(CONTACTS, "contacts: Int", 0, 0),
        "entries",
    );
    assert!(texts["a.xop"].contains("l.entries > 3"), "{texts:?}");
}

const OPERATIONS: &str = "module a
record Box {
  id: Id
}
enum Size { small, large }
fn small_enough(x: Int): Bool = x < 3
fn positives(xs: List<Int>): Int = count(xs, x => x > 0)
fn both(xs: List<Int>): Bool = small_enough(positives(xs)) and any(xs, y => y > 9)
";

#[test]
fn a_declaration_is_not_renamed_to_a_collection_operation() {
    let files = [("a.xop", OPERATIONS)];
    for (needle, plus) in [("small_enough", 0), ("Box", 0), ("Size", 0)] {
        for op in ["count", "any", "all"] {
            let e = refused(&files, "a.xop", at(OPERATIONS, needle, 0, plus), op);
            assert!(
                e.contains("collection operation") && e.contains(op),
                "{needle} to {op}: {e}"
            );
        }
    }
    // A field or an enum value does not hide an operation: only a call is one.
    renamed(&files, "a.xop", at(OPERATIONS, "id", 0, 0), "count");
    renamed(&files, "a.xop", at(OPERATIONS, "small,", 0, 0), "all");
}

#[test]
fn documents_of_other_schemes_are_not_edited_nor_listed() {
    let copy = "git:/w/plain.xop?%7B%22ref%22%3A%22HEAD%22%7D";
    let old_plain = PLAIN.replace("module plain", "module plain_old");
    let files = [
        ("lib.xop", LIB),
        ("main.xop", MAIN),
        ("plain.xop", PLAIN),
        (copy, old_plain.as_str()),
    ];
    let (_st, snap) = project(&files);
    let lib = snap.file("lib.xop").expect("file");
    let git = snap.file(copy).expect("file");
    let gw = at(LIB, "gw", 0, 0);
    let edits = rename(&snap, lib, gw, "zz").expect("renamed");
    let paths: Vec<String> = edits
        .iter()
        .map(|(f, _)| snap.path(*f).to_string())
        .collect();
    assert_eq!(paths, vec!["lib.xop", "main.xop", "plain.xop"]);
    let refs = references(&snap, lib, gw, true);
    assert!(refs.iter().all(|(f, _)| *f != git), "{refs:?}");
    // From the copy itself, its own places are listed and edited all the same.
    let from_copy = references(&snap, git, at(&old_plain, "== gw", 0, 3), true);
    assert!(from_copy.iter().any(|(f, _)| *f == git), "{from_copy:?}");
    assert_eq!(from_copy.len(), refs.len() + 2);
    let found = symbols::workspace(&snap, "is_gw");
    let paths: Vec<String> = found
        .iter()
        .map(|(f, _, _)| snap.path(*f).to_string())
        .collect();
    assert_eq!(paths, vec!["plain.xop"]);
}

const OPEN: &str = "module m
use std.consent.{Consent, service}
record Customer {
  id: Id
  msisdn: Text
  score: Int
  level: Int
}
intrinsic risk(x: { msisdn: Text, .. }): Int
signal rk(c: Customer): Int from risk(c) max_age 5m
fn high(x: { score: Int, .. }): Bool = x.score > 3
fn levels(xs: List<{ level: Int, .. }>): Int = count(xs, k => k.level > 2)
action ping(to: Customer) purpose service risk minimal
policy p for ping(to: c) {
  deny \"r\" when (rk(c) ?? 0) > 1 or high(c) or levels([c]) > 0
  allow \"ok\"
}
";

#[test]
fn a_field_a_parameter_of_the_project_requires_is_not_renamed() {
    let files = [("m.xop", OPEN)];
    // A function's open record: refused, naming the function and its parameter.
    let e = refused(&files, "m.xop", at(OPEN, "score: Int\n", 0, 0), "zz");
    assert!(
        e.contains("`m.high` (parameter `x`)") && e.contains("score: Int"),
        "{e}"
    );
    let e = refused(&files, "m.xop", at(OPEN, "level: Int\n", 0, 0), "zz");
    assert!(e.contains("`m.levels` (parameter `xs`)"), "{e}");
    // An intrinsic's: its field names are the host's.
    let e = refused(&files, "m.xop", at(OPEN, "msisdn: Text\n", 0, 0), "phone");
    assert!(
        e.contains("intrinsic `m.risk` (parameter `x`)") && e.contains("host"),
        "{e}"
    );
    // The field where the open record type writes it, and where it is read through it.
    let (_st, snap) = project(&files);
    let file = snap.file("m.xop").expect("file");
    for (needle, plus) in [
        ("x.score", 2),
        ("x.score", 5),
        ("{ score", 2),
        ("{ msisdn", 2),
        ("k.level", 2),
        ("{ level", 2),
    ] {
        let offset = at(OPEN, needle, 0, plus);
        let e = prepare_rename(&snap, file, offset).expect_err(needle);
        assert!(e.contains("open record type `{"), "{needle}: {e}");
        let e = refused(&files, "m.xop", offset, "zz");
        assert!(e.contains("open record type `{"), "{needle}: {e}");
    }
    // A field that no open record requires is renamed.
    renamed(&files, "m.xop", at(OPEN, "id: Id", 0, 0), "key");
}

#[test]
fn a_use_through_an_alias_is_not_captured_by_a_local() {
    let gw = at(LIB, "gw", 0, 0);
    // `c` is a local of MAIN's policy where `local_gw` is used: the alias keeps its name, so
    // the rename only edits `use lib.gw as local_gw` there.
    let texts = renamed(ALIASED, "lib.xop", gw, "c");
    let want = expected(
        ALIASED,
        &[
            ("lib.xop", "channel gw", "channel c"),
            ("main.xop", "use lib.gw as", "use lib.c as"),
            ("plain.xop", "use lib.gw", "use lib.c"),
            ("plain.xop", "ch == gw", "ch == c"),
        ],
    );
    assert_eq!(texts, want);
    // `ch` is also plain.xop's local where it writes `gw`: refused, at plain.xop's line.
    let e = refused(ALIASED, "lib.xop", gw, "ch");
    assert!(e.contains("(plain.xop:3)"), "{e}");
}

const SHOP: &str = "module shop
use std.consent.service
record Item {
  price: Int
}
record Gift {
  price: Int
}
record Cart {
  items: List<Item>
  gifts: List<Gift>
}
record Pair {
  item: Item
  gift: Gift
}
action buy(cart: Cart) purpose service risk minimal
action pair(p: Pair) purpose service risk minimal
policy p for buy(cart: c) {
  deny \"big\" when any(c.items, i => i.price > 100)
  allow \"ok\"
}
policy q for pair(p: x) {
  deny \"big\" when x.item.price > 100
  allow \"ok\"
}
test \"lists\" {
  let xs = [{ price: 500 }]
  let cart = { items: xs, gifts: xs }
  expect p(buy(cart: cart)) == deny(\"big\")
}
test \"records\" {
  let g = { price: 500 }
  expect q(pair(p: { item: g, gift: g })) == deny(\"big\")
}
";

#[test]
fn a_field_a_let_writes_for_two_record_types_is_not_renamed() {
    let files = [("shop.xop", SHOP)];
    // The project checks as it is: a rename must keep it so.
    assert_compiles(&expected(&files, &[]));
    // From either record, and whether the `let` is a list of them or one.
    for needle in ["price: Int\n}\nrecord Gift", "price: Int\n}\nrecord Cart"] {
        let e = refused(&files, "shop.xop", at(SHOP, needle, 0, 0), "cost");
        assert!(
            e.contains("`let xs`") && e.contains("`Item`") && e.contains("`Gift`"),
            "{e}"
        );
        assert!(e.contains("shop.xop:28"), "{e}");
    }
    let lists_apart = SHOP.replace("gifts: xs", "gifts: []");
    let files = [("shop.xop", lists_apart.as_str())];
    let e = refused(
        &files,
        "shop.xop",
        at(&lists_apart, "price: Int", 0, 0),
        "cost",
    );
    assert!(e.contains("`let g`") && e.contains("shop.xop:33"), "{e}");
    // Used as one record type only, the `let` is renamed with the field.
    let apart = lists_apart.replace("gift: g", "gift: { price: 1 }");
    let files = [("shop.xop", apart.as_str())];
    let texts = renamed(&files, "shop.xop", at(&apart, "price: Int", 0, 0), "cost");
    assert!(
        texts["shop.xop"].contains("let g = { cost: 500 }"),
        "{texts:#?}"
    );
    assert!(
        texts["shop.xop"].contains("let xs = [{ cost: 500 }]"),
        "{texts:#?}"
    );
}
