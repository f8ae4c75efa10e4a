//! Invitations: the line one node's operator gives another's (`tocsin-invite:1:…`), and the
//! inviter's record of the invitations it made, kept hashed in a 0600 file of the data
//! directory so they survive a restart. No I/O but that file; times are passed in.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every invitation line starts with (the version follows).
pub const LINE_PREFIX: &str = "tocsin-invite:1:";

/// Invitations not yet used nor expired that a node keeps at once; more are refused.
pub const MAX_LIVE: usize = 32;

/// Invitations kept in all (used and expired ones, to say why a secret is refused); the
/// oldest are forgotten past it.
const MAX_KEPT: usize = 256;

/// The secret's length in bytes.
pub const SECRET_LEN: usize = 32;

/// What an invitation line carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The inviter's gRPC URL.
    pub address: String,
    /// The SHA-256 fingerprint of the inviter's CA certificate (as `tls::fingerprint`).
    pub ca_fingerprint: String,
    /// The one-time secret, base64url.
    secret: String,
    /// Until when it may be used, Unix seconds.
    pub expires_at: u64,
    /// The inviter's node name (the name the joiner gives it unless told another).
    pub name: String,
}

/// Why a line is not an invitation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "not a Tocsin invitation ({0}); paste the whole line `tocsin peer invite` printed, starting with {LINE_PREFIX}"
)]
pub struct BadLine(String);

impl Line {
    /// A line with a new random secret.
    pub fn new(
        address: String,
        ca_fingerprint: String,
        expires_at: u64,
        name: String,
    ) -> Result<(Line, [u8; SECRET_LEN]), getrandom::Error> {
        let mut secret = [0u8; SECRET_LEN];
        getrandom::fill(&mut secret)?;
        let line = Line {
            address,
            ca_fingerprint,
            secret: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            expires_at,
            name,
        };
        Ok((line, secret))
    }

    /// The line as one token: no spaces, one shell argument.
    pub fn encode(&self) -> String {
        // Serialising a struct of strings and numbers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!(
            "{LINE_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
        )
    }

    /// Reads a line back (surrounding spaces and quotes forgiven).
    pub fn decode(text: &str) -> Result<Line, BadLine> {
        let text = text.trim().trim_matches(['"', '\'']);
        let Some(payload) = text.strip_prefix(LINE_PREFIX) else {
            return Err(BadLine(if text.starts_with("tocsin-invite:") {
                "made by another version of tocsin".into()
            } else {
                "it does not start with tocsin-invite:".into()
            }));
        };
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| BadLine("cut or altered: not base64url".into()))?;
        let line: Line = serde_json::from_slice(&json)
            .map_err(|_| BadLine("cut or altered: its fields do not read".into()))?;
        if line.secret().is_none() {
            return Err(BadLine("its secret is not 32 bytes".into()));
        }
        Ok(line)
    }

    /// The secret's bytes.
    pub fn secret(&self) -> Option<[u8; SECRET_LEN]> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.secret)
            .ok()?
            .try_into()
            .ok()
    }
}

/// Why a secret was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretRefusal {
    /// No invitation of this node has it.
    #[error("this node made no such invitation (or forgot it); ask its operator for a new one")]
    Unknown,
    /// It was used already.
    #[error("this invitation was used already; each is good for one join: ask for a new one")]
    Used,
    /// It expired.
    #[error("this invitation has expired; ask for a new one")]
    Expired,
}

/// One invitation as the inviter keeps it: never the secret itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Kept {
    /// SHA-256 of the secret, hex.
    hash: String,
    /// Unix seconds.
    expires_at: u64,
    /// The name the joiner will be given (empty: its own node name).
    name: String,
    used: bool,
}

/// The invitations a node made: `DATA/invitations.json`, 0600.
#[derive(Debug, Clone)]
pub struct Invitations {
    path: PathBuf,
    kept: Vec<Kept>,
}

/// Why the invitation file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum InvitationsError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file does not read.
    #[error("{path} is damaged; remove it (the invitations in it are then void)", path = .path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
    },
    /// Too many invitations are waiting to be used.
    #[error(
        "{MAX_LIVE} invitations are waiting to be used already; wait until some expire or are used"
    )]
    TooMany,
}

fn hash(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two hashes in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Invitations {
    /// The file in `data_dir` (none yet: no invitations).
    pub fn load(data_dir: &Path) -> Result<Invitations, InvitationsError> {
        let path = data_dir.join("invitations.json");
        let kept = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|_| InvitationsError::Damaged { path: path.clone() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(InvitationsError::Io { path, source }),
        };
        Ok(Invitations { path, kept })
    }

    /// Invitations neither used nor expired at `now` (Unix seconds).
    pub fn live(&self, now: u64) -> usize {
        self.kept
            .iter()
            .filter(|k| !k.used && k.expires_at > now)
            .count()
    }

    /// Records a new invitation's secret (hashed).
    pub fn add(
        &mut self,
        secret: &[u8],
        expires_at: u64,
        name: &str,
        now: u64,
    ) -> Result<(), InvitationsError> {
        if self.live(now) >= MAX_LIVE {
            return Err(InvitationsError::TooMany);
        }
        self.kept.push(Kept {
            hash: hex(&hash(secret)),
            expires_at,
            name: name.to_string(),
            used: false,
        });
        if self.kept.len() > MAX_KEPT {
            // Forget the used and expired first, then the oldest.
            self.kept.retain(|k| !k.used && k.expires_at > now);
            let excess = self.kept.len().saturating_sub(MAX_KEPT);
            self.kept.drain(..excess);
        }
        Ok(())
    }

    /// Checks a secret at `now`: the name the invitation gives the joiner (empty: its own),
    /// or why it is refused. Every kept hash is compared, each in constant time.
    pub fn check(&self, secret: &[u8], now: u64) -> Result<String, SecretRefusal> {
        let wanted = hex(&hash(secret));
        let mut found = None;
        for (i, k) in self.kept.iter().enumerate() {
            if same(k.hash.as_bytes(), wanted.as_bytes()) {
                found = Some(i);
            }
        }
        let k = &self.kept[found.ok_or(SecretRefusal::Unknown)?];
        if k.used {
            Err(SecretRefusal::Used)
        } else if k.expires_at <= now {
            Err(SecretRefusal::Expired)
        } else {
            Ok(k.name.clone())
        }
    }

    /// Marks the invitation of this secret used (once [`Invitations::check`] took it).
    pub fn mark_used(&mut self, secret: &[u8]) {
        let wanted = hex(&hash(secret));
        for k in &mut self.kept {
            if k.hash == wanted {
                k.used = true;
            }
        }
    }

    /// Writes the file, 0600, through a temporary file and a rename.
    pub fn save(&self) -> Result<(), InvitationsError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| InvitationsError::Io { path, source }
        };
        let tmp = self.path.with_extension("json.tmp");
        let _ = std::fs::remove_file(&tmp);
        // Serialising a list of strings and numbers cannot fail.
        let bytes = serde_json::to_vec_pretty(&self.kept).unwrap_or_default();
        crate::keyfile::write_private(&tmp, &bytes).map_err(|e| InvitationsError::Io {
            path: tmp.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_token_and_reads_back() {
        let (line, secret) = Line::new(
            "https://127.0.0.1:7701".into(),
            "AB:CD".into(),
            1_900_000_000,
            "baku".into(),
        )
        .unwrap();
        let text = line.encode();
        assert!(text.starts_with(LINE_PREFIX));
        assert!(!text.contains(char::is_whitespace), "{text}");
        let back = Line::decode(&format!("  '{text}'\n")).unwrap();
        assert_eq!(back, line);
        assert_eq!(back.secret(), Some(secret));
        assert!(Line::decode("tocsin-invite:2:abc").is_err());
        assert!(Line::decode(&text[..text.len() - 3]).is_err());
        assert!(Line::decode("https://127.0.0.1:7701").is_err());
    }

    #[test]
    fn a_secret_is_good_once_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let mut kept = Invitations::load(dir.path()).unwrap();
        kept.add(b"first secret", 100, "geneva", 10).unwrap();
        kept.add(b"second secret", 100, "", 10).unwrap();
        kept.save().unwrap();
        let mut kept = Invitations::load(dir.path()).unwrap();
        assert_eq!(kept.check(b"first secret", 50), Ok("geneva".into()));
        assert_eq!(kept.check(b"other", 50), Err(SecretRefusal::Unknown));
        assert_eq!(
            kept.check(b"second secret", 100),
            Err(SecretRefusal::Expired)
        );
        kept.mark_used(b"first secret");
        assert_eq!(kept.check(b"first secret", 50), Err(SecretRefusal::Used));
        assert_eq!(kept.live(50), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            kept.save().unwrap();
            let mode = std::fs::metadata(dir.path().join("invitations.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn live_invitations_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let mut kept = Invitations::load(dir.path()).unwrap();
        for i in 0..MAX_LIVE {
            kept.add(format!("s{i}").as_bytes(), 100, "", 10).unwrap();
        }
        assert!(matches!(
            kept.add(b"one more", 100, "", 10),
            Err(InvitationsError::TooMany)
        ));
        // Once they expire, there is room again.
        kept.add(b"later", 300, "", 200).unwrap();
    }
}
