//! Subscription filters: which messages a follower wants.

use super::{AuthorKey, Body, Kind, language_matches};

/// What a follower wants. Every non-empty list narrows the selection; the values within one
/// list are alternatives. The empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these authors.
    pub authors: Vec<AuthorKey>,
    /// Only these kinds.
    pub kinds: Vec<Kind>,
    /// Only messages with one of these topics.
    pub topics: Vec<String>,
    /// Only messages concerning one of these countries.
    pub countries: Vec<String>,
    /// Only messages with an info block in one of these languages (RFC 4647 basic filtering:
    /// "pt" matches "pt-BR"). Messages without info blocks (endorsements, cancels, profiles…)
    /// do not match a language filter.
    pub languages: Vec<String>,
}

impl Filter {
    /// Whether the filter selects everything.
    pub fn is_empty(&self) -> bool {
        self.authors.is_empty()
            && self.kinds.is_empty()
            && self.topics.is_empty()
            && self.countries.is_empty()
            && self.languages.is_empty()
    }

    /// Whether a message body passes the filter.
    pub fn matches(&self, body: &Body) -> bool {
        (self.authors.is_empty() || self.authors.contains(&body.author))
            && (self.kinds.is_empty() || self.kinds.contains(&body.kind()))
            && (self.topics.is_empty() || body.topics.iter().any(|t| self.topics.contains(t)))
            && (self.countries.is_empty()
                || body.countries.iter().any(|c| self.countries.contains(c)))
            && (self.languages.is_empty()
                || body.info().iter().any(|i| {
                    self.languages
                        .iter()
                        .any(|range| language_matches(range, &i.language))
                }))
    }
}
