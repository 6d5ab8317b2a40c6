//! `wnet daemon --docker-plugin` driven as dockerd drives it: HTTP POSTs on the plugin's
//! socket with the bodies dockerd 20.10 sends (recorded from a real one), then what
//! dockerd does with the answers — the interface moved into the container's namespace,
//! named and addressed from them — and traffic between two such containers. Against the
//! real kernel, in network and mount namespaces the test process makes first (needs
//! root). `tests/engines/docker.sh` runs real dockerd on top of this.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "a test binary"
)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wnet_netlink::Namespace;

const ROOT: &str = "/run/wnet-docker-test";
const PLUGIN: &str = "/run/wnet-docker-test/plugins/wnet.sock";
const NET: &str = "5f125e689f27e5bf7e4dbb1715939332a25f8b4bbdac2c33d834c064fd17260d";
const EP1: &str = "8be53db4edd37bd245ee8aecc2e866096e50bb85f6e88c56af5aefc58ccea507";
const EP2: &str = "9c1bc3960d5fadf3fad548e1ec0c556e16b44e1c3e2c10057f29aad9cca66f6b";

/// One plugin call, as dockerd makes it: the status and the JSON answer.
fn call(method: &str, body: &Value) -> (u16, Value) {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    let mut s = UnixStream::connect(PLUGIN).unwrap();
    write!(
        s,
        "POST /{method} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let value = serde_json::from_str(text).unwrap_or(Value::Null);
    (status, value)
}

/// A call that must succeed: 200 and no `Err`.
fn ok(method: &str, body: &Value) -> Value {
    let (status, v) = call(method, body);
    assert!(
        status == 200 && v.get("Err").is_none(),
        "{method}: {status} {v}"
    );
    v
}

/// `wnet …` through the daemon.
fn wnet(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_wnet"))
        .args(["--run-dir", &format!("{ROOT}/run")])
        .args(["--config", &format!("{ROOT}/wnet.toml")])
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "wnet {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ip(args: &[&str]) -> String {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Daemon {
    fn start() -> Daemon {
        let _ = std::fs::remove_file(PLUGIN);
        let d = Daemon(
            Command::new(env!("CARGO_BIN_EXE_wnet"))
                .env("WNET_DATA_DIR", format!("{ROOT}/data"))
                .env("WNET_CACHE_DIR", wnet_tests::cache_dir())
                .env("WNET_RUN_DIR", format!("{ROOT}/run"))
                .env("WNET_DRIVERS_DIR", format!("{ROOT}/drivers"))
                .env("WNET_CONFIG", format!("{ROOT}/wnet.toml"))
                .args(["daemon", "--docker-plugin", "wnet"])
                .args(["--docker-plugin-dir", &format!("{ROOT}/plugins")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        while UnixStream::connect(PLUGIN).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the plugin's socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// SIGTERM, as an operator stops it: a clean exit, the plugin's socket removed.
    fn stop(mut self) {
        let pid = self.0.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        assert!(self.0.wait().unwrap().success());
        assert!(!Path::new(PLUGIN).exists(), "the socket is removed at exit");
    }
}

/// What dockerd does with a join answer once the container's namespace exists: moves
/// `SrcName` in, names it `<DstPrefix>0`, gives it the address it asked IPAM for, and
/// routes through `Gateway`.
fn as_dockerd_does(answer: &Value, netns: &str, address: &str) {
    let src = answer["InterfaceName"]["SrcName"].as_str().unwrap();
    let prefix = answer["InterfaceName"]["DstPrefix"].as_str().unwrap();
    let gw = answer["Gateway"].as_str().unwrap();
    let dst = format!("{prefix}0");
    ip(&["link", "set", src, "netns", netns]);
    ip(&["-n", netns, "link", "set", src, "name", &dst]);
    ip(&["-n", netns, "addr", "add", address, "dev", &dst]);
    ip(&["-n", netns, "link", "set", &dst, "up"]);
    ip(&["-n", netns, "route", "add", "default", "via", gw]);
}

fn a_docker_network_and_two_containers() {
    let activated = ok("Plugin.Activate", &Value::Null);
    assert_eq!(
        activated["Implements"],
        json!(["NetworkDriver", "IpamDriver"])
    );
    assert_eq!(
        ok("NetworkDriver.GetCapabilities", &Value::Null)["Scope"],
        "local"
    );
    // IPAM first, as dockerd: the address space, a pool, the gateway.
    let spaces = ok("IpamDriver.GetDefaultAddressSpaces", &Value::Null);
    let space = spaces["LocalDefaultAddressSpace"].as_str().unwrap();
    let pool = ok(
        "IpamDriver.RequestPool",
        &json!({"AddressSpace": space, "Pool": "10.40.0.0/24", "SubPool": "", "Options": {}, "V6": false}),
    );
    assert_eq!(pool["Pool"], "10.40.0.0/24");
    let pool_id = pool["PoolID"].as_str().unwrap().to_owned();
    let gateway = ok(
        "IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "", "Options": {"RequestAddressType": "com.docker.network.gateway"}}),
    );
    assert_eq!(gateway["Address"], "10.40.0.1/24");
    // An IPAM refusal is a 500 with `Err`: the only form dockerd shows as an error.
    let (status, taken) = call(
        "IpamDriver.RequestAddress",
        &json!({"PoolID": pool_id, "Address": "10.40.0.1", "Options": null}),
    );
    assert_eq!(status, 500, "{taken}");
    assert!(
        taken["Err"].as_str().unwrap().contains("10.40.0.1"),
        "{taken}"
    );

    let create = json!({"NetworkID": NET,
        "Options": {"com.docker.network.enable_ipv6": false,
                    "com.docker.network.generic": {"com.docker.network.bridge.name": "wndock0"}},
        "IPv4Data": [{"AddressSpace": space, "Gateway": "10.40.0.1/24", "Pool": "10.40.0.0/24"}],
        "IPv6Data": []});
    ok("NetworkDriver.CreateNetwork", &create);
    ok("NetworkDriver.CreateNetwork", &create);
    let inspect: Value = serde_json::from_str(&wnet(&["network", "inspect", NET])).unwrap();
    assert_eq!(inspect[0]["Name"], format!("docker-{}", &NET[..12]));
    assert_eq!(inspect[0]["Id"], NET);
    assert_eq!(inspect[0]["IPAM"]["Config"][0]["Gateway"], "10.40.0.1");
    assert!(ip(&["link", "show", "wndock0"]).contains("wndock0"));

    let mut namespaces = Vec::new();
    for (ep, name, port) in [(EP1, "c1", 8080), (EP2, "c2", 8081)] {
        let address = ok(
            "IpamDriver.RequestAddress",
            &json!({"PoolID": pool_id, "Address": "", "Options": null}),
        )["Address"]
            .as_str()
            .unwrap()
            .to_owned();
        let ports = json!([{"Proto": 6, "IP": "", "Port": 7000, "HostIP": "", "HostPort": port, "HostPortEnd": port}]);
        let options = json!({"com.docker.network.endpoint.exposedports": [{"Proto": 6, "Port": 7000}],
                             "com.docker.network.portmap": ports});
        ok(
            "NetworkDriver.CreateEndpoint",
            &json!({"NetworkID": NET, "EndpointID": ep, "Options": options,
                    "Interface": {"Address": address, "AddressIPv6": "", "MacAddress": ""}}),
        );
        // dockerd makes the container's namespace only after the join.
        let key = format!("/run/netns/{name}");
        assert!(!Path::new(&key).exists());
        let join = ok(
            "NetworkDriver.Join",
            &json!({"NetworkID": NET, "EndpointID": ep, "SandboxKey": key, "Options": options}),
        );
        assert_eq!(join["Gateway"], "10.40.0.1", "{join}");
        assert_eq!(join["DisableGatewayService"], true, "{join}");
        let src = join["InterfaceName"]["SrcName"].as_str().unwrap();
        assert!(
            ip(&["link", "show", src]).contains(src),
            "the interface waits in the host's namespace"
        );
        ok(
            "NetworkDriver.ProgramExternalConnectivity",
            &json!({"NetworkID": NET, "EndpointID": ep, "Options": options}),
        );
        // `ip -n` finds namespaces by name in /run/netns.
        std::fs::create_dir_all("/run/netns").unwrap();
        let ns = Namespace::create(Path::new("/run/netns"), name).unwrap();
        as_dockerd_does(&join, name, &address);
        namespaces.push((ns, address));
        let info = ok(
            "NetworkDriver.EndpointOperInfo",
            &json!({"NetworkID": NET, "EndpointID": ep}),
        );
        // The container's ports came with the join as the sandbox's, and were published
        // through its gateway endpoint.
        assert_eq!(
            info["Value"]["com.docker.network.portmap"][0]["HostPort"], port,
            "{info}"
        );
    }
    let addr2 = namespaces[1].1.split('/').next().unwrap().to_owned();
    wnet_tests::tcp(&namespaces[0].0, &namespaces[1].0, &addr2);
    let sandboxes = wnet(&["sandbox", "ls"]);
    assert!(
        sandboxes.contains("docker-c1") && sandboxes.contains("docker-c2"),
        "{sandboxes}"
    );
}

fn it_survives_a_restart_and_goes_when_docker_removes_it(daemon: Daemon) -> Daemon {
    daemon.stop();
    let daemon = Daemon::start();
    // dockerd neither re-activates nor replays: the objects it made must be known.
    for ep in [EP1, EP2] {
        ok(
            "NetworkDriver.Leave",
            &json!({"NetworkID": NET, "EndpointID": ep}),
        );
        ok(
            "NetworkDriver.DeleteEndpoint",
            &json!({"NetworkID": NET, "EndpointID": ep}),
        );
        // Repeated, as dockerd retries and cleans up after its own restart: nothing
        // there, nothing wrong.
        ok(
            "NetworkDriver.DeleteEndpoint",
            &json!({"NetworkID": NET, "EndpointID": ep}),
        );
        ok(
            "NetworkDriver.Leave",
            &json!({"NetworkID": NET, "EndpointID": ep}),
        );
    }
    assert_eq!(
        wnet(&["sandbox", "ls", "-q"]).trim(),
        "",
        "sandboxes go with their last endpoint"
    );
    ok("NetworkDriver.DeleteNetwork", &json!({"NetworkID": NET}));
    ok("NetworkDriver.DeleteNetwork", &json!({"NetworkID": NET}));
    assert_eq!(wnet(&["network", "ls", "-q"]).trim(), "");
    assert!(!ip(&["-o", "link"]).contains("wndock0"), "the bridge goes");
    daemon
}

fn errors_are_docker_s() {
    let (status, v) = call(
        "NetworkDriver.CreateNetwork",
        &json!({"NetworkID": NET, "Options": {"com.docker.network.generic": {"wnet.driver": "nosuch"}},
                "IPv4Data": [{"AddressSpace": "x", "Gateway": "10.41.0.1/24", "Pool": "10.41.0.0/24"}]}),
    );
    assert_eq!(status, 200, "a network driver's error is a 200 with Err");
    assert!(
        v["Err"]
            .as_str()
            .unwrap()
            .contains("unknown network driver `nosuch`"),
        "{v}"
    );
    let (status, v) = call(
        "IpamDriver.RequestPool",
        &json!({"AddressSpace": "", "Pool": "", "SubPool": "", "Options": {"wnet.ipam": "docker"}, "V6": false}),
    );
    assert_eq!(status, 500);
    assert!(
        v["Err"].as_str().unwrap().contains("--ipam-opt wnet.ipam"),
        "{v}"
    );
    let (status, v) = call("NetworkDriver.Join", &json!({"NetworkID": 7}));
    assert_eq!(status, 200);
    assert!(
        v["Err"].as_str().unwrap().contains("malformed request"),
        "{v}"
    );
    let (status, _) = call("NetworkDriver.NoSuchCall", &json!({}));
    assert_eq!(
        status, 404,
        "not implemented is a 404, which dockerd tolerates"
    );
    assert_eq!(wnet(&["network", "ls", "-q"]).trim(), "", "nothing stays");
}

fn check(name: &str, f: impl FnOnce() + std::panic::UnwindSafe) {
    print!("test {name} ... ");
    match std::panic::catch_unwind(f) {
        Ok(()) => println!("ok"),
        Err(_) => {
            println!("FAILED");
            std::process::exit(101);
        }
    }
}

fn main() {
    if let Err(e) = wnet_netlink::isolate_process() {
        eprintln!("docker plugin tests: {e}");
        std::process::exit(1);
    }
    std::fs::create_dir_all(ROOT).unwrap();
    std::fs::write(format!("{ROOT}/wnet.toml"), "").unwrap();
    ip(&["link", "set", "lo", "up"]);
    let daemon = Daemon::start();
    check(
        "a_docker_network_and_two_containers",
        a_docker_network_and_two_containers,
    );
    print!("test it_survives_a_restart_and_goes_when_docker_removes_it ... ");
    let Ok(daemon) = std::panic::catch_unwind(move || {
        it_survives_a_restart_and_goes_when_docker_removes_it(daemon)
    }) else {
        println!("FAILED");
        std::process::exit(101);
    };
    println!("ok");
    check("errors_are_docker_s", errors_are_docker_s);
    daemon.stop();
    println!("\ntest result: ok. 3 passed; 0 failed");
}
