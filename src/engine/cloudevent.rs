//! CloudEvents 1.0 in: structured mode (one JSON object), binary mode (`ce-*` headers, the
//! body the data in any content type) and batch mode (a JSON array of structured events, all
//! valid or refused with the index of the first that is not). Every context attribute and
//! extension is kept ([`EventContext`]), bounded in count and size; data that is not JSON is
//! kept as a JSON string of its text or of its bytes in base64.

use base64::Engine as _;
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::store::{DataEncoding, EventContext, Payload};

use super::event_fields::{
    Fields, MAX_ATTRIBUTE_LEN, PublishError, PublishedEvent, attribute, check_attribute, data,
    field, fields, member, not_json,
};

/// Most attributes (required, optional and extensions together) one event may carry.
pub const MAX_ATTRIBUTES: usize = 32;
/// Longest attribute name (the CloudEvents spec recommends at most 20 characters).
pub const MAX_NAME_LEN: usize = 20;
/// Longest value of an attribute other than `id` and `type` (those: 256 bytes).
pub const MAX_VALUE_LEN: usize = 2048;
/// Most bytes all of an event's attribute names and values may add up to.
pub const MAX_CONTEXT_BYTES: usize = 16 * 1024;
/// Most events one batch may hold.
pub const MAX_BATCH: usize = 1000;

/// One structured-mode event (`application/cloudevents+json`).
pub fn structured(body: &[u8]) -> Result<PublishedEvent, PublishError> {
    let map = fields(body, "expected a CloudEvents JSON object")?;
    from_fields(&map)
}

/// A batch-mode body (`application/cloudevents-batch+json`): every event, or the first error
/// with its index.
pub fn batch(body: &[u8]) -> Result<Vec<PublishedEvent>, PublishError> {
    let events: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
        match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => PublishError::InvalidBody("expected a JSON array of CloudEvents".into()),
            Err(_) => not_json(&e),
        }
    })?;
    if events.len() > MAX_BATCH {
        return Err(PublishError::InvalidBody(format!(
            "a batch holds at most {MAX_BATCH} events, this one {}",
            events.len()
        )));
    }
    events
        .iter()
        .enumerate()
        .map(|(index, raw)| structured(raw.get().as_bytes()).map_err(|e| at_index(index, e)))
        .collect()
}

/// `e` about the batch's event at `index` (counted from 0).
pub fn at_index(index: usize, e: PublishError) -> PublishError {
    match e {
        PublishError::InvalidBody(m) => {
            PublishError::InvalidBody(format!("batch event {index}: {m}"))
        }
        PublishError::InvalidEvent(m) => {
            PublishError::InvalidEvent(format!("batch event {index}: {m}"))
        }
        other => other,
    }
}

fn from_fields(map: &Fields<'_>) -> Result<PublishedEvent, PublishError> {
    let version = field(map, "specversion").and_then(|v| serde_json::from_str(v.get()).ok());
    spec_version(version)?;
    let id = attribute(field(map, "id"), "id", true)?.unwrap_or_default();
    let event_type = attribute(field(map, "type"), "type", true)?.unwrap_or_default();
    let source = attribute(field(map, "source"), "source", true)?.unwrap_or_default();
    let mut attributes = Map::new();
    for (name, raw) in map {
        if matches!(name.as_str(), "data" | "data_base64") || raw.get() == "null" {
            continue;
        }
        let value: Value = serde_json::from_str(raw.get())
            .map_err(|e| PublishError::InvalidBody(format!("attribute {name}: {e}")))?;
        attributes.insert(name.clone(), attribute_value(name, value)?);
    }
    let content_type = attributes
        .get("datacontenttype")
        .and_then(Value::as_str)
        .map(media_type);
    let base64 = field(map, "data_base64");
    let (data, encoding) = match (map.get("data"), base64) {
        (Some(_), Some(_)) => {
            return Err(PublishError::InvalidEvent(
                "data and data_base64 are mutually exclusive".into(),
            ));
        }
        (Some(d), None) if d.get() == "null" => (Payload::null(), DataEncoding::None),
        (Some(d), None) => {
            let text_data =
                d.get().starts_with('"') && content_type.as_deref().is_some_and(|ct| !is_json(ct));
            let encoding = if text_data {
                DataEncoding::Text
            } else {
                DataEncoding::Json
            };
            (member(d)?, encoding)
        }
        // Kept as its base64 text (a JSON string), once it is known to decode.
        (None, Some(b64)) => (base64_text(b64)?, DataEncoding::Base64),
        (None, None) => (Payload::null(), DataEncoding::None),
    };
    finish(id, event_type, source, attributes, data, encoding)
}

/// Checks an attribute's name and value (a string, a boolean or an integer).
fn attribute_value(name: &str, value: Value) -> Result<Value, PublishError> {
    check_name(name)?;
    match value {
        Value::String(s) => {
            check_value(name, &s)?;
            Ok(Value::String(s))
        }
        Value::Bool(_) => Ok(value),
        Value::Number(ref n) if n.is_i64() || n.is_u64() => Ok(value),
        _ => Err(PublishError::InvalidEvent(format!(
            "attribute {name} must be a string, a boolean or an integer"
        ))),
    }
}

fn check_name(name: &str) -> Result<(), PublishError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(PublishError::InvalidEvent(format!(
            "attribute name {:?} is not 1 to {MAX_NAME_LEN} lower-case letters and digits",
            name.chars().take(64).collect::<String>()
        )))
    }
}

fn check_value(name: &str, value: &str) -> Result<(), PublishError> {
    if matches!(name, "id" | "type" | "source" | "specversion") {
        return check_attribute(value, name).map(drop);
    }
    if value.len() > MAX_VALUE_LEN {
        return Err(PublishError::InvalidEvent(format!(
            "attribute {name} is longer than {MAX_VALUE_LEN} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(PublishError::InvalidEvent(format!(
            "attribute {name} must not contain control characters"
        )));
    }
    Ok(())
}

/// Checks the bounds on the whole context and builds the event.
fn finish(
    id: String,
    event_type: String,
    source: String,
    attributes: Map<String, Value>,
    data: Payload,
    encoding: DataEncoding,
) -> Result<PublishedEvent, PublishError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(PublishError::InvalidEvent(format!(
            "{} attributes: at most {MAX_ATTRIBUTES} (with extensions) are kept",
            attributes.len()
        )));
    }
    let size: usize = attributes
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(8, str::len))
        .sum();
    if size > MAX_CONTEXT_BYTES {
        return Err(PublishError::InvalidEvent(format!(
            "the attributes add up to {size} bytes: at most {MAX_CONTEXT_BYTES}"
        )));
    }
    let context = EventContext {
        attributes,
        encoding,
    };
    Ok(PublishedEvent {
        id: Some(id),
        event_type,
        source: Some(source),
        data,
        context: Some(context.to_payload()),
    })
}

/// A `data_base64` attribute that holds valid base64, as its JSON string.
fn base64_text(value: &RawValue) -> Result<Payload, PublishError> {
    let Ok(Value::String(text)) = serde_json::from_str(value.get()) else {
        return Err(PublishError::InvalidEvent(
            "data_base64 must be a string".into(),
        ));
    };
    base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| PublishError::InvalidEvent(format!("data_base64 is not base64: {e}")))?;
    Ok(Payload::trusted(value.get()))
}

/// One binary-mode event: attributes in `ce-*` headers, the body its data in the request's
/// content type (kept as `datacontenttype`).
pub fn binary(headers: &HeaderMap, body: &[u8]) -> Result<PublishedEvent, PublishError> {
    spec_version(headers.get("ce-specversion").and_then(|v| v.to_str().ok()))?;
    let mut attributes = Map::new();
    for (name, value) in headers {
        let Some(attr) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| PublishError::InvalidEvent(format!("header {name} is not text")))?;
        check_name(attr)?;
        check_value(attr, value)?;
        if attributes
            .insert(attr.to_owned(), Value::String(value.to_owned()))
            .is_some()
        {
            return Err(PublishError::InvalidEvent(format!(
                "header {name} is given more than once"
            )));
        }
    }
    let raw_type =
        match headers.get(CONTENT_TYPE) {
            Some(v) => Some(v.to_str().map_err(|_| {
                PublishError::InvalidEvent("header content-type is not text".into())
            })?),
            None => None,
        };
    if let Some(ct) = raw_type {
        check_value("datacontenttype", ct)?;
        attributes.insert("datacontenttype".into(), Value::String(ct.to_owned()));
    }
    let required = |name: &str| -> Result<String, PublishError> {
        attributes
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| PublishError::InvalidEvent(format!("header ce-{name} is required")))
    };
    let (id, event_type, source) = (required("id")?, required("type")?, required("source")?);
    let content_type = raw_type.map(media_type).unwrap_or_default();
    let (data, encoding) = if body.is_empty() && raw_type.is_none() {
        (Payload::null(), DataEncoding::None)
    } else if is_json(&content_type) {
        (data(body)?, DataEncoding::Json)
    } else if let (true, Ok(text)) = (is_text(&content_type), std::str::from_utf8(body)) {
        (json_string(text.to_owned())?, DataEncoding::Text)
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(body);
        (json_string(b64)?, DataEncoding::Base64)
    };
    finish(id, event_type, source, attributes, data, encoding)
}

fn json_string(text: String) -> Result<Payload, PublishError> {
    Payload::from_value(&Value::String(text))
        .map_err(|e| PublishError::InvalidBody(crate::error_chain::chain(&e).to_string()))
}

/// A content type's media type, lower-cased, without parameters.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Data of this media type is JSON (no content type means JSON, as the spec says).
pub fn is_json(media_type: &str) -> bool {
    media_type.is_empty()
        || media_type == "application/json"
        || media_type == "text/json"
        || media_type.ends_with("+json")
}

/// Data of this media type is text (kept as a string when it is UTF-8).
pub fn is_text(media_type: &str) -> bool {
    media_type.starts_with("text/")
        || media_type == "application/xml"
        || media_type.ends_with("+xml")
        || media_type == "application/x-www-form-urlencoded"
}

fn spec_version(v: Option<&str>) -> Result<(), PublishError> {
    match v {
        Some("1.0") => Ok(()),
        Some(other) => Err(PublishError::InvalidEvent(format!(
            "specversion {other:?} is not supported: use \"1.0\""
        ))),
        None => Err(PublishError::InvalidEvent("specversion is required".into())),
    }
}

/// Longest `id` or `type` (re-exported for the documentation of the bounds).
pub const MAX_ID_LEN: usize = MAX_ATTRIBUTE_LEN;

#[cfg(test)]
mod tests {
    use super::*;

    fn binary_headers(extra: &[(&str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-type", "t"),
            ("ce-source", "/s"),
        ] {
            h.insert(k, v.parse().unwrap());
        }
        for (k, v) in extra {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn context(e: &PublishedEvent) -> EventContext {
        EventContext::from_payload(e.context.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn any_content_type_is_kept_with_its_bytes() {
        let bytes = [0u8, 159, 146, 150, 255];
        let e = binary(
            &binary_headers(&[("content-type", "application/octet-stream".into())]),
            &bytes,
        )
        .unwrap();
        assert_eq!(context(&e).encoding, DataEncoding::Base64);
        assert_eq!(e.data.as_str(), r#""AJ+Slv8=""#);
        let xml = binary(
            &binary_headers(&[("content-type", "application/xml; charset=utf-8".into())]),
            b"<a>\"1\"</a>",
        )
        .unwrap();
        let ctx = context(&xml);
        assert_eq!(ctx.encoding, DataEncoding::Text);
        assert_eq!(
            ctx.attribute("datacontenttype"),
            Some("application/xml; charset=utf-8")
        );
        assert_eq!(xml.data.as_str(), r#""<a>\"1\"</a>""#);
        // Text that is not UTF-8 is kept as bytes.
        let latin = binary(
            &binary_headers(&[("content-type", "text/plain; charset=latin1".into())]),
            b"caf\xe9",
        )
        .unwrap();
        assert_eq!(context(&latin).encoding, DataEncoding::Base64);
        let none = binary(&binary_headers(&[]), b"").unwrap();
        assert_eq!(
            (context(&none).encoding, none.data.as_str()),
            (DataEncoding::None, "null")
        );
    }

    #[test]
    fn extensions_are_kept_and_bounded() {
        let e = structured(
            br#"{"specversion":"1.0","id":"1","type":"t","source":"/s","subject":"x","tenant":"acme","retries":3,"sampled":true,"data":"hi","datacontenttype":"text/plain"}"#,
        )
        .unwrap();
        let ctx = context(&e);
        assert_eq!(ctx.attributes["retries"], 3);
        assert_eq!(ctx.attributes["sampled"], true);
        assert_eq!(ctx.attribute("subject"), Some("x"));
        assert_eq!(ctx.encoding, DataEncoding::Text);
        let refused = |body: String| match structured(body.as_bytes()) {
            Err(PublishError::InvalidEvent(m)) => m,
            other => panic!("{other:?}"),
        };
        let base = r#""specversion":"1.0","id":"1","type":"t","source":"/s""#;
        let many: String = (0..MAX_ATTRIBUTES)
            .map(|i| format!(r#","x{i}":"v""#))
            .collect();
        assert!(refused(format!("{{{base}{many}}}")).contains("at most 32"));
        let long = "v".repeat(MAX_VALUE_LEN + 1);
        assert!(refused(format!(r#"{{{base},"ext":"{long}"}}"#)).contains("ext is longer"));
        let big: String = (0..10)
            .map(|i| format!(r#","x{i}":"{}""#, "v".repeat(MAX_VALUE_LEN)))
            .collect();
        assert!(refused(format!("{{{base}{big}}}")).contains("add up to"));
        assert!(refused(format!(r#"{{{base},"Bad_Name":"v"}}"#)).contains("lower-case"));
        assert!(refused(format!(r#"{{{base},"obj":{{"a":1}}}}"#)).contains("obj must be"));
        let header = binary(&binary_headers(&[("ce-Ext_1", "v".into())]), b"");
        assert!(matches!(header, Err(PublishError::InvalidEvent(_))));
    }

    #[test]
    fn a_batch_is_whole_or_refused_with_the_index() {
        let ok = r#"{"specversion":"1.0","id":"a","type":"t","source":"/s","data":1}"#;
        let bad = r#"{"specversion":"1.0","id":"b","type":"t"}"#;
        let all = batch(format!("[{ok},{ok}]").as_bytes()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            batch(format!("[{ok},{ok},{bad}]").as_bytes()),
            Err(PublishError::InvalidEvent(
                "batch event 2: source is required".into()
            ))
        );
        assert!(matches!(
            batch(br#"{"not":"an array"}"#),
            Err(PublishError::InvalidBody(_))
        ));
        assert_eq!(batch(b"[]").unwrap(), Vec::new());
        let over = format!("[{}]", vec![ok; MAX_BATCH + 1].join(","));
        assert!(matches!(
            batch(over.as_bytes()),
            Err(PublishError::InvalidBody(m)) if m.contains("at most 1000")
        ));
    }
}
