//! The baseline of `benches/hooks/run.sh`: a bare axum handler answering 200, on the port
//! given as the first argument that is a number. Runs until killed.

use axum::Router;
use axum::routing::post;

fn main() {
    let port: u16 = std::env::args()
        .filter_map(|a| a.parse().ok())
        .next()
        .unwrap_or(18099);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let app = Router::new().route("/hooks/{ns}/{name}", post(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the bare port");
        axum::serve(listener, app).await.expect("serving");
    });
}
