//! Compiles `proto/` with protox (pure Rust: no system `protoc` needed) and tonic/prost: the
//! cluster protocol (`wasmdask/`) and the flyteidl subset (`flyteidl/`). The flyteidl descriptor
//! set is also written to `OUT_DIR/flyteidl.bin` so the host can print messages as proto3 JSON
//! (prost-reflect), exactly as flytekit's `MessageToJson` would.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../proto");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);

    let cluster = protox::compile(["../proto/wasmdask/cluster.proto"], ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(cluster)?;

    let flyteidl = protox::compile(
        [
            "../proto/flyteidl/admin/task.proto",
            "../proto/flyteidl/core/errors.proto",
            "../proto/flyteidl/core/literals.proto",
            "../proto/flyteidl/plugins/dask.proto",
        ],
        ["../proto"],
    )?;
    std::fs::write(out.join("flyteidl.bin"), flyteidl.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(flyteidl)?;
    Ok(())
}
