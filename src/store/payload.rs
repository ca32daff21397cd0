//! An event's payload as the JSON text it arrived as: numbers, key order, escapes and the
//! whitespace between tokens are kept byte for byte (only whitespace around the document is
//! dropped), so a payload no transformation changes reaches subscribers exactly as sent. The
//! text is checked once, when it enters (valid JSON, nesting, an optional bound on values),
//! and shared without copies afterwards; whoever needs to look inside parses it on demand.
//!
//! Every payload is JSON today; a later content type (CloudEvents with non-JSON data) would
//! become a second variant of what [`Payload`] holds.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

/// Values and object keys a request body from a stranger may hold: its parsed form then costs
/// at most about this many × 100 bytes, whatever its shape.
pub const MAX_VALUES: usize = 100_000;

/// Arrays and objects nested deeper than this are refused (as `serde_json` refuses them, so
/// any reader of the text may rebuild it).
pub const MAX_DEPTH: usize = 127;

/// Why a text is not a payload.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// It is not one JSON document.
    #[error("payload is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// Arrays and objects nest deeper than [`MAX_DEPTH`].
    #[error("payload nests arrays and objects deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// It holds more values and object keys than allowed.
    #[error("payload holds more than {0} JSON values and keys")]
    TooManyValues(usize),
    /// A value could not be written as JSON.
    #[error("payload cannot be written as JSON")]
    Encode(#[source] serde_json::Error),
}

/// An event's JSON payload, kept as the text it was received as; cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload {
    json: Arc<str>,
}

impl Payload {
    /// Checks `raw` as one JSON document (surrounding whitespace allowed and dropped), nested
    /// at most [`MAX_DEPTH`] levels and holding at most `max_values` values and keys, and
    /// keeps its text as it is.
    pub fn parse(raw: &[u8], max_values: usize) -> Result<Self, PayloadError> {
        let text: &RawValue = serde_json::from_slice(raw).map_err(PayloadError::Json)?;
        check_shape(text.get(), max_values)?;
        Ok(Self {
            json: Arc::from(text.get()),
        })
    }

    /// [`Payload::parse`] for a member of a document `serde_json` has already read (so its
    /// text is known to be JSON): only nesting and values are checked.
    pub fn from_raw(raw: &RawValue, max_values: usize) -> Result<Self, PayloadError> {
        check_shape(raw.get(), max_values)?;
        Ok(Self {
            json: Arc::from(raw.get()),
        })
    }

    /// [`Payload::parse`] for owned text, with no bound on the number of values; reuses the
    /// text's buffer when it has no surrounding whitespace.
    pub fn from_json(text: String) -> Result<Self, PayloadError> {
        let text = RawValue::from_string(text).map_err(PayloadError::Json)?;
        check_shape(text.get(), usize::MAX)?;
        let text: Box<str> = text.into();
        Ok(Self {
            json: Arc::from(text),
        })
    }

    /// The JSON text of a value.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, PayloadError> {
        let text = serde_json::to_string(value).map_err(PayloadError::Encode)?;
        Ok(Self::trusted(text))
    }

    /// Text the caller knows to be one JSON document within [`MAX_DEPTH`] (what the store
    /// wrote, what a JSON writer produced), kept without a check.
    pub fn trusted(text: impl Into<Arc<str>>) -> Self {
        Self { json: text.into() }
    }

    /// `null`.
    pub fn null() -> Self {
        Self::trusted("null")
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.json
    }

    /// The JSON text as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.json.as_bytes()
    }

    /// The payload read into a `serde_json::Value` (numbers it cannot hold, such as `1e400`,
    /// fail; integers past 64 bits and long decimals are rounded to a float).
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.json)
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

/// Serialized as the JSON it holds (embedded as is by `serde_json`).
impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.json).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// Read from JSON as the text of the value found there.
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        check_shape(raw.get(), usize::MAX).map_err(serde::de::Error::custom)?;
        let text: Box<str> = raw.into();
        Ok(Self {
            json: Arc::from(text),
        })
    }
}

/// Checks the nesting and counts the values and keys of text already known to be JSON, in
/// one pass over its bytes without building anything.
fn check_shape(text: &str, max_values: usize) -> Result<(), PayloadError> {
    let (mut depth, mut values) = (0usize, 0usize);
    let (mut in_string, mut escaped, mut expect_value) = (false, false, true);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b',' | b':' => {
                expect_value = true;
                continue;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                expect_value = false;
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PayloadError::TooDeep);
                }
                values += 1;
                expect_value = true;
            }
            b'"' => {
                in_string = true;
                values += 1;
                expect_value = false;
            }
            // The first byte of a number or literal.
            _ if expect_value => {
                values += 1;
                expect_value = false;
            }
            _ => {}
        }
        if values > max_values {
            return Err(PayloadError::TooManyValues(max_values));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXACT: &str = r#"{"z": 18446744073709551617, "a": [-0, 1.000000000000000000001, 1e400, 0.1, 1E+2],
        "s": "\u00e9\"\\", "k": {"y": null, "b": true}}"#;

    #[test]
    fn keeps_the_text_as_sent() {
        let p = Payload::parse(format!("  \n{EXACT}\t ").as_bytes(), 100).unwrap();
        assert_eq!(p.as_str(), EXACT);
        assert_eq!(
            Payload::from_json(EXACT.to_owned()).unwrap().as_str(),
            EXACT
        );
        let big = format!("[{}]", "9".repeat(300));
        assert_eq!(Payload::parse(big.as_bytes(), 2).unwrap().as_str(), big);
    }

    #[test]
    fn refuses_what_is_not_json_with_an_error() {
        for bad in [
            &b""[..],
            b"{",
            b"[1,]",
            b"1 2",
            b"NaN",
            b"01",
            b"{\"a\" 1}",
            b"\"\xff\"",
            b"# c\n1",
            b"+1",
            b"\"\x01\"",
        ] {
            let e = Payload::parse(bad, usize::MAX).unwrap_err();
            assert!(matches!(e, PayloadError::Json(_)), "{bad:?}: {e:?}");
            assert_eq!(e.to_string(), "payload is not valid JSON");
        }
        assert!(Payload::from_json("[1,".into()).is_err());
        let member: std::collections::HashMap<String, &RawValue> =
            serde_json::from_str(r#"{"data": [[[1e400]]] }"#).unwrap();
        assert_eq!(
            Payload::from_raw(member["data"], 4).unwrap().as_str(),
            "[[[1e400]]]"
        );
        assert!(Payload::from_raw(member["data"], 3).is_err());
    }

    #[test]
    fn bounds_nesting_and_values() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Payload::parse(ok.as_bytes(), usize::MAX).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(matches!(
            Payload::parse(deep.as_bytes(), usize::MAX),
            Err(PayloadError::TooDeep)
        ));
        // Brackets inside strings do not count.
        let quoted = format!("[\"{}\\\"[\"]", "[".repeat(500));
        assert!(Payload::parse(quoted.as_bytes(), 2).is_ok());
        // The object, two keys, two values.
        assert!(Payload::parse(br#"{"a": 1, "b": "x"}"#, 5).is_ok());
        assert!(matches!(
            Payload::parse(br#"{"a": 1, "b": "x"}"#, 4),
            Err(PayloadError::TooManyValues(4))
        ));
        let numbers = format!("[{}1]", "-1.5e3, ".repeat(99));
        assert!(Payload::parse(numbers.as_bytes(), 101).is_ok());
        assert!(Payload::parse(numbers.as_bytes(), 100).is_err());
    }

    #[test]
    fn serializes_as_the_json_it_holds() {
        let p = Payload::parse(br#"{"b": 1e400, "a": 1}"#, 10).unwrap();
        let wrapped = serde_json::to_string(&serde_json::json!({"x": 1})).unwrap();
        assert_eq!(wrapped, r#"{"x":1}"#);
        #[derive(Serialize, Deserialize)]
        struct Holder {
            data: Payload,
        }
        let text = serde_json::to_string(&Holder { data: p.clone() }).unwrap();
        assert_eq!(text, r#"{"data":{"b": 1e400, "a": 1}}"#);
        let back: Holder = serde_json::from_str(&text).unwrap();
        assert_eq!(back.data, p);
        assert_eq!(Payload::null().as_str(), "null");
        assert_eq!(
            Payload::from_value(&serde_json::json!({"z": 1, "a": [2]}))
                .unwrap()
                .as_str(),
            r#"{"z":1,"a":[2]}"#
        );
    }
}
