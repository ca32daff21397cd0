//! The console in a real headless browser (Debian's chromium driven through chromedriver by
//! WebDriver), against the real binary on loopback: sign in, open the failing subscription,
//! open a delivery's attempts, retry it and see the new attempt; a payload and a response
//! holding markup are shown as text and nothing executes; a retry posted without the CSRF
//! token or from another Origin is refused. The main pages' screenshots are written to
//! docs/screenshots/ (the README shows them).
//!
//! chromium and chromium-driver come from `scripts/browser-test.sh install` (run by `make
//! test` and `.ci/run`); without them the test is skipped, except under CI=true.

mod support;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use support::sink::serve_on_thread;
use support::{Instance, free_port, http, http_json};

const TOKEN: &str = "console-test-admin-token-0123456789";
const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";

fn manifests(url: &str) -> String {
    format!(
        r#"{publisher}
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {{name: partner, namespace: payments}}
spec:
  url: {url}
  eventTypes: ["order.*"]
  signing: {{scheme: None}}
---
apiVersion: switchboard.dev/v1alpha1
kind: EventType
metadata: {{name: order.created, namespace: payments}}
spec:
  category: shop
  description: An order was placed.
  schema: {{type: object}}
"#,
        publisher = support::payments_publisher!()
    )
}

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Option<Driver> {
    let path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    let Some(path) = path else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromedriver is missing: run scripts/browser-test.sh install"
        );
        eprintln!("skipped: chromedriver is missing (scripts/browser-test.sh install)");
        return None;
    };
    let port = free_port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--window-size=1280,1000"]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

fn publish(inst: &Instance, id: &str, data: serde_json::Value) {
    let body = json!({"type": "order.created", "id": id, "data": data}).to_string();
    let (status, answer) = http_json(
        "POST",
        &format!("{}/v1/namespaces/payments/events", inst.data_url),
        &[
            ("authorization", "Bearer test-publisher-token"),
            ("content-type", "application/json"),
        ],
        Some(body.as_bytes()),
    );
    assert_eq!(status, 202, "publish answered {answer}");
}

fn deliveries(inst: &Instance) -> Vec<serde_json::Value> {
    let url = format!(
        "{}/v1/namespaces/payments/webhooksubscriptions/partner/deliveries",
        inst.admin_url
    );
    http_json("GET", &url, &[], None).1["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// No alert is open: the page ran no script.
async fn no_alert(client: &Client) {
    let alert = client.get_alert_text().await;
    assert!(alert.is_err(), "an alert opened: {alert:?}");
}

#[test]
fn console_in_a_real_browser() {
    let Some(driver) = driver() else { return };
    // The partner answers 400 (no retry) with markup in its body and a header.
    let sink = serve_on_thread(axum::Router::new().fallback(|| async {
        (
            StatusCode::BAD_REQUEST,
            [("x-partner-note", "<b>bold</b>")],
            format!("rejected: {SCRIPT} {IMG}"),
        )
            .into_response()
    }));
    let dir = tempfile::tempdir().unwrap();
    let mdir = dir.path().join("manifests");
    std::fs::create_dir_all(&mdir).unwrap();
    std::fs::write(
        mdir.join("m.yaml"),
        manifests(&format!("http://{sink}/hook")),
    )
    .unwrap();
    let inst = Instance::start(
        &mdir,
        &dir.path().join("data"),
        &["--allow-private-destinations", "--console-token", TOKEN],
    );
    publish(
        &inst,
        "evt-xss",
        json!({"note": SCRIPT, "html": IMG, "amount": 42}),
    );
    publish(&inst, "evt-2", json!({"amount": 7}));
    let deadline = Instant::now() + Duration::from_secs(20);
    while deliveries(&inst)
        .iter()
        .filter(|d| d["status"] == "Failed")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "deliveries did not fail: {:?}",
            deliveries(&inst)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let xss = deliveries(&inst)
        .into_iter()
        .find(|d| d["eventId"] == "evt-xss")
        .expect("the delivery of evt-xss");
    let xss_id = xss["id"].as_str().unwrap().to_owned();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = browser(&driver).await;
        let base = format!("{}/console/", inst.admin_url);

        // Not signed in: the sign-in page; a wrong token is refused.
        c.goto(&base).await.unwrap();
        assert!(
            c.current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/console/login")
        );
        c.find(Locator::Id("token"))
            .await
            .unwrap()
            .send_keys("wrong")
            .await
            .unwrap();
        c.find(Locator::Id("sign-in"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let error = c
            .find(Locator::Id("error"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(error.contains("not valid"), "{error}");
        c.find(Locator::Id("token"))
            .await
            .unwrap()
            .send_keys(TOKEN)
            .await
            .unwrap();
        c.find(Locator::Id("sign-in"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();

        // The overview: the subscription failing, with its reason.
        let section = c.find(Locator::Id("ns-payments")).await.unwrap();
        let text = section.text().await.unwrap();
        assert!(text.contains("partner"), "{text}");
        assert!(text.contains("DeliveriesFailing"), "{text}");
        screenshot(&c, "overview").await;

        // The failing subscription: its log lists both deliveries; the charts are drawn.
        c.find(Locator::LinkText("partner"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let rows = c
            .find_all(Locator::Css("#deliveries a.delivery"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        let chart = c
            .find(Locator::Id("chart-hour"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(chart.contains("2 attempts, 2 failed"), "{chart}");
        screenshot(&c, "subscription").await;

        // The log filtered by event type and status.
        c.goto(&format!(
            "{base}ns/payments/webhooksubscriptions/partner?status=Delivered&type=order.created"
        ))
        .await
        .unwrap();
        let rows = c
            .find_all(Locator::Css("#deliveries a.delivery"))
            .await
            .unwrap();
        assert!(rows.is_empty());

        // The delivery with markup: every attempt, the payload and response shown as text.
        let delivery_url =
            format!("{base}ns/payments/webhooksubscriptions/partner/deliveries/{xss_id}");
        c.goto(&delivery_url).await.unwrap();
        let payload = c
            .find(Locator::Id("payload"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(payload.contains(SCRIPT) && payload.contains("<img src=x onerror=alert(1)>"));
        let attempt = c
            .find(Locator::Id("attempt-1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            attempt.contains(SCRIPT) && attempt.contains(IMG),
            "{attempt}"
        );
        assert!(attempt.contains("<b>bold</b>"), "{attempt}");
        assert!(
            c.find_all(Locator::Css("img, script"))
                .await
                .unwrap()
                .is_empty()
        );
        no_alert(&c).await;
        screenshot(&c, "delivery").await;

        // A retry without the CSRF token, or from another Origin, is refused.
        let cookies = c.get_all_cookies().await.unwrap();
        let cookie = |name: &str| {
            cookies
                .iter()
                .find(|k| k.name() == name)
                .map(|k| k.value().to_owned())
                .expect(name)
        };
        let (session, csrf) = (cookie("sb_session"), cookie("sb_csrf"));
        let jar = format!("sb_session={session}; sb_csrf={csrf}");
        let retry_url = format!("{delivery_url}/retry");
        let form = |fields: &str| fields.as_bytes().to_vec();
        for (origin, body, why) in [
            (inst.admin_url.as_str(), form(""), "CSRF token"),
            (inst.admin_url.as_str(), form("csrf=forged"), "CSRF token"),
            (
                "http://evil.example",
                form(&format!("csrf={csrf}")),
                "Origin",
            ),
        ] {
            let (status, page) = tokio::task::block_in_place(|| {
                http(
                    "POST",
                    &retry_url,
                    &[
                        ("cookie", &jar),
                        ("origin", origin),
                        ("content-type", "application/x-www-form-urlencoded"),
                    ],
                    Some(&body),
                )
            })
            .unwrap();
            let page = String::from_utf8_lossy(&page);
            assert_eq!(status, 403, "{page}");
            assert!(page.contains(why), "{page}");
        }
        assert_eq!(
            tokio::task::block_in_place(|| deliveries(&inst))
                .iter()
                .find(|d| d["id"] == xss_id.as_str())
                .unwrap()["status"],
            "Failed",
            "a refused retry changed nothing"
        );

        // Retry from the page: the new attempt appears.
        c.find(Locator::Id("retry"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if c.find(Locator::Id("attempt-2")).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the retry's attempt did not appear"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.goto(&delivery_url).await.unwrap();
        }
        let count = c
            .find(Locator::Id("attempt-count"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(count, "2");
        no_alert(&c).await;

        // Send a test event from the subscription page: a switchboard.test delivery.
        c.goto(&format!("{base}ns/payments/webhooksubscriptions/partner"))
            .await
            .unwrap();
        c.find(Locator::Id("send-test"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let log = c
            .find(Locator::Id("deliveries"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(log.contains("switchboard.test"), "{log}");

        // The event catalog.
        c.goto(&format!("{base}catalog")).await.unwrap();
        let catalog = c
            .find(Locator::Id("catalog"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(catalog.contains("order.created") && catalog.contains("An order was placed."));
        screenshot(&c, "catalog").await;
        c.close().await.unwrap();
    });

    // Signed out: the sign-in page (after a redirect), no data.
    let (status, page) = http("GET", &format!("{}/console/", inst.admin_url), &[], None).unwrap();
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200);
    assert!(
        page.contains("Sign in") && !page.contains("partner"),
        "{page}"
    );
}
