//! Compiling jq source with jaq into a sandboxed filter, with errors located by line and
//! column and shown with a caret under the offending text.

use std::fmt;

use jaq_core::load::{Arena, File, Loader, lex, parse};
use jaq_core::{Compiler, compile};

use super::sandbox::{self, Sandbox};

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
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let natives = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs())
        .filter(|(name, _, _)| !sandbox::REPLACED.contains(name))
        .chain(sandbox::natives());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: src,
                path: (),
            },
        )
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
