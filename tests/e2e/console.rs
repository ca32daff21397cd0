//! The console in a cluster (HTTP level): a tenant signs in with its own bearer token, the
//! overview lists only the namespaces it may read, and a page of another namespace is an
//! error page without its data.

use serde_json::json;

use crate::sink::Sink;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api};
use crate::support::publish::{
    apply, publish_accepted, service_account_token, subscription, wait_ready,
};

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_namespaces_in_the_console() {
    let env = TestEnv::new("console-tenant").await.unwrap();
    let ns = env.namespace.clone();
    let other = format!("{ns}-other");
    let kubectl = env.kubectl();
    kubectl.ok(&["create", "namespace", &other]).unwrap();
    let sink = Sink::always(200);
    let tenant = service_account_token(&kubectl, &ns, "tenant");
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
            "tenant-reads",
            "-n",
            &ns,
            "--role=whs-reader",
            &format!("--serviceaccount={ns}:tenant"),
        ])
        .unwrap();
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns, &other],
        &["--allow-private-destinations"],
    )
    .unwrap();
    apply(
        &kubectl,
        &subscription(&ns, "mine", &sink.url, Some("{scheme: None}")),
    );
    apply(
        &kubectl,
        &subscription(&other, "theirs", &sink.url, Some("{scheme: None}")),
    );
    assert!(
        wait_ready(&api(&env.client, "WebhookSubscription", &ns), "mine").await,
        "{}",
        ctl.log()
    );
    assert!(
        wait_ready(&api(&env.client, "WebhookSubscription", &other), "theirs").await,
        "{}",
        ctl.log()
    );
    let event = json!({"type": "order.created", "id": "evt-console-1", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &tenant, &event).await;

    // Sign in with the tenant's token (CSRF cookie and field, this Origin).
    let http = client();
    let origin = ctl.admin_url.clone();
    let login = http
        .post(format!("{}/console/login", ctl.admin_url))
        .header("origin", &origin)
        .header("cookie", "sb_csrf=c0ffee")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", "c0ffee"), ("token", tenant.as_str())]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status().as_u16(),
        303,
        "{}",
        login.text().await.unwrap()
    );
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect();
    let jar = cookies.join("; ");
    assert!(
        jar.contains("sb_session=") && jar.contains("sb_csrf="),
        "{jar}"
    );
    let get = |path: String| {
        let http = http.clone();
        let jar = jar.clone();
        async move {
            let r = http.get(path).header("cookie", jar).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    // The overview: its own namespace, not the other.
    let (status, page) = get(format!("{}/console/", ctl.admin_url)).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!("Namespace {ns}")) && page.contains("mine"),
        "{page}"
    );
    assert!(!page.contains(&other) && !page.contains("theirs"), "{page}");
    // Its own subscription's page and log.
    let (status, page) = get(format!(
        "{}/console/ns/{ns}/webhooksubscriptions/mine",
        ctl.admin_url
    ))
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("order.created"), "{page}");
    // The other namespace: an error page, none of its data.
    let (status, page) = get(format!(
        "{}/console/ns/{other}/webhooksubscriptions/theirs",
        ctl.admin_url
    ))
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("not allowed"), "{page}");
    assert!(
        !page.contains("Conditions") && !page.contains(&sink.url),
        "{page}"
    );
    // Nor may it act there (CSRF and Origin right, authorization wrong).
    let refused = http
        .post(format!(
            "{}/console/ns/{other}/webhooksubscriptions/theirs/test",
            ctl.admin_url
        ))
        .header("origin", &origin)
        .header("cookie", &jar)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[(
            "csrf",
            cookies
                .iter()
                .find_map(|c| c.strip_prefix("sb_csrf="))
                .unwrap(),
        )]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
}
