//! Input and output JSON Schemas (2020-12), compiled once, with failures listed by instance
//! path and keyword.

use std::fmt;

use serde_json::Value;

/// A JSON Schema that does not compile.
#[derive(Debug, thiserror::Error)]
#[error("not a valid JSON Schema")]
pub struct SchemaError {
    /// What the schema compiler said.
    #[source]
    pub source: jsonschema::ValidationError<'static>,
}

impl SchemaError {
    /// JSON pointer, inside the schema, of the part that does not compile ("" for the root).
    pub fn schema_pointer(&self) -> &str {
        self.source.instance_path().as_str()
    }
}

/// One way an instance fails its schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the instance ("" for the root, "/commits/0/id").
    pub instance_path: String,
    /// The schema keyword that failed ("required", "type", …).
    pub keyword: String,
    /// The validator's message.
    pub message: String,
}

/// Every way an instance fails its schema (never empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let path = if v.instance_path.is_empty() {
                "/"
            } else {
                &v.instance_path
            };
            write!(f, "at {path} ({}): {}", v.keyword, v.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// Event data that does not satisfy the JSON Schema its event type declares (an EventType of
/// the namespace's catalog).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("data does not satisfy the schema of event type {event_type:?}")]
pub struct DataRejected {
    /// The event type.
    pub event_type: String,
    /// How the data fails the schema.
    #[source]
    pub violations: Violations,
}

/// A compiled JSON Schema.
pub struct Schema(jsonschema::Validator);

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Schema(..)")
    }
}

impl Schema {
    /// Compiles a JSON Schema 2020-12 document.
    pub fn compile(schema: &Value) -> Result<Self, SchemaError> {
        jsonschema::draft202012::new(schema)
            .map(Self)
            .map_err(|source| SchemaError { source })
    }

    /// Checks an instance; lists every failure.
    pub fn check(&self, instance: &Value) -> Result<(), Violations> {
        let violations: Vec<Violation> = self
            .0
            .iter_errors(instance)
            .map(|e| Violation {
                instance_path: e.instance_path().as_str().to_owned(),
                keyword: e.kind().keyword().to_owned(),
                message: crate::error_chain::render(&e),
            })
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Violations(violations))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_each_failing_path_and_keyword() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "required": ["id"],
            "properties": {"items": {"type": "array", "items": {"type": "integer"}}}
        }))
        .unwrap();
        let err = schema.check(&json!({"items": [1, "two"]})).unwrap_err();
        let found: Vec<(&str, &str)> = err
            .0
            .iter()
            .map(|v| (v.instance_path.as_str(), v.keyword.as_str()))
            .collect();
        assert_eq!(found, [("", "required"), ("/items/1", "type")]);
        let text = err.to_string();
        assert!(
            text.contains("at / (required): \"id\" is a required property"),
            "{text}"
        );
        assert!(text.contains("at /items/1 (type): "), "{text}");
        assert!(schema.check(&json!({"id": 1, "items": [1]})).is_ok());
    }

    #[test]
    fn invalid_schema_does_not_compile() {
        let e = Schema::compile(&json!({"type": "strnig"})).unwrap_err();
        assert!(e.to_string().starts_with("not a valid JSON Schema"), "{e}");
    }
}
