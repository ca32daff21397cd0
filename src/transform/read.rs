//! Reading JSON bytes straight into a jaq value, numbers exactly as written. It lexes with
//! hifijson and makes numbers as jaq-json's own reader (`jaq_json::read`) does: an integer
//! becomes a jaq integer (a big one when it needs to), any other number keeps its text
//! (`Num::Dec`), so `.`, `{a: .a}` or `.items[]` write back `18446744073709551617`, `1e400` or
//! `1.000000000000000000001` unchanged (and `-0`, kept as text too), while arithmetic reads
//! them as floats, as jq does. Unlike jaq-json's reader it takes strict JSON only (no `NaN`,
//! comments or byte strings), refuses nesting deeper than [`MAX_DEPTH`] instead of recursing
//! without bound, builds only what a [`Need`] asks for, and shares repeated object keys.

use std::borrow::Cow;
use std::fmt;

use hifijson::escape::Lex as _;
use hifijson::num::{Lex as _, LexWrite as _};
use hifijson::str::{LexAlloc as _, LexWrite as _};
use hifijson::token::{Expect, Lex as _};
use hifijson::{Read as _, SliceLexer, escape, num, str};
use jaq_json::{Map, Num, Rc, Val};

use super::quick::Need;

/// Arrays and objects nested deeper than this are refused (as `serde_json` refuses them).
pub const MAX_DEPTH: usize = 127;

/// The fields an object is first given room for: most payload objects have a few, and
/// growing a map two or three times costs more than the unused room.
const FIELDS_GUESS: usize = 8;

/// How many distinct object keys of one document are remembered for sharing.
const SHARED_KEYS: usize = 64;

/// Why a text was not read.
#[derive(Debug)]
pub struct ReadError {
    /// Bytes read before the error.
    offset: usize,
    /// What was wrong there.
    why: hifijson::Error,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.why {
            hifijson::Error::Depth => write!(
                f,
                "at byte {}: nested deeper than {MAX_DEPTH} levels",
                self.offset
            ),
            why => write!(f, "at byte {}: {why}", self.offset),
        }
    }
}

impl std::error::Error for ReadError {}

/// Parses one JSON document (surrounding whitespace allowed) into a jaq value.
pub fn parse_json(raw: &[u8]) -> Result<Val, ReadError> {
    parse_json_for(raw, &Need::All)
}

/// Parses one JSON document as [`parse_json`] does, but builds only what `need` asks for: a
/// field not needed is read (and checked) but left out of its object, and a value needed for
/// nothing becomes `null`. Every document that [`parse_json`] rejects is rejected too.
pub fn parse_json_for(raw: &[u8], need: &Need) -> Result<Val, ReadError> {
    let mut lexer = SliceLexer::new(raw);
    let mut reader = Reader {
        keys: Vec::with_capacity(16),
        depth: 0,
    };
    lexer
        .exactly_one(|l| l.ws_peek(), |next, l| reader.value(next, l, need))
        .map_err(|why| ReadError {
            offset: raw.len() - lexer.as_slice().len(),
            why,
        })
}

/// The state of one read: the keys met (their text, borrowed from the document unless it
/// holds escapes, and their value once met twice) and the current nesting.
struct Reader<'a> {
    keys: Vec<(Cow<'a, str>, Option<Val>)>,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// Reads the value starting with the peeked byte `next`; `null` when it is needed for
    /// nothing (it is checked all the same).
    fn value(
        &mut self,
        next: u8,
        lexer: &mut SliceLexer<'a>,
        need: &Need,
    ) -> Result<Val, hifijson::Error> {
        let build = !matches!(need, Need::Nothing);
        Ok(match next {
            b'n' | b't' | b'f' => match lexer.null_or_bool() {
                Some(Some(b)) if build => Val::Bool(b),
                Some(_) => Val::Null,
                None => Err(Expect::Value)?,
            },
            b'-' | b'0'..=b'9' if build => Val::Num(number(lexer)?),
            b'-' | b'0'..=b'9' => {
                lexer.num_ignore().validate()?;
                Val::Null
            }
            b'"' if build => Val::utf8_str(string(lexer.discarded())?),
            b'"' => {
                skip_string(lexer.discarded())?;
                Val::Null
            }
            b'[' => {
                self.enter()?;
                let each = need.element();
                let mut items = Vec::new();
                lexer.discarded().seq(
                    b']',
                    |l| l.ws_peek(),
                    |next, l| {
                        let item = self.value(next, l, each)?;
                        if build {
                            items.push(item);
                        }
                        Ok::<_, hifijson::Error>(())
                    },
                )?;
                self.depth -= 1;
                if build {
                    Val::Arr(items.into())
                } else {
                    Val::Null
                }
            }
            b'{' => {
                self.enter()?;
                let mut fields = Map::with_capacity_and_hasher(
                    if build { FIELDS_GUESS } else { 0 },
                    Default::default(),
                );
                lexer.discarded().seq(
                    b'}',
                    |l| l.ws_peek(),
                    |next, l| {
                        if next != b'"' {
                            return Err(Expect::String.into());
                        }
                        let key = if build {
                            Some(self.key(l.discarded())?)
                        } else {
                            skip_string(l.discarded())?;
                            None
                        };
                        l.expect(|l| l.ws_peek(), b':').ok_or(Expect::Colon)?;
                        let next = l.ws_peek().ok_or(Expect::Value)?;
                        match key {
                            Some(key) => match need.field(text(&key)) {
                                Some(need) => {
                                    let value = self.value(next, l, need)?;
                                    fields.insert(key, value);
                                }
                                None => drop(self.value(next, l, &Need::Nothing)?),
                            },
                            None => drop(self.value(next, l, &Need::Nothing)?),
                        }
                        Ok::<_, hifijson::Error>(())
                    },
                )?;
                self.depth -= 1;
                if build { Val::obj(fields) } else { Val::Null }
            }
            _ => Err(Expect::Value)?,
        })
    }

    /// One level deeper, refused past [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), hifijson::Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(hifijson::Error::Depth);
        }
        Ok(())
    }

    /// An object key (its opening quote read), shared with an equal key met before in the
    /// document when there is one. A key's text is looked up without copying it, and a value
    /// is kept for sharing only from its second occurrence on: cloning a fresh string value
    /// costs an allocation, so a key met once is never cloned.
    fn key(&mut self, lexer: &mut SliceLexer<'a>) -> Result<Val, hifijson::Error> {
        let text = match plain_string(lexer) {
            Some(text) => Cow::Borrowed(text),
            None => lexer.str_string().map_err(hifijson::Error::Str)?,
        };
        let fresh = |text: &str| Val::utf8_str(text.as_bytes().to_vec());
        match self.keys.iter_mut().find(|(k, _)| *k == text) {
            Some((_, Some(shared))) => Ok(shared.clone()),
            Some((k, slot @ None)) => Ok(slot.insert(fresh(k)).clone()),
            None => {
                let key = fresh(&text);
                if self.keys.len() < SHARED_KEYS {
                    self.keys.push((text, None));
                }
                Ok(key)
            }
        }
    }
}

/// The text of a key that [`Reader::key`] read.
fn text(key: &Val) -> &[u8] {
    match key {
        Val::TStr(bytes) => bytes,
        _ => &[],
    }
}

/// A number, as jaq-json reads one: integers as integers (big ones included), any other
/// number, and `-0`, as its text.
fn number(lexer: &mut SliceLexer<'_>) -> Result<Num, hifijson::Error> {
    let (text, parts) = lexer.num_string_with(num::Num::default()).validated()?;
    let as_text = || Num::Dec(Rc::new(text.to_owned()));
    Ok(if parts.is_int() && text != "-0" {
        Num::from_str_radix(text, 10).unwrap_or_else(as_text)
    } else {
        as_text()
    })
}

/// A string without escapes (its opening quote read), borrowed from the document, with the
/// lexer moved past its closing quote; `None`, the lexer untouched, for any other string
/// (escapes, control characters, invalid UTF-8, no end), which hifijson then reads or refuses.
/// Most payload strings are plain, and finding their end in one pass over the slice is
/// cheaper than hifijson's byte-at-a-time fold.
fn plain_string<'a>(lexer: &mut SliceLexer<'a>) -> Option<&'a str> {
    let rest = lexer.as_slice();
    let end = rest
        .iter()
        .position(|&c| matches!(c, b'"' | b'\\' | 0..=0x1F))?;
    if rest[end] != b'"' {
        return None;
    }
    let text = std::str::from_utf8(&rest[..end]).ok()?;
    *lexer = SliceLexer::new(&rest[end + 1..]);
    Some(text)
}

/// A string's bytes (its opening quote read), escapes decoded; UTF-8 is checked. The bytes
/// are allocated at their exact length: a `Bytes` made from a vector with spare room
/// allocates a second, shared header, and most payload strings are shorter than the room a
/// growing vector starts with.
fn string(lexer: &mut SliceLexer<'_>) -> Result<Vec<u8>, hifijson::Error> {
    if let Some(text) = plain_string(lexer) {
        return Ok(text.as_bytes().to_vec());
    }
    let text = lexer.str_string().map_err(hifijson::Error::Str)?;
    Ok(match text {
        Cow::Borrowed(text) => text.as_bytes().to_vec(),
        Cow::Owned(text) => text.into_bytes().into_boxed_slice().into_vec(),
    })
}

/// Checks a string (its opening quote read) as [`string`] does, keeping nothing.
fn skip_string(lexer: &mut SliceLexer<'_>) -> Result<(), hifijson::Error> {
    let on_string = |bytes: &mut &[u8], _: &mut ()| {
        std::str::from_utf8(bytes).map_err(str::Error::Utf8)?;
        Ok::<_, str::Error>(())
    };
    lexer
        .str_fold((), on_string, |lexer, ()| {
            let c = lexer.take_next().ok_or(escape::Error::Eof)?;
            lexer.escape(c).map_err(str::Error::Escape)?;
            Ok(())
        })
        .map_err(hifijson::Error::Str)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::transform::value::to_jaq;
    use crate::transform::write::write_json;

    fn written(v: &Val) -> String {
        String::from_utf8(write_json(v, 0, usize::MAX).unwrap().unwrap()).unwrap()
    }

    /// Whatever serde_json reads, this reads alike (numbers compared by value, key order
    /// too); what it rejects is rejected too, save numbers no float holds. A read of part of
    /// the document rejects every document the full read rejects.
    fn agrees(text: &str) {
        let direct = parse_json(text.as_bytes());
        let fields = Need::Fields(vec![("a".into(), Need::Nothing)]);
        for need in [Need::Nothing, fields, Need::Each(Box::new(Need::Nothing))] {
            let part = parse_json_for(text.as_bytes(), &need);
            assert_eq!(direct.is_ok(), part.is_ok(), "{text} {need:?}");
        }
        match (direct, serde_json::from_str::<Value>(text)) {
            (Ok(d), Ok(s)) => {
                assert_eq!(d, to_jaq(&s), "{text}");
                let keys = |v: &Val| match v {
                    Val::Obj(fields) => fields.keys().map(|k| k.to_string()).collect(),
                    _ => Vec::new(),
                };
                assert_eq!(keys(&d), keys(&to_jaq(&s)), "{text}");
            }
            (Err(_), Err(_)) => {}
            (d, s) => panic!("{text}: ours {d:?}, serde {s:?}"),
        }
    }

    #[test]
    fn agrees_with_serde_json() {
        for text in [
            "null",
            " true ",
            r#"{"a": 1, "b": [1, -2, 2.5, 1e3, -0.0, "x"], "c": {"d": null}}"#,
            r#""unicode \u00e9 \ud83d\ude00 \" \\ \n \u0000 é""#,
            "18446744073709551615",
            "9223372036854775807",
            "-9223372036854775809",
            "0.1",
            "1.50",
            "2.2250738585072014e-308",
            r#"{"k": 1, "j": 2, "k": 3}"#,
            r#"{"z": 1, "a": 2, "m": 3}"#,
            "[[[[[[[]]]]]]]",
            r#"[{"a": 1, "b\u0041": 2}, {"bA": 3, "a": 4}, {"a": {"a": 5}, "bA": 6}]"#,
            "",
            "{",
            r#"{"a" 1}"#,
            r#"{1: 2}"#,
            "[1,]",
            "1 2",
            "01",
            "+1",
            "1.",
            "NaN",
            "Infinity",
            "# comment\n1",
            r#""\x41""#,
            r#"b"x""#,
            "\"\u{1}\"",
            r#""\ud800""#,
        ] {
            agrees(text);
        }
        agrees(&("[".repeat(200) + &"]".repeat(200)));
        agrees(&("[".repeat(127) + &"]".repeat(127)));
        agrees(&("[".repeat(128) + &"]".repeat(128)));
        assert!(parse_json(&[b'"', 0xff, b'"']).is_err());
        assert!(parse_json_for(&[b'[', b'"', 0xff, b'"', b']'], &Need::Nothing).is_err());
    }

    #[test]
    fn numbers_are_kept_as_written() {
        let big = "9".repeat(300);
        for n in [
            "18446744073709551617",
            "-18446744073709551617",
            big.as_str(),
            "-0",
            "-0.0",
            "1.000000000000000000001",
            "1e400",
            "1E+2",
            "0.1",
            "2.50",
            "42",
        ] {
            let text = format!(r#"{{"n":{n},"a":[{n}]}}"#);
            assert_eq!(written(&parse_json(text.as_bytes()).unwrap()), text);
        }
    }

    #[test]
    fn errors_say_where() {
        let e = parse_json(br#"{"a": [1, }"#).unwrap_err();
        assert_eq!(e.to_string(), "at byte 10: value expected");
        let deep = "[".repeat(200);
        let e = parse_json(deep.as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "at byte 127: nested deeper than 127 levels");
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
        assert_eq!(written(&read), r#"{"a":{"y":[2]},"c":[{"j":null},3]}"#);
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
