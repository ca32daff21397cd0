//! HMAC computation and constant-time comparison, shared by the schemes.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::VerifyError;
use crate::api::HmacAlgorithm;

/// The HMAC of the concatenation of `parts` under `key`.
pub fn sign(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, VerifyError> {
    match algorithm {
        HmacAlgorithm::Sha1 => tag::<Hmac<Sha1>>(key, parts),
        HmacAlgorithm::Sha256 => tag::<Hmac<Sha256>>(key, parts),
        HmacAlgorithm::Sha512 => tag::<Hmac<Sha512>>(key, parts),
    }
}

/// Whether `expected_tag` is the HMAC of `parts` under `key`, compared in constant time.
pub fn verify(algorithm: HmacAlgorithm, key: &[u8], parts: &[&[u8]], expected_tag: &[u8]) -> bool {
    match algorithm {
        HmacAlgorithm::Sha1 => check::<Hmac<Sha1>>(key, parts, expected_tag),
        HmacAlgorithm::Sha256 => check::<Hmac<Sha256>>(key, parts, expected_tag),
        HmacAlgorithm::Sha512 => check::<Hmac<Sha512>>(key, parts, expected_tag),
    }
}

/// Constant-time equality of two byte strings (the length is not hidden).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

fn keyed<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<M> {
    // HMAC accepts keys of any length, so this never fails in practice.
    let mut mac = <M as KeyInit>::new_from_slice(key).ok()?;
    for part in parts {
        mac.update(part);
    }
    Some(mac)
}

fn tag<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, VerifyError> {
    let mac = keyed::<M>(key, parts).ok_or(VerifyError::MalformedSecret)?;
    Ok(mac.finalize().into_bytes().to_vec())
}

fn check<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], expected_tag: &[u8]) -> bool {
    keyed::<M>(key, parts).is_some_and(|mac| mac.verify_slice(expected_tag).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2 (HMAC-SHA256/512) and RFC 2202 test case 2 (HMAC-SHA1):
    // key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn rfc_vectors() {
        let data: &[&[u8]] = &[b"what do ya want ", b"for nothing?"];
        let sha1 = sign(HmacAlgorithm::Sha1, b"Jefe", data).unwrap();
        assert_eq!(
            hex::encode(&sha1),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        let sha256 = sign(HmacAlgorithm::Sha256, b"Jefe", data).unwrap();
        assert_eq!(
            hex::encode(&sha256),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let sha512 = sign(HmacAlgorithm::Sha512, b"Jefe", data).unwrap();
        assert!(hex::encode(&sha512).starts_with("164b7a7bfcf819e2e395fbe73b56e0a387bd6422"));
        assert!(verify(HmacAlgorithm::Sha256, b"Jefe", data, &sha256));
        assert!(!verify(HmacAlgorithm::Sha256, b"jefe", data, &sha256));
        assert!(!verify(HmacAlgorithm::Sha256, b"Jefe", data, &sha256[..31]));
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
