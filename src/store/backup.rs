//! A consistent copy of the open store, made while the node runs: [`Store::backup`].
//!
//! The copy is what a crash at one moment would leave, with every acknowledged message in it:
//!
//! 1. **Before the pause**, the body log's sealed segments are copied. A sealed segment is never
//!    written again (the body log only appends, to its last segment), so a copy of one made now
//!    is the copy it would be later; only its deletion can happen meanwhile (see step 2).
//! 2. **The pause**: a job on the writer thread, queued behind every insert and maintenance job
//!    handed over before it, takes the writer lock, so nothing is planned, appended or
//!    committed while it holds it. It flushes (sled, then an fdatasync of its data file: the
//!    durable head is then the committed head), copies sled's files (`conf`, `db`, `blobs/`,
//!    `snap.*`, and whatever else sled keeps there), the segments that were current or new
//!    since step 1 or whose length changed, writes the copy's marker for that head, syncs every
//!    copy and directory, and lets the writer go. How long it held the writer is how long
//!    publishes waited (`paused`).
//! 3. **After the pause**, the copy is opened as a store of its own (its own directory lock:
//!    the running store is not touched) through every recovery step a start runs; its head must
//!    be the head the pause recorded, and a store of up to [`FULL_CHECK_MAX`] messages is also
//!    verified as `tocsin node check` does (every body against its id, every signature, every
//!    row). Only then is the backup note ([`BACKUP_NOTE`]) written into it, so that opening it
//!    to check it is not taken for its restoration.
//!
//! What else could write the store's files during the pause, and why it cannot spoil the copy:
//! - Every sled write (inserts, embargo release, retention, the body log's reclaiming, cursor
//!   moves, the retry set, repair, the check) is a transaction committed by `Inner::commit`
//!   under the writer lock, on the writer thread, which is the thread making the copy.
//! - The flusher thread writes the marker `tocsin-store` after each flush, possibly with a head
//!   older than the pause's: the copy's marker is therefore not copied but written anew.
//! - Retention deletes a body segment file outside the writer lock, but only once the
//!   transaction that counted its last body out is durable, i.e. committed before the pause:
//!   the copy's rows do not count it, so a segment that vanishes while it is copied is left
//!   out (and one copied before it vanished is removed from the copy, or would be reclaimed
//!   when the copy opens).
//! - sled itself can append to its log on a read (a node split a read finds due), and writes
//!   such a buffer when it fills. That can only add records after the flushed state, which the
//!   copy then recovers (or cuts off) as it would after a crash; it can never take away what
//!   the flush made durable. Step 3 opens the copy and refuses it if it did.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::bodies::BODIES_DIR;
use super::commit::{MARKER_FILE, Marker};
use super::log_id::{BACKUP_NOTE, LogId, backup_note_line};
use super::{Inner, Store, StoreConfig, StoreError};
use crate::message::Timestamp;

/// A copy of a store with up to this many messages is verified in full (every body and
/// signature: a few seconds of one core); a larger one is opened and its head compared.
pub const FULL_CHECK_MAX: u64 = 100_000;

/// The cache the copy is opened with to be checked: it is read once, front to back.
const CHECK_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// What [`Store::backup`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The copy's store directory.
    pub dir: PathBuf,
    /// The head of the copied log: every message accepted before the backup began is in it.
    pub head_seq: u64,
    /// The copied log's id (the copy starts a new one when it is opened as a node's store).
    pub log_id: LogId,
    /// Files copied (the marker and the note included).
    pub files: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// How long the writer was held: how long publishes waited.
    pub paused: Duration,
    /// Whether the copy was verified in full (see [`FULL_CHECK_MAX`]); otherwise it was opened
    /// and its head compared.
    pub checked: bool,
    /// What the full check found damaged in the copy: damage the running store holds too
    /// (bodies waiting for a good copy from a peer), since a copy is byte for byte.
    pub damaged: u64,
}

/// Files and bytes copied so far.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    files: u64,
    bytes: u64,
}

/// Body segments copied before the pause: file name → length copied.
type Copied = HashMap<std::ffi::OsString, u64>;

/// What the pause hands back: the head, the tally, how long it held the writer.
type Paused = (u64, Tally, Duration);

impl Store {
    /// Writes a consistent copy of this store into `dir` (which must not exist, or be empty)
    /// while the store runs: inserts wait only while sled's files and the newest body segment
    /// are copied. Then opens the copy to verify it, and writes the backup note into it
    /// (`taken` is the time it records). See `store/backup.rs`.
    pub async fn backup(&self, dir: &Path, taken: Timestamp) -> Result<BackupReport, StoreError> {
        prepare_target(dir, self.dir())?;
        let inner = self.inner()?;
        let (copied, before) = {
            let (inner, dir) = (inner.clone(), dir.to_path_buf());
            blocking(&dir.clone(), move || inner.copy_sealed_segments(&dir)).await?
        };
        drop(inner);
        let target = dir.to_path_buf();
        let ((head, tally, paused), _) = self
            .on_writer(move |inner| inner.copy_paused(&target, &copied, before))
            .await?;
        let (checked, damaged) = self.verify_copy(dir, head).await?;
        let log_id = self.log_id();
        let note = backup_note_line(log_id, head, taken.0 / 1000);
        let note_bytes = note.len() as u64;
        {
            let dir = dir.to_path_buf();
            blocking(&dir.clone(), move || {
                write_synced(&dir.join(BACKUP_NOTE), note.as_bytes())
                    .map_err(|e| StoreError::io(&dir, e))?;
                sync_dir(&dir)
            })
            .await?;
        }
        Ok(BackupReport {
            dir: dir.to_path_buf(),
            head_seq: head,
            log_id,
            files: tally.files + 1,
            bytes: tally.bytes + note_bytes,
            paused,
            checked,
            damaged,
        })
    }

    /// Opens the copy in `dir` as a store (every recovery step a start runs), compares its head
    /// with `head`, and, when it is small enough, checks it in full. Returns whether it was
    /// checked in full, and what that found damaged.
    async fn verify_copy(&self, dir: &Path, head: u64) -> Result<(bool, u64), StoreError> {
        let cfg = StoreConfig {
            path: dir.to_path_buf(),
            cache_bytes: CHECK_CACHE_BYTES,
            // The copy is only read; the free space kept is the running store's business.
            reserve_bytes: 0,
            ..self.shared.cfg.clone()
        };
        let (copy, messages) = blocking(dir, move || {
            let copy = Store::open(&cfg)?;
            let messages = copy.counts()?.messages;
            Ok((copy, messages))
        })
        .await?;
        let outcome = async {
            if copy.head() != head {
                return Err(StoreError::BackupUnsound {
                    dir: dir.to_path_buf(),
                    detail: format!(
                        "the copy opens at seq {} where the store was copied at seq {head}",
                        copy.head()
                    ),
                });
            }
            if messages > FULL_CHECK_MAX {
                return Ok((false, 0));
            }
            let report = copy.check(false).await?;
            Ok((true, report.findings.len() as u64))
        }
        .await;
        let closed = copy.close().await;
        let outcome = outcome?;
        closed?;
        Ok(outcome)
    }
}

impl Inner {
    /// Copies the body log's sealed segments into `target`'s body log (step 1). Returns what
    /// it copied, by file name with its length, and the tally.
    fn copy_sealed_segments(&self, target: &Path) -> Result<(Copied, Tally), StoreError> {
        let from = self.dir.join(BODIES_DIR);
        let to = target.join(BODIES_DIR);
        let err = |e| StoreError::io(target, e);
        make_dir_like(&from, &to).map_err(err)?;
        let current = self.bodies.current();
        let mut copied = Copied::new();
        let mut tally = Tally::default();
        for seg in self.bodies.segments()? {
            if seg >= current {
                continue;
            }
            let name = std::ffi::OsString::from(super::bodies::seg_name(seg));
            // Deleted by retention since it was listed: not counted by any row (see above).
            if let Some(len) =
                copy_file(&from.join(&name), &to.join(&name), &mut tally).map_err(err)?
            {
                copied.insert(name, len);
            }
        }
        Ok((copied, tally))
    }

    /// Step 2, on the writer thread: holds the writer lock while the store's files are copied
    /// into `target` (see the module's header). Returns the head copied, the tally and how long
    /// the writer was held.
    fn copy_paused(
        &self,
        target: &Path,
        copied: &Copied,
        mut tally: Tally,
    ) -> Result<Paused, StoreError> {
        let started = Instant::now();
        let w = self.lock_writer()?;
        // Everything committed becomes durable: the durable head is the committed head.
        self.commit.flush_now(&self.db, &self.marker)?;
        let head = w.last_seq;
        if self.commit.head() != head {
            return Err(self.corrupt(format!(
                "the durable head {} is not the committed head {head} after a flush",
                self.commit.head()
            )));
        }
        let err = |e| StoreError::io(target, e);
        self.copy_segments_left(target, copied, &mut tally)
            .map_err(err)?;
        for entry in fs::read_dir(&self.dir).map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name();
            // The body log is copied above; the marker is written for the head copied; a note
            // of an earlier restoration is the running store's, not the copy's.
            if name == BODIES_DIR || name == MARKER_FILE || name == BACKUP_NOTE {
                continue;
            }
            copy_entry(&entry, &target.join(&name), &mut tally).map_err(err)?;
        }
        let marker = Marker::line(self.marker.store_id(), head);
        write_synced(&target.join(MARKER_FILE), marker.as_bytes()).map_err(err)?;
        tally.files += 1;
        tally.bytes += marker.len() as u64;
        sync_dir(&target.join(BODIES_DIR))?;
        sync_dir(target)?;
        drop(w);
        Ok((head, tally, started.elapsed()))
    }

    /// Copies the segments step 1 did not, or whose length has changed since, and removes from
    /// the copy those retention deleted since (taking them off `tally`).
    fn copy_segments_left(
        &self,
        target: &Path,
        copied: &Copied,
        tally: &mut Tally,
    ) -> io::Result<()> {
        let from = self.dir.join(BODIES_DIR);
        let to = target.join(BODIES_DIR);
        let mut listed = Copied::new();
        for seg in self.bodies.segments().map_err(io::Error::other)? {
            let name = std::ffi::OsString::from(super::bodies::seg_name(seg));
            match fs::metadata(from.join(&name)) {
                Ok(m) => {
                    listed.insert(name, m.len());
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        for (name, was) in copied {
            if listed.get(name) != Some(was) {
                fs::remove_file(to.join(name))?;
                tally.files = tally.files.saturating_sub(1);
                tally.bytes = tally.bytes.saturating_sub(*was);
            }
        }
        for (name, len) in &listed {
            if copied.get(name) != Some(len) {
                copy_file(&from.join(name), &to.join(name), tally)?;
            }
        }
        Ok(())
    }
}

/// Refuses a target that exists and is not an empty directory, or that lies in the store's
/// own directory; makes it (private, like the store's) when it does not exist.
fn prepare_target(dir: &Path, store_dir: &Path) -> Result<(), StoreError> {
    let refuse = |detail: &str| StoreError::BackupTarget {
        dir: dir.to_path_buf(),
        detail: detail.to_string(),
    };
    let err = |e| StoreError::io(dir, e);
    if !dir.is_absolute() {
        return Err(refuse("the path is not absolute"));
    }
    if let Ok(store) = store_dir.canonicalize()
        && let Some(parent) = dir.parent().and_then(|p| p.canonicalize().ok())
        && parent.starts_with(&store)
    {
        return Err(refuse("it is inside the store's own directory"));
    }
    match fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(refuse("it exists and is not a directory")),
        Ok(_) => {
            if fs::read_dir(dir).map_err(err)?.next().is_some() {
                return Err(refuse(
                    "it exists and is not empty; give a new or empty directory",
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(err)?;
        }
        Err(e) => return Err(err(e)),
    }
    copy_mode(store_dir, dir).map_err(err)
}

/// Runs blocking file work off the async runtime.
async fn blocking<X: Send + 'static>(
    dir: &Path,
    f: impl FnOnce() -> Result<X, StoreError> + Send + 'static,
) -> Result<X, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::io(dir, io::Error::other(format!("a backup task failed: {e}"))))?
}

/// Copies a directory entry: a file, or a directory and what it holds. Anything else (a
/// symbolic link, a socket) is left out and logged: a copy never follows a link out of the
/// directory it copies.
fn copy_entry(entry: &fs::DirEntry, to: &Path, tally: &mut Tally) -> io::Result<()> {
    let kind = entry.file_type()?;
    let from = entry.path();
    if kind.is_dir() {
        make_dir_like(&from, to)?;
        for inner in fs::read_dir(&from)? {
            let inner = inner?;
            copy_entry(&inner, &to.join(inner.file_name()), tally)?;
        }
        sync_dir_io(to)
    } else if kind.is_file() {
        match copy_file(&from, to, tally)? {
            Some(_) => Ok(()),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} vanished while it was copied", from.display()),
            )),
        }
    } else {
        tracing::warn!(path = %from.display(), "not copied into the backup: not a file or directory");
        Ok(())
    }
}

/// Copies what directory `from` holds into directory `to` (which exists), leaving out the
/// entries named in `leave_out`: files with their permission bits, directories with theirs and
/// what they hold, each synced, symbolic links never followed (left out). Returns the files and
/// bytes copied. The node copies its data directory around its store with it.
pub fn copy_dir(from: &Path, to: &Path, leave_out: &[&str]) -> io::Result<(u64, u64)> {
    let mut tally = Tally::default();
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if leave_out.iter().any(|left| name == *left) {
            continue;
        }
        copy_entry(&entry, &to.join(&name), &mut tally)?;
    }
    sync_dir_io(to)?;
    Ok((tally.files, tally.bytes))
}

/// Copies one file with its permission bits, synced. The copy is created private and given
/// the original's mode once written, so a secret is never readable by others in between.
/// Returns its length, or `None` when the original no longer exists.
fn copy_file(from: &Path, to: &Path, tally: &mut Tally) -> io::Result<Option<u64>> {
    let mut source = match File::open(from) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut copy = options.open(to)?;
    let len = io::copy(&mut source, &mut copy)?;
    copy_mode(from, to)?;
    copy.sync_all()?;
    tally.files += 1;
    tally.bytes += len;
    Ok(Some(len))
}

/// Makes directory `to` with the permission bits of `from`.
fn make_dir_like(from: &Path, to: &Path) -> io::Result<()> {
    match fs::create_dir(to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && to.is_dir() => {}
        Err(e) => return Err(e),
    }
    copy_mode(from, to)
}

/// Gives `to` the permission bits of `from` (exactly: the umask does not apply).
fn copy_mode(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let mode = fs::symlink_metadata(from)?.permissions().mode() & 0o7777;
        fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (from, to);
    Ok(())
}

/// Writes a new file of the copy (private) and syncs it.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    io::Write::write_all(&mut file, bytes)?;
    file.sync_all()
}

/// Syncs a directory, so the names of the files made in it are on disk too.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    sync_dir_io(dir).map_err(|e| StoreError::io(dir, e))
}

fn sync_dir_io(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
