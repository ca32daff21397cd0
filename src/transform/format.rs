//! Payload formats: reading JSON, urlencoded forms and text; writing JSON and forms.

use serde_json::{Map, Value};

use crate::api::{InputFormat, OutputFormat};

/// A payload that cannot be read or written in its format.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The input is not JSON.
    #[error("input is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// The JSON input does not read (jq's reader, which keeps numbers as written).
    #[error("input is not valid JSON")]
    Read(#[source] super::read::ReadError),
    /// The JSON input nests arrays and objects deeper than its reader allows.
    #[error("input nests arrays and objects deeper than {0} levels")]
    TooDeep(usize),
    /// The JSON input holds more values than a request may.
    #[error("input holds more than {0} JSON values and keys")]
    TooManyValues(usize),
    /// The output cannot be written as JSON.
    #[error("output cannot be written as JSON")]
    Encode(#[source] serde_json::Error),
    /// Text input is not UTF-8.
    #[error("input is not valid UTF-8 text")]
    Utf8(#[source] std::str::Utf8Error),
    /// A form field value cannot be written as a form.
    #[error("cannot encode field {field:?} as a form value: {why}")]
    FormField {
        /// The offending field.
        field: String,
        /// What it holds instead of a scalar or an array of scalars.
        why: &'static str,
    },
    /// Form output must be an object.
    #[error("form output must be a flat object, got {0}")]
    FormNotObject(&'static str),
}

/// Reads a raw payload as the program's input.
pub fn decode(format: InputFormat, raw: &[u8]) -> Result<Value, FormatError> {
    match format {
        InputFormat::Json => serde_json::from_slice(raw).map_err(FormatError::Json),
        InputFormat::Text => std::str::from_utf8(raw)
            .map(|s| Value::String(s.to_owned()))
            .map_err(FormatError::Utf8),
        InputFormat::Form => Ok(decode_form(raw)),
    }
}

/// Reads `application/x-www-form-urlencoded`: one field per key, repeated keys become arrays
/// (in order of appearance).
pub fn decode_form(raw: &[u8]) -> Value {
    let mut fields = Map::new();
    for (key, value) in form_urlencoded::parse(raw) {
        let value = Value::String(value.into_owned());
        match fields.get_mut(key.as_ref()) {
            None => {
                fields.insert(key.into_owned(), value);
            }
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    Value::Object(fields)
}

/// Writes the program's output.
pub fn encode(format: OutputFormat, value: &Value) -> Result<Vec<u8>, FormatError> {
    match format {
        OutputFormat::Json => serde_json::to_vec(value).map_err(FormatError::Encode),
        OutputFormat::Form => encode_form(value).map(String::into_bytes),
    }
}

/// Writes a flat object as a form: arrays become repeated keys; null fields are left out;
/// nested objects are an error.
pub fn encode_form(value: &Value) -> Result<String, FormatError> {
    let Value::Object(fields) = value else {
        return Err(FormatError::FormNotObject(type_name(value)));
    };
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        match value {
            Value::Array(items) => {
                for item in items {
                    out.append_pair(key, &scalar(key, item, "an array nested in an array")?);
                }
            }
            Value::Null => {}
            other => {
                out.append_pair(key, &scalar(key, other, "a nested object")?);
            }
        }
    }
    Ok(out.finish())
}

fn scalar(key: &str, value: &Value, nested: &'static str) -> Result<String, FormatError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(FormatError::FormField {
            field: key.to_owned(),
            why: if value.is_object() {
                "a nested object"
            } else {
                nested
            },
        }),
    }
}

/// The JSON type of a value, for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn form_repeated_keys_become_arrays() {
        let v = decode(InputFormat::Form, b"a=1&tag=x&b=hello+world&tag=y&tag=z%26").unwrap();
        assert_eq!(
            v,
            json!({"a": "1", "tag": ["x", "y", "z&"], "b": "hello world"})
        );
    }

    #[test]
    fn text_is_one_string() {
        let v = decode(InputFormat::Text, "line 1\nzwei €".as_bytes()).unwrap();
        assert_eq!(v, json!("line 1\nzwei €"));
        assert!(matches!(
            decode(InputFormat::Text, &[0xff, 0xfe]),
            Err(FormatError::Utf8(_))
        ));
    }

    #[test]
    fn json_errors_are_reported() {
        let e = decode(InputFormat::Json, b"{\"a\":").unwrap_err();
        assert!(e.to_string().starts_with("input is not valid JSON"), "{e}");
    }

    #[test]
    fn form_output_repeats_array_keys() {
        let out = encode(
            OutputFormat::Form,
            &json!({"name": "Ada L", "n": 3, "ok": true, "tag": ["a", "b&c"], "skip": null}),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "name=Ada+L&n=3&ok=true&tag=a&tag=b%26c"
        );
    }

    #[test]
    fn form_output_refuses_nested_objects() {
        let e = encode_form(&json!({"a": {"b": 1}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot encode field \"a\" as a form value: a nested object"
        );
        let e = encode_form(&json!({"a": [[1]]})).unwrap_err();
        assert!(e.to_string().contains("an array nested in an array"), "{e}");
        let e = encode_form(&json!([1])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "form output must be a flat object, got an array"
        );
    }

    #[test]
    fn form_round_trip() {
        let v = json!({"a": "1", "tag": ["x", "y"]});
        let encoded = encode_form(&v).unwrap();
        assert_eq!(decode_form(encoded.as_bytes()), v);
    }
}
