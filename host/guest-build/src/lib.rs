//! For build scripts: compiles a cargo workspace of guest crates (drivers, fixtures,
//! examples) to `wasm32-wasip2` components, in a target directory of their own, and
//! tells cargo to rerun when any of their sources change (from cargo's dep-info files).
//! The pattern of wasmtime's `test-programs` artifacts.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest target; it emits components directly.
pub const TARGET: &str = "wasm32-wasip2";

/// One built component.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The cargo package's name.
    pub package: String,
    /// The package's directory.
    pub dir: PathBuf,
    /// The `.wasm` component.
    pub wasm: PathBuf,
}

/// Builds every package of the workspace at `workspace` (a directory with a
/// `Cargo.toml`) in release mode and returns one artifact per `cdylib` package.
///
/// # Panics
/// When the build fails or the target is not installed: a build script has no better
/// way to stop the build, and the message says what to do.
pub fn build(workspace: &Path) -> Vec<Artifact> {
    check_target();
    let workspace = workspace
        .canonicalize()
        .unwrap_or_else(|e| panic!("guest workspace {}: {e}", workspace.display()));
    let target_dir = target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags, wrappers and target are for the host, not the guests.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key == "RUSTFLAGS"
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "CARGO_TARGET_DIR"
            || key == "CARGO_BUILD_TARGET"
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_BUILD_RUSTFLAGS")
        {
            cmd.env_remove(key);
        }
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!(
            "cannot run cargo for the guest workspace {}: {e}",
            workspace.display()
        )
    });
    assert!(
        status.success(),
        "building the guest workspace {} for {TARGET} failed (see the errors above)",
        workspace.display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.toml").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("Cargo.lock").display()
    );
    let out = target_dir.join(TARGET).join("release");
    let mut artifacts = Vec::new();
    for (package, dir) in members(&workspace) {
        let lib = package.replace('-', "_");
        let wasm = out.join(format!("{lib}.wasm"));
        if !wasm.exists() {
            continue;
        }
        rerun_from_dep_info(&out.join(format!("{lib}.d")));
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("Cargo.toml").display()
        );
        println!(
            "cargo:rerun-if-changed={}",
            dir.join("manifest.toml").display()
        );
        artifacts.push(Artifact { package, dir, wasm });
    }
    artifacts
}

/// Stops the build with the fix when the target is missing: automatic toolchain
/// installs may be off, so it cannot be fetched behind the user's back.
fn check_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if let Some(sysroot) = sysroot
        && !Path::new(&sysroot)
            .join("lib/rustlib")
            .join(TARGET)
            .exists()
    {
        panic!(
            "\n\nwnet's drivers are WebAssembly components built for the {TARGET} target, which is not installed.\n\
             Install it with:\n\n    rustup target add {TARGET}\n\nthen build again.\n\n"
        );
    }
}

/// `<target>/wasm-guests`: beside the host's own profiles, shared by every guest
/// workspace so their common dependencies build once.
fn target_dir() -> PathBuf {
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".to_owned()));
    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out.
    let target = out.ancestors().nth(4).map(Path::to_path_buf).unwrap_or(out);
    target.join("wasm-guests")
}

/// The workspace's member packages and their directories (a single package when the
/// manifest has no `[workspace]`).
fn members(workspace: &Path) -> Vec<(String, PathBuf)> {
    let read = |dir: &Path| -> Option<toml::Table> {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .ok()?
            .parse()
            .ok()
    };
    let Some(root) = read(workspace) else {
        return Vec::new();
    };
    let dirs: Vec<PathBuf> = match root
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
    {
        Some(members) => members
            .iter()
            .filter_map(|m| m.as_str())
            .map(|m| workspace.join(m))
            .collect(),
        None => vec![workspace.to_path_buf()],
    };
    dirs.into_iter()
        .filter_map(|dir| {
            let name = read(&dir)?
                .get("package")?
                .get("name")?
                .as_str()?
                .to_owned();
            Some((name, dir))
        })
        .collect()
}

/// Tells cargo to rerun when any input of a guest changes, from its dep-info file
/// (`target: dep dep …`, spaces in paths escaped as `\ `).
fn rerun_from_dep_info(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    for line in text.lines() {
        let Some((_, deps)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = deps.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        println!("cargo:rerun-if-changed={current}");
                        current.clear();
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            println!("cargo:rerun-if-changed={current}");
        }
    }
}
