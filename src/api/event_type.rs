//! EventType: one entry of a namespace's event catalog (the type, what it means, the JSON
//! Schema its `data` must satisfy, deprecation and examples).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{any_value, conditions_schema, free_object};

/// One event type of the namespace's catalog: its description and category, the JSON Schema
/// its data must satisfy (published and received events that do not are refused with 422),
/// deprecation and examples.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "switchboard.dev",
    doc = "One event type of the namespace's catalog: its description and category, the JSON Schema its data must satisfy (published and received events that do not are refused with 422), deprecation and examples.",
    version = "v1alpha1",
    kind = "EventType",
    namespaced,
    status = "EventTypeStatus",
    shortname = "evt",
    category = "switchboard",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".status.type"}"#,
    printcolumn = r#"{"name":"Category","type":"string","jsonPath":".spec.category"}"#,
    printcolumn = r#"{"name":"Deprecated","type":"boolean","jsonPath":".spec.deprecated"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeSpec {
    /// The event type, when it is not the resource's name (a type that is not a valid
    /// Kubernetes name, such as "Invoice_Paid" or "order:created"). Default: metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.contains('*') && !self.matches('[\\\\s]')",
        "message": "must not contain '*' or whitespace"
    }]))]
    pub r#type: Option<String>,
    /// What the event means, for the people who subscribe to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub description: Option<String>,
    /// A group for the catalog listing ("billing", "crm", …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub category: Option<String>,
    /// JSON Schema (2020-12) the event's `data` must satisfy; events that do not are refused
    /// (422). Default: any data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_object")]
    pub schema: Option<serde_json::Value>,
    /// The type is deprecated: still accepted, listed as such.
    #[serde(default)]
    pub deprecated: bool,
    /// What to use instead, when deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub deprecation_message: Option<String>,
    /// Example data; each must satisfy the schema (checked on apply and by `validate`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub examples: Vec<EventTypeExample>,
}

/// One example of an event type's data.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeExample {
    /// A short name for the example.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub name: Option<String>,
    /// The example's data.
    #[schemars(schema_with = "any_value")]
    pub data: serde_json::Value,
}

impl EventTypeSpec {
    /// The event type this resource describes: `spec.type`, or else the resource's name.
    pub fn event_type<'a>(&'a self, name: &'a str) -> &'a str {
        self.r#type.as_deref().unwrap_or(name)
    }
}

/// Observed state of an EventType.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready: the schema compiles, every example satisfies it and no other EventType of the
    /// namespace has the same type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The event type described (spec.type or metadata.name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
}
