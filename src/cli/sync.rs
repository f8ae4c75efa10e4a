//! `tocsin sync`: asks the node on this machine to reconcile now (`Operator.Sync`) with a
//! configured peer or with any node by URL, and says what each side lacked and what crossed.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::{Failure, NodeUrl, term};
use crate::federation::{SyncWith, Synced};
use crate::rpc::ClientError;

/// `tocsin sync`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("with").required(true).args(["peer", "url"])))]
pub struct SyncArgs {
    /// A configured peer's name (as `tocsin peer list` shows it): offered what peers may see.
    #[arg(long, value_name = "NAME")]
    pub peer: Option<String>,
    /// Any node's gRPC URL: offered only what readers may see here.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// With --url: the CA certificate (PEM) that signed that node's certificate [default: the
    /// local node's federation CA (tls.client_ca), else the system's roots].
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The node on this machine that reconciles.
    #[arg(
        long = "node",
        value_name = "LOCAL",
        env = "TOCSIN_NODE",
        default_value = "https://127.0.0.1:7700"
    )]
    pub node: String,
    /// The CA certificate of the node on this machine (for https://) [default: the CA of a
    /// node in ./tocsin-data].
    #[arg(long = "node-ca", value_name = "FILE", env = "TOCSIN_CA")]
    pub node_ca: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

impl SyncArgs {
    /// Whom to reconcile with, checked before the node is asked.
    fn with(&self) -> anyhow::Result<SyncWith> {
        if let Some(name) = &self.peer {
            if self.ca.is_some() {
                return Err(Failure::usage(
                    "--ca goes with --url; a configured peer's CA is its `ca` in the node's config",
                ));
            }
            if name.trim().is_empty() {
                return Err(Failure::usage(
                    "--peer needs a configured peer's name; `tocsin peer list` shows them",
                ));
            }
            return Ok(SyncWith::Peer(name.clone()));
        }
        let url = self.url.clone().unwrap_or_default();
        if !(crate::rpc::is_plaintext_url(&url) || crate::rpc::is_tls_url(&url)) {
            return Err(Failure::usage(format!(
                "--url {url:?} must be a node's gRPC URL like https://geneva.example.org:7700"
            )));
        }
        if crate::rpc::is_plaintext_url(&url) && !crate::config::is_loopback_url(&url) {
            return Err(Failure::usage(format!(
                "--url {url}: plaintext (http://) only to a loopback address; write https://"
            )));
        }
        let ca = match &self.ca {
            None => None,
            // The node reads it, maybe from another working directory.
            Some(path) => {
                let absolute = std::path::absolute(path)
                    .with_context(|| format!("resolving {}", path.display()))?;
                if !absolute.is_file() {
                    return Err(Failure::usage(format!(
                        "--ca {}: no such file; give the PEM certificate of the CA that signed \
                         that node's certificate",
                        path.display()
                    )));
                }
                Some(absolute)
            }
        };
        Ok(SyncWith::Url { url, ca })
    }
}

pub(crate) async fn sync(args: SyncArgs) -> anyhow::Result<()> {
    let with = args.with()?;
    let local = NodeUrl {
        url: args.node.clone(),
        ca: args.node_ca.clone(),
    };
    let mut client = local.connect().await.context(
        "tocsin sync asks the node on this machine to reconcile: name it with --node URL, \
             and its CA certificate with --node-ca FILE (--ca is the other node's)",
    )?;
    let synced = client
        .sync(&with)
        .await
        .map_err(|e| refused(e, &args.node))?;
    let status = &synced.status;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report_json(&synced))?;
    } else {
        writeln!(out, "{}", report_line(&synced, &with))?;
    }
    out.flush()?;
    if !status.error.is_empty() {
        return Err(Failure::failed(format!(
            "the reconciliation ended early: {} (the counts above are what was done)",
            status.error
        ))
        .into());
    }
    Ok(())
}

/// One line: what each side lacked and what crossed.
fn report_line(synced: &Synced, with: &SyncWith) -> String {
    let s = &synced.status;
    let who = match with {
        SyncWith::Peer(_) => "peer",
        SyncWith::Url { .. } => "node",
    };
    format!(
        "{who} {} ({}…): we lacked {} — {} fetched, {} refused, {} already here; they lacked {} — \
         {} offered, {} stored there; {}, {} sent, {} received, {} ms",
        synced.name,
        synced.node_key.short(),
        s.we_lacked,
        s.fetched,
        s.refused,
        s.already_here,
        s.they_lacked,
        s.offered,
        s.offered_stored,
        term::count(s.round_trips, "round trip", "round trips"),
        term::size(s.bytes_sent),
        term::size(s.bytes_received),
        s.millis
    )
}

fn report_json(synced: &Synced) -> serde_json::Value {
    let mut v = super::node::reconcile_json(&synced.status);
    v["peer"] = synced.name.clone().into();
    v["node_key"] = synced.node_key.to_hex().into();
    v
}

/// A sync the node refused or could not start, in words that say what to do.
fn refused(e: ClientError, url: &str) -> anyhow::Error {
    if e.is_not_local() {
        return Failure::failed(format!(
            "the node at {url} answers sync only on its own machine: run `tocsin sync` there ({e})"
        ))
        .into();
    }
    if e.is_unimplemented() {
        return Failure::failed(format!(
            "the node at {url} does not do `tocsin sync` (an older version); its followers \
             still reconcile every federation.reconcile_every"
        ))
        .into();
    }
    match e {
        // The node's own words: the peers it knows, the URL it could not reach, the CA file.
        ClientError::Status { message, .. } => {
            Failure::failed(format!("no reconciliation ran: {message}")).into()
        }
        other => anyhow::Error::new(other).context("asking the node to reconcile"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::ReconcileStatus;

    #[test]
    fn the_report_says_both_sides_in_one_line() {
        let synced = Synced {
            name: "geneva".into(),
            node_key: crate::message::SecretKey::from_seed(&[5; 32]).public(),
            status: ReconcileStatus {
                we_lacked: 12,
                fetched: 12,
                they_lacked: 3,
                offered: 3,
                offered_stored: 3,
                round_trips: 3,
                bytes_sent: 2150,
                bytes_received: 3500,
                millis: 41,
                ..ReconcileStatus::default()
            },
        };
        let line = report_line(&synced, &SyncWith::Peer("geneva".into()));
        let key = synced.node_key.short();
        assert_eq!(
            line,
            format!(
                "peer geneva ({key}…): we lacked 12 — 12 fetched, 0 refused, 0 already here; \
                 they lacked 3 — 3 offered, 3 stored there; 3 round trips, 2.1 KiB sent, \
                 3.4 KiB received, 41 ms"
            )
        );
        assert_eq!(report_json(&synced)["we_lacked"], 12);
    }
}
