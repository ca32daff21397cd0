//! The Helm chart offline: `helm lint` of both value profiles, CRDs and provider presets kept
//! identical to the repository's, the rendered workload (StatefulSet or Deployment by store),
//! the restricted pod, the exact RBAC verbs, the tenant roles, and the metrics reference in
//! docs/metrics.md against what a running instance exports. helm is the pinned build of
//! `tests/e2e/helm/helm.sh` (built on first use). The chart against a real API server is in
//! tests/e2e/chart.rs.

mod support;

use support::helm::{helm, repo};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const CHART: &str = "charts/switchboard";

/// Runs helm in the repository root; (success, stdout, stderr).
fn run_helm(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(helm())
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
        .expect("running helm");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `helm template sb charts/switchboard -n switchboard ARGS`, as JSON documents.
fn render(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["template", "sb", CHART, "--namespace", "switchboard"];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = run_helm(&all);
    assert!(ok, "helm template {args:?} failed:\n{stderr}");
    switchboard::yaml::parse_documents(&stdout)
        .expect("helm output is YAML")
        .into_iter()
        .map(|d| d.value)
        .collect()
}

fn profile(name: &str) -> String {
    format!("{CHART}/ci/{name}-values.yaml")
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .filter_map(|d| d["kind"].as_str().map(str::to_owned))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every (apiGroup, resource, verb) a set of rules grants, as "group/resource:verb".
fn grants(rules: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules") {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert(format!("{group}/{resource}:{verb}"));
                }
            }
        }
    }
    out
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

const NAMESPACED: [&str; 7] = [
    "eventtypes",
    "integrations",
    "webhookendpoints",
    "webhooksubscriptions",
    "transformations",
    "syncschedules",
    "syncjobs",
];

/// What the controller does on namespaced resources (src/controller/*.rs; docs/multi-tenancy.md).
fn namespaced_grants() -> Vec<String> {
    let mut g = Vec::new();
    for r in NAMESPACED {
        for verb in ["get", "list", "watch"] {
            g.push(format!("switchboard.dev/{r}:{verb}"));
        }
        g.push(format!("switchboard.dev/{r}/status:patch"));
    }
    g.push("switchboard.dev/webhooksubscriptions:patch".into());
    g.push("switchboard.dev/webhooksubscriptions/finalizers:update".into());
    g.push("switchboard.dev/syncschedules/finalizers:update".into());
    g.push("switchboard.dev/integrations/finalizers:update".into());
    g.push("switchboard.dev/syncjobs:create".into());
    g.push("switchboard.dev/syncjobs:delete".into());
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        g.push(format!("/secrets:{verb}"));
    }
    g.push("events.k8s.io/events:create".into());
    g.push("events.k8s.io/events:patch".into());
    g
}

/// What the controller does on cluster-scoped resources.
fn cluster_grants() -> Vec<String> {
    vec![
        "switchboard.dev/clusterintegrationproviders:get".into(),
        "switchboard.dev/clusterintegrationproviders:list".into(),
        "switchboard.dev/clusterintegrationproviders:watch".into(),
        "switchboard.dev/clusterintegrationproviders/status:patch".into(),
        "authentication.k8s.io/tokenreviews:create".into(),
        "authorization.k8s.io/subjectaccessreviews:create".into(),
    ]
}

#[test]
fn helm_lint_passes_for_both_profiles() {
    for name in ["sqlite", "postgres"] {
        let (ok, stdout, stderr) = run_helm(&["lint", "--strict", CHART, "-f", &profile(name)]);
        assert!(ok, "helm lint ({name}) failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("0 chart(s) failed"), "{stdout}");
    }
}

#[test]
fn chart_crds_are_byte_identical_to_the_repository_crds() {
    let list = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .expect("listing a CRD directory")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    let (ours, repos) = (repo().join(CHART).join("crds"), repo().join("crds"));
    assert_eq!(
        list(&ours),
        list(&repos),
        "charts/switchboard/crds and crds/ list different files"
    );
    for name in list(&repos) {
        let a = std::fs::read(ours.join(&name)).expect("chart CRD");
        let b = std::fs::read(repos.join(&name)).expect("repository CRD");
        assert!(
            a == b,
            "charts/switchboard/crds/{name} differs from crds/{name}: run `make crds` (it copies crds/ into the chart)"
        );
    }
}

#[test]
fn provider_presets_are_the_config_examples_providers() {
    let preset = std::fs::read(repo().join(CHART).join("files/providers.yaml")).expect("preset");
    let example = std::fs::read(repo().join("config-examples/01-providers.yaml")).expect("example");
    assert!(
        preset == example,
        "charts/switchboard/files/providers.yaml differs from config-examples/01-providers.yaml"
    );
    let on = render(&[]);
    let names: BTreeSet<&str> = on
        .iter()
        .filter(|d| d["kind"] == "ClusterIntegrationProvider")
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    let example_text = String::from_utf8_lossy(&example).into_owned();
    let examples = switchboard::yaml::parse_documents(&example_text).expect("providers YAML");
    let expected: BTreeSet<&str> = examples
        .iter()
        .filter_map(|d| d.value["metadata"]["name"].as_str())
        .collect();
    assert!(expected.contains("stripe"), "{expected:?}");
    assert_eq!(names, expected);
    let off = render(&["--set", "providerPresets.enabled=false"]);
    assert!(!kinds(&off).contains("ClusterIntegrationProvider"));
}

#[test]
fn sqlite_profile_is_one_statefulset_replica_with_a_volume_claim() {
    let docs = render(&["-f", &profile("sqlite")]);
    assert!(!kinds(&docs).contains("Deployment"));
    let sts = find(&docs, "StatefulSet", "sb-switchboard").expect("StatefulSet");
    assert_eq!(sts["spec"]["replicas"], 1);
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "data");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&container["args"]);
    assert_eq!(args[0], "controller");
    assert!(
        args.contains(&"--leader-election=false".to_owned()),
        "{args:?}"
    );
    let env = &container["env"];
    let store = env
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == "SWITCHBOARD_STORE"))
        .expect("SWITCHBOARD_STORE");
    assert_eq!(store["value"], "sqlite:///data/switchboard.db");
    let mounts = container["volumeMounts"].to_string();
    assert!(mounts.contains("\"/data\""), "{mounts}");
    // No Lease rights without leader election.
    assert!(find(&docs, "Role", "sb-switchboard-leader-election").is_none());
    // Even with replicas set, SQLite runs one.
    let docs = render(&["--set", "replicas=5"]);
    assert_eq!(
        find(&docs, "StatefulSet", "sb-switchboard").expect("sts")["spec"]["replicas"],
        1
    );
}

#[test]
fn postgres_profile_is_a_deployment_with_replicas_and_leader_election() {
    let docs = render(&["-f", &profile("postgres")]);
    assert!(!kinds(&docs).contains("StatefulSet"));
    let deploy = find(&docs, "Deployment", "sb-switchboard").expect("Deployment");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert!(strings(&container["args"]).contains(&"--leader-election=true".to_owned()));
    let store = container["env"]
        .as_array()
        .and_then(|e| e.iter().find(|v| v["name"] == "SWITCHBOARD_STORE"))
        .expect("SWITCHBOARD_STORE");
    assert_eq!(
        store["valueFrom"]["secretKeyRef"]["name"],
        "switchboard-postgres"
    );
    assert_eq!(store["valueFrom"]["secretKeyRef"]["key"], "url");
    // The Lease Role, in the release namespace: create, and get/update of switchboard-leader only.
    let role = find(&docs, "Role", "sb-switchboard-leader-election").expect("lease Role");
    assert_eq!(role["metadata"]["namespace"], "switchboard");
    assert_eq!(
        grants(&role["rules"]),
        set(&[
            "coordination.k8s.io/leases:create".into(),
            "coordination.k8s.io/leases:get".into(),
            "coordination.k8s.io/leases:update".into(),
        ])
    );
    for rule in role["rules"].as_array().expect("rules") {
        if strings(&rule["verbs"]).iter().any(|v| v != "create") {
            assert_eq!(strings(&rule["resourceNames"]), vec!["switchboard-leader"]);
        }
    }
    assert!(find(&docs, "RoleBinding", "sb-switchboard-leader-election").is_some());
    // One replica: no leader election.
    let one = render(&["-f", &profile("postgres"), "--set", "replicas=1"]);
    let deploy = find(&one, "Deployment", "sb-switchboard").expect("Deployment");
    assert!(
        deploy["spec"]["template"]
            .to_string()
            .contains("--leader-election=false")
    );
    assert!(find(&one, "Role", "sb-switchboard-leader-election").is_none());
    // A URL instead of a Secret: the chart keeps it in a Secret of its own, never in the pod spec.
    let url = "postgres://sb:s3cret@db:5432/sb";
    let own = render(&[
        "--set",
        "store.type=postgres",
        "--set",
        &format!("store.postgres.url={url}"),
    ]);
    let secret = find(&own, "Secret", "sb-switchboard-postgres").expect("Secret");
    assert_eq!(secret["stringData"]["url"], url);
    let deploy = find(&own, "Deployment", "sb-switchboard").expect("Deployment");
    assert!(!deploy.to_string().contains("s3cret"));
    // Neither: refused with a message naming the values.
    let (ok, _, stderr) = run_helm(&["template", "sb", CHART, "--set", "store.type=postgres"]);
    assert!(
        !ok && stderr.contains("store.postgres.existingSecret"),
        "{stderr}"
    );
}

#[test]
fn pod_is_restricted_with_probes_and_downward_env() {
    for name in ["sqlite", "postgres"] {
        let docs = render(&["-f", &profile(name)]);
        let workload = docs
            .iter()
            .find(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
            .expect("workload");
        let pod = &workload["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let c = &pod["containers"][0];
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"], true);
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert_eq!(sc["runAsNonRoot"], true);
        assert_eq!(strings(&sc["capabilities"]["drop"]), vec!["ALL"]);
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["livenessProbe"]["httpGet"]["port"], "admin");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], "admin");
        let ports: BTreeSet<(String, i64)> = c["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or("").to_owned(),
                    p["containerPort"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            ports,
            BTreeSet::from([("admin".into(), 9090), ("http".into(), 8080)])
        );
        for (var, path) in [
            ("POD_NAME", "metadata.name"),
            ("POD_NAMESPACE", "metadata.namespace"),
        ] {
            let e = c["env"]
                .as_array()
                .and_then(|e| e.iter().find(|v| v["name"] == var))
                .unwrap_or_else(|| panic!("{var} missing"));
            assert_eq!(e["valueFrom"]["fieldRef"]["fieldPath"], path);
        }
        // Services for both ports.
        let data = find(&docs, "Service", "sb-switchboard").expect("data Service");
        assert_eq!(data["spec"]["ports"][0]["port"], 8080);
        let admin = find(&docs, "Service", "sb-switchboard-admin").expect("admin Service");
        assert_eq!(admin["spec"]["ports"][0]["port"], 9090);
        assert!(find(&docs, "PodDisruptionBudget", "sb-switchboard").is_some());
        assert!(find(&docs, "ServiceAccount", "sb-switchboard").is_some());
    }
}

#[test]
fn cluster_role_lists_exactly_the_controller_verbs() {
    let docs = render(&[]);
    let role = find(&docs, "ClusterRole", "sb-switchboard-controller").expect("ClusterRole");
    let mut expected = namespaced_grants();
    expected.extend(cluster_grants());
    assert_eq!(grants(&role["rules"]), set(&expected));
    let binding = find(&docs, "ClusterRoleBinding", "sb-switchboard-controller").expect("binding");
    assert_eq!(binding["subjects"][0]["kind"], "ServiceAccount");
    assert_eq!(binding["subjects"][0]["name"], "sb-switchboard");
    assert_eq!(binding["subjects"][0]["namespace"], "switchboard");
    // No wildcard anywhere in the chart's RBAC.
    for doc in docs
        .iter()
        .filter(|d| ["ClusterRole", "Role"].contains(&d["kind"].as_str().unwrap_or("")))
    {
        assert!(!doc["rules"].to_string().contains("\"*\""), "{doc}");
    }
}

#[test]
fn watch_namespace_turns_the_namespaced_rules_into_a_role() {
    let docs = render(&["--set", "watchNamespace=tenant-x"]);
    let cluster = find(&docs, "ClusterRole", "sb-switchboard-controller").expect("ClusterRole");
    assert_eq!(grants(&cluster["rules"]), set(&cluster_grants()));
    let role = find(&docs, "Role", "sb-switchboard-controller").expect("Role");
    assert_eq!(role["metadata"]["namespace"], "tenant-x");
    assert_eq!(grants(&role["rules"]), set(&namespaced_grants()));
    let binding = find(&docs, "RoleBinding", "sb-switchboard-controller").expect("RoleBinding");
    assert_eq!(binding["metadata"]["namespace"], "tenant-x");
    let events = find(&docs, "Role", "sb-switchboard-cluster-events").expect("events Role");
    assert_eq!(events["metadata"]["namespace"], "default");
    let workload = find(&docs, "StatefulSet", "sb-switchboard").expect("sts");
    assert!(workload.to_string().contains("--namespace=tenant-x"));
}

#[test]
fn tenant_roles_aggregate_into_view_and_edit() {
    let docs = render(&[]);
    let view = find(&docs, "ClusterRole", "switchboard-view").expect("switchboard-view");
    assert_eq!(
        view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
        "true"
    );
    let view_grants = grants(&view["rules"]);
    assert!(
        view_grants
            .iter()
            .all(|g| g.ends_with(":get") || g.ends_with(":list") || g.ends_with(":watch"))
    );
    assert!(view_grants.contains("switchboard.dev/webhooksubscriptions/status:get"));
    // `kubectl describe` lists the resource's Events: core and events.k8s.io.
    for group in ["", "events.k8s.io"] {
        for verb in ["get", "list", "watch"] {
            assert!(
                view_grants.contains(&format!("{group}/events:{verb}")),
                "switchboard-view cannot {verb} {group}/events"
            );
        }
    }
    let edit = find(&docs, "ClusterRole", "switchboard-edit").expect("switchboard-edit");
    assert_eq!(
        edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"],
        "true"
    );
    let edit_grants = grants(&edit["rules"]);
    for r in NAMESPACED {
        for verb in ["create", "update", "patch", "delete"] {
            assert!(
                edit_grants.contains(&format!("switchboard.dev/{r}:{verb}")),
                "{r} {verb}"
            );
        }
    }
    // Status stays the controller's; the provider catalog is read-only; no Secrets.
    assert!(!edit_grants.iter().any(|g| g.contains("/status")));
    assert!(!edit_grants.contains("switchboard.dev/clusterintegrationproviders:create"));
    assert!(!edit_grants.iter().any(|g| g.contains("secrets")));
    let off = render(&["--set", "rbac.aggregatedRoles=false"]);
    assert!(find(&off, "ClusterRole", "switchboard-view").is_none());
}

#[test]
fn network_policy_and_service_monitor_are_optional() {
    let docs = render(&[]);
    assert!(!kinds(&docs).contains("NetworkPolicy"));
    assert!(!kinds(&docs).contains("ServiceMonitor"));
    let docs = render(&[
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "serviceMonitor.enabled=true",
    ]);
    let np = find(&docs, "NetworkPolicy", "sb-switchboard").expect("NetworkPolicy");
    assert_eq!(strings(&np["spec"]["policyTypes"]), vec!["Ingress"]);
    let sm = find(&docs, "ServiceMonitor", "sb-switchboard").expect("ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "admin");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
}

#[test]
fn ingress_exposes_only_the_webhook_paths() {
    assert!(!kinds(&render(&[])).contains("Ingress"));
    let docs = render(&[
        "--set",
        "ingress.enabled=true",
        "--set",
        "ingress.hosts={hooks.example.com}",
    ]);
    let ingress = find(&docs, "Ingress", "sb-switchboard").expect("Ingress");
    let rule = &ingress["spec"]["rules"][0];
    assert_eq!(rule["host"], "hooks.example.com");
    let paths = rule["http"]["paths"].as_array().expect("paths");
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0]["path"], "/hooks/");
    assert_eq!(paths[0]["backend"]["service"]["name"], "sb-switchboard");
    assert_eq!(paths[0]["backend"]["service"]["port"]["name"], "http");
}

#[test]
fn values_schema_refuses_bad_values() {
    for bad in [
        "store.type=mysql",
        "replicas=0",
        "watchNamespace=Not_A_Namespace",
        "controller.logFormat=xml",
        "unknownKey=1",
    ] {
        let (ok, _, stderr) = run_helm(&["template", "sb", CHART, "--set", bad]);
        assert!(!ok, "--set {bad} was accepted");
        assert!(stderr.contains("schema"), "--set {bad}: {stderr}");
    }
}

/// The metric names of the table in docs/metrics.md (first column).
fn documented_metrics() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(repo().join("docs/metrics.md")).expect("docs/metrics.md");
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `switchboard_"))
        .filter_map(|l| l.split('`').next())
        .map(|name| format!("switchboard_{name}"))
        .collect()
}

/// Names passed to `Registry::register` anywhere in src/ (the engine's registry has the prefix
/// `switchboard`).
fn registered_metrics() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("listing src/") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo().join("src"), &mut files);
    let register = regex::Regex::new(r#"\.register\(\s*"([a-z0-9_]+)""#).expect("regex");
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("source file");
            register
                .captures_iter(&text)
                .map(|c| c[1].to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn metrics_reference_lists_exactly_the_registered_metrics() {
    let documented = documented_metrics();
    // Every registered family is documented and nothing else is (counters as NAME_total).
    let bases: BTreeSet<String> = documented
        .iter()
        .map(|m| {
            let m = m.strip_prefix("switchboard_").unwrap_or(m);
            m.strip_suffix("_total").unwrap_or(m).to_owned()
        })
        .collect();
    assert_eq!(
        bases,
        registered_metrics(),
        "docs/metrics.md must list exactly the metrics registered in src/"
    );

    // And the names are the ones a running instance exports (families appear once used).
    let dir = tempfile::tempdir().expect("tempdir");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir(&manifests).expect("manifests dir");
    let instance = support::Instance::start(&manifests, &dir.path().join("data"), &[]);
    let (code, body) = support::http("GET", &format!("{}/metrics", instance.admin_url), &[], None)
        .expect("GET /metrics");
    assert_eq!(code, 200);
    let text = String::from_utf8_lossy(&body);
    let mut exported = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap_or_default();
        let family = ["_bucket", "_sum", "_count", "_created"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|base| documented.contains(*base))
            .unwrap_or(name);
        assert!(
            documented.contains(family),
            "{name} is exported but not in docs/metrics.md"
        );
        exported += 1;
    }
    assert!(exported > 0, "nothing exported:\n{text}");
}

#[test]
fn chart_app_version_is_the_crate_version() {
    let chart = std::fs::read_to_string(repo().join(CHART).join("Chart.yaml")).expect("Chart.yaml");
    let app_version = chart
        .lines()
        .find_map(|l| l.strip_prefix("appVersion: "))
        .map(|v| v.trim_matches('"'))
        .expect("appVersion");
    assert_eq!(app_version, env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_flag_the_chart_passes_is_a_controller_flag() {
    let help = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["controller", "--help"])
        .output()
        .expect("switchboard controller --help");
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for args in [
        vec!["-f".to_owned(), profile("sqlite")],
        vec!["-f".to_owned(), profile("postgres")],
        vec![
            "--set".into(),
            "watchNamespace=team-a".into(),
            "--set".into(),
            "controller.allowPrivateDestinations=true".into(),
            "--set".into(),
            "controller.externalUrl=https://hooks.example.com".into(),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let docs = render(&args);
        let workload = docs
            .iter()
            .find(|d| d["kind"] == "Deployment" || d["kind"] == "StatefulSet")
            .expect("workload");
        let container = &workload["spec"]["template"]["spec"]["containers"][0];
        let flags = strings(&container["args"]);
        assert_eq!(flags[0], "controller");
        if args
            .iter()
            .any(|a| a.starts_with("controller.externalUrl="))
        {
            assert!(
                flags.contains(&"--external-url=https://hooks.example.com".to_owned()),
                "{flags:?}"
            );
        }
        for flag in flags.iter().skip(1) {
            let name = flag.split('=').next().unwrap_or(flag);
            if name == "--leader-election" && !help.contains("--leader-election") {
                // This build predates leader election (the controller issue adds it).
                continue;
            }
            assert!(
                help.contains(&format!("{name} "))
                    || help.contains(&format!("{name}="))
                    || help.contains(&format!("{name}\n")),
                "the chart passes {flag}, which `switchboard controller` does not know:\n{help}"
            );
        }
        // Settings passed as environment variables are read by clap (`[env: NAME=]`); RUST_LOG,
        // SQLITE_TMPDIR and POD_NAMESPACE are read by tracing, SQLite and leader election.
        for var in container["env"].as_array().expect("env") {
            let name = var["name"].as_str().unwrap_or_default();
            if ["RUST_LOG", "SQLITE_TMPDIR", "POD_NAMESPACE"].contains(&name) {
                continue;
            }
            assert!(
                help.contains(&format!("[env: {name}=")),
                "the chart sets {name}, which `switchboard controller` does not read:\n{help}"
            );
        }
    }
}
