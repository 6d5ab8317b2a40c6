//! The `wnet` binary, run the way an operator runs it.
#![allow(
    clippy::unwrap_used,
    reason = "a test helper that fails fails its test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wnet_tests::{FIXTURE_WRONG_VERSION, Fixture, IPMAC_DRIVER};

fn wnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wnet"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fresh folder under the target's temporary directory.
fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn drop_driver(dir: &Path, name: &str, f: Fixture) -> PathBuf {
    let wasm = dir.join(format!("{name}.wasm"));
    std::fs::write(&wasm, f.wasm).unwrap();
    std::fs::write(dir.join(format!("{name}.toml")), f.manifest).unwrap();
    wasm
}

#[test]
fn version_names_the_contract() {
    let o = wnet(&["--version"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("wnet:driver@0.1.0"), "{}", stdout(&o));
}

#[test]
fn driver_ls_lists_builtins_and_a_drivers_folder() {
    let o = wnet(&["driver", "ls"]);
    assert!(o.status.success());
    let out = stdout(&o);
    for want in ["null     network", "default  ipam", "null     ipam"] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    let dir = folder("ls");
    drop_driver(&dir, "ipmac", IPMAC_DRIVER);
    let o = wnet(&["driver", "ls", "--drivers-dir", dir.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("ipmac"), "{}", stdout(&o));

    std::fs::write(dir.join("broken.wasm"), b"").unwrap();
    std::fs::write(
        dir.join("broken.toml"),
        "name = \"broken\"\nkind = \"router\"\n",
    )
    .unwrap();
    let o = wnet(&["driver", "ls", "--drivers-dir", dir.to_str().unwrap()]);
    assert!(!o.status.success(), "an invalid manifest fails the listing");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("broken.toml"),
        "{o:?}"
    );
}

#[test]
fn driver_check_accepts_a_good_driver_and_explains_a_bad_one() {
    let dir = folder("check");
    let good = drop_driver(&dir, "ipmac", IPMAC_DRIVER);
    let o = wnet(&["driver", "check", good.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("wnet:driver/network") && out.contains("OK: loads"),
        "{out}"
    );
    assert!(out.contains("capabilities: log, kv"), "{out}");

    let bad = drop_driver(&dir, "future", FIXTURE_WRONG_VERSION);
    let o = wnet(&["driver", "check", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains("wnet:driver@0.2.0"), "{}", stdout(&o));

    let o = wnet(&[
        "driver",
        "check",
        good.to_str().unwrap(),
        "--manifest",
        "/nonexistent.toml",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent.toml"),
        "{o:?}"
    );

    let text = dir.join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    let o = wnet(&["driver", "check", text.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stdout(&o).contains("not WebAssembly"), "{}", stdout(&o));
}

#[test]
fn completions_and_the_manual_come_from_the_command_definition() {
    for shell in ["bash", "zsh", "fish"] {
        let o = wnet(&["completion", shell]);
        assert!(o.status.success(), "{shell}");
        let script = stdout(&o);
        for word in ["network", "connect", "sandbox", "subnet"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let o = wnet(&["completion", "tcsh"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
    let o = wnet(&["man"]);
    assert!(o.status.success());
    let page = stdout(&o);
    assert!(
        page.starts_with(".ie") || page.contains(".TH wnet"),
        "{}",
        &page[..200.min(page.len())]
    );
    assert!(page.contains("network"), "the manual lists the subcommands");
}
