//! Whether a peer's log is still the one a follower's cursor belongs to: the rule, in domain
//! words and without I/O, run by the follower on every connection against what the peer's
//! NodeInfo shows and what the store recorded beside the cursor.
//!
//! A seq means something only within one log. A peer restored from a backup gets a new log id
//! (`store/open.rs`); a peer wiped and made again has a new log id too; a peer whose directory
//! was copied back without `node backup` keeps its log id but went back to an older head. In
//! each case a follower that kept its cursor would wait for seqs above it while the peer hands
//! out new messages below it, silently. So the cursor is kept with the peer's log id and the
//! opening (the peer's process) it was last checked against; a log whose head, or whose head
//! when this opening began, is below the cursor went back.

use std::fmt;

use crate::store::{LogId, PeerLog};

/// What one connection showed of the peer's log (its NodeInfo, as a peer is shown it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shown {
    /// The log the peer serves.
    pub(super) log_id: LogId,
    /// The peer's opening of that log (its process).
    pub(super) opening_id: u64,
    /// Its durable head.
    pub(super) head: u64,
    /// Its head when that opening began.
    pub(super) opened_head: u64,
}

impl Shown {
    /// What the store records beside the cursor once the cursor is known to belong here.
    pub(super) fn peer_log(&self) -> PeerLog {
        PeerLog {
            log_id: self.log_id,
            opening_id: self.opening_id,
        }
    }
}

/// What the follower does with its cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The cursor belongs to this log and was checked in this opening: follow from it.
    Same,
    /// The cursor belongs to this log (first contact, a cursor from before log ids, or a new
    /// opening that began at or above the cursor): record the log beside it, then follow from
    /// it.
    Record,
    /// The log is not the one the cursor belongs to: start the cursor again at 0 in this log,
    /// and follow it from its start (what is here already is deduplicated by id).
    Changed(Change),
}

/// How a follower knows the peer's log changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// A log id other than the one recorded: a restored backup, or a store made again.
    NewLogId,
    /// The head is below the cursor: the log went back.
    HeadBelowCursor,
    /// The head this opening began at is below the cursor, and the cursor was not reached in
    /// this opening: the log went back before it grew again.
    OpenedBelowCursor,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Change::NewLogId => "the peer serves a new log (restored from a backup, or made again)",
            Change::HeadBelowCursor => "the peer's log is behind what this node followed",
            Change::OpenedBelowCursor => {
                "the peer's log went back when it restarted (an older copy of its directory)"
            }
        })
    }
}

/// Whether the cursor `cursor`, recorded with `recorded` (`None`: first contact, or a cursor
/// from before log ids), still belongs to the log the peer shows.
pub(super) fn check(recorded: Option<PeerLog>, cursor: u64, shown: &Shown) -> Verdict {
    let went_back = || {
        if shown.head < cursor {
            Some(Change::HeadBelowCursor)
        } else if shown.opened_head < cursor {
            Some(Change::OpenedBelowCursor)
        } else {
            None
        }
    };
    let Some(recorded) = recorded else {
        // Nothing to compare the id with: a cursor the log's heads both reach is taken as the
        // log's (a cursor of 0 is anywhere's).
        return match went_back() {
            Some(change) if cursor > 0 => Verdict::Changed(change),
            _ => Verdict::Record,
        };
    };
    if recorded.log_id != shown.log_id {
        return Verdict::Changed(Change::NewLogId);
    }
    if shown.head < cursor {
        return Verdict::Changed(Change::HeadBelowCursor);
    }
    if recorded.opening_id == shown.opening_id {
        // Past the opened head, the cursor is this opening's own progress.
        return Verdict::Same;
    }
    match went_back() {
        Some(change) => Verdict::Changed(change),
        None => Verdict::Record,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EASTLAND: LogId = LogId::from_bytes([0xe5; 16]);
    const EASTLAND_RESTORED: LogId = LogId::from_bytes([0x7e; 16]);

    fn shown(log_id: LogId, opening_id: u64, head: u64, opened_head: u64) -> Shown {
        Shown {
            log_id,
            opening_id,
            head,
            opened_head,
        }
    }

    fn recorded(log_id: LogId, opening_id: u64) -> Option<PeerLog> {
        Some(PeerLog { log_id, opening_id })
    }

    #[test]
    fn first_contact_takes_the_log_when_its_heads_reach_the_cursor() {
        assert_eq!(check(None, 0, &shown(EASTLAND, 1, 0, 0)), Verdict::Record);
        assert_eq!(check(None, 0, &shown(EASTLAND, 1, 9, 3)), Verdict::Record);
        assert_eq!(check(None, 5, &shown(EASTLAND, 1, 9, 5)), Verdict::Record);
        assert_eq!(
            check(None, 5, &shown(EASTLAND, 1, 4, 4)),
            Verdict::Changed(Change::HeadBelowCursor)
        );
        assert_eq!(
            check(None, 5, &shown(EASTLAND, 1, 9, 4)),
            Verdict::Changed(Change::OpenedBelowCursor)
        );
    }

    #[test]
    fn another_log_id_is_a_change_whatever_the_heads() {
        assert_eq!(
            check(
                recorded(EASTLAND, 1),
                5,
                &shown(EASTLAND_RESTORED, 1, 90, 90)
            ),
            Verdict::Changed(Change::NewLogId)
        );
        assert_eq!(
            check(recorded(EASTLAND, 1), 0, &shown(EASTLAND_RESTORED, 2, 0, 0)),
            Verdict::Changed(Change::NewLogId)
        );
    }

    #[test]
    fn within_one_opening_the_cursor_may_pass_the_opened_head() {
        assert_eq!(
            check(recorded(EASTLAND, 7), 12, &shown(EASTLAND, 7, 15, 3)),
            Verdict::Same
        );
        // But never the head: that log went back, whatever the opening says.
        assert_eq!(
            check(recorded(EASTLAND, 7), 12, &shown(EASTLAND, 7, 11, 3)),
            Verdict::Changed(Change::HeadBelowCursor)
        );
    }

    #[test]
    fn a_new_opening_below_the_cursor_went_back_even_when_it_grew_past_it() {
        // Copied back to head 3, then given 10 more before the follower came back.
        assert_eq!(
            check(recorded(EASTLAND, 7), 12, &shown(EASTLAND, 8, 13, 3)),
            Verdict::Changed(Change::OpenedBelowCursor)
        );
        // An ordinary restart begins at the head the last opening reached.
        assert_eq!(
            check(recorded(EASTLAND, 7), 12, &shown(EASTLAND, 8, 15, 12)),
            Verdict::Record
        );
    }
}
