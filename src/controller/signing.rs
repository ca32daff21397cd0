//! Generated signing Secrets: a WebhookSubscription that signs but names no secret gets a
//! Secret `<subscription>-signing` (key `secret`, `whsec_…`) owned by it, so it is garbage
//! collected with the subscription. An existing Secret is never overwritten: editing it
//! rotates the key (see [`super::rotation`]). Generated Secrets carry the opt-in label
//! (`switchboard.dev/usable`); one generated before that label existed gets it added, but
//! only if it names this subscription and is owned by it, as only this controller makes them.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};

use crate::api::{SigningScheme, WebhookSubscription, WebhookSubscriptionSpec};
use crate::engine::snapshot::USABLE_LABEL;

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
            labels: Some(
                [
                    (GENERATED_FOR_LABEL.to_owned(), obj.name_any()),
                    (USABLE_LABEL.to_owned(), "true".to_owned()),
                ]
                .into(),
            ),
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
        Err(kube::Error::Api(s)) if s.code == 409 => opt_in_generated(api, obj, &name).await,
        Err(e) => Err(e),
    }
}

/// Adds the opt-in label to the subscription's existing generated Secret if it lacks it (read
/// by its metadata only).
async fn opt_in_generated(
    api: &Api<Secret>,
    obj: &WebhookSubscription,
    name: &str,
) -> Result<(), kube::Error> {
    let meta = api.get_metadata(name).await?;
    let labels = meta.labels();
    let ours = labels.get(GENERATED_FOR_LABEL) == Some(&obj.name_any())
        && obj.uid().is_some_and(|uid| {
            meta.owner_references()
                .iter()
                .any(|r| r.uid == uid && r.controller == Some(true))
        });
    if !ours || labels.get(USABLE_LABEL).is_some_and(|v| v == "true") {
        return Ok(());
    }
    let patch = serde_json::json!({"metadata": {"labels": {USABLE_LABEL: "true"}}});
    api.patch_metadata(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    tracing::info!(secret = %name, namespace = ?obj.namespace(), "labelled a generated signing secret usable");
    Ok(())
}
