//! Compiles `ctx/v1/ctx.proto` with protox (pure Rust; no system `protoc` needed) and writes the
//! file descriptor set that the daemon's reflection service serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=ctx/v1/ctx.proto");
    let fds = protox::compile(["ctx/v1/ctx.proto"], ["."])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("ctx_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&fds))?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
