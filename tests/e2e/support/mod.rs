//! Test support for the end-to-end tests against a real kube-apiserver (see
//! `tests/e2e/envtest/README.md`): one API server per test binary, one fresh namespace per test.

pub mod controller;
pub mod error;
pub mod kubectl;
pub mod publish;
pub mod server;

use std::io::Write;
use std::path::Path;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

pub use error::SupportError;
pub use kubectl::Kubectl;
pub use server::Cluster;

/// Namespace the envtest tenant user may work in.
pub const TENANT_NAMESPACE: &str = "tenant-a";
/// Label set on every namespace the tests create (`kubectl delete ns -l` cleans a reused server).
pub const NAMESPACE_LABEL: &str = "switchboard.dev/e2e";

/// What one test gets: the shared server (CRDs installed), an admin client and its own namespace.
pub struct TestEnv {
    /// The shared API server.
    pub cluster: &'static Cluster,
    /// Admin client, bound to this test's tokio runtime.
    pub client: Client,
    /// A namespace created for this test only.
    pub namespace: String,
}

impl TestEnv {
    /// Starts or reuses the API server and creates a fresh namespace named after `test`.
    pub async fn new(test: &str) -> Result<Self, SupportError> {
        let cluster = server::cluster()?;
        let client = admin_client(&cluster.kubeconfig).await?;
        let namespace = unique_name(test);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.clone()),
                labels: Some([(NAMESPACE_LABEL.to_string(), test_label(test))].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(Self {
            cluster,
            client,
            namespace,
        })
    }

    /// kubectl as the admin.
    pub fn kubectl(&self) -> Kubectl {
        self.cluster.kubectl()
    }

    /// Path of the admin kubeconfig.
    pub fn kubeconfig(&self) -> &Path {
        &self.cluster.kubeconfig
    }

    /// Path of the kubectl binary.
    pub fn kubectl_bin(&self) -> &Path {
        &self.cluster.kubectl_bin
    }
}

/// Prints `note: MESSAGE` on the real stderr (the test harness captures only `eprintln!`).
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr(), "note: {message}");
}

async fn admin_client(path: &Path) -> Result<Client, SupportError> {
    // The process-wide TLS provider, in case several are compiled in (already set is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig_err = |source| SupportError::Kubeconfig {
        path: path.to_path_buf(),
        source,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_err)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(kubeconfig_err)?;
    Ok(Client::try_from(config)?)
}

/// `test` as a DNS label fragment: lowercase alphanumerics and dashes, at most 40 characters.
fn test_label(test: &str) -> String {
    let label: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    label.trim_matches('-').to_string()
}

/// `e2e-<test>-<8 hex>`: unique per call, valid as a namespace name.
pub fn unique_name(test: &str) -> String {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    format!("e2e-{}-{}", test_label(test), &suffix[..8])
}
