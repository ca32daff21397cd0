//! OAuth2 authorization code in a cluster, with the real controller and the fake provider of
//! tests/support/oauth_provider.rs: connecting keeps the tokens in a Secret
//! `<integration>-oauth-tokens` owned by the Integration (ownerReference checked through the
//! API), never in the CR, its status, events or the controller's log; a second controller
//! with an empty store of its own reads the connection from that Secret; deleting the
//! Integration revokes the tokens at the provider and deletes the Secret; two replicas due to
//! refresh the same connection at the same moment make one refresh at the provider (the
//! other waits on the claim in the Secret and uses the tokens the first saved), after a
//! connection made through one of them reached the other.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;

use crate::oauth_provider::{self, CLIENT_ID, CLIENT_SECRET, Provider};
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{apply, service_account_token};
use crate::support::{TestEnv, note};

/// Where the provider sends the browser back (the controller's data plane is reached through
/// it; the test plays the ingress by replacing this origin with the data plane's).
const EXTERNAL: &str = "https://hooks.example.test";

fn manifests(ns: &str, base: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Secret
metadata:
  name: books-app
  namespace: {ns}
  labels: {{switchboard.dev/usable: "true"}}
stringData:
  clientId: {CLIENT_ID}
  clientSecret: {CLIENT_SECRET}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: books, namespace: {ns}}}
spec:
  baseUrl: {base}/api
  auth:
    type: OAuth2AuthorizationCode
    secretRef: {{name: books-app}}
    authorizeUrl: {base}/authorize
    tokenUrl: {base}/token
    revocationUrl: {base}/revoke
    scopes: [accounting, offline]
"#
    )
}

fn start(env: &TestEnv, ns: &str) -> Controller {
    start_as(env, ns, "oauth-ctl")
}

fn start_as(env: &TestEnv, ns: &str, instance: &str) -> Controller {
    Controller::start_with(
        env.kubeconfig(),
        &[ns],
        &[
            "--instance",
            instance,
            "--status-interval",
            "1s",
            "--allow-private-destinations",
            "--external-url",
            EXTERNAL,
        ],
    )
    .unwrap()
}

/// `status.connection.state` of the Integration, as the controller wrote it.
async fn state(integrations: &Api<kube::api::DynamicObject>) -> Option<String> {
    let obj = integrations.get("books").await.ok()?;
    obj.data["status"]["connection"]["state"]
        .as_str()
        .map(str::to_owned)
}

async fn wait_state(integrations: &Api<kube::api::DynamicObject>, want: &str, ctl: &Controller) {
    let seen = eventually(Duration::from_secs(60), || async {
        (state(integrations).await.as_deref() == Some(want)).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "status.connection.state never became {want} (is {:?})\n{}",
        state(integrations).await,
        ctl.log()
    );
}

/// Starts a connection as `token`'s owner, once the replica runs the Integration (and the
/// RoleBinding is seen); the authorize URL.
async fn connect(ctl: &Controller, ns: &str, token: &str) -> String {
    let url = format!(
        "{}/v1/namespaces/{ns}/integrations/books/connect",
        ctl.admin_url
    );
    let last = std::sync::Mutex::new((0, Value::Null));
    let started = eventually(Duration::from_secs(60), || {
        let request = reqwest::Client::new().post(&url).bearer_auth(token);
        let last = &last;
        async move {
            let response = request.send().await.ok()?;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or_default();
            let link = body["authorizeUrl"].as_str().map(str::to_owned);
            *last.lock().unwrap() = (status, body);
            link.filter(|_| status == 200)
        }
    })
    .await;
    let (status, body) = last.into_inner().unwrap();
    started.unwrap_or_else(|| panic!("connect: {status} {body}\n{}", ctl.log()))
}

/// The browser: the provider approves and redirects to the callback, which the ingress
/// (here: the test) hands to the data plane. The callback page's status and text.
async fn approve(ctl: &Controller, authorize: &str) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(authorize).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "the provider approves");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let rest = location
        .strip_prefix(EXTERNAL)
        .unwrap_or_else(|| panic!("the callback is under --external-url: {location}"));
    assert!(rest.starts_with("/oauth/callback?"), "{location}");
    let page = client
        .get(format!("{}{rest}", ctl.data_url))
        .send()
        .await
        .unwrap();
    let status = page.status().as_u16();
    (status, page.text().await.unwrap_or_default())
}

/// The access token the provider last issued.
fn access_now(provider: &Provider) -> String {
    provider
        .issued
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|v| v.starts_with("access-"))
        .cloned()
        .unwrap()
}

fn assert_no_token_in(provider: &Provider, what: &str, text: &str) {
    for value in provider.issued.lock().unwrap().iter() {
        assert!(
            !text.contains(value.as_str()),
            "{what} shows a token or code the provider issued ({value})"
        );
    }
}

/// A ServiceAccount allowed to connect Integrations in `ns`; its token.
fn connector(kubectl: &crate::support::Kubectl, ns: &str) -> String {
    let token = service_account_token(kubectl, ns, "connector");
    kubectl
        .ok(&[
            "create",
            "role",
            "connect-integrations",
            "-n",
            ns,
            "--verb=update",
            "--resource=integrations.switchboard.dev",
        ])
        .unwrap();
    kubectl
        .ok(&[
            "create",
            "rolebinding",
            "connector-connects",
            "-n",
            ns,
            "--role=connect-integrations",
            &format!("--serviceaccount={ns}:connector"),
        ])
        .unwrap();
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_due_to_refresh_the_same_connection_refresh_it_once() {
    use std::sync::atomic::Ordering;
    let env = TestEnv::new("oauth-two").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let (provider, base) = oauth_provider::serve().await;
    // The first access token lives 40 s (refreshed 8 s ahead); a refresh takes the provider
    // 2 s, so two replicas due at the same moment overlap unless one waits for the other.
    provider.lifetime_secs.store(40, Ordering::SeqCst);
    provider.refresh_delay_ms.store(2000, Ordering::SeqCst);
    let token = connector(&kubectl, &ns);
    let first = start_as(&env, &ns, "oauth-1");
    let second = start_as(&env, &ns, "oauth-2");
    apply(&kubectl, &manifests(&ns, &base));
    let integrations = api(&env.client, "Integration", &ns);
    wait_state(&integrations, "NotConnected", &first).await;
    assert!(second.wait_applied(Duration::from_secs(60)).await);
    // Connected through the second replica: whichever leads (and writes status) learns of it
    // from the Secret.
    let link = connect(&second, &ns, &token).await;
    let (status, page) = approve(&second, &link).await;
    assert_eq!(status, 200, "{page}");
    wait_state(&integrations, "Connected", &first).await;
    provider.lifetime_secs.store(3600, Ordering::SeqCst);
    let refreshed = "access token refreshed";
    let adopted = "another process refreshed the connection; using its tokens";
    let settled = eventually(Duration::from_secs(90), || async {
        let (a, b) = (first.log(), second.log());
        let count = |needle: &str| a.matches(needle).count() + b.matches(needle).count();
        (count(refreshed) == 1 && count(adopted) == 1).then_some(())
    })
    .await;
    assert!(
        settled.is_some(),
        "one replica refreshes and the other adopts its tokens\n--- oauth-1\n{}\n--- oauth-2\n{}",
        first.log(),
        second.log()
    );
    assert_eq!(provider.refresh_requests.load(Ordering::SeqCst), 1);
    assert_eq!(provider.refreshes.load(Ordering::SeqCst), 1);
    // The Secret holds the rotated refresh token, and the claim was released.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let secret = secrets.get("books-oauth-tokens").await.unwrap();
    let kept: Value =
        serde_json::from_slice(&secret.data.as_ref().unwrap()["connection"].0).unwrap();
    assert_eq!(
        kept["refreshToken"].as_str(),
        provider.live_refresh.lock().unwrap().as_deref()
    );
    let claim = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("switchboard.dev/refresh-claim").cloned());
    assert_eq!(claim, None);
    for (what, log) in [
        ("oauth-1's log", first.log()),
        ("oauth-2's log", second.log()),
    ] {
        assert_no_token_in(&provider, what, &log);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_keeps_the_tokens_in_a_secret_owned_by_the_integration() {
    let env = TestEnv::new("oauth").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let (provider, base) = oauth_provider::serve().await;
    let connector = connector(&kubectl, &ns);
    let ctl = start(&env, &ns);
    apply(&kubectl, &manifests(&ns, &base));
    let integrations = api(&env.client, "Integration", &ns);
    wait_state(&integrations, "NotConnected", &ctl).await;

    let link = connect(&ctl, &ns, &connector).await;
    let (status, page) = approve(&ctl, &link).await;
    assert_eq!(status, 200, "{page}\n{}", ctl.log());
    wait_state(&integrations, "Connected", &ctl).await;

    // The tokens are in the Secret, owned by (and only by) the Integration, labelled.
    let owner_uid = integrations
        .get("books")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let secret = secrets.get("books-oauth-tokens").await.unwrap();
    let owners = secret.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1, "{owners:?}");
    let owner = &owners[0];
    assert_eq!(
        (
            owner.api_version.as_str(),
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_str(),
            owner.controller
        ),
        (
            "switchboard.dev/v1alpha1",
            "Integration",
            "books",
            owner_uid.as_str(),
            Some(true)
        )
    );
    assert_eq!(
        secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("switchboard.dev/oauth-tokens-for"))
            .map(String::as_str),
        Some("books")
    );
    let kept: Value =
        serde_json::from_slice(&secret.data.as_ref().unwrap()["connection"].0).unwrap();
    let access = kept["accessToken"].as_str().unwrap().to_owned();
    assert!(
        provider.live_access.lock().unwrap().contains(&access),
        "the Secret holds the access token the provider issued"
    );
    assert_eq!(
        kept["refreshToken"].as_str(),
        provider.live_refresh.lock().unwrap().as_deref()
    );
    // kubectl sees the same owner.
    let out = kubectl
        .ok(&[
            "get",
            "secret",
            "books-oauth-tokens",
            "-n",
            &ns,
            "-o",
            "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}",
        ])
        .unwrap();
    assert_eq!(out.stdout.trim(), "Integration/books");

    // Status says what a person needs, and no token is in the CR, its status, the events or
    // the log.
    let obj = integrations.get("books").await.unwrap();
    assert_eq!(obj.data["status"]["connection"]["account"], "4620816365");
    let cr = kubectl
        .ok(&["get", "integration", "books", "-n", &ns, "-o", "yaml"])
        .unwrap()
        .stdout;
    assert!(cr.contains("Connected"), "{cr}");
    assert_no_token_in(&provider, "the Integration (spec and status)", &cr);
    let events = kubectl
        .ok(&["get", "events", "-n", &ns, "-o", "yaml"])
        .unwrap()
        .stdout;
    assert_no_token_in(&provider, "the namespace's events", &events);
    assert_no_token_in(&provider, "the callback page", &page);

    // Another replica, with an empty store of its own, reads the connection from the Secret.
    let first_log = ctl.log();
    drop(ctl);
    kubectl
        .ok(&[
            "patch",
            "integration",
            "books",
            "-n",
            &ns,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"connection":{"state":"NotConnected"}}}"#,
        ])
        .unwrap();
    let second = start(&env, &ns);
    wait_state(&integrations, "Connected", &second).await;
    assert_eq!(
        provider.refreshes.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    for (what, log) in [
        ("the first controller's log", first_log),
        ("the second's", second.log()),
    ] {
        assert_no_token_in(&provider, what, &log);
    }

    // Deleting the Integration revokes its tokens at the provider (RFC 7009) and deletes the
    // Secret (a bare kube-apiserver runs no garbage collector: the controller deletes it).
    let live_refresh = provider.live_refresh.lock().unwrap().clone().unwrap();
    kubectl
        .ok(&["delete", "integration", "books", "-n", &ns, "--wait=false"])
        .unwrap();
    let gone = eventually(Duration::from_secs(60), || async {
        let revoked = provider.revoked.lock().unwrap().contains(&live_refresh);
        let secret = secrets.get_opt("books-oauth-tokens").await.ok()?;
        (revoked && secret.is_none()).then_some(())
    })
    .await;
    let revoked = provider.revoked.lock().unwrap().len();
    let left = secrets
        .get_opt("books-oauth-tokens")
        .await
        .map(|s| s.is_some());
    assert!(
        gone.is_some(),
        "revoked: {revoked}; Secret still there: {left:?}\n{}",
        second.log()
    );
    assert!(
        provider
            .revoked
            .lock()
            .unwrap()
            .contains(&access_now(&provider)),
        "the access token is revoked too"
    );
    assert_no_token_in(&provider, "the second controller's log", &second.log());
    note(
        "oauth: tokens kept in an owned Secret, read back by a fresh replica, revoked on deletion",
    );
}
