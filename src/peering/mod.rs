//! Peering: what a node's config says about its peers and the client CAs it trusts, changed
//! while it runs. Invitations (`peer invite` on one node, `peer join` on the other) that make
//! two nodes peers both ways in one step (`invitation.rs`), the config file's edits that keep
//! its comments (`edit.rs`, shared with `tocsin peer add|remove`), and the reload: SIGHUP or a
//! change of the file applies the peers and `tls.client_ca` at once (federation starts and
//! stops followers, the gRPC edge swaps its TLS acceptor); other changes are logged as needing
//! a restart, and a file that does not parse is logged and the running settings kept.
//!
//! The wire (`rpc/peering.rs`, `rpc/operator.rs`) calls in here; this module names no tonic.

pub mod edit;
pub mod invitation;

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, PeerConfig};
use crate::message::AuthorKey;
use crate::node::Node;
pub use edit::{ConfigFile, EditError, NewPeer};
pub use invitation::{BadLine, Invitations, InvitationsError, Line, SecretRefusal};

/// How often the config file is read to see whether it changed.
pub const POLL: Duration = Duration::from_secs(2);

/// How long an invitation is good for when its maker does not say.
pub const DEFAULT_VALID: Duration = Duration::from_secs(24 * 3600);

/// What a reload changes at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// The peers followed.
    pub peers: Vec<PeerConfig>,
    /// `tls.client_ca`, the files.
    pub client_ca: Vec<PathBuf>,
    /// Those files read (PEM), `None` when the list is empty or TLS is off.
    pub client_ca_pem: Option<Vec<u8>>,
}

/// The node's reloadable settings and the lock of its config file.
#[derive(Debug)]
pub struct Reloadable {
    live: watch::Sender<Live>,
    /// Held while the config file is edited or read for a reload, and while invitations are
    /// made or used: one at a time. It keeps the file's last text and parse, so a reload
    /// compares the file with the file (command-line overrides are not changes).
    file: tokio::sync::Mutex<Option<(String, Config)>>,
    /// `DATA/invitations.json` as last read or written, read once: a join's secret is checked
    /// against it before any lock is taken or file read, so an unknown secret costs a hash.
    /// Changed only with `file` held, and replaced only once the file is written.
    invitations: std::sync::Mutex<Option<Invitations>>,
}

impl Reloadable {
    /// The settings the node started with.
    pub fn new(live: Live) -> Reloadable {
        Reloadable {
            live: watch::Sender::new(live),
            file: tokio::sync::Mutex::new(None),
            invitations: std::sync::Mutex::new(None),
        }
    }

    /// The invitations, read from `data_dir` the first time.
    fn invitations(&self, data_dir: &Path) -> Result<Invitations, InvitationsError> {
        // A panic while the copy was replaced leaves a whole one either way.
        let mut kept = self
            .invitations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(kept) = kept.as_ref() {
            return Ok(kept.clone());
        }
        let loaded = Invitations::load(data_dir)?;
        *kept = Some(loaded.clone());
        Ok(loaded)
    }

    /// Checks a secret against the invitations in memory (see `invitations`).
    fn check_secret(
        &self,
        data_dir: &Path,
        secret: &[u8],
        now: u64,
    ) -> Result<String, PeeringError> {
        {
            let kept = self
                .invitations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(kept) = kept.as_ref() {
                return Ok(kept.check(secret, now)?);
            }
        }
        Ok(self.invitations(data_dir)?.check(secret, now)?)
    }

    /// The invitations as just written to the file.
    fn invitations_saved(&self, saved: Invitations) {
        *self
            .invitations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(saved);
    }

    /// The settings now.
    pub fn now(&self) -> Live {
        self.live.borrow().clone()
    }

    /// Told of every change.
    pub fn watch(&self) -> watch::Receiver<Live> {
        self.live.subscribe()
    }
}

/// Why peering could not be done.
#[derive(Debug, thiserror::Error)]
pub enum PeeringError {
    /// The node was started without a config file: there is nothing to edit.
    #[error(
        "this node was started without a config file, so it cannot record a peer; stop it and run it with one: tocsin node run --config FILE … (tocsin node init --config FILE writes one)"
    )]
    NoConfigFile,
    /// TLS is off: there is no certificate to pin or to trust.
    #[error(
        "peering by invitation needs TLS (tls.mode = \"auto\" or \"files\"): a node in plaintext has no certificate to check or to trust"
    )]
    NoTls,
    /// The node's own CA could not be found or read.
    #[error("this node's CA certificate: {0}")]
    OwnCa(String),
    /// No address to give, or the one given is not usable.
    #[error("{0}")]
    Address(String),
    /// A name is not usable.
    #[error("{0}")]
    Name(String),
    /// The secret was refused.
    #[error("{0}")]
    Secret(#[from] SecretRefusal),
    /// The line is not an invitation.
    #[error(transparent)]
    Line(#[from] BadLine),
    /// The other node sent something unusable.
    #[error("{0}")]
    Bad(String),
    /// A peer of that name is configured already.
    #[error("a peer named {name:?} is in {path} already; choose another name (--name) or remove it first (tocsin peer remove {name} --config {path})", path = .path.display())]
    AlreadyPeer {
        /// The name.
        name: String,
        /// The config file.
        path: PathBuf,
    },
    /// The invitation file.
    #[error(transparent)]
    Invitations(#[from] InvitationsError),
    /// The config file.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// Writing the other node's CA.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The thread that wrote the files ended abnormally.
    #[error("the join's writes ended abnormally: {0}")]
    Interrupted(String),
    /// No randomness for the secret.
    #[error("no random bytes for the secret: {0}")]
    Random(String),
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Whether the peers or the client CAs changed.
    pub applied: bool,
    /// Sections that changed but take effect only at a restart.
    pub need_restart: Vec<&'static str>,
}

/// Why a reload kept the running settings.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The node has no config file.
    #[error("the node was started without a config file; nothing to reload")]
    NoConfigFile,
    /// The file could not be read or does not parse.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A client CA file could not be read.
    #[error("tls.client_ca: {0}")]
    ClientCa(String),
}

/// Reads the config file again and applies its peers and client CAs (see the module's doc).
pub async fn reload(node: &Node) -> Result<Reloaded, ReloadError> {
    let mut file = node.peering().file.lock().await;
    reload_locked(node, &mut file)
}

fn reload_locked(
    node: &Node,
    file: &mut Option<(String, Config)>,
) -> Result<Reloaded, ReloadError> {
    let path = node
        .config()
        .path
        .clone()
        .ok_or(ReloadError::NoConfigFile)?;
    let text = std::fs::read_to_string(&path).map_err(|source| {
        ReloadError::Config(crate::config::ConfigError::Read {
            path: path.clone(),
            source,
        })
    })?;
    let new = Config::parse(&text).map_err(|message| {
        ReloadError::Config(crate::config::ConfigError::Invalid {
            path: path.clone(),
            message,
        })
    })?;
    let before = file
        .as_ref()
        .map_or_else(|| node.config().clone(), |(_, c)| c.clone());
    let need_restart = before.needs_restart(&new);
    let client_ca_pem = if node.tls().is_none() || new.tls.client_ca.is_empty() {
        None
    } else {
        Some(client_ca_bundle(&new.tls.client_ca)?)
    };
    let live = Live {
        peers: new.peers.clone(),
        client_ca: new.tls.client_ca.clone(),
        client_ca_pem,
    };
    let applied = node.peering().live.send_if_modified(|now| {
        let changed = *now != live;
        *now = live;
        changed
    });
    *file = Some((text, new));
    Ok(Reloaded {
        applied,
        need_restart,
    })
}

/// The client CA files read and checked as the edge will use them: each must hold at least one
/// certificate, and every certificate must go into a root store. One that does not refuses the
/// whole reload (peers included), so the edge is never told of CAs it cannot build, and an
/// emptied or unreadable file never leaves the trust it held before in place unnoticed.
fn client_ca_bundle(paths: &[PathBuf]) -> Result<Vec<u8>, ReloadError> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let mut bundle = Vec::new();
    for path in paths {
        let bad = |why: String| ReloadError::ClientCa(format!("{}: {why}", path.display()));
        let pem = crate::tls::read_bundle(std::slice::from_ref(path))
            .map_err(|e| ReloadError::ClientCa(e.to_string()))?;
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| bad(format!("a certificate does not read: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("a certificate is not usable as a CA: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(bad(
                "holds no certificate (remove it from tls.client_ca to stop trusting it)".into(),
            ));
        }
        bundle.extend(pem);
    }
    Ok(bundle)
}

/// Logs what a reload did, or why it kept the running settings.
pub fn log_reload(result: &Result<Reloaded, ReloadError>, why: &str) {
    match result {
        Ok(r) => {
            if r.applied {
                info!("{why}: peers and client CAs reloaded");
            }
            if !r.need_restart.is_empty() {
                warn!(
                    changed = %r.need_restart.join(", "),
                    "{why}: these settings changed in the config file and take effect only when the node restarts"
                );
            }
        }
        Err(e) => {
            warn!(error = %e, "{why}: the config file was not reloaded; the running settings are kept")
        }
    }
}

/// Starts the task that reads the config file every [`POLL`] and reloads it when its text
/// changed (none when the node has no config file).
pub fn start(node: &Node) {
    let Some(path) = node.config().path.clone() else {
        return;
    };
    // The text the node started with: a change is measured from it. Read here, before the
    // node is handed to anyone, not in the task: an edit made just after the start would
    // otherwise be taken for the starting text and never applied. Nothing else holds the lock
    // yet; were it held, that holder reads the file itself.
    if let Ok(mut file) = node.peering().file.try_lock()
        && file.is_none()
        && let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(config) = Config::parse(&text)
    {
        *file = Some((text, config));
    }
    let watcher = node.clone();
    node.spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stopped = watcher.stopped();
        tokio::pin!(stopped);
        let mut last_failed: Option<String> = None;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stopped => return,
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let mut file = watcher.peering().file.lock().await;
            let same = file.as_ref().is_some_and(|(t, _)| *t == text);
            if same || last_failed.as_deref() == Some(text.as_str()) {
                continue;
            }
            let result = reload_locked(&watcher, &mut file);
            drop(file);
            // A file that does not parse is logged once, not every poll.
            last_failed = result.is_err().then(|| text.clone());
            log_reload(&result, "the config file changed");
        }
    });
}

/// The node's CA certificate (PEM): in `auto` mode its own CA; in `files` mode the last
/// certificate of its chain, the issuer it was given with.
pub fn own_ca_pem(node: &Node) -> Result<Vec<u8>, PeeringError> {
    let tls = node.tls().ok_or(PeeringError::NoTls)?;
    if let Some(path) = &tls.own_ca {
        return std::fs::read(path)
            .map_err(|e| PeeringError::OwnCa(format!("{}: {e}", path.display())));
    }
    private_ca_of_chain(&tls.identity.cert_pem)
}

/// The last certificate of a `files`-mode chain, as PEM, when it is a private CA: one that signs
/// itself. Another node will trust whatever that certificate issues for client certificates,
/// so a public intermediate (a chain from a public CA ends at one) is refused: every client
/// certificate it ever issued would be taken for this node.
fn private_ca_of_chain(cert_pem: &[u8]) -> Result<Vec<u8>, PeeringError> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PeeringError::OwnCa(format!("tls.cert does not read: {e}")))?;
    let [_, .., last] = chain.as_slice() else {
        return Err(PeeringError::OwnCa(
            "tls.cert holds one certificate only; put its issuer's certificate after it (the chain) so peers can pin it".into(),
        ));
    };
    let self_signed = X509Certificate::from_der(last).is_ok_and(|(_, cert)| {
        cert.issuer().as_raw() == cert.subject().as_raw() && cert.verify_signature(None).is_ok()
    });
    if !self_signed {
        return Err(PeeringError::OwnCa(
            "the last certificate of tls.cert is not a private CA (it is not self-signed): peering by invitation would make the other node trust every certificate its issuer signs. Use a private CA for the node's certificate (tls.mode = \"auto\" makes one), or peer with `tocsin peer add` and tls.client_ca set by hand".into(),
        ));
    }
    Ok(pem_of(last))
}

/// The fingerprint of a PEM certificate (as `tls::fingerprint`), or why not.
fn fingerprint(pem: &[u8]) -> Result<String, PeeringError> {
    crate::tls::fingerprint(pem)
        .ok_or_else(|| PeeringError::Bad("a CA certificate that does not read".into()))
}

/// The one CA certificate another node gives of itself (its DER), checked: exactly one PEM
/// block, a certificate that parses whole, marked a CA (basicConstraints), and one a root store
/// takes. Anything else is refused, so a node can never slip a second CA, or a block that
/// would break the edge's next rebuild, into this node's `tls.client_ca`.
pub fn one_ca(pem: &[u8]) -> Result<Vec<u8>, PeeringError> {
    use tokio_rustls::rustls::pki_types::CertificateDer;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::{FromDer, X509Certificate};
    let bad = |why: &str| PeeringError::Bad(format!("the other node's CA certificate {why}"));
    let text = std::str::from_utf8(pem).map_err(|_| bad("is not PEM text"))?;
    if text.matches("-----BEGIN ").count() != 1 {
        return Err(bad("must be exactly one PEM block"));
    }
    let mut certs = CertificateDer::pem_slice_iter(pem);
    let der = match (certs.next(), certs.next()) {
        (Some(Ok(der)), None) => der,
        (Some(Err(_)), _) => return Err(bad("does not read")),
        _ => return Err(bad("must be exactly one certificate")),
    };
    let (rest, cert) = X509Certificate::from_der(&der).map_err(|_| bad("does not parse"))?;
    if !rest.is_empty() {
        return Err(bad("has bytes after the certificate"));
    }
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|constraints| constraints.value.ca);
    if !is_ca {
        return Err(bad("is not a CA (no basicConstraints CA:true)"));
    }
    tokio_rustls::rustls::RootCertStore::empty()
        .add(der.clone())
        .map_err(|e| bad(&format!("is not usable as a trust anchor: {e}")))?;
    Ok(der.to_vec())
}

/// A certificate's DER as PEM, the one form this node writes a CA copy in.
pub fn pem_of(der: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

/// Checks a peer name as the config does.
pub fn check_name(name: &str) -> Result<(), PeeringError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PeeringError::Name(format!(
            "the peer name {name:?} must be 1 to 64 letters, digits, '-' or '_' (choose one with --name)"
        )));
    }
    Ok(())
}

/// Checks a gRPC URL a node gives for itself.
pub fn check_address(address: &str) -> Result<(), PeeringError> {
    if address.starts_with("https://")
        || address.starts_with("http://") && crate::config::is_loopback_url(address)
    {
        Ok(())
    } else {
        Err(PeeringError::Address(format!(
            "{address:?} is not a URL another node can reach this one at (https://HOST:PORT)"
        )))
    }
}

/// The address this node gives of itself: the one asked for, else `node.public_url`, else
/// `https://` + the listen address (refused when it listens on every address: no one can
/// reach "0.0.0.0").
fn own_address(node: &Node, asked: &str) -> Result<String, PeeringError> {
    let address = if asked.is_empty() {
        let config = node.config();
        if config.node.public_url.is_none() && config.node.listen.ip().is_unspecified() {
            return Err(PeeringError::Address(format!(
                "this node listens on {} and has no node.public_url: say where other nodes reach it with --address https://HOST:PORT, or set node.public_url",
                config.node.listen
            )));
        }
        config.public_grpc_url()
    } else {
        asked.to_string()
    };
    check_address(&address)?;
    Ok(address)
}

fn unix_seconds(node: &Node) -> u64 {
    node.now().0 / 1000
}

/// An invitation made.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The line to give.
    pub line: String,
    /// Until when, Unix seconds.
    pub expires_at: u64,
    /// The address in it.
    pub address: String,
    /// The CA fingerprint in it.
    pub ca_fingerprint: String,
}

/// Makes an invitation (`Operator.Invite`): `name` the joiner will be given (empty: its own
/// node name), good for `valid` (zero: a day), naming `address` (empty: see [`own_address`]).
pub async fn invite(
    node: &Node,
    name: &str,
    valid: Duration,
    address: &str,
) -> Result<Invitation, PeeringError> {
    let path = node
        .config()
        .path
        .clone()
        .ok_or(PeeringError::NoConfigFile)?;
    let ca_fingerprint = fingerprint(&own_ca_pem(node)?)?;
    let address = own_address(node, address)?;
    if !name.is_empty() {
        check_name(name)?;
    }
    let valid = if valid.is_zero() {
        DEFAULT_VALID
    } else {
        valid
    };
    let _file = node.peering().file.lock().await;
    if !name.is_empty() && ConfigFile::open(&path)?.has_peer(name)? {
        return Err(PeeringError::AlreadyPeer {
            name: name.to_string(),
            path,
        });
    }
    let now = unix_seconds(node);
    let expires_at = now.saturating_add(valid.as_secs());
    let (line, secret) = Line::new(
        address.clone(),
        ca_fingerprint.clone(),
        expires_at,
        node.config().node.name.clone(),
    )
    .map_err(|e| PeeringError::Random(e.to_string()))?;
    let mut kept = node.peering().invitations(node.data_dir())?;
    kept.add(&secret, expires_at, name, now)?;
    kept.save()?;
    node.peering().invitations_saved(kept);
    info!(expires_at, name, "made an invitation to peer");
    Ok(Invitation {
        line: line.encode(),
        expires_at,
        address,
        ca_fingerprint,
    })
}

/// What a joining node sends (`Peering.Join`).
#[derive(Debug, Clone)]
pub struct JoinAsk {
    /// The invitation's secret.
    pub secret: Vec<u8>,
    /// The joiner's node name.
    pub name: String,
    /// Where the inviter reaches it.
    pub address: String,
    /// Its CA certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// Its node key.
    pub node_key: AuthorKey,
}

/// What the inviter answers.
#[derive(Debug, Clone)]
pub struct JoinAnswer {
    /// The name the inviter gave the joiner.
    pub name: String,
    /// The inviter's CA certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// The inviter's node key.
    pub node_key: AuthorKey,
}

/// Where a peer's CA copy is kept: `DATA/peers/<name>.ca.crt`, absolute so the config file
/// means the same from any working directory.
fn ca_copy_path(node: &Node, name: &str) -> PathBuf {
    let dir = node.data_dir().join("peers");
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    dir.join(format!("{name}.ca.crt"))
}

/// Writes the other node's CA copy and lists it in `tls.client_ca`, and, with `address`, adds
/// the other node as a peer trusted through that copy; saves the file and applies it. Called
/// with the file's lock held.
fn record(
    node: &Node,
    file: &mut Option<(String, Config)>,
    config_path: &Path,
    name: &str,
    address: Option<&str>,
    ca_pem: &[u8],
) -> Result<(), PeeringError> {
    let mut edit = ConfigFile::open(config_path)?;
    if edit.has_peer(name)? {
        return Err(PeeringError::AlreadyPeer {
            name: name.to_string(),
            path: config_path.to_path_buf(),
        });
    }
    let ca_path = ca_copy_path(node, name);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PeeringError::Io { path, source }
    };
    if let Some(dir) = ca_path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(&ca_path, ca_pem).map_err(io(&ca_path))?;
    if let Some(address) = address {
        edit.add_peer(&NewPeer {
            name: name.to_string(),
            address: address.to_string(),
            ca: Some(ca_path.clone()),
        })?;
    }
    edit.add_client_ca(&ca_path)?;
    edit.save()?;
    let reloaded = reload_locked(node, file);
    log_reload(&reloaded, "a peer was added by invitation");
    Ok(())
}

/// Takes a join (`Peering.Join`, inviter's side): the secret must be of an invitation neither
/// used nor expired; the joiner becomes a peer both ways and the invitation is spent.
pub async fn accept(node: &Node, ask: JoinAsk) -> Result<JoinAnswer, PeeringError> {
    // The caller is anyone: a secret of another length was never made here, and one no
    // invitation has is refused from memory, before any lock, file or certificate is read.
    if ask.secret.len() != invitation::SECRET_LEN {
        return Err(SecretRefusal::Unknown.into());
    }
    let peering = node.peering();
    peering.check_secret(node.data_dir(), &ask.secret, unix_seconds(node))?;
    let path = node
        .config()
        .path
        .clone()
        .ok_or(PeeringError::NoConfigFile)?;
    let own_ca = own_ca_pem(node)?;
    let mut file = peering.file.lock().await;
    // Again with the lock held: another join may have spent it meanwhile.
    let given = peering.check_secret(node.data_dir(), &ask.secret, unix_seconds(node))?;
    let name = if given.is_empty() { ask.name } else { given };
    check_name(&name)?;
    // A remote joiner gives an address to be followed: https:// only, so a joiner cannot make
    // this node follow a plaintext service on its own loopback.
    if !ask.address.starts_with("https://") {
        return Err(PeeringError::Address(format!(
            "{:?} is not a URL this node can follow a joining node at: it must be https://HOST:PORT",
            ask.address
        )));
    }
    let joiner_ca = pem_of(&one_ca(&ask.ca_pem)?);
    if ask.node_key == node.node_key() {
        return Err(PeeringError::Bad(
            "this invitation is this node's own: use it on the other node".into(),
        ));
    }
    // The files are read and written on a blocking thread, the lock held throughout (its state
    // moves to that thread and back).
    let mut state = file.take();
    let mut kept = peering.invitations(node.data_dir())?;
    let secret = ask.secret;
    let address = ask.address;
    let (state, spent, recorded) = {
        let node = node.clone();
        let name = name.clone();
        let address = address.clone();
        tokio::task::spawn_blocking(move || {
            let mut spent = None;
            let recorded = (|| {
                if ConfigFile::open(&path)?.has_peer(&name)? {
                    return Err(PeeringError::AlreadyPeer {
                        name: name.clone(),
                        path: path.clone(),
                    });
                }
                // Spent before the file is changed: a secret is good for one join, whatever
                // follows.
                kept.mark_used(&secret);
                kept.save()?;
                spent = Some(kept);
                record(&node, &mut state, &path, &name, Some(&address), &joiner_ca)
            })();
            (state, spent, recorded)
        })
        .await
        .map_err(|e| PeeringError::Interrupted(e.to_string()))?
    };
    *file = state;
    if let Some(spent) = spent {
        peering.invitations_saved(spent);
    }
    recorded?;
    info!(peer = %name, address = %address, "a node joined by invitation: peers both ways");
    Ok(JoinAnswer {
        name,
        ca_pem: own_ca,
        node_key: node.node_key(),
    })
}

/// A join about to be made (`Operator.Join`, joiner's side), checked before the other node
/// is contacted.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    /// The invitation.
    pub line: Line,
    /// The name this node gives the inviter.
    pub name: String,
    /// The address this node gives of itself.
    pub address: String,
    /// This node's CA certificate (PEM).
    pub ca_pem: Vec<u8>,
    /// The config file.
    pub config_file: PathBuf,
}

/// Checks a join before anything is sent: a config file, TLS, an unexpired line, a free name.
pub async fn plan_join(
    node: &Node,
    line: &str,
    name: &str,
    address: &str,
) -> Result<JoinPlan, PeeringError> {
    let config_file = node
        .config()
        .path
        .clone()
        .ok_or(PeeringError::NoConfigFile)?;
    let ca_pem = own_ca_pem(node)?;
    let line = Line::decode(line)?;
    if line.expires_at <= unix_seconds(node) {
        return Err(SecretRefusal::Expired.into());
    }
    let name = if name.is_empty() {
        line.name.clone()
    } else {
        name.to_string()
    };
    check_name(&name)?;
    check_address(&line.address)?;
    let address = own_address(node, address)?;
    let _file = node.peering().file.lock().await;
    if ConfigFile::open(&config_file)?.has_peer(&name)? {
        return Err(PeeringError::AlreadyPeer {
            name,
            path: config_file,
        });
    }
    Ok(JoinPlan {
        line,
        name,
        address,
        ca_pem,
        config_file,
    })
}

/// Before the join is asked (joiner's side): trusts the inviter's CA (`ca_pem`, learned
/// pinned by the line) for client certificates, so that when the inviter's follower connects,
/// the moment the inviter has said yes, it is authenticated here already.
pub async fn trust_inviter(
    node: &Node,
    plan: &JoinPlan,
    ca_pem: &[u8],
) -> Result<(), PeeringError> {
    let ca_pem = invitations_ca(plan, &one_ca(ca_pem)?)?;
    let mut file = node.peering().file.lock().await;
    record(
        node,
        &mut file,
        &plan.config_file,
        &plan.name,
        None,
        &ca_pem,
    )
}

/// The inviter's CA (one certificate, as [`one_ca`] took it) in canonical PEM, once it is the
/// one the invitation's fingerprint names.
fn invitations_ca(plan: &JoinPlan, ca: &[u8]) -> Result<Vec<u8>, PeeringError> {
    let pem = pem_of(ca);
    if fingerprint(&pem)? != plan.line.ca_fingerprint {
        return Err(PeeringError::Bad(
            "the inviting node's CA is not the invitation's".into(),
        ));
    }
    Ok(pem)
}

/// The inviter said no (joiner's side): the trust [`trust_inviter`] gave is taken back.
pub async fn untrust_inviter(node: &Node, plan: &JoinPlan) {
    let mut file = node.peering().file.lock().await;
    let ca_path = ca_copy_path(node, &plan.name);
    let undone = ConfigFile::open(&plan.config_file).and_then(|mut edit| {
        edit.remove_client_ca(&ca_path);
        edit.save()
    });
    match undone {
        Ok(_) => {
            let _ = std::fs::remove_file(&ca_path);
            let reloaded = reload_locked(node, &mut file);
            log_reload(&reloaded, "a join was refused");
        }
        Err(e) => {
            warn!(error = %e, ca = %ca_path.display(), "a join was refused, and its CA could not be taken out of tls.client_ca")
        }
    }
}

/// The inviter said yes (joiner's side): it becomes a peer here too, trusted through the copy
/// [`trust_inviter`] wrote. What is written is `pinned_ca` (the CA the handshake pinned), never
/// the answer's text: the answer must hold that one certificate and nothing more.
pub async fn joined(
    node: &Node,
    plan: &JoinPlan,
    pinned_ca: &[u8],
    answer: &JoinAnswer,
) -> Result<(), PeeringError> {
    let pinned = one_ca(pinned_ca)?;
    if one_ca(&answer.ca_pem)? != pinned {
        return Err(PeeringError::Bad(
            "the inviting node answered with a CA other than the one its handshake showed".into(),
        ));
    }
    let pinned_ca = invitations_ca(plan, &pinned)?;
    let mut file = node.peering().file.lock().await;
    record(
        node,
        &mut file,
        &plan.config_file,
        &plan.name,
        Some(&plan.line.address),
        &pinned_ca,
    )?;
    info!(peer = %plan.name, address = %plan.line.address, "joined by invitation: peers both ways");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    /// A CA, self-signed, and the key it signs with.
    fn root(name: &str) -> (String, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        (params.self_signed(&key).unwrap().pem(), key)
    }

    /// A certificate issued by `issuer`: a CA (an intermediate) or a leaf.
    fn issued(issuer: &(String, KeyPair), name: &str, ca: bool) -> String {
        let issuer = Issuer::from_ca_cert_pem(&issuer.0, &issuer.1).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![format!("{name}.example.org")]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        params.signed_by(&key, &issuer).unwrap().pem()
    }

    #[test]
    fn another_nodes_ca_is_exactly_one_ca_certificate() {
        let ca = root("Harbour Workers node CA");
        let other = root("Someone else's CA");
        let der = one_ca(ca.0.as_bytes()).unwrap();
        assert_eq!(
            crate::tls::fingerprint(&pem_of(&der)),
            crate::tls::fingerprint(ca.0.as_bytes())
        );
        let refused = |pem: String, why: &str| {
            let e = one_ca(pem.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(why), "{why:?} not in {e:?}");
        };
        refused(format!("{}{}", ca.0, other.0), "exactly one PEM block");
        refused(
            format!(
                "{}-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                ca.0
            ),
            "exactly one PEM block",
        );
        refused(
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
                .into(),
            "does not parse",
        );
        refused(issued(&ca, "node", false), "is not a CA");
        refused(String::new(), "exactly one PEM block");
    }

    #[test]
    fn a_files_chain_is_pinned_only_when_it_ends_at_a_private_ca() {
        let public_root = root("Example Public Root");
        let intermediate = issued(&public_root, "Example Public Intermediate", true);
        let leaf = issued(&public_root, "relay", false);
        // A public chain: the leaf, then an intermediate under the public root (the root
        // withheld, as public chains are served).
        let public_chain = format!("{leaf}{intermediate}");
        let e = private_ca_of_chain(public_chain.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a private CA"), "{e}");
        // A private CA at the end: pinned, as one canonical block.
        let private = root("Dockers' Union private CA");
        let chain = format!("{}{}", issued(&private, "relay", false), private.0);
        let pinned = private_ca_of_chain(chain.as_bytes()).unwrap();
        assert_eq!(
            crate::tls::fingerprint(&pinned),
            crate::tls::fingerprint(private.0.as_bytes())
        );
        let e = private_ca_of_chain(leaf.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("one certificate only"), "{e}");
    }
}
