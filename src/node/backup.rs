//! A backup of the running node: its data directory copied, the store consistently
//! (`Store::backup`, see `store/backup.rs`), its other files (the node key, `tls/`) around it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Node;
use crate::store::{self, LogId, StoreError};

/// What [`Node::backup`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The copy: a data directory a node can be started on (`tocsin node run --data`).
    pub dir: PathBuf,
    /// The head of the copied log: every message accepted before the backup began is in it.
    pub head_seq: u64,
    /// The copied log's id (absent in a reply from a node that did not say it); the copy starts
    /// a new log when it is opened as a node's store.
    pub log_id: Option<LogId>,
    /// Files copied.
    pub files: u64,
    /// Bytes copied.
    pub bytes: u64,
    /// How long publishes waited while the store was copied.
    pub paused: Duration,
    /// Whether the copy was verified in full (every body and signature), or only opened and its
    /// head compared (a large store; see `store::FULL_CHECK_MAX`).
    pub checked: bool,
    /// What the full check found damaged in the copy (damage the running store holds too).
    pub damaged: u64,
}

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target cannot be used: not absolute, not an empty directory, or inside the node's
    /// data directory.
    #[error("cannot back up into {}: {detail}", dir.display())]
    Target {
        /// The target directory.
        dir: PathBuf,
        /// Why not.
        detail: String,
    },
    /// A file of the data directory could not be copied.
    #[error("copying the data directory {} into {} failed: {source}", from.display(), to.display())]
    Copy {
        /// The node's data directory.
        from: PathBuf,
        /// The target directory.
        to: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The store could not be copied.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Node {
    /// Writes a copy of the node's data directory into `dir` (absolute; it must not exist, or
    /// be empty, and must not lie inside the data directory), with the node running: the node's
    /// other files first, then its store, consistently, while publishes wait (see
    /// `store/backup.rs`). The copy's root gets the data directory's permission bits, and every
    /// file its own (the node key stays 0600).
    pub async fn backup(&self, dir: &Path) -> Result<Backup, BackupError> {
        let data = self.data_dir().to_path_buf();
        let store_dir = self.store().dir().to_path_buf();
        let store_name = store_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (files, bytes) = {
            let (from, target, leave_out) = (data.clone(), dir.to_path_buf(), store_name.clone());
            tokio::task::spawn_blocking(move || copy_around_store(&from, &target, &leave_out))
                .await
                .map_err(|e| BackupError::Copy {
                    from: data.clone(),
                    to: dir.to_path_buf(),
                    source: io::Error::other(format!("the copying task failed: {e}")),
                })??
        };
        let report = self
            .store()
            .backup(&dir.join(&store_name), self.now())
            .await?;
        let copy_err = |source| BackupError::Copy {
            from: data.clone(),
            to: dir.to_path_buf(),
            source,
        };
        // The store's directory is a new name in the copy's root.
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(copy_err)?;
        Ok(Backup {
            dir: dir.to_path_buf(),
            head_seq: report.head_seq,
            log_id: Some(report.log_id),
            files: files + report.files,
            bytes: bytes + report.bytes,
            paused: report.paused,
            checked: report.checked,
            damaged: report.damaged,
        })
    }
}

/// Checks the target, makes it (with the data directory's permission bits), and copies into it
/// everything of the data directory but the store. Returns the files and bytes copied.
fn copy_around_store(data: &Path, dir: &Path, store_name: &str) -> Result<(u64, u64), BackupError> {
    let refuse = |detail: &str| BackupError::Target {
        dir: dir.to_path_buf(),
        detail: detail.to_string(),
    };
    let copy_err = |source| BackupError::Copy {
        from: data.to_path_buf(),
        to: dir.to_path_buf(),
        source,
    };
    if !dir.is_absolute() {
        return Err(refuse("the path is not absolute"));
    }
    let data_real = data.canonicalize().map_err(copy_err)?;
    if dir
        .ancestors()
        .find_map(|a| a.canonicalize().ok())
        .is_some_and(|real| real.starts_with(&data_real))
    {
        return Err(refuse(
            "it is inside the node's data directory; give a directory elsewhere",
        ));
    }
    match fs::symlink_metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(refuse("it exists and is not a directory")),
        Ok(_) => {
            if fs::read_dir(dir).map_err(copy_err)?.next().is_some() {
                return Err(refuse(
                    "it exists and is not empty; give a new or empty directory",
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(copy_err)?;
        }
        Err(e) => return Err(copy_err(e)),
    }
    // Private like the data directory (0700: the node refuses to start on one open to others).
    let mode = fs::metadata(data).map_err(copy_err)?.permissions();
    fs::set_permissions(dir, mode).map_err(copy_err)?;
    store::copy_dir(data, dir, &[store_name]).map_err(copy_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_inside_the_data_directory_or_in_use_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        fs::create_dir_all(data.join("store")).unwrap();
        fs::write(data.join("node.key"), "a key").unwrap();
        for inside in [data.join("backup"), data.join("store").join("b")] {
            assert!(matches!(
                copy_around_store(&data, &inside, "store"),
                Err(BackupError::Target { .. })
            ));
            assert!(!inside.exists(), "made {}", inside.display());
        }
        let used = tmp.path().join("used");
        fs::create_dir(&used).unwrap();
        fs::write(used.join("rota.txt"), "night shift").unwrap();
        assert!(matches!(
            copy_around_store(&data, &used, "store"),
            Err(BackupError::Target { .. })
        ));
        assert!(matches!(
            copy_around_store(&data, Path::new("rel"), "store"),
            Err(BackupError::Target { .. })
        ));
        let fresh = tmp.path().join("fresh");
        copy_around_store(&data, &fresh, "store").unwrap();
        assert_eq!(fs::read_to_string(fresh.join("node.key")).unwrap(), "a key");
        assert!(
            !fresh.join("store").exists(),
            "the store is copied by the store"
        );
    }
}
