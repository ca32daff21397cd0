//! The async entry point: evaluations run on tokio's blocking threads, at most a fixed
//! number at a time, so CPU-bound jq never stalls the async runtime.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::meta::Meta;
use super::program::{Output, Program, TransformError};

/// Why a pooled evaluation did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The evaluation task was cancelled or panicked.
    #[error("evaluation task failed")]
    Join(#[source] tokio::task::JoinError),
    /// The pool was closed.
    #[error("evaluation pool is closed")]
    Closed(#[source] tokio::sync::AcquireError),
}

/// Runs synchronous evaluations on blocking threads, at most `permits` at once. Each
/// evaluation ends within its time budget, so a permit is never held for longer.
#[derive(Clone, Debug)]
pub struct EvalPool {
    permits: Arc<Semaphore>,
}

impl EvalPool {
    /// A pool running at most `concurrency` evaluations at a time (at least one).
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// Runs `work` on a blocking thread once a permit is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(PoolError::Closed)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(PoolError::Join)
    }

    /// Runs a transformation on a raw payload.
    pub async fn transform(
        &self,
        program: Arc<Program>,
        raw: Vec<u8>,
        meta: Meta,
    ) -> Result<Result<Output, TransformError>, PoolError> {
        self.run(move || program.run(&raw, &meta)).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::transform::Limits;

    #[tokio::test(flavor = "current_thread")]
    async fn runaway_does_not_stall_the_runtime() {
        let spec = serde_json::from_value(json!({"jq": "def f: f; f"})).unwrap();
        let program = Arc::new(Program::compile(&spec).unwrap().with_limits(Limits {
            timeout: Duration::from_millis(500),
            ..Limits::default()
        }));
        let pool = EvalPool::new(1);
        let started = Instant::now();
        let running = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.transform(program, b"1".to_vec(), Meta::default())
                    .await
            }
        });
        // The single-threaded runtime keeps serving timers while jq runs elsewhere.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_millis(400));
        let result = running.await.unwrap().unwrap();
        assert!(result.unwrap_err().to_string().contains("time budget"));
    }
}
