//! Compiles `proto/` with protox (pure Rust: no system `protoc` needed) and tonic/prost.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["../proto/wasmdask/cluster.proto"];
    println!("cargo:rerun-if-changed=../proto");
    let descriptors = protox::compile(protos, ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
