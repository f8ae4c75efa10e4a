//! The body log: signatures and bodies, the bulk of the data, kept beside sled in append-only
//! segment files (`bodies/<16 hex digits>.seg`), with sled holding a small pointer to each.
//!
//! sled keeps every value inside its B-tree pages and rewrites whole pages as they change, so
//! 1 KiB bodies in sled cost several times their size on disk and a copy of their page on every
//! insert. Here a body is written once, at the end of the current segment, and read with one
//! `pread`.
//!
//! # Durability
//!
//! The writer appends a group's bodies and **syncs them before the sled transaction that
//! points to them is applied**. sled may write its pages to disk at any time after that, so a
//! pointer on disk always has its body on disk: a crash of the process or a power cut can leave
//! bodies nothing points to (reclaimed with their segment), never a pointer without its body.
//!
//! # Space
//!
//! Each segment's row in the `segs` tree counts its live bytes (added when a body is written,
//! taken off when its message is cancelled, withheld or expires) and the range of seqs whose
//! bodies it may hold. Retention deletes a segment that no longer holds a live body, after the
//! transaction that emptied it is durable, and compacts one that is mostly dead by moving its
//! live bodies to the end of the log. A few long-lived messages therefore cannot pin a segment.
//!
//! # Moved is not damage
//!
//! Readers take no lock: a reader may read a log entry, then retention moves that body and
//! deletes its segment, then the reader asks for the body where the entry said it was. The body
//! log remembers the segments it deleted itself, and answers such a read [`BodyRead::Moved`]:
//! the entry, read again, says where the body is now (or that it is gone). A segment missing
//! that the log did not delete, or a body cut short, is damage ([`StoreError::Corrupt`]), and a
//! body that does not hash to its id is found damaged by the caller (`codec::decode_body`):
//! neither is ever read again in the hope that it moved.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::StoreError;
use super::codec::{big_endian, read_u64};

/// Where a body is: segment, offset, length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BodyRef {
    pub(super) seg: u64,
    pub(super) off: u64,
    pub(super) len: u32,
}

impl BodyRef {
    pub(super) const SIZE: usize = 20;

    pub(super) fn encode(&self) -> [u8; Self::SIZE] {
        let mut v = [0u8; Self::SIZE];
        v[..8].copy_from_slice(&big_endian(self.seg));
        v[8..16].copy_from_slice(&big_endian(self.off));
        v[16..].copy_from_slice(&self.len.to_be_bytes());
        v
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != Self::SIZE {
            return None;
        }
        Some(BodyRef {
            seg: read_u64(&b[..8])?,
            off: read_u64(&b[8..16])?,
            len: u32::from_be_bytes(b[16..].try_into().ok()?),
        })
    }
}

/// A segment's row in the `segs` tree: live bytes, and the seqs whose bodies it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SegRow {
    pub(super) live: u64,
    pub(super) min_seq: u64,
    pub(super) max_seq: u64,
}

impl SegRow {
    pub(super) fn encode(&self) -> Vec<u8> {
        [
            big_endian(self.live),
            big_endian(self.min_seq),
            big_endian(self.max_seq),
        ]
        .concat()
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 24 {
            return None;
        }
        Some(SegRow {
            live: read_u64(&b[..8])?,
            min_seq: read_u64(&b[8..16])?,
            max_seq: read_u64(&b[16..])?,
        })
    }

    /// Counts a body of `len` bytes for `seq` in this segment.
    pub(super) fn add(row: Option<SegRow>, seq: u64, len: u64) -> SegRow {
        match row {
            None => SegRow {
                live: len,
                min_seq: seq,
                max_seq: seq,
            },
            Some(r) => SegRow {
                live: r.live + len,
                min_seq: r.min_seq.min(seq),
                max_seq: r.max_seq.max(seq),
            },
        }
    }
}

/// What a read of a body found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BodyRead {
    /// The signature and body bytes, as appended (not yet checked against the id).
    Found(Vec<u8>),
    /// Its segment was deleted by this log since the reference was taken (retention moved the
    /// live bodies out first, or the message went): not damage. Read the log entry again.
    Moved,
}

/// The most buffer kept between groups for the bodies they append (a group of a thousand
/// messages of a few KiB each).
const KEEP_PENDING_BYTES: usize = 4 << 20;

/// The writer's side: the segment being appended to and the bytes not yet written.
#[derive(Debug)]
struct Appender {
    seg: u64,
    file: Arc<File>,
    /// Bytes of `seg` already written to the file.
    len: u64,
    /// Appended since the last write: they follow `len`.
    pending: Vec<u8>,
    /// Earlier segments written but not yet synced (a group that crossed into a new one).
    unsynced: Vec<Arc<File>>,
    /// Set when a failed write could neither be cut back nor measured: the next append starts
    /// a new segment instead of guessing where this one ends.
    broken: bool,
}

/// The body log of one store.
#[derive(Debug)]
pub(super) struct BodyLog {
    dir: PathBuf,
    store_dir: PathBuf,
    segment_bytes: u64,
    appender: Mutex<Appender>,
    /// Open read handles. A handle stays usable after its segment is deleted, so a reader
    /// that took one before a deletion still reads the old copy.
    files: Mutex<HashMap<u64, Arc<File>>>,
    /// The segments this log deleted since it opened: a read of one is [`BodyRead::Moved`].
    /// Segment numbers are never reused, and a few are deleted per retention pass, so it stays
    /// small.
    reclaimed: Mutex<BTreeSet<u64>>,
    /// Reads of segment files tried (moved and failed ones too), for the tests that damage is
    /// read only once.
    #[cfg(test)]
    pub(super) reads: std::sync::atomic::AtomicU64,
    /// Writes made to fail, in unit tests.
    #[cfg(test)]
    pub(super) faults: faults::Faults,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `bodies/<16 hex digits>.seg`.
pub(super) fn seg_name(seg: u64) -> String {
    format!("{seg:016x}.seg")
}

fn parse_seg_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// The directory of the body log inside a store's directory.
pub(super) const BODIES_DIR: &str = "bodies";

impl BodyLog {
    /// Opens (or creates) the body log of the store in `store_dir`, appending to its last
    /// segment.
    pub(super) fn open(store_dir: &Path, segment_bytes: u64) -> Result<BodyLog, StoreError> {
        let dir = store_dir.join(BODIES_DIR);
        let io = |e| StoreError::io(store_dir, e);
        fs::create_dir_all(&dir).map_err(io)?;
        let seg = list_segments(&dir)
            .map_err(io)?
            .into_iter()
            .max()
            .unwrap_or(1);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(seg_name(seg)))
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        Ok(BodyLog {
            dir,
            store_dir: store_dir.to_path_buf(),
            segment_bytes: segment_bytes.max(1),
            appender: Mutex::new(Appender {
                seg,
                file: Arc::new(file),
                len,
                pending: Vec::new(),
                unsynced: Vec::new(),
                broken: false,
            }),
            files: Mutex::new(HashMap::new()),
            reclaimed: Mutex::new(BTreeSet::new()),
            #[cfg(test)]
            reads: std::sync::atomic::AtomicU64::new(0),
            #[cfg(test)]
            faults: faults::Faults::default(),
        })
    }

    fn io(&self, e: std::io::Error) -> StoreError {
        StoreError::io(&self.store_dir, e)
    }

    /// The segment being appended to.
    pub(super) fn current(&self) -> u64 {
        lock(&self.appender).seg
    }

    /// The segments on disk.
    pub(super) fn segments(&self) -> Result<Vec<u64>, StoreError> {
        list_segments(&self.dir).map_err(|e| self.io(e))
    }

    /// Appends `sig ‖ body` after what is pending (writer only; written by
    /// [`BodyLog::write_and_sync`]). A body never straddles two segments.
    pub(super) fn append(&self, parts: &[&[u8]]) -> Result<BodyRef, StoreError> {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        let mut a = lock(&self.appender);
        let end = a.len + a.pending.len() as u64;
        if a.broken || (end > 0 && end + n as u64 > self.segment_bytes) {
            self.rotate(&mut a)?;
        }
        let r = BodyRef {
            seg: a.seg,
            off: a.len + a.pending.len() as u64,
            len: n as u32,
        };
        for p in parts {
            a.pending.extend_from_slice(p);
        }
        Ok(r)
    }

    /// Writes what is pending and starts the next segment.
    fn rotate(&self, a: &mut Appender) -> Result<(), StoreError> {
        self.write_pending(a)?;
        let next = a.seg + 1;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(seg_name(next)))
            .map_err(|e| self.io(e))?;
        let old = std::mem::replace(&mut a.file, Arc::new(file));
        a.unsynced.push(old);
        a.seg = next;
        a.len = 0;
        a.broken = false;
        Ok(())
    }

    /// Writes what is pending and syncs every segment written since the last sync. Called
    /// before the transaction that points to these bodies is applied.
    pub(super) fn write_and_sync(&self) -> Result<(), StoreError> {
        // Written under the lock (readers then find the bytes in the file, not in `pending`),
        // synced outside it: a reader does not wait for the disk.
        let to_sync = {
            let mut a = lock(&self.appender);
            if a.pending.is_empty() && a.unsynced.is_empty() {
                return Ok(());
            }
            self.write_pending(&mut a)?;
            let mut files = std::mem::take(&mut a.unsynced);
            files.push(a.file.clone());
            files
        };
        for f in to_sync {
            f.sync_data().map_err(|e| self.io(e))?;
        }
        Ok(())
    }

    /// Writes what is pending with [`BodyLog::write_at_end`], written or not: a failed write's
    /// group fails with it. The emptied buffer is kept for the next group (cut back to
    /// [`KEEP_PENDING_BYTES`]), which would otherwise copy its bodies into new memory, doubling
    /// it as it grows (a tenth of the writer's time in a busy node's profile).
    fn write_pending(&self, a: &mut Appender) -> Result<(), StoreError> {
        let mut pending = std::mem::take(&mut a.pending);
        let written = self.write_at_end(a, &pending);
        pending.clear();
        pending.shrink_to(KEEP_PENDING_BYTES);
        a.pending = pending;
        written
    }

    /// Appends `bytes` to the segment being written and counts them in `a.len`, or leaves the
    /// segment as it was: a write that fails part way (a full disk) is cut back to the last good
    /// length, so the offsets of later bodies stay true. If the file cannot be cut back, its
    /// real length is taken as the end instead: the partial bytes become dead space that nothing
    /// points to, and the next body is recorded where it really lands.
    fn write_at_end(&self, a: &mut Appender, bytes: &[u8]) -> Result<(), StoreError> {
        #[cfg(test)]
        let written = match self.faults.take_next() {
            Some(keep) => faults::partial_write(&a.file, bytes, keep),
            None => (&*a.file).write_all(bytes),
        };
        #[cfg(not(test))]
        let written = (&*a.file).write_all(bytes);
        match written {
            Ok(()) => {
                a.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                if a.file.set_len(a.len).is_err() {
                    match a.file.metadata() {
                        Ok(m) => a.len = m.len(),
                        // Neither cut back nor measured: no more appends to this segment.
                        Err(_) => a.broken = true,
                    }
                }
                Err(self.io(e))
            }
        }
    }

    /// Forgets what was appended since the last write (its group failed to plan).
    pub(super) fn discard(&self) {
        lock(&self.appender).pending.clear();
    }

    /// Reads a body, for the writer: the references it reads are never older than the last
    /// reclaim (a segment is deleted only after the transaction that moved everything out of it
    /// is durable), so a deleted segment is reported as missing, as any other.
    pub(super) fn read(&self, r: &BodyRef) -> Result<Vec<u8>, StoreError> {
        match self.read_or_moved(r)? {
            BodyRead::Found(bytes) => Ok(bytes),
            BodyRead::Moved => Err(self.segment_missing(r.seg)),
        }
    }

    /// Reads a body: from what is pending if it is not written yet (a message planned earlier
    /// in the same group), else from its segment. [`BodyRead::Moved`] when this log deleted
    /// the segment since (see the module docs); a missing segment it did not delete, or a body
    /// cut short, is [`StoreError::Corrupt`].
    pub(super) fn read_or_moved(&self, r: &BodyRef) -> Result<BodyRead, StoreError> {
        {
            let a = lock(&self.appender);
            if r.seg == a.seg && r.off >= a.len {
                let at = (r.off - a.len) as usize;
                return a
                    .pending
                    .get(at..at + r.len as usize)
                    .map(|b| BodyRead::Found(b.to_vec()))
                    .ok_or_else(|| self.missing(r));
            }
        }
        #[cfg(test)]
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(file) = self.handle(r.seg)? else {
            return Ok(BodyRead::Moved);
        };
        let mut buf = vec![0u8; r.len as usize];
        file.read_exact_at(&mut buf, r.off).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                self.missing(r)
            } else {
                self.io(e)
            }
        })?;
        Ok(BodyRead::Found(buf))
    }

    fn missing(&self, r: &BodyRef) -> StoreError {
        StoreError::corrupt(
            &self.store_dir,
            format!(
                "a message body is missing from {}/{} at {}",
                BODIES_DIR,
                seg_name(r.seg),
                r.off
            ),
        )
    }

    fn segment_missing(&self, seg: u64) -> StoreError {
        StoreError::corrupt(
            &self.store_dir,
            format!(
                "the body segment {}/{} is missing",
                BODIES_DIR,
                seg_name(seg)
            ),
        )
    }

    /// A read handle on a segment; `None` when this log deleted it.
    fn handle(&self, seg: u64) -> Result<Option<Arc<File>>, StoreError> {
        let mut files = lock(&self.files);
        if let Some(f) = files.get(&seg) {
            return Ok(Some(f.clone()));
        }
        let f = match File::open(self.dir.join(seg_name(seg))) {
            Ok(f) => Arc::new(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // `remove` notes a segment before it deletes the file, so a deletion of ours
                // is always known here.
                if lock(&self.reclaimed).contains(&seg) {
                    return Ok(None);
                }
                return Err(self.segment_missing(seg));
            }
            Err(e) => return Err(self.io(e)),
        };
        files.insert(seg, f.clone());
        Ok(Some(f))
    }

    /// Deletes a segment no live body is in (never the one being appended to). A read of it
    /// from then on is [`BodyRead::Moved`].
    pub(super) fn remove(&self, seg: u64) -> Result<(), StoreError> {
        if seg == self.current() {
            return Ok(());
        }
        lock(&self.reclaimed).insert(seg);
        lock(&self.files).remove(&seg);
        match fs::remove_file(self.dir.join(seg_name(seg))) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io(e)),
        }
    }

    /// A segment's size on disk.
    pub(super) fn size(&self, seg: u64) -> Result<u64, StoreError> {
        {
            let a = lock(&self.appender);
            if seg == a.seg {
                return Ok(a.len + a.pending.len() as u64);
            }
        }
        match fs::metadata(self.dir.join(seg_name(seg))) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(self.io(e)),
        }
    }

    /// The body log's size on disk.
    pub(super) fn disk_bytes(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for seg in self.segments()? {
            total += self.size(seg)?;
        }
        Ok(total)
    }
}

fn list_segments(dir: &Path) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        if let Some(seg) = parse_seg_name(&entry?.file_name().to_string_lossy()) {
            out.push(seg);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Failing writes on demand, for the unit tests of what a full disk does to the log.
#[cfg(test)]
pub(super) mod faults {
    use std::fs::File;
    use std::io::Write;
    use std::sync::Mutex;

    /// The next write keeps only this many bytes and fails as a full disk does.
    #[derive(Debug, Default)]
    pub(in crate::store) struct Faults {
        next: Mutex<Option<usize>>,
    }

    impl Faults {
        /// Makes the next write keep `keep` bytes and fail with "no space left".
        pub(in crate::store) fn fail_next_write(&self, keep: usize) {
            *self.next.lock().unwrap() = Some(keep);
        }

        pub(super) fn take_next(&self) -> Option<usize> {
            self.next.lock().unwrap().take()
        }
    }

    /// Writes a prefix of `bytes`, as a disk that fills part way through a write does.
    pub(super) fn partial_write(mut file: &File, bytes: &[u8], keep: usize) -> std::io::Result<()> {
        file.write_all(&bytes[..keep.min(bytes.len())])?;
        Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_fails_part_way_leaves_later_offsets_true() {
        let dir = tempfile::tempdir().unwrap();
        let log = BodyLog::open(dir.path(), 1 << 20).unwrap();
        let a = log.append(&[b"first body"]).unwrap();
        log.write_and_sync().unwrap();
        // The disk fills after 3 bytes of the next group.
        let lost = log.append(&[b"lost body, never acknowledged"]).unwrap();
        log.faults.fail_next_write(3);
        let err = log.write_and_sync().unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        log.discard();
        // Space is back: the next body lands where it is recorded.
        let b = log.append(&[b"second body"]).unwrap();
        assert_eq!(b.off, lost.off, "the partial write was cut back");
        log.write_and_sync().unwrap();
        assert_eq!(log.read(&b).unwrap(), b"second body");
        drop(log);
        let log = BodyLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.read(&a).unwrap(), b"first body");
        assert_eq!(log.read(&b).unwrap(), b"second body");
        assert_eq!(log.size(b.seg).unwrap(), b.off + u64::from(b.len));
    }

    #[test]
    fn a_rotation_that_fails_leaves_the_old_segment_whole() {
        let dir = tempfile::tempdir().unwrap();
        let log = BodyLog::open(dir.path(), 40).unwrap();
        let a = log.append(&[&[1u8; 30]]).unwrap();
        // The next body does not fit: appending it writes the pending one first, and that
        // write fails part way.
        log.faults.fail_next_write(7);
        assert!(log.append(&[&[2u8; 30]]).is_err());
        log.discard();
        let b = log.append(&[&[3u8; 30]]).unwrap();
        log.write_and_sync().unwrap();
        assert_eq!(log.read(&b).unwrap(), vec![3u8; 30]);
        // The first body was pending when its write failed: its group failed with it, and
        // nothing of it is left in the file to shift what follows.
        assert_eq!((b.seg, b.off), (a.seg, 0));
    }

    #[test]
    fn a_segment_this_log_deleted_reads_as_moved_and_any_other_loss_as_damage() {
        let dir = tempfile::tempdir().unwrap();
        let log = BodyLog::open(dir.path(), 40).unwrap();
        // 30 bytes each, 40-byte segments: one body per segment.
        let refs: Vec<BodyRef> = (1..=4u8)
            .map(|i| log.append(&[&[i; 30]]).unwrap())
            .collect();
        log.write_and_sync().unwrap();
        let [reclaimed, lost, cut, sound] = [refs[0], refs[1], refs[2], refs[3]];
        assert_eq!(
            refs.iter().map(|r| r.seg).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        // Read once (a handle is kept), then deleted by the log: moved, even for that handle.
        assert_eq!(
            log.read_or_moved(&reclaimed).unwrap(),
            BodyRead::Found(vec![1; 30])
        );
        log.remove(reclaimed.seg).unwrap();
        assert_eq!(log.read_or_moved(&reclaimed).unwrap(), BodyRead::Moved);
        // The writer never holds such a reference: to it, a deleted segment is missing.
        assert!(matches!(
            log.read(&reclaimed),
            Err(StoreError::Corrupt { .. })
        ));
        // A segment deleted behind the log's back is damage, not a move.
        fs::remove_file(dir.path().join(BODIES_DIR).join(seg_name(lost.seg))).unwrap();
        let err = log.read_or_moved(&lost).unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { detail, .. } if detail.contains("is missing")),
            "{err}"
        );
        // So is a body cut short.
        OpenOptions::new()
            .write(true)
            .open(dir.path().join(BODIES_DIR).join(seg_name(cut.seg)))
            .unwrap()
            .set_len(10)
            .unwrap();
        assert!(matches!(
            log.read_or_moved(&cut),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(
            log.read_or_moved(&sound).unwrap(),
            BodyRead::Found(vec![4; 30])
        );
        // A log opened afterwards did not delete anything itself: the same loss is damage there.
        let fresh = BodyLog::open(dir.path(), 40).unwrap();
        assert!(matches!(
            fresh.read_or_moved(&reclaimed),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn appends_read_back_across_segments_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let log = BodyLog::open(dir.path(), 100).unwrap();
        let mut refs = Vec::new();
        for i in 0..10u8 {
            let body = vec![i; 30];
            let r = log.append(&[&[i; 2], &body]).unwrap();
            // Readable from what is pending, before it is written.
            assert_eq!(log.read(&r).unwrap()[2..], body[..]);
            refs.push(r);
            if i % 3 == 0 {
                log.write_and_sync().unwrap();
            }
        }
        log.write_and_sync().unwrap();
        assert!(
            log.segments().unwrap().len() >= 3,
            "100-byte segments rotate"
        );
        assert!(refs.iter().all(|r| r.off + u64::from(r.len) <= 100));
        drop(log);
        let log = BodyLog::open(dir.path(), 100).unwrap();
        for (i, r) in refs.iter().enumerate() {
            assert_eq!(
                log.read(r).unwrap(),
                [vec![i as u8; 2], vec![i as u8; 30]].concat()
            );
        }
        // Appending goes on in the last segment.
        let r = log.append(&[b"tail"]).unwrap();
        assert_eq!(r.seg, *log.segments().unwrap().last().unwrap());
        // A discarded append is not written; a deleted segment is reported as missing.
        log.discard();
        log.write_and_sync().unwrap();
        let first = refs[0];
        log.remove(first.seg).unwrap();
        let fresh = BodyLog::open(dir.path(), 100).unwrap();
        assert!(matches!(
            fresh.read(&first),
            Err(StoreError::Corrupt { .. })
        ));
        assert_eq!(BodyRef::decode(&first.encode()), Some(first));
        let row = SegRow::add(SegRow::add(None, 7, 10).into(), 3, 5);
        assert_eq!(SegRow::decode(&row.encode()), Some(row));
        assert_eq!((row.live, row.min_seq, row.max_seq), (15, 3, 7));
    }
}
