//! One HTTP attempt to a destination: sign, POST, read at most 16 KiB of the answer, and
//! record what happened.

use std::time::Instant;

use chrono::Utc;
use http::header::{CONTENT_TYPE, RETRY_AFTER};

use super::classify::Verdict;
use super::destination::Destination;
use super::ssrf::{Refused, find_refusal};
use crate::error_chain::{chain, render};
use crate::store::{AttemptRecord, MAX_ATTEMPT_BODY_BYTES};

/// The result of one attempt.
#[derive(Debug)]
pub struct Sent {
    /// What the log keeps.
    pub record: AttemptRecord,
    /// What it means.
    pub verdict: Verdict,
    /// Set when the SSRF guard refused the destination.
    pub refused: Option<Refused>,
}

/// Header naming the replay a delivery belongs to; live deliveries do not carry it. The
/// `webhook-id` of a replayed delivery is its event's id, as for the live one, so a subscriber
/// that deduplicates on `webhook-id` and wants replays keys on both.
pub const REPLAY_HEADER: &str = "switchboard-replay-id";

impl Destination {
    /// POSTs `body` as message `msg_id` (the `webhook-id`, stable across retries), with
    /// `extra` headers (a CloudEvent's `ce-*`).
    pub async fn send(
        &self,
        msg_id: &str,
        content_type: &str,
        extra: &[(String, String)],
        body: Vec<u8>,
    ) -> Sent {
        self.send_message(msg_id, None, content_type, extra, body)
            .await
    }

    /// Like [`Destination::send`], for a delivery of `replay` (sent in [`REPLAY_HEADER`]).
    pub async fn send_message(
        &self,
        msg_id: &str,
        replay: Option<&str>,
        content_type: &str,
        extra: &[(String, String)],
        body: Vec<u8>,
    ) -> Sent {
        let started_at = Utc::now();
        let clock = Instant::now();
        let mut record = AttemptRecord {
            started_at,
            duration_ms: 0,
            request: self.request_line(),
            response_status: None,
            response_headers: Vec::new(),
            response_body: String::new(),
            error: None,
        };
        let finish = |mut record: AttemptRecord, verdict, refused| {
            record.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
            Sent {
                record,
                verdict,
                refused,
            }
        };
        if let Err(refused) = self.policy.check_literal(&self.url) {
            record.error = Some(render(&refused));
            return finish(record, Verdict::Failed, Some(refused));
        }
        let signature = match self.signer.headers(msg_id, started_at.timestamp(), &body) {
            Ok(headers) => headers,
            Err(e) => {
                record.error = Some(format!("signing the delivery: {}", chain(&e)));
                return finish(record, Verdict::Failed, None);
            }
        };
        let mut url = self.url.clone();
        let mut headers = self.headers.clone();
        if let Some(credentials) = &self.credentials
            && let Err(e) = credentials.authorize(&mut headers, &mut url).await
        {
            record.error = Some(format!("obtaining credentials: {}", chain(&e)));
            return finish(record, Verdict::Retryable { retry_after: None }, None);
        }
        let mut request = self.client.post(url).timeout(self.timeout).headers(headers);
        if !content_type.is_empty() {
            request = request.header(CONTENT_TYPE, content_type);
        }
        for (name, value) in extra {
            request = request.header(name.as_str(), value.as_str());
        }
        for (name, value) in signature {
            request = request.header(name, value);
        }
        if let Some(replay) = replay {
            request = request.header(REPLAY_HEADER, replay);
        }
        let response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                let refused = find_refusal(&e).cloned();
                record.error = Some(match &refused {
                    Some(r) => render(r),
                    None if e.is_timeout() => format!("timed out after {:?}", self.timeout),
                    None => render(&without_query(e)),
                });
                let verdict = if refused.is_some() {
                    Verdict::Failed
                } else {
                    Verdict::Retryable { retry_after: None }
                };
                return finish(record, verdict, refused);
            }
        };
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED
            && let Some(credentials) = &self.credentials
        {
            credentials.rejected().await;
        }
        record.response_status = Some(status.as_u16());
        record.response_headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let verdict = Verdict::of_status(status, retry_after.as_deref());
        match read_capped(response).await {
            Ok(body) => record.response_body = body,
            Err(e) if e.is_timeout() => {
                record.error = Some(format!(
                    "timed out reading the response after {:?}",
                    self.timeout
                ))
            }
            Err(e) => {
                let e = without_query(e);
                record.error = Some(format!("reading the response: {}", chain(&e)));
            }
        }
        if !status.is_success() && record.error.is_none() {
            record.error = Some(format!("HTTP {status}"));
        }
        finish(record, verdict, None)
    }
}

/// The client's error without its URL's query, whose values may be credentials (an API key
/// in a query parameter); the scheme, host and path stay.
fn without_query(mut e: reqwest::Error) -> reqwest::Error {
    if let Some(url) = e.url_mut() {
        url.set_query(None);
    }
    e
}

/// The first 16 KiB of a response body (the rest is not read).
async fn read_capped(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_ATTEMPT_BODY_BYTES - out.len();
        out.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if out.len() >= MAX_ATTEMPT_BODY_BYTES {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}
