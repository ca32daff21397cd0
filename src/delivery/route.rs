//! A route: the running delivery state of one target (a subscription, or later an
//! endpoint's forward): destination, body shaping, rate limiter, breaker and queue.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use tokio::sync::Semaphore;

use super::breaker::Breaker;
use super::cloudevents_out::{self, Outgoing};
use super::destination::Destination;
use super::pace::Pace;
use crate::store::{EventContext, NewEvent, Target};
use crate::transform::eval::EvalError;
use crate::transform::inline::{self, Cap};
use crate::transform::pool::Tenant;
use crate::transform::sandbox::Crashed;
use crate::transform::{EvalPool, Meta, Program, TransformError};

/// How the request body is made from an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// Standard Webhooks payload: `{"type", "source", "subject"?, "timestamp", "data"}`.
    Webhook,
    /// The event's data as it is (a forward).
    Raw,
    /// A CloudEvent with the event's attributes (`cloudevents_out`); `structured`: one
    /// `application/cloudevents+json` object, otherwise binary mode.
    CloudEvents {
        /// Structured rather than binary mode.
        structured: bool,
    },
}

/// The running delivery state of one target.
pub struct Route {
    /// The target.
    pub target: Target,
    /// Where and how to send.
    pub destination: Destination,
    /// Body shape.
    pub envelope: Envelope,
    /// Content-Type of the body.
    pub content_type: String,
    /// Shapes the data at delivery time.
    pub transform: Option<Arc<Program>>,
    /// Requests per period, when limited.
    pub limiter: Option<DefaultDirectRateLimiter>,
    /// Consecutive-failure breaker.
    pub breaker: Breaker,
    /// Attempts in flight at once for this target.
    pub concurrency: usize,
    /// Per-target queue: one permit per attempt in flight.
    pub queue: Arc<Semaphore>,
    /// How fast the queue drains.
    pub pace: Pace,
    /// Deliveries wait in the store while true.
    pub suspended: bool,
    /// The key its auto-disable state is checked against (a subscription's spec and
    /// re-enable annotation); None: never auto-disabled (forwards).
    pub enable_key: Option<String>,
    /// Overrides the engine's auto-disable period for this target (`spec.autoDisable.after`;
    /// zero: never disabled).
    pub auto_disable_after: Option<Duration>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("target", &self.target)
            .field("destination", &self.destination)
            .field("envelope", &self.envelope)
            .field("suspended", &self.suspended)
            .finish_non_exhaustive()
    }
}

/// A rate limiter allowing `requests` per `period` (bursts up to `requests`).
pub fn rate_limiter(requests: u32, period: Duration) -> Option<DefaultDirectRateLimiter> {
    let burst = NonZeroU32::new(requests)?;
    let quota = Quota::with_period(period / burst.get())?.allow_burst(burst);
    Some(RateLimiter::direct(quota))
}

impl Route {
    /// The request body for an event: the transformation shapes the data, then the envelope.
    /// Without a transformation the payload's text goes out as it was received.
    pub fn body(&self, event: &NewEvent) -> Result<Outgoing, TransformError> {
        match &self.transform {
            Some(program) => {
                let data = transformed(program, event.payload.as_bytes(), &meta_of(event))?;
                Ok(self.envelope(event, &data, true))
            }
            None => Ok(self.envelope(event, event.payload.as_bytes(), false)),
        }
    }

    /// [`Route::body`] without stalling the async worker: a transformation too costly for the
    /// inline cap runs again on `pool`.
    pub async fn body_async(
        &self,
        event: &NewEvent,
        pool: &EvalPool,
    ) -> Result<Outgoing, TransformError> {
        let Some(program) = &self.transform else {
            return self.body(event);
        };
        if let Some(body) = inline::capped(Cap::SMALL, || self.body(event)) {
            return body;
        }
        let (program, payload, meta) = (program.clone(), event.payload.clone(), meta_of(event));
        let tenant = Tenant {
            namespace: &self.target.namespace,
            kind: "subscription",
            name: &self.target.name,
        };
        let data = pool
            .run(tenant, move || {
                transformed(&program, payload.as_bytes(), &meta)
            })
            .await
            .map_err(|e| {
                TransformError::Eval(EvalError::Crashed(Crashed(crate::error_chain::render(&e))))
            })??;
        Ok(self.envelope(event, &data, true))
    }

    /// The body around the (transformed) data, which is JSON text embedded as it is:
    /// `{"type":…,"source":…,"subject":…,"timestamp":…,"data":…}` (keys in this order,
    /// compact; `subject` only when the event has one), a CloudEvent, or the data alone.
    fn envelope(&self, event: &NewEvent, data: &[u8], transformed: bool) -> Outgoing {
        let body = match self.envelope {
            Envelope::Webhook => {
                let timestamp = event
                    .received_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                let event_type = Value::from(event.event_type.as_str()).to_string();
                let (source, subject) = cloudevents_out::origin(event);
                let source = Value::from(source).to_string();
                let mut body = Vec::with_capacity(
                    data.len() + event_type.len() + source.len() + timestamp.len() + 64,
                );
                body.extend_from_slice(b"{\"type\":");
                body.extend_from_slice(event_type.as_bytes());
                body.extend_from_slice(b",\"source\":");
                body.extend_from_slice(source.as_bytes());
                if let Some(subject) = subject {
                    body.extend_from_slice(b",\"subject\":");
                    body.extend_from_slice(Value::from(subject).to_string().as_bytes());
                }
                body.extend_from_slice(b",\"timestamp\":\"");
                body.extend_from_slice(timestamp.as_bytes());
                body.extend_from_slice(b"\",\"data\":");
                body.extend_from_slice(data);
                body.push(b'}');
                body
            }
            Envelope::Raw => data.to_vec(),
            Envelope::CloudEvents { structured } => {
                return cloudevents_out::build(event, data, transformed, structured);
            }
        };
        Outgoing {
            content_type: self.content_type.clone(),
            headers: Vec::new(),
            body,
        }
    }
}

/// The JSON text a transformation makes of a stored payload (jq reads the text, numbers as
/// written, and its output is written straight to text).
fn transformed(program: &Program, payload: &[u8], meta: &Meta) -> Result<Vec<u8>, TransformError> {
    program
        .run_json(payload, meta)
        .map(crate::transform::Output::into_json)
}

/// What a subscription's transformation sees as `$meta`.
fn meta_of(event: &NewEvent) -> Meta {
    let context = event.context.as_ref().and_then(EventContext::from_payload);
    let encoding = context.as_ref().map(|c| {
        serde_json::to_value(c.encoding)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    });
    Meta {
        attributes: context.map(|c| c.attributes),
        data_encoding: encoding,
        event_type: Some(event.event_type.clone()),
        namespace: Some(event.namespace.clone()),
        source: Some(event.source.clone()),
        headers: Default::default(),
        received_at: Some(event.received_at),
    }
}
