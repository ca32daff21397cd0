//! Lower bounds of a jaq value's JSON length, cheap to count: what the output cap and the
//! sandbox's serialization check use before anything is written.

use std::collections::HashMap;

use jaq_json::{Rc, Val};

/// A lower bound of `value`'s JSON length (as [`super::write::check_size`] counts it), capped at
/// `limit + 1`, in time proportional to its distinct parts: a part that several parents
/// share (`[., .]`) is walked once, so a value standing for 2^40 leaves costs 40 visits.
pub fn text_floor(value: &Val, limit: usize) -> usize {
    let mut seen = HashMap::new();
    floor_of(value, limit, &mut seen)
}

fn floor_of(v: &Val, limit: usize, seen: &mut HashMap<usize, usize>) -> usize {
    let own = floor_bytes(v);
    let (key, shared) = match v {
        Val::Arr(a) => (Rc::as_ptr(a) as *const () as usize, Rc::strong_count(a) > 1),
        Val::Obj(o) => (Rc::as_ptr(o) as *const () as usize, Rc::strong_count(o) > 1),
        _ => return own,
    };
    if shared && let Some(&floor) = seen.get(&key) {
        return floor;
    }
    let mut total = own;
    let mut add = |part: &Val| {
        total = total.saturating_add(floor_of(part, limit, seen));
        total <= limit
    };
    let _ = match v {
        Val::Arr(items) => items.iter().all(&mut add),
        Val::Obj(fields) => fields.iter().all(|(k, v)| add(k) && add(v)),
        _ => true,
    };
    let total = total.min(limit.saturating_add(1));
    if shared {
        seen.insert(key, total);
    }
    total
}

/// The fewest bytes `v`'s JSON takes besides its elements' own: a literal, the text and
/// its quotes, or the brackets and separators.
#[inline]
pub fn floor_bytes(v: &Val) -> usize {
    match v {
        Val::Null | Val::Bool(_) => 4,
        Val::Num(_) => 1,
        Val::TStr(b) | Val::BStr(b) => b.len() + 2,
        Val::Arr(items) => items.len() + 1,
        Val::Obj(fields) => fields.len() + 1,
    }
}
