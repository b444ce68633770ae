//! HTTP/1.1 over a plain TCP socket: what a device needs to post DM messages (OMA-TS-DM_RepPro
//! HTTP binding: `POST`, `Content-Type: application/vnd.syncml.dm+xml` or `+wbxml`, optional
//! `x-syncml-hmac`), and what the conformance suite needs to call the admin API.
//!
//! One request per connection (`Connection: close`), so every exchange is visible as exactly
//! the bytes written and read. Responses with `Content-Length`, chunked bodies or bodies ended
//! by the close are all read. Only `http://` URLs: put a TLS-terminating proxy in front of a
//! server that only speaks HTTPS.

use std::time::Duration;

use omadm_protocol::Encoding;
use omadm_protocol::auth::hmac::HEADER_NAME as HMAC_HEADER;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted, in bytes (far above any DM message).
pub const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// Why an exchange failed below HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Not an `http://host[:port]/path` URL.
    #[error("unsupported URL {0:?}: only http://host[:port]/path is supported")]
    BadUrl(String),
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(String),
    /// No complete answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The answer is not HTTP/1.x.
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
}

/// An HTTP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// `POST`, `GET`, ...
    pub method: String,
    /// `http://host:port/path?query`.
    pub url: String,
    /// Extra headers (Host, Content-Length and Connection are added).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A DM message: `POST` with the content type of `encoding` and, when given, the
    /// `x-syncml-hmac` header value.
    pub fn dm(url: &str, encoding: Encoding, hmac: Option<String>, body: Vec<u8>) -> HttpRequest {
        let mut headers = vec![("Content-Type".to_owned(), encoding.content_type().to_owned())];
        if let Some(h) = hmac {
            headers.push((HMAC_HEADER.to_owned(), h));
        }
        HttpRequest { method: "POST".into(), url: url.to_owned(), headers, body }
    }
}

/// An HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers in order, names as received.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// `host:port` and `/path?query` of an `http://` URL.
pub fn split_url(url: &str) -> Result<(String, String), TransportError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| TransportError::BadUrl(url.to_owned()))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_owned()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_owned()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(TransportError::BadUrl(url.to_owned()));
    }
    let authority = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    Ok((authority, path))
}

fn io(e: std::io::Error) -> TransportError {
    TransportError::Io(e.to_string())
}

fn head_bytes(req: &HttpRequest, authority: &str, path: &str) -> Vec<u8> {
    let mut head = format!(
        "{} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        req.method,
        req.body.len()
    );
    for (n, v) in &req.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Send `req` and read the whole answer, within `timeout`.
pub async fn send(req: &HttpRequest, timeout: Duration) -> Result<HttpResponse, TransportError> {
    tokio::time::timeout(timeout, exchange(req)).await.map_err(|_| TransportError::Timeout(timeout))?
}

async fn exchange(req: &HttpRequest) -> Result<HttpResponse, TransportError> {
    let (authority, path) = split_url(&req.url)?;
    let mut s = TcpStream::connect(&authority).await.map_err(io)?;
    let _ = s.set_nodelay(true);
    s.write_all(&head_bytes(req, &authority, &path)).await.map_err(io)?;
    s.write_all(&req.body).await.map_err(io)?;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE {
            return Err(TransportError::Malformed(format!("response over {MAX_RESPONSE} bytes")));
        }
        // Stop as soon as a Content-Length body is complete (the server may keep the socket).
        if let Some(done) = complete_length(&raw)
            && raw.len() >= done
        {
            raw.truncate(done);
            break;
        }
    }
    parse_response(&raw)
}

/// Send `req`, wait until the answer starts to arrive (so the server has taken the message
/// in), then close the connection without reading it: the answer is lost, as when a radio
/// link drops. Gives up waiting after `timeout`.
pub async fn send_and_drop(req: &HttpRequest, timeout: Duration) -> Result<(), TransportError> {
    let (authority, path) = split_url(&req.url)?;
    let mut s = TcpStream::connect(&authority).await.map_err(io)?;
    s.write_all(&head_bytes(req, &authority, &path)).await.map_err(io)?;
    s.write_all(&req.body).await.map_err(io)?;
    let mut one = [0u8; 1];
    let _ = tokio::time::timeout(timeout, s.read(&mut one)).await;
    drop(s);
    Ok(())
}

/// The total length (head + body) of a response with Content-Length, once the head is in.
fn complete_length(raw: &[u8]) -> Option<usize> {
    let end = find(raw, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let len = head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
    })?;
    Some(end + 4 + len)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parse a complete HTTP/1.x response.
pub fn parse_response(raw: &[u8]) -> Result<HttpResponse, TransportError> {
    let bad = |m: &str| TransportError::Malformed(m.to_owned());
    let end = find(raw, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| bad("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    if !status_line.starts_with("HTTP/1.") {
        return Err(bad("not an HTTP/1.x status line"));
    }
    let status: u16 =
        status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("no status code"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    } else if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if body.len() < len {
            return Err(bad("body shorter than Content-Length"));
        }
        body.truncate(len);
    }
    Ok(HttpResponse { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let i = find(b, b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..i]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let n = usize::from_str_radix(size_text, 16).ok()?;
        if n == 0 {
            return Some(out);
        }
        let start = i + 2;
        out.extend_from_slice(b.get(start..start + n)?);
        b = b.get(start + n + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/dm?s=ab").unwrap(),
            ("127.0.0.1:8080".into(), "/dm?s=ab".into())
        );
        assert_eq!(split_url("http://example.com").unwrap(), ("example.com:80".into(), "/".into()));
        assert_eq!(split_url("http://h:1?x=1").unwrap(), ("h:1".into(), "/?x=1".into()));
        assert!(split_url("https://h/dm").is_err());
        assert!(split_url("http:///dm").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\nContent-Length: 3\r\n\r\nabcdef")
            .unwrap();
        assert_eq!((r.status, r.header("content-type"), r.body.as_slice()), (200, Some("a/b"), &b"abc"[..]));
        let r = parse_response(
            b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (400, &b"abcde"[..]));
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nuntil close").unwrap();
        assert_eq!(r.body, b"until close");
        assert!(parse_response(b"garbage").is_err());
        assert_eq!(complete_length(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"), Some(40));
    }
}
