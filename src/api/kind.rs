//! The eight kinds by name: kind, plural, singular and short names, scope.

use std::fmt;

/// One of Switchboard's resource kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// ClusterIntegrationProvider (cluster-scoped).
    ClusterIntegrationProvider,
    /// Integration.
    Integration,
    /// WebhookEndpoint.
    WebhookEndpoint,
    /// WebhookSubscription.
    WebhookSubscription,
    /// Transformation.
    Transformation,
    /// SyncSchedule.
    SyncSchedule,
    /// SyncJob.
    SyncJob,
    /// EventType.
    EventType,
}

impl Kind {
    /// Every kind, in dependency order (providers first).
    pub const ALL: [Kind; 8] = [
        Kind::ClusterIntegrationProvider,
        Kind::EventType,
        Kind::Transformation,
        Kind::Integration,
        Kind::WebhookEndpoint,
        Kind::WebhookSubscription,
        Kind::SyncSchedule,
        Kind::SyncJob,
    ];

    /// The `kind:` of manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ClusterIntegrationProvider => "ClusterIntegrationProvider",
            Kind::Integration => "Integration",
            Kind::WebhookEndpoint => "WebhookEndpoint",
            Kind::WebhookSubscription => "WebhookSubscription",
            Kind::Transformation => "Transformation",
            Kind::SyncSchedule => "SyncSchedule",
            Kind::SyncJob => "SyncJob",
            Kind::EventType => "EventType",
        }
    }

    /// The short name kubectl accepts.
    pub fn short_name(self) -> &'static str {
        match self {
            Kind::ClusterIntegrationProvider => "cip",
            Kind::Integration => "intg",
            Kind::WebhookEndpoint => "whe",
            Kind::WebhookSubscription => "whs",
            Kind::Transformation => "tf",
            Kind::SyncSchedule => "ss",
            Kind::SyncJob => "sj",
            Kind::EventType => "evt",
        }
    }

    /// The lower-case plural used in URLs ("webhooksubscriptions").
    pub fn plural(self) -> String {
        format!("{}s", self.singular())
    }

    /// The lower-case singular ("webhooksubscription").
    pub fn singular(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// True for namespaced kinds.
    pub fn namespaced(self) -> bool {
        self != Kind::ClusterIntegrationProvider
    }

    /// Parses a `kind:` value.
    pub fn from_kind(kind: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// Parses a name as kubectl takes it: kind, plural, singular or short name, any case,
    /// optionally qualified with the group (".switchboard.dev").
    pub fn from_cli_name(name: &str) -> Option<Kind> {
        let name = name.to_ascii_lowercase();
        let name = name.strip_suffix(".switchboard.dev").unwrap_or(&name);
        Self::ALL
            .into_iter()
            .find(|k| name == k.singular() || name == k.plural() || name == k.short_name())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_names_resolve_like_kubectl() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_cli_name(k.short_name()), Some(k));
            assert_eq!(Kind::from_cli_name(&k.plural()), Some(k));
            assert_eq!(Kind::from_cli_name(k.as_str()), Some(k));
            assert_eq!(Kind::from_kind(k.as_str()), Some(k));
        }
        assert_eq!(Kind::from_cli_name("WHS"), Some(Kind::WebhookSubscription));
        assert_eq!(
            Kind::from_cli_name("syncjobs.switchboard.dev"),
            Some(Kind::SyncJob)
        );
        assert_eq!(Kind::from_cli_name("pods"), None);
    }

    #[test]
    fn plurals_match_the_generated_crds() {
        for crd in crate::api::crds::all() {
            let kind = Kind::from_kind(&crd.spec.names.kind).expect("known kind");
            assert_eq!(crd.spec.names.plural, kind.plural());
            assert_eq!(
                crd.spec.names.short_names.as_deref(),
                Some(&[kind.short_name().to_owned()][..])
            );
            assert_eq!(crd.spec.scope == "Namespaced", kind.namespaced());
        }
    }
}
