//! Numbers arrive as they were sent, over real HTTP with the real binary: integers past 2^64,
//! a 300-digit integer, `-0`, `1.000000000000000000001`, `1e400` and `0.1`, published through
//! the API and posted to an inbound endpoint, reach subscribers byte for byte (the payload's
//! own whitespace and key order too), and stay exact through pass-through transformations
//! (`.` and `{a: .a, n: .n}`) on the way in and on the way out.

mod hooks_support;
mod support;

use std::path::Path;
use std::time::Duration;

use hooks_support::hook;
use support::sink::{Hit, Sink};
use support::{Instance, http_json};

const TOKEN: &str = "Bearer test-publisher-token";

/// The numbers, in an otherwise ordinary payload, as the sender writes it (with whitespace).
fn sent() -> String {
    format!(
        r#"{{"order": "o-1", "n": 18446744073709551617, "a": [{big}, -0, 1.000000000000000000001,
  1e400, 0.1], "z": {{"y": 0.1, "x": "é \" \u00e9"}}, "ok": true}}"#,
        big = big()
    )
}

/// What `.` makes of it: the same numbers, written compactly.
fn identity() -> String {
    format!(
        r#"{{"order":"o-1","n":18446744073709551617,"a":[{big},-0,1.000000000000000000001,1e400,0.1],"z":{{"y":0.1,"x":"é \" é"}},"ok":true}}"#,
        big = big()
    )
}

/// What `{a: .a, n: .n}` makes of it.
fn picked() -> String {
    format!(
        r#"{{"a":[{big},-0,1.000000000000000000001,1e400,0.1],"n":18446744073709551617}}"#,
        big = big()
    )
}

/// A 300-digit integer.
fn big() -> String {
    format!("1{}", "234567890".repeat(33)) + "12"
}

fn manifests(plain: &Sink, same: &Sink, pick: &Sink) -> String {
    let subscription = |name: &str, url: &str, types: &str, extra: &str| {
        format!(
            r#"---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: {name}, namespace: numbers}}
spec:
  url: {url}
  eventTypes: {types}
  signing: {{scheme: None}}
{extra}
"#
        )
    };
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: numbers
  labels: {{switchboard.dev/publisher-token: "true"}}
stringData:
  token: test-publisher-token
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: same, namespace: numbers}}
spec:
  jq: '.'
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: pick, namespace: numbers}}
spec:
  jq: '{{a: .a, n: .n}}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {{name: numbers, namespace: numbers}}
spec:
  verify: {{scheme: None}}
  route: {{publish: {{eventType: number.received}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {{name: picked, namespace: numbers}}
spec:
  verify: {{scheme: None}}
  transformationRef: {{name: pick}}
  route: {{publish: {{eventType: picked.received}}}}
{}{}{}"#,
        // The filter reads a number inside the payload (read on demand, as jq reads it).
        subscription(
            "plain",
            &plain.url,
            r#"["number.*", "picked.*"]"#,
            "  filter: .data.n > 1"
        ),
        subscription(
            "same",
            &same.url,
            r#"["number.*"]"#,
            "  transformationRef: {name: same}"
        ),
        subscription(
            "pick",
            &pick.url,
            r#"["number.*"]"#,
            "  transformationRef: {name: pick}"
        ),
    )
}

fn start(dir: &Path, plain: &Sink, same: &Sink, pick: &Sink) -> Instance {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("numbers.yaml"), manifests(plain, same, pick)).unwrap();
    Instance::start(&m, &dir.join("data"), &["--allow-private-destinations"])
}

/// The data of the Standard Webhooks body of the hit of `event_type`, as bytes: the body must
/// be `{"type":…,"source":"…","timestamp":"…","data":<data>}`.
fn data_of(hits: &[Hit], event_type: &str) -> String {
    let prefix = format!(r#"{{"type":"{event_type}","source":""#);
    let hit = hits
        .iter()
        .find(|h| h.body.starts_with(prefix.as_bytes()))
        .unwrap_or_else(|| panic!("no {event_type} delivery in {hits:?}"));
    let body = std::str::from_utf8(&hit.body).unwrap();
    let (source, rest) = body[prefix.len()..]
        .split_once(r#"","timestamp":""#)
        .expect("source, then timestamp");
    assert!(source.starts_with('/'), "{body}");
    let (timestamp, data) = rest.split_once(r#"","data":"#).expect("a data field");
    assert!(
        chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
        "{body}"
    );
    data.strip_suffix('}')
        .expect("the envelope's end")
        .to_owned()
}

#[test]
fn numbers_reach_subscribers_exactly_as_sent() {
    support::init_tls();
    let tmp = tempfile::tempdir().unwrap();
    let (plain, same, pick) = (Sink::always(200), Sink::always(200), Sink::always(200));
    let inst = start(tmp.path(), &plain, &same, &pick);

    let body = format!(
        r#"{{"type": "number.published", "id": "p-1", "data": {} }}"#,
        sent()
    );
    let (status, answer) = http_json(
        "POST",
        &format!("{}/v1/namespaces/numbers/events", inst.data_url),
        &[
            ("authorization", TOKEN),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 202, "publish answered {answer}");

    let json = [("content-type", "application/json")];
    let (status, answer) = hook(&inst, "numbers", "numbers", &json, sent().as_bytes());
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = hook(&inst, "numbers", "picked", &json, sent().as_bytes());
    assert_eq!(status, 202, "{answer}");

    let wait = Duration::from_secs(20);
    let hits = plain.wait_hits(3, wait);
    assert_eq!(hits.len(), 3, "log:\n{}", inst.log_text());
    // No transformation: the payload's text as sent, whitespace and all.
    assert_eq!(data_of(&hits, "number.published"), sent());
    assert_eq!(data_of(&hits, "number.received"), sent());
    // Transformed on the way in by `{a: .a, n: .n}`.
    assert_eq!(data_of(&hits, "picked.received"), picked());

    // Transformed on the way out.
    let hits = same.wait_hits(2, wait);
    assert_eq!(hits.len(), 2, "log:\n{}", inst.log_text());
    assert_eq!(data_of(&hits, "number.published"), identity());
    assert_eq!(data_of(&hits, "number.received"), identity());
    let hits = pick.wait_hits(2, wait);
    assert_eq!(hits.len(), 2, "log:\n{}", inst.log_text());
    assert_eq!(data_of(&hits, "number.published"), picked());
    assert_eq!(data_of(&hits, "number.received"), picked());
}

#[test]
fn payloads_that_are_not_json_or_nest_too_deep_are_refused() {
    support::init_tls();
    let tmp = tempfile::tempdir().unwrap();
    let (plain, same, pick) = (Sink::always(200), Sink::always(200), Sink::always(200));
    let inst = start(tmp.path(), &plain, &same, &pick);
    let json = [("content-type", "application/json")];
    for body in [
        "{\"n\": 1".to_owned(),
        "NaN".to_owned(),
        "[01]".to_owned(),
        "[".repeat(200) + &"]".repeat(200),
    ] {
        let (status, answer) = hook(&inst, "numbers", "numbers", &json, body.as_bytes());
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(hooks_support::code(&answer), "invalid_body", "{answer}");
        let publish = format!(r#"{{"type": "number.published", "data": {body}}}"#);
        let (status, answer) = http_json(
            "POST",
            &format!("{}/v1/namespaces/numbers/events", inst.data_url),
            &[
                ("authorization", TOKEN),
                ("content-type", "application/json"),
            ],
            Some(publish.as_bytes()),
        );
        assert_eq!(status, 400, "{body}: {answer}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(plain.hits().is_empty());
}
