//! The trust policy: which authors a node admits. Fail closed.
//!
//! `open` admits any author with a valid signature; `roster` admits only the allow list, the
//! trusted federations themselves, and the members on each trusted federation's latest
//! roster, and the keys that carry on for any of those (named by a rotation in force or a
//! revocation). The deny list is refused under either policy. A revocation is always admitted:
//! it can only take power away from the key that signed it. A rotation is admitted where the
//! key it recovers is.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::config::{TrustPolicy, TrustSection};
use crate::message::{AuthorKey, Content, Id, Message, Reason, Rejection};
use crate::store::{Store, StoreError};

/// The policy with its lists parsed, and a cache of roster memberships.
#[derive(Debug)]
pub(super) struct Trust {
    policy: TrustPolicy,
    allow: HashSet<AuthorKey>,
    deny: HashSet<AuthorKey>,
    federations: Vec<AuthorKey>,
    /// Per federation: the roster message the set was read from, and its members.
    rosters: Mutex<HashMap<AuthorKey, (Id, HashSet<AuthorKey>)>>,
}

/// Parses a list of hex keys, naming the config key on error.
fn keys(list: &[String], key: &str) -> Result<Vec<AuthorKey>, String> {
    list.iter()
        .map(|k| {
            k.parse::<AuthorKey>()
                .map_err(|e| format!("{key}: {k:?}: {}", e.detail))
        })
        .collect()
}

impl Trust {
    pub(super) fn new(section: &TrustSection) -> Result<Trust, String> {
        Ok(Trust {
            policy: section.policy,
            allow: keys(&section.allow, "trust.allow")?.into_iter().collect(),
            deny: keys(&section.deny, "trust.deny")?.into_iter().collect(),
            federations: keys(&section.federations, "trust.federations")?,
            rosters: Mutex::new(HashMap::new()),
        })
    }

    /// Admits or refuses a verified message's author. A rotation is judged by the key it
    /// recovers (its signer is a recovery key no list names): admitted where that key would be.
    pub(super) fn admit(&self, msg: &Message, store: &Store) -> Result<(), AdmitError> {
        let author = match &msg.body().content {
            Content::Revocation(_) => return Ok(()),
            Content::Rotation(r) => &r.compromised,
            _ => msg.author(),
        };
        if self.deny.contains(author) {
            return Err(Rejection::new(
                Reason::DeniedAuthor,
                "this node does not relay this author",
            )
            .into());
        }
        match self.policy {
            TrustPolicy::Open => Ok(()),
            TrustPolicy::Roster => {
                if self.vouches_or_succeeds(author, store)? {
                    Ok(())
                } else {
                    Err(Rejection::new(
                        Reason::NotAdmitted,
                        "this node admits only authors on its allow list or on a trusted federation's roster",
                    )
                    .into())
                }
            }
        }
    }

    /// Whether the operator vouches for the author, or for a key it carries on for (a rotation
    /// in force or a revocation names it successor): a seized key's successor keeps its
    /// organisation's standing without waiting for a new roster. Followed a few keys back.
    fn vouches_or_succeeds(&self, author: &AuthorKey, store: &Store) -> Result<bool, StoreError> {
        let mut key = *author;
        for _ in 0..crate::store::SUCCESSOR_HOPS {
            if self.vouches(&key, store)? {
                return Ok(true);
            }
            match store.predecessor(&key)? {
                Some(p) if !self.deny.contains(&p) => key = p,
                _ => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Whether the operator vouches for the author: on the allow list, a trusted federation,
    /// or a member on one's latest roster.
    pub(super) fn vouches(&self, author: &AuthorKey, store: &Store) -> Result<bool, StoreError> {
        Ok(self.allow.contains(author)
            || self.federations.contains(author)
            || self.on_a_roster(author, store)?)
    }

    /// Every author the operator vouches for (see [`Trust::vouches`]), with each trusted
    /// federation's roster read once.
    pub(super) fn vouched(&self, store: &Store) -> Result<HashSet<AuthorKey>, StoreError> {
        let mut out: HashSet<AuthorKey> = self.allow.iter().copied().collect();
        out.extend(self.federations.iter().copied());
        for fed in &self.federations {
            if let Some(roster) = store.roster(fed)?
                && let Content::Roster(r) = &roster.body().content
            {
                out.extend(r.members.iter().map(|m| m.key));
            }
        }
        Ok(out)
    }

    fn on_a_roster(&self, author: &AuthorKey, store: &Store) -> Result<bool, StoreError> {
        let mut cache = self.rosters.lock().unwrap_or_else(|e| e.into_inner());
        for fed in &self.federations {
            let Some(roster) = store.roster(fed)? else {
                cache.remove(fed);
                continue;
            };
            let fresh = cache.get(fed).is_some_and(|(id, _)| *id == roster.id());
            if !fresh {
                let members = match &roster.body().content {
                    Content::Roster(r) => r.members.iter().map(|m| m.key).collect(),
                    _ => HashSet::new(),
                };
                cache.insert(*fed, (roster.id(), members));
            }
            if cache.get(fed).is_some_and(|(_, m)| m.contains(author)) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Why admission failed.
#[derive(Debug)]
pub(super) enum AdmitError {
    /// The author is refused.
    Refused(Rejection),
    /// The store could not be read.
    Store(StoreError),
}

impl From<Rejection> for AdmitError {
    fn from(r: Rejection) -> Self {
        AdmitError::Refused(r)
    }
}

impl From<StoreError> for AdmitError {
    fn from(e: StoreError) -> Self {
        AdmitError::Store(e)
    }
}
