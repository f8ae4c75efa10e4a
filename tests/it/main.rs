//! Integration tests, in one binary: one module per area, using only the crate's public API.

mod vectors;
