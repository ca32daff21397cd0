//! The Argo CD health checks (`charts/switchboard/argocd/health/<Kind>.lua`) run by a real Lua
//! interpreter (Debian's `lua5.4`, found or installed by `scripts/helm-argocd-lua.sh`) against
//! Ready, stale, degraded, suspended and not-yet-reported samples of every kind (and by
//! `lua5.1` as well when it is installed, the dialect of Argo CD's gopher-lua); and the
//! `argocd-cm` snippet in `docs/argocd.md` kept identical to the `.lua` files.

#[path = "support/argocd.rs"]
mod argocd;

use argocd::{health, read, repo, script_path};
use serde_json::{Value, json};

/// Every kind, as in `crds/`.
const KINDS: [&str; 8] = [
    "ClusterIntegrationProvider",
    "EventType",
    "Integration",
    "WebhookEndpoint",
    "WebhookSubscription",
    "Transformation",
    "SyncSchedule",
    "SyncJob",
];

/// The kinds whose health follows the Ready condition (all but SyncJob).
const DECLARATIVE: [&str; 7] = [
    "ClusterIntegrationProvider",
    "EventType",
    "Integration",
    "WebhookEndpoint",
    "WebhookSubscription",
    "Transformation",
    "SyncSchedule",
];

/// A resource of `kind` at `generation`, with `status` (None: never reported) and `spec`.
fn resource(kind: &str, generation: i64, spec: Value, status: Option<Value>) -> Value {
    let mut obj = json!({
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "sample", "namespace": "payments", "generation": generation},
        "spec": spec,
    });
    if let Some(status) = status {
        obj["status"] = status;
    }
    obj
}

fn ready(status: &str, reason: &str, message: &str, observed: i64) -> Value {
    json!({
        "type": "Ready", "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-11-30T12:00:00Z", "observedGeneration": observed,
    })
}

fn status_with(observed: Option<i64>, conditions: Vec<Value>) -> Value {
    let mut status = json!({ "conditions": conditions });
    if let Some(g) = observed {
        status["observedGeneration"] = g.into();
    }
    status
}

#[test]
fn every_kind_has_a_health_check_and_no_other_file_is_there() {
    let mut files: Vec<String> = std::fs::read_dir(repo().join("charts/switchboard/argocd/health"))
        .expect("listing argocd/health")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut expected: Vec<String> = KINDS.iter().map(|k| format!("{k}.lua")).collect();
    expected.sort();
    assert_eq!(files, expected);
    // One CRD per kind, each served kind with a health check.
    let crds: Vec<String> = std::fs::read_dir(repo().join("crds"))
        .expect("listing crds/")
        .map(|e| read(&e.expect("dir entry").path()))
        .collect();
    assert_eq!(crds.len(), KINDS.len(), "one CRD per kind");
    for kind in KINDS {
        assert!(
            crds.iter().any(|c| c.contains(&format!("kind: {kind}\n"))),
            "no CRD serves {kind}"
        );
    }
}

#[test]
fn declarative_kinds_ready_and_current_are_healthy() {
    for kind in DECLARATIVE {
        let obj = resource(
            kind,
            3,
            json!({}),
            Some(status_with(
                Some(3),
                vec![ready("True", "Ready", "serving /hooks/payments/sample", 3)],
            )),
        );
        let (status, message) = health(kind, &obj);
        assert_eq!(status, "Healthy", "{kind}: {message}");
        assert_eq!(message, "Ready: serving /hooks/payments/sample", "{kind}");
    }
}

#[test]
fn declarative_kinds_stale_or_unreported_are_progressing() {
    for kind in DECLARATIVE {
        // A new generation not yet observed, even though the old one was Ready (or failing).
        for was in ["True", "False"] {
            let obj = resource(
                kind,
                4,
                json!({}),
                Some(status_with(Some(3), vec![ready(was, "Ready", "old", 3)])),
            );
            let (status, message) = health(kind, &obj);
            assert_eq!(status, "Progressing", "{kind} (was {was}): {message}");
            assert!(message.contains("generation 4"), "{kind}: {message}");
        }
        // Never reported, reported without Ready, Ready=Unknown.
        let none = resource(kind, 1, json!({}), None);
        assert_eq!(
            health(kind, &none).0,
            "Progressing",
            "{kind} without status"
        );
        let no_ready = resource(kind, 1, json!({}), Some(status_with(Some(1), vec![])));
        assert_eq!(
            health(kind, &no_ready).0,
            "Progressing",
            "{kind} without Ready"
        );
        let unknown = resource(
            kind,
            1,
            json!({}),
            Some(status_with(
                Some(1),
                vec![ready("Unknown", "Reconciling", "", 1)],
            )),
        );
        assert_eq!(
            health(kind, &unknown).0,
            "Progressing",
            "{kind} Ready=Unknown"
        );
        // Only the condition carries observedGeneration: it is used.
        let on_condition = resource(
            kind,
            2,
            json!({}),
            Some(status_with(None, vec![ready("True", "Ready", "", 1)])),
        );
        assert_eq!(health(kind, &on_condition).0, "Progressing", "{kind}");
        let current_on_condition = resource(
            kind,
            2,
            json!({}),
            Some(status_with(None, vec![ready("True", "Ready", "", 2)])),
        );
        assert_eq!(health(kind, &current_on_condition).0, "Healthy", "{kind}");
    }
}

#[test]
fn declarative_kinds_ready_false_are_degraded_with_reason_and_message() {
    for kind in DECLARATIVE {
        let obj = resource(
            kind,
            2,
            json!({}),
            Some(status_with(
                Some(2),
                vec![
                    json!({"type": "Healthy", "status": "True", "reason": "Ok", "message": ""}),
                    ready(
                        "False",
                        "TransformationInvalid",
                        "jq: syntax error at 1:3 \"quoted\"",
                        2,
                    ),
                ],
            )),
        );
        let (status, message) = health(kind, &obj);
        assert_eq!(status, "Degraded", "{kind}");
        assert_eq!(
            message, "TransformationInvalid: jq: syntax error at 1:3 \"quoted\"",
            "{kind}"
        );
    }
}

fn healthy(status: &str, reason: &str, message: &str) -> Value {
    json!({
        "type": "Healthy", "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-11-30T12:00:00Z",
    })
}

#[test]
fn declarative_kinds_ready_but_not_healthy_are_degraded_with_the_healthy_reason() {
    for kind in DECLARATIVE {
        for (reason, message) in [
            (
                "DeliveriesFailing",
                "the last delivery attempt failed: HTTP 500",
            ),
            (
                "CircuitOpen",
                "circuit open after 5 consecutive failed attempts",
            ),
            ("HealthCheckFailed", "GET /health answered 503"),
            ("FilterErrors", "spec.filter failed on the last 10 events"),
            (
                "Disabled",
                "disabled at 2026-01-01T00:00:00Z: every delivery attempt failed for 5d 0h",
            ),
        ] {
            let obj = resource(
                kind,
                2,
                json!({}),
                Some(status_with(
                    Some(2),
                    vec![
                        ready("True", "Ready", "configuration accepted", 2),
                        healthy("False", reason, message),
                    ],
                )),
            );
            let (status, got) = health(kind, &obj);
            assert_eq!(
                (status.as_str(), got),
                ("Degraded", format!("{reason}: {message}")),
                "{kind}"
            );
        }
        // Healthy=True (any reason, NoDeliveriesYet included) keeps Ready's message.
        for reason in ["NoDeliveriesYet", "Delivering", "HealthCheckPassed"] {
            let obj = resource(
                kind,
                1,
                json!({}),
                Some(status_with(
                    Some(1),
                    vec![ready("True", "Ready", "ok", 1), healthy("True", reason, "")],
                )),
            );
            assert_eq!(
                health(kind, &obj),
                ("Healthy".to_owned(), "Ready: ok".to_owned()),
                "{kind} {reason}"
            );
        }
        // Healthy=Unknown: still waiting.
        let waiting = resource(
            kind,
            1,
            json!({}),
            Some(status_with(
                Some(1),
                vec![
                    ready("True", "Ready", "ok", 1),
                    healthy("Unknown", "Checking", "first health check pending"),
                ],
            )),
        );
        assert_eq!(health(kind, &waiting).0, "Progressing", "{kind}");
    }
}

#[test]
fn an_integration_in_phase_error_is_degraded() {
    let mut status = status_with(Some(1), vec![ready("True", "Ready", "ok", 1)]);
    status["phase"] = "Error".into();
    let obj = resource("Integration", 1, json!({}), Some(status));
    let (status, message) = health("Integration", &obj);
    assert_eq!(status, "Degraded", "{message}");
}

#[test]
fn declarative_kinds_with_spec_suspend_are_suspended() {
    for kind in DECLARATIVE {
        // Suspended wins over any status, stale or not.
        for (generation, observed, ready_status) in [(2, 2, "True"), (3, 2, "False")] {
            let obj = resource(
                kind,
                generation,
                json!({"suspend": true}),
                Some(status_with(
                    Some(observed),
                    vec![ready(ready_status, "Ready", "", observed)],
                )),
            );
            let (status, message) = health(kind, &obj);
            assert_eq!(status, "Suspended", "{kind}: {message}");
        }
        let not_suspended = resource(
            kind,
            1,
            json!({"suspend": false}),
            Some(status_with(Some(1), vec![ready("True", "Ready", "", 1)])),
        );
        assert_eq!(health(kind, &not_suspended).0, "Healthy", "{kind}");
    }
}

fn sync_job(generation: i64, observed: Option<i64>, phase: Option<&str>, ready: Value) -> Value {
    let status = observed.map(|g| {
        let mut s = json!({
            "observedGeneration": g,
            "conditions": [ready],
            "processedRecords": 120,
            "failedRecords": 2,
        });
        if let Some(phase) = phase {
            s["phase"] = phase.into();
        }
        s
    });
    resource(
        "SyncJob",
        generation,
        json!({"template": {"integrationRef": {"name": "crm"}}}),
        status,
    )
}

#[test]
fn sync_jobs_follow_their_phase() {
    let cases = [
        (
            "Completed",
            "True",
            "Healthy",
            "Completed: 120 records processed, 2 failed",
        ),
        ("Failed", "False", "Degraded", "Failed: page 3: HTTP 500"),
        (
            "Cancelled",
            "False",
            "Suspended",
            "Cancelled: page 3: HTTP 500",
        ),
        (
            "Running",
            "Unknown",
            "Progressing",
            "Running: 120 records processed",
        ),
        ("Pending", "Unknown", "Progressing", "Pending"),
    ];
    for (phase, ready_status, want, want_message) in cases {
        let message = if ready_status == "False" {
            "page 3: HTTP 500"
        } else {
            ""
        };
        let obj = sync_job(
            1,
            Some(1),
            Some(phase),
            ready(ready_status, phase, message, 1),
        );
        let (status, got) = health("SyncJob", &obj);
        assert_eq!(
            (status.as_str(), got.as_str()),
            (want, want_message),
            "{phase}"
        );
    }
    // Stale (spec.cancel just set) and never reported: Progressing.
    let stale = sync_job(
        2,
        Some(1),
        Some("Completed"),
        ready("True", "Completed", "", 1),
    );
    assert_eq!(health("SyncJob", &stale).0, "Progressing");
    let unreported = sync_job(1, None, None, Value::Null);
    assert_eq!(health("SyncJob", &unreported).0, "Progressing");
}

/// The block of `key: |` in `docs/argocd.md`, de-indented (the YAML literal block's value).
fn snippet_block(doc: &str, key: &str) -> Option<String> {
    let header = format!("  {key}: |");
    let mut lines = doc.lines().skip_while(|l| *l != header);
    lines.next()?;
    let mut block: Vec<&str> = lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    while block.last().is_some_and(|l| l.is_empty()) {
        block.pop();
    }
    Some(block.join("\n") + "\n")
}

#[test]
fn docs_argocd_cm_snippet_is_identical_to_the_lua_files() {
    let doc = read(&repo().join("docs/argocd.md"));
    for kind in KINDS {
        let key = format!("resource.customizations.health.switchboard.dev_{kind}");
        let block =
            snippet_block(&doc, &key).unwrap_or_else(|| panic!("docs/argocd.md has no `{key}: |`"));
        assert_eq!(
            block,
            read(&script_path(kind)),
            "docs/argocd.md `{key}` differs from charts/switchboard/argocd/health/{kind}.lua"
        );
    }
}

#[test]
fn docs_ignore_resource_updates_name_real_status_fields() {
    let doc = read(&repo().join("docs/argocd.md"));
    let mut seen = 0;
    for kind in KINDS {
        let key = format!("resource.customizations.ignoreResourceUpdates.switchboard.dev_{kind}");
        let Some(block) = snippet_block(&doc, &key) else {
            continue;
        };
        let crd = read(&repo().join(format!(
            "crds/{}s.switchboard.dev.yaml",
            kind.to_ascii_lowercase()
        )));
        let docs = switchboard::yaml::parse_documents(&crd).expect("CRD YAML");
        let schema = &docs[0].value["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let status_fields = schema["properties"]["status"]["properties"]
            .as_object()
            .expect("status properties");
        for line in block.lines().filter_map(|l| l.trim().strip_prefix("- ")) {
            let field = line
                .strip_prefix("/status/")
                .unwrap_or_else(|| panic!("{kind}: {line} is not a /status/ pointer"));
            assert!(
                status_fields.contains_key(field),
                "{kind}: status has no field {field}"
            );
            assert!(
                !["conditions", "observedGeneration", "phase"].contains(&field),
                "{kind}: {field} drives health and must not be ignored"
            );
            seen += 1;
        }
    }
    assert!(seen > 0, "no ignoreResourceUpdates pointers found");
}
