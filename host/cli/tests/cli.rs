//! The `wnet` binary, run the way an operator runs it.
#![allow(
    clippy::unwrap_used,
    reason = "a test helper that fails fails its test"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use wnet_tests::{FIXTURE_HOSTILE, FIXTURE_WRONG_VERSION, Fixture, IPMAC_DRIVER};

/// `wnet` with its data, run and drivers directories under `dir`, and no config file
/// of the machine's.
fn wnet_in(dir: &Path, args: &[&str]) -> Output {
    command_in(dir, args).output().unwrap()
}

/// The command [`wnet_in`] runs.
fn command_in(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wnet"));
    c.env("WNET_DATA_DIR", dir.join("data"))
        .env("WNET_CACHE_DIR", wnet_tests::cache_dir())
        .env("WNET_RUN_DIR", dir.join("run"))
        .env("WNET_DRIVERS_DIR", dir.join("drivers"))
        .env("WNET_CONFIG", dir.join("wnet.toml"))
        .args(args);
    c
}

/// `wnet` for commands that keep no state.
fn wnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wnet"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok_in(dir: &Path, args: &[&str]) -> String {
    let o = wnet_in(dir, args);
    assert!(o.status.success(), "wnet {args:?} failed: {}", stderr(&o));
    stdout(&o)
}

/// Runs a command that must fail with exit code 1 and a message containing `msg`.
fn refused_in(dir: &Path, args: &[&str], msg: &str) {
    let o = wnet_in(dir, args);
    assert_eq!(o.status.code(), Some(1), "wnet {args:?}: {}", stderr(&o));
    assert!(
        stderr(&o).contains(msg),
        "wnet {args:?}: `{msg}` not in: {}",
        stderr(&o)
    );
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

/// An empty config file and a drivers folder holding the `hostile` fixture, in `dir`.
fn with_hostile_driver(dir: &Path) {
    std::fs::write(dir.join("wnet.toml"), "").unwrap();
    std::fs::create_dir_all(dir.join("drivers")).unwrap();
    drop_driver(&dir.join("drivers"), "hostile", FIXTURE_HOSTILE);
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
    let dir = folder("ls");
    // No config file: WNET_CONFIG names one that must exist.
    std::fs::write(dir.join("wnet.toml"), "").unwrap();
    let out = ok_in(&dir, &["driver", "ls"]);
    for want in ["null      network", "default   ipam", "null      ipam"] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    std::fs::create_dir_all(dir.join("drivers")).unwrap();
    drop_driver(&dir.join("drivers"), "ipmac", IPMAC_DRIVER);
    let out = ok_in(&dir, &["driver", "ls"]);
    assert!(out.contains("drivers/ipmac.wasm"), "{out}");

    std::fs::write(dir.join("drivers/broken.wasm"), b"").unwrap();
    std::fs::write(
        dir.join("drivers/broken.toml"),
        "name = \"broken\"\nkind = \"router\"\n",
    )
    .unwrap();
    let o = wnet_in(&dir, &["driver", "ls"]);
    assert!(
        !o.status.success(),
        "a driver that cannot load fails the listing"
    );
    assert!(stdout(&o).contains("ipmac"), "the others are still listed");
    assert!(
        stderr(&o).contains("broken.toml") && stderr(&o).contains("router"),
        "{o:?}"
    );
}

/// Drivers are compiled once per machine, not once per data directory: the cache is
/// its own folder (0700: it holds native code), and a second data directory uses what
/// the first one's command compiled.
#[test]
fn compiled_drivers_are_shared_by_data_directories() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = folder("cache");
    let cache = dir.join("cache");
    let cached = || -> BTreeMap<String, u64> {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().ino(),
                )
            })
            .collect()
    };
    let ls_in = |data: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_wnet"))
            .env("WNET_DATA_DIR", dir.join(data))
            .env("WNET_RUN_DIR", dir.join("run"))
            .env("WNET_DRIVERS_DIR", dir.join("drivers"))
            .env("WNET_CONFIG", dir.join("wnet.toml"))
            .args(["--cache-dir", cache.to_str().unwrap(), "driver", "ls"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    };
    std::fs::write(dir.join("wnet.toml"), "").unwrap();
    ls_in("a");
    let first = cached();
    assert!(
        first.len() >= 6 && first.keys().all(|f| f.ends_with(".cwasm")),
        "every built-in compiled into the cache: {first:?}"
    );
    let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the cache is wnet's alone");
    assert!(
        !dir.join("a/cache").exists(),
        "nothing compiled into the data directory"
    );
    ls_in("b");
    assert_eq!(
        cached(),
        first,
        "the second data directory compiled nothing again"
    );
}

/// Install, use, refuse to remove while used, remove: with no daemon, each command a
/// process of its own over the same folders.
#[test]
fn drivers_are_installed_used_and_removed() {
    let dir = folder("install");
    std::fs::write(dir.join("wnet.toml"), "").unwrap();
    let src = folder("install-src");
    let wasm = drop_driver(&src, "ipmac", IPMAC_DRIVER);
    let wasm = wasm.to_str().unwrap();
    assert_eq!(ok_in(&dir, &["driver", "install", wasm]).trim(), "ipmac");
    assert!(dir.join("drivers/ipmac.wasm").exists() && dir.join("drivers/ipmac.toml").exists());
    refused_in(&dir, &["driver", "install", wasm], "installed already");
    refused_in(
        &dir,
        &["driver", "install", wasm, "--name", "bridge"],
        "installed already",
    );
    assert_eq!(
        ok_in(&dir, &["driver", "install", wasm, "--name", "ipmac2"]).trim(),
        "ipmac2"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&ok_in(&dir, &["driver", "inspect", "ipmac2"])).unwrap();
    assert_eq!(inspect[0]["Name"], "ipmac2");
    assert_eq!(inspect[0]["Kind"], "network");
    // Its manifest sets no limits: the defaults apply, answer sizes among them.
    assert_eq!(inspect[0]["Limits"]["MemoryMiB"], 64);
    assert_eq!(inspect[0]["Limits"]["AnswerItems"], 1024);
    assert_eq!(inspect[0]["Limits"]["AnswerBytes"], 65536);
    assert_eq!(inspect[0]["Limits"]["CallTimeoutMs"], 1000);
    assert_eq!(inspect[0]["Limits"]["OperationTimeoutMs"], 10000);
    assert_eq!(inspect[0]["State"], "ok");
    assert_eq!(inspect[0]["Stats"]["Faults"], 0);
    assert_eq!(
        ok_in(&dir, &["driver", "enable", "ipmac2"]).trim(),
        "ipmac2: enabled (was not quarantined)"
    );
    refused_in(
        &dir,
        &["driver", "enable", "nosuch"],
        "no driver named `nosuch`",
    );
    assert!(
        inspect[0]["Source"]
            .as_str()
            .unwrap()
            .ends_with("drivers/ipmac2.wasm")
    );

    ok_in(&dir, &["network", "create", "-d", "ipmac2", "n1"]);
    refused_in(&dir, &["driver", "rm", "ipmac2"], "used by networks n1");
    refused_in(&dir, &["driver", "rm", "bridge"], "built-in");
    refused_in(
        &dir,
        &["driver", "rm", "nosuch"],
        "no driver named `nosuch`",
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&ok_in(&dir, &["driver", "inspect", "ipmac2"])).unwrap();
    assert_eq!(inspect[0]["Networks"][0], "n1");
    ok_in(&dir, &["network", "rm", "n1"]);
    ok_in(&dir, &["driver", "rm", "ipmac2", "ipmac"]);
    assert!(!dir.join("drivers/ipmac2.wasm").exists() && !dir.join("drivers/ipmac2.toml").exists());
    assert!(!ok_in(&dir, &["driver", "ls", "-q"]).contains("ipmac"));

    // What is not a driver never reaches the folder.
    let text = src.join("notes.wasm");
    std::fs::write(&text, "hello").unwrap();
    std::fs::write(
        src.join("notes.toml"),
        "name = \"notes\"\nkind = \"network\"\n",
    )
    .unwrap();
    refused_in(
        &dir,
        &["driver", "install", text.to_str().unwrap()],
        "not WebAssembly",
    );
    std::fs::write(
        src.join("typo.toml"),
        format!(
            "{}\ncapabilites = []\n",
            IPMAC_DRIVER.manifest.replace("ipmac", "typo")
        ),
    )
    .unwrap();
    refused_in(
        &dir,
        &[
            "driver",
            "install",
            wasm,
            "--manifest",
            src.join("typo.toml").to_str().unwrap(),
        ],
        "capabilites",
    );
    refused_in(
        &dir,
        &[
            "driver",
            "install",
            src.join("ipmac.toml").to_str().unwrap(),
        ],
        "",
    );
    let left: Vec<_> = std::fs::read_dir(dir.join("drivers")).unwrap().collect();
    assert!(left.is_empty(), "nothing left in the folder: {left:?}");
}

/// The config file: a typo is named, and default address pools give networks their
/// subnets.
#[test]
fn a_store_from_a_newer_wnet_is_refused_and_left_unchanged() {
    let dir = folder("newer-store");
    std::fs::write(dir.join("wnet.toml"), "").unwrap();
    // A one-shot wnet makes the store and leaves it as every wnet does, not closed.
    ok_in(&dir, &["network", "ls"]);
    let store = dir.join("data/wnet.db");
    let marker = dir.join("data/wnet.db.layout");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "2");
    // What a wnet of layout 3 writes before it changes the file.
    std::fs::write(&marker, "3\n").unwrap();
    let before = std::fs::read(&store).unwrap();
    for args in [
        &["network", "ls"][..],
        &["network", "create", "-d", "null", "n1"],
    ] {
        refused_in(
            &dir,
            args,
            &format!(
                "store {} has layout version 3, newer than this wnet understands (2): run a newer wnet",
                store.display()
            ),
        );
    }
    assert_eq!(std::fs::read(&store).unwrap(), before, "not rewritten");
}

#[test]
fn the_config_file_is_read_and_checked() {
    let dir = folder("config");
    std::fs::write(dir.join("wnet.toml"), "data-dri = \"/x\"\n").unwrap();
    refused_in(&dir, &["network", "ls"], "data-dri");
    refused_in(&dir, &["network", "ls"], "wnet.toml");
    std::fs::write(
        dir.join("wnet.toml"),
        "[[default-address-pools]]\nbase = \"10.123.0.0/16\"\nsize = 24\n",
    )
    .unwrap();
    let subnet = |name: &str| {
        let v: serde_json::Value =
            serde_json::from_str(&ok_in(&dir, &["network", "inspect", name])).unwrap();
        v[0]["IPAM"]["Config"][0]["Subnet"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    ok_in(&dir, &["network", "create", "-d", "null", "a"]);
    ok_in(
        &dir,
        &[
            "network",
            "create",
            "-d",
            "null",
            "--subnet",
            "10.123.1.0/24",
            "b",
        ],
    );
    ok_in(&dir, &["network", "create", "-d", "null", "c"]);
    assert_eq!(subnet("a"), "10.123.0.0/24");
    assert_eq!(subnet("b"), "10.123.1.0/24");
    assert_eq!(subnet("c"), "10.123.2.0/24", "the next free one");
    let o = wnet_in(
        &dir,
        &["--config", "/nonexistent/wnet.toml", "network", "ls"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/wnet.toml"),
        "{}",
        stderr(&o)
    );
}

/// A daemon takes installs and removals in place, and rescans its folder on SIGHUP.
#[test]
fn the_daemon_reloads_its_drivers_folder_on_sighup() {
    let dir = folder("sighup");
    std::fs::write(dir.join("wnet.toml"), "").unwrap();
    let src = folder("sighup-src");
    let wasm = drop_driver(&src, "ipmac", IPMAC_DRIVER);
    let daemon = start_daemon(&dir);
    assert_eq!(
        ok_in(&dir, &["driver", "install", wasm.to_str().unwrap()]).trim(),
        "ipmac"
    );
    ok_in(&dir, &["network", "create", "-d", "ipmac", "n1"]);

    // Dropped into the folder by hand: loaded at the next SIGHUP.
    drop_driver(
        &dir.join("drivers"),
        "other",
        Fixture {
            manifest: Box::leak(
                IPMAC_DRIVER
                    .manifest
                    .replace("\"ipmac\"", "\"other\"")
                    .into_boxed_str(),
            ),
            ..IPMAC_DRIVER
        },
    );
    let hup = || {
        assert!(
            Command::new("kill")
                .args(["-HUP", &daemon.0.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    hup();
    until("`other` to be loaded", &|| {
        ok_in(&dir, &["driver", "ls", "-q"]).contains("other")
    });
    // Files gone: unloaded, unless a network uses the driver.
    for f in ["ipmac.wasm", "ipmac.toml", "other.wasm", "other.toml"] {
        std::fs::remove_file(dir.join("drivers").join(f)).unwrap();
    }
    hup();
    until("`other` to be unloaded", &|| {
        !ok_in(&dir, &["driver", "ls", "-q"]).contains("other")
    });
    assert!(
        ok_in(&dir, &["driver", "ls", "-q"]).contains("ipmac"),
        "a driver in use stays loaded"
    );
    ok_in(&dir, &["network", "rm", "n1"]);
    daemon.stop();
}

/// Waits until `f` holds, up to 20 s.
fn until(what: &str, f: &dyn Fn() -> bool) {
    for _ in 0..1000 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// A daemon with its directories under `dir`, answering on its socket; killed if the
/// test fails before stopping it.
fn start_daemon(dir: &Path) -> Daemon {
    let daemon = Daemon(
        command_in(dir, &["daemon"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let socket = dir.join("run/wnet.sock");
    until("the daemon's socket", &|| {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    daemon
}

/// A running daemon; killed if the test fails before stopping it.
struct Daemon(std::process::Child);

impl Daemon {
    /// Stops it with SIGTERM, as an operator does; it must exit cleanly.
    fn stop(mut self) {
        assert!(
            Command::new("kill")
                .args(["-TERM", &self.0.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        assert!(self.0.wait().unwrap().success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Already reaped after stop(): kill then fails, harmlessly.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A driver call that never returns is stopped at the driver's deadline in a one-shot
/// `wnet` too (its epoch clock runs on the thread that made the engine), and what the
/// call began is rolled back.
#[test]
fn a_driver_call_that_never_returns_is_stopped_at_its_deadline_without_a_daemon() {
    let dir = folder("deadline");
    with_hostile_driver(&dir);
    let args = [
        "network",
        "create",
        "-d",
        "hostile",
        "-o",
        "hostile.create-network=loop",
        "spin",
    ];
    // Without a clock the call would spin forever: give it 30 s, then fail.
    let mut child = command_in(&dir, &args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("`wnet {}` still running after 30 s", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exceeded its deadline of 200ms"),
        "{}",
        stderr(&o)
    );
    assert_eq!(ok_in(&dir, &["network", "ls", "-q"]).trim(), "");
}

/// A driver that fails call after call is quarantined in the daemon: `network
/// inspect` says its networks' driver is unavailable and why, operations on them fail
/// at once naming the way out, `driver inspect` shows the state; `driver enable`
/// clears it.
#[test]
fn a_quarantined_driver_is_shown_and_enabled_through_the_cli() {
    let dir = folder("quarantine");
    with_hostile_driver(&dir);
    let daemon = start_daemon(&dir);
    ok_in(&dir, &["network", "create", "-d", "hostile", "kept"]);
    let inspect = |what: &str, name: &str| -> serde_json::Value {
        serde_json::from_str(&ok_in(&dir, &[what, "inspect", name])).unwrap()
    };
    assert_eq!(inspect("network", "kept")[0]["DriverStatus"], "available");
    // Panics in a row; a call straight after one may find the driver pausing.
    let mut traps = 0;
    while traps < 5 {
        let o = wnet_in(
            &dir,
            &[
                "network",
                "create",
                "-d",
                "hostile",
                "-o",
                "hostile.create-network=panic",
                "bad",
            ],
        );
        assert_eq!(o.status.code(), Some(1));
        let e = stderr(&o);
        // A refusal during the pause names the last trap too: look for the pause first.
        if e.contains("after a pause") {
            std::thread::sleep(std::time::Duration::from_millis(50));
        } else {
            assert!(e.contains("panics in create-network on purpose"), "{e}");
            traps += 1;
        }
    }
    let status = inspect("network", "kept")[0]["DriverStatus"].clone();
    let status = status.as_str().unwrap();
    assert!(
        status.contains("driver `hostile` unavailable")
            && status.contains("quarantined")
            && status.contains("wnet driver enable hostile"),
        "{status}"
    );
    let d = inspect("driver", "hostile");
    assert_eq!(d[0]["State"]["Quarantined"]["Faults"], 5);
    assert!(
        d[0]["Stats"]["LastError"]
            .as_str()
            .unwrap()
            .contains("panics in create-network"),
        "{d}"
    );
    refused_in(
        &dir,
        &["network", "rm", "kept"],
        "wnet driver enable hostile",
    );
    assert_eq!(
        ok_in(&dir, &["driver", "enable", "hostile"]).trim(),
        "hostile: enabled (was quarantined)"
    );
    assert_eq!(inspect("network", "kept")[0]["DriverStatus"], "available");
    ok_in(&dir, &["network", "rm", "kept"]);
    daemon.stop();
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
