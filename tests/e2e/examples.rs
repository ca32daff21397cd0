//! Every file in `config-examples/` applies to a real API server, and `kubectl get` lists it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::TestEnv;

/// (kind, name) of every document in the YAML files of `dir`, read from the text.
fn declared_objects(dir: &Path) -> BTreeSet<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut objects = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in text.split("\n---\n") {
            let kind = doc.lines().find_map(|l| l.strip_prefix("kind: "));
            let name = doc
                .lines()
                .skip_while(|l| *l != "metadata:")
                .find_map(|l| l.strip_prefix("  name: "));
            if let (Some(kind), Some(name)) = (kind, name) {
                objects.insert((kind.trim().to_string(), name.trim().to_string()));
            }
        }
    }
    objects
}

#[tokio::test]
async fn config_examples_apply_and_are_listed() {
    let env = TestEnv::new("examples").await.unwrap();
    let kubectl = env.kubectl();
    let expected = declared_objects(&env.cluster.repo.join("config-examples"));
    assert!(expected.len() >= 20, "examples found: {expected:?}");

    kubectl.ok(&["apply", "-f", "config-examples/"]).unwrap();

    let got = kubectl
        .ok(&[
            "get",
            "-f",
            "config-examples/",
            "--no-headers",
            "-o",
            "custom-columns=KIND:.kind,NAME:.metadata.name",
        ])
        .unwrap();
    let listed: BTreeSet<(String, String)> = got
        .stdout
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(k, n)| (k.to_string(), n.trim().to_string()))
        .collect();
    assert_eq!(listed, expected);

    // The category lists every Switchboard example in the namespace, by kind and name.
    let category = kubectl
        .ok(&["get", "switchboard", "-n", "payments", "-o", "name"])
        .unwrap();
    for (kind, name) in expected
        .iter()
        .filter(|(k, _)| is_namespaced_switchboard(k))
    {
        let line = format!("{}.switchboard.dev/{name}", kind.to_lowercase());
        assert!(
            category.stdout.lines().any(|l| l == line),
            "{line} missing:\n{}",
            category.stdout
        );
    }
}

fn is_namespaced_switchboard(kind: &str) -> bool {
    !matches!(kind, "Namespace" | "Secret" | "ClusterIntegrationProvider")
}
