//! Group commit: writes from many concurrent callers (acceptances, attempt records) are
//! committed in one transaction.
//!
//! Callers send their items over a channel with a oneshot reply. One task drains whatever is
//! queued (up to a batch size), hands it to a [`BatchWriter`] that commits it in a single
//! transaction, then answers every caller. Under load the cost of one commit (an fsync) is
//! shared by hundreds of writes; when idle a lone write commits at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::StoreError;

/// Commits a batch of items in one transaction.
#[async_trait]
pub trait BatchWriter: Send + Sync + 'static {
    /// What callers write.
    type Item: Send + Sync + 'static;
    /// What each item's write answers.
    type Output: Send + 'static;
    /// Stores `batch` atomically and returns one result per item, in order. On error
    /// nothing of the batch is stored.
    async fn write_batch(&self, batch: Vec<Self::Item>) -> Result<Vec<Self::Output>, StoreError>;
}

/// The answer a caller waits for.
type Reply<O> = Result<Vec<O>, StoreError>;

/// One caller's items and where to send the answer.
struct Request<I, O> {
    batch: Vec<I>,
    reply: oneshot::Sender<Reply<O>>,
}

/// Front of the group-commit task; cheap to share, stops the task when dropped.
pub struct GroupCommitter<I, O> {
    requests: mpsc::Sender<Request<I, O>>,
}

impl<I: Send + Sync + 'static, O: Send + 'static> GroupCommitter<I, O> {
    /// Starts the commit task on the current Tokio runtime; each transaction holds at most
    /// `max_batch` items (a single larger request is committed whole).
    pub fn spawn(writer: impl BatchWriter<Item = I, Output = O>, max_batch: usize) -> Self {
        Self::spawn_lingering(writer, max_batch, Duration::ZERO)
    }

    /// Like [`GroupCommitter::spawn`], but a batch that is not full waits up to `linger` for
    /// more items before it is committed: for writes nobody waits on to go on (attempt
    /// records), larger batches for a little latency. Zero commits at once.
    pub fn spawn_lingering(
        writer: impl BatchWriter<Item = I, Output = O>,
        max_batch: usize,
        linger: Duration,
    ) -> Self {
        let max_batch = max_batch.max(1);
        let (requests, queue) = mpsc::channel(max_batch * 4);
        tokio::spawn(run(writer, queue, max_batch, linger));
        Self { requests }
    }

    /// Queues `batch` for the next commit and waits until it is durable.
    pub async fn submit(&self, batch: Vec<I>) -> Result<Vec<O>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { batch, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The commit loop: runs until every [`GroupCommitter`] handle is dropped.
async fn run<W: BatchWriter>(
    writer: W,
    mut queue: mpsc::Receiver<Request<W::Item, W::Output>>,
    max_batch: usize,
    linger: Duration,
) {
    while let Some(first) = queue.recv().await {
        let mut size = first.batch.len();
        let mut requests = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        while size < max_batch {
            let next = match queue.try_recv() {
                Ok(next) => next,
                Err(_) if linger.is_zero() => break,
                Err(_) => match tokio::time::timeout_at(deadline, queue.recv()).await {
                    Ok(Some(next)) => next,
                    Ok(None) | Err(_) => break,
                },
            };
            size += next.batch.len();
            requests.push(next);
        }
        commit(&writer, requests, size).await;
    }
}

/// Commits the requests' acceptances together and answers each request.
async fn commit<W: BatchWriter>(
    writer: &W,
    requests: Vec<Request<W::Item, W::Output>>,
    size: usize,
) {
    let mut all = Vec::with_capacity(size);
    let mut waiting = Vec::with_capacity(requests.len());
    for Request { batch, reply } in requests {
        waiting.push((batch.len(), reply));
        all.extend(batch);
    }
    match writer.write_batch(all).await {
        Ok(results) => {
            let mut results = results.into_iter();
            for (len, reply) in waiting {
                // A caller that gave up waiting is no reason to stop answering the others.
                let _ = reply.send(Ok(results.by_ref().take(len).collect()));
            }
        }
        Err(error) if waiting.len() == 1 => {
            if let Some((_, reply)) = waiting.pop() {
                let _ = reply.send(Err(error));
            }
        }
        Err(error) => {
            let shared = Arc::new(error);
            for (_, reply) in waiting {
                let _ = reply.send(Err(StoreError::GroupCommit(shared.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::store::{Acceptance, Accepted, NewEvent};

    /// Records batch sizes; fails batches containing an event with id "bad".
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<usize>>>);

    #[async_trait]
    impl BatchWriter for Recorder {
        type Item = Acceptance;
        type Output = Accepted;
        async fn write_batch(&self, batch: Vec<Acceptance>) -> Result<Vec<Accepted>, StoreError> {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            self.0.lock().map(|mut sizes| sizes.push(batch.len())).ok();
            if batch.iter().any(|a| a.event.id == "bad") {
                return Err(StoreError::Closed);
            }
            Ok(batch
                .iter()
                .map(|a| Accepted::Stored {
                    deliveries: a.event.id.len(),
                })
                .collect())
        }
    }

    fn acceptance(id: &str) -> Acceptance {
        Acceptance {
            event: NewEvent {
                id: id.into(),
                namespace: "ns".into(),
                event_type: "t".into(),
                source: "test".into(),
                payload: crate::store::Payload::trusted("{}"),
                received_at: chrono::Utc::now(),
                context: None,
            },
            targets: vec![],
            dedup: None,
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_commits_and_get_their_own_results() {
        let recorder = Recorder::default();
        let committer = Arc::new(GroupCommitter::spawn(recorder.clone(), 64));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let committer = committer.clone();
            tasks.spawn(async move {
                let id = "x".repeat(i % 7 + 1);
                let got = committer.submit(vec![acceptance(&id)]).await;
                (id.len(), got)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (len, got) = joined.expect("task");
            assert_eq!(
                got.expect("accepted"),
                vec![Accepted::Stored { deliveries: len }]
            );
        }
        let sizes = recorder.0.lock().expect("lock").clone();
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.len() < 200, "no batching happened: {sizes:?}");
        assert!(
            sizes.iter().all(|&s| s <= 64),
            "batch over the limit: {sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_caller_in_it() {
        let recorder = Recorder::default();
        let committer = Arc::new(GroupCommitter::spawn(recorder.clone(), 1024));
        // Occupy the task so the next two requests queue up and share one commit.
        let busy = {
            let committer = committer.clone();
            tokio::spawn(async move { committer.submit(vec![acceptance("a")]).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        let (good, bad) = tokio::join!(
            committer.submit(vec![acceptance("good")]),
            committer.submit(vec![acceptance("bad")]),
        );
        assert!(busy.await.expect("task").is_ok());
        assert!(matches!(bad, Err(StoreError::GroupCommit(_))), "{bad:?}");
        assert!(matches!(good, Err(StoreError::GroupCommit(_))), "{good:?}");
    }

    #[tokio::test]
    async fn a_lingering_batch_waits_for_more_until_full() {
        let recorder = Recorder::default();
        let linger = std::time::Duration::from_secs(30);
        let committer = Arc::new(GroupCommitter::spawn_lingering(recorder.clone(), 2, linger));
        let first = {
            let committer = committer.clone();
            tokio::spawn(async move { committer.submit(vec![acceptance("a")]).await })
        };
        tokio::task::yield_now().await;
        let second = committer.submit(vec![acceptance("bb")]).await;
        assert!(first.await.expect("task").is_ok());
        assert!(second.is_ok());
        assert_eq!(
            *recorder.0.lock().expect("lock"),
            [2],
            "one commit for both"
        );
    }

    #[tokio::test]
    async fn a_lone_failure_keeps_its_own_error() {
        let committer = GroupCommitter::spawn(Recorder::default(), 16);
        let got = committer.submit(vec![acceptance("bad")]).await;
        assert!(matches!(got, Err(StoreError::Closed)), "{got:?}");
        assert_eq!(committer.submit(vec![]).await.expect("empty"), vec![]);
    }
}
