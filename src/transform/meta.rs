//! `$meta`: what a program knows about the payload besides its content.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jaq_json::{Map, Val};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `$meta` variable: {eventType, namespace, source, headers, receivedAt, attributes,
/// dataEncoding}.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Meta {
    /// The event type, when known.
    pub event_type: Option<String>,
    /// The namespace of the resource running the program.
    pub namespace: Option<String>,
    /// Where the payload came from ("WebhookEndpoint/shop/stripe").
    pub source: Option<String>,
    /// Request headers; names are lower-cased when the program sees them.
    pub headers: BTreeMap<String, String>,
    /// When the payload was received.
    pub received_at: Option<DateTime<Utc>>,
    /// A CloudEvent's context attributes and extensions as sent (`subject`, `time`,
    /// `datacontenttype`, …); None for an event that did not arrive as a CloudEvent.
    pub attributes: Option<serde_json::Map<String, Value>>,
    /// How the payload holds a CloudEvent's data: "json", "text" (a string of the text),
    /// "base64" (a string of the bytes in base64) or "none".
    pub data_encoding: Option<String>,
}

impl Meta {
    /// Reads `$meta` fields from JSON (as written in a test case or on the command line).
    pub fn from_json(value: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(value)
    }

    /// The value the program sees as `$meta`.
    pub fn to_value(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        serde_json::json!({
            "eventType": self.event_type,
            "namespace": self.namespace,
            "source": self.source,
            "headers": headers,
            "receivedAt": self.received_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "attributes": self.attributes,
            "dataEncoding": self.data_encoding,
        })
    }

    /// The jaq value the program sees as `$meta` ([`Meta::to_value`], built directly).
    pub fn to_jaq(&self) -> Val {
        let text = |s: &str| Val::utf8_str(s.as_bytes().to_vec());
        let opt = |s: &Option<String>| s.as_deref().map_or(Val::Null, text);
        let mut headers = Map::default();
        for (k, v) in &self.headers {
            headers.insert(text(&k.to_ascii_lowercase()), text(v));
        }
        let received_at = self
            .received_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let mut fields = Map::default();
        fields.insert(text("eventType"), opt(&self.event_type));
        fields.insert(text("namespace"), opt(&self.namespace));
        fields.insert(text("source"), opt(&self.source));
        fields.insert(text("headers"), Val::obj(headers));
        fields.insert(text("receivedAt"), opt(&received_at));
        let attributes = self.attributes.as_ref().map_or(Val::Null, |a| {
            super::value::to_jaq(&Value::Object(a.clone()))
        });
        fields.insert(text("attributes"), attributes);
        fields.insert(text("dataEncoding"), opt(&self.data_encoding));
        Val::obj(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::value::to_jaq;
    use serde_json::json;

    #[test]
    fn header_names_are_lower_cased() {
        let meta = Meta::from_json(&json!({
            "eventType": "push",
            "headers": {"X-GitHub-Event": "push"},
            "receivedAt": "2024-05-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(
            meta.to_value(),
            json!({
                "eventType": "push",
                "namespace": null,
                "source": null,
                "headers": {"x-github-event": "push"},
                "receivedAt": "2024-05-01T10:00:00.000Z",
                "attributes": null,
                "dataEncoding": null
            })
        );
    }

    #[test]
    fn direct_jaq_value_is_the_json_one() {
        let meta = Meta::from_json(&json!({
            "eventType": "push",
            "source": "WebhookEndpoint/ns/gh",
            "headers": {"X-B": "1", "x-a": "2", "X-A": "3", "Content-Type": "é"},
            "receivedAt": "2024-05-01T10:00:00.123456Z",
            "attributes": {"subject": "order-1", "tenant": "acme", "retries": 3},
            "dataEncoding": "text"
        }))
        .unwrap();
        for meta in [meta, Meta::default()] {
            assert_eq!(meta.to_jaq(), to_jaq(&meta.to_value()));
            // Key order too (object equality ignores it).
            assert_eq!(
                crate::transform::write::write_json(&meta.to_jaq(), 0, usize::MAX)
                    .unwrap()
                    .unwrap(),
                serde_json::to_vec(&meta.to_value()).unwrap()
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(Meta::from_json(&json!({"evenType": "x"})).is_err());
    }
}
