//! Free space on the store's disk, and the reserve kept below it.
//!
//! A write that fails half way is the one fault the store must never meet: sled cannot go on
//! after a failed write of its log (it fails every later operation until it is reopened), and a
//! body log write cut short must be rolled back (see `bodies.rs`). So the writer looks before it
//! writes: a group of new messages is refused with [`StoreError::Full`] while the disk's free
//! space, less what the group needs, is under the configured reserve. Nothing is written for a
//! refused group and nothing acknowledged is touched; the next group is looked at afresh, so the
//! store accepts again by itself once space returns. Work that frees space or writes only a few
//! small rows (retention, embargo release, a peer's cursor) may use half of the reserve.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing::{info, warn};

use super::StoreError;

/// The free space the store keeps on its disk.
#[derive(Debug)]
pub(super) struct Space {
    dir: PathBuf,
    /// Bytes that must stay free after a group of new messages is written.
    reserve: u64,
    /// Whether the last look found too little: the log says so once when it starts and once
    /// when it ends, not once per refused message.
    short: AtomicBool,
    /// Groups refused since the store opened, for metrics.
    refused: AtomicU64,
}

/// How much room a group of new messages needs beyond the bytes of their bodies: sled's rows
/// (record, log entry, index rows) and its log's own framing, generously.
const ROW_BYTES: u64 = 2048;

impl Space {
    pub(super) fn new(dir: &Path, reserve: u64) -> Space {
        Space {
            dir: dir.to_path_buf(),
            reserve,
            short: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        }
    }

    /// The bytes a group of messages with `body_bytes` of signatures and bodies may take.
    pub(super) fn needed(messages: usize, body_bytes: u64) -> u64 {
        // Bodies go to the body log once; sled may write a row's page more than once before a
        // flush, so rows count generously.
        body_bytes.saturating_add((messages as u64).saturating_mul(ROW_BYTES))
    }

    /// Bytes free on the disk for an unprivileged writer.
    pub(super) fn free(&self) -> Result<u64, StoreError> {
        let st = rustix::fs::statvfs(&self.dir)
            .map_err(|e| StoreError::io(&self.dir, std::io::Error::from(e)))?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Whether `needed` more bytes can be written and still leave the reserve free.
    pub(super) fn check(&self, needed: u64) -> Result<(), StoreError> {
        self.check_keeping(self.reserve, needed)
    }

    /// [`Space::check`] for work that frees space or writes little: it may use half of the
    /// reserve.
    pub(super) fn check_upkeep(&self) -> Result<(), StoreError> {
        self.check_keeping(self.reserve / 2, 0)
    }

    /// Whether a write of `needed` bytes would be refused now, without counting or logging
    /// anything (for health checks and status).
    pub(super) fn would_refuse(&self, needed: u64) -> Result<(), StoreError> {
        if self.reserve == 0 {
            return Ok(());
        }
        let free = self.free()?;
        let want = self.reserve.saturating_add(needed);
        if free < want {
            return Err(StoreError::Full {
                dir: self.dir.clone(),
                free,
                reserve: want,
            });
        }
        Ok(())
    }

    fn check_keeping(&self, keep: u64, needed: u64) -> Result<(), StoreError> {
        if self.reserve == 0 {
            return Ok(());
        }
        let free = self.free()?;
        let want = keep.saturating_add(needed);
        if free < want {
            self.refused.fetch_add(1, Ordering::Relaxed);
            if !self.short.swap(true, Ordering::Relaxed) {
                warn!(
                    dir = %self.dir.display(),
                    free_kib = free / 1024,
                    reserve_kib = self.reserve / 1024,
                    "the store's disk is below its free-space reserve: refusing new messages (code unavailable) until space is freed"
                );
            }
            return Err(StoreError::Full {
                dir: self.dir.clone(),
                free,
                reserve: want,
            });
        }
        if keep == self.reserve && self.short.swap(false, Ordering::Relaxed) {
            info!(
                dir = %self.dir.display(),
                free_kib = free / 1024,
                "the store's disk has room again: accepting new messages"
            );
        }
        Ok(())
    }

    /// Groups of messages refused for want of space since the store opened.
    pub(super) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The reserve, in bytes.
    pub(super) fn reserve(&self) -> u64 {
        self.reserve
    }
}
