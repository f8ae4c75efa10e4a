//! Tocsin: a federated relay for signed solidarity alerts and coordinated-action calls.
//!
//! The crate is cut by concept; see ARCHITECTURE.md for the life of a message and the code map.
#![warn(
    missing_debug_implementations,
    missing_docs,
    rust_2018_idioms,
    unreachable_pub
)]

pub mod cli;
pub mod config;
pub mod federation;
pub mod http;
pub mod keyfile;
pub mod message;
pub mod node;
pub mod proto;
pub mod rpc;
pub mod server;
pub mod store;
pub mod tls;
