//! Event type patterns as the eventTypes fields write them: "*" (everything), "invoice.*" (a
//! dotted prefix) or an exact type. Endpoints (allowlist) and subscriptions (matching) share it.

/// A compiled event type pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Matches every type.
    Any,
    /// Matches types that start with this prefix (which ends with a dot).
    Prefix(String),
    /// Matches one type.
    Exact(String),
}

impl Pattern {
    /// Parses a pattern as written in eventTypes.
    pub fn new(pattern: &str) -> Self {
        if pattern == "*" {
            Self::Any
        } else if let Some(prefix) = pattern.strip_suffix('*') {
            Self::Prefix(prefix.to_owned())
        } else {
            Self::Exact(pattern.to_owned())
        }
    }

    /// True when `event_type` matches.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Prefix(p) => event_type.starts_with(p.as_str()),
            Self::Exact(t) => t == event_type,
        }
    }
}

/// True when any of `patterns` matches (an empty list matches everything).
pub fn any_matches(patterns: &[Pattern], event_type: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_star_prefix_and_exact() {
        assert!(Pattern::new("*").matches("anything.at.all"));
        assert!(Pattern::new("invoice.*").matches("invoice.paid"));
        assert!(Pattern::new("invoice.*").matches("invoice.payment.failed"));
        assert!(!Pattern::new("invoice.*").matches("invoices.paid"));
        assert!(!Pattern::new("invoice.*").matches("invoice"));
        assert!(Pattern::new("invoice.paid").matches("invoice.paid"));
        assert!(!Pattern::new("invoice.paid").matches("invoice.paid.v2"));
        assert!(any_matches(&[], "x"));
        assert!(!any_matches(&[Pattern::new("a.*"), Pattern::new("b")], "c"));
    }
}
