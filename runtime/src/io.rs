//! How I/O errors are worded in messages: every tool of XOP names the file, then the reason
//! as a short lowercase phrase (`cannot read `x.json`: no such file or directory`).

use std::io;

/// An I/O error as a short lowercase phrase, without Rust's `(os error N)` suffix.
pub fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        io::ErrorKind::IsADirectory => "is a directory".to_string(),
        _ => {
            let text = e.to_string();
            let text = match text.find(" (os error ") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short_and_lowercase() {
        let missing = std::fs::read("/nonexistent/xop-io-test").unwrap_err();
        assert_eq!(reason(&missing), "no such file or directory");
        let other = io::Error::from_raw_os_error(28); // ENOSPC
        assert_eq!(reason(&other), "no space left on device");
        let custom = io::Error::other("Disk on fire");
        assert_eq!(reason(&custom), "disk on fire");
    }
}
