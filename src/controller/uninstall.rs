//! Removing Switchboard's finalizer from every WebhookSubscription, for uninstalling: once the
//! controller is gone nothing removes it, so deleting a subscription (or its namespace) would
//! hang. `switchboard remove-finalizers` runs this after the controller is stopped (a running
//! leader adds the finalizer back); the pending deliveries it would have dropped go with the
//! controller's store anyway.

use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::api::WebhookSubscription;

use super::finalizer::FINALIZER;

/// Attempts per subscription when its finalizers change under us.
const ATTEMPTS: u32 = 3;

/// Why removing the finalizers failed.
#[derive(Debug, thiserror::Error)]
pub enum UninstallError {
    /// Listing the subscriptions failed.
    #[error("listing WebhookSubscriptions")]
    List(#[source] kube::Error),
    /// Patching one subscription failed.
    #[error("removing the finalizer of WebhookSubscription {namespace}/{name}")]
    Patch {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Removes the finalizer from every WebhookSubscription of `namespaces` (every namespace when
/// empty); returns the `namespace/name` of those it was removed from.
pub async fn remove_finalizers(
    client: &Client,
    namespaces: &[String],
) -> Result<Vec<String>, UninstallError> {
    let apis: Vec<Api<WebhookSubscription>> = if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    };
    let mut removed = Vec::new();
    for api in apis {
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(UninstallError::List)?;
        for obj in list.items {
            if obj.finalizers().iter().any(|f| f == FINALIZER) {
                let namespace = obj.namespace().unwrap_or_default();
                let name = obj.name_any();
                remove_one(client, &namespace, &name).await?;
                removed.push(format!("{namespace}/{name}"));
            }
        }
    }
    Ok(removed)
}

/// Removes the finalizer of one subscription with a merge patch carrying the resourceVersion
/// it read (a conflict when the object changed meanwhile), so another finalizer added
/// meanwhile is never lost.
async fn remove_one(client: &Client, namespace: &str, name: &str) -> Result<(), UninstallError> {
    let api: Api<WebhookSubscription> = Api::namespaced(client.clone(), namespace);
    let error = |source| UninstallError::Patch {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let Some(obj) = api.get_opt(name).await.map_err(error)? else {
            return Ok(());
        };
        let finalizers = obj.finalizers().to_vec();
        if !finalizers.iter().any(|f| f == FINALIZER) {
            return Ok(());
        }
        let kept: Vec<&String> = finalizers.iter().filter(|f| *f != FINALIZER).collect();
        let patch = serde_json::json!({"metadata": {
            "finalizers": kept,
            "resourceVersion": obj.resource_version(),
        }});
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(()),
            // It changed meanwhile (409) or is gone (404): look again.
            Err(kube::Error::Api(e)) if attempt < ATTEMPTS && [404, 409].contains(&e.code) => {}
            Err(e) => return Err(error(e)),
        }
    }
}
