//! Integration clients against a local fake provider API (a real HTTP server on 127.0.0.1):
//! OAuth2 tokens (expiry, refresh, one refetch on 401), API keys in a header or the query,
//! 429 with Retry-After, a 5xx burst that opens the circuit and a recovery that closes it;
//! then through `switchboard run`: health checks in the status, the egress proxy end to end
//! with its call log on the admin port, and deliveries with OAuth2 auth.

mod integration_support;
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use integration_support::{CLIENT_ID, CLIENT_SECRET, FakeApi, eventually};
use serde_json::{Value, json};
use support::{Instance, http, http_json};
use switchboard::api::{CircuitState, IntegrationSpec};
use switchboard::delivery::DestinationPolicy;
use switchboard::integration::{
    CallRequest, Credentials, IntegrationClient, IntegrationError, IntegrationMetrics, Settings,
};

fn client(spec: Value, credentials: Credentials) -> IntegrationClient {
    support::init_tls();
    let spec: IntegrationSpec = serde_json::from_value(spec).unwrap();
    let settings = Settings::resolve(&spec, None).unwrap();
    let policy = Arc::new(DestinationPolicy {
        allow_private: true,
        allowed: vec![],
    });
    IntegrationClient::build(
        "payments",
        "fake",
        settings,
        spec.auth.as_ref(),
        &credentials,
        &policy,
        IntegrationMetrics::default(),
    )
    .unwrap()
}

fn oauth_credentials() -> Credentials {
    Credentials {
        client_id: Some(CLIENT_ID.into()),
        client_secret: Some(CLIENT_SECRET.into()),
        ..Credentials::default()
    }
}

async fn whoami(c: &IntegrationClient) -> (u16, Value) {
    let r = c.call(CallRequest::get("/api/whoami")).await.unwrap();
    (r.status.as_u16(), serde_json::from_slice(&r.body).unwrap())
}

#[tokio::test]
async fn oauth2_tokens_are_cached_refreshed_before_expiry_and_refetched_once_on_401() {
    let api = FakeApi::start();
    api.state.expires_in.store(2, Ordering::SeqCst);
    let c = client(
        json!({"baseUrl": api.url("/"), "auth": {"type": "OAuth2ClientCredentials",
               "tokenUrl": api.url("/oauth/token"), "scopes": ["read", "write"],
               "secretRef": {"name": "oauth"}}}),
        oauth_credentials(),
    );
    // One fetch serves several calls.
    let (status, first) = whoami(&c).await;
    assert_eq!(status, 200);
    assert_eq!(first["authorization"], "Bearer tok-1");
    assert_eq!(whoami(&c).await.1["authorization"], "Bearer tok-1");
    assert_eq!(api.state.token_fetches.load(Ordering::SeqCst), 1);

    // Shortly before the 2 s expiry, the next call fetches a new token.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if whoami(&c).await.1["authorization"] == "Bearer tok-2" {
            break;
        }
        assert!(Instant::now() < deadline, "the token was never refreshed");
    }
    assert_eq!(api.state.token_fetches.load(Ordering::SeqCst), 2);

    // The API revokes the token: one 401, one refetch, and the call succeeds.
    api.state.expires_in.store(3600, Ordering::SeqCst);
    api.state.revoked.lock().unwrap().insert("tok-2".into());
    let before = api.state.hits("/api/whoami");
    let (status, answer) = whoami(&c).await;
    assert_eq!(
        (status, answer["authorization"].as_str()),
        (200, Some("Bearer tok-3"))
    );
    assert_eq!(api.state.hits("/api/whoami"), before + 2);
    assert_eq!(api.state.token_fetches.load(Ordering::SeqCst), 3);

    // Every token refused: exactly one refetch, then the 401 is the answer.
    api.state.reject_all.store(true, Ordering::SeqCst);
    let before = api.state.hits("/api/whoami");
    let r = c.call(CallRequest::get("/api/whoami")).await.unwrap();
    assert_eq!(r.status.as_u16(), 401);
    assert_eq!(api.state.hits("/api/whoami"), before + 2);
    assert_eq!(api.state.token_fetches.load(Ordering::SeqCst), 4);
    // The client secret never shows in the client's Debug output or its log.
    assert!(!format!("{c:?}").contains(CLIENT_SECRET));
    let log = serde_json::to_string(&c.log().recent()).unwrap();
    assert!(
        !log.contains(CLIENT_SECRET) && !log.contains("tok-"),
        "{log}"
    );
}

#[tokio::test]
async fn a_token_endpoint_that_refuses_the_client_is_an_error_without_secrets() {
    let api = FakeApi::start();
    let c = client(
        json!({"baseUrl": api.url("/"), "auth": {"type": "OAuth2ClientCredentials",
               "tokenUrl": api.url("/oauth/token"), "secretRef": {"name": "oauth"}}}),
        Credentials {
            client_id: Some(CLIENT_ID.into()),
            client_secret: Some("wrong-secret".into()),
            ..Credentials::default()
        },
    );
    let err = c.call(CallRequest::get("/api/whoami")).await.unwrap_err();
    // As a person sees it: the error with its whole source chain.
    let text = switchboard::error_chain::render(&err);
    assert!(matches!(err, IntegrationError::Token { .. }), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains("wrong-secret"), "{text}");
    assert_eq!(api.state.hits("/api/whoami"), 0);
}

/// A loopback port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The OS's text for a refused connection, whatever its case ("Connection refused").
fn says_connection_refused(text: &str) -> bool {
    text.to_ascii_lowercase().contains("connection refused")
}

#[tokio::test]
async fn a_health_check_that_cannot_connect_names_the_root_cause() {
    let port = closed_port();
    let c = client(
        json!({"baseUrl": format!("http://127.0.0.1:{port}"),
               "healthCheck": {"path": "/health"}}),
        Credentials::default(),
    );
    let outcome = c
        .check_health()
        .await
        .expect("a health check is configured");
    assert!(!outcome.ok);
    assert!(
        outcome
            .message
            .contains("GET /health on integration payments/fake"),
        "{}",
        outcome.message
    );
    assert!(
        says_connection_refused(&outcome.message),
        "{}",
        outcome.message
    );
    let last_error = c.stats().snapshot().last_error.unwrap_or_default();
    assert!(says_connection_refused(&last_error), "{last_error}");
}

#[tokio::test]
async fn api_keys_go_in_the_configured_header_or_query_parameter() {
    let api = FakeApi::start();
    let key = Credentials {
        api_key: Some("key-in-header-123".into()),
        ..Credentials::default()
    };
    let c = client(
        json!({"baseUrl": api.url("/"), "auth": {"type": "ApiKey", "secretRef": {"name": "k"}}}),
        key,
    );
    let mut req = CallRequest::get("/api/whoami");
    req.headers
        .insert("authorization", "Bearer caller-token".parse().unwrap());
    let r = c.call(req).await.unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["apiKey"], "key-in-header-123");
    assert_eq!(
        v["authorization"], "",
        "a caller's Authorization is never sent"
    );

    let c = client(
        json!({"baseUrl": api.url("/"), "auth": {"type": "ApiKey", "queryParam": "api_key",
               "secretRef": {"name": "k"}}}),
        Credentials {
            api_key: Some("key-in-query-456".into()),
            ..Credentials::default()
        },
    );
    let mut req = CallRequest::get("/api/whoami?page=2");
    req.query.push(("limit".into(), "5".into()));
    let r = c.call(req).await.unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["query"], "page=2&limit=5&api_key=key-in-query-456");
    assert_eq!(v["apiKey"], "");
    let log = c.log().recent();
    assert_eq!(log[0].path, "/api/whoami");
    assert_eq!(log[0].status, Some(200));
    assert!(
        !serde_json::to_string(&log)
            .unwrap()
            .contains("key-in-query")
    );
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let api = FakeApi::start();
    let c = client(
        json!({"baseUrl": api.url("/"),
               "retry": {"initialDelay": "10ms", "maxDelay": "5s", "maxRetries": 3}}),
        Credentials::default(),
    );
    let started = Instant::now();
    let r = c.call(CallRequest::get("/api/limited")).await.unwrap();
    assert_eq!(r.status.as_u16(), 200);
    assert_eq!(api.state.hits("/api/limited"), 2);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the retry waited for Retry-After: 1, not the 10 ms backoff"
    );
    assert_eq!(c.log().recent()[0].attempts, 2);

    // POST is not idempotent: its 429 is the answer, not retried.
    let mut post = CallRequest::get("/api/limited");
    post.method = http::Method::POST;
    post.body = Some(bytes::Bytes::from_static(b"{}"));
    let r = c.call(post).await.unwrap();
    assert_eq!(r.status.as_u16(), 429);
    assert_eq!(api.state.hits("/api/limited"), 3);

    // A Retry-After beyond maxDelay is not waited for.
    let other = FakeApi::start();
    let impatient = client(
        json!({"baseUrl": other.url("/"), "retry": {"initialDelay": "10ms", "maxDelay": "100ms"}}),
        Credentials::default(),
    );
    let r = impatient
        .call(CallRequest::get("/api/limited"))
        .await
        .unwrap();
    assert_eq!(r.status.as_u16(), 429);
    assert_eq!(other.state.hits("/api/limited"), 1);
}

#[tokio::test]
async fn a_5xx_burst_opens_the_circuit_and_a_recovery_closes_it() {
    let api = FakeApi::start();
    let c = client(
        json!({"baseUrl": api.url("/"), "retry": {"maxRetries": 0},
               "circuitBreaker": {"failureThreshold": 5, "openDuration": "300ms",
                                  "successThreshold": 3}}),
        Credentials::default(),
    );
    api.state.failing.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        let r = c.call(CallRequest::get("/api/flaky")).await.unwrap();
        assert_eq!(r.status.as_u16(), 500);
    }
    assert_eq!(c.circuit(), CircuitState::Open);
    let err = c.call(CallRequest::get("/api/flaky")).await.unwrap_err();
    assert!(matches!(err, IntegrationError::CircuitOpen { .. }), "{err}");
    assert_eq!(
        api.state.hits("/api/flaky"),
        5,
        "an open circuit makes no call"
    );
    let stats = c.stats().snapshot();
    assert_eq!(stats.error_count, 6);
    assert!(stats.last_error.unwrap().contains("circuit breaker"));

    // The API recovers: once the open period is over, probes go through one at a time and
    // three successes close the circuit.
    api.state.failing.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.call(CallRequest::get("/api/flaky")).await {
            Ok(r) if r.status.is_success() => break,
            Ok(r) => panic!("unexpected {}", r.status),
            Err(IntegrationError::CircuitOpen { .. }) => {
                assert!(Instant::now() < deadline, "the circuit never half-opened");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(c.circuit(), CircuitState::HalfOpen);
    for _ in 0..2 {
        let r = c.call(CallRequest::get("/api/flaky")).await.unwrap();
        assert_eq!(r.status.as_u16(), 200);
    }
    assert_eq!(c.circuit(), CircuitState::Closed);
    assert_eq!(api.state.hits("/api/flaky"), 8);
    assert!(c.stats().snapshot().last_success.is_some());
}

#[tokio::test]
async fn calls_wait_for_the_rate_limit() {
    let api = FakeApi::start();
    let c = client(
        json!({"baseUrl": api.url("/"), "rateLimit": {"requests": 2, "period": "1s"}}),
        Credentials::default(),
    );
    let started = Instant::now();
    for _ in 0..4 {
        let r = c.call(CallRequest::get("/api/whoami")).await.unwrap();
        assert_eq!(r.status.as_u16(), 200);
    }
    // A burst of two, then one call every 500 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(api.state.hits("/api/whoami"), 4);
}

// ---------- through `switchboard run` ----------

const PUBLISHER: &str = "integration-test-publisher";

fn manifests(api: &FakeApi, extra: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: publisher
  namespace: payments
  labels: {{switchboard.dev/publisher-token: "true"}}
stringData:
  token: {PUBLISHER}
---
apiVersion: v1
kind: Secret
metadata: {{name: other-publisher, namespace: other, labels: {{switchboard.dev/publisher-token: "true"}}}}
stringData:
  token: other-namespace-token
---
apiVersion: v1
kind: Secret
metadata: {{name: upstream, namespace: payments, labels: {{switchboard.dev/usable: "true"}}}}
stringData:
  token: upstream-secret-token
---
apiVersion: v1
kind: Secret
metadata: {{name: oauth, namespace: payments, labels: {{switchboard.dev/usable: "true"}}}}
stringData:
  clientId: {CLIENT_ID}
  clientSecret: {CLIENT_SECRET}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: fake, namespace: payments}}
spec:
  baseUrl: {base}
  auth: {{type: Bearer, secretRef: {{name: upstream}}}}
  healthCheck: {{path: /health, interval: 200ms}}
  retry: {{initialDelay: 10ms}}
{extra}
"#,
        base = api.url("/api"),
    )
}

fn start(dir: &std::path::Path, yaml: &str) -> Instance {
    let m = dir.join("manifests");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(m.join("all.yaml"), yaml).unwrap();
    Instance::start(&m, &dir.join("data"), &["--allow-private-destinations"])
}

fn integration_status(inst: &Instance, name: &str) -> Option<Value> {
    inst.status("integrations")
        .into_iter()
        .find(|i| i["metadata"]["name"] == name)
        .map(|i| i["status"].clone())
}

fn condition(status: &Value, type_: &str) -> Option<(String, String)> {
    let c = status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    Some((
        c["status"].as_str()?.to_owned(),
        c["message"].as_str()?.to_owned(),
    ))
}

#[test]
fn health_checks_show_in_the_status_and_missing_credentials_are_pending_auth() {
    let api = FakeApi::start();
    let tmp = tempfile::tempdir().unwrap();
    let extra = r#"---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {name: no-secret, namespace: payments}
spec:
  baseUrl: https://api.example.com
  auth: {type: Bearer, secretRef: {name: not-there}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata:
  name: on-demand
  namespace: payments
  annotations: {switchboard.dev/check-requested-at: "2026-01-01T00:00:00Z"}
spec:
  baseUrl: BASE/on-demand
  healthCheck: {path: /health, interval: 1h}
---
apiVersion: switchboard.dev/v1alpha1
kind: ClusterIntegrationProvider
metadata: {name: fakeprov}
spec:
  displayName: Fake
  baseUrl: https://api.example.com
  configSchema:
    type: object
    required: [accountId]
    properties:
      accountId: {type: string, pattern: "^acct_"}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {name: bad-config, namespace: payments}
spec:
  provider: fakeprov
  config: {accountId: "nope"}
"#
    .replace("BASE", &api.url(""));
    let inst = start(tmp.path(), &manifests(&api, &extra));

    let healthy = eventually("Healthy=True", Duration::from_secs(15), || {
        let s = integration_status(&inst, "fake")?;
        (condition(&s, "Healthy")?.0 == "True").then_some(s)
    });
    assert_eq!(healthy["phase"], "Active", "{healthy}");
    assert_eq!(healthy["circuit"], "Closed");
    assert!(healthy["lastSuccessfulCall"].is_string(), "{healthy}");
    assert_eq!(condition(&healthy, "Ready").unwrap().0, "True");

    api.state.unhealthy.store(true, Ordering::SeqCst);
    let sick = eventually("Healthy=False", Duration::from_secs(15), || {
        let s = integration_status(&inst, "fake")?;
        (condition(&s, "Healthy")?.0 == "False").then_some(s)
    });
    assert_eq!(sick["phase"], "Error", "{sick}");
    assert!(sick["errorCount"].as_u64().unwrap() >= 1, "{sick}");
    assert!(
        sick["lastError"].as_str().unwrap().contains("503"),
        "{sick}"
    );
    assert!(sick["lastErrorAt"].is_string());
    let (_, message) = condition(&sick, "Healthy").unwrap();
    assert!(
        message.contains("GET /health") && message.contains("503"),
        "{message}"
    );
    assert!(!sick.to_string().contains("upstream-secret-token"));

    api.state.unhealthy.store(false, Ordering::SeqCst);
    eventually("Healthy again", Duration::from_secs(15), || {
        let s = integration_status(&inst, "fake")?;
        (condition(&s, "Healthy")?.0 == "True" && s["phase"] == "Active").then_some(())
    });

    // Missing credentials: PendingAuth, not Ready.
    let pending = integration_status(&inst, "no-secret").unwrap();
    assert_eq!(pending["phase"], "PendingAuth", "{pending}");
    let (ready, message) = condition(&pending, "Ready").unwrap();
    assert_eq!(ready, "False");
    assert!(message.contains("not-there"), "{message}");

    // A config that fails the provider's configSchema: not Ready, naming the failing path.
    let bad = integration_status(&inst, "bad-config").unwrap();
    let (ready, message) = condition(&bad, "Ready").unwrap();
    assert_eq!(ready, "False");
    assert!(message.contains("spec.config.accountId"), "{message}");
    assert_eq!(bad["phase"], "Error");

    // The check-requested annotation runs an hourly check now.
    eventually("the first on-demand check", Duration::from_secs(15), || {
        (api.state.hits("/on-demand/health") == 1).then_some(())
    });
    let yaml = std::fs::read_to_string(inst.manifests.join("all.yaml")).unwrap();
    std::fs::write(
        inst.manifests.join("all.yaml"),
        yaml.replace("2026-01-01T00:00:00Z", "2026-01-01T00:05:00Z"),
    )
    .unwrap();
    eventually("the requested check", Duration::from_secs(15), || {
        (api.state.hits("/on-demand/health") == 2).then_some(())
    });

    // `switchboard get intg` shows phase, health and circuit.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "get",
            "intg",
            "fake",
            "-n",
            "payments",
            "--admin",
            &inst.admin_url,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<_> = text.lines().collect();
    assert!(
        lines[0].contains("PHASE") && lines[0].contains("HEALTHY") && lines[0].contains("CIRCUIT"),
        "{text}"
    );
    assert!(
        lines[1].contains("Active") && lines[1].contains("Closed"),
        "{text}"
    );
}

#[test]
fn an_unreachable_integration_is_unhealthy_with_the_root_cause_in_its_status() {
    let api = FakeApi::start();
    let tmp = tempfile::tempdir().unwrap();
    let extra = format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: unreachable, namespace: payments}}
spec:
  baseUrl: http://127.0.0.1:{port}
  healthCheck: {{path: /health, interval: 200ms}}
"#,
        port = closed_port()
    );
    let inst = start(tmp.path(), &manifests(&api, &extra));
    let sick = eventually("Healthy=False", Duration::from_secs(15), || {
        let s = integration_status(&inst, "unreachable")?;
        (condition(&s, "Healthy")?.0 == "False").then_some(s)
    });
    let (_, message) = condition(&sick, "Healthy").unwrap();
    assert!(message.contains("GET /health"), "{message}");
    assert!(says_connection_refused(&message), "{message}");
    let last_error = sick["lastError"].as_str().unwrap_or_default();
    assert!(says_connection_refused(last_error), "{sick}");
}

#[test]
fn the_egress_proxy_injects_the_integrations_auth_and_logs_every_call() {
    let api = FakeApi::start();
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path(), &manifests(&api, ""));
    let proxy = format!(
        "{}/v1/namespaces/payments/integrations/fake/proxy/echo/items?api_key=s3cret-q&page=2",
        inst.data_url
    );
    let caller = format!("Bearer {PUBLISHER}");

    // Authenticated exactly like the publish API.
    assert_eq!(http_json("GET", &proxy, &[], None).0, 401);
    let wrong = [("authorization", "Bearer nope")];
    assert_eq!(http_json("GET", &proxy, &wrong, None).0, 401);
    let other = [("authorization", "Bearer other-namespace-token")];
    assert_eq!(http_json("GET", &proxy, &other, None).0, 403);
    assert_eq!(api.state.hits("/api/echo/items"), 0);
    let missing = format!(
        "{}/v1/namespaces/payments/integrations/nope/proxy/x",
        inst.data_url
    );
    assert_eq!(
        http_json("GET", &missing, &[("authorization", &caller)], None).0,
        404
    );

    let (status, echo) = http_json(
        "POST",
        &proxy,
        &[
            ("authorization", &caller),
            ("content-type", "application/json"),
            ("connection", "x-private-hop"),
            ("x-private-hop", "1"),
            ("x-request-id", "req-7"),
        ],
        Some(br#"{"name":"widget"}"#),
    );
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/api/echo/items");
    assert_eq!(echo["query"], "api_key=s3cret-q&page=2");
    assert_eq!(echo["authorization"], "Bearer upstream-secret-token");
    assert_eq!(echo["body"], r#"{"name":"widget"}"#);
    let headers = echo["headers"].as_object().unwrap();
    assert_eq!(headers["x-request-id"], "req-7");
    assert!(!headers.contains_key("x-private-hop"), "{echo}");
    assert!(
        !echo.to_string().contains(PUBLISHER),
        "the caller's token is never forwarded"
    );

    // The call log on the admin port: method, path, status, duration, bytes; no secrets.
    let logs_url = format!(
        "{}/v1/namespaces/payments/integrations/fake/logs",
        inst.admin_url
    );
    let (status, logs) = http_json("GET", &logs_url, &[], None);
    assert_eq!(status, 200);
    let entry = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/echo/items")
        .cloned()
        .unwrap_or_else(|| panic!("no proxy call in {logs}"));
    assert_eq!(entry["method"], "POST");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["requestBytes"], 17);
    assert!(entry["responseBytes"].as_u64().unwrap() > 0);
    assert!(entry["durationMs"].is_u64());
    let text = logs.to_string();
    for secret in ["s3cret-q", "upstream-secret-token", PUBLISHER] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }

    // Counted in the metrics.
    let (_, metrics) = http("GET", &format!("{}/metrics", inst.admin_url), &[], None).unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchboard_integration_calls_total{")
                && l.contains("integration=\"fake\"")
                && l.contains("method=\"POST\"")
                && l.contains("outcome=\"2xx\"")),
        "{metrics}"
    );
}

#[test]
fn deliveries_use_oauth2_client_credentials_and_an_integrations_auth() {
    let api = FakeApi::start();
    let tmp = tempfile::tempdir().unwrap();
    let subscriptions = format!(
        r#"---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: oauth-sink, namespace: payments}}
spec:
  url: {sink}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
  auth:
    type: OAuth2ClientCredentials
    tokenUrl: {token}
    secretRef: {{name: oauth}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: via-integration, namespace: payments}}
spec:
  url: {sink}
  eventTypes: ["invoice.*"]
  signing: {{scheme: None}}
  integrationRef: {{name: fake}}
"#,
        sink = api.url("/sink"),
        token = api.url("/oauth/token"),
    );
    let inst = start(tmp.path(), &manifests(&api, &subscriptions));
    for name in ["oauth-sink", "via-integration"] {
        let ready = inst.ready("webhooksubscriptions", "payments", name);
        assert_eq!(
            ready.as_ref().map(|r| r.0.as_str()),
            Some("True"),
            "{name}: {ready:?}"
        );
    }
    let publish = |event: &str| {
        let body = json!({"type": event, "data": {"n": 1}}).to_string();
        let (status, answer) = http_json(
            "POST",
            &format!("{}/v1/namespaces/payments/events", inst.data_url),
            &[
                ("authorization", &format!("Bearer {PUBLISHER}")),
                ("content-type", "application/json"),
            ],
            Some(body.as_bytes()),
        );
        assert_eq!(status, 202, "{answer}");
    };
    publish("order.created");
    publish("order.paid");
    let auth = eventually("two OAuth2 deliveries", Duration::from_secs(15), || {
        let seen = api.state.sink_auth.lock().unwrap().clone();
        (seen.len() >= 2).then_some(seen)
    });
    assert_eq!(auth, ["Bearer tok-1", "Bearer tok-1"], "one token, cached");
    assert_eq!(api.state.token_fetches.load(Ordering::SeqCst), 1);

    publish("invoice.paid");
    let auth = eventually(
        "the integrationRef delivery",
        Duration::from_secs(15),
        || {
            let seen = api.state.sink_auth.lock().unwrap().clone();
            (seen.len() >= 3).then_some(seen)
        },
    );
    assert_eq!(auth[2], "Bearer upstream-secret-token");
}
