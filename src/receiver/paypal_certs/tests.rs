//! The certificate store against a loopback server that counts what it is asked.

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;

use super::*;

use crate::signature::paypal_pki as pki;

/// A loopback server: `/certs/good` serves a chain, `/certs/big` too many bytes, `/certs/text`
/// no PEM, anything else 404; `hits` counts every request.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
}

async fn server() -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let chain = pki::Ca::new("Test CA")
        .issue(pki::RSA_A, pki::Validity::Current)
        .chain_pem;
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            "/certs/{name}",
            get(
                move |State(hits): State<Arc<AtomicUsize>>, Path(name): Path<String>| {
                    let chain = chain.clone();
                    async move {
                        hits.fetch_add(1, Ordering::SeqCst);
                        // Slow enough that concurrent requests overlap the fetch.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        match name.as_str() {
                            n if n.starts_with("good") => (StatusCode::OK, chain),
                            "big" => (StatusCode::OK, "x".repeat(MAX_CHAIN_BYTES + 1)),
                            "text" => (StatusCode::OK, "hello".to_owned()),
                            _ => (StatusCode::NOT_FOUND, String::new()),
                        }
                    }
                },
            ),
        )
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { base, hits }
}

fn store(prefix: &str) -> CertStore {
    CertStore::new(&PayPalCertConfig {
        allowed_urls: vec![prefix.to_owned()],
        trust_roots: None,
    })
}

#[tokio::test]
async fn urls_outside_the_allowlist_are_never_fetched() {
    let server = server().await;
    let certs = store(&format!("{}/certs/", server.base));
    let port = server.base.rsplit(':').next().unwrap();
    for url in [
        format!("{}/other/good", server.base),
        format!("{}/certs/../other/good", server.base),
        format!("http://localhost:{port}/certs/good"),
        format!("https://127.0.0.1:{port}/certs/good"),
        format!("http://user:pw@127.0.0.1:{port}/certs/good"),
        "http://127.0.0.1:1/certs/good".to_owned(),
        "not a url".to_owned(),
        String::new(),
    ] {
        assert!(
            matches!(certs.chain(&url).await, Err(CertError::NotAllowed)),
            "{url}"
        );
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    assert_eq!(certs.fetches(), 0);
    assert!(
        certs
            .chain(&format!("{}/certs/good", server.base))
            .await
            .is_ok()
    );
}

#[test]
fn the_default_allowlist_is_paypal_over_https() {
    let certs = CertStore::new(&PayPalCertConfig::default());
    let path = "/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270";
    for host in [
        "api.paypal.com",
        "api-m.paypal.com",
        "api.sandbox.paypal.com",
        "api-m.sandbox.paypal.com",
    ] {
        assert!(certs.allows(&format!("https://{host}{path}")), "{host}");
        assert!(certs.allows(&format!("https://{host}:443{path}")), "{host}");
        assert!(!certs.allows(&format!("http://{host}{path}")), "{host}");
        assert!(
            !certs.allows(&format!("https://{host}:8443{path}")),
            "{host}"
        );
        assert!(!certs.allows(&format!("https://{host}/v1/other")), "{host}");
    }
    for url in [
        "https://api.paypal.com.evil.example/v1/notifications/certs/x",
        "https://evil.example/api.paypal.com/v1/notifications/certs/x",
        "https://api.paypal.com@evil.example/v1/notifications/certs/x",
        "https://x@api.paypal.com/v1/notifications/certs/x",
        "https://www.paypal.com/v1/notifications/certs/x",
    ] {
        assert!(!certs.allows(url), "{url}");
    }
    assert!(allowed_prefix("ftp://api.paypal.com/").is_err());
    assert!(allowed_prefix("https://u:p@api.paypal.com/").is_err());
    assert!(allowed_prefix("/certs/").is_err());
}

#[tokio::test]
async fn many_requests_fetch_a_certificate_once() {
    let server = server().await;
    let certs = Arc::new(store(&format!("{}/certs/", server.base)));
    let url = format!("{}/certs/good", server.base);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (certs, url) = (certs.clone(), url.clone());
            tokio::spawn(async move { certs.chain(&url).await.map(drop) })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    certs.chain(&url).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    assert_eq!(certs.fetches(), 1);
}

#[tokio::test]
async fn failures_are_typed_and_cached_briefly() {
    let server = server().await;
    let certs = store(&format!("{}/certs/", server.base));
    let at = |name: &str| format!("{}/certs/{name}", server.base);
    let err = certs.chain(&at("missing")).await.unwrap_err();
    assert!(matches!(err, CertError::Status(404)), "{err:?}");
    assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(err.reason(), "bad_certificate");
    let err = certs.chain(&at("missing")).await.unwrap_err();
    assert!(matches!(err, CertError::RecentlyFailed(true)), "{err:?}");
    assert!(matches!(
        certs.chain(&at("big")).await,
        Err(CertError::TooLarge)
    ));
    assert!(matches!(
        certs.chain(&at("text")).await,
        Err(CertError::NotPem(_))
    ));
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let server = server().await;
    let certs = store(&format!("{}/certs/", server.base));
    for i in 0..CACHE_ENTRIES + 5 {
        certs
            .chain(&format!("{}/certs/good{i}", server.base))
            .await
            .unwrap();
    }
    let held = certs.slots.lock().unwrap().len();
    assert!(held <= CACHE_ENTRIES, "{held} slots");
}

#[test]
fn trust_roots_come_from_the_configured_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("Bundle CA");
    let bundle = dir.path().join("roots.pem");
    std::fs::write(&bundle, &ca.pem).unwrap();
    let config = |path: &std::path::Path| PayPalCertConfig {
        trust_roots: Some(path.to_owned()),
        ..PayPalCertConfig::default()
    };
    assert_eq!(CertStore::new(&config(&bundle)).roots().unwrap().len(), 1);
    let missing = CertStore::new(&config(&dir.path().join("none.pem")))
        .roots()
        .unwrap_err();
    assert!(
        matches!(missing, CertError::RootsFile { .. }),
        "{missing:?}"
    );
    assert_eq!(missing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        CertStore::new(&config(&empty)).roots(),
        Err(CertError::NoRoots)
    ));
}
