//! The example runs and does what it says.

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
    for want in [
        "network  network1",
        "pool 172.17.0.0/16 gateway 172.17.0.1/16",
        "endpoint Endpoint1",
        "address 172.17.0.2/16",
        "joined   Endpoint1 to container1",
        "networks left: 0",
    ] {
        assert!(stdout.contains(want), "missing `{want}` in:\n{stdout}");
    }
}
