//! Errors of the controller.

/// What can go wrong in the controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// No kubeconfig and not in a cluster.
    #[error("no Kubernetes configuration (KUBECONFIG or in-cluster)")]
    Config(#[source] kube::config::InferConfigError),
    /// The client could not be built from the configuration.
    #[error("building the Kubernetes client")]
    Client(#[source] kube::Error),
    /// A request to the API server failed.
    #[error("Kubernetes API")]
    Kube(#[from] kube::Error),
    /// The reflectors stopped before their first list.
    #[error("the watches stopped before their first list")]
    WatchesStopped,
    /// Leader election failed.
    #[error("leader election: {0}")]
    Lease(String),
}
