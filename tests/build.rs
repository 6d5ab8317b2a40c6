//! Builds the misbehaving fixtures and the third-party example driver to components.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut out = String::new();
    for workspace in [
        root.join("fixtures"),
        root.join("../examples/third-party-driver"),
    ] {
        for a in wnet_guest_build::build(&workspace) {
            let ident = a.package.to_uppercase().replace('-', "_");
            writeln!(
                out,
                "/// The `{}` component and its manifest.\npub const {ident}: Fixture = Fixture {{ wasm: include_bytes!({:?}), manifest: include_str!({:?}) }};",
                a.package,
                a.wasm.display().to_string(),
                a.dir.join("manifest.toml").display().to_string()
            )
            .expect("write to a String");
        }
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("fixtures.rs");
    std::fs::write(dest, out).expect("write fixtures.rs");
}
