//! Opening a store's directory: recovery as named steps, run in order by [`open_inner`].
//!
//! Each step recovers from one thing a crash, a full disk or an operator can leave behind, and
//! refuses what cannot be recovered without losing acknowledged messages. The order matters:
//! the directory and its marker are looked at before sled touches anything (so a foreign
//! directory is never written to), sled's recovered head is checked against the marker before
//! anything is served, and the body log's leftovers are reclaimed only once sled's rows, which
//! say what is live, are known to be whole.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::codec::{self, Tree, meta};
use super::commit::{Committer, MARKER_FILE, Marker};
use super::log_id::{BACKUP_NOTE, LogId, parse_backup_note};
use super::{Inner, Recent, Shared, StoreError, Trees, bodies, damage, ids, retry, space, writer};
use crate::message::Id;

/// Opens the store's directory: its marker, sled, the body log, the id filter, and the writer
/// and flusher threads. `reserve` is the free space to keep (see `space.rs`).
pub(super) fn open_inner(shared: &Arc<Shared>, reserve: u64) -> Result<Inner, StoreError> {
    let cfg = &shared.cfg;
    let dir = cfg.path.clone();
    ensure_dir(&dir)?;
    let marker = read_marker(&dir)?;
    if marker.is_none() {
        refuse_foreign_files(&dir)?;
    }
    let db = open_sled_waiting(&dir, cfg.cache_bytes)?;
    let trees = open_trees(&dir, &db)?;
    let store_id = check_format(&dir, &db, &trees, marker.is_some())?;
    let last_seq = recovered_head(&dir, &trees)?;
    reconcile_marker(&dir, marker.as_ref(), &store_id, last_seq)?;
    let marker = make_recovery_durable(&dir, &db, store_id, last_seq)?;
    let log_id = ensure_log_id(&dir, &db, &trees)?;
    let log_id = new_log_after_restore(&dir, &db, &trees, log_id, last_seq)?;
    link_successors(&dir, &db, &trees)?;
    let bodies = bodies::BodyLog::open(&dir, cfg.segment_bytes)?;
    reclaim_leftover_segments(&dir, &trees, &bodies)?;
    let ids = load_id_filter(&dir, &trees, marker.store_id(), last_seq)?;
    reload_refetch_list(&dir, &trees, &shared.damage)?;
    start(
        shared,
        Recovered {
            dir,
            db,
            trees,
            last_seq,
            marker,
            bodies,
            ids,
            log_id,
        },
        reserve,
    )
}

/// Makes a missing data directory; refuses a path that is a file. Creating it is safe: an
/// empty directory holds no store to lose.
fn ensure_dir(dir: &Path) -> Result<(), StoreError> {
    let io = |e| StoreError::io(dir, e);
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(StoreError::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir_all(dir).map_err(io),
        Err(e) => Err(io(e)),
    }
}

/// Reads the marker (the store's id and the highest seq ever made durable), if there is one.
/// One that cannot be read is damage: without it a database that lost its tail could not be
/// told from a whole one.
fn read_marker(dir: &Path) -> Result<Option<(String, u64)>, StoreError> {
    let text = match fs::File::open(dir.join(MARKER_FILE)) {
        Ok(mut f) => {
            let mut s = String::new();
            f.read_to_string(&mut s).map_err(|e| {
                StoreError::corrupt(dir, format!("the marker {MARKER_FILE} is unreadable: {e}"))
            })?;
            s
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    Marker::parse(&text).map(Some).ok_or_else(|| {
        StoreError::corrupt(
            dir,
            format!("the marker {MARKER_FILE} is not a store marker"),
        )
    })
}

/// Without a marker, refuses a directory holding anything but sled's files, the body log and a
/// backup's note: a mistyped path must not have a database written into someone's files.
/// (sled's files without a marker are a store that crashed while it was being created.)
fn refuse_foreign_files(dir: &Path) -> Result<(), StoreError> {
    let io = |e| StoreError::io(dir, e);
    for entry in fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        let name = name.to_string_lossy();
        if !is_sled_file(&name) && name != BACKUP_NOTE {
            return Err(StoreError::NotAStore {
                dir: dir.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// The files sled keeps in its directory, and the body log's directory (and a snapshot of
/// sled's set aside as damaged).
fn is_sled_file(name: &str) -> bool {
    matches!(name, "conf" | "db" | "blobs" | bodies::BODIES_DIR)
        || name.starts_with("snap.")
        || name.starts_with(DAMAGED_SNAPSHOT)
}

/// The prefix a damaged snapshot of sled's is renamed with (see [`open_sled`]).
const DAMAGED_SNAPSHOT: &str = "damaged-";

/// Opens every tree (sled makes those a newer program added, empty, when an older store is
/// opened).
fn open_trees(dir: &Path, db: &sled::Db) -> Result<Trees, StoreError> {
    let all = Tree::ALL
        .iter()
        .map(|t| db.open_tree(t.name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::sled(dir, e))?;
    Ok(Trees { all })
}

/// Checks the store's format and returns its id. A new store (no format, no marker) is given
/// an id and the current format, durably, before anything else is written. An older format
/// this code reads as it is (see `codec.rs`) is marked current, so that older programs refuse
/// it from then on. A newer or unknown format, or a marker without a database, is refused
/// untouched.
fn check_format(
    dir: &Path,
    db: &sled::Db,
    trees: &Trees,
    has_marker: bool,
) -> Result<String, StoreError> {
    let sled_err = |e| StoreError::sled(dir, e);
    let meta_tree = trees.get(Tree::Meta);
    let Some(found) = meta_tree.get(meta::FORMAT).map_err(sled_err)? else {
        if has_marker {
            return Err(StoreError::corrupt(
                dir,
                "a store was created here but the database file holds none of it",
            ));
        }
        let mut raw = [0u8; 16];
        getrandom::fill(&mut raw).map_err(|e| {
            StoreError::io(dir, std::io::Error::other(format!("no randomness: {e}")))
        })?;
        let id = hex::encode(raw);
        meta_tree
            .insert(meta::STORE_ID, id.as_bytes())
            .map_err(sled_err)?;
        meta_tree
            .insert(meta::FORMAT, &codec::FORMAT.to_be_bytes())
            .map_err(sled_err)?;
        db.flush().map_err(sled_err)?;
        return Ok(id);
    };
    let format = <[u8; 4]>::try_from(found.as_ref())
        .map(u32::from_be_bytes)
        .map_err(|_| StoreError::corrupt(dir, "the store format is unreadable"))?;
    if codec::FORMATS_UPGRADED.contains(&format) {
        meta_tree
            .insert(meta::FORMAT, &codec::FORMAT.to_be_bytes())
            .map_err(sled_err)?;
        db.flush().map_err(sled_err)?;
        tracing::info!(dir = %dir.display(), from = format, to = codec::FORMAT, "store format upgraded");
    } else if format > codec::FORMAT {
        return Err(StoreError::NewerFormat {
            dir: dir.to_path_buf(),
            found: format,
            reads: codec::FORMAT,
        });
    } else if format != codec::FORMAT {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "store format {format} is not format {} that this program reads",
                codec::FORMAT
            ),
        ));
    }
    meta_tree
        .get(meta::STORE_ID)
        .map_err(sled_err)?
        .and_then(|v| String::from_utf8(v.to_vec()).ok())
        .ok_or_else(|| StoreError::corrupt(dir, "the store id is missing"))
}

/// A counter of the `meta` tree (0 when absent).
fn meta_counter(dir: &Path, trees: &Trees, key: &[u8]) -> Result<u64, StoreError> {
    match trees
        .get(Tree::Meta)
        .get(key)
        .map_err(|e| StoreError::sled(dir, e))?
    {
        None => Ok(0),
        Some(v) => codec::read_u64(&v)
            .ok_or_else(|| StoreError::corrupt(dir, "a store counter is unreadable")),
    }
}

/// The last seq sled recovered: the larger of the `last_seq` counter and the last seq of the
/// last log row (a row is written with its seqs, so the log is the authority when the counter
/// lags).
fn recovered_head(dir: &Path, trees: &Trees) -> Result<u64, StoreError> {
    let mut last_seq = meta_counter(dir, trees, meta::LAST_SEQ)?;
    let last_row = trees
        .get(Tree::Log)
        .last()
        .map_err(|e| StoreError::sled(dir, e))?;
    if let Some((k, v)) = last_row {
        let key = codec::read_u64(&k)
            .ok_or_else(|| StoreError::corrupt(dir, "a log key is unreadable"))?;
        for e in codec::LogRow::new(key, &v) {
            let (seq, _) =
                e.ok_or_else(|| StoreError::corrupt(dir, "the last log row is unreadable"))?;
            last_seq = last_seq.max(seq);
        }
    }
    Ok(last_seq)
}

/// Refuses a database that is not the marker's, or that recovered below the head the marker
/// says was made durable: sled reads a damaged log as a torn tail and comes up with less, and
/// serving that would lose acknowledged messages silently.
fn reconcile_marker(
    dir: &Path,
    marker: Option<&(String, u64)>,
    store_id: &str,
    last_seq: u64,
) -> Result<(), StoreError> {
    let Some((marker_id, marker_head)) = marker else {
        tracing::info!(dir = %dir.display(), "new store");
        return Ok(());
    };
    if marker_id != store_id {
        return Err(StoreError::corrupt(
            dir,
            format!("the marker belongs to store {marker_id}, the database to store {store_id}"),
        ));
    }
    if *marker_head > last_seq {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "the database recovered up to seq {last_seq} but seq {marker_head} had been made durable: acknowledged messages are missing"
            ),
        ));
    }
    Ok(())
}

/// Flushes what sled recovered, which may be in the kernel's cache only (after a killed
/// process), before anyone reads it as durable; then records the recovered head in the marker
/// (made if new), so the next open checks against it.
fn make_recovery_durable(
    dir: &Path,
    db: &sled::Db,
    store_id: String,
    last_seq: u64,
) -> Result<Arc<Marker>, StoreError> {
    db.flush().map_err(|e| StoreError::sled(dir, e))?;
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(MARKER_FILE))
        .map_err(|e| StoreError::io(dir, e))?;
    let marker = Arc::new(Marker::new(file, store_id));
    marker.record(last_seq);
    Ok(marker)
}

/// The log id, made now for a store from before log ids (a new meta key: no format change, and
/// an older program ignores it). A store created by this program gets its id here too, on its
/// first open, before anything is served. Durable before it is returned, so no follower is
/// shown an id that a crash could take back.
fn ensure_log_id(dir: &Path, db: &sled::Db, trees: &Trees) -> Result<LogId, StoreError> {
    let sled_err = |e| StoreError::sled(dir, e);
    let meta_tree = trees.get(Tree::Meta);
    if let Some(found) = meta_tree.get(meta::LOG_ID).map_err(sled_err)? {
        return LogId::from_slice(&found)
            .ok_or_else(|| StoreError::corrupt(dir, "the log id is unreadable"));
    }
    let log_id = random_log_id(dir)?;
    meta_tree
        .insert(meta::LOG_ID, log_id.as_bytes())
        .map_err(sled_err)?;
    db.flush().map_err(sled_err)?;
    Ok(log_id)
}

/// Gives every key whose end names a successor its link from that successor
/// (`Tree::Successors`), where it has none: a store written before the key trees holds
/// revocations naming successors without them, and a successor must be known to carry on for
/// its key (`Store::key_state`, the trust policy) whatever version stored the revocation. The
/// other key trees start empty in such a store and need nothing: no commitment or rotation
/// could be stored before them. A new tree beside format 4, so no format change; durable before
/// the store is served, and found done on every later open.
fn link_successors(dir: &Path, db: &sled::Db, trees: &Trees) -> Result<(), StoreError> {
    let sled_err = |e| StoreError::sled(dir, e);
    let successors = trees.get(Tree::Successors);
    let mut linked = 0u64;
    for kv in trees.get(Tree::Revoked).iter() {
        let (key, value) = kv.map_err(sled_err)?;
        let Some(successor) = codec::Revoked::decode(&value).and_then(|r| r.successor) else {
            continue;
        };
        let link = codec::concat(&[&successor, &key]);
        if !successors.contains_key(&link).map_err(sled_err)? {
            successors.insert(link, &[]).map_err(sled_err)?;
            linked += 1;
        }
    }
    if linked > 0 {
        db.flush().map_err(sled_err)?;
        tracing::info!(dir = %dir.display(), linked, "successors of revoked keys linked to them");
    }
    Ok(())
}

/// A store holding a backup's note ([`BACKUP_NOTE`]) is a copy of an older state of a log
/// that its followers may have gone past: it gets a new log id, so they follow it from its
/// start. The old id and the copy's head are kept in `meta` (for status and the log), made
/// durable with the new id, and only then is the note removed. A crash before the note is gone
/// makes yet another id on the next open: harmless, since no one was shown the one before. A
/// note that does not read as one still marks a copy: the head is then the one recovered.
fn new_log_after_restore(
    dir: &Path,
    db: &sled::Db,
    trees: &Trees,
    log_id: LogId,
    last_seq: u64,
) -> Result<LogId, StoreError> {
    let io = |e| StoreError::io(dir, e);
    let sled_err = |e| StoreError::sled(dir, e);
    let path = dir.join(BACKUP_NOTE);
    let text = match fs::read(&path) {
        Ok(raw) => String::from_utf8_lossy(&raw).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(log_id),
        Err(e) => return Err(io(e)),
    };
    let note = parse_backup_note(&text);
    if note.is_none() {
        tracing::warn!(dir = %dir.display(), "the backup note does not read as one; taking the store as a restored copy anyway");
    }
    let head = note.map_or(last_seq, |n| n.head);
    let new_id = random_log_id(dir)?;
    let meta_tree = trees.get(Tree::Meta);
    meta_tree
        .insert(meta::RESTORED_FROM_LOG, log_id.as_bytes())
        .map_err(sled_err)?;
    meta_tree
        .insert(meta::RESTORED_AT_HEAD, &codec::big_endian(head))
        .map_err(sled_err)?;
    meta_tree
        .insert(meta::LOG_ID, new_id.as_bytes())
        .map_err(sled_err)?;
    db.flush().map_err(sled_err)?;
    fs::remove_file(&path).map_err(io)?;
    // The removal made durable too, or the next open would start yet another log (harmless,
    // but it costs the followers another read from the start).
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    tracing::info!(
        dir = %dir.display(),
        head,
        old_log_id = %log_id,
        log_id = %new_id,
        "restored from a backup taken at head {head}; new log id {new_id}"
    );
    Ok(new_id)
}

/// A new random log id.
fn random_log_id(dir: &Path) -> Result<LogId, StoreError> {
    LogId::random()
        .ok_or_else(|| StoreError::io(dir, std::io::Error::other("no randomness for a log id")))
}

/// Every segment a row counts must be there (a missing one is lost bodies: refused). A
/// segment no row counts holds no live body (retention stopped between deleting its row and
/// its file, or a group's bodies were written and its transaction never applied) and goes,
/// unless it is the one being appended to.
fn reclaim_leftover_segments(
    dir: &Path,
    trees: &Trees,
    bodies: &bodies::BodyLog,
) -> Result<(), StoreError> {
    let mut counted = BTreeSet::new();
    for kv in trees.get(Tree::Segs).iter() {
        let (k, _) = kv.map_err(|e| StoreError::sled(dir, e))?;
        counted.insert(
            codec::read_u64(&k)
                .ok_or_else(|| StoreError::corrupt(dir, "a body segment row is unreadable"))?,
        );
    }
    let on_disk = bodies.segments()?;
    if let Some(lost) = counted.iter().find(|s| !on_disk.contains(s)) {
        return Err(StoreError::corrupt(
            dir,
            format!("the body segment {lost:016x}.seg is missing"),
        ));
    }
    for seg in on_disk {
        if !counted.contains(&seg) {
            bodies.remove(seg)?;
        }
    }
    Ok(())
}

/// The filter of held ids a clean close saved for this store at this head, or else a new one
/// sized for twice the ids held, to be filled beside the running store (see `ids.rs`). Either
/// way the saved file is gone before the store can write.
fn load_id_filter(
    dir: &Path,
    trees: &Trees,
    store_id: &str,
    last_seq: u64,
) -> Result<ids::IdFilter, StoreError> {
    if let Some(saved) =
        ids::IdFilter::take_saved(dir, store_id, last_seq).map_err(|e| StoreError::io(dir, e))?
    {
        return Ok(saved);
    }
    let held = meta_counter(dir, trees, meta::N_MESSAGES)?.saturating_add(meta_counter(
        dir,
        trees,
        meta::N_TOMBSTONES,
    )?);
    let empty = [Tree::Msgs, Tree::Tombs, Tree::Refs]
        .iter()
        .all(|t| trees.get(*t).is_empty());
    Ok(ids::IdFilter::with_capacity(held.saturating_mul(2), empty))
}

/// Fills an incomplete filter from every record, tombstone and reference target, on a thread
/// of its own: the store serves meanwhile, every id a "perhaps" until it is done. The thread
/// stops early when the store closes ([`ids::IdFilter::abandon`]).
fn start_filling(
    dir: &Path,
    trees: &Trees,
    ids: &Arc<ids::IdFilter>,
) -> Result<Option<std::thread::JoinHandle<()>>, StoreError> {
    if ids.is_complete() {
        return Ok(None);
    }
    let (msgs, tombs, refs) = (
        trees.get(Tree::Msgs).clone(),
        trees.get(Tree::Tombs).clone(),
        trees.get(Tree::Refs).clone(),
    );
    let (at, ids) = (dir.to_path_buf(), ids.clone());
    let filler = move || {
        let started = std::time::Instant::now();
        // Records and tombstones by id; reference rows by target ‖ kind ‖ id.
        let keys = msgs
            .iter()
            .keys()
            .chain(tombs.iter().keys())
            .chain(refs.iter().keys())
            .map(|k| {
                let k = k.map_err(|e| StoreError::sled(&at, e))?;
                k.get(..32).and_then(Id::from_slice).ok_or_else(|| {
                    StoreError::corrupt(&at, "a key of the records or references is not an id")
                })
            });
        match ids.fill(keys) {
            Ok(true) => tracing::info!(
                dir = %at.display(),
                ms = started.elapsed().as_millis() as u64,
                "filter of held ids filled"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "the filter of held ids could not be filled; every new id is looked up"
            ),
        }
    };
    std::thread::Builder::new()
        .name("tocsin-store-ids".into())
        .spawn(filler)
        .map(Some)
        .map_err(|e| StoreError::io(dir, e))
}

/// Lists again, as wanted from the peers, the messages `tocsin node check --repair` dropped and
/// no peer has brought back yet (kept in `meta`, so a restart does not forget them).
fn reload_refetch_list(
    dir: &Path,
    trees: &Trees,
    damage: &damage::Damage,
) -> Result<(), StoreError> {
    let listed = trees
        .get(Tree::Meta)
        .get(meta::REFETCH)
        .map_err(|e| StoreError::sled(dir, e))?;
    if let Some(v) = listed {
        for id in v.chunks_exact(32).filter_map(Id::from_slice) {
            damage.want(id);
        }
    }
    Ok(())
}

/// What the recovery steps hand to [`start`].
struct Recovered {
    dir: PathBuf,
    db: sled::Db,
    trees: Trees,
    last_seq: u64,
    marker: Arc<Marker>,
    bodies: bodies::BodyLog,
    ids: ids::IdFilter,
    log_id: LogId,
}

/// Starts the flusher (group commit, from the recovered head) and the writer thread, and
/// assembles the open store. A failed flush asks the handle to reopen the directory later.
fn start(shared: &Arc<Shared>, recovered: Recovered, reserve: u64) -> Result<Inner, StoreError> {
    let Recovered {
        dir,
        db,
        trees,
        last_seq,
        marker,
        bodies,
        ids,
        log_id,
    } = recovered;
    let io = |e| StoreError::io(&dir, e);
    let weak = Arc::downgrade(shared);
    let commit = Committer::sharing(
        dir.clone(),
        0,
        last_seq,
        shared.head.clone(),
        Some(Box::new(move || Shared::reopen_later(weak))),
    );
    let flusher = {
        let commit = commit.clone();
        let db = db.clone();
        let marker = marker.clone();
        std::thread::Builder::new()
            .name("tocsin-store-flush".into())
            .spawn(move || commit.run(db, marker))
            .map_err(io)?
    };
    let (jobs, queue) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("tocsin-store-write".into())
        .spawn(move || writer::run_writer(queue))
        .map_err(io)?;
    let space = space::Space::new(&dir, reserve);
    let ids = Arc::new(ids);
    let filler = start_filling(&dir, &trees, &ids)?;
    Ok(Inner {
        dir,
        db,
        trees,
        tombstone_keep: shared.cfg.tombstone_keep,
        mode: shared.mode,
        writer: Mutex::new(writer::WriterState {
            last_seq,
            generation: 0,
            closed: false,
        }),
        commit,
        marker,
        flusher: Mutex::new(Some(flusher)),
        jobs: Mutex::new(jobs),
        recent: Recent::default(),
        bodies,
        ids,
        filler: Mutex::new(filler),
        opened_at: last_seq,
        expired_since_open: Default::default(),
        rosters_released: Default::default(),
        write_failed: Default::default(),
        damage: shared.damage.clone(),
        space,
        reader_head: Mutex::new((0, 0)),
        log_id,
        retry: retry::Counters::default(),
        items: Default::default(),
        stalled: Mutex::default(),
        #[cfg(test)]
        fail_next_insert: std::sync::atomic::AtomicBool::new(false),
        #[cfg(test)]
        fail_next_apply: std::sync::atomic::AtomicBool::new(false),
    })
}

/// How long an open waits for a directory lock to be let go: a handle of this process closed a
/// moment ago can still be releasing it (sled's threads drop their clones asynchronously). A
/// second process holding the directory is still refused, after this grace.
const LOCK_GRACE: Duration = Duration::from_millis(1500);

/// Opens sled (which takes the directory's lock and recovers its log), retrying while the lock
/// is held, up to [`LOCK_GRACE`].
fn open_sled_waiting(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match open_sled(dir, cache_bytes) {
            Err(StoreError::Locked { .. }) if started.elapsed() < LOCK_GRACE => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The page cache of the open that writes sled's recovery snapshot: it reads the log, not the
/// trees.
const SNAPSHOT_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// Has sled write its recovery snapshot of a store closed cleanly a moment ago, so that the
/// next start reads only what is written after now.
///
/// sled 0.34 writes that snapshot only when it opens: at start it reads every log record
/// written since the previous start to rebuild its page table (about 3.7 µs a message
/// stored: 3.7 s for a million since the last start, 39 s for ten million), then writes the
/// snapshot. Opening it once more here moves that work from the next start, where the node
/// serves nothing until it is done, to this stop. Only sled's own files are touched, as at any
/// open. A failure costs only that: the next start reads the log as it would have. A stop cut
/// short meanwhile (a kill after a stop timeout, a full disk) may leave an unfinished snapshot
/// file, which the next open removes before sled sees it ([`remove_unfinished_snapshots`]).
pub(super) fn write_recovery_snapshot(dir: &Path) {
    let started = std::time::Instant::now();
    match open_sled_waiting(dir, SNAPSHOT_CACHE_BYTES) {
        Ok(db) => {
            drop(db);
            tracing::debug!(
                ms = started.elapsed().as_millis() as u64,
                "the store's recovery snapshot is written"
            );
        }
        Err(e) => tracing::warn!(
            error = %e,
            "the store's recovery snapshot was not written; the next start reads its log instead"
        ),
    }
}

/// Removes what an unfinished snapshot of sled's left behind (`snap.<lsn>.generating`): sled
/// 0.34.7 writes a snapshot there and renames it when it is whole, but when it opens it reads
/// the last `snap.` file by name, unfinished or not, and refuses the store as corrupt if that
/// one was cut short (a kill, or a full disk, while an open or a clean close wrote it). Such a
/// file is never the snapshot in force: the one it would have replaced is still there, or,
/// without one, the log is read from its start. So it goes before sled opens, while no other
/// process holds the store: under sled's own lock on its `db` file (an advisory `flock`), taken
/// and let go here; a store held elsewhere is left alone, for sled to refuse as locked.
fn remove_unfinished_snapshots(dir: &Path) -> Result<(), StoreError> {
    let db = match fs::File::open(dir.join("db")) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    if rustix::fs::flock(&db, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err() {
        return Ok(());
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            fs::remove_file(entry.path()).map_err(|e| StoreError::io(dir, e))?;
            tracing::warn!(
                file = %name,
                "removed an unfinished sled snapshot (a start or stop was cut short); the log \
                 is read from the snapshot before it"
            );
        }
    }
    Ok(())
}

/// Opens sled, turning a panic during recovery into an error naming the directory.
///
/// sled's snapshot (`snap.*`) only saves replaying its log: when sled finds its store damaged
/// and its newest snapshot fails the snapshot's own CRC, the snapshots are moved aside
/// (`damaged-snap.…`) and sled is opened again from its log alone. A flipped bit in the
/// snapshot then costs a longer start, not the store; what the log gives back is checked
/// against the durable head as at every open. If that fails too, the snapshots are put back and
/// the first error stands. Any other damage stops the node as it was.
fn open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    remove_unfinished_snapshots(dir)?;
    let first = match try_open_sled(dir, cache_bytes) {
        Ok(db) => return Ok(db),
        Err(e @ StoreError::Corrupt { .. }) => e,
        Err(e) => return Err(e),
    };
    let mut snapshots = snapshot_files(dir)?;
    // Only a snapshot that is damaged itself (sled reads the newest, and checks it by the CRC
    // at its end) is set aside: sled opened from its log alone rewrites the log's tail, so
    // damage anywhere else must stop the node with the log as it was.
    snapshots.sort();
    if !snapshots
        .last()
        .is_some_and(|newest| snapshot_damaged(newest))
    {
        return Err(first);
    }
    let aside: Vec<(PathBuf, PathBuf)> = snapshots
        .into_iter()
        .map(|snap| {
            // Not `snap.…`: sled reads any file named so as a snapshot.
            let mut name = std::ffi::OsString::from(DAMAGED_SNAPSHOT);
            name.push(snap.file_name().unwrap_or_default());
            let to = snap.with_file_name(name);
            (snap, to)
        })
        .collect();
    for (snap, to) in &aside {
        fs::rename(snap, to).map_err(|e| StoreError::io(dir, e))?;
    }
    match try_open_sled(dir, cache_bytes) {
        Ok(db) => {
            tracing::warn!(
                dir = %dir.display(),
                error = %first,
                "sled's snapshot could not be read: moved aside (damaged-snap.…) and the store \
                 was read from its log alone; it is checked against the durable head as at \
                 every start"
            );
            Ok(db)
        }
        Err(_) => {
            for (snap, to) in &aside {
                let _ = fs::rename(to, snap);
            }
            Err(first)
        }
    }
}

/// Whether a snapshot of sled 0.34's fails its own check: its bytes, then their length (8
/// bytes) and a CRC-32 of them (4 bytes, little-endian) at the end (`pagecache/snapshot.rs`,
/// `read_snapshot`; written uncompressed, sled's `compression` feature being off). An
/// unreadable file counts as damaged.
fn snapshot_damaged(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else {
        return true;
    };
    if bytes.len() <= 12 {
        return true;
    }
    let (data, tail) = bytes.split_at(bytes.len() - 12);
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&tail[8..]);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(data);
    hasher.finalize() != u32::from_le_bytes(crc)
}

/// sled's snapshot files in `dir` (finished ones: `snap.…`, not `….generating`).
fn snapshot_files(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && !name.ends_with(".generating") {
            found.push(entry.path());
        }
    }
    Ok(found)
}

/// One try at opening sled, a panic during recovery an error naming the directory.
fn try_open_sled(dir: &Path, cache_bytes: u64) -> Result<sled::Db, StoreError> {
    let cfg = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        // Durability is ours (group commit); no timer-driven flushes on the side.
        .flush_every_ms(None);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cfg.open())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(StoreError::sled(dir, e)),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown".to_string());
            Err(StoreError::corrupt(
                dir,
                format!("the database could not be recovered ({what})"),
            ))
        }
    }
}
