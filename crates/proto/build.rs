//! Compiles proto/box.proto with the vendored protoc, so a fresh machine
//! needs no system protoc.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../../proto/box.proto");
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(config, &["../../proto/box.proto"], &["../../proto"])?;
    Ok(())
}
