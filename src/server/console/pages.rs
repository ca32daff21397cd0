//! The console's resource pages: the overview of every namespace the viewer may read, one
//! resource with its conditions and status (an Integration with its call log, a SyncSchedule
//! with its SyncJobs), and the event catalog. They read what `/v1/status` serves.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::api::Kind;
use crate::engine::auth::{DeliveryAccess, INTEGRATIONS, SUBSCRIPTIONS};

use super::html::{badge, esc, page, url};
use super::views::{condition, status_section, text};
use super::{Console, Viewer, error_page, html};

/// A badge for condition `type_` (and its reason when not True).
fn condition_cell(view: &Value, type_: &str) -> String {
    match condition(view, type_) {
        None => "<td>–</td>".to_owned(),
        Some((status, reason, message)) => format!(
            "<td title=\"{}\">{}</td>",
            esc(message),
            badge(Some(status == "True"), reason)
        ),
    }
}

fn plural(kind: &str) -> String {
    Kind::from_kind(kind).map_or_else(|| kind.to_ascii_lowercase(), |k| k.plural())
}

/// Every resource of the namespaces the viewer may read, by namespace, with Ready, Healthy
/// and the reason when not.
pub async fn overview(State(console): State<Console>, headers: HeaderMap) -> Response {
    let viewer = match Viewer::of(&headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut by_ns: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for view in console.engine.resource_views(None) {
        let ns = text(&view, "/metadata/namespace").to_owned();
        by_ns.entry(ns).or_default().push(view);
    }
    let mut body = String::new();
    let mut shown = 0;
    for (ns, views) in &by_ns {
        if !viewer.sees(&console, ns).await {
            continue;
        }
        shown += 1;
        let _ = write!(
            body,
            "<section class=\"namespace\" id=\"ns-{0}\"><h2>Namespace {0}</h2><table>\
             <thead><tr><th>Kind</th><th>Name</th><th>Ready</th><th>Healthy</th><th>Why</th></tr></thead><tbody>",
            esc(ns)
        );
        for view in views {
            let kind = text(view, "/kind");
            let name = text(view, "/metadata/name");
            let why = ["Ready", "Healthy"]
                .iter()
                .filter_map(|t| condition(view, t))
                .find(|(status, _, _)| *status != "True")
                .map(|(_, _, message)| message)
                .unwrap_or("");
            let _ = write!(
                body,
                "<tr><td>{}</td><td><a href=\"{}\">{}</a></td>{}{}<td class=\"why\">{}</td></tr>",
                esc(kind),
                esc(&format!(
                    "/console/ns/{}/{}/{}",
                    url(ns),
                    plural(kind),
                    url(name)
                )),
                esc(name),
                condition_cell(view, "Ready"),
                condition_cell(view, "Healthy"),
                esc(why)
            );
        }
        body.push_str("</tbody></table></section>");
    }
    if shown == 0 {
        body.push_str("<p id=\"empty\">No namespace you may read has resources.</p>");
    }
    html(StatusCode::OK, page("Overview", true, &body))
}

/// The event catalog of the namespaces the viewer may read.
pub async fn catalog(State(console): State<Console>, headers: HeaderMap) -> Response {
    let viewer = match Viewer::of(&headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut body = String::from(
        "<table id=\"catalog\"><thead><tr><th>Namespace</th><th>Type</th><th>Description</th>\
         <th>Ready</th><th>Schema</th></tr></thead><tbody>",
    );
    let mut allowed: BTreeMap<String, bool> = BTreeMap::new();
    for view in console.engine.resource_views(Some(Kind::EventType)) {
        let ns = text(&view, "/metadata/namespace").to_owned();
        if !allowed.contains_key(&ns) {
            let sees = viewer.sees(&console, &ns).await;
            allowed.insert(ns.clone(), sees);
        }
        if !allowed[&ns] {
            continue;
        }
        let type_ = Some(text(&view, "/status/type"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| text(&view, "/metadata/name"));
        let deprecated = view.pointer("/spec/deprecated").and_then(Value::as_bool) == Some(true);
        let schema = view
            .pointer("/spec/schema")
            .map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td>{}</td><td><code>{}</code>{}</td><td>{}</td>{}<td><pre>{}</pre></td></tr>",
            esc(&ns),
            esc(type_),
            if deprecated {
                " <span class=\"badge bad\">deprecated</span>"
            } else {
                ""
            },
            esc(text(&view, "/spec/description")),
            condition_cell(&view, "Ready"),
            esc(&schema)
        );
    }
    body.push_str("</tbody></table>");
    html(StatusCode::OK, page("Event catalog", true, &body))
}

use super::deliveries::LogQuery;

/// One resource: its conditions and status; a subscription's page is its delivery log.
pub async fn resource(
    State(console): State<Console>,
    Path((ns, kind, name)): Path<(String, String, String)>,
    headers: HeaderMap,
    query: Query<LogQuery>,
) -> Response {
    let viewer = match Viewer::of(&headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(k) = Kind::from_cli_name(&kind) else {
        return error_page(StatusCode::NOT_FOUND, "No such kind.");
    };
    // A subscription or an Integration (its call log) asks about that object; any other
    // page about the namespace's subscriptions, as the overview does.
    let (resource, object) = match k {
        Kind::WebhookSubscription => (SUBSCRIPTIONS, name.as_str()),
        Kind::Integration => (INTEGRATIONS, name.as_str()),
        _ => (SUBSCRIPTIONS, ""),
    };
    if let Err(r) = viewer
        .may(&console, resource, &ns, object, DeliveryAccess::Read)
        .await
    {
        return r;
    }
    let views = console.engine.resource_views(Some(k));
    let found = views
        .iter()
        .find(|v| text(v, "/metadata/namespace") == ns && text(v, "/metadata/name") == name);
    if k == Kind::WebhookSubscription {
        return super::deliveries::subscription(&console, &viewer, &ns, &name, found, &query.0)
            .await;
    }
    let Some(view) = found else {
        return error_page(
            StatusCode::NOT_FOUND,
            &format!("No {} {ns}/{name}.", k.as_str()),
        );
    };
    let mut body = status_section(view);
    match k {
        Kind::Integration => body.push_str(&call_log(&console, &ns, &name)),
        Kind::SyncSchedule => {
            body.push_str(&sync_jobs(&views_of(&console, Kind::SyncJob), &ns, &name))
        }
        _ => {}
    }
    html(
        StatusCode::OK,
        page(&format!("{} {ns}/{name}", k.as_str()), true, &body),
    )
}

fn views_of(console: &Console, kind: Kind) -> Vec<Value> {
    console.engine.resource_views(Some(kind))
}

fn call_log(console: &Console, ns: &str, name: &str) -> String {
    let Some(piece) = console.engine.topology().integration(ns, name) else {
        return "<p>Not running: no call log.</p>".to_owned();
    };
    let mut out = String::from(
        "<section><h2>Recent calls</h2><table id=\"calls\"><thead><tr><th>At</th><th>Method</th>\
         <th>Path</th><th>Status</th><th>Attempts</th><th>Duration</th></tr></thead><tbody>",
    );
    for call in piece.client.log().recent() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{} ms</td></tr>",
            esc(&call.at.to_rfc3339()),
            esc(&call.method),
            esc(&call.path),
            call.status
                .map_or_else(|| "–".to_owned(), |s| s.to_string()),
            call.attempts,
            call.duration_ms
        );
    }
    out.push_str("</tbody></table></section>");
    out
}

fn sync_jobs(jobs: &[Value], ns: &str, schedule: &str) -> String {
    let mut out = String::from(
        "<section><h2>Sync jobs</h2><table id=\"jobs\"><thead><tr><th>Job</th><th>Phase</th>\
         <th>Progress</th><th>Succeeded</th><th>Failed</th><th>Started</th><th>Completed</th>\
         </tr></thead><tbody>",
    );
    for job in jobs.iter().filter(|j| {
        text(j, "/metadata/namespace") == ns && text(j, "/spec/scheduleRef/name") == schedule
    }) {
        let n = |p: &str| job.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        let (done, total) = (n("/status/processedRecords"), n("/status/totalRecords"));
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td><progress max=\"{}\" value=\"{}\"></progress> {done}/{total}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(text(job, "/metadata/name")),
            esc(text(job, "/status/phase")),
            total.max(done).max(1),
            done,
            n("/status/succeededRecords"),
            n("/status/failedRecords"),
            esc(text(job, "/status/startedAt")),
            esc(text(job, "/status/completedAt"))
        );
    }
    out.push_str("</tbody></table></section>");
    out
}
