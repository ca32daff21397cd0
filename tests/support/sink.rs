//! Test sinks: real HTTP servers on 127.0.0.1 that answer as told (fail N times, stall, 410,
//! 429 with Retry-After), record every request, and a TCP sink that drops connections.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// How the sink answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status, with these headers.
    Status(u16, Vec<(&'static str, String)>),
    /// Sleep this long, then answer 200 (past the subscriber's timeout).
    Stall(Duration),
}

/// One request the sink received.
#[derive(Clone, Debug)]
pub struct Hit {
    /// When it arrived.
    pub at: Instant,
    /// When it arrived, by the wall clock.
    pub wall: chrono::DateTime<chrono::Utc>,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// The status the sink answered (0 for a stall).
    pub status: u16,
}

impl Hit {
    /// A header as text.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

type Behaviour = dyn Fn(usize, &HeaderMap) -> Reply + Send + Sync;

#[derive(Clone)]
struct SinkState {
    hits: Arc<Mutex<Vec<Hit>>>,
    behave: Arc<Behaviour>,
}

/// A running HTTP sink.
pub struct Sink {
    /// Its URL (http://127.0.0.1:port/hook).
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Sink {
    /// Starts a sink whose answer to the n-th request (0-based) `behave` decides.
    pub fn start(behave: impl Fn(usize, &HeaderMap) -> Reply + Send + Sync + 'static) -> Sink {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = SinkState {
            hits: hits.clone(),
            behave: Arc::new(behave),
        };
        let addr = serve_on_thread(axum::Router::new().fallback(handle).with_state(state));
        Sink {
            url: format!("http://{addr}/hook"),
            hits,
        }
    }

    /// A sink that always answers this status.
    pub fn always(status: u16) -> Sink {
        Sink::start(move |_, _| Reply::Status(status, vec![]))
    }

    /// Every request so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (or `timeout`); returns them.
    pub fn wait_hits(&self, n: usize, timeout: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + timeout;
        loop {
            let hits = self.hits();
            if hits.len() >= n || Instant::now() > deadline {
                return hits;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn handle(State(state): State<SinkState>, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let n = {
        let hits = state.hits.lock().unwrap();
        hits.len()
    };
    let reply = (state.behave)(n, &headers);
    let status = match &reply {
        Reply::Status(code, _) => *code,
        Reply::Stall(_) => 0,
    };
    state.hits.lock().unwrap().push(Hit {
        at,
        wall: chrono::Utc::now(),
        headers,
        body,
        status,
    });
    match reply {
        Reply::Status(code, extra) => {
            let mut resp = (StatusCode::from_u16(code).unwrap(), "sink says hi").into_response();
            for (k, v) in extra {
                resp.headers_mut().insert(k, v.parse().unwrap());
            }
            resp
        }
        Reply::Stall(d) => {
            tokio::time::sleep(d).await;
            "late".into_response()
        }
    }
}

/// A TCP sink that accepts connections and closes them without answering; counts them.
pub struct DropSink {
    /// Its URL.
    pub url: String,
    /// Connections accepted.
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl DropSink {
    /// Starts it.
    pub fn start() -> DropSink {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _ = std::io::Read::read(&mut stream, &mut buf);
                drop(stream);
            }
        });
        DropSink {
            url: format!("http://{addr}/hook"),
            accepted,
        }
    }
}

/// Serves `app` on a free loopback port from a thread with its own runtime; returns the address.
pub fn serve_on_thread(app: axum::Router) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}
