//! Two controller processes (the real binary) with leader election on one Lease: only the
//! leader writes status; SIGTERM releases the Lease so the other takes over at once; after
//! a kill -9 the other takes over within the lease duration and status keeps updating.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::json;

use crate::sink::Sink;
use crate::support::controller::{Controller, api, eventually};
use crate::support::publish::{
    apply, publish_accepted, service_account_token, status_number, subscription, wait_ready,
    wait_status_at_least,
};
use crate::support::{TestEnv, note};

/// The default lease duration.
const LEASE: Duration = Duration::from_secs(15);

fn start(env: &TestEnv, ns: &str, identity: &str) -> Controller {
    Controller::start_with(
        env.kubeconfig(),
        &[ns],
        &[
            "--instance",
            identity,
            "--leader-election-namespace",
            ns,
            "--status-interval",
            "1s",
            "--allow-private-destinations",
        ],
    )
    .unwrap()
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("switchboard-leader")
        .await
        .ok()??
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

/// Waits until `identity` holds the Lease; how long that took.
async fn wait_holder(leases: &Api<Lease>, identity: &str, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    eventually(timeout, || async {
        (holder(leases).await.as_deref() == Some(identity)).then(|| started.elapsed())
    })
    .await
}

#[tokio::test]
async fn the_other_replica_takes_over_on_release_and_after_a_crash() {
    let env = TestEnv::new("leader").await.unwrap();
    let ns = env.namespace.clone();
    let kubectl = env.kubectl();
    let sink = Sink::always(200);
    let token = service_account_token(&kubectl, &ns, "publisher");
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &ns);

    let mut first = start(&env, &ns, "ctl-1");
    assert!(
        wait_holder(&leases, "ctl-1", Duration::from_secs(30))
            .await
            .is_some(),
        "ctl-1 never led\n{}",
        first.log()
    );
    let mut second = start(&env, &ns, "ctl-2");
    apply(
        &kubectl,
        &subscription(&ns, "orders", &sink.url, Some("{scheme: None}")),
    );
    let whs = api(&env.client, "WebhookSubscription", &ns);
    assert!(wait_ready(&whs, "orders").await, "{}", first.log());

    // Graceful: SIGTERM releases the Lease; the other replica takes it at its next try.
    assert!(
        first.terminate(Duration::from_secs(30)),
        "ctl-1 did not exit"
    );
    let took = wait_holder(&leases, "ctl-2", Duration::from_secs(30)).await;
    let took = took.unwrap_or_else(|| panic!("ctl-2 never led\n{}", second.log()));
    note(&format!("takeover after SIGTERM: {took:?}"));
    assert!(took < LEASE, "the Lease was not released: {took:?}");
    assert!(
        first.log().contains("the Lease was released"),
        "{}",
        first.log()
    );

    // A third replica follows; an event delivered through it is counted in its engine only,
    // and it writes no status while ctl-2 leads (ctl-2 never saw that event).
    let third = start(&env, &ns, "ctl-3");
    assert!(
        third.wait_applied(Duration::from_secs(30)).await,
        "{}",
        third.log()
    );
    let event = json!({"type": "order.created", "id": "evt-leader-1", "data": {}});
    publish_accepted(&third.data_url, &ns, &token, &event).await;
    assert!(
        eventually(Duration::from_secs(30), || async {
            sink.hits().into_iter().next()
        })
        .await
        .is_some(),
        "not delivered\n{}",
        third.log()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        status_number(&whs, "orders", "delivered")
            .await
            .unwrap_or(0),
        0,
        "a follower wrote status"
    );

    // Crash: kill -9 the leader; ctl-3 takes over within the lease duration (plus one retry
    // period) and writes the counter it has.
    let killed = Instant::now();
    second.kill();
    let took = wait_holder(&leases, "ctl-3", Duration::from_secs(60)).await;
    let took = took.unwrap_or_else(|| panic!("ctl-3 never led\n{}", third.log()));
    note(&format!("takeover after kill -9: {took:?}"));
    assert!(
        took <= LEASE + Duration::from_secs(4),
        "failover took {took:?}"
    );
    let delivered =
        wait_status_at_least(&whs, "orders", "delivered", 1, Duration::from_secs(30)).await;
    assert_eq!(delivered, Some(1), "{}", third.log());
    note(&format!(
        "status written by the new leader {:?} after the kill",
        killed.elapsed()
    ));
}
