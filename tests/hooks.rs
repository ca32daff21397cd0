//! The webhook receiver end to end over real HTTP with the real binary: source ranges,
//! sizes, 404s, dedup, ignored types, transformation, forward and publish routing, status
//! and metrics, checked on the committed delivery rows. tests/hooks_delivery.rs follows the
//! same webhooks on to their forward target and subscribers.

mod hooks_support;
mod support;

use std::io::Write;
use std::net::TcpStream;

use hooks_support::{code, deliveries, endpoint_status, event, event_count, hook, now};
use serde_json::json;
use support::{Instance, copy_examples};
use switchboard::signature::{github, stripe};
use switchboard::store::TargetKind;

const STRIPE_SECRET: &[u8] = b"whsec_dummy_stripe_endpoint_secret";
const GITHUB_SECRET: &[u8] = b"dummy-github-webhook-secret";

const EXTRA: &str = r#"
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: form-to-lead, namespace: payments}
spec:
  inputFormat: Form
  jq: '{email: .email, plan: (.plan // "free"), source: $meta.source}'
  outputSchema:
    type: object
    required: [email]
    properties: {email: {type: string}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: leads, namespace: payments}
spec:
  verify: {scheme: None}
  transformationRef: {name: form-to-lead}
  route: {publish: {eventType: lead.created}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: count-big, namespace: payments}
spec:
  jq: '{n: ([range(50000)] | length), id: .id}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: heavy, namespace: payments}
spec:
  verify: {scheme: None}
  transformationRef: {name: count-big}
  route: {publish: {eventType: heavy.counted}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: tiny, namespace: payments}
spec:
  verify: {scheme: None}
  maxBodyBytes: 16
  route: {publish: {}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: paused, namespace: payments}
spec:
  verify: {scheme: None}
  suspend: true
  route: {publish: {}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: broken, namespace: payments}
spec:
  verify:
    scheme: GitHub
    secretRef: {name: no-such-secret}
  route: {publish: {}}
"#;

fn start(tmp: &std::path::Path, extra_args: &[&str]) -> Instance {
    let manifests = copy_examples(&tmp.join("manifests"));
    std::fs::write(manifests.join("90-hooks.yaml"), EXTRA).unwrap();
    // The examples' outbound URLs point at a closed loopback port (see copy_examples).
    let mut args = vec!["--allow-private-destinations"];
    args.extend_from_slice(extra_args);
    Instance::start(&manifests, &tmp.join("data"), &args)
}

fn stripe_post(inst: &Instance, body: &str) -> (u16, serde_json::Value) {
    let sig = stripe::sign(STRIPE_SECRET, now(), body.as_bytes()).unwrap();
    hook(
        inst,
        "payments",
        "stripe-events",
        &[
            ("stripe-signature", &sig),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
}

fn github_push(
    inst: &Instance,
    delivery: &str,
    forwarded_for: Option<&str>,
) -> (u16, serde_json::Value) {
    let body = br#"{"ref":"refs/heads/main","repository":{"full_name":"acme/shop","private":false},"sender":{"login":"octocat"},"commits":[]}"#;
    let sig = github::sign(GITHUB_SECRET, body).unwrap();
    let mut headers = vec![
        ("x-hub-signature-256", sig.as_str()),
        ("x-github-event", "push"),
        ("x-github-delivery", delivery),
        ("content-type", "application/json"),
    ];
    if let Some(xff) = forwarded_for {
        headers.push(("x-forwarded-for", xff));
    }
    hook(inst, "payments", "github", &headers, body)
}

#[test]
fn stripe_events_are_forwarded_published_deduplicated_and_filtered() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(
        tmp.path(),
        &["--external-url", "https://hooks.example.com/"],
    );
    let data = &inst.data_dir;

    let body = r#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount_paid":4200}}}"#;
    let (status, answer) = stripe_post(&inst, body);
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let (event_type, source, payload) = event(data, "payments", &id).unwrap();
    assert_eq!(event_type, "stripe.invoice.paid");
    assert_eq!(source, "endpoint/stripe-events");
    assert_eq!(payload["data"]["object"]["amount_paid"], 4200);

    // One Forward delivery for the endpoint's route, one for the matching subscription.
    let forward = deliveries(data, "payments", TargetKind::Forward, "stripe-events");
    assert_eq!(forward.len(), 1);
    assert_eq!(forward[0].event_id, id);
    let partner = deliveries(
        data,
        "payments",
        TargetKind::Subscription,
        "partner-invoices",
    );
    assert_eq!(partner.len(), 1);
    assert_eq!(partner[0].event_type, "stripe.invoice.paid");

    // The same Stripe event id again (re-signed, as Stripe retries): 200 duplicate, not routed.
    assert_eq!(stripe_post(&inst, body), (200, json!({"duplicate": true})));
    assert_eq!(
        deliveries(data, "payments", TargetKind::Forward, "stripe-events").len(),
        1
    );
    assert_eq!(event_count(data, "payments"), 1);

    // A type outside the allowlist: 202, ignored, nothing stored.
    let (status, answer) = stripe_post(&inst, r#"{"id":"evt_2","type":"customer.created"}"#);
    assert_eq!((status, answer["ignored"].clone()), (202, json!(true)));
    assert_eq!(event_count(data, "payments"), 1);

    // Verified but not JSON: 400, after verification.
    let (status, answer) = stripe_post(&inst, "not json");
    assert_eq!((status, code(&answer)), (400, "invalid_body"));
    // Unsigned: 401 without parsing.
    let (status, answer) = hook(&inst, "payments", "stripe-events", &[], b"not json");
    assert_eq!((status, code(&answer)), (401, "missing_header"));

    let st = endpoint_status(&inst, "payments", "stripe-events");
    assert_eq!(
        st["url"],
        "https://hooks.example.com/hooks/payments/stripe-events"
    );
    assert_eq!(
        (
            st["received"].clone(),
            st["accepted"].clone(),
            st["ignored"].clone(),
            st["rejected"].clone()
        ),
        (json!(5), json!(1), json!(2), json!(2)),
        "{st}"
    );
    assert!(st["lastReceivedAt"].is_string());
    let metrics = String::from_utf8(
        support::http("GET", &format!("{}/metrics", inst.admin_url), &[], None)
            .unwrap()
            .1,
    )
    .unwrap();
    for line in [
        r#"switchboard_webhook_requests_total{namespace="payments",endpoint="stripe-events",outcome="accepted"} 1"#,
        r#"switchboard_webhook_requests_total{namespace="payments",endpoint="stripe-events",outcome="duplicate"} 1"#,
        r#"switchboard_webhook_rejections_total{namespace="payments",endpoint="stripe-events",reason="missing_header"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}

#[test]
fn github_push_through_a_trusted_proxy_fans_out_to_subscriptions() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &["--trusted-proxies", "127.0.0.0/8,::1/128"]);
    let data = &inst.data_dir;

    // Behind the proxy, from GitHub's network: accepted as github.push.
    let (status, answer) = github_push(&inst, "d-1", Some("192.30.252.10"));
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap();
    assert_eq!(event(data, "payments", id).unwrap().0, "github.push");
    let rows = deliveries(data, "payments", TargetKind::Subscription, "chat-pushes");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].event_id.as_str(), rows[0].event_type.as_str()),
        (id, "github.push")
    );

    // Same X-GitHub-Delivery: duplicate.
    assert_eq!(
        github_push(&inst, "d-1", Some("192.30.252.10")),
        (200, json!({"duplicate": true}))
    );
    // The proxy itself, or a client outside GitHub's networks: 403.
    let (status, answer) = github_push(&inst, "d-2", None);
    assert_eq!((status, code(&answer)), (403, "source_not_allowed"));
    let (status, _) = github_push(&inst, "d-3", Some("192.30.252.10, 203.0.113.7"));
    assert_eq!(status, 403);
    assert_eq!(
        deliveries(data, "payments", TargetKind::Subscription, "chat-pushes").len(),
        1
    );
}

#[test]
fn forwarded_for_is_ignored_without_trusted_proxies() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &[]);
    let (status, answer) = github_push(&inst, "d-1", Some("192.30.252.10"));
    assert_eq!((status, code(&answer)), (403, "source_not_allowed"));
}

#[test]
fn gates_transformation_and_readiness() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &["--max-inflight-per-endpoint", "1"]);
    let data = &inst.data_dir;
    let form = ("content-type", "application/x-www-form-urlencoded");

    // 404: unknown and suspended.
    let (status, answer) = hook(&inst, "payments", "nope", &[], b"{}");
    assert_eq!((status, code(&answer)), (404, "not_found"));
    assert_eq!(hook(&inst, "payments", "paused", &[], b"{}").0, 404);
    assert_eq!(hook(&inst, "elsewhere", "stripe-events", &[], b"{}").0, 404);

    // 413 above maxBodyBytes.
    let (status, answer) = hook(&inst, "payments", "tiny", &[], &[b'x'; 64]);
    assert_eq!((status, code(&answer)), (413, "payload_too_large"));
    assert_eq!(hook(&inst, "payments", "tiny", &[], b"{}").0, 202);

    // The transformation runs on the form body; the stored payload is its output.
    let (status, answer) = hook(
        &inst,
        "payments",
        "leads",
        &[form],
        b"email=ada%40example.com",
    );
    assert_eq!(status, 202, "{answer}");
    let (event_type, _, payload) = event(data, "payments", answer["id"].as_str().unwrap()).unwrap();
    assert_eq!(event_type, "lead.created");
    assert_eq!(
        payload,
        json!({"email": "ada@example.com", "plan": "free", "source": "WebhookEndpoint/payments/leads"})
    );
    // A transformation too big for the inline budget completes on the evaluation pool.
    let json_body = ("content-type", "application/json");
    let (status, answer) = hook(&inst, "payments", "heavy", &[json_body], br#"{"id": 7}"#);
    assert_eq!(status, 202, "{answer}");
    let (_, _, payload) = event(data, "payments", answer["id"].as_str().unwrap()).unwrap();
    assert_eq!(payload, json!({"n": 50000, "id": 7}));
    // Output schema failure: 422; wrong content type: 415.
    let (status, answer) = hook(&inst, "payments", "leads", &[form], b"plan=pro");
    assert_eq!((status, code(&answer)), (422, "schema_invalid"));
    let (status, answer) = hook(
        &inst,
        "payments",
        "leads",
        &[("content-type", "application/json")],
        b"{}",
    );
    assert_eq!((status, code(&answer)), (415, "unsupported_media_type"));

    // A request still sending its body holds no slot: with one slot per endpoint, another
    // request is answered beside it.
    let mut slow = TcpStream::connect(inst.data_url.trim_start_matches("http://")).unwrap();
    write!(
        slow,
        "POST /hooks/payments/tiny HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n{{}}"
    )
    .unwrap();
    slow.flush().unwrap();
    for _ in 0..3 {
        assert_eq!(hook(&inst, "payments", "tiny", &[], b"{}").0, 202);
    }
    drop(slow);

    // 429 while the one permitted request is being processed: requests to an endpoint whose
    // transformation takes a while, sent together until two of them overlap.
    let mut limited = false;
    for _ in 0..20 {
        let start = std::sync::Arc::new(std::sync::Barrier::new(8));
        let answers: Vec<_> = (0..8)
            .map(|i| {
                let (start, url) = (start.clone(), inst.data_url.clone());
                std::thread::spawn(move || {
                    start.wait();
                    support::http(
                        "POST",
                        &format!("{url}/hooks/payments/heavy"),
                        &[("content-type", "application/json")],
                        Some(format!(r#"{{"id": {i}}}"#).as_bytes()),
                    )
                })
            })
            .collect();
        for answer in answers {
            let (status, body) = answer.join().unwrap().unwrap();
            if status == 429 {
                let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(code(&answer), "too_many_requests");
                limited = true;
            } else {
                assert_eq!(status, 202);
            }
        }
        if limited {
            break;
        }
    }
    assert!(
        limited,
        "no 429 while a request was in flight\n{}",
        inst.log_text()
    );

    // An endpoint whose Secret is missing is not ready, with the reason.
    let (ready, message) = inst
        .ready("webhookendpoints", "payments", "broken")
        .unwrap();
    assert_eq!(ready, "False");
    assert!(message.contains("no-such-secret"), "{message}");
    assert_eq!(hook(&inst, "payments", "broken", &[], b"{}").0, 404);
    let (ready, _) = inst.ready("webhookendpoints", "payments", "leads").unwrap();
    assert_eq!(ready, "True");
    let st = endpoint_status(&inst, "payments", "leads");
    assert_eq!(st["url"], "/hooks/payments/leads");
    assert_eq!(
        (
            st["accepted"].clone(),
            st["rejected"].clone(),
            st["failed"].clone()
        ),
        (json!(1), json!(1), json!(1)),
        "{st}"
    );
}
