//! Compiles proto/ with protox (pure Rust, no system protoc) and generates the tonic server and client.
use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(["aegis/v1/aegis.proto"], ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Served by tonic-reflection.
    fs::write(out.join("aegis_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().build_server(true).build_client(true).compile_fds(fds)?;
    Ok(())
}
