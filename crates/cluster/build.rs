//! Compiles the scheduler/worker protocol (`proto/wasmdask/cluster.proto`) with protox (pure Rust:
//! no system `protoc` needed) and tonic/prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto/wasmdask");
    let cluster = protox::compile(["../../proto/wasmdask/cluster.proto"], ["../../proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Values are shared, not copied, between the pool, the chunker and the wire.
        .bytes(".wasmdask.cluster.v1.Call.args")
        .bytes(".wasmdask.cluster.v1.Result.value")
        .bytes(".wasmdask.cluster.v1.ValueChunk.data")
        .compile_fds(cluster)?;
    Ok(())
}
