//! CloudEvents out: a delivery made into a CloudEvent in binary mode (attributes in `ce-*`
//! headers, the data as the body in its own content type, bytes given back byte for byte) or
//! structured mode (one `application/cloudevents+json` object). The attributes are the ones
//! the event arrived with; an event that did not arrive as a CloudEvent gets its id, its type,
//! `time` (when it was received) and a `source` naming where it came from.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::store::{DataEncoding, EventContext, NewEvent};

/// A CloudEvent ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The request's Content-Type.
    pub content_type: String,
    /// `ce-*` headers (binary mode).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The `source` of an event that did not arrive as a CloudEvent: the path it entered by.
pub fn default_source(event: &NewEvent) -> String {
    let ns = &event.namespace;
    match event.source.split_once('/') {
        _ if event.source == "publish-api" => format!("/v1/namespaces/{ns}/events"),
        _ if event.source == "switchboard" => format!("/switchboard/{ns}"),
        Some(("endpoint", name)) => format!("/hooks/{ns}/{name}"),
        Some(("sync", name)) => format!("/syncs/{ns}/{name}"),
        _ => format!("/switchboard/{ns}/{}", event.source),
    }
}

/// Where an event came from, for the Standard Webhooks payload: its CloudEvents `source`
/// (or [`default_source`]) and `subject`, when it has one.
pub fn origin(event: &NewEvent) -> (String, Option<String>) {
    let context = event.context.as_ref().and_then(EventContext::from_payload);
    let attribute = |name: &str| {
        context
            .as_ref()
            .and_then(|c| c.attribute(name))
            .map(str::to_owned)
    };
    (
        attribute("source").unwrap_or_else(|| default_source(event)),
        attribute("subject"),
    )
}

/// The attributes an event goes out with (`data` excluded).
pub fn attributes(event: &NewEvent, context: Option<&EventContext>) -> Map<String, Value> {
    let mut attributes = context.map(|c| c.attributes.clone()).unwrap_or_default();
    let mut default = |name: &str, value: String| {
        attributes
            .entry(name.to_owned())
            .or_insert(Value::String(value));
    };
    default("specversion", "1.0".into());
    default("id", event.id.clone());
    default("type", event.event_type.clone());
    default("source", default_source(event));
    default(
        "time",
        event
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    attributes
}

/// The event as a CloudEvent. `data` is what goes out as the data: the stored payload
/// (`transformed` false: given back in its own encoding) or a transformation's JSON output.
pub fn build(event: &NewEvent, data: &[u8], transformed: bool, structured: bool) -> Outgoing {
    let context = event.context.as_ref().and_then(EventContext::from_payload);
    let mut attributes = attributes(event, context.as_ref());
    let encoding = match (&context, transformed) {
        (_, true) => {
            attributes.insert("datacontenttype".into(), "application/json".into());
            DataEncoding::Json
        }
        (Some(c), false) => c.encoding,
        (None, false) => DataEncoding::Json,
    };
    if structured {
        let mut body = serde_json::to_vec(&attributes).unwrap_or_else(|_| b"{}".to_vec());
        let member = match encoding {
            DataEncoding::None => None,
            DataEncoding::Base64 => Some("data_base64"),
            DataEncoding::Json | DataEncoding::Text => Some("data"),
        };
        if let Some(member) = member {
            // The data's JSON text (a string for text and base64) is embedded as it is.
            body.pop();
            if !attributes.is_empty() {
                body.push(b',');
            }
            body.extend_from_slice(format!("\"{member}\":").as_bytes());
            body.extend_from_slice(data);
            body.push(b'}');
        }
        return Outgoing {
            content_type: "application/cloudevents+json".into(),
            headers: Vec::new(),
            body,
        };
    }
    let content_type = attributes
        .remove("datacontenttype")
        .and_then(|v| v.as_str().map(str::to_owned));
    let headers = attributes
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (format!("ce-{name}"), percent_encoded(&text))
        })
        .collect();
    let string = || serde_json::from_slice::<String>(data).unwrap_or_default();
    let body = match encoding {
        DataEncoding::None => Vec::new(),
        DataEncoding::Json => data.to_vec(),
        DataEncoding::Text => string().into_bytes(),
        DataEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(string())
            .unwrap_or_default(),
    };
    // No data, no content type.
    let content_type = content_type.unwrap_or_else(|| match encoding {
        DataEncoding::None => String::new(),
        DataEncoding::Base64 => "application/octet-stream".into(),
        _ => "application/json".into(),
    });
    Outgoing {
        content_type,
        headers,
        body,
    }
}

/// A header value as the CloudEvents HTTP binding writes it: space, `"`, `%` and every byte
/// outside printable ASCII percent-encoded (UTF-8).
fn percent_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_graphic() && b != b'"' && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Payload;

    fn event(source: &str, payload: &str, context: Option<&str>) -> NewEvent {
        NewEvent {
            id: "e1".into(),
            namespace: "shop".into(),
            event_type: "order.created".into(),
            source: source.into(),
            payload: Payload::trusted(payload),
            received_at: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            context: context.map(Payload::trusted),
        }
    }

    #[test]
    fn events_without_a_context_get_a_source_and_id() {
        let e = event("publish-api", r#"{"a":1}"#, None);
        let out = build(&e, e.payload.as_bytes(), false, false);
        assert_eq!(out.content_type, "application/json");
        assert_eq!(out.body, br#"{"a":1}"#);
        assert!(
            out.headers
                .contains(&("ce-source".into(), "/v1/namespaces/shop/events".into()))
        );
        assert!(out.headers.contains(&("ce-id".into(), "e1".into())));
        assert_eq!(
            default_source(&event("endpoint/stripe", "1", None)),
            "/hooks/shop/stripe"
        );
        let s = build(&e, e.payload.as_bytes(), false, true);
        let v: Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(v["data"]["a"], 1);
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn bytes_go_back_as_they_came() {
        let context = r#"{"attributes":{"id":"x","source":"/s","type":"t","specversion":"1.0","datacontenttype":"application/octet-stream","tenant":"acme"},"encoding":"base64"}"#;
        let e = event("publish-api:/s", r#""AJ+Slv8=""#, Some(context));
        let out = build(&e, e.payload.as_bytes(), false, false);
        assert_eq!(out.body, [0u8, 159, 146, 150, 255]);
        assert_eq!(out.content_type, "application/octet-stream");
        assert!(out.headers.contains(&("ce-tenant".into(), "acme".into())));
        assert_eq!(percent_encoded("caf\u{e9} 100%"), "caf%C3%A9%20100%25");
        let s = build(&e, e.payload.as_bytes(), false, true);
        let v: Value = serde_json::from_slice(&s.body).unwrap();
        assert_eq!(v["data_base64"], "AJ+Slv8=");
        assert_eq!(v["id"], "x");
    }
}
