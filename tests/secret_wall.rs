//! The Secret wall, standalone over real HTTP on loopback: an Integration whose `baseUrl` is a
//! server of the author's choosing and whose auth names a Secret that has not opted in
//! (`switchboard.dev/usable: "true"`) sends nothing: not on its health check, not through the
//! egress proxy; nor does a subscription whose auth names it. Their status says
//! SecretNotUsable and what to do; once the Secret is labelled (the manifest rewritten, no
//! restart) the same resources authenticate, and once the label is removed they stop.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::sink::Sink;
use support::{Instance, http, wait_until};

const VALUE: &str = "victim-credential-7f3a9c";
const PUBLISHER: &str = "wall-publisher-token";

fn manifests(sink: &Sink, labelled: bool) -> String {
    let base = sink.url.trim_end_matches("/hook");
    let labels = if labelled {
        "\n  labels: {switchboard.dev/usable: \"true\"}"
    } else {
        ""
    };
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: victim
  namespace: tenant{labels}
stringData:
  token: {VALUE}
---
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: tenant
  labels: {{switchboard.dev/publisher-token: "true"}}
stringData:
  token: {PUBLISHER}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: exfil, namespace: tenant}}
spec:
  baseUrl: {base}
  auth: {{type: Bearer, secretRef: {{name: victim}}}}
  healthCheck: {{path: /health, interval: 200ms}}
  retry: {{maxRetries: 0}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: via-publisher, namespace: tenant}}
spec:
  baseUrl: {base}
  auth: {{type: Bearer, secretRef: {{name: publisher}}}}
  healthCheck: {{path: /health, interval: 200ms}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: leak, namespace: tenant}}
spec:
  url: {base}/leak
  eventTypes: ["*"]
  signing: {{scheme: None}}
  auth: {{type: Bearer, secretRef: {{name: victim}}}}
"#
    )
}

/// The Ready condition of an Integration: (status, reason, message).
fn ready(inst: &Instance, name: &str) -> Option<(String, String, String)> {
    ready_of(inst, "integrations", name)
}

/// The Ready condition of a resource of `kind`: (status, reason, message).
fn ready_of(inst: &Instance, kind: &str, name: &str) -> Option<(String, String, String)> {
    let item = inst
        .status(kind)
        .into_iter()
        .find(|i| i["metadata"]["name"] == name)?;
    let c: &Value = item["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?.to_owned(),
        c["reason"].as_str()?.to_owned(),
        c["message"].as_str()?.to_owned(),
    ))
}

fn proxy(inst: &Instance, name: &str) -> u16 {
    let url = format!(
        "{}/v1/namespaces/tenant/integrations/{name}/proxy/steal",
        inst.data_url
    );
    let auth = format!("Bearer {PUBLISHER}");
    http("POST", &url, &[("authorization", &auth)], Some(b"{}"))
        .map(|(code, _)| code)
        .unwrap_or(0)
}

fn publish(inst: &Instance, marker: &str) -> u16 {
    let url = format!("{}/v1/namespaces/tenant/events", inst.data_url);
    let auth = format!("Bearer {PUBLISHER}");
    let body = format!(r#"{{"type": "order.created", "data": {{"marker": "{marker}"}}}}"#);
    http(
        "POST",
        &url,
        &[("authorization", &auth)],
        Some(body.as_bytes()),
    )
    .map(|(code, _)| code)
    .unwrap_or(0)
}

/// Every byte the sink saw: headers and bodies of every request.
fn seen(sink: &Sink) -> String {
    sink.hits()
        .iter()
        .map(|h| format!("{:?} {}", h.headers, String::from_utf8_lossy(&h.body)))
        .collect()
}

#[test]
fn an_integration_cannot_send_a_secret_that_has_not_opted_in_until_it_is_labelled() {
    let sink = Sink::always(200);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("all.yaml");
    std::fs::write(&file, manifests(&sink, false)).unwrap();
    let inst = Instance::start(
        &dir,
        &tmp.path().join("data"),
        &["--allow-private-destinations"],
    );

    wait_until("exfil reports SecretNotUsable", &inst, || {
        ready(&inst, "exfil").is_some_and(|r| r.1 == "SecretNotUsable")
    });
    let (status, _, message) = ready(&inst, "exfil").unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("\"victim\"")
            && message
                .contains("kubectl label secret victim -n tenant switchboard.dev/usable=true")
            && message.contains("manage Secrets"),
        "{message}"
    );
    // A publisher token is opted in for publishing only, not for sending.
    let (status, reason, _) = ready(&inst, "via-publisher").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "SecretNotUsable")
    );
    let (status, reason, _) = ready_of(&inst, "webhooksubscriptions", "leak").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "SecretNotUsable")
    );

    // Neither the health check (every 200 ms), the egress proxy nor a delivery reaches the sink.
    assert_eq!(proxy(&inst, "exfil"), 404);
    assert_eq!(proxy(&inst, "via-publisher"), 404);
    assert_eq!(publish(&inst, "before-the-label"), 202);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        sink.hits().is_empty(),
        "the sink was reached: {}",
        seen(&sink)
    );
    assert!(!inst.log_text().contains(VALUE));
    assert!(
        !inst
            .status("integrations")
            .iter()
            .any(|i| i.to_string().contains(VALUE))
    );

    // Whoever manages the Secret labels it: the same resources work, without a restart.
    std::fs::write(&file, manifests(&sink, true)).unwrap();
    wait_until("exfil is Ready", &inst, || {
        ready(&inst, "exfil").is_some_and(|r| r.0 == "True")
    });
    let bearer = format!("Bearer {VALUE}");
    wait_until("the health check authenticates", &inst, || {
        sink.hits()
            .iter()
            .any(|h| h.header("authorization") == bearer)
    });
    let before = sink.hits().len();
    assert_eq!(proxy(&inst, "exfil"), 200);
    let proxied =
        sink.hits().into_iter().skip(before).find(|h| {
            h.header("authorization") == bearer && String::from_utf8_lossy(&h.body) == "{}"
        });
    assert!(proxied.is_some(), "the proxied call: {}", seen(&sink));
    wait_until("leak is Ready", &inst, || {
        ready_of(&inst, "webhooksubscriptions", "leak").is_some_and(|r| r.0 == "True")
    });
    assert_eq!(publish(&inst, "after-the-label"), 202);
    wait_until("the delivery authenticates", &inst, || {
        sink.hits().iter().any(|h| {
            h.header("authorization") == bearer
                && String::from_utf8_lossy(&h.body).contains("after-the-label")
        })
    });
    // The event accepted before the opt-in was never fanned out to the subscription.
    assert!(!seen(&sink).contains("before-the-label"), "{}", seen(&sink));
    // The publisher token stays unusable for sending.
    assert_eq!(ready(&inst, "via-publisher").unwrap().1, "SecretNotUsable");
    assert!(!seen(&sink).contains(PUBLISHER));

    // The label removed again: what ran with the Secret stops using it.
    std::fs::write(&file, manifests(&sink, false)).unwrap();
    wait_until("exfil is not usable again", &inst, || {
        ready(&inst, "exfil").is_some_and(|r| r.1 == "SecretNotUsable")
    });
    std::thread::sleep(Duration::from_millis(300));
    let settled = sink.hits().len();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(sink.hits().len(), settled, "still called: {}", seen(&sink));
    assert_eq!(proxy(&inst, "exfil"), 404);
    assert!(!inst.log_text().contains(VALUE));
}
