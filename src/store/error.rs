//! The store's errors: each names the data directory, in words an operator can act on.

use std::path::{Path, PathBuf};

/// Why the store could not do what was asked. Refusals of a message are not errors: they are
/// [`Inserted::Refused`](super::Inserted::Refused).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another open store in this one) holds the directory.
    #[error(
        "the data directory {} is in use by another tocsin process; stop it, or give this one another directory",
        dir.display()
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory holds a store that cannot be read back faithfully.
    #[error(
        "the data directory {} is damaged: {detail}; restore it from a backup or move it aside and start empty",
        dir.display()
    )]
    Corrupt {
        /// The data directory.
        dir: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The directory holds other files and no store: refusing to write into it.
    #[error(
        "the data directory {} is not empty and holds no tocsin store; point the node at a new or empty directory",
        dir.display()
    )]
    NotAStore {
        /// The data directory.
        dir: PathBuf,
    },
    /// The directory holds a store written by a newer program, in a format this one cannot
    /// read.
    #[error(
        "the data directory {} holds a store of format {found}, written by a newer version of tocsin; this one reads formats up to {reads}: run the newer version",
        dir.display()
    )]
    NewerFormat {
        /// The data directory.
        dir: PathBuf,
        /// The store's format.
        found: u32,
        /// The newest format this program reads.
        reads: u32,
    },
    /// The disk holding the store has less free space than the store keeps in reserve: new
    /// messages are refused (nothing is written) until space returns.
    #[error(
        "the disk holding {} has {} KiB free, below the store's reserve of {} KiB: new messages are refused until space is freed (the node accepts again by itself)",
        dir.display(), free / 1024, reserve / 1024
    )]
    Full {
        /// The data directory.
        dir: PathBuf,
        /// Bytes free for the store's writes, when it was refused.
        free: u64,
        /// The reserve it keeps, plus what the refused write needed.
        reserve: u64,
    },
    /// Reading or writing the directory failed.
    #[error("i/o error on the data directory {}: {source}", dir.display())]
    Io {
        /// The data directory.
        dir: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Every thread the store's reads may use stayed busy for as long as a read may wait (a
    /// slow disk, or more readers than the node was sized for): the read was not made.
    #[error(
        "the store at {} is busy: its {threads} read threads were all in use for {}; try again later, or raise store.read_threads if the disk is fast enough",
        dir.display(), humantime::format_duration(*waited)
    )]
    Busy {
        /// The data directory.
        dir: PathBuf,
        /// The threads reads may use (`store.read_threads`).
        threads: usize,
        /// How long the read waited for one (`store.read_wait`).
        waited: std::time::Duration,
    },
    /// A backup's target cannot be used: it exists and is not an empty directory, is not an
    /// absolute path, or lies inside the store's own directory.
    #[error("cannot back up into {}: {detail}", dir.display())]
    BackupTarget {
        /// The target directory.
        dir: PathBuf,
        /// Why not.
        detail: String,
    },
    /// A backup was written but its copy did not open as the store it copied.
    #[error(
        "the backup in {} did not verify: {detail}; nothing is wrong with the running store: take the backup again",
        dir.display()
    )]
    BackupUnsound {
        /// The copy's store directory.
        dir: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The store was closed, or an earlier flush failed and it no longer accepts writes.
    #[error("the store at {} is closed{}", dir.display(), if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Closed {
        /// The data directory.
        dir: PathBuf,
        /// Why, when it closed because of an error.
        detail: String,
    },
}

impl StoreError {
    pub(super) fn corrupt(dir: &Path, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            dir: dir.to_path_buf(),
            detail: detail.into(),
        }
    }

    /// Whether this is the store being unable to write now (a full disk, a failing one, a
    /// store that closed) or to read now (its read threads busy), as opposed to damage or a
    /// bug: clients are told `unavailable`, and may try again later or elsewhere. Nothing
    /// acknowledged is lost in any of these cases.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Full { .. }
                | StoreError::Io { .. }
                | StoreError::Closed { .. }
                | StoreError::Busy { .. }
        )
    }

    /// A copy of this error, for every caller whose insert shared the failed transaction (an
    /// i/o error keeps its kind and text).
    pub fn copy(&self) -> Self {
        match self {
            StoreError::Locked { dir } => StoreError::Locked { dir: dir.clone() },
            StoreError::Corrupt { dir, detail } => StoreError::corrupt(dir, detail.clone()),
            StoreError::NotAStore { dir } => StoreError::NotAStore { dir: dir.clone() },
            StoreError::NewerFormat { dir, found, reads } => StoreError::NewerFormat {
                dir: dir.clone(),
                found: *found,
                reads: *reads,
            },
            StoreError::Full { dir, free, reserve } => StoreError::Full {
                dir: dir.clone(),
                free: *free,
                reserve: *reserve,
            },
            StoreError::Busy {
                dir,
                threads,
                waited,
            } => StoreError::Busy {
                dir: dir.clone(),
                threads: *threads,
                waited: *waited,
            },
            StoreError::Io { dir, source } => {
                StoreError::io(dir, std::io::Error::new(source.kind(), source.to_string()))
            }
            StoreError::Closed { dir, detail } => StoreError::Closed {
                dir: dir.clone(),
                detail: detail.clone(),
            },
            StoreError::BackupTarget { dir, detail } => StoreError::BackupTarget {
                dir: dir.clone(),
                detail: detail.clone(),
            },
            StoreError::BackupUnsound { dir, detail } => StoreError::BackupUnsound {
                dir: dir.clone(),
                detail: detail.clone(),
            },
        }
    }

    pub(super) fn io(dir: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            dir: dir.to_path_buf(),
            source,
        }
    }

    /// Maps a sled error. sled 0.34 reports a held file lock as an `Io` error of kind `Other`
    /// whose text starts "could not acquire lock"; the version is pinned, so the text is stable.
    /// Whether this is the operating system saying the disk is full (ENOSPC, or a quota).
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io { source, .. } => {
                matches!(
                    source.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                ) || source
                    .get_ref()
                    .is_some_and(|inner| inner.to_string().contains("No space left"))
            }
            _ => false,
        }
    }

    pub(super) fn sled(dir: &Path, e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::Locked {
                    dir: dir.to_path_buf(),
                }
            }
            sled::Error::Io(io) => StoreError::io(dir, io),
            sled::Error::Corruption { at, .. } => StoreError::corrupt(
                dir,
                match at {
                    Some(at) => format!("the database file is corrupt at {at:?}"),
                    None => "the database file is corrupt".to_string(),
                },
            ),
            sled::Error::Unsupported(s) => StoreError::corrupt(dir, s),
            sled::Error::ReportableBug(s) => {
                StoreError::corrupt(dir, format!("the database failed unexpectedly: {s}"))
            }
            sled::Error::CollectionNotFound(_) => {
                StoreError::corrupt(dir, "a collection of the database is missing")
            }
        }
    }
}
