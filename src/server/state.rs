//! What the data plane's handlers (hooks, publish, proxy) share: the engine, and the bounds on
//! request bodies with their one budget of bytes.

use std::sync::Arc;

use crate::engine::Engine;

use super::body::BodyLimits;

/// What the data plane's handlers share.
#[derive(Clone)]
pub struct DataPlane {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The bounds on request bodies, from the engine's settings.
    pub bodies: Arc<BodyLimits>,
}
