//! Reads newest first, for readers who want the latest of what is current and never all of
//! it (the web gateway): the log or an index walked backwards from the durable head, an
//! author's first entry in a view, and the few store-wide
//! lists a reader's page names (recent cancels, keys with a conflicting commitment, the
//! federations that publish rosters).
//!
//! Every read here costs what it returns plus a bounded budget of what it skips, never the
//! size of the store: a node holding a million current messages answers "the newest 200"
//! by reading a few hundred entries.

use super::codec::{self, LogEntry, Tree, big_endian, concat};
use super::read::Merge;
use super::{Entry, Inner, KeyState, Store, StoreError, View};
use crate::message::{AuthorKey, Filter, Kind, Timestamp};

/// An author's postings examined at most for the first one in a view.
const FIRST_SEEN_PROBES: usize = 64;

/// A backwards walk's position: the next seq to examine is the highest below `before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Back {
    /// Examine seqs below this.
    pub before: u64,
}

impl Inner {
    /// The log entries with seqs in `lo..=hi`, highest first.
    fn log_range_back(
        &self,
        lo: u64,
        hi: u64,
    ) -> impl Iterator<Item = Result<(u64, LogEntry), StoreError>> + '_ {
        self.trees
            .get(Tree::Log)
            .range(..=big_endian(hi))
            .rev()
            .map(move |kv| {
                let mut entries = self.log_row(kv, lo, hi)?;
                entries.reverse();
                Ok(entries)
            })
            // Rows are keyed by their first seq: once a row starts below `lo`, none after it
            // holds anything in range.
            .scan(false, move |done, row| {
                if *done {
                    return None;
                }
                if let Ok(entries) = &row
                    && entries.last().is_some_and(|(seq, _)| *seq <= lo)
                {
                    *done = true;
                }
                Some(row)
            })
            .flat_map(|row| match row {
                Ok(entries) => entries.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            })
    }

    /// The seqs at or below `hi` that one index prefix lists, highest first.
    fn index_range_back(
        &self,
        t: Tree,
        prefix: Vec<u8>,
        hi: u64,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        let tree = self.trees.get(t);
        tree.range(concat(&[&prefix, &big_endian(0)])..=concat(&[&prefix, &big_endian(hi)]))
            .rev()
            .flat_map(move |kv| {
                let mut seqs = self.index_row(kv, 0..=hi);
                seqs.reverse();
                seqs
            })
    }

    /// See [`Store::read_back`].
    fn read_back(
        &self,
        at: Back,
        filter: &Filter,
        view: &View,
        limit: usize,
        budget: usize,
    ) -> Result<(Vec<Entry>, Option<Back>), StoreError> {
        if at.before == 0 || limit == 0 {
            return Ok((Vec::new(), None));
        }
        let hi = at.before - 1;
        type Seqs<'a> = Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>;
        // Seqs to examine, with their log entries when the walk has read them already.
        type Candidates<'a> =
            Box<dyn Iterator<Item = Result<(u64, Option<LogEntry>), StoreError>> + 'a>;
        let candidates: Candidates<'_> = match self.choose_index(filter, 0, hi)? {
            None => Box::new(
                self.log_range_back(1, hi)
                    .map(|e| e.map(|(seq, e)| (seq, Some(e)))),
            ),
            Some((t, prefixes)) => {
                let iters = prefixes
                    .into_iter()
                    .map(|p| Box::new(self.index_range_back(t, p, hi)) as Seqs<'_>)
                    .collect();
                Box::new(Merge::running(iters, true).map(|seq| seq.map(|seq| (seq, None))))
            }
        };
        let mut out = Vec::new();
        for (n, candidate) in candidates.enumerate() {
            let (seq, entry) = candidate?;
            if n >= budget.max(1) {
                return Ok((out, Some(Back { before: seq + 1 })));
            }
            if let Some(message) = self.in_view(seq, entry, view)?
                && filter.matches(message.body())
            {
                out.push(Entry { seq, message });
                if out.len() >= limit {
                    return Ok((out, (seq > 1).then_some(Back { before: seq })));
                }
            }
        }
        Ok((out, None))
    }
}

impl Store {
    /// Entries below `at` (from the durable head when `None`), newest first, at most `limit`,
    /// examining at most `budget` candidates. Returns them and where to go on from, `None`
    /// when the walk reached the start of the log.
    ///
    /// The same views and the same index choice as [`Store::read`], backwards: a reader
    /// that shows the newest of what is current reads what it shows and a bounded margin, not
    /// the store.
    pub fn read_back(
        &self,
        at: Option<Back>,
        filter: &Filter,
        view: &View,
        limit: usize,
        budget: usize,
    ) -> Result<(Vec<Entry>, Option<Back>), StoreError> {
        let head = self.head();
        let at = at.map_or(Back { before: head + 1 }, |b| Back {
            before: b.before.min(head + 1),
        });
        self.inner()?.read_back(at, filter, view, limit, budget)
    }

    /// A bound on the `created_at` of every alert, call and update placed in the log below
    /// `at` (accepted, released or placed again by a repair); `None` when no row of the bound
    /// reaches there (nothing placed yet, or all of it older than anything current). A walk
    /// back that has what it shows stops by it: nothing further back can be newer. Messages
    /// reach a node out of order (an import, reconciliation, a peer's backlog), so the log's
    /// order alone does not say that. In a store from before the bound, what was placed
    /// before its first write after the upgrade is not covered (nor what an older program
    /// wrote since): the bound may then be too low, and a walk stops where it stopped before.
    pub fn created_before(&self, at: Back) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .inner()?
            .rows()
            .newest_before(at.before)?
            .map(Timestamp))
    }

    /// The seq of `author`'s first entry in `view` (its earliest message still held that the
    /// view shows), looking at its first few postings only; `None` when none of them is
    /// shown.
    pub fn first_in_view(
        &self,
        author: &AuthorKey,
        view: &View,
    ) -> Result<Option<u64>, StoreError> {
        let inner = self.inner()?;
        let head = self.head();
        let tree = inner.trees.get(Tree::IAuthor);
        let prefix = author.as_bytes();
        let mut probes = 0;
        for kv in
            tree.range(concat(&[prefix, &big_endian(0)])..=concat(&[prefix, &big_endian(head)]))
        {
            let (_, v) = kv.map_err(inner.sled_e())?;
            let seqs = codec::postings(&v)
                .ok_or_else(|| StoreError::corrupt(&inner.dir, "bad index row"))?;
            for seq in seqs.into_iter().filter(|s| *s <= head) {
                if inner.in_view(seq, None, view)?.is_some() {
                    return Ok(Some(seq));
                }
                probes += 1;
                if probes >= FIRST_SEEN_PROBES {
                    return Ok(None);
                }
            }
        }
        Ok(None)
    }

    /// The keys that have not ended with a commitment to a recovery key other than the one in
    /// force, at most `max`, each with what is known of it. One pass over the commitments
    /// (a few per key that ever committed), never over messages.
    pub fn conflicted_keys(&self, max: usize) -> Result<Vec<KeyState>, StoreError> {
        let mut keys = Vec::new();
        let mut last: Option<[u8; 32]> = None;
        let candidates: Vec<[u8; 32]> = {
            let inner = self.inner()?;
            let mut out = Vec::new();
            for kv in inner.trees.get(Tree::Commitments).iter() {
                let (k, _) = kv.map_err(inner.sled_e())?;
                let Some(key) = k.get(..32).and_then(|k| <[u8; 32]>::try_from(k).ok()) else {
                    return Err(StoreError::corrupt(&inner.dir, "bad commitment row"));
                };
                if last != Some(key) {
                    out.push(key);
                    last = Some(key);
                }
            }
            out
        };
        for key in candidates {
            if keys.len() >= max {
                break;
            }
            let Ok(key) = AuthorKey::from_slice(&key) else {
                continue;
            };
            if !self.key_ends(&key)? && self.has_conflicting_commitment(&key)? {
                keys.push(self.key_state(&key)?);
            }
        }
        Ok(keys)
    }

    /// The authors with a roster held (federations), in key order.
    pub fn roster_authors(&self) -> Result<Vec<AuthorKey>, StoreError> {
        let inner = self.inner()?;
        let tree = inner.trees.get(Tree::Latest);
        let mut out = Vec::new();
        let mut from = vec![Kind::Roster.tag()];
        loop {
            let Some((k, _)) = tree
                .range(from.clone()..)
                .next()
                .transpose()
                .map_err(inner.sled_e())?
            else {
                break;
            };
            if k.first() != Some(&Kind::Roster.tag()) {
                break;
            }
            let author = k
                .get(1..33)
                .and_then(|a| AuthorKey::from_slice(a).ok())
                .ok_or_else(|| StoreError::corrupt(&inner.dir, "bad latest row"))?;
            out.push(author);
            // Past every row of this author.
            from = concat(&[&[Kind::Roster.tag()], author.as_bytes(), &[0xff; 9]]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{MINUTE, T0, alert, cfg, key, profile, translate, update};
    use crate::store::{Inserted, Origin};

    async fn accept(s: &Store, m: &crate::message::Message) -> u64 {
        match s.insert(m, Origin::Local, T0).await.expect("insert") {
            Inserted::Accepted { seq, .. } => seq,
            other => panic!("expected Accepted, got {other:?}"),
        }
    }

    /// Every entry `read_back` yields, batch after batch, newest first.
    fn walk(s: &Store, filter: &Filter, limit: usize, budget: usize) -> Vec<u64> {
        let mut out = Vec::new();
        let mut at = None;
        for _ in 0..1000 {
            let (entries, next) = s
                .read_back(at, filter, &View::Reader, limit, budget)
                .unwrap();
            out.extend(entries.iter().map(|e| e.seq));
            match next {
                Some(n) => at = Some(n),
                None => return out,
            }
        }
        panic!("the walk did not end");
    }

    #[tokio::test]
    async fn the_log_and_an_index_walk_back_newest_first_in_any_batch_size() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&cfg(dir.path())).unwrap();
        let (a, b) = (key(1), key(2));
        let mut az = Vec::new();
        let mut all = Vec::new();
        for i in 0..40u64 {
            let (k, country) = if i % 3 == 0 { (&a, "AZ") } else { (&b, "TR") };
            let m = alert(k, T0.plus(MINUTE * i as u32), &[], &[country], &["en"]);
            let seq = accept(&s, &m).await;
            all.push(seq);
            if country == "AZ" {
                az.push(seq);
            }
            // Other kinds between them, which a filter on kinds skips.
            all.push(
                accept(
                    &s,
                    &profile(k, T0.plus(MINUTE * i as u32), "Fictional Union"),
                )
                .await,
            );
        }
        all.reverse();
        az.reverse();
        for (limit, budget) in [(1, 1), (3, 2), (7, 100), (1000, 5000)] {
            assert_eq!(
                walk(&s, &Filter::default(), limit, budget),
                all,
                "{limit}/{budget}"
            );
            let filter = Filter {
                countries: vec!["AZ".into()],
                ..Filter::default()
            };
            assert_eq!(walk(&s, &filter, limit, budget), az, "{limit}/{budget}");
        }
        let alerts = Filter {
            kinds: vec![Kind::Alert],
            ..Filter::default()
        };
        let (first, next) = s.read_back(None, &alerts, &View::Reader, 5, 100).unwrap();
        assert_eq!(first.len(), 5);
        assert!(first.windows(2).all(|w| w[0].seq > w[1].seq));
        assert!(first.iter().all(|e| e.message.kind() == Kind::Alert));
        assert_eq!(
            next,
            Some(Back {
                before: first[4].seq
            })
        );
    }

    #[tokio::test]
    async fn an_author_starts_at_its_first_shown_entry() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&cfg(dir.path())).unwrap();
        let (a, b) = (key(1), key(2));
        accept(&s, &profile(&b, T0, "Fictional Teachers")).await;
        let first = accept(&s, &alert(&a, T0, &[], &["AZ"], &["en", "ru"])).await;
        let target = alert(&a, T0.plus(MINUTE), &[], &["TR", "AZ"], &["pt-BR"]);
        accept(&s, &target).await;
        accept(&s, &translate(&b, T0.plus(MINUTE), target.id(), "fr")).await;
        accept(
            &s,
            &update(&a, T0.plus(MINUTE * 2), target.id(), "Released"),
        )
        .await;
        assert_eq!(
            s.first_in_view(&a.public(), &View::Reader).unwrap(),
            Some(first)
        );
        assert_eq!(
            s.first_in_view(&key(9).public(), &View::Reader).unwrap(),
            None
        );
    }
}
