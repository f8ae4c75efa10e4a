//! What a node knows of a key, for readers: its recovery commitment, where it ends (revoked or
//! rotated, from when, by which message), who carries on, and which key it carries on for.
//! Read from the rows the key rules keep (`rules/keys.rs`), never computed anew.

use super::codec::{Revoked, Tree};
use super::rows::Rows;
use super::{Inner, Store, StoreError};
use crate::message::{AuthorKey, Content, Id, Kind, Timestamp, recovery_digest};

/// How many keys back a key without a name of its own is named from (a successor's successor,
/// …), on the web page and in the CLI alike.
pub const NAME_HOPS: usize = 4;

/// How many keys [`Store::ended_keys`] lists at most.
pub(super) const ENDED_KEYS_MAX: usize = 1000;

/// What this node knows of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    /// The key.
    pub key: AuthorKey,
    /// The recovery commitment in force (the earliest held), if any.
    pub commitment: Option<KeyCommitment>,
    /// The key's further commitments to a different recovery key: signed with the key after the
    /// one in force, so someone else held the key when they were made.
    pub conflicting: Vec<KeyCommitment>,
    /// Where the key ends, if it does.
    pub end: Option<KeyEnd>,
    /// The key this one carries on for (named by a rotation in force or a revocation), if any.
    pub predecessor: Option<AuthorKey>,
}

/// One recovery commitment of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCommitment {
    /// The commitment message, or the rotation that committed the key as a successor.
    pub id: Id,
    /// When it was made.
    pub created_at: Timestamp,
    /// The recovery key's digest.
    pub recovery_digest: [u8; 32],
    /// Made by a rotation, for its successor.
    pub by_rotation: bool,
}

/// Where a key ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEnd {
    /// Its messages created at or after this time are refused and withheld.
    pub from: Timestamp,
    /// The revocation or rotation that set `from`.
    pub by: Id,
    /// The kind of `by` (revocation or rotation).
    pub by_kind: Kind,
    /// The rotation in force (signed by the recovery key of the commitment in force), if any.
    pub rotation: Option<Id>,
    /// When the rotation in force says the key was compromised (as it says, before any bound).
    pub compromised_since: Option<Timestamp>,
    /// The key that carries on, if one does.
    pub successor: Option<AuthorKey>,
    /// The rotation's reason, or the revocation's (may be empty).
    pub reason: String,
}

impl KeyEnd {
    /// Words for readers: "rotated by its recovery key on 14 May 2026 after a compromise (…)".
    pub fn words(&self) -> String {
        let what = if self.rotation.is_some() {
            "rotated by its recovery key after a compromise"
        } else {
            "revoked"
        };
        let mut s = format!("key {what}: what it signed from {} is withheld", self.from);
        if let Some(succ) = &self.successor {
            s.push_str(&format!("; successor key {}", succ.short()));
        }
        if !self.reason.is_empty() {
            s.push_str(&format!(" ({})", self.reason));
        }
        s
    }
}

impl Store {
    /// What this node knows of `key`.
    pub fn key_state(&self, key: &AuthorKey) -> Result<KeyState, StoreError> {
        let inner = self.inner()?;
        let rows = inner.rows();
        let end = rows.revocation(key.as_bytes())?;
        key_state_with(&inner, &rows, key, end)
    }

    /// The key `key` carries on for, if any: [`KeyState::predecessor`] alone, two small reads
    /// (the trust policy asks it of every author it does not vouch for).
    pub fn predecessor(&self, key: &AuthorKey) -> Result<Option<AuthorKey>, StoreError> {
        predecessor(&self.inner()?.rows(), key)
    }

    /// Whether `key` has a recovery commitment here: [`KeyState::commitment`] alone.
    pub fn has_commitment(&self, key: &AuthorKey) -> Result<bool, StoreError> {
        let inner = self.inner()?;
        let first = inner
            .trees
            .get(Tree::Commitments)
            .scan_prefix(key.as_bytes())
            .next()
            .transpose()
            .map_err(inner.sled_e())?;
        Ok(first.is_some())
    }

    /// Whether `key` ends here: [`KeyState::end`]'s presence alone.
    pub fn key_ends(&self, key: &AuthorKey) -> Result<bool, StoreError> {
        Ok(self.inner()?.rows().revocation(key.as_bytes())?.is_some())
    }

    /// Whether `key` has a commitment to a recovery key other than the one in force:
    /// [`KeyState::conflicting`]'s emptiness alone.
    pub fn has_conflicting_commitment(&self, key: &AuthorKey) -> Result<bool, StoreError> {
        let commitments = self.inner()?.rows().commitments(key.as_bytes())?;
        Ok(commitments
            .split_first()
            .is_some_and(|(first, rest)| rest.iter().any(|c| c.digest != first.digest)))
    }

    /// The keys that end here (revoked or rotated), up to [`ENDED_KEYS_MAX`], each with what
    /// is known of it.
    pub fn ended_keys(&self) -> Result<Vec<KeyState>, StoreError> {
        let inner = self.inner()?;
        let rows = inner.rows();
        let mut keys = Vec::new();
        for row in inner.trees.get(Tree::Revoked).iter().take(ENDED_KEYS_MAX) {
            let (k, v) = row.map_err(inner.sled_e())?;
            if let Ok(key) = AuthorKey::from_slice(&k) {
                let end = Revoked::decode(&v)
                    .ok_or_else(|| rows.corrupt("a revocation row is unreadable"))?;
                keys.push(key_state_with(&inner, &rows, &key, Some(end))?);
            }
        }
        Ok(keys)
    }
}

/// How many keys end here, and how many have a recovery commitment: `/metrics`' figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyCounts {
    /// Keys ended with a rotation in force (signed by the recovery key of their commitment).
    pub rotated: u64,
    /// Keys ended without one: by a revocation (or by a rotation whose recovery key answers
    /// only to a conflicting commitment).
    pub revoked: u64,
    /// Keys with a recovery commitment held here (their own, or one a rotation made for them
    /// as a successor).
    pub committed: u64,
}

impl Store {
    /// Counts the keys that end here and the keys with a commitment, from their trees when
    /// asked: one row per ended key and one per commitment, so no counter has to be kept (or
    /// checked by `node check`) for them.
    pub fn key_counts(&self) -> Result<KeyCounts, StoreError> {
        let inner = self.inner()?;
        let mut counts = KeyCounts::default();
        for row in inner.trees.get(Tree::Revoked).iter() {
            let (_, v) = row.map_err(inner.sled_e())?;
            match Revoked::decode(&v) {
                Some(r) if r.rotation.is_some() => counts.rotated += 1,
                _ => counts.revoked += 1,
            }
        }
        // Rows are keyed by the key first: count where the key changes.
        let mut last: Option<[u8; 32]> = None;
        for row in inner.trees.get(Tree::Commitments).iter().keys() {
            let k = row.map_err(inner.sled_e())?;
            let key: Option<[u8; 32]> = k.get(..32).and_then(|s| s.try_into().ok());
            if key.is_some() && key != last {
                counts.committed += 1;
                last = key;
            }
        }
        Ok(counts)
    }
}

/// [`Store::key_state`] with the key's end row read already.
fn key_state_with(
    inner: &Inner,
    rows: &Rows<'_>,
    key: &AuthorKey,
    end: Option<Revoked>,
) -> Result<KeyState, StoreError> {
    let k = key.as_bytes();
    let mut commitments = rows.commitments(k)?.into_iter().map(|c| KeyCommitment {
        id: c.id,
        created_at: Timestamp(c.created_at),
        recovery_digest: c.digest,
        by_rotation: c.by_rotation,
    });
    let commitment = commitments.next();
    let conflicting = commitments
        .filter(|c| Some(c.recovery_digest) != commitment.map(|f| f.recovery_digest))
        .collect();
    let end = match end {
        None => None,
        Some(r) => Some(inner.key_end(&r)?),
    };
    Ok(KeyState {
        key: *key,
        commitment,
        conflicting,
        end,
        predecessor: predecessor(rows, key)?,
    })
}

/// The key `key` carries on for: one whose end still names it (a link whose rotation was
/// overtaken names nothing).
fn predecessor(rows: &Rows<'_>, key: &AuthorKey) -> Result<Option<AuthorKey>, StoreError> {
    let k = key.as_bytes();
    for p in rows.predecessors(k)? {
        if rows
            .revocation(&p)?
            .is_some_and(|r| r.successor.as_ref() == Some(k))
        {
            return Ok(AuthorKey::from_slice(&p).ok());
        }
    }
    Ok(None)
}

impl Inner {
    /// Where a key ends, from its row, with the reason of the message that says so.
    pub(super) fn key_end(&self, r: &Revoked) -> Result<KeyEnd, StoreError> {
        let by = self.message(&r.id)?;
        let by_kind = by.as_ref().map_or(Kind::Revocation, |m| m.kind());
        let rotation = match r.rotation {
            Some(id) => self.message(&id)?,
            None => None,
        };
        let reason = match (&rotation, &by) {
            (Some(m), _) | (None, Some(m)) => match &m.body().content {
                Content::Rotation(rot) => rot.reason.clone(),
                Content::Revocation(rev) => rev.reason.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        let compromised_since = rotation.as_ref().and_then(|m| match &m.body().content {
            Content::Rotation(rot) => Some(rot.compromised_since),
            _ => None,
        });
        Ok(KeyEnd {
            from: Timestamp(r.from),
            by: r.id,
            by_kind,
            rotation: r.rotation,
            compromised_since,
            successor: r.successor.and_then(|s| AuthorKey::from_slice(&s).ok()),
            reason,
        })
    }
}

/// Whether `recovery` is the recovery key `commitment` commits to.
pub fn answers_to(recovery: &AuthorKey, commitment: &KeyCommitment) -> bool {
    recovery_digest(recovery) == commitment.recovery_digest
}

/// A time as readers are told it beside a name: "14 May 2026 09:30 UTC".
pub fn day(t: Timestamp) -> String {
    let millis = i64::try_from(t.0).unwrap_or(i64::MAX);
    match jiff::Timestamp::from_millisecond(millis) {
        Ok(ts) => ts.strftime("%-d %B %Y %H:%M UTC").to_string(),
        // Beyond jiff's range (year 9999): the wire's own form.
        Err(_) => t.to_rfc3339(),
    }
}

/// What readers are told beside a key's name, in plain words (escape it for HTML): that it was
/// rotated or revoked, from when and who carries on ("key rotated on 14 May 2026 09:30 UTC
/// after a compromise; successor Eastland Dockworkers' Union (7c1e…)"); or that it is the new
/// key of an organisation whose old one ended. `end` is where the key ends, `before` the key it
/// carries on for with where that one ends; `name` names a key. The CLI and the web page say
/// it alike.
pub fn key_note(
    end: Option<&KeyEnd>,
    before: Option<(&AuthorKey, &KeyEnd)>,
    name: impl Fn(&AuthorKey) -> String,
) -> Option<String> {
    if let Some(end) = end {
        let mut s = if end.rotation.is_some() {
            format!("key rotated on {} after a compromise", day(end.from))
        } else {
            format!("key revoked from {}", day(end.from))
        };
        if let Some(successor) = &end.successor {
            s.push_str(&format!(
                "; successor {} ({})",
                name(successor),
                successor.short()
            ));
        }
        return Some(s);
    }
    let (before, end) = before?;
    Some(format!(
        "new key since {}: the old one ({}) was {}",
        day(end.from),
        before.short(),
        if end.rotation.is_some() {
            "rotated after a compromise"
        } else {
            "revoked"
        }
    ))
}
