//! `wnet` as a CNI plugin, driven as a CNI runtime drives it: the binary run with no
//! arguments, `CNI_*` in the environment, the network configuration on stdin, the
//! result or an error object on stdout. Against the real kernel, in network and mount
//! namespaces the test process makes first (needs root), with no daemon: each call a
//! process of its own over one data directory.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "a test binary"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use wnet_netlink::Namespace;

const ROOT: &str = "/run/wnet-cni-test";

/// One plugin call: `command` for container `id` in `netns` with interface `ifname`.
fn cni(command: &str, id: &str, netns: &str, ifname: &str, args: &str, conf: &Value) -> Output {
    cni_via(None, command, id, netns, ifname, args, conf)
}

/// [`cni`] through the daemon at `host` (`WNET_HOST`) when one is given.
fn cni_via(
    host: Option<&str>,
    command: &str,
    id: &str,
    netns: &str,
    ifname: &str,
    args: &str,
    conf: &Value,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wnet"));
    cmd.env_clear();
    if let Some(host) = host {
        cmd.env("WNET_HOST", host);
    }
    let mut child = cmd
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", id)
        .env("CNI_NETNS", netns)
        .env("CNI_IFNAME", ifname)
        .env("CNI_ARGS", args)
        .env("CNI_PATH", "/opt/cni/bin")
        .env("WNET_DATA_DIR", format!("{ROOT}/data"))
        .env("WNET_RUN_DIR", format!("{ROOT}/run"))
        .env("WNET_DRIVERS_DIR", format!("{ROOT}/drivers"))
        .env("WNET_CONFIG", format!("{ROOT}/wnet.toml"))
        .env("WNET_CACHE_DIR", wnet_tests::cache_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let written = child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes());
    // A call that needs no configuration (VERSION) may answer and exit before its
    // stdin is written, closing the pipe: as a runtime does, carry on and read the
    // answer.
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{command}: {e}");
    }
    child.wait_with_output().unwrap()
}

/// The JSON a call printed, and whether it succeeded.
fn answer(o: &Output) -> (bool, Value) {
    let text = String::from_utf8_lossy(&o.stdout);
    let v = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    (o.status.success(), v)
}

/// A call that must succeed; what it printed.
fn ok(command: &str, id: &str, netns: &str, ifname: &str, args: &str, conf: &Value) -> Value {
    let o = cni(command, id, netns, ifname, args, conf);
    let (good, v) = answer(&o);
    assert!(
        good,
        "{command} {id}: {v} {}",
        String::from_utf8_lossy(&o.stderr)
    );
    v
}

/// A call that must fail with the spec's error object of `code` saying `msg`.
fn refused(command: &str, id: &str, netns: &str, conf: &Value, code: u64, msg: &str) {
    let o = cni(command, id, netns, "eth0", "", conf);
    let (good, v) = answer(&o);
    assert!(!good, "{command} {id} succeeded: {v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(v["msg"].as_str().unwrap().contains(msg), "{v}");
}

/// The `wnet` binary over `<ROOT>/<data>` and `<ROOT>/<run>`, with the tests' drivers
/// folder, config file and compile cache.
fn wnet_over(data: &str, run: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wnet"));
    cmd.args(["--data-dir", &format!("{ROOT}/{data}")])
        .args(["--run-dir", &format!("{ROOT}/{run}")])
        .args(["--drivers-dir", &format!("{ROOT}/drivers")])
        .args(["--config", &format!("{ROOT}/wnet.toml")])
        .env("WNET_CACHE_DIR", wnet_tests::cache_dir());
    cmd
}

/// `wnet` itself, over the plugin's data directory.
fn wnet(args: &[&str]) -> String {
    let o = wnet_over("data", "run").args(args).output().unwrap();
    assert!(o.status.success(), "wnet {args:?}: {o:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn host_links() -> String {
    let o = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn plugin_calls_as_a_runtime_makes_them() {
    let web = json!({
        "cniVersion": "1.0.0", "name": "web", "type": "wnet", "driver": "bridge",
        "options": {"com.docker.network.bridge.name": "wncni0"},
        "ipam": {"subnet": "10.10.0.0/24", "gateway": "10.10.0.1"},
    });
    // An older runtime's version, whose results carry each address's family.
    let back = json!({
        "cniVersion": "0.4.0", "name": "back", "type": "wnet",
        "options": {"com.docker.network.bridge.name": "wncni1"},
        "ipam": {"subnet": "10.11.0.0/24"},
    });
    let netns = |name: &str| Namespace::create(&Path::new(ROOT).join("netns"), name).unwrap();
    let (a, b) = (netns("a"), netns("b"));
    let (pa, pb) = (
        a.path().display().to_string(),
        b.path().display().to_string(),
    );

    let version = ok("VERSION", "", "", "", "", &json!({}));
    assert!(
        version["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("1.0.0")),
        "{version}"
    );

    // ADD: the network is made at its first ADD; CNI_ARGS IP= is honoured; the result
    // is the spec's.
    let ra = ok(
        "ADD",
        "ctr-a",
        &pa,
        "eth0",
        "IgnoreUnknown=1;IP=10.10.0.42",
        &web,
    );
    assert_eq!(ra["cniVersion"], "1.0.0");
    assert_eq!(ra["interfaces"][0]["name"], "eth0", "{ra}");
    assert_eq!(ra["interfaces"][0]["sandbox"], pa.as_str(), "{ra}");
    assert!(
        ra["interfaces"][0]["mac"].as_str().unwrap().len() == 17,
        "{ra}"
    );
    assert_eq!(
        ra["ips"],
        json!([{"address": "10.10.0.42/24", "gateway": "10.10.0.1", "interface": 0}]),
        "{ra}"
    );
    assert_eq!(
        ra["routes"],
        json!([{"dst": "0.0.0.0/0", "gw": "10.10.0.1"}]),
        "{ra}"
    );
    // With a port mapping (the portMappings capability) and a MAC from CNI_ARGS.
    let mut web_ports = web.clone();
    web_ports["runtimeConfig"] =
        json!({"portMappings": [{"hostPort": 8080, "containerPort": 7000, "protocol": "tcp"}]});
    let rb = ok(
        "ADD",
        "ctr-b",
        &pb,
        "eth0",
        "MAC=02:00:00:00:00:0b",
        &web_ports,
    );
    assert_eq!(rb["interfaces"][0]["mac"], "02:00:00:00:00:0b", "{rb}");
    let b_addr = rb["ips"][0]["address"].as_str().unwrap().to_owned();
    let b_ip = b_addr.split('/').next().unwrap();
    wnet_tests::tcp(&a, &b, b_ip);
    wnet_tests::tcp(&b, &a, "10.10.0.42");
    let host = Namespace::current().unwrap();
    assert!(
        wnet_tests::peer_via(&host, &b, &format!("{b_ip}:7000"), "10.10.0.1:8080").is_some(),
        "the mapped port reaches b"
    );

    // A second network for a, on the interface the runtime names.
    let r2 = ok("ADD", "ctr-a", &pa, "eth1", "", &back);
    assert_eq!(r2["cniVersion"], "0.4.0");
    assert_eq!(r2["interfaces"][0]["name"], "eth1", "{r2}");
    assert_eq!(r2["ips"][0]["version"], "4", "{r2}");
    let eth1 = Command::new("nsenter")
        .args([&format!("--net={pa}"), "ip", "-o", "addr", "show", "eth1"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&eth1.stdout).contains("10.11.0."),
        "eth1 in a's namespace with its address: {eth1:?}"
    );
    let sb = wnet(&["sandbox", "inspect", "cni-ctr-a"]);
    assert!(
        sb.contains("\"Interface\": \"eth0\"") && sb.contains("\"Interface\": \"eth1\""),
        "{sb}"
    );
    let ls = wnet(&["network", "ls"]);
    assert!(ls.contains("web") && ls.contains("back"), "{ls}");

    // CHECK: connected with that interface; anything else is an error object.
    assert_eq!(ok("CHECK", "ctr-a", &pa, "eth0", "", &web), Value::Null);
    let o = cni("CHECK", "ctr-a", &pa, "eth3", "", &web);
    let (good, v) = answer(&o);
    assert!(!good && v["code"] == 100, "{v}");
    assert!(
        v["msg"].as_str().unwrap().contains("`eth0`, not `eth3`"),
        "{v}"
    );
    // CHECK looks in the namespace, not only at wnet's records: an address taken off
    // the interface by hand is found missing.
    assert_eq!(ok("CHECK", "ctr-a", &pa, "eth1", "", &back), Value::Null);
    let eth1_addr = r2["ips"][0]["address"].as_str().unwrap().to_owned();
    let del = Command::new("nsenter")
        .args([
            &format!("--net={pa}"),
            "ip",
            "addr",
            "del",
            &eth1_addr,
            "dev",
            "eth1",
        ])
        .status()
        .unwrap();
    assert!(del.success());
    let o = cni("CHECK", "ctr-a", &pa, "eth1", "", &back);
    let (good, v) = answer(&o);
    assert!(!good && v["code"] == 100, "{v}");
    assert!(
        v["msg"]
            .as_str()
            .unwrap()
            .contains(&format!("lacks its address {eth1_addr}")),
        "{v}"
    );
    let add = Command::new("nsenter")
        .args([
            &format!("--net={pa}"),
            "ip",
            "addr",
            "add",
            &eth1_addr,
            "dev",
            "eth1",
        ])
        .status()
        .unwrap();
    assert!(add.success());
    assert_eq!(ok("CHECK", "ctr-a", &pa, "eth1", "", &back), Value::Null);

    // Bad input: the spec's codes.
    refused(
        "ADD",
        "ctr-x",
        &pa,
        &json!({"cniVersion": "9.9.9", "name": "web"}),
        1,
        "cniVersion 9.9.9",
    );
    refused("ADD", "ctr-x", "", &web, 4, "CNI_NETNS is not set");
    refused(
        "ADD",
        "ctr-x",
        &pa,
        &json!({"cniVersion": "1.0.0"}),
        6,
        "missing field `name`",
    );

    // A failed ADD (its address taken) leaves no sandbox behind.
    let c = netns("c");
    let pc = c.path().display().to_string();
    let o = cni("ADD", "ctr-c", &pc, "eth0", "IP=10.10.0.42", &web);
    let (good, v) = answer(&o);
    assert!(!good && v["code"] == 100, "{v}");
    assert!(v["msg"].as_str().unwrap().contains("10.10.0.42"), "{v}");
    assert!(!wnet(&["sandbox", "ls"]).contains("cni-ctr-c"));
    c.remove().unwrap();

    // GC (spec 1.1): what the runtime no longer lists on this network goes, the rest
    // stays.
    let g = netns("g");
    let pg = g.path().display().to_string();
    ok("ADD", "ctr-g", &pg, "eth0", "", &web);
    let mut gc = web.clone();
    gc["cniVersion"] = json!("1.1.0");
    gc["cni.dev/valid-attachments"] = json!([
        {"containerID": "ctr-a", "ifname": "eth0"},
        {"containerID": "ctr-b", "ifname": "eth0"},
    ]);
    assert_eq!(ok("GC", "", "", "", "", &gc), Value::Null);
    let left = wnet(&["sandbox", "ls", "-q"]);
    assert!(
        !left.contains("cni-ctr-g") && left.contains("cni-ctr-a") && left.contains("cni-ctr-b"),
        "{left}"
    );
    assert!(
        wnet(&["sandbox", "inspect", "cni-ctr-a"]).contains("\"back\""),
        "a's other network is not this GC's"
    );
    g.remove().unwrap();

    // DEL: idempotent, also once the namespace is gone; the sandbox goes with its last
    // network.
    ok("DEL", "ctr-a", &pa, "eth0", "", &web);
    ok("DEL", "ctr-a", &pa, "eth0", "", &web);
    assert!(wnet(&["sandbox", "inspect", "cni-ctr-a"]).contains("back"));
    ok("DEL", "ctr-a", &pa, "eth1", "", &back);
    assert!(!wnet(&["sandbox", "ls"]).contains("cni-ctr-a"));
    b.remove().unwrap();
    ok("DEL", "ctr-b", "", "eth0", "", &web_ports);
    ok("DEL", "ctr-b", "", "eth0", "", &web_ports);
    assert_eq!(wnet(&["sandbox", "ls", "-q"]).trim(), "", "no sandbox left");
    let links = host_links();
    assert!(!links.contains("veth"), "no container's link left: {links}");
    assert!(
        Path::new(&pa).exists(),
        "the runtime's namespace is the runtime's to remove"
    );
    a.remove().unwrap();

    // The networks stay (a runtime's networks outlive containers) and go with wnet.
    wnet(&["network", "rm", "web", "back"]);
    let links = host_links();
    assert!(!links.contains("wncni"), "{links}");
}

/// A `wnet daemon` over its own data directory, stopped when dropped (also when a test
/// fails).
struct Daemon {
    child: std::process::Child,
    host: String,
}

impl Daemon {
    fn start() -> Daemon {
        let socket = format!("{ROOT}/daemon.sock");
        let child = wnet_over("daemon-data", "daemon-run")
            .args(["daemon", "--socket", &socket])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon {
            child,
            host: format!("unix://{socket}"),
        };
        for _ in 0..200 {
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("the daemon did not answer on {socket}");
    }

    /// `wnet` through this daemon.
    fn wnet(&self, args: &[&str]) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_wnet"))
            .args(["--host", &self.host])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "wnet {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Through a daemon, the first ADDs of a network arriving at once all succeed on one
/// network: an ADD whose creation of the network lost the race uses the one made.
fn first_adds_at_once_share_one_network() {
    let daemon = Daemon::start();
    let conf = json!({
        "cniVersion": "1.0.0", "name": "rush", "type": "wnet",
        "options": {"com.docker.network.bridge.name": "wncni2"},
        "ipam": {"subnet": "10.12.0.0/24"},
    });
    let spaces: Vec<Namespace> = (0..6)
        .map(|i| Namespace::create(&Path::new(ROOT).join("netns"), &format!("rush{i}")).unwrap())
        .collect();
    let paths: Vec<String> = spaces
        .iter()
        .map(|n| n.path().display().to_string())
        .collect();
    let outputs: Vec<Output> = std::thread::scope(|s| {
        let calls: Vec<_> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (host, conf) = (daemon.host.as_str(), &conf);
                s.spawn(move || {
                    cni_via(Some(host), "ADD", &format!("rush-{i}"), p, "eth0", "", conf)
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let mut addresses = Vec::new();
    for o in &outputs {
        let (good, v) = answer(o);
        assert!(good, "{v} {}", String::from_utf8_lossy(&o.stderr));
        addresses.push(v["ips"][0]["address"].as_str().unwrap().to_owned());
    }
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        spaces.len(),
        "one address each: {addresses:?}"
    );
    let networks = daemon.wnet(&["network", "ls", "--filter", "name=rush", "-q"]);
    assert_eq!(networks.lines().count(), 1, "{networks}");

    for (i, p) in paths.iter().enumerate() {
        let o = cni_via(
            Some(&daemon.host),
            "DEL",
            &format!("rush-{i}"),
            p,
            "eth0",
            "",
            &conf,
        );
        assert!(o.status.success(), "{o:?}");
    }
    daemon.wnet(&["network", "rm", "rush"]);
    for n in spaces {
        n.remove().unwrap();
    }
}

fn main() {
    if let Err(e) = wnet_netlink::isolate_process() {
        eprintln!("cni tests: {e}");
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(ROOT);
    std::fs::create_dir_all(ROOT).unwrap();
    std::fs::write(format!("{ROOT}/wnet.toml"), "").unwrap();
    println!("test plugin_calls_as_a_runtime_makes_them ...");
    plugin_calls_as_a_runtime_makes_them();
    println!("test plugin_calls_as_a_runtime_makes_them ... ok");
    println!("test first_adds_at_once_share_one_network ...");
    first_adds_at_once_share_one_network();
    println!("test first_adds_at_once_share_one_network ... ok");
    println!("\ntest result: ok. 2 passed; 0 failed");
}
