//! Admin API authorization in a cluster: the bearer token is verified by TokenReview
//! ([`TokenReviewer`], cached), then the user is authorized by SubjectAccessReview for `get`
//! (list) or `update` (retry, test, connect) on `webhooksubscriptions.switchboard.dev` or
//! `integrations.switchboard.dev` `{name}` in `{namespace}`, as `kubectl auth can-i` would.
//! Answers are cached briefly by token digest, resource, namespace, name and verb.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::PostParams;
use kube::{Api, Client};
use sha2::{Digest, Sha256};

use crate::api::GROUP;
use crate::engine::auth::{Access, AdminAuthorizer, DeliveryAccess, VerifyError};

use super::token_review::TokenReviewer;

/// How long an authorization answer is reused.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// Cached answers kept at most (the cache is cleared when full).
const CACHE_MAX: usize = 10_000;

/// (token digest, resource, namespace, name, verb).
type Key = ([u8; 32], &'static str, String, String, &'static str);

/// Authorizes admin requests with TokenReview and SubjectAccessReview.
pub struct AccessReviewer {
    client: Client,
    tokens: Arc<TokenReviewer>,
    cache: Mutex<HashMap<Key, (bool, Instant)>>,
}

impl AccessReviewer {
    /// An authorizer asking the API server of `client`, sharing `tokens`' cache.
    pub fn new(client: Client, tokens: Arc<TokenReviewer>) -> Self {
        Self {
            client,
            tokens,
            cache: Mutex::default(),
        }
    }

    fn cached(&self, key: &Key) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(allowed, _)| *allowed)
    }

    fn remember(&self, key: Key, allowed: bool) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, (allowed, Instant::now()));
    }

    async fn review(
        &self,
        user: UserInfo,
        resource: &str,
        namespace: &str,
        name: &str,
        verb: &str,
    ) -> Result<bool, kube::Error> {
        let review = SubjectAccessReview {
            spec: access_spec(user, resource, namespace, name, verb),
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api.create(&PostParams::default(), &review).await?;
        Ok(answer.status.is_some_and(|s| s.allowed))
    }
}

/// The Kubernetes verb for an access.
pub fn verb(access: DeliveryAccess) -> &'static str {
    access.verb()
}

/// The SubjectAccessReview question: may `user` `verb` the `resource` `namespace`/`name`?
pub fn access_spec(
    user: UserInfo,
    resource: &str,
    namespace: &str,
    name: &str,
    verb: &str,
) -> SubjectAccessReviewSpec {
    SubjectAccessReviewSpec {
        user: user.username,
        uid: user.uid,
        groups: user.groups,
        extra: user.extra,
        resource_attributes: Some(ResourceAttributes {
            group: Some(GROUP.to_owned()),
            resource: Some(resource.to_owned()),
            verb: Some(verb.to_owned()),
            namespace: Some(namespace.to_owned()),
            name: Some(name.to_owned()),
            ..ResourceAttributes::default()
        }),
        ..SubjectAccessReviewSpec::default()
    }
}

#[async_trait]
impl AdminAuthorizer for AccessReviewer {
    async fn authorize(
        &self,
        token: Option<&[u8]>,
        resource: &'static str,
        namespace: &str,
        name: &str,
        access: DeliveryAccess,
    ) -> Result<Access, VerifyError> {
        let Some(token) = token else {
            return Ok(Access::Unauthenticated);
        };
        let verb = verb(access);
        let key: Key = (
            Sha256::digest(token).into(),
            resource,
            namespace.to_owned(),
            name.to_owned(),
            verb,
        );
        let allowed = match self.cached(&key) {
            Some(allowed) => allowed,
            None => {
                let boxed = |e: kube::Error| VerifyError(Box::new(e));
                let Some(user) = self.tokens.review(token).await.map_err(boxed)? else {
                    return Ok(Access::Unauthenticated);
                };
                let allowed = self
                    .review(user, resource, namespace, name, verb)
                    .await
                    .map_err(boxed)?;
                self.remember(key, allowed);
                allowed
            }
        };
        Ok(if allowed {
            Access::Allowed
        } else {
            Access::Forbidden
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_names_the_subscription_and_the_callers_groups() {
        let user = UserInfo {
            username: Some("system:serviceaccount:payments:ops".into()),
            groups: Some(vec!["system:serviceaccounts".into()]),
            ..UserInfo::default()
        };
        let spec = access_spec(
            user,
            "webhooksubscriptions",
            "payments",
            "orders",
            verb(DeliveryAccess::Write),
        );
        let attrs = spec.resource_attributes.unwrap();
        assert_eq!(attrs.group.as_deref(), Some("switchboard.dev"));
        assert_eq!(attrs.resource.as_deref(), Some("webhooksubscriptions"));
        assert_eq!(attrs.verb.as_deref(), Some("update"));
        assert_eq!(
            (attrs.namespace.as_deref(), attrs.name.as_deref()),
            (Some("payments"), Some("orders"))
        );
        assert_eq!(spec.groups.unwrap(), ["system:serviceaccounts"]);
    }
}
