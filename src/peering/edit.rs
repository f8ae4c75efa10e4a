//! Edits of a node's config file that keep its comments (`toml_edit`): the peers and
//! `tls.client_ca`. `tocsin peer add|remove` and the running node (`peer invite`/`peer join`)
//! both edit through here, and nothing is written that the node would refuse at start.

use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use crate::config::Config;

/// Why a config file could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file could not be read or written.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not TOML, or its `peer` or `tls.client_ca` are not of the right shape.
    #[error("{path}: {detail}", path = .path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A peer of this name is in the file already.
    #[error("a peer named {name:?} is in {path} already", path = .path.display())]
    PeerExists {
        /// The name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// No peer of this name is in the file.
    #[error("no peer named {name:?} in {path}", path = .path.display())]
    NoSuchPeer {
        /// The name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// Another process changed the file since it was read.
    #[error("{path} was changed by another process while it was being edited; run the command again", path = .path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// The edited file would be refused by the node at start.
    #[error("the result would be refused: {0}")]
    Refused(String),
}

/// A peer to add: the `[[peer]]` table's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPeer {
    /// Its name in this file.
    pub name: String,
    /// Its gRPC URL.
    pub address: String,
    /// The CA certificate file to trust for it (absent: the system's roots).
    pub ca: Option<PathBuf>,
}

/// A config file open for editing, comments and order kept.
#[derive(Debug)]
pub struct ConfigFile {
    path: PathBuf,
    doc: DocumentMut,
    /// The text read (none: no file yet), to see at [`ConfigFile::save`] whether another
    /// process changed the file meanwhile.
    read: Option<String>,
}

impl ConfigFile {
    /// Reads `path` (an empty document when the file does not exist yet).
    pub fn open(path: &Path) -> Result<ConfigFile, EditError> {
        let read = current_text(path)?;
        let doc = match &read {
            Some(text) => text.parse::<DocumentMut>().map_err(|e| EditError::Shape {
                path: path.to_path_buf(),
                detail: format!("not valid TOML: {e}"),
            })?,
            None => DocumentMut::new(),
        };
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
            read,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shape(&self, detail: &str) -> EditError {
        EditError::Shape {
            path: self.path.clone(),
            detail: detail.to_string(),
        }
    }

    fn peers(&mut self) -> Result<&mut ArrayOfTables, EditError> {
        let bad = self.shape("`peer` must be a list of [[peer]] tables");
        let item = self
            .doc
            .entry("peer")
            .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
        item.as_array_of_tables_mut().ok_or(bad)
    }

    /// Whether a peer of this name is in the file.
    pub fn has_peer(&mut self, name: &str) -> Result<bool, EditError> {
        Ok(self.peers()?.iter().any(|t| name_of(t) == name))
    }

    /// Adds a `[[peer]]`; refused when one of the same name is there.
    pub fn add_peer(&mut self, peer: &NewPeer) -> Result<(), EditError> {
        if self.has_peer(&peer.name)? {
            return Err(EditError::PeerExists {
                name: peer.name.clone(),
                path: self.path.clone(),
            });
        }
        let mut table = Table::new();
        table["name"] = value(peer.name.as_str());
        table["address"] = value(peer.address.as_str());
        if let Some(ca) = &peer.ca {
            table["ca"] = value(ca.display().to_string());
        }
        self.peers()?.push(table);
        Ok(())
    }

    /// Removes the `[[peer]]` of this name.
    pub fn remove_peer(&mut self, name: &str) -> Result<(), EditError> {
        let list = self.peers()?;
        let before = list.len();
        list.retain(|t| name_of(t) != name);
        if list.len() == before {
            return Err(EditError::NoSuchPeer {
                name: name.to_string(),
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Removes the `[[peer]]` of this name and, when its `ca` is the copy peering by invitation
    /// wrote for it (`DATA/peers/<name>.ca.crt`), takes that copy out of `tls.client_ca` too:
    /// it was listed there only so that this peer's client certificate is trusted. Returns the
    /// copy taken out, if any.
    pub fn remove_peer_and_its_trust(&mut self, name: &str) -> Result<Option<PathBuf>, EditError> {
        let ca = self
            .peers()?
            .iter()
            .find(|t| name_of(t) == name)
            .and_then(|t| t.get("ca"))
            .and_then(|v| v.as_str())
            .map(PathBuf::from);
        self.remove_peer(name)?;
        let Some(ca) = ca.filter(|ca| is_peering_copy(ca, name)) else {
            return Ok(None);
        };
        let listed = self.client_ca().contains(&ca);
        self.remove_client_ca(&ca);
        Ok(listed.then_some(ca))
    }

    /// The files in `tls.client_ca`, as written.
    fn client_ca(&self) -> Vec<PathBuf> {
        self.doc
            .get("tls")
            .and_then(|t| t.as_table_like())
            .and_then(|t| t.get("client_ca"))
            .and_then(|l| l.as_array())
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Appends a CA certificate file to `tls.client_ca` (nothing when it is listed already).
    pub fn add_client_ca(&mut self, ca: &Path) -> Result<(), EditError> {
        let bad_tls = self.shape("`tls` must be a table");
        let bad_list = self.shape("`tls.client_ca` must be a list of files");
        let tls = self
            .doc
            .entry("tls")
            .or_insert(Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or(bad_tls)?;
        let list = tls
            .entry("client_ca")
            .or_insert(value(Array::new()))
            .as_array_mut()
            .ok_or(bad_list)?;
        let ca = ca.display().to_string();
        if !list.iter().any(|v| v.as_str() == Some(ca.as_str())) {
            list.push(ca);
        }
        Ok(())
    }

    /// Takes a CA certificate file out of `tls.client_ca` (nothing when it is not listed).
    pub fn remove_client_ca(&mut self, ca: &Path) {
        let ca = ca.display().to_string();
        if let Some(list) = self
            .doc
            .get_mut("tls")
            .and_then(|t| t.as_table_like_mut())
            .and_then(|t| t.get_mut("client_ca"))
            .and_then(|l| l.as_array_mut())
        {
            list.retain(|v| v.as_str() != Some(ca.as_str()));
        }
    }

    /// The file's text as it would be written.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Writes the file, after checking that the node would take it; returns the configuration
    /// it holds.
    ///
    /// `tocsin peer add|remove` and the running node may edit the same file at once: the write
    /// holds an advisory lock (`flock`) on the file's directory, and is refused when the file
    /// is no longer the text [`ConfigFile::open`] read, so no edit is lost. The text goes to a
    /// temporary file of a unique name in the same directory, with the file's mode (and owner,
    /// where allowed), and is renamed over it; a symbolic link is followed, and its target
    /// written, so the link stays.
    pub fn save(&self) -> Result<Config, EditError> {
        let text = self.text();
        let config = Config::parse(&text).map_err(EditError::Refused)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EditError::Io { path, source }
        };
        let target = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                std::fs::canonicalize(&self.path).map_err(io(&self.path))?
            }
            _ => self.path.clone(),
        };
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let lock = std::fs::File::open(&dir).map_err(io(&dir))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
            EditError::Io {
                path: dir.clone(),
                source: e.into(),
            }
        })?;
        if current_text(&target)? != self.read {
            return Err(EditError::Changed {
                path: self.path.clone(),
            });
        }
        let original = std::fs::metadata(&target).ok();
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        {
            use std::io::Write as _;
            let tmp_path = tmp.path().to_path_buf();
            let file = tmp.as_file_mut();
            file.write_all(text.as_bytes()).map_err(io(&tmp_path))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
                // A new file is readable by all, as `std::fs::write` with the usual umask.
                let mode = original.as_ref().map_or(0o644, |m| m.mode() & 0o7777);
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(io(&tmp_path))?;
                if let Some(original) = &original {
                    // Only a privileged process may give a file away; otherwise the owner is
                    // the editor's, as any rewrite would leave it.
                    let _ = std::os::unix::fs::fchown(
                        &*file,
                        Some(original.uid()),
                        Some(original.gid()),
                    );
                }
            }
            file.sync_all().map_err(io(&tmp_path))?;
        }
        tmp.persist(&target).map_err(|e| EditError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        // The lock goes with its file, once the new text is in place.
        drop(lock);
        Ok(config)
    }
}

/// A file's text, none when it does not exist.
fn current_text(path: &Path) -> Result<Option<String>, EditError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EditError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Whether `ca` is where peering by invitation keeps the CA copy of peer `name`:
/// `…/peers/<name>.ca.crt` (`peering::ca_copy_path`).
fn is_peering_copy(ca: &Path, name: &str) -> bool {
    ca.file_name()
        .is_some_and(|f| f.to_str() == Some(format!("{name}.ca.crt").as_str()))
        && ca
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|d| d == "peers")
}

fn name_of(table: &Table) -> &str {
    table.get("name").and_then(|v| v.as_str()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_and_client_cas_are_added_keeping_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.toml");
        std::fs::write(
            &path,
            "# the geneva node\n[node]\nname = \"geneva\" # ours\n\n[tls]\n# trusted\nclient_ca = []\n",
        )
        .unwrap();
        let mut file = ConfigFile::open(&path).unwrap();
        let peer = NewPeer {
            name: "baku".into(),
            address: "https://127.0.0.1:7701".into(),
            ca: Some(PathBuf::from("peers/baku.ca.crt")),
        };
        file.add_peer(&peer).unwrap();
        file.add_client_ca(Path::new("peers/baku.ca.crt")).unwrap();
        file.add_client_ca(Path::new("peers/baku.ca.crt")).unwrap();
        let config = file.save().unwrap();
        assert_eq!(config.peers.len(), 1);
        assert_eq!(
            config.tls.client_ca,
            vec![PathBuf::from("peers/baku.ca.crt")]
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# the geneva node") && text.contains("# ours"),
            "{text}"
        );
        let mut again = ConfigFile::open(&path).unwrap();
        assert!(matches!(
            again.add_peer(&peer),
            Err(EditError::PeerExists { .. })
        ));
        again.remove_peer("baku").unwrap();
        again.remove_client_ca(Path::new("peers/baku.ca.crt"));
        assert!(again.save().unwrap().tls.client_ca.is_empty());
        assert!(matches!(
            again.remove_peer("baku"),
            Err(EditError::NoSuchPeer { .. })
        ));
    }

    #[test]
    fn a_file_the_node_would_refuse_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.toml");
        let mut file = ConfigFile::open(&path).unwrap();
        file.add_peer(&NewPeer {
            name: "far".into(),
            address: "http://192.0.2.1:7700".into(),
            ca: None,
        })
        .unwrap();
        assert!(matches!(file.save(), Err(EditError::Refused(_))));
        assert!(!path.exists());
    }

    #[test]
    fn removing_a_peer_joined_by_invitation_takes_its_ca_copy_out_of_client_ca() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.toml");
        std::fs::write(
            &path,
            "[tls]\nclient_ca = [\"/srv/n-data/peers/baku.ca.crt\", \"/etc/tocsin/readers-ca.crt\", \"/srv/n-data/peers/geneva.ca.crt\"]\n\n\
             [[peer]]\nname = \"baku\"\naddress = \"https://192.0.2.7:7700\"\nca = \"/srv/n-data/peers/baku.ca.crt\"\n\n\
             [[peer]]\nname = \"lagos\"\naddress = \"https://192.0.2.8:7700\"\nca = \"/etc/tocsin/readers-ca.crt\"\n",
        )
        .unwrap();
        let mut file = ConfigFile::open(&path).unwrap();
        assert_eq!(
            file.remove_peer_and_its_trust("baku").unwrap(),
            Some(PathBuf::from("/srv/n-data/peers/baku.ca.crt"))
        );
        // A CA the operator listed by hand is not a peering copy: it stays.
        assert_eq!(file.remove_peer_and_its_trust("lagos").unwrap(), None);
        let config = file.save().unwrap();
        assert!(config.peers.is_empty());
        assert_eq!(
            config.tls.client_ca,
            [
                PathBuf::from("/etc/tocsin/readers-ca.crt"),
                PathBuf::from("/srv/n-data/peers/geneva.ca.crt")
            ]
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_edit_keeps_the_files_mode_and_its_symbolic_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "# kept\n[node]\nname = \"baku\"\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("n.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut file = ConfigFile::open(&link).unwrap();
        file.add_client_ca(Path::new("/srv/peers/geneva.ca.crt"))
            .unwrap();
        file.save().unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link was replaced by a file"
        );
        let text = std::fs::read_to_string(&real).unwrap();
        assert!(
            text.starts_with("# kept") && text.contains("geneva.ca.crt"),
            "{text}"
        );
        let mode = std::fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn an_edit_is_refused_when_another_process_changed_the_file_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.toml");
        std::fs::write(&path, "[node]\nname = \"baku\"\n").unwrap();
        let mut first = ConfigFile::open(&path).unwrap();
        let mut second = ConfigFile::open(&path).unwrap();
        first
            .add_peer(&NewPeer {
                name: "geneva".into(),
                address: "https://192.0.2.1:7700".into(),
                ca: None,
            })
            .unwrap();
        first.save().unwrap();
        second
            .add_peer(&NewPeer {
                name: "lagos".into(),
                address: "https://192.0.2.2:7700".into(),
                ca: None,
            })
            .unwrap();
        assert!(matches!(second.save(), Err(EditError::Changed { .. })));
        // The first edit is not lost.
        let config = Config::load(Some(&path)).unwrap();
        let names: Vec<_> = config.peers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["geneva"]);
    }
}
