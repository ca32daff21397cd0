//! The request pipeline after the gates (endpoint, source, size, in-flight): verification
//! over the raw bytes, then the payload (JSON kept as the text sent, read only where an
//! expression or the transformation needs it), dedup id, event type, allowlist and
//! transformation.
//! What comes out is ready to commit; nothing here touches the store.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderMap, Uri};

use jaq_json::Val;
use serde_json::Value;

use crate::api::{InputFormat, VerifyScheme};
use crate::signature::{self, Request, Verified, VerifyError, paypal};
use crate::store::{DedupKey, NewEvent, Payload, PayloadError, new_event_id, payload};
use crate::transform::format::{FormatError, decode};
use crate::transform::inline::{self, Cap};
use crate::transform::pool::Tenant;
use crate::transform::value::to_jaq;
use crate::transform::{EvalPool, Meta, TransformError, read};

use super::endpoint::EndpointPiece;
use super::error::HookError;
use super::media;
use super::paypal_certs::CertStore;

/// A request that passed the gates, with its raw body.
#[derive(Debug)]
pub struct Inbound {
    /// Request headers.
    pub headers: HeaderMap,
    /// The raw body, exactly as received.
    pub body: Bytes,
    /// The public URL the sender called, query included (Twilio signs it).
    pub url: String,
    /// When the request arrived.
    pub received_at: DateTime<Utc>,
}

/// What to do with a verified request.
#[derive(Debug, PartialEq)]
pub enum Prepared {
    /// Its event type is outside the allowlist: answer 202, store nothing.
    Ignored {
        /// The event type.
        event_type: String,
    },
    /// Route it: commit the event with its targets and dedup key.
    Route(Box<Routed>),
}

/// An event ready to be committed.
#[derive(Debug, PartialEq)]
pub struct Routed {
    /// The event (payload transformed).
    pub event: NewEvent,
    /// Publish to the namespace's subscriptions.
    pub publish: bool,
    /// Forward through the endpoint's route.forward.
    pub forward: bool,
    /// The dedup key to commit with it.
    pub dedup: Option<DedupKey>,
}

/// Bodies up to this size are parsed and transformed inline; larger ones go to the pool.
const INLINE_BODY_BYTES: usize = 64 * 1024;

/// Verifies and prepares a request. Verification runs on the raw bytes before anything
/// parses them (PayPal's with a certificate from `certs`); jq and transformations run inline
/// when they are cheap, else on `pool`.
pub async fn process(
    piece: Arc<EndpointPiece>,
    inbound: Inbound,
    pool: &EvalPool,
    certs: &CertStore,
) -> Result<Prepared, HookError> {
    let request = Request {
        headers: &inbound.headers,
        body: &inbound.body,
        url: &inbound.url,
        now: inbound.received_at.timestamp(),
    };
    let verified = if piece.verify.scheme == VerifyScheme::PayPal {
        verify_paypal(&piece, &request, certs).await?
    } else {
        signature::verify(&piece.verify, &request, &piece.inputs.secrets)
            .map_err(HookError::Verify)?
    };
    if !piece.needs_pool() {
        return prepare(&piece, &inbound, &verified);
    }
    // Cheap jq runs here under a small cap; what the cap stops runs again on the pool.
    if inbound.body.len() <= INLINE_BODY_BYTES
        && let Some(prepared) = inline::capped(Cap::SMALL, || prepare(&piece, &inbound, &verified))
    {
        return prepared;
    }
    let (namespace, name) = (piece.inputs.namespace.clone(), piece.inputs.name.clone());
    let tenant = Tenant {
        namespace: &namespace,
        kind: "endpoint",
        name: &name,
    };
    pool.run(tenant, move || prepare(&piece, &inbound, &verified))
        .await
        .map_err(HookError::Pool)?
}

/// PayPal: the headers and transmission time first, then the trust roots and the
/// certificate (allowlisted, cached), then the chain and the signature.
async fn verify_paypal(
    piece: &EndpointPiece,
    request: &Request<'_>,
    certs: &CertStore,
) -> Result<Verified, HookError> {
    let config = &piece.verify;
    let settings = config
        .paypal
        .as_ref()
        .ok_or(HookError::Verify(VerifyError::MissingPayPalSettings))?;
    let transmission = paypal::parse(request, config.tolerance).map_err(HookError::Verify)?;
    // Trust roots first: without them nothing is worth fetching.
    let roots = certs.roots().map_err(HookError::Certificate)?;
    let chain = certs
        .chain(transmission.cert_url)
        .await
        .map_err(HookError::Certificate)?;
    paypal::verify(
        &transmission,
        request.body,
        &settings.webhook_id,
        &chain,
        &roots,
        request.now,
    )
    .map_err(HookError::Verify)
}

/// Parsing, dedup id, event type, allowlist and transformation of a verified request.
pub fn prepare(
    piece: &EndpointPiece,
    inbound: &Inbound,
    verified: &Verified,
) -> Result<Prepared, HookError> {
    let declared = piece.transformation.as_ref().map(|p| p.input_format());
    let content_type = inbound.headers.get(CONTENT_TYPE);
    let format = media::input_format(content_type, declared).ok_or_else(|| {
        HookError::UnsupportedMediaType(
            content_type
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
        )
    })?;
    // JSON is kept as the text sent (checked and bounded, never built into a value); a form
    // or text body as its decoded value.
    let body = match format {
        InputFormat::Json => Body::Json(
            Payload::parse(&inbound.body, payload::MAX_VALUES)
                .map_err(|e| HookError::MalformedBody(format_error(e)))?,
        ),
        other => Body::Decoded(decode(other, &inbound.body).map_err(HookError::MalformedBody)?),
    };
    // The extraction rules look inside the payload only when they need to.
    let input = if piece.event_type.uses_payload() || piece.dedup.uses_payload() {
        match &body {
            Body::Json(payload) => read::parse_json(payload.as_bytes())
                .map_err(|e| HookError::MalformedBody(FormatError::Read(e)))?,
            Body::Decoded(value) => to_jaq(value),
        }
    } else {
        Val::Null
    };
    let dedup_id = piece.dedup.id(&inbound.headers, verified, &input)?;
    let event_type = piece.event_type.resolve(&inbound.headers, &input)?;
    if !piece.allows(event_type.filtered()) {
        return Ok(Prepared::Ignored {
            event_type: event_type.published,
        });
    }
    let (namespace, name) = (&piece.inputs.namespace, &piece.inputs.name);
    let payload = match (&piece.transformation, body) {
        (None, Body::Json(payload)) => payload,
        (None, Body::Decoded(value)) => {
            Payload::from_value(&value).map_err(|e| HookError::MalformedBody(format_error(e)))?
        }
        (Some(program), body) => {
            // Building `$meta` (a header map among it) is skipped for programs not reading it.
            let meta = if program.uses_meta() {
                Meta {
                    event_type: Some(event_type.published.clone()),
                    namespace: Some(namespace.clone()),
                    source: Some(format!("WebhookEndpoint/{namespace}/{name}")),
                    headers: visible_headers(&inbound.headers),
                    received_at: Some(inbound.received_at),
                    ..Meta::default()
                }
            } else {
                Meta::default()
            };
            // JSON is read by jq from its text, numbers as written, and the output written
            // straight to JSON text: no `serde_json::Value` on the way.
            let output = match &body {
                Body::Json(payload) => program.run(payload.as_bytes(), &meta),
                Body::Decoded(value) => program.apply(value, &meta),
            }
            .map_err(HookError::Transform)?;
            let json = String::from_utf8(output.into_json()).map_err(|e| {
                HookError::Transform(TransformError::Output(FormatError::Utf8(e.utf8_error())))
            })?;
            Payload::trusted(json)
        }
    };
    let route = &piece.inputs.spec.route;
    Ok(Prepared::Route(Box::new(Routed {
        event: NewEvent {
            id: new_event_id(),
            namespace: namespace.clone(),
            event_type: event_type.published,
            source: format!("endpoint/{name}"),
            payload,
            received_at: inbound.received_at,
            context: None,
        },
        publish: route.publish.is_some(),
        forward: route.forward.is_some(),
        dedup: dedup_id.map(|key| DedupKey {
            namespace: namespace.clone(),
            scope: format!("endpoint/{name}"),
            key,
            expires_at: inbound.received_at + piece.dedup.window,
        }),
    })))
}

/// A request body, as read in its format.
enum Body {
    /// JSON, kept as sent.
    Json(Payload),
    /// A form or text, decoded.
    Decoded(Value),
}

/// A JSON body refused, as the error of its format.
fn format_error(e: PayloadError) -> FormatError {
    match e {
        PayloadError::Json(e) => FormatError::Json(e),
        PayloadError::TooDeep => FormatError::TooDeep(payload::MAX_DEPTH),
        PayloadError::TooManyValues(n) => FormatError::TooManyValues(n),
        PayloadError::Encode(e) => FormatError::Encode(e),
    }
}

/// The public URL a request called: the endpoint's absolute URL (from `--external-url`) or
/// `http://{Host}{path}`, with the query string the sender used.
pub fn public_url(hook_url: &str, uri: &Uri, headers: &HeaderMap) -> String {
    let base = if hook_url.starts_with("http://") || hook_url.starts_with("https://") {
        hook_url.to_owned()
    } else {
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}{}", uri.path())
    };
    match uri.query() {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

/// Headers a transformation may see as `$meta.headers`: credentials are left out.
fn visible_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| **name != AUTHORIZATION && **name != COOKIE)
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect()
}
