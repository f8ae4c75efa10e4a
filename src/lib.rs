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
pub mod ilo;
pub mod keyfile;
pub mod message;
pub mod node;
pub mod peering;
pub mod proto;
pub mod rpc;
pub mod server;
pub mod store;
pub mod tls;

/// The allocator of every program built with this crate (the node, its tests and benchmarks).
/// sled, HTTP/2 and protobuf allocate and free many small buffers per message; under unary
/// publishing mimalloc took about a fifth off the store's CPU per message and a tenth off the
/// node's (interleaved runs in BENCHMARKS.md). Built without transparent huge pages
/// (`no_thp`): with them an idle subscriber cost 35 KiB of resident memory instead of 23.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
