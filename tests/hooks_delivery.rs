//! Inbound to outbound over real HTTP with the real binary: a Stripe-signed webhook reaches the
//! endpoint's forward target and a partner subscription (signed, checked by an independent
//! verifier), a GitHub push reaches the chat subscription transformed and signed, and a store
//! outage answers 503 and keeps nothing, so the sender's retry is accepted once it is back.

mod hooks_support;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hooks_support::{code, hook, now};
use serde_json::{Value, json};
use support::sink::Sink;
use support::standard_webhooks::verifies;
use support::{Instance, copy_examples};
use switchboard::signature::{github, stripe};

const STRIPE_SECRET: &[u8] = b"whsec_dummy_stripe_endpoint_secret";
const GITHUB_SECRET: &[u8] = b"dummy-github-webhook-secret";
/// The partner-invoices subscription's secret in config-examples/02-secrets.yaml.
const PARTNER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// config-examples (outbound URLs already on a closed loopback port) with the delivery
/// targets pointed at local sinks.
fn examples_with_sinks(dir: &Path, forward: &Sink, partner: &Sink, chat: &Sink) -> PathBuf {
    let manifests = copy_examples(&dir.join("manifests"));
    let swaps = [
        (
            "10-stripe.yaml",
            "http://127.0.0.1:9/webhooks/stripe",
            &forward.url,
        ),
        (
            "30-subscriptions.yaml",
            "http://127.0.0.1:9/switchboard/invoices",
            &partner.url,
        ),
        (
            "30-subscriptions.yaml",
            "http://127.0.0.1:9/hooks/T000/B000",
            &chat.url,
        ),
    ];
    for (file, from, to) in swaps {
        let path = manifests.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} no longer has {from}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }
    manifests
}

fn stripe_post(inst: &Instance, body: &str) -> (u16, Value) {
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

/// The examples served by the real binary with `flags`, their targets at three live sinks
/// (forward, partner, chat).
struct Served {
    inst: Instance,
    manifests: PathBuf,
    sinks: [Sink; 3],
    tmp: tempfile::TempDir,
}

fn serve_examples(flags: &[&str]) -> Served {
    support::init_tls();
    let tmp = tempfile::tempdir().unwrap();
    let sinks = [Sink::always(200), Sink::always(200), Sink::always(200)];
    let manifests = examples_with_sinks(tmp.path(), &sinks[0], &sinks[1], &sinks[2]);
    let inst = Instance::start(&manifests, &tmp.path().join("data"), flags);
    Served {
        inst,
        manifests,
        sinks,
        tmp,
    }
}

#[test]
fn stripe_and_github_webhooks_reach_their_targets_signed() {
    let served = serve_examples(&[
        "--allow-private-destinations",
        "--trusted-proxies",
        "127.0.0.0/8,::1/128",
    ]);
    let (inst, [forward, partner, chat]) = (&served.inst, &served.sinks);

    let body = r#"{"id":"evt_e2e","type":"invoice.paid","data":{"object":{"amount_paid":4200}}}"#;
    let (status, answer) = stripe_post(inst, body);
    assert_eq!(status, 202, "{answer}");

    // The forward target gets the verified payload as it came, with the route's header.
    let hits = forward.wait_hits(1, Duration::from_secs(15));
    assert_eq!(
        hits.len(),
        1,
        "forward target not reached; log:\n{}",
        inst.log_text()
    );
    assert_eq!(hits[0].header("x-source"), "switchboard");
    let forwarded: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(forwarded["data"]["object"]["amount_paid"], 4200);
    assert_eq!(forwarded["id"], "evt_e2e");

    // The partner subscription gets a Standard Webhooks delivery signed with its secret.
    let hits = partner.wait_hits(1, Duration::from_secs(15));
    assert_eq!(hits.len(), 1, "partner subscription not reached");
    assert!(
        verifies(&hits[0], PARTNER_SECRET),
        "bad signature {:?}",
        hits[0].headers
    );
    assert!(!verifies(
        &hits[0],
        "whsec_d3Jvbmcgc2VjcmV0IGZvciB0aGUgdGVzdA=="
    ));
    let delivered: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(delivered["type"], "stripe.invoice.paid");
    assert_eq!(delivered["data"]["data"]["object"]["amount_paid"], 4200);

    // A GitHub push from GitHub's network, through the trusted proxy: transformed, signed.
    let push = br#"{"ref":"refs/heads/main","repository":{"full_name":"acme/shop","private":false},"sender":{"login":"octocat"},"commits":[{"id":"0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c","message":"Fix checkout total"}]}"#;
    let sig = github::sign(GITHUB_SECRET, push).unwrap();
    let (status, answer) = hook(
        inst,
        "payments",
        "github",
        &[
            ("x-hub-signature-256", sig.as_str()),
            ("x-github-event", "push"),
            ("x-github-delivery", "e2e-1"),
            ("x-forwarded-for", "192.30.252.10"),
            ("content-type", "application/json"),
        ],
        push,
    );
    assert_eq!(status, 202, "{answer}");
    let hits = chat.wait_hits(1, Duration::from_secs(15));
    assert_eq!(hits.len(), 1, "chat subscription not reached");
    let generated = std::fs::read_to_string(
        served
            .tmp
            .path()
            .join("data/signing-secrets/payments/chat-pushes"),
    )
    .unwrap();
    assert!(verifies(&hits[0], generated.trim()));
    let delivered: Value = serde_json::from_slice(&hits[0].body).unwrap();
    assert_eq!(delivered["type"], "github.push");
    assert_eq!(
        delivered["data"]["text"],
        "octocat pushed 1 commit(s) to acme/shop:main"
    );
    assert_eq!(
        delivered["data"]["commits"],
        json!([{"id": "0d1a26e", "message": "Fix checkout total"}])
    );

    // Nothing else arrived: the partner only wants invoices, the chat only pushes.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        (
            forward.hits().len(),
            partner.hits().len(),
            chat.hits().len()
        ),
        (1, 1, 1)
    );
}

/// A database of its own on the test PostgreSQL server, with the runtime its pool lives on.
struct Db {
    rt: tokio::runtime::Runtime,
    pool: sqlx::PgPool,
}

impl Db {
    /// A fresh database; None (skip) without a test server outside CI.
    fn fresh(name: &str) -> Option<(String, Db)> {
        let Ok(server) = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "SWITCHBOARD_TEST_POSTGRES_URL must be set in CI"
            );
            eprintln!("skipped: SWITCHBOARD_TEST_POSTGRES_URL is not set");
            return None;
        };
        let db = format!("{name}_{}", std::process::id());
        let (base, _) = server.rsplit_once('/').expect("a database URL");
        let url = format!("{base}/{db}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pool = rt.block_on(async {
            let admin = sqlx::PgPool::connect(&server).await.unwrap();
            for statement in [
                format!("DROP DATABASE IF EXISTS {db}"),
                format!("CREATE DATABASE {db}"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(statement))
                    .execute(&admin)
                    .await
                    .unwrap();
            }
            sqlx::PgPool::connect(&url).await.unwrap()
        });
        Some((url, Db { rt, pool }))
    }

    fn run(&self, statement: &'static str) {
        self.rt
            .block_on(sqlx::query(statement).execute(&self.pool))
            .unwrap();
    }

    fn count(&self, table: &'static str) -> i64 {
        let query = sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}"));
        self.rt
            .block_on(sqlx::query_scalar::<_, i64>(query).fetch_one(&self.pool))
            .unwrap()
    }
}

#[test]
fn a_forward_whose_rebuild_fails_keeps_serving_with_its_last_good_route() {
    // Loopback is allowed by range, so every other private address stays refused.
    let served = serve_examples(&["--allowed-destination-cidrs", "127.0.0.0/8"]);
    let (inst, forward, manifests) = (&served.inst, &served.sinks[0], &served.manifests);
    let ready = || inst.ready("webhookendpoints", "payments", "stripe-events");
    assert_eq!(ready().map(|(s, _)| s), Some("True".into()));
    let body = r#"{"id":"evt_fwd_1","type":"invoice.paid","data":{}}"#;
    assert_eq!(stripe_post(inst, body).0, 202);
    assert_eq!(forward.wait_hits(1, Duration::from_secs(15)).len(), 1);

    // The forward URL moves to an address the SSRF guard refuses: the rebuild fails.
    let file = manifests.join("10-stripe.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(&forward.url, "http://10.1.2.3:8080/stripe"),
    )
    .unwrap();
    support::wait_until("Ready=False on the refused forward", inst, || {
        ready().is_some_and(|(s, m)| s == "False" && m.contains("spec.route.forward.url"))
    });
    let (_, message) = ready().unwrap();
    assert!(message.contains("refused by the SSRF guard"), "{message}");

    // The endpoint keeps forwarding with its last good route.
    let body = r#"{"id":"evt_fwd_2","type":"invoice.paid","data":{}}"#;
    assert_eq!(stripe_post(inst, body).0, 202);
    let hits = forward.wait_hits(2, Duration::from_secs(15));
    assert_eq!(hits.len(), 2, "log:\n{}", inst.log_text());
    let second: Value = serde_json::from_slice(&hits[1].body).unwrap();
    assert_eq!(second["id"], "evt_fwd_2");

    // Fixed: Ready again, and still forwarding.
    std::fs::write(&file, text).unwrap();
    support::wait_until("Ready=True after the fix", inst, || {
        ready().is_some_and(|(s, _)| s == "True")
    });
    let body = r#"{"id":"evt_fwd_3","type":"invoice.paid","data":{}}"#;
    assert_eq!(stripe_post(inst, body).0, 202);
    assert_eq!(forward.wait_hits(3, Duration::from_secs(15)).len(), 3);
}

#[test]
fn a_store_outage_answers_503_and_keeps_nothing() {
    support::init_tls();
    let Some((url, db)) = Db::fresh("hooks_outage") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let manifests = copy_examples(&tmp.path().join("manifests"));
    // The examples forward to a loopback port: allowed, so the forward route exists and only
    // the store can refuse the webhook.
    let inst = Instance::start(
        &manifests,
        &tmp.path().join("data"),
        &["--store", &url, "--allow-private-destinations"],
    );

    let body = r#"{"id":"evt_outage","type":"invoice.paid","data":{}}"#;
    // The events table disappears (as a failed disk or a broken server would make it): the
    // receiver must not acknowledge what it could not store.
    db.run("ALTER TABLE events RENAME TO events_away");
    let (status, answer) = stripe_post(&inst, body);
    assert_eq!(
        (status, code(&answer)),
        (503, "store_unavailable"),
        "{answer}"
    );
    assert!(
        !answer.to_string().contains("whsec_"),
        "secret echoed: {answer}"
    );
    db.run("ALTER TABLE events_away RENAME TO events");
    assert_eq!(db.count("events"), 0);
    assert_eq!(db.count("deliveries"), 0);

    // Stripe retries the same event: accepted now, and not taken for a duplicate.
    let (status, answer) = stripe_post(&inst, body);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(db.count("events"), 1);
    assert_eq!(stripe_post(&inst, body), (200, json!({"duplicate": true})));
}
