//! Whole-snapshot checks the API server cannot make: references, secrets, cron, time zones,
//! CIDRs, provider config schemas, jq programs, Transformation tests and EventType schemas.

use std::collections::BTreeMap;

use crate::api::{
    Auth, AuthType, DeadLetter, Kind, SecretKeyRef, SigningScheme, SyncJobTemplate, VerifyScheme,
    WebhookEndpointSpec,
};
use crate::error_chain::chain;

use super::jq_check::{self, Finding};
pub use super::snapshot::SECRET_NOT_USABLE;
use super::snapshot::{Object, ObjectKey, Snapshot, not_usable_message};

/// One problem found in a snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Kind of the resource at fault.
    pub kind: Kind,
    /// Its namespace and name.
    pub key: ObjectKey,
    /// JSON pointer of the offending field ("/spec/transformationRef/name").
    pub pointer: String,
    /// A message a person can act on; never contains secret values.
    pub message: String,
    /// A CamelCase reason for the Ready condition ("SecretNotFound").
    pub reason: &'static str,
}

/// What `check` may leave unresolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// Do not require referenced Secrets to be present (they are managed elsewhere).
    pub allow_missing_secrets: bool,
    /// Do not require referenced ClusterIntegrationProviders to be present.
    pub allow_missing_providers: bool,
}

/// How many embedded tests of each Transformation passed and failed (only those whose
/// program builds).
pub type TestCounts = BTreeMap<ObjectKey, (u32, u32)>;

struct Checker<'a> {
    snap: &'a Snapshot,
    opts: CheckOptions,
    problems: Vec<Problem>,
    tests: TestCounts,
    kind: Kind,
    key: ObjectKey,
}

/// Checks every cross-resource rule of the snapshot.
pub fn check(snap: &Snapshot, opts: CheckOptions) -> Vec<Problem> {
    check_counting(snap, opts).0
}

/// The same, with the counts of the Transformation tests it ran (for their status).
pub fn check_counting(snap: &Snapshot, opts: CheckOptions) -> (Vec<Problem>, TestCounts) {
    let mut c = Checker {
        snap,
        opts,
        problems: Vec::new(),
        tests: TestCounts::new(),
        kind: Kind::Integration,
        key: ObjectKey::cluster(""),
    };
    for (key, obj) in &snap.providers {
        c.at(Kind::ClusterIntegrationProvider, key);
        if let Some(schema) = &obj.spec.config_schema
            && let Err(e) = jsonschema::validator_for(schema)
        {
            c.report(
                "/spec/configSchema",
                "InvalidConfigSchema",
                format!(
                    "spec.configSchema is not a valid JSON Schema: {}",
                    chain(&e)
                ),
            );
        }
    }
    for (key, obj) in &snap.transformations {
        c.at(Kind::Transformation, key);
        for (i, test) in obj.spec.tests.iter().enumerate() {
            if test.expect.is_some() == test.expect_error.is_some() {
                c.report(
                    &format!("/spec/tests/{i}"),
                    "InvalidTest",
                    format!(
                        "spec.tests[{i}] ({:?}): set exactly one of expect or expectError",
                        test.name
                    ),
                );
            }
        }
    }
    for (key, obj) in &snap.event_types {
        c.at(Kind::EventType, key);
        c.findings(super::event_types::findings(&obj.spec));
    }
    for (key, finding) in super::event_types::duplicates(snap) {
        c.at(Kind::EventType, &key);
        c.findings([finding]);
    }
    for (key, obj) in &snap.integrations {
        c.at(Kind::Integration, key);
        c.integration(obj);
    }
    for (key, obj) in &snap.endpoints {
        c.at(Kind::WebhookEndpoint, key);
        c.endpoint(obj);
    }
    for (key, obj) in &snap.transformations {
        c.at(Kind::Transformation, key);
        let (findings, counts) = jq_check::transformation_counted(&obj.spec);
        c.findings(findings);
        if let Some(counts) = counts {
            c.tests.insert(key.clone(), counts);
        }
    }
    for (key, obj) in &snap.subscriptions {
        c.at(Kind::WebhookSubscription, key);
        let spec = &obj.spec;
        c.url("/spec/url", &spec.url);
        c.findings(jq_check::expression(
            "/spec/filter",
            spec.filter.as_deref(),
            "InvalidFilter",
        ));
        c.local_ref(
            Kind::Transformation,
            "/spec/transformationRef/name",
            spec.transformation_ref.as_ref().map(|r| &r.name),
        );
        c.local_ref(
            Kind::Integration,
            "/spec/integrationRef/name",
            spec.integration_ref.as_ref().map(|r| &r.name),
        );
        if let Some(secret) = &spec.signing.secret_ref {
            c.secret(
                "/spec/signing/secretRef",
                secret,
                &[secret.key_or("secret")],
            );
        } else if spec.signing.scheme != SigningScheme::None {
            c.generated_signing_secret(&super::subscription::generated_secret_name(&key.name));
        }
        if let Some(auth) = &spec.auth {
            c.auth("/spec/auth", auth);
            if auth.auth_type == AuthType::OAuth2AuthorizationCode {
                c.report(
                    "/spec/auth/type",
                    "InvalidAuth",
                    "spec.auth.type OAuth2AuthorizationCode is for Integrations: name one with integrationRef and leave spec.auth out to use its connection".into(),
                );
            }
        }
        if let Some(dl) = &spec.dead_letter {
            c.dead_letter("/spec/deadLetter", dl, Some(&key.name));
        }
        if let Some(ad) = &spec.auto_disable
            && let Err(e) = ad.after.to_std()
        {
            c.report(
                "/spec/autoDisable/after",
                "InvalidDuration",
                format!("spec.autoDisable.after: {e}"),
            );
        }
    }
    for (key, obj) in &snap.schedules {
        c.at(Kind::SyncSchedule, key);
        let spec = &obj.spec;
        c.local_ref(
            Kind::Integration,
            "/spec/integrationRef/name",
            Some(&spec.integration_ref.name),
        );
        c.time_zone(spec.time_zone.as_deref());
        if let Err(e) = spec.schedule.parse::<croner::Cron>() {
            c.report(
                "/spec/schedule",
                "InvalidSchedule",
                format!(
                    "spec.schedule {:?} is not a valid cron expression: {}",
                    spec.schedule,
                    chain(&e)
                ),
            );
        }
        c.job_template("/spec/jobTemplate", &spec.job_template);
    }
    for (key, obj) in &snap.jobs {
        c.at(Kind::SyncJob, key);
        c.local_ref(
            Kind::Integration,
            "/spec/template/integrationRef/name",
            Some(&obj.spec.template.integration_ref.name),
        );
        c.job_template("/spec/template", &obj.spec.template.job);
    }
    (c.problems, c.tests)
}

impl Checker<'_> {
    fn at(&mut self, kind: Kind, key: &ObjectKey) {
        self.kind = kind;
        self.key = key.clone();
    }

    fn report(&mut self, pointer: &str, reason: &'static str, message: String) {
        self.problems.push(Problem {
            kind: self.kind,
            key: self.key.clone(),
            pointer: pointer.into(),
            message,
            reason,
        });
    }

    fn findings(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for f in findings {
            self.report(&f.pointer, f.reason, f.message);
        }
    }

    fn exists(&self, kind: Kind, name: &str) -> bool {
        let key = ObjectKey::new(&self.key.namespace, name);
        match kind {
            Kind::Integration => self.snap.integrations.contains_key(&key),
            Kind::Transformation => self.snap.transformations.contains_key(&key),
            Kind::SyncSchedule => self.snap.schedules.contains_key(&key),
            Kind::ClusterIntegrationProvider => {
                self.snap.providers.contains_key(&ObjectKey::cluster(name))
            }
            Kind::WebhookEndpoint => self.snap.endpoints.contains_key(&key),
            Kind::WebhookSubscription => self.snap.subscriptions.contains_key(&key),
            Kind::SyncJob => self.snap.jobs.contains_key(&key),
            Kind::EventType => self.snap.event_types.contains_key(&key),
        }
    }

    /// A dead-letter target: exactly one of a subscription that exists and is not the owner
    /// itself, or a URL.
    fn dead_letter(&mut self, pointer: &str, dl: &DeadLetter, own: Option<&str>) {
        match (&dl.subscription_ref, &dl.url) {
            (Some(_), Some(_)) | (None, None) => self.report(
                pointer,
                "InvalidDeadLetter",
                format!("{}: set exactly one of subscriptionRef or url", field(pointer)),
            ),
            (Some(r), None) if own == Some(r.name.as_str()) => self.report(
                &format!("{pointer}/subscriptionRef/name"),
                "DeadLetterIsItself",
                format!(
                    "{}.subscriptionRef names this subscription itself: its dead letters would be given up on with it; name another WebhookSubscription or a url",
                    field(pointer)
                ),
            ),
            (Some(r), None) if !self.exists(Kind::WebhookSubscription, &r.name) => {
                let ns = self.key.namespace.clone();
                self.report(
                    &format!("{pointer}/subscriptionRef/name"),
                    "DeadLetterNotFound",
                    format!(
                        "{}.subscriptionRef: WebhookSubscription {:?} not found in namespace {ns:?}; create it or name an existing one",
                        field(pointer),
                        r.name
                    ),
                );
            }
            (Some(_), None) => {}
            (None, Some(url)) => self.url(&format!("{pointer}/url"), url),
        }
    }

    fn local_ref(&mut self, kind: Kind, pointer: &str, name: Option<&String>) {
        let Some(name) = name else { return };
        if !self.exists(kind, name) {
            let reason = match kind {
                Kind::Transformation => "TransformationNotFound",
                Kind::Integration => "IntegrationNotFound",
                _ => "ReferenceNotFound",
            };
            let ns = &self.key.namespace;
            self.report(
                pointer,
                reason,
                format!("{kind} {name:?} not found in namespace {ns:?}"),
            );
        }
    }

    fn secret(&mut self, pointer: &str, secret: &SecretKeyRef, keys: &[&str]) {
        let ns = self.key.namespace.clone();
        let obj = match self.snap.secrets.get(&ObjectKey::new(&ns, &secret.name)) {
            None if self.opts.allow_missing_secrets => return,
            None => {
                self.report(
                    &format!("{pointer}/name"),
                    "SecretNotFound",
                    format!("secret {:?} not found in namespace {ns:?}", secret.name),
                );
                return;
            }
            Some(obj) if !obj.usable() => {
                self.report(
                    &format!("{pointer}/name"),
                    SECRET_NOT_USABLE,
                    not_usable_message(&ns, &secret.name),
                );
                return;
            }
            // Secrets managed elsewhere: their keys are not checked.
            Some(_) if self.opts.allow_missing_secrets => return,
            Some(obj) => obj,
        };
        for key in keys {
            if !obj.data.contains_key(*key) {
                let at = if secret.key.is_some() {
                    format!("{pointer}/key")
                } else {
                    pointer.to_owned()
                };
                self.report(
                    &at,
                    "SecretKeyNotFound",
                    format!(
                        "secret {:?} in namespace {ns:?} has no key {key:?}",
                        secret.name
                    ),
                );
            }
        }
    }

    /// A generated signing Secret is optional (the front-end makes it), but one that exists
    /// without the opt-in is not used.
    fn generated_signing_secret(&mut self, name: &str) {
        let ns = self.key.namespace.clone();
        if self
            .snap
            .secrets
            .get(&ObjectKey::new(&ns, name))
            .is_some_and(|s| !s.usable())
        {
            self.report(
                "/spec/signing",
                SECRET_NOT_USABLE,
                not_usable_message(&ns, name),
            );
        }
    }

    fn auth(&mut self, pointer: &str, auth: &Auth) {
        let Some(secret) = &auth.secret_ref else {
            return;
        };
        let keys: Vec<&str> = match auth.auth_type {
            AuthType::None => vec![],
            AuthType::ApiKey => vec![secret.key_or("apiKey")],
            AuthType::Bearer => vec![secret.key_or("token")],
            AuthType::Basic => vec!["username", "password"],
            AuthType::OAuth2ClientCredentials | AuthType::OAuth2AuthorizationCode => {
                vec!["clientId", "clientSecret"]
            }
        };
        self.secret(&format!("{pointer}/secretRef"), secret, &keys);
    }

    /// An authorization-code auth needs an authorize and a token URL, its own or its
    /// provider's; every URL given must parse.
    fn authorization_code(&mut self, auth: &Auth, provider: Option<&crate::api::OAuth2Endpoints>) {
        if auth.auth_type != AuthType::OAuth2AuthorizationCode {
            for (field, set) in [
                ("authorizeUrl", auth.authorize_url.is_some()),
                ("revocationUrl", auth.revocation_url.is_some()),
                ("authorizeParams", !auth.authorize_params.is_empty()),
                ("scopeSeparator", auth.scope_separator.is_some()),
                ("tokenAuthMethod", auth.token_auth_method.is_some()),
            ] {
                if set {
                    self.report(
                        &format!("/spec/auth/{field}"),
                        "InvalidAuth",
                        format!("spec.auth.{field} applies to type OAuth2AuthorizationCode only"),
                    );
                }
            }
            return;
        }
        for (field, own, published) in [
            (
                "authorizeUrl",
                &auth.authorize_url,
                provider.and_then(|p| p.authorize_url.as_ref()),
            ),
            (
                "tokenUrl",
                &auth.token_url,
                provider.and_then(|p| p.token_url.as_ref()),
            ),
        ] {
            match own {
                Some(url) => self.url(&format!("/spec/auth/{field}"), url),
                None if published.is_none() => self.report(
                    "/spec/auth",
                    "MissingOAuth2Endpoint",
                    format!(
                        "spec.auth.{field} is required for OAuth2AuthorizationCode: the Integration has no provider that publishes one"
                    ),
                ),
                None => {}
            }
        }
        if let Some(url) = &auth.revocation_url {
            self.url("/spec/auth/revocationUrl", url);
        }
    }

    fn url(&mut self, pointer: &str, url: &crate::api::HttpUrl) {
        if let Err(e) = url.parse() {
            self.report(pointer, "InvalidURL", e);
        }
    }

    fn time_zone(&mut self, tz: Option<&str>) {
        if let Some(tz) = tz.filter(|tz| tz.parse::<chrono_tz::Tz>().is_err()) {
            self.report(
                "/spec/timeZone",
                "InvalidTimeZone",
                format!("spec.timeZone {tz:?} is not an IANA time zone such as \"Europe/Paris\""),
            );
        }
    }

    fn integration(&mut self, obj: &Object<crate::api::IntegrationSpec>) {
        let spec = &obj.spec;
        let provider = spec
            .provider
            .as_ref()
            .and_then(|p| self.snap.providers.get(&ObjectKey::cluster(p)));
        if let (Some(name), None) = (&spec.provider, provider)
            && !self.opts.allow_missing_providers
        {
            self.report(
                "/spec/provider",
                "ProviderNotFound",
                format!("ClusterIntegrationProvider {name:?} not found"),
            );
        }
        if let Some(url) = &spec.base_url {
            self.url("/spec/baseUrl", url);
        } else if provider.is_some_and(|p| p.spec.base_url.is_none()) {
            self.report(
                "/spec",
                "MissingBaseURL",
                "spec.baseUrl is required: the provider has no baseUrl".into(),
            );
        }
        if let Some(auth) = &spec.auth {
            self.auth("/spec/auth", auth);
            self.authorization_code(auth, provider.and_then(|p| p.spec.oauth2.as_ref()));
        }
        let schema = provider.and_then(|p| p.spec.config_schema.as_ref());
        if let (Some(config), Some(schema)) = (&spec.config, schema)
            && let Ok(validator) = jsonschema::validator_for(schema)
        {
            for e in validator.iter_errors(config) {
                let path = e.instance_path().as_str().to_owned();
                self.report(
                    &format!("/spec/config{path}"),
                    "InvalidConfig",
                    format!("spec.config{}: {}", path.replace('/', "."), chain(&e)),
                );
            }
        }
    }

    fn endpoint(&mut self, obj: &Object<WebhookEndpointSpec>) {
        let spec = &obj.spec;
        let integration = spec.integration_ref.as_ref().map(|r| r.name.clone());
        self.local_ref(
            Kind::Integration,
            "/spec/integrationRef/name",
            integration.as_ref(),
        );
        self.local_ref(
            Kind::Transformation,
            "/spec/transformationRef/name",
            spec.transformation_ref.as_ref().map(|r| &r.name),
        );
        let scheme = effective_verify_scheme(self.snap, &self.key.namespace, spec);
        if scheme.is_none() {
            self.report("/spec/verify", "VerifySchemeUnknown", "spec.verify.scheme is required: the endpoint has no integration whose provider names a webhook verification preset".into());
        }
        if scheme == Some(VerifyScheme::PayPal) && spec.verify.paypal.is_none() {
            self.report(
                "/spec/verify/paypal",
                "InvalidVerify",
                "spec.verify.paypal.webhookId is required: PayPal signs each webhook with the id of the webhook it was sent for".into(),
            );
        }
        if let Some(secret) = &spec.verify.secret_ref {
            let keys: Vec<&str> = match scheme {
                Some(VerifyScheme::Basic) => vec!["username", "password"],
                Some(VerifyScheme::Bearer) => vec![secret.key_or("token")],
                Some(VerifyScheme::None | VerifyScheme::PayPal) => vec![],
                _ => vec![secret.key_or("secret")],
            };
            self.secret("/spec/verify/secretRef", secret, &keys);
        }
        for (i, cidr) in spec.allowed_source_ranges.iter().enumerate() {
            if cidr.parse::<ipnet::IpNet>().is_err() {
                self.report(
                    &format!("/spec/allowedSourceRanges/{i}"),
                    "InvalidCIDR",
                    format!("spec.allowedSourceRanges[{i}] {cidr:?} is not a CIDR"),
                );
            }
        }
        if let Some(forward) = &spec.route.forward {
            self.url("/spec/route/forward/url", &forward.url);
            if let Some(dl) = &forward.dead_letter {
                self.dead_letter("/spec/route/forward/deadLetter", dl, None);
            }
        }
        let event_type_jq = spec.event_type.as_ref().and_then(|e| e.jq.as_deref());
        self.findings(jq_check::expression(
            "/spec/eventType/jq",
            event_type_jq,
            "InvalidJq",
        ));
        let id_jq = spec.dedup.as_ref().and_then(|d| d.id_jq.as_deref());
        self.findings(jq_check::expression("/spec/dedup/idJq", id_jq, "InvalidJq"));
    }

    fn job_template(&mut self, pointer: &str, job: &SyncJobTemplate) {
        self.local_ref(
            Kind::Transformation,
            &format!("{pointer}/transformationRef/name"),
            job.transformation_ref.as_ref().map(|r| &r.name),
        );
        if let Some(forward) = &job.sink.forward {
            self.url(&format!("{pointer}/sink/forward/url"), &forward.url);
        }
        let request = &job.request;
        let paths = [
            ("itemsPath", request.items_path.as_deref()),
            (
                "pagination/cursorPath",
                request
                    .pagination
                    .as_ref()
                    .and_then(|p| p.cursor_path.as_deref()),
            ),
            (
                "incremental/watermarkPath",
                request
                    .incremental
                    .as_ref()
                    .map(|i| i.watermark_path.as_str()),
            ),
        ];
        for (field, src) in paths {
            let at = format!("{pointer}/request/{field}");
            self.findings(jq_check::expression(&at, src, "InvalidJq"));
        }
    }
}

/// The verification scheme an endpoint uses: its own, or its integration's provider preset.
pub fn effective_verify_scheme(
    snap: &Snapshot,
    namespace: &str,
    spec: &WebhookEndpointSpec,
) -> Option<VerifyScheme> {
    if let Some(scheme) = spec.verify.scheme {
        return Some(scheme);
    }
    let integration = snap.integrations.get(&ObjectKey::new(
        namespace,
        &spec.integration_ref.as_ref()?.name,
    ))?;
    let provider = snap
        .providers
        .get(&ObjectKey::cluster(integration.spec.provider.as_ref()?))?;
    Some(provider.spec.webhooks.as_ref()?.verify)
}

/// Problems grouped by resource, for status reporting.
pub fn by_resource(problems: &[Problem]) -> BTreeMap<(Kind, ObjectKey), Vec<&Problem>> {
    let mut out: BTreeMap<(Kind, ObjectKey), Vec<&Problem>> = BTreeMap::new();
    for p in problems {
        out.entry((p.kind, p.key.clone())).or_default().push(p);
    }
    out
}

/// A JSON pointer as a field path: "/spec/deadLetter" is "spec.deadLetter".
fn field(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::snapshot::{Meta, SecretObject, SecretValue, USABLE_LABEL};
    use serde_json::json;

    fn with_secret(keys: &[&str]) -> Snapshot {
        let mut snap = Snapshot::default();
        snap.insert_json(
            Kind::Integration,
            ObjectKey::new("ns", "api"),
            Meta::default(),
            json!({"baseUrl": "https://api.example.com",
                "auth": {"type": "Bearer", "secretRef": {"name": "creds", "key": "pat"}}}),
        )
        .unwrap();
        let mut secret = SecretObject::default();
        secret
            .meta
            .labels
            .insert(USABLE_LABEL.into(), "true".into());
        for k in keys {
            secret.data.insert((*k).into(), SecretValue(b"v".to_vec()));
        }
        snap.secrets.insert(ObjectKey::new("ns", "creds"), secret);
        snap
    }

    #[test]
    fn a_missing_key_of_an_existing_secret_is_secret_key_not_found_naming_the_key() {
        let found = check(&with_secret(&["token"]), CheckOptions::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].reason, "SecretKeyNotFound");
        assert_eq!(found[0].pointer, "/spec/auth/secretRef/key");
        assert!(found[0].message.contains("\"pat\""), "{}", found[0].message);
        let mut gone = with_secret(&[]);
        gone.secrets.clear();
        let found = check(&gone, CheckOptions::default());
        assert_eq!(found[0].reason, "SecretNotFound", "{found:?}");
        assert!(check(&with_secret(&["pat"]), CheckOptions::default()).is_empty());
    }

    #[test]
    fn a_secret_without_the_opt_in_is_secret_not_usable_with_what_to_do() {
        for labels in [vec![], vec![(USABLE_LABEL, "false")]] {
            let mut snap = with_secret(&["pat"]);
            let secret = snap
                .secrets
                .get_mut(&ObjectKey::new("ns", "creds"))
                .unwrap();
            secret.meta.labels.clear();
            secret.data.clear();
            for (k, v) in labels {
                secret.meta.labels.insert(k.into(), v.into());
            }
            // Even where missing Secrets are allowed: this one is there, and not usable.
            for opts in [
                CheckOptions::default(),
                CheckOptions {
                    allow_missing_secrets: true,
                    ..CheckOptions::default()
                },
            ] {
                let found = check(&snap, opts);
                assert_eq!(found.len(), 1, "{found:?}");
                assert_eq!(found[0].reason, SECRET_NOT_USABLE);
                assert_eq!(found[0].pointer, "/spec/auth/secretRef/name");
                assert!(
                    found[0]
                        .message
                        .contains("kubectl label secret creds -n ns switchboard.dev/usable=true"),
                    "{}",
                    found[0].message
                );
            }
        }
    }

    #[test]
    fn every_secret_reference_and_a_generated_signing_secret_need_the_opt_in() {
        let mut snap = Snapshot::default();
        let specs = [
            (
                Kind::WebhookSubscription,
                "signed",
                json!({"url": "https://x.example.com", "eventTypes": ["*"],
                    "signing": {"secretRef": {"name": "creds"}}}),
            ),
            (
                Kind::WebhookSubscription,
                "authed",
                json!({"url": "https://x.example.com", "eventTypes": ["*"],
                    "signing": {"scheme": "None"},
                    "auth": {"type": "Bearer", "secretRef": {"name": "creds"}}}),
            ),
            (
                Kind::WebhookSubscription,
                "generated",
                json!({"url": "https://x.example.com", "eventTypes": ["*"]}),
            ),
            (
                Kind::WebhookEndpoint,
                "hook",
                json!({"verify": {"scheme": "GitHub", "secretRef": {"name": "creds"}},
                    "route": {"publish": {}}}),
            ),
        ];
        for (kind, name, spec) in specs {
            snap.insert_json(kind, ObjectKey::new("ns", name), Meta::default(), spec)
                .unwrap();
        }
        for name in ["creds", "generated-signing"] {
            snap.secrets
                .insert(ObjectKey::new("ns", name), SecretObject::default());
        }
        let found = check(&snap, CheckOptions::default());
        let mut at: Vec<_> = found
            .iter()
            .map(|p| (p.key.name.as_str(), p.reason, p.pointer.as_str()))
            .collect();
        at.sort();
        assert_eq!(
            at,
            [
                ("authed", SECRET_NOT_USABLE, "/spec/auth/secretRef/name"),
                ("generated", SECRET_NOT_USABLE, "/spec/signing"),
                ("hook", SECRET_NOT_USABLE, "/spec/verify/secretRef/name"),
                ("signed", SECRET_NOT_USABLE, "/spec/signing/secretRef/name"),
            ]
        );
    }

    #[test]
    fn transformation_tests_are_counted() {
        let mut snap = Snapshot::default();
        snap.insert_json(
            Kind::Transformation,
            ObjectKey::new("ns", "t"),
            Meta::default(),
            json!({"jq": "{a: .x}", "tests": [
                {"name": "one", "input": {"x": 1}, "expect": {"a": 1}},
                {"name": "two", "input": {"x": 2}, "expect": {"a": 2}},
                {"name": "bad", "input": {"x": 3}, "expect": {"a": 4}}
            ]}),
        )
        .unwrap();
        let (problems, counts) = check_counting(&snap, CheckOptions::default());
        assert_eq!(counts.get(&ObjectKey::new("ns", "t")), Some(&(2, 1)));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].reason, "TestsFailed");
        assert!(
            problems[0].message.contains("\"bad\""),
            "{}",
            problems[0].message
        );
    }
}
