//! `switchboard validate`: every check the API server makes, plus the whole-snapshot ones,
//! reported as `FILE:LINE: Kind/namespace/name: message`.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;

use crate::api::{API_VERSION, Kind};
use crate::engine::check::{CheckOptions, check};
use crate::engine::snapshot::{
    InsertError, Meta, ObjectKey, SecretObject, SecretValue, Snapshot, values_wanted,
};
use crate::error_chain::render;

use super::load::SourceDoc;
use super::schema::SchemaChecker;

/// One problem, located in a file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    /// The file.
    pub file: PathBuf,
    /// 1-based line where the offending document or field starts.
    pub line: usize,
    /// "Kind/namespace/name" (or "Kind/name" for cluster-scoped kinds); empty when unknown.
    pub resource: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resource.is_empty() {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.resource,
                self.message
            )
        }
    }
}

/// Options of `validate`.
pub type ValidateOptions = CheckOptions;

/// The outcome of validating a set of documents.
#[derive(Debug, Default)]
pub struct Validated {
    /// The snapshot of every resource that passed the schema checks.
    pub snapshot: Snapshot,
    /// Every problem found, sorted by file and line.
    pub diagnostics: Vec<Diagnostic>,
    /// Resources of our group seen (valid or not).
    pub resources: usize,
    /// Resources that failed their schema (not in the snapshot), one problem each.
    pub rejected: Vec<crate::engine::Problem>,
}

/// Where each resource of a snapshot was defined.
type Origins<'a> = HashMap<(Kind, ObjectKey), &'a SourceDoc>;

/// Validates documents: schema and CEL per document, then references and the rest across
/// all of them. Documents of other groups are passed over; Secrets are read for references.
pub fn validate_docs(docs: &[SourceDoc], opts: ValidateOptions) -> Validated {
    let checker = SchemaChecker::new();
    let mut out = Validated::default();
    let mut origins: Origins<'_> = HashMap::new();
    for doc in docs {
        let Some(api_version) = doc.api_version() else {
            out.diagnostics
                .push(at(doc, "/", String::new(), "apiVersion is missing".into()));
            continue;
        };
        let kind = doc.kind().unwrap_or_default();
        if api_version == "v1" && kind == "Secret" {
            if let Err(message) = add_secret(&mut out.snapshot, doc) {
                out.diagnostics
                    .push(at(doc, "/", format!("Secret/{}", name_of(doc)), message));
            }
            continue;
        }
        if api_version.split('/').next() != Some(crate::api::GROUP) {
            continue;
        }
        out.resources += 1;
        let Some(k) = Kind::from_kind(kind) else {
            out.diagnostics.push(at(
                doc,
                "/kind",
                String::new(),
                format!("unknown kind {kind:?} in {API_VERSION}"),
            ));
            continue;
        };
        let key = key_of(doc, k);
        let label = resource_label(k, &key);
        let errors = checker.check(kind, &doc.doc.value);
        if !errors.is_empty() {
            let message = errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            out.rejected.push(rejected(k, &key, doc, message));
            for e in errors {
                out.diagnostics
                    .push(at(doc, &e.pointer, label.clone(), e.message));
            }
            continue;
        }
        let meta = meta_of(&doc.doc.value);
        let spec = doc.doc.value.get("spec").cloned().unwrap_or_default();
        match out.snapshot.insert_json(k, key.clone(), meta, spec) {
            Ok(()) => {
                origins.insert((k, key), doc);
            }
            Err(InsertError::Duplicate { .. }) => {
                let first = origins
                    .get(&(k, key.clone()))
                    .map(|d| format!(" (first at {}:{})", d.file.display(), d.doc.line));
                out.diagnostics.push(at(
                    doc,
                    "/metadata/name",
                    label,
                    format!("defined twice{}", first.unwrap_or_default()),
                ));
            }
            Err(e @ InsertError::Decode { .. }) => {
                out.rejected.push(rejected(k, &key, doc, render(&e)));
                out.diagnostics.push(at(doc, "/spec", label, render(&e)));
            }
        }
    }
    for p in check(&out.snapshot, opts) {
        let label = resource_label(p.kind, &p.key);
        match origins.get(&(p.kind, p.key.clone())) {
            Some(doc) => out.diagnostics.push(at(doc, &p.pointer, label, p.message)),
            None => out.diagnostics.push(Diagnostic {
                file: PathBuf::new(),
                line: 0,
                resource: label,
                message: p.message,
            }),
        }
    }
    out.diagnostics.sort();
    out
}

/// A resource refused by its schema, for the engine (which keeps its last good version).
fn rejected(
    kind: Kind,
    key: &ObjectKey,
    doc: &SourceDoc,
    message: String,
) -> crate::engine::Problem {
    crate::engine::Problem {
        kind,
        key: key.clone(),
        pointer: String::new(),
        message: format!("{}:{}: {message}", doc.file.display(), doc.doc.line),
        reason: "InvalidSpec",
    }
}

fn at(doc: &SourceDoc, pointer: &str, resource: String, message: String) -> Diagnostic {
    let pointer = if pointer == "/" { "" } else { pointer };
    Diagnostic {
        file: doc.file.clone(),
        line: doc.doc.line_of(pointer),
        resource,
        message,
    }
}

/// "Kind/namespace/name", or "Kind/name" for cluster-scoped kinds.
pub fn resource_label(kind: Kind, key: &ObjectKey) -> String {
    format!("{kind}/{key}")
}

fn name_of(doc: &SourceDoc) -> &str {
    doc.doc
        .value
        .pointer("/metadata/name")
        .and_then(|v| v.as_str())
        .unwrap_or("<unnamed>")
}

/// The key of a document; a namespaced resource without a namespace is in "default", as with kubectl.
pub fn key_of(doc: &SourceDoc, kind: Kind) -> ObjectKey {
    let ns = doc
        .doc
        .value
        .pointer("/metadata/namespace")
        .and_then(|v| v.as_str());
    if kind.namespaced() {
        ObjectKey::new(ns.unwrap_or("default"), name_of(doc))
    } else {
        ObjectKey::cluster(name_of(doc))
    }
}

fn string_map(value: Option<&serde_json::Value>) -> std::collections::BTreeMap<String, String> {
    value
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The metadata the engine uses, from a manifest.
pub fn meta_of(value: &serde_json::Value) -> Meta {
    Meta {
        generation: value
            .pointer("/metadata/generation")
            .and_then(|v| v.as_i64()),
        labels: string_map(value.pointer("/metadata/labels")),
        annotations: string_map(value.pointer("/metadata/annotations")),
    }
}

/// Reads a v1 Secret (data base64-decoded, stringData as is) into the snapshot. The values of
/// a Secret that has not opted in (`switchboard.dev/usable: "true"`) nor holds a publisher
/// token are dropped here: only its existence and labels are kept.
fn add_secret(snap: &mut Snapshot, doc: &SourceDoc) -> Result<(), String> {
    let v = &doc.doc.value;
    let ns = v
        .pointer("/metadata/namespace")
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let mut secret = SecretObject {
        meta: meta_of(v),
        ..Default::default()
    };
    if !values_wanted(&secret.meta.labels) {
        secret.meta.annotations.clear();
        snap.secrets
            .insert(ObjectKey::new(ns, name_of(doc)), secret);
        return Ok(());
    }
    if let Some(data) = v.get("data").and_then(|d| d.as_object()) {
        for (k, val) in data {
            let text = val
                .as_str()
                .ok_or_else(|| format!("data.{k} must be a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| format!("data.{k} is not valid base64"))?;
            secret.data.insert(k.clone(), SecretValue(bytes));
        }
    }
    if let Some(data) = v.get("stringData").and_then(|d| d.as_object()) {
        for (k, val) in data {
            let text = val
                .as_str()
                .ok_or_else(|| format!("stringData.{k} must be a string"))?;
            secret
                .data
                .insert(k.clone(), SecretValue(text.as_bytes().to_vec()));
        }
    }
    snap.secrets
        .insert(ObjectKey::new(ns, name_of(doc)), secret);
    Ok(())
}
