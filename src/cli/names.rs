//! Who an author is, for people: names from signed profiles (self-declared) and from
//! federations' rosters (vouched for), learnt from a node's log.

use std::collections::HashMap;

use anyhow::Context;
use futures::StreamExt;

use crate::message::{AuthorKey, Content, Filter, Kind, Message, Timestamp};
use crate::rpc::{Client, ClientEvent};

/// Names known so far. Profiles: the latest by `created_at` wins. Rosters: the latest of each
/// federation wins.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names {
    profiles: HashMap<AuthorKey, (Timestamp, String)>,
    /// Per federation: when its roster was made, and its members with the names it gives them.
    rosters: HashMap<AuthorKey, (Timestamp, Vec<(AuthorKey, String)>)>,
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

    /// The author's own name, if it published a profile.
    pub(crate) fn profile_name(&self, author: &AuthorKey) -> Option<&str> {
        self.profiles.get(author).map(|(_, n)| n.as_str())
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

    /// A name for a key: its profile's, else a roster's, else the key's first hex digits.
    pub(crate) fn short_name(&self, author: &AuthorKey) -> String {
        if let Some(n) = self.profile_name(author) {
            return n.to_string();
        }
        let mut from_rosters = self.rosters.values().filter_map(|(_, members)| {
            members
                .iter()
                .find(|(k, _)| k == author)
                .map(|(_, n)| n.clone())
        });
        from_rosters.next().unwrap_or_else(|| author.short())
    }

    /// "Eastland Dockworkers' Union (3f2a9c01ab12) · on the roster of Global Dockers"
    /// The key prefix is always shown: a profile is self-declared, and anyone can claim a name;
    /// a roster is a federation vouching for the key.
    pub(crate) fn describe(&self, author: &AuthorKey) -> String {
        let listed = self.listed_by(author);
        let mut s = match self.profile_name(author) {
            Some(name) => format!("{name} ({})", author.short()),
            None => match listed.first() {
                Some((_, name)) => format!("{name} ({})", author.short()),
                None => format!("{} (no profile)", author.short()),
            },
        };
        if !listed.is_empty() {
            let feds: Vec<&str> = listed.iter().map(|(f, _)| f.as_str()).collect();
            s.push_str(" · on the roster of ");
            s.push_str(&feds.join(", "));
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
}
