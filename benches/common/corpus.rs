//! The scale benchmark's corpus: a deterministic stream of a long-lived node's messages
//! (alerts, calls, updates, translations, endorsements, reports) from a few hundred fictional
//! unions, spread over the countries, topics and languages a busy international node sees.
//!
//! Message `i` of a corpus is a pure function of `i`, the corpus size and its start time, so a
//! store built from it is the same store whoever builds it (the marker file names
//! [`GENERATOR`]; change it whenever the output of this file changes).

use std::collections::HashMap;
use std::time::Duration;

use tocsin::message::*;

/// The generator's version, written in a built store's marker: a store made by another version
/// is rebuilt.
pub const GENERATOR: &str = "scale-corpus-v1";

/// The default lifetime of an alert or call (the page shows what is current).
pub const LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

const DAY: Duration = Duration::from_secs(24 * 3600);

/// Fictional unions publishing in turn, each with a key derived from its number.
pub const UNIONS: u64 = 300;

/// Sixty countries (ISO 3166-1 alpha-2); `AZ` is the filtered page's.
pub const COUNTRIES: [&str; 60] = [
    "AZ", "FR", "ES", "DE", "BR", "AR", "MX", "CO", "CL", "PE", "ZA", "NG", "KE", "GH", "EG", "MA",
    "TN", "TR", "IR", "IQ", "IN", "PK", "BD", "LK", "NP", "ID", "PH", "MY", "TH", "VN", "KH", "MM",
    "CN", "KR", "JP", "AU", "NZ", "US", "CA", "GB", "IE", "IT", "PT", "GR", "PL", "UA", "RU", "BY",
    "KZ", "UZ", "GE", "AM", "SA", "JO", "LB", "IL", "ET", "UG", "TZ", "ZW",
];

/// Twenty topics.
pub const TOPICS: [&str; 20] = [
    "union-rights",
    "ports",
    "garment",
    "mining",
    "health-care",
    "teachers",
    "transport",
    "agriculture",
    "domestic-work",
    "platform-work",
    "construction",
    "energy",
    "public-sector",
    "textiles",
    "fisheries",
    "media",
    "retail",
    "logistics",
    "migrant-workers",
    "safety",
];

/// Eight languages; `fr` is the filtered page's.
pub const LANGS: [&str; 8] = ["en", "fr", "es", "de", "pt", "ar", "sw", "id"];

/// The key of union `u`.
pub fn union_key(u: u64) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&u.to_le_bytes());
    seed[8..23].copy_from_slice(b"scale-corpus-v1");
    SecretKey::from_seed(&seed)
}

/// A well-mixed number from `i` (splitmix64), for choices that look random but repeat.
pub fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What message `i` of a corpus is: out of every 20, 13 alerts, 3 calls, then one each of an
/// update, a translation, an endorsement and an action report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A new alert.
    Alert,
    /// A new call.
    Call,
    /// A new version of an earlier alert or call, by its author.
    Update,
    /// Another union's translation of an earlier alert or call.
    Translation,
    /// Another union's endorsement.
    Endorsement,
    /// Another union's action report on an earlier call.
    Report,
}

/// The role of message `i`.
pub fn role(i: u64) -> Role {
    match i % 20 {
        0..=12 => Role::Alert,
        13..=15 => Role::Call,
        16 => Role::Update,
        17 => Role::Translation,
        18 => Role::Endorsement,
        _ => Role::Report,
    }
}

/// How far back (in messages) a reference reaches at most.
const REACH: u64 = 2000;

/// A corpus of `size` messages created from `start`, `spread` apart from first to last.
#[derive(Debug, Clone, Copy)]
pub struct Corpus {
    /// How many messages.
    pub size: u64,
    /// `created_at` of the first.
    pub start: Timestamp,
    /// From the first `created_at` to the last.
    pub spread: Duration,
}

impl Corpus {
    /// A corpus of `size` messages ending at `end`: spread over 20 days (so every message is
    /// current for 10 days after the build), or at 50,000 a day when that is longer (10M:
    /// 200 days, most of them expired).
    pub fn ending_at(size: u64, end: Timestamp) -> Corpus {
        let spread = DAY * (size / 50_000).max(20) as u32;
        Corpus {
            size,
            start: end.minus(spread),
            spread,
        }
    }

    /// When message `i` was made.
    pub fn created_at(&self, i: u64) -> Timestamp {
        let ms = self.spread.as_millis() * i as u128 / self.size.max(1) as u128;
        self.start.plus(Duration::from_millis(ms as u64))
    }

    /// The index of the original (alert or call; a call for a report) that reference `i`
    /// names: one of the last [`REACH`] messages.
    pub fn target_of(&self, i: u64) -> u64 {
        let span = (i - 15).min(REACH);
        let mut t = i - 1 - mix(i ^ 0x7a7a) % span;
        let wanted = |t: u64| match role(i) {
            Role::Report => role(t) == Role::Call,
            _ => matches!(role(t), Role::Alert | Role::Call),
        };
        while !wanted(t) {
            t -= 1;
        }
        t
    }

    /// The union that wrote message `i`.
    pub fn author_of(&self, i: u64) -> u64 {
        match role(i) {
            Role::Alert | Role::Call => mix(i) % UNIONS,
            Role::Update => self.author_of(self.target_of(i)),
            Role::Translation | Role::Endorsement | Role::Report => {
                (self.author_of(self.target_of(i)) + 1 + mix(i) % 50) % UNIONS
            }
        }
    }

    /// Message `i`, signed. `ids` must hold the ids of the originals it may name (the last
    /// [`REACH`] + 20 messages before it).
    pub fn message(&self, i: u64, ids: &HashMap<u64, Id>) -> SignedMessage {
        let key = union_key(self.author_of(i));
        let created_at = self.created_at(i);
        let target = || {
            let t = self.target_of(i);
            *ids.get(&t)
                .unwrap_or_else(|| panic!("original {t} of {i} not generated"))
        };
        let (topics, countries) = match role(i) {
            Role::Alert | Role::Call | Role::Update => {
                let o = if role(i) == Role::Update {
                    self.target_of(i)
                } else {
                    i
                };
                (topics_of(o), countries_of(o))
            }
            _ => (vec![], vec![]),
        };
        let content = match role(i) {
            Role::Alert => Content::Alert(alert(i, &langs_of(i), "")),
            Role::Call => Content::Call(call(i, &langs_of(i), "")),
            Role::Update => {
                let t = self.target_of(i);
                let content = match role(t) {
                    Role::Call => UpdateContent::Call(call(t, &langs_of(t), " (updated)")),
                    _ => UpdateContent::Alert(alert(t, &langs_of(t), " (updated)")),
                };
                Content::Update(Update {
                    supersedes: target(),
                    content,
                })
            }
            Role::Translation => {
                let t = self.target_of(i);
                let have = langs_of(t);
                let lang = LANGS
                    .iter()
                    .cycle()
                    .skip((mix(i) % 8) as usize)
                    .take(8)
                    .find(|l| !have.contains(l))
                    .copied()
                    .unwrap_or("sw");
                Content::Translation(Translation {
                    target: target(),
                    info: vec![info(t, lang, 1, " (translation)")],
                })
            }
            Role::Endorsement => Content::Endorsement(Endorsement {
                target: target(),
                statement: format!(
                    "Union {} stands with the workers named here and will raise this at its \
                     next congress (endorsement {i}).",
                    self.author_of(i)
                ),
            }),
            Role::Report => Content::Report(ActionReport {
                target: target(),
                counts: vec![Count {
                    measure: Measure::Letters,
                    value: 1 + mix(i) % 5000,
                    currency: String::new(),
                }],
                filings: vec![],
                as_of: None,
                statement: format!("Letters sent by our members so far (report {i})."),
                evidence: String::new(),
            }),
        };
        let body = Body {
            author: key.public(),
            created_at,
            expires_at: Some(created_at.plus(LIFETIME)),
            topics,
            countries,
            effective_at: None,
            content,
        };
        Message::sign(body, &key)
            .unwrap_or_else(|e| panic!("corpus message {i} is invalid: {e:?}"))
            .signed()
            .clone()
    }

    /// Messages `from..to`, signed on two threads. `ids` holds the originals' ids before
    /// `from` and is given those of this range; ids older than any later reference may name are
    /// forgotten.
    pub fn chunk(&self, from: u64, to: u64, ids: &mut HashMap<u64, Id>) -> Vec<SignedMessage> {
        let sign_where = |pick: &(dyn Fn(u64) -> bool + Sync), ids: &HashMap<u64, Id>| {
            let mine: Vec<u64> = (from..to).filter(|&i| pick(i)).collect();
            let (a, b) = mine.split_at(mine.len() / 2);
            std::thread::scope(|s| {
                let first = s.spawn(|| {
                    a.iter()
                        .map(|&i| (i, self.message(i, ids)))
                        .collect::<Vec<_>>()
                });
                let mut out: Vec<(u64, SignedMessage)> =
                    b.iter().map(|&i| (i, self.message(i, ids))).collect();
                let mut all = first.join().expect("a signing thread panicked");
                all.append(&mut out);
                all
            })
        };
        let is_original = |i: u64| matches!(role(i), Role::Alert | Role::Call);
        let originals = sign_where(&is_original, ids);
        for (i, m) in &originals {
            ids.insert(*i, m.id());
        }
        let references = sign_where(&|i| !is_original(i), ids);
        ids.retain(|&i, _| i + REACH + 40 >= to);
        let mut all = originals;
        all.extend(references);
        all.sort_by_key(|(i, _)| *i);
        all.into_iter().map(|(_, m)| m).collect()
    }
}

/// The languages of original `i`: one, or two for a third of them.
pub fn langs_of(i: u64) -> Vec<&'static str> {
    let m = mix(i);
    let first = (m >> 8) as usize % LANGS.len();
    if (m >> 16).is_multiple_of(3) {
        let second = (first + 1 + (m >> 20) as usize % (LANGS.len() - 1)) % LANGS.len();
        vec![LANGS[first], LANGS[second]]
    } else {
        vec![LANGS[first]]
    }
}

fn topics_of(i: u64) -> Vec<String> {
    let m = mix(i ^ 0x1234);
    let a = (m % 20) as usize;
    let b = ((m >> 8) % 20) as usize;
    if a == b || (m >> 16).is_multiple_of(2) {
        vec![TOPICS[a].to_string()]
    } else {
        vec![TOPICS[a].to_string(), TOPICS[b].to_string()]
    }
}

fn countries_of(i: u64) -> Vec<String> {
    let m = mix(i ^ 0x5678);
    let a = (m % 60) as usize;
    let b = ((m >> 8) % 60) as usize;
    if a == b || !(m >> 16).is_multiple_of(4) {
        vec![COUNTRIES[a].to_string()]
    } else {
        vec![COUNTRIES[a].to_string(), COUNTRIES[b].to_string()]
    }
}

const SENTENCES: [&str; 6] = [
    "Police detained leaders of the local union at dawn after a strike over unpaid wages.",
    "Their families have not been told where they are held, and lawyers were turned away.",
    "The employer has dismissed workers who joined the union and hired replacements.",
    "The ministry has ignored repeated requests for a meeting with the union's delegates.",
    "Members are organising pickets at the gates every morning and ask for solidarity.",
    "The federation calls on unions everywhere to write to the authorities named below.",
];

/// One info block of original `i`, about 900 bytes over all its blocks (`blocks` of them).
fn info(i: u64, lang: &str, blocks: usize, note: &str) -> Info {
    let target = 760 / blocks.max(1);
    let mut description = String::new();
    let mut k = (mix(i) % 6) as usize;
    while description.len() < target {
        description.push_str(SENTENCES[k % 6]);
        description.push(' ');
        k += 1;
    }
    Info {
        language: lang.to_string(),
        headline: format!(
            "[{lang}] Union leaders detained at works {}{note}",
            i % 9973
        ),
        description: description.trim_end().to_string(),
        instruction: "Write to the Ministry of Labour and demand their release.".into(),
        link: format!("https://union.example/cases/{i}"),
    }
}

fn alert(i: u64, langs: &[&str], note: &str) -> Alert {
    let m = mix(i ^ 0x9999);
    Alert {
        status: Status::Actual,
        category: Category::ALL[(m % Category::ALL.len() as u64) as usize],
        urgency: Urgency::Immediate,
        severity: Severity::ALL[((m >> 8) % 4) as usize],
        certainty: Certainty::Observed,
        info: langs
            .iter()
            .map(|l| info(i, l, langs.len(), note))
            .collect(),
    }
}

fn call(i: u64, langs: &[&str], note: &str) -> ActionCall {
    ActionCall {
        base: alert(i, langs, note),
        actions: vec![ActionType::Letter],
        target: "Ministry of Labour".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: None,
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: vec![Goal {
            measure: Measure::Letters,
            target: 10_000,
            currency: String::new(),
        }],
    }
}

/// A new alert (not in any corpus) by union `k % UNIONS`, made at `created_at`, in English and
/// French about `AZ`, so it moves the head of `/`, the feeds and both filtered pages.
pub fn fresh_alert(k: u64, created_at: Timestamp, lifetime: Duration) -> SignedMessage {
    let key = union_key(k % UNIONS);
    let mut content = alert(k, &["en", "fr"], "");
    for info in &mut content.info {
        info.headline = format!("[{}] Fresh arrests at the port, report {k}", info.language);
    }
    let body = Body {
        author: key.public(),
        created_at,
        expires_at: Some(created_at.plus(lifetime)),
        topics: vec!["ports".into()],
        countries: vec!["AZ".into()],
        effective_at: None,
        content: Content::Alert(content),
    };
    Message::sign(body, &key)
        .expect("a fresh alert is valid")
        .signed()
        .clone()
}
