//! The admin deliveries API in a cluster: a bearer token is verified by TokenReview and
//! authorized by SubjectAccessReview (`get` to list, `update` to retry) on the subscription;
//! starting an OAuth connection needs `update` on the Integration, reading its call log `get`.

use std::time::Duration;

use serde_json::json;

use crate::sink::Sink;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{
    apply, publish_accepted, service_account_token, subscription, wait_ready,
};

async fn get(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn deliveries_api_needs_a_token_allowed_to_get_the_subscription() {
    let env = TestEnv::new("admin-auth").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let sink = Sink::always(200);
    let reader = service_account_token(&kubectl, &ns, "reader");
    let nobody = service_account_token(&kubectl, &ns, "nobody");
    kubectl
        .ok(&[
            "create",
            "role",
            "whs-reader",
            "-n",
            &ns,
            "--verb=get",
            "--resource=webhooksubscriptions.switchboard.dev",
        ])
        .unwrap();
    kubectl
        .ok(&[
            "create",
            "rolebinding",
            "reader-reads",
            "-n",
            &ns,
            "--role=whs-reader",
            &format!("--serviceaccount={ns}:reader"),
        ])
        .unwrap();
    let ctl = Controller::start_with(env.kubeconfig(), &[&ns], &["--allow-private-destinations"])
        .unwrap();
    apply(
        &kubectl,
        &subscription(&ns, "orders", &sink.url, Some("{scheme: None}")),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    assert!(wait_ready(&whs, "orders").await, "{}", ctl.log());
    let event = json!({"type": "order.created", "id": "evt-admin-1", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &nobody, &event).await;
    let url = format!(
        "{}/v1/namespaces/{ns}/webhooksubscriptions/orders/deliveries",
        ctl.admin_url
    );

    // Allowed by RBAC: the delivery is listed once it is delivered.
    let listed = eventually(Duration::from_secs(30), || async {
        let (status, body) = get(&url, Some(&reader)).await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array()?.clone();
        items
            .first()
            .filter(|d| d["status"] == "Delivered")
            .map(|d| d["id"].as_str().unwrap_or_default().to_owned())
    })
    .await;
    let id = listed.unwrap_or_else(|| panic!("not listed as Delivered\n{}", ctl.log()));

    // A valid token without `get`: 403; none or a bad one: 401.
    let (status, body) = get(&url, Some(&nobody)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("orders"), "{body}");
    assert_eq!(get(&url, None).await.0, 401);
    assert_eq!(get(&url, Some("not-a-token")).await.0, 401);
    // The CLI passes the token: the reader sees the log, a token without `get` is refused.
    let cli = |token: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["deliveries", "orders", "-n", &ns, "--admin", &ctl.admin_url])
            .args(["--token", token])
            .output()
            .unwrap()
    };
    let out = cli(&reader);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains(&id) && text.contains("Delivered"), "{text}");
    let out = cli(&nobody);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("403"),
        "{out:?}"
    );
    // Retrying needs `update`, which the reader does not have.
    let retry = reqwest::Client::new()
        .post(format!("{url}/{id}/retry"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status().as_u16(), 403);
    // Connecting an Integration asks about `update` on the Integration, before anything else.
    let connect = |token: Option<String>| {
        let url = format!(
            "{}/v1/namespaces/{ns}/integrations/books/connect",
            ctl.admin_url
        );
        async move {
            let mut request = reqwest::Client::new().post(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
    };
    let (status, body) = connect(Some(reader.clone())).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("update integrations.switchboard.dev"),
        "{body}"
    );
    assert_eq!(connect(None).await.0, 401);
    // An Integration's call log needs `get` on the Integration, asked before anything else.
    let logs = format!(
        "{}/v1/namespaces/{ns}/integrations/books/logs",
        ctl.admin_url
    );
    let (status, body) = get(&logs, Some(&reader)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.to_string()
            .contains("get integrations.switchboard.dev"),
        "{body}"
    );
    assert_eq!(get(&logs, None).await.0, 401);
}
