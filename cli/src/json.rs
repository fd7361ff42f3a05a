//! JSON as the CLI prints it: serde_json's text with every non-ASCII character that shows
//! nothing written as a `\u` escape.
//!
//! serde_json escapes the ASCII controls but leaves the rest as it is, so a reason or a
//! signal value holding U+202E (right-to-left override) or a zero-width character would reach
//! the terminal of whoever reads the output, where it can make the text read otherwise
//! ("Trojan Source"). An escape is the same string to every JSON reader, so programs still
//! read every text exactly.

use serde::Serialize;

/// `value` as indented JSON, characters that show nothing escaped.
pub(crate) fn pretty(value: &impl Serialize) -> String {
    // Serialising values built from strings and numbers cannot fail.
    escape_invisible(serde_json::to_string_pretty(value).unwrap_or_default())
}

/// `value` as one line of JSON, characters that show nothing escaped.
pub(crate) fn compact(value: &impl Serialize) -> String {
    escape_invisible(serde_json::to_string(value).unwrap_or_default())
}

/// Writes each non-ASCII invisible character of serde_json's output as `\uXXXX` (a surrogate
/// pair above U+FFFF). Outside its strings JSON text is ASCII, so every such character is
/// inside a string, where the escape means the same character.
fn escape_invisible(text: String) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii() || !xop_compiler::format::invisible(c))
    {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if !c.is_ascii() && xop_compiler::format::invisible(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bidirectional controls, zero-width and tag characters (one above U+FFFF) and C1
    /// controls are escaped, visible text is not, and the JSON reads back to the same string.
    #[test]
    fn invisible_characters_are_escaped_and_read_back_exactly() {
        let text = "ok\u{202e}gnp.exe \u{200b}\u{85}\u{e0041} 日本 é";
        let json = compact(&serde_json::json!({ "reason": text }));
        assert_eq!(
            json,
            r#"{"reason":"ok\u202egnp.exe \u200b\u0085\udb40\udc41 日本 é"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["reason"], text);
        let pretty = pretty(&serde_json::json!([text]));
        assert!(
            pretty.contains("\\u202e") && pretty.contains('\n'),
            "{pretty}"
        );
        assert_eq!(
            serde_json::from_str::<Vec<String>>(&pretty).unwrap(),
            [text]
        );
    }
}
