//! `wnet network …` and `wnet sandbox …` as an operator runs them, with no daemon: each
//! invocation a new process over the same data directory, against the real kernel.
//! The test process first moves into network and mount namespaces of its own (needs
//! root), which the `wnet` processes inherit, so the machine is never touched.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "a test binary"
)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use wnet_netlink::Namespace;

const DATA: &str = "/run/wnet-cli-test/data";
const RUN: &str = "/run/wnet-cli-test/run";
const DRIVERS: &str = "/run/wnet-cli-test/drivers";
/// An empty config file, so that the machine's is never read.
const CONFIG: &str = "/run/wnet-cli-test/wnet.toml";

/// The options that keep every `wnet` of the test inside the test's folders.
const ISOLATED: [&str; 8] = [
    "--data-dir",
    DATA,
    "--run-dir",
    RUN,
    "--drivers-dir",
    DRIVERS,
    "--config",
    CONFIG,
];

fn wnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wnet"))
        .args(ISOLATED)
        .env("WNET_CACHE_DIR", wnet_tests::cache_dir())
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed; returns its stdout.
fn ok(args: &[&str]) -> String {
    let o = wnet(args);
    assert!(o.status.success(), "wnet {args:?} failed: {}", err(&o));
    out(&o)
}

/// What wnet knows and what the kernel has: compared around each refused command.
fn state() -> String {
    let ip = Command::new("ip").args(["-o", "addr"]).output().unwrap();
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    // Link-local IPv6 addresses come and go with the kernel's duplicate address
    // detection, not with wnet.
    let addrs: String = String::from_utf8_lossy(&ip.stdout)
        .lines()
        .filter(|l| !l.contains("scope link"))
        .collect::<Vec<_>>()
        .join("\n");
    // Which links exist and which bridge each is a port of: a bridge's flags, state
    // and MAC settle on their own, after its ports come and go.
    let links: String = String::from_utf8_lossy(&links.stdout)
        .lines()
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let master = words
                .iter()
                .position(|w| *w == "master")
                .and_then(|i| words.get(i + 1))
                .copied()
                .unwrap_or("-");
            format!(
                "{} {} {master}",
                words[0],
                words.get(1).copied().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        "{}{}{}{}",
        ok(&["network", "inspect", "front", "back"]),
        ok(&["sandbox", "ls"]),
        addrs,
        links,
    )
}

/// TCP between the namespaces at two paths.
fn tcp(from: &str, to: &str, addr: &str) {
    let ns = |p: &str| Namespace::adopt(Path::new(p)).unwrap();
    wnet_tests::tcp(&ns(from), &ns(to), addr);
}

fn lifecycle_with_traffic() {
    let id = ok(&["network", "create", "--subnet", "10.5.0.0/24", "front"]);
    assert_eq!(id.trim().len(), 64, "prints the network id: {id}");
    ok(&[
        "network",
        "create",
        "--subnet",
        "10.6.0.0/24",
        "--ip-range",
        "10.6.0.128/25",
        "--gateway",
        "10.6.0.254",
        "--aux-address",
        "printer=10.6.0.200",
        "-o",
        "com.docker.network.bridge.name=wnet-back",
        "--label",
        "tier=db",
        "back",
    ]);
    let ls = ok(&["network", "ls"]);
    assert!(
        ls.contains("front") && ls.contains("back") && ls.contains("bridge"),
        "{ls}"
    );
    let by_label = ok(&["network", "ls", "-q", "-f", "label=tier=db"]);
    assert_eq!(by_label.lines().count(), 1, "{by_label}");
    assert_eq!(by_label, ok(&["network", "ls", "-q", "-f", "name=back"]));

    let a = ok(&["sandbox", "create", "a"]).trim().to_owned();
    let b = ok(&["sandbox", "create", "b"]).trim().to_owned();
    assert_eq!(a, format!("{RUN}/netns/a"));
    ok(&[
        "network", "connect", "--alias", "web", "--alias", "www", "front", "a",
    ]);
    let bad = wnet(&["network", "connect", "--publish", "80", "front", "b"]);
    assert!(
        !bad.status.success() && err(&bad).contains("no container port"),
        "{}",
        err(&bad)
    );
    ok(&[
        "network",
        "connect",
        "--ip",
        "10.5.0.77",
        "--publish",
        "8080:7000",
        "front",
        "b",
    ]);
    ok(&["network", "connect", "back", "a"]);

    let inspect: String = ok(&["network", "inspect", "front"]);
    for want in [
        "\"Subnet\": \"10.5.0.0/24\"",
        "\"Gateway\": \"10.5.0.1\"",
        "\"IPv4Address\": \"10.5.0.2/24\"",
        "\"IPv4Address\": \"10.5.0.77/24\"",
        "\"Driver\": \"bridge\"",
    ] {
        assert!(inspect.contains(want), "missing {want} in {inspect}");
    }
    let parsed: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let ports: Vec<&serde_json::Value> = parsed[0]["Containers"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|c| c.get("Ports"))
        .collect();
    assert_eq!(ports, [&serde_json::json!(["8080:7000/tcp"])], "{inspect}");
    // The published port, reached from the host through the gateway's address.
    let host = Namespace::current().unwrap();
    let b_ns = Namespace::adopt(Path::new(&b)).unwrap();
    assert!(
        wnet_tests::peer_via(&host, &b_ns, "10.5.0.77:7000", "10.5.0.1:8080").is_some(),
        "published"
    );
    let back = ok(&["network", "inspect", "back"]);
    for want in [
        "\"IPRange\": \"10.6.0.128/25\"",
        "\"Gateway\": \"10.6.0.254\"",
        "\"printer\": \"10.6.0.200\"",
        "\"IPv4Address\": \"10.6.0.128/24\"",
        "\"tier\": \"db\"",
    ] {
        assert!(back.contains(want), "missing {want} in {back}");
    }
    // Docker's filter rules: one filter's values are alternatives.
    let both = ok(&["network", "ls", "-q", "-f", "name=front", "-f", "name=back"]);
    assert_eq!(both.lines().count(), 2, "{both}");
    let none = ok(&["network", "ls", "-q", "-f", "dangling=true"]);
    assert_eq!(none.trim(), "", "both networks have containers: {none}");
    let sb = ok(&["sandbox", "inspect", "a"]);
    assert!(
        sb.contains("\"web\"") && sb.contains("\"www\""),
        "aliases: {sb}"
    );
    assert!(
        sb.contains("\"Interface\": \"eth0\"") && sb.contains("\"Interface\": \"eth1\""),
        "{sb}"
    );

    tcp(&a, &b, "10.5.0.77");
    tcp(&b, &a, "10.5.0.2");

    ok(&["network", "disconnect", "front", "b"]);
    let inspect = ok(&["network", "inspect", "front"]);
    assert!(!inspect.contains("10.5.0.77"), "{inspect}");
    // A namespace made elsewhere is adopted by its path, and kept at removal.
    let outside = Namespace::create(Path::new("/run/wnet-cli-test/other"), "c").unwrap();
    let path = outside.path().display().to_string();
    // Docker's endpoint option names the interface in the sandbox.
    ok(&[
        "network",
        "connect",
        "--driver-opt",
        "com.docker.network.endpoint.ifname=web0",
        "front",
        &path,
    ]);
    let c = ok(&["sandbox", "inspect", "run-wnet-cli-test-other-c"]);
    assert!(c.contains("\"Interface\": \"web0\""), "{c}");
    let link = Command::new("nsenter")
        .args([&format!("--net={path}"), "ip", "link", "show", "web0"])
        .output()
        .unwrap();
    assert!(link.status.success(), "web0 in the namespace: {link:?}");
    tcp(&path, &a, "10.5.0.2");
    ok(&["network", "disconnect", "front", &path]);
    // Another namespace at that path while the first was still connected (a container
    // restarted under the same name): the stale sandbox goes with its endpoint and
    // address, and the new namespace is adopted.
    ok(&["network", "connect", "--ip", "10.5.0.88", "front", &path]);
    outside.remove().unwrap();
    let outside = Namespace::create(Path::new("/run/wnet-cli-test/other"), "c").unwrap();
    ok(&["network", "connect", "--ip", "10.5.0.88", "front", &path]);
    tcp(&path, &a, "10.5.0.2");
    let inspect = ok(&["network", "inspect", "front"]);
    assert_eq!(inspect.matches("10.5.0.88").count(), 1, "{inspect}");
    ok(&["network", "disconnect", "front", &path]);
    ok(&["sandbox", "rm", "run-wnet-cli-test-other-c", "b"]);
    assert!(
        Path::new(&path).exists(),
        "an adopted namespace is not removed"
    );
    assert!(!Path::new(&b).exists(), "a namespace wnet made is removed");
    outside.remove().unwrap();
}

fn bad_input_is_refused_and_changes_nothing() {
    let before = state();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["network", "create", "front"], 1, "already exists"),
        (
            &["network", "create", "-d", "nosuch", "n"],
            1,
            "unknown network driver `nosuch`",
        ),
        (
            &["network", "create", "--ipam-driver", "nosuch", "n"],
            1,
            "nosuch",
        ),
        (
            &["network", "create", "--subnet", "10.7.0.0/33", "n"],
            2,
            "prefix length must be 0–32",
        ),
        (
            &["network", "create", "--subnet", "10.7.0.0", "n"],
            2,
            "CIDR",
        ),
        (
            &["network", "create", "--subnet", "10.5.0.0/25", "n"],
            1,
            "overlap",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.7.0.0/24",
                "--gateway",
                "10.8.0.1",
                "n",
            ],
            1,
            "--gateway 10.8.0.1 is in none of the subnets",
        ),
        (
            &[
                "network",
                "create",
                "--subnet",
                "10.7.0.0/24",
                "--ip-range",
                "10.9.0.0/25",
                "n",
            ],
            1,
            "--ip-range",
        ),
        (
            &["network", "connect", "--ip", "10.9.9.9", "front", "b2"],
            1,
            "sandbox `b2` not found",
        ),
        (
            &["network", "connect", "nosuch", "a"],
            1,
            "network `nosuch` not found",
        ),
        (
            &["network", "connect", "front", "a"],
            1,
            "already connected",
        ),
        (
            &["network", "disconnect", "back", "nosuch"],
            1,
            "sandbox `nosuch` not found",
        ),
        (&["network", "rm", "front"], 1, "active endpoints"),
        (&["network", "disconnect", "front", "a"], 0, ""),
        (&["network", "disconnect", "front", "a"], 1, "not connected"),
        (
            &["network", "inspect", "nosuch"],
            1,
            "network `nosuch` not found",
        ),
        (&["sandbox", "create", "a"], 1, "sandbox `a` already exists"),
        (
            &["sandbox", "inspect", "a", "nosuch"],
            1,
            "sandbox `nosuch` not found",
        ),
        (
            &["sandbox", "rm", "nosuch"],
            1,
            "sandbox `nosuch` not found",
        ),
        (
            &["network", "connect", "--alias", "no way", "back", "b2"],
            1,
            "invalid alias name `no way`",
        ),
        (
            &["network", "ls", "-f", "dangling=maybe"],
            1,
            "dangling=maybe",
        ),
        (&["network", "frobnicate"], 2, "unrecognized subcommand"),
    ];
    let mut before = before;
    for (args, code, msg) in cases {
        let o = wnet(args);
        assert_eq!(o.status.code(), Some(*code), "wnet {args:?}: {}", err(&o));
        if *code == 0 {
            // A step of the story between refusals: the state moves on.
            before = state();
            continue;
        }
        assert!(
            err(&o).contains(msg),
            "wnet {args:?}: `{msg}` not in: {}",
            err(&o)
        );
        if *code == 1 {
            assert_eq!(
                err(&o).lines().count(),
                1,
                "wnet {args:?}: one line: {}",
                err(&o)
            );
        }
        assert_eq!(state(), before, "wnet {args:?} changed the state");
    }
    // --ip taken by another sandbox, and outside the subnet.
    ok(&["network", "connect", "front", "a"]);
    ok(&["sandbox", "create", "d"]);
    let before = state();
    for (ip, msg) in [("10.5.0.2", "10.5.0.2"), ("10.99.0.1", "10.99.0.1")] {
        let o = wnet(&["network", "connect", "--ip", ip, "front", "d"]);
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        assert!(err(&o).contains(msg), "{}", err(&o));
        assert_eq!(state(), before, "--ip {ip} changed the state");
    }
    // Driver options: an interface name the kernel would not take, ports not through
    // --publish.
    for (opt, msg) in [
        (
            "com.docker.network.endpoint.ifname=bad/name",
            "`bad/name` is not a valid Linux interface name",
        ),
        (
            "com.docker.network.portmap=[]",
            "give ports to publish in EndpointConfig.Publish",
        ),
    ] {
        let o = wnet(&["network", "connect", "--driver-opt", opt, "front", "d"]);
        assert_eq!(o.status.code(), Some(1), "{}", err(&o));
        assert!(err(&o).contains(msg), "--driver-opt {opt}: {}", err(&o));
        assert_eq!(state(), before, "--driver-opt {opt} changed the state");
    }
    ok(&["sandbox", "rm", "d"]);
}

fn everything_goes_at_the_end() {
    ok(&["sandbox", "rm", "a"]);
    ok(&["network", "rm", "front", "back"]);
    assert_eq!(ok(&["network", "ls", "-q"]).trim(), "");
    assert_eq!(ok(&["sandbox", "ls", "-q"]).trim(), "");
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout).into_owned();
    assert_eq!(links.lines().count(), 1, "only lo is left: {links}");
}

const SOCKET: &str = "/run/wnet-cli-test/run/wnet.sock";

/// The running daemon's pid (0: none), killed when a step fails: the test process then
/// exits at once, and a daemon left behind would hold cargo's output pipe open.
static DAEMON: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn start_daemon() -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wnet"))
        .args(ISOLATED)
        .env("WNET_CACHE_DIR", wnet_tests::cache_dir())
        .arg("daemon")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    DAEMON.store(child.id(), std::sync::atomic::Ordering::Relaxed);
    for _ in 0..500 {
        if std::os::unix::net::UnixStream::connect(SOCKET).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the daemon did not start listening on {SOCKET}");
}

fn stop_daemon(mut d: std::process::Child) {
    DAEMON.store(0, std::sync::atomic::Ordering::Relaxed);
    let o = Command::new("kill")
        .args(["-TERM", &d.id().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success());
    let status = d.wait().unwrap();
    assert!(
        status.success(),
        "the daemon exits cleanly on SIGTERM: {status}"
    );
    assert!(!Path::new(SOCKET).exists(), "and removes its socket");
}

/// A wnet over a data directory of its own, on the same host, takes none of the other's
/// links for orphans: not while its store is new, nor when it reconciles later, since
/// each store's links carry a device group of its own.
fn another_data_directory_leaves_others_alone() {
    let links = || {
        let o = Command::new("ip").args(["-o", "link"]).output().unwrap();
        let mut names: Vec<String> = out(&o)
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .collect();
        names.sort();
        names
    };
    let before = links();
    assert!(
        before.iter().any(|l| l == "wnet-back"),
        "the story's bridge is there: {before:?}"
    );
    let other = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_wnet"))
            .args(["--data-dir", "/run/wnet-cli-test/other-data"])
            .args(["--run-dir", "/run/wnet-cli-test/other-run"])
            .args(["--drivers-dir", DRIVERS, "--config", CONFIG])
            .env("WNET_CACHE_DIR", wnet_tests::cache_dir())
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        o
    };
    let o = other(&["network", "ls", "-q"]);
    assert_eq!(out(&o).trim(), "", "the other store is empty");
    assert_eq!(links(), before, "the first store's links are untouched");
    // The other store records a network, then its wnet ends without its clean-exit
    // marker (as if killed): its next command reconciles, and takes for orphans only
    // links of its own device group — neither this store's nor those of the group an
    // older wnet gave every link.
    other(&["network", "create", "-d", "null", "elsewhere"]);
    std::fs::remove_file("/run/wnet-cli-test/other-data/wnet.clean").unwrap();
    ip(&[
        "link",
        "add",
        "wnold",
        "group",
        &wnet_netlink::WNET_GROUP.to_string(),
        "type",
        "bridge",
    ]);
    let mut with_old = before;
    with_old.push("wnold".to_owned());
    with_old.sort();
    other(&["network", "ls", "-q"]);
    assert_eq!(
        links(),
        with_old,
        "a reconcile of another store leaves the first store's links alone"
    );
    ip(&["link", "del", "wnold"]);
    let _ = std::fs::remove_dir_all("/run/wnet-cli-test/other-data");
}

/// The device group of link `name`.
fn link_group(name: &str) -> String {
    let o = Command::new("ip")
        .args(["-j", "link", "show", name])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["group"].as_str().unwrap().to_owned()
}

fn a_daemon_that_does_not_answer_is_named() {
    let o = wnet(&[
        "--host",
        "unix:///run/wnet-cli-test/nobody.sock",
        "network",
        "ls",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("does not answer") && err(&o).contains("nobody.sock"),
        "{}",
        err(&o)
    );
    let o = wnet(&["--host", "tcp://1.2.3.4:2375", "network", "ls"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("unix:///"), "{}", err(&o));
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(o.status.success(), "ip {args:?}: {}", err(&o));
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .unwrap()
        .status
        .success()
}

/// With no wnet running, things change by hand; the next wnet repairs what is wnet's
/// and touches nothing else. Through a daemon: the daemon stopped, then started
/// again. Embedded: a daemon killed with SIGKILL (so it could not record a clean
/// end), then a plain `wnet network ls`, which must repair before it answers.
fn a_restart_repairs_what_changed_by_hand(
    daemon: Option<std::process::Child>,
) -> Option<std::process::Child> {
    let embedded = daemon.is_none();
    match daemon {
        Some(d) => stop_daemon(d),
        None => {
            let mut d = start_daemon();
            d.kill().unwrap();
            d.wait().unwrap();
            DAEMON.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }
    // The device group of this store's links.
    let group = link_group("wnet-back");
    // The bridge of network `back` deleted; sandbox a's port on it is left detached.
    ip(&["link", "del", "wnet-back"]);
    // A link wnet made whose record a crash lost, and one that is not wnet's.
    ip(&["link", "add", "wnorphan", "group", &group, "type", "bridge"]);
    ip(&["link", "add", "keepme", "type", "bridge"]);
    // A namespace file no sandbox owns.
    std::fs::write(format!("{RUN}/netns/ghost"), "").unwrap();
    // wnet's firewall table gone, as after a reboot or `nft flush ruleset`.
    assert!(
        Command::new("nft")
            .args(["delete", "table", "inet", "wnet"])
            .status()
            .unwrap()
            .success()
    );
    let daemon = if embedded {
        ok(&["network", "ls"]);
        None
    } else {
        Some(start_daemon())
    };
    assert!(link_exists("wnet-back"), "the deleted bridge is re-created");
    let addrs = Command::new("ip")
        .args(["-o", "addr", "show", "wnet-back"])
        .output()
        .unwrap();
    assert!(
        out(&addrs).contains("10.6.0.254/24"),
        "with its gateway address: {}",
        out(&addrs)
    );
    // Sandbox a reaches the gateway through it again: its veth is a port once more.
    let host = format!("/proc/{}/ns/net", std::process::id());
    tcp(&format!("{RUN}/netns/a"), &host, "10.6.0.254");
    let bridges = Command::new("nft")
        .args(["list", "set", "inet", "wnet", "bridges"])
        .output()
        .unwrap();
    assert!(
        out(&bridges).contains("\"wnet-back\""),
        "the firewall's table is written again with the networks: {}",
        out(&bridges)
    );
    assert!(!link_exists("wnorphan"), "the orphan link is deleted");
    assert!(link_exists("keepme"), "a link that is not wnet's stays");
    ip(&["link", "del", "keepme"]);
    assert!(
        !Path::new(&format!("{RUN}/netns/ghost")).exists(),
        "the orphan namespace file is removed"
    );
    daemon
}

fn check(name: &str, f: impl FnOnce() + std::panic::UnwindSafe) {
    let ok = std::panic::catch_unwind(f).is_ok();
    println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
    if !ok {
        let daemon = DAEMON.load(std::sync::atomic::Ordering::Relaxed);
        if daemon != 0 {
            let _ = Command::new("kill")
                .args(["-KILL", &daemon.to_string()])
                .status();
        }
        println!("\ntest result: FAILED");
        std::process::exit(101);
    }
}

fn main() {
    if let Err(e) = wnet_netlink::isolate_process() {
        eprintln!("cli network tests: {e}");
        std::process::exit(1);
    }
    // Steps of one story, in order: each needs what the one before left. The story is
    // told twice: with wnet inside each `wnet` process, then through a daemon (which
    // the commands find at <run-dir>/wnet.sock by themselves).
    let steps: [(&str, fn()); 4] = [
        ("lifecycle_with_traffic", lifecycle_with_traffic),
        (
            "another_data_directory_leaves_others_alone",
            another_data_directory_leaves_others_alone,
        ),
        (
            "bad_input_is_refused_and_changes_nothing",
            bad_input_is_refused_and_changes_nothing,
        ),
        ("everything_goes_at_the_end", everything_goes_at_the_end),
    ];
    let mut passed = 0;
    for mode in ["embedded", "daemon"] {
        let _ = std::fs::remove_dir_all("/run/wnet-cli-test");
        std::fs::create_dir_all("/run/wnet-cli-test").unwrap();
        std::fs::write(CONFIG, "").unwrap();
        let mut daemon = (mode == "daemon").then(start_daemon);
        for (name, step) in steps {
            if name == "everything_goes_at_the_end" {
                let d = daemon.take();
                let repaired =
                    std::panic::catch_unwind(move || a_restart_repairs_what_changed_by_hand(d));
                let ok = repaired.is_ok();
                check(
                    &format!("{mode}::a_restart_repairs_what_changed_by_hand"),
                    move || {
                        assert!(ok);
                    },
                );
                daemon = repaired.ok().flatten();
                passed += 1;
            }
            check(&format!("{mode}::{name}"), step);
            passed += 1;
        }
        if let Some(d) = daemon {
            check("daemon::stops_cleanly_on_sigterm", move || stop_daemon(d));
            passed += 1;
        }
    }
    check(
        "a_daemon_that_does_not_answer_is_named",
        a_daemon_that_does_not_answer_is_named,
    );
    println!("\ntest result: ok. {} passed; 0 failed", passed + 1);
}
