//! Compiling jq source with jaq into a sandboxed filter, with errors located by line and
//! column and shown with a caret under the offending text.
//!
//! The program and jaq's standard definitions are compiled with the operations that can
//! allocate far more in one step than their operands hold routed through the sandbox's
//! budgeted natives ([`natives::MUL`], [`natives::TEXT`]): `l * r` becomes `_sb_mul(l; r)`
//! (same order of outputs: jaq forms `l * r` as `l as $l | r as $r | $l * $r` does),
//! `l *= r` becomes `r as $r | l |= _sb_mul(.; $r)` (as jaq defines it), and string
//! interpolation (which `tostring` and `@text` are made of) formats its parts with
//! `_sb_text`. The rewritten program is compiled as a definition of the prelude, called by
//! the main module, so every name still points into the source for error locations.

use std::fmt;

use jaq_core::load::lex::{Lexer, StrPart};
use jaq_core::load::parse::{BinaryOp, Def, Parser, Pattern, Term};
use jaq_core::load::{Arena, File, Loader, lex, parse};
use jaq_core::ops::Math;
use jaq_core::path::{Part, Path};
use jaq_core::{Compiler, compile};

use super::natives;
use super::sandbox::Sandbox;

/// The name the rewritten program is defined under in the prelude.
const MAIN: &str = "_sb_main";

/// The variable `l *= r` binds `r` to.
const UPDATE_VAR: &str = "$_sb_r";

/// A compiled jq filter over sandboxed data.
pub type Filter = jaq_core::Filter<Sandbox>;

/// A jq program that does not compile, located in its source.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}\n{excerpt}")]
pub struct CompileError {
    /// 1-based line in the jq source.
    pub line: usize,
    /// 1-based column (in characters) in that line.
    pub column: usize,
    /// What is wrong ("expected term, found ')'").
    pub message: String,
    /// The source line and a caret under the column.
    pub excerpt: String,
}

/// Compiles `src`, which may refer to the given global variables (names start with `$`).
pub fn compile(src: &str, global_vars: &[&'static str]) -> Result<Filter, CompileError> {
    let parsed = Lexer::new(src)
        .lex()
        .ok()
        .and_then(|tokens| Parser::new(&tokens).parse(|p| p.term()).ok());
    let Some(program) = parsed else {
        // The loader reports what does not lex or parse, located.
        return compile_source(src, src, std::iter::empty(), global_vars);
    };
    let main = Def {
        name: MAIN,
        args: Vec::new(),
        body: budgeted(program),
    };
    compile_source(src, MAIN, [main], global_vars)
}

/// Compiles `code` after the standard definitions and `extra`, all routed through the
/// budgeted natives; errors are located in `src`.
fn compile_source<'s>(
    src: &'s str,
    code: &'s str,
    extra: impl IntoIterator<Item = Def<&'s str>>,
    global_vars: &[&'static str],
) -> Result<Filter, CompileError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs())
        .map(|def| Def {
            body: budgeted(def.body),
            ..def
        })
        .chain(extra);
    let natives = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !natives::REPLACED.contains(name))
        .chain(natives::natives());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(&arena, File { code, path: () })
        .map_err(|errs| match errs.into_iter().next() {
            Some((_, err)) => load_error(src, err),
            None => located(src, "", "does not load".into()),
        })?;
    Compiler::default()
        .with_funs(natives)
        .with_global_vars(global_vars.iter().copied())
        .compile(modules)
        .map_err(|errs| {
            let first = errs.into_iter().flat_map(|(_, undefined)| undefined).next();
            let Some((name, what)) = first else {
                return located(src, "", "does not compile".into());
            };
            let message = match what {
                compile::Undefined::Filter(arity) => format!("undefined filter {name}/{arity}"),
                other => format!("undefined {} {name}", other.as_str()),
            };
            located(src, name, message)
        })
}

/// `t` with `*`, `*=` and string interpolation routed through the budgeted natives.
fn budgeted<'s>(t: Term<&'s str>) -> Term<&'s str> {
    let b = |t: Box<Term<&'s str>>| Box::new(budgeted(*t));
    match t {
        Term::BinOp(l, BinaryOp::Math(Math::Mul), r) => {
            Term::Call(natives::MUL, vec![budgeted(*l), budgeted(*r)])
        }
        Term::BinOp(l, BinaryOp::UpdateMath(Math::Mul), r) => {
            let times = Term::Call(natives::MUL, vec![Term::Id, Term::Var(UPDATE_VAR)]);
            let update = Term::BinOp(b(l), BinaryOp::Update, Box::new(times));
            let bind = BinaryOp::Pipe(Some(Pattern::Var(UPDATE_VAR)));
            Term::BinOp(b(r), bind, Box::new(update))
        }
        Term::BinOp(l, op, r) => Term::BinOp(b(l), budgeted_op(op), b(r)),
        Term::Str(fmt, parts) => {
            let interpolates = parts.iter().any(|p| matches!(p, StrPart::Term(_)));
            let fmt = match fmt {
                None if interpolates => Some(natives::TEXT),
                fmt => fmt,
            };
            let parts = parts.into_iter().map(|part| match part {
                StrPart::Term(t) => StrPart::Term(budgeted(t)),
                other => other,
            });
            Term::Str(fmt, parts.collect())
        }
        Term::Arr(t) => Term::Arr(t.map(b)),
        Term::Obj(entries) => Term::Obj(
            entries
                .into_iter()
                .map(|(k, v)| (budgeted(k), v.map(budgeted)))
                .collect(),
        ),
        Term::Neg(t) => Term::Neg(b(t)),
        Term::Label(name, t) => Term::Label(name, b(t)),
        Term::Fold(name, xs, pattern, args) => Term::Fold(
            name,
            b(xs),
            budgeted_pattern(pattern),
            args.into_iter().map(budgeted).collect(),
        ),
        Term::TryCatch(t, catch) => Term::TryCatch(b(t), catch.map(b)),
        Term::IfThenElse(branches, otherwise) => Term::IfThenElse(
            branches
                .into_iter()
                .map(|(c, t)| (budgeted(c), budgeted(t)))
                .collect(),
            otherwise.map(b),
        ),
        Term::Def(defs, t) => Term::Def(
            defs.into_iter()
                .map(|def| Def {
                    body: budgeted(def.body),
                    ..def
                })
                .collect(),
            b(t),
        ),
        Term::Call(name, args) => Term::Call(name, args.into_iter().map(budgeted).collect()),
        Term::Path(t, Path(parts)) => Term::Path(
            b(t),
            Path(
                parts
                    .into_iter()
                    .map(|(part, opt)| (budgeted_part(part), opt))
                    .collect(),
            ),
        ),
        t @ (Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_)) => t,
    }
}

fn budgeted_op(op: BinaryOp<&str>) -> BinaryOp<&str> {
    match op {
        BinaryOp::Pipe(Some(pattern)) => BinaryOp::Pipe(Some(budgeted_pattern(pattern))),
        op => op,
    }
}

fn budgeted_pattern(pattern: Pattern<&str>) -> Pattern<&str> {
    match pattern {
        Pattern::Var(v) => Pattern::Var(v),
        Pattern::Arr(ps) => Pattern::Arr(ps.into_iter().map(budgeted_pattern).collect()),
        Pattern::Obj(entries) => Pattern::Obj(
            entries
                .into_iter()
                .map(|(k, p)| (budgeted(k), budgeted_pattern(p)))
                .collect(),
        ),
    }
}

fn budgeted_part(part: Part<Term<&str>>) -> Part<Term<&str>> {
    match part {
        Part::Index(t) => Part::Index(budgeted(t)),
        Part::Range(from, to) => Part::Range(from.map(budgeted), to.map(budgeted)),
    }
}

fn load_error(src: &str, err: jaq_core::load::Error<&str>) -> CompileError {
    use jaq_core::load::Error;
    match err {
        Error::Io(errs) => {
            let (path, why) = errs.into_iter().next().unwrap_or_default();
            located(src, path, format!("cannot load module {path:?}: {why}"))
        }
        Error::Lex(errs) => {
            let Some((expect, at)) = errs.into_iter().next() else {
                return located(src, "", "does not lex".into());
            };
            let (message, at) = match expect {
                lex::Expect::Delim(open) => (format!("unclosed {open:?}"), open),
                lex::Expect::Token => match at.chars().next() {
                    Some(c) => (format!("unexpected character {c:?}"), at),
                    None => ("unexpected end of program".into(), at),
                },
                other => (format!("expected {}", other.as_str()), at),
            };
            located(src, at, message)
        }
        Error::Parse(errs) => {
            let Some((expect, found)) = errs.into_iter().next() else {
                return located(src, "", "does not parse".into());
            };
            let expected = expect_str(&expect);
            let message = if found.is_empty() {
                format!("expected {expected}, found end of program")
            } else {
                format!("expected {expected}, found {found:?}")
            };
            located(src, found, message)
        }
    }
}

fn expect_str(expect: &parse::Expect<&str>) -> String {
    match expect {
        parse::Expect::Just(s) => format!("{s:?}"),
        other => other.as_str().to_owned(),
    }
}

/// Locates `part`, a slice of `src` (or an unrelated string, located at the start).
fn located(src: &str, part: &str, message: String) -> CompileError {
    let start = part.as_ptr() as usize;
    let base = src.as_ptr() as usize;
    let offset = if start >= base && start <= base + src.len() {
        start - base
    } else {
        0
    };
    Location::of(src, offset).error(message)
}

/// A position in a source text.
struct Location<'a> {
    line: usize,
    column: usize,
    text: &'a str,
}

impl<'a> Location<'a> {
    fn of(src: &'a str, offset: usize) -> Self {
        let before = &src[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
        Self {
            line: before.matches('\n').count() + 1,
            column: src[line_start..offset].chars().count() + 1,
            text: &src[line_start..line_end],
        }
    }

    fn error(&self, message: String) -> CompileError {
        CompileError {
            line: self.line,
            column: self.column,
            message,
            excerpt: self.to_string(),
        }
    }
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        let indent = " ".repeat(self.column - 1);
        write!(
            f,
            "  {number} | {}\n  {pad} | {indent}^",
            self.text.trim_end()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(src: &str) -> CompileError {
        compile(src, &[]).err().expect("must not compile")
    }

    #[test]
    fn syntax_error_has_line_column_and_caret() {
        let e = error("{\n  a: .a,\n  b: .foo | bar(\n}");
        assert_eq!(
            e.to_string(),
            "line 3, column 16: unclosed \"(\"\n  3 |   b: .foo | bar(\n    |                ^"
        );
    }

    #[test]
    fn unexpected_token_mid_line() {
        let e = error(".a |\n.b as | .c");
        assert_eq!(
            e.to_string(),
            "line 2, column 7: expected pattern, found \"|\"\n  2 | .b as | .c\n    |       ^"
        );
    }

    #[test]
    fn stray_character_is_located() {
        let e = error(".a |\n.b | )");
        assert_eq!((e.line, e.column), (2, 6), "{e}");
        assert_eq!(e.message, "unexpected character ')'");
    }

    #[test]
    fn undefined_filter_is_located() {
        let e = error(".x | frobnicate(1)");
        assert_eq!((e.line, e.column), (1, 6));
        assert_eq!(e.message, "undefined filter frobnicate/1");
    }

    #[test]
    fn undefined_variable_is_located() {
        let e = error(".x + $nope");
        assert_eq!((e.line, e.column), (1, 6));
        assert_eq!(e.message, "undefined variable $nope");
        assert!(compile(".x + $meta.a", &["$meta"]).is_ok());
    }

    #[test]
    fn unclosed_delimiters_point_at_the_opening() {
        let e = error(".a | \"abc");
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (1, 6, "unclosed \"\\\"\"")
        );
        let e = error("{\n  id: .id,\n  total: (.amount / 100)\n");
        assert_eq!((e.line, e.column), (1, 1), "{e}");
        assert_eq!(e.message, "unclosed \"{\"");
    }
}
