//! What a CloudEvent said about itself besides its data: every context attribute and
//! extension as sent, and how the stored payload holds the data (JSON as sent, a JSON string
//! of text, or a JSON string of base64 for bytes), so a delivery can give the data back in
//! its own content type byte for byte. Kept with the stored event as JSON.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Payload;

/// How an event's payload holds its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataEncoding {
    /// The event has no data (the payload is `null`).
    #[default]
    None,
    /// The payload is the data, JSON as sent.
    Json,
    /// The payload is a JSON string whose value is the data (text, XML, …).
    Text,
    /// The payload is a JSON string holding the data's bytes in base64.
    Base64,
}

/// A CloudEvent's context: attributes (`specversion`, `id`, `source`, `type`, `subject`,
/// `time`, `dataschema`, `datacontenttype`, extensions) and the data's encoding.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventContext {
    /// Every attribute but the data, its value as sent (string, boolean or integer).
    pub attributes: Map<String, Value>,
    /// How the payload holds the data.
    pub encoding: DataEncoding,
}

impl EventContext {
    /// The context as the JSON text stored with the event.
    pub fn to_payload(&self) -> Payload {
        // A map of strings, booleans and integers always serializes.
        Payload::trusted(serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned()))
    }

    /// Reads a stored context back (None when the text is not one).
    pub fn from_payload(stored: &Payload) -> Option<Self> {
        serde_json::from_str(stored.as_str()).ok()
    }

    /// A string attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_its_stored_text() {
        let mut attributes = Map::new();
        attributes.insert("id".into(), "1".into());
        attributes.insert("retries".into(), 3.into());
        let context = EventContext {
            attributes,
            encoding: DataEncoding::Base64,
        };
        let stored = context.to_payload();
        assert_eq!(
            stored.as_str(),
            r#"{"attributes":{"id":"1","retries":3},"encoding":"base64"}"#
        );
        assert_eq!(EventContext::from_payload(&stored), Some(context));
        assert_eq!(EventContext::from_payload(&Payload::null()), None);
    }
}
