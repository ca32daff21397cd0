//! An independent Standard Webhooks verifier (hmac + sha2 + base64 only), so tests check
//! Switchboard's signatures without trusting its own signing code.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::sink::Hit;

/// The `v1,<base64>` signature of `id.timestamp.body` with a `whsec_` secret.
pub fn reference_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// True when one of the space-separated signatures of a request is valid for `secret`.
pub fn verifies(hit: &Hit, secret: &str) -> bool {
    let expected = reference_signature(
        secret,
        &hit.header("webhook-id"),
        &hit.header("webhook-timestamp"),
        &hit.body,
    );
    hit.header("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}
