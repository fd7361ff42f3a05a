//! Characters that show nothing: what `xop fmt` escapes in texts, and what a reason may not be
//! made of alone (C0007). One table serves both, so that a reason the checker accepts as
//! showing something also reads so in formatted source, and an invisible one is escaped there.
//!
//! The tables are Unicode 16.0's properties, copied as ranges (the workspace has no maintained
//! crate that exposes them): a character whose glyph is nothing cannot be told apart by looking,
//! whatever list of examples one keeps, so the properties decide.

use std::cmp::Ordering;

/// Default_Ignorable_Code_Point, from Unicode 16.0.0 `DerivedCoreProperties.txt`
/// (<https://www.unicode.org/Public/16.0.0/ucd/DerivedCoreProperties.txt>): characters that a
/// renderer shows as nothing unless it supports them specially (zero-width characters,
/// bidirectional controls, joiners, variation selectors, tags, the soft hyphen, the Hangul
/// fillers…), and the unassigned code points reserved for more of them. 4,174 code points.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // Cf SOFT HYPHEN
    ('\u{034F}', '\u{034F}'),   // Mn COMBINING GRAPHEME JOINER
    ('\u{061C}', '\u{061C}'),   // Cf ARABIC LETTER MARK
    ('\u{115F}', '\u{1160}'),   // Lo HANGUL CHOSEONG FILLER..HANGUL JUNGSEONG FILLER
    ('\u{17B4}', '\u{17B5}'),   // Mn KHMER VOWEL INHERENT AQ..KHMER VOWEL INHERENT AA
    ('\u{180B}', '\u{180D}'),   // Mn MONGOLIAN FREE VARIATION SELECTOR ONE..THREE
    ('\u{180E}', '\u{180E}'),   // Cf MONGOLIAN VOWEL SEPARATOR
    ('\u{180F}', '\u{180F}'),   // Mn MONGOLIAN FREE VARIATION SELECTOR FOUR
    ('\u{200B}', '\u{200F}'),   // Cf ZERO WIDTH SPACE..RIGHT-TO-LEFT MARK
    ('\u{202A}', '\u{202E}'),   // Cf LEFT-TO-RIGHT EMBEDDING..RIGHT-TO-LEFT OVERRIDE
    ('\u{2060}', '\u{2064}'),   // Cf WORD JOINER..INVISIBLE PLUS
    ('\u{2065}', '\u{2065}'),   // Cn <reserved-2065>
    ('\u{2066}', '\u{206F}'),   // Cf LEFT-TO-RIGHT ISOLATE..NOMINAL DIGIT SHAPES
    ('\u{3164}', '\u{3164}'),   // Lo HANGUL FILLER
    ('\u{FE00}', '\u{FE0F}'),   // Mn VARIATION SELECTOR-1..VARIATION SELECTOR-16
    ('\u{FEFF}', '\u{FEFF}'),   // Cf ZERO WIDTH NO-BREAK SPACE
    ('\u{FFA0}', '\u{FFA0}'),   // Lo HALFWIDTH HANGUL FILLER
    ('\u{FFF0}', '\u{FFF8}'),   // Cn <reserved-FFF0>..<reserved-FFF8>
    ('\u{1BCA0}', '\u{1BCA3}'), // Cf SHORTHAND FORMAT LETTER OVERLAP..SHORTHAND FORMAT UP STEP
    ('\u{1D173}', '\u{1D17A}'), // Cf MUSICAL SYMBOL BEGIN BEAM..MUSICAL SYMBOL END PHRASE
    ('\u{E0000}', '\u{E0000}'), // Cn <reserved-E0000>
    ('\u{E0001}', '\u{E0001}'), // Cf LANGUAGE TAG
    ('\u{E0002}', '\u{E001F}'), // Cn <reserved-E0002>..<reserved-E001F>
    ('\u{E0020}', '\u{E007F}'), // Cf TAG SPACE..CANCEL TAG
    ('\u{E0080}', '\u{E00FF}'), // Cn <reserved-E0080>..<reserved-E00FF>
    ('\u{E0100}', '\u{E01EF}'), // Mn VARIATION SELECTOR-17..VARIATION SELECTOR-256
    ('\u{E01F0}', '\u{E0FFF}'), // Cn <reserved-E01F0>..<reserved-E0FFF>
];

/// General_Category Cf (format), from Unicode 16.0.0 `extracted/DerivedGeneralCategory.txt`
/// (<https://www.unicode.org/Public/16.0.0/ucd/extracted/DerivedGeneralCategory.txt>). Most are
/// default ignorable; the others (number signs that prefix digits, interlinear annotation and
/// hieroglyph format controls) shape the text around them rather than show themselves, so
/// they are escaped too. 170 code points.
const FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Other characters that break or blank a line without a glyph of their own: the line and
/// paragraph separators (White_Space, but a line break where a space is expected), and
/// symbols whose glyph is empty, U+2800 BRAILLE PATTERN BLANK and U+1D159 MUSICAL SYMBOL NULL
/// NOTEHEAD (So, not default ignorable, yet drawn as blank space).
const BLANK: &[(char, char)] = &[
    ('\u{2028}', '\u{2029}'),
    ('\u{2800}', '\u{2800}'),
    ('\u{1D159}', '\u{1D159}'),
];

/// Whether `c` is in one of the sorted, disjoint `ranges`.
fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                Ordering::Less
            } else if lo > c {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` shows nothing itself, whatever it does to the text around it: a control
/// character (Cc), a format character (Cf), a Default_Ignorable_Code_Point, a line or
/// paragraph separator, or a blank symbol (the `BLANK` table). `xop fmt` writes these as `\u{…}`
/// escapes in texts, so that a formatted policy reads as it runs ("Trojan Source": bidirectional
/// controls can make code read otherwise than it runs). Spaces (the rest of White_Space) show
/// as a gap and are left as written.
pub fn invisible(c: char) -> bool {
    // The first character of the tables that is not a control is U+00AD: most text is decided
    // here.
    if c < '\u{00AD}' {
        return c.is_control();
    }
    c.is_control() || in_ranges(c, DEFAULT_IGNORABLE) || in_ranges(c, FORMAT) || in_ranges(c, BLANK)
}

/// Whether `text` shows nothing: every character is White_Space (`char::is_whitespace` is that
/// property, Unicode `PropList.txt`) or [`invisible`]. A reason code that shows nothing explains
/// nothing (C0007).
pub(crate) fn shows_nothing(text: &str) -> bool {
    text.chars().all(|c| c.is_whitespace() || invisible(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(ranges: &[(char, char)]) -> u32 {
        ranges
            .iter()
            .map(|&(lo, hi)| hi as u32 - lo as u32 + 1)
            .sum()
    }

    fn chars(ranges: &[(char, char)]) -> impl Iterator<Item = char> + '_ {
        ranges.iter().flat_map(|&(lo, hi)| lo..=hi)
    }

    /// Binary search needs each table sorted and its ranges disjoint.
    #[test]
    fn tables_are_sorted_and_disjoint() {
        for table in [DEFAULT_IGNORABLE, FORMAT, BLANK] {
            for &(lo, hi) in table {
                assert!(lo <= hi, "{lo:?}..{hi:?}");
            }
            for w in table.windows(2) {
                assert!(w[0].1 < w[1].0, "{:?} then {:?}", w[0], w[1]);
            }
        }
    }

    /// The sizes Unicode 16.0 gives, so that a range mistyped when copying shows.
    #[test]
    fn tables_have_the_sizes_of_unicode_16() {
        assert_eq!(count(DEFAULT_IGNORABLE), 4174);
        assert_eq!(count(FORMAT), 170);
    }

    /// Every code point of every listed range is invisible, at both ends and inside.
    #[test]
    fn every_listed_range_is_invisible() {
        for table in [DEFAULT_IGNORABLE, FORMAT, BLANK] {
            for c in chars(table) {
                assert!(invisible(c), "U+{:04X}", c as u32);
                assert!(shows_nothing(&c.to_string()), "U+{:04X}", c as u32);
            }
        }
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if c.is_control() {
                assert!(invisible(c), "U+{:04X}", c as u32);
            }
        }
    }

    /// White_Space, from Unicode 16.0.0 `PropList.txt`
    /// (<https://www.unicode.org/Public/16.0.0/ucd/PropList.txt>), is what
    /// `char::is_whitespace` tests.
    #[test]
    fn white_space_is_the_unicode_property() {
        const WHITE_SPACE: &[(char, char)] = &[
            ('\u{0009}', '\u{000D}'),
            ('\u{0020}', '\u{0020}'),
            ('\u{0085}', '\u{0085}'),
            ('\u{00A0}', '\u{00A0}'),
            ('\u{1680}', '\u{1680}'),
            ('\u{2000}', '\u{200A}'),
            ('\u{2028}', '\u{2029}'),
            ('\u{202F}', '\u{202F}'),
            ('\u{205F}', '\u{205F}'),
            ('\u{3000}', '\u{3000}'),
        ];
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(
                c.is_whitespace(),
                in_ranges(c, WHITE_SPACE),
                "U+{:04X}",
                c as u32
            );
        }
        for c in chars(WHITE_SPACE) {
            assert!(shows_nothing(&c.to_string()), "U+{:04X}", c as u32);
        }
    }

    /// The reasons a QA probe got past C0007 with a hand-made list.
    #[test]
    fn blank_looking_reasons_show_nothing() {
        for text in [
            "\u{3164}",
            "\u{2800}",
            "\u{00AD}",
            "\u{034F}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
            "\u{180B}\u{180C}\u{180D}\u{180E}\u{180F}",
            "\u{FE00}\u{FE0F}",
            "\u{E0000}\u{E0020}\u{E0FFF}",
            "\u{1D173}\u{1D17A}",
            "\u{1BCA0}\u{1BCA3}",
            " \u{3000}\u{00A0}\u{2003}\t\n\u{200B}\u{2060}\u{200E}",
            "",
        ] {
            assert!(shows_nothing(text), "{text:?}");
        }
    }

    /// What shows is not invisible: letters, digits, punctuation, symbols, emoji, marks.
    #[test]
    fn visible_characters_show() {
        for text in [
            "r1",
            "no-consent",
            "日本",
            "é",
            "e\u{301}",
            "😀",
            "·",
            "_",
            "\u{2801}",
            "\u{3164}a",
        ] {
            assert!(!shows_nothing(text), "{text:?}");
        }
        // A space is a gap, not an invisible character: texts keep their spaces.
        for c in [
            ' ',
            '\u{00A0}',
            '\u{3000}',
            'a',
            '\u{2801}',
            '\u{1D15A}',
            '\u{FFFC}',
        ] {
            assert!(!invisible(c), "U+{:04X}", c as u32);
        }
    }
}
