//! The quick evaluator: the loop-free core of jq (paths, literals, object and array
//! construction, arithmetic, comparisons, `and`/`or`/`//`, `if`, `select`, `map` and a few
//! builtins), run straight on jaq's values without jaq's interpreter.
//!
//! It is a shortcut, never the only path: a program outside that core is not compiled here,
//! and a run that would raise an error, take more than one value where jq would form a
//! product, or pass its step cap gives up ([`Bail`]) so that jaq runs the program instead. A
//! result from here is therefore always the one jaq gives; the tests check that on many
//! programs and inputs. Every operation reuses jaq's own value operations (`+`, `==`, `<`,
//! indexing, `tostring`) so the two cannot drift apart.

mod need;
mod run;

#[cfg(test)]
mod tests;

use jaq_core::ValT as _;
use jaq_core::load::{self, lex::StrPart, parse::BinaryOp, parse::Term};
use jaq_core::ops::{Cmp, Math};
use jaq_core::path::{Opt, Part};
use jaq_json::{Num, Val};

pub use need::Need;
pub use run::Bail;

/// A program compiled for the quick evaluator.
#[derive(Debug)]
pub struct Quick {
    root: Node,
    /// What the program can observe of its input.
    need: Need,
}

impl Quick {
    /// Compiles `src` when the whole program lies in the quick evaluator's core; `None`
    /// otherwise (the program then runs on jaq only). `$meta` is the one variable known.
    pub fn compile(src: &str) -> Option<Self> {
        let root = node(load::parse(src, |p| p.term())?)?;
        Some(Self {
            need: Need::of(&root),
            root,
        })
    }

    /// What the program can observe of its input: the rest need not be read into it.
    pub fn need(&self) -> &Need {
        &self.need
    }

    /// Up to `take` outputs of the program on `input` (with `$meta` bound to `meta`, within
    /// `max_steps` evaluation steps) and whether it has more, as
    /// [`eval::run_val`](super::eval::run_val) collects them from jaq. [`Bail`] means jaq
    /// must run it instead.
    pub fn outputs(
        &self,
        input: &Val,
        meta: &Val,
        max_steps: u64,
        take: usize,
    ) -> Result<(Vec<Val>, bool), Bail> {
        let mut values = Vec::with_capacity(take.min(16));
        let mut more = false;
        let run = run::Run::new(meta, max_steps);
        let result = run.each(&self.root, input, &mut |v| {
            if values.len() < take {
                values.push(v);
                return Ok(());
            }
            more = true;
            Err(Bail)
        });
        match result {
            Err(Bail) if !more => Err(Bail),
            _ => Ok((values, more)),
        }
    }
}

/// One compiled term.
#[derive(Debug)]
enum Node {
    /// `.`
    Id,
    /// A constant: number, string, `true`, `false`, `null`.
    Lit(Const),
    /// `$meta`
    Meta,
    /// `f.a[0][]…`: a term followed by path parts, each optional (`?`) or not.
    Path(Box<Node>, Box<[(Step, Opt)]>),
    /// `"a \(f) b"` without a format: literal parts and interpolated terms.
    Str(Box<[Node]>),
    /// `[f]`, or `[]` when `None`.
    Arr(Option<Box<Node>>),
    /// `{k: v, …}`
    Obj(Box<[(Node, Node)]>),
    /// `-f`
    Neg(Box<Node>),
    /// `f | g`
    Pipe(Box<Node>, Box<Node>),
    /// `f, g`
    Comma(Box<Node>, Box<Node>),
    /// `f // g`
    Alt(Box<Node>, Box<Node>),
    /// `f or g` (`true`) and `f and g` (`false`): the value that stops evaluation.
    Logic(Box<Node>, bool, Box<Node>),
    /// `f + g`, `f * g`, …
    Math(Box<Node>, Math, Box<Node>),
    /// `f == g`, `f < g`, …
    Cmp(Box<Node>, Cmp, Box<Node>),
    /// `if c then t else e end` (`elif` nests; a missing `else` is `.`)
    If(Box<Node>, Box<Node>, Box<Node>),
    /// A builtin filter without arguments.
    Call0(Builtin0),
    /// A builtin filter with one argument.
    Call1(Builtin1, Box<Node>),
}

/// A constant that holds no `Rc` (null, boolean, machine integer, float, text), so it may be
/// shared between threads where a `Val` in general may not.
#[derive(Debug)]
struct Const(Val);

// SAFETY: `Const::new` admits only `Null`, `Bool`, `Num::Int`, `Num::Float` and `TStr`. None
// holds an `Rc`: `TStr` is a `Box<bytes::Bytes>`, whose clones share an atomically counted
// buffer. Reading or cloning such a value from several threads at once is sound.
unsafe impl Send for Const {}
unsafe impl Sync for Const {}

impl Const {
    fn new(v: Val) -> Option<Self> {
        match v {
            Val::Null | Val::Bool(_) | Val::TStr(_) => Some(Self(v)),
            Val::Num(Num::Int(_) | Num::Float(_)) => Some(Self(v)),
            _ => None,
        }
    }

    fn lit(v: impl Into<Val>) -> Option<Node> {
        Self::new(v.into()).map(Node::Lit)
    }
}

/// One path part: `[i]` / `.key`, or `[]`.
#[derive(Debug)]
enum Step {
    Index(Node),
    Iterate,
}

/// Builtins without arguments, each with jaq's definition.
#[derive(Debug, Clone, Copy)]
enum Builtin0 {
    Empty,
    Not,
    Length,
    AsciiDowncase,
    AsciiUpcase,
    Add,
    Unique,
    Keys,
    ToString,
    Type,
}

/// Builtins with one argument, each with jaq's definition.
#[derive(Debug, Clone, Copy)]
enum Builtin1 {
    Select,
    Map,
    Index,
    Has,
}

fn boxed(t: Term<&str>) -> Option<Box<Node>> {
    node(t).map(Box::new)
}

/// Compiles one parsed term, or `None` when it lies outside the quick core.
fn node(t: Term<&str>) -> Option<Node> {
    Some(match t {
        Term::Id => Node::Id,
        Term::Num(n) => Const::lit(number(n)?)?,
        Term::Str(None, parts) => string(parts)?,
        Term::Arr(None) => Node::Arr(None),
        Term::Arr(Some(f)) => Node::Arr(Some(boxed(*f)?)),
        Term::Obj(entries) => {
            let entries = entries.into_iter().map(|(k, v)| entry(k, v));
            Node::Obj(entries.collect::<Option<_>>()?)
        }
        Term::Neg(f) => Node::Neg(boxed(*f)?),
        Term::BinOp(l, op, r) => {
            let (l, r) = (boxed(*l)?, boxed(*r)?);
            match op {
                BinaryOp::Pipe(None) => Node::Pipe(l, r),
                BinaryOp::Comma => Node::Comma(l, r),
                BinaryOp::Alt => Node::Alt(l, r),
                BinaryOp::Or => Node::Logic(l, true, r),
                BinaryOp::And => Node::Logic(l, false, r),
                BinaryOp::Math(op) => Node::Math(l, op, r),
                BinaryOp::Cmp(op) => Node::Cmp(l, op, r),
                _ => return None,
            }
        }
        Term::IfThenElse(branches, otherwise) => {
            let otherwise = match otherwise {
                Some(e) => boxed(*e)?,
                None => Box::new(Node::Id),
            };
            let mut branches = branches.into_iter().rev();
            branches
                .try_fold(otherwise, |acc, (c, t)| {
                    Some(Box::new(Node::If(boxed(c)?, boxed(t)?, acc)))
                })
                .map(|n| *n)?
        }
        Term::Var("$meta") => Node::Meta,
        Term::Call(name, args) => call(name, args)?,
        Term::Path(f, path) => {
            let steps = path.0.into_iter().map(|(part, opt)| {
                let step = match part {
                    Part::Index(i) => Step::Index(node(i)?),
                    Part::Range(None, None) => Step::Iterate,
                    Part::Range(..) => return None,
                };
                Some((step, opt))
            });
            Node::Path(boxed(*f)?, steps.collect::<Option<_>>()?)
        }
        _ => return None,
    })
}

/// A number literal, as jaq reads it.
fn number(n: &str) -> Option<Val> {
    Some(match n.parse::<isize>() {
        Ok(i) => Val::from(i),
        Err(_) => Val::from_num(n).ok()?,
    })
}

/// A string without a format: constant when it has no interpolation.
fn string(parts: Vec<StrPart<&str, Term<&str>>>) -> Option<Node> {
    let mut nodes = Vec::with_capacity(parts.len());
    let mut text = String::new();
    for part in parts {
        match part {
            StrPart::Str(s) => text.push_str(s),
            StrPart::Char(c) => text.push(c),
            StrPart::Term(t) => {
                if !text.is_empty() {
                    nodes.push(Const::lit(std::mem::take(&mut text))?);
                }
                nodes.push(Node::Pipe(
                    boxed(t)?,
                    Box::new(Node::Call0(Builtin0::ToString)),
                ));
            }
        }
    }
    if nodes.is_empty() {
        return Const::lit(text);
    }
    if !text.is_empty() {
        nodes.push(Const::lit(text)?);
    }
    Some(Node::Str(nodes.into()))
}

/// An object entry; `{a}` and `{"a"}` stand for `{a: .a}`.
fn entry<'s>(k: Term<&'s str>, v: Option<Term<&'s str>>) -> Option<(Node, Node)> {
    match (k, v) {
        (Term::Var(_), None) => None,
        (k, None) => {
            let key = node(k)?;
            let Node::Lit(Const(name)) = &key else {
                return None;
            };
            let index = Const::lit(name.clone())?;
            let value = Node::Path(
                Box::new(Node::Id),
                Box::new([(Step::Index(index), Opt::Essential)]),
            );
            Some((key, value))
        }
        (k, Some(v)) => Some((node(k)?, node(v)?)),
    }
}

/// A call to one of the builtins the quick evaluator knows.
fn call(name: &str, args: Vec<Term<&str>>) -> Option<Node> {
    let mut args = args.into_iter();
    let node = match (name, args.len()) {
        ("true", 0) => Const::lit(true)?,
        ("false", 0) => Const::lit(false)?,
        ("null", 0) => Const::lit(Val::Null)?,
        (name, 0) => Node::Call0(match name {
            "empty" => Builtin0::Empty,
            "not" => Builtin0::Not,
            "length" => Builtin0::Length,
            "ascii_downcase" => Builtin0::AsciiDowncase,
            "ascii_upcase" => Builtin0::AsciiUpcase,
            "add" => Builtin0::Add,
            "unique" => Builtin0::Unique,
            "keys" => Builtin0::Keys,
            "tostring" => Builtin0::ToString,
            "type" => Builtin0::Type,
            _ => return None,
        }),
        (name, 1) => {
            let builtin = match name {
                "select" => Builtin1::Select,
                "map" => Builtin1::Map,
                "index" => Builtin1::Index,
                "has" => Builtin1::Has,
                _ => return None,
            };
            Node::Call1(builtin, boxed(args.next()?)?)
        }
        _ => return None,
    };
    Some(node)
}
