//! `switchboard get KIND`: a kubectl-style table of a running instance's resources.

use std::process::ExitCode;

use serde_json::Value;
use switchboard::api::{Kind, crds};

use super::CliError;

/// Arguments of `get`.
#[derive(clap::Args, Debug)]
pub struct GetArgs {
    /// Kind as kubectl takes it: plural, singular or short name (whs, intg, …).
    pub kind: String,
    /// Only this resource.
    pub name: Option<String>,
    /// Only this namespace (default: all).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Admin address of the running instance.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9090",
        env = "SWITCHBOARD_ADMIN"
    )]
    pub admin: String,
    /// Output format: table (default), wide, yaml or json.
    #[arg(short = 'o', long, default_value = "table")]
    pub output: String,
}

/// Fetches and prints the resources.
pub fn run(args: GetArgs) -> Result<ExitCode, CliError> {
    let Some(kind) = Kind::from_cli_name(&args.kind) else {
        eprintln!(
            "error: the server doesn't have a resource type {:?}",
            args.kind
        );
        return Ok(ExitCode::FAILURE);
    };
    let mut url = format!(
        "{}/v1/status?kind={}",
        args.admin.trim_end_matches('/'),
        kind.plural()
    );
    if let Some(ns) = &args.namespace {
        url.push_str(&format!("&namespace={ns}"));
    }
    let list = super::http_get_json(&url, None)?;
    let mut items: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    if let Some(name) = &args.name {
        items.retain(|i| i["metadata"]["name"] == name.as_str());
        if items.is_empty() {
            eprintln!("error: {} {name:?} not found", kind.singular());
            return Ok(ExitCode::FAILURE);
        }
    }
    match args.output.as_str() {
        "yaml" => print!("{}", switchboard::yaml::to_yaml_stream(&items)),
        "json" => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"items": items})).unwrap_or_default()
        ),
        "table" | "wide" => {
            if items.is_empty() {
                eprintln!("No resources found.");
            } else {
                print!(
                    "{}",
                    table(
                        kind,
                        &items,
                        args.namespace.is_none() && kind.namespaced(),
                        args.output == "wide"
                    )
                );
            }
        }
        other => {
            eprintln!("error: unknown output format {other:?}: use table, wide, yaml or json");
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Renders items with the CRD's printer columns, as kubectl does.
fn table(kind: Kind, items: &[Value], with_namespace: bool, wide: bool) -> String {
    let crd = crds::for_kind(kind.as_str()).expect("every kind has a CRD");
    let columns: Vec<_> = crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| wide || c.priority.unwrap_or(0) == 0)
        .collect();
    let mut rows = vec![];
    let mut header: Vec<String> = vec![];
    if with_namespace {
        header.push("NAMESPACE".into());
    }
    header.push("NAME".into());
    header.extend(columns.iter().map(|c| c.name.to_uppercase()));
    rows.push(header);
    let now = chrono::Utc::now();
    for item in items {
        let mut row = vec![];
        if with_namespace {
            row.push(
                item["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        row.push(item["metadata"]["name"].as_str().unwrap_or("").to_owned());
        for c in &columns {
            let value = jsonpath(item, &c.json_path);
            row.push(match (c.type_.as_str(), value) {
                ("date", Some(Value::String(s))) => age(&s, now),
                (_, Some(Value::String(s))) => s,
                (_, Some(v)) => v.to_string(),
                (_, None) => String::new(),
            });
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            format!("{}\n", cells.join("   ").trim_end())
        })
        .collect()
}

/// Evaluates a kubectl printer-column JSONPath (".status.conditions[?(@.type==\"Ready\")].status").
fn jsonpath(item: &Value, path: &str) -> Option<Value> {
    let query = serde_json_path::JsonPath::parse(&format!("${path}")).ok()?;
    query.query(item).first().cloned()
}

/// kubectl-style age: 45s, 12m, 5h, 3d.
fn age(timestamp: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(timestamp) else {
        return String::new();
    };
    let secs = (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_uses_the_crd_printer_columns() {
        let item = serde_json::json!({
            "metadata": {"name": "s1", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"url": "https://x", "suspend": false},
            "status": {"delivered": 7, "failed": 1, "pending": 0,
                       "conditions": [{"type": "Ready", "status": "True"}, {"type": "Healthy", "status": "False"}]}
        });
        let out = table(Kind::WebhookSubscription, &[item], true, false);
        let lines: Vec<_> = out.lines().collect();
        assert!(
            lines[0].starts_with(
                "NAMESPACE   NAME   READY   HEALTHY   SUSPEND   DISABLED   DELIVERED   FAILED   PENDING   AGE"
            ),
            "{out}"
        );
        assert!(
            lines[1].starts_with(
                "ns          s1     True    False     false                7           1        0         "
            ),
            "{out}"
        );
        assert!(
            !out.contains("https://x"),
            "priority columns only with -o wide"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(age("2026-01-01T23:59:30Z", now), "30s");
        assert_eq!(age("2026-01-01T23:00:00Z", now), "60m");
        assert_eq!(age("2026-01-01T00:00:00Z", now), "24h");
        assert_eq!(age("2025-12-20T00:00:00Z", now), "13d");
    }
}
