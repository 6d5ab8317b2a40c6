//! Links the `wnet` binary as a position-dependent executable on Linux (see README,
//! "One wnet invocation per container"): a position-independent one spends ≈1.5 ms of
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
}
