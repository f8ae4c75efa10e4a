//! Who an author is, for people: names from signed profiles (self-declared) and from
//! federations' rosters (vouched for), learnt from a node's log; and what the node says of a
//! key (`GetKey`): rotated or revoked, or the new key of an organisation whose old key ended,
//! whose name it then carries.

use std::collections::HashMap;

use anyhow::Context;
use futures::StreamExt;

use crate::message::{AuthorKey, Content, Filter, Id, Kind, Message, Timestamp};
use crate::rpc::{Client, ClientEvent};
use crate::store::{KeyEnd, KeyState, NAME_HOPS};

/// Names known so far. Profiles: the latest by `created_at` wins. Rosters: the latest of each
/// federation wins.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    profiles: HashMap<AuthorKey, (Timestamp, String)>,
    /// Per federation: when its roster was made, and its members with the names it gives them.
    rosters: HashMap<AuthorKey, (Timestamp, Vec<(AuthorKey, String)>)>,
    /// What the node said of each key asked about (`None`: it could not say, an older node).
    keys: HashMap<AuthorKey, Option<KeyState>>,
}

impl Names {
    /// Reads every profile and roster the node holds (the backlog only, then stops).
    pub(crate) async fn load(client: &Client) -> anyhow::Result<Names> {
        let mut client = client.clone();
        let filter = Filter {
            kinds: vec![Kind::Profile, Kind::Roster],
            ..Filter::default()
        };
        let mut names = Names::default();
        let mut events = client
            .subscribe(&filter, 0, None)
            .await
            .context("reading profiles and rosters")?;
        while let Some(event) = events.next().await {
            match event.context("reading profiles and rosters")? {
                ClientEvent::Delivery { message, .. } => {
                    // Names are shown to people: only what verifies here counts.
                    if let Ok(m) = Message::open_untimed(message) {
                        names.learn(&m);
                    }
                }
                ClientEvent::CaughtUp(_) => break,
            }
        }
        Ok(names)
    }

    /// Takes in a profile or roster (other kinds are ignored).
    pub(crate) fn learn(&mut self, m: &Message) {
        let b = m.body();
        match &b.content {
            Content::Profile(p) => {
                let newer = self
                    .profiles
                    .get(&b.author)
                    .is_none_or(|(t, _)| *t <= b.created_at);
                if newer {
                    self.profiles
                        .insert(b.author, (b.created_at, p.name.clone()));
                }
            }
            Content::Roster(r) => {
                let newer = self
                    .rosters
                    .get(&b.author)
                    .is_none_or(|(t, _)| *t <= b.created_at);
                if newer {
                    let members = r.members.iter().map(|m| (m.key, m.name.clone())).collect();
                    self.rosters.insert(b.author, (b.created_at, members));
                }
            }
            _ => {}
        }
    }

    /// Asks the node what it knows of `key`, and of the keys it carries on for (a few back),
    /// unless already known. Best effort: a node that cannot say leaves the key without a
    /// story, and is not asked again.
    pub(crate) async fn learn_key(&mut self, client: &mut Client, key: &AuthorKey) {
        let mut at = *key;
        for _ in 0..NAME_HOPS {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.keys.entry(at) {
                slot.insert(client.key_state(&at).await.ok());
            }
            match self.predecessor(&at) {
                Some(before) => at = before,
                None => break,
            }
        }
    }

    /// Forgets what the node said of `key`: a key event about it arrived.
    pub(crate) fn forget_key(&mut self, key: &AuthorKey) {
        self.keys.remove(key);
    }

    /// Takes in what a node said of a key.
    pub(crate) fn know_key(&mut self, state: KeyState) {
        self.keys.insert(state.key, Some(state));
    }

    fn key_state(&self, key: &AuthorKey) -> Option<&KeyState> {
        self.keys.get(key).and_then(|s| s.as_ref())
    }

    /// The rotation the node holds in force for `key` (signed by the recovery key of the
    /// commitment in force), if any; `None` when the key was not asked about or the node
    /// could not say.
    pub(crate) fn rotation_in_force(&self, key: &AuthorKey) -> Option<Option<Id>> {
        let state = self.key_state(key)?;
        Some(state.end.as_ref().and_then(|e| e.rotation))
    }

    fn end(&self, key: &AuthorKey) -> Option<&KeyEnd> {
        self.key_state(key).and_then(|s| s.end.as_ref())
    }

    fn predecessor(&self, key: &AuthorKey) -> Option<AuthorKey> {
        self.key_state(key).and_then(|s| s.predecessor)
    }

    /// The author's own name, if it published a profile.
    pub(crate) fn profile_name(&self, author: &AuthorKey) -> Option<&str> {
        self.profiles.get(author).map(|(_, n)| n.as_str())
    }

    /// The key's own name (its profile's, else a roster's), if it has one.
    fn own_name(&self, author: &AuthorKey) -> Option<String> {
        if let Some(n) = self.profile_name(author) {
            return Some(n.to_string());
        }
        self.rosters.values().find_map(|(_, members)| {
            members
                .iter()
                .find(|(k, _)| k == author)
                .map(|(_, n)| n.clone())
        })
    }

    /// The name of the nearest key, a few back, that `author` carries on for and that has one.
    fn inherited_name(&self, author: &AuthorKey) -> Option<String> {
        let mut at = *author;
        for _ in 0..NAME_HOPS {
            let before = self.predecessor(&at)?;
            if let Some(n) = self.own_name(&before) {
                return Some(n);
            }
            at = before;
        }
        None
    }

    /// What to tell readers of `author`'s key beside its name, if anything: "key rotated on
    /// 14 May 2026 09:30 UTC after a compromise; successor Eastland Dockworkers' Union
    /// (7c1e…)", or "new key since 14 May 2026 09:30 UTC: the old one (fb40…) was rotated
    /// after a compromise".
    pub(crate) fn key_note(&self, author: &AuthorKey) -> Option<String> {
        let before = self.predecessor(author);
        let before = before
            .as_ref()
            .and_then(|p| self.end(p).map(|end| (p, end)));
        crate::store::key_note(self.end(author), before, |k| self.short_name(k))
    }

    /// The federations that list the author, with the name each gives it, sorted by name.
    fn listed_by(&self, author: &AuthorKey) -> Vec<(String, &str)> {
        let mut v: Vec<(String, &str)> = self
            .rosters
            .iter()
            .filter_map(|(fed, (_, members))| {
                members
                    .iter()
                    .find(|(k, _)| k == author)
                    .map(|(_, name)| (self.short_name(fed), name.as_str()))
            })
            .collect();
        v.sort();
        v
    }

    /// A name for a key: its profile's, else a roster's, else that of the key it carries on
    /// for, else the key's first hex digits.
    pub(crate) fn short_name(&self, author: &AuthorKey) -> String {
        self.own_name(author)
            .or_else(|| self.inherited_name(author))
            .unwrap_or_else(|| author.short())
    }

    /// "Eastland Dockworkers' Union (3f2a9c01ab12) · on the roster of Global Dockers"
    /// The key prefix is always shown: a profile is self-declared, and anyone can claim a name;
    /// a roster is a federation vouching for the key.
    pub(crate) fn describe(&self, author: &AuthorKey) -> String {
        let listed = self.listed_by(author);
        let mut s = match self.profile_name(author) {
            Some(name) => format!("{name} ({})", author.short()),
            None => match (listed.first(), self.inherited_name(author)) {
                (Some((_, name)), _) => format!("{name} ({})", author.short()),
                (None, Some(name)) => format!("{name} ({})", author.short()),
                (None, None) => format!("{} (no profile)", author.short()),
            },
        };
        if !listed.is_empty() {
            let feds: Vec<&str> = listed.iter().map(|(f, _)| f.as_str()).collect();
            s.push_str(" · on the roster of ");
            s.push_str(&feds.join(", "));
        }
        if let Some(note) = self.key_note(author) {
            s.push_str(" · ");
            s.push_str(&note);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Body, Profile, Roster, RosterMember, SecretKey};
    use std::time::Duration;

    fn signed(key: &SecretKey, content: Content, at: u64) -> Message {
        let now = Timestamp(at);
        let body = Body {
            author: key.public(),
            created_at: now,
            expires_at: Some(now.plus(Duration::from_secs(86400))),
            topics: vec![],
            countries: vec![],
            effective_at: None,
            content,
        };
        Message::sign(body, key).unwrap()
    }

    fn profile(name: &str) -> Content {
        Content::Profile(Profile {
            name: name.into(),
            ..Profile::default()
        })
    }

    #[test]
    fn latest_profile_wins_and_rosters_vouch() {
        let union = SecretKey::from_seed(&[1; 32]);
        let fed = SecretKey::from_seed(&[2; 32]);
        let stranger = SecretKey::from_seed(&[3; 32]);
        let mut names = Names::default();
        assert_eq!(
            names.describe(&union.public()),
            format!("{} (no profile)", union.public().short())
        );
        names.learn(&signed(&union, profile("Eastland Dockers"), 2_000));
        names.learn(&signed(&union, profile("Old name"), 1_000));
        assert_eq!(names.short_name(&union.public()), "Eastland Dockers");
        names.learn(&signed(&fed, profile("Global Dockers' Federation"), 1_000));
        let roster = Content::Roster(Roster {
            members: vec![
                RosterMember {
                    key: union.public(),
                    name: "Eastland Dockworkers' Union".into(),
                    country: "AZ".into(),
                },
                RosterMember {
                    key: stranger.public(),
                    name: "Northport Seafarers".into(),
                    country: String::new(),
                },
            ],
        });
        names.learn(&signed(&fed, roster, 1_000));
        assert_eq!(
            names.describe(&union.public()),
            format!(
                "Eastland Dockers ({}) · on the roster of Global Dockers' Federation",
                union.public().short()
            )
        );
        // Without a profile, the roster's name stands in.
        assert_eq!(names.short_name(&stranger.public()), "Northport Seafarers");
    }

    fn ended(key: &SecretKey, from: u64, successor: &SecretKey, rotated: bool) -> KeyState {
        KeyState {
            key: key.public(),
            commitment: None,
            conflicting: vec![],
            end: Some(KeyEnd {
                from: Timestamp(from),
                by: crate::message::Id([7; 32]),
                by_kind: if rotated {
                    Kind::Rotation
                } else {
                    Kind::Revocation
                },
                rotation: rotated.then_some(crate::message::Id([7; 32])),
                compromised_since: rotated.then_some(Timestamp(from)),
                successor: Some(successor.public()),
                reason: "phone taken at a checkpoint".into(),
            }),
            predecessor: None,
        }
    }

    fn carries_on(key: &SecretKey, predecessor: &SecretKey) -> KeyState {
        KeyState {
            key: key.public(),
            commitment: None,
            conflicting: vec![],
            end: None,
            predecessor: Some(predecessor.public()),
        }
    }

    /// 14 May 2026 09:30 UTC.
    const SEIZED: u64 = 1_778_751_000_000;

    #[test]
    fn a_successor_carries_its_predecessors_name_and_both_say_so() {
        let old = SecretKey::from_seed(&[1; 32]);
        let new = SecretKey::from_seed(&[2; 32]);
        let mut names = Names::default();
        names.learn(&signed(&old, profile("Eastland Dockworkers' Union"), 1_000));
        names.know_key(ended(&old, SEIZED, &new, true));
        // Not yet told that the new key carries on: it has no name.
        assert_eq!(names.short_name(&new.public()), new.public().short());
        names.know_key(carries_on(&new, &old));
        assert_eq!(
            names.short_name(&new.public()),
            "Eastland Dockworkers' Union"
        );
        assert_eq!(
            names.describe(&new.public()),
            format!(
                "Eastland Dockworkers' Union ({}) · new key since 14 May 2026 09:30 UTC: the old \
                 one ({}) was rotated after a compromise",
                new.public().short(),
                old.public().short()
            )
        );
        assert_eq!(
            names.describe(&old.public()),
            format!(
                "Eastland Dockworkers' Union ({}) · key rotated on 14 May 2026 09:30 UTC after a \
                 compromise; successor Eastland Dockworkers' Union ({})",
                old.public().short(),
                new.public().short()
            )
        );
        // A profile of its own wins over the inherited name.
        names.learn(&signed(&new, profile("Eastland Dockers (new key)"), 2_000));
        assert_eq!(
            names.short_name(&new.public()),
            "Eastland Dockers (new key)"
        );
    }

    #[test]
    fn names_pass_down_a_few_keys_and_a_revocation_says_revoked() {
        let keys: Vec<SecretKey> = (1..=3u8).map(|n| SecretKey::from_seed(&[n; 32])).collect();
        let mut names = Names::default();
        names.learn(&signed(&keys[0], profile("Northport Nurses"), 1_000));
        names.know_key(ended(&keys[0], SEIZED, &keys[1], false));
        let mut middle = ended(&keys[1], SEIZED + 60_000, &keys[2], true);
        middle.predecessor = Some(keys[0].public());
        names.know_key(middle);
        names.know_key(carries_on(&keys[2], &keys[1]));
        assert_eq!(names.short_name(&keys[2].public()), "Northport Nurses");
        assert_eq!(
            names.key_note(&keys[1].public()).as_deref(),
            Some(
                format!(
                    "key rotated on 14 May 2026 09:31 UTC after a compromise; successor \
                     Northport Nurses ({})",
                    keys[2].public().short()
                )
                .as_str()
            )
        );
        assert!(
            names
                .key_note(&keys[0].public())
                .is_some_and(|n| n.starts_with("key revoked from 14 May 2026 09:30 UTC")),
        );
    }
}
