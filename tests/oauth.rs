//! OAuth2 authorization code against the fake provider of tests/support/oauth_provider.rs (a
//! real axum server on 127.0.0.1: an authorize endpoint that approves and redirects with a
//! code, a token endpoint checking PKCE and issuing short-lived access tokens and rotating
//! refresh tokens, a revocation endpoint, and an API that answers 401 to expired tokens), driving the real
//! `switchboard run` binary over HTTP: connect, callback, replayed state and code, a refresh
//! on 401 through the egress proxy, a rotated refresh token kept across a SIGKILL, a token
//! expiring in the middle of a sync, `invalid_grant`, and no token value in any log, status or
//! error body.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use support::oauth_provider::{CLIENT_ID, CLIENT_SECRET, Provider, fake_provider};
use support::{Instance, http, http_json, wait_until};

// ---------- the instance ----------

fn manifests(dir: &Path, base: &str, extra: &str) -> PathBuf {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("books.yaml"),
        format!(
            r#"{publisher}apiVersion: v1
kind: Secret
metadata:
  name: books-app
  namespace: payments
  labels: {{switchboard.dev/usable: "true"}}
stringData:
  clientId: {CLIENT_ID}
  clientSecret: {CLIENT_SECRET}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: books, namespace: payments}}
spec:
  baseUrl: {base}/api
  retry: {{maxRetries: 0}}
  auth:
    type: OAuth2AuthorizationCode
    secretRef: {{name: books-app}}
    authorizeUrl: {base}/authorize
    tokenUrl: {base}/token
    revocationUrl: {base}/revoke
    scopes: [accounting, offline]
{extra}"#,
            publisher = support::payments_publisher!(),
        ),
    )
    .unwrap();
    m
}

fn start(m: &Path, data: &Path) -> Instance {
    let port = support::free_port();
    let external = format!("http://127.0.0.1:{port}");
    Instance::start_on(
        m,
        data,
        &["--allow-private-destinations", "--external-url", &external],
        port,
    )
}

fn books(inst: &Instance) -> Value {
    inst.status("integrations")
        .into_iter()
        .find(|i| i["metadata"]["name"] == "books")
        .unwrap_or(Value::Null)
}

fn healthy(view: &Value) -> (String, String) {
    let c = view["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Healthy").cloned())
        .unwrap_or(Value::Null);
    (
        c["status"].as_str().unwrap_or_default().to_owned(),
        c["reason"].as_str().unwrap_or_default().to_owned(),
    )
}

/// `switchboard connect intg/books -n payments`: the URL it prints.
fn connect_url(inst: &Instance) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "connect",
            "intg/books",
            "-n",
            "payments",
            "--admin",
            &inst.admin_url,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The browser: opens the authorize URL, which redirects to the callback; returns the
/// callback URL (not followed).
fn approve(authorize: &str) -> String {
    support::init_tls();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client.get(authorize).send().await.unwrap();
        assert_eq!(r.status(), 303, "the provider approves");
        r.headers()["location"].to_str().unwrap().to_owned()
    })
}

/// Follows the callback URL: (status, page).
fn callback(url: &str) -> (u16, String) {
    let (status, body) = http("GET", url, &[], None).unwrap();
    (status, String::from_utf8(body).unwrap())
}

const TOKEN: (&str, &str) = ("authorization", "Bearer test-publisher-token");

fn proxy(inst: &Instance, page: u32) -> (u16, Vec<u8>) {
    http(
        "GET",
        &format!(
            "{}/v1/namespaces/payments/integrations/books/proxy/items?page={page}",
            inst.data_url
        ),
        &[TOKEN],
        None,
    )
    .unwrap()
}

/// Everything a person or a log reader can see must hold no issued value.
fn assert_no_token_in(provider: &Provider, what: &str, text: &str) {
    for value in provider.issued.lock().unwrap().iter() {
        assert!(
            !text.contains(value.as_str()),
            "{what} shows a token or code the provider issued ({value}):\n{text}"
        );
    }
}

// ---------- tests ----------

#[test]
fn a_connection_is_made_refreshed_on_401_kept_across_a_restart_and_reported_when_revoked() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (provider, base) = fake_provider(&rt);
    let dir = tempfile::tempdir().unwrap();
    // A subscription taking the OAuth lifecycle events of the namespace.
    let watcher = support::sink::Sink::always(200);
    let m = manifests(
        dir.path(),
        &base,
        &format!(
            r#"---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: oauth-watch, namespace: payments}}
spec:
  eventTypes: ["switchboard.oauth.*"]
  url: {}
"#,
            watcher.url
        ),
    );
    let data = dir.path().join("data");
    let mut seen = String::new();
    let mut inst = start(&m, &data);

    // Before: not connected, and the status says what to do.
    wait_until("NotConnected", &inst, || {
        books(&inst)["status"]["connection"]["state"] == "NotConnected"
    });
    let view = books(&inst);
    assert_eq!(healthy(&view), ("False".into(), "NotConnected".into()));
    let page = view["status"]["connection"]["connectUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.ends_with("/oauth/connect/payments/books"), "{page}");
    let (status, text) = callback(&page);
    assert_eq!(status, 200);
    assert!(
        text.contains("switchboard connect intg/books -n payments"),
        "{text}"
    );
    let (status, body) = proxy(&inst, 1);
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&body));
    seen.push_str(&String::from_utf8_lossy(&body));

    // Connect: the URL carries PKCE S256 and a state; the browser comes back with a code.
    let link = connect_url(&inst);
    let parsed = url::Url::parse(&link).unwrap();
    let q: HashMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["redirect_uri"],
        format!("{}/oauth/callback", inst.data_url)
    );
    assert_eq!(q["scope"], "accounting offline");
    let back = approve(&link);
    let (status, text) = callback(&back);
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("payments/books is connected to 4620816365"),
        "{text}"
    );
    seen.push_str(&text);
    wait_until("Connected", &inst, || {
        books(&inst)["status"]["connection"]["state"] == "Connected"
    });
    let connection = books(&inst)["status"]["connection"].clone();
    assert_eq!(connection["scopes"], json!(["accounting", "offline"]));
    assert_eq!(connection["account"], "4620816365");
    assert!(
        connection["accessTokenExpiresAt"].is_string(),
        "{connection}"
    );
    assert_ne!(healthy(&books(&inst)).1, "NotConnected");

    // The API is called with the access token.
    let (status, body) = proxy(&inst, 1);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    // The same redirect again: the state is used up; nothing changes.
    let issued = provider.issued.lock().unwrap().len();
    let (status, text) = callback(&back);
    assert_eq!(status, 400);
    assert!(text.contains("unknown or was already used"), "{text}");
    seen.push_str(&text);
    // The code again, with a fresh state: the provider refuses it; nothing changes.
    let fresh = connect_url(&inst);
    let state = url::Url::parse(&fresh)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let code = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let replay = format!("{}/oauth/callback?code={code}&state={state}", inst.data_url);
    let (status, text) = callback(&replay);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("invalid_grant"), "{text}");
    seen.push_str(&text);
    // A forged state.
    let (status, text) = callback(&format!(
        "{}/oauth/callback?code=x&state=forged",
        inst.data_url
    ));
    assert_eq!(status, 400);
    seen.push_str(&text);
    assert_eq!(
        provider.issued.lock().unwrap().len(),
        issued,
        "no token issued"
    );
    assert_eq!(
        proxy(&inst, 1).0,
        200,
        "still connected with the same tokens"
    );
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 0);

    // The access token expires: the call gets a 401, refreshes once and is retried.
    provider.expire_access();
    let (status, body) = proxy(&inst, 1);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    wait_until("lastRefresh", &inst, || {
        books(&inst)["status"]["connection"]["lastRefresh"].is_string()
    });

    // SIGKILL and restart: the rotated refresh token (the only one that works now) was kept.
    seen.push_str(&inst.log_text());
    inst.kill9();
    drop(inst);
    provider.expire_access();
    let inst = start(&m, &data);
    let (status, body) = proxy(&inst, 1);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 2);

    // The provider revokes the grant: invalid_grant marks the connection for re-authorization.
    *provider.live_refresh.lock().unwrap() = None;
    provider.expire_access();
    let (status, body) = proxy(&inst, 1);
    let error = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(
        status, 503,
        "the retry after the refresh finds no token: {error}"
    );
    assert!(error.contains("must be connected again"), "{error}");
    seen.push_str(&error);
    wait_until("NeedsReauthorization", &inst, || {
        books(&inst)["status"]["connection"]["state"] == "NeedsReauthorization"
    });
    let view = books(&inst);
    assert_eq!(
        healthy(&view),
        ("False".into(), "ReauthorizationRequired".into())
    );
    assert_eq!(view["status"]["phase"], "PendingAuth");
    let message = view["status"]["connection"]["message"].as_str().unwrap();
    assert!(message.contains("invalid_grant"), "{message}");
    // ...and a lifecycle event tells the namespace's subscribers a person must act.
    let reauthorize = |e: &Value| e["data"]["reason"] == "ReauthorizationRequired";
    let events = || -> Vec<Value> {
        watcher
            .hits()
            .iter()
            .map(|h| serde_json::from_slice(&h.body).unwrap())
            .collect()
    };
    wait_until("the attention_needed event", &inst, || {
        events().iter().any(reauthorize)
    });
    let events = events();
    let attention = events.iter().find(|e| reauthorize(e)).unwrap();
    let hits = watcher.hits();
    assert_eq!(attention["type"], "switchboard.oauth.attention_needed");
    assert_eq!(attention["data"]["integration"], "books");
    assert_eq!(attention["data"]["subject"]["kind"], "Integration");
    assert!(
        attention["data"]["message"]
            .as_str()
            .unwrap()
            .contains("switchboard connect intg/books -n payments"),
        "{attention}"
    );
    for hit in &hits {
        seen.push_str(&String::from_utf8_lossy(&hit.body));
    }
    let (status, body) = proxy(&inst, 1);
    assert_eq!(status, 503);
    let error = String::from_utf8_lossy(&body).into_owned();
    assert!(error.contains("must be connected again"), "{error}");
    seen.push_str(&error);

    // Connecting again heals it.
    let (status, text) = callback(&approve(&connect_url(&inst)));
    assert_eq!(status, 200, "{text}");
    wait_until("Connected again", &inst, || {
        healthy(&books(&inst)).0 == "True"
            && books(&inst)["status"]["connection"]["state"] == "Connected"
    });
    assert_eq!(proxy(&inst, 1).0, 200);

    // No token or code the provider issued in any log, status or error body.
    seen.push_str(&inst.log_text());
    seen.push_str(
        &http_json("GET", &format!("{}/v1/status", inst.admin_url), &[], None)
            .1
            .to_string(),
    );
    assert_no_token_in(&provider, "logs, status and error bodies", &seen);
    assert!(!provider.issued.lock().unwrap().is_empty());
}

#[test]
fn an_access_token_expiring_mid_sync_is_refreshed_without_a_failed_record() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (provider, base) = fake_provider(&rt);
    let dir = tempfile::tempdir().unwrap();
    let m = manifests(dir.path(), &base, "");
    let data = dir.path().join("data");
    let inst = start(&m, &data);
    let (status, text) = callback(&approve(&connect_url(&inst)));
    assert_eq!(status, 200, "{text}");
    // The token expires when page 2 is first asked for.
    provider.expire_at_page_two.store(true, Ordering::SeqCst);
    std::fs::write(
        m.join("sync.yaml"),
        r#"apiVersion: switchboard.dev/v1alpha1
kind: SyncJob
metadata: {name: pull, namespace: payments}
spec:
  template:
    integrationRef: {name: books}
    entityType: item
    request:
      path: /items
      itemsPath: .items
      pagination: {type: Page, pageParam: page}
    sink:
      publish: {eventType: books.item.synced}
"#,
    )
    .unwrap();
    wait_until("the sync job completes", &inst, || {
        inst.status("syncjobs")
            .iter()
            .any(|j| j["status"]["phase"] == "Completed")
    });
    let jobs = inst.status("syncjobs");
    let job = jobs
        .iter()
        .find(|j| j["status"]["phase"] == "Completed")
        .unwrap();
    assert_eq!(job["status"]["failedRecords"], 0, "{job}");
    assert_eq!(job["status"]["succeededRecords"], 6, "{job}");
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    assert!(
        !provider.expire_at_page_two.load(Ordering::SeqCst),
        "page 2 expired the token"
    );
    assert_no_token_in(&provider, "the log", &inst.log_text());
}

#[test]
fn an_integration_removed_from_the_manifests_has_its_tokens_revoked_and_forgotten() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (provider, base) = fake_provider(&rt);
    let dir = tempfile::tempdir().unwrap();
    let m = manifests(dir.path(), &base, "");
    let data = dir.path().join("data");
    let inst = start(&m, &data);
    let (status, text) = callback(&approve(&connect_url(&inst)));
    assert_eq!(status, 200, "{text}");
    wait_until("Connected", &inst, || {
        books(&inst)["status"]["connection"]["state"] == "Connected"
    });
    let refresh = provider.live_refresh.lock().unwrap().clone().unwrap();
    let access: Vec<String> = provider
        .live_access
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect();
    let full = std::fs::read_to_string(m.join("books.yaml")).unwrap();
    let without = &full[..full
        .find("apiVersion: switchboard.dev/v1alpha1\nkind: Integration")
        .unwrap()];
    std::fs::write(m.join("books.yaml"), without).unwrap();
    wait_until("the tokens are revoked (RFC 7009)", &inst, || {
        let revoked = provider.revoked.lock().unwrap();
        revoked.contains(&refresh) && access.iter().all(|a| revoked.contains(a))
    });
    // Put back, it is not connected: the tokens were forgotten, not merely revoked.
    std::fs::write(m.join("books.yaml"), &full).unwrap();
    wait_until("NotConnected again", &inst, || {
        books(&inst)["status"]["connection"]["state"] == "NotConnected"
    });
    assert_no_token_in(&provider, "the log", &inst.log_text());
}
