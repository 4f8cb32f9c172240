//! Rust code for `proto/jwtcache_example.proto`, generated at build time with protox (a
//! protobuf compiler written in Rust, so no system `protoc`) and tonic-prost-build.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("CARGO_FEATURE_GRPC").is_none() {
        return Ok(());
    }
    compile()
}

#[cfg(feature = "grpc")]
fn compile() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/jwtcache_example.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}

#[cfg(not(feature = "grpc"))]
fn compile() -> Result<(), Box<dyn std::error::Error>> {
    Ok(())
}
