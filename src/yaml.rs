//! YAML in and out: multi-document parsing with line numbers, and rendering.

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, Yaml, YamlData, YamlEmitter};
use serde_json::{Map, Number, Value};

/// A YAML syntax error with the line it was found on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct SyntaxError {
    /// 1-based line of the error.
    pub line: usize,
    /// What the parser said.
    pub message: String,
}

/// One YAML document as JSON, with the line where each field starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's content.
    pub value: Value,
    /// 1-based line where the document's content starts.
    pub line: usize,
    /// Line of every node, keyed by JSON pointer ("/spec/retry/schedule/1").
    pub lines: BTreeMap<String, usize>,
}

impl Document {
    /// The line of the node at `pointer`, or of its nearest ancestor that has one.
    pub fn line_of(&self, pointer: &str) -> usize {
        let mut p = pointer;
        loop {
            if let Some(line) = self.lines.get(p) {
                return *line;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.line,
            }
        }
    }
}

/// Parses every document of a YAML stream; empty documents are skipped.
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: e.info().to_owned(),
    })?;
    let mut out = Vec::new();
    for doc in &docs {
        if matches!(doc.data, YamlData::Value(Scalar::Null)) {
            continue;
        }
        let mut lines = BTreeMap::new();
        let value = convert(doc, String::new(), &mut lines)?;
        out.push(Document {
            value,
            line: doc.span.start.line(),
            lines,
        });
    }
    Ok(out)
}

fn convert(
    node: &MarkedYaml,
    pointer: String,
    lines: &mut BTreeMap<String, usize>,
) -> Result<Value, SyntaxError> {
    let line = node.span.start.line();
    lines.insert(pointer.clone(), line);
    let err = |message: String| SyntaxError { line, message };
    Ok(match &node.data {
        YamlData::Value(scalar) => scalar_to_json(scalar).map_err(err)?,
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, format!("{pointer}/{i}"), lines))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut obj = Map::new();
            for (k, v) in map {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(other) => match scalar_to_json(other).map_err(err)? {
                        Value::String(s) => s,
                        v => v.to_string(),
                    },
                    _ => return Err(err("mapping keys must be scalars".into())),
                };
                let child = format!("{pointer}/{}", escape_pointer(&key));
                // The key's line is where a field "starts"; a block value starts a line later.
                let value = convert(v, child.clone(), lines)?;
                lines.insert(child, k.span.start.line());
                if obj.insert(key.clone(), value).is_some() {
                    return Err(SyntaxError {
                        line: k.span.start.line(),
                        message: format!("duplicate key {key:?}"),
                    });
                }
            }
            Value::Object(obj)
        }
        YamlData::Tagged(_, inner) => convert(inner, pointer, lines)?,
        YamlData::Alias(_) => return Err(err("YAML aliases are not supported".into())),
        YamlData::BadValue => return Err(err("invalid YAML value".into())),
        YamlData::Representation(..) => return Err(err("unresolved YAML scalar".into())),
    })
}

fn scalar_to_json(scalar: &Scalar) -> Result<Value, String> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => Number::from_f64(f.into_inner())
            .map(Value::Number)
            .ok_or_else(|| format!("number {f} cannot be represented in JSON"))?,
        Scalar::String(s) => Value::String(s.to_string()),
    })
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Renders a JSON value as one YAML document, starting with `---`.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline(true);
    emitter
        .dump(&json_to_yaml(value))
        .expect("writing to a String cannot fail");
    out.push('\n');
    out
}

/// Renders several values as a multi-document YAML stream.
pub fn to_yaml_stream<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    values.into_iter().map(to_yaml).collect()
}

fn json_to_yaml(value: &Value) -> Yaml<'static> {
    match value {
        Value::Null => Yaml::Value(Scalar::Null),
        Value::Bool(b) => Yaml::Value(Scalar::Boolean(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Value(Scalar::Integer(i)),
            None => Yaml::Value(Scalar::FloatingPoint(n.as_f64().unwrap_or(f64::NAN).into())),
        },
        Value::String(s) => Yaml::Value(Scalar::String(s.clone().into())),
        Value::Array(items) => Yaml::Sequence(items.iter().map(json_to_yaml).collect()),
        Value::Object(map) => Yaml::Mapping(
            map.iter()
                .map(|(k, v)| {
                    (
                        Yaml::Value(Scalar::String(k.clone().into())),
                        json_to_yaml(v),
                    )
                })
                .collect(),
        ),
    }
}
