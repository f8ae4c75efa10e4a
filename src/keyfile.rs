//! Secret key files: written 0600, refused when others can read them.
//!
//! The format is one line of text, `tocsin-secret-key-v1:` and the 32-byte Ed25519 seed in hex,
//! after comment lines starting with `#`. Plain text so that an officer can see what it is and
//! print it on paper for a safe. A recovery key's file adds a line `tocsin-recovers-v1:` and the
//! public key of the organisation key it recovers, so `tocsin rotate` need not be told; such a
//! file is refused where an organisation key is wanted (it signs only rotations).

use std::fs::{self, OpenOptions};
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::message::{AuthorKey, SecretKey};

const PREFIX: &str = "tocsin-secret-key-v1:";

/// The line of a recovery key's file that names the key it recovers.
const RECOVERS_PREFIX: &str = "tocsin-recovers-v1:";

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
    /// A recovery key was given where an organisation key is wanted.
    #[error(
        "{} is a recovery key (it recovers key {recovers}); it signs only `tocsin rotate`. \
         Give the organisation's key file instead",
        .path.display()
    )]
    Recovery {
        /// The file.
        path: PathBuf,
        /// The key it recovers (boxed: a decoded key is large, and errors are passed often).
        recovers: Box<AuthorKey>,
    },
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

/// Saves a recovery key to a new file, 0600, naming the organisation key it recovers.
pub fn save_recovery(
    path: &Path,
    key: &SecretKey,
    recovers: &AuthorKey,
) -> Result<(), KeyFileError> {
    let text = format!(
        "# Tocsin RECOVERY key (public key {}) for the organisation key {recovers}.\n\
         # It can hand that key's name to a successor after a seizure (tocsin rotate).\n\
         # Keep it OFFLINE, away from the organisation key: on paper, or with trusted people abroad.\n\
         {RECOVERS_PREFIX}{recovers}\n\
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

/// Loads a secret key, refusing a file that others can read, and a recovery key's file (a
/// recovery key that signed anything but a rotation would show itself before it is needed).
pub fn load(path: &Path) -> Result<SecretKey, KeyFileError> {
    match read_key(path)? {
        (key, None) => Ok(key),
        (_, Some(recovers)) => Err(KeyFileError::Recovery {
            path: path.to_path_buf(),
            recovers: Box::new(recovers),
        }),
    }
}

/// Loads a recovery key and the organisation key its file says it recovers (`None` for a plain
/// key file, which may serve as a recovery key when the caller names the key it recovers).
pub fn load_recovery(path: &Path) -> Result<(SecretKey, Option<AuthorKey>), KeyFileError> {
    read_key(path)
}

fn read_key(path: &Path) -> Result<(SecretKey, Option<AuthorKey>), KeyFileError> {
    check_private(path)?;
    let text = fs::read_to_string(path).map_err(io(path))?;
    let format = || KeyFileError::Format(path.to_path_buf());
    let mut seed_hex = None;
    let mut recovers = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(hex_seed) = line.strip_prefix(PREFIX) {
            seed_hex = Some(hex_seed);
        } else if let Some(key) = line.strip_prefix(RECOVERS_PREFIX) {
            recovers = Some(key.parse::<AuthorKey>().map_err(|_| format())?);
        } else {
            return Err(format());
        }
    }
    let mut seed = [0u8; 32];
    hex::decode_to_slice(seed_hex.ok_or_else(format)?, &mut seed).map_err(|_| format())?;
    let key = SecretKey::from_seed(&seed);
    seed.fill(0);
    Ok((key, recovers))
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
    fn a_recovery_key_names_what_it_recovers_and_is_refused_as_an_organisation_key() {
        let dir = tempfile::tempdir().unwrap();
        let main = SecretKey::from_seed(&[7; 32]);
        let recovery = SecretKey::from_seed(&[8; 32]);
        let path = dir.path().join("org.key.recovery");
        save_recovery(&path, &recovery, &main.public()).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (loaded, recovers) = load_recovery(&path).unwrap();
        assert_eq!(loaded.public(), recovery.public());
        assert_eq!(recovers, Some(main.public()));
        let err = load(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::Recovery { .. }), "{err}");
        assert!(err.to_string().contains("tocsin rotate"), "{err}");
        // A plain key file serves as a recovery key that says nothing of what it recovers.
        let plain = dir.path().join("plain.key");
        save(&plain, &recovery).unwrap();
        assert_eq!(load_recovery(&plain).unwrap().1, None);
    }

    #[test]
    fn refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.key");
        write_private(&path, b"tocsin-secret-key-v1:zz\n").unwrap();
        assert!(matches!(load(&path), Err(KeyFileError::Format(_))));
    }
}
