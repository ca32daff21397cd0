//! Conversion between `serde_json` values (the engine's) and jaq values (the program's).

use jaq_json::{Map, Num, Val};
use serde_json::{Number, Value};

/// Values nested deeper than this are refused on the way out (as `serde_json` does on input).
pub const MAX_DEPTH: usize = 128;

/// Floats below this magnitude are exact integers.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// A jaq value that has no JSON form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ToJsonError {
    /// An object key that is not a string (jaq allows them, JSON does not).
    #[error("object key {0} is not a string")]
    NonStringKey(String),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("value is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// Converts a JSON value into a jaq value.
pub fn to_jaq(value: &Value) -> Val {
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(if let Some(i) = n.as_i64() {
            Num::from_integral(i)
        } else if let Some(u) = n.as_u64() {
            Num::from_integral(u)
        } else {
            Num::Float(n.as_f64().unwrap_or(f64::NAN))
        }),
        Value::String(s) => Val::utf8_str(s.clone().into_bytes()),
        Value::Array(items) => items.iter().map(to_jaq).collect(),
        Value::Object(fields) => Val::obj(
            fields
                .iter()
                .map(|(k, v)| (Val::utf8_str(k.clone().into_bytes()), to_jaq(v)))
                .collect::<Map>(),
        ),
    }
}

/// Converts a jaq value into JSON; non-finite numbers become null, as in jq.
pub fn to_json(value: &Val) -> Result<Value, ToJsonError> {
    convert(value, 0)
}

fn convert(value: &Val, depth: usize) -> Result<Value, ToJsonError> {
    if depth > MAX_DEPTH {
        return Err(ToJsonError::TooDeep);
    }
    Ok(match value {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => number(n),
        Val::TStr(bytes) | Val::BStr(bytes) => Value::String(text(bytes)),
        Val::Arr(items) => Value::Array(
            items
                .iter()
                .map(|v| convert(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Val::Obj(fields) => {
            let mut out = serde_json::Map::with_capacity(fields.len());
            for (k, v) in fields.iter() {
                let key = match k {
                    Val::TStr(bytes) | Val::BStr(bytes) => text(bytes),
                    other => return Err(ToJsonError::NonStringKey(other.to_string())),
                };
                out.insert(key, convert(v, depth + 1)?);
            }
            Value::Object(out)
        }
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The JSON number (or null) a jaq number becomes.
pub fn number(n: &Num) -> Value {
    match n {
        Num::Int(i) => Value::Number(Number::from(*i as i64)),
        // Integral results of float arithmetic (`1200 / 100`) print as integers, as in jq.
        Num::Float(f) if f.fract() == 0.0 && f.abs() < MAX_SAFE_INTEGER => {
            Value::Number(Number::from(*f as i64))
        }
        Num::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        // Big integers and decimal literals: their JSON text, read back as a number.
        other => {
            let text = Val::Num(other.clone()).to_string();
            serde_json::from_str::<Number>(&text).map_or(Value::Null, Value::Number)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json() {
        let v = json!({"a": [1, -2, 2.5, "x", null, true], "b": {"c": 18446744073709551615u64}});
        assert_eq!(to_json(&to_jaq(&v)).unwrap(), v);
    }

    #[test]
    fn integral_floats_become_integers() {
        assert_eq!(to_json(&Val::Num(Num::Float(12.0))).unwrap(), json!(12));
        assert_eq!(to_json(&Val::Num(Num::Float(12.5))).unwrap(), json!(12.5));
        assert_eq!(
            to_json(&Val::Num(Num::Float(f64::NAN))).unwrap(),
            json!(null)
        );
    }

    #[test]
    fn refuses_deep_nesting() {
        let mut v = json!(1);
        for _ in 0..200 {
            v = json!([v]);
        }
        assert_eq!(to_json(&to_jaq(&v)), Err(ToJsonError::TooDeep));
    }
}
