//! Transformation: a jq program with formats, JSON Schemas and embedded tests.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{any_value, conditions_schema, free_object};

/// A jq program that reshapes payloads, with optional input/output JSON Schemas and test
/// cases that run whenever the resource is applied or validated.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "A jq program that reshapes payloads, with optional input/output JSON Schemas and test cases that run whenever the resource is applied or validated.",
    version = "v1alpha1",
    kind = "Transformation",
    namespaced,
    status = "TransformationStatus",
    shortname = "tf",
    category = "switchboard",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Passed","type":"integer","jsonPath":".status.testsPassed"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.testsFailed"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TransformationSpec {
    /// The jq program. `.` is the payload; `$meta` is {eventType, namespace, source, headers,
    /// receivedAt}.
    #[schemars(length(min = 1, max = 65536))]
    pub jq: String,
    /// How the raw payload is read: Json, Form (urlencoded; repeated keys become arrays) or
    /// Text (one string). Default: Json.
    #[serde(default)]
    pub input_format: InputFormat,
    /// How the result is written: Json or Form. Default: Json.
    #[serde(default)]
    pub output_format: OutputFormat,
    /// JSON Schema (2020-12) the input must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_object")]
    pub input_schema: Option<serde_json::Value>,
    /// JSON Schema (2020-12) the output must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_object")]
    pub output_schema: Option<serde_json::Value>,
    /// Test cases run on apply and by `switchboard validate`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub tests: Vec<TransformationTest>,
}

/// Formats a payload can be read in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum InputFormat {
    /// A JSON document.
    #[default]
    Json,
    /// application/x-www-form-urlencoded; repeated keys become arrays.
    Form,
    /// Plain text, seen by the program as one string.
    Text,
}

/// Formats a result can be written in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = crate::api::common::drop_description)]
pub enum OutputFormat {
    /// A JSON document.
    #[default]
    Json,
    /// application/x-www-form-urlencoded from a flat object.
    Form,
}

/// One embedded test: the program applied to `input` must give `expect` (or fail with
/// `expectError`); exactly one of the two is set (checked by `validate` and on apply: CEL
/// cannot test the presence of an untyped field).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformationTest {
    /// Test name, unique within the Transformation.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// The payload: a JSON value for Json input, a string for Form and Text input.
    #[schemars(schema_with = "any_value")]
    pub input: serde_json::Value,
    /// `$meta` fields for this test (eventType, namespace, source, headers, receivedAt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_object")]
    pub meta: Option<serde_json::Value>,
    /// The expected output (for Form output, the object before encoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "any_value")]
    pub expect: Option<serde_json::Value>,
    /// Expect the transformation to fail with an error containing this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub expect_error: Option<String>,
}

/// Observed state of a Transformation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformationStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the program compiles and every test passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Embedded tests that passed.
    #[serde(default)]
    pub tests_passed: u32,
    /// Embedded tests that failed.
    #[serde(default)]
    pub tests_failed: u32,
}
