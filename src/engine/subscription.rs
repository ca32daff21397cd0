//! A running subscription: built from its spec and everything it references (the
//! Transformation, the Secrets), so a change to any of them rebuilds it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::api::{AuthType, SigningScheme, TransformationSpec, WebhookSubscriptionSpec};
use crate::delivery::breaker::Breaker;
use crate::delivery::credentials::CredentialSource;
use crate::delivery::route::rate_limiter;
use crate::delivery::{
    Destination, DestinationError, DestinationPolicy, DestinationSpec, Envelope, Route, Signer,
    secrets,
};
use crate::integration::client::http_client;
use crate::integration::{Authenticator, Credentials};
use crate::signature::standard_webhooks;
use crate::store::{Target, TargetKind};
use crate::transform::{Predicate, PredicateResult, Program};

use super::pattern::Pattern;
use super::snapshot::{Object, ObjectKey, SecretValue, Snapshot};
use super::topology::BuildError;

/// What a subscription is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionInputs {
    /// Namespace and name.
    pub key: ObjectKey,
    /// The spec.
    pub spec: WebhookSubscriptionSpec,
    /// The referenced Transformation's spec.
    pub transformation: Option<TransformationSpec>,
    /// Referenced secret values by use ("signing", "token", "username", …).
    pub secrets: BTreeMap<&'static str, SecretValue>,
    /// The referenced Integration's inputs (its auth is used when spec.auth is unset).
    pub integration: Option<super::integrations::IntegrationInputs>,
}

/// Settings every subscription build shares.
#[derive(Clone, Debug, Default)]
pub struct BuildContext {
    /// The SSRF guard.
    pub policy: Arc<DestinationPolicy>,
    /// Where generated signing secrets are kept (in memory only when unset).
    pub data_dir: Option<PathBuf>,
    /// Attempts in flight at once per subscription.
    pub concurrency: usize,
    /// Running integrations, whose auth subscriptions with an integrationRef use.
    pub integrations: super::integrations::Integrations,
}

/// Where a subscription's signing secret comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningSource {
    /// spec.signing.secretRef.
    Configured,
    /// Generated and kept in this file.
    Generated(Option<PathBuf>),
    /// Unsigned.
    Unsigned,
}

/// A running subscription.
pub struct SubscriptionPiece {
    /// What it was built from.
    pub inputs: SubscriptionInputs,
    /// Compiled event type patterns.
    pub patterns: Vec<Pattern>,
    /// Compiled filter.
    pub filter: Option<Predicate>,
    /// Its delivery route.
    pub route: Arc<Route>,
    /// Where its signing secret comes from.
    pub signing: SigningSource,
}

impl std::fmt::Debug for SubscriptionPiece {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionPiece")
            .field("key", &self.inputs.key)
            .field("patterns", &self.patterns)
            .field("route", &self.route)
            .finish_non_exhaustive()
    }
}

/// Every subscription of a snapshot with what it references.
pub fn inputs(snap: &Snapshot) -> BTreeMap<ObjectKey, Object<SubscriptionInputs>> {
    snap.subscriptions
        .iter()
        .map(|(key, obj)| {
            let spec = &obj.spec;
            let ns = key.namespace.as_str();
            let mut secrets = BTreeMap::new();
            let mut put = |use_: &'static str, name: &str, k: &str| {
                if let Some(v) = snap.secret_value(ns, name, k) {
                    secrets.insert(use_, v.clone());
                }
            };
            if let Some(r) = &spec.signing.secret_ref {
                put("signing", &r.name, r.key_or("secret"));
            }
            if let Some(r) = spec.auth.as_ref().and_then(|a| a.secret_ref.as_ref()) {
                put("token", &r.name, r.key_or("token"));
                put("apiKey", &r.name, r.key_or("apiKey"));
                put("username", &r.name, "username");
                put("password", &r.name, "password");
                put("clientId", &r.name, "clientId");
                put("clientSecret", &r.name, "clientSecret");
            }
            let integration = spec.integration_ref.as_ref().and_then(|r| {
                let ikey = ObjectKey::new(ns, &r.name);
                snap.integrations
                    .get(&ikey)
                    .map(|i| super::integrations::inputs_of(snap, &ikey, &i.spec))
            });
            let transformation = spec.transformation_ref.as_ref().and_then(|r| {
                snap.transformations
                    .get(&ObjectKey::new(ns, &r.name))
                    .map(|t| t.spec.clone())
            });
            let inputs = SubscriptionInputs {
                key: key.clone(),
                spec: spec.clone(),
                transformation,
                secrets,
                integration,
            };
            (
                key.clone(),
                Object {
                    meta: obj.meta.clone(),
                    spec: inputs,
                },
            )
        })
        .collect()
}

fn err(reason: &'static str, message: impl Into<String>) -> BuildError {
    BuildError {
        reason,
        message: message.into(),
    }
}

fn duration(
    d: &crate::api::DurationString,
    field: &str,
) -> Result<std::time::Duration, BuildError> {
    d.to_std()
        .map_err(|e| err("InvalidDuration", format!("{field}: {e}")))
}

impl SubscriptionPiece {
    /// Builds a subscription: filter, transformation, signer, credentials, HTTP client,
    /// rate limiter and breaker.
    pub fn build(obj: &Object<SubscriptionInputs>, ctx: &BuildContext) -> Result<Self, BuildError> {
        let inputs = &obj.spec;
        let spec = &inputs.spec;
        let key = &inputs.key;
        let filter = spec
            .filter
            .as_deref()
            .map(Predicate::compile)
            .transpose()
            .map_err(|e| {
                err(
                    "InvalidFilter",
                    format!("spec.filter does not compile: {e}"),
                )
            })?;
        let transform =
            match (&spec.transformation_ref, &inputs.transformation) {
                (None, _) => None,
                (Some(r), None) => {
                    return Err(err(
                        "TransformationNotFound",
                        format!("Transformation {:?} not found", r.name),
                    ));
                }
                (Some(_), Some(t)) => Some(Arc::new(Program::compile(t).map_err(|e| {
                    err("InvalidTransformation", format!("the transformation: {e}"))
                })?)),
            };
        let (signer, signing) = signer(inputs, ctx)?;
        let mut headers: Vec<(String, String)> = spec.headers.clone().into_iter().collect();
        let mut query = Vec::new();
        credentials(inputs, &mut headers, &mut query)?;
        let schedule = spec
            .retry
            .schedule
            .iter()
            .map(|d| duration(d, "spec.retry.schedule"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut destination = Destination::build(
            DestinationSpec {
                url: spec.url.0.clone(),
                headers,
                query,
                timeout: duration(&spec.timeout, "spec.timeout")?,
                schedule,
                signer,
            },
            ctx.policy.clone(),
        )
        .map_err(|e| match e {
            DestinationError::Refused(r) => err("DestinationRefused", r.to_string()),
            other => err("InvalidDestination", other.to_string()),
        })?;
        destination.credentials = credential_source(inputs, ctx)?;
        let limiter = match &spec.rate_limit {
            Some(rl) => Some(
                rate_limiter(rl.requests, duration(&rl.period, "spec.rateLimit.period")?)
                    .ok_or_else(|| err("InvalidRateLimit", "spec.rateLimit is out of range"))?,
            ),
            None => None,
        };
        let cb = &spec.circuit_breaker;
        let concurrency = ctx.concurrency.max(1);
        let route = Route {
            target: target_of(key),
            destination,
            envelope: Envelope::Webhook,
            content_type: spec.content_type.clone(),
            transform,
            limiter,
            breaker: Breaker::new(
                cb.failure_threshold,
                duration(&cb.open_duration, "spec.circuitBreaker.openDuration")?,
            ),
            concurrency,
            queue: Arc::new(Semaphore::new(concurrency)),
            suspended: spec.suspend,
        };
        Ok(Self {
            inputs: inputs.clone(),
            patterns: spec.event_types.iter().map(|p| Pattern::new(p)).collect(),
            filter,
            route: Arc::new(route),
            signing,
        })
    }

    /// The spec it was built from.
    pub fn spec(&self) -> &WebhookSubscriptionSpec {
        &self.inputs.spec
    }

    /// True when an event of this type goes to this subscription (before the filter). A
    /// suspended subscription still gets its deliveries; they wait in the queue.
    pub fn wants(&self, event_type: &str) -> bool {
        super::pattern::any_matches(&self.patterns, event_type)
    }

    /// The filter's verdict on `{type, id, data}` (Match when there is no filter).
    pub fn filter(&self, event: &Value) -> PredicateResult {
        self.filter
            .as_ref()
            .map_or(PredicateResult::Match, |f| f.eval(event))
    }
}

/// The delivery target of a subscription.
pub fn target_of(key: &ObjectKey) -> Target {
    Target {
        namespace: key.namespace.clone(),
        kind: TargetKind::Subscription,
        name: key.name.clone(),
    }
}

/// The routes of every running subscription.
pub fn routes<'a>(
    pieces: impl Iterator<Item = &'a Arc<SubscriptionPiece>>,
) -> HashMap<Target, Arc<Route>> {
    pieces
        .map(|p| (p.route.target.clone(), p.route.clone()))
        .collect()
}

fn text(v: &SecretValue, what: &str) -> Result<String, BuildError> {
    String::from_utf8(v.0.clone())
        .map(|s| s.trim().to_owned())
        .map_err(|_| err("InvalidSecret", format!("the {what} is not UTF-8 text")))
}

fn signer(
    inputs: &SubscriptionInputs,
    ctx: &BuildContext,
) -> Result<(Signer, SigningSource), BuildError> {
    let scheme = inputs.spec.signing.scheme;
    if scheme == SigningScheme::None {
        return Ok((Signer::None, SigningSource::Unsigned));
    }
    let (secret, source) = match (
        &inputs.spec.signing.secret_ref,
        inputs.secrets.get("signing"),
    ) {
        (Some(_), Some(v)) => (text(v, "signing secret")?, SigningSource::Configured),
        (Some(r), None) => {
            return Err(err(
                "SecretNotFound",
                format!(
                    "signing secret {:?} has no key {:?}",
                    r.name,
                    r.key_or("secret")
                ),
            ));
        }
        (None, None | Some(_)) => match &ctx.data_dir {
            Some(dir) => {
                let (path, s) = secrets::load_or_generate(
                    dir,
                    &inputs.key.namespace,
                    &inputs.key.name,
                    standard_webhooks::generate_secret,
                )
                .map_err(|e| err("SigningSecretUnavailable", e.to_string()))?;
                (s, SigningSource::Generated(Some(path)))
            }
            None => (
                standard_webhooks::generate_secret(),
                SigningSource::Generated(None),
            ),
        },
    };
    let signer = match scheme {
        SigningScheme::GitHub => Signer::GitHub(secret.into_bytes()),
        _ => {
            // Several whitespace-separated secrets: all sign (rotation).
            let all: Vec<String> = secret.split_whitespace().map(str::to_owned).collect();
            for s in &all {
                standard_webhooks::decode_secret(s.as_bytes()).map_err(|e| {
                    err(
                        "InvalidSecret",
                        format!("the signing secret is not a whsec_ secret: {e}"),
                    )
                })?;
            }
            if all.is_empty() {
                return Err(err("InvalidSecret", "the signing secret is empty"));
            }
            Signer::StandardWebhooks(all)
        }
    };
    Ok((signer, source))
}

fn credentials(
    inputs: &SubscriptionInputs,
    headers: &mut Vec<(String, String)>,
    query: &mut Vec<(String, String)>,
) -> Result<(), BuildError> {
    let Some(auth) = &inputs.spec.auth else {
        return Ok(());
    };
    let get = |k: &'static str| {
        inputs
            .secrets
            .get(k)
            .ok_or_else(|| {
                err(
                    "SecretNotFound",
                    format!("spec.auth needs the Secret key {k:?}"),
                )
            })
            .and_then(|v| text(v, k))
    };
    match auth.auth_type {
        AuthType::None => {}
        AuthType::Basic => {
            let pair = format!("{}:{}", get("username")?, get("password")?);
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(("authorization".into(), format!("Basic {encoded}")));
        }
        AuthType::Bearer => {
            headers.push(("authorization".into(), format!("Bearer {}", get("token")?)))
        }
        AuthType::ApiKey => {
            let key = get("apiKey")?;
            match &auth.query_param {
                Some(param) => query.push((param.clone(), key)),
                None => headers.push((
                    auth.header.clone().unwrap_or_else(|| "X-API-Key".into()),
                    key,
                )),
            }
        }
        // A token fetched per attempt (cached until shortly before it expires).
        AuthType::OAuth2ClientCredentials => {}
    }
    Ok(())
}

/// Credentials obtained per attempt: the subscription's own OAuth2 client credentials, or
/// (without spec.auth) the auth of its Integration, sharing that Integration's token cache.
fn credential_source(
    inputs: &SubscriptionInputs,
    ctx: &BuildContext,
) -> Result<Option<Arc<dyn CredentialSource>>, BuildError> {
    let spec = &inputs.spec;
    match (&spec.auth, &spec.integration_ref) {
        (Some(auth), _) if auth.auth_type == AuthType::OAuth2ClientCredentials => {
            let value = |k: &str| inputs.secrets.get(k).and_then(|v| text(v, k).ok());
            let creds = Credentials {
                client_id: value("clientId"),
                client_secret: value("clientSecret"),
                ..Credentials::default()
            };
            let timeout = duration(&spec.timeout, "spec.timeout")?;
            let http = http_client(&ctx.policy, timeout)
                .map_err(|e| err("InvalidDestination", e.to_string()))?;
            let auth = Authenticator::build(Some(auth), &creds, http)
                .and_then(|a| a.check_destination(&ctx.policy).map(|()| a))
                .map_err(|e| err(e.reason(), e.to_string()))?;
            Ok(Some(Arc::new(auth)))
        }
        (Some(_), _) | (None, None) => Ok(None),
        (None, Some(r)) => {
            let key = ObjectKey::new(&inputs.key.namespace, &r.name);
            let piece = ctx.integrations.get(&key).ok_or_else(|| {
                err(
                    "IntegrationNotReady",
                    format!(
                        "Integration {:?} is not ready: its auth cannot be used",
                        r.name
                    ),
                )
            })?;
            Ok(Some(piece.client.authenticator().clone()))
        }
    }
}
