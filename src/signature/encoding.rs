//! Decoding of signatures and secrets: base64 (padding optional) and hex.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard-alphabet base64 that accepts input with or without padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes standard base64, padded or not; `None` when it is not base64.
pub fn decode_base64(input: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    LENIENT.decode(input.as_ref().trim_ascii()).ok()
}

/// Encodes bytes as padded standard base64.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes hexadecimal of either case; `None` when it is not hex.
pub fn decode_hex(input: &str) -> Option<Vec<u8>> {
    hex::decode(input.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_with_and_without_padding() {
        assert_eq!(decode_base64("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(decode_base64("a*k="), None);
        assert_eq!(encode_base64(b"hi"), "aGk=");
    }

    #[test]
    fn hex_of_either_case() {
        assert_eq!(decode_hex("0aFf"), Some(vec![0x0a, 0xff]));
        assert_eq!(decode_hex("0g"), None);
        assert_eq!(decode_hex("abc"), None);
    }
}
