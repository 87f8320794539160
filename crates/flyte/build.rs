//! Compiles the flyteidl subset in `proto/flyteidl/` with protox (pure Rust: no system `protoc`
//! needed) and prost. The descriptor set is also written to `OUT_DIR/flyteidl.bin` so messages
//! can be printed as proto3 JSON (prost-reflect), exactly as flytekit's `MessageToJson` would.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto/flyteidl");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    let flyteidl = protox::compile(
        [
            "../../proto/flyteidl/admin/task.proto",
            "../../proto/flyteidl/core/errors.proto",
            "../../proto/flyteidl/core/literals.proto",
            "../../proto/flyteidl/plugins/dask.proto",
        ],
        ["../../proto"],
    )?;
    std::fs::write(out.join("flyteidl.bin"), flyteidl.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(flyteidl)?;
    Ok(())
}
