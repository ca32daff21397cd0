//! Checking a document against its CRD as the API server would: structure and CEL rules.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::api::crds;

/// A field that breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer of the offending field ("/spec/retry/schedule/1").
    pub pointer: String,
    /// What is wrong, naming the field.
    pub message: String,
}

/// Compiled validators for every kind.
pub struct SchemaChecker {
    kinds: HashMap<String, KindSchema>,
    cel: kube_cel::Validator,
}

struct KindSchema {
    structural: jsonschema::Validator,
    cel: kube_cel::CompiledSchema,
}

impl Default for SchemaChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl SchemaChecker {
    /// Compiles the schemas of every CRD.
    pub fn new() -> Self {
        let mut kinds = HashMap::new();
        for crd in crds::all_json() {
            let kind = crd["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            let namespaced = crd["spec"]["scope"] == "Namespaced";
            let structural = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&to_json_schema(schema, true, namespaced))
                .expect("generated CRD schemas are valid JSON Schema");
            let cel = kube_cel::compile_schema(schema);
            kinds.insert(kind, KindSchema { structural, cel });
        }
        Self {
            kinds,
            cel: kube_cel::Validator::new(),
        }
    }

    /// Checks `object` (a whole resource) of `kind`; CEL rules run only on a structurally
    /// valid object, as in the API server.
    pub fn check(&self, kind: &str, object: &Value) -> Vec<FieldError> {
        let Some(schema) = self.kinds.get(kind) else {
            return vec![FieldError {
                pointer: "/kind".into(),
                message: format!("unknown kind {kind:?}"),
            }];
        };
        let mut object = object.clone();
        if let Some(map) = object.as_object_mut() {
            // The status subresource is ignored on create and update of the main resource.
            map.remove("status");
        }
        let mut errors: Vec<FieldError> = schema
            .structural
            .iter_errors(&object)
            .map(|e| structural_error(&e))
            .collect();
        if errors.is_empty()
            && let Err(cel_errors) = self.cel.validate_compiled(&schema.cel, &object, None)
        {
            errors.extend(cel_errors.iter().map(|e| FieldError {
                pointer: path_to_pointer(&e.field_path),
                message: format!("{}: {}", display_path(&e.field_path), e.message),
            }));
        }
        errors.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        errors.dedup();
        errors
    }
}

fn structural_error(e: &jsonschema::ValidationError<'_>) -> FieldError {
    use jsonschema::error::ValidationErrorKind as K;
    let pointer = e.instance_path().as_str().to_owned();
    let field = pointer_to_path(&pointer);
    let message = match e.kind() {
        K::AdditionalProperties { unexpected } => {
            let names: Vec<_> = unexpected
                .iter()
                .map(|u| format!("{field}.{u}").trim_start_matches('.').to_owned())
                .collect();
            return FieldError {
                pointer: format!("{pointer}/{}", crate::yaml::escape_pointer(&unexpected[0])),
                message: format!(
                    "unknown field {}",
                    names
                        .iter()
                        .map(|n| format!("{n:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        }
        K::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let full = if field.is_empty() {
                name.to_owned()
            } else {
                format!("{field}.{name}")
            };
            format!("{full}: Required value")
        }
        K::Enum { options } => {
            let supported: Vec<String> = options
                .as_array()
                .map(|o| {
                    o.iter()
                        .filter(|v| !v.is_null())
                        .map(|v| v.to_string())
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{field}: Unsupported value: {}: supported values: {}",
                e.instance(),
                supported.join(", ")
            )
        }
        _ => format!(
            "{}: Invalid value: {}",
            if field.is_empty() { "<root>" } else { &field },
            e
        ),
    };
    FieldError { pointer, message }
}

/// Turns "/spec/retry/schedule/1" into "spec.retry.schedule[1]".
fn pointer_to_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// Turns kube-cel's "spec.retry.schedule[1]" into a JSON pointer.
fn path_to_pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            out.push('/');
            out.push_str(&crate::yaml::escape_pointer(&rest[..i]));
            rest = &rest[i..];
            while let Some(end) = rest.find(']') {
                out.push('/');
                out.push_str(rest[1..end].trim_matches('\''));
                rest = &rest[end + 1..];
            }
        } else {
            out.push('/');
            out.push_str(&crate::yaml::escape_pointer(rest));
        }
    }
    out
}

fn display_path(path: &str) -> &str {
    if path.is_empty() { "<root>" } else { path }
}

/// Converts a CRD's OpenAPI v3 schema into a JSON Schema that also refuses unknown fields
/// (kubectl's strict field validation) and handles `nullable`.
fn to_json_schema(schema: &Value, root: bool, namespaced: bool) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "properties" => {
                let props = v.as_object().map(|p| {
                    p.iter()
                        .map(|(name, s)| (name.clone(), to_json_schema(s, false, namespaced)))
                        .collect::<Map<_, _>>()
                });
                out.insert(k.clone(), Value::Object(props.unwrap_or_default()));
            }
            "items" | "additionalProperties" if v.is_object() => {
                out.insert(k.clone(), to_json_schema(v, false, namespaced));
            }
            "nullable" | "format" => {}
            k if k.starts_with("x-kubernetes-") => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
        if let Some(Value::Array(options)) = out.get_mut("enum") {
            options.push(Value::Null);
        }
    }
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if map.get("type") == Some(&json!("object"))
        && !preserve
        && !map.contains_key("additionalProperties")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    if root {
        let props = out.entry("properties").or_insert_with(|| json!({}));
        let props = props.as_object_mut().expect("properties is an object");
        props.insert(
            "apiVersion".into(),
            json!({"const": crate::api::API_VERSION}),
        );
        props.insert("kind".into(), json!({"type": "string"}));
        let mut meta = json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 253,
                          "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"},
                "namespace": {"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        });
        if !namespaced {
            meta["properties"]["namespace"] = json!({"not": {}, "description": "cluster-scoped"});
        }
        props.insert("metadata".into(), meta);
        let required = out.entry("required").or_insert_with(|| json!([]));
        if let Some(list) = required.as_array_mut() {
            list.extend([json!("apiVersion"), json!("kind"), json!("metadata")]);
        }
    }
    out.remove("title");
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_pointers_convert_both_ways() {
        assert_eq!(
            pointer_to_path("/spec/retry/schedule/1"),
            "spec.retry.schedule[1]"
        );
        assert_eq!(
            path_to_pointer("spec.retry.schedule[1]"),
            "/spec/retry/schedule/1"
        );
        assert_eq!(path_to_pointer("spec.route"), "/spec/route");
    }

    #[test]
    fn unknown_field_and_cel_rule_are_reported_with_their_paths() {
        let checker = SchemaChecker::new();
        let base = json!({
            "apiVersion": "switchboard.dev/v1alpha1", "kind": "WebhookEndpoint",
            "metadata": {"name": "e", "namespace": "n"},
            "spec": {"verify": {"scheme": "None"}, "route": {"publish": {}}}
        });
        assert_eq!(checker.check("WebhookEndpoint", &base), vec![]);

        let mut unknown = base.clone();
        unknown["spec"]["rout"] = json!({});
        let errs = checker.check("WebhookEndpoint", &unknown);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].pointer, "/spec/rout");
        assert!(
            errs[0].message.contains("unknown field \"spec.rout\""),
            "{}",
            errs[0].message
        );

        let mut empty_route = base.clone();
        empty_route["spec"]["route"] = json!({});
        let errs = checker.check("WebhookEndpoint", &empty_route);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].pointer, "/spec/route");
        assert!(
            errs[0].message.contains("a route needs publish or forward"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn defaults_apply_before_cel_rules() {
        // Auth.type defaults to None, so a rule reading self.type must not fail on omission.
        let checker = SchemaChecker::new();
        let obj = json!({
            "apiVersion": "switchboard.dev/v1alpha1", "kind": "Integration",
            "metadata": {"name": "i", "namespace": "n"},
            "spec": {"baseUrl": "https://api.example.com", "auth": {}}
        });
        assert_eq!(checker.check("Integration", &obj), vec![]);
    }
}
