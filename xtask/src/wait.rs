//! Waiting for something to come up: poll with a deadline, never a fixed sleep.

use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// How long one TCP connect may take on loopback before the port counts as closed.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Polls `check` until it says `true`, failing after `deadline`. `check` may also fail outright
/// when waiting longer cannot help (a server that rejects our credentials, a process that died).
pub fn until(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let started = Instant::now();
    // Short at first, because a local server is often only a moment away; longer later, so a
    // slow boot doesn't cost a busy loop.
    let mut interval = Duration::from_millis(20);
    loop {
        if check()? {
            return Ok(());
        }
        let elapsed = started.elapsed();
        if elapsed >= deadline {
            bail!("timed out after {deadline:?} waiting for {what}");
        }
        thread::sleep(interval.min(deadline - elapsed));
        interval = (interval * 2).min(Duration::from_millis(500));
    }
}

/// True when something accepts TCP connections at `addr`.
pub fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn until_returns_as_soon_as_the_check_passes() {
        let mut calls = 0;
        until("the third call", Duration::from_secs(5), || {
            calls += 1;
            Ok(calls == 3)
        })
        .unwrap();
        assert_eq!(calls, 3);
    }

    #[test]
    fn until_fails_with_what_it_waited_for_after_the_deadline() {
        let error = until("nothing", Duration::from_millis(50), || Ok(false)).unwrap_err();
        assert!(error.to_string().contains("waiting for nothing"), "{error}");
    }

    #[test]
    fn port_open_tells_a_listening_port_from_a_closed_one() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(port_open(addr));
        drop(listener);
        assert!(!port_open(addr));
    }
}
