//! Signing secret rotation: after the generated signing Secret is edited, the controller keeps
//! the replaced value under `previous` (annotated with when), and deliveries carry two
//! signatures, each verifiable with one of the keys.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::sink::Sink;
use crate::standard_webhooks::verifies;
use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{
    apply, publish_accepted, secret_api, service_account_token, subscription, wait_ready,
};

#[tokio::test]
async fn an_edited_signing_secret_signs_with_both_keys() {
    let env = TestEnv::new("rotation").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let sink = Sink::always(200);
    let token = service_account_token(&kubectl, &ns, "publisher");
    let ctl = Controller::start_with(env.kubeconfig(), &[&ns], &["--allow-private-destinations"])
        .unwrap();
    apply(&kubectl, &subscription(&ns, "orders", &sink.url, None));
    let whs = api(&env.client, "WebhookSubscription", &ns);
    assert!(wait_ready(&whs, "orders").await, "{}", ctl.log());
    let secrets = secret_api(&env, &ns);
    let value = |s: &k8s_openapi::api::core::v1::Secret, k: &str| {
        s.data
            .as_ref()
            .and_then(|d| d.get(k))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
    };
    let old = value(&secrets.get("orders-signing").await.unwrap(), "secret").unwrap();

    let first = json!({"type": "order.created", "id": "evt-rot-1", "data": {}});
    publish_accepted(&ctl.data_url, &ns, &token, &first).await;
    let hit = eventually(Duration::from_secs(30), || async {
        sink.hits().into_iter().next()
    })
    .await
    .unwrap_or_else(|| panic!("nothing delivered\n{}", ctl.log()));
    assert!(verifies(&hit, &old));
    assert_eq!(hit.header("webhook-signature").split(' ').count(), 1);

    // Rotate: edit the Secret as a user would.
    let new = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(*b"a brand new 32 byte signing key!")
    );
    let patch = json!({"stringData": {"secret": new}}).to_string();
    kubectl
        .ok(&[
            "patch",
            "secret",
            "orders-signing",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            &patch,
        ])
        .unwrap();
    let recorded = eventually(Duration::from_secs(30), || async {
        let s = secrets.get("orders-signing").await.ok()?;
        let at = s
            .metadata
            .annotations
            .as_ref()?
            .get("switchboard.dev/rotated-at")?
            .clone();
        (value(&s, "previous")? == old).then_some(at)
    })
    .await;
    assert!(recorded.is_some(), "rotation not recorded\n{}", ctl.log());

    // The next deliveries carry both signatures (once the engine has the recorded Secret).
    let mut n = 0;
    let both = eventually(Duration::from_secs(30), || {
        n += 1;
        let (sink, ctl, token, ns) = (&sink, &ctl, &token, &ns);
        async move {
            let event =
                json!({"type": "order.created", "id": format!("evt-rot-{}", n + 1), "data": {}});
            let before = sink.hits().len();
            publish_accepted(&ctl.data_url, ns, token, &event).await;
            let hit = eventually(Duration::from_secs(10), || async {
                sink.hits().into_iter().nth(before)
            })
            .await?;
            (hit.header("webhook-signature").split(' ').count() == 2).then_some(hit)
        }
    })
    .await
    .unwrap_or_else(|| panic!("never signed twice\n{}", ctl.log()));
    assert!(verifies(&both, &old), "not verifiable with the old key");
    assert!(verifies(&both, &new), "not verifiable with the new key");
    let named = whs.get("orders").await.unwrap().data["status"]["signingSecretRef"]["name"].clone();
    assert_eq!(named, "orders-signing");
}
