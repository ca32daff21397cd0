//! The namespaces' event catalogs (EventType). Each EventType's schema is compiled by its
//! piece, once per change (never per request); the [`Catalog`] built from the pieces at every
//! apply is what the publish API and the receivers look an event's type up in: a type without
//! a schema costs one map lookup. Also here: the static checks of an EventType (schema,
//! examples, one EventType per type) and the `Cataloged` warning on subscriptions whose
//! patterns match no type of a namespace that has a catalog.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::api::pattern::Pattern;
use crate::api::{EventTypeSpec, Kind};
use crate::error_chain::chain;
use crate::store::Payload;
use crate::transform::schema::{DataRejected, Schema, Violation, Violations};

use super::jq_check::Finding;
use super::piece::{BuildError, Piece, Pieces};
use super::snapshot::{Object, ObjectKey, Snapshot};
use super::status::StatusBoard;

/// The condition a WebhookSubscription gets in a namespace that has a catalog: False (a
/// warning; Ready is unaffected) when its eventTypes match no EventType there.
pub const CATALOGED: &str = "Cataloged";

/// Most schema violations an error answer lists.
const MAX_VIOLATIONS: usize = 10;
/// Longest violation message an error answer shows (the validator quotes the data).
const MAX_VIOLATION_CHARS: usize = 300;

/// A valid EventType: its type and compiled schema.
#[derive(Debug)]
pub struct EventTypePiece {
    spec: EventTypeSpec,
    /// The event type described.
    pub event_type: String,
    /// The compiled schema of its data, if it declares one.
    pub schema: Option<Arc<Schema>>,
}

impl Piece for EventTypePiece {
    type Inputs = EventTypeSpec;
    type Context = ();
    const KIND: Kind = Kind::EventType;

    fn inputs(&self) -> &EventTypeSpec {
        &self.spec
    }

    /// Compiles the schema (the static checks have already run its examples).
    fn build(
        key: &ObjectKey,
        obj: &Object<EventTypeSpec>,
        _: &(),
        _previous: Option<&Arc<Self>>,
    ) -> Result<Self, BuildError> {
        let schema = compile(&obj.spec).map_err(|f| BuildError {
            reason: f.reason,
            message: f.message,
        })?;
        Ok(Self {
            event_type: obj.spec.event_type(&key.name).to_owned(),
            schema: schema.map(Arc::new),
            spec: obj.spec.clone(),
        })
    }
}

/// What every EventType of the snapshot is built from.
pub fn desired(snap: &Snapshot) -> impl Iterator<Item = (ObjectKey, Object<EventTypeSpec>)> + '_ {
    snap.event_types
        .iter()
        .map(|(key, obj)| (key.clone(), obj.clone()))
}

fn compile(spec: &EventTypeSpec) -> Result<Option<Schema>, Finding> {
    let Some(schema) = &spec.schema else {
        return Ok(None);
    };
    Schema::compile(schema).map(Some).map_err(|e| Finding {
        pointer: format!("/spec/schema{}", e.schema_pointer()),
        reason: "InvalidSchema",
        message: format!("spec.schema: {}", chain(&e)),
    })
}

/// Checks one EventType: its schema compiles and each example satisfies it.
pub fn findings(spec: &EventTypeSpec) -> Vec<Finding> {
    let schema = match compile(spec) {
        Ok(Some(schema)) => schema,
        Ok(None) => return Vec::new(),
        Err(finding) => return vec![finding],
    };
    spec.examples
        .iter()
        .enumerate()
        .filter_map(|(i, example)| {
            let violations = schema.check(&example.data).err()?;
            let name = example
                .name
                .as_deref()
                .map(|n| format!(" ({n:?})"))
                .unwrap_or_default();
            Some(Finding {
                pointer: format!("/spec/examples/{i}"),
                reason: "InvalidExample",
                message: format!(
                    "spec.examples[{i}]{name} does not satisfy spec.schema: {}",
                    bounded(violations)
                ),
            })
        })
        .collect()
}

/// EventTypes that describe a type another EventType of their namespace (first by name)
/// already describes.
pub fn duplicates(snap: &Snapshot) -> Vec<(ObjectKey, Finding)> {
    let mut first: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    let mut out = Vec::new();
    for (key, obj) in &snap.event_types {
        let event_type = obj.spec.event_type(&key.name);
        match first.get(&(key.namespace.as_str(), event_type)) {
            Some(other) => out.push((key.clone(), Finding {
                pointer: if obj.spec.r#type.is_some() {
                    "/spec/type".into()
                } else {
                    "/metadata/name".into()
                },
                message: format!(
                    "EventType {other:?} of this namespace already describes type {event_type:?}"
                ),
                reason: "DuplicateType",
            })),
            None => {
                first.insert((key.namespace.as_str(), event_type), key.name.as_str());
            }
        }
    }
    out
}

/// The compiled schemas of the running EventTypes, by namespace and type.
#[derive(Debug, Default)]
pub struct Catalog(HashMap<String, HashMap<String, Arc<Schema>>>);

impl Catalog {
    /// The schemas of the running EventTypes (the first by name, for a type described twice).
    pub fn new(pieces: &Pieces<EventTypePiece>) -> Self {
        let mut by_namespace: HashMap<String, HashMap<String, Arc<Schema>>> = HashMap::new();
        for (key, piece) in pieces {
            if let Some(schema) = &piece.schema {
                by_namespace
                    .entry(key.namespace.clone())
                    .or_default()
                    .entry(piece.event_type.clone())
                    .or_insert_with(|| schema.clone());
            }
        }
        Self(by_namespace)
    }

    /// Checks an event's data against the schema of its type in the namespace's catalog (a
    /// type without one takes any data, and its text is never read).
    pub fn check(
        &self,
        namespace: &str,
        event_type: &str,
        data: &Payload,
    ) -> Result<(), DataRejected> {
        let Some(schema) = self
            .0
            .get(namespace)
            .and_then(|types| types.get(event_type))
        else {
            return Ok(());
        };
        // A number beyond f64 (1e400) is valid JSON that a value cannot hold: a violation.
        let checked = match data.to_value() {
            Ok(value) => schema.check(&value),
            Err(e) => Err(Violations(vec![Violation {
                instance_path: String::new(),
                keyword: "number".into(),
                message: format!("the data cannot be checked against the schema: {e}"),
            }])),
        };
        checked.map_err(|violations| DataRejected {
            event_type: event_type.to_owned(),
            violations: bounded(violations),
        })
    }
}

/// The first violations, each message cut short: what an answer or a condition shows.
fn bounded(Violations(all): Violations) -> Violations {
    let shown = all
        .into_iter()
        .take(MAX_VIOLATIONS)
        .map(|v| Violation {
            message: cut(v.message),
            ..v
        })
        .collect();
    Violations(shown)
}

fn cut(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_VIOLATION_CHARS) {
        text.truncate(at);
        text.push('…');
    }
    text
}

/// Reports the type each EventType describes (status.type) and, on every subscription of a
/// namespace that has a catalog, whether its eventTypes match any of it (the `Cataloged`
/// condition; removed where the namespace has no catalog).
pub fn report(board: &StatusBoard, snap: &Snapshot) {
    let mut catalogs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (key, obj) in &snap.event_types {
        let event_type = obj.spec.event_type(&key.name);
        catalogs
            .entry(key.namespace.as_str())
            .or_default()
            .insert(event_type);
        let fields = serde_json::Map::from_iter([("type".to_owned(), event_type.into())]);
        board.set_fields(Kind::EventType, key, fields);
    }
    for (key, obj) in &snap.subscriptions {
        let Some(types) = catalogs.get(key.namespace.as_str()) else {
            board.remove_condition(Kind::WebhookSubscription, key, CATALOGED);
            continue;
        };
        let patterns: Vec<Pattern> = obj
            .spec
            .event_types
            .iter()
            .map(|p| Pattern::new(p))
            .collect();
        let matched = types
            .iter()
            .filter(|t| patterns.iter().any(|p| p.matches(t)))
            .count();
        let generation = obj.meta.generation;
        let kind = Kind::WebhookSubscription;
        if matched > 0 {
            let message = format!("spec.eventTypes match {matched} EventType(s) of the namespace");
            board.set_condition(kind, key, generation, CATALOGED, true, "Matched", &message);
        } else {
            let message = format!(
                "spec.eventTypes {:?} match no EventType of namespace {:?}; its catalog has: {}",
                obj.spec.event_types,
                key.namespace,
                listing(types),
            );
            board.set_condition(
                kind,
                key,
                generation,
                CATALOGED,
                false,
                "NoMatchingEventType",
                &message,
            );
        }
    }
}

/// The first types of a catalog, for a message.
fn listing(types: &BTreeSet<&str>) -> String {
    const SHOWN: usize = 10;
    let mut text = types
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if types.len() > SHOWN {
        text.push_str(&format!(", … ({} in all)", types.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::engine::snapshot::Meta;

    fn p(value: Value) -> Payload {
        Payload::from_value(&value).unwrap()
    }

    fn spec(value: Value) -> EventTypeSpec {
        serde_json::from_value(value).expect("an EventType spec")
    }

    fn object<S>(spec: S) -> Object<S> {
        Object {
            meta: Meta::default(),
            spec,
        }
    }

    #[test]
    fn an_invalid_schema_is_reported_where_it_is_wrong() {
        let found = findings(&spec(
            json!({"schema": {"properties": {"a": {"type": "numbr"}}}}),
        ));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].reason, "InvalidSchema");
        assert_eq!(found[0].pointer, "/spec/schema/properties/a/type");
        assert!(
            found[0]
                .message
                .starts_with("spec.schema: not a valid JSON Schema: "),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn each_example_that_fails_the_schema_is_reported() {
        let found = findings(&spec(json!({
            "schema": {"type": "object", "required": ["id"]},
            "examples": [{"data": {"id": 1}}, {"name": "empty", "data": {}}, {"data": 3}]
        })));
        let pointers: Vec<&str> = found.iter().map(|f| f.pointer.as_str()).collect();
        assert_eq!(pointers, ["/spec/examples/1", "/spec/examples/2"]);
        assert!(
            found[0].message.contains(
                "spec.examples[1] (\"empty\") does not satisfy spec.schema: at / (required)"
            ),
            "{}",
            found[0].message
        );
        assert!(findings(&spec(json!({"examples": [{"data": 1}]}))).is_empty());
    }

    #[test]
    fn a_type_described_twice_is_a_problem_of_the_second() {
        let mut snap = Snapshot::default();
        for (ns, name, ty) in [
            ("a", "invoice.paid", None),
            ("a", "paid-again", Some("invoice.paid")),
            ("b", "invoice.paid", None),
        ] {
            let s = spec(json!({"type": ty}));
            snap.event_types.insert(ObjectKey::new(ns, name), object(s));
        }
        let found = duplicates(&snap);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, ObjectKey::new("a", "paid-again"));
        assert_eq!(
            (found[0].1.reason, found[0].1.pointer.as_str()),
            ("DuplicateType", "/spec/type")
        );
    }

    fn piece(ns: &str, name: &str, value: Value) -> (ObjectKey, Arc<EventTypePiece>) {
        let key = ObjectKey::new(ns, name);
        let built = EventTypePiece::build(&key, &object(spec(value)), &(), None).unwrap();
        (key, Arc::new(built))
    }

    #[test]
    fn the_catalog_checks_data_of_typed_schemas_in_their_namespace_only() {
        let pieces: Pieces<EventTypePiece> = [
            piece(
                "a",
                "order.created",
                json!({"schema": {"type": "object", "required": ["id"]}}),
            ),
            piece(
                "a",
                "legacy",
                json!({"type": "Order_Placed", "schema": {"type": "integer"}}),
            ),
            piece("a", "free", json!({})),
        ]
        .into_iter()
        .collect();
        let catalog = Catalog::new(&pieces);
        assert!(
            catalog
                .check("a", "order.created", &p(json!({"id": 1})))
                .is_ok()
        );
        let err = catalog
            .check("a", "order.created", &p(json!({})))
            .unwrap_err();
        assert_eq!(
            crate::error_chain::render(&err),
            "data does not satisfy the schema of event type \"order.created\": at / (required): \"id\" is a required property"
        );
        assert!(catalog.check("a", "Order_Placed", &p(json!("x"))).is_err());
        assert!(
            catalog.check("a", "legacy", &p(json!("x"))).is_ok(),
            "the type, not the name"
        );
        assert!(catalog.check("a", "free", &p(json!("x"))).is_ok());
        assert!(catalog.check("b", "order.created", &p(json!({}))).is_ok());
        let huge = Payload::from_json(r#"{"id": 1e400}"#.to_owned()).unwrap();
        let err = catalog.check("a", "order.created", &huge).unwrap_err();
        assert_eq!(
            err.violations.0[0].keyword, "number",
            "refused, not a panic"
        );
        assert!(
            catalog.check("a", "free", &huge).is_ok(),
            "no schema: never read"
        );
    }

    #[test]
    fn violations_shown_are_bounded() {
        let pieces: Pieces<EventTypePiece> = [piece(
            "a",
            "t",
            json!({"schema": {"items": {"type": "string"}}}),
        )]
        .into_iter()
        .collect();
        let long = "y".repeat(5000);
        let data: Vec<Value> = (0..50).map(|_| json!({ "x": long })).collect();
        let err = Catalog::new(&pieces)
            .check("a", "t", &p(Value::Array(data)))
            .unwrap_err();
        assert_eq!(err.violations.0.len(), MAX_VIOLATIONS);
        assert!(
            err.violations
                .0
                .iter()
                .all(|v| v.message.chars().count() <= MAX_VIOLATION_CHARS + 1)
        );
    }

    #[test]
    fn subscriptions_matching_nothing_of_a_catalog_are_warned() {
        let mut snap = Snapshot::default();
        snap.event_types.insert(
            ObjectKey::new("a", "order.created"),
            object(spec(json!({}))),
        );
        for (ns, name, patterns) in [
            ("a", "good", json!(["order.*"])),
            ("a", "typo", json!(["orders.*"])),
            ("b", "elsewhere", json!(["nothing"])),
        ] {
            let sub = serde_json::from_value(
                json!({"url": "https://x.example.com", "eventTypes": patterns}),
            )
            .unwrap();
            snap.subscriptions
                .insert(ObjectKey::new(ns, name), object(sub));
        }
        let board = StatusBoard::new();
        report(&board, &snap);
        let cataloged = |ns: &str, name: &str| {
            board
                .get(Kind::WebhookSubscription, &ObjectKey::new(ns, name))
                .and_then(|s| s.condition(CATALOGED).cloned())
        };
        assert_eq!(cataloged("a", "good").unwrap().status, "True");
        let typo = cataloged("a", "typo").unwrap();
        assert_eq!(
            (typo.status.as_str(), typo.reason.as_str()),
            ("False", "NoMatchingEventType")
        );
        assert!(
            typo.message.contains("its catalog has: order.created"),
            "{}",
            typo.message
        );
        assert!(cataloged("b", "elsewhere").is_none(), "no catalog in b");
        let status = board
            .get(Kind::EventType, &ObjectKey::new("a", "order.created"))
            .unwrap();
        assert_eq!(status.fields["type"], "order.created");

        // The namespace's last EventType gone: the condition goes too.
        snap.event_types.clear();
        report(&board, &snap);
        assert!(cataloged("a", "typo").is_none());
    }
}
