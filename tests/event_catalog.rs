//! The event catalog (EventType) standalone, over real HTTP on loopback: an event whose data
//! violates its type's schema is refused with 422 and the schema error, on the publish API and
//! on a webhook endpoint, and nothing is stored or delivered; conforming events are accepted
//! and delivered; an invalid schema is Ready=False; a subscription whose patterns match no
//! cataloged type gets the `Cataloged` warning while staying Ready.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use support::sink::Sink;
use support::{Instance, http_json, wait_until};

const TOKEN: &str = "Bearer catalog-token";

fn manifests(sink: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: shop
  labels: {{switchboard.dev/publisher-token: "true"}}
stringData:
  token: catalog-token
---
apiVersion: switchboard.dev/v1alpha1
kind: EventType
metadata: {{name: order.created, namespace: shop}}
spec:
  category: orders
  schema:
    type: object
    required: [orderId, amount]
    properties:
      orderId: {{type: string}}
      amount: {{type: integer, minimum: 0}}
  examples:
    - data: {{orderId: o-1, amount: 5}}
---
apiVersion: switchboard.dev/v1alpha1
kind: EventType
metadata: {{name: lead-created, namespace: shop}}
spec:
  type: Lead_Created
  schema: {{type: object, required: [email]}}
---
apiVersion: switchboard.dev/v1alpha1
kind: EventType
metadata: {{name: broken.schema, namespace: shop}}
spec:
  schema: {{type: strnig}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: orders, namespace: shop}}
spec:
  url: {sink}
  eventTypes: ["order.*", "Lead_Created"]
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: typo, namespace: shop}}
spec:
  url: {sink}
  eventTypes: ["orders.*"]
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {{name: leads, namespace: shop}}
spec:
  verify: {{scheme: None}}
  route: {{publish: {{eventType: Lead_Created}}}}
"#
    )
}

fn start(dir: &Path, sink: &Sink) -> Instance {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("catalog.yaml"), manifests(&sink.url)).unwrap();
    Instance::start(
        &m,
        &dir.join("data"),
        &["--allow-private-destinations", "--delivery-poll", "50ms"],
    )
}

fn publish(inst: &Instance, body: Value) -> (u16, Value) {
    let body = body.to_string();
    http_json(
        "POST",
        &format!("{}/v1/namespaces/shop/events", inst.data_url),
        &[
            ("authorization", TOKEN),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    )
}

fn hook(inst: &Instance, body: Value) -> (u16, Value) {
    let body = body.to_string();
    http_json(
        "POST",
        &format!("{}/hooks/shop/leads", inst.data_url),
        &[("content-type", "application/json")],
        Some(body.as_bytes()),
    )
}

fn condition(inst: &Instance, kind: &str, name: &str, type_: &str) -> Option<Value> {
    inst.status(kind)
        .into_iter()
        .find(|i| i["metadata"]["name"] == name)?["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

fn delivered_ids(sink: &Sink) -> Vec<String> {
    sink.hits()
        .iter()
        .filter_map(|h| serde_json::from_slice::<Value>(&h.body).ok())
        .map(|b| b["data"].to_string())
        .collect()
}

#[test]
fn publish_and_hooks_refuse_data_that_violates_the_schema() {
    support::init_tls();
    let sink = Sink::always(200);
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &sink);

    // Violating: 422 with the schema error, nothing stored.
    let (status, answer) = publish(
        &inst,
        json!({"type": "order.created", "id": "bad-1", "data": {"orderId": 7}}),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "schema_invalid", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("schema of event type \"order.created\"")
            && message.contains("\"amount\" is a required property")
            && message.contains("at /orderId (type)"),
        "{message}"
    );
    // Conforming: 202 and delivered.
    let (status, answer) = publish(
        &inst,
        json!({"type": "order.created", "id": "good-1", "data": {"orderId": "o-1", "amount": 3}}),
    );
    assert_eq!(status, 202, "{answer}");
    // A type outside the catalog's schemas takes any data.
    let (status, answer) = publish(&inst, json!({"type": "order.shipped", "data": 5}));
    assert_eq!(status, 202, "{answer}");

    // The endpoint route: the type comes from spec.type (not a Kubernetes name).
    let (status, answer) = hook(&inst, json!({"name": "no email"}));
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], "schema_invalid", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("\"email\" is a required property"),
        "{answer}"
    );
    let (status, answer) = hook(&inst, json!({"email": "a@example.com"}));
    assert_eq!(status, 202, "{answer}");

    let hits = sink.wait_hits(3, Duration::from_secs(10));
    assert_eq!(hits.len(), 3, "{:?}", delivered_ids(&sink));
    std::thread::sleep(Duration::from_millis(500));
    let data = delivered_ids(&sink);
    assert_eq!(data.len(), 3, "only the conforming events: {data:?}");
    assert!(
        data.iter()
            .all(|d| !d.contains("no email") && d != "{\"orderId\":7}"),
        "{data:?}"
    );
    // Nothing of the refused ones was stored either.
    let mut stored = stored_events(&inst.data_dir);
    stored.sort();
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(stored.iter().any(|(id, _)| id == "good-1"), "{stored:?}");
    assert!(!stored.iter().any(|(id, _)| id == "bad-1"), "{stored:?}");
}

/// Every stored event (id, type), read beside the running process.
fn stored_events(data_dir: &Path) -> Vec<(String, String)> {
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
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, event_type FROM events")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    })
}

#[test]
fn invalid_schema_is_not_ready_and_unmatched_subscriptions_are_warned() {
    support::init_tls();
    let sink = Sink::always(200);
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &sink);

    let (ready, message) = inst.ready("EventType", "shop", "broken.schema").unwrap();
    assert_eq!(ready, "False");
    assert!(
        message.contains("spec.schema: not a valid JSON Schema"),
        "{message}"
    );
    let good = condition(&inst, "EventType", "order.created", "Ready").unwrap();
    assert_eq!(good["status"], "True", "{good}");
    let legacy = inst
        .status("EventType")
        .into_iter()
        .find(|i| i["metadata"]["name"] == "lead-created")
        .unwrap();
    assert_eq!(legacy["status"]["type"], "Lead_Created", "{legacy}");

    let typo = condition(&inst, "WebhookSubscription", "typo", "Cataloged").unwrap();
    assert_eq!(typo["status"], "False", "{typo}");
    assert_eq!(typo["reason"], "NoMatchingEventType", "{typo}");
    assert!(
        typo["message"].as_str().unwrap().contains("order.created"),
        "lists the catalog: {typo}"
    );
    assert_eq!(
        condition(&inst, "WebhookSubscription", "typo", "Ready").unwrap()["status"],
        "True",
        "Ready stays truthful"
    );
    let orders = condition(&inst, "WebhookSubscription", "orders", "Cataloged").unwrap();
    assert_eq!(orders["status"], "True", "{orders}");

    // The fix (and a schema removed) is picked up by the hot reload.
    let fixed = manifests(&sink.url)
        .replace("{type: strnig}", "{type: string}")
        .replace(
            "eventTypes: [\"orders.*\"]",
            "eventTypes: [\"order.created\"]",
        );
    std::fs::write(tmp.path().join("manifests").join("catalog.yaml"), fixed).unwrap();
    wait_until("the fix to apply", &inst, || {
        inst.ready("EventType", "shop", "broken.schema")
            .is_some_and(|(s, _)| s == "True")
            && condition(&inst, "WebhookSubscription", "typo", "Cataloged")
                .is_some_and(|c| c["status"] == "True")
    });
}
