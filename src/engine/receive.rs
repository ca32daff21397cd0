//! Committing a prepared webhook: the event fanned out to the namespace's subscriptions
//! and/or the endpoint's forward route, with its dedup key, in one acceptance.

use crate::receiver::process::Routed;
use crate::store::{Acceptance, Accepted, Target, TargetKind};

use super::accept::AcceptError;
use super::runtime::Engine;

impl Engine {
    /// Commits a routed webhook durably; returns only once it is on disk (or a duplicate).
    pub async fn commit_webhook(
        &self,
        endpoint: &str,
        routed: Routed,
    ) -> Result<Accepted, AcceptError> {
        let event = routed.event;
        let mut targets = if routed.publish {
            self.fan_out(
                &self.topology(),
                &event.namespace,
                &event.event_type,
                &event.id,
                &event.payload,
            )
            .await?
        } else {
            Vec::new()
        };
        if routed.forward {
            targets.push(Target {
                namespace: event.namespace.clone(),
                kind: TargetKind::Forward,
                name: endpoint.to_owned(),
            });
        }
        self.accept(Acceptance {
            event,
            targets,
            dedup: routed.dedup,
        })
        .await
    }
}
