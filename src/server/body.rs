//! Reading a request body within the bounds a stranger gets before anything else is spent on
//! it: its size limit, a total deadline, a minimum rate (bytes per window), and room among
//! the request-body bytes all data plane requests may hold at once (a budget of bytes, taken
//! as the bytes arrive and given back when the request is answered). Per request: one timer
//! (registered only when a chunk has to be waited for), reset once per rate window, and one
//! atomic update per chunk.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use bytes::BytesMut;
use futures::StreamExt;
use tokio::time::Instant;

use crate::engine::config::HttpLimits;
use crate::receiver::BodyError;

/// The data plane's bounds on request bodies, shared by its handlers.
#[derive(Debug)]
pub struct BodyLimits {
    /// Total time a body may take.
    pub timeout: Duration,
    /// Bytes per second a body must keep up over each rate window (0: no check).
    pub min_rate: u64,
    /// The window of the rate check.
    pub window: Duration,
    /// Room for request-body bytes over all requests.
    pub budget: Arc<Budget>,
}

impl BodyLimits {
    /// The bounds of the engine's settings.
    pub fn new(limits: &HttpLimits) -> Self {
        Self {
            timeout: limits.body_read_timeout,
            min_rate: limits.min_body_rate,
            window: HttpLimits::RATE_WINDOW,
            budget: Arc::new(Budget::new(limits.max_inflight_body_bytes)),
        }
    }
}

/// Request-body bytes held at once: taken without waiting (a request that finds no room is
/// refused, never queued), so one atomic word is the whole of it.
#[derive(Debug)]
pub struct Budget {
    held: AtomicUsize,
    max: usize,
}

impl Budget {
    /// Room for `max` bytes.
    pub fn new(max: usize) -> Self {
        Self {
            held: AtomicUsize::new(0),
            max,
        }
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.max.saturating_sub(self.held.load(Ordering::Relaxed))
    }

    fn try_take(&self, n: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |held| {
                held.checked_add(n).filter(|&after| after <= self.max)
            })
            .is_ok()
    }

    fn give_back(&self, n: usize) {
        self.held.fetch_sub(n, Ordering::AcqRel);
    }
}

/// A read body's room in the budget, given back when dropped.
#[derive(Debug)]
pub struct Held {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Held {
    /// Takes room for `n` more bytes, or fails at once when there is none.
    fn take(&mut self, n: usize) -> Result<(), BodyError> {
        if !self.budget.try_take(n) {
            return Err(BodyError::Busy);
        }
        self.bytes += n;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.budget.give_back(self.bytes);
        }
    }
}

/// Reads a whole body of at most `limit` bytes within `limits`.
pub async fn read(
    body: Body,
    limit: usize,
    limits: &BodyLimits,
) -> Result<(Bytes, Held), BodyError> {
    let mut held = Held {
        budget: limits.budget.clone(),
        bytes: 0,
    };
    let mut chunks = body.into_data_stream();
    // One chunk is kept as it is; more are gathered.
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<BytesMut> = None;
    let started = Instant::now();
    let deadline = started + limits.timeout;
    let window = (limits.min_rate > 0).then_some(limits.window);
    let mut check_at = window.map_or(deadline, |w| (started + w).min(deadline));
    let mut at_window_start = 0usize;
    let timer = tokio::time::sleep_until(check_at);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            chunk = chunks.next() => match chunk {
                None => break,
                Some(Err(e)) => return Err(BodyError::Broken(crate::error_chain::render(&e))),
                Some(Ok(chunk)) => {
                    if held.bytes + chunk.len() > limit {
                        return Err(BodyError::TooLarge(limit));
                    }
                    held.take(chunk.len())?;
                    match (&mut first, &mut gathered) {
                        (None, _) => first = Some(chunk),
                        (Some(one), None) => {
                            let mut all = BytesMut::with_capacity(one.len() + chunk.len());
                            all.extend_from_slice(one);
                            all.extend_from_slice(&chunk);
                            gathered = Some(all);
                        }
                        (Some(_), Some(all)) => all.extend_from_slice(&chunk),
                    }
                }
            },
            () = &mut timer => {
                if check_at >= deadline {
                    return Err(BodyError::TimedOut(limits.timeout));
                }
                let window = window.expect("rate checks run with a window");
                let wanted = u128::from(limits.min_rate) * window.as_millis() / 1000;
                if ((held.bytes - at_window_start) as u128) < wanted {
                    return Err(BodyError::TooSlow(limits.min_rate));
                }
                at_window_start = held.bytes;
                check_at = (check_at + window).min(deadline);
                timer.as_mut().reset(check_at);
            }
        }
    }
    let bytes = match (first, gathered) {
        (_, Some(all)) => all.freeze(),
        (Some(one), None) => one,
        (None, None) => Bytes::new(),
    };
    Ok((bytes, held))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(budget: usize, min_rate: u64) -> BodyLimits {
        BodyLimits {
            timeout: Duration::from_secs(30),
            min_rate,
            window: Duration::from_secs(5),
            budget: Arc::new(Budget::new(budget)),
        }
    }

    /// A body whose chunks are sent by the test, as it pleases.
    fn streamed() -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
        });
        (tx, Body::from_stream(stream))
    }

    #[tokio::test]
    async fn a_body_is_read_whole_and_its_bytes_held_until_dropped() {
        let limits = limits(100, 1);
        let (bytes, held) = read(Body::from("hello"), 10, &limits).await.unwrap();
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(limits.budget.available(), 95);
        drop(held);
        assert_eq!(limits.budget.available(), 100);
    }

    #[tokio::test]
    async fn chunks_are_gathered() {
        let limits = limits(100, 0);
        let (tx, body) = streamed();
        tokio::spawn(async move {
            for part in ["ab", "cd", "e"] {
                tx.send(Bytes::from_static(part.as_bytes())).await.unwrap();
            }
        });
        let (bytes, _held) = read(body, 10, &limits).await.unwrap();
        assert_eq!(&bytes[..], b"abcde");
    }

    #[tokio::test]
    async fn too_large_and_no_room_are_refused_and_give_their_room_back() {
        let limits = limits(8, 0);
        assert_eq!(
            read(Body::from("0123456789"), 5, &limits)
                .await
                .unwrap_err(),
            BodyError::TooLarge(5)
        );
        assert_eq!(
            read(Body::from("0123456789"), 100, &limits)
                .await
                .unwrap_err(),
            BodyError::Busy
        );
        let (tx, body) = streamed();
        tokio::spawn(async move {
            for part in ["0123", "4567", "89"] {
                tx.send(Bytes::from_static(part.as_bytes())).await.unwrap();
            }
        });
        assert_eq!(read(body, 100, &limits).await.unwrap_err(), BodyError::Busy);
        assert_eq!(limits.budget.available(), 8);
    }

    #[tokio::test]
    async fn a_stalled_body_is_cut_at_the_end_of_a_window_below_the_minimum_rate() {
        // 100 bytes/s over 100 ms windows: 10 bytes a window.
        let limits = BodyLimits {
            window: Duration::from_millis(100),
            min_rate: 100,
            ..limits(1000, 0)
        };
        let (tx, body) = streamed();
        tx.send(Bytes::from(vec![b'x'; 60])).await.unwrap();
        // Nothing more is sent (the sender stays open): the next window sees no bytes.
        assert_eq!(
            read(body, 10_000, &limits).await.unwrap_err(),
            BodyError::TooSlow(100)
        );
        assert_eq!(limits.budget.available(), 1000);
        drop(tx);
    }

    #[tokio::test]
    async fn a_body_unfinished_at_the_deadline_is_cut() {
        let limits = BodyLimits {
            timeout: Duration::from_millis(200),
            ..limits(1000, 0)
        };
        let (tx, body) = streamed();
        tx.send(Bytes::from_static(b"{")).await.unwrap();
        assert_eq!(
            read(body, 10_000, &limits).await.unwrap_err(),
            BodyError::TimedOut(Duration::from_millis(200))
        );
        drop(tx);
    }
}
