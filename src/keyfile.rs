//! Secret key files: written 0600, refused when others can read them.
//!
//! The format is one line of text, `tocsin-secret-key-v1:` and the 32-byte Ed25519 seed in hex,
//! after comment lines starting with `#`. Plain text so that an officer can see what it is and
//! print it on paper for a safe.

use std::fs::{self, OpenOptions};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::message::{AuthorKey, SecretKey};

const PREFIX: &str = "tocsin-secret-key-v1:";

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Other users can read the secret.
    #[error(
        "key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}",
        path = .path.display()
    )]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file exists already; keys are never overwritten.
    #[error("{} exists already; choose another file or move it away first (a key is never overwritten)", .0.display())]
    Exists(PathBuf),
    /// The file is not a Tocsin secret key.
    #[error("{} is not a Tocsin secret key file", .0.display())]
    Format(PathBuf),
    /// The system's random source failed.
    #[error("the system random source failed: {0}")]
    Random(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a new file readable and writable by its owner only, refusing to overwrite.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), KeyFileError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut file = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::Exists(path.to_path_buf())
        } else {
            io(path)(e)
        }
    })?;
    file.write_all(contents).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    Ok(())
}

/// Generates a key and saves it to `path` (0600, never overwriting).
pub fn generate(path: &Path) -> Result<SecretKey, KeyFileError> {
    let key = SecretKey::generate().map_err(|e| KeyFileError::Random(e.to_string()))?;
    save(path, &key)?;
    Ok(key)
}

/// Saves a key to a new file, 0600.
pub fn save(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let text = format!(
        "# Tocsin secret key for public key {}\n\
         # Whoever holds this file can sign as your organisation. Keep it offline when you can.\n\
         {PREFIX}{}\n",
        key.public(),
        hex::encode(key.seed())
    );
    write_private(path, text.as_bytes())
}

/// Checks that a secret file is not readable or writable by group or others.
pub fn check_private(path: &Path) -> Result<(), KeyFileError> {
    #[cfg(unix)]
    {
        let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Exposed {
                path: path.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// Loads a secret key, refusing a file that others can read.
pub fn load(path: &Path) -> Result<SecretKey, KeyFileError> {
    check_private(path)?;
    let text = fs::read_to_string(path).map_err(io(path))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| KeyFileError::Format(path.to_path_buf()))?;
    let hex_seed = line
        .strip_prefix(PREFIX)
        .ok_or_else(|| KeyFileError::Format(path.to_path_buf()))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex_seed, &mut seed)
        .map_err(|_| KeyFileError::Format(path.to_path_buf()))?;
    let key = SecretKey::from_seed(&seed);
    seed.fill(0);
    Ok(key)
}

/// The public key of a secret key file.
pub fn load_public(path: &Path) -> Result<AuthorKey, KeyFileError> {
    load(path).map(|k| k.public())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_safe_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        let key = generate(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).unwrap().public(), key.public());
    }

    #[test]
    fn refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        generate(&path).unwrap();
        assert!(matches!(generate(&path), Err(KeyFileError::Exists(_))));
    }

    #[test]
    fn refuses_a_key_others_can_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        generate(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::Exposed { mode: 0o644, .. }));
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        write_private(&path, b"tocsin-secret-key-v1:zz\n").unwrap();
        assert!(matches!(load(&path), Err(KeyFileError::Format(_))));
    }
}
