//! Reading JSON bytes straight into a jaq value, with exactly the grammar, number handling,
//! nesting limit and error messages of `serde_json::from_slice::<Value>` followed by
//! [`value::to_jaq`](super::value::to_jaq), but without building the `serde_json::Value`.

use std::cell::RefCell;
use std::fmt;

use jaq_json::{Map, Num, Val};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::quick::Need;

/// The key by which `serde_json` (built with `raw_value`, as this crate is) marks an object
/// whose string value is itself JSON text to be read in its place.
const RAW_VALUE_KEY: &str = "$serde_json::private::RawValue";

/// The fields an object is first given room for: most payload objects have a few, and
/// growing a map two or three times costs more than the unused room.
const FIELDS_GUESS: usize = 8;

/// How many distinct object keys of one document are remembered for sharing.
const SHARED_KEYS: usize = 64;

/// Keys met in a document: their text in the input, and once met twice, the value shared by
/// every later occurrence.
type Keys<'de> = RefCell<Vec<(&'de str, Option<Val>)>>;

/// Parses one JSON document (surrounding whitespace allowed) into a jaq value.
pub fn parse_json(raw: &[u8]) -> Result<Val, serde_json::Error> {
    parse_json_for(raw, &Need::All)
}

/// Parses one JSON document as [`parse_json`] does, but builds only what `need` asks for: a
/// field not needed is read (and checked) but left out of its object, and a value needed for
/// nothing becomes `null`. Every document that [`parse_json`] rejects is rejected too.
pub fn parse_json_for(raw: &[u8], need: &Need) -> Result<Val, serde_json::Error> {
    let keys = RefCell::new(Vec::with_capacity(16));
    let mut de = serde_json::Deserializer::from_slice(raw);
    let value = ToVal { keys: &keys, need }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds jaq values from any serde deserializer, as `serde_json::Value`'s visitor does.
/// An object key met a third time or more in the document (the same field of every item of
/// an array) shares one string instead of allocating its own.
#[derive(Clone, Copy)]
struct ToVal<'k, 'de> {
    keys: &'k Keys<'de>,
    /// What of this value is wanted.
    need: &'k Need,
}

impl<'k, 'de> ToVal<'k, 'de> {
    fn with(self, need: &'k Need) -> Self {
        Self { need, ..self }
    }
}

impl<'de> DeserializeSeed<'de> for ToVal<'_, 'de> {
    type Value = Val;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Val, D::Error> {
        match self.need {
            Need::Nothing => deserializer.deserialize_any(Skip).map(|()| Val::Null),
            _ => deserializer.deserialize_any(self),
        }
    }
}

/// Reads a value that is not needed: every check of a full read, nothing built.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some(first) = map.next_key::<std::borrow::Cow<'de, str>>()? else {
            return Ok(());
        };
        if first == RAW_VALUE_KEY {
            // Checked as the full read checks it: the text must be JSON.
            let text: String = map.next_value()?;
            return parse_json(text.as_bytes())
                .map(drop)
                .map_err(de::Error::custom);
        }
        map.next_value_seed(Skip)?;
        while map.next_key_seed(Skip)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for ToVal<'_, 'de> {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Val, E> {
        Ok(Val::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Val, E> {
        Ok(Val::Num(Num::from_integral(i)))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Val, E> {
        Ok(Val::Num(Num::from_integral(u)))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Val, E> {
        Ok(Val::Num(Num::Float(f)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Val, E> {
        Ok(Val::utf8_str(s.as_bytes().to_vec()))
    }

    fn visit_string<E>(self, s: String) -> Result<Val, E> {
        Ok(Val::utf8_str(s.into_bytes()))
    }

    fn visit_none<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Val, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_unit<E>(self) -> Result<Val, E> {
        Ok(Val::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let each = self.with(self.need.element());
        while let Some(item) = seq.next_element_seed(each)? {
            items.push(item);
        }
        Ok(Val::Arr(items.into()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
        let key = Key { keys: self.keys };
        let Some(first) = map.next_key_seed(key)? else {
            return Ok(Val::obj(Map::default()));
        };
        if matches!(&first, Val::TStr(k) if k.as_ref() == RAW_VALUE_KEY.as_bytes()) {
            let text: String = map.next_value()?;
            return parse_json(text.as_bytes()).map_err(de::Error::custom);
        }
        let mut fields = Map::with_capacity_and_hasher(FIELDS_GUESS, Default::default());
        let mut next = Some(first);
        while let Some(k) = next {
            match self.need.field(text(&k)) {
                Some(need) => {
                    let value = map.next_value_seed(self.with(need))?;
                    fields.insert(k, value);
                }
                None => map.next_value_seed(Skip)?,
            }
            next = map.next_key_seed(key)?;
        }
        Ok(Val::obj(fields))
    }
}

/// The text of a key that [`Key`] read.
fn text(key: &Val) -> &[u8] {
    match key {
        Val::TStr(bytes) => bytes,
        _ => &[],
    }
}

/// An object key, shared with an equal key met before in the document when there is one.
#[derive(Clone, Copy)]
struct Key<'k, 'de> {
    keys: &'k Keys<'de>,
}

impl<'de> DeserializeSeed<'de> for Key<'_, 'de> {
    type Value = Val;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Val, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, 'de> {
    type Value = Val;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    /// A key with escapes (decoded into a scratch buffer): not shared.
    fn visit_str<E>(self, s: &str) -> Result<Val, E> {
        Ok(Val::utf8_str(s.as_bytes().to_vec()))
    }

    /// A key as written in the input: shared from its second occurrence on.
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Val, E> {
        let mut keys = self.keys.borrow_mut();
        let fresh = || Val::utf8_str(s.as_bytes().to_vec());
        match keys.iter_mut().find(|(text, _)| *text == s) {
            Some((_, Some(shared))) => Ok(shared.clone()),
            Some((_, slot)) => Ok(slot.insert(fresh()).clone()),
            None => {
                if keys.len() < SHARED_KEYS {
                    keys.push((s, None));
                }
                Ok(fresh())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::transform::value::to_jaq;

    /// The direct parse and the serde path agree, value for value and error for error; a
    /// read of part of the document rejects every document the full read rejects, alike.
    fn agrees(text: &str) {
        let direct = parse_json(text.as_bytes());
        let fields = Need::Fields(vec![("a".into(), Need::Nothing)]);
        for need in [Need::Nothing, fields, Need::Each(Box::new(Need::Nothing))] {
            let part = parse_json_for(text.as_bytes(), &need);
            match (&direct, part) {
                (Ok(_), Ok(_)) => {}
                (Err(d), Err(p)) => assert_eq!(d.to_string(), p.to_string(), "{text} {need:?}"),
                (d, p) => panic!("{text} {need:?}: full {d:?}, part {p:?}"),
            }
        }
        let serde = serde_json::from_str::<Value>(text);
        match (direct, serde) {
            (Ok(d), Ok(s)) => {
                assert_eq!(d, to_jaq(&s), "{text}");
                // Key order too (object equality ignores it).
                let written = crate::transform::write::write_json(&d, 0, usize::MAX).unwrap();
                assert_eq!(
                    written,
                    crate::transform::write::write_json(&to_jaq(&s), 0, usize::MAX).unwrap()
                );
            }
            (Err(d), Err(s)) => assert_eq!(d.to_string(), s.to_string(), "{text}"),
            (d, s) => panic!("{text}: direct {d:?}, serde {s:?}"),
        }
    }

    #[test]
    fn agrees_with_the_serde_path() {
        for text in [
            "null",
            " true ",
            r#"{"a": 1, "b": [1, -2, 2.5, 1e3, -0.0, "x"], "c": {"d": null}}"#,
            r#""unicode \u00e9 \ud83d\ude00 \" \\ \n \u0000 é""#,
            "18446744073709551615",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "0.1",
            "1.50",
            "1e308",
            "2.2250738585072014e-308",
            r#"{"k": 1, "j": 2, "k": 3}"#,
            r#"{"z": 1, "a": 2, "m": 3}"#,
            "[[[[[[[]]]]]]]",
            r#"[{"a": 1, "b\u0041": 2}, {"bA": 3, "a": 4}, {"a": {"a": 5}, "bA": 6}]"#,
            r#"{"$serde_json::private::RawValue": "[1, {\"a\": 2}]"}"#,
            r#"{"$serde_json::private::RawValue": "[1,"}"#,
            "",
            "{",
            r#"{"a" 1}"#,
            "[1,]",
            "1 2",
            "NaN",
            "1e400",
            "# comment\n1",
            r#""\x41""#,
            "\"\u{1}\"",
            "\"\u{ff}\"",
        ] {
            agrees(text);
        }
        agrees(&("[".repeat(200) + &"]".repeat(200)));
        agrees(&("[".repeat(127) + &"]".repeat(127)));
        assert!(parse_json(&[b'"', 0xff, b'"']).is_err());
    }

    #[test]
    fn a_part_read_builds_only_the_fields_needed() {
        let text = br#"{"a": {"x": 1, "y": [2]}, "b": "skipped", "c": [{"k": 1, "j": 2}, 3]}"#;
        let fields = |f: &[(&str, Need)]| {
            Need::Fields(f.iter().map(|(k, n)| (k.to_string(), n.clone())).collect())
        };
        let need = fields(&[
            ("a", fields(&[("y", Need::All)])),
            ("c", Need::Each(Box::new(fields(&[("j", Need::Nothing)])))),
        ]);
        let read = parse_json_for(text, &need).unwrap();
        let want = r#"{"a":{"y":[2]},"c":[{"j":null},3]}"#;
        let written = crate::transform::write::write_json(&read, 0, usize::MAX).unwrap();
        assert_eq!(String::from_utf8(written.unwrap()).unwrap(), want);
        assert_eq!(parse_json_for(text, &Need::Nothing).unwrap(), Val::Null);
        assert_eq!(
            parse_json_for(text, &Need::All).unwrap(),
            parse_json(text).unwrap()
        );
    }

    #[test]
    fn key_order_is_kept_and_duplicates_keep_the_first_place() {
        let v = parse_json(br#"{"z": 1, "a": 2, "z": 3}"#).unwrap();
        let Val::Obj(fields) = v else {
            panic!("not an object")
        };
        let keys: Vec<String> = fields.keys().map(|k| k.to_string()).collect();
        assert_eq!(keys, [r#""z""#, r#""a""#]);
        assert_eq!(fields.values().next(), Some(&Val::from(3usize)));
    }
}
