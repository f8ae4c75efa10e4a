//! Maintenance, written the way inserts are: embargo release, retention (expiry and the
//! forgetting of tombstones), the body log's reclaiming, and moving a peer's cursor with no
//! message. Each runs on the writer thread in batches, one transaction each, so inserts are not
//! held up by a long pass; what each does to a message is a rule of `rules.rs`.
//!
//! A batch of releases or expiries is bounded in messages ([`BATCH`]) and in time
//! ([`BATCH_TIME`]); the next is asked for only once the last is durable, so inserts queued
//! meanwhile go first, and a publisher waits at most about one batch and a flush. A batch
//! holds nothing beyond itself in memory: retention's work list is its tree of expiry rows,
//! and a row a batch stops inside is written back with what is left of it in the same
//! transaction, so a pass cut short (a crash, a shutdown) goes on from there at the next one.

use std::time::{Duration, Instant};

use super::bodies::SegRow;
use super::codec::{self, LogEntry, Tree, meta};
use super::rows::Backing as _;
use super::rules;
use super::{ExpireStats, Inner, LogId, PeerLog, Store, StoreError};
use crate::message::{Id, Kind, Timestamp};

/// How many expiries or releases go into one transaction at most (the writer lock is released
/// between batches so inserts are not held up by a long retention pass).
const BATCH: usize = 512;

/// How long one batch of expiries or releases plans at most before it is written: what a
/// publisher queued behind it waits, besides the flush. An expiry costs 0.1 to 0.2 ms at a
/// million messages, so a batch is usually cut by this, not by [`BATCH`]; at 10 ms the
/// publishers' p99 during a 200,000-message sweep was 39 ms, at 5 ms 16 ms (examples/scale_store).
const BATCH_TIME: Duration = Duration::from_millis(5);

/// Whether a batch that began at `started` and holds `n` messages has room for another. An
/// empty one always has: each batch makes progress, however slow the disk.
fn room(started: Instant, n: usize) -> bool {
    n == 0 || (n < BATCH && started.elapsed() < BATCH_TIME)
}

impl Inner {
    /// One batch of embargo releases due at `now`. Returns how many, whether more is due, and
    /// the generation.
    pub(super) fn release_batch(&self, now: Timestamp) -> Result<(usize, bool, u64), StoreError> {
        let mut w = self.lock_writer()?;
        let end = codec::time_id(now.0, &Id([0xff; 32]));
        // Nothing due writes nothing: no space is asked for (a disk below the reserve would
        // otherwise fail this every second, and count a refusal each time).
        if self.rows_until(Tree::Embargo, Some(&end)).next().is_none() {
            return Ok((0, false, w.generation));
        }
        self.space.check_upkeep()?;
        let started = Instant::now();
        let mut rows = self.rows();
        let mut seq = w.last_seq;
        let mut n = 0;
        let mut rosters = 0u64;
        let mut more = false;
        for (taken, row) in self.rows_until(Tree::Embargo, Some(&end)).enumerate() {
            if !room(started, taken) {
                more = true;
                break;
            }
            let (k, _) = row?;
            let (_, id) =
                codec::split_time_id(&k).ok_or_else(|| self.corrupt("bad embargo row"))?;
            rows.delete(Tree::Embargo, k.to_vec());
            if let Some(kind) = rules::release(&mut rows, &id, seq + 1)? {
                seq += 1;
                n += 1;
                rosters += u64::from(kind == Kind::Roster);
            }
        }
        if seq > w.last_seq {
            rows.set_last_seq(seq);
        }
        self.commit(&mut w, rows, seq)?;
        self.rosters_released
            .fetch_add(rosters, std::sync::atomic::Ordering::Relaxed);
        Ok((n, more, w.generation))
    }

    /// One batch of retention at `now`. Returns what it did, whether more is due, and the
    /// generation.
    pub(super) fn expire_batch(
        &self,
        now: Timestamp,
    ) -> Result<(ExpireStats, bool, u64), StoreError> {
        let mut w = self.lock_writer()?;
        let end = codec::time_id(now.0, &Id([0xff; 32]));
        // As for release: nothing due, nothing asked of the disk.
        if self.rows_until(Tree::Expiry, Some(&end)).next().is_none()
            && self.rows_until(Tree::TombGc, Some(&end)).next().is_none()
        {
            return Ok((ExpireStats::default(), false, w.generation));
        }
        self.space.check_upkeep()?;
        let mut rows = self.rows();
        let started = Instant::now();
        let mut stats = ExpireStats::default();
        // Rows whose minute has begun, while the batch has room; what in a row is not due yet,
        // or is past the batch's end, is put back.
        let mut more_expiry = false;
        let mut taken = 0;
        for row in self.rows_until(Tree::Expiry, Some(&end)) {
            if !room(started, taken) {
                more_expiry = true;
                break;
            }
            let (k, v) = row?;
            let entries = codec::expiries(&k, &v).ok_or_else(|| self.corrupt("bad expiry row"))?;
            let mut rest = Vec::new();
            let before = taken;
            for (exp, id) in entries {
                if exp > now.0 {
                    rest.push((exp, id));
                } else if !room(started, taken) {
                    more_expiry = true;
                    rest.push((exp, id));
                } else {
                    taken += 1;
                    let drop_at = Timestamp(exp).plus(self.tombstone_keep).0;
                    if rules::expire(&mut rows, &id, drop_at)? {
                        stats.expired += 1;
                    }
                }
            }
            if taken == before {
                continue;
            }
            if rest.is_empty() {
                rows.delete(Tree::Expiry, k.to_vec());
            } else {
                let rest: Vec<u8> = rest
                    .iter()
                    .flat_map(|(exp, id)| codec::time_id(*exp, id))
                    .collect();
                rows.put(Tree::Expiry, k.to_vec(), rest);
            }
        }
        let gone: Vec<_> = self
            .rows_until(Tree::TombGc, Some(&end))
            .take(BATCH)
            .collect::<Result<_, _>>()?;
        let more_gc = gone.len() == BATCH;
        for (k, _) in &gone {
            let (_, id) =
                codec::split_time_id(k).ok_or_else(|| self.corrupt("bad tombstone row"))?;
            rows.delete_tombstone(k, &id);
            rows.add_to_count(meta::N_TOMBSTONES, -1)?;
            stats.tombstones_dropped += 1;
        }
        let last = w.last_seq;
        self.commit(&mut w, rows, last)?;
        self.expired_since_open
            .fetch_add(stats.expired as u64, std::sync::atomic::Ordering::Relaxed);
        Ok((stats, more_expiry || more_gc, w.generation))
    }
}

impl Store {
    /// Embargo release: appends a reader-view entry (a new seq) for each message whose
    /// effective_at is at or before `now`. Durable before it returns.
    pub async fn release_due(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let ((n, more, g), commit) = self
                .on_writer(move |inner| inner.release_batch(now))
                .await?;
            commit.wait(g).await?;
            total += n;
            if !more {
                return Ok(total);
            }
        }
    }

    /// Rosters released from embargo since the store was opened (or reopened): a change
    /// means members may be admitted now (federation's retry set).
    pub fn rosters_released(&self) -> u64 {
        self.inner().map_or(0, |i| {
            i.rosters_released
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Retention: removes messages expired at `now` with all their rows, leaving tombstones,
    /// and forgets tombstones whose time is up. Durable before it returns.
    ///
    /// What is due for release at `now` is released first: a message expires after its
    /// effective_at, so an embargoed cancel (say) takes effect before it goes, even on a node
    /// that was down through both times.
    pub async fn expire(&self, now: Timestamp) -> Result<ExpireStats, StoreError> {
        let mut total = ExpireStats {
            released: self.release_due(now).await?,
            ..ExpireStats::default()
        };
        loop {
            let ((s, more, g), commit) =
                self.on_writer(move |inner| inner.expire_batch(now)).await?;
            commit.wait(g).await?;
            total.expired += s.expired;
            total.tombstones_dropped += s.tombstones_dropped;
            if !more {
                break;
            }
        }
        self.reclaim_bodies().await?;
        Ok(total)
    }

    /// Gives back the body log's space: segments with no live body are deleted once the
    /// transaction that says so is durable, and mostly dead ones are compacted first.
    async fn reclaim_bodies(&self) -> Result<(), StoreError> {
        loop {
            let ((gone, moved, more, g), commit) =
                self.on_writer(|inner| inner.reclaim_batch()).await?;
            commit.wait(g).await?;
            let inner = self.inner()?;
            for seg in &gone {
                inner.bodies.remove(*seg)?;
            }
            if gone.is_empty() && moved == 0 && !more {
                return Ok(());
            }
        }
    }
}

/// A sealed body segment whose live bytes fall below this share of its size is compacted.
const COMPACT_BELOW: f64 = 0.5;

impl Inner {
    /// One step of reclaiming body log space: deletes the rows of segments with no live body
    /// (their files go once that is durable), and moves the live bodies of mostly dead
    /// segments to the end of the log, at most [`BATCH`] per call. Returns the segments to
    /// delete, how many bodies moved, whether more is due, and the generation.
    fn reclaim_batch(&self) -> Result<(Vec<u64>, usize, bool, u64), StoreError> {
        let mut w = self.lock_writer()?;
        let current = self.bodies.current();
        let mut rows = self.rows();
        let mut gone = Vec::new();
        let mut moved = 0;
        let mut more = false;
        let segments: Vec<_> = self
            .rows_until(Tree::Segs, None)
            .collect::<Result<_, _>>()?;
        for (k, v) in segments {
            let (Some(seg), Some(row)) = (codec::read_u64(&k), SegRow::decode(&v)) else {
                return Err(self.corrupt("a body segment row is unreadable"));
            };
            if seg >= current {
                continue;
            }
            if row.live == 0 {
                rows.delete(Tree::Segs, k.to_vec());
                gone.push(seg);
                continue;
            }
            if moved >= BATCH {
                more = true;
                continue;
            }
            if row.live as f64 >= COMPACT_BELOW * self.bodies.size(seg)? as f64 {
                continue;
            }
            // Moving live bodies writes them again first: only with room to spare.
            if self.space.check(row.live).is_err() {
                continue;
            }
            for e in self.log_range(row.min_seq, row.max_seq)? {
                let (seq, e) = e?;
                let Some(at) = e.body.filter(|b| b.seg == seg) else {
                    continue;
                };
                // Moved verbatim: damage moves with it and is found on read. A body missing
                // from the segment stays counted there (noted, to be fetched again).
                let bytes = match self.bodies.read(&at) {
                    Ok(b) => b,
                    Err(StoreError::Corrupt { detail, .. }) => {
                        self.damage.found(e.id, seq, &detail);
                        continue;
                    }
                    Err(err) => return Err(err),
                };
                let new = self.bodies.append(&[&bytes])?;
                rows.uncount_body(&at)?;
                rows.count_body(&new, seq)?;
                rows.put_log_entry(
                    seq,
                    LogEntry {
                        body: Some(new),
                        ..e
                    },
                );
                moved += 1;
                if moved >= BATCH {
                    more = true;
                    break;
                }
            }
        }
        let last = w.last_seq;
        if let Err(e) = self.commit(&mut w, rows, last) {
            self.bodies.discard();
            return Err(e);
        }
        Ok((gone, moved, more, w.generation))
    }

    /// Records which log of the peer its cursor belongs to; with `reset`, starts the cursor
    /// again at 0 in the same transaction.
    fn peer_log_batch(&self, peer: &str, log: PeerLog, reset: bool) -> Result<u64, StoreError> {
        let mut w = self.lock_writer()?;
        self.space.check_upkeep()?;
        let mut rows = self.rows();
        if reset {
            rows.reset_cursor(peer, log);
        } else {
            rows.put_peer_log(peer, log);
        }
        let last = w.last_seq;
        self.commit(&mut w, rows, last)?;
        Ok(w.generation)
    }

    /// Moves a peer's cursor forward (never back) without storing a message.
    fn advance_cursor_batch(&self, peer: &str, cursor: u64) -> Result<u64, StoreError> {
        let mut w = self.lock_writer()?;
        self.space.check_upkeep()?;
        let mut rows = self.rows();
        rows.move_cursor(peer, cursor)?;
        let last = w.last_seq;
        self.commit(&mut w, rows, last)?;
        Ok(w.generation)
    }
}

impl Store {
    /// A follower (re)starting: the peer's durable cursor, from which it follows. Inserts
    /// move the peer's cursor again from here on, if a failed one had stopped them.
    pub fn resume_cursor(&self, peer: &str) -> Result<u64, StoreError> {
        self.inner()?
            .stalled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(peer);
        self.cursor(peer)
    }

    /// The peer's log its cursor belongs to, if recorded (`None` for a cursor from before log
    /// ids, or a peer never followed).
    pub fn peer_log(&self, peer: &str) -> Result<Option<PeerLog>, StoreError> {
        self.inner()?.rows().peer_log(peer)
    }

    /// Records, durably, which log of the peer its cursor belongs to, leaving the cursor where
    /// it is: the follower checked it against that log.
    pub async fn record_peer_log(&self, peer: &str, log: PeerLog) -> Result<(), StoreError> {
        let peer = peer.to_string();
        let (g, commit) = self
            .on_writer(move |inner| inner.peer_log_batch(&peer, log, false))
            .await?;
        commit.wait(g).await
    }

    /// Starts the peer's cursor again at 0 in the log `log`, durably, in one transaction with
    /// the record of that log: the peer's log changed (restored, wiped, rebuilt), and its seqs
    /// from before mean nothing now. The one way a cursor moves back; every other write only
    /// moves it forward. Call it from the follower, after [`Store::resume_cursor`] and before
    /// anything of the new log is staged: nothing of the old log may be in flight then, or its
    /// insert would move the new log's cursor to an old seq.
    pub async fn reset_cursor(&self, peer: &str, log: PeerLog) -> Result<(), StoreError> {
        let peer = peer.to_string();
        let (g, commit) = self
            .on_writer(move |inner| inner.peer_log_batch(&peer, log, true))
            .await?;
        commit.wait(g).await
    }

    /// Where a restored backup came from: the log id the copy had and the head it held, when
    /// this store was opened from one (see `open.rs`).
    pub fn restored_from(&self) -> Result<Option<(LogId, u64)>, StoreError> {
        let inner = self.inner()?;
        let meta_tree = inner.trees.get(Tree::Meta);
        let sled_err = |e| StoreError::sled(&inner.dir, e);
        let log = meta_tree.get(meta::RESTORED_FROM_LOG).map_err(sled_err)?;
        let head = meta_tree.get(meta::RESTORED_AT_HEAD).map_err(sled_err)?;
        Ok(match (log, head) {
            (Some(log), Some(head)) => LogId::from_slice(&log).zip(codec::read_u64(&head)),
            _ => None,
        })
    }

    /// Moves a peer's cursor forward past entries that brought nothing to store (duplicates,
    /// refusals, entries filtered out), durably. A cursor never moves back.
    pub async fn advance_cursor(&self, peer: &str, cursor: u64) -> Result<(), StoreError> {
        // Usually the last message of the follower's batch brought the cursor this far in the
        // transaction that stored it: nothing to write, and no reason to queue behind the
        // writer's other work (the follower's next batch waits for this answer).
        if self.cursor(peer)? >= cursor {
            return Ok(());
        }
        let peer = peer.to_string();
        let (g, commit) = self
            .on_writer(move |inner| inner.advance_cursor_batch(&peer, cursor))
            .await?;
        commit.wait(g).await
    }
}
