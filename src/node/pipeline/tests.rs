//! Tests of the driver: with a stand-in ingest whose batches are answered only when a test
//! says so (so what is in flight at each step is known, with no timing), and once through a
//! real node.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use super::*;
use crate::message::Reason;
use crate::node::{NodeError, Outcome, PublishStatus};
use crate::store::Origin;

/// A stand-in ingest. A batch is a list of numbers; a number over 100 is "refused" (answered
/// `Err`), and 999 is a refusal that is not settled. Each staged batch waits for its gate.
struct Gated {
    /// The batches staged, in order.
    staged: Mutex<Vec<Vec<u32>>>,
    /// How many are staged, to wait on.
    count: watch::Sender<usize>,
    /// The gates of the batches staged, in order: a batch is answered once its gate is opened.
    gates: Mutex<Vec<Option<oneshot::Sender<()>>>>,
    /// How many staged batches were waited for to the end (answered or not).
    finished: Arc<Mutex<usize>>,
}

impl Gated {
    fn new() -> (Gated, watch::Receiver<usize>) {
        let (count, rx) = watch::channel(0);
        let gated = Gated {
            staged: Mutex::default(),
            count,
            gates: Mutex::default(),
            finished: Arc::default(),
        };
        (gated, rx)
    }

    /// Opens the gate of the `n`th batch staged (from 0), if it is not open yet.
    fn open(&self, n: usize) {
        if let Some(gate) = self.gates.lock().unwrap()[n].take() {
            let _ = gate.send(());
        }
    }

    fn staged(&self) -> Vec<Vec<u32>> {
        self.staged.lock().unwrap().clone()
    }

    fn finished(&self) -> usize {
        *self.finished.lock().unwrap()
    }
}

struct GatedBatch {
    numbers: Vec<u32>,
    gate: oneshot::Receiver<()>,
    finished: Arc<Mutex<usize>>,
}

impl Ingest for Gated {
    type Batch = Vec<u32>;
    type Staged = GatedBatch;

    async fn stage(&self, batch: Vec<u32>) -> GatedBatch {
        let (open, gate) = oneshot::channel();
        self.gates.lock().unwrap().push(Some(open));
        let mut staged = self.staged.lock().unwrap();
        staged.push(batch.clone());
        self.count.send_replace(staged.len());
        GatedBatch {
            numbers: batch,
            gate,
            finished: Arc::clone(&self.finished),
        }
    }
}

impl StagedBatch for GatedBatch {
    type Outcomes = Vec<Result<u32, u32>>;

    fn unsettled(&self) -> bool {
        self.numbers.contains(&999)
    }

    async fn finish(self) -> Vec<Result<u32, u32>> {
        let _ = self.gate.await;
        *self.finished.lock().unwrap() += 1;
        self.numbers
            .into_iter()
            .map(|n| if n > 100 { Err(n) } else { Ok(n) })
            .collect()
    }
}

/// What a scripted feed does when asked for a batch.
enum Step {
    Batch(Vec<u32>),
    /// The source fails.
    Fail(&'static str),
    /// Nothing arrives (and the step stays: a client that sends nothing more).
    Silence,
}

/// A feed that plays a script and records the answers.
struct Script {
    steps: VecDeque<Step>,
    /// The answers, with their notes (the batch's number in the script).
    answered: Vec<(usize, Vec<Result<u32, u32>>)>,
    batches: usize,
    stops_when_unsettled: bool,
    /// Fails the answer of the batch with this note.
    refuse_answer: Option<usize>,
}

impl Script {
    fn new(steps: Vec<Step>) -> Script {
        Script {
            steps: steps.into(),
            answered: Vec::new(),
            batches: 0,
            stops_when_unsettled: false,
            refuse_answer: None,
        }
    }
}

impl Feed<Gated> for Script {
    type Note = usize;
    type Error = &'static str;

    async fn next_batch(&mut self) -> Next<Vec<u32>, usize, &'static str> {
        if let Some(Step::Silence) = self.steps.front() {
            return std::future::pending().await;
        }
        match self.steps.pop_front() {
            Some(Step::Batch(numbers)) => {
                self.batches += 1;
                Next::Batch(numbers, self.batches - 1)
            }
            Some(Step::Fail(why)) => Next::Failed(why),
            Some(Step::Silence) | None => Next::Ended,
        }
    }

    fn stops_when_unsettled(&self) -> bool {
        self.stops_when_unsettled
    }

    async fn answer(
        &mut self,
        note: usize,
        outcomes: Vec<Result<u32, u32>>,
    ) -> Result<(), &'static str> {
        if self.refuse_answer == Some(note) {
            return Err("the reader went away");
        }
        self.answered.push((note, outcomes));
        Ok(())
    }
}

/// Waits until `n` batches are staged.
async fn staged(count: &mut watch::Receiver<usize>, n: usize) {
    count
        .wait_for(|c| *c >= n)
        .await
        .expect("the stand-in lives");
}

/// Lets the driver run until it waits (on a gate, the feed or the stop signal): every test
/// runs on one thread, so after this nothing moves until the test acts.
async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn batches_are_answered_in_the_order_staged_whichever_is_durable_first() {
    let (ingest, mut count) = Gated::new();
    let mut feed = Script::new(vec![
        Step::Batch(vec![1, 102, 3]),
        Step::Batch(vec![104]),
        Step::Batch(vec![5, 6]),
    ]);
    let control = async {
        staged(&mut count, 3).await;
        // The last batch is durable first, then the second: neither may be answered before
        // the first.
        ingest.open(2);
        ingest.open(1);
        settle().await;
        ingest.open(0);
    };
    let (ended, ()) = tokio::join!(
        drive(&ingest, &mut feed, 4, std::future::pending()),
        control
    );
    assert_eq!(ended, Ended::Drained);
    assert_eq!(
        feed.answered,
        vec![
            (0, vec![Ok(1), Err(102), Ok(3)]),
            (1, vec![Err(104)]),
            (2, vec![Ok(5), Ok(6)]),
        ]
    );
}

#[tokio::test]
async fn no_more_than_depth_batches_are_in_flight() {
    let (ingest, mut count) = Gated::new();
    let mut feed = Script::new(vec![
        Step::Batch(vec![1]),
        Step::Batch(vec![2]),
        Step::Batch(vec![3]),
    ]);
    let control = async {
        staged(&mut count, 2).await;
        settle().await;
        // Two in flight: the third waits for the first to be answered.
        assert_eq!(ingest.staged().len(), 2);
        ingest.open(0);
        staged(&mut count, 3).await;
        ingest.open(1);
        ingest.open(2);
    };
    let (ended, ()) = tokio::join!(
        drive(&ingest, &mut feed, 2, std::future::pending()),
        control
    );
    assert_eq!(ended, Ended::Drained);
    let notes: Vec<usize> = feed.answered.iter().map(|(note, _)| *note).collect();
    assert_eq!(notes, vec![0, 1, 2]);
}

#[tokio::test]
async fn a_batch_of_one_is_staged_and_answered() {
    let (ingest, mut count) = Gated::new();
    let mut feed = Script::new(vec![Step::Batch(vec![7])]);
    let control = async {
        staged(&mut count, 1).await;
        ingest.open(0);
    };
    let (ended, ()) = tokio::join!(
        drive(&ingest, &mut feed, 4, std::future::pending()),
        control
    );
    assert_eq!(ended, Ended::Drained);
    assert_eq!(ingest.staged(), vec![vec![7]]);
    assert_eq!(feed.answered, vec![(0, vec![Ok(7)])]);
}

#[tokio::test]
async fn shutdown_mid_pipeline_answers_what_was_staged_and_reads_no_more() {
    let (ingest, mut count) = Gated::new();
    let mut feed = Script::new(vec![
        Step::Batch(vec![1, 2]),
        Step::Batch(vec![103]),
        Step::Silence,
        Step::Batch(vec![4]),
    ]);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let control = async {
        staged(&mut count, 2).await;
        settle().await;
        // Both batches are in flight, unanswered, when shutdown begins.
        assert_eq!(ingest.finished(), 0);
        let _ = stop_tx.send(());
        settle().await;
        ingest.open(1);
        ingest.open(0);
    };
    let (ended, ()) = tokio::join!(drive(&ingest, &mut feed, 4, stop), control);
    assert_eq!(ended, Ended::Stopped);
    assert_eq!(
        feed.answered,
        vec![(0, vec![Ok(1), Ok(2)]), (1, vec![Err(103)])]
    );
    // Nothing was read after the stop: the silence is still waiting, and what follows it.
    assert_eq!(ingest.staged().len(), 2);
    assert_eq!(feed.steps.len(), 2);
}

#[tokio::test]
async fn a_source_that_fails_has_its_staged_batches_answered_first() {
    let (ingest, mut count) = Gated::new();
    let mut feed = Script::new(vec![
        Step::Batch(vec![1]),
        Step::Fail("the peer reset the stream"),
        Step::Batch(vec![2]),
    ]);
    let control = async {
        staged(&mut count, 1).await;
        settle().await;
        ingest.open(0);
    };
    let (ended, ()) = tokio::join!(
        drive(&ingest, &mut feed, 4, std::future::pending()),
        control
    );
    assert_eq!(ended, Ended::SourceFailed("the peer reset the stream"));
    assert_eq!(feed.answered, vec![(0, vec![Ok(1)])]);
    assert_eq!(ingest.staged().len(), 1);
}

#[tokio::test]
async fn a_failed_answer_waits_out_the_batches_behind_it_unanswered() {
    let (ingest, mut count) = Gated::new();
    let mut feed = Script::new(vec![
        Step::Batch(vec![1]),
        Step::Batch(vec![2]),
        Step::Batch(vec![3]),
    ]);
    feed.refuse_answer = Some(0);
    let control = async {
        staged(&mut count, 3).await;
        ingest.open(0);
        settle().await;
        // The driver now waits for the two behind it, without answering them.
        assert_eq!(ingest.finished(), 1);
        ingest.open(1);
        ingest.open(2);
    };
    let (ended, ()) = tokio::join!(
        drive(&ingest, &mut feed, 4, std::future::pending()),
        control
    );
    assert_eq!(ended, Ended::AnswerFailed("the reader went away"));
    assert!(feed.answered.is_empty());
    assert_eq!(ingest.finished(), 3);
}

#[tokio::test]
async fn an_unsettled_batch_stops_the_reading_of_a_feed_that_asks() {
    for stops in [true, false] {
        let (ingest, _count) = Gated::new();
        let mut feed = Script::new(vec![Step::Batch(vec![1, 999]), Step::Batch(vec![2])]);
        feed.stops_when_unsettled = stops;
        let control = async {
            loop {
                let staged = ingest.gates.lock().unwrap().len();
                for n in 0..staged {
                    ingest.open(n);
                }
                // Done once every batch the feed has is finished, or (stopping) the first.
                if ingest.finished() > usize::from(!stops) {
                    return;
                }
                tokio::task::yield_now().await;
            }
        };
        let (ended, ()) = tokio::join!(
            drive(&ingest, &mut feed, 4, std::future::pending()),
            control
        );
        assert_eq!(ended, Ended::Drained);
        let staged = ingest.staged();
        if stops {
            assert_eq!(staged, vec![vec![1, 999]]);
        } else {
            assert_eq!(staged, vec![vec![1, 999], vec![2]]);
        }
    }
}

/// A feed of real messages for a real node.
struct Messages {
    batches: VecDeque<Vec<crate::node::Offer>>,
    answered: Vec<Vec<Outcome>>,
}

impl Feed<Node> for Messages {
    type Note = ();
    type Error = ();

    async fn next_batch(&mut self) -> Next<Vec<crate::node::Offer>, (), ()> {
        match self.batches.pop_front() {
            Some(batch) => Next::Batch(batch, ()),
            None => Next::Ended,
        }
    }

    async fn answer(&mut self, (): (), outcomes: Vec<Outcome>) -> Result<(), ()> {
        self.answered.push(outcomes);
        Ok(())
    }
}

#[tokio::test]
async fn the_node_answers_a_driven_feed_batch_by_batch_in_order() {
    use crate::message::{Id, Message, SignedMessage};
    use crate::node::Offer;
    use crate::node::ingest::tests::{alert, key, node_in};
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node_in(dir.path());
    let alerts: Vec<Message> = (0..5)
        .map(|i| alert(&key(20 + i), &format!("Rally {i}")))
        .collect();
    let forged = SignedMessage::new(alerts[4].signed().body().clone(), &[9; 64]).expect("64 bytes");
    let local = |m: &Message| Offer::Message(m.signed().clone(), Origin::Local);
    let mut feed = Messages {
        batches: VecDeque::from(vec![
            vec![local(&alerts[0])],
            vec![
                local(&alerts[1]),
                Offer::Message(forged, Origin::Local),
                local(&alerts[0]),
                local(&alerts[2]),
            ],
            vec![local(&alerts[3])],
        ]),
        answered: Vec::new(),
    };
    let ended = drive(&node, &mut feed, 2, std::future::pending()).await;
    assert_eq!(ended, Ended::Drained);
    let shape: Vec<Vec<Result<(Id, PublishStatus), Reason>>> = feed
        .answered
        .iter()
        .map(|batch| {
            batch
                .iter()
                .map(|o| match o {
                    Ok(p) => Ok((p.id, p.status)),
                    Err(NodeError::Refused(r)) => Err(r.reason),
                    Err(e) => panic!("an error: {e}"),
                })
                .collect()
        })
        .collect();
    use PublishStatus::{Accepted, Duplicate};
    assert_eq!(
        shape,
        vec![
            vec![Ok((alerts[0].id(), Accepted))],
            vec![
                Ok((alerts[1].id(), Accepted)),
                Err(Reason::BadSignature),
                Ok((alerts[0].id(), Duplicate)),
                Ok((alerts[2].id(), Accepted)),
            ],
            vec![Ok((alerts[3].id(), Accepted))],
        ]
    );
}
