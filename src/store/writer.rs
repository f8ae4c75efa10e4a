//! The writer thread and group commit: inserts queued by many callers joined into one group,
//! planned message by message against the rows as the earlier ones leave them (the rules, in
//! `rules.rs`), their bodies synced, applied as one sled transaction, and answered once the
//! flusher has made the group durable (`commit.rs`).

use std::sync::Arc;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use tokio::sync::oneshot;

use super::bodies::BodyRef;
use super::codec::{self, Prefixes, Tree};
use super::retry::Keep;
use super::rows::Rows;
use super::rules::{self, Arrival};
use super::{CommitMode, Inner, Inserted, Origin, Store, StoreError};
use crate::message::{Message, Timestamp};
use sled::IVec;

/// What the writer lock protects.
#[derive(Debug)]
pub(super) struct WriterState {
    /// The last seq handed out (committed).
    pub(super) last_seq: u64,
    /// The last generation committed (one per write transaction).
    pub(super) generation: u64,
    /// Set by `close`: no more writes.
    pub(super) closed: bool,
}

/// From this many messages in a group, their bodies are synced while the group is planned
/// (below it, starting a thread costs more than the overlap saves).
pub(super) const OVERLAP_MIN: usize = 32;

/// Messages submitted together: each with its origin, its index prefixes (worked out by the
/// caller, off the writer thread) and the clock they are judged by; and the refusals of the
/// same batch to keep for another try (see `retry.rs`).
type Group<'a> = (&'a [(Message, Origin)], &'a [Prefixes], Timestamp, &'a Keep);

/// Planned groups: the outcomes per group, the writes to commit, and the last seq handed out.
type Planned<'a> = (Vec<Vec<Inserted>>, Rows<'a>, u64);

impl Inner {
    /// A sled error, naming the store's directory.
    pub(super) fn sled_err(&self, e: sled::Error) -> StoreError {
        StoreError::sled(&self.dir, e)
    }

    /// An error saying what in the store is damaged, naming its directory.
    pub(super) fn corrupt(&self, what: impl Into<String>) -> StoreError {
        StoreError::corrupt(&self.dir, what)
    }

    /// Applies settled writes as one transaction over the trees they touch.
    fn apply(&self, rows: &Rows<'_>) -> Result<(), StoreError> {
        let mut touched: Vec<Tree> = rows.writes().map(|(tree, _, _)| tree).collect();
        touched.dedup();
        let trees: Vec<sled::Tree> = touched.iter().map(|t| self.trees.get(*t).clone()).collect();
        // Each write with the place of its tree in `trees`.
        type Write<'a> = (usize, &'a [u8], Option<&'a IVec>);
        let writes: Vec<Write<'_>> = rows
            .writes()
            .map(|(tree, key, value)| {
                // Every written tree is in `touched`, which is sorted: found.
                let at = touched.binary_search(&tree).unwrap_or(0);
                (at, key, value)
            })
            .collect();
        #[cfg(test)]
        if self
            .fail_next_apply
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return self.applied(Err(TransactionError::Storage(sled::Error::Io(
                std::io::Error::other("an injected failure of sled's write"),
            ))));
        }
        let r: Result<(), TransactionError<()>> = trees[..].transaction(|txs| {
            for (at, k, v) in &writes {
                match v {
                    Some(v) => {
                        txs[*at].insert(*k, (*v).clone())?;
                    }
                    None => {
                        txs[*at].remove(*k)?;
                    }
                }
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        for seq in rows.forgotten() {
            self.recent.forget(*seq);
        }
        self.applied(r)
    }

    /// What a transaction's outcome means for the store.
    fn applied(&self, r: Result<(), TransactionError<()>>) -> Result<(), StoreError> {
        match r {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => {
                // An I/O error (a full or failing disk) is kept by sled and fails every later
                // write: only a reopen clears it. Damage fails this group alone.
                let io = matches!(e, sled::Error::Io(_));
                let e = self.sled_err(e);
                if io {
                    self.commit.fail_write(e.to_string());
                }
                Err(e)
            }
            Err(TransactionError::Abort(())) => Err(self.corrupt("a transaction aborted")),
        }
    }

    /// Commits planned writes under the writer lock: one more generation.
    pub(super) fn commit(
        &self,
        w: &mut WriterState,
        mut rows: Rows<'_>,
        new_last_seq: u64,
    ) -> Result<(), StoreError> {
        rows.settle(w.last_seq + 1)?;
        if rows.is_empty() {
            return Ok(());
        }
        // The bodies this transaction points to are on disk before it is applied (see
        // `bodies.rs`). A failed write is remembered until one succeeds, so that the store
        // says it cannot write (/healthz, `node status`) even with no free-space reserve.
        let written = self
            .bodies
            .write_and_sync()
            .and_then(|()| self.apply(&rows));
        self.note_write(&written);
        written?;
        // Before it counts as committed: an item set made at this generation finds its
        // records' changes in the journal (`items.rs`).
        self.items.note(
            w.generation + 1,
            rows.writes()
                .filter(|(tree, _, _)| *tree == Tree::Msgs)
                .map(|(_, key, value)| (key, value.map(|v| v.as_ref()))),
        );
        w.generation += 1;
        w.last_seq = new_last_seq;
        self.commit.committed(w.generation, w.last_seq);
        if self.mode == CommitMode::PerMessage {
            self.commit.flush_now(&self.db, &self.marker)?;
        }
        Ok(())
    }

    /// Remembers whether the last write failed, and why, until one succeeds.
    ///
    /// The log says so once when writes start failing and once when one succeeds again (the
    /// callers of each failed write log it at DEBUG only).
    fn note_write(&self, written: &Result<(), StoreError>) {
        let mut failed = self.write_failed.lock().unwrap_or_else(|p| p.into_inner());
        let was = failed.is_some();
        *failed = written.as_ref().err().map(|e| {
            let kind = if e.is_disk_full() {
                std::io::ErrorKind::StorageFull
            } else {
                std::io::ErrorKind::Other
            };
            (kind, e.to_string())
        });
        match (was, written) {
            (false, Err(e)) => tracing::warn!(
                error = %e,
                "a write to the store's disk failed: new messages are refused (code unavailable) until a write succeeds; said once"
            ),
            (true, Ok(())) => tracing::info!("the store's writes succeed again"),
            _ => {}
        }
    }

    /// The writer lock, unless the store is closed or a flush failed.
    pub(super) fn lock_writer(&self) -> Result<std::sync::MutexGuard<'_, WriterState>, StoreError> {
        let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if w.closed {
            return Err(StoreError::Closed {
                dir: self.dir.clone(),
                detail: String::new(),
            });
        }
        if let Some(e) = self.commit.failure() {
            return Err(e);
        }
        Ok(w)
    }

    /// Inserts groups of messages (each group with its own clock) under one hold of the writer
    /// lock, as **one transaction** for all of them (one per message in flush-per-message
    /// mode). Each message is planned against the trees as the earlier ones in the group
    /// leave them. Returns the outcomes per group and the generation to wait for.
    pub(super) fn insert_groups(
        &self,
        groups: &[Group<'_>],
    ) -> Result<(Vec<Vec<Inserted>>, u64), StoreError> {
        let mut w = self.lock_writer()?;
        #[cfg(test)]
        if self
            .fail_next_insert
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Err(StoreError::io(
                &self.dir,
                std::io::Error::other("an injected failure"),
            ));
        }
        let per_message = self.mode == CommitMode::PerMessage;
        let count: usize = groups.iter().map(|(msgs, _, _, _)| msgs.len()).sum();
        // Looked at before anything is written: a group refused here leaves the store as it was.
        let body_bytes: u64 = groups
            .iter()
            .flat_map(|(msgs, _, _, _)| msgs.iter())
            .map(|(m, _)| {
                codec::body_parts(m)
                    .iter()
                    .map(|p| p.len() as u64)
                    .sum::<u64>()
            })
            .sum();
        self.space
            .check(super::space::Space::needed(count, body_bytes))?;
        let (out, rows, last) = if !per_message && count >= OVERLAP_MIN {
            // The bodies of the messages new here are appended first and written and synced on
            // another thread while the group is planned: the disk's round trip overlaps the
            // planning instead of preceding the transaction. A body whose message the plan
            // refuses is dead bytes, reclaimed with its segment.
            let mut placed = Vec::with_capacity(count);
            for (msgs, _, _, _) in groups {
                for (msg, _) in msgs.iter() {
                    placed.push(if self.ids.may_hold(&msg.id()) {
                        None
                    } else {
                        Some(self.bodies.append(&codec::body_parts(msg))?)
                    });
                }
            }
            std::thread::scope(|s| {
                let sync = std::thread::Builder::new()
                    .name("tocsin-store-sync".into())
                    .spawn_scoped(s, || self.bodies.write_and_sync())
                    .map_err(|e| StoreError::io(&self.dir, e))?;
                let planned = self.plan_groups(&mut w, groups, placed);
                let synced = sync
                    .join()
                    .unwrap_or_else(|_| Err(self.corrupt("the body log sync panicked")));
                if synced.is_err() {
                    self.note_write(&synced);
                }
                synced.and(planned)
            })?
        } else {
            self.plan_groups(&mut w, groups, vec![None; count])?
        };
        // Bodies appended while planning (messages that looked held, or all of a small group)
        // are written and synced by the commit, before its transaction.
        self.commit(&mut w, rows, last)?;
        Ok((out, w.generation))
    }

    /// Plans groups of messages in order, each against what the earlier ones leave; `placed` has
    /// the body already appended for each message, if any. Commits after each message in
    /// flush-per-message mode. Returns the outcomes, the writes still to commit and the last
    /// seq handed out.
    fn plan_groups(
        &self,
        w: &mut WriterState,
        groups: &[Group<'_>],
        placed: Vec<Option<BodyRef>>,
    ) -> Result<Planned<'_>, StoreError> {
        let per_message = self.mode == CommitMode::PerMessage;
        let mut rows = self.rows();
        let mut last = w.last_seq;
        let mut out = Vec::with_capacity(groups.len());
        let mut placed = placed.into_iter();
        let stalled = self
            .stalled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (msgs, prefixes, now, keep) in groups {
            // Kept in the transaction of the batch they came in, so no cursor that moves past
            // them can be durable without them.
            self.plan_keep(&mut rows, keep)?;
            let mut outcomes = Vec::with_capacity(msgs.len());
            for ((msg, origin), prefixes) in msgs.iter().zip(prefixes.iter()) {
                let at = placed.next().flatten();
                let arrival = Arrival {
                    msg,
                    prefixes,
                    origin,
                    placed: at,
                };
                let outcome = rules::insert(&mut rows, arrival, last + 1, *now)?;
                if let Origin::Peer { peer, cursor } = origin
                    && !stalled.contains(peer)
                {
                    rows.move_cursor(peer, *cursor)?;
                }
                if let Inserted::Accepted { seq, .. } = outcome {
                    last = seq;
                }
                if per_message {
                    self.commit(w, std::mem::replace(&mut rows, self.rows()), last)?;
                }
                outcomes.push(outcome);
            }
            out.push(outcomes);
        }
        Ok((out, rows, last))
    }
}

/// Messages to insert, from one caller.
pub(super) struct InsertJob {
    /// The caller's handle on the store, let go before the answer is sent.
    inner: Arc<Inner>,
    msgs: Vec<(Message, Origin)>,
    prefixes: Vec<Prefixes>,
    now: Timestamp,
    /// Refusals of the same batch to keep for another try.
    keep: Keep,
    /// Answered once the outcomes are durable (by the flusher, see `commit.rs`).
    reply: oneshot::Sender<Result<Vec<Inserted>, StoreError>>,
}

/// A unit of work for the writer thread.
pub(super) enum Job {
    /// Inserts: the writer joins those waiting in its queue into one transaction.
    Insert(InsertJob),
    /// Anything else that writes (release, retention), run alone.
    Run(Box<dyn FnOnce() + Send>),
}

/// At most this many messages go into one transaction.
const GROUP_MAX: usize = 1024;

/// The writer thread's loop: runs jobs in arrival order until every sender is gone.
///
/// One thread does every write, so writes never contend for the writer lock, and callers wait
/// asynchronously for its answer and then for the flush. Inserts that queued up while it was
/// busy are done together as one transaction: under load, sled's per-transaction cost is paid
/// once per group, not once per message.
pub(super) fn run_writer(jobs: std::sync::mpsc::Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Run(f) => f(),
            Job::Insert(first) => {
                let mut n = first.msgs.len();
                let mut group = vec![first];
                while n < GROUP_MAX {
                    match jobs.try_recv() {
                        Ok(Job::Insert(more)) => {
                            n += more.msgs.len();
                            group.push(more);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                insert_group(group);
            }
        }
    }
}

/// Runs a group of insert jobs as one transaction and answers each.
fn insert_group(group: Vec<InsertJob>) {
    let inner = group[0].inner.clone();
    let batches: Vec<Group<'_>> = group
        .iter()
        .map(|j| (j.msgs.as_slice(), j.prefixes.as_slice(), j.now, &j.keep))
        .collect();
    let result = inner.insert_groups(&batches);
    if result.is_err() {
        inner.bodies.discard();
        // The followers whose entries failed resume from their durable cursor; what they
        // queued behind this group must not move it past what failed.
        let mut stalled = inner.stalled.lock().unwrap_or_else(|p| p.into_inner());
        for (msgs, _, _, _) in &batches {
            for (_, origin) in msgs.iter() {
                if let Origin::Peer { peer, cursor } = origin
                    && *cursor > 0
                {
                    stalled.insert(peer.clone());
                }
            }
        }
    }
    drop(batches);
    let commit = inner.commit.clone();
    drop(inner);
    let mut replies = Vec::with_capacity(group.len());
    for job in group {
        // Let go of the store before answering: the caller may drop its last handle and
        // reopen the directory as soon as it has the answer.
        drop(job.inner);
        replies.push(job.reply);
    }
    match result {
        Ok((outcomes, g)) => {
            // Answered when durable, by whichever thread makes it so: each caller is woken
            // once, with its outcomes, instead of once by the writer and again by the flush.
            let answers: Vec<_> = replies.into_iter().zip(outcomes).collect();
            commit.answer_when_durable(
                g,
                Box::new(move |durable| {
                    for (reply, out) in answers {
                        let _ = reply.send(match &durable {
                            Ok(()) => Ok(out),
                            Err(e) => Err(e.copy()),
                        });
                    }
                }),
            );
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.copy()));
            }
        }
    }
}

/// Messages handed to the writer: see [`Store::submit_many`].
#[derive(Debug)]
pub struct Submitted {
    store: Store,
    rx: oneshot::Receiver<Result<Vec<Inserted>, StoreError>>,
    /// The messages handed over, held until the answer: the writer then only lets go of its
    /// references, and the caller's thread frees them.
    _held: Vec<Message>,
}

impl Submitted {
    /// Waits until the messages are written and durable; outcomes in the order given.
    pub async fn durable(self) -> Result<Vec<Inserted>, StoreError> {
        self.rx.await.map_err(|_| self.store.writer_gone())?
    }
}

impl Store {
    fn send_job(&self, inner: &Inner, job: Job) -> Result<(), StoreError> {
        inner
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| self.writer_gone())
    }

    fn writer_gone(&self) -> StoreError {
        StoreError::Closed {
            dir: self.dir().to_path_buf(),
            detail: "the writer stopped".to_string(),
        }
    }

    /// Runs `f` on the writer thread and waits for its answer. Also returns the committer of
    /// the store it ran on, which is the one to wait on for the generation it answers (the
    /// store may reopen meanwhile, with generations of its own).
    pub(super) async fn on_writer<X: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<X, StoreError> + Send + 'static,
    ) -> Result<(X, Arc<super::commit::Committer>), StoreError> {
        let (tx, rx) = oneshot::channel();
        let inner = self.inner()?;
        let commit = inner.commit.clone();
        let job_inner = inner.clone();
        self.send_job(
            &inner,
            Job::Run(Box::new(move || {
                let out = f(&job_inner);
                // Let go of the store before answering (see `insert_group`).
                drop(job_inner);
                let _ = tx.send(out);
            })),
        )?;
        drop(inner);
        let out = rx.await.map_err(|_| self.writer_gone())??;
        Ok((out, commit))
    }

    /// Inserts a message if its id is not known, atomically across every tree (record, log
    /// entry, indexes, tallies, and the peer's cursor when it came from a peer). Resolves only
    /// when the result is durable; concurrent inserts share one flush (group commit).
    ///
    /// The message must be verified and validated already: the store checks only what needs
    /// its state (duplicates, tombstones, revocations, authorship of updates and cancels).
    pub async fn insert(
        &self,
        msg: &Message,
        origin: Origin,
        now: Timestamp,
    ) -> Result<Inserted, StoreError> {
        let mut v = self.insert_many(vec![(msg.clone(), origin)], now).await?;
        v.pop()
            .ok_or_else(|| StoreError::corrupt(self.dir(), "an insert produced no outcome"))
    }

    /// Inserts many messages (a follower's batch, a streaming publisher): one transaction
    /// for all (shared with other inserts waiting at the same time), one flush. Outcomes are
    /// in the order of `msgs`.
    pub async fn insert_many(
        &self,
        msgs: Vec<(Message, Origin)>,
        now: Timestamp,
    ) -> Result<Vec<Inserted>, StoreError> {
        self.submit_many(msgs, now)?.durable().await
    }

    /// Hands messages to the writer now, in the order of the calls, and returns what resolves
    /// as [`Store::insert_many`] does. A caller can verify its next batch while this one is
    /// written and flushed, and still have its batches stored in the order it submitted them.
    pub fn submit_many(
        &self,
        msgs: Vec<(Message, Origin)>,
        now: Timestamp,
    ) -> Result<Submitted, StoreError> {
        self.submit_keeping(msgs, Keep::default(), now)
    }

    /// [`Store::submit_many`], keeping refusals of the same batch for another try (a
    /// follower's: see `retry.rs`) in the same transaction: durable when the answer comes, and
    /// never after a cursor that moved past them. With no messages, `keep` is written alone.
    pub fn submit_keeping(
        &self,
        msgs: Vec<(Message, Origin)>,
        keep: Keep,
        now: Timestamp,
    ) -> Result<Submitted, StoreError> {
        let (reply, rx) = oneshot::channel();
        let prefixes = msgs.iter().map(|(m, _)| codec::index_prefixes(m)).collect();
        let held = msgs.iter().map(|(m, _)| m.clone()).collect();
        let inner = self.inner()?;
        self.send_job(
            &inner,
            Job::Insert(InsertJob {
                inner: inner.clone(),
                msgs,
                prefixes,
                now,
                keep,
                reply,
            }),
        )?;
        Ok(Submitted {
            store: self.clone(),
            rx,
            _held: held,
        })
    }
}
