//! Which parts of its input a quick program can observe, so that reading a JSON payload may
//! skip the rest: a mapping of three fields out of a large webhook builds only those three.

use super::{Builtin0, Builtin1, Const, Node, Step};
use jaq_json::Val;

/// What of a value a program can observe.
#[derive(Debug, Clone, PartialEq)]
pub enum Need {
    /// Not the value itself: it only has to be there (any placeholder will do).
    Nothing,
    /// All of it.
    All,
    /// These fields of an object (any other value: all of it).
    Fields(Vec<(String, Need)>),
    /// Every element of an array or every field value of an object (a scalar: all of it).
    Each(Box<Need>),
}

impl Need {
    /// What the program whose root is `root` needs of its input: all of its output is used.
    pub(super) fn of(root: &Node) -> Self {
        need_in(root, &Need::All)
    }

    /// The need of the field `key` under this need, `None` when the field is not needed.
    pub fn field(&self, key: &[u8]) -> Option<&Need> {
        match self {
            Need::Fields(fields) => fields
                .iter()
                .find(|(k, _)| k.as_bytes() == key)
                .map(|(_, n)| n),
            Need::Each(each) => Some(each),
            Need::All => Some(&Need::All),
            Need::Nothing => None,
        }
    }

    /// The need of each element of an array under this need.
    pub fn element(&self) -> &Need {
        match self {
            Need::Each(each) => each,
            Need::Nothing => &Need::Nothing,
            Need::All | Need::Fields(_) => &Need::All,
        }
    }

    /// Both needs at once.
    fn union(self, other: Need) -> Need {
        match (self, other) {
            (Need::All, _) | (_, Need::All) => Need::All,
            (Need::Nothing, n) | (n, Need::Nothing) => n,
            (Need::Each(a), Need::Each(b)) => Need::Each(Box::new(a.union(*b))),
            (Need::Fields(mut a), Need::Fields(b)) => {
                for (key, need) in b {
                    match a.iter_mut().find(|(k, _)| *k == key) {
                        Some((_, mine)) => {
                            *mine = std::mem::replace(mine, Need::Nothing).union(need)
                        }
                        None => a.push((key, need)),
                    }
                }
                Need::Fields(a)
            }
            (Need::Fields(_), Need::Each(_)) | (Need::Each(_), Need::Fields(_)) => Need::All,
        }
    }
}

/// What `n` needs of its input when `out` is needed of its outputs.
fn need_in(n: &Node, out: &Need) -> Need {
    let all = |n: &Node| need_in(n, &Need::All);
    match n {
        Node::Id => out.clone(),
        Node::Lit(_) | Node::Meta | Node::Call0(Builtin0::Empty) => Need::Nothing,
        Node::Path(f, steps) => {
            let mut at = out.clone();
            let mut computed = Need::Nothing;
            for (step, _) in steps.iter().rev() {
                at = match step {
                    Step::Index(Node::Lit(Const(Val::TStr(key)))) => {
                        match std::str::from_utf8(key) {
                            Ok(key) => Need::Fields(vec![(key.to_owned(), at)]),
                            Err(_) => Need::All,
                        }
                    }
                    Step::Index(Node::Lit(_)) | Step::Iterate => Need::Each(Box::new(at)),
                    Step::Index(i) => {
                        computed = computed.union(all(i));
                        Need::All
                    }
                };
            }
            need_in(f, &at).union(computed)
        }
        Node::Arr(None) => Need::Nothing,
        Node::Arr(Some(f)) => need_in(f, out.element()),
        Node::Obj(entries) => {
            let value_need = match out {
                Need::Nothing => Need::Nothing,
                _ => Need::All,
            };
            let each = entries
                .iter()
                .map(|(k, v)| all(k).union(need_in(v, &value_need)));
            each.fold(Need::Nothing, Need::union)
        }
        Node::Pipe(l, r) => need_in(l, &need_in(r, out)),
        Node::Comma(l, r) => need_in(l, out).union(need_in(r, out)),
        Node::Alt(l, r) => all(l).union(need_in(r, out)),
        Node::If(c, t, e) => all(c).union(need_in(t, out)).union(need_in(e, out)),
        Node::Call1(Builtin1::Select, f) => all(f).union(out.clone()),
        Node::Call1(Builtin1::Map, f) => Need::Each(Box::new(need_in(f, out.element()))),
        Node::Str(parts) => parts.iter().map(all).fold(Need::Nothing, Need::union),
        Node::Neg(f) => all(f),
        Node::Logic(l, _, r) | Node::Math(l, _, r) | Node::Cmp(l, _, r) => all(l).union(all(r)),
        Node::Call0(_) => Need::All,
        Node::Call1(Builtin1::Index | Builtin1::Has, f) => Need::All.union(all(f)),
    }
}
