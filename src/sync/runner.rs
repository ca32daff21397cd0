//! Runs one SyncJob: pages through the source, extracts the records with `itemsPath`,
//! transforms and sinks each, counts progress (reported at most every few seconds and at
//! the end), stores a checkpoint after every page, and stops within one page on cancel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::{SyncJobPhase, SyncJobType};
use crate::error_chain::{chain, render};
use crate::store::{NewEvent, Payload, Store};
use crate::transform::{JqExpr, Meta, Program};

use super::cron::Clock;
use super::page::Pager;
use super::record::{Checkpoint, JobRecord, Key};
use super::sink::Sink;
use super::source::{CallRequest, Source};

/// Records of one page sunk at once.
const SINK_CONCURRENCY: usize = 32;

/// Where a run reports job and schedule status (the engine's status board).
pub trait Reporter: Send + Sync {
    /// The job's current status.
    fn job(&self, record: &JobRecord);
    /// The job is gone (history limit).
    fn job_removed(&self, key: &Key);
    /// A schedule's status fields (conditions are the engine's).
    fn schedule(&self, key: &Key, status: &crate::api::SyncScheduleStatus);
}

/// Everything a run needs, built from its template.
pub struct JobParts {
    /// The API the pages come from.
    pub source: Arc<dyn Source>,
    /// Pagination.
    pub pager: Pager,
    /// `itemsPath`.
    pub items: Option<JqExpr>,
    /// `incremental.watermarkPath`.
    pub watermark: Option<JqExpr>,
    /// The transformation of each record.
    pub transform: Option<Arc<Program>>,
    /// Where records go.
    pub sink: Sink,
}

/// Shared by every run.
#[derive(Clone)]
pub struct RunContext {
    /// Checkpoints and final records.
    pub store: Arc<dyn Store>,
    /// Status.
    pub reporter: Arc<dyn Reporter>,
    /// Time of startedAt/completedAt.
    pub clock: Arc<dyn Clock>,
    /// Progress is reported at most this often.
    pub progress_every: Duration,
    /// Serializes schedule state updates.
    pub state: super::state::StateLock,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    /// The record as last stored.
    pub record: JobRecord,
    /// False when the run stopped for a shutdown (left Running, to be resumed).
    pub finished: bool,
    /// On success, the watermark to store.
    pub watermark: Option<String>,
}

/// Why a page failed.
#[derive(Debug, thiserror::Error)]
enum PageFailure {
    #[error("page {page}")]
    Call {
        page: u64,
        #[source]
        source: super::source::SourceError,
    },
    #[error("page {page}: the API answered HTTP {status}")]
    Status { page: u64, status: u16 },
    #[error("page {page}: the response is not JSON")]
    Json {
        page: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("page {page}: itemsPath: {message}")]
    Items { page: u64, message: String },
    #[error("page {page}")]
    Paging {
        page: u64,
        #[source]
        source: super::page::PageError,
    },
}

/// Runs (or resumes, from its checkpoint) a job until it ends, is cancelled, or `shutdown`.
pub async fn run(
    ctx: &RunContext,
    parts: &JobParts,
    mut record: JobRecord,
    watermark_in: Option<String>,
    cancel: CancellationToken,
    shutdown: CancellationToken,
) -> RunOutcome {
    let now = ctx.clock.now();
    record.status.phase = Some(SyncJobPhase::Running);
    if record.status.started_at.is_none() {
        record.status.started_at = super::record::to_time(now);
    }
    let mut cp = record.checkpoint.clone().unwrap_or_else(|| Checkpoint {
        watermark_in,
        ..Checkpoint::default()
    });
    record.checkpoint = Some(cp.clone());
    save(ctx, &record).await;
    ctx.reporter.job(&record);
    let mut last_report = Instant::now();
    let mut dirty = false;
    let template = record.spec.template.job.clone();
    let request = &template.request;
    let send_watermark = template.job_type == SyncJobType::Incremental;
    let source_name = format!(
        "sync/{}",
        record.schedule.as_deref().unwrap_or(&record.key.name)
    );
    let outcome = loop {
        if shutdown.is_cancelled() {
            return RunOutcome {
                record,
                finished: false,
                watermark: None,
            };
        }
        if cancel.is_cancelled() {
            break Err((SyncJobPhase::Cancelled, None));
        }
        let Some(page) = parts.pager.request(&request.path, &cp.cursor) else {
            break Ok(());
        };
        let page_no = cp.cursor.pages + 1;
        let mut query = Vec::new();
        if page.with_base_query {
            query.extend(request.query.iter().map(|(k, v)| (k.clone(), v.clone())));
            if let (true, Some(inc), Some(mark)) =
                (send_watermark, &request.incremental, &cp.watermark_in)
            {
                query.push((inc.param.clone(), mark.clone()));
            }
        }
        query.extend(page.query);
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let body = request.body.as_ref().map(|b| {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Bytes::from(serde_json::to_vec(b).unwrap_or_default())
        });
        let call = CallRequest {
            method: Method::from_bytes(request.method.as_str().as_bytes()).unwrap_or(Method::GET),
            path: page.path,
            query,
            headers,
            body,
        };
        let call = parts.source.call(call);
        tokio::pin!(call);
        // While a page is slow, progress still reaches the status every few seconds.
        let response = loop {
            let stale =
                dirty.then(|| tokio::time::Instant::from_std(last_report + ctx.progress_every));
            tokio::select! {
                _ = cancel.cancelled() => break None,
                _ = shutdown.cancelled() => break None,
                r = &mut call => break Some(r),
                _ = async {
                    match stale {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {
                    ctx.reporter.job(&record);
                    last_report = Instant::now();
                    dirty = false;
                }
            }
        };
        let Some(response) = response else {
            if shutdown.is_cancelled() {
                continue;
            }
            break Err((SyncJobPhase::Cancelled, None));
        };
        let fetched = match read_page(parts, page_no, response) {
            Ok(f) => f,
            Err(e) => break Err((SyncJobPhase::Failed, Some(render(&e)))),
        };
        let (body, headers, items) = fetched;
        let next = match parts
            .pager
            .advance(&cp.cursor, &headers, &body, items.len())
        {
            Ok(n) => n,
            Err(source) => {
                let e = PageFailure::Paging {
                    page: page_no,
                    source,
                };
                break Err((SyncJobPhase::Failed, Some(render(&e))));
            }
        };
        if let Some(expr) = &parts.watermark {
            for item in &items {
                if let Ok(Some(mark)) = expr.eval(item) {
                    cp.watermark_max = Some(max_mark(cp.watermark_max.take(), mark));
                }
            }
        }
        // The records of a page are sunk concurrently (their commits share group commits);
        // results come back in page order.
        let sunk: Vec<Result<(), String>> = {
            let record = &record;
            let source_name = &source_name;
            futures::stream::iter(items.into_iter().enumerate().map(|(i, item)| async move {
                let id = format!("{}-p{page_no}-{i}", record.key.name);
                sink_one(parts, record, source_name, &id, item, ctx).await
            }))
            .buffered(SINK_CONCURRENCY)
            .collect()
            .await
        };
        for (i, result) in sunk.into_iter().enumerate() {
            record.status.processed_records += 1;
            match result {
                Ok(()) => record.status.succeeded_records += 1,
                Err(message) => {
                    record.status.failed_records += 1;
                    record.note_error(format!("page {page_no} record {i}: {message}"));
                }
            }
        }
        record.status.pages_fetched = next.pages;
        cp.cursor = next;
        record.checkpoint = Some(cp.clone());
        save(ctx, &record).await;
        dirty = true;
        if last_report.elapsed() >= ctx.progress_every {
            ctx.reporter.job(&record);
            last_report = Instant::now();
            dirty = false;
        }
    };
    let now = ctx.clock.now();
    let watermark = match outcome {
        Ok(()) => {
            record.status.total_records = record.status.processed_records;
            let watermark = cp.watermark_max.as_ref().map(mark_text);
            // The watermark is durable before the job says Completed.
            if let Some(schedule) = &record.schedule {
                let key = Key::new(&record.key.namespace, schedule);
                let mark = watermark.clone();
                let stored = ctx
                    .state
                    .update(ctx.store.as_ref(), &key, |state| {
                        if mark.is_some() {
                            state.watermark = mark;
                        }
                        state.last_successful_time = Some(now);
                    })
                    .await;
                if let Err(e) = stored {
                    tracing::warn!(job = %record.key, error = %chain(&e), "storing the watermark");
                }
            }
            record.finish(SyncJobPhase::Completed, now, None);
            watermark
        }
        Err((phase, message)) => {
            record.finish(phase, now, message);
            None
        }
    };
    record.checkpoint = None;
    save(ctx, &record).await;
    ctx.reporter.job(&record);
    RunOutcome {
        record,
        finished: true,
        watermark,
    }
}

type Page = (Value, HeaderMap, Vec<Value>);

fn read_page(
    parts: &JobParts,
    page: u64,
    response: Result<super::source::CallResponse, super::source::SourceError>,
) -> Result<Page, PageFailure> {
    let response = response.map_err(|source| PageFailure::Call { page, source })?;
    if !response.status.is_success() {
        return Err(PageFailure::Status {
            page,
            status: response.status.as_u16(),
        });
    }
    let body: Value = if response.body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&response.body)
            .map_err(|source| PageFailure::Json { page, source })?
    };
    let items = match &parts.items {
        Some(expr) => expr.eval(&body).map_err(|e| PageFailure::Items {
            page,
            message: render(&e),
        })?,
        None => Some(body.clone()),
    };
    let items = match items {
        None => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(PageFailure::Items {
                page,
                message: format!(
                    "expected an array of records, got {}",
                    crate::transform::format::type_name(&other)
                ),
            });
        }
    };
    Ok((body, response.headers, items))
}

async fn sink_one(
    parts: &JobParts,
    record: &JobRecord,
    source_name: &str,
    id: &str,
    item: Value,
    ctx: &RunContext,
) -> Result<(), String> {
    let event_type = match &parts.sink {
        Sink::Publish { event_type, .. } => Some(event_type.clone()),
        Sink::Forward(_) => None,
    };
    // A JSON body is the payload's text; Form output is published as the object it encodes.
    let (form_value, body, content_type) = match &parts.transform {
        Some(program) => {
            let meta = Meta {
                event_type: event_type.clone(),
                namespace: Some(record.key.namespace.clone()),
                source: Some(format!("SyncJob/{}", record.key)),
                received_at: Some(ctx.clock.now()),
                ..Meta::default()
            };
            let out = program.apply(&item, &meta).map_err(|e| render(&e))?;
            let form_value = (out.content_type != "application/json").then(|| out.value());
            (form_value, out.body, out.content_type)
        }
        None => {
            let body = serde_json::to_vec(&item).map_err(|e| render(&e))?;
            (None, body, "application/json")
        }
    };
    match &parts.sink {
        Sink::Publish {
            event_type,
            publisher,
        } => publisher
            .publish(NewEvent {
                id: id.to_owned(),
                namespace: record.key.namespace.clone(),
                event_type: event_type.clone(),
                source: source_name.to_owned(),
                payload: match form_value {
                    Some(value) => Payload::from_value(&value).map_err(|e| render(&e))?,
                    None => Payload::trusted(String::from_utf8(body).map_err(|e| render(&e))?),
                },
                received_at: ctx.clock.now(),
                context: None,
            })
            .await
            .map_err(|e| render(&e)),
        Sink::Forward(destination) => Sink::forward(destination, id, content_type, body)
            .await
            .map_err(|e| render(&e)),
    }
}

async fn save(ctx: &RunContext, record: &JobRecord) {
    if let Err(e) = record.save(ctx.store.as_ref()).await {
        tracing::warn!(job = %record.key, error = %chain(&e), "storing the sync job's progress");
    }
}

/// The larger of two watermarks: numbers numerically, anything else by its text.
pub fn max_mark(current: Option<Value>, seen: Value) -> Value {
    match current {
        None => seen,
        Some(cur) => {
            let larger = match (cur.as_f64(), seen.as_f64()) {
                (Some(a), Some(b)) => b > a,
                _ => mark_text(&seen) > mark_text(&cur),
            };
            if larger { seen } else { cur }
        }
    }
}

/// A watermark as the text sent in the query parameter.
pub fn mark_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn watermarks_compare_numbers_numerically_and_text_lexically() {
        assert_eq!(max_mark(Some(json!(9)), json!(10)), json!(10));
        assert_eq!(
            max_mark(
                Some(json!("2026-05-02T00:00:00Z")),
                json!("2026-05-01T00:00:00Z")
            ),
            json!("2026-05-02T00:00:00Z")
        );
        assert_eq!(mark_text(&json!(12)), "12");
    }
}
