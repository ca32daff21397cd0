//! The PayPal scheme over real HTTP: a WebhookEndpoint whose Integration's provider (the
//! catalog's `paypal`) presets PayPal verification receives webhooks signed with a test CA's
//! certificate, served by a loopback certificate server the test runs; a genuine one reaches
//! a subscriber, the rest are refused with the right reason, a certificate URL outside the
//! allowlist is never fetched, and many requests fetch the certificate once.

mod hooks_support;
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use hooks_support::{code, hook, now};
use support::Instance;
use support::paypal_pki::{Ca, RSA_A, RSA_B, Validity, rfc3339};
use support::sink::{Sink, serve_on_thread};

const WEBHOOK_ID: &str = "8PT597110X687430LKGECATA";
const CERTS: &str = "/v1/notifications/certs";

type Hits = Arc<Mutex<BTreeMap<String, usize>>>;

/// A certificate server on loopback: `{CERTS}/{name}` serves `chains[name]`; it counts the
/// requests of every path.
fn cert_server(chains: BTreeMap<String, String>) -> (String, Hits) {
    let hits: Hits = Arc::default();
    let app = axum::Router::new()
        .route(
            &format!("{CERTS}/{{name}}"),
            get(move |State(hits): State<Hits>, Path(name): Path<String>| {
                *hits.lock().unwrap().entry(name.clone()).or_default() += 1;
                let chain = chains.get(&name).cloned();
                async move {
                    chain.map_or((StatusCode::NOT_FOUND, String::new()), |c| {
                        (StatusCode::OK, c)
                    })
                }
            }),
        )
        .with_state(hits.clone());
    let addr = serve_on_thread(app);
    (format!("http://{addr}{CERTS}"), hits)
}

fn manifests(sink: &str) -> String {
    let catalog = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/01-providers.yaml"),
    )
    .unwrap();
    format!(
        r#"{catalog}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: paypal, namespace: shop}}
spec:
  provider: paypal
  baseUrl: http://127.0.0.1:9
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {{name: paypal-events, namespace: shop}}
spec:
  integrationRef: {{name: paypal}}
  verify:
    paypal: {{webhookId: {WEBHOOK_ID}}}
  eventType: {{jq: .event_type}}
  dedup: {{idJq: .id}}
  route: {{publish: {{}}}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: orders, namespace: shop}}
spec:
  url: {sink}
  eventTypes: ["*"]
  signing: {{scheme: None}}
"#
    )
}

fn body(id: &str) -> Vec<u8> {
    format!(r#"{{"id":"{id}","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{{"amount":{{"value":"10.00"}}}}}}"#)
        .into_bytes()
}

fn send(inst: &Instance, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, answer) = hook(inst, "shop", "paypal-events", &pairs, body);
    (status, code(&answer).to_owned())
}

#[test]
fn paypal_signed_webhooks_reach_a_subscriber_and_forgeries_do_not() {
    let ca = Ca::new("Test Root CA");
    let good = ca.issue(RSA_A, Validity::Current);
    let expired = ca.issue(RSA_A, Validity::Expired);
    let other_key = ca.issue(RSA_B, Validity::Current);
    let stranger = Ca::new("Stranger CA").issue(RSA_A, Validity::Current);
    let chains = [
        ("good", &good),
        ("expired", &expired),
        ("other-key", &other_key),
        ("stranger", &stranger),
    ]
    .into_iter()
    .map(|(name, signer)| (name.to_owned(), signer.chain_pem.clone()))
    .collect();
    let (certs, hits) = cert_server(chains);
    // The same chains, on a server the allowlist does not name.
    let (outside, outside_hits) = cert_server(BTreeMap::from([(
        "good".to_owned(),
        good.chain_pem.clone(),
    )]));

    let sink = Sink::always(200);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("shop.yaml"), manifests(&sink.url)).unwrap();
    let roots = tmp.path().join("roots.pem");
    std::fs::write(&roots, &ca.pem).unwrap();
    let allowed = format!("{certs}/");
    let inst = Instance::start(
        &dir,
        &tmp.path().join("data"),
        &[
            "--allow-private-destinations",
            "--paypal-cert-urls",
            &allowed,
            "--paypal-trust-roots",
            roots.to_str().unwrap(),
        ],
    );

    let sign = |signer: &support::paypal_pki::Signer, id: &str, time: i64, url: &str| {
        signer.headers(id, &rfc3339(time), WEBHOOK_ID, &body(id), url)
    };
    let good_url = format!("{certs}/good");

    // Genuine: accepted, and it reaches the subscriber.
    let headers = sign(&good, "WH-1", now(), &good_url);
    assert_eq!(send(&inst, &headers, &body("WH-1")), (202, String::new()));
    let delivered = sink.wait_hits(1, Duration::from_secs(20));
    assert_eq!(delivered.len(), 1, "log:\n{}", inst.log_text());
    let event: serde_json::Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(event["type"], "PAYMENT.CAPTURE.COMPLETED", "{event}");
    assert_eq!(event["data"]["id"], "WH-1", "{event}");

    // A tampered body, a certificate of another key, an expired or untrusted certificate,
    // an old transmission time.
    let refusals = [
        (
            sign(&good, "WH-2", now(), &good_url),
            body("WH-X"),
            "bad_signature",
        ),
        (
            sign(&good, "WH-3", now(), &format!("{certs}/other-key")),
            body("WH-3"),
            "bad_signature",
        ),
        (
            sign(&expired, "WH-4", now(), &format!("{certs}/expired")),
            body("WH-4"),
            "untrusted_certificate",
        ),
        (
            sign(&stranger, "WH-5", now(), &format!("{certs}/stranger")),
            body("WH-5"),
            "untrusted_certificate",
        ),
        (
            sign(&good, "WH-6", now() - 3600, &good_url),
            body("WH-6"),
            "stale_timestamp",
        ),
        (
            sign(&good, "WH-7", now(), &format!("{certs}/missing")),
            body("WH-7"),
            "bad_certificate",
        ),
    ];
    for (headers, body, reason) in refusals {
        assert_eq!(
            send(&inst, &headers, &body),
            (401, reason.to_owned()),
            "{reason}"
        );
    }

    // A certificate URL outside the allowlist is refused and never fetched.
    let headers = sign(&good, "WH-8", now(), &format!("{outside}/good"));
    assert_eq!(
        send(&inst, &headers, &body("WH-8")),
        (401, "certificate_url_refused".to_owned())
    );
    assert!(outside_hits.lock().unwrap().is_empty());

    // Many requests, one fetch of each certificate.
    for i in 10..20 {
        let id = format!("WH-{i}");
        let headers = sign(&good, &id, now(), &good_url);
        assert_eq!(send(&inst, &headers, &body(&id)), (202, String::new()));
    }
    assert_eq!(sink.wait_hits(11, Duration::from_secs(20)).len(), 11);
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.get("good"), Some(&1), "{hits:?}");
    assert!(hits.values().all(|n| *n == 1), "{hits:?}");
}
