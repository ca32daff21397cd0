//! Helpers of the tests of hostile senders and tenants: a small tenant's manifests, the
//! instance started on them with the flags a test wants, and raw HTTP/1.1 over TCP where a
//! test needs to hold a connection the way an attacker would.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::Instance;

/// The GitHub endpoint's secret.
pub const SECRET: &[u8] = b"dummy-github-webhook-secret";
/// The namespace's publisher token.
pub const TOKEN: &str = "good-publisher-token";

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: tenants}
---
apiVersion: v1
kind: Secret
metadata: {name: github-webhook, namespace: tenants, labels: {switchboard.dev/usable: "true"}}
stringData: {secret: dummy-github-webhook-secret}
---
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: tenants
  labels: {switchboard.dev/publisher-token: "true"}
stringData: {token: good-publisher-token}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: github, namespace: tenants}
spec:
  verify:
    scheme: GitHub
    secretRef: {name: github-webhook}
  eventType: {header: X-GitHub-Event, prefix: github}
  route: {publish: {}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: open, namespace: tenants}
spec:
  verify: {scheme: None}
  route: {publish: {eventType: open.received}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: to-loopback, namespace: tenants}
spec:
  verify: {scheme: None}
  route:
    forward: {url: "http://127.0.0.1:9/hook"}
"#;

/// Starts the binary on the tenant's manifests in `tmp` with `args`.
pub fn start(tmp: &Path, args: &[&str]) -> Instance {
    let manifests = tmp.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("tenant.yaml"), MANIFESTS).unwrap();
    Instance::start(&manifests, &tmp.join("data"), args)
}

/// The data plane's `host:port`.
pub fn data_addr(inst: &Instance) -> String {
    inst.data_url.trim_start_matches("http://").to_owned()
}

/// A connection to the data plane that gives up reading after 30 s (so a test fails rather
/// than hangs).
pub fn connect(inst: &Instance) -> TcpStream {
    let stream = TcpStream::connect(data_addr(inst)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// A request head with a body length.
pub fn head(method: &str, path: &str, headers: &[(&str, &str)], length: usize) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: switchboard\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    head
}

/// An answer read off a connection.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The head's lines after the status line, lower-cased.
    pub headers: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The value of a header, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.headers
            .iter()
            .find_map(|h| h.strip_prefix(&prefix).map(str::trim))
    }

    /// The JSON error code of the body.
    pub fn code(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap_or_default();
        v["error"]["code"].as_str().unwrap_or("").to_owned()
    }
}

/// Reads one answer (head and `Content-Length` body); None when the connection ends (or is
/// reset) before a whole head arrived.
pub fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<String> = lines.map(str::to_owned).collect();
    let length: usize = headers
        .iter()
        .find_map(|h| h.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some(Answer {
        status,
        headers,
        body,
    })
}

/// Reads until the peer closes the connection (end of stream or reset); returns how long
/// that took, or None when it stayed open for 30 s.
pub fn wait_closed(stream: &mut TcpStream) -> Option<Duration> {
    let started = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

/// Sends a whole request on `stream` and reads its answer.
pub fn exchange(stream: &mut TcpStream, request: &[u8]) -> Option<Answer> {
    stream.write_all(request).ok()?;
    read_answer(stream)
}

/// A POST of `body` to `path` on a fresh connection.
pub fn post(inst: &Instance, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut stream = connect(inst);
    let mut request = head("POST", path, headers, body.len()).into_bytes();
    request.extend_from_slice(body);
    exchange(&mut stream, &request).expect("an answer")
}
