//! No input makes the front end panic: arbitrary bytes, arbitrary text, and valid programs
//! with random edits all go through lexing, parsing, resolution and type checking, and come
//! out as diagnostics. (Longer runs: the cargo-fuzz target in `fuzz/`.)

use proptest::prelude::*;
use xop_compiler::db::Workspace;

/// A valid program touching most of the language, the seed for mutations.
const SEED: &str = include_str!("../../examples/acme/fraud.xop");
const SEED2: &str = include_str!("../../examples/acme/engagement.xop");
const CUSTOMER: &str = include_str!("../../examples/acme/customer.xop");
const CONTACT: &str = include_str!("../../examples/acme/contact.xop");
const SUPPORT: &str = include_str!("../../examples/acme/support_agent.xop");

fn check(files: &[(&str, &str)]) -> usize {
    let mut ws = Workspace::new();
    for (path, text) in files {
        ws.set_file(path, *text);
    }
    let diags = ws.diagnostics();
    // Rendering must not panic either, whatever the spans.
    let rendered =
        xop_compiler::render::human(&diags, &|p| ws.source(p).map(|s| s.to_string()), false);
    assert!(diags.is_empty() || !rendered.is_empty());
    diags.len()
}

/// Applies `edits` (position, kind, byte) to `text`, keeping it valid UTF-8.
fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut s: Vec<char> = text.chars().collect();
    const PIECES: &[&str] = &[
        "{",
        "}",
        "(",
        ")",
        "\"",
        "//",
        "///",
        "..",
        "?",
        "??",
        "is absent",
        "when",
        "unless",
        "deny",
        "review",
        "allow",
        "@",
        "$",
        "é",
        "\n",
        "use",
        "module",
        "0",
        "99999999999999999999",
        "1h",
        "2026-13-45T99:00:00Z",
        ":",
        ",",
        "=>",
        "not",
        "and",
        "or",
        ".",
    ];
    for &(pos, kind, byte) in edits {
        if s.is_empty() {
            break;
        }
        let at = pos % s.len();
        match kind % 4 {
            0 => {
                s.remove(at);
            }
            1 => {
                let piece = PIECES[usize::from(byte) % PIECES.len()];
                for (i, c) in piece.chars().enumerate() {
                    s.insert(at + i, c);
                }
            }
            2 => s[at] = char::from(byte % 96 + 32),
            _ => {
                let end = (at + usize::from(byte % 40)).min(s.len());
                s.drain(at..end);
            }
        }
    }
    s.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        check(&[("fuzz.xop", &text)]);
    }

    #[test]
    fn arbitrary_text_does_not_panic(text in "\\PC{0,300}") {
        check(&[("fuzz.xop", &text)]);
    }

    #[test]
    fn mutated_programs_do_not_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
        which in 0usize..2,
    ) {
        let seed = if which == 0 { SEED } else { SEED2 };
        let text = mutate(seed, &edits);
        check(&[("acme/customer.xop", CUSTOMER), ("acme/contact.xop", CONTACT), ("acme/mutated.xop", &text)]);
    }
}

#[test]
fn the_seeds_are_clean() {
    // The mutation test means something only if the unmutated programs check clean.
    assert_eq!(
        check(&[
            ("acme/customer.xop", CUSTOMER),
            ("acme/contact.xop", CONTACT),
            ("acme/fraud.xop", SEED),
            ("acme/engagement.xop", SEED2),
            ("acme/support_agent.xop", SUPPORT),
        ]),
        0
    );
}
