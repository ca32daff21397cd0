//! The console's charts: attempts, failures and latency over time as inline SVG drawn on the
//! server (no script), from the store's attempt series.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::SeriesBucket;

use super::html::esc;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 120.0;

/// Two small charts over `[since, since + buckets × bucket)`: attempts (failures in red) and
/// mean latency; every bucket is drawn, empty ones as zero.
pub fn render(
    title: &str,
    id: &str,
    series: &[SeriesBucket],
    since: DateTime<Utc>,
    bucket: Duration,
    buckets: usize,
) -> String {
    let width = chrono::Duration::from_std(bucket).unwrap_or_default();
    let mut slots = vec![
        SeriesBucket {
            start: since,
            attempts: 0,
            failures: 0,
            total_ms: 0,
            max_ms: 0,
        };
        buckets
    ];
    for b in series {
        let offset = (b.start - since).num_milliseconds();
        let step = width.num_milliseconds().max(1);
        if let Some(slot) = usize::try_from(offset / step)
            .ok()
            .and_then(|i| slots.get_mut(i))
        {
            *slot = b.clone();
        }
    }
    let attempts: u64 = slots.iter().map(|s| s.attempts).sum();
    let failures: u64 = slots.iter().map(|s| s.failures).sum();
    let total_ms: u64 = slots.iter().map(|s| s.total_ms).sum();
    let max_count = slots.iter().map(|s| s.attempts).max().unwrap_or(0).max(1) as f64;
    let means: Vec<f64> = slots
        .iter()
        .map(|s| {
            if s.attempts == 0 {
                0.0
            } else {
                s.total_ms as f64 / s.attempts as f64
            }
        })
        .collect();
    let max_mean = means.iter().copied().fold(1.0, f64::max);
    let bar = WIDTH / buckets.max(1) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        "<figure class=\"chart\" id=\"{id}\"><figcaption>{} — {attempts} attempts, {failures} failed, \
         mean latency {} ms</figcaption>\
         <svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" \
         aria-label=\"attempts and failures\">",
        esc(title),
        total_ms.checked_div(attempts).unwrap_or(0)
    );
    for (i, s) in slots.iter().enumerate() {
        let x = i as f64 * bar;
        let h = s.attempts as f64 / max_count * (HEIGHT - 4.0);
        let f = s.failures as f64 / max_count * (HEIGHT - 4.0);
        if s.attempts > 0 {
            let _ = write!(
                out,
                "<rect class=\"ok\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{} attempts, {} failed</title></rect>",
                HEIGHT - h,
                (bar - 1.0).max(0.5),
                s.attempts,
                s.failures
            );
        }
        if s.failures > 0 {
            let _ = write!(
                out,
                "<rect class=\"fail\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{f:.1}\"/>",
                HEIGHT - f,
                (bar - 1.0).max(0.5)
            );
        }
    }
    out.push_str("</svg>");
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" \
         aria-label=\"mean latency\"><polyline class=\"latency\" points=\""
    );
    for (i, mean) in means.iter().enumerate() {
        let x = i as f64 * bar + bar / 2.0;
        let y = HEIGHT - mean / max_mean * (HEIGHT - 4.0);
        let _ = write!(out, "{x:.1},{y:.1} ");
    }
    let _ = write!(
        out,
        "\"/><text x=\"4\" y=\"12\">max mean {max_mean:.0} ms</text></svg></figure>"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_every_bucket_and_the_totals() {
        let since = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let series = [SeriesBucket {
            start: since + chrono::Duration::minutes(2),
            attempts: 4,
            failures: 1,
            total_ms: 400,
            max_ms: 200,
        }];
        let svg = render(
            "Last hour",
            "hour",
            &series,
            since,
            Duration::from_secs(60),
            60,
        );
        assert!(svg.contains("4 attempts, 1 failed, mean latency 100 ms"));
        assert_eq!(svg.matches("class=\"ok\"").count(), 1);
        assert_eq!(svg.matches("class=\"fail\"").count(), 1);
        assert!(!svg.contains("<script"));
    }
}
