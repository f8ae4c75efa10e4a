//! The log's identity: the random id that says which log a seq belongs to, what a follower
//! remembers of a peer's log beside its cursor, and the note a backup leaves in its copy.
//!
//! A seq means something only within one log. A store copied back from a backup, or wiped and
//! made again, starts where the copy stopped (or at 0), so a follower whose cursor is past that
//! would wait for seqs it already saw while new messages arrive below it. The log id changes in
//! both cases, and a follower keys its cursor by it: see `federation/log_change.rs`.

use std::fmt;

/// A log's identity: 16 random bytes, made when the store is created, kept across restarts,
/// made anew when a restored backup is opened.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LogId([u8; 16]);

impl LogId {
    /// The length in bytes, on the wire and on disk.
    pub const LEN: usize = 16;

    /// A new random log id; `None` when the system has no randomness to give.
    pub fn random() -> Option<LogId> {
        let mut raw = [0u8; Self::LEN];
        getrandom::fill(&mut raw).ok()?;
        Some(LogId(raw))
    }

    /// The id from its bytes.
    pub const fn from_bytes(raw: [u8; 16]) -> LogId {
        LogId(raw)
    }

    /// The id from exactly 16 bytes; `None` for any other length.
    pub fn from_slice(raw: &[u8]) -> Option<LogId> {
        raw.try_into().ok().map(LogId)
    }

    /// The id from its 32 hex digits (either case).
    pub fn from_hex(text: &str) -> Option<LogId> {
        let mut raw = [0u8; Self::LEN];
        hex::decode_to_slice(text, &mut raw).ok()?;
        Some(LogId(raw))
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The first 8 hex digits, for status lines.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LogId({self})")
    }
}

/// What a follower records beside its cursor for a peer: the peer's log the cursor belongs to,
/// and the opening of that log (the peer's process) it last checked the cursor against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerLog {
    /// The peer's log id.
    pub log_id: LogId,
    /// The peer's opening id ([`crate::store::Store::opening_id`]) when this was recorded. A
    /// cursor past the peer's opened head is the peer's own progress only within the opening
    /// it was reached in.
    pub opening_id: u64,
}

impl PeerLog {
    /// The row's value: the log id, then the opening id (8 bytes, big-endian).
    pub(super) fn encode(&self) -> [u8; 24] {
        let mut out = [0u8; 24];
        out[..16].copy_from_slice(&self.log_id.0);
        out[16..].copy_from_slice(&self.opening_id.to_be_bytes());
        out
    }

    /// A row's value read back; `None` when it is not 24 bytes.
    pub(super) fn decode(raw: &[u8]) -> Option<PeerLog> {
        if raw.len() != 24 {
            return None;
        }
        Some(PeerLog {
            log_id: LogId::from_slice(&raw[..16])?,
            opening_id: u64::from_be_bytes(raw[16..].try_into().ok()?),
        })
    }
}

/// The file a backup leaves in its copy's store directory (`<data_dir>/store/tocsin-backup`).
/// Opening a store that holds it starts a new log (see `open.rs`), then removes it.
pub const BACKUP_NOTE: &str = "tocsin-backup";

/// The first word of the note's line, and its version.
const NOTE_TAG: &str = "tocsin-backup v1";

/// What a backup's note says: the log the copy was taken of, the head it holds, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupNote {
    /// The log id of the store the copy was taken from.
    pub log_id: LogId,
    /// The durable head the copy holds.
    pub head: u64,
    /// When the copy was taken, Unix seconds.
    pub taken: u64,
}

/// The note's one line: `tocsin-backup v1 log=<32 hex> head=<decimal> taken=<unix seconds>\n`.
pub fn backup_note_line(log_id: LogId, head: u64, taken: u64) -> String {
    format!("{NOTE_TAG} log={log_id} head={head} taken={taken}\n")
}

/// Reads a note written by [`backup_note_line`]; `None` for anything else.
pub fn parse_backup_note(text: &str) -> Option<BackupNote> {
    let rest = text
        .strip_suffix('\n')?
        .strip_prefix(NOTE_TAG)?
        .strip_prefix(' ')?;
    let mut fields = rest.split(' ');
    let log_id = LogId::from_hex(fields.next()?.strip_prefix("log=")?)?;
    let head = fields.next()?.strip_prefix("head=")?.parse().ok()?;
    let taken = fields.next()?.strip_prefix("taken=")?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    Some(BackupNote {
        log_id,
        head,
        taken,
    })
}

#[cfg(test)]
mod tests {
    use super::super::codec::meta;
    use super::*;
    use crate::store::tests::{T0, headline_alert, key};
    use crate::store::{Origin, Store};

    #[test]
    fn the_backup_note_reads_back_and_refuses_anything_else() {
        let log_id = LogId::from_bytes([0xab; 16]);
        let line = backup_note_line(log_id, 1234, 1_800_000_000);
        assert_eq!(
            line,
            "tocsin-backup v1 log=abababababababababababababababab head=1234 taken=1800000000\n"
        );
        assert_eq!(
            parse_backup_note(&line),
            Some(BackupNote {
                log_id,
                head: 1234,
                taken: 1_800_000_000
            })
        );
        for bad in [
            line.trim_end(),
            &line.replace("v1", "v2"),
            &line.replace("head=1234", "head=-1"),
            &line.replace("log=ab", "log="),
            &line.replace('\n', " more\n"),
            "",
        ] {
            assert_eq!(parse_backup_note(bad), None, "{bad:?}");
        }
    }

    fn config(dir: &std::path::Path) -> crate::store::StoreConfig {
        crate::store::StoreConfig {
            path: dir.join("store"),
            cache_bytes: 4 * 1024 * 1024,
            reserve_bytes: 0,
            ..crate::store::StoreConfig::default()
        }
    }

    /// A store holding `n` alerts of the Fictional Dockworkers' Union, closed.
    async fn store_with(dir: &std::path::Path, n: usize) -> LogId {
        let store = Store::open(&config(dir)).expect("open");
        let author = key(11);
        for i in 0..n {
            let alert = headline_alert(&author, T0, &format!("Dockers detained, report {i}"));
            store
                .insert(&alert, Origin::Local, T0)
                .await
                .expect("insert");
        }
        let log_id = store.log_id();
        store.close().await.expect("close");
        log_id
    }

    #[tokio::test]
    async fn the_log_id_is_kept_across_reopening_and_the_opened_head_is_the_first_open_s() {
        let dir = tempfile::tempdir().unwrap();
        let made = store_with(dir.path(), 3).await;
        assert_ne!(made, LogId::default());
        let store = Store::open(&config(dir.path())).unwrap();
        assert_eq!(store.log_id(), made);
        assert_eq!(store.opened_head(), 3);
        let more = headline_alert(&key(12), T0, "Seafarers stranded");
        store.insert(&more, Origin::Local, T0).await.unwrap();
        assert_eq!((store.head(), store.opened_head()), (4, 3));
        assert_eq!(store.restored_from().unwrap(), None);
        let first_opening = store.opening_id();
        store.close().await.unwrap();
        let store = Store::open(&config(dir.path())).unwrap();
        assert_eq!((store.log_id(), store.opened_head()), (made, 4));
        assert_ne!(
            store.opening_id(),
            first_opening,
            "each opening has its own id"
        );
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_store_from_before_log_ids_gets_one_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = store_with(dir.path(), 2).await;
        {
            // What a store written before log ids holds: no log id in `meta`.
            let db = sled::open(dir.path().join("store")).unwrap();
            let meta_tree = db.open_tree("meta").unwrap();
            assert!(meta_tree.remove(meta::LOG_ID).unwrap().is_some());
            db.flush().unwrap();
        }
        let store = Store::open(&config(dir.path())).unwrap();
        let minted = store.log_id();
        assert_ne!(minted, first);
        assert_ne!(minted, LogId::default());
        assert_eq!(store.head(), 2, "nothing else changed");
        store.close().await.unwrap();
        let store = Store::open(&config(dir.path())).unwrap();
        assert_eq!(store.log_id(), minted);
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_backup_note_starts_a_new_log_once_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = store_with(dir.path(), 2).await;
        let note = dir.path().join("store").join(BACKUP_NOTE);
        std::fs::write(&note, backup_note_line(old, 2, 1_800_000_000)).unwrap();
        let store = Store::open(&config(dir.path())).unwrap();
        let new = store.log_id();
        assert_ne!(new, old);
        assert!(!note.exists(), "the note is removed once its log is made");
        assert_eq!(store.restored_from().unwrap(), Some((old, 2)));
        assert_eq!((store.head(), store.opened_head()), (2, 2));
        store.close().await.unwrap();
        let store = Store::open(&config(dir.path())).unwrap();
        assert_eq!(store.log_id(), new, "a new log once, not at every open");
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_directory_holding_only_a_backup_note_is_not_refused_as_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        std::fs::create_dir_all(&store_dir).unwrap();
        std::fs::write(
            store_dir.join(BACKUP_NOTE),
            backup_note_line(LogId::from_bytes([3; 16]), 0, 1_800_000_000),
        )
        .unwrap();
        let store = Store::open(&config(dir.path())).expect("a note is one of the store's files");
        assert!(!store_dir.join(BACKUP_NOTE).exists());
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn a_cursor_goes_back_only_by_a_reset_with_its_log() {
        let dir = tempfile::tempdir().unwrap();
        store_with(dir.path(), 0).await;
        let store = Store::open(&config(dir.path())).unwrap();
        let peer = "eastland-relay";
        assert_eq!(store.peer_log(peer).unwrap(), None);
        store.advance_cursor(peer, 9).await.unwrap();
        let first = PeerLog {
            log_id: LogId::from_bytes([1; 16]),
            opening_id: 5,
        };
        store.record_peer_log(peer, first).await.unwrap();
        assert_eq!(
            store.cursor(peer).unwrap(),
            9,
            "recording a log moves no cursor"
        );
        store.advance_cursor(peer, 4).await.unwrap();
        assert_eq!(store.cursor(peer).unwrap(), 9, "an advance never goes back");
        let second = PeerLog {
            log_id: LogId::from_bytes([2; 16]),
            opening_id: 6,
        };
        store.reset_cursor(peer, second).await.unwrap();
        store.close().await.unwrap();
        let store = Store::open(&config(dir.path())).unwrap();
        assert_eq!(store.cursor(peer).unwrap(), 0, "the reset is durable");
        assert_eq!(store.peer_log(peer).unwrap(), Some(second));
        store.advance_cursor(peer, 2).await.unwrap();
        assert_eq!(store.cursor(peer).unwrap(), 2);
        store.close().await.unwrap();
    }

    #[test]
    fn a_peer_log_row_reads_back() {
        let row = PeerLog {
            log_id: LogId::from_bytes([7; 16]),
            opening_id: 0x0102_0304_0506_0708,
        };
        assert_eq!(PeerLog::decode(&row.encode()), Some(row));
        assert_eq!(PeerLog::decode(&row.encode()[..23]), None);
        assert_eq!(row.log_id.short(), "07070707");
    }
}
