//! Content types: which format a request body is read in, from its `Content-Type` and the
//! transformation's declared input format.

use http::HeaderValue;

use crate::api::InputFormat;

/// The kind of media a `Content-Type` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Media {
    /// `application/json` or any `+json` type.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// Any `text/*` type.
    Text,
    /// Something else (or a header that does not parse).
    Other,
}

/// Classifies a `Content-Type` header; `None` when there is none.
pub fn classify(content_type: Option<&HeaderValue>) -> Option<Media> {
    let value = content_type?;
    let Some(parsed) = value
        .to_str()
        .ok()
        .and_then(|v| v.parse::<mime::Mime>().ok())
    else {
        return Some(Media::Other);
    };
    let json = parsed.subtype() == mime::JSON || parsed.suffix() == Some(mime::JSON);
    Some(match (parsed.type_(), parsed.subtype()) {
        (mime::APPLICATION, _) if json => Media::Json,
        (mime::APPLICATION, mime::WWW_FORM_URLENCODED) => Media::Form,
        (mime::TEXT, _) => Media::Text,
        _ => Media::Other,
    })
}

/// The format to read a body in: the transformation's `declared` input format when the
/// content type is compatible with it, else the content type's own (JSON when absent).
/// `None` means 415.
pub fn input_format(
    content_type: Option<&HeaderValue>,
    declared: Option<InputFormat>,
) -> Option<InputFormat> {
    let media = classify(content_type);
    match (declared, media) {
        (Some(format), None) => Some(format),
        // Many senders label JSON text/plain (Amazon SNS does).
        (Some(InputFormat::Json), Some(Media::Json | Media::Text)) => Some(InputFormat::Json),
        (Some(InputFormat::Form), Some(Media::Form)) => Some(InputFormat::Form),
        (Some(InputFormat::Text), Some(Media::Json | Media::Form | Media::Text)) => {
            Some(InputFormat::Text)
        }
        (Some(_), Some(_)) => None,
        (None, None | Some(Media::Json)) => Some(InputFormat::Json),
        (None, Some(Media::Form)) => Some(InputFormat::Form),
        (None, Some(Media::Text)) => Some(InputFormat::Text),
        (None, Some(Media::Other)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ct(v: &str) -> HeaderValue {
        HeaderValue::from_str(v).unwrap()
    }

    #[test]
    fn classifies_common_types() {
        assert_eq!(
            classify(Some(&ct("application/json; charset=utf-8"))),
            Some(Media::Json)
        );
        assert_eq!(
            classify(Some(&ct("application/vnd.api+json"))),
            Some(Media::Json)
        );
        assert_eq!(
            classify(Some(&ct("Application/X-WWW-Form-Urlencoded"))),
            Some(Media::Form)
        );
        assert_eq!(classify(Some(&ct("text/plain"))), Some(Media::Text));
        assert_eq!(classify(Some(&ct("application/xml"))), Some(Media::Other));
        assert_eq!(classify(Some(&ct("not a type"))), Some(Media::Other));
        assert_eq!(classify(None), None);
    }

    #[test]
    fn declared_format_must_fit_the_content_type() {
        let form = ct("application/x-www-form-urlencoded");
        let json = ct("application/json");
        assert_eq!(
            input_format(Some(&form), Some(InputFormat::Form)),
            Some(InputFormat::Form)
        );
        assert_eq!(input_format(Some(&json), Some(InputFormat::Form)), None);
        assert_eq!(
            input_format(None, Some(InputFormat::Text)),
            Some(InputFormat::Text)
        );
        assert_eq!(
            input_format(Some(&ct("text/plain")), Some(InputFormat::Json)),
            Some(InputFormat::Json)
        );
        assert_eq!(input_format(None, None), Some(InputFormat::Json));
        assert_eq!(input_format(Some(&form), None), Some(InputFormat::Form));
        assert_eq!(input_format(Some(&ct("image/png")), None), None);
    }

    proptest! {
        #[test]
        fn any_content_type_never_panics(bytes in any::<Vec<u8>>()) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                for declared in [None, Some(InputFormat::Json), Some(InputFormat::Form), Some(InputFormat::Text)] {
                    let _ = input_format(Some(&value), declared);
                }
            }
        }

        #[test]
        fn any_text_content_type_never_panics(text in "[ -~]*") {
            if let Ok(value) = HeaderValue::from_str(&text) {
                let _ = classify(Some(&value));
            }
        }
    }
}
