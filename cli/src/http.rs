//! A minimal HTTP/1.1 client for `xop review approve|reject --server URL`: one request per
//! connection over plain TCP. The CLI talks to an `xop serve` on the same host or network;
//! `https://` goes through a TLS-terminating proxy that this client does not speak, so it is
//! refused with a message rather than sent in clear.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A parsed `http://host[:port][/base]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The host as written (name, IPv4, or `[IPv6]`).
    pub host: String,
    /// The port (80 when not written).
    pub port: u16,
    /// A path prefix without a trailing slash (empty for none).
    pub base: String,
}

impl Url {
    /// Parses `text`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = if let Some(r) = text.strip_prefix("http://") {
            r
        } else if text.starts_with("https://") {
            return Err(format!(
                "`{text}`: this client speaks plain HTTP only; give the server's own address \
                 (e.g. http://127.0.0.1:8080, `xop serve --listen`), on the host or over an SSH \
                 tunnel, so that the token does not cross a network in clear"
            ));
        } else {
            return Err(format!(
                "`{text}` is not a URL like http://127.0.0.1:8080 (the `xop serve` address)"
            ));
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(format!(
                "`{text}`: give a host and port, like http://127.0.0.1:8080"
            ));
        }
        // `[::1]:8080`, `host:8080`, `host`.
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                let port = authority[i + 1..]
                    .parse::<u16>()
                    .map_err(|_| format!("`{text}`: the port is not a number from 0 to 65535"))?;
                (&authority[..i], port)
            }
            _ => (authority, 80),
        };
        if host.is_empty() || base.contains(['?', '#', ' ']) {
            return Err(format!("`{text}`: give a URL like http://127.0.0.1:8080"));
        }
        Ok(Url {
            host: host.to_string(),
            port,
            base: base.to_string(),
        })
    }

    /// Whether the host is this machine (the token then never leaves it).
    pub fn is_loopback(&self) -> bool {
        matches!(
            self.host.as_str(),
            "localhost" | "[::1]" | "::1" | "127.0.0.1"
        ) || self.host.starts_with("127.")
    }
}

/// Percent-encodes a path segment (anything but unreserved characters), so that a case id can
/// never change the request's path or headers.
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends `POST url.base + path` with a JSON body and a bearer token; returns the status and
/// the body. Errors are connection and protocol failures, said plainly.
pub fn post_json(url: &Url, path: &str, token: &str, body: &str) -> Result<(u16, String), String> {
    // `[::1]:8080` keeps its brackets: that is the form `to_socket_addrs` parses.
    let addr = format!("{}:{}", url.host, url.port);
    let target = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve `{}`: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("cannot resolve `{}`", url.host))?;
    let server = format!("http://{}:{}", url.host, url.port);
    let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(10))
        .map_err(|e| format!("cannot reach `xop serve` at {server}: {e}"))?;
    let timeout = Some(Duration::from_secs(60));
    let _ = s.set_read_timeout(timeout);
    let _ = s.set_write_timeout(timeout);
    if token.contains(['\r', '\n']) {
        return Err("the token contains a line break".into());
    }
    let request = format!(
        "POST {}{path} HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        url.base,
        url.host,
        url.port,
        body.len()
    );
    s.write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request to {server}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("no answer from {server}: {e}"))?;
    parse_response(&raw).ok_or_else(|| format!("{server} did not answer in HTTP/1.1"))
}

/// Status and body of a complete HTTP/1.1 response (`Content-Length`, chunked, or up to the
/// end of the connection).
fn parse_response(raw: &[u8]) -> Option<(u16, String)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()?
        .strip_prefix("HTTP/1.")?
        .get(2..5)?
        .parse::<u16>()
        .ok()?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        let (k, v) = l.split_once(':')?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else {
        match length {
            Some(n) => body.get(..n)?.to_vec(),
            None => body.to_vec(),
        }
    };
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.base.as_str()),
            ("127.0.0.1", 8080, "")
        );
        assert!(u.is_loopback());
        let u = Url::parse("http://reviews.example/xop/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.base.as_str()),
            ("reviews.example", 80, "/xop")
        );
        assert!(!u.is_loopback());
        let u = Url::parse("http://[::1]:9").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 9));
        assert!(u.is_loopback());
        // The address `post_json` resolves, for each form of host.
        for u in ["http://[::1]:9", "http://127.0.0.1:9", "http://localhost:9"] {
            let u = Url::parse(u).unwrap();
            assert!(
                format!("{}:{}", u.host, u.port).to_socket_addrs().is_ok(),
                "{u:?}"
            );
        }
        for bad in [
            "https://x",
            "x:80",
            "http://",
            "http://a:b",
            "http://u@h:1",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
        assert!(Url::parse("https://x").unwrap_err().contains("plain HTTP"));
    }

    #[test]
    fn segments_and_responses() {
        assert_eq!(segment("rv-12"), "rv-12");
        assert_eq!(segment("a/b c\r\n"), "a%2Fb%20c%0D%0A");
        let r = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_response(r), Some((200, "{}".into())));
        let r = b"HTTP/1.1 409 Conflict\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n2\r\n\"}\r\n0\r\n\r\n";
        assert_eq!(parse_response(r), Some((409, "{\"a\"}".into())));
        assert_eq!(parse_response(b"garbage"), None);
        assert_eq!(parse_response(b"HTTP/1.1 2\r\n\r\n"), None);
    }
}
