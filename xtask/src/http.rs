//! Just enough HTTP for RabbitMQ's management API on loopback.
//!
//! xtask's few requests (a health probe, listing and deleting test leftovers) don't justify an
//! HTTP client crate and its async runtime: an HTTP/1.0 request on a plain `TcpStream` is enough,
//! and HTTP/1.0 means the server closes the connection after a body that is never chunked.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long one request may take before the server counts as not answering.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Sends `method path` to `addr` with the given basic-auth token (base64 of `user:password`).
pub fn request(method: &str, addr: SocketAddr, path: &str, basic_auth: &str) -> Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)
        .with_context(|| format!("could not connect to {addr}"))?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Basic {basic_auth}\r\n\
         Accept: application/json\r\nContent-Length: 0\r\n\r\n"
    )
    .with_context(|| format!("could not send {method} {path} to {addr}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("no full answer to {method} {path} from {addr}"))?;
    parse(&raw).with_context(|| format!("bad answer to {method} {path} from {addr}"))
}

fn parse(raw: &[u8]) -> Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let Some(status) = status_line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
    else {
        bail!("not an HTTP status line: {status_line:?}");
    };
    Ok(Response {
        status,
        body: body.to_owned(),
    })
}

/// Percent-encodes one path segment (a vhost such as `/` becomes `%2F`).
pub fn encode_segment(segment: &str) -> String {
    segment
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_status_and_body() {
        let response =
            parse(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{}").unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, "{}");
    }

    #[test]
    fn parse_rejects_what_is_not_http() {
        assert!(parse(b"-ERR wrong protocol\r\n").is_err());
    }

    #[test]
    fn encode_segment_escapes_everything_but_unreserved_characters() {
        assert_eq!(encode_segment("/"), "%2F");
        assert_eq!(encode_segment("t_ab12.x~-"), "t_ab12.x~-");
        assert_eq!(encode_segment("a b"), "a%20b");
    }
}
