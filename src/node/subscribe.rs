//! Subscriptions: backfill from a cursor, a caught-up marker, then live, all read from the store;
//! their caps, and their queues bounded in bytes.
//!
//! Each subscription is a task that reads the store from its own cursor and puts what it read
//! in the subscription's queue. The queue is bounded in bytes of messages as well as in events,
//! and the task reads the store only when the queue has room, no more than that room holds: a
//! subscriber that does not read costs its queue and nothing more. The store keeps everything,
//! so nothing is skipped and ingest never waits for a reader. New entries are noticed through
//! the store's durable-head watch, so a subscriber never sees an entry that is not yet on disk.
//!
//! A queue that stays full for `limits.subscriber_stall` with nothing taken ends the
//! subscription: what was queued is dropped and the subscriber is told to resume from the last
//! entry it took, so it loses nothing. Subscriptions are capped per connection, per source
//! address and per node; of the node's slots, some are kept for authenticated peers, so no
//! number of readers can lock federation out.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Node, NodeError, Occupancy};
use crate::message::{AuthorKey, Filter};
use crate::store::{Entry, Reads, View};

/// The most entries read from the store at once (fewer when the queue has less room).
const READ_BATCH: usize = 256;

/// What an entry costs in the queue beyond its body: the signature and the framing around it.
const ENTRY_OVERHEAD: usize = 128;

/// What a marker (caught up, closing) costs in the queue.
const MARKER_BYTES: usize = 16;

/// The size of an entry assumed before any has been read: a typical alert.
const FIRST_ESTIMATE: usize = 2048;

/// What a subscriber asks for.
#[derive(Debug, Clone, Default)]
pub struct SubscribeSpec {
    /// Which messages.
    pub filter: Filter,
    /// Deliver entries with seq > since.
    pub since: u64,
    /// Set when the subscriber is a peer node following for federation: it gets nothing
    /// that came from itself.
    pub peer: Option<AuthorKey>,
    /// Whether the peer proved who it is (a client certificate from a CA this node trusts,
    /// or a plaintext node on loopback, where the operator trusts the machine). Only then
    /// does it get embargoed messages before their time, and the slots kept for peers.
    pub authenticated: bool,
    /// The connection the subscription came on (the client's socket address), for the caps
    /// per connection and per source address; `None` for a caller with no address.
    pub conn: Option<SocketAddr>,
}

/// One item of a subscription.
#[derive(Debug, Clone)]
pub enum SubEvent {
    /// A stored message at its seq.
    Delivery(Entry),
    /// Everything stored up to this seq has been sent; what follows is live.
    CaughtUp(u64),
    /// The node is shutting down; resume from this seq elsewhere or later.
    Closing(u64),
    /// The subscriber took nothing while its queue stayed full for `limits.subscriber_stall`:
    /// the subscription is ended, and the subscriber resumes from this seq (everything up to
    /// it was delivered).
    Stalled(u64),
}

/// Which cap refused a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscriberCap {
    /// The node's cap on subscriptions, peers included.
    #[error("this node serves {0} subscriptions already; try again later")]
    Node(usize),
    /// The slots readers may take (the rest are kept for authenticated peers).
    #[error(
        "this node serves {0} subscriptions for readers already (the rest are kept for its peers); try again later"
    )]
    Readers(usize),
    /// The cap per source address.
    #[error(
        "{0} subscriptions are open from this address already; close one before opening another"
    )]
    Address(usize),
    /// The cap per connection.
    #[error(
        "{0} subscriptions are open on this connection already; close one before opening another"
    )]
    Connection(usize),
    /// The cap per network (an IPv4 /24, an IPv6 /48): four addresses' worth.
    #[error(
        "{0} subscriptions are open from this network already; close one before opening another"
    )]
    Network(usize),
}

impl SubscriberCap {
    /// Its place in [`super::metrics::SubscriptionMetrics::CAPS`].
    fn index(self) -> usize {
        match self {
            SubscriberCap::Node(_) => 0,
            SubscriberCap::Readers(_) => 1,
            SubscriberCap::Address(_) => 2,
            SubscriberCap::Connection(_) => 3,
            SubscriberCap::Network(_) => 4,
        }
    }
}

/// The subscriptions open now, counted for the caps.
#[derive(Debug, Default)]
pub(super) struct Slots {
    state: Mutex<SlotCounts>,
}

#[derive(Debug, Default)]
struct SlotCounts {
    /// Every subscription, peers' included.
    total: usize,
    /// Readers' subscriptions (and unauthenticated peers') per connection.
    by_conn: Occupancy<SocketAddr>,
    /// The same per source address (an IPv6 /64: one host).
    by_addr: Occupancy<IpAddr>,
    /// The same per network (an IPv4 /24, an IPv6 /48).
    by_net: Occupancy<IpAddr>,
}

impl Slots {
    fn lock(&self) -> MutexGuard<'_, SlotCounts> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One subscription's place under the caps, given back when dropped (with the subscription's
/// receiving end: a subscription ended for a stalled reader holds its place until the client
/// reads to its end or goes away, since until then its stream is still open).
#[derive(Debug)]
struct Slot {
    node: Node,
    /// The connection it is counted under, if any (authenticated peers are counted only in
    /// the total).
    conn: Option<SocketAddr>,
}

/// A client's address and network, as the publishing budgets key them: an IPv6 host is its
/// /64 (one host commonly has a whole /64), its network a /48; an IPv4 network a /24 (IPv4
/// clients on a dual-stack socket arrive as IPv4-mapped IPv6 addresses: one key for both).
fn address_of(conn: SocketAddr) -> (IpAddr, IpAddr) {
    super::budget::address_keys(conn.ip())
}

/// The subscriptions one network may hold: four addresses' worth (one /24 held every
/// reader's slot with 31 addresses).
fn per_network(l: &crate::config::LimitsSection) -> usize {
    l.subscriptions_per_address.saturating_mul(4)
}

impl Slot {
    fn take(node: &Node, spec: &SubscribeSpec) -> Result<Slot, SubscriberCap> {
        let l = &node.config().limits;
        let peer = spec.peer.is_some() && spec.authenticated;
        let refused = |cap: SubscriberCap| {
            node.metrics().subscriptions.refused(cap.index());
            Err(cap)
        };
        let mut s = node.inner.subscriptions.lock();
        if s.total >= l.max_subscribers {
            return refused(SubscriberCap::Node(l.max_subscribers));
        }
        let readers = l.max_subscribers.saturating_sub(l.peer_subscriber_slots);
        if !peer && s.total >= readers {
            return refused(SubscriberCap::Readers(readers));
        }
        let conn = if peer { None } else { spec.conn };
        if let Some(conn) = conn {
            if s.by_conn.held(&conn) >= l.subscriptions_per_connection {
                return refused(SubscriberCap::Connection(l.subscriptions_per_connection));
            }
            let (addr, net) = address_of(conn);
            if s.by_addr.held(&addr) >= l.subscriptions_per_address {
                return refused(SubscriberCap::Address(l.subscriptions_per_address));
            }
            if s.by_net.held(&net) >= per_network(l) {
                return refused(SubscriberCap::Network(per_network(l)));
            }
            s.by_conn.take(conn);
            s.by_addr.take(addr);
            s.by_net.take(net);
        }
        s.total += 1;
        drop(s);
        node.metrics().subscriber_opened();
        Ok(Slot {
            node: node.clone(),
            conn,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = self.node.inner.subscriptions.lock();
        s.total = s.total.saturating_sub(1);
        if let Some(conn) = self.conn {
            let (addr, net) = address_of(conn);
            s.by_conn.give_back(&conn);
            s.by_addr.give_back(&addr);
            s.by_net.give_back(&net);
        }
        drop(s);
        self.node.metrics().subscriber_closed();
    }
}

type Item = Result<SubEvent, NodeError>;

/// A subscription's queue, between its task (the only producer) and its receiving end (the only
/// consumer). Bounded in events and in bytes; the event that ends a subscription is added
/// whatever the bounds, so it is never lost.
#[derive(Debug)]
struct Queue {
    state: Mutex<QueueState>,
    /// Wakes the receiving end: an event was queued, or the subscription ended.
    readable: Notify,
    /// Wakes the task: the receiving end took an event (there may be room), or went away.
    writable: Notify,
    /// The bound in bytes.
    max_bytes: usize,
    /// The bound in events.
    max_events: usize,
}

#[derive(Debug)]
struct QueueState {
    /// Each event with what it costs.
    events: VecDeque<(Item, usize)>,
    /// What the queued events cost together.
    bytes: usize,
    /// The cursor the subscriber holds: the seq of the last delivery or caught-up marker it
    /// took. Where it resumes if the subscription is ended for a stall.
    taken: u64,
    /// Events taken so far: the subscriber is reading while this moves.
    takes: u64,
    /// The task has ended: what is queued is the last of it.
    done: bool,
    /// The receiving end was dropped.
    gone: bool,
}

/// What the receiving end found in the queue.
enum Taken {
    /// The next event.
    Event(Item),
    /// Nothing yet.
    Nothing,
    /// Nothing more: the subscription has ended.
    Ended,
}

/// Why the task stopped waiting for room.
enum Blocked {
    /// The subscriber went away.
    Gone,
    /// The queue stayed full past the stall limit.
    Stalled,
}

impl Queue {
    /// An empty queue of at most `max_bytes` and `max_events`, for a subscriber that stands at
    /// `since`.
    fn new(max_bytes: usize, max_events: usize, since: u64) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                events: VecDeque::new(),
                bytes: 0,
                taken: since,
                takes: 0,
                done: false,
                gone: false,
            }),
            readable: Notify::new(),
            writable: Notify::new(),
            max_bytes: max_bytes.max(1),
            max_events: max_events.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `fits` holds for the queue's state, or the subscriber goes away, or it takes
    /// nothing for `stall`. Every event taken restarts the stall clock.
    async fn wait(
        &self,
        stall: Duration,
        fits: impl Fn(&QueueState) -> bool,
    ) -> Result<MutexGuard<'_, QueueState>, Blocked> {
        let mut deadline = Instant::now() + stall;
        let mut takes = None;
        loop {
            {
                let s = self.lock();
                if s.gone {
                    return Err(Blocked::Gone);
                }
                if fits(&s) {
                    return Ok(s);
                }
                if takes.is_some_and(|t| t != s.takes) {
                    deadline = Instant::now() + stall;
                }
                takes = Some(s.takes);
            }
            // `notify_one` keeps a permit when no one waits, so a take between the check above
            // and this wait still wakes it; the count of takes is what restarts the clock.
            tokio::select! {
                _ = self.writable.notified() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    if self.lock().takes == takes.unwrap_or_default() {
                        return Err(Blocked::Stalled);
                    }
                }
            }
        }
    }

    /// Waits until the queue has room, and returns how much: (bytes, events).
    async fn room(&self, stall: Duration) -> Result<(usize, usize), Blocked> {
        let s = self
            .wait(stall, |s| {
                s.bytes < self.max_bytes && s.events.len() < self.max_events
            })
            .await?;
        Ok((self.max_bytes - s.bytes, self.max_events - s.events.len()))
    }

    /// Waits until the queue is empty or no more than half full (in bytes and in events), and
    /// returns its room, as [`Queue::room`] does. The task reads the store for this room: a
    /// batch at a time while a reader works through a backlog, rather than an entry or two
    /// each time it takes some (each read is a trip to the store's read pool). A reader that
    /// keeps up finds its queue empty, and waits for nothing.
    ///
    /// A reader that takes nothing for `stall` meanwhile is not ended here: its queue is not
    /// full. The room left is read for, and the queue is ended only once it has stayed *full*
    /// for `stall` with nothing taken (`limits.subscriber_stall`, as documented).
    async fn room_to_read(&self, stall: Duration) -> Result<(usize, usize), Blocked> {
        let half_free = |s: &QueueState| {
            s.events.is_empty()
                || (s.bytes <= self.max_bytes / 2 && s.events.len() <= self.max_events / 2)
        };
        let waited = self.wait(stall, half_free).await.map(|s| {
            (
                self.max_bytes.saturating_sub(s.bytes),
                self.max_events.saturating_sub(s.events.len()),
            )
        });
        match waited {
            Err(Blocked::Stalled) => self.room(stall).await,
            other => other,
        }
    }

    /// Queues an event costing `bytes` once it fits (at once in an empty queue, whatever its
    /// size).
    async fn push(&self, event: SubEvent, bytes: usize, stall: Duration) -> Result<(), Blocked> {
        let mut s = self
            .wait(stall, |s| {
                s.events.is_empty()
                    || (s.bytes + bytes <= self.max_bytes && s.events.len() < self.max_events)
            })
            .await?;
        s.bytes += bytes;
        s.events.push_back((Ok(event), bytes));
        drop(s);
        self.readable.notify_one();
        Ok(())
    }

    /// Ends the subscription after what is queued, with `last` as its final item.
    fn finish(&self, last: Option<Item>) {
        let mut s = self.lock();
        if let Some(item) = last {
            s.events.push_back((item, 0));
        }
        s.done = true;
        drop(s);
        self.readable.notify_one();
    }

    /// Ends the subscription of a stalled reader: drops what is queued (the reader never took
    /// it) and tells it to resume after the last entry it took.
    fn end_stalled(&self) {
        let mut s = self.lock();
        s.events.clear();
        s.bytes = 0;
        let resume = s.taken;
        s.events.push_back((Ok(SubEvent::Stalled(resume)), 0));
        s.done = true;
        drop(s);
        self.readable.notify_one();
    }

    /// Takes the next event (the receiving end's side), noting where the subscriber stands.
    fn take(&self) -> Taken {
        let mut s = self.lock();
        let Some((item, bytes)) = s.events.pop_front() else {
            return if s.done { Taken::Ended } else { Taken::Nothing };
        };
        s.bytes = s.bytes.saturating_sub(bytes);
        s.takes += 1;
        match &item {
            Ok(SubEvent::Delivery(e)) => s.taken = e.seq,
            Ok(SubEvent::CaughtUp(seq)) => s.taken = *seq,
            _ => {}
        }
        drop(s);
        self.writable.notify_one();
        Taken::Event(item)
    }

    /// Resolves when the subscriber has gone away.
    async fn gone(&self) {
        loop {
            if self.lock().gone {
                return;
            }
            self.writable.notified().await;
        }
    }
}

/// The receiving end of a subscription. Dropping it ends the subscription's task and gives its
/// place under the caps back.
#[derive(Debug)]
pub struct Subscription {
    queue: Arc<Queue>,
    _slot: Slot,
}

impl Subscription {
    /// The next event; `None` once the subscription has ended.
    pub async fn recv(&mut self) -> Option<Result<SubEvent, NodeError>> {
        loop {
            match self.queue.take() {
                Taken::Event(item) => return Some(item),
                Taken::Ended => return None,
                Taken::Nothing => self.queue.readable.notified().await,
            }
        }
    }

    /// The events as a stream.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<SubEvent, NodeError>> + Send {
        futures::stream::unfold(self, |mut sub| async move {
            sub.recv().await.map(|event| (event, sub))
        })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.queue.lock().gone = true;
        self.queue.writable.notify_one();
    }
}

pub(super) fn open(node: &Node, spec: SubscribeSpec) -> Result<Subscription, NodeError> {
    if node.is_shutting_down() {
        return Err(NodeError::ShuttingDown);
    }
    let slot = Slot::take(node, &spec).map_err(NodeError::TooManySubscribers)?;
    let limits = &node.config().limits;
    let queue = Arc::new(Queue::new(
        limits.subscriber_buffer_kib.saturating_mul(1024),
        limits.subscriber_queue,
        spec.since,
    ));
    let task_node = node.clone();
    let task_queue = Arc::clone(&queue);
    node.spawn(async move {
        let last = run(&task_node, spec, &task_queue).await;
        match last {
            End::Stalled => {
                task_node.metrics().subscriptions.stalled();
                task_queue.end_stalled();
            }
            End::Finished(last) => task_queue.finish(last),
        }
    });
    Ok(Subscription { queue, _slot: slot })
}

/// How a subscription's task ended.
enum End {
    /// With this last item after what is queued (or none: the subscriber went away, the store
    /// closed).
    Finished(Option<Item>),
    /// The queue stayed full past the stall limit.
    Stalled,
}

impl From<Blocked> for End {
    fn from(b: Blocked) -> End {
        match b {
            Blocked::Gone => End::Finished(None),
            Blocked::Stalled => End::Stalled,
        }
    }
}

/// What an entry costs in the queue: its bytes as they go on the wire.
fn cost(entry: &Entry) -> usize {
    entry.message.signed().body().len() + ENTRY_OVERHEAD
}

/// The cursor as told to the subscriber (caught up, closing). A peer (`readers` false) is told
/// where its scan got to; anyone else no further than the readers' head, so the seq of an
/// arrival under embargo (which it skipped) is not given away. Resuming from there only scans
/// those entries again: their releases come later, under new seqs.
async fn cursor_to_tell(reads: &Reads, readers: bool, since: u64, cursor: u64) -> u64 {
    if !readers {
        return cursor;
    }
    match reads.reader_head().await {
        Ok(visible) => cursor.min(visible).max(since),
        Err(_) => since,
    }
}

async fn run(node: &Node, spec: SubscribeSpec, queue: &Queue) -> End {
    let reads = node.reads().clone();
    let stall = node.config().limits.subscriber_stall;
    let view = match (spec.peer, spec.authenticated) {
        (Some(peer), true) => View::Peer {
            exclude_origin: Some(peer.to_hex()),
        },
        (Some(peer), false) => View::UnauthenticatedPeer {
            exclude_origin: peer.to_hex(),
        },
        (None, _) => View::Reader,
    };
    let mut head_rx = reads.store().watch_head();
    let mut cursor = spec.since;
    let mut announced = false;
    let readers = !matches!(view, View::Peer { .. });
    let tell = |cursor: u64| cursor_to_tell(&reads, readers, spec.since, cursor);
    let closing =
        async |cursor: u64| End::Finished(Some(Ok(SubEvent::Closing(tell(cursor).await))));
    // What an entry is expected to cost, from those read so far: how many to read for the
    // room the queue has.
    let mut estimate = FIRST_ESTIMATE;
    let mut told = 0;
    loop {
        let head = *head_rx.borrow_and_update();
        let round_start = cursor;
        let mut delivered = false;
        // Drain everything up to the head we saw, reading only as the queue drains.
        while cursor < head {
            let before = cursor;
            let (room_bytes, room_events) = tokio::select! {
                room = queue.room_to_read(stall) => match room {
                    Ok(room) => room,
                    Err(blocked) => return blocked.into(),
                },
                _ = node.stopped() => return closing(cursor).await,
            };
            let limit = (room_bytes / estimate)
                .clamp(1, READ_BATCH)
                .min(room_events);
            // Read on the store's read pool: a slow disk holds one of its threads, not this
            // task's runtime thread, and a subscriber gone or a node stopping meanwhile does
            // not wait for it.
            let read = tokio::select! {
                read = reads.read(cursor, &spec.filter, &view, limit) => read,
                _ = node.stopped() => return closing(cursor).await,
                _ = queue.gone() => return End::Finished(None),
            };
            let (mut entries, scanned_to) = match read {
                Ok(r) => r,
                Err(e) => return End::Finished(Some(Err(e.into()))),
            };
            // Keep no more than the room holds (the first entry always: it goes alone into an
            // empty queue, whatever its size). What is left is read again when there is room,
            // from the store's cache of recent messages as a rule.
            let mut fits = 0;
            let mut bytes = 0;
            for e in &entries {
                let c = cost(e);
                estimate = (estimate * 3 + c) / 4;
                if fits > 0 && bytes + c > room_bytes {
                    break;
                }
                bytes += c;
                fits += 1;
            }
            let all = fits == entries.len();
            entries.truncate(fits);
            for entry in entries {
                let (seq, bytes) = (entry.seq, cost(&entry));
                tokio::select! {
                    pushed = queue.push(SubEvent::Delivery(entry), bytes, stall) => {
                        if let Err(blocked) = pushed {
                            return blocked.into();
                        }
                    }
                    _ = node.stopped() => return closing(cursor).await,
                }
                cursor = seq;
                delivered = true;
            }
            if all {
                cursor = cursor.max(scanned_to);
            }
            if cursor == before {
                // The store made no progress below the head it announced; wait for more.
                break;
            }
        }
        let mark = if !announced {
            announced = true;
            Some(tell(cursor).await)
        } else if spec.peer.is_some() && !delivered && cursor > round_start {
            // A peer's follower keeps a durable cursor: tell it when the log moved past
            // entries it does not get (its own, echoed back), so its cursor follows.
            Some(tell(cursor).await).filter(|&mark| mark > told)
        } else {
            None
        };
        if let Some(mark) = mark {
            told = mark;
            tokio::select! {
                pushed = queue.push(SubEvent::CaughtUp(mark), MARKER_BYTES, stall) => {
                    if let Err(blocked) = pushed {
                        return blocked.into();
                    }
                }
                _ = node.stopped() => return closing(cursor).await,
            }
        }
        tokio::select! {
            changed = head_rx.changed() => {
                if changed.is_err() {
                    return End::Finished(None); // the store closed
                }
            }
            _ = node.stopped() => return closing(cursor).await,
            _ = queue.gone() => return End::Finished(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short, so a stall is seen quickly; the outcomes below do not depend on timing (nothing
    /// takes from the queue while a push waits).
    const STALL: Duration = Duration::from_millis(50);

    fn taken(q: &Queue) -> SubEvent {
        match q.take() {
            Taken::Event(Ok(e)) => e,
            Taken::Event(Err(e)) => panic!("an error: {e}"),
            Taken::Nothing => panic!("nothing queued"),
            Taken::Ended => panic!("ended"),
        }
    }

    #[tokio::test]
    async fn a_queue_holds_no_more_bytes_than_its_bound_and_a_stalled_reader_resumes_where_it_stood()
     {
        let q = Queue::new(1000, 100, 3);
        assert!(q.push(SubEvent::CaughtUp(4), 600, STALL).await.is_ok());
        assert!(q.push(SubEvent::CaughtUp(5), 300, STALL).await.is_ok());
        // 900 of 1000 bytes: room for 100, not for 200.
        assert_eq!(q.room(STALL).await.ok(), Some((100, 98)));
        assert!(matches!(
            q.push(SubEvent::CaughtUp(6), 200, STALL).await,
            Err(Blocked::Stalled)
        ));
        assert_eq!(q.lock().bytes, 900);
        // Taking one makes room.
        assert!(matches!(taken(&q), SubEvent::CaughtUp(4)));
        assert!(q.push(SubEvent::CaughtUp(6), 200, STALL).await.is_ok());
        // Ended for a stall: what was queued is dropped, and the reader resumes after the
        // last event it took.
        q.end_stalled();
        assert!(matches!(taken(&q), SubEvent::Stalled(4)));
        assert!(matches!(q.take(), Taken::Ended));
        assert_eq!(q.lock().bytes, 0);
    }

    #[tokio::test]
    async fn the_store_is_read_again_once_the_queue_is_half_empty_not_at_each_take() {
        // A wait that would not end by itself: only a take (or a stall) ends it.
        const LONG: Duration = Duration::from_secs(3600);
        let q = Arc::new(Queue::new(1000, 100, 0));
        for n in 1..=4 {
            assert!(q.push(SubEvent::CaughtUp(n), 200, STALL).await.is_ok());
        }
        // 800 of 1000 bytes: room for 200, but no read for it yet.
        assert_eq!(q.room(STALL).await.ok(), Some((200, 96)));
        let waiting = {
            let q = Arc::clone(&q);
            tokio::spawn(async move { q.room_to_read(LONG).await.ok() })
        };
        tokio::task::yield_now().await;
        taken(&q);
        // 600 of 1000: more than half; still waiting.
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // 400 of 1000: a read, for all the room there is.
        taken(&q);
        let room = tokio::time::timeout(Duration::from_secs(30), waiting).await;
        assert_eq!(room.ok().and_then(Result::ok).flatten(), Some((600, 98)));
        // In events too: 2 of 3 queued is more than half, 1 of 3 is not.
        let q = Queue::new(1 << 20, 3, 0);
        for n in 1..=2 {
            assert!(q.push(SubEvent::CaughtUp(n), 1, STALL).await.is_ok());
        }
        taken(&q);
        assert_eq!(q.room_to_read(LONG).await.ok(), Some(((1 << 20) - 1, 2)));
        // An empty queue is read for at once.
        taken(&q);
        assert_eq!(q.room_to_read(LONG).await.ok(), Some((1 << 20, 3)));
    }

    #[tokio::test]
    async fn a_reader_that_stops_is_ended_only_once_its_queue_stays_full() {
        let q = Queue::new(1000, 100, 0);
        for n in 1..=3 {
            assert!(q.push(SubEvent::CaughtUp(n), 200, STALL).await.is_ok());
        }
        // More than half full and nothing taken for the stall limit: not ended, since the
        // queue is not full; the room left is read for.
        assert_eq!(q.room_to_read(STALL).await.ok(), Some((400, 97)));
        assert!(q.push(SubEvent::CaughtUp(4), 400, STALL).await.is_ok());
        // Full now, and still nothing taken: ended.
        assert!(matches!(q.room_to_read(STALL).await, Err(Blocked::Stalled)));
    }

    #[tokio::test]
    async fn an_event_larger_than_the_bound_goes_alone_into_an_empty_queue() {
        let q = Queue::new(1000, 100, 0);
        assert!(q.push(SubEvent::CaughtUp(1), 5000, STALL).await.is_ok());
        assert!(matches!(
            q.push(SubEvent::CaughtUp(2), 10, STALL).await,
            Err(Blocked::Stalled)
        ));
        assert!(matches!(q.room(STALL).await, Err(Blocked::Stalled)));
        assert!(matches!(taken(&q), SubEvent::CaughtUp(1)));
        assert!(q.push(SubEvent::CaughtUp(2), 10, STALL).await.is_ok());
    }

    #[tokio::test]
    async fn the_bound_in_events_holds_too_and_a_reader_gone_ends_the_wait() {
        let q = Arc::new(Queue::new(1 << 20, 2, 0));
        assert!(q.push(SubEvent::CaughtUp(1), 1, STALL).await.is_ok());
        assert!(q.push(SubEvent::CaughtUp(2), 1, STALL).await.is_ok());
        assert!(matches!(
            q.push(SubEvent::CaughtUp(3), 1, STALL).await,
            Err(Blocked::Stalled)
        ));
        // The receiving end goes away while the task waits for room: the wait ends at once.
        let waiter = {
            let q = Arc::clone(&q);
            tokio::spawn(async move { q.room(Duration::from_secs(3600)).await.is_err() })
        };
        q.lock().gone = true;
        q.writable.notify_one();
        let ended = tokio::time::timeout(Duration::from_secs(30), waiter).await;
        assert!(
            matches!(ended, Ok(Ok(true))),
            "the wait ended when the reader went away"
        );
    }
}
