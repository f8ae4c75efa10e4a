//! The signed message: domain model, wire bytes, id, signing and verification, validation.
//!
//! Architecture Invariant: nothing in this module does I/O or reads the clock. Time comes in
//! as a [`Timestamp`] argument, so every rule here is a plain function of its inputs.

mod convert;
mod country;
mod crypto;
mod filter;
mod id;
mod lang;
mod model;
mod rejection;
mod signed;
pub mod tally;
mod time;
mod validate;

#[cfg(test)]
mod tests;

pub use convert::KIND_FIELDS;
pub use crypto::{AuthorKey, RECOVERY_DOMAIN, SIGNING_DOMAIN, SecretKey, recovery_digest};
pub use filter::Filter;
pub use id::Id;
pub use lang::{is_well_formed as is_language_tag, language_matches, normalize_language};
pub use model::{
    ActionCall, ActionReport, ActionType, Alert, Body, Cancel, Category, Certainty, Content, Count,
    Endorsement, Filing, Goal, Info, Kind, Measure, Profile, RecoveryCommitment, Revocation,
    Roster, RosterMember, Rotation, Severity, Status, SupervisoryBody, Translation, UnknownKind,
    Update, UpdateContent, Urgency,
};
pub use rejection::{Outlook, Reason, Rejection};
pub use signed::{Checked, Message, SignedMessage};
pub use tally::Tally;
pub use time::Timestamp;
pub use validate::{filter_values, limits, max_lifetime, valid_from, validate};
