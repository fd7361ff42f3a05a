//! Rendering diagnostics: ariadne reports for people, JSON for machines.
//!
//! SARIF is produced by the `xop` command from the same values (it needs the rule table from
//! [`crate::codes`] too).

use std::collections::HashMap;

use ariadne::{Config, IndexType, Label, Report, ReportKind};
use serde::Serialize;

use crate::diagnostic::{Diagnostic, Severity};
use crate::span::Checkpoints;

/// At most this many reports are rendered for people; the rest are counted in a last line.
/// Each report prints the lines it points at, so without a bound a long line holding many
/// errors makes output (and time) grow with their product. JSON and SARIF list them all.
pub const MAX_RENDERED: usize = 100;

/// Renders diagnostics as ariadne reports, in their order, at most [`MAX_RENDERED`] of them:
/// errors before warnings. `source` gives the text of a file by path; a diagnostic whose file
/// is unknown is rendered without a source excerpt. A line longer than [`LONG_LINE`]
/// characters is shown cut to [`AROUND`] characters either side of each place the report
/// points at, with `…` where it is cut; the header keeps the true line and column.
pub fn human(diags: &[Diagnostic], source: &dyn Fn(&str) -> Option<String>, color: bool) -> String {
    render(diags, source, color, false)
}

/// [`human`]; with `padded`, each [`Window`] is given to ariadne after an empty line for every
/// line of the text above it, so that ariadne numbers its lines by itself, as [`human`] did
/// before [`true_margins`]: that costs every line above the window, for every report, and is
/// kept only as the reference the tests compare [`human`] with.
fn render(
    diags: &[Diagnostic],
    source: &dyn Fn(&str) -> Option<String>,
    color: bool,
    padded: bool,
) -> String {
    let picked = shown(diags);
    // Every file's text once, and one cache of them for all reports: ariadne indexes a
    // source's lines when it is built.
    let mut texts: HashMap<String, String> = HashMap::new();
    // How many bytes each text was cut at its start: a leading byte-order mark is skipped
    // (language.md §2.1) and no column counts it, as in [`position`]; ariadne would count it.
    let mut cut: HashMap<String, usize> = HashMap::new();
    for d in &picked {
        for file in std::iter::once(&d.file).chain(d.secondary.iter().map(|l| &l.file)) {
            if !texts.contains_key(&**file) {
                let text = source(file).unwrap_or_default();
                let bom = if text.starts_with(BOM) {
                    BOM.len_utf8()
                } else {
                    0
                };
                cut.insert(file.to_string(), bom);
                texts.insert(file.to_string(), for_ariadne(&text[bom..]).into_owned());
            }
        }
    }
    let lines: HashMap<String, Lines> = texts
        .iter()
        .map(|(k, v)| (k.clone(), Lines::new(v)))
        .collect();
    let mut cache = Sources(
        texts
            .into_iter()
            .map(|(file, text)| (Name::whole(file), ariadne::Source::from(text)))
            .collect(),
    );
    let mut out = String::new();
    for d in &picked {
        let clamp = |file: &str, r: std::ops::Range<usize>| {
            let len = cache.text(file).len();
            let bom = cut.get(file).copied().unwrap_or(0);
            let at = |i: usize| i.saturating_sub(bom).min(len);
            at(r.start)..at(r.end)
        };
        let kind = match d.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
        };
        // Labels in text order, the main file's first: ariadne starts a new block whenever a
        // label lies above the one before it, and heads a second block of the main file with
        // the main location, so a label above the main one (the `@personal` annotation of a
        // field read below) would sit under a header naming the wrong line.
        let main = clamp(&d.file, d.span.range());
        let mut labels: Vec<(&str, std::ops::Range<usize>, &str)> =
            std::iter::once((&*d.file, main.clone(), d.label.as_str()))
                .chain(
                    d.secondary
                        .iter()
                        .map(|l| (&*l.file, clamp(&l.file, l.span.range()), l.message.as_str())),
                )
                .collect();
        labels.sort_by_key(|(file, r, _)| (*file != &*d.file, *file, r.start));
        // A file whose shown lines include a long one is given to ariadne as a window of it,
        // for this report only, under a name of its own.
        let mut windows: HashMap<&str, Window> = HashMap::new();
        for (file, _, _) in &labels {
            if windows.contains_key(file) {
                continue;
            }
            let points: Vec<usize> = labels
                .iter()
                .filter(|(f, _, _)| f == file)
                .flat_map(|(_, r, _)| [r.start, r.end])
                .collect();
            // The header of the main file's block names the main location; of another file's,
            // its first label (the labels are in text order).
            let head = match *file == &*d.file {
                true => main.start,
                false => points.first().copied().unwrap_or(0),
            };
            if let Some(lines) = lines.get(*file)
                && let Some(window) = Window::new(cache.text(file), lines, &points, head)
            {
                windows.insert(file, window);
            }
        }
        for (file, window) in &mut windows {
            let mut text = std::mem::take(&mut window.text);
            if padded {
                text.insert_str(0, &"\n".repeat(window.above));
                window.padding = window.above;
            }
            cache
                .0
                .insert(Name::window(file), ariadne::Source::from(text));
        }
        let id = |file: &str| match windows.contains_key(file) {
            true => Name::window(file),
            false => Name::whole(file),
        };
        // ariadne is given character offsets: with byte offsets, 0.6 names a block of
        // another file by its first label's character offset taken as a byte offset, which
        // names the wrong column, or panics inside a character, once the file has a character
        // of more than one byte before it.
        let at = |file: &str, r: std::ops::Range<usize>| match windows.get(file) {
            Some(w) => {
                let copy = cache.0.get(&Name::window(file)).map_or("", |s| s.text());
                let chars = |at: usize| char_starts(&copy.as_bytes()[..at.min(copy.len())]);
                chars(w.offset(r.start))..chars(w.offset(r.end))
            }
            None => match lines.get(file) {
                Some(lines) => {
                    let text = cache.text(file);
                    lines.chars(text, 0, r.start)..lines.chars(text, 0, r.end)
                }
                None => r,
            },
        };
        // The spans ariadne is given of each windowed file, in order: they size its margin.
        let spans: Vec<(&str, std::ops::Range<usize>)> = labels
            .iter()
            .filter(|(file, _, _)| windows.contains_key(file))
            .map(|(file, r, _)| (*file, at(file, r.clone())))
            .collect();
        let mut report = Report::build(kind, (id(&d.file), at(&d.file, main)))
            .with_config(
                Config::default()
                    .with_index_type(IndexType::Char)
                    .with_color(color),
            )
            .with_code(d.code)
            .with_message(printable(&d.message));
        for (order, (file, range, message)) in labels.into_iter().enumerate() {
            report = report.with_label(
                Label::new((id(file), at(file, range)))
                    .with_message(printable(message))
                    .with_order(i32::try_from(order).unwrap_or(i32::MAX)),
            );
        }
        for n in &d.notes {
            report = report.with_note(printable(n));
        }
        if let Some(h) = &d.help {
            report = report.with_help(printable(h));
        }
        let mut one = Vec::new();
        // Writing into a Vec cannot fail; a failure would only lose this one report.
        let _ = report.finish().write(&mut cache, &mut one);
        let one = String::from_utf8_lossy(&one);
        if windows.is_empty() {
            out.push_str(&one);
        } else {
            // The last line number the report's margin holds once the windows' lines are
            // numbered as in their texts.
            let last = windows
                .iter()
                // A window given after its padding is numbered by ariadne itself.
                .filter(|(_, w)| w.padding == 0)
                .filter_map(|(file, w)| {
                    let src = cache.0.get(&Name::window(file))?;
                    let mine: Vec<_> = spans
                        .iter()
                        .filter(|(f, _)| f == file)
                        .map(|(_, r)| r.clone())
                        .collect();
                    Some(margin_end(src, &mine) + w.above)
                })
                .max()
                .unwrap_or(0);
            out.push_str(&true_margins(&one, &windows, last));
        }
    }
    if diags.len() > picked.len() {
        out.push_str(&format!(
            "… and {} more not shown (`xop check --format json` lists every one)\n",
            diags.len() - picked.len()
        ));
    }
    out
}

/// The sources [`human`] gives ariadne: each file's whole text, and the windows of the report
/// being rendered.
struct Sources(HashMap<Name, ariadne::Source<String>>);

impl Sources {
    /// The whole text of `file` as ariadne is given it (empty for a file it does not have).
    fn text(&self, file: &str) -> &str {
        self.0
            .get(&Name::whole(file.to_string()))
            .map_or("", |s| s.text())
    }
}

impl ariadne::Cache<Name> for Sources {
    type Storage = String;

    fn fetch(&mut self, id: &Name) -> Result<&ariadne::Source<String>, impl std::fmt::Debug> {
        self.0
            .get(id)
            .ok_or_else(|| format!("no source named {id}"))
    }

    fn display<'a>(&self, id: &'a Name) -> Option<impl std::fmt::Display + 'a> {
        Some(id)
    }
}

/// A line longer than this many characters (its line break not counted) is shown cut: of a
/// source, around the places a report points at; of a message, label, note or help, to its
/// first and last [`AROUND`] characters.
pub const LONG_LINE: usize = 1000;

/// How many characters of a long line are shown on each side of a place a report points at.
pub const AROUND: usize = 200;

/// A copy of the lines a report shows of a text, from the first line it points at to the last,
/// with every long one ([`LONG_LINE`]) cut to [`AROUND`] characters either side of each place
/// the report points at on it (and a `…` for each cut), so that a report on a line of a
/// megabyte prints a few hundred characters of it, not the megabyte (once per report). The
/// copy starts at the first line shown, so that it costs the lines shown, not those above them:
/// ariadne numbers its lines from 1, and [`true_margins`] renumbers them as in the whole text.
#[derive(Debug)]
struct Window {
    text: String,
    /// How many lines of the text are above the copy's first (its 0-based line index).
    above: usize,
    /// How many empty lines the copy was given ariadne after ([`render`]'s `padded`); the
    /// pieces' offsets in the copy are counted after them.
    padding: usize,
    /// The pieces of the text kept in the copy, in order; every place pointed at is in one.
    pieces: Vec<Piece>,
    /// The line and column (1-based, the column in characters) of the place the header of
    /// the file's block names: ariadne would count the column in the copy.
    head: (usize, usize),
}

/// A piece of a text kept in a [`Window`]: its byte offset in the text and in the copy, and
/// its length in bytes.
#[derive(Debug, Clone, Copy)]
struct Piece {
    from: usize,
    to: usize,
    len: usize,
}

impl Window {
    /// The window of `text` (whose lines are `lines`) for a report pointing at byte offsets
    /// `points`, whose header names byte offset `head`; `None` if no line from the first
    /// point's to the last one's is long.
    fn new(text: &str, lines: &Lines, points: &[usize], head: usize) -> Option<Window> {
        let mut points: Vec<usize> = points.iter().map(|&p| floor(text, p)).collect();
        points.sort_unstable();
        let line_of = |p: usize| lines.starts.partition_point(|&s| s <= p).max(1) - 1;
        let (first, last) = (line_of(*points.first()?), line_of(*points.last()?));
        let start = |i: usize| lines.starts[i];
        let end = |i: usize| lines.starts.get(i + 1).copied().unwrap_or(text.len());
        // Where a line's text ends, before its line break (`\n` or `\r\n`).
        let content_end = |i: usize| {
            let line = &text[start(i)..end(i)];
            let line = line.strip_suffix('\n').unwrap_or(line);
            start(i)
                + line
                    .strip_suffix('\r')
                    .filter(|_| end(i) > start(i) + line.len())
                    .unwrap_or(line)
                    .len()
        };
        let long = |i: usize| long(&text[start(i)..content_end(i)]);
        if !(first..=last).any(long) {
            return None;
        }
        let mut copy = String::new();
        let mut pieces = Vec::new();
        for i in first..=last {
            let (s, ce, e) = (start(i), content_end(i), end(i));
            let here: Vec<usize> = points
                .iter()
                .copied()
                .filter(|&p| s <= p && (p < e || (p == e && i + 1 == lines.starts.len())))
                .collect();
            if !long(i) {
                if !here.is_empty() {
                    pieces.push(Piece {
                        from: s,
                        to: copy.len(),
                        len: e - s,
                    });
                }
                copy.push_str(&text[s..e]);
                continue;
            }
            // The spans of characters kept, merged where they meet; a line pointed at nowhere
            // (inside a label of several lines) keeps its start.
            let mut kept: Vec<(usize, usize)> = Vec::new();
            for p in if here.is_empty() { vec![s] } else { here } {
                let p = p.min(ce);
                let lo = text[s..p]
                    .char_indices()
                    .rev()
                    .nth(AROUND - 1)
                    .map_or(s, |(j, _)| s + j);
                let hi = text[p..ce]
                    .char_indices()
                    .nth(AROUND)
                    .map_or(ce, |(j, _)| p + j);
                match kept.last_mut() {
                    Some(last) if lo <= last.1 => last.1 = last.1.max(hi),
                    _ => kept.push((lo, hi)),
                }
            }
            let mut at = s;
            for (lo, hi) in kept {
                if lo > at {
                    copy.push('…');
                }
                pieces.push(Piece {
                    from: lo,
                    to: copy.len(),
                    len: hi - lo,
                });
                copy.push_str(&text[lo..hi]);
                at = hi;
            }
            if at < ce {
                copy.push('…');
            }
            // The line break, where a place past the line's text lies.
            pieces.push(Piece {
                from: ce,
                to: copy.len(),
                len: e - ce,
            });
            copy.push_str(&text[ce..e]);
        }
        // As ariadne counts the header's column in the whole text: every character from the
        // line's start.
        let head = floor(text, head);
        let line = line_of(head);
        let head = (line + 1, lines.chars(text, start(line), head) + 1);
        Some(Window {
            text: copy,
            above: first,
            padding: 0,
            pieces,
            head,
        })
    }

    /// Where byte `offset` of the text is in the copy.
    fn offset(&self, offset: usize) -> usize {
        let i = self.pieces.partition_point(|p| p.from <= offset).max(1) - 1;
        self.padding
            + self
                .pieces
                .get(i)
                .map_or(0, |p| p.to + offset.saturating_sub(p.from).min(p.len))
    }
}

/// The character boundary of `text` at or before byte `offset` (clamped to its length).
fn floor(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A report's output as ariadne would print it had it been given each windowed file's whole
/// text (but for the lines shown of it): ariadne numbers a [`Window`]'s lines from its first, and
/// counts the columns of the headers in the copy. `last` is the greatest line number the margin
/// must hold (ariadne's `line_range.end`, see [`margin_end`], in the whole text). Every line from
/// the first header on starts with the margin, which ariadne sizes to the digits of the greatest
/// line number it holds: each header of a windowed file names its true line and column
/// ([`Window::head`]), each margin is widened to the digits of `last`, and each line number in a
/// windowed file's block is moved by the lines above its window. A line that does not start
/// with a margin of the width ariadne gave (the lines of a message, before the first header)
/// is left as it is.
fn true_margins(report: &str, windows: &HashMap<&str, Window>, last: usize) -> String {
    let lines: Vec<&str> = report.split_inclusive('\n').collect();
    let Some(first) = lines.iter().position(|l| header(l).is_some()) else {
        return report.to_string();
    };
    // ariadne's width: the header is indented by the width and two spaces.
    let given = leading(lines[first]).1.saturating_sub(2);
    let width = given.max(digits(last));
    let mut out = String::with_capacity(report.len() + lines.len() * (width - given));
    out.extend(lines[..first].iter().copied());
    // The lines above the window of the block being printed (0 outside windowed files).
    let mut above = 0;
    for line in &lines[first..] {
        if let Some((reference, name)) = header(line) {
            let window = windows
                .iter()
                .find(|(file, _)| Name::whole(**file).to_string() == name)
                .map(|(_, w)| w);
            above = window.map_or(0, |w| w.above - w.padding);
            let line = window
                .and_then(|w| true_header(line, &reference, &name, w.head))
                .unwrap_or_else(|| line.to_string());
            out.push_str(&widen(&line, given, width, 0, ' ').unwrap_or(line));
        } else {
            out.push_str(
                &widen(line, given, width, above, ' ')
                    .or_else(|| widen(line, given, width, 0, '─'))
                    .unwrap_or_else(|| line.to_string()),
            );
        }
    }
    out
}

/// How many digits ariadne gives line number `n` in its margin.
fn digits(n: usize) -> usize {
    n.to_string().len()
}

/// Where in `line` its margin's leading run ends (past colour sequences and `fill`
/// characters), and how many `fill` characters the run holds.
fn leading_of(line: &str, fill: char) -> (usize, usize) {
    let (mut at, mut count) = (0, 0);
    loop {
        let rest = &line[at..];
        if rest.starts_with('\x1b') {
            at += rest.find('m').map_or(rest.len(), |m| m + 1);
        } else if rest.starts_with(fill) {
            at += fill.len_utf8();
            count += 1;
        } else {
            return (at, count);
        }
    }
}

/// [`leading_of`] spaces.
fn leading(line: &str) -> (usize, usize) {
    leading_of(line, ' ')
}

/// `line` with its margin widened from `given` to `width`, and its line number (if any)
/// moved by `shift`; `None` if `line` does not start with a margin of width `given` drawn with
/// `fill` (a space, or the `─` of a report's last line). ariadne draws a margin as `given + 2`
/// fill characters before a `╭`, `├`, `│`, `┆` or (`─`) `╯`, or as one space, the number
/// right-aligned in `given` and ` │`; colour sequences may lie among them. The characters added
/// go where ariadne puts them: right before the number or the margin's character, after any
/// colour sequence, but before the colour sequence of a header's `╭` (its spaces are uncoloured).
fn widen(line: &str, given: usize, width: usize, shift: usize, fill: char) -> Option<String> {
    let (end, count) = leading_of(line, fill);
    let rest = &line[end..];
    let number = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if number > 0 && fill == ' ' {
        if count + number != given + 1 || !rest[number..].starts_with(" │") {
            return None;
        }
        let moved = rest[..number]
            .parse::<usize>()
            .ok()?
            .saturating_add(shift)
            .to_string();
        // The spaces after the run's last colour sequence take the difference.
        let keep = line[..end].trim_end_matches(' ');
        let stretch = end - keep.len();
        let spaces = (stretch + width + number).checked_sub(given + moved.len())?;
        return Some(format!(
            "{keep}{}{moved}{}",
            " ".repeat(spaces),
            &rest[number..]
        ));
    }
    let next = rest.chars().next()?;
    let margin = match fill {
        ' ' => matches!(next, '╭' | '├' | '│' | '┆'),
        _ => next == '╯',
    };
    if !margin || count != given + 2 {
        return None;
    }
    // Right after the run's last fill character.
    let at = line[..end].rfind(fill).map_or(end, |i| i + fill.len_utf8());
    Some(format!(
        "{}{}{}",
        &line[..at],
        fill.to_string().repeat(width - given),
        &line[at..]
    ))
}

/// The reference of header `line` (`name:line:column` in `╭─[ name:line:column ]` or
/// `├─[ … ]`) and the name in it; `None` if `line` is no header.
fn header(line: &str) -> Option<(String, String)> {
    let plain = strip_ansi(line);
    let reference = plain
        .trim_start()
        .strip_prefix("╭─[ ")
        .or_else(|| plain.trim_start().strip_prefix("├─[ "))?
        .trim_end()
        .strip_suffix(" ]")?
        .to_string();
    let mut parts = reference.rsplitn(3, ':');
    let (_, _, name) = (parts.next()?, parts.next()?, parts.next()?);
    let name = name.to_string();
    Some((reference, name))
}

/// The greatest line number (1-based) the margin of a report holds for a source, as ariadne
/// counts it to size the margin: `spans` are the character ranges of the report's labels on the
/// source. ariadne takes the greatest `line_range.end` of the blocks it makes of them: the line
/// holding the last character of a block's span, or its start if the block's labels are all
/// empty at one place. That is the same line for the span of all the labels at once: a block
/// of empty labels after the last character of the others is never a block of its own (it is
/// on a line no higher than the last label's before it, ariadne's test for a new block).
fn margin_end(src: &ariadne::Source<String>, spans: &[std::ops::Range<usize>]) -> usize {
    let all = spans
        .iter()
        .map(|r| r.start..r.end.max(r.start))
        .reduce(|a, b| a.start.min(b.start)..a.end.max(b.end));
    all.map_or(0, |span| src.get_line_range(&span).end)
}

/// Header `line`, whose reference is `reference` ([`header`]), naming file `name` at line and
/// column `head` (ariadne counts them in the [`Window`] it is given).
fn true_header(line: &str, reference: &str, name: &str, head: (usize, usize)) -> Option<String> {
    let (line_no, column) = head;
    let old = format!(" {reference} ");
    let at = line.rfind(&old)?;
    Some(format!(
        "{} {name}:{line_no}:{column} {}",
        &line[..at],
        &line[at + old.len()..]
    ))
}

/// `text` without its ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\x1b') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        rest = rest.find('m').map_or("", |m| &rest[m + 1..]);
    }
    out.push_str(rest);
    out
}

/// A file's name as [`human`] knows it (exact: two names never merge) and shows it in a
/// report's header (`[ a\u{1b}[2Jb.xop:2:14 ]`): with the characters that show nothing
/// escaped ([`crate::format::escape_invisible`]), so that a file's name cannot clear the
/// screen or forge a line. JSON and SARIF keep the exact name. A report's [`Window`] of a file
/// is a source of its own, shown under the file's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Name {
    file: String,
    window: bool,
}

impl Name {
    /// The name of `file`'s whole text.
    fn whole(file: impl Into<String>) -> Name {
        Name {
            file: file.into(),
            window: false,
        }
    }

    /// The name of the window of `file` for the report being rendered.
    fn window(file: &str) -> Name {
        Name {
            file: file.to_string(),
            window: true,
        }
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::format::escape_invisible(&self.file))
    }
}

/// The diagnostics [`human`] renders: the first [`MAX_RENDERED`] errors, then as many of the
/// first warnings as there is room for, in their order.
fn shown(diags: &[Diagnostic]) -> Vec<&Diagnostic> {
    if diags.len() <= MAX_RENDERED {
        return diags.iter().collect();
    }
    let errors = diags
        .iter()
        .filter(|d| d.is_error())
        .count()
        .min(MAX_RENDERED);
    let mut warnings = MAX_RENDERED - errors;
    let mut errors = errors;
    diags
        .iter()
        .filter(|d| {
            let left = if d.is_error() {
                &mut errors
            } else {
                &mut warnings
            };
            let keep = *left > 0;
            *left = left.saturating_sub(1);
            keep
        })
        .collect()
}

/// The byte-order mark a file may open with; it is skipped (language.md §2.1).
const BOM: char = '\u{feff}';

/// A message for people: the characters that show nothing escaped as `xop fmt` escapes them
/// in text literals ([`crate::format::escape_invisible`]), line by line, so that a control
/// sequence quoted from a source (a reason, a name) never reaches the terminal; and a line
/// longer than [`LONG_LINE`] characters (one quoting a name of a megabyte, in a message and its
/// help) cut to its first and last [`AROUND`] characters around a `…`.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text
        .chars()
        .any(|c| c != '\n' && crate::format::invisible(c))
        && !text.split('\n').any(long)
    {
        return std::borrow::Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| crate::format::escape_invisible(&shorten(line)))
        .collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

/// Whether `line` has more than [`LONG_LINE`] characters (counting no more than that).
fn long(line: &str) -> bool {
    line.len() > LONG_LINE && line.chars().nth(LONG_LINE).is_some()
}

/// `line`, or if it is [`long`], its first and last [`AROUND`] characters around a `…`.
fn shorten(line: &str) -> std::borrow::Cow<'_, str> {
    if !long(line) {
        return std::borrow::Cow::Borrowed(line);
    }
    let head = line
        .char_indices()
        .nth(AROUND)
        .map_or(line.len(), |(i, _)| i);
    let tail = line
        .char_indices()
        .rev()
        .nth(AROUND - 1)
        .map_or(0, |(i, _)| i);
    std::borrow::Cow::Owned(format!("{}…{}", &line[..head], &line[tail..]))
}

/// `text` as ariadne must be given it to number lines as XOP does, and to show its lines
/// without control sequences. ariadne also ends a line at a lone carriage return, a vertical
/// tab, a form feed, U+0085, U+2028 and U+2029, which XOP reads as ordinary characters (in
/// comments and text) or as errors: each becomes a character of the same length in bytes that
/// ends no line (a space, or a visible `¶` / `␤` for the invisible separators), so that byte
/// offsets, line numbers and columns stay those of [`position`]. Every other character that
/// shows nothing but a tab and a line break (an escape in a text literal, a bidirectional
/// control) is shown as a visible character of its length in bytes (`?`, `¿`, `�`, `𝕏`):
/// printed as it is, it could rewrite the terminal.
pub fn for_ariadne(text: &str) -> std::borrow::Cow<'_, str> {
    let breaks = |c: char| matches!(c, '\x0B' | '\x0C' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let lone_cr =
        |i: usize| text.as_bytes()[i] == b'\r' && text.as_bytes().get(i + 1) != Some(&b'\n');
    let hidden = |i: usize, c: char| {
        !matches!(c, '\n' | '\t') && (c != '\r' || lone_cr(i)) && crate::format::invisible(c)
    };
    if !text.char_indices().any(|(i, c)| breaks(c) || hidden(i, c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        out.push(match c {
            '\x0B' | '\x0C' => ' ',
            '\r' if lone_cr(i) => ' ',
            '\u{85}' => '¶',
            '\u{2028}' | '\u{2029}' => '␤',
            c if hidden(i, c) => match c.len_utf8() {
                1 => '?',
                2 => '¿',
                3 => '\u{fffd}',
                _ => '𝕏',
            },
            c => c,
        });
    }
    std::borrow::Cow::Owned(out)
}

/// A line and column (both 1-based, column in characters) for JSON output.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in Unicode scalar values.
    pub column: usize,
}

/// The 1-based line and column of byte `offset` in `text`, as an editor shows them: a
/// byte-order mark opening the text is no column (it is skipped, language.md §2.1), and the
/// `\r` of a `\r\n` line break is no column either (an offset between the two is the end of its
/// line).
pub fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Position {
        line,
        column: column
            .saturating_sub(unseen(text, line_start, offset))
            .max(1),
    }
}

/// How many characters from `line_start` to `offset` (a character boundary of `text`) no
/// editor shows as a column: a byte-order mark opening the text, and a `\r` ending right
/// before the `\n` at `offset`.
fn unseen(text: &str, line_start: usize, offset: usize) -> usize {
    let bom = line_start == 0 && offset > 0 && text.starts_with(BOM);
    let cr = offset > line_start
        && text.as_bytes().get(offset - 1) == Some(&b'\r')
        && text.as_bytes().get(offset) == Some(&b'\n');
    usize::from(bom) + usize::from(cr)
}

/// The line starts of a text, for many positions in it: [`position`] scans the text from its
/// start on every call, which made lowering a file of a thousand rules quadratic.
#[derive(Debug, Clone)]
pub struct Lines {
    starts: Vec<usize>,
    /// How many characters come before every [`CHECKPOINT`](crate::span::CHECKPOINT)-th
    /// byte, for columns far into their lines.
    checkpoints: Checkpoints,
}

#[cfg(test)]
thread_local! {
    /// How many bytes this thread has counted characters over: the tests bound the work of
    /// locating many offsets.
    static COUNTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How many characters start in `bytes` (a piece of UTF-8 text cut anywhere): the bytes that
/// do not continue a character. Between two character boundaries it is the number of
/// characters.
fn char_starts(bytes: &[u8]) -> usize {
    #[cfg(test)]
    COUNTED.with(|n| n.set(n.get() + bytes.len()));
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl Lines {
    /// The line starts of `text`.
    pub fn new(text: &str) -> Lines {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines {
            starts,
            checkpoints: Checkpoints::new(char_starts),
        }
    }

    /// [`position`] of byte `offset` in `text`, the text these lines are of.
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = offset.min(text.len());
        if !text.is_char_boundary(offset) {
            return position(text, offset);
        }
        // Line starts at or before `offset`: one more than the newlines before it.
        let line = self.starts.partition_point(|&s| s <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0).min(offset);
        let column = self.chars(text, start, offset) + 1;
        Position {
            line,
            column: column.saturating_sub(unseen(text, start, offset)).max(1),
        }
    }

    /// The number of characters from `start` to `end` (character boundaries of `text`).
    fn chars(&self, text: &str, start: usize, end: usize) -> usize {
        self.checkpoints.between(text.as_bytes(), start, end)
    }
}

/// Where diagnostics are, file by file: each file's text is asked of `source` once and its
/// lines indexed once, however many diagnostics it holds (asking for each of them copied the
/// text each time and scanned it from its start: quadratic in their number).
pub struct Locator<'s> {
    source: &'s dyn Fn(&str) -> Option<String>,
    files: HashMap<String, Option<(String, Lines)>>,
}

impl<'s> Locator<'s> {
    /// Locates offsets in the files `source` gives the text of.
    pub fn new(source: &'s dyn Fn(&str) -> Option<String>) -> Locator<'s> {
        Locator {
            source,
            files: HashMap::new(),
        }
    }

    /// [`position`] of byte `offset` in `file`; `None` if `source` has no such file.
    pub fn position(&mut self, file: &str, offset: usize) -> Option<Position> {
        if !self.files.contains_key(file) {
            let text = (self.source)(file).map(|text| {
                let lines = Lines::new(&text);
                (text, lines)
            });
            self.files.insert(file.to_string(), text);
        }
        let (text, lines) = self.files.get(file)?.as_ref()?;
        Some(lines.position(text, offset))
    }
}

/// Diagnostics as a JSON array: code, severity, message, file, byte span, start and end
/// positions, label, secondary labels (each with its file, byte span, start and end
/// positions and message), notes and help.
pub fn json(diags: &[Diagnostic], source: &dyn Fn(&str) -> Option<String>) -> serde_json::Value {
    let mut at = Locator::new(source);
    let items = diags
        .iter()
        .map(|d| {
            let mut v = serde_json::to_value(d).unwrap_or(serde_json::Value::Null);
            located(&mut v, &mut at, &d.file, d.span);
            // Each secondary label located as the main one, in its own file.
            if let Some(labels) = v.get_mut("secondary").and_then(|l| l.as_array_mut()) {
                for (value, label) in labels.iter_mut().zip(&d.secondary) {
                    located(value, &mut at, &label.file, label.span);
                }
            }
            v
        })
        .collect();
    serde_json::Value::Array(items)
}

/// Adds `start` and `end` ([`position`]s of `span` in `file`) to a JSON object; in a file
/// `source` does not know, both are the position in an empty text.
fn located(
    value: &mut serde_json::Value,
    at: &mut Locator<'_>,
    file: &str,
    span: crate::span::Span,
) {
    if let serde_json::Value::Object(map) = value {
        for (key, offset) in [("start", span.start()), ("end", span.end())] {
            let p = at
                .position(file, offset)
                .unwrap_or_else(|| position("", offset));
            map.insert(key.into(), serde_json::to_value(p).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_output_numbers_lines_as_the_json_does_whatever_separators_the_text_holds() {
        use crate::span::Span;
        for sep in [
            "\u{2028}",
            "\u{2029}",
            "\u{85}",
            "\x0B",
            "\x0C",
            "\r",
            "\u{2028}\u{2029}\u{85}",
        ] {
            let text = format!("module qa\n// a {sep} b\nfn f(): Int = nosuch\n");
            let at = text.find("nosuch").unwrap();
            let d = Diagnostic::error(
                "E0201",
                &std::sync::Arc::from("t.xop"),
                Span::new(at, at + 6),
                "unknown",
            );
            let out = human(std::slice::from_ref(&d), &|_| Some(text.clone()), false);
            let p = position(&text, at);
            assert_eq!((p.line, p.column), (3, 15));
            assert!(out.contains("t.xop:3:15"), "{sep:?}: {out}");
            assert!(out.contains("3 │ fn f(): Int = nosuch"), "{sep:?}: {out}");
            // The same length in bytes: every offset stays where it was.
            assert_eq!(for_ariadne(&text).len(), text.len());
        }
    }

    #[test]
    fn many_reports_render_the_first_errors_then_say_how_many_more() {
        use crate::span::Span;
        // One long line with an unknown name every 16 bytes, and two warnings first.
        let names: Vec<String> = (0..MAX_RENDERED + 50).map(|i| format!("u{i:04}")).collect();
        let text = format!("fn f(): Bool = {}\n", names.join(" or "));
        let file = std::sync::Arc::from("t.xop");
        let mut diags = vec![
            Diagnostic::warning("W0101", &file, Span::new(0, 2), "first warning"),
            Diagnostic::warning("W0101", &file, Span::new(3, 4), "second warning"),
        ];
        for n in &names {
            let at = text.find(n.as_str()).unwrap();
            diags.push(Diagnostic::error(
                "E0201",
                &file,
                Span::new(at, at + 5),
                n.clone(),
            ));
        }
        let out = human(&diags, &|_| Some(text.clone()), false);
        // Errors first: the warnings have no room left, and the last errors are counted.
        assert_eq!(out.matches("first warning").count(), 0, "{out}");
        assert_eq!(out.matches("[E0201]").count(), MAX_RENDERED);
        assert!(
            out.contains("Error: u0099") && !out.contains("Error: u0100"),
            "{out}"
        );
        assert!(
            out.ends_with("… and 52 more not shown (`xop check --format json` lists every one)\n"),
            "{}",
            &out[out.len() - 200..]
        );
        // Fewer than the limit: all of them, in order, warnings included.
        let few = human(&diags[..5], &|_| Some(text.clone()), false);
        assert_eq!(few.matches("Warning: ").count(), 2, "{few}");
        let (second, first_error) = (few.find("second warning"), few.find("Error: u0000"));
        assert!(second.is_some() && second < first_error, "{few}");
        assert!(!few.contains("more not shown"));
    }

    #[test]
    fn a_label_above_the_main_one_is_shown_in_the_same_block() {
        use crate::span::Span;
        let text = "record C {\n  @personal x: Text\n}\nfn f(c: C): Text = c.x\n";
        let file = std::sync::Arc::from("t.xop");
        let (read, note) = (text.find("c.x").unwrap(), text.find("@personal").unwrap());
        let d = Diagnostic::error("C0006", &file, Span::new(read, read + 3), "personal")
            .with_label("read here")
            .with_secondary(&file, Span::new(note, note + 9), "personal here");
        let out = human(std::slice::from_ref(&d), &|_| Some(text.to_string()), false);
        // One header, at the main location; the annotation's line before the read's.
        assert_eq!(out.matches("t.xop:").count(), 1, "{out}");
        assert!(out.contains("[ t.xop:4:20 ]"), "{out}");
        let (two, four) = (out.find(" 2 │"), out.find(" 4 │"));
        assert!(two.is_some() && two < four, "{out}");
    }

    /// A byte-order mark is skipped (language.md §2.1): no column counts it, in the human,
    /// JSON (and so SARIF) positions alike, as an editor shows them.
    #[test]
    fn a_byte_order_mark_is_no_column() {
        use crate::span::Span;
        let text = "\u{feff}module acme.x $\nfn f(): Int = 1\n";
        let at = text.find('$').unwrap();
        assert_eq!(
            position(text, at),
            Position {
                line: 1,
                column: 15
            }
        );
        assert_eq!(position(text, 3), Position { line: 1, column: 1 });
        // The second line is not affected.
        let f = text.find("fn").unwrap();
        assert_eq!(position(text, f), Position { line: 2, column: 1 });
        let lines = Lines::new(text);
        for offset in [0, 3, at, f, text.len()] {
            assert_eq!(lines.position(text, offset), position(text, offset));
        }
        let file = std::sync::Arc::from("t.xop");
        let d = Diagnostic::error("E0101", &file, Span::new(at, at + 1), "unexpected")
            .with_label("here");
        let out = human(std::slice::from_ref(&d), &|_| Some(text.to_string()), false);
        assert!(out.contains("[ t.xop:1:15 ]"), "{out}");
        assert!(out.contains("1 │ module acme.x $"), "{out}");
        let v = json(std::slice::from_ref(&d), &|_| Some(text.to_string()));
        assert_eq!(v[0]["start"]["column"], 15, "{v}");
        assert_eq!(v[0]["end"]["column"], 16, "{v}");
    }

    /// The `\r` of a CRLF line break is no column: a span that ends right before the `\n` (an
    /// unterminated text covers the rest of its line) ends at the end of the line.
    #[test]
    fn the_carriage_return_of_a_crlf_is_no_column() {
        let text = "module m\r\n  deny \"closed\r\nx\r\n";
        let end = text.find("\r\nx").unwrap() + 1;
        assert_eq!(
            position(text, end),
            Position {
                line: 2,
                column: 15
            }
        );
        assert_eq!(
            position(text, end - 1),
            Position {
                line: 2,
                column: 15
            }
        );
        assert_eq!(position(text, end + 1), Position { line: 3, column: 1 });
        // A lone `\r` (an error, E0101) is a character of its line.
        assert_eq!(position("a\rb", 2), Position { line: 1, column: 3 });
        let lines = Lines::new(text);
        for offset in 0..=text.len() {
            assert_eq!(
                lines.position(text, offset),
                position(text, offset),
                "{offset}"
            );
        }
    }

    /// A control sequence quoted from a source (in a message, a label, a note, a help, or the
    /// source line shown) is escaped, never printed as it is; offsets stay.
    #[test]
    fn control_characters_are_never_printed() {
        use crate::span::Span;
        let text = "fn f(): Text = \"ok\u{1b}[2K\u{202e}\"\n";
        let at = text.find('"').unwrap();
        let file = std::sync::Arc::from("t.xop");
        let d = Diagnostic::error(
            "E0205",
            &file,
            Span::new(at, text.len() - 1),
            "no \"ok\u{1b}[2K\"",
        )
        .with_label("unknown \u{1b}[8m")
        .with_note("note \u{7}")
        .with_help("its reasons are: \"ok\u{202e}\"");
        let out = human(std::slice::from_ref(&d), &|_| Some(text.to_string()), false);
        let bad: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && crate::format::invisible(c))
            .collect();
        assert!(bad.is_empty(), "{bad:?} in {out}");
        assert!(out.contains("no \"ok\\u{1b}[2K\""), "{out}");
        assert!(out.contains("unknown \\u{1b}[8m"), "{out}");
        assert!(out.contains("note \\u{7}"), "{out}");
        assert!(out.contains("\"ok\\u{202e}\""), "{out}");
        assert!(
            out.contains("1 │ fn f(): Text = \"ok?[2K\u{fffd}\""),
            "{out}"
        );
        assert_eq!(for_ariadne(text).len(), text.len());
        // Tabs and CRLF line breaks are left to ariadne.
        assert!(matches!(
            for_ariadne("a\tb\r\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// A file's name with control characters (`ESC [2J` clears the screen, a line break would
    /// forge a line) is escaped in every header, the main file's and a secondary file's; two
    /// files are still told apart, and JSON keeps the exact names.
    #[test]
    fn file_names_are_escaped_in_headers() {
        use crate::span::Span;
        let (a, b) = ("module k\nfn g(): Int =\n", "module j\nfn h(): Int = 1\n");
        let (fa, fb): (std::sync::Arc<str>, std::sync::Arc<str>) = (
            std::sync::Arc::from("bad\u{1b}[2Jz.xop"),
            std::sync::Arc::from("x\ny.xop"),
        );
        let d = Diagnostic::error("E0101", &fa, Span::new(22, 22), "expected an expression")
            .with_secondary(&fb, Span::new(12, 13), "h here");
        let texts = [(fa.to_string(), a), (fb.to_string(), b)];
        let source = |name: &str| {
            texts
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.to_string())
        };
        let out = human(std::slice::from_ref(&d), &source, false);
        let bad: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && crate::format::invisible(c))
            .collect();
        assert!(bad.is_empty(), "{bad:?} in {out}");
        assert!(out.contains("bad\\u{1b}[2Jz.xop:2:14"), "{out}");
        assert!(out.contains("x\\ny.xop:2:4"), "{out}");
        // Each file's own line is shown under its name.
        assert!(out.contains("fn h(): Int = 1"), "{out}");
        let v = json(&[d], &source);
        assert_eq!(v[0]["file"], "bad\u{1b}[2Jz.xop", "{v}");
        assert_eq!(v[0]["secondary"][0]["file"], "x\ny.xop", "{v}");
    }

    /// A block of another file is headed by its label's line and column when characters of
    /// more than one byte come before the label, in that file and in the main one, whole or
    /// cut to a window: ariadne 0.6, given byte offsets, took the label's character offset for
    /// a byte offset there, naming the wrong column or panicking inside a character.
    #[test]
    fn headers_of_other_files_count_characters_of_many_bytes() {
        use crate::span::Span;
        let a = "module k\n// ééé\nfn g(): Int =\n";
        let long = format!("// {}\n", "é".repeat(3 * LONG_LINE));
        for b in [
            "module j\n// ééééééééé ééé\nfn h(): Int = 1\n".to_string(),
            format!("module j\n// é\nfn h(): Int = 1 // {long}"),
        ] {
            let (fa, fb): (std::sync::Arc<str>, std::sync::Arc<str>) =
                (std::sync::Arc::from("a.xop"), std::sync::Arc::from("b.xop"));
            let at = b.find("h()").expect("h");
            let main = a.len() - 1;
            let d = Diagnostic::error("E0101", &fa, Span::new(main, main), "expected")
                .with_secondary(&fb, Span::new(at, at + 1), "h here");
            let texts = [(fa.to_string(), a.to_string()), (fb.to_string(), b.clone())];
            let source = |name: &str| {
                texts
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, t)| t.clone())
            };
            let out = human(std::slice::from_ref(&d), &source, false);
            let want = |t: &str, offset: usize| {
                let p = position(t, offset);
                format!("{}:{}", p.line, p.column)
            };
            assert!(out.contains(&format!("a.xop:{}", want(a, main))), "{out}");
            assert!(out.contains(&format!("b.xop:{}", want(&b, at))), "{out}");
            assert_eq!(want(&b, at), "3:4");
            assert!(out.contains("fn h(): Int = 1"), "{out}");
        }
    }

    /// JSON gives every secondary label a start and an end position, in its own file, as the
    /// main location has.
    #[test]
    fn json_secondary_labels_have_positions() {
        use crate::span::Span;
        let (a, b) = (
            "module a\nfn f(): Int = g\n",
            "module b\n\n  fn g(): Int = 1\n",
        );
        let (fa, fb) = (std::sync::Arc::from("a.xop"), std::sync::Arc::from("b.xop"));
        let at = a.find('g').unwrap();
        let g = b.find('g').unwrap();
        let d = Diagnostic::error("E0201", &fa, Span::new(at, at + 1), "m").with_secondary(
            &fb,
            Span::new(g, g + 1),
            "declared here",
        );
        let source = |p: &str| Some(if p == "a.xop" { a } else { b }.to_string());
        let v = json(std::slice::from_ref(&d), &source);
        let second = &v[0]["secondary"][0];
        assert_eq!(second["file"], "b.xop", "{v}");
        assert_eq!(
            second["start"],
            serde_json::json!({"line": 3, "column": 6}),
            "{v}"
        );
        assert_eq!(
            second["end"],
            serde_json::json!({"line": 3, "column": 7}),
            "{v}"
        );
        assert_eq!(
            v[0]["start"],
            serde_json::json!({"line": 2, "column": 15}),
            "{v}"
        );
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("ab\ncé d", 7), Position { line: 2, column: 4 });
        assert_eq!(position("x", 99), Position { line: 1, column: 2 });
    }
}

#[cfg(test)]
mod line_tests {
    use super::{COUNTED, Lines, json, position};
    use crate::diagnostic::Diagnostic;
    use crate::span::CHECKPOINT;
    use crate::span::Span;

    /// Texts whose lines are long (past the checkpoints) and hold characters of every length
    /// in bytes, tabs, CRLF and lone `\r` line breaks, with and without a byte-order mark.
    fn long_texts() -> Vec<String> {
        let piece = "ab\té 😀 ∀x ";
        let long = piece.repeat(3 * CHECKPOINT / piece.len() + 7);
        let body = format!("{long}\r\nshort\r\n{long}\r{long}\n\n😀{long}é");
        vec![
            body.clone(),
            format!("\u{feff}{body}"),
            format!("\u{feff}{long}"),
        ]
    }

    #[test]
    fn lines_give_the_positions_of_a_scan() {
        let text = "a\nbé\n\n  ∀x\nlast";
        let lines = Lines::new(text);
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                lines.position(text, offset),
                position(text, offset),
                "offset {offset}"
            );
        }
    }

    /// Columns far into long lines, counted from the checkpoints, are those of a scan from the
    /// start, at every offset (character boundaries or not), in any order.
    #[test]
    fn lines_give_the_positions_of_a_scan_on_long_lines() {
        for text in long_texts() {
            let lines = Lines::new(&text);
            for offset in (0..=text.len() + 1).rev() {
                assert_eq!(
                    lines.position(&text, offset),
                    position(&text, offset),
                    "offset {offset}"
                );
            }
        }
    }

    /// JSON positions of diagnostics are those of [`position`], in every file, and each file's
    /// text is asked for once however many diagnostics it holds.
    #[test]
    fn json_locates_every_diagnostic_as_a_scan_does_asking_for_each_file_once() {
        let texts = long_texts();
        let names: Vec<std::sync::Arc<str>> = (0..texts.len())
            .map(|i| std::sync::Arc::from(format!("f{i}.xop")))
            .collect();
        let mut diags = Vec::new();
        for (text, name) in texts.iter().zip(&names) {
            let bounds: Vec<usize> = (0..=text.len())
                .filter(|&i| text.is_char_boundary(i))
                .step_by(13)
                .collect();
            for pair in bounds.windows(2) {
                let other = &names[(diags.len() + 1) % names.len()];
                diags.push(
                    Diagnostic::error("E0201", name, Span::new(pair[0], pair[1]), "m")
                        .with_secondary(other, Span::new(pair[1], pair[1]), "here"),
                );
            }
        }
        // A diagnostic in a file the source does not know is at the start of an empty text.
        diags.push(Diagnostic::error(
            "E0201",
            &std::sync::Arc::from("gone.xop"),
            Span::new(4, 9),
            "m",
        ));
        let asked = std::cell::Cell::new(0);
        let source = |file: &str| {
            asked.set(asked.get() + 1);
            let i = names.iter().position(|n| &**n == file)?;
            Some(texts[i].clone())
        };
        let v = json(&diags, &source);
        assert_eq!(asked.get(), names.len() + 1, "each file asked for once");
        let at = |file: &str, offset: usize| {
            let text = names
                .iter()
                .position(|n| &**n == file)
                .map_or("", |i| texts[i].as_str());
            serde_json::to_value(position(text, offset)).unwrap()
        };
        for (value, d) in v.as_array().unwrap().iter().zip(&diags) {
            assert_eq!(value["start"], at(&d.file, d.span.start()), "{value}");
            assert_eq!(value["end"], at(&d.file, d.span.end()), "{value}");
            for (label, l) in value["secondary"]
                .as_array()
                .unwrap()
                .iter()
                .zip(&d.secondary)
            {
                assert_eq!(label["start"], at(&l.file, l.span.start()), "{label}");
                assert_eq!(label["end"], at(&l.file, l.span.end()), "{label}");
            }
        }
        assert_eq!(v.as_array().unwrap().len(), diags.len());
    }

    /// Locating many offsets on one long line counts each byte a bounded number of times,
    /// not once per offset before it.
    #[test]
    fn many_positions_on_one_long_line_are_linear() {
        let text = "x é 😀 ".repeat(40_000);
        let lines = Lines::new(&text);
        let offsets: Vec<usize> = (0..text.len())
            .filter(|&i| text.is_char_boundary(i))
            .step_by(7)
            .collect();
        COUNTED.with(|n| n.set(0));
        for &offset in &offsets {
            lines.position(&text, offset);
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

#[cfg(test)]
mod window_tests {
    use super::{AROUND, LONG_LINE, human, position};
    use crate::diagnostic::Diagnostic;
    use crate::span::Span;

    /// The header of each report in `out` (`file:line:column`), in order.
    fn headers(out: &str) -> Vec<String> {
        out.lines()
            .filter_map(|l| {
                let l = super::strip_ansi(l);
                let r = l
                    .trim_start()
                    .strip_prefix("╭─[ ")
                    .or_else(|| l.trim_start().strip_prefix("├─[ "))?;
                Some(r.trim_end().strip_suffix(" ]")?.to_string())
            })
            .collect()
    }

    /// Where the first label's underline of a report starts, in characters of its source line
    /// as shown, and the text shown from there: the source line is the first line with `│`
    /// after the header's, the underline the next.
    fn underlined(report: &str) -> (usize, String) {
        let lines: Vec<&str> = report.lines().collect();
        let source = lines
            .iter()
            .position(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
            .expect("a source line");
        let bar = lines[source].find('│').expect("margin") + '│'.len_utf8();
        let text: Vec<char> = lines[source][bar..].chars().collect();
        let marks: Vec<char> = lines[source + 1][bar..].chars().collect();
        let at = marks
            .iter()
            .position(|&c| c == '─' || c == '┬')
            .expect("an underline");
        (at, text[at..].iter().collect())
    }

    /// A line of a megabyte with diagnostics at its start, middle and end: each report shows
    /// a few hundred characters of it (around the name it points at, with `…` where cut), the
    /// header gives the true line and column, and the underline is under the name.
    #[test]
    fn a_long_line_is_shown_around_its_labels() {
        let filler = "é x 𝕏 + ".repeat(1_000_000 / 12);
        let text = format!("module m\nfn f(): Int = first + {filler} + middle + {filler} + last\n");
        let file = std::sync::Arc::from("t.xop");
        let diags: Vec<Diagnostic> = ["first", "middle", "last"]
            .iter()
            .map(|name| {
                let at = text.find(name).unwrap();
                Diagnostic::error("E0205", &file, Span::new(at, at + name.len()), *name)
                    .with_label("not found")
            })
            .collect();
        let out = human(&diags, &|_| Some(text.clone()), false);
        assert!(
            out.len() < 3 * 8 * (2 * AROUND + 200),
            "{} bytes",
            out.len()
        );
        let want: Vec<String> = diags
            .iter()
            .map(|d| {
                let p = position(&text, d.span.start());
                format!("t.xop:{}:{}", p.line, p.column)
            })
            .collect();
        assert_eq!(headers(&out), want);
        for (report, d) in out.split("[E0205]").skip(1).zip(&diags) {
            let (at, shown) = underlined(report);
            assert!(shown.starts_with(&d.message), "{report}");
            // The cut is marked where the line is cut, and nowhere else.
            let line = report.lines().nth(3).unwrap();
            assert_eq!(
                line.matches('…').count(),
                if d.message == "middle" { 2 } else { 1 },
                "{line}"
            );
            // After the margin's space and a `…`, at most AROUND characters before the name.
            assert!(at <= AROUND + 2, "{at}: {report}");
            assert!(report.contains(" 2 │ "), "{report}");
        }
    }

    /// A long line far down a file, in colour, with a label spanning from before it to a
    /// second long line and a secondary label in another file's long line: line numbers
    /// (margin and header) stay those of the whole text, every header's column is the true
    /// one, and the output stays small.
    #[test]
    fn line_numbers_and_headers_stay_true_around_windows() {
        let long = "x".repeat(3 * LONG_LINE);
        let short_lines = "// a line\n".repeat(998);
        let a = format!("module m\n{short_lines}fn f(): Int = {long} + nosuch\r\n{long}😀 end\n");
        let b = format!("\u{feff}module n\n{long} é target {long}\n");
        let (fa, fb) = (std::sync::Arc::from("a.xop"), std::sync::Arc::from("b.xop"));
        let at = a.find("nosuch").unwrap();
        let end = a.find(" end").unwrap();
        let target = b.find("target").unwrap();
        let d = Diagnostic::error("E0205", &fa, Span::new(at, end), "spans two lines")
            .with_label("here")
            .with_secondary(&fb, Span::new(target, target + 6), "there");
        let source = |f: &str| Some(if f == "a.xop" { a.clone() } else { b.clone() });
        for color in [false, true] {
            let out = human(std::slice::from_ref(&d), &source, color);
            assert!(out.len() < 8 * 8 * AROUND, "{} bytes", out.len());
            let (pa, pb) = (position(&a, at), position(&b, target));
            assert_eq!(pa.line, 1000);
            assert_eq!(
                headers(&out),
                vec![
                    format!("a.xop:{}:{}", pa.line, pa.column),
                    format!("b.xop:{}:{}", pb.line, pb.column),
                ],
                "{out}"
            );
            let plain = super::strip_ansi(&out);
            // The label of two lines is drawn from the margin.
            assert!(plain.contains("1000 │ ╭─▶ …"), "{plain}");
            assert!(
                plain.contains("1001 │ ├─▶ …") && plain.contains("😀 end"),
                "{plain}"
            );
            assert!(
                plain.contains("   2 │ …") && plain.contains(" é target "),
                "{plain}"
            );
        }
    }

    /// The copy of a window far down a text starts at the window's first line: it costs the
    /// lines shown, not the lines above them (a report on a long line at the end of a file of
    /// millions of lines once copied and indexed an empty line for each, per report).
    #[test]
    fn a_window_holds_only_the_lines_it_shows() {
        let long = "x".repeat(3 * LONG_LINE);
        let text = format!(
            "{}fn f(): Int = {long} + nosuch\n{long} end\n",
            "// c\n".repeat(50_000)
        );
        let lines = super::Lines::new(&text);
        let (at, end) = (text.find("nosuch").unwrap(), text.find(" end").unwrap());
        let window = super::Window::new(&text, &lines, &[at, end], at).expect("a long line");
        assert_eq!(window.above, 50_000);
        assert_eq!(window.text.lines().count(), 2, "{:?}", &window.text[..80]);
        assert!(
            window.text.len() < 8 * AROUND,
            "{} bytes",
            window.text.len()
        );
        let file = std::sync::Arc::from("t.xop");
        let d = Diagnostic::error("E0205", &file, Span::new(at, end), "m").with_label("here");
        let out = human(std::slice::from_ref(&d), &|_| Some(text.clone()), false);
        let p = position(&text, at);
        assert_eq!((p.line, p.column), (50_001, 3 * LONG_LINE + 18));
        assert_eq!(
            headers(&out),
            vec![format!("t.xop:{}:{}", p.line, p.column)]
        );
        assert!(out.contains("\n 50001 │ ╭─▶ …"), "{out}");
        assert!(out.contains("\n 50002 │ ├─▶ …"), "{out}");
        assert!(out.contains("\n───────╯"), "{out}");
    }

    /// Reports on windows whose lines are numbered across a power of ten, with labels of
    /// several lines, empty labels at a line's start, secondary labels above and below and in
    /// other files (windowed or not, with more lines or fewer), notes, helps and messages of
    /// several lines, in both colourings: the output is the one ariadne gives when it numbers
    /// the lines itself (each window given after an empty line for each line above it).
    #[test]
    fn windows_are_numbered_as_ariadne_numbers_the_whole_text() {
        let long = "y".repeat(LONG_LINE + 5);
        let file = |n: usize, long_at: &[usize]| {
            let mut text = String::from("module m\n");
            for i in 2..=n {
                match long_at.contains(&i) {
                    true => text.push_str(&format!("fn f{i}(): Int = {long} + n{i}\n")),
                    false => text.push_str(&format!("// c{i}\n")),
                }
            }
            text
        };
        let mut cases = 0;
        for n in [3, 9, 10, 11, 12, 99, 100, 101, 1000, 1001] {
            let (a, b) = (std::sync::Arc::from("a.xop"), std::sync::Arc::from("b.xop"));
            let ta = file(n + 1, &[n - 1, n, n + 1]);
            let tb = file(120, &[5, 100]);
            let name = |t: &str, i: usize| {
                let at = t.find(&format!(" n{i}\n")).unwrap() + 1;
                Span::new(at, at + format!("n{i}").len())
            };
            let start = |t: &str, i: usize| {
                let at = t.find(&format!("fn f{i}(")).unwrap();
                Span::new(at, at)
            };
            let (at, below) = (name(&ta, n), name(&ta, n + 1));
            let diags = vec![
                Diagnostic::error("E0205", &a, at, "one").with_label("here"),
                Diagnostic::error(
                    "E0205",
                    &a,
                    Span::new(name(&ta, n - 1).start(), below.end()),
                    "two\nlines",
                )
                .with_label("from\nhere")
                .with_note("a note\nof two lines")
                .with_help("a help"),
                Diagnostic::error("E0205", &a, start(&ta, n), "empty").with_label("at the start"),
                Diagnostic::error(
                    "E0205",
                    &a,
                    Span::new(at.start(), start(&ta, n + 1).start()),
                    "to the break",
                )
                .with_label("ends with its line"),
                Diagnostic::error("E0205", &a, at, "below")
                    .with_secondary(&a, below, "below")
                    .with_secondary(&a, start(&ta, n + 1), "empty below"),
                Diagnostic::error("E0205", &a, at, "empty after").with_secondary(
                    &a,
                    start(&ta, n + 1),
                    "at the next line's start",
                ),
                Diagnostic::error("E0205", &a, below, "above").with_secondary(&a, at, "above"),
                Diagnostic::error("E0205", &a, at, "far")
                    .with_secondary(&b, name(&tb, 100), "windowed")
                    .with_secondary(&b, name(&tb, 5), "windowed above")
                    .with_secondary(&b, Span::new(0, 6), "whole"),
                Diagnostic::error("E0205", &b, Span::new(0, 6), "whole first").with_secondary(
                    &a,
                    at,
                    "then a window",
                ),
                Diagnostic::warning("W0201", &a, Span::new(0, 6), "plain").with_label("no window"),
            ];
            let source = |f: &str| Some(if f == "a.xop" { ta.clone() } else { tb.clone() });
            for color in [false, true] {
                for d in &diags {
                    let one = std::slice::from_ref(d);
                    let want = super::render(one, &source, color, true);
                    assert_eq!(human(one, &source, color), want, "line {n}, color {color}");
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 10 * 2 * 10);
    }

    /// A line of exactly [`LONG_LINE`] characters is shown whole, as every line was; one more
    /// character and it is cut.
    #[test]
    fn lines_up_to_the_limit_are_shown_whole() {
        let file = std::sync::Arc::from("t.xop");
        for (len, whole) in [(LONG_LINE, true), (LONG_LINE + 1, false)] {
            let body = "é".repeat(len - "fn f(): Int = nosuch".len());
            let text = format!("fn f(): Int = nosuch{body}\n");
            let at = text.find("nosuch").unwrap();
            let d = Diagnostic::error("E0205", &file, Span::new(at, at + 6), "m");
            let out = human(std::slice::from_ref(&d), &|_| Some(text.clone()), false);
            assert_eq!(
                out.contains(&format!("1 │ {}", text.trim_end())),
                whole,
                "{len}"
            );
            assert_eq!(out.contains('…'), !whole, "{len}");
        }
    }

    /// A message (and a help) quoting a name of a megabyte is shown cut to its first and last
    /// characters; a message line up to the limit is shown whole.
    #[test]
    fn long_message_lines_are_cut() {
        let name = "n".repeat(1_000_000);
        let text = format!("fn f(): Int = {name}\n");
        let file = std::sync::Arc::from("t.xop");
        let d = Diagnostic::error(
            "E0205",
            &file,
            Span::new(14, 14 + name.len()),
            format!("cannot find `{name}`"),
        )
        .with_help(format!("declare `{name}`\nor import it"));
        let out = human(std::slice::from_ref(&d), &|_| Some(text.clone()), false);
        assert!(out.len() < 16 * (2 * AROUND + 200), "{} bytes", out.len());
        let cut = format!(
            "cannot find `{}…{}`",
            &name[..AROUND - 13],
            &name[..AROUND - 1]
        );
        assert!(out.contains(&cut), "{out}");
        assert!(out.contains("or import it"), "{out}");
        let fits = "m".repeat(LONG_LINE);
        let d = Diagnostic::error("E0205", &file, Span::new(0, 2), fits.clone());
        let out = human(std::slice::from_ref(&d), &|_| Some(text.clone()), false);
        assert!(out.contains(&fits), "{out}");
    }
}
