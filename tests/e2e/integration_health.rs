//! An Integration's health in a cluster: the controller runs its health check against a
//! fake provider on loopback, and `kubectl get intg` shows phase, Healthy and circuit; the
//! `switchboard.dev/check-requested-at` annotation runs the check now.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::TestEnv;
use crate::support::controller::{Controller, api, eventually};

const WITHIN: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Fake {
    unhealthy: AtomicBool,
    on_demand_checks: AtomicU32,
}

/// A fake provider: `/api/health` answers 200 (503 while unhealthy), `/hourly/health`
/// counts its checks.
async fn fake_provider(state: Arc<Fake>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route(
            "/api/health",
            axum::routing::get({
                let state = state.clone();
                move || async move {
                    if state.unhealthy.load(Ordering::SeqCst) {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .route(
            "/hourly/health",
            axum::routing::get(move || async move {
                state.on_demand_checks.fetch_add(1, Ordering::SeqCst);
                StatusCode::OK
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn manifests(ns: &str, base: &str) -> String {
    format!(
        "apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: partner, namespace: {ns}}}
spec:
  baseUrl: {base}/api
  healthCheck: {{path: /health, interval: 500ms}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {{name: hourly, namespace: {ns}}}
spec:
  baseUrl: {base}/hourly
  healthCheck: {{path: /health, interval: 1h}}
"
    )
}

/// The kubectl row of an integration, by column name.
fn row(env: &TestEnv, ns: &str, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let out = env
        .kubectl()
        .ok(&["get", "intg", name, "-n", ns, "-o", "custom-columns=PHASE:.status.phase,READY:.status.conditions[?(@.type==\"Ready\")].status,HEALTHY:.status.conditions[?(@.type==\"Healthy\")].status,CIRCUIT:.status.circuit,ERRORS:.status.errorCount"])
        .ok()?;
    let mut lines = out.stdout.lines();
    let header: Vec<String> = lines
        .next()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let cells: Vec<String> = lines
        .next()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some(header.into_iter().zip(cells).collect())
}

#[tokio::test]
async fn integration_health_shows_in_kubectl_get_intg() {
    let env = TestEnv::new("integration-health").await.unwrap();
    let ns = env.namespace.clone();
    let fake = Arc::new(Fake::default());
    let base = fake_provider(fake.clone()).await;
    let ctl = Controller::start_with(
        env.kubeconfig(),
        &[&ns],
        &["--status-interval", "2s", "--allow-private-destinations"],
    )
    .unwrap();
    env.kubectl()
        .run_with_stdin(&["apply", "-f", "-"], Some(&manifests(&ns, &base)))
        .map(|o| assert!(o.success(), "{}", o.stderr))
        .unwrap();

    let want = |phase: &'static str, healthy: &'static str| {
        let env = &env;
        let ns = ns.clone();
        move || {
            let ns = ns.clone();
            async move {
                row(env, &ns, "partner").filter(|r| {
                    r.get("PHASE").map(String::as_str) == Some(phase)
                        && r.get("HEALTHY").map(String::as_str) == Some(healthy)
                })
            }
        }
    };
    let healthy = eventually(WITHIN, want("Active", "True")).await;
    let healthy = healthy.unwrap_or_else(|| {
        panic!(
            "never Active/True: {:?}\n{}",
            row(&env, &ns, "partner"),
            ctl.log()
        )
    });
    assert_eq!(healthy["READY"], "True");
    assert_eq!(healthy["CIRCUIT"], "Closed");

    // The default table has the Phase, Healthy and Circuit columns.
    let table = env.kubectl().ok(&["get", "intg", "-n", &ns]).unwrap();
    let header = table.stdout.lines().next().unwrap_or_default().to_owned();
    for column in ["PHASE", "READY", "HEALTHY", "CIRCUIT", "ERRORS"] {
        assert!(header.contains(column), "{}", table.stdout);
    }

    fake.unhealthy.store(true, Ordering::SeqCst);
    let sick = eventually(WITHIN, want("Error", "False")).await;
    assert!(
        sick.is_some(),
        "never Error/False: {:?}",
        row(&env, &ns, "partner")
    );
    let intg = api(&env.client, "Integration", &ns)
        .get("partner")
        .await
        .unwrap();
    let status: &Value = &intg.data["status"];
    let healthy_condition = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Healthy")
        .unwrap();
    assert_eq!(healthy_condition["reason"], "HealthCheckFailed");
    // Argo CD's health check on the object as kubectl reads it: Degraded, not Healthy.
    let live: Value = serde_json::from_str(
        &env.kubectl()
            .ok(&["get", "intg", "partner", "-n", &ns, "-o", "json"])
            .unwrap()
            .stdout,
    )
    .unwrap();
    let (argo, message) = crate::argocd::health("Integration", &live);
    assert_eq!(argo, "Degraded", "{message}");
    assert!(message.starts_with("HealthCheckFailed"), "{message}");
    assert!(
        healthy_condition["message"]
            .as_str()
            .unwrap()
            .contains("503"),
        "{healthy_condition}"
    );
    fake.unhealthy.store(false, Ordering::SeqCst);
    assert!(eventually(WITHIN, want("Active", "True")).await.is_some());

    // The check-requested annotation runs the hourly check now.
    let first = eventually(WITHIN, || async {
        (fake.on_demand_checks.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    assert!(first.is_some(), "the first check never ran\n{}", ctl.log());
    let before = fake.on_demand_checks.load(Ordering::SeqCst);
    env.kubectl()
        .ok(&[
            "annotate",
            "intg",
            "hourly",
            "-n",
            &ns,
            "--overwrite",
            "switchboard.dev/check-requested-at=2026-12-01T00:00:00Z",
        ])
        .unwrap();
    let again = eventually(WITHIN, || async {
        (fake.on_demand_checks.load(Ordering::SeqCst) > before).then_some(())
    })
    .await;
    assert!(
        again.is_some(),
        "the requested check never ran\n{}",
        ctl.log()
    );
}
