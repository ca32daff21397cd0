//! Reading JSON into a `serde_json::Value` with a bound on how many values (and object keys)
//! it may hold, checked while it is read: a request body from a stranger then costs at most
//! about [`MAX_VALUES`] × 100 bytes of memory, whatever its shape (a `Value` takes 80 bytes,
//! an object field about 120, so a 1 MiB array of half a million numbers would take 94 MB).
//! Everything else is exactly `serde_json::from_slice::<Value>`: grammar, nesting limit,
//! numbers, duplicate keys and error messages.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Values and object keys one JSON document read by [`parse`] may hold.
pub const MAX_VALUES: usize = 100_000;

/// The key by which `serde_json` (built with `raw_value`) marks an object whose string value
/// is itself JSON text to be read in its place (as its own `Value` reader does).
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// Why a document was not read.
#[derive(Debug, thiserror::Error)]
pub enum BoundedError {
    /// It is not JSON.
    #[error("input is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// It holds more values than allowed.
    #[error("input holds more than {0} JSON values and keys")]
    TooManyValues(usize),
}

/// Reads one JSON document holding at most `max_values` values and keys.
pub fn parse(raw: &[u8], max_values: usize) -> Result<Value, BoundedError> {
    let left = Cell::new(max_values);
    let mut de = serde_json::Deserializer::from_slice(raw);
    let read = Seed { left: &left }
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value));
    match read {
        Ok(value) => Ok(value),
        Err(_) if left.get() == 0 => Err(BoundedError::TooManyValues(max_values)),
        Err(e) => Err(BoundedError::Json(e)),
    }
}

/// Builds a `Value`, charging one for each value and key.
#[derive(Clone, Copy)]
struct Seed<'c> {
    left: &'c Cell<usize>,
}

impl Seed<'_> {
    fn charge<E: de::Error>(self) -> Result<(), E> {
        match self.left.get() {
            0 => Err(E::custom("too many values")),
            n => {
                self.left.set(n - 1);
                Ok(())
            }
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::from(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::from(u))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        self.charge()?;
        Ok(serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.charge()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.charge()?;
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.is_empty() && key == RAW_VALUE_KEY {
                let text: String = map.next_value()?;
                let mut de = serde_json::Deserializer::from_str(&text);
                let value = self.deserialize(&mut de).map_err(de::Error::custom)?;
                de.end().map_err(de::Error::custom)?;
                return Ok(value);
            }
            self.charge()?;
            let value = map.next_value_seed(self)?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_as_serde_json_does() {
        for text in [
            "null",
            r#"{"a": [1, -2, 2.5, 1e3, "x", true, null], "b": {}, "a": 3}"#,
            "18446744073709551615",
            "1e400",
            "[1,]",
            "{",
            "1 2",
            r#"{"$serde_json::private::RawValue": "[1, {\"a\": 2}]"}"#,
            "\"\\ud83d\\ude00\"",
        ] {
            let ours = parse(text.as_bytes(), MAX_VALUES);
            match (ours, serde_json::from_str::<Value>(text)) {
                (Ok(o), Ok(s)) => {
                    assert_eq!(o, s, "{text}");
                    assert_eq!(o.to_string(), s.to_string(), "{text}");
                }
                (Err(BoundedError::Json(o)), Err(s)) => {
                    assert_eq!(o.to_string(), s.to_string(), "{text}");
                }
                (o, s) => panic!("{text}: ours {o:?}, serde {s:?}"),
            }
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(
            parse(deep.as_bytes(), MAX_VALUES),
            Err(BoundedError::Json(_))
        ));
    }

    #[test]
    fn stops_at_the_bound() {
        let numbers = format!("[{}1]", "1,".repeat(99));
        assert!(parse(numbers.as_bytes(), 101).is_ok());
        let e = parse(numbers.as_bytes(), 100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input holds more than 100 JSON values and keys"
        );
        // Keys count too: the object, two keys, two values.
        assert!(parse(br#"{"a": 1, "b": 2}"#, 5).is_ok());
        assert!(parse(br#"{"a": 1, "b": 2}"#, 4).is_err());
    }
}
