//! What a request says about itself: its event type and its dedup id, from a header, a jq
//! expression over the payload, or the signed message id.

use std::fmt;

use chrono::Duration;
use http::{HeaderMap, HeaderName};
use jaq_json::Val;
use serde_json::Value;

use crate::api::{Dedup, EventTypeSource, ProviderWebhooks, PublishRoute, parse_duration};
use crate::signature::Verified;
use crate::transform::JqExpr;

use super::error::{EndpointError, HookError};

/// The event type when nothing else names one.
pub const DEFAULT_EVENT_TYPE: &str = "webhook.received";

/// How long dedup ids are remembered when the spec does not say.
pub const DEFAULT_DEDUP_WINDOW: &str = "24h";

/// Where a value comes from: a request header or a jq expression over the payload.
pub enum Source {
    /// A request header.
    Header(HeaderName),
    /// A jq expression (its source text kept for messages).
    Jq(String, JqExpr),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(h) => write!(f, "Header({h})"),
            Self::Jq(src, _) => write!(f, "Jq({src:?})"),
        }
    }
}

impl Source {
    fn header(name: &str) -> Result<Self, EndpointError> {
        HeaderName::try_from(name)
            .map(Self::Header)
            .map_err(|_| EndpointError::InvalidHeaderName(name.to_owned()))
    }

    fn jq(src: &str) -> Result<Self, EndpointError> {
        JqExpr::compile(src)
            .map(|e| Self::Jq(src.to_owned(), e))
            .map_err(EndpointError::Jq)
    }

    fn uses_payload(&self) -> bool {
        matches!(self, Self::Jq(..))
    }

    /// The value found; `Ok(None)` when the header is absent or the expression yields null.
    fn find(&self, headers: &HeaderMap, payload: &Val) -> Result<Option<String>, String> {
        match self {
            Self::Header(name) => match headers.get(name) {
                None => Ok(None),
                Some(v) => v
                    .to_str()
                    .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                    .map_err(|_| format!("header {name} is not visible ASCII")),
            },
            Self::Jq(src, expr) => match expr.eval_val(payload.clone()) {
                Err(e) => Err(format!("{src}: {}", crate::error_chain::chain(&e))),
                Ok(None) => Ok(None),
                Ok(Some(Value::String(s))) => Ok(Some(s).filter(|s| !s.is_empty())),
                Ok(Some(v @ (Value::Number(_) | Value::Bool(_)))) => Ok(Some(v.to_string())),
                Ok(Some(other)) => Err(format!("{src} yielded {other}, not a string")),
            },
        }
    }
}

/// The event type of an endpoint's requests.
#[derive(Debug)]
pub struct EventTypeRule {
    source: Option<Source>,
    /// True when the source is the endpoint's own (not a provider default): it must find a type.
    required: bool,
    prefix: Option<String>,
    fixed: Option<String>,
}

/// The event type of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventType {
    /// The type found in the request (prefixed), if any.
    pub detected: Option<String>,
    /// The type the event is published with.
    pub published: String,
}

impl EventType {
    /// The type the allowlist applies to: the detected one, else the published one.
    pub fn filtered(&self) -> &str {
        self.detected.as_deref().unwrap_or(&self.published)
    }
}

impl EventTypeRule {
    /// From spec.eventType, the provider's event type header and route.publish.eventType.
    pub fn build(
        spec: Option<&EventTypeSource>,
        provider: Option<&ProviderWebhooks>,
        publish: Option<&PublishRoute>,
    ) -> Result<Self, EndpointError> {
        let fixed = publish.and_then(|p| p.event_type.clone());
        let (source, required) = match spec {
            Some(EventTypeSource { jq: Some(jq), .. }) => (Some(Source::jq(jq)?), true),
            Some(EventTypeSource {
                header: Some(h), ..
            }) => (Some(Source::header(h)?), true),
            _ => match provider.and_then(|p| p.event_type_header.as_deref()) {
                Some(h) => (Some(Source::header(h)?), false),
                None => (None, false),
            },
        };
        Ok(Self {
            required: required && fixed.is_none(),
            source,
            prefix: spec
                .and_then(|s| s.prefix.clone())
                .filter(|p| !p.is_empty()),
            fixed,
        })
    }

    /// True when finding the type needs the parsed payload.
    pub fn uses_payload(&self) -> bool {
        self.source.as_ref().is_some_and(Source::uses_payload)
    }

    /// The event type of a request.
    pub fn resolve(&self, headers: &HeaderMap, payload: &Val) -> Result<EventType, HookError> {
        let found = match &self.source {
            None => None,
            Some(source) => source
                .find(headers, payload)
                .map_err(HookError::InvalidEventType)?,
        };
        if found.is_none() && self.required {
            let what = match &self.source {
                Some(Source::Header(h)) => format!("header {h} is missing or empty"),
                Some(Source::Jq(src, _)) => format!("{src} yielded nothing"),
                None => "no source".into(),
            };
            return Err(HookError::MissingEventType(what));
        }
        let detected = found.map(|t| match &self.prefix {
            Some(p) => format!("{p}.{t}"),
            None => t,
        });
        let published = self
            .fixed
            .clone()
            .or_else(|| detected.clone())
            .unwrap_or_else(|| DEFAULT_EVENT_TYPE.to_owned());
        Ok(EventType {
            detected,
            published,
        })
    }
}

/// Deduplication of an endpoint's requests.
#[derive(Debug)]
pub struct DedupRule {
    /// The endpoint's own id source; `None` uses the signed id or the provider's id header.
    source: Option<Source>,
    provider_header: Option<Source>,
    /// How long an id is remembered.
    pub window: Duration,
}

impl DedupRule {
    /// From spec.dedup and the provider's id header.
    pub fn build(
        spec: Option<&Dedup>,
        provider: Option<&ProviderWebhooks>,
    ) -> Result<Self, EndpointError> {
        let source = match spec {
            Some(Dedup {
                id_jq: Some(jq), ..
            }) => Some(Source::jq(jq)?),
            Some(Dedup {
                id_header: Some(h), ..
            }) => Some(Source::header(h)?),
            _ => None,
        };
        let provider_header = provider
            .and_then(|p| p.id_header.as_deref())
            .map(Source::header)
            .transpose()?;
        let window_text = spec.map_or(DEFAULT_DEDUP_WINDOW, |d| d.window.0.as_str());
        let window = parse_duration(window_text)
            .ok()
            .and_then(|w| Duration::from_std(w).ok())
            .ok_or_else(|| EndpointError::InvalidWindow(window_text.to_owned()))?;
        Ok(Self {
            source,
            provider_header,
            window,
        })
    }

    /// True when finding the id needs the parsed payload.
    pub fn uses_payload(&self) -> bool {
        self.source.as_ref().is_some_and(Source::uses_payload)
    }

    /// The dedup id of a request, if it has one.
    pub fn id(
        &self,
        headers: &HeaderMap,
        verified: &Verified,
        payload: &Val,
    ) -> Result<Option<String>, HookError> {
        if let Some(source) = &self.source {
            return source
                .find(headers, payload)
                .map_err(HookError::InvalidDedupId);
        }
        if let Some(id) = &verified.id {
            return Ok(Some(id.clone()));
        }
        match &self.provider_header {
            Some(source) => Ok(source.find(headers, payload).unwrap_or(None)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::value::to_jaq;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), v.parse().unwrap()))
            .collect()
    }

    fn source(v: Value) -> EventTypeSource {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn header_type_with_prefix() {
        let spec = source(json!({"header": "X-GitHub-Event", "prefix": "github"}));
        let rule = EventTypeRule::build(Some(&spec), None, None).unwrap();
        let t = rule
            .resolve(&headers(&[("x-github-event", "push")]), &Val::Null)
            .unwrap();
        assert_eq!(t.published, "github.push");
        let e = rule.resolve(&HeaderMap::new(), &Val::Null).unwrap_err();
        assert_eq!(e.reason(), "missing_event_type");
    }

    #[test]
    fn jq_type_fixed_type_and_default() {
        let spec = source(json!({"jq": ".type", "prefix": "stripe"}));
        let rule = EventTypeRule::build(Some(&spec), None, None).unwrap();
        assert!(rule.uses_payload());
        let t = rule
            .resolve(&HeaderMap::new(), &to_jaq(&json!({"type": "invoice.paid"})))
            .unwrap();
        assert_eq!(t.published, "stripe.invoice.paid");
        let e = rule
            .resolve(&HeaderMap::new(), &to_jaq(&json!({"type": {"a": 1}})))
            .unwrap_err();
        assert_eq!(e.reason(), "invalid_event_type");

        let fixed = PublishRoute {
            event_type: Some("billing.event".into()),
        };
        let rule = EventTypeRule::build(Some(&spec), None, Some(&fixed)).unwrap();
        let t = rule
            .resolve(&HeaderMap::new(), &to_jaq(&json!({})))
            .unwrap();
        assert_eq!((t.detected, t.published.as_str()), (None, "billing.event"));

        let rule = EventTypeRule::build(None, None, None).unwrap();
        let t = rule
            .resolve(&HeaderMap::new(), &to_jaq(&json!({})))
            .unwrap();
        assert_eq!(t.published, DEFAULT_EVENT_TYPE);
    }

    #[test]
    fn dedup_sources_in_order() {
        let provider = ProviderWebhooks {
            verify: crate::api::VerifyScheme::GitHub,
            event_type_header: None,
            id_header: Some("X-GitHub-Delivery".into()),
        };
        let rule = DedupRule::build(None, Some(&provider)).unwrap();
        assert_eq!(rule.window, Duration::hours(24));
        let h = headers(&[("x-github-delivery", "d-1")]);
        let signed = Verified {
            id: Some("msg_1".into()),
            timestamp: None,
        };
        assert_eq!(
            rule.id(&h, &signed, &Val::Null).unwrap().as_deref(),
            Some("msg_1")
        );
        assert_eq!(
            rule.id(&h, &Verified::default(), &Val::Null)
                .unwrap()
                .as_deref(),
            Some("d-1")
        );

        let spec: Dedup = serde_json::from_value(json!({"idJq": ".id", "window": "72h"})).unwrap();
        let rule = DedupRule::build(Some(&spec), None).unwrap();
        assert_eq!(rule.window, Duration::hours(72));
        let id = rule
            .id(&HeaderMap::new(), &signed, &to_jaq(&json!({"id": 42})))
            .unwrap();
        assert_eq!(id.as_deref(), Some("42"));
        assert_eq!(
            rule.id(&HeaderMap::new(), &signed, &to_jaq(&json!({})))
                .unwrap(),
            None
        );
    }
}
