//! Hostile tenants and strangers against the real binary over loopback HTTP: a memory bomb
//! in a transformation, many large numeric bodies at once, a namespace flooding the
//! evaluation pool with runaway programs beside a calm one, and numbers that JSON can write
//! but a double cannot hold.

mod hooks_support;
mod support;

use std::time::{Duration, Instant};

use hooks_support::{code, hook};
use support::Instance;

const MANIFESTS: &str = r#"
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: bomb, namespace: mallory}
spec:
  jq: '"x" * 1000000000 | length'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: bomb, namespace: mallory}
spec:
  verify: {scheme: None}
  transformationRef: {name: bomb}
  route: {publish: {eventType: bomb}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: spin, namespace: mallory}
spec:
  jq: 'def f: f; f'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: spin, namespace: mallory}
spec:
  verify: {scheme: None}
  transformationRef: {name: spin}
  route: {publish: {eventType: spin}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: open, namespace: mallory}
spec:
  verify: {scheme: None}
  route: {publish: {eventType: open}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: count, namespace: alice}
spec:
  jq: '{n: ([range(200000)] | length), id: .id}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: count, namespace: alice}
spec:
  verify: {scheme: None}
  transformationRef: {name: count}
  route: {publish: {eventType: counted}}
"#;

fn start(tmp: &std::path::Path) -> Instance {
    let manifests = tmp.join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("hostile.yaml"), MANIFESTS).unwrap();
    Instance::start(&manifests, &tmp.join("data"), &[])
}

/// The process's peak resident memory so far, in bytes (VmHWM).
fn peak_rss(inst: &Instance) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", inst.child.id())).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/<pid>/status");
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

const MIB: u64 = 1024 * 1024;
const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn a_memory_bomb_is_refused_with_422_quickly() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path());
    let started = Instant::now();
    let (status, answer) = hook(&inst, "mallory", "bomb", &[JSON], b"{}");
    let took = started.elapsed();
    assert_eq!(
        (status, code(&answer)),
        (422, "transformation_failed"),
        "{answer}"
    );
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("memory budget exceeded"), "{message}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let peak = peak_rss(&inst);
    assert!(peak < 200 * MIB, "peak RSS {} MiB", peak / MIB);
}

#[test]
fn concurrent_large_numeric_bodies_stay_within_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path());
    // Just under the default maxBodyBytes (1 MiB): about half a million numbers.
    let count = (1024 * 1024 - 2) / 2;
    let mut body = String::with_capacity(1024 * 1024);
    body.push('[');
    for i in 0..count {
        body.push_str(if i == 0 { "1" } else { ",1" });
    }
    body.push(']');
    let body = body.into_bytes();
    assert!(body.len() <= 1024 * 1024);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let posts: Vec<_> = (0..64)
            .map(|_| s.spawn(|| hook(&inst, "mallory", "open", &[JSON], &body).0))
            .collect();
        posts.into_iter().map(|p| p.join().unwrap()).collect()
    });
    // Each holds more values than a request may (the bound of what parsing one costs): 413.
    assert!(statuses.iter().all(|s| *s == 413), "{statuses:?}");
    let peak = peak_rss(&inst);
    assert!(peak < 300 * MIB, "peak RSS {} MiB", peak / MIB);
}

#[test]
fn a_flooding_namespace_does_not_starve_its_neighbour() {
    let tmp = tempfile::tempdir().unwrap();
    let inst = start(tmp.path());
    let calm = || {
        let started = Instant::now();
        let (status, answer) = hook(&inst, "alice", "count", &[JSON], br#"{"id": 1}"#);
        assert_eq!(status, 202, "{answer}");
        started.elapsed()
    };
    calm();
    let idle = (0..3).map(|_| calm()).min().unwrap();
    let (flooded, refused) = std::thread::scope(|s| {
        let flood: Vec<_> = (0..100)
            .map(|_| s.spawn(|| hook(&inst, "mallory", "spin", &[JSON], b"{}").0))
            .collect();
        // Let the flood fill the pool's queue first.
        std::thread::sleep(Duration::from_millis(500));
        let flooded = calm();
        let statuses: Vec<u16> = flood.into_iter().map(|f| f.join().unwrap()).collect();
        (flooded, statuses.iter().filter(|s| **s == 422).count())
    });
    assert_eq!(refused, 100, "each runaway ends at its time budget");
    // Round-robin: the calm namespace waits for at most one runaway (1 s) per slot it lacks.
    let bound = idle * 5 + Duration::from_secs(3);
    assert!(
        flooded < bound,
        "idle {idle:?}, while flooded {flooded:?} (bound {bound:?})"
    );
}
