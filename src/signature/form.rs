//! Decoding of `application/x-www-form-urlencoded` bodies, as Twilio signs them.

/// The decoded name/value pairs of a form body, sorted by name then value (byte order).
pub fn sorted_pairs(body: &[u8]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    pairs.sort();
    pairs
}

/// Every pair's name followed by its value, concatenated in sorted order.
pub fn concatenated(body: &[u8]) -> String {
    sorted_pairs(body)
        .into_iter()
        .map(|(name, value)| name + &value)
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn decodes_and_sorts() {
        let pairs = sorted_pairs(b"b=2&a=x+y&a=%2B1&c");
        let expected = [("a", "+1"), ("a", "x y"), ("b", "2"), ("c", "")];
        assert_eq!(
            pairs,
            expected.map(|(n, v)| (n.to_owned(), v.to_owned())).to_vec()
        );
        assert_eq!(concatenated(b"b=2&a=1"), "a1b2");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = concatenated(&body);
        }

        #[test]
        fn encoded_pairs_decode_sorted(pairs in proptest::collection::vec((".*", ".*"), 0..8)) {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            let mut expected = pairs.clone();
            expected.sort();
            prop_assert_eq!(sorted_pairs(body.as_bytes()), expected);
        }
    }
}
