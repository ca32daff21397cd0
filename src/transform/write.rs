//! Writing a jaq value as JSON bytes directly: byte for byte what `serde_json::to_vec` writes
//! for [`value::to_json`]'s result, without building the `serde_json::Value` in between, save
//! for numbers kept as written (big integers, and decimals as read: `Num::Dec`), which are
//! written exactly, where the `Value` would round them to a float.

use std::cell::Cell;

use jaq_json::{Num, Val};
use serde::ser::{Error as _, Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

use super::sandbox::Exceeded;
use super::size::floor_bytes;
use super::value::{self, MAX_DEPTH};

/// Writes `value` as compact JSON, exactly as `serde_json::to_vec(&value::to_json(value)?)`
/// would (but big integers and decimals as written are written exactly), and such that
/// reading it back gives that JSON value. `Ok(None)` when the value
/// needs the general path: a key that is not UTF-8 text (its lossy form could collide with
/// another key), or nesting deeper than `serde_json` reads back. Writing stops with an error
/// once the JSON passes `limit` bytes. `capacity` is a guess of the size, to spare the
/// buffer's growth.
pub fn write_json(value: &Val, capacity: usize, limit: usize) -> Result<Option<Vec<u8>>, Exceeded> {
    let mut out = Vec::with_capacity(capacity.min(limit));
    let left = Cell::new(limit);
    let view = View {
        value,
        depth: 0,
        left: &left,
    };
    match serde_json::to_writer(&mut out, &view) {
        Ok(()) if out.len() <= limit => Ok(Some(out)),
        Ok(()) => Err(Exceeded::Output(limit)),
        Err(_) if left.get() == 0 => Err(Exceeded::Output(limit)),
        Err(_) => Ok(None),
    }
}

/// Fails when `value`'s JSON is surely longer than `limit` bytes, before anything builds it
/// (a value of shared parts can stand for far more JSON than it takes memory). It counts a
/// lower bound of the length, in at most about `limit` steps, and returns it.
pub fn check_size(value: &Val, limit: usize) -> Result<usize, Exceeded> {
    let mut size = 0usize;
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        size += floor_bytes(v);
        match v {
            Val::Arr(items) => pending.extend(items.iter()),
            Val::Obj(fields) => pending.extend(fields.iter().flat_map(|(k, v)| [k, v])),
            _ => {}
        }
        if size > limit {
            return Err(Exceeded::Output(limit));
        }
    }
    Ok(size)
}

/// How many times longer than [`check_size`]'s lower bound a value's JSON can be (a number
/// counted as one byte takes up to 24; an escaped character six).
pub const FLOOR_FACTOR: usize = 24;

/// Whether `value`'s compact JSON is at most `limit` bytes long, counted without keeping it.
pub fn json_fits(value: &serde_json::Value, limit: usize) -> bool {
    struct Count(usize, usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            if self.0 > self.1 {
                return Err(std::io::ErrorKind::FileTooLarge.into());
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Count(0, limit), value).is_ok()
}

/// A number's text, to be written as it is, when it is a JSON number (a decimal as read from
/// JSON always is; one from elsewhere that is not is written as a float).
fn exact(text: &str) -> Option<&RawValue> {
    let starts = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    starts.then(|| serde_json::from_str(text).ok()).flatten()
}

/// A value seen as `serde_json` would see its [`value::to_json`] conversion.
struct View<'a> {
    value: &'a Val,
    depth: usize,
    /// The bytes still allowed, charged as [`check_size`] counts them (values and keys), so
    /// a value of shared parts stops after about `limit` bytes instead of writing far more
    /// than it takes memory. Zero once exhausted.
    left: &'a Cell<usize>,
}

impl<'a> View<'a> {
    fn child(&self, value: &'a Val) -> View<'a> {
        View {
            value,
            depth: self.depth + 1,
            left: self.left,
        }
    }

    /// Takes `bytes` from the allowance; fails once it is exhausted.
    fn take<E: serde::ser::Error>(&self, bytes: usize) -> Result<(), E> {
        match self.left.get().checked_sub(bytes) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.left.set(0);
                Err(E::custom("output budget exceeded"))
            }
        }
    }
}

impl Serialize for View<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.take(floor_bytes(self.value))?;
        match self.value {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::Num(Num::Int(i)) => s.serialize_i64(*i as i64),
            Val::Num(n @ Num::BigInt(_)) => match exact(&n.to_string()) {
                Some(raw) => raw.serialize(s),
                None => value::number(n).serialize(s),
            },
            Val::Num(n @ Num::Dec(text)) => match exact(text) {
                Some(raw) => raw.serialize(s),
                None => value::number(n).serialize(s),
            },
            Val::Num(n) => value::number(n).serialize(s),
            Val::TStr(bytes) | Val::BStr(bytes) => s.serialize_str(&String::from_utf8_lossy(bytes)),
            // serde_json reads back fewer than MAX_DEPTH nested arrays and objects.
            Val::Arr(_) | Val::Obj(_) if self.depth + 1 >= MAX_DEPTH => {
                Err(S::Error::custom("too deep"))
            }
            Val::Arr(items) => s.collect_seq(items.iter().map(|v| self.child(v))),
            Val::Obj(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields.iter() {
                    let key = match k {
                        Val::TStr(bytes) => std::str::from_utf8(bytes).ok(),
                        _ => None,
                    };
                    let Some(key) = key else {
                        return Err(S::Error::custom("key is not text"));
                    };
                    self.take(floor_bytes(k))?;
                    map.serialize_entry(key, &self.child(v))?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jaq_json::Map;
    use serde_json::{Value, json};

    use super::*;
    use crate::transform::value::{to_jaq, to_json};

    /// When direct writing applies, its bytes are the serde path's and read back as the
    /// serde path's value.
    fn agrees(v: &Val) -> bool {
        let Some(written) = write_json(v, 0, usize::MAX).unwrap() else {
            return false;
        };
        let json = to_json(v).expect("written values convert");
        assert_eq!(written, serde_json::to_vec(&json).unwrap(), "{v:?}");
        let read: Value = serde_json::from_slice(&written).expect("reads back");
        assert_eq!(serde_json::to_vec(&read).unwrap(), written, "{v:?}");
        assert_eq!(read, json, "{v:?}");
        true
    }

    fn text(s: &str) -> Val {
        Val::utf8_str(s.as_bytes().to_vec())
    }

    #[test]
    fn agrees_with_the_serde_path() {
        let doc = json!({
            "z": 1, "a": [1, -2, 2.5, 0.1, 1e300, -0.0, 18446744073709551615u64, i64::MIN],
            "s": "quote \" backslash \\ nl \n tab \t nul \u{0} bell \u{7} del \u{7f} é 😀",
            "nested": {"b": {"c": [null, true, false, {}, []]}},
        });
        assert!(agrees(&to_jaq(&doc)));
        for n in [
            Num::Float(12.0),
            Num::Float(-3.0),
            Num::Float(1e16),
            Num::Float(9_007_199_254_740_993.0),
            Num::Float(f64::NAN),
            Num::Float(f64::INFINITY),
            Num::Float(1.0 / 3.0),
            Num::from_dec_str("1.50"),
            Num::from_dec_str("1e1000"),
        ] {
            assert!(agrees(&Val::Num(n)));
        }
        assert!(agrees(&Val::byte_str(vec![b'a', 0xff, b'"'])));
        assert!(agrees(&Val::utf8_str(vec![b'a', 0xff])));
    }

    #[test]
    fn numbers_as_written_are_written_exactly() {
        let big = "1".repeat(300);
        for text in [
            "18446744073709551617",
            "-123456789012345678901234567890",
            big.as_str(),
            "-0",
            "1.000000000000000000001",
            "1e400",
            "1.50",
        ] {
            let n = match Num::from_str_radix(text, 10) {
                Some(n) if text != "-0" => n,
                _ => Num::Dec(jaq_json::Rc::new(text.to_owned())),
            };
            let written = write_json(&Val::Num(n), 0, usize::MAX).unwrap().unwrap();
            assert_eq!(String::from_utf8(written).unwrap(), text);
        }
        // A decimal text that is not JSON is written as the float it stands for.
        let odd = Val::Num(Num::Dec(jaq_json::Rc::new("1.5x".to_owned())));
        assert!(write_json(&odd, 0, usize::MAX).is_ok());
    }

    #[test]
    fn odd_keys_and_deep_values_take_the_general_path() {
        let mut fields = Map::default();
        fields.insert(text("a"), Val::from(1usize));
        fields.insert(Val::byte_str(b"b".to_vec()), Val::from(2usize));
        assert!(!agrees(&Val::obj(fields)));
        let mut fields = Map::default();
        fields.insert(Val::from(1usize), Val::Null);
        assert!(!agrees(&Val::obj(fields)));
        let mut fields = Map::default();
        fields.insert(Val::utf8_str(vec![0xff]), Val::Null);
        assert!(!agrees(&Val::obj(fields)));
        // Up to the depth serde_json reads back, and no further.
        let mut deep = Val::Arr(Vec::new().into());
        for levels in 1..MAX_DEPTH + 5 {
            assert_eq!(agrees(&deep), levels < MAX_DEPTH, "{levels} levels");
            deep = Val::Arr(vec![deep].into());
        }
    }

    #[test]
    fn output_past_the_limit_is_refused_before_it_is_built() {
        // 2^40 leaves that share their parts: a few hundred bytes of memory.
        let mut shared = Val::Null;
        for _ in 0..40 {
            shared = Val::Arr(vec![shared.clone(), shared].into());
        }
        assert_eq!(check_size(&shared, 1 << 20), Err(Exceeded::Output(1 << 20)));
        assert_eq!(
            write_json(&shared, 0, 1 << 20),
            Err(Exceeded::Output(1 << 20))
        );
        let small = to_jaq(&json!({"a": [1, "xy", null]}));
        let written = write_json(&small, 0, 64).unwrap().unwrap();
        assert_eq!(written, br#"{"a":[1,"xy",null]}"#);
        assert!(check_size(&small, written.len()).is_ok());
        assert_eq!(
            write_json(&small, 0, written.len()).unwrap(),
            Some(written.clone())
        );
        assert!(write_json(&small, 0, written.len() - 1).is_err());
    }
}
