//! Evaluating a quick program: each node as jaq evaluates the same term.

use std::cell::Cell;

use jaq_core::ValT as _;
use jaq_core::ops::Math;
use jaq_core::path::Opt;
use jaq_json::{Map, Val};

use super::super::size;
use super::{Builtin0, Builtin1, Const, Node, Step};

/// The largest string the quick evaluator builds by repetition or serialization; beyond it,
/// jaq runs the program within its memory budget.
const MAX_BUILT_BYTES: usize = 1024 * 1024;

/// The quick evaluator gives up: jaq must run the program (an error to raise, a product of
/// several values, a value outside the quick core's reach, or the step cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bail;

/// Where an output goes.
type Out<'o> = &'o mut dyn FnMut(Val) -> Result<(), Bail>;

/// One evaluation: `$meta` and the steps left.
pub(super) struct Run<'m> {
    meta: &'m Val,
    steps_left: Cell<u64>,
}

impl<'m> Run<'m> {
    pub(super) fn new(meta: &'m Val, max_steps: u64) -> Self {
        Self {
            meta,
            steps_left: Cell::new(max_steps),
        }
    }

    fn tick(&self) -> Result<(), Bail> {
        let left = self.steps_left.get();
        if left == 0 {
            return Err(Bail);
        }
        self.steps_left.set(left - 1);
        Ok(())
    }

    /// Hands each output of `n` on `x` to `out`.
    pub(super) fn each(&self, n: &Node, x: &Val, out: Out<'_>) -> Result<(), Bail> {
        self.tick()?;
        match n {
            Node::Pipe(l, r) => self.each(l, x, &mut |y| self.each(r, &y, out)),
            Node::Comma(l, r) => {
                self.each(l, x, out)?;
                self.each(r, x, out)
            }
            Node::Path(f, steps) => {
                let Some(computed) = self.computed(steps, x)? else {
                    return Ok(());
                };
                self.each(f, x, &mut |y| self.walk(y, steps, &computed, out))
            }
            Node::Alt(l, r) => {
                let mut truthy = Vec::new();
                self.each(l, x, &mut |y| {
                    if y.as_bool() {
                        truthy.push(y);
                    }
                    Ok(())
                })?;
                if truthy.is_empty() {
                    return self.each(r, x, out);
                }
                truthy.into_iter().try_for_each(out)
            }
            Node::If(c, t, e) => self.each(c, x, &mut |c| {
                self.each(if c.as_bool() { t } else { e }, x, out)
            }),
            Node::Call0(Builtin0::Empty) => Ok(()),
            Node::Call1(Builtin1::Select, f) => self.each(f, x, &mut |c| match c.as_bool() {
                true => out(x.clone()),
                false => Ok(()),
            }),
            n => match self.single(n, x)? {
                Some(v) => out(v),
                None => Ok(()),
            },
        }
    }

    /// The output of `n` on `x` when it has at most one; [`Bail`] when it has more (jq would
    /// form a product of them, which is left to jaq).
    fn single(&self, n: &Node, x: &Val) -> Result<Option<Val>, Bail> {
        self.tick()?;
        let v = match n {
            Node::Id => x.clone(),
            Node::Lit(Const(v)) => v.clone(),
            Node::Meta => self.meta.clone(),
            Node::Path(f, steps) if steps.iter().all(|(s, _)| matches!(s, Step::Index(_))) => {
                return self.path(f, steps, x);
            }
            Node::Str(parts) => {
                let mut text = Vec::new();
                for part in parts.iter() {
                    match self.single(part, x)? {
                        Some(Val::TStr(s)) => text.extend_from_slice(&s),
                        Some(_) => return Err(Bail),
                        None => return Ok(None),
                    }
                }
                Val::utf8_str(text)
            }
            Node::Arr(None) => Val::from_iter(std::iter::empty()),
            Node::Arr(Some(f)) => {
                let mut items = Vec::new();
                self.each(f, x, &mut |v| {
                    items.push(v);
                    Ok(())
                })?;
                Val::from_iter(items)
            }
            Node::Obj(entries) => {
                let mut map = Map::with_capacity_and_hasher(entries.len(), Default::default());
                for (k, v) in entries.iter() {
                    let (Some(k), Some(v)) = (self.single(k, x)?, self.single(v, x)?) else {
                        return Ok(None);
                    };
                    if !matches!(k, Val::TStr(_)) {
                        return Err(Bail);
                    }
                    map.insert(k, v);
                }
                Val::obj(map)
            }
            Node::Neg(f) => match self.single(f, x)? {
                Some(v) => (-v).map_err(|_| Bail)?,
                None => return Ok(None),
            },
            Node::Logic(l, stop, r) => match self.single(l, x)? {
                None => return Ok(None),
                Some(l) if l.as_bool() == *stop => Val::from(*stop),
                Some(_) => match self.single(r, x)? {
                    Some(r) => Val::from(r.as_bool()),
                    None => return Ok(None),
                },
            },
            Node::Math(l, op, r) => match (self.single(l, x)?, self.single(r, x)?) {
                (Some(l), Some(r)) if large_result(*op, &l, &r) => return Err(Bail),
                (Some(l), Some(r)) => op.run(l, r).map_err(|_| Bail)?,
                _ => return Ok(None),
            },
            Node::Cmp(l, op, r) => match (self.single(l, x)?, self.single(r, x)?) {
                (Some(l), Some(r)) => Val::from(op.run(&l, &r)),
                _ => return Ok(None),
            },
            Node::Call0(Builtin0::Empty) => return Ok(None),
            Node::Call0(f) => builtin0(*f, x)?,
            Node::Call1(Builtin1::Map, f) => {
                let mut items = Vec::new();
                for item in values(x)? {
                    self.each(f, item, &mut |v| {
                        items.push(v);
                        Ok(())
                    })?;
                }
                Val::from_iter(items)
            }
            Node::Call1(Builtin1::Index, f) => match (x, self.single(f, x)?) {
                (_, None) => return Ok(None),
                (Val::Arr(_), Some(Val::Arr(_))) => return Err(Bail),
                (Val::Arr(items), Some(i)) => match items.iter().position(|v| *v == i) {
                    Some(at) => Val::from(at as isize),
                    None => Val::Null,
                },
                _ => return Err(Bail),
            },
            Node::Call1(Builtin1::Has, f) => match (x, self.single(f, x)?) {
                (_, None) => return Ok(None),
                (Val::Obj(o), Some(k @ Val::TStr(_))) => Val::from(o.contains_key(&k)),
                _ => return Err(Bail),
            },
            n => {
                let mut one = None;
                self.each(n, x, &mut |v| match one.replace(v) {
                    None => Ok(()),
                    Some(_) => Err(Bail),
                })?;
                return Ok(one);
            }
        };
        Ok(Some(v))
    }

    /// The values of a path's computed indices (those not constant), each evaluated once on
    /// the path's input as jaq does, in order; `None` when one of them has no value.
    fn computed(&self, steps: &[(Step, Opt)], x: &Val) -> Result<Option<Vec<Val>>, Bail> {
        let mut computed = Vec::new();
        for (step, _) in steps {
            if let Step::Index(n) = step
                && !matches!(n, Node::Lit(_))
            {
                match self.single(n, x)? {
                    Some(v) => computed.push(v),
                    None => return Ok(None),
                }
            }
        }
        Ok(Some(computed))
    }

    /// A path of indices only: at most one value.
    fn path(&self, f: &Node, steps: &[(Step, Opt)], x: &Val) -> Result<Option<Val>, Bail> {
        let Some(computed) = self.computed(steps, x)? else {
            return Ok(None);
        };
        let Some(mut y) = self.single(f, x)? else {
            return Ok(None);
        };
        let mut computed = computed.as_slice();
        for (step, opt) in steps.iter() {
            match index(&y, key(step, &mut computed)) {
                Ok(v) => y = v,
                Err(Bail) if matches!(opt, Opt::Optional) => return Ok(None),
                Err(Bail) => return Err(Bail),
            }
        }
        Ok(Some(y))
    }

    /// Follows the path parts from `y`, handing each value reached to `out`; `computed` are
    /// the values of the computed indices among them.
    fn walk<'a>(
        &self,
        y: Val,
        steps: &'a [(Step, Opt)],
        mut computed: &'a [Val],
        out: Out<'_>,
    ) -> Result<(), Bail> {
        let Some(((step, opt), rest)) = steps.split_first() else {
            return out(y);
        };
        let failed = |opt: &Opt| match opt {
            Opt::Optional => Ok(()),
            Opt::Essential => Err(Bail),
        };
        match step {
            Step::Index(_) => match index(&y, key(step, &mut computed)) {
                Ok(v) => self.walk(v, rest, computed, out),
                Err(Bail) => failed(opt),
            },
            Step::Iterate => match values(&y) {
                Ok(items) => {
                    for item in items {
                        self.tick()?;
                        self.walk(item.clone(), rest, computed, out)?;
                    }
                    Ok(())
                }
                Err(Bail) => failed(opt),
            },
        }
    }
}

/// The index of a path step: its constant, or the next of the `computed` values. (An
/// iteration step has none; it is never asked for.)
fn key<'a>(step: &'a Step, computed: &mut &'a [Val]) -> &'a Val {
    static NULL: Const = Const(Val::Null);
    match step {
        Step::Index(Node::Lit(Const(v))) => v,
        Step::Index(_) => match computed.split_first() {
            Some((v, rest)) => {
                *computed = rest;
                v
            }
            None => &NULL.0,
        },
        Step::Iterate => &NULL.0,
    }
}

/// `y[i]` as jaq indexes; [`Bail`] where jaq raises an error.
fn index(y: &Val, i: &Val) -> Result<Val, Bail> {
    match y {
        Val::Null => Ok(Val::Null),
        Val::Obj(o) => Ok(o.get(i).cloned().unwrap_or(Val::Null)),
        y => y.clone().index(i).map_err(|_| Bail),
    }
}

/// The values of an array or object, in order; [`Bail`] for anything else.
fn values(x: &Val) -> Result<Box<dyn Iterator<Item = &Val> + '_>, Bail> {
    match x {
        Val::Arr(items) => Ok(Box::new(items.iter())),
        Val::Obj(fields) => Ok(Box::new(fields.values())),
        _ => Err(Bail),
    }
}

/// Whether `l op r` builds a string or collection larger than [`MAX_BUILT_BYTES`]: string
/// repetition, or concatenation (a chain of `. + .` doubles its input at every link).
fn large_result(op: Math, l: &Val, r: &Val) -> bool {
    let slot = std::mem::size_of::<Val>();
    let built = match (op, l, r) {
        (Math::Mul, Val::TStr(s) | Val::BStr(s), n @ Val::Num(_))
        | (Math::Mul, n @ Val::Num(_), Val::TStr(s) | Val::BStr(s)) => {
            let times = jaq_std::ValT::as_isize(n).unwrap_or(isize::MAX).max(0);
            s.len().saturating_mul(times as usize)
        }
        (Math::Add, Val::TStr(a) | Val::BStr(a), Val::TStr(b) | Val::BStr(b)) => a.len() + b.len(),
        (Math::Add, Val::Arr(a), Val::Arr(b)) => (a.len() + b.len()).saturating_mul(slot),
        (Math::Add | Math::Mul, Val::Obj(a), Val::Obj(b)) => {
            (a.len() + b.len()).saturating_mul(3 * slot)
        }
        _ => 0,
    };
    built > MAX_BUILT_BYTES
}

/// A builtin without arguments on `x`, as jaq defines it.
fn builtin0(f: Builtin0, x: &Val) -> Result<Val, Bail> {
    Ok(match (f, x) {
        (Builtin0::Not, x) => Val::from(!x.as_bool()),
        (Builtin0::Length, Val::Null) => Val::from(0usize),
        (Builtin0::Length, Val::TStr(s)) => {
            let s = std::str::from_utf8(s).map_err(|_| Bail)?;
            Val::from(s.chars().count())
        }
        (Builtin0::Length, Val::Arr(items)) => Val::from(items.len()),
        (Builtin0::Length, Val::Obj(fields)) => Val::from(fields.len()),
        (Builtin0::AsciiDowncase, Val::TStr(s)) => Val::utf8_str(s.to_ascii_lowercase()),
        (Builtin0::AsciiUpcase, Val::TStr(s)) => Val::utf8_str(s.to_ascii_uppercase()),
        (Builtin0::Add, x) => {
            values(x)?.try_fold(Val::Null, |sum, v| (sum + v.clone()).map_err(|_| Bail))?
        }
        (Builtin0::Unique, Val::Arr(items)) => {
            let mut items = items.to_vec();
            items.sort();
            items.dedup_by(|later, kept| later == kept);
            Val::from_iter(items)
        }
        (Builtin0::Keys, Val::Obj(fields)) => {
            let mut keys: Vec<Val> = fields.keys().cloned().collect();
            keys.sort();
            Val::from_iter(keys)
        }
        (Builtin0::ToString, x) => {
            // A value of shared parts can stand for far more text than it takes memory.
            if size::text_floor(x, MAX_BUILT_BYTES) > MAX_BUILT_BYTES {
                return Err(Bail);
            }
            x.clone().into_string()
        }
        (Builtin0::Type, x) => Val::from(String::from(match x {
            Val::Null => "null",
            Val::Bool(_) => "boolean",
            Val::Num(_) => "number",
            Val::TStr(_) => "string",
            Val::Arr(_) => "array",
            Val::Obj(_) => "object",
            Val::BStr(_) => return Err(Bail),
        })),
        _ => return Err(Bail),
    })
}
