//! Why a message is refused: a stable reason code per class, plus a human detail.

use std::fmt;

/// A stable, machine-readable reason for refusing a message.
///
/// The codes (`Reason::code`) are part of the protocol: they are returned to senders, counted
/// in metrics and matched by scripts. Never rename one; add new ones at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The bytes are not a well-formed message (bad protobuf, wrong field lengths).
    Malformed,
    /// The body is larger than the protocol allows.
    TooLarge,
    /// A text field is longer than its limit.
    TooLong,
    /// A list has more items than its limit.
    TooMany,
    /// A required field is absent or zero.
    MissingField,
    /// The signature does not verify under the author's key.
    BadSignature,
    /// A key is not a valid Ed25519 point.
    BadKey,
    /// A key is of small order (weak), which strict verification refuses.
    WeakKey,
    /// The message has already expired.
    Expired,
    /// The message was created too far in the future of the receiver's clock.
    FromFuture,
    /// expires_at is not after created_at, or beyond the kind's maximum lifetime.
    BadLifetime,
    /// Other times are inconsistent (an embargo after expiry, a window ending before it starts).
    BadTime,
    /// A language tag is not a well-formed BCP-47 tag, or two info blocks share a language.
    BadLanguage,
    /// A link is not an absolute https:// URL.
    BadLink,
    /// A topic is not a lower-case slug.
    BadTopic,
    /// A country is not an ISO 3166-1 alpha-2 code.
    BadCountry,
    /// A reference to another message is not a 32-byte id, or names the message's own kind wrongly.
    BadReference,
    /// A text field is not acceptable (control characters, an ILO convention that is not "C087"-shaped).
    BadValue,
    /// The author's key has been revoked for this message's time.
    RevokedAuthor,
    /// The node's trust policy does not admit this author.
    NotAdmitted,
    /// The author is on the node's deny list.
    DeniedAuthor,
    /// Only the original author (or its successor) may update or cancel a message.
    NotAuthor,
    /// The message was withdrawn or expired here and may not be brought back.
    Replayed,
    /// The sender or author is over its rate limit.
    RateLimited,
    /// The node is shutting down or cannot take more work now.
    Unavailable,
    /// An action report's counts, filings or a call's goals are not acceptable (an unknown or
    /// repeated measure, a currency where none belongs or missing where one does, a count
    /// beyond the protocol's bound, a report that counts nothing).
    BadCount,
    /// A client published a message, by a key with a recovery commitment (or the commitment
    /// itself), that says it was made more than 10 minutes before the node's clock: a seized
    /// key cannot write into its own past.
    Backdated,
    /// The key has a recovery commitment, so only its recovery key may end it or hand on its
    /// name: a revocation it signed before the commitment, or one naming a successor, is
    /// refused (use a rotation).
    RecoveryCommitted,
}

impl Reason {
    /// Every reason, in code order (for metrics and documentation).
    pub const ALL: [Reason; 28] = [
        Reason::Malformed,
        Reason::TooLarge,
        Reason::TooLong,
        Reason::TooMany,
        Reason::MissingField,
        Reason::BadSignature,
        Reason::BadKey,
        Reason::WeakKey,
        Reason::Expired,
        Reason::FromFuture,
        Reason::BadLifetime,
        Reason::BadTime,
        Reason::BadLanguage,
        Reason::BadLink,
        Reason::BadTopic,
        Reason::BadCountry,
        Reason::BadReference,
        Reason::BadValue,
        Reason::RevokedAuthor,
        Reason::NotAdmitted,
        Reason::DeniedAuthor,
        Reason::NotAuthor,
        Reason::Replayed,
        Reason::RateLimited,
        Reason::Unavailable,
        Reason::BadCount,
        Reason::Backdated,
        Reason::RecoveryCommitted,
    ];

    /// The stable code, as sent on the wire and counted in metrics.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too-large",
            Reason::TooLong => "too-long",
            Reason::TooMany => "too-many",
            Reason::MissingField => "missing-field",
            Reason::BadSignature => "bad-signature",
            Reason::BadKey => "bad-key",
            Reason::WeakKey => "weak-key",
            Reason::Expired => "expired",
            Reason::FromFuture => "from-future",
            Reason::BadLifetime => "bad-lifetime",
            Reason::BadTime => "bad-time",
            Reason::BadLanguage => "bad-language",
            Reason::BadLink => "bad-link",
            Reason::BadTopic => "bad-topic",
            Reason::BadCountry => "bad-country",
            Reason::BadReference => "bad-reference",
            Reason::BadValue => "bad-value",
            Reason::RevokedAuthor => "revoked-author",
            Reason::NotAdmitted => "not-admitted",
            Reason::DeniedAuthor => "denied-author",
            Reason::NotAuthor => "not-author",
            Reason::Replayed => "replayed",
            Reason::RateLimited => "rate-limited",
            Reason::Unavailable => "unavailable",
            Reason::BadCount => "bad-count",
            Reason::Backdated => "backdated",
            Reason::RecoveryCommitted => "recovery-committed",
        }
    }

    /// The reason with this code, if any.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// This reason's position in [`Reason::ALL`], for counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether asking again can change the answer, and when: the one place that says which
    /// refusals a relay settles at once and which it keeps for another try.
    pub fn outlook(self) -> Outlook {
        match self {
            // Time moves on (the receiver's clock reaches created_at - 10 min); a roster or an
            // allow list that names the author arrives. The same bytes are then accepted.
            Reason::FromFuture | Reason::NotAdmitted => Outlook::MayChange,
            // About the receiver, not the message: the same request later is likely to pass.
            Reason::RateLimited | Reason::Unavailable => Outlook::Transient,
            // The bytes, the signature and the kind's rules are fixed; time only moves on, so
            // `expired` stays; a revocation is kept forever and only its earliest time counts;
            // a withdrawn or expired id stays refused; the deny list is the operator's choice.
            // `not-author` is decided against the revocations held, and revocations travel
            // first (a follower pulls them before the rest of a peer's log).
            Reason::Malformed
            | Reason::TooLarge
            | Reason::TooLong
            | Reason::TooMany
            | Reason::MissingField
            | Reason::BadSignature
            | Reason::BadKey
            | Reason::WeakKey
            | Reason::Expired
            | Reason::BadLifetime
            | Reason::BadTime
            | Reason::BadLanguage
            | Reason::BadLink
            | Reason::BadTopic
            | Reason::BadCountry
            | Reason::BadReference
            | Reason::BadValue
            | Reason::BadCount
            | Reason::Backdated
            | Reason::RecoveryCommitted
            | Reason::RevokedAuthor
            | Reason::DeniedAuthor
            | Reason::NotAuthor
            | Reason::Replayed => Outlook::Final,
        }
    }
}

/// What a refusal means for whoever holds the message: see [`Reason::outlook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outlook {
    /// The same bytes will be refused the same way wherever and whenever they are offered
    /// here: the refusal is settled.
    Final,
    /// The answer depends on the receiver's clock or on what it knows yet: a relay keeps the
    /// message and offers it again later (federation's retry set), until it expires.
    MayChange,
    /// The receiver is busy or failing: nothing is wrong with the message, and the sender
    /// offers it again, unchanged, once the receiver recovers (a follower keeps its cursor
    /// before it).
    Transient,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: the reason code and a detail a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    /// The stable code.
    pub reason: Reason,
    /// What exactly was wrong, for people. Never parsed.
    pub detail: String,
}

impl Rejection {
    /// A refusal with a reason and a detail.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_indexed_and_round_trip() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(Reason::from_code(r.code()), Some(*r));
            assert!(
                r.code()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-')
            );
        }
        let mut codes: Vec<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
    }

    #[test]
    fn only_time_and_knowledge_refusals_may_change() {
        let may_change: Vec<_> = Reason::ALL
            .into_iter()
            .filter(|r| r.outlook() == Outlook::MayChange)
            .collect();
        assert_eq!(may_change, [Reason::FromFuture, Reason::NotAdmitted]);
        let transient: Vec<_> = Reason::ALL
            .into_iter()
            .filter(|r| r.outlook() == Outlook::Transient)
            .collect();
        assert_eq!(transient, [Reason::RateLimited, Reason::Unavailable]);
        for r in [
            Reason::BadSignature,
            Reason::Expired,
            Reason::RevokedAuthor,
            Reason::Replayed,
        ] {
            assert_eq!(r.outlook(), Outlook::Final, "{r}");
        }
    }
}
