//! Compiles proto/tocsin/v1 with the vendored protoc, so a fresh machine needs no system protoc.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("tocsin_descriptor.bin"))
        // Bodies are carried verbatim and shared between tasks without copying.
        .bytes(".tocsin.v1.SignedMessage")
        .compile_protos(
            &[
                "proto/tocsin/v1/message.proto",
                "proto/tocsin/v1/relay.proto",
            ],
            &["proto"],
        )?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
