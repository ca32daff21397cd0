//! Switchboard: a Kubernetes-native integration hub.
//!
//! The engine knows nothing of Kubernetes; `controller` and `manifests` are its two front-ends.

pub mod api;
pub mod controller;
pub mod delivery;
pub mod engine;
pub mod error_chain;
pub mod integration;
pub mod manifests;
pub mod receiver;
pub mod server;
pub mod signature;
pub mod store;
pub mod sync;
pub mod transform;
pub mod yaml;

/// Unit tests count allocations as the binary does, so the jq memory budget is in force.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: transform::alloc::Counting<std::alloc::System> =
    transform::alloc::Counting(std::alloc::System);
