//! What the engine wants the sync runtime to run, and how a job's parts are built from it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::{SyncJobRunTemplate, SyncJobSpec, SyncScheduleSpec, TransformationSpec};
use crate::delivery::{Destination, DestinationPolicy, DestinationSpec, Signer};
use crate::transform::{JqExpr, Program};

use super::page::Pager;
use super::record::Key;
use super::runner::JobParts;
use super::sink::{Publisher, Sink};
use super::source::{BaseUrlSource, Source, SourceError};

/// A SyncSchedule to run.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleEntry {
    /// Its spec.
    pub spec: SyncScheduleSpec,
    /// The `switchboard.dev/sync-requested-at` annotation.
    pub requested_at: Option<String>,
}

/// A SyncJob resource (hand-created, or a schedule's run mirrored by the cluster).
#[derive(Clone, Debug, PartialEq)]
pub struct JobEntry {
    /// Its spec.
    pub spec: SyncJobSpec,
    /// How it ended, when its resource says it already finished (annotation
    /// `switchboard.dev/sync-finished`): it is not run again.
    pub finished: Option<crate::api::SyncJobPhase>,
}

/// Everything the sync runtime runs, with what jobs reference.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DesiredSyncs {
    /// Valid SyncSchedules.
    pub schedules: BTreeMap<Key, ScheduleEntry>,
    /// Valid SyncJob resources.
    pub jobs: BTreeMap<Key, JobEntry>,
    /// Base URL of every Integration (its own or its provider's).
    pub integrations: BTreeMap<Key, String>,
    /// Transformations.
    pub transformations: BTreeMap<Key, TransformationSpec>,
}

/// Makes the source of an Integration (namespace/name, base URL).
pub type SourceFactory =
    Arc<dyn Fn(&Key, &str) -> Result<Arc<dyn Source>, SourceError> + Send + Sync>;

/// The default source factory: a plain client on the base URL.
pub fn base_url_sources(timeout: Duration) -> SourceFactory {
    Arc::new(move |_key, base_url| {
        Ok(Arc::new(BaseUrlSource::new(base_url, timeout)?) as Arc<dyn Source>)
    })
}

/// Why a job cannot run.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    /// The Integration does not exist (or has no base URL).
    #[error("integration {0:?} not found or without a base URL")]
    Integration(String),
    /// The Transformation does not exist.
    #[error("transformation {0:?} not found")]
    Transformation(String),
    /// The source could not be made.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A jq path does not compile.
    #[error("{field}")]
    Jq {
        /// The field.
        field: &'static str,
        /// The compiler's error.
        #[source]
        source: crate::transform::CompileError,
    },
    /// Pagination settings are unusable.
    #[error(transparent)]
    Page(#[from] super::page::PageError),
    /// The transformation does not compile.
    #[error("transformation")]
    Program(#[source] crate::transform::BuildError),
    /// The forward destination is refused or invalid.
    #[error("spec.sink.forward.url")]
    Destination(#[source] crate::delivery::DestinationError),
    /// Neither publish nor forward is set.
    #[error("spec.sink: set exactly one of publish or forward")]
    Sink,
}

/// What job parts are built with.
pub struct PartsContext<'a> {
    /// The desired state (integrations, transformations).
    pub desired: &'a DesiredSyncs,
    /// Makes sources.
    pub sources: &'a SourceFactory,
    /// The engine's publish path.
    pub publisher: &'a Arc<dyn Publisher>,
    /// The SSRF guard of forward sinks.
    pub policy: &'a Arc<DestinationPolicy>,
}

/// Builds the parts of a job of `namespace` from its template.
pub fn build_parts(
    namespace: &str,
    template: &SyncJobRunTemplate,
    ctx: &PartsContext<'_>,
) -> Result<JobParts, PartsError> {
    let integration = Key::new(namespace, &template.integration_ref.name);
    let base_url = ctx
        .desired
        .integrations
        .get(&integration)
        .ok_or_else(|| PartsError::Integration(integration.name.clone()))?;
    let source = (ctx.sources)(&integration, base_url)?;
    let job = &template.job;
    let jq = |field: &'static str, src: &Option<String>| {
        src.as_deref()
            .map(JqExpr::compile)
            .transpose()
            .map_err(|source| PartsError::Jq { field, source })
    };
    let items = jq("spec.request.itemsPath", &job.request.items_path)?;
    let watermark = jq(
        "spec.request.incremental.watermarkPath",
        &job.request
            .incremental
            .as_ref()
            .map(|i| i.watermark_path.clone()),
    )?;
    let pager = Pager::new(job.request.pagination.as_ref())?;
    let transform = match &job.transformation_ref {
        None => None,
        Some(r) => {
            let spec = ctx
                .desired
                .transformations
                .get(&Key::new(namespace, &r.name))
                .ok_or_else(|| PartsError::Transformation(r.name.clone()))?;
            Some(Arc::new(
                Program::compile(spec).map_err(PartsError::Program)?,
            ))
        }
    };
    let sink = match (&job.sink.publish, &job.sink.forward) {
        (Some(p), None) => Sink::Publish {
            event_type: p.event_type.clone(),
            publisher: ctx.publisher.clone(),
        },
        (None, Some(f)) => Sink::Forward(Arc::new(
            Destination::build(
                DestinationSpec {
                    url: f.url.0.clone(),
                    headers: Vec::new(),
                    query: Vec::new(),
                    timeout: Duration::from_secs(30),
                    schedule: Vec::new(),
                    signer: Signer::None,
                },
                ctx.policy.clone(),
            )
            .map_err(PartsError::Destination)?,
        )),
        _ => return Err(PartsError::Sink),
    };
    Ok(JobParts {
        source,
        pager,
        items,
        watermark,
        transform,
        sink,
    })
}
