//! The example runs and does what it says.

/// The effective uid of this process, from procfs.
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

#[test]
fn the_embedding_example_runs_the_whole_lifecycle() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_embedding"))
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut want = vec![
        "network  network1",
        "pool 172.17.0.0/16 gateway 172.17.0.1/16",
        "joined   Endpoint1 (172.17.0.2/16) to container1",
        "joined   Endpoint2 (172.17.0.3/16) to container2",
        "left     Endpoint2 from container2",
        "networks left: 0",
    ];
    if euid() == Some(0) {
        // As root the example must do real networking, not fall back.
        want.extend([
            "mode     real namespaces",
            "driver bridge",
            "interface in sandbox: eth0",
            "traffic  container1 -> container2 (172.17.0.3:8080) over TCP: sent \"hello\", got \"hello\" back",
        ]);
    } else {
        want.push("mode     records only");
    }
    for want in want {
        assert!(stdout.contains(want), "missing `{want}` in:\n{stdout}");
    }
}
