//! Hostile senders over real HTTP with the real binary: whoever reaches the data plane is a
//! stranger, and what a connection costs before it is authenticated is bounded. Bodies that
//! trickle hold no endpoint slot and are cut by the body timeout; heads are due within the
//! header timeout; idle keep-alive connections are closed; connections are capped; request
//! bytes held at once are bounded (503 + Retry-After); the publish API checks the token
//! before it reads a byte of the body.

mod hostile_support;
mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hostile_support::{
    SECRET, TOKEN, connect, data_addr, exchange, head, post, read_answer, start, wait_closed,
};
use switchboard::signature::github;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EVENTS: &str = "/v1/namespaces/tenants/events";
const OPEN: &str = "/hooks/tenants/open";

/// A whole request to the endpoint without verification.
fn open_request() -> Vec<u8> {
    let mut request = head("POST", OPEN, &[("content-type", "application/json")], 2).into_bytes();
    request.extend_from_slice(b"{}");
    request
}

/// How a trickling connection ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The server closed it (end of stream or reset).
    Closed,
    /// Still open after a minute.
    Open,
}

#[test]
fn trickling_bodies_hold_no_slot_and_are_cut_by_the_body_timeout() {
    const TRICKLES: usize = 256;
    const TIMEOUT: Duration = Duration::from_secs(15);
    let tmp = tempfile::tempdir().unwrap();
    // Only the total deadline cuts the trickles (no rate check), so when they are cut is known.
    let inst = start(
        tmp.path(),
        &["--body-read-timeout", "15s", "--min-body-rate", "0"],
    );
    let addr = data_addr(&inst);
    let url = format!("{}/hooks/tenants/github", inst.data_url);
    support::init_tls();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let closed = Arc::new(AtomicUsize::new(0));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::channel(TRICKLES);
        let trickles: Vec<_> = (0..TRICKLES)
            .map(|_| {
                let (addr, closed, started_tx) = (addr.clone(), closed.clone(), started_tx.clone());
                tokio::spawn(async move {
                    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                    let request = head(
                        "POST",
                        "/hooks/tenants/github",
                        &[
                            ("x-github-event", "push"),
                            ("x-hub-signature-256", "sha256=00"),
                            ("content-type", "application/json"),
                        ],
                        1000,
                    );
                    stream.write_all(request.as_bytes()).await.unwrap();
                    let sent = Instant::now();
                    let (mut reader, mut writer) = stream.into_split();
                    started_tx.send(()).await.unwrap();
                    // One byte a second until the server hangs up.
                    let trickle = tokio::spawn(async move {
                        while writer.write_all(b" ").await.is_ok() {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    });
                    let mut answer = Vec::new();
                    let read = tokio::time::timeout(Duration::from_secs(60), async {
                        loop {
                            match reader.read_buf(&mut answer).await {
                                Ok(0) | Err(_) => break,
                                Ok(_) => {}
                            }
                        }
                    });
                    let end = match read.await {
                        Ok(()) => End::Closed,
                        Err(_) => End::Open,
                    };
                    closed.fetch_add(1, Ordering::SeqCst);
                    trickle.abort();
                    (
                        sent.elapsed(),
                        String::from_utf8_lossy(&answer).into_owned(),
                        end,
                    )
                })
            })
            .collect();
        for _ in 0..TRICKLES {
            started_rx
                .recv()
                .await
                .expect("every trickle sent its head");
        }

        // The genuine sender, beside 256 open trickles on the same endpoint.
        let client = reqwest::Client::new();
        let statuses: Vec<u16> = futures::stream::iter(0..100)
            .map(|i| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let body = format!(r#"{{"ref":"refs/heads/main","n":{i}}}"#);
                    let signature = github::sign(SECRET, body.as_bytes()).unwrap();
                    client
                        .post(&url)
                        .header("x-github-event", "push")
                        .header("x-github-delivery", format!("delivery-{i}"))
                        .header("x-hub-signature-256", signature)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16())
                }
            })
            .buffer_unordered(10)
            .collect()
            .await;
        let cut_meanwhile = closed.load(Ordering::SeqCst);
        assert!(
            statuses.iter().all(|s| (200..300).contains(s)),
            "genuine webhooks were refused: {statuses:?}"
        );
        // Not vacuous: the genuine webhooks went through while every trickle was still open.
        assert_eq!(
            cut_meanwhile, 0,
            "trickles ended before the genuine sender was done"
        );

        let mut answered_408 = 0;
        for trickle in trickles {
            let (lasted, answer, end) = trickle.await.unwrap();
            assert_eq!(end, End::Closed, "a trickle stayed open: {answer}");
            assert!(
                lasted >= TIMEOUT,
                "a trickle was closed after {lasted:?}, before the body timeout: {answer}"
            );
            // Closing with the trickle's last bytes unread may reset the connection before
            // the answer is read; an answer that did arrive is the 408.
            if !answer.is_empty() {
                assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
                assert!(answer.contains("request_timeout"), "{answer}");
                answered_408 += 1;
            }
        }
        assert!(answered_408 > 0, "no trickle read its 408");
    });
}

#[test]
fn a_head_is_due_within_the_header_timeout_and_idling_is_not_a_head() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &["--header-read-timeout", "1s"]);

    // A connection that says nothing, one that stops mid-head, one that trickles its head:
    // each is closed a second after it was accepted, so no earlier than a second from here.
    let started = Instant::now();
    let mut silent = connect(&inst);
    let mut partial = connect(&inst);
    partial
        .write_all(b"POST /hooks/tenants/open HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut slow = connect(&inst);
    let slow_head = std::thread::spawn({
        let mut slow = slow.try_clone().unwrap();
        move || {
            for byte in b"POST /hooks/tenants/open HTTP/1.1\r\nHost: x\r\nX-Pad: abcdef\r\n" {
                if slow.write_all(&[*byte]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    for (name, stream) in [
        ("silent", &mut silent),
        ("partial", &mut partial),
        ("slow", &mut slow),
    ] {
        wait_closed(stream).unwrap_or_else(|| panic!("the {name} connection stayed open"));
        let closed = started.elapsed();
        assert!(
            closed >= Duration::from_secs(1),
            "{name} closed after {closed:?}"
        );
    }
    slow_head.join().unwrap();

    // Between requests a connection idles (--idle-timeout, 60 s): no head is due then.
    let mut kept = connect(&inst);
    assert_eq!(exchange(&mut kept, &open_request()).unwrap().status, 202);
    std::thread::sleep(Duration::from_millis(2500));
    let again = exchange(&mut kept, &open_request()).expect("the idle connection is still open");
    assert_eq!(again.status, 202);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &["--idle-timeout", "1s"]);
    let mut stream = connect(&inst);
    // Keep-alive works: two requests on the one connection.
    for _ in 0..2 {
        assert_eq!(exchange(&mut stream, &open_request()).unwrap().status, 202);
    }
    let idle = wait_closed(&mut stream).expect("the idle connection was closed");
    assert!(idle >= Duration::from_millis(500), "closed after {idle:?}");
}

#[test]
fn connections_over_the_cap_are_closed_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &["--max-connections", "3"]);
    let mut held: Vec<_> = (0..3)
        .map(|_| {
            let mut stream = connect(&inst);
            assert_eq!(exchange(&mut stream, &open_request()).unwrap().status, 202);
            stream
        })
        .collect();
    let mut over = connect(&inst);
    let _ = over.write_all(&open_request());
    assert!(
        read_answer(&mut over).is_none(),
        "a connection over the cap was served"
    );
    assert_eq!(exchange(&mut held[0], &open_request()).unwrap().status, 202);

    // Once one closes, a new connection is served.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut stream = connect(&inst);
        if let Some(answer) = exchange(&mut stream, &open_request()) {
            assert_eq!(answer.status, 202);
            break;
        }
        assert!(Instant::now() < deadline, "no connection was served again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn request_bytes_held_at_once_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(
        tmp.path(),
        &["--max-inflight-body-bytes", "4096", "--min-body-rate", "0"],
    );
    let bearer = format!("Bearer {TOKEN}");
    let publish = |inst: &support::Instance| {
        post(
            inst,
            EVENTS,
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            format!(r#"{{"type":"t","data":"{}"}}"#, "x".repeat(200)).as_bytes(),
        )
    };
    assert_eq!(publish(&inst).status, 202);

    // A webhook holds 4000 of the 4096 bytes while the rest of its body is awaited.
    let mut hog = connect(&inst);
    let hog_head = head("POST", OPEN, &[("content-type", "application/json")], 8000);
    hog.write_all(hog_head.as_bytes()).unwrap();
    hog.write_all(&[b' '; 4000]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        let answer = publish(&inst);
        if answer.status == 503 {
            break answer;
        }
        assert_eq!(answer.status, 202);
        assert!(Instant::now() < deadline, "the budget never ran out");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(refused.code(), "server_busy");
    assert_eq!(refused.header("retry-after"), Some("1"));

    // Its bytes are given back when it goes.
    drop(hog);
    let deadline = Instant::now() + Duration::from_secs(15);
    while publish(&inst).status != 202 {
        assert!(Instant::now() < deadline, "the budget was not given back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_publish_api_checks_the_token_before_reading_the_body() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &[]);
    // 100 MB announced, 1 KiB sent: the answer comes without waiting for the rest.
    for auth in [None, Some("Bearer wrong-token")] {
        let mut stream = connect(&inst);
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = auth {
            headers.push(("authorization", auth));
        }
        let request = head("POST", EVENTS, &headers, 100_000_000);
        stream.write_all(request.as_bytes()).unwrap();
        stream.write_all(&[b' '; 1024]).unwrap();
        let answer = read_answer(&mut stream).expect("an answer before the body");
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(answer.code(), "unauthorized");
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(
            wait_closed(&mut stream).is_some(),
            "the connection stayed open"
        );
    }
    // With the token, the same announced size is too large.
    let mut stream = connect(&inst);
    let bearer = format!("Bearer {TOKEN}");
    let request = head("POST", EVENTS, &[("authorization", &bearer)], 100_000_000);
    stream.write_all(request.as_bytes()).unwrap();
    assert_eq!(read_answer(&mut stream).unwrap().status, 413);
}
