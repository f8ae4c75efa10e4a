//! The node's data directory and identity key: created on first start, 0700 and 0600.

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tracing::info;

use crate::keyfile::{self, KeyFileError};
use crate::message::SecretKey;

/// Why the data directory or the node key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The directory could not be created or read.
    #[error("data directory {path}: {source}", path = .path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Other users can enter the directory that holds the node's secret key.
    #[error(
        "data directory {path} is open to other users (mode {mode:o}); run: chmod 700 {path}",
        path = .path.display()
    )]
    DirExposed {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is unusable.
    #[error(transparent)]
    Key(#[from] KeyFileError),
}

/// Creates the data directory (0700) or checks that an existing one is private.
pub(super) fn prepare_dir(dir: &Path) -> Result<(), IdentityError> {
    let err = |source| IdentityError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.exists() {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        builder.mode(0o700);
        builder.create(dir).map_err(err)?;
        info!(dir = %dir.display(), "created the data directory");
    }
    #[cfg(unix)]
    {
        let mode = fs::metadata(dir).map_err(err)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::DirExposed {
                path: dir.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// Loads the node key, creating it on first start.
pub(super) fn load_or_create(path: &Path) -> Result<SecretKey, IdentityError> {
    if path.exists() {
        return Ok(keyfile::load(path)?);
    }
    let key = keyfile::generate(path)?;
    info!(node_key = %key.public(), "created the node identity");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_dir_and_key_then_reloads() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        prepare_dir(&dir).unwrap();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let a = load_or_create(&dir.join("node.key")).unwrap();
        let b = load_or_create(&dir.join("node.key")).unwrap();
        assert_eq!(a.public(), b.public());
    }

    #[test]
    fn refuses_an_open_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let err = prepare_dir(&dir).unwrap_err();
        assert!(err.to_string().contains("chmod 700"), "{err}");
    }
}
