//! `redis-di monitor`: a small Prometheus exporter serving the text of RDI.METRICS at `/metrics`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::args::ConnectionArgs;
use crate::client::Rdi;
use crate::error::CliError;
use crate::reply::text;

/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read (the request line and headers).
const MAX_HEAD: usize = 16 * 1024;
/// The content type of the Prometheus text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A response: status line, content type, body.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    /// `200 OK`, `404 Not Found`...
    pub status: &'static str,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Response {
    fn plain(status: &'static str, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    fn bytes(&self, head_only: bool) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// Answers one request line (`GET /metrics HTTP/1.1`); `metrics` fetches the exposition text.
pub fn respond(request_line: &str, metrics: impl FnOnce() -> Result<String, CliError>) -> Response {
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split(['?', '#']).next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return Response::plain("405 Method Not Allowed", "only GET\n");
    }
    if path != "/metrics" {
        return Response::plain("404 Not Found", "not found: the metrics are at /metrics\n");
    }
    match metrics() {
        Ok(body) => Response {
            status: "200 OK",
            content_type: CONTENT_TYPE,
            body,
        },
        Err(e) => Response::plain("503 Service Unavailable", format!("{e}\n")),
    }
}

/// Reads the request head and returns its first line.
fn request_line(stream: &TcpStream) -> std::io::Result<String> {
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    let mut line = String::new();
    let mut read = 0;
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        read += n;
        if first.is_empty() {
            first = line.trim_end().to_string();
        }
        if n == 0 || line == "\r\n" || line == "\n" || read > MAX_HEAD {
            return Ok(first);
        }
    }
}

/// Serves scrapes one at a time until the process is stopped; reconnects to Redis when needed.
pub fn run(conn: &ConnectionArgs, bind: &str, port: u16) -> Result<(), CliError> {
    let listener = TcpListener::bind((bind, port))
        .map_err(|e| CliError::Usage(format!("cannot listen on {bind}:{port}: {e}")))?;
    // Check the server now, so that a wrong address fails at start rather than at the first scrape.
    let mut rdi = Some(Rdi::connect(conn)?);
    println!("serving RDI.METRICS at http://{bind}:{port}/metrics (Ctrl-C to stop)");
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Ok(line) = request_line(&stream) else {
            continue;
        };
        let response = respond(&line, || {
            let client = match rdi.as_mut() {
                Some(c) => c,
                None => rdi.insert(Rdi::connect(conn)?),
            };
            let result = client.call(&["RDI.METRICS"]).map(|v| text(&v));
            if matches!(result, Err(CliError::Io(_))) {
                rdi = None;
            }
            result
        });
        let _ = stream.write_all(&response.bytes(line.starts_with("HEAD ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_served_as_prometheus_text() {
        let r = respond(
            "GET /metrics HTTP/1.1",
            || Ok("rdi_engine_state 1\n".into()),
        );
        assert_eq!(r.status, "200 OK");
        assert_eq!(r.content_type, CONTENT_TYPE);
        assert_eq!(r.body, "rdi_engine_state 1\n");
        let bytes = String::from_utf8(r.bytes(false)).unwrap();
        assert!(bytes.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(bytes.contains("Content-Length: 19\r\n"));
        assert!(bytes.ends_with("\r\n\r\nrdi_engine_state 1\n"));
        assert!(String::from_utf8(r.bytes(true))
            .unwrap()
            .ends_with("\r\n\r\n"));
    }

    #[test]
    fn query_strings_are_ignored() {
        assert_eq!(
            respond("GET /metrics?x=1 HTTP/1.1", || Ok(String::new())).status,
            "200 OK"
        );
    }

    #[test]
    fn other_paths_are_not_found() {
        let r = respond("GET / HTTP/1.1", || unreachable!("no scrape for /"));
        assert_eq!(r.status, "404 Not Found");
        assert_eq!(
            respond("GET /metricsx HTTP/1.1", || Ok(String::new())).status,
            "404 Not Found"
        );
        assert_eq!(
            respond("", || Ok(String::new())).status,
            "405 Method Not Allowed"
        );
    }

    #[test]
    fn a_failing_server_gives_503_with_the_reason() {
        let r = respond("GET /metrics HTTP/1.0", || {
            Err(CliError::Server("ERR nope".into()))
        });
        assert_eq!(r.status, "503 Service Unavailable");
        assert_eq!(r.body, "ERR nope\n");
    }
}
