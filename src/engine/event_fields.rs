//! The pieces every publish format is read with: the event as published, why it was
//! refused, and reading a JSON envelope's fields with the data left as text.

use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::store::{Payload, PayloadError};

/// A JSON object's fields, their values left as text.
pub type Fields<'a> = HashMap<String, &'a RawValue>;

/// Longest accepted event type or id.
pub const MAX_ATTRIBUTE_LEN: usize = 256;

/// An event as published, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PublishedEvent {
    /// The publisher's id, when it gave one.
    pub id: Option<String>,
    /// Event type.
    pub event_type: String,
    /// CloudEvents `source`, when given.
    pub source: Option<String>,
    /// The data: JSON as sent, or a JSON string holding text or base64 (see `context`).
    pub data: Payload,
    /// A CloudEvent's context: every attribute but the data, and how the data is held
    /// (`store::EventContext`'s JSON); None for a plain event.
    pub context: Option<Payload>,
}

/// Why a publish request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The body is not what the content type promises.
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// A required attribute is missing or malformed.
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// The content type is not one the API takes.
    #[error(
        "unsupported content type {0:?}: send application/json, application/cloudevents+json, application/cloudevents-batch+json or a binary-mode CloudEvent"
    )]
    UnsupportedMediaType(String),
}

pub(super) fn not_json(e: &dyn std::error::Error) -> PublishError {
    PublishError::InvalidBody(format!("not JSON: {}", crate::error_chain::chain(e)))
}

/// The data of an event: JSON text, kept as sent.
pub(super) fn data(raw: &[u8]) -> Result<Payload, PublishError> {
    Payload::parse(raw, usize::MAX).map_err(payload_error)
}

/// The data of an event as a member of the JSON body (already read: only its shape is left
/// to check).
pub(super) fn member(raw: &RawValue) -> Result<Payload, PublishError> {
    Payload::from_raw(raw, usize::MAX).map_err(payload_error)
}

fn payload_error(e: PayloadError) -> PublishError {
    match e {
        PayloadError::Json(e) => not_json(&e),
        other => PublishError::InvalidBody(crate::error_chain::chain(&other).to_string()),
    }
}

/// The fields of a JSON object body, or `expected` as the error when it is JSON but not an
/// object.
pub(super) fn fields<'a>(body: &'a [u8], expected: &str) -> Result<Fields<'a>, PublishError> {
    serde_json::from_slice(body).map_err(|e| {
        match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => PublishError::InvalidBody(expected.to_owned()),
            Err(_) => not_json(&e),
        }
    })
}

/// A field holding JSON `null` counts as absent.
pub(super) fn field<'f>(fields: &'f Fields<'_>, name: &str) -> Option<&'f RawValue> {
    fields.get(name).copied().filter(|v| v.get() != "null")
}

pub(super) fn attribute(
    value: Option<&RawValue>,
    name: &str,
    required: bool,
) -> Result<Option<String>, PublishError> {
    match value.map(|v| serde_json::from_str::<Value>(v.get())) {
        None if !required => Ok(None),
        None => Err(PublishError::InvalidEvent(format!("{name} is required"))),
        Some(Ok(Value::String(s))) => check_attribute(&s, name).map(Some),
        Some(_) => Err(PublishError::InvalidEvent(format!(
            "{name} must be a string"
        ))),
    }
}

pub(super) fn check_attribute(s: &str, name: &str) -> Result<String, PublishError> {
    if s.is_empty() {
        return Err(PublishError::InvalidEvent(format!(
            "{name} must not be empty"
        )));
    }
    if s.len() > MAX_ATTRIBUTE_LEN {
        return Err(PublishError::InvalidEvent(format!(
            "{name} is longer than {MAX_ATTRIBUTE_LEN} bytes"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(PublishError::InvalidEvent(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(s.to_owned())
}
