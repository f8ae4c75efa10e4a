//! Group commit: one flusher thread turns many committed transactions into one fsync.
//!
//! One writer thread runs every (short) sled transaction, under the writer lock, handing out
//! seqs and a *generation* (one per committed transaction). The flusher sleeps until some
//! generation is asked for, snapshots the last committed (generation, seq), calls `Db::flush`
//! once, and publishes that snapshot as durable: the durable head advances to the highest seq
//! it covers, and every transaction that committed before the flush began is answered
//! together. Transactions that commit while a flush runs are taken by the next one, so the
//! fsync rate adapts to the load with no timer.
//!
//! Whoever waits for a generation leaves an answer with the committer
//! ([`Committer::answer_when_durable`]), which is the request for a flush: the flusher sends it
//! once the generation is durable, or the error once nothing more will be. The writer leaves
//! each insert group's answers itself, so a publisher is woken once, when its message is
//! durable; release and retention wait the same way ([`Committer::wait`]).
//!
//! Architecture Invariant: the durable head never passes a seq whose transaction was not
//! flushed, and readers never read past the durable head (a seq not yet flushed could be
//! handed out again after a crash).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::{oneshot, watch};

use super::StoreError;

/// What the flusher has made durable.
#[derive(Debug, Default)]
struct Durable {
    /// Every transaction with a generation up to this one is on disk.
    generation: u64,
    /// Set when a flush failed or the flusher stopped: nothing more will become durable.
    failed: Option<String>,
}

/// Tells a waiter that its generation is durable (`Ok`), or that it never will be.
pub(super) type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

#[derive(Default)]
struct Requests {
    /// Set by `close` (or the store's drop): flush what is wanted, then stop.
    stop: bool,
    /// The answers waiting, each with its generation: the flusher flushes while any waits.
    answers: Vec<(u64, Answer)>,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests")
            .field("stop", &self.stop)
            .field("answers", &self.answers.len())
            .finish()
    }
}

/// What to do when a flush fails.
struct OnFailure(Option<Box<dyn FnOnce() + Send>>);

impl std::fmt::Debug for OnFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "OnFailure(set)"
        } else {
            "OnFailure(none)"
        })
    }
}

/// The state shared by writers and the flusher thread.
#[derive(Debug)]
pub(super) struct Committer {
    dir: PathBuf,
    /// The last committed (generation, seq), written by writers under the writer lock.
    committed: Mutex<(u64, u64)>,
    requests: Mutex<Requests>,
    /// Wakes the flusher.
    wake: Condvar,
    /// What is durable. Locked after `requests` when both are.
    durable: Mutex<Durable>,
    /// The durable head seq; readers and subscribers watch it. Shared with the store handle,
    /// so that watchers go on watching across a reopening after a failed write.
    head: Arc<watch::Sender<u64>>,
    /// Called once when a flush fails (not on a clean stop): the store reopens itself.
    on_failure: Mutex<OnFailure>,
    /// Flushes done, for tests and metrics.
    flushes: AtomicU64,
    /// sled's data file, opened once, to fdatasync after each flush (see [`Committer::sync`]).
    db_file: Mutex<Option<File>>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain counters).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Committer {
    #[cfg(test)]
    pub(super) fn new(dir: PathBuf, generation: u64, head: u64) -> Arc<Self> {
        Committer::sharing(
            dir,
            generation,
            head,
            Arc::new(watch::Sender::new(head)),
            None,
        )
    }

    /// A committer that publishes its durable head on `watch` (which may already be ahead of
    /// `head`: it never moves back), and calls `on_failure` if a flush fails.
    pub(super) fn sharing(
        dir: PathBuf,
        generation: u64,
        head: u64,
        watch: Arc<watch::Sender<u64>>,
        on_failure: Option<Box<dyn FnOnce() + Send>>,
    ) -> Arc<Self> {
        watch.send_if_modified(|h| {
            let moved = head > *h;
            *h = (*h).max(head);
            moved
        });
        Arc::new(Committer {
            dir,
            committed: Mutex::new((generation, head)),
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
            durable: Mutex::new(Durable {
                generation,
                failed: None,
            }),
            head: watch,
            on_failure: Mutex::new(OnFailure(on_failure)),
            flushes: AtomicU64::new(0),
            db_file: Mutex::new(None),
        })
    }

    /// Records a committed transaction. Called under the writer lock, so the pair only grows.
    pub(super) fn committed(&self, generation: u64, seq: u64) {
        *lock(&self.committed) = (generation, seq);
    }

    /// The last committed generation: it moves with every write transaction.
    pub(super) fn generation(&self) -> u64 {
        lock(&self.committed).0
    }

    /// How many flushes the store has done.
    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// The durable head.
    pub(super) fn head(&self) -> u64 {
        *self.head.borrow()
    }

    /// The error a writer gets once a flush has failed or the store is closed.
    pub(super) fn failure(&self) -> Option<StoreError> {
        lock(&self.durable)
            .failed
            .clone()
            .map(|detail| self.closed(&detail))
    }

    /// Leaves `answer` to be called once generation `g` is durable (with the error instead if
    /// nothing more will become durable), and wakes the flusher for it. Calls it at once, on
    /// this thread, when `g` is durable already or nothing more will be.
    pub(super) fn answer_when_durable(&self, g: u64, answer: Answer) {
        let result = {
            let mut r = lock(&self.requests);
            let d = lock(&self.durable);
            if d.generation >= g {
                Ok(())
            } else if let Some(detail) = &d.failed {
                Err(self.closed(detail))
            } else {
                drop(d);
                r.answers.push((g, answer));
                drop(r);
                self.wake.notify_one();
                return;
            }
        };
        answer(result);
    }

    /// Waits until generation `g` is durable (group commit). Returns at once if it already is.
    pub(super) async fn wait(&self, g: u64) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.answer_when_durable(
            g,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.await.map_err(|_| self.closed("the flusher stopped"))?
    }

    /// Sends the answers whose generation is durable; once nothing more will be, all the rest
    /// with that error.
    fn send_answers(&self) {
        let (durable, failure) = {
            let d = lock(&self.durable);
            (
                d.generation,
                d.failed.as_deref().map(|detail| self.closed(detail)),
            )
        };
        let due: Vec<(u64, Answer)> = {
            let mut r = lock(&self.requests);
            let (due, left) = std::mem::take(&mut r.answers)
                .into_iter()
                .partition(|(g, _)| *g <= durable || failure.is_some());
            r.answers = left;
            due
        };
        for (g, answer) in due {
            match &failure {
                Some(e) if g > durable => answer(Err(e.copy())),
                _ => answer(Ok(())),
            }
        }
    }

    fn closed(&self, detail: &str) -> StoreError {
        StoreError::Closed {
            dir: self.dir.clone(),
            detail: detail.to_string(),
        }
    }

    /// Publishes a durable (generation, seq), after a flush that began after they committed.
    /// The head moves first: a writer woken by the generation must find its seq readable.
    fn publish(&self, generation: u64, seq: u64) {
        self.head.send_if_modified(|h| {
            let moved = seq > *h;
            *h = (*h).max(seq);
            moved
        });
        let mut d = lock(&self.durable);
        d.generation = d.generation.max(generation);
    }

    /// Records that nothing more will become durable, and answers everyone waiting.
    fn fail(&self, detail: String) {
        lock(&self.durable).failed.get_or_insert(detail);
        self.send_answers();
    }

    /// Fails the store after a write into sled failed: sled keeps such an error and fails
    /// every later write with it, so nothing but a reopen brings the store back. What waits
    /// is answered with the failure, the store reopens itself (as after a failed flush), and
    /// the flusher stops, letting go of its handle on sled.
    pub(super) fn fail_write(&self, detail: String) {
        self.fail(detail);
        if let Some(reopen) = lock(&self.on_failure).0.take() {
            tracing::error!(dir = %self.dir.display(), "a write failed: the store takes no more writes until it is reopened");
            reopen();
        }
        self.stop();
    }

    /// Flushes now, on the caller's thread (flush-per-message mode, release and expiry
    /// batches), and publishes what that flush covered.
    pub(super) fn flush_now(&self, db: &sled::Db, marker: &Marker) -> Result<(), StoreError> {
        let (g, seq) = *lock(&self.committed);
        self.flushes.fetch_add(1, Ordering::Relaxed);
        match db
            .flush()
            .map_err(|e| StoreError::sled(&self.dir, e))
            .and_then(|_| self.sync())
        {
            Ok(()) => {
                marker.record(seq);
                self.publish(g, seq);
                self.send_answers();
                Ok(())
            }
            Err(err) => {
                self.fail(err.to_string());
                Err(err)
            }
        }
    }

    /// On Linux, sled's flush writes with `sync_file_range`, which survives a crash of the
    /// process but not a power cut (the drive's cache and the file's metadata are not
    /// flushed). An fdatasync of the data file after each flush makes *accepted* survive
    /// both; with group commit it costs one call per group, not per message.
    fn sync(&self) -> Result<(), StoreError> {
        let mut file = lock(&self.db_file);
        if file.is_none() {
            let path = self.dir.join("db");
            *file = Some(File::open(&path).map_err(|e| StoreError::io(&self.dir, e))?);
        }
        match file.as_ref() {
            Some(f) => f.sync_data().map_err(|e| StoreError::io(&self.dir, e)),
            None => Ok(()),
        }
    }

    /// Asks the flusher to flush what is wanted and stop.
    pub(super) fn stop(&self) {
        lock(&self.requests).stop = true;
        self.wake.notify_one();
    }

    /// The flusher thread's loop.
    pub(super) fn run(self: Arc<Self>, db: sled::Db, marker: Arc<Marker>) {
        loop {
            let stopping = {
                let mut r = lock(&self.requests);
                loop {
                    let durable = lock(&self.durable).generation;
                    if r.stop || r.answers.iter().any(|(g, _)| *g > durable) {
                        break;
                    }
                    r = self.wake.wait(r).unwrap_or_else(|p| p.into_inner());
                }
                r.stop
            };
            let failed = self.flush_now(&db, &marker).is_err();
            if failed {
                tracing::error!(dir = %self.dir.display(), "a flush failed: the store takes no more writes until it is reopened");
                drop(db);
                if let Some(reopen) = lock(&self.on_failure).0.take() {
                    reopen();
                }
                return;
            }
            if stopping {
                // An empty detail: closed on purpose, not by an error.
                self.fail(String::new());
                return;
            }
        }
    }
}

/// The file `tocsin-store` beside sled's files: the store's id and the highest seq ever made
/// durable. On open, a database that recovers to a lower seq has lost acknowledged messages
/// (sled treats a damaged log tail as a torn write and silently stops there), and is refused.
///
/// It is rewritten in place after each flush, without an fsync of its own: after a crash of
/// the process the kernel still has it, and after a power cut it can only be older (lower),
/// which is safe.
#[derive(Debug)]
pub(super) struct Marker {
    file: Mutex<File>,
    store_id: String,
}

/// `tocsin-store v1 id=<32 hex> head=<20 digits>\n`: fixed length, so in-place rewrites
/// never leave a tail behind.
pub(super) const MARKER_FILE: &str = "tocsin-store";

impl Marker {
    pub(super) fn line(store_id: &str, head: u64) -> String {
        format!("tocsin-store v1 id={store_id} head={head:020}\n")
    }

    /// Parses a marker: (store id, head).
    pub(super) fn parse(text: &str) -> Option<(String, u64)> {
        let rest = text.strip_prefix("tocsin-store v1 id=")?;
        let (id, rest) = rest.split_once(" head=")?;
        let head = rest.trim_end().parse().ok()?;
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some((id.to_string(), head))
    }

    pub(super) fn new(file: File, store_id: String) -> Self {
        Marker {
            file: Mutex::new(file),
            store_id,
        }
    }

    /// The store's id (32 hex digits).
    pub(super) fn store_id(&self) -> &str {
        &self.store_id
    }

    /// Rewrites the marker with a new durable head. A failure is logged, not fatal: the
    /// marker is a check, the data is in sled.
    pub(super) fn record(&self, head: u64) {
        let line = Marker::line(&self.store_id, head);
        let mut f = lock(&self.file);
        let r = f
            .seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(line.as_bytes()));
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not update the store marker");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A committer on a fresh database, and a channel its answers report on.
    struct Fixture {
        dir: tempfile::TempDir,
        commit: Arc<Committer>,
        db: sled::Db,
        marker: Arc<Marker>,
        tx: mpsc::Sender<(Result<(), String>, u64)>,
        rx: mpsc::Receiver<(Result<(), String>, u64)>,
    }

    fn setup() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let file = File::create(dir.path().join(MARKER_FILE)).unwrap();
        let marker = Arc::new(Marker::new(file, "0".repeat(32)));
        let commit = Committer::new(dir.path().to_path_buf(), 0, 0);
        let (tx, rx) = mpsc::channel();
        Fixture {
            dir,
            commit,
            db,
            marker,
            tx,
            rx,
        }
    }

    impl Fixture {
        /// Waits for generation `g` with an answer that reports what it was called with, and
        /// the durable head at that moment.
        fn ask(&self, g: u64) {
            let (tx, commit) = (self.tx.clone(), self.commit.clone());
            self.commit.answer_when_durable(
                g,
                Box::new(move |r| {
                    let _ = tx.send((r.map_err(|e| e.to_string()), commit.head()));
                }),
            );
        }
    }

    #[test]
    fn answers_wait_for_the_flush_that_covers_them() {
        let f = setup();
        f.commit.committed(1, 10);
        f.ask(1);
        assert!(f.rx.try_recv().is_err(), "answered before any flush");
        f.commit.flush_now(&f.db, &f.marker).unwrap();
        // The head had moved when the answer was sent: the publisher can read its message.
        assert_eq!(f.rx.try_recv(), Ok((Ok(()), 10)));
        // Durable already: answered at once, on this thread.
        f.ask(1);
        assert_eq!(f.rx.try_recv(), Ok((Ok(()), 10)));
        // A later generation waits for the next flush, which the request wakes.
        let flusher = {
            let (commit, db, marker) = (f.commit.clone(), f.db.clone(), f.marker.clone());
            std::thread::spawn(move || commit.run(db, marker))
        };
        f.commit.committed(2, 11);
        f.ask(2);
        assert_eq!(f.rx.recv_timeout(Duration::from_secs(10)), Ok((Ok(()), 11)));
        f.commit.stop();
        flusher.join().unwrap();
        // The flusher is gone: an answer fails at once instead of waiting forever.
        f.commit.committed(3, 12);
        f.ask(3);
        assert!(
            matches!(f.rx.try_recv(), Ok((Err(_), _))),
            "answered Ok after the stop"
        );
    }

    #[test]
    fn a_stop_answers_what_it_flushed_and_fails_the_rest() {
        let f = setup();
        f.commit.committed(1, 10);
        f.ask(1);
        // Not committed when the last flush begins: it cannot be acknowledged.
        f.ask(2);
        f.commit.stop();
        f.commit.clone().run(f.db.clone(), f.marker.clone());
        assert_eq!(f.rx.try_recv(), Ok((Ok(()), 10)));
        assert!(matches!(f.rx.try_recv(), Ok((Err(_), _))));
        assert!(f.rx.try_recv().is_err(), "answered twice");
    }

    #[test]
    fn a_failed_flush_fails_what_waits_and_what_comes_after() {
        let f = setup();
        f.commit.committed(1, 10);
        f.ask(1);
        // The fdatasync after sled's flush opens the data file by name: without it, it fails.
        std::fs::remove_file(f.dir.path().join("db")).unwrap();
        assert!(f.commit.flush_now(&f.db, &f.marker).is_err());
        assert!(
            matches!(f.rx.try_recv(), Ok((Err(_), 0))),
            "acknowledged a failed flush"
        );
        f.commit.committed(2, 11);
        f.ask(2);
        assert!(
            matches!(f.rx.try_recv(), Ok((Err(_), 0))),
            "left waiting after a failure"
        );
    }
}
