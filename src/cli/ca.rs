//! `tocsin ca init|issue`: a federation's own certificate authority, for nodes without public
//! domain names. The federation keeps ca.key offline; each member node gets a certificate
//! and trusts ca.crt for its peers (`[[peer]] ca`) and for peers' client certificates
//! (`tls.client_ca`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::tls;

/// `tocsin ca …`
#[derive(Debug, clap::Subcommand)]
pub enum CaCommand {
    /// Create a federation CA: DIR/ca.crt (share it) and DIR/ca.key (0600; keep it offline).
    #[command(
        after_help = "Example:\n  tocsin ca init --dir ./gftw-ca --name \"Global Federation of Transport Workers CA\""
    )]
    Init {
        /// The directory to create the CA in.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The CA's name.
        #[arg(long)]
        name: String,
    },
    /// Issue a node certificate: OUT/NAME.crt (chain) and OUT/NAME.key (0600).
    #[command(
        after_help = "Example:\n  tocsin ca issue --dir ./gftw-ca --name geneva --host geneva.gftw.example --out ./geneva-tls\n\n\
        Then in the node's config:\n  [tls]\n  mode = \"files\"\n  cert = \"geneva-tls/geneva.crt\"\n  key = \"geneva-tls/geneva.key\"\n  client_ca = [\"gftw-ca/ca.crt\"]"
    )]
    Issue {
        /// The CA directory (from `tocsin ca init`).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The node's name (the certificate's common name and file names).
        #[arg(long)]
        name: String,
        /// A DNS name or IP address the node is reached at (repeat for several).
        #[arg(long = "host", value_name = "NAME")]
        hosts: Vec<String>,
        /// Where to write the certificate and key.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

pub(crate) fn run(cmd: CaCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        CaCommand::Init { dir, name } => {
            let cert = tls::create_ca(&dir, &name).context("creating the CA")?;
            let pem = std::fs::read(&cert)?;
            writeln!(out, "CA certificate: {}", cert.display())?;
            writeln!(
                out,
                "fingerprint (SHA-256): {}",
                tls::fingerprint(&pem).unwrap_or_default()
            )?;
            writeln!(
                out,
                "CA key: {} (keep it offline; it can issue certificates)",
                dir.join("ca.key").display()
            )?;
        }
        CaCommand::Issue {
            dir,
            name,
            hosts,
            out: out_dir,
        } => {
            if hosts.is_empty() {
                return Err(super::Failure::usage(
                    "name at least one --host the node is reached at (a DNS name or IP address)",
                ));
            }
            let (crt, key) = tls::issue_from_ca(&dir, &name, &hosts, &out_dir)
                .context("issuing the certificate")?;
            let pem = std::fs::read(&crt)?;
            writeln!(out, "certificate: {}", crt.display())?;
            writeln!(out, "key: {} (0600)", key.display())?;
            writeln!(
                out,
                "fingerprint (SHA-256): {}",
                tls::fingerprint(&pem).unwrap_or_default()
            )?;
        }
    }
    Ok(())
}
