//! Byte offsets ↔ (line, UTF-16 column): the compiler counts bytes, the protocol counts
//! UTF-16 code units by default, and the two differ on every non-ASCII character.

/// The start of each line of a text, for converting positions.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`.
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The (line, UTF-16 column) of byte `offset`; an offset inside a character or past the
    /// end is clamped to the character's start or the end of the text.
    pub fn position(&self, offset: usize) -> (u32, u32) {
        let offset = self.floor(offset.min(self.text.len()));
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        (to_u32(line), to_u32(col))
    }

    /// The byte offset of (line, UTF-16 column). A line past the end gives the end of the text;
    /// a column past the end of its line gives the end of the line; a column inside a
    /// surrogate pair gives the start of the character.
    pub fn offset(&self, line: u32, col: u32) -> usize {
        let Some(&start) = self.starts.get(line as usize) else {
            return self.text.len();
        };
        let end = self
            .starts
            .get(line as usize + 1)
            .map_or(self.text.len(), |&e| e - 1);
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

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn out_of_range_is_clamped() {
        let text = "ab\ncd";
        let idx = LineIndex::new(text);
        assert_eq!(idx.offset(0, 99), 2);
        assert_eq!(idx.offset(9, 0), text.len());
        assert_eq!(idx.position(999), (1, 2));
    }
}
