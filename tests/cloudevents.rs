//! CloudEvents in, driven by the official CloudEvents Python SDK (`cloudevents`, installed
//! by the test into a venv under target/): every mode (binary and structured; JSON, text,
//! XML and binary data) is accepted with every attribute and extension kept with the stored
//! event and the data byte for byte; a batch of 100 is accepted and delivered as 100 events;
//! a batch with one invalid event is refused whole, naming its index.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use support::Instance;
use support::sink::{Hit, Sink};
use support::standard_webhooks::verifies;

const TOKEN: &str = "test-publisher-token";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The SDK version the tests were written against.
const SDK: &str = "cloudevents==2.2.0";

/// A Python with the CloudEvents SDK: a venv under target/, created and filled on first use.
/// Fails (never skips) when it cannot be installed, saying why.
fn sdk_python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/cloudevents-sdk/venv");
    let python = venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import cloudevents.v1.conversion"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && ready(&python) {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .unwrap_or_else(|e| panic!("these tests need python3 (with venv) on PATH: {e}"));
    assert!(
        made.status.success(),
        "creating a Python venv at {} failed: {}",
        venv.display(),
        String::from_utf8_lossy(&made.stderr)
    );
    let pip = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", SDK])
        .output()
        .expect("pip runs");
    assert!(
        pip.status.success() && ready(&python),
        "installing the CloudEvents Python SDK ({SDK}) from PyPI failed; these tests need it \
         (is PyPI reachable?):\n{}",
        String::from_utf8_lossy(&pip.stderr)
    );
    python
}

/// Runs the SDK client script; its stdout as JSON.
fn client(inst: &Instance, args: &[&str]) -> Value {
    client_with(inst, args, None)
}

/// [`client`], `stdin` given to the script.
fn client_with(inst: &Instance, args: &[&str], stdin: Option<&Value>) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cloudevents_client.py");
    let url = format!("{}/v1/namespaces/payments/events", inst.data_url);
    let mut child = Command::new(sdk_python())
        .arg(script)
        .arg(args[0])
        .arg(&url)
        .arg(TOKEN)
        .args(&args[1..])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    let input = stdin.map(|v| v.to_string()).unwrap_or_default();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the SDK client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the client prints JSON")
}

/// Starts Switchboard with `orders` (Standard Webhooks, to `sink`) and `meta` (its
/// transformation shows what `$meta` holds, to `meta_sink`).
fn start(dir: &Path, sink: &Sink, meta_sink: &Sink) -> Instance {
    start_with(dir, sink, meta_sink, "")
}

/// [`start`] with more manifests.
fn start_with(dir: &Path, sink: &Sink, meta_sink: &Sink, more: &str) -> Instance {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    let manifests = format!(
        r#"{}
apiVersion: v1
kind: Secret
metadata: {{name: signing, namespace: payments, labels: {{switchboard.dev/usable: "true"}}}}
stringData:
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: orders, namespace: payments}}
spec:
  url: {}
  eventTypes: ["order.*"]
  signing: {{scheme: StandardWebhooks, secretRef: {{name: signing}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {{name: show-meta, namespace: payments}}
spec:
  jq: '{{id: $meta.attributes.id, subject: $meta.attributes.subject, tenant: $meta.attributes.tenant, contentType: $meta.attributes.datacontenttype, encoding: $meta.dataEncoding, data: .}}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: meta, namespace: payments}}
spec:
  url: {}
  eventTypes: ["order.*"]
  transformationRef: {{name: show-meta}}
"#,
        support::payments_publisher!(),
        sink.url,
        meta_sink.url
    ) + more;
    std::fs::write(m.join("base.yaml"), manifests).unwrap();
    Instance::start(&m, &dir.join("data"), &["--allow-private-destinations"])
}

/// The stored events: id → (payload, context).
fn stored(data_dir: &Path) -> std::collections::HashMap<String, (String, Option<String>)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!(
            "sqlite://{}?mode=ro",
            data_dir.join("switchboard.db").display()
        );
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT id, payload, context FROM events")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows.into_iter()
            .map(|(id, payload, context)| (id, (payload, context)))
            .collect()
    })
}

/// The data's bytes as the stored payload and context hold them.
fn data_bytes(payload: &str, context: &Value) -> Option<Vec<u8>> {
    let value: Value = serde_json::from_str(payload).unwrap();
    match context["encoding"].as_str().unwrap() {
        "none" => None,
        "json" => Some(payload.as_bytes().to_vec()),
        "text" => Some(value.as_str().unwrap().as_bytes().to_vec()),
        "base64" => Some(
            base64::engine::general_purpose::STANDARD
                .decode(value.as_str().unwrap())
                .unwrap(),
        ),
        other => panic!("unknown encoding {other}"),
    }
}

#[test]
fn every_sdk_mode_is_accepted_with_every_attribute_and_the_data_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, meta_sink) = (Sink::always(200), Sink::always(200));
    let inst = start(dir.path(), &sink, &meta_sink);
    let sent = client(&inst, &["modes"]);
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 10, "five data kinds in two modes");
    let events = stored(&inst.data_dir);
    for case in sent {
        let what = format!("{} {}", case["mode"], case["case"]);
        assert_eq!(case["status"], 202, "{what}: {}", case["answer"]);
        let id = case["id"].as_str().unwrap();
        assert_eq!(case["answer"]["id"], id, "{what}");
        let (payload, context) = &events[id];
        let context: Value = serde_json::from_str(context.as_deref().unwrap()).unwrap();
        let mut expected = case["attributes"].as_object().unwrap().clone();
        expected.insert("specversion".into(), json!("1.0"));
        assert_eq!(
            context["attributes"].as_object().unwrap(),
            &expected,
            "{what}: every attribute and extension, nothing else"
        );
        let bytes = data_bytes(payload, &context);
        let want = case["data_b64"]
            .as_str()
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap());
        if case["json"] == true {
            let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
            assert_eq!(parse(&bytes.unwrap()), parse(&want.unwrap()), "{what}");
        } else {
            assert_eq!(bytes, want, "{what}: the data byte for byte");
        }
    }
    // Each was fanned out like any event, its Standard Webhooks payload naming its source
    // and subject next to its type, and a transformation sees its attributes.
    let plain = sink.wait_hits(10, Duration::from_secs(30));
    for case in sent {
        let attributes = &case["attributes"];
        let body = plain
            .iter()
            .map(|h| serde_json::from_slice::<Value>(&h.body).unwrap())
            .find(|b| b["subject"] == attributes["subject"])
            .unwrap_or_else(|| panic!("{} delivered with its subject", case["id"]));
        assert_eq!(body["source"], attributes["source"]);
        assert_eq!(body["type"], "order.created");
    }
    let seen = meta_sink.wait_hits(10, Duration::from_secs(30));
    for case in sent {
        let id = case["id"].as_str().unwrap();
        let hit = seen
            .iter()
            .map(|h| serde_json::from_slice::<Value>(&h.body).unwrap()["data"].clone())
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("{id} reached the transformed subscription"));
        let attributes = &case["attributes"];
        assert_eq!(hit["subject"], attributes["subject"], "{id}");
        assert_eq!(hit["tenant"], "acme", "{id}");
        assert_eq!(
            hit["contentType"],
            attributes
                .get("datacontenttype")
                .cloned()
                .unwrap_or(Value::Null),
            "{id}"
        );
        let encoding = match case["case"].as_str().unwrap() {
            "json" => "json",
            "text" | "xml" => "text",
            "bytes" => "base64",
            _ => "none",
        };
        assert_eq!(hit["encoding"], encoding, "{id}");
    }
}

#[test]
fn a_batch_of_100_is_accepted_and_delivered_as_100_events() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, meta_sink) = (Sink::always(200), Sink::always(200));
    let inst = start(dir.path(), &sink, &meta_sink);
    let answer = client(&inst, &["batch", "100"]);
    assert_eq!(answer["status"], 202, "{}", answer["answer"]);
    assert_eq!(answer["answer"]["ids"], answer["ids"]);
    let events = stored(&inst.data_dir);
    assert_eq!(events.len(), 100);
    let hits = sink.wait_hits(100, Duration::from_secs(60));
    let mut delivered: Vec<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    delivered.sort();
    delivered.dedup();
    assert_eq!(delivered.len(), 100, "100 distinct deliveries");
    let mut ns: Vec<i64> = hits
        .iter()
        .map(|h| {
            serde_json::from_slice::<Value>(&h.body).unwrap()["data"]["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    ns.sort();
    ns.dedup();
    assert_eq!(ns, (0..100).collect::<Vec<_>>());
}

#[test]
fn a_batch_with_one_invalid_event_is_refused_whole_with_its_index() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, meta_sink) = (Sink::always(200), Sink::always(200));
    let inst = start(dir.path(), &sink, &meta_sink);
    let answer = client(&inst, &["batch", "20", "13"]);
    assert_eq!(answer["status"], 400, "{}", answer["answer"]);
    let message = answer["answer"]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("batch event 13") && message.contains("source is required"),
        "{message}"
    );
    assert!(
        stored(&inst.data_dir).is_empty(),
        "nothing of the batch is stored"
    );
    // The same batch without the bad event is taken whole.
    let answer = client(&inst, &["batch", "20"]);
    assert_eq!(answer["status"], 202, "{}", answer["answer"]);
    assert_eq!(stored(&inst.data_dir).len(), 20);
}

/// The requests a sink received, parsed by the SDK's `from_http`.
fn parsed_by_sdk(inst: &Instance, hits: &[Hit]) -> Vec<Value> {
    let requests: Vec<Value> = hits
        .iter()
        .map(|h| {
            let headers: serde_json::Map<String, Value> = h
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap())))
                .collect();
            json!({
                "headers": headers,
                "body_b64": base64::engine::general_purpose::STANDARD.encode(&h.body),
            })
        })
        .collect();
    let parsed = client_with(inst, &["parse"], Some(&Value::Array(requests)));
    parsed.as_array().unwrap().clone()
}

#[test]
fn cloudevents_deliveries_parse_with_the_sdk_with_every_attribute_and_the_data_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (sink, meta_sink) = (Sink::always(200), Sink::always(200));
    let (binary, structured) = (Sink::always(200), Sink::always(200));
    let more = format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: ce-binary, namespace: payments}}
spec:
  url: {}
  eventTypes: ["order.*"]
  format: {{type: CloudEvents, mode: binary}}
  signing: {{scheme: StandardWebhooks, secretRef: {{name: signing}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: ce-structured, namespace: payments}}
spec:
  url: {}
  eventTypes: ["order.*"]
  format: {{type: CloudEvents, mode: structured}}
  signing: {{scheme: StandardWebhooks, secretRef: {{name: signing}}}}
"#,
        binary.url, structured.url
    );
    let inst = start_with(dir.path(), &sink, &meta_sink, &more);
    let sent = client(&inst, &["modes"]);
    let sent = sent.as_array().unwrap();
    // And one event that did not arrive as a CloudEvent.
    let (status, answer) = support::http_json(
        "POST",
        &format!("{}/v1/namespaces/payments/events", inst.data_url),
        &[
            ("authorization", "Bearer test-publisher-token"),
            ("content-type", "application/json"),
        ],
        Some(br#"{"type":"order.plain","id":"plain-1","data":{"n":1}}"#),
    );
    assert_eq!(status, 202, "{answer}");
    for (mode, receiver) in [("binary", &binary), ("structured", &structured)] {
        let hits = receiver.wait_hits(11, Duration::from_secs(30));
        for hit in &hits {
            assert!(verifies(hit, SECRET), "{mode}: Standard Webhooks signature");
        }
        if mode == "structured" {
            assert!(
                hits.iter()
                    .all(|h| h.header("content-type") == "application/cloudevents+json")
            );
        } else {
            assert!(hits.iter().all(|h| h.headers.contains_key("ce-id")));
        }
        let parsed = parsed_by_sdk(&inst, &hits);
        let by_id = |id: &str| {
            parsed
                .iter()
                .find(|p| p["attributes"]["id"] == id)
                .unwrap_or_else(|| panic!("{mode}: {id} delivered and parsed: {parsed:?}"))
        };
        for case in sent {
            let id = case["id"].as_str().unwrap();
            let what = format!("{mode} delivery of {} {}", case["mode"], case["case"]);
            let got = by_id(id);
            let mut expected = case["attributes"].as_object().unwrap().clone();
            expected.insert("specversion".into(), json!("1.0"));
            assert_eq!(
                got["attributes"].as_object().unwrap(),
                &expected,
                "{what}: every attribute and extension"
            );
            let decode = |v: &Value| {
                v.as_str()
                    .map(|b| base64::engine::general_purpose::STANDARD.decode(b).unwrap())
            };
            let (data, want) = (decode(&got["data_b64"]), decode(&case["data_b64"]));
            if case["json"] == true {
                let parse = |b: Vec<u8>| serde_json::from_slice::<Value>(&b).unwrap();
                assert_eq!(data.map(parse), want.map(parse), "{what}");
            } else {
                assert_eq!(data, want, "{what}: the data byte for byte");
                if mode == "binary" {
                    // The SDK reads a JSON string as its text: check the body itself too.
                    let hit = hits.iter().find(|h| h.header("ce-id") == id).unwrap();
                    assert_eq!(
                        Some(hit.body.to_vec()).filter(|b| !b.is_empty()),
                        want,
                        "{what}: the body"
                    );
                }
            }
        }
        let plain = by_id("plain-1");
        assert_eq!(
            plain["attributes"]["source"],
            "/v1/namespaces/payments/events"
        );
        assert_eq!(plain["attributes"]["type"], "order.plain");
        assert!(plain["attributes"]["time"].is_string());
    }
}
