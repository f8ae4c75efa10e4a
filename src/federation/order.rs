//! Targets before what refers to them, when messages travel in bulk.
//!
//! A node holds back an update, translation, report or endorsement of a message still under
//! embargo until that message's hour (`store::rules`), but only when the target is there when
//! it arrives: one that came first was not known to be about anything embargoed, and readers
//! saw it. A log sends messages in the order its node took them, so a follower is safe. A
//! reconciliation's fetch and offer, and `tocsin export --for`, move sets of ids found in no
//! particular order; [`TargetsFirst`] puts each message after its target when the target is
//! on its way in the same exchange, and keeps the rest in the order they came.

use std::collections::{HashMap, HashSet};

use crate::message::{Id, Kind, SignedMessage};

/// Where a message of `kind` goes among messages moved in bulk: key events first (what ends a
/// key is known before what the key signed arrives, as a follower pulls them first), and of
/// those a recovery commitment before the rotations and revocations of its key: a revocation
/// taken before its key's commitment reaches back before it, for good (`store::rules::keys`).
pub(crate) fn rank(kind: Kind) -> u8 {
    match kind {
        Kind::Commitment => 0,
        Kind::Rotation | Kind::Revocation => 1,
        _ => 2,
    }
}

/// [`rank`] of a message on its way, read from its body without checking it (one that does not
/// decode goes last; the ingest refuses it with its reason).
pub(crate) fn rank_of(m: &SignedMessage) -> u8 {
    m.claimed_body().map_or(u8::MAX, |b| rank(b.kind()))
}

/// Orders messages so that one whose target is still to come in the same exchange waits for
/// it. `M` is whatever form the messages travel in.
#[derive(Debug)]
pub(crate) struct TargetsFirst<M> {
    /// Ids on their way (asked for, or still to be sent) that have not arrived.
    to_come: HashSet<Id>,
    /// Ids passed on.
    passed: HashSet<Id>,
    /// Messages waiting, by the id of the target they wait for.
    waiting: HashMap<Id, Vec<(Id, M)>>,
    /// The ids of the messages waiting.
    held: HashSet<Id>,
}

impl<M> Default for TargetsFirst<M> {
    fn default() -> Self {
        Self {
            to_come: HashSet::new(),
            passed: HashSet::new(),
            waiting: HashMap::new(),
            held: HashSet::new(),
        }
    }
}

impl<M> TargetsFirst<M> {
    /// Expecting `ids` in the same exchange.
    pub(crate) fn new(ids: impl IntoIterator<Item = Id>) -> Self {
        let mut order = Self::default();
        order.expect(ids);
        order
    }

    /// More ids on their way (a later round's).
    pub(crate) fn expect(&mut self, ids: impl IntoIterator<Item = Id>) {
        self.to_come.extend(ids);
    }

    /// Whether what `target` is cannot be told from this exchange: it is neither on its way
    /// nor passed (nor waiting). The caller may then ask whether it is already at the
    /// destination, for [`TargetsFirst::take`]'s `target_there`.
    pub(crate) fn unknown(&self, target: &Id) -> bool {
        !self.to_come.contains(target)
            && !self.passed.contains(target)
            && !self.held.contains(target)
    }

    /// `m` (id `id`, about `target`) arrived: appended to `out`, with whatever waited for
    /// it, unless its target is on its way, or arrived and waits itself, or (`target_there`
    /// false) is not where the messages go and may come later in the exchange.
    pub(crate) fn take(
        &mut self,
        id: Id,
        target: Option<Id>,
        m: M,
        target_there: bool,
        out: &mut Vec<M>,
    ) {
        self.to_come.remove(&id);
        let wait = target.filter(|t| {
            *t != id
                && !self.passed.contains(t)
                && (!target_there || self.to_come.contains(t) || self.held.contains(t))
        });
        match wait {
            Some(t) => {
                self.held.insert(id);
                self.waiting.entry(t).or_default().push((id, m));
            }
            None => self.pass(id, m, out),
        }
    }

    /// `id` was expected and will not come (the other side no longer serves it, or it was
    /// left out): what waited for it goes on.
    pub(crate) fn not_coming(&mut self, id: &Id, out: &mut Vec<M>) {
        self.to_come.remove(id);
        if let Some(waiters) = self.waiting.remove(id) {
            for (wid, m) in waiters {
                self.pass(wid, m, out);
            }
        }
    }

    /// The end of the exchange: every message still waiting (its target never came), in the
    /// order they arrived for each target.
    pub(crate) fn rest(&mut self) -> Vec<M> {
        self.to_come.clear();
        let mut out = Vec::new();
        // A waiter's own waiters follow it (`pass`), so start from targets nothing holds.
        let roots: Vec<Id> = self
            .waiting
            .keys()
            .filter(|t| !self.held.contains(*t))
            .copied()
            .collect();
        for target in roots {
            self.not_coming(&target, &mut out);
        }
        // Anything left waits in a cycle, which content-addressed ids cannot make; kept
        // anyway rather than lost.
        for (_, waiters) in self.waiting.drain() {
            out.extend(waiters.into_iter().map(|(_, m)| m));
        }
        self.held.clear();
        out
    }

    /// How many messages wait.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.held.len()
    }

    fn pass(&mut self, id: Id, m: M, out: &mut Vec<M>) {
        let mut next = vec![(id, m)];
        while let Some((id, m)) = next.pop() {
            out.push(m);
            self.held.remove(&id);
            self.passed.insert(id);
            if let Some(waiters) = self.waiting.remove(&id) {
                // In arrival order: popped from the end.
                next.extend(waiters.into_iter().rev());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Id {
        Id([n; 32])
    }

    #[test]
    fn a_message_waits_for_its_target_on_its_way_and_follows_it() {
        let mut order = TargetsFirst::new([id(1), id(2), id(3)]);
        let mut out = Vec::new();
        order.take(id(2), Some(id(1)), "update", true, &mut out);
        order.take(id(3), None, "other", true, &mut out);
        assert_eq!(out, ["other"]);
        order.take(id(1), None, "original", true, &mut out);
        assert_eq!(out, ["other", "original", "update"]);
        assert_eq!(order.rest(), Vec::<&str>::new());
    }

    #[test]
    fn a_target_already_there_or_passed_holds_nothing_back() {
        let mut order = TargetsFirst::new([id(1), id(2)]);
        let mut out = Vec::new();
        order.take(id(2), Some(id(9)), "report on a known call", true, &mut out);
        order.take(id(1), None, "original", true, &mut out);
        order.take(id(3), Some(id(1)), "late translation", true, &mut out);
        assert_eq!(
            out,
            ["report on a known call", "original", "late translation"]
        );
    }

    #[test]
    fn a_target_not_there_may_come_in_a_later_round() {
        let mut order = TargetsFirst::new([id(2)]);
        let mut out = Vec::new();
        order.take(id(2), Some(id(1)), "update", false, &mut out);
        assert!(out.is_empty());
        assert!(!order.unknown(&id(2)), "a waiting message is known");
        order.expect([id(1)]);
        order.take(id(1), None, "original", true, &mut out);
        assert_eq!(out, ["original", "update"]);
    }

    #[test]
    fn what_waits_for_a_target_that_never_comes_goes_at_the_end_or_when_it_is_not_coming() {
        let mut order = TargetsFirst::new([id(1), id(2), id(3), id(4)]);
        let mut out = Vec::new();
        order.take(id(2), Some(id(1)), "a", true, &mut out);
        order.take(id(4), Some(id(3)), "b", true, &mut out);
        order.take(id(5), Some(id(4)), "c", true, &mut out);
        assert_eq!(order.waiting(), 3);
        order.not_coming(&id(1), &mut out);
        assert_eq!(out, ["a"]);
        // 3 never came and was never said gone: at the end, "b" and then what waits for it.
        assert_eq!(order.rest(), ["b", "c"]);
        assert_eq!(order.waiting(), 0);
    }
}
