//! `switchboard validate` and `switchboard crds`, run as a user runs them.

use std::path::Path;
use std::process::Command;

fn switchboard(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("switchboard runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_examples_validate_cleanly() {
    let (code, out, err) = switchboard(&["validate", "config-examples"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with("ok: "), "{out}");
    assert_eq!(
        out.lines().count(),
        1,
        "a clean run prints one summary line: {out}"
    );
}

/// Every fixture holds one mistake and names, in its first line, the line and message
/// `validate` must report: `# expect: LINE: TEXT` (the text may be part of the message).
#[test]
fn every_invalid_fixture_fails_at_the_right_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "at least ten kinds of mistake, found {}",
        files.len()
    );
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks an expect line", file.display()));
        let (line, message) = expect.split_once(": ").unwrap();
        let rel = format!(
            "tests/fixtures/invalid/{}",
            file.file_name().unwrap().to_str().unwrap()
        );
        let (code, out, err) = switchboard(&["validate", &rel]);
        assert_eq!(code, 1, "{rel} must fail\nstdout:\n{out}\nstderr:\n{err}");
        let location = format!("{rel}:{line}: ");
        assert!(
            out.lines()
                .any(|l| l.starts_with(&location) && l.contains(message)),
            "{rel}: expected a line starting with {location:?} and containing {message:?}, got:\n{out}"
        );
        assert_eq!(
            out.lines().count(),
            1,
            "{rel}: one mistake, one message:\n{out}"
        );
    }
}

#[test]
fn crds_output_matches_the_committed_files() {
    let (code, out, _) = switchboard(&["crds"]);
    assert_eq!(code, 0);
    let docs: Vec<&str> = out
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .collect();
    let mut kinds: Vec<String> = docs
        .iter()
        .map(|d| {
            d.lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("kind: ")
                        .filter(|k| *k != "CustomResourceDefinition")
                })
                .unwrap()
                .to_owned()
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterIntegrationProvider",
            "EventType",
            "Integration",
            "SyncJob",
            "SyncSchedule",
            "Transformation",
            "WebhookEndpoint",
            "WebhookSubscription"
        ]
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut committed: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    committed.sort();
    assert_eq!(committed.len(), 8, "crds/ holds one file per kind");
    for doc in docs {
        let name = doc
            .lines()
            .find_map(|l| l.strip_prefix("  name: "))
            .unwrap();
        let file = dir.join(format!("{name}.yaml"));
        let on_disk = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(
            on_disk,
            format!("---\n{doc}"),
            "{} is stale: run `make crds`",
            file.display()
        );
    }
}

/// A reference to a Secret of the same manifest set that has not opted in
/// (`switchboard.dev/usable: "true"`) is reported at the reference, with what to do; with the
/// label the same files are clean. `--allow-missing-secrets` does not hide it: it is not missing.
#[test]
fn a_secret_without_the_opt_in_is_reported_at_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = |labels: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\n{labels}stringData:\n  token: t\n"
        )
    };
    let integration = "apiVersion: switchboard.dev/v1alpha1
kind: Integration
metadata: {name: api, namespace: shop}
spec:
  baseUrl: https://api.example.com
  auth:
    type: Bearer
    secretRef: {name: creds}
";
    std::fs::write(tmp.path().join("secret.yaml"), secret("")).unwrap();
    let file = tmp.path().join("integration.yaml");
    std::fs::write(&file, integration).unwrap();
    let dir = tmp.path().to_str().unwrap();
    for extra in [None, Some("--allow-missing-secrets")] {
        let mut args = vec!["validate", dir];
        args.extend(extra);
        let (code, out, _) = switchboard(&args);
        assert_eq!(code, 1, "{out}");
        let want = format!(
            "{}:8: Integration/shop/api: Secret \"creds\"",
            file.display()
        );
        assert!(out.starts_with(&want), "{want:?} in:\n{out}");
        assert!(
            out.contains("kubectl label secret creds -n shop switchboard.dev/usable=true"),
            "{out}"
        );
        assert_eq!(out.lines().count(), 1, "{out}");
    }
    let labelled = secret("  labels: {switchboard.dev/usable: \"true\"}\n");
    std::fs::write(tmp.path().join("secret.yaml"), labelled).unwrap();
    let (code, out, err) = switchboard(&["validate", dir]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Every system the seed documents name is in the catalog (the chart's copy is the same file,
/// tests/chart.rs checks), the catalog validates on its own, and an entry whose provider
/// publishes no open API documentation says so and names no endpoint.
#[test]
fn the_provider_catalog_names_every_seed_system_and_validates() {
    const CATALOG: &str = "charts/switchboard/files/providers.yaml";
    let (code, out, err) = switchboard(&["validate", CATALOG]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(CATALOG)).unwrap();
    let specs: std::collections::BTreeMap<String, serde_json::Value> =
        switchboard::yaml::parse_documents(&text)
            .unwrap()
            .into_iter()
            .map(|d| {
                let name = d.value["metadata"]["name"].as_str().unwrap().to_owned();
                (name, d.value["spec"].clone())
            })
            .collect();
    for name in [
        "stripe",
        "github",
        "gitlab",
        "slack",
        "twilio",
        "sendgrid",
        "shopify",
        "hubspot",
        "quickbooks",
        "xero",
        "paypal",
        "mailchimp",
        "zillow",
        "transunion",
        "experian",
        "equifax",
        "apartments-com",
    ] {
        let spec = specs.get(name).unwrap_or_else(|| panic!("{name} missing"));
        let access = spec["apiAccess"].as_str().unwrap_or("Public");
        if access == "Public" {
            assert!(spec["healthCheck"].is_object(), "{name}: a health check");
            assert!(
                spec["documentationUrl"].is_string(),
                "{name}: documentation"
            );
        } else {
            for field in ["baseUrl", "healthCheck", "webhooks"] {
                assert!(spec[field].is_null(), "{name}: {access} but names {field}");
            }
            assert!(
                spec["description"].as_str().is_some_and(
                    |d| d.contains("publishes no") || d.contains("requires registration")
                ),
                "{name}: the description says why no endpoint is named"
            );
        }
    }
    assert_eq!(specs["paypal"]["webhooks"]["verify"], "PayPal");
}
