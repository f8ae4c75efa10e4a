//! The integration suite: real nodes on loopback addresses in temporary directories.

mod federation;
mod grpc;
mod support;
