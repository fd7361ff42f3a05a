//! Byte spans into a source file.

use serde::Serialize;

/// A half-open byte range `start..end` in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    /// A span from byte `start` to byte `end` (exclusive). Files are limited to 4 GiB.
    pub fn new(start: usize, end: usize) -> Span {
        let start = u32::try_from(start).unwrap_or(u32::MAX);
        let end = u32::try_from(end).unwrap_or(u32::MAX).max(start);
        Span { start, end }
    }

    /// The first byte.
    pub fn start(self) -> usize {
        self.start as usize
    }

    /// One past the last byte.
    pub fn end(self) -> usize {
        self.end as usize
    }

    /// The byte range, for slicing the source.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start()..self.end()
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// Whether `offset` lies inside the span (end included, for cursors at the end of a name).
    pub fn contains(self, offset: usize) -> bool {
        self.start() <= offset && offset <= self.end()
    }
}

/// Bytes between two entries of a [`Checkpoints`] table: a count far into a line costs at most
/// this many bytes counted at each end.
pub const CHECKPOINT: usize = 256;

/// A running count over a text (its characters, its UTF-16 code units, …) taken every
/// [`CHECKPOINT`] bytes, built the first time a count spans more than two checkpoints: counting
/// each column from its line's start made many positions on one long line (a generated file's)
/// quadratic in its length.
///
/// `count` measures a piece of UTF-8 text cut anywhere (not only at character boundaries), so
/// that the counts of the pieces of a text add up to the count of the whole: a measure of the
/// bytes that start characters, say.
#[derive(Debug, Clone)]
pub struct Checkpoints {
    count: fn(&[u8]) -> usize,
    table: std::sync::OnceLock<Vec<usize>>,
}

impl Checkpoints {
    /// A table, not yet built, of `count` over a text.
    pub fn new(count: fn(&[u8]) -> usize) -> Checkpoints {
        Checkpoints {
            count,
            table: std::sync::OnceLock::new(),
        }
    }

    /// The count of `text[start..end]` (`start <= end <= text.len()`; `text` is the same text
    /// on every call): counted when they are near, else the difference of two counts from the
    /// checkpoints.
    pub fn between(&self, text: &[u8], start: usize, end: usize) -> usize {
        let count = self.count;
        if end - start <= 2 * CHECKPOINT {
            return count(&text[start..end]);
        }
        let table = self.table.get_or_init(|| {
            let mut table = Vec::with_capacity(text.len() / CHECKPOINT + 1);
            let mut before = 0;
            table.push(0);
            for chunk in text.chunks_exact(CHECKPOINT) {
                before += count(chunk);
                table.push(before);
            }
            table
        });
        let before = |at: usize| {
            let k = at / CHECKPOINT;
            table.get(k).copied().unwrap_or(0) + count(&text[k * CHECKPOINT..at])
        };
        before(end) - before(start)
    }
}
