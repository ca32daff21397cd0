//! Reading a publish request: plain `{type, id?, data}` JSON, or CloudEvents 1.0 in structured
//! (`application/cloudevents+json`), binary (`ce-*` headers) or batch
//! (`application/cloudevents-batch+json`) mode (read in [`super::cloudevent`]). JSON data is
//! kept as the text it was sent as (a [`Payload`]): the envelope is read field by field with
//! the data left unparsed, so no `serde_json::Value` of it is ever built.

use http::HeaderMap;
use http::header::CONTENT_TYPE;

use crate::store::Payload;

use super::cloudevent;
pub use super::event_fields::{PublishError, PublishedEvent};
use super::event_fields::{attribute, field, fields, member};

/// Parses a publish request body according to its headers: one event, or (CloudEvents batch
/// mode) every event of the batch, all valid or the index of the first that is not.
pub fn parse_all(headers: &HeaderMap, body: &[u8]) -> Result<Vec<PublishedEvent>, PublishError> {
    if is_batch(headers) {
        return cloudevent::batch(body);
    }
    parse(headers, body).map(|e| vec![e])
}

/// The request is a CloudEvents batch (`application/cloudevents-batch+json`).
pub fn is_batch(headers: &HeaderMap) -> bool {
    !headers.contains_key("ce-specversion")
        && media_type(headers) == "application/cloudevents-batch+json"
}

/// Parses a one-event publish request body according to its headers.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<PublishedEvent, PublishError> {
    let content_type = media_type(headers);
    if headers.contains_key("ce-specversion") {
        return cloudevent::binary(headers, body);
    }
    match content_type.as_str() {
        "application/cloudevents+json" => cloudevent::structured(body),
        "application/json" | "" => parse_plain(body),
        other => Err(PublishError::UnsupportedMediaType(other.to_owned())),
    }
}

/// The request's media type, lower-cased, without parameters ("" when absent).
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

fn parse_plain(body: &[u8]) -> Result<PublishedEvent, PublishError> {
    let map = fields(body, "expected a JSON object {\"type\", \"id\", \"data\"}")?;
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "id" | "data"))
    {
        return Err(PublishError::InvalidEvent(format!(
            "unknown field {unknown:?}: expected type, id and data"
        )));
    }
    Ok(PublishedEvent {
        event_type: attribute(field(&map, "type"), "type", true)?.unwrap_or_default(),
        id: attribute(field(&map, "id"), "id", false)?,
        source: None,
        data: match map.get("data") {
            Some(raw) => member(raw)?,
            None => Payload::null(),
        },
        context: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn plain_json_with_and_without_id() {
        let e = parse(
            &headers(&[("content-type", "application/json")]),
            br#"{"type":"order.created","id":"o-1","data":{"n":1}}"#,
        )
        .unwrap();
        assert_eq!(
            (e.id.as_deref(), e.event_type.as_str(), e.data.as_str()),
            (Some("o-1"), "order.created", r#"{"n":1}"#)
        );
        let e = parse(&HeaderMap::new(), br#"{"type":"t","data":[1]}"#).unwrap();
        assert_eq!(e.id, None);
    }

    #[test]
    fn plain_json_errors_are_specific() {
        let h = headers(&[("content-type", "application/json")]);
        assert!(matches!(parse(&h, b"{"), Err(PublishError::InvalidBody(_))));
        assert!(matches!(
            parse(&h, b"[1]"),
            Err(PublishError::InvalidBody(_))
        ));
        assert_eq!(
            parse(&h, br#"{"data":1}"#),
            Err(PublishError::InvalidEvent("type is required".into()))
        );
        assert!(matches!(
            parse(&h, br#"{"type":5}"#),
            Err(PublishError::InvalidEvent(_))
        ));
        assert!(
            matches!(parse(&h, br#"{"type":"t","dta":1}"#), Err(PublishError::InvalidEvent(m)) if m.contains("dta"))
        );
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(300));
        assert!(matches!(
            parse(&h, long.as_bytes()),
            Err(PublishError::InvalidEvent(_))
        ));
        assert!(matches!(
            parse(&headers(&[("content-type", "text/xml")]), b"<a/>"),
            Err(PublishError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn data_is_kept_as_sent() {
        let data = r#"{"big": 18446744073709551617, "n": [-0, 1.000000000000000000001, 1e400, 0.1],
            "z": 1, "a": 2}"#;
        let body = format!(r#"{{"type":"t","data": {data} }}"#);
        let e = parse(&HeaderMap::new(), body.as_bytes()).unwrap();
        assert_eq!(e.data.as_str(), data);
        let structured = headers(&[("content-type", "application/cloudevents+json")]);
        let body =
            format!(r#"{{"specversion":"1.0","id":"1","type":"t","source":"s","data":{data}}}"#);
        assert_eq!(
            parse(&structured, body.as_bytes()).unwrap().data.as_str(),
            data
        );
        let binary = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-type", "t.b"),
            ("ce-source", "/s"),
            ("content-type", "application/json"),
        ]);
        let e = parse(&binary, format!(" {data}\n").as_bytes()).unwrap();
        assert_eq!(e.data.as_str(), data);
        let deep = format!(
            r#"{{"type":"t","data":{}}}"#,
            "[".repeat(200) + &"]".repeat(200)
        );
        assert!(matches!(
            parse(&HeaderMap::new(), deep.as_bytes()),
            Err(PublishError::InvalidBody(_))
        ));
        let text = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-type", "t"),
            ("ce-source", "/s"),
            ("content-type", "text/plain"),
        ]);
        assert_eq!(
            parse(&text, b"a \"b\"").unwrap().data.as_str(),
            r#""a \"b\"""#
        );
    }

    #[test]
    fn cloudevents_structured_and_binary() {
        let body = br#"{"specversion":"1.0","id":"ce-1","type":"com.example.order","source":"/shop","data":{"x":1}}"#;
        let e = parse(
            &headers(&[(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )]),
            body,
        )
        .unwrap();
        assert_eq!(
            (e.id.as_deref(), e.source.as_deref(), e.data.as_str()),
            (Some("ce-1"), Some("/shop"), r#"{"x":1}"#)
        );
        let bad = br#"{"specversion":"0.3","id":"1","type":"t","source":"s"}"#;
        assert!(
            parse(
                &headers(&[("content-type", "application/cloudevents+json")]),
                bad
            )
            .is_err()
        );

        let structured = headers(&[("content-type", "application/cloudevents+json")]);
        let base64 =
            br#"{"specversion":"1.0","id":"1","type":"t","source":"s","data_base64":"aGk="}"#;
        assert_eq!(
            parse(&structured, base64).unwrap().data.as_str(),
            r#""aGk=""#
        );
        let invalid =
            br#"{"specversion":"1.0","id":"1","type":"t","source":"s","data_base64":"%%"}"#;
        assert!(
            matches!(parse(&structured, invalid), Err(PublishError::InvalidEvent(m)) if m.contains("data_base64"))
        );
        let not_text = br#"{"specversion":"1.0","id":"1","type":"t","source":"s","data_base64":5}"#;
        assert!(matches!(
            parse(&structured, not_text),
            Err(PublishError::InvalidEvent(_))
        ));
        let both = br#"{"specversion":"1.0","id":"1","type":"t","source":"s","data":1,"data_base64":"aGk="}"#;
        assert!(
            matches!(parse(&structured, both), Err(PublishError::InvalidEvent(m)) if m.contains("exclusive"))
        );

        let h = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-type", "t.b"),
            ("ce-source", "/s"),
            ("content-type", "application/json"),
        ]);
        let e = parse(&h, br#"{"y":2}"#).unwrap();
        assert_eq!(
            (e.id.as_deref(), e.event_type.as_str(), e.data.as_str()),
            (Some("b-1"), "t.b", r#"{"y":2}"#)
        );
        let h = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-type", "t"),
            ("ce-source", "/s"),
        ]);
        assert_eq!(
            parse(&h, b"{}"),
            Err(PublishError::InvalidEvent(
                "header ce-id is required".into()
            ))
        );
    }
}
