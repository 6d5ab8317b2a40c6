//! The job of `shared/bench/peers` through a running `wnet daemon`, driven over its
//! socket the way an engine drives it: one client, one kept-alive HTTP connection, the
//! daemon's JSON API (`POST /networks/create`, `POST /networks/bench/connect` with the
//! namespace path and the address, `…/disconnect`, `DELETE /networks/bench`).
//!
//! As in the peers' harness, the N namespaces exist before timing. **attach** (timed) =
//! create the network (bridge `wnet0`, 10.88.0.0/16), then one connect per container;
//! **detach** (timed) = one disconnect per container, then delete the network. An
//! untimed check follows each phase. The daemon's store is its real one (redb, one
//! commit per operation), on the tmpfs of a private `/run`.
//!
//! Variants (`VARIANTS`, default `wnet_api,wnet_api_fw`): the daemon with
//! `firewall = false`, and with wnet's nftables firewall.
//!
//! Run: `cargo build --release -p wnet && cargo bench -p wnet-tests --bench daemon [-- N…]`
//! (default 100 500; `REPS=3`; `WNET_BIN`, default `target/release/wnet`). Needs root;
//! everything happens in namespaces the process makes first.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs,
    reason = "a benchmark binary"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wnet_netlink::{Namespace, Netlink, RtNetlink};
use wnet_tests::bench::{self, Rep};

/// One HTTP/1.1 connection to the daemon's socket, kept alive between requests.
struct Client {
    read: BufReader<UnixStream>,
    write: UnixStream,
}

impl Client {
    fn connect(socket: &Path) -> Client {
        let s = UnixStream::connect(socket).unwrap();
        Client {
            read: BufReader::new(s.try_clone().unwrap()),
            write: s,
        }
    }

    /// Sends a request and returns the status and the body; panics on a failure
    /// status, naming the request and the daemon's message.
    fn call(&mut self, method: &str, path: &str, body: &str) -> (u16, String) {
        write!(
            self.write,
            "{method} {path} HTTP/1.1\r\nHost: wnet\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut status_line = String::new();
        self.read.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{method} {path}: no status in `{status_line}`"));
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.read.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut reply = vec![0; length];
        self.read.read_exact(&mut reply).unwrap();
        let reply = String::from_utf8(reply).unwrap();
        assert!(status < 300, "{method} {path} {body}: {status} {reply}");
        (status, reply)
    }
}

/// The peers' address of container `i` (1-based): 10.88.0.2 onwards.
fn ip_for(i: usize) -> String {
    let k = i + 1;
    format!("10.88.{}.{}", k >> 8, k & 255)
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM: in-flight work finishes and the daemon exits cleanly.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn start(bin: &Path, dir: &Path, firewall: bool) -> (Daemon, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("wnet.toml");
    std::fs::write(&config, format!("firewall = {firewall}\n")).unwrap();
    let socket = dir.join("wnet.sock");
    let child = Command::new(bin)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--run-dir")
        .arg(dir.join("run"))
        .arg("--drivers-dir")
        .arg(dir.join("drivers"))
        .arg("--cache-dir")
        .arg(wnet_tests::cache_dir())
        .arg("daemon")
        .arg("--socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let started = Instant::now();
    while UnixStream::connect(&socket).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the daemon did not answer"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    (daemon, socket)
}

async fn rep(bin: &Path, n: usize, tag: &str, firewall: bool) -> Rep {
    let dir = Path::new("/run/wnet-bench-daemon").join(tag);
    let netns = dir.join("netns");
    let sandboxes: Vec<Namespace> = (1..=n)
        .map(|i| Namespace::create(&netns, &format!("c{i}")).unwrap())
        .collect();
    let (daemon, socket) = start(bin, &dir, firewall);
    let mut c = Client::connect(&socket);
    let nl = RtNetlink::new();
    let host = Namespace::current().unwrap();

    let t = Instant::now();
    c.call(
        "POST",
        "/networks/create",
        r#"{"Name":"bench","Driver":"bridge","IPAM":{"Config":[{"Subnet":"10.88.0.0/16","Gateway":"10.88.0.1"}]},"Options":{"com.docker.network.bridge.name":"wnet0"}}"#,
    );
    for (i, ns) in sandboxes.iter().enumerate() {
        let body = format!(
            r#"{{"Container":"{}","EndpointConfig":{{"IPAMConfig":{{"IPv4Address":"{}"}}}}}}"#,
            ns.path().display(),
            ip_for(i + 1)
        );
        c.call("POST", "/networks/bench/connect", &body);
    }
    let attach_ms = t.elapsed().as_secs_f64() * 1e3;

    // Untimed check: N ports on the bridge; the last container has its address.
    let bridge = nl.link_by_name(&host, "wnet0").await.unwrap().unwrap();
    let ports = nl
        .links(&host)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.master == Some(bridge.index))
        .count();
    assert_eq!(ports, n);
    let last = &sandboxes[n - 1];
    let eth0 = nl.link_by_name(last, "eth0").await.unwrap().unwrap();
    let addrs = nl.addrs(last).await.unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a.index == eth0.index && a.address.addr().to_string() == ip_for(n)),
        "{addrs:?}"
    );

    let t = Instant::now();
    for ns in &sandboxes {
        let body = format!(r#"{{"Container":"{}"}}"#, ns.path().display());
        c.call("POST", "/networks/bench/disconnect", &body);
    }
    c.call("DELETE", "/networks/bench", "");
    let detach_ms = t.elapsed().as_secs_f64() * 1e3;

    let left: Vec<String> = nl
        .links(&host)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .filter(|name| name != "lo")
        .collect();
    assert!(left.is_empty(), "left in the host namespace: {left:?}");
    drop(c);
    drop(daemon);
    for ns in sandboxes {
        ns.remove().unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
    Rep {
        attach_ms,
        detach_ms,
    }
}

fn main() {
    let Some((sizes, reps)) = bench::plan("daemon", &[100, 500]) else {
        return;
    };
    let bin = std::env::var_os("WNET_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/wnet"),
        PathBuf::from,
    );
    assert!(
        bin.exists(),
        "{}: build it first (cargo build --release -p wnet) or set WNET_BIN",
        bin.display()
    );
    if let Err(e) = wnet_netlink::isolate_process() {
        eprintln!("daemon bench: {e}");
        std::process::exit(1);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("{}", bench::header());
    let variants = std::env::var("VARIANTS").unwrap_or_else(|_| "wnet_api,wnet_api_fw".to_owned());
    for (n, variant) in sizes
        .iter()
        .flat_map(|n| variants.split(',').map(move |v| (*n, v)))
    {
        let runs: Vec<Rep> = (0..reps)
            .map(|r| {
                rt.block_on(rep(
                    &bin,
                    n,
                    &format!("n{n}-r{r}-{variant}"),
                    variant == "wnet_api_fw",
                ))
            })
            .collect();
        println!("{}", bench::row(variant, n, &runs));
    }
}
