//! Generated signing Secrets: a WebhookSubscription that signs but names no secret gets a
//! Secret `<subscription>-signing` (key `secret`, `whsec_…`) owned by it, so it is garbage
//! collected with the subscription. An existing Secret is never overwritten: editing it
//! rotates the key (see [`super::rotation`]).

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};

use crate::api::{SigningScheme, WebhookSubscription, WebhookSubscriptionSpec};

/// Label on generated signing Secrets, naming their subscription.
pub const GENERATED_FOR_LABEL: &str = "switchboard.dev/signing-secret-for";

/// Name of the generated signing Secret of a subscription, if it needs one.
pub fn generated_name(name: &str, spec: &WebhookSubscriptionSpec) -> Option<String> {
    (spec.signing.scheme != SigningScheme::None && spec.signing.secret_ref.is_none())
        .then(|| crate::engine::subscription::generated_secret_name(name))
}

/// Creates the subscription's signing Secret unless it needs none or it exists.
pub async fn ensure(api: &Api<Secret>, obj: &WebhookSubscription) -> Result<(), kube::Error> {
    let Some(name) = generated_name(&obj.name_any(), &obj.spec) else {
        return Ok(());
    };
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: obj.namespace(),
            labels: Some([(GENERATED_FOR_LABEL.to_owned(), obj.name_any())].into()),
            owner_references: obj.controller_owner_ref(&()).map(|r| vec![r]),
            ..ObjectMeta::default()
        },
        string_data: Some(
            [(
                "secret".to_owned(),
                crate::signature::standard_webhooks::generate_secret(),
            )]
            .into(),
        ),
        ..Secret::default()
    };
    match api.create(&PostParams::default(), &secret).await {
        Ok(_) => {
            tracing::info!(secret = %name, namespace = ?obj.namespace(), "generated a signing secret");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}
