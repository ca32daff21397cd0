//! Dead letters: placeholder.
use super::runtime::Engine;
use crate::delivery::DeliveryNotice;
impl Engine {
    /// Sends a given-up delivery to its dead-letter target.
    pub(super) async fn dead_letter(&self, _notice: &DeliveryNotice) {}
}
