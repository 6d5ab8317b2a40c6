//! How the `wnet` binary is linked, for the cost of one invocation (README, "One wnet
//! invocation per container").
//!
//! Position-dependent on Linux: a position-independent one spends ≈1.5 ms of
//! every invocation on the dynamic loader's 35,000 relocations, which copy-on-write
//! half a megabyte of pointer tables page by page. Build with `WNET_PIE=1` to keep a
//! position-independent executable (the address of wnet's own code randomised, as
//! some distributions require), at that cost per invocation.
fn main() {
    println!("cargo:rerun-if-env-changed=WNET_PIE");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if linux && std::env::var_os("WNET_PIE").is_none_or(|v| v.is_empty() || v == "0") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    // The functions one-shot commands run, for the linker to lay out together
    // (scripts/linker, which .cargo/config.toml makes the linker; a build elsewhere links
    // as usual). Release builds only: a debug build's symbols are not the ones listed.
    println!("cargo:rerun-if-changed=hot-symbols.txt");
    if std::env::var("PROFILE").is_ok_and(|p| p == "release") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo:rustc-env=WNET_HOT_SYMBOLS={dir}/hot-symbols.txt");
    }
}
