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
//! Inserts are answered by the flusher itself: the writer leaves each group's answers with it
//! ([`Committer::answer_when_durable`]) and a publisher is woken once, when its message is
//! durable. Other writes (release, retention) ask for their generation and wait on a watch
//! ([`Committer::wait`]).
//!
//! Architecture Invariant: the durable head never passes a seq whose transaction was not
//! flushed, and readers never read past the durable head (a seq not yet flushed could be
//! handed out again after a crash).

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

use super::StoreError;

/// What the flusher has made durable.
#[derive(Debug, Clone, Default)]
pub(super) struct Durable {
    /// Every transaction with a generation up to this one is on disk.
    pub(super) gen_: u64,
    /// Set when a flush failed: nothing more will become durable.
    pub(super) failed: Option<String>,
}

/// Sends a group's answers: `Ok` once its generation is durable, the error otherwise.
pub(super) type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

#[derive(Default)]
struct Requests {
    /// The highest generation a writer waits for.
    wanted: u64,
    /// Set by `close` (or the store's drop): flush what is wanted, then stop.
    stop: bool,
    /// Set by the flusher when it stops: answers left from then on fail at once.
    stopped: bool,
    /// Answers to send once their generation is durable, in generation order.
    answers: std::collections::VecDeque<(u64, Answer)>,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests")
            .field("wanted", &self.wanted)
            .field("stop", &self.stop)
            .field("stopped", &self.stopped)
            .field("answers", &self.answers.len())
            .finish()
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
    /// What is durable; writers wait on it.
    durable: watch::Sender<Durable>,
    /// The durable head seq; readers and subscribers watch it.
    head: watch::Sender<u64>,
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
    pub(super) fn new(dir: PathBuf, gen_: u64, head: u64) -> Arc<Self> {
        Arc::new(Committer {
            dir,
            committed: Mutex::new((gen_, head)),
            requests: Mutex::new(Requests::default()),
            wake: Condvar::new(),
            durable: watch::Sender::new(Durable { gen_, failed: None }),
            head: watch::Sender::new(head),
            flushes: AtomicU64::new(0),
            db_file: Mutex::new(None),
        })
    }

    /// Records a committed transaction. Called under the writer lock, so the pair only grows.
    pub(super) fn committed(&self, gen_: u64, seq: u64) {
        *lock(&self.committed) = (gen_, seq);
    }

    /// How many flushes the store has done.
    pub(super) fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// The durable head.
    pub(super) fn head(&self) -> u64 {
        *self.head.borrow()
    }

    pub(super) fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// The error a writer gets once a flush has failed or the store is closed.
    pub(super) fn failure(&self) -> Option<StoreError> {
        self.durable
            .borrow()
            .failed
            .clone()
            .map(|detail| StoreError::Closed {
                dir: self.dir.clone(),
                detail,
            })
    }

    /// Leaves `answer` to be called once generation `g` is durable (with the error instead if
    /// nothing more will become durable), and asks for a flush. Calls it at once, on this
    /// thread, when `g` is durable already or the flusher has stopped.
    pub(super) fn answer_when_durable(&self, g: u64, answer: Answer) {
        let result = {
            let mut r = lock(&self.requests);
            if self.durable.borrow().gen_ >= g {
                Ok(())
            } else if r.stopped {
                Err(self
                    .failure()
                    .unwrap_or_else(|| self.closed("the flusher stopped")))
            } else {
                r.wanted = r.wanted.max(g);
                r.answers.push_back((g, answer));
                drop(r);
                self.wake.notify_one();
                return;
            }
        };
        answer(result);
    }

    /// Sends the answers whose generation is durable; all the rest with `failed` when set.
    fn send_answers(&self, failed: Option<&StoreError>) {
        let due: Vec<(u64, Answer)> = {
            let mut r = lock(&self.requests);
            if failed.is_some() {
                r.stopped = true;
                r.answers.drain(..).collect()
            } else {
                let durable = self.durable.borrow().gen_;
                let n = r.answers.iter().take_while(|(g, _)| *g <= durable).count();
                r.answers.drain(..n).collect()
            }
        };
        let durable = self.durable.borrow().gen_;
        for (g, answer) in due {
            match failed {
                Some(e) if g > durable => answer(Err(e.copy())),
                _ => answer(Ok(())),
            }
        }
    }

    /// Waits until generation `g` is durable (group commit). Returns at once if it already is.
    pub(super) async fn wait(&self, g: u64) -> Result<(), StoreError> {
        {
            let d = self.durable.borrow();
            if d.gen_ >= g {
                return Ok(());
            }
        }
        {
            let mut r = lock(&self.requests);
            r.wanted = r.wanted.max(g);
        }
        self.wake.notify_one();
        let mut rx = self.durable.subscribe();
        let d = rx
            .wait_for(|d| d.gen_ >= g || d.failed.is_some())
            .await
            .map_err(|_| self.closed("the flusher stopped"))?
            .clone();
        if d.gen_ >= g {
            Ok(())
        } else {
            Err(StoreError::Closed {
                dir: self.dir.clone(),
                detail: d.failed.unwrap_or_default(),
            })
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
    fn publish(&self, gen_: u64, seq: u64) {
        self.head.send_if_modified(|h| {
            let moved = seq > *h;
            *h = (*h).max(seq);
            moved
        });
        self.durable.send_modify(|d| d.gen_ = d.gen_.max(gen_));
    }

    fn fail(&self, detail: String) {
        self.durable.send_modify(|d| {
            d.failed.get_or_insert(detail);
        });
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
                self.send_answers(None);
                Ok(())
            }
            Err(err) => {
                self.fail(err.to_string());
                self.send_answers(Some(&err));
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
                    let durable = self.durable.borrow().gen_;
                    if r.wanted > durable || r.stop {
                        break;
                    }
                    r = self.wake.wait(r).unwrap_or_else(|p| p.into_inner());
                }
                r.stop
            };
            let failed = self.flush_now(&db, &marker).is_err();
            if failed {
                tracing::error!(dir = %self.dir.display(), "flush failed; the store accepts no more writes");
                return;
            }
            if stopping {
                // An empty detail: closed on purpose, not by an error.
                self.fail(String::new());
                self.send_answers(Some(&self.closed("")));
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

    fn setup() -> (tempfile::TempDir, Arc<Committer>, sled::Db, Arc<Marker>) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let file = File::create(dir.path().join(MARKER_FILE)).unwrap();
        let marker = Arc::new(Marker::new(file, "0".repeat(32)));
        let commit = Committer::new(dir.path().to_path_buf(), 0, 0);
        (dir, commit, db, marker)
    }

    /// An answer that reports what it was called with on a channel, and the durable head at
    /// that moment.
    fn answer(tx: &mpsc::Sender<(Result<(), String>, u64)>, commit: &Arc<Committer>) -> Answer {
        let (tx, commit) = (tx.clone(), commit.clone());
        Box::new(move |r| {
            let _ = tx.send((r.map_err(|e| e.to_string()), commit.head()));
        })
    }

    #[test]
    fn answers_wait_for_the_flush_that_covers_them() {
        let (_dir, commit, db, marker) = setup();
        let (tx, rx) = mpsc::channel();
        commit.committed(1, 10);
        commit.answer_when_durable(1, answer(&tx, &commit));
        assert!(rx.try_recv().is_err(), "answered before any flush");
        commit.flush_now(&db, &marker).unwrap();
        // The head had moved when the answer was sent: the publisher can read its message.
        assert_eq!(rx.try_recv(), Ok((Ok(()), 10)));
        // Durable already: answered at once, on this thread.
        commit.answer_when_durable(1, answer(&tx, &commit));
        assert_eq!(rx.try_recv(), Ok((Ok(()), 10)));
        // A later generation waits for the next flush, which the request wakes.
        let flusher = {
            let (commit, db, marker) = (commit.clone(), db.clone(), marker.clone());
            std::thread::spawn(move || commit.run(db, marker))
        };
        commit.committed(2, 11);
        commit.answer_when_durable(2, answer(&tx, &commit));
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok((Ok(()), 11)));
        commit.stop();
        flusher.join().unwrap();
        // The flusher is gone: an answer fails at once instead of waiting forever.
        commit.committed(3, 12);
        commit.answer_when_durable(3, answer(&tx, &commit));
        assert!(
            matches!(rx.try_recv(), Ok((Err(_), _))),
            "answered Ok after the stop"
        );
    }

    #[test]
    fn a_stop_answers_what_it_flushed_and_fails_the_rest() {
        let (_dir, commit, db, marker) = setup();
        let (tx, rx) = mpsc::channel();
        commit.committed(1, 10);
        commit.answer_when_durable(1, answer(&tx, &commit));
        // Not committed when the last flush begins: it cannot be acknowledged.
        commit.answer_when_durable(2, answer(&tx, &commit));
        commit.stop();
        commit.clone().run(db, marker);
        assert_eq!(rx.try_recv(), Ok((Ok(()), 10)));
        assert!(matches!(rx.try_recv(), Ok((Err(_), _))));
        assert!(rx.try_recv().is_err(), "answered twice");
    }

    #[test]
    fn a_failed_flush_fails_what_waits_and_what_comes_after() {
        let (dir, commit, db, marker) = setup();
        let (tx, rx) = mpsc::channel();
        commit.committed(1, 10);
        commit.answer_when_durable(1, answer(&tx, &commit));
        // The fdatasync after sled's flush opens the data file by name: without it, it fails.
        std::fs::remove_file(dir.path().join("db")).unwrap();
        assert!(commit.flush_now(&db, &marker).is_err());
        assert!(
            matches!(rx.try_recv(), Ok((Err(_), 0))),
            "acknowledged a failed flush"
        );
        commit.committed(2, 11);
        commit.answer_when_durable(2, answer(&tx, &commit));
        assert!(
            matches!(rx.try_recv(), Ok((Err(_), 0))),
            "left waiting after a failure"
        );
    }
}
