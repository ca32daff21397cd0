//! Every verification scheme over real HTTP: a correctly signed request is accepted (202);
//! a wrong secret, a tampered body, a stale timestamp and a missing header get 401 with the
//! right reason code.

mod hooks_support;
mod support;

use hooks_support::{code, hook, now};
use support::Instance;
use switchboard::api::{HmacAlgorithm, HmacVerify, SignatureEncoding};
use switchboard::signature::{
    basic, generic_hmac, github, shopify, slack, standard_webhooks, stripe, twilio,
};

const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: keys, namespace: hooks, labels: {switchboard.dev/usable: "true"}}
stringData:
  sw: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
  stripe: whsec_test_secret
  github: gh-secret
  gitlab: gl-token
  slack: slack-secret
  shopify: shop-secret
  twilio: twilio-token
  hmac: hmac-secret
  token: bearer-token
  username: ada
  password: lovelace
"#;

/// One endpoint of `scheme` verified with key `key` of the Secret.
fn endpoint(name: &str, scheme: &str, key: &str, extra: &str) -> String {
    format!(
        r#"
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {{name: {name}, namespace: hooks}}
spec:
  verify:
    scheme: {scheme}
    secretRef: {{name: keys, key: {key}}}
{extra}
  route: {{publish: {{}}}}
"#
    )
}

fn hmac_settings() -> HmacVerify {
    HmacVerify {
        header: "X-Signature".into(),
        algorithm: HmacAlgorithm::Sha512,
        encoding: SignatureEncoding::Base64,
        prefix: Some("sha512=".into()),
        timestamp_header: Some("X-Timestamp".into()),
    }
}

/// Headers signing `body` at `ts` for an endpoint, with the right secret or a wrong one.
fn signed(name: &str, url: &str, body: &[u8], ts: i64, right: bool) -> Vec<(String, String)> {
    let pick = |good: &str| {
        if right {
            good.to_owned()
        } else {
            format!("{good}-wrong")
        }
    };
    let h = |k: &str, v: String| (k.to_owned(), v);
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    match name {
        "sw" => {
            let secret = if right {
                SW_SECRET.to_owned()
            } else {
                standard_webhooks::generate_secret()
            };
            let sig = standard_webhooks::sign(&id, ts, body, &[&secret]).unwrap();
            vec![
                h("webhook-id", id),
                h("webhook-timestamp", ts.to_string()),
                h("webhook-signature", sig),
            ]
        }
        "stripe" => {
            let sig = stripe::sign(pick("whsec_test_secret").as_bytes(), ts, body).unwrap();
            vec![h("stripe-signature", sig)]
        }
        "github" => vec![h(
            "x-hub-signature-256",
            github::sign(pick("gh-secret").as_bytes(), body).unwrap(),
        )],
        "gitlab" => vec![h("x-gitlab-token", pick("gl-token"))],
        "slack" => vec![
            h("x-slack-request-timestamp", ts.to_string()),
            h(
                "x-slack-signature",
                slack::sign(pick("slack-secret").as_bytes(), ts, body).unwrap(),
            ),
        ],
        "shopify" => vec![h(
            "x-shopify-hmac-sha256",
            shopify::sign(pick("shop-secret").as_bytes(), body).unwrap(),
        )],
        "twilio" => vec![
            h("content-type", "application/x-www-form-urlencoded".into()),
            h(
                "x-twilio-signature",
                twilio::sign(pick("twilio-token").as_bytes(), url, body).unwrap(),
            ),
        ],
        "hmac" => vec![
            h("x-timestamp", ts.to_string()),
            h(
                "x-signature",
                generic_hmac::sign(
                    &hmac_settings(),
                    pick("hmac-secret").as_bytes(),
                    Some(ts),
                    body,
                )
                .unwrap(),
            ),
        ],
        "basic" => vec![h(
            "authorization",
            basic::header_value(b"ada", pick("lovelace").as_bytes()),
        )],
        "bearer" => vec![h(
            "authorization",
            format!("Bearer {}", pick("bearer-token")),
        )],
        "none" => vec![],
        other => panic!("no signer for {other}"),
    }
}

struct Case {
    name: &'static str,
    /// Reason code of a wrong secret.
    wrong: &'static str,
    /// The body is signed (a tampered body fails).
    body_signed: bool,
    /// The signature has a timestamp (a stale one fails).
    timestamped: bool,
    /// The header whose absence fails.
    header: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "sw",
        wrong: "bad_signature",
        body_signed: true,
        timestamped: true,
        header: "webhook-signature",
    },
    Case {
        name: "stripe",
        wrong: "bad_signature",
        body_signed: true,
        timestamped: true,
        header: "stripe-signature",
    },
    Case {
        name: "github",
        wrong: "bad_signature",
        body_signed: true,
        timestamped: false,
        header: "x-hub-signature-256",
    },
    Case {
        name: "gitlab",
        wrong: "bad_credentials",
        body_signed: false,
        timestamped: false,
        header: "x-gitlab-token",
    },
    Case {
        name: "slack",
        wrong: "bad_signature",
        body_signed: true,
        timestamped: true,
        header: "x-slack-signature",
    },
    Case {
        name: "shopify",
        wrong: "bad_signature",
        body_signed: true,
        timestamped: false,
        header: "x-shopify-hmac-sha256",
    },
    Case {
        name: "twilio",
        wrong: "bad_signature",
        body_signed: true,
        timestamped: false,
        header: "x-twilio-signature",
    },
    Case {
        name: "hmac",
        wrong: "bad_signature",
        body_signed: true,
        timestamped: true,
        header: "x-signature",
    },
    Case {
        name: "basic",
        wrong: "bad_credentials",
        body_signed: false,
        timestamped: false,
        header: "authorization",
    },
    Case {
        name: "bearer",
        wrong: "bad_credentials",
        body_signed: false,
        timestamped: false,
        header: "authorization",
    },
];

fn send(inst: &Instance, name: &str, headers: &[(String, String)], body: &[u8]) -> (u16, String) {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, answer) = hook(inst, "hooks", name, &pairs, body);
    (status, code(&answer).to_owned())
}

#[test]
fn every_scheme_accepts_genuine_requests_and_refuses_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    let mut yaml = MANIFESTS.to_owned();
    for (name, scheme, key) in [
        ("sw", "StandardWebhooks", "sw"),
        ("stripe", "Stripe", "stripe"),
        ("github", "GitHub", "github"),
        ("gitlab", "GitLab", "gitlab"),
        ("slack", "Slack", "slack"),
        ("shopify", "Shopify", "shopify"),
        ("twilio", "Twilio", "twilio"),
        ("basic", "Basic", "secret"),
        ("bearer", "Bearer", "token"),
    ] {
        yaml.push_str(&endpoint(name, scheme, key, ""));
    }
    yaml.push_str(&endpoint(
        "hmac",
        "Hmac",
        "hmac",
        "    hmac: {header: X-Signature, algorithm: Sha512, encoding: Base64, prefix: \"sha512=\", timestampHeader: X-Timestamp}",
    ));
    yaml.push_str(
        r#"
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: none, namespace: hooks}
spec:
  verify: {scheme: None}
  route: {publish: {}}
"#,
    );
    std::fs::write(manifests.join("hooks.yaml"), yaml).unwrap();
    let inst = Instance::start(&manifests, &tmp.path().join("data"), &[]);

    for case in CASES {
        let name = case.name;
        let url = format!("{}/hooks/hooks/{name}", inst.data_url);
        let body: &[u8] = if name == "twilio" {
            b"From=%2B15551234567&Body=hello"
        } else {
            br#"{"id":"evt_1","type":"ping"}"#
        };
        let good = signed(name, &url, body, now(), true);
        assert_eq!(
            send(&inst, name, &good, body),
            (202, String::new()),
            "{name}: signed"
        );

        let wrong = signed(name, &url, body, now(), false);
        assert_eq!(
            send(&inst, name, &wrong, body),
            (401, case.wrong.to_owned()),
            "{name}: wrong secret"
        );

        if case.body_signed {
            let tampered: Vec<u8> = if name == "twilio" {
                b"From=%2B15551234567&Body=hellO".to_vec()
            } else {
                br#"{"id":"evt_1","type":"pong"}"#.to_vec()
            };
            let headers = signed(name, &url, body, now(), true);
            assert_eq!(
                send(&inst, name, &headers, &tampered),
                (401, "bad_signature".to_owned()),
                "{name}: tampered body"
            );
        }
        if case.timestamped {
            let stale = signed(name, &url, body, now() - 3600, true);
            assert_eq!(
                send(&inst, name, &stale, body),
                (401, "stale_timestamp".to_owned()),
                "{name}: stale timestamp"
            );
        }
        let missing: Vec<_> = signed(name, &url, body, now(), true)
            .into_iter()
            .filter(|(k, _)| k != case.header)
            .collect();
        assert_eq!(
            send(&inst, name, &missing, body),
            (401, "missing_header".to_owned()),
            "{name}: missing header"
        );
    }
    // None accepts anything.
    assert_eq!(send(&inst, "none", &[], b"{}"), (202, String::new()));

    // Secrets never appear in answers or metrics.
    let metrics = support::http("GET", &format!("{}/metrics", inst.admin_url), &[], None)
        .unwrap()
        .1;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains(
        r#"switchboard_webhook_rejections_total{namespace="hooks",endpoint="stripe",reason="stale_timestamp"} 1"#
    ), "{metrics}");
    for secret in ["whsec_test_secret", "gh-secret", "lovelace", "bearer-token"] {
        assert!(!metrics.contains(secret));
    }
}
