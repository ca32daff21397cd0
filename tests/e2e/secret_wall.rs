//! The Secret wall on a real API server: user `tenant` (Switchboard resources in `tenant-a`,
//! no access to its Secrets) points an Integration at a sink of theirs with auth naming a
//! Secret an admin made. Nothing secret reaches the sink (health check, egress proxy), the
//! tenant reads Ready=False SecretNotUsable with kubectl and may not add the label; once the
//! admin labels the Secret the same Integration becomes Ready and authenticates.

use std::time::Duration;

use crate::sink::Sink;
use crate::support::controller::{Controller, eventually};
use crate::support::{self, Kubectl, TENANT_NAMESPACE, TestEnv, unique_name};

const WITHIN: Duration = Duration::from_secs(30);
const VALUE: &str = "e2e-victim-credential-51c0";

fn integration(name: &str, secret: &str, base: &str) -> String {
    format!(
        "apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: {name}, namespace: {TENANT_NAMESPACE}}}
spec:
  baseUrl: {base}
  auth: {{type: Bearer, secretRef: {{name: {secret}}}}}
  healthCheck: {{path: /health, interval: 300ms}}
"
    )
}

/// The Ready condition's status, reason and message, as the tenant reads them with kubectl.
fn ready_as(tenant: &Kubectl, name: &str) -> Option<(String, String, String)> {
    let path =
        |field: &str| format!("jsonpath={{.status.conditions[?(@.type==\"Ready\")].{field}}}");
    let get = |field: &str| {
        tenant
            .ok(&[
                "get",
                "intg",
                name,
                "-n",
                TENANT_NAMESPACE,
                "-o",
                &path(field),
            ])
            .ok()
            .map(|o| o.stdout.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    Some((get("status")?, get("reason")?, get("message")?))
}

async fn proxy(ctl: &Controller, name: &str, token: &str) -> u16 {
    let url = format!(
        "{}/v1/namespaces/{TENANT_NAMESPACE}/integrations/{name}/proxy/steal",
        ctl.data_url
    );
    reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .body("{}")
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_tenant_cannot_exfiltrate_a_secret_that_has_not_opted_in() {
    let env = TestEnv::new("secret-wall").await.unwrap();
    let Some(tenant) = env.cluster.tenant_kubectl() else {
        support::note("no tenant kubeconfig for the reused API server; secret wall test not run");
        return;
    };
    let admin = env.kubectl();
    let (secret, name, publisher) = (
        unique_name("victim"),
        unique_name("exfil"),
        unique_name("publisher"),
    );
    let token = format!("{publisher}-token");
    admin
        .ok(&[
            "create",
            "secret",
            "generic",
            &secret,
            "-n",
            TENANT_NAMESPACE,
            &format!("--from-literal=token={VALUE}"),
        ])
        .unwrap();
    // A publisher token, to be allowed to call the egress proxy.
    admin
        .ok(&[
            "create",
            "secret",
            "generic",
            &publisher,
            "-n",
            TENANT_NAMESPACE,
            &format!("--from-literal=token={token}"),
        ])
        .unwrap();
    admin
        .ok(&[
            "label",
            "secret",
            &publisher,
            "-n",
            TENANT_NAMESPACE,
            "switchboard.dev/publisher-token=true",
        ])
        .unwrap();
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[TENANT_NAMESPACE],
        &[
            "--status-interval",
            "2s",
            "--allow-private-destinations",
            "--leader-election-namespace",
            &env.namespace,
        ],
    )
    .unwrap();
    let sink = Sink::always(200);
    let base = sink.url.trim_end_matches("/hook").to_owned();

    // The tenant may not read the Secret, and points an Integration at it anyway.
    let out = tenant
        .run(&["get", "secret", &secret, "-n", TENANT_NAMESPACE])
        .unwrap();
    assert!(
        !out.success() && out.stderr.contains("forbidden"),
        "{}",
        out.stderr
    );
    let out = tenant
        .run_with_stdin(
            &["apply", "-f", "-"],
            Some(&integration(&name, &secret, &base)),
        )
        .unwrap();
    assert!(out.success(), "{}", out.stderr);

    let got = eventually(WITHIN, || async {
        ready_as(&tenant, &name).filter(|r| r.1 == "SecretNotUsable")
    })
    .await
    .unwrap_or_else(|| panic!("{:?}\n{}", ready_as(&tenant, &name), ctl.log()));
    assert_eq!(got.0, "False");
    let command =
        format!("kubectl label secret {secret} -n {TENANT_NAMESPACE} switchboard.dev/usable=true");
    assert!(got.2.contains(&command), "{}", got.2);
    assert_eq!(proxy(&ctl, &name, &token).await, 404);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        sink.hits().is_empty(),
        "the sink was reached: {:?}",
        sink.hits()
    );

    // The tenant cannot opt the Secret in.
    let out = tenant
        .run(&[
            "label",
            "secret",
            &secret,
            "-n",
            TENANT_NAMESPACE,
            "switchboard.dev/usable=true",
        ])
        .unwrap();
    assert!(
        !out.success() && out.stderr.contains("forbidden"),
        "{}",
        out.stderr
    );

    // Whoever manages the Secret can: the Integration becomes Ready and authenticates.
    admin
        .ok(&[
            "label",
            "secret",
            &secret,
            "-n",
            TENANT_NAMESPACE,
            "switchboard.dev/usable=true",
        ])
        .unwrap();
    let got = eventually(WITHIN, || async {
        ready_as(&tenant, &name).filter(|r| r.0 == "True")
    })
    .await;
    assert!(
        got.is_some(),
        "{:?}\n{}",
        ready_as(&tenant, &name),
        ctl.log()
    );
    let bearer = format!("Bearer {VALUE}");
    let authed = eventually(WITHIN, || async {
        sink.hits()
            .iter()
            .any(|h| h.header("authorization") == bearer)
            .then_some(())
    })
    .await;
    assert!(
        authed.is_some(),
        "no authenticated health check\n{}",
        ctl.log()
    );
    assert_eq!(proxy(&ctl, &name, &token).await, 200);
    assert!(!ctl.log().contains(VALUE), "the value is in the log");

    let _ = admin.run(&["delete", "intg", &name, "-n", TENANT_NAMESPACE]);
    let _ = admin.run(&[
        "delete",
        "secret",
        &secret,
        &publisher,
        "-n",
        TENANT_NAMESPACE,
    ]);
}

#[tokio::test]
async fn a_signing_secret_generated_before_the_label_existed_is_opted_in_by_the_controller() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, ObjectMeta, PostParams};

    let env = TestEnv::new("secret-wall-legacy").await.unwrap();
    let ns = env.namespace.clone();
    crate::support::publish::apply(
        &env.kubectl(),
        &crate::support::publish::subscription(&ns, "legacy", "https://x.example.com/h", None),
    );
    let whs = crate::support::controller::api(&env.client, "WebhookSubscription", &ns);
    let uid = whs.get("legacy").await.unwrap().metadata.uid.unwrap();
    // What an older controller made: owned by the subscription, named for it, no opt-in.
    let owner = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "switchboard.dev/v1alpha1".into(),
        kind: "WebhookSubscription".into(),
        name: "legacy".into(),
        uid,
        controller: Some(true),
        block_owner_deletion: None,
    };
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &ns);
    let legacy = Secret {
        metadata: ObjectMeta {
            name: Some("legacy-signing".into()),
            labels: Some(
                [(
                    "switchboard.dev/signing-secret-for".to_owned(),
                    "legacy".to_owned(),
                )]
                .into(),
            ),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        string_data: Some(
            [(
                "secret".to_owned(),
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
            )]
            .into(),
        ),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &legacy)
        .await
        .unwrap();
    let ctl = Controller::start(env.kubeconfig(), &[&ns]).unwrap();
    crate::support::controller::assert_ready(
        &env.client,
        &ctl,
        ("WebhookSubscription", &ns, "legacy"),
        WITHIN,
    )
    .await;
    let labels = secrets
        .get_metadata("legacy-signing")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(
        labels.get("switchboard.dev/usable").map(String::as_str),
        Some("true")
    );
}
