//! The gRPC contract of ctx (`ctx.v1`), generated at build time from `ctx/v1/ctx.proto`.
//!
//! This crate owns the wire types only; it knows nothing of the store or connectors.
//! [`FILE_DESCRIPTOR_SET`] feeds the reflection service so generic tools (grpcurl) work.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("ctx.v1");
}

/// Encoded `FileDescriptorSet` of the ctx API, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/ctx_descriptor.bin"));

/// Default token budget of `GrabEverythingRelated` when a request leaves it at 0.
pub const DEFAULT_TOKEN_BUDGET: u32 = 8192;

/// Largest token budget the daemon accepts.
pub const MAX_TOKEN_BUDGET: u32 = 4_000_000;
