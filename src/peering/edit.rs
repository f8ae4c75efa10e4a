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
}

impl ConfigFile {
    /// Reads `path` (an empty document when the file does not exist yet).
    pub fn open(path: &Path) -> Result<ConfigFile, EditError> {
        let doc = if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| EditError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            text.parse::<DocumentMut>().map_err(|e| EditError::Shape {
                path: path.to_path_buf(),
                detail: format!("not valid TOML: {e}"),
            })?
        } else {
            DocumentMut::new()
        };
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
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

    /// Writes the file (through a temporary file and a rename), after checking that the node
    /// would take it; returns the configuration it holds.
    pub fn save(&self) -> Result<Config, EditError> {
        let text = self.text();
        let config = Config::parse(&text).map_err(EditError::Refused)?;
        let tmp = self.path.with_extension("toml.tmp");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| EditError::Io { path, source }
        };
        std::fs::write(&tmp, &text).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        Ok(config)
    }
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
}
