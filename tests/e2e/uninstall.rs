//! Uninstalling: with the controller gone, a deleted WebhookSubscription keeps its finalizer
//! (and would hang its namespace's deletion) until `switchboard remove-finalizers` removes
//! Switchboard's finalizer, leaving any other finalizer in place.

use std::process::Command;
use std::time::Duration;

use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::apply;

const WITHIN: Duration = Duration::from_secs(30);
const FINALIZER: &str = "switchboard.dev/drop-pending";

#[tokio::test]
async fn remove_finalizers_lets_deleted_subscriptions_go_once_the_controller_is_gone() {
    let env = TestEnv::new("uninstall").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let mut ctl = Controller::start(env.kubeconfig(), &[&ns]).unwrap();
    let whs = api(&env.client, "WebhookSubscription", &ns);
    let subscription = |name: &str, finalizers: &str| {
        format!(
            "---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: {name}, namespace: {ns}, finalizers: [{finalizers}]}}
spec:
  url: https://example.com/hook
  eventTypes: [\"*\"]
  signing: {{scheme: None}}
"
        )
    };
    apply(
        &kubectl,
        &[
            subscription("plain", ""),
            subscription("shared", "example.com/keep"),
        ]
        .concat(),
    );
    let finalizers =
        |obj: &kube::api::DynamicObject| obj.metadata.finalizers.clone().unwrap_or_default();
    for name in ["plain", "shared"] {
        let got = eventually(WITHIN, || async {
            let obj = whs.get_opt(name).await.ok()??;
            finalizers(&obj)
                .iter()
                .any(|f| f == FINALIZER)
                .then_some(())
        })
        .await;
        assert!(got.is_some(), "{name}: no finalizer\n{}", ctl.log());
    }
    ctl.kill();

    // Deleted without a controller: they stay, terminating.
    kubectl
        .ok(&[
            "delete",
            "whs",
            "plain",
            "shared",
            "-n",
            &ns,
            "--wait=false",
        ])
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        whs.get_opt("plain").await.unwrap().is_some(),
        "no finalizer held it"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["remove-finalizers", "--namespace", &ns])
        .env("KUBECONFIG", env.kubeconfig())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("{ns}/plain")), "{stdout}");
    assert!(stdout.contains("2 finalizer(s) removed"), "{stdout}");

    let gone = eventually(WITHIN, || async {
        whs.get_opt("plain").await.ok()?.is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "plain is still there");
    // Another controller's finalizer is left alone.
    let shared = whs.get("shared").await.unwrap();
    assert_eq!(finalizers(&shared), ["example.com/keep"]);
    kubectl
        .ok(&[
            "patch",
            "whs",
            "shared",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .unwrap();
}
