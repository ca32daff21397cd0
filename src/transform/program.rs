//! A Transformation compiled once into a runnable [`Program`].

use jaq_json::Val;
use serde_json::Value;

use crate::api::{InputFormat, OutputFormat, TransformationSpec};

use super::eval::{self, EvalError};
use super::format::{self, FormatError};
use super::jq::{self, CompileError, Filter};
use super::meta::Meta;
use super::quick::Quick;
use super::sandbox::{Exceeded, Limits};
use super::schema::{Schema, SchemaError, Violations};
use super::{read, value, write};

/// The largest buffer reserved up front for JSON output written straight from jaq.
const OUTPUT_GUESS_CAP: usize = 64 * 1024;

/// The global variables a transformation program may use.
pub const GLOBALS: [&str; 1] = ["$meta"];

/// A Transformation spec that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The jq program does not compile.
    #[error("spec.jq does not compile")]
    Jq(#[source] CompileError),
    /// The input schema does not compile.
    #[error("spec.inputSchema")]
    InputSchema(#[source] SchemaError),
    /// The output schema does not compile.
    #[error("spec.outputSchema")]
    OutputSchema(#[source] SchemaError),
}

impl BuildError {
    /// JSON pointer of the field at fault in the resource.
    pub fn pointer(&self) -> &'static str {
        match self {
            Self::Jq(_) => "/spec/jq",
            Self::InputSchema(_) => "/spec/inputSchema",
            Self::OutputSchema(_) => "/spec/outputSchema",
        }
    }
}

/// Why running a transformation failed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The payload cannot be read in the input format.
    #[error(transparent)]
    Input(FormatError),
    /// The input does not satisfy spec.inputSchema.
    #[error("input does not match spec.inputSchema: {0}")]
    InputSchema(Violations),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(EvalError),
    /// The program produced nothing.
    #[error("the jq program produced no output (it must produce exactly one)")]
    NoOutput,
    /// The program produced several outputs.
    #[error(
        "the jq program produced more than one output (it must produce exactly one; wrap a stream in [...] to collect it)"
    )]
    SeveralOutputs,
    /// The output does not satisfy spec.outputSchema.
    #[error("output does not match spec.outputSchema: {0}")]
    OutputSchema(Violations),
    /// The output cannot be written in the output format.
    #[error(transparent)]
    Output(FormatError),
    /// The written output is too large.
    #[error(transparent)]
    TooLarge(Exceeded),
}

/// A transformation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The program's output value; `None` when it was written straight into `body` as JSON
    /// (it is then read back from there when asked for).
    value: Option<Value>,
    /// The output written in the output format.
    pub body: Vec<u8>,
    /// The media type of `body`.
    pub content_type: &'static str,
}

impl Output {
    /// The program's output value (for Form output, the object before encoding).
    pub fn value(&self) -> Value {
        match &self.value {
            Some(v) => v.clone(),
            None => self.read_body(),
        }
    }

    /// The program's output value, consuming the output.
    pub fn into_value(self) -> Value {
        match self.value {
            Some(v) => v,
            None => self.read_body(),
        }
    }

    /// The output as JSON text: the body written when the output format is JSON (numbers
    /// the program passed through kept as written), else the output value's JSON (the
    /// object before Form encoding).
    pub fn into_json(self) -> Vec<u8> {
        if self.content_type == "application/json" {
            return self.body;
        }
        serde_json::to_vec(&self.into_value()).unwrap_or_else(|_| b"null".to_vec())
    }

    /// Reads back a body that [`write::write_json`] wrote, which is JSON that reads back as
    /// the value it was written from.
    fn read_body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// A program's input: JSON text, or a value already read.
enum Input<'r> {
    Json(&'r [u8]),
    Val(Val),
}

/// The first output of a run: written straight to JSON bytes, or converted to JSON.
enum First {
    Written(Vec<u8>),
    /// The value and a lower bound of its JSON length.
    Converted(Value, usize),
}

/// A compiled Transformation: jq filter, schemas, formats and limits.
pub struct Program {
    filter: Filter,
    input_format: InputFormat,
    output_format: OutputFormat,
    input_schema: Option<Schema>,
    output_schema: Option<Schema>,
    limits: Limits,
    /// Whether the source mentions `$meta` (if not, `$meta` is not built for each run).
    uses_meta: bool,
    /// The program for the quick evaluator, when it lies in its core (jaq runs it otherwise,
    /// and whenever the quick evaluator gives up).
    quick: Option<Quick>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("input_format", &self.input_format)
            .field("output_format", &self.output_format)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Program {
    /// Compiles a spec with the default limits.
    pub fn compile(spec: &TransformationSpec) -> Result<Self, BuildError> {
        let compile_schema = |s: &Option<Value>| s.as_ref().map(Schema::compile).transpose();
        Ok(Self {
            filter: jq::compile(&spec.jq, &GLOBALS).map_err(BuildError::Jq)?,
            input_format: spec.input_format,
            output_format: spec.output_format,
            input_schema: compile_schema(&spec.input_schema).map_err(BuildError::InputSchema)?,
            output_schema: compile_schema(&spec.output_schema).map_err(BuildError::OutputSchema)?,
            limits: Limits::default(),
            uses_meta: spec.jq.contains(GLOBALS[0]),
            quick: Quick::compile(&spec.jq),
        })
    }

    /// Replaces the evaluation limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The evaluation limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The input format.
    pub fn input_format(&self) -> InputFormat {
        self.input_format
    }

    /// Reads a raw payload in the input format.
    pub fn decode(&self, raw: &[u8]) -> Result<Value, TransformError> {
        format::decode(self.input_format, raw).map_err(TransformError::Input)
    }

    /// Runs the transformation on a raw payload. JSON without an input schema is read
    /// straight into jaq's value, skipping the `serde_json::Value` in between (and for the
    /// quick evaluator, only as much of it as the program can observe).
    pub fn run(&self, raw: &[u8], meta: &Meta) -> Result<Output, TransformError> {
        // The output is usually of the input's order of size.
        let write = Some(raw.len().min(OUTPUT_GUESS_CAP));
        if self.input_format == InputFormat::Json {
            return self.run_json(raw, meta);
        }
        let input = self.decode(raw)?;
        self.check_input(&input)?;
        self.evaluate(Input::Val(value::to_jaq(&input)), meta, write, false)
    }

    /// Runs the transformation on a JSON payload (a stored event's), whatever the declared
    /// input format: jq reads the text itself, numbers as written; an input schema checks
    /// the payload read as a `serde_json::Value`.
    pub fn run_json(&self, raw: &[u8], meta: &Meta) -> Result<Output, TransformError> {
        let write = Some(raw.len().min(OUTPUT_GUESS_CAP));
        if self.input_schema.is_some() {
            let input = format::decode(InputFormat::Json, raw).map_err(TransformError::Input)?;
            self.check_input(&input)?;
        }
        self.evaluate(Input::Json(raw), meta, write, false)
    }

    /// Runs the transformation on an already decoded payload: input schema, program,
    /// output schema, output format.
    pub fn apply(&self, input: &Value, meta: &Meta) -> Result<Output, TransformError> {
        self.check_input(input)?;
        self.evaluate(Input::Val(value::to_jaq(input)), meta, None, false)
    }

    /// Like [`Program::apply`], for the output value only: JSON output is checked for size
    /// but not written out (Form output still is, so a value Form cannot hold fails here too).
    pub fn apply_value(&self, input: &Value, meta: &Meta) -> Result<Value, TransformError> {
        self.check_input(input)?;
        self.evaluate(Input::Val(value::to_jaq(input)), meta, None, true)
            .map(Output::into_value)
    }

    /// Whether the program reads `$meta` (when not, any [`Meta`] will do).
    pub fn uses_meta(&self) -> bool {
        self.uses_meta
    }

    fn check_input(&self, input: &Value) -> Result<(), TransformError> {
        match &self.input_schema {
            Some(schema) => schema.check(input).map_err(TransformError::InputSchema),
            None => Ok(()),
        }
    }

    /// The program, output schema and output format on a checked input. With `write` (a
    /// guess of the output's size) and without an output schema, JSON output is written
    /// straight from jaq's value (the caller of [`Program::run`] wants bytes; the caller of
    /// [`Program::apply`] a value). With `value_only`, JSON output is not written at all.
    fn evaluate(
        &self,
        input: Input<'_>,
        meta: &Meta,
        write: Option<usize>,
        value_only: bool,
    ) -> Result<Output, TransformError> {
        let meta = if self.uses_meta {
            meta.to_jaq()
        } else {
            Val::Null
        };
        let direct = write
            .filter(|_| self.output_schema.is_none() && self.output_format == OutputFormat::Json);
        let limit = self.limits.max_output_bytes;
        let first = |v: Val| {
            if let Some(capacity) = direct
                && let Some(body) = write::write_json(&v, capacity, limit)?
            {
                return Ok(First::Written(body));
            }
            let floor = write::check_size(&v, limit)?;
            Ok(First::Converted(
                value::to_json(&v).map_err(EvalError::NotJson)?,
                floor,
            ))
        };
        let quick = self.quick.as_ref().and_then(|quick| {
            let read;
            let input = match input {
                Input::Val(ref v) => v,
                Input::Json(raw) => {
                    read = read::parse_json_for(raw, quick.need()).ok()?;
                    &read
                }
            };
            let (outputs, more) = quick.outputs(input, &meta, self.limits.max_steps, 1).ok()?;
            let outputs = outputs
                .into_iter()
                .map(first)
                .collect::<Result<Vec<_>, _>>();
            Some(outputs.map(|outputs| (outputs, more)))
        });
        let (outputs, more) = match quick {
            Some(result) => result,
            None => {
                let input = match input {
                    Input::Val(v) => v,
                    Input::Json(raw) => read::parse_json(raw)
                        .map_err(|e| TransformError::Input(FormatError::Read(e)))?,
                };
                eval::run_val(&self.filter, input, &[meta], self.limits, 1, true, first)
            }
        }
        .map_err(TransformError::Eval)?;
        if more {
            return Err(TransformError::SeveralOutputs);
        }
        let first = outputs.into_iter().next().ok_or(TransformError::NoOutput)?;
        let (value, body) = match first {
            First::Written(body) => (None, body),
            First::Converted(value, floor) => {
                if let Some(schema) = &self.output_schema {
                    schema.check(&value).map_err(TransformError::OutputSchema)?;
                }
                if value_only && self.output_format == OutputFormat::Json {
                    // The output limit holds as when the body is written: counted exactly
                    // unless the lower bound already shows the JSON fits.
                    if floor.saturating_mul(write::FLOOR_FACTOR) > limit
                        && !write::json_fits(&value, limit)
                    {
                        return Err(TransformError::TooLarge(Exceeded::Output(limit)));
                    }
                    return Ok(Output {
                        value: Some(value),
                        body: Vec::new(),
                        content_type: "application/json",
                    });
                }
                let body =
                    format::encode(self.output_format, &value).map_err(TransformError::Output)?;
                (Some(value), body)
            }
        };
        if body.len() > self.limits.max_output_bytes {
            return Err(TransformError::TooLarge(Exceeded::Output(
                self.limits.max_output_bytes,
            )));
        }
        let content_type = match self.output_format {
            OutputFormat::Json => "application/json",
            OutputFormat::Form => "application/x-www-form-urlencoded",
        };
        Ok(Output {
            value,
            body,
            content_type,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::format::FormatError;
    use serde_json::json;

    fn spec(v: Value) -> TransformationSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn form_in_json_out_with_meta() {
        let p = Program::compile(&spec(json!({
            "jq": "{user: .user, tags: .tag, event: $meta.eventType, sig: $meta.headers[\"x-sig\"]}",
            "inputFormat": "Form"
        })))
        .unwrap();
        let meta =
            Meta::from_json(&json!({"eventType": "signup", "headers": {"X-Sig": "abc"}})).unwrap();
        let out = p.run(b"user=ada&tag=a&tag=b", &meta).unwrap();
        assert_eq!(
            out.value(),
            json!({"user": "ada", "tags": ["a", "b"], "event": "signup", "sig": "abc"})
        );
        assert_eq!(out.content_type, "application/json");
    }

    #[test]
    fn text_in_form_out() {
        let p = Program::compile(&spec(json!({
            "jq": "{text: ., words: split(\" \")}",
            "inputFormat": "Text",
            "outputFormat": "Form"
        })))
        .unwrap();
        let out = p.run(b"hello big world", &Meta::default()).unwrap();
        assert_eq!(
            String::from_utf8(out.body).unwrap(),
            "text=hello+big+world&words=hello&words=big&words=world"
        );
    }

    #[test]
    fn exactly_one_output() {
        let p = Program::compile(&spec(json!({"jq": ".[]"}))).unwrap();
        let none = p.run(b"[]", &Meta::default()).unwrap_err();
        assert!(matches!(none, TransformError::NoOutput), "{none}");
        let two = p.run(b"[1, 2]", &Meta::default()).unwrap_err();
        assert!(two.to_string().contains("more than one output"), "{two}");
        assert_eq!(p.run(b"[7]", &Meta::default()).unwrap().value(), json!(7));
    }

    #[test]
    fn schemas_are_checked_before_and_after() {
        let p = Program::compile(&spec(json!({
            "jq": "{id: .id, total: .amount}",
            "inputSchema": {"type": "object", "required": ["id"]},
            "outputSchema": {"properties": {"total": {"type": "integer"}}}
        })))
        .unwrap();
        let e = p.run(br#"{"amount": 3}"#, &Meta::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input does not match spec.inputSchema: at / (required): \"id\" is a required property"
        );
        let e = p
            .run(br#"{"id": 1, "amount": "3"}"#, &Meta::default())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "output does not match spec.outputSchema: at /total (type): \"3\" is not of type \"integer\""
        );
    }

    #[test]
    fn build_errors_point_at_their_field() {
        let e = Program::compile(&spec(json!({"jq": ".a |"}))).unwrap_err();
        assert_eq!(e.pointer(), "/spec/jq");
        let e =
            Program::compile(&spec(json!({"jq": ".", "outputSchema": {"type": 5}}))).unwrap_err();
        assert_eq!(e.pointer(), "/spec/outputSchema");
    }

    /// `run` keeps numbers as written where the program passes them through; arithmetic
    /// reads them as floats.
    #[test]
    fn numbers_pass_through_exactly() {
        let big = "9".repeat(300);
        let input = format!(
            r#"{{"a": [18446744073709551617, {big}, -0, 1.000000000000000000001, 1e400, 0.1], "n": 1.50, "x": 2}}"#
        );
        let exact = format!(r#"[18446744073709551617,{big},-0,1.000000000000000000001,1e400,0.1]"#);
        for (jq, want) in [
            (".", format!(r#"{{"a":{exact},"n":1.50,"x":2}}"#)),
            ("{a: .a, n: .n}", format!(r#"{{"a":{exact},"n":1.50}}"#)),
            ("first(.a[])", "18446744073709551617".to_owned()),
            (".n * 2", "3".to_owned()),
            (".a[5] + 0.2", "0.30000000000000004".to_owned()),
        ] {
            let p = Program::compile(&spec(json!({ "jq": jq }))).unwrap();
            let out = p.run(input.as_bytes(), &Meta::default()).unwrap();
            assert_eq!(out.clone().into_json(), out.body, "{jq}");
            assert_eq!(String::from_utf8(out.body).unwrap(), want, "{jq}");
        }
    }

    /// `run` (bytes straight into jaq and out again) and `apply` (through serde_json
    /// values) give the same body, value and errors.
    #[test]
    fn direct_path_agrees_with_the_value_path() {
        let cases = [
            (
                ".",
                r#"{"z": 1, "a": [1.5, -2, 18446744073709551615, "\u00e9\ud83d\ude00"], "z": 2}"#,
            ),
            ("{b: .b, a: .a} | .c = (.a + .b)", r#"{"a": 0.1, "b": 0.2}"#),
            (".x / 100", r#"{"x": 123450}"#),
            ("[.[] | tostring]", r#"[1, 1.5, "s", null, {"k": [true]}]"#),
            ("{(.k): 1}", r#"{"k": "dyn\n"}"#),
            ("$meta | keys_unsorted", "null"),
            (".a", r#"{"a": 1} x"#),
            ("error(\"boom\")", "1"),
            (".[]", "[]"),
            (".[]", "[1, 2]"),
            ("{(tobytes): 1}", r#""k""#),
            ("reduce range(200) as $i (0; [.])", "null"),
            ("reduce range(127) as $i ([]; [.])", "null"),
        ];
        let meta = Meta::from_json(&json!({"eventType": "e", "headers": {"A": "b"}})).unwrap();
        for (jq, input) in cases {
            let p = Program::compile(&spec(json!({ "jq": jq }))).unwrap();
            let direct = p.run(input.as_bytes(), &meta);
            let decode = || {
                serde_json::from_str::<Value>(input)
                    .map_err(|e| TransformError::Input(FormatError::Json(e)))
            };
            let via_value = decode().and_then(|v| p.apply(&v, &meta));
            let value_only = decode().and_then(|v| p.apply_value(&v, &meta));
            match (&direct, value_only) {
                (Ok(d), Ok(v)) => assert_eq!(d.value(), v, "{jq} on {input}"),
                (Err(d), Err(v)) => assert_eq!(d.to_string(), v.to_string(), "{jq} on {input}"),
                (d, v) => panic!("{jq} on {input}: run gave {d:?}, apply_value gave {v:?}"),
            }
            match (direct, via_value) {
                (Ok(d), Ok(v)) => {
                    assert_eq!(d.body, v.body, "{jq} on {input}");
                    assert_eq!(d.value(), v.value(), "{jq} on {input}");
                    assert_eq!(d.into_value(), v.into_value(), "{jq} on {input}");
                }
                (Err(d), Err(v)) => assert_eq!(d.to_string(), v.to_string(), "{jq} on {input}"),
                (d, v) => panic!("{jq} on {input}: run gave {d:?}, apply gave {v:?}"),
            }
        }
    }

    #[test]
    fn output_budget() {
        let p = Program::compile(&spec(json!({"jq": "[range(1000)]"})))
            .unwrap()
            .with_limits(Limits {
                max_output_bytes: 100,
                ..Limits::default()
            });
        let e = p.run(b"null", &Meta::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "output is larger than 100 bytes (output budget exceeded)"
        );
    }

    /// The server's value-only path (`apply_value`) holds the output cap exactly as `run`
    /// (what `switchboard transform` calls) does, even where the quick size bound passes.
    #[test]
    fn the_output_cap_holds_on_the_value_only_path() {
        let p = Program::compile(&spec(json!({"jq": "[range(100) | 123456.789]"})))
            .unwrap()
            .with_limits(Limits {
                max_output_bytes: 1000,
                ..Limits::default()
            });
        let run = p.run(b"null", &Meta::default()).unwrap_err();
        let value = p.apply_value(&json!(null), &Meta::default()).unwrap_err();
        assert_eq!(run.to_string(), value.to_string());
        assert!(matches!(value, TransformError::TooLarge(_)), "{value}");
    }

    /// A value of shared parts stands for 2^40 leaves in little memory; writing it stops at
    /// the output budget, on the quick path and on jaq's, and for JSON and Form output.
    #[test]
    fn output_of_shared_parts_stops_at_the_budget() {
        let doubling = std::iter::repeat_n("[., .]", 40)
            .collect::<Vec<_>>()
            .join(" | ");
        for (jq, output_format) in [
            (doubling.as_str(), "Json"),
            ("reduce range(40) as $i (.; [., .])", "Json"),
            ("{a: (reduce range(40) as $i (.; [., .]))}", "Form"),
        ] {
            let p =
                Program::compile(&spec(json!({"jq": jq, "outputFormat": output_format}))).unwrap();
            let e = p.run(b"1", &Meta::default()).unwrap_err();
            assert_eq!(
                e.to_string(),
                "output is larger than 1048576 bytes (output budget exceeded)",
                "{jq}"
            );
        }
    }
}
