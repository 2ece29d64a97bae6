//! RabbitMQ's management API on loopback, through reqwest's blocking client.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Method;
use reqwest::blocking::Client;

/// How long one request may take before the server counts as not answering.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Sends `method path` to `addr` as `user:password`.
pub fn request(
    method: Method,
    addr: SocketAddr,
    path: &str,
    (user, password): (&str, &str),
) -> Result<Response> {
    let what = format!("{method} {path} on {addr}");
    let response = Client::builder()
        .timeout(TIMEOUT)
        .build()?
        .request(method, format!("http://{addr}{path}"))
        .basic_auth(user, Some(password))
        .send()
        .with_context(|| format!("no answer to {what}"))?;
    let status = response.status().as_u16();
    let body = response
        .text()
        .with_context(|| format!("no full answer to {what}"))?;
    Ok(Response { status, body })
}

/// Percent-encodes one path segment (a vhost such as `/` becomes `%2F`).
pub fn encode_segment(segment: &str) -> String {
    utf8_percent_encode(segment, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_segment_escapes_what_would_split_a_path() {
        assert_eq!(encode_segment("/"), "%2F");
        assert_eq!(encode_segment("a b"), "a%20b");
        assert_eq!(encode_segment("t_ab12"), "t%5Fab12");
    }
}
