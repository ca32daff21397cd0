//! The Helm chart against the real API server: the rendered manifests of every value profile
//! pass `kubectl apply --dry-run=server`, and the real controller, authenticated as the chart's
//! ServiceAccount (a TokenRequest token, as in a pod) with only the chart's RBAC, brings
//! config-examples to Ready, writes events and serves the publish API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::helm::{helm, repo};
use crate::support::controller::{Controller, assert_ready, eventually};
use crate::support::{Kubectl, TestEnv, note};

const CHART: &str = "charts/switchboard";
const READY_WITHIN: Duration = Duration::from_secs(60);

/// `helm template RELEASE charts/switchboard -n NAMESPACE ARGS` (YAML).
fn template(release: &str, namespace: &str, args: &[&str]) -> String {
    let out = Command::new(helm())
        .args(["template", release, CHART, "--namespace", namespace])
        .args(args)
        .current_dir(repo())
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("switchboard-helm-cache"),
        )
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("switchboard-helm-config"),
        )
        .output()
        .expect("running helm template");
    assert!(
        out.status.success(),
        "helm template {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn rendered_chart_passes_server_side_dry_run_for_every_profile() {
    let env = TestEnv::new("chart-dry-run").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let profiles: [(&str, Vec<String>); 4] = [
        (
            "sqlite",
            vec!["-f".into(), format!("{CHART}/ci/sqlite-values.yaml")],
        ),
        (
            "postgres",
            vec!["-f".into(), format!("{CHART}/ci/postgres-values.yaml")],
        ),
        (
            "postgres-url+networkpolicy+ingress",
            vec![
                "--set".into(),
                "store.type=postgres".into(),
                "--set".into(),
                "store.postgres.url=postgres://sb:pw@db:5432/sb".into(),
                "--set".into(),
                "networkPolicy.enabled=true".into(),
                "--set".into(),
                "ingress.enabled=true".into(),
                "--set".into(),
                "ingress.hosts={hooks.example.com}".into(),
            ],
        ),
        (
            "watch-namespace",
            vec!["--set".into(), format!("watchNamespace={ns}")],
        ),
    ];
    for (name, args) in &profiles {
        let mut all: Vec<&str> = vec!["--include-crds"];
        all.extend(args.iter().map(String::as_str));
        let rendered = template("sb", &ns, &all);
        let out = kubectl
            .run_with_stdin(&["apply", "--dry-run=server", "-f", "-"], Some(&rendered))
            .unwrap();
        assert!(
            out.success(),
            "profile {name}: kubectl apply --dry-run=server failed:\n{}\n{}",
            out.stdout,
            out.stderr
        );
        for kind in ["serviceaccount/", "clusterrole.rbac.authorization.k8s.io/"] {
            assert!(out.stdout.contains(kind), "profile {name}: {}", out.stdout);
        }
        assert!(out.stdout.contains("(server dry run)"), "{}", out.stdout);
    }
}

/// config-examples with every `namespace: payments` moved to `namespace` (the Namespace file
/// left out), so this test's controller is the only one writing these resources' status, and
/// their outbound URLs on a closed loopback port (the controller runs with
/// `--allow-private-destinations`).
fn examples_in(namespace: &str) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("config-examples"))
        .expect("config-examples/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.ends_with("00-namespace.yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("example");
            crate::offline::loopback_urls(&text).replace(
                "namespace: payments\n",
                &format!("namespace: {namespace}\n"),
            )
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// A copy of the admin kubeconfig whose current user is `token` (the ServiceAccount's).
fn service_account_kubeconfig(env: &TestEnv, dir: &Path, token: &str) -> (PathBuf, Kubectl) {
    let path = dir.join("sa.kubeconfig");
    std::fs::copy(env.kubeconfig(), &path).expect("copying the kubeconfig");
    let kubectl = Kubectl::new(
        env.kubectl_bin(),
        &path,
        &env.cluster.cache_dir,
        &env.cluster.repo,
    );
    kubectl
        .ok(&[
            "config",
            "set-credentials",
            "switchboard-sa",
            &format!("--token={token}"),
        ])
        .unwrap();
    kubectl
        .ok(&[
            "config",
            "set-context",
            "--current",
            "--user=switchboard-sa",
        ])
        .unwrap();
    (path, kubectl)
}

/// Whether this build of the controller elects a leader (`--leader-election`); when it does, the
/// test also applies the chart's Lease Role and runs with leader election on.
fn controller_elects_a_leader() -> bool {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["controller", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--leader-election"))
        .unwrap_or(false)
}

/// Publishes an `order.created` event; the answer's status (None when unreachable).
async fn publish(url: &str, namespace: &str, token: &str) -> Option<u16> {
    let event = serde_json::json!({"type": "order.created", "data": {"id": 1}});
    crate::support::publish::publish(url, namespace, token, &event).await
}

#[tokio::test]
async fn controller_brings_examples_to_ready_with_only_the_chart_rbac() {
    examples_ready_with_chart_rbac("chart-rbac", false).await;
}

#[tokio::test]
async fn controller_brings_examples_to_ready_with_the_watch_namespace_role() {
    examples_ready_with_chart_rbac("chart-rbac-ns", true).await;
}

/// Applies the chart's ServiceAccount and RBAC only (a cluster-wide ClusterRole, or with
/// `watch_namespace` a Role in the test namespace plus the small cluster part), then runs the
/// controller as that ServiceAccount and checks the examples, events and the publish API.
async fn examples_ready_with_chart_rbac(test: &str, watch_namespace: bool) {
    let env = TestEnv::new(test).await.unwrap();
    let ns = env.namespace.clone();
    let admin = env.kubectl();
    // Unique names for the cluster-scoped objects; ServiceAccount `switchboard`.
    let fullname = format!("fullnameOverride={ns}");
    let watch = format!("watchNamespace={ns}");
    let mut args = vec![
        "--set",
        &fullname,
        "--set",
        "serviceAccount.name=switchboard",
        "--show-only",
        "templates/serviceaccount.yaml",
        "--show-only",
        "templates/rbac-controller.yaml",
    ];
    if watch_namespace {
        args.extend(["--set", &watch]);
    }
    let rbac = template("sb", &ns, &args);
    assert_eq!(rbac.contains("kind: Role\n"), watch_namespace, "{rbac}");
    admin
        .run_with_stdin(&["apply", "-f", "-"], Some(&rbac))
        .and_then(|o| crate::support::kubectl::check("kubectl apply (chart RBAC)", o))
        .unwrap();
    let cluster_role = format!("{ns}-controller");

    let token = admin
        .ok(&["create", "token", "switchboard", "-n", &ns, "--duration=2h"])
        .unwrap()
        .stdout
        .trim()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (sa_kubeconfig, as_sa) = service_account_kubeconfig(&env, dir.path(), &token);
    let whoami = as_sa
        .ok(&[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .unwrap();
    assert_eq!(
        whoami.stdout.trim(),
        format!("system:serviceaccount:{ns}:switchboard")
    );
    // Least privilege, as the API server sees it.
    for (verb, resource, want) in [
        ("watch", "webhooksubscriptions.switchboard.dev", "yes"),
        ("create", "syncjobs.switchboard.dev", "yes"),
        ("create", "secrets", "yes"),
        // Deleting an Integration's OAuth token Secret once its tokens are revoked.
        ("delete", "secrets", "yes"),
        ("update", "secrets", "no"),
        ("deletecollection", "secrets", "no"),
        ("delete", "webhooksubscriptions.switchboard.dev", "no"),
        ("create", "deployments.apps", "no"),
        ("get", "configmaps", "no"),
    ] {
        let out = as_sa
            .run(&["auth", "can-i", verb, resource, "-n", &ns])
            .unwrap();
        assert_eq!(out.stdout.trim(), want, "can-i {verb} {resource}");
    }
    // Another namespace: only with the cluster-wide ClusterRole.
    let elsewhere = as_sa
        .run(&[
            "auth",
            "can-i",
            "watch",
            "webhooksubscriptions.switchboard.dev",
            "-n",
            "kube-system",
        ])
        .unwrap();
    let want = if watch_namespace { "no" } else { "yes" };
    assert_eq!(elsewhere.stdout.trim(), want, "can-i watch in kube-system");

    admin
        .run_with_stdin(&["apply", "-f", "-"], Some(&examples_in(&ns)))
        .and_then(|o| crate::support::kubectl::check("kubectl apply (examples)", o))
        .unwrap();
    admin
        .ok(&["create", "serviceaccount", "publisher", "-n", &ns])
        .unwrap();
    let publisher = admin
        .ok(&["create", "token", "publisher", "-n", &ns])
        .unwrap()
        .stdout
        .trim()
        .to_owned();

    // With leader election (several replicas), the chart's Lease Role in the release namespace.
    let elects = controller_elects_a_leader();
    let mut extra = vec!["--status-interval", "2s", "--allow-private-destinations"];
    if elects {
        let lease_rbac = template(
            "sb",
            &ns,
            &[
                "--set",
                &format!("fullnameOverride={ns}"),
                "--set",
                "serviceAccount.name=switchboard",
                "--set",
                "store.type=postgres",
                "--set",
                "store.postgres.existingSecret=unused",
                "--show-only",
                "templates/rbac-leader-election.yaml",
            ],
        );
        admin
            .run_with_stdin(&["apply", "-f", "-"], Some(&lease_rbac))
            .and_then(|o| crate::support::kubectl::check("kubectl apply (lease RBAC)", o))
            .unwrap();
        extra.extend(["--leader-election=true", "--leader-election-namespace", &ns]);
    }

    let started = Instant::now();
    let ctl = Controller::start_with(&sa_kubeconfig, &[&ns], &extra).unwrap();

    // Every Switchboard resource of the namespace, and the providers, become Ready and current.
    let listed = admin
        .ok(&[
            "get",
            "switchboard",
            "-n",
            &ns,
            "-o",
            "jsonpath={range .items[*]}{.kind}/{.metadata.name}{\"\\n\"}{end}",
        ])
        .unwrap();
    let mut expected: Vec<(String, String, String)> = listed
        .stdout
        .lines()
        .filter_map(|l| l.split_once('/'))
        // The `switchboard` category includes the cluster-scoped providers, added below.
        .filter(|(k, _)| *k != "ClusterIntegrationProvider")
        .map(|(k, n)| (k.to_owned(), ns.clone(), n.to_owned()))
        .collect();
    assert!(
        expected.len() >= 7,
        "examples not applied: {}",
        listed.stdout
    );
    let providers = std::fs::read_to_string(repo().join("config-examples/01-providers.yaml"))
        .expect("config-examples/01-providers.yaml");
    for doc in switchboard::yaml::parse_documents(&providers).expect("providers YAML") {
        if let Some(name) = doc.value["metadata"]["name"].as_str() {
            expected.push((
                "ClusterIntegrationProvider".into(),
                String::new(),
                name.into(),
            ));
        }
    }
    for (kind, namespace, name) in &expected {
        assert_ready(&env.client, &ctl, (kind, namespace, name), READY_WITHIN).await;
    }
    note(&format!(
        "chart RBAC: {} resources Ready {:?} after the controller started",
        expected.len(),
        started.elapsed()
    ));

    // Events (events.k8s.io create) on the Ready transitions.
    let events = eventually(Duration::from_secs(30), || async {
        let out = admin
            .ok(&[
                "get",
                "events.events.k8s.io",
                "-n",
                &ns,
                "-o",
                "jsonpath={.items[*].reason}",
            ])
            .ok()?;
        out.stdout.contains("Ready").then_some(out.stdout)
    })
    .await;
    assert!(events.is_some(), "no Ready events in {ns}\n{}", ctl.log());

    // The publish API (TokenReview as the controller's ServiceAccount).
    let status = eventually(Duration::from_secs(30), || {
        publish(&ctl.data_url, &ns, &publisher)
    })
    .await;
    assert_eq!(status, Some(202), "publish\n{}", ctl.log());

    if elects {
        admin
            .ok(&["get", "lease", "switchboard-leader", "-n", &ns])
            .unwrap();
    }

    // Nothing the controller asked for was refused.
    let log = ctl.log();
    assert!(
        !log.to_ascii_lowercase().contains("forbidden"),
        "the controller was refused something with the chart's RBAC:\n{log}"
    );

    // Best effort: the cluster-scoped objects (and the events Role in `default`) outlive the
    // namespace otherwise.
    let _ = admin.run(&[
        "delete",
        "clusterrolebinding,clusterrole",
        &cluster_role,
        "--ignore-not-found",
    ]);
    let _ = admin.run(&[
        "delete",
        "rolebinding,role",
        &format!("{ns}-cluster-events"),
        "-n",
        "default",
        "--ignore-not-found",
    ]);
}

#[tokio::test]
async fn tenant_roles_grant_what_they_say_when_bound_in_a_namespace() {
    let env = TestEnv::new("chart-tenant-roles").await.unwrap();
    let ns = env.namespace.clone();
    let admin = env.kubectl();
    let roles = template("sb", &ns, &["--show-only", "templates/rbac-tenants.yaml"]);
    admin
        .run_with_stdin(&["apply", "-f", "-"], Some(&roles))
        .and_then(|o| crate::support::kubectl::check("kubectl apply (tenant roles)", o))
        .unwrap();
    for (user, role) in [("alice", "switchboard-edit"), ("bob", "switchboard-view")] {
        admin
            .ok(&[
                "create",
                "rolebinding",
                &format!("{user}-{role}"),
                &format!("--clusterrole={role}"),
                &format!("--user={user}"),
                "-n",
                &ns,
            ])
            .unwrap();
    }
    // (user, verb, resource, subresource, namespace, expected)
    let other = "kube-system";
    let cases: &[(&str, &str, &str, &str, &str, &str)] = &[
        (
            "alice",
            "create",
            "webhooksubscriptions.switchboard.dev",
            "",
            &ns,
            "yes",
        ),
        (
            "alice",
            "delete",
            "syncjobs.switchboard.dev",
            "",
            &ns,
            "yes",
        ),
        (
            "alice",
            "patch",
            "webhooksubscriptions.switchboard.dev",
            "status",
            &ns,
            "no",
        ),
        ("alice", "get", "secrets", "", &ns, "no"),
        (
            "alice",
            "create",
            "webhooksubscriptions.switchboard.dev",
            "",
            other,
            "no",
        ),
        (
            "bob",
            "list",
            "webhookendpoints.switchboard.dev",
            "",
            &ns,
            "yes",
        ),
        (
            "bob",
            "get",
            "webhookendpoints.switchboard.dev",
            "status",
            &ns,
            "yes",
        ),
        (
            "bob",
            "create",
            "webhookendpoints.switchboard.dev",
            "",
            &ns,
            "no",
        ),
        (
            "bob",
            "list",
            "integrations.switchboard.dev",
            "",
            other,
            "no",
        ),
        // The Events `kubectl describe` shows, in both API groups.
        ("bob", "list", "events", "", &ns, "yes"),
        ("bob", "watch", "events.events.k8s.io", "", &ns, "yes"),
        ("bob", "create", "events", "", &ns, "no"),
    ];
    for (user, verb, resource, sub, namespace, want) in cases {
        let mut args = vec![
            "auth", "can-i", verb, resource, "-n", namespace, "--as", user,
        ];
        if !sub.is_empty() {
            args.extend(["--subresource", sub]);
        }
        let out = admin.run(&args).unwrap();
        assert_eq!(
            out.stdout.trim(),
            *want,
            "{user} {verb} {resource}/{sub} in {namespace}: {}",
            out.stderr
        );
    }
    // The aggregation labels (aggregation itself is done by kube-controller-manager, which
    // envtest does not run).
    let labels = admin
        .ok(&[
            "get",
            "clusterrole",
            "-l",
            "rbac.authorization.k8s.io/aggregate-to-edit=true,app.kubernetes.io/part-of=switchboard",
            "-o",
            "name",
        ])
        .unwrap();
    for role in ["switchboard-view", "switchboard-edit"] {
        assert!(labels.stdout.contains(role), "{}", labels.stdout);
    }
}
