//! HTTP servers: the data plane (hooks, publish API) and the admin port (health, metrics,
//! status, deliveries).

pub mod admin;
pub mod body;
pub mod conn;
pub mod console;
pub mod data_plane;
pub mod deliveries;
pub mod error;
pub mod hooks;
pub mod oauth;
pub mod proxy;
pub mod replay;
pub mod request;
pub mod state;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::engine::config::HttpLimits;
use crate::engine::lifecycle::Running;

pub use error::ApiError;

/// A server that could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the listen address failed.
    #[error("listening on {addr}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Binds an address ("127.0.0.1:8080", ":8080" for every interface).
pub async fn bind(addr: &str) -> Result<TcpListener, ServerError> {
    let full = if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_owned()
    };
    TcpListener::bind(&full)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// Serves a router within `limits` ([`conn`]) until `shutdown` is cancelled, then finishes
/// in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    conn::accept_loop(listener, router, limits, shutdown).await;
    Ok(())
}

/// Binds the data plane and admin addresses and hands both servers (each with its own
/// connection cap, the same timeouts) to the running engine,
/// which stops them (finishing in-flight requests) when it stops; a server that fails stops
/// the engine. The console on the admin port checks tokens with the engine's admin
/// authorizer when it has one (a cluster), else against `console_token` (standalone).
/// Returns the bound addresses.
pub async fn mount(
    running: &mut Running,
    data_addr: &str,
    admin_addr: &str,
    console_token: Option<&str>,
) -> Result<(SocketAddr, SocketAddr), ServerError> {
    let data = bind(data_addr).await?;
    let admin = bind(admin_addr).await?;
    let local = |l: &TcpListener, addr: &str| {
        l.local_addr().map_err(|source| ServerError::Bind {
            addr: addr.to_owned(),
            source,
        })
    };
    let bound = (local(&data, data_addr)?, local(&admin, admin_addr)?);
    let engine = running.engine().clone();
    let limits = engine.config().http.clone();
    let gate = match (engine.admin_authorizer(), console_token) {
        (Some(authorizer), _) => Some(console::session::Gate::Authorizer(authorizer.clone())),
        (None, Some(token)) => Some(console::session::Gate::Token(token.into())),
        (None, None) => None,
    };
    for (name, listener, router) in [
        ("data plane", data, data_plane::router(engine.clone())),
        ("admin", admin, admin::router(engine, gate)),
    ] {
        let shutdown = running.shutdown();
        running.spawn_critical(name, serve(listener, router, limits.clone(), shutdown));
    }
    Ok(bound)
}
