//! The protobuf types generated from proto/tocsin/v1, fenced here with their lints relaxed.
//!
//! Only `message` (for the body's wire form) and `rpc` (for the service) name these types;
//! everything else works with the hand-written domain types.
#![allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]

tonic::include_proto!("tocsin.v1");

/// The encoded file descriptor set, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("tocsin_descriptor");
