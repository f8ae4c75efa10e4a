//! The integration suite, in one binary: real nodes on loopback addresses in temporary
//! directories, one module per area, using only the crate's public API.

mod backup;
mod calendar;
mod campaigns;
mod cli;
mod conn_attacks;
mod crash;
mod disk;
mod embargo;
mod federation;
mod flood;
mod forward;
mod golden_store;
mod grpc;
mod http;
mod http_attacks;
mod ilo;
mod integrity;
mod keys_cli;
mod keys_readers;
mod log_identity;
mod mesh;
mod peers;
mod reconcile;
mod reconcile_batches;
mod reports_cli;
mod reports_surfaces;
mod restore;
mod retry;
mod security;
mod seizure;
mod sneakernet;
mod sub_attacks;
mod support;
mod tls;
mod vectors;
