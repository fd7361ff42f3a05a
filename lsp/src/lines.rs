//! Byte offsets ↔ (line, UTF-16 column): the compiler counts bytes, the protocol counts
//! UTF-16 code units by default, and the two differ on every non-ASCII character. Lines end at
//! `\r\n`, `\n` or `\r`, the protocol's three line breaks. A byte-order mark at the start
//! is no column: editors do not show it (VS Code and Neovim drop it from the text they send),
//! and the command line counts columns after it too, so a file the server reads from disk,
//! mark and all, gets the positions the editor shows.

use xop_compiler::span::Checkpoints;

#[cfg(test)]
thread_local! {
    /// How many texts this thread has indexed: the tests count the work a request does.
    pub(crate) static INDEXED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// How many bytes of text this thread has counted UTF-16 columns over: the tests bound
    /// the work of converting many positions.
    pub(crate) static COUNTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The length of `s` in UTF-16 code units.
fn utf16_len(s: &str) -> usize {
    #[cfg(test)]
    COUNTED.with(|n| n.set(n.get() + s.len()));
    s.chars().map(char::len_utf16).sum()
}

/// The UTF-16 code units of the characters that start in `bytes` (a piece of UTF-8 text cut
/// anywhere): one for each byte that does not continue a character, two for the first byte of
/// a 4-byte one (a surrogate pair). Between two character boundaries it is their length in
/// UTF-16.
fn utf16_units(bytes: &[u8]) -> usize {
    #[cfg(test)]
    COUNTED.with(|n| n.set(n.get() + bytes.len()));
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0xBF => 0,
            0xF0..=0xFF => 2,
            _ => 1,
        })
        .sum()
}

/// The start of each line of a text, for converting positions.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
    /// How many UTF-16 code units come before every
    /// [`CHECKPOINT`](xop_compiler::span::CHECKPOINT)-th byte, for columns far into their lines
    /// (many diagnostics on one long line).
    checkpoints: Checkpoints,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> LineIndex<'a> {
        #[cfg(test)]
        INDEXED.with(|n| n.set(n.get() + 1));
        // The first line starts after a byte-order mark.
        let mut starts = vec![if text.starts_with('\u{feff}') { 3 } else { 0 }];
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            // A `\r` followed by `\n` is one break, counted at the `\n`.
            if b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
                starts.push(i + 1);
            }
        }
        LineIndex {
            text,
            starts,
            checkpoints: Checkpoints::new(utf16_units),
        }
    }

    /// The (line, UTF-16 column) of byte `offset`; an offset inside a character or past the
    /// end is clamped to the character's start or the end of the text, one inside a line break
    /// (between `\r` and `\n`) to the end of its line.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let (line, offset) = self.locate(offset);
        let start = self.starts[line];
        (to_u32(line), to_u32(self.units(start, offset)))
    }

    /// The UTF-16 length of the text from `start` to `end` (character boundaries).
    fn units(&self, start: usize, end: usize) -> usize {
        self.checkpoints.between(self.text.as_bytes(), start, end)
    }

    /// The line of byte `offset` and the offset clamped as [`LineIndex::position`] clamps it.
    fn locate(&self, offset: usize) -> (usize, usize) {
        // An offset inside the byte-order mark is the first line's start.
        let offset = self.floor(offset.min(self.text.len())).max(self.starts[0]);
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        (line, offset.min(self.line_end(line)))
    }

    /// The byte offset of (line, UTF-16 column). A line past the end gives the end of the text;
    /// a column past the end of its line gives the end of the line, before its line break; a
    /// column inside a surrogate pair gives the start of the character.
    pub fn offset(&self, line: u32, col: u32) -> usize {
        let Some(&start) = self.starts.get(line as usize) else {
            return self.text.len();
        };
        let end = self.line_end(line as usize);
        let mut units = 0usize;
        for (i, c) in self.text[start..end].char_indices() {
            let next = units + c.len_utf16();
            if next > col as usize {
                return start + i;
            }
            units = next;
        }
        end
    }

    /// The byte offset where line `line` ends, before its line break (the end of the text for
    /// the last line or a line past the end).
    pub fn line_end(&self, line: usize) -> usize {
        let Some(&next) = self.starts.get(line + 1) else {
            return self.text.len();
        };
        let bytes = self.text.as_bytes();
        if next >= 2 && &bytes[next - 2..next] == b"\r\n" {
            next - 2
        } else {
            next - 1
        }
    }

    /// The text of line `line` without its line break (empty past the end).
    pub fn line_text(&self, line: usize) -> &'a str {
        let start = self.starts.get(line).copied().unwrap_or(self.text.len());
        &self.text[start..self.line_end(line).max(start)]
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether the text is empty (it still has one, empty, line).
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The line that byte `offset` is on.
    pub fn line(&self, offset: usize) -> u32 {
        self.position(offset).0
    }

    fn floor(&self, mut offset: usize) -> usize {
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    }
}

/// Converts many byte offsets to positions, as [`LineIndex::position`] does, counting each
/// column on from the previous position when it is further along the same line: offsets in
/// increasing order cost one pass over the text in all, where counting each from its line's
/// start would be quadratic in the length of a line (a generated file's one long line holds
/// tens of thousands of tokens).
#[derive(Debug)]
pub struct PositionWalker<'i, 'a> {
    index: &'i LineIndex<'a>,
    /// The last position given: its line, byte offset and UTF-16 column.
    line: usize,
    offset: usize,
    col: usize,
}

impl<'i, 'a> PositionWalker<'i, 'a> {
    /// A walker at the start of the text `index` indexes.
    pub fn new(index: &'i LineIndex<'a>) -> PositionWalker<'i, 'a> {
        PositionWalker {
            index,
            line: 0,
            offset: index.starts[0],
            col: 0,
        }
    }

    /// The (line, UTF-16 column) of byte `offset`, clamped as [`LineIndex::position`] does.
    pub fn position(&mut self, offset: usize) -> (u32, u32) {
        let (line, offset) = self.index.locate(offset);
        if line != self.line || offset < self.offset {
            // Another line, or back on this one: count from the line's start.
            (self.line, self.offset, self.col) = (line, self.index.starts[line], 0);
        }
        self.col += utf16_len(&self.index.text[self.offset..offset]);
        self.offset = offset;
        (to_u32(line), to_u32(self.col))
    }
}

/// The line break `text` uses (its first), for text inserted into it: `\n` if it has none.
pub fn line_break(text: &str) -> &'static str {
    match text.find(['\n', '\r']) {
        Some(i) if text[i..].starts_with("\r\n") => "\r\n",
        Some(i) if text[i..].starts_with('\r') => "\r",
        _ => "\n",
    }
}

/// The start of the line that byte `offset` is on (lines end at `\r\n`, `\n` or `\r`).
pub fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind(['\n', '\r']).map_or(0, |i| i + 1)
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xop_compiler::span::CHECKPOINT;

    #[test]
    fn ascii_round_trip() {
        let text = "ab\ncd\n";
        let idx = LineIndex::new(text);
        for off in 0..=text.len() {
            let (l, c) = idx.position(off);
            assert_eq!(idx.offset(l, c), off, "offset {off}");
        }
        assert_eq!(idx.position(3), (1, 0));
        assert_eq!(idx.len(), 3);
    }

    #[test]
    fn a_byte_order_mark_is_no_column() {
        let text = "\u{feff}ab\ncd";
        let idx = LineIndex::new(text);
        assert_eq!(idx.position(3), (0, 0));
        assert_eq!(idx.position(4), (0, 1));
        assert_eq!(idx.position(0), (0, 0), "inside the mark: the line's start");
        assert_eq!(idx.offset(0, 0), 3);
        assert_eq!(idx.offset(0, 1), 4);
        assert_eq!(idx.line_text(0), "ab");
        assert_eq!(idx.position(text.find('d').expect("d")), (1, 1));
        let mut walker = PositionWalker::new(&idx);
        assert_eq!(walker.position(4), (0, 1));
        assert_eq!(walker.position(5), (0, 2));
    }

    #[test]
    fn non_ascii_counts_utf16_units() {
        // `é` is 2 bytes and 1 unit; `😀` is 4 bytes and 2 units.
        let text = "é😀x\ny";
        let idx = LineIndex::new(text);
        let x = text.find('x').expect("x");
        assert_eq!(idx.position(x), (0, 3));
        assert_eq!(idx.offset(0, 3), x);
        // Inside the surrogate pair: the character's start.
        assert_eq!(idx.offset(0, 2), 2);
        // Inside a UTF-8 sequence: clamped back.
        assert_eq!(idx.position(1), (0, 0));
        assert_eq!(idx.offset(1, 0), text.find('y').expect("y"));
    }

    #[test]
    fn crlf_cr_and_lf_are_line_breaks() {
        for text in ["ab\r\ncd\r\n", "ab\rcd\r", "ab\ncd\n", "ab\r\ncd\ref\ngh"] {
            let idx = LineIndex::new(text);
            let c = text.find('c').expect("c");
            assert_eq!(idx.position(c), (1, 0), "{text:?}");
            assert_eq!(idx.offset(1, 1), c + 1, "{text:?}");
            // Past the end of a line: before its line break, whichever it is.
            assert_eq!(idx.offset(0, 2), 2, "{text:?}");
            assert_eq!(idx.offset(0, 99), 2, "{text:?}");
            assert_eq!(idx.offset(1, 99), c + 2, "{text:?}");
            assert_eq!(idx.line_end(0), 2, "{text:?}");
            assert_eq!(
                (idx.line_text(0), idx.line_text(1)),
                ("ab", "cd"),
                "{text:?}"
            );
            // Every offset outside a `\r\n` comes back from its position.
            for off in 0..=text.len() {
                if off > 0 && &text[off - 1..off] == "\r" && text[off..].starts_with('\n') {
                    // Between `\r` and `\n`: the end of the line.
                    assert_eq!(idx.position(off), idx.position(off - 1), "{text:?} {off}");
                    continue;
                }
                let (l, col) = idx.position(off);
                assert_eq!(idx.offset(l, col), off, "{text:?} offset {off}");
            }
        }
        let idx = LineIndex::new("ab\r\ncd\ref\ngh");
        assert_eq!(idx.len(), 4);
        assert_eq!(idx.position(8), (2, 1));
        assert_eq!(idx.offset(3, 0), 10);
        // A text ending in a line break has an empty last line.
        assert_eq!(LineIndex::new("a\r").len(), 2);
        assert_eq!(LineIndex::new("a\r").position(2), (1, 0));
    }

    #[test]
    fn the_walker_gives_what_position_gives_in_any_order() {
        for text in ["é😀x\ny", "ab\r\ncd\ref\ngh", "a\r", "", "x é 😀 y\n\n  z"] {
            let idx = LineIndex::new(text);
            let offsets: Vec<usize> = (0..=text.len() + 2).collect();
            // Increasing (as for tokens), decreasing, and jumping back and forth.
            let mixed: Vec<usize> = offsets.iter().map(|&o| (o * 7) % offsets.len()).collect();
            let reversed: Vec<usize> = offsets.iter().rev().copied().collect();
            for order in [&offsets, &reversed, &mixed] {
                let mut walker = PositionWalker::new(&idx);
                for &off in order {
                    assert_eq!(walker.position(off), idx.position(off), "{text:?} {off}");
                }
            }
        }
    }

    #[test]
    fn line_breaks_and_starts() {
        assert_eq!(line_break("a\r\nb\n"), "\r\n");
        assert_eq!(line_break("a\rb"), "\r");
        assert_eq!(line_break("a\nb\r\n"), "\n");
        assert_eq!(line_break("a"), "\n");
        assert_eq!(line_start("ab\r\ncd", 6), 4);
        assert_eq!(line_start("ab\rcd", 5), 3);
        assert_eq!(line_start("abcd", 3), 0);
    }

    #[test]
    fn out_of_range_is_clamped() {
        let text = "ab\ncd";
        let idx = LineIndex::new(text);
        assert_eq!(idx.offset(0, 99), 2);
        assert_eq!(idx.offset(9, 0), text.len());
        assert_eq!(idx.position(999), (1, 2));
    }

    /// Texts whose lines are long (past the checkpoints) and hold characters of every length
    /// in bytes (astral ones are two UTF-16 units), tabs, and every line break.
    fn long_texts() -> Vec<String> {
        let piece = "ab\té 😀 ∀x 𝕏";
        let long = piece.repeat(3 * CHECKPOINT / piece.len() + 7);
        let body = format!("{long}\r\nshort\r\n{long}\r{long}\n\n😀{long}é");
        vec![
            body.clone(),
            format!("\u{feff}{body}"),
            format!("\u{feff}{long}"),
        ]
    }

    /// The UTF-16 length of the text from the start of `offset`'s line, counted character by
    /// character: what every position must give.
    fn simple(text: &str, offset: usize) -> (u32, u32) {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let offset = offset.max(bom);
        let before = &text[bom..offset];
        // Between `\r` and `\n`: the end of the line.
        let before = before
            .strip_suffix('\r')
            .filter(|_| text[offset..].starts_with('\n'))
            .unwrap_or(before);
        // `\r\n`, `\r` and `\n` each end a line.
        let line = before.replace("\r\n", "\n").matches(['\r', '\n']).count();
        let start = before.rfind(['\r', '\n']).map_or(0, |i| i + 1);
        let col: usize = before[start..].chars().map(char::len_utf16).sum();
        (to_u32(line), to_u32(col))
    }

    /// Columns far into long lines, counted from the checkpoints, are those of a count from
    /// the line's start, at every offset (inside characters and line breaks too), in any order;
    /// the walker agrees.
    #[test]
    fn long_lines_give_the_positions_of_a_simple_count() {
        for text in long_texts() {
            let idx = LineIndex::new(&text);
            for offset in (0..=text.len() + 1).rev() {
                assert_eq!(
                    idx.position(offset),
                    simple(&text, offset),
                    "offset {offset}"
                );
            }
            let mut walker = PositionWalker::new(&idx);
            for offset in 0..=text.len() {
                assert_eq!(
                    walker.position(offset),
                    simple(&text, offset),
                    "offset {offset}"
                );
            }
        }
    }

    /// Converting many offsets on one long line counts each byte a bounded number of times,
    /// not once per offset before it (each diagnostic of a generated one-line file).
    #[test]
    fn many_positions_on_one_long_line_are_linear() {
        let text = "x é 😀 ".repeat(40_000);
        let idx = LineIndex::new(&text);
        let offsets: Vec<usize> = (0..text.len()).step_by(7).collect();
        COUNTED.with(|n| n.set(0));
        for &offset in offsets.iter().rev() {
            idx.position(offset);
        }
        let counted = COUNTED.with(std::cell::Cell::get);
        assert!(
            counted <= text.len() + offsets.len() * 2 * CHECKPOINT,
            "{counted} bytes counted for {} offsets in {} bytes",
            offsets.len(),
            text.len()
        );
    }
}
