//! The natives the sandbox puts in place of jaq's own or adds: a ticking `range/3`, an `env`
//! that reveals nothing, and the budgeted `*`, `tostring` and `tojson` that check what they
//! are about to build against the evaluation's memory budget (see [`super::sandbox`]).

use jaq_core::native::{Fun, v};
use jaq_core::{Exn, ValT as _};
use jaq_json::Val;
use jaq_std::ValT as _;

use super::sandbox::{Budget, Sandbox};
use super::size;

/// Natives that replace jaq's own: a ticking `range/3`, an `env` that reveals nothing (a
/// transformation must not read the engine's environment, which may hold credentials), a
/// `tojson` within the memory budget, and the budgeted `*` and `tostring` that
/// [`super::jq`] routes the operators to ([`MUL`], [`TEXT`]).
pub fn natives() -> impl Iterator<Item = Fun<Sandbox>> {
    let funs: [jaq_core::native::Filter<jaq_core::RunPtr<Sandbox>>; 5] = [
        ("range", v(3), range),
        ("env", v(0), empty_env),
        ("tojson", v(0), tojson),
        (MUL, v(2), mul),
        (TEXT, v(0), text),
    ];
    funs.into_iter().map(jaq_core::native::run::<Sandbox>)
}

/// Names of jaq natives that [`natives`] replaces.
pub const REPLACED: [&str; 3] = ["range", "env", "tojson"];

/// The native that `l * r` is compiled to: `_sb_mul(l; r)`.
pub const MUL: &str = "_sb_mul";

/// The native that string interpolation (and so `tostring` and `@text`) formats with.
pub const TEXT: &str = "_sb_text";

/// `$l * $r`, refusing a string repetition larger than the memory left.
fn mul<'a>(mut cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    let r = cv.0.pop_var();
    let l = cv.0.pop_var();
    if let (Val::TStr(s) | Val::BStr(s), n @ Val::Num(_))
    | (n @ Val::Num(_), Val::TStr(s) | Val::BStr(s)) = (&l, &r)
        && *n > Val::from(0usize)
    {
        // A big integer repeats as often as jaq saturates it to: more than memory holds.
        let times = n.as_isize().unwrap_or(isize::MAX) as usize;
        cv.0.data().budget().reserve(s.len().saturating_mul(times));
    }
    jaq_core::native::bome(l * r)
}

/// `tostring`: a string as it is, anything else as its JSON text, within the memory left.
fn text<'a>(cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    let budget = cv.0.data().budget();
    jaq_core::native::bome(Ok(match cv.1 {
        s @ (Val::TStr(_) | Val::BStr(_)) => s.into_string(),
        v => Val::utf8_str(json_text(budget, &v)),
    }))
}

/// `tojson` within the memory left.
fn tojson<'a>(cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    let budget = cv.0.data().budget();
    jaq_core::native::bome(Ok(Val::utf8_str(json_text(budget, &cv.1))))
}

/// `v`'s JSON text as jaq writes it, leaving the evaluation once it outgrows the memory left
/// (a value of shared parts can stand for far more text than it takes memory).
fn json_text(budget: &Budget, v: &Val) -> Vec<u8> {
    let left = budget.memory_left();
    // Refused before writing when surely too long: writing is far slower than counting.
    if size::text_floor(v, left / 2) > left / 2 {
        budget.stop_memory();
    }
    let mut out = Capped {
        out: Vec::new(),
        left,
    };
    if jaq_json::write::write(&mut out, &Default::default(), 0, v).is_err() {
        budget.stop_memory();
    }
    out.out
}

/// A buffer that refuses to grow past `left` bytes.
struct Capped {
    out: Vec<u8>,
    left: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        // Twice what is written: the buffer's growth can double its room.
        if self.out.len().saturating_add(bytes.len()).saturating_mul(2) > self.left {
            return Err(std::io::ErrorKind::OutOfMemory.into());
        }
        self.out.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `env`: an empty object.
fn empty_env(_: jaq_core::Cv<'_, Sandbox>) -> jaq_core::ValXs<'_, Val> {
    jaq_core::native::bome(Ok(Val::obj(jaq_json::Map::default())))
}

/// `range($from; $to; $by)`, charging one step per item.
fn range<'a>(mut cv: jaq_core::Cv<'a, Sandbox>) -> jaq_core::ValXs<'a, Val> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let by = cv.0.pop_var();
    let to = cv.0.pop_var();
    let from = cv.0.pop_var();
    let budget = cv.0.data().budget();
    let direction = by.partial_cmp(&Val::from(0usize)).unwrap_or(Equal);
    let mut next: Option<Val> = Some(from);
    Box::new(std::iter::from_fn(move || {
        let x = next.take()?;
        let more = match direction {
            Greater => x < to,
            Less => x > to,
            Equal => x != to,
        };
        if !more {
            return None;
        }
        budget.tick();
        match x.clone() + by.clone() {
            Ok(following) => next = Some(following),
            Err(e) => return Some(Err(Exn::from(e))),
        }
        Some(Ok(x))
    }))
}
