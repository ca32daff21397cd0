//! The event catalog in a cluster: EventTypes applied with kubectl are listed by
//! `kubectl get eventtypes` (and `evt`) with their columns, the controller writes Ready (False
//! with the schema's error for an invalid schema), and a publish whose data violates a type's
//! schema is refused with 422.

use std::time::Duration;

use serde_json::json;

use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually, ready};
use crate::support::publish::{apply, publish, service_account_token, wait_ready};

fn catalog(ns: &str) -> String {
    format!(
        r#"
apiVersion: switchboard.dev/v1alpha1
kind: EventType
metadata: {{name: invoice.paid, namespace: {ns}}}
spec:
  category: billing
  description: An invoice was paid.
  schema:
    type: object
    required: [invoiceId, amount]
    properties:
      invoiceId: {{type: string}}
      amount: {{type: integer}}
  examples:
    - data: {{invoiceId: in-1, amount: 100}}
---
apiVersion: switchboard.dev/v1alpha1
kind: EventType
metadata: {{name: invoice-voided, namespace: {ns}}}
spec:
  type: Invoice_Voided
  category: billing
  deprecated: true
  deprecationMessage: use invoice.paid with amount 0
---
apiVersion: switchboard.dev/v1alpha1
kind: EventType
metadata: {{name: broken.schema, namespace: {ns}}}
spec:
  category: misc
  schema: {{type: strnig}}
"#
    )
}

#[tokio::test]
async fn eventtype_catalog_is_listed_ready_and_enforced_on_publish() {
    let env = TestEnv::new("eventtype").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    apply(&kubectl, &catalog(&ns));
    let token = service_account_token(&kubectl, &ns, "publisher");
    let ctl = Controller::start(env.kubeconfig(), &[&ns]).unwrap();

    let types = api(&env.client, "EventType", &ns);
    assert!(
        wait_ready(&types, "invoice.paid").await,
        "invoice.paid not Ready\n{}",
        ctl.log()
    );
    assert!(wait_ready(&types, "invoice-voided").await, "{}", ctl.log());
    let broken = eventually(Duration::from_secs(30), || async {
        ready(&types, "broken.schema")
            .await
            .filter(|r| r.status == "False" && r.current)
    })
    .await
    .unwrap_or_else(|| panic!("broken.schema not Ready=False\n{}", ctl.log()));
    assert_eq!(broken.reason, "InvalidSchema", "{broken:?}");
    assert!(
        broken.message.contains("not a valid JSON Schema"),
        "{broken:?}"
    );

    // A violating publish is refused; a conforming one accepted.
    let url = &ctl.data_url;
    let bad = json!({"type": "invoice.paid", "data": {"invoiceId": 5}});
    let status = eventually(Duration::from_secs(30), || async {
        publish(url, &ns, &token, &bad).await.filter(|s| *s != 503)
    })
    .await;
    assert_eq!(status, Some(422), "{}", ctl.log());
    let body: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/v1/namespaces/{ns}/events"))
        .bearer_auth(&token)
        .json(&bad)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["error"]["code"], "schema_invalid", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("\"amount\" is a required property"),
        "{body}"
    );
    let good = json!({"type": "invoice.paid", "data": {"invoiceId": "in-2", "amount": 1}});
    assert_eq!(publish(url, &ns, &token, &good).await, Some(202));

    // kubectl lists the catalog with its columns, by plural and by short name, once the type
    // (status.type) has been written.
    let table = eventually(Duration::from_secs(40), || async {
        let out = kubectl
            .ok(&["get", "eventtypes", "-n", &ns])
            .unwrap()
            .stdout;
        out.contains("Invoice_Voided").then_some(out)
    })
    .await
    .unwrap_or_else(|| panic!("no type column\n{}", ctl.log()));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "TYPE", "CATEGORY", "DEPRECATED", "READY", "AGE"],
        "{table}"
    );
    let row = |name: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row {name}:\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(
        row("invoice.paid")[..5],
        ["invoice.paid", "invoice.paid", "billing", "false", "True"],
        "{table}"
    );
    assert_eq!(
        row("invoice-voided")[..5],
        [
            "invoice-voided",
            "Invoice_Voided",
            "billing",
            "true",
            "True"
        ],
        "{table}"
    );
    assert_eq!(row("broken.schema")[4], "False", "{table}");
    let short = kubectl.ok(&["get", "evt", "-n", &ns]).unwrap().stdout;
    assert_eq!(short.lines().count(), 4, "header and three rows:\n{short}");
    let category = kubectl
        .ok(&["get", "switchboard", "-n", &ns, "-o", "name"])
        .unwrap()
        .stdout;
    assert!(
        category.contains("eventtype.switchboard.dev/invoice.paid"),
        "{category}"
    );
}
