//! The domain model of a message body: what the rest of the program reads instead of protobuf.

use std::fmt;

use super::{AuthorKey, Id, Timestamp};

/// What an author signed, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The author's public key: the author's identity.
    pub author: AuthorKey,
    /// When the author made it.
    pub created_at: Timestamp,
    /// When relays stop serving it; `None` only for a revocation, which never expires.
    pub expires_at: Option<Timestamp>,
    /// Lower-case slugs.
    pub topics: Vec<String>,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    /// Embargo: shown to readers only from this time.
    pub effective_at: Option<Timestamp>,
    /// The one content kind.
    pub content: Content,
}

impl Body {
    /// The body of a key event (revocation, recovery commitment, rotation) by `author`, made at
    /// `created_at`: no expiry, topics, countries or embargo, which key events never have.
    pub fn key_event(author: AuthorKey, created_at: Timestamp, content: Content) -> Body {
        Body {
            author,
            created_at,
            expires_at: None,
            topics: Vec::new(),
            countries: Vec::new(),
            effective_at: None,
            content,
        }
    }

    /// The kind of content this body carries.
    pub fn kind(&self) -> Kind {
        self.content.kind()
    }

    /// The message this one refers to (update, cancel, endorsement, translation), if any.
    pub fn target(&self) -> Option<Id> {
        match &self.content {
            Content::Update(u) => Some(u.supersedes),
            Content::Cancel(c) => Some(c.target),
            Content::Endorsement(e) => Some(e.target),
            Content::Translation(t) => Some(t.target),
            Content::Report(r) => Some(r.target),
            _ => None,
        }
    }

    /// The action call this message carries: a call, or an update of one.
    pub fn call(&self) -> Option<&ActionCall> {
        match &self.content {
            Content::Call(c) => Some(c),
            Content::Update(u) => match &u.content {
                UpdateContent::Call(c) => Some(c),
                UpdateContent::Alert(_) => None,
            },
            _ => None,
        }
    }

    /// The info blocks that this message itself carries (alert, call, their updates, translations).
    pub fn info(&self) -> &[Info] {
        match &self.content {
            Content::Alert(a) => &a.info,
            Content::Call(c) => &c.base.info,
            Content::Update(u) => match &u.content {
                UpdateContent::Alert(a) => &a.info,
                UpdateContent::Call(c) => &c.base.info,
            },
            Content::Translation(t) => &t.info,
            _ => &[],
        }
    }

    /// The goals this message sets, when it is a call or an update carrying a call (empty
    /// otherwise): a call's current version's goals are what its tally is measured against.
    pub fn goals(&self) -> &[Goal] {
        match &self.content {
            Content::Call(c) => &c.goals,
            Content::Update(Update {
                content: UpdateContent::Call(c),
                ..
            }) => &c.goals,
            _ => &[],
        }
    }

    /// Whether the message is under embargo at `now`. A revocation, a recovery commitment and
    /// a rotation never are: they are security actions, so they take effect, and are shown, at
    /// once whatever their effective_at says.
    pub fn embargoed_at(&self, now: Timestamp) -> bool {
        !self.kind().is_key_event() && self.effective_at.is_some_and(|t| t > now)
    }
}

/// The kind of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A solidarity alert.
    Alert,
    /// A coordinated-action call.
    Call,
    /// A new version of an alert or call.
    Update,
    /// A withdrawal of an alert or call.
    Cancel,
    /// Support for an alert or call.
    Endorsement,
    /// Another author's translation.
    Translation,
    /// An author's profile.
    Profile,
    /// A federation's roster.
    Roster,
    /// A key revocation.
    Revocation,
    /// An organisation's action report for an alert or call.
    Report,
    /// A key's commitment to its recovery key (a digest of the recovery public key).
    Commitment,
    /// A rotation, signed by a recovery key: the key it recovers is compromised from a time,
    /// and a successor carries on.
    Rotation,
    /// A newer version's kind, which this version does not know: stored and relayed verbatim,
    /// not shown.
    Unknown,
}

impl Kind {
    /// Every kind this version knows, in wire order ([`Kind::Unknown`] is not one).
    pub const ALL: [Kind; 12] = [
        Kind::Alert,
        Kind::Call,
        Kind::Update,
        Kind::Cancel,
        Kind::Endorsement,
        Kind::Translation,
        Kind::Profile,
        Kind::Roster,
        Kind::Revocation,
        Kind::Report,
        Kind::Commitment,
        Kind::Rotation,
    ];

    /// The kinds that say what a key is (revocation, recovery commitment, rotation): security
    /// actions that never expire, are never under embargo, and travel first between nodes.
    pub const KEY_EVENTS: [Kind; 3] = [Kind::Commitment, Kind::Rotation, Kind::Revocation];

    /// Whether this kind is one of [`Kind::KEY_EVENTS`].
    pub fn is_key_event(self) -> bool {
        Kind::KEY_EVENTS.contains(&self)
    }

    /// The kind's name after its indefinite article, for sentences: "an update", "a call".
    pub fn with_article(self) -> String {
        let name = self.as_str();
        let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {name}")
    }

    /// The kind's name in text forms ("alert", "call", …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Call => "call",
            Kind::Update => "update",
            Kind::Cancel => "cancel",
            Kind::Endorsement => "endorsement",
            Kind::Translation => "translation",
            Kind::Profile => "profile",
            Kind::Roster => "roster",
            Kind::Revocation => "revocation",
            Kind::Report => "report",
            Kind::Commitment => "commitment",
            Kind::Rotation => "rotation",
            Kind::Unknown => "unknown",
        }
    }

    /// The kind named `s`, if any.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind's one-byte tag on disk (the store's records and indexes). Written out, not
    /// derived from the declaration order: every store ever written holds these numbers, so a
    /// tag is never changed or reused, and a new kind takes the next free one.
    pub fn tag(self) -> u8 {
        match self {
            Kind::Alert => 1,
            Kind::Call => 2,
            Kind::Update => 3,
            Kind::Cancel => 4,
            Kind::Endorsement => 5,
            Kind::Translation => 6,
            Kind::Profile => 7,
            Kind::Roster => 8,
            Kind::Revocation => 9,
            Kind::Report => 10,
            Kind::Unknown => 11,
            Kind::Commitment => 12,
            Kind::Rotation => 13,
        }
    }

    /// The kind with this tag ([`Kind::tag`]'s inverse); `None` for a tag no kind has.
    pub fn from_tag(tag: u8) -> Option<Kind> {
        match tag {
            1 => Some(Kind::Alert),
            2 => Some(Kind::Call),
            3 => Some(Kind::Update),
            4 => Some(Kind::Cancel),
            5 => Some(Kind::Endorsement),
            6 => Some(Kind::Translation),
            7 => Some(Kind::Profile),
            8 => Some(Kind::Roster),
            9 => Some(Kind::Revocation),
            10 => Some(Kind::Report),
            11 => Some(Kind::Unknown),
            12 => Some(Kind::Commitment),
            13 => Some(Kind::Rotation),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The content of a message, one kind per message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A solidarity alert.
    Alert(Alert),
    /// A coordinated-action call.
    Call(ActionCall),
    /// A new version of an alert or call.
    Update(Update),
    /// A withdrawal.
    Cancel(Cancel),
    /// An endorsement.
    Endorsement(Endorsement),
    /// A translation.
    Translation(Translation),
    /// A profile.
    Profile(Profile),
    /// A roster.
    Roster(Roster),
    /// A revocation.
    Revocation(Revocation),
    /// An action report.
    Report(ActionReport),
    /// A key's commitment to its recovery key.
    Commitment(RecoveryCommitment),
    /// A rotation by a recovery key (boxed: it names three keys, each a decoded point).
    Rotation(Box<Rotation>),
    /// A newer version's kind.
    Unknown(UnknownKind),
}

impl Content {
    /// The kind of this content.
    pub fn kind(&self) -> Kind {
        match self {
            Content::Alert(_) => Kind::Alert,
            Content::Call(_) => Kind::Call,
            Content::Update(_) => Kind::Update,
            Content::Cancel(_) => Kind::Cancel,
            Content::Endorsement(_) => Kind::Endorsement,
            Content::Translation(_) => Kind::Translation,
            Content::Profile(_) => Kind::Profile,
            Content::Roster(_) => Kind::Roster,
            Content::Revocation(_) => Kind::Revocation,
            Content::Report(_) => Kind::Report,
            Content::Commitment(_) => Kind::Commitment,
            Content::Rotation(_) => Kind::Rotation,
            Content::Unknown(_) => Kind::Unknown,
        }
    }
}

/// Declares a closed enum with its wire number and its text name.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $num:literal => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The protobuf number.
            pub fn number(self) -> i32 {
                match self { $($name::$variant => $num),+ }
            }

            /// The value with this protobuf number, if known.
            pub fn from_number(n: i32) -> Option<Self> {
                match n { $($num => Some($name::$variant),)+ _ => None }
            }

            /// The value's name in text forms (CLI flags, JSON).
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value named `s` (case-insensitive), if any.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// CAP status.
    Status {
        /// A real event.
        Actual = 1 => "actual",
        /// A drill.
        Exercise = 2 => "exercise",
        /// A technical test, to be ignored by readers.
        Test = 3 => "test",
    }
}

wire_enum! {
    /// What happened.
    Category {
        /// Arrest or detention of trade unionists.
        Arrest = 1 => "arrest",
        /// Dismissal for union activity.
        Dismissal = 2 => "dismissal",
        /// A strike.
        Strike = 3 => "strike",
        /// A lockout.
        Lockout = 4 => "lockout",
        /// Violence against workers or unionists.
        Violence = 5 => "violence",
        /// Occupational safety and health.
        Safety = 6 => "safety",
        /// Legislation affecting workers' rights.
        Legislation = 7 => "legislation",
        /// Union busting.
        UnionBusting = 8 => "union-busting",
        /// None of the above (also what a later version's new category reads as).
        Other = 9 => "other",
    }
}

wire_enum! {
    /// CAP urgency.
    Urgency {
        /// Act now.
        Immediate = 1 => "immediate",
        /// Act soon.
        Expected = 2 => "expected",
        /// Act in the near future.
        Future = 3 => "future",
        /// No longer required.
        Past = 4 => "past",
        /// Unknown.
        Unknown = 5 => "unknown",
    }
}

wire_enum! {
    /// CAP severity.
    Severity {
        /// Extraordinary threat to life or liberty.
        Extreme = 1 => "extreme",
        /// Significant threat.
        Severe = 2 => "severe",
        /// Possible threat.
        Moderate = 3 => "moderate",
        /// Minimal threat.
        Minor = 4 => "minor",
        /// Unknown.
        Unknown = 5 => "unknown",
    }
}

wire_enum! {
    /// CAP certainty.
    Certainty {
        /// Determined to have occurred.
        Observed = 1 => "observed",
        /// Likely (p > ~50%).
        Likely = 2 => "likely",
        /// Possible but not likely.
        Possible = 3 => "possible",
        /// Not expected to occur.
        Unlikely = 4 => "unlikely",
        /// Unknown.
        Unknown = 5 => "unknown",
    }
}

wire_enum! {
    /// What a call asks people to do.
    ActionType {
        /// Sign a petition.
        Petition = 1 => "petition",
        /// Write a letter.
        Letter = 2 => "letter",
        /// Protest.
        Protest = 3 => "protest",
        /// Strike in solidarity.
        Strike = 4 => "strike",
        /// Boycott.
        Boycott = 5 => "boycott",
        /// Donate to a strike or legal fund.
        Donation = 6 => "donation",
        /// File observations with the ILO.
        IloObservation = 7 => "ilo-observation",
        /// Send a message of solidarity.
        SolidarityMessage = 8 => "solidarity-message",
        /// None of the above (also what a later version's new action reads as).
        Other = 9 => "other",
    }
}

wire_enum! {
    /// The ILO supervisory body a call is aimed at.
    SupervisoryBody {
        /// Committee of Experts on the Application of Conventions and Recommendations.
        Ceacr = 1 => "ceacr",
        /// Conference Committee on the Application of Standards.
        Cas = 2 => "cas",
        /// Committee on Freedom of Association.
        Cfa = 3 => "cfa",
        /// Another body.
        Other = 4 => "other",
    }
}

wire_enum! {
    /// What an action report counts, and what a call's goal aims at.
    Measure {
        /// Letters or emails sent.
        Letters = 1 => "letters",
        /// Petition signatures gathered.
        Signatures = 2 => "signatures",
        /// People who took part in a protest.
        Participants = 3 => "participants",
        /// Workers who struck.
        Strikers = 4 => "strikers",
        /// Money given, in whole units of a currency.
        Donations = 5 => "donations",
        /// Observations filed with a supervisory body (reported as filings, never counted).
        Observations = 6 => "observations",
        /// Messages of solidarity sent.
        Messages = 7 => "messages",
        /// Organisations that reported (a goal only).
        Organisations = 8 => "organisations",
    }
}

impl Measure {
    /// Whether a report may give this measure as a count: not observations (given as
    /// filings) and not organisations (what the tally counts itself).
    pub fn countable(self) -> bool {
        !matches!(self, Measure::Observations | Measure::Organisations)
    }
}

/// The text of an alert or call in one language.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Info {
    /// BCP-47 tag.
    pub language: String,
    /// One line.
    pub headline: String,
    /// What happened.
    pub description: String,
    /// What readers are asked to do (may be empty).
    pub instruction: String,
    /// An https:// link (may be empty).
    pub link: String,
}

/// A solidarity alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// CAP status.
    pub status: Status,
    /// What happened.
    pub category: Category,
    /// CAP urgency.
    pub urgency: Urgency,
    /// CAP severity.
    pub severity: Severity,
    /// CAP certainty.
    pub certainty: Certainty,
    /// One or more, each in its own language.
    pub info: Vec<Info>,
}

/// A coordinated-action call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionCall {
    /// The alert fields.
    pub base: Alert,
    /// What is asked, at least one.
    pub actions: Vec<ActionType>,
    /// Who the pressure is on.
    pub target: String,
    /// The action window's start.
    pub window_starts_at: Option<Timestamp>,
    /// The action window's end.
    pub window_ends_at: Option<Timestamp>,
    /// The deadline.
    pub deadline: Option<Timestamp>,
    /// ILO conventions cited ("C087").
    pub ilo_conventions: Vec<String>,
    /// The ILO supervisory body concerned, if any.
    pub supervisory_body: Option<SupervisoryBody>,
    /// What the call hopes to reach (may be empty).
    pub goals: Vec<Goal>,
}

impl ActionCall {
    /// It has a deadline (a calendar event).
    pub fn has_deadline(&self) -> bool {
        self.deadline.is_some()
    }

    /// It has an action window with both ends (a calendar event).
    pub fn has_window(&self) -> bool {
        self.window_starts_at.is_some() && self.window_ends_at.is_some()
    }
}

/// A call's goal: reach `target` of `measure`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// What is aimed at.
    pub measure: Measure,
    /// How many (at least 1).
    pub target: u64,
    /// ISO 4217 code for donations; empty otherwise.
    pub currency: String,
}

/// One cumulative count in an action report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// What is counted ([`Measure::countable`]).
    pub measure: Measure,
    /// How many so far: the author's whole count for the target.
    pub value: u64,
    /// ISO 4217 code for donations; empty otherwise.
    pub currency: String,
}

/// One observation filed with a supervisory body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing {
    /// Which body.
    pub body: SupervisoryBody,
    /// When it was filed.
    pub filed_at: Timestamp,
    /// The body's reference or a short description (may be empty).
    pub reference: String,
}

/// An organisation's cumulative account of what it did for one alert or call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionReport {
    /// The original alert's or call's id.
    pub target: Id,
    /// Counts, at most one per measure (per currency for donations).
    pub counts: Vec<Count>,
    /// Observations filed.
    pub filings: Vec<Filing>,
    /// The time the counts are as of; `None` means the report's created_at.
    pub as_of: Option<Timestamp>,
    /// An optional statement.
    pub statement: String,
    /// An https:// link to evidence (may be empty).
    pub evidence: String,
}

/// A newer version's content kind: the field of the body that carries it, kept as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind {
    /// Its field number in the body (10 to 99, one no kind of this version has).
    pub field: u32,
    /// The field's bytes (its length-delimited value), verbatim.
    pub value: Vec<u8>,
}

/// A new version of an alert or call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// The original's id.
    pub supersedes: Id,
    /// The new content.
    pub content: UpdateContent,
}

/// What an update carries: the same kind as the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateContent {
    /// A new version of an alert.
    Alert(Alert),
    /// A new version of a call.
    Call(ActionCall),
}

impl UpdateContent {
    /// The kind of the original this can update.
    pub fn kind(&self) -> Kind {
        match self {
            UpdateContent::Alert(_) => Kind::Alert,
            UpdateContent::Call(_) => Kind::Call,
        }
    }
}

/// A withdrawal of an alert or call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    /// The original's id.
    pub target: Id,
    /// Why (may be empty).
    pub reason: String,
}

/// Support for an alert or call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsement {
    /// The endorsed message's id.
    pub target: Id,
    /// An optional statement.
    pub statement: String,
}

/// A translation by another author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The translated message's id.
    pub target: Id,
    /// The added languages.
    pub info: Vec<Info>,
}

/// Who an author is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// The organisation's name.
    pub name: String,
    /// ISO 3166-1 alpha-2 (may be empty).
    pub country: String,
    /// https:// link (may be empty).
    pub website: String,
    /// A description (may be empty).
    pub description: String,
}

/// A member of a federation's roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterMember {
    /// The member's key.
    pub key: AuthorKey,
    /// The member's name.
    pub name: String,
    /// ISO 3166-1 alpha-2 (may be empty).
    pub country: String,
}

/// A federation's list of member authors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roster {
    /// The members.
    pub members: Vec<RosterMember>,
}

/// A self-signed key revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Messages created at or after this time are refused.
    pub revoked_from: Timestamp,
    /// The key that carries on for the author.
    pub successor: Option<AuthorKey>,
    /// Why (may be empty).
    pub reason: String,
}

/// A key's commitment to its recovery key, signed by the key itself: the digest of the recovery
/// key's public key ([`recovery_digest`](crate::message::recovery_digest)), so the recovery key
/// stays unknown until it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryCommitment {
    /// SHA-256("tocsin/v1/recovery" ‖ 0x00 ‖ recovery public key).
    pub recovery_digest: [u8; 32],
}

/// A rotation, signed by a recovery key: `compromised` is in other hands from
/// `compromised_since`, and `successor` carries on for the organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The key the signing recovery key recovers.
    pub compromised: AuthorKey,
    /// Messages by `compromised` created at or after this time are refused and withheld.
    pub compromised_since: Timestamp,
    /// The new key.
    pub successor: AuthorKey,
    /// The successor's own recovery commitment.
    pub successor_recovery_digest: [u8; 32],
    /// Why (may be empty).
    pub reason: String,
}
