//! A resource's view (what `/v1/status` serves) read and rendered for the console: its
//! fields, its conditions and the other status fields, shared by every resource page.

use std::fmt::Write as _;

use serde_json::Value;

use super::html::{badge, esc};

/// `view[pointer]` as text ("" when absent).
pub fn text<'v>(view: &'v Value, pointer: &str) -> &'v str {
    view.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The condition `type_` of a view: (status, reason, message).
pub fn condition<'v>(view: &'v Value, type_: &str) -> Option<(&'v str, &'v str, &'v str)> {
    view.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| (text(c, "/status"), text(c, "/reason"), text(c, "/message")))
}

/// The conditions and the other status fields of a resource.
pub fn status_section(view: &Value) -> String {
    let mut out = String::from(
        "<section><h2>Conditions</h2><table class=\"conditions\"><thead><tr><th>Type</th>\
         <th>Status</th><th>Reason</th><th>Message</th><th>Since</th></tr></thead><tbody>",
    );
    let conditions = view
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for c in &conditions {
        let status = text(c, "/status");
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(text(c, "/type")),
            badge(Some(status == "True"), status),
            esc(text(c, "/reason")),
            esc(text(c, "/message")),
            esc(text(c, "/lastTransitionTime"))
        );
    }
    out.push_str("</tbody></table><h2>Status</h2><dl class=\"fields\">");
    if let Some(fields) = view.pointer("/status").and_then(Value::as_object) {
        for (key, value) in fields {
            if key == "conditions" {
                continue;
            }
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = write!(
                out,
                "<dt>{}</dt><dd id=\"status-{0}\">{}</dd>",
                esc(key),
                esc(&shown)
            );
        }
    }
    out.push_str("</dl></section>");
    out
}
