//! Free TCP ports on 127.0.0.1 for the servers a test starts.

use std::net::TcpListener;

/// A port that was free a moment ago: the OS picks it, we release it for the server to bind.
///
/// Another process may take it in between; servers that fail with "address already in use" are
/// started again on a new port by their harness.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}
