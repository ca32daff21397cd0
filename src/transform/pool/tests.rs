//! The pool's tests: runaway containment off the runtime, and the fair scheduler's order.

use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::transform::Limits;

fn tenant<'a>(namespace: &'a str, name: &'a str) -> Tenant<'a> {
    Tenant {
        namespace,
        kind: "endpoint",
        name,
    }
}

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
            pool.transform(tenant("a", "e"), program, b"1".to_vec(), Meta::default())
                .await
        }
    });
    // The single-threaded runtime keeps serving timers while jq runs elsewhere.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(started.elapsed() < Duration::from_millis(400));
    let result = running.await.unwrap().unwrap();
    assert!(result.unwrap_err().to_string().contains("time budget"));
}

/// Queues evaluations (in this order, each queued before the next) on a pool whose slots
/// are all held, frees the slots, and returns the order in which they ran.
async fn order_of(pool: &EvalPool, blockers: usize, queued: &[(&str, &str)]) -> Vec<String> {
    let ran = Arc::new(StdMutex::new(Vec::new()));
    let (release, gate) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..blockers {
        let (pool, mut gate) = (pool.clone(), gate.clone());
        let (tx, rx) = oneshot::channel();
        tasks.push(tokio::spawn(async move {
            let slot = pool.slot(tenant("blocker", &i.to_string())).await.unwrap();
            tx.send(()).unwrap();
            gate.wait_for(|open| *open).await.unwrap();
            drop(slot);
        }));
        rx.await.unwrap();
    }
    for (ns, name) in queued {
        let before = pool.waiting();
        let (task_pool, ran) = (pool.clone(), ran.clone());
        let label = format!("{ns}/{name}");
        let (ns, name) = (ns.to_string(), name.to_string());
        tasks.push(tokio::spawn(async move {
            task_pool
                .run(tenant(&ns, &name), move || ran.lock().unwrap().push(label))
                .await
                .unwrap();
        }));
        while pool.waiting() == before {
            tokio::task::yield_now().await;
        }
    }
    release.send(true).unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    Arc::try_unwrap(ran).unwrap().into_inner().unwrap()
}

#[tokio::test]
async fn slots_go_round_robin_across_namespaces() {
    let pool = EvalPool::new(1);
    let queued = [
        ("flood", "e"),
        ("flood", "e"),
        ("flood", "e"),
        ("flood", "e"),
        ("calm", "e"),
        ("other", "e"),
    ];
    let order = order_of(&pool, 1, &queued).await;
    assert_eq!(
        order,
        [
            "flood/e", "calm/e", "other/e", "flood/e", "flood/e", "flood/e"
        ]
    );
}

#[tokio::test]
async fn resources_of_one_namespace_take_turns() {
    let pool = EvalPool::new(1);
    let queued = [
        ("ns", "a"),
        ("ns", "a"),
        ("ns", "a"),
        ("ns", "b"),
        ("ns", "c"),
    ];
    let order = order_of(&pool, 1, &queued).await;
    assert_eq!(order, ["ns/a", "ns/b", "ns/c", "ns/a", "ns/a"]);
}

#[tokio::test]
async fn one_namespace_never_holds_every_slot() {
    let pool = EvalPool::new(3);
    let running = Arc::new(StdMutex::new((0usize, 0usize)));
    let (release, gate) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let (pool, running, gate) = (pool.clone(), running.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            pool.run(tenant("flood", "e"), move || {
                {
                    let mut r = running.lock().unwrap();
                    r.0 += 1;
                    r.1 = r.1.max(r.0);
                }
                let mut gate = gate;
                while !*gate.borrow_and_update() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                running.lock().unwrap().0 -= 1;
            })
            .await
            .unwrap();
        }));
    }
    while pool.waiting() < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Two of three slots are the flood's; the third is free for another namespace at once.
    let started = Instant::now();
    pool.run(tenant("calm", "e"), || ()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    release.send(true).unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(running.lock().unwrap().1, 2);
}

#[tokio::test]
async fn an_abandoned_wait_gives_its_slot_to_the_next() {
    let pool = EvalPool::new(1);
    let held = pool.slot(tenant("a", "e")).await.unwrap();
    let abandoned = tokio::spawn({
        let pool = pool.clone();
        async move { pool.run(tenant("b", "e"), || ()).await }
    });
    while pool.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    abandoned.abort();
    let _ = abandoned.await;
    drop(held);
    tokio::time::timeout(Duration::from_secs(5), pool.run(tenant("c", "e"), || ()))
        .await
        .expect("the slot came back")
        .unwrap();
}
