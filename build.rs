//! Compiles proto/ with protox (pure Rust, no system protoc) and generates the tonic server and client.
use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=third_party/googleapis");
    let fds = protox::compile(["aegis/v1/aegis.proto"], ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Served by tonic-reflection: our API plus google.rpc.Status / ErrorInfo (and their imports, which protox
    // includes), so reflection clients such as grpcurl print an error's details decoded instead of as base64.
    let served = protox::compile(
        ["aegis/v1/aegis.proto", "google/rpc/status.proto", "google/rpc/error_details.proto"],
        ["proto", "third_party/googleapis"],
    )?;
    fs::write(out.join("aegis_descriptor.bin"), served.encode_to_vec())?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;
    Ok(())
}
