//! The pipelined driver: one loop that feeds batches through ingest with several in flight,
//! so the next batch is verified while the earlier ones are written and flushed; it answers
//! them in the order they were staged, and on shutdown answers what it staged and stops.
//!
//! A publish stream (`rpc/service.rs`) and a federation follower (`federation/mod.rs`) are
//! each a [`Feed`]: where batches come from and where their answers go. [`drive`] is all they
//! share, and all the pipelining there is.

use std::future::Future;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, Stream, StreamExt};

use super::Node;
use super::ingest::{Offer, Staged};

/// What a driver stages its batches into: the node's ingest ([`Node::stage`]), or a stand-in
/// in the driver's own tests.
pub trait Ingest: Sync {
    /// A batch as a feed gives it.
    type Batch: Send;
    /// A batch staged and not yet answered.
    type Staged: StagedBatch;
    /// Checks a batch and hands it on in the order of the calls; resolves once it is handed
    /// on, not once it is durable.
    fn stage(&self, batch: Self::Batch) -> impl Future<Output = Self::Staged> + Send;
}

/// A batch handed on and not yet answered.
pub trait StagedBatch: Send + 'static {
    /// Its answers, one per message, in order.
    type Outcomes: Send;
    /// Whether a message of it was refused because the node is busy or failing.
    fn unsettled(&self) -> bool;
    /// Waits until the batch is durable and answers it.
    fn finish(self) -> impl Future<Output = Self::Outcomes> + Send;
}

impl Ingest for Node {
    type Batch = Vec<Offer>;
    type Staged = Staged;

    fn stage(&self, batch: Vec<Offer>) -> impl Future<Output = Staged> + Send {
        // The inherent method: the pipeline's stages (`ingest.rs`).
        Node::stage(self, batch)
    }
}

impl StagedBatch for Staged {
    type Outcomes = Vec<super::Outcome>;

    fn unsettled(&self) -> bool {
        Staged::unsettled(self)
    }

    fn finish(self) -> impl Future<Output = Self::Outcomes> + Send {
        Staged::finish(self)
    }
}

/// A source of batches and a sink for their answers: what a publish stream or a follower
/// brings to [`drive`].
pub trait Feed<I: Ingest>: Send {
    /// What the feed keeps with a batch until its answers come back (a follower: the peer's
    /// seq the batch reaches).
    type Note: Send + 'static;
    /// Why the feed ended early: its source failed, or an answer could not be given.
    type Error: Send;

    /// The next batch and its note, or the source's end. Must be cancel-safe: the driver
    /// drops it when an earlier batch is answered first ([`Batches::next`] is: only its wait
    /// for the first message awaits).
    fn next_batch(
        &mut self,
    ) -> impl Future<Output = Next<I::Batch, Self::Note, Self::Error>> + Send;

    /// Whether to read no more after staging a batch that holds an unsettled refusal (a
    /// follower: its cursor may not pass it, so nothing after it may be stored with a cursor).
    fn stops_when_unsettled(&self) -> bool {
        false
    }

    /// Takes one batch's answers; batches are answered in the order they were staged.
    fn answer(
        &mut self,
        note: Self::Note,
        outcomes: <I::Staged as StagedBatch>::Outcomes,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What a feed gives the driver when asked for a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<Batch, Note, Error> {
    /// A batch, and what the feed keeps with it until its answers come back.
    Batch(Batch, Note),
    /// The source has ended.
    Ended,
    /// The source failed.
    Failed(Error),
}

/// How a [`drive`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended<E> {
    /// The source ran dry (or stopped after an unsettled batch); every batch was answered.
    Drained,
    /// Shutdown began: every batch staged was answered, and nothing more was read.
    Stopped,
    /// The source failed: every batch staged before was answered first.
    SourceFailed(E),
    /// An answer failed: the batches staged behind it were waited for (the store has them;
    /// they are durable or failed) but not answered.
    AnswerFailed(E),
}

/// Runs `feed` through `ingest` with up to `depth` batches staged and unanswered at once,
/// until the source ends, `stop` resolves, or the feed fails.
///
/// Every way out leaves nothing of the feed queued in the store: a follower that reconnects
/// reads a durable cursor that no batch of its last connection can still move.
pub async fn drive<I, F>(
    ingest: &I,
    feed: &mut F,
    depth: usize,
    stop: impl Future<Output = ()> + Send,
) -> Ended<F::Error>
where
    I: Ingest,
    F: Feed<I>,
{
    let mut stop = std::pin::pin!(stop);
    // Batches staged (checked and handed on, in order) and not yet answered.
    let mut in_flight = FuturesOrdered::new();
    let mut reading = true;
    loop {
        if !reading && in_flight.is_empty() {
            return Ended::Drained;
        }
        tokio::select! {
            biased;
            Some((note, outcomes)) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(e) = feed.answer(note, outcomes).await {
                    while in_flight.next().await.is_some() {}
                    return Ended::AnswerFailed(e);
                }
            }
            () = stop.as_mut() => {
                return match answer_all(feed, &mut in_flight).await {
                    Ok(()) => Ended::Stopped,
                    Err(e) => Ended::AnswerFailed(e),
                };
            }
            next = feed.next_batch(), if reading && in_flight.len() < depth => match next {
                Next::Ended => reading = false,
                Next::Failed(e) => {
                    return match answer_all(feed, &mut in_flight).await {
                        Ok(()) => Ended::SourceFailed(e),
                        Err(e) => Ended::AnswerFailed(e),
                    };
                }
                Next::Batch(batch, note) => {
                    let staged = ingest.stage(batch).await;
                    if staged.unsettled() && feed.stops_when_unsettled() {
                        reading = false;
                    }
                    in_flight.push_back(async move { (note, staged.finish().await) });
                }
            }
        }
    }
}

/// Answers every batch in flight, in order; on a failed answer, waits out the rest.
async fn answer_all<I, F, Pending>(
    feed: &mut F,
    in_flight: &mut FuturesOrdered<Pending>,
) -> Result<(), F::Error>
where
    I: Ingest,
    F: Feed<I>,
    Pending: Future<Output = (F::Note, <I::Staged as StagedBatch>::Outcomes)>,
{
    while let Some((note, outcomes)) = in_flight.next().await {
        if let Err(e) = feed.answer(note, outcomes).await {
            while in_flight.next().await.is_some() {}
            return Err(e);
        }
    }
    Ok(())
}

/// What [`Batches::next`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Batch<T, E> {
    /// One item or more.
    Items(Vec<T>),
    /// The stream ended (after the items of the batch before, if any).
    Ended,
    /// The stream failed with this error (after the items of the batch before, if any).
    Failed(E),
}

/// Where a stream stands between two batches.
#[derive(Debug)]
enum Rest<E> {
    /// It may bring more.
    Open,
    /// It ended, or its failure was said.
    Ended,
    /// It failed after the items of the last batch: said by the next call.
    Failed(E),
}

/// A stream read a batch at a time: [`Batches::next`] waits for one item, then takes whatever
/// else has already arrived, up to `max` in all; a batch never waits for more. An end or a
/// failure found after some items is said by the next call, so those items are staged and
/// answered first. Cancel-safe: only the wait for the first item awaits.
#[derive(Debug)]
pub struct Batches<S, E> {
    stream: S,
    max: usize,
    rest: Rest<E>,
}

impl<S, T, E> Batches<S, E>
where
    S: Stream<Item = Result<T, E>> + Unpin,
{
    /// Batches of at most `max` items of `stream`.
    pub fn new(stream: S, max: usize) -> Self {
        Batches {
            stream,
            max: max.max(1),
            rest: Rest::Open,
        }
    }

    /// The failure found after the last batch and not said yet (a reader that stopped reading
    /// early asks what it would have heard).
    pub fn take_failure(&mut self) -> Option<E> {
        match std::mem::replace(&mut self.rest, Rest::Ended) {
            Rest::Failed(e) => Some(e),
            other => {
                self.rest = other;
                None
            }
        }
    }

    /// The next batch, or how the stream ended.
    pub async fn next(&mut self) -> Batch<T, E> {
        match std::mem::replace(&mut self.rest, Rest::Ended) {
            Rest::Ended => return Batch::Ended,
            Rest::Failed(e) => return Batch::Failed(e),
            Rest::Open => self.rest = Rest::Open,
        }
        let first = match self.stream.next().await {
            None => {
                self.rest = Rest::Ended;
                return Batch::Ended;
            }
            Some(Err(e)) => {
                self.rest = Rest::Ended;
                return Batch::Failed(e);
            }
            Some(Ok(first)) => first,
        };
        let mut items = vec![first];
        while items.len() < self.max {
            match self.stream.next().now_or_never() {
                Some(Some(Ok(item))) => items.push(item),
                Some(Some(Err(e))) => {
                    self.rest = Rest::Failed(e);
                    break;
                }
                Some(None) => {
                    self.rest = Rest::Ended;
                    break;
                }
                None => break,
            }
        }
        Batch::Items(items)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod batches_tests {
    use super::*;

    #[tokio::test]
    async fn a_failure_after_some_items_is_said_after_them_and_once() {
        let items: Vec<Result<u32, &str>> = vec![Ok(1), Ok(2), Err("reset"), Ok(3)];
        let mut batches = Batches::new(futures::stream::iter(items), 10);
        assert_eq!(batches.next().await, Batch::Items(vec![1, 2]));
        assert_eq!(batches.next().await, Batch::Failed("reset"));
        assert_eq!(batches.next().await, Batch::Ended);
        // A failure not read yet can be taken instead.
        let items: Vec<Result<u32, &str>> = vec![Ok(1), Err("reset")];
        let mut batches = Batches::new(futures::stream::iter(items), 10);
        assert_eq!(batches.next().await, Batch::Items(vec![1]));
        assert_eq!(batches.take_failure(), Some("reset"));
        assert_eq!(batches.take_failure(), None);
        assert_eq!(batches.next().await, Batch::Ended);
        // Up to `max` at once; the end after them is said next.
        let items: Vec<Result<u32, &str>> = vec![Ok(1), Ok(2), Ok(3)];
        let mut batches = Batches::new(futures::stream::iter(items), 2);
        assert_eq!(batches.next().await, Batch::Items(vec![1, 2]));
        assert_eq!(batches.next().await, Batch::Items(vec![3]));
        assert_eq!(batches.next().await, Batch::Ended);
        assert_eq!(batches.next().await, Batch::Ended);
    }
}
