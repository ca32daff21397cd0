//! The console's delivery pages: a subscription with its charts and delivery log (filtered
//! by status, event type and time, paged by delivery id, never by offset), one delivery with
//! every attempt, and the actions retry and send a test event.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::engine::auth::{DeliveryAccess, SUBSCRIPTIONS};
use crate::error_chain::chain;
use crate::store::{DeliveryFilter, DeliveryRecord, DeliveryStatus, Target, TargetKind, id_bound};

use super::html::{badge, esc, page, url};
use super::views::status_section;
use super::{Console, CsrfForm, Viewer, chart, error_page, html, post_viewer};

/// Deliveries on one page of the log.
pub const PAGE: usize = 50;

/// The delivery log's filters and cursor.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this event type.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Only deliveries created before this time (UTC, `YYYY-MM-DDTHH:MM`).
    pub before: Option<String>,
    /// The page after this delivery id.
    pub after: Option<String>,
}

fn target(ns: &str, name: &str) -> Target {
    Target {
        namespace: ns.to_owned(),
        kind: TargetKind::Subscription,
        name: name.to_owned(),
    }
}

fn base(ns: &str, name: &str) -> String {
    format!("/console/ns/{}/webhooksubscriptions/{}", url(ns), url(name))
}

fn store_down(e: &crate::store::StoreError) -> Response {
    tracing::error!(error = %chain(e), "the console could not read the store");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The store could not be read; retry later.",
    )
}

fn parse_before(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// A subscription: status, actions, charts of the last hour and day, and its delivery log.
pub async fn subscription(
    console: &Console,
    viewer: &Viewer,
    ns: &str,
    name: &str,
    view: Option<&Value>,
    q: &LogQuery,
) -> Response {
    let status = q.status.as_deref().filter(|s| !s.is_empty());
    let status = match status.map(|s| DeliveryStatus::parse(s).ok_or(s)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(s)) => {
            return error_page(StatusCode::BAD_REQUEST, &format!("Unknown status {s:?}."));
        }
    };
    let event_type = q.event_type.clone().filter(|t| !t.is_empty());
    let before = q.before.as_deref().filter(|b| !b.is_empty());
    let cursor = match (q.after.as_deref().filter(|a| !a.is_empty()), before) {
        (Some(after), _) => Some(after.to_owned()),
        (None, Some(b)) => match parse_before(b) {
            Some(t) => Some(id_bound(t)),
            None => return error_page(StatusCode::BAD_REQUEST, "Unreadable time."),
        },
        (None, None) => None,
    };
    let filter = DeliveryFilter {
        status,
        event_type: event_type.clone(),
    };
    let store = console.engine.store();
    let t = target(ns, name);
    let items = match store
        .list_deliveries(&t, &filter, PAGE, cursor.as_deref())
        .await
    {
        Ok(items) => items,
        Err(e) => return store_down(&e),
    };
    if view.is_none() && items.is_empty() && cursor.is_none() {
        return error_page(
            StatusCode::NOT_FOUND,
            &format!("No WebhookSubscription {ns}/{name}."),
        );
    }
    let now = Utc::now();
    let mut body = String::new();
    if let Some(view) = view {
        body.push_str(&status_section(view));
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"{}/test\" class=\"action\">{}<button id=\"send-test\">Send a test event</button></form>",
        esc(&base(ns, name)),
        viewer.csrf_field()
    );
    body.push_str("<section class=\"charts\"><h2>Attempts</h2>");
    for (title, id, span, bucket, buckets) in [
        (
            "Last hour",
            "chart-hour",
            chrono::Duration::hours(1),
            Duration::from_secs(60),
            60,
        ),
        (
            "Last day",
            "chart-day",
            chrono::Duration::days(1),
            Duration::from_secs(1800),
            48,
        ),
    ] {
        let since = now - span;
        match store.attempt_series(&t, since, bucket).await {
            Ok(series) => body.push_str(&chart::render(title, id, &series, since, bucket, buckets)),
            Err(e) => return store_down(&e),
        }
    }
    body.push_str("</section>");
    body.push_str(&filters(ns, name, status, event_type.as_deref(), before));
    body.push_str(&log_table(ns, name, &items));
    if items.len() == PAGE
        && let Some(last) = items.last()
    {
        let mut next = format!("{}?after={}", base(ns, name), url(&last.id));
        if let Some(s) = status {
            let _ = write!(next, "&status={}", s.as_str());
        }
        if let Some(t) = &event_type {
            let _ = write!(next, "&type={}", url(t));
        }
        let _ = write!(
            body,
            "<p><a id=\"next\" href=\"{}\">Older deliveries →</a></p>",
            esc(&next)
        );
    }
    html(
        StatusCode::OK,
        page(&format!("WebhookSubscription {ns}/{name}"), true, &body),
    )
}

fn filters(
    ns: &str,
    name: &str,
    status: Option<DeliveryStatus>,
    event_type: Option<&str>,
    before: Option<&str>,
) -> String {
    let mut out = format!(
        "<form method=\"get\" action=\"{}\" class=\"filters\"><label>Status <select name=\"status\">\
         <option value=\"\">any</option>",
        esc(&base(ns, name))
    );
    for s in DeliveryStatus::ALL {
        let _ = write!(
            out,
            "<option{}>{}</option>",
            if Some(s) == status { " selected" } else { "" },
            s.as_str()
        );
    }
    let _ = write!(
        out,
        "</select></label><label>Event type <input name=\"type\" value=\"{}\"></label>\
         <label>Created before (UTC) <input name=\"before\" placeholder=\"2026-01-31T14:02\" value=\"{}\"></label>\
         <button>Filter</button></form>",
        esc(event_type.unwrap_or("")),
        esc(before.unwrap_or(""))
    );
    out
}

fn status_badge(status: DeliveryStatus) -> String {
    let ok = match status {
        DeliveryStatus::Delivered => Some(true),
        DeliveryStatus::Failed | DeliveryStatus::Dead => Some(false),
        _ => None,
    };
    badge(ok, status.as_str())
}

fn log_table(ns: &str, name: &str, items: &[DeliveryRecord]) -> String {
    let mut out = String::from(
        "<table id=\"deliveries\"><thead><tr><th>Delivery</th><th>Event type</th><th>Status</th>\
         <th>Attempts</th><th>Created</th><th>Last error</th></tr></thead><tbody>",
    );
    for d in items {
        let _ = write!(
            out,
            "<tr><td><a class=\"delivery\" href=\"{}\"><code>{}</code></a></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"why\">{}</td></tr>",
            esc(&format!("{}/deliveries/{}", base(ns, name), url(&d.id))),
            esc(&d.id),
            esc(&d.event_type),
            status_badge(d.status),
            d.attempts,
            esc(&d
                .created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            esc(d.last_error.as_deref().unwrap_or(""))
        );
    }
    if items.is_empty() {
        out.push_str("<tr><td colspan=\"6\">No deliveries.</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// One delivery with every attempt: the request (its body as sent, signatures never shown)
/// and the response (status, headers, body) with its duration.
pub async fn delivery(
    State(console): State<Console>,
    Path((ns, name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let viewer = match Viewer::of(&headers) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Err(r) = viewer
        .may(&console, SUBSCRIPTIONS, &ns, &name, DeliveryAccess::Read)
        .await
    {
        return r;
    }
    let detail = match console
        .engine
        .store()
        .delivery(&target(&ns, &name), &id)
        .await
    {
        Ok(Some(d)) => d,
        Ok(None) => {
            return error_page(
                StatusCode::NOT_FOUND,
                &format!("No delivery {id} of {ns}/{name}."),
            );
        }
        Err(e) => return store_down(&e),
    };
    let d = &detail.record;
    let mut body = format!(
        "<p><a href=\"{}\">← {}</a></p><dl class=\"fields\"><dt>Status</dt><dd id=\"status\">{}</dd>\
         <dt>Event</dt><dd><code>{}</code> ({})</dd><dt>Source</dt><dd>{}</dd><dt>Created</dt><dd>{}</dd>\
         <dt>Attempts</dt><dd id=\"attempt-count\">{}</dd>{}</dl>",
        esc(&base(&ns, &name)),
        esc(&name),
        status_badge(d.status),
        esc(&d.event_id),
        esc(&d.event_type),
        esc(&detail.source),
        esc(&d.created_at.to_rfc3339()),
        d.attempts,
        d.next_attempt_at
            .map(|t| format!("<dt>Next attempt</dt><dd>{}</dd>", esc(&t.to_rfc3339())))
            .unwrap_or_default()
    );
    if matches!(d.status, DeliveryStatus::Failed | DeliveryStatus::Dead) {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{}/deliveries/{}/retry\" class=\"action\">{}<button id=\"retry\">Retry</button></form>",
            esc(&base(&ns, &name)),
            esc(&url(&d.id)),
            viewer.csrf_field()
        );
    }
    let _ = write!(
        body,
        "<section><h2>Request</h2><p>Headers: <code>webhook-id: {}</code>, <code>webhook-timestamp</code>, \
         <code>webhook-signature: v1,•••••</code> (signatures and credentials are never shown).</p>\
         <h3>Payload (the event's data, exactly as stored)</h3><pre id=\"payload\">{}</pre></section>",
        esc(&d.id),
        esc(detail.payload.as_str())
    );
    body.push_str("<section><h2>Attempts</h2>");
    if d.attempt_log.is_empty() {
        body.push_str("<p>No attempt yet.</p>");
    }
    for (n, a) in d.attempt_log.iter().enumerate() {
        let ok = a.response_status.map(|s| (200..300).contains(&s));
        let _ = write!(
            body,
            "<article class=\"attempt\" id=\"attempt-{}\"><h3>Attempt {} — {} — {} ms</h3>\
             <p><code>{}</code> at {}</p>",
            n + 1,
            n + 1,
            badge(
                ok.or(Some(false)),
                &a.response_status
                    .map_or_else(|| "no response".to_owned(), |s| s.to_string())
            ),
            a.duration_ms,
            esc(&a.request),
            esc(&a.started_at.to_rfc3339())
        );
        if let Some(error) = &a.error {
            let _ = write!(body, "<p class=\"error\">{}</p>", esc(error));
        }
        if !a.response_headers.is_empty() {
            body.push_str("<table class=\"headers\"><tbody>");
            for (k, v) in &a.response_headers {
                let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
            }
            body.push_str("</tbody></table>");
        }
        let _ = write!(
            body,
            "<pre class=\"response-body\">{}</pre></article>",
            esc(&a.response_body)
        );
    }
    body.push_str("</section>");
    html(StatusCode::OK, page(&format!("Delivery {id}"), true, &body))
}

/// Retries a Failed or Dead delivery (POST form; CSRF and Origin checked first).
pub async fn retry(
    State(console): State<Console>,
    Path((ns, name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let viewer = match post_viewer(&headers, form.csrf.as_deref()) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Err(r) = viewer
        .may(&console, SUBSCRIPTIONS, &ns, &name, DeliveryAccess::Write)
        .await
    {
        return r;
    }
    match console.engine.store().retry(&target(&ns, &name), &id).await {
        Ok(true) => {
            console.engine.deliveries().wake();
            Redirect::to(&format!("{}/deliveries/{}", base(&ns, &name), url(&id))).into_response()
        }
        Ok(false) => error_page(
            StatusCode::CONFLICT,
            &format!("No Failed or Dead delivery {id} of {ns}/{name} to retry."),
        ),
        Err(e) => store_down(&e),
    }
}

/// Sends a test event to the subscription (POST form; CSRF and Origin checked first).
pub async fn test(
    State(console): State<Console>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let viewer = match post_viewer(&headers, form.csrf.as_deref()) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    if let Err(r) = viewer
        .may(&console, SUBSCRIPTIONS, &ns, &name, DeliveryAccess::Write)
        .await
    {
        return r;
    }
    match console.engine.test_subscription(&ns, &name).await {
        Ok(Some(_)) => Redirect::to(&base(&ns, &name)).into_response(),
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            &format!("No running WebhookSubscription {ns}/{name}."),
        ),
        Err(e) => {
            tracing::warn!(error = %chain(&e), "sending a test event from the console");
            error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "The test event could not be accepted.",
            )
        }
    }
}
