//! The store's async read API: every read an async task makes runs on a bounded pool of blocking
//! threads, so a slow disk costs at most that many threads and never a runtime worker.
//!
//! The store's reads are synchronous (sled and the body log block on the disk). Called on the
//! async runtime, a read that waits for the disk stalls the worker it runs on, every task queued
//! behind it with it, and any timeout its caller set: the timer is never polled. [`Reads`] runs
//! the read on a blocking thread instead and awaits its answer, so the caller's timeout can fire
//! and the runtime goes on answering other calls meanwhile.
//!
//! The pool is bounded ([`ReadLimits::threads`], `store.read_threads`): a read first takes a
//! slot, in the order reads asked, then runs. A read that cannot get a slot within
//! [`ReadLimits::wait`] is refused with [`StoreError::Busy`] (`unavailable` to clients) without
//! doing the work, and so is one whose caller went away before it started (a timeout, a client
//! gone): nothing reads the disk for an answer no one waits for. A read already running is not
//! interrupted; its slot comes back when it ends.
//!
//! Writes do not come here: they go to the store's writer thread and are awaited already.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use super::{Counts, Entry, ItemSet, KeyState, MessageState, Store, StoreError, View};
use crate::message::{AuthorKey, Filter, Id, Message};

/// How the store's async reads share the blocking threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Reads running at once, each on a blocking thread: what a slow disk can cost at most.
    pub threads: usize,
    /// How long a read waits for a thread before it is refused as busy.
    pub wait: Duration,
}

impl Default for ReadLimits {
    /// Four threads: sized for a small machine (two cores), where a read usually finds its rows
    /// in sled's cache and a thread waiting for the disk uses no core.
    fn default() -> Self {
        ReadLimits {
            threads: 4,
            wait: Duration::from_secs(10),
        }
    }
}

/// The store's reads for async callers, on a bounded pool of blocking threads (see the module
/// header). Cheap to clone: every clone shares the pool.
#[derive(Debug, Clone)]
pub struct Reads {
    store: Store,
    pool: Arc<Pool>,
}

/// What the read pool is doing, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadStats {
    /// Reads waiting for a thread now.
    pub queued: usize,
    /// Reads running now.
    pub running: usize,
    /// Reads refused since the node started because no thread was free within the wait.
    pub busy: u64,
    /// Reads given a thread after their caller went away, and so never run.
    pub abandoned: u64,
}

#[derive(Debug)]
struct Pool {
    limits: ReadLimits,
    /// One permit per thread a read may run on; fair, so reads start in the order they asked.
    slots: Arc<Semaphore>,
    queued: AtomicUsize,
    running: AtomicUsize,
    busy: AtomicU64,
    abandoned: AtomicU64,
    /// Holds reads as they start (tests of the bound and of timeouts).
    #[cfg(test)]
    hold: Arc<hold::Hold>,
}

/// Counts one read in a gauge while it is alive.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn enter(gauge: &'a AtomicUsize) -> Counted<'a> {
        gauge.fetch_add(1, Relaxed);
        Counted(gauge)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Reads {
    /// Reads of `store` on a pool bounded by `limits` (at least one thread).
    pub fn new(store: Store, limits: ReadLimits) -> Reads {
        let limits = ReadLimits {
            threads: limits.threads.max(1),
            ..limits
        };
        Reads {
            store,
            pool: Arc::new(Pool {
                limits,
                slots: Arc::new(Semaphore::new(limits.threads)),
                queued: AtomicUsize::new(0),
                running: AtomicUsize::new(0),
                busy: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
                #[cfg(test)]
                hold: Arc::default(),
            }),
        }
    }

    /// The store these reads are of (for what needs no disk: the head, its watch).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The pool's bounds.
    pub fn limits(&self) -> ReadLimits {
        self.pool.limits
    }

    /// What the pool is doing now, and what it refused.
    pub fn stats(&self) -> ReadStats {
        ReadStats {
            queued: self.pool.queued.load(Relaxed),
            running: self.pool.running.load(Relaxed),
            busy: self.pool.busy.load(Relaxed),
            abandoned: self.pool.abandoned.load(Relaxed),
        }
    }

    /// Runs `read` against the store on one of the pool's threads and returns its answer.
    ///
    /// `read` may make several of the store's synchronous reads (a gateway snapshot, a node's
    /// status); it must not wait for anything but the store, since it holds a thread of the
    /// pool meanwhile. Refused with [`StoreError::Busy`] when no thread is free within
    /// [`ReadLimits::wait`]; not run at all when the returned future is dropped first.
    pub async fn run<T, E, F>(&self, read: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Store) -> Result<T, E> + Send + 'static,
    {
        let slot = {
            let _queued = Counted::enter(&self.pool.queued);
            let waited = tokio::time::timeout(
                self.pool.limits.wait,
                Arc::clone(&self.pool.slots).acquire_owned(),
            )
            .await;
            match waited {
                Ok(Ok(slot)) => slot,
                // The semaphore is never closed, so only the wait can end this way in practice;
                // either way there is no thread to run on.
                Ok(Err(_)) | Err(_) => {
                    self.pool.busy.fetch_add(1, Relaxed);
                    return Err(StoreError::Busy {
                        dir: self.store.dir().to_path_buf(),
                        threads: self.pool.limits.threads,
                        waited: self.pool.limits.wait,
                    }
                    .into());
                }
            }
        };
        let (answer, answered) = oneshot::channel();
        let store = self.store.clone();
        let pool = Arc::clone(&self.pool);
        // Detached: the caller waits on `answered`, which a timeout can drop, not on the thread.
        drop(tokio::task::spawn_blocking(move || {
            if answer.is_closed() {
                pool.abandoned.fetch_add(1, Relaxed);
                return;
            }
            let running = Counted::enter(&pool.running);
            #[cfg(test)]
            pool.hold.pass();
            let result = read(&store);
            // The thread is free before the caller hears: what it then sees of the pool
            // no longer counts this read.
            drop(running);
            drop(slot);
            let _ = answer.send(result);
        }));
        match answered.await {
            Ok(result) => result,
            // The read panicked (a bug, logged by the panic hook), or the runtime is shutting
            // down and refused the thread: either way there is no answer, and nothing was
            // written.
            Err(_) => Err(StoreError::Closed {
                dir: self.store.dir().to_path_buf(),
                detail: "a read ended without an answer".to_string(),
            }
            .into()),
        }
    }

    /// [`Store::read`] on the pool: entries with seq > `since`, at most `limit`, and the seq up
    /// to which the log was examined.
    pub async fn read(
        &self,
        since: u64,
        filter: &Filter,
        view: &View,
        limit: usize,
    ) -> Result<(Vec<Entry>, u64), StoreError> {
        let (filter, view) = (filter.clone(), view.clone());
        self.run(move |store| store.read(since, &filter, &view, limit))
            .await
    }

    /// [`Store::get`] on the pool: a message and its state, as readers may see it. An id the
    /// in-memory filter of held ids has never seen is answered at once, without a thread (it
    /// would find nothing on disk either): asking for ids that do not exist costs no disk.
    pub async fn get(&self, id: &Id) -> Result<Option<MessageState>, StoreError> {
        if !self.store.may_hold(id)? {
            return Ok(None);
        }
        let id = *id;
        self.run(move |store| store.get(&id)).await
    }

    /// [`Store::key_state`] on the pool.
    pub async fn key_state(&self, key: &AuthorKey) -> Result<KeyState, StoreError> {
        let key = *key;
        self.run(move |store| store.key_state(&key)).await
    }

    /// [`Store::reader_head`] on the pool.
    pub async fn reader_head(&self) -> Result<u64, StoreError> {
        self.run(|store| store.reader_head()).await
    }

    /// [`Store::counts`] on the pool.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        self.run(|store| store.counts()).await
    }

    /// [`Store::items`] on the pool: the items `view` may see. A set still current is answered
    /// at once, without a thread.
    pub async fn items(&self, view: &View) -> Result<ItemSet, StoreError> {
        if let Some(set) = self.store.items_cached(view) {
            return Ok(set);
        }
        let view = view.clone();
        self.run(move |store| store.items(&view)).await
    }

    /// [`Store::item_message`] of each id on the pool, in order: what `view` may be sent.
    pub async fn item_messages(
        &self,
        ids: Vec<Id>,
        view: &View,
    ) -> Result<Vec<(Id, Option<Message>)>, StoreError> {
        let view = view.clone();
        self.run(move |store| {
            ids.into_iter()
                .map(|id| Ok((id, store.item_message(&id, &view)?)))
                .collect()
        })
        .await
    }

    /// Holds the next `reads` reads as they start, on their threads, until the returned
    /// guard releases them or is dropped (tests).
    #[cfg(test)]
    pub(crate) fn hold_next(&self, reads: usize) -> hold::Holding {
        self.pool.hold.arm(reads);
        hold::Holding(Arc::clone(&self.pool.hold))
    }
}

/// A test hook: holds reads on their threads, so a test can make a read as slow as it likes
/// without timing anything.
#[cfg(test)]
pub(crate) mod hold {
    use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    use std::time::Duration;

    /// Reads held by a test: released when dropped, so a failing test leaves no thread held
    /// (the runtime waits for its blocking threads when it shuts down).
    #[derive(Debug)]
    pub(crate) struct Holding(pub(super) Arc<Hold>);

    impl std::ops::Deref for Holding {
        type Target = Hold;
        fn deref(&self) -> &Hold {
            &self.0
        }
    }

    impl Holding {
        /// Waits, off the runtime's threads, until `reads` reads are held (false if they never
        /// come).
        pub(crate) async fn until_held(&self, reads: usize) -> bool {
            let hold = Arc::clone(&self.0);
            tokio::task::spawn_blocking(move || hold.wait_held(reads))
                .await
                .unwrap_or(false)
        }
    }

    impl Drop for Holding {
        fn drop(&mut self) {
            self.0.release();
        }
    }

    /// Holds the next reads that start until [`Hold::release`].
    #[derive(Debug, Default)]
    pub(crate) struct Hold {
        state: Mutex<State>,
        changed: Condvar,
    }

    #[derive(Debug, Default)]
    struct State {
        /// Reads still to hold as they start.
        to_hold: usize,
        /// Reads held now.
        held: usize,
        /// Held reads let go.
        released: bool,
    }

    /// How long a test waits for reads to reach the hold before it gives up (a bound on a
    /// broken test, not a timing the test depends on).
    const PATIENCE: Duration = Duration::from_secs(30);

    impl Hold {
        fn lock(&self) -> MutexGuard<'_, State> {
            self.state.lock().unwrap_or_else(|p| p.into_inner())
        }

        pub(super) fn arm(&self, reads: usize) {
            let mut s = self.lock();
            s.to_hold = reads;
            s.released = false;
        }

        /// Called by a read on its thread as it starts.
        pub(super) fn pass(&self) {
            let mut s = self.lock();
            if s.to_hold == 0 {
                return;
            }
            s.to_hold -= 1;
            s.held += 1;
            self.changed.notify_all();
            while !s.released {
                s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            s.held -= 1;
            self.changed.notify_all();
        }

        /// Reads held now.
        pub(crate) fn held(&self) -> usize {
            self.lock().held
        }

        /// Blocks until `reads` reads are held (false if they never come). Call it on a
        /// blocking thread (see [`Holding::until_held`]): the reads need the runtime to reach
        /// the pool.
        fn wait_held(&self, reads: usize) -> bool {
            let s = self.lock();
            let (s, _) = self
                .changed
                .wait_timeout_while(s, PATIENCE, |s| s.held < reads)
                .unwrap_or_else(|p| p.into_inner());
            s.held >= reads
        }

        /// Lets every held read go on, and holds no more.
        pub(crate) fn release(&self) {
            let mut s = self.lock();
            s.released = true;
            s.to_hold = 0;
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests;
