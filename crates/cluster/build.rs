//! Compiles the scheduler/worker protocol (`proto/wasmdask/cluster.proto`) with protox (pure Rust:
//! no system `protoc` needed) and tonic/prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto/wasmdask");
    let cluster = protox::compile(["../../proto/wasmdask/cluster.proto"], ["../../proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(cluster)?;
    Ok(())
}
