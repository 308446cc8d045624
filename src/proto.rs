//! Generated gRPC types for `aegis.v1` (see proto/aegis/v1/aegis.proto).
#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("aegis.v1");
}

/// Encoded FileDescriptorSet of our protos, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/aegis_descriptor.bin"));
