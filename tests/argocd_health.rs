//! The Argo CD health checks (`charts/switchboard/argocd/health/<Kind>.lua`) run by a real Lua
//! interpreter (Debian's `lua5.4`, found or installed by `scripts/helm-argocd-lua.sh`) against
//! Ready, stale, degraded, suspended and not-yet-reported samples of every kind (and by
//! `lua5.1` as well when it is installed, the dialect of Argo CD's gopher-lua); and the
//! `argocd-cm` snippet in `docs/argocd.md` kept identical to the `.lua` files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};

/// Every kind, as in `crds/`.
const KINDS: [&str; 7] = [
    "ClusterIntegrationProvider",
    "Integration",
    "WebhookEndpoint",
    "WebhookSubscription",
    "Transformation",
    "SyncSchedule",
    "SyncJob",
];

/// The kinds whose health follows the Ready condition (all but SyncJob).
const DECLARATIVE: [&str; 6] = [
    "ClusterIntegrationProvider",
    "Integration",
    "WebhookEndpoint",
    "WebhookSubscription",
    "Transformation",
    "SyncSchedule",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script_path(kind: &str) -> PathBuf {
    repo().join(format!("charts/switchboard/argocd/health/{kind}.lua"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The Lua 5.4 interpreter (installed on first use when missing and running as root).
fn lua() -> &'static Path {
    static LUA: OnceLock<PathBuf> = OnceLock::new();
    LUA.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("scripts/helm-argocd-lua.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/helm-argocd-lua.sh");
        assert!(
            out.status.success(),
            "no Lua 5.4 interpreter (scripts/helm-argocd-lua.sh failed)"
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// A JSON value as a Lua expression (objects become tables with string keys, arrays sequences).
fn to_lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(to_lua).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), to_lua(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lua 5.1 too when installed: Argo CD embeds gopher-lua, a Lua 5.1 (both must agree).
fn lua51() -> Option<&'static Path> {
    static LUA51: OnceLock<Option<PathBuf>> = OnceLock::new();
    LUA51
        .get_or_init(|| {
            let out = Command::new("sh")
                .args(["-c", "command -v lua5.1"])
                .output()
                .ok()?;
            let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
        })
        .as_deref()
}

/// Runs `chunk` with the interpreter at `lua`; its standard output.
fn run_lua(lua: &Path, chunk: &str, what: &str) -> String {
    let mut child = Command::new(lua)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting lua");
    child
        .stdin
        .take()
        .expect("lua stdin")
        .write_all(chunk.as_bytes())
        .expect("writing the chunk to lua");
    let out = child.wait_with_output().expect("waiting for lua");
    assert!(
        out.status.success(),
        "{what} failed with {}:\n{}",
        lua.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the health check of `kind` on `obj` as Argo CD does (global `obj`, the chunk returns
/// `hs`); returns (status, message).
fn health(kind: &str, obj: &Value) -> (String, String) {
    let script = read(&script_path(kind));
    let chunk = format!(
        "obj = {}\nlocal hs = (function()\n{script}\nend)()\nio.write(hs.status, \"\\n\", hs.message or \"\")\n",
        to_lua(obj)
    );
    let what = format!("{kind}.lua on {obj}");
    let text = run_lua(lua(), &chunk, &what);
    if let Some(lua51) = lua51() {
        assert_eq!(
            run_lua(lua51, &chunk, &what),
            text,
            "Lua 5.1 and 5.4 disagree: {what}"
        );
    }
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_owned(), message.to_owned())
}

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
