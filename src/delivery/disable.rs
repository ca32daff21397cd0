//! The delivery runtime's side of auto-disable ([`super::autodisable`]): counting what each
//! attempt says into the target's streak and keeping it in the store, disabling and reporting
//! it, and reading the records back from the store (at start, then with the counters), which
//! is also where a re-enabled target's record is deleted.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::autodisable::{Change, OBJECT_KIND, Record};
use super::route::Route;
use super::runtime::Deliveries;
use super::stats::Stats;
use crate::api::HEALTHY;
use crate::error_chain::chain;
use crate::store::Target;

impl Deliveries {
    /// True when the route's target is auto-disabled: nothing is claimed or attempted.
    pub(super) fn disabled(&self, route: &Route) -> bool {
        route
            .enable_key
            .as_deref()
            .is_some_and(|key| self.stats(&route.target).auto.disabled_under(key))
    }

    /// Counts an attempt that reached the destination (`delivered` or failed with `error`)
    /// into the target's streak; disables the target when the streak calls for it.
    pub(super) async fn count_for_auto_disable(
        &self,
        route: &Route,
        stats: &Stats,
        delivered: bool,
        at: DateTime<Utc>,
        error: &str,
    ) {
        let Some(key) = route.enable_key.as_deref() else {
            return;
        };
        let target = &route.target;
        if stats.auto.reenable(key) {
            // The first attempt since a re-enable: show it at once rather than at the next read.
            tracing::info!(
                ?target,
                "re-enabled: its pending deliveries are attempted again"
            );
            self.delete_record(target).await;
            if self.show_disabled(target, stats, None) {
                self.sink.fields(target, stats.fields());
            }
        }
        if delivered {
            if stats.auto.succeeded(key) {
                self.delete_record(target).await;
            }
            return;
        }
        let mut policy = self.config.auto_disable;
        if let Some(after) = route.auto_disable_after {
            policy.after = after;
        }
        match stats.auto.failed(&policy, key, at, error) {
            Change::None => {}
            Change::Store(record) => self.put_record(target, &record).await,
            Change::Disabled(record) => {
                tracing::warn!(?target, failing_since = ?record.failing_since, failures = record.failures, "auto-disabled: every attempt failed for the configured period");
                self.put_record(target, &record).await;
                self.show_disabled(target, stats, Some(&record));
                self.sink.fields(target, stats.fields());
            }
        }
    }

    /// Reads the records back from the store and takes them into the running targets
    /// (deleting those a changed enable key re-enabled); reports what changed.
    pub(super) async fn reload_auto_disable(&self) {
        let stored = match self.store.list_objects(OBJECT_KIND, None).await {
            Ok(objects) => objects,
            Err(e) => {
                tracing::warn!(error = %chain(&e), "reading auto-disable records");
                return;
            }
        };
        let mut by_target: HashMap<(String, String), Record> = HashMap::new();
        for value in stored {
            let ns = value["namespace"].as_str().unwrap_or_default().to_owned();
            let name = value["name"].as_str().unwrap_or_default().to_owned();
            match serde_json::from_value::<Record>(value["record"].clone()) {
                Ok(record) => {
                    by_target.insert((ns, name), record);
                }
                Err(e) => {
                    tracing::warn!(error = %e, %ns, %name, "an unreadable auto-disable record is ignored")
                }
            }
        }
        let routes = self.routes.load_full();
        for route in routes.values() {
            let Some(key) = route.enable_key.as_deref() else {
                continue;
            };
            let target = &route.target;
            let stats = self.stats(target);
            let stored = by_target.remove(&(target.namespace.clone(), target.name.clone()));
            let stored_existed = stored.is_some();
            // Nothing stored: a record disabled here under another key is dropped all the same.
            let reenabled = stats.auto.adopt(stored.unwrap_or_default(), key) && stored_existed;
            if reenabled {
                tracing::info!(
                    ?target,
                    "re-enabled: its pending deliveries are attempted again"
                );
                self.delete_record(target).await;
            }
            let record = stats.auto.record();
            let disabled = record.disabled_under(key);
            if self.show_disabled(target, &stats, disabled.then_some(&record)) {
                self.sink.fields(target, stats.fields());
                if !disabled {
                    self.wake();
                }
            }
        }
    }

    /// Shows (Some) or clears (None) the Disabled condition; true when what is shown changed.
    fn show_disabled(&self, target: &Target, stats: &Stats, record: Option<&Record>) -> bool {
        let shown = stats.health.disabled(record.map(Record::condition));
        if let Some(shown) = &shown {
            self.sink
                .condition(target, HEALTHY, shown.ok, shown.reason, &shown.message);
        }
        shown.is_some()
    }

    async fn put_record(&self, target: &Target, record: &Record) {
        let value = serde_json::json!({
            "namespace": target.namespace,
            "name": target.name,
            "record": record,
        });
        if let Err(e) = self
            .store
            .put_object(OBJECT_KIND, &target.namespace, &target.name, &value)
            .await
        {
            tracing::warn!(error = %chain(&e), ?target, "storing the auto-disable record");
        }
    }

    async fn delete_record(&self, target: &Target) {
        if let Err(e) = self
            .store
            .delete_object(OBJECT_KIND, &target.namespace, &target.name)
            .await
        {
            tracing::warn!(error = %chain(&e), ?target, "deleting the auto-disable record");
        }
    }
}
